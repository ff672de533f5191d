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

/// Any bytes, against the IPLD ecosystem's own crates: whatever this codec accepts,
/// `serde_ipld_dagcbor` (strict decoding) accepts too, to the same value, and re-encodes to the
/// same bytes; every link converts to the `cid` crate's `Cid` and back without loss, in bytes
/// and in text. The one exception is nesting of [`REFERENCE_MAX_DEPTH`] containers or more,
/// which the reference refuses and this codec reads up to [`codec::DEFAULT_MAX_DEPTH`].
#[cfg(feature = "test-utils")]
pub fn differential(data: &[u8]) {
    use ipld_core::ipld::Ipld;
    let Ok(ours) = codec::decode(data) else {
        return;
    };
    let theirs: Ipld = match serde_ipld_dagcbor::from_slice(data) {
        Ok(theirs) => theirs,
        // The reference's own nesting limit, below this codec's (and DAG-CBOR sets none).
        Err(serde_ipld_dagcbor::DecodeError::DepthOverflow { .. })
            if depth(&ours) >= REFERENCE_MAX_DEPTH =>
        {
            return;
        }
        Err(e) => panic!(
            "serde_ipld_dagcbor refuses bytes this codec accepts ({e}): {}",
            hex(data)
        ),
    };
    assert!(
        to_ipld(&ours) == theirs,
        "the two decoders read different values from {}",
        hex(data)
    );
    let again = serde_ipld_dagcbor::to_vec(&theirs).expect("serde_ipld_dagcbor encodes");
    assert_eq!(again, data, "serde_ipld_dagcbor re-encodes differently");
}

/// A link's binary form and text, both ways through the `cid` crate.
#[cfg(feature = "test-utils")]
pub fn link_round_trip(link: &codec::Link) {
    use ipld_core::cid::Cid as Reference;
    let theirs = Reference::try_from(link.as_bytes())
        .unwrap_or_else(|e| panic!("the cid crate refuses {link}: {e}"));
    assert_eq!(theirs.to_bytes(), link.as_bytes(), "binary form of {link}");
    assert_eq!(theirs.to_string(), link.to_string(), "text of {link}");
    let parsed: Reference = link
        .to_string()
        .parse()
        .expect("the cid crate parses our text");
    assert_eq!(parsed, theirs);
    assert_eq!(
        theirs.to_string().parse::<codec::Link>().as_ref(),
        Ok(link),
        "our parser reads the cid crate's text"
    );
}

/// `serde_ipld_dagcbor` refuses containers nested this deep.
#[cfg(feature = "test-utils")]
pub const REFERENCE_MAX_DEPTH: usize = 128;

#[cfg(feature = "test-utils")]
fn depth(v: &codec::Value) -> usize {
    match v {
        codec::Value::List(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        codec::Value::Map(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(feature = "test-utils")]
fn to_ipld(v: &codec::Value) -> ipld_core::ipld::Ipld {
    use codec::Value;
    use ipld_core::ipld::Ipld;
    match v {
        Value::Null => Ipld::Null,
        Value::Bool(b) => Ipld::Bool(*b),
        Value::Integer(n) => Ipld::Integer(*n),
        Value::Float(f) => Ipld::Float(f.get()),
        Value::Bytes(b) => Ipld::Bytes(b.clone()),
        Value::String(s) => Ipld::String(s.clone()),
        Value::List(items) => Ipld::List(items.iter().map(to_ipld).collect()),
        Value::Map(m) => Ipld::Map(m.iter().map(|(k, v)| (k.to_owned(), to_ipld(v))).collect()),
        Value::Link(l) => {
            link_round_trip(l);
            Ipld::Link(ipld_core::cid::Cid::try_from(l.as_bytes()).expect("checked above"))
        }
    }
}

#[cfg(feature = "test-utils")]
fn hex(data: &[u8]) -> String {
    use std::fmt::Write as _;
    data.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Any bytes: the envelope fast path and the general reader give the same verdict and value.
pub fn envelope(data: &[u8]) {
    crate::signed::fast_path_agrees(data);
}

/// Any bytes, read as blocks (each a 2-byte big-endian length, then its bytes; the first is the
/// root): loading a map never panics, and a map that loads holds its entries in the one
/// canonical shape, so rebuilding it from its entries gives the same root, and looking each key
/// up without loading finds the same value. Whether the map loaded.
pub fn hamt(data: &[u8]) -> bool {
    use crate::cid::Cid;
    use crate::hamt::Hamt;
    let mut blocks = std::collections::HashMap::new();
    let mut root = None;
    let mut rest = data;
    while let [a, b, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*a, *b])).min(tail.len());
        let (block, after) = tail.split_at(len);
        let cid = Cid::of_record(block);
        root.get_or_insert(cid);
        blocks.insert(cid, block.to_vec());
        rest = after;
    }
    let Some(root) = root else {
        return false;
    };
    let fetch = |cid: &Cid| -> Result<Option<Vec<u8>>, crate::cid::BlockFault> {
        Ok(blocks.get(cid).cloned())
    };
    let Ok(map) = Hamt::<codec::Value>::load(root, &fetch) else {
        return false;
    };
    let mut rebuilt = Hamt::<codec::Value>::new();
    for (key, value) in map.entries() {
        rebuilt
            .insert(key, value.clone())
            .expect("a loaded entry inserts");
        let found = Hamt::<codec::Value>::lookup(root, key, &fetch).expect("lookup");
        assert_eq!(found.as_ref(), Some(value), "lookup of `{key}`");
    }
    assert_eq!(rebuilt.root_cid(), root, "the loaded map is not canonical");
    true
}

/// Runs `check` on every file of the seed corpus `corpus/<target>` under `fuzz_dir` (the
/// repository's `fuzz/`), as the corpus replay tests do; how many files it ran.
///
/// # Panics
/// When the folder cannot be read, or holds fewer than `min` files.
#[cfg(feature = "test-utils")]
pub fn replay(fuzz_dir: &std::path::Path, target: &str, min: usize, check: fn(&[u8])) -> usize {
    let dir = fuzz_dir.join("corpus").join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut n = 0;
    for entry in entries {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read corpus file");
        check(&data);
        n += 1;
    }
    assert!(n >= min, "corpus `{target}` has only {n} files");
    n
}
