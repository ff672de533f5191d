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
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
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
    assert!(err.contains("pass http://HOST:PORT"), "{err}");
}
