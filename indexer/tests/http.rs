//! The HTTP API on loopback: search results as JSON, JSON errors, health, and blocks by CID as
//! raw bytes or as a CAR that a standard reader reads and whose every block hashes to its CID.

use cairn_core::home::Home;
use cairn_core::testing::{Person, T, create_in, publish_package};

mod common;

use common::{get, json};

#[test]
fn search_health_and_blocks_over_http() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("home");
    let mut home = Home::open(&dir).expect("home");
    let alice = Person::new(1);
    create_in(&alice, &mut home);
    publish_package(&mut home, &alice, tmp.path(), "alpha", "1.0.0");
    let index = alice.index("alpha");
    let release = cairn_core::inspect::show(&home, &index)
        .expect("show")
        .expect("held")
        .releases[0]
        .release;
    drop(home);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = cairn_indexer::http::router(dir.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            listener.set_nonblocking(true).expect("nonblocking");
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            axum::serve(listener, router).await.expect("serve");
        });
    });

    // Before an index exists, search says how to build one; health says it is missing.
    let (status, _, body) = get(addr, "/api/v1/search?q=alpha", "*/*");
    assert_eq!(status, 503);
    assert!(
        json(&body)["detail"]
            .as_str()
            .expect("detail")
            .contains("reindex")
    );
    assert_eq!(json(&get(addr, "/health", "*/*").2)["search"], false);

    cairn_indexer::search::reindex(&dir, None, T).expect("reindex");
    let (status, content_type, body) = get(addr, "/api/v1/search?q=alpha&limit=5", "*/*");
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(json(&body)["results"][0]["index"], index.to_string());
    let (status, _, body) = get(addr, "/api/v1/search?q=alpha&limit=1000", "*/*");
    assert_eq!(status, 400);
    assert_eq!(json(&body)["status"], 400);
    assert_eq!(json(&get(addr, "/health", "*/*").2)["search"], true);

    // A block, exactly; as a CAR whose block hashes to its CID; refusals.
    let (status, content_type, body) = get(addr, &format!("/ipfs/{release}?format=raw"), "*/*");
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/vnd.ipld.raw")
    );
    assert!(release.matches(&body), "exactly the block");
    let (status, content_type, body) = get(
        addr,
        &format!("/ipfs/{release}"),
        "application/vnd.ipld.car",
    );
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/vnd.ipld.car")
    );
    let (roots, blocks) = read_car(&body);
    assert_eq!(roots, vec![release.to_string()]);
    assert_eq!(blocks.len(), 1, "the block asked for, and only it");
    for block in &blocks {
        assert_eq!(block.cid, release.to_string());
        assert_eq!(block.hash_code, 0x1e, "BLAKE3");
        assert_eq!(block.digest, blake3::hash(&block.bytes).as_bytes());
    }
    let missing = cairn_protocol::cid::Cid::of_record(b"\xa0");
    assert_eq!(
        get(addr, &format!("/ipfs/{missing}?format=raw"), "*/*").0,
        404
    );
    assert_eq!(get(addr, "/ipfs/not-a-cid?format=raw", "*/*").0, 400);
    assert_eq!(
        get(addr, &format!("/ipfs/{release}?format=dag-json"), "*/*").0,
        400
    );
    assert_eq!(get(addr, "/nowhere", "*/*").0, 404);
}

/// A block as a CAR reader from outside Cairn sees it.
struct Block {
    cid: String,
    hash_code: u64,
    digest: Vec<u8>,
    bytes: Vec<u8>,
}

/// Reads a CAR with a reader from outside Cairn (the iroh team's `iroh-car`): its roots as text
/// and every block.
fn read_car(body: &[u8]) -> (Vec<String>, Vec<Block>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut car = iroh_car::CarReader::new(body)
            .await
            .expect("a standard CAR");
        let roots = car
            .header()
            .roots()
            .iter()
            .map(ToString::to_string)
            .collect();
        let mut blocks = Vec::new();
        while let Some((cid, bytes)) = car.next_block().await.expect("a block") {
            blocks.push(Block {
                cid: cid.to_string(),
                hash_code: cid.hash().code(),
                digest: cid.hash().digest().to_vec(),
                bytes,
            });
        }
        (roots, blocks)
    })
}
