//! The SQLite store: verified blocks, revisions, heads with high-water marks, fork evidence,
//! conflicts and the local address book.
//!
//! Only verified data enters: every import verifies whole chains (identity logs from genesis,
//! index revisions on top of the verified head held) before one transaction writes them. The
//! high-water mark of a log is kept apart from its head and blocks, so clearing caches never
//! lowers it and a rollback stays refused.
//!
//! On-disk layout: `spec/08-store.md`; schema in `migrations/`.

mod chains;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cairn_protocol::chain::ChainError;
use cairn_protocol::cid::Cid;
use cairn_protocol::identity::{IdentityId, IdentityLog, IdentityRevision, KeyState};
use cairn_protocol::signed::{Signed, Unverified};
use rusqlite::{Connection, OptionalExtension, params};
use thiserror::Error;

pub use chains::{ImportReport, Outcome};

/// A peer that claimed to hold an artifact: its endpoint ID and direct addresses.
pub type Holder = ([u8; 32], Vec<std::net::SocketAddr>);

/// How long a peer's claim to hold an artifact is kept (seconds).
pub const HAVE_TTL: u64 = 3600;
/// The most claims kept.
pub const MAX_HAVES: i64 = 262_144;

/// The most refused rollbacks kept (one per log and source; the oldest go first).
pub const MAX_ROLLBACKS: i64 = 65_536;

/// Numbered migrations; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_settings.sql"),
    include_str!("migrations/0003_artifacts.sql"),
    include_str!("migrations/0004_drafts.sql"),
    include_str!("migrations/0005_haves.sql"),
    include_str!("migrations/0006_revisions_by_payload.sql"),
    include_str!("migrations/0007_rollbacks.sql"),
    include_str!("migrations/0008_blocks_in_order.sql"),
];

/// The database file inside a home.
pub const DB_FILE: &str = "cairn.db";

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Waits while another connection writes, up to [`BUSY_TIMEOUT`] in all; `tries` is how many
/// times this wait has run for one statement. SQLite's own busy timeout sleeps 1, 2, 5, 10 ms…
/// between tries, while a write here holds the lock for a fraction of a millisecond: two
/// writers in turn spent most of their time asleep. The first waits are 100 µs, then 1 ms.
fn wait_for_writer(tries: i32) -> bool {
    const SHORT: u32 = 100;
    let short = std::time::Duration::from_micros(100);
    let long = std::time::Duration::from_millis(1);
    let tries = u32::try_from(tries).unwrap_or(0);
    let waited = short * tries.min(SHORT) + long * tries.saturating_sub(SHORT);
    if waited >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(if tries < SHORT { short } else { long });
    true
}

/// Why a store operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The home or database could not be opened.
    #[error("cannot open the store at `{path}`: {cause}")]
    Open {
        /// The database path.
        path: PathBuf,
        /// Why.
        cause: rusqlite::Error,
    },
    /// A filesystem error.
    #[error("cannot use `{path}`: {cause}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The database was written by a newer Cairn.
    #[error(
        "the store at `{path}` has schema version {found}; this cairn knows up to {supported}\n\nhint: upgrade cairn"
    )]
    TooNew {
        /// The database path.
        path: PathBuf,
        /// Its version.
        found: u32,
        /// The newest this build knows.
        supported: u32,
    },
    /// A database error.
    #[error("database error: {0}")]
    Sql(rusqlite::Error),
    /// A revision failed verification.
    #[error("`{log}` revision {seq} refused: {error}")]
    Chain {
        /// The log.
        log: String,
        /// The revision's seq (0 when it could not be decoded).
        seq: u64,
        /// The rule it broke.
        error: ChainError,
    },
    /// The offered head is older than what was already verified.
    #[error(
        "rollback refused: `{log}` is verified up to seq {high_water}, but the offered head is seq {offered}; the source serves an old state\n\nhint: fetch the log from another source"
    )]
    Rollback {
        /// The log.
        log: String,
        /// The highest seq verified here.
        high_water: u64,
        /// The seq offered.
        offered: u64,
    },
    /// A revision cites an identity whose log is not in the store.
    #[error(
        "`{log}` revision {seq} is signed by identity `{identity}`, whose log is not here\n\nhint: import that identity's log first"
    )]
    UnknownIdentity {
        /// The log.
        log: String,
        /// The revision.
        seq: u64,
        /// The identity.
        identity: IdentityId,
    },
    /// Data in the store does not verify (the store was edited or damaged).
    #[error(
        "the store is damaged: {0}\n\nhint: the damage is local (what arrived was verified); re-import the affected logs from a bundle (`cairn import FILE.car`)"
    )]
    Corrupt(String),
    /// Nothing was offered.
    #[error("nothing to import")]
    Empty,
    /// A block could not be read (the database failed; the block may well be there).
    #[error("{0}\n\nhint: check the disk and the home's permissions, then run the command again")]
    Unreadable(cairn_protocol::cid::BlockFault),
    /// Another writer moved the head between this import's read and its write.
    #[error(
        "the head of `{log}` moved while this import ran (it was seq {expected}); nothing was written\n\nhint: run the command again"
    )]
    HeadMoved {
        /// The log.
        log: String,
        /// The seq this import expected to replace (0: no head).
        expected: u64,
    },
}

/// Fork evidence: two signed revisions of one log and seq by one identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkRecord {
    /// The seq.
    pub seq: u64,
    /// The equivocating identity.
    pub signer: String,
    /// The revision held first (envelope bytes).
    pub a: Vec<u8>,
    /// The other revision (envelope bytes).
    pub b: Vec<u8>,
}

/// An old head a peer offered as current, refused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rollback {
    /// Who offered it (a peer's endpoint ID, hex).
    pub source: String,
    /// The seq offered.
    pub offered: u64,
    /// The seq verified here at the time.
    pub held: u64,
    /// When (Unix seconds).
    pub at: u64,
}

/// An open store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// How many [`Store::immediate`] scopes are open (the outermost one owns the transaction).
    depth: u32,
}

/// Where the home is: `explicit` (`--home`), else `$CAIRN_HOME`, else the platform data
/// directory (`~/.local/share/cairn` on Linux).
pub fn home_dir(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("CAIRN_HOME").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    directories::ProjectDirs::from("", "", "cairn").map(|d| d.data_dir().to_path_buf())
}

impl Store {
    /// Opens (creating if needed) the store in `home`, running pending migrations.
    pub fn open(home: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(home).map_err(|source| StoreError::Io {
            path: home.to_path_buf(),
            cause: source,
        })?;
        let path = home.join(DB_FILE);
        let mut conn = Connection::open(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            cause: source,
        })?;
        // First, so that every later statement waits for another process's write instead of
        // failing with "database is locked".
        conn.busy_handler(Some(wait_for_writer))?;
        // Switching a new database to WAL needs it alone for a moment, and SQLite reports
        // "busy" at once (without waiting) when another connection is opening it too: retry.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match conn.pragma_update(None, "journal_mode", "WAL") {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                other => break other?,
            }
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Statements are prepared once per connection and kept: parsing SQL cost more than
        // running it on the paths that read or write one log at a time.
        conn.set_prepared_statement_cache_capacity(64);
        // Blocks are keyed by hashes, so a large import writes all over the tree: a page cache
        // of up to 16 MiB (SQLite's default is 2 MiB) keeps it from rereading pages.
        conn.pragma_update(None, "cache_size", -16_384)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut store = Store {
            conn,
            path,
            depth: 0,
        };
        store.migrate()?;
        Ok(store)
    }

    /// The schema version this build writes.
    #[must_use]
    pub fn supported_version() -> u32 {
        MIGRATIONS.len() as u32
    }

    /// The upgrade opening the store in `home` would run, as (the version found, the version
    /// this build writes); `None` for a new home or a current one. Read without writing, so a
    /// command can say what is about to happen before an upgrade of a large home holds it
    /// (an upgrade may copy every block once).
    pub fn pending_upgrade(home: &Path) -> Result<Option<(u32, u32)>, StoreError> {
        let path = home.join(DB_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|cause| StoreError::Open { path, cause })?;
        let found: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let supported = Self::supported_version();
        Ok((found > 0 && found < supported).then_some((found, supported)))
    }

    /// The line to show before opening the store in `home` upgrades it; `None` when it will
    /// not (or the version cannot be read: opening will say why).
    #[must_use]
    pub fn upgrade_notice(home: &Path) -> Option<String> {
        let (found, supported) = Self::pending_upgrade(home).ok()??;
        Some(format!(
            "upgrading the store in `{}` from version {found} to {supported}; this runs once and may take a while for a large home",
            home.display()
        ))
    }

    /// From now on this connection's commits are not synced to disk one by one (SQLite's
    /// `synchronous = NORMAL` in WAL mode): for a connection that writes only what can be
    /// fetched again, such as logs synced from peers. A killed process still loses nothing
    /// (the log is in the system's cache); a power loss may take the last commits back, whole,
    /// and never corrupts the store. Signing and publishing stay on synced commits: a
    /// revision taken back after it was signed would be signed again, a fork.
    ///
    /// Such a connection also copies its log into the database less often (every 8,192
    /// pages, about 32 MiB, rather than SQLite's 1,000): pages that many small commits
    /// change again and again, such as the heads' and the indexes' inner pages, are then
    /// copied once where they were copied many times. And it keeps up to 32 MiB of pages in
    /// memory (SQLite's default is 2 MiB), so that a transaction of many logs does not spill
    /// pages it will change again to the log before it commits. Its savepoints (one per log
    /// in a batch) keep their copies of pages in memory rather than in a temporary file.
    pub fn refetchable_writes(&mut self) -> Result<(), StoreError> {
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        self.conn.pragma_update(None, "wal_autocheckpoint", 8192)?;
        self.conn.pragma_update(None, "cache_size", -32768)?;
        self.conn.pragma_update(None, "temp_store", "MEMORY")?;
        Ok(())
    }

    /// A number that changes whenever another connection commits to the store (SQLite's
    /// `data_version`): a reader that polls learns cheaply whether anything changed.
    pub fn data_version(&self) -> Result<u64, StoreError> {
        let v: i64 = self
            .conn
            .pragma_query_value(None, "data_version", |r| r.get(0))?;
        Ok(v.cast_unsigned())
    }

    /// The database's schema version.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Runs pending migrations in one immediate transaction, reading the schema version inside
    /// it, so two processes opening a new home at once migrate it exactly once.
    fn migrate(&mut self) -> Result<(), StoreError> {
        let supported = Self::supported_version();
        if self.schema_version()? == supported {
            return Ok(());
        }
        self.immediate(|s| {
            let found = s.schema_version()?;
            if found > supported {
                return Err(StoreError::TooNew {
                    path: s.path.clone(),
                    found,
                    supported,
                });
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
                s.conn.execute_batch(sql)?;
                s.conn.pragma_update(None, "user_version", i as u32 + 1)?;
            }
            Ok(())
        })
    }

    /// Runs `f` in one immediate transaction: the write lock is taken before the first read, so
    /// what `f` reads cannot change under it until it commits, and another process's writer
    /// waits (up to the busy timeout) rather than failing. Commits when `f` succeeds, rolls
    /// back when it fails. Nested calls join the outermost transaction.
    pub fn immediate<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&mut Store) -> Result<T, E>,
    ) -> Result<T, E> {
        self.begin()?;
        let result = f(self);
        self.end(result)
    }

    /// Opens an [`Store::immediate`] scope (the transaction itself when it is the outermost).
    pub(crate) fn begin(&mut self) -> Result<(), StoreError> {
        if self.depth == 0 {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
        }
        self.depth += 1;
        Ok(())
    }

    /// Closes the scope [`Store::begin`] opened: the outermost one commits on success and rolls
    /// back on failure.
    pub(crate) fn end<T, E: From<StoreError>>(&mut self, result: Result<T, E>) -> Result<T, E> {
        self.depth -= 1;
        if self.depth > 0 {
            return result;
        }
        match result {
            Ok(v) => {
                crate::fault::point("import:before-commit");
                if let Err(e) = self.conn.execute_batch("COMMIT") {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    return Err(StoreError::from(e).into());
                }
                crate::fault::point("import:after-commit");
                Ok(v)
            }
            Err(e) => {
                // A failed rollback leaves nothing behind either: SQLite discards an open
                // transaction when the connection closes.
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Runs `f` inside the open [`Store::immediate`] transaction as one unit (a savepoint):
    /// when it fails, what it wrote is undone and the transaction goes on without it.
    pub(crate) fn unit<T>(
        &mut self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        debug_assert!(self.depth > 0, "a unit runs inside a transaction");
        self.conn.execute_batch("SAVEPOINT unit")?;
        let result = f(self);
        if result.is_err() {
            self.conn.execute_batch("ROLLBACK TO unit")?;
        }
        self.conn.execute_batch("RELEASE unit")?;
        result
    }

    /// One write statement (or a few) in its own immediate transaction.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        self.immediate(|s| Ok(f(&s.conn)?))
    }

    /// A held block.
    pub fn block(&self, cid: &Cid) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT bytes FROM blocks WHERE cid = ?1")?
            .query_row([cid.to_bytes().as_slice()], |r| r.get(0))
            .optional()?)
    }

    /// Stores a record block after checking it against its CID and the record profile.
    pub fn put_block(&mut self, cid: &Cid, bytes: &[u8]) -> Result<(), StoreError> {
        crate::block::verify_block(*cid, bytes)
            .map_err(|e| StoreError::Corrupt(format!("refusing to store block: {e}")))?;
        self.write(|c| {
            c.prepare_cached("INSERT OR IGNORE INTO blocks (cid, bytes) VALUES (?1, ?2)")?
                .execute(params![cid.to_bytes().as_slice(), bytes])
        })?;
        Ok(())
    }

    /// Stores record blocks the log verifier already checked against their CIDs and the
    /// record profile (checking them again would double the cost of a sync).
    pub(crate) fn put_verified_blocks(
        &mut self,
        blocks: &[(Cid, Vec<u8>)],
    ) -> Result<(), StoreError> {
        self.write(|c| {
            let mut insert =
                c.prepare_cached("INSERT OR IGNORE INTO blocks (cid, bytes) VALUES (?1, ?2)")?;
            for (cid, bytes) in blocks {
                insert.execute(params![cid.to_bytes().as_slice(), bytes])?;
            }
            Ok(())
        })
    }

    /// Records that `node` (a peer's endpoint ID) said at `time` that it holds `artifacts`
    /// and can be dialed at `addrs`. Claims older than [`HAVE_TTL`] before `now` are dropped,
    /// and the table keeps at most [`MAX_HAVES`] rows (the oldest go first).
    pub fn record_haves(
        &mut self,
        node: &[u8; 32],
        addrs: &[std::net::SocketAddr],
        time: u64,
        artifacts: &[Cid],
        now: u64,
    ) -> Result<(), StoreError> {
        let addrs = addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        let time = sql_seq(time)?;
        let oldest = sql_seq(now.saturating_sub(HAVE_TTL))?;
        self.write(|c| {
            let mut upsert = c.prepare_cached(
                "INSERT INTO haves (artifact, node, addrs, heard) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (artifact, node) DO UPDATE SET addrs = excluded.addrs, heard = excluded.heard
                 WHERE excluded.heard >= haves.heard",
            )?;
            for cid in artifacts {
                upsert.execute(params![cid.to_bytes().as_slice(), node.as_slice(), addrs, time])?;
            }
            c.prepare_cached("DELETE FROM haves WHERE heard < ?1")?
                .execute([oldest])?;
            c.prepare_cached(
                "DELETE FROM haves WHERE (artifact, node) IN
                 (SELECT artifact, node FROM haves ORDER BY heard DESC LIMIT -1 OFFSET ?1)",
            )?
            .execute([MAX_HAVES])?;
            Ok(())
        })
    }

    /// Records that `source` offered seq `offered` of `log` as its head at `at` while seq
    /// `held` is verified here (a refused rollback). One row per log and source, the latest
    /// kept; at most [`MAX_ROLLBACKS`] rows, the oldest go first.
    pub fn record_rollback(
        &mut self,
        log: &str,
        source: &str,
        offered: u64,
        held: u64,
        at: u64,
    ) -> Result<(), StoreError> {
        let (offered, held, at) = (sql_seq(offered)?, sql_seq(held)?, sql_seq(at)?);
        self.write(|c| {
            c.prepare_cached(
                "INSERT INTO rollbacks (log, source, offered, held, at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (log, source) DO UPDATE
                 SET offered = excluded.offered, held = excluded.held, at = excluded.at",
            )?
            .execute(params![log, source, offered, held, at])?;
            c.prepare_cached(
                "DELETE FROM rollbacks WHERE (log, source) IN
                 (SELECT log, source FROM rollbacks ORDER BY at DESC LIMIT -1 OFFSET ?1)",
            )?
            .execute([MAX_ROLLBACKS])?;
            Ok(())
        })
    }

    /// The refused rollbacks recorded for `log`, the latest first, at most `limit`.
    pub fn rollbacks(&self, log: &str, limit: usize) -> Result<Vec<Rollback>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT source, offered, held, at FROM rollbacks WHERE log = ?1
             ORDER BY at DESC, source LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![log, limit], |r| {
            Ok(Rollback {
                source: r.get(0)?,
                offered: r.get::<_, i64>(1)?.cast_unsigned(),
                held: r.get::<_, i64>(2)?.cast_unsigned(),
                at: r.get::<_, i64>(3)?.cast_unsigned(),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The peers that said, less than [`HAVE_TTL`] before `now`, that they hold `artifact`:
    /// endpoint ID and direct addresses, the most recent claim first, at most 8.
    pub fn holders(&self, artifact: &Cid, now: u64) -> Result<Vec<Holder>, StoreError> {
        let oldest = sql_seq(now.saturating_sub(HAVE_TTL))?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT node, addrs FROM haves WHERE artifact = ?1 AND heard >= ?2 ORDER BY heard DESC LIMIT 8",
        )?;
        let rows = stmt.query_map(params![artifact.to_bytes().as_slice(), oldest], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (node, addrs) = row?;
            let node = <[u8; 32]>::try_from(node.as_slice())
                .map_err(|_| StoreError::Corrupt("a `haves` row's node is not 32 bytes".into()))?;
            out.push((
                node,
                addrs.split(' ').filter_map(|a| a.parse().ok()).collect(),
            ));
        }
        Ok(out)
    }

    /// Records an artifact file (already written and verified under `artifacts/`).
    pub fn put_artifact(
        &mut self,
        cid: &Cid,
        size: u64,
        sha256: &[u8; 32],
    ) -> Result<(), StoreError> {
        let size = sql_seq(size)?;
        self.write(|c| {
            c.prepare_cached(
                "INSERT OR IGNORE INTO artifacts (cid, size, sha256) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![cid.to_bytes().as_slice(), size, sha256.as_slice()])
        })?;
        Ok(())
    }

    /// Whether an artifact is recorded.
    pub fn has_artifact(&self, cid: &Cid) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM artifacts WHERE cid = ?1")?
            .query_row([cid.to_bytes().as_slice()], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// The log and seq of a held revision, found by its payload CID (a scan: revisions are
    /// keyed by log and seq).
    pub fn revision_by_payload(&self, cid: &Cid) -> Result<Option<(String, u64)>, StoreError> {
        self.conn
            .prepare_cached("SELECT log, seq FROM revisions WHERE payload_cid = ?1")?
            .query_row([cid.to_bytes().as_slice()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()?
            .map(|(log, seq)| Ok((log, from_sql_seq(seq)?)))
            .transpose()
    }

    /// The verified head of a log: (seq, payload CID).
    pub fn head(&self, log: &str) -> Result<Option<(u64, Cid)>, StoreError> {
        self.conn
            .prepare_cached("SELECT seq, payload_cid FROM heads WHERE log = ?1")?
            .query_row([log], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .optional()?
            .map(|(seq, cid)| Ok((from_sql_seq(seq)?, decode_cid(&cid)?)))
            .transpose()
    }

    /// Every held log's head: log, seq, payload CID and kind (`identity`, `version-index`,
    /// `package-index`), by log.
    pub fn heads(&self) -> Result<Vec<(String, u64, Cid, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT log, seq, payload_cid, kind FROM heads ORDER BY log")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        rows.map(|row| {
            let (log, seq, cid, kind) = row?;
            Ok((log, from_sql_seq(seq)?, decode_cid(&cid)?, kind))
        })
        .collect()
    }

    /// The state root linked by a log's verified head.
    pub fn head_state(&self, log: &str) -> Result<Option<Cid>, StoreError> {
        self.conn
            .prepare_cached("SELECT state_cid FROM heads WHERE log = ?1")?
            .query_row([log], |r| r.get::<_, Vec<u8>>(0))
            .optional()?
            .map(|c| decode_cid(&c))
            .transpose()
    }

    /// The kind of a held log (`identity`, `version-index`, `package-index`).
    pub fn head_kind(&self, log: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT kind FROM heads WHERE log = ?1")?
            .query_row([log], |r| r.get(0))
            .optional()?)
    }

    /// Every held log whose name starts with `prefix` (for example `<identity>:`).
    pub fn logs_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT log FROM heads WHERE substr(log, 1, length(?1)) = ?1 ORDER BY log")?;
        let rows = stmt.query_map([prefix], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The indexes of `identity` held (`<identity>:<name>`), in name order, at most `limit`:
    /// a range of the `heads` key, so its cost does not grow with the store.
    pub fn indexes_of(&self, identity: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT log FROM heads WHERE log > ?1 AND log < ?2 ORDER BY log LIMIT ?3",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // `;` follows `:`: every `<identity>:<name>` sorts between the two.
        let rows = stmt.query_map(
            params![format!("{identity}:"), format!("{identity};"), limit],
            |r| r.get(0),
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The identities that signed revisions of a log.
    pub fn signers(&self, log: &str) -> Result<Vec<IdentityId>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT signer FROM revisions WHERE log = ?1 ORDER BY signer")?;
        let rows = stmt.query_map([log], |r| r.get::<_, String>(0))?;
        rows.map(|r| {
            let text = r?;
            text.parse()
                .map_err(|e| StoreError::Corrupt(format!("signer `{text}`: {e}")))
        })
        .collect()
    }

    /// The highest seq ever verified for a log (kept when caches are cleared).
    pub fn high_water(&self, log: &str) -> Result<Option<u64>, StoreError> {
        let seq: Option<i64> = self
            .conn
            .prepare_cached("SELECT seq FROM high_water WHERE log = ?1")?
            .query_row([log], |r| r.get(0))
            .optional()?;
        seq.map(from_sql_seq).transpose()
    }

    /// Deletes cached blocks, revisions and heads, keeping high-water marks, fork evidence,
    /// flags and the address book. Logs must be imported again before use.
    pub fn clear_cache(&mut self) -> Result<(), StoreError> {
        self.write(|c| {
            c.execute_batch("DELETE FROM blocks; DELETE FROM revisions; DELETE FROM heads;")
        })
    }

    /// An identity's log as it was verified and stored, resumed at its head: the latest seq,
    /// payload CID and key state, read without verifying anything again (`verify_log` does).
    /// Time independent of the log's length.
    pub fn identity_head(&self, id: &IdentityId) -> Result<Option<IdentityLog>, StoreError> {
        let log = id.to_string();
        let row: Option<(i64, Vec<u8>, Vec<u8>)> = self
            .conn
            .prepare_cached("SELECT seq, payload_cid, state_cid FROM heads WHERE log = ?1")?
            .query_row([&log], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((seq, payload, state)) = row else {
            return Ok(None);
        };
        let keys = self.key_state_block(&log, &decode_cid(&state)?)?;
        Ok(Some(IdentityLog::resume(
            *id,
            from_sql_seq(seq)?,
            decode_cid(&payload)?,
            keys,
        )))
    }

    /// The key state of identity `id` at `seq`, as verified and stored (`None` when that
    /// revision is not held).
    pub fn key_state(&self, id: &IdentityId, seq: u64) -> Result<Option<KeyState>, StoreError> {
        let log = id.to_string();
        let Some(envelope) = self.envelope(&log, seq)? else {
            return Ok(None);
        };
        let revision = Signed::<IdentityRevision, Unverified>::decode(&envelope)
            .map_err(|e| StoreError::Corrupt(format!("`{log}` revision {seq}: {e}")))?
            .into_payload();
        self.key_state_block(&log, &revision.state).map(Some)
    }

    fn key_state_block(&self, log: &str, cid: &Cid) -> Result<KeyState, StoreError> {
        let bytes = self.block(cid)?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "the identity document `{cid}` of `{log}` is missing"
            ))
        })?;
        cairn_protocol::profile::decode_record(&bytes)
            .and_then(KeyState::from_value)
            .map_err(|e| StoreError::Corrupt(format!("the identity document of `{log}`: {e}")))
    }

    /// The stored envelope of a log's revision `seq`.
    pub fn envelope(&self, log: &str, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT envelope FROM revisions WHERE log = ?1 AND seq = ?2")?
            .query_row(params![log, sql_seq(seq)?], |r| r.get(0))
            .optional()?)
    }

    /// Stored envelopes of a log, oldest first.
    pub fn envelopes(&self, log: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT envelope FROM revisions WHERE log = ?1 ORDER BY seq")?;
        let rows = stmt.query_map([log], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether an identity has been caught equivocating, and why.
    pub fn flagged(&self, id: &IdentityId) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT reason FROM flagged WHERE identity = ?1")?
            .query_row([id.to_string()], |r| r.get(0))
            .optional()?)
    }

    /// Fork evidence held for a log.
    pub fn forks(&self, log: &str) -> Result<Vec<ForkRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, signer, envelope_a, envelope_b FROM forks WHERE log = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([log], |r| {
            Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        rows.map(|r| {
            let (seq, signer, a, b) = r?;
            Ok(ForkRecord {
                seq: from_sql_seq(seq)?,
                signer,
                a,
                b,
            })
        })
        .collect()
    }

    /// Every fork recorded: log, seq, and the second revision's envelope, by log and seq.
    pub fn fork_list(&self) -> Result<Vec<(String, u64, Vec<u8>)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT log, seq, envelope_b FROM forks ORDER BY log, seq")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get(2)?))
        })?;
        rows.map(|r| {
            let (log, seq, b) = r?;
            Ok((log, from_sql_seq(seq)?, b))
        })
        .collect()
    }

    /// The staged operations of a package index, in order (canonical record bytes).
    pub fn draft(&self, log: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT op FROM drafts WHERE log = ?1 ORDER BY pos")?;
        let rows = stmt.query_map([log], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether a draft exists for a log (even with no operation staged).
    pub fn has_draft(&self, log: &str) -> Result<bool, StoreError> {
        Ok(self.setting(&format!("draft:{log}"))?.is_some())
    }

    /// Starts a draft (records that it exists).
    pub fn start_draft(&mut self, log: &str) -> Result<(), StoreError> {
        self.set_setting(&format!("draft:{log}"), "1")
    }

    /// Stages one more operation.
    pub fn stage(&mut self, log: &str, op: &[u8]) -> Result<(), StoreError> {
        self.write(|c| {
            let next: i64 = c
                .prepare_cached("SELECT COALESCE(MAX(pos) + 1, 0) FROM drafts WHERE log = ?1")?
                .query_row([log], |r| r.get(0))?;
            c.prepare_cached("INSERT INTO drafts (log, pos, op) VALUES (?1, ?2, ?3)")?
                .execute(params![log, next, op])?;
            c.prepare_cached("INSERT OR IGNORE INTO settings (key, value) VALUES (?1, '1')")?
                .execute([format!("draft:{log}")])?;
            Ok(())
        })
    }

    /// Drops a draft's staged operations (after they were signed).
    pub fn clear_draft(&mut self, log: &str) -> Result<(), StoreError> {
        self.write(|c| {
            c.prepare_cached("DELETE FROM drafts WHERE log = ?1")?
                .execute([log])
        })?;
        Ok(())
    }

    /// A local setting.
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    /// Sets a local setting.
    pub fn set_setting(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.write(|c| c.prepare_cached("INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")?
.execute(
            params![key, value],
        ))?;
        Ok(())
    }

    /// Every setting whose key starts with `prefix`, sorted by key.
    pub fn settings_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT key, value FROM settings WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
        )?;
        let rows = stmt.query_map([prefix], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Removes a local setting.
    pub fn remove_setting(&mut self, key: &str) -> Result<(), StoreError> {
        self.write(|c| {
            c.prepare_cached("DELETE FROM settings WHERE key = ?1")?
                .execute([key])
        })?;
        Ok(())
    }

    /// Every recorded artifact.
    pub fn artifacts(&self) -> Result<Vec<Cid>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT cid FROM artifacts ORDER BY cid")?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        rows.map(|b| decode_cid(&b?)).collect()
    }

    /// Forgets an artifact's record (its file is removed by the caller).
    pub fn forget_artifact(&mut self, cid: &Cid) -> Result<(), StoreError> {
        self.write(|c| {
            c.prepare_cached("DELETE FROM artifacts WHERE cid = ?1")?
                .execute([cid.to_bytes().as_slice()])
        })?;
        Ok(())
    }

    /// Sets a petname in the local address book (replacing any earlier meaning).
    pub fn set_petname(&mut self, petname: &str, id: &IdentityId) -> Result<(), StoreError> {
        self.write(|c| c.prepare_cached("INSERT INTO petnames (petname, identity) VALUES (?1, ?2) ON CONFLICT (petname) DO UPDATE SET identity = excluded.identity")?
.execute(
            params![petname, id.to_string()],
        ))?;
        Ok(())
    }

    /// Resolves a petname, or parses an identity ID.
    pub fn resolve_identity(&self, name_or_id: &str) -> Result<Option<IdentityId>, StoreError> {
        if let Ok(id) = name_or_id.parse::<IdentityId>() {
            return Ok(Some(id));
        }
        let text: Option<String> = self
            .conn
            .prepare_cached("SELECT identity FROM petnames WHERE petname = ?1")?
            .query_row([name_or_id], |r| r.get(0))
            .optional()?;
        text.map(|t| {
            t.parse()
                .map_err(|e| StoreError::Corrupt(format!("petname `{name_or_id}`: {e}")))
        })
        .transpose()
    }

    /// Every petname, sorted.
    pub fn petnames(&self) -> Result<BTreeMap<String, IdentityId>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT petname, identity FROM petnames ORDER BY petname")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (name, id) = row?;
            out.insert(
                name,
                id.parse()
                    .map_err(|e| StoreError::Corrupt(format!("petname `{id}`: {e}")))?,
            );
        }
        Ok(out)
    }
}

impl StoreError {
    /// A stored state that failed to load: a read failure stays one (naming the block); any
    /// other failure means the store holds something it never verified.
    pub(crate) fn state(what: &str, e: ChainError) -> StoreError {
        match e {
            ChainError::Unreadable(fault) => StoreError::Unreadable(fault),
            e => StoreError::Corrupt(format!("the state of {what}: {e}")),
        }
    }
}

/// A seq as SQLite stores it (signed 64-bit).
fn sql_seq(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| {
        StoreError::Corrupt(format!(
            "seq {seq} is beyond what this store holds (2^63 - 1)"
        ))
    })
}

/// A seq read back from SQLite.
fn from_sql_seq(seq: i64) -> Result<u64, StoreError> {
    u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("negative seq {seq}")))
}

fn decode_cid(bytes: &[u8]) -> Result<Cid, StoreError> {
    Cid::from_bytes(bytes).map_err(|e| StoreError::Corrupt(format!("a stored CID is invalid: {e}")))
}

// Plain `From`: the message carries the cause (a `#[from]` source would print it twice).
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Sql(e)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod opening_tests {
    use super::*;

    #[test]
    fn many_connections_open_a_new_home_at_once() {
        for round in 0..20 {
            let tmp = tempfile::tempdir().expect("tmp");
            let dir = tmp.path().join(format!("home-{round}"));
            let threads: Vec<_> = (0..6)
                .map(|_| {
                    let dir = dir.clone();
                    std::thread::spawn(move || Store::open(&dir).map(|_| ()))
                })
                .collect();
            for t in threads {
                t.join().expect("thread").expect("every opening succeeds");
            }
        }
    }
}
