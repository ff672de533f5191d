//! The sans-IO log verifier against whole-chain verification: fed the blocks it asks for in
//! any order and in batches of any size (with unasked blocks mixed in), it reaches exactly the
//! verdict and state `verify_chain` reaches on the same chain, errors included.

use std::collections::{BTreeMap, BTreeSet};

use cairn_core::testing::{Person, T};
use cairn_core::verify::{Answer, LogVerifier, Need, Refusal, Step};
use cairn_protocol::cid::Cid;
use cairn_protocol::identity::{IdentityId, IdentityLog, IdentityOp};
use cairn_protocol::index::version::{Permission, VersionIndex, VersionOp};
use cairn_protocol::index::{
    Citation, IndexKind, Revision, Tip, next_revision, verify_chain, verify_chain_from,
};
use cairn_protocol::name::IndexName;
use cairn_protocol::release::{Artifact, Release};
use cairn_protocol::sign::SecretKey;
use cairn_protocol::signed::Signed;
use proptest::prelude::*;

/// One revision to sign: who signs, which key state it cites (an offset below the latest),
/// the operation, and how it is spoiled (0: not at all, 1: wrong state link, 2: a key that is
/// not the signer's).
#[derive(Debug, Clone)]
struct Step_ {
    by_grantee: bool,
    cite_back: u64,
    op: u8,
    version: u8,
    spoil: u8,
}

fn step() -> impl Strategy<Value = Step_> {
    (
        any::<bool>(),
        0..3u64,
        0..5u8,
        0..4u8,
        prop_oneof![8 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
    )
        .prop_map(|(by_grantee, cite_back, op, version, spoil)| Step_ {
            by_grantee,
            cite_back,
            op,
            version,
            spoil,
        })
}

/// The owner, with `changes` signing-key additions in its identity log.
fn owner(changes: u8) -> (Person, Vec<SecretKey>) {
    let mut p = Person::new(1);
    let mut keys = vec![SecretKey::from_seed(&p.signing.to_seed())];
    for i in 0..changes {
        let k = SecretKey::from_seed(&[150 + i; 32]);
        let env = p
            .log
            .change(vec![IdentityOp::AddSigningKey(k.public())], T, &[&p.root])
            .expect("change");
        p.envelopes.push(env.encode());
        keys.push(k);
    }
    (p, keys)
}

/// A release record for `1.<minor>` (two variants, so republishing with other content occurs).
fn record(minor: u8, variant: u8) -> (Cid, Vec<u8>) {
    let artifact = Artifact {
        cid: Cid::of_raw(&[minor, variant]),
        size: 2,
        sha256: [variant; 32],
    };
    Release::new(
        "libfoo".parse().expect("name"),
        format!("1.{minor}").parse().expect("version"),
        BTreeMap::from([("default".to_owned(), artifact)]),
        BTreeMap::new(),
    )
    .block()
    .expect("record")
}

fn op(s: &Step_, grantee: IdentityId) -> VersionOp {
    let version = format!("1.{}", s.version).parse().expect("version");
    match s.op {
        0 | 1 => VersionOp::Release {
            version,
            release: record(s.version, s.op).0,
        },
        2 => VersionOp::Yank {
            version,
            reason: None,
        },
        3 => VersionOp::Unyank { version },
        _ => VersionOp::Grant {
            identity: grantee,
            permissions: BTreeSet::from([Permission::Release, Permission::Annotate]),
        },
    }
}

/// Signs the steps as one linked chain (each revision's `prev` is the one before, whatever it
/// holds); the state follows the last revision the rules accept.
fn chain(
    index: &IndexName,
    owner: &(Person, Vec<SecretKey>),
    grantee: &Person,
    steps: &[Step_],
) -> Vec<Vec<u8>> {
    let mut model: Option<Tip<VersionIndex>> = None;
    let mut last: Option<(u64, Cid)> = None;
    let mut out = Vec::new();
    for s in steps {
        let (who, key, latest) = if s.by_grantee {
            (
                grantee.id(),
                SecretKey::from_seed(&grantee.signing.to_seed()),
                1,
            )
        } else {
            let latest = owner.0.log.seq();
            let cited = latest.saturating_sub(s.cite_back).max(1);
            (
                owner.0.id(),
                SecretKey::from_seed(&owner.1[(cited - 1) as usize].to_seed()),
                latest,
            )
        };
        let cite = Citation {
            identity: who,
            seq: latest.saturating_sub(s.cite_back).max(1),
        };
        let ops = vec![op(s, grantee.id())];
        let (mut rev, next) = match next_revision(model.as_ref(), index, cite, T, ops.clone()) {
            Ok((rev, tip)) => (rev, Some(tip)),
            Err(_) => (
                Revision {
                    index: index.clone(),
                    seq: 0,
                    prev: None,
                    time: T,
                    signer: cite,
                    ops,
                    state: Cid::of_record(b"whatever"),
                },
                None,
            ),
        };
        rev.seq = last.map_or(1, |l| l.0 + 1);
        rev.prev = last.map(|l| l.1);
        if s.spoil == 1 {
            rev.state = Cid::of_record(&[s.version, 99]);
        }
        let key = if s.spoil == 2 {
            SecretKey::from_seed(&[77; 32])
        } else {
            key
        };
        let signed = Signed::sign(rev, &[&key]).expect("sign");
        last = Some((signed.payload().seq, signed.payload_cid()));
        out.push(signed.encode());
        if let Some(t) = next {
            model = Some(t);
        }
    }
    out
}

/// The verdict compared: the tip's seq, payload CID and state root, and the records fetched.
type Outcome = Result<((u64, Cid, Cid), BTreeSet<Cid>), Refusal>;

/// Answers the verifier from `pool` in an order and batch sizes drawn from `order`; each
/// identity in `held` is answered from the caller's "verified store" instead of being fetched.
fn drive(
    mut verifier: LogVerifier<VersionIndex>,
    mut step: Step<VersionIndex>,
    pool: &Pool,
    held: &BTreeSet<IdentityId>,
    order: &[usize],
) -> Outcome {
    let mut open: Vec<Need> = Vec::new();
    let mut draw = order.iter().copied().cycle();
    for _ in 0..10_000 {
        match step {
            Step::Done(outcome) => {
                return outcome.map(|mut v| {
                    let root = VersionIndex::state_root(&mut v.tip.state, None);
                    for (cid, bytes) in &v.records {
                        assert!(cid.matches(bytes), "a record that is not its CID");
                    }
                    (
                        (v.tip.seq(), v.tip.payload_cid, root),
                        v.records.iter().map(|(c, _)| *c).collect(),
                    )
                });
            }
            Step::Needs(new) => open.extend(new),
        }
        assert!(!open.is_empty(), "the verifier waits for nothing");
        let batch = 1 + draw.next().unwrap_or(0) % open.len();
        let mut answers = Vec::new();
        for _ in 0..batch {
            let i = draw.next().unwrap_or(0) % open.len();
            answers.push(pool.answer(&open.swap_remove(i), held));
        }
        if draw.next().unwrap_or(0) % 4 == 0 {
            // Something nobody asked for: ignored.
            answers.push(Answer::Revision(pool.any(draw.next().unwrap_or(0))));
        }
        step = verifier.feed(answers);
    }
    panic!("the verifier did not finish");
}

/// Everything a source could send.
struct Pool {
    envelopes: BTreeMap<Cid, Vec<u8>>,
    logs: BTreeMap<IdentityId, (IdentityLog, Vec<Vec<u8>>)>,
    blocks: BTreeMap<Cid, Vec<u8>>,
}

impl Pool {
    fn answer(&self, need: &Need, held: &BTreeSet<IdentityId>) -> Answer {
        match need {
            Need::Revision { payload, .. } => self.envelopes.get(payload).map_or_else(
                || Answer::Missing(need.clone()),
                |e| Answer::Revision(e.clone()),
            ),
            Need::Keys { identity, seq } => Answer::Keys {
                identity: *identity,
                seq: *seq,
                keys: held
                    .contains(identity)
                    .then(|| self.logs[identity].0.key_state(*seq).cloned())
                    .flatten(),
            },
            Need::IdentityHead { identity, .. } => match self.logs.get(identity) {
                Some((_, envs)) => Answer::IdentityHead {
                    identity: *identity,
                    envelope: envs.last().expect("genesis").clone(),
                },
                None => Answer::Missing(need.clone()),
            },
            Need::Block(cid) | Need::Record(cid) => self.blocks.get(cid).map_or_else(
                || Answer::Missing(need.clone()),
                |b| Answer::Block(*cid, b.clone()),
            ),
        }
    }

    fn any(&self, n: usize) -> Vec<u8> {
        let all: Vec<&Vec<u8>> = self.envelopes.values().collect();
        all[n % all.len()].clone()
    }
}

fn pool(envelopes: &[Vec<u8>], people: &[&Person]) -> Pool {
    let mut all = BTreeMap::new();
    let mut logs = BTreeMap::new();
    for p in people {
        for e in &p.envelopes {
            let env = Signed::<cairn_protocol::identity::IdentityRevision>::decode(e).expect("id");
            all.insert(env.payload_cid(), e.clone());
        }
        logs.insert(p.id(), (p.log.clone(), p.envelopes.clone()));
    }
    for e in envelopes {
        let env = Signed::<Revision<VersionIndex>>::decode(e).expect("decodes");
        all.insert(env.payload_cid(), e.clone());
    }
    let mut blocks = BTreeMap::new();
    for minor in 0..4 {
        for variant in 0..2 {
            let (cid, bytes) = record(minor, variant);
            blocks.insert(cid, bytes);
        }
    }
    Pool {
        envelopes: all,
        logs,
        blocks,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn any_order_and_batching_gives_the_whole_chain_verdict(
        changes in 0..3u8,
        steps in prop::collection::vec(step(), 1..24),
        order in prop::collection::vec(0..1000usize, 1..64),
        held_owner in any::<bool>(),
        held_grantee in any::<bool>(),
        split in 0..24usize,
        fetch_records in any::<bool>(),
    ) {
        let owner = owner(changes);
        let grantee = Person::new(2);
        let index = owner.0.index("libfoo");
        let envelopes = chain(&index, &owner, &grantee, &steps);
        let logs: BTreeMap<IdentityId, IdentityLog> =
            [(owner.0.id(), owner.0.log.clone()), (grantee.id(), grantee.log.clone())].into();
        let expected = verify_chain::<VersionIndex>(&index, &envelopes, &logs)
            .map(|mut t| {
                let root = VersionIndex::state_root(&mut t.state, None);
                (t.seq(), t.payload_cid, root)
            });
        let linked = |from: usize| -> BTreeSet<Cid> {
            if !fetch_records {
                return BTreeSet::new();
            }
            envelopes[from..]
                .iter()
                .flat_map(|e| {
                    let env = Signed::<Revision<VersionIndex>>::decode(e).expect("decodes");
                    env.payload().ops.iter().flat_map(VersionIndex::linked_records).collect::<Vec<_>>()
                })
                .collect()
        };
        let mut held = BTreeSet::new();
        if held_owner { held.insert(owner.0.id()); }
        if held_grantee { held.insert(grantee.id()); }
        let mut pool = pool(&envelopes, &[&owner.0, &grantee]);

        // From the first revision.
        let head = envelopes.last().expect("one").clone();
        let (v, first) =
            LogVerifier::<VersionIndex>::start(index.clone(), head.clone(), None, fetch_records);
        let got = drive(v, first, &pool, &held, &order);
        match (&expected, &got) {
            (Ok(a), Ok((b, records))) => {
                prop_assert_eq!(a, b);
                prop_assert_eq!(records, &linked(0), "every record the revisions link, no other");
            }
            (Err(a), Err(Refusal::Chain { error, .. })) => prop_assert_eq!(a, error),
            _ => prop_assert!(false, "expected {:?}, got {:?}", expected, got),
        }

        // On top of a verified prefix whose state blocks the source holds.
        let split = split % envelopes.len();
        if split > 0
            && let Ok(prefix) = verify_chain_from::<VersionIndex>(None, &index, &envelopes[..split], &logs, true)
        {
            for r in &prefix.revisions {
                pool.blocks.extend(r.fresh_blocks.iter().cloned());
            }
            let mut tip = prefix.tip;
            let base = (tip.seq(), tip.payload_cid, VersionIndex::state_root(&mut tip.state, None));
            let (v, first) =
                LogVerifier::<VersionIndex>::start(index.clone(), head, Some(base), fetch_records);
            let got = drive(v, first, &pool, &held, &order);
            match (&expected, &got) {
                (Ok(a), Ok((b, records))) => {
                    prop_assert_eq!(a, b);
                    prop_assert_eq!(records, &linked(split), "the records of the new revisions only");
                }
                (Err(a), Err(Refusal::Chain { error, .. })) => prop_assert_eq!(a, error),
                _ => prop_assert!(false, "on a base: expected {:?}, got {:?}", expected, got),
            }
        }
    }
}

#[test]
fn an_identity_nobody_has_is_reported_unavailable() {
    let (owner, _) = owner(0);
    let index = owner.index("libfoo");
    let envelopes = chain(
        &index,
        &(
            Person::new(1),
            vec![SecretKey::from_seed(&owner.signing.to_seed())],
        ),
        &Person::new(2),
        &[Step_ {
            by_grantee: false,
            cite_back: 0,
            op: 0,
            version: 0,
            spoil: 0,
        }],
    );
    let pool = pool(&envelopes, &[]);
    let (v, first) = LogVerifier::<VersionIndex>::start(index, envelopes[0].clone(), None, false);
    let got = drive(v, first, &pool, &BTreeSet::new(), &[0]);
    assert!(
        matches!(got, Err(Refusal::Unavailable(Need::IdentityHead { identity, cited_by: 1, .. })) if identity == owner.id()),
        "{got:?}"
    );
}

#[test]
fn a_missing_record_is_reported_and_a_wrong_one_is_not_taken() {
    let owner = owner(0);
    let index = owner.0.index("libfoo");
    let step = Step_ {
        by_grantee: false,
        cite_back: 0,
        op: 0,
        version: 2,
        spoil: 0,
    };
    let envelopes = chain(&index, &owner, &Person::new(2), &[step]);
    let (wanted, bytes) = record(2, 0);
    let mut pool = pool(&envelopes, &[&owner.0]);
    let run = |pool: &Pool| {
        let (v, first) =
            LogVerifier::<VersionIndex>::start(index.clone(), envelopes[0].clone(), None, true);
        drive(v, first, pool, &BTreeSet::new(), &[0])
    };
    // Another record's bytes offered for the wanted CID are not taken: the need stays open.
    let (_, other) = record(1, 0);
    let (mut v, mut step) =
        LogVerifier::<VersionIndex>::start(index.clone(), envelopes[0].clone(), None, true);
    let mut open: Vec<Need> = Vec::new();
    loop {
        match step {
            Step::Done(done) => panic!("finished without the record: {done:?}"),
            Step::Needs(new) => open.extend(new),
        }
        let others: Vec<Need> = open
            .iter()
            .filter(|n| !matches!(n, Need::Record(_)))
            .cloned()
            .collect();
        open.retain(|n| matches!(n, Need::Record(_)));
        if others.is_empty() {
            break;
        }
        step = v.feed(
            others
                .iter()
                .map(|n| pool.answer(n, &BTreeSet::new()))
                .collect(),
        );
    }
    assert_eq!(open, vec![Need::Record(wanted)]);
    match v.feed(vec![Answer::Block(wanted, other)]) {
        Step::Needs(more) => assert!(more.is_empty(), "{more:?}"),
        Step::Done(done) => panic!("took the wrong bytes: {done:?}"),
    }
    assert_eq!(v.ignored, 1, "the wrong bytes were ignored");
    match v.feed(vec![Answer::Block(wanted, bytes.clone())]) {
        Step::Done(done) => {
            let verified = done.expect("verified");
            assert_eq!(verified.records, vec![(wanted, bytes.clone())]);
        }
        Step::Needs(more) => panic!("still waiting for {more:?}"),
    }
    // A source that has no such record: reported as unavailable, naming it.
    pool.blocks.remove(&wanted);
    let got = run(&pool);
    assert!(
        matches!(got, Err(Refusal::Unavailable(Need::Record(c))) if c == wanted),
        "{got:?}"
    );
    pool.blocks.insert(wanted, bytes);
    let got = run(&pool).expect("verified");
    assert_eq!(got.1, BTreeSet::from([wanted]));
}
