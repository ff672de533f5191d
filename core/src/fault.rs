//! Crash testing: named write steps where a test can make the process abort, as a power cut
//! or `kill -9` would. Inert unless `CAIRN_FAULT_AT` names the step.

/// The steps, in the order a publish reaches them (documented for tests and users).
pub const STEPS: &[&str] = &[
    "keys:after-temp-write",
    "artifact:after-temp-write",
    "publish:after-artifacts",
    "publish:after-release-block",
    "import:before-commit",
    "import:after-commit",
];

/// Aborts the process here if `CAIRN_FAULT_AT` names `step`.
pub fn point(step: &str) {
    if std::env::var("CAIRN_FAULT_AT").is_ok_and(|s| s == step) {
        eprintln!("fault injected at `{step}`");
        std::process::abort();
    }
}
