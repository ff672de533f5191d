//! The consumer's workflow through the `cairn` binary: init, add, lock, install, and the ways
//! each refuses.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct World {
    root: PathBuf,
}

impl World {
    fn new(tag: &str) -> World {
        let root =
            std::env::temp_dir().join(format!("cairn-consumer-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("root");
        World { root }
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.root.join(sub)
    }

    /// `cairn --home HOME ARGS` in `cwd` (relative to the root).
    fn run(&self, home: &str, cwd: &str, args: &[&str]) -> Output {
        std::fs::create_dir_all(self.path(cwd)).expect("cwd");
        Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("--home")
            .arg(self.path(home))
            .args(args)
            .current_dir(self.path(cwd))
            .env("CAIRN_PASSPHRASE", "test passphrase")
            .env("CAIRN_KDF_INSECURE_FOR_TESTS", "1")
            .env("CAIRN_TEST_SEED", home)
            .env("CAIRN_TIME", "1795000000")
            .env_remove("CAIRN_HOME")
            .output()
            .expect("run cairn")
    }

    fn ok(&self, home: &str, cwd: &str, args: &[&str]) -> String {
        let out = self.run(home, cwd, args);
        assert!(
            out.status.success(),
            "cairn {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn fails(&self, home: &str, cwd: &str, args: &[&str]) -> String {
        let out = self.run(home, cwd, args);
        assert!(!out.status.success(), "cairn {args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `home`'s package index `name`, mapping each alias to `<id>:<alias>`, published.
    fn curate(&self, home: &str, name: &str, id: &str, aliases: &[&str]) {
        self.ok(home, ".", &["curate", "new", name]);
        for a in aliases {
            self.ok(home, ".", &["curate", "add", name, a, &format!("{id}:{a}")]);
        }
        self.ok(home, ".", &["curate", "publish", name]);
    }

    /// A new identity in `home` (created with these extra `id new` arguments); its ID.
    fn identity(&self, home: &str, extra: &[&str]) -> String {
        let mut args = vec!["id", "new"];
        args.extend_from_slice(extra);
        let out = self.ok(home, ".", &args);
        out.lines().next().expect("an identity").to_owned()
    }

    /// A package `name` at `version` in `dir` (with a `<name>.txt` file and `deps`, a
    /// `[dependencies]` table or nothing), published by `who` from `home`.
    fn package(&self, home: &str, who: &str, dir: &str, (name, version, deps): (&str, &str, &str)) {
        self.write(
            &format!("{dir}/cairn.toml"),
            &format!("[package]\nname = \"{name}\"\nversion = \"{version}\"\n{deps}"),
        );
        self.write(&format!("{dir}/{name}.txt"), &format!("{name} {version}\n"));
        self.ok(home, ".", &["publish", "--as", who, "--path", dir]);
    }

    /// A project in `dir` with this manifest.
    fn project(&self, dir: &str, manifest: &str) {
        self.write(&format!("{dir}/cairn.toml"), manifest);
        std::fs::create_dir_all(self.path(dir).join(".cairn")).expect("scope");
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("dir");
        std::fs::write(p, text).expect("write");
    }

    fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).expect("read")
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Every file under `dir` (the tree link followed), with its bytes.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let base = dir.canonicalize().expect("tree");
    let mut out = Vec::new();
    let mut todo = vec![base.clone()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let rel = p.strip_prefix(&base).expect("rel").display().to_string();
                out.push((rel, std::fs::read(&p).expect("file")));
            }
        }
    }
    out.sort();
    out
}

#[test]
#[allow(clippy::too_many_lines)] // One story, read in order.
fn a_consumer_locks_installs_and_is_refused_clearly() {
    let w = World::new("flow");
    // A publisher (also curating, in the same home).
    let id = w.identity("pub", &[]);
    w.write(
        "src/libbar-2.0/cairn.toml",
        "[package]\nname = \"libbar\"\nversion = \"2.0.0\"\n",
    );
    w.write("src/libbar-2.0/bar.txt", "bar 2.0\n");
    w.write(
        "src/libbar/cairn.toml",
        "[package]\nname = \"libbar\"\nversion = \"2.1.0\"\n",
    );
    w.write("src/libbar/bar.txt", "bar 2.1\n");
    w.write(
        "src/libfoo/cairn.toml",
        "[package]\nname = \"libfoo\"\nversion = \"1.0.0\"\n[dependencies]\nlibbar = \"^2.0\"\n",
    );
    w.write("src/libfoo/foo.txt", "foo\n");
    for p in ["src/libbar-2.0", "src/libbar", "src/libfoo"] {
        w.ok("pub", ".", &["publish", "--path", p]);
    }
    w.curate("pub", "community", &id, &["libbar", "libfoo"]);
    let community = format!("{id}:community");

    // The consumer's first commands.
    w.ok("pub", "app", &["init", "--index", &community]);
    assert!(w.fails("pub", "app", &["init"]).contains("already exists"));
    let out = w.ok("pub", "app", &["add", "libfoo"]);
    assert!(out.contains("added libfoo 1.0.0"), "{out}");
    let manifest = String::from_utf8(w.read("app/cairn.toml")).expect("utf8");
    assert!(manifest.contains("libfoo = \"^1.0.0\""), "{manifest}");
    assert_eq!(w.read("app/.cairn/packages/libfoo/foo.txt"), b"foo\n");
    assert_eq!(w.read("app/.cairn/packages/libbar/bar.txt"), b"bar 2.1\n");
    let list = w.ok("pub", "app", &["list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&list).expect("json");
    assert_eq!(list["packages"].as_array().expect("packages").len(), 2);
    let lock = w.read("app/cairn.lock");

    // Reading the lock: the tree, why a package is there, what is known of it.
    let shown = w.ok("pub", "app", &["tree"]);
    assert_eq!(shown, "libfoo 1.0.0\n└── libbar 2.1.0\n");
    let why = w.ok("pub", "app", &["why", "libbar"]);
    assert_eq!(why, "libbar 2.1.0 ← libfoo 1.0.0 ← your requirements\n");
    let info: serde_json::Value =
        serde_json::from_str(&w.ok("pub", "app", &["info", "libbar", "--json"])).expect("json");
    assert_eq!(info["versions"], serde_json::json!(["2.1.0", "2.0.0"]));
    assert_eq!(info["locked"][0]["version"], "2.1.0");
    assert!(
        w.fails("pub", "app", &["why", "nothing"])
            .contains("not in the lockfile")
    );

    // Unsatisfiable: the explanation is shown and the manifest is left as it was.
    let err = w.fails("pub", "app", &["add", "libbar@^3"]);
    assert!(
        err.contains("cannot all be met") && err.contains("libbar ^3"),
        "{err}"
    );
    assert_eq!(
        String::from_utf8(w.read("app/cairn.toml")).expect("utf8"),
        manifest
    );
    assert_eq!(w.read("app/cairn.lock"), lock);

    // Reproducible: the same manifest against the same heads in a second home gives the same
    // lockfile, and the committed lockfile installs the same tree.
    w.ok(
        "pub",
        "app",
        &[
            "export",
            "--lockfile",
            "cairn.lock",
            "--with-artifacts",
            "--car",
            "../app.car",
        ],
    );
    w.ok("ci", ".", &["import", "app.car"]);
    w.write("ci-app/cairn.toml", &manifest);
    std::fs::create_dir_all(w.path("ci-app/.cairn")).expect("scope");
    w.ok("ci", "ci-app", &["lock"]);
    assert_eq!(
        w.read("ci-app/cairn.lock"),
        lock,
        "byte-identical lockfiles"
    );
    w.ok("ci", "ci-app", &["install", "--frozen", "--offline"]);
    assert_eq!(
        tree(&w.path("app/.cairn/packages")),
        tree(&w.path("ci-app/.cairn/packages"))
    );

    // Frozen: a changed manifest is refused and nothing moves.
    w.write(
        "ci-app/cairn.toml",
        &manifest.replace("[dependencies]\n", "[dependencies]\nlibbar = \"2.0.0\"\n"),
    );
    let err = w.fails("ci", "ci-app", &["install", "--frozen"]);
    assert!(err.contains("--frozen"), "{err}");
    assert_eq!(w.read("ci-app/cairn.lock"), lock);

    // Offline, the portable data answers a change inside it (2.0.0 was admissible at lock
    // time), with no index read...
    let out = w.run("ci", "ci-app", &["lock", "--offline"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("curator's index"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("libbar 2.1.0 -> 2.0.0"));
    // Its artifact never came to this home: the install says which and how to get it, and the
    // installed tree stays as it was.
    let err = w.fails("ci", "ci-app", &["install", "--offline"]);
    assert!(
        err.contains("libbar 2.0.0: artifact") && err.contains("--with-artifacts"),
        "{err}"
    );
    assert_eq!(
        w.read("ci-app/.cairn/packages/libbar/bar.txt"),
        b"bar 2.1\n"
    );
    // ...and names what it lacks otherwise.
    w.write(
        "ci-app/cairn.toml",
        &manifest.replace("[dependencies]\n", "[dependencies]\nzzz = \"*\"\n"),
    );
    let err = w.fails("ci", "ci-app", &["install", "--offline"]);
    assert!(err.contains("offline") && err.contains("zzz"), "{err}");
    w.write("ci-app/cairn.toml", &manifest);
    std::fs::write(w.path("ci-app/cairn.lock"), &lock).expect("restore the lockfile");
    w.ok("ci", "ci-app", &["install", "--offline"]);

    // A tampered artifact in the store: the install refuses and the tree stays as it was.
    let before = tree(&w.path("ci-app/.cairn/packages"));
    for e in std::fs::read_dir(w.path("ci/artifacts")).expect("artifacts") {
        std::fs::write(e.expect("entry").path(), b"tampered").expect("tamper");
    }
    let err = w.fails("ci", "ci-app", &["install", "--reinstall"]);
    assert!(err.contains("does not match"), "{err}");
    assert_eq!(tree(&w.path("ci-app/.cairn/packages")), before);
    assert!(
        w.ok("ci", "ci-app", &["verify", "--installed"])
            .contains("as installed")
    );

    // A newer release: `outdated` lists it, `update` moves to it, `install` reuses the lock.
    w.write(
        "src/libbar-2.2/cairn.toml",
        "[package]\nname = \"libbar\"\nversion = \"2.2.0\"\n",
    );
    w.write("src/libbar-2.2/bar.txt", "bar 2.2\n");
    w.ok("pub", ".", &["publish", "--path", "src/libbar-2.2"]);
    let rows: serde_json::Value =
        serde_json::from_str(&w.ok("pub", "app", &["outdated", "--json"])).expect("json");
    assert_eq!(rows[0]["alias"], "libbar");
    assert_eq!(rows[0]["locked"], "2.1.0");
    assert_eq!(rows[0]["latest"], "2.2.0");
    assert!(
        w.ok("pub", "app", &["install"])
            .contains("already installed"),
        "a lock in force is kept"
    );
    // A lost lockfile is written again from the installed tree, not from the newest versions.
    std::fs::remove_file(w.path("app/cairn.lock")).expect("lose the lockfile");
    let out = w.run("pub", "app", &["install"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("writing it from the installed tree"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("already installed"));
    assert!(
        String::from_utf8(w.read("app/cairn.lock"))
            .expect("utf8")
            .contains("version = \"2.1.0\"")
    );
    let out = w.ok("pub", "app", &["update"]);
    assert!(out.contains("libbar 2.1.0 -> 2.2.0"), "{out}");
    w.ok("pub", "app", &["install"]);
    assert_eq!(w.read("app/.cairn/packages/libbar/bar.txt"), b"bar 2.2\n");
    assert_eq!(w.ok("pub", "app", &["outdated", "--json"]).trim(), "[]");

    // Removing the only requirement empties the tree.
    w.ok("pub", "app", &["uninstall", "libfoo"]);
    assert!(!w.path("app/.cairn/packages/libfoo").exists());
    assert!(w.ok("pub", "app", &["list"]).contains("nothing installed"));
    w.ok("pub", "app", &["add", "libfoo"]);

    // A modified installed file is detected.
    let foo = w.path("app/.cairn/packages/libfoo/foo.txt");
    std::fs::remove_file(&foo).expect("unlink");
    std::fs::write(&foo, b"changed").expect("modify");
    let out = w.run("pub", "app", &["verify", "--installed"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("libfoo/foo.txt` was modified"));
    w.ok("pub", "app", &["install", "--reinstall"]);
    assert_eq!(w.read("app/.cairn/packages/libfoo/foo.txt"), b"foo\n");

    // gc: the releases unpacked for earlier trees go, what is installed stays whole.
    let dry: serde_json::Value =
        serde_json::from_str(&w.ok("pub", "app", &["gc", "--dry-run", "--json"])).expect("json");
    let gc: serde_json::Value =
        serde_json::from_str(&w.ok("pub", "app", &["gc", "--json"])).expect("json");
    assert_eq!(dry["unpacked"], gc["unpacked"]);
    assert!(gc["unpacked"].as_u64().expect("count") >= 1, "{gc}");
    assert!(gc["bytes"].as_u64().expect("bytes") > 0, "{gc}");
    assert_eq!(
        gc["artifacts"], 0,
        "every artifact belongs to a release held here"
    );
    assert!(
        w.ok("pub", "app", &["verify", "--installed"])
            .contains("as installed")
    );
    w.ok("pub", "app", &["install", "--reinstall"]);
    let again: serde_json::Value =
        serde_json::from_str(&w.ok("pub", "app", &["gc", "--json"])).expect("json");
    assert_eq!(again["unpacked"], 0, "nothing more to free: {again}");
    // An artifact file no row records (a publish cut short) is an orphan, and goes.
    let orphan = w
        .path("pub/artifacts")
        .join(cairn_protocol::cid::Cid::of_raw(b"orphan").to_string());
    std::fs::write(&orphan, b"orphan").expect("orphan");
    // A tree of hashes kept for serving an artifact goes with it, and stays with one held.
    let held = std::fs::read_dir(w.path("pub/artifacts"))
        .expect("artifacts")
        .map(|e| e.expect("entry").file_name())
        .find(|n| !n.to_string_lossy().starts_with('.') && *n != *orphan.file_name().expect("name"))
        .expect("a held artifact");
    std::fs::create_dir_all(w.path("pub/outboards")).expect("outboards");
    let (orphan_tree, held_tree) = (
        w.path("pub/outboards")
            .join(orphan.file_name().expect("name")),
        w.path("pub/outboards").join(&held),
    );
    std::fs::write(&orphan_tree, [0; 64]).expect("tree");
    std::fs::write(&held_tree, [0; 64]).expect("tree");
    let swept: serde_json::Value =
        serde_json::from_str(&w.ok("pub", "app", &["gc", "--json"])).expect("json");
    assert_eq!(swept["artifacts"], 1, "{swept}");
    assert!(!orphan.exists());
    assert!(!orphan_tree.exists() && held_tree.exists());
    assert!(
        w.ok("pub", "app", &["verify", "--installed"])
            .contains("as installed")
    );
    // A project that is gone is forgotten.
    std::fs::remove_dir_all(w.path("ci-app")).expect("remove the project");
    let ci: serde_json::Value =
        serde_json::from_str(&w.ok("ci", ".", &["gc", "--json"])).expect("json");
    assert_eq!(
        ci["projects_forgotten"].as_array().expect("list").len(),
        1,
        "{ci}"
    );
    // (Its unpacked releases went with the failed `--reinstall` above, which unpacks afresh.)
    assert!(
        !w.path("ci/unpacked").exists()
            || std::fs::read_dir(w.path("ci/unpacked"))
                .expect("dir")
                .next()
                .is_none()
    );
}

/// A package of many small files, so that an install takes long enough to be cut in the middle.
fn big_package(w: &World, dir: &str, version: &str) {
    w.write(
        &format!("{dir}/cairn.toml"),
        &format!("[package]\nname = \"libbig\"\nversion = \"{version}\"\n"),
    );
    for i in 0..300 {
        w.write(
            &format!("{dir}/files/f{i:03}.txt"),
            &format!("{version} {i}\n").repeat(20),
        );
    }
}

#[test]
#[allow(clippy::too_many_lines)] // One story, read in order.
fn an_install_killed_at_any_moment_leaves_one_whole_tree_and_a_rerun_completes() {
    let w = World::new("crash");
    let id = w.identity("pub", &[]);
    big_package(&w, "src/big-1", "1.0.0");
    big_package(&w, "src/big-2", "2.0.0");
    for p in ["src/big-1", "src/big-2"] {
        w.ok("pub", ".", &["publish", "--path", p]);
    }
    w.curate("pub", "community", &id, &["libbig"]);
    w.ok(
        "pub",
        "app",
        &["init", "--index", &format!("{id}:community")],
    );
    let manifest = |v: &str| {
        format!("[index]\ncurator = \"{id}:community\"\n\n[dependencies]\nlibbig = \"{v}\"\n")
    };
    // The two trees an install may leave.
    let mut trees = Vec::new();
    for v in ["1.0.0", "2.0.0"] {
        w.write("app/cairn.toml", &manifest(v));
        let started = std::time::Instant::now();
        w.ok("pub", "app", &["install"]);
        trees.push((tree(&w.path("app/.cairn/packages")), started.elapsed()));
    }
    assert_ne!(trees[0].0, trees[1].0);
    let span = trees[0].1.max(trees[1].1).as_micros() as u64;
    let steps = [
        "lock:write",
        "install:placed-one",
        "install:before-switch",
        "install:after-switch",
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let (mut killed, mut faulted, mut round) = (0, 0, 0);
    // Until 20 installs were killed mid-way (a kill that comes after the end does not count),
    // every third round an abort at a write step instead.
    while killed < 20 && round < 100 {
        round += 1;
        let target = round % 2; // alternate between the two versions
        w.write("app/cairn.toml", &manifest(["1.0.0", "2.0.0"][target]));
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
        cmd.arg("--home")
            .arg(w.path("pub"))
            .arg("install")
            .current_dir(w.path("app"))
            .env("CAIRN_PASSPHRASE", "test passphrase")
            .env("CAIRN_KDF_INSECURE_FOR_TESTS", "1")
            .env_remove("CAIRN_HOME")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if round % 3 == 0 && faulted < steps.len() * 3 {
            // A crash exactly at a write step.
            cmd.env(
                "CAIRN_FAULT_AT",
                steps[(seed % steps.len() as u64) as usize],
            );
            let status = cmd.status().expect("run");
            faulted += usize::from(!status.success());
        } else {
            // A SIGKILL at a random moment within an install's duration (from an empty
            // unpacked cache, as the measured installs were).
            let _ = std::fs::remove_dir_all(w.path("pub/unpacked"));
            let mut child = cmd.spawn().expect("spawn");
            std::thread::sleep(std::time::Duration::from_micros(seed % span.max(1)));
            if child.try_wait().expect("wait").is_none() {
                child.kill().expect("kill");
                killed += 1;
            }
            child.wait().expect("reap");
        }
        let now = tree(&w.path("app/.cairn/packages"));
        assert!(
            now == trees[0].0 || now == trees[1].0,
            "round {round}: the installed tree is neither the old nor the new one"
        );
        w.ok("pub", "app", &["install"]);
        assert_eq!(
            tree(&w.path("app/.cairn/packages")),
            trees[target].0,
            "round {round}: a rerun completes"
        );
        assert!(
            w.ok("pub", "app", &["verify", "--installed"])
                .contains("as installed")
        );
    }
    eprintln!("{killed} installs killed, {faulted} aborted at a write step, in {round} rounds");
    assert!(
        killed >= 20 && faulted >= steps.len(),
        "installs cut short: {killed} killed, {faulted} aborted at a write step"
    );
    // Nothing is left behind but the tree in use.
    let left: Vec<_> = std::fs::read_dir(w.path("app/.cairn/trees"))
        .expect("trees")
        .collect();
    assert_eq!(left.len(), 1);
}

#[test]
fn layers_add_aliases_and_overrides_replace_one() {
    let w = World::new("layers");
    let id = w.identity("pub", &["--petname", "me"]);
    let fork = w.identity("pub", &["--petname", "fork"]);
    w.package("pub", "me", "src/libbar", ("libbar", "2.1.0", ""));
    let needs_bar = "\n[dependencies]\nlibbar = \"^2.0\"\n";
    w.package("pub", "me", "src/libfoo", ("libfoo", "1.0.0", needs_bar));
    w.package("pub", "me", "src/libqux", ("libqux", "0.1.0", ""));
    w.package("pub", "fork", "src/libbar-fork", ("libbar", "2.9.0", ""));
    w.curate("pub", "community", &id, &["libbar", "libfoo"]);
    w.curate("pub", "extra", &id, &["libqux"]);
    w.project(
        "app",
        &format!(
            "[index]\ncurator = \"{id}:community\"\nlayers = [\"{id}:extra\"]\n\n[index.overrides]\nlibbar = \"{fork}:libbar\"\n\n[dependencies]\nlibfoo = \"^1.0\"\nlibqux = \"*\"\n"
        ),
    );
    w.ok("pub", "app", &["install"]);
    // libqux comes from the layer; libbar from the override, not the curator's 2.1.0.
    assert_eq!(
        w.read("app/.cairn/packages/libqux/libqux.txt"),
        b"libqux 0.1.0\n"
    );
    assert_eq!(
        w.read("app/.cairn/packages/libbar/libbar.txt"),
        b"libbar 2.9.0\n"
    );
    let info: serde_json::Value =
        serde_json::from_str(&w.ok("pub", "app", &["info", "libbar", "--json"])).expect("json");
    assert_eq!(info["index"], format!("{fork}:libbar"));
    // A bare version means exactly that version: `add` says so and shows the `^` form.
    let out = w.run("pub", "app", &["add", "libfoo@1.0.0"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`libfoo@1.0.0` admits exactly version 1.0.0; for compatible versions (what cargo and npm read it as) write `libfoo@^1.0.0`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without the override, the curator's choice comes back (the lockfile is re-resolved).
    let manifest = String::from_utf8(w.read("app/cairn.toml")).expect("utf8");
    w.write(
        "app/cairn.toml",
        &manifest.replace(
            &format!("[index.overrides]\nlibbar = \"{fork}:libbar\"\n"),
            "",
        ),
    );
    w.ok("pub", "app", &["install"]);
    assert_eq!(
        w.read("app/.cairn/packages/libbar/libbar.txt"),
        b"libbar 2.1.0\n"
    );
}

#[test]
fn a_local_package_is_resolved_from_its_manifest_and_linked() {
    let w = World::new("path");
    let id = w.identity("pub", &[]);
    w.package("pub", &id, "src/libbar", ("libbar", "2.1.0", ""));
    w.package("pub", &id, "src/libfoo", ("libfoo", "1.0.0", ""));
    w.curate("pub", "community", &id, &["libbar", "libfoo"]);
    w.write(
        "mytool/cairn.toml",
        "[package]\nname = \"mytool\"\nversion = \"0.1.0\"\n\n[dependencies]\nlibbar = \"^2.0\"\n",
    );
    w.write("mytool/tool.txt", "work in progress\n");
    w.project(
        "app",
        &format!(
            "[index]\ncurator = \"{id}:community\"\n\n[dependencies]\nmytool = {{ path = \"../mytool\" }}\n"
        ),
    );
    w.ok("pub", "app", &["install"]);
    // The local package is a link to its directory: edits show at once.
    assert_eq!(
        w.read("app/.cairn/packages/mytool/tool.txt"),
        b"work in progress\n"
    );
    w.write("mytool/tool.txt", "edited\n");
    assert_eq!(w.read("app/.cairn/packages/mytool/tool.txt"), b"edited\n");
    assert_eq!(
        w.read("app/.cairn/packages/libbar/libbar.txt"),
        b"libbar 2.1.0\n"
    );
    let lock = String::from_utf8(w.read("app/cairn.lock")).expect("utf8");
    assert!(
        lock.contains("[[local]]\nalias = \"mytool\"\nversion = \"0.1.0\"\npath = \"../mytool\""),
        "{lock}"
    );
    assert_eq!(
        w.ok("pub", "app", &["tree"]),
        "mytool 0.1.0 (path ../mytool)\n└── libbar 2.1.0\n"
    );
    // Its dependencies are read from its manifest on every lock.
    w.write(
        "mytool/cairn.toml",
        "[package]\nname = \"mytool\"\nversion = \"0.1.0\"\n\n[dependencies]\nlibbar = \"^2.0\"\nlibfoo = \"^1.0\"\n",
    );
    w.ok("pub", "app", &["install"]);
    assert_eq!(
        w.read("app/.cairn/packages/libfoo/libfoo.txt"),
        b"libfoo 1.0.0\n"
    );
    assert!(
        w.ok("pub", "app", &["why", "libfoo"])
            .contains("libfoo 1.0.0 ← mytool 0.1.0 (path ../mytool)")
    );
    // A path that holds no package is named.
    w.write(
        "app/cairn.toml",
        &format!("[index]\ncurator = \"{id}:community\"\n\n[dependencies]\nnothing = {{ path = \"../nowhere\" }}\n"),
    );
    let err = w.fails("pub", "app", &["install"]);
    assert!(err.contains("nowhere/cairn.toml"), "{err}");
}

#[test]
fn installs_running_at_once_in_one_project_take_turns() {
    let w = World::new("together");
    let id = w.identity("pub", &[]);
    big_package(&w, "src/big-1", "1.0.0");
    w.ok("pub", ".", &["publish", "--path", "src/big-1"]);
    w.curate("pub", "community", &id, &["libbig"]);
    w.project(
        "app",
        &format!("[index]\ncurator = \"{id}:community\"\n\n[dependencies]\nlibbig = \"^1.0\"\n"),
    );
    w.ok("pub", "app", &["lock"]);
    let children: Vec<_> = (0..6)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_cairn"))
                .arg("--home")
                .arg(w.path("pub"))
                .args(["install", "--reinstall", "--quiet"])
                .current_dir(w.path("app"))
                .env_remove("CAIRN_HOME")
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        w.ok("pub", "app", &["verify", "--installed"])
            .contains("all files of 1 installed")
    );
    let left: Vec<_> = std::fs::read_dir(w.path("app/.cairn/trees"))
        .expect("trees")
        .collect();
    assert_eq!(left.len(), 1, "one tree in use, nothing half-built left");
}

/// A running `cairn node start`, killed when dropped.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_second_home_syncs_and_installs_from_a_running_node() {
    let w = World::new("network");
    let id = w.identity("pub", &[]);
    w.package("pub", &id, "src/libbar", ("libbar", "2.0.0", ""));
    w.package(
        "pub",
        &id,
        "src/libfoo",
        ("libfoo", "1.0.0", "[dependencies]\nlibbar = \"^2.0\"\n"),
    );
    w.curate("pub", "community", &id, &["libbar", "libfoo"]);
    let community = format!("{id}:community");

    // The publisher's node runs in its own process, on loopback.
    let (node, addr) = start_node(&w, "pub");
    let addr = addr.as_str();
    assert!(addr.contains("@127.0.0.1:"), "{addr}");

    // A second home knows only that address: it syncs the curator's closure, then installs,
    // fetching the artifacts from the peer.
    w.ok("app", ".", &["peer", "add", addr]);
    let peers = w.ok("app", ".", &["peer", "list"]);
    assert_eq!(peers.trim(), addr);
    let synced = w.ok("app", ".", &["sync", &community]);
    assert!(
        synced.contains(&format!("{community}: verified and stored revisions"))
            && synced.contains(&format!("{id}:libfoo: verified and stored"))
            && synced.contains(&format!("{id}:libbar: verified and stored")),
        "{synced}"
    );
    w.ok("app", "project", &["init", "--index", &community]);
    w.ok("app", "project", &["add", "libfoo"]);
    assert_eq!(
        w.read("project/.cairn/packages/libbar/libbar.txt"),
        b"libbar 2.0.0\n"
    );
    assert_eq!(
        w.read("project/.cairn/packages/libfoo/libfoo.txt"),
        b"libfoo 1.0.0\n"
    );
    let again = w.ok("app", ".", &["sync", &community, "--json"]);
    let again: serde_json::Value = serde_json::from_str(&again).expect("json");
    assert!(
        again["logs"]
            .as_array()
            .expect("logs")
            .iter()
            .all(|l| l["outcome"] == "up-to-date"),
        "{again}"
    );

    // A yank reaches the second home on the next sync.
    w.ok("pub", ".", &["yank", "libbar@2.0.0", "--reason", "broken"]);
    let synced = w.ok("app", ".", &["sync", &community]);
    assert!(
        synced.contains(&format!("{id}:libbar: verified and stored revisions 2..=2")),
        "{synced}"
    );
    let shown = w.ok("app", ".", &["show", &format!("{id}:libbar")]);
    assert!(shown.contains("yanked"), "{shown}");

    // Without a reachable peer, sync says so and what to do.
    drop(node);
    let err = w.fails("app", ".", &["sync", &community]);
    assert!(err.contains("no peer could be reached"), "{err}");

    // The app's machine runs a node; the publisher, whose node is stopped, announces a change
    // itself: the app's node fetches it while the command waits, with no sync on its side.
    let (_app_node, app_addr) = start_node(&w, "app");
    w.ok("pub", ".", &["peer", "add", &app_addr]);
    let out = w.run("pub", ".", &["unyank", "libbar@2.0.0"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("announced to 1 peers, and served"), "{said}");
    let shown = w.ok("app", ".", &["show", &format!("{id}:libbar")]);
    assert!(!shown.contains("yanked"), "{shown}");
}

/// Starts the node of the home `home` in its own process; waits for its address.
fn start_node(w: &World, home: &str) -> (Running, String) {
    let node = Running(
        Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("--home")
            .arg(w.path(home))
            .args(["node", "start", "--listen", "127.0.0.1:0"])
            .env_remove("CAIRN_HOME")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the node"),
    );
    let addr_file = w.path(&format!("{home}/node.addr"));
    let started = std::time::Instant::now();
    while !addr_file.is_file() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the node did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let addr = w.ok(home, ".", &["node", "addr"]).trim().to_owned();
    (node, addr)
}
