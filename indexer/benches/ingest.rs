//! Ingest at scale: an indexing node with an empty home takes 10,000 version indexes (100
//! identities, ten revisions each, every revision releasing a version with its record: 100,000
//! revisions) from another node by reconciliation (its heads listed over HTTP, each index
//! fetched from its peer node and verified), side by side with the anchor: re-verifying the
//! same logs locally on one core, times the cores. Both nodes share this machine's cores.
//!
//! `cargo bench -p cairn-indexer --bench ingest` (`CAIRN_BENCH_INDEXES=N` for another size)

#![allow(clippy::cast_precision_loss)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use cairn_core::home::Home;
use cairn_core::store::Store;
use cairn_core::testing::{Person, cpu, signed_index};

const PER_INDEX: usize = 10;
const IDENTITIES: usize = 100;

/// Signs and stores `indexes` version indexes of [`PER_INDEX`] revisions in `dir`.
fn source(dir: &std::path::Path, indexes: usize) -> Vec<String> {
    let mut store = Store::open(dir).expect("store");
    let people: Vec<Person> = (0..IDENTITIES)
        .map(|i| Person::new(u8::try_from(10 + i).expect("fits")))
        .collect();
    for p in &people {
        store.import_identity(&p.envelopes).expect("identity");
    }
    let mut logs = Vec::with_capacity(indexes);
    for i in 0..indexes {
        let who = &people[i % IDENTITIES];
        let index = signed_index(&mut store, who, &format!("pkg{i}"), PER_INDEX);
        logs.push(index.to_string());
    }
    logs
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let indexes: usize = std::env::var("CAIRN_BENCH_INDEXES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let revisions = indexes * PER_INDEX;
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("source");
    println!(
        "ingest of {indexes} version indexes ({revisions} revisions, each releasing a version) by reconciliation, {cores} cores"
    );
    let clock = Instant::now();
    let logs = tokio::task::spawn_blocking({
        let src = src.clone();
        move || source(&src, indexes)
    })
    .await
    .expect("source");
    println!("  source built in {:.1} s", clock.elapsed().as_secs_f64());

    // The anchor: the core's verification of the same logs, one core.
    let home = Home::open(&src).expect("home");
    let (clock, used) = (Instant::now(), cpu());
    for log in &logs {
        let verdict = cairn_core::inspect::verify_log(&home, log);
        assert!(verdict.is_ok(), "{log}: {verdict:?}");
    }
    let (verify, verify_cpu) = (clock.elapsed(), cpu().saturating_sub(used));
    drop(home);
    #[allow(clippy::cast_precision_loss)]
    let verify_rate = revisions as f64 / verify.as_secs_f64();

    // The source serves its store to peers and lists its heads over HTTP.
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let node = cairn_core::net::Node::start(&src, loopback, &[])
        .await
        .expect("node");
    let listener = tokio::net::TcpListener::bind(loopback).await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let router = cairn_indexer::http::router_with(
        src.clone(),
        Arc::new(cairn_indexer::http::Metrics::default()),
        Some(node.addr()),
        cairn_indexer::limits::Http::default(),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });

    let mut rows = Vec::new();
    for workers in [1, cores, 4 * cores] {
        let dst = tmp.path().join(format!("ingest-{workers}"));
        let (clock, used) = (Instant::now(), cpu());
        let moved = cairn_indexer::node::reconcile_with(&dst, &url, workers)
            .await
            .expect("reconcile");
        let (took, spent) = (clock.elapsed(), cpu().saturating_sub(used));
        assert_eq!(moved, indexes, "every index arrived");
        #[allow(clippy::cast_precision_loss)]
        rows.push((workers, took, spent, revisions as f64 / took.as_secs_f64()));
    }
    // CPU per revision, both nodes together (they share this process): what ingest costs
    // besides verification, whatever else the machine was doing.
    let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / revisions as f64;
    println!(
        "  verify locally, 1 core:        {:>7.2} s  {verify_rate:>8.0} revisions/s   x {cores} cores = {:.0}   CPU {:>4.0} us/revision",
        verify.as_secs_f64(),
        verify_rate * cores as f64,
        per(verify_cpu)
    );
    for (workers, took, spent, rate) in rows {
        println!(
            "  ingest, {workers:>2} fetches at once:  {:>7.2} s  {rate:>8.0} revisions/s   {:>3.0}% of verify x cores (target 80%)   CPU {:>4.0} us/revision, {:.0}% busy",
            took.as_secs_f64(),
            100.0 * rate / (verify_rate * cores as f64),
            per(spent),
            100.0 * spent.as_secs_f64() / (took.as_secs_f64() * cores as f64)
        );
    }
    node.shutdown().await;
}
