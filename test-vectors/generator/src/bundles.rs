//! `bundles/bundles.json`: CAR bundles and what importing them into an empty store gives.

use anyhow::{Context as _, bail};
use cairn_core::bundle;
use cairn_core::store::{Outcome, Store};
use cairn_protocol::cid::Cid;
use cairn_protocol::identity;
use cairn_protocol::index::version::{VersionIndex, VersionOp};
use cairn_protocol::index::{Citation, Tip, sign_next};
use cairn_protocol::name::IndexName;
use cairn_protocol::sign::SecretKey;
use serde_json::{Value as Json, json};

use crate::VectorFile;
use crate::util::{expect_eq, expect_input_cid, file, hex_field, negative};

pub(crate) fn files() -> Vec<VectorFile> {
    vec![VectorFile {
        path: "bundles/bundles.json",
        generate,
        check,
    }]
}

/// A temporary store, removed on drop.
struct TempStore {
    dir: std::path::PathBuf,
    store: Store,
}

impl TempStore {
    fn new() -> anyhow::Result<TempStore> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("cairn-vectors-bundle-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir)?;
        Ok(TempStore { dir, store })
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn outcome(o: &Outcome) -> Json {
    match o {
        Outcome::Imported { from, to } => json!({ "imported": [from.to_string(), to.to_string()] }),
        Outcome::UpToDate => json!("up-to-date"),
        Outcome::Fork { seq, signer } => json!({ "fork": [seq.to_string(), signer.to_string()] }),
        Outcome::Conflict { seq, winner, .. } => {
            json!({ "conflict": [seq.to_string(), winner.to_string()] })
        }
    }
}

/// Imports `car` into an empty store: the reports, or the error code.
fn run(car: &[u8]) -> anyhow::Result<Result<Json, String>> {
    let mut t = TempStore::new()?;
    Ok(match bundle::import(&mut t.store, car, &mut |_, _, _| Ok(())) {
        Ok(reports) => Ok(json!(reports.iter().map(|r| json!({ "log": r.log, "head": r.head.to_string(), "outcome": outcome(&r.outcome) })).collect::<Vec<_>>())),
        Err(e) => Err(e.code().to_owned()),
    })
}

fn generate() -> anyhow::Result<Json> {
    let root = SecretKey::from_seed(&[1; 32]);
    let signing = SecretKey::from_seed(&[2; 32]);
    let (genesis, log) = identity::create(&[&root], 1, &[signing.public()], 1_795_000_000)?;
    let index = IndexName::new(log.id(), "libfoo".parse()?);
    let cite = Citation {
        identity: log.id(),
        seq: 1,
    };
    let mut t = TempStore::new()?;
    t.store.import_identity(&[genesis.encode()])?;
    let mut tip: Option<Tip<VersionIndex>> = None;
    for ops in [
        vec![VersionOp::Release {
            version: "1.0.0".parse()?,
            release: Cid::of_record(b"1.0.0"),
        }],
        vec![VersionOp::Yank {
            version: "1.0.0".parse()?,
            reason: None,
        }],
    ] {
        let (s, next) = sign_next(tip.as_ref(), &index, cite, &signing, 1_795_000_000, ops)?;
        t.store
            .import_index::<VersionIndex>(&index, &[s.encode()])?;
        tip = Some(next);
    }
    let car = bundle::export(&t.store, &index.to_string())?;
    let mut vectors = Vec::new();
    let mut ok = negative("an identity and a two-revision version index", &car, "");
    ok["error"] = Json::Null;
    ok["imports"] =
        run(&car)?.map_err(|e| anyhow::anyhow!("the vector bundle must import: {e}"))?;
    vectors.push(ok);
    let mut tampered = car.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    vectors.push(negative("a block altered", &tampered, "car-block-mismatch"));
    vectors.push(negative(
        "truncated",
        &car[..car.len() - 3],
        "car-truncated",
    ));
    let no_roots = cairn_core::car::write(&[], &[]);
    vectors.push(negative("no root", &no_roots, "bundle-manifest"));
    // One more section than a reader takes, all repeats of one tiny block: refused at the cap,
    // before the flood is kept in memory.
    let tiny = b"\xa0".to_vec();
    let cid = Cid::of_record(&tiny);
    let one = cairn_core::car::write(&[cid], &[(cid, tiny.clone())]);
    let section = one[one.len() - (1 + 36 + tiny.len())..].to_vec();
    let count = cairn_core::car::MAX_SECTIONS as u64;
    let mut flood = one.clone();
    for _ in 0..count {
        flood.extend_from_slice(&section);
    }
    vectors.push(json!({
        "name": "one section more than the cap, every one the same tiny block",
        "hex_runs": [[hex::encode(&one), 1], [hex::encode(&section), count]],
        "input_cid": Cid::of_raw(&flood).to_string(),
        "error": "car-too-many-blocks",
    }));
    Ok(file(
        "Bundles: importing `hex` into an empty store gives `imports` (per log: head and outcome), or fails with `error`.",
        "spec/11-bundles.md",
        vectors,
    ))
}

fn check(v: &Json) -> anyhow::Result<()> {
    let bytes = hex_field(v, "hex")?;
    expect_input_cid(v, &bytes)?;
    match (run(&bytes)?, v.get("error").and_then(Json::as_str)) {
        (Ok(imports), None) => {
            if imports != v["imports"] {
                bail!("imports {imports}, the vector says {}", v["imports"]);
            }
            Ok(())
        }
        (Ok(_), Some(code)) => bail!("imports, but must fail with `{code}`"),
        (Err(code), Some(_)) => expect_eq(v, "error", &code),
        (Err(code), None) => Err(anyhow::anyhow!(code)).context("must import"),
    }
}
