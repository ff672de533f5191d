//! The `--json` output of every command: serde types, one per report, whose fields are
//! documented in `docs/json.md`. Field names are stable; new fields may be added.

use std::collections::BTreeMap;

use cairn_core::home::IdentitySummary;
use cairn_core::publish::{PublishOutcome, PublishReport};
use cairn_protocol::index::package::{AliasEntry, Policy};
use serde::Serialize;

/// Any command run with `--json` that fails (exit 2): the error and its hints.
#[derive(Debug, Serialize)]
pub(crate) struct Failure<'a> {
    pub(crate) error: &'a str,
    pub(crate) hints: Vec<&'a str>,
}

/// `cairn publish --json`.
#[derive(Debug, Serialize)]
pub(crate) struct Published {
    index: String,
    version: String,
    release: String,
    artifacts: BTreeMap<String, Artifact>,
    files: Vec<String>,
    outcome: Outcome,
}

/// One artifact: CID, size in bytes, SHA-256 in hex.
#[derive(Debug, Serialize)]
pub(crate) struct Artifact {
    cid: String,
    size: u64,
    sha256: String,
}

/// What a publish did: `{"published": {"seq": N}}`, `"already-published"` or `"dry-run"`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Outcome {
    Published { seq: u64 },
    AlreadyPublished,
    DryRun,
}

impl From<&PublishReport> for Published {
    fn from(r: &PublishReport) -> Published {
        Published {
            index: r.index.to_string(),
            version: r.version.to_string(),
            release: r.release.to_string(),
            artifacts: r
                .artifacts
                .iter()
                .map(|(p, a)| {
                    (
                        p.clone(),
                        Artifact {
                            cid: a.cid.to_string(),
                            size: a.size,
                            sha256: hex::encode(a.sha256),
                        },
                    )
                })
                .collect(),
            files: r.files.iter().map(|f| f.path.clone()).collect(),
            outcome: match r.outcome {
                PublishOutcome::Published { seq } => Outcome::Published { seq },
                PublishOutcome::AlreadyPublished => Outcome::AlreadyPublished,
                PublishOutcome::DryRun => Outcome::DryRun,
            },
        }
    }
}

/// `cairn id show --json` and each entry of `cairn id list --json`.
#[derive(Debug, Serialize)]
pub(crate) struct Identity {
    id: String,
    petnames: Vec<String>,
    default: bool,
    seq: u64,
    threshold: u64,
    root_keys: Vec<String>,
    signing_keys: Vec<String>,
    revoked_keys: Vec<String>,
}

impl From<&IdentitySummary> for Identity {
    fn from(s: &IdentitySummary) -> Identity {
        let keys = |set: &std::collections::BTreeSet<cairn_protocol::sign::PublicKey>| {
            set.iter().map(ToString::to_string).collect()
        };
        Identity {
            id: s.id.to_string(),
            petnames: s.petnames.clone(),
            default: s.default,
            seq: s.seq,
            threshold: s.keys.threshold,
            root_keys: keys(&s.keys.root_keys),
            signing_keys: keys(&s.keys.signing_keys),
            revoked_keys: keys(&s.keys.revoked),
        }
    }
}

/// `cairn id new --json`.
#[derive(Debug, Serialize)]
pub(crate) struct Created<'a> {
    pub(crate) id: String,
    pub(crate) petname: Option<&'a str>,
    pub(crate) default: bool,
}

/// `cairn curate show --json`.
#[derive(Debug, Serialize)]
pub(crate) struct CuratorIndex {
    pub(crate) index: String,
    /// The published head's seq and payload CID (`null` before the first publish).
    pub(crate) seq: Option<u64>,
    pub(crate) head: Option<String>,
    /// How many operations are staged.
    pub(crate) staged: usize,
    pub(crate) aliases: Vec<AliasJson>,
    pub(crate) includes: Vec<Include>,
}

/// One alias of a curator index.
#[derive(Debug, Serialize)]
pub(crate) struct AliasJson {
    alias: String,
    target: String,
    /// `"follow"`, `{"pin": CID}` or `{"min_seq": N}`.
    policy: AliasPolicy,
    versions: Option<String>,
    exclude: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum AliasPolicy {
    Follow,
    Pin(String),
    MinSeq(u64),
}

impl From<&AliasEntry> for AliasJson {
    fn from(a: &AliasEntry) -> AliasJson {
        AliasJson {
            alias: a.alias.to_string(),
            target: a.target.to_string(),
            policy: match a.policy {
                Policy::Follow => AliasPolicy::Follow,
                Policy::Pin(c) => AliasPolicy::Pin(c.to_string()),
                Policy::MinSeq(n) => AliasPolicy::MinSeq(n),
            },
            versions: a.versions.as_ref().map(ToString::to_string),
            exclude: a.exclude.iter().map(|s| s.name()).collect(),
        }
    }
}

/// One include of a curator index.
#[derive(Debug, Serialize)]
pub(crate) struct Include {
    pub(crate) index: String,
    pub(crate) priority: u64,
}

/// `cairn inspect --json`.
#[derive(Debug, Serialize)]
pub(crate) struct Inspected {
    pub(crate) cid: String,
    pub(crate) size: usize,
    /// The record in the typed JSON form of `spec/01-encoding.md`.
    pub(crate) value: serde_json::Value,
}

/// `cairn version matches --json`.
#[derive(Debug, Serialize)]
pub(crate) struct Matches {
    pub(crate) constraint: String,
    /// Each version as given → whether the constraint admits it.
    pub(crate) matches: BTreeMap<String, bool>,
}

/// `cairn resolve --json` when no solution exists.
#[derive(Debug, Serialize)]
pub(crate) struct Unresolved {
    pub(crate) index: String,
    /// The explanation, as printed without `--json`.
    pub(crate) error: String,
}

/// `cairn resolve --json` on success.
#[derive(Debug, Serialize)]
pub(crate) struct ResolveOutput {
    /// The curator index resolved against.
    pub(crate) index: String,
    /// Every chosen package, sorted by scope then alias.
    pub(crate) packages: Vec<ResolvedPackage>,
}

/// One chosen package.
#[derive(Debug, Serialize)]
pub(crate) struct ResolvedPackage {
    pub(crate) alias: String,
    /// The private-dependency scope path (empty: the shared scope).
    pub(crate) scope: Vec<String>,
    pub(crate) version: String,
    /// The release record's CID.
    pub(crate) release: Option<String>,
    /// The version index the alias names.
    pub(crate) index: Option<String>,
    /// The revision of that index whose state was used: seq and payload CID.
    pub(crate) seq: Option<u64>,
    pub(crate) head: Option<String>,
    pub(crate) yanked: bool,
    pub(crate) deprecated: bool,
    pub(crate) advisory: bool,
}
