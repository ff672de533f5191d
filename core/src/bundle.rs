//! Bundles: a CAR holding everything needed to verify a log — the identity logs of its signers,
//! its revisions from genesis, and the release records its head admits — under a root manifest.
//!
//! Normative text: `spec/11-bundles.md`.

use std::collections::BTreeSet;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use cairn_protocol::cid::Cid;
use cairn_protocol::codec::{Map, Value};
use cairn_protocol::identity::IdentityId;
use cairn_protocol::index::package::PackageIndex;
use cairn_protocol::index::version::VersionIndex;
use cairn_protocol::name::IndexName;
use cairn_protocol::profile::{self, Fields, RecordError};
use thiserror::Error;

use crate::artifact::{Staged, Stager};
use crate::car::{self, CarError};
use crate::store::{ImportReport, Store, StoreError};

/// The manifest tag of version 1.
pub const BUNDLE: &str = "cairn-bundle/1";

/// The manifest tag of version 2: version 1 plus carried artifacts.
pub const BUNDLE_V2: &str = "cairn-bundle/2";

/// An artifact travels as raw blocks of at most this many bytes.
pub const CHUNK: usize = 1 << 20;

/// An artifact carried in a bundle: its CID and size, and the chunks that concatenate to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundledArtifact {
    /// The artifact's raw CID.
    pub cid: Cid,
    /// Its size in bytes.
    pub size: u64,
    /// The raw CIDs of its chunks, in order.
    pub chunks: Vec<Cid>,
}

/// Why a bundle could not be written or read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The CAR is malformed or altered.
    #[error(transparent)]
    Car(#[from] CarError),
    /// The root manifest is invalid.
    #[error("bad bundle manifest: {0}")]
    Manifest(String),
    /// A block the manifest names is not in the CAR.
    #[error("the bundle lacks block `{0}` that its manifest names")]
    MissingBlock(Cid),
    /// The store refused something (the message names the log, seq and rule).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bundle could not be written.
    #[error("cannot write the bundle: {0}")]
    Write(#[source] std::io::Error),
    /// The log to export is not here.
    #[error("`{0}` is not in this home")]
    Unknown(String),
}

impl BundleError {
    /// The stable error code used in test vectors.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            BundleError::Car(e) => e.code(),
            BundleError::Manifest(_) => "bundle-manifest",
            BundleError::MissingBlock(_) => "bundle-missing-block",
            BundleError::Store(StoreError::Chain { error, .. }) => error.code(),
            BundleError::Store(StoreError::Rollback { .. }) => "chain-rollback",
            BundleError::Store(_) => "bundle-store",
            BundleError::Unknown(_) => "bundle-unknown-log",
            BundleError::Write(_) => "bundle-write",
        }
    }
}

impl From<RecordError> for BundleError {
    fn from(e: RecordError) -> BundleError {
        BundleError::Manifest(e.to_string())
    }
}

/// One log in a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundledLog {
    /// The log (identity ID or index name).
    pub log: String,
    /// `identity`, `version-index` or `package-index`.
    pub kind: String,
    /// Envelope CIDs, oldest first.
    pub revisions: Vec<Cid>,
}

/// The encoded root manifest of a bundle of `logs` carrying `artifacts` (for tools and test
/// vectors that assemble bundles block by block).
///
/// # Errors
/// Only if the record cannot be encoded.
pub fn manifest(
    logs: &[BundledLog],
    artifacts: &[BundledArtifact],
) -> Result<Vec<u8>, BundleError> {
    Ok(profile::encode_record(&manifest_value(
        logs, None, artifacts,
    ))?)
}

fn manifest_value(logs: &[BundledLog], keys: Option<Cid>, artifacts: &[BundledArtifact]) -> Value {
    let mut m = Map::new();
    m.insert(
        "bundle",
        Value::text(if artifacts.is_empty() {
            BUNDLE
        } else {
            BUNDLE_V2
        }),
    );
    if !artifacts.is_empty() {
        m.insert(
            "artifacts",
            Value::List(
                artifacts
                    .iter()
                    .map(|a| {
                        let mut e = Map::new();
                        e.insert("cid", Value::Link(a.cid.into()));
                        e.insert("size", Value::Integer(a.size.into()));
                        e.insert(
                            "chunks",
                            Value::List(
                                a.chunks.iter().map(|c| Value::Link((*c).into())).collect(),
                            ),
                        );
                        Value::Map(e)
                    })
                    .collect(),
            ),
        );
    }
    if let Some(k) = keys {
        m.insert("keys", Value::Link(k.into()));
    }
    m.insert(
        "logs",
        Value::List(
            logs.iter()
                .map(|l| {
                    let mut e = Map::new();
                    e.insert("log", Value::text(l.log.clone()));
                    e.insert("kind", Value::text(l.kind.clone()));
                    e.insert(
                        "revisions",
                        Value::List(
                            l.revisions
                                .iter()
                                .map(|c| Value::Link((*c).into()))
                                .collect(),
                        ),
                    );
                    Value::Map(e)
                })
                .collect(),
        ),
    );
    Value::Map(m)
}

type Manifest = (Vec<BundledLog>, Option<Cid>, Vec<BundledArtifact>);

fn link(v: Value, what: &str) -> Result<Cid, BundleError> {
    match v {
        Value::Link(l) => Cid::try_from(&l).map_err(|e| BundleError::Manifest(e.to_string())),
        _ => Err(BundleError::Manifest(format!("{what} are links"))),
    }
}

fn parse_manifest(bytes: &[u8]) -> Result<Manifest, BundleError> {
    let mut f = Fields::new("bundle manifest", profile::decode_record(bytes)?)?;
    let tag = f.text("bundle")?;
    if tag != BUNDLE && tag != BUNDLE_V2 {
        return Err(BundleError::Manifest(format!(
            "`{tag}` is neither `{BUNDLE}` nor `{BUNDLE_V2}`"
        )));
    }
    let mut artifacts = Vec::new();
    if tag == BUNDLE_V2 {
        for a in f.list("artifacts")? {
            let mut af = Fields::new("bundled artifact", a)?;
            let cid = af.link("cid")?;
            let size = af.uint("size")?;
            let chunks = af
                .list("chunks")?
                .into_iter()
                .map(|c| link(c, "chunks"))
                .collect::<Result<Vec<_>, _>>()?;
            af.finish()?;
            if cid.codec() != cairn_protocol::cid::Codec::Raw
                || chunks
                    .iter()
                    .any(|c| c.codec() != cairn_protocol::cid::Codec::Raw)
            {
                return Err(BundleError::Manifest(format!(
                    "artifact {cid}: artifacts and chunks are raw CIDs"
                )));
            }
            artifacts.push(BundledArtifact { cid, size, chunks });
        }
    }
    let keys = match f.optional("keys") {
        None => None,
        Some(Value::Link(l)) => {
            Some(Cid::try_from(&l).map_err(|e| BundleError::Manifest(e.to_string()))?)
        }
        Some(_) => return Err(BundleError::Manifest("`keys` is a link".into())),
    };
    let mut out = Vec::new();
    for l in f.list("logs")? {
        let mut lf = Fields::new("bundled log", l)?;
        let log = lf.text("log")?;
        let kind = lf.text("kind")?;
        if !["identity", "version-index", "package-index"].contains(&kind.as_str()) {
            return Err(BundleError::Manifest(format!("unknown log kind `{kind}`")));
        }
        let revisions = lf
            .list("revisions")?
            .into_iter()
            .map(|v| match v {
                Value::Link(l) => {
                    Cid::try_from(&l).map_err(|e| BundleError::Manifest(e.to_string()))
                }
                _ => Err(BundleError::Manifest("revisions are links".into())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        lf.finish()?;
        out.push(BundledLog {
            log,
            kind,
            revisions,
        });
    }
    f.finish()?;
    Ok((out, keys, artifacts))
}

/// Writes the bundle of an index (version or package) or identity held in `store`.
pub fn export(store: &Store, log: &str) -> Result<Vec<u8>, BundleError> {
    let mut out = Vec::new();
    export_many(store, &[log.to_owned()], &[], &mut out)?;
    Ok(out)
}

/// Writes to `out` one bundle of several logs held in `store`, carrying the artifacts named
/// (each a CID and the file holding it) as chunks; returns the bytes written. Each artifact is
/// read twice, a chunk at a time: once to list its chunks (and check its CID), once to write
/// them (each checked again), so memory stays the same whatever the artifacts' sizes. Refused,
/// before anything is written, when the bundle would pass the size a CAR may have.
pub fn export_many(
    store: &Store,
    logs: &[String],
    artifacts: &[(Cid, PathBuf)],
    out: &mut impl Write,
) -> Result<u64, BundleError> {
    let mut blocks: Vec<(Cid, Vec<u8>)> = Vec::new();
    let mut listed = Vec::new();
    let mut identities: BTreeSet<IdentityId> = BTreeSet::new();
    let mut kinds = Vec::new();
    for log in logs {
        let kind = store
            .head_kind(log)?
            .ok_or_else(|| BundleError::Unknown(log.clone()))?;
        identities.extend(store.signers(log)?);
        if let Ok(name) = log.parse::<IndexName>() {
            identities.insert(*name.identity());
        } else if let Ok(id) = log.parse::<IdentityId>() {
            identities.insert(id);
        }
        kinds.push((log.as_str(), kind));
    }
    let mut add_log =
        |log: &str, kind: &str, envs: Vec<Vec<u8>>, blocks: &mut Vec<(Cid, Vec<u8>)>| {
            let revisions = envs.iter().map(|e| Cid::of_record(e)).collect();
            blocks.extend(envs.into_iter().map(|e| (Cid::of_record(&e), e)));
            listed.push(BundledLog {
                log: log.to_owned(),
                kind: kind.to_owned(),
                revisions,
            });
        };
    for id in &identities {
        add_log(
            &id.to_string(),
            "identity",
            store.envelopes(&id.to_string())?,
            &mut blocks,
        );
    }
    for (log, kind) in &kinds {
        if kind != "identity" {
            add_log(log, kind, store.envelopes(log)?, &mut blocks);
        }
        if kind == "version-index"
            && let Some(tip) = store.index_tip::<VersionIndex>(log)?
        {
            for e in tip.state.releases() {
                if let Some(bytes) = store.block(&e.release)? {
                    blocks.push((e.release, bytes));
                }
            }
        }
    }
    let mut carried = Vec::new();
    let mut total: u64 = blocks.iter().map(|(_, b)| b.len() as u64 + 48).sum();
    for (cid, path) in artifacts {
        let mut chunks = Vec::new();
        let mut whole = blake3::Hasher::new();
        let size = for_each_chunk(path, |chunk| {
            whole.update(chunk);
            chunks.push(Cid::of_raw(chunk));
            Ok(())
        })?;
        if whole.finalize().as_bytes() != cid.digest() {
            return Err(BundleError::Manifest(format!(
                "the artifact held at `{}` does not match its CID; delete it and import it again",
                path.display()
            )));
        }
        total += size + 48 * chunks.len() as u64;
        carried.push(BundledArtifact {
            cid: *cid,
            size,
            chunks,
        });
    }
    if total > car::MAX_TOTAL as u64 {
        return Err(CarError::TooLarge.into());
    }
    let manifest = profile::encode_record(&manifest_value(&listed, None, &carried))?;
    let (mut car, mut seen) = start_bundle(&manifest, out)?;
    for (cid, bytes) in blocks {
        if seen.insert(cid) {
            car.block(&cid, &bytes).map_err(BundleError::Write)?;
        }
    }
    for ((_, path), a) in artifacts.iter().zip(&carried) {
        let mut expected = a.chunks.iter();
        for_each_chunk(path, |chunk| {
            let cid = Cid::of_raw(chunk);
            if expected.next() != Some(&cid) {
                return Err(BundleError::Manifest(format!(
                    "the artifact held at `{}` changed while it was exported; export again",
                    path.display()
                )));
            }
            if seen.insert(cid) {
                car.block(&cid, chunk).map_err(BundleError::Write)?;
            }
            Ok(())
        })?;
    }
    Ok(car.finish().1)
}

/// Calls `f` on each chunk of the file at `path`, in order; returns the file's size.
fn for_each_chunk(
    path: &Path,
    mut f: impl FnMut(&[u8]) -> Result<(), BundleError>,
) -> Result<u64, BundleError> {
    let io = |cause| StoreError::Io {
        path: path.to_path_buf(),
        cause,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        let mut filled = 0;
        while filled < CHUNK {
            match file.read(&mut buf[filled..]).map_err(io)? {
                0 => break,
                n => filled += n,
            }
        }
        if filled == 0 {
            return Ok(size);
        }
        f(&buf[..filled])?;
        size += filled as u64;
        if filled < CHUNK {
            return Ok(size);
        }
    }
}

/// Starts the CAR of a bundle: the header and the manifest, its root; returns the writer and
/// the blocks written.
fn start_bundle<W: Write>(
    manifest: &[u8],
    out: W,
) -> Result<(car::Writer<W>, BTreeSet<Cid>), BundleError> {
    let root = Cid::of_record(manifest);
    let mut car = car::Writer::new(out, &[root]).map_err(BundleError::Write)?;
    car.block(&root, manifest).map_err(BundleError::Write)?;
    Ok((car, BTreeSet::from([root])))
}

/// The CAR of a bundle: the manifest as its root, then each block once.
fn write_bundle(manifest: &Value, blocks: Vec<(Cid, Vec<u8>)>) -> Result<Vec<u8>, BundleError> {
    let manifest = profile::encode_record(manifest)?;
    let (mut car, mut seen) = start_bundle(&manifest, Vec::new())?;
    for (cid, bytes) in blocks {
        if seen.insert(cid) {
            car.block(&cid, &bytes).map_err(BundleError::Write)?;
        }
    }
    Ok(car.finish().0)
}

/// Reads a bundle and imports each log in order (identities first), verifying everything, in one
/// transaction: a log that fails leaves the store as it was before the bundle, and the error
/// names it. The bundle is read from `input` section by section and its blocks are read again
/// when they are needed: memory holds one log's revisions at a time, never the whole bundle.
///
/// Carried artifacts are reassembled from their chunks into `artifacts` (the home's artifact
/// directory), checked against their CID and size, and kept first: they are content-addressed,
/// so keeping one is harmless even if a log is then refused (`cairn gc` removes it).
pub fn import<R: Read + Seek>(
    store: &mut Store,
    input: R,
    artifacts: &Path,
) -> Result<Vec<ImportReport>, BundleError> {
    let mut car = car::Indexed::new(input)?;
    let (logs, _, carried) = parse_manifest(&root_manifest(&mut car)?)?;
    for a in &carried {
        let staged = reassemble(&mut car, a, artifacts)?;
        staged.keep(store, artifacts)?;
    }
    store.immediate(|store| import_logs(store, &logs, &mut car))
}

/// The manifest block of a bundle: the CAR's single root.
fn root_manifest<R: Read + Seek>(car: &mut car::Indexed<R>) -> Result<Vec<u8>, BundleError> {
    let [root] = *car.roots() else {
        return Err(BundleError::Manifest(format!(
            "a bundle has one root, this CAR has {}",
            car.roots().len()
        )));
    };
    car.get(&root)?.ok_or(BundleError::MissingBlock(root))
}

/// Writes a carried artifact's chunks, in order, to a temporary file in `dir`; refused unless
/// they concatenate to exactly its size and CID.
fn reassemble<R: Read + Seek>(
    car: &mut car::Indexed<R>,
    a: &BundledArtifact,
    dir: &Path,
) -> Result<Staged, BundleError> {
    let io = |cause| StoreError::Io {
        path: dir.to_path_buf(),
        cause,
    };
    let mut out = Stager::new(dir).map_err(io)?;
    for c in &a.chunks {
        let chunk = car.get(c)?.ok_or(BundleError::MissingBlock(*c))?;
        if out.written() + chunk.len() as u64 > a.size {
            break;
        }
        out.write_all(&chunk).map_err(io)?;
    }
    let staged = out.finish().map_err(io)?;
    if staged.artifact().size != a.size || staged.artifact().cid != a.cid {
        return Err(BundleError::Manifest(format!(
            "artifact {}: its chunks do not concatenate to its CID and size",
            a.cid
        )));
    }
    Ok(staged)
}

/// Imports the manifest's logs, identities first.
fn import_logs<R: Read + Seek>(
    store: &mut Store,
    logs: &[BundledLog],
    car: &mut car::Indexed<R>,
) -> Result<Vec<ImportReport>, BundleError> {
    let mut reports = Vec::new();
    for kind in ["identity", "version-index", "package-index"] {
        for l in logs.iter().filter(|l| l.kind == kind) {
            let envs = l
                .revisions
                .iter()
                .map(|c| car.get(c)?.ok_or(BundleError::MissingBlock(*c)))
                .collect::<Result<Vec<_>, _>>()?;
            let report = if kind == "identity" {
                check_identity_named(&l.log, &envs)?;
                store.import_identity(&envs)?
            } else {
                let name: IndexName = l
                    .log
                    .parse()
                    .map_err(|e| BundleError::Manifest(format!("`{}`: {e}", l.log)))?;
                if kind == "version-index" {
                    let r = store.import_index::<VersionIndex>(&name, &envs)?;
                    if let Some(tip) = store.index_tip::<VersionIndex>(&l.log)? {
                        for e in tip.state.releases() {
                            if let Some(bytes) = car.get(&e.release)? {
                                store.put_block(&e.release, &bytes)?;
                            }
                        }
                    }
                    r
                } else {
                    store.import_index::<PackageIndex>(&name, &envs)?
                }
            };
            reports.push(report);
        }
    }
    Ok(reports)
}

/// Refuses an identity log listed under another identity's name: the ID is the hash of the
/// genesis revision's payload, so the name is checkable and must match.
fn check_identity_named(named: &str, envelopes: &[Vec<u8>]) -> Result<(), BundleError> {
    let Some(genesis) = envelopes.first() else {
        return Ok(()); // Refused as empty by the import.
    };
    let Ok(env) =
        cairn_protocol::signed::Signed::<cairn_protocol::identity::IdentityRevision>::decode(
            genesis,
        )
    else {
        return Ok(()); // Refused, naming the rule, by the import.
    };
    let actual = IdentityId::from_genesis(env.payload_cid());
    if named != actual.to_string() {
        return Err(BundleError::Manifest(format!(
            "the manifest lists an identity log as `{named}`, but its genesis revision makes it `{actual}`"
        )));
    }
    Ok(())
}

/// An identity's portable file: the bundle of its identity log, with its sealed key file as a
/// block named by the manifest's `keys` link, and the indexes the identity owns (with the
/// identity logs of their co-signers), so that a second machine continues them rather than
/// starting them again. The owner's identity log is listed first.
pub fn export_with_keys(
    store: &Store,
    id: &IdentityId,
    key_file: &[u8],
) -> Result<Vec<u8>, BundleError> {
    let log = id.to_string();
    let envs = store.envelopes(&log)?;
    if envs.is_empty() {
        return Err(BundleError::Unknown(log));
    }
    let keys_cid = Cid::of_record(key_file);
    let mut blocks: Vec<(Cid, Vec<u8>)> = vec![(keys_cid, key_file.to_vec())];
    let mut logs = Vec::new();
    let mut add = |log: &str, kind: &str, envs: Vec<Vec<u8>>, blocks: &mut Vec<(Cid, Vec<u8>)>| {
        logs.push(BundledLog {
            log: log.to_owned(),
            kind: kind.to_owned(),
            revisions: envs.iter().map(|e| Cid::of_record(e)).collect(),
        });
        blocks.extend(envs.into_iter().map(|e| (Cid::of_record(&e), e)));
    };
    add(&log, "identity", envs, &mut blocks);
    let owned = store.logs_with_prefix(&format!("{id}:"))?;
    let mut cosigners = BTreeSet::new();
    for index in &owned {
        cosigners.extend(store.signers(index)?.into_iter().filter(|s| s != id));
    }
    for other in &cosigners {
        let o = other.to_string();
        add(&o, "identity", store.envelopes(&o)?, &mut blocks);
    }
    for index in &owned {
        let Some(kind) = store.head_kind(index)? else {
            continue;
        };
        add(index, &kind, store.envelopes(index)?, &mut blocks);
        if kind == "version-index"
            && let Some(tip) = store.index_tip::<VersionIndex>(index)?
        {
            for e in tip.state.releases() {
                if let Some(bytes) = store.block(&e.release)? {
                    blocks.push((e.release, bytes));
                }
            }
        }
    }
    write_bundle(&manifest_value(&logs, Some(keys_cid), &[]), blocks)
}

/// Imports an identity file: verifies and stores its identity log and the indexes it carries
/// (all or nothing); returns the identity and its sealed key file (the caller checks the
/// passphrase before writing it).
pub fn import_with_keys(
    store: &mut Store,
    data: &[u8],
) -> Result<(IdentityId, Vec<u8>), BundleError> {
    let mut car = car::Indexed::new(std::io::Cursor::new(data))?;
    let (logs, keys, _) = parse_manifest(&root_manifest(&mut car)?)?;
    let keys = keys.ok_or_else(|| {
        BundleError::Manifest(
            "this bundle carries no key file (use `cairn import` for logs)".into(),
        )
    })?;
    let Some(first) = logs.first().filter(|l| l.kind == "identity") else {
        return Err(BundleError::Manifest(
            "an identity file lists the identity whose keys it carries first".into(),
        ));
    };
    let owner = first.log.clone();
    if let Some(other) = logs
        .iter()
        .find(|l| l.kind != "identity" && !l.log.starts_with(&format!("{owner}:")))
    {
        return Err(BundleError::Manifest(format!(
            "an identity file carries only the indexes of `{owner}`, not `{}`",
            other.log
        )));
    }
    let reports = store.immediate(|store| import_logs(store, &logs, &mut car))?;
    let id: IdentityId = reports
        .iter()
        .find(|r| r.log == owner)
        .map(|r| r.log.clone())
        .unwrap_or(owner)
        .parse()
        .map_err(|e| BundleError::Manifest(format!("{e}")))?;
    let key_file = car.get(&keys)?.ok_or(BundleError::MissingBlock(keys))?;
    Ok((id, key_file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Person;
    use cairn_protocol::index::version::VersionOp;

    /// A bundle of the given logs (envelopes), as `export` lays it out.
    fn bundle(logs: &[(&str, &str, &[Vec<u8>])]) -> Vec<u8> {
        let mut blocks = Vec::new();
        let listed: Vec<BundledLog> = logs
            .iter()
            .map(|(log, kind, envs)| {
                blocks.extend(envs.iter().map(|e| (Cid::of_record(e), e.clone())));
                BundledLog {
                    log: (*log).to_owned(),
                    kind: (*kind).to_owned(),
                    revisions: envs.iter().map(|e| Cid::of_record(e)).collect(),
                }
            })
            .collect();
        let manifest =
            profile::encode_record(&manifest_value(&listed, None, &[])).expect("manifest");
        let root = Cid::of_record(&manifest);
        let mut all = vec![(root, manifest)];
        all.extend(blocks);
        car::write(&[root], &all)
    }

    #[test]
    fn a_bundle_imports_whole_or_not_at_all() {
        let tmp = tempfile::tempdir().expect("tmp");
        let mut store = Store::open(tmp.path()).expect("store");
        let (lucy, mallory) = (Person::new(1), Person::new(2));
        let index = lucy.index("libfoo");
        // Lucy's revision, signed with Mallory's key: refused.
        let (rev, _) = cairn_protocol::index::next_revision::<VersionIndex>(
            None,
            &index,
            lucy.cite(),
            1,
            vec![VersionOp::Release {
                version: "1.0".parse().expect("v"),
                release: Cid::of_record(b"x"),
            }],
        )
        .expect("revision");
        let bad = cairn_protocol::signed::Signed::sign(rev, &[&mallory.signing])
            .expect("sign")
            .encode();
        let car = bundle(&[
            (&lucy.id().to_string(), "identity", &lucy.envelopes),
            (&mallory.id().to_string(), "identity", &mallory.envelopes),
            (&index.to_string(), "version-index", &[bad]),
        ]);
        let err = import(
            &mut store,
            std::io::Cursor::new(&car),
            &tmp.path().join("artifacts"),
        )
        .expect_err("refused");
        assert!(
            matches!(err, BundleError::Store(StoreError::Chain { .. })),
            "{err}"
        );
        for id in [lucy.id(), mallory.id()] {
            assert!(
                store.head(&id.to_string()).expect("head").is_none(),
                "nothing of a refused bundle stays, not even its valid identity logs"
            );
        }
    }

    #[test]
    fn an_identity_log_listed_under_another_name_is_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        let mut store = Store::open(tmp.path()).expect("store");
        let (lucy, other) = (Person::new(1), Person::new(2));
        let car = bundle(&[(&other.id().to_string(), "identity", &lucy.envelopes)]);
        let err = import(
            &mut store,
            std::io::Cursor::new(&car),
            &tmp.path().join("artifacts"),
        )
        .expect_err("misnamed");
        assert_eq!(err.code(), "bundle-manifest");
        assert!(err.to_string().contains(&lucy.id().to_string()), "{err}");
        assert!(store.head(&lucy.id().to_string()).expect("head").is_none());
    }
}
