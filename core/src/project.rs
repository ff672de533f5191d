//! The consumer's project: `cairn.toml` with a curator and dependencies, `cairn.lock`, and the
//! installed tree under `.cairn/`.
//!
//! The installed tree is `.cairn/packages`, a symbolic link to one directory under
//! `.cairn/trees/`. An install builds the new tree beside the old one and swaps the link with
//! one rename, so a crash at any moment leaves either the whole old tree or the whole new one.
//! Each unpacked release is kept once, by artifact CID, under the home's `unpacked/`, and placed
//! into trees by hard link (a copy where the file system cannot link).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use cairn_protocol::cid::Cid;
use cairn_protocol::name::IndexName;
use cairn_protocol::release::Artifact;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::atomic::{self, Access};
use crate::blocks::BlockStore as _;
use crate::home::Home;
use crate::lockfile::{Head, LOCKFILE, LockedPackage, Lockfile, PortableSource, portable_closure};
use crate::publish::manifest::{MANIFEST, Project};
use crate::resolve::{self, Dependency, PackageSource, ResolveError};

/// The project scope's directory, beside `cairn.toml`.
pub const SCOPE_DIR: &str = ".cairn";

/// At most this many bytes unpacked from one artifact.
pub const MAX_UNPACKED: u64 = 1 << 32;
/// At most this many entries in one archive.
pub const MAX_ENTRIES: u64 = 100_000;

/// Why a project command failed. Every message names the input and the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectError {
    /// The manifest.
    #[error(transparent)]
    Manifest(#[from] crate::publish::manifest::ManifestError),
    /// The lockfile.
    #[error(transparent)]
    Lockfile(#[from] crate::lockfile::LockfileError),
    /// No curator chosen.
    #[error(
        "`{0}` names no curator\n\nhint: add `[index]` with `curator = \"IDENTITY:NAME\"`, or pass `--index IDENTITY:NAME`"
    )]
    NoCurator(PathBuf),
    /// No solution (the explanation follows).
    #[error("{0}")]
    Unsatisfiable(String),
    /// The lockfile must change but may not.
    #[error(
        "`{0}` is out of date with `cairn.toml` and `--frozen` forbids changing it: {1}\n\nhint: run `cairn lock` and commit the lockfile, or drop `--frozen`"
    )]
    Frozen(PathBuf, String),
    /// Offline, and the lockfile's portable data cannot answer.
    #[error(
        "offline, and the lockfile's portable data cannot answer: {0}\n\nhint: run without `--offline` to read the curator's index held here, or import a bundle with it (`cairn import FILE.car`)"
    )]
    Offline(String),
    /// An artifact is missing or does not match the lockfile.
    #[error("{0}")]
    Artifact(String),
    /// An archive breaks an unpacking rule.
    #[error("artifact {cid} of {package}: {reason}; nothing was installed")]
    Unsafe {
        /// The package.
        package: String,
        /// The artifact.
        cid: Cid,
        /// The rule.
        reason: String,
    },
    /// Anything else, with its context.
    #[error("{0}")]
    Other(String),
    /// A file operation.
    #[error("{what}: {cause}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        cause: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ProjectError {
    let what = what.into();
    move |cause| ProjectError::Io { what, cause }
}

/// The project directory for `start`: the nearest directory, `start` or above, holding `.cairn/`
/// or a lockfile (a fresh checkout of a project has its `cairn.toml` and `cairn.lock`, while
/// `.cairn/`, the installed trees, is not committed).
#[must_use]
pub fn find(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| d.join(SCOPE_DIR).is_dir() || d.join(crate::lockfile::LOCKFILE).is_file())
        .map(Path::to_path_buf)
}

/// The global scope's project directory in `home`.
#[must_use]
pub fn global(home: &Home) -> PathBuf {
    home.dir().join("global")
}

/// Writes a new `cairn.toml` (a package when `name` is given) and creates `.cairn/`.
///
/// # Errors
/// When a manifest is already there, or the files cannot be written.
pub fn init(
    dir: &Path,
    name: Option<&str>,
    curator: Option<&IndexName>,
) -> Result<PathBuf, ProjectError> {
    let path = dir.join(MANIFEST);
    if path.exists() {
        return Err(ProjectError::Other(format!(
            "`{}` already exists; nothing was changed\n\nhint: edit it, or use `cairn add` to add dependencies",
            path.display()
        )));
    }
    let mut text = String::new();
    if let Some(n) = name {
        n.parse::<cairn_protocol::name::Name>()
            .map_err(|e| ProjectError::Other(format!("`{n}` is not a package name: {e}")))?;
        let _ = write!(text, "[package]\nname = \"{n}\"\nversion = \"0.1.0\"\n\n");
    }
    if let Some(c) = curator {
        let _ = write!(text, "[index]\ncurator = \"{c}\"\n\n");
    }
    text.push_str("[dependencies]\n");
    Project::parse(&text, &path)?;
    std::fs::create_dir_all(dir.join(SCOPE_DIR)).map_err(io(format!(
        "cannot create `{}`",
        dir.join(SCOPE_DIR).display()
    )))?;
    atomic::AtomicFile::create(&path, Access::Public)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.commit_new("init:manifest")
        })
        .map_err(io(format!("cannot write `{}`", path.display())))?;
    Ok(path)
}

/// Sets `alias = "constraint"` in `[dependencies]` (and `[index] curator` when given), keeping
/// every other line; the result is checked before it is written.
///
/// # Errors
/// When the edited manifest would be invalid, or cannot be written.
pub fn edit_manifest(
    dir: &Path,
    set: &[(String, Option<String>)],
    curator: Option<&IndexName>,
) -> Result<Project, ProjectError> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if let Some(c) = curator {
        set_key(&mut lines, "index", "curator", Some(&format!("\"{c}\"")));
    }
    for (alias, constraint) in set {
        set_key(
            &mut lines,
            "dependencies",
            alias,
            constraint.as_ref().map(|c| format!("\"{c}\"")).as_deref(),
        );
    }
    let mut new = lines.join("\n");
    new.push('\n');
    let project = Project::parse(&new, &path)?;
    atomic::write(&path, new.as_bytes(), Access::Public, "manifest:edit")
        .map_err(io(format!("cannot write `{}`", path.display())))?;
    Ok(project)
}

/// In `[table]`, sets `key = value` (or removes the key when `value` is `None`).
fn set_key(lines: &mut Vec<String>, table: &str, key: &str, value: Option<&str>) {
    let header = format!("[{table}]");
    let start = lines.iter().position(|l| l.trim() == header);
    let Some(start) = start else {
        if let Some(v) = value {
            if lines.last().is_some_and(|l| !l.trim().is_empty()) {
                lines.push(String::new());
            }
            lines.push(header);
            lines.push(format!("{key} = {v}"));
        }
        return;
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |i| start + 1 + i);
    let existing = (start + 1..end).find(|&i| {
        lines[i]
            .split_once('=')
            .is_some_and(|(k, _)| k.trim().trim_matches('"').eq_ignore_ascii_case(key))
    });
    match (existing, value) {
        (Some(i), Some(v)) => lines[i] = format!("{key} = {v}"),
        (Some(i), None) => {
            lines.remove(i);
        }
        (None, Some(v)) => {
            // After the table's last non-blank line.
            let mut at = end;
            while at > start + 1 && lines[at - 1].trim().is_empty() {
                at -= 1;
            }
            lines.insert(at, format!("{key} = {v}"));
        }
        (None, None) => {}
    }
}

/// How a lock was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockedFrom {
    /// The lockfile was up to date.
    Unchanged,
    /// Resolved again from the lockfile's portable data alone.
    Portable,
    /// Resolved against the curator's index held here.
    Index,
}

/// What [`lock`] did.
#[derive(Debug)]
pub struct LockOutcome {
    /// The lockfile now in force.
    pub lock: Lockfile,
    /// How it was reached.
    pub from: LockedFrom,
    /// Whether `cairn.lock` was written.
    pub written: bool,
    /// Notes for stderr (why the index was read, for example).
    pub notes: Vec<String>,
}

/// How [`lock`] may move.
#[derive(Debug, Clone, Default)]
pub struct LockMode {
    /// Refuse to change the lockfile.
    pub frozen: bool,
    /// Use only the lockfile's portable data.
    pub offline: bool,
    /// Resolve again from the index even if the lockfile is up to date, preferring nothing
    /// locked for these aliases (empty with `upgrade`: all).
    pub upgrade: Option<Vec<String>>,
}

fn requirements(project: &Project) -> Vec<Dependency> {
    project
        .dependencies
        .iter()
        .map(|(a, d)| Dependency {
            alias: a.as_str().into(),
            constraint: d.constraint.clone(),
            private: d.private,
        })
        .collect()
}

/// Resolves `IDENTITY:NAME` (the identity may be a petname) or `NAME`, an index of `me` (the
/// default identity when `None`).
///
/// # Errors
/// When the identity is unknown or the name invalid.
pub fn index_name_of(home: &Home, text: &str, me: Option<&str>) -> Result<IndexName, String> {
    let (who, name) = match text.split_once(':') {
        Some((who, name)) => (Some(who), name),
        None => (me, text),
    };
    let id = home.resolve(who).map_err(|e| e.to_string())?;
    let name = name
        .parse()
        .map_err(|e| format!("`{name}` is not a package name: {e}"))?;
    Ok(IndexName::new(id, name))
}

/// [`index_name_of`] for the default identity.
fn index_name(home: &Home, text: &str) -> Result<IndexName, String> {
    index_name_of(home, text, None)
}

/// A local package under development (a `path` dependency), read from its own `cairn.toml`.
#[derive(Debug)]
struct LocalPackage {
    /// Its directory, relative to the project's, `/`-separated.
    path: String,
    dependencies: Vec<Dependency>,
    candidates: std::sync::Arc<[resolve::Candidate]>,
}

/// A manifest's path dependencies: alias → (directory, whether a version was given too).
type PathDependencies = BTreeMap<cairn_protocol::name::Alias, (PathBuf, bool)>;

/// The project's local packages, by folded alias (those of local packages too).
#[derive(Debug, Default)]
pub struct Locals(BTreeMap<String, LocalPackage>);

/// `base/rel` with `.` and `..` folded lexically, `/`-separated.
fn join_lexically(base: &Path, rel: &Path) -> PathBuf {
    let mut out: Vec<std::ffi::OsString> = Vec::new();
    for c in base.join(rel).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if out.last().is_some_and(|l| l != "..") => {
                out.pop();
            }
            other => out.push(other.as_os_str().to_owned()),
        }
    }
    out.iter().collect()
}

impl Locals {
    /// Reads the local packages `project` (at `dir`) depends on by path, and theirs.
    ///
    /// # Errors
    /// When a path holds no package manifest, or two paths claim one alias.
    pub fn read(dir: &Path, project: &Project) -> Result<Locals, ProjectError> {
        let mut out = BTreeMap::new();
        // (Where a manifest is, relative to the project; its path dependencies.)
        let mut todo: Vec<(PathBuf, PathDependencies)> =
            vec![(PathBuf::new(), project.paths.clone())];
        while let Some((base, paths)) = todo.pop() {
            for (alias, (rel, _)) in paths {
                let at = join_lexically(&base, &rel);
                let shown = at.to_string_lossy().replace('\\', "/");
                let key = alias.as_str().to_ascii_lowercase();
                if let Some(seen) = out.get(&key) {
                    let seen: &LocalPackage = seen;
                    if seen.path != shown {
                        return Err(ProjectError::Other(format!(
                            "`{alias}` is a path dependency on both `{}` and `{shown}`; give one of them another alias",
                            seen.path
                        )));
                    }
                    continue;
                }
                let local = Project::load(&dir.join(&at))?;
                let Some(package) = &local.package else {
                    return Err(ProjectError::Other(format!(
                        "the path dependency `{alias}` points to `{shown}`, whose cairn.toml describes no package\n\nhint: add a `[package]` table there with `name` and `version`"
                    )));
                };
                let dependencies = requirements(&local);
                out.insert(
                    key,
                    LocalPackage {
                        path: shown,
                        dependencies,
                        candidates: std::sync::Arc::from([resolve::Candidate::new(
                            package.version.clone(),
                        )]),
                    },
                );
                todo.push((at, local.paths));
            }
        }
        Ok(Locals(out))
    }

    /// Folded alias → (path, dependencies), as the lockfile records them.
    #[must_use]
    pub fn recorded(&self) -> BTreeMap<String, (String, Vec<Dependency>)> {
        self.0
            .iter()
            .map(|(k, l)| (k.clone(), (l.path.clone(), l.dependencies.clone())))
            .collect()
    }

    fn get(&self, alias: &str) -> Option<&LocalPackage> {
        self.0.get(&alias.to_ascii_lowercase())
    }
}

/// A source with the project's local packages in front of it.
struct WithLocals<'a> {
    locals: &'a Locals,
    inner: &'a dyn PackageSource,
}

impl PackageSource for WithLocals<'_> {
    fn versions(
        &self,
        alias: &str,
    ) -> Result<Option<std::sync::Arc<[resolve::Candidate]>>, resolve::SourceError> {
        match self.locals.get(alias) {
            Some(l) => Ok(Some(std::sync::Arc::clone(&l.candidates))),
            None => self.inner.versions(alias),
        }
    }

    fn dependencies(
        &self,
        alias: &str,
        version: &cairn_protocol::version::Version,
    ) -> Result<std::sync::Arc<[Dependency]>, resolve::SourceError> {
        match self.locals.get(alias) {
            Some(l) => Ok(l.dependencies.iter().cloned().collect()),
            None => self.inner.dependencies(alias, version),
        }
    }

    fn origin(&self, alias: &str) -> std::sync::Arc<str> {
        match self.locals.get(alias) {
            Some(l) => std::sync::Arc::from(format!("the local package at `{}`", l.path)),
            None => self.inner.origin(alias),
        }
    }

    fn index(&self) -> String {
        self.inner.index()
    }

    fn left_out(&self, alias: &str) -> Vec<(cairn_protocol::version::Version, String)> {
        if self.locals.get(alias).is_some() {
            return Vec::new();
        }
        self.inner.left_out(alias)
    }

    fn locate(
        &self,
        alias: &str,
        version: &cairn_protocol::version::Version,
    ) -> Result<Option<resolve::Locator>, resolve::SourceError> {
        if self.locals.get(alias).is_some() {
            return Ok(None);
        }
        self.inner.locate(alias, version)
    }
}

/// A project's view of packages: the curator's package index (with the project's per-alias
/// overrides), then each further layer, asked in order; an alias is answered by the first that
/// has it.
pub struct Layered<'h> {
    layers: Vec<crate::resolve::store::StoreSource<'h>>,
    /// Folded alias → the layer that answers for it, once asked.
    chosen: std::cell::RefCell<BTreeMap<String, Option<usize>>>,
}

impl std::fmt::Debug for Layered<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layered")
            .field("layers", &self.layers.len())
            .finish_non_exhaustive()
    }
}

impl Layered<'_> {
    fn layer(&self, alias: &str) -> Result<Option<usize>, resolve::SourceError> {
        let key = alias.to_ascii_lowercase();
        if let Some(c) = self.chosen.borrow().get(&key) {
            return Ok(*c);
        }
        let mut found = None;
        for (i, l) in self.layers.iter().enumerate() {
            if l.versions(alias)?.is_some() {
                found = Some(i);
                break;
            }
        }
        self.chosen.borrow_mut().insert(key, found);
        Ok(found)
    }
}

impl PackageSource for Layered<'_> {
    fn versions(
        &self,
        alias: &str,
    ) -> Result<Option<std::sync::Arc<[resolve::Candidate]>>, resolve::SourceError> {
        match self.layer(alias)? {
            Some(i) => self.layers[i].versions(alias),
            None => Ok(None),
        }
    }

    fn dependencies(
        &self,
        alias: &str,
        version: &cairn_protocol::version::Version,
    ) -> Result<std::sync::Arc<[Dependency]>, resolve::SourceError> {
        let i = self.layer(alias)?.unwrap_or(0);
        self.layers[i].dependencies(alias, version)
    }

    fn origin(&self, alias: &str) -> std::sync::Arc<str> {
        let i = self.layer(alias).ok().flatten().unwrap_or(0);
        self.layers[i].origin(alias)
    }

    fn index(&self) -> String {
        self.layers[0].index()
    }

    fn left_out(&self, alias: &str) -> Vec<(cairn_protocol::version::Version, String)> {
        let i = self.layer(alias).ok().flatten().unwrap_or(0);
        self.layers[i].left_out(alias)
    }

    fn locate(
        &self,
        alias: &str,
        version: &cairn_protocol::version::Version,
    ) -> Result<Option<resolve::Locator>, resolve::SourceError> {
        match self.layer(alias)? {
            Some(i) => self.layers[i].locate(alias, version),
            None => Ok(None),
        }
    }
}

/// Opens what the project at `dir` resolves against: its curator's index with its overrides,
/// then its layers.
///
/// # Errors
/// When an index is named badly or not held here.
pub fn sources<'h>(
    home: &'h Home,
    dir: &Path,
    project: &Project,
) -> Result<Layered<'h>, ProjectError> {
    let curator = curator(home, dir, project)?;
    let open = |index: &IndexName| {
        home.source(index).map_err(|e| {
            ProjectError::Other(format!(
                "cannot read the package index `{index}`: {e}\n\nhint: import a bundle with it (`cairn import FILE.car`)"
            ))
        })
    };
    let mut first = open(&curator)?;
    for (alias, target) in &project.overrides {
        let target = index_name(home, target).map_err(|e| {
            ProjectError::Other(format!(
                "`{}`: `[index.overrides] {alias}`: {e}",
                dir.join(MANIFEST).display()
            ))
        })?;
        first = first.with_override(alias.clone(), target);
    }
    let mut layers = vec![first];
    for l in &project.layers {
        let index = index_name(home, l).map_err(|e| {
            ProjectError::Other(format!(
                "`{}`: `[index] layers` `{l}`: {e}",
                dir.join(MANIFEST).display()
            ))
        })?;
        layers.push(open(&index)?);
    }
    Ok(Layered {
        layers,
        chosen: std::cell::RefCell::default(),
    })
}

/// The curator a project resolves against.
///
/// # Errors
/// When the manifest names none or names it badly.
pub fn curator(home: &Home, dir: &Path, project: &Project) -> Result<IndexName, ProjectError> {
    let text = project
        .curator
        .as_deref()
        .ok_or_else(|| ProjectError::NoCurator(dir.join(MANIFEST)))?;
    index_name(home, text).map_err(|e| {
        ProjectError::Other(format!(
            "`{}`: `[index] curator = \"{text}\"` is not an index: {e}",
            dir.join(MANIFEST).display()
        ))
    })
}

/// Brings `cairn.lock` up to date with `cairn.toml`: reuses it while it satisfies every
/// requirement, tries its portable data before the index, and writes it only when it changes.
///
/// # Errors
/// Unsatisfiable requirements (with the explanation), `--frozen` or `--offline` refusals, or
/// unreadable files.
pub fn lock(home: &Home, dir: &Path, mode: &LockMode) -> Result<LockOutcome, ProjectError> {
    let project = Project::load(dir)?;
    let curator = curator(home, dir, &project)?;
    let reqs = requirements(&project);
    let path = dir.join(LOCKFILE);
    let (layers, overrides) = index_config(home, dir, &project)?;
    // A lockfile made against other indexes is not reused.
    let old = Lockfile::load(&path)?.filter(|l| {
        l.curator.index == curator.to_string() && l.layers == layers && l.overrides == overrides
    });
    let mut notes = Vec::new();
    let prefs = preferences(dir, old.as_ref(), mode, &mut notes)?;
    let locals = Locals::read(dir, &project)?;
    let recorded = locals.recorded();
    // First the portable data: no index is read when it answers.
    let mut portable_failure = None;
    if let Some(old) = &old {
        let portable = PortableSource::new(old);
        let source = WithLocals {
            locals: &locals,
            inner: &portable,
        };
        match resolve::resolve(&source, &reqs, &prefs) {
            Ok(mut solution) => {
                // The same packages at the same versions, and every local package as it was.
                let same = solution.packages.len() == old.packages.len() + old.locals.len()
                    && solution
                        .packages
                        .iter()
                        .all(|(pkg, r)| old.version_of(pkg) == Some(&r.candidate.version))
                    && old.locals.iter().all(|l| {
                        recorded
                            .get(&l.alias.to_ascii_lowercase())
                            .is_some_and(|(p, d)| *p == l.path && *d == l.dependencies)
                    });
                if same && mode.upgrade.is_none() {
                    return Ok(LockOutcome {
                        lock: old.clone(),
                        from: LockedFrom::Unchanged,
                        written: false,
                        notes,
                    });
                }
                if mode.upgrade.is_none() || mode.offline {
                    match complete(home, &mut solution).and_then(|()| {
                        Lockfile::from_resolution_in(
                            old.curator.clone(),
                            (old.layers.clone(), old.overrides.clone()),
                            &solution,
                            old.portable.clone(),
                            &recorded,
                        )
                    }) {
                        Ok(new) => return finish(&path, new, LockedFrom::Portable, mode, notes),
                        Err(e) => portable_failure = Some(e),
                    }
                }
            }
            Err(ResolveError::NoSolution { report }) => portable_failure = Some(report),
            Err(e) => portable_failure = Some(e.to_string()),
        }
    }
    if mode.offline {
        return Err(ProjectError::Offline(portable_failure.unwrap_or_else(
            || {
                format!(
                    "there is no lockfile for `{curator}` at `{}`",
                    path.display()
                )
            },
        )));
    }
    if let Some(why) = &portable_failure {
        notes.push(format!("reading the curator's index {curator}: the lockfile's portable data does not answer ({})", why.lines().next().unwrap_or("")));
    }
    let layered = sources(home, dir, &project)?;
    let source = WithLocals {
        locals: &locals,
        inner: &layered,
    };
    let solution = resolve_index(
        &source,
        &reqs,
        &prefs,
        old.as_ref(),
        mode.upgrade.as_deref(),
    )?;
    let portable =
        portable_closure(&source, &reqs).map_err(|e| ProjectError::Other(e.to_string()))?;
    let (seq, head) = home
        .store
        .head(&curator.to_string())
        .map_err(|e| ProjectError::Other(e.to_string()))?
        .ok_or_else(|| ProjectError::Other(format!("`{curator}` is not held here")))?;
    let head = Head {
        index: curator.to_string(),
        seq,
        head,
    };
    let new =
        Lockfile::from_resolution_in(head, (layers, overrides), &solution, portable, &recorded)
            .map_err(ProjectError::Other)?;
    finish(&path, new, LockedFrom::Index, mode, notes)
}

/// The layers and overrides `project` names, with IDs for petnames.
fn index_config(
    home: &Home,
    dir: &Path,
    project: &Project,
) -> Result<(Vec<String>, BTreeMap<String, String>), ProjectError> {
    let named = |text: &str, what: &str| {
        index_name(home, text).map(|i| i.to_string()).map_err(|e| {
            ProjectError::Other(format!(
                "`{}`: {what} `{text}`: {e}",
                dir.join(MANIFEST).display()
            ))
        })
    };
    let layers = project
        .layers
        .iter()
        .map(|l| named(l, "[index] layers"))
        .collect::<Result<Vec<_>, _>>()?;
    let overrides = project
        .overrides
        .iter()
        .map(|(a, t)| Ok((a.to_string(), named(t, "[index.overrides]")?)))
        .collect::<Result<BTreeMap<_, _>, ProjectError>>()?;
    Ok((layers, overrides))
}

/// The versions resolution prefers: the lockfile's (less those an update names), or with no
/// lockfile the installed tree's.
fn preferences(
    dir: &Path,
    old: Option<&Lockfile>,
    mode: &LockMode,
    notes: &mut Vec<String>,
) -> Result<BTreeMap<resolve::Pkg, cairn_protocol::version::Version>, ProjectError> {
    let mut prefs = old.map(Lockfile::preferences).unwrap_or_default();
    if old.is_none() {
        // No lockfile, but a tree is installed: it is what this project runs with, so its
        // versions are preferred and the lockfile is written to match it.
        let tree = installed(dir)?;
        for p in &tree.packages {
            if let Ok(v) = p.version.parse() {
                prefs.insert(
                    resolve::Pkg::Dep {
                        scope: p
                            .scope
                            .iter()
                            .map(|s| std::sync::Arc::from(s.as_str()))
                            .collect(),
                        alias: std::sync::Arc::from(p.alias.as_str()),
                    },
                    v,
                );
            }
        }
        if !tree.packages.is_empty() {
            notes.push(format!(
                "there is no `{LOCKFILE}`: writing it from the installed tree ({} packages), whose versions are kept where the manifest allows",
                tree.packages.len()
            ));
        }
    }
    if let Some(up) = &mode.upgrade {
        prefs.retain(|pkg, _| match pkg {
            resolve::Pkg::Dep { alias, .. } => {
                !up.is_empty() && !up.iter().any(|u| u.eq_ignore_ascii_case(alias))
            }
            resolve::Pkg::Root => true,
        });
    }
    Ok(prefs)
}

/// Resolves against the curator's index. An update never moves a package down unless it was
/// named: those keep their locked version (yanked or not; a lockfile is a promise), and the rest
/// is resolved around them.
fn resolve_index(
    source: &dyn PackageSource,
    reqs: &[Dependency],
    prefs: &BTreeMap<resolve::Pkg, cairn_protocol::version::Version>,
    old: Option<&Lockfile>,
    named: Option<&[String]>,
) -> Result<resolve::Resolution, ProjectError> {
    let run =
        |prefs: &BTreeMap<resolve::Pkg, cairn_protocol::version::Version>| match resolve::resolve(
            source, reqs, prefs,
        ) {
            Ok(s) => Ok(s),
            Err(ResolveError::NoSolution { report }) => Err(ProjectError::Unsatisfiable(report)),
            Err(e) => Err(ProjectError::Other(e.to_string())),
        };
    let solution = run(prefs)?;
    let (Some(named), Some(old)) = (named, old) else {
        return Ok(solution);
    };
    let mut kept = prefs.clone();
    for (pkg, r) in &solution.packages {
        let resolve::Pkg::Dep { alias, .. } = pkg else {
            continue;
        };
        if named.iter().any(|n| n.eq_ignore_ascii_case(alias)) {
            continue;
        }
        if let Some(was) = old.package(pkg).map(|p| &p.version)
            && r.candidate.version.priority_cmp(was).is_lt()
        {
            kept.insert(pkg.clone(), was.clone());
        }
    }
    if kept.len() > prefs.len() {
        return run(&kept);
    }
    Ok(solution)
}

/// The release record `cid`, when it is held here and decodes.
#[must_use]
pub fn release_record(home: &Home, cid: &Cid) -> Option<cairn_protocol::release::Release> {
    home.store
        .get(cid)
        .ok()
        .flatten()
        .and_then(|b| cairn_protocol::release::Release::decode(&b).ok())
}

/// Gives releases newly chosen from portable data their artifacts, from their records held
/// here; names the first release whose record is not held.
fn complete(home: &Home, solution: &mut resolve::Resolution) -> Result<(), String> {
    for (pkg, r) in &mut solution.packages {
        let Some(l) = r.locator.as_deref_mut() else {
            continue;
        };
        if l.artifacts.is_some() {
            continue;
        }
        let record = release_record(home, &l.release).ok_or_else(|| {
            format!(
                "{pkg} {} is not locked yet and its release record is not held here",
                r.candidate.version
            )
        })?;
        l.artifacts = Some(record.artifacts);
    }
    Ok(())
}

fn finish(
    path: &Path,
    lock: Lockfile,
    from: LockedFrom,
    mode: &LockMode,
    notes: Vec<String>,
) -> Result<LockOutcome, ProjectError> {
    let text = lock.to_text();
    let current = std::fs::read(path).ok();
    if current.as_deref() == Some(text.as_bytes()) {
        return Ok(LockOutcome {
            lock,
            from,
            written: false,
            notes,
        });
    }
    if mode.frozen {
        return Err(ProjectError::Frozen(
            path.to_path_buf(),
            if current.is_none() {
                "there is no lockfile".to_owned()
            } else {
                "resolving again changes it".to_owned()
            },
        ));
    }
    atomic::write(path, text.as_bytes(), Access::Public, "lock:write")
        .map_err(io(format!("cannot write `{}`", path.display())))?;
    Ok(LockOutcome {
        lock,
        from,
        written: true,
        notes,
    })
}

/// This machine's platform name (`linux-x86_64`, `macos-aarch64`, …).
#[must_use]
pub fn platform() -> String {
    format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH)
}

/// Whether `home` holds `a` (recorded, and its file present).
pub fn holds_artifact(home: &Home, a: &Artifact) -> Result<bool, ProjectError> {
    let held = (home.store.has_artifact(&a.cid)).map_err(|e| ProjectError::Other(e.to_string()))?;
    Ok(held
        && home
            .dir()
            .join("artifacts")
            .join(a.cid.to_string())
            .is_file())
}

/// The artifact a package installs on `platform`: that platform's, else `default`.
///
/// # Errors
/// Names the platforms offered when neither is.
pub fn pick<'a>(
    p: &'a LockedPackage,
    platform: &str,
) -> Result<(&'a str, &'a Artifact), ProjectError> {
    p.artifacts
        .get_key_value(platform)
        .or_else(|| p.artifacts.get_key_value("default"))
        .map(|(k, a)| (k.as_str(), a))
        .ok_or_else(|| {
            ProjectError::Artifact(format!(
                "{} {} offers no artifact for {platform} and no `default` one (it offers: {})\n\nhint: ask its publisher for a {platform} build, or pick another version",
                p.alias,
                p.version,
                p.artifacts.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
}

/// One installed package, as the installed tree records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    /// Private scopes, outermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<String>,
    /// The alias.
    pub alias: String,
    /// The version.
    pub version: String,
    /// The version index it came from.
    pub index: String,
    /// The release record.
    pub release: String,
    /// The platform whose artifact was installed.
    pub platform: String,
    /// That artifact.
    pub artifact: String,
    /// Where its files are, relative to the tree.
    pub path: String,
    /// Relative path → BLAKE3 hex of each installed file.
    pub files: BTreeMap<String, String>,
}

/// The record of an installed tree (`.cairn/packages/installed.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct InstalledTree {
    /// The packages, in lockfile order.
    pub packages: Vec<Installed>,
}

/// The installed tree's record file, inside the tree.
pub const INSTALLED: &str = "installed.json";

/// Reads the installed tree of the project at `dir` (empty when nothing is installed).
///
/// # Errors
/// When the record cannot be read.
pub fn installed(dir: &Path) -> Result<InstalledTree, ProjectError> {
    let path = dir.join(SCOPE_DIR).join("packages").join(INSTALLED);
    match std::fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(InstalledTree::default()),
        Err(e) => Err(io(format!("cannot read `{}`", path.display()))(e)),
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            ProjectError::Other(format!(
                "`{}` is damaged: {e}\n\nhint: run `cairn install` to write the tree again",
                path.display()
            ))
        }),
    }
}

/// What [`install`] did.
#[derive(Debug, Default, Serialize)]
pub struct InstallReport {
    /// Packages in the new tree.
    pub packages: usize,
    /// Artifacts unpacked now (the rest came from the unpacked cache).
    pub unpacked: usize,
    /// Whether the tree changed.
    pub changed: bool,
    /// Warnings about locked releases (yanked, deprecated, advisories since).
    pub warnings: Vec<String>,
    /// Time spent per phase, in microseconds.
    #[serde(skip)]
    pub phases: Vec<(&'static str, u128)>,
}

/// The directory a package lives at inside a tree: `<alias>`, and inside private scopes
/// `<outer>.private/<alias>` (aliases have no dots, so no name can collide).
fn place(scope: &[String], alias: &str) -> PathBuf {
    let mut p = PathBuf::new();
    for s in scope {
        p.push(format!("{}.private", s.to_ascii_lowercase()));
    }
    p.push(alias.to_ascii_lowercase());
    p
}

/// Progress of a long step: the phase, how many items are done, and how many there are.
pub type Progress<'a> = &'a (dyn Fn(&'static str, usize, usize) + Sync);

/// At most this many threads verify, unpack and place at once.
const WORKERS: usize = 8;

/// Runs `f` on every item on a bounded pool of threads; the results keep the items' order.
/// The first failure (in item order) is returned, after every started item has finished.
fn parallel<T: Sync, R: Send>(
    items: &[T],
    phase: &'static str,
    progress: Progress<'_>,
    f: impl Fn(&T) -> Result<R, ProjectError> + Sync,
) -> Result<Vec<R>, ProjectError> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<R, ProjectError>>>> =
        Mutex::new((0..items.len()).map(|_| None).collect());
    let workers = std::thread::available_parallelism()
        .map_or(2, std::num::NonZero::get)
        .min(WORKERS)
        .min(items.len().max(1));
    progress(phase, 0, items.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    let failed = r.is_err();
                    if let Ok(mut all) = results.lock() {
                        all[i] = Some(r);
                    }
                    progress(phase, done.fetch_add(1, Ordering::Relaxed) + 1, items.len());
                    if failed {
                        // Stop handing out work; items already started finish.
                        next.store(items.len(), Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let all = results
        .into_inner()
        .map_err(|_| ProjectError::Other("a worker thread panicked".to_owned()))?;
    let mut out = Vec::with_capacity(items.len());
    for (i, r) in all.into_iter().enumerate() {
        match r {
            Some(r) => out.push(r?),
            None => {
                // Not started because an earlier item failed: that failure is returned.
                return Err(ProjectError::Other(format!("item {i} was not processed")));
            }
        }
    }
    Ok(out)
}

/// Installs what `lock` pins into the project at `dir`: every artifact verified (BLAKE3 and
/// SHA-256) before anything is placed, unpacked once into the home's cache, and the new tree
/// switched in with one rename. Verifying, unpacking and placing run on a bounded pool of
/// threads; `progress` hears of each item.
///
/// # Errors
/// A missing or tampered artifact, an unsafe archive, or a file operation; the previous tree
/// stays in place.
#[allow(clippy::too_many_lines)] // One sequence of phases, each short, read in order.
pub fn install(
    home: &Home,
    dir: &Path,
    lock: &Lockfile,
    platform: &str,
    reinstall: bool,
    progress: Progress<'_>,
) -> Result<InstallReport, ProjectError> {
    let mut report = InstallReport::default();
    let t0 = std::time::Instant::now();
    // One install at a time per project: another waits here rather than racing for the trees.
    let scope_dir = dir.join(SCOPE_DIR);
    std::fs::create_dir_all(&scope_dir)
        .map_err(io(format!("cannot create `{}`", scope_dir.display())))?;
    let guard = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(scope_dir.join("install.lock"))
        .map_err(io("cannot open the project's install lock"))?;
    guard
        .lock()
        .map_err(io("cannot take the project's install lock"))?;
    let mut picked = Vec::new();
    for p in &lock.packages {
        let (plat, a) = pick(p, platform)?;
        picked.push((p, plat, a));
    }
    // Verify and unpack every artifact before the tree is touched.
    let cache = home.dir().join("unpacked");
    let artifacts = home.dir().join("artifacts");
    let prepared = parallel(&picked, "verify and unpack", progress, |(p, _, a)| {
        let unpacked = cache.join(a.cid.to_string());
        if reinstall {
            // Installed files are links into the cache: a file changed in the tree changed
            // there too, so a reinstall unpacks the verified artifact again.
            let _ = std::fs::remove_dir_all(&unpacked);
        }
        let mut fresh = false;
        if !unpacked.join(".files.json").is_file() {
            let bytes = read_verified(&artifacts, p, a)?;
            unpack_into(
                &cache,
                &unpacked,
                &bytes,
                &format!("{} {}", p.alias, p.version),
                a.cid,
            )?;
            fresh = true;
        }
        let files: BTreeMap<String, String> = serde_json::from_slice(
            &std::fs::read(unpacked.join(".files.json"))
                .map_err(io("cannot read the unpacked cache"))?,
        )
        .map_err(|e| {
            ProjectError::Other(format!(
                "the unpacked cache entry {} is damaged: {e}",
                a.cid
            ))
        })?;
        Ok((files, fresh))
    })?;
    let mut tree = InstalledTree::default();
    for ((p, plat, a), (files, fresh)) in picked.iter().zip(prepared) {
        report.unpacked += usize::from(fresh);
        tree.packages.push(Installed {
            scope: p.scope.clone(),
            alias: p.alias.clone(),
            version: p.version.to_string(),
            index: p.from.index.clone(),
            release: p.release.to_string(),
            platform: (*plat).to_owned(),
            artifact: a.cid.to_string(),
            path: place(&p.scope, &p.alias).to_string_lossy().into_owned(),
            files,
        });
    }
    // Local packages are linked, not copied: their files are the ones being developed.
    for l in &lock.locals {
        tree.packages.push(Installed {
            scope: l.scope.clone(),
            alias: l.alias.clone(),
            version: l.version.to_string(),
            index: format!("path {}", l.path),
            release: String::new(),
            platform: "path".to_owned(),
            artifact: String::new(),
            path: place(&l.scope, &l.alias).to_string_lossy().into_owned(),
            files: BTreeMap::new(),
        });
    }
    report
        .phases
        .push(("verify+unpack", t0.elapsed().as_micros()));
    report.packages = tree.packages.len();
    report.warnings = warnings(home, lock);
    let t1 = std::time::Instant::now();
    let record =
        serde_json::to_vec_pretty(&tree).map_err(|e| ProjectError::Other(e.to_string()))?;
    let id = &blake3::hash(&record).to_hex()[..16];
    let trees = scope_dir.join("trees");
    let link = scope_dir.join("packages");
    let current = std::fs::read_link(&link).ok();
    if !reinstall
        && current.as_deref() == Some(Path::new(&format!("trees/{id}")))
        && trees.join(id).join(INSTALLED).is_file()
    {
        report.phases.push(("place", t1.elapsed().as_micros()));
        clean_trees(&trees, id);
        return Ok(report);
    }
    let building = trees.join(format!("{id}.tmp"));
    let _ = std::fs::remove_dir_all(&building);
    std::fs::create_dir_all(&building)
        .map_err(io(format!("cannot create `{}`", building.display())))?;
    // The store is read here, on this thread; the file work is spread over the pool.
    let placements: Vec<(&Installed, Cid, Option<Vec<u8>>)> = tree
        .packages
        .iter()
        .zip(&picked)
        .map(|(t, (p, _, a))| (t, a.cid, home.store.get(&p.release).ok().flatten()))
        .collect();
    parallel(&placements, "place", progress, |(t, cid, record)| {
        let to = building.join(&t.path);
        link_tree(&cache.join(cid.to_string()), &to, &t.files)?;
        if let Some(record) = record {
            let mut rec = to.clone().into_os_string();
            rec.push(".release");
            std::fs::write(PathBuf::from(rec), record)
                .map_err(io("cannot write a release record"))?;
        }
        crate::fault::point("install:placed-one");
        Ok(())
    })?;
    for l in &lock.locals {
        let at = place(&l.scope, &l.alias);
        // From `.cairn/trees/<id>/<scopes…>/` back up to the project directory.
        let mut target = PathBuf::new();
        for _ in 0..at.components().count() + 2 {
            target.push("..");
        }
        target.push(&l.path);
        let link = building.join(&at);
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent).map_err(io("cannot create a directory"))?;
        }
        symlink(&target, &link).map_err(io(format!(
            "cannot link `{}` to `{}`",
            link.display(),
            l.path
        )))?;
    }
    std::fs::write(building.join(INSTALLED), &record)
        .map_err(io("cannot write the installed record"))?;
    let done = trees.join(id);
    let _ = std::fs::remove_dir_all(&done);
    std::fs::rename(&building, &done).map_err(io("cannot move the new tree into place"))?;
    crate::fault::point("install:before-switch");
    let new_link = scope_dir.join(format!("packages.{id}.tmp"));
    let _ = std::fs::remove_file(&new_link);
    symlink(Path::new(&format!("trees/{id}")), &new_link)
        .map_err(io("cannot link the new tree"))?;
    std::fs::rename(&new_link, &link).map_err(io("cannot switch to the new tree"))?;
    if let Ok(d) = std::fs::File::open(&scope_dir) {
        let _ = d.sync_all();
    }
    crate::fault::point("install:after-switch");
    clean_trees(&trees, id);
    report.changed = true;
    report.phases.push(("place", t1.elapsed().as_micros()));
    Ok(report)
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::windows::fs::symlink_dir(target, link)
}

/// Removes every tree but `keep` (left over from earlier installs or a crash).
fn clean_trees(trees: &Path, keep: &str) {
    if let Ok(entries) = std::fs::read_dir(trees) {
        for e in entries.flatten() {
            if e.file_name().to_str() != Some(keep) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Reads an artifact from the home and checks its BLAKE3 CID, size and SHA-256.
fn read_verified(
    artifacts: &Path,
    p: &LockedPackage,
    a: &Artifact,
) -> Result<Vec<u8>, ProjectError> {
    let path = artifacts.join(a.cid.to_string());
    let bytes = std::fs::read(&path).map_err(|e| {
        ProjectError::Artifact(format!(
            "{} {}: artifact {} is not held here ({e})\n\nhint: add a peer that holds it (`cairn peer add ID@ADDR`) and install again, or import a bundle that carries it (`cairn export … --with-artifacts` on a home that has it)",
            p.alias, p.version, a.cid
        ))
    })?;
    let sha: [u8; 32] = sha2::Sha256::digest(&bytes).into();
    if !a.cid.matches(&bytes) || bytes.len() as u64 != a.size || sha != a.sha256 {
        return Err(ProjectError::Artifact(format!(
            "{} {}: the artifact held at `{}` does not match its CID, size and SHA-256 in the lockfile; nothing was installed\n\nhint: delete that file and import the artifact again",
            p.alias,
            p.version,
            path.display()
        )));
    }
    Ok(bytes)
}

/// Unpacks `bytes` into the cache entry `to` (via a temporary directory, so the entry appears
/// whole or not at all), refusing anything that could land outside it.
fn unpack_into(
    cache: &Path,
    to: &Path,
    bytes: &[u8],
    package: &str,
    cid: Cid,
) -> Result<(), ProjectError> {
    std::fs::create_dir_all(cache).map_err(io("cannot create the unpacked cache"))?;
    let tmp = tempfile::Builder::new()
        .prefix(".unpack-")
        .tempdir_in(cache)
        .map_err(io(
            "cannot create a temporary directory in the unpacked cache",
        ))?;
    let mut u = Unpacker {
        root: tmp.path().to_path_buf(),
        package,
        cid,
        files: BTreeMap::new(),
        total: 0,
        count: 0,
    };
    if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let decoder = zstd::stream::read::Decoder::new(bytes)
            .map_err(|e| u.refuse(format!("not a zstd stream: {e}")))?;
        u.tar(tar::Archive::new(decoder))?;
    } else if bytes.starts_with(&[0x1f, 0x8b]) {
        u.tar(tar::Archive::new(flate2::read::GzDecoder::new(bytes)))?;
    } else if bytes.starts_with(b"PK\x03\x04") {
        u.zip(bytes)?;
    } else {
        // A bare file (a platform asset such as a binary or a shared library).
        u.entry(Path::new("artifact"), Kind::File, &mut &bytes[..], true)?;
    }
    let files = u.files;
    let list = serde_json::to_vec(&files).map_err(|e| ProjectError::Other(e.to_string()))?;
    std::fs::write(tmp.path().join(".files.json"), list)
        .map_err(io("cannot write the unpacked cache"))?;
    let tmp = tmp.keep();
    if let Err(e) = std::fs::rename(&tmp, to) {
        let _ = std::fs::remove_dir_all(&tmp);
        // Another process unpacked the same artifact first: theirs is as good as ours.
        if !to.join(".files.json").is_file() {
            return Err(io("cannot move an unpacked artifact into the cache")(e));
        }
    }
    Ok(())
}

/// What an archive entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Link,
    Special,
}

/// Unpacks archive entries into a directory, refusing any that could land outside it and
/// capping the entry count and the bytes written.
struct Unpacker<'a> {
    root: PathBuf,
    package: &'a str,
    cid: Cid,
    /// Relative path → BLAKE3 hex of each file written.
    files: BTreeMap<String, String>,
    total: u64,
    count: u64,
}

impl Unpacker<'_> {
    fn refuse(&self, reason: String) -> ProjectError {
        ProjectError::Unsafe {
            package: self.package.to_owned(),
            cid: self.cid,
            reason,
        }
    }

    fn tar<R: Read>(&mut self, mut archive: tar::Archive<R>) -> Result<(), ProjectError> {
        let entries = archive
            .entries()
            .map_err(|e| self.refuse(format!("not a tar archive: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| self.refuse(format!("a damaged tar entry: {e}")))?;
            let path = entry
                .path()
                .map_err(|e| self.refuse(format!("an entry path that is not valid: {e}")))?
                .into_owned();
            let t = entry.header().entry_type();
            let kind = if t.is_dir() {
                Kind::Dir
            } else if t.is_file() {
                Kind::File
            } else if t.is_symlink() || t.is_hard_link() {
                Kind::Link
            } else {
                Kind::Special
            };
            let executable = entry.header().mode().unwrap_or(0o644) & 0o100 != 0;
            self.entry(&path, kind, &mut entry, executable)?;
        }
        Ok(())
    }

    fn zip(&mut self, bytes: &[u8]) -> Result<(), ProjectError> {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| self.refuse(format!("not a zip archive: {e}")))?;
        for i in 0..archive.len() {
            let mut file = archive
                .by_index(i)
                .map_err(|e| self.refuse(format!("a damaged zip entry: {e}")))?;
            let path = PathBuf::from(
                file.name()
                    .map_err(|e| self.refuse(format!("a zip entry name that is not valid: {e}")))?
                    .into_owned(),
            );
            let kind = if file.is_symlink() {
                Kind::Link
            } else if file.is_dir() {
                Kind::Dir
            } else {
                Kind::File
            };
            let executable = file.unix_mode().is_some_and(|m| m & 0o100 != 0);
            self.entry(&path, kind, &mut file, executable)?;
        }
        Ok(())
    }

    /// One entry: checked, then written (files are streamed, hashed as they are written).
    fn entry(
        &mut self,
        path: &Path,
        kind: Kind,
        data: &mut dyn Read,
        executable: bool,
    ) -> Result<(), ProjectError> {
        self.count += 1;
        if self.count > MAX_ENTRIES {
            return Err(self.refuse(format!("more than {MAX_ENTRIES} entries")));
        }
        let rel = safe_path(path).ok_or_else(|| {
            self.refuse(format!(
                "the entry `{}` would land outside the package (an absolute path or `..`)",
                path.display()
            ))
        })?;
        let dest = self.root.join(&rel);
        match kind {
            Kind::Dir => {
                return std::fs::create_dir_all(&dest).map_err(io("cannot unpack"));
            }
            Kind::Link | Kind::Special => {
                return Err(self.refuse(format!(
                    "the entry `{}` is a {} — only regular files and directories are installed",
                    path.display(),
                    if kind == Kind::Link {
                        "link"
                    } else {
                        "special file"
                    }
                )));
            }
            Kind::File => {}
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(io("cannot unpack"))?;
        }
        let file = std::fs::File::create(&dest)
            .map_err(io(format!("cannot write `{}`", dest.display())))?;
        let mut out = Hashing {
            file,
            hash: blake3::Hasher::new(),
        };
        // One byte over the remaining allowance tells an archive that is too big.
        let allowance = MAX_UNPACKED - self.total;
        let written = std::io::copy(&mut data.take(allowance + 1), &mut out)
            .map_err(|e| self.refuse(format!("a damaged entry `{}`: {e}", path.display())))?;
        if written > allowance {
            return Err(self.refuse(format!("it unpacks to more than {MAX_UNPACKED} bytes")));
        }
        self.total += written;
        set_mode(&dest, executable)?;
        self.files.insert(
            rel.to_string_lossy().replace('\\', "/"),
            out.hash.finalize().to_hex().to_string(),
        );
        Ok(())
    }
}

/// A file writer that hashes what passes through it.
struct Hashing {
    file: std::fs::File,
    hash: blake3::Hasher,
}

impl std::io::Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

fn set_mode(path: &Path, executable: bool) -> Result<(), ProjectError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = if executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(io("cannot set a file mode"))?;
    }
    #[cfg(not(unix))]
    let _ = (path, executable);
    Ok(())
}

/// A relative path with only normal components, or `None`.
fn safe_path(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Places the files of an unpacked entry at `to`: hard links, or copies where linking fails.
fn link_tree(from: &Path, to: &Path, files: &BTreeMap<String, String>) -> Result<(), ProjectError> {
    std::fs::create_dir_all(to).map_err(io(format!("cannot create `{}`", to.display())))?;
    for rel in files.keys() {
        let (src, dst) = (from.join(rel), to.join(rel));
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(io("cannot create a directory"))?;
        }
        if std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst).map_err(io(format!("cannot copy `{}`", src.display())))?;
        }
    }
    Ok(())
}

/// Warnings about locked releases the store now knows more about.
fn warnings(home: &Home, lock: &Lockfile) -> Vec<String> {
    let mut out = Vec::new();
    for p in &lock.packages {
        let Ok(Some(tip)) = home
            .store
            .index_tip::<cairn_protocol::index::version::VersionIndex>(&p.from.index)
        else {
            continue;
        };
        let Some(entry) = tip.state.release(&p.version) else {
            continue;
        };
        if entry.yanked {
            out.push(format!("{} {} is yanked by its publisher (it stays installable because it is locked; `cairn update {}` moves off it)", p.alias, p.version, p.alias));
        }
        if let Some(m) = &entry.deprecated {
            out.push(format!("{} {} is deprecated: {m}", p.alias, p.version));
        }
        for a in &entry.advisories {
            out.push(format!("{} {} has advisory {}", p.alias, p.version, a.id));
        }
    }
    out
}

/// Checks every installed file of the project at `dir` against the hash recorded at install.
///
/// # Errors
/// When the tree's record cannot be read.
pub fn verify_installed(dir: &Path) -> Result<Vec<String>, ProjectError> {
    let tree = installed(dir)?;
    let root = dir.join(SCOPE_DIR).join("packages");
    let mut problems = Vec::new();
    for p in &tree.packages {
        for (rel, hash) in &p.files {
            let path = root.join(&p.path).join(rel);
            match std::fs::read(&path) {
                Ok(b) if blake3::hash(&b).to_hex().as_str() == hash => {}
                Ok(_) => problems.push(format!(
                    "{}: `{}` was modified",
                    p.alias,
                    Path::new(&p.path).join(rel).display()
                )),
                Err(_) => problems.push(format!(
                    "{}: `{}` is missing",
                    p.alias,
                    Path::new(&p.path).join(rel).display()
                )),
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_is_found_by_its_scope_directory_or_its_lockfile() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (checkout, installed) = (tmp.path().join("checkout"), tmp.path().join("installed"));
        std::fs::create_dir_all(checkout.join("src/deep")).expect("dirs");
        std::fs::create_dir_all(installed.join(SCOPE_DIR)).expect("dirs");
        assert_eq!(
            find(&checkout.join("src/deep")),
            None,
            "nothing marks it yet"
        );
        std::fs::write(checkout.join(crate::lockfile::LOCKFILE), "").expect("lockfile");
        assert_eq!(find(&checkout.join("src/deep")), Some(checkout.clone()));
        assert_eq!(find(&installed), Some(installed.clone()));
    }

    /// A `.tar.zst` of one entry whose name is written raw (the tar crate refuses to build
    /// hostile names, so the header is filled by hand).
    fn archive(name: &str, kind: tar::EntryType, link: Option<&str>) -> Vec<u8> {
        let mut header = tar::Header::new_gnu();
        let raw = &mut header.as_gnu_mut().expect("gnu").name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(if kind.is_file() { 4 } else { 0 });
        if let Some(l) = link {
            header.set_link_name(l).expect("link name");
        }
        header.set_cksum();
        let mut b = tar::Builder::new(Vec::new());
        let data: &[u8] = if kind.is_file() { b"evil" } else { b"" };
        b.append(&header, data).expect("append");
        zstd::encode_all(&b.into_inner().expect("tar")[..], 3).expect("zstd")
    }

    #[test]
    fn archives_that_reach_outside_are_refused_and_leave_nothing() {
        let tmp = tempfile::tempdir().expect("tmp");
        let cache = tmp.path().join("unpacked");
        for (name, kind, link, want) in [
            (
                "../evil",
                tar::EntryType::Regular,
                None,
                "outside the package",
            ),
            (
                "/etc/evil",
                tar::EntryType::Regular,
                None,
                "outside the package",
            ),
            (
                "a/../../evil",
                tar::EntryType::Regular,
                None,
                "outside the package",
            ),
            (
                "link",
                tar::EntryType::Symlink,
                Some("../../etc/passwd"),
                "is a link",
            ),
            ("dev", tar::EntryType::Char, None, "special file"),
        ] {
            let bytes = archive(name, kind, link);
            let to = cache.join("entry");
            let e = unpack_into(&cache, &to, &bytes, "evil 1.0", Cid::of_raw(&bytes))
                .expect_err(name)
                .to_string();
            assert!(
                e.contains(want) && e.contains("nothing was installed"),
                "{name}: {e}"
            );
            assert!(!to.exists(), "{name}: no cache entry");
            assert!(
                !tmp.path().join("evil").exists()
                    && !tmp.path().parent().expect("p").join("evil").exists()
            );
            let left: Vec<_> = std::fs::read_dir(&cache).expect("cache").collect();
            assert!(left.is_empty(), "{name}: temporary files are removed");
        }
        // A well-formed archive unpacks.
        let bytes = archive("ok.txt", tar::EntryType::Regular, None);
        let to = cache.join("good");
        unpack_into(&cache, &to, &bytes, "ok 1.0", Cid::of_raw(&bytes)).expect("safe");
        assert_eq!(std::fs::read(to.join("ok.txt")).expect("file"), b"evil");
    }

    /// A `.tar.gz` of the same entry.
    fn gz_archive(name: &str, kind: tar::EntryType, link: Option<&str>) -> Vec<u8> {
        let zst = archive(name, kind, link);
        let tar = zstd::decode_all(&zst[..]).expect("tar");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).expect("gz");
        gz.finish().expect("gz")
    }

    /// A `.zip` of one entry.
    fn zip_archive(name: &str, link: Option<&str>) -> Vec<u8> {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        if let Some(target) = link {
            z.add_symlink(name, target, opts).expect("symlink");
        } else {
            z.start_file(name, opts).expect("file");
            std::io::Write::write_all(&mut z, b"evil").expect("write");
        }
        z.finish().expect("zip").into_inner()
    }

    #[test]
    fn gzip_tar_and_zip_archives_follow_the_same_rules() {
        let tmp = tempfile::tempdir().expect("tmp");
        let cache = tmp.path().join("unpacked");
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                gz_archive("../evil", tar::EntryType::Regular, None),
                "outside the package",
            ),
            (
                gz_archive("link", tar::EntryType::Symlink, Some("/etc/passwd")),
                "is a link",
            ),
            (zip_archive("../evil", None), "outside the package"),
            (zip_archive("/abs/evil", None), "outside the package"),
            (zip_archive("link", Some("../../etc/passwd")), "is a link"),
        ];
        for (i, (bytes, want)) in cases.iter().enumerate() {
            let to = cache.join(format!("entry-{i}"));
            let e = unpack_into(&cache, &to, bytes, "evil 1.0", Cid::of_raw(bytes))
                .expect_err(want)
                .to_string();
            assert!(e.contains(want), "case {i}: {e}");
            assert!(!to.exists());
        }
        for (i, bytes) in [
            gz_archive("dir/ok.txt", tar::EntryType::Regular, None),
            zip_archive("dir/ok.txt", None),
        ]
        .iter()
        .enumerate()
        {
            let to = cache.join(format!("good-{i}"));
            unpack_into(&cache, &to, bytes, "ok 1.0", Cid::of_raw(bytes)).expect("safe");
            assert_eq!(std::fs::read(to.join("dir/ok.txt")).expect("file"), b"evil");
            let files: BTreeMap<String, String> =
                serde_json::from_slice(&std::fs::read(to.join(".files.json")).expect("list"))
                    .expect("json");
            assert_eq!(
                files["dir/ok.txt"],
                blake3::hash(b"evil").to_hex().to_string()
            );
        }
        // Anything else is a bare file, installed as `artifact`.
        let to = cache.join("bare");
        unpack_into(
            &cache,
            &to,
            b"\x7fELF...",
            "bin 1.0",
            Cid::of_raw(b"\x7fELF..."),
        )
        .expect("bare");
        assert_eq!(
            std::fs::read(to.join("artifact")).expect("file"),
            b"\x7fELF..."
        );
    }

    #[test]
    fn a_release_without_this_platform_names_the_ones_it_offers() {
        let lock = Lockfile::parse(include_str!("../../test-vectors/lockfile/sample.lock"))
            .expect("sample");
        let mut p = lock.packages[0].clone();
        let a = p.artifacts.remove("default").expect("default");
        p.artifacts.insert("linux-aarch64".into(), a.clone());
        p.artifacts.insert("macos-aarch64".into(), a);
        assert_eq!(
            pick(&p, "macos-aarch64").expect("offered").0,
            "macos-aarch64"
        );
        let e = pick(&p, "linux-x86_64")
            .expect_err("not offered")
            .to_string();
        assert!(
            e.contains("no artifact for linux-x86_64")
                && e.contains("linux-aarch64, macos-aarch64"),
            "{e}"
        );
    }
}
