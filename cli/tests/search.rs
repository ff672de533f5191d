//! `cairn search` against a running indexing node's HTTP API on loopback.

use std::net::SocketAddr;
use std::process::Command;

use cairn_core::home::Home;
use cairn_core::testing::{Person, T, create_in, publish_package};

/// Serves the home at `dir` over HTTP on loopback, in the background.
fn serve(dir: std::path::PathBuf) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            axum::serve(listener, cairn_indexer::http::router(dir))
                .await
                .expect("serve");
        });
    });
    addr
}

fn cairn(args: &[&str]) -> (bool, String, String) {
    run(Command::new(env!("CARGO_BIN_EXE_cairn")).args(args))
}

/// Runs `command` without the caller's `CAIRN_HOME`: whether it succeeded, and its output.
fn run(command: &mut Command) -> (bool, String, String) {
    let out = command
        .env_remove("CAIRN_HOME")
        .output()
        .expect("run cairn");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn search_asks_an_indexing_node() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("node");
    let mut home = Home::open(&dir).expect("home");
    let alice = Person::new(1);
    create_in(&alice, &mut home);
    publish_package(&mut home, &alice, tmp.path(), "alpha", "1.0.0");
    drop(home);
    cairn_indexer::search::reindex(&dir, None, T).expect("reindex");
    let url = format!("http://{}", serve(dir));

    let (ok, out, err) = cairn(&["search", "alpha", "--indexer", &url, "--json"]);
    assert!(ok, "{err}");
    let results: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(results[0]["index"], alice.index("alpha").to_string());
    let (ok, out, _) = cairn(&["search", "alpha 1.0", "--indexer", &url]);
    assert!(ok);
    assert!(
        out.starts_with(&format!("{} 1.0.0", alice.index("alpha"))),
        "{out}"
    );
    let (ok, _, err) = cairn(&["search", "zzz", "--indexer", &url]);
    assert!(ok);
    assert!(err.contains("nothing matches `zzz`"), "{err}");
    // The node's refusal, and addresses that cannot work, are said plainly.
    let (ok, _, err) = cairn(&["search", "alpha", "--indexer", &url, "--limit", "1000"]);
    assert!(!ok);
    assert!(err.contains("refused the search (400)"), "{err}");
    let (ok, _, err) = cairn(&["search", "alpha", "--indexer", "https://example.invalid"]);
    assert!(!ok);
    assert!(err.contains("only http:// is supported"), "{err}");
    let (ok, _, err) = cairn(&["search", "alpha", "--indexer", "127.0.0.1:1"]);
    assert!(!ok);
    assert!(
        err.contains("neither an indexer's HTTP address nor a peer"),
        "{err}"
    );
}

/// Runs `cairn` with the home `home` as a script would (passphrase from the environment).
fn cairn_in(home: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    run(Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env("CAIRN_PASSPHRASE", "test passphrase")
        .env("CAIRN_KDF_INSECURE_FOR_TESTS", "1"))
}

#[test]
fn a_publisher_pushes_to_an_indexing_node_and_search_finds_it_over_http_and_peers() {
    let tmp = tempfile::tempdir().expect("tmp");
    let idx_dir = tmp.path().join("indexer");
    // An indexing node that shares no gossip swarm with the publisher.
    let (started, addrs) = std::sync::mpsc::channel();
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let dir = idx_dir.clone();
    let node = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let config = cairn_indexer::node::Config::loopback(&dir, Vec::new());
            let indexer = cairn_indexer::node::Indexer::start(config)
                .await
                .expect("indexer");
            started
                .send((
                    indexer.addr().to_string(),
                    indexer.http_addr().expect("http"),
                ))
                .expect("send");
            let _ = tokio::task::spawn_blocking(move || stopped.recv()).await;
            indexer.shutdown().await;
        });
    });
    let (peer, http) = addrs.recv().expect("the indexer started");
    let url = format!("http://{http}");

    let home = tmp.path().join("publisher");
    let (ok, id, err) = cairn_in(&home, &["id", "new"]);
    assert!(ok, "{err}");
    let id = id.lines().next().expect("an identity").to_owned();
    let pkg = tmp.path().join("pushy");
    std::fs::create_dir_all(&pkg).expect("dir");
    std::fs::write(
        pkg.join("cairn.toml"),
        "[package]\nname = \"pushy\"\nversion = \"1.0.0\"\ndescription = \"Pushed, never gossiped\"\n",
    )
    .expect("manifest");
    std::fs::write(pkg.join("pushy.txt"), "pushy\n").expect("file");
    let pkg = pkg.to_str().expect("utf-8");

    // A bad peer is refused before anything is signed.
    let (ok, _, err) = cairn_in(&home, &["publish", "--path", pkg, "--push", "nobody"]);
    assert!(!ok);
    assert!(err.contains("is not a peer"), "{err}");
    let (ok, _, _) = cairn_in(&home, &["show", &format!("{id}:pushy")]);
    assert!(!ok, "nothing was published");

    let (ok, out, err) = cairn_in(&home, &["publish", "--path", pkg, "--push", &peer]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("pushed {id}:pushy seq 1 to")) && out.contains(": fetching"),
        "{out}"
    );
    // The indexer fetched it from the publisher while the command waited, and indexes it.
    let mut found = String::new();
    for _ in 0..100 {
        let (ok, out, _) = cairn(&["search", "pushed", "--indexer", &url, "--json"]);
        if ok && out.contains(&format!("{id}:pushy")) {
            found = out;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!found.is_empty(), "search never found the pushed package");
    // The same search over the peer network, by the node's endpoint ID.
    let (ok, out, err) = cairn(&["search", "pushed", "--indexer", &peer, "--json"]);
    assert!(ok, "{err}");
    let over_peers: serde_json::Value = serde_json::from_str(&out).expect("json");
    let over_http: serde_json::Value = serde_json::from_str(&found).expect("json");
    assert_eq!(over_peers, over_http, "the same answer both ways");
    let (ok, out, _) = cairn(&["search", "pushed", "--indexer", &peer]);
    assert!(ok && out.contains("Pushed, never gossiped"), "{out}");
    let long = "x".repeat(300);
    let (ok, _, err) = cairn(&["search", &long, "--indexer", &peer]);
    assert!(!ok);
    assert!(
        err.contains("refused the search") && err.contains("256"),
        "{err}"
    );
    let (ok, _, err) = cairn(&["search", "pushed", "--indexer", "nowhere"]);
    assert!(!ok);
    assert!(
        err.contains("http://HOST:PORT or ENDPOINT-ID@IP:PORT"),
        "{err}"
    );

    // Announcing again: the indexer holds it already.
    let (ok, out, err) = cairn_in(&home, &["announce", "--to", &peer, "--json"]);
    assert!(ok, "{err}");
    let verdicts: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(verdicts[0]["log"], format!("{id}:pushy"));
    assert_eq!(verdicts[0]["verdict"], "held");
    let (ok, _, err) = cairn_in(&home, &["announce", "--to", &peer, "nope"]);
    assert!(!ok);
    assert!(err.contains("nope"), "{err}");

    stop.send(()).expect("stop");
    node.join().expect("the indexer stopped");
}
