//! Runs the `cairn` binary as a user would.

use std::process::{Command, Output};

fn cairn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .output()
        .expect("run cairn")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn cid_of_a_file_is_its_raw_blake3_cid() {
    let dir = std::env::temp_dir().join(format!("cairn-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let file = dir.join("a.txt");
    std::fs::write(&file, b"hello").expect("write");
    let out = cairn(&["cid", file.to_str().expect("utf8")]);
    assert!(out.status.success());
    let expected = cairn_protocol::cid::Cid::of_raw(b"hello").to_string();
    assert!(stdout(&out).starts_with(&expected), "{}", stdout(&out));

    let bad = cairn(&["cid", "--record", file.to_str().expect("utf8")]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("is not a Cairn record block") && err.contains("hint:"),
        "{err}"
    );

    let rec = dir.join("r.cbor");
    std::fs::write(&rec, [0xa1, 0x61, b'a', 0x01]).expect("write");
    let out = cairn(&["inspect", "--json", rec.to_str().expect("utf8")]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(v["value"]["map"][0][1]["int"], "1");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn version_commands() {
    let out = cairn(&["version", "compare", "1.2", "1.2.0.0"]);
    assert_eq!(stdout(&out).trim(), "1.2 = 1.2.0.0");
    let out = cairn(&["version", "matches", "--json", "^1.2", "1.9", "2.0"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(v["matches"]["1.9"], true);
    assert_eq!(v["matches"]["2.0"], false);
    let out = cairn(&["version", "matches", "~1.2", "1.2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(">=1.2 <1.3"));
}
