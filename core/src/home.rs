//! A Cairn home: the store plus the sealed key files of the identities that live here.
//!
//! Layout (`spec/08-store.md`): `cairn.db`, and `keys/<identity-id>.key` for each identity whose
//! secret keys are held here.

use std::path::{Path, PathBuf};

use cairn_protocol::identity::{self, IdentityId, IdentityOp, KeyState};
use cairn_protocol::name::Name;
use cairn_protocol::sign::{PublicKey, SecretKey};
use thiserror::Error;

use crate::keys::{self, KdfParams, KeyError, KeyRing, Role};
use crate::store::{Store, StoreError};

/// The setting that names the default identity.
const DEFAULT_IDENTITY: &str = "default-identity";
/// Settings `imported-identity:<id>`: identities this home imported rather than created.
const IMPORTED_IDENTITY: &str = "imported-identity:";

/// Why a home operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HomeError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bundle failed (boxed: bundle errors are large).
    #[error(transparent)]
    Bundle(Box<crate::bundle::BundleError>),
    /// A key file failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// An identity could not be created.
    #[error("cannot create the identity: {0}")]
    Create(cairn_protocol::chain::ChainError),
    /// A petname or ID that names no identity here.
    #[error(
        "`{0}` is neither a petname in this home nor an identity ID\n\nhint: `cairn id list` shows the identities here; `cairn id petname NAME ID` names one"
    )]
    UnknownIdentity(String),
    /// No identity was given and none is the default.
    #[error(
        "no identity is chosen\n\nhint: create one with `cairn id new`, or pass `--as PETNAME|ID`"
    )]
    NoDefault,
    /// The identity's keys are not in this home.
    #[error(
        "the keys of `{0}` are not in this home\n\nhint: `cairn id import FILE` brings them from another machine"
    )]
    NoKeys(IdentityId),
    /// The identity's key file already exists (it is never overwritten).
    #[error("the keys of `{0}` are already in this home; nothing was changed")]
    Exists(IdentityId),
    /// An identity change needs root keys that are not here.
    #[error(
        "the root keys of `{0}` are not in this home (they were exported)\n\nhint: pass the root key file with `--root FILE`"
    )]
    NoRootKeys(IdentityId),
    /// A key that is not one of the identity's keys.
    #[error("{key} is not a key of `{id}`")]
    NotAKey {
        /// The identity.
        id: IdentityId,
        /// The key.
        key: String,
    },
    /// A key file or bundle for another identity.
    #[error("the file holds the keys of `{found}`, not of `{expected}`")]
    WrongIdentity {
        /// The identity expected.
        expected: IdentityId,
        /// The identity in the file.
        found: IdentityId,
    },
    /// A petname that already names an identity.
    #[error(
        "the petname `{petname}` already names `{identity}`; nothing was created\n\nhint: choose another petname, or pass `--force` to give it to the new identity"
    )]
    PetnameTaken {
        /// The petname.
        petname: String,
        /// The identity it names.
        identity: IdentityId,
    },
    /// A file that would be overwritten (it may be another identity's only key copy).
    #[error(
        "`{}` already exists; nothing was written\n\nhint: choose another file, or pass `--force` to replace it",
        .0.display()
    )]
    FileExists(PathBuf),
    /// A petname that breaks the name rule.
    #[error("invalid petname `{given}`: {reason}")]
    Petname {
        /// The petname.
        given: String,
        /// Why.
        reason: String,
    },
}

/// What is known of one identity with keys in this home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySummary {
    /// The identity.
    pub id: IdentityId,
    /// Its petnames here.
    pub petnames: Vec<String>,
    /// Whether it is the default.
    pub default: bool,
    /// Its identity-log seq.
    pub seq: u64,
    /// Its current key state.
    pub keys: KeyState,
}

/// An open home.
#[derive(Debug)]
pub struct Home {
    dir: PathBuf,
    /// The store (reached from outside `core` only through `Home` methods and the operation
    /// modules, never directly).
    pub(crate) store: Store,
}

impl Home {
    /// Opens (creating if needed) the home at `dir`.
    pub fn open(dir: &Path) -> Result<Home, HomeError> {
        let store = Store::open(dir)?;
        let home = Home {
            dir: dir.to_path_buf(),
            store,
        };
        home.remove_stale_temporary_files();
        Ok(home)
    }

    /// Removes temporary files a crashed writer left in `keys/`, `artifacts/` and
    /// `outboards/`. Only files
    /// untouched for an hour go: another process on this home may be writing a fresh one.
    /// Best effort; a file that cannot be removed stays for the next time.
    fn remove_stale_temporary_files(&self) {
        const STALE: std::time::Duration = std::time::Duration::from_hours(1);
        for sub in ["keys", "artifacts", "outboards"] {
            let Ok(entries) = std::fs::read_dir(self.dir.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let temporary = name.starts_with('.') && name.ends_with(".tmp")
                    || (sub == "keys" && name.ends_with(".tmp"));
                let stale = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > STALE);
                if temporary && stale {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }

    /// Runs `f` in one immediate store transaction (see [`Store::immediate`]): a
    /// read-sign-write such as a publish sees no other writer's change until it commits.
    pub fn immediate<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&mut Home) -> Result<T, E>,
    ) -> Result<T, E> {
        self.store.begin()?;
        let result = f(self);
        self.store.end(result)
    }

    /// The resolution source for a curator's published package index in this home.
    pub fn source(
        &self,
        index: &cairn_protocol::name::IndexName,
    ) -> Result<crate::resolve::store::StoreSource<'_>, crate::curate::CurateError> {
        crate::resolve::store::StoreSource::open(&self.store, index)
    }

    /// Whether this home imported `id` from an identity file (rather than creating it).
    pub fn imported(&self, id: &IdentityId) -> Result<bool, HomeError> {
        Ok(self
            .store
            .setting(&format!("{IMPORTED_IDENTITY}{id}"))?
            .is_some())
    }

    /// What a revision signed now by `identity` cites (its verified head here), and the signing
    /// key from `ring` valid in that state, if the ring holds one.
    pub(crate) fn signing_key<'r>(
        &self,
        identity: IdentityId,
        ring: Option<&'r KeyRing>,
    ) -> Result<(cairn_protocol::index::Citation, Option<&'r SecretKey>), HomeError> {
        let log = self
            .store
            .identity_head(&identity)?
            .ok_or(HomeError::NoKeys(identity))?;
        let state = log.key_state(log.seq()).cloned().unwrap_or_default();
        let key = ring.and_then(|r| {
            r.with_role(Role::Signing)
                .find(|k| state.is_signing_key(&k.public()))
        });
        let cite = cairn_protocol::index::Citation {
            identity,
            seq: log.seq(),
        };
        Ok((cite, key))
    }

    /// The seq of an identity's verified log here, if held.
    pub fn identity_seq(&self, id: &IdentityId) -> Result<Option<u64>, HomeError> {
        Ok(self.store.identity_head(id)?.map(|l| l.seq()))
    }

    /// The home directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The head of a held log (seq and payload CID).
    pub fn head(&self, log: &str) -> Result<Option<(u64, cairn_protocol::cid::Cid)>, HomeError> {
        Ok(self.store.head(log)?)
    }

    /// Every held log's head: log, seq, payload CID and kind.
    pub fn heads(&self) -> Result<Vec<(String, u64, cairn_protocol::cid::Cid, String)>, HomeError> {
        Ok(self.store.heads()?)
    }

    /// Commits of this open home are no longer synced one by one: for a home opened only to
    /// write what peers send (see [`Store::refetchable_writes`]).
    pub fn refetchable_writes(&mut self) -> Result<(), HomeError> {
        Ok(self.store.refetchable_writes()?)
    }

    /// A number that changes whenever another process (or another open home) writes to the
    /// store: a loop that polls compares it before reading more.
    pub fn data_version(&self) -> Result<u64, HomeError> {
        Ok(self.store.data_version()?)
    }

    /// A held log's kind (`identity`, `version-index`, `package-index`).
    pub fn head_kind(&self, log: &str) -> Result<Option<String>, HomeError> {
        Ok(self.store.head_kind(log)?)
    }

    /// A held record block.
    pub fn block(&self, cid: &cairn_protocol::cid::Cid) -> Result<Option<Vec<u8>>, HomeError> {
        Ok(self.store.block(cid)?)
    }

    /// The CIDs of the artifacts held.
    pub fn artifact_list(&self) -> Result<Vec<cairn_protocol::cid::Cid>, HomeError> {
        Ok(self.store.artifacts()?)
    }

    /// Records a peer's claim to hold artifacts (see [`crate::store::Store::record_haves`]).
    pub fn record_haves(
        &mut self,
        node: &[u8; 32],
        addrs: &[std::net::SocketAddr],
        time: u64,
        artifacts: &[cairn_protocol::cid::Cid],
        now: u64,
    ) -> Result<(), HomeError> {
        Ok(self.store.record_haves(node, addrs, time, artifacts, now)?)
    }

    /// Every fork recorded here: log, seq, and the second revision's envelope.
    pub fn fork_list(&self) -> Result<Vec<(String, u64, Vec<u8>)>, HomeError> {
        Ok(self.store.fork_list()?)
    }

    /// Why `id` is flagged (it signed two revisions with one seq), if it is.
    pub fn flagged(&self, id: &IdentityId) -> Result<Option<String>, HomeError> {
        Ok(self.store.flagged(id)?)
    }

    /// The forks recorded for a log, with their evidence.
    pub fn forks(&self, log: &str) -> Result<Vec<crate::store::ForkRecord>, HomeError> {
        Ok(self.store.forks(log)?)
    }

    /// Old heads of `log` that peers offered as current (refused), the latest first.
    pub fn rollbacks(
        &self,
        log: &str,
        limit: usize,
    ) -> Result<Vec<crate::store::Rollback>, HomeError> {
        Ok(self.store.rollbacks(log, limit)?)
    }

    /// Where an identity's key file lives.
    #[must_use]
    pub fn key_path(&self, id: &IdentityId) -> PathBuf {
        self.dir.join("keys").join(format!("{id}.key"))
    }

    /// Creates an identity with one root key and one signing key from `keygen`, seals them with
    /// `passphrase`, and stores the identity log. The first identity becomes the default.
    ///
    /// The key file is written before the store: a crash in between leaves a harmless key file,
    /// never an identity whose keys are lost.
    pub fn create_identity(
        &mut self,
        passphrase: &[u8],
        kdf: KdfParams,
        time: u64,
        keygen: &mut dyn FnMut() -> Result<SecretKey, KeyError>,
        petname: Option<&str>,
    ) -> Result<IdentityId, HomeError> {
        if let Some(p) = petname {
            check_petname(p)?;
            // A petname already in the address book names someone else: never re-point it
            // silently (set_petname does that on purpose).
            if let Some(other) = self.store.resolve_identity(p)? {
                return Err(HomeError::PetnameTaken {
                    petname: p.to_owned(),
                    identity: other,
                });
            }
        }
        let (root, signing) = (keygen()?, keygen()?);
        let (genesis, log) = identity::create(&[&root], 1, &[signing.public()], time)?;
        let id = log.id();
        let ring = KeyRing {
            identity: id,
            keys: vec![(Role::Root, root), (Role::Signing, signing)],
        };
        let sealed = keys::seal(ring, passphrase, kdf)?;
        let path = self.key_path(&id);
        if path.exists() {
            return Err(HomeError::Exists(id));
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| KeyError::Io {
                path: parent.to_path_buf(),
                cause: source,
            })?;
        }
        keys::write_private(&path, &sealed)?;
        self.immediate(|home| {
            home.store.import_identity(&[genesis.encode()])?;
            if home.default_identity()?.is_none() {
                home.set_default(&id)?;
            }
            if let Some(p) = petname {
                home.store.set_petname(p, &id)?;
            }
            Ok(id)
        })
    }

    /// The default identity.
    pub fn default_identity(&self) -> Result<Option<IdentityId>, HomeError> {
        match self.store.setting(DEFAULT_IDENTITY)? {
            None => Ok(None),
            Some(t) => Ok(Some(t.parse().map_err(|e| {
                StoreError::Corrupt(format!("default identity `{t}`: {e}"))
            })?)),
        }
    }

    /// Makes `id` the default identity (it must have keys here).
    pub fn set_default(&mut self, id: &IdentityId) -> Result<(), HomeError> {
        if !self.key_path(id).exists() {
            return Err(HomeError::NoKeys(*id));
        }
        self.store.set_setting(DEFAULT_IDENTITY, &id.to_string())?;
        Ok(())
    }

    /// The identity `given` names (a petname or an ID), or the default one.
    pub fn resolve(&self, given: Option<&str>) -> Result<IdentityId, HomeError> {
        match given {
            Some(g) => self
                .store
                .resolve_identity(g)?
                .ok_or_else(|| HomeError::UnknownIdentity(g.to_owned())),
            None => self.default_identity()?.ok_or(HomeError::NoDefault),
        }
    }

    /// Gives `id` a petname in the local address book.
    pub fn set_petname(&mut self, petname: &str, id: &IdentityId) -> Result<(), HomeError> {
        check_petname(petname)?;
        Ok(self.store.set_petname(petname, id)?)
    }

    /// `id` as people here know it: the ID, then its petnames in brackets if it has any.
    pub fn label(&self, id: &IdentityId) -> Result<String, HomeError> {
        let names: Vec<String> = self
            .store
            .petnames()?
            .into_iter()
            .filter(|(_, v)| v == id)
            .map(|(k, _)| k)
            .collect();
        Ok(if names.is_empty() {
            id.to_string()
        } else {
            format!("{id} ({})", names.join(", "))
        })
    }

    /// Every identity whose keys are in this home, sorted by ID.
    pub fn identities(&self) -> Result<Vec<IdentitySummary>, HomeError> {
        let default = self.default_identity()?;
        let petnames = self.store.petnames()?;
        let mut out = Vec::new();
        let dir = self.dir.join("keys");
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(cause) => return Err(KeyError::Io { path: dir, cause }.into()),
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name
                .strip_suffix(".key")
                .and_then(|s| s.parse::<IdentityId>().ok())
            else {
                continue;
            };
            // A key file without its identity log is left over from an interrupted `id new`.
            let Some(log) = self.store.identity_head(&id)? else {
                continue;
            };
            let keys = log.key_state(log.seq()).cloned().unwrap_or_default();
            out.push(IdentitySummary {
                id,
                petnames: petnames
                    .iter()
                    .filter(|(_, v)| **v == id)
                    .map(|(k, _)| k.clone())
                    .collect(),
                default: default == Some(id),
                seq: log.seq(),
                keys,
            });
        }
        out.sort_by_key(|s| s.id);
        Ok(out)
    }

    /// Opens an identity's key file.
    pub fn unlock(&self, id: &IdentityId, passphrase: &[u8]) -> Result<KeyRing, HomeError> {
        let path = self.key_path(id);
        let bytes = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                HomeError::NoKeys(*id)
            } else {
                KeyError::Io { path, cause: e }.into()
            }
        })?;
        Ok(keys::open(&bytes, passphrase)?)
    }
}

impl From<crate::bundle::BundleError> for HomeError {
    fn from(e: crate::bundle::BundleError) -> HomeError {
        HomeError::Bundle(Box::new(e))
    }
}

/// How an identity change is signed: the home's key file, and optionally a root key file taken
/// off the machine with `export-root --remove`.
#[derive(Debug)]
pub struct Unlocked {
    /// The key ring of the home's key file.
    pub home: KeyRing,
    /// The key ring of a root key file, if given.
    pub root: Option<KeyRing>,
}

impl Unlocked {
    fn root_keys(&self) -> Vec<&SecretKey> {
        let from = self.root.as_ref().unwrap_or(&self.home);
        from.with_role(Role::Root).collect()
    }
}

impl Home {
    /// Applies identity-log `ops`, signed by the root keys, after re-sealing the home key file
    /// with `keep` (the signing keys to hold afterwards, plus any root keys held here). The key
    /// file is written first, so a crash never loses a key the identity names.
    #[allow(clippy::too_many_arguments)] // Private; each public identity change passes its own.
    fn change_identity(
        &mut self,
        id: IdentityId,
        keys: &Unlocked,
        ops: Vec<IdentityOp>,
        keep: Vec<(Role, SecretKey)>,
        passphrase: &[u8],
        kdf: KdfParams,
        time: u64,
    ) -> Result<(), HomeError> {
        // The identity log is read, extended and written with no other writer in between.
        self.immediate(|home| {
            let roots = keys.root_keys();
            if roots.is_empty() {
                return Err(HomeError::NoRootKeys(id));
            }
            let mut log = home
                .store
                .identity_head(&id)?
                .ok_or(HomeError::NoKeys(id))?;
            let envelope = log.change(ops, time, &roots)?;
            let sealed = keys::seal(
                KeyRing {
                    identity: id,
                    keys: keep,
                },
                passphrase,
                kdf,
            )?;
            keys::write_private(&home.key_path(&id), &sealed)?;
            let mut all = home.store.envelopes(&id.to_string())?;
            all.push(envelope.encode());
            home.store.import_identity(&all)?;
            Ok(())
        })
    }

    fn held_keys(keys: &Unlocked) -> Vec<(Role, SecretKey)> {
        keys.home
            .keys
            .iter()
            .map(|(r, k)| (*r, SecretKey::from_seed(&k.to_seed())))
            .collect()
    }

    /// Adds a new signing key (signed by the root keys). Returns its public key.
    pub fn add_signing_key(
        &mut self,
        id: IdentityId,
        keys: &Unlocked,
        new: SecretKey,
        passphrase: &[u8],
        kdf: KdfParams,
        time: u64,
    ) -> Result<PublicKey, HomeError> {
        let public = new.public();
        let mut keep = Self::held_keys(keys);
        keep.push((Role::Signing, new));
        self.change_identity(
            id,
            keys,
            vec![IdentityOp::AddSigningKey(public)],
            keep,
            passphrase,
            kdf,
            time,
        )?;
        Ok(public)
    }

    /// Replaces every current signing key by `new` (the old ones are removed, not revoked).
    pub fn rotate_signing_key(
        &mut self,
        id: IdentityId,
        keys: &Unlocked,
        new: SecretKey,
        passphrase: &[u8],
        kdf: KdfParams,
        time: u64,
    ) -> Result<PublicKey, HomeError> {
        let log = self
            .store
            .identity_head(&id)?
            .ok_or(HomeError::NoKeys(id))?;
        let state = log.key_state(log.seq()).cloned().unwrap_or_default();
        let public = new.public();
        let mut ops = vec![IdentityOp::AddSigningKey(public)];
        ops.extend(
            state
                .signing_keys
                .iter()
                .copied()
                .map(IdentityOp::RemoveSigningKey),
        );
        let mut keep: Vec<(Role, SecretKey)> = Self::held_keys(keys)
            .into_iter()
            .filter(|(r, _)| *r == Role::Root)
            .collect();
        keep.push((Role::Signing, new));
        self.change_identity(id, keys, ops, keep, passphrase, kdf, time)?;
        Ok(public)
    }

    /// Revokes a key forever (signed by the root keys).
    pub fn revoke_key(
        &mut self,
        id: IdentityId,
        keys: &Unlocked,
        key: PublicKey,
        passphrase: &[u8],
        kdf: KdfParams,
        time: u64,
    ) -> Result<(), HomeError> {
        let log = self
            .store
            .identity_head(&id)?
            .ok_or(HomeError::NoKeys(id))?;
        let state = log.key_state(log.seq()).cloned().unwrap_or_default();
        if !state.root_keys.contains(&key) && !state.signing_keys.contains(&key) {
            return Err(HomeError::NotAKey {
                id,
                key: key.to_string(),
            });
        }
        let keep = Self::held_keys(keys)
            .into_iter()
            .filter(|(_, k)| k.public() != key)
            .collect();
        self.change_identity(
            id,
            keys,
            vec![IdentityOp::RevokeKey(key)],
            keep,
            passphrase,
            kdf,
            time,
        )
    }

    /// Seals the root keys into the key file `out` (mode 0600; an existing file is kept unless
    /// `replace`); with `remove`, the home key file then keeps only the signing keys (everyday
    /// publishing still works; identity changes then need the root file). The root file is
    /// durably written before the home's copy is dropped, so a failure or a crash in between
    /// never loses the root keys.
    #[allow(clippy::too_many_arguments)] // Each is a distinct choice of the person exporting.
    pub fn export_root(
        &mut self,
        id: IdentityId,
        keys: &Unlocked,
        passphrase: &[u8],
        kdf: KdfParams,
        out: &Path,
        replace: bool,
        remove: bool,
    ) -> Result<(), HomeError> {
        let roots: Vec<(Role, SecretKey)> = keys
            .home
            .keys
            .iter()
            .filter(|(r, _)| *r == Role::Root)
            .map(|(r, k)| (*r, SecretKey::from_seed(&k.to_seed())))
            .collect();
        if roots.is_empty() {
            return Err(HomeError::NoRootKeys(id));
        }
        let file = keys::seal(
            KeyRing {
                identity: id,
                keys: roots,
            },
            passphrase,
            kdf,
        )?;
        let io = |cause| {
            HomeError::Key(KeyError::Io {
                path: out.to_path_buf(),
                cause,
            })
        };
        let mut f =
            crate::atomic::AtomicFile::create(out, crate::atomic::Access::Private).map_err(io)?;
        f.write_all(&file).map_err(io)?;
        match if replace {
            f.commit("keys:after-temp-write")
        } else {
            f.commit_new("keys:after-temp-write")
        } {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(HomeError::FileExists(out.to_path_buf()));
            }
            other => other.map_err(io)?,
        }
        if remove {
            let signing: Vec<(Role, SecretKey)> = keys
                .home
                .keys
                .iter()
                .filter(|(r, _)| *r == Role::Signing)
                .map(|(r, k)| (*r, SecretKey::from_seed(&k.to_seed())))
                .collect();
            let sealed = keys::seal(
                KeyRing {
                    identity: id,
                    keys: signing,
                },
                passphrase,
                kdf,
            )?;
            keys::write_private(&self.key_path(&id), &sealed)?;
        }
        Ok(())
    }

    /// An identity's portable file: a bundle of its identity log carrying its sealed key file.
    pub fn export_identity(&self, id: IdentityId) -> Result<Vec<u8>, HomeError> {
        let path = self.key_path(&id);
        let key_file = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                HomeError::NoKeys(id)
            } else {
                KeyError::Io { path, cause: e }.into()
            }
        })?;
        Ok(crate::bundle::export_with_keys(
            &self.store,
            &id,
            &key_file,
        )?)
    }

    /// The indexes `id` owns that this home holds (`<id>:<name>`), sorted.
    pub fn indexes_of(&self, id: &IdentityId) -> Result<Vec<String>, HomeError> {
        Ok(self.store.logs_with_prefix(&format!("{id}:"))?)
    }

    /// Imports an identity file written by [`Home::export_identity`]: verifies the identity log,
    /// checks the passphrase opens the key file and that it holds that identity's keys, then
    /// stores both. Refuses to overwrite keys already here.
    pub fn import_identity_file(
        &mut self,
        data: &[u8],
        passphrase: &[u8],
    ) -> Result<IdentityId, HomeError> {
        let (id, key_file) = crate::bundle::import_with_keys(&mut self.store, data)?;
        let ring = keys::open(&key_file, passphrase)?;
        if ring.identity != id {
            return Err(HomeError::WrongIdentity {
                expected: id,
                found: ring.identity,
            });
        }
        let path = self.key_path(&id);
        if path.exists() {
            return Err(HomeError::Exists(id));
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|cause| KeyError::Io {
                path: parent.to_path_buf(),
                cause,
            })?;
        }
        keys::write_private(&path, &key_file)?;
        if self.default_identity()?.is_none() {
            self.set_default(&id)?;
        }
        // This home did not create the identity: it may not hold the indexes the identity
        // already publishes elsewhere, and a first revision here would fork them.
        self.store
            .set_setting(&format!("{IMPORTED_IDENTITY}{id}"), "1")?;
        Ok(id)
    }
}

fn check_petname(p: &str) -> Result<(), HomeError> {
    if p.parse::<IdentityId>().is_ok() {
        return Err(HomeError::Petname {
            given: p.into(),
            reason: "it would read as an identity ID".into(),
        });
    }
    p.parse::<Name>()
        .map(|_| ())
        .map_err(|e| HomeError::Petname {
            given: p.into(),
            reason: e.to_string(),
        })
}

// Plain `From`: the message carries the cause (a `#[from]` source would print it twice).
impl From<cairn_protocol::chain::ChainError> for HomeError {
    fn from(e: cairn_protocol::chain::ChainError) -> HomeError {
        HomeError::Create(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded() -> impl FnMut() -> Result<SecretKey, KeyError> {
        let mut n = 0u8;
        move || {
            n += 1;
            Ok(SecretKey::from_seed(&[n; 32]))
        }
    }

    #[test]
    fn create_list_default_and_unlock() {
        let tmp = tempfile::tempdir().expect("temporary home");
        let mut home = Home::open(tmp.path()).expect("open");
        assert!(matches!(home.resolve(None), Err(HomeError::NoDefault)));
        let mut keygen = seeded();
        let a = home
            .create_identity(
                b"pw",
                KdfParams::INSECURE_FOR_TESTS,
                1,
                &mut keygen,
                Some("lucy"),
            )
            .expect("a");
        let b = home
            .create_identity(b"pw", KdfParams::INSECURE_FOR_TESTS, 1, &mut keygen, None)
            .expect("b");
        assert_eq!(
            home.resolve(None).expect("default"),
            a,
            "the first identity is the default"
        );
        assert_eq!(home.resolve(Some("lucy")).expect("petname"), a);
        let list = home.identities().expect("list");
        assert_eq!(list.len(), 2);
        assert!(
            list.iter()
                .any(|s| s.id == a && s.default && s.petnames == ["lucy"])
        );
        home.set_default(&b).expect("default b");
        assert_eq!(home.resolve(None).expect("default"), b);
        let ring = home.unlock(&a, b"pw").expect("unlock");
        assert_eq!(ring.with_role(Role::Root).count(), 1);
        assert!(matches!(
            home.unlock(&a, b"nope"),
            Err(HomeError::Key(KeyError::Decrypt))
        ));
        assert!(matches!(
            home.set_petname("-bad", &a),
            Err(HomeError::Petname { .. })
        ));
        assert!(matches!(
            home.resolve(Some("nobody")),
            Err(HomeError::UnknownIdentity(_))
        ));
        let mut same = seeded();
        assert!(
            matches!(home.create_identity(b"other", KdfParams::INSECURE_FOR_TESTS, 1, &mut same, None), Err(HomeError::Exists(id)) if id == a)
        );
        assert!(
            home.unlock(&a, b"pw").is_ok(),
            "the existing key file is untouched"
        );
    }

    #[test]
    fn root_keys_leave_the_home_only_after_their_file_is_written() {
        let tmp = tempfile::tempdir().expect("temporary home");
        let mut home = Home::open(&tmp.path().join("home")).expect("open");
        let id = home
            .create_identity(b"pw", KdfParams::INSECURE_FOR_TESTS, 1, &mut seeded(), None)
            .expect("identity");
        let unlocked = |home: &Home| Unlocked {
            home: home.unlock(&id, b"pw").expect("unlock"),
            root: None,
        };
        let roots = |home: &Home| {
            home.unlock(&id, b"pw")
                .expect("unlock")
                .with_role(Role::Root)
                .count()
        };
        // A file that cannot be written (its directory is a file): nothing is removed.
        let blocker = tmp.path().join("not-a-dir");
        std::fs::write(&blocker, b"x").expect("blocker");
        let keys = unlocked(&home);
        let err = home.export_root(
            id,
            &keys,
            b"pw",
            KdfParams::INSECURE_FOR_TESTS,
            &blocker.join("root.key"),
            false,
            true,
        );
        assert!(
            matches!(err, Err(HomeError::Key(KeyError::Io { .. }))),
            "{err:?}"
        );
        assert_eq!(roots(&home), 1, "the root key is still here");
        // An existing file is never replaced without being asked to.
        let existing = tmp.path().join("someone-else.key");
        std::fs::write(&existing, b"another identity's only root key").expect("file");
        let err = home.export_root(
            id,
            &keys,
            b"pw",
            KdfParams::INSECURE_FOR_TESTS,
            &existing,
            false,
            true,
        );
        assert!(matches!(err, Err(HomeError::FileExists(_))), "{err:?}");
        assert_eq!(
            std::fs::read(&existing).expect("read"),
            b"another identity's only root key"
        );
        assert_eq!(roots(&home), 1);
        // Written, then removed from the home; the file opens with the passphrase.
        let out = tmp.path().join("root.key");
        home.export_root(
            id,
            &keys,
            b"pw",
            KdfParams::INSECURE_FOR_TESTS,
            &out,
            false,
            true,
        )
        .expect("export");
        assert_eq!(roots(&home), 0, "the home keeps only the signing key");
        let ring = keys::open(&std::fs::read(&out).expect("root file"), b"pw").expect("opens");
        assert_eq!(ring.with_role(Role::Root).count(), 1);
    }

    #[test]
    fn stale_temporary_files_go_when_a_home_opens_and_fresh_ones_stay() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("home");
        drop(Home::open(&dir).expect("open"));
        let artifacts = dir.join("artifacts");
        std::fs::create_dir_all(&artifacts).expect("dir");
        let old = std::time::SystemTime::now() - std::time::Duration::from_hours(2);
        let make = |path: &Path, modified: Option<std::time::SystemTime>| {
            let f = std::fs::File::create(path).expect("create");
            if let Some(t) = modified {
                f.set_modified(t).expect("mtime");
            }
        };
        let stale = artifacts.join(".cairn-abc.tmp");
        let stale_key = dir.join("keys").join("bxyz.tmp");
        std::fs::create_dir_all(dir.join("keys")).expect("dir");
        let fresh = artifacts.join(".cairn-def.tmp");
        let artifact = artifacts.join("bafkrfake");
        make(&stale, Some(old));
        make(&stale_key, Some(old));
        make(&fresh, None);
        make(&artifact, Some(old));
        drop(Home::open(&dir).expect("reopen"));
        assert!(
            !stale.exists() && !stale_key.exists(),
            "stale temporary files are removed"
        );
        assert!(fresh.exists(), "a file another writer may be writing stays");
        assert!(artifact.exists(), "artifacts themselves are never touched");
    }
}
