//! Packing a package directory into a deterministic archive: the same files give the same bytes
//! (entries sorted by path, times, owners and names zeroed, modes normalised), tar then zstd.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek as _, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Directories never packed.
const ALWAYS_EXCLUDED: [&str; 3] = [".git", ".cairn", "target"];
/// The zstd level: fixed, so that one build of cairn always produces the same bytes.
const ZSTD_LEVEL: i32 = 19;

/// Another compression level for tests (0: none set), to pack the same files to other bytes as
/// another zstd library would.
#[cfg(feature = "test-utils")]
static TEST_LEVEL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Packs at `level` instead of the default from now on in this process (0: the default again).
#[cfg(feature = "test-utils")]
pub fn set_level_for_tests(level: i32) {
    TEST_LEVEL.store(level, std::sync::atomic::Ordering::Relaxed);
}

fn level() -> i32 {
    #[cfg(feature = "test-utils")]
    {
        let l = TEST_LEVEL.load(std::sync::atomic::Ordering::Relaxed);
        if l != 0 {
            return l;
        }
    }
    ZSTD_LEVEL
}

/// Why a directory could not be packed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PackError {
    /// A filesystem error.
    #[error("cannot read `{path}`: {cause}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// A symbolic link or other special file (archives hold regular files only).
    #[error(
        "`{0}` is a symbolic link or special file; archives hold regular files only\n\nhint: add it to `exclude` in cairn.toml"
    )]
    Special(PathBuf),
    /// An asset path that leaves the package directory (absolute, or through `..`).
    #[error(
        "asset `{platform}` = `{}` is outside the package directory; assets must be files inside it\n\nhint: copy the file into the package and give its path relative to `cairn.toml`",
        .path.display()
    )]
    Outside {
        /// The platform.
        platform: String,
        /// The path as written.
        path: PathBuf,
    },
    /// A path that is not valid UTF-8.
    #[error("`{0}` is not a UTF-8 path")]
    NotUtf8(PathBuf),
    /// Nothing matched.
    #[error("no file to pack in `{0}` (check `include` and `exclude` in cairn.toml)")]
    Empty(PathBuf),
}

/// One file to pack: its path relative to the package directory (with `/`), and whether it
/// is executable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PackedFile {
    /// Relative path, `/`-separated.
    pub path: String,
    /// Executable by its owner.
    pub executable: bool,
}

/// An I/O error about `path`.
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PackError + '_ {
    move |source| PackError::Io {
        path: path.to_path_buf(),
        cause: source,
    }
}

/// Opens an asset: `rel` must be a relative path with no `..` naming a regular file inside
/// `dir` (not a symbolic link, so it cannot lead outside either).
pub fn open_asset(dir: &Path, platform: &str, rel: &Path) -> Result<File, PackError> {
    let outside = || PackError::Outside {
        platform: platform.to_owned(),
        path: rel.to_path_buf(),
    };
    if !rel.components().all(|c| {
        matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    }) {
        return Err(outside());
    }
    let path = dir.join(rel);
    // Every component below the package directory must be a real directory or the file itself:
    // a symbolic link anywhere on the way could lead out.
    let mut at = dir.to_path_buf();
    for c in rel.components() {
        at.push(c);
        let meta = std::fs::symlink_metadata(&at).map_err(io(&at))?;
        if meta.file_type().is_symlink() {
            return Err(PackError::Special(at));
        }
    }
    let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
    if !meta.is_file() {
        return Err(PackError::Special(path));
    }
    let file = File::open(&path).map_err(io(&path))?;
    if !file.metadata().map_err(io(&path))?.is_file() {
        return Err(PackError::Special(path)); // Replaced between the check and the opening.
    }
    Ok(file)
}

/// Lists the files to pack, sorted.
pub fn list(
    dir: &Path,
    include: &[glob::Pattern],
    exclude: &[glob::Pattern],
) -> Result<Vec<PackedFile>, PackError> {
    let mut out = Vec::new();
    walk(dir, dir, include, exclude, &mut out)?;
    out.sort();
    if out.is_empty() {
        return Err(PackError::Empty(dir.to_path_buf()));
    }
    Ok(out)
}

fn walk(
    root: &Path,
    dir: &Path,
    include: &[glob::Pattern],
    exclude: &[glob::Pattern],
    out: &mut Vec<PackedFile>,
) -> Result<(), PackError> {
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap_or(&path);
        let rel_text = rel
            .to_str()
            .ok_or_else(|| PackError::NotUtf8(rel.to_path_buf()))?
            .replace('\\', "/");
        if rel
            .components()
            .next()
            .is_some_and(|c| ALWAYS_EXCLUDED.iter().any(|x| c.as_os_str() == *x))
        {
            continue;
        }
        if exclude.iter().any(|p| p.matches(&rel_text)) {
            continue;
        }
        let kind = entry.file_type().map_err(io(&path))?;
        if kind.is_dir() {
            walk(root, &path, include, exclude, out)?;
        } else if kind.is_file() {
            if include.is_empty() || include.iter().any(|p| p.matches(&rel_text)) {
                let meta = entry.metadata().map_err(io(&path))?;
                out.push(PackedFile {
                    path: rel_text,
                    executable: is_executable(&meta),
                });
            }
        } else {
            return Err(PackError::Special(rel.to_path_buf()));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    meta.permissions().mode() & 0o100 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &std::fs::Metadata) -> bool {
    false
}

/// Packs `files` (from [`list`]) as tar + zstd into `out`. The tar is spooled to an unnamed
/// temporary file in `spool` first (so that the zstd frame carries its size, as a one-shot
/// compression would): memory stays the same whatever the files' sizes.
pub fn pack(
    dir: &Path,
    files: &[PackedFile],
    spool: &Path,
    out: &mut impl Write,
) -> Result<(), PackError> {
    std::fs::create_dir_all(spool).map_err(io(spool))?;
    let temp = tempfile::tempfile_in(spool).map_err(io(spool))?;
    let mut builder = tar::Builder::new(BufWriter::with_capacity(1 << 16, temp));
    builder.mode(tar::HeaderMode::Deterministic);
    for f in files {
        let path = dir.join(&f.path);
        let file = File::open(&path).map_err(io(&path))?;
        let size = file.metadata().map_err(io(&path))?.len();
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(if f.executable { 0o755 } else { 0o644 });
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        let mut data = Exactly {
            inner: file.take(size),
            left: size,
        };
        builder
            .append_data(&mut header, &f.path, &mut data)
            .map_err(io(&path))?;
    }
    let mut tar = builder
        .into_inner()
        .and_then(|w| w.into_inner().map_err(io::IntoInnerError::into_error))
        .map_err(io(spool))?;
    let size = tar.stream_position().map_err(io(spool))?;
    tar.rewind().map_err(io(spool))?;
    let mut encoder = zstd::stream::Encoder::new(out, level()).map_err(io(spool))?;
    encoder
        .set_pledged_src_size(Some(size))
        .and_then(|()| encoder.include_contentsize(true))
        .map_err(io(spool))?;
    io::copy(&mut BufReader::with_capacity(1 << 16, tar), &mut encoder).map_err(io(spool))?;
    encoder.finish().map_err(io(spool))?;
    Ok(())
}

/// A file's bytes up to the size its header announced; a file that shrank while it was packed
/// is an error (one that grew is cut by the `take`, and the error is raised by the check).
struct Exactly<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exactly<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::other(
                "the file changed size while it was packed; publish again",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_stay_inside_the_package() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (pkg, outside) = (tmp.path().join("pkg"), tmp.path().join("outside"));
        std::fs::create_dir_all(pkg.join("dist")).expect("dir");
        std::fs::create_dir_all(&outside).expect("dir");
        std::fs::write(outside.join("secret.txt"), b"secret").expect("secret");
        std::fs::write(pkg.join("dist/lib.so"), b"elf").expect("asset");
        assert_eq!(
            std::io::read_to_string(
                open_asset(&pkg, "linux-x86_64", Path::new("dist/lib.so")).expect("inside")
            )
            .expect("read"),
            "elf"
        );
        let refused = |rel: &Path| open_asset(&pkg, "linux-x86_64", rel).expect_err("outside");
        assert!(matches!(
            refused(Path::new("../outside/secret.txt")),
            PackError::Outside { .. }
        ));
        assert!(matches!(
            refused(&outside.join("secret.txt")),
            PackError::Outside { .. }
        ));
        assert!(matches!(
            refused(Path::new("dist/../../outside/secret.txt")),
            PackError::Outside { .. }
        ));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.join("secret.txt"), pkg.join("dist/link.so"))
                .expect("link");
            std::os::unix::fs::symlink(&outside, pkg.join("linked-dir")).expect("link");
            assert!(matches!(
                refused(Path::new("dist/link.so")),
                PackError::Special(_)
            ));
            assert!(matches!(
                refused(Path::new("linked-dir/secret.txt")),
                PackError::Special(_)
            ));
        }
        let message = refused(Path::new("../outside/secret.txt")).to_string();
        assert!(message.contains("outside the package"), "{message}");
    }

    #[test]
    fn same_files_same_bytes_whatever_the_times() {
        let dir = std::env::temp_dir().join(format!("cairn-pack-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src")).expect("dir");
        std::fs::create_dir_all(dir.join(".git")).expect("dir");
        std::fs::write(dir.join("src/lib.rs"), b"pub fn f() {}").expect("write");
        std::fs::write(dir.join("README"), b"hi").expect("write");
        std::fs::write(dir.join("build.log"), b"noise").expect("write");
        std::fs::write(dir.join(".git/HEAD"), b"ref").expect("write");
        let exclude = [glob::Pattern::new("*.log").expect("glob")];
        let files = list(&dir, &[], &exclude).expect("list");
        let names: Vec<_> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(names, ["README", "src/lib.rs"]);
        let packed = || {
            let mut out = Vec::new();
            pack(&dir, &files, &dir.join(".cairn"), &mut out).expect("pack");
            out
        };
        let a = packed();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(dir.join("README"), b"hi").expect("touch");
        let b = packed();
        assert_eq!(a, b, "deterministic");
        let tar = zstd::bulk::decompress(&a, 1 << 20).expect("zstd");
        assert_eq!(
            zstd::bulk::compress(&tar, ZSTD_LEVEL).expect("zstd"),
            a,
            "streamed, a small archive has the bytes a one-shot compression gives"
        );
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries: Vec<(String, u64)> = archive
            .entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                (
                    e.path().expect("path").to_string_lossy().into_owned(),
                    e.header().mtime().expect("mtime"),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [("README".to_owned(), 0), ("src/lib.rs".to_owned(), 0)]
        );
        let only = [glob::Pattern::new("src/*").expect("glob")];
        assert_eq!(list(&dir, &only, &[]).expect("list").len(), 1);
        std::fs::remove_dir_all(&dir).ok();
    }
}
