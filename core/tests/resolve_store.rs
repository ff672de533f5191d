//! Resolution through the store: a curator's published package index with a pinned alias and
//! an include, read by `StoreSource`.

use std::collections::{BTreeMap, BTreeSet};

use cairn_core::resolve::store::StoreSource;
use cairn_core::resolve::{Dependency, PackageSource, Pkg, ResolveError, resolve};
use cairn_core::store::Store;
use cairn_protocol::cid::Cid;
use cairn_protocol::identity;
use cairn_protocol::index::package::{AliasEntry, PackageIndex, PackageOp, Policy};
use cairn_protocol::index::version::{VersionIndex, VersionOp};
use cairn_protocol::index::{Citation, IndexKind, Tip, sign_next};
use cairn_protocol::name::IndexName;
use cairn_protocol::sign::SecretKey;

const T: u64 = 1_795_000_000;

/// Signs each batch of `ops` as one revision of `index`, imports them, returns the payload CIDs.
fn publish<K: IndexKind>(
    store: &mut Store,
    index: &IndexName,
    cite: Citation,
    key: &SecretKey,
    batches: Vec<Vec<K::Op>>,
) -> Vec<Cid> {
    let mut tip: Option<Tip<K>> = None;
    let (mut envelopes, mut cids) = (Vec::new(), Vec::new());
    for ops in batches {
        let (signed, next) = sign_next(tip.as_ref(), index, cite, key, T, ops).expect("sign");
        cids.push(signed.payload_cid());
        envelopes.push(signed.encode());
        tip = Some(next);
    }
    store.import_index::<K>(index, &envelopes).expect("import");
    cids
}

/// A release record of `name@version` depending on `deps`, stored; its release op.
fn release(store: &mut Store, name: &str, version: &str, deps: &[(&str, &str)]) -> VersionOp {
    cairn_core::testing::release_record(store, name, version, deps)
}

fn alias(name: &str, target: &IndexName, policy: Policy) -> PackageOp {
    PackageOp::AddAlias(AliasEntry {
        alias: name.parse().expect("alias"),
        target: target.clone(),
        policy,
        versions: None,
        exclude: BTreeSet::new(),
    })
}

#[test]
fn pins_and_includes_decide_what_resolves() {
    let home = tempfile::tempdir().expect("temporary home");
    let mut store = Store::open(home.path()).expect("open");
    let (root, signing) = (
        SecretKey::from_seed(&[7; 32]),
        SecretKey::from_seed(&[8; 32]),
    );
    let (genesis, log) = identity::create(&[&root], 1, &[signing.public()], T).expect("id");
    store
        .import_identity(&[genesis.encode()])
        .expect("identity");
    let cite = Citation {
        identity: log.id(),
        seq: 1,
    };
    let name = |n: &str| IndexName::new(log.id(), n.parse().expect("name"));
    let (foo, bar) = (name("foo"), name("bar"));

    // foo: revision 1 has 1.0.0; revision 2 adds 1.1.0, which needs bar ^2.
    let r1 = release(&mut store, "foo", "1.0.0", &[("bar", "^1")]);
    let r2 = release(&mut store, "foo", "1.1.0", &[("bar", "^2")]);
    let foo_revs =
        publish::<VersionIndex>(&mut store, &foo, cite, &signing, vec![vec![r1], vec![r2]]);
    let b1 = release(&mut store, "bar", "1.4.0", &[]);
    publish::<VersionIndex>(&mut store, &bar, cite, &signing, vec![vec![b1]]);

    // `base` maps bar; `community` pins foo to its first revision and includes `base`.
    let base = name("base");
    publish::<PackageIndex>(
        &mut store,
        &base,
        cite,
        &signing,
        vec![vec![alias("bar", &bar, Policy::Follow)]],
    );
    let community = name("community");
    publish::<PackageIndex>(
        &mut store,
        &community,
        cite,
        &signing,
        vec![vec![
            alias("foo", &foo, Policy::Pin(foo_revs[0])),
            PackageOp::Include {
                index: base.clone(),
                priority: 1,
            },
        ]],
    );

    let source = StoreSource::open(&store, &community).expect("source");
    let req = |a: &str, c: &str| {
        vec![Dependency {
            alias: a.into(),
            constraint: c.parse().expect("constraint"),
            private: false,
        }]
    };
    let solved = resolve(&source, &req("foo", "*"), &BTreeMap::new()).expect("resolves");
    let got: Vec<(String, String, String)> = solved
        .packages
        .iter()
        .map(|(p, r)| {
            (
                p.to_string(),
                r.candidate.version.to_string(),
                r.origin.to_string(),
            )
        })
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].0, "foo");
    assert_eq!(got[1].1, "1.0.0", "the pin hides 1.1.0");
    assert!(got[1].2.contains(&format!("{foo} revision 1")), "{got:?}");
    assert_eq!((got[0].0.as_str(), got[0].1.as_str()), ("bar", "1.4.0"));
    assert!(
        got[0].2.contains(&format!("via the include {base}")),
        "{got:?}"
    );
    assert_located(
        &store,
        &solved.packages[&Pkg::flat("foo")],
        &foo,
        foo_revs[0],
    );

    // Asking for what the pin hides is explained with the revision the answer came from.
    match resolve(&source, &req("foo", "^1.1"), &BTreeMap::new()) {
        Err(ResolveError::NoSolution { report }) => {
            assert!(report.contains(&format!("{foo} revision 1")), "{report}");
            assert!(report.contains(&community.to_string()), "{report}");
        }
        other => panic!("expected no solution, got {other:?}"),
    }
    assert!(source.versions("nothing").expect("read").is_none());
}

/// The answer records the pinned revision 1 of `index` (foo), its release record and its artifacts.
fn assert_located(store: &Store, r: &cairn_core::resolve::Resolved, index: &IndexName, pin: Cid) {
    let at = *r.locator.clone().expect("located");
    assert_eq!(
        (at.index.as_str(), at.seq, at.head),
        (index.to_string().as_str(), 1, pin),
        "the pinned revision is the one recorded"
    );
    let artifacts = at.artifacts.expect("the record is held");
    assert_eq!(
        artifacts["default"].cid,
        Cid::of_raw(b"foo@1.0.0"),
        "the release's artifacts come along"
    );
    let first = store
        .index_tip::<VersionIndex>(&index.to_string())
        .expect("tip")
        .expect("held")
        .state
        .release(&"1.0.0".parse().expect("v"))
        .expect("1.0.0")
        .release;
    assert_eq!(at.release, first);
}

#[test]
fn a_publisher_caught_forking_is_named_in_every_answer() {
    use cairn_core::store::Outcome;
    use cairn_core::testing::{Person, release_record};
    let home = tempfile::tempdir().expect("temporary home");
    let mut store = Store::open(home.path()).expect("open");
    let lucy = Person::new(1);
    store.import_identity(&lucy.envelopes).expect("identity");
    let foo = lucy.index("foo");
    let first = release_record(&mut store, "foo", "1.0.0", &[]);
    let (e1, _) = lucy.sign::<VersionIndex>(None, &foo, vec![first]);
    store
        .import_index::<VersionIndex>(&foo, &[e1])
        .expect("foo");
    let community = lucy.index("community");
    let (c1, _) =
        lucy.sign::<PackageIndex>(None, &community, vec![alias("foo", &foo, Policy::Follow)]);
    store
        .import_index::<PackageIndex>(&community, &[c1])
        .expect("community");
    let origin = |store: &Store| {
        let source = StoreSource::open(store, &community).expect("source");
        let req = [Dependency {
            alias: "foo".into(),
            constraint: "*".parse().expect("constraint"),
            private: false,
        }];
        let solved = resolve(&source, &req, &BTreeMap::new()).expect("resolves");
        solved.packages[&Pkg::flat("foo")].origin.to_string()
    };
    assert!(!origin(&store).contains("flagged"), "{}", origin(&store));
    // Lucy signs another revision 1 of foo: fork evidence, and she is flagged.
    let other = release_record(&mut store, "foo", "2.0.0", &[]);
    let (e1b, _) = lucy.sign::<VersionIndex>(None, &foo, vec![other]);
    let report = store
        .import_index::<VersionIndex>(&foo, &[e1b])
        .expect("fork recorded");
    assert!(matches!(report.outcome, Outcome::Fork { seq: 1, .. }));
    let said = origin(&store);
    assert!(
        said.contains("publisher is flagged") && said.contains("two different revisions"),
        "{said}"
    );
}
