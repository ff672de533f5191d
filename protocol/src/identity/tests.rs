use super::*;
use crate::sign::SecretKey;

const T: u64 = 1_795_000_000;

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

/// An identity with root keys 1 and 2 (threshold 2) and signing key 10.
fn two_root_identity() -> IdentityLog {
    create(&[&key(1), &key(2)], 2, &[key(10).public()], T)
        .expect("create")
        .1
}

fn code(r: Result<impl std::fmt::Debug, ChainError>) -> &'static str {
    r.expect_err("must be refused").code()
}

#[test]
fn genesis_derives_the_id_and_key_state() {
    let (env, log) = create(&[&key(1)], 1, &[key(10).public()], T).expect("create");
    assert_eq!(log.id(), IdentityId::from_genesis(env.payload_cid()));
    assert_eq!(log.seq(), 1);
    let s = log.key_state(1).expect("seq 1");
    assert!(s.is_signing_key(&key(10).public()));
    assert!(
        !s.is_signing_key(&key(1).public()),
        "root keys do not sign indexes"
    );
    assert!(log.key_state(2).is_none() && log.key_state(0).is_none());
    let text = log.id().to_string();
    assert!(!text.contains(':') && text.len() == 53, "{text}");
    assert_eq!(text.parse::<IdentityId>(), Ok(log.id()));
}

#[test]
fn rotation_needs_the_old_and_the_new_threshold() {
    let mut log = two_root_identity();
    // Replace root key 2 by root key 3: old set {1,2} needs 2, new set {1,3} needs 2.
    let ops = vec![
        IdentityOp::RemoveRootKey(key(2).public()),
        IdentityOp::AddRootKey(key(3).public()),
    ];
    assert_eq!(
        code(log.clone().change(ops.clone(), T, &[&key(1), &key(3)])),
        "identity-old-threshold"
    );
    assert_eq!(
        code(log.clone().change(ops.clone(), T, &[&key(1), &key(2)])),
        "identity-new-threshold"
    );
    log.change(ops, T, &[&key(1), &key(2), &key(3)])
        .expect("both thresholds met");
    assert_eq!(log.seq(), 2);
    assert!(
        log.key_state(2)
            .expect("seq 2")
            .root_keys
            .contains(&key(3).public())
    );
    assert!(
        log.key_state(1)
            .expect("seq 1")
            .root_keys
            .contains(&key(2).public()),
        "history kept"
    );
}

#[test]
fn a_leaked_signing_key_cannot_change_the_identity() {
    let mut log = two_root_identity();
    let ops = vec![IdentityOp::AddSigningKey(key(11).public())];
    assert_eq!(
        code(log.clone().change(ops.clone(), T, &[&key(10)])),
        "identity-signer-not-root"
    );
    // Revoking the leaked key needs the root threshold, and it can never come back.
    log.change(
        vec![IdentityOp::RevokeKey(key(10).public())],
        T,
        &[&key(1), &key(2)],
    )
    .expect("revoke");
    let s = log.key_state(2).expect("seq 2");
    assert!(s.revoked.contains(&key(10).public()) && !s.is_signing_key(&key(10).public()));
    let again = vec![IdentityOp::AddSigningKey(key(10).public())];
    assert_eq!(
        code(log.change(again, T, &[&key(1), &key(2)])),
        "identity-key-revoked"
    );
}

#[test]
fn op_rules() {
    let log = two_root_identity();
    let both = [&key(1), &key(2)];
    let cases: Vec<(Vec<IdentityOp>, &str)> = vec![
        (vec![IdentityOp::SetThreshold(0)], "identity-threshold"),
        (vec![IdentityOp::SetThreshold(3)], "identity-threshold"),
        (
            vec![IdentityOp::AddSigningKey(key(1).public())],
            "identity-key-present",
        ),
        (
            vec![IdentityOp::RemoveSigningKey(key(99).public())],
            "identity-key-absent",
        ),
        (
            vec![
                IdentityOp::RemoveRootKey(key(1).public()),
                IdentityOp::RemoveRootKey(key(2).public()),
            ],
            "identity-too-many-keys",
        ),
    ];
    for (ops, expected) in cases {
        assert_eq!(
            code(log.clone().change(ops.clone(), T, &both)),
            expected,
            "{ops:?}"
        );
    }
}

#[test]
fn sequence_prev_and_state_are_checked() {
    let mut log = two_root_identity();
    let both = [&key(1), &key(2)];
    let ops = vec![IdentityOp::AddSigningKey(key(11).public())];
    let good = next_revision(Some(&log), T, ops.clone()).expect("rev");
    let sign = |r: IdentityRevision| {
        Signed::decode(&Signed::sign(r, &both).expect("sign").encode()).expect("decode")
    };
    let mut gap = good.clone();
    gap.seq = 3;
    assert_eq!(code(log.clone().append(sign(gap))), "chain-seq-gap");
    let mut old = good.clone();
    old.seq = 1;
    assert_eq!(code(log.clone().append(sign(old))), "chain-rollback");
    let mut wrong_prev = good.clone();
    wrong_prev.prev = Some(Cid::of_record(b"elsewhere"));
    assert_eq!(
        code(log.clone().append(sign(wrong_prev))),
        "chain-wrong-prev"
    );
    let mut wrong_state = good.clone();
    wrong_state.state = Cid::of_record(b"other");
    assert_eq!(
        code(log.clone().append(sign(wrong_state))),
        "chain-state-mismatch"
    );
    let mut no_prev = good.clone();
    no_prev.prev = None;
    assert_eq!(code(log.clone().append(sign(no_prev))), "chain-bad-genesis");
    log.append(sign(good))
        .expect("the unaltered revision is fine");
}

#[test]
fn documents_round_trip_and_refuse_unsorted_keys() {
    let s = two_root_identity().key_state(1).expect("s").clone();
    assert_eq!(KeyState::from_value(s.to_value()), Ok(s.clone()));
    let mut v = s.to_value();
    if let Value::Map(m) = &mut v {
        let mut keys: Vec<Value> = s
            .root_keys
            .iter()
            .map(|k| Value::Bytes(k.as_bytes().to_vec()))
            .collect();
        keys.reverse();
        m.insert("root_keys", Value::List(keys));
    }
    assert!(matches!(
        KeyState::from_value(v),
        Err(RecordError::InvalidField {
            field: "root_keys",
            ..
        })
    ));
}

#[test]
fn a_resumed_log_signs_and_verifies_what_the_full_log_does() {
    let mut full = two_root_identity();
    full.change(
        vec![IdentityOp::AddSigningKey(key(11).public())],
        T,
        &[&key(1), &key(2)],
    )
    .expect("seq 2");
    let mut resumed = IdentityLog::resume(
        full.id(),
        full.seq(),
        full.head(),
        full.key_state(2).expect("seq 2").clone(),
    );
    assert_eq!((resumed.seq(), resumed.head()), (2, full.head()));
    assert!(
        resumed.key_state(1).is_none(),
        "only the resumed state is known"
    );
    assert_eq!(resumed.key_state(2), full.key_state(2));
    let ops = vec![IdentityOp::RevokeKey(key(10).public())];
    let a = full
        .change(ops.clone(), T, &[&key(1), &key(2)])
        .expect("full");
    let b = resumed
        .change(ops, T, &[&key(1), &key(2)])
        .expect("resumed");
    assert_eq!(a.encode(), b.encode(), "the same revision");
    assert_eq!(resumed.key_state(3), full.key_state(3));
    // A change the previous root keys do not sign is refused the same way.
    let bad = resumed.change(vec![IdentityOp::SetThreshold(1)], T, &[&key(1)]);
    assert_eq!(code(bad), "identity-old-threshold");
}

#[test]
fn an_unknown_operation_is_judged_by_its_name_before_its_argument() {
    let op = |entries: Vec<(&str, Value)>| {
        let mut m = crate::codec::Map::new();
        for (k, v) in entries {
            m.insert(k, v);
        }
        IdentityOp::from_value(Value::Map(m))
    };
    // No `key`, and a key that is not one: the unknown name is what is reported.
    for extra in [vec![], vec![("key", Value::Bytes(vec![0; 3]))]] {
        let mut entries = vec![("op", Value::text("frobnicate"))];
        entries.extend(extra);
        let err = op(entries).expect_err("unknown op");
        assert_eq!(err.code(), "record-invalid-field", "{err}");
        assert!(err.to_string().contains("frobnicate"), "{err}");
    }
    // A known name still needs its argument.
    let err = op(vec![("op", Value::text("add-root-key"))]).expect_err("no key");
    assert_eq!(err.code(), "record-missing-field");
}
