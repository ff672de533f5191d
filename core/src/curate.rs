//! Curating a package index: staged changes, the effective mapping (with includes), admissible
//! releases, the closure check, and signing the draft as one revision.

use std::collections::BTreeMap;

use cairn_protocol::chain::ChainError;
use cairn_protocol::codec;
use cairn_protocol::identity::IdentityId;
use cairn_protocol::index::include::{self, IncludeError, Shadowed};
use cairn_protocol::index::package::{
    AliasEntry, PackageIndex, PackageOp, PackageState, Policy, Status,
};
use cairn_protocol::index::version::{ReleaseEntry, VersionIndex};
use cairn_protocol::index::{ApplyContext, IndexKind, Tip, sign_next};
use cairn_protocol::name::IndexName;
use cairn_protocol::profile;
use cairn_protocol::release::Release;
use cairn_protocol::version::Constraint;
use thiserror::Error;

use crate::home::{Home, HomeError};
use crate::keys::KeyRing;
use crate::store::{Store, StoreError};

/// A package index's head, its state with staged operations applied, and those operations.
pub type Effective = (Option<Tip<PackageIndex>>, PackageState, Vec<PackageOp>);

/// Admissible releases with their records (when held), or why there are none.
pub(crate) type Admissible = Result<Admitted, String>;

/// What an alias entry admits, and from which revision of its version index.
#[derive(Debug, Clone)]
pub(crate) struct Admitted {
    /// The revision's seq.
    pub seq: u64,
    /// The revision's payload CID.
    pub head: cairn_protocol::cid::Cid,
    /// The admitted releases, lowest first, with their records when held.
    pub releases: Vec<(ReleaseEntry, Option<Release>)>,
    /// Releases of that revision the entry leaves out, with the reason.
    pub left_out: Vec<(cairn_protocol::version::Version, String)>,
}

/// Why a curation command failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CurateError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The home failed.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// A staged operation breaks a rule (alias exists, case conflict, self-include…).
    #[error("`{index}`: {error}")]
    Rule {
        /// The package index.
        index: IndexName,
        /// The rule (boxed: chain errors are large).
        error: Box<ChainError>,
    },
    /// The index has no draft and no head here.
    #[error(
        "`{0}` is not a package index in this home\n\nhint: `cairn curate new NAME` starts one"
    )]
    Unknown(IndexName),
    /// `curate new` on an index that exists.
    #[error("`{0}` already exists here")]
    Exists(IndexName),
    /// The closure check failed and dangling aliases were not allowed.
    #[error(
        "the closure check found {0} dangling {noun}; nothing was signed

hint: add the missing aliases (`cairn curate add`), or pass `--allow-dangling`",
        noun = if *.0 == 1 { "dependency" } else { "dependencies" }
    )]
    Dangling(usize),
    /// Includes that cannot be resolved.
    #[error("{0}\n\nhint: settle it with an explicit `cairn curate add` or different priorities")]
    Include(IncludeError),
    /// No signing key of the curator's current state is in its key file.
    #[error("none of the signing keys of `{0}` is in its key file")]
    NoSigningKey(IdentityId),
    /// Nothing is staged.
    #[error("`{0}` has no staged change to publish")]
    NothingStaged(IndexName),
}

/// One dependency no admissible release satisfies inside the index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Dangling {
    /// The alias depended on.
    pub alias: String,
    /// The constraint.
    pub constraint: String,
    /// Why nothing satisfies it.
    pub reason: String,
    /// The releases that need it, as `alias@version`.
    pub needed_by: Vec<String>,
}

/// What an alias admits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AliasReport {
    /// The alias.
    pub alias: String,
    /// The version index it names.
    pub target: String,
    /// The package index the mapping comes from (this one or an include).
    pub source: String,
    /// Admissible versions, lowest first.
    pub admissible: Vec<String>,
    /// Why it admits nothing, if so.
    pub problem: Option<String>,
}

/// The result of the closure check (its JSON form is documented in `docs/json.md`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CheckReport {
    /// Every alias of the effective mapping.
    pub aliases: Vec<AliasReport>,
    /// Dependencies that dangle.
    pub dangling: Vec<Dangling>,
    /// Mappings hidden by a higher-ranked one.
    pub shadowed: Vec<Shadowed>,
}

fn rule(index: &IndexName) -> impl Fn(ChainError) -> CurateError + '_ {
    move |error| CurateError::Rule {
        index: index.clone(),
        error: Box::new(error),
    }
}

/// Starts a package index `<me>:<name>`.
pub fn new_index(
    home: &mut Home,
    me: IdentityId,
    name: cairn_protocol::name::Name,
) -> Result<IndexName, CurateError> {
    let index = IndexName::new(me, name);
    let log = index.to_string();
    home.store.immediate(|store| {
        if store.head(&log)?.is_some() || store.has_draft(&log)? {
            return Err(CurateError::Exists(index.clone()));
        }
        store.start_draft(&log)?;
        Ok(index.clone())
    })
}

/// The head of the index and its state with the staged operations applied.
pub fn effective(home: &Home, index: &IndexName) -> Result<Effective, CurateError> {
    effective_in(&home.store, index)
}

fn effective_in(store: &Store, index: &IndexName) -> Result<Effective, CurateError> {
    let log = index.to_string();
    let tip = store.index_tip::<PackageIndex>(&log)?;
    if tip.is_none() && !store.has_draft(&log)? {
        return Err(CurateError::Unknown(index.clone()));
    }
    let mut state = tip.as_ref().map(|t| t.state.clone()).unwrap_or_default();
    let mut ops = Vec::new();
    for bytes in store.draft(&log)? {
        let value = profile::decode_record(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("a staged operation of `{log}`: {e}")))?;
        let op = PackageIndex::op_from_value(value)
            .map_err(|e| StoreError::Corrupt(format!("a staged operation of `{log}`: {e}")))?;
        let ctx = ApplyContext {
            index,
            owner: index.identity(),
            signer: index.identity(),
        };
        PackageIndex::apply(&mut state, &ctx, &op).map_err(rule(index))?;
        ops.push(op);
    }
    Ok((tip, state, ops))
}

/// Stages an operation after checking it applies on top of what is staged.
pub fn stage(home: &mut Home, index: &IndexName, op: &PackageOp) -> Result<(), CurateError> {
    // Checked against the staged state and appended with no other writer in between.
    home.store.immediate(|store| {
        let (_, mut state, _) = effective_in(store, index)?;
        let ctx = ApplyContext {
            index,
            owner: index.identity(),
            signer: index.identity(),
        };
        PackageIndex::apply(&mut state, &ctx, op).map_err(rule(index))?;
        store.stage(
            &index.to_string(),
            &codec::encode(&PackageIndex::op_to_value(op)),
        )?;
        Ok(())
    })
}

/// The releases an alias entry admits, with their records when held.
pub(crate) fn admissible(store: &Store, entry: &AliasEntry) -> Result<Admissible, CurateError> {
    let log = entry.target.to_string();
    let Some(head) = store.index_tip::<VersionIndex>(&log)? else {
        return Ok(Err(format!(
            "`{log}` is not in this home (import it with `cairn import FILE.car`)"
        )));
    };
    let tip = match entry.policy {
        Policy::Follow => head,
        Policy::MinSeq(n) if head.seq() >= n => head,
        Policy::MinSeq(n) => {
            return Ok(Err(format!(
                "needs revision {n} or later of `{log}`, but seq {} is held",
                head.seq()
            )));
        }
        Policy::Pin(cid) if cid == head.payload_cid => head,
        Policy::Pin(cid) => match store.index_tip_at::<VersionIndex>(&entry.target, cid)? {
            Some(t) => t,
            None => {
                return Ok(Err(format!(
                    "pinned revision `{cid}` of `{log}` is not held"
                )));
            }
        },
    };
    let excluded = |e: &ReleaseEntry| {
        (entry.exclude.contains(&Status::Yanked) && e.yanked)
            || (entry.exclude.contains(&Status::Deprecated) && e.deprecated.is_some())
            || (entry.exclude.contains(&Status::Advisory) && !e.advisories.is_empty())
    };
    let mut out = Vec::new();
    let mut left_out = Vec::new();
    for e in tip.state.releases() {
        if let Some(c) = entry.versions.as_ref().filter(|c| !c.matches(&e.version)) {
            left_out.push((e.version.clone(), format!("the alias admits only `{c}`")));
            continue;
        }
        if excluded(&e) {
            let what = if e.yanked && entry.exclude.contains(&Status::Yanked) {
                "yanked"
            } else if e.deprecated.is_some() && entry.exclude.contains(&Status::Deprecated) {
                "deprecated"
            } else {
                "under an advisory"
            };
            left_out.push((
                e.version.clone(),
                format!("it is {what}, and the alias excludes {what} releases"),
            ));
            continue;
        }
        let record = store
            .block(&e.release)?
            .and_then(|b| Release::decode(&b).ok());
        // The record must be the release the index entry says it is.
        if let Some(r) = &record
            && (r.name.folded() != entry.target.name().folded() || r.version != e.version)
        {
            left_out.push((
                e.version.clone(),
                format!(
                    "its release record `{}` is {} {}, not {} {}: the publisher linked the wrong record",
                    e.release,
                    r.name,
                    r.version,
                    entry.target.name(),
                    e.version
                ),
            ));
            continue;
        }
        out.push((e, record));
    }
    Ok(Ok(Admitted {
        seq: tip.seq(),
        head: tip.payload_cid,
        releases: out,
        left_out,
    }))
}

/// Resolves includes and checks the closure of the effective mapping.
pub fn check(home: &Home, index: &IndexName) -> Result<CheckReport, CurateError> {
    check_in(&home.store, index)
}

fn check_in(store: &Store, index: &IndexName) -> Result<CheckReport, CurateError> {
    let (_, own, _) = effective_in(store, index)?;
    let states = |name: &IndexName| -> Option<PackageState> {
        if name == index {
            return Some(own.clone());
        }
        store
            .index_tip::<PackageIndex>(&name.to_string())
            .ok()
            .flatten()
            .map(|t| t.state)
    };
    let resolved = include::resolve(index, &states).map_err(CurateError::Include)?;
    let mut report = CheckReport {
        shadowed: resolved.shadowed.clone(),
        ..CheckReport::default()
    };
    let mut versions: BTreeMap<String, Vec<(ReleaseEntry, Option<Release>)>> = BTreeMap::new();
    for (folded, (entry, source)) in &resolved.aliases {
        let result = admissible(store, entry)?.map(|a| a.releases);
        report.aliases.push(AliasReport {
            alias: entry.alias.to_string(),
            target: entry.target.to_string(),
            source: source.to_string(),
            admissible: result
                .as_ref()
                .map(|v| v.iter().map(|(e, _)| e.version.to_string()).collect())
                .unwrap_or_default(),
            problem: match &result {
                Err(p) => Some(p.clone()),
                Ok(v) if v.is_empty() => {
                    Some("admits no release (its policy and filters leave none)".into())
                }
                Ok(_) => None,
            },
        });
        versions.insert(folded.clone(), result.unwrap_or_default());
    }
    let mut dangling: BTreeMap<(String, String), Dangling> = BTreeMap::new();
    for (folded, releases) in &versions {
        let alias = &resolved.aliases[folded].0.alias;
        for (entry, record) in releases {
            let Some(record) = record else {
                dangling
                    .entry((alias.to_string(), String::new()))
                    .or_insert_with(|| Dangling { alias: alias.to_string(), constraint: String::new(), reason: "release records are not held, so their dependencies cannot be checked (import the index's bundle)".into(), needed_by: Vec::new() })
                    .needed_by
                    .push(format!("{alias}@{}", entry.version));
                continue;
            };
            for (dep, d) in &record.dependencies {
                let reason = match versions.get(&dep.folded()) {
                    None => Some(format!("`{dep}` is not an alias of this index")),
                    Some(candidates)
                        if !candidates
                            .iter()
                            .any(|(c, _)| d.constraint.matches(&c.version)) =>
                    {
                        Some(satisfy_reason(&d.constraint, candidates))
                    }
                    Some(_) => None,
                };
                if let Some(reason) = reason {
                    dangling
                        .entry((dep.to_string(), d.constraint.to_string()))
                        .or_insert_with(|| Dangling {
                            alias: dep.to_string(),
                            constraint: d.constraint.to_string(),
                            reason,
                            needed_by: Vec::new(),
                        })
                        .needed_by
                        .push(format!("{alias}@{}", entry.version));
                }
            }
        }
    }
    report.dangling = dangling.into_values().collect();
    Ok(report)
}

fn satisfy_reason(c: &Constraint, candidates: &[(ReleaseEntry, Option<Release>)]) -> String {
    if candidates.is_empty() {
        return "it admits no release".into();
    }
    let versions: Vec<String> = candidates
        .iter()
        .map(|(e, _)| e.version.to_string())
        .collect();
    format!(
        "no admitted version matches `{c}` (admitted: {})",
        versions.join(", ")
    )
}

/// Checks the closure, then signs the staged operations as one revision. Returns the new seq
/// and the check report.
pub fn publish(
    home: &mut Home,
    ring: &KeyRing,
    index: &IndexName,
    allow_dangling: bool,
    time: u64,
) -> Result<(u64, CheckReport), CurateError> {
    // The check, the signature and the write see one state of the store.
    home.immediate(|home| {
        let report = check(home, index)?;
        if !report.dangling.is_empty() && !allow_dangling {
            return Err(CurateError::Dangling(report.dangling.len()));
        }
        let (tip, _, ops) = effective(home, index)?;
        if ops.is_empty() {
            return Err(CurateError::NothingStaged(index.clone()));
        }
        let me = *index.identity();
        let (cite, key) = home.signing_key(me, Some(ring))?;
        let key = key.ok_or(CurateError::NoSigningKey(me))?;
        let (signed, _) =
            sign_next(tip.as_ref(), index, cite, key, time, ops).map_err(rule(index))?;
        let imported = home
            .store
            .import_index_clearing_draft::<PackageIndex>(index, &[signed.encode()])?;
        Ok((imported.head, report))
    })
}

/// The published mapping of `index` with its includes resolved (what consumers resolve
/// against; staged changes are not part of it).
pub(crate) fn published_mapping(
    store: &Store,
    index: &IndexName,
) -> Result<include::Resolved, CurateError> {
    let states = |name: &IndexName| {
        store
            .index_tip::<PackageIndex>(&name.to_string())
            .ok()
            .flatten()
            .map(|t| t.state)
    };
    if states(index).is_none() {
        return Err(CurateError::Unknown(index.clone()));
    }
    include::resolve(index, &states).map_err(CurateError::Include)
}

/// The dependencies in `deps` that `index` (with its includes) cannot satisfy: for each, the
/// alias, the constraint and why. Used by `publish --check-against`.
pub fn dependency_gaps(
    home: &Home,
    index: &IndexName,
    deps: &BTreeMap<cairn_protocol::name::Alias, cairn_protocol::release::Dependency>,
) -> Result<Vec<Dangling>, CurateError> {
    let store = &home.store;
    let resolved = published_mapping(store, index)?;
    let mut gaps = Vec::new();
    for (alias, d) in deps {
        let reason = match resolved.aliases.get(&alias.folded()) {
            None => Some(format!("`{alias}` is not an alias of `{index}`")),
            Some((entry, _)) => match admissible(store, entry)?.map(|a| a.releases) {
                Err(problem) => Some(problem),
                Ok(candidates)
                    if !candidates
                        .iter()
                        .any(|(c, _)| d.constraint.matches(&c.version)) =>
                {
                    Some(satisfy_reason(&d.constraint, &candidates))
                }
                Ok(_) => None,
            },
        };
        if let Some(reason) = reason {
            gaps.push(Dangling {
                alias: alias.to_string(),
                constraint: d.constraint.to_string(),
                reason,
                needed_by: Vec::new(),
            });
        }
    }
    Ok(gaps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Person, T, create_in, publish_package, ring};
    use cairn_protocol::index::package::{AliasEntry, Policy};
    use cairn_protocol::index::version::VersionOp;

    /// A version index entry whose release record names another package or version is left
    /// out, with the reason, and never offered to resolution.
    #[test]
    fn a_release_record_that_names_another_release_is_left_out() {
        let tmp = tempfile::tempdir().expect("tmp");
        let alice = Person::new(1);
        let mut home = Home::open(tmp.path()).expect("home");
        create_in(&alice, &mut home);
        publish_package(&mut home, &alice, tmp.path(), "libfoo", "1.0.0");
        let index = alice.index("libfoo");
        let tip = home
            .store
            .index_tip::<VersionIndex>(&index.to_string())
            .expect("tip")
            .expect("published");
        let good = tip.state.releases()[0].release;
        let mut other = Release::decode(&home.store.block(&good).expect("read").expect("held"))
            .expect("record");
        other.name = "libbar".parse().expect("name");
        let (cid, bytes) = other.block().expect("block");
        home.store.put_block(&cid, &bytes).expect("put");
        crate::publish::append(
            &mut home,
            alice.id(),
            &ring(&alice),
            &index,
            vec![VersionOp::Release {
                version: "1.1.0".parse().expect("version"),
                release: cid,
            }],
            T + 1,
        )
        .expect("the chain itself accepts any link");
        let entry = AliasEntry {
            alias: "libfoo".parse().expect("alias"),
            target: index,
            policy: Policy::Follow,
            versions: None,
            exclude: std::collections::BTreeSet::new(),
        };
        let admitted = admissible(&home.store, &entry)
            .expect("read")
            .expect("admitted");
        let versions: Vec<String> = admitted
            .releases
            .iter()
            .map(|(e, _)| e.version.to_string())
            .collect();
        assert_eq!(versions, ["1.0.0"]);
        let [(v, why)] = admitted.left_out.as_slice() else {
            panic!("{:?}", admitted.left_out)
        };
        assert_eq!(v.to_string(), "1.1.0");
        assert!(why.contains("libbar 1.0.0, not libfoo 1.1.0"), "{why}");
    }
}
