//! The consumer's commands: `init`, `add`, `remove`, `lock`, `install`, `update`, `list`,
//! `which`. Scope: the project whose `.cairn/` or `cairn.lock` is in the current directory or a
//! parent, else the global scope in the home.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::io::IsTerminal as _;

use anyhow::Context as _;
use cairn_core::home::Home;
use cairn_core::lockfile::Lockfile;
use cairn_core::project::{self, LockMode, LockedFrom, ProjectError};
use cairn_core::publish::manifest::{MANIFEST, Project};

use crate::settings;

/// `cairn init`.
#[derive(Debug, clap::Args)]
pub(crate) struct Init {
    /// Also describe a package with this name (a `[package]` table `cairn publish` reads).
    #[arg(long)]
    name: Option<String>,
    /// The curator's package index to resolve against (`IDENTITY:NAME`; petnames allowed).
    #[arg(long, value_name = "IDENTITY:NAME")]
    index: Option<String>,
    /// The directory (default: the current one).
    #[arg(long, default_value = ".")]
    path: PathBuf,
}

/// `cairn add`.
#[derive(Debug, clap::Args)]
pub(crate) struct Add {
    /// `ALIAS` (the constraint becomes `^` of the version chosen) or `ALIAS@CONSTRAINT`.
    #[arg(required = true)]
    deps: Vec<String>,
    /// Choose the curator's package index (`IDENTITY:NAME`; petnames allowed).
    #[arg(long, value_name = "IDENTITY:NAME")]
    index: Option<String>,
    #[command(flatten)]
    how: How,
}

/// How a command may reach data.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct How {
    /// Use only the lockfile's portable data and artifacts held here; read no index.
    #[arg(long)]
    offline: bool,
    /// No progress or summary on stderr.
    #[arg(long, short)]
    quiet: bool,
}

/// `cairn install`.
#[derive(Debug, clap::Args)]
pub(crate) struct Install {
    /// Refuse to change `cairn.lock` (for CI).
    #[arg(long)]
    frozen: bool,
    /// Install for this platform instead of this machine's (`linux-x86_64`, …).
    #[arg(long)]
    platform: Option<String>,
    /// Unpack every artifact again from the verified store (repairs modified installed files).
    #[arg(long)]
    reinstall: bool,
    #[command(flatten)]
    how: How,
}

/// Where a command works, and the home.
struct Scope {
    home: Home,
    dir: PathBuf,
}

fn scope(home: Option<&Path>) -> anyhow::Result<Scope> {
    let home = settings::open_home(home)?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let dir = project::find(&cwd).unwrap_or_else(|| project::global(&home));
    Ok(Scope { home, dir })
}

pub(crate) fn init(home: Option<&Path>, args: &Init) -> anyhow::Result<ExitCode> {
    let curator = match &args.index {
        Some(i) => {
            let home = settings::open_existing_home(home)?;
            Some(settings::index_name(&home, i, None)?)
        }
        None => None,
    };
    let path = project::init(&args.path, args.name.as_deref(), curator.as_ref())?;
    outln!("wrote {}", path.display());
    if curator.is_none() {
        outln!("next: choose a curator with `cairn add --index IDENTITY:NAME ALIAS`");
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn add(home: Option<&Path>, args: &Add) -> anyhow::Result<ExitCode> {
    let mut s = scope(home)?;
    let curator = args
        .index
        .as_deref()
        .map(|i| settings::index_name(&s.home, i, None))
        .transpose()?;
    std::fs::create_dir_all(s.dir.join(project::SCOPE_DIR))
        .with_context(|| format!("cannot create `{}`", s.dir.display()))?;
    let manifest = s.dir.join(MANIFEST);
    let before = std::fs::read(&manifest).ok();
    let mut set = Vec::new();
    let mut open = Vec::new();
    for d in &args.deps {
        let (alias, c) = match d.split_once('@') {
            Some((a, c)) => (a, Some(c)),
            None => (d.as_str(), None),
        };
        if c.is_none() {
            open.push(alias.to_owned());
        }
        if let Some((v, caret)) = c
            .and_then(|c| c.parse().ok())
            .and_then(|c| super::publish::bare_version(&c))
        {
            eprintln!(
                "warning: `{alias}@{v}` admits exactly version {v}; for compatible versions (what cargo and npm read it as) write `{alias}@{caret}`"
            );
        }
        set.push((alias.to_owned(), Some(c.unwrap_or("*").to_owned())));
    }
    let restore = |e: anyhow::Error| -> anyhow::Error {
        // A refused addition leaves the manifest as it was.
        let _ = match &before {
            Some(b) => std::fs::write(&manifest, b),
            None => std::fs::remove_file(&manifest),
        };
        e
    };
    project::edit_manifest(&s.dir, &set, curator.as_ref())
        .map_err(anyhow::Error::from)
        .map_err(restore)?;
    let mode = LockMode {
        offline: args.how.offline,
        ..LockMode::default()
    };
    let outcome = project::lock(&s.home, &s.dir, &mode)
        .map_err(anyhow::Error::from)
        .map_err(restore)?;
    // A bare alias gets `^` of the version chosen.
    if !open.is_empty() {
        let mut pin = Vec::new();
        for alias in &open {
            if let Some(p) = outcome
                .lock
                .packages
                .iter()
                .find(|p| p.scope.is_empty() && p.alias.eq_ignore_ascii_case(alias))
            {
                pin.push((alias.clone(), Some(format!("^{}", p.version))));
            }
        }
        project::edit_manifest(&s.dir, &pin, None)?;
    }
    for (alias, _) in &set {
        if let Some(p) = outcome
            .lock
            .packages
            .iter()
            .find(|p| p.scope.is_empty() && p.alias.eq_ignore_ascii_case(alias))
        {
            outln!("added {} {}", p.alias, p.version);
        }
    }
    notes(&outcome.notes, args.how.quiet);
    install_lock(&mut s, &outcome.lock, None, false, &args.how)
}

pub(crate) fn remove(
    home: Option<&Path>,
    aliases: &[String],
    how: &How,
) -> anyhow::Result<ExitCode> {
    let mut s = scope(home)?;
    let project = Project::load(&s.dir)?;
    for a in aliases {
        if !project
            .dependencies
            .keys()
            .any(|k| k.as_str().eq_ignore_ascii_case(a))
        {
            anyhow::bail!(
                "`{a}` is not a dependency in `{}`\n\nhint: `cairn list` shows what is installed",
                s.dir.join(MANIFEST).display()
            );
        }
    }
    let unset: Vec<(String, Option<String>)> = aliases.iter().map(|a| (a.clone(), None)).collect();
    project::edit_manifest(&s.dir, &unset, None)?;
    for a in aliases {
        outln!("removed {a}");
    }
    let mode = LockMode {
        offline: how.offline,
        ..LockMode::default()
    };
    let outcome = project::lock(&s.home, &s.dir, &mode)?;
    notes(&outcome.notes, how.quiet);
    install_lock(&mut s, &outcome.lock, None, false, how)
}

pub(crate) fn lock(
    home: Option<&Path>,
    how: &How,
    upgrade: Option<Vec<String>>,
) -> anyhow::Result<ExitCode> {
    let s = scope(home)?;
    let old = Lockfile::load(&s.dir.join(cairn_core::lockfile::LOCKFILE))?;
    let mode = LockMode {
        offline: how.offline,
        upgrade,
        ..LockMode::default()
    };
    let outcome = project::lock(&s.home, &s.dir, &mode).map_err(unsatisfiable)?;
    notes(&outcome.notes, how.quiet);
    for p in &outcome.lock.packages {
        let before = old
            .as_ref()
            .and_then(|o| o.package(&p.pkg()))
            .map(|o| o.version.to_string());
        let name = pkg_name(&p.scope, &p.alias);
        match before {
            Some(b) if b == p.version.to_string() => {}
            Some(b) => outln!("{name} {b} -> {}", p.version),
            None => outln!("{name} {}", p.version),
        }
    }
    let from = match outcome.from {
        LockedFrom::Unchanged => "up to date",
        LockedFrom::Portable => "from the lockfile's portable data",
        LockedFrom::Index => "from the curator's index",
    };
    outln!(
        "{} {} packages against {} ({from})",
        if outcome.written {
            "locked"
        } else {
            "lockfile kept:"
        },
        outcome.lock.packages.len(),
        outcome.lock.curator.index
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn install(home: Option<&Path>, args: &Install) -> anyhow::Result<ExitCode> {
    let mut s = scope(home)?;
    let mode = LockMode {
        offline: args.how.offline,
        frozen: args.frozen,
        upgrade: None,
    };
    let started = std::time::Instant::now();
    let outcome = project::lock(&s.home, &s.dir, &mode).map_err(unsatisfiable)?;
    if std::env::var_os("CAIRN_PHASES").is_some() {
        eprintln!("phase lock: {} µs", started.elapsed().as_micros());
    }
    notes(&outcome.notes, args.how.quiet);
    install_lock(
        &mut s,
        &outcome.lock,
        args.platform.as_deref(),
        args.reinstall,
        &args.how,
    )
}

fn install_lock(
    s: &mut Scope,
    lock: &Lockfile,
    platform: Option<&str>,
    reinstall: bool,
    how: &How,
) -> anyhow::Result<ExitCode> {
    let platform = platform.map_or_else(project::platform, str::to_owned);
    if !how.offline {
        let fetched = super::net::fetch_missing(&mut s.home, lock, &platform)?;
        if let Some(fetched) = fetched
            && !how.quiet
        {
            eprintln!("{fetched}");
        }
    }
    // A progress bar on a terminal only, and never with `--quiet`.
    let bar = (!how.quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg:>18} [{bar:30}] {pos}/{len}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    });
    let progress = |phase: &'static str, done: usize, total: usize| {
        if let Some(b) = &bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
            b.set_message(phase);
        }
    };
    let report = project::install(&s.home, &s.dir, lock, &platform, reinstall, &progress);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let report = report?;
    // Remembered, so that `cairn gc` keeps what this project uses.
    cairn_core::gc::register(&mut s.home, &s.dir)?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if !how.quiet {
        if report.changed {
            outln!(
                "installed {} packages into {} ({} unpacked, {} from the cache)",
                report.packages,
                s.dir.join(project::SCOPE_DIR).join("packages").display(),
                report.unpacked,
                report.packages - report.unpacked
            );
        } else {
            outln!("{} packages already installed", report.packages);
        }
    }
    if std::env::var_os("CAIRN_PHASES").is_some() {
        for (phase, us) in &report.phases {
            eprintln!("phase {phase}: {us} µs");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn unsatisfiable(e: ProjectError) -> anyhow::Error {
    match e {
        ProjectError::Unsatisfiable(report) => {
            anyhow::anyhow!("the dependencies cannot be resolved:\n{report}")
        }
        other => other.into(),
    }
}

fn notes(notes: &[String], quiet: bool) {
    if !quiet {
        for n in notes {
            eprintln!("note: {n}");
        }
    }
}

fn pkg_name(scope: &[String], alias: &str) -> String {
    if scope.is_empty() {
        alias.to_owned()
    } else {
        format!("{alias} (private to {})", scope.join(" → "))
    }
}

pub(crate) fn list(home: Option<&Path>, json: bool) -> anyhow::Result<ExitCode> {
    let s = scope(home)?;
    let tree = project::installed(&s.dir)?;
    if json {
        outln!("{}", serde_json::to_string(&tree)?);
        return Ok(ExitCode::SUCCESS);
    }
    if tree.packages.is_empty() {
        outln!("nothing installed in {}", s.dir.display());
    }
    for p in &tree.packages {
        outln!(
            "{:<32} {:<12} {}",
            pkg_name(&p.scope, &p.alias),
            p.version,
            p.index
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn which(home: Option<&Path>, alias: &str, json: bool) -> anyhow::Result<ExitCode> {
    let s = scope(home)?;
    let tree = project::installed(&s.dir)?;
    let Some(p) = tree
        .packages
        .iter()
        .find(|p| p.scope.is_empty() && p.alias.eq_ignore_ascii_case(alias))
    else {
        anyhow::bail!(
            "`{alias}` is not installed in {}\n\nhint: `cairn add {alias}` installs it",
            s.dir.display()
        );
    };
    let at = s
        .dir
        .join(project::SCOPE_DIR)
        .join("packages")
        .join(&p.path);
    if json {
        outln!(
            "{}",
            serde_json::json!({ "alias": p.alias, "version": p.version, "platform": p.platform, "path": at })
        );
    } else {
        outln!("{}", at.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn verify_installed(home: Option<&Path>) -> anyhow::Result<ExitCode> {
    let s = scope(home)?;
    let problems = project::verify_installed(&s.dir)?;
    if problems.is_empty() {
        let n = project::installed(&s.dir)?.packages.len();
        outln!("all files of {n} installed packages are as installed");
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        outln!("{p}");
    }
    eprintln!(
        "error: {} installed files differ from what was installed\n\nhint: `cairn install --reinstall` puts them back",
        problems.len()
    );
    Ok(ExitCode::from(1))
}

pub(crate) fn gc(home: Option<&Path>, dry_run: bool, json: bool) -> anyhow::Result<ExitCode> {
    let mut home = settings::open_existing_home(home)?;
    let report = cairn_core::gc::gc(&mut home, dry_run)?;
    if json {
        outln!("{}", serde_json::to_string(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    for p in &report.projects_forgotten {
        outln!("forgot project {p} (its .cairn/ is gone)");
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    outln!(
        "{verb} {} artifacts, {} unpacked releases and {} temporary files: {} {}",
        report.artifacts,
        report.unpacked,
        report.temporary,
        size(report.bytes),
        if dry_run { "would be freed" } else { "freed" }
    );
    Ok(ExitCode::SUCCESS)
}

/// A size for people: bytes, KiB or MiB with one decimal.
fn size(bytes: u64) -> String {
    let tenths = |unit: u64| format!("{}.{}", bytes / unit, bytes % unit * 10 / unit);
    match bytes {
        b if b < 1 << 10 => format!("{b} bytes"),
        b if b < 1 << 20 => format!("{} KiB", tenths(1 << 10)),
        _ => format!("{} MiB", tenths(1 << 20)),
    }
}
