//! `identity/chains.json` and `chains/*.json`: each chain rule as a sequence of revisions, with
//! the verdict of each. Rejected revisions are skipped: the next one builds on the last
//! accepted revision.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context as _, bail};
use cairn_protocol::chain::ChainError;
use cairn_protocol::cid::Cid;
use cairn_protocol::codec::{Map, Value};
use cairn_protocol::identity::{
    self, IdentityLog, IdentityOp, IdentityRevision, next_revision as next_identity,
};
use cairn_protocol::index::package::{AliasEntry, PackageIndex, PackageOp, Policy};
use cairn_protocol::index::version::{Permission, VersionIndex, VersionOp, VersionState};
use cairn_protocol::index::{Citation, IndexKind, Revision, Tip, next_revision, verify_revision};
use cairn_protocol::name::IndexName;
use cairn_protocol::sign::SecretKey;
use cairn_protocol::signed::Signed;
use serde_json::{Value as Json, json};

use crate::VectorFile;
use crate::util::{expect_eq, file, text};

pub(crate) fn files() -> Vec<VectorFile> {
    vec![
        VectorFile {
            path: "identity/chains.json",
            generate: identity_chains,
            check: check_identity_chain,
        },
        VectorFile {
            path: "chains/version-index.json",
            generate: version_chains,
            check: check_index_chain::<VersionIndex>,
        },
        VectorFile {
            path: "chains/package-index.json",
            generate: package_chains,
            check: check_index_chain::<PackageIndex>,
        },
    ]
}

const T: u64 = 1_795_000_000;

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

fn hexes(v: &[Vec<u8>]) -> Vec<String> {
    v.iter().map(hex::encode).collect()
}

/// Verifies identity envelopes in order; rejected ones are skipped. Returns the log and verdicts.
fn run_identity(envs: &[Vec<u8>]) -> (Option<IdentityLog>, Vec<String>) {
    let mut log: Option<IdentityLog> = None;
    let mut verdicts = Vec::new();
    for bytes in envs {
        let result = Signed::<IdentityRevision>::decode(bytes)
            .map_err(ChainError::from)
            .and_then(|env| match &mut log {
                None => IdentityLog::genesis(env).map(|l| log = Some(l)),
                Some(l) => l.append(env),
            });
        verdicts.push(result.map_or_else(|e| e.code().to_owned(), |()| "ok".to_owned()));
    }
    (log, verdicts)
}

fn sign_identity(rev: IdentityRevision, keys: &[&SecretKey]) -> anyhow::Result<Vec<u8>> {
    Ok(Signed::sign(rev, keys)?.encode())
}

/// The raw CID of every byte list in a chain vector, concatenated in field order.
fn chain_input_cid(v: &Json) -> anyhow::Result<String> {
    let mut all = Vec::new();
    for key in ["identities", "revisions", "blocks"] {
        let mut stack: Vec<&Json> = v.get(key).into_iter().collect();
        while let Some(x) = stack.pop() {
            match x {
                Json::Array(items) => stack.extend(items.iter().rev()),
                Json::String(h) => all.extend(hex::decode(h).context("hex")?),
                _ => bail!("`{key}` holds hex strings"),
            }
        }
    }
    Ok(Cid::of_raw(&all).to_string())
}

fn identity_chain(name: &str, envs: &[Vec<u8>]) -> Json {
    let (log, verdicts) = run_identity(envs);
    let mut v = json!({
        "name": name,
        "revisions": hexes(envs),
        "verdicts": verdicts,
        "identity": log.as_ref().map(|l| l.id().to_string()),
        "head": log.as_ref().map(|l| l.head().to_string()),
    });
    v["input_cid"] = json!(chain_input_cid(&v).unwrap_or_default());
    v
}

fn identity_chains() -> anyhow::Result<Json> {
    let (k1, k2, k3, s) = (key(1), key(2), key(3), key(10));
    let (genesis, log) = identity::create(&[&k1, &k2], 2, &[s.public()], T)?;
    let g = genesis.encode();
    let next = |ops: Vec<IdentityOp>| next_identity(Some(&log), T + 1, ops);
    let rotate = vec![
        IdentityOp::RemoveRootKey(k2.public()),
        IdentityOp::AddRootKey(k3.public()),
    ];
    let mut vectors = vec![
        identity_chain(
            "genesis with two root keys (threshold 2) and a signing key",
            std::slice::from_ref(&g),
        ),
        identity_chain(
            "rotate a root key signed by the old and the new quorum",
            &[
                g.clone(),
                sign_identity(next(rotate.clone())?, &[&k1, &k2, &k3])?,
            ],
        ),
        identity_chain(
            "rotation missing the old threshold",
            &[
                g.clone(),
                sign_identity(next(rotate.clone())?, &[&k1, &k3])?,
            ],
        ),
        identity_chain(
            "rotation missing the new threshold",
            &[g.clone(), sign_identity(next(rotate)?, &[&k1, &k2])?],
        ),
        identity_chain(
            "lowering the threshold to 1, signed by one of two roots: the previous state's threshold (2) applies to the previous roots",
            &[
                g.clone(),
                sign_identity(next(vec![IdentityOp::SetThreshold(1)])?, &[&k1])?,
            ],
        ),
        identity_chain(
            "adding a root and raising the threshold to 3, signed by the two previous roots: the new threshold applies to the new roots",
            &[
                g.clone(),
                sign_identity(
                    next(vec![
                        IdentityOp::AddRootKey(k3.public()),
                        IdentityOp::SetThreshold(3),
                    ])?,
                    &[&k1, &k2],
                )?,
            ],
        ),
        identity_chain(
            "removing every root key (an identity keeps 1 to 16)",
            &[
                g.clone(),
                sign_identity(
                    IdentityRevision {
                        seq: 2,
                        prev: Some(log.head()),
                        time: T + 1,
                        ops: vec![
                            IdentityOp::RemoveRootKey(k1.public()),
                            IdentityOp::RemoveRootKey(k2.public()),
                        ],
                        state: log.key_state(1).context("seq 1")?.block().0,
                    },
                    &[&k1, &k2],
                )?,
            ],
        ),
        identity_chain(
            "a signing key cannot change the identity",
            &[
                g.clone(),
                sign_identity(
                    next(vec![IdentityOp::AddSigningKey(key(11).public())])?,
                    &[&s],
                )?,
            ],
        ),
    ];
    let revoke = sign_identity(next(vec![IdentityOp::RevokeKey(s.public())])?, &[&k1, &k2])?;
    let mut after = log.clone();
    after.append(Signed::decode(&revoke)?)?;
    let readd = next_identity(
        Some(&after),
        T + 2,
        vec![IdentityOp::AddSigningKey(s.public())],
    );
    let readd = match readd {
        Err(e) if e.code() == "identity-key-revoked" => {
            // Build the offending revision by hand: the builder refuses it, a verifier must too.
            let state = after.key_state(2).context("seq 2")?.block().0;
            IdentityRevision {
                seq: 3,
                prev: Some(after.head()),
                time: T + 2,
                ops: vec![IdentityOp::AddSigningKey(s.public())],
                state,
            }
        }
        other => bail!("re-adding a revoked key must be refused, got {other:?}"),
    };
    vectors.push(identity_chain(
        "a revoked key can never be added again",
        &[g.clone(), revoke, sign_identity(readd, &[&k1, &k2])?],
    ));
    let good = next(vec![IdentityOp::AddSigningKey(key(11).public())])?;
    let mut gap = good.clone();
    gap.seq = 3;
    let mut prev = good.clone();
    prev.prev = Some(Cid::of_record(b"elsewhere"));
    let mut state = good.clone();
    state.state = Cid::of_record(b"other");
    let mut zero = next(vec![IdentityOp::AddSigningKey(key(12).public())])?;
    zero.ops.push(IdentityOp::SetThreshold(0));
    vectors.push(identity_chain(
        "seq gap",
        &[g.clone(), sign_identity(gap, &[&k1, &k2])?],
    ));
    vectors.push(identity_chain(
        "wrong prev",
        &[g.clone(), sign_identity(prev, &[&k1, &k2])?],
    ));
    vectors.push(identity_chain(
        "state mismatch",
        &[g.clone(), sign_identity(state, &[&k1, &k2])?],
    ));
    // An operation with an unknown name (and no argument) is refused by its name.
    let mut unknown =
        cairn_protocol::signed::Payload::to_value(&next(vec![IdentityOp::AddSigningKey(
            key(13).public(),
        )])?);
    if let Value::Map(m) = &mut unknown {
        let mut op = Map::new();
        op.insert("op", Value::text("frobnicate"));
        m.insert("ops", Value::List(vec![Value::Map(op)]));
    }
    let unknown = Signed::sign(
        cairn_protocol::signed::Opaque::<cairn_protocol::signed::domains::Identity>::new(unknown),
        &[&k1, &k2],
    )?
    .encode();
    vectors.push(identity_chain(
        "an operation named `frobnicate`: refused by its name",
        &[g.clone(), unknown],
    ));
    vectors.push(identity_chain(
        "threshold 0",
        &[g.clone(), sign_identity(zero, &[&k1, &k2])?],
    ));
    vectors.push(identity_chain(
        "replayed genesis (rollback)",
        &[g.clone(), sign_identity(good, &[&k1, &k2])?, g],
    ));
    Ok(file(
        "Identity logs: verify `revisions` in order (hex envelopes); each gets its verdict (`ok` or an error code); rejected revisions are skipped. `identity` is the ID from the genesis revision, `head` the last accepted payload CID.",
        "spec/05-identities.md#identity-log-revisions",
        vectors,
    ))
}

fn check_identity_chain(v: &Json) -> anyhow::Result<()> {
    expect_eq(v, "input_cid", &chain_input_cid(v)?)?;
    let envs = hex_list(v, "revisions")?;
    let (log, verdicts) = run_identity(&envs);
    if Json::from(verdicts.clone()) != v["verdicts"] {
        bail!(
            "verdicts: the vector says {}, the implementation gives {verdicts:?}",
            v["verdicts"]
        );
    }
    let log = log.context("the genesis revision must be accepted")?;
    expect_eq(v, "identity", &log.id().to_string())?;
    expect_eq(v, "head", &log.head().to_string())
}

fn hex_list(v: &Json, key: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    v[key]
        .as_array()
        .with_context(|| format!("missing list `{key}`"))?
        .iter()
        .map(|h| hex::decode(h.as_str().context("hex string")?).context("hex"))
        .collect()
}

/// A person with one root key and one signing key, and their identity-log envelopes.
struct Person {
    root: SecretKey,
    signing: SecretKey,
    log: IdentityLog,
    envs: Vec<Vec<u8>>,
}

impl Person {
    fn new(n: u8) -> anyhow::Result<Person> {
        let (root, signing) = (key(n), key(n + 100));
        let (env, log) = identity::create(&[&root], 1, &[signing.public()], T)?;
        Ok(Person {
            root,
            signing,
            log,
            envs: vec![env.encode()],
        })
    }

    fn change(&mut self, ops: Vec<IdentityOp>) -> anyhow::Result<()> {
        let env = self.log.change(ops, T, &[&self.root])?;
        self.envs.push(env.encode());
        Ok(())
    }

    fn cite(&self) -> Citation {
        Citation {
            identity: self.log.id(),
            seq: self.log.seq(),
        }
    }

    fn index(&self, name: &str) -> IndexName {
        IndexName::new(
            self.log.id(),
            name.parse().unwrap_or_else(|e| panic!("{e}")),
        )
    }
}

/// Builds a chain vector: `steps` are (signer, citation, ops, tamper) applied in order; a
/// tamper function may alter the revision before signing.
struct ChainBuilder<K: IndexKind> {
    index: IndexName,
    tip: Option<Tip<K>>,
    envs: Vec<Vec<u8>>,
    blocks: Vec<Vec<u8>>,
}

impl<K: IndexKind> ChainBuilder<K> {
    fn new(index: IndexName) -> Self {
        ChainBuilder {
            index,
            tip: None,
            envs: Vec::new(),
            blocks: Vec::new(),
        }
    }

    /// Adds a revision; if a verifier holding `people`'s identity logs accepts it, it becomes
    /// the base of the next one.
    fn push(
        &mut self,
        people: &[&Person],
        key: &SecretKey,
        cite: Citation,
        ops: Vec<K::Op>,
        tamper: impl FnOnce(&mut Revision<K>),
    ) -> anyhow::Result<()> {
        let mut rev = match next_revision(self.tip.as_ref(), &self.index, cite, T, ops.clone()) {
            Ok((rev, _)) => rev,
            // Refused by the builder: sign it anyway with the previous state link.
            Err(_) => Revision {
                index: self.index.clone(),
                seq: self.tip.as_ref().map_or(1, |t| t.seq() + 1),
                prev: self.tip.as_ref().map(|t| t.payload_cid),
                time: T,
                signer: cite,
                ops,
                state: self
                    .tip
                    .as_ref()
                    .map_or(Cid::of_record(b""), |t| t.revision.state),
            },
        };
        tamper(&mut rev);
        let bytes = Signed::sign(rev, &[key])?.encode();
        let logs: BTreeMap<_, _> = people.iter().map(|p| (p.log.id(), p.log.clone())).collect();
        if let Ok(t) = verify_revision(
            self.tip.clone(),
            &self.index,
            Signed::decode(&bytes)?,
            &logs,
            None,
        ) {
            self.tip = Some(t);
        }
        self.envs.push(bytes);
        Ok(())
    }

    fn vector(self, name: &str, people: &[&Person]) -> anyhow::Result<Json> {
        let identities: Vec<Vec<String>> = people.iter().map(|p| hexes(&p.envs)).collect();
        let mut v = json!({
            "name": name,
            "index": self.index.to_string(),
            "identities": identities,
            "revisions": hexes(&self.envs),
        });
        if !self.blocks.is_empty() {
            v["blocks"] = json!(hexes(&self.blocks));
        }
        let (verdicts, state) = run_index::<K>(&v)?;
        v["input_cid"] = json!(chain_input_cid(&v)?);
        v["verdicts"] = json!(verdicts);
        v["state"] = json!(state);
        Ok(v)
    }
}

/// Verifies an index chain vector: identity logs first, then each revision in order.
fn run_index<K: IndexKind>(v: &Json) -> anyhow::Result<(Vec<String>, Option<String>)> {
    let index: IndexName = text(v, "index")?.parse()?;
    let mut logs = BTreeMap::new();
    for envs in v["identities"].as_array().context("missing `identities`")? {
        let envs: Vec<Vec<u8>> = envs
            .as_array()
            .context("list")?
            .iter()
            .map(|h| hex::decode(h.as_str().unwrap_or("")).context("hex"))
            .collect::<Result<_, _>>()?;
        let (log, verdicts) = run_identity(&envs);
        if verdicts.iter().any(|x| x != "ok") {
            bail!("an identity log in the vector does not verify: {verdicts:?}");
        }
        let log = log.context("empty identity log")?;
        logs.insert(log.id(), log);
    }
    let blocks: HashMap<Cid, Vec<u8>> = match v.get("blocks") {
        Some(_) => hex_list(v, "blocks")?
            .into_iter()
            .map(|b| (Cid::of_record(&b), b))
            .collect(),
        None => HashMap::new(),
    };
    let fetch = |c: &Cid| Ok(blocks.get(c).cloned());
    let mut tip: Option<Tip<K>> = None;
    let mut verdicts = Vec::new();
    for bytes in hex_list(v, "revisions")? {
        let result = Signed::<Revision<K>>::decode(&bytes)
            .map_err(ChainError::from)
            .and_then(|env| verify_revision(tip.clone(), &index, env, &logs, Some(&fetch)));
        match result {
            Ok(t) => {
                tip = Some(t);
                verdicts.push("ok".to_owned());
            }
            Err(e) => verdicts.push(e.code().to_owned()),
        }
    }
    Ok((verdicts, tip.map(|t| t.revision.state.to_string())))
}

fn check_index_chain<K: IndexKind>(v: &Json) -> anyhow::Result<()> {
    expect_eq(v, "input_cid", &chain_input_cid(v)?)?;
    let (verdicts, state) = run_index::<K>(v)?;
    if Json::from(verdicts.clone()) != v["verdicts"] {
        bail!(
            "verdicts: the vector says {}, the implementation gives {verdicts:?}",
            v["verdicts"]
        );
    }
    if json!(state) != v["state"] {
        bail!(
            "final state: the vector says {}, the implementation gives {state:?}",
            v["state"]
        );
    }
    Ok(())
}

fn rel(ver: &str) -> VersionOp {
    VersionOp::Release {
        version: ver.parse().unwrap_or_else(|e| panic!("{e}")),
        release: Cid::of_record(ver.as_bytes()),
    }
}

fn yank(ver: &str) -> VersionOp {
    VersionOp::Yank {
        version: ver.parse().unwrap_or_else(|e| panic!("{e}")),
        reason: None,
    }
}

/// The ops by which `owner` hands its index to `to`: every permission, then revoking itself.
fn transfer(owner: &Person, to: &Person) -> Vec<VersionOp> {
    vec![
        VersionOp::Grant {
            identity: to.log.id(),
            permissions: Permission::ALL.into_iter().collect(),
        },
        VersionOp::Revoke {
            identity: owner.log.id(),
        },
    ]
}

fn version_chains() -> anyhow::Result<Json> {
    let lucy = Person::new(1)?;
    let bob = Person::new(2)?;
    let idx = lucy.index("libfoo");
    let none = |_: &mut Revision<VersionIndex>| {};
    let base = |b: &mut ChainBuilder<VersionIndex>| {
        b.push(
            &[&lucy, &bob],
            &lucy.signing,
            lucy.cite(),
            vec![rel("1.0.0"), rel("1.1.0")],
            none,
        )
    };
    let mut out = Vec::new();

    let mut b = ChainBuilder::new(idx.clone());
    base(&mut b)?;
    b.push(
        &[&lucy, &bob],
        &lucy.signing,
        lucy.cite(),
        vec![yank("1.0.0")],
        none,
    )?;
    b.push(
        &[&lucy, &bob],
        &lucy.signing,
        lucy.cite(),
        vec![
            VersionOp::Unyank {
                version: "1.0".parse()?,
            },
            rel("2.0.0-rc.1"),
        ],
        none,
    )?;
    out.push(b.vector("releases, yank, un-yank (accepted)", &[&lucy])?);

    let mut b = ChainBuilder::new(idx.clone());
    base(&mut b)?;
    b.push(
        &[&lucy, &bob],
        &lucy.signing,
        lucy.cite(),
        vec![
            VersionOp::Yank {
                version: "1.0.0".parse()?,
                reason: Some("broken build".into()),
            },
            // Un-yanking a release that is not yanked changes nothing.
            VersionOp::Unyank {
                version: "1.1.0".parse()?,
            },
        ],
        none,
    )?;
    // A yank without a reason replaces the reason with none.
    b.push(
        &[&lucy, &bob],
        &lucy.signing,
        lucy.cite(),
        vec![yank("1.0.0")],
        none,
    )?;
    out.push(b.vector(
        "yank with a reason, un-yank of a release not yanked, yank again without a reason (accepted; no reason remains)",
        &[&lucy],
    )?);

    let mut b = ChainBuilder::new(idx.clone());
    base(&mut b)?;
    b.push(
        &[&lucy, &bob],
        &lucy.signing,
        lucy.cite(),
        vec![yank("1.0.0")],
        |r| r.seq = 3,
    )?;
    out.push(b.vector("seq gap", &[&lucy])?);

    let mut b = ChainBuilder::new(idx.clone());
    base(&mut b)?;
    b.push(
        &[&lucy, &bob],
        &lucy.signing,
        lucy.cite(),
        vec![yank("1.0.0")],
        |r| r.prev = Some(Cid::of_record(b"x")),
    )?;
    out.push(b.vector("wrong prev", &[&lucy])?);

    let mut b = ChainBuilder::new(idx.clone());
    base(&mut b)?;
    b.push(
        &[&lucy, &bob],
        &lucy.signing,
        lucy.cite(),
        vec![yank("1.0.0")],
        none,
    )?;
    let first = b.envs[0].clone();
    b.envs.push(first);
    out.push(b.vector("rollback: the first revision offered again", &[&lucy])?);

    let mut b = ChainBuilder::new(idx.clone());
    base(&mut b)?;
    b.push(
        &[&lucy, &bob],
        &lucy.signing,
        lucy.cite(),
        vec![yank("1.0.0")],
        |r| r.state = Cid::of_record(b"x"),
    )?;
    out.push(b.vector("state mismatch", &[&lucy])?);

    let mut b = ChainBuilder::new(idx.clone());
    base(&mut b)?;
    b.push(
        &[&lucy, &bob],
        &lucy.signing,
        lucy.cite(),
        vec![VersionOp::Release {
            version: "1.1".parse()?,
            release: Cid::of_record(b"other"),
        }],
        none,
    )?;
    b.push(
        &[&lucy, &bob],
        &lucy.signing,
        lucy.cite(),
        vec![VersionOp::Release {
            version: "1.1.0.0".parse()?,
            release: Cid::of_record(b"1.1.0"),
        }],
        none,
    )?;
    out.push(b.vector(
        "republish with other bytes refused; identical republish accepted",
        &[&lucy],
    )?);

    let mut b = ChainBuilder::new(idx.clone());
    base(&mut b)?;
    b.push(
        &[&lucy, &bob],
        &bob.signing,
        bob.cite(),
        vec![rel("1.2.0")],
        none,
    )?;
    b.push(
        &[&lucy, &bob],
        &lucy.signing,
        lucy.cite(),
        vec![VersionOp::Grant {
            identity: bob.log.id(),
            permissions: BTreeSet::from([Permission::Release]),
        }],
        none,
    )?;
    b.push(
        &[&lucy, &bob],
        &bob.signing,
        bob.cite(),
        vec![rel("1.2.0")],
        none,
    )?;
    b.push(
        &[&lucy, &bob],
        &bob.signing,
        bob.cite(),
        vec![yank("1.0.0")],
        none,
    )?;
    out.push(b.vector(
        "signer without permission, then granted release only",
        &[&lucy, &bob],
    )?);

    let mut b = ChainBuilder::new(idx.clone());
    base(&mut b)?;
    b.push(
        &[&lucy, &bob],
        &lucy.signing,
        lucy.cite(),
        transfer(&lucy, &bob),
        none,
    )?;
    b.push(
        &[&lucy, &bob],
        &lucy.signing,
        lucy.cite(),
        vec![rel("2.0.0")],
        none,
    )?;
    b.push(
        &[&lucy, &bob],
        &bob.signing,
        bob.cite(),
        vec![rel("2.0.0")],
        none,
    )?;
    out.push(b.vector(
        "ownership transfer: grant everything, then the owner revokes itself",
        &[&lucy, &bob],
    )?);

    // A retired owner granted again is a grantee like any other: anyone holding `grant`
    // revokes it.
    let mut b = ChainBuilder::new(idx.clone());
    base(&mut b)?;
    b.push(
        &[&lucy, &bob],
        &lucy.signing,
        lucy.cite(),
        transfer(&lucy, &bob),
        none,
    )?;
    for (who, op) in [
        (
            &bob,
            VersionOp::Grant {
                identity: lucy.log.id(),
                permissions: [Permission::Release].into_iter().collect(),
            },
        ),
        (&lucy, rel("2.0.0")),
        (
            &bob,
            VersionOp::Revoke {
                identity: lucy.log.id(),
            },
        ),
        (&lucy, rel("3.0.0")),
    ] {
        b.push(&[&lucy, &bob], &who.signing, who.cite(), vec![op], none)?;
    }
    out.push(b.vector(
        "a retired owner granted release again, then revoked by the new holder of grant",
        &[&lucy, &bob],
    )?);

    // Key rotation and revocation in the identity log.
    let mut carol = Person::new(3)?;
    let cidx = carol.index("libc");
    let old = carol.signing.public();
    let new_key = key(55);
    let mut b = ChainBuilder::new(cidx.clone());
    b.push(
        &[&carol],
        &carol.signing,
        carol.cite(),
        vec![rel("1.0.0")],
        none,
    )?;
    carol.change(vec![IdentityOp::AddSigningKey(new_key.public())])?;
    carol.change(vec![IdentityOp::RevokeKey(old)])?;
    let at = |seq| Citation {
        identity: carol.log.id(),
        seq,
    };
    b.push(&[&carol], &carol.signing, at(3), vec![rel("1.1.0")], none)?;
    b.push(&[&carol], &new_key, at(1), vec![rel("1.1.0")], none)?;
    b.push(&[&carol], &new_key, at(3), vec![rel("1.1.0")], none)?;
    b.push(&[&carol], &carol.signing, at(1), vec![rel("1.2.0")], none)?;
    out.push(b.vector(
        "key revoked at the cited seq; key not yet valid; citation lowered",
        &[&carol],
    )?);

    // A deletion attempt: the linked state drops release 1.0.0 (its blocks are supplied).
    let mut b = ChainBuilder::new(idx.clone());
    base(&mut b)?;
    let tip = b.tip.clone().context("tip")?;
    let mut forged: VersionState = tip.state.clone();
    forged
        .releases
        .remove(&"1.0.0".parse::<cairn_protocol::version::Version>()?.key());
    let mut fresh = Vec::new();
    let root = VersionIndex::state_root(&mut forged, Some(&mut fresh));
    b.blocks = forged
        .releases
        .blocks()
        .into_iter()
        .map(|(_, b)| b)
        .chain(
            fresh
                .into_iter()
                .filter(|(c, _)| *c == root)
                .map(|(_, b)| b),
        )
        .collect();
    b.push(
        &[&lucy, &bob],
        &lucy.signing,
        lucy.cite(),
        vec![yank("1.1.0")],
        |r| r.state = root,
    )?;
    out.push(b.vector(
        "deletion attempt (the linked state, supplied in `blocks`, drops a release)",
        &[&lucy],
    )?);

    let mut b = ChainBuilder::new(idx.clone());
    base(&mut b)?;
    b.push(
        &[&lucy, &bob],
        &lucy.signing,
        lucy.cite(),
        vec![yank("1.0.0")],
        |r| r.index = lucy.index("libbar"),
    )?;
    out.push(b.vector("revision of another index", &[&lucy])?);

    Ok(file(
        "Version index chains: build the identity logs from `identities` (each a list of hex envelopes, all valid), then verify `revisions` of `index` in order; each gets its verdict; rejected revisions are skipped. `blocks` (when present) are state blocks the verifier holds, for naming a deletion. `state` is the final state root.",
        "spec/06-logs.md#version-index",
        out,
    ))
}

fn package_chains() -> anyhow::Result<Json> {
    let cur = Person::new(4)?;
    let lucy = Person::new(1)?;
    let idx = cur.index("community");
    let entry = |a: &str, target: &str| AliasEntry {
        alias: a.parse().unwrap_or_else(|e| panic!("{e}")),
        target: lucy.index(target),
        policy: Policy::Follow,
        versions: None,
        exclude: BTreeSet::new(),
    };
    let none = |_: &mut Revision<PackageIndex>| {};
    let mut pinned = entry("libbar", "libbar");
    pinned.policy = Policy::Pin(Cid::of_record(b"a revision"));
    pinned.versions = Some("^2.0".parse()?);
    pinned.exclude = [cairn_protocol::index::package::Status::Yanked]
        .into_iter()
        .collect();
    // remove-alias takes the alias's own spelling.
    let mut c = ChainBuilder::<PackageIndex>::new(idx.clone());
    for op in [
        PackageOp::AddAlias(entry("LibBaz", "libbaz")),
        PackageOp::RemoveAlias("libbaz".parse()?),
        PackageOp::RemoveAlias("LibBaz".parse()?),
    ] {
        c.push(&[&cur, &lucy], &cur.signing, cur.cite(), vec![op], none)?;
    }
    let case_vector = c.vector(
        "remove-alias in another case than the alias is written is chain-alias-missing; in its own spelling it removes",
        &[&cur, &lucy],
    )?;
    let mut b = ChainBuilder::<PackageIndex>::new(idx.clone());
    b.push(
        &[&cur, &lucy],
        &cur.signing,
        cur.cite(),
        vec![
            PackageOp::AddAlias(entry("libfoo", "libfoo")),
            PackageOp::AddAlias(pinned),
        ],
        none,
    )?;
    b.push(
        &[&cur, &lucy],
        &cur.signing,
        cur.cite(),
        vec![PackageOp::AddAlias(entry("LibFoo", "libfoo"))],
        none,
    )?;
    b.push(
        &[&cur, &lucy],
        &lucy.signing,
        lucy.cite(),
        vec![PackageOp::RemoveAlias("libfoo".parse()?)],
        none,
    )?;
    b.push(
        &[&cur, &lucy],
        &cur.signing,
        cur.cite(),
        vec![PackageOp::Include {
            index: idx.clone(),
            priority: 1,
        }],
        none,
    )?;
    b.push(
        &[&cur, &lucy],
        &cur.signing,
        cur.cite(),
        vec![
            PackageOp::Include {
                index: lucy.index("picks"),
                priority: 5,
            },
            PackageOp::RemoveAlias("libfoo".parse()?),
        ],
        none,
    )?;
    b.push(
        &[&cur, &lucy],
        &cur.signing,
        cur.cite(),
        vec![PackageOp::UpdateAlias(entry("libfoo", "libfoo"))],
        none,
    )?;
    let mut min = entry("zlib", "zlib");
    min.policy = Policy::MinSeq(3);
    b.push(
        &[&cur, &lucy],
        &cur.signing,
        cur.cite(),
        vec![PackageOp::AddAlias(min)],
        none,
    )?;
    Ok(file(
        "Package index chains, checked as chains/version-index.json.",
        "spec/06-logs.md#package-index",
        vec![
            b.vector(
                "aliases, a case conflict, a non-owner signer, self-include, include and removal",
                &[&cur, &lucy],
            )?,
            case_vector,
        ],
    ))
}
