//! `signatures/ed25519.json`: raw Ed25519 verification under spec/03's rules (the key checks,
//! then strict, cofactorless verification), with the cases implementations disagree on and
//! every Wycheproof `ed25519_test.json` case. Each vector also says what a *cofactored*
//! verifier (`[8]([S]B − [k]A − R) = 0`, any decodable `R` and `A`, `S < L`) would answer, so
//! that a vector tells the two readings apart where they differ.

use anyhow::Context as _;
use cairn_protocol::sign::{PublicKey, Signature};
use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity as _;
use serde_json::{Value as Json, json};
use sha2::{Digest as _, Sha512};

use crate::VectorFile;
use crate::util::{file, hex_field};

pub(crate) fn files() -> Vec<VectorFile> {
    vec![VectorFile {
        path: "signatures/ed25519.json",
        generate,
        check,
    }]
}

/// The group order L, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// spec/03's verdict: `None` when valid, else the error code.
fn verdict(pk: &[u8], msg: &[u8], sig: &[u8]) -> Option<&'static str> {
    let (Ok(pk), Ok(sig)) = (<[u8; 32]>::try_from(pk), <[u8; 64]>::try_from(sig)) else {
        return Some("sig-invalid-length");
    };
    let key = match PublicKey::from_bytes(&pk) {
        Ok(k) => k,
        Err(e) => return Some(e.code()),
    };
    key.verify_raw(msg, &Signature(sig)).err().map(|e| e.code())
}

/// `SHA-512(R ‖ A ‖ M)` reduced mod L.
fn challenge(r: &[u8], a: &[u8], msg: &[u8]) -> Scalar {
    let mut h = Sha512::new();
    h.update(r);
    h.update(a);
    h.update(msg);
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

/// The cofactored reading (the one ZIP 215 and many libraries use).
fn cofactored(pk: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let (Ok(pk), Ok(sig)) = (<[u8; 32]>::try_from(pk), <[u8; 64]>::try_from(sig)) else {
        return false;
    };
    let (r, s) = sig.split_at(32);
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(
        s.try_into().expect("32 bytes"),
    )) else {
        return false;
    };
    let (Some(a), Some(big_r)) = (
        CompressedEdwardsY(pk).decompress(),
        CompressedEdwardsY(r.try_into().expect("32 bytes")).decompress(),
    ) else {
        return false;
    };
    let k = challenge(r, &pk, msg);
    (EdwardsPoint::mul_base(&s) - k * a - big_r)
        .mul_by_cofactor()
        .is_identity()
}

fn vector(name: &str, pk: &[u8], msg: &[u8], sig: &[u8]) -> Json {
    let error = verdict(pk, msg, sig);
    json!({
        "name": name,
        "input_cid": input_cid(pk, msg, sig).to_string(),
        "public_key_hex": hex::encode(pk),
        "message_hex": hex::encode(msg),
        "signature_hex": hex::encode(sig),
        "valid": error.is_none(),
        "error": error,
        "cofactored_valid": cofactored(pk, msg, sig),
    })
}

/// The raw CID of the key, message and signature bytes, one after the other.
fn input_cid(pk: &[u8], msg: &[u8], sig: &[u8]) -> cairn_protocol::cid::Cid {
    cairn_protocol::cid::Cid::of_raw(&[pk, msg, sig].concat())
}

/// A secret scalar and its public point, from a label.
fn keypair(label: &[u8]) -> (Scalar, EdwardsPoint) {
    let a = Scalar::from_bytes_mod_order_wide(&Sha512::digest(label).into());
    (a, EdwardsPoint::mul_base(&a))
}

/// A nonce from a label and a counter.
fn nonce(label: &[u8], n: u32) -> Scalar {
    let mut h = Sha512::new();
    h.update(label);
    h.update(n.to_be_bytes());
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

/// `R ‖ S` for the point `big_r` (encoded as given) and the scalar `s`.
fn sig(r: &[u8; 32], s: &Scalar) -> Vec<u8> {
    [r.as_slice(), s.as_bytes()].concat()
}

// r, s, a, k, t and big_r, big_a are the names RFC 8032 and the literature give them.
#[allow(clippy::many_single_char_names)]
fn crafted() -> Vec<Json> {
    let msg = b"cairn: cases Ed25519 verifiers disagree on".to_vec();
    let t = EIGHT_TORSION[1]; // order 8
    let (a, big_a) = keypair(b"signer");
    let pk = big_a.compress().to_bytes();
    let mut out = Vec::new();

    // A plain valid signature, the baseline.
    let r = nonce(b"plain", 0);
    let big_r = EdwardsPoint::mul_base(&r).compress().to_bytes();
    let s = r + challenge(&big_r, &pk, &msg) * a;
    out.push(vector("a valid signature", &pk, &msg, &sig(&big_r, &s)));

    // S = L exactly, and S + L: scalars that are not reduced.
    out.push(vector(
        "S = L exactly (not below the group order)",
        &pk,
        &msg,
        &[big_r.as_slice(), L.as_slice()].concat(),
    ));

    // R with an order-8 component: the cofactored equation holds, the cofactorless one fails.
    let r = nonce(b"mixed R", 0);
    let mixed_r = (EdwardsPoint::mul_base(&r) + t).compress().to_bytes();
    let s = r + challenge(&mixed_r, &pk, &msg) * a;
    out.push(vector(
        "R with a small-order component (cofactored verifiers accept)",
        &pk,
        &msg,
        &sig(&mixed_r, &s),
    ));

    // R of small order (the identity) with S = k·a: the equation holds, R is refused.
    let identity = EdwardsPoint::default().compress().to_bytes();
    let s = challenge(&identity, &pk, &msg) * a;
    out.push(vector(
        "R is the identity point, and S makes the equation hold",
        &pk,
        &msg,
        &sig(&identity, &s),
    ));

    // A key with an order-8 component: valid under both readings exactly when [k]T = 0.
    let mixed_a = (big_a + t).compress().to_bytes();
    let mut found = (false, false);
    for n in 0..64 {
        let r = nonce(b"mixed A", n);
        let big_r = EdwardsPoint::mul_base(&r).compress().to_bytes();
        let k = challenge(&big_r, &mixed_a, &msg);
        let s = r + k * a;
        let cancels = (k * t).is_identity();
        if cancels && !found.0 {
            found.0 = true;
            out.push(vector(
                "key with a small-order component, k a multiple of 8 (both readings accept)",
                &mixed_a,
                &msg,
                &sig(&big_r, &s),
            ));
        } else if !cancels && !found.1 {
            found.1 = true;
            out.push(vector(
                "key with a small-order component, k not a multiple of 8 (cofactored verifiers accept)",
                        &mixed_a,
                &msg,
                &sig(&big_r, &s),
            ));
        }
    }
    // Keys encoded non-canonically, and of small order.
    let mut negative_zero = [0u8; 32];
    negative_zero[0] = 1;
    negative_zero[31] = 0x80;
    let valid_sig = out[0]["signature_hex"].as_str().map(hex::decode);
    let valid_sig = valid_sig.and_then(Result::ok).unwrap_or_default();
    out.push(vector(
        "key x = 0 with the sign bit set (a non-canonical encoding of the identity)",
        &negative_zero,
        &msg,
        &valid_sig,
    ));
    let mut y_is_p_plus_1 = [0xffu8; 32];
    y_is_p_plus_1[0] = 0xee;
    y_is_p_plus_1[31] = 0x7f;
    out.push(vector(
        "key with y = p + 1 (a non-canonical encoding of y = 1)",
        &y_is_p_plus_1,
        &msg,
        &valid_sig,
    ));
    out.push(vector(
        "key of order 8",
        &t.compress().to_bytes(),
        &msg,
        &valid_sig,
    ));
    out
}

/// Wycheproof's `ed25519_test.json`, from `../shared/fixtures` beside the repository.
fn wycheproof() -> anyhow::Result<Vec<Json>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/wycheproof/ed25519_test.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading `{}` (clone ../shared beside the repository)",
            path.display()
        )
    })?;
    let file: Json = serde_json::from_str(&text)?;
    let mut out = Vec::new();
    for g in file["testGroups"].as_array().context("testGroups")? {
        let pk = hex::decode(g["publicKey"]["pk"].as_str().context("pk")?)?;
        for t in g["tests"].as_array().context("tests")? {
            let id = t["tcId"].as_u64().context("tcId")?;
            let comment = t["comment"].as_str().unwrap_or_default();
            let msg = hex::decode(t["msg"].as_str().context("msg")?)?;
            let sig = hex::decode(t["sig"].as_str().context("sig")?)?;
            let name = if comment.is_empty() {
                format!("Wycheproof tcId {id}")
            } else {
                format!("Wycheproof tcId {id}: {comment}")
            };
            let v = vector(&name, &pk, &msg, &sig);
            let expected = t["result"].as_str() == Some("valid");
            anyhow::ensure!(
                v["valid"].as_bool() == Some(expected),
                "Wycheproof tcId {id}: spec/03 gives another verdict than Wycheproof"
            );
            out.push(v);
        }
    }
    Ok(out)
}

fn generate() -> anyhow::Result<Json> {
    let mut vectors = crafted();
    vectors.extend(wycheproof()?);
    Ok(file(
        "Raw Ed25519 verification (no domain tag: `message_hex` is the whole message) under spec/03's rules: `valid`, else `error`. `cofactored_valid` is what a cofactored verifier answers ([8]([S]B − [k]A − R) = 0 with any decodable R and A, S < L): where it differs from `valid`, the vector separates the two readings. `input_cid` is the raw CID of the key, message and signature bytes one after the other. Cases named `Wycheproof tcId N` are Wycheproof's ed25519_test.json (Apache-2.0), with Wycheproof's comment.",
        "spec/03-signatures.md#strict-verification",
        vectors,
    ))
}

fn check(v: &Json) -> anyhow::Result<()> {
    let (pk, msg, sig) = (
        hex_field(v, "public_key_hex")?,
        hex_field(v, "message_hex")?,
        hex_field(v, "signature_hex")?,
    );
    anyhow::ensure!(
        v["input_cid"].as_str() == Some(input_cid(&pk, &msg, &sig).to_string().as_str()),
        "`input_cid` is not the CID of the key, message and signature bytes"
    );
    let error = verdict(&pk, &msg, &sig);
    anyhow::ensure!(
        v["valid"].as_bool() == Some(error.is_none()),
        "spec/03 says {}",
        error.unwrap_or("valid")
    );
    anyhow::ensure!(v["error"].as_str() == error, "the error is {error:?}");
    anyhow::ensure!(
        v["cofactored_valid"].as_bool() == Some(cofactored(&pk, &msg, &sig)),
        "the cofactored reading differs"
    );
    Ok(())
}
