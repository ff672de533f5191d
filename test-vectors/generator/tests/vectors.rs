//! The committed vectors pass `check`; flipping any byte of any data field of any vector makes
//! `check` fail; the committed files are what the generator writes today.

use std::path::PathBuf;

use cairn_test_vectors::{VectorFile, check, check_json, files};
use serde_json::Value as Json;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load(f: &VectorFile) -> Json {
    let text = std::fs::read_to_string(dir().join(f.path)).expect("vector file");
    serde_json::from_str(&text).expect("json")
}

#[test]
fn committed_vectors_pass_check() {
    let summary = check(&dir());
    assert!(summary.failed.is_empty(), "{:#?}", summary.failed);
    let total: usize = summary.passed.iter().map(|(_, n)| n).sum();
    assert_eq!(summary.passed.len(), files().len());
    assert!(total > 1500, "only {total} vectors");
}

#[test]
fn committed_vectors_are_current() {
    for f in files() {
        let generated = (f.generate)().expect("generate");
        assert!(
            load(&f) == generated,
            "`{}` is stale: run `cargo run -p cairn-test-vectors -- write`",
            f.path
        );
    }
}

/// Fields whose content the check recomputes or verifies; `name`, `description` and the inputs
/// of the version tables are labels or table keys, not data.
const DATA_FIELDS: &[&str] = &[
    "hex",
    "input_cid",
    "cid",
    "error",
    "tag_hex",
    "payload_hex",
    "payload_cid",
    "signing_input_hex",
    "envelope_hex",
    "envelope_cid",
    "data_hex",
    "blake3_hex",
    "binary_hex",
    "text",
    "display",
    "canonical",
    "cmp",
    "priority",
    "seed_hex",
    "public_key_hex",
    "public_key",
    "signature_hex",
    "domain",
];

/// Changes one character in the middle of `s` to another character of the same class.
fn flip(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return "x".into();
    }
    let i = chars.len() / 2;
    chars[i] = match chars[i] {
        '<' => '>',
        '>' | '=' => '<',
        c if c.is_ascii_hexdigit() && c != 'f' => {
            if c == '0' {
                '1'
            } else {
                '0'
            }
        }
        'f' => 'e',
        'a' => 'b',
        _ => 'a',
    };
    chars.into_iter().collect()
}

/// Every single-field mutation of `v`, with a label.
fn mutations(v: &Json) -> Vec<(String, Json)> {
    let mut out = Vec::new();
    let Json::Object(obj) = v else { return out };
    for (k, field) in obj {
        match field {
            Json::String(s) if DATA_FIELDS.contains(&k.as_str()) => {
                let mut m = v.clone();
                m[k] = Json::String(flip(s));
                out.push((k.clone(), m));
            }
            Json::Bool(b) => {
                let mut m = v.clone();
                m[k] = Json::Bool(!b);
                out.push((k.clone(), m));
            }
            Json::Null if k == "error" => {
                let mut m = v.clone();
                m[k] = Json::String("record-too-large".into());
                out.push((k.clone(), m));
            }
            Json::Array(items) if k == "hex_runs" => {
                let mut m = v.clone();
                m[k][1][1] = Json::from(items[1][1].as_u64().unwrap_or(0) - 1);
                out.push((k.clone(), m));
            }
            Json::Array(items) if k == "signers" => {
                for (i, item) in items.iter().enumerate() {
                    for (label, inner) in mutations(item) {
                        let mut m = v.clone();
                        m[k][i] = inner;
                        out.push((format!("signers[{i}].{label}"), m));
                    }
                }
            }
            Json::Object(_) if k == "value" || k == "payload" => {
                // Typed JSON: change the first scalar found.
                let mut m = v.clone();
                if mutate_first_scalar(&mut m[k]) {
                    out.push((k.clone(), m));
                }
            }
            _ => {}
        }
    }
    out
}

fn mutate_first_scalar(j: &mut Json) -> bool {
    match j {
        Json::String(s) => {
            *s = flip(s);
            true
        }
        Json::Bool(b) => {
            *b = !*b;
            true
        }
        Json::Null => {
            *j = Json::Bool(false);
            true
        }
        Json::Array(items) => items.iter_mut().any(mutate_first_scalar),
        Json::Object(o) => o.values_mut().any(mutate_first_scalar),
        Json::Number(_) => false,
    }
}

#[test]
fn a_flipped_byte_in_any_vector_fails_check() {
    let mut tried = 0;
    for f in files() {
        let json = load(&f);
        let vectors = json["vectors"].as_array().expect("vectors");
        for v in vectors {
            let ms = mutations(v);
            assert!(
                !ms.is_empty(),
                "`{}` vector {} has no data field to flip",
                f.path,
                v["name"]
            );
            for (label, mutated) in ms {
                let one = serde_json::json!({ "vectors": [mutated] });
                assert!(
                    check_json(&f, &one).is_err(),
                    "`{}` vector {}: flipping `{label}` went unnoticed",
                    f.path,
                    v["name"]
                );
                tried += 1;
            }
        }
    }
    assert!(tried > 3000, "only {tried} mutations tried");
    eprintln!("{tried} single-field mutations, all caught");
}
