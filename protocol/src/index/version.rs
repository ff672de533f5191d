//! The version index `<publisher>:<package>`: version → release record, with status entries
//! added by later revisions and per-identity grants.
//!
//! Normative text: `spec/06-logs.md`, "Version index".

use std::collections::{BTreeMap, BTreeSet};

use super::{ApplyContext, Blocks, IndexKind, citations_value, parse_identity};
use crate::chain::ChainError;
use crate::cid::Cid;
use crate::codec::{self, Map, Value};
use crate::hamt::{Hamt, MapValue};
use crate::identity::IdentityId;
use crate::profile::{Fields, RecordError};
use crate::sign::Domain;
use crate::version::Version;

/// The most identities holding grants at once.
pub const MAX_GRANTS: usize = 64;
/// The most advisories on one release.
pub const MAX_ADVISORIES: usize = 16;
/// The longest yank reason, deprecation message or advisory summary.
pub const MAX_MESSAGE: usize = 256;
/// The longest advisory ID.
pub const MAX_ADVISORY_ID: usize = 64;

/// What a grantee may do. The variant order is the name order, which is the wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Yank, un-yank, deprecate, add advisories.
    Annotate,
    /// Grant and revoke permissions.
    Grant,
    /// Publish releases.
    Release,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 3] = [Permission::Annotate, Permission::Grant, Permission::Release];

    /// The name on the wire.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Permission::Release => "release",
            Permission::Annotate => "annotate",
            Permission::Grant => "grant",
        }
    }

    fn parse(s: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// How serious an advisory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// The name on the wire.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    fn parse(s: &str) -> Option<Severity> {
        [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .into_iter()
        .find(|x| x.name() == s)
    }
}

/// A security advisory on a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advisory {
    /// An identifier such as `GHSA-xxxx` or `CVE-2026-1234`.
    pub id: String,
    /// Severity.
    pub severity: Severity,
    /// One line.
    pub summary: String,
}

/// One operation on a version index.
#[derive(Debug, Clone, PartialEq)]
pub enum VersionOp {
    /// Publishes `version` as the release record `release`.
    Release {
        /// The version, as written.
        version: Version,
        /// The release record's CID.
        release: Cid,
    },
    /// Marks a release yanked (new resolutions avoid it; locked builds keep it).
    Yank {
        /// The version.
        version: Version,
        /// Why.
        reason: Option<String>,
    },
    /// Clears a yank.
    Unyank {
        /// The version.
        version: Version,
    },
    /// Marks a release deprecated (replacing an earlier message).
    Deprecate {
        /// The version.
        version: Version,
        /// Why, and what to use instead.
        message: String,
    },
    /// Adds a security advisory.
    Advisory {
        /// The version.
        version: Version,
        /// The advisory.
        advisory: Advisory,
    },
    /// Gives an identity permissions (replacing what it had).
    Grant {
        /// The grantee.
        identity: IdentityId,
        /// What it may do.
        permissions: BTreeSet<Permission>,
    },
    /// Takes all permissions from an identity. The owner may revoke itself (ownership transfer).
    Revoke {
        /// The identity.
        identity: IdentityId,
    },
}

impl VersionOp {
    /// The name on the wire.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            VersionOp::Release { .. } => "release",
            VersionOp::Yank { .. } => "yank",
            VersionOp::Unyank { .. } => "unyank",
            VersionOp::Deprecate { .. } => "deprecate",
            VersionOp::Advisory { .. } => "advisory",
            VersionOp::Grant { .. } => "grant",
            VersionOp::Revoke { .. } => "revoke",
        }
    }

    fn needs(&self) -> Permission {
        match self {
            VersionOp::Release { .. } => Permission::Release,
            VersionOp::Yank { .. }
            | VersionOp::Unyank { .. }
            | VersionOp::Deprecate { .. }
            | VersionOp::Advisory { .. } => Permission::Annotate,
            VersionOp::Grant { .. } | VersionOp::Revoke { .. } => Permission::Grant,
        }
    }
}

/// One published release and its current status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseEntry {
    /// The version as first published.
    pub version: Version,
    /// The release record.
    pub release: Cid,
    /// Yanked?
    pub yanked: bool,
    /// Why it was yanked.
    pub yank_reason: Option<String>,
    /// Deprecation message.
    pub deprecated: Option<String>,
    /// Advisories, in the order they were added.
    pub advisories: Vec<Advisory>,
}

impl ReleaseEntry {
    /// The state-map value.
    #[must_use]
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("version", Value::text(self.version.to_string()));
        m.insert("release", Value::Link(self.release.into()));
        if self.yanked {
            m.insert("yanked", Value::Bool(true));
        }
        if let Some(r) = &self.yank_reason {
            m.insert("yank_reason", Value::text(r.clone()));
        }
        if let Some(d) = &self.deprecated {
            m.insert("deprecated", Value::text(d.clone()));
        }
        if !self.advisories.is_empty() {
            m.insert(
                "advisories",
                Value::List(self.advisories.iter().map(advisory_value).collect()),
            );
        }
        Value::Map(m)
    }

    /// Parses a state-map value.
    pub fn from_value(v: Value) -> Result<ReleaseEntry, RecordError> {
        let mut f = Fields::new("release entry", v)?;
        let version = read_version(&mut f, "version")?;
        let release = f.link("release")?;
        let yanked = match f.optional("yanked") {
            None => false,
            Some(Value::Bool(true)) => true,
            Some(_) => return Err(f.invalid("yanked", "is `true` when present")),
        };
        let yank_reason = opt_message(&mut f, "yank_reason")?;
        if yank_reason.is_some() && !yanked {
            return Err(f.invalid("yank_reason", "only a yanked release has a yank reason"));
        }
        let deprecated = opt_message(&mut f, "deprecated")?;
        let advisories = match f.optional("advisories") {
            None => Vec::new(),
            Some(Value::List(items)) if !items.is_empty() && items.len() <= MAX_ADVISORIES => items
                .into_iter()
                .map(advisory_from)
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(f.invalid(
                    "advisories",
                    format!("1 to {MAX_ADVISORIES} advisories when present"),
                ));
            }
        };
        f.finish()?;
        Ok(ReleaseEntry {
            version,
            release,
            yanked,
            yank_reason,
            deprecated,
            advisories,
        })
    }
}

impl MapValue for ReleaseEntry {
    /// The encoding of [`ReleaseEntry::to_value`], written field by field in canonical key
    /// order (shorter keys first, then bytewise).
    fn encode_into(&self, out: &mut Vec<u8>) {
        let fields = 2
            + usize::from(self.yanked)
            + usize::from(self.yank_reason.is_some())
            + usize::from(self.deprecated.is_some())
            + usize::from(!self.advisories.is_empty());
        codec::write_head(out, 5, fields as u64);
        if self.yanked {
            codec::write_text(out, "yanked");
            out.push(0xf5);
        }
        codec::write_text(out, "release");
        self.release.write_link(out);
        codec::write_text(out, "version");
        codec::write_head(out, 3, self.version.text_len() as u64);
        self.version.write_text(out);
        if !self.advisories.is_empty() {
            codec::write_text(out, "advisories");
            codec::write_head(out, 4, self.advisories.len() as u64);
            for a in &self.advisories {
                codec::encode_into(out, &advisory_value(a));
            }
        }
        if let Some(d) = &self.deprecated {
            codec::write_text(out, "deprecated");
            codec::write_text(out, d);
        }
        if let Some(r) = &self.yank_reason {
            codec::write_text(out, "yank_reason");
            codec::write_text(out, r);
        }
    }

    fn from_value(value: Value) -> Result<ReleaseEntry, RecordError> {
        ReleaseEntry::from_value(value)
    }
}

fn advisory_value(a: &Advisory) -> Value {
    let mut m = Map::new();
    m.insert("id", Value::text(a.id.clone()));
    m.insert("severity", Value::text(a.severity.name()));
    m.insert("summary", Value::text(a.summary.clone()));
    Value::Map(m)
}

fn advisory_from(v: Value) -> Result<Advisory, RecordError> {
    let mut f = Fields::new("advisory", v)?;
    let id = f.text("id")?;
    if id.is_empty() || id.len() > MAX_ADVISORY_ID || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(f.invalid(
            "id",
            format!("1 to {MAX_ADVISORY_ID} printable ASCII characters, no spaces"),
        ));
    }
    let sev = f.text("severity")?;
    let severity = Severity::parse(&sev)
        .ok_or_else(|| f.invalid("severity", "one of low, medium, high, critical"))?;
    let summary = f.text("summary")?;
    check_message(&f, "summary", &summary)?;
    f.finish()?;
    Ok(Advisory {
        id,
        severity,
        summary,
    })
}

fn check_message(f: &Fields, field: &'static str, s: &str) -> Result<(), RecordError> {
    if s.is_empty() || s.len() > MAX_MESSAGE || s.chars().any(char::is_control) {
        return Err(f.invalid(field, format!("1 to {MAX_MESSAGE} bytes of printable text")));
    }
    Ok(())
}

fn opt_message(f: &mut Fields, field: &'static str) -> Result<Option<String>, RecordError> {
    match f.optional(field) {
        None => Ok(None),
        Some(Value::String(s)) => {
            check_message(f, field, &s)?;
            Ok(Some(s))
        }
        Some(other) => Err(f.wrong_type(field, "string", &other)),
    }
}

fn read_version(f: &mut Fields, field: &'static str) -> Result<Version, RecordError> {
    let text = f.text(field)?;
    text.parse()
        .map_err(|e: crate::version::VersionError| f.invalid(field, e.to_string()))
}

/// The state of a version index.
#[derive(Debug, Clone, Default)]
pub struct VersionState {
    /// Version key ([`Version::key`]) → release entry.
    pub releases: Hamt<ReleaseEntry>,
    /// Grantee → permissions (never the owner unless it retired).
    pub grants: BTreeMap<IdentityId, BTreeSet<Permission>>,
    /// Whether the owner revoked itself (ownership transfer).
    pub owner_retired: bool,
    /// Highest identity seq cited by each signer.
    pub citations: BTreeMap<IdentityId, u64>,
    /// The encoded `grants` and `citations` values, while they match the maps above.
    top_cache: Option<TopCache>,
}

/// Encoded parts of the top state block, reused while grants and citations are unchanged
/// (most revisions change only the releases).
#[derive(Debug, Clone)]
struct TopCache {
    grants: BTreeMap<IdentityId, BTreeSet<Permission>>,
    citations: BTreeMap<IdentityId, u64>,
    grants_bytes: Vec<u8>,
    citations_bytes: Vec<u8>,
}

impl VersionState {
    /// The entry for a version (equal up to trailing zeros).
    #[must_use]
    pub fn release(&self, version: &Version) -> Option<&ReleaseEntry> {
        self.releases.get(&version.key())
    }

    /// Every release, in version order.
    #[must_use]
    pub fn releases(&self) -> Vec<ReleaseEntry> {
        let mut out: Vec<ReleaseEntry> = self
            .releases
            .entries()
            .into_iter()
            .map(|(_, e)| e.clone())
            .collect();
        out.sort_by(|a, b| a.version.cmp(&b.version));
        out
    }

    /// Whether `identity` holds `p` (the owner holds everything until it retires).
    #[must_use]
    pub fn may(&self, owner: &IdentityId, identity: &IdentityId, p: Permission) -> bool {
        (identity == owner && !self.owner_retired)
            || self.grants.get(identity).is_some_and(|g| g.contains(&p))
    }

    /// Loads a state from its root block and map blocks, checking every block.
    pub fn load(root: Cid, blocks: Blocks<'_>) -> Result<VersionState, ChainError> {
        let bytes = blocks(&root)?.ok_or_else(|| {
            ChainError::op(
                "map-missing-block",
                format!("state block `{root}` is not available"),
            )
        })?;
        let value = crate::profile::decode_record(&bytes)?;
        let mut f = Fields::new("version index state", value)?;
        let releases_root = f.link("releases")?;
        let releases =
            Hamt::<ReleaseEntry>::load(releases_root, blocks).map_err(ChainError::from)?;
        let mut grants = BTreeMap::new();
        for g in f.list("grants")? {
            let Value::List(pair) = g else {
                return Err(f
                    .invalid("grants", "entries are [identity, [permission…]]")
                    .into());
            };
            let [Value::String(id), Value::List(ps)] = <[Value; 2]>::try_from(pair)
                .map_err(|_| f.invalid("grants", "entries are pairs"))?
            else {
                return Err(f
                    .invalid("grants", "entries are [identity, [permission…]]")
                    .into());
            };
            let id: IdentityId = id.parse().map_err(|e: crate::identity::IdentityIdError| {
                f.invalid("grants", e.to_string())
            })?;
            let perms = ps
                .into_iter()
                .map(|p| match p {
                    Value::String(s) => Permission::parse(&s)
                        .ok_or_else(|| f.invalid("grants", format!("unknown permission `{s}`"))),
                    _ => Err(f.invalid("grants", "permissions are text")),
                })
                .collect::<Result<BTreeSet<_>, _>>()?;
            grants.insert(id, perms);
        }
        let owner_retired = matches!(f.optional("owner_retired"), Some(Value::Bool(true)));
        let citations = read_citations(&mut f)?;
        f.finish()?;
        for (key, entry) in releases.entries() {
            if entry.version.key() != key {
                return Err(ChainError::op(
                    "map-not-canonical",
                    format!(
                        "release `{}` is stored under the key `{key}`",
                        entry.version
                    ),
                ));
            }
        }
        let mut state = VersionState {
            releases,
            grants,
            owner_retired,
            citations,
            top_cache: None,
        };
        // A loaded state must re-encode to its root: anything else was not canonical.
        if state.top_root(None) != root {
            return Err(ChainError::op(
                "map-not-canonical",
                format!("state block `{root}` is not in canonical form"),
            ));
        }
        Ok(state)
    }

    fn grants_value(&self) -> Value {
        Value::List(
            self.grants
                .iter()
                .map(|(id, ps)| {
                    Value::List(vec![
                        Value::text(id.to_string()),
                        Value::List(ps.iter().map(|p| Value::text(p.name())).collect()),
                    ])
                })
                .collect(),
        )
    }

    /// The top state block `{grants, releases, citations, owner_retired?}`, in canonical key
    /// order (shorter keys first), assembled from cached parts.
    fn top_root(&mut self, mut fresh: Option<&mut Vec<(Cid, Vec<u8>)>>) -> Cid {
        let releases = self.releases.flush(fresh.as_deref_mut());
        let stale = self
            .top_cache
            .as_ref()
            .is_none_or(|c| c.grants != self.grants || c.citations != self.citations);
        if stale {
            self.top_cache = Some(TopCache {
                grants: self.grants.clone(),
                citations: self.citations.clone(),
                grants_bytes: codec::encode(&self.grants_value()),
                citations_bytes: codec::encode(&citations_value(&self.citations)),
            });
        }
        let Some(cache) = &self.top_cache else {
            unreachable!("filled above")
        };
        let mut bytes =
            Vec::with_capacity(96 + cache.grants_bytes.len() + cache.citations_bytes.len());
        bytes.push(if self.owner_retired { 0xa4 } else { 0xa3 });
        bytes.extend_from_slice(b"\x66grants");
        bytes.extend_from_slice(&cache.grants_bytes);
        bytes.extend_from_slice(b"\x68releases");
        releases.write_link(&mut bytes);
        bytes.extend_from_slice(b"\x69citations");
        bytes.extend_from_slice(&cache.citations_bytes);
        if self.owner_retired {
            bytes.extend_from_slice(b"\x6downer_retired\xf5");
        }
        let cid = Cid::of_record(&bytes);
        if let Some(f) = fresh {
            f.push((cid, bytes));
        }
        cid
    }

    /// The top state block as a value (the reference form `top_root` assembles by hand).
    #[cfg(test)]
    fn top_value(&mut self) -> Value {
        let mut m = Map::new();
        m.insert("releases", Value::Link(self.releases.root_cid().into()));
        m.insert("grants", self.grants_value());
        if self.owner_retired {
            m.insert("owner_retired", Value::Bool(true));
        }
        m.insert("citations", citations_value(&self.citations));
        Value::Map(m)
    }
}

/// Reads `[[identity, seq], …]`.
pub(crate) fn read_citations(f: &mut Fields) -> Result<BTreeMap<IdentityId, u64>, RecordError> {
    let mut out = BTreeMap::new();
    for c in f.list("citations")? {
        let Value::List(pair) = c else {
            return Err(f.invalid("citations", "entries are [identity, seq]"));
        };
        let [Value::String(id), Value::Integer(seq)] = <[Value; 2]>::try_from(pair)
            .map_err(|_| f.invalid("citations", "entries are pairs"))?
        else {
            return Err(f.invalid("citations", "entries are [identity, seq]"));
        };
        let id: IdentityId = id
            .parse()
            .map_err(|e: crate::identity::IdentityIdError| f.invalid("citations", e.to_string()))?;
        out.insert(
            id,
            u64::try_from(seq).map_err(|_| f.invalid("citations", "seqs are non-negative"))?,
        );
    }
    Ok(out)
}

fn grant(
    state: &mut VersionState,
    ctx: &ApplyContext<'_>,
    identity: &IdentityId,
    permissions: &BTreeSet<Permission>,
) -> Result<(), ChainError> {
    if identity == ctx.owner && !state.owner_retired {
        return Err(ChainError::op(
            "chain-grant-owner",
            "the owner already holds every permission",
        ));
    }
    state.grants.insert(*identity, permissions.clone());
    if state.grants.len() > MAX_GRANTS {
        return Err(ChainError::op(
            "chain-too-many-grants",
            format!("at most {MAX_GRANTS} identities may hold grants"),
        ));
    }
    Ok(())
}

fn revoke(
    state: &mut VersionState,
    ctx: &ApplyContext<'_>,
    identity: &IdentityId,
) -> Result<(), ChainError> {
    if identity == ctx.owner && !state.owner_retired {
        if ctx.signer != ctx.owner {
            return Err(ChainError::op(
                "chain-revoke-owner",
                "only the owner may revoke the owner (to transfer the index)",
            ));
        }
        state.owner_retired = true;
        return Ok(());
    }
    if state.grants.remove(identity).is_none() {
        return Err(ChainError::op(
            "chain-not-granted",
            format!("identity `{identity}` holds no grant"),
        ));
    }
    Ok(())
}

/// Marker for the version-index kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionIndex;

/// Changes the entry of a published version in place.
fn annotate(
    state: &mut VersionState,
    version: &Version,
    change: impl FnOnce(&mut ReleaseEntry) -> Result<(), ChainError>,
) -> Result<(), ChainError> {
    state
        .releases
        .update(&version.key(), change)
        .unwrap_or_else(|| Err(ChainError::UnknownVersion(version.to_string())))
}

impl IndexKind for VersionIndex {
    const DOMAIN: Domain = Domain::VersionIndex;
    const RECORD: &'static str = "version index revision";
    type Op = VersionOp;
    type State = VersionState;

    fn linked_records(op: &VersionOp) -> Vec<Cid> {
        match op {
            VersionOp::Release { release, .. } => vec![*release],
            _ => Vec::new(),
        }
    }

    fn op_to_value(op: &VersionOp) -> Value {
        let mut m = Map::new();
        m.insert("op", Value::text(op.name()));
        match op {
            VersionOp::Release { version, release } => {
                m.insert("version", Value::text(version.to_string()));
                m.insert("release", Value::Link((*release).into()));
            }
            VersionOp::Yank { version, reason } => {
                m.insert("version", Value::text(version.to_string()));
                if let Some(r) = reason {
                    m.insert("reason", Value::text(r.clone()));
                }
            }
            VersionOp::Unyank { version } => {
                m.insert("version", Value::text(version.to_string()));
            }
            VersionOp::Deprecate { version, message } => {
                m.insert("version", Value::text(version.to_string()));
                m.insert("message", Value::text(message.clone()));
            }
            VersionOp::Advisory { version, advisory } => {
                m.insert("version", Value::text(version.to_string()));
                m.insert("advisory", advisory_value(advisory));
            }
            VersionOp::Grant {
                identity,
                permissions,
            } => {
                m.insert("identity", Value::text(identity.to_string()));
                m.insert(
                    "permissions",
                    Value::List(permissions.iter().map(|p| Value::text(p.name())).collect()),
                );
            }
            VersionOp::Revoke { identity } => {
                m.insert("identity", Value::text(identity.to_string()));
            }
        }
        Value::Map(m)
    }

    fn op_from_value(v: Value) -> Result<VersionOp, RecordError> {
        let mut f = Fields::new("version index op", v)?;
        let name = f.text("op")?;
        let op = match name.as_str() {
            "release" => VersionOp::Release {
                version: read_version(&mut f, "version")?,
                release: f.link("release")?,
            },
            "yank" => VersionOp::Yank {
                version: read_version(&mut f, "version")?,
                reason: opt_message(&mut f, "reason")?,
            },
            "unyank" => VersionOp::Unyank {
                version: read_version(&mut f, "version")?,
            },
            "deprecate" => {
                let version = read_version(&mut f, "version")?;
                let message = f.text("message")?;
                check_message(&f, "message", &message)?;
                VersionOp::Deprecate { version, message }
            }
            "advisory" => VersionOp::Advisory {
                version: read_version(&mut f, "version")?,
                advisory: advisory_from(f.required("advisory")?)?,
            },
            "grant" => {
                let identity = parse_identity(&mut f, "identity")?;
                let mut permissions = BTreeSet::new();
                let mut last: Option<&'static str> = None;
                for p in f.list("permissions")? {
                    let Value::String(s) = p else {
                        return Err(f.invalid("permissions", "permissions are text"));
                    };
                    let perm = Permission::parse(&s).ok_or_else(|| {
                        f.invalid("permissions", format!("unknown permission `{s}`"))
                    })?;
                    if last.is_some_and(|l| l >= perm.name()) {
                        return Err(f.invalid("permissions", "sorted, no permission twice"));
                    }
                    last = Some(perm.name());
                    permissions.insert(perm);
                }
                if permissions.is_empty() {
                    return Err(f.invalid(
                        "permissions",
                        "grant at least one permission (use `revoke` to remove all)",
                    ));
                }
                VersionOp::Grant {
                    identity,
                    permissions,
                }
            }
            "revoke" => VersionOp::Revoke {
                identity: parse_identity(&mut f, "identity")?,
            },
            other => {
                return Err(f.invalid("op", format!("unknown version index operation `{other}`")));
            }
        };
        f.finish()?;
        Ok(op)
    }

    fn apply(
        state: &mut VersionState,
        ctx: &ApplyContext<'_>,
        op: &VersionOp,
    ) -> Result<(), ChainError> {
        if !state.may(ctx.owner, ctx.signer, op.needs()) {
            return Err(ChainError::PermissionDenied {
                identity: *ctx.signer,
                op: op.name(),
                needs: op.needs().name(),
            });
        }
        match op {
            VersionOp::Release { version, release } => {
                if let Some(existing) = state.release(version) {
                    if existing.release == *release {
                        return Ok(()); // Publishing the identical release again is a no-op.
                    }
                    return Err(ChainError::Republish {
                        version: version.to_string(),
                        existing: existing.version.to_string(),
                        existing_cid: existing.release,
                    });
                }
                let entry = ReleaseEntry {
                    version: version.clone(),
                    release: *release,
                    yanked: false,
                    yank_reason: None,
                    deprecated: None,
                    advisories: Vec::new(),
                };
                state.releases.insert(&version.key(), entry)?;
                Ok(())
            }
            VersionOp::Yank { version, reason } => annotate(state, version, |e| {
                e.yanked = true;
                e.yank_reason.clone_from(reason);
                Ok(())
            }),
            VersionOp::Unyank { version } => annotate(state, version, |e| {
                e.yanked = false;
                e.yank_reason = None;
                Ok(())
            }),
            VersionOp::Deprecate { version, message } => annotate(state, version, |e| {
                e.deprecated = Some(message.clone());
                Ok(())
            }),
            VersionOp::Advisory { version, advisory } => annotate(state, version, |e| {
                if e.advisories.iter().any(|a| a.id == advisory.id) {
                    return Err(ChainError::op(
                        "chain-advisory-exists",
                        format!(
                            "advisory `{}` is already recorded on `{version}`",
                            advisory.id
                        ),
                    ));
                }
                if e.advisories.len() == MAX_ADVISORIES {
                    return Err(ChainError::op(
                        "chain-too-many-advisories",
                        format!("`{version}` already carries {MAX_ADVISORIES} advisories"),
                    ));
                }
                e.advisories.push(advisory.clone());
                Ok(())
            }),
            VersionOp::Grant {
                identity,
                permissions,
            } => grant(state, ctx, identity, permissions),
            VersionOp::Revoke { identity } => revoke(state, ctx, identity),
        }
    }

    fn load_state(root: Cid, blocks: Blocks<'_>) -> Result<VersionState, ChainError> {
        VersionState::load(root, blocks)
    }

    fn citations(state: &mut VersionState) -> &mut BTreeMap<IdentityId, u64> {
        &mut state.citations
    }

    fn state_root(state: &mut VersionState, fresh: Option<&mut super::EncodedBlocks>) -> Cid {
        state.top_root(fresh)
    }

    fn diagnose(
        recomputed: &VersionState,
        claimed: Cid,
        blocks: Blocks<'_>,
        seq: u64,
    ) -> Option<ChainError> {
        let claimed = VersionState::load(claimed, blocks).ok()?;
        recomputed
            .releases()
            .into_iter()
            .find(|e| claimed.release(&e.version).is_none())
            .map(|e| ChainError::DeletionAttempt {
                seq,
                version: e.version.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembled_top_block_equals_the_encoded_value() {
        let mut s = VersionState::default();
        for retired in [false, true] {
            s.owner_retired = retired;
            s.grants.insert(
                IdentityId::from_digest([3; 32]),
                BTreeSet::from([Permission::Grant, Permission::Release]),
            );
            s.citations.insert(IdentityId::from_digest([4; 32]), 7);
            let mut fresh = Vec::new();
            let root = s.top_root(Some(&mut fresh));
            let expected = codec::encode(&s.top_value());
            assert_eq!(fresh.last().map(|(_, b)| b.clone()), Some(expected.clone()));
            assert_eq!(root, Cid::of_record(&expected));
            // A change to the cached maps is picked up.
            s.citations.insert(IdentityId::from_digest([4; 32]), 8);
            assert_ne!(s.top_root(None), root);
        }
    }

    #[test]
    fn written_entry_equals_the_encoded_value_in_every_shape() {
        let advisory = |id: &str| Advisory {
            id: id.to_owned(),
            severity: Severity::High,
            summary: "remote code execution".to_owned(),
        };
        let mut shapes = 0;
        for yanked in [false, true] {
            for reason in [None, Some("broken build".to_owned())] {
                for deprecated in [None, Some("use 2.x".to_owned())] {
                    for advisories in [vec![], vec![advisory("CVE-1"), advisory("GHSA-2")]] {
                        let e = ReleaseEntry {
                            version: "1.2.0-rc.1".parse().expect("version"),
                            release: Cid::of_record(b"\xa0"),
                            yanked,
                            yank_reason: reason.clone().filter(|_| yanked),
                            deprecated: deprecated.clone(),
                            advisories,
                        };
                        let mut written = Vec::new();
                        MapValue::encode_into(&e, &mut written);
                        assert_eq!(written, codec::encode(&e.to_value()), "{e:?}");
                        shapes += 1;
                    }
                }
            }
        }
        assert_eq!(shapes, 16);
    }
}
