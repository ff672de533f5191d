//! The package index `<curator>:<name>`: alias → version index, with a policy and filters, and
//! includes of other package indexes.
//!
//! Normative text: `spec/06-logs.md`, "Package index".

use std::collections::{BTreeMap, BTreeSet};

use super::version::read_citations;
use super::{ApplyContext, Blocks, IndexKind, citations_value};
use crate::chain::ChainError;
use crate::cid::Cid;
use crate::codec::{self, Map, Value};
use crate::hamt::Hamt;
use crate::identity::IdentityId;
use crate::name::{Alias, IndexName};
use crate::profile::{Fields, RecordError};
use crate::sign::Domain;
use crate::version::Constraint;

/// The most includes of one package index.
pub const MAX_INCLUDES: usize = 64;

/// Which revisions of the target version index the alias admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// The latest verified head.
    Follow,
    /// Exactly this revision (payload CID).
    Pin(Cid),
    /// The latest head, which must have at least this seq.
    MinSeq(u64),
}

/// A release status a curator can filter out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Has at least one advisory.
    Advisory,
    /// Deprecated.
    Deprecated,
    /// Yanked.
    Yanked,
}

impl Status {
    /// The name on the wire.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Status::Advisory => "advisory",
            Status::Deprecated => "deprecated",
            Status::Yanked => "yanked",
        }
    }

    /// Parses a status name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Status> {
        [Status::Advisory, Status::Deprecated, Status::Yanked]
            .into_iter()
            .find(|x| x.name() == s)
    }
}

/// What an alias means in a package index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AliasEntry {
    /// The alias, as written.
    pub alias: Alias,
    /// The version index it names.
    pub target: IndexName,
    /// Which revisions are admitted.
    pub policy: Policy,
    /// Only versions in this set are admitted.
    pub versions: Option<Constraint>,
    /// Releases with these statuses are not admitted.
    pub exclude: BTreeSet<Status>,
}

impl AliasEntry {
    /// The state-map value.
    #[must_use]
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("alias", Value::text(self.alias.as_str()));
        m.insert("target", Value::text(self.target.to_string()));
        m.insert(
            "policy",
            match self.policy {
                Policy::Follow => Value::text("follow"),
                Policy::Pin(cid) => single("pin", Value::Link(cid.into())),
                Policy::MinSeq(n) => single("min_seq", Value::Integer(i128::from(n))),
            },
        );
        if let Some(c) = &self.versions {
            m.insert("versions", Value::text(c.to_string()));
        }
        if !self.exclude.is_empty() {
            m.insert(
                "exclude",
                Value::List(self.exclude.iter().map(|s| Value::text(s.name())).collect()),
            );
        }
        Value::Map(m)
    }

    /// Parses a state-map value or an operation's entry.
    pub fn from_value(value: Value) -> Result<AliasEntry, RecordError> {
        let mut f = Fields::new("alias entry", value)?;
        let alias_text = f.text("alias")?;
        let alias = alias_text
            .parse()
            .map_err(|e: crate::name::NameError| f.invalid("alias", e.to_string()))?;
        let target_text = f.text("target")?;
        let target = target_text
            .parse()
            .map_err(|e: crate::name::NameError| f.invalid("target", e.to_string()))?;
        let policy = match f.required("policy")? {
            Value::String(s) if s == "follow" => Policy::Follow,
            Value::Map(m) if m.len() == 1 => match m.into_entries().pop() {
                Some((k, Value::Link(l))) if k == "pin" => {
                    Policy::Pin(Cid::try_from(&l).map_err(|e| f.invalid("policy", e.to_string()))?)
                }
                Some((k, Value::Integer(n))) if k == "min_seq" => Policy::MinSeq(
                    u64::try_from(n).map_err(|_| f.invalid("policy", "min_seq is non-negative"))?,
                ),
                _ => return Err(f.invalid("policy", "`follow`, {pin: link} or {min_seq: integer}")),
            },
            _ => return Err(f.invalid("policy", "`follow`, {pin: link} or {min_seq: integer}")),
        };
        let versions = match f.optional("versions") {
            None => None,
            Some(Value::String(s)) => {
                let c: Constraint = s.parse().map_err(|e: crate::version::ConstraintError| {
                    f.invalid("versions", e.to_string())
                })?;
                if c.to_string() != s {
                    return Err(
                        f.invalid("versions", format!("must be written canonically: `{c}`"))
                    );
                }
                Some(c)
            }
            Some(other) => return Err(f.wrong_type("versions", "string", &other)),
        };
        let exclude = match f.optional("exclude") {
            None => BTreeSet::new(),
            Some(Value::List(items)) if !items.is_empty() => {
                let mut out = BTreeSet::new();
                for i in items {
                    let Value::String(s) = i else {
                        return Err(f.invalid("exclude", "statuses are text"));
                    };
                    let st = Status::parse(&s)
                        .ok_or_else(|| f.invalid("exclude", format!("unknown status `{s}`")))?;
                    if out.last().is_some_and(|l| *l >= st) {
                        return Err(f.invalid("exclude", "sorted, no status twice"));
                    }
                    out.insert(st);
                }
                out
            }
            Some(_) => return Err(f.invalid("exclude", "a non-empty list when present")),
        };
        f.finish()?;
        Ok(AliasEntry {
            alias,
            target,
            policy,
            versions,
            exclude,
        })
    }
}

fn single(key: &str, v: Value) -> Value {
    let mut m = Map::new();
    m.insert(key, v);
    Value::Map(m)
}

/// One operation on a package index.
#[derive(Debug, Clone, PartialEq)]
pub enum PackageOp {
    /// Adds an alias that is not yet present (in any case).
    AddAlias(AliasEntry),
    /// Replaces an existing alias's entry.
    UpdateAlias(AliasEntry),
    /// Removes an alias.
    RemoveAlias(Alias),
    /// Includes another package index (or changes its priority).
    Include {
        /// The package index.
        index: IndexName,
        /// Higher wins among includes; the curator's own entries win over every include.
        priority: u64,
    },
    /// Removes an include.
    RemoveInclude(IndexName),
}

impl PackageOp {
    /// The name on the wire.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            PackageOp::AddAlias(_) => "add-alias",
            PackageOp::UpdateAlias(_) => "update-alias",
            PackageOp::RemoveAlias(_) => "remove-alias",
            PackageOp::Include { .. } => "include",
            PackageOp::RemoveInclude(_) => "remove-include",
        }
    }
}

/// The state of a package index.
#[derive(Debug, Clone, Default)]
pub struct PackageState {
    /// Folded alias → alias entry.
    pub aliases: Hamt,
    /// Included package index → priority.
    pub includes: BTreeMap<IndexName, u64>,
    /// Highest identity seq cited by each signer.
    pub citations: BTreeMap<IdentityId, u64>,
}

/// The top block of a package-index state: where its alias map is and what it includes.
/// Enough to look single aliases up ([`Hamt::lookup`]) without loading the whole map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageTop {
    /// The root of the alias map (folded alias → alias entry).
    pub aliases: Cid,
    /// Included package index → priority.
    pub includes: BTreeMap<IndexName, u64>,
}

impl PackageTop {
    /// Reads a state's top block (for a state verified when it was stored).
    pub fn load(root: Cid, blocks: Blocks<'_>) -> Result<PackageTop, ChainError> {
        let bytes = blocks(&root)?.ok_or_else(|| {
            ChainError::op(
                "map-missing-block",
                format!("state block `{root}` is not available"),
            )
        })?;
        let mut f = Fields::new(
            "package index state",
            crate::profile::decode_record(&bytes)?,
        )?;
        let aliases = f.link("aliases")?;
        let includes = read_includes(&mut f)?;
        read_citations(&mut f)?;
        f.finish()?;
        Ok(PackageTop { aliases, includes })
    }

    /// The entry for a folded alias, reading only the blocks on its path.
    pub fn alias(
        &self,
        folded: &str,
        blocks: Blocks<'_>,
    ) -> Result<Option<AliasEntry>, ChainError> {
        match Hamt::<Value>::lookup(self.aliases, folded, blocks)? {
            None => Ok(None),
            Some(v) => Ok(Some(AliasEntry::from_value(v)?)),
        }
    }
}

fn read_includes(f: &mut Fields) -> Result<BTreeMap<IndexName, u64>, ChainError> {
    let mut includes = BTreeMap::new();
    for i in f.list("includes")? {
        let Value::List(pair) = i else {
            return Err(f
                .invalid("includes", "entries are [index, priority]")
                .into());
        };
        let [Value::String(n), Value::Integer(p)] =
            <[Value; 2]>::try_from(pair).map_err(|_| f.invalid("includes", "entries are pairs"))?
        else {
            return Err(f
                .invalid("includes", "entries are [index, priority]")
                .into());
        };
        let name: IndexName = n
            .parse()
            .map_err(|e: crate::name::NameError| f.invalid("includes", e.to_string()))?;
        includes.insert(
            name,
            u64::try_from(p).map_err(|_| f.invalid("includes", "priorities are non-negative"))?,
        );
    }
    Ok(includes)
}

impl PackageState {
    /// The entry for an alias (case-insensitive).
    #[must_use]
    pub fn alias(&self, alias: &Alias) -> Option<AliasEntry> {
        self.aliases
            .get(&alias.folded())
            .and_then(|v| AliasEntry::from_value(v.clone()).ok())
    }

    /// Every alias entry, by folded alias.
    #[must_use]
    pub fn aliases(&self) -> Vec<AliasEntry> {
        self.aliases
            .entries()
            .into_iter()
            .filter_map(|(_, v)| AliasEntry::from_value(v.clone()).ok())
            .collect()
    }

    fn top_root(&mut self, mut fresh: Option<&mut Vec<(Cid, Vec<u8>)>>) -> Cid {
        let mut m = Map::new();
        m.insert(
            "aliases",
            Value::Link(self.aliases.flush(fresh.as_deref_mut()).into()),
        );
        m.insert(
            "includes",
            Value::List(
                self.includes
                    .iter()
                    .map(|(n, p)| {
                        Value::List(vec![
                            Value::text(n.to_string()),
                            Value::Integer(i128::from(*p)),
                        ])
                    })
                    .collect(),
            ),
        );
        m.insert("citations", citations_value(&self.citations));
        let bytes = codec::encode(&Value::Map(m));
        let cid = Cid::of_record(&bytes);
        if let Some(f) = fresh {
            f.push((cid, bytes));
        }
        cid
    }

    /// Loads a state from its root block and map blocks, checking every block.
    pub fn load(root: Cid, blocks: Blocks<'_>) -> Result<PackageState, ChainError> {
        let bytes = blocks(&root)?.ok_or_else(|| {
            ChainError::op(
                "map-missing-block",
                format!("state block `{root}` is not available"),
            )
        })?;
        let value = crate::profile::decode_record(&bytes)?;
        let mut f = Fields::new("package index state", value)?;
        let aliases = Hamt::<Value>::load(f.link("aliases")?, blocks).map_err(ChainError::from)?;
        let includes = read_includes(&mut f)?;
        let citations = read_citations(&mut f)?;
        f.finish()?;
        for (key, value) in aliases.entries() {
            let entry = AliasEntry::from_value(value.clone())?;
            if entry.alias.folded() != key {
                return Err(ChainError::op(
                    "map-not-canonical",
                    format!("alias `{}` is stored under the key `{key}`", entry.alias),
                ));
            }
        }
        let mut state = PackageState {
            aliases,
            includes,
            citations,
        };
        if state.top_root(None) != root {
            return Err(ChainError::op(
                "map-not-canonical",
                format!("state block `{root}` is not in canonical form"),
            ));
        }
        Ok(state)
    }
}

/// Marker for the package-index kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackageIndex;

impl IndexKind for PackageIndex {
    const DOMAIN: Domain = Domain::PackageIndex;
    const RECORD: &'static str = "package index revision";
    type Op = PackageOp;
    type State = PackageState;

    fn op_to_value(op: &PackageOp) -> Value {
        let mut m = Map::new();
        m.insert("op", Value::text(op.name()));
        match op {
            PackageOp::AddAlias(e) | PackageOp::UpdateAlias(e) => {
                m.insert("entry", e.to_value());
            }
            PackageOp::RemoveAlias(a) => {
                m.insert("alias", Value::text(a.as_str()));
            }
            PackageOp::Include { index, priority } => {
                m.insert("index", Value::text(index.to_string()));
                m.insert("priority", Value::Integer(i128::from(*priority)));
            }
            PackageOp::RemoveInclude(index) => {
                m.insert("index", Value::text(index.to_string()));
            }
        }
        Value::Map(m)
    }

    fn op_from_value(v: Value) -> Result<PackageOp, RecordError> {
        let mut f = Fields::new("package index op", v)?;
        let name = f.text("op")?;
        let index = |f: &mut Fields| -> Result<IndexName, RecordError> {
            let t = f.text("index")?;
            t.parse()
                .map_err(|e: crate::name::NameError| f.invalid("index", e.to_string()))
        };
        let op = match name.as_str() {
            "add-alias" => PackageOp::AddAlias(AliasEntry::from_value(f.required("entry")?)?),
            "update-alias" => PackageOp::UpdateAlias(AliasEntry::from_value(f.required("entry")?)?),
            "remove-alias" => {
                let t = f.text("alias")?;
                PackageOp::RemoveAlias(
                    t.parse()
                        .map_err(|e: crate::name::NameError| f.invalid("alias", e.to_string()))?,
                )
            }
            "include" => PackageOp::Include {
                index: index(&mut f)?,
                priority: f.uint("priority")?,
            },
            "remove-include" => PackageOp::RemoveInclude(index(&mut f)?),
            other => {
                return Err(f.invalid("op", format!("unknown package index operation `{other}`")));
            }
        };
        f.finish()?;
        Ok(op)
    }

    fn apply(
        state: &mut PackageState,
        ctx: &ApplyContext<'_>,
        op: &PackageOp,
    ) -> Result<(), ChainError> {
        if ctx.signer != ctx.owner {
            return Err(ChainError::PermissionDenied {
                identity: *ctx.signer,
                op: op.name(),
                needs: "owner",
            });
        }
        let put = |state: &mut PackageState, e: &AliasEntry| {
            state
                .aliases
                .insert(&e.alias.folded(), e.to_value())
                .map(|_| ())
                .map_err(|x| ChainError::op(x.code(), x.to_string()))
        };
        match op {
            PackageOp::AddAlias(e) => match state.alias(&e.alias) {
                Some(existing) if existing.alias == e.alias => Err(ChainError::op(
                    "chain-alias-exists",
                    format!("alias `{}` already exists; use update", e.alias),
                )),
                Some(existing) => Err(ChainError::op(
                    "chain-alias-case-conflict",
                    format!(
                        "alias `{}` differs from `{}` only in case",
                        e.alias, existing.alias
                    ),
                )),
                None => put(state, e),
            },
            PackageOp::UpdateAlias(e) => match state.alias(&e.alias) {
                Some(existing) if existing.alias == e.alias => put(state, e),
                _ => Err(ChainError::op(
                    "chain-alias-missing",
                    format!("alias `{}` does not exist; use add", e.alias),
                )),
            },
            PackageOp::RemoveAlias(a) => match state.alias(a) {
                Some(existing) if existing.alias == *a => {
                    state.aliases.remove(&a.folded());
                    Ok(())
                }
                _ => Err(ChainError::op(
                    "chain-alias-missing",
                    format!("alias `{a}` does not exist"),
                )),
            },
            PackageOp::Include { index, priority } => {
                if index == ctx.index {
                    return Err(ChainError::op(
                        "chain-include-self",
                        format!("`{index}` cannot include itself"),
                    ));
                }
                state.includes.insert(index.clone(), *priority);
                if state.includes.len() > MAX_INCLUDES {
                    return Err(ChainError::op(
                        "chain-too-many-includes",
                        format!("at most {MAX_INCLUDES} includes"),
                    ));
                }
                Ok(())
            }
            PackageOp::RemoveInclude(index) => {
                if state.includes.remove(index).is_none() {
                    return Err(ChainError::op(
                        "chain-include-missing",
                        format!("`{index}` is not included"),
                    ));
                }
                Ok(())
            }
        }
    }

    fn load_state(root: Cid, blocks: Blocks<'_>) -> Result<PackageState, ChainError> {
        PackageState::load(root, blocks)
    }

    fn citations(state: &mut PackageState) -> &mut BTreeMap<IdentityId, u64> {
        &mut state.citations
    }

    fn state_root(state: &mut PackageState, fresh: Option<&mut super::EncodedBlocks>) -> Cid {
        state.top_root(fresh)
    }
}
