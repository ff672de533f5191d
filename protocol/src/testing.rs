//! Shared test fixtures (compiled only with the `test-utils` feature): seeded people who sign
//! identity logs and index revisions.

use crate::identity::{self, IdentityId, IdentityLog};
use crate::index::{Citation, IndexKind, Tip, sign_next};
use crate::name::IndexName;
use crate::sign::SecretKey;

/// The clock every fixture signs at.
pub const T: u64 = 1_795_000_000;

/// A publisher with seeded keys: root key `[n; 32]`, signing key `[n + 100; 32]`, and the
/// identity log they start.
#[derive(Debug)]
pub struct Person {
    /// The root key.
    pub root: SecretKey,
    /// The signing key.
    pub signing: SecretKey,
    /// The identity log.
    pub log: IdentityLog,
    /// Its envelopes, oldest first.
    pub envelopes: Vec<Vec<u8>>,
}

impl Person {
    /// The person numbered `n` (the same `n` gives the same keys and identity).
    #[must_use]
    pub fn new(n: u8) -> Person {
        let (root, signing) = (
            SecretKey::from_seed(&[n; 32]),
            SecretKey::from_seed(&[n.wrapping_add(100); 32]),
        );
        // Creating an identity from two valid keys cannot fail.
        let (env, log) =
            identity::create(&[&root], 1, &[signing.public()], T).expect("seeded identity");
        Person {
            root,
            signing,
            log,
            envelopes: vec![env.encode()],
        }
    }

    /// The identity.
    #[must_use]
    pub fn id(&self) -> IdentityId {
        self.log.id()
    }

    /// The citation of the identity's latest state.
    #[must_use]
    pub fn cite(&self) -> Citation {
        Citation {
            identity: self.log.id(),
            seq: self.log.seq(),
        }
    }

    /// The index `<id>:<name>`.
    #[must_use]
    pub fn index(&self, name: &str) -> IndexName {
        IndexName::new(self.id(), name.parse().expect("test index name"))
    }

    /// Signs `ops` as the revision after `tip`; returns the envelope and the new tip.
    #[must_use]
    pub fn sign<K: IndexKind>(
        &self,
        tip: Option<&Tip<K>>,
        index: &IndexName,
        ops: Vec<K::Op>,
    ) -> (Vec<u8>, Tip<K>) {
        let (s, t) =
            sign_next(tip, index, self.cite(), &self.signing, T, ops).expect("sign a revision");
        (s.encode(), t)
    }
}
