//! CARv1 archives of Cairn blocks: `varint(len) header`, then `varint(len) cid block` sections.
//!
//! Goals: every block read is checked against its CID before anyone sees it; hostile input is
//! bounded (section sizes, total size, block count); writing is deterministic.
//!
//! Normative text: `spec/11-bundles.md`.

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};

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
    /// The input could not be read.
    #[error("cannot read the CAR: {0}")]
    Read(#[source] std::io::Error),
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
            CarError::Read(_) => "car-read",
        }
    }
}

/// Writes a CAR with `roots` and `blocks` (in the given order).
#[must_use]
pub fn write(roots: &[Cid], blocks: &[(Cid, Vec<u8>)]) -> Vec<u8> {
    let mut w = Writer::new(Vec::new(), roots).unwrap_or_else(|_| unreachable!("a Vec"));
    for (cid, bytes) in blocks {
        w.block(cid, bytes)
            .unwrap_or_else(|_| unreachable!("a Vec"));
    }
    w.finish().0
}

/// Writes a CAR section by section to any writer.
#[derive(Debug)]
pub struct Writer<W> {
    out: W,
    written: u64,
}

impl<W: Write> Writer<W> {
    /// Writes the header naming `roots`.
    pub fn new(out: W, roots: &[Cid]) -> std::io::Result<Writer<W>> {
        let mut header = Map::new();
        header.insert(
            "roots",
            Value::List(roots.iter().map(|r| Value::Link((*r).into())).collect()),
        );
        header.insert("version", Value::Integer(1));
        let header = codec::encode(&Value::Map(header));
        let mut w = Writer { out, written: 0 };
        w.put(&header)?;
        Ok(w)
    }

    /// Writes one section: `cid` and its block.
    pub fn block(&mut self, cid: &Cid, bytes: &[u8]) -> std::io::Result<()> {
        let mut section = Vec::with_capacity(CID_LEN + bytes.len());
        section.extend_from_slice(&cid.to_bytes());
        section.extend_from_slice(bytes);
        self.put(&section)
    }

    fn put(&mut self, data: &[u8]) -> std::io::Result<()> {
        let mut len = Vec::with_capacity(9);
        cairn_protocol::multiformats::write_varint(&mut len, data.len() as u64);
        self.out.write_all(&len)?;
        self.out.write_all(data)?;
        self.written += (len.len() + data.len()) as u64;
        Ok(())
    }

    /// The writer back, and the bytes written.
    pub fn finish(self) -> (W, u64) {
        (self.out, self.written)
    }
}

/// Reads a CAR held in memory: its roots and its blocks (each once, in CAR order), each checked
/// against its CID.
pub fn read(data: &[u8]) -> Result<(Vec<Cid>, Blocks), CarError> {
    let (mut reader, roots) = Reader::new(data)?;
    let mut blocks = Vec::new();
    // A block repeated in the CAR is kept once (and its repeats still count toward the caps).
    let mut seen = std::collections::BTreeSet::new();
    while let Some(s) = reader.next_block()? {
        if seen.insert(s.cid) {
            blocks.push((s.cid, s.bytes.to_vec()));
        }
    }
    Ok((roots, blocks))
}

/// One section of a CAR.
#[derive(Debug)]
pub struct Section<'a> {
    /// The block's CID.
    pub cid: Cid,
    /// Where the block starts in the input.
    pub offset: u64,
    /// The block, checked against the CID.
    pub bytes: &'a [u8],
}

/// Reads a CAR section by section from any reader: one section in memory at a time, every
/// block checked against its CID as it is read, and the caps applied before a section is read.
#[derive(Debug)]
pub struct Reader<R> {
    input: R,
    /// Bytes consumed so far.
    pos: u64,
    /// Where the first section starts.
    body: u64,
    sections: usize,
    buf: Vec<u8>,
}

impl<R: Read> Reader<R> {
    /// Reads the header; returns the reader, positioned at the first section, and the roots.
    pub fn new(input: R) -> Result<(Reader<R>, Vec<Cid>), CarError> {
        let mut r = Reader {
            input,
            pos: 0,
            body: 0,
            sections: 0,
            buf: Vec::new(),
        };
        let len = r.varint()?.ok_or(CarError::Truncated(0))?;
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= MAX_SECTION)
            .ok_or(CarError::Length {
                offset: 0,
                reason: "header too large",
            })?;
        r.fill(len)?;
        let roots = header_roots(&r.buf)?;
        r.body = r.pos;
        Ok((r, roots))
    }

    /// The next section, its block checked against its CID; `None` at the end of the input.
    pub fn next_block(&mut self) -> Result<Option<Section<'_>>, CarError> {
        let start = self.pos;
        if self.sections == MAX_SECTIONS {
            // One more byte means one more section: refused before it is read.
            let mut probe = [0u8; 1];
            return match self.read_some(&mut probe)? {
                0 => Ok(None),
                _ => Err(CarError::TooMany),
            };
        }
        let Some(len) = self.varint()? else {
            return Ok(None);
        };
        self.sections += 1;
        let offset = usize::try_from(start).unwrap_or(usize::MAX);
        let len = usize::try_from(len)
            .ok()
            .filter(|l| (CID_LEN..=MAX_SECTION).contains(l))
            .ok_or(CarError::Length {
                offset,
                reason: "section length out of range",
            })?;
        if self.pos + len as u64 - self.body > MAX_TOTAL as u64 {
            return Err(CarError::TooLarge);
        }
        self.fill(len)?;
        let cid = Cid::from_bytes(&self.buf[..CID_LEN]).map_err(|e| CarError::Cid {
            offset,
            reason: e.to_string(),
        })?;
        let bytes = &self.buf[CID_LEN..];
        if !cid.matches(bytes) {
            return Err(CarError::Mismatch(cid));
        }
        Ok(Some(Section {
            cid,
            offset: self.pos - bytes.len() as u64,
            bytes,
        }))
    }

    fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, CarError> {
        loop {
            match self.input.read(buf) {
                Ok(n) => {
                    self.pos += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(CarError::Read(e)),
            }
        }
    }

    /// Reads exactly `len` bytes into the buffer.
    fn fill(&mut self, len: usize) -> Result<(), CarError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.resize(len, 0);
        let mut at = 0;
        while at < len {
            match self.read_some(&mut buf[at..])? {
                0 => return Err(CarError::Truncated(self.offset())),
                n => at += n,
            }
        }
        self.buf = buf;
        Ok(())
    }

    fn offset(&self) -> usize {
        usize::try_from(self.pos).unwrap_or(usize::MAX)
    }

    /// A varint, or `None` when the input ends before its first byte.
    fn varint(&mut self) -> Result<Option<u64>, CarError> {
        let start = self.offset();
        let mut v: u64 = 0;
        for i in 0..9 {
            let mut b = [0u8; 1];
            if self.read_some(&mut b)? == 0 {
                return if i == 0 {
                    Ok(None)
                } else {
                    Err(CarError::Truncated(self.offset()))
                };
            }
            let b = b[0];
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    return Err(CarError::Length {
                        offset: start,
                        reason: "varint not in shortest form",
                    });
                }
                return Ok(Some(v));
            }
        }
        Err(CarError::Length {
            offset: start,
            reason: "varint longer than 9 bytes",
        })
    }
}

/// The roots of a CAR header `{roots: [cid…], version: 1}`.
fn header_roots(header: &[u8]) -> Result<Vec<Cid>, CarError> {
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
    Ok(roots)
}

/// A CAR read once from a seekable input (every block checked), with where each block is:
/// blocks are read again on demand, so memory holds the positions, never the blocks.
#[derive(Debug)]
pub struct Indexed<R> {
    input: R,
    roots: Vec<Cid>,
    at: BTreeMap<Cid, (u64, u32)>,
}

impl<R: Read + Seek> Indexed<R> {
    /// Reads the whole CAR once, checking every block and the caps.
    pub fn new(mut input: R) -> Result<Indexed<R>, CarError> {
        input.rewind().map_err(CarError::Read)?;
        let mut at = BTreeMap::new();
        let (mut reader, roots) = Reader::new(BufReader::with_capacity(1 << 16, &mut input))?;
        while let Some(s) = reader.next_block()? {
            at.entry(s.cid)
                .or_insert((s.offset, u32::try_from(s.bytes.len()).unwrap_or(u32::MAX)));
        }
        Ok(Indexed { input, roots, at })
    }

    /// The CAR's roots.
    #[must_use]
    pub fn roots(&self) -> &[Cid] {
        &self.roots
    }

    /// Whether the CAR holds `cid`.
    #[must_use]
    pub fn has(&self, cid: &Cid) -> bool {
        self.at.contains_key(cid)
    }

    /// The block `cid`, read again and checked again (the input may have changed since).
    pub fn get(&mut self, cid: &Cid) -> Result<Option<Vec<u8>>, CarError> {
        let Some(&(offset, len)) = self.at.get(cid) else {
            return Ok(None);
        };
        let mut bytes = vec![0; len as usize];
        self.input
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.input.read_exact(&mut bytes))
            .map_err(CarError::Read)?;
        if !cid.matches(&bytes) {
            return Err(CarError::Mismatch(*cid));
        }
        Ok(Some(bytes))
    }
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
    fn an_indexed_car_reads_blocks_again_and_checks_them_again() {
        let a = codec::encode(&Value::text("a"));
        let b = codec::encode(&Value::text("b"));
        let (ca, cb) = (Cid::of_record(&a), Cid::of_record(&b));
        let car = write(&[ca], &[(ca, a.clone()), (cb, b.clone()), (ca, a.clone())]);
        let mut indexed = Indexed::new(std::io::Cursor::new(car.clone())).expect("indexed");
        assert_eq!(indexed.roots(), [ca]);
        assert_eq!(indexed.get(&cb).expect("read"), Some(b.clone()));
        assert_eq!(indexed.get(&ca).expect("read"), Some(a.clone()));
        assert_eq!(indexed.get(&Cid::of_record(b"\xa0")).expect("read"), None);
        // The input changes under the index: the block read again no longer matches.
        let (mut reader, _) = Reader::new(car.as_slice()).expect("reader");
        let first = reader.next_block().expect("read").expect("a section");
        let at = usize::try_from(first.offset).expect("offset");
        let mut changed = car.clone();
        changed[at] ^= 1;
        let mut indexed = Indexed::new(std::io::Cursor::new(car)).expect("indexed");
        indexed.input = std::io::Cursor::new(changed);
        assert_eq!(
            indexed.get(&ca).expect_err("changed").code(),
            "car-block-mismatch",
            "the first copy is read, and checked"
        );
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
