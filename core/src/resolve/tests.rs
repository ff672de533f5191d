use super::*;

fn v(s: &str) -> Version {
    s.parse().expect("version")
}

fn dep(alias: &str, c: &str) -> Dependency {
    Dependency {
        alias: alias.into(),
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
fn private_cycles_end() {
    // a privately needs b, and b privately needs a: scopes would nest forever without the
    // rule that a scope never repeats its owner. (∅, a) opens [a] for b; ([a], b) opens
    // [a, b] for a; there a's private b and b's private a stay in [a, b].
    let s = source(&[
        ("a", "1.0.0", false, vec![private("b", "^1")]),
        ("b", "1.0.0", false, vec![private("a", "^1")]),
    ]);
    assert_eq!(
        solve(&s, &[dep("a", "^1")]),
        Ok(answer(&[
            ("a", "1.0.0"),
            ("a (private to a → b)", "1.0.0"),
            ("b (private to a → b)", "1.0.0"),
            ("b (private to a)", "1.0.0"),
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

/// Every failure report: names the curator index, ends with a hint, shows no solver internals.
fn failure(name: &str, s: &MemorySource, reqs: &[Dependency], mentions: &[&str]) -> String {
    let report = solve(s, reqs).expect_err("must fail");
    assert!(
        report.contains("cora:community"),
        "names the index:\n{report}"
    );
    let last = report.lines().last().unwrap_or_default();
    assert!(last.starts_with("hint: "), "ends with a hint:\n{report}");
    for internal in [
        "||", "∅", "root", "-0", "excluded", "included", "Ranges", "Dep {",
    ] {
        assert!(!report.contains(internal), "`{internal}` in:\n{report}");
    }
    for m in mentions {
        assert!(report.contains(m), "`{m}` missing from:\n{report}");
    }
    // The whole text is a reviewed snapshot (`core/src/resolve/snapshots/`); after a deliberate
    // change: `INSTA_UPDATE=always cargo test -p cairn-core failure_reports`, then review.
    insta::assert_snapshot!(name, report);
    report
}

#[test]
#[allow(clippy::too_many_lines)] // Ten failure shapes side by side read best as one list.
fn failure_reports_read_as_prose() {
    // 1. A requirement names an alias the index lacks.
    let s = source(&[("a", "1.0.0", false, vec![])]);
    failure(
        "missing_alias_at_root",
        &s,
        &[dep("zzz", "^1")],
        &[
            "`zzz` is not an alias in cora:community",
            "you require zzz ^1",
            "hint: `zzz` is missing",
        ],
    );
    // 2. A dependency deep down names a missing alias.
    let s = source(&[
        ("a", "1.0.0", false, vec![dep("b", "^1")]),
        ("b", "1.0.0", false, vec![dep("gone", ">=2.0")]),
    ]);
    failure(
        "missing_alias_deep",
        &s,
        &[dep("a", "^1")],
        &["b 1.0.0", "gone >=2.0", "`gone` is missing"],
    );
    // 3. No version in the required range.
    let s = source(&[("a", "1.0.0", false, vec![]), ("a", "1.4.0", false, vec![])]);
    failure(
        "no_version_in_range",
        &s,
        &[dep("a", "^2.0")],
        &[
            "no version of a matching ^2.0",
            "available: 1.4.0, 1.0.0",
            "the newest usable version is a 1.4.0",
        ],
    );
    // 4. Two paths with conflicting constraints.
    let s = source(&[
        ("a", "1.0.0", false, vec![dep("c", "^1.0")]),
        ("b", "1.0.0", false, vec![dep("c", "^2.0")]),
        ("c", "1.0.0", false, vec![]),
        ("c", "2.0.0", false, vec![]),
    ]);
    failure(
        "two_paths_conflict",
        &s,
        &[dep("a", "^1"), dep("b", "^1")],
        &[
            "a 1.0.0 (per cora:community) depends on c ^1.0",
            "b 1.0.0",
            "c ^2.0",
            "constraints on c",
        ],
    );
    // 5. A conflict deep in the tree.
    let s = source(&[
        ("a", "1.0.0", false, vec![dep("b", "^1")]),
        ("b", "1.0.0", false, vec![dep("c", "^1")]),
        ("d", "1.0.0", false, vec![dep("c", ">=2.0 <3.0")]),
        ("c", "1.2.0", false, vec![]),
        ("c", "2.1.0", false, vec![]),
    ]);
    failure(
        "deep_conflict",
        &s,
        &[dep("a", "*"), dep("d", "*")],
        &[
            "b 1.0.0",
            "c ^1",
            "c >=2.0 <3.0",
            "d 1.0.0",
            "a 1.0.0 needs c ^1",
        ],
    );
    // 6. Only a yanked release would fit.
    let s = source(&[("a", "1.0.0", false, vec![]), ("a", "2.0.0", true, vec![])]);
    failure(
        "only_yanked_fits",
        &s,
        &[dep("a", "^2")],
        &["yanked: 2.0.0", "a 2.0.0 would fit but was yanked"],
    );
    // 7. Only a pre-release of the excluded bound exists.
    let s = source(&[("a", "2.0.0-beta", false, vec![])]);
    failure(
        "only_prerelease_of_excluded_bound",
        &s,
        &[dep("a", "<2.0")],
        &[
            "matching <2 ",
            "you require a <2.0",
            "available: 2.0.0-beta",
        ],
    );
    // 8. A requirement no version satisfies, with versions on both sides.
    let s = source(&[("a", "1.0.0", false, vec![]), ("a", "3.0.0", false, vec![])]);
    failure(
        "range_between_versions",
        &s,
        &[dep("a", ">=2.0 <3.0")],
        &["you require a >=2.0 <3.0", "available: 3.0.0, 1.0.0"],
    );
    // 9. A cycle that cannot be satisfied.
    let s = source(&[
        ("a", "1.0.0", false, vec![dep("b", "^1")]),
        ("b", "1.0.0", false, vec![dep("a", "^2")]),
        ("a", "2.0.0", false, vec![dep("b", "^2")]),
    ]);
    failure(
        "unsatisfiable_cycle",
        &s,
        &[dep("a", "^1")],
        &["a 1.0.0", "b 1.0.0", "a ^2"],
    );
    // 10. A private scope that cannot be satisfied inside.
    let s = source(&[
        (
            "a",
            "1.0.0",
            false,
            vec![private("c", "^1"), private("d", "^1")],
        ),
        ("d", "1.0.0", false, vec![dep("c", "^2")]),
        ("c", "1.0.0", false, vec![]),
        ("c", "2.0.0", false, vec![]),
    ]);
    failure(
        "private_scope_conflict",
        &s,
        &[dep("a", "^1")],
        &[
            "c ^1 (private to a)",
            "d 1.0.0 (private to a)",
            "c ^2 (private to a)",
            "inside the private scope of a",
        ],
    );
}

proptest::proptest! {
    /// The priority key orders packages exactly as `Pkg` does.
    #[test]
    fn name_order_agrees_with_package_order(
        a in proptest::collection::vec("[a-c]{0,9}", 0..3), x in "[a-c]{1,20}",
        b in proptest::collection::vec("[a-c]{0,9}", 0..3), y in "[a-c]{1,20}",
    ) {
        let pkg = |scope: &[String], alias: &str| Pkg::Dep {
            scope: scope.iter().map(|s| std::sync::Arc::from(s.as_str())).collect(),
            alias: std::sync::Arc::from(alias),
        };
        let (p, q) = (pkg(&a, &x), pkg(&b, &y));
        proptest::prop_assert_eq!(NameOrder::of(&p).cmp(&NameOrder::of(&q)), p.cmp(&q));
        proptest::prop_assert!(NameOrder::of(&Pkg::Root) < NameOrder::of(&p));
    }
}
