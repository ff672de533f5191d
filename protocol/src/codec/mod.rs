//! Strict DAG-CBOR, exactly as IPLD defines it.
//!
//! Goals: decode only the one canonical encoding of each data-model value, refuse every other
//! encoding with a typed error naming the rule and the byte offset, and encode values to exactly
//! those canonical bytes. Hostile input never panics, never recurses without bound and never
//! allocates more than a constant factor of its own size.
//!
//! Non-goals: Cairn's stricter rules (no floats, CIDv1 links only, size and depth limits for
//! records) live in [`crate::profile`]; this layer must accept every valid DAG-CBOR block,
//! including the ones Cairn itself never writes.
//!
//! Normative text: `spec/01-encoding.md`, sections "Codec layer".

mod decode;
mod encode;
mod error;

use std::cmp::Ordering;
use std::fmt;

pub use decode::{DEFAULT_MAX_DEPTH, Decoder, decode, decode_with_depth};
pub use encode::{encode, encode_into};
pub(crate) use encode::{head as write_head, text as write_text};
pub use error::{DecodeError, DecodeErrorKind};

use crate::multiformats;

/// One node of the IPLD data model as DAG-CBOR carries it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// CBOR `null`.
    Null,
    /// CBOR `true` / `false`.
    Bool(bool),
    /// Integers from −2⁶⁴ to 2⁶⁴ − 1, the full range of CBOR major types 0 and 1.
    Integer(i128),
    /// A finite 64-bit float.
    Float(Float),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A UTF-8 text string.
    String(String),
    /// A list of values.
    List(Vec<Value>),
    /// A map with string keys in canonical order.
    Map(Map),
    /// A link (tag 42 over a CID).
    Link(Link),
}

impl Value {
    /// A short name of this value's kind, used in error messages.
    #[must_use]
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Integer(_) => "integer",
            Value::Float(_) => "float",
            Value::Bytes(_) => "bytes",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Link(_) => "link",
        }
    }

    /// Shorthand for a text value.
    #[must_use]
    pub fn text(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }
}

/// The smallest integer CBOR can carry: −2⁶⁴.
pub const INTEGER_MIN: i128 = -(1i128 << 64);
/// The largest integer CBOR can carry: 2⁶⁴ − 1.
pub const INTEGER_MAX: i128 = u64::MAX as i128;

/// A finite IEEE 754 double. DAG-CBOR forbids NaN and the infinities, so this type cannot hold them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Float(f64);

impl Float {
    /// Returns `None` for NaN and ±∞; −0.0 becomes 0.0 (DAG-CBOR has one zero, and the decoder
    /// refuses the other).
    #[must_use]
    pub fn new(f: f64) -> Option<Float> {
        f.is_finite()
            .then_some(Float(if f == 0.0 { 0.0 } else { f }))
    }

    /// The value.
    #[must_use]
    pub fn get(self) -> f64 {
        self.0
    }
}

/// DAG-CBOR's map key order: shorter keys first, then bytewise.
#[must_use]
pub fn key_order(a: &str, b: &str) -> Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

/// The longest map key held inline.
const INLINE_KEY: usize = 22;

/// A map key. Keys of up to [`INLINE_KEY`] bytes (every field name Cairn uses) are held inline,
/// so decoding a record allocates nothing for its field names.
#[derive(Clone)]
pub(crate) enum MapKey {
    Inline(u8, [u8; INLINE_KEY]),
    Heap(Box<str>),
}

impl MapKey {
    pub(crate) fn new(key: &str) -> MapKey {
        match u8::try_from(key.len()) {
            Ok(len) if key.len() <= INLINE_KEY => {
                let mut bytes = [0; INLINE_KEY];
                bytes[..key.len()].copy_from_slice(key.as_bytes());
                MapKey::Inline(len, bytes)
            }
            _ => MapKey::Heap(key.into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            MapKey::Inline(len, bytes) => &bytes[..usize::from(*len)],
            MapKey::Heap(s) => s.as_bytes(),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Built from a `&str`, so always UTF-8.
            MapKey::Inline(..) => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            MapKey::Heap(s) => s,
        }
    }

    fn order(&self, other: &[u8]) -> Ordering {
        let k = self.as_bytes();
        k.len().cmp(&other.len()).then_with(|| k.cmp(other))
    }
}

impl PartialEq for MapKey {
    fn eq(&self, other: &MapKey) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl std::fmt::Debug for MapKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A map whose entries are kept unique and in DAG-CBOR key order, so that encoding never depends
/// on insertion order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map {
    entries: Vec<(MapKey, Value)>,
}

impl Map {
    /// An empty map.
    #[must_use]
    pub fn new() -> Map {
        Map::default()
    }

    /// Builds a map from entries in any order; `None` if a key repeats.
    #[must_use]
    pub fn from_entries(mut entries: Vec<(String, Value)>) -> Option<Map> {
        entries.sort_by(|a, b| key_order(&a.0, &b.0));
        if entries.windows(2).any(|w| w[0].0 == w[1].0) {
            return None;
        }
        Some(Map {
            entries: entries
                .into_iter()
                .map(|(k, v)| (MapKey::new(&k), v))
                .collect(),
        })
    }

    /// Entries already sorted and unique (the decoder checked).
    pub(crate) fn from_sorted(entries: Vec<(MapKey, Value)>) -> Map {
        debug_assert!(
            entries
                .windows(2)
                .all(|w| w[0].0.order(w[1].0.as_bytes()) == Ordering::Less)
        );
        Map { entries }
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|(k, _)| k.order(key.as_bytes()))
    }

    /// Inserts or replaces an entry, returning the previous value.
    pub fn insert(&mut self, key: impl AsRef<str>, value: Value) -> Option<Value> {
        let key = key.as_ref();
        match self.find(key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (MapKey::new(key), value));
                None
            }
        }
    }

    /// Looks a key up.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    /// Removes a key, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.find(key).ok().map(|i| self.entries.remove(i).1)
    }

    /// Entries in canonical order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Values in canonical key order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &Value> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map has no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Consumes the map into its entries, in canonical order.
    #[must_use]
    pub fn into_entries(self) -> Vec<(String, Value)> {
        self.entries
            .into_iter()
            .map(|(k, v)| (k.as_str().to_owned(), v))
            .collect()
    }
}

/// Multicodec of DAG-PB, the only codec a CIDv0 may name implicitly.
const CODEC_DAG_PB: u64 = 0x70;
/// Multihash code of SHA2-256, the only hash a CIDv0 may use.
const HASH_SHA2_256: u64 = 0x12;

/// The binary form of a CID carried by a DAG-CBOR link: any CIDv0 or CIDv1, whatever its codec
/// and hash. (Cairn's own, narrower content ID is [`crate::cid::Cid`].)
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Link {
    bytes: Vec<u8>,
}

/// The parts of a parsed link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkParts<'a> {
    /// 0 or 1.
    pub version: u64,
    /// Multicodec of the linked block (DAG-PB for a CIDv0).
    pub codec: u64,
    /// Multihash function code.
    pub hash: u64,
    /// Hash digest.
    pub digest: &'a [u8],
}

impl Link {
    /// Parses the binary form of a CID (without the DAG-CBOR 0x00 prefix).
    pub fn from_bytes(bytes: &[u8]) -> Result<Link, &'static str> {
        parse_link(bytes)?;
        Ok(Link {
            bytes: bytes.to_vec(),
        })
    }

    /// Builds a CIDv1 from its parts.
    #[must_use]
    pub fn v1(codec: u64, hash: u64, digest: &[u8]) -> Link {
        let mut bytes = Vec::with_capacity(digest.len() + 8);
        multiformats::write_varint(&mut bytes, 1);
        multiformats::write_varint(&mut bytes, codec);
        multiformats::write_varint(&mut bytes, hash);
        multiformats::write_varint(&mut bytes, digest.len() as u64);
        bytes.extend_from_slice(digest);
        Link { bytes }
    }

    /// The binary CID.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Version, codec, hash and digest.
    #[must_use]
    pub fn parts(&self) -> LinkParts<'_> {
        // Cannot fail: every `Link` was parsed or built from valid parts.
        parse_link(&self.bytes).unwrap_or(LinkParts {
            version: u64::MAX,
            codec: 0,
            hash: 0,
            digest: &[],
        })
    }
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Link({self})")
    }
}

impl fmt::Display for Link {
    /// CIDv1: multibase base32 lower (`b…`). CIDv0: base58btc with no multibase prefix (`Qm…`),
    /// as every IPLD tool prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.parts().version == 0 {
            f.write_str(&multiformats::base58btc_encode(&self.bytes))
        } else {
            f.write_str("b")?;
            f.write_str(&multiformats::base32_encode(&self.bytes))
        }
    }
}

impl std::str::FromStr for Link {
    type Err = &'static str;

    /// Parses the text [`Display`](fmt::Display) writes: `b` + base32 for a CIDv1, 46
    /// base58btc characters starting `Qm` for a CIDv0.
    fn from_str(s: &str) -> Result<Link, &'static str> {
        let bytes = if s.len() == 46 && s.starts_with("Qm") {
            multiformats::base58btc_decode(s)?
        } else if let Some(b32) = s.strip_prefix('b') {
            multiformats::base32_decode(b32)?
        } else {
            return Err("link text is neither `b` + base32 (CIDv1) nor `Qm…` (CIDv0)");
        };
        let link = Link::from_bytes(&bytes)?;
        if s.starts_with("Qm") != (link.parts().version == 0) {
            return Err("link text names the other CID version");
        }
        Ok(link)
    }
}

/// Checks the binary CID grammar: CIDv0 is exactly a 34-byte SHA2-256 multihash; CIDv1 is
/// `varint(1) varint(codec) varint(hash) varint(len) digest` with minimal varints and a digest of
/// exactly `len` bytes.
fn parse_link(bytes: &[u8]) -> Result<LinkParts<'_>, &'static str> {
    if bytes.len() == 34 && bytes[0] == 0x12 && bytes[1] == 0x20 {
        return Ok(LinkParts {
            version: 0,
            codec: CODEC_DAG_PB,
            hash: HASH_SHA2_256,
            digest: &bytes[2..],
        });
    }
    let mut rest = bytes;
    let version = multiformats::read_varint(&mut rest)?;
    if version != 1 {
        return Err("CID version is neither 0 nor 1");
    }
    let codec = multiformats::read_varint(&mut rest)?;
    let hash = multiformats::read_varint(&mut rest)?;
    let len = multiformats::read_varint(&mut rest)?;
    if usize::try_from(len).ok() != Some(rest.len()) {
        return Err("multihash digest length does not match the bytes that follow");
    }
    Ok(LinkParts {
        version,
        codec,
        hash,
        digest: rest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_keys_inline_and_long_keep_canonical_order() {
        let keys = [
            "z".repeat(40),
            "a".repeat(INLINE_KEY + 1),
            "b".repeat(INLINE_KEY),
            "a".repeat(INLINE_KEY),
            "é".to_owned(),
            "a".to_owned(),
        ];
        let mut m = Map::new();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(m.insert(k, Value::Integer(i as i128)), None);
        }
        let mut sorted: Vec<&str> = keys.iter().map(String::as_str).collect();
        sorted.sort_by(|a, b| key_order(a, b));
        assert_eq!(m.iter().map(|(k, _)| k).collect::<Vec<_>>(), sorted);
        let bytes = encode(&Value::Map(m.clone()));
        assert_eq!(decode(&bytes), Ok(Value::Map(m.clone())));
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(m.get(k), Some(&Value::Integer(i as i128)));
        }
        assert_eq!(m.insert(&keys[1], Value::Null), Some(Value::Integer(1)));
        assert_eq!(m.remove(&keys[0]), Some(Value::Integer(0)));
        assert_eq!(m.get(&keys[0]), None);
        assert_eq!(m.into_entries().len(), keys.len() - 1);
    }

    #[test]
    fn map_keeps_canonical_order_and_refuses_duplicates() {
        let m = Map::from_entries(vec![
            ("bb".into(), Value::Null),
            ("a".into(), Value::Null),
            ("c".into(), Value::Null),
        ])
        .expect("unique keys");
        let keys: Vec<_> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "c", "bb"]);
        assert!(
            Map::from_entries(vec![("a".into(), Value::Null), ("a".into(), Value::Null)]).is_none()
        );
        let mut m = m;
        assert_eq!(m.insert("a", Value::Bool(true)), Some(Value::Null));
        assert_eq!(m.get("a"), Some(&Value::Bool(true)));
        assert_eq!(m.remove("c"), Some(Value::Null));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn float_refuses_non_finite() {
        assert!(Float::new(f64::NAN).is_none());
        assert!(Float::new(f64::INFINITY).is_none());
        assert!(Float::new(f64::NEG_INFINITY).is_none());
        assert_eq!(Float::new(-0.5).map(Float::get), Some(-0.5));
    }

    #[test]
    fn link_grammar() {
        let l = Link::v1(0x71, 0x1e, &[7; 32]);
        let p = l.parts();
        assert_eq!(
            (p.version, p.codec, p.hash, p.digest.len()),
            (1, 0x71, 0x1e, 32)
        );
        assert!(
            Link::from_bytes(&[0x01, 0x71, 0x1e, 0x20, 0]).is_err(),
            "short digest"
        );
        assert!(
            Link::from_bytes(&[0x02, 0x71, 0x1e, 0x00]).is_err(),
            "version 2"
        );
        assert!(
            Link::from_bytes(&[0x01, 0xf1, 0x00, 0x1e, 0x00]).is_err(),
            "non-minimal varint"
        );
        let mut v0 = vec![0x12, 0x20];
        v0.extend([1; 32]);
        assert_eq!(Link::from_bytes(&v0).map(|l| l.parts().version), Ok(0));
        for l in [
            Link::from_bytes(&v0).expect("v0"),
            Link::v1(0x55, 0x1e, &[1; 32]),
        ] {
            assert_eq!(l.to_string().parse::<Link>(), Ok(l));
        }
        let text = Link::from_bytes(&v0).expect("v0").to_string();
        assert!(text.starts_with("Qm") && text.len() == 46, "{text}");
        let as_v1 = format!("b{}", multiformats::base32_encode(&v0));
        assert!(as_v1.parse::<Link>().is_err(), "a CIDv0 in CIDv1 text");
    }
}
