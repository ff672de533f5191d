//! Shared test fixtures (compiled only with the `test-utils` feature): seeded people who sign
//! identity logs and index revisions, and homes in temporary directories.

use std::path::Path;

use cairn_protocol::identity::{self, IdentityId, IdentityLog};
use cairn_protocol::index::{Citation, IndexKind, Tip, sign_next};
use cairn_protocol::name::IndexName;
use cairn_protocol::sign::SecretKey;

use crate::home::Home;
use crate::keys::{KdfParams, KeyRing, Role};

/// The clock every fixture signs at.
pub const T: u64 = 1_795_000_000;

/// A publisher with seeded keys: one root key, one signing key, and the identity log.
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
        let (root, signing) = seeded_keys(n);
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

    /// The key ring a home would unlock for this person.
    #[must_use]
    pub fn ring(&self) -> KeyRing {
        KeyRing {
            identity: self.id(),
            keys: vec![
                (Role::Root, SecretKey::from_seed(&self.root.to_seed())),
                (Role::Signing, SecretKey::from_seed(&self.signing.to_seed())),
            ],
        }
    }

    /// Creates this person's identity in `home` (key file sealed with the cheapest KDF).
    pub fn create_in(&self, home: &mut Home) -> IdentityId {
        let mut keys = vec![
            SecretKey::from_seed(&self.signing.to_seed()),
            SecretKey::from_seed(&self.root.to_seed()),
        ];
        let id = home
            .create_identity(
                b"pw",
                KdfParams::INSECURE_FOR_TESTS,
                T,
                &mut || Ok(keys.pop().expect("two keys")),
                None,
            )
            .expect("create identity");
        assert_eq!(id, self.id(), "a home derives the same identity");
        id
    }
}

/// The root and signing keys of person `n`.
fn seeded_keys(n: u8) -> (SecretKey, SecretKey) {
    (
        SecretKey::from_seed(&[n; 32]),
        SecretKey::from_seed(&[n.wrapping_add(100); 32]),
    )
}

/// Writes a package directory with `cairn.toml` (no dependencies) and one source file.
pub fn write_package(dir: &Path, name: &str, version: &str) {
    std::fs::create_dir_all(dir.join("src")).expect("package dir");
    std::fs::write(
        dir.join("cairn.toml"),
        format!("[package]\nname = \"{name}\"\nversion = \"{version}\"\nlicense = \"MIT\"\n"),
    )
    .expect("manifest");
    std::fs::write(dir.join("src/lib.txt"), format!("{name} {version}\n")).expect("source");
}

/// Stores a release record of `name@version` (one stand-in artifact, dependencies `deps` as
/// `(alias, constraint)`) and returns the operation that publishes it.
pub fn release_record(
    store: &mut crate::store::Store,
    name: &str,
    version: &str,
    deps: &[(&str, &str)],
) -> cairn_protocol::index::version::VersionOp {
    use cairn_protocol::cid::Cid;
    use cairn_protocol::release::{Artifact, Dependency, Release};
    let artifact = Artifact {
        cid: Cid::of_raw(format!("{name}@{version}").as_bytes()),
        size: 0,
        sha256: [0; 32],
    };
    let dependencies = deps
        .iter()
        .map(|(a, c)| {
            (
                a.parse().expect("alias"),
                Dependency {
                    constraint: c.parse().expect("constraint"),
                    private: false,
                },
            )
        })
        .collect();
    let record = Release::new(
        name.parse().expect("name"),
        version.parse().expect("version"),
        std::collections::BTreeMap::from([("default".to_owned(), artifact)]),
        dependencies,
    );
    let (cid, bytes) = record.block().expect("a release record within limits");
    store.put_block(&cid, &bytes).expect("store the record");
    cairn_protocol::index::version::VersionOp::Release {
        version: version.parse().expect("version"),
        release: cid,
    }
}
