//! Artifacts on disk. An artifact is written to a temporary file in the home's artifact
//! directory and hashed as it goes (BLAKE3 for its CID, SHA-256, size); only then does it take
//! its name, `artifacts/<cid>`. An artifact fetched from a peer arrives in pieces that were
//! each checked against its CID before they are handed here (see [`Receiving`]). Memory stays
//! the same whatever the artifact's size, and a crash leaves at most a temporary file that the
//! next opening of the home removes once it is stale.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use cairn_protocol::cid::{Cid, Codec};
use cairn_protocol::release::Artifact;
use sha2::Digest as _;

use crate::store::{Store, StoreError};

/// Bytes buffered before they are hashed and written.
const BUFFER: usize = 1 << 16;

/// An artifact being written: a [`Write`] that hashes what passes through it.
#[derive(Debug)]
pub struct Stager {
    out: BufWriter<Hashing>,
}

#[derive(Debug)]
struct Hashing {
    temp: tempfile::NamedTempFile,
    blake3: blake3::Hasher,
    sha256: sha2::Sha256,
    size: u64,
    syncing: Syncing,
}

/// Syncs a file's data in the background while a long write goes on.
#[derive(Debug, Default)]
struct Syncing {
    /// Bytes written since the flusher was last woken.
    unflushed: u64,
    flusher: Option<Flusher>,
}

impl Syncing {
    /// Counts `n` bytes written to `file`, and wakes the flusher every [`FLUSH_EVERY`].
    fn wrote(&mut self, n: usize, file: &File) -> io::Result<()> {
        self.unflushed += n as u64;
        if self.unflushed >= FLUSH_EVERY {
            self.unflushed = 0;
            if self.flusher.is_none() {
                self.flusher = Some(Flusher::start(file.try_clone()?));
            }
            if let Some(f) = &self.flusher {
                // Busy syncing: this wake-up is folded into the one pending.
                let _ = f.wake.try_send(());
            }
        }
        Ok(())
    }

    /// Stops the flusher and syncs the whole file.
    fn finish(&mut self, file: &File) -> io::Result<()> {
        if let Some(f) = self.flusher.take() {
            f.stop()?;
        }
        file.sync_all()
    }
}

/// Bytes written between two wake-ups of the flusher.
const FLUSH_EVERY: u64 = 32 << 20;

/// A thread that syncs the file's data while writing goes on, so that the disk works during
/// a long write rather than all at once when it is finished (an artifact is synced before it
/// takes its name). Started only once an artifact passes [`FLUSH_EVERY`] bytes.
#[derive(Debug)]
struct Flusher {
    wake: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<io::Result<()>>,
}

impl Flusher {
    fn start(file: File) -> Flusher {
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::spawn(move || {
            for () in woken {
                file.sync_data()?;
            }
            Ok(())
        });
        Flusher { wake, thread }
    }

    /// Stops the thread; its error, if a sync failed.
    fn stop(self) -> io::Result<()> {
        drop(self.wake);
        self.thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the flushing thread panicked")))
    }
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.temp.as_file_mut().write(buf)?;
        self.blake3.update(&buf[..n]);
        self.sha256.update(&buf[..n]);
        self.size += n as u64;
        self.syncing.wrote(n, self.temp.as_file())?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.as_file_mut().flush()
    }
}

impl Write for Stager {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Stager {
    /// Starts an artifact in `dir` (created if needed): the home's `artifacts` directory, so
    /// that keeping it is a rename.
    pub fn new(dir: &Path) -> io::Result<Stager> {
        Ok(Stager {
            out: BufWriter::with_capacity(
                BUFFER,
                Hashing {
                    temp: temporary(dir)?,
                    blake3: blake3::Hasher::new(),
                    sha256: sha2::Sha256::new(),
                    size: 0,
                    syncing: Syncing::default(),
                },
            ),
        })
    }

    /// Bytes written so far.
    #[must_use]
    pub fn written(&self) -> u64 {
        self.out.get_ref().size + self.out.buffer().len() as u64
    }

    /// Flushes and syncs the file; the artifact it holds is now known.
    pub fn finish(self) -> io::Result<Staged> {
        let mut hashing = self
            .out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        hashing.syncing.finish(hashing.temp.as_file())?;
        let artifact = Artifact {
            cid: Cid::new(Codec::Raw, *hashing.blake3.finalize().as_bytes()),
            size: hashing.size,
            sha256: hashing.sha256.finalize().into(),
        };
        Ok(Staged {
            artifact,
            temp: hashing.temp,
        })
    }
}

/// A temporary file in `dir` (created if needed), named so that a stale one is recognised.
pub(crate) fn temporary(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    std::fs::create_dir_all(dir)?;
    tempfile::Builder::new()
        .prefix(".cairn-")
        .suffix(".tmp")
        .tempfile_in(dir)
}

/// An artifact arriving from peers in verified pieces: each piece was checked against the
/// artifact's CID (a BLAKE3 tree) before it is handed here, so nothing is hashed again. Pieces
/// come in order from the start; a transfer cut short keeps what arrived, and the next peer is
/// asked only for the rest ([`Receiving::have`]).
#[derive(Debug)]
pub struct Receiving {
    temp: tempfile::NamedTempFile,
    expected: Artifact,
    have: u64,
    syncing: Syncing,
}

impl Receiving {
    /// Starts `expected` in `dir` (the home's `artifacts` directory).
    pub fn start(dir: &Path, expected: &Artifact) -> io::Result<Receiving> {
        Ok(Receiving {
            temp: temporary(dir)?,
            expected: expected.clone(),
            have: 0,
            syncing: Syncing::default(),
        })
    }

    /// The bytes held so far, all from the start of the artifact.
    #[must_use]
    pub fn have(&self) -> u64 {
        self.have
    }

    /// The artifact being received.
    #[must_use]
    pub fn artifact(&self) -> &Artifact {
        &self.expected
    }

    /// Appends verified bytes; more than the artifact's size is refused as
    /// [`io::ErrorKind::InvalidData`].
    pub fn append(&mut self, verified: &[u8]) -> io::Result<()> {
        self.append_all(&[verified])
    }

    /// Appends verified pieces, in order, with as few writes as the system allows; more than
    /// the artifact's size is refused as [`io::ErrorKind::InvalidData`] and nothing is written.
    pub fn append_all(&mut self, pieces: &[impl AsRef<[u8]>]) -> io::Result<()> {
        let len: u64 = pieces.iter().map(|p| p.as_ref().len() as u64).sum();
        if self.have + len > self.expected.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "more than the {} bytes of the artifact {}",
                    self.expected.size, self.expected.cid
                ),
            ));
        }
        let mut slices: Vec<io::IoSlice<'_>> = pieces
            .iter()
            .filter(|p| !p.as_ref().is_empty())
            .map(|p| io::IoSlice::new(p.as_ref()))
            .collect();
        let mut left = &mut slices[..];
        while !left.is_empty() {
            let n = self.temp.as_file_mut().write_vectored(left)?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            io::IoSlice::advance_slices(&mut left, n);
        }
        self.have += len;
        self.syncing.wrote(
            usize::try_from(len).unwrap_or(usize::MAX),
            self.temp.as_file(),
        )
    }

    /// Syncs the file once every byte has arrived; fewer is refused as
    /// [`io::ErrorKind::InvalidData`].
    pub fn finish(mut self) -> io::Result<Staged> {
        if self.have != self.expected.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} of the {} bytes of the artifact {}",
                    self.have, self.expected.size, self.expected.cid
                ),
            ));
        }
        self.syncing.finish(self.temp.as_file())?;
        Ok(Staged {
            temp: self.temp,
            artifact: self.expected,
        })
    }
}

/// A written, hashed artifact that has not taken its name yet (dropped: the file goes).
#[derive(Debug)]
pub struct Staged {
    temp: tempfile::NamedTempFile,
    artifact: Artifact,
}

impl Staged {
    /// What the file holds.
    #[must_use]
    pub fn artifact(&self) -> &Artifact {
        &self.artifact
    }

    /// The temporary file (to read it back, e.g. to unpack it before keeping it).
    #[must_use]
    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    /// Renames the file to `<dir>/<cid>` (unless the store already holds that artifact) and
    /// records it. `dir` must be the directory the stager wrote in.
    pub fn keep(self, store: &mut Store, dir: &Path) -> Result<Artifact, StoreError> {
        let Staged { temp, artifact } = self;
        let path = dir.join(artifact.cid.to_string());
        if !(path.is_file() && store.has_artifact(&artifact.cid)?) {
            crate::fault::point("artifact:after-temp-write");
            temp.persist(&path).map_err(|e| StoreError::Io {
                path: path.clone(),
                cause: e.error,
            })?;
            crate::atomic::sync_dir(dir).map_err(|cause| StoreError::Io {
                path: dir.to_path_buf(),
                cause,
            })?;
        }
        store.put_artifact(&artifact.cid, artifact.size, &artifact.sha256)?;
        Ok(artifact)
    }
}

/// Copies `reader` into a new artifact in `dir`.
pub fn stage_from(dir: &Path, reader: &mut impl io::Read) -> io::Result<Staged> {
    let mut stager = Stager::new(dir)?;
    io::copy(reader, &mut stager)?;
    stager.finish()
}

/// Where the artifact `cid` lives in a home whose artifact directory is `dir`.
#[must_use]
pub fn path_in(dir: &Path, cid: &Cid) -> PathBuf {
    dir.join(cid.to_string())
}

/// Opens a held artifact for reading.
pub fn open(dir: &Path, cid: &Cid) -> Result<File, StoreError> {
    let path = path_in(dir, cid);
    File::open(&path).map_err(|cause| StoreError::Io { path, cause })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staged_artifact_is_named_by_what_was_written() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("artifacts");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let staged = stage_from(&dir, &mut data.as_slice()).expect("stage");
        let a = staged.artifact().clone();
        assert_eq!(a.cid, Cid::of_raw(&data));
        assert_eq!(a.size, data.len() as u64);
        assert_eq!(a.sha256, <[u8; 32]>::from(sha2::Sha256::digest(&data)));
        let written = staged.path().to_path_buf();
        drop(staged);
        assert!(
            !written.exists(),
            "a staged artifact not kept leaves nothing"
        );
        let mut store = Store::open(tmp.path()).expect("store");
        let staged = stage_from(&dir, &mut data.as_slice()).expect("stage");
        staged.keep(&mut store, &dir).expect("keep");
        assert_eq!(
            std::fs::read(path_in(&dir, &a.cid)).expect("kept"),
            data,
            "kept under its CID"
        );
        assert!(store.has_artifact(&a.cid).expect("row"));
        assert_eq!(
            std::fs::read_dir(&dir).expect("dir").count(),
            1,
            "no temporary file is left"
        );
    }

    #[test]
    fn a_received_artifact_takes_exactly_its_size() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("artifacts");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let record = stage_from(&dir, &mut data.as_slice())
            .expect("stage")
            .artifact()
            .clone();
        let mut r = Receiving::start(&dir, &record).expect("start");
        r.append(&data[..100_000]).expect("a first part");
        assert_eq!(r.have(), 100_000);
        let e = r.append(&data).expect_err("past the end");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(r.have(), 100_000, "a refused piece is not counted");
        let e = r.finish().expect_err("fewer bytes");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains(&record.cid.to_string()), "{e}");
        assert_eq!(
            std::fs::read_dir(&dir).expect("dir").count(),
            0,
            "an unfinished artifact leaves no file"
        );

        let mut r = Receiving::start(&dir, &record).expect("start");
        r.append(&[]).expect("nothing");
        r.append(&data[..123_456]).expect("part");
        // The rest in pieces, one of them empty, written together.
        r.append_all(&[&data[123_456..200_000], &[], &data[200_000..]])
            .expect("rest");
        let staged = r.finish().expect("every byte");
        assert_eq!(staged.artifact(), &record);
        let mut store = Store::open(tmp.path()).expect("store");
        staged.keep(&mut store, &dir).expect("keep");
        assert_eq!(
            std::fs::read(path_in(&dir, &record.cid)).expect("kept"),
            data
        );
    }
}
