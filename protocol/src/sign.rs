//! Ed25519 keys, domain-separated signing input, and strict verification.
//!
//! Goals: a signature made for one record type can never verify as another (domain tags), and
//! exactly one verdict exists for every (key, message, signature): non-canonical `S`, small-order
//! keys and non-canonical `R` are refused (`verify_strict` plus a weak-key check), so every
//! implementation that follows `spec/03-signatures.md` agrees with this one.
//!
//! Non-goals: which keys may sign what (identity key state, Foundation II).

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use thiserror::Error;

use crate::multiformats;

/// The protocol version carried in every domain tag.
pub const PROTOCOL_VERSION: u32 = 1;

/// The record types that are signed. Each has its own domain tag, so a signature over one type's
/// payload never verifies as another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Domain {
    /// A revision of an identity log.
    Identity,
    /// A revision of a version index.
    VersionIndex,
    /// A revision of a package index.
    PackageIndex,
    /// An announcement head.
    Head,
    /// A node's list of artifacts it holds, signed with its node key.
    Have,
}

impl Domain {
    /// Every domain, in spec order.
    pub const ALL: [Domain; 5] = [
        Domain::Identity,
        Domain::VersionIndex,
        Domain::PackageIndex,
        Domain::Head,
        Domain::Have,
    ];

    /// The domain's name inside its tag.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Domain::Identity => "identity",
            Domain::VersionIndex => "version-index",
            Domain::PackageIndex => "package-index",
            Domain::Head => "head",
            Domain::Have => "have",
        }
    }

    /// The exact tag bytes: ASCII `cairn/1/<name>` followed by one 0x00 byte.
    #[must_use]
    pub fn tag(self) -> &'static [u8] {
        match self {
            Domain::Identity => b"cairn/1/identity\0",
            Domain::VersionIndex => b"cairn/1/version-index\0",
            Domain::PackageIndex => b"cairn/1/package-index\0",
            Domain::Head => b"cairn/1/head\0",
            Domain::Have => b"cairn/1/have\0",
        }
    }

    /// Builds the signing input: the tag, then the canonical payload bytes.
    #[must_use]
    pub fn signing_input(self, payload: &[u8]) -> Vec<u8> {
        let tag = self.tag();
        let mut input = Vec::with_capacity(tag.len() + payload.len());
        input.extend_from_slice(tag);
        input.extend_from_slice(payload);
        input
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Domain {
    type Err = SignatureError;

    fn from_str(s: &str) -> Result<Domain, SignatureError> {
        Domain::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| SignatureError::UnknownDomain(s.to_owned()))
    }
}

/// Why a key or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// 32 bytes that are not the canonical encoding of a point on the curve.
    #[error("public key is not the canonical encoding of an Ed25519 point")]
    InvalidKey,
    /// A small-order key, for which forgeries exist.
    #[error("public key has small order and is refused")]
    WeakKey,
    /// The signature does not verify under strict rules.
    #[error("signature does not verify")]
    BadSignature,
    /// The scalar `S` is not below the group order (a malleated signature such as `S + L`).
    #[error("signature scalar S is not canonical (S must be below the group order)")]
    NonCanonicalS,
    /// The signature verifies, but under another record type's domain tag.
    #[error("signature was made for `{found}` records, not `{expected}` records")]
    WrongDomain {
        /// The domain being verified.
        expected: Domain,
        /// The domain the signature was made under.
        found: Domain,
    },
    /// A key's text form is malformed.
    #[error("malformed public key text: {0}")]
    KeyText(&'static str),
    /// A domain name that is not defined.
    #[error("unknown signing domain `{0}`")]
    UnknownDomain(String),
}

impl SignatureError {
    /// The stable error code used in test vectors.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::InvalidKey => "sig-invalid-key",
            SignatureError::WeakKey => "sig-weak-key",
            SignatureError::BadSignature => "sig-bad-signature",
            SignatureError::NonCanonicalS => "sig-non-canonical-s",
            SignatureError::WrongDomain { .. } => "sig-wrong-domain",
            SignatureError::KeyText(_) => "sig-key-text",
            SignatureError::UnknownDomain(_) => "sig-unknown-domain",
        }
    }
}

/// An Ed25519 public key that is the canonical encoding of a curve point not of small order.
/// The point is decoded once, when the key is built.
#[derive(Clone, Copy)]
pub struct PublicKey {
    bytes: [u8; 32],
    key: VerifyingKey,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &PublicKey) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for PublicKey {}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &PublicKey) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PublicKey {
    /// Bytewise order of the 32 key bytes (the envelope's signature order).
    fn cmp(&self, other: &PublicKey) -> std::cmp::Ordering {
        self.bytes.cmp(&other.bytes)
    }
}

/// Multicodec `ed25519-pub` (0xed) as a varint, prefixed to keys in their text form.
const ED25519_PUB_PREFIX: [u8; 2] = [0xed, 0x01];

/// The field prime p = 2²⁵⁵ − 19, little-endian.
const FIELD_PRIME: [u8; 32] = [
    0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
];

/// Whether the y-coordinate in an encoded point (the low 255 bits) is below p.
fn y_is_canonical(bytes: &[u8; 32]) -> bool {
    let mut y = *bytes;
    y[31] &= 0x7f;
    y.iter().rev().cmp(FIELD_PRIME.iter().rev()) == std::cmp::Ordering::Less
}

/// Whether `bytes` encodes x = 0 with the sign bit set (y = 1 or y = p − 1).
fn is_negative_zero(bytes: &[u8; 32]) -> bool {
    if bytes[31] & 0x80 == 0 {
        return false;
    }
    let mut y = *bytes;
    y[31] &= 0x7f;
    let mut one = [0u8; 32];
    one[0] = 1;
    let mut p_minus_one = FIELD_PRIME;
    p_minus_one[0] -= 1;
    y == one || y == p_minus_one
}

impl PublicKey {
    /// Parses and checks a key: it must be the canonical encoding of a curve point and must not
    /// have small order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, SignatureError> {
        // Canonical means y < p and, when x = 0, a clear sign bit. The only points with x = 0
        // are y = 1 and y = p − 1, so "negative zero" is those two with the sign bit set.
        if !y_is_canonical(bytes) || is_negative_zero(bytes) {
            return Err(SignatureError::InvalidKey);
        }
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| SignatureError::InvalidKey)?;
        if key.is_weak() {
            return Err(SignatureError::WeakKey);
        }
        Ok(PublicKey { bytes: *bytes, key })
    }

    /// The 32 key bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Strictly verifies `sig` over `domain`'s tag followed by `payload`. When it fails, the
    /// other domains are tried so that the error can say the signature belongs to another
    /// record type.
    pub fn verify(
        &self,
        domain: Domain,
        payload: &[u8],
        sig: &Signature,
    ) -> Result<(), SignatureError> {
        self.verify_input(domain, &domain.signing_input(payload), sig)
    }

    /// [`PublicKey::verify`] over a signing input already assembled (`domain`'s tag, then the
    /// payload), sparing the copy.
    pub fn verify_input(
        &self,
        domain: Domain,
        input: &[u8],
        sig: &Signature,
    ) -> Result<(), SignatureError> {
        match self.verify_raw(input, sig) {
            Err(SignatureError::BadSignature) => {
                // Tried under the other domains, to name the record type it was signed for.
                let Some(payload) = input.strip_prefix(domain.tag()) else {
                    return Err(SignatureError::BadSignature);
                };
                let found = Domain::ALL.into_iter().find(|&other| {
                    other != domain && self.verify_raw(&other.signing_input(payload), sig).is_ok()
                });
                Err(found.map_or(SignatureError::BadSignature, |found| {
                    SignatureError::WrongDomain {
                        expected: domain,
                        found,
                    }
                }))
            }
            other => other,
        }
    }

    /// Strictly verifies `sig` over exactly `message` (no domain tag: for conformance tests).
    pub fn verify_raw(&self, message: &[u8], sig: &Signature) -> Result<(), SignatureError> {
        if !sig.has_canonical_s() {
            return Err(SignatureError::NonCanonicalS);
        }
        let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
        self.key
            .verify_strict(message, &sig)
            .map_err(|_| SignatureError::BadSignature)
    }
}

impl fmt::Display for PublicKey {
    /// Multibase base32 lower of the multicodec-prefixed key: `b` + base32(0xed 0x01 ‖ key).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = ED25519_PUB_PREFIX.to_vec();
        bytes.extend_from_slice(&self.bytes);
        write!(f, "b{}", multiformats::base32_encode(&bytes))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = SignatureError;

    fn from_str(s: &str) -> Result<PublicKey, SignatureError> {
        let body = s
            .strip_prefix('b')
            .ok_or(SignatureError::KeyText("must start with `b`"))?;
        let bytes = multiformats::base32_decode(body).map_err(SignatureError::KeyText)?;
        let key = bytes
            .strip_prefix(&ED25519_PUB_PREFIX)
            .ok_or(SignatureError::KeyText(
                "missing the ed25519-pub multicodec prefix",
            ))?;
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| SignatureError::KeyText("key is not 32 bytes"))?;
        PublicKey::from_bytes(&key)
    }
}

/// Parsed public keys by their bytes, so that bulk verification (a chain, an indexer's crawl)
/// decompresses each signer's key once. Bounded: it empties itself when full, so hostile input
/// cannot grow it without limit.
#[derive(Debug)]
pub struct KeyCache {
    keys: std::collections::HashMap<[u8; 32], Result<PublicKey, SignatureError>>,
    capacity: usize,
}

impl Default for KeyCache {
    fn default() -> KeyCache {
        KeyCache::bounded(KeyCache::CAPACITY)
    }
}

impl KeyCache {
    /// The most keys held at once by default.
    pub const CAPACITY: usize = 4096;

    /// A cache that holds at most `capacity` keys.
    #[must_use]
    pub fn bounded(capacity: usize) -> KeyCache {
        KeyCache {
            keys: std::collections::HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// [`PublicKey::from_bytes`], remembered.
    pub fn parse(&mut self, bytes: &[u8; 32]) -> Result<PublicKey, SignatureError> {
        if let Some(known) = self.keys.get(bytes) {
            return known.clone();
        }
        if self.keys.len() >= self.capacity {
            self.keys.clear();
        }
        let parsed = PublicKey::from_bytes(bytes);
        self.keys.insert(*bytes, parsed.clone());
        parsed
    }
}

/// A 64-byte Ed25519 signature (R ‖ S). Any 64 bytes parse; validity is decided by verifying.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

/// The order of the Ed25519 group, little-endian.
const GROUP_ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

impl Signature {
    /// Whether the scalar `S` (the last 32 bytes, little-endian) is below the group order.
    #[must_use]
    pub fn has_canonical_s(&self) -> bool {
        // Compare as little-endian integers: from the most significant byte down.
        self.0[32..].iter().rev().cmp(GROUP_ORDER.iter().rev()) == std::cmp::Ordering::Less
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// An Ed25519 signing key. Never printed: `Debug` shows only the public key.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// The key for a 32-byte seed (RFC 8032 secret key).
    #[must_use]
    pub fn from_seed(seed: &[u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(seed))
    }

    /// The seed, for encrypted storage only.
    #[must_use]
    pub fn to_seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public key.
    #[must_use]
    pub fn public(&self) -> PublicKey {
        // A key derived from a seed is canonical and never of small order (the scalar is
        // clamped to a multiple of the cofactor times a unit of the prime-order subgroup).
        let key = self.0.verifying_key();
        PublicKey {
            bytes: key.to_bytes(),
            key,
        }
    }

    /// Signs `domain`'s tag followed by `payload`.
    #[must_use]
    pub fn sign(&self, domain: Domain, payload: &[u8]) -> Signature {
        Signature(self.0.sign(&domain.signing_input(payload)).to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public: {})", self.public())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_cache_answers_as_parsing_does_and_never_holds_more_than_its_bound() {
        let mut cache = KeyCache::bounded(2);
        let keys: Vec<[u8; 32]> = (1..=5u8)
            .map(|i| *SecretKey::from_seed(&[i; 32]).public().as_bytes())
            .collect();
        // A small-order point: refused, and the refusal is remembered as it is.
        let mut weak = [0u8; 32];
        weak[0] = 1;
        for bytes in keys.iter().chain([&weak]).chain(keys.iter()) {
            assert_eq!(cache.parse(bytes), PublicKey::from_bytes(bytes));
            assert!(cache.keys.len() <= 2, "{}", cache.keys.len());
        }
        assert!(cache.parse(&weak).is_err());
    }

    #[test]
    fn domains_separate_signatures() {
        let sk = SecretKey::from_seed(&[7; 32]);
        let pk = sk.public();
        let sig = sk.sign(Domain::VersionIndex, b"payload");
        assert_eq!(pk.verify(Domain::VersionIndex, b"payload", &sig), Ok(()));
        for other in [Domain::Identity, Domain::PackageIndex, Domain::Head] {
            assert_eq!(
                pk.verify(other, b"payload", &sig),
                Err(SignatureError::WrongDomain {
                    expected: other,
                    found: Domain::VersionIndex
                })
            );
        }
        assert_eq!(
            pk.verify(Domain::VersionIndex, b"payloaD", &sig),
            Err(SignatureError::BadSignature)
        );
    }

    #[test]
    fn tags_are_distinct_and_prefix_free() {
        for a in Domain::ALL {
            assert_eq!(
                a.tag(),
                format!("cairn/{PROTOCOL_VERSION}/{}\0", a.name()).as_bytes()
            );
            assert_eq!(a.name().parse::<Domain>(), Ok(a));
            for b in Domain::ALL {
                if a != b {
                    assert!(!a.tag().starts_with(b.tag()));
                }
            }
        }
    }

    #[test]
    fn small_order_key_and_malleated_s_are_refused() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            PublicKey::from_bytes(&identity),
            Err(SignatureError::WeakKey)
        );
        let sk = SecretKey::from_seed(&[1; 32]);
        let mut sig = sk.sign(Domain::Head, b"m");
        // S + L, where L is the group order: the same point, a non-canonical scalar.
        let l = GROUP_ORDER;
        let mut carry = 0u16;
        for (s_byte, l_byte) in sig.0[32..].iter_mut().zip(l) {
            let sum = u16::from(*s_byte) + u16::from(l_byte) + carry;
            *s_byte = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(
            sk.public().verify(Domain::Head, b"m", &sig),
            Err(SignatureError::NonCanonicalS)
        );
        // Cross-check: dalek's own strict verification refuses it too.
        let vk = VerifyingKey::from_bytes(sk.public().as_bytes()).expect("key");
        let dalek_sig = ed25519_dalek::Signature::from_bytes(&sig.0);
        assert!(
            vk.verify_strict(&Domain::Head.signing_input(b"m"), &dalek_sig)
                .is_err()
        );
    }

    #[test]
    fn non_canonical_key_encodings_are_refused() {
        // y = p + 1 encodes the same point as y = 1 (the identity) but is not canonical; the
        // sign bit set on x = 0 ("negative zero") is likewise non-canonical.
        let mut y_over_p = [0xffu8; 32];
        y_over_p[0] = 0xee;
        y_over_p[31] = 0x7f;
        assert_eq!(
            PublicKey::from_bytes(&y_over_p),
            Err(SignatureError::InvalidKey)
        );
        let mut neg_zero = [0u8; 32];
        neg_zero[0] = 1;
        neg_zero[31] = 0x80;
        assert_eq!(
            PublicKey::from_bytes(&neg_zero),
            Err(SignatureError::InvalidKey)
        );
    }

    #[test]
    fn key_text_round_trips() {
        let pk = SecretKey::from_seed(&[3; 32]).public();
        let text = pk.to_string();
        assert!(text.starts_with("b5ua"), "{text}");
        assert_eq!(text.len(), 56);
        assert_eq!(text.parse::<PublicKey>(), Ok(pk));
        assert!(format!("{:?}", SecretKey::from_seed(&[3; 32])).contains(&text));
    }
}
