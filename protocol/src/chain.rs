//! Rules shared by every signed log (identity logs, version indexes, package indexes) and the
//! error every chain check reports.
//!
//! Normative text: `spec/06-logs.md`.

use thiserror::Error;

use crate::cid::Cid;
use crate::identity::IdentityId;
use crate::profile::RecordError;
use crate::signed::SignedError;

/// Why a revision was refused. Each rule has its own variant and stable code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The envelope or its signatures failed.
    #[error(transparent)]
    Envelope(#[from] SignedError),
    /// A record (payload, state block, operation) breaks its schema.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The first revision has `seq` ≠ 1 or a `prev` link, or a later one lacks `prev`.
    #[error("revision {seq}: {reason}")]
    BadGenesis {
        /// The seq found.
        seq: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// `seq` is more than one above the previous revision.
    #[error(
        "revision {found} does not follow revision {previous} (expected seq {expected}); fetch the missing revisions"
    )]
    SeqGap {
        /// The previous seq.
        previous: u64,
        /// The seq expected.
        expected: u64,
        /// The seq found.
        found: u64,
    },
    /// `seq` is not above the previous revision (a rollback or replay).
    #[error(
        "revision {found} is not newer than the revision {previous} already held (rollback refused)"
    )]
    Rollback {
        /// The seq held.
        previous: u64,
        /// The seq offered.
        found: u64,
    },
    /// `prev` is not the previous revision's payload CID.
    #[error(
        "revision {seq} names `{found}` as its previous revision, but the previous revision is `{expected}`"
    )]
    WrongPrev {
        /// The seq of the offending revision.
        seq: u64,
        /// The previous payload CID.
        expected: Cid,
        /// The CID it names.
        found: Cid,
    },
    /// The revision belongs to another log.
    #[error("revision is for `{found}`, not `{expected}`")]
    WrongIndex {
        /// This log.
        expected: String,
        /// The log named in the revision.
        found: String,
    },
    /// The signer citation is lower than an earlier one by the same identity.
    #[error(
        "revision {seq} cites identity `{identity}` at seq {cited}, below seq {previous} cited earlier in this log"
    )]
    CitationLowered {
        /// The revision.
        seq: u64,
        /// The signer identity.
        identity: IdentityId,
        /// The earlier citation.
        previous: u64,
        /// The citation.
        cited: u64,
    },
    /// The cited identity state is not known to the verifier.
    #[error(
        "revision cites identity `{identity}` at seq {seq}, which is not available; fetch that identity's log"
    )]
    CitationUnknown {
        /// The identity.
        identity: IdentityId,
        /// The cited seq.
        seq: u64,
    },
    /// A signature key that was revoked at or before the cited identity seq.
    #[error(
        "key {key} was revoked by identity `{identity}` at or before seq {seq}, the state this revision cites"
    )]
    KeyRevoked {
        /// The key (text form).
        key: String,
        /// The identity.
        identity: IdentityId,
        /// The cited seq.
        seq: u64,
    },
    /// A signature key that is not a signing key of the cited identity state.
    #[error("key {key} is not a signing key of identity `{identity}` at seq {seq}")]
    KeyNotValid {
        /// The key (text form).
        key: String,
        /// The identity.
        identity: IdentityId,
        /// The cited seq.
        seq: u64,
    },
    /// The signer lacks the permission an operation needs.
    #[error(
        "identity `{identity}` may not `{op}` in this index (needs the `{needs}` permission); ask the owner for a grant"
    )]
    PermissionDenied {
        /// The signer.
        identity: IdentityId,
        /// The operation.
        op: &'static str,
        /// The permission it needs.
        needs: &'static str,
    },
    /// The linked state is not the state the operations produce.
    #[error("revision {seq} links state `{found}`, but its operations produce `{expected}`")]
    StateMismatch {
        /// The revision.
        seq: u64,
        /// The recomputed state root.
        expected: Cid,
        /// The linked state root.
        found: Cid,
    },
    /// The linked state drops a release (releases are never deleted).
    #[error(
        "revision {seq} drops release `{version}` from the state; releases are never deleted (yank it instead)"
    )]
    DeletionAttempt {
        /// The revision.
        seq: u64,
        /// The release that disappeared.
        version: String,
    },
    /// A version equal (up to trailing zeros) to a published one, with another release record.
    #[error(
        "version `{version}` is already published as `{existing}` with release `{existing_cid}`; a version is never republished with other content (publish a new version)"
    )]
    Republish {
        /// The version offered.
        version: String,
        /// The version as first published.
        existing: String,
        /// Its release CID.
        existing_cid: Cid,
    },
    /// An operation names a version that is not published.
    #[error("version `{0}` is not published in this index")]
    UnknownVersion(String),
    /// An operation breaks a rule of its index kind (the message names it).
    #[error("{message}")]
    InvalidOp {
        /// The stable code.
        code: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
    /// Identity log: fewer valid signatures from the previous root keys than their threshold.
    #[error("identity change is signed by {have} of the previous root keys; {need} are needed")]
    OldRootThreshold {
        /// Valid signatures from previous root keys.
        have: usize,
        /// The previous threshold.
        need: u64,
    },
    /// Identity log: fewer valid signatures from the new root keys than their threshold.
    #[error("identity change is signed by {have} of the new root keys; {need} are needed")]
    NewRootThreshold {
        /// Valid signatures from new root keys.
        have: usize,
        /// The new threshold.
        need: u64,
    },
    /// Identity log: a signature by a key that is not a previous or new root key.
    #[error(
        "identity change is signed by {0}, which is not a root key; only root keys sign identity changes"
    )]
    SignerNotRoot(String),
    /// A block the check needs could not be read: no verdict on the revision.
    #[error(transparent)]
    Unreadable(#[from] crate::cid::BlockFault),
}

impl ChainError {
    /// The stable error code used in test vectors.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ChainError::Envelope(e) => e.code(),
            ChainError::Record(e) => e.code(),
            ChainError::BadGenesis { .. } => "chain-bad-genesis",
            ChainError::SeqGap { .. } => "chain-seq-gap",
            ChainError::Rollback { .. } => "chain-rollback",
            ChainError::WrongPrev { .. } => "chain-wrong-prev",
            ChainError::WrongIndex { .. } => "chain-wrong-index",
            ChainError::CitationLowered { .. } => "chain-citation-lowered",
            ChainError::CitationUnknown { .. } => "chain-citation-unknown",
            ChainError::KeyRevoked { .. } => "chain-key-revoked",
            ChainError::KeyNotValid { .. } => "chain-key-not-valid",
            ChainError::PermissionDenied { .. } => "chain-permission-denied",
            ChainError::StateMismatch { .. } => "chain-state-mismatch",
            ChainError::DeletionAttempt { .. } => "chain-deletion",
            ChainError::Republish { .. } => "chain-republish",
            ChainError::UnknownVersion(_) => "chain-unknown-version",
            ChainError::InvalidOp { code, .. } => code,
            ChainError::OldRootThreshold { .. } => "identity-old-threshold",
            ChainError::NewRootThreshold { .. } => "identity-new-threshold",
            ChainError::SignerNotRoot(_) => "identity-signer-not-root",
            ChainError::Unreadable(_) => "block-unreadable",
        }
    }

    /// An operation error with its code.
    #[must_use]
    pub fn op(code: &'static str, message: impl Into<String>) -> ChainError {
        ChainError::InvalidOp {
            code,
            message: message.into(),
        }
    }
}

impl From<crate::hamt::HamtError> for ChainError {
    fn from(e: crate::hamt::HamtError) -> ChainError {
        match e {
            crate::hamt::HamtError::Entry { error, .. } => ChainError::Record(error),
            crate::hamt::HamtError::Unreadable(fault) => ChainError::Unreadable(fault),
            e => ChainError::op(e.code(), e.to_string()),
        }
    }
}

/// Checks `seq` and `prev` of a revision against the previous one (`None` for the first).
pub fn check_sequence(
    previous: Option<(u64, Cid)>,
    seq: u64,
    prev: Option<Cid>,
) -> Result<(), ChainError> {
    match (previous, prev) {
        (None, None) if seq == 1 => Ok(()),
        (None, None) => Err(ChainError::BadGenesis {
            seq,
            reason: "the first revision must have seq 1",
        }),
        (None, Some(_)) => Err(ChainError::BadGenesis {
            seq,
            reason: "the first revision has no `prev`",
        }),
        (Some((p, _)), _) if seq <= p => Err(ChainError::Rollback {
            previous: p,
            found: seq,
        }),
        (Some((p, _)), _) if seq != p + 1 => Err(ChainError::SeqGap {
            previous: p,
            expected: p + 1,
            found: seq,
        }),
        (Some(_), None) => Err(ChainError::BadGenesis {
            seq,
            reason: "only the first revision lacks `prev`",
        }),
        (Some((_, expected)), Some(found)) if found != expected => Err(ChainError::WrongPrev {
            seq,
            expected,
            found,
        }),
        (Some(_), Some(_)) => Ok(()),
    }
}
