//! Explanations a person can act on: pubgrub's derivation tree, told in Cairn's words, with the
//! constraint syntax people write, where each fact came from, and a `hint:` at the end.

use std::collections::BTreeSet;
use std::ops::Bound;

use cairn_protocol::version::{Constraint, Version};
use pubgrub::{
    DefaultStringReporter, DerivationTree, Derived, External, Map, Ranges, ReportFormatter,
    Reporter as _, Term,
};

use super::{Candidate, Pkg, ranges};

type Tree = DerivationTree<Pkg, Ranges<Version>, String>;
type Ext = External<Pkg, Ranges<Version>, String>;
type Terms = Map<Pkg, Term<Ranges<Version>>>;

/// What the explainer knows about each alias: its candidates (best first) and their origin.
pub(crate) trait Facts {
    /// The candidates of `alias`, best first; empty when unknown.
    fn candidates_of(&self, alias: &str) -> Vec<Candidate>;
    /// Where `alias`'s facts come from.
    fn origin_of(&self, alias: &str) -> String;
    /// Where the requirements' aliases are looked up (the curator index).
    fn index(&self) -> String;
    /// Versions of `alias` the source leaves out, with why.
    fn left_out_of(&self, alias: &str) -> Vec<(Version, String)>;
    /// Whether the index has `alias` at all (it may still admit no version).
    fn is_alias(&self, alias: &str) -> bool;
    /// The constraint on `dep` as written by `pkg` at every known version in `set`, when they
    /// all wrote the same one.
    fn declared(&self, pkg: &Pkg, set: &Ranges<Version>, dep: &Pkg) -> Option<Constraint>;
}

/// The report for a failed resolution: prose, then one or more `hint:` lines.
pub(crate) fn report(tree: Tree, facts: &dyn Facts) -> String {
    let hints = hints(&tree, facts);
    let tree = collapse(tree, facts);
    let formatter = Words {
        facts,
        named_origin: std::cell::RefCell::default(),
    };
    let mut text = DefaultStringReporter::report_with_formatter(&tree, &formatter);
    text = format!("cannot resolve against {}:\n{text}", facts.index());
    for h in hints {
        text.push_str("\nhint: ");
        text.push_str(&h);
    }
    text
}

/// `pkg` with `text` (a version list or constraint) after the alias and before the scope.
fn named(pkg: &Pkg, text: &str) -> String {
    match pkg {
        Pkg::Root => "your requirements".to_owned(),
        Pkg::Dep { scope, alias } if scope.is_empty() => format!("{alias} {text}"),
        Pkg::Dep { scope, alias } => format!("{alias} {text} (private to {})", scope.join(" → ")),
    }
}

struct Words<'a> {
    facts: &'a dyn Facts,
    /// Aliases whose origin the report has already named: it is said once per package.
    named_origin: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

impl Words<'_> {
    /// Where `alias`'s facts come from, the first time the report mentions it; then nothing.
    fn first_origin(&self, alias: &str) -> Option<String> {
        self.named_origin
            .borrow_mut()
            .insert(alias.to_owned())
            .then(|| self.facts.origin_of(alias))
    }

    /// `pkg` restricted to `set`, naming the known versions when there are few.
    fn subject(&self, pkg: &Pkg, set: &Ranges<Version>) -> String {
        let Pkg::Dep { alias, .. } = pkg else {
            return "your requirements".to_owned();
        };
        let known: Vec<String> = self
            .facts
            .candidates_of(alias)
            .iter()
            .rev()
            .filter(|c| set.contains(&c.version))
            .map(|c| c.version.to_string())
            .collect();
        let text = match known.as_slice() {
            [one] => one.clone(),
            [a, b] => format!("{a} and {b}"),
            [a, b, c] => format!("{a}, {b} and {c}"),
            _ => set_text(set),
        };
        named(pkg, &text)
    }

    /// The constraint as its author wrote it when that is exactly `dep_set`, else `dep_set`
    /// in the same syntax.
    fn written(
        &self,
        pkg: &Pkg,
        set: &Ranges<Version>,
        dep: &Pkg,
        dep_set: &Ranges<Version>,
    ) -> String {
        match self.facts.declared(pkg, set, dep) {
            Some(c) if ranges(&c) == *dep_set => c.to_string(),
            _ => set_text(dep_set),
        }
    }

    fn external(&self, e: &Ext) -> String {
        match e {
            External::NotRoot(..) => "resolution starts from your requirements".to_owned(),
            External::NoVersions(pkg, set) => {
                let Pkg::Dep { alias, .. } = pkg else {
                    return "your requirements cannot be met".to_owned();
                };
                let all = self.facts.candidates_of(alias);
                if !self.facts.is_alias(alias) {
                    return format!("`{alias}` is not an alias in {}", self.facts.index());
                }
                let yanked: Vec<String> = all
                    .iter()
                    .filter(|c| c.yanked && set.contains(&c.version))
                    .map(|c| c.version.to_string())
                    .collect();
                let available: Vec<String> = all
                    .iter()
                    .filter(|c| !c.yanked)
                    .map(|c| c.version.to_string())
                    .collect();
                let mut have = format!(
                    "available: {}",
                    if available.is_empty() {
                        "none".to_owned()
                    } else {
                        available.join(", ")
                    }
                );
                if !yanked.is_empty() {
                    have.push_str("; yanked: ");
                    have.push_str(&yanked.join(", "));
                }
                let place = self
                    .first_origin(alias)
                    .map_or_else(String::new, |o| format!(" in {o}"));
                format!(
                    "no version of {} is available{place} ({have})",
                    named(pkg, &format!("matching {}", set_text(set))),
                )
            }
            External::FromDependencyOf(Pkg::Root, set, dep, dep_set) => {
                format!(
                    "you require {}",
                    named(dep, &self.written(&Pkg::Root, set, dep, dep_set))
                )
            }
            External::FromDependencyOf(pkg, set, dep, dep_set) => {
                let per = match pkg {
                    Pkg::Dep { alias, .. } => self
                        .first_origin(alias)
                        .map_or_else(String::new, |o| format!(" (per {o})")),
                    Pkg::Root => String::new(),
                };
                format!(
                    "{}{per} depends on {}",
                    self.subject(pkg, set),
                    named(dep, &self.written(pkg, set, dep, dep_set))
                )
            }
            External::Custom(pkg, set, why) => {
                format!("{} cannot be used: {why}", self.subject(pkg, set))
            }
        }
    }

    fn terms(&self, terms: &Terms) -> String {
        let mut list: Vec<_> = terms.iter().collect();
        list.sort_by(|a, b| a.0.cmp(b.0));
        match list.as_slice() {
            [] => "no set of versions satisfies every requirement".to_owned(),
            [(Pkg::Root, Term::Positive(_))] => "your requirements cannot all be met".to_owned(),
            [(pkg, Term::Positive(set))] => format!("{} cannot be used", self.subject(pkg, set)),
            [(pkg, Term::Negative(set))] => {
                format!("{} is needed", named(pkg, &set_text(set)))
            }
            // A conclusion, not a stated fact: no origin.
            [(p1, Term::Positive(r1)), (p2, Term::Negative(r2))]
            | [(p2, Term::Negative(r2)), (p1, Term::Positive(r1))] => {
                let what = named(p2, &set_text(r2));
                if **p1 == Pkg::Root {
                    format!("you need {what}")
                } else {
                    format!("{} needs {what}", self.subject(p1, r1))
                }
            }
            many => {
                let parts: Vec<String> = many
                    .iter()
                    .map(|(p, t)| match t {
                        Term::Positive(set) => self.subject(p, set),
                        Term::Negative(set) => named(p, &format!("outside {}", set_text(set))),
                    })
                    .collect();
                format!("{} cannot be used together", and_list(&parts))
            }
        }
    }
}

impl ReportFormatter<Pkg, Ranges<Version>, String> for Words<'_> {
    type Output = String;

    fn format_external(&self, e: &Ext) -> String {
        self.external(e)
    }

    fn format_terms(&self, terms: &Terms) -> String {
        self.terms(terms)
    }

    fn explain_both_external(&self, e1: &Ext, e2: &Ext, now: &Terms) -> String {
        format!(
            "Because {} and {}, {}.",
            self.external(e1),
            self.external(e2),
            self.terms(now)
        )
    }

    fn explain_both_ref(
        &self,
        id1: usize,
        d1: &Derived<Pkg, Ranges<Version>, String>,
        id2: usize,
        d2: &Derived<Pkg, Ranges<Version>, String>,
        now: &Terms,
    ) -> String {
        format!(
            "Because {} ({id1}) and {} ({id2}), {}.",
            self.terms(&d1.terms),
            self.terms(&d2.terms),
            self.terms(now)
        )
    }

    fn explain_ref_and_external(
        &self,
        id: usize,
        d: &Derived<Pkg, Ranges<Version>, String>,
        e: &Ext,
        now: &Terms,
    ) -> String {
        format!(
            "Because {} ({id}) and {}, {}.",
            self.terms(&d.terms),
            self.external(e),
            self.terms(now)
        )
    }

    fn and_explain_external(&self, e: &Ext, now: &Terms) -> String {
        format!("And because {}, {}.", self.external(e), self.terms(now))
    }

    fn and_explain_ref(
        &self,
        id: usize,
        d: &Derived<Pkg, Ranges<Version>, String>,
        now: &Terms,
    ) -> String {
        format!(
            "And because {} ({id}), {}.",
            self.terms(&d.terms),
            self.terms(now)
        )
    }

    fn and_explain_prior_and_external(&self, prior: &Ext, e: &Ext, now: &Terms) -> String {
        format!(
            "And because {} and {}, {}.",
            self.external(prior),
            self.external(e),
            self.terms(now)
        )
    }
}

/// A version set in the constraint syntax people write (04-versions.md), where it has one.
pub(crate) fn set_text(set: &Ranges<Version>) -> String {
    let parts: Vec<String> = set
        .iter()
        .map(|(lo, hi)| match (lo, hi) {
            (Bound::Unbounded, Bound::Unbounded) => "*".to_owned(),
            (Bound::Included(a), Bound::Included(b)) if a == b => a.to_string(),
            (Bound::Included(a), Bound::Unbounded) => format!(">={a}"),
            (Bound::Excluded(a), Bound::Unbounded) => format!("above {a}"),
            (Bound::Unbounded, Bound::Excluded(b)) => format!("<{}", upper_text(b)),
            (Bound::Unbounded, Bound::Included(b)) => format!("up to {b}"),
            (Bound::Included(a), Bound::Excluded(b)) => {
                let caret: Option<Constraint> = format!("^{a}").parse().ok();
                if caret.is_some_and(|c| ranges(&c).iter().eq(std::iter::once((lo, hi)))) {
                    format!("^{a}")
                } else {
                    format!(">={a} <{}", upper_text(b))
                }
            }
            (Bound::Excluded(a), Bound::Excluded(b)) => {
                format!("above {a} and <{}", upper_text(b))
            }
            (Bound::Excluded(a), Bound::Included(b)) => format!("above {a} up to {b}"),
            (Bound::Included(a), Bound::Included(b)) => format!(">={a} up to {b}"),
        })
        .collect();
    if parts.is_empty() {
        "with requirements that admit no version together".to_owned()
    } else {
        parts.join(" or ")
    }
}

/// `x-0` (the lowest version of base `x`) is written `x`: `<x` means exactly that.
fn upper_text(b: &Version) -> String {
    let key = b.key();
    match key.strip_suffix("-0") {
        Some(base) if !base.contains('-') => base.to_owned(),
        _ => b.to_string(),
    }
}

fn and_list(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// What the person could do, from the facts the explanation rests on.
fn hints(tree: &Tree, facts: &dyn Facts) -> Vec<String> {
    let mut externals = Vec::new();
    collect(tree, &mut externals);
    let mut hints = Vec::new();
    let mut seen = BTreeSet::new();
    let mut required: Map<Pkg, usize> = Map::default();
    for e in &externals {
        match e {
            // A set that starts just above a version is pubgrub ruling out "any other
            // version" after trying one; only whole ranges say something to act on.
            External::NoVersions(Pkg::Dep { .. }, set)
                if set.iter().any(|(lo, _)| matches!(lo, Bound::Excluded(_))) => {}
            External::NoVersions(pkg @ Pkg::Dep { alias, .. }, set) => {
                if !seen.insert(alias.to_string()) {
                    continue;
                }
                let all = facts.candidates_of(alias);
                if !facts.is_alias(alias) {
                    hints.push(format!(
                        "`{alias}` is missing from {}: ask its curator to add it (`cairn curate add`), or resolve against an index that has it",
                        facts.index()
                    ));
                } else if let Some((v, why)) = facts
                    .left_out_of(alias)
                    .into_iter()
                    .filter(|(v, _)| set.contains(v))
                    .max_by(|a, b| a.0.priority_cmp(&b.0))
                {
                    hints.push(format!(
                        "{} would fit, but {} leaves it out: {why}; ask its curator, or change the constraint",
                        named(pkg, &v.to_string()),
                        facts.index()
                    ));
                } else if let Some(y) = all.iter().find(|c| c.yanked && set.contains(&c.version)) {
                    hints.push(format!(
                        "{} would fit but was yanked by its publisher; ask for a new release, or change the constraint",
                        named(pkg, &y.version.to_string())
                    ));
                } else if let Some(best) = all.iter().find(|c| !c.yanked) {
                    hints.push(format!(
                        "the newest usable version is {}; change the constraint on {pkg} to admit it, or ask for a release that matches",
                        named(pkg, &best.version.to_string()),
                    ));
                }
            }
            External::FromDependencyOf(_, _, dep, _) => {
                *required.entry(dep.clone()).or_default() += 1;
            }
            External::Custom(pkg @ Pkg::Dep { .. }, set, _) => hints.push(format!(
                "{} needs another version of its own package, and one scope holds one version: require another version of {pkg}",
                named(pkg, &set_text(set))
            )),
            _ => {}
        }
    }
    if hints.is_empty() {
        let mut contested: Vec<(&Pkg, &usize)> = required.iter().filter(|(_, n)| **n > 1).collect();
        contested.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        match contested.first() {
            Some((Pkg::Dep { scope, alias }, _)) if !scope.is_empty() => hints.push(format!(
                "inside the private scope of {}, `{alias}` must have one version that every constraint on it admits: relax one of them",
                scope.join(" → ")
            )),
            Some((pkg, _)) => hints.push(format!(
                "the constraints on {pkg} above cannot all hold at once: relax one of them, or mark one dependency on it `private` so it resolves in its own scope"
            )),
            None => hints.push(
                "relax one of the constraints named above, or ask the curator for versions that fit together"
                    .to_owned(),
            ),
        }
    }
    hints
}

/// Whether a "no versions" fact is noise: pubgrub ruling out the other versions of a package
/// after trying one. Kept: unknown aliases, sets holding a yanked release, whole ranges.
fn is_noise(e: &Ext, facts: &dyn Facts) -> bool {
    let External::NoVersions(Pkg::Dep { alias, .. }, set) = e else {
        return false;
    };
    let all = facts.candidates_of(alias);
    facts.is_alias(alias)
        && !all.iter().any(|c| c.yanked && set.contains(&c.version))
        && set.iter().any(|(lo, _)| matches!(lo, Bound::Excluded(_)))
}

/// Like pubgrub's `collapse_no_versions`, but only for the noise above: a derived node with a
/// noise cause becomes its other cause, widened to cover the ruled-out versions.
fn collapse(tree: Tree, facts: &dyn Facts) -> Tree {
    let DerivationTree::Derived(mut d) = tree else {
        return tree;
    };
    let c1 = collapse(d.cause1.as_ref().clone(), facts);
    let c2 = collapse(d.cause2.as_ref().clone(), facts);
    let merged = match (&c1, &c2) {
        (DerivationTree::External(e @ External::NoVersions(p, r)), other)
        | (other, DerivationTree::External(e @ External::NoVersions(p, r)))
            if is_noise(e, facts) =>
        {
            merge(other, p, r)
        }
        _ => None,
    };
    if let Some(m) = merged {
        return m;
    }
    d.cause1 = std::sync::Arc::new(c1);
    d.cause2 = std::sync::Arc::new(c2);
    DerivationTree::Derived(d)
}

fn merge(other: &Tree, pkg: &Pkg, set: &Ranges<Version>) -> Option<Tree> {
    match other {
        DerivationTree::External(External::FromDependencyOf(p1, r1, p2, r2)) => {
            Some(DerivationTree::External(if p1 == pkg {
                External::FromDependencyOf(p1.clone(), r1.union(set), p2.clone(), r2.clone())
            } else {
                External::FromDependencyOf(p1.clone(), r1.clone(), p2.clone(), r2.union(set))
            }))
        }
        DerivationTree::Derived(_) => Some(other.clone()),
        DerivationTree::External(_) => None,
    }
}

fn collect<'t>(tree: &'t Tree, out: &mut Vec<&'t Ext>) {
    match tree {
        DerivationTree::External(e) => out.push(e),
        DerivationTree::Derived(d) => {
            collect(&d.cause1, out);
            collect(&d.cause2, out);
        }
    }
}

#[cfg(test)]
mod set_text_tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().expect("version")
    }

    #[test]
    fn every_interval_reads_without_solver_markers() {
        let two_lowest = Version::lowest_with_base(&[2]);
        let sets = [
            Ranges::from_range_bounds((
                Bound::Excluded(v("1.3.2")),
                Bound::Excluded(two_lowest.clone()),
            )),
            Ranges::from_range_bounds((Bound::Excluded(v("1.3.2")), Bound::Included(v("1.4")))),
            Ranges::from_range_bounds((Bound::Included(v("1.0")), Bound::Included(v("1.4")))),
            Ranges::from_range_bounds((Bound::Included(v("1.0")), Bound::Excluded(v("1.3.2"))))
                .union(&Ranges::from_range_bounds((
                    Bound::Excluded(v("1.3.2")),
                    Bound::Excluded(two_lowest),
                ))),
        ];
        let texts: Vec<String> = sets.iter().map(set_text).collect();
        for t in &texts {
            assert!(
                !t.contains("-0") && !t.contains("excluded") && !t.contains("included"),
                "{t}"
            );
        }
        assert_eq!(texts[0], "above 1.3.2 and <2");
        assert_eq!(texts[3], ">=1.0 <1.3.2 or above 1.3.2 and <2");
    }
}
