//! `net/requests.json`: peer requests (their record bytes, or why they are refused), gossip
//! announcements, pushes and their answers, have messages, and chain answer framing.

use anyhow::{Context as _, bail};
use cairn_protocol::cid::Cid;
use cairn_protocol::codec::{self, Value};
use cairn_protocol::identity::IdentityId;
use cairn_protocol::sign::SecretKey;
use cairn_protocol::signed::{Opaque, Signed, domains};
use cairn_protocol::wire::{self, Announced, Announcement, Have, Request};
use serde_json::{Value as Json, json};

use crate::VectorFile;
use crate::util::{expect_input_cid, file, hex_field, map, negative, text};

pub(crate) fn files() -> Vec<VectorFile> {
    vec![VectorFile {
        path: "net/requests.json",
        generate,
        check,
    }]
}

/// A request as the vectors write it.
fn describe(r: &Request) -> Json {
    match r {
        Request::Head { log } => json!({ "op": "head", "log": log }),
        Request::Chain {
            log,
            from,
            stop,
            max,
        } => json!({
            "op": "chain",
            "log": log,
            "from": from.to_string(),
            "stop": stop.map(|s| s.to_string()),
            "max": max,
        }),
        Request::Block { cid } => json!({ "op": "block", "cid": cid.to_string() }),
        Request::Fork { log } => json!({ "op": "fork", "log": log }),
        Request::Indexes { identity } => json!({ "op": "indexes", "log": identity }),
        Request::Blocks { cids } => {
            json!({ "op": "blocks", "cids": cids.iter().map(ToString::to_string).collect::<Vec<_>>() })
        }
    }
}

fn describe_announcement(a: &Announcement) -> Json {
    json!({
        "announce": match a.kind { Announced::Head => "head", Announced::Fork => "fork" },
        "log": a.log,
        "seq": a.seq,
        "payload": a.payload.to_string(),
    })
}

fn request(name: &str, r: &Request) -> Json {
    let bytes = r.encode();
    json!({
        "name": name,
        "kind": "request",
        "hex": hex::encode(&bytes),
        "input_cid": Cid::of_raw(&bytes).to_string(),
        "request": describe(r),
        "error": null,
    })
}

fn refused(name: &str, value: &Value, error: &str) -> Json {
    let mut v = negative(name, &codec::encode(value), error);
    v["kind"] = json!("request");
    v
}

fn frames(name: &str, data: &[u8], envelopes: Option<&[Vec<u8>]>) -> Json {
    json!({
        "name": name,
        "kind": "chain-answer",
        "hex": hex::encode(data),
        "input_cid": Cid::of_raw(data).to_string(),
        "envelopes": envelopes.map(|e| e.iter().map(hex::encode).collect::<Vec<_>>()),
        "error": if envelopes.is_some() { Json::Null } else { json!("chain-frame") },
    })
}

fn describe_have(node: &[u8; 32], h: &Have) -> Json {
    json!({
        "node": hex::encode(node),
        "have": h.artifacts.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "addrs": h.addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "time": h.time,
    })
}

/// A "have" payload signed as given, whatever it holds.
fn signed_have(payload: Value, keys: &[&SecretKey]) -> anyhow::Result<Vec<u8>> {
    Ok(Signed::sign(Opaque::<domains::Have>::new(payload), keys)?.encode())
}

/// "have" messages of project rooms: valid ones (with the node key's seed, so that another
/// implementation can sign them again) and each refusal.
fn haves() -> anyhow::Result<Vec<Json>> {
    let seed = [0x4e; 32];
    let node = SecretKey::from_seed(&seed);
    let mut sorted: Vec<Cid> = (0..16u32).map(|i| Cid::of_raw(&i.to_be_bytes())).collect();
    sorted.sort_by_key(Cid::to_bytes);
    let widest: std::net::SocketAddr = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535".parse()?;
    let mut out = Vec::new();
    for (name, have) in [
        (
            "a have message",
            Have {
                artifacts: sorted[..2].to_vec(),
                addrs: vec!["127.0.0.1:4433".parse()?],
                time: 1_800_000_000,
            },
        ),
        (
            "a node that joined a room and holds nothing yet",
            Have {
                artifacts: Vec::new(),
                addrs: vec!["[::1]:4433".parse()?],
                time: 1_800_000_000,
            },
        ),
        (
            "the largest have message: 16 artifacts, 4 of the widest addresses",
            Have {
                artifacts: sorted.clone(),
                addrs: vec![widest; wire::MAX_HAVE_ADDRS],
                time: u64::MAX,
            },
        ),
    ] {
        let bytes = have.sign(&node)?;
        out.push(json!({
            "name": name,
            "kind": "have",
            "hex": hex::encode(&bytes),
            "input_cid": Cid::of_raw(&bytes).to_string(),
            "seed": hex::encode(seed),
            "message": describe_have(node.public().as_bytes(), &have),
            "error": null,
        }));
    }
    let payload = |artifacts: &[Cid], addrs: &[&str]| {
        map(vec![
            (
                "have",
                Value::List(artifacts.iter().map(|c| Value::Link((*c).into())).collect()),
            ),
            (
                "addrs",
                Value::List(addrs.iter().map(|a| Value::text(*a)).collect()),
            ),
            ("time", Value::Integer(1)),
        ])
    };
    let other = SecretKey::from_seed(&[0x4f; 32]);
    let mut bad_sig = signed_have(payload(&sorted[..1], &[]), &[&node])?;
    let last = bad_sig.len() - 1;
    bad_sig[last] ^= 1;
    let mut too_large = signed_have(payload(&sorted, &[]), &[&node])?;
    too_large.resize(wire::MAX_ANNOUNCEMENT + 1, 0);
    for (name, bytes, error) in [
        (
            "artifacts out of order",
            signed_have(payload(&[sorted[1], sorted[0]], &[]), &[&node])?,
            "record-invalid-field",
        ),
        (
            "an artifact twice",
            signed_have(payload(&[sorted[0], sorted[0]], &[]), &[&node])?,
            "record-invalid-field",
        ),
        (
            "17 artifacts",
            signed_have(
                payload(
                    &(0..17u32)
                        .map(|i| Cid::of_raw(&i.to_be_bytes()))
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect::<Vec<_>>(),
                    &[],
                ),
                &[&node],
            )?,
            "record-invalid-field",
        ),
        (
            "a record CID as an artifact",
            signed_have(payload(&[Cid::of_record(b"\xa0")], &[]), &[&node])?,
            "record-invalid-field",
        ),
        (
            "an address not in its shortest form",
            signed_have(payload(&sorted[..1], &["[0:0:0:0:0:0:0:1]:80"]), &[&node])?,
            "record-invalid-field",
        ),
        (
            "two signatures",
            signed_have(payload(&sorted[..1], &[]), &[&node, &other])?,
            "envelope-too-many-signatures",
        ),
        ("a broken signature", bad_sig, "sig-bad-signature"),
        (
            "signed as a head, not a have",
            Signed::sign(
                Opaque::<domains::Head>::new(payload(&sorted[..1], &[])),
                &[&node],
            )?
            .encode(),
            "sig-wrong-domain",
        ),
        ("over 1,024 bytes", too_large, "record-too-large"),
    ] {
        let mut v = negative(name, &bytes, error);
        v["kind"] = json!("have");
        out.push(v);
    }
    Ok(out)
}

/// Pushes (`cairn/push/1`) and their answers.
fn pushes(index: &str, payload: Cid) -> Vec<Json> {
    let head = |seq| Announcement {
        kind: Announced::Head,
        log: index.to_owned(),
        seq,
        payload,
    };
    let push = |name: &str, bytes: &[u8], error: Option<&str>, announcements: Json| {
        json!({
            "name": name,
            "kind": "push",
            "hex": hex::encode(bytes),
            "input_cid": Cid::of_raw(bytes).to_string(),
            "announcements": announcements,
            "error": error,
        })
    };
    let two = [head(7), head(8)];
    let mut out = vec![push(
        "a push of two heads",
        &wire::encode_push(&two),
        None,
        Json::Array(two.iter().map(describe_announcement).collect()),
    )];
    let full: Vec<Announcement> = (1..=65).map(head).collect();
    let mut seq_zero = wire::encode_push(&two[..1]);
    wire::frame(
        &mut seq_zero,
        &codec::encode(&map(vec![
            ("announce", Value::text("head")),
            ("log", Value::text(index)),
            ("seq", Value::Integer(0)),
            ("payload", Value::Link(payload.into())),
        ])),
    );
    let one = wire::encode_push(&two[..1]);
    for (name, bytes, error) in [
        ("an empty push", Vec::new(), "push-count"),
        ("a push of 65 heads", wire::encode_push(&full), "push-count"),
        (
            "a push cut inside an announcement",
            one[..one.len() - 1].to_vec(),
            "push-frame",
        ),
        (
            "a push whose second announcement has seq 0",
            seq_zero,
            "record-invalid-field",
        ),
    ] {
        out.push(push(name, &bytes, Some(error), Json::Null));
    }
    let verdicts = [
        wire::Verdict::Fetching,
        wire::Verdict::Held,
        wire::Verdict::Dropped("over the budget of peer 7f9a".into()),
    ];
    let answer = |name: &str, bytes: &[u8], verdicts: Option<Vec<String>>| {
        json!({
            "name": name,
            "kind": "push-answer",
            "hex": hex::encode(bytes),
            "input_cid": Cid::of_raw(bytes).to_string(),
            "verdicts": verdicts,
            "error": if verdicts.is_none() { json!("push-answer") } else { Json::Null },
        })
    };
    out.push(answer(
        "three verdicts",
        &wire::encode_verdicts(&verdicts),
        Some(verdicts.iter().map(wire::Verdict::text).collect()),
    ));
    let mut unknown = Vec::new();
    wire::frame(&mut unknown, b"maybe");
    out.push(answer("an unknown verdict", &unknown, None));
    out
}

/// Search requests (`cairn/search/1`).
fn searches() -> Vec<Json> {
    let request = wire::SearchRequest {
        query:
            "http client curator:ba4dqobyha4dqobyha4dqobyha4dqobyha4dqobyha4dqobyha4dq:community"
                .into(),
        limit: 10,
    };
    let bytes = request.encode();
    let mut out = vec![json!({
        "name": "a search with a filter",
        "kind": "search",
        "hex": hex::encode(&bytes),
        "input_cid": Cid::of_raw(&bytes).to_string(),
        "search": { "search": request.query, "limit": request.limit },
        "error": null,
    })];
    let with = |query: &str, limit: u64| {
        map(vec![
            ("search", Value::text(query)),
            ("limit", Value::Integer(limit.into())),
        ])
    };
    let long = "é".repeat(128) + "x";
    let mut extra = with("http", 10);
    if let Value::Map(m) = &mut extra {
        m.insert("page", Value::Integer(2.into()));
    }
    for (name, value, error) in [
        ("a limit of 0", with("http", 0), "record-invalid-field"),
        ("a limit of 101", with("http", 101), "record-invalid-field"),
        (
            "a query of 257 bytes",
            with(&long, 10),
            "record-invalid-field",
        ),
        ("an unknown field", extra, "record-unknown-field"),
        (
            "no limit",
            map(vec![("search", Value::text("http"))]),
            "record-missing-field",
        ),
    ] {
        let mut v = negative(name, &codec::encode(&value), error);
        v["kind"] = json!("search");
        out.push(v);
    }
    out
}

fn generate() -> anyhow::Result<Json> {
    let id = IdentityId::from_digest([7; 32]).to_string();
    let index = format!("{id}:libfoo");
    let payload = Cid::of_record(b"\xa1\x63seq\x01");
    let older = Cid::of_record(b"\xa1\x63seq\x00");
    let raw = Cid::of_raw(b"artifact bytes");
    let mut vectors = vec![
        request("head of an index", &Request::Head { log: index.clone() }),
        request(
            "head of an identity log",
            &Request::Head { log: id.clone() },
        ),
        request(
            "chain to the first revision",
            &Request::Chain {
                log: index.clone(),
                from: payload,
                stop: None,
                max: wire::MAX_CHAIN,
            },
        ),
        request(
            "chain down to a held revision",
            &Request::Chain {
                log: index.clone(),
                from: payload,
                stop: Some(older),
                max: 1,
            },
        ),
        request("a block", &Request::Block { cid: payload }),
        request("fork evidence", &Request::Fork { log: index.clone() }),
        request(
            "the indexes of an identity",
            &Request::Indexes {
                identity: id.clone(),
            },
        ),
        request(
            "several blocks",
            &Request::Blocks {
                cids: vec![payload, older, raw],
            },
        ),
    ];
    let link = |c: Cid| Value::Link(c.into());
    for (name, value, error) in [
        (
            "the indexes of an index",
            map(vec![
                ("op", Value::text("indexes")),
                ("log", Value::text(index.as_str())),
            ]),
            "record-invalid-field",
        ),
        (
            "unknown operation",
            map(vec![("op", Value::text("put")), ("cid", link(raw))]),
            "record-invalid-field",
        ),
        (
            "a log that is neither an identity nor an index",
            map(vec![
                ("op", Value::text("head")),
                ("log", Value::text("libfoo")),
            ]),
            "record-invalid-field",
        ),
        (
            "an unknown field",
            map(vec![
                ("op", Value::text("block")),
                ("cid", link(payload)),
                ("depth", Value::Integer(1)),
            ]),
            "record-unknown-field",
        ),
        (
            "a chain of zero envelopes",
            map(vec![
                ("op", Value::text("chain")),
                ("log", Value::text(index.as_str())),
                ("from", link(payload)),
                ("max", Value::Integer(0)),
            ]),
            "record-invalid-field",
        ),
        (
            "a chain longer than an answer may be",
            map(vec![
                ("op", Value::text("chain")),
                ("log", Value::text(index.as_str())),
                ("from", link(payload)),
                ("max", Value::Integer(i128::from(wire::MAX_CHAIN) + 1)),
            ]),
            "record-invalid-field",
        ),
        (
            "a chain from a raw CID",
            map(vec![
                ("op", Value::text("chain")),
                ("log", Value::text(index.as_str())),
                ("from", link(raw)),
                ("max", Value::Integer(1)),
            ]),
            "record-invalid-field",
        ),
        (
            "an artifact, asked for over the artifact protocol instead",
            map(vec![("op", Value::text("artifact")), ("cid", link(raw))]),
            "record-invalid-field",
        ),
        (
            "no blocks",
            map(vec![
                ("op", Value::text("blocks")),
                ("cids", Value::List(vec![])),
            ]),
            "record-invalid-field",
        ),
        (
            "more blocks than one request may name",
            map(vec![
                ("op", Value::text("blocks")),
                (
                    "cids",
                    Value::List(vec![link(payload); wire::MAX_BLOCKS + 1]),
                ),
            ]),
            "record-invalid-field",
        ),
        (
            "a head without its log",
            map(vec![("op", Value::text("head"))]),
            "record-missing-field",
        ),
        (
            "a request larger than 16 KiB",
            map(vec![
                ("op", Value::text("head")),
                ("log", Value::text("x".repeat(wire::MAX_REQUEST))),
            ]),
            "record-too-large",
        ),
    ] {
        vectors.push(refused(name, &value, error));
    }
    for (kind, name) in [
        (Announced::Head, "a head announcement"),
        (Announced::Fork, "a fork announcement"),
    ] {
        let announcement = Announcement {
            kind,
            log: index.clone(),
            seq: 7,
            payload,
        };
        let bytes = announcement.encode();
        vectors.push(json!({
            "name": name,
            "kind": "announcement",
            "hex": hex::encode(&bytes),
            "input_cid": Cid::of_raw(&bytes).to_string(),
            "announcement": describe_announcement(&announcement),
            "topic": hex::encode(wire::log_topic(&index)),
            "global_topic": hex::encode(wire::global_topic()),
            "error": null,
        }));
    }
    for (name, value, error) in [
        (
            "an announcement of seq 0",
            map(vec![
                ("announce", Value::text("head")),
                ("log", Value::text(index.as_str())),
                ("seq", Value::Integer(0)),
                ("payload", link(payload)),
            ]),
            "record-invalid-field",
        ),
        (
            "an unknown announcement",
            map(vec![
                ("announce", Value::text("split")),
                ("log", Value::text(index.as_str())),
                ("seq", Value::Integer(1)),
                ("payload", link(payload)),
            ]),
            "record-invalid-field",
        ),
        (
            "an announcement with a raw payload CID",
            map(vec![
                ("announce", Value::text("head")),
                ("log", Value::text(index.as_str())),
                ("seq", Value::Integer(1)),
                ("payload", link(raw)),
            ]),
            "record-invalid-field",
        ),
    ] {
        let mut v = negative(name, &codec::encode(&value), error);
        v["kind"] = json!("announcement");
        vectors.push(v);
    }
    vectors.extend(pushes(&index, payload));
    vectors.extend(searches());
    vectors.extend(haves()?);
    let envs = vec![b"\x01".to_vec(), vec![2; 200]];
    let mut data = Vec::new();
    for e in &envs {
        wire::frame(&mut data, e);
    }
    vectors.push(frames("two envelopes", &data, Some(&envs)));
    vectors.push(frames("an empty answer", &[], Some(&[])));
    vectors.push(frames(
        "cut inside an envelope",
        &data[..data.len() - 1],
        None,
    ));
    vectors.push(frames("cut inside a length", &[0x81], None));
    vectors.push(frames(
        "a length not in its shortest form",
        &[0x81, 0x00, 0x05],
        None,
    ));
    Ok(file(
        "Peer requests of the cairn/sync/2 protocol, gossip announcements and their topics, pushes (cairn/push/1) and their answers, search requests (cairn/search/1), project-room have messages, and the framing of chain answers.",
        "spec/14-network.md",
        vectors,
    ))
}

fn check(v: &Json) -> anyhow::Result<()> {
    let bytes = hex_field(v, "hex")?;
    expect_input_cid(v, &bytes)?;
    let error = v.get("error").and_then(Json::as_str);
    match text(v, "kind")? {
        "request" => match (Request::decode(&bytes), error) {
            (Ok(r), None) => {
                if describe(&r) != v["request"] {
                    bail!(
                        "decodes to {}, the vector says {}",
                        describe(&r),
                        v["request"]
                    );
                }
                if r.encode() != bytes {
                    bail!("does not re-encode to the same bytes");
                }
                Ok(())
            }
            (Err(e), Some(code)) if e.code() == code => Ok(()),
            (Ok(r), Some(code)) => bail!("accepted as {r:?}; the vector expects `{code}`"),
            (Err(e), expected) => bail!(
                "refused with `{}`; the vector expects {expected:?}",
                e.code()
            ),
        },
        "announcement" => match (Announcement::decode(&bytes), error) {
            (Ok(a), None) => {
                let described = describe_announcement(&a);
                if described != v["announcement"] || a.encode() != bytes {
                    bail!("decodes to {described}, or does not re-encode to the same bytes");
                }
                if hex::encode(wire::log_topic(&a.log)) != text(v, "topic")?
                    || hex::encode(wire::global_topic()) != text(v, "global_topic")?
                {
                    bail!("the topics differ");
                }
                Ok(())
            }
            (Err(e), Some(code)) if e.code() == code => Ok(()),
            (got, expected) => bail!("decode gives {got:?}; the vector expects {expected:?}"),
        },
        "have" => match (Have::open(&bytes), error) {
            (Ok((node, have)), None) => {
                let seed: [u8; 32] = hex::decode(text(v, "seed")?)?
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("`seed` is 32 bytes"))?;
                if describe_have(&node, &have) != v["message"] {
                    bail!("decodes to {}", describe_have(&node, &have));
                }
                if have.sign(&SecretKey::from_seed(&seed))? != bytes {
                    bail!("signing it again gives other bytes");
                }
                Ok(())
            }
            (Err(e), Some(code)) if e.code() == code => Ok(()),
            (got, expected) => bail!("open gives {got:?}; the vector expects {expected:?}"),
        },
        "chain-answer" => match (wire::unframe(&bytes), error) {
            (Some(envs), None) => {
                let listed: Vec<String> = envs.iter().map(hex::encode).collect();
                let expected: Vec<String> = serde_json::from_value(v["envelopes"].clone())
                    .context("`envelopes` is a list of hex")?;
                if listed != expected {
                    bail!("splits into {listed:?}");
                }
                Ok(())
            }
            (None, Some("chain-frame")) => Ok(()),
            (got, expected) => bail!("unframe gives {got:?}; the vector expects {expected:?}"),
        },
        "search" => match (wire::SearchRequest::decode(&bytes), error) {
            (Ok(r), None) => {
                let described = json!({ "search": r.query, "limit": r.limit });
                if described != v["search"] || r.encode() != bytes {
                    bail!("decodes to {described}, or does not re-encode to the same bytes");
                }
                Ok(())
            }
            (Err(e), Some(code)) if e.code() == code => Ok(()),
            (got, expected) => bail!("decode gives {got:?}; the vector expects {expected:?}"),
        },
        "push" => match (wire::decode_push(&bytes), error) {
            (Ok(announcements), None) => {
                let described: Vec<Json> =
                    announcements.iter().map(describe_announcement).collect();
                if Json::Array(described.clone()) != v["announcements"]
                    || wire::encode_push(&announcements) != bytes
                {
                    bail!("decodes to {described:?}, or does not re-encode to the same bytes");
                }
                Ok(())
            }
            (Err(e), Some(code)) if e.code() == code => Ok(()),
            (got, expected) => bail!("decode gives {got:?}; the vector expects {expected:?}"),
        },
        "push-answer" => match (wire::decode_verdicts(&bytes), error) {
            (Some(verdicts), None) => {
                let texts: Vec<String> = verdicts.iter().map(wire::Verdict::text).collect();
                if json!(texts) != v["verdicts"] || wire::encode_verdicts(&verdicts) != bytes {
                    bail!("decodes to {texts:?}, or does not re-encode to the same bytes");
                }
                Ok(())
            }
            (None, Some("push-answer")) => Ok(()),
            (got, expected) => bail!("decode gives {got:?}; the vector expects {expected:?}"),
        },
        other => bail!("unknown kind `{other}`"),
    }
}
