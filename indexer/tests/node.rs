//! The indexing node end to end on loopback: a publisher's node announces, the indexer fetches
//! and verifies what it hears (and what a curated index admits), search finds the package with
//! its curator, a yank reaches the API and the page, a peer serving an old head is named there,
//! fork evidence shows everywhere the index appears, and a restart keeps everything without
//! fetching it again.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use cairn_core::home::Home;
use cairn_core::testing::{Person, T, create_in};
use cairn_indexer::node::{Config, Indexer};
use cairn_protocol::name::IndexName;

mod common;

use common::{publish_fetchy, publisher, yank};

/// `GET path` off the runtime's workers: status and body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let (status, _, body) = common::get(addr, &path, "*/*");
        (status, String::from_utf8_lossy(&body).into_owned())
    })
    .await
    .expect("get")
}

/// Waits up to `secs` for `path` to answer a body for which `check` holds; the body.
async fn until(addr: SocketAddr, path: &str, secs: u64, check: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let (status, body) = get(addr, path).await;
        if status == 200 && check(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "`{path}` never matched; last answer {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start(dir: &Path, peers: Vec<cairn_core::net::Peer>) -> Indexer {
    Indexer::start(Config::loopback(dir, peers))
        .await
        .expect("indexer")
}

/// The API: the index with its curators, a release record, the curated index, heads paged, an
/// identity, and a bad name refused.
async fn check_api(
    http: SocketAddr,
    idx_dir: &Path,
    alice: &Person,
    fetchy: &IndexName,
    community: &IndexName,
) {
    let (status, body) = get(http, &format!("/api/v1/index/{fetchy}")).await;
    assert_eq!(status, 200, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(view["curators"][0]["curator"], community.to_string());
    assert_eq!(view["curators"][0]["alias"], "fetch");
    assert_eq!(view["releases"].as_array().map(Vec::len), Some(2));
    let (status, body) = get(http, &format!("/api/v1/index/{fetchy}/release/1.0.0")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Fetches things over HTTP"), "{body}");
    let (status, body) = get(http, &format!("/api/v1/index/{community}")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"alias\":\"fetch\""), "{body}");
    let (_, first) = get(http, "/api/v1/heads?limit=1").await;
    let first: serde_json::Value = serde_json::from_str(&first).expect("json");
    let next = first["next"].as_str().expect("a next page");
    let (_, second) = get(http, &format!("/api/v1/heads?limit=1000&after={next}")).await;
    let second: serde_json::Value = serde_json::from_str(&second).expect("json");
    assert!(second["next"].is_null());
    let listed = 1 + second["heads"].as_array().map_or(0, Vec::len);
    let held = Home::open(idx_dir)
        .expect("home")
        .heads()
        .expect("heads")
        .len();
    assert_eq!(listed, held, "the pages list every head once");
    let (status, body) = get(http, &format!("/api/v1/identity/{}", alice.id())).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&fetchy.to_string()));
    let (status, _) = get(http, "/api/v1/index/nope").await;
    assert_eq!(status, 400);
}

/// A peer (serving the home at `stale`, one revision behind) announces a newer head of `index`
/// and serves its old one: refused, and the API and the page name it.
async fn check_rollback(indexer: &Indexer, idx_dir: &Path, stale_dir: &Path, index: &IndexName) {
    let http = indexer.http_addr().expect("http");
    let (held, _) = Home::open(idx_dir)
        .expect("home")
        .head(&index.to_string())
        .expect("head")
        .expect("held");
    let liar = cairn_core::testing::FalseAnnouncer::start(
        stale_dir,
        &indexer.addr(),
        &cairn_protocol::wire::Announcement {
            kind: cairn_protocol::wire::Announced::Head,
            log: index.to_string(),
            seq: held + 1,
            payload: cairn_protocol::cid::Cid::of_record(b"\xa0"),
        },
    )
    .await
    .expect("liar");
    let liar_id = cairn_core::net::node_key(stale_dir)
        .expect("key")
        .public()
        .to_string();
    let state = until(http, &format!("/api/v1/index/{index}"), 30, |b| {
        b.contains("\"rollbacks\"")
    })
    .await;
    let state: serde_json::Value = serde_json::from_str(&state).expect("json");
    assert_eq!(state["seq"], held, "the old head changed nothing");
    assert_eq!(state["rollbacks"][0]["source"], liar_id.as_str());
    assert_eq!(state["rollbacks"][0]["offered"], held - 1);
    assert_eq!(state["rollbacks"][0]["held"], held);
    let (_, page) = get(http, &format!("/package/{index}")).await;
    assert!(page.contains("id=\"rollback-warning\""), "{page}");
    assert!(page.contains(&liar_id), "{page}");
    assert!(
        page.contains("class=\"tag yanked\""),
        "the yank stays: {page}"
    );
    liar.shutdown().await;

    // A peer that announces a newer head and serves nothing: the fetch fails, and its next
    // announcements of that index are dropped for a while (the ingest API says so).
    let silent = cairn_core::testing::FalseAnnouncer::start_with(
        stale_dir,
        &indexer.addr(),
        &cairn_protocol::wire::Announcement {
            kind: cairn_protocol::wire::Announced::Head,
            log: index.to_string(),
            seq: held + 2,
            payload: cairn_protocol::cid::Cid::of_record(b"\xa0"),
        },
        false,
    )
    .await
    .expect("silent");
    let ingest = until(http, "/api/v1/ingest", 30, |b| b.contains("throttled\":1")).await;
    let ingest: serde_json::Value = serde_json::from_str(&ingest).expect("json");
    assert_eq!(ingest["logs"][0]["log"], index.to_string());
    assert_eq!(ingest["logs"][0]["state"], "throttled");
    assert_eq!(ingest["logs"][0]["failures"], 1);
    let (_, health) = get(http, "/health").await;
    assert!(health.contains("\"throttled\":1"), "{health}");
    silent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_indexer_hears_crawls_ranks_serves_and_restarts_without_refetching() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (pub_dir, alice, fetchy, community) = publisher(tmp.path());
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let node = cairn_core::net::Node::start(&pub_dir, loopback, &[])
        .await
        .expect("publisher node");
    let idx_dir = tmp.path().join("indexer");
    let indexer = start(&idx_dir, vec![node.addr()]).await;
    let http = indexer.http_addr().expect("http");

    // The indexer knew nothing: it hears the heads, fetches and verifies them, and search
    // finds the package by keyword with its curator beside it.
    let found = until(http, "/api/v1/search?q=http", 30, |b| {
        b.contains(&community.to_string())
    })
    .await;
    let hits: serde_json::Value = serde_json::from_str(&found).expect("json");
    assert_eq!(hits["results"][0]["index"], fetchy.to_string());
    assert_eq!(hits["results"][0]["latest"], "1.1.0");
    let by_alias = until(http, "/api/v1/search?q=fetch", 5, |b| b.contains("fetchy")).await;
    assert!(by_alias.contains("\"exact\":true"), "{by_alias}");

    check_api(http, &idx_dir, &alice, &fetchy, &community).await;

    // A yank travels by announcement and reaches the page.
    let mut pub_home = Home::open(&pub_dir).expect("home");
    let stale_dir = tmp.path().join("stale");
    let before_yank = cairn_core::exchange::export(&pub_home, &fetchy.to_string()).expect("export");
    cairn_core::exchange::import(
        &mut Home::open(&stale_dir).expect("home"),
        std::io::Cursor::new(before_yank),
    )
    .expect("import");
    yank(&mut pub_home, &alice, &fetchy, "1.0.0", T + 5);
    let page = until(http, &format!("/package/{fetchy}"), 30, |b| {
        b.contains("broken TLS")
    })
    .await;
    assert!(page.contains("class=\"tag yanked\""), "{page}");
    assert!(!page.contains("fork-warning"));

    check_rollback(&indexer, &idx_dir, &stale_dir, &fetchy).await;

    // The same publisher signs another revision with the same seq elsewhere; the evidence
    // arrives here (as a hand-carried bundle) and shows in the API, search and the page.
    let twin_dir = tmp.path().join("twin");
    let mut twin = Home::open(&twin_dir).expect("home");
    let bundle = cairn_core::exchange::export(&pub_home, &fetchy.to_string()).expect("export");
    cairn_core::exchange::import(&mut twin, std::io::Cursor::new(bundle)).expect("import");
    create_in(&alice, &mut twin);
    publish_fetchy(
        &mut pub_home,
        &alice,
        &tmp.path().join("one"),
        "1.2.0",
        T + 10,
    );
    publish_fetchy(&mut twin, &alice, &tmp.path().join("two"), "1.3.0", T + 10);
    until(http, &format!("/api/v1/index/{fetchy}"), 30, |b| {
        b.contains("\"version\":\"1.2.0\"")
    })
    .await;
    let evidence = cairn_core::exchange::export(&twin, &fetchy.to_string()).expect("export");
    let mut idx_home = Home::open(&idx_dir).expect("home");
    cairn_core::exchange::import(&mut idx_home, std::io::Cursor::new(evidence)).expect("import");
    let (_, forks) = get(http, "/api/v1/forks").await;
    assert!(forks.contains(&fetchy.to_string()), "{forks}");
    let page = until(http, &format!("/package/{fetchy}"), 10, |b| {
        b.contains("fork-warning")
    })
    .await;
    assert!(page.contains("Fork warning"), "{page}");
    until(http, "/api/v1/search?q=fetchy", 10, |b| {
        b.contains("\"status\":\"forked\"")
    })
    .await;
    let (_, metrics) = get(http, "/metrics").await;
    assert!(metrics.contains("cairn_indexer_forks 1"), "{metrics}");
    assert!(
        metrics.contains("cairn_indexer_heads{kind=\"package-index\"} 1"),
        "{metrics}"
    );

    // A restart: everything stays, and what is held is not fetched again.
    let before = Home::open(&idx_dir).expect("home").heads().expect("heads");
    indexer.shutdown().await;
    let indexer = start(&idx_dir, vec![node.addr()]).await;
    let http = indexer.http_addr().expect("http");
    until(http, "/api/v1/search?q=http", 10, |b| b.contains("fetchy")).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // The publisher re-announces to it.
    assert_eq!(
        indexer
            .metrics()
            .ingested
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "nothing held was fetched again"
    );
    assert_eq!(
        Home::open(&idx_dir).expect("home").heads().expect("heads"),
        before
    );
    indexer.shutdown().await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_indexers_that_each_heard_half_converge_by_reconciliation() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (pub_dir, _, fetchy, community) = publisher(tmp.path());
    let bob = Person::new(2);
    let bob_dir = tmp.path().join("bob");
    let mut bob_home = Home::open(&bob_dir).expect("home");
    create_in(&bob, &mut bob_home);
    cairn_core::testing::publish_package(&mut bob_home, &bob, tmp.path(), "other", "1.0.0");
    drop(bob_home);
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let one = cairn_core::net::Node::start(&pub_dir, loopback, &[])
        .await
        .expect("node");
    let two = cairn_core::net::Node::start(&bob_dir, loopback, &[])
        .await
        .expect("node");
    // X hears only the first publisher, Y only the second.
    let x = start(&tmp.path().join("x"), vec![one.addr()]).await;
    let x_http = x.http_addr().expect("http");
    until(x_http, "/api/v1/search?q=fetchy", 30, |b| {
        b.contains("fetchy")
    })
    .await;
    let mut config = cairn_indexer::node::Config::loopback(&tmp.path().join("y"), vec![two.addr()]);
    config.reconcile = vec![format!("http://{x_http}")];
    config.reconcile_every = Duration::from_millis(500);
    let y = Indexer::start(config).await.expect("y");
    let y_http = y.http_addr().expect("http");
    until(y_http, "/api/v1/search?q=other", 30, |b| {
        b.contains(":other")
    })
    .await;
    // Y lists X's heads and fetches, from X's node, what it lacks: the curated index too.
    let found = until(y_http, "/api/v1/search?q=fetchy", 30, |b| {
        b.contains(&community.to_string())
    })
    .await;
    assert!(found.contains(&fetchy.to_string()), "{found}");
    // X reconciles with Y once, by hand: it gets the second publisher's index.
    let moved = cairn_indexer::node::reconcile(&tmp.path().join("x"), &format!("http://{y_http}"))
        .await
        .expect("reconcile");
    assert_eq!(moved, 1, "one index was missing on X");
    let again = cairn_indexer::node::reconcile(&tmp.path().join("x"), &format!("http://{y_http}"))
        .await
        .expect("reconcile");
    assert_eq!(again, 0, "nothing is fetched twice");
    let heads = |n: &str| {
        let mut h: Vec<(String, u64)> = Home::open(&tmp.path().join(n))
            .expect("home")
            .heads()
            .expect("heads")
            .into_iter()
            .map(|(log, seq, ..)| (log, seq))
            .collect();
        h.sort();
        h
    };
    assert_eq!(heads("x"), heads("y"), "the two converged");
    let (_, health) = get(y_http, "/health").await;
    assert!(health.contains("\"reconciled\":"), "{health}");
    for i in [x, y] {
        i.shutdown().await;
    }
    one.shutdown().await;
    two.shutdown().await;
}

#[test]
fn the_binary_keeps_serving_when_nobody_reads_its_stderr() {
    let tmp = tempfile::tempdir().expect("tmp");
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cairn-indexer"))
        .args([
            "run",
            "--listen",
            "127.0.0.1:0",
            "--http",
            &addr.to_string(),
        ])
        .arg("--home")
        .arg(tmp.path().join("home"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cairn-indexer starts");
    // The pipe is closed at once: every line the node writes to it fails.
    drop(child.stderr.take());
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the node stopped when its stderr closed"
        );
        assert!(started.elapsed() < Duration::from_secs(30), "never served");
        std::thread::sleep(Duration::from_millis(50));
    }
    // It has printed where it serves by now (after it started serving); it still runs.
    std::thread::sleep(Duration::from_millis(500));
    let status = child.try_wait().expect("wait");
    let (health, ..) = common::get(addr, "/health", "*/*");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, None, "the node stopped when its stderr closed");
    assert_eq!(health, 200);
}
