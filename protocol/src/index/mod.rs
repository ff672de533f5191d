//! Version indexes and package indexes: append-only chains of signed revisions.
//!
//! Goals: a head alone is enough to use an index (its payload links the full state); a verifier
//! recomputes that state from the previous state and the revision's operations and refuses any
//! mismatch, which is how "releases are never deleted" and permissions are enforced; each
//! revision cites the identity state it was signed under, and citations never decrease.
//!
//! Non-goals: fetching blocks or identity logs (callers supply them), and wall-clock checks.
//!
//! Normative text: `spec/06-logs.md`.

pub mod include;
pub mod package;
pub mod version;

use std::collections::BTreeMap;
use std::fmt::Debug;

use crate::chain::{ChainError, check_sequence};
use crate::cid::Cid;
use crate::codec::{Map, Value};
use crate::identity::{IdentityId, KeyStates};
use crate::name::IndexName;
use crate::profile::{Fields, RecordError};
use crate::sign::Domain;
use crate::signed::{Payload, Signed, Unverified};

/// The most operations in one index revision.
pub const MAX_OPS: usize = 4096;
/// The most identities an index remembers citations of.
pub const MAX_CITATIONS: usize = 1024;

/// A block source for diagnosis and loading: CID → bytes if held (`Ok(None)`: not held), or
/// why it could not be read.
pub type Blocks<'a> = &'a dyn Fn(&Cid) -> Result<Option<Vec<u8>>, crate::cid::BlockFault>;

/// Encoded blocks: (CID, bytes).
pub type EncodedBlocks = Vec<(Cid, Vec<u8>)>;

/// Which identity state signed a revision: the identity and its log `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Citation {
    /// The signer identity.
    pub identity: IdentityId,
    /// The identity-log seq whose key state the signature is valid under.
    pub seq: u64,
}

/// What an operation sees besides the state.
#[derive(Debug, Clone, Copy)]
pub struct ApplyContext<'a> {
    /// The index being changed.
    pub index: &'a IndexName,
    /// The index's owner (the identity in its name).
    pub owner: &'a IdentityId,
    /// The identity that signed this revision.
    pub signer: &'a IdentityId,
}

/// The two kinds of index, as the verifier sees them.
pub trait IndexKind: Sized + Debug + Clone + PartialEq {
    /// Signing domain of this kind's revisions.
    const DOMAIN: Domain;
    /// Record name used in errors.
    const RECORD: &'static str;
    /// One operation.
    type Op: Debug + Clone + PartialEq;
    /// The full state (with its chunked maps).
    type State: Debug + Clone + Default;

    /// Encodes an operation.
    fn op_to_value(op: &Self::Op) -> Value;
    /// Parses an operation.
    fn op_from_value(value: Value) -> Result<Self::Op, RecordError>;
    /// Applies one operation, checking the signer's permission for it.
    fn apply(
        state: &mut Self::State,
        ctx: &ApplyContext<'_>,
        op: &Self::Op,
    ) -> Result<(), ChainError>;
    /// The citation marks kept in the state.
    fn citations(state: &mut Self::State) -> &mut BTreeMap<IdentityId, u64>;
    /// The state's root CID; blocks encoded by this call are appended to `fresh`.
    fn state_root(state: &mut Self::State, fresh: Option<&mut EncodedBlocks>) -> Cid;
    /// Loads a state from its root block and map blocks, checking every block.
    fn load_state(root: Cid, blocks: Blocks<'_>) -> Result<Self::State, ChainError>;
    /// Records an operation links outside the state (a version index's release records),
    /// which a follower fetches along with the revisions.
    fn linked_records(_op: &Self::Op) -> Vec<Cid> {
        Vec::new()
    }
    /// Names the rule a mismatching linked state breaks, if the claimed blocks show it
    /// (for a version index: a dropped release).
    fn diagnose(
        _recomputed: &Self::State,
        _claimed: Cid,
        _blocks: Blocks<'_>,
        _seq: u64,
    ) -> Option<ChainError> {
        None
    }
}

/// The payload of an index revision.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision<K: IndexKind> {
    /// The index this revision belongs to.
    pub index: IndexName,
    /// 1 for the first revision, then +1.
    pub seq: u64,
    /// The previous payload's CID (absent only at seq 1).
    pub prev: Option<Cid>,
    /// Seconds since the Unix epoch, as claimed by the signer.
    pub time: u64,
    /// Who signed, under which identity state.
    pub signer: Citation,
    /// The changes.
    pub ops: Vec<K::Op>,
    /// The root CID of the resulting state.
    pub state: Cid,
}

impl<K: IndexKind> Payload for Revision<K> {
    const DOMAIN: Domain = K::DOMAIN;

    fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("index", Value::text(self.index.to_string()));
        m.insert("seq", Value::Integer(i128::from(self.seq)));
        if let Some(p) = self.prev {
            m.insert("prev", Value::Link(p.into()));
        }
        m.insert("time", Value::Integer(i128::from(self.time)));
        m.insert("signer", citation_value(&self.signer));
        m.insert(
            "ops",
            Value::List(self.ops.iter().map(K::op_to_value).collect()),
        );
        m.insert("state", Value::Link(self.state.into()));
        Value::Map(m)
    }

    fn from_value(v: Value) -> Result<Self, RecordError> {
        let mut f = Fields::new(K::RECORD, v)?;
        let index_text = f.text("index")?;
        let index = index_text
            .parse()
            .map_err(|e: crate::name::NameError| f.invalid("index", e.to_string()))?;
        let seq = f.uint("seq")?;
        let prev = f.optional_link("prev")?;
        let time = f.uint("time")?;
        let signer = citation_from(f.required("signer")?)?;
        let ops = f.list_of("ops", MAX_OPS, "operations")?;
        let ops = ops
            .into_iter()
            .map(K::op_from_value)
            .collect::<Result<_, _>>()?;
        let state = f.link("state")?;
        f.finish()?;
        Ok(Revision {
            index,
            seq,
            prev,
            time,
            signer,
            ops,
            state,
        })
    }
}

fn citation_value(c: &Citation) -> Value {
    let mut m = Map::new();
    m.insert("identity", Value::text(c.identity.to_string()));
    m.insert("seq", Value::Integer(i128::from(c.seq)));
    Value::Map(m)
}

fn citation_from(v: Value) -> Result<Citation, RecordError> {
    let mut f = Fields::new("signer citation", v)?;
    let identity = parse_identity(&mut f, "identity")?;
    let seq = f.uint("seq")?;
    if seq == 0 {
        return Err(f.invalid("seq", "identity seqs start at 1"));
    }
    f.finish()?;
    Ok(Citation { identity, seq })
}

/// Reads an identity ID written as text.
pub(crate) fn parse_identity(
    f: &mut Fields,
    field: &'static str,
) -> Result<IdentityId, RecordError> {
    let text = f.text(field)?;
    text.parse()
        .map_err(|e: crate::identity::IdentityIdError| f.invalid(field, e.to_string()))
}

/// Encodes citation marks as `[[identity, seq], …]` sorted by identity text.
pub(crate) fn citations_value(c: &BTreeMap<IdentityId, u64>) -> Value {
    let mut pairs: Vec<(String, u64)> = c.iter().map(|(id, s)| (id.to_string(), *s)).collect();
    pairs.sort();
    Value::List(
        pairs
            .into_iter()
            .map(|(id, s)| Value::List(vec![Value::String(id), Value::Integer(i128::from(s))]))
            .collect(),
    )
}

/// The verified head of an index: its latest revision and the state it links.
#[derive(Debug, Clone)]
pub struct Tip<K: IndexKind> {
    /// The latest revision.
    pub revision: Revision<K>,
    /// Its payload CID.
    pub payload_cid: Cid,
    /// The full state after it.
    pub state: K::State,
    /// State blocks first encoded by the last verification (what a store must write).
    pub fresh_blocks: Vec<(Cid, Vec<u8>)>,
}

impl<K: IndexKind> Tip<K> {
    /// The index.
    pub fn index(&self) -> &IndexName {
        &self.revision.index
    }

    /// The latest seq.
    pub fn seq(&self) -> u64 {
        self.revision.seq
    }
}

/// Verifies one revision of `index` on top of `prev` (`None` for the first revision), with the
/// signer's key state taken from `keys`. `claimed` lets the verifier name the rule a wrong state
/// link breaks, when the linked blocks are at hand.
///
/// The checks run in this order: index name, seq and prev, citation (known, not lowered), keys
/// valid at the cited state, operations (with permissions), state root, signatures.
pub fn verify_revision<K: IndexKind>(
    prev: Option<Tip<K>>,
    index: &IndexName,
    envelope: Signed<Revision<K>, Unverified>,
    keys: &(impl KeyStates + ?Sized),
    claimed: Option<Blocks<'_>>,
) -> Result<Tip<K>, ChainError> {
    let prev = prev.map(|t| (t.seq(), t.payload_cid, t.state));
    let (state, fresh) = check_rules(prev, index, &envelope, keys, claimed, true)?;
    let verified = envelope.verify()?;
    let payload_cid = verified.payload_cid();
    Ok(Tip {
        payload_cid,
        revision: verified.into_payload(),
        state,
        fresh_blocks: fresh,
    })
}

/// Every check of [`verify_revision`] but the signatures, on top of the previous revision's
/// seq, payload CID and state: returns the new state and, with `collect`, the state blocks it
/// encoded.
fn check_rules<K: IndexKind>(
    prev: Option<(u64, Cid, K::State)>,
    index: &IndexName,
    envelope: &Signed<Revision<K>, Unverified>,
    keys: &(impl KeyStates + ?Sized),
    claimed: Option<Blocks<'_>>,
    collect: bool,
) -> Result<(K::State, EncodedBlocks), ChainError> {
    let rev = envelope.payload();
    if rev.index != *index {
        return Err(ChainError::WrongIndex {
            expected: index.to_string(),
            found: rev.index.to_string(),
        });
    }
    check_sequence(prev.as_ref().map(|p| (p.0, p.1)), rev.seq, rev.prev)?;
    let mut state = prev.map(|p| p.2).unwrap_or_default();
    let signer = rev.signer;
    let marks = K::citations(&mut state);
    if let Some(&previous) = marks.get(&signer.identity)
        && signer.seq < previous
    {
        return Err(ChainError::CitationLowered {
            seq: rev.seq,
            identity: signer.identity,
            previous,
            cited: signer.seq,
        });
    }
    let key_state =
        keys.key_state(&signer.identity, signer.seq)
            .ok_or(ChainError::CitationUnknown {
                identity: signer.identity,
                seq: signer.seq,
            })?;
    for key in envelope.signers() {
        if key_state.revoked.contains(key) {
            return Err(ChainError::KeyRevoked {
                key: key.to_string(),
                identity: signer.identity,
                seq: signer.seq,
            });
        }
        if !key_state.is_signing_key(key) {
            return Err(ChainError::KeyNotValid {
                key: key.to_string(),
                identity: signer.identity,
                seq: signer.seq,
            });
        }
    }
    marks.insert(signer.identity, signer.seq);
    if marks.len() > MAX_CITATIONS {
        return Err(ChainError::op(
            "chain-too-many-signers",
            format!("an index may have at most {MAX_CITATIONS} distinct signers"),
        ));
    }
    let ctx = ApplyContext {
        index,
        owner: index.identity(),
        signer: &signer.identity,
    };
    for op in &rev.ops {
        K::apply(&mut state, &ctx, op)?;
    }
    let mut fresh = Vec::new();
    let root = K::state_root(&mut state, collect.then_some(&mut fresh));
    if root != rev.state {
        if let Some(e) = claimed.and_then(|blocks| K::diagnose(&state, rev.state, blocks, rev.seq))
        {
            return Err(e);
        }
        return Err(ChainError::StateMismatch {
            seq: rev.seq,
            expected: root,
            found: rev.state,
        });
    }
    Ok((state, fresh))
}

/// Builds the next revision of `index` on top of `prev`: applies `ops` to compute the state
/// link. Signing is the caller's.
pub fn next_revision<K: IndexKind>(
    prev: Option<&Tip<K>>,
    index: &IndexName,
    signer: Citation,
    time: u64,
    ops: Vec<K::Op>,
) -> Result<(Revision<K>, Tip<K>), ChainError> {
    let mut state = prev.map(|t| t.state.clone()).unwrap_or_default();
    K::citations(&mut state).insert(signer.identity, signer.seq);
    let ctx = ApplyContext {
        index,
        owner: index.identity(),
        signer: &signer.identity,
    };
    for op in &ops {
        K::apply(&mut state, &ctx, op)?;
    }
    let mut fresh = Vec::new();
    let root = K::state_root(&mut state, Some(&mut fresh));
    let rev = Revision {
        index: index.clone(),
        seq: prev.map_or(1, |t| t.seq() + 1),
        prev: prev.map(|t| t.payload_cid),
        time,
        signer,
        ops,
        state: root,
    };
    let bytes = crate::profile::encode_record(&rev.to_value())?;
    let tip = Tip {
        revision: rev.clone(),
        payload_cid: Cid::of_record(&bytes),
        state,
        fresh_blocks: fresh,
    };
    Ok((rev, tip))
}

/// A signed, verified index revision.
pub type SignedRevision<K> = Signed<Revision<K>, crate::signed::Verified>;

/// Builds and signs the next revision of `index` with `key` (a signing key of the cited
/// identity state). Returns the envelope to publish and the new tip.
pub fn sign_next<K: IndexKind>(
    prev: Option<&Tip<K>>,
    index: &IndexName,
    signer: Citation,
    key: &crate::sign::SecretKey,
    time: u64,
    ops: Vec<K::Op>,
) -> Result<(SignedRevision<K>, Tip<K>), ChainError> {
    let (rev, tip) = next_revision(prev, index, signer, time, ops)?;
    Ok((Signed::sign(rev, &[key])?, tip))
}

/// Revisions whose rules are checked before their signatures are verified together, in
/// [`verify_chain`]. Verifying signatures back to back keeps the curve tables in cache, which
/// interleaving with decoding and state work would evict (measured: 16% slower verification).
const SIGNATURE_BATCH: usize = 128;

/// Verifies a whole chain of envelopes (oldest first) of `index`. Gives exactly the result of
/// calling [`verify_revision`] on each in turn, including which error is reported first.
pub fn verify_chain<K: IndexKind>(
    index: &IndexName,
    envelopes: &[Vec<u8>],
    keys: &(impl KeyStates + ?Sized),
) -> Result<Tip<K>, ChainError> {
    verify_chain_from::<K>(None, index, envelopes, keys, false)
        .map(|v| v.tip)
        .map_err(|(_, e)| e)
}

/// One revision verified by [`verify_chain_from`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRevision {
    /// Its seq.
    pub seq: u64,
    /// Its payload CID.
    pub payload_cid: Cid,
    /// The identity that signed it.
    pub signer: IdentityId,
    /// The state blocks it encoded first (empty unless asked for).
    pub fresh_blocks: EncodedBlocks,
}

/// The result of [`verify_chain_from`]: the new tip and each revision verified on the way.
#[derive(Debug, Clone)]
pub struct VerifiedChain<K: IndexKind> {
    /// The last revision and its state.
    pub tip: Tip<K>,
    /// Every revision, oldest first.
    pub revisions: Vec<VerifiedRevision>,
}

/// Verifies `envelopes` (oldest first) of `index` on top of `base` (the seq, payload CID and
/// state of a verified revision, or `None` to start from the first revision): exactly what calling [`verify_revision`] on each
/// in turn gives, error order included. A failure names the seq of the revision it refused
/// (the position after `base` when the envelope does not decode). With `collect_all`, every
/// revision carries the state blocks it encoded first (what a store writes to keep every
/// revision's state); otherwise only the last does.
pub fn verify_chain_from<K: IndexKind>(
    base: Option<(u64, Cid, K::State)>,
    index: &IndexName,
    envelopes: &[Vec<u8>],
    keys: &(impl KeyStates + ?Sized),
    collect_all: bool,
) -> Result<VerifiedChain<K>, (u64, ChainError)> {
    let first_seq = base.as_ref().map_or(1, |b| b.0 + 1);
    // The previous revision's seq, payload CID and state: all the next one's rules read.
    let mut head: Option<(u64, Cid, K::State)> = base;
    let mut revisions = Vec::with_capacity(envelopes.len());
    let mut last = None;
    let mut cache = crate::sign::KeyCache::default();
    let final_index = envelopes.len().saturating_sub(1);
    for (c, chunk) in envelopes.chunks(SIGNATURE_BATCH).enumerate() {
        let mut pending = Vec::with_capacity(chunk.len());
        let mut failure = None;
        for (i, bytes) in chunk.iter().enumerate() {
            let position = c * SIGNATURE_BATCH + i;
            let collect = collect_all || position == final_index;
            let decoded = Signed::<Revision<K>, Unverified>::decode_cached(bytes, &mut cache);
            let seq = decoded
                .as_ref()
                .map_or(first_seq + position as u64, |env| env.payload().seq);
            let checked = decoded.map_err(ChainError::from).and_then(|env| {
                check_rules(head.take(), index, &env, keys, None, collect)
                    .map(|(state, fresh)| (env, state, fresh))
            });
            match checked {
                Ok((env, state, fresh)) => {
                    head = Some((env.payload().seq, env.payload_cid(), state));
                    revisions.push(VerifiedRevision {
                        seq,
                        payload_cid: env.payload_cid(),
                        signer: env.payload().signer.identity,
                        fresh_blocks: fresh,
                    });
                    pending.push(env);
                }
                Err(e) => {
                    failure = Some((seq, e));
                    break;
                }
            }
        }
        // Signatures of the revisions whose rules passed, in order: an earlier bad signature
        // is reported before a later rule failure, as one-by-one verification would.
        for env in pending {
            let seq = env.payload().seq;
            last = Some(env.verify().map_err(|e| (seq, e.into()))?);
        }
        if let Some(e) = failure {
            return Err(e);
        }
    }
    match (head, last) {
        (Some((_, payload_cid, state)), Some(last)) => {
            let fresh_blocks = revisions
                .last()
                .map(|r| r.fresh_blocks.clone())
                .unwrap_or_default();
            Ok(VerifiedChain {
                tip: Tip {
                    revision: last.into_payload(),
                    payload_cid,
                    state,
                    fresh_blocks,
                },
                revisions,
            })
        }
        _ => Err((
            first_seq.saturating_sub(1),
            ChainError::BadGenesis {
                seq: 0,
                reason: "the chain is empty",
            },
        )),
    }
}

#[cfg(test)]
mod tests;
