//! Verifying a 10,000-revision version-index chain whose state ends with 1,000 releases, in
//! revisions/s, beside raw `ed25519-dalek` `verify_strict` of the same 10,000 signatures; and
//! loading the 1,000-release state from its blocks. Prints figures.
//! Run: `cargo bench -p cairn-protocol --bench chain`. With `CAIRN_BENCH_PROFILE_OURS=1` only
//! our path runs (for `perf record`). Both paths are timed at the same stack offsets, swept
//! across a page (see `at_stack_offset`).

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
const ROUNDS: usize = 16;

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

/// Runs `f` with the stack moved down by about `pad` bytes.
///
/// Ed25519 verification time depends on where its stack frames fall modulo 4 KiB (4K aliasing
/// against other hot data): measured here, the same binary verifying the same chain took
/// 464-563 ms depending only on the size of the environment, which shifts the stack. A
/// comparison at one stack position measures that luck, not the code (Mytkowicz et al.,
/// "Producing wrong data without doing anything obviously wrong!", ASPLOS 2009). So each
/// round runs both paths at the same offset, and the rounds sweep offsets across a page.
#[inline(never)]
fn at_stack_offset<R>(pad: usize, f: &mut dyn FnMut() -> R) -> R {
    if pad < 256 {
        return f();
    }
    let frame = black_box([0u8; 256]);
    let r = at_stack_offset(pad - 256, f);
    black_box(&frame);
    r
}

/// Per round: our time, raw time.
type Round = (Duration, Duration);

/// `ROUNDS` rounds, each timing our path and the raw path back to back at one stack offset, in
/// alternating order (the machine is shared and load drifts over seconds). Returns the rounds
/// and the verified tip.
fn measure(chain: &Chain) -> (Vec<Round>, Tip<VersionIndex>) {
    let vk = ed25519_dalek::VerifyingKey::from_bytes(chain.signer.as_bytes()).expect("key");
    let profile_ours = std::env::var_os("CAIRN_BENCH_PROFILE_OURS").is_some();
    let mut rounds = Vec::with_capacity(ROUNDS);
    let mut verified = None;
    let mut run_ours = || {
        let t = Instant::now();
        let v = verify_chain::<VersionIndex>(&chain.index, black_box(&chain.envelopes), &chain.log)
            .expect("chain verifies");
        let took = t.elapsed();
        verified = Some(v);
        took
    };
    let mut run_raw = || {
        let t = Instant::now();
        for (msg, sig) in &chain.inputs {
            vk.verify_strict(black_box(msg), &ed25519_dalek::Signature::from_bytes(sig))
                .expect("raw verify");
        }
        t.elapsed()
    };
    for round in 0..ROUNDS {
        let pad = round * 4096 / ROUNDS;
        if profile_ours {
            rounds.push((at_stack_offset(pad, &mut run_ours), Duration::ZERO));
            continue;
        }
        if round % 2 == 0 {
            let o = at_stack_offset(pad, &mut run_ours);
            rounds.push((o, at_stack_offset(pad, &mut run_raw)));
        } else {
            let r = at_stack_offset(pad, &mut run_raw);
            rounds.push((at_stack_offset(pad, &mut run_ours), r));
        }
    }
    (rounds, verified.expect("rounds ran"))
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
    let loaded = VersionState::load(root, &|c| Ok(blocks.get(c).cloned())).expect("load");
    let took = t.elapsed();
    assert_eq!(loaded.releases().len(), RELEASES);
    (took, blocks.len())
}

fn main() {
    let t = Instant::now();
    let chain = build();
    let built = t.elapsed();
    let bytes: usize = chain.envelopes.iter().map(Vec::len).sum();
    let (rounds, tip) = measure(&chain);
    assert_eq!(tip.seq(), REVISIONS as u64);
    let (decode, key_parse) = breakdown(&chain);
    let (load, blocks) = load_state(&tip);
    let ours = rounds.iter().map(|r| r.0).sum::<Duration>() / ROUNDS as u32;
    let raw = rounds.iter().map(|r| r.1).sum::<Duration>() / ROUNDS as u32;
    let best_ours = rounds.iter().map(|r| r.0).min().unwrap_or_default();
    let best_raw = rounds.iter().map(|r| r.1).min().unwrap_or_default();
    let detail: Vec<String> = rounds
        .iter()
        .enumerate()
        .map(|(i, (o, r))| {
            format!(
                "{}:{:.0}/{:.0}",
                i * 4096 / ROUNDS,
                o.as_secs_f64() * 1e3,
                r.as_secs_f64() * 1e3
            )
        })
        .collect();
    let mut ratios: Vec<f64> = rounds
        .iter()
        .map(|(o, r)| r.as_secs_f64() / o.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    let rate = |d: Duration| REVISIONS as f64 / d.as_secs_f64();
    println!(
        "chain: {REVISIONS} revisions, {bytes} envelope bytes, final state {RELEASES} releases in {blocks} blocks (built in {built:.2?})"
    );
    println!(
        "{:<44} {:>12} {:>16} {:>12}",
        format!("({ROUNDS} rounds, stack offsets across 4 KiB)"),
        "mean",
        "revisions/s",
        "best"
    );
    println!(
        "{:<44} {:>12.2?} {:>16.0} {:>12.2?}",
        "verify_chain (decode, rules, state, verify)",
        ours,
        rate(ours),
        best_ours
    );
    println!(
        "{:<44} {:>12.2?} {:>16.0} {:>12.2?}",
        "raw ed25519-dalek verify_strict",
        raw,
        rate(raw),
        best_raw
    );
    println!(
        "ratio ours/raw: {:.1}% of the mean rates (target >= 80%); per round (same offset): min {:.1}%, median {:.1}%, max {:.1}%",
        100.0 * rate(ours) / rate(raw),
        100.0 * ratios.first().copied().unwrap_or(f64::NAN),
        100.0 * ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN),
        100.0 * ratios.last().copied().unwrap_or(f64::NAN),
    );
    println!("per round, offset:ours/raw ms: {}", detail.join(" "));
    let per = |d: Duration| d / REVISIONS as u32;
    println!(
        "per revision: ours {:.2?}, raw verify {:.2?}, of ours: decode {decode:.2?}; uncached key parse {key_parse:.2?}",
        per(ours),
        per(raw)
    );
    println!("load the 1,000-release state from {blocks} blocks: {load:.2?}");
}
