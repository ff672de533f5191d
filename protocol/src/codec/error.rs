use thiserror::Error;

/// Why a byte string is not strict DAG-CBOR, and where.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid DAG-CBOR at byte {offset}: {kind}")]
pub struct DecodeError {
    /// Offset of the first byte of the offending item.
    pub offset: usize,
    /// The rule that was broken.
    pub kind: DecodeErrorKind,
}

/// The DAG-CBOR rule a block broke. Each rule has its own variant so that tests and test vectors
/// can name the exact refusal (`spec/01-encoding.md` lists them with their vector names).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended inside an item.
    #[error("unexpected end of input")]
    UnexpectedEnd,
    /// Bytes follow the single top-level item.
    #[error("trailing bytes after the top-level item")]
    TrailingData,
    /// An integer, length or tag argument was not in its shortest form.
    #[error("{0} is not encoded in its shortest form")]
    NonMinimal(&'static str),
    /// Indefinite-length strings, lists and maps are forbidden.
    #[error("indefinite-length items are not allowed")]
    IndefiniteLength,
    /// Additional information 28–30 is reserved by CBOR.
    #[error("reserved additional-information value {0}")]
    ReservedAdditionalInfo(u8),
    /// A lone "break" byte (0xff).
    #[error("unexpected break byte")]
    UnexpectedBreak,
    /// A text string that is not UTF-8.
    #[error("text string is not valid UTF-8")]
    InvalidUtf8,
    /// A map key that is not a text string.
    #[error("map key is not a text string")]
    MapKeyNotString,
    /// Map keys out of DAG-CBOR order (length first, then bytewise).
    #[error("map key {0:?} is out of canonical order (shorter keys first, then bytewise)")]
    MapKeyOrder(String),
    /// The same map key twice.
    #[error("map key {0:?} appears twice")]
    DuplicateMapKey(String),
    /// A tag other than 42.
    #[error("tag {0} is not allowed (only tag 42, links)")]
    UnsupportedTag(u64),
    /// Tag 42 over something that is not a 0x00-prefixed, valid binary CID.
    #[error("invalid link: {0}")]
    InvalidLink(&'static str),
    /// Half- or single-precision floats.
    #[error("float is not 64-bit (DAG-CBOR floats are always 64-bit)")]
    FloatNotDouble,
    /// NaN or an infinity.
    #[error("NaN and infinities are not allowed")]
    NonFiniteFloat,
    /// −0.0: DAG-CBOR has one zero, encoded as 0.0.
    #[error("negative zero is not allowed (DAG-CBOR encodes every zero as 0.0)")]
    NegativeZero,
    /// `undefined` or any other simple value than false, true and null.
    #[error("simple value {0} is not allowed (only false, true, null)")]
    UnsupportedSimple(u8),
    /// Nesting deeper than the decoder's limit.
    #[error("nesting is deeper than {0} levels")]
    TooDeep(usize),
    /// A length that claims more bytes or items than remain in the input.
    #[error("declared length {0} exceeds the remaining input")]
    LengthExceedsInput(u64),
}

impl DecodeErrorKind {
    /// The stable error code used in test vectors (`spec/01-encoding.md` lists them).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            DecodeErrorKind::UnexpectedEnd => "cbor-unexpected-end",
            DecodeErrorKind::TrailingData => "cbor-trailing-data",
            DecodeErrorKind::NonMinimal(_) => "cbor-non-minimal",
            DecodeErrorKind::IndefiniteLength => "cbor-indefinite-length",
            DecodeErrorKind::ReservedAdditionalInfo(_) => "cbor-reserved-info",
            DecodeErrorKind::UnexpectedBreak => "cbor-unexpected-break",
            DecodeErrorKind::InvalidUtf8 => "cbor-invalid-utf8",
            DecodeErrorKind::MapKeyNotString => "cbor-map-key-not-string",
            DecodeErrorKind::MapKeyOrder(_) => "cbor-map-key-order",
            DecodeErrorKind::DuplicateMapKey(_) => "cbor-duplicate-map-key",
            DecodeErrorKind::UnsupportedTag(_) => "cbor-unsupported-tag",
            DecodeErrorKind::InvalidLink(_) => "cbor-invalid-link",
            DecodeErrorKind::FloatNotDouble => "cbor-float-not-double",
            DecodeErrorKind::NonFiniteFloat => "cbor-non-finite-float",
            DecodeErrorKind::NegativeZero => "cbor-negative-zero",
            DecodeErrorKind::UnsupportedSimple(_) => "cbor-unsupported-simple",
            DecodeErrorKind::TooDeep(_) => "cbor-too-deep",
            DecodeErrorKind::LengthExceedsInput(_) => "cbor-length-exceeds-input",
        }
    }
}
