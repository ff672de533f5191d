//! `signatures/`: domain tags, signing input, Ed25519 signatures and the signed envelope.

use anyhow::{Context as _, bail};
use cairn_core::json::{from_json, to_json};
use cairn_protocol::cid::Cid;
use cairn_protocol::codec::{self, Float, Link, Map, Value};
use cairn_protocol::profile;
use cairn_protocol::sign::{Domain, PublicKey, SecretKey, Signature, SignatureError};
use cairn_protocol::signed::{Opaque, Signed, SignedError, domains};
use serde_json::{Value as Json, json};

use crate::VectorFile;
use crate::util::{expect_eq, expect_input_cid, file, hex_field, map, negative, text};

pub(crate) fn files() -> Vec<VectorFile> {
    vec![
        VectorFile {
            path: "signatures/valid.json",
            generate: valid,
            check: check_valid,
        },
        VectorFile {
            path: "signatures/invalid.json",
            generate: invalid,
            check: check_invalid,
        },
    ]
}

/// What decoding and verifying an envelope gave.
struct Opened {
    payload_cid: Cid,
    payload_bytes: Vec<u8>,
    reencoded: Vec<u8>,
}

fn open_as<D: domains::DomainMarker>(bytes: &[u8]) -> Result<Opened, SignedError> {
    let s = Signed::<Opaque<D>>::decode(bytes)?.verify()?;
    Ok(Opened {
        payload_cid: s.payload_cid(),
        payload_bytes: s.payload_bytes().to_vec(),
        reencoded: s.encode(),
    })
}

/// Decodes and verifies an envelope under a domain chosen at run time.
fn open(domain: Domain, bytes: &[u8]) -> Result<Opened, SignedError> {
    match domain {
        Domain::Identity => open_as::<domains::Identity>(bytes),
        Domain::VersionIndex => open_as::<domains::VersionIndex>(bytes),
        Domain::PackageIndex => open_as::<domains::PackageIndex>(bytes),
        Domain::Head => open_as::<domains::Head>(bytes),
        Domain::Have => open_as::<domains::Have>(bytes),
        other => Err(SignedError::Signature {
            index: 0,
            key: String::new(),
            error: SignatureError::UnknownDomain(other.name().to_owned()),
        }),
    }
}

fn sign_as<D: domains::DomainMarker>(
    payload: &Value,
    keys: &[&SecretKey],
) -> anyhow::Result<Vec<u8>> {
    Ok(Signed::sign(Opaque::<D>::new(payload.clone()), keys)?.encode())
}

fn sign(domain: Domain, payload: &Value, keys: &[&SecretKey]) -> anyhow::Result<Vec<u8>> {
    match domain {
        Domain::Identity => sign_as::<domains::Identity>(payload, keys),
        Domain::VersionIndex => sign_as::<domains::VersionIndex>(payload, keys),
        Domain::PackageIndex => sign_as::<domains::PackageIndex>(payload, keys),
        Domain::Head => sign_as::<domains::Head>(payload, keys),
        Domain::Have => sign_as::<domains::Have>(payload, keys),
        other => bail!("no payload type for domain `{other}`"),
    }
}

fn sample_payload(domain: Domain) -> Value {
    map(vec![
        ("index", Value::text(format!("sample:{}", domain.name()))),
        ("seq", Value::Integer(1)),
        ("prev", Value::Link(Cid::of_record(b"\xa0").into())),
        ("time", Value::Integer(1_795_000_000)),
    ])
}

fn seed(n: u8) -> [u8; 32] {
    let mut s = [0u8; 32];
    for (i, b) in s.iter_mut().enumerate() {
        *b = n.wrapping_mul(31).wrapping_add(i as u8);
    }
    s
}

fn valid_vector(
    name: &str,
    domain: Domain,
    payload: &Value,
    seeds: &[[u8; 32]],
) -> anyhow::Result<Json> {
    let keys: Vec<SecretKey> = seeds.iter().map(SecretKey::from_seed).collect();
    let key_refs: Vec<&SecretKey> = keys.iter().collect();
    let envelope = sign(domain, payload, &key_refs)?;
    let payload_bytes = profile::encode_record(payload)?;
    let mut signers: Vec<(PublicKey, Signature)> = keys
        .iter()
        .map(|k| (k.public(), k.sign(domain, &payload_bytes)))
        .collect();
    signers.sort_by_key(|(pk, _)| *pk);
    Ok(json!({
        "name": name,
        "domain": domain.name(),
        "tag_hex": hex::encode(domain.tag()),
        "payload": to_json(payload),
        "payload_hex": hex::encode(&payload_bytes),
        "payload_cid": Cid::of_record(&payload_bytes).to_string(),
        "signing_input_hex": hex::encode(domain.signing_input(&payload_bytes)),
        "signers": signers.iter().zip(seeds_sorted(seeds)).map(|((pk, sig), seed)| json!({
            "seed_hex": hex::encode(seed),
            "public_key_hex": hex::encode(pk.as_bytes()),
            "public_key": pk.to_string(),
            "signature_hex": hex::encode(sig.0),
        })).collect::<Vec<_>>(),
        "envelope_hex": hex::encode(&envelope),
        "envelope_cid": Cid::of_record(&envelope).to_string(),
    }))
}

/// Seeds in the order of their public keys, matching the envelope's signature order.
fn seeds_sorted(seeds: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let mut s = seeds.to_vec();
    s.sort_by_key(|seed| SecretKey::from_seed(seed).public());
    s
}

fn valid() -> anyhow::Result<Json> {
    let mut vectors = Vec::new();
    for (i, d) in Domain::ALL.into_iter().enumerate() {
        vectors.push(valid_vector(
            &format!("{} payload, one signer", d.name()),
            d,
            &sample_payload(d),
            &[seed(i as u8)],
        )?);
    }
    vectors.push(valid_vector(
        "version-index payload, three signers (sorted by key)",
        Domain::VersionIndex,
        &sample_payload(Domain::VersionIndex),
        &[seed(10), seed(11), seed(12)],
    )?);
    vectors.push(valid_vector(
        "empty payload map",
        Domain::Head,
        &Value::Map(Map::new()),
        &[seed(20)],
    )?);
    vectors.push(valid_vector(
        "RFC 8032 test 1 secret key as signer",
        Domain::Identity,
        &sample_payload(Domain::Identity),
        &[<[u8; 32]>::try_from(
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")?
                .as_slice(),
        )?],
    )?);
    Ok(file(
        "Signed envelopes: the tag, the payload's canonical bytes and CID, the signing input (tag then payload), each signer's key and deterministic Ed25519 signature, and the envelope bytes, which must decode and verify.",
        "spec/03-signatures.md",
        vectors,
    ))
}

fn check_valid(v: &Json) -> anyhow::Result<()> {
    let domain: Domain = text(v, "domain")?.parse()?;
    expect_eq(v, "tag_hex", &hex::encode(domain.tag()))?;
    let payload = from_json(&v["payload"]).map_err(anyhow::Error::msg)?;
    let payload_bytes = profile::encode_record(&payload)?;
    expect_eq(v, "payload_hex", &hex::encode(&payload_bytes))?;
    expect_eq(
        v,
        "payload_cid",
        &Cid::of_record(&payload_bytes).to_string(),
    )?;
    expect_eq(
        v,
        "signing_input_hex",
        &hex::encode(domain.signing_input(&payload_bytes)),
    )?;
    let signers = v["signers"].as_array().context("missing `signers`")?;
    for s in signers {
        let seed = <[u8; 32]>::try_from(hex_field(s, "seed_hex")?.as_slice())
            .context("seed is not 32 bytes")?;
        let key = SecretKey::from_seed(&seed);
        expect_eq(s, "public_key_hex", &hex::encode(key.public().as_bytes()))?;
        expect_eq(s, "public_key", &key.public().to_string())?;
        expect_eq(
            s,
            "signature_hex",
            &hex::encode(key.sign(domain, &payload_bytes).0),
        )?;
        let sig = Signature(
            <[u8; 64]>::try_from(hex_field(s, "signature_hex")?.as_slice()).context("64 bytes")?,
        );
        key.public().verify(domain, &payload_bytes, &sig)?;
    }
    let envelope = hex_field(v, "envelope_hex")?;
    expect_eq(v, "envelope_cid", &Cid::of_record(&envelope).to_string())?;
    let opened = open(domain, &envelope)?;
    if opened.payload_bytes != payload_bytes || opened.payload_cid != Cid::of_record(&payload_bytes)
    {
        bail!("the envelope carries another payload");
    }
    if opened.reencoded != envelope {
        bail!("the envelope does not re-encode to itself");
    }
    Ok(())
}

/// An envelope built by hand, so that it can be wrong in any way.
fn envelope(
    payload: Value,
    sigs: &[([u8; 32], [u8; 64])],
    extra: Option<(&str, Value)>,
) -> Vec<u8> {
    let list = sigs
        .iter()
        .map(|(k, s)| {
            map(vec![
                ("key", Value::Bytes(k.to_vec())),
                ("sig", Value::Bytes(s.to_vec())),
            ])
        })
        .collect();
    let mut entries = vec![("payload", payload), ("signatures", Value::List(list))];
    if let Some(e) = extra {
        entries.push(e);
    }
    codec::encode(&map(entries))
}

fn signed_parts(
    domain: Domain,
    payload: &Value,
    seed_n: u8,
) -> anyhow::Result<([u8; 32], [u8; 64])> {
    let key = SecretKey::from_seed(&seed(seed_n));
    let bytes = profile::encode_record(payload)?;
    Ok((*key.public().as_bytes(), key.sign(domain, &bytes).0))
}

/// A 32-byte string that is not the encoding of any curve point.
fn off_curve_key() -> anyhow::Result<[u8; 32]> {
    for y in 2u8..=255 {
        let mut k = [0u8; 32];
        k[0] = y;
        if PublicKey::from_bytes(&k) == Err(SignatureError::InvalidKey) {
            return Ok(k);
        }
    }
    bail!("no off-curve key found")
}

fn invalid() -> anyhow::Result<Json> {
    let d = Domain::VersionIndex;
    let p = sample_payload(d);
    let (key, sig) = signed_parts(d, &p, 1)?;
    let (key2, sig2) = signed_parts(d, &p, 2)?;
    let mut flipped = sig;
    flipped[10] ^= 0x01;
    let mut s_plus_l = sig;
    add_group_order(&mut s_plus_l);
    let mut small_order = [0u8; 32];
    small_order[0] = 1;
    let (head_key, head_sig) = signed_parts(Domain::Head, &p, 1)?;
    let (mut lo, mut hi) = ((key, sig), (key2, sig2));
    if lo.0 > hi.0 {
        std::mem::swap(&mut lo, &mut hi);
    }
    let mut y_over_p = [0xffu8; 32];
    y_over_p[0] = 0xee;
    y_over_p[31] = 0x7f;
    let float_payload = map(vec![(
        "seq",
        Value::Float(Float::new(1.0).context("finite")?),
    )]);
    let v0_payload = map(vec![(
        "prev",
        Value::Link(
            Link::from_bytes(&[&[0x12, 0x20][..], &[0u8; 32]].concat())
                .map_err(anyhow::Error::msg)?,
        ),
    )]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "one bit flipped in the signature",
            envelope(p.clone(), &[(key, flipped)], None),
            "sig-bad-signature",
        ),
        (
            "S + L (malleated, non-canonical scalar)",
            envelope(p.clone(), &[(key, s_plus_l)], None),
            "sig-non-canonical-s",
        ),
        (
            "small-order public key (the identity point)",
            envelope(p.clone(), &[(small_order, sig)], None),
            "sig-weak-key",
        ),
        (
            "public key not on the curve",
            envelope(p.clone(), &[(off_curve_key()?, sig)], None),
            "sig-invalid-key",
        ),
        (
            "public key encoded non-canonically (y = p + 1)",
            envelope(p.clone(), &[(y_over_p, sig)], None),
            "sig-invalid-key",
        ),
        (
            "signature made under the head domain",
            envelope(p.clone(), &[(head_key, head_sig)], None),
            "sig-wrong-domain",
        ),
        (
            "payload changed after signing",
            envelope(map(vec![("seq", Value::Integer(2))]), &[(key, sig)], None),
            "sig-bad-signature",
        ),
        (
            "unknown envelope field",
            envelope(p.clone(), &[(key, sig)], Some(("note", Value::text("hi")))),
            "record-unknown-field",
        ),
        (
            "signatures not sorted by key",
            envelope(p.clone(), &[hi, lo], None),
            "envelope-signature-order",
        ),
        (
            "the same key twice",
            envelope(p.clone(), &[(key, sig), (key, sig)], None),
            "envelope-signature-order",
        ),
        (
            "no signatures",
            envelope(p.clone(), &[], None),
            "envelope-no-signatures",
        ),
        (
            "float in the payload",
            envelope(float_payload, &[(key, sig)], None),
            "record-float",
        ),
        (
            "CIDv0 link in the payload",
            envelope(v0_payload, &[(key, sig)], None),
            "record-cid-v0-link",
        ),
        (
            "31-byte key",
            short_key_envelope(&p, &sig),
            "record-invalid-field",
        ),
        (
            "an off-curve key in the first entry, a 31-byte key in the second: entry by entry",
            codec::encode(&map(vec![
                ("payload", p.clone()),
                (
                    "signatures",
                    Value::List(vec![
                        map(vec![
                            ("key", Value::Bytes(off_curve_key()?.to_vec())),
                            ("sig", Value::Bytes(sig.to_vec())),
                        ]),
                        map(vec![
                            ("key", Value::Bytes(vec![0xff; 31])),
                            ("sig", Value::Bytes(sig.to_vec())),
                        ]),
                    ]),
                ),
            ])),
            "sig-invalid-key",
        ),
    ];
    let vectors = cases
        .into_iter()
        .map(|(n, b, e)| {
            let mut v = negative(n, &b, e);
            v["domain"] = json!(d.name());
            v
        })
        .collect();
    Ok(file(
        "Envelopes that must be refused when decoded and verified under `domain`, each with its `error`.",
        "spec/03-signatures.md#errors",
        vectors,
    ))
}

fn short_key_envelope(p: &Value, sig: &[u8; 64]) -> Vec<u8> {
    let entry = map(vec![
        ("key", Value::Bytes(vec![7; 31])),
        ("sig", Value::Bytes(sig.to_vec())),
    ]);
    codec::encode(&map(vec![
        ("payload", p.clone()),
        ("signatures", Value::List(vec![entry])),
    ]))
}

/// Adds the group order L to the scalar S (the last 32 bytes, little-endian).
fn add_group_order(sig: &mut [u8; 64]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (s, l) in sig[32..].iter_mut().zip(L) {
        let sum = u16::from(*s) + u16::from(l) + carry;
        *s = sum as u8;
        carry = sum >> 8;
    }
}

fn check_invalid(v: &Json) -> anyhow::Result<()> {
    let bytes = hex_field(v, "hex")?;
    expect_input_cid(v, &bytes)?;
    let domain: Domain = text(v, "domain")?.parse()?;
    match open(domain, &bytes) {
        Ok(_) => bail!("opens, but must fail with `{}`", text(v, "error")?),
        Err(e) => expect_eq(v, "error", e.code()),
    }
}
