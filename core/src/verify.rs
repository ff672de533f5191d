//! Verifying an index log from its head, with no I/O of its own.
//!
//! [`LogVerifier`] is a state machine. Started with a head (the newest envelope offered) and the
//! verified revision it builds on, it answers with what it needs next ([`Need`]): earlier
//! revisions by payload CID, key states the caller already holds verified, identity logs it
//! does not, state blocks. Fed answers ([`Answer`]) in any order and in batches of any size, it
//! asks for more or finishes with a [`Verified`] result ready to be written in one transaction,
//! or the rule a revision broke. The local store drives it from its own blocks; a peer network
//! drives the same machine from what peers send. Whatever the order of the answers, the verdict
//! is the one [`verify_chain_from`] gives on the chain the head links to.
//!
//! Non-goals: forks and conflicts (the store compares an offer with what it holds before
//! verifying), and fetching release records (a follower asks for those separately).

use std::collections::{BTreeMap, BTreeSet};

use cairn_protocol::chain::ChainError;
use cairn_protocol::cid::Cid;
use cairn_protocol::identity::{IdentityId, IdentityLog, IdentityRevision, KeyState, KeyStates};
use cairn_protocol::index::{IndexKind, Revision, Tip, VerifiedRevision, verify_chain_from};
use cairn_protocol::name::IndexName;
use cairn_protocol::signed::{Signed, Unverified};

/// Something the verifier needs before it can go on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    /// The envelope of the revision of `log` whose payload CID is `payload`.
    Revision {
        /// The log (an index name, or an identity ID).
        log: String,
        /// The payload CID (a later revision's `prev`).
        payload: Cid,
    },
    /// The key state of `identity` at `seq`, if the caller holds it verified.
    Keys {
        /// The identity.
        identity: IdentityId,
        /// The identity-log seq a revision cites.
        seq: u64,
    },
    /// The newest revision of `identity`'s log the source has (the caller holds no verified
    /// key state at `seq`, which revision `cited_by` of the index cites).
    IdentityHead {
        /// The identity.
        identity: IdentityId,
        /// The seq cited.
        seq: u64,
        /// The index revision that cites it.
        cited_by: u64,
    },
    /// A state block of the revision the chain builds on.
    Block(Cid),
    /// A record a new revision links outside its state (a release record), when the verifier
    /// was started to fetch them.
    Record(Cid),
}

/// An answer to a [`Need`].
#[derive(Debug, Clone)]
pub enum Answer {
    /// A revision envelope (matched to the need by its payload CID).
    Revision(Vec<u8>),
    /// A verified key state held by the caller, or `None` when it holds none at that seq.
    Keys {
        /// The identity.
        identity: IdentityId,
        /// The seq.
        seq: u64,
        /// The state.
        keys: Option<KeyState>,
    },
    /// An identity log's newest revision.
    IdentityHead {
        /// The identity.
        identity: IdentityId,
        /// Its envelope.
        envelope: Vec<u8>,
    },
    /// A block or record (checked against its CID here).
    Block(Cid, Vec<u8>),
    /// The source does not have what was asked for.
    Missing(Need),
}

/// What the verifier says after a start or a batch of answers.
#[derive(Debug)]
pub enum Step<K: IndexKind> {
    /// It needs these (each asked once; answer them in any order).
    Needs(Vec<Need>),
    /// It is done (boxed: a verified result is large).
    Done(Box<Result<Verified<K>, Refusal>>),
}

/// Why a log was not verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A revision broke a rule: the log, the revision's seq and the rule.
    Chain {
        /// The log (the index, or an identity whose log failed).
        log: String,
        /// The seq.
        seq: u64,
        /// The rule.
        error: ChainError,
    },
    /// Something needed was not available from the source.
    Unavailable(Need),
}

/// An identity log's revisions verified on the way, each with its identity document.
#[derive(Debug, Clone)]
pub struct IdentityUpdate {
    /// The identity.
    pub identity: IdentityId,
    /// Revisions oldest first.
    pub revisions: Vec<IdentityRevisionRow>,
}

/// One verified identity-log revision: seq, payload CID, envelope, identity document (CID,
/// bytes).
pub type IdentityRevisionRow = (u64, Cid, Vec<u8>, (Cid, Vec<u8>));

/// A verified extension of a log, ready to be written in one transaction.
#[derive(Debug)]
pub struct Verified<K: IndexKind> {
    /// Identity logs verified to reach the key states cited.
    pub identities: Vec<IdentityUpdate>,
    /// The new revisions, oldest first, each with its envelope.
    pub revisions: Vec<(VerifiedRevision, Vec<u8>)>,
    /// The new tip.
    pub tip: Tip<K>,
    /// The records the new revisions link (when asked for), each checked against its CID and
    /// the record profile.
    pub records: Vec<(Cid, Vec<u8>)>,
}

/// The verified revision a chain builds on: seq, payload CID and state root.
pub type Base = (u64, Cid, Cid);

/// An identity log being fetched: envelopes from its head back to genesis.
#[derive(Debug, Default)]
struct IdentityWalk {
    /// The seq of the head the walk started from.
    head_seq: Option<u64>,
    /// Envelopes by seq.
    envelopes: BTreeMap<u64, Vec<u8>>,
    /// The verified log, once complete.
    log: Option<IdentityLog>,
}

/// The state machine (see the module documentation).
#[derive(Debug)]
pub struct LogVerifier<K: IndexKind> {
    index: IndexName,
    base: Option<Base>,
    /// The head's seq.
    head_seq: Option<u64>,
    /// Index envelopes collected from the head back, by seq.
    envelopes: BTreeMap<u64, Vec<u8>>,
    /// Every citation of the collected envelopes: (identity, seq) → first citing seq.
    citations: BTreeMap<(IdentityId, u64), u64>,
    keys: BTreeMap<(IdentityId, u64), Option<KeyState>>,
    identities: BTreeMap<IdentityId, IdentityWalk>,
    blocks: BTreeMap<Cid, Vec<u8>>,
    base_state: Option<K::State>,
    /// Whether to fetch the records new revisions link, and those fetched.
    fetch_records: bool,
    records: BTreeMap<Cid, Vec<u8>>,
    /// Needs asked and not yet answered.
    open: BTreeSet<Need>,
    /// Answers that matched no open need (ignored; a peer sent something unasked).
    pub ignored: usize,
    finished: bool,
}

impl<K: IndexKind> LogVerifier<K> {
    /// Starts verifying `index` from `head` (an envelope) on top of `base` (`None`: from the
    /// first revision). With `fetch_records`, the records the new revisions link are asked for
    /// too and come with the result.
    pub fn start(
        index: IndexName,
        head: Vec<u8>,
        base: Option<Base>,
        fetch_records: bool,
    ) -> (LogVerifier<K>, Step<K>) {
        let mut v = LogVerifier {
            index,
            base,
            head_seq: None,
            envelopes: BTreeMap::new(),
            citations: BTreeMap::new(),
            keys: BTreeMap::new(),
            identities: BTreeMap::new(),
            blocks: BTreeMap::new(),
            base_state: None,
            fetch_records,
            records: BTreeMap::new(),
            open: BTreeSet::new(),
            ignored: 0,
            finished: false,
        };
        let mut asks = Vec::new();
        if let Some((_, _, root)) = base {
            v.ask(Need::Block(root), &mut asks);
        }
        let step = match v.take_index_envelope(head, &mut asks) {
            Err(refusal) => v.finish(Err(refusal)),
            Ok(()) => v.next(asks),
        };
        (v, step)
    }

    /// Feeds answers (any order, any number); returns what is needed next, or the verdict.
    pub fn feed(&mut self, answers: Vec<Answer>) -> Step<K> {
        if self.finished {
            return Step::Needs(Vec::new());
        }
        let mut asks = Vec::new();
        for answer in answers {
            if let Err(refusal) = self.take(answer, &mut asks) {
                return self.finish(Err(refusal));
            }
        }
        self.next(asks)
    }

    fn ask(&mut self, need: Need, asks: &mut Vec<Need>) {
        if self.open.insert(need.clone()) {
            asks.push(need);
        }
    }

    fn base_seq(&self) -> u64 {
        self.base.map_or(0, |b| b.0)
    }

    fn take(&mut self, answer: Answer, asks: &mut Vec<Need>) -> Result<(), Refusal> {
        match answer {
            Answer::Revision(bytes) => {
                let Some(need) = self.open_revision(&bytes) else {
                    self.ignored += 1;
                    return Ok(());
                };
                self.open.remove(&need);
                let Need::Revision { log, .. } = need else {
                    return Ok(());
                };
                if log == self.index.to_string() {
                    self.take_index_envelope(bytes, asks)
                } else {
                    let id: IdentityId = log
                        .parse()
                        .map_err(|_| Refusal::Unavailable(need_of(&log)))?;
                    self.take_identity_envelope(id, bytes, asks)
                }
            }
            Answer::Keys {
                identity,
                seq,
                keys,
            } => {
                if !self.open.remove(&Need::Keys { identity, seq }) {
                    self.ignored += 1;
                    return Ok(());
                }
                if keys.is_none() && !self.identities.contains_key(&identity) {
                    let cited_by = self.citations.get(&(identity, seq)).copied().unwrap_or(0);
                    self.identities.insert(identity, IdentityWalk::default());
                    self.ask(
                        Need::IdentityHead {
                            identity,
                            seq,
                            cited_by,
                        },
                        asks,
                    );
                }
                self.keys.insert((identity, seq), keys);
                Ok(())
            }
            Answer::IdentityHead { identity, envelope } => {
                let Some(need) = self
                    .open
                    .iter()
                    .find(|n| matches!(n, Need::IdentityHead { identity: i, .. } if *i == identity))
                    .cloned()
                else {
                    self.ignored += 1;
                    return Ok(());
                };
                self.open.remove(&need);
                self.take_identity_envelope(identity, envelope, asks)
            }
            Answer::Block(cid, bytes) if self.open.contains(&Need::Record(cid)) => {
                if !cid.matches(&bytes) || cairn_protocol::profile::decode_record(&bytes).is_err() {
                    self.ignored += 1;
                    return Ok(());
                }
                self.open.remove(&Need::Record(cid));
                self.records.insert(cid, bytes);
                Ok(())
            }
            Answer::Block(cid, bytes) => {
                if !cid.matches(&bytes) || !self.open.remove(&Need::Block(cid)) {
                    self.ignored += 1;
                    return Ok(());
                }
                self.blocks.insert(cid, bytes);
                self.try_base_state(asks);
                Ok(())
            }
            Answer::Missing(need) => {
                if !self.open.remove(&need) {
                    self.ignored += 1;
                    return Ok(());
                }
                match need {
                    // The chain the head links to stops here: verify what was collected, so
                    // the oldest revision held is refused for the link it breaks.
                    Need::Revision { ref log, .. } if *log == self.index.to_string() => Ok(()),
                    other => Err(Refusal::Unavailable(other)),
                }
            }
        }
    }

    /// The open revision need this envelope answers (by its payload CID).
    fn open_revision(&self, bytes: &[u8]) -> Option<Need> {
        let payload = payload_cid(bytes)?;
        self.open
            .iter()
            .find(|n| matches!(n, Need::Revision { payload: p, .. } if *p == payload))
            .cloned()
    }

    fn take_index_envelope(&mut self, bytes: Vec<u8>, asks: &mut Vec<Need>) -> Result<(), Refusal> {
        let env =
            Signed::<Revision<K>, Unverified>::decode(&bytes).map_err(|e| Refusal::Chain {
                log: self.index.to_string(),
                seq: self.base_seq() + 1,
                error: e.into(),
            })?;
        let rev = env.payload();
        let (seq, prev, cite) = (rev.seq, rev.prev, rev.signer);
        let linked: Vec<Cid> = if self.fetch_records {
            rev.ops.iter().flat_map(K::linked_records).collect()
        } else {
            Vec::new()
        };
        // A chain holds no more revisions than its head's seq says (the head is the first
        // envelope taken); past that, a source is sending a chain that never ends: stop.
        let limit = *self.head_seq.get_or_insert(seq);
        if self.envelopes.contains_key(&seq) || self.envelopes.len() as u64 >= limit.max(1) {
            self.ignored += 1;
            return Ok(());
        }
        self.envelopes.insert(seq, bytes);
        for cid in linked {
            self.ask(Need::Record(cid), asks);
        }
        let key = (cite.identity, cite.seq);
        if let std::collections::btree_map::Entry::Vacant(slot) = self.citations.entry(key) {
            slot.insert(seq);
            self.ask(
                Need::Keys {
                    identity: cite.identity,
                    seq: cite.seq,
                },
                asks,
            );
        }
        if let Some(prev) = prev
            && seq > self.base_seq() + 1
        {
            self.ask(
                Need::Revision {
                    log: self.index.to_string(),
                    payload: prev,
                },
                asks,
            );
        }
        Ok(())
    }

    fn take_identity_envelope(
        &mut self,
        id: IdentityId,
        bytes: Vec<u8>,
        asks: &mut Vec<Need>,
    ) -> Result<(), Refusal> {
        let refuse = |seq, error| Refusal::Chain {
            log: id.to_string(),
            seq,
            error,
        };
        let env = Signed::<IdentityRevision, Unverified>::decode(&bytes)
            .map_err(|e| refuse(0, e.into()))?;
        let (seq, prev) = (env.payload().seq, env.payload().prev);
        let walk = self.identities.entry(id).or_default();
        let limit = *walk.head_seq.get_or_insert(seq);
        if walk.envelopes.contains_key(&seq) || walk.envelopes.len() as u64 >= limit.max(1) {
            self.ignored += 1;
            return Ok(());
        }
        walk.envelopes.insert(seq, bytes);
        match prev {
            Some(prev) if seq > 1 => self.ask(
                Need::Revision {
                    log: id.to_string(),
                    payload: prev,
                },
                asks,
            ),
            _ => {}
        }
        Ok(())
    }

    /// Loads the base state from the blocks fed so far, asking for the ones it lacks.
    fn try_base_state(&mut self, asks: &mut Vec<Need>) {
        let Some((_, _, root)) = self.base else {
            return;
        };
        if self.base_state.is_some() {
            return;
        }
        let missing = std::cell::RefCell::new(Vec::new());
        let fetch = |c: &Cid| {
            let found = self.blocks.get(c).cloned();
            if found.is_none() {
                missing.borrow_mut().push(*c);
            }
            Ok(found)
        };
        match K::load_state(root, &fetch) {
            Ok(state) => self.base_state = Some(state),
            Err(_) => {
                for cid in missing.into_inner() {
                    self.ask(Need::Block(cid), asks);
                }
            }
        }
    }

    fn next(&mut self, asks: Vec<Need>) -> Step<K> {
        if !self.open.is_empty() {
            return Step::Needs(asks);
        }
        if let Some((_, _, root)) = self.base
            && self.base_state.is_none()
        {
            // Every block asked for came, yet the state does not load: the caller's verified
            // store holds a state it cannot read back.
            return self.finish(Err(Refusal::Unavailable(Need::Block(root))));
        }
        let outcome = self.verify();
        self.finish(outcome)
    }

    fn finish(&mut self, outcome: Result<Verified<K>, Refusal>) -> Step<K> {
        self.finished = true;
        self.open.clear();
        Step::Done(Box::new(outcome))
    }

    /// Every need is answered: verify the identity logs fetched, then the index chain.
    fn verify(&mut self) -> Result<Verified<K>, Refusal> {
        let mut identities = Vec::new();
        let mut keys = Keys::default();
        for ((id, seq), state) in &self.keys {
            if let Some(s) = state {
                keys.0.insert((*id, *seq), s.clone());
            }
        }
        for (id, walk) in &mut self.identities {
            let update = verify_identity(*id, walk)?;
            if let Some(log) = &walk.log {
                for ((cited, seq), _) in self.citations.iter().filter(|((i, _), _)| i == id) {
                    if let Some(s) = log.key_state(*seq) {
                        keys.0.insert((*cited, *seq), s.clone());
                    }
                }
            }
            identities.push(update);
        }
        let envelopes: Vec<Vec<u8>> = std::mem::take(&mut self.envelopes).into_values().collect();
        let base = match (self.base, self.base_state.take()) {
            (Some((seq, cid, _)), Some(state)) => Some((seq, cid, state)),
            _ => None,
        };
        let chain = verify_chain_from::<K>(base, &self.index, &envelopes, &keys, true).map_err(
            |(seq, error)| Refusal::Chain {
                log: self.index.to_string(),
                seq,
                error,
            },
        )?;
        let revisions = chain.revisions.into_iter().zip(envelopes).collect();
        Ok(Verified {
            identities,
            revisions,
            tip: chain.tip,
            records: std::mem::take(&mut self.records).into_iter().collect(),
        })
    }
}

/// Verifies a fetched identity log from genesis and checks it is `id`'s.
fn verify_identity(id: IdentityId, walk: &mut IdentityWalk) -> Result<IdentityUpdate, Refusal> {
    let refuse = |seq, error| Refusal::Chain {
        log: id.to_string(),
        seq,
        error,
    };
    let mut log: Option<IdentityLog> = None;
    let mut revisions = Vec::new();
    for (seq, bytes) in &walk.envelopes {
        let env = Signed::<IdentityRevision, Unverified>::decode(bytes)
            .map_err(|e| refuse(*seq, e.into()))?;
        let cid = env.payload_cid();
        match &mut log {
            None => log = Some(IdentityLog::genesis(env).map_err(|e| refuse(*seq, e))?),
            Some(l) => l.append(env).map_err(|e| refuse(*seq, e))?,
        }
        let l = log.as_ref().ok_or_else(|| {
            refuse(
                *seq,
                ChainError::BadGenesis {
                    seq: *seq,
                    reason: "no genesis",
                },
            )
        })?;
        let doc = l
            .key_state(l.seq())
            .map_or_else(|| KeyState::default().block(), KeyState::block);
        revisions.push((l.seq(), cid, bytes.clone(), doc));
    }
    if let Some(l) = &log
        && l.id() != id
    {
        return Err(refuse(
            1,
            ChainError::BadGenesis {
                seq: 1,
                reason: "the identity log offered belongs to another identity",
            },
        ));
    }
    walk.log = log;
    Ok(IdentityUpdate {
        identity: id,
        revisions,
    })
}

/// The need a malformed log name stands for (never asked; for errors only).
fn need_of(log: &str) -> Need {
    Need::Revision {
        log: log.to_owned(),
        payload: Cid::of_record(b""),
    }
}

/// The payload CID of an envelope of any kind, if it decodes as an envelope (the domain plays
/// no part in decoding).
fn payload_cid(bytes: &[u8]) -> Option<Cid> {
    use cairn_protocol::signed::{Opaque, domains};
    Signed::<Opaque<domains::Identity>, Unverified>::decode(bytes)
        .ok()
        .map(|e| e.payload_cid())
}

/// Key states by (identity, seq).
#[derive(Debug, Default)]
struct Keys(BTreeMap<(IdentityId, u64), KeyState>);

impl KeyStates for Keys {
    fn key_state(&self, identity: &IdentityId, seq: u64) -> Option<&KeyState> {
        self.0.get(&(*identity, seq))
    }
}
