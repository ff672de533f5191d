//! Runs every scenario in `test-vectors/resolve/`.

use cairn_core::resolve::scenario::Scenario;

#[test]
fn every_scenario_gives_its_expected_answer() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-vectors/resolve");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("test-vectors/resolve")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    names.sort();
    assert!(names.len() >= 7, "scenarios found: {}", names.len());
    let mut failures = Vec::new();
    for path in &names {
        let text = std::fs::read_to_string(path).expect("read");
        let verdict = Scenario::parse(&text).and_then(|s| {
            let outcome = s.run()?;
            s.check(&outcome)
        });
        if let Err(e) = verdict {
            failures.push(format!("{}: {e}", path.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_wrong_expectation_is_caught() {
    let text = r#"
description = "deliberately wrong"
[root]
a = "^1"
[[package]]
alias = "a"
version = "1.0.0"
[expect]
solution = { a = "1.1.0" }
"#;
    let s = Scenario::parse(text).expect("parse");
    let outcome = s.run().expect("run");
    assert!(s.check(&outcome).is_err());
    assert!(Scenario::parse("description = \"x\"\n[root]\n[expect]\n").is_err());
    // A report snapshot that differs is caught too.
    let text = r#"
description = "wrong snapshot"
[root]
gone = "^1"
[expect]
failure = ["gone"]
report = "something else"
"#;
    let s = Scenario::parse(text).expect("parse");
    let outcome = s.run().expect("run");
    assert!(s.check(&outcome).is_err());
}
