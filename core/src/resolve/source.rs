//! Where the resolver reads packages from.

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_protocol::cid::Cid;
use cairn_protocol::release::Artifact;

use cairn_protocol::version::{Constraint, Version};

/// One version of a package, with what curators and publishers said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The version.
    pub version: Version,
    /// Yanked by its publisher (offered only when locked).
    pub yanked: bool,
    /// Deprecated (still offered; shown).
    pub deprecated: bool,
    /// Has at least one advisory (still offered; shown).
    pub advisory: bool,
}

impl Candidate {
    /// A release with no status.
    #[must_use]
    pub fn new(version: Version) -> Candidate {
        Candidate {
            version,
            yanked: false,
            deprecated: false,
            advisory: false,
        }
    }
}

/// One dependency of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The alias, looked up in the same curator index.
    pub alias: Arc<str>,
    /// The versions it accepts.
    pub constraint: Constraint,
    /// Resolved in a scope of its own (DESIGN §4): may differ from versions outside.
    pub private: bool,
}

/// Why a source could not answer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// The resolver's only way to data. Answers must be deterministic for one source.
pub trait PackageSource {
    /// The versions `alias` has, best first (priority order, 04-versions.md: any release above
    /// any pre-release, then higher first), each version once; `None` when the alias is unknown
    /// here. The resolver tries them in this order.
    ///
    /// # Errors
    /// When the source cannot be read.
    fn versions(&self, alias: &str) -> Result<Option<Arc<[Candidate]>>, SourceError>;

    /// The dependencies of `alias` at `version`.
    ///
    /// # Errors
    /// When the source cannot be read, or holds no such release.
    fn dependencies(
        &self,
        alias: &str,
        version: &Version,
    ) -> Result<Arc<[Dependency]>, SourceError>;

    /// Where `alias`'s facts come from (for explanations): the curator index and the version
    /// index it maps to, for example.
    fn origin(&self, alias: &str) -> Arc<str>;

    /// The curator index the aliases are looked up in (named in explanations).
    fn index(&self) -> String;

    /// Versions of `alias` that exist but that this source leaves out, with the reason (a
    /// curator's filter, say); explanations name them.
    fn left_out(&self, _alias: &str) -> Vec<(Version, String)> {
        Vec::new()
    }

    /// Where `alias@version` is pinned down, for a lockfile: the version index, the revision
    /// whose state was used, the release record and its artifacts. `None` when this source
    /// cannot say (a source with no signed data behind it).
    ///
    /// # Errors
    /// When the source cannot be read.
    fn locate(&self, _alias: &str, _version: &Version) -> Result<Option<Locator>, SourceError> {
        Ok(None)
    }
}

/// Where a chosen release is pinned down: everything a lockfile records of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locator {
    /// The version index (`<identity>:<name>`).
    pub index: String,
    /// The seq of the revision whose state was used.
    pub seq: u64,
    /// That revision's payload CID.
    pub head: Cid,
    /// The release record's CID.
    pub release: Cid,
    /// Platform → artifact (CID, size, SHA-256); `None` when the record is not held.
    pub artifacts: Option<BTreeMap<String, Artifact>>,
}

/// One release held in memory: its candidate entry and its dependencies.
type Release = (Candidate, Arc<[Dependency]>);

/// A package source held in memory (tests, scenario files, generated registries).
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    /// What [`PackageSource::origin`] reports (`memory` if empty).
    pub name: String,
    packages: pubgrub::Map<String, Vec<Release>>,
    /// Each alias's candidates, best first (what the resolver tries first), shared.
    sorted: pubgrub::Map<String, Arc<[Candidate]>>,
    /// `name`, shared by every answer.
    origin: Arc<str>,
    /// Locators given with [`MemorySource::locate_as`], by alias and version key.
    locators: BTreeMap<(String, String), Locator>,
}

impl MemorySource {
    /// An empty source called `name`.
    #[must_use]
    pub fn new(name: &str) -> MemorySource {
        MemorySource {
            name: name.to_owned(),
            packages: pubgrub::Map::default(),
            sorted: pubgrub::Map::default(),
            origin: Arc::from(name),
            locators: BTreeMap::new(),
        }
    }

    /// Says where `alias@version` is pinned down (what [`PackageSource::locate`] answers).
    pub fn locate_as(&mut self, alias: &str, version: &Version, locator: Locator) {
        self.locators
            .insert((alias.to_owned(), version.key()), locator);
    }

    /// Every alias held, sorted.
    #[must_use]
    pub fn aliases(&self) -> Vec<String> {
        let mut all: Vec<String> = self.packages.keys().cloned().collect();
        all.sort();
        all
    }

    /// Adds (or replaces) a release.
    pub fn add(&mut self, alias: &str, candidate: Candidate, deps: Vec<Dependency>) {
        let versions = self.packages.entry(alias.to_owned()).or_default();
        versions.retain(|(c, _)| c.version != candidate.version);
        versions.push((candidate, Arc::from(deps)));
        let mut best_first: Vec<Candidate> = versions.iter().map(|(c, _)| c.clone()).collect();
        best_first.sort_by(|a, b| b.version.priority_cmp(&a.version));
        self.sorted.insert(alias.to_owned(), Arc::from(best_first));
    }
}

impl PackageSource for MemorySource {
    fn versions(&self, alias: &str) -> Result<Option<Arc<[Candidate]>>, SourceError> {
        Ok(self.sorted.get(alias).map(Arc::clone))
    }

    fn dependencies(
        &self,
        alias: &str,
        version: &Version,
    ) -> Result<Arc<[Dependency]>, SourceError> {
        self.packages
            .get(alias)
            .and_then(|v| v.iter().find(|(c, _)| c.version == *version))
            .map(|(_, d)| Arc::clone(d))
            .ok_or_else(|| SourceError(format!("`{alias}` has no release {version} here")))
    }

    fn origin(&self, _alias: &str) -> Arc<str> {
        if self.origin.is_empty() {
            Arc::from("memory")
        } else {
            Arc::clone(&self.origin)
        }
    }

    fn index(&self) -> String {
        if self.name.is_empty() {
            "memory".to_owned()
        } else {
            self.name.clone()
        }
    }

    fn locate(&self, alias: &str, version: &Version) -> Result<Option<Locator>, SourceError> {
        if self.locators.is_empty() {
            return Ok(None); // Most memory sources locate nothing: no key to build.
        }
        Ok(self
            .locators
            .get(&(alias.to_owned(), version.key()))
            .cloned())
    }
}
