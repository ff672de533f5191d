//! Publishing: a package directory becomes a release record, artifacts, and a signed revision
//! of the publisher's version index, verified into the store.

pub mod manifest;
pub mod pack;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cairn_protocol::chain::ChainError;
use cairn_protocol::cid::Cid;
use cairn_protocol::identity::IdentityId;
use cairn_protocol::index::sign_next;
use cairn_protocol::index::version::{VersionIndex, VersionOp};
use cairn_protocol::name::IndexName;
use cairn_protocol::profile::RecordError;
use cairn_protocol::release::{Artifact, Release};
use cairn_protocol::version::Version;
use thiserror::Error;

use crate::artifact::{Staged, Stager};
use crate::home::{Home, HomeError};
use crate::keys::KeyRing;
use crate::store::StoreError;
use manifest::{Manifest, ManifestError};
use pack::{PackError, PackedFile};

/// Why publishing failed. Nothing was written unless the variant says so.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Packing failed.
    #[error(transparent)]
    Pack(#[from] PackError),
    /// The release record breaks a limit.
    #[error("the release record is invalid: {0}\n\nhint: fix the field in cairn.toml")]
    Release(RecordError),
    /// The home or store failed.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The version is published with the same files and metadata, but its default archive now
    /// compresses to other bytes (another zstd library).
    #[error(transparent)]
    Repacked(Box<Repacked>),
    /// The version is published with other content.
    #[error(
        "`{index}` already has version `{existing}` with other content (release `{cid}`); a published version never changes\n\nhint: bump `version` in cairn.toml"
    )]
    Republish {
        /// The index.
        index: IndexName,
        /// The version as published.
        existing: String,
        /// Its release CID.
        cid: Cid,
    },
    /// The signer may not publish here, or another chain rule refused the revision.
    #[error("`{index}` refuses this revision: {error}")]
    Refused {
        /// The index.
        index: IndexName,
        /// The rule (boxed: chain errors are large).
        error: Box<ChainError>,
    },
    /// The first revision of an index of an identity this home imported: it may already exist
    /// on the machine the identity came from, and a second first revision would fork it.
    #[error(
        "`{0}` is not in this home, and this home imported its identity: if the index already exists on another machine, publishing here would fork it\n\nhint: on the other machine run `cairn export {name} --car FILE.car`, then `cairn import FILE.car` here; if the index is new, pass `--new-index`",
        name = .0.name()
    )]
    MaybeElsewhere(IndexName),
    /// The index is someone else's and is not in this home.
    #[error(
        "`{0}` is not in this home\n\nhint: import it (`cairn import FILE.car`) before publishing to it"
    )]
    UnknownIndex(IndexName),
    /// `--index` names an index for another package name.
    #[error("`{index}` is an index for `{}`, but cairn.toml names `{name}`", index.name())]
    WrongName {
        /// The index.
        index: IndexName,
        /// The manifest's package name.
        name: String,
    },
    /// Another index of the same identity differs only in case.
    #[error(
        "`{index}` differs only in case from `{existing}`, which this identity already publishes; names that differ only in case are refused within one identity\n\nhint: use `{existing}`'s spelling in cairn.toml"
    )]
    CaseConflict {
        /// The index asked for.
        index: IndexName,
        /// The index held.
        existing: String,
    },
    /// No signing key of the identity's current state is in its key file.
    #[error(
        "none of the signing keys of `{0}` is in its key file\n\nhint: `cairn id add-key` adds one"
    )]
    NoSigningKey(IdentityId),
    /// Writing an artifact failed.
    #[error("cannot write artifact `{path}`: {cause}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
}

/// What to publish.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// The package directory (holding `cairn.toml`).
    pub dir: PathBuf,
    /// The version index to append to; `<identity>:<package name>` if absent.
    pub index: Option<IndexName>,
    /// Show what would be published, write nothing.
    pub dry_run: bool,
    /// Start the version index here although the identity was imported into this home (where
    /// its indexes from other machines may be missing).
    pub new_index: bool,
    /// Revision time (seconds since the Unix epoch).
    pub time: u64,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishOutcome {
    /// A new revision was signed, verified and stored.
    Published {
        /// Its seq.
        seq: u64,
    },
    /// The same release was already published: nothing changed.
    AlreadyPublished,
    /// `--dry-run`: nothing was written.
    DryRun,
}

/// The result of [`publish`].
#[derive(Debug, Clone)]
pub struct PublishReport {
    /// The index.
    pub index: IndexName,
    /// The version.
    pub version: Version,
    /// The release record's CID.
    pub release: Cid,
    /// Platform → artifact.
    pub artifacts: BTreeMap<String, Artifact>,
    /// The files packed into the default artifact.
    pub files: Vec<PackedFile>,
    /// The release's dependencies.
    pub dependencies: BTreeMap<cairn_protocol::name::Alias, cairn_protocol::release::Dependency>,
    /// What happened.
    pub outcome: PublishOutcome,
}

/// A release built from a manifest: its artifacts written to temporary files, nothing kept.
struct Built {
    staged: BTreeMap<String, Staged>,
    artifacts: BTreeMap<String, Artifact>,
    files: Vec<PackedFile>,
    cid: Cid,
    bytes: Vec<u8>,
}

/// Packs the directory and copies the assets into temporary files in `artifacts` (hashed as
/// they are written), and builds and checks the release record.
fn build(manifest: &Manifest, dir: &Path, artifacts_dir: &Path) -> Result<Built, PublishError> {
    let io = |cause| PublishError::Io {
        path: artifacts_dir.to_path_buf(),
        cause,
    };
    let files = pack::list(dir, &manifest.include, &manifest.exclude)?;
    let mut staged: BTreeMap<String, Staged> = BTreeMap::new();
    let mut archive = Stager::new(artifacts_dir).map_err(io)?;
    pack::pack(dir, &files, artifacts_dir, &mut archive)?;
    staged.insert("default".into(), archive.finish().map_err(io)?);
    for (platform, file) in &manifest.assets {
        let mut asset = pack::open_asset(dir, platform, file)?;
        let read = |cause| PublishError::Io {
            path: dir.join(file),
            cause,
        };
        let mut out = Stager::new(artifacts_dir).map_err(io)?;
        std::io::copy(&mut asset, &mut out).map_err(read)?;
        staged.insert(platform.clone(), out.finish().map_err(io)?);
    }
    let artifacts: BTreeMap<String, Artifact> = staged
        .iter()
        .map(|(p, s)| (p.clone(), s.artifact().clone()))
        .collect();
    let release = Release {
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        artifacts: artifacts.clone(),
        dependencies: manifest.dependencies.clone(),
        description: manifest.description.clone(),
        license: manifest.license.clone(),
        homepage: manifest.homepage.clone(),
        repository: manifest.repository.clone(),
        keywords: manifest.keywords.clone(),
        authors: manifest.authors.clone(),
        source: None,
        portable_index: None,
    };
    let (cid, bytes) = release.block()?;
    Release::decode(&bytes)?; // Every limit of the record holds.
    Ok(Built {
        staged,
        artifacts,
        files,
        cid,
        bytes,
    })
}

/// A version published from the same files and metadata that now pack to other bytes.
#[derive(Debug, Error)]
#[error(
    "`{index}` {version} is already published with these same files, but they now pack to other bytes (default archive {published} then, {now} now: the compression library has changed); an artifact is identified by its bytes and never re-derived, so the published release stands as it is\n\nhint: there is nothing to publish; to release a change, bump `version` in cairn.toml"
)]
pub struct Repacked {
    /// The index.
    pub index: IndexName,
    /// The version.
    pub version: String,
    /// The published default archive.
    pub published: Cid,
    /// What the same files pack to now.
    pub now: Cid,
}

/// When the release just built differs from the published one `existing` only in how its
/// default archive is compressed (the same record once the published archive is put back, and
/// the same tar inside both archives): the published archive and the new one.
fn only_repacked(
    home: &Home,
    existing: Cid,
    built: &[u8],
    archive: Option<&Path>,
) -> Option<(Cid, Cid)> {
    let old = Release::decode(&home.store.block(&existing).ok()??).ok()?;
    let mut new = Release::decode(built).ok()?;
    let (published, now) = (old.artifacts.get("default")?, new.artifacts.get("default")?);
    let (published, now) = (published.clone(), now.cid);
    new.artifacts.insert("default".into(), published.clone());
    if new.block().ok()?.0 != existing {
        return None;
    }
    let old_file =
        std::fs::File::open(home.dir().join("artifacts").join(published.cid.to_string())).ok()?;
    let new_file = std::fs::File::open(archive?).ok()?;
    same_stream(
        zstd::stream::read::Decoder::new(old_file).ok()?,
        zstd::stream::read::Decoder::new(new_file).ok()?,
    )
    .then_some((published.cid, now))
}

/// Whether two readers give the same bytes (read in chunks: memory stays small).
fn same_stream(mut left: impl std::io::Read, mut right: impl std::io::Read) -> bool {
    let mut chunks = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let (Ok(got), Ok(other)) = (
            read_full(&mut left, &mut chunks.0),
            read_full(&mut right, &mut chunks.1),
        ) else {
            return false;
        };
        if chunks.0[..got] != chunks.1[..other] {
            return false;
        }
        if got == 0 {
            return true;
        }
    }
}

/// Fills `buf` as far as the reader goes; how much it holds.
fn read_full(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Reads the manifest, packs, builds the release record, and (unless a dry run) signs with
/// `identity`'s keys from `ring` and stores everything: artifacts first (content-addressed,
/// idempotent), then the release block, then the revision in one verified transaction.
pub fn publish(
    home: &mut Home,
    identity: IdentityId,
    ring: Option<&KeyRing>,
    opts: &PublishOptions,
) -> Result<PublishReport, PublishError> {
    let manifest = Manifest::load(&opts.dir)?;
    let built = build(&manifest, &opts.dir, &home.dir().join("artifacts"))?;
    // From reading the head to storing the signed revision, no other writer may move it.
    home.immediate(|home| publish_built(home, identity, ring, opts, &manifest, built))
}

fn publish_built(
    home: &mut Home,
    identity: IdentityId,
    ring: Option<&KeyRing>,
    opts: &PublishOptions,
    manifest: &Manifest,
    built: Built,
) -> Result<PublishReport, PublishError> {
    let (release_cid, release_bytes) = (built.cid, built.bytes);
    let (staged, artifacts, files) = (built.staged, built.artifacts, built.files);
    let index = match &opts.index {
        Some(i) => i.clone(),
        None => IndexName::new(identity, manifest.name.clone()),
    };
    if index.name().folded() != manifest.name.folded() {
        return Err(PublishError::WrongName {
            index,
            name: manifest.name.to_string(),
        });
    }
    let tip = home.store.index_tip::<VersionIndex>(&index.to_string())?;
    if tip.is_none() && *index.identity() != identity {
        return Err(PublishError::UnknownIndex(index));
    }
    if tip.is_none() && !opts.new_index && home.imported(&identity)? {
        return Err(PublishError::MaybeElsewhere(index));
    }
    if tip.is_none() {
        let prefix = format!("{}:", index.identity());
        if let Some(existing) = home.store.logs_with_prefix(&prefix)?.into_iter().find(|l| {
            l.strip_prefix(&prefix).is_some_and(|n| {
                n.eq_ignore_ascii_case(index.name().as_str()) && n != index.name().as_str()
            })
        }) {
            return Err(PublishError::CaseConflict { index, existing });
        }
    }
    let mut report = PublishReport {
        index: index.clone(),
        version: manifest.version.clone(),
        release: release_cid,
        artifacts,
        files,
        dependencies: manifest.dependencies.clone(),
        outcome: PublishOutcome::DryRun,
    };
    if let Some(existing) = tip
        .as_ref()
        .and_then(|t| t.state.release(&manifest.version))
    {
        if existing.release != release_cid {
            if let Some((published, now)) = only_repacked(
                home,
                existing.release,
                &release_bytes,
                staged.get("default").map(Staged::path),
            ) {
                return Err(PublishError::Repacked(Box::new(Repacked {
                    index,
                    version: existing.version.to_string(),
                    published,
                    now,
                })));
            }
            return Err(PublishError::Republish {
                index,
                existing: existing.version.to_string(),
                cid: existing.release,
            });
        }
        report.outcome = PublishOutcome::AlreadyPublished;
        return Ok(report);
    }
    let signing = ring.filter(|_| !opts.dry_run);
    let (cite, key) = home.signing_key(identity, signing)?;
    let op = VersionOp::Release {
        version: manifest.version.clone(),
        release: release_cid,
    };
    let refused = |error: ChainError| PublishError::Refused {
        index: index.clone(),
        error: Box::new(error),
    };
    if signing.is_none() {
        // A dry run still checks that the revision would be accepted (permissions, rules).
        cairn_protocol::index::next_revision(tip.as_ref(), &index, cite, opts.time, vec![op])
            .map_err(refused)?;
        return Ok(report);
    }
    let key = key.ok_or(PublishError::NoSigningKey(identity))?;
    let (signed, _) =
        sign_next(tip.as_ref(), &index, cite, key, opts.time, vec![op]).map_err(refused)?;
    let artifacts_dir = home.dir().join("artifacts");
    for artifact in staged.into_values() {
        artifact.keep(&mut home.store, &artifacts_dir)?;
    }
    crate::fault::point("publish:after-artifacts");
    home.store.put_block(&release_cid, &release_bytes)?;
    crate::fault::point("publish:after-release-block");
    let imported = home
        .store
        .import_index::<VersionIndex>(&index, &[signed.encode()])?;
    report.outcome = PublishOutcome::Published { seq: imported.head };
    Ok(report)
}

/// What [`append`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// A revision was signed and stored: its seq.
    Signed(u64),
    /// The operations change nothing (a yank of a yanked release, a grant already held, …):
    /// nothing was signed; the head's seq.
    Unchanged(u64),
}

impl Appended {
    /// The head's seq afterwards.
    #[must_use]
    pub fn seq(self) -> u64 {
        match self {
            Appended::Signed(s) | Appended::Unchanged(s) => s,
        }
    }
}

/// Signs `ops` as the next revision of `index` with `identity`'s signing key from `ring`, and
/// stores it through the verifying import; signs nothing when the operations would leave the
/// state as it is.
pub fn append(
    home: &mut Home,
    identity: IdentityId,
    ring: &KeyRing,
    index: &IndexName,
    ops: Vec<VersionOp>,
    time: u64,
) -> Result<Appended, PublishError> {
    // From reading the head to storing the signed revision, no other writer may move it.
    home.immediate(|home| {
        let tip = home.store.index_tip::<VersionIndex>(&index.to_string())?;
        if tip.is_none() && *index.identity() != identity {
            return Err(PublishError::UnknownIndex(index.clone()));
        }
        if let Some(t) = &tip
            && changes_nothing(t, index, &identity, &ops)
        {
            return Ok(Appended::Unchanged(t.seq()));
        }
        let (cite, key) = home.signing_key(identity, Some(ring))?;
        let key = key.ok_or(PublishError::NoSigningKey(identity))?;
        let (signed, _) =
            sign_next(tip.as_ref(), index, cite, key, time, ops).map_err(|error| {
                PublishError::Refused {
                    index: index.clone(),
                    error: Box::new(error),
                }
            })?;
        Ok(Appended::Signed(
            home.store
                .import_index::<VersionIndex>(index, &[signed.encode()])?
                .head,
        ))
    })
}

/// Whether `ops`, applied by `signer` to the tip's state, would leave it exactly as it is. An
/// operation the rules refuse is not "nothing": signing reports it.
fn changes_nothing(
    tip: &cairn_protocol::index::Tip<VersionIndex>,
    index: &IndexName,
    signer: &IdentityId,
    ops: &[VersionOp],
) -> bool {
    use cairn_protocol::index::{ApplyContext, IndexKind as _};
    let ctx = ApplyContext {
        index,
        owner: index.identity(),
        signer,
    };
    let mut after = tip.state.clone();
    if ops
        .iter()
        .any(|op| VersionIndex::apply(&mut after, &ctx, op).is_err())
    {
        return false;
    }
    let mut before = tip.state.clone();
    VersionIndex::state_root(&mut after, None) == VersionIndex::state_root(&mut before, None)
}

// Plain `From`: the message carries the cause (a `#[from]` source would print it twice).
impl From<RecordError> for PublishError {
    fn from(e: RecordError) -> PublishError {
        PublishError::Release(e)
    }
}

/// After a conflict dropped `dropped` revisions of `index` (envelopes), re-applies the
/// operations of those signed by `identity` on top of the winning head. Returns the new seqs.
pub fn reapply(
    home: &mut Home,
    identity: IdentityId,
    ring: &KeyRing,
    index: &IndexName,
    dropped: &[Vec<u8>],
    time: u64,
) -> Result<Vec<u64>, PublishError> {
    let mut seqs = Vec::new();
    for bytes in dropped {
        let Ok(env) =
            cairn_protocol::signed::Signed::<cairn_protocol::index::Revision<VersionIndex>>::decode(
                bytes,
            )
        else {
            continue;
        };
        let rev = env.into_payload();
        if rev.signer.identity != identity {
            continue;
        }
        if let Appended::Signed(seq) = append(home, identity, ring, index, rev.ops, time)? {
            seqs.push(seq);
        }
    }
    Ok(seqs)
}
