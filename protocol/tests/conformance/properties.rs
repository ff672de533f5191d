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
    }
    prop::strategy::Union::new(options).boxed()
}

fn value(floats: bool, foreign_links: bool) -> impl Strategy<Value = Value> {
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
    fn profile_accepts_only_values_without_floats_or_foreign_links(v in value(true, true)) {
        let bytes = codec::encode(&v);
        let has_forbidden = contains_forbidden(&v);
        prop_assert_eq!(profile::decode_record(&bytes).is_err(), has_forbidden && bytes.len() <= profile::MAX_BLOCK_SIZE || bytes.len() > profile::MAX_BLOCK_SIZE || depth(&v) > profile::MAX_DEPTH);
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
    fn key_acceptance_matches_decode_encode(mut bytes in any::<[u8; 32]>(), low_y in any::<bool>(), y in 0u8..40) {
        if low_y {
            // Also land often on the edge cases: tiny y and y just below 2^255.
            bytes = [0; 32];
            bytes[0] = y;
        }
        let point = curve25519_dalek::edwards::CompressedEdwardsY(bytes).decompress();
        let expected = point.is_some_and(|p| p.compress().to_bytes() == bytes && !p.is_small_order());
        prop_assert_eq!(cairn_protocol::sign::PublicKey::from_bytes(&bytes).is_ok(), expected);
    }
}

fn contains_forbidden(v: &Value) -> bool {
    match v {
        Value::Float(_) => true,
        Value::Link(l) => Cid::try_from(l).is_err(),
        Value::List(items) => items.iter().any(contains_forbidden),
        Value::Map(m) => m.iter().any(|(_, v)| contains_forbidden(v)),
        _ => false,
    }
}

fn depth(v: &Value) -> usize {
    match v {
        Value::List(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Map(m) => 1 + m.iter().map(|(_, v)| depth(v)).max().unwrap_or(0),
        _ => 0,
    }
}
