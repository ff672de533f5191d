//! Moving verified logs between homes as CAR bundles, and settling what an import finds:
//! when a concurrent append lost a conflict, the operations this home's identities signed in
//! the dropped revisions are signed again on top of the winner.

use std::collections::BTreeSet;

use cairn_protocol::identity::IdentityId;
use cairn_protocol::index::Revision;
use cairn_protocol::index::version::VersionIndex;
use cairn_protocol::name::IndexName;
use cairn_protocol::signed::Signed;

use cairn_protocol::cid::Cid;

use crate::bundle::{self, BundleError};
use crate::home::Home;
use crate::keys::KeyRing;
use crate::publish::{self, PublishError};
use crate::store::{ImportReport, Outcome};

/// A bundle of `log` (an index or an identity) with everything needed to verify it.
pub fn export(home: &Home, log: &str) -> Result<Vec<u8>, BundleError> {
    bundle::export(&home.store, log)
}

/// Verifies and stores a bundle's logs (and keeps the artifacts it carries); reports what
/// happened to each log. The bundle is read from `input` as it is needed, never held whole.
pub fn import(
    home: &mut Home,
    input: impl std::io::Read + std::io::Seek,
) -> Result<Vec<ImportReport>, BundleError> {
    let dir = home.dir().join("artifacts");
    bundle::import(&mut home.store, input, &dir)
}

/// Writes to `out` one bundle of several logs (indexes or identities) and the artifacts named,
/// read from this home and checked against their CIDs as they go in; returns the bytes written.
///
/// # Errors
/// When a log is not held, an artifact is not held or does not match its CID, or the bundle
/// would be larger than a CAR may be.
pub fn export_with_artifacts(
    home: &Home,
    logs: &[String],
    artifacts: &[Cid],
    out: &mut impl std::io::Write,
) -> Result<u64, BundleError> {
    let dir = home.dir().join("artifacts");
    let carried: Vec<(Cid, std::path::PathBuf)> = artifacts
        .iter()
        .map(|c| (*c, crate::artifact::path_in(&dir, c)))
        .collect();
    bundle::export_many(&home.store, logs, &carried, out)
}

/// The artifacts every release of a version index held here offers (none for other logs).
///
/// # Errors
/// When the store cannot be read.
pub fn index_artifacts(home: &Home, log: &str) -> Result<Vec<Cid>, BundleError> {
    let mut out = Vec::new();
    if home.store.head_kind(log)?.as_deref() != Some("version-index") {
        return Ok(out);
    }
    if let Some(tip) = home.store.index_tip::<VersionIndex>(log)? {
        for e in tip.state.releases() {
            if let Some(bytes) = home.store.block(&e.release)?
                && let Ok(r) = cairn_protocol::release::Release::decode(&bytes)
            {
                out.extend(r.artifacts.values().map(|a| a.cid));
            }
        }
    }
    Ok(out)
}

/// Operations of this home's identities that a lost conflict dropped: sign them again with
/// [`reapply`].
#[derive(Debug, Clone)]
pub struct Dropped {
    /// The version index.
    pub index: IndexName,
    /// The identity (its keys are in this home) whose revisions were dropped.
    pub identity: IdentityId,
    /// The dropped envelopes, oldest first (all signers; only this identity's are re-applied).
    pub envelopes: Vec<Vec<u8>>,
}

/// What the import `reports` dropped that identities with keys in this home signed.
#[must_use]
pub fn dropped_own(home: &Home, reports: &[ImportReport]) -> Vec<Dropped> {
    let mut out = Vec::new();
    for r in reports {
        let Outcome::Conflict {
            switched: true,
            dropped,
            ..
        } = &r.outcome
        else {
            continue;
        };
        let Ok(index) = r.log.parse::<IndexName>() else {
            continue;
        };
        let signers: BTreeSet<IdentityId> = dropped
            .iter()
            .filter_map(|bytes| Signed::<Revision<VersionIndex>>::decode(bytes).ok())
            .map(|env| env.payload().signer.identity)
            .collect();
        for identity in signers.into_iter().filter(|id| home.key_path(id).exists()) {
            out.push(Dropped {
                index: index.clone(),
                identity,
                envelopes: dropped.clone(),
            });
        }
    }
    out
}

/// Signs the dropped operations of `d.identity` again on top of the winning head, with keys
/// from `ring`. Returns the new seqs.
pub fn reapply(
    home: &mut Home,
    d: &Dropped,
    ring: &KeyRing,
    time: u64,
) -> Result<Vec<u64>, PublishError> {
    publish::reapply(home, d.identity, ring, &d.index, &d.envelopes, time)
}
