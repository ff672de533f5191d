//! An indexing node killed with `kill -9` in the middle of an ingest loses nothing it stored,
//! holds nothing half-written, and after a restart fetches exactly what it still lacked.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_core::home::Home;
use cairn_core::store::Store;
use cairn_core::testing::{Person, signed_index};

mod common;

const INDEXES: usize = 400;

/// A source home holding [`INDEXES`] version indexes of two revisions each.
fn source(dir: &Path) {
    let mut store = Store::open(dir).expect("store");
    let people: Vec<Person> = (0..8).map(|i| Person::new(40 + i)).collect();
    for p in &people {
        store.import_identity(&p.envelopes).expect("identity");
    }
    for i in 0..INDEXES {
        let who = &people[i % people.len()];
        signed_index(&mut store, who, &format!("pkg{i}"), 2);
    }
}

fn version_indexes(dir: &Path) -> Vec<String> {
    Home::open(dir)
        .expect("home")
        .heads()
        .expect("heads")
        .into_iter()
        .filter(|(_, _, _, kind)| kind == "version-index")
        .map(|(log, ..)| log)
        .collect()
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

fn indexer(home: &Path, http: SocketAddr, source: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cairn-indexer"))
        .args(["run", "--home"])
        .arg(home)
        .args(["--listen", "127.0.0.1:0", "--http", &http.to_string()])
        .args(["--reconcile", source, "--reconcile-secs", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cairn-indexer starts")
}

#[test]
fn a_kill_mid_ingest_loses_nothing_and_a_restart_fetches_only_the_rest() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("source");
    source(&src);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let node = rt
        .block_on(cairn_core::net::Node::start(&src, loopback, &[]))
        .expect("node");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(loopback))
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let router = cairn_indexer::http::router_with(
        src.clone(),
        Arc::new(cairn_indexer::http::Metrics::default()),
        Some(node.addr()),
        cairn_indexer::limits::Http::default(),
    );
    rt.spawn(async move { axum::serve(listener, router).await });

    let home = tmp.path().join("indexer");
    let mut child = indexer(&home, free_port(), &url);
    let deadline = Instant::now() + Duration::from_mins(2);
    let before = loop {
        let held = if home.join("cairn.db").exists() {
            version_indexes(&home).len()
        } else {
            0
        };
        if held >= INDEXES / 10 {
            break held;
        }
        assert!(Instant::now() < deadline, "the ingest did not start");
        std::thread::sleep(Duration::from_millis(5));
    };
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    let kept = version_indexes(&home);
    assert!(kept.len() >= before, "nothing stored was lost");
    assert!(
        kept.len() < INDEXES,
        "killed mid-ingest ({} of {INDEXES} held)",
        kept.len()
    );
    // Everything held verifies from the store: no half-written log.
    let h = Home::open(&home).expect("home");
    for log in &kept {
        assert!(
            cairn_core::inspect::verify_log(&h, log).is_ok(),
            "{log} verifies"
        );
    }
    drop(h);

    let http = free_port();
    let mut child = indexer(&home, http, &url);
    let deadline = Instant::now() + Duration::from_mins(2);
    while version_indexes(&home).len() < INDEXES {
        assert!(
            Instant::now() < deadline,
            "the restart did not finish the ingest"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The restarted node fetched exactly the indexes it still lacked.
    let deadline = Instant::now() + Duration::from_secs(30);
    let reconciled = loop {
        if let Ok(s) = std::net::TcpStream::connect(http) {
            drop(s);
            let (_, _, body) = common::get(http, "/health", "*/*");
            let n = common::json(&body)["reconciled"].as_u64().unwrap_or(0);
            if n >= (INDEXES - kept.len()) as u64 {
                break n;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the health report never caught up"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(reconciled, (INDEXES - kept.len()) as u64);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    child.wait().expect("stopped");
    rt.block_on(node.shutdown());
}
