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

/// A fresh home and a command runner with deterministic keys and clock.
struct Env {
    home: std::path::PathBuf,
    seed: String,
}

impl Env {
    fn new(tag: &str) -> Env {
        Env::person(tag, "transcript")
    }

    /// A home whose keys derive from `seed`: another seed is another person.
    fn person(tag: &str, seed: &str) -> Env {
        let home = std::env::temp_dir().join(format!("cairn-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        Env {
            home,
            seed: seed.to_owned(),
        }
    }

    /// `sub` inside this home, as a command argument.
    fn path(&self, sub: &str) -> String {
        self.home.join(sub).to_str().expect("utf8").to_owned()
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("--home")
            .arg(&self.home)
            .args(args)
            .env("CAIRN_PASSPHRASE", "test passphrase")
            .env("CAIRN_KDF_INSECURE_FOR_TESTS", "1")
            .env("CAIRN_TEST_SEED", &self.seed)
            .env("CAIRN_TIME", "1795000000")
            .env_remove("CAIRN_HOME")
            .output()
            .expect("run cairn")
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn identities_are_created_listed_named_and_shown() {
    let env = Env::new("id");
    let out = env.run(&["id", "new", "--petname", "lucy"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lucy = stdout(&out).trim().to_owned();
    assert_eq!(lucy.len(), 53, "an identity ID: {lucy}");
    assert!(stderr(&out).contains("now the default"));
    // Reproducible: the same seed gives the same identity in another home.
    let other = Env::new("id-again");
    assert_eq!(stdout(&other.run(&["id", "new"])).trim(), lucy);

    let out = env.run(&["id", "show"]);
    assert_eq!(
        stdout(&out).lines().next(),
        Some(lucy.as_str()),
        "the ID alone on the first line"
    );
    assert!(stdout(&out).contains("signing keys: 1"));

    let out = env.run(&["id", "new", "--json"]);
    let bob: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let bob = bob["id"].as_str().expect("id").to_owned();
    assert_ne!(bob, lucy);
    assert!(env.run(&["id", "petname", "bob", &bob]).status.success());
    assert!(env.run(&["id", "default", "bob"]).status.success());
    let list: serde_json::Value =
        serde_json::from_str(&stdout(&env.run(&["id", "list", "--json"]))).expect("json");
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 2);
    assert!(
        list.iter()
            .any(|s| s["id"] == bob.as_str() && s["default"] == true && s["petnames"][0] == "bob")
    );
    assert_eq!(
        stdout(&env.run(&["id", "show", "--as", "lucy"]))
            .lines()
            .next(),
        Some(lucy.as_str())
    );

    let out = env.run(&["id", "show", "--as", "nobody"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("hint:"), "{}", stderr(&out));
    let out = env.run(&["id", "petname", "a.b", &bob]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("invalid petname"));

    // A new identity never takes a petname silently.
    let before = stdout(&env.run(&["id", "list", "--json"]));
    let taken = env.run(&["id", "new", "--petname", "lucy"]);
    assert_eq!(taken.status.code(), Some(2), "{}", stderr(&taken));
    assert!(
        stderr(&taken).contains("already names") && stderr(&taken).contains("--force"),
        "{}",
        stderr(&taken)
    );
    assert_eq!(
        stdout(&env.run(&["id", "list", "--json"])),
        before,
        "nothing was created"
    );
    let forced = env.run(&["id", "new", "--petname", "lucy", "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    let newest = stdout(&forced).trim().to_owned();
    assert_eq!(
        stdout(&env.run(&["id", "show", "--as", "lucy"]))
            .lines()
            .next(),
        Some(newest.as_str()),
        "with --force the petname moves"
    );
}

#[test]
fn a_passphrase_is_required_without_a_terminal() {
    let env = Env::new("nopass");
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("--home")
        .arg(&env.home)
        .args(["id", "new"])
        .env_remove("CAIRN_PASSPHRASE")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("CAIRN_PASSPHRASE"),
        "{}",
        stderr(&out)
    );
    // Nothing was created.
    let list = env.run(&["id", "list", "--json"]);
    assert_eq!(stdout(&list).trim(), "[]");
    // An empty passphrase is refused from the environment as on the terminal.
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("--home")
        .arg(&env.home)
        .args(["id", "new"])
        .env("CAIRN_PASSPHRASE", "")
        .env("CAIRN_KDF_INSECURE_FOR_TESTS", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`CAIRN_PASSPHRASE` is set but empty"),
        "{}",
        stderr(&out)
    );
    let list = env.run(&["id", "list", "--json"]);
    assert_eq!(
        stdout(&list).trim(),
        "[]",
        "no key sealed with the empty passphrase"
    );
}

fn write_package(dir: &std::path::Path, version: &str, body: &str) {
    std::fs::create_dir_all(dir.join("src")).expect("dir");
    std::fs::write(
        dir.join("cairn.toml"),
        format!("[package]\nname = \"libfoo\"\nversion = \"{version}\"\nlicense = \"MIT\"\n\n[dependencies]\nlibbar = \"^2.0\"\n"),
    )
    .expect("manifest");
    std::fs::write(dir.join("src/lib.txt"), body).expect("source");
}

#[cfg(unix)]
#[test]
fn cid_of_a_large_file_takes_memory_independent_of_its_size() {
    let env = Env::new("bigcid");
    std::fs::create_dir_all(&env.home).expect("dir");
    let file = env.home.join("big.bin");
    // 512 MiB, sparse: reading it costs time, not disk.
    std::fs::File::create(&file)
        .and_then(|f| f.set_len(512 << 20))
        .expect("sparse file");
    // Under a 256 MiB address-space limit a whole-file read cannot even be attempted.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 262144 && exec \"$0\" cid \"{}\"",
            file.display()
        ))
        .arg(env!("CARGO_BIN_EXE_cairn"))
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    let mut hasher = blake3::Hasher::new();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..512 {
        hasher.update(&zeros);
    }
    let expected = cairn_protocol::cid::Cid::new(
        cairn_protocol::cid::Codec::Raw,
        *hasher.finalize().as_bytes(),
    );
    assert!(
        stdout(&out).starts_with(&expected.to_string()),
        "{}",
        stdout(&out)
    );
}

#[test]
fn with_json_a_failure_is_json_too() {
    let env = Env::new("jsonerr");
    assert!(env.run(&["id", "new"]).status.success());
    let out = env.run(&["show", "nothing", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("json on stdout");
    assert!(
        doc["error"]
            .as_str()
            .is_some_and(|e| e.contains("is not in this home")),
        "{doc}"
    );
    assert!(
        doc["hints"][0]
            .as_str()
            .is_some_and(|h| h.contains("import")),
        "{doc}"
    );
    assert!(stderr(&out).contains("error:"), "people still read stderr");
}

#[test]
fn read_only_commands_never_create_a_home_at_a_mistyped_path() {
    let env = Env::new("typo");
    for args in [
        &["show", "lucy:libfoo"][..],
        &["log", "libfoo"][..],
        &["verify", "libfoo"][..],
        &["resolve", "--index", "lucy:community", "libfoo"][..],
        &["export", "libfoo", "--car", "/tmp/never-written.car"][..],
    ] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("there is no Cairn home at"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(!env.home.exists(), "{args:?} created the home");
    }
}

#[test]
fn a_bare_version_constraint_draws_a_warning_with_the_caret_form() {
    let env = Env::new("bare");
    assert!(env.run(&["id", "new"]).status.success());
    let pkg = env.home.join("pkg");
    std::fs::create_dir_all(&pkg).expect("dir");
    std::fs::write(
        pkg.join("cairn.toml"),
        "[package]\nname = \"a\"\nversion = \"1.0\"\n\n[dependencies]\nserde = \"1\"\nzlib = \"^1.2\"\n",
    )
    .expect("manifest");
    let out = env.run(&[
        "publish",
        "--path",
        pkg.to_str().expect("utf8"),
        "--dry-run",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("`serde = \"1\"` admits exactly version 1")
            && err.contains("`serde = \"^1\"`"),
        "{err}"
    );
    assert!(
        !err.contains("zlib"),
        "a caret constraint draws no warning: {err}"
    );
}

#[test]
fn publish_is_verified_idempotent_and_never_changes_a_version() {
    let env = Env::new("publish");
    assert!(
        env.run(&["id", "new", "--petname", "lucy"])
            .status
            .success()
    );
    let pkg = env.home.join("pkg");
    write_package(&pkg, "1.0.0", "one");
    let p = pkg.to_str().expect("utf8");

    let dry = env.run(&["publish", "--path", p, "--dry-run", "--json"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    let dry: serde_json::Value = serde_json::from_str(&stdout(&dry)).expect("json");
    assert_eq!(dry["outcome"], "dry-run");
    assert_eq!(
        dry["files"],
        serde_json::json!(["cairn.toml", "src/lib.txt"])
    );

    // Checking against an index this home lacks stops before anything is signed.
    let missing = env.run(&["publish", "--path", p, "--check-against", "lucy:nowhere"]);
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("nothing was published"),
        "{}",
        stderr(&missing)
    );
    assert_eq!(
        env.run(&["show", "libfoo"]).status.code(),
        Some(2),
        "no revision was signed"
    );

    let out = env.run(&["publish", "--path", p, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("admits exactly"),
        "a caret constraint draws no warning: {}",
        stderr(&out)
    );
    let first: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(first["outcome"]["published"]["seq"], 1);
    assert_eq!(
        first["release"], dry["release"],
        "the dry run predicted the release exactly"
    );
    let artifact = first["artifacts"]["default"]["cid"]
        .as_str()
        .expect("cid")
        .to_owned();
    assert!(env.home.join("artifacts").join(&artifact).exists());

    let again = env.run(&["publish", "--path", p]);
    assert!(again.status.success());
    assert!(stdout(&again).contains("already published"));

    write_package(&pkg, "1.0", "changed");
    let changed = env.run(&["publish", "--path", p]);
    assert_eq!(changed.status.code(), Some(2));
    assert!(
        stderr(&changed).contains("a published version never changes")
            && stderr(&changed).contains("hint:"),
        "{}",
        stderr(&changed)
    );

    std::fs::write(
        pkg.join("cairn.toml"),
        "[package]\nname = \"LibFoo\"\nversion = \"9.0.0\"\n",
    )
    .expect("manifest");
    let case = env.run(&["publish", "--path", p]);
    assert_eq!(case.status.code(), Some(2));
    assert!(
        stderr(&case).contains("differs only in case"),
        "{}",
        stderr(&case)
    );

    write_package(&pkg, "1.1.0", "two");
    let out = env.run(&["publish", "--path", p, "--json"]);
    let second: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(second["outcome"]["published"]["seq"], 2);

    std::fs::write(
        pkg.join("cairn.toml"),
        "[package]\nname = \"libfoo\"\nversion = \"1.2.0\"\nlicense = \"MIT/Apache\"\n",
    )
    .expect("bad");
    let bad = env.run(&["publish", "--path", p]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("SPDX"), "{}", stderr(&bad));
    let wrong_pass = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("--home")
        .arg(&env.home)
        .args(["publish", "--path", p])
        .env("CAIRN_PASSPHRASE", "wrong")
        .output()
        .expect("run");
    assert_eq!(wrong_pass.status.code(), Some(2));
    assert!(
        stderr(&wrong_pass).contains("wrong passphrase"),
        "{}",
        stderr(&wrong_pass)
    );
}

#[test]
fn yank_deprecate_advisory_grant_and_show() {
    let env = Env::new("maintain");
    let lucy = stdout(&env.run(&["id", "new", "--petname", "lucy"]))
        .trim()
        .to_owned();
    let bob = stdout(&env.run(&["id", "new", "--petname", "bob"]))
        .trim()
        .to_owned();
    let pkg = env.home.join("pkg");
    for (v, body) in [("1.0.0", "a"), ("1.1.0", "b")] {
        write_package(&pkg, v, body);
        let out = env.run(&["publish", "--path", pkg.to_str().expect("utf8")]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let ok = |args: &[&str]| {
        let out = env.run(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    // Bob cannot publish to Lucy's index until granted.
    write_package(&pkg, "1.2.0", "c");
    let p = pkg.to_str().expect("utf8");
    let denied = env.run(&[
        "publish",
        "--path",
        p,
        "--index",
        "lucy:libfoo",
        "--as",
        "bob",
    ]);
    assert_eq!(denied.status.code(), Some(2));
    assert!(
        stderr(&denied).contains("needs the `release` permission"),
        "{}",
        stderr(&denied)
    );
    ok(&["grant", "libfoo", "bob", "--can", "release"]);
    ok(&[
        "publish",
        "--path",
        p,
        "--index",
        "lucy:libfoo",
        "--as",
        "bob",
    ]);
    ok(&["yank", "libfoo@1.1.0", "--reason", "broken build"]);
    ok(&["deprecate", "libfoo@1.0", "--message", "use 1.2"]);
    ok(&[
        "advisory",
        "libfoo@1.0.0",
        "--id",
        "CVE-2026-0001",
        "--severity",
        "high",
        "--summary",
        "overflow",
    ]);
    let bob_yank = env.run(&["yank", &format!("{lucy}:libfoo@1.2.0"), "--as", "bob"]);
    assert_eq!(
        bob_yank.status.code(),
        Some(2),
        "release permission does not include yanking"
    );

    let show: serde_json::Value =
        serde_json::from_str(&ok(&["show", "lucy:libfoo", "--json"])).expect("json");
    assert_eq!(show["seq"], 7);
    let releases = show["releases"].as_array().expect("releases");
    assert_eq!(
        releases
            .iter()
            .map(|r| r["version"].as_str().unwrap_or(""))
            .collect::<Vec<_>>(),
        ["1.0.0", "1.1.0", "1.2.0"]
    );
    assert_eq!(releases[1]["yanked"], true);
    assert_eq!(releases[1]["yank_reason"], "broken build");
    assert_eq!(releases[0]["deprecated"], "use 1.2");
    assert_eq!(releases[0]["advisories"][0]["id"], "CVE-2026-0001");
    assert_eq!(show["maintainers"][1]["identity"], bob.as_str());
    assert_eq!(show["forked"], false);
    let text = ok(&["show", "libfoo"]);
    assert!(text.contains("yanked") && text.contains(&lucy));
    // Changes that change nothing sign nothing.
    for args in [
        &["yank", "libfoo@1.1.0", "--reason", "broken build"][..],
        &["unyank", "libfoo@1.2.0"][..],
        &["grant", "libfoo", "bob", "--can", "release"][..],
    ] {
        let said = ok(args);
        assert!(said.contains("nothing was signed"), "{args:?}: {said}");
    }
    let again: serde_json::Value =
        serde_json::from_str(&ok(&["show", "lucy:libfoo", "--json"])).expect("json");
    assert_eq!(again["seq"], 7, "no revision was added");
    // A real change still signs.
    assert!(ok(&["unyank", "libfoo@1.1.0"]).contains("revision 8"));
}

#[test]
#[allow(clippy::too_many_lines)] // A transcript reads best as one story.
fn homes_exchange_nothing_but_car_files() {
    let lucy_home = Env::new("car-lucy");
    let bob_home = Env::new("car-bob");
    let fresh = Env::new("car-fresh");
    let ok = |env: &Env, args: &[&str]| {
        let out = env.run(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let lucy = ok(&lucy_home, &["id", "new", "--petname", "lucy"])
        .trim()
        .to_owned();
    // Bob's home uses another seed: it is another person.
    let bob_out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("--home")
        .arg(&bob_home.home)
        .args(["id", "new", "--petname", "bob"])
        .env("CAIRN_PASSPHRASE", "bob's passphrase")
        .env("CAIRN_KDF_INSECURE_FOR_TESTS", "1")
        .env("CAIRN_TEST_SEED", "bob")
        .output()
        .expect("run");
    let bob = stdout(&bob_out).trim().to_owned();
    assert_ne!(lucy, bob);
    let dir = lucy_home.home.join("exchange");
    std::fs::create_dir_all(&dir).expect("dir");
    let car = |n: &str| dir.join(n).to_str().expect("utf8").to_owned();

    ok(&bob_home, &["export", "bob", "--car", &car("bob.car")]);
    ok(&lucy_home, &["import", &car("bob.car")]);
    ok(&lucy_home, &["id", "petname", "bob", &bob]);
    let pkg = lucy_home.home.join("pkg");
    for (v, body) in [("1.0.0", "a"), ("1.1.0", "b")] {
        write_package(&pkg, v, body);
        ok(
            &lucy_home,
            &["publish", "--path", pkg.to_str().expect("utf8")],
        );
    }
    ok(&lucy_home, &["grant", "libfoo", "bob", "--can", "release"]);
    ok(&lucy_home, &["export", "libfoo", "--car", &car("foo1.car")]);

    let imported = ok(&bob_home, &["import", &car("foo1.car"), "--json"]);
    assert!(imported.contains("imported"), "{imported}");
    write_package(&pkg, "1.2.0", "c");
    let bob_publish = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("--home")
        .arg(&bob_home.home)
        .args([
            "publish",
            "--path",
            pkg.to_str().expect("utf8"),
            "--index",
            &format!("{lucy}:libfoo"),
        ])
        .env("CAIRN_PASSPHRASE", "bob's passphrase")
        .output()
        .expect("run");
    assert!(bob_publish.status.success(), "{}", stderr(&bob_publish));
    ok(
        &bob_home,
        &[
            "export",
            &format!("{lucy}:libfoo"),
            "--car",
            &car("foo2.car"),
        ],
    );
    ok(&lucy_home, &["import", &car("foo2.car")]);
    ok(&lucy_home, &["yank", "libfoo@1.1.0"]);
    ok(&lucy_home, &["export", "libfoo", "--car", &car("foo3.car")]);

    // A tampered bundle is refused and changes nothing.
    let mut bytes = std::fs::read(car("foo3.car")).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(car("tampered.car"), &bytes).expect("write");
    let bad = fresh.run(&["import", &car("tampered.car")]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("does not match its CID") || stderr(&bad).contains("refused"),
        "{}",
        stderr(&bad)
    );
    assert!(
        fresh
            .run(&["show", &format!("{lucy}:libfoo")])
            .status
            .code()
            == Some(2),
        "nothing was stored"
    );

    ok(&fresh, &["import", &car("foo3.car")]);
    let at_lucy = ok(&lucy_home, &["show", "libfoo", "--json"]);
    let at_fresh = ok(&fresh, &["show", &format!("{lucy}:libfoo"), "--json"]);
    assert_eq!(
        at_lucy, at_fresh,
        "a fresh home verifies the bundle and sees the same state"
    );
    let v: serde_json::Value = serde_json::from_str(&at_fresh).expect("json");
    assert_eq!(v["releases"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["releases"][1]["yanked"], true);
    // Importing an older bundle now is a rollback.
    let old = fresh.run(&["import", &car("foo1.car")]);
    assert_eq!(old.status.code(), Some(2));
    assert!(
        stderr(&old).contains("rollback refused"),
        "{}",
        stderr(&old)
    );
}

fn write_named(dir: &std::path::Path, name: &str, version: &str, deps: &str) {
    std::fs::create_dir_all(dir).expect("dir");
    std::fs::write(
        dir.join("cairn.toml"),
        format!("[package]\nname = \"{name}\"\nversion = \"{version}\"\n\n[dependencies]\n{deps}"),
    )
    .expect("manifest");
    std::fs::write(dir.join("README"), format!("{name} {version}")).expect("readme");
}

#[test]
#[allow(clippy::too_many_lines)] // A transcript reads best as one story.
fn a_curator_checks_the_closure_before_publishing() {
    let lucy = Env::person("cur-lucy", "lucy");
    let ann = Env::person("cur-ann", "ann");
    let cora = Env::person("cur-cora", "cora");
    let fresh = Env::person("cur-fresh", "fresh");
    let ok = |env: &Env, args: &[&str]| {
        let out = env.run(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let lucy_id = ok(&lucy, &["id", "new"]).trim().to_owned();
    let ann_id = ok(&ann, &["id", "new"]).trim().to_owned();
    ok(&cora, &["id", "new"]);
    let dir = cora.home.join("x");
    std::fs::create_dir_all(&dir).expect("dir");
    let car = |n: &str| dir.join(n).to_str().expect("utf8").to_owned();
    write_named(
        &lucy.home.join("foo"),
        "libfoo",
        "1.0.0",
        "libbar = \"^2.0\"\n",
    );
    ok(&lucy, &["publish", "--path", &lucy.path("foo")]);
    ok(&lucy, &["export", "libfoo", "--car", &car("foo.car")]);
    write_named(&ann.home.join("bar"), "libbar", "2.1.0", "");
    ok(&ann, &["publish", "--path", &ann.path("bar")]);
    ok(&ann, &["export", "libbar", "--car", &car("bar.car")]);

    ok(&cora, &["import", &car("foo.car")]);
    ok(&cora, &["import", &car("bar.car")]);
    ok(&cora, &["curate", "new", "community"]);
    ok(
        &cora,
        &[
            "curate",
            "add",
            "community",
            "libfoo",
            &format!("{lucy_id}:libfoo"),
        ],
    );
    let check = cora.run(&["curate", "check", "community", "--json"]);
    assert_eq!(
        check.status.code(),
        Some(1),
        "dangling aliases fail the check"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&check)).expect("json");
    assert_eq!(report["dangling"][0]["alias"], "libbar");
    assert_eq!(report["dangling"][0]["needed_by"][0], "libfoo@1.0.0");
    let refused = cora.run(&["curate", "publish", "community"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("dangling") && stderr(&refused).contains("hint:"),
        "{}",
        stderr(&refused)
    );
    let dup = cora.run(&[
        "curate",
        "add",
        "community",
        "LibFoo",
        &format!("{lucy_id}:libfoo"),
    ]);
    assert_eq!(
        dup.status.code(),
        Some(2),
        "case-conflicting aliases are refused"
    );

    ok(
        &cora,
        &[
            "curate",
            "add",
            "community",
            "libbar",
            &format!("{ann_id}:libbar"),
            "--versions",
            "^2.0",
            "--exclude",
            "yanked",
        ],
    );
    ok(&cora, &["curate", "check", "community"]);
    let published = ok(&cora, &["curate", "publish", "community"]);
    assert!(published.contains("published"), "{published}");
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&cora, &["curate", "show", "community", "--json"])).expect("json");
    assert_eq!(shown["seq"], 1);
    assert_eq!(shown["staged"], 0);
    assert_eq!(shown["aliases"].as_array().map(Vec::len), Some(2));

    ok(
        &cora,
        &["export", "community", "--car", &car("community.car")],
    );
    ok(&fresh, &["import", &car("community.car")]);
    let cora_id = shown["index"].as_str().expect("index").to_owned();
    let again: serde_json::Value =
        serde_json::from_str(&ok(&fresh, &["curate", "show", &cora_id, "--json"])).expect("json");
    assert_eq!(
        again, shown,
        "the package index verifies and reads the same in a fresh home"
    );
}

#[test]
fn verify_and_log_read_the_stored_chain() {
    let env = Env::new("verify");
    let ok = |args: &[&str]| {
        let out = env.run(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    ok(&["id", "new", "--petname", "lucy"]);
    let pkg = env.home.join("pkg");
    write_package(&pkg, "1.0.0", "a");
    ok(&["publish", "--path", pkg.to_str().expect("utf8")]);
    ok(&["yank", "libfoo@1.0.0"]);
    assert!(ok(&["verify", "libfoo"]).starts_with("ok:"));
    assert!(ok(&["verify", "lucy"]).starts_with("ok:"));
    let log: serde_json::Value =
        serde_json::from_str(&ok(&["log", "libfoo", "--json"])).expect("json");
    assert_eq!(log.as_array().map(Vec::len), Some(2));
    assert_eq!(log[1]["ops"][0], "yank 1.0.0");
    // Damage the store behind cairn's back: verify notices.
    let db = corrupt_stored_yank(&env.home.join("cairn.db"));
    assert!(db, "edited the database");
    let out = env.run(&["verify", "libfoo"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("FAILED"));
    let said = stdout(&out);
    assert!(
        said.contains("store is damaged") && !said.contains("revision 0") && said.contains("local"),
        "the report names the damaged revision and says the damage is local: {said}"
    );
    // Reads trust what was verified, yet never show damage as data: the head no longer reads
    // back as the revision that was verified.
    let shown = env.run(&["show", "libfoo"]);
    assert_eq!(shown.status.code(), Some(2), "{}", stdout(&shown));
    assert!(
        stderr(&shown).contains("store is damaged"),
        "{}",
        stderr(&shown)
    );

    // An artifact damaged on disk: `verify CID` re-hashes it.
    let artifact = std::fs::read_dir(env.home.join("artifacts"))
        .expect("artifacts")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| !n.starts_with('.'))
        .expect("one artifact");
    assert!(ok(&["verify", &artifact]).starts_with("ok: artifact"));
    let path = env.home.join("artifacts").join(&artifact);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[0] ^= 1;
    std::fs::write(&path, bytes).expect("write");
    let out = env.run(&["verify", &artifact]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("does not match its CID"));
    // A CID that is not held here is an error that says so.
    let stranger = cairn_protocol::cid::Cid::of_raw(b"not here").to_string();
    let out = env.run(&["verify", &stranger]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not held in this home"),
        "{}",
        stderr(&out)
    );
}

/// Flips a byte inside the last stored revision envelope, without any SQLite library: the
/// envelope bytes are stored verbatim, so find the yank payload's text and change it.
fn corrupt_stored_yank(db: &std::path::Path) -> bool {
    // Make sure the write-ahead log is folded into the main file first.
    let _ = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("--home")
        .arg(db.parent().expect("home"))
        .args(["id", "list"])
        .output();
    let mut bytes = std::fs::read(db).expect("db");
    let needle = b"\x64yank"; // The text "yank" as a CBOR string inside the envelope.
    let Some(pos) = bytes.windows(needle.len()).position(|w| w == needle) else {
        return false;
    };
    bytes[pos + 1] = b'Y';
    std::fs::write(db, bytes).expect("write");
    true
}

#[test]
#[allow(clippy::too_many_lines)] // A transcript reads best as one story.
fn keys_rotate_revoke_and_move_between_machines() {
    let env = Env::new("keys");
    let laptop = Env::person("keys-laptop", "laptop");
    let ok = |e: &Env, args: &[&str]| {
        let out = e.run(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let id = ok(&env, &["id", "new", "--petname", "lucy"])
        .trim()
        .to_owned();
    let pkg = env.home.join("pkg");
    write_package(&pkg, "1.0.0", "a");
    ok(&env, &["publish", "--path", pkg.to_str().expect("utf8")]);
    let old: serde_json::Value =
        serde_json::from_str(&ok(&env, &["id", "show", "--json"])).expect("json");
    let old_key = old["signing_keys"][0].as_str().expect("key").to_owned();

    // Root keys off the machine: publishing still works, identity changes need the root file.
    let root_file = env.home.join("root.key");
    let root = root_file.to_str().expect("utf8");
    ok(&env, &["id", "export-root", "--out", root, "--remove"]);
    write_package(&pkg, "1.1.0", "b");
    ok(&env, &["publish", "--path", pkg.to_str().expect("utf8")]);
    let denied = env.run(&["id", "add-key"]);
    assert_eq!(denied.status.code(), Some(2));
    assert!(
        stderr(&denied).contains("--root FILE"),
        "{}",
        stderr(&denied)
    );
    let rotated = ok(&env, &["id", "rotate", "--root", root])
        .trim()
        .to_owned();
    assert_ne!(rotated, old_key);
    let added = ok(&env, &["id", "add-key", "--root", root])
        .trim()
        .to_owned();
    // A leaked key is revoked: removed and never valid again.
    ok(&env, &["id", "revoke-key", &rotated, "--root", root]);
    let gone = env.run(&["id", "revoke-key", &old_key, "--root", root]);
    assert_eq!(
        gone.status.code(),
        Some(2),
        "a key no longer held cannot be revoked"
    );
    let now: serde_json::Value =
        serde_json::from_str(&ok(&env, &["id", "show", "--json"])).expect("json");
    assert_eq!(now["signing_keys"], serde_json::json!([added]));
    assert_eq!(now["revoked_keys"], serde_json::json!([rotated]));
    write_package(&pkg, "1.2.0", "c");
    ok(&env, &["publish", "--path", pkg.to_str().expect("utf8")]);
    assert!(ok(&env, &["verify", "libfoo"]).starts_with("ok:"));
    assert!(ok(&env, &["verify", "lucy"]).starts_with("ok:"));

    // The identity moves to another machine and publishes there.
    let file = env.home.join("lucy.identity");
    ok(
        &env,
        &["id", "export", "--out", file.to_str().expect("utf8")],
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file)
            .expect("exported")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the sealed keys are owner-only");
    }
    let again = env.run(&["id", "export", "--out", file.to_str().expect("utf8")]);
    assert_eq!(again.status.code(), Some(2), "an existing file is kept");
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    ok(
        &env,
        &[
            "id",
            "export",
            "--out",
            file.to_str().expect("utf8"),
            "--force",
        ],
    );
    assert_eq!(
        ok(&laptop, &["id", "import", file.to_str().expect("utf8")]).trim(),
        id
    );
    assert_eq!(
        ok(&laptop, &["id", "show"]).lines().next(),
        Some(id.as_str())
    );
    let twice = laptop.run(&["id", "import", file.to_str().expect("utf8")]);
    assert_eq!(
        twice.status.code(),
        Some(2),
        "keys already here are never overwritten"
    );
    // The identity file carried libfoo: the laptop continues it, and home takes the new
    // revision as an extension, not a fork.
    let seq = |e: &Env| -> u64 {
        let v: serde_json::Value =
            serde_json::from_str(&e.state("libfoo").expect("libfoo is held")).expect("json");
        v["seq"].as_u64().expect("seq")
    };
    let at_home = seq(&env);
    let on_laptop = laptop.home.join("pkg");
    write_package(&on_laptop, "9.0.0", "laptop");
    let lp = on_laptop.to_str().expect("utf8");
    ok(&laptop, &["publish", "--path", lp]);
    assert_eq!(seq(&laptop), at_home + 1, "the laptop continued the index");
    let car = laptop.home.join("libfoo.car");
    ok(
        &laptop,
        &["export", "libfoo", "--car", car.to_str().expect("utf8")],
    );
    let imported = ok(&env, &["import", car.to_str().expect("utf8")]);
    assert!(imported.contains("verified and stored"), "{imported}");
    assert!(ok(&env, &["verify", "libfoo"]).starts_with("ok:"));
    // An index the identity file did not carry may exist elsewhere: a first revision here
    // would fork it, so it needs `--new-index`.
    std::fs::write(
        on_laptop.join("cairn.toml"),
        "[package]\nname = \"libnew\"\nversion = \"1.0.0\"\n",
    )
    .expect("manifest");
    let refused = laptop.run(&["publish", "--path", lp]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("would fork it") && stderr(&refused).contains("--new-index"),
        "{}",
        stderr(&refused)
    );
    ok(&laptop, &["publish", "--path", lp, "--new-index"]);
}

impl Env {
    fn run_with(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
        c.arg("--home").arg(&self.home).args(args);
        c.env("CAIRN_PASSPHRASE", "test passphrase")
            .env("CAIRN_KDF_INSECURE_FOR_TESTS", "1")
            .env("CAIRN_TEST_SEED", &self.seed)
            .env("CAIRN_TIME", "1795000000")
            .env_remove("CAIRN_HOME");
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().expect("run cairn")
    }

    /// `show --json` of an index, or `None` when it is not held.
    fn state(&self, index: &str) -> Option<String> {
        let out = self.run(&["show", index, "--json"]);
        out.status.success().then(|| stdout(&out))
    }
}

const WRITE_STEPS: [&str; 5] = [
    "artifact:after-temp-write",
    "publish:after-artifacts",
    "publish:after-release-block",
    "import:before-commit",
    "import:after-commit",
];

#[test]
fn a_crash_at_any_write_step_leaves_the_state_before_or_after() {
    // The reference: the same person and clock without faults.
    let reference = Env::new("crash-ref");
    assert!(reference.run(&["id", "new"]).status.success());
    let pkg = reference.home.join("pkg");
    write_package(&pkg, "1.0.0", "a");
    let p = pkg.to_str().expect("utf8").to_owned();
    assert!(reference.run(&["publish", "--path", &p]).status.success());
    let before = reference.state("libfoo");
    write_package(&pkg, "1.1.0", "b");
    assert!(reference.run(&["publish", "--path", &p]).status.success());
    let after_publish = reference.state("libfoo");
    assert!(reference.run(&["yank", "libfoo@1.0.0"]).status.success());
    let after_yank = reference.state("libfoo");

    for (i, step) in WRITE_STEPS.iter().enumerate() {
        let env = Env::new(&format!("crash-{i}"));
        assert!(env.run(&["id", "new"]).status.success());
        write_package(&pkg, "1.0.0", "a");
        assert!(env.run(&["publish", "--path", &p]).status.success());
        write_package(&pkg, "1.1.0", "b");
        let crashed = env.run_with(&["publish", "--path", &p], &[("CAIRN_FAULT_AT", step)]);
        assert!(
            !crashed.status.success(),
            "{step}: the fault must stop the process"
        );
        let now = env.state("libfoo");
        assert!(
            now == before || now == after_publish,
            "{step}: state is neither before nor after: {now:?}"
        );
        assert!(
            stdout(&env.run(&["verify", "libfoo"])).starts_with("ok:"),
            "{step}: verify"
        );
        // Running the command again completes the work.
        let again = env.run(&["publish", "--path", &p]);
        assert!(again.status.success(), "{step}: {}", stderr(&again));
        assert_eq!(env.state("libfoo"), after_publish, "{step}");
        if step.starts_with("import:") {
            let crashed = env.run_with(&["yank", "libfoo@1.0.0"], &[("CAIRN_FAULT_AT", step)]);
            assert!(!crashed.status.success());
            let now = env.state("libfoo");
            assert!(
                now == after_publish || now == after_yank,
                "yank at {step}: {now:?}"
            );
            assert!(stdout(&env.run(&["verify", "libfoo"])).starts_with("ok:"));
        }
    }
}

#[test]
fn a_crash_while_sealing_keys_loses_nothing() {
    let env = Env::new("crash-keys");
    let crashed = env.run_with(
        &["id", "new"],
        &[("CAIRN_FAULT_AT", "keys:after-temp-write")],
    );
    assert!(!crashed.status.success());
    assert_eq!(
        stdout(&env.run(&["id", "list", "--json"])).trim(),
        "[]",
        "no identity without its keys"
    );
    assert!(
        env.run(&["id", "new"]).status.success(),
        "{}",
        stderr(&env.run(&["id", "list"]))
    );
    let list: serde_json::Value =
        serde_json::from_str(&stdout(&env.run(&["id", "list", "--json"]))).expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(1));
}

#[test]
fn sigkill_at_random_moments_leaves_a_consistent_store() {
    let reference = Env::new("kill-ref");
    assert!(reference.run(&["id", "new"]).status.success());
    let pkg = reference.home.join("pkg");
    write_package(&pkg, "1.0.0", "a");
    let p = pkg.to_str().expect("utf8").to_owned();
    let before = reference.state("libfoo");
    assert!(reference.run(&["publish", "--path", &p]).status.success());
    let after = reference.state("libfoo");
    for (i, delay_ms) in [0u64, 2, 5, 10, 20, 40].into_iter().enumerate() {
        let env = Env::new(&format!("kill-{i}"));
        assert!(env.run(&["id", "new"]).status.success());
        let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("--home")
            .arg(&env.home)
            .args(["publish", "--path", &p])
            .env("CAIRN_PASSPHRASE", "test passphrase")
            .env("CAIRN_TEST_SEED", &env.seed)
            .env("CAIRN_TIME", "1795000000")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let now = env.state("libfoo");
        assert!(
            now == before || now == after,
            "killed after {delay_ms} ms: {now:?}"
        );
        if now.is_some() {
            assert!(stdout(&env.run(&["verify", "libfoo"])).starts_with("ok:"));
        }
    }
}

#[test]
fn a_co_maintainer_conflict_converges_with_both_releases() {
    let lucy = Env::person("conf-lucy", "lucy");
    let bob = Env::person("conf-bob", "bob");
    let ok = |e: &Env, args: &[&str]| {
        let out = e.run(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    ok(&lucy, &["id", "new", "--petname", "lucy"]);
    let bob_id = ok(&bob, &["id", "new"]).trim().to_owned();
    let dir = lucy.home.join("x");
    std::fs::create_dir_all(&dir).expect("dir");
    let car = |n: &str| dir.join(n).to_str().expect("utf8").to_owned();
    ok(&bob, &["export", &bob_id, "--car", &car("bob.car")]);
    ok(&lucy, &["import", &car("bob.car")]);
    let pkg = lucy.home.join("pkg");
    write_package(&pkg, "1.0.0", "a");
    ok(&lucy, &["publish", "--path", pkg.to_str().expect("utf8")]);
    ok(&lucy, &["grant", "libfoo", &bob_id, "--can", "release"]);
    ok(&lucy, &["export", "libfoo", "--car", &car("base.car")]);
    ok(&bob, &["import", &car("base.car")]);
    let lucy_id = ok(&lucy, &["id", "show"])
        .lines()
        .next()
        .expect("id")
        .to_owned();
    // Both append offline at the same seq.
    write_package(&pkg, "1.1.0", "lucy's");
    ok(&lucy, &["publish", "--path", pkg.to_str().expect("utf8")]);
    let bob_pkg = bob.home.join("pkg");
    write_package(&bob_pkg, "1.2.0", "bob's");
    ok(
        &bob,
        &[
            "publish",
            "--path",
            bob_pkg.to_str().expect("utf8"),
            "--index",
            &format!("{lucy_id}:libfoo"),
        ],
    );
    ok(&lucy, &["export", "libfoo", "--car", &car("lucy3.car")]);
    ok(
        &bob,
        &[
            "export",
            &format!("{lucy_id}:libfoo"),
            "--car",
            &car("bob3.car"),
        ],
    );
    // Lucy (the owner) keeps hers; Bob's home switches and re-applies his release on top.
    let at_lucy = ok(&lucy, &["import", &car("bob3.car")]);
    assert!(at_lucy.contains("kept the winning branch"), "{at_lucy}");
    let at_bob = ok(&bob, &["import", &car("lucy3.car")]);
    assert!(at_bob.contains("re-applied"), "{at_bob}");
    ok(
        &bob,
        &[
            "export",
            &format!("{lucy_id}:libfoo"),
            "--car",
            &car("bob4.car"),
        ],
    );
    ok(&lucy, &["import", &car("bob4.car")]);
    let l = ok(&lucy, &["show", "libfoo", "--json"]);
    let b = ok(&bob, &["show", &format!("{lucy_id}:libfoo"), "--json"]);
    assert_eq!(l, b, "both homes on the same head");
    let v: serde_json::Value = serde_json::from_str(&l).expect("json");
    let versions: Vec<&str> = v["releases"]
        .as_array()
        .expect("releases")
        .iter()
        .filter_map(|r| r["version"].as_str())
        .collect();
    assert_eq!(versions, ["1.0.0", "1.1.0", "1.2.0"]);
    assert_eq!(v["forked"], false);
    assert_eq!(v["flagged"], serde_json::json!([]));
}

#[test]
fn a_crash_during_curate_publish_or_import_leaves_before_or_after() {
    let publisher = Env::person("crash2-pub", "publisher");
    let ok = |e: &Env, args: &[&str]| {
        let out = e.run(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let pub_id = ok(&publisher, &["id", "new"]).trim().to_owned();
    write_named(&publisher.home.join("foo"), "libfoo", "1.0.0", "");
    ok(&publisher, &["publish", "--path", &publisher.path("foo")]);
    let car = publisher.home.join("foo.car");
    let car = car.to_str().expect("utf8");
    ok(&publisher, &["export", "libfoo", "--car", car]);
    let target = format!("{pub_id}:libfoo");
    for (i, step) in ["import:before-commit", "import:after-commit"]
        .into_iter()
        .enumerate()
    {
        // import
        let env = Env::person(&format!("crash2-imp-{i}"), "curator");
        ok(&env, &["id", "new"]);
        let crashed = env.run_with(&["import", car], &[("CAIRN_FAULT_AT", step)]);
        assert!(!crashed.status.success(), "{step}");
        // The identity log commits first; the index is either absent or complete.
        if let Some(state) = env.state(&target) {
            assert!(
                stdout(&env.run(&["verify", &target])).starts_with("ok:"),
                "{step}: {state}"
            );
        }
        ok(&env, &["import", car]);
        assert!(env.state(&target).is_some());
        // curate publish
        ok(&env, &["curate", "new", "community"]);
        ok(&env, &["curate", "add", "community", "libfoo", &target]);
        let crashed = env.run_with(
            &["curate", "publish", "community"],
            &[("CAIRN_FAULT_AT", step)],
        );
        assert!(!crashed.status.success(), "{step}");
        let shown: serde_json::Value =
            serde_json::from_str(&ok(&env, &["curate", "show", "community", "--json"]))
                .expect("json");
        match shown["seq"].as_u64() {
            None => assert_eq!(shown["staged"], 1, "{step}: before: the draft is intact"),
            Some(1) => assert_eq!(
                shown["staged"], 0,
                "{step}: after: signed and the draft cleared together"
            ),
            other => panic!("{step}: unexpected seq {other:?}"),
        }
        if shown["seq"].is_null() {
            ok(&env, &["curate", "publish", "community"]);
        }
        assert!(
            stdout(&env.run(&["verify", "community"])).starts_with("ok:"),
            "{step}"
        );
    }
}

/// Issue 4's acceptance walk: every identity in its own home, homes exchanging nothing but CAR
/// files. Two identities; one publishes libfoo 1.0.0 and 1.1.0 and grants the other release
/// rights, who publishes 1.2.0; 1.1.0 is yanked; a third curates `community` with libfoo and
/// libbar (published by a fourth); `curate check` reports a dangling alias until it is added,
/// then publishes; `show --json` reflects all of it; a fresh home imports and sees the same.
#[test]
#[allow(clippy::too_many_lines)] // A transcript reads best as one story.
fn acceptance_walk_publish_grant_curate_exchange() {
    let (lucy, bob, ann, cora, fresh) = (
        Env::person("acc-lucy", "lucy"),
        Env::person("acc-bob", "bob"),
        Env::person("acc-ann", "ann"),
        Env::person("acc-cora", "cora"),
        Env::person("acc-fresh", "fresh"),
    );
    let ok = |e: &Env, args: &[&str]| {
        let out = e.run(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let dir = std::env::temp_dir().join(format!("cairn-acc-cars-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let car = |n: &str| dir.join(n).to_str().expect("utf8").to_owned();
    let lucy_id = ok(&lucy, &["id", "new"]).trim().to_owned();
    let bob_id = ok(&bob, &["id", "new"]).trim().to_owned();
    let ann_id = ok(&ann, &["id", "new"]).trim().to_owned();
    ok(&cora, &["id", "new"]);
    let foo = format!("{lucy_id}:libfoo");

    // Lucy publishes 1.0.0 and 1.1.0 and grants Bob release rights.
    ok(&bob, &["export", &bob_id, "--car", &car("bob-id.car")]);
    ok(&lucy, &["import", &car("bob-id.car")]);
    for v in ["1.0.0", "1.1.0"] {
        write_named(&lucy.home.join("foo"), "libfoo", v, "libbar = \"^2.0\"\n");
        ok(&lucy, &["publish", "--path", &lucy.path("foo")]);
    }
    ok(&lucy, &["grant", "libfoo", &bob_id, "--can", "release"]);
    ok(&lucy, &["export", "libfoo", "--car", &car("foo-a.car")]);
    // Bob publishes 1.2.0 to Lucy's index.
    ok(&bob, &["import", &car("foo-a.car")]);
    write_named(
        &bob.home.join("foo"),
        "libfoo",
        "1.2.0",
        "libbar = \"^2.0\"\n",
    );
    ok(
        &bob,
        &["publish", "--path", &bob.path("foo"), "--index", &foo],
    );
    ok(&bob, &["export", &foo, "--car", &car("foo-b.car")]);
    // Lucy takes it and yanks 1.1.0.
    ok(&lucy, &["import", &car("foo-b.car")]);
    ok(&lucy, &["yank", "libfoo@1.1.0"]);
    ok(&lucy, &["export", "libfoo", "--car", &car("foo-c.car")]);
    // Ann publishes libbar.
    write_named(&ann.home.join("bar"), "libbar", "2.3.0", "");
    ok(&ann, &["publish", "--path", &ann.path("bar")]);
    ok(&ann, &["export", "libbar", "--car", &car("bar.car")]);

    // Cora curates.
    ok(&cora, &["import", &car("foo-c.car")]);
    ok(&cora, &["import", &car("bar.car")]);
    ok(&cora, &["curate", "new", "community"]);
    ok(
        &cora,
        &[
            "curate",
            "add",
            "community",
            "libfoo",
            &foo,
            "--exclude",
            "yanked",
        ],
    );
    let check = cora.run(&["curate", "check", "community", "--json"]);
    assert_eq!(check.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&check)).expect("json");
    assert_eq!(report["dangling"][0]["alias"], "libbar");
    assert_eq!(
        report["dangling"][0]["needed_by"],
        serde_json::json!(["libfoo@1.0.0", "libfoo@1.2.0"]),
        "the yanked 1.1.0 is not admitted"
    );
    ok(
        &cora,
        &[
            "curate",
            "add",
            "community",
            "libbar",
            &format!("{ann_id}:libbar"),
        ],
    );
    ok(&cora, &["curate", "check", "community"]);
    ok(&cora, &["curate", "publish", "community"]);
    let community: serde_json::Value =
        serde_json::from_str(&ok(&cora, &["curate", "show", "community", "--json"])).expect("json");
    let community_name = community["index"].as_str().expect("name").to_owned();

    // show --json reflects all of it.
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&cora, &["show", &foo, "--json"])).expect("json");
    let rel = shown["releases"].as_array().expect("releases");
    assert_eq!(
        rel.iter()
            .map(|r| r["version"].as_str().unwrap_or(""))
            .collect::<Vec<_>>(),
        ["1.0.0", "1.1.0", "1.2.0"]
    );
    assert_eq!(
        rel.iter().map(|r| r["yanked"] == true).collect::<Vec<_>>(),
        [false, true, false]
    );
    assert_eq!(shown["maintainers"][1]["identity"], bob_id.as_str());
    assert_eq!(
        shown["maintainers"][1]["permissions"],
        serde_json::json!(["release"])
    );
    assert_eq!(community["aliases"].as_array().map(Vec::len), Some(2));

    // A fresh home verifies the bundles and sees identical state.
    for c in ["foo-c.car", "bar.car"] {
        ok(&fresh, &["import", &car(c)]);
    }
    ok(
        &cora,
        &["export", "community", "--car", &car("community.car")],
    );
    ok(&fresh, &["import", &car("community.car")]);
    assert_eq!(
        ok(&fresh, &["show", &foo, "--json"]),
        ok(&cora, &["show", &foo, "--json"])
    );
    assert_eq!(
        ok(&fresh, &["curate", "show", &community_name, "--json"]),
        ok(&cora, &["curate", "show", "community", "--json"])
    );
    assert!(stdout(&fresh.run(&["verify", &foo])).starts_with("ok:"));
    assert!(stdout(&fresh.run(&["verify", &community_name])).starts_with("ok:"));

    // The fresh home resolves against the community index: 1.2.0 (1.1.0 is yanked and
    // excluded), with libbar found through the same index.
    let solved: serde_json::Value = serde_json::from_str(&ok(
        &fresh,
        &["resolve", "--index", &community_name, "libfoo@^1", "--json"],
    ))
    .expect("json");
    let picked: Vec<(String, String)> = solved["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            (
                p["alias"].as_str().unwrap_or("").to_owned(),
                p["version"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        picked,
        [
            ("libbar".to_owned(), "2.3.0".to_owned()),
            ("libfoo".to_owned(), "1.2.0".to_owned())
        ]
    );
    assert_eq!(solved["packages"][1]["index"], foo.as_str());
    let fails = fresh.run(&["resolve", "--index", &community_name, "libfoo@^3", "--json"]);
    assert_eq!(fails.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&fails)).expect("json");
    assert!(
        report["error"]
            .as_str()
            .is_some_and(|e| e.contains(&community_name) && e.contains("\nhint: ")),
        "{report}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
