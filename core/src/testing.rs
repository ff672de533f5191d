//! Shared test fixtures (compiled only with the `test-utils` feature): the protocol's seeded
//! people, with what a home needs of them, and package directories and release records.

use std::path::Path;

use cairn_protocol::identity::IdentityId;
use cairn_protocol::sign::SecretKey;

use crate::home::Home;
use crate::keys::{KdfParams, KeyRing, Role};

pub use cairn_protocol::testing::{Person, T};

/// The key ring a home would unlock for `p`.
#[must_use]
pub fn ring(p: &Person) -> KeyRing {
    KeyRing {
        identity: p.id(),
        keys: vec![
            (Role::Root, SecretKey::from_seed(&p.root.to_seed())),
            (Role::Signing, SecretKey::from_seed(&p.signing.to_seed())),
        ],
    }
}

/// Creates `p`'s identity in `home` (key file sealed with the cheapest KDF).
pub fn create_in(p: &Person, home: &mut Home) -> IdentityId {
    let mut keys = vec![
        SecretKey::from_seed(&p.signing.to_seed()),
        SecretKey::from_seed(&p.root.to_seed()),
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
    assert_eq!(id, p.id(), "a home derives the same identity");
    id
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

/// Writes `name@version` under `work` (as [`write_package`]) and publishes it as `who`.
pub fn publish_package(home: &mut Home, who: &Person, work: &Path, name: &str, version: &str) {
    let dir = work.join(format!("{name}-{version}"));
    write_package(&dir, name, version);
    publish_dir(home, who, &dir, T);
}

/// Publishes the package directory `dir` as `who`, signed at `time`.
pub fn publish_dir(home: &mut Home, who: &Person, dir: &Path, time: u64) {
    let opts = crate::publish::PublishOptions {
        dir: dir.to_path_buf(),
        index: None,
        dry_run: false,
        new_index: false,
        time,
    };
    crate::publish::publish(home, who.id(), Some(&ring(who)), &opts).expect("publish");
}

/// `who` creates the package index `name`, maps each alias to its target (followed), and
/// publishes it at time `T + 1`.
pub fn curate_index(
    home: &mut Home,
    who: &Person,
    name: &str,
    aliases: &[(&str, &cairn_protocol::name::IndexName)],
) -> cairn_protocol::name::IndexName {
    use cairn_protocol::index::package::{AliasEntry, PackageOp, Policy};
    let index = crate::curate::new_index(home, who.id(), name.parse().expect("name")).expect("new");
    for (alias, target) in aliases {
        let entry = AliasEntry {
            alias: alias.parse().expect("alias"),
            target: (*target).clone(),
            policy: Policy::Follow,
            versions: None,
            exclude: std::collections::BTreeSet::new(),
        };
        crate::curate::stage(home, &index, &PackageOp::AddAlias(entry)).expect("stage");
    }
    crate::curate::publish(home, &ring(who), &index, true, T + 1).expect("curate");
    index
}

/// Signs and stores (through the verifying import) the version index `who:name` with
/// `revisions` revisions, revision `r` releasing `1.r.0` with its record. `who`'s identity
/// log must be held.
pub fn signed_index(
    store: &mut crate::store::Store,
    who: &Person,
    name: &str,
    revisions: usize,
) -> cairn_protocol::name::IndexName {
    use cairn_protocol::index::Tip;
    use cairn_protocol::index::version::VersionIndex;
    let index = who.index(name);
    let mut tip: Option<Tip<VersionIndex>> = None;
    let mut envelopes = Vec::with_capacity(revisions);
    for r in 0..revisions {
        let op = release_record(store, name, &format!("1.{r}.0"), &[]);
        let (env, next) = who.sign(tip.as_ref(), &index, vec![op]);
        envelopes.push(env);
        tip = Some(next);
    }
    store
        .import_index::<VersionIndex>(&index, &envelopes)
        .expect("import");
    index
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

/// A node that serves what the home at `dir` holds, as any node does, and that has announced
/// on the global topic, to `to`, a head its store need not back: a peer that announces a new
/// head and then serves an old one. Dropping it leaves the topic; [`FalseAnnouncer::shutdown`]
/// also closes its endpoint.
#[derive(Debug)]
pub struct FalseAnnouncer {
    router: iroh::protocol::Router,
    _topic: iroh_gossip::api::GossipTopic,
}

impl FalseAnnouncer {
    /// Starts the node, joins `to` on the global topic and announces `announcement` to it.
    ///
    /// # Errors
    /// When the node cannot start or `to` cannot be joined.
    pub async fn start(
        dir: &Path,
        to: &crate::net::Peer,
        announcement: &cairn_protocol::wire::Announcement,
    ) -> Result<FalseAnnouncer, Box<dyn std::error::Error + Send + Sync>> {
        FalseAnnouncer::start_with(dir, to, announcement, true).await
    }

    /// As [`FalseAnnouncer::start`], serving nothing when `serve` is false (every fetch from
    /// it fails).
    ///
    /// # Errors
    /// As [`FalseAnnouncer::start`].
    pub async fn start_with(
        dir: &Path,
        to: &crate::net::Peer,
        announcement: &cairn_protocol::wire::Announcement,
        serve: bool,
    ) -> Result<FalseAnnouncer, Box<dyn std::error::Error + Send + Sync>> {
        use cairn_protocol::wire;
        let book = iroh::address_lookup::memory::MemoryLookup::new();
        book.add_endpoint_info(to.endpoint_addr());
        let key = crate::net::node_key(dir)?;
        let ep = crate::net::endpoint(key, ([127, 0, 0, 1], 0).into(), &book).await?;
        let gossip = iroh_gossip::Gossip::builder().spawn(ep.clone());
        let mut router =
            iroh::protocol::Router::builder(ep).accept(iroh_gossip::ALPN, gossip.clone());
        if serve {
            router = router.accept(wire::ALPN, crate::net::serve::Serve::new(dir));
        }
        let router = router.spawn();
        let mut topic = gossip
            .subscribe(
                iroh_gossip::TopicId::from_bytes(wire::global_topic()),
                vec![to.id],
            )
            .await?;
        topic.joined().await?;
        topic
            .broadcast_neighbors(bytes::Bytes::from(announcement.encode()))
            .await?;
        Ok(FalseAnnouncer {
            router,
            _topic: topic,
        })
    }

    /// Closes its endpoint.
    pub async fn shutdown(self) {
        let _ = self.router.shutdown().await;
    }
}

/// CPU time this process has used (user and system, all threads), from `/proc/self/stat`
/// (zero where there is none), for benchmarks that report what a phase cost besides its time.
#[must_use]
pub fn cpu() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15, in clock ticks of 1/100 s.
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    std::time::Duration::from_millis(ticks * 10)
}

/// A tiny seeded generator (splitmix64), so simulations and benchmarks are reproducible with
/// no dependency.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A number in [0, 1).
    #[allow(clippy::cast_precision_loss)]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
