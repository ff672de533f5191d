//! The checked-in Cargo registry index sample (`test-vectors/cargo-index/`), both file forms.

use std::collections::BTreeMap;

use cairn_core::resolve::cargo::CargoIndex;
use cairn_core::resolve::{Dependency, PackageSource, ResolveError, resolve};

fn sample() -> CargoIndex {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-vectors/cargo-index");
    CargoIndex::read_dir(&dir).expect("the sample reads")
}

fn req(alias: &str, c: &str) -> Vec<Dependency> {
    vec![Dependency {
        alias: alias.into(),
        constraint: c.parse().expect("constraint"),
        private: false,
    }]
}

#[test]
fn both_forms_are_read() {
    let index = sample();
    assert_eq!(index.crates(), ["cfg-if", "hex", "log"]);
    // hex is in the plain form, log and cfg-if in the cache form: each file's own count.
    let count = |name: &str| {
        index
            .versions(name)
            .expect("versions")
            .map_or(0, |v| v.len())
    };
    assert_eq!(count("hex"), 9);
    assert!(count("log") > 40, "log has {}", count("log"));
    assert!(count("cfg-if") >= 5);
    assert_eq!(
        index.releases,
        count("hex")
            + count("log")
            + count("cfg-if")
            + index
                .skipped
                .iter()
                .filter(|n| n.reason.starts_with("version"))
                .count()
    );
}

#[test]
fn a_real_resolution_and_a_real_conflict() {
    let index = sample();
    let solved = resolve(&index, &req("log", "^0.4"), &BTreeMap::new()).expect("log ^0.4");
    let log = solved
        .packages
        .iter()
        .find(|(p, _)| p.to_string() == "log")
        .map(|(_, r)| r.candidate.version.clone())
        .expect("log chosen");
    // The highest non-yanked 0.4 release in the sample.
    let best = index
        .versions("log")
        .expect("versions")
        .expect("log")
        .iter()
        .filter(|c| !c.yanked && c.version.base().first() == Some(&0) && c.version.field(1) == 4)
        .map(|c| c.version.clone())
        .max()
        .expect("a 0.4 release");
    assert_eq!(log, best);
    // log 0.3.9 depends on log ^0.4 (the "semver trick"): flat resolution cannot, and says so.
    match resolve(&index, &req("log", "0.3.9"), &BTreeMap::new()) {
        Err(ResolveError::NoSolution { report }) => {
            // The whole report on real data, reviewed: intervals in the native grammar, each
            // origin named once.
            insta::assert_snapshot!("cargo_log_semver_trick", report);
            assert!(report.contains("log 0.3.9"), "{report}");
            assert!(report.contains("depends on log ^0.4"), "{report}");
            assert!(
                report
                    .lines()
                    .last()
                    .is_some_and(|l| l.starts_with("hint: ")),
                "{report}"
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}
