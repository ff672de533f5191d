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

/// Imports `car` into an empty store: the reports and the artifacts kept, or the error code.
fn run(car: &[u8]) -> anyhow::Result<Result<(Json, Vec<String>), String>> {
    let mut t = TempStore::new()?;
    let artifacts = t.dir.join("artifacts");
    Ok(
        match bundle::import(&mut t.store, std::io::Cursor::new(car), &artifacts) {
            Ok(reports) => Ok((
                json!(reports.iter().map(|r| json!({ "log": r.log, "head": r.head.to_string(), "outcome": outcome(&r.outcome) })).collect::<Vec<_>>()),
                t.store.artifacts()?.iter().map(ToString::to_string).collect(),
            )),
            Err(e) => Err(e.code().to_owned()),
        },
    )
}

/// A bundle of no logs carrying one artifact, assembled block by block.
fn carrying(cid: Cid, size: u64, chunks: &[(Cid, Vec<u8>)]) -> anyhow::Result<Vec<u8>> {
    let manifest = bundle::manifest(
        &[],
        &[bundle::BundledArtifact {
            cid,
            size,
            chunks: chunks.iter().map(|(c, _)| *c).collect(),
        }],
    )?;
    let root = Cid::of_record(&manifest);
    let mut blocks = vec![(root, manifest)];
    blocks.extend(chunks.iter().cloned());
    Ok(cairn_core::car::write(&[root], &blocks))
}

/// Version 2 bundles: artifacts carried as chunks, and each way their manifest can lie.
fn carried_artifacts(
    store: &Store,
    index: &IndexName,
    vectors: &mut Vec<Json>,
) -> anyhow::Result<()> {
    // One artifact a little over a chunk: a full chunk of `a`, then 100 more bytes.
    let artifact = vec![b'a'; bundle::CHUNK + 100];
    let cid = Cid::of_raw(&artifact);
    let held = TempStore::new()?;
    let path = held.dir.join("artifact");
    std::fs::write(&path, &artifact)?;
    let mut car = Vec::new();
    bundle::export_many(store, &[index.to_string()], &[(cid, path)], &mut car)?;
    let big = Cid::of_raw(&artifact[..bundle::CHUNK]).to_bytes();
    let at = car
        .windows(big.len())
        .rposition(|w| w == big.as_slice())
        .context("the full chunk's section")?
        + big.len();
    let (imports, kept) =
        run(&car)?.map_err(|e| anyhow::anyhow!("the version 2 bundle must import: {e}"))?;
    vectors.push(json!({
        "name": "cairn-bundle/2: a version index and one artifact of a full chunk and 100 bytes",
        "hex_runs": [[hex::encode(&car[..at]), 1], ["61", bundle::CHUNK], [hex::encode(&car[at + bundle::CHUNK..]), 1]],
        "input_cid": Cid::of_raw(&car).to_string(),
        "error": Json::Null,
        "imports": imports,
        "artifacts": kept,
    }));
    let small = b"an artifact".to_vec();
    let chunk = (Cid::of_raw(&small), small.clone());
    let right = carrying(Cid::of_raw(&small), 11, std::slice::from_ref(&chunk))?;
    let (imports, kept) = run(&right)?.map_err(|e| anyhow::anyhow!("must import: {e}"))?;
    let mut ok = negative("cairn-bundle/2: an artifact and no log", &right, "");
    ok["error"] = Json::Null;
    ok["imports"] = imports;
    ok["artifacts"] = json!(kept);
    vectors.push(ok);
    let cases = [
        (
            "cairn-bundle/2: the size is not the chunks' length",
            carrying(Cid::of_raw(&small), 12, std::slice::from_ref(&chunk))?,
            "bundle-manifest",
        ),
        (
            "cairn-bundle/2: the chunks are not the artifact the CID names",
            carrying(
                Cid::of_raw(b"another artifact"),
                11,
                std::slice::from_ref(&chunk),
            )?,
            "bundle-manifest",
        ),
        (
            "cairn-bundle/2: a chunk the manifest names is not in the CAR",
            {
                let manifest = bundle::manifest(
                    &[],
                    &[bundle::BundledArtifact {
                        cid: chunk.0,
                        size: 11,
                        chunks: vec![chunk.0],
                    }],
                )?;
                let root = Cid::of_record(&manifest);
                cairn_core::car::write(&[root], &[(root, manifest)])
            },
            "bundle-missing-block",
        ),
        (
            "cairn-bundle/2: an artifact named by a dag-cbor CID",
            carrying(Cid::of_record(&small), 11, std::slice::from_ref(&chunk))?,
            "bundle-manifest",
        ),
    ];
    for (name, car, code) in cases {
        vectors.push(negative(name, &car, code));
    }
    Ok(())
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
    ok["imports"] = run(&car)?
        .map_err(|e| anyhow::anyhow!("the vector bundle must import: {e}"))?
        .0;
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
    carried_artifacts(&t.store, &index, &mut vectors)?;
    Ok(file(
        "Bundles: importing `hex` into an empty store gives `imports` (per log: head and outcome) and keeps `artifacts` (their CIDs, in manifest order; none when absent), or fails with `error`.",
        "spec/11-bundles.md",
        vectors,
    ))
}

fn check(v: &Json) -> anyhow::Result<()> {
    let bytes = hex_field(v, "hex")?;
    expect_input_cid(v, &bytes)?;
    match (run(&bytes)?, v.get("error").and_then(Json::as_str)) {
        (Ok((imports, kept)), None) => {
            if imports != v["imports"] {
                bail!("imports {imports}, the vector says {}", v["imports"]);
            }
            let want = v.get("artifacts").cloned().unwrap_or_else(|| json!([]));
            if json!(kept) != want {
                bail!("keeps artifacts {kept:?}, the vector says {want}");
            }
            Ok(())
        }
        (Ok(_), Some(code)) => bail!("imports, but must fail with `{code}`"),
        (Err(code), Some(_)) => expect_eq(v, "error", &code),
        (Err(code), None) => Err(anyhow::anyhow!(code)).context("must import"),
    }
}
