//! Moving verified logs between homes as CAR bundles, and settling what an import finds:
//! when a concurrent append lost a conflict, the operations this home's identities signed in
//! the dropped revisions are signed again on top of the winner.

use std::collections::BTreeSet;

use cairn_protocol::identity::IdentityId;
use cairn_protocol::index::Revision;
use cairn_protocol::index::version::VersionIndex;
use cairn_protocol::name::IndexName;
use cairn_protocol::signed::Signed;

use crate::bundle::{self, BundleError};
use crate::home::Home;
use crate::keys::KeyRing;
use crate::publish::{self, PublishError};
use crate::store::{ImportReport, Outcome};

/// A bundle of `log` (an index or an identity) with everything needed to verify it.
pub fn export(home: &Home, log: &str) -> Result<Vec<u8>, BundleError> {
    bundle::export(&home.store, log)
}

/// Verifies and stores a bundle's logs; reports what happened to each.
pub fn import(home: &mut Home, data: &[u8]) -> Result<Vec<ImportReport>, BundleError> {
    bundle::import(&mut home.store, data)
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
