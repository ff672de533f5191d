//! Artifacts on disk. An artifact is written to a temporary file in the home's artifact
//! directory and hashed as it goes (BLAKE3 for its CID, SHA-256, size); only then does it take
//! its name, `artifacts/<cid>`. An artifact fetched for a known release record is hashed for
//! its CID and size only (see [`Stager::fetching`]). Memory stays the same whatever the
//! artifact's size, and a crash leaves at most a temporary file that the next opening of the
//! home removes once it is stale.

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
    sha256: Sha256,
    size: u64,
    /// Bytes written since the flusher was last woken.
    unflushed: u64,
    flusher: Option<Flusher>,
}

/// Where an artifact's SHA-256 comes from.
#[derive(Debug)]
enum Sha256 {
    /// Computed from the bytes written.
    Computed(sha2::Sha256),
    /// An artifact being fetched: the record it must match, whose SHA-256 it takes.
    Expected(Artifact),
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
        if let Sha256::Computed(h) = &mut self.sha256 {
            h.update(&buf[..n]);
        }
        self.size += n as u64;
        self.unflushed += n as u64;
        if self.unflushed >= FLUSH_EVERY {
            self.unflushed = 0;
            if self.flusher.is_none() {
                self.flusher = Some(Flusher::start(self.temp.as_file().try_clone()?));
            }
            if let Some(f) = &self.flusher {
                // Busy syncing: this wake-up is folded into the one pending.
                let _ = f.wake.try_send(());
            }
        }
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
        Stager::start(dir, Sha256::Computed(sha2::Sha256::new()))
    }

    /// Starts an artifact that must be `expected` (bytes fetched for a release that lists
    /// them). Only what names the bytes is computed: the BLAKE3 CID and the size. Bytes that
    /// hash to the CID are the bytes the publisher named, so a second hash over them would
    /// cost CPU and prove nothing more; the SHA-256 is taken from the record, and is checked
    /// against the bytes where they are used (an install checks CID, size and SHA-256).
    /// [`Stager::finish`] refuses bytes whose CID or size differ, as
    /// [`io::ErrorKind::InvalidData`].
    pub fn fetching(dir: &Path, expected: &Artifact) -> io::Result<Stager> {
        Stager::start(dir, Sha256::Expected(expected.clone()))
    }

    fn start(dir: &Path, sha256: Sha256) -> io::Result<Stager> {
        std::fs::create_dir_all(dir)?;
        let temp = tempfile::Builder::new()
            .prefix(".cairn-")
            .suffix(".tmp")
            .tempfile_in(dir)?;
        Ok(Stager {
            out: BufWriter::with_capacity(
                BUFFER,
                Hashing {
                    temp,
                    blake3: blake3::Hasher::new(),
                    sha256,
                    size: 0,
                    unflushed: 0,
                    flusher: None,
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
        if let Some(f) = hashing.flusher.take() {
            f.stop()?;
        }
        let cid = Cid::new(Codec::Raw, *hashing.blake3.finalize().as_bytes());
        let artifact = match hashing.sha256 {
            Sha256::Computed(h) => Artifact {
                cid,
                size: hashing.size,
                sha256: h.finalize().into(),
            },
            Sha256::Expected(expected) => {
                if cid != expected.cid || hashing.size != expected.size {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "the bytes are {cid} ({} bytes), not the artifact {} ({} bytes)",
                            hashing.size, expected.cid, expected.size
                        ),
                    ));
                }
                expected
            }
        };
        hashing.temp.as_file().sync_all()?;
        Ok(Staged {
            artifact,
            temp: hashing.temp,
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
    fn a_fetched_artifact_must_be_the_record_it_was_fetched_for() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("artifacts");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let record = stage_from(&dir, &mut data.as_slice())
            .expect("stage")
            .artifact()
            .clone();
        let fetch = |bytes: &[u8], expected: &Artifact| {
            let mut s = Stager::fetching(&dir, expected).expect("stager");
            s.write_all(bytes).expect("write");
            s.finish()
        };
        let staged = fetch(&data, &record).expect("the same bytes");
        assert_eq!(staged.artifact(), &record);
        // The record's SHA-256 is taken, not computed: a record that lies about it is kept
        // as it says (an install checks the SHA-256 against the bytes before unpacking).
        let claimed = Artifact {
            sha256: [9; 32],
            ..record.clone()
        };
        assert_eq!(
            fetch(&data, &claimed).expect("CID and size").artifact(),
            &claimed
        );
        let mut other = data.clone();
        other[1000] ^= 1;
        let e = fetch(&other, &record).expect_err("other bytes");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains(&record.cid.to_string()), "{e}");
        let e = fetch(&data[..data.len() - 1], &record).expect_err("fewer bytes");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        drop(staged);
        assert_eq!(
            std::fs::read_dir(&dir).expect("dir").count(),
            0,
            "refused bytes leave no file"
        );
    }
}
