//! Memory that does not grow with the input: publishing a one-gibibyte asset, exporting and importing
//! a bundle of a few hundred MiB, each run with its address space capped (`ulimit -v`) far below
//! the input's size. Before these paths streamed, each held the whole input (some twice).

#![cfg(unix)]

use std::io::{Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The address space each command may use, in KiB: what the binary needs for itself with room
/// to spare, and far below every input here.
const LIMIT_KIB: u64 = 192 * 1024;

struct Scratch {
    root: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let root =
            std::env::temp_dir().join(format!("cairn-streaming-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("root");
        Scratch { root }
    }

    /// `cairn --home HOME ARGS` with the address space capped.
    fn run(&self, home: &str, args: &[&str]) -> Output {
        Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -v {LIMIT_KIB} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_cairn"))
            .arg("--home")
            .arg(self.root.join(home))
            .args(args)
            .current_dir(&self.root)
            .env("CAIRN_PASSPHRASE", "test passphrase")
            .env("CAIRN_KDF_INSECURE_FOR_TESTS", "1")
            .env("CAIRN_TEST_SEED", home)
            .env("CAIRN_TIME", "1795000000")
            .env_remove("CAIRN_HOME")
            .output()
            .expect("run cairn")
    }

    fn ok(&self, home: &str, args: &[&str]) -> String {
        let out = self.run(home, args);
        assert!(
            out.status.success(),
            "cairn {args:?} failed under a {LIMIT_KIB} KiB address space:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A package `name` whose asset is a sparse file of `size` bytes; every MiB starts with its
    /// own number, so that no two chunks of it are alike.
    fn package(&self, name: &str, size: u64) -> PathBuf {
        let dir = self.root.join(name);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(
            dir.join("cairn.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"1.0.0\"\ninclude = [\"cairn.toml\"]\n\
                 assets = {{ linux-x86_64 = \"big.bin\" }}\n"
            ),
        )
        .expect("manifest");
        let mut f = std::fs::File::create(dir.join("big.bin")).expect("asset");
        f.set_len(size).expect("sparse");
        for mib in 0..size >> 20 {
            f.seek(SeekFrom::Start(mib << 20)).expect("seek");
            f.write_all(&mib.to_le_bytes()).expect("mark");
        }
        dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn size_of(path: &Path) -> u64 {
    std::fs::metadata(path).expect("metadata").len()
}

#[test]
fn a_1_gib_asset_publishes_in_bounded_memory() {
    let s = Scratch::new("publish");
    s.ok("home", &["id", "new", "--petname", "me"]);
    let dir = s.package("huge", 1 << 30);
    let dir = dir.to_str().expect("utf-8");
    let dry = s.ok("home", &["publish", "--dry-run", "--json", "--path", dir]);
    assert!(dry.contains("\"size\":1073741824"), "{dry}");
    s.ok("home", &["publish", "--path", dir]);
    // The artifact took its name from what was hashed while it was written: check it again.
    let artifacts = s.root.join("home/artifacts");
    let kept: Vec<PathBuf> = std::fs::read_dir(&artifacts)
        .expect("artifacts")
        .map(|e| e.expect("entry").path())
        .filter(|p| size_of(p) == 1 << 30)
        .collect();
    assert_eq!(kept.len(), 1, "one 1 GiB artifact kept");
    let cid = kept[0].file_name().and_then(|n| n.to_str()).expect("name");
    let verified = s.ok("home", &["verify", cid]);
    assert!(verified.contains("matches its CID"), "{verified}");
    assert!(
        std::fs::read_dir(&artifacts).expect("artifacts").all(|e| !e
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp")),
        "no temporary file is left"
    );
}

#[test]
fn a_large_bundle_exports_and_imports_in_bounded_memory() {
    let s = Scratch::new("bundle");
    let id = s.ok("a", &["id", "new", "--petname", "me"]);
    let id = id.lines().next().expect("id");
    let dir = s.package("big", 200 << 20);
    s.ok("a", &["publish", "--path", dir.to_str().expect("utf-8")]);
    let car = s.root.join("big.car");
    let car_arg = car.to_str().expect("utf-8");
    s.ok(
        "a",
        &["export", "big", "--with-artifacts", "--car", car_arg],
    );
    assert!(size_of(&car) > 200 << 20, "the bundle carries the asset");
    let report = s.ok("b", &["import", "--json", car_arg]);
    assert!(report.contains(&format!("{id}:big")), "{report}");
    let held: Vec<u64> = std::fs::read_dir(s.root.join("b/artifacts"))
        .expect("artifacts")
        .map(|e| size_of(&e.expect("entry").path()))
        .collect();
    assert!(
        held.contains(&(200 << 20)),
        "the artifact arrived whole: {held:?}"
    );
    // A bundle past the size any home imports is refused at export, before it is written.
    let dir = s.package("bigger", 300 << 20);
    s.ok("a", &["publish", "--path", dir.to_str().expect("utf-8")]);
    let out = s.run(
        "a",
        &["export", "bigger", "--with-artifacts", "--car", car_arg],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("split the export"), "{err}");
    assert!(size_of(&car) < 300 << 20, "the earlier bundle is untouched");
}
