//! `cid/`: Cairn content IDs in binary and text.

use anyhow::bail;
use cairn_protocol::cid::{Cid, Codec};
use cairn_protocol::codec::Link;
use serde_json::{Value as Json, json};

use crate::VectorFile;
use crate::util::{expect_eq, expect_input_cid, file, hex_field, text};

pub(crate) fn files() -> Vec<VectorFile> {
    vec![
        VectorFile {
            path: "cid/valid.json",
            generate: valid,
            check: check_valid,
        },
        VectorFile {
            path: "cid/invalid.json",
            generate: invalid,
            check: check_invalid,
        },
    ]
}

fn codec_name(c: Codec) -> &'static str {
    match c {
        Codec::Raw => "raw",
        Codec::DagCbor => "dag-cbor",
    }
}

fn valid() -> anyhow::Result<Json> {
    let cases: [(&str, Codec, &[u8]); 6] = [
        ("raw, empty", Codec::Raw, b""),
        ("raw, `hello`", Codec::Raw, b"hello"),
        (
            "raw, 1000 bytes (more than one BLAKE3 chunk)",
            Codec::Raw,
            &[0x61; 1000],
        ),
        ("dag-cbor, empty map", Codec::DagCbor, b"\xa0"),
        ("dag-cbor, {\"a\": 1}", Codec::DagCbor, b"\xa1\x61a\x01"),
        (
            "raw, 1025 bytes (BLAKE3 chunk boundary + 1)",
            Codec::Raw,
            &[0x00; 1025],
        ),
    ];
    let vectors = cases
        .into_iter()
        .map(|(name, codec, data)| {
            let cid = match codec {
                Codec::Raw => Cid::of_raw(data),
                Codec::DagCbor => Cid::of_record(data),
            };
            json!({
                "name": name,
                "codec": codec_name(codec),
                "data_hex": hex::encode(data),
                "blake3_hex": hex::encode(blake3::hash(data).as_bytes()),
                "binary_hex": hex::encode(cid.to_bytes()),
                "cid": cid.to_string(),
            })
        })
        .collect();
    Ok(file(
        "Content IDs: BLAKE3-256 of `data_hex` is `blake3_hex`; the binary CID is `binary_hex`; its text form is `cid`.",
        "spec/02-content-ids.md",
        vectors,
    ))
}

fn check_valid(v: &Json) -> anyhow::Result<()> {
    let data = hex_field(v, "data_hex")?;
    let cid = match text(v, "codec")? {
        "raw" => Cid::of_raw(&data),
        "dag-cbor" => Cid::of_record(&data),
        other => bail!("unknown codec `{other}`"),
    };
    expect_eq(v, "blake3_hex", &hex::encode(cid.digest()))?;
    expect_eq(v, "binary_hex", &hex::encode(cid.to_bytes()))?;
    expect_eq(v, "cid", &cid.to_string())?;
    let parsed: Cid = text(v, "cid")?.parse()?;
    if parsed != cid || Cid::from_bytes(&hex_field(v, "binary_hex")?)? != cid {
        bail!("text or binary form does not parse back to the same CID");
    }
    Ok(())
}

fn invalid() -> anyhow::Result<Json> {
    let good = Cid::of_raw(b"x").to_string();
    let cases: Vec<(&str, String, &str)> = vec![
        ("empty", String::new(), "cid-empty"),
        (
            "upper-case base32 (multibase B)",
            good.to_uppercase(),
            "cid-wrong-multibase",
        ),
        (
            "base58btc multibase (z)",
            format!("z{}", &good[1..]),
            "cid-wrong-multibase",
        ),
        (
            "CIDv0 text",
            "QmQg1v4o9xdT3Q14wh4S7dxZkDjyZ9ssFzFzyep1YrVJBY".into(),
            "cid-v0",
        ),
        ("base32 with padding", format!("{good}="), "cid-base32"),
        (
            "base32 with a non-zero trailing bit",
            non_canonical_tail(&good),
            "cid-base32",
        ),
        (
            "sha2-256 multihash",
            Link::v1(0x71, 0x12, &[0; 32]).to_string(),
            "cid-unsupported-hash",
        ),
        (
            "blake3 with a 16-byte digest",
            Link::v1(0x55, 0x1e, &[0; 16]).to_string(),
            "cid-unsupported-hash",
        ),
        (
            "codec dag-pb",
            Link::v1(0x70, 0x1e, &[0; 32]).to_string(),
            "cid-unsupported-codec",
        ),
        (
            "codec dag-json",
            Link::v1(0x0129, 0x1e, &[0; 32]).to_string(),
            "cid-unsupported-codec",
        ),
        (
            "codec dag-pb and hash sha2-256: the codec is checked first",
            Link::v1(0x70, 0x12, &[0; 32]).to_string(),
            "cid-unsupported-codec",
        ),
        (
            "46 characters starting Qm, not base58btc: checked before decoding",
            format!("Qm{}", "0".repeat(44)),
            "cid-v0",
        ),
        (
            "a binary CIDv0 in base32 text",
            format!(
                "b{}",
                cairn_protocol::multiformats::base32_encode(
                    &[[0x12, 0x20].as_slice(), &[0; 32]].concat()
                )
            ),
            "cid-v0",
        ),
        (
            "truncated digest (30 of 36 bytes)",
            good[..good.len() - 10].to_string(),
            "cid-malformed",
        ),
    ];
    let vectors = cases
        .into_iter()
        .map(|(name, text, error)| {
            json!({
                "name": name,
                "text": text,
                "input_cid": Cid::of_raw(text.as_bytes()).to_string(),
                "error": error,
            })
        })
        .collect();
    Ok(file(
        "Texts that are not Cairn CIDs: parsing `text` must fail with `error`.",
        "spec/02-content-ids.md#errors",
        vectors,
    ))
}

/// The last base32 character of a 36-byte CID carries 4 data bits and 1 padding bit; setting
/// the padding bit gives a text that decodes to the same bytes but is not canonical.
fn non_canonical_tail(good: &str) -> String {
    let alphabet = "abcdefghijklmnopqrstuvwxyz234567";
    let last = good.chars().last().unwrap_or('a');
    let index = alphabet.find(last).unwrap_or(0);
    let bumped = alphabet.chars().nth(index | 1).unwrap_or('b');
    format!("{}{bumped}", &good[..good.len() - 1])
}

fn check_invalid(v: &Json) -> anyhow::Result<()> {
    let t = text(v, "text")?;
    expect_input_cid(v, t.as_bytes())?;
    match t.parse::<Cid>() {
        Ok(_) => bail!("parses, but must fail with `{}`", text(v, "error")?),
        Err(e) => expect_eq(v, "error", e.code()),
    }
}
