//! The store-backed package source: a curator's published package index, with its includes,
//! pins, follows and filters applied, read from the local store.
//!
//! Opening reads only the top blocks of the package indexes in the include graph (to refuse
//! cycles and missing includes up front). Each alias is looked up the first time a resolution
//! asks for it, reading only the map blocks on its path and the version index it names, so the
//! first answer costs the same for an index of ten aliases as for one of ten thousand.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use cairn_protocol::cid::Cid;
use cairn_protocol::index::include::{self, IncludeError, IncludeSource};
use cairn_protocol::index::package::{AliasEntry, PackageTop};
use cairn_protocol::index::version::ReleaseEntry;
use cairn_protocol::name::{Alias, IndexName};
use cairn_protocol::release::Release;
use cairn_protocol::version::Version;

use super::{Candidate, Dependency, Locator, PackageSource, SourceError};
use crate::blocks::BlockStore as _;
use crate::curate::{self, CurateError};
use crate::store::{Store, StoreError};

/// One alias of the index: where it points and what it admits.
#[derive(Debug)]
struct Entry {
    /// The version index, and the revision whose state was used.
    target: String,
    seq: u64,
    head: Cid,
    /// Why it admits nothing, when it does not.
    problem: Option<String>,
    releases: Vec<(ReleaseEntry, Option<Release>)>,
    /// The candidates, best first, shared with the resolver.
    candidates: Arc<[Candidate]>,
    /// Releases the entry leaves out, with the reason.
    left_out: Vec<(Version, String)>,
    /// Where its facts come from, as explanations and answers say it.
    origin: Arc<str>,
    /// Each held release record's dependencies, by version key.
    dependencies: BTreeMap<String, Arc<[Dependency]>>,
}

/// Resolution's view of one curator index in the store, read alias by alias as asked.
#[derive(Debug)]
pub struct StoreSource<'a> {
    store: &'a Store,
    index: IndexName,
    /// Package indexes of the include graph: their top blocks (`None`: not held).
    tops: RefCell<BTreeMap<IndexName, Option<Rc<PackageTop>>>>,
    /// Folded alias → its entry, once asked for (`None`: not an alias of the index).
    entries: RefCell<BTreeMap<String, Option<Rc<Entry>>>>,
    /// Folded alias → the version index a consumer chose for it over the curator's choice.
    overrides: BTreeMap<String, (Alias, IndexName)>,
}

impl<'a> StoreSource<'a> {
    /// Opens `index`'s published mapping: checks that it is held and that its include graph
    /// has no cycle and no missing index. Aliases are read later, as resolution asks.
    ///
    /// # Errors
    /// When the index is not held here, its includes cannot be resolved, or the store fails.
    pub fn open(store: &'a Store, index: &IndexName) -> Result<StoreSource<'a>, CurateError> {
        let source = StoreSource {
            store,
            index: index.clone(),
            tops: RefCell::default(),
            entries: RefCell::default(),
            overrides: BTreeMap::new(),
        };
        if source.top(index)?.is_none() {
            return Err(CurateError::Unknown(index.clone()));
        }
        include::check_graph(index, &source)?;
        Ok(source)
    }

    /// Answers for `alias` from `target` (following its latest verified head, with no filter)
    /// instead of from the curator's mapping: a consumer's per-alias override.
    #[must_use]
    pub fn with_override(mut self, alias: Alias, target: IndexName) -> StoreSource<'a> {
        self.overrides.insert(alias.folded(), (alias, target));
        self
    }

    fn top(&self, index: &IndexName) -> Result<Option<Rc<PackageTop>>, CurateError> {
        if let Some(t) = self.tops.borrow().get(index) {
            return Ok(t.clone());
        }
        let log = index.to_string();
        let top = match self.store.head_state(&log)? {
            None => None,
            Some(root) => Some(Rc::new(
                PackageTop::load(root, &|c| self.store.get(c))
                    .map_err(|e| StoreError::state(&format!("`{log}`"), e))?,
            )),
        };
        self.tops.borrow_mut().insert(index.clone(), top.clone());
        Ok(top)
    }

    /// The entry behind `alias`, read on first use.
    fn entry(&self, alias: &str) -> Result<Option<Rc<Entry>>, CurateError> {
        let Ok(parsed) = alias.parse::<Alias>() else {
            return Ok(None);
        };
        let folded = parsed.folded();
        if let Some(e) = self.entries.borrow().get(&folded) {
            return Ok(e.clone());
        }
        let entry = if let Some((alias, target)) = self.overrides.get(&folded) {
            let entry = AliasEntry {
                alias: alias.clone(),
                target: target.clone(),
                policy: cairn_protocol::index::package::Policy::Follow,
                versions: None,
                exclude: std::collections::BTreeSet::new(),
            };
            let mut loaded = self.load(&entry, &self.index)?;
            loaded.origin = Arc::from(format!(
                "{} (your override of `{}`)",
                loaded.origin, self.index
            ));
            Some(Rc::new(loaded))
        } else {
            match include::resolve_alias(&self.index, &folded, self)? {
                None => None,
                Some((entry, via)) => Some(Rc::new(self.load(&entry, &via)?)),
            }
        };
        self.entries.borrow_mut().insert(folded, entry.clone());
        Ok(entry)
    }

    fn load(&self, entry: &AliasEntry, via: &IndexName) -> Result<Entry, CurateError> {
        let (seq, head, releases, left_out, problem) = match curate::admissible(self.store, entry)?
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
                Some((e.version.key(), Arc::from(deps)))
            })
            .collect();
        let via_note = if *via == self.index {
            String::new()
        } else {
            format!(", via the include {via}")
        };
        // A publisher caught signing two different revisions is named wherever its index is.
        let flag = match self.store.flagged(entry.target.identity())? {
            Some(why) => format!("; warning: its publisher is flagged, having {why}"),
            None => String::new(),
        };
        let origin = match &problem {
            Some(p) => format!("{}{via_note}: {p}{flag}", entry.target),
            None => format!("{} revision {seq}{via_note}{flag}", entry.target),
        };
        Ok(Entry {
            left_out,
            origin: Arc::from(origin),
            candidates: Arc::from(candidates),
            dependencies,
            target: entry.target.to_string(),
            seq,
            head,
            problem,
            releases,
        })
    }

    fn read(&self, alias: &str) -> Result<Option<Rc<Entry>>, SourceError> {
        self.entry(alias)
            .map_err(|e| SourceError(format!("cannot read `{alias}` from `{}`: {e}", self.index)))
    }
}

impl IncludeSource for StoreSource<'_> {
    type Error = CurateError;

    fn includes(&self, index: &IndexName) -> Result<Option<BTreeMap<IndexName, u64>>, CurateError> {
        Ok(self.top(index)?.map(|t| t.includes.clone()))
    }

    fn alias(&self, index: &IndexName, folded: &str) -> Result<Option<AliasEntry>, CurateError> {
        let Some(top) = self.top(index)? else {
            return Err(IncludeError::Missing(index.clone()).into());
        };
        top.alias(folded, &|c| self.store.get(c))
            .map_err(|e| StoreError::state(&format!("`{index}`"), e).into())
    }
}

impl PackageSource for StoreSource<'_> {
    fn versions(&self, alias: &str) -> Result<Option<Arc<[Candidate]>>, SourceError> {
        Ok(self.read(alias)?.map(|e| Arc::clone(&e.candidates)))
    }

    fn dependencies(
        &self,
        alias: &str,
        version: &Version,
    ) -> Result<Arc<[Dependency]>, SourceError> {
        let e = self
            .read(alias)?
            .ok_or_else(|| SourceError(format!("`{alias}` is not an alias of `{}`", self.index)))?;
        if let Some(d) = e.dependencies.get(&version.key()) {
            return Ok(Arc::clone(d));
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

    fn origin(&self, alias: &str) -> Arc<str> {
        match self.read(alias) {
            Ok(Some(e)) => Arc::clone(&e.origin),
            _ => Arc::from(self.index.to_string()),
        }
    }

    fn index(&self) -> String {
        self.index.to_string()
    }

    fn left_out(&self, alias: &str) -> Vec<(Version, String)> {
        match self.read(alias) {
            Ok(Some(e)) => e.left_out.clone(),
            _ => Vec::new(),
        }
    }

    fn locate(&self, alias: &str, version: &Version) -> Result<Option<Locator>, SourceError> {
        let Some(e) = self.read(alias)?.filter(|e| e.problem.is_none()) else {
            return Ok(None);
        };
        Ok(e.releases
            .iter()
            .find(|(r, _)| r.version == *version)
            .map(|(r, record)| Locator {
                index: e.target.clone(),
                seq: e.seq,
                head: e.head,
                release: r.release,
                artifacts: record.as_ref().map(|rec| rec.artifacts.clone()),
            }))
    }
}

// Plain `From`: the message carries the cause.
impl From<IncludeError> for CurateError {
    fn from(e: IncludeError) -> CurateError {
        CurateError::Include(e)
    }
}
