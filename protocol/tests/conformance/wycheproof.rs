//! All Wycheproof Ed25519 vectors get their expected verdict under Cairn's strict verification.

use cairn_protocol::sign::{PublicKey, Signature};

#[derive(serde::Deserialize)]
struct File {
    #[serde(rename = "numberOfTests")]
    number_of_tests: usize,
    #[serde(rename = "testGroups")]
    groups: Vec<Group>,
}

#[derive(serde::Deserialize)]
struct Group {
    #[serde(rename = "publicKey")]
    public_key: Key,
    tests: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Key {
    pk: String,
}

#[derive(serde::Deserialize)]
struct Case {
    #[serde(rename = "tcId")]
    id: u32,
    msg: String,
    sig: String,
    result: String,
}

/// Cairn's verdict: the key must parse and not be weak, the signature must be 64 bytes and
/// verify strictly.
fn verdict(pk: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let Ok(pk) = <[u8; 32]>::try_from(pk) else {
        return false;
    };
    let Ok(sig) = <[u8; 64]>::try_from(sig) else {
        return false;
    };
    let Ok(key) = PublicKey::from_bytes(&pk) else {
        return false;
    };
    key.verify_raw(msg, &Signature(sig)).is_ok()
}

#[test]
fn wycheproof_ed25519_all_verdicts() {
    let Some(path) = crate::shared_fixture("wycheproof/ed25519_test.json") else {
        return;
    };
    let file: File =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");
    let (mut total, mut valid) = (0, 0);
    for g in &file.groups {
        let pk = hex::decode(&g.public_key.pk).expect("hex");
        for t in &g.tests {
            let expected = match t.result.as_str() {
                "valid" => true,
                "invalid" => false,
                other => panic!(
                    "test {} has result {other}; every verdict must be definite",
                    t.id
                ),
            };
            let got = verdict(
                &pk,
                &hex::decode(&t.msg).expect("hex"),
                &hex::decode(&t.sig).expect("hex"),
            );
            assert_eq!(got, expected, "Wycheproof tcId {}", t.id);
            total += 1;
            valid += usize::from(expected);
        }
    }
    assert_eq!(total, 151);
    assert_eq!(total, file.number_of_tests);
    assert!(valid > 0 && valid < total, "both verdicts occur");
}
