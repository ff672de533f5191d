//! Search at scale: an index of synthetic version indexes (1,000,000 by default;
//! `CAIRN_BENCH_DOCS=N` for another size), queried through `search::search` (what the API
//! runs: tiers, trusted curators, standings) side by side with a bare tantivy query (BM25
//! top-10 over the same fields of the same index, reader opened once), then HTTP throughput
//! and latency with `wrk` when it is installed (Debian's `wrk`).
//!
//! `cargo bench -p cairn-indexer --bench search`

use std::path::Path;
use std::time::{Duration, Instant};

use cairn_core::catalog::{Curated, Package};
use cairn_core::testing::SplitMix;
use cairn_indexer::search;
use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::Value as _;
use tantivy::{Index, TantivyDocument};

const WORDS: usize = 50_000;
/// Passes over the query set.
const PASSES: usize = 3;

/// Word `i` of the vocabulary (rank `i`: lower is more common).
fn word(i: usize) -> String {
    const SYL: [&str; 16] = [
        "ka", "lo", "mi", "ne", "ru", "to", "za", "be", "di", "fu", "go", "hi", "ju", "pe", "qu",
        "sa",
    ];
    let mut n = i + 16;
    let mut w = String::new();
    while n > 0 {
        w.push_str(SYL[n % 16]);
        n /= 16;
    }
    w
}

/// A Zipf sampler over the vocabulary.
struct Zipf(Vec<f64>);

impl Zipf {
    #[allow(clippy::cast_precision_loss)]
    fn new() -> Zipf {
        let mut cdf = Vec::with_capacity(WORDS);
        let mut total = 0.0;
        for r in 1..=WORDS {
            total += 1.0 / r as f64;
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        Zipf(cdf)
    }

    fn sample(&self, rng: &mut SplitMix) -> usize {
        let u = rng.unit();
        self.0.partition_point(|c| *c < u).min(WORDS - 1)
    }
}

fn corpus(n: usize) -> (Vec<Package>, Vec<Curated>, Vec<String>) {
    let zipf = Zipf::new();
    let mut rng = SplitMix(7);
    let mut packages = Vec::with_capacity(n);
    for i in 0..n {
        let words: Vec<String> = (0..16).map(|_| word(zipf.sample(&mut rng))).collect();
        let name = format!("{}-{i}", words[0]);
        let publisher = format!("b{:052x}", rng.next_u64() % 100_000);
        packages.push(Package {
            index: format!("{publisher}:{name}"),
            name,
            publisher,
            latest: Some("1.0.0".into()),
            description: Some(words[1..13].join(" ")),
            keywords: words[13..16].to_vec(),
            licensed: true,
            dependencies: Vec::new(),
            time: 1_700_000_000 + rng.next_u64() % 30_000_000,
            yanked: false,
            forked: false,
        });
    }
    // 100 curated indexes admitting 1,000 packages each; the first 10 are trusted.
    let mut curated = Vec::new();
    for c in 0..100 {
        let aliases = (0..1000)
            .map(|k| {
                let p = &packages[usize::try_from(rng.next_u64() % n as u64).unwrap_or(0)];
                (format!("{}{k}", p.name), p.index.clone())
            })
            .collect();
        curated.push(Curated {
            index: format!("b{c:052x}:curated"),
            aliases,
            includes: Vec::new(),
        });
    }
    let roots = curated[..10].iter().map(|c| c.index.clone()).collect();
    (packages, curated, roots)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn queries() -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for i in 0..100 {
        out.push(("rare", word(20_000 + i * 97)));
        out.push(("mid", word(200 + i * 3)));
    }
    for i in 0..50 {
        out.push(("common", word(i % 10)));
        out.push((
            "two words",
            format!("{} {}", word(50 + i), word(400 + i * 7)),
        ));
    }
    out
}

fn main() {
    let docs: usize = std::env::var("CAIRN_BENCH_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path();
    println!(
        "search over {docs} synthetic version indexes (16 Zipf words each over {WORDS}), 100 curated indexes"
    );
    let clock = Instant::now();
    let (packages, curated, roots) = corpus(docs);
    println!(
        "  corpus generated in {:.1} s",
        clock.elapsed().as_secs_f64()
    );
    let clock = Instant::now();
    search::build(
        &home.join(search::DIR),
        &packages,
        &curated,
        &roots,
        1_730_000_000,
    )
    .expect("build");
    #[allow(clippy::cast_precision_loss)]
    let rate = docs as f64 / clock.elapsed().as_secs_f64();
    println!(
        "  index built in {:.1} s ({rate:.0} docs/s, one writer thread)",
        clock.elapsed().as_secs_f64()
    );
    drop(packages);

    let index = Index::open_in_dir(home.join(search::DIR)).expect("open");
    let reader = index.reader().expect("reader");
    let schema = index.schema();
    let fields: Vec<_> = ["name", "aliases", "keywords", "description"]
        .iter()
        .map(|f| schema.get_field(f).expect("field"))
        .collect();
    let index_field = schema.get_field("index").expect("index field");
    let parser = QueryParser::for_index(&index, fields);
    let bare = |q: &str| {
        let searcher = reader.searcher();
        let query = parser.parse_query_lenient(q).0;
        let top = searcher
            .search(&query, &TopDocs::with_limit(10).order_by_score())
            .expect("search");
        let mut names = Vec::new();
        for (_, addr) in top {
            let d: TantivyDocument = searcher.doc(addr).expect("doc");
            names.push(
                d.get_first(index_field)
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
            );
        }
        names
    };
    let qs = queries();
    // Warm both paths (page cache, mmaps).
    for (_, q) in qs.iter().take(20) {
        let _ = bare(q);
        let _ = search::search(home, q, 10).expect("search");
    }
    let (mut by_kind, mut all_ours, mut all_bare) = time_queries(home, &qs, &bare);
    println!(
        "  {} queries x {PASSES} passes, each run by both paths, in turn first",
        qs.len()
    );
    report(&mut by_kind, &mut all_ours, &mut all_bare);
    http(home);
}

/// Times every query of `qs` through `search::search` on `home` and through `bare`, in
/// [`PASSES`] passes: by kind, and all of ours and all of bare's.
fn time_queries<'q>(
    home: &Path,
    qs: &'q [(&'static str, String)],
    bare: &dyn Fn(&str) -> Vec<String>,
) -> (Timings<'q>, Vec<Duration>, Vec<Duration>) {
    let mut by_kind: Timings<'_> = Vec::new();
    let mut all_ours = Vec::new();
    let mut all_bare = Vec::new();
    // Each query runs in both paths, in turn first, so that neither times the other's cold
    // reads; every query runs in each of several passes.
    for pass in 0..PASSES {
        for (i, (kind, q)) in qs.iter().enumerate() {
            let time_ours = || {
                let t = Instant::now();
                let hits = search::search(home, q, 10).expect("search");
                assert!(hits.len() <= 10);
                t.elapsed()
            };
            let time_bare = || {
                let t = Instant::now();
                assert!(bare(q).len() <= 10);
                t.elapsed()
            };
            let (ours, b) = if (i + pass) % 2 == 0 {
                let ours = time_ours();
                (ours, time_bare())
            } else {
                let b = time_bare();
                (time_ours(), b)
            };
            all_ours.push(ours);
            all_bare.push(b);
            match by_kind.iter_mut().find(|(k, ..)| k == kind) {
                Some((_, o, x)) => {
                    o.push(ours);
                    x.push(b);
                }
                None => by_kind.push((kind, vec![ours], vec![b])),
            }
        }
    }
    (by_kind, all_ours, all_bare)
}

/// Latency kinds: label, ours, bare.
type Timings<'a> = Vec<(&'a str, Vec<Duration>, Vec<Duration>)>;

/// Prints p50 and p99 per kind of query and in all, ours beside bare tantivy.
fn report(by_kind: &mut Timings<'_>, all_ours: &mut Vec<Duration>, all_bare: &mut Vec<Duration>) {
    println!(
        "  {:<12} {:>10} {:>10} {:>12} {:>12}",
        "queries", "ours p50", "ours p99", "tantivy p50", "tantivy p99"
    );
    let row = |label: &str, o: &mut Vec<Duration>, b: &mut Vec<Duration>| {
        o.sort();
        b.sort();
        println!(
            "  {:<12} {:>8.2}ms {:>8.2}ms {:>10.2}ms {:>10.2}ms",
            label,
            ms(percentile(o, 0.5)),
            ms(percentile(o, 0.99)),
            ms(percentile(b, 0.5)),
            ms(percentile(b, 0.99)),
        );
    };
    for (kind, o, b) in by_kind.iter_mut() {
        row(kind, o, b);
    }
    row("all", all_ours, all_bare);
    let ratio = ms(percentile(all_ours, 0.99)) / ms(percentile(all_bare, 0.99));
    println!("  p99 ours/bare: {ratio:.2}x (target: p99 <= 10 ms and <= 1.5x bare)");
}

/// HTTP search throughput and latency with `wrk`, when installed.
fn http(home: &Path) {
    let Ok(out) = std::process::Command::new("wrk").arg("--version").output() else {
        println!("  HTTP: `wrk` is not installed (apt-get install wrk); skipped");
        return;
    };
    let _ = out;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = cairn_indexer::http::router(home.to_path_buf());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            listener.set_nonblocking(true).expect("nonblocking");
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            axum::serve(listener, router).await.expect("serve");
        });
    });
    for (kind, q) in [("mid", word(300)), ("common", word(3))] {
        let url = format!("http://{addr}/api/v1/search?q={q}&limit=10");
        let out = std::process::Command::new("wrk")
            .args(["-t2", "-c16", "-d10s", "--latency", &url])
            .output()
            .expect("wrk");
        let text = String::from_utf8_lossy(&out.stdout);
        let rps = text
            .lines()
            .find_map(|l| l.strip_prefix("Requests/sec:"))
            .map_or("?", str::trim)
            .to_owned();
        let p99 = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("99%"))
            .map_or("?", str::trim)
            .to_owned();
        let p50 = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("50%"))
            .map_or("?", str::trim)
            .to_owned();
        println!(
            "  HTTP ({kind} term, wrk -t2 -c16 -d10s): {rps} requests/s, p50 {p50}, p99 {p99}"
        );
    }
}
