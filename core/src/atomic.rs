//! Atomic file writes: every file the home writes (key files, identity exports, artifacts,
//! bundles) goes through here.
//!
//! The bytes go to a temporary file in the destination's directory, are synced, and the file
//! is renamed into place; then the directory is synced so the rename itself survives a power
//! cut. A crash at any moment leaves either the old file or the new one, never half of one.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// Who may read the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The owner only (mode 0600 on Unix): secrets.
    Private,
    /// As the process umask allows (mode 0666 before the umask).
    Public,
}

/// A file being written; it appears at its path only on [`AtomicFile::commit`].
#[derive(Debug)]
pub struct AtomicFile {
    temp: tempfile::NamedTempFile,
    path: PathBuf,
}

impl AtomicFile {
    /// Starts writing `path` (its directory is created if needed).
    pub fn create(path: &Path, access: Access) -> io::Result<AtomicFile> {
        let dir = parent(path);
        std::fs::create_dir_all(dir)?;
        let mut builder = tempfile::Builder::new();
        builder.prefix(".cairn-").suffix(".tmp");
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(match access {
            Access::Private => 0o600,
            Access::Public => 0o666,
        }));
        #[cfg(not(unix))]
        let _ = access;
        Ok(AtomicFile {
            temp: builder.tempfile_in(dir)?,
            path: path.to_path_buf(),
        })
    }

    /// Appends bytes.
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.temp.as_file_mut().write_all(bytes)
    }

    /// The temporary file's path (to check what was written before committing).
    #[must_use]
    pub fn temp_path(&self) -> &Path {
        self.temp.path()
    }

    /// Syncs the file, renames it into place (replacing any file there), and syncs the
    /// directory. `fault_step` names the crash-test step between writing and renaming.
    pub fn commit(self, fault_step: &str) -> io::Result<()> {
        self.temp.as_file().sync_all()?;
        crate::fault::point(fault_step);
        self.temp.persist(&self.path).map_err(|e| e.error)?;
        sync_dir(parent(&self.path))
    }

    /// Like [`AtomicFile::commit`], but refuses (`AlreadyExists`) when a file is at the path;
    /// the check and the rename are one step, so two writers cannot both succeed.
    pub fn commit_new(self, fault_step: &str) -> io::Result<()> {
        self.temp.as_file().sync_all()?;
        crate::fault::point(fault_step);
        self.temp
            .persist_noclobber(&self.path)
            .map_err(|e| e.error)?;
        sync_dir(parent(&self.path))
    }
}

impl io::Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.as_file_mut().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.as_file_mut().flush()
    }
}

/// Writes `bytes` to `path` atomically (see the module documentation).
pub fn write(path: &Path, bytes: &[u8], access: Access, fault_step: &str) -> io::Result<()> {
    let mut f = AtomicFile::create(path, access)?;
    f.write_all(bytes)?;
    f.commit(fault_step)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes a rename in `dir` durable. Directories cannot be opened for syncing everywhere; where
/// they cannot, the rename is as durable as the platform makes it.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_and_refuse_as_asked() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("sub/file");
        write(&path, b"one", Access::Private, "test").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"one");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "private files are owner-only");
        }
        write(&path, b"two", Access::Public, "test").expect("replace");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        let mut f = AtomicFile::create(&path, Access::Public).expect("create");
        f.write_all(b"three").expect("write");
        let err = f.commit_new("test").expect_err("exists");
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).expect("read"), b"two", "untouched");
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().expect("parent"))
            .expect("list")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files are cleaned up");
    }
}
