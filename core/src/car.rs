//! CARv1 archives of Cairn blocks: `varint(len) header`, then `varint(len) cid block` sections.
//!
//! Goals: every block read is checked against its CID before anyone sees it; hostile input is
//! bounded (section sizes, total size, block count); writing is deterministic.
//!
//! Normative text: `spec/11-bundles.md`.

use cairn_protocol::cid::{CID_LEN, Cid};
use cairn_protocol::codec::{self, Map, Value};
use cairn_protocol::profile::{self, Fields};
use thiserror::Error;

/// The largest block a CAR may carry (record blocks are at most 1 MiB; artifacts are not
/// carried in bundles).
pub const MAX_SECTION: usize = (1 << 20) + 64;
/// The most sections read from one CAR (duplicates included): refused at the next one, before
/// it is read.
pub const MAX_SECTIONS: usize = 1 << 18;
/// The most bytes of sections (lengths, CIDs and blocks) read from one CAR.
pub const MAX_TOTAL: usize = 256 << 20;

/// Blocks with their CIDs, in CAR order.
pub type Blocks = Vec<(Cid, Vec<u8>)>;

/// Why a CAR was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CarError {
    /// The data ended inside the header or a section.
    #[error("the CAR is truncated at byte {0}")]
    Truncated(usize),
    /// A length prefix is malformed or too large.
    #[error("bad length at byte {offset}: {reason}")]
    Length {
        /// Where.
        offset: usize,
        /// Why.
        reason: &'static str,
    },
    /// The header is not `{roots: [cid…], version: 1}`.
    #[error("bad CAR header: {0}")]
    Header(String),
    /// A section's CID is not a Cairn CID.
    #[error("section at byte {offset} has an invalid CID: {reason}")]
    Cid {
        /// Where.
        offset: usize,
        /// Why.
        reason: String,
    },
    /// A block does not hash to its CID.
    #[error("block `{0}` does not match its CID (the CAR was altered or damaged)")]
    Mismatch(Cid),
    /// Too many sections.
    #[error(
        "the CAR has more than {MAX_SECTIONS} sections; no bundle needs that many\n\nhint: split the export, one log per bundle"
    )]
    TooMany,
    /// Too many bytes of sections.
    #[error(
        "the CAR's sections pass {MAX_TOTAL} bytes; no bundle needs that much\n\nhint: split the export, one log per bundle"
    )]
    TooLarge,
}

impl CarError {
    /// The stable error code used in test vectors.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            CarError::Truncated(_) => "car-truncated",
            CarError::Length { .. } => "car-length",
            CarError::Header(_) => "car-header",
            CarError::Cid { .. } => "car-cid",
            CarError::Mismatch(_) => "car-block-mismatch",
            CarError::TooMany => "car-too-many-blocks",
            CarError::TooLarge => "car-too-large",
        }
    }
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn read_varint(data: &[u8], pos: &mut usize) -> Result<u64, CarError> {
    let start = *pos;
    let mut v: u64 = 0;
    for i in 0..9 {
        let b = *data.get(*pos).ok_or(CarError::Truncated(*pos))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if b == 0 && i > 0 {
                return Err(CarError::Length {
                    offset: start,
                    reason: "varint not in shortest form",
                });
            }
            return Ok(v);
        }
    }
    Err(CarError::Length {
        offset: start,
        reason: "varint longer than 9 bytes",
    })
}

/// Writes a CAR with `roots` and `blocks` (in the given order).
#[must_use]
pub fn write(roots: &[Cid], blocks: &[(Cid, Vec<u8>)]) -> Vec<u8> {
    let mut header = Map::new();
    header.insert(
        "roots",
        Value::List(roots.iter().map(|r| Value::Link((*r).into())).collect()),
    );
    header.insert("version", Value::Integer(1));
    let header = codec::encode(&Value::Map(header));
    let mut out =
        Vec::with_capacity(header.len() + blocks.iter().map(|(_, b)| b.len() + 48).sum::<usize>());
    write_varint(&mut out, header.len() as u64);
    out.extend_from_slice(&header);
    for (cid, bytes) in blocks {
        write_varint(&mut out, (CID_LEN + bytes.len()) as u64);
        out.extend_from_slice(&cid.to_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

/// Reads a CAR: its roots and its blocks, each checked against its CID.
pub fn read(data: &[u8]) -> Result<(Vec<Cid>, Blocks), CarError> {
    let mut pos = 0;
    let len = read_varint(data, &mut pos)?;
    let len = usize::try_from(len)
        .ok()
        .filter(|l| *l <= MAX_SECTION)
        .ok_or(CarError::Length {
            offset: 0,
            reason: "header too large",
        })?;
    let header = data
        .get(pos..pos + len)
        .ok_or(CarError::Truncated(data.len()))?;
    pos += len;
    let value = profile::decode_record(header).map_err(|e| CarError::Header(e.to_string()))?;
    let mut f = Fields::new("CAR header", value).map_err(|e| CarError::Header(e.to_string()))?;
    let version = f
        .uint("version")
        .map_err(|e| CarError::Header(e.to_string()))?;
    if version != 1 {
        return Err(CarError::Header(format!(
            "version {version}; only CARv1 is read"
        )));
    }
    let roots = f
        .list("roots")
        .map_err(|e| CarError::Header(e.to_string()))?
        .into_iter()
        .map(|r| match r {
            Value::Link(l) => Cid::try_from(&l).map_err(|e| CarError::Header(e.to_string())),
            _ => Err(CarError::Header("roots are links".into())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    f.finish().map_err(|e| CarError::Header(e.to_string()))?;
    let mut blocks = Vec::new();
    // A block repeated in the CAR is kept once (and its repeats still count toward the caps).
    let mut seen = std::collections::BTreeSet::new();
    let (body_start, mut sections) = (pos, 0usize);
    while pos < data.len() {
        if sections == MAX_SECTIONS {
            return Err(CarError::TooMany);
        }
        sections += 1;
        let start = pos;
        let len = read_varint(data, &mut pos)?;
        let len = usize::try_from(len)
            .ok()
            .filter(|l| (CID_LEN..=MAX_SECTION).contains(l))
            .ok_or(CarError::Length {
                offset: start,
                reason: "section length out of range",
            })?;
        if pos + len - body_start > MAX_TOTAL {
            return Err(CarError::TooLarge);
        }
        let section = data
            .get(pos..pos + len)
            .ok_or(CarError::Truncated(data.len()))?;
        pos += len;
        let cid = Cid::from_bytes(&section[..CID_LEN]).map_err(|e| CarError::Cid {
            offset: start,
            reason: e.to_string(),
        })?;
        let bytes = &section[CID_LEN..];
        if !cid.matches(bytes) {
            return Err(CarError::Mismatch(cid));
        }
        if seen.insert(cid) {
            blocks.push((cid, bytes.to_vec()));
        }
    }
    Ok((roots, blocks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let a = b"\xa0".to_vec();
        let b = codec::encode(&Value::Integer(5));
        let blocks = vec![
            (Cid::of_record(&a), a.clone()),
            (Cid::of_record(&b), b.clone()),
        ];
        let car = write(&[Cid::of_record(&a)], &blocks);
        let (roots, read_blocks) = read(&car).expect("read");
        assert_eq!(roots, [Cid::of_record(&a)]);
        assert_eq!(read_blocks, blocks);
        let mut bad = car.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(
            read(&bad).expect_err("mismatch").code(),
            "car-block-mismatch"
        );
        assert_eq!(
            read(&car[..car.len() - 1]).expect_err("truncated").code(),
            "car-truncated"
        );
        assert_eq!(read(&[0x80]).expect_err("varint").code(), "car-truncated");
    }

    #[test]
    fn a_flood_of_tiny_duplicate_blocks_is_refused_at_the_section_cap() {
        let tiny = b"\xa0".to_vec();
        let cid = Cid::of_record(&tiny);
        let one = write(&[cid], &[(cid, tiny.clone())]);
        let section = &one[one.len() - (1 + CID_LEN + tiny.len())..];
        let mut car = one.clone();
        for _ in 0..MAX_SECTIONS {
            car.extend_from_slice(section);
        }
        // MAX_SECTIONS + 1 sections: refused, and the duplicates were never kept.
        assert_eq!(read(&car).expect_err("flood").code(), "car-too-many-blocks");
        car.truncate(car.len() - section.len());
        let (_, blocks) = read(&car).expect("exactly at the cap");
        assert_eq!(blocks.len(), 1, "a repeated block is kept once");
    }

    #[test]
    fn sections_past_the_byte_cap_are_refused() {
        let mut blocks = Vec::new();
        for i in 0u8..=255 {
            let b = codec::encode(&Value::List(vec![
                Value::Integer(i.into()),
                Value::Bytes(vec![7; (1 << 20) - 16]),
            ]));
            blocks.push((Cid::of_record(&b), b));
        }
        let car = write(&[blocks[0].0], &blocks);
        assert!(car.len() > MAX_TOTAL);
        assert_eq!(read(&car).expect_err("too large").code(), "car-too-large");
    }
}
