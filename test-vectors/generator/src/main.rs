//! `cairn-vectors write|check [DIR]`: regenerate or verify the test vectors (default
//! directory: the `test-vectors/` folder of this repository).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mode = args.next();
    let dir = args.next().map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."),
        PathBuf::from,
    );
    match mode.as_deref() {
        Some("write") => match cairn_test_vectors::write(&dir) {
            Ok(n) => {
                println!("wrote {n} vectors under `{}`", dir.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Some("check") => {
            let summary = cairn_test_vectors::check(&dir);
            let total: usize = summary.passed.iter().map(|(_, n)| n).sum();
            for (file, n) in &summary.passed {
                println!("ok    {file} ({n} vectors)");
            }
            for f in &summary.failed {
                println!("FAIL  {f}");
            }
            println!("{} passed, {} failed", total, summary.failed.len());
            if summary.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        _ => {
            eprintln!(
                "usage: cairn-vectors write|check [DIR]\n\nhint: `check` verifies the committed vectors; `write` regenerates them"
            );
            ExitCode::from(2)
        }
    }
}
