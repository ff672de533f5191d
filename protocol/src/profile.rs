//! Cairn's record profile: the rules every record block obeys on top of strict DAG-CBOR.
//!
//! Goals: a record block has exactly one valid byte form, stays within fixed size and depth
//! limits, links only to Cairn CIDs, and carries only the fields its type defines. Each refusal
//! is a distinct [`RecordError`] variant with a stable code for test vectors.
//!
//! Non-goals: the meaning of fields (that is each record type's job, through [`Fields`]).
//!
//! Normative text: `spec/01-encoding.md`, section "Record profile".

use std::fmt::Write as _;

use thiserror::Error;

use crate::cid::{Cid, CidError};
use crate::codec::{self, DecodeError, DecodeErrorKind, Map, Value};

/// The largest record block, in bytes (1 MiB).
pub const MAX_BLOCK_SIZE: usize = 1 << 20;
/// The deepest nesting of lists and maps in a record (the top-level map is depth 1).
pub const MAX_DEPTH: usize = 32;

/// Why a block is not a valid Cairn record.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Not strict DAG-CBOR.
    #[error(transparent)]
    Codec(DecodeError),
    /// Larger than [`MAX_BLOCK_SIZE`].
    #[error(
        "record is {size} bytes; the limit is {limit} bytes (split large state into linked blocks)"
    )]
    TooLarge {
        /// Size of the block.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("record nests deeper than {0} levels")]
    TooDeep(usize),
    /// A float anywhere in the record.
    #[error("float at `{0}`: records carry no floats (use integers or strings)")]
    Float(String),
    /// A CIDv0 link.
    #[error("CIDv0 link at `{0}`: records link with CIDv1 only")]
    CidV0Link(String),
    /// A CIDv1 link that is not a Cairn CID (other hash or codec).
    #[error("link at `{path}` is not a Cairn CID: {reason}")]
    ForeignLink {
        /// Where.
        path: String,
        /// Why.
        reason: CidError,
    },
    /// Bytes that decode but do not re-encode to themselves.
    #[error("record does not re-encode to the same bytes")]
    NotCanonical,
    /// A field the record type does not define.
    #[error("unknown field `{field}` in {record}")]
    UnknownField {
        /// The record type.
        record: &'static str,
        /// The field.
        field: String,
    },
    /// A required field is absent.
    #[error("missing field `{field}` in {record}")]
    MissingField {
        /// The record type.
        record: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A field of the wrong kind.
    #[error("field `{field}` in {record} must be {expected}, found {found}")]
    WrongType {
        /// The record type.
        record: &'static str,
        /// The field.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
        /// What it was.
        found: &'static str,
    },
    /// A field whose value breaks a rule of its record type.
    #[error("field `{field}` in {record} is invalid: {reason}")]
    InvalidField {
        /// The record type.
        record: &'static str,
        /// The field.
        field: &'static str,
        /// The rule it broke.
        reason: String,
    },
}

impl RecordError {
    /// The field a schema error is about, if any.
    #[must_use]
    pub fn field(&self) -> Option<&str> {
        match self {
            RecordError::UnknownField { field, .. } => Some(field),
            RecordError::MissingField { field, .. }
            | RecordError::WrongType { field, .. }
            | RecordError::InvalidField { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The stable error code used in test vectors (`spec/01-encoding.md` lists them).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            RecordError::Codec(e) => e.kind.code(),
            RecordError::TooLarge { .. } => "record-too-large",
            RecordError::TooDeep(_) => "record-too-deep",
            RecordError::Float(_) => "record-float",
            RecordError::CidV0Link(_) => "record-cid-v0-link",
            RecordError::ForeignLink { .. } => "record-foreign-link",
            RecordError::NotCanonical => "record-not-canonical",
            RecordError::UnknownField { .. } => "record-unknown-field",
            RecordError::MissingField { .. } => "record-missing-field",
            RecordError::WrongType { .. } => "record-wrong-type",
            RecordError::InvalidField { .. } => "record-invalid-field",
        }
    }
}

impl From<DecodeError> for RecordError {
    fn from(e: DecodeError) -> RecordError {
        match e.kind {
            DecodeErrorKind::TooDeep(limit) => RecordError::TooDeep(limit),
            _ => RecordError::Codec(e),
        }
    }
}

/// Decodes a record block: size limit, strict DAG-CBOR with the record depth limit, the profile
/// rules, and the canonical re-encoding check.
pub fn decode_record(bytes: &[u8]) -> Result<Value, RecordError> {
    if bytes.len() > MAX_BLOCK_SIZE {
        return Err(RecordError::TooLarge {
            size: bytes.len(),
            limit: MAX_BLOCK_SIZE,
        });
    }
    let value = codec::decode_with_depth(bytes, MAX_DEPTH)?;
    check_value(&value)?;
    // The strict decoder accepts exactly the canonical encoding of what it decodes (every rule
    // in spec/01 fixes the one allowed form), so re-encoding cannot differ. That equivalence is
    // proven by the `codec_mutations_are_refused_or_canonical` property test and the `decode`
    // fuzz target; debug builds re-check it on every record.
    if cfg!(debug_assertions) && codec::encode(&value) != bytes {
        return Err(RecordError::NotCanonical);
    }
    Ok(value)
}

/// Encodes a record value, checking the profile so that Cairn never writes a block it would refuse.
pub fn encode_record(value: &Value) -> Result<Vec<u8>, RecordError> {
    check_value(value)?;
    let depth = depth_of(value);
    if depth > MAX_DEPTH {
        return Err(RecordError::TooDeep(MAX_DEPTH));
    }
    let bytes = codec::encode(value);
    if bytes.len() > MAX_BLOCK_SIZE {
        return Err(RecordError::TooLarge {
            size: bytes.len(),
            limit: MAX_BLOCK_SIZE,
        });
    }
    Ok(bytes)
}

fn depth_of(value: &Value) -> usize {
    match value {
        Value::List(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
        Value::Map(m) => 1 + m.values().map(depth_of).max().unwrap_or(0),
        _ => 0,
    }
}

/// Checks the value-level rules (no floats, Cairn CIDs only), naming the path of a violation.
pub fn check_value(value: &Value) -> Result<(), RecordError> {
    // A fast pass without path bookkeeping; the path is only worked out for the error.
    if is_clean(value) {
        return Ok(());
    }
    let mut path = String::new();
    check_at(value, &mut path)
}

fn is_clean(value: &Value) -> bool {
    match value {
        Value::Float(_) => false,
        Value::Link(link) => Cid::try_from(link).is_ok(),
        Value::List(items) => items.iter().all(is_clean),
        Value::Map(m) => m.values().all(is_clean),
        _ => true,
    }
}

fn check_at(value: &Value, path: &mut String) -> Result<(), RecordError> {
    let shown = |p: &str| {
        if p.is_empty() {
            ".".to_owned()
        } else {
            p.to_owned()
        }
    };
    match value {
        Value::Float(_) => Err(RecordError::Float(shown(path))),
        Value::Link(link) => match Cid::try_from(link) {
            Ok(_) => Ok(()),
            Err(CidError::Version0) => Err(RecordError::CidV0Link(shown(path))),
            Err(reason) => Err(RecordError::ForeignLink {
                path: shown(path),
                reason,
            }),
        },
        Value::List(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                let _ = write!(path, "[{i}]"); // Writing to a String cannot fail.
                check_at(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Map(m) => {
            for (k, v) in m.iter() {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                check_at(v, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Reads the fields of one record map, refusing unknown fields when finished.
#[derive(Debug)]
pub struct Fields {
    record: &'static str,
    map: Map,
}

impl Fields {
    /// Starts reading `value`, which must be a map.
    pub fn new(record: &'static str, value: Value) -> Result<Fields, RecordError> {
        match value {
            Value::Map(map) => Ok(Fields { record, map }),
            other => Err(RecordError::WrongType {
                record,
                field: ".",
                expected: "map",
                found: other.kind_name(),
            }),
        }
    }

    /// The record type name used in errors.
    #[must_use]
    pub fn record(&self) -> &'static str {
        self.record
    }

    /// Takes a required field.
    pub fn required(&mut self, field: &'static str) -> Result<Value, RecordError> {
        self.map.remove(field).ok_or(RecordError::MissingField {
            record: self.record,
            field,
        })
    }

    /// Takes an optional field.
    pub fn optional(&mut self, field: &'static str) -> Option<Value> {
        self.map.remove(field)
    }

    /// A type error for `field`.
    #[must_use]
    pub fn wrong_type(
        &self,
        field: &'static str,
        expected: &'static str,
        found: &Value,
    ) -> RecordError {
        RecordError::WrongType {
            record: self.record,
            field,
            expected,
            found: found.kind_name(),
        }
    }

    /// An invalid-value error for `field`.
    #[must_use]
    pub fn invalid(&self, field: &'static str, reason: impl Into<String>) -> RecordError {
        RecordError::InvalidField {
            record: self.record,
            field,
            reason: reason.into(),
        }
    }

    /// Takes a required byte string of exactly `N` bytes.
    pub fn bytes_exact<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], RecordError> {
        match self.required(field)? {
            Value::Bytes(b) => <[u8; N]>::try_from(b.as_slice())
                .map_err(|_| self.invalid(field, format!("must be {N} bytes, found {}", b.len()))),
            other => Err(self.wrong_type(field, "bytes", &other)),
        }
    }

    /// Takes a required list.
    pub fn list(&mut self, field: &'static str) -> Result<Vec<Value>, RecordError> {
        match self.required(field)? {
            Value::List(items) => Ok(items),
            other => Err(self.wrong_type(field, "list", &other)),
        }
    }

    /// Takes a required text string.
    pub fn text(&mut self, field: &'static str) -> Result<String, RecordError> {
        match self.required(field)? {
            Value::String(s) => Ok(s),
            other => Err(self.wrong_type(field, "string", &other)),
        }
    }

    /// Takes a required unsigned integer.
    pub fn uint(&mut self, field: &'static str) -> Result<u64, RecordError> {
        match self.required(field)? {
            Value::Integer(i) => {
                u64::try_from(i).map_err(|_| self.invalid(field, "must be a non-negative integer"))
            }
            other => Err(self.wrong_type(field, "integer", &other)),
        }
    }

    /// Takes a required link.
    pub fn link(&mut self, field: &'static str) -> Result<Cid, RecordError> {
        match self.required(field)? {
            // `check_value` already refused every link that is not a Cairn CID.
            Value::Link(l) => Cid::try_from(&l).map_err(|e| self.invalid(field, e.to_string())),
            other => Err(self.wrong_type(field, "link", &other)),
        }
    }

    /// Takes an optional link.
    pub fn optional_link(&mut self, field: &'static str) -> Result<Option<Cid>, RecordError> {
        match self.optional(field) {
            None => Ok(None),
            // `check_value` already refused every link that is not a Cairn CID.
            Some(Value::Link(l)) => Cid::try_from(&l)
                .map(Some)
                .map_err(|e| self.invalid(field, e.to_string())),
            Some(other) => Err(self.wrong_type(field, "link", &other)),
        }
    }

    /// Takes a required list of 1 to `max` items (`what` names them in the error).
    pub fn list_of(
        &mut self,
        field: &'static str,
        max: usize,
        what: &str,
    ) -> Result<Vec<Value>, RecordError> {
        let items = self.list(field)?;
        if items.is_empty() || items.len() > max {
            return Err(self.invalid(field, format!("1 to {max} {what}")));
        }
        Ok(items)
    }

    /// Finishes reading: any field left over is unknown.
    pub fn finish(self) -> Result<(), RecordError> {
        match self.map.into_entries().into_iter().next() {
            None => Ok(()),
            Some((field, _)) => Err(RecordError::UnknownField {
                record: self.record,
                field,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Float, Link};

    fn map(entries: Vec<(&str, Value)>) -> Value {
        Value::Map(
            Map::from_entries(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
            )
            .expect("unique"),
        )
    }

    #[test]
    fn refuses_floats_v0_and_foreign_links_with_paths() {
        let f = map(vec![(
            "a",
            Value::List(vec![Value::Float(Float::new(1.5).expect("finite"))]),
        )]);
        assert_eq!(
            decode_record(&codec::encode(&f)),
            Err(RecordError::Float(".a[0]".into()))
        );
        let mut v0 = vec![0x12, 0x20];
        v0.extend([0; 32]);
        let l = map(vec![("x", Value::Link(Link::from_bytes(&v0).expect("v0")))]);
        assert_eq!(
            decode_record(&codec::encode(&l)),
            Err(RecordError::CidV0Link(".x".into()))
        );
        let sha = map(vec![("x", Value::Link(Link::v1(0x71, 0x12, &[0; 32])))]);
        assert_eq!(
            decode_record(&codec::encode(&sha)).map_err(|e| e.code()),
            Err("record-foreign-link")
        );
        let ok = map(vec![("x", Value::Link(Cid::of_raw(b"").into()))]);
        assert!(decode_record(&codec::encode(&ok)).is_ok());
    }

    #[test]
    fn size_and_depth_limits() {
        let big = Value::Bytes(vec![0; MAX_BLOCK_SIZE]);
        let bytes = codec::encode(&big);
        assert!(matches!(
            decode_record(&bytes),
            Err(RecordError::TooLarge { .. })
        ));
        assert!(matches!(
            encode_record(&big),
            Err(RecordError::TooLarge { .. })
        ));
        let mut deep = Value::Null;
        for _ in 0..=MAX_DEPTH {
            deep = Value::List(vec![deep]);
        }
        assert_eq!(
            decode_record(&codec::encode(&deep)),
            Err(RecordError::TooDeep(MAX_DEPTH))
        );
        assert_eq!(encode_record(&deep), Err(RecordError::TooDeep(MAX_DEPTH)));
    }

    #[test]
    fn fields_refuse_unknown_and_missing() {
        let v = map(vec![("a", Value::Integer(1)), ("zz", Value::Null)]);
        let mut f = Fields::new("test", v).expect("map");
        assert_eq!(f.uint("a"), Ok(1));
        assert!(matches!(
            f.text("b"),
            Err(RecordError::MissingField { field: "b", .. })
        ));
        assert!(
            matches!(f.finish(), Err(RecordError::UnknownField { field, .. }) if field == "zz")
        );
    }
}
