use std::cmp::Ordering;

use super::{DecodeError, DecodeErrorKind as K, Float, Link, Map, MapKey, Value};

/// The most items a list or map reserves room for before reading them. A length prefix is only
/// a claim: each level of nesting could otherwise reserve room for all the remaining input, so
/// 32 nested lists in 1 MiB would reserve about a gigabyte. Past this, vectors grow as items
/// actually arrive, so memory follows what was decoded, never what was claimed.
const PREALLOCATE: usize = 256;

/// Nesting limit of the codec layer: deep enough for any real IPLD document, shallow enough that
/// recursion cannot exhaust a thread's stack. Records use a much lower limit (see `profile`).
pub const DEFAULT_MAX_DEPTH: usize = 256;

/// Decodes exactly one strict DAG-CBOR item that spans all of `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
    decode_with_depth(bytes, DEFAULT_MAX_DEPTH)
}

/// [`decode`] with a nesting limit: a list or map at top level is depth 1.
pub fn decode_with_depth(bytes: &[u8], max_depth: usize) -> Result<Value, DecodeError> {
    let mut d = Decoder::new(bytes, max_depth);
    let v = d.value()?;
    d.finish()?;
    Ok(v)
}

/// A cursor over strict DAG-CBOR. Exposed so that callers can find the exact bytes of a nested
/// item (a signed payload inside its envelope) without re-encoding it.
#[derive(Debug)]
pub struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    max_depth: usize,
    depth: usize,
}

/// The major type and argument of one CBOR item head.
struct Head {
    major: u8,
    info: u8,
    arg: u64,
}

impl<'a> Decoder<'a> {
    /// A decoder at the start of `input`.
    #[must_use]
    pub fn new(input: &'a [u8], max_depth: usize) -> Decoder<'a> {
        Decoder {
            input,
            pos: 0,
            max_depth,
            depth: 0,
        }
    }

    /// The offset of the next unread byte.
    #[must_use]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Fails unless every byte has been read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.pos == self.input.len() {
            Ok(())
        } else {
            Err(self.err_at(self.pos, K::TrailingData))
        }
    }

    #[allow(clippy::unused_self)] // Keeps every error site uniform: `self.err_at(..)`.
    fn err_at(&self, offset: usize, kind: K) -> DecodeError {
        DecodeError { offset, kind }
    }

    fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(self.err_at(self.input.len(), K::UnexpectedEnd));
        }
        let s = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Reads an item head; `arg` is the raw argument (for major 7 with info 25–27, the float bits).
    fn head(&mut self) -> Result<Head, DecodeError> {
        let start = self.pos;
        let first = self.take(1)?[0];
        let major = first >> 5;
        let info = first & 0x1f;
        let arg = match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.take(1)?[0]),
            25 => {
                let b = self.take(2)?;
                u64::from(u16::from_be_bytes([b[0], b[1]]))
            }
            26 => {
                let b = self.take(4)?;
                u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            }
            27 => {
                let b = self.take(8)?;
                u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
            }
            28..=30 => return Err(self.err_at(start, K::ReservedAdditionalInfo(info))),
            _ => {
                let kind = if major == 7 {
                    K::UnexpectedBreak
                } else {
                    K::IndefiniteLength
                };
                return Err(self.err_at(start, kind));
            }
        };
        // Major 7 uses info 24–27 for simple values and floats, not for sized integers.
        if major != 7 {
            let minimal = match info {
                24 => arg >= 24,
                25 => arg > 0xff,
                26 => arg > 0xffff,
                27 => arg > 0xffff_ffff,
                _ => true,
            };
            if !minimal {
                let what = match major {
                    0 | 1 => "integer",
                    2 | 3 => "string length",
                    4 => "list length",
                    5 => "map length",
                    _ => "tag",
                };
                return Err(self.err_at(start, K::NonMinimal(what)));
            }
        }
        Ok(Head { major, info, arg })
    }

    /// Checks a declared count against the bytes left: every item takes at least one byte.
    fn bounded_len(&self, start: usize, n: u64, bytes_per_item: u64) -> Result<usize, DecodeError> {
        match n.checked_mul(bytes_per_item) {
            Some(need) if need <= self.remaining() as u64 => Ok(n as usize),
            _ => Err(self.err_at(start, K::LengthExceedsInput(n))),
        }
    }

    fn text_body(&mut self, start: usize, len: u64) -> Result<&'a str, DecodeError> {
        let len = self.bounded_len(start, len, 1)?;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).map_err(|_| self.err_at(start, K::InvalidUtf8))
    }

    /// Reads one complete item.
    pub fn value(&mut self) -> Result<Value, DecodeError> {
        let start = self.pos;
        let h = self.head()?;
        match h.major {
            0 => Ok(Value::Integer(i128::from(h.arg))),
            1 => Ok(Value::Integer(-1 - i128::from(h.arg))),
            2 => {
                let len = self.bounded_len(start, h.arg, 1)?;
                Ok(Value::Bytes(self.take(len)?.to_vec()))
            }
            3 => Ok(Value::String(self.text_body(start, h.arg)?.to_owned())),
            4 => {
                let n = self.bounded_len(start, h.arg, 1)?;
                self.enter(start)?;
                let mut items = Vec::with_capacity(n.min(PREALLOCATE));
                for _ in 0..n {
                    items.push(self.value()?);
                }
                self.depth -= 1;
                Ok(Value::List(items))
            }
            5 => {
                let n = self.bounded_len(start, h.arg, 2)?;
                self.enter(start)?;
                let mut entries: Vec<(MapKey, Value)> = Vec::with_capacity(n.min(PREALLOCATE));
                for _ in 0..n {
                    let key_start = self.pos;
                    let key = self.map_key()?;
                    if let Some((prev, _)) = entries.last() {
                        match prev.order(key.as_bytes()) {
                            Ordering::Less => {}
                            Ordering::Equal => {
                                return Err(self.err_at(key_start, K::DuplicateMapKey(key.into())));
                            }
                            Ordering::Greater => {
                                return Err(self.err_at(key_start, K::MapKeyOrder(key.into())));
                            }
                        }
                    }
                    let key = MapKey::new(key);
                    let v = self.value()?;
                    entries.push((key, v));
                }
                self.depth -= 1;
                Ok(Value::Map(Map::from_sorted(entries)))
            }
            6 => {
                if h.arg != 42 {
                    return Err(self.err_at(start, K::UnsupportedTag(h.arg)));
                }
                self.link_body().map(Value::Link)
            }
            _ => self.simple(start, &h),
        }
    }

    fn enter(&mut self, start: usize) -> Result<(), DecodeError> {
        if self.depth >= self.max_depth {
            return Err(self.err_at(start, K::TooDeep(self.max_depth)));
        }
        self.depth += 1;
        Ok(())
    }

    /// Reads a map key, which must be a text string.
    fn map_key(&mut self) -> Result<&'a str, DecodeError> {
        let start = self.pos;
        let h = self.head()?;
        if h.major != 3 {
            return Err(self.err_at(start, K::MapKeyNotString));
        }
        self.text_body(start, h.arg)
    }

    /// The content of tag 42: a byte string holding 0x00 then a binary CID.
    fn link_body(&mut self) -> Result<Link, DecodeError> {
        let start = self.pos;
        let h = self.head()?;
        if h.major != 2 {
            return Err(self.err_at(start, K::InvalidLink("tag 42 must wrap a byte string")));
        }
        let len = self.bounded_len(start, h.arg, 1)?;
        let bytes = self.take(len)?;
        match bytes.split_first() {
            Some((0, cid)) => {
                Link::from_bytes(cid).map_err(|e| self.err_at(start, K::InvalidLink(e)))
            }
            _ => Err(self.err_at(start, K::InvalidLink("missing the 0x00 multibase prefix"))),
        }
    }

    fn simple(&mut self, start: usize, h: &Head) -> Result<Value, DecodeError> {
        match h.info {
            20 => Ok(Value::Bool(false)),
            21 => Ok(Value::Bool(true)),
            22 => Ok(Value::Null),
            25 | 26 => Err(self.err_at(start, K::FloatNotDouble)),
            27 if h.arg == (-0.0f64).to_bits() => Err(self.err_at(start, K::NegativeZero)),
            27 => Float::new(f64::from_bits(h.arg))
                .map(Value::Float)
                .ok_or_else(|| self.err_at(start, K::NonFiniteFloat)),
            24 => Err(self.err_at(start, K::UnsupportedSimple(h.arg as u8))),
            other => Err(self.err_at(start, K::UnsupportedSimple(other))),
        }
    }

    /// Reads a map head and returns its entry count (for callers walking an envelope by hand).
    pub fn map_len(&mut self) -> Result<usize, DecodeError> {
        let start = self.pos;
        let h = self.head()?;
        if h.major != 5 {
            return Err(self.err_at(start, K::MapKeyNotString));
        }
        self.bounded_len(start, h.arg, 2)
    }

    /// Reads a text string (for callers walking an envelope by hand).
    pub fn text(&mut self) -> Result<&'a str, DecodeError> {
        self.map_key()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(hex_str: &str) -> K {
        let bytes = hex::decode(hex_str).expect("hex");
        decode(&bytes).expect_err(hex_str).kind
    }

    #[test]
    fn refuses_each_rule() {
        assert_eq!(kind("1801"), K::NonMinimal("integer"));
        assert_eq!(kind("190005"), K::NonMinimal("integer"));
        assert_eq!(kind("7801"), K::NonMinimal("string length"));
        assert_eq!(kind("b801"), K::NonMinimal("map length"));
        assert_eq!(kind("9800"), K::NonMinimal("list length"));
        assert_eq!(kind("d9002a4100"), K::NonMinimal("tag"));
        assert_eq!(kind("bf"), K::IndefiniteLength);
        assert_eq!(kind("5f"), K::IndefiniteLength);
        assert_eq!(kind("ff"), K::UnexpectedBreak);
        assert_eq!(kind("1c"), K::ReservedAdditionalInfo(28));
        assert_eq!(kind("0000"), K::TrailingData);
        assert_eq!(kind("62ffff"), K::InvalidUtf8);
        assert_eq!(kind("a10100"), K::MapKeyNotString);
        assert_eq!(kind("a2616201616100"), K::MapKeyOrder("a".into()));
        assert_eq!(kind("a262616101616200"), K::MapKeyOrder("b".into()));
        assert_eq!(kind("a2616100616100"), K::DuplicateMapKey("a".into()));
        assert_eq!(kind("c100"), K::UnsupportedTag(1));
        assert_eq!(
            kind("d82a00"),
            K::InvalidLink("tag 42 must wrap a byte string")
        );
        assert_eq!(
            kind("d82a4101"),
            K::InvalidLink("missing the 0x00 multibase prefix")
        );
        assert_eq!(kind("f93c00"), K::FloatNotDouble);
        assert_eq!(kind("fa3f800000"), K::FloatNotDouble);
        assert_eq!(kind("fb7ff8000000000000"), K::NonFiniteFloat);
        assert_eq!(kind("fb7ff0000000000000"), K::NonFiniteFloat);
        assert_eq!(kind("fb8000000000000000"), K::NegativeZero);
        assert_eq!(kind("f7"), K::UnsupportedSimple(23));
        assert_eq!(kind("f820"), K::UnsupportedSimple(32));
        assert_eq!(
            kind("9b00ffffffffffffff"),
            K::LengthExceedsInput(0x00ff_ffff_ffff_ffff)
        );
        assert_eq!(kind("6361"), K::LengthExceedsInput(3));
        assert_eq!(kind(""), K::UnexpectedEnd);
    }

    #[test]
    fn depth_is_bounded_without_recursing_past_the_limit() {
        let deep = vec![0x81; 100_000];
        let err = decode(&deep).expect_err("too deep");
        assert_eq!(err.kind, K::TooDeep(DEFAULT_MAX_DEPTH));
        let mut ok = vec![0x81; 3];
        ok.push(0x00);
        assert!(decode_with_depth(&ok, 3).is_ok());
        assert_eq!(
            decode_with_depth(&ok, 2).expect_err("limit").kind,
            K::TooDeep(2)
        );
    }

    #[test]
    fn integer_extremes() {
        assert_eq!(
            decode(&hex::decode("1bffffffffffffffff").expect("hex")),
            Ok(Value::Integer(super::super::INTEGER_MAX))
        );
        assert_eq!(
            decode(&hex::decode("3bffffffffffffffff").expect("hex")),
            Ok(Value::Integer(super::super::INTEGER_MIN))
        );
    }
}
