//! The resolver against a SAT oracle on random registries (issue 5, item 5).
//!
//! Each generated registry (acyclic or cyclic, with pre-releases, yanks, private dependencies,
//! releases that depend on their own package, and a lock) is encoded as CNF: one variable per
//! (scope, alias, version) over every scope the registry could open, false for a yanked version
//! unless the lock names it for that package, at most one version per alias per scope, the
//! requirements, and `chosen(s, p, v) → one of the versions its dependency admits in the
//! dependency's scope`. batsat (a `MiniSat` port) decides it. The resolver must find a solution
//! exactly when the formula is satisfiable, every solution must satisfy every constraint in the
//! right scope, answers must be deterministic, and removing a dependency must never make a
//! solvable registry unsolvable. A failing case is printed as a complete scenario file, the
//! oracle's answer included, to drop into `test-vectors/resolve/`; every case checks that its
//! scenario file reads back to the same verdict.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

use batsat::{BasicSolver, Lit, SolverInterface, lbool};
use cairn_core::resolve::scenario::{Outcome, Scenario};
use cairn_core::resolve::{
    Candidate, Dependency, MemorySource, Pkg, Resolution, ResolveError, resolve,
};
use cairn_protocol::version::{Constraint, Version};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// How many registries one CI run checks.
const CASES: u32 = 2_000;

const VERSIONS: [&str; 7] = ["1.0", "1.1", "1.2.0-rc.1", "1.2", "2.0-beta", "2.0", "3.0"];
// Permissive ones repeat so that roughly half the registries are solvable.
const CONSTRAINTS: [&str; 12] = [
    "*",
    "*",
    ">=1.0",
    "^1",
    "^1",
    "^2",
    ">=1.1",
    "<2.0",
    ">=1.0 <1.2",
    "1.1",
    ">=2.0-alpha",
    "^3",
];

#[derive(Debug, Clone)]
struct Release {
    alias: usize,
    version: usize,
    yanked: bool,
    /// (alias, constraint, private)
    deps: Vec<(usize, usize, bool)>,
}

#[derive(Debug, Clone)]
struct Registry {
    releases: Vec<Release>,
    root: Vec<(usize, usize)>,
    /// (scope, alias, version): the lock.
    locked: Vec<(ScopePath, usize, usize)>,
}

fn alias(i: usize) -> String {
    format!("p{i}")
}

fn version(i: usize) -> Version {
    VERSIONS[i].parse().expect("version")
}

fn constraint(i: usize) -> Constraint {
    CONSTRAINTS[i].parse().expect("constraint")
}

fn registry() -> impl Strategy<Value = Registry> {
    (2..6usize).prop_flat_map(|n| {
        // Every alias has one to four releases; a dependency may still name a version that
        // does not exist, or a set of constraints no choice satisfies.
        let release = (
            0..VERSIONS.len(),
            prop::bool::weighted(0.15),
            prop::collection::vec(
                (0..n, 0..CONSTRAINTS.len(), prop::bool::weighted(0.2)),
                0..3,
            ),
        );
        // A lock names a version (perhaps yanked, perhaps absent) of a package in the shared
        // scope or in the scope one alias's private dependencies open.
        let lock = (prop::option::of(0..n), 0..n, 0..VERSIONS.len());
        (
            prop::collection::vec(prop::collection::vec(release, 1..5), n..=n),
            prop::collection::vec((0..n, 0..CONSTRAINTS.len()), 1..3),
            prop::collection::vec(lock, 0..3),
        )
            .prop_map(|(per_alias, mut root, locks)| {
                let mut releases = Vec::new();
                for (alias, list) in per_alias.into_iter().enumerate() {
                    let mut seen = std::collections::BTreeSet::new();
                    for (version, yanked, mut deps) in list {
                        // A release names each alias once (its dependencies are a map).
                        let mut named = std::collections::BTreeSet::new();
                        deps.retain(|(d, _, _)| named.insert(*d));
                        // One release per version (`1.0` and `1.0.0` would be one version).
                        if seen.insert(VERSIONS[version]) {
                            releases.push(Release {
                                alias,
                                version,
                                yanked,
                                deps,
                            });
                        }
                    }
                }
                let mut once = std::collections::BTreeSet::new();
                root.retain(|(a, _)| once.insert(*a));
                let mut locked: Vec<(ScopePath, usize, usize)> = Vec::new();
                for (owner, a, v) in locks {
                    let scope: ScopePath = owner.into_iter().collect();
                    if !locked.iter().any(|(s, b, _)| *s == scope && *b == a) {
                        locked.push((scope, a, v));
                    }
                }
                Registry {
                    releases,
                    root,
                    locked,
                }
            })
    })
}

fn source(reg: &Registry, reversed: bool) -> MemorySource {
    let mut s = MemorySource::new("oracle:registry");
    let mut list: Vec<&Release> = reg.releases.iter().collect();
    if reversed {
        list.reverse();
    }
    for r in list {
        let mut c = Candidate::new(version(r.version));
        c.yanked = r.yanked;
        let deps = r
            .deps
            .iter()
            .map(|&(d, c, private)| Dependency {
                alias: alias(d).into(),
                constraint: constraint(c),
                private,
            })
            .collect();
        s.add(&alias(r.alias), c, deps);
    }
    s
}

fn requirements(reg: &Registry) -> Vec<Dependency> {
    reg.root
        .iter()
        .map(|&(a, c)| Dependency {
            alias: alias(a).into(),
            constraint: constraint(c),
            private: false,
        })
        .collect()
}

/// A scope path: aliases, outermost first (spec/12-resolution.md).
type ScopePath = Vec<usize>;

fn pkg(scope: &ScopePath, a: usize) -> Pkg {
    Pkg::Dep {
        scope: scope.iter().map(|&s| alias(s).into()).collect(),
        alias: alias(a).into(),
    }
}

fn lock(reg: &Registry) -> BTreeMap<Pkg, Version> {
    reg.locked
        .iter()
        .map(|(s, a, v)| (pkg(s, *a), version(*v)))
        .collect()
}

/// Whether the lock names release `r` for its package in `scope` (a yanked release is usable
/// there and only there).
fn locked_there(reg: &Registry, scope: &ScopePath, r: &Release) -> bool {
    reg.locked
        .iter()
        .any(|(s, a, v)| s == scope && *a == r.alias && *v == r.version)
}

/// The scope a dependency of `owner` (in `scope`) lands in.
fn child(scope: &ScopePath, owner: usize, private: bool) -> ScopePath {
    let mut s = scope.clone();
    if private && !scope.contains(&owner) {
        s.push(owner);
    }
    s
}

/// Every scope any choice of versions could open (a fixpoint over the static edges).
fn scopes(reg: &Registry) -> Vec<ScopePath> {
    let mut all = vec![Vec::new()];
    let mut i = 0;
    while i < all.len() {
        let scope = all[i].clone();
        for r in &reg.releases {
            for &(_, _, private) in &r.deps {
                let s = child(&scope, r.alias, private);
                if !all.contains(&s) {
                    all.push(s);
                }
            }
        }
        i += 1;
    }
    all
}

/// A choice of usable versions (not yanked, or yanked and locked there), one per alias per
/// scope, that satisfies everything, if there is one: package (as displayed) → version.
fn oracle(reg: &Registry) -> Option<BTreeMap<String, String>> {
    let mut solver = BasicSolver::default();
    let usable: Vec<&Release> = reg.releases.iter().collect();
    let scopes = scopes(reg);
    // vars[s][i]: release `usable[i]` is chosen in scope `scopes[s]`.
    let vars: Vec<Vec<Lit>> = scopes
        .iter()
        .map(|_| {
            usable
                .iter()
                .map(|_| Lit::new(solver.new_var_default(), true))
                .collect()
        })
        .collect();
    let admitting = |s: usize, a: usize, c: usize| -> Vec<Lit> {
        usable
            .iter()
            .zip(&vars[s])
            .filter(|(r, _)| r.alias == a && constraint(c).matches(&version(r.version)))
            .map(|(_, l)| *l)
            .collect()
    };
    for (row, scope) in vars.iter().zip(&scopes) {
        for (r, &x) in usable.iter().zip(row) {
            if r.yanked && !locked_there(reg, scope, r) {
                solver.add_clause_reuse(&mut vec![!x]);
            }
        }
        for (i, a) in usable.iter().enumerate() {
            for (j, b) in usable.iter().enumerate().skip(i + 1) {
                if a.alias == b.alias {
                    solver.add_clause_reuse(&mut vec![!row[i], !row[j]]);
                }
            }
        }
    }
    for &(a, c) in &reg.root {
        solver.add_clause_reuse(&mut admitting(0, a, c));
    }
    for (s, scope) in scopes.iter().enumerate() {
        for (r, &x) in usable.iter().zip(&vars[s]) {
            for &(d, c, private) in &r.deps {
                let target = child(scope, r.alias, private);
                let t = scopes
                    .iter()
                    .position(|x| *x == target)
                    .expect("the fixpoint holds every reachable scope");
                let mut clause = vec![!x];
                clause.extend(admitting(t, d, c));
                solver.add_clause_reuse(&mut clause);
            }
        }
    }
    if solver.solve_limited(&[]) != lbool::TRUE {
        return None;
    }
    let mut model = BTreeMap::new();
    for (row, scope) in vars.iter().zip(&scopes) {
        for (r, &x) in usable.iter().zip(row) {
            if solver.value_lit(x) == lbool::TRUE {
                model.insert(
                    pkg(scope, r.alias).to_string(),
                    VERSIONS[r.version].to_owned(),
                );
            }
        }
    }
    Some(model)
}

/// Every constraint holds in `sol` in the right scope, one version per alias per scope.
fn check_solution(reg: &Registry, sol: &Resolution) -> Result<(), String> {
    let index = |name: &str| -> usize {
        name.strip_prefix('p')
            .and_then(|n| n.parse().ok())
            .expect("generated alias")
    };
    let mut chosen: BTreeMap<(ScopePath, usize), Version> = BTreeMap::new();
    for (pkg, r) in &sol.packages {
        let Pkg::Dep { scope, alias: name } = pkg else {
            return Err("the root leaked into the solution".to_owned());
        };
        let path: ScopePath = scope.iter().map(|s| index(s)).collect();
        let locked = reg
            .locked
            .iter()
            .any(|(s, a, v)| *s == path && *a == index(name) && version(*v) == r.candidate.version);
        if r.candidate.yanked && !locked {
            return Err(format!(
                "{pkg} {} is yanked and not locked",
                r.candidate.version
            ));
        }
        chosen.insert((path, index(name)), r.candidate.version.clone());
    }
    let holds = |s: &ScopePath, a: usize, c: usize| {
        chosen
            .get(&(s.clone(), a))
            .is_some_and(|v| constraint(c).matches(v))
    };
    for &(a, c) in &reg.root {
        if !holds(&Vec::new(), a, c) {
            return Err(format!(
                "requirement {} {} broken",
                alias(a),
                CONSTRAINTS[c]
            ));
        }
    }
    for ((scope, a), v) in &chosen {
        let Some(r) = reg
            .releases
            .iter()
            .find(|r| r.alias == *a && version(r.version) == *v)
        else {
            return Err(format!("{} {v} does not exist", alias(*a)));
        };
        for &(d, c, private) in &r.deps {
            if !holds(&child(scope, *a, private), d, c) {
                return Err(format!(
                    "{} {v} in scope {scope:?} needs {} {}",
                    alias(*a),
                    alias(d),
                    CONSTRAINTS[c]
                ));
            }
        }
    }
    Ok(())
}

/// The registry as a scenario file (`test-vectors/resolve/`), expecting what the oracle says.
fn scenario(reg: &Registry, model: Option<&BTreeMap<String, String>>) -> String {
    let mut t = String::from("description = \"found by the SAT oracle\"\n\n[root]\n");
    for &(a, c) in &reg.root {
        let _ = writeln!(t, "{} = \"{}\"", alias(a), CONSTRAINTS[c]);
    }
    if !reg.locked.is_empty() {
        t.push_str("\n[locked]\n");
        for (s, a, v) in &reg.locked {
            let _ = writeln!(t, "\"{}\" = \"{}\"", pkg(s, *a), VERSIONS[*v]);
        }
    }
    for r in &reg.releases {
        let _ = write!(
            t,
            "\n[[package]]\nalias = \"{}\"\nversion = \"{}\"\nyanked = {}\n",
            alias(r.alias),
            VERSIONS[r.version],
            r.yanked
        );
        if !r.deps.is_empty() {
            let deps: Vec<String> = r
                .deps
                .iter()
                .map(|&(d, c, private)| {
                    if private {
                        format!(
                            "{} = {{ version = \"{}\", private = true }}",
                            alias(d),
                            CONSTRAINTS[c]
                        )
                    } else {
                        format!("{} = \"{}\"", alias(d), CONSTRAINTS[c])
                    }
                })
                .collect();
            let _ = writeln!(t, "deps = {{ {} }}", deps.join(", "));
        }
    }
    match model {
        Some(model) => {
            let entries: Vec<String> = model
                .iter()
                .map(|(p, v)| format!("\"{p}\" = \"{v}\""))
                .collect();
            let _ = write!(
                t,
                "\n[expect]\n# The oracle's answer. spec/12's orders pick one answer; where it is another \
                 valid one, keep that.\nsolution = {{ {} }}\n",
                entries.join(", ")
            );
        }
        None => t.push_str("\n[expect]\nfailure = [\"cannot resolve\"]\n"),
    }
    t
}

fn run(reg: &Registry) -> Option<Resolution> {
    match resolve(&source(reg, false), &requirements(reg), &lock(reg)) {
        Ok(r) => Some(r),
        Err(ResolveError::NoSolution { .. }) => None,
        Err(e) => panic!("source error: {e}"),
    }
}

#[test]
fn the_resolver_agrees_with_a_sat_oracle() {
    static UNSOLVABLE: AtomicUsize = AtomicUsize::new(0);
    static TOTAL: AtomicUsize = AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&registry(), |reg| {
        TOTAL.fetch_add(1, Ordering::Relaxed);
        let model = oracle(&reg);
        let sat = model.is_some();
        let got = run(&reg);
        let show = || scenario(&reg, model.as_ref());
        // The scenario file is complete: read back, it resolves to the same verdict.
        let read_back = Scenario::parse(&show())
            .and_then(|s| s.run())
            .unwrap_or_else(|e| panic!("the scenario file does not run: {e}\n{}", show()));
        prop_assert_eq!(
            matches!(read_back, Outcome::Solution(_)),
            got.is_some(),
            "the scenario file reads back otherwise:\n{}",
            show()
        );
        prop_assert_eq!(
            got.is_some(),
            sat,
            "solver and oracle disagree:\n{}",
            show()
        );
        match &got {
            Some(sol) => {
                if let Err(e) = check_solution(&reg, sol) {
                    return Err(TestCaseError::fail(format!("{e}\n{}", show())));
                }
                // Deterministic, whatever order the source lists releases in.
                let again = resolve(&source(&reg, true), &requirements(&reg), &lock(&reg)).ok();
                prop_assert_eq!(
                    again.as_ref(),
                    Some(sol),
                    "order changed the answer:\n{}",
                    show()
                );
                // Removing any one dependency keeps it solvable.
                for (i, r) in reg.releases.iter().enumerate() {
                    for j in 0..r.deps.len() {
                        let mut fewer = reg.clone();
                        fewer.releases[i].deps.remove(j);
                        prop_assert!(
                            run(&fewer).is_some(),
                            "removing a dependency of {} made it unsolvable:\n{}",
                            alias(r.alias),
                            show()
                        );
                    }
                }
            }
            None => {
                UNSOLVABLE.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (bad, total) = (
        UNSOLVABLE.load(Ordering::Relaxed),
        TOTAL.load(Ordering::Relaxed),
    );
    // Counts are a few thousand: exact in f64.
    #[allow(clippy::cast_precision_loss)]
    let share = bad as f64 / total as f64;
    println!(
        "oracle: {total} registries, {bad} unsolvable ({:.1}%)",
        100.0 * share
    );
    assert!(total >= CASES as usize, "ran {total} cases");
    assert!(
        share > 0.20,
        "only {:.1}% unsolvable: the generator is too easy",
        100.0 * share
    );
    assert!(
        share < 0.90,
        "{:.1}% unsolvable: the generator is too hard",
        100.0 * share
    );
}
