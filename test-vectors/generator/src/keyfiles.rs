//! `keys/files.json`: sealed key files with their passphrase and contents.

use anyhow::{Context as _, bail};
use cairn_core::keys::{self, KdfParams, KeyRing, Role};
use cairn_protocol::codec::{self, Value};
use cairn_protocol::identity::IdentityId;
use cairn_protocol::profile;
use cairn_protocol::sign::SecretKey;
use serde_json::{Value as Json, json};

use crate::VectorFile;
use crate::util::{expect_eq, expect_input_cid, file, hex_field, negative, text};

pub(crate) fn files() -> Vec<VectorFile> {
    vec![VectorFile {
        path: "keys/files.json",
        generate,
        check,
    }]
}

fn ring() -> KeyRing {
    KeyRing {
        identity: IdentityId::from_digest([7; 32]),
        keys: vec![
            (Role::Root, SecretKey::from_seed(&[1; 32])),
            (Role::Signing, SecretKey::from_seed(&[2; 32])),
        ],
    }
}

fn contents(r: &KeyRing) -> Json {
    json!({
        "identity": r.identity.to_string(),
        "keys": r.keys.iter().map(|(role, k)| json!({ "role": role.name(), "seed_hex": hex::encode(k.to_seed()), "public_key": k.public().to_string() })).collect::<Vec<_>>(),
    })
}

/// The bytes an `input_cid` of this file covers: the passphrase, a 0x00 byte, the file.
fn input(passphrase: &str, file: &[u8]) -> Vec<u8> {
    [passphrase.as_bytes(), &[0], file].concat()
}

fn with_passphrase(mut v: Json, passphrase: &str, file: &[u8]) -> Json {
    v["passphrase"] = json!(passphrase);
    v["input_cid"] = json!(cairn_protocol::cid::Cid::of_raw(&input(passphrase, file)).to_string());
    v
}

fn generate() -> anyhow::Result<Json> {
    let params = KdfParams::INSECURE_FOR_TESTS;
    let good = keys::seal_with(
        ring(),
        "correct horse ☃".as_bytes(),
        params,
        [3; 16],
        [4; 24],
    )?;
    let mut vectors = Vec::new();
    let pass = "correct horse ☃";
    let mut ok = with_passphrase(
        negative("root and signing key, minimum cost", &good, ""),
        pass,
        &good,
    );
    ok["error"] = Json::Null;
    ok["contents"] = contents(&ring());
    vectors.push(ok);
    vectors.push(with_passphrase(
        negative("wrong passphrase", &good, "key-decrypt"),
        "correct horse",
        &good,
    ));
    // Altered header fields: each must fail authentication.
    let mut v = profile::decode_record(&good)?;
    if let Value::Map(m) = &mut v
        && let Some(Value::Map(mut c)) = m.get("cipher").cloned()
    {
        c.insert("nonce", Value::Bytes(vec![5; 24]));
        m.insert("cipher", Value::Map(c));
    }
    let altered = codec::encode(&v);
    vectors.push(with_passphrase(
        negative("nonce altered", &altered, "key-decrypt"),
        pass,
        &altered,
    ));
    // Costs beyond the caps are refused before any key derivation (the header is not
    // authenticated until after it, so these files never reach decryption).
    // Costs within the caps that Argon2 itself refuses come after the caps, as `key-kdf`.
    for (what, m_kib, t, p, error) in [
        (
            "memory above 256 MiB",
            KdfParams::MAX_M_KIB + 1,
            1,
            1,
            "key-kdf-limit",
        ),
        ("2^32 - 1 passes", 8, u32::MAX, 1, "key-kdf-limit"),
        ("more than 8 lanes", 72, 1, 9, "key-kdf-limit"),
        (
            "256 MiB for 5 passes",
            KdfParams::MAX_M_KIB,
            5,
            1,
            "key-kdf-limit",
        ),
        ("zero passes (Argon2 needs 1)", 8, 0, 1, "key-kdf"),
        ("zero lanes (Argon2 needs 1)", 8, 1, 0, "key-kdf"),
        ("less memory than 8 KiB per lane", 8, 1, 2, "key-kdf"),
    ] {
        let mut v = profile::decode_record(&good)?;
        if let Value::Map(m) = &mut v
            && let Some(Value::Map(mut k)) = m.get("kdf").cloned()
        {
            k.insert("m_kib", Value::Integer(m_kib.into()));
            k.insert("t", Value::Integer(t.into()));
            k.insert("p", Value::Integer(p.into()));
            m.insert("kdf", Value::Map(k));
        }
        let costly = codec::encode(&v);
        vectors.push(with_passphrase(
            negative(&format!("KDF cost refused: {what}"), &costly, error),
            pass,
            &costly,
        ));
    }
    let mut v = profile::decode_record(&good)?;
    if let Value::Map(m) = &mut v {
        m.insert("format", Value::text("cairn-key/2"));
    }
    let future = codec::encode(&v);
    vectors.push(with_passphrase(
        negative("unknown format", &future, "key-unknown-format"),
        pass,
        &future,
    ));
    Ok(file(
        "Key files: opening `hex` with `passphrase` gives `contents` (identity, keys with role, seed and public key), or fails with `error`. `input_cid` covers the passphrase, a 0x00 byte, and the file.",
        "spec/09-key-files.md",
        vectors,
    ))
}

fn check(v: &Json) -> anyhow::Result<()> {
    let bytes = hex_field(v, "hex")?;
    let pass = text(v, "passphrase")?;
    expect_input_cid(v, &input(pass, &bytes))?;
    match (
        keys::open(&bytes, pass.as_bytes()),
        v.get("error").and_then(Json::as_str),
    ) {
        (Ok(ring), None) => {
            if contents(&ring) != v["contents"] {
                bail!("opens to other contents: {}", contents(&ring));
            }
            Ok(())
        }
        (Ok(_), Some(code)) => bail!("opens, but must fail with `{code}`"),
        (Err(e), Some(_)) => expect_eq(v, "error", e.code()),
        (Err(e), None) => Err(e).context("must open"),
    }
}
