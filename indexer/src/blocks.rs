//! Offline verification of a directory of blocks, each stored in a file named by its CID.

use std::path::Path;

use cairn_core::block::verify_block;
use cairn_protocol::cid::Cid;
use serde::Serialize;

/// What [`verify_dir`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Blocks whose bytes match their name and (for records) follow the record profile.
    pub valid: usize,
    /// Files refused, with the reason.
    pub invalid: Vec<(String, String)>,
}

/// Verifies every file in `dir`: its name must be a Cairn CID and its bytes must match it.
pub fn verify_dir(dir: &Path) -> std::io::Result<Report> {
    let mut report = Report::default();
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let cid = match name.parse::<Cid>() {
            Ok(cid) => cid,
            Err(e) => {
                report
                    .invalid
                    .push((name, format!("file name is not a CID: {e}")));
                continue;
            }
        };
        let bytes = std::fs::read(entry.path())?;
        match verify_block(cid, &bytes) {
            Ok(_) => report.valid += 1,
            Err(e) => report.invalid.push((name, e.to_string())),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_valid_and_names_invalid_blocks() {
        let dir = std::env::temp_dir().join(format!("cairn-indexer-blocks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp");
        std::fs::write(dir.join(Cid::of_raw(b"a").to_string()), b"a").expect("write");
        std::fs::write(dir.join(Cid::of_raw(b"b").to_string()), b"tampered").expect("write");
        std::fs::write(dir.join("notes.txt"), b"x").expect("write");
        let r = verify_dir(&dir).expect("verify");
        assert_eq!(r.valid, 1);
        assert_eq!(r.invalid.len(), 2);
        assert!(
            r.invalid
                .iter()
                .any(|(n, why)| n == "notes.txt" && why.contains("not a CID"))
        );
        assert!(
            r.invalid
                .iter()
                .any(|(_, why)| why.contains("does not match"))
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
