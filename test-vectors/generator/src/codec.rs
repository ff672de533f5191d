//! `codec/` and `record/`: strict DAG-CBOR and the record profile.

use anyhow::bail;
use cairn_core::json::{from_json, to_json};
use cairn_protocol::cid::Cid;
use cairn_protocol::codec::{self, Float, Link, Map, Value};
use cairn_protocol::profile;
use serde_json::{Value as Json, json};

use crate::VectorFile;
use crate::util::{
    expect_eq, expect_input_cid, file, h, hex_field, map, negative, negative_runs, text,
};

pub(crate) fn files() -> Vec<VectorFile> {
    vec![
        VectorFile {
            path: "codec/valid.json",
            generate: codec_valid,
            check: check_codec_valid,
        },
        VectorFile {
            path: "codec/invalid.json",
            generate: codec_invalid,
            check: check_codec_invalid,
        },
        VectorFile {
            path: "record/valid.json",
            generate: record_valid,
            check: check_record_valid,
        },
        VectorFile {
            path: "record/invalid.json",
            generate: record_invalid,
            check: check_record_invalid,
        },
        VectorFile {
            path: "record/oversize.json",
            generate: record_oversize,
            check: check_record_invalid,
        },
    ]
}

fn float(f: f64) -> Value {
    Value::Float(Float::new(f).unwrap_or_else(|| panic!("non-finite float in a case table")))
}

fn cid_v0(fill: u8) -> Link {
    let mut b = vec![0x12, 0x20];
    b.extend([fill; 32]);
    Link::from_bytes(&b).unwrap_or_else(|e| panic!("{e}"))
}

fn valid_vector(name: &str, value: &Value) -> Json {
    let bytes = codec::encode(value);
    json!({
        "name": name,
        "hex": hex::encode(&bytes),
        "cid": Cid::of_record(&bytes).to_string(),
        "value": to_json(value),
    })
}

fn codec_cases() -> Vec<(&'static str, Value)> {
    let ints: [(&str, i128); 16] = [
        ("int 0", 0),
        ("int 23 (largest one-byte head)", 23),
        ("int 24 (smallest 1-byte argument)", 24),
        ("int 255", 255),
        ("int 256", 256),
        ("int 65535", 65_535),
        ("int 65536", 65_536),
        ("int 2^32-1", 4_294_967_295),
        ("int 2^32", 4_294_967_296),
        ("int 2^64-1 (largest)", codec::INTEGER_MAX),
        ("int -1", -1),
        ("int -24", -24),
        ("int -25", -25),
        ("int -257", -257),
        ("int -2^63", -(1i128 << 63)),
        ("int -2^64 (smallest)", codec::INTEGER_MIN),
    ];
    let mut cases: Vec<(&'static str, Value)> = ints
        .into_iter()
        .map(|(n, i)| (n, Value::Integer(i)))
        .collect();
    cases.extend([
        ("null", Value::Null),
        ("true", Value::Bool(true)),
        ("false", Value::Bool(false)),
        ("float 0.5 (always 64-bit)", float(0.5)),
        ("float -1.1", float(-1.1)),
        ("float 1e300", float(1e300)),
        ("float smallest subnormal", float(f64::from_bits(1))),
        ("float 1.0 (integral floats stay floats)", float(1.0)),
        ("string empty", Value::text("")),
        ("string ascii", Value::text("cairn")),
        ("string multi-byte utf-8", Value::text("Čaues ßvěte! 水 𐅑")),
        (
            "string 24 bytes (1-byte length argument)",
            Value::text("abcdefghijklmnopqrstuvwx"),
        ),
        ("bytes empty", Value::Bytes(vec![])),
        ("bytes 0x00..0x1f", Value::Bytes((0u8..32).collect())),
        (
            "bytes 300 (2-byte length argument)",
            Value::Bytes(vec![0xab; 300]),
        ),
        ("list empty", Value::List(vec![])),
        (
            "list nested",
            Value::List(vec![
                Value::Integer(1),
                Value::List(vec![Value::Null]),
                Value::List(vec![]),
            ]),
        ),
        ("list of 24 items", Value::List(vec![Value::Integer(0); 24])),
        ("map empty", Value::Map(Map::new())),
        (
            "map keys length-first then bytewise",
            map(vec![
                ("b", Value::Integer(1)),
                ("aa", Value::Integer(2)),
                ("a", Value::Integer(3)),
                ("ab", Value::Integer(4)),
                ("", Value::Integer(5)),
                ("ba", Value::Integer(6)),
            ]),
        ),
        (
            "map with multi-byte keys",
            map(vec![
                ("é", Value::Null),
                ("z", Value::Null),
                ("zz", Value::Null),
            ]),
        ),
        (
            "map nested",
            map(vec![(
                "m",
                map(vec![("x", Value::List(vec![map(vec![])]))]),
            )]),
        ),
        (
            "link raw blake3 (Cairn artifact)",
            Value::Link(Cid::of_raw(b"artifact").into()),
        ),
        (
            "link dag-cbor blake3 (Cairn record)",
            Value::Link(Cid::of_record(b"\xa0").into()),
        ),
        (
            "link CIDv1 sha2-256 (valid DAG-CBOR, refused by the record profile)",
            Value::Link(Link::v1(0x71, 0x12, &[0x11; 32])),
        ),
        (
            "link CIDv0 (valid DAG-CBOR, refused by the record profile)",
            Value::Link(cid_v0(0x22)),
        ),
        (
            "link identity multihash",
            Value::Link(Link::v1(0x55, 0x00, b"hi")),
        ),
    ]);
    cases
}

fn codec_valid() -> anyhow::Result<Json> {
    let vectors = codec_cases()
        .iter()
        .map(|(n, v)| valid_vector(n, v))
        .collect();
    Ok(file(
        "Strict DAG-CBOR values: decode `hex` to `value` (typed JSON), encode `value` back to exactly `hex`, and hash `hex` to `cid` (CIDv1 dag-cbor BLAKE3).",
        "spec/01-encoding.md#codec-layer",
        vectors,
    ))
}

fn check_codec_valid(v: &Json) -> anyhow::Result<()> {
    let bytes = hex_field(v, "hex")?;
    let expected = from_json(&v["value"]).map_err(anyhow::Error::msg)?;
    let decoded = codec::decode(&bytes)?;
    if decoded != expected {
        bail!("decodes to {decoded:?}, the vector says {expected:?}");
    }
    if codec::encode(&expected) != bytes {
        bail!("`value` does not encode to `hex`");
    }
    expect_eq(v, "cid", &Cid::of_record(&bytes).to_string())
}

/// Every way of breaking strict DAG-CBOR, each with the error it must produce.
fn codec_invalid() -> anyhow::Result<Json> {
    let mut deep = vec![0x81; codec::DEFAULT_MAX_DEPTH + 1];
    deep.push(0x00);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("int 0 in 1-byte argument", h("18 00"), "cbor-non-minimal"),
        ("int 23 in 1-byte argument", h("18 17"), "cbor-non-minimal"),
        (
            "int 255 in 2-byte argument",
            h("19 00ff"),
            "cbor-non-minimal",
        ),
        (
            "int 65535 in 4-byte argument",
            h("1a 0000ffff"),
            "cbor-non-minimal",
        ),
        (
            "int 2^32-1 in 8-byte argument",
            h("1b 00000000ffffffff"),
            "cbor-non-minimal",
        ),
        (
            "negative int -1 in 1-byte argument",
            h("38 00"),
            "cbor-non-minimal",
        ),
        (
            "text length in 1-byte argument",
            h("78 01 61"),
            "cbor-non-minimal",
        ),
        (
            "bytes length in 2-byte argument",
            h("59 0001 00"),
            "cbor-non-minimal",
        ),
        (
            "list length in 1-byte argument",
            h("98 01 00"),
            "cbor-non-minimal",
        ),
        (
            "map length in 1-byte argument",
            h("b8 01 61 61 00"),
            "cbor-non-minimal",
        ),
        (
            "tag 42 in 2-byte argument",
            h(
                "d9 002a 58 25 00 01 55 1e 20 0000000000000000000000000000000000000000000000000000000000000000",
            ),
            "cbor-non-minimal",
        ),
        (
            "indefinite-length bytes",
            h("5f 41 00 ff"),
            "cbor-indefinite-length",
        ),
        (
            "indefinite-length text",
            h("7f 61 61 ff"),
            "cbor-indefinite-length",
        ),
        (
            "indefinite-length list",
            h("9f 00 ff"),
            "cbor-indefinite-length",
        ),
        (
            "indefinite-length map",
            h("bf 61 61 00 ff"),
            "cbor-indefinite-length",
        ),
        (
            "additional information 31 on an unsigned integer",
            h("1f"),
            "cbor-indefinite-length",
        ),
        (
            "additional information 31 on a negative integer",
            h("3f"),
            "cbor-indefinite-length",
        ),
        (
            "additional information 31 on a tag",
            h("df"),
            "cbor-indefinite-length",
        ),
        (
            "a map key whose head is bad: the head is checked before the type",
            h("a1 1f 00"),
            "cbor-indefinite-length",
        ),
        (
            "a half float cut short: read before judged",
            h("f9 3c"),
            "cbor-unexpected-end",
        ),
        (
            "a double float cut short",
            h("fb 3ff0"),
            "cbor-unexpected-end",
        ),
        (
            "map keys not bytewise sorted",
            h("a2 61 62 00 61 61 00"),
            "cbor-map-key-order",
        ),
        (
            "map keys not length-first (aa before b)",
            h("a2 62 61 61 00 61 62 00"),
            "cbor-map-key-order",
        ),
        (
            "map key repeated",
            h("a2 61 61 00 61 61 01"),
            "cbor-duplicate-map-key",
        ),
        (
            "map key is an integer",
            h("a1 01 00"),
            "cbor-map-key-not-string",
        ),
        (
            "map key is bytes",
            h("a1 41 61 00"),
            "cbor-map-key-not-string",
        ),
        (
            "half-precision float",
            h("f9 3c00"),
            "cbor-float-not-double",
        ),
        (
            "single-precision float",
            h("fa 3f800000"),
            "cbor-float-not-double",
        ),
        ("NaN", h("fb 7ff8000000000000"), "cbor-non-finite-float"),
        (
            "+infinity",
            h("fb 7ff0000000000000"),
            "cbor-non-finite-float",
        ),
        (
            "-infinity",
            h("fb fff0000000000000"),
            "cbor-non-finite-float",
        ),
        (
            "negative zero",
            h("fb 8000000000000000"),
            "cbor-negative-zero",
        ),
        ("undefined", h("f7"), "cbor-unsupported-simple"),
        ("simple value 16", h("f0"), "cbor-unsupported-simple"),
        (
            "simple value 255 (1-byte form)",
            h("f8 ff"),
            "cbor-unsupported-simple",
        ),
        ("tag 0 (date)", h("c0 61 61"), "cbor-unsupported-tag"),
        ("tag 43", h("d8 2b 40"), "cbor-unsupported-tag"),
        ("tag 42 over text", h("d8 2a 61 61"), "cbor-invalid-link"),
        (
            "tag 42 without 0x00 prefix",
            h("d8 2a 45 01 55 00 01 00"),
            "cbor-invalid-link",
        ),
        (
            "tag 42 with CID version 2",
            h("d8 2a 45 00 02 55 00 00"),
            "cbor-invalid-link",
        ),
        (
            "tag 42 with digest shorter than declared",
            h("d8 2a 46 00 01 55 1e 20 00"),
            "cbor-invalid-link",
        ),
        (
            "tag 42 with non-minimal varint",
            h("d8 2a 46 00 01 d5 00 00 00"),
            "cbor-invalid-link",
        ),
        ("invalid UTF-8 in text", h("62 c3 28"), "cbor-invalid-utf8"),
        (
            "UTF-8 surrogate in text",
            h("63 ed a0 80"),
            "cbor-invalid-utf8",
        ),
        ("lone break byte", h("ff"), "cbor-unexpected-break"),
        (
            "reserved additional information 28",
            h("1c"),
            "cbor-reserved-info",
        ),
        (
            "reserved additional information 30 on a list",
            h("9e"),
            "cbor-reserved-info",
        ),
        ("two top-level items", h("00 00"), "cbor-trailing-data"),
        ("empty input", vec![], "cbor-unexpected-end"),
        (
            "truncated 8-byte argument",
            h("1b 0000"),
            "cbor-unexpected-end",
        ),
        (
            "list declares more items than bytes remain",
            h("83 00 00"),
            "cbor-length-exceeds-input",
        ),
        (
            "truncated item inside a list",
            h("81 19 00"),
            "cbor-unexpected-end",
        ),
        (
            "text longer than the input",
            h("63 61"),
            "cbor-length-exceeds-input",
        ),
        (
            "list length 2^56 with no items",
            h("9b 0100000000000000"),
            "cbor-length-exceeds-input",
        ),
        (
            "lists nested one level past the codec limit (256)",
            deep,
            "cbor-too-deep",
        ),
    ];
    let vectors = cases
        .into_iter()
        .map(|(n, b, e)| negative(n, &b, e))
        .collect();
    Ok(file(
        "Byte strings that are not strict DAG-CBOR: decoding `hex` must fail with `error`. `input_cid` is the raw BLAKE3 CID of the input.",
        "spec/01-encoding.md#codec-errors",
        vectors,
    ))
}

fn check_codec_invalid(v: &Json) -> anyhow::Result<()> {
    let bytes = hex_field(v, "hex")?;
    expect_input_cid(v, &bytes)?;
    match codec::decode(&bytes) {
        Ok(_) => bail!("decodes, but must fail with `{}`", text(v, "error")?),
        Err(e) => expect_eq(v, "error", e.kind.code()),
    }
}

fn record_cases() -> Vec<(&'static str, Value)> {
    vec![
        ("empty map", Value::Map(Map::new())),
        (
            "release-like record",
            map(vec![
                ("name", Value::text("libfoo")),
                ("version", Value::text("1.2.0")),
                (
                    "artifacts",
                    Value::List(vec![map(vec![
                        (
                            "cid",
                            Value::Link(Cid::of_raw(b"libfoo-1.2.0.tar.zst").into()),
                        ),
                        ("size", Value::Integer(20)),
                        ("sha256", Value::Bytes(vec![0x5a; 32])),
                    ])]),
                ),
                ("dependencies", map(vec![("libbar", Value::text("^2.0"))])),
            ]),
        ),
        (
            "links of both Cairn codecs",
            map(vec![
                ("raw", Value::Link(Cid::of_raw(b"").into())),
                ("record", Value::Link(Cid::of_record(b"\xa0").into())),
            ]),
        ),
        (
            "nesting at the record limit (32)",
            nested(profile::MAX_DEPTH),
        ),
        (
            "integers at both extremes",
            Value::List(vec![
                Value::Integer(codec::INTEGER_MIN),
                Value::Integer(codec::INTEGER_MAX),
            ]),
        ),
        (
            "null and booleans",
            Value::List(vec![Value::Null, Value::Bool(true), Value::Bool(false)]),
        ),
    ]
}

/// A value whose lists nest `depth` deep.
fn nested(depth: usize) -> Value {
    let mut v = Value::Integer(0);
    for _ in 0..depth {
        v = Value::List(vec![v]);
    }
    v
}

fn record_valid() -> anyhow::Result<Json> {
    let vectors = record_cases()
        .iter()
        .map(|(n, v)| valid_vector(n, v))
        .collect();
    Ok(file(
        "Valid Cairn record blocks: as codec/valid.json, and the record profile accepts them.",
        "spec/01-encoding.md#record-profile",
        vectors,
    ))
}

fn check_record_valid(v: &Json) -> anyhow::Result<()> {
    let bytes = hex_field(v, "hex")?;
    let expected = from_json(&v["value"]).map_err(anyhow::Error::msg)?;
    let decoded = profile::decode_record(&bytes)?;
    if decoded != expected {
        bail!("decodes to {decoded:?}, the vector says {expected:?}");
    }
    if profile::encode_record(&expected)? != bytes {
        bail!("`value` does not encode to `hex`");
    }
    expect_eq(v, "cid", &Cid::of_record(&bytes).to_string())
}

fn record_invalid() -> anyhow::Result<Json> {
    let enc = |v: Value| codec::encode(&v);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("float at top level", enc(float(0.5)), "record-float"),
        (
            "float inside a map",
            enc(map(vec![("size", float(1.0))])),
            "record-float",
        ),
        (
            "CIDv0 link",
            enc(map(vec![("prev", Value::Link(cid_v0(1)))])),
            "record-cid-v0-link",
        ),
        (
            "CIDv1 sha2-256 link",
            enc(map(vec![(
                "prev",
                Value::Link(Link::v1(0x71, 0x12, &[1; 32])),
            )])),
            "record-foreign-link",
        ),
        (
            "CIDv1 blake3 link with codec dag-pb",
            enc(map(vec![(
                "prev",
                Value::Link(Link::v1(0x70, 0x1e, &[1; 32])),
            )])),
            "record-foreign-link",
        ),
        (
            "CIDv1 blake3 link with a 16-byte digest",
            enc(map(vec![(
                "prev",
                Value::Link(Link::v1(0x55, 0x1e, &[1; 16])),
            )])),
            "record-foreign-link",
        ),
        (
            "identity-multihash link",
            enc(Value::Link(Link::v1(0x55, 0x00, b"x"))),
            "record-foreign-link",
        ),
        (
            "nesting one level past the record limit (33)",
            enc(nested(profile::MAX_DEPTH + 1)),
            "record-too-deep",
        ),
        (
            "non-minimal integer (codec errors pass through)",
            h("a1 61 61 18 01"),
            "cbor-non-minimal",
        ),
        (
            "unsorted keys (codec errors pass through)",
            h("a2 61 62 00 61 61 00"),
            "cbor-map-key-order",
        ),
    ];
    let vectors = cases
        .into_iter()
        .map(|(n, b, e)| negative(n, &b, e))
        .collect();
    Ok(file(
        "Blocks the record profile refuses: `decode_record(hex)` must fail with `error`.",
        "spec/01-encoding.md#record-errors",
        vectors,
    ))
}

fn record_oversize() -> anyhow::Result<Json> {
    // A byte string whose block is exactly one byte over 1 MiB, and the control at exactly 1 MiB.
    let limit = profile::MAX_BLOCK_SIZE as u64;
    let head = |len: u64| {
        codec::encode(&Value::Bytes(vec![0; usize::try_from(len).unwrap_or(0)]))[..5].to_vec()
    };
    Ok(file(
        "Block size limit: a block of 1 MiB + 1 bytes must fail with `record-too-large`; the 1 MiB block (error null) must decode. Inputs are given as `hex_runs`.",
        "spec/01-encoding.md#record-profile",
        vec![
            negative_runs(
                "one byte over 1 MiB",
                &head(limit - 4),
                0,
                limit - 4,
                Some("record-too-large"),
            ),
            negative_runs(
                "exactly 1 MiB is accepted (control)",
                &head(limit - 5),
                0,
                limit - 5,
                None,
            ),
        ],
    ))
}

fn check_record_invalid(v: &Json) -> anyhow::Result<()> {
    let bytes = hex_field(v, "hex")?;
    expect_input_cid(v, &bytes)?;
    match (
        profile::decode_record(&bytes),
        v.get("error").and_then(Json::as_str),
    ) {
        (Ok(_), None) => Ok(()),
        (Ok(_), Some(code)) => bail!("decodes, but must fail with `{code}`"),
        (Err(e), None) => bail!("must decode, fails with {e}"),
        (Err(e), Some(_)) => expect_eq(v, "error", e.code()),
    }
}
