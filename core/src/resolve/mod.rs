//! Resolution (DESIGN §4): pubgrub over a [`PackageSource`].
//!
//! Flat by default: one version per alias. A `private` dependency opens a scope: in pubgrub
//! terms a package is (scope path, alias), so inside the scope the dependency and its
//! non-private dependencies are resolved together and may differ from versions outside.
//!
//! Version order: the locked version if it is still in range (even if yanked since), then the
//! highest release that is not yanked, then the highest pre-release. Package order: most
//! conflicts first, then by name. Answers depend only on the source's content, never on the
//! order it lists things in.

pub mod cargo;
mod explain;
pub mod ranges;
pub mod scenario;
pub mod source;
pub mod store;

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use cairn_protocol::version::Version;
use pubgrub::{
    Dependencies, DependencyConstraints, DependencyProvider, PackageResolutionStatistics,
    PubGrubError, Ranges,
};

pub use ranges::ranges;
pub use source::{Candidate, Dependency, Locator, MemorySource, PackageSource, SourceError};

/// A scope path: the aliases whose private dependencies opened it, outermost first.
pub type Scope = Arc<[Arc<str>]>;

/// A package as the solver sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pkg {
    /// The requirements being resolved.
    Root,
    /// `alias` inside the scope opened by the private dependencies along `scope` (each element
    /// is the alias of the package whose private dependencies the scope holds; empty: the
    /// shared, flat scope).
    Dep {
        /// The scope path.
        scope: Scope,
        /// The alias.
        alias: Arc<str>,
    },
}

impl Pkg {
    /// `alias` in the shared scope.
    #[must_use]
    pub fn flat(alias: &str) -> Pkg {
        Pkg::Dep {
            scope: Arc::from([]),
            alias: Arc::from(alias),
        }
    }
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pkg::Root => f.write_str("your requirements"),
            Pkg::Dep { scope, alias } if scope.is_empty() => f.write_str(alias),
            Pkg::Dep { scope, alias } => write!(f, "{alias} (private to {})", scope.join(" → ")),
        }
    }
}

/// One resolved package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The chosen version with its status.
    pub candidate: Candidate,
    /// Where its facts came from.
    pub origin: Arc<str>,
    /// Where the release is pinned down (version index, revision, release record, artifacts),
    /// when the source can say.
    /// (Boxed: most of a solution's size otherwise, and the solver moves solutions about.)
    pub locator: Option<Box<Locator>>,
}

/// A solution: every package (without the root), in a stable order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolution {
    /// Package → what was chosen.
    pub packages: BTreeMap<Pkg, Resolved>,
}

/// Why resolution failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// No set of versions satisfies every requirement.
    #[error("no solution: {report}")]
    NoSolution {
        /// The explanation.
        report: String,
    },
    /// The source could not answer.
    #[error("could not read `{package}`: {error}")]
    Source {
        /// The package being read.
        package: String,
        /// The source's error.
        error: SourceError,
    },
}

/// Resolves `requirements` against `source`, preferring the versions in `locked`.
///
/// # Errors
/// [`ResolveError::NoSolution`] with an explanation, or the source's error.
pub fn resolve(
    source: &(impl PackageSource + ?Sized),
    requirements: &[Dependency],
    locked: &BTreeMap<Pkg, Version>,
) -> Result<Resolution, ResolveError> {
    let provider = Provider {
        source,
        requirements,
        locked,
    };
    let root_version: Version = "0".parse().unwrap_or_else(|_| unreachable!("`0` parses"));
    match pubgrub::resolve(&provider, Pkg::Root, root_version) {
        Ok(selected) => {
            let mut packages = Vec::new();
            for (pkg, version) in selected {
                let Pkg::Dep { alias, .. } = &pkg else {
                    continue;
                };
                // The chosen version itself is moved in; only the flags are looked up.
                let list = provider
                    .candidates(alias)
                    .map_err(|error| ResolveError::Source {
                        package: pkg.to_string(),
                        error,
                    })?;
                let found = list.iter().find(|c| c.version == version);
                let candidate = Candidate {
                    yanked: found.is_some_and(|c| c.yanked),
                    deprecated: found.is_some_and(|c| c.deprecated),
                    advisory: found.is_some_and(|c| c.advisory),
                    version,
                };
                let origin = source.origin(alias);
                let locator = source
                    .locate(alias, &candidate.version)
                    .map(|l| l.map(Box::new))
                    .map_err(|error| ResolveError::Source {
                        package: pkg.to_string(),
                        error,
                    })?;
                packages.push((
                    pkg,
                    Resolved {
                        candidate,
                        origin,
                        locator,
                    },
                ));
            }
            // Sorted once (by the cheap prefix key, which orders exactly like `Pkg`), then
            // built in bulk.
            packages.sort_by_cached_key(|(pkg, _)| NameOrder::of(pkg));
            Ok(Resolution {
                packages: packages.into_iter().collect(),
            })
        }
        Err(PubGrubError::NoSolution(tree)) => Err(ResolveError::NoSolution {
            report: explain::report(tree, &provider),
        }),
        Err(
            PubGrubError::ErrorRetrievingDependencies {
                package, source: e, ..
            }
            | PubGrubError::ErrorChoosingVersion { package, source: e },
        ) => Err(ResolveError::Source {
            package: package.to_string(),
            error: e,
        }),
        Err(PubGrubError::ErrorInShouldCancel(e)) => Err(ResolveError::Source {
            package: "the resolution".to_owned(),
            error: e,
        }),
    }
}

/// Packages in [`Pkg`] order, compared by a 16-byte prefix first: the solver's priority queue
/// compares priorities often, and most names differ early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameOrder {
    prefix: u128,
    pkg: Pkg,
}

impl NameOrder {
    fn of(pkg: &Pkg) -> NameOrder {
        // Scope elements each end in 0x01, then 0x00, then the alias: byte order of this text
        // is `Pkg` order (names hold neither byte); the root sorts before everything.
        let mut key = [0u8; 16];
        if let Pkg::Dep { scope, alias } = pkg {
            let bytes = scope
                .iter()
                .flat_map(|s| s.bytes().chain([1]))
                .chain([0])
                .chain(alias.bytes());
            for (slot, b) in key.iter_mut().zip(bytes) {
                *slot = b;
            }
        }
        NameOrder {
            prefix: u128::from_be_bytes(key),
            pkg: pkg.clone(),
        }
    }
}

impl Ord for NameOrder {
    fn cmp(&self, other: &NameOrder) -> std::cmp::Ordering {
        self.prefix
            .cmp(&other.prefix)
            .then_with(|| self.pkg.cmp(&other.pkg))
    }
}

impl PartialOrd for NameOrder {
    fn partial_cmp(&self, other: &NameOrder) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The pubgrub adapter over a source.
struct Provider<'a, S: PackageSource + ?Sized> {
    source: &'a S,
    requirements: &'a [Dependency],
    locked: &'a BTreeMap<Pkg, Version>,
}

impl<S: PackageSource + ?Sized> Provider<'_, S> {
    /// `alias`'s candidates, best first (releases above pre-releases, then higher first);
    /// empty when the alias is unknown.
    fn candidates(&self, alias: &str) -> Result<Arc<[Candidate]>, SourceError> {
        let list = self
            .source
            .versions(alias)?
            .unwrap_or_else(|| Arc::from([]));
        debug_assert!(
            list.windows(2)
                .all(|w| w[0].version.priority_cmp(&w[1].version).is_gt()),
            "`{alias}`: a source lists versions best first, each once"
        );
        Ok(list)
    }

    /// The solver package for `dep` when required by `owner` (the root when `None`).
    fn package(owner: Option<(&Scope, &Arc<str>)>, dep: &Dependency) -> Pkg {
        let alias = Arc::clone(&dep.alias);
        let scope = match owner {
            None => Arc::from([]),
            // A scope never repeats an owner: private dependencies that cycle back stay in the
            // scope they are in, so scopes are finite (spec/12-resolution.md).
            Some((scope, owner)) if dep.private && !scope.contains(owner) => {
                scope.iter().cloned().chain([Arc::clone(owner)]).collect()
            }
            Some((scope, _)) => Arc::clone(scope),
        };
        Pkg::Dep { scope, alias }
    }
}

impl<S: PackageSource + ?Sized> explain::Facts for Provider<'_, S> {
    fn candidates_of(&self, alias: &str) -> Vec<Candidate> {
        self.candidates(alias)
            .map(|c| c.to_vec())
            .unwrap_or_default()
    }

    fn origin_of(&self, alias: &str) -> String {
        self.source.origin(alias).to_string()
    }

    fn index(&self) -> String {
        self.source.index()
    }

    fn left_out_of(&self, alias: &str) -> Vec<(Version, String)> {
        self.source.left_out(alias)
    }

    fn is_alias(&self, alias: &str) -> bool {
        self.source.versions(alias).is_ok_and(|v| v.is_some())
    }

    fn declared(
        &self,
        pkg: &Pkg,
        set: &Ranges<Version>,
        dep: &Pkg,
    ) -> Option<cairn_protocol::version::Constraint> {
        let Pkg::Dep { alias: wanted, .. } = dep else {
            return None;
        };
        let written: Vec<Dependency> = match pkg {
            Pkg::Root => self.requirements.to_vec(),
            Pkg::Dep { alias, .. } => {
                let mut all = Vec::new();
                for c in self.candidates(alias).ok()?.iter() {
                    if set.contains(&c.version) {
                        all.extend(
                            self.source
                                .dependencies(alias, &c.version)
                                .ok()?
                                .iter()
                                .cloned(),
                        );
                    }
                }
                all
            }
        };
        let mut found = written.into_iter().filter(|d| *d.alias == **wanted);
        let first = found.next()?.constraint;
        found.all(|d| d.constraint == first).then_some(first)
    }
}

impl<S: PackageSource + ?Sized> DependencyProvider for Provider<'_, S> {
    type P = Pkg;
    type V = Version;
    type VS = Ranges<Version>;
    type M = String;
    type Err = SourceError;
    type Priority = (u32, Reverse<NameOrder>);

    fn prioritize(
        &self,
        package: &Pkg,
        _range: &Ranges<Version>,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        (stats.conflict_count(), Reverse(NameOrder::of(package)))
    }

    fn choose_version(
        &self,
        package: &Pkg,
        range: &Ranges<Version>,
    ) -> Result<Option<Version>, SourceError> {
        let Pkg::Dep { alias, .. } = package else {
            return Ok(Some(
                "0".parse().unwrap_or_else(|_| unreachable!("`0` parses")),
            ));
        };
        let candidates = self.candidates(alias)?;
        if !self.locked.is_empty()
            && let Some(locked) = self.locked.get(package)
            && range.contains(locked)
            && candidates.iter().any(|c| c.version == *locked)
        {
            return Ok(Some(locked.clone()));
        }
        Ok(candidates
            .iter()
            .find(|c| !c.yanked && range.contains(&c.version))
            .map(|c| c.version.clone()))
    }

    fn get_dependencies(
        &self,
        package: &Pkg,
        version: &Version,
    ) -> Result<Dependencies<Pkg, Ranges<Version>, String>, SourceError> {
        let (owner, deps): (_, Arc<[Dependency]>) = match package {
            Pkg::Root => (None, Arc::from(self.requirements)),
            Pkg::Dep { scope, alias } => (
                Some((scope, alias)),
                self.source.dependencies(alias, version)?,
            ),
        };
        // One entry per package, intersecting repeated mentions, in a stable order.
        let mut list: Vec<(Pkg, Ranges<Version>)> = deps
            .iter()
            .map(|dep| (Self::package(owner, dep), ranges(&dep.constraint)))
            .collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list.dedup_by(|later, kept| {
            if later.0 == kept.0 {
                kept.1 = kept.1.intersection(&later.1);
                true
            } else {
                false
            }
        });
        // A dependency of a package on itself is met by the version itself when its constraint
        // admits it; otherwise the version cannot be chosen at all.
        if let Some(at) = list.iter().position(|(p, _)| p == package) {
            let (_, set) = list.remove(at);
            if !set.contains(version) {
                let alias = owner.map_or("", |(_, a)| &**a);
                return Ok(Dependencies::Unavailable(format!(
                    "it depends on {alias} {} (its own package)",
                    explain::set_text(&set)
                )));
            }
        }
        Ok(Dependencies::Available(
            list.into_iter().collect::<DependencyConstraints<_, _>>(),
        ))
    }
}

#[cfg(test)]
mod tests;
