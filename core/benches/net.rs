//! Network benchmark (prints figures; not a test), two iroh endpoints on loopback:
//!
//! - raw stream throughput: one stream carrying one gibibyte, nothing else (the anchor);
//! - our artifact fetch of one gibibyte between the same kind of endpoints, over the iroh-blobs
//!   protocol: served from the home's artifact file and its tree of hashes, each 16 KiB group
//!   checked against the CID as it arrives, written to a temporary file, synced, renamed (three
//!   rounds, each taking turns with the raw stream; before them, one fetch in which the server
//!   first computes the artifact's tree of hashes, as it does once per artifact);
//! - staging one gibibyte from memory (hash, write, sync: the disk's floor), and from it the
//!   bound on the fetch's share of the raw stream: the raw stream's CPU time plus the staging's,
//!   spread over every core;
//! - our sync of a version index of 10,000 small revisions (each with its release record),
//!   against the single-core rate of re-verifying the same chain from genesis, and against
//!   importing it from a local bundle (the same verifying and writing, with no network);
//! - connection setup (dial and one request).
//!
//! Targets: the artifact fetch at 80% or more of the raw stream; the sync limited by
//! verification, not by round trips.
//!
//! Run: `cargo bench -p cairn-core --bench net`.

// Rates are far below 2^52.
#![allow(clippy::cast_precision_loss)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cairn_core::artifact::{Receiving, Stager};
use cairn_core::home::Home;
use cairn_core::net::sync::{self, Peers};
use cairn_core::net::{self, Node};
use cairn_core::store::Store;
use cairn_core::testing::{Person, cpu, release_record};
use cairn_protocol::index::Tip;
use cairn_protocol::index::version::VersionIndex;
use cairn_protocol::wire;
use iroh::address_lookup::memory::MemoryLookup;
use iroh::endpoint::Connection;
use iroh::protocol::{AcceptError, ProtocolHandler, Router};

const GIB: u64 = 1 << 30;
const REVISIONS: u64 = 10_000;
/// Rounds of raw stream and artifact fetch.
const ROUNDS: usize = 3;
const RAW_ALPN: &[u8] = b"cairn-bench/raw";

/// Sends one gibibyte on every stream opened to it.
#[derive(Debug, Clone)]
struct Source;

impl ProtocolHandler for Source {
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        while let Ok((mut send, mut recv)) = conn.accept_bi().await {
            let _ = recv.read_to_end(16).await;
            let chunk = vec![7u8; 1 << 16];
            let mut left = GIB;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                if send.write_all(&chunk[..n]).await.is_err() {
                    break;
                }
                left -= n as u64;
            }
            let _ = send.finish();
            let _ = send.stopped().await;
        }
        Ok(())
    }
}

fn rate(bytes: u64, d: Duration) -> String {
    format!(
        "{:.0} MiB/s",
        bytes as f64 / f64::from(1u32 << 20) / d.as_secs_f64()
    )
}

/// The anchor: one gibibyte on one raw stream between two endpoints.
async fn raw_stream(loopback: SocketAddr) -> Duration {
    let server = net::endpoint(
        iroh::SecretKey::from_bytes(&[1; 32]),
        loopback,
        &MemoryLookup::new(),
    )
    .await
    .expect("endpoint");
    let router = Router::builder(server.clone())
        .accept(RAW_ALPN, Source)
        .spawn();
    let client = net::client(&[net::own_addr(&server)])
        .await
        .expect("client");
    let conn = client
        .connect(net::own_addr(&server).endpoint_addr(), RAW_ALPN)
        .await
        .expect("connect");
    let t = Instant::now();
    let (mut send, mut recv) = conn.open_bi().await.expect("stream");
    send.write_all(b"go").await.expect("ask");
    send.finish().expect("finish");
    let mut got = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    while let Some(n) = recv.read(&mut buf).await.expect("read") {
        got += n as u64;
    }
    let raw = t.elapsed();
    assert_eq!(got, GIB);
    router.shutdown().await.expect("shutdown");

    raw
}

/// A home holding a one-gibibyte artifact and a version index of [`REVISIONS`] revisions,
/// each releasing one version with its record.
fn source_home(
    a_dir: &std::path::Path,
) -> (
    cairn_protocol::release::Artifact,
    cairn_protocol::name::IndexName,
) {
    let mut store = Store::open(a_dir).expect("store");
    let artifacts = a_dir.join("artifacts");
    let mut out = Stager::new(&artifacts).expect("stager");
    std::io::copy(&mut std::io::Read::take(std::io::repeat(7), GIB), &mut out).expect("write");
    let staged = out.finish().expect("finish");
    let artifact = staged.artifact().clone();
    staged.keep(&mut store, &artifacts).expect("keep");

    // A version index of 10,000 revisions, each releasing one version with its record.
    let alice = Person::new(1);
    store.import_identity(&alice.envelopes).expect("identity");
    let index = alice.index("many");
    let mut tip: Option<Tip<VersionIndex>> = None;
    let mut envelopes = Vec::new();
    for i in 0..REVISIONS {
        let op = release_record(&mut store, "many", &format!("0.{i}.0"), &[]);
        let (env, next) = alice.sign(tip.as_ref(), &index, vec![op]);
        envelopes.push(env);
        tip = Some(next);
    }
    store
        .import_index::<VersionIndex>(&index, &envelopes)
        .expect("import");
    drop(store);
    (artifact, index)
}

/// The sync's anchors: re-verifying the synced chain on one core, and importing the same
/// chain from a local bundle into a fresh home at `c_dir` (verifying and writing, no network).
fn sync_anchors(
    b: &Home,
    a_dir: &std::path::Path,
    c_dir: &std::path::Path,
    index: &cairn_protocol::name::IndexName,
) -> (Duration, Duration) {
    let t = Instant::now();
    cairn_core::inspect::verify_log(b, &index.to_string()).expect("re-verify");
    let verify = t.elapsed();
    let bundle =
        cairn_core::exchange::export(&Home::open(a_dir).expect("home"), &index.to_string())
            .expect("export");
    let mut c = Home::open(c_dir).expect("home");
    let t = Instant::now();
    cairn_core::exchange::import(&mut c, std::io::Cursor::new(&bundle)).expect("import");
    (verify, t.elapsed())
}

/// Connection setup: dial and one request (an up-to-date sync), averaged over 20.
async fn setup_time(
    ep: &iroh::Endpoint,
    peer: &net::Peer,
    b: &mut Home,
    index: &cairn_protocol::name::IndexName,
) -> Duration {
    let t = Instant::now();
    for _ in 0..20 {
        let conn = ep
            .connect(peer.endpoint_addr(), wire::ALPN)
            .await
            .expect("connect");
        let mut one = Peers::from_connections(ep, vec![(peer.endpoint_addr(), conn)]);
        let _ = sync::sync_index::<VersionIndex>(b, &mut one, index).await;
        one.close();
    }
    t.elapsed() / 20
}

/// The floor the disk and hashing set: one gibibyte from memory hashed (BLAKE3, as the checks
/// of a fetch hash it), written and synced as a fetch writes it, into `dir`; wall and CPU time.
fn floor(
    dir: &std::path::Path,
    artifact: &cairn_protocol::release::Artifact,
) -> (Duration, Duration) {
    let (t, c) = (Instant::now(), cpu());
    let mut out = Receiving::start(dir, artifact).expect("receiving");
    let chunk = vec![7u8; 1 << 20];
    let mut hasher = blake3::Hasher::new();
    for _ in 0..GIB >> 20 {
        hasher.update(&chunk);
        out.append(&chunk).expect("append");
    }
    assert_eq!(hasher.finalize().as_bytes(), artifact.cid.digest());
    drop(out.finish().expect("the whole artifact"));
    (t.elapsed(), cpu().saturating_sub(c))
}

/// Removes the artifact from `home`, file and row, so that it is fetched again.
fn forget(home: &mut Home, artifact: &cairn_protocol::release::Artifact) {
    let _ = std::fs::remove_file(home.dir().join("artifacts").join(artifact.cid.to_string()));
}

/// Each round's raw stream and artifact fetch (wall and CPU time), and the median share.
fn print_rounds(rounds: &[(Duration, Duration, Duration, Duration)]) {
    for (raw, raw_cpu, fetch, fetch_cpu) in rounds {
        println!(
            "  raw stream, 1 GiB:              {:>8.2} s  {}  (CPU {:.2} s, both ends)",
            raw.as_secs_f64(),
            rate(GIB, *raw),
            raw_cpu.as_secs_f64()
        );
        println!(
            "  artifact fetch, 1 GiB:          {:>8.2} s  {}  (CPU {:.2} s; {:.0}% of the raw stream before it)",
            fetch.as_secs_f64(),
            rate(GIB, *fetch),
            fetch_cpu.as_secs_f64(),
            raw.as_secs_f64() / fetch.as_secs_f64() * 100.0
        );
    }
    let shares: Vec<f64> = rounds
        .iter()
        .map(|(raw, _, fetch, _)| raw.as_secs_f64() / fetch.as_secs_f64() * 100.0)
        .collect();
    println!(
        "  artifact fetch / raw stream, median of {ROUNDS} rounds: {:.0}% (target >= 80%)",
        median(&shares)
    );
}

/// The best share of the raw stream a fetch could reach in each round, and their median.
fn print_bound(rounds: &[(Duration, Duration, Duration, Duration)], floor_cpu: Duration) {
    // A fetch does the raw stream's work plus the staging's: with every core busy, it can go
    // no faster than that CPU time spread over the cores.
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let bounds: Vec<f64> = rounds
        .iter()
        .map(|(raw, raw_cpu, _, _)| {
            let best = (*raw_cpu + floor_cpu).as_secs_f64() / cores as f64;
            (raw.as_secs_f64() / best.max(raw.as_secs_f64()) * 100.0).min(100.0)
        })
        .collect();
    println!(
        "  a fetch's bound on {cores} cores:  {:.0}% of the raw stream at most (the raw stream's CPU plus the staging's, all cores busy; per round {})",
        median(&bounds),
        bounds
            .iter()
            .map(|b| format!("{b:.0}%"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let tmp = tempfile::tempdir().expect("tmp");
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("addr");

    let a_dir = tmp.path().join("a");
    let (artifact, index) = source_home(&a_dir);
    let (floor, floor_cpu) = floor(&tmp.path().join("floor"), &artifact);
    let node = Node::start(&a_dir, loopback, &[]).await.expect("node");
    let peer = node.addr();

    let b_dir = tmp.path().join("b");
    let mut b = Home::open(&b_dir).expect("home");
    let ep = net::client(std::slice::from_ref(&peer))
        .await
        .expect("client");
    let mut peers = Peers::dial(&ep, std::slice::from_ref(&peer))
        .await
        .expect("dial");
    // The first fetch of an artifact from a node builds the node's tree of hashes for it.
    let (t, c) = (Instant::now(), cpu());
    assert!(
        sync::fetch_artifact(&mut b, &mut peers, &artifact)
            .await
            .expect("fetch")
    );
    let first = (t.elapsed(), cpu().saturating_sub(c));
    // The raw stream and the fetch take turns, so that each pair ran on a machine in the
    // same state; the figures are each round's and the median ratio.
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let c = cpu();
        let raw = raw_stream(loopback).await;
        let raw_cpu = cpu().saturating_sub(c);
        forget(&mut b, &artifact);
        let (t, c) = (Instant::now(), cpu());
        assert!(
            sync::fetch_artifact(&mut b, &mut peers, &artifact)
                .await
                .expect("fetch")
        );
        rounds.push((raw, raw_cpu, t.elapsed(), cpu().saturating_sub(c)));
    }

    let (t, asked, waited) = (Instant::now(), peers.requests, peers.waited);
    sync::sync_index::<VersionIndex>(&mut b, &mut peers, &index)
        .await
        .expect("sync");
    let synced = t.elapsed();
    let (asked, waited) = (peers.requests - asked, peers.waited.saturating_sub(waited));
    assert_eq!(
        b.head(&index.to_string()).expect("head").map(|h| h.0),
        Some(REVISIONS)
    );
    let (verify, local) = sync_anchors(&b, &a_dir, &tmp.path().join("c"), &index);

    let setup = setup_time(&ep, &peer, &mut b, &index).await;
    peers.close();
    ep.close().await;
    node.shutdown().await;

    println!("network on loopback (two iroh endpoints, one machine)");
    println!(
        "  first artifact fetch, 1 GiB:    {:>8.2} s  {}  (CPU {:.2} s; the server hashes the artifact's tree first)",
        first.0.as_secs_f64(),
        rate(GIB, first.0),
        first.1.as_secs_f64()
    );
    print_rounds(&rounds);
    println!(
        "  staging 1 GiB from memory:      {:>8.2} s  {}  (CPU {:.2} s; hash, write, sync: the disk's floor)",
        floor.as_secs_f64(),
        rate(GIB, floor),
        floor_cpu.as_secs_f64()
    );
    print_bound(&rounds, floor_cpu);
    println!(
        "  sync, {REVISIONS} revisions:       {:>8.2} s  {:.0} revisions/s",
        synced.as_secs_f64(),
        REVISIONS as f64 / synced.as_secs_f64()
    );
    println!(
        "    of which waiting for answers: {:>6.2} s  ({asked} requests; the rest is verifying and writing)",
        waited.as_secs_f64()
    );
    println!(
        "  import the same chain from a local bundle: {:.2} s  {:.0} revisions/s  (verify and write, no network; sync / import = {:.2})",
        local.as_secs_f64(),
        REVISIONS as f64 / local.as_secs_f64(),
        local.as_secs_f64() / synced.as_secs_f64()
    );
    println!(
        "  re-verify the same chain, 1 core: {:>6.2} s  {:.0} revisions/s  (sync / verify = {:.2}; 1 would be verification bound)",
        verify.as_secs_f64(),
        REVISIONS as f64 / verify.as_secs_f64(),
        verify.as_secs_f64() / synced.as_secs_f64()
    );
    println!(
        "  connection setup + one request: {:>6.1} ms",
        setup.as_secs_f64() * 1000.0
    );
}
