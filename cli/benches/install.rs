//! Install benchmark, printed side by side with its anchor in one run:
//!
//! - ours: `cairn install --frozen` of a 100-package lockfile whose artifacts are in the store,
//!   into a fresh project, with the unpacked cache warm (and, for reference, cold); a cold
//!   `cairn lock` of the same graph;
//! - anchor: `uv pip install --offline --no-index --find-links DIR` of 100 wheels with the same
//!   file contents into a fresh virtual environment, with a warm uv cache (uv installed from
//!   `PyPI` into a virtual environment of its own by this benchmark).
//!
//! Every figure is the median wall time of whole processes, as a user waits for them.
//! Run: `cargo bench -p cairn-cli --bench install`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PACKAGES: usize = 100;
const FILES: usize = 20;
const RUNS: usize = 7;

fn cairn(root: &Path, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Duration {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("--home")
        .arg(root.join("home"))
        .args(args)
        .current_dir(cwd)
        .env("CAIRN_PASSPHRASE", "bench")
        .env("CAIRN_KDF_INSECURE_FOR_TESTS", "1")
        .env("CAIRN_TEST_SEED", "bench")
        .env_remove("CAIRN_HOME")
        .envs(env.iter().copied())
        .output()
        .expect("run cairn");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "cairn {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn name(i: usize) -> String {
    format!("p{i:03}")
}

/// The bytes of file `f` of package `i` (1–4 KiB of text, like small source files).
fn content(i: usize, f: usize) -> String {
    format!("# package {i}, file {f}\n").repeat(40 + (i * 7 + f * 13) % 120)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn fresh_project(root: &Path, from: &Path, n: usize) -> PathBuf {
    let dir = root.join(format!("fresh-{n}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join(".cairn")).expect("project");
    for f in ["cairn.toml", "cairn.lock"] {
        std::fs::copy(from.join(f), dir.join(f)).expect("copy");
    }
    dir
}

#[allow(clippy::too_many_lines)] // Setup, then each measurement, in the order printed.
fn main() {
    let tmp = tempfile::Builder::new()
        .prefix("cairn-bench-install-")
        .tempdir()
        .expect("tmp");
    let root = tmp.path();
    eprintln!(
        "setting up {PACKAGES} packages of {FILES} files in {}",
        root.display()
    );
    let id = {
        let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["--home"])
            .arg(root.join("home"))
            .args(["id", "new"])
            .env("CAIRN_PASSPHRASE", "bench")
            .env("CAIRN_KDF_INSECURE_FOR_TESTS", "1")
            .env("CAIRN_TEST_SEED", "bench")
            .output()
            .expect("id new");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .expect("id")
            .to_owned()
    };
    for i in 0..PACKAGES {
        let dir = root.join("src").join(name(i));
        std::fs::create_dir_all(dir.join(name(i))).expect("src");
        let dep = if i + 1 < PACKAGES {
            format!("\n[dependencies]\n{} = \"^1.0\"\n", name(i + 1))
        } else {
            String::new()
        };
        std::fs::write(
            dir.join("cairn.toml"),
            format!(
                "[package]\nname = \"{}\"\nversion = \"1.0.0\"\n{dep}",
                name(i)
            ),
        )
        .expect("manifest");
        for f in 0..FILES {
            std::fs::write(dir.join(name(i)).join(format!("m{f:02}.py")), content(i, f))
                .expect("file");
        }
        cairn(
            root,
            root,
            &["publish", "--path", dir.to_str().expect("utf8")],
            &[],
        );
    }
    cairn(root, root, &["curate", "new", "bench"], &[]);
    for i in 0..PACKAGES {
        cairn(
            root,
            root,
            &[
                "curate",
                "add",
                "bench",
                &name(i),
                &format!("{id}:{}", name(i)),
            ],
            &[],
        );
    }
    cairn(root, root, &["curate", "publish", "bench"], &[]);
    let project = root.join("app");
    std::fs::create_dir_all(project.join(".cairn")).expect("app");
    std::fs::write(
        project.join("cairn.toml"),
        format!("[index]\ncurator = \"{id}:bench\"\n\n[dependencies]\np000 = \"^1.0\"\n"),
    )
    .expect("manifest");

    // A cold lock: no lockfile, the whole graph resolved against the curator's index.
    let lock: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let _ = std::fs::remove_file(project.join("cairn.lock"));
            cairn(root, &project, &["lock", "--quiet"], &[])
        })
        .collect();
    // Warm the unpacked cache once, then install into fresh projects.
    cairn(root, &project, &["install", "--frozen", "--quiet"], &[]);
    let warm: Vec<Duration> = (0..RUNS)
        .map(|n| {
            let dir = fresh_project(root, &project, n);
            cairn(root, &dir, &["install", "--frozen", "--quiet"], &[])
        })
        .collect();
    let phases = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("--home")
        .arg(root.join("home"))
        .args(["install", "--frozen", "--quiet"])
        .current_dir(fresh_project(root, &project, 99))
        .env("CAIRN_PHASES", "1")
        .output()
        .expect("phases");
    let cold: Vec<Duration> = (0..RUNS)
        .map(|n| {
            let _ = std::fs::remove_dir_all(root.join("home/unpacked"));
            let dir = fresh_project(root, &project, n);
            cairn(root, &dir, &["install", "--frozen", "--quiet"], &[])
        })
        .collect();

    let uv = anchor(root);
    println!("install of a {PACKAGES}-package graph ({FILES} files each), median of {RUNS}:");
    println!(
        "  cairn install --frozen, warm cache, fresh project   {:>10}",
        ms(median(warm.clone()))
    );
    println!(
        "  cairn install --frozen, cold cache (verify+unpack)  {:>10}",
        ms(median(cold))
    );
    println!(
        "  cairn lock, cold (no lockfile)                       {:>10}",
        ms(median(lock))
    );
    match uv {
        Some(uv) => {
            println!(
                "  anchor: uv pip install --offline, warm cache, fresh venv {:>6}",
                ms(uv)
            );
            println!(
                "  ratio warm install / uv: {:.2} (target <= 1.0)",
                median(warm).as_secs_f64() / uv.as_secs_f64()
            );
        }
        None => println!("  anchor: uv could not be installed here; no ratio"),
    }
    println!("our phases in one warm install:");
    for line in String::from_utf8_lossy(&phases.stderr).lines() {
        println!("  {line}");
    }
}

/// uv from `PyPI`, 100 wheels of the same files, a warm cache; the median install into a fresh
/// virtual environment.
fn anchor(root: &Path) -> Option<Duration> {
    let venv = root.join("uv-tool");
    let ok = |c: &mut Command| c.output().is_ok_and(|o| o.status.success());
    if !ok(Command::new("python3").args(["-m", "venv"]).arg(&venv))
        || !ok(Command::new(venv.join("bin/pip")).args(["install", "-q", "uv"]))
    {
        return None;
    }
    let uv = venv.join("bin/uv");
    if let Ok(v) = Command::new(&uv).arg("--version").output() {
        eprintln!("anchor: {}", String::from_utf8_lossy(&v.stdout).trim());
    }
    let wheels = root.join("wheels");
    std::fs::create_dir_all(&wheels).ok()?;
    // Wheels are zip files; Python's zipfile writes them, with the same file contents.
    let script = format!(
        r##"
import zipfile, hashlib, base64, os
N, F = {PACKAGES}, {FILES}
def content(i, f):
    return ("# package %d, file %d\n" % (i, f)) * (40 + (i * 7 + f * 13) % 120)
for i in range(N):
    name = "p%03d" % i
    dist = name + "-1.0.0.dist-info"
    files = {{}}
    for f in range(F):
        files["%s/m%02d.py" % (name, f)] = content(i, f).encode()
    req = ("Requires-Dist: p%03d>=1.0,<2\n" % (i + 1)) if i + 1 < N else ""
    files[dist + "/METADATA"] = ("Metadata-Version: 2.1\nName: %s\nVersion: 1.0.0\n%s" % (name, req)).encode()
    files[dist + "/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = ""
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += "%s,sha256=%s,%d\n" % (path, digest, len(data))
    record += dist + "/RECORD,,\n"
    files[dist + "/RECORD"] = record.encode()
    with zipfile.ZipFile(os.path.join({wheels:?}, name + "-1.0.0-py3-none-any.whl"), "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in files.items():
            z.writestr(path, data)
"##,
        wheels = wheels.to_str()?
    );
    if !ok(Command::new("python3").args(["-c", &script])) {
        return None;
    }
    let cache = root.join("uv-cache");
    let install = |n: usize| -> Option<Duration> {
        let env = root.join(format!("venv-{n}"));
        let _ = std::fs::remove_dir_all(&env);
        if !ok(Command::new(&uv)
            .arg("venv")
            .arg("-q")
            .arg(&env)
            .env("UV_CACHE_DIR", &cache))
        {
            return None;
        }
        let started = Instant::now();
        let out = Command::new(&uv)
            .args([
                "pip",
                "install",
                "-q",
                "--offline",
                "--no-index",
                "--find-links",
            ])
            .arg(&wheels)
            .arg("--python")
            .arg(env.join("bin/python"))
            .arg("p000")
            .env("UV_CACHE_DIR", &cache)
            .output()
            .ok()?;
        let took = started.elapsed();
        out.status.success().then_some(took)
    };
    install(1000)?; // warms the cache
    let runs: Option<Vec<Duration>> = (0..RUNS).map(install).collect();
    Some(median(runs?))
}
