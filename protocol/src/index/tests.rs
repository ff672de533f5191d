use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::include::{self, IncludeError};
use super::package::{AliasEntry, PackageIndex, PackageOp, PackageState, Policy, Status};
use super::version::{Permission, VersionIndex, VersionOp, VersionState};
use super::*;
use crate::identity::{IdentityLog, IdentityOp};
use crate::sign::SecretKey;
use crate::testing::Person;

const T: u64 = 1_795_000_000;

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

fn v(s: &str) -> crate::version::Version {
    s.parse().expect("version")
}

fn release(ver: &str) -> VersionOp {
    VersionOp::Release {
        version: v(ver),
        release: Cid::of_record(ver.as_bytes()),
    }
}

/// Signs with `p`'s signing key and verifies on top of `prev`, as a receiving node would.
fn step<K: IndexKind>(
    prev: Option<&Tip<K>>,
    index: &IndexName,
    p: &Person,
    logs: &[IdentityLog],
    ops: Vec<K::Op>,
) -> Result<Tip<K>, ChainError> {
    let (signed, _) = sign_next(prev, index, p.cite(), &p.signing, T, ops)?;
    let env = Signed::decode(&signed.encode())?;
    verify_revision(prev.cloned(), index, env, logs, None)
}

fn code<T: std::fmt::Debug>(r: Result<T, ChainError>) -> &'static str {
    r.expect_err("must be refused").code()
}

#[test]
fn releases_and_status_changes() {
    let lucy = Person::new(1);
    let idx = lucy.index("libfoo");
    let logs = [lucy.log.clone()];
    let t1 = step::<VersionIndex>(
        None,
        &idx,
        &lucy,
        &logs,
        vec![release("1.0.0"), release("1.1.0")],
    )
    .expect("seq 1");
    let t2 = step(
        Some(&t1),
        &idx,
        &lucy,
        &logs,
        vec![VersionOp::Yank {
            version: v("1.0"),
            reason: Some("broken build".into()),
        }],
    )
    .expect("seq 2");
    let e = t2.state.release(&v("1.0.0")).expect("entry");
    assert!(e.yanked && e.yank_reason.as_deref() == Some("broken build"));
    assert_eq!(e.version.to_string(), "1.0.0", "kept as first published");
    let t3 = step(
        Some(&t2),
        &idx,
        &lucy,
        &logs,
        vec![VersionOp::Unyank {
            version: v("1.0.0"),
        }],
    )
    .expect("seq 3");
    assert!(!t3.state.release(&v("1.0.0")).expect("entry").yanked);
    assert_eq!(
        code(step(
            Some(&t3),
            &idx,
            &lucy,
            &logs,
            vec![VersionOp::Yank {
                version: v("9.9"),
                reason: None
            }]
        )),
        "chain-unknown-version"
    );
    assert_eq!(t3.state.releases().len(), 2);
}

#[test]
fn republish_is_refused_unless_identical() {
    let lucy = Person::new(1);
    let idx = lucy.index("libfoo");
    let logs = [lucy.log.clone()];
    let t1 = step::<VersionIndex>(None, &idx, &lucy, &logs, vec![release("1.2.0")]).expect("seq 1");
    let other = VersionOp::Release {
        version: v("1.2"),
        release: Cid::of_record(b"other bytes"),
    };
    assert_eq!(
        code(step(Some(&t1), &idx, &lucy, &logs, vec![other])),
        "chain-republish"
    );
    let same = VersionOp::Release {
        version: v("1.2.0.0"),
        release: Cid::of_record(b"1.2.0"),
    };
    let t2 =
        step(Some(&t1), &idx, &lucy, &logs, vec![same]).expect("identical republish is a no-op");
    assert_eq!(t2.state.releases().len(), 1);
}

#[test]
fn permissions_grants_and_ownership_transfer() {
    let lucy = Person::new(1);
    let bob = Person::new(2);
    let idx = lucy.index("libfoo");
    let logs = [lucy.log.clone(), bob.log.clone()];
    let t1 = step::<VersionIndex>(None, &idx, &lucy, &logs, vec![release("1.0.0")]).expect("seq 1");
    assert_eq!(
        code(step(Some(&t1), &idx, &bob, &logs, vec![release("1.1.0")])),
        "chain-permission-denied"
    );
    let grant = VersionOp::Grant {
        identity: bob.id(),
        permissions: BTreeSet::from([Permission::Release]),
    };
    let t2 = step(Some(&t1), &idx, &lucy, &logs, vec![grant]).expect("grant");
    let t3 = step(Some(&t2), &idx, &bob, &logs, vec![release("1.1.0")]).expect("bob releases");
    assert_eq!(
        code(step(
            Some(&t3),
            &idx,
            &bob,
            &logs,
            vec![VersionOp::Yank {
                version: v("1.0.0"),
                reason: None
            }]
        )),
        "chain-permission-denied"
    );
    assert_eq!(
        code(step(
            Some(&t3),
            &idx,
            &bob,
            &logs,
            vec![VersionOp::Revoke {
                identity: lucy.id()
            }]
        )),
        "chain-permission-denied"
    );
    // Transfer: grant everything, then the owner revokes itself.
    let all = VersionOp::Grant {
        identity: bob.id(),
        permissions: Permission::ALL.into_iter().collect(),
    };
    let t4 = step(
        Some(&t3),
        &idx,
        &lucy,
        &logs,
        vec![
            all,
            VersionOp::Revoke {
                identity: lucy.id(),
            },
        ],
    )
    .expect("transfer");
    assert!(t4.state.owner_retired);
    assert_eq!(
        code(step(Some(&t4), &idx, &lucy, &logs, vec![release("2.0.0")])),
        "chain-permission-denied"
    );
    let t5 = step(
        Some(&t4),
        &idx,
        &bob,
        &logs,
        vec![
            release("2.0.0"),
            VersionOp::Yank {
                version: v("1.0.0"),
                reason: None,
            },
        ],
    )
    .expect("bob owns it now");
    assert_eq!(t5.state.releases().len(), 3);
}

#[test]
fn sequence_index_and_state_rules() {
    let lucy = Person::new(1);
    let idx = lucy.index("libfoo");
    let logs = [lucy.log.clone()];
    let t1 = step::<VersionIndex>(None, &idx, &lucy, &logs, vec![release("1.0.0")]).expect("seq 1");
    let (good, _) =
        next_revision(Some(&t1), &idx, lucy.cite(), T, vec![release("1.1.0")]).expect("rev");
    let check = |r: Revision<VersionIndex>| {
        let env = Signed::decode(&Signed::sign(r, &[&lucy.signing]).expect("sign").encode())
            .expect("decode");
        verify_revision(Some(t1.clone()), &idx, env, &logs[..], None)
    };
    let mut gap = good.clone();
    gap.seq = 3;
    assert_eq!(code(check(gap)), "chain-seq-gap");
    let mut replay = good.clone();
    replay.seq = 1;
    assert_eq!(code(check(replay)), "chain-rollback");
    let mut prev = good.clone();
    prev.prev = Some(Cid::of_record(b"x"));
    assert_eq!(code(check(prev)), "chain-wrong-prev");
    let mut other_index = good.clone();
    other_index.index = lucy.index("libbar");
    assert_eq!(code(check(other_index)), "chain-wrong-index");
    let mut state = good.clone();
    state.state = Cid::of_record(b"x");
    assert_eq!(code(check(state)), "chain-state-mismatch");
    check(good).expect("unaltered");
}

#[test]
fn a_dropped_release_is_named_when_the_claimed_state_is_at_hand() {
    let lucy = Person::new(1);
    let idx = lucy.index("libfoo");
    let logs = [lucy.log.clone()];
    let mut t1 = step::<VersionIndex>(
        None,
        &idx,
        &lucy,
        &logs,
        vec![release("1.0.0"), release("1.1.0")],
    )
    .expect("seq 1");
    // A forged state: the honest state after a yank, minus release 1.0.0.
    let mut forged: VersionState = t1.state.clone();
    forged.releases.remove(&v("1.0.0").key());
    forged.citations.insert(lucy.id(), 1);
    let mut blocks: HashMap<Cid, Vec<u8>> = HashMap::new();
    let mut fresh = Vec::new();
    let forged_root = VersionIndex::state_root(&mut forged, Some(&mut fresh));
    blocks.extend(fresh);
    blocks.extend(forged.releases.blocks());
    let (mut rev, _) = next_revision(
        Some(&t1),
        &idx,
        lucy.cite(),
        T,
        vec![VersionOp::Yank {
            version: v("1.1.0"),
            reason: None,
        }],
    )
    .expect("rev");
    rev.state = forged_root;
    let env = Signed::decode(&Signed::sign(rev, &[&lucy.signing]).expect("sign").encode())
        .expect("decode");
    let fetch = |c: &Cid| Ok(blocks.get(c).cloned());
    let err = verify_revision(Some(t1.clone()), &idx, env, &logs[..], Some(&fetch))
        .expect_err("deletion");
    assert_eq!(err.code(), "chain-deletion");
    assert!(err.to_string().contains("1.0.0"));
    // The honest state loads back from its blocks.
    let mut fresh = Vec::new();
    let root = VersionIndex::state_root(&mut t1.state, Some(&mut fresh));
    let mut all: HashMap<Cid, Vec<u8>> = t1.state.releases.blocks().into_iter().collect();
    all.extend(fresh);
    let loaded = VersionState::load(root, &|c| Ok(all.get(c).cloned())).expect("load");
    assert_eq!(loaded.releases(), t1.state.releases());
}

#[test]
fn citations_key_validity_and_revocation() {
    let mut lucy = Person::new(1);
    let idx = lucy.index("libfoo");
    let old_key = key(101);
    let t1 = step::<VersionIndex>(
        None,
        &idx,
        &lucy,
        &[lucy.log.clone()],
        vec![release("1.0.0")],
    )
    .expect("seq 1");
    // Identity seq 2: add signing key 102; seq 3: revoke the old signing key 101.
    lucy.log
        .change(
            vec![IdentityOp::AddSigningKey(key(102).public())],
            T,
            &[&lucy.root],
        )
        .expect("seq 2");
    lucy.log
        .change(
            vec![IdentityOp::RevokeKey(old_key.public())],
            T,
            &[&lucy.root],
        )
        .expect("seq 3");
    let logs = [lucy.log.clone()];
    let sign_with = |prev: &Tip<VersionIndex>, k: &SecretKey, seq: u64, ver: &str| {
        let c = Citation {
            identity: lucy.id(),
            seq,
        };
        let (s, _) = sign_next(Some(prev), &idx, c, k, T, vec![release(ver)]).expect("sign");
        verify_revision(
            Some(prev.clone()),
            &idx,
            Signed::decode(&s.encode()).expect("decode"),
            &logs[..],
            None,
        )
    };
    assert_eq!(
        code(sign_with(&t1, &old_key, 3, "1.1.0")),
        "chain-key-revoked"
    );
    assert_eq!(
        code(sign_with(&t1, &key(102), 1, "1.1.0")),
        "chain-key-not-valid"
    );
    assert_eq!(
        code(sign_with(&t1, &key(102), 4, "1.1.0")),
        "chain-citation-unknown"
    );
    let t2 = sign_with(&t1, &key(102), 3, "1.1.0").expect("new key at seq 3");
    // The old key was still valid at seq 1, but citations never go back below 3.
    assert_eq!(
        code(sign_with(&t2, &old_key, 1, "1.2.0")),
        "chain-citation-lowered"
    );
    assert_eq!(
        code(sign_with(&t2, &key(99), 3, "1.2.0")),
        "chain-key-not-valid"
    );
}

fn alias(a: &str, target: &IndexName) -> AliasEntry {
    AliasEntry {
        alias: a.parse().expect("alias"),
        target: target.clone(),
        policy: Policy::Follow,
        versions: None,
        exclude: BTreeSet::new(),
    }
}

#[test]
fn package_index_ops() {
    let cur = Person::new(3);
    let lucy = Person::new(1);
    let idx = cur.index("community");
    let logs = [cur.log.clone(), lucy.log.clone()];
    let foo = lucy.index("libfoo");
    let mut pinned = alias("libbar", &lucy.index("libbar"));
    pinned.policy = Policy::Pin(Cid::of_record(b"rev"));
    pinned.versions = Some("^2.0".parse().expect("c"));
    pinned.exclude = BTreeSet::from([Status::Yanked, Status::Advisory]);
    let t1 = step::<PackageIndex>(
        None,
        &idx,
        &cur,
        &logs,
        vec![
            PackageOp::AddAlias(alias("libfoo", &foo)),
            PackageOp::AddAlias(pinned.clone()),
        ],
    )
    .expect("seq 1");
    assert_eq!(t1.state.alias(&"LIBBAR".parse().expect("a")), Some(pinned));
    let cases: Vec<(PackageOp, &str)> = vec![
        (
            PackageOp::AddAlias(alias("libfoo", &foo)),
            "chain-alias-exists",
        ),
        (
            PackageOp::AddAlias(alias("LibFoo", &foo)),
            "chain-alias-case-conflict",
        ),
        (
            PackageOp::UpdateAlias(alias("nope", &foo)),
            "chain-alias-missing",
        ),
        (
            PackageOp::RemoveAlias("nope".parse().expect("a")),
            "chain-alias-missing",
        ),
        (
            PackageOp::Include {
                index: idx.clone(),
                priority: 1,
            },
            "chain-include-self",
        ),
        (
            PackageOp::RemoveInclude(lucy.index("x")),
            "chain-include-missing",
        ),
    ];
    for (op, expected) in cases {
        assert_eq!(
            code(step(Some(&t1), &idx, &cur, &logs, vec![op.clone()])),
            expected,
            "{op:?}"
        );
    }
    assert_eq!(
        code(step(
            Some(&t1),
            &idx,
            &lucy,
            &logs,
            vec![PackageOp::RemoveAlias("libfoo".parse().expect("a"))]
        )),
        "chain-permission-denied"
    );
    let t2 = step(
        Some(&t1),
        &idx,
        &cur,
        &logs,
        vec![PackageOp::RemoveAlias("libfoo".parse().expect("a"))],
    )
    .expect("removal is allowed in package indexes");
    assert_eq!(t2.state.aliases().len(), 1);
}

#[test]
fn include_resolution() {
    let cur = Person::new(3);
    let other = Person::new(4);
    let (root, inc_a, inc_b, inc_c) = (
        cur.index("root"),
        other.index("a"),
        other.index("b"),
        other.index("c"),
    );
    let target = |n: &str| other.index(n);
    let state = |aliases: Vec<AliasEntry>, includes: Vec<(IndexName, u64)>| {
        let mut s = PackageState::default();
        for e in aliases {
            s.aliases
                .insert(&e.alias.folded(), e.to_value())
                .expect("insert");
        }
        s.includes = includes.into_iter().collect();
        s
    };
    let mut states: BTreeMap<IndexName, PackageState> = BTreeMap::new();
    states.insert(
        root.clone(),
        state(
            vec![alias("x", &target("own-x"))],
            vec![(inc_a.clone(), 2), (inc_b.clone(), 1)],
        ),
    );
    states.insert(
        inc_a.clone(),
        state(
            vec![alias("x", &target("a-x")), alias("y", &target("a-y"))],
            vec![],
        ),
    );
    states.insert(
        inc_b.clone(),
        state(
            vec![alias("y", &target("b-y")), alias("z", &target("b-z"))],
            vec![],
        ),
    );
    let get = |s: &BTreeMap<IndexName, PackageState>| {
        let s = s.clone();
        move |n: &IndexName| s.get(n).cloned()
    };
    let r = include::resolve(&root, &get(&states)).expect("resolve");
    assert_same_per_alias(&root, &states, &r);
    assert_eq!(r.aliases["x"].1, root, "own entries win");
    assert_eq!(r.aliases["y"].1, inc_a, "higher priority wins");
    assert_eq!(r.aliases["z"].1, inc_b);
    assert_eq!(r.shadowed.len(), 2, "{:?}", r.shadowed);
    // Sorted by alias, then winner, then hidden index, whatever the walk's order.
    let aliases: Vec<&str> = r.shadowed.iter().map(|s| s.alias.as_str()).collect();
    assert_eq!(aliases, ["x", "y"], "{:?}", r.shadowed);
    // Equal priorities that disagree.
    states
        .get_mut(&root)
        .expect("root")
        .includes
        .insert(inc_b.clone(), 2);
    let err = include::resolve(&root, &get(&states)).expect_err("conflict");
    assert_eq!(err.code(), "include-equal-priority-conflict");
    let source = States(&states);
    assert_eq!(
        include::resolve_alias(&root, "y", &source)
            .expect_err("y is mapped two ways")
            .code(),
        err.code()
    );
    assert!(
        include::resolve_alias(&root, "z", &source).is_ok(),
        "an alias mapped one way resolves"
    );
    assert!(
        err.to_string().contains(&inc_a.to_string())
            && err.to_string().contains(&inc_b.to_string())
    );
    // A cycle through c.
    states.get_mut(&root).expect("root").includes = BTreeMap::from([(inc_c.clone(), 1)]);
    states.insert(inc_c.clone(), state(vec![], vec![(root.clone(), 1)]));
    assert!(
        matches!(include::resolve(&root, &get(&states)), Err(IncludeError::Cycle(p)) if p.len() == 3)
    );
    assert_eq!(
        include::check_graph(&root, &States(&states)),
        include::resolve(&root, &get(&states)).map(|_| ())
    );
    states.remove(&inc_c);
    assert_eq!(
        include::resolve(&root, &get(&states))
            .expect_err("missing")
            .code(),
        "include-missing"
    );
    assert_eq!(
        include::check_graph(&root, &States(&states)),
        include::resolve(&root, &get(&states)).map(|_| ())
    );
}

/// Package-index states by name, read alias by alias.
struct States<'a>(&'a BTreeMap<IndexName, PackageState>);

impl include::IncludeSource for States<'_> {
    type Error = IncludeError;

    fn includes(
        &self,
        index: &IndexName,
    ) -> Result<Option<BTreeMap<IndexName, u64>>, IncludeError> {
        Ok(self.0.get(index).map(|s| s.includes.clone()))
    }

    fn alias(&self, index: &IndexName, folded: &str) -> Result<Option<AliasEntry>, IncludeError> {
        Ok(self
            .0
            .get(index)
            .and_then(|s| s.aliases().into_iter().find(|e| e.alias.folded() == folded)))
    }
}

/// Alias by alias, `resolve_alias` gives exactly the mapping `resolve` computed.
fn assert_same_per_alias(
    root: &IndexName,
    states: &BTreeMap<IndexName, PackageState>,
    resolved: &include::Resolved,
) {
    let source = States(states);
    include::check_graph(root, &source).expect("graph");
    let mut every: BTreeSet<String> = resolved.aliases.keys().cloned().collect();
    every.insert("absent".into());
    for folded in every {
        assert_eq!(
            include::resolve_alias(root, &folded, &source).expect("alias"),
            resolved.aliases.get(&folded).cloned(),
            "{folded}"
        );
    }
}

#[test]
fn large_states_stay_chunked_and_change_logarithmically() {
    let lucy = Person::new(1);
    let cite = lucy.cite();
    // 10,000 releases in one revision's worth of state.
    let idx = lucy.index("big");
    let ops: Vec<VersionOp> = (0..4000).map(|i| release(&format!("1.{i}.0"))).collect();
    let (_, t1) = next_revision::<VersionIndex>(None, &idx, cite, T, ops).expect("rev 1");
    let ops: Vec<VersionOp> = (4000..8000).map(|i| release(&format!("1.{i}.0"))).collect();
    let (_, t2) = next_revision(Some(&t1), &idx, cite, T, ops).expect("rev 2");
    let ops: Vec<VersionOp> = (8000..10_000)
        .map(|i| release(&format!("1.{i}.0")))
        .collect();
    let (_, mut t3) = next_revision(Some(&t2), &idx, cite, T, ops).expect("rev 3");
    assert_eq!(t3.state.releases().len(), 10_000);
    let blocks = t3.state.releases.blocks();
    let largest = blocks.iter().map(|(_, b)| b.len()).max().unwrap_or(0);
    assert!(
        largest < crate::profile::MAX_BLOCK_SIZE / 16,
        "largest block {largest} bytes"
    );
    let (_, t4) = next_revision(
        Some(&t3),
        &idx,
        cite,
        T,
        vec![VersionOp::Yank {
            version: v("1.5000.0"),
            reason: None,
        }],
    )
    .expect("yank");
    let depth = log16_ceil(blocks.len()) + 2;
    assert!(
        t4.fresh_blocks.len() <= depth + 1,
        "{} of {} blocks rewritten",
        t4.fresh_blocks.len(),
        blocks.len()
    );
    let _ = VersionIndex::state_root(&mut t3.state, None);

    // 50,000 aliases.
    let cur = Person::new(3);
    let pidx = cur.index("huge");
    let target = lucy.index("libfoo");
    let ops: Vec<PackageOp> = (0..MAX_OPS)
        .map(|i| PackageOp::AddAlias(alias(&format!("pkg-{i}"), &target)))
        .collect();
    let (_, mut tip) = next_revision::<PackageIndex>(None, &pidx, cur.cite(), T, ops).expect("p1");
    let mut n = MAX_OPS;
    while n < 50_000 {
        let end = (n + MAX_OPS).min(50_000);
        let ops = (n..end)
            .map(|i| PackageOp::AddAlias(alias(&format!("pkg-{i}"), &target)))
            .collect();
        tip = next_revision(Some(&tip), &pidx, cur.cite(), T, ops)
            .expect("p")
            .1;
        n = end;
    }
    let blocks = tip.state.aliases.blocks();
    assert_eq!(tip.state.aliases.len(), 50_000);
    assert!(
        blocks
            .iter()
            .all(|(_, b)| b.len() < crate::profile::MAX_BLOCK_SIZE / 16)
    );
    let (_, t) = next_revision(
        Some(&tip),
        &pidx,
        cur.cite(),
        T,
        vec![PackageOp::RemoveAlias("pkg-777".parse().expect("a"))],
    )
    .expect("remove");
    let depth = log16_ceil(blocks.len()) + 2;
    assert!(
        t.fresh_blocks.len() <= depth + 1,
        "{} of {} blocks rewritten",
        t.fresh_blocks.len(),
        blocks.len()
    );
}

#[test]
fn whole_chains_verify_and_any_flipped_byte_is_refused() {
    let lucy = Person::new(1);
    let idx = lucy.index("libfoo");
    let logs = [lucy.log.clone()];
    let mut envs = Vec::new();
    let mut tip: Option<Tip<VersionIndex>> = None;
    for ops in [
        vec![release("1.0.0")],
        vec![release("1.1.0")],
        vec![VersionOp::Yank {
            version: v("1.0.0"),
            reason: None,
        }],
    ] {
        let (s, t) =
            sign_next(tip.as_ref(), &idx, lucy.cite(), &lucy.signing, T, ops).expect("sign");
        envs.push(s.encode());
        tip = Some(t);
    }
    let verified = verify_chain::<VersionIndex>(&idx, &envs, &logs[..]).expect("chain");
    assert_eq!(verified.seq(), 3);
    for i in 0..envs.len() {
        for pos in (0..envs[i].len()).step_by(7) {
            let mut bad = envs.clone();
            bad[i][pos] ^= 0x01;
            assert!(
                verify_chain::<VersionIndex>(&idx, &bad, &logs[..]).is_err(),
                "flip at envelope {i} byte {pos}"
            );
        }
    }
}

#[test]
fn enum_order_is_wire_order() {
    assert!(
        Permission::ALL
            .windows(2)
            .all(|w| w[0] < w[1] && w[0].name() < w[1].name())
    );
    let statuses = [Status::Advisory, Status::Deprecated, Status::Yanked];
    assert!(
        statuses
            .windows(2)
            .all(|w| w[0] < w[1] && w[0].name() < w[1].name())
    );
}

/// The number of 16-way levels needed for `n` blocks.
fn log16_ceil(n: usize) -> usize {
    let (mut levels, mut reach) = (0, 1);
    while reach < n {
        reach *= 16;
        levels += 1;
    }
    levels
}

#[test]
fn loading_a_state_checks_every_entry() {
    let lucy = Person::new(1);
    let idx = lucy.index("libfoo");
    let logs = [lucy.log.clone()];
    let t1 = step::<VersionIndex>(None, &idx, &lucy, &logs, vec![release("1.0.0")]).expect("seq 1");
    // The state's top block over a map of raw values (which a typed state cannot hold).
    let blocks_of = |map: &mut crate::hamt::Hamt<Value>| {
        let mut top = crate::codec::Map::new();
        top.insert("releases", Value::Link(map.root_cid().into()));
        top.insert("grants", Value::List(Vec::new()));
        top.insert("citations", super::citations_value(&t1.state.citations));
        let bytes = crate::profile::encode_record(&Value::Map(top)).expect("top block");
        let root = Cid::of_record(&bytes);
        let mut all: HashMap<Cid, Vec<u8>> = map.blocks().into_iter().collect();
        all.insert(root, bytes);
        (root, all)
    };
    let entry = t1.state.release(&v("1.0.0")).expect("entry").to_value();
    let mut good = crate::hamt::Hamt::new();
    good.insert(&v("1.0.0").key(), entry.clone())
        .expect("insert");
    let (root, all) = blocks_of(&mut good.clone());
    assert_eq!(
        VersionState::load(root, &|c| Ok(all.get(c).cloned()))
            .expect("the raw form of a valid state loads")
            .releases(),
        t1.state.releases()
    );
    // An entry that is not a release entry.
    let mut bad = good.clone();
    bad.insert("2.0", Value::Integer(1)).expect("insert");
    let (root, all) = blocks_of(&mut bad);
    assert_eq!(
        VersionState::load(root, &|c| Ok(all.get(c).cloned()))
            .expect_err("bad entry")
            .code(),
        "record-wrong-type"
    );
    // A valid entry under another version's key.
    let mut moved = good;
    moved.insert("9.9", entry).expect("insert");
    let (root, all) = blocks_of(&mut moved);
    assert_eq!(
        VersionState::load(root, &|c| Ok(all.get(c).cloned()))
            .expect_err("wrong key")
            .code(),
        "map-not-canonical"
    );
}

#[test]
fn verify_chain_reports_an_earlier_bad_signature_before_a_later_rule_failure() {
    let lucy = Person::new(1);
    let idx = lucy.index("libfoo");
    let logs = [lucy.log.clone()];
    let (s1, t1) = sign_next::<VersionIndex>(
        None,
        &idx,
        lucy.cite(),
        &lucy.signing,
        T,
        vec![release("1.0.0")],
    )
    .expect("1");
    let (s2, _) = sign_next(
        Some(&t1),
        &idx,
        lucy.cite(),
        &lucy.signing,
        T,
        vec![release("1.1.0")],
    )
    .expect("2");
    let mut bad_sig = s2.encode();
    let last = bad_sig.len() - 1;
    bad_sig[last] ^= 0x01; // The last byte is the end of the signature.
    let chain = vec![s1.encode(), bad_sig, s1.encode()]; // ... then a rollback.
    let err = verify_chain::<VersionIndex>(&idx, &chain, &logs[..]).expect_err("refused");
    assert_eq!(err.code(), "sig-bad-signature");
    let rollback_only = vec![s1.encode(), s2.encode(), s1.encode()];
    assert_eq!(
        verify_chain::<VersionIndex>(&idx, &rollback_only, &logs[..])
            .expect_err("rollback")
            .code(),
        "chain-rollback"
    );
}

/// A chain of 300 revisions, each releasing one version, as envelope bytes (oldest first).
fn long_chain(lucy: &Person, idx: &IndexName) -> Vec<Vec<u8>> {
    let mut tip: Option<Tip<VersionIndex>> = None;
    let mut out = Vec::with_capacity(300);
    for i in 0..300 {
        let (signed, next) = sign_next(
            tip.as_ref(),
            idx,
            lucy.cite(),
            &lucy.signing,
            T,
            vec![release(&format!("1.{i}.0"))],
        )
        .expect("sign");
        out.push(signed.encode());
        tip = Some(next);
    }
    out
}

#[test]
fn a_bad_signature_is_found_on_either_side_of_a_signature_batch() {
    // Signatures are verified 128 at a time after the rules; a bad one must be reported with
    // its own seq wherever it falls: first and last of a batch, either side of a boundary, in a
    // chain that ends just before, at or just after a boundary, and before a rule failure
    // that sits in the next batch.
    assert_eq!(
        SIGNATURE_BATCH, 128,
        "the cases below straddle this boundary"
    );
    let lucy = Person::new(1);
    let idx = lucy.index("libfoo");
    let logs = [lucy.log.clone()];
    let chain = long_chain(&lucy, &idx);
    let corrupt = |len: usize, bad: usize| {
        let mut c = chain[..len].to_vec();
        let last = c[bad].len() - 1;
        c[bad][last] ^= 0x01; // The last byte is the end of the signature.
        c
    };
    for len in [127, 128, 129, 300] {
        let whole = verify_chain::<VersionIndex>(&idx, &chain[..len], &logs[..]).expect("valid");
        assert_eq!(whole.seq(), len as u64);
        for bad in [0, 126, 127, 128, 129, 255, 256, 299] {
            if bad >= len {
                continue;
            }
            let (seq, err) =
                verify_chain_from::<VersionIndex>(None, &idx, &corrupt(len, bad), &logs[..], false)
                    .expect_err("a bad signature");
            assert_eq!(err.code(), "sig-bad-signature", "len {len}, bad {bad}");
            assert_eq!(seq, bad as u64 + 1, "len {len}, bad {bad}");
        }
    }
    // The last of the first batch is bad and the first of the next is a rollback: the bad
    // signature is reported, as verifying one by one would.
    let mut c = corrupt(128, 127);
    c.push(chain[0].clone());
    let (seq, err) =
        verify_chain_from::<VersionIndex>(None, &idx, &c, &logs[..], false).expect_err("refused");
    assert_eq!((seq, err.code()), (128, "sig-bad-signature"));
    // With the signature whole, the rollback (revision 1 again, after 128) is reported.
    let mut c = chain[..128].to_vec();
    c.push(chain[0].clone());
    let (seq, err) =
        verify_chain_from::<VersionIndex>(None, &idx, &c, &logs[..], false).expect_err("refused");
    assert_eq!((seq, err.code()), (1, "chain-rollback"));
}
