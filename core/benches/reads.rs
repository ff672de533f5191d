//! Read benchmark (prints figures; not a test): reads must not grow with a chain's length or an
//! index's size, because what import verified is stored as verified.
//!
//! - `show` (the verified state of a version index, its flags and forks) and a first
//!   resolution of one alias, on version indexes of 10 and of 10,000 revisions with the same
//!   final state (ten releases; the long one toggles yanks);
//! - `id show` on an identity of 1 and of 51 revisions (50 key changes);
//! - the first resolution (opening the source included) against curator indexes of 10 and of
//!   10,000 aliases.
//!
//! Target: each long or large case within 2x of its short or small one.
//!
//! Run: `cargo bench -p cairn-core --bench reads`.

// Timings are far below 2^52.
#![allow(clippy::cast_precision_loss)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use cairn_core::resolve::store::StoreSource;
use cairn_core::resolve::{Dependency, resolve};
use cairn_core::store::Store;
use cairn_core::testing::{Person, T, release_record};
use cairn_protocol::identity::IdentityOp;
use cairn_protocol::index::package::{AliasEntry, PackageIndex, PackageOp, Policy};
use cairn_protocol::index::version::{VersionIndex, VersionOp};
use cairn_protocol::index::{IndexKind, MAX_OPS, Tip};
use cairn_protocol::name::IndexName;
use cairn_protocol::sign::SecretKey;

const ROUNDS: usize = 201;

/// The median time of `f` over [`ROUNDS`] runs (after one warm-up run).
fn median(mut f: impl FnMut()) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[ROUNDS / 2]
}

/// Signs each batch as one revision and imports them all.
fn append<K: IndexKind>(
    store: &mut Store,
    who: &Person,
    index: &IndexName,
    batches: Vec<Vec<K::Op>>,
) {
    let mut tip: Option<Tip<K>> = store.index_tip(&index.to_string()).expect("tip");
    let mut envelopes = Vec::new();
    for ops in batches {
        let (env, next) = who.sign(tip.as_ref(), index, ops);
        envelopes.push(env);
        tip = Some(next);
    }
    for chunk in envelopes.chunks(2000) {
        store.import_index::<K>(index, chunk).expect("import");
    }
}

/// A version index of `revisions` revisions ending with ten releases.
fn version_index(store: &mut Store, who: &Person, name: &str, revisions: usize) -> IndexName {
    let index = who.index(name);
    let mut batches: Vec<Vec<VersionOp>> = (0..10)
        .map(|i| vec![release_record(store, name, &format!("1.{i}"), &[])])
        .collect();
    for i in 0..revisions - 10 {
        let version = "1.0".parse().expect("version");
        batches.push(vec![if i % 2 == 0 {
            VersionOp::Yank {
                version,
                reason: None,
            }
        } else {
            VersionOp::Unyank { version }
        }]);
    }
    append::<VersionIndex>(store, who, &index, batches);
    index
}

fn entry(alias: &str, target: &IndexName) -> PackageOp {
    PackageOp::AddAlias(AliasEntry {
        alias: alias.parse().expect("alias"),
        target: target.clone(),
        policy: Policy::Follow,
        versions: None,
        exclude: BTreeSet::new(),
    })
}

/// A curator index mapping `a0` to `short` and `aliases - 1` more aliases to `filler`.
fn curator_index(
    store: &mut Store,
    who: &Person,
    name: &str,
    short: &IndexName,
    filler: &IndexName,
    aliases: usize,
) -> IndexName {
    let index = who.index(name);
    let ops: Vec<PackageOp> = (0..aliases)
        .map(|i| entry(&format!("a{i}"), if i == 0 { short } else { filler }))
        .collect();
    let batches = ops.chunks(MAX_OPS).map(<[PackageOp]>::to_vec).collect();
    append::<PackageIndex>(store, who, &index, batches);
    index
}

/// What `cairn show` reads: the verified tip, the flags of its maintainers, its forks.
fn show(store: &Store, index: &IndexName) {
    let log = index.to_string();
    let tip = store
        .index_tip::<VersionIndex>(&log)
        .expect("tip")
        .expect("held");
    for id in std::iter::once(*index.identity()).chain(tip.state.grants.keys().copied()) {
        store.flagged(&id).expect("flags");
    }
    store.forks(&log).expect("forks");
    assert_eq!(tip.state.releases().len(), 10);
}

/// A first resolution of `alias` (opening the source included).
fn first_resolution(store: &Store, curator: &IndexName, alias: &str) {
    let source = StoreSource::open(store, curator).expect("open");
    let req = [Dependency {
        alias: alias.into(),
        constraint: "*".parse().expect("constraint"),
        private: false,
    }];
    let solved = resolve(&source, &req, &BTreeMap::new()).expect("resolves");
    assert_eq!(solved.packages.len(), 1);
}

fn row(what: &str, small: Duration, large: Duration) {
    let ratio = large.as_secs_f64() / small.as_secs_f64();
    println!(
        "{what:<44} {:>10.1?} {:>10.1?} {ratio:>7.2}x  {}",
        small,
        large,
        if ratio <= 2.0 { "ok" } else { "ABOVE 2x" }
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut store = Store::open(dir.path()).expect("store");
    let lucy = Person::new(1);
    store.import_identity(&lucy.envelopes).expect("lucy");
    let built = Instant::now();
    let short = version_index(&mut store, &lucy, "short", 10);
    let long = version_index(&mut store, &lucy, "long", 10_000);
    let filler = version_index(&mut store, &lucy, "filler", 10);
    let small = curator_index(&mut store, &lucy, "small", &short, &filler, 10);
    let large_short = curator_index(&mut store, &lucy, "large", &short, &filler, 10_000);
    let to_long = curator_index(&mut store, &lucy, "tolong", &long, &filler, 10);

    // An identity of 51 revisions (50 key changes), and one of 1, each signing a short index.
    let mut kim = Person::new(2);
    let fresh = Person::new(3);
    store.import_identity(&fresh.envelopes).expect("fresh");
    for i in 0..50u8 {
        let key = SecretKey::from_seed(&[200u8.wrapping_add(i); 32]).public();
        let op = if i % 2 == 0 {
            IdentityOp::AddSigningKey(key)
        } else {
            let previous = SecretKey::from_seed(&[200u8.wrapping_add(i - 1); 32]).public();
            IdentityOp::RemoveSigningKey(previous)
        };
        let env = kim.log.change(vec![op], T, &[&kim.root]).expect("change");
        kim.envelopes.push(env.encode());
    }
    store.import_identity(&kim.envelopes).expect("kim");
    let kim_index = version_index(&mut store, &kim, "kims", 10);
    let fresh_index = version_index(&mut store, &fresh, "fresh", 10);
    println!(
        "built the store in {:.2?} (10,000-revision index, 10,000-alias curator index, 51-revision identity)\n",
        built.elapsed()
    );

    println!(
        "{:<44} {:>10} {:>10} {:>8}",
        "read", "small", "large", "ratio"
    );
    row(
        "show: 10 vs 10,000 revisions",
        median(|| show(&store, &short)),
        median(|| show(&store, &long)),
    );
    row(
        "resolve (first): 10 vs 10,000 revisions",
        median(|| first_resolution(&store, &small, "a0")),
        median(|| first_resolution(&store, &to_long, "a0")),
    );
    row(
        "id show: identity of 1 vs 51 revisions",
        median(|| {
            store.identity_head(&fresh.id()).expect("head");
        }),
        median(|| {
            store.identity_head(&kim.id()).expect("head");
        }),
    );
    row(
        "show: signed under 1 vs 51 identity revisions",
        median(|| show(&store, &fresh_index)),
        median(|| show(&store, &kim_index)),
    );
    row(
        "resolve (first): 10 vs 10,000 aliases",
        median(|| first_resolution(&store, &small, "a0")),
        median(|| first_resolution(&store, &large_short, "a0")),
    );
}
