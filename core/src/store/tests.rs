use std::collections::BTreeSet;
use std::path::PathBuf;

use cairn_protocol::identity::{self, IdentityOp};
use cairn_protocol::index::version::{Permission, VersionIndex, VersionOp};
use cairn_protocol::index::{Tip, sign_next};
use cairn_protocol::name::IndexName;
use cairn_protocol::sign::SecretKey;
use cairn_protocol::signed::Signed;

use super::*;
use crate::testing::Person;

const T: u64 = 1_795_000_000;

/// A fresh home directory, removed on drop.
struct Home(tempfile::TempDir);

impl Home {
    fn new(tag: &str) -> Home {
        Home(
            tempfile::Builder::new()
                .prefix(&format!("cairn-store-{tag}-"))
                .tempdir()
                .expect("temporary home"),
        )
    }

    fn path(&self) -> &std::path::Path {
        self.0.path()
    }
}

fn release(v: &str) -> VersionOp {
    VersionOp::Release {
        version: v.parse().expect("version"),
        release: Cid::of_record(v.as_bytes()),
    }
}

/// Signs `ops` on top of `tip`; returns the envelope and the new tip.
fn sign(
    tip: Option<&Tip<VersionIndex>>,
    index: &IndexName,
    p: &Person,
    ops: Vec<VersionOp>,
) -> (Vec<u8>, Tip<VersionIndex>) {
    let (s, t) = sign_next(tip, index, p.cite(), &p.signing, T, ops).expect("sign");
    (s.encode(), t)
}

#[test]
fn opens_migrates_and_refuses_a_newer_schema() {
    let home = Home::new("open");
    assert_eq!(
        Store::pending_upgrade(home.path()).expect("read"),
        None,
        "a new home is created, not upgraded"
    );
    let store = Store::open(home.path()).expect("open");
    assert_eq!(
        store.schema_version().expect("version"),
        Store::supported_version()
    );
    drop(store);
    let store = Store::open(home.path()).expect("reopen");
    assert_eq!(store.schema_version().expect("version"), 8);
    store
        .conn
        .pragma_update(None, "user_version", 99)
        .expect("set");
    drop(store);
    assert_eq!(Store::pending_upgrade(home.path()).expect("read"), None);
    assert_eq!(Store::upgrade_notice(home.path()), None);
    assert!(matches!(
        Store::open(home.path()),
        Err(StoreError::TooNew { found: 99, .. })
    ));
}

#[test]
fn blocks_written_before_they_were_kept_in_order_read_back_after_the_migration() {
    let home = Home::new("migrate-blocks");
    let (kept, added) = (Cid::of_record(b"kept"), Cid::of_record(b"added"));
    {
        let conn = Connection::open(home.path().join(DB_FILE)).expect("open");
        for migration in &MIGRATIONS[..7] {
            conn.execute_batch(migration).expect("migration");
        }
        conn.pragma_update(None, "user_version", 7)
            .expect("version");
        conn.execute(
            "INSERT INTO blocks (cid, bytes) VALUES (?1, ?2)",
            params![kept.to_bytes().as_slice(), b"kept".as_slice()],
        )
        .expect("block");
    }
    assert_eq!(
        Store::pending_upgrade(home.path()).expect("read"),
        Some((7, 8)),
        "the upgrade is known before it runs"
    );
    assert!(
        Store::upgrade_notice(home.path()).is_some_and(|n| n.contains("from version 7 to 8")),
        "and said"
    );
    let mut store = Store::open(home.path()).expect("migrate");
    assert_eq!(store.schema_version().expect("version"), 8);
    assert_eq!(Store::pending_upgrade(home.path()).expect("read"), None);
    assert_eq!(store.block(&kept).expect("read"), Some(b"kept".to_vec()));
    // A block held already is not written twice; a new one is appended and found by its CID.
    store
        .put_verified_blocks(&[(kept, b"kept".to_vec()), (added, b"added".to_vec())])
        .expect("write");
    assert_eq!(store.block(&added).expect("read"), Some(b"added".to_vec()));
    let rows: i64 = store
        .conn
        .query_row("SELECT count(*) FROM blocks", [], |r| r.get(0))
        .expect("count");
    assert_eq!(rows, 2);
}

#[test]
fn imports_identities_and_index_chains_incrementally() {
    let home = Home::new("import");
    let mut store = Store::open(home.path()).expect("open");
    let lucy = Person::new(1);
    let idx = IndexName::new(lucy.log.id(), "libfoo".parse().expect("name"));
    let r = store.import_identity(&lucy.envelopes).expect("identity");
    assert_eq!(r.outcome, Outcome::Imported { from: 1, to: 1 });
    assert_eq!(
        store
            .import_identity(&lucy.envelopes)
            .expect("again")
            .outcome,
        Outcome::UpToDate
    );
    let (e1, t1) = sign(None, &idx, &lucy, vec![release("1.0.0")]);
    let (e2, t2) = sign(Some(&t1), &idx, &lucy, vec![release("1.1.0")]);
    let (e3, _) = sign(
        Some(&t2),
        &idx,
        &lucy,
        vec![VersionOp::Yank {
            version: "1.0.0".parse().expect("v"),
            reason: None,
        }],
    );
    assert_eq!(
        store
            .import_index::<VersionIndex>(&idx, std::slice::from_ref(&e1))
            .expect("1")
            .outcome,
        Outcome::Imported { from: 1, to: 1 }
    );
    // Overlapping offers are fine: held revisions are skipped.
    let r = store
        .import_index::<VersionIndex>(&idx, &[e1.clone(), e2.clone(), e3.clone()])
        .expect("2..3");
    assert_eq!(r.outcome, Outcome::Imported { from: 2, to: 3 });
    assert_eq!(
        store.head(&idx.to_string()).expect("head").map(|h| h.0),
        Some(3)
    );
    let tip = store
        .index_tip::<VersionIndex>(&idx.to_string())
        .expect("tip")
        .expect("some");
    assert!(
        tip.state
            .release(&"1.0.0".parse().expect("v"))
            .expect("entry")
            .yanked
    );
    // An older head, even one held, is a stale source: refused as a rollback.
    assert!(matches!(
        store.import_index::<VersionIndex>(&idx, &[e2]),
        Err(StoreError::Rollback {
            high_water: 3,
            offered: 2,
            ..
        })
    ));
    assert_eq!(
        store
            .import_index::<VersionIndex>(&idx, &[e3])
            .expect("the same head")
            .outcome,
        Outcome::UpToDate
    );
    // Reopening keeps everything.
    drop(store);
    let store = Store::open(home.path()).expect("reopen");
    assert_eq!(
        store.head(&idx.to_string()).expect("head").map(|h| h.0),
        Some(3)
    );
}

#[test]
fn a_refused_revision_leaves_the_store_unchanged() {
    let home = Home::new("refused");
    let mut store = Store::open(home.path()).expect("open");
    let lucy = Person::new(1);
    let bob = Person::new(2);
    let idx = IndexName::new(lucy.log.id(), "libfoo".parse().expect("name"));
    store.import_identity(&lucy.envelopes).expect("lucy");
    let (e1, t1) = sign(None, &idx, &lucy, vec![release("1.0.0")]);
    store.import_index::<VersionIndex>(&idx, &[e1]).expect("1");
    let (good2, t2) = sign(Some(&t1), &idx, &lucy, vec![release("1.1.0")]);
    let (good3, _) = sign(Some(&t2), &idx, &lucy, vec![release("1.2.0")]);
    let mut bad3 = good3.clone();
    let last = bad3.len() - 1;
    bad3[last] ^= 1;
    let before = store.head(&idx.to_string()).expect("head");
    let err = store
        .import_index::<VersionIndex>(&idx, &[good2.clone(), bad3])
        .expect_err("tampered");
    assert!(matches!(&err, StoreError::Chain { seq: 3, .. }), "{err}");
    assert_eq!(
        store.head(&idx.to_string()).expect("head"),
        before,
        "nothing of the batch was written"
    );
    // An unknown signer.
    store.import_identity(&bob.envelopes).ok();
    let other = IndexName::new(bob.log.id(), "x".parse().expect("n"));
    let home2 = Home::new("unknown");
    let mut empty = Store::open(home2.path()).expect("open");
    let (b1, _) = sign(None, &other, &bob, vec![release("1.0.0")]);
    assert!(matches!(
        empty.import_index::<VersionIndex>(&other, &[b1]),
        Err(StoreError::UnknownIdentity { .. })
    ));
    store
        .import_index::<VersionIndex>(&idx, &[good2, good3])
        .expect("the honest revisions still import");
}

#[test]
fn rollback_is_refused_even_after_clearing_the_cache() {
    let home = Home::new("rollback");
    let mut store = Store::open(home.path()).expect("open");
    let lucy = Person::new(1);
    let idx = IndexName::new(lucy.log.id(), "libfoo".parse().expect("name"));
    store.import_identity(&lucy.envelopes).expect("lucy");
    let (e1, t1) = sign(None, &idx, &lucy, vec![release("1.0.0")]);
    let (e2, _) = sign(Some(&t1), &idx, &lucy, vec![release("1.1.0")]);
    store
        .import_index::<VersionIndex>(&idx, &[e1.clone(), e2.clone()])
        .expect("1..2");
    store.clear_cache().expect("clear");
    assert_eq!(store.head(&idx.to_string()).expect("head"), None);
    assert_eq!(store.high_water(&idx.to_string()).expect("hw"), Some(2));
    store
        .import_identity(&lucy.envelopes)
        .expect("identity again");
    let err = store
        .import_index::<VersionIndex>(&idx, std::slice::from_ref(&e1))
        .expect_err("old head");
    assert!(
        matches!(
            err,
            StoreError::Rollback {
                high_water: 2,
                offered: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("hint:"));
    store
        .import_index::<VersionIndex>(&idx, &[e1, e2])
        .expect("the full chain is fine");
}

#[test]
fn a_fork_is_recorded_and_the_signer_flagged() {
    let home = Home::new("fork");
    let mut store = Store::open(home.path()).expect("open");
    let lucy = Person::new(1);
    let idx = IndexName::new(lucy.log.id(), "libfoo".parse().expect("name"));
    store.import_identity(&lucy.envelopes).expect("lucy");
    let (e1, t1) = sign(None, &idx, &lucy, vec![release("1.0.0")]);
    let (a2, _) = sign(Some(&t1), &idx, &lucy, vec![release("1.1.0")]);
    let (b2, _) = sign(Some(&t1), &idx, &lucy, vec![release("9.9.9")]);
    store
        .import_index::<VersionIndex>(&idx, &[e1.clone(), a2.clone()])
        .expect("a");
    let r = store
        .import_index::<VersionIndex>(&idx, &[e1, b2.clone()])
        .expect("b is recorded, not applied");
    assert_eq!(
        r.outcome,
        Outcome::Fork {
            seq: 2,
            signer: lucy.log.id()
        }
    );
    assert!(store.flagged(&lucy.log.id()).expect("flag").is_some());
    let forks = store.forks(&idx.to_string()).expect("forks");
    assert_eq!(forks.len(), 1);
    assert_eq!((forks[0].a.clone(), forks[0].b.clone()), (a2, b2));
    let tip = store
        .index_tip::<VersionIndex>(&idx.to_string())
        .expect("tip")
        .expect("some");
    assert!(
        tip.state.release(&"9.9.9".parse().expect("v")).is_none(),
        "the forked branch was not applied"
    );
}

#[test]
fn a_concurrent_append_is_settled_owner_first() {
    let lucy = Person::new(1);
    let bob = Person::new(2);
    let idx = IndexName::new(lucy.log.id(), "libfoo".parse().expect("name"));
    let grant = VersionOp::Grant {
        identity: bob.log.id(),
        permissions: BTreeSet::from([Permission::Release]),
    };
    let (e1, t1) = sign(None, &idx, &lucy, vec![release("1.0.0"), grant]);
    let (lucy2, _) = sign(Some(&t1), &idx, &lucy, vec![release("1.1.0")]);
    let (bob2, _) = sign(Some(&t1), &idx, &bob, vec![release("1.2.0")]);
    let open = |tag: &str| {
        let home = Home::new(tag);
        let mut s = Store::open(home.path()).expect("open");
        s.import_identity(&lucy.envelopes).expect("lucy");
        s.import_identity(&bob.envelopes).expect("bob");
        (home, s)
    };
    // Bob's home holds Bob's revision 2; Lucy's arrives: the owner wins, Bob's home switches.
    let (_h1, mut at_bob) = open("conflict-bob");
    at_bob
        .import_index::<VersionIndex>(&idx, &[e1.clone(), bob2.clone()])
        .expect("bob's");
    let r = at_bob
        .import_index::<VersionIndex>(&idx, &[e1.clone(), lucy2.clone()])
        .expect("lucy's");
    assert!(
        matches!(
            r.outcome,
            Outcome::Conflict {
                seq: 2,
                switched: true,
                ..
            }
        ),
        "{r:?}"
    );
    // Lucy's home keeps its own revision.
    let (_h2, mut at_lucy) = open("conflict-lucy");
    at_lucy
        .import_index::<VersionIndex>(&idx, &[e1.clone(), lucy2])
        .expect("lucy's");
    let r = at_lucy
        .import_index::<VersionIndex>(&idx, &[e1, bob2])
        .expect("bob's");
    assert!(
        matches!(
            r.outcome,
            Outcome::Conflict {
                seq: 2,
                switched: false,
                ..
            }
        ),
        "{r:?}"
    );
    assert_eq!(
        at_bob.head(&idx.to_string()).expect("h"),
        at_lucy.head(&idx.to_string()).expect("h"),
        "both homes agree"
    );
    assert!(
        at_lucy.flagged(&bob.log.id()).expect("flag").is_none(),
        "a conflict is not misbehaviour"
    );
}

#[test]
fn identity_logs_extend_and_diverge() {
    let home = Home::new("identity");
    let mut store = Store::open(home.path()).expect("open");
    let mut lucy = Person::new(1);
    store.import_identity(&lucy.envelopes).expect("genesis");
    let mut other = lucy.log.clone();
    let a = lucy
        .log
        .change(
            vec![IdentityOp::AddSigningKey(
                SecretKey::from_seed(&[50; 32]).public(),
            )],
            T,
            &[&lucy.root],
        )
        .expect("a");
    let b = other
        .change(
            vec![IdentityOp::AddSigningKey(
                SecretKey::from_seed(&[51; 32]).public(),
            )],
            T,
            &[&lucy.root],
        )
        .expect("b");
    lucy.envelopes.push(a.encode());
    assert_eq!(
        store
            .import_identity(&lucy.envelopes)
            .expect("extend")
            .outcome,
        Outcome::Imported { from: 2, to: 2 }
    );
    let forked = vec![lucy.envelopes[0].clone(), b.encode()];
    assert!(matches!(
        store.import_identity(&forked).expect("fork").outcome,
        Outcome::Fork { seq: 2, .. }
    ));
    assert!(store.flagged(&lucy.log.id()).expect("flag").is_some());
    let err = store
        .import_identity(&lucy.envelopes[..1])
        .expect_err("rollback");
    assert!(matches!(err, StoreError::Rollback { .. }));
}

#[test]
fn petnames_resolve_and_ids_pass_through() {
    let home = Home::new("petnames");
    let mut store = Store::open(home.path()).expect("open");
    let lucy = Person::new(1);
    store.set_petname("lucy", &lucy.log.id()).expect("set");
    assert_eq!(
        store.resolve_identity("lucy").expect("resolve"),
        Some(lucy.log.id())
    );
    assert_eq!(
        store
            .resolve_identity(&lucy.log.id().to_string())
            .expect("id"),
        Some(lucy.log.id())
    );
    assert_eq!(store.resolve_identity("nobody").expect("none"), None);
    assert_eq!(store.petnames().expect("list").len(), 1);
}

#[test]
fn home_resolution_prefers_the_explicit_path() {
    let explicit = PathBuf::from("/tmp/x");
    assert_eq!(home_dir(Some(&explicit)), Some(explicit));
    assert!(home_dir(None).is_some());
}

#[test]
fn key_attacks_are_refused_and_change_nothing() {
    let home = Home::new("key-attacks");
    let mut store = Store::open(home.path()).expect("open");
    let mut lucy = Person::new(1);
    let idx = IndexName::new(lucy.log.id(), "libfoo".parse().expect("name"));
    store.import_identity(&lucy.envelopes).expect("genesis");
    let (e1, t1) = sign(None, &idx, &lucy, vec![release("1.0.0")]);
    store.import_index::<VersionIndex>(&idx, &[e1]).expect("1");

    // Lucy's signing key leaks; she revokes it and signs with a new one.
    let fresh = SecretKey::from_seed(&[77; 32]);
    let rev = lucy
        .log
        .change(
            vec![
                IdentityOp::RevokeKey(lucy.signing.public()),
                IdentityOp::AddSigningKey(fresh.public()),
            ],
            T,
            &[&lucy.root],
        )
        .expect("revoke");
    lucy.envelopes.push(rev.encode());
    store.import_identity(&lucy.envelopes).expect("revocation");
    // The thief signs a revision citing the current identity state with the revoked key.
    let before = store.head(&idx.to_string()).expect("head");
    let (stolen, _) = sign(Some(&t1), &idx, &lucy, vec![release("6.6.6")]);
    let err = store
        .import_index::<VersionIndex>(&idx, &[stolen])
        .expect_err("revoked key");
    assert!(
        matches!(&err, StoreError::Chain { seq: 2, error, .. } if error.code() == "chain-key-revoked"),
        "{err}"
    );
    assert_eq!(store.head(&idx.to_string()).expect("head"), before);

    // A change of a two-of-two identity signed by one root key is refused, and the stored
    // identity stays as it was.
    let (a, b) = (
        SecretKey::from_seed(&[31; 32]),
        SecretKey::from_seed(&[32; 32]),
    );
    let (g, mut log) = identity::create(&[&a, &b], 2, &[fresh.public()], T).expect("create");
    store.import_identity(&[g.encode()]).expect("genesis");
    let ops = vec![IdentityOp::AddSigningKey(
        SecretKey::from_seed(&[33; 32]).public(),
    )];
    let honest = log.clone().change(ops, T, &[&a, &b]).expect("2 of 2");
    let short = Signed::sign(honest.payload().clone(), &[&a]).expect("sign");
    let err = store
        .import_identity(&[g.encode(), short.encode()])
        .expect_err("under threshold");
    assert!(
        err.to_string()
            .contains("1 of the previous root keys; 2 are needed"),
        "{err}"
    );
    assert_eq!(
        store
            .identity_head(&log.id())
            .expect("log")
            .map(|l| l.seq()),
        Some(1)
    );
    log.append(Signed::decode(&honest.encode()).expect("decode"))
        .expect("the honest change applies");
}

#[test]
fn a_failing_block_read_is_an_error_naming_the_block_never_a_missing_one() {
    let home = Home::new("unreadable");
    let mut store = Store::open(home.path()).expect("open");
    let lucy = Person::new(1);
    let idx = IndexName::new(lucy.log.id(), "libfoo".parse().expect("name"));
    store.import_identity(&lucy.envelopes).expect("identity");
    let (e1, t1) = sign(None, &idx, &lucy, vec![release("1.0.0")]);
    store
        .import_index::<VersionIndex>(&idx, &[e1])
        .expect("import");
    // The database fails every block read from now on (as a damaged disk or a schema another
    // program broke would make it fail).
    store
        .conn
        .execute_batch("ALTER TABLE blocks RENAME TO blocks_elsewhere")
        .expect("break");
    let state = t1.revision.state;
    match store.index_tip::<VersionIndex>(&idx.to_string()) {
        Err(StoreError::Unreadable(fault)) => {
            assert_eq!(fault.cid, state, "the error names the block");
            assert!(fault.reason.contains("blocks"), "{}", fault.reason);
        }
        other => panic!("expected an unreadable block, got {other:?}"),
    }
    match crate::blocks::BlockStore::get(&store, &state) {
        Err(fault) => assert_eq!(fault.cid, state),
        Ok(found) => panic!("a failing read answered {found:?}"),
    }
    // The same lookup on a healthy store of the same data finds it, so the failure above is
    // the read, not the data.
    store
        .conn
        .execute_batch("ALTER TABLE blocks_elsewhere RENAME TO blocks")
        .expect("mend");
    assert!(
        store
            .index_tip::<VersionIndex>(&idx.to_string())
            .expect("tip")
            .is_some()
    );
}

#[test]
fn a_verified_extension_is_written_as_is_or_reconciled_when_the_head_moved() {
    let home = Home::new("verified");
    let mut store = Store::open(home.path()).expect("open");
    let lucy = Person::new(1);
    let idx = IndexName::new(lucy.log.id(), "libfoo".parse().expect("name"));
    store.import_identity(&lucy.envelopes).expect("identity");
    let (e1, t1) = sign(None, &idx, &lucy, vec![release("1.0.0")]);
    let (e2, t2) = sign(Some(&t1), &idx, &lucy, vec![release("1.1.0")]);
    let (e3, _) = sign(Some(&t2), &idx, &lucy, vec![release("1.2.0")]);
    store
        .import_index::<VersionIndex>(&idx, std::slice::from_ref(&e1))
        .expect("1");
    let offer = |bytes: &[Vec<u8>]| -> Vec<chains::Offered<VersionIndex>> {
        bytes
            .iter()
            .map(|b| (Signed::decode(b).expect("decode"), b.clone()))
            .collect()
    };
    let base_tip = store
        .index_tip::<VersionIndex>(&idx.to_string())
        .expect("tip")
        .expect("held");
    let base = Some((
        base_tip.seq(),
        base_tip.payload_cid,
        base_tip.revision.state,
    ));
    let verified = || {
        store
            .verify_offer::<VersionIndex>(
                &idx,
                &offer(&[e2.clone(), e3.clone()]),
                Some(base_tip.clone()),
            )
            .expect("verifies")
    };
    let (first, second) = (verified(), verified());

    // On the base it was verified on, the extension is written as it is.
    let mut scratch = Store::open(&home.path().join("copy")).expect("copy");
    scratch.import_identity(&lucy.envelopes).expect("identity");
    scratch
        .import_index::<VersionIndex>(&idx, std::slice::from_ref(&e1))
        .expect("1");
    let r = scratch
        .immediate(|s| s.import_verified(&idx, base, first))
        .expect("written");
    assert_eq!(r.outcome, Outcome::Imported { from: 2, to: 3 });
    assert_eq!(
        scratch
            .index_tip::<VersionIndex>(&idx.to_string())
            .expect("tip")
            .map(|t| t.payload_cid),
        Some(
            Signed::<cairn_protocol::index::Revision<VersionIndex>>::decode(&e3)
                .expect("e3")
                .payload_cid()
        )
    );

    // Another writer moved the head meanwhile: the offer is reconciled, not written blindly.
    store
        .import_index::<VersionIndex>(&idx, std::slice::from_ref(&e2))
        .expect("2");
    let r = store
        .immediate(|s| s.import_verified(&idx, base, second))
        .expect("reconciled");
    assert_eq!(r.outcome, Outcome::Imported { from: 3, to: 3 });
    assert_eq!(
        store.head(&idx.to_string()).expect("head").map(|h| h.0),
        Some(3)
    );
}

#[test]
fn claims_to_hold_artifacts_are_kept_fresh_and_bounded() {
    let home = Home::new("haves");
    let mut store = Store::open(home.path()).expect("open");
    let (a, b) = (Cid::of_raw(b"a"), Cid::of_raw(b"b"));
    let addr: std::net::SocketAddr = "127.0.0.1:4000".parse().expect("addr");
    let now = 1_800_000_000;
    store
        .record_haves(&[1; 32], &[addr], now - 10, &[a, b], now)
        .expect("record");
    store
        .record_haves(&[2; 32], &[], now - 5, &[a], now)
        .expect("record");
    // The most recent claim first; each with its addresses.
    assert_eq!(
        store.holders(&a, now).expect("holders"),
        vec![([2; 32], vec![]), ([1; 32], vec![addr])]
    );
    // An older message does not replace a newer one.
    store
        .record_haves(&[2; 32], &[addr], now - 100, &[a], now)
        .expect("record");
    assert_eq!(
        store.holders(&a, now).expect("holders")[0],
        ([2; 32], vec![])
    );
    // Claims expire.
    assert!(
        store
            .holders(&b, now + HAVE_TTL)
            .expect("holders")
            .is_empty()
    );
    store
        .record_haves(&[3; 32], &[], now + HAVE_TTL, &[b], now + HAVE_TTL)
        .expect("record");
    assert_eq!(
        store.holders(&a, now + HAVE_TTL).expect("holders"),
        Vec::new(),
        "expired rows are removed"
    );
}

#[test]
fn data_version_moves_when_another_connection_writes() {
    let home = Home::new("data-version");
    let reader = Store::open(home.path()).expect("open");
    let mut writer = Store::open(home.path()).expect("open");
    let before = reader.data_version().expect("version");
    assert_eq!(
        reader.data_version().expect("version"),
        before,
        "nothing written"
    );
    writer
        .record_rollback("a:x", "peer", 1, 2, 1_800_000_000)
        .expect("write");
    assert_ne!(reader.data_version().expect("version"), before);
}

#[test]
fn refused_rollbacks_are_kept_one_per_log_and_source_latest_first() {
    let home = Home::new("rollbacks");
    let mut store = Store::open(home.path()).expect("open");
    let now = 1_800_000_000;
    store
        .record_rollback("a:x", "peer1", 1, 3, now)
        .expect("record");
    store
        .record_rollback("a:x", "peer2", 2, 3, now + 1)
        .expect("record");
    store
        .record_rollback("a:y", "peer1", 1, 2, now + 2)
        .expect("record");
    // The same source again: its row moves on, and the latest comes first.
    store
        .record_rollback("a:x", "peer1", 2, 4, now + 3)
        .expect("record");
    let seen = |log| {
        store
            .rollbacks(log, 8)
            .expect("rollbacks")
            .into_iter()
            .map(|r| (r.source, r.offered, r.held, r.at - now))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        seen("a:x"),
        vec![("peer1".into(), 2, 4, 3), ("peer2".into(), 2, 3, 1)]
    );
    assert_eq!(seen("a:y"), vec![("peer1".into(), 1, 2, 2)]);
    assert_eq!(store.rollbacks("a:x", 1).expect("rollbacks").len(), 1);
    assert!(seen("a:z").is_empty());
}

#[test]
fn a_revision_is_found_by_its_payload_through_an_index() {
    let home = Home::new("by-payload");
    let store = Store::open(home.path()).expect("open");
    let plan: Vec<String> = store
        .conn
        .prepare("EXPLAIN QUERY PLAN SELECT log, seq FROM revisions WHERE payload_cid = ?1")
        .expect("prepare")
        .query_map([&[0u8; 36][..]], |r| r.get::<_, String>(3))
        .expect("plan")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(
        plan.iter().any(|p| p.contains("revisions_by_payload")),
        "{plan:?}"
    );
}

#[test]
fn a_writer_is_waited_for_briefly_at_first_and_for_thirty_seconds_in_all() {
    // The tries whose waits add up to the timeout: 100 of 100 µs, then 1 ms each.
    let last = 100 + i32::try_from((BUSY_TIMEOUT.as_millis() - 10) as u64).expect("fits");
    assert!(wait_for_writer(0));
    assert!(wait_for_writer(99));
    assert!(wait_for_writer(last - 1), "still within the timeout");
    assert!(!wait_for_writer(last), "the timeout is reached");
    assert!(!wait_for_writer(i32::MAX));
}

#[test]
fn only_a_connection_that_writes_refetchable_data_commits_without_a_sync() {
    let home = Home::new("refetchable");
    let synchronous = |s: &Store| -> i64 {
        s.conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .expect("pragma")
    };
    let mut fetched = Store::open(home.path()).expect("open");
    let signing = Store::open(home.path()).expect("open");
    assert_eq!(synchronous(&fetched), 2, "FULL by default");
    fetched.refetchable_writes().expect("relax");
    assert_eq!(synchronous(&fetched), 1, "NORMAL for what peers sent");
    assert_eq!(synchronous(&signing), 2, "another connection keeps FULL");
    let checkpoint = |s: &Store| -> i64 {
        s.conn
            .pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))
            .expect("pragma")
    };
    assert_eq!(checkpoint(&fetched), 8192);
    assert_eq!(checkpoint(&signing), 1000, "SQLite's default elsewhere");
}
