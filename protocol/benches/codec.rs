//! Encode, decode + profile check, CID and strict verification: ours beside
//! `serde_ipld_dagcbor`'s plain encode/decode and raw `ed25519-dalek` `verify_strict`, on a
//! ~300-byte and a ~100 KB payload. Prints ns per operation and the ratio of our full verify path
//! to (raw decode + raw verify). Run: `cargo bench -p cairn-protocol --bench codec`.

// Timings are far below 2^52 ns; converting them to f64 loses nothing that matters.
#![allow(clippy::cast_precision_loss)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use cairn_protocol::cid::Cid;
use cairn_protocol::codec::{self, Map, Value};
use cairn_protocol::profile;
use cairn_protocol::sign::{Domain, SecretKey};
use cairn_protocol::signed::{Opaque, Signed, domains};
use ed25519_dalek::Verifier as _;
use ipld_core::ipld::Ipld;

type HeadPayload = Opaque<domains::Head>;

/// Median ns per call of `f` over several timed batches of about 200 ms each.
fn ns_per_op(mut f: impl FnMut()) -> f64 {
    // Calibrate the batch size.
    let mut n = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        if t.elapsed() > Duration::from_millis(20) {
            break;
        }
        n *= 2;
    }
    let n = n * 10;
    let mut samples: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn entry(i: i128) -> Value {
    let mut m = Map::new();
    m.insert("version", Value::text(format!("1.{i}.0")));
    m.insert(
        "release",
        Value::Link(Cid::of_record(&i.to_le_bytes()).into()),
    );
    m.insert("status", Value::text("ok"));
    m.insert("seq", Value::Integer(i));
    Value::Map(m)
}

/// A revision-like payload with `entries` small entries.
fn payload(entries: i128) -> Value {
    let mut m = Map::new();
    m.insert("index", Value::text("bafyr4iexampleidentity:libfoo"));
    m.insert("seq", Value::Integer(42));
    m.insert("prev", Value::Link(Cid::of_record(b"prev").into()));
    m.insert("time", Value::Integer(1_795_000_000));
    m.insert("ops", Value::List((0..entries).map(entry).collect()));
    Value::Map(m)
}

fn main() {
    let key = SecretKey::from_seed(&[7; 32]);
    let dalek_key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let dalek_vk = dalek_key.verifying_key();
    println!(
        "{:<10} {:>9} | {:>10} {:>10} {:>10} {:>10} {:>10} | {:>10} {:>10} {:>10} | {:>12} {:>12} {:>6}",
        "payload",
        "bytes",
        "our enc",
        "our dec+pf",
        "CID",
        "our verify",
        "full path",
        "serde enc",
        "serde dec",
        "dalek vfy",
        "raw dec+vfy",
        "full/raw",
        ""
    );
    for (label, entries) in [("~300 B", 2), ("~100 KB", 1050)] {
        let value = payload(entries);
        let bytes = profile::encode_record(&value).expect("valid payload");
        let signed = Signed::sign(HeadPayload::new(value.clone()), &[&key]).expect("sign");
        let envelope = signed.encode();
        let sig = signed.signatures()[0].sig;
        let input = Domain::Head.signing_input(&bytes);
        let dalek_sig = ed25519_dalek::Signature::from_bytes(&sig.0);
        let ipld: Ipld = serde_ipld_dagcbor::from_slice(&bytes).expect("serde decodes our bytes");
        assert_eq!(
            serde_ipld_dagcbor::to_vec(&ipld).expect("serde encodes"),
            bytes
        );
        assert!(dalek_vk.verify_strict(&input, &dalek_sig).is_ok());
        let pk = key.public();

        let our_enc = ns_per_op(|| {
            black_box(codec::encode(black_box(&value)));
        });
        let our_dec = ns_per_op(|| {
            black_box(profile::decode_record(black_box(&bytes)).expect("decode"));
        });
        let cid = ns_per_op(|| {
            black_box(Cid::of_record(black_box(&bytes)));
        });
        let our_verify = ns_per_op(|| {
            pk.verify(Domain::Head, black_box(&bytes), &sig)
                .expect("verify");
        });
        // The full path a node runs on an envelope: profile decode, payload span, CID, verify.
        let full = ns_per_op(|| {
            let s = Signed::<HeadPayload>::decode(black_box(&envelope)).expect("decode");
            black_box(s.verify().expect("verify").payload_cid());
        });
        let serde_enc = ns_per_op(|| {
            black_box(serde_ipld_dagcbor::to_vec(black_box(&ipld)).expect("encode"));
        });
        let serde_dec = ns_per_op(|| {
            black_box(
                serde_ipld_dagcbor::from_slice::<Ipld>(black_box(&envelope)).expect("decode"),
            );
        });
        let dalek = ns_per_op(|| {
            dalek_vk
                .verify_strict(black_box(&input), &dalek_sig)
                .expect("verify");
        });
        let _ = dalek_vk.verify(&input, &dalek_sig);
        let raw = serde_dec + dalek;
        println!(
            "{label:<10} {:>9} | {our_enc:>10.0} {our_dec:>10.0} {cid:>10.0} {our_verify:>10.0} {full:>10.0} | {serde_enc:>10.0} {serde_dec:>10.0} {dalek:>10.0} | {raw:>12.0} {:>11.2}x {}",
            bytes.len(),
            full / raw,
            if full / raw <= 1.25 {
                "ok"
            } else {
                "OVER 1.25x"
            },
        );
    }
    println!(
        "(ns per operation, median of 7 batches; serde dec and full path decode the envelope)"
    );
}
