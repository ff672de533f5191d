//! Property tests: codec and profile round trips and canonical uniqueness; version order is a
//! total order consistent with equality and hashing; parse(display(x)) == x.

use std::cmp::Ordering;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use cairn_protocol::cid::Cid;
use cairn_protocol::codec::{self, Float, Link, Map, Value};
use cairn_protocol::profile;
use cairn_protocol::version::{Constraint, Version};
use proptest::prelude::*;

fn scalar(floats: bool, foreign_links: bool) -> BoxedStrategy<Value> {
    let mut options: Vec<BoxedStrategy<Value>> = vec![
        Just(Value::Null).boxed(),
        any::<bool>().prop_map(Value::Bool).boxed(),
        (codec::INTEGER_MIN..=codec::INTEGER_MAX)
            .prop_map(Value::Integer)
            .boxed(),
        any::<u64>()
            .prop_map(|n| Value::Integer(i128::from(n)))
            .boxed(),
        prop::collection::vec(any::<u8>(), 0..40)
            .prop_map(Value::Bytes)
            .boxed(),
        ".{0,20}".prop_map(Value::String).boxed(),
        (any::<bool>(), any::<[u8; 32]>())
            .prop_map(|(raw, d)| {
                Value::Link(
                    if raw {
                        Cid::of_raw(&d)
                    } else {
                        Cid::of_record(&d)
                    }
                    .into(),
                )
            })
            .boxed(),
    ];
    if floats {
        options.push(
            any::<f64>()
                .prop_filter_map("finite", Float::new)
                .prop_map(Value::Float)
                .boxed(),
        );
    }
    if foreign_links {
        options.push(
            (any::<u16>(), prop::collection::vec(any::<u8>(), 0..40))
                .prop_map(|(codec, d)| Value::Link(Link::v1(u64::from(codec), 0x12, &d)))
                .boxed(),
        );
        options.push(
            any::<[u8; 32]>()
                .prop_map(|d| {
                    Value::Link(Link::from_bytes(&[&[0x12, 0x20][..], &d].concat()).expect("v0"))
                })
                .boxed(),
        );
    }
    prop::strategy::Union::new(options).boxed()
}

pub(crate) fn value(floats: bool, foreign_links: bool) -> impl Strategy<Value = Value> {
    scalar(floats, foreign_links).prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::List),
            prop::collection::btree_map("[a-z]{0,6}", inner, 0..8).prop_map(|m| {
                Value::Map(
                    Map::from_entries(m.into_iter().collect()).expect("btree keys are unique"),
                )
            }),
        ]
    })
}

/// Valid version texts (at most 128 characters, the version limit).
fn version_text() -> impl Strategy<Value = String> {
    let num = prop_oneof![Just(0u64), 0u64..20, any::<u64>()];
    let ident = prop_oneof![
        num.clone().prop_map(|n| n.to_string()),
        "[a-zA-Z-][a-zA-Z0-9-]{0,6}",
    ];
    (
        prop::collection::vec(num, 1..6),
        prop::collection::vec(ident, 0..3),
    )
        .prop_map(|(nums, pre)| {
            let mut s = nums
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(".");
            if !pre.is_empty() {
                s.push('-');
                s.push_str(&pre.join("."));
            }
            s
        })
        .prop_filter("a version is at most 128 characters", |s| s.len() <= 128)
}

fn hash_of<T: Hash>(x: &T) -> u64 {
    let mut h = DefaultHasher::new();
    x.hash(&mut h);
    h.finish()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn codec_round_trip(v in value(true, true)) {
        let bytes = codec::encode(&v);
        prop_assert_eq!(codec::decode(&bytes), Ok(v));
    }

    #[test]
    fn codec_mutations_are_refused_or_canonical(v in value(true, true), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = codec::encode(&v);
        let i = pos.index(bytes.len());
        bytes[i] = byte;
        // Whatever still decodes must be the one canonical encoding of what it decodes to.
        if let Ok(decoded) = codec::decode(&bytes) {
            prop_assert_eq!(codec::encode(&decoded), bytes);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_decode_only_canonically(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        cairn_protocol::fuzzing::decode(&bytes);
    }

    #[test]
    fn profile_round_trip(v in value(false, false)) {
        let bytes = profile::encode_record(&v).expect("profile value");
        prop_assert_eq!(profile::decode_record(&bytes), Ok(v));
    }

    #[test]
    fn the_profile_refuses_one_planted_float_or_foreign_link_and_names_its_path(
        v in value(false, false),
        kind in 0u8..3,
        turns in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let bytes = profile::encode_record(&v).expect("generated clean");
        prop_assert_eq!(profile::decode_record(&bytes), Ok(v.clone()));
        let leaf = match kind {
            0 => Value::Float(Float::new(0.5).expect("finite")),
            1 => Value::Link(Link::v1(0x70, 0x12, &[7; 32])),
            _ => Value::Link(Link::from_bytes(&[&[0x12, 0x20][..], &[7; 32]].concat()).expect("v0")),
        };
        let mut path = String::new();
        let planted = plant(v, leaf, &turns, &mut path);
        let shown = if path.is_empty() { ".".to_owned() } else { path };
        let expected = match kind {
            0 => profile::RecordError::Float(shown),
            1 => profile::RecordError::ForeignLink {
                path: shown,
                reason: cairn_protocol::cid::CidError::UnsupportedCodec(0x70),
            },
            _ => profile::RecordError::CidV0Link(shown),
        };
        prop_assert_eq!(profile::decode_record(&codec::encode(&planted)), Err(expected));
    }

    #[test]
    fn version_display_parse_round_trip(s in version_text()) {
        let v: Version = s.parse().expect("generated versions are valid");
        prop_assert_eq!(v.to_string(), s.clone());
        prop_assert_eq!(v.to_string().parse::<Version>().expect("reparse"), v);
    }

    #[test]
    fn version_order_is_total_and_consistent(a in version_text(), b in version_text(), c in version_text()) {
        let (a, b, c): (Version, Version, Version) = (a.parse().expect("a"), b.parse().expect("b"), c.parse().expect("c"));
        prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        prop_assert_eq!(a == b, a.cmp(&b) == Ordering::Equal);
        if a == b { prop_assert_eq!(hash_of(&a), hash_of(&b)); }
        if a <= b && b <= c { prop_assert!(a <= c); }
        // priority_cmp is a total order too, and agrees with cmp among releases.
        prop_assert_eq!(a.priority_cmp(&b), b.priority_cmp(&a).reverse());
        if !a.is_prerelease() && !b.is_prerelease() { prop_assert_eq!(a.priority_cmp(&b), a.cmp(&b)); }
    }

    #[test]
    fn trailing_zeros_never_change_identity(s in version_text(), zeros in 1usize..4) {
        let v: Version = s.parse().expect("valid");
        let (num, pre) = match s.split_once('-') { Some((n, p)) => (n.to_owned(), Some(p.to_owned())), None => (s.clone(), None) };
        let padded = format!("{num}{}{}", ".0".repeat(zeros), pre.map(|p| format!("-{p}")).unwrap_or_default());
        prop_assume!(padded.len() <= 128, "the padded text must stay within the version limit");
        let w: Version = padded.parse().expect("padded valid");
        prop_assert_eq!(&w, &v);
        prop_assert_eq!(hash_of(&w), hash_of(&v));
        prop_assert_eq!(w.to_string(), padded);
    }

    #[test]
    fn constraint_display_parse_round_trip(kind in 0u8..6, a in version_text(), b in version_text()) {
        let (va, vb): (Version, Version) = (a.parse().expect("a"), b.parse().expect("b"));
        let text = match kind {
            0 => "*".to_owned(),
            2 => format!(">= {a}"),
            3 => format!("< {b}"),
            4 if va < vb => format!(">= {a}  < {b}"),
            5 if !va.base().is_empty() => format!("^ {a}"),
            _ => a.clone(), // 1, and the cases whose bounds do not fit
        };
        let c: Constraint = text.parse().expect("generated constraints are valid");
        let printed = c.to_string();
        prop_assert_eq!(printed.parse::<Constraint>().expect("reparse"), c.clone());
        prop_assert!(!printed.contains("  ") && !printed.contains(">= ") && !printed.contains("^ "));
        // Membership agrees with the bounds it prints.
        match &c {
            Constraint::AtLeast(x) => prop_assert!(c.matches(x)),
            Constraint::Exact(x) | Constraint::Caret(x) => prop_assert!(c.matches(x)),
            Constraint::Range(x, y) => { prop_assert!(c.matches(x)); prop_assert!(!c.matches(y)); }
            Constraint::Below(y) => prop_assert!(!c.matches(y)),
            Constraint::Any => prop_assert!(c.matches(&va)),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    /// The byte-level key checks agree with decode-then-encode plus the small-order test.
    #[test]
    fn key_acceptance_matches_decode_encode(mut bytes in any::<[u8; 32]>(), edge in 0u8..3, k in 0u8..39, sign in any::<bool>()) {
        // Land often on the edge cases too: tiny y, and y from p − 20 to 2^255 − 1 (the
        // non-canonical encodings of 0..19 and the y ≥ p that do not decode at all).
        match edge {
            0 => {}
            1 => {
                bytes = [0; 32];
                bytes[0] = k;
            }
            _ => {
                bytes = [0xff; 32];
                bytes[0] = 0xd9 + k; // p − 20 = 2^255 − 39 ends in 0xd9.
                bytes[31] = 0x7f;
            }
        }
        if edge != 0 && sign {
            bytes[31] |= 0x80;
        }
        let point = curve25519_dalek::edwards::CompressedEdwardsY(bytes).decompress();
        let expected = point.is_some_and(|p| p.compress().to_bytes() == bytes && !p.is_small_order());
        prop_assert_eq!(cairn_protocol::sign::PublicKey::from_bytes(&bytes).is_ok(), expected);
    }
}

/// Puts `leaf` somewhere inside `v`, following `turns` (an item of a list, an entry of a map;
/// an empty container gets the leaf as its only item), and writes the path the profile's
/// errors use (`.key`, `[i]`) to `path`.
fn plant(v: Value, leaf: Value, turns: &[prop::sample::Index], path: &mut String) -> Value {
    let Some((turn, rest)) = turns.split_first() else {
        return leaf;
    };
    match v {
        Value::List(mut items) => {
            if items.is_empty() {
                path.push_str("[0]");
                return Value::List(vec![leaf]);
            }
            let i = turn.index(items.len());
            let _ = std::fmt::Write::write_fmt(path, format_args!("[{i}]"));
            let item = std::mem::replace(&mut items[i], Value::Null);
            items[i] = plant(item, leaf, rest, path);
            Value::List(items)
        }
        Value::Map(m) => {
            let mut entries = m.into_entries();
            if entries.is_empty() {
                entries.push(("k".to_owned(), Value::Null));
            }
            let i = turn.index(entries.len());
            path.push('.');
            path.push_str(&entries[i].0);
            let item = std::mem::replace(&mut entries[i].1, Value::Null);
            entries[i].1 = plant(item, leaf, rest, path);
            Value::Map(Map::from_entries(entries).expect("keys unchanged"))
        }
        _ => leaf,
    }
}

/// The profile's two bounds, at and just past each.
#[test]
fn the_profile_bounds_hold_exactly_at_their_limits() {
    let deepest = nest(profile::MAX_DEPTH);
    let bytes = profile::encode_record(&deepest).expect("at the depth limit");
    assert_eq!(profile::decode_record(&bytes), Ok(deepest));
    assert_eq!(
        profile::decode_record(&codec::encode(&nest(profile::MAX_DEPTH + 1))),
        Err(profile::RecordError::TooDeep(profile::MAX_DEPTH))
    );
    // A byte string of n ≥ 65,536 bytes has a 5-byte head.
    let largest = Value::Bytes(vec![0; profile::MAX_BLOCK_SIZE - 5]);
    let bytes = profile::encode_record(&largest).expect("at the size limit");
    assert_eq!(bytes.len(), profile::MAX_BLOCK_SIZE);
    assert_eq!(profile::decode_record(&bytes), Ok(largest));
    let over = codec::encode(&Value::Bytes(vec![0; profile::MAX_BLOCK_SIZE - 4]));
    assert!(matches!(
        profile::decode_record(&over),
        Err(profile::RecordError::TooLarge { .. })
    ));
}

/// `null` inside `depth` one-item lists.
pub(crate) fn nest(depth: usize) -> Value {
    let mut v = Value::Null;
    for _ in 0..depth {
        v = Value::List(vec![v]);
    }
    v
}
