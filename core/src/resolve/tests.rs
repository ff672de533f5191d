use super::*;

fn v(s: &str) -> Version {
    s.parse().expect("version")
}

fn dep(alias: &str, c: &str) -> Dependency {
    Dependency {
        alias: alias.to_owned(),
        constraint: c.parse().expect("constraint"),
        private: false,
    }
}

fn private(alias: &str, c: &str) -> Dependency {
    Dependency {
        private: true,
        ..dep(alias, c)
    }
}

/// A source from `(alias, version, yanked, deps)` rows.
fn source(rows: &[(&str, &str, bool, Vec<Dependency>)]) -> MemorySource {
    let mut s = MemorySource::new("cora:community");
    for (alias, version, yanked, deps) in rows {
        let mut c = Candidate::new(v(version));
        c.yanked = *yanked;
        s.add(alias, c, deps.clone());
    }
    s
}

fn solve(s: &MemorySource, reqs: &[Dependency]) -> Result<BTreeMap<String, String>, String> {
    solve_locked(s, reqs, &BTreeMap::new())
}

fn solve_locked(
    s: &MemorySource,
    reqs: &[Dependency],
    locked: &BTreeMap<Pkg, Version>,
) -> Result<BTreeMap<String, String>, String> {
    match resolve(s, reqs, locked) {
        Ok(r) => Ok(r
            .packages
            .iter()
            .map(|(p, r)| (p.to_string(), r.candidate.version.to_string()))
            .collect()),
        Err(ResolveError::NoSolution { report }) => Err(report),
        Err(e) => panic!("source error: {e}"),
    }
}

fn answer(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn a_release_beats_a_higher_pre_release() {
    let s = source(&[
        ("a", "1.1.0", false, vec![]),
        ("a", "1.2.0-beta", false, vec![]),
        ("a", "1.0.0", false, vec![]),
    ]);
    assert_eq!(
        solve(&s, &[dep("a", "^1.0.0")]),
        Ok(answer(&[("a", "1.1.0")]))
    );
    // When only a pre-release fits, it is taken.
    assert_eq!(
        solve(&s, &[dep("a", ">=1.2.0-alpha")]),
        Ok(answer(&[("a", "1.2.0-beta")]))
    );
}

#[test]
fn backtracks_to_an_older_version() {
    let s = source(&[
        ("a", "2.0.0", false, vec![dep("b", "^2.0")]),
        ("a", "1.0.0", false, vec![dep("b", "^1.0")]),
        ("b", "1.4.0", false, vec![]),
    ]);
    assert_eq!(
        solve(&s, &[dep("a", "*")]),
        Ok(answer(&[("a", "1.0.0"), ("b", "1.4.0")]))
    );
}

#[test]
fn conflicts_and_missing_aliases_are_reported() {
    let s = source(&[
        ("a", "1.0.0", false, vec![dep("c", "^1.0")]),
        ("b", "1.0.0", false, vec![dep("c", "^2.0")]),
        ("c", "1.0.0", false, vec![]),
        ("c", "2.0.0", false, vec![]),
    ]);
    let report = solve(&s, &[dep("a", "^1"), dep("b", "^1")]).expect_err("conflict");
    assert!(
        report.contains('a') && report.contains('b') && report.contains('c'),
        "{report}"
    );
    let report = solve(&s, &[dep("zzz", "^1")]).expect_err("missing");
    assert!(report.contains("zzz"), "{report}");
}

#[test]
fn yanked_releases_are_offered_only_when_locked() {
    let s = source(&[
        ("a", "1.2.0", true, vec![]),
        ("a", "1.1.0", false, vec![]),
        ("a", "1.0.0", false, vec![]),
    ]);
    assert_eq!(solve(&s, &[dep("a", "^1")]), Ok(answer(&[("a", "1.1.0")])));
    let mut locked = BTreeMap::new();
    locked.insert(Pkg::flat("a"), v("1.2.0"));
    assert_eq!(
        solve_locked(&s, &[dep("a", "^1")], &locked),
        Ok(answer(&[("a", "1.2.0")])),
        "a locked release stays even when yanked since"
    );
    locked.insert(Pkg::flat("a"), v("1.0.0"));
    assert_eq!(
        solve_locked(&s, &[dep("a", "^1")], &locked),
        Ok(answer(&[("a", "1.0.0")])),
        "the locked version wins over a higher one"
    );
    assert_eq!(
        solve_locked(&s, &[dep("a", "^1.1")], &locked),
        Ok(answer(&[("a", "1.1.0")])),
        "a lock that no longer matches is ignored"
    );
    // Only a yanked release would fit: no solution.
    assert!(solve(&s, &[dep("a", ">=1.2")]).is_err());
}

#[test]
fn private_dependencies_resolve_in_their_own_scope() {
    let rows = |private_c: bool| {
        let c1 = if private_c {
            private("c", "^1.0")
        } else {
            dep("c", "^1.0")
        };
        source(&[
            ("a", "1.0.0", false, vec![c1]),
            ("b", "1.0.0", false, vec![dep("c", "^2.0")]),
            ("c", "1.0.0", false, vec![dep("d", "^1")]),
            ("c", "2.0.0", false, vec![dep("d", "^1")]),
            ("d", "1.0.0", false, vec![]),
            ("d", "1.5.0", false, vec![]),
        ])
    };
    let reqs = [dep("a", "^1"), dep("b", "^1")];
    assert!(
        solve(&rows(false), &reqs).is_err(),
        "flat: c cannot be both"
    );
    assert_eq!(
        solve(&rows(true), &reqs),
        Ok(answer(&[
            ("a", "1.0.0"),
            ("b", "1.0.0"),
            ("c", "2.0.0"),
            ("c (private to a)", "1.0.0"),
            ("d", "1.5.0"),
            ("d (private to a)", "1.5.0"),
        ]))
    );
}

#[test]
fn answers_do_not_depend_on_listing_order() {
    let mut rows = vec![
        (
            "a",
            "1.0.0",
            false,
            vec![dep("b", ">=1.0 <3.0"), dep("c", "*")],
        ),
        ("a", "1.1.0", false, vec![dep("b", "^2.0"), dep("c", "^1")]),
        ("b", "1.0.0", false, vec![]),
        ("b", "2.0.0", false, vec![dep("c", "^2")]),
        ("b", "2.1.0-rc.1", false, vec![]),
        ("c", "1.0.0", false, vec![]),
        ("c", "2.0.0", false, vec![]),
        ("c", "2.1.0", true, vec![]),
    ];
    let reqs = [dep("a", "^1")];
    let first = solve(&source(&rows), &reqs);
    assert!(first.is_ok(), "{first:?}");
    // Every rotation and the reverse give the same answer.
    for _ in 0..rows.len() {
        rows.rotate_left(1);
        assert_eq!(solve(&source(&rows), &reqs), first);
    }
    rows.reverse();
    assert_eq!(solve(&source(&rows), &reqs), first);
}
