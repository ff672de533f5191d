//! What an indexing node lists, read from a home's verified store: every version index held with
//! what search needs of its latest release, and every package index held with the aliases it
//! admits (its includes resolved) and the package indexes it includes. Nothing here verifies
//! again: the store holds only what was verified when it arrived.

use cairn_protocol::index::package::PackageIndex;
use cairn_protocol::index::version::VersionIndex;
use cairn_protocol::name::IndexName;
use cairn_protocol::release::Release;
use serde::Serialize;

use crate::curate::{self, CurateError};
use crate::home::Home;
use crate::store::StoreError;

/// A version index as search sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Package {
    /// `<identity>:<name>`.
    pub index: String,
    /// The name part.
    pub name: String,
    /// The publisher (the index's owner).
    pub publisher: String,
    /// The latest release not yanked (else the latest), if any.
    pub latest: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// Its keywords.
    pub keywords: Vec<String>,
    /// Whether it names a license.
    pub licensed: bool,
    /// The aliases its dependencies use.
    pub dependencies: Vec<String>,
    /// When the head revision was signed (Unix seconds, as its signer claims).
    pub time: u64,
    /// Every release is yanked (or there is none).
    pub yanked: bool,
    /// A fork is on record for the index, or one of its maintainers is flagged.
    pub forked: bool,
}

/// A package index as search sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Curated {
    /// `<identity>:<name>`.
    pub index: String,
    /// Alias → the version index it names, with the includes resolved.
    pub aliases: Vec<(String, String)>,
    /// The package indexes it includes directly.
    pub includes: Vec<String>,
}

/// Every version index held.
///
/// # Errors
/// When the store cannot be read.
pub fn packages(home: &Home) -> Result<Vec<Package>, StoreError> {
    let mut out = Vec::new();
    for (log, _, _, kind) in home.store.heads()? {
        if kind == "version-index"
            && let Some(p) = package(home, &log)?
        {
            out.push(p);
        }
    }
    Ok(out)
}

/// One version index, if held.
///
/// # Errors
/// When the store cannot be read.
pub fn package(home: &Home, log: &str) -> Result<Option<Package>, StoreError> {
    let store = &home.store;
    let Ok(index) = log.parse::<IndexName>() else {
        return Ok(None);
    };
    let Some(tip) = store.index_tip::<VersionIndex>(log)? else {
        return Ok(None);
    };
    let releases = tip.state.releases();
    let latest = releases
        .iter()
        .rev()
        .find(|e| !e.yanked)
        .or_else(|| releases.last());
    let record = match latest {
        Some(e) => store
            .block(&e.release)?
            .and_then(|b| Release::decode(&b).ok()),
        None => None,
    };
    let mut forked = !store.forks(log)?.is_empty();
    for id in std::iter::once(*index.identity()).chain(tip.state.grants.keys().copied()) {
        forked |= store.flagged(&id)?.is_some();
    }
    Ok(Some(Package {
        name: index.name().to_string(),
        publisher: index.identity().to_string(),
        latest: latest.map(|e| e.version.to_string()),
        description: record.as_ref().and_then(|r| r.description.clone()),
        keywords: record
            .as_ref()
            .map(|r| r.keywords.clone())
            .unwrap_or_default(),
        licensed: record.as_ref().is_some_and(|r| r.license.is_some()),
        dependencies: record
            .as_ref()
            .map(|r| r.dependencies.keys().map(ToString::to_string).collect())
            .unwrap_or_default(),
        time: tip.revision.time,
        yanked: releases.iter().all(|e| e.yanked),
        forked,
        index: log.to_owned(),
    }))
}

/// Every package index held, as published (staged changes are not part of it).
///
/// # Errors
/// When the store cannot be read.
pub fn curated(home: &Home) -> Result<Vec<Curated>, CurateError> {
    let store = &home.store;
    let mut out = Vec::new();
    for (log, _, _, kind) in store.heads()? {
        if kind != "package-index" {
            continue;
        }
        let Ok(index) = log.parse::<IndexName>() else {
            continue;
        };
        let Some(tip) = store.index_tip::<PackageIndex>(&log)? else {
            continue;
        };
        // An include that is not held, or a cycle: what the index admits cannot be known whole,
        // so it admits nothing as far as search counts.
        let aliases = match curate::published_mapping(store, &index) {
            Ok(resolved) => resolved
                .aliases
                .values()
                .map(|(entry, _)| (entry.alias.to_string(), entry.target.to_string()))
                .collect(),
            Err(_) => Vec::new(),
        };
        out.push(Curated {
            index: log,
            aliases,
            includes: tip.state.includes.keys().map(ToString::to_string).collect(),
        });
    }
    Ok(out)
}
