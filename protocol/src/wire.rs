//! Peer requests: what one Cairn node asks another for over the `cairn/sync/1` protocol.
//!
//! A request is one record (the record profile, at most [`MAX_REQUEST`] bytes) sent on a fresh
//! bidirectional stream; the answer is one status byte and the bytes the request names. Every
//! byte a peer sends is checked by the asker against the CID or log it asked for, so a peer can
//! waste time but never make anyone keep a wrong byte.
//!
//! Normative text: `spec/14-network.md`.

use crate::cid::{Cid, Codec};
use crate::codec::{Map, Value};
use crate::identity::IdentityId;
use crate::name::IndexName;
use crate::profile::{self, Fields, RecordError};

/// The ALPN of the request protocol.
pub const ALPN: &[u8] = b"cairn/sync/1";

/// The largest request record.
pub const MAX_REQUEST: usize = 16 << 10;

/// The most envelopes one chain answer carries.
pub const MAX_CHAIN: u64 = 1024;

/// The most blocks one `blocks` request names.
pub const MAX_BLOCKS: usize = 256;

/// Answer status: what follows is what was asked for.
pub const FOUND: u8 = 0;
/// Answer status: the node does not hold it.
pub const NOT_HELD: u8 = 1;
/// Answer status: refused; a UTF-8 reason follows (a bad request, or a rate limit).
pub const REFUSED: u8 = 2;

/// A request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The newest envelope of `log` (an index name or an identity ID) that the node holds.
    Head {
        /// The log.
        log: String,
    },
    /// Envelopes of `log` from the revision whose payload CID is `from`, following `prev`
    /// links, until the revision whose payload CID is `stop` (not sent) or the first revision;
    /// at most `max` of them (at most [`MAX_CHAIN`]). Each is sent as `varint(len) envelope`.
    Chain {
        /// The log.
        log: String,
        /// The payload CID of the newest revision wanted.
        from: Cid,
        /// The payload CID of a revision the asker holds: the walk stops before it.
        stop: Option<Cid>,
        /// The most envelopes wanted.
        max: u64,
    },
    /// A block (a record, or a raw chunk) by its CID.
    Block {
        /// The CID.
        cid: Cid,
    },
    /// Several blocks at once (1 to [`MAX_BLOCKS`]): answered as frames in the order asked, an
    /// empty frame for a block not held; the answer may stop early (the asker asks again for
    /// the rest).
    Blocks {
        /// The CIDs.
        cids: Vec<Cid>,
    },
    /// An artifact's bytes, by its raw CID.
    Artifact {
        /// The CID.
        cid: Cid,
    },
    /// The fork evidence the node holds for `log`: the two envelopes of its first recorded
    /// fork, framed as in a chain answer.
    Fork {
        /// The log.
        log: String,
    },
}

const RECORD: &str = "request";

/// Checks that `log` names a log: an identity ID or an index name.
fn check_log(f: &Fields, log: &str) -> Result<(), RecordError> {
    if log.parse::<IdentityId>().is_ok() || log.parse::<IndexName>().is_ok() {
        Ok(())
    } else {
        Err(f.invalid("log", "neither an identity ID nor an index name"))
    }
}

impl Request {
    /// The request's record bytes.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut m = Map::new();
        let (op, log) = match self {
            Request::Head { log } => ("head", Some(log)),
            Request::Chain {
                log,
                from,
                stop,
                max,
            } => {
                m.insert("from", Value::Link((*from).into()));
                if let Some(stop) = stop {
                    m.insert("stop", Value::Link((*stop).into()));
                }
                m.insert("max", Value::Integer((*max).into()));
                ("chain", Some(log))
            }
            Request::Block { cid } => {
                m.insert("cid", Value::Link((*cid).into()));
                ("block", None)
            }
            Request::Blocks { cids } => {
                m.insert(
                    "cids",
                    Value::List(cids.iter().map(|c| Value::Link((*c).into())).collect()),
                );
                ("blocks", None)
            }
            Request::Artifact { cid } => {
                m.insert("cid", Value::Link((*cid).into()));
                ("artifact", None)
            }
            Request::Fork { log } => ("fork", Some(log)),
        };
        m.insert("op", Value::text(op));
        if let Some(log) = log {
            m.insert("log", Value::text(log.as_str()));
        }
        crate::codec::encode(&Value::Map(m))
    }

    /// Reads a request record; refuses anything this version does not know.
    pub fn decode(bytes: &[u8]) -> Result<Request, RecordError> {
        if bytes.len() > MAX_REQUEST {
            return Err(RecordError::TooLarge {
                size: bytes.len(),
                limit: MAX_REQUEST,
            });
        }
        let mut f = Fields::new(RECORD, profile::decode_record(bytes)?)?;
        let op = f.text("op")?;
        let request = match op.as_str() {
            "head" => {
                let log = f.text("log")?;
                check_log(&f, &log)?;
                Request::Head { log }
            }
            "chain" => {
                let log = f.text("log")?;
                check_log(&f, &log)?;
                let from = f.link("from")?;
                let stop = f.optional_link("stop")?;
                let max = f.uint("max")?;
                if max == 0 || max > MAX_CHAIN {
                    return Err(f.invalid("max", format!("1 to {MAX_CHAIN}")));
                }
                for (field, cid) in [("from", Some(from)), ("stop", stop)] {
                    if cid.is_some_and(|c| c.codec() != Codec::DagCbor) {
                        return Err(f.invalid(field, "a revision's payload is a record"));
                    }
                }
                Request::Chain {
                    log,
                    from,
                    stop,
                    max,
                }
            }
            "block" => Request::Block {
                cid: f.link("cid")?,
            },
            "blocks" => {
                let cids = f
                    .list_of("cids", MAX_BLOCKS, "CIDs")?
                    .into_iter()
                    .map(|v| match v {
                        Value::Link(l) => {
                            Cid::try_from(&l).map_err(|e| f.invalid("cids", e.to_string()))
                        }
                        other => Err(f.wrong_type("cids", "link", &other)),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Request::Blocks { cids }
            }
            "fork" => {
                let log = f.text("log")?;
                check_log(&f, &log)?;
                Request::Fork { log }
            }
            "artifact" => {
                let cid = f.link("cid")?;
                if cid.codec() != Codec::Raw {
                    return Err(f.invalid("cid", "an artifact is raw bytes"));
                }
                Request::Artifact { cid }
            }
            _ => return Err(f.invalid("op", format!("unknown operation `{op}`"))),
        };
        f.finish()?;
        Ok(request)
    }
}

/// The largest announcement (gossip messages are at most 4,096 bytes).
pub const MAX_ANNOUNCEMENT: usize = 1024;

/// What an announcement tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announced {
    /// The sender holds the verified head `seq` of the log (payload CID `payload`).
    Head,
    /// The sender holds fork evidence for the log: two revisions at `seq`, one of them with
    /// payload CID `payload`.
    Fork,
}

/// A gossip announcement: a node holds the verified head `seq` (payload CID `payload`) of
/// `log`, or fork evidence at `seq`, and anyone who wants it can fetch it from the node that
/// sent the announcement. Receivers trust nothing in it: they fetch and verify before they keep
/// anything or announce it further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// A head or fork evidence.
    pub kind: Announced,
    /// The log (an index name or an identity ID).
    pub log: String,
    /// The head's seq.
    pub seq: u64,
    /// The head's payload CID.
    pub payload: Cid,
}

const ANNOUNCEMENT: &str = "announcement";

impl Announcement {
    /// The announcement's record bytes.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut m = Map::new();
        m.insert(
            "announce",
            Value::text(match self.kind {
                Announced::Head => "head",
                Announced::Fork => "fork",
            }),
        );
        m.insert("log", Value::text(self.log.as_str()));
        m.insert("seq", Value::Integer(self.seq.into()));
        m.insert("payload", Value::Link(self.payload.into()));
        crate::codec::encode(&Value::Map(m))
    }

    /// Reads an announcement; refuses anything else.
    pub fn decode(bytes: &[u8]) -> Result<Announcement, RecordError> {
        if bytes.len() > MAX_ANNOUNCEMENT {
            return Err(RecordError::TooLarge {
                size: bytes.len(),
                limit: MAX_ANNOUNCEMENT,
            });
        }
        let mut f = Fields::new(ANNOUNCEMENT, profile::decode_record(bytes)?)?;
        let kind = match f.text("announce")?.as_str() {
            "head" => Announced::Head,
            "fork" => Announced::Fork,
            other => {
                return Err(f.invalid("announce", format!("unknown announcement `{other}`")));
            }
        };
        let log = f.text("log")?;
        check_log(&f, &log)?;
        let seq = f.uint("seq")?;
        if seq == 0 {
            return Err(f.invalid("seq", "revisions start at 1"));
        }
        let payload = f.link("payload")?;
        if payload.codec() != Codec::DagCbor {
            return Err(f.invalid("payload", "a revision's payload is a record"));
        }
        f.finish()?;
        Ok(Announcement {
            kind,
            log,
            seq,
            payload,
        })
    }
}

/// The gossip topic of announcements of `log`: the BLAKE3 hash of `cairn/gossip/1/log/` and
/// the log's name.
#[must_use]
pub fn log_topic(log: &str) -> [u8; 32] {
    *blake3::hash(format!("cairn/gossip/1/log/{log}").as_bytes()).as_bytes()
}

/// The gossip topic every node joins: the BLAKE3 hash of `cairn/gossip/1/global`.
#[must_use]
pub fn global_topic() -> [u8; 32] {
    *blake3::hash(b"cairn/gossip/1/global").as_bytes()
}

/// Appends `varint(len) bytes` (a chain answer's framing).
pub fn frame(out: &mut Vec<u8>, bytes: &[u8]) {
    crate::multiformats::write_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Splits a chain answer into its envelopes; `None` when the framing is broken (a length not
/// in shortest form, or past the end) or an envelope is larger than a block may be.
#[must_use]
pub fn unframe(mut data: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let len = crate::multiformats::read_varint(&mut data).ok()?;
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= profile::MAX_BLOCK_SIZE)?;
        out.push(data.get(..len)?.to_vec());
        data = &data[len..];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_unknowns_are_refused() {
        let id = IdentityId::from_genesis(Cid::of_record(b"\xa0")).to_string();
        let payload = Cid::of_record(b"\x01");
        let requests = [
            Request::Head { log: id.clone() },
            Request::Head {
                log: format!("{id}:libfoo"),
            },
            Request::Chain {
                log: id.clone(),
                from: payload,
                stop: None,
                max: 10,
            },
            Request::Chain {
                log: id.clone(),
                from: payload,
                stop: Some(payload),
                max: MAX_CHAIN,
            },
            Request::Block { cid: payload },
            Request::Artifact {
                cid: Cid::of_raw(b"x"),
            },
            Request::Fork {
                log: format!("{id}:libfoo"),
            },
            Request::Blocks {
                cids: (0..MAX_BLOCKS as u32)
                    .map(|i| Cid::of_record(&i.to_be_bytes()))
                    .collect(),
            },
        ];
        for r in requests {
            assert_eq!(Request::decode(&r.encode()).expect("decode"), r);
        }
        let refused = |r: &Request| Request::decode(&r.encode()).expect_err("refused");
        assert!(matches!(
            refused(&Request::Head { log: "nope".into() }),
            RecordError::InvalidField { field: "log", .. }
        ));
        assert!(matches!(
            refused(&Request::Chain {
                log: id,
                from: payload,
                stop: None,
                max: MAX_CHAIN + 1
            }),
            RecordError::InvalidField { field: "max", .. }
        ));
        assert!(matches!(
            refused(&Request::Artifact { cid: payload }),
            RecordError::InvalidField { field: "cid", .. }
        ));
    }

    #[test]
    fn chain_framing_round_trips_and_refuses_broken_frames() {
        let mut out = Vec::new();
        let envs = [vec![], vec![1u8; 3], vec![2u8; 300]];
        for e in &envs {
            frame(&mut out, e);
        }
        assert_eq!(unframe(&out).expect("frames"), envs);
        assert!(unframe(&out[..out.len() - 1]).is_none(), "truncated");
        assert!(unframe(&[0x80]).is_none(), "cut varint");
    }
}
