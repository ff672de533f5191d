//! `cairn gc`: removes what nothing refers to any more.
//!
//! A home remembers every project that installed from it (a setting `project:<dir>` per
//! project). What is kept:
//! - every artifact a release held here offers (published or curated data refers to it);
//! - every artifact a registered project's lockfile pins or its installed tree holds;
//! - every unpacked cache entry an installed tree was placed from.
//!
//! Everything else under `artifacts/` and `unpacked/` goes, with the temporary files a crash
//! left behind (those untouched for an hour). Projects whose `.cairn/` is gone are forgotten. Installed trees never lose a
//! file: they hold hard links or copies, not references into the cache.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cairn_protocol::cid::Cid;
use cairn_protocol::index::version::VersionIndex;
use serde::Serialize;

use crate::home::Home;
use crate::lockfile::{LOCKFILE, Lockfile};
use crate::project::{self, ProjectError, SCOPE_DIR};

const PROJECT: &str = "project:";

/// Remembers that the project at `dir` installed from this home.
///
/// # Errors
/// When the store cannot be written.
pub fn register(home: &mut Home, dir: &Path) -> Result<(), ProjectError> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let key = format!("{PROJECT}{}", dir.display());
    if home
        .store
        .setting(&key)
        .map_err(|e| ProjectError::Other(e.to_string()))?
        .is_none()
    {
        home.store
            .set_setting(&key, "")
            .map_err(|e| ProjectError::Other(e.to_string()))?;
    }
    Ok(())
}

/// What [`gc`] removed (or would remove).
#[derive(Debug, Default, Serialize)]
pub struct GcReport {
    /// Artifacts removed.
    pub artifacts: usize,
    /// Unpacked cache entries removed.
    pub unpacked: usize,
    /// Temporary files and directories left by interrupted work.
    pub temporary: usize,
    /// Projects forgotten because their `.cairn/` is gone.
    pub projects_forgotten: Vec<String>,
    /// Bytes freed on disk (files whose last link was removed).
    pub bytes: u64,
    /// Nothing was removed: this is what would be.
    pub dry_run: bool,
}

/// Removes what nothing refers to (see the module documentation).
///
/// # Errors
/// When the store cannot be read or a file cannot be removed.
pub fn gc(home: &mut Home, dry_run: bool) -> Result<GcReport, ProjectError> {
    let err = |e: crate::store::StoreError| ProjectError::Other(e.to_string());
    let mut report = GcReport {
        dry_run,
        ..GcReport::default()
    };
    let mut keep_artifacts: BTreeSet<Cid> = BTreeSet::new();
    let mut keep_unpacked: BTreeSet<String> = BTreeSet::new();
    // Published and curated data: every release of every version index held here.
    for log in home.store.logs_with_prefix("").map_err(err)? {
        if home.store.head_kind(&log).map_err(err)?.as_deref() != Some("version-index") {
            continue;
        }
        let Some(tip) = home.store.index_tip::<VersionIndex>(&log).map_err(err)? else {
            continue;
        };
        for e in tip.state.releases() {
            if let Some(r) = project::release_record(home, &e.release) {
                keep_artifacts.extend(r.artifacts.values().map(|a| a.cid));
            }
        }
    }
    // Locked and installed data of every project that installed from here.
    for (key, _) in home.store.settings_with_prefix(PROJECT).map_err(err)? {
        let dir = PathBuf::from(&key[PROJECT.len()..]);
        if !dir.join(SCOPE_DIR).is_dir() {
            report.projects_forgotten.push(dir.display().to_string());
            if !dry_run {
                home.store.remove_setting(&key).map_err(err)?;
            }
            continue;
        }
        if let Ok(Some(lock)) = Lockfile::load(&dir.join(LOCKFILE)) {
            for p in &lock.packages {
                keep_artifacts.extend(p.artifacts.values().map(|a| a.cid));
            }
        }
        for p in project::installed(&dir)?.packages {
            if let Ok(c) = p.artifact.parse::<Cid>() {
                keep_artifacts.insert(c);
            }
            keep_unpacked.insert(p.artifact);
        }
    }
    let artifacts = home.dir().join("artifacts");
    let mut counted = BTreeSet::new();
    for cid in home.store.artifacts().map_err(err)? {
        if !keep_artifacts.contains(&cid) {
            counted.insert(cid);
            report.artifacts += 1;
            report.bytes += remove(&artifacts.join(cid.to_string()), dry_run)?;
            if !dry_run {
                home.store.forget_artifact(&cid).map_err(err)?;
            }
        }
    }
    for (dir, keep) in [
        (artifacts, BTreeSet::new()),
        (home.dir().join("unpacked"), keep_unpacked),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let temporary = stale_temporary(&e);
            if name.starts_with('.') && !temporary {
                continue;
            }
            let unpacked = dir.ends_with("unpacked") && !temporary && !keep.contains(&name);
            // An artifact file no row records: left by a publish or import cut short.
            let orphan = dir.ends_with("artifacts")
                && !name.starts_with('.')
                && name
                    .parse::<Cid>()
                    .ok()
                    .is_none_or(|c| !keep_artifacts.contains(&c) && !counted.contains(&c));
            if orphan && e.path().exists() {
                report.artifacts += 1;
                report.bytes += remove(&e.path(), dry_run)?;
                continue;
            }
            if temporary || unpacked {
                if temporary {
                    report.temporary += 1;
                } else {
                    report.unpacked += 1;
                }
                report.bytes += remove(&e.path(), dry_run)?;
            }
        }
    }
    report.bytes += outboards(home.dir(), &counted, dry_run)?;
    Ok(report)
}

/// Removes the trees of hashes (kept for serving an artifact) whose artifact is gone or
/// forgotten in `counted`, and stale temporary ones; the bytes freed.
fn outboards(home: &Path, counted: &BTreeSet<Cid>, dry_run: bool) -> Result<u64, ProjectError> {
    let artifacts = home.join("artifacts");
    let mut freed = 0;
    let Ok(entries) = std::fs::read_dir(home.join("outboards")) else {
        return Ok(0);
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let fresh = name.starts_with('.') && !stale_temporary(&e);
        let held = name
            .parse::<Cid>()
            .is_ok_and(|c| !counted.contains(&c) && artifacts.join(&name).is_file());
        if !(fresh || held) {
            freed += remove(&e.path(), dry_run)?;
        }
    }
    Ok(freed)
}

/// A temporary file (its name starts with a dot) older than an hour: one younger may belong
/// to a process writing now.
fn stale_temporary(e: &std::fs::DirEntry) -> bool {
    e.file_name().to_string_lossy().starts_with('.')
        && e.metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|a| a.as_secs() > 3600))
}

/// Removes a file or directory tree; returns the bytes freed (files with no other link).
fn remove(path: &Path, dry_run: bool) -> Result<u64, ProjectError> {
    let freed = freed(path);
    if !dry_run {
        let r = if path.is_dir() {
            std::fs::remove_dir_all(path)
        } else {
            std::fs::remove_file(path)
        };
        match r {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(cause) => {
                return Err(ProjectError::Io {
                    what: format!("cannot remove `{}`", path.display()),
                    cause,
                });
            }
        }
    }
    Ok(freed)
}

fn freed(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_dir() {
        return std::fs::read_dir(path)
            .map_or(0, |es| es.flatten().map(|e| freed(&e.path())).sum());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if meta.nlink() > 1 {
            return 0;
        }
    }
    meta.len()
}
