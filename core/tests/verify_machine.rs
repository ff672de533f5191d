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

fn op(s: &Step_, grantee: IdentityId) -> VersionOp {
    let version = format!("1.{}", s.version).parse().expect("version");
    match s.op {
        0 | 1 => VersionOp::Release {
            version,
            release: Cid::of_record(&[s.version, s.op]),
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

/// Answers the verifier from `pool` in an order and batch sizes drawn from `order`; each
/// identity in `held` is answered from the caller's "verified store" instead of being fetched.
fn drive(
    mut verifier: LogVerifier<VersionIndex>,
    mut step: Step<VersionIndex>,
    pool: &Pool,
    held: &BTreeSet<IdentityId>,
    order: &[usize],
) -> Result<(u64, Cid, Cid), Refusal> {
    let mut open: Vec<Need> = Vec::new();
    let mut draw = order.iter().copied().cycle();
    for _ in 0..10_000 {
        match step {
            Step::Done(outcome) => {
                return outcome.map(|mut v| {
                    let root = VersionIndex::state_root(&mut v.tip.state, None);
                    (v.tip.seq(), v.tip.payload_cid, root)
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
            Need::Block(cid) => self.blocks.get(cid).map_or_else(
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
    Pool {
        envelopes: all,
        logs,
        blocks: BTreeMap::new(),
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
        let mut held = BTreeSet::new();
        if held_owner { held.insert(owner.0.id()); }
        if held_grantee { held.insert(grantee.id()); }
        let mut pool = pool(&envelopes, &[&owner.0, &grantee]);

        // From the first revision.
        let head = envelopes.last().expect("one").clone();
        let (v, first) = LogVerifier::<VersionIndex>::start(index.clone(), head.clone(), None);
        let got = drive(v, first, &pool, &held, &order);
        match (&expected, &got) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
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
            let (v, first) = LogVerifier::<VersionIndex>::start(index.clone(), head, Some(base));
            let got = drive(v, first, &pool, &held, &order);
            match (&expected, &got) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
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
    let (v, first) = LogVerifier::<VersionIndex>::start(index, envelopes[0].clone(), None);
    let got = drive(v, first, &pool, &BTreeSet::new(), &[0]);
    assert!(
        matches!(got, Err(Refusal::Unavailable(Need::IdentityHead { identity, cited_by: 1, .. })) if identity == owner.id()),
        "{got:?}"
    );
}
