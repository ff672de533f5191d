//! Writes and checks Cairn's language-neutral test vectors.
//!
//! `write` regenerates every file from the case lists in this crate. `check` never regenerates:
//! it reads each file and verifies every vector through the public API of `cairn-protocol`
//! (decode, encode, CID, sign, verify, parse, compare, match), so a vector that disagrees with
//! the implementation — or a byte flipped in a vector — fails.
//!
//! Every vector that carries bytes also carries their CID (`cid` for the block itself,
//! `input_cid` for negative inputs), as the IPLD fixtures name files by CID; the check recomputes it.

// Every generator has the signature `fn() -> anyhow::Result<Json>` so that the file table is
// uniform, even where one cannot fail; case tables are long lists by nature.
#![allow(clippy::unnecessary_wraps, clippy::too_many_lines)]

mod blobs;
mod bundles;
mod chains;
mod cids;
mod codec;
mod ed25519;
mod keyfiles;
mod lockfiles;
mod records;
mod signatures;
mod util;
mod versions;
mod wire;

use std::path::Path;

use anyhow::{Context as _, bail};
use serde_json::Value as Json;

/// One vector file: where it lives, how to make it, how to check it.
#[derive(Debug)]
pub struct VectorFile {
    /// Path under `test-vectors/`.
    pub path: &'static str,
    /// Builds the file's JSON.
    pub generate: fn() -> anyhow::Result<Json>,
    /// Checks one vector of the file; the error says what disagreed.
    pub check: fn(&Json) -> anyhow::Result<()>,
}

/// Every vector file, in the order the README lists them.
#[must_use]
pub fn files() -> Vec<VectorFile> {
    let mut all = Vec::new();
    all.extend(codec::files());
    all.extend(cids::files());
    all.extend(signatures::files());
    all.extend(ed25519::files());
    all.extend(versions::files());
    all.extend(chains::files());
    all.extend(records::files());
    all.extend(keyfiles::files());
    all.extend(bundles::files());
    all.extend(lockfiles::files());
    all.extend(wire::files());
    all.extend(blobs::files());
    all
}

/// Writes every vector file under `dir`.
pub fn write(dir: &Path) -> anyhow::Result<usize> {
    let mut count = 0;
    for f in files() {
        let json = (f.generate)().with_context(|| format!("generating `{}`", f.path))?;
        // A generated file must pass its own check before it is written.
        check_json(&f, &json).with_context(|| format!("self-check of `{}`", f.path))?;
        count += vectors(&json)?.len();
        let path = dir.join(f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating `{}`", parent.display()))?;
        }
        let mut text = serde_json::to_string_pretty(&json)?;
        text.push('\n');
        std::fs::write(&path, text).with_context(|| format!("writing `{}`", path.display()))?;
    }
    Ok(count)
}

/// The result of [`check`].
#[derive(Debug, Default)]
pub struct Summary {
    /// Vectors that passed, per file.
    pub passed: Vec<(&'static str, usize)>,
    /// Failures: file, vector name, what disagreed.
    pub failed: Vec<String>,
}

/// Checks every vector file under `dir` without regenerating anything.
pub fn check(dir: &Path) -> Summary {
    let mut summary = Summary::default();
    for f in files() {
        let path = dir.join(f.path);
        let result = std::fs::read_to_string(&path)
            .with_context(|| format!("reading `{}`", path.display()))
            .and_then(|text| {
                serde_json::from_str::<Json>(&text).with_context(|| format!("parsing `{}`", f.path))
            })
            .and_then(|json| check_json(&f, &json));
        match result {
            Ok(n) => summary.passed.push((f.path, n)),
            Err(e) => summary.failed.push(format!("{}: {e:#}", f.path)),
        }
    }
    summary
}

/// Checks one file's JSON; returns how many vectors passed.
pub fn check_json(f: &VectorFile, json: &Json) -> anyhow::Result<usize> {
    let list = vectors(json)?;
    if list.is_empty() {
        bail!("no vectors");
    }
    for (i, v) in list.iter().enumerate() {
        let name = v.get("name").and_then(Json::as_str).unwrap_or("?");
        (f.check)(v).with_context(|| format!("vector {i} `{name}`"))?;
    }
    Ok(list.len())
}

fn vectors(json: &Json) -> anyhow::Result<&Vec<Json>> {
    json.get("vectors")
        .and_then(Json::as_array)
        .context("file has no `vectors` list")
}
