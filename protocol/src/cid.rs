//! Cairn content IDs: CIDv1, BLAKE3-256, codec dag-cbor (records) or raw (artifacts and chunks).
//!
//! Goals: one binary form and one text form per ID, parsed by one parser whichever door the text
//! comes through (`FromStr`, serde, the CLI). The digest is exactly the iroh-blobs hash of the
//! block, so any block can be fetched and verified while streaming.
//!
//! Non-goals: other CID versions, hashes or codecs. The codec layer carries those as
//! [`crate::codec::Link`]; Cairn records refuse them.
//!
//! Normative text: `spec/02-content-ids.md`.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::codec::Link;
use crate::multiformats;

/// Multicodec of DAG-CBOR.
pub const CODEC_DAG_CBOR: u64 = 0x71;
/// Multicodec of raw bytes.
pub const CODEC_RAW: u64 = 0x55;
/// Multihash code of BLAKE3.
pub const HASH_BLAKE3: u64 = 0x1e;
/// Length of a BLAKE3-256 digest.
pub const DIGEST_LEN: usize = 32;
/// Length of a Cairn CID in binary: version, codec, hash code, digest length, digest.
pub const CID_LEN: usize = 4 + DIGEST_LEN;

/// What a Cairn CID addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Codec {
    /// Raw bytes: artifacts and artifact chunks.
    Raw,
    /// A DAG-CBOR record block.
    DagCbor,
}

impl Codec {
    /// The multicodec number.
    #[must_use]
    pub fn code(self) -> u64 {
        match self {
            Codec::Raw => CODEC_RAW,
            Codec::DagCbor => CODEC_DAG_CBOR,
        }
    }

    fn from_code(code: u64) -> Option<Codec> {
        match code {
            CODEC_RAW => Some(Codec::Raw),
            CODEC_DAG_CBOR => Some(Codec::DagCbor),
            _ => None,
        }
    }
}

/// A Cairn content ID.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cid {
    codec: Codec,
    digest: [u8; DIGEST_LEN],
}

/// Why a text or binary CID is not a Cairn CID.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CidError {
    /// Empty text.
    #[error("empty CID")]
    Empty,
    /// The text does not start with the multibase prefix `b` (base32 lower).
    #[error("CID text must start with `b` (multibase base32, lower case)")]
    WrongMultibase,
    /// The text after the prefix is not canonical lower-case base32.
    #[error("CID text is not canonical lower-case base32: {0}")]
    Base32(&'static str),
    /// A CIDv0 (`Qm…`, or a bare SHA2-256 multihash).
    #[error("CIDv0 is not allowed; Cairn uses CIDv1")]
    Version0,
    /// A malformed binary CID.
    #[error("malformed binary CID: {0}")]
    Malformed(&'static str),
    /// A codec other than dag-cbor and raw.
    #[error("codec 0x{0:x} is not allowed (dag-cbor 0x71 or raw 0x55)")]
    UnsupportedCodec(u64),
    /// A hash other than BLAKE3-256.
    #[error("multihash 0x{0:x} with a {1}-byte digest is not allowed (BLAKE3-256, 0x1e)")]
    UnsupportedHash(u64, usize),
}

impl CidError {
    /// The stable error code used in test vectors.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            CidError::Empty => "cid-empty",
            CidError::WrongMultibase => "cid-wrong-multibase",
            CidError::Base32(_) => "cid-base32",
            CidError::Version0 => "cid-v0",
            CidError::Malformed(_) => "cid-malformed",
            CidError::UnsupportedCodec(_) => "cid-unsupported-codec",
            CidError::UnsupportedHash(..) => "cid-unsupported-hash",
        }
    }
}

impl Cid {
    /// Appends this CID as a DAG-CBOR link (tag 42 over `0x00` ‖ the binary CID): what
    /// `Value::Link(cid.into())` encodes to, without building the value.
    pub fn write_link(&self, out: &mut Vec<u8>) {
        // Every varint of a Cairn CID fits one byte (codes below 0x80, digest length 32).
        const BYTES: u8 = 1 + CID_LEN as u8;
        out.extend_from_slice(&[0xd8, 0x2a, 0x58, BYTES, 0x00, 0x01]);
        out.push(self.codec.code() as u8);
        out.extend_from_slice(&[HASH_BLAKE3 as u8, DIGEST_LEN as u8]);
        out.extend_from_slice(&self.digest);
    }

    /// The CID of a record block.
    #[must_use]
    pub fn of_record(bytes: &[u8]) -> Cid {
        Cid::new(Codec::DagCbor, *blake3::hash(bytes).as_bytes())
    }

    /// The CID of raw bytes (an artifact or chunk).
    #[must_use]
    pub fn of_raw(bytes: &[u8]) -> Cid {
        Cid::new(Codec::Raw, *blake3::hash(bytes).as_bytes())
    }

    /// A CID from its parts.
    #[must_use]
    pub fn new(codec: Codec, digest: [u8; DIGEST_LEN]) -> Cid {
        Cid { codec, digest }
    }

    /// The codec.
    #[must_use]
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The BLAKE3 digest (equal to the iroh-blobs hash of the block).
    #[must_use]
    pub fn digest(&self) -> &[u8; DIGEST_LEN] {
        &self.digest
    }

    /// The binary form: `0x01 codec 0x1e 0x20 digest`.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; CID_LEN] {
        let mut out = [0u8; CID_LEN];
        out[0] = 0x01;
        out[1] = self.codec.code() as u8; // Both codes are below 0x80: one varint byte.
        out[2] = HASH_BLAKE3 as u8;
        out[3] = DIGEST_LEN as u8;
        out[4..].copy_from_slice(&self.digest);
        out
    }

    /// Parses the binary form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Cid, CidError> {
        let link = Link::from_bytes(bytes).map_err(CidError::Malformed)?;
        Cid::try_from(&link)
    }

    /// Whether `bytes` hash to this CID.
    #[must_use]
    pub fn matches(&self, bytes: &[u8]) -> bool {
        blake3::hash(bytes).as_bytes() == &self.digest
    }
}

impl TryFrom<&Link> for Cid {
    type Error = CidError;

    fn try_from(link: &Link) -> Result<Cid, CidError> {
        let p = link.parts();
        if p.version == 0 {
            return Err(CidError::Version0);
        }
        let codec = Codec::from_code(p.codec).ok_or(CidError::UnsupportedCodec(p.codec))?;
        if p.hash != HASH_BLAKE3 || p.digest.len() != DIGEST_LEN {
            return Err(CidError::UnsupportedHash(p.hash, p.digest.len()));
        }
        let mut digest = [0u8; DIGEST_LEN];
        digest.copy_from_slice(p.digest);
        Ok(Cid { codec, digest })
    }
}

impl From<Cid> for Link {
    fn from(cid: Cid) -> Link {
        Link::v1(cid.codec.code(), HASH_BLAKE3, &cid.digest)
    }
}

impl PartialOrd for Cid {
    fn partial_cmp(&self, other: &Cid) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Cid {
    /// Bytewise order of the binary form, which is the order the protocol uses to break ties.
    fn cmp(&self, other: &Cid) -> std::cmp::Ordering {
        self.to_bytes().cmp(&other.to_bytes())
    }
}

impl FromStr for Cid {
    type Err = CidError;

    fn from_str(s: &str) -> Result<Cid, CidError> {
        let Some(first) = s.chars().next() else {
            return Err(CidError::Empty);
        };
        if s.starts_with("Qm") && s.len() == 46 {
            return Err(CidError::Version0);
        }
        if first != 'b' {
            return Err(CidError::WrongMultibase);
        }
        let bytes = multiformats::base32_decode(&s[1..]).map_err(CidError::Base32)?;
        Cid::from_bytes(&bytes)
    }
}

impl fmt::Display for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("b")?;
        f.write_str(&multiformats::base32_encode(&self.to_bytes()))
    }
}

impl fmt::Debug for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cid({self})")
    }
}

serde_via_str!(Cid);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_link_equals_the_encoded_link_value() {
        for cid in [Cid::of_record(b"\xa0"), Cid::of_raw(b"artifact")] {
            let mut written = Vec::new();
            cid.write_link(&mut written);
            assert_eq!(
                written,
                crate::codec::encode(&crate::codec::Value::Link(cid.into()))
            );
        }
    }

    #[test]
    fn text_form_round_trips_and_has_the_expected_prefixes() {
        let rec = Cid::of_record(b"\xa0");
        let raw = Cid::of_raw(b"hello");
        assert!(rec.to_string().starts_with("bafyr4i"), "{rec}");
        assert!(raw.to_string().starts_with("bafkr4i"), "{raw}");
        assert_eq!(rec.to_string().len(), 59);
        assert_eq!(rec.to_string().parse::<Cid>(), Ok(rec));
        assert_eq!(raw.to_string().parse::<Cid>(), Ok(raw));
        assert_eq!(Cid::from_bytes(&raw.to_bytes()), Ok(raw));
    }

    #[test]
    fn refusals_are_specific() {
        let sha = "bafyreihm764rs4lirtozq4d5d4pqext5b5akh6val7cyphu4aglvpha3xm";
        assert!(matches!(
            sha.parse::<Cid>(),
            Err(CidError::UnsupportedHash(0x12, 32))
        ));
        assert_eq!("".parse::<Cid>(), Err(CidError::Empty));
        assert_eq!(
            "QmQg1v4o9xdT3Q14wh4S7dxZkDjyZ9ssFzFzyep1YrVJBY".parse::<Cid>(),
            Err(CidError::Version0)
        );
        let upper = Cid::of_raw(b"x").to_string().to_uppercase();
        assert_eq!(upper.parse::<Cid>(), Err(CidError::WrongMultibase));
        let other_codec = Link::v1(0x70, HASH_BLAKE3, &[0; 32]).to_string();
        assert_eq!(
            other_codec.parse::<Cid>(),
            Err(CidError::UnsupportedCodec(0x70))
        );
    }

    #[test]
    fn serde_uses_the_same_parser() {
        let c = Cid::of_raw(b"x");
        let json = serde_json::to_string(&c).expect("serialize");
        assert_eq!(serde_json::from_str::<Cid>(&json).expect("parse"), c);
        assert!(serde_json::from_str::<Cid>("\"bafy\"").is_err());
    }
}

/// A block that could not be read (a failing disk or database, a peer that went away): not a
/// verdict on the data, which was never seen. Verifiers pass it on unchanged, so a caller can
/// tell "the store failed" from "the block is missing" and from "the block is invalid".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("block `{cid}` could not be read: {reason}")]
pub struct BlockFault {
    /// The block.
    pub cid: Cid,
    /// Why, as the block source said it.
    pub reason: String,
}
