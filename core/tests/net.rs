//! The peer network with real iroh endpoints on loopback: logs and artifacts travel from node to
//! node through the verifier, and peers that lie or offer old heads change nothing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use cairn_core::home::Home;
use cairn_core::net::serve::Serve;
use cairn_core::net::sync::{self, Peers, SyncOutcome};
use cairn_core::net::{self, Peer};
use cairn_core::publish::{self, PublishOptions};
use cairn_core::store::Outcome;
use cairn_core::testing::{Person, T, create_in, ring, write_package};
use cairn_protocol::index::version::VersionIndex;
use cairn_protocol::name::IndexName;
use cairn_protocol::wire;
use iroh::address_lookup::memory::MemoryLookup;
use iroh::protocol::Router;

/// One node: a home, its endpoint, and the router serving it.
struct Node {
    home: Home,
    dir: PathBuf,
    router: Router,
}

impl Node {
    async fn start(dir: &Path) -> Node {
        let home = Home::open(dir).expect("home");
        let key = net::node_key(dir).expect("node key");
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let ep = net::endpoint(key, loopback, &MemoryLookup::new())
            .await
            .expect("endpoint");
        let router = Router::builder(ep)
            .accept(wire::ALPN, Serve::new(dir))
            .spawn();
        Node {
            home,
            dir: dir.to_path_buf(),
            router,
        }
    }

    fn addr(&self) -> Peer {
        net::own_addr(self.router.endpoint())
    }

    async fn dial(&self, peers: &[&Node]) -> Peers {
        let peers: Vec<Peer> = peers.iter().map(|n| n.addr()).collect();
        Peers::dial(self.router.endpoint(), &peers)
            .await
            .expect("dial")
    }

    async fn sync(&mut self, from: &[&Node], index: &IndexName) -> SyncOutcome {
        let mut peers = self.dial(from).await;
        let synced = sync::sync_index::<VersionIndex>(&mut self.home, &mut peers, index)
            .await
            .expect("sync");
        peers.close();
        synced.outcome
    }

    /// Fetches every artifact of `index` this node lacks; how many arrived.
    async fn fetch_artifacts(&mut self, from: &[&Node], index: &IndexName) -> (usize, Peers) {
        let mut peers = self.dial(from).await;
        let missing = sync::missing_artifacts(&self.home, &index.to_string()).expect("missing");
        let mut got = 0;
        for a in &missing {
            if sync::fetch_artifact(&mut self.home, &mut peers, a)
                .await
                .expect("fetch")
            {
                got += 1;
            }
        }
        (got, peers)
    }

    fn head(&self, index: &IndexName) -> Option<(u64, cairn_protocol::cid::Cid)> {
        self.home.head(&index.to_string()).expect("head")
    }

    fn publish(&mut self, who: &Person, work: &Path, version: &str, time: u64) {
        let dir = work.join(format!("alpha-{version}"));
        write_package(&dir, "alpha", version);
        let opts = PublishOptions {
            dir,
            index: None,
            dry_run: false,
            new_index: false,
            time,
        };
        publish::publish(&mut self.home, who.id(), Some(&ring(who)), &opts).expect("publish");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::many_single_char_names)] // Nodes are named A to F, as in the scenario.
async fn three_nodes_converge_and_the_third_installs_from_the_second() {
    let tmp = tempfile::tempdir().expect("tmp");
    let alice = Person::new(1);
    let index = alice.index("alpha");
    let mut a = Node::start(&tmp.path().join("a")).await;
    create_in(&alice, &mut a.home);
    a.publish(&alice, tmp.path(), "1.0.0", T);
    let mut b = Node::start(&tmp.path().join("b")).await;
    let mut c = Node::start(&tmp.path().join("c")).await;

    // B knows only A; C knows only B.
    assert!(matches!(
        b.sync(&[&a], &index).await,
        SyncOutcome::Imported { head: 1, .. }
    ));
    assert_eq!(b.fetch_artifacts(&[&a], &index).await.0, 1);
    assert!(matches!(
        c.sync(&[&b], &index).await,
        SyncOutcome::Imported { head: 1, .. }
    ));
    assert_eq!(c.head(&index), a.head(&index), "C holds A's head through B");
    assert_eq!(c.fetch_artifacts(&[&b], &index).await.0, 1, "from B");
    assert!(
        sync::missing_artifacts(&c.home, &index.to_string())
            .expect("missing")
            .is_empty()
    );
    cairn_core::inspect::verify_log(&c.home, &index.to_string()).expect("C re-verifies");

    // A new release travels incrementally; an older head offered back changes nothing.
    a.publish(&alice, tmp.path(), "1.1.0", T + 10);
    assert!(matches!(
        b.sync(&[&a], &index).await,
        SyncOutcome::Imported { head: 2, .. }
    ));
    assert_eq!(
        b.fetch_artifacts(&[&a], &index).await.0,
        1,
        "only the new one"
    );
    let mut d = Node::start(&tmp.path().join("d")).await;
    assert!(matches!(
        d.sync(&[&c], &index).await,
        SyncOutcome::Imported { head: 1, .. }
    ));
    assert!(matches!(
        c.sync(&[&b], &index).await,
        SyncOutcome::Imported { head: 2, .. }
    ));
    assert!(
        matches!(
            c.sync(&[&d], &index).await,
            SyncOutcome::UpToDate { head: 2 }
        ),
        "a peer one revision behind offers a rollback: refused"
    );
    assert_eq!(c.head(&index), a.head(&index));

    // A peer that serves wrong artifact bytes is skipped; the honest one's bytes are kept.
    let mut e = Node::start(&tmp.path().join("e")).await;
    assert!(matches!(
        e.sync(&[&b], &index).await,
        SyncOutcome::Imported { .. }
    ));
    let _ = e.fetch_artifacts(&[&b], &index).await;
    for entry in std::fs::read_dir(e.dir.join("artifacts")).expect("artifacts") {
        let path = entry.expect("entry").path();
        let len = std::fs::metadata(&path).expect("meta").len();
        std::fs::write(&path, vec![b'x'; usize::try_from(len).expect("len")]).expect("tamper");
    }
    let mut f = Node::start(&tmp.path().join("f")).await;
    assert!(matches!(
        f.sync(&[&e], &index).await,
        SyncOutcome::Imported { .. }
    ));
    let (got, peers) = f.fetch_artifacts(&[&e, &b], &index).await;
    assert_eq!(got, 2, "both artifacts, from B");
    assert!(
        peers
            .skipped
            .iter()
            .any(|s| s.contains("do not match the artifact")),
        "the lying peer is named: {:?}",
        peers.skipped
    );
    for entry in std::fs::read_dir(f.dir.join("artifacts")).expect("artifacts") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read");
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        assert_eq!(
            cairn_protocol::cid::Cid::of_raw(&bytes).to_string(),
            name,
            "every kept artifact is what its name says"
        );
    }
    for n in [a, b, c, d, e, f] {
        n.router.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_revisions_with_one_seq_are_recorded_as_a_fork() {
    let tmp = tempfile::tempdir().expect("tmp");
    let alice = Person::new(1);
    let index = alice.index("alpha");
    let mut a = Node::start(&tmp.path().join("a")).await;
    create_in(&alice, &mut a.home);
    a.publish(&alice, tmp.path(), "1.0.0", T);
    // The same publisher on a second machine, from the same first revision.
    let mut twin = Node::start(&tmp.path().join("twin")).await;
    assert!(matches!(
        twin.sync(&[&a], &index).await,
        SyncOutcome::Imported { .. }
    ));
    create_in(&alice, &mut twin.home);
    a.publish(&alice, &tmp.path().join("one"), "1.1.0", T + 10);
    twin.publish(&alice, &tmp.path().join("two"), "1.2.0", T + 10);
    let mut b = Node::start(&tmp.path().join("b")).await;
    assert!(matches!(
        b.sync(&[&a], &index).await,
        SyncOutcome::Imported { head: 2, .. }
    ));
    let outcome = b.sync(&[&twin], &index).await;
    assert!(
        matches!(
            outcome,
            SyncOutcome::Imported {
                report: Outcome::Fork { seq: 2, .. },
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(
        b.home.forks(&index.to_string()).expect("forks").len(),
        1,
        "the evidence is kept"
    );
    assert_eq!(b.head(&index), a.head(&index), "the head held stays");
    for n in [a, twin, b] {
        n.router.shutdown().await.expect("shutdown");
    }
}
