//! What the HTTP API and the web page show, read from the home's verified store: serde types
//! whose JSON is the API's (documented in `spec/15-indexer.md`), rendered as HTML by `web`.

use cairn_core::catalog::{self, Curated};
use cairn_core::home::Home;
use cairn_core::inspect::{self, IndexReport};
use cairn_protocol::cid::Cid;
use cairn_protocol::identity::IdentityId;
use cairn_protocol::name::IndexName;
use cairn_protocol::release::Release;
use serde::Serialize;

/// Reading the store failed.
pub type ReadError = Box<dyn std::error::Error + Send + Sync>;

/// A version index: its verified state, its latest release's metadata, and who admits it.
#[derive(Debug, Clone, Serialize)]
pub struct PackageView {
    /// The verified state (releases with yanks, deprecations and advisories; maintainers; fork).
    #[serde(flatten)]
    pub report: IndexReport,
    /// The latest release not yanked (else the latest), if any.
    pub latest: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// Its license.
    pub license: Option<String>,
    /// Its keywords.
    pub keywords: Vec<String>,
    /// Its dependencies.
    pub dependencies: Vec<DependencyView>,
    /// Curated package indexes that admit it, each with the alias it gives.
    pub curators: Vec<Inclusion>,
    /// Version indexes admitted beside it by a curated index whose latest release depends on
    /// it under that curator's alias.
    pub dependents: Vec<String>,
}

/// One dependency of a release.
#[derive(Debug, Clone, Serialize)]
pub struct DependencyView {
    /// The alias (resolved in the consumer's chosen curator's namespace).
    pub alias: String,
    /// The versions accepted.
    pub constraint: String,
    /// Resolved in its own scope.
    pub private: bool,
}

/// A curated index admitting a package.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Inclusion {
    /// The package index.
    pub curator: String,
    /// The alias it gives.
    pub alias: String,
}

/// A release record, as published.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseView {
    /// The version index.
    pub index: String,
    /// The version.
    pub version: String,
    /// The release record's CID.
    pub release: Cid,
    /// Platform → artifact.
    pub artifacts: Vec<ArtifactView>,
    /// Dependencies.
    pub dependencies: Vec<DependencyView>,
    /// One paragraph.
    pub description: Option<String>,
    /// SPDX expression.
    pub license: Option<String>,
    /// Homepage URL.
    pub homepage: Option<String>,
    /// Repository URL.
    pub repository: Option<String>,
    /// Keywords.
    pub keywords: Vec<String>,
    /// Authors.
    pub authors: Vec<String>,
}

/// One artifact of a release.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactView {
    /// `default` or `<os>-<arch>`.
    pub platform: String,
    /// A raw CID.
    pub cid: Cid,
    /// Bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// A package index.
#[derive(Debug, Clone, Serialize)]
pub struct CuratedView {
    /// `<identity>:<name>`.
    pub index: String,
    /// The head's seq.
    pub seq: u64,
    /// The head's payload CID.
    pub head: Cid,
    /// Alias → the version index it names (includes resolved); empty when an include is not
    /// held.
    pub aliases: Vec<Inclusion>,
    /// The package indexes it includes directly.
    pub includes: Vec<String>,
    /// Fork evidence is held for it.
    pub forked: bool,
    /// Old heads peers offered as current (refused), the latest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rollbacks: Vec<cairn_core::store::Rollback>,
}

/// An identity and the indexes it signs that are held here.
#[derive(Debug, Clone, Serialize)]
pub struct IdentityView {
    /// The identity.
    pub identity: String,
    /// Its identity log's seq, when held.
    pub seq: Option<u64>,
    /// Its indexes held here, with their kinds.
    pub indexes: Vec<HeadView>,
    /// Why it is flagged (it signed two revisions with one seq), if it is.
    pub flagged: Option<String>,
}

/// One log's head.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HeadView {
    /// The log.
    pub log: String,
    /// The head's seq.
    pub seq: u64,
    /// The head's payload CID.
    pub head: Cid,
    /// `identity`, `version-index` or `package-index`.
    pub kind: String,
}

/// A page of heads, in log order.
#[derive(Debug, Clone, Serialize)]
pub struct HeadsPage {
    /// The heads after the cursor.
    pub heads: Vec<HeadView>,
    /// The cursor of the next page (the last log listed), or none at the end.
    pub next: Option<String>,
}

/// Fork evidence held.
#[derive(Debug, Clone, Serialize)]
pub struct ForkView {
    /// The log.
    pub log: String,
    /// The seq signed twice.
    pub seq: u64,
    /// The equivocating identity.
    pub signer: String,
    /// The two revisions' payload CIDs.
    pub revisions: [Cid; 2],
}

fn dependency_views(r: &Release) -> Vec<DependencyView> {
    r.dependencies
        .iter()
        .map(|(alias, d)| DependencyView {
            alias: alias.to_string(),
            constraint: d.constraint.to_string(),
            private: d.private,
        })
        .collect()
}

/// Who admits `log`: every curated index with an alias naming it.
#[must_use]
pub fn curators_of(curated: &[Curated], log: &str) -> Vec<Inclusion> {
    let mut out: Vec<Inclusion> = curated
        .iter()
        .flat_map(|c| {
            c.aliases
                .iter()
                .filter(|(_, t)| t == log)
                .map(|(a, _)| Inclusion {
                    curator: c.index.clone(),
                    alias: a.clone(),
                })
        })
        .collect();
    out.sort_by(|a, b| (&a.curator, &a.alias).cmp(&(&b.curator, &b.alias)));
    out
}

/// The version index `index`, or `None` when it is not held.
///
/// # Errors
/// When the store cannot be read.
pub fn package(home: &Home, index: &IndexName) -> Result<Option<PackageView>, ReadError> {
    let log = index.to_string();
    if home.head_kind(&log)?.as_deref() != Some("version-index") {
        return Ok(None);
    }
    let Some(report) = inspect::show(home, index)? else {
        return Ok(None);
    };
    let Some(summary) = catalog::package(home, &log)? else {
        return Ok(None);
    };
    let record = match report
        .releases
        .iter()
        .find(|r| Some(&r.version) == summary.latest.as_ref())
    {
        Some(r) => home
            .block(&r.release)?
            .and_then(|b| Release::decode(&b).ok()),
        None => None,
    };
    let curated = catalog::curated(home)?;
    let curators = curators_of(&curated, &log);
    let mut dependents = std::collections::BTreeSet::new();
    for inc in &curators {
        let Some(c) = curated.iter().find(|c| c.index == inc.curator) else {
            continue;
        };
        for (_, target) in c.aliases.iter().filter(|(_, t)| *t != log) {
            if let Some(p) = catalog::package(home, target)?
                && p.dependencies.contains(&inc.alias)
            {
                dependents.insert(target.clone());
            }
        }
    }
    Ok(Some(PackageView {
        latest: summary.latest,
        description: summary.description,
        license: record.as_ref().and_then(|r| r.license.clone()),
        keywords: summary.keywords,
        dependencies: record.as_ref().map(dependency_views).unwrap_or_default(),
        curators,
        dependents: dependents.into_iter().collect(),
        report,
    }))
}

/// The release `version` of `index`, or `None`.
///
/// # Errors
/// When the store cannot be read.
pub fn release(
    home: &Home,
    index: &IndexName,
    version: &str,
) -> Result<Option<ReleaseView>, ReadError> {
    if home.head_kind(&index.to_string())?.as_deref() != Some("version-index") {
        return Ok(None);
    }
    let Some(report) = inspect::show(home, index)? else {
        return Ok(None);
    };
    let Some(entry) = report.releases.iter().find(|r| r.version == version) else {
        return Ok(None);
    };
    let Some(r) = home
        .block(&entry.release)?
        .and_then(|b| Release::decode(&b).ok())
    else {
        return Ok(None);
    };
    Ok(Some(ReleaseView {
        index: index.to_string(),
        version: r.version.to_string(),
        release: entry.release,
        artifacts: r
            .artifacts
            .iter()
            .map(|(platform, a)| ArtifactView {
                platform: platform.clone(),
                cid: a.cid,
                size: a.size,
                sha256: hex::encode(a.sha256),
            })
            .collect(),
        dependencies: dependency_views(&r),
        description: r.description,
        license: r.license,
        homepage: r.homepage,
        repository: r.repository,
        keywords: r.keywords,
        authors: r.authors,
    }))
}

/// The package index `index`, or `None`.
///
/// # Errors
/// When the store cannot be read.
pub fn curated(home: &Home, index: &IndexName) -> Result<Option<CuratedView>, ReadError> {
    let log = index.to_string();
    if home.head_kind(&log)?.as_deref() != Some("package-index") {
        return Ok(None);
    }
    let Some((seq, head)) = home.head(&log)? else {
        return Ok(None);
    };
    let Some(c) = catalog::curated(home)?.into_iter().find(|c| c.index == log) else {
        return Ok(None);
    };
    Ok(Some(CuratedView {
        index: log.clone(),
        seq,
        head,
        aliases: c
            .aliases
            .into_iter()
            .map(|(alias, target)| Inclusion {
                curator: target,
                alias,
            })
            .collect(),
        includes: c.includes,
        forked: !home.forks(&log)?.is_empty(),
        rollbacks: home.rollbacks(&log, inspect::ROLLBACKS_SHOWN)?,
    }))
}

/// The identity `id` as held here.
///
/// # Errors
/// When the store cannot be read.
pub fn identity(home: &Home, id: &IdentityId) -> Result<IdentityView, ReadError> {
    let mut indexes = Vec::new();
    for log in home.indexes_of(id)? {
        if let (Some((seq, head)), Some(kind)) = (home.head(&log)?, home.head_kind(&log)?) {
            indexes.push(HeadView {
                log,
                seq,
                head,
                kind,
            });
        }
    }
    Ok(IdentityView {
        identity: id.to_string(),
        seq: home.identity_seq(id)?,
        indexes,
        flagged: home.flagged(id)?,
    })
}

/// The most heads on one page.
pub const MAX_HEADS_PAGE: usize = 1000;

/// Heads after the log `after` (in byte order of the log names), at most `limit`.
///
/// # Errors
/// When the store cannot be read.
pub fn heads(home: &Home, after: Option<&str>, limit: usize) -> Result<HeadsPage, ReadError> {
    let limit = limit.clamp(1, MAX_HEADS_PAGE);
    let mut all = home.heads()?;
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let heads: Vec<HeadView> = all
        .into_iter()
        .filter(|(log, ..)| after.is_none_or(|a| log.as_str() > a))
        .take(limit + 1)
        .map(|(log, seq, head, kind)| HeadView {
            log,
            seq,
            head,
            kind,
        })
        .collect();
    let more = heads.len() > limit;
    let heads: Vec<HeadView> = heads.into_iter().take(limit).collect();
    let next = if more {
        heads.last().map(|h| h.log.clone())
    } else {
        None
    };
    Ok(HeadsPage { heads, next })
}

/// Every fork on record.
///
/// # Errors
/// When the store cannot be read.
pub fn forks(home: &Home) -> Result<Vec<ForkView>, ReadError> {
    let mut out = Vec::new();
    for (log, _, _) in home.fork_list()? {
        for f in home.forks(&log)? {
            let a = cairn_core::net::sync::links_of(&f.a).map(|(p, _)| p);
            let b = cairn_core::net::sync::links_of(&f.b).map(|(p, _)| p);
            if let (Some(a), Some(b)) = (a, b) {
                out.push(ForkView {
                    log: log.clone(),
                    seq: f.seq,
                    signer: f.signer.clone(),
                    revisions: [a, b],
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.log, a.seq).cmp(&(&b.log, b.seq)));
    out.dedup_by(|a, b| a.log == b.log && a.seq == b.seq);
    Ok(out)
}
