//! Verifying a 10,000-revision version-index chain whose state ends with 1,000 releases, in
//! revisions/s, beside raw `ed25519-dalek` `verify_strict` of the same 10,000 signatures; and
//! loading the 1,000-release state from its blocks. Prints figures.
//! Run: `cargo bench -p cairn-protocol --bench chain`. With `CAIRN_BENCH_PROFILE_OURS=1` only
//! our path runs (for `perf record`).

// Timings and counts are far below 2^52; converting them to f64 loses nothing that matters.
#![allow(clippy::cast_precision_loss)]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use cairn_protocol::cid::Cid;
use cairn_protocol::identity::{self, IdentityLog};
use cairn_protocol::index::version::{VersionIndex, VersionOp, VersionState};
use cairn_protocol::index::{Citation, IndexKind, Revision, Tip, sign_next, verify_chain};
use cairn_protocol::name::IndexName;
use cairn_protocol::sign::{Domain, KeyCache, PublicKey, SecretKey};
use cairn_protocol::signed::Signed;
use cairn_protocol::version::Version;

const REVISIONS: usize = 10_000;
const RELEASES: usize = 1_000;
const ROUNDS: usize = 5;

type Envelope = Signed<Revision<VersionIndex>>;

/// The chain: envelopes, and (signing input, signature) pairs for the raw path.
struct Chain {
    log: IdentityLog,
    index: IndexName,
    signer: PublicKey,
    envelopes: Vec<Vec<u8>>,
    inputs: Vec<(Vec<u8>, [u8; 64])>,
}

/// 1,000 releases, then 9,000 revisions that yank, un-yank or deprecate them.
fn build() -> Chain {
    let root = SecretKey::from_seed(&[1; 32]);
    let signing = SecretKey::from_seed(&[2; 32]);
    let (_, log) =
        identity::create(&[&root], 1, &[signing.public()], 1_795_000_000).expect("identity");
    let index = IndexName::new(log.id(), "libfoo".parse().expect("name"));
    let cite = Citation {
        identity: log.id(),
        seq: 1,
    };
    let version = |i: usize| -> Version { format!("1.{i}.0").parse().expect("version") };
    let mut tip: Option<Tip<VersionIndex>> = None;
    let (mut envelopes, mut inputs) =
        (Vec::with_capacity(REVISIONS), Vec::with_capacity(REVISIONS));
    for r in 0..REVISIONS {
        let op = if r < RELEASES {
            VersionOp::Release {
                version: version(r),
                release: Cid::of_record(&r.to_le_bytes()),
            }
        } else {
            let v = version((r * 7919) % RELEASES);
            match r % 3 {
                0 => VersionOp::Yank {
                    version: v,
                    reason: None,
                },
                1 => VersionOp::Unyank { version: v },
                _ => VersionOp::Deprecate {
                    version: v,
                    message: format!("superseded at revision {r}"),
                },
            }
        };
        let (signed, next) = sign_next(
            tip.as_ref(),
            &index,
            cite,
            &signing,
            1_795_000_000,
            vec![op],
        )
        .expect("sign");
        inputs.push((
            Domain::VersionIndex.signing_input(signed.payload_bytes()),
            signed.signatures()[0].sig.0,
        ));
        envelopes.push(signed.encode());
        tip = Some(next);
    }
    Chain {
        log,
        index,
        signer: signing.public(),
        envelopes,
        inputs,
    }
}

/// `ROUNDS` rounds, each timing our path then the raw path back to back (the machine is shared
/// and load drifts by ±10% over seconds). Returns the best time of each, the median of the
/// per-round ratios (robust to drift), and the verified tip.
fn measure(chain: &Chain) -> (Duration, Duration, f64, Tip<VersionIndex>) {
    let vk = ed25519_dalek::VerifyingKey::from_bytes(chain.signer.as_bytes()).expect("key");
    let (mut ours, mut raw) = (Duration::MAX, Duration::MAX);
    let mut ratios = Vec::with_capacity(ROUNDS);
    let mut verified = None;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let v = verify_chain::<VersionIndex>(&chain.index, black_box(&chain.envelopes), &chain.log)
            .expect("chain verifies");
        let this_ours = t.elapsed();
        ours = ours.min(this_ours);
        verified = Some(v);
        if std::env::var_os("CAIRN_BENCH_PROFILE_OURS").is_some() {
            continue;
        }
        let t = Instant::now();
        for (msg, sig) in &chain.inputs {
            vk.verify_strict(black_box(msg), &ed25519_dalek::Signature::from_bytes(sig))
                .expect("raw verify");
        }
        let this_raw = t.elapsed();
        raw = raw.min(this_raw);
        ratios.push(this_raw.as_secs_f64() / this_ours.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    let median = ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN);
    (ours, raw, median, verified.expect("rounds ran"))
}

/// Per-revision cost of decoding alone (keys cached, as `verify_chain` does) and of parsing a
/// public key without the cache.
fn breakdown(chain: &Chain) -> (Duration, Duration) {
    let mut cache = KeyCache::default();
    let t = Instant::now();
    for e in &chain.envelopes {
        black_box(Envelope::decode_cached(black_box(e), &mut cache).expect("decode"));
    }
    let decode = t.elapsed() / REVISIONS as u32;
    let t = Instant::now();
    for _ in 0..REVISIONS {
        black_box(PublicKey::from_bytes(black_box(chain.signer.as_bytes())).expect("key"));
    }
    (decode, t.elapsed() / REVISIONS as u32)
}

/// Loads the final state from its blocks (what a client does with a head alone).
fn load_state(tip: &Tip<VersionIndex>) -> (Duration, usize) {
    let mut state = tip.state.clone();
    let mut fresh = Vec::new();
    let root = VersionIndex::state_root(&mut state, Some(&mut fresh));
    let mut blocks: HashMap<Cid, Vec<u8>> = state.releases.blocks().into_iter().collect();
    blocks.extend(fresh);
    let t = Instant::now();
    let loaded = VersionState::load(root, &|c| blocks.get(c).cloned()).expect("load");
    let took = t.elapsed();
    assert_eq!(loaded.releases().len(), RELEASES);
    (took, blocks.len())
}

fn main() {
    let t = Instant::now();
    let chain = build();
    let built = t.elapsed();
    let bytes: usize = chain.envelopes.iter().map(Vec::len).sum();
    let (ours, raw, paired, tip) = measure(&chain);
    assert_eq!(tip.seq(), REVISIONS as u64);
    let (decode, key_parse) = breakdown(&chain);
    let (load, blocks) = load_state(&tip);
    let ours_rate = REVISIONS as f64 / ours.as_secs_f64();
    let raw_rate = REVISIONS as f64 / raw.as_secs_f64();
    println!(
        "chain: {REVISIONS} revisions, {bytes} envelope bytes, final state {RELEASES} releases in {blocks} blocks (built in {built:.2?})"
    );
    println!(
        "{:<44} {:>12} {:>16}",
        "(best of 5 interleaved rounds)", "total", "revisions/s"
    );
    println!(
        "{:<44} {:>12.2?} {:>16.0}",
        "verify_chain (decode, rules, state, verify)", ours, ours_rate
    );
    println!(
        "{:<44} {:>12.2?} {:>16.0}",
        "raw ed25519-dalek verify_strict", raw, raw_rate
    );
    println!(
        "ratio ours/raw: {:.1}% from the best rounds, {:.1}% median of per-round ratios (target >= 80%)",
        100.0 * ours_rate / raw_rate,
        100.0 * paired
    );
    let per = |d: Duration| d / REVISIONS as u32;
    println!(
        "per revision: ours {:.2?}, raw verify {:.2?}, of ours: decode {decode:.2?}; uncached key parse {key_parse:.2?}",
        per(ours),
        per(raw)
    );
    println!("load the 1,000-release state from {blocks} blocks: {load:.2?}");
}
