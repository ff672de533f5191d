//! The codec against the IPLD ecosystem's crates (`serde_ipld_dagcbor` with strict decoding,
//! and the `cid` crate): every input this codec accepts reads the same and re-encodes to the
//! same bytes there, and every CID converts both ways without loss. The same check is the
//! `differential` fuzz target.

use cairn_protocol::cid::Cid;
use cairn_protocol::codec::{self, Link, Value};
use cairn_protocol::fuzzing::{REFERENCE_MAX_DEPTH, differential, link_round_trip};
use proptest::prelude::*;

use crate::properties::{nest, value};

/// An edit of an encoding: overwrite, insert or delete one byte, or cut the tail.
#[derive(Debug, Clone)]
enum Edit {
    Set(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Delete(prop::sample::Index),
    Truncate(prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<prop::sample::Index>().prop_map(Edit::Delete),
        any::<prop::sample::Index>().prop_map(Edit::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    if bytes.is_empty() {
        return;
    }
    match edit {
        Edit::Set(i, b) => {
            let i = i.index(bytes.len());
            bytes[i] = *b;
        }
        Edit::Insert(i, b) => bytes.insert(i.index(bytes.len() + 1), *b),
        Edit::Delete(i) => {
            bytes.remove(i.index(bytes.len()));
        }
        Edit::Truncate(i) => bytes.truncate(i.index(bytes.len())),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn what_we_encode_reads_the_same_in_serde_ipld_dagcbor(v in value(true, true)) {
        let bytes = codec::encode(&v);
        prop_assert!(codec::decode(&bytes).is_ok());
        differential(&bytes);
    }

    #[test]
    fn edited_encodings_we_accept_read_the_same_in_serde_ipld_dagcbor(
        v in value(true, true),
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let mut bytes = codec::encode(&v);
        for e in &edits {
            apply(&mut bytes, e);
        }
        differential(&bytes);
    }

    #[test]
    fn arbitrary_bytes_we_accept_read_the_same_in_serde_ipld_dagcbor(
        bytes in prop::collection::vec(any::<u8>(), 0..48),
    ) {
        differential(&bytes);
    }

    #[test]
    fn cairn_cids_convert_to_the_cid_crate_and_back(raw in any::<bool>(), data in prop::collection::vec(any::<u8>(), 0..64)) {
        let cid = if raw { Cid::of_raw(&data) } else { Cid::of_record(&data) };
        let link = Link::from(cid);
        link_round_trip(&link);
        let theirs = ipld_core::cid::Cid::try_from(link.as_bytes()).expect("cid crate");
        prop_assert_eq!(Cid::from_bytes(&theirs.to_bytes()), Ok(cid));
        prop_assert_eq!(theirs.to_string().parse::<Cid>(), Ok(cid));
    }

    #[test]
    fn cidv0_links_print_in_base58btc_as_the_cid_crate_does(digest in any::<[u8; 32]>()) {
        let link = Link::from_bytes(&[&[0x12, 0x20][..], &digest].concat()).expect("v0");
        link_round_trip(&link);
        let text = link.to_string();
        prop_assert!(text.starts_with("Qm") && text.len() == 46, "{}", text);
        differential(&codec::encode(&Value::Link(link)));
    }
}

/// The nesting limits: both read 127 levels alike; from 128 the reference refuses while this
/// codec reads on to its own limit of 256; from 257 both refuse.
#[test]
fn nesting_limits_differ_only_between_the_two_documented_depths() {
    let nest = |depth: usize| codec::encode(&nest(depth));
    let theirs = |b: &[u8]| serde_ipld_dagcbor::from_slice::<ipld_core::ipld::Ipld>(b).is_ok();
    let below = nest(REFERENCE_MAX_DEPTH - 1);
    assert!(codec::decode(&below).is_ok() && theirs(&below));
    differential(&below);
    for depth in [REFERENCE_MAX_DEPTH, codec::DEFAULT_MAX_DEPTH] {
        let bytes = nest(depth);
        assert!(codec::decode(&bytes).is_ok() && !theirs(&bytes), "{depth}");
        differential(&bytes);
    }
    let beyond = nest(codec::DEFAULT_MAX_DEPTH + 1);
    assert!(codec::decode(&beyond).is_err() && !theirs(&beyond));
}
