//! Small helpers shared by the vector modules.

use anyhow::{Context as _, bail};
use cairn_protocol::cid::Cid;
use cairn_protocol::codec::{Map, Value};
use serde_json::{Value as Json, json};

/// A required string field.
pub(crate) fn text<'a>(v: &'a Json, key: &str) -> anyhow::Result<&'a str> {
    v.get(key)
        .and_then(Json::as_str)
        .with_context(|| format!("missing string `{key}`"))
}

/// A required hex field, decoded. For `hex`, a vector may instead carry `hex_runs`: a list of
/// `[hex, count]` pairs whose repetitions are concatenated (used for megabyte-sized inputs).
pub(crate) fn hex_field(v: &Json, key: &str) -> anyhow::Result<Vec<u8>> {
    if key == "hex"
        && let Some(runs) = v.get("hex_runs").and_then(Json::as_array)
    {
        let mut out = Vec::new();
        for run in runs {
            let (Some(h), Some(n)) = (
                run.get(0).and_then(Json::as_str),
                run.get(1).and_then(Json::as_u64),
            ) else {
                bail!("`hex_runs` entries are [hex, count]");
            };
            let bytes = hex::decode(h).context("`hex_runs` holds non-hex")?;
            for _ in 0..n {
                out.extend_from_slice(&bytes);
            }
        }
        return Ok(out);
    }
    hex::decode(text(v, key)?).with_context(|| format!("`{key}` is not hex"))
}

/// A negative vector whose input is `prefix` followed by `count` copies of `fill`.
pub(crate) fn negative_runs(
    name: &str,
    prefix: &[u8],
    fill: u8,
    count: u64,
    error: Option<&str>,
) -> Json {
    let mut input = prefix.to_vec();
    input.resize(prefix.len() + usize::try_from(count).unwrap_or(0), fill);
    json!({
        "name": name,
        "hex_runs": [[hex::encode(prefix), 1], [hex::encode([fill]), count]],
        "input_cid": Cid::of_raw(&input).to_string(),
        "error": error,
    })
}

/// Checks that `actual` equals the string field `key`.
pub(crate) fn expect_eq(v: &Json, key: &str, actual: &str) -> anyhow::Result<()> {
    let expected = text(v, key)?;
    if expected != actual {
        bail!("`{key}`: the vector says `{expected}`, the implementation gives `{actual}`");
    }
    Ok(())
}

/// Checks the `input_cid` field: the raw CID of the vector's input bytes, so that a flipped byte
/// in the input is caught even where it would still be refused.
pub(crate) fn expect_input_cid(v: &Json, input: &[u8]) -> anyhow::Result<()> {
    expect_eq(v, "input_cid", &Cid::of_raw(input).to_string())
}

/// A negative vector over bytes.
pub(crate) fn negative(name: &str, input: &[u8], error: &str) -> Json {
    json!({
        "name": name,
        "hex": hex::encode(input),
        "input_cid": Cid::of_raw(input).to_string(),
        "error": error,
    })
}

/// A file with its description and spec section.
pub(crate) fn file(description: &str, spec: &str, vectors: Vec<Json>) -> Json {
    json!({ "description": description, "spec": spec, "vectors": Json::Array(vectors) })
}

/// Decodes a hex literal in the case tables (a bug in a table, so it panics with the literal).
pub(crate) fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap_or_else(|e| panic!("bad hex literal {s:?}: {e}"))
}

/// A map value from a case table (a repeated key is a bug in the table).
pub(crate) fn map(entries: Vec<(&str, Value)>) -> Value {
    let entries = entries
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    Value::Map(
        Map::from_entries(entries).unwrap_or_else(|| panic!("duplicate key in a case table")),
    )
}
