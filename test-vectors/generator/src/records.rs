//! `names.json`, `release/`, `head/`, `map/` and `include/`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context as _, bail};
use cairn_core::json::{from_json, to_json};
use cairn_protocol::cid::Cid;
use cairn_protocol::codec::{self, Value};
use cairn_protocol::hamt::Hamt;
use cairn_protocol::head::{Divergence, ForkEvidence, Head, LogId, classify};
use cairn_protocol::identity::IdentityId;
use cairn_protocol::index::include;
use cairn_protocol::index::package::{AliasEntry, PackageState, Policy};
use cairn_protocol::name::{IndexName, Name};
use cairn_protocol::release::{Artifact, Dependency, Release, Source};
use cairn_protocol::sign::SecretKey;
use cairn_protocol::signed::Signed;
use serde_json::{Value as Json, json};

use crate::VectorFile;
use crate::util::{expect_eq, expect_input_cid, file, hex_field, map, negative, text};

pub(crate) fn files() -> Vec<VectorFile> {
    vec![
        VectorFile {
            path: "names.json",
            generate: names,
            check: check_name,
        },
        VectorFile {
            path: "release/valid.json",
            generate: release_valid,
            check: check_release_valid,
        },
        VectorFile {
            path: "release/invalid.json",
            generate: release_invalid,
            check: check_release_invalid,
        },
        VectorFile {
            path: "head/heads.json",
            generate: heads,
            check: check_head,
        },
        VectorFile {
            path: "head/forks.json",
            generate: forks,
            check: check_fork,
        },
        VectorFile {
            path: "head/conflicts.json",
            generate: conflicts,
            check: check_conflict,
        },
        VectorFile {
            path: "map/valid.json",
            generate: maps,
            check: check_map,
        },
        VectorFile {
            path: "map/invalid.json",
            generate: bad_maps,
            check: check_bad_map,
        },
        VectorFile {
            path: "include/resolve.json",
            generate: includes,
            check: check_include,
        },
    ]
}

const T: u64 = 1_795_000_000;

fn id(n: u8) -> IdentityId {
    IdentityId::from_digest([n; 32])
}

/// A negative map case: name, root block, other blocks, error.
type MapCase<'a> = (&'a str, Vec<u8>, Vec<Vec<u8>>, &'a str);
/// An include-graph case: index, aliases ([alias, target]), includes ([index, priority]).
type Spec<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [(&'a str, u64)]);

// ---- names ----

fn names() -> anyhow::Result<Json> {
    let good_id = id(7).to_string();
    let long = "n".repeat(128);
    let too_long = "n".repeat(129);
    let cases: Vec<(&str, String)> = vec![
        ("name", "libfoo".into()),
        ("name", "_x-1".into()),
        ("name", long),
        ("name", too_long),
        ("name", String::new()),
        ("name", "-lead".into()),
        ("name", "a.b".into()),
        ("name", "ünï".into()),
        ("index", format!("{good_id}:libfoo")),
        ("index", "libfoo".into()),
        ("index", format!("{good_id}:")),
        ("index", format!("{}:libfoo", good_id.to_uppercase())),
        ("index", format!("b{}:x", "a".repeat(10))),
        ("identity", good_id.clone()),
        ("identity", good_id[..52].to_owned()),
    ];
    let vectors = cases
        .into_iter()
        .map(|(kind, input)| {
            let mut v = json!({ "name": format!("{kind} {input:?}"), "kind": kind, "input_cid": Cid::of_raw(input.as_bytes()).to_string(), "input": input });
            match parse_name(kind, &input) {
                Ok(display) => v["display"] = json!(display),
                Err(code) => v["error"] = json!(code),
            }
            v
        })
        .collect();
    Ok(file(
        "Names, index names and identity IDs: `input` parses as `kind` and prints as `display`, or fails with `error`.",
        "spec/05-identities.md#names",
        vectors,
    ))
}

fn parse_name(kind: &str, input: &str) -> Result<String, &'static str> {
    match kind {
        "name" => input
            .parse::<Name>()
            .map(|n| n.to_string())
            .map_err(|e| e.code()),
        "index" => input
            .parse::<IndexName>()
            .map(|n| n.to_string())
            .map_err(|e| e.code()),
        "identity" => input
            .parse::<IdentityId>()
            .map(|n| n.to_string())
            .map_err(|e| e.code()),
        _ => Err("unknown-kind"),
    }
}

fn check_name(v: &Json) -> anyhow::Result<()> {
    expect_input_cid(v, text(v, "input")?.as_bytes())?;
    match parse_name(text(v, "kind")?, text(v, "input")?) {
        Ok(display) => expect_eq(v, "display", &display),
        Err(code) => expect_eq(v, "error", code),
    }
}

// ---- releases ----

fn sample_release() -> anyhow::Result<Release> {
    let mut artifacts = BTreeMap::new();
    artifacts.insert(
        "default".to_owned(),
        Artifact {
            cid: Cid::of_raw(b"libfoo-1.2.0.tar.zst"),
            size: 20,
            sha256: [0x5a; 32],
        },
    );
    artifacts.insert(
        "linux-x86_64".to_owned(),
        Artifact {
            cid: Cid::of_raw(b"libfoo-linux"),
            size: 12,
            sha256: [0x6b; 32],
        },
    );
    let mut dependencies = BTreeMap::new();
    dependencies.insert(
        "libbar".parse()?,
        Dependency {
            constraint: "^2.0".parse()?,
            private: false,
        },
    );
    dependencies.insert(
        "zlib".parse()?,
        Dependency {
            constraint: ">=1.2 <2".parse()?,
            private: true,
        },
    );
    Ok(Release {
        name: "libfoo".parse()?,
        version: "1.2.0".parse()?,
        artifacts,
        dependencies,
        description: Some("Parses foo.\nFast.".into()),
        license: Some("MIT OR Apache-2.0".into()),
        homepage: Some("https://example.org/libfoo".into()),
        repository: Some("https://example.org/libfoo.git".into()),
        keywords: vec!["foo".into(), "parsing".into()],
        authors: vec!["Lucy <lucy@example.org>".into()],
        source: Some(Source {
            repository: "https://example.org/libfoo.git".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
        }),
        portable_index: Some(Cid::of_record(b"portable")),
    })
}

fn release_valid() -> anyhow::Result<Json> {
    let full = sample_release()?;
    let mut minimal = full.clone();
    minimal.dependencies.clear();
    minimal.artifacts.retain(|p, _| p == "default");
    (
        minimal.description,
        minimal.license,
        minimal.homepage,
        minimal.repository,
        minimal.source,
        minimal.portable_index,
    ) = (None, None, None, None, None, None);
    minimal.keywords.clear();
    minimal.authors.clear();
    let vectors = [("every field", full), ("only the required fields", minimal)]
        .into_iter()
        .map(|(name, r)| {
            let (cid, bytes) = r.block()?;
            Ok(json!({ "name": name, "hex": hex::encode(&bytes), "cid": cid.to_string(), "value": to_json(&r.to_value()) }))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(file(
        "Release records that must decode, re-encode to `hex`, and hash to `cid`.",
        "spec/07-records.md#release",
        vectors,
    ))
}

fn check_release_valid(v: &Json) -> anyhow::Result<()> {
    let bytes = hex_field(v, "hex")?;
    let r = Release::decode(&bytes)?;
    if to_json(&r.to_value()) != v["value"] {
        bail!("decodes to another value");
    }
    let (cid, again) = r.block()?;
    if again != bytes {
        bail!("does not re-encode to `hex`");
    }
    expect_eq(v, "cid", &cid.to_string())
}

fn release_invalid() -> anyhow::Result<Json> {
    let base = sample_release()?.to_value();
    let with = |field: &str, value: Value| -> Vec<u8> {
        let mut v = base.clone();
        if let Value::Map(m) = &mut v {
            m.insert(field, value);
        }
        codec::encode(&v)
    };
    let without = |field: &str| -> Vec<u8> {
        let mut v = base.clone();
        if let Value::Map(m) = &mut v {
            m.remove(field);
        }
        codec::encode(&v)
    };
    let art = |cid: Cid| {
        map(vec![
            ("cid", Value::Link(cid.into())),
            ("size", Value::Integer(1)),
            ("sha256", Value::Bytes(vec![0; 32])),
        ])
    };
    let dep = |c: &str| map(vec![("constraint", Value::text(c))]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "unknown field",
            with("downloads", Value::Integer(1)),
            "record-unknown-field",
        ),
        (
            "missing artifacts",
            without("artifacts"),
            "record-missing-field",
        ),
        (
            "no artifacts",
            with("artifacts", Value::Map(codec::Map::new())),
            "record-invalid-field",
        ),
        (
            "platform not os-arch",
            with("artifacts", map(vec![("Linux", art(Cid::of_raw(b"x")))])),
            "record-invalid-field",
        ),
        (
            "artifact CID with the dag-cbor codec",
            with(
                "artifacts",
                map(vec![("default", art(Cid::of_record(b"x")))]),
            ),
            "record-invalid-field",
        ),
        (
            "foreign constraint syntax",
            with("dependencies", map(vec![("libbar", dep("~2.0"))])),
            "record-invalid-field",
        ),
        (
            "non-canonical constraint text",
            with("dependencies", map(vec![("libbar", dep(">= 2.0"))])),
            "record-invalid-field",
        ),
        (
            "aliases differing only in case",
            with(
                "dependencies",
                map(vec![("libbar", dep("^2.0")), ("LibBar", dep("^2.0"))]),
            ),
            "record-invalid-field",
        ),
        (
            "private present as false",
            with(
                "dependencies",
                map(vec![(
                    "libbar",
                    map(vec![
                        ("constraint", Value::text("^2.0")),
                        ("private", Value::Bool(false)),
                    ]),
                )]),
            ),
            "record-invalid-field",
        ),
        (
            "SPDX syntax error",
            with("license", Value::text("MIT/Apache-2.0")),
            "record-invalid-field",
        ),
        (
            "SPDX operator in lower case",
            with("license", Value::text("MIT or Apache-2.0")),
            "record-invalid-field",
        ),
        (
            "a C1 control character (U+0085) in the description",
            with("description", Value::text("Parses\u{85}foo")),
            "record-invalid-field",
        ),
        (
            "a C1 control character (U+009B) in an author",
            with("authors", Value::List(vec![Value::text("Ann\u{9b}")])),
            "record-invalid-field",
        ),
        (
            "artifacts that are not a map",
            with("artifacts", Value::List(vec![])),
            "record-wrong-type",
        ),
        (
            "homepage not http(s)",
            with("homepage", Value::text("ftp://example.org")),
            "record-invalid-field",
        ),
        (
            "empty keyword list",
            with("keywords", Value::List(vec![])),
            "record-invalid-field",
        ),
        (
            "21 keywords",
            with("keywords", Value::List(vec![Value::text("k"); 21])),
            "record-invalid-field",
        ),
        (
            "commit not hex",
            with(
                "source",
                map(vec![
                    ("repository", Value::text("https://e.org/r")),
                    ("commit", Value::text("main")),
                ]),
            ),
            "record-invalid-field",
        ),
        (
            "version with build metadata",
            with("version", Value::text("1.2.0+linux")),
            "record-invalid-field",
        ),
        (
            "name with a dot",
            with("name", Value::text("lib.foo")),
            "record-invalid-field",
        ),
        (
            "description over 1024 bytes",
            with("description", Value::text("d".repeat(1025))),
            "record-invalid-field",
        ),
    ];
    let vectors = cases
        .into_iter()
        .map(|(n, b, e)| {
            let mut v = negative(n, &b, e);
            v["field"] = json!(
                Release::decode(&b)
                    .err()
                    .and_then(|x| x.field().map(str::to_owned))
            );
            v
        })
        .collect();
    Ok(file(
        "Release records that must be refused with `error` about `field`.",
        "spec/07-records.md#release",
        vectors,
    ))
}

fn check_release_invalid(v: &Json) -> anyhow::Result<()> {
    let bytes = hex_field(v, "hex")?;
    expect_input_cid(v, &bytes)?;
    match Release::decode(&bytes) {
        Ok(_) => bail!("decodes, but must fail with `{}`", text(v, "error")?),
        Err(e) => {
            expect_eq(v, "error", e.code())?;
            expect_eq(v, "field", e.field().unwrap_or(""))
        }
    }
}

// ---- heads, forks, conflicts ----

fn head(log: LogId, seq: u64, payload: &[u8]) -> Head {
    Head {
        log,
        seq,
        payload: Cid::of_record(payload),
        time: T,
    }
}

fn index_log(n: u8, name: &str) -> LogId {
    LogId::Index(IndexName::new(
        id(n),
        name.parse().unwrap_or_else(|e| panic!("{e}")),
    ))
}

fn heads() -> anyhow::Result<Json> {
    let k = SecretKey::from_seed(&[9; 32]);
    let cases = [
        ("index head", head(index_log(1, "libfoo"), 12, b"rev")),
        (
            "identity-log head",
            head(LogId::Identity(id(1)), 3, b"idrev"),
        ),
        (
            "longest index name",
            head(index_log(1, &"n".repeat(128)), u64::MAX, b"x"),
        ),
    ];
    let vectors = cases
        .into_iter()
        .map(|(name, h)| {
            let env = Signed::sign(h.clone(), &[&k])?.encode();
            Ok(json!({
                "name": name,
                "hex": hex::encode(&env),
                "cid": Cid::of_record(&env).to_string(),
                "index": h.log.to_string(),
                "seq": h.seq.to_string(),
                "payload": h.payload.to_string(),
                "signer": k.public().to_string(),
                "size": env.len().to_string(),
            }))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(file(
        "Head envelopes: decode, verify under `head`, and carry these fields; `size` stays far below a 4 KiB gossip message.",
        "spec/07-records.md#heads",
        vectors,
    ))
}

fn check_head(v: &Json) -> anyhow::Result<()> {
    let bytes = hex_field(v, "hex")?;
    expect_eq(v, "cid", &Cid::of_record(&bytes).to_string())?;
    let s = Signed::<Head>::decode(&bytes)?.verify()?;
    let h = s.payload();
    expect_eq(v, "index", &h.log.to_string())?;
    expect_eq(v, "seq", &h.seq.to_string())?;
    expect_eq(v, "payload", &h.payload.to_string())?;
    expect_eq(
        v,
        "signer",
        &s.signers().next().context("a signer")?.to_string(),
    )?;
    expect_eq(v, "size", &bytes.len().to_string())?;
    if bytes.len() > 2048 {
        bail!("head is {} bytes", bytes.len());
    }
    Ok(())
}

fn forks() -> anyhow::Result<Json> {
    let (k, other) = (
        SecretKey::from_seed(&[9; 32]),
        SecretKey::from_seed(&[10; 32]),
    );
    let sign = |h: Head, key: &SecretKey| -> anyhow::Result<Vec<u8>> {
        Ok(Signed::sign(h, &[key])?.encode())
    };
    let log = || index_log(1, "libfoo");
    let both =
        |h: Head| -> anyhow::Result<Vec<u8>> { Ok(Signed::sign(h, &[&k, &other])?.encode()) };
    let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        (
            "two keys sign both heads: the evidence names the lower key, bytewise",
            both(head(log(), 5, b"a"))?,
            both(head(log(), 5, b"b"))?,
        ),
        (
            "one key, one seq, two payloads: a fork",
            sign(head(log(), 5, b"a"), &k)?,
            sign(head(log(), 5, b"b"), &k)?,
        ),
        (
            "different seqs",
            sign(head(log(), 5, b"a"), &k)?,
            sign(head(log(), 6, b"b"), &k)?,
        ),
        (
            "the same revision twice",
            sign(head(log(), 5, b"a"), &k)?,
            sign(head(log(), 5, b"a"), &k)?,
        ),
        (
            "different signers",
            sign(head(log(), 5, b"a"), &k)?,
            sign(head(log(), 5, b"b"), &other)?,
        ),
        (
            "different logs",
            sign(head(log(), 5, b"a"), &k)?,
            sign(head(index_log(1, "libbar"), 5, b"b"), &k)?,
        ),
    ];
    let vectors = cases
        .into_iter()
        .map(|(name, a, b)| {
            let mut v = json!({ "name": name, "a": hex::encode(&a), "b": hex::encode(&b), "input_cid": Cid::of_raw(&[a.clone(), b.clone()].concat()).to_string() });
            match ForkEvidence::verify(&a, &b) {
                Ok(ev) => v["key"] = json!(ev.key().to_string()),
                Err(e) => v["error"] = json!(e.code()),
            }
            v
        })
        .collect();
    Ok(file(
        "Fork evidence: heads `a` and `b` (hex envelopes) prove a fork by `key`, or fail with `error`. Verifiable with nothing else.",
        "spec/07-records.md#forks-and-conflicts",
        vectors,
    ))
}

fn check_fork(v: &Json) -> anyhow::Result<()> {
    let (a, b) = (hex_field(v, "a")?, hex_field(v, "b")?);
    expect_input_cid(v, &[a.clone(), b.clone()].concat())?;
    match ForkEvidence::verify(&a, &b) {
        Ok(ev) => expect_eq(v, "key", &ev.key().to_string()),
        Err(e) => expect_eq(v, "error", e.code()),
    }
}

fn conflicts() -> anyhow::Result<Json> {
    let (x, y) = (Cid::of_record(b"x"), Cid::of_record(b"y"));
    let (lo, hi) = if x < y { (x, y) } else { (y, x) };
    let cases = [
        (
            "owner's revision wins although its CID is higher",
            (hi, id(1)),
            (lo, id(2)),
        ),
        (
            "two maintainers: the lower payload CID wins",
            (hi, id(2)),
            (lo, id(3)),
        ),
        ("one identity signed both: a fork", (hi, id(2)), (lo, id(2))),
    ];
    let vectors = cases
        .into_iter()
        .map(|(name, a, b)| {
            let mut v = json!({
                "name": name, "owner": id(1).to_string(),
                "a": { "payload": a.0.to_string(), "signer": a.1.to_string() },
                "b": { "payload": b.0.to_string(), "signer": b.1.to_string() },
            });
            v["input_cid"] = json!(Cid::of_raw(conflict_input(&v).as_bytes()).to_string());
            match classify(&id(1), a, b) {
                Divergence::Fork { signer } => v["fork"] = json!(signer.to_string()),
                Divergence::Conflict { winner, .. } => v["winner"] = json!(winner.to_string()),
            }
            v
        })
        .collect();
    Ok(file(
        "Divergences at one seq of the index owned by `owner`: a fork by one identity (`fork`), or a conflict settled for `winner`.",
        "spec/07-records.md#forks-and-conflicts",
        vectors,
    ))
}

/// The text the `input_cid` of a conflict vector covers: owner, then each side's payload and signer.
fn conflict_input(v: &Json) -> String {
    [
        &v["owner"],
        &v["a"]["payload"],
        &v["a"]["signer"],
        &v["b"]["payload"],
        &v["b"]["signer"],
    ]
    .iter()
    .map(|x| x.as_str().unwrap_or(""))
    .collect::<Vec<_>>()
    .join("\n")
}

fn check_conflict(v: &Json) -> anyhow::Result<()> {
    expect_input_cid(v, conflict_input(v).as_bytes())?;
    let owner: IdentityId = text(v, "owner")?.parse()?;
    let side = |s: &Json| -> anyhow::Result<(Cid, IdentityId)> {
        Ok((text(s, "payload")?.parse()?, text(s, "signer")?.parse()?))
    };
    match classify(&owner, side(&v["a"])?, side(&v["b"])?) {
        Divergence::Fork { signer } => expect_eq(v, "fork", &signer.to_string()),
        Divergence::Conflict { winner, .. } => expect_eq(v, "winner", &winner.to_string()),
    }
}

// ---- chunked maps ----

fn build_map(entries: &[(String, Value)]) -> anyhow::Result<Hamt> {
    let mut m = Hamt::new();
    for (k, val) in entries {
        m.insert(k, val.clone())?;
    }
    Ok(m)
}

fn maps() -> anyhow::Result<Json> {
    let sizes = [
        ("empty", 0usize),
        ("one bucket", 3),
        ("root slots only", 20),
        ("nested nodes", 150),
    ];
    let vectors = sizes
        .into_iter()
        .map(|(name, n)| {
            let entries: Vec<(String, Value)> = (0..n).map(|i| (format!("key-{i}"), Value::Integer(i as i128))).collect();
            let mut m = build_map(&entries)?;
            let root = m.root_cid();
            let mut blocks: Vec<String> = m.blocks().into_iter().map(|(_, b)| hex::encode(b)).collect();
            blocks.sort();
            Ok(json!({
                "name": format!("{name} ({n} entries)"),
                "entries": entries.iter().map(|(k, val)| json!([k, to_json(val)])).collect::<Vec<_>>(),
                "root": root.to_string(),
                "blocks": blocks,
            }))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(file(
        "Canonical HAMTs: inserting `entries` (in any order) gives the root CID `root` and exactly the node blocks `blocks` (hex, sorted); loading `root` from `blocks` gives back the entries.",
        "spec/05-identities.md#chunked-maps",
        vectors,
    ))
}

fn check_map(v: &Json) -> anyhow::Result<()> {
    let entries: Vec<(String, Value)> = v["entries"]
        .as_array()
        .context("entries")?
        .iter()
        .map(|e| {
            Ok((
                e[0].as_str().context("key")?.to_owned(),
                from_json(&e[1]).map_err(anyhow::Error::msg)?,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut reversed = entries.clone();
    reversed.reverse();
    let mut m = build_map(&reversed)?;
    expect_eq(v, "root", &m.root_cid().to_string())?;
    let mut blocks: Vec<String> = m
        .blocks()
        .into_iter()
        .map(|(_, b)| hex::encode(b))
        .collect();
    blocks.sort();
    if json!(blocks) != v["blocks"] {
        bail!("the blocks differ");
    }
    let held: HashMap<Cid, Vec<u8>> = blocks
        .iter()
        .map(|h| hex::decode(h).map(|b| (Cid::of_record(&b), b)))
        .collect::<Result<_, _>>()?;
    let loaded = Hamt::<Value>::load(text(v, "root")?.parse()?, &|c| Ok(held.get(c).cloned()))?;
    if loaded.len() != entries.len() {
        bail!("loaded {} entries", loaded.len());
    }
    Ok(())
}

fn bad_maps() -> anyhow::Result<Json> {
    // Hand-made nodes that break one rule each.
    let node = |slots: Vec<Value>| codec::encode(&map(vec![("slots", Value::List(slots))]));
    let entry = |k: &str| Value::List(vec![Value::text(k), Value::Integer(0)]);
    let slot_of = |k: &str| i128::from(blake3::hash(k.as_bytes()).as_bytes()[0] >> 4);
    let slot = |i: i128, content: Value| Value::List(vec![Value::Integer(i), content]);
    let wrong = (slot_of("a") + 1) % 16;
    let mut two_in_one: Vec<&str> = Vec::new();
    for k in [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q",
    ] {
        if slot_of(k) == slot_of("a") {
            two_in_one.push(k);
        }
    }
    let child = node(vec![slot(0, Value::List(vec![entry("a")]))]);
    let cases: Vec<MapCase<'_>> = vec![
        (
            "entry in a slot its key hash does not lead to",
            node(vec![slot(wrong, Value::List(vec![entry("a")]))]),
            vec![],
            "map-not-canonical",
        ),
        (
            "slot index 16",
            node(vec![slot(16, Value::List(vec![entry("a")]))]),
            vec![],
            "map-not-canonical",
        ),
        (
            "empty bucket",
            node(vec![slot(0, Value::List(vec![]))]),
            vec![],
            "map-not-canonical",
        ),
        (
            "child node holding too few entries",
            node(vec![slot(
                slot_of("a"),
                Value::Link(Cid::of_record(&child).into()),
            )]),
            vec![child.clone()],
            "map-not-canonical",
        ),
        (
            "child block missing",
            node(vec![slot(0, Value::Link(Cid::of_record(b"gone").into()))]),
            vec![],
            "map-missing-block",
        ),
        (
            "unknown node field",
            codec::encode(&map(vec![
                ("slots", Value::List(vec![])),
                ("x", Value::Null),
            ])),
            vec![],
            "map-invalid-block",
        ),
    ];
    let vectors = cases
        .into_iter()
        .map(|(name, root, extra, code)| {
            let mut v = negative(name, &root, code);
            v["blocks"] = json!(extra.iter().map(hex::encode).collect::<Vec<_>>());
            v
        })
        .collect();
    Ok(file(
        "Map roots (`hex`, with other blocks in `blocks`) that loading must refuse with `error`.",
        "spec/05-identities.md#chunked-maps",
        vectors,
    ))
}

fn check_bad_map(v: &Json) -> anyhow::Result<()> {
    let root = hex_field(v, "hex")?;
    expect_input_cid(v, &root)?;
    let mut held: HashMap<Cid, Vec<u8>> = HashMap::new();
    for h in v["blocks"].as_array().context("blocks")? {
        let b = hex::decode(h.as_str().context("hex")?)?;
        held.insert(Cid::of_record(&b), b);
    }
    let root_cid = Cid::of_record(&root);
    held.insert(root_cid, root);
    match Hamt::<Value>::load(root_cid, &|c| Ok(held.get(c).cloned())) {
        Ok(_) => bail!("loads, but must fail with `{}`", text(v, "error")?),
        Err(e) => expect_eq(v, "error", e.code()),
    }
}

// ---- include resolution ----

fn includes() -> anyhow::Result<Json> {
    let n = |s: &str| -> IndexName {
        IndexName::new(id(3), s.parse().unwrap_or_else(|e| panic!("{e}")))
    };
    let graph = |spec: &[Spec<'_>]| -> Json {
        spec.iter()
            .map(|(name, aliases, incs)| {
                (n(name).to_string(), json!({
                    "aliases": aliases.iter().map(|(a, t)| json!([a, n(t).to_string()])).collect::<Vec<_>>(),
                    "includes": incs.iter().map(|(i, p)| json!([n(i).to_string(), p])).collect::<Vec<_>>(),
                }))
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let cases: Vec<(&str, Json)> = vec![
        (
            "own entries win, then higher priority; shadowed listed",
            graph(&[
                ("root", &[("x", "own-x")], &[("a", 2), ("b", 1)]),
                ("a", &[("x", "a-x"), ("y", "a-y")], &[]),
                ("b", &[("y", "b-y"), ("z", "b-z")], &[]),
            ]),
        ),
        (
            "equal priorities agreeing are fine",
            graph(&[
                ("root", &[], &[("a", 1), ("b", 1)]),
                ("a", &[("x", "same")], &[]),
                ("b", &[("x", "same")], &[]),
            ]),
        ),
        (
            "equal priorities disagreeing",
            graph(&[
                ("root", &[], &[("a", 1), ("b", 1)]),
                ("a", &[("x", "a-x")], &[]),
                ("b", &[("x", "b-x")], &[]),
            ]),
        ),
        (
            "nested includes",
            graph(&[
                ("root", &[], &[("a", 1)]),
                ("a", &[], &[("b", 1)]),
                ("b", &[("deep", "b-deep")], &[]),
            ]),
        ),
        (
            "cycle",
            graph(&[("root", &[], &[("a", 1)]), ("a", &[], &[("root", 1)])]),
        ),
        ("missing include", graph(&[("root", &[], &[("gone", 1)])])),
    ];
    let vectors = cases
        .into_iter()
        .map(|(name, g)| {
            let mut v = json!({ "name": name, "root": n("root").to_string(), "indexes": g });
            v["input_cid"] = json!(Cid::of_raw(include_input(&v).as_bytes()).to_string());
            match run_include(&v) {
                Ok(r) => v["resolved"] = r,
                Err(code) => v["error"] = json!(code),
            }
            v
        })
        .collect();
    Ok(file(
        "Include resolution: `indexes` maps each package index to its aliases ([alias, target]) and includes ([index, priority]); resolving `root` gives `resolved` (alias → [target, source], and the shadowed mappings) or fails with `error`.",
        "spec/06-logs.md#includes",
        vectors,
    ))
}

fn run_include(v: &Json) -> Result<Json, &'static str> {
    let root: IndexName = v["root"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or("bad-vector")?;
    let mut states: BTreeMap<IndexName, PackageState> = BTreeMap::new();
    for (name, spec) in v["indexes"].as_object().ok_or("bad-vector")? {
        let mut s = PackageState::default();
        for a in spec["aliases"].as_array().ok_or("bad-vector")? {
            let entry = AliasEntry {
                alias: a[0]
                    .as_str()
                    .and_then(|x| x.parse().ok())
                    .ok_or("bad-vector")?,
                target: a[1]
                    .as_str()
                    .and_then(|x| x.parse().ok())
                    .ok_or("bad-vector")?,
                policy: Policy::Follow,
                versions: None,
                exclude: BTreeSet::new(),
            };
            s.aliases
                .insert(&entry.alias.folded(), entry.to_value())
                .map_err(|_| "bad-vector")?;
        }
        for i in spec["includes"].as_array().ok_or("bad-vector")? {
            s.includes.insert(
                i[0].as_str()
                    .and_then(|x| x.parse().ok())
                    .ok_or("bad-vector")?,
                i[1].as_u64().ok_or("bad-vector")?,
            );
        }
        states.insert(name.parse().map_err(|_| "bad-vector")?, s);
    }
    let r = include::resolve(&root, &|n| states.get(n).cloned()).map_err(|e| e.code())?;
    let aliases: serde_json::Map<String, Json> = r
        .aliases
        .iter()
        .map(|(a, (e, src))| (a.clone(), json!([e.target.to_string(), src.to_string()])))
        .collect();
    let shadowed: Vec<Json> = r.shadowed.iter().map(|s| json!({ "alias": s.alias, "winner": s.winner.to_string(), "hidden": s.hidden.to_string() })).collect();
    Ok(json!({ "aliases": aliases, "shadowed": shadowed }))
}

/// The text the `input_cid` of an include vector covers: the root and the compact JSON of `indexes`.
fn include_input(v: &Json) -> String {
    format!("{}\n{}", v["root"].as_str().unwrap_or(""), v["indexes"])
}

fn check_include(v: &Json) -> anyhow::Result<()> {
    expect_input_cid(v, include_input(v).as_bytes())?;
    match run_include(v) {
        Ok(r) if v.get("error").is_none() && r == v["resolved"] => Ok(()),
        Ok(r) => bail!(
            "resolves to {r}, the vector says {}",
            v.get("resolved").or(v.get("error")).unwrap_or(&Json::Null)
        ),
        Err(code) => expect_eq(v, "error", code),
    }
}
