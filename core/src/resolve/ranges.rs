//! Native constraints as pubgrub version sets.
//!
//! A [`Constraint`] is a set of [`Version`]s; pubgrub needs it as a union of intervals over the
//! same total order. Every bound maps exactly, with one subtlety: `<v` for a release `v` leaves
//! out `v`'s own pre-releases (unless the lower bound shares `v`'s base), and `^v` ends below the
//! next base. Both become an exclusive bound at the *lowest* version of that base, `base-0`
//! (numeric `0` is the smallest pre-release identifier, and a shorter pre-release sorts first).
//! `contains` then agrees with [`Constraint::matches`] on every version (property-tested).

use cairn_protocol::version::{Constraint, Version};
use pubgrub::Ranges;

/// The set of versions `c` admits.
#[must_use]
pub fn ranges(c: &Constraint) -> Ranges<Version> {
    match c {
        Constraint::Any => Ranges::full(),
        Constraint::Exact(v) => Ranges::singleton(v.clone()),
        Constraint::AtLeast(v) => Ranges::higher_than(v.clone()),
        Constraint::Below(v) => upper(v, None),
        Constraint::Range(a, b) => Ranges::higher_than(a.clone()).intersection(&upper(b, Some(a))),
        Constraint::Caret(v) => {
            // Parsing guarantees a non-zero field; the caret keeps every field up to it.
            let base = v.base();
            let keep = base
                .iter()
                .position(|&n| n != 0)
                .map_or(base.len(), |i| i + 1);
            let mut next = base[..keep].to_vec();
            // The next base up: bump the last kept field, carrying past fields at u64::MAX.
            while next.last() == Some(&u64::MAX) {
                next.pop();
            }
            let at_least = Ranges::higher_than(v.clone());
            match next.last_mut() {
                Some(last) => {
                    *last += 1;
                    at_least.intersection(&Ranges::strictly_lower_than(lowest_of_base(&next)))
                }
                // Nothing lies above: the set has no upper bound.
                None => at_least,
            }
        }
    }
}

/// Versions below `upper`, leaving out `upper`'s own pre-releases when `upper` is a release and
/// the lower bound (if any) has another base.
fn upper(upper: &Version, lower: Option<&Version>) -> Ranges<Version> {
    if upper.is_prerelease() || lower.is_some_and(|l| l.same_base(upper)) {
        Ranges::strictly_lower_than(upper.clone())
    } else {
        Ranges::strictly_lower_than(lowest_of_base(upper.base()))
    }
}

/// The lowest version whose numeric fields are `base`: `base-0`.
fn lowest_of_base(base: &[u64]) -> Version {
    Version::lowest_with_base(base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(s: &str) -> Version {
        s.parse().expect("version")
    }

    fn version() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(prop_oneof![Just(0u64), Just(1), Just(2), Just(3)], 1..4),
            prop::option::of(prop_oneof![
                Just("0"),
                Just("1"),
                Just("alpha"),
                Just("beta.2"),
                Just("0.0")
            ]),
        )
            .prop_map(|(nums, pre)| {
                let mut s = nums
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(".");
                if let Some(p) = pre {
                    s.push('-');
                    s.push_str(p);
                }
                s
            })
    }

    fn constraint() -> impl Strategy<Value = Constraint> {
        (0..6u8, version(), version()).prop_filter_map("valid constraint", |(k, a, b)| {
            let text = match k {
                0 => "*".to_owned(),
                1 => a,
                2 => format!(">={a}"),
                3 => format!("<{a}"),
                4 => format!(">={a} <{b}"),
                _ => format!("^{a}"),
            };
            text.parse().ok()
        })
    }

    proptest! {
        #[test]
        fn ranges_agree_with_matches(c in constraint(), w in version()) {
            let w = v(&w);
            prop_assert_eq!(ranges(&c).contains(&w), c.matches(&w), "{} on {}", c, w);
        }
    }

    #[test]
    fn the_lowest_version_of_a_base() {
        assert_eq!(lowest_of_base(&[1, 2]), v("1.2-0"));
        assert_eq!(lowest_of_base(&[1, 2]).to_string(), "1.2-0");
        assert_eq!(lowest_of_base(&[]), v("0-0"));
        assert_eq!(lowest_of_base(&[3, 0]), v("3-0"));
        assert!(lowest_of_base(&[1, 2]) < v("1.2-0.0") && v("1.1.99") < lowest_of_base(&[1, 2]));
    }

    #[test]
    fn the_pre_release_edges() {
        let below2: Constraint = "<2.0".parse().expect("c");
        assert!(!ranges(&below2).contains(&v("2.0-alpha")));
        assert!(ranges(&below2).contains(&v("1.9-alpha")));
        let same_base: Constraint = ">=2.0-alpha <2.0".parse().expect("c");
        assert!(ranges(&same_base).contains(&v("2.0-beta")));
        let caret: Constraint = "^1.2".parse().expect("c");
        assert!(ranges(&caret).contains(&v("1.9.9")));
        assert!(!ranges(&caret).contains(&v("2.0-0")));
        let caret0: Constraint = "^0.2.3".parse().expect("c");
        assert!(ranges(&caret0).contains(&v("0.2.9")));
        assert!(!ranges(&caret0).contains(&v("0.3")));
        let huge: Constraint = format!("^{}", u64::MAX).parse().expect("c");
        assert!(ranges(&huge).contains(&v(&format!("{}.5", u64::MAX))));
        let carry: Constraint = format!("^0.{}", u64::MAX).parse().expect("c");
        assert!(ranges(&carry).contains(&v(&format!("0.{}.7", u64::MAX))));
        assert!(!ranges(&carry).contains(&v("1.0")));
    }
}
