//! Importing identity logs and index chains: verify first, then write in one transaction.

use std::collections::BTreeMap;

use cairn_protocol::chain::ChainError;
use cairn_protocol::cid::Cid;
use cairn_protocol::head::{Divergence, classify};
use cairn_protocol::identity::{IdentityId, IdentityLog, IdentityRevision, KeyState, KeyStates};
use cairn_protocol::index::version::VersionIndex;
use cairn_protocol::index::{Citation, IndexKind, Revision, Tip, verify_revision};
use cairn_protocol::name::IndexName;
use cairn_protocol::sign::Domain;
use cairn_protocol::signed::{Signed, Unverified};
use rusqlite::{Connection, OptionalExtension as _, params};

use super::{Store, StoreError, decode_cid};
use crate::blocks::BlockStore as _;
use crate::verify::{Answer, LogVerifier, Need, Refusal, Step};

/// What an import did (its JSON form is documented in `docs/json.md`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Revisions `from..=to` were verified and stored.
    Imported {
        /// First new seq.
        from: u64,
        /// Last new seq.
        to: u64,
    },
    /// Nothing new: the store already holds every offered revision.
    UpToDate,
    /// The signer published two different revisions at `seq`: evidence stored, signer flagged,
    /// nothing else changed.
    Fork {
        /// The seq.
        seq: u64,
        /// The equivocating identity.
        signer: IdentityId,
    },
    /// Two maintainers appended at `seq` concurrently; settled for `winner`.
    Conflict {
        /// The seq.
        seq: u64,
        /// The payload CID kept.
        winner: Cid,
        /// The payload CID dropped (its maintainer re-applies its operations).
        loser: Cid,
        /// Whether the store switched to the offered branch.
        switched: bool,
        /// The held revisions dropped by the switch (envelopes, oldest first): their
        /// maintainers re-apply the operations on top of the winner.
        #[serde(skip)]
        dropped: Vec<Vec<u8>>,
    },
}

/// The result of an import.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    /// The log.
    pub log: String,
    /// The verified head seq after the import.
    pub head: u64,
    /// What happened.
    pub outcome: Outcome,
}

/// A held revision: payload CID, signer identity (text), envelope.
struct Held {
    cid: Cid,
    signer: String,
    envelope: Vec<u8>,
}

/// One verified identity-log revision: seq, payload CID, envelope, identity document block.
pub(super) struct IdentityRow {
    seq: u64,
    cid: Cid,
    envelope: Vec<u8>,
    doc: (Cid, Vec<u8>),
}

/// An offered index revision: decoded, with its bytes.
pub(super) type Offered<K> = (Signed<Revision<K>, Unverified>, Vec<u8>);

/// After comparing an offer with what is held: stop with a report, or go on verifying
/// `offered[start..]` on top of `tip` (after switching branches for `conflict`).
enum Reconciled<K: IndexKind> {
    Done(ImportReport),
    /// Boxed: a tip is much larger than a report.
    Continue {
        start: usize,
        tip: Box<Option<Tip<K>>>,
        conflict: Option<(u64, Cid, Cid)>,
    },
}

/// Key states by (identity, seq), as stored: what index verification reads.
#[derive(Debug, Default)]
struct CitedKeys(BTreeMap<(IdentityId, u64), KeyState>);

impl KeyStates for CitedKeys {
    fn key_state(&self, identity: &IdentityId, seq: u64) -> Option<&KeyState> {
        self.0.get(&(*identity, seq))
    }
}

/// One verified revision ready to write.
struct Row {
    seq: u64,
    payload_cid: Cid,
    signer: String,
    envelope: Vec<u8>,
    blocks: Vec<(Cid, Vec<u8>)>,
}

/// Verifies an identity log from genesis. Returns the log and its rows, or the failing seq
/// and rule.
pub(super) fn verify_identity(
    envelopes: &[Vec<u8>],
) -> Result<(IdentityLog, Vec<IdentityRow>), (u64, ChainError)> {
    let mut log: Option<IdentityLog> = None;
    let mut rows = Vec::with_capacity(envelopes.len());
    for (i, bytes) in envelopes.iter().enumerate() {
        let seq = i as u64 + 1;
        let env =
            Signed::<IdentityRevision, Unverified>::decode(bytes).map_err(|e| (seq, e.into()))?;
        let cid = env.payload_cid();
        match &mut log {
            None => log = Some(IdentityLog::genesis(env).map_err(|e| (seq, e))?),
            Some(l) => l.append(env).map_err(|e| (seq, e))?,
        }
        let l = log.as_ref().ok_or((
            seq,
            ChainError::BadGenesis {
                seq,
                reason: "no genesis",
            },
        ))?;
        let doc = l
            .key_state(l.seq())
            .map(cairn_protocol::identity::KeyState::block)
            .ok_or((
                seq,
                ChainError::BadGenesis {
                    seq,
                    reason: "no state",
                },
            ))?;
        rows.push(IdentityRow {
            seq: l.seq(),
            cid,
            envelope: bytes.clone(),
            doc,
        });
    }
    log.map(|l| (l, rows)).ok_or((
        0,
        ChainError::BadGenesis {
            seq: 0,
            reason: "the chain is empty",
        },
    ))
}

impl Store {
    /// Held (payload CID, signer) per seq of a log.
    fn held(&self, log: &str) -> Result<BTreeMap<u64, Held>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, payload_cid, signer, envelope FROM revisions WHERE log = ?1")?;
        let rows = stmt.query_map([log], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (seq, cid, signer, env) = row?;
            out.insert(
                super::from_sql_seq(seq)?,
                Held {
                    cid: decode_cid(&cid)?,
                    signer,
                    envelope: env,
                },
            );
        }
        Ok(out)
    }

    /// Verifies and stores an identity log (the whole chain from genesis; identity logs are
    /// small). A divergence from the held log is a fork by that identity.
    ///
    /// Reads what is held and writes in one immediate transaction.
    pub fn import_identity(&mut self, envelopes: &[Vec<u8>]) -> Result<ImportReport, StoreError> {
        self.immediate(|s| s.import_identity_locked(envelopes))
    }

    fn import_identity_locked(
        &mut self,
        envelopes: &[Vec<u8>],
    ) -> Result<ImportReport, StoreError> {
        if envelopes.is_empty() {
            return Err(StoreError::Empty);
        }
        let (log, rows) = verify_identity(envelopes).map_err(|(seq, error)| StoreError::Chain {
            log: "identity".into(),
            seq,
            error,
        })?;
        let name = log.id().to_string();
        let held = self.held(&name)?;
        for row in &rows {
            if let Some(h) = held.get(&row.seq)
                && h.cid != row.cid
            {
                record_fork(
                    &self.conn,
                    &name,
                    row.seq,
                    &name,
                    &h.envelope,
                    &row.envelope,
                )?;
                return Ok(ImportReport {
                    log: name,
                    head: held.len() as u64,
                    outcome: Outcome::Fork {
                        seq: row.seq,
                        signer: log.id(),
                    },
                });
            }
        }
        let offered = rows.len() as u64;
        let high = self.high_water(&name)?.unwrap_or(0);
        if offered < high {
            return Err(StoreError::Rollback {
                log: name,
                high_water: high,
                offered,
            });
        }
        let held_len = held.len() as u64;
        if offered <= held_len {
            return Ok(ImportReport {
                log: name,
                head: held_len,
                outcome: Outcome::UpToDate,
            });
        }
        let tx = &self.conn;
        let mut last = None;
        for r in rows.into_iter().filter(|r| r.seq > held_len) {
            last = Some((r.seq, r.cid, r.doc.0));
            let row = Row {
                seq: r.seq,
                payload_cid: r.cid,
                signer: name.clone(),
                envelope: r.envelope,
                blocks: vec![r.doc],
            };
            write_row(tx, &name, &row)?;
        }
        if let Some((seq, cid, state)) = last {
            let old = (held_len > 0).then_some(held_len);
            write_head(tx, &name, Domain::Identity.name(), old, seq, cid, state)?;
        }
        Ok(ImportReport {
            log: name,
            head: offered,
            outcome: Outcome::Imported {
                from: held_len + 1,
                to: offered,
            },
        })
    }

    /// The stored key states the citations `(revision seq, citation)` name, for verifying
    /// index revisions. An identity with no log here is an error naming the revision; a cited
    /// seq beyond what is held is left out (the verifier refuses the citation).
    fn cited_keys(
        &self,
        log: &str,
        citations: impl Iterator<Item = (u64, Citation)>,
    ) -> Result<CitedKeys, StoreError> {
        let mut out = CitedKeys::default();
        for (seq, cite) in citations {
            if out.0.contains_key(&(cite.identity, cite.seq)) {
                continue;
            }
            match self.key_state(&cite.identity, cite.seq)? {
                Some(keys) => {
                    out.0.insert((cite.identity, cite.seq), keys);
                }
                None if self.head(&cite.identity.to_string())?.is_none() => {
                    return Err(StoreError::UnknownIdentity {
                        log: log.into(),
                        seq,
                        identity: cite.identity,
                    });
                }
                None => {}
            }
        }
        Ok(out)
    }

    /// The identity logs of `ids`, each re-verified from genesis (for `verify_log`).
    fn verified_identity_logs(
        &self,
        log: &str,
        ids: Vec<IdentityId>,
    ) -> Result<BTreeMap<IdentityId, IdentityLog>, StoreError> {
        let mut out = BTreeMap::new();
        for id in ids {
            let envelopes = self.envelopes(&id.to_string())?;
            if envelopes.is_empty() {
                return Err(StoreError::UnknownIdentity {
                    log: log.into(),
                    seq: 0,
                    identity: id,
                });
            }
            let (l, _) = verify_identity(&envelopes).map_err(|(seq, e)| {
                StoreError::Corrupt(format!("identity `{id}` revision {seq}: {e}"))
            })?;
            out.insert(id, l);
        }
        Ok(out)
    }

    /// The verified tip of an index, read from its stored head revision and state blocks
    /// (nothing is verified again; time independent of the chain's length).
    pub fn index_tip<K: IndexKind>(&self, log: &str) -> Result<Option<Tip<K>>, StoreError> {
        let Some((seq, payload_cid)) = self.head(log)? else {
            return Ok(None);
        };
        let tip = self
            .stored_tip::<K>(log, seq)?
            .ok_or_else(|| StoreError::Corrupt(format!("`{log}` has no revision {seq}")))?;
        if tip.payload_cid != payload_cid {
            return Err(StoreError::Corrupt(format!(
                "`{log}` revision {seq} is not the stored head `{payload_cid}`"
            )));
        }
        Ok(Some(tip))
    }

    /// The tip of `log` at its held revision `seq`, as verified and stored.
    fn stored_tip<K: IndexKind>(&self, log: &str, seq: u64) -> Result<Option<Tip<K>>, StoreError> {
        let Some(envelope) = self.envelope(log, seq)? else {
            return Ok(None);
        };
        let env = Signed::<Revision<K>, Unverified>::decode(&envelope)
            .map_err(|e| StoreError::Corrupt(format!("`{log}` revision {seq}: {e}")))?;
        let payload_cid = env.payload_cid();
        let revision = env.into_payload();
        let state = K::load_state(revision.state, &|c| self.get(c))
            .map_err(|e| StoreError::state(&format!("`{log}` revision {seq}"), e))?;
        Ok(Some(Tip {
            revision,
            payload_cid,
            state,
            fresh_blocks: Vec::new(),
        }))
    }

    /// Re-verifies a held log from genesis (identity logs, then every revision and the state
    /// it links) and checks that the result is the stored head. Returns the head seq.
    pub fn verify_log(&self, log: &str) -> Result<u64, StoreError> {
        let kind = self
            .head_kind(log)?
            .ok_or_else(|| StoreError::Corrupt(format!("`{log}` is not held")))?;
        let envelopes = self.envelopes(log)?;
        let head = self
            .head(log)?
            .ok_or_else(|| StoreError::Corrupt(format!("`{log}` has no head")))?;
        // What the store holds was verified when it arrived: a rule broken now is local damage.
        let refuse = |seq: u64, error: ChainError| {
            StoreError::Corrupt(format!(
                "the stored copy of `{log}` breaks a rule at revision {seq}: {error}"
            ))
        };
        let (seq, cid) = if kind == "identity" {
            let (l, _) = verify_identity(&envelopes).map_err(|(seq, e)| refuse(seq, e))?;
            (l.seq(), l.head())
        } else {
            let index: IndexName = log
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("`{log}`: {e}")))?;
            let logs = self.verified_identity_logs(log, self.signers(log)?)?;
            if kind == "version-index" {
                let t = cairn_protocol::index::verify_chain_from::<VersionIndex>(
                    None, &index, &envelopes, &logs, false,
                )
                .map_err(|(seq, e)| refuse(seq, e))?
                .tip;
                self.index_tip::<VersionIndex>(log)?;
                (t.seq(), t.payload_cid)
            } else {
                let t = cairn_protocol::index::verify_chain_from::<
                    cairn_protocol::index::package::PackageIndex,
                >(None, &index, &envelopes, &logs, false)
                .map_err(|(seq, e)| refuse(seq, e))?
                .tip;
                self.index_tip::<cairn_protocol::index::package::PackageIndex>(log)?;
                (t.seq(), t.payload_cid)
            }
        };
        if (seq, cid) != head {
            return Err(StoreError::Corrupt(format!(
                "`{log}` re-verifies to revision {seq} `{cid}`, but the stored head is {} `{}`",
                head.0, head.1
            )));
        }
        Ok(seq)
    }

    /// The verified state of an index at the held revision whose payload CID is `payload`
    /// (for pinned aliases), as stored.
    pub fn index_tip_at<K: IndexKind>(
        &self,
        index: &IndexName,
        payload: Cid,
    ) -> Result<Option<Tip<K>>, StoreError> {
        let log = index.to_string();
        let seq: Option<i64> = self
            .conn
            .prepare_cached("SELECT seq FROM revisions WHERE log = ?1 AND payload_cid = ?2")?
            .query_row(rusqlite::params![log, payload.to_bytes().as_slice()], |r| {
                r.get(0)
            })
            .optional()?;
        match seq {
            Some(seq) => self.stored_tip::<K>(&log, super::from_sql_seq(seq)?),
            None => Ok(None),
        }
    }

    /// The stored tip of `index` at `seq` (`None` before the first revision).
    fn tip_at<K: IndexKind>(
        &self,
        index: &IndexName,
        seq: u64,
    ) -> Result<Option<Tip<K>>, StoreError> {
        if seq == 0 {
            return Ok(None);
        }
        let log = index.to_string();
        self.stored_tip::<K>(&log, seq)?
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt(format!("`{log}` has no revision {seq}")))
    }

    /// Verifies and stores revisions of an index (oldest first; they may overlap what is held).
    pub fn import_index<K: IndexKind>(
        &mut self,
        index: &IndexName,
        envelopes: &[Vec<u8>],
    ) -> Result<ImportReport, StoreError> {
        self.import_index_inner::<K>(index, envelopes, false)
    }

    /// [`Store::import_index`] that also drops the index's staged operations in the same
    /// transaction (they are what the imported revision signs).
    pub fn import_index_clearing_draft<K: IndexKind>(
        &mut self,
        index: &IndexName,
        envelopes: &[Vec<u8>],
    ) -> Result<ImportReport, StoreError> {
        self.import_index_inner::<K>(index, envelopes, true)
    }

    /// Stores an extension the log verifier accepted on top of `base` (`None`: from the
    /// first revision), without verifying it again. Must run inside a transaction
    /// ([`Store::immediate`]). When the held head is no longer `base` (another writer moved
    /// it, or the extension starts from the first revision while revisions are held), the
    /// revisions go through [`Store::import_index`]'s full path instead, which reconciles
    /// them with what is held.
    pub fn import_verified<K: IndexKind>(
        &mut self,
        index: &IndexName,
        base: Option<crate::verify::Base>,
        verified: crate::verify::Verified<K>,
    ) -> Result<ImportReport, StoreError> {
        let log = index.to_string();
        let old = self.head(&log)?;
        let on_base = match (old, base) {
            (None, None) => true,
            (Some((seq, payload)), Some((b_seq, b_payload, _))) => {
                seq == b_seq && payload == b_payload
            }
            _ => false,
        };
        if !on_base || verified.revisions.is_empty() {
            let envelopes: Vec<Vec<u8>> = verified.revisions.into_iter().map(|(_, e)| e).collect();
            return self.import_index_locked::<K>(index, &envelopes, false);
        }
        let tip = verified.tip;
        let high = self.high_water(&log)?.unwrap_or(0);
        if tip.seq() < high {
            return Err(StoreError::Rollback {
                log,
                high_water: high,
                offered: tip.seq(),
            });
        }
        let from = verified.revisions.first().map_or(0, |(r, _)| r.seq);
        for row in &rows(verified.revisions) {
            write_row(&self.conn, &log, row)?;
        }
        write_head(
            &self.conn,
            &log,
            K::DOMAIN.name(),
            old.map(|(seq, _)| seq),
            tip.seq(),
            tip.payload_cid,
            tip.revision.state,
        )?;
        Ok(ImportReport {
            log,
            head: tip.seq(),
            outcome: Outcome::Imported {
                from,
                to: tip.seq(),
            },
        })
    }

    /// Reads what is held, verifies and writes in one immediate transaction, so no other
    /// writer can move the head between the reads and the write.
    fn import_index_inner<K: IndexKind>(
        &mut self,
        index: &IndexName,
        envelopes: &[Vec<u8>],
        clear_draft: bool,
    ) -> Result<ImportReport, StoreError> {
        self.immediate(|s| s.import_index_locked::<K>(index, envelopes, clear_draft))
    }

    fn import_index_locked<K: IndexKind>(
        &mut self,
        index: &IndexName,
        envelopes: &[Vec<u8>],
        clear_draft: bool,
    ) -> Result<ImportReport, StoreError> {
        let log = index.to_string();
        if envelopes.is_empty() {
            return Err(StoreError::Empty);
        }
        let mut offered: Vec<Offered<K>> = Vec::with_capacity(envelopes.len());
        for (i, bytes) in envelopes.iter().enumerate() {
            let env = Signed::decode(bytes).map_err(|e| StoreError::Chain {
                log: log.clone(),
                seq: i as u64 + 1,
                error: e.into(),
            })?;
            offered.push((env, bytes.clone()));
        }
        let (start, tip, conflict) = match self.reconcile(index, &offered)? {
            Reconciled::Done(report) => return Ok(report),
            Reconciled::Continue {
                start,
                tip,
                conflict,
            } => (start, *tip, conflict),
        };
        let new = &offered[start..];
        let high = self.high_water(&log)?.unwrap_or(0);
        if new.is_empty() {
            let last = offered.last().map_or(0, |(e, _)| e.payload().seq);
            if last < high {
                return Err(StoreError::Rollback {
                    log,
                    high_water: high,
                    offered: last,
                });
            }
            return Ok(ImportReport {
                log,
                head: tip.map_or(0, |t| t.seq()),
                outcome: Outcome::UpToDate,
            });
        }
        let (rows, tip) = self.verify_new(index, new, tip)?;
        if tip.seq() < high && conflict.is_none() {
            return Err(StoreError::Rollback {
                log,
                high_water: high,
                offered: tip.seq(),
            });
        }
        let dropped: Vec<Vec<u8>> = match conflict {
            Some((seq, _, _)) => self
                .held(&log)?
                .range(seq..)
                .map(|(_, h)| h.envelope.clone())
                .collect(),
            None => Vec::new(),
        };
        let old = self.head(&log)?.map(|(seq, _)| seq);
        let tx = &self.conn;
        if let Some((seq, winner, loser)) = conflict {
            tx.prepare_cached("DELETE FROM revisions WHERE log = ?1 AND seq >= ?2")?
                .execute(params![log, super::sql_seq(seq)?])?;
            record_conflict(tx, &log, seq, winner, loser)?;
        }
        for row in &rows {
            write_row(tx, &log, row)?;
        }
        write_head(
            tx,
            &log,
            K::DOMAIN.name(),
            old,
            tip.seq(),
            tip.payload_cid,
            tip.revision.state,
        )?;
        if clear_draft {
            tx.prepare_cached("DELETE FROM drafts WHERE log = ?1")?
                .execute([&log])?;
        }
        let to = tip.seq();
        let outcome = match conflict {
            Some((seq, winner, loser)) => Outcome::Conflict {
                seq,
                winner,
                loser,
                switched: true,
                dropped,
            },
            None => Outcome::Imported {
                from: rows.first().map_or(0, |r| r.seq),
                to,
            },
        };
        Ok(ImportReport {
            log,
            head: to,
            outcome,
        })
    }

    /// Compares an offer with the held revisions: skips identical ones; a different revision at
    /// a held seq is verified, then recorded as a fork (same signer) or settled as a conflict.
    fn reconcile<K: IndexKind>(
        &mut self,
        index: &IndexName,
        offered: &[Offered<K>],
    ) -> Result<Reconciled<K>, StoreError> {
        let log = index.to_string();
        let held = self.held(&log)?;
        let mut start = 0;
        for (i, (env, bytes)) in offered.iter().enumerate() {
            let rev = env.payload();
            let Some(h) = held.get(&rev.seq) else { break };
            start = i + 1;
            if h.cid == env.payload_cid() {
                continue;
            }
            let held_signer: IdentityId = h
                .signer
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("`{log}` signer `{}`", h.signer)))?;
            // Only a verified revision may count as evidence or win a conflict.
            let logs = self.cited_keys(&log, std::iter::once((rev.seq, rev.signer)))?;
            let base = self.tip_at::<K>(index, rev.seq - 1)?;
            let refuse = |error: ChainError| StoreError::Chain {
                log: log.clone(),
                seq: rev.seq,
                error,
            };
            let candidate = verify_revision(
                base,
                index,
                Signed::decode(bytes).map_err(|e| refuse(e.into()))?,
                &logs,
                None,
            )
            .map_err(refuse)?;
            let current = self.head(&log)?.map_or(0, |x| x.0);
            return match classify(
                index.identity(),
                (h.cid, held_signer),
                (candidate.payload_cid, rev.signer.identity),
            ) {
                Divergence::Fork { signer } => {
                    record_fork(
                        &self.conn,
                        &log,
                        rev.seq,
                        &signer.to_string(),
                        &h.envelope,
                        bytes,
                    )?;
                    Ok(Reconciled::Done(ImportReport {
                        log,
                        head: current,
                        outcome: Outcome::Fork {
                            seq: rev.seq,
                            signer,
                        },
                    }))
                }
                Divergence::Conflict { winner, loser } if winner == candidate.payload_cid => {
                    Ok(Reconciled::Continue {
                        start: i,
                        tip: Box::new(self.tip_at::<K>(index, rev.seq - 1)?),
                        conflict: Some((rev.seq, winner, loser)),
                    })
                }
                Divergence::Conflict { winner, loser } => {
                    record_conflict(&self.conn, &log, rev.seq, winner, loser)?;
                    Ok(Reconciled::Done(ImportReport {
                        log,
                        head: current,
                        outcome: Outcome::Conflict {
                            seq: rev.seq,
                            winner,
                            loser,
                            switched: false,
                            dropped: Vec::new(),
                        },
                    }))
                }
            };
        }
        Ok(Reconciled::Continue {
            start,
            tip: Box::new(self.index_tip(&log)?),
            conflict: None,
        })
    }

    /// Verifies `new` revisions on top of `tip` by driving the log verifier from the head
    /// offered, answering it from the offer and this store; returns the rows to write and the
    /// new tip.
    fn verify_new<K: IndexKind>(
        &self,
        index: &IndexName,
        new: &[Offered<K>],
        tip: Option<Tip<K>>,
    ) -> Result<(Vec<Row>, Tip<K>), StoreError> {
        let verified = self.verify_offer(index, new, tip)?;
        Ok((rows(verified.revisions), verified.tip))
    }

    /// Runs the log verifier over `new` on top of `tip`, answering from the offer and this
    /// store.
    pub(super) fn verify_offer<K: IndexKind>(
        &self,
        index: &IndexName,
        new: &[Offered<K>],
        tip: Option<Tip<K>>,
    ) -> Result<crate::verify::Verified<K>, StoreError> {
        let log = index.to_string();
        let offered: BTreeMap<Cid, &Vec<u8>> =
            new.iter().map(|(e, b)| (e.payload_cid(), b)).collect();
        let head = new
            .last()
            .map(|(_, b)| b.clone())
            .ok_or(StoreError::Empty)?;
        let base = tip.map(|t| (t.seq(), t.payload_cid, t.revision.state));
        // Release records come in bundles beside the logs; the import does not ask for them.
        let (mut machine, mut step) = LogVerifier::<K>::start(index.clone(), head, base, false);
        loop {
            let needs = match step {
                Step::Needs(needs) => needs,
                Step::Done(done) => {
                    return match *done {
                        Ok(verified) => Ok(verified),
                        Err(Refusal::Chain { log, seq, error }) => {
                            Err(StoreError::Chain { log, seq, error })
                        }
                        Err(Refusal::Unavailable(need)) => Err(Self::unavailable(&log, need)),
                    };
                }
            };
            let answers = needs
                .into_iter()
                .map(|need| self.answer(need, &offered))
                .collect::<Result<Vec<_>, _>>()?;
            step = machine.feed(answers);
        }
    }

    /// Answers one need of the log verifier from an offer and this store.
    fn answer(&self, need: Need, offered: &BTreeMap<Cid, &Vec<u8>>) -> Result<Answer, StoreError> {
        Ok(match need {
            Need::Revision { ref log, payload } => match offered.get(&payload) {
                Some(bytes) => Answer::Revision((*bytes).clone()),
                None => match self.envelope_by_payload(log, &payload)? {
                    Some(bytes) => Answer::Revision(bytes),
                    None => Answer::Missing(need),
                },
            },
            Need::Keys { identity, seq } => Answer::Keys {
                identity,
                seq,
                keys: self.key_state(&identity, seq)?,
            },
            Need::IdentityHead { identity, .. } => {
                let envelope = match self.head(&identity.to_string())? {
                    Some((seq, _)) => self.envelope(&identity.to_string(), seq)?,
                    None => None,
                };
                match envelope {
                    Some(envelope) => Answer::IdentityHead { identity, envelope },
                    None => Answer::Missing(need),
                }
            }
            Need::Block(cid) | Need::Record(cid) => {
                match self.get(&cid).map_err(StoreError::Unreadable)? {
                    Some(bytes) => Answer::Block(cid, bytes),
                    None => Answer::Missing(need),
                }
            }
        })
    }

    /// What the verifier lacked, as the store says it.
    fn unavailable(log: &str, need: Need) -> StoreError {
        match need {
            Need::IdentityHead {
                identity, cited_by, ..
            } => StoreError::UnknownIdentity {
                log: log.to_owned(),
                seq: cited_by,
                identity,
            },
            other => StoreError::Corrupt(format!(
                "verifying `{log}` needed {other:?}, which this store does not hold"
            )),
        }
    }

    /// A held revision's envelope, found by its payload CID.
    fn envelope_by_payload(&self, log: &str, payload: &Cid) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT envelope FROM revisions WHERE log = ?1 AND payload_cid = ?2")?
            .query_row(params![log, payload.to_bytes().as_slice()], |r| r.get(0))
            .optional()?)
    }
}

fn record_conflict(
    tx: &Connection,
    log: &str,
    seq: u64,
    winner: Cid,
    loser: Cid,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO conflicts (log, seq, winner, loser) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        log,
        super::sql_seq(seq)?,
        winner.to_bytes().as_slice(),
        loser.to_bytes().as_slice()
    ])?;
    Ok(())
}

/// The rows verified revisions are written as.
fn rows(revisions: Vec<(cairn_protocol::index::VerifiedRevision, Vec<u8>)>) -> Vec<Row> {
    revisions
        .into_iter()
        .map(|(r, envelope)| Row {
            seq: r.seq,
            payload_cid: r.payload_cid,
            signer: r.signer.to_string(),
            envelope,
            blocks: r.fresh_blocks,
        })
        .collect()
}

fn write_row(tx: &Connection, log: &str, row: &Row) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO revisions (log, seq, payload_cid, signer, envelope) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![log, super::sql_seq(row.seq)?, row.payload_cid.to_bytes().as_slice(), row.signer, row.envelope])?;
    let mut block =
        tx.prepare_cached("INSERT OR IGNORE INTO blocks (cid, bytes) VALUES (?1, ?2)")?;
    for (cid, bytes) in &row.blocks {
        block.execute(params![cid.to_bytes().as_slice(), bytes])?;
    }
    Ok(())
}

/// Moves a log's head from `old` (`None`: the log has no head yet) to `seq`, as a
/// compare-and-set: if another writer moved it in between, nothing is written and the import
/// fails instead of overwriting a newer head with an older one. Raises the high-water mark.
fn write_head(
    tx: &Connection,
    log: &str,
    kind: &str,
    old: Option<u64>,
    seq: u64,
    payload: Cid,
    state: Cid,
) -> Result<(), StoreError> {
    let changed = match old {
        None => tx.prepare_cached("INSERT OR IGNORE INTO heads (log, kind, seq, payload_cid, state_cid) VALUES (?1, ?2, ?3, ?4, ?5)")?
.execute(
            params![log, kind, super::sql_seq(seq)?, payload.to_bytes().as_slice(), state.to_bytes().as_slice()],
        )?,
        Some(old) => tx.prepare_cached("UPDATE heads SET seq = ?2, payload_cid = ?3, state_cid = ?4 WHERE log = ?1 AND seq = ?5")?
.execute(
            params![log, super::sql_seq(seq)?, payload.to_bytes().as_slice(), state.to_bytes().as_slice(), super::sql_seq(old)?],
        )?,
    };
    if changed != 1 {
        return Err(StoreError::HeadMoved {
            log: log.to_owned(),
            expected: old.unwrap_or(0),
        });
    }
    tx.prepare_cached("INSERT INTO high_water (log, seq, payload_cid) VALUES (?1, ?2, ?3)
         ON CONFLICT (log) DO UPDATE SET seq = excluded.seq, payload_cid = excluded.payload_cid WHERE excluded.seq > high_water.seq")?
.execute(
        params![log, super::sql_seq(seq)?, payload.to_bytes().as_slice()],
    )?;
    Ok(())
}

fn record_fork(
    tx: &Connection,
    log: &str,
    seq: u64,
    signer: &str,
    a: &[u8],
    b: &[u8],
) -> Result<(), StoreError> {
    tx.prepare_cached("INSERT OR IGNORE INTO forks (log, seq, signer, envelope_a, envelope_b) VALUES (?1, ?2, ?3, ?4, ?5)")?
.execute(
        params![log, super::sql_seq(seq)?, signer, a, b],
    )?;
    tx.prepare_cached("INSERT OR IGNORE INTO flagged (identity, reason) VALUES (?1, ?2)")?
        .execute(params![
            signer,
            format!("signed two different revisions at seq {seq} of `{log}`")
        ])?;
    Ok(())
}
