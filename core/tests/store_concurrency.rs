//! Several writers on one home at once: publishes, yanks, imports of the same bundles and
//! curator publishes from separate store connections in threads (SQLite locks connections of
//! one process as it locks processes). No operation may fail with a locking error, no head may
//! move backwards, every log must re-verify, and the end state must equal a serial replay.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use cairn_core::bundle;
use cairn_core::curate;
use cairn_core::home::Home;
use cairn_core::publish::{self, PublishOptions};
use cairn_core::store::Store;
use cairn_core::testing::{Person, T, create_in, ring, write_package};
use cairn_protocol::cid::Cid;
use cairn_protocol::index::Tip;
use cairn_protocol::index::package::{AliasEntry, PackageOp, Policy};
use cairn_protocol::index::version::{VersionIndex, VersionOp};
use cairn_protocol::name::IndexName;

const ALPHA: u64 = 70;
const BETA: u64 = 35;
const GAMMA: u64 = 35;

/// Bundles of `gamma` by person 3 after each of its revisions (made in a separate home).
fn gamma_bundles(dir: &Path) -> (IndexName, Vec<Vec<u8>>) {
    let carol = Person::new(3);
    let index = carol.index("gamma");
    let mut store = Store::open(dir).expect("source store");
    store.import_identity(&carol.envelopes).expect("identity");
    let mut tip: Option<Tip<VersionIndex>> = None;
    let mut cars = Vec::new();
    for k in 1..=GAMMA {
        let op = VersionOp::Release {
            version: format!("0.{k}").parse().expect("version"),
            release: Cid::of_record(format!("gamma {k}").as_bytes()),
        };
        let (env, next) = carol.sign(tip.as_ref(), &index, vec![op]);
        store
            .import_index::<VersionIndex>(&index, &[env])
            .expect("import");
        tip = Some(next);
        cars.push(bundle::export(&store, &index.to_string()).expect("export"));
    }
    (index, cars)
}

/// Writes and publishes `name@version` as `who`.
fn publish_package(
    home: &mut Home,
    who: &Person,
    work: &Path,
    name: &str,
    version: &str,
    time: u64,
) {
    let dir = work.join(format!("{name}-{version}"));
    write_package(&dir, name, version);
    let opts = PublishOptions {
        dir,
        index: None,
        dry_run: false,
        new_index: false,
        time,
    };
    publish::publish(home, who.id(), Some(&ring(who)), &opts)
        .unwrap_or_else(|e| panic!("publish {name} {version}: {e}"));
}

/// The operations of one writer, run against `home`.
fn run_writer(
    who: usize,
    home_dir: &Path,
    work: &Path,
    gamma: &(IndexName, Vec<Vec<u8>>),
    done_ops: &mut u64,
) {
    let mut home = Home::open(home_dir).expect("open home");
    let (alice, bob) = (Person::new(1), Person::new(2));
    match who {
        0 => {
            for v in 1..=ALPHA {
                publish_package(&mut home, &alice, work, "alpha", &format!("1.0.{v}"), T + v);
                *done_ops += 1;
            }
        }
        1 => {
            let index = alice.index("beta");
            for v in 1..=BETA {
                let version = format!("2.0.{v}");
                publish_package(&mut home, &alice, work, "beta", &version, T + v);
                let yank = VersionOp::Yank {
                    version: version.parse().expect("version"),
                    reason: Some(format!("superseded {v}")),
                };
                publish::append(
                    &mut home,
                    alice.id(),
                    &ring(&alice),
                    &index,
                    vec![yank],
                    T + v,
                )
                .unwrap_or_else(|e| panic!("yank beta {v}: {e}"));
                *done_ops += 2;
            }
        }
        _ => {
            let community = bob.index("community");
            for k in 1..=GAMMA {
                let car = &gamma.1[k as usize - 1];
                for _ in 0..2 {
                    cairn_core::exchange::import(&mut home, std::io::Cursor::new(car))
                        .unwrap_or_else(|e| panic!("import gamma {k}: {e}"));
                    *done_ops += 1;
                }
                if k == 1 {
                    curate::new_index(&mut home, bob.id(), "community".parse().expect("n"))
                        .expect("new index");
                }
                let entry = AliasEntry {
                    alias: format!("g{k}").parse().expect("alias"),
                    target: gamma.0.clone(),
                    policy: Policy::Follow,
                    versions: None,
                    exclude: std::collections::BTreeSet::new(),
                };
                curate::stage(&mut home, &community, &PackageOp::AddAlias(entry))
                    .unwrap_or_else(|e| panic!("stage {k}: {e}"));
                curate::publish(&mut home, &ring(&bob), &community, true, T + k)
                    .unwrap_or_else(|e| panic!("curate publish {k}: {e}"));
                *done_ops += 2;
            }
        }
    }
}

/// A home with the two identities every writer uses.
fn prepared_home(dir: &Path) {
    let mut home = Home::open(dir).expect("home");
    create_in(&Person::new(1), &mut home);
    create_in(&Person::new(2), &mut home);
}

/// Every log's head (seq, payload CID) in a home.
fn heads(dir: &Path) -> BTreeMap<String, (u64, Cid)> {
    let store = Store::open(dir).expect("store");
    store
        .logs_with_prefix("")
        .expect("logs")
        .into_iter()
        .map(|log| {
            let head = store.head(&log).expect("head").expect("held");
            (log, head)
        })
        .collect()
}

#[test]
fn concurrent_writers_on_one_home_equal_a_serial_replay() {
    let tmp = tempfile::tempdir().expect("tmp");
    let gamma = gamma_bundles(&tmp.path().join("source"));
    let shared = tmp.path().join("shared");
    prepared_home(&shared);

    let done = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(4));
    let sampler = {
        let (done, start, dir) = (Arc::clone(&done), Arc::clone(&start), shared.clone());
        std::thread::spawn(move || {
            let store = Store::open(&dir).expect("sampler store");
            let mut seen: BTreeMap<String, u64> = BTreeMap::new();
            let mut samples = 0u64;
            start.wait();
            while !done.load(Ordering::SeqCst) {
                for log in store.logs_with_prefix("").expect("logs") {
                    let Some((seq, _)) = store.head(&log).expect("head") else {
                        continue;
                    };
                    let before = seen.insert(log.clone(), seq).unwrap_or(0);
                    assert!(seq >= before, "`{log}` moved back from {before} to {seq}");
                    samples += 1;
                }
            }
            samples
        })
    };
    let writers: Vec<_> = (0..3)
        .map(|who| {
            let (start, dir, gamma) = (Arc::clone(&start), shared.clone(), gamma.clone());
            let work = tmp.path().join(format!("work-{who}"));
            std::thread::spawn(move || {
                let mut ops = 0;
                start.wait();
                run_writer(who, &dir, &work, &gamma, &mut ops);
                ops
            })
        })
        .collect();
    let total: u64 = writers
        .into_iter()
        .map(|w| w.join().expect("a writer failed"))
        .sum();
    done.store(true, Ordering::SeqCst);
    let head_reads = sampler.join().expect("the sampler saw a head move back");
    assert!(total >= 200, "{total} operations");
    assert!(head_reads > 0, "the sampler ran");

    let store = Store::open(&shared).expect("store");
    for log in store.logs_with_prefix("").expect("logs") {
        store
            .verify_log(&log)
            .unwrap_or_else(|e| panic!("`{log}` does not re-verify: {e}"));
    }

    let serial = tmp.path().join("serial");
    prepared_home(&serial);
    for who in 0..3 {
        let mut n = 0;
        run_writer(
            who,
            &serial,
            &tmp.path().join(format!("serial-{who}")),
            &gamma,
            &mut n,
        );
    }
    let (concurrent, replayed) = (heads(&shared), heads(&serial));
    assert_eq!(
        concurrent.len(),
        7,
        "three identities, alpha, beta, gamma, community"
    );
    assert_eq!(concurrent, replayed, "the end state equals a serial replay");
}
