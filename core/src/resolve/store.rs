//! The store-backed package source: a curator's published package index, with its includes,
//! pins, follows and filters applied, read from the local store.

use std::collections::BTreeMap;

use cairn_protocol::cid::Cid;
use cairn_protocol::index::version::ReleaseEntry;
use cairn_protocol::name::{Alias, IndexName};
use cairn_protocol::release::Release;
use cairn_protocol::version::Version;

use super::{Candidate, Dependency, PackageSource, SourceError};
use crate::curate::{self, CurateError};
use crate::store::Store;

/// One alias of the index: where it points and what it admits.
#[derive(Debug, Clone)]
struct Entry {
    /// The version index, and the revision whose state was used.
    target: String,
    seq: u64,
    head: Cid,
    /// Why it admits nothing, when it does not.
    problem: Option<String>,
    releases: Vec<(ReleaseEntry, Option<Release>)>,
    /// The candidates, best first, shared with the resolver.
    candidates: std::sync::Arc<[Candidate]>,
    /// Releases the entry leaves out, with the reason.
    left_out: Vec<(Version, String)>,
    /// Where its facts come from, as explanations and answers say it.
    origin: std::sync::Arc<str>,
    /// Each held release record's dependencies, by version key.
    dependencies: BTreeMap<String, std::sync::Arc<[Dependency]>>,
}

/// Everything resolution needs from one curator index, read once from the store.
#[derive(Debug, Clone)]
pub struct StoreSource {
    index: String,
    /// Folded alias → entry.
    entries: BTreeMap<String, Entry>,
}

impl StoreSource {
    /// Reads `index`'s published mapping and every admitted release it names.
    ///
    /// # Errors
    /// When the index is not held here, its includes cannot be resolved, or the store fails.
    pub fn open(store: &Store, index: &IndexName) -> Result<StoreSource, CurateError> {
        let mapping = curate::published_mapping(store, index)?;
        let mut entries = BTreeMap::new();
        for (folded, (entry, via)) in mapping.aliases {
            let (seq, head, releases, left_out, problem) = match curate::admissible(store, &entry)?
            {
                Ok(a) => (a.seq, a.head, a.releases, a.left_out, None),
                Err(problem) => (0, Cid::of_raw(b""), Vec::new(), Vec::new(), Some(problem)),
            };
            let mut candidates: Vec<Candidate> = releases
                .iter()
                .map(|(r, _)| Candidate {
                    version: r.version.clone(),
                    yanked: r.yanked,
                    deprecated: r.deprecated.is_some(),
                    advisory: !r.advisories.is_empty(),
                })
                .collect();
            candidates.sort_by(|a, b| b.version.priority_cmp(&a.version));
            let dependencies = releases
                .iter()
                .filter_map(|(e, r)| {
                    let deps: Vec<Dependency> = r
                        .as_ref()?
                        .dependencies
                        .iter()
                        .map(|(a, d)| Dependency {
                            alias: a.to_string().into(),
                            constraint: d.constraint.clone(),
                            private: d.private,
                        })
                        .collect();
                    Some((e.version.key(), std::sync::Arc::from(deps)))
                })
                .collect();
            let via_text = via.to_string();
            let via_note = if via_text == index.to_string() {
                String::new()
            } else {
                format!(", via the include {via_text}")
            };
            let origin = match &problem {
                Some(p) => format!("{}{via_note}: {p}", entry.target),
                None => format!("{} revision {seq}{via_note}", entry.target),
            };
            entries.insert(
                folded,
                Entry {
                    left_out,
                    origin: std::sync::Arc::from(origin),
                    candidates: std::sync::Arc::from(candidates),
                    dependencies,
                    target: entry.target.to_string(),
                    seq,
                    head,
                    problem,
                    releases,
                },
            );
        }
        Ok(StoreSource {
            index: index.to_string(),
            entries,
        })
    }

    fn entry(&self, alias: &str) -> Option<&Entry> {
        let folded = alias.parse::<Alias>().ok()?.folded();
        self.entries.get(&folded)
    }

    /// The revision of the version index behind `alias` whose state was used.
    #[must_use]
    pub fn revision(&self, alias: &str) -> Option<(String, u64, Cid)> {
        self.entry(alias)
            .filter(|e| e.problem.is_none())
            .map(|e| (e.target.clone(), e.seq, e.head))
    }

    /// The release record behind `alias@version`, when held.
    #[must_use]
    pub fn release(&self, alias: &str, version: &Version) -> Option<(&ReleaseEntry, &Release)> {
        self.entry(alias)?
            .releases
            .iter()
            .find(|(e, _)| e.version == *version)
            .and_then(|(e, r)| r.as_ref().map(|r| (e, r)))
    }
}

impl PackageSource for StoreSource {
    fn versions(&self, alias: &str) -> Result<Option<std::sync::Arc<[Candidate]>>, SourceError> {
        Ok(self
            .entry(alias)
            .map(|e| std::sync::Arc::clone(&e.candidates)))
    }

    fn dependencies(
        &self,
        alias: &str,
        version: &Version,
    ) -> Result<std::sync::Arc<[Dependency]>, SourceError> {
        let e = self
            .entry(alias)
            .ok_or_else(|| SourceError(format!("`{alias}` is not an alias of `{}`", self.index)))?;
        if let Some(d) = e.dependencies.get(&version.key()) {
            return Ok(std::sync::Arc::clone(d));
        }
        if e.releases.iter().any(|(r, _)| r.version == *version) {
            Err(SourceError(format!(
                "the release record of {alias} {version} (from `{}`) is not held here; import that index's bundle (`cairn import FILE.car`)",
                e.target
            )))
        } else {
            Err(SourceError(format!(
                "`{}` admits no {alias} {version}",
                self.index
            )))
        }
    }

    fn origin(&self, alias: &str) -> std::sync::Arc<str> {
        match self.entry(alias) {
            Some(e) => std::sync::Arc::clone(&e.origin),
            None => std::sync::Arc::from(self.index.as_str()),
        }
    }

    fn index(&self) -> String {
        self.index.clone()
    }

    fn left_out(&self, alias: &str) -> Vec<(Version, String)> {
        self.entry(alias)
            .map(|e| e.left_out.clone())
            .unwrap_or_default()
    }
}
