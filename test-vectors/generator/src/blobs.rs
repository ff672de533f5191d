//! `net/blobs.json`: artifacts over the iroh-blobs protocol: a blob's tree of hashes (its
//! outboard), the bytes of a get request for the rest of a blob, and the answer a node sends.

use anyhow::{Context as _, bail};
use cairn_core::net::blobs;
use cairn_protocol::cid::Cid;
use serde_json::{Value as Json, json};

use crate::VectorFile;
use crate::util::{expect_eq, file, hex_field, text};

pub(crate) fn files() -> Vec<VectorFile> {
    vec![VectorFile {
        path: "net/blobs.json",
        generate,
        check,
    }]
}

/// `len` bytes of a pattern that repeats every 251 bytes, and the fields that give them: `hex`
/// when short, `hex_runs` otherwise.
fn pattern(len: usize) -> (Json, Vec<u8>) {
    let run: Vec<u8> = (0..251u8).collect();
    let data: Vec<u8> = run.iter().copied().cycle().take(len).collect();
    if len < 4_096 {
        return (json!({ "hex": hex::encode(&data) }), data);
    }
    let (whole, rest) = (len / run.len(), len % run.len());
    let runs = json!([[hex::encode(&run), whole], [hex::encode(&run[..rest]), 1]]);
    (json!({ "hex_runs": runs }), data)
}

fn vector(name: &str, len: usize, from_chunk: u64) -> anyhow::Result<Json> {
    let (input, data) = pattern(len);
    let cid = Cid::of_raw(&data);
    let answer = blobs::answer(&data, from_chunk)?;
    let mut v = json!({
        "name": name,
        "cid": cid.to_string(),
        "outboard": hex::encode(blobs::outboard(&data)),
        "from_chunk": from_chunk,
        "request": hex::encode(blobs::request(cid.digest(), from_chunk)),
        "answer_len": answer.len(),
        "answer_blake3": blake3::hash(&answer).to_hex().to_string(),
        "answer_head": hex::encode(&answer[..answer.len().min(200)]),
    });
    for (k, field) in input.as_object().into_iter().flatten() {
        v[k] = field.clone();
    }
    Ok(v)
}

fn generate() -> anyhow::Result<Json> {
    let vectors = vec![
        vector("an empty blob", 0, 0)?,
        vector("one group, shorter than 16 KiB", 1_000, 0)?,
        vector("exactly one group", 16_384, 0)?,
        vector("three groups, all of it", 40_000, 0)?,
        vector("three groups, from the second", 40_000, 16)?,
        vector(
            "three groups, from inside the second (with the hashes inside that group)",
            40_000,
            20,
        )?,
        vector("three groups, from the last", 40_000, 32)?,
        vector("nine groups, from the sixth", 9 * 16_384 - 5, 80)?,
    ];
    Ok(file(
        "Artifacts over the iroh-blobs protocol (ALPN /iroh-bytes/4): for a blob (given as hex or hex_runs), its CID, its outboard (parent pairs in pre-order, 16 KiB groups), the get request for its chunks from from_chunk on, and the answer a node sends to it (its length, BLAKE3, and first 200 bytes).",
        "spec/14-network.md",
        vectors,
    ))
}

fn check(v: &Json) -> anyhow::Result<()> {
    let data = hex_field(v, "hex")?;
    let cid = Cid::of_raw(&data);
    expect_eq(v, "cid", &cid.to_string())?;
    expect_eq(v, "outboard", &hex::encode(blobs::outboard(&data)))?;
    let from = v
        .get("from_chunk")
        .and_then(Json::as_u64)
        .context("missing `from_chunk`")?;
    let request = hex::decode(text(v, "request")?).context("`request` is not hex")?;
    if blobs::request(cid.digest(), from) != request {
        bail!("the request for chunks from {from} on is not `request`");
    }
    match blobs::parse_request(&request) {
        Some((digest, ranges)) if &digest == cid.digest() && ranges == blobs::chunks_from(from) => {
        }
        other => bail!("`request` reads as {other:?}"),
    }
    let answer = blobs::answer(&data, from)?;
    let len = v
        .get("answer_len")
        .and_then(Json::as_u64)
        .context("missing `answer_len`")?;
    if answer.len() as u64 != len {
        bail!(
            "the answer is {} bytes, the vector says {len}",
            answer.len()
        );
    }
    expect_eq(v, "answer_blake3", blake3::hash(&answer).to_hex().as_str())?;
    expect_eq(
        v,
        "answer_head",
        &hex::encode(&answer[..answer.len().min(200)]),
    )
}
