//! Resolution benchmark (prints figures; not a test).
//!
//! (a) pubgrub's own `OfflineDependencyProvider` against our resolver through the in-memory
//!     source, on the same generated registries: no-backtracking chains of 1k and 10k
//!     packages, and a heavy backtracking case.
//! (b) Every crate version in the local cargo registry cache, resolved through the Cargo
//!     index source: p50/p99/max per resolution, and one real failure report.
//!
//! Run: `cargo bench -p cairn-core --bench resolve` (`CAIRN_CARGO_CACHE=DIR` picks the cache).

// Timings and counts are far below 2^52.
#![allow(clippy::cast_precision_loss)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cairn_core::resolve::cargo::CargoIndex;
use cairn_core::resolve::store::StoreSource;
use cairn_core::resolve::{
    Candidate, Dependency, MemorySource, PackageSource, Resolution, ResolveError, ranges, resolve,
};
use cairn_core::store::Store;
use cairn_protocol::cid::Cid;
use cairn_protocol::identity;
use cairn_protocol::index::package::{AliasEntry, PackageIndex, PackageOp, Policy};
use cairn_protocol::index::version::{VersionIndex, VersionOp};
use cairn_protocol::index::{Citation, MAX_OPS, Tip, sign_next};
use cairn_protocol::name::{IndexName, Name};
use cairn_protocol::release::{self, Artifact, Release};
use cairn_protocol::sign::SecretKey;
use cairn_protocol::version::{Constraint, Version};
use pubgrub::{OfflineDependencyProvider, Ranges};

const ROUNDS: usize = 11;

/// A registry as plain rows: (package, version, [(dependency, constraint)]).
type Rows = Vec<(String, String, Vec<(String, String)>)>;

fn v(s: &str) -> Version {
    s.parse().expect("version")
}

fn c(s: &str) -> Constraint {
    s.parse().expect("constraint")
}

/// `p0 → p1 → … → p(n-1)`, three versions each, every dependency `^1`.
fn chain(n: usize) -> Rows {
    let mut rows = Vec::new();
    for i in 0..n {
        for ver in ["1.0.0", "1.1.0", "1.2.0"] {
            let deps = if i + 1 < n {
                vec![(format!("p{}", i + 1), "^1".to_owned())]
            } else {
                Vec::new()
            };
            rows.push((format!("p{i}"), ver.to_owned(), deps));
        }
    }
    rows
}

/// `a` has `k` versions; all but the oldest need a `b` that is not there, and each also pulls
/// in `c` at a version that exists, so the solver has to walk down through every `a`.
fn backtracking(k: usize) -> Rows {
    let mut rows = Vec::new();
    for i in 0..k {
        let deps = if i == 0 {
            vec![("b".to_owned(), "^1".to_owned())]
        } else {
            vec![
                ("c".to_owned(), format!(">={}.0.0", i % 5 + 1)),
                ("b".to_owned(), format!("^{}", i + 1)),
            ]
        };
        rows.push(("a".to_owned(), format!("1.{i}.0"), deps));
    }
    rows.push(("b".to_owned(), "1.0.0".to_owned(), Vec::new()));
    for i in 1..=5 {
        rows.push(("c".to_owned(), format!("{i}.0.0"), Vec::new()));
    }
    rows
}

fn ours(rows: &Rows) -> MemorySource {
    let mut s = MemorySource::new("bench");
    for (p, ver, deps) in rows {
        s.add(
            p,
            Candidate::new(v(ver)),
            deps.iter()
                .map(|(d, k)| Dependency {
                    alias: d.as_str().into(),
                    constraint: c(k),
                    private: false,
                })
                .collect(),
        );
    }
    s
}

fn offline(rows: &Rows, root: &str) -> OfflineDependencyProvider<String, Ranges<Version>> {
    let mut p = OfflineDependencyProvider::new();
    for (pkg, ver, deps) in rows {
        p.add_dependencies(
            pkg.clone(),
            v(ver),
            deps.iter().map(|(d, k)| (d.clone(), ranges(&c(k)))),
        );
    }
    p.add_dependencies(
        "root".to_owned(),
        v("0"),
        [(root.to_owned(), Ranges::full())],
    );
    p
}

fn compare(name: &str, rows: &Rows, root: &str) {
    // Both inputs are built first, and the rounds alternate (theirs, ours, theirs, …) so that
    // neither side inherits the other's allocator state or the machine's load drift.
    let provider = offline(rows, root);
    let source = ours(rows);
    let reqs = [Dependency {
        alias: root.into(),
        constraint: Constraint::Any,
        private: false,
    }];
    let (mut theirs, mut mine) = (Duration::MAX, Duration::MAX);
    let mut ratios = Vec::with_capacity(ROUNDS);
    let (mut their_answer, mut our_answer) = (None, None);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let answer = pubgrub::resolve(&provider, "root".to_owned(), v("0"))
            .map(|s| s.iter().count())
            .map_err(|_| ());
        let their_time = t.elapsed();
        theirs = theirs.min(their_time);
        their_answer = Some(answer);
        let t = Instant::now();
        let answer = resolve(&source, &reqs, &BTreeMap::new()).map(|s| s.packages.len());
        let my_time = t.elapsed();
        mine = mine.min(my_time);
        ratios.push(my_time.as_secs_f64() / their_time.as_secs_f64());
        our_answer = Some(answer);
    }
    let (a, b) = (
        their_answer.expect("rounds ran"),
        our_answer.expect("rounds ran"),
    );
    let agree = match (&a, &b) {
        (Ok(x), Ok(y)) => x - 1 == *y,
        (Err(()), Err(_)) => true,
        _ => false,
    };
    ratios.sort_by(f64::total_cmp);
    println!(
        "{name:<34} {:>12.2?} {:>12.2?} {:>7.2}x {:>7.2}x  {}",
        theirs,
        mine,
        mine.as_secs_f64() / theirs.as_secs_f64(),
        ratios[ratios.len() / 2],
        if agree {
            "same outcome"
        } else {
            "OUTCOMES DIFFER"
        }
    );
}

fn cache_dir() -> Option<std::path::PathBuf> {
    if let Some(d) = std::env::var_os("CAIRN_CARGO_CACHE") {
        return Some(d.into());
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo")))?;
    let index = home.join("registry/index");
    std::fs::read_dir(index)
        .ok()?
        .flatten()
        .map(|e| e.path().join(".cache"))
        .find(|p| p.is_dir())
}

/// Resolves every non-yanked version of every crate in `cargo`, each as an exact requirement,
/// through `source`; hands each outcome to `seen` and returns the times, sorted.
fn every_version(
    cargo: &CargoIndex,
    source: &impl PackageSource,
    mut seen: impl FnMut(Result<Resolution, ResolveError>),
) -> Vec<Duration> {
    let mut times = Vec::new();
    for name in cargo.crates() {
        let versions = cargo.versions(&name).ok().flatten().unwrap_or_default();
        for cand in versions.iter().filter(|c| !c.yanked) {
            let reqs = [Dependency {
                alias: name.as_str().into(),
                constraint: Constraint::Exact(cand.version.clone()),
                private: false,
            }];
            let t = Instant::now();
            let r = resolve(source, &reqs, &BTreeMap::new());
            times.push(t.elapsed());
            seen(r);
        }
    }
    times.sort();
    times
}

/// `p50 …, p99 …, max …` of sorted `times`.
fn percentiles(times: &[Duration]) -> String {
    let Some(max) = times.last() else {
        return "no versions to resolve".to_owned();
    };
    let pick = |per_mille: usize| times[(times.len() - 1) * per_mille / 1000];
    format!(
        "p50 {:.2?}, p99 {:.2?}, max {max:.2?}",
        pick(500),
        pick(990)
    )
}

fn real_data() {
    let Some(dir) = cache_dir() else {
        println!("(b) no cargo registry cache found; set CAIRN_CARGO_CACHE");
        return;
    };
    let t = Instant::now();
    let index = match CargoIndex::read_dir(&dir) {
        Ok(i) => i,
        Err(e) => {
            println!("(b) cannot read {}: {e}", dir.display());
            return;
        }
    };
    println!(
        "\n(b) {}: {} crates, {} releases read in {:.2?}; {} requirements translated inexactly, {} entries skipped, {} platform-specific dependencies left out",
        dir.display(),
        index.crates().len(),
        index.releases,
        t.elapsed(),
        index.inexact.len(),
        index.skipped.len(),
        index.platform_specific
    );
    for n in index.inexact.iter().take(3) {
        println!(
            "    inexact: {} → {} `{}`: {}",
            n.release, n.dependency, n.requirement, n.reason
        );
    }
    let (mut solved, mut failed, mut missing) = (0usize, 0usize, 0usize);
    let mut sample_report: Option<String> = None;
    let times = every_version(&index, &index, |r| match r {
        Ok(_) => solved += 1,
        Err(ResolveError::NoSolution { report }) => {
            failed += 1;
            if report.contains("is not an alias") {
                missing += 1;
            }
            // Keep the shortest report that is about versions, not a missing crate.
            let about_versions = !report.contains("is not an alias");
            let better = match &sample_report {
                None => true,
                Some(s) => {
                    about_versions && (s.contains("is not an alias") || s.len() > report.len())
                }
            };
            if better {
                sample_report = Some(report);
            }
        }
        Err(e) => {
            failed += 1;
            println!("    source error: {e}");
        }
    });
    println!(
        "    {} resolutions ({solved} solved, {failed} unsolvable, of which {missing} name a crate absent from this cache): {}",
        times.len(),
        percentiles(&times)
    );
    store_backed(&index);
    if let Some(r) = sample_report {
        println!(
            "\n    a real report:\n{}",
            r.lines()
                .map(|l| format!("      {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

const T: u64 = 1_795_000_000;

/// Signs `ops` as revisions of `index` (at most `MAX_OPS` each) and imports them.
fn publish<K: cairn_protocol::index::IndexKind>(
    store: &mut Store,
    index: &IndexName,
    cite: Citation,
    key: &SecretKey,
    ops: &[K::Op],
) -> Result<(), String>
where
    K::Op: Clone,
{
    let mut tip: Option<Tip<K>> = None;
    let mut envelopes = Vec::new();
    for chunk in ops.chunks(MAX_OPS) {
        let (signed, next) = sign_next(tip.as_ref(), index, cite, key, T, chunk.to_vec())
            .map_err(|e| format!("{index}: {e}"))?;
        envelopes.push(signed.encode());
        tip = Some(next);
    }
    store
        .import_index::<K>(index, &envelopes)
        .map_err(|e| format!("{index}: {e}"))?;
    Ok(())
}

/// Publishes every crate of `cargo` as a signed version index of the identity behind `cite`,
/// and a package index `crates-io` mapping each crate name to it. Returns that package index,
/// how many aliases and release records it holds, and how many crate names Cairn refuses.
fn mirror(
    store: &mut Store,
    cargo: &CargoIndex,
    cite: Citation,
    signing: &SecretKey,
) -> Result<(IndexName, usize, usize, usize), String> {
    let log_id = cite.identity;
    let (mut entries, mut skipped, mut releases) = (Vec::new(), 0usize, 0usize);
    for name in cargo.crates() {
        let (Ok(pkg), Ok(alias)) = (name.parse::<Name>(), name.parse()) else {
            skipped += 1;
            continue;
        };
        let index = IndexName::new(log_id, pkg.clone());
        let versions = cargo.versions(&name).ok().flatten().unwrap_or_default();
        let (mut ops, mut yanks) = (Vec::new(), Vec::new());
        for cand in versions.iter().rev() {
            let deps = cargo
                .dependencies(&name, &cand.version)
                .map_err(|e| e.to_string())?;
            let mut dependencies = BTreeMap::new();
            for d in deps.iter() {
                if let Ok(a) = d.alias.parse() {
                    dependencies.insert(
                        a,
                        release::Dependency {
                            constraint: d.constraint.clone(),
                            private: d.private,
                        },
                    );
                }
            }
            let artifact = Artifact {
                cid: Cid::of_raw(format!("{name}@{}", cand.version).as_bytes()),
                size: 0,
                sha256: [0; 32],
            };
            let record = Release::new(
                pkg.clone(),
                cand.version.clone(),
                BTreeMap::from([("default".to_owned(), artifact)]),
                dependencies,
            );
            let (cid, bytes) = record.block().map_err(|e| format!("{name}: {e}"))?;
            store.put_block(&cid, &bytes).map_err(|e| e.to_string())?;
            ops.push(VersionOp::Release {
                version: cand.version.clone(),
                release: cid,
            });
            if cand.yanked {
                yanks.push(VersionOp::Yank {
                    version: cand.version.clone(),
                    reason: None,
                });
            }
            releases += 1;
        }
        ops.extend(yanks);
        if ops.is_empty() {
            continue;
        }
        publish::<VersionIndex>(store, &index, cite, signing, &ops)?;
        entries.push(PackageOp::AddAlias(AliasEntry {
            alias,
            target: index,
            policy: Policy::Follow,
            versions: None,
            exclude: std::collections::BTreeSet::new(),
        }));
    }
    let community = IndexName::new(log_id, "crates-io".parse().map_err(|e| format!("{e}"))?);
    let aliases = entries.len();
    publish::<PackageIndex>(store, &community, cite, signing, &entries)?;
    Ok((community, aliases, releases, skipped))
}

/// (b) through the store: every crate of the cache becomes a signed version index of one
/// mirror identity (release records with the translated dependencies; artifacts stand in),
/// a package index maps every crate name to it, and each version resolves through
/// `StoreSource` exactly as `cairn resolve` does.
fn store_backed(cargo: &CargoIndex) {
    let dir = std::env::temp_dir().join(format!("cairn-bench-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = (|| -> Result<(), String> {
        let mut store = Store::open(&dir).map_err(|e| e.to_string())?;
        let root = SecretKey::from_seed(&[1; 32]);
        let signing = SecretKey::from_seed(&[2; 32]);
        let (genesis, log) =
            identity::create(&[&root], 1, &[signing.public()], T).map_err(|e| e.to_string())?;
        store
            .import_identity(&[genesis.encode()])
            .map_err(|e| e.to_string())?;
        let cite = Citation {
            identity: log.id(),
            seq: 1,
        };
        let t = Instant::now();
        let (community, aliases, releases, skipped) = mirror(&mut store, cargo, cite, &signing)?;
        let built = t.elapsed();
        let t = Instant::now();
        let source = StoreSource::open(&store, &community).map_err(|e| e.to_string())?;
        let opened = t.elapsed();
        let mut solved = 0usize;
        let times = every_version(cargo, &source, |r| solved += usize::from(r.is_ok()));
        println!(
            "\n(b) through the store: {aliases} signed version indexes ({releases} release records, {skipped} crate names Cairn refuses) and one package index built and verified in {built:.2?}; StoreSource opened in {opened:.2?}\n    {} resolutions ({solved} solved): {}",
            times.len(),
            percentiles(&times)
        );
        Ok(())
    })();
    if let Err(e) = result {
        println!("(b) through the store failed: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    println!(
        "(a) best of {ROUNDS}, alternating     OfflineDependencyProvider   ours   best-vs-best  median paired ratio"
    );
    compare("chain of 1,000 packages", &chain(1_000), "p0");
    compare("chain of 10,000 packages", &chain(10_000), "p0");
    compare("backtracking over 300 versions", &backtracking(300), "a");
    if std::env::var_os("CAIRN_BENCH_SKIP_REAL").is_none() {
        real_data();
    }
}
