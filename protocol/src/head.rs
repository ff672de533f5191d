//! Announcement heads, fork evidence and concurrent-append conflicts.
//!
//! Goals: a head is small enough for one gossip message and self-authenticating; two heads that
//! prove a key signed two different revisions at one `seq` of one log are portable evidence that
//! anyone can check without fetching anything; a fork (one signer equivocating) is told apart
//! from a conflict (two authorized maintainers appending at once), which is settled by a fixed
//! rule: the owner's revision wins, then the lower payload CID.
//!
//! Normative text: `spec/07-records.md`, "Heads and forks".

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::cid::Cid;
use crate::codec::{Map, Value};
use crate::identity::IdentityId;
use crate::name::{IndexName, NameError};
use crate::profile::{Fields, RecordError};
use crate::sign::{Domain, PublicKey};
use crate::signed::{Payload, Signed, SignedError, Unverified, Verified};

/// The largest encoded head envelope this implementation produces is far below this bound,
/// which leaves room in a 4 KiB gossip message.
pub const MAX_HEAD_BYTES: usize = 1024;

/// The log a head announces: an identity log (its ID) or an index (`<id>:<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogId {
    /// An identity log.
    Identity(IdentityId),
    /// A version or package index.
    Index(IndexName),
}

impl FromStr for LogId {
    type Err = NameError;

    fn from_str(s: &str) -> Result<LogId, NameError> {
        if s.contains(':') {
            s.parse().map(LogId::Index)
        } else {
            Ok(LogId::Identity(s.parse()?))
        }
    }
}

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogId::Identity(id) => write!(f, "{id}"),
            LogId::Index(n) => write!(f, "{n}"),
        }
    }
}

/// A signed announcement of a log's latest revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The log.
    pub log: LogId,
    /// The revision's seq.
    pub seq: u64,
    /// The revision's payload CID.
    pub payload: Cid,
    /// Seconds since the Unix epoch, as claimed by the signer.
    pub time: u64,
}

impl Payload for Head {
    const DOMAIN: Domain = Domain::Head;

    fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("index", Value::text(self.log.to_string()));
        m.insert("seq", Value::Integer(i128::from(self.seq)));
        m.insert("payload", Value::Link(self.payload.into()));
        m.insert("time", Value::Integer(i128::from(self.time)));
        Value::Map(m)
    }

    fn from_value(v: Value) -> Result<Head, RecordError> {
        let mut f = Fields::new("head", v)?;
        let text = f.text("index")?;
        let log = text
            .parse()
            .map_err(|e: NameError| f.invalid("index", e.to_string()))?;
        let seq = f.uint("seq")?;
        if seq == 0 {
            return Err(f.invalid("seq", "seqs start at 1"));
        }
        let payload = f.link("payload")?;
        let time = f.uint("time")?;
        f.finish()?;
        Ok(Head {
            log,
            seq,
            payload,
            time,
        })
    }
}

/// Why two heads are not fork evidence.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ForkError {
    /// A head envelope is invalid.
    #[error(transparent)]
    Envelope(#[from] SignedError),
    /// The heads announce different logs.
    #[error("the heads announce different logs")]
    DifferentLogs,
    /// The heads announce different seqs.
    #[error("the heads announce different seqs")]
    DifferentSeqs,
    /// The heads announce the same revision.
    #[error("the heads announce the same revision: no fork")]
    SameRevision,
    /// No key signed both heads.
    #[error("no key signed both heads")]
    NoCommonSigner,
}

impl ForkError {
    /// The stable error code used in test vectors.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ForkError::Envelope(e) => e.code(),
            ForkError::DifferentLogs => "fork-different-logs",
            ForkError::DifferentSeqs => "fork-different-seqs",
            ForkError::SameRevision => "fork-same-revision",
            ForkError::NoCommonSigner => "fork-no-common-signer",
        }
    }
}

/// Two verified heads proving that `key` signed two different revisions at one seq of one log.
#[derive(Debug, Clone)]
pub struct ForkEvidence {
    a: Signed<Head, Verified>,
    b: Signed<Head, Verified>,
    key: PublicKey,
}

impl ForkEvidence {
    /// Checks two verified heads; orders them by payload CID so the evidence is canonical.
    pub fn new(
        a: Signed<Head, Verified>,
        b: Signed<Head, Verified>,
    ) -> Result<ForkEvidence, ForkError> {
        let (ha, hb) = (a.payload(), b.payload());
        if ha.log != hb.log {
            return Err(ForkError::DifferentLogs);
        }
        if ha.seq != hb.seq {
            return Err(ForkError::DifferentSeqs);
        }
        if ha.payload == hb.payload {
            return Err(ForkError::SameRevision);
        }
        let key = *a
            .signers()
            .find(|k| b.signers().any(|x| x == *k))
            .ok_or(ForkError::NoCommonSigner)?;
        let (a, b) = if ha.payload < hb.payload {
            (a, b)
        } else {
            (b, a)
        };
        Ok(ForkEvidence { a, b, key })
    }

    /// Decodes and verifies evidence from its two head envelopes.
    pub fn verify(a: &[u8], b: &[u8]) -> Result<ForkEvidence, ForkError> {
        let a = Signed::<Head, Unverified>::decode(a)?.verify()?;
        let b = Signed::<Head, Unverified>::decode(b)?.verify()?;
        ForkEvidence::new(a, b)
    }

    /// The key that signed both.
    #[must_use]
    pub fn key(&self) -> PublicKey {
        self.key
    }

    /// The two heads, lower payload CID first.
    #[must_use]
    pub fn heads(&self) -> (&Signed<Head, Verified>, &Signed<Head, Verified>) {
        (&self.a, &self.b)
    }

    /// The evidence record: `{heads: [envelope, envelope]}`, lower payload CID first.
    #[must_use]
    pub fn to_value(&self) -> Value {
        let decode =
            |s: &Signed<Head, Verified>| crate::codec::decode(&s.encode()).unwrap_or(Value::Null);
        let mut m = Map::new();
        m.insert("heads", Value::List(vec![decode(&self.a), decode(&self.b)]));
        Value::Map(m)
    }
}

/// Two different revisions at one seq of one index, told apart by who signed them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Divergence {
    /// One identity signed both: equivocation. Keep the evidence and flag the signer.
    Fork {
        /// The signer.
        signer: IdentityId,
    },
    /// Two authorized maintainers appended concurrently: not misbehaviour. `winner` is kept;
    /// the loser's operations are re-applied on top of it.
    Conflict {
        /// The payload CID that wins.
        winner: Cid,
        /// The payload CID that loses.
        loser: Cid,
    },
}

/// Classifies two different revisions at the same seq of the index owned by `owner`, given
/// each revision's payload CID and signer identity.
#[must_use]
pub fn classify(owner: &IdentityId, a: (Cid, IdentityId), b: (Cid, IdentityId)) -> Divergence {
    if a.1 == b.1 {
        return Divergence::Fork { signer: a.1 };
    }
    let a_wins = match (a.1 == *owner, b.1 == *owner) {
        (true, false) => true,
        (false, true) => false,
        _ => a.0 < b.0,
    };
    let (winner, loser) = if a_wins { (a.0, b.0) } else { (b.0, a.0) };
    Divergence::Conflict { winner, loser }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::SecretKey;

    fn head(seq: u64, payload: &[u8]) -> Head {
        let name: IndexName = format!("{}:libfoo", IdentityId::from_digest([1; 32]))
            .parse()
            .expect("name");
        Head {
            log: LogId::Index(name),
            seq,
            payload: Cid::of_record(payload),
            time: 1_795_000_000,
        }
    }

    #[test]
    fn heads_are_small_and_round_trip() {
        let k = SecretKey::from_seed(&[5; 32]);
        let long: IndexName = format!("{}:{}", IdentityId::from_digest([1; 32]), "n".repeat(128))
            .parse()
            .expect("name");
        let h = Head {
            log: LogId::Index(long),
            seq: u64::MAX,
            payload: Cid::of_record(b"x"),
            time: u64::MAX,
        };
        let bytes = Signed::sign(h.clone(), &[&k]).expect("sign").encode();
        assert!(bytes.len() < MAX_HEAD_BYTES, "{} bytes", bytes.len());
        let back = Signed::<Head>::decode(&bytes)
            .expect("decode")
            .verify()
            .expect("verify");
        assert_eq!(back.payload(), &h);
        let id_head = Head {
            log: LogId::Identity(IdentityId::from_digest([2; 32])),
            ..head(1, b"a")
        };
        let back =
            Signed::<Head>::decode(&Signed::sign(id_head.clone(), &[&k]).expect("sign").encode())
                .expect("decode");
        assert_eq!(back.payload(), &id_head);
    }

    #[test]
    fn fork_evidence_needs_one_key_two_payloads_one_seq() {
        let k = SecretKey::from_seed(&[5; 32]);
        let other = SecretKey::from_seed(&[6; 32]);
        let sign = |h: Head, key: &SecretKey| -> Vec<u8> {
            Signed::sign(h, &[key]).expect("sign").encode()
        };
        let ev =
            ForkEvidence::verify(&sign(head(3, b"a"), &k), &sign(head(3, b"b"), &k)).expect("fork");
        assert_eq!(ev.key(), k.public());
        assert!(ev.heads().0.payload().payload < ev.heads().1.payload().payload);
        let err =
            |a: Vec<u8>, b: Vec<u8>| ForkEvidence::verify(&a, &b).expect_err("not a fork").code();
        assert_eq!(
            err(sign(head(3, b"a"), &k), sign(head(4, b"b"), &k)),
            "fork-different-seqs"
        );
        assert_eq!(
            err(sign(head(3, b"a"), &k), sign(head(3, b"a"), &k)),
            "fork-same-revision"
        );
        assert_eq!(
            err(sign(head(3, b"a"), &k), sign(head(3, b"b"), &other)),
            "fork-no-common-signer"
        );
    }

    #[test]
    fn conflicts_prefer_the_owner_then_the_lower_cid() {
        let owner = IdentityId::from_digest([1; 32]);
        let (m1, m2) = (
            IdentityId::from_digest([2; 32]),
            IdentityId::from_digest([3; 32]),
        );
        let (lo, hi) = {
            let (x, y) = (Cid::of_record(b"x"), Cid::of_record(b"y"));
            if x < y { (x, y) } else { (y, x) }
        };
        assert_eq!(
            classify(&owner, (hi, owner), (lo, m1)),
            Divergence::Conflict {
                winner: hi,
                loser: lo
            }
        );
        assert_eq!(
            classify(&owner, (lo, m1), (hi, owner)),
            Divergence::Conflict {
                winner: hi,
                loser: lo
            }
        );
        assert_eq!(
            classify(&owner, (hi, m1), (lo, m2)),
            Divergence::Conflict {
                winner: lo,
                loser: hi
            }
        );
        assert_eq!(
            classify(&owner, (hi, m1), (lo, m1)),
            Divergence::Fork { signer: m1 }
        );
    }
}
