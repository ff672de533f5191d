//! The consumer's read commands over the lockfile: `tree`, `why`, `info`, `outdated`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use cairn_core::lockfile::{Entry, LOCKFILE, LockedPackage, Lockfile};
use cairn_core::project;
use cairn_core::publish::manifest::Project;
use serde::Serialize;

use crate::settings;

/// The project's directory, manifest and lockfile.
fn locked(
    home: Option<&Path>,
) -> anyhow::Result<(
    cairn_core::home::Home,
    std::path::PathBuf,
    Project,
    Lockfile,
)> {
    let home = settings::open_home(home)?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let dir = project::find(&cwd).unwrap_or_else(|| project::global(&home));
    let manifest = Project::load(&dir)?;
    let lock = Lockfile::load(&dir.join(LOCKFILE))?.with_context(|| {
        format!(
            "there is no `{}`\n\nhint: run `cairn lock` (or `cairn install`) first",
            dir.join(LOCKFILE).display()
        )
    })?;
    Ok((home, dir, manifest, lock))
}

/// The root packages: the manifest's dependencies as locked.
fn roots<'a>(manifest: &Project, lock: &'a Lockfile) -> Vec<Entry<'a>> {
    let all = lock.entries();
    manifest
        .dependencies
        .keys()
        .filter_map(|a| {
            let a = a.as_str();
            all.iter()
                .find(|e| e.alias().eq_ignore_ascii_case(a) && e.scope().is_empty())
                // A private requirement of the project itself lives in its own scope.
                .or_else(|| all.iter().find(|e| e.alias().eq_ignore_ascii_case(a)))
                .copied()
        })
        .collect()
}

fn label(e: &Entry<'_>) -> String {
    let local = match e {
        Entry::Local(l) => format!(" (path {})", l.path),
        Entry::Release(_) => String::new(),
    };
    if e.scope().is_empty() {
        format!("{} {}{local}", e.alias(), e.version())
    } else {
        format!(
            "{} {}{local} (private to {})",
            e.alias(),
            e.version(),
            e.scope().join(" → ")
        )
    }
}

/// One node of `cairn tree --json`.
#[derive(Debug, Serialize)]
struct Node {
    alias: String,
    version: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scope: Vec<String>,
    /// A local package's directory, relative to the project's.
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    /// Set when this package's dependencies were shown earlier in the tree.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    repeated: bool,
    dependencies: Vec<Node>,
}

fn node(lock: &Lockfile, e: &Entry<'_>, seen: &mut Vec<(Vec<String>, String)>) -> Node {
    let key = (e.scope().to_vec(), e.alias().to_ascii_lowercase());
    let repeated = seen.contains(&key);
    seen.push(key);
    Node {
        alias: e.alias().to_owned(),
        version: e.version().to_string(),
        scope: e.scope().to_vec(),
        path: match e {
            Entry::Local(l) => Some(l.path.clone()),
            Entry::Release(_) => None,
        },
        repeated,
        dependencies: if repeated {
            Vec::new()
        } else {
            lock.dependencies_of(e)
                .iter()
                .map(|d| node(lock, d, seen))
                .collect()
        },
    }
}

fn print(n: &Node, prefix: &str, last: bool, top: bool) {
    let (branch, next) = match (top, last) {
        (true, _) => ("", String::new()),
        (false, true) => ("└── ", format!("{prefix}    ")),
        (false, false) => ("├── ", format!("{prefix}│   ")),
    };
    let scope = if n.scope.is_empty() {
        String::new()
    } else {
        format!(" (private to {})", n.scope.join(" → "))
    };
    let local = n
        .path
        .as_ref()
        .map_or_else(String::new, |p| format!(" (path {p})"));
    outln!(
        "{prefix}{branch}{} {}{local}{scope}{}",
        n.alias,
        n.version,
        if n.repeated { " (*)" } else { "" }
    );
    for (i, c) in n.dependencies.iter().enumerate() {
        print(c, &next, i + 1 == n.dependencies.len(), false);
    }
}

pub(crate) fn tree(home: Option<&Path>, json: bool) -> anyhow::Result<ExitCode> {
    let (_, _, manifest, lock) = locked(home)?;
    let mut seen = Vec::new();
    let nodes: Vec<Node> = roots(&manifest, &lock)
        .into_iter()
        .map(|e| node(&lock, &e, &mut seen))
        .collect();
    if json {
        outln!("{}", serde_json::to_string(&nodes)?);
    } else {
        for n in &nodes {
            print(n, "", true, true);
        }
        if nodes.iter().any(has_repeat) {
            outln!("(*) dependencies shown above");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn has_repeat(n: &Node) -> bool {
    n.repeated || n.dependencies.iter().any(has_repeat)
}

pub(crate) fn why(home: Option<&Path>, alias: &str, json: bool) -> anyhow::Result<ExitCode> {
    let (_, _, manifest, lock) = locked(home)?;
    let targets: Vec<Entry<'_>> = lock
        .entries()
        .into_iter()
        .filter(|e| e.alias().eq_ignore_ascii_case(alias))
        .collect();
    if targets.is_empty() {
        anyhow::bail!(
            "`{alias}` is not in the lockfile: nothing depends on it\n\nhint: `cairn tree` shows what is locked"
        );
    }
    // Every path from a requirement down to each target, found by walking down from the roots.
    let mut paths: Vec<Vec<String>> = Vec::new();
    let mut stack: Vec<Vec<Entry<'_>>> = roots(&manifest, &lock)
        .into_iter()
        .map(|r| vec![r])
        .collect();
    while let Some(path) = stack.pop() {
        let last = path[path.len() - 1];
        if targets.contains(&last) {
            paths.push(path.iter().map(label).collect());
            continue;
        }
        for d in lock.dependencies_of(&last) {
            if !path.contains(&d) {
                let mut next = path.clone();
                next.push(d);
                stack.push(next);
            }
        }
    }
    paths.sort();
    if json {
        outln!("{}", serde_json::to_string(&paths)?);
        return Ok(ExitCode::SUCCESS);
    }
    for path in &paths {
        let mut shown: Vec<&str> = path.iter().map(String::as_str).rev().collect();
        shown.push("your requirements");
        outln!("{}", shown.join(" ← "));
    }
    Ok(ExitCode::SUCCESS)
}

/// `cairn info --json`.
#[derive(Debug, Serialize)]
struct Info {
    alias: String,
    index: Option<String>,
    locked: Vec<LockedInfo>,
    /// Every version the curator admitted at lock time, best first.
    versions: Vec<String>,
    description: Option<String>,
    license: Option<String>,
    homepage: Option<String>,
    repository: Option<String>,
}

#[derive(Debug, Serialize)]
struct LockedInfo {
    version: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scope: Vec<String>,
    release: String,
    platforms: Vec<String>,
}

pub(crate) fn info(home: Option<&Path>, alias: &str, json: bool) -> anyhow::Result<ExitCode> {
    let (home, _, _, lock) = locked(home)?;
    let portable = lock
        .portable
        .iter()
        .find(|a| a.alias.eq_ignore_ascii_case(alias));
    let locked: Vec<&LockedPackage> = lock
        .packages
        .iter()
        .filter(|p| p.alias.eq_ignore_ascii_case(alias))
        .collect();
    if portable.is_none() && locked.is_empty() {
        anyhow::bail!(
            "`{alias}` is not in the lockfile\n\nhint: `cairn resolve --index CURATOR {alias}` looks it up in a curator's index"
        );
    }
    let record = locked
        .first()
        .and_then(|p| project::release_record(&home, &p.release));
    let out = Info {
        alias: portable.map_or_else(|| locked[0].alias.clone(), |a| a.alias.clone()),
        index: portable
            .map(|a| a.from.index.clone())
            .or_else(|| locked.first().map(|p| p.from.index.clone())),
        locked: locked
            .iter()
            .map(|p| LockedInfo {
                version: p.version.to_string(),
                scope: p.scope.clone(),
                release: p.release.to_string(),
                platforms: p.artifacts.keys().cloned().collect(),
            })
            .collect(),
        versions: portable
            .map(|a| {
                a.versions
                    .iter()
                    .map(|v| {
                        let mut s = v.candidate.version.to_string();
                        if v.candidate.yanked {
                            s.push_str(" (yanked)");
                        }
                        s
                    })
                    .collect()
            })
            .unwrap_or_default(),
        description: record.as_ref().and_then(|r| r.description.clone()),
        license: record.as_ref().and_then(|r| r.license.clone()),
        homepage: record.as_ref().and_then(|r| r.homepage.clone()),
        repository: record.as_ref().and_then(|r| r.repository.clone()),
    };
    if json {
        outln!("{}", serde_json::to_string(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{}", out.alias);
    if let Some(i) = &out.index {
        outln!("  index:       {i}");
    }
    for (k, v) in [
        ("description", &out.description),
        ("license", &out.license),
        ("homepage", &out.homepage),
        ("repository", &out.repository),
    ] {
        if let Some(v) = v {
            outln!("  {k:<12} {v}");
        }
    }
    for l in &out.locked {
        let scope = if l.scope.is_empty() {
            String::new()
        } else {
            format!(" (private to {})", l.scope.join(" → "))
        };
        outln!("  locked:      {}{scope}, release {}", l.version, l.release);
        outln!("  platforms:   {}", l.platforms.join(", "));
    }
    outln!("  admissible:  {}", out.versions.join(", "));
    Ok(ExitCode::SUCCESS)
}

/// One row of `cairn outdated --json`.
#[derive(Debug, Serialize)]
struct Outdated {
    alias: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scope: Vec<String>,
    locked: String,
    /// The newest version the manifest's constraint admits (for direct dependencies).
    compatible: Option<String>,
    /// The newest version the curator admits.
    latest: String,
    /// The locked version has been yanked since it was locked.
    yanked: bool,
}

pub(crate) fn outdated(home: Option<&Path>, json: bool) -> anyhow::Result<ExitCode> {
    let (home, dir, manifest, lock) = locked(home)?;
    let curator = project::curator(&home, &dir, &manifest)?;
    let source = project::sources(&home, &dir, &manifest)?;
    let mut rows = Vec::new();
    for p in &lock.packages {
        let Some(candidates) = cairn_core::resolve::PackageSource::versions(&source, &p.alias)?
        else {
            continue;
        };
        let usable = |c: &&cairn_core::resolve::Candidate| !c.yanked;
        let Some(latest) = candidates.iter().find(usable) else {
            continue;
        };
        let constraint = p
            .scope
            .is_empty()
            .then(|| {
                manifest
                    .dependencies
                    .iter()
                    .find(|(a, _)| a.as_str().eq_ignore_ascii_case(&p.alias))
                    .map(|(_, d)| &d.constraint)
            })
            .flatten();
        let compatible = constraint.and_then(|c| {
            candidates
                .iter()
                .filter(usable)
                .find(|v| c.matches(&v.version))
        });
        let newer = |v: &cairn_protocol::version::Version| v.priority_cmp(&p.version).is_gt();
        let yanked = candidates
            .iter()
            .any(|c| c.version == p.version && c.yanked);
        if yanked || newer(&latest.version) || compatible.is_some_and(|c| newer(&c.version)) {
            rows.push(Outdated {
                alias: p.alias.clone(),
                scope: p.scope.clone(),
                locked: p.version.to_string(),
                compatible: compatible.map(|c| c.version.to_string()),
                latest: latest.version.to_string(),
                yanked,
            });
        }
    }
    if json {
        outln!("{}", serde_json::to_string(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        outln!("every locked package is at the newest version {curator} admits");
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{:<32} {:<18} {:<12} {}",
        "package",
        "locked",
        "compatible",
        "latest"
    );
    for r in &rows {
        let name = if r.scope.is_empty() {
            r.alias.clone()
        } else {
            format!("{} (private to {})", r.alias, r.scope.join(" → "))
        };
        let locked = if r.yanked {
            format!("{} (yanked)", r.locked)
        } else {
            r.locked.clone()
        };
        outln!(
            "{name:<32} {:<18} {:<12} {}",
            locked,
            r.compatible.as_deref().unwrap_or("-"),
            r.latest
        );
    }
    outln!(
        "`cairn update` moves up to the compatible versions, `cairn update ALIAS` also off a yanked one; change a constraint in cairn.toml to reach the latest"
    );
    Ok(ExitCode::SUCCESS)
}
