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
/// of the version tables are labels or table keys, not data. In a vector that carries an
/// `input_cid`, every string but `name` is data.
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
    "message_hex",
    "domain",
    "identity",
    "head",
    "index",
    "state",
    "key",
    "root",
    "seq",
    "payload",
    "signer",
    "size",
    "winner",
    "fork",
    "field",
];

/// Lists whose every element is data.
const DATA_LISTS: &[&str] = &[
    "revisions",
    "verdicts",
    "blocks",
    "identities",
    "signers",
    "entries",
];

/// Objects whose content is data, mutated at their first scalar.
const DATA_OBJECTS: &[&str] = &["value", "payload", "resolved", "indexes", "contents"];
/// Lists of objects whose scalars are data.
const DATA_OBJECT_LISTS: &[&str] = &["imports"];

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

/// Every single mutation of one element of a data list (recursively for nested lists/objects).
fn element_mutations(items: &[Json]) -> Vec<(String, Json)> {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let mutated: Vec<(String, Json)> = match item {
            Json::String(s) => vec![(String::new(), Json::String(flip(s)))],
            Json::Array(inner) => element_mutations(inner),
            Json::Object(_) => mutations(item, true),
            _ => vec![],
        };
        for (label, m) in mutated {
            let mut copy = items.to_vec();
            copy[i] = m;
            out.push((format!("[{i}]{label}"), Json::Array(copy)));
        }
    }
    out
}

/// Every single-field mutation of `v`, with a label.
fn mutations(v: &Json, all_strings: bool) -> Vec<(String, Json)> {
    let mut out = Vec::new();
    let Json::Object(obj) = v else { return out };
    let all_strings = all_strings || obj.contains_key("input_cid");
    for (k, field) in obj {
        let mut replace = |label: String, new: Json| {
            let mut m = v.clone();
            m[k] = new;
            out.push((label, m));
        };
        match field {
            Json::String(s)
                if (all_strings && k != "name") || DATA_FIELDS.contains(&k.as_str()) =>
            {
                replace(k.clone(), Json::String(flip(s)));
            }
            Json::Bool(b) => replace(k.clone(), Json::Bool(!b)),
            Json::Null if k == "error" || k == "identity" || k == "state" => {
                replace(k.clone(), Json::String("x".into()));
            }
            Json::Array(items) if k == "hex_runs" => {
                let mut runs = field.clone();
                runs[1][1] = Json::from(items[1][1].as_u64().unwrap_or(0) - 1);
                replace(k.clone(), runs);
            }
            Json::Array(_) if DATA_OBJECT_LISTS.contains(&k.as_str()) => {
                let mut new = field.clone();
                if mutate_first_scalar(&mut new) {
                    replace(k.clone(), new);
                }
            }
            Json::Array(items) if DATA_LISTS.contains(&k.as_str()) => {
                for (label, new) in element_mutations(items) {
                    replace(format!("{k}{label}"), new);
                }
            }
            Json::Object(_) if DATA_OBJECTS.contains(&k.as_str()) => {
                let mut new = field.clone();
                if mutate_first_scalar(&mut new) {
                    replace(k.clone(), new);
                }
            }
            Json::Object(_) => {
                for (label, new) in mutations(field, all_strings) {
                    replace(format!("{k}.{label}"), new);
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
            let ms = mutations(v, false);
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
