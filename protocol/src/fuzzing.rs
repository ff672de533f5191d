//! Entry points shared by the `cargo fuzz` targets (`fuzz/`) and the corpus replay test, so that
//! CI checks exactly what the fuzzer checks. Each panics when an invariant breaks.

use crate::codec;
use crate::profile;
use crate::version::{Constraint, Version};

/// Any bytes: decoding never panics; whatever decodes re-encodes to the same bytes; the record
/// profile accepts a subset of what the codec accepts.
pub fn decode(data: &[u8]) {
    let codec_ok = match codec::decode(data) {
        Ok(v) => {
            assert_eq!(
                codec::encode(&v),
                data,
                "decoded value must re-encode identically"
            );
            true
        }
        Err(_) => false,
    };
    if let Ok(v) = profile::decode_record(data) {
        assert!(codec_ok, "the profile accepted bytes the codec refuses");
        assert_eq!(profile::encode_record(&v).as_deref(), Ok(data));
    }
}

/// Any text: parsing never panics; a parsed version prints and re-parses to an equal version.
pub fn version(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = s.parse::<Version>() {
        let printed = v.to_string();
        assert_eq!(printed, s, "a version prints as written");
        let again: Version = printed.parse().expect("printed version re-parses");
        assert_eq!(again, v);
        assert_eq!(again.cmp(&v), std::cmp::Ordering::Equal);
    }
}

/// Any text: parsing never panics; a parsed constraint prints canonically and re-parses equal.
pub fn constraint(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = s.parse::<Constraint>() {
        let printed = c.to_string();
        let again: Constraint = printed.parse().expect("canonical text re-parses");
        assert_eq!(again, c);
        assert_eq!(
            again.to_string(),
            printed,
            "canonical printing is a fixed point"
        );
    }
}
