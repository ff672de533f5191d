//! Test-only hooks: named write steps where a test can make the process abort (as a power cut
//! or `kill -9` would), and the environment switches that make test runs reproducible.
//!
//! Everything here is compiled only with the `test-utils` cargo feature, which the test suites
//! turn on and release builds never do: without it [`point`] does nothing and [`test_env`]
//! answers `None`, so no environment variable can abort or steer a user's `cairn`.

/// The steps: those of a publish in the order it reaches them, then those of the consumer's
/// commands (documented for tests).
pub const STEPS: &[&str] = &[
    "node-key:after-temp-write",
    "node-addr:after-temp-write",
    "keys:after-temp-write",
    "artifact:after-temp-write",
    "publish:after-artifacts",
    "publish:after-release-block",
    "import:before-commit",
    "import:after-commit",
    "init:manifest",
    "manifest:edit",
    "lock:write",
    "import:artifact",
    "install:placed-one",
    "install:before-switch",
    "install:after-switch",
];

/// Aborts the process here if `CAIRN_FAULT_AT` names `step` (with `test-utils` only).
#[inline]
pub fn point(step: &str) {
    #[cfg(feature = "test-utils")]
    if std::env::var("CAIRN_FAULT_AT").is_ok_and(|s| s == step) {
        eprintln!("fault injected at `{step}`");
        std::process::abort();
    }
    #[cfg(not(feature = "test-utils"))]
    let _ = step;
}

/// The test-only environment variables a build with `test-utils` honours.
pub const TEST_VARIABLES: &[&str] = &[
    "CAIRN_FAULT_AT",
    "CAIRN_TEST_SEED",
    "CAIRN_KDF_INSECURE_FOR_TESTS",
    "CAIRN_TIME",
];

/// The value of a test-only environment variable (one of [`TEST_VARIABLES`]); always `None`
/// without the `test-utils` feature.
#[must_use]
#[inline]
pub fn test_env(name: &str) -> Option<String> {
    debug_assert!(
        TEST_VARIABLES.contains(&name),
        "`{name}` is not a test variable"
    );
    #[cfg(feature = "test-utils")]
    {
        std::env::var(name).ok()
    }
    #[cfg(not(feature = "test-utils"))]
    {
        let _ = name;
        None
    }
}
