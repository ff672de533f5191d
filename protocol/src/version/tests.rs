//! Hand-written expectations from DESIGN §3 and semver, independent of the implementation.

use std::cmp::Ordering;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use super::*;

fn v(s: &str) -> Version {
    s.parse()
        .unwrap_or_else(|e| panic!("`{s}` should parse: {e}"))
}

fn c(s: &str) -> Constraint {
    s.parse()
        .unwrap_or_else(|e| panic!("`{s}` should parse: {e}"))
}

fn hash_of(x: &Version) -> u64 {
    let mut h = DefaultHasher::new();
    x.hash(&mut h);
    h.finish()
}

// ---- DESIGN §3, each stated example ----

#[test]
fn design_trailing_zeros_are_ignored_for_equality_but_kept_for_printing() {
    assert_eq!(v("1.2-beta"), v("1.2.0.0-beta"));
    assert_eq!(hash_of(&v("1.2-beta")), hash_of(&v("1.2.0.0-beta")));
    assert_ne!(v("1.2-beta"), v("1.2-beta.0.0"));
    assert_eq!(v("1.2.0.0-beta").to_string(), "1.2.0.0-beta");
    assert_eq!(v("1.2").to_string(), "1.2");
    assert_eq!(
        v("1.2"),
        v("1.2.0"),
        "publishing one when the other exists is a republish"
    );
}

#[test]
fn design_any_release_beats_any_prerelease_then_higher_wins() {
    assert_eq!(v("1.1.0").priority_cmp(&v("1.2.0-beta")), Ordering::Greater);
    assert_eq!(v("1.2.0-beta").priority_cmp(&v("1.1.0")), Ordering::Less);
    assert_eq!(v("0.0.1").priority_cmp(&v("99.0-rc.1")), Ordering::Greater);
    assert_eq!(v("1.2").priority_cmp(&v("1.3")), Ordering::Less);
    assert_eq!(
        v("1.2-rc.2").priority_cmp(&v("1.2-rc.1")),
        Ordering::Greater
    );
    assert_eq!(v("1.2").priority_cmp(&v("1.2.0")), Ordering::Equal);
    // Semver order itself still puts the pre-release above the lower release.
    assert!(v("1.2.0-beta") > v("1.1.0"));
}

#[test]
fn design_upper_bound_excludes_prereleases_of_its_base_unless_lower_shares_it() {
    assert!(!c("<2.0").matches(&v("2.0-alpha")));
    assert!(!c("^1.2").matches(&v("2.0.0-alpha")));
    assert!(!c(">=1.0 <2.0").matches(&v("2.0-rc.1")));
    assert!(c(">=2.0-alpha <2.0").matches(&v("2.0-beta")));
    assert!(c(">=2.0.0-alpha <2").matches(&v("2.0-alpha")));
    assert!(!c(">=2.0-beta <2.0").matches(&v("2.0-alpha")));
    // An upper bound that is itself a pre-release uses plain order.
    assert!(c("<2.0-rc").matches(&v("2.0-beta")));
    assert!(!c("<2.0-rc").matches(&v("2.0-rc")));
    // Pre-releases of other bases inside the range match: membership is pure.
    assert!(c(">=1.0 <2.0").matches(&v("1.5-beta")));
    assert!(c("^1.0.0").matches(&v("1.2.0-beta")));
}

#[test]
fn design_caret_holds_the_first_non_zero_field() {
    assert!(c("^1.2.3").matches(&v("1.9")));
    assert!(c("^1.2.3").matches(&v("1.2.3")));
    assert!(!c("^1.2.3").matches(&v("2.0")));
    assert!(!c("^1.2.3").matches(&v("1.2.2")));
    assert!(c("^0.2.3").matches(&v("0.2.9")));
    assert!(!c("^0.2.3").matches(&v("0.3.0")));
    assert!(c("^0.0.3").matches(&v("0.0.3.1")));
    assert!(!c("^0.0.3").matches(&v("0.0.4")));
    for bad in ["^0", "^0.0", "^0.0-rc", "^0.0.0.0"] {
        assert_eq!(
            bad.parse::<Constraint>().map_err(|e| e.code()),
            Err("constraint-caret-zero"),
            "{bad}"
        );
    }
}

#[test]
fn design_spaces_after_operators_are_optional_and_printing_is_canonical() {
    for (input, canonical) in [
        (">= 1.0", ">=1.0"),
        (">=1.0", ">=1.0"),
        ("< 2", "<2"),
        ("^ 1.2", "^1.2"),
        (">= 1.0 < 2.0", ">=1.0 <2.0"),
        (">=1.0  <2.0", ">=1.0 <2.0"),
        ("*", "*"),
        ("1.2.0", "1.2.0"),
    ] {
        assert_eq!(c(input).to_string(), canonical, "{input}");
    }
}

#[test]
fn design_foreign_syntax_is_refused() {
    for bad in [
        "~1.2",
        ">1.2",
        "<=1.2",
        "=1.2",
        ">=1.0, <2.0",
        "1.0 || 2.0",
        "~>1.2",
        "^1.2 || ^2",
    ] {
        let err = bad.parse::<Constraint>().expect_err(bad);
        assert_eq!(err.code(), "constraint-foreign-operator", "{bad}: {err}");
    }
}

// ---- further cases ----

#[test]
fn version_parse_refusals() {
    let cases: &[(&str, &str)] = &[
        ("", "version-empty"),
        ("1.0+build", "version-build-metadata"),
        ("1.0-rc+b", "version-build-metadata"),
        ("01.0", "version-leading-zero"),
        ("1.00", "version-leading-zero"),
        ("1.0-01", "version-leading-zero"),
        ("18446744073709551616", "version-number-too-large"),
        ("1.99999999999999999999", "version-number-too-large"),
        ("1.0-18446744073709551616", "version-number-too-large"),
        ("1..2", "version-empty-field"),
        ("1.", "version-empty-field"),
        (".1", "version-empty-field"),
        ("1-", "version-empty-field"),
        ("1-a..b", "version-empty-field"),
        ("1-a.", "version-empty-field"),
        ("v1.0", "version-not-numeric"),
        ("1.x", "version-not-numeric"),
        ("1.0 ", "version-not-numeric"),
        (" 1.0", "version-not-numeric"),
        ("1.0-a_b", "version-invalid-char"),
        ("1.0-ä", "version-invalid-char"),
        ("-1", "version-empty-field"),
    ];
    for (input, code) in cases {
        assert_eq!(
            input.parse::<Version>().map_err(|e| e.code()),
            Err(*code),
            "{input:?}"
        );
    }
    let long = format!("1.{}", "1".repeat(127));
    assert_eq!(
        long.parse::<Version>().map_err(|e| e.code()),
        Err("version-too-long")
    );
    let at_limit = format!("1-{}", "a".repeat(126));
    assert_eq!(at_limit.len(), 128);
    assert!(at_limit.parse::<Version>().is_ok());
}

#[test]
fn version_parse_accepts_and_prints_as_written() {
    for s in [
        "0",
        "1",
        "0.0",
        "1.2.3",
        "1.2.3.4.5.6",
        "18446744073709551615",
        "1.0-alpha",
        "1.0-alpha.1",
        "1.0-0",
        "1.0-0a",
        "1.0-alpha-beta",
        "1.0--",
        "1.0-x.7.z.92",
        "10.20.30",
        "0.0.0.0.0",
        "1.0-0.3.7",
        "2-rc",
    ] {
        assert_eq!(v(s).to_string(), s);
    }
}

#[test]
fn semver_precedence_chain() {
    // semver.org §11, with our extensions.
    let chain = [
        "0",
        "0.0.0.1",
        "0.1",
        "1.0.0-0",
        "1.0.0-1",
        "1.0.0-2",
        "1.0.0-10",
        "1.0.0-a",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.0.1-rc",
        "1.0.0.1",
        "1.0.1",
        "1.1",
        "1.1.0.0.1",
        "1.10",
        "2",
        "2.0.1-x",
        "10",
        "18446744073709551615",
    ];
    for (i, a) in chain.iter().enumerate() {
        for (j, b) in chain.iter().enumerate() {
            assert_eq!(v(a).cmp(&v(b)), i.cmp(&j), "{a} vs {b}");
        }
    }
}

#[test]
fn equality_ignores_only_numeric_trailing_zeros() {
    let equal = [
        ("1", "1.0"),
        ("1", "1.0.0.0.0"),
        ("0", "0.0"),
        ("1.2-rc.1", "1.2.0-rc.1"),
        ("2.0.0-0", "2-0"),
    ];
    for (a, b) in equal {
        assert_eq!(v(a), v(b), "{a} = {b}");
        assert_eq!(v(a).cmp(&v(b)), Ordering::Equal);
        assert_eq!(hash_of(&v(a)), hash_of(&v(b)));
    }
    let different = [
        ("1-rc", "1-rc.0"),
        ("1.0.1", "1.0.0.1"),
        ("1-a", "1-A"),
        ("1-1", "1-01a"),
    ];
    for (a, b) in different {
        assert_ne!(v(a), v(b), "{a} != {b}");
    }
}

#[test]
fn constraint_membership_table() {
    let table: &[(&str, &str, bool)] = &[
        ("*", "0", true),
        ("*", "1.0-alpha", true),
        ("1.2", "1.2.0", true),
        ("1.2", "1.2.0.0", true),
        ("1.2", "1.2.1", false),
        ("1.2", "1.2-rc", false),
        ("1.2-rc", "1.2.0-rc", true),
        (">=1.2", "1.2", true),
        (">=1.2", "1.1.99", false),
        (">=1.2", "1.2-rc", false),
        (">=1.2", "100", true),
        (">=1.2-rc", "1.2-rc.1", true),
        ("<2", "1.99", true),
        ("<2", "2", false),
        ("<2", "2.0.0-0", false),
        ("<2", "1.99-rc", true),
        ("<2", "0", true),
        ("<2.0.1", "2.0.1-rc", false),
        ("<2.0.1", "2.0.0", true),
        ("<2.0.1", "2.0.0.1", true),
        (">=1 <2", "1", true),
        (">=1 <2", "1.0-rc", false),
        (">=1 <2", "2", false),
        (">=1 <2", "1.9.9.9", true),
        (">=1-rc <1", "1-rc", true),
        (">=1-rc <1", "1-rc.2", true),
        (">=1-rc <1", "1", false),
        (">=1-rc <1", "1-beta", false),
        (">=1.5 <2", "2-alpha", false),
        (">=2-alpha <2.0.0", "2-beta", true),
        (">=1.2.3 <1.2.4", "1.2.3.5", true),
        (">=1.2.3 <1.2.4", "1.2.4-rc", false),
        ("^1", "1", true),
        ("^1", "1.99", true),
        ("^1", "2", false),
        ("^1", "0.9", false),
        ("^1.2", "1.2-rc", false),
        ("^1.2-rc", "1.2-rc", true),
        ("^1.2-rc", "1.2", true),
        ("^1.2-rc", "1.3-rc", true),
        ("^0.1", "0.1.5", true),
        ("^0.1", "0.2", false),
        ("^0.1", "0.1.0-rc", false),
        ("^0.0.0.1", "0.0.0.1.5", true),
        ("^0.0.0.1", "0.0.0.2", false),
        ("^18446744073709551615", "18446744073709551615.7", true),
        ("^18446744073709551615", "18446744073709551614", false),
        ("<0.0.1", "0", true),
        ("<0.0.1", "0.0.1-rc", false),
        (">=0", "0.0.0-0", false),
    ];
    for (con, ver, expected) in table {
        assert_eq!(c(con).matches(&v(ver)), *expected, "{con} ∋ {ver}");
    }
}

#[test]
fn constraint_parse_refusals() {
    let cases: &[(&str, &str)] = &[
        ("", "constraint-empty"),
        (" 1.0", "constraint-whitespace"),
        ("1.0 ", "constraint-whitespace"),
        (">=2 <1", "constraint-empty-range"),
        (">=1 <1.0.0", "constraint-empty-range"),
        (">=1.0 <1.0-rc", "constraint-empty-range"),
        (">=1 2", "constraint-syntax"),
        (">=1<2", "constraint-syntax"),
        ("latest", "constraint-syntax"),
        ("^", "constraint-syntax"),
        (">=", "constraint-syntax"),
        ("^01", "constraint-invalid-version"),
        ("1.0+meta", "constraint-invalid-version"),
        (">=1.0 <2.0+b", "constraint-invalid-version"),
        ("1.0-rc >=2", "constraint-whitespace"),
        ("!=1.0", "constraint-foreign-operator"),
        ("== 1.0", "constraint-foreign-operator"),
    ];
    for (input, code) in cases {
        assert_eq!(
            input.parse::<Constraint>().map_err(|e| e.code()),
            Err(*code),
            "{input:?}"
        );
    }
    let long = format!(">={} <2", "1.".repeat(150));
    assert_eq!(
        long.parse::<Constraint>().map_err(|e| e.code()),
        Err("constraint-too-long")
    );
}

#[test]
fn serde_goes_through_the_parsers() {
    let v: Version = serde_json::from_str("\"1.2.0\"").expect("version");
    assert_eq!(serde_json::to_string(&v).expect("ser"), "\"1.2.0\"");
    assert!(serde_json::from_str::<Version>("\"01\"").is_err());
    let c: Constraint = serde_json::from_str("\">= 1 < 2\"").expect("constraint");
    assert_eq!(serde_json::to_string(&c).expect("ser"), "\">=1 <2\"");
    assert!(serde_json::from_str::<Constraint>("\"~1\"").is_err());
}

#[test]
fn key_is_the_equality_class() {
    for (a, b) in [("1.2.0-rc.1", "1.2-rc.1"), ("0.0", "0"), ("1.0.0", "1")] {
        assert_eq!(v(a).key(), v(b).key());
        assert_eq!(
            v(a).key(),
            v(b).to_string().parse::<Version>().expect("v").key()
        );
    }
    assert_eq!(v("1.2.0-rc.1").key(), "1.2-rc.1");
    assert_eq!(v("0.0.0").key(), "0");
    assert_ne!(v("1-rc").key(), v("1-rc.0").key());
    assert_eq!(v(&v("1.2.0.0-beta").key()), v("1.2.0.0-beta"));
}

#[test]
fn written_text_equals_the_display_form() {
    for text in [
        "0",
        "1",
        "1.0.0",
        "10.200.3000",
        "1.2-rc.1",
        "1.0.0-alpha.beta.10",
        "18446744073709551615.9",
        "0.0.0-0",
        "2-x.18446744073709551615",
    ] {
        let v: Version = text.parse().expect(text);
        let mut out = Vec::new();
        v.write_text(&mut out);
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            v.to_string(),
            "{text}"
        );
        assert_eq!(v.text_len(), v.to_string().len(), "{text}");
    }
}
