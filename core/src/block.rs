//! Verifying a block against the CID it was asked for: the first check on everything that
//! arrives from a peer, a file or a cache.

use cairn_protocol::cid::{Cid, Codec};
use cairn_protocol::codec::Value;
use cairn_protocol::profile::{self, RecordError};
use thiserror::Error;

/// A block whose bytes match its CID.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A dag-cbor record, decoded under the record profile.
    Record(Value),
    /// Raw bytes (an artifact or chunk).
    Raw,
}

/// Why a block was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BlockError {
    /// The bytes hash to another CID.
    #[error(
        "block content does not match `{expected}` (its bytes hash to `{actual}`); the source served wrong data"
    )]
    HashMismatch {
        /// The CID that was asked for.
        expected: Cid,
        /// The CID of the bytes received.
        actual: Cid,
    },
    /// A dag-cbor block that is not a valid record.
    #[error("block `{cid}` is not a valid Cairn record: {error}")]
    Record {
        /// The block's CID.
        cid: Cid,
        /// What is wrong.
        error: RecordError,
    },
}

/// Checks `bytes` against `cid`: the BLAKE3 digest must match, and a dag-cbor block must be a
/// valid record.
pub fn verify_block(cid: Cid, bytes: &[u8]) -> Result<Block, BlockError> {
    if !cid.matches(bytes) {
        let actual = Cid::new(cid.codec(), *blake3_of(bytes).digest());
        return Err(BlockError::HashMismatch {
            expected: cid,
            actual,
        });
    }
    match cid.codec() {
        Codec::Raw => Ok(Block::Raw),
        Codec::DagCbor => profile::decode_record(bytes)
            .map(Block::Record)
            .map_err(|error| BlockError::Record { cid, error }),
    }
}

fn blake3_of(bytes: &[u8]) -> Cid {
    Cid::of_raw(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_matching_blocks_and_names_mismatches() {
        assert!(matches!(
            verify_block(Cid::of_raw(b"abc"), b"abc"),
            Ok(Block::Raw)
        ));
        let err = verify_block(Cid::of_raw(b"abc"), b"abd").expect_err("mismatch");
        assert!(
            matches!(err, BlockError::HashMismatch { actual, .. } if actual == Cid::of_raw(b"abd"))
        );
        assert!(err.to_string().contains("served wrong data"));
    }

    #[test]
    fn record_blocks_must_follow_the_profile() {
        let float = hex_bytes("a16161fb3fe0000000000000");
        let err = verify_block(Cid::of_record(&float), &float).expect_err("float");
        assert!(matches!(
            err,
            BlockError::Record {
                error: RecordError::Float(_),
                ..
            }
        ));
        let ok = hex_bytes("a1616101");
        assert!(matches!(
            verify_block(Cid::of_record(&ok), &ok),
            Ok(Block::Record(Value::Map(_)))
        ));
    }

    fn hex_bytes(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }
}
