//! Resolving a package index with its includes into one alias mapping.
//!
//! Rules (DESIGN §3, `spec/06-logs.md` "Includes"): the curator's own entries win; then the
//! include with the higher priority; a mapping hidden this way is reported as shadowed; two
//! includes of equal priority that disagree on an alias are an error naming both; include cycles
//! are refused. Includes resolve recursively with the same rules.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use super::package::{AliasEntry, PackageState};
use crate::name::IndexName;

/// Why a package index's includes cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum IncludeError {
    /// The include graph has a cycle (the path names it, first = last).
    #[error("include cycle: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(" → "))]
    Cycle(Vec<IndexName>),
    /// Two includes of equal priority map an alias differently.
    #[error(
        "alias `{alias}` is mapped differently by `{a}` and `{b}`, included with the same priority {priority}; give one a higher priority or add `{alias}` to the index itself"
    )]
    EqualPriorityConflict {
        /// The folded alias.
        alias: String,
        /// One include.
        a: String,
        /// The other.
        b: String,
        /// Their priority.
        priority: u64,
    },
    /// An included index's state is not available.
    #[error("included package index `{0}` is not available; fetch it first")]
    Missing(IndexName),
}

impl IncludeError {
    /// The stable error code used in test vectors.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            IncludeError::Cycle(_) => "include-cycle",
            IncludeError::EqualPriorityConflict { .. } => "include-equal-priority-conflict",
            IncludeError::Missing(_) => "include-missing",
        }
    }
}

/// An alias mapping hidden by a higher-ranked one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Shadowed {
    /// The folded alias.
    pub alias: String,
    /// The index whose mapping is used.
    pub winner: IndexName,
    /// The index whose mapping is hidden.
    pub hidden: IndexName,
}

/// The effective mapping of a package index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// Folded alias → (entry, the package index it comes from).
    pub aliases: BTreeMap<String, (AliasEntry, IndexName)>,
    /// Every mapping hidden by a higher-ranked one.
    pub shadowed: Vec<Shadowed>,
}

/// Resolves `root` and its includes. `states` gives the state of any package index by name.
pub fn resolve(
    root: &IndexName,
    states: &dyn Fn(&IndexName) -> Option<PackageState>,
) -> Result<Resolved, IncludeError> {
    let mut memo = BTreeMap::new();
    resolve_at(root, states, &mut Vec::new(), &mut memo)
}

fn resolve_at(
    name: &IndexName,
    states: &dyn Fn(&IndexName) -> Option<PackageState>,
    path: &mut Vec<IndexName>,
    memo: &mut BTreeMap<IndexName, Resolved>,
) -> Result<Resolved, IncludeError> {
    if let Some(i) = path.iter().position(|p| p == name) {
        let mut cycle = path[i..].to_vec();
        cycle.push(name.clone());
        return Err(IncludeError::Cycle(cycle));
    }
    if let Some(done) = memo.get(name) {
        return Ok(done.clone());
    }
    let state = states(name).ok_or_else(|| IncludeError::Missing(name.clone()))?;
    path.push(name.clone());
    let mut out = Resolved::default();
    for e in state.aliases() {
        out.aliases.insert(e.alias.folded(), (e, name.clone()));
    }
    // Includes by priority, highest first; equal priorities are compared with each other.
    let mut by_priority: BTreeMap<std::cmp::Reverse<u64>, Vec<IndexName>> = BTreeMap::new();
    for (inc, p) in &state.includes {
        by_priority
            .entry(std::cmp::Reverse(*p))
            .or_default()
            .push(inc.clone());
    }
    for (std::cmp::Reverse(priority), group) in by_priority {
        let mut tier: BTreeMap<String, (AliasEntry, IndexName)> = BTreeMap::new();
        for inc in &group {
            let sub = resolve_at(inc, states, path, memo)?;
            out.shadowed.extend(sub.shadowed.iter().cloned());
            for (alias, (entry, source)) in sub.aliases {
                match tier.get(&alias) {
                    Some((other, other_source)) if *other != entry => {
                        return Err(IncludeError::EqualPriorityConflict {
                            alias,
                            a: other_source.to_string(),
                            b: source.to_string(),
                            priority,
                        });
                    }
                    Some(_) => {}
                    None => {
                        tier.insert(alias, (entry, source));
                    }
                }
            }
        }
        for (alias, (entry, source)) in tier {
            match out.aliases.get(&alias) {
                Some((_, winner)) => {
                    out.shadowed.push(Shadowed {
                        alias,
                        winner: winner.clone(),
                        hidden: source,
                    });
                }
                None => {
                    out.aliases.insert(alias, (entry, source));
                }
            }
        }
    }
    path.pop();
    dedup(&mut out.shadowed);
    memo.insert(name.clone(), out.clone());
    Ok(out)
}

/// How [`resolve_alias`] reads package indexes: their includes, and single alias entries.
pub trait IncludeSource {
    /// Why reading failed (a store error, say); include errors convert into it.
    type Error: From<IncludeError>;
    /// The includes of a package index, or `None` when its state is not available.
    fn includes(&self, index: &IndexName) -> Result<Option<BTreeMap<IndexName, u64>>, Self::Error>;
    /// The index's own entry for a folded alias (its includes not consulted).
    fn alias(&self, index: &IndexName, folded: &str) -> Result<Option<AliasEntry>, Self::Error>;
}

/// Checks the include graph below `root` for what [`resolve`] refuses whatever the alias:
/// cycles and indexes whose state is not available.
pub fn check_graph<S: IncludeSource>(root: &IndexName, source: &S) -> Result<(), S::Error> {
    fn walk<S: IncludeSource>(
        name: &IndexName,
        source: &S,
        path: &mut Vec<IndexName>,
        done: &mut BTreeSet<IndexName>,
    ) -> Result<(), S::Error> {
        if let Some(i) = path.iter().position(|p| p == name) {
            let mut cycle = path[i..].to_vec();
            cycle.push(name.clone());
            return Err(IncludeError::Cycle(cycle).into());
        }
        if done.contains(name) {
            return Ok(());
        }
        let includes = source
            .includes(name)?
            .ok_or_else(|| IncludeError::Missing(name.clone()))?;
        path.push(name.clone());
        // Highest priority first, as `resolve` visits them, so the same cycle is named.
        let mut order: Vec<(&IndexName, &u64)> = includes.iter().collect();
        order.sort_by_key(|(n, p)| (std::cmp::Reverse(**p), (*n).clone()));
        for (inc, _) in order {
            walk(inc, source, path, done)?;
        }
        path.pop();
        done.insert(name.clone());
        Ok(())
    }
    walk(root, source, &mut Vec::new(), &mut BTreeSet::new())
}

/// The entry [`resolve`] maps the folded alias to, and the index it comes from, found by
/// reading only the indexes on the way to it: the index's own entry wins, then the includes
/// by priority, recursively. Run [`check_graph`] first: this function assumes the graph has
/// no cycle. An equal-priority disagreement is reported when it concerns this alias
/// ([`resolve`] reports every one).
pub fn resolve_alias<S: IncludeSource>(
    root: &IndexName,
    folded: &str,
    source: &S,
) -> Result<Option<(AliasEntry, IndexName)>, S::Error> {
    if let Some(e) = source.alias(root, folded)? {
        return Ok(Some((e, root.clone())));
    }
    let includes = source
        .includes(root)?
        .ok_or_else(|| IncludeError::Missing(root.clone()))?;
    let mut by_priority: BTreeMap<std::cmp::Reverse<u64>, Vec<IndexName>> = BTreeMap::new();
    for (inc, p) in includes {
        by_priority
            .entry(std::cmp::Reverse(p))
            .or_default()
            .push(inc);
    }
    for (std::cmp::Reverse(priority), group) in by_priority {
        let mut found: Option<(AliasEntry, IndexName)> = None;
        for inc in &group {
            let Some((entry, from)) = resolve_alias(inc, folded, source)? else {
                continue;
            };
            match &found {
                Some((other, other_from)) if *other != entry => {
                    return Err(IncludeError::EqualPriorityConflict {
                        alias: folded.to_owned(),
                        a: other_from.to_string(),
                        b: from.to_string(),
                        priority,
                    }
                    .into());
                }
                Some(_) => {}
                None => found = Some((entry, from)),
            }
        }
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// Removes repeats and sorts by alias, then winner, then hidden index (bytewise), so that the
/// list does not depend on the order the includes were walked in.
fn dedup(v: &mut Vec<Shadowed>) {
    let mut seen = BTreeSet::new();
    v.retain(|s| seen.insert((s.alias.clone(), s.winner.clone(), s.hidden.clone())));
    v.sort_by(|a, b| {
        (a.alias.as_str(), a.winner.to_string(), a.hidden.to_string()).cmp(&(
            b.alias.as_str(),
            b.winner.to_string(),
            b.hidden.to_string(),
        ))
    });
}
