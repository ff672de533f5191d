//! Identities: self-certifying IDs, root and signing keys, and the identity log.
//!
//! Goals: one leaked signing key never costs the name (root keys, kept offline, are the only
//! keys that change the identity); every change is signed by a threshold of the previous root
//! keys *and* of the new ones; the key state at every identity `seq` is computable, so an index
//! revision's citation of an identity state can be checked.
//!
//! Normative text: `spec/05-identities.md`.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::chain::{ChainError, check_sequence};
use crate::cid::Cid;
use crate::codec::{Map, Value};
use crate::multiformats;
use crate::profile::{self, Fields, RecordError};
use crate::sign::{Domain, PublicKey, SecretKey};
use crate::signed::{Payload, Signed, Unverified, Verified};

/// The most root keys an identity may have.
pub const MAX_ROOT_KEYS: usize = 16;
/// The most signing keys an identity may have at once.
pub const MAX_SIGNING_KEYS: usize = 32;
/// The most revoked keys an identity records.
pub const MAX_REVOKED_KEYS: usize = 256;
/// The most operations in one identity revision.
pub const MAX_IDENTITY_OPS: usize = 64;

/// An identity: the BLAKE3 digest of its genesis revision's payload.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityId([u8; 32]);

/// Why an identity ID text was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum IdentityIdError {
    /// Not `b` + 52 lower-case base32 characters.
    #[error("`{0}` is not an identity ID (`b` followed by 52 lower-case base32 characters)")]
    Malformed(String),
}

impl IdentityIdError {
    /// The stable error code used in test vectors.
    #[must_use]
    pub fn code(&self) -> &'static str {
        "identity-id-malformed"
    }
}

impl IdentityId {
    /// The ID for a genesis digest.
    #[must_use]
    pub fn from_digest(digest: [u8; 32]) -> IdentityId {
        IdentityId(digest)
    }

    /// The ID of the identity whose genesis revision payload has this CID.
    #[must_use]
    pub fn from_genesis(payload_cid: Cid) -> IdentityId {
        IdentityId(*payload_cid.digest())
    }

    /// The digest.
    #[must_use]
    pub fn digest(&self) -> &[u8; 32] {
        &self.0
    }
}

impl FromStr for IdentityId {
    type Err = IdentityIdError;

    fn from_str(s: &str) -> Result<IdentityId, IdentityIdError> {
        let bad = || IdentityIdError::Malformed(s.to_owned());
        let body = s.strip_prefix('b').ok_or_else(bad)?;
        let bytes = multiformats::base32_decode(body).map_err(|_| bad())?;
        Ok(IdentityId(
            <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| bad())?,
        ))
    }
}

impl fmt::Display for IdentityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b{}", multiformats::base32_encode(&self.0))
    }
}

impl fmt::Debug for IdentityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityId({self})")
    }
}

serde_via_str!(IdentityId);

/// One change to an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityOp {
    /// Adds a root key.
    AddRootKey(PublicKey),
    /// Removes a root key (it may be added again later).
    RemoveRootKey(PublicKey),
    /// Sets how many root keys must sign a change.
    SetThreshold(u64),
    /// Adds a signing key.
    AddSigningKey(PublicKey),
    /// Removes a signing key (it may be added again later).
    RemoveSigningKey(PublicKey),
    /// Removes a key, whatever its role, and forbids it forever.
    RevokeKey(PublicKey),
}

impl IdentityOp {
    fn name(&self) -> &'static str {
        match self {
            IdentityOp::AddRootKey(_) => "add-root-key",
            IdentityOp::RemoveRootKey(_) => "remove-root-key",
            IdentityOp::SetThreshold(_) => "set-threshold",
            IdentityOp::AddSigningKey(_) => "add-signing-key",
            IdentityOp::RemoveSigningKey(_) => "remove-signing-key",
            IdentityOp::RevokeKey(_) => "revoke-key",
        }
    }

    fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("op", Value::text(self.name()));
        match self {
            IdentityOp::SetThreshold(n) => {
                m.insert("threshold", Value::Integer(i128::from(*n)));
            }
            IdentityOp::AddRootKey(k)
            | IdentityOp::RemoveRootKey(k)
            | IdentityOp::AddSigningKey(k)
            | IdentityOp::RemoveSigningKey(k)
            | IdentityOp::RevokeKey(k) => {
                m.insert("key", Value::Bytes(k.as_bytes().to_vec()));
            }
        }
        Value::Map(m)
    }

    fn from_value(v: Value) -> Result<IdentityOp, RecordError> {
        let mut f = Fields::new("identity op", v)?;
        let name = f.text("op")?;
        // The name is judged before its argument is read.
        if !IDENTITY_OPS.contains(&name.as_str()) {
            return Err(f.invalid("op", format!("unknown identity operation `{name}`")));
        }
        let op = if name == "set-threshold" {
            IdentityOp::SetThreshold(f.uint("threshold")?)
        } else {
            let key = read_key(&mut f, "key")?;
            match name.as_str() {
                "add-root-key" => IdentityOp::AddRootKey(key),
                "remove-root-key" => IdentityOp::RemoveRootKey(key),
                "add-signing-key" => IdentityOp::AddSigningKey(key),
                "remove-signing-key" => IdentityOp::RemoveSigningKey(key),
                _ => IdentityOp::RevokeKey(key),
            }
        };
        f.finish()?;
        Ok(op)
    }
}

/// The identity-log operations, by name.
const IDENTITY_OPS: [&str; 6] = [
    "add-root-key",
    "remove-root-key",
    "set-threshold",
    "add-signing-key",
    "remove-signing-key",
    "revoke-key",
];

/// Reads a 32-byte public key field, applying the key rules.
pub(crate) fn read_key(f: &mut Fields, field: &'static str) -> Result<PublicKey, RecordError> {
    let bytes = f.bytes_exact::<32>(field)?;
    PublicKey::from_bytes(&bytes).map_err(|e| f.invalid(field, e.to_string()))
}

/// The keys of an identity at one `seq`: its identity document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyState {
    /// Keys that sign identity changes.
    pub root_keys: BTreeSet<PublicKey>,
    /// How many root keys must sign a change.
    pub threshold: u64,
    /// Keys that sign index revisions and heads.
    pub signing_keys: BTreeSet<PublicKey>,
    /// Keys revoked forever.
    pub revoked: BTreeSet<PublicKey>,
}

fn keys_value(keys: &BTreeSet<PublicKey>) -> Value {
    Value::List(
        keys.iter()
            .map(|k| Value::Bytes(k.as_bytes().to_vec()))
            .collect(),
    )
}

fn keys_from(
    f: &mut Fields,
    field: &'static str,
    max: usize,
) -> Result<BTreeSet<PublicKey>, RecordError> {
    let items = f.list(field)?;
    if items.len() > max {
        return Err(f.invalid(field, format!("at most {max} keys")));
    }
    let mut out = BTreeSet::new();
    let mut last: Option<PublicKey> = None;
    for item in items {
        let Value::Bytes(b) = item else {
            return Err(f.invalid(field, "keys are 32-byte strings"));
        };
        let bytes = <[u8; 32]>::try_from(b.as_slice())
            .map_err(|_| f.invalid(field, "keys are 32 bytes"))?;
        let key = PublicKey::from_bytes(&bytes).map_err(|e| f.invalid(field, e.to_string()))?;
        if last.is_some_and(|l| l >= key) {
            return Err(f.invalid(field, "keys must be sorted bytewise with no key twice"));
        }
        last = Some(key);
        out.insert(key);
    }
    Ok(out)
}

fn op_error(code: &'static str, message: String) -> ChainError {
    ChainError::op(code, message)
}

impl KeyState {
    /// Whether `key` may sign index revisions and heads in this state.
    #[must_use]
    pub fn is_signing_key(&self, key: &PublicKey) -> bool {
        self.signing_keys.contains(key)
    }

    /// The state after `ops`, or the first rule an op breaks.
    pub fn apply(&self, ops: &[IdentityOp]) -> Result<KeyState, ChainError> {
        let mut s = self.clone();
        for op in ops {
            let in_use =
                |s: &KeyState, k: &PublicKey| s.root_keys.contains(k) || s.signing_keys.contains(k);
            match op {
                IdentityOp::AddRootKey(k) | IdentityOp::AddSigningKey(k) => {
                    if s.revoked.contains(k) {
                        return Err(op_error(
                            "identity-key-revoked",
                            format!("key {k} was revoked and cannot be added again"),
                        ));
                    }
                    if in_use(&s, k) {
                        return Err(op_error(
                            "identity-key-present",
                            format!("key {k} is already a root or signing key"),
                        ));
                    }
                    if matches!(op, IdentityOp::AddRootKey(_)) {
                        s.root_keys.insert(*k);
                    } else {
                        s.signing_keys.insert(*k);
                    }
                }
                IdentityOp::RemoveRootKey(k) => {
                    if !s.root_keys.remove(k) {
                        return Err(op_error(
                            "identity-key-absent",
                            format!("key {k} is not a root key"),
                        ));
                    }
                }
                IdentityOp::RemoveSigningKey(k) => {
                    if !s.signing_keys.remove(k) {
                        return Err(op_error(
                            "identity-key-absent",
                            format!("key {k} is not a signing key"),
                        ));
                    }
                }
                IdentityOp::RevokeKey(k) => {
                    if !(s.root_keys.remove(k) | s.signing_keys.remove(k)) {
                        return Err(op_error(
                            "identity-key-absent",
                            format!("key {k} is neither a root nor a signing key"),
                        ));
                    }
                    s.revoked.insert(*k);
                }
                IdentityOp::SetThreshold(n) => s.threshold = *n,
            }
        }
        if s.root_keys.is_empty() || s.root_keys.len() > MAX_ROOT_KEYS {
            return Err(op_error(
                "identity-too-many-keys",
                format!(
                    "an identity has 1 to {MAX_ROOT_KEYS} root keys, not {}",
                    s.root_keys.len()
                ),
            ));
        }
        if s.signing_keys.len() > MAX_SIGNING_KEYS || s.revoked.len() > MAX_REVOKED_KEYS {
            return Err(op_error(
                "identity-too-many-keys",
                format!(
                    "at most {MAX_SIGNING_KEYS} signing keys and {MAX_REVOKED_KEYS} revoked keys"
                ),
            ));
        }
        if s.threshold == 0 || s.threshold > s.root_keys.len() as u64 {
            return Err(op_error(
                "identity-threshold",
                format!(
                    "threshold {} is outside 1..={} (the number of root keys)",
                    s.threshold,
                    s.root_keys.len()
                ),
            ));
        }
        Ok(s)
    }

    /// The identity document record.
    #[must_use]
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("root_keys", keys_value(&self.root_keys));
        m.insert("threshold", Value::Integer(i128::from(self.threshold)));
        m.insert("signing_keys", keys_value(&self.signing_keys));
        m.insert("revoked", keys_value(&self.revoked));
        Value::Map(m)
    }

    /// Parses an identity document record.
    pub fn from_value(v: Value) -> Result<KeyState, RecordError> {
        let mut f = Fields::new("identity document", v)?;
        let s = KeyState {
            root_keys: keys_from(&mut f, "root_keys", MAX_ROOT_KEYS)?,
            threshold: f.uint("threshold")?,
            signing_keys: keys_from(&mut f, "signing_keys", MAX_SIGNING_KEYS)?,
            revoked: keys_from(&mut f, "revoked", MAX_REVOKED_KEYS)?,
        };
        f.finish()?;
        Ok(s)
    }

    /// The identity document block and its CID.
    #[must_use]
    pub fn block(&self) -> (Cid, Vec<u8>) {
        // A key state within its limits always encodes within the record profile.
        let bytes = crate::codec::encode(&self.to_value());
        (Cid::of_record(&bytes), bytes)
    }
}

/// The payload of an identity log revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRevision {
    /// 1 for the genesis revision, then +1.
    pub seq: u64,
    /// The previous revision's payload CID (absent only at genesis).
    pub prev: Option<Cid>,
    /// Seconds since the Unix epoch, as claimed by the signers.
    pub time: u64,
    /// The changes.
    pub ops: Vec<IdentityOp>,
    /// The CID of the resulting identity document.
    pub state: Cid,
}

impl Payload for IdentityRevision {
    const DOMAIN: Domain = Domain::Identity;

    fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("seq", Value::Integer(i128::from(self.seq)));
        if let Some(p) = self.prev {
            m.insert("prev", Value::Link(p.into()));
        }
        m.insert("time", Value::Integer(i128::from(self.time)));
        m.insert(
            "ops",
            Value::List(self.ops.iter().map(IdentityOp::to_value).collect()),
        );
        m.insert("state", Value::Link(self.state.into()));
        Value::Map(m)
    }

    fn from_value(v: Value) -> Result<IdentityRevision, RecordError> {
        let mut f = Fields::new("identity revision", v)?;
        let seq = f.uint("seq")?;
        let prev = f.optional_link("prev")?;
        let time = f.uint("time")?;
        let ops = f.list_of("ops", MAX_IDENTITY_OPS, "operations")?;
        let ops = ops
            .into_iter()
            .map(IdentityOp::from_value)
            .collect::<Result<_, _>>()?;
        let state = f.link("state")?;
        f.finish()?;
        Ok(IdentityRevision {
            seq,
            prev,
            time,
            ops,
            state,
        })
    }
}

/// A verified identity log: the key state at every `seq`.
#[derive(Debug, Clone)]
pub struct IdentityLog {
    id: IdentityId,
    /// How many revisions before `states[0]` are verified but not held here (0 for a log
    /// verified from genesis; see [`IdentityLog::resume`]).
    base: u64,
    /// Entry i holds the payload CID and key state at seq base + i + 1.
    states: Vec<(Cid, KeyState)>,
}

/// Counts the distinct keys of `keys` that signed.
fn signed_by(signers: &[PublicKey], keys: &BTreeSet<PublicKey>) -> usize {
    signers.iter().filter(|k| keys.contains(k)).count()
}

impl IdentityLog {
    /// Verifies a genesis revision and starts the log.
    pub fn genesis(
        envelope: Signed<IdentityRevision, Unverified>,
    ) -> Result<IdentityLog, ChainError> {
        let mut log = IdentityLog {
            id: IdentityId::from_genesis(envelope.payload_cid()),
            base: 0,
            states: Vec::new(),
        };
        log.append(envelope)?;
        Ok(log)
    }

    /// Verifies the next revision and appends it.
    pub fn append(
        &mut self,
        envelope: Signed<IdentityRevision, Unverified>,
    ) -> Result<(), ChainError> {
        let next = self.verify_next(envelope)?;
        self.states.push(next);
        Ok(())
    }

    /// Verifies the next revision without appending it.
    pub fn verify_next(
        &self,
        envelope: Signed<IdentityRevision, Unverified>,
    ) -> Result<(Cid, KeyState), ChainError> {
        let rev = envelope.payload().clone();
        let previous = self.states.last().map(|(cid, _)| (self.seq(), *cid));
        check_sequence(previous, rev.seq, rev.prev)?;
        let empty = KeyState::default();
        let before = self.states.last().map_or(&empty, |(_, s)| s);
        let after = before.apply(&rev.ops)?;
        let (state_cid, _) = after.block();
        if state_cid != rev.state {
            return Err(ChainError::StateMismatch {
                seq: rev.seq,
                expected: state_cid,
                found: rev.state,
            });
        }
        let verified: Signed<IdentityRevision, Verified> = envelope.verify()?;
        let signers: Vec<PublicKey> = verified.signers().copied().collect();
        if let Some(k) = signers
            .iter()
            .find(|k| !before.root_keys.contains(k) && !after.root_keys.contains(k))
        {
            return Err(ChainError::SignerNotRoot(k.to_string()));
        }
        if !before.root_keys.is_empty() {
            let have = signed_by(&signers, &before.root_keys);
            if (have as u64) < before.threshold {
                return Err(ChainError::OldRootThreshold {
                    have,
                    need: before.threshold,
                });
            }
        }
        let have = signed_by(&signers, &after.root_keys);
        if (have as u64) < after.threshold {
            return Err(ChainError::NewRootThreshold {
                have,
                need: after.threshold,
            });
        }
        Ok((verified.payload_cid(), after))
    }

    /// The identity.
    #[must_use]
    pub fn id(&self) -> IdentityId {
        self.id
    }

    /// The latest seq.
    #[must_use]
    pub fn seq(&self) -> u64 {
        self.base + self.states.len() as u64
    }

    /// Continues a log that was verified up to `seq` (with payload CID `head` and key state
    /// `state`) and stored: the log knows that state only, and verifies and signs revisions
    /// after it. For stores that keep what they verified instead of verifying it again.
    #[must_use]
    pub fn resume(id: IdentityId, seq: u64, head: Cid, state: KeyState) -> IdentityLog {
        IdentityLog {
            id,
            base: seq.saturating_sub(1),
            states: vec![(head, state)],
        }
    }

    /// The latest revision's payload CID.
    #[must_use]
    pub fn head(&self) -> Cid {
        // A log always holds its genesis revision.
        self.states
            .last()
            .map_or(Cid::of_record(&[]), |(cid, _)| *cid)
    }

    /// The key state at `seq`.
    #[must_use]
    pub fn key_state(&self, seq: u64) -> Option<&KeyState> {
        let i = usize::try_from(seq.checked_sub(1)?.checked_sub(self.base)?).ok()?;
        self.states.get(i).map(|(_, s)| s)
    }
}

/// Where verifiers find the key state an index revision cites.
pub trait KeyStates {
    /// The key state of `identity` at `seq`, if known.
    fn key_state(&self, identity: &IdentityId, seq: u64) -> Option<&KeyState>;
}

impl KeyStates for IdentityLog {
    fn key_state(&self, identity: &IdentityId, seq: u64) -> Option<&KeyState> {
        if *identity == self.id {
            IdentityLog::key_state(self, seq)
        } else {
            None
        }
    }
}

impl KeyStates for [IdentityLog] {
    fn key_state(&self, identity: &IdentityId, seq: u64) -> Option<&KeyState> {
        self.iter()
            .find(|l| l.id == *identity)
            .and_then(|l| IdentityLog::key_state(l, seq))
    }
}

impl KeyStates for std::collections::BTreeMap<IdentityId, IdentityLog> {
    fn key_state(&self, identity: &IdentityId, seq: u64) -> Option<&KeyState> {
        self.get(identity)
            .and_then(|l| IdentityLog::key_state(l, seq))
    }
}

/// Builds a signed identity revision: applies `ops` to `before` and links the resulting
/// document. Signing is the caller's (with root keys).
pub fn next_revision(
    before: Option<&IdentityLog>,
    time: u64,
    ops: Vec<IdentityOp>,
) -> Result<IdentityRevision, ChainError> {
    let empty = KeyState::default();
    let (prev_state, seq, prev) = match before {
        None => (&empty, 1, None),
        Some(log) => (
            log.states.last().map_or(&empty, |(_, s)| s),
            log.seq() + 1,
            Some(log.head()),
        ),
    };
    let state = prev_state.apply(&ops)?.block().0;
    let rev = IdentityRevision {
        seq,
        prev,
        time,
        ops,
        state,
    };
    profile::encode_record(&rev.to_value())?;
    Ok(rev)
}

/// Creates a new identity: signs a genesis revision with `root_keys` (all of them sign, so any
/// threshold up to their number is met) and returns the envelope and the started log.
pub fn create(
    root_keys: &[&SecretKey],
    threshold: u64,
    signing_keys: &[PublicKey],
    time: u64,
) -> Result<(Signed<IdentityRevision, Verified>, IdentityLog), ChainError> {
    let mut ops: Vec<IdentityOp> = root_keys
        .iter()
        .map(|k| IdentityOp::AddRootKey(k.public()))
        .collect();
    ops.push(IdentityOp::SetThreshold(threshold));
    ops.extend(signing_keys.iter().copied().map(IdentityOp::AddSigningKey));
    let rev = next_revision(None, time, ops)?;
    let signed = Signed::sign(rev, root_keys)?;
    let log = IdentityLog::genesis(Signed::decode(&signed.encode())?)?;
    Ok((signed, log))
}

impl IdentityLog {
    /// Signs and appends a change made of `ops`, signed by `root_keys` (which must meet the
    /// previous and the new threshold). Returns the envelope to publish.
    pub fn change(
        &mut self,
        ops: Vec<IdentityOp>,
        time: u64,
        root_keys: &[&SecretKey],
    ) -> Result<Signed<IdentityRevision, Verified>, ChainError> {
        let rev = next_revision(Some(self), time, ops)?;
        let signed = Signed::sign(rev, root_keys)?;
        self.append(Signed::decode(&signed.encode())?)?;
        Ok(signed)
    }
}

#[cfg(test)]
mod tests;
