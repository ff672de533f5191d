//! The signed envelope: a payload record plus a set of signatures over it.
//!
//! Goals: the payload's identity (its CID) does not depend on who signed it, so one payload with
//! two different signature sets is one revision, not a fork; a `Signed<T, Verified>` can only be
//! obtained by signing or by verifying every signature strictly.
//!
//! Non-goals: deciding which keys are authorized (that needs identity key state).
//!
//! Wire form (`spec/03-signatures.md`): a record map `{payload, signatures}`, `signatures` a
//! non-empty list of `{key, sig}` maps sorted by key bytes with no key twice.

use std::marker::PhantomData;

use thiserror::Error;

use crate::cid::Cid;
use crate::codec::{self, Map, Value};
use crate::profile::{self, Fields, RecordError};
use crate::sign::{Domain, KeyCache, PublicKey, SecretKey, Signature, SignatureError};

/// The most signatures one envelope may carry.
pub const MAX_SIGNATURES: usize = 16;

/// A record type that is signed under a domain.
pub trait Payload: Sized {
    /// The signing domain of this type.
    const DOMAIN: Domain;
    /// The record value.
    fn to_value(&self) -> Value;
    /// Parses a record value (already profile-checked).
    fn from_value(value: Value) -> Result<Self, RecordError>;
}

/// Marker: signatures not yet checked.
#[derive(Debug, Clone, Copy)]
pub struct Unverified;
/// Marker: every signature verified strictly over this payload.
#[derive(Debug, Clone, Copy)]
pub struct Verified;

/// One signature in an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureEntry {
    /// The signer's key.
    pub key: PublicKey,
    /// The signature over the domain tag and payload bytes.
    pub sig: Signature,
}

/// Why an envelope was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SignedError {
    /// The envelope or payload breaks the record profile.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// No signature at all.
    #[error("envelope carries no signature")]
    NoSignatures,
    /// More than [`MAX_SIGNATURES`].
    #[error("envelope carries {0} signatures; the limit is {MAX_SIGNATURES}")]
    TooManySignatures(usize),
    /// Signatures not sorted by key, or one key twice.
    #[error("signatures must be sorted by key with no key twice")]
    SignatureOrder,
    /// A key or signature failed (`index` is its position in the list).
    #[error("signature {index} by {key}: {error}")]
    Signature {
        /// Position in the list.
        index: usize,
        /// The key text, or hex when the key itself is invalid.
        key: String,
        /// What failed.
        error: SignatureError,
    },
}

impl SignedError {
    /// The stable error code used in test vectors.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            SignedError::Record(e) => e.code(),
            SignedError::NoSignatures => "envelope-no-signatures",
            SignedError::TooManySignatures(_) => "envelope-too-many-signatures",
            SignedError::SignatureOrder => "envelope-signature-order",
            SignedError::Signature { error, .. } => error.code(),
        }
    }
}

/// A payload with its signatures. `S` is [`Unverified`] or [`Verified`].
#[derive(Debug, Clone)]
pub struct Signed<T, S = Unverified> {
    payload: T,
    /// The signing input: the domain tag, then the canonical payload bytes.
    signing_input: Vec<u8>,
    /// The length of the tag in `signing_input`.
    tag_len: usize,
    cid: Cid,
    signatures: Vec<SignatureEntry>,
    state: PhantomData<S>,
}

impl<T, S> Signed<T, S> {
    /// The payload.
    pub fn payload(&self) -> &T {
        &self.payload
    }

    /// Consumes the envelope, keeping the payload.
    pub fn into_payload(self) -> T {
        self.payload
    }

    /// The canonical payload bytes (the block that [`Signed::payload_cid`] addresses).
    pub fn payload_bytes(&self) -> &[u8] {
        &self.signing_input[self.tag_len..]
    }

    /// The payload's CID: the identity of a revision, whoever signed it.
    pub fn payload_cid(&self) -> Cid {
        self.cid
    }

    /// The signatures, sorted by key.
    pub fn signatures(&self) -> &[SignatureEntry] {
        &self.signatures
    }

    /// The keys that signed.
    pub fn signers(&self) -> impl Iterator<Item = &PublicKey> {
        self.signatures.iter().map(|s| &s.key)
    }

    /// The envelope's canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        let sigs = signatures_value(&self.signatures);
        let sig_bytes = codec::encode(&sigs);
        let payload = self.payload_bytes();
        let mut out = Vec::with_capacity(payload.len() + sig_bytes.len() + 20);
        out.extend_from_slice(ENVELOPE_PREFIX);
        out.extend_from_slice(payload);
        out.extend_from_slice(SIGNATURES_KEY);
        out.extend_from_slice(&sig_bytes);
        out
    }
}

/// `a2` (map of 2) then the text `payload`: the fixed first bytes of every envelope.
const ENVELOPE_PREFIX: &[u8] = b"\xa2\x67payload";
/// The encoded length of one signature entry: `a2 63 "key" 58 20 <32> 63 "sig" 58 40 <64>`.
const SIGNATURE_ENTRY_LEN: usize = 1 + 4 + 2 + 32 + 4 + 2 + 64;
/// The text `signatures`, the key after the payload.
const SIGNATURES_KEY: &[u8] = b"\x6asignatures";

fn signatures_value(signatures: &[SignatureEntry]) -> Value {
    Value::List(
        signatures
            .iter()
            .map(|s| {
                let mut m = Map::new();
                m.insert("key", Value::Bytes(s.key.as_bytes().to_vec()));
                m.insert("sig", Value::Bytes(s.sig.0.to_vec()));
                Value::Map(m)
            })
            .collect(),
    )
}

/// How many signer keys [`Signed::decode`] keeps parsed per thread.
const DECODE_KEYS: usize = 64;

impl<T: Payload> Signed<T, Unverified> {
    /// Decodes an envelope under the record profile. Nothing is verified yet.
    ///
    /// Signer keys are parsed through a small cache per thread: a node decodes the same
    /// envelope several times on its way (its links, its chain, its verification), and a log's
    /// revisions share their signers, while parsing a key costs a square root in the field.
    pub fn decode(bytes: &[u8]) -> Result<Signed<T, Unverified>, SignedError> {
        thread_local! {
            static KEYS: std::cell::RefCell<KeyCache> =
                std::cell::RefCell::new(KeyCache::bounded(DECODE_KEYS));
        }
        KEYS.with(|keys| match keys.try_borrow_mut() {
            Ok(mut cache) => Self::decode_cached(bytes, &mut cache),
            // A payload that decodes envelopes of its own: those parse their keys afresh.
            Err(_) => Self::decode_keys(bytes, &mut PublicKey::from_bytes),
        })
    }

    /// [`Signed::decode`], taking signer keys from `cache` (for bulk verification).
    pub fn decode_cached(
        bytes: &[u8],
        cache: &mut KeyCache,
    ) -> Result<Signed<T, Unverified>, SignedError> {
        Self::decode_keys(bytes, &mut |k| cache.parse(k))
    }

    fn decode_keys(
        bytes: &[u8],
        parse_key: &mut dyn FnMut(&[u8; 32]) -> Result<PublicKey, SignatureError>,
    ) -> Result<Signed<T, Unverified>, SignedError> {
        let (payload, signatures) = match decode_common(bytes, parse_key) {
            Some(common) => common?,
            None => decode_general(bytes, parse_key)?,
        };
        if signatures.windows(2).any(|w| w[0].key >= w[1].key) {
            return Err(SignedError::SignatureOrder);
        }
        // The strict decode proved `bytes` canonical and the envelope is exactly
        // `{payload, signatures}`, so the payload's canonical bytes are the span between the
        // fixed prefix and the signatures entry; no re-encoding needed.
        // Each entry `{key: bytes(32), sig: bytes(64)}` encodes to exactly 109 bytes, and the
        // list head is one byte for up to 23 entries (at most 16 are allowed).
        let tail = SIGNATURES_KEY.len() + 1 + SIGNATURE_ENTRY_LEN * signatures.len();
        debug_assert_eq!(
            tail,
            SIGNATURES_KEY.len() + codec::encode(&signatures_value(&signatures)).len()
        );
        let payload_bytes = &bytes[ENVELOPE_PREFIX.len()..bytes.len() - tail];
        let cid = Cid::of_record(payload_bytes);
        let payload = T::from_value(payload)?;
        Ok(Signed {
            payload,
            signing_input: T::DOMAIN.signing_input(payload_bytes),
            tag_len: T::DOMAIN.tag().len(),
            cid,
            signatures,
            state: PhantomData,
        })
    }

    /// Verifies every signature strictly under `T`'s domain.
    pub fn verify(self) -> Result<Signed<T, Verified>, SignedError> {
        for (index, s) in self.signatures.iter().enumerate() {
            s.key
                .verify_input(T::DOMAIN, &self.signing_input, &s.sig)
                .map_err(|error| SignedError::Signature {
                    index,
                    key: s.key.to_string(),
                    error,
                })?;
        }
        Ok(Signed {
            payload: self.payload,
            signing_input: self.signing_input,
            tag_len: self.tag_len,
            cid: self.cid,
            signatures: self.signatures,
            state: PhantomData,
        })
    }
}

impl<T: Payload> Signed<T, Verified> {
    /// Signs a payload with one or more keys.
    pub fn sign(payload: T, keys: &[&SecretKey]) -> Result<Signed<T, Verified>, SignedError> {
        let payload_bytes = profile::encode_record(&payload.to_value())?;
        let cid = Cid::of_record(&payload_bytes);
        let mut signed = Signed {
            payload,
            signing_input: T::DOMAIN.signing_input(&payload_bytes),
            tag_len: T::DOMAIN.tag().len(),
            cid,
            signatures: Vec::new(),
            state: PhantomData,
        };
        for key in keys {
            signed.add_signature(key)?;
        }
        if signed.signatures.is_empty() {
            return Err(SignedError::NoSignatures);
        }
        Ok(signed)
    }

    /// Adds (or replaces) `key`'s signature. The payload and its CID do not change.
    pub fn add_signature(&mut self, key: &SecretKey) -> Result<(), SignedError> {
        let entry = SignatureEntry {
            key: key.public(),
            sig: key.sign(T::DOMAIN, self.payload_bytes()),
        };
        match self.signatures.binary_search_by(|s| s.key.cmp(&entry.key)) {
            Ok(i) => self.signatures[i] = entry,
            Err(i) => {
                if self.signatures.len() == MAX_SIGNATURES {
                    return Err(SignedError::TooManySignatures(MAX_SIGNATURES + 1));
                }
                self.signatures.insert(i, entry);
            }
        }
        Ok(())
    }
}

/// One signature entry, its key parsed (errors name the entry's position).
fn signature_entry(
    index: usize,
    key: &[u8; 32],
    sig: [u8; 64],
    parse_key: &mut dyn FnMut(&[u8; 32]) -> Result<PublicKey, SignatureError>,
) -> Result<SignatureEntry, SignedError> {
    let key = parse_key(key).map_err(|error| SignedError::Signature {
        index,
        key: hex_string(key),
        error,
    })?;
    Ok(SignatureEntry {
        key,
        sig: Signature(sig),
    })
}

type Parts = (Value, Vec<SignatureEntry>);

/// The fast path against the general one on any bytes: whatever [`decode_common`] decides, the
/// general reader decides the same (the fuzz target `envelope` and its corpus check this).
pub(crate) fn fast_path_agrees(bytes: &[u8]) {
    let mut parse = PublicKey::from_bytes;
    if let Some(common) = decode_common(bytes, &mut parse) {
        assert_eq!(
            common,
            decode_general(bytes, &mut parse),
            "the fast path and the general reader disagree"
        );
    }
}

/// Reads an envelope in the one layout every valid envelope has (the fixed prefix, a canonical
/// payload, then 1 to [`MAX_SIGNATURES`] entries of exactly [`SIGNATURE_ENTRY_LEN`] bytes)
/// without building values for the envelope and its signatures. `None` for anything else: then
/// [`decode_general`] decides, with its error. Whatever this accepts, `decode_general` accepts
/// with the same result (tested).
fn decode_common(
    bytes: &[u8],
    parse_key: &mut dyn FnMut(&[u8; 32]) -> Result<PublicKey, SignatureError>,
) -> Option<Result<Parts, SignedError>> {
    if bytes.len() > profile::MAX_BLOCK_SIZE {
        return None;
    }
    let rest = bytes.strip_prefix(ENVELOPE_PREFIX)?;
    // The envelope map is one level, so the payload has one level fewer to nest in.
    let mut decoder = codec::Decoder::new(rest, profile::MAX_DEPTH - 1);
    let payload = decoder.value().ok()?;
    let list = rest
        .get(decoder.position()..)?
        .strip_prefix(SIGNATURES_KEY)?;
    let (&head, entries) = list.split_first()?;
    let n = usize::from(head.checked_sub(0x80)?);
    if n == 0 || n > MAX_SIGNATURES || entries.len() != n * SIGNATURE_ENTRY_LEN {
        return None;
    }
    let mut raw = Vec::with_capacity(n);
    for entry in entries.chunks_exact(SIGNATURE_ENTRY_LEN) {
        let (key, sig) = entry
            .strip_prefix(b"\xa2\x63key\x58\x20")?
            .split_at_checked(32)?;
        let sig = sig.strip_prefix(b"\x63sig\x58\x40")?;
        raw.push((
            <[u8; 32]>::try_from(key).ok()?,
            <[u8; 64]>::try_from(sig).ok()?,
        ));
    }
    profile::check_value(&payload).ok()?;
    let signatures: Result<Vec<SignatureEntry>, SignedError> = raw
        .iter()
        .enumerate()
        .map(|(index, (key, sig))| signature_entry(index, key, *sig, parse_key))
        .collect();
    Some(signatures.map(|signatures| (payload, signatures)))
}

/// Reads any envelope through the record profile, refusing it with the first rule it breaks.
fn decode_general(
    bytes: &[u8],
    parse_key: &mut dyn FnMut(&[u8; 32]) -> Result<PublicKey, SignatureError>,
) -> Result<Parts, SignedError> {
    let value = profile::decode_record(bytes)?;
    let mut fields = Fields::new("envelope", value)?;
    let payload = fields.required("payload")?;
    let sig_values = fields.list("signatures")?;
    fields.finish()?;
    if sig_values.is_empty() {
        return Err(SignedError::NoSignatures);
    }
    if sig_values.len() > MAX_SIGNATURES {
        return Err(SignedError::TooManySignatures(sig_values.len()));
    }
    let mut signatures = Vec::with_capacity(sig_values.len());
    for (index, v) in sig_values.into_iter().enumerate() {
        let mut f = Fields::new("signature", v)?;
        let key = f.bytes_exact::<32>("key")?;
        let sig = f.bytes_exact::<64>("sig")?;
        f.finish()?;
        signatures.push(signature_entry(index, &key, sig, parse_key)?);
    }
    Ok((payload, signatures))
}

fn hex_string(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A payload whose record type is not modelled here: any profile-valid map, signed under the
/// domain `D`. Conformance vectors and tools use it; typed records implement [`Payload`] directly.
#[derive(Debug, Clone, PartialEq)]
pub struct Opaque<D> {
    /// The payload value.
    pub value: Value,
    domain: PhantomData<D>,
}

impl<D> Opaque<D> {
    /// Wraps a value.
    #[must_use]
    pub fn new(value: Value) -> Opaque<D> {
        Opaque {
            value,
            domain: PhantomData,
        }
    }
}

/// Type-level signing domains for [`Opaque`].
pub mod domains {
    use crate::sign::Domain;

    /// A type that names one signing domain.
    pub trait DomainMarker {
        /// The domain.
        const DOMAIN: Domain;
    }

    macro_rules! marker {
        ($name:ident, $domain:ident) => {
            #[doc = concat!("The `", stringify!($domain), "` domain.")]
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            pub struct $name;
            impl DomainMarker for $name {
                const DOMAIN: Domain = Domain::$domain;
            }
        };
    }
    marker!(Identity, Identity);
    marker!(VersionIndex, VersionIndex);
    marker!(PackageIndex, PackageIndex);
    marker!(Head, Head);
    marker!(Have, Have);
}

impl<D: domains::DomainMarker> Payload for Opaque<D> {
    const DOMAIN: Domain = D::DOMAIN;

    fn to_value(&self) -> Value {
        self.value.clone()
    }

    fn from_value(value: Value) -> Result<Self, RecordError> {
        match value {
            Value::Map(_) => Ok(Opaque::new(value)),
            other => Err(RecordError::WrongType {
                record: "payload",
                field: ".",
                expected: "map",
                found: other.kind_name(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::domains;
    use super::*;

    type HeadPayload = Opaque<domains::Head>;

    fn payload() -> HeadPayload {
        let mut m = Map::new();
        m.insert("seq", Value::Integer(1));
        m.insert("index", Value::text("x"));
        Opaque::new(Value::Map(m))
    }

    #[test]
    fn the_common_layout_reader_agrees_with_the_general_reader_on_every_mutation() {
        let keys: Vec<SecretKey> = (1..=3u8).map(|i| SecretKey::from_seed(&[i; 32])).collect();
        let mut nested = Value::Integer(0);
        for _ in 0..(crate::profile::MAX_DEPTH - 2) {
            nested = Value::List(vec![nested]);
        }
        let mut deep = Map::new();
        deep.insert("deep", nested);
        let mut inputs = Vec::new();
        for signers in 1..=keys.len() {
            let refs: Vec<&SecretKey> = keys[..signers].iter().collect();
            inputs.push(Signed::sign(payload(), &refs).expect("sign").encode());
        }
        // A payload at the nesting limit, and one level past it.
        let at_limit = Signed::sign(Opaque::<domains::Head>::new(Value::Map(deep)), &[&keys[0]])
            .expect("sign")
            .encode();
        let past_limit = {
            let mut b = at_limit.clone();
            let at = b.len() - (SIGNATURES_KEY.len() + 1 + SIGNATURE_ENTRY_LEN) - 1;
            b.splice(at..=at, [0x81, 0x00]);
            b
        };
        let mut parse = |k: &[u8; 32]| PublicKey::from_bytes(k);
        assert!(matches!(decode_common(&at_limit, &mut parse), Some(Ok(_))));
        assert!(decode_common(&past_limit, &mut parse).is_none());
        assert_eq!(
            decode_general(&past_limit, &mut parse).map_err(|e| e.code()),
            Err("record-too-deep")
        );
        inputs.extend([at_limit, past_limit]);
        let (mut common, mut total) = (0, 0);
        for valid in &inputs {
            let mut cases = vec![valid.clone(), valid[..valid.len() - 1].to_vec()];
            for i in 0..valid.len() {
                for flip in [0x01, 0x80] {
                    let mut b = valid.clone();
                    b[i] ^= flip;
                    cases.push(b);
                }
            }
            for b in cases {
                total += 1;
                if let Some(fast) = decode_common(&b, &mut parse) {
                    common += 1;
                    assert_eq!(fast, decode_general(&b, &mut parse), "{}", hex_string(&b));
                }
            }
        }
        // Both paths were exercised: most flips land in a key, signature or payload scalar.
        assert!(common > total / 4 && common < total, "{common} of {total}");
    }

    #[test]
    fn sign_encode_decode_verify_round_trip() {
        let a = SecretKey::from_seed(&[1; 32]);
        let b = SecretKey::from_seed(&[2; 32]);
        let signed = Signed::sign(payload(), &[&a, &b]).expect("sign");
        let bytes = signed.encode();
        let back = Signed::<HeadPayload>::decode(&bytes)
            .expect("decode")
            .verify()
            .expect("verify");
        assert_eq!(back.payload(), signed.payload());
        assert_eq!(back.payload_cid(), signed.payload_cid());
        assert_eq!(back.encode(), bytes);
        assert_eq!(back.signers().count(), 2);
        // The payload bytes found by span equal a fresh encoding.
        assert_eq!(back.payload_bytes(), codec::encode(&payload().value));
    }

    #[test]
    fn signer_set_does_not_change_the_payload_cid() {
        let a = SecretKey::from_seed(&[1; 32]);
        let b = SecretKey::from_seed(&[2; 32]);
        let one = Signed::sign(payload(), &[&a]).expect("sign");
        let two = Signed::sign(payload(), &[&b, &a]).expect("sign");
        assert_eq!(one.payload_cid(), two.payload_cid());
        assert_ne!(one.encode(), two.encode());
    }

    #[test]
    fn wrong_domain_is_refused() {
        let a = SecretKey::from_seed(&[1; 32]);
        let signed = Signed::sign(payload(), &[&a]).expect("sign");
        let as_identity =
            Signed::<Opaque<domains::Identity>>::decode(&signed.encode()).expect("decode");
        let err = as_identity.verify().expect_err("other domain");
        assert_eq!(err.code(), "sig-wrong-domain");
    }

    #[test]
    fn unsorted_and_unknown_fields_are_refused() {
        let a = SecretKey::from_seed(&[1; 32]);
        let b = SecretKey::from_seed(&[2; 32]);
        let signed = Signed::sign(payload(), &[&a, &b]).expect("sign");
        let mut rev = signed.signatures().to_vec();
        rev.reverse();
        let mut m = Map::new();
        m.insert("payload", payload().value);
        m.insert("signatures", signatures_value(&rev));
        let bytes = codec::encode(&Value::Map(m.clone()));
        assert_eq!(
            Signed::<HeadPayload>::decode(&bytes).expect_err("order"),
            SignedError::SignatureOrder
        );
        m.insert("extra", Value::Null);
        let bytes = codec::encode(&Value::Map(m));
        assert_eq!(
            Signed::<HeadPayload>::decode(&bytes)
                .expect_err("unknown")
                .code(),
            "record-unknown-field"
        );
    }
}
