//! `cairn.lock`: what a resolution chose, pinned to signed data, and the portable part that lets
//! it be resolved again with no index at hand. Specified in `spec/13-lockfile.md`.
//!
//! The text is written by hand rather than by a serializer, so that the same lock gives the same
//! bytes in every home and with every build: fixed key order, sorted entries, one line per
//! version (a merge of two branches conflicts only where they chose differently).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use cairn_protocol::cid::Cid;
use cairn_protocol::name::Alias;
use cairn_protocol::release::{Artifact, is_platform};
use cairn_protocol::version::{Constraint, Version};
use serde::Deserialize;

use crate::resolve::{Candidate, Dependency, Locator, PackageSource, Pkg, Resolution, SourceError};

/// The lockfile's name, beside `cairn.toml`.
pub const LOCKFILE: &str = "cairn.lock";

/// The format version this build reads and writes.
pub const LOCK_VERSION: u64 = 1;

/// A revision of a log the lock was made against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The index (`<identity>:<name>`).
    pub index: String,
    /// The revision's seq.
    pub seq: u64,
    /// Its payload CID.
    pub head: Cid,
}

/// One chosen release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedPackage {
    /// The private scopes it lives in, outermost first (empty: the shared scope).
    pub scope: Vec<String>,
    /// The alias (as the curator writes it).
    pub alias: String,
    /// The chosen version.
    pub version: Version,
    /// The version index and the revision whose state was used.
    pub from: Head,
    /// The release record's CID.
    pub release: Cid,
    /// Every artifact the release offers, by platform.
    pub artifacts: BTreeMap<String, Artifact>,
}

impl LockedPackage {
    /// The package as the resolver names it.
    #[must_use]
    pub fn pkg(&self) -> Pkg {
        Pkg::Dep {
            scope: self.scope.iter().map(|s| Arc::from(s.as_str())).collect(),
            alias: Arc::from(self.alias.as_str()),
        }
    }
}

/// A local package under development, resolved from its own `cairn.toml` and installed as a
/// link to its directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedLocal {
    /// The private scopes it lives in, outermost first.
    pub scope: Vec<String>,
    /// The alias.
    pub alias: String,
    /// The version its manifest gives.
    pub version: Version,
    /// Its directory, relative to the project's, `/`-separated.
    pub path: String,
    /// Its dependencies, by alias.
    pub dependencies: Vec<Dependency>,
}

impl LockedLocal {
    /// The package as the resolver names it.
    #[must_use]
    pub fn pkg(&self) -> Pkg {
        Pkg::Dep {
            scope: self.scope.iter().map(|s| Arc::from(s.as_str())).collect(),
            alias: Arc::from(self.alias.as_str()),
        }
    }
}

/// A locked package: a release pinned to signed data, or a local package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A release.
    Release(&'a LockedPackage),
    /// A local package.
    Local(&'a LockedLocal),
}

impl Entry<'_> {
    /// Its alias.
    #[must_use]
    pub fn alias(&self) -> &str {
        match self {
            Entry::Release(p) => &p.alias,
            Entry::Local(l) => &l.alias,
        }
    }

    /// Its private scopes.
    #[must_use]
    pub fn scope(&self) -> &[String] {
        match self {
            Entry::Release(p) => &p.scope,
            Entry::Local(l) => &l.scope,
        }
    }

    /// Its version.
    #[must_use]
    pub fn version(&self) -> &Version {
        match self {
            Entry::Release(p) => &p.version,
            Entry::Local(l) => &l.version,
        }
    }
}

/// One admissible version of an alias, with what resolution needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortableVersion {
    /// The version and its status.
    pub candidate: Candidate,
    /// Its release record.
    pub release: Cid,
    /// Its dependencies, by alias.
    pub dependencies: Vec<Dependency>,
}

/// Everything the curator admitted for one alias at lock time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortableAlias {
    /// The alias.
    pub alias: String,
    /// The version index it maps to, at the revision used.
    pub from: Head,
    /// The admissible versions, best first.
    pub versions: Vec<PortableVersion>,
}

/// A lockfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockfile {
    /// The curator's package index at the revision used.
    pub curator: Head,
    /// The further package indexes the manifest layered under it, in order.
    pub layers: Vec<String>,
    /// The manifest's per-alias overrides: alias → version index.
    pub overrides: BTreeMap<String, String>,
    /// The chosen releases, sorted by scope and alias.
    pub packages: Vec<LockedPackage>,
    /// The local packages, sorted by scope and alias.
    pub locals: Vec<LockedLocal>,
    /// Every alias reachable from the requirements through any admissible version, sorted.
    pub portable: Vec<PortableAlias>,
}

/// Why a lockfile could not be read.
#[derive(Debug, thiserror::Error)]
#[error("`{path}` is not a lockfile this version of cairn reads: {reason}\n\nhint: {hint}")]
pub struct LockfileError {
    /// The file.
    pub path: String,
    /// The rule it broke.
    pub reason: String,
    /// What to do.
    pub hint: &'static str,
}

const REGENERATE: &str = "delete it and run `cairn lock` to write it again";

impl Lockfile {
    /// The versions chosen, keyed by package, for resolution's preferences.
    #[must_use]
    pub fn preferences(&self) -> BTreeMap<Pkg, Version> {
        self.packages
            .iter()
            .map(|p| (p.pkg(), p.version.clone()))
            .chain(self.locals.iter().map(|l| (l.pkg(), l.version.clone())))
            .collect()
    }

    /// The version locked for `pkg` (a release or a local package).
    #[must_use]
    pub fn version_of(&self, pkg: &Pkg) -> Option<&Version> {
        self.package(pkg).map(|p| &p.version).or_else(|| {
            self.locals
                .iter()
                .find(|l| l.pkg() == *pkg)
                .map(|l| &l.version)
        })
    }

    /// The locked package `pkg`, if any.
    #[must_use]
    pub fn package(&self, pkg: &Pkg) -> Option<&LockedPackage> {
        self.packages.iter().find(|p| p.pkg() == *pkg)
    }

    /// Every locked package (releases and local packages), as entries.
    #[must_use]
    pub fn entries(&self) -> Vec<Entry<'_>> {
        self.packages
            .iter()
            .map(Entry::Release)
            .chain(self.locals.iter().map(Entry::Local))
            .collect()
    }

    /// The locked entries `e` depends on, each in the scope it was resolved in (a private
    /// dependency in the scope `e` opens, the others beside `e`).
    #[must_use]
    pub fn dependencies_of(&self, e: &Entry<'_>) -> Vec<Entry<'_>> {
        let deps: &[Dependency] = match e {
            Entry::Local(l) => &l.dependencies,
            Entry::Release(p) => match self
                .portable
                .iter()
                .find(|a| a.alias.eq_ignore_ascii_case(&p.alias))
                .and_then(|a| a.versions.iter().find(|v| v.candidate.version == p.version))
            {
                Some(v) => &v.dependencies,
                None => return Vec::new(),
            },
        };
        let (scope, alias) = (e.scope(), e.alias());
        let all = self.entries();
        deps.iter()
            .filter_map(|d| {
                let mut scope = scope.to_vec();
                if d.private && !scope.iter().any(|s| s.eq_ignore_ascii_case(alias)) {
                    scope.push(alias.to_owned());
                }
                all.iter()
                    .find(|q| {
                        q.scope() == scope.as_slice() && q.alias().eq_ignore_ascii_case(&d.alias)
                    })
                    .copied()
            })
            .collect()
    }

    /// Builds a lockfile from a resolution whose every package has a locator with artifacts.
    ///
    /// # Errors
    /// Names the first package the source could not pin down.
    pub fn from_resolution(
        curator: Head,
        resolution: &Resolution,
        portable: Vec<PortableAlias>,
    ) -> Result<Lockfile, String> {
        Lockfile::from_resolution_in(
            curator,
            (Vec::new(), BTreeMap::new()),
            resolution,
            portable,
            &BTreeMap::new(),
        )
    }

    /// As [`Lockfile::from_resolution`], recording the layers and overrides resolved with.
    ///
    /// # Errors
    /// Names the first package the source could not pin down.
    pub fn from_resolution_in(
        curator: Head,
        (layers, overrides): (Vec<String>, BTreeMap<String, String>),
        resolution: &Resolution,
        portable: Vec<PortableAlias>,
        locals: &BTreeMap<String, (String, Vec<Dependency>)>,
    ) -> Result<Lockfile, String> {
        let mut packages = Vec::new();
        let mut local = Vec::new();
        for (pkg, r) in &resolution.packages {
            let Pkg::Dep { scope, alias } = pkg else {
                continue;
            };
            let Some(l) = r.locator.as_deref() else {
                if let Some((path, deps)) = locals.get(&alias.to_ascii_lowercase()) {
                    local.push(LockedLocal {
                        scope: scope.iter().map(ToString::to_string).collect(),
                        alias: alias.to_string(),
                        version: r.candidate.version.clone(),
                        path: path.clone(),
                        dependencies: deps.clone(),
                    });
                    continue;
                }
                return Err(format!(
                    "{pkg} {}: no signed release pins it down",
                    r.candidate.version
                ));
            };
            let Some(artifacts) = l.artifacts.clone() else {
                return Err(format!(
                    "{pkg} {}: its release record {} is not held here",
                    r.candidate.version, l.release
                ));
            };
            packages.push(LockedPackage {
                scope: scope.iter().map(ToString::to_string).collect(),
                alias: alias.to_string(),
                version: r.candidate.version.clone(),
                from: Head {
                    index: l.index.clone(),
                    seq: l.seq,
                    head: l.head,
                },
                release: l.release,
                artifacts,
            });
        }
        let mut lock = Lockfile {
            curator,
            layers,
            overrides,
            packages,
            locals: local,
            portable,
        };
        lock.sort();
        Ok(lock)
    }

    fn sort(&mut self) {
        self.packages
            .sort_by(|a, b| (&a.scope, &a.alias).cmp(&(&b.scope, &b.alias)));
        self.locals
            .sort_by(|a, b| (&a.scope, &a.alias).cmp(&(&b.scope, &b.alias)));
        self.portable.sort_by(|a, b| a.alias.cmp(&b.alias));
    }

    /// The lockfile's text: the same lock always gives the same bytes.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# Written by cairn: commit it, do not edit it. `cairn lock` writes it again.\n",
        );
        let _ = writeln!(out, "version = {LOCK_VERSION}");
        out.push_str("\n[curator]\n");
        write_head(&mut out, &self.curator);
        if !self.layers.is_empty() {
            let _ = writeln!(out, "layers = {}", list(&self.layers));
        }
        if !self.overrides.is_empty() {
            let shown: Vec<String> = self
                .overrides
                .iter()
                .map(|(a, i)| format!("{a} = {}", quote(i)))
                .collect();
            let _ = writeln!(out, "overrides = {{ {} }}", shown.join(", "));
        }
        for p in &self.packages {
            out.push_str("\n[[package]]\n");
            let _ = writeln!(out, "alias = {}", quote(&p.alias));
            if !p.scope.is_empty() {
                let _ = writeln!(out, "scope = {}", list(&p.scope));
            }
            let _ = writeln!(out, "version = {}", quote(&p.version.to_string()));
            write_head(&mut out, &p.from);
            let _ = writeln!(out, "release = {}", quote(&p.release.to_string()));
            for (platform, a) in &p.artifacts {
                let _ = writeln!(
                    out,
                    "artifacts.{platform} = {{ cid = {}, size = {}, sha256 = {} }}",
                    quote(&a.cid.to_string()),
                    a.size,
                    quote(&hex::encode(a.sha256))
                );
            }
        }
        for l in &self.locals {
            out.push_str("\n[[local]]\n");
            let _ = writeln!(out, "alias = {}", quote(&l.alias));
            if !l.scope.is_empty() {
                let _ = writeln!(out, "scope = {}", list(&l.scope));
            }
            let _ = writeln!(out, "version = {}", quote(&l.version.to_string()));
            let _ = writeln!(out, "path = {}", quote(&l.path));
            let (deps, private) = dependency_fields(&l.dependencies);
            if let Some(d) = deps {
                let _ = writeln!(out, "dependencies = {d}");
            }
            if let Some(p) = private {
                let _ = writeln!(out, "private = {p}");
            }
        }
        for a in &self.portable {
            out.push_str("\n[[portable]]\n");
            let _ = writeln!(out, "alias = {}", quote(&a.alias));
            write_head(&mut out, &a.from);
            out.push_str("versions = [\n");
            for v in &a.versions {
                let _ = write!(
                    out,
                    "  {{ version = {}, release = {}",
                    quote(&v.candidate.version.to_string()),
                    quote(&v.release.to_string())
                );
                let (deps, private) = dependency_fields(&v.dependencies);
                if let Some(d) = deps {
                    let _ = write!(out, ", dependencies = {d}");
                }
                if let Some(p) = private {
                    let _ = write!(out, ", private = {p}");
                }
                for (flag, set) in [
                    ("yanked", v.candidate.yanked),
                    ("deprecated", v.candidate.deprecated),
                    ("advisory", v.candidate.advisory),
                ] {
                    if set {
                        let _ = write!(out, ", {flag} = true");
                    }
                }
                out.push_str(" },\n");
            }
            out.push_str("]\n");
        }
        out
    }

    /// Reads a lockfile from `path`; `None` when there is none.
    ///
    /// # Errors
    /// When it cannot be read or is not a valid lockfile.
    pub fn load(path: &Path) -> Result<Option<Lockfile>, LockfileError> {
        let shown = path.display().to_string();
        match std::fs::read(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LockfileError {
                path: shown,
                reason: format!("cannot read it: {e}"),
                hint: "check the file's permissions",
            }),
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| LockfileError {
                    path: shown.clone(),
                    reason: "it is not UTF-8 text".to_owned(),
                    hint: REGENERATE,
                })?;
                Lockfile::parse(&text)
                    .map(Some)
                    .map_err(|reason| LockfileError {
                        path: shown,
                        hint: if reason.contains("format version") {
                            "it was written by a newer cairn: upgrade cairn, or delete it and run `cairn lock`"
                        } else {
                            REGENERATE
                        },
                        reason,
                    })
            }
        }
    }

    /// Parses and checks lockfile text.
    ///
    /// # Errors
    /// The rule the text broke, naming the entry.
    pub fn parse(text: &str) -> Result<Lockfile, String> {
        Lockfile::parse_coded(text).map_err(|(_, message)| message)
    }

    /// As [`Lockfile::parse`], with the refusal's code (`spec/13-lockfile.md`):
    /// `lock-syntax` (not TOML, an unknown key, a value of the wrong type), `lock-version`,
    /// `lock-value` (a value that breaks its rule), `lock-order`.
    ///
    /// # Errors
    /// The code and the message.
    pub fn parse_coded(text: &str) -> Result<Lockfile, (&'static str, String)> {
        let raw: RawLock =
            toml::from_str(text).map_err(|e| ("lock-syntax", e.to_string().trim().to_owned()))?;
        if raw.version != LOCK_VERSION {
            return Err((
                "lock-version",
                format!(
                    "format version {} (this cairn reads format version {LOCK_VERSION})",
                    raw.version
                ),
            ));
        }
        let value = |m: String| ("lock-value", m);
        let curator = head(
            "curator",
            RawHead {
                index: raw.curator.index,
                seq: raw.curator.seq,
                head: raw.curator.head,
            },
        )
        .map_err(value)?;
        let is_index = |what: &str, i: &str| {
            i.parse::<cairn_protocol::name::IndexName>()
                .map(|_| ())
                .map_err(|_| value(format!("curator {what}: `{i}` is not an index name")))
        };
        for l in &raw.curator.layers {
            is_index("layers", l)?;
        }
        for (a, i) in &raw.curator.overrides {
            alias("curator overrides", a).map_err(value)?;
            is_index("overrides", i)?;
        }
        let packages = raw
            .package
            .into_iter()
            .map(package)
            .collect::<Result<Vec<_>, _>>()
            .map_err(value)?;
        let locals = raw
            .local
            .into_iter()
            .map(local)
            .collect::<Result<Vec<_>, _>>()
            .map_err(value)?;
        let portable = raw
            .portable
            .into_iter()
            .map(portable)
            .collect::<Result<Vec<_>, _>>()
            .map_err(value)?;
        let lock = Lockfile {
            curator,
            layers: raw.curator.layers,
            overrides: raw.curator.overrides,
            packages,
            locals,
            portable,
        };
        let mut sorted = lock.clone();
        sorted.sort();
        if sorted != lock {
            return Err(("lock-order", "its entries are not in order".to_owned()));
        }
        for a in &lock.portable {
            if a.versions.windows(2).any(|w| {
                !w[0]
                    .candidate
                    .version
                    .priority_cmp(&w[1].candidate.version)
                    .is_gt()
            }) {
                return Err((
                    "lock-order",
                    format!(
                        "portable `{}`: its versions are not best first, each once",
                        a.alias
                    ),
                ));
            }
        }
        Ok(lock)
    }
}

fn cid(what: &str, text: &str) -> Result<Cid, String> {
    text.parse()
        .map_err(|e| format!("{what}: `{text}` is not a CID: {e}"))
}

fn version(what: &str, text: &str) -> Result<Version, String> {
    text.parse()
        .map_err(|e| format!("{what}: `{text}` is not a version: {e}"))
}

fn alias(what: &str, text: &str) -> Result<(), String> {
    text.parse::<Alias>()
        .map(|_| ())
        .map_err(|e| format!("{what}: `{text}` is not an alias: {e}"))
}

fn head(what: &str, h: RawHead) -> Result<Head, String> {
    if h.index.parse::<cairn_protocol::name::IndexName>().is_err() {
        return Err(format!("{what}: `{}` is not an index name", h.index));
    }
    Ok(Head {
        head: cid(what, &h.head)?,
        index: h.index,
        seq: h.seq,
    })
}

fn package(p: RawPackage) -> Result<LockedPackage, String> {
    let what = format!("package `{}`", p.alias);
    alias(&what, &p.alias)?;
    for s in &p.scope {
        alias(&what, s)?;
    }
    let mut artifacts = BTreeMap::new();
    for (platform, a) in p.artifacts {
        if !is_platform(&platform) {
            return Err(format!("{what}: `{platform}` is not a platform"));
        }
        let sha: [u8; 32] = hex::decode(&a.sha256)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| format!("{what}: sha256 `{}` is not 64 hex digits", a.sha256))?;
        let c = cid(&what, &a.cid)?;
        if c.codec() != cairn_protocol::cid::Codec::Raw {
            return Err(format!("{what}: artifact `{}` is not a raw CID", a.cid));
        }
        artifacts.insert(
            platform,
            Artifact {
                cid: c,
                size: a.size,
                sha256: sha,
            },
        );
    }
    if artifacts.is_empty() {
        return Err(format!("{what}: no artifacts"));
    }
    Ok(LockedPackage {
        version: version(&what, &p.version)?,
        from: head(
            &what,
            RawHead {
                index: p.index,
                seq: p.seq,
                head: p.head,
            },
        )?,
        release: cid(&what, &p.release)?,
        scope: p.scope,
        alias: p.alias,
        artifacts,
    })
}

fn portable(a: RawPortable) -> Result<PortableAlias, String> {
    let what = format!("portable `{}`", a.alias);
    alias(&what, &a.alias)?;
    let mut versions = Vec::new();
    for v in a.versions {
        let dependencies =
            read_dependencies(&format!("{what} {}", v.version), v.dependencies, &v.private)?;
        versions.push(PortableVersion {
            candidate: Candidate {
                version: version(&what, &v.version)?,
                yanked: v.yanked,
                deprecated: v.deprecated,
                advisory: v.advisory,
            },
            release: cid(&what, &v.release)?,
            dependencies,
        });
    }
    Ok(PortableAlias {
        from: head(
            &what,
            RawHead {
                index: a.index,
                seq: a.seq,
                head: a.head,
            },
        )?,
        alias: a.alias,
        versions,
    })
}

/// The `dependencies` inline table and the `private` list of a version, each `None` when empty.
fn dependency_fields(deps: &[Dependency]) -> (Option<String>, Option<String>) {
    let mut deps: Vec<&Dependency> = deps.iter().collect();
    deps.sort_by(|a, b| a.alias.cmp(&b.alias));
    let shown: Vec<String> = deps
        .iter()
        .map(|d| format!("{} = {}", d.alias, quote(&d.constraint.to_string())))
        .collect();
    let private: Vec<String> = deps
        .iter()
        .filter(|d| d.private)
        .map(|d| d.alias.to_string())
        .collect();
    (
        (!shown.is_empty()).then(|| format!("{{ {} }}", shown.join(", "))),
        (!private.is_empty()).then(|| list(&private)),
    )
}

/// Dependencies as read: `dependencies` (alias → constraint) and the `private` aliases.
fn read_dependencies(
    what: &str,
    dependencies: BTreeMap<String, String>,
    private: &[String],
) -> Result<Vec<Dependency>, String> {
    for p in private {
        if !dependencies.contains_key(p) {
            return Err(format!("{what}: private `{p}` is not a dependency"));
        }
    }
    let mut out = Vec::new();
    for (d, c) in dependencies {
        alias(what, &d)?;
        let constraint: Constraint = c
            .parse()
            .map_err(|e| format!("{what}: `{d} = {c}` is not a constraint: {e}"))?;
        out.push(Dependency {
            private: private.contains(&d),
            alias: Arc::from(d.as_str()),
            constraint,
        });
    }
    Ok(out)
}

fn local(l: RawLocal) -> Result<LockedLocal, String> {
    let what = format!("local `{}`", l.alias);
    alias(&what, &l.alias)?;
    for s in &l.scope {
        alias(&what, s)?;
    }
    if l.path.is_empty() {
        return Err(format!("{what}: an empty path"));
    }
    Ok(LockedLocal {
        version: version(&what, &l.version)?,
        dependencies: read_dependencies(&what, l.dependencies, &l.private)?,
        scope: l.scope,
        alias: l.alias,
        path: l.path,
    })
}

fn write_head(out: &mut String, h: &Head) {
    let _ = writeln!(out, "index = {}", quote(&h.index));
    let _ = writeln!(out, "seq = {}", h.seq);
    let _ = writeln!(out, "head = {}", quote(&h.head.to_string()));
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", q.join(", "))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLock {
    version: u64,
    curator: RawCurator,
    #[serde(default)]
    package: Vec<RawPackage>,
    #[serde(default)]
    local: Vec<RawLocal>,
    #[serde(default)]
    portable: Vec<RawPortable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocal {
    alias: String,
    #[serde(default)]
    scope: Vec<String>,
    version: String,
    path: String,
    #[serde(default)]
    dependencies: BTreeMap<String, String>,
    #[serde(default)]
    private: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCurator {
    index: String,
    seq: u64,
    head: String,
    #[serde(default)]
    layers: Vec<String>,
    #[serde(default)]
    overrides: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHead {
    index: String,
    seq: u64,
    head: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPackage {
    alias: String,
    #[serde(default)]
    scope: Vec<String>,
    version: String,
    index: String,
    seq: u64,
    head: String,
    release: String,
    artifacts: BTreeMap<String, RawArtifact>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArtifact {
    cid: String,
    size: u64,
    sha256: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPortable {
    alias: String,
    index: String,
    seq: u64,
    head: String,
    versions: Vec<RawVersion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVersion {
    version: String,
    release: String,
    #[serde(default)]
    dependencies: BTreeMap<String, String>,
    #[serde(default)]
    private: Vec<String>,
    #[serde(default)]
    yanked: bool,
    #[serde(default)]
    deprecated: bool,
    #[serde(default)]
    advisory: bool,
}

/// The portable part of a lockfile as a package source: resolution with no index at hand.
#[derive(Debug)]
pub struct PortableSource<'a> {
    lock: &'a Lockfile,
    candidates: BTreeMap<String, Arc<[Candidate]>>,
}

impl<'a> PortableSource<'a> {
    /// A source over `lock`'s portable part.
    #[must_use]
    pub fn new(lock: &'a Lockfile) -> PortableSource<'a> {
        let candidates = lock
            .portable
            .iter()
            .map(|a| {
                (
                    fold(&a.alias),
                    a.versions.iter().map(|v| v.candidate.clone()).collect(),
                )
            })
            .collect();
        PortableSource { lock, candidates }
    }

    fn alias(&self, alias: &str) -> Option<&'a PortableAlias> {
        let f = fold(alias);
        self.lock.portable.iter().find(|a| fold(&a.alias) == f)
    }

    fn version(&self, alias: &str, version: &Version) -> Option<&'a PortableVersion> {
        self.alias(alias)?
            .versions
            .iter()
            .find(|v| v.candidate.version == *version)
    }
}

fn fold(alias: &str) -> String {
    alias.to_ascii_lowercase()
}

impl PackageSource for PortableSource<'_> {
    fn versions(&self, alias: &str) -> Result<Option<Arc<[Candidate]>>, SourceError> {
        Ok(self.candidates.get(&fold(alias)).cloned())
    }

    fn dependencies(
        &self,
        alias: &str,
        version: &Version,
    ) -> Result<Arc<[Dependency]>, SourceError> {
        self.version(alias, version)
            .map(|v| v.dependencies.iter().cloned().collect())
            .ok_or_else(|| SourceError(format!("the lockfile holds no {alias} {version}")))
    }

    fn origin(&self, alias: &str) -> Arc<str> {
        match self.alias(alias) {
            Some(a) => Arc::from(format!("{} (as locked)", a.from.index)),
            None => Arc::from("the lockfile"),
        }
    }

    fn index(&self) -> String {
        self.lock.curator.index.clone()
    }

    fn locate(&self, alias: &str, version: &Version) -> Result<Option<Locator>, SourceError> {
        let (Some(a), Some(v)) = (self.alias(alias), self.version(alias, version)) else {
            return Ok(None);
        };
        // Artifacts are known when this very release is locked already.
        let artifacts = self
            .lock
            .packages
            .iter()
            .find(|p| p.release == v.release)
            .map(|p| p.artifacts.clone());
        Ok(Some(Locator {
            index: a.from.index.clone(),
            seq: a.from.seq,
            head: a.from.head,
            release: v.release,
            artifacts,
        }))
    }
}

/// The portable part for `requirements`: every alias reachable from them through any version
/// `source` admits, with all of those versions and their dependencies.
///
/// # Errors
/// When the source cannot be read.
pub fn portable_closure(
    source: &dyn PackageSource,
    requirements: &[Dependency],
) -> Result<Vec<PortableAlias>, SourceError> {
    let mut todo: Vec<String> = requirements.iter().map(|d| d.alias.to_string()).collect();
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    while let Some(alias) = todo.pop() {
        if !seen.insert(fold(&alias)) {
            continue;
        }
        let Some(candidates) = source.versions(&alias)? else {
            continue;
        };
        let mut versions = Vec::new();
        let mut from = None;
        for c in candidates.iter() {
            // A local package is not recorded here, but what it depends on is.
            let deps = source.dependencies(&alias, &c.version)?;
            todo.extend(deps.iter().map(|d| d.alias.to_string()));
            let Some(l) = source.locate(&alias, &c.version)? else {
                continue;
            };
            from.get_or_insert(Head {
                index: l.index.clone(),
                seq: l.seq,
                head: l.head,
            });
            versions.push(PortableVersion {
                candidate: c.clone(),
                release: l.release,
                dependencies: deps.to_vec(),
            });
        }
        if let Some(from) = from {
            out.push(PortableAlias {
                alias,
                from,
                versions,
            });
        }
    }
    out.sort_by(|a, b| a.alias.cmp(&b.alias));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../test-vectors/lockfile/sample.lock");

    #[test]
    fn text_round_trips_byte_for_byte() {
        let lock = Lockfile::parse(SAMPLE).expect("sample");
        assert_eq!(lock.packages.len(), 2);
        assert_eq!(
            lock.portable[1].versions[0].dependencies[0].alias.as_ref(),
            "libbar"
        );
        assert_eq!(lock.to_text(), SAMPLE);
    }

    #[test]
    fn refusals_name_the_rule() {
        for (from, to, want) in [
            ("version = 1", "version = 2", "format version 2"),
            (
                "seq = 1\nhead",
                "seq = 1\ncolour = 3\nhead",
                "unknown field `colour`",
            ),
            (
                "release = \"bafyr4ia2",
                "release = \"xafyr4ia2",
                "is not a CID",
            ),
            (
                "alias = \"libbar\"\nversion",
                "alias = \"lib.bar\"\nversion",
                "not an alias",
            ),
            ("size = 136", "size = -1", "invalid value"),
            ("sha256 = \"67d6", "sha256 = \"zzd6", "64 hex digits"),
            ("libbar = \"^2.0\"", "libbar = \"~~2\"", "not a constraint"),
        ] {
            assert!(SAMPLE.contains(from), "{from}");
            let e = Lockfile::parse(&SAMPLE.replacen(from, to, 1)).expect_err(to);
            assert!(e.contains(want), "{to}: {e}");
        }
        // Entries out of order are refused: the text is meant to be written only by cairn.
        let i = SAMPLE.find("[[package]]").expect("a package");
        let j = SAMPLE[i + 1..].find("[[package]]").expect("two") + i + 1;
        let k = SAMPLE.find("[[portable]]").expect("portable");
        let swapped = format!(
            "{}{}{}{}",
            &SAMPLE[..i],
            &SAMPLE[j..k],
            &SAMPLE[i..j],
            &SAMPLE[k..]
        );
        let e = Lockfile::parse(&swapped).expect_err("unsorted");
        assert!(e.contains("not in order"), "{e}");
    }
}
