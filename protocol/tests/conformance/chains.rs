//! Random version-index op sequences, signed by random identities, checked against a
//! straightforward model of the rules; and random byte flips in the valid chains they produce.

use std::collections::{BTreeMap, BTreeSet};

use cairn_protocol::chain::ChainError;
use cairn_protocol::cid::Cid;
use cairn_protocol::identity::{self, IdentityId, IdentityLog};
use cairn_protocol::index::version::{Advisory, Permission, Severity, VersionIndex, VersionOp};
use cairn_protocol::index::{
    Citation, IndexKind, Revision, Tip, next_revision, sign_next, verify_chain, verify_revision,
};
use cairn_protocol::name::IndexName;
use cairn_protocol::sign::SecretKey;
use cairn_protocol::signed::{Payload, Signed};
use cairn_protocol::version::Version;
use proptest::prelude::*;

const T: u64 = 1_795_000_000;
const VERSIONS: [&str; 5] = ["1.0.0", "1.0", "1.1.0", "2.0.0-rc.1", "2.0.0"];

/// The model's view of one release.
#[derive(Debug, Clone, PartialEq)]
struct M {
    written: String,
    cid: Cid,
    yanked: bool,
    deprecated: Option<String>,
    advisories: Vec<String>,
}

#[derive(Debug, Default)]
struct Model {
    releases: BTreeMap<String, M>,
    grants: BTreeMap<usize, BTreeSet<Permission>>,
    owner_retired: bool,
}

impl Model {
    fn may(&self, who: usize, p: Permission) -> bool {
        (who == 0 && !self.owner_retired) || self.grants.get(&who).is_some_and(|g| g.contains(&p))
    }

    /// Applies one op; the error is the code the protocol must report.
    fn apply(&mut self, who: usize, op: &MOp) -> Result<(), &'static str> {
        let needs = match op {
            MOp::Release(..) => Permission::Release,
            MOp::Grant(..) | MOp::Revoke(_) => Permission::Grant,
            _ => Permission::Annotate,
        };
        if !self.may(who, needs) {
            return Err("chain-permission-denied");
        }
        let key = |v: usize| VERSIONS[v].parse::<Version>().expect("v").key();
        match op {
            MOp::Release(v, c) => match self.releases.get(&key(*v)) {
                Some(m) if m.cid == cid(*c) => Ok(()),
                Some(_) => Err("chain-republish"),
                None => {
                    self.releases.insert(
                        key(*v),
                        M {
                            written: VERSIONS[*v].into(),
                            cid: cid(*c),
                            yanked: false,
                            deprecated: None,
                            advisories: vec![],
                        },
                    );
                    Ok(())
                }
            },
            MOp::Yank(v) | MOp::Unyank(v) | MOp::Deprecate(v) | MOp::Advisory(v, _) => {
                let m = self
                    .releases
                    .get_mut(&key(*v))
                    .ok_or("chain-unknown-version")?;
                match op {
                    MOp::Yank(_) => m.yanked = true,
                    MOp::Unyank(_) => m.yanked = false,
                    MOp::Deprecate(_) => m.deprecated = Some("use 2.0".into()),
                    MOp::Advisory(_, id) => {
                        let id = format!("CVE-{id}");
                        if m.advisories.contains(&id) {
                            return Err("chain-advisory-exists");
                        }
                        m.advisories.push(id);
                    }
                    _ => unreachable!("matched above"),
                }
                Ok(())
            }
            MOp::Grant(w, perms) => {
                if *w == 0 && !self.owner_retired {
                    return Err("chain-grant-owner");
                }
                self.grants.insert(*w, perms.clone());
                Ok(())
            }
            MOp::Revoke(w) => {
                if *w == 0 && !self.owner_retired {
                    if who != 0 {
                        return Err("chain-revoke-owner");
                    }
                    self.owner_retired = true;
                    return Ok(());
                }
                self.grants.remove(w).map(|_| ()).ok_or("chain-not-granted")
            }
        }
    }
}

fn cid(c: usize) -> Cid {
    Cid::of_record(&[c as u8])
}

/// An op over small pools, so that collisions (republish, unknown version, …) happen often.
#[derive(Debug, Clone)]
enum MOp {
    Release(usize, usize),
    Yank(usize),
    Unyank(usize),
    Deprecate(usize),
    Advisory(usize, u8),
    Grant(usize, BTreeSet<Permission>),
    Revoke(usize),
}

fn op_strategy() -> impl Strategy<Value = MOp> {
    let v = 0..VERSIONS.len();
    let perms = prop::sample::subsequence(Permission::ALL.to_vec(), 1..=3)
        .prop_map(|p| p.into_iter().collect::<BTreeSet<_>>());
    prop_oneof![
        4 => (v.clone(), 0..2usize).prop_map(|(v, c)| MOp::Release(v, c)),
        2 => v.clone().prop_map(MOp::Yank),
        1 => v.clone().prop_map(MOp::Unyank),
        1 => v.clone().prop_map(MOp::Deprecate),
        1 => (v, 0..3u8).prop_map(|(v, i)| MOp::Advisory(v, i)),
        2 => (0..3usize, perms).prop_map(|(w, p)| MOp::Grant(w, p)),
        1 => (0..3usize).prop_map(MOp::Revoke),
    ]
}

struct People {
    keys: Vec<SecretKey>,
    logs: Vec<IdentityLog>,
}

impl People {
    fn new() -> People {
        let keys: Vec<SecretKey> = (0..3u8)
            .map(|i| SecretKey::from_seed(&[i + 50; 32]))
            .collect();
        let logs = (0..3u8)
            .map(|i| {
                identity::create(
                    &[&SecretKey::from_seed(&[i + 1; 32])],
                    1,
                    &[keys[usize::from(i)].public()],
                    T,
                )
                .expect("identity")
                .1
            })
            .collect();
        People { keys, logs }
    }

    fn id(&self, who: usize) -> IdentityId {
        self.logs[who].id()
    }

    fn cite(&self, who: usize) -> Citation {
        Citation {
            identity: self.id(who),
            seq: 1,
        }
    }
}

fn to_op(p: &People, op: &MOp) -> VersionOp {
    let ver = |v: usize| VERSIONS[v].parse::<Version>().expect("v");
    match op {
        MOp::Release(v, c) => VersionOp::Release {
            version: ver(*v),
            release: cid(*c),
        },
        MOp::Yank(v) => VersionOp::Yank {
            version: ver(*v),
            reason: None,
        },
        MOp::Unyank(v) => VersionOp::Unyank { version: ver(*v) },
        MOp::Deprecate(v) => VersionOp::Deprecate {
            version: ver(*v),
            message: "use 2.0".into(),
        },
        MOp::Advisory(v, i) => VersionOp::Advisory {
            version: ver(*v),
            advisory: Advisory {
                id: format!("CVE-{i}"),
                severity: Severity::High,
                summary: "bad".into(),
            },
        },
        MOp::Grant(w, perms) => VersionOp::Grant {
            identity: p.id(*w),
            permissions: perms.clone(),
        },
        MOp::Revoke(w) => VersionOp::Revoke { identity: p.id(*w) },
    }
}

fn same_state(model: &Model, tip: &Tip<VersionIndex>, p: &People) -> bool {
    let real: Vec<M> = tip
        .state
        .releases()
        .into_iter()
        .map(|e| M {
            written: e.version.to_string(),
            cid: e.release,
            yanked: e.yanked,
            deprecated: e.deprecated,
            advisories: e.advisories.into_iter().map(|a| a.id).collect(),
        })
        .collect();
    let mut expected: Vec<M> = model.releases.values().cloned().collect();
    expected.sort_by(|a, b| {
        a.written
            .parse::<Version>()
            .expect("v")
            .cmp(&b.written.parse::<Version>().expect("v"))
    });
    let grants: BTreeMap<IdentityId, BTreeSet<Permission>> = model
        .grants
        .iter()
        .map(|(w, g)| (p.id(*w), g.clone()))
        .collect();
    real == expected && tip.state.grants == grants && tip.state.owner_retired == model.owner_retired
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn verify_revision_agrees_with_the_model(steps in prop::collection::vec((0..3usize, prop::collection::vec(op_strategy(), 1..4)), 1..24), flip in any::<prop::sample::Index>(), byte in 1..=255u8) {
        let people = People::new();
        let index: IndexName = IndexName::new(people.id(0), "libfoo".parse().expect("name"));
        let mut model = Model::default();
        let mut tip: Option<Tip<VersionIndex>> = None;
        let mut chain: Vec<Vec<u8>> = Vec::new();
        for (who, ops) in &steps {
            let mut trial = Model { releases: model.releases.clone(), grants: model.grants.clone(), owner_retired: model.owner_retired };
            let expected = ops.iter().try_for_each(|op| trial.apply(*who, op));
            let real_ops: Vec<VersionOp> = ops.iter().map(|o| to_op(&people, o)).collect();
            let result = match next_revision(tip.as_ref(), &index, people.cite(*who), T, real_ops.clone()) {
                Ok(_) => {
                    let (signed, _) = sign_next(tip.as_ref(), &index, people.cite(*who), &people.keys[*who], T, real_ops).expect("sign");
                    let bytes = signed.encode();
                    let env = Signed::decode(&bytes).expect("decode");
                    verify_revision(tip.clone(), &index, env, &people.logs[..], None).map(|t| (t, bytes))
                }
                Err(build_error) => {
                    // The builder refused: a receiving verifier must refuse the same revision,
                    // whatever state link it carries.
                    let rev = Revision::<VersionIndex> {
                        index: index.clone(),
                        seq: tip.as_ref().map_or(1, |t| t.seq() + 1),
                        prev: tip.as_ref().map(|t| t.payload_cid),
                        time: T,
                        signer: people.cite(*who),
                        ops: real_ops,
                        state: Cid::of_record(b"any"),
                    };
                    prop_assert!(cairn_protocol::profile::encode_record(&rev.to_value()).is_ok());
                    let env = Signed::decode(&Signed::sign(rev, &[&people.keys[*who]]).expect("sign").encode()).expect("decode");
                    let verdict = verify_revision(tip.clone(), &index, env, &people.logs[..], None);
                    prop_assert_eq!(verdict.as_ref().map_err(ChainError::code).err(), Some(build_error.code()));
                    Err(build_error)
                }
            };
            match (expected, result) {
                (Ok(()), Ok((t, bytes))) => {
                    model = trial;
                    prop_assert!(same_state(&model, &t, &people), "state differs from the model after {:?}", ops);
                    tip = Some(t);
                    chain.push(bytes);
                }
                (Err(code), Err(e)) => prop_assert_eq!(code, e.code()),
                (exp, got) => prop_assert!(false, "model says {:?}, protocol says {:?}", exp, got.map(|_| ()).map_err(|e| e.code())),
            }
        }
        if !chain.is_empty() {
            let mut verified = verify_chain::<VersionIndex>(&index, &chain, &people.logs[..]).expect("the valid chain verifies");
            let mut one_by_one = tip.clone().expect("tip");
            prop_assert_eq!(verified.payload_cid, one_by_one.payload_cid);
            prop_assert_eq!(&verified.revision, &one_by_one.revision);
            prop_assert_eq!(
                VersionIndex::state_root(&mut verified.state, None),
                VersionIndex::state_root(&mut one_by_one.state, None)
            );
            let total: usize = chain.iter().map(Vec::len).sum();
            let mut pos = flip.index(total);
            let mut bad = chain.clone();
            for env in &mut bad {
                if pos < env.len() {
                    env[pos] ^= byte;
                    break;
                }
                pos -= env.len();
            }
            prop_assert!(verify_chain::<VersionIndex>(&index, &bad, &people.logs[..]).is_err(), "a flipped byte went unnoticed");
        }
        let _ = <VersionIndex as IndexKind>::DOMAIN;
    }
}
