//! Entry points shared by the `cargo fuzz` targets (`fuzz/`) and the corpus replay test, so
//! that CI checks exactly what the fuzzer checks. Each panics when an invariant breaks.

use std::io::Cursor;

use crate::car;

/// Any bytes as a CAR: reading never panics; the in-memory reader and the indexed (seekable)
/// reader agree on whether it is valid and on its roots and blocks; what reads re-writes to a
/// CAR that reads back the same.
pub fn car(data: &[u8]) {
    let read = car::read(data);
    let indexed = car::Indexed::new(Cursor::new(data));
    match (read, indexed) {
        (Ok((roots, blocks)), Ok(mut indexed)) => {
            assert_eq!(indexed.roots(), roots.as_slice(), "roots");
            for (cid, bytes) in &blocks {
                assert_eq!(
                    indexed.get(cid).expect("indexed block").as_ref(),
                    Some(bytes)
                );
            }
            let again = car::read(&car::write(&roots, &blocks)).expect("a written CAR reads");
            assert_eq!(again, (roots, blocks), "write then read");
        }
        (Err(a), Err(b)) => assert_eq!(a.code(), b.code(), "the two readers refuse alike"),
        (a, b) => panic!(
            "the readers disagree: in memory {:?}, indexed {:?}",
            a.map(|_| ()),
            b.map(|_| ())
        ),
    }
}

/// Any bytes as a bundle, imported into a fresh store: never a panic; a refused bundle leaves
/// the store as it was (no log, no block); an accepted one leaves each log it reports at the
/// head it reports.
pub fn bundle(data: &[u8]) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut store = crate::store::Store::open(dir.path()).expect("store");
    match crate::bundle::import(&mut store, Cursor::new(data), &dir.path().join("artifacts")) {
        Ok(reports) => {
            let heads = store.heads().expect("heads");
            for r in reports {
                assert!(
                    heads
                        .iter()
                        .any(|(log, seq, ..)| *log == r.log && *seq == r.head),
                    "`{}` reported at {} is not in the store",
                    r.log,
                    r.head
                );
            }
        }
        Err(_) => {
            assert!(
                store.heads().expect("heads").is_empty(),
                "a refused bundle left logs"
            );
        }
    }
}

/// The most Argon2 work (KiB × passes) a fuzzed key file may ask for: a file that asks for
/// more is skipped before it is opened, so that one run stays fast (the caps themselves are
/// tested apart).
pub const KEYFILE_FUZZ_WORK: u64 = 64;

/// The passphrase the key file vectors are sealed with.
pub const KEYFILE_PASSPHRASE: &str = "correct horse ☃";

/// Any bytes as a key file: opening never panics; a file that opens re-seals (with other salt
/// and nonce) to a file that opens to the same identity and keys. Whether it opened.
pub fn keyfile(data: &[u8]) -> bool {
    use crate::keys;
    if kdf_work(data).is_some_and(|w| w > KEYFILE_FUZZ_WORK) {
        return false;
    }
    let Ok(ring) = keys::open(data, KEYFILE_PASSPHRASE.as_bytes()) else {
        return false;
    };
    let (identity, publics) = (
        ring.identity,
        ring.keys
            .iter()
            .map(|(role, k)| (*role, k.public()))
            .collect::<Vec<_>>(),
    );
    let sealed = keys::seal_with(
        ring,
        KEYFILE_PASSPHRASE.as_bytes(),
        keys::KdfParams::INSECURE_FOR_TESTS,
        [1; 16],
        [2; 24],
    )
    .expect("an opened ring seals");
    let again = keys::open(&sealed, KEYFILE_PASSPHRASE.as_bytes()).expect("re-sealed opens");
    assert_eq!(again.identity, identity);
    let mut a: Vec<_> = again.keys.iter().map(|(r, k)| (*r, k.public())).collect();
    let mut b = publics;
    a.sort_by_key(|(r, k)| (r.name(), *k.as_bytes()));
    b.sort_by_key(|(r, k)| (r.name(), *k.as_bytes()));
    assert_eq!(a, b, "keys after re-sealing");
    true
}

/// `m_kib × t` of a key file's `kdf` map, when the bytes hold one.
fn kdf_work(data: &[u8]) -> Option<u64> {
    use cairn_protocol::codec::Value;
    let Ok(Value::Map(file)) = cairn_protocol::codec::decode(data) else {
        return None;
    };
    let Some(Value::Map(kdf)) = file.get("kdf") else {
        return None;
    };
    let num = |k| match kdf.get(k) {
        Some(Value::Integer(n)) => u64::try_from(*n).ok(),
        _ => None,
    };
    Some(num("m_kib")?.saturating_mul(num("t")?))
}

/// Any bytes as a Cargo index file (plain or cache form): reading never panics, and every
/// entry it yields is either added or refused with a reason.
pub fn cargo_cache(data: &[u8]) {
    let Ok(entries) = crate::resolve::cargo::entries(data) else {
        return;
    };
    let mut index = crate::resolve::cargo::CargoIndex::default();
    for json in entries {
        let _ = index.add(&json);
    }
    let _ = index.crates();
}
