//! Reading what a home holds, for people and scripts: an index's verified state (`show`), a
//! log's revisions (`log`), and re-verification (`verify`). Reports are serde types whose JSON
//! form is documented in `docs/json.md`.

use serde::Serialize;

use cairn_protocol::cid::Cid;
use cairn_protocol::identity::{IdentityOp, IdentityRevision};
use cairn_protocol::index::Revision;
use cairn_protocol::index::package::PackageIndex;
use cairn_protocol::index::version::{VersionIndex, VersionOp};
use cairn_protocol::name::IndexName;
use cairn_protocol::signed::Signed;

use crate::home::Home;
use crate::store::StoreError;

/// `show`: a version index's verified state.
#[derive(Debug, Clone, Serialize)]
pub struct IndexReport {
    /// The index (`<identity>:<name>`).
    pub index: String,
    /// The verified head's seq.
    pub seq: u64,
    /// The head's payload CID.
    pub head: Cid,
    /// The state root the head links.
    pub state: Cid,
    /// Every release, lowest version first.
    pub releases: Vec<ReleaseReport>,
    /// Who may change the index.
    pub maintainers: Vec<Maintainer>,
    /// Whether fork evidence is held for the index.
    pub forked: bool,
    /// Maintainers caught equivocating, as `<identity>: <why>`.
    pub flagged: Vec<String>,
    /// Old heads peers offered as current (refused), the latest first, at most
    /// [`ROLLBACKS_SHOWN`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rollbacks: Vec<crate::store::Rollback>,
}

/// The most refused rollbacks a report lists.
pub const ROLLBACKS_SHOWN: usize = 8;

/// One release in an [`IndexReport`].
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseReport {
    /// The version as published.
    pub version: String,
    /// The release record's CID.
    pub release: Cid,
    /// Yanked by a maintainer.
    pub yanked: bool,
    /// Why, if a reason was given.
    pub yank_reason: Option<String>,
    /// The deprecation message, if deprecated.
    pub deprecated: Option<String>,
    /// Security advisories.
    pub advisories: Vec<AdvisoryReport>,
}

/// One advisory.
#[derive(Debug, Clone, Serialize)]
pub struct AdvisoryReport {
    /// An identifier such as `GHSA-…` or `CVE-…`.
    pub id: String,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: &'static str,
    /// One line.
    pub summary: String,
}

/// A maintainer and what it may do.
#[derive(Debug, Clone, Serialize)]
pub struct Maintainer {
    /// The identity.
    pub identity: String,
    /// `owner`, or the permissions granted (`release`, `annotate`, `grant`).
    pub permissions: Vec<&'static str>,
}

/// The verified state of a version index, or `None` when it is not held.
pub fn show(home: &Home, index: &IndexName) -> Result<Option<IndexReport>, StoreError> {
    let log = index.to_string();
    let Some(tip) = home.store.index_tip::<VersionIndex>(&log)? else {
        return Ok(None);
    };
    let mut flagged = Vec::new();
    for id in std::iter::once(*index.identity()).chain(tip.state.grants.keys().copied()) {
        if let Some(why) = home.store.flagged(&id)? {
            flagged.push(format!("{id}: {why}"));
        }
    }
    let releases = tip
        .state
        .releases()
        .into_iter()
        .map(|e| ReleaseReport {
            version: e.version.to_string(),
            release: e.release,
            yanked: e.yanked,
            yank_reason: e.yank_reason.clone(),
            deprecated: e.deprecated.clone(),
            advisories: e
                .advisories
                .iter()
                .map(|a| AdvisoryReport {
                    id: a.id.clone(),
                    severity: a.severity.name(),
                    summary: a.summary.clone(),
                })
                .collect(),
        })
        .collect();
    let mut maintainers = Vec::new();
    if !tip.state.owner_retired {
        maintainers.push(Maintainer {
            identity: index.identity().to_string(),
            permissions: vec!["owner"],
        });
    }
    for (id, ps) in &tip.state.grants {
        maintainers.push(Maintainer {
            identity: id.to_string(),
            permissions: ps.iter().map(|p| p.name()).collect(),
        });
    }
    Ok(Some(IndexReport {
        index: log.clone(),
        seq: tip.seq(),
        head: tip.payload_cid,
        state: tip.revision.state,
        releases,
        maintainers,
        forked: !home.store.forks(&log)?.is_empty(),
        flagged,
        rollbacks: home.store.rollbacks(&log, ROLLBACKS_SHOWN)?,
    }))
}

/// One revision in `log`.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    /// Its seq.
    pub seq: u64,
    /// Its payload CID.
    pub payload: Cid,
    /// The time its signers claimed (seconds since the Unix epoch).
    pub time: u64,
    /// The identity that signed it.
    pub signer: String,
    /// Its operations, each as `<name>` or `<name> <subject>` (the version, key or identity it
    /// concerns).
    pub ops: Vec<String>,
}

/// Why a log could not be listed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The log is not held here.
    #[error("`{0}` is not in this home\n\nhint: import it with `cairn import FILE.car`")]
    NotHeld(String),
}

/// The kind of a held log (`identity`, `version-index`, `package-index`), `None` when not held.
pub fn kind(home: &Home, log: &str) -> Result<Option<String>, StoreError> {
    home.store.head_kind(log)
}

/// Every revision of a held log, oldest first.
pub fn log(home: &Home, log: &str) -> Result<Vec<LogEntry>, InspectError> {
    let kind = kind(home, log)?.ok_or_else(|| InspectError::NotHeld(log.to_owned()))?;
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("`{log}`: {e}"));
    let mut rows = Vec::new();
    for env in home.store.envelopes(log)? {
        let row = match kind.as_str() {
            "identity" => {
                let s = Signed::<IdentityRevision>::decode(&env).map_err(|e| corrupt(&e))?;
                let p = s.payload();
                LogEntry {
                    seq: p.seq,
                    payload: s.payload_cid(),
                    time: p.time,
                    signer: log.to_owned(),
                    ops: p.ops.iter().map(identity_op).collect(),
                }
            }
            "version-index" => index_entry::<VersionIndex>(&env, |o| {
                format!("{} {}", o.name(), version_op_subject(o))
            })
            .map_err(|e| corrupt(&e))?,
            _ => index_entry::<PackageIndex>(&env, |o| o.name().to_owned())
                .map_err(|e| corrupt(&e))?,
        };
        rows.push(row);
    }
    Ok(rows)
}

/// One index revision as a log entry, each operation described by `describe`.
fn index_entry<K: cairn_protocol::index::IndexKind>(
    envelope: &[u8],
    describe: impl Fn(&K::Op) -> String,
) -> Result<LogEntry, cairn_protocol::signed::SignedError> {
    let s = Signed::<Revision<K>>::decode(envelope)?;
    let p = s.payload();
    Ok(LogEntry {
        seq: p.seq,
        payload: s.payload_cid(),
        time: p.time,
        signer: p.signer.identity.to_string(),
        ops: p.ops.iter().map(describe).collect(),
    })
}

fn identity_op(op: &IdentityOp) -> String {
    match op {
        IdentityOp::AddRootKey(k) => format!("add-root-key {k}"),
        IdentityOp::RemoveRootKey(k) => format!("remove-root-key {k}"),
        IdentityOp::SetThreshold(n) => format!("set-threshold {n}"),
        IdentityOp::AddSigningKey(k) => format!("add-signing-key {k}"),
        IdentityOp::RemoveSigningKey(k) => format!("remove-signing-key {k}"),
        IdentityOp::RevokeKey(k) => format!("revoke-key {k}"),
    }
}

fn version_op_subject(op: &VersionOp) -> String {
    match op {
        VersionOp::Release { version, .. }
        | VersionOp::Yank { version, .. }
        | VersionOp::Unyank { version }
        | VersionOp::Deprecate { version, .. }
        | VersionOp::Advisory { version, .. } => version.to_string(),
        VersionOp::Grant { identity, .. } | VersionOp::Revoke { identity } => identity.to_string(),
    }
}

/// What re-verification found: `Ok` with what was checked, or `Err` with why it failed.
pub type Verdict = Result<String, String>;

/// Re-verifies a held log from genesis.
pub fn verify_log(home: &Home, log: &str) -> Verdict {
    home.store
        .verify_log(log)
        .map(|seq| format!("`{log}` re-verified from genesis up to revision {seq}"))
        .map_err(|e| e.to_string())
}

/// Re-verifies what a CID names: a revision re-verifies its whole log; a record block or an
/// artifact is re-hashed against its CID. `Ok(None)` when nothing by that CID is held.
pub fn verify_cid(home: &Home, cid: &Cid) -> Result<Option<Verdict>, StoreError> {
    if let Some((log, seq)) = home.store.revision_by_payload(cid)? {
        return Ok(Some(home.store.verify_log(&log).map(|head| {
            format!("revision {seq} of `{log}` re-verified, with its log from genesis up to revision {head}")
        }).map_err(|e| e.to_string())));
    }
    if let Some(bytes) = home.store.block(cid)? {
        return Ok(Some(
            crate::block::verify_block(*cid, &bytes)
                .map(|_| format!("record block {cid} matches its CID ({} bytes)", bytes.len()))
                .map_err(|e| e.to_string()),
        ));
    }
    if home.store.has_artifact(cid)? {
        let path = home.dir().join("artifacts").join(cid.to_string());
        let io = |cause| StoreError::Io {
            path: path.clone(),
            cause,
        };
        // Hashed as it is read: memory stays the same whatever the artifact's size.
        let mut file = std::fs::File::open(&path).map_err(io)?;
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(&mut file).map_err(io)?;
        let size = hasher.count();
        return Ok(Some(if hasher.finalize().as_bytes() == cid.digest() {
            Ok(format!("artifact {cid} matches its CID ({size} bytes)"))
        } else {
            Err(format!(
                "artifact `{}` does not match its CID {cid}",
                path.display()
            ))
        }));
    }
    Ok(None)
}
