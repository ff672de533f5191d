//! Transcript tests: every `cli/tests/transcripts/*.md` is documentation whose `console`
//! code blocks are run, in order, in a scratch copy of the `.in/` folder beside it, and must print
//! exactly what is written (`...` and `[..]` match anything; `[CWD]` is the scratch folder).
//! Every file in the `.out/` folder beside it must be left in the scratch folder with exactly
//! those bytes (the bundles a transcript exports, a project's manifest), so a command that
//! stops writing them, or writes other bytes, fails here.
//!
//! Keys and clock are deterministic (`CAIRN_TEST_SEED` per person, `CAIRN_TIME` here), so the
//! identity IDs and CIDs in the transcripts are stable. After a deliberate output change, run
//! `TRYCMD=overwrite cargo test -p cairn-cli --test transcripts` and review the diff.

#[test]
fn transcripts() {
    trycmd::TestCases::new()
        .register_bin("cairn", std::path::Path::new(env!("CARGO_BIN_EXE_cairn")))
        .env("CAIRN_PASSPHRASE", "correct horse battery staple")
        .env("CAIRN_KDF_INSECURE_FOR_TESTS", "1")
        .env("CAIRN_TIME", "1795000000")
        .env("NO_COLOR", "1")
        .case("tests/transcripts/*.md");
}
