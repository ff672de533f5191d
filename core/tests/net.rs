//! The peer network with real iroh endpoints on loopback: logs and artifacts travel from node to
//! node through the verifier, and peers that lie or offer old heads change nothing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bao_tree::io::outboard::PreOrderMemOutboard;
use bao_tree::{BlockSize, ChunkRanges};
use cairn_core::home::Home;
use cairn_core::net::blobs::{self, Blobs};
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
            .accept(blobs::ALPN, Blobs::new(dir))
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
        publish_alpha(&mut self.home, who, work, version, time);
    }
}

/// Publishes `alpha` at `version` as `who` from a package written under `work`.
fn publish_alpha(home: &mut Home, who: &Person, work: &Path, version: &str, time: u64) {
    publish_named(home, who, work, "alpha", version, time);
}

/// Publishes package `name` at `version` as `who` from a package written under `work`.
fn publish_named(home: &mut Home, who: &Person, work: &Path, name: &str, version: &str, time: u64) {
    let dir = work.join(format!("{name}-{version}"));
    write_package(&dir, name, version);
    let opts = PublishOptions {
        dir,
        index: None,
        dry_run: false,
        new_index: false,
        time,
    };
    publish::publish(home, who.id(), Some(&ring(who)), &opts).expect("publish");
}

/// `by` offered `at` an old head of `index` and is on record there, in what `cairn show`
/// reports too; `honest` offered the head held and is not.
fn rollback_on_record(at: &Node, by: &Node, honest: &Node, index: &IndexName) {
    let recorded = at.home.rollbacks(&index.to_string(), 8).expect("rollbacks");
    assert_eq!(
        recorded
            .iter()
            .map(|r| (r.source.clone(), r.offered, r.held))
            .collect::<Vec<_>>(),
        vec![(by.addr().id.to_string(), 1, 2)],
        "who offered the old head is on record"
    );
    let shown = cairn_core::inspect::show(&at.home, index)
        .expect("show")
        .expect("held");
    assert_eq!(
        shown.rollbacks, recorded,
        "and in what `cairn show` reports"
    );
    assert!(
        honest
            .home
            .rollbacks(&index.to_string(), 8)
            .expect("rollbacks")
            .is_empty(),
        "a peer that offered the head held is not recorded"
    );
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
    rollback_on_record(&c, &d, &b, &index);

    // A peer that serves wrong artifact bytes is skipped; the honest one's bytes are kept.
    let mut e = Node::start(&tmp.path().join("e")).await;
    assert!(matches!(
        e.sync(&[&b], &index).await,
        SyncOutcome::Imported { .. }
    ));
    let _ = e.fetch_artifacts(&[&b], &index).await;
    // Once E has served them (and so keeps their trees of hashes), its files go bad.
    let mut g = Node::start(&tmp.path().join("g")).await;
    assert!(matches!(
        g.sync(&[&e], &index).await,
        SyncOutcome::Imported { .. }
    ));
    assert_eq!(g.fetch_artifacts(&[&e], &index).await.0, 2);
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
    // Asked alone, the lying peer is named and nothing of it is kept; beside an honest peer
    // (whichever answers first), both artifacts arrive.
    let (got, peers) = f.fetch_artifacts(&[&e], &index).await;
    assert_eq!(got, 0);
    assert!(
        peers
            .skipped
            .iter()
            .any(|s| s.contains("do not match the artifact")),
        "the lying peer is named: {:?}",
        peers.skipped
    );
    let (got, _) = f.fetch_artifacts(&[&e, &b], &index).await;
    assert_eq!(got, 2, "both artifacts, from B");
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
    for n in [a, b, c, d, e, f, g] {
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

/// Waits until `check` holds, up to `secs` seconds.
async fn eventually(secs: u64, mut check: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if check() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    check()
}

/// Three home directories `a`, `b`, `c`; in `a`, Alice has published `alpha` 1.0.0.
fn three_homes() -> (tempfile::TempDir, Person, IndexName, Vec<PathBuf>, Home) {
    let tmp = tempfile::tempdir().expect("tmp");
    let alice = Person::new(1);
    let index = alice.index("alpha");
    let dirs: Vec<PathBuf> = ["a", "b", "c"].iter().map(|n| tmp.path().join(n)).collect();
    let mut a_home = Home::open(&dirs[0]).expect("home");
    create_in(&alice, &mut a_home);
    publish_alpha(&mut a_home, &alice, tmp.path(), "1.0.0", T);
    (tmp, alice, index, dirs, a_home)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announced_head_travels_a_chain_of_nodes_by_gossip() {
    let (tmp, alice, index, dirs, mut a_home) = three_homes();
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    // A knows nobody, B knows A, C knows B.
    let a = net::Node::start(&dirs[0], loopback, &[]).await.expect("a");
    let b = net::Node::start(&dirs[1], loopback, &[a.addr()])
        .await
        .expect("b");
    let mut c = net::Node::start(&dirs[2], loopback, &[b.addr()])
        .await
        .expect("c");
    let mut heard = c.heard().expect("heard");
    // B and C follow the index (a first pull, as `cairn sync` does).
    for (dir, from) in [(&dirs[1], a.addr()), (&dirs[2], b.addr())] {
        let mut home = Home::open(dir).expect("home");
        let ep = net::client(std::slice::from_ref(&from))
            .await
            .expect("client");
        let mut peers = Peers::dial(&ep, &[from]).await.expect("dial");
        let synced = sync::sync_index::<VersionIndex>(&mut home, &mut peers, &index)
            .await
            .expect("sync");
        assert!(matches!(synced.outcome, SyncOutcome::Imported { .. }));
        ep.close().await;
    }
    // A publishes; its node announces; B fetches from A and relays; C fetches from B.
    publish_alpha(&mut a_home, &alice, tmp.path(), "1.1.0", T + 10);
    let c_home = Home::open(&dirs[2]).expect("home");
    let a_head = a_home.head(&index.to_string()).expect("head");
    assert!(
        eventually(30, || c_home.head(&index.to_string()).expect("head")
            == a_head)
        .await,
        "C holds A's new head"
    );
    let got = heard.recv().await.expect("heard");
    assert_eq!(
        got,
        cairn_core::net::gossip::Heard::Fetched(index.to_string(), 2)
    );
    cairn_core::inspect::verify_log(&c_home, &index.to_string()).expect("C re-verifies");
    for n in [a, b, c] {
        n.shutdown().await;
    }
    assert!(
        !dirs[0].join(net::NODE_ADDR).exists(),
        "a stopped node removes its address"
    );
}

/// A scratch folder whose home `a` holds alice's `alpha` 1.0.0, published there.
fn alice_publishes_alpha() -> (tempfile::TempDir, Person, IndexName, Home) {
    let tmp = tempfile::tempdir().expect("tmp");
    let alice = Person::new(1);
    let index = alice.index("alpha");
    let mut home = Home::open(&tmp.path().join("a")).expect("home");
    create_in(&alice, &mut home);
    publish_alpha(&mut home, &alice, tmp.path(), "1.0.0", T);
    (tmp, alice, index, home)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_is_answered_and_the_receiver_fetches_from_the_pusher() {
    use cairn_core::net::push;
    use wire::Verdict;
    let (tmp, alice, index, mut a_home) = alice_publishes_alpha();
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let (a_dir, b_dir) = (tmp.path().join("a"), tmp.path().join("b"));
    // B follows alice's index at seq 1, and shares no gossip swarm with A.
    let b = net::Node::start(&b_dir, loopback, &[]).await.expect("b");
    let mut b_home = Home::open(&b_dir).expect("home");
    let bundle = cairn_core::exchange::export(&a_home, &index.to_string()).expect("export");
    cairn_core::exchange::import(&mut b_home, std::io::Cursor::new(bundle)).expect("import");
    drop(b_home);
    publish_alpha(&mut a_home, &alice, tmp.path(), "1.1.0", T + 10);
    let heads = push::heads_of(&a_home, &[index.to_string()]).expect("heads");
    assert_eq!(heads.len(), 1);
    assert!(
        push::heads_of(&a_home, &["nope:x".into()]).is_err(),
        "a log not held"
    );

    let mut unknown = heads[0].clone();
    unknown.log = alice.index("beta").to_string();
    let report = push::push_from(
        &a_dir,
        &[b.addr()],
        &[heads[0].clone(), unknown],
        std::time::Duration::from_secs(10),
    )
    .await
    .expect("push");
    let verdicts = report[0].verdicts.as_ref().expect("answered");
    assert_eq!(verdicts[0], Verdict::Fetching);
    assert!(
        matches!(&verdicts[1], Verdict::Dropped(why) if why.contains("does not follow")),
        "{verdicts:?}"
    );
    // The push returns once B has fetched what it asked for.
    assert_eq!(
        Home::open(&b_dir)
            .expect("home")
            .head(&index.to_string())
            .expect("head")
            .map(|h| h.0),
        Some(2),
        "B fetched and verified seq 2 from the pusher"
    );
    let again = push::push_from(
        &a_dir,
        &[b.addr()],
        &heads,
        std::time::Duration::from_secs(10),
    )
    .await
    .expect("push");
    assert_eq!(
        again[0].verdicts.as_ref().expect("answered")[..],
        [Verdict::Held]
    );
    b.shutdown().await;
}

/// A peer that answers every request with the same bytes (a forged head).
#[derive(Debug, Clone)]
/// Answers every request with the same bytes (a status byte first, for `cairn/sync/2`).
struct Liar(std::sync::Arc<Vec<u8>>);

impl iroh::protocol::ProtocolHandler for Liar {
    async fn accept(
        &self,
        conn: iroh::endpoint::Connection,
    ) -> Result<(), iroh::protocol::AcceptError> {
        while let Ok((mut send, mut recv)) = conn.accept_bi().await {
            let _ = recv.read_to_end(wire::MAX_REQUEST).await;
            let _ = send.write_all(&self.0).await;
            let _ = send.finish();
            let _ = send.stopped().await;
        }
        Ok(())
    }
}

/// A peer that answers every `cairn/sync/2` request with `sync` and every artifact request
/// with `blob`, under the node key made of `seed`.
async fn liar(seed: u8, sync: Vec<u8>, blob: Vec<u8>) -> Router {
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let ep = net::endpoint(
        iroh::SecretKey::from_bytes(&[seed; 32]),
        loopback,
        &MemoryLookup::new(),
    )
    .await
    .expect("liar");
    Router::builder(ep)
        .accept(wire::ALPN, Liar(std::sync::Arc::new(sync)))
        .accept(blobs::ALPN, Liar(std::sync::Arc::new(blob)))
        .spawn()
}

/// Peers over connections from `client`, asked in the order given (a dial would order them
/// by handshake time, alike on loopback).
async fn in_order(client: &iroh::Endpoint, peers: &[Peer]) -> Peers {
    let mut conns = Vec::new();
    for p in peers {
        let conn = client
            .connect(p.endpoint_addr(), wire::ALPN)
            .await
            .expect("connect");
        conns.push((p.endpoint_addr(), conn));
    }
    Peers::from_connections(client, conns)
}

/// `bytes` after the found status of a `cairn/sync/2` answer.
fn found(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![wire::FOUND];
    out.extend_from_slice(bytes);
    out
}

/// An iroh-blobs answer to a request for all of `real`, sending `sent` as its data: the size,
/// then the hashes of `real`'s tree and `sent`'s bytes, in 16 KiB groups.
fn encode(real: &[u8], sent: &[u8]) -> Vec<u8> {
    let outboard = PreOrderMemOutboard::create(real, BlockSize::from_chunk_log(4));
    let mut out = (real.len() as u64).to_le_bytes().to_vec();
    bao_tree::io::sync::encode_ranges(sent.to_vec(), &outboard, &ChunkRanges::all(), &mut out)
        .expect("encode");
    out
}

/// Pulls `index` into the home at `dir` from `from` (as `cairn sync` does).
async fn pull(dir: &Path, from: &Peer, index: &IndexName) -> SyncOutcome {
    let mut home = Home::open(dir).expect("home");
    let ep = net::client(std::slice::from_ref(from))
        .await
        .expect("client");
    let mut peers = Peers::dial(&ep, std::slice::from_ref(from))
        .await
        .expect("dial");
    let synced = sync::sync_index::<VersionIndex>(&mut home, &mut peers, index)
        .await
        .expect("sync");
    ep.close().await;
    synced.outcome
}

/// A revision 2 of `who`'s `index` whose signature is broken (it still decodes).
fn forged_revision(who: &Person, index: &IndexName) -> Vec<u8> {
    let op = |v: &str| cairn_protocol::index::version::VersionOp::Release {
        version: v.parse().expect("version"),
        release: cairn_protocol::cid::Cid::of_record(v.as_bytes()),
    };
    let (_, tip) = who.sign::<VersionIndex>(None, index, vec![op("0.1.0")]);
    let (mut forged, _) = who.sign::<VersionIndex>(Some(&tip), index, vec![op("0.2.0")]);
    let sig =
        cairn_protocol::signed::Signed::<cairn_protocol::index::Revision<VersionIndex>>::decode(
            &forged,
        )
        .expect("decodes")
        .signatures()[0]
            .sig
            .0;
    let at = forged
        .windows(sig.len())
        .position(|w| w == sig.as_slice())
        .expect("the signature's bytes");
    forged[at] ^= 1;
    forged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_and_a_forged_head_change_nothing_and_the_node_keeps_serving() {
    use cairn_core::net::gossip::Heard;
    let (tmp, alice, index, _) = alice_publishes_alpha();
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let (a_dir, b_dir) = (tmp.path().join("a"), tmp.path().join("b"));
    let a = net::Node::start(&a_dir, loopback, &[]).await.expect("a");
    let mut b = net::Node::start(&b_dir, loopback, &[]).await.expect("b");
    let mut heard = b.heard().expect("heard");
    assert!(matches!(
        pull(&b_dir, &a.addr(), &index).await,
        SyncOutcome::Imported { .. }
    ));
    let before = Home::open(&b_dir)
        .expect("home")
        .head(&index.to_string())
        .expect("head");

    // The liar: a revision 2 of alice's index with a broken signature, served to any request,
    // and a flood of announcements of it to B.
    let forged = forged_revision(&alice, &index);
    let book = MemoryLookup::new();
    book.add_endpoint_info(b.addr().endpoint_addr());
    let key = iroh::SecretKey::from_bytes(&[9; 32]);
    let ep = net::endpoint(key, loopback, &book).await.expect("liar");
    let gossip = iroh_gossip::Gossip::builder().spawn(ep.clone());
    let router = Router::builder(ep.clone())
        .accept(wire::ALPN, Liar(std::sync::Arc::new(found(&forged))))
        .accept(iroh_gossip::ALPN, gossip.clone())
        .spawn();
    let mut topic = gossip
        .subscribe(
            iroh_gossip::TopicId::from_bytes(wire::global_topic()),
            vec![b.addr().id],
        )
        .await
        .expect("subscribe");
    topic.joined().await.expect("joined");
    // B judges announcements against what its announcer last read from the store (at most
    // half a second old). B announcing the head it pulled shows that it has read it.
    let b_holds = async {
        use n0_future::StreamExt as _;
        while let Some(Ok(event)) = topic.next().await {
            if let iroh_gossip::api::Event::Received(m) = event
                && let Ok(wire::Gossiped::Announcement(a)) = wire::Gossiped::decode(&m.content)
                && a.log == index.to_string()
                && a.seq == 1
            {
                return;
            }
        }
        panic!("the topic closed");
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), b_holds)
        .await
        .expect("B announces the head it pulled");
    let started = std::time::Instant::now();
    for seq in 2..302u64 {
        let a = wire::Announcement {
            kind: wire::Announced::Head,
            log: index.to_string(),
            seq,
            payload: cairn_protocol::cid::Cid::of_record(&seq.to_be_bytes()),
        };
        topic
            .broadcast_neighbors(bytes::Bytes::from(a.encode()))
            .await
            .expect("broadcast");
    }
    let mut refused = 0;
    let mut over_budget = 0;
    while let Ok(Some(h)) =
        tokio::time::timeout(std::time::Duration::from_secs(20), heard.recv()).await
    {
        match h {
            Heard::Dropped(why) if why.contains("refused") => refused += 1,
            Heard::Dropped(why) if why.contains("budget") => over_budget += 1,
            Heard::Dropped(_) | Heard::Holds(..) => {}
            Heard::Fetched(log, seq) => panic!("fetched {log} {seq} from a liar"),
        }
        if refused > 0 && over_budget > 0 {
            break;
        }
    }
    assert!(
        refused > 0,
        "the forged head was fetched, verified and refused"
    );
    assert!(over_budget > 0, "the flood ran into the budget");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let after = Home::open(&b_dir)
        .expect("home")
        .head(&index.to_string())
        .expect("head");
    assert_eq!(after, before, "nothing of the liar's was kept");

    // B still serves: a new home pulls the index from B.
    assert!(matches!(
        pull(&tmp.path().join("c"), &b.addr(), &index).await,
        SyncOutcome::Imported { head: 1, .. }
    ));
    router.shutdown().await.expect("shutdown");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_evidence_reaches_every_node_and_show_flags_the_index() {
    let tmp = tempfile::tempdir().expect("tmp");
    let alice = Person::new(1);
    let index = alice.index("alpha");
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let dir = |n: &str| tmp.path().join(n);
    let mut a_home = Home::open(&dir("a")).expect("home");
    create_in(&alice, &mut a_home);
    publish_alpha(&mut a_home, &alice, &dir("work"), "1.0.0", T);
    // A chain of nodes: B knows A, C knows B.
    let a = net::Node::start(&dir("a"), loopback, &[]).await.expect("a");
    let b = net::Node::start(&dir("b"), loopback, &[a.addr()])
        .await
        .expect("b");
    let c = net::Node::start(&dir("c"), loopback, &[b.addr()])
        .await
        .expect("c");
    for (d, from) in [(dir("b"), a.addr()), (dir("c"), b.addr())] {
        assert!(matches!(
            pull(&d, &from, &index).await,
            SyncOutcome::Imported { .. }
        ));
    }
    // The same publisher on a second machine signs another revision 2.
    assert!(matches!(
        pull(&dir("twin"), &a.addr(), &index).await,
        SyncOutcome::Imported { .. }
    ));
    let mut twin = Home::open(&dir("twin")).expect("home");
    create_in(&alice, &mut twin);
    publish_alpha(&mut a_home, &alice, &dir("one"), "1.1.0", T + 10);
    publish_alpha(&mut twin, &alice, &dir("two"), "1.2.0", T + 10);
    let twin_node = net::Node::start(&dir("twin"), loopback, &[])
        .await
        .expect("twin");
    let held_by = |n: &str| {
        Home::open(&dir(n))
            .expect("home")
            .head(&index.to_string())
            .expect("head")
    };
    let a_head = held_by("a");
    assert!(
        eventually(30, || held_by("c") == a_head).await,
        "revision 2 spread"
    );
    // B meets the twin's revision 2: the fork is recorded there, then announced; A and C
    // fetch the evidence from B, verify it and record it too.
    let outcome = pull(&dir("b"), &twin_node.addr(), &index).await;
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
    let started = std::time::Instant::now();
    let forked = |n: &str| {
        let home = Home::open(&dir(n)).expect("home");
        cairn_core::inspect::show(&home, &index)
            .expect("show")
            .is_some_and(|r| r.forked)
    };
    assert!(
        eventually(30, || ["a", "b", "c"].iter().all(|n| forked(n))).await,
        "every node holds the evidence and flags the index"
    );
    eprintln!(
        "fork evidence reached every node in {:?}",
        started.elapsed()
    );
    assert_eq!(held_by("c"), a_head, "heads stay where they were");
    for n in [a, b, c, twin_node] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_sends_wrong_blocks_and_truncated_artifacts_is_skipped() {
    let tmp = tempfile::tempdir().expect("tmp");
    let alice = Person::new(1);
    let index = alice.index("alpha");
    let mut a = Node::start(&tmp.path().join("a")).await;
    create_in(&alice, &mut a.home);
    a.publish(&alice, tmp.path(), "1.0.0", T);
    // The liar answers every log request with the same bytes, which match no head or block
    // asked for, and every artifact request with the first half of the artifact's encoding
    // (its size, then its hashes and data in 16 KiB groups), then nothing.
    let held = std::fs::read_dir(a.dir.join("artifacts"))
        .expect("artifacts")
        .map(|e| e.expect("entry").path())
        .find(|p| !p.to_string_lossy().ends_with(".tmp"))
        .expect("an artifact");
    let bytes = std::fs::read(&held).expect("read");
    let encoded = encode(&bytes, &bytes);
    let lie = encoded[..encoded.len() / 2].to_vec();
    let liar = liar(8, found(&lie), lie).await;
    let liar_addr = net::own_addr(liar.endpoint());

    let mut f = Home::open(&tmp.path().join("f")).expect("home");
    let client = net::client(&[liar_addr.clone(), a.addr()])
        .await
        .expect("client");
    // The liar is asked first.
    let mut peers = in_order(&client, &[liar_addr, a.addr()]).await;
    let synced = sync::sync_index::<VersionIndex>(&mut f, &mut peers, &index)
        .await
        .expect("sync");
    assert!(matches!(
        synced.outcome,
        SyncOutcome::Imported { head: 1, .. }
    ));
    let missing = sync::missing_artifacts(&f, &index.to_string()).expect("missing");
    assert_eq!(missing.len(), 1);
    assert!(
        sync::fetch_artifact(&mut f, &mut peers, &missing[0])
            .await
            .expect("fetch"),
        "from the honest peer"
    );
    let reasons = peers.skipped.join("\n");
    assert!(
        reasons.contains("not what was asked for") && reasons.contains("stopped part way"),
        "the liar's wrong head or block and its truncated artifact are named:\n{reasons}"
    );
    cairn_core::inspect::verify_log(&f, &index.to_string()).expect("re-verifies");
    assert!(
        sync::missing_artifacts(&f, &index.to_string())
            .expect("missing")
            .is_empty()
    );
    client.close().await;
    liar.shutdown().await.expect("shutdown");
    a.router.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_room_tells_which_machine_holds_an_artifact() {
    use cairn_protocol::index::package::{AliasEntry, PackageOp, Policy};
    // A publishes alpha and curates `community`, which names it: the room is its topic.
    let (_tmp, alice, index, dirs, mut a_home) = three_homes();
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let community = alice.index("community");
    cairn_core::curate::new_index(&mut a_home, alice.id(), "community".parse().expect("n"))
        .expect("new index");
    let entry = AliasEntry {
        alias: "alpha".parse().expect("alias"),
        target: index.clone(),
        policy: Policy::Follow,
        versions: None,
        exclude: std::collections::BTreeSet::new(),
    };
    cairn_core::curate::stage(&mut a_home, &community, &PackageOp::AddAlias(entry)).expect("stage");
    cairn_core::curate::publish(&mut a_home, &ring(&alice), &community, true, T + 1)
        .expect("curate");
    // Two machines of one project, B and C, each know only A.
    let a = net::Node::start(&dirs[0], loopback, &[]).await.expect("a");
    let b = net::Node::start(&dirs[1], loopback, &[a.addr()])
        .await
        .expect("b");
    let mut c = net::Node::start(&dirs[2], loopback, &[a.addr()])
        .await
        .expect("c");
    let mut heard = c.heard().expect("heard");
    for dir in [&dirs[1], &dirs[2]] {
        let mut home = Home::open(dir).expect("home");
        let from = a.addr();
        let ep = net::client(std::slice::from_ref(&from))
            .await
            .expect("client");
        let mut peers = Peers::dial(&ep, &[from]).await.expect("dial");
        sync::sync_closure(&mut home, &mut peers, &community)
            .await
            .expect("sync");
        ep.close().await;
    }
    // B downloads the artifact from A; its node tells the room.
    let mut b_home = Home::open(&dirs[1]).expect("home");
    let missing = sync::missing_artifacts(&b_home, &index.to_string()).expect("missing");
    assert_eq!(missing.len(), 1);
    let ep = net::client(&[a.addr()]).await.expect("client");
    let mut peers = Peers::dial(&ep, &[a.addr()]).await.expect("dial");
    assert!(
        sync::fetch_artifact(&mut b_home, &mut peers, &missing[0])
            .await
            .expect("fetch")
    );
    ep.close().await;
    // C hears, through A, that B holds it.
    let c_home = Home::open(&dirs[2]).expect("home");
    let b_id = b.addr().id;
    assert!(
        eventually(30, || sync::holders(&c_home, &missing)
            .expect("holders")
            .iter()
            .any(|p| p.id == b_id))
        .await,
        "C learns that B holds the artifact"
    );
    let mut holds = false;
    while let Ok(h) = heard.try_recv() {
        holds |=
            matches!(h, cairn_core::net::gossip::Heard::Holds(node, _) if node == *b_id.as_bytes());
    }
    assert!(holds, "C's node reports what it recorded");
    // A goes away: C, whose only peer was A, installs from B, found through the room.
    a.shutdown().await;
    let mut c_home = Home::open(&dirs[2]).expect("home");
    let holders = sync::holders(&c_home, &missing).expect("holders");
    let ep = net::client(&holders).await.expect("client");
    let mut peers = Peers::dial(&ep, &holders).await.expect("dial");
    assert!(
        sync::fetch_artifact(&mut c_home, &mut peers, &missing[0])
            .await
            .expect("fetch"),
        "fetched from B ({:?})",
        peers.skipped
    );
    assert!(
        sync::missing_artifacts(&c_home, &index.to_string())
            .expect("missing")
            .is_empty()
    );
    ep.close().await;
    for n in [b, c] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawler_goes_from_an_announced_index_to_its_identitys_others() {
    let (tmp, alice, alpha, mut a_home) = alice_publishes_alpha();
    let beta = alice.index("beta");
    cairn_core::testing::publish_package(&mut a_home, &alice, tmp.path(), "beta", "1.0.0");
    let (seq, payload) = a_home
        .head(&alpha.to_string())
        .expect("head")
        .expect("held");
    drop(a_home);
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let crawler_dir = tmp.path().join("crawler");
    let crawler = net::Node::start_crawler(&crawler_dir, loopback, &[], net::Crawler::default())
        .await
        .expect("crawler");
    // A node that announces only alpha (and serves all it holds).
    let announcer = cairn_core::testing::FalseAnnouncer::start(
        &tmp.path().join("a"),
        &crawler.addr(),
        &wire::Announcement {
            kind: wire::Announced::Head,
            log: alpha.to_string(),
            seq,
            payload,
        },
    )
    .await
    .expect("announcer");
    let held = |index: &IndexName| {
        Home::open(&crawler_dir)
            .expect("home")
            .head(&index.to_string())
            .expect("head")
            .is_some()
    };
    assert!(
        eventually(20, || held(&alpha) && held(&beta)).await,
        "the crawler fetched alpha, then beta through alice"
    );
    cairn_core::inspect::verify_log(&Home::open(&crawler_dir).expect("home"), &beta.to_string())
        .expect("verified");
    announcer.shutdown().await;
    crawler.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_of_an_index_of_unknown_kind_asks_as_many_questions_as_one_of_known_kind() {
    let (tmp, _, index, home) = alice_publishes_alpha();
    drop(home);
    let a = Node::start(&tmp.path().join("a")).await;
    let mut asked = Vec::new();
    for (n, any) in [(1, false), (2, true)] {
        let mut b = Node::start(&tmp.path().join(format!("b{n}"))).await;
        let mut peers = b.dial(&[&a]).await;
        let synced = if any {
            sync::sync_any(&mut b.home, &mut peers, &index, false)
                .await
                .expect("sync")
                .remove(0)
        } else {
            sync::sync_index::<VersionIndex>(&mut b.home, &mut peers, &index)
                .await
                .expect("sync")
        };
        assert!(
            matches!(synced.outcome, SyncOutcome::Imported { .. }),
            "{:?}",
            synced.outcome
        );
        asked.push(peers.requests);
        peers.close();
    }
    // The head that tells the kind is the head synced: it is not asked for twice.
    assert_eq!(asked[0], asked[1], "{asked:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_lies_part_way_keeps_nothing_wrong_and_the_next_sends_only_the_rest() {
    let tmp = tempfile::tempdir().expect("tmp");
    // An artifact of 40 groups and a bit; the liar's copy goes wrong at three fifths of it.
    let real: Vec<u8> = (0..40 * 16_384 + 1_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut wrong = real.clone();
    let wrong_at = real.len() * 3 / 5;
    wrong[wrong_at] ^= 1;
    let a_dir = tmp.path().join("a");
    drop(Home::open(&a_dir).expect("home"));
    let mut a_store = cairn_core::store::Store::open(&a_dir).expect("store");
    let artifacts = a_dir.join("artifacts");
    let artifact = cairn_core::artifact::stage_from(&artifacts, &mut real.as_slice())
        .expect("stage")
        .keep(&mut a_store, &artifacts)
        .expect("keep");
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let serving = Blobs::new(&a_dir);
    let sent = serving.sent();
    let a_ep = net::endpoint(
        net::node_key(&a_dir).expect("key"),
        loopback,
        &MemoryLookup::new(),
    )
    .await
    .expect("endpoint");
    let a = Router::builder(a_ep.clone())
        .accept(wire::ALPN, Serve::new(&a_dir))
        .accept(blobs::ALPN, serving)
        .spawn();
    let liar = liar(9, vec![wire::NOT_HELD], encode(&real, &wrong)).await;
    let liar_ep = liar.endpoint().clone();

    let mut f = Home::open(&tmp.path().join("f")).expect("home");
    let (liar_addr, a_addr) = (net::own_addr(&liar_ep), net::own_addr(&a_ep));
    let client = net::client(&[liar_addr.clone(), a_addr.clone()])
        .await
        .expect("client");
    // The liar is asked first.
    let mut peers = in_order(&client, &[liar_addr, a_addr]).await;
    assert!(
        sync::fetch_artifact(&mut f, &mut peers, &artifact)
            .await
            .expect("fetch"),
        "from the honest peer"
    );
    let reasons = peers.skipped.join("\n");
    assert!(
        reasons.contains("do not match the artifact"),
        "the liar is named: {reasons}"
    );
    let kept =
        std::fs::read(f.dir().join("artifacts").join(artifact.cid.to_string())).expect("kept");
    assert!(kept == real, "the artifact kept is the real one");
    // The honest peer sent what the liar did not: from the group that went wrong on, with
    // its hashes, and not the part before it.
    let sent = sent.load(std::sync::atomic::Ordering::Relaxed);
    let rest = (real.len() - wrong_at / 16_384 * 16_384) as u64;
    assert!(
        sent >= rest && sent < rest + 16_384,
        "sent {sent} bytes for a rest of {rest}"
    );
    client.close().await;
    liar.shutdown().await.expect("shutdown");
    a.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_verified_apart_are_written_in_one_transaction_and_a_refused_one_alone_is_undone() {
    let (tmp, alice, alpha, mut home) = alice_publishes_alpha();
    publish_named(&mut home, &alice, tmp.path(), "beta", "1.0.0", T + 1);
    let beta = alice.index("beta");
    drop(home);
    let mut a = Node::start(&tmp.path().join("a")).await;
    let mut b = Node::start(&tmp.path().join("b")).await;
    let mut peers = b.dial(&[&a]).await;
    // Both are verified here while neither is written...
    let stale = sync::fetch_any(&mut b.home, &mut peers, &alpha)
        .await
        .expect("fetch alpha");
    let fresh = sync::fetch_any(&mut b.home, &mut peers, &beta)
        .await
        .expect("fetch beta");
    assert_eq!(b.head(&alpha), None, "a fetch writes nothing");
    assert_eq!(b.head(&beta), None, "a fetch writes nothing");
    // ...and meanwhile alpha moves on here, so the verified alpha is now a rollback.
    a.publish(&alice, tmp.path(), "1.0.1", T + 2);
    assert!(matches!(
        b.sync(&[&a], &alpha).await,
        SyncOutcome::Imported { head: 2, .. }
    ));
    let written = sync::write_fetched(&mut b.home, vec![stale, fresh]).expect("transaction");
    peers.close();
    assert_eq!(written.len(), 2);
    assert_eq!(written[0].0, alpha.to_string());
    assert!(
        matches!(
            written[0].1,
            Err(cairn_core::store::StoreError::Rollback {
                high_water: 2,
                offered: 1,
                ..
            })
        ),
        "{:?}",
        written[0].1
    );
    assert_eq!(written[1].0, beta.to_string());
    assert!(
        matches!(written[1].1, Ok(SyncOutcome::Imported { head: 1, .. })),
        "{:?}",
        written[1].1
    );
    assert_eq!(
        b.head(&alpha).map(|h| h.0),
        Some(2),
        "the refused log is undone alone"
    );
    assert_eq!(b.head(&beta).map(|h| h.0), Some(1), "the other log is kept");
}
