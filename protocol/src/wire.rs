//! Peer requests: what one Cairn node asks another for over the `cairn/sync/2` protocol, and
//! what it tells others: gossip announcements, project-room messages and direct pushes.
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
pub const ALPN: &[u8] = b"cairn/sync/2";

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
    /// The fork evidence the node holds for `log`: the two envelopes of its first recorded
    /// fork, framed as in a chain answer.
    Fork {
        /// The log.
        log: String,
    },
    /// The names of the indexes the node holds that `identity` signs (at most
    /// [`MAX_INDEXES`], in name order), each framed as in a chain answer: how a crawler goes
    /// from an identity to its indexes.
    Indexes {
        /// The identity ID.
        identity: String,
    },
}

/// The most index names one `indexes` answer lists.
pub const MAX_INDEXES: usize = 1024;

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
            Request::Fork { log } => ("fork", Some(log)),
            Request::Indexes { identity } => ("indexes", Some(identity)),
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
            "indexes" => {
                let identity = f.text("log")?;
                if identity.parse::<IdentityId>().is_err() {
                    return Err(f.invalid("log", "`indexes` asks about an identity ID"));
                }
                Request::Indexes { identity }
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

/// The most artifacts one "have" message lists.
pub const MAX_HAVE_ARTIFACTS: usize = 16;
/// The most addresses one "have" message gives.
pub const MAX_HAVE_ADDRS: usize = 4;

/// A node's "have" message in a project room: the node (the envelope's one signer, its
/// node key) holds these artifacts and can be dialed at these addresses. It is gossiped to the
/// whole topic of a curator's package index (unlike announcements, which go to neighbours
/// only), so every machine of a project learns which of its peers holds what. Receivers trust
/// only the signature: a peer listed may still lack an artifact, and every byte fetched from
/// it is checked against the artifact's CID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Have {
    /// Raw CIDs of the artifacts, sorted by their bytes, none twice, at most
    /// [`MAX_HAVE_ARTIFACTS`]. None: the node joined the room and holds nothing yet (the
    /// others answer by telling what they hold).
    pub artifacts: Vec<Cid>,
    /// Direct addresses of the node, 0 to [`MAX_HAVE_ADDRS`].
    pub addrs: Vec<std::net::SocketAddr>,
    /// Seconds since the Unix epoch when the node signed it.
    pub time: u64,
}

const HAVE: &str = "have";

impl crate::signed::Payload for Have {
    const DOMAIN: crate::sign::Domain = crate::sign::Domain::Have;

    fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "have",
            Value::List(
                self.artifacts
                    .iter()
                    .map(|c| Value::Link((*c).into()))
                    .collect(),
            ),
        );
        m.insert(
            "addrs",
            Value::List(
                self.addrs
                    .iter()
                    .map(|a| Value::text(a.to_string()))
                    .collect(),
            ),
        );
        m.insert("time", Value::Integer(self.time.into()));
        Value::Map(m)
    }

    fn from_value(value: Value) -> Result<Have, RecordError> {
        let mut f = Fields::new(HAVE, value)?;
        let mut artifacts = Vec::new();
        let listed = f.list("have")?;
        if listed.len() > MAX_HAVE_ARTIFACTS {
            return Err(f.invalid(
                "have",
                format!("at most {MAX_HAVE_ARTIFACTS} artifact links"),
            ));
        }
        for item in listed {
            let cid = match item {
                Value::Link(l) => {
                    Cid::try_from(&l).map_err(|e| f.invalid("have", e.to_string()))?
                }
                other => return Err(f.wrong_type("have", "link", &other)),
            };
            if cid.codec() != Codec::Raw {
                return Err(f.invalid("have", "an artifact is a raw block"));
            }
            if artifacts
                .last()
                .is_some_and(|last: &Cid| last.to_bytes() >= cid.to_bytes())
            {
                return Err(f.invalid("have", "artifacts sorted by their bytes, none twice"));
            }
            artifacts.push(cid);
        }
        let listed = f.list("addrs")?;
        if listed.len() > MAX_HAVE_ADDRS {
            return Err(f.invalid("addrs", format!("at most {MAX_HAVE_ADDRS} addresses")));
        }
        let mut addrs = Vec::new();
        for item in listed {
            let text = match item {
                Value::String(t) => t,
                other => return Err(f.wrong_type("addrs", "string", &other)),
            };
            match text.parse::<std::net::SocketAddr>() {
                Ok(a) if a.to_string() == text => addrs.push(a),
                _ => {
                    return Err(f.invalid(
                        "addrs",
                        format!("`{text}` is not an address in its shortest form (ip:port)"),
                    ));
                }
            }
        }
        let time = f.uint("time")?;
        f.finish()?;
        Ok(Have {
            artifacts,
            addrs,
            time,
        })
    }
}

impl Have {
    /// Reads and verifies a "have" message: at most [`MAX_ANNOUNCEMENT`] bytes, a signed
    /// envelope with exactly one signature (more is `envelope-too-many-signatures`), whose
    /// key is the sending node's. Returns the node's key (its endpoint ID) and the message.
    pub fn open(bytes: &[u8]) -> Result<([u8; 32], Have), crate::signed::SignedError> {
        use crate::signed::{Signed, SignedError};
        if bytes.len() > MAX_ANNOUNCEMENT {
            return Err(SignedError::Record(RecordError::TooLarge {
                size: bytes.len(),
                limit: MAX_ANNOUNCEMENT,
            }));
        }
        let signed = Signed::<Have>::decode(bytes)?;
        let count = signed.signers().count();
        if count != 1 {
            return Err(SignedError::TooManySignatures(count));
        }
        let signed = signed.verify()?;
        let key = *signed
            .signers()
            .next()
            .ok_or(SignedError::NoSignatures)?
            .as_bytes();
        Ok((key, signed.payload().clone()))
    }

    /// Signs a "have" message with a node key.
    pub fn sign(
        &self,
        node: &crate::sign::SecretKey,
    ) -> Result<Vec<u8>, crate::signed::SignedError> {
        Ok(crate::signed::Signed::sign(self.clone(), &[node])?.encode())
    }
}

/// What a gossip message is: an announcement, or a "have" message (a signed envelope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gossiped {
    /// A head or fork evidence, from the neighbour that delivered it.
    Announcement(Announcement),
    /// A node's artifacts, signed by it: its node key, and the message.
    Have([u8; 32], Have),
}

impl Gossiped {
    /// Reads a gossip message: a signed envelope (it starts with the envelope's first field,
    /// `payload`) is a "have" message, anything else must be an announcement.
    pub fn decode(bytes: &[u8]) -> Result<Gossiped, String> {
        const ENVELOPE: &[u8] = b"\xa2\x67payload";
        if bytes.starts_with(ENVELOPE) {
            Have::open(bytes)
                .map(|(key, have)| Gossiped::Have(key, have))
                .map_err(|e| format!("{}: {e}", e.code()))
        } else {
            Announcement::decode(bytes)
                .map(Gossiped::Announcement)
                .map_err(|e| format!("{}: {e}", e.code()))
        }
    }
}

/// The ALPN of pushes: a node tells another, directly, which heads it holds.
pub const PUSH_ALPN: &[u8] = b"cairn/push/1";

/// The most announcements one push carries.
pub const MAX_PUSH: usize = 64;

/// Why a push is refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The framing is broken.
    #[error("the push's framing is broken (a length not in shortest form, or past the end)")]
    Frame,
    /// No announcement, or more than [`MAX_PUSH`].
    #[error("a push carries 1 to {MAX_PUSH} announcements; this one carries {0}")]
    Count(usize),
    /// An announcement is not one.
    #[error("announcement {index}: {error}")]
    Announcement {
        /// Its position, from 0.
        index: usize,
        /// Why.
        error: RecordError,
    },
}

impl PushError {
    /// The stable error code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            PushError::Frame => "push-frame",
            PushError::Count(_) => "push-count",
            PushError::Announcement { error, .. } => error.code(),
        }
    }
}

/// A push: announcements, each framed as in a chain answer.
#[must_use]
pub fn encode_push(announcements: &[Announcement]) -> Vec<u8> {
    let mut out = Vec::new();
    for a in announcements {
        frame(&mut out, &a.encode());
    }
    out
}

/// Reads a push: 1 to [`MAX_PUSH`] framed announcements.
///
/// # Errors
/// Broken framing, a count out of range, or an announcement that is not one.
pub fn decode_push(bytes: &[u8]) -> Result<Vec<Announcement>, PushError> {
    let frames = unframe(bytes).ok_or(PushError::Frame)?;
    if frames.is_empty() || frames.len() > MAX_PUSH {
        return Err(PushError::Count(frames.len()));
    }
    frames
        .iter()
        .enumerate()
        .map(|(index, f)| {
            Announcement::decode(f).map_err(|error| PushError::Announcement { index, error })
        })
        .collect()
}

/// What a node did with one pushed announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It fetches the log from the pusher.
    Fetching,
    /// It holds that head or a newer one, or waits for it already.
    Held,
    /// It dropped it, and why (a budget, a log it does not follow, a full queue).
    Dropped(String),
}

impl Verdict {
    /// Its text: `fetching`, `held` or `dropped: <why>`.
    #[must_use]
    pub fn text(&self) -> String {
        match self {
            Verdict::Fetching => "fetching".to_owned(),
            Verdict::Held => "held".to_owned(),
            Verdict::Dropped(why) => format!("dropped: {why}"),
        }
    }

    /// Reads a verdict's text.
    #[must_use]
    pub fn parse(text: &str) -> Option<Verdict> {
        match text {
            "fetching" => Some(Verdict::Fetching),
            "held" => Some(Verdict::Held),
            _ => text
                .strip_prefix("dropped: ")
                .map(|why| Verdict::Dropped(why.to_owned())),
        }
    }
}

/// The answer to a push: one verdict per announcement, in order, each framed as UTF-8 text.
#[must_use]
pub fn encode_verdicts(verdicts: &[Verdict]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in verdicts {
        frame(&mut out, v.text().as_bytes());
    }
    out
}

/// Reads the answer to a push; `None` when the framing is broken or a verdict is not one.
#[must_use]
pub fn decode_verdicts(bytes: &[u8]) -> Option<Vec<Verdict>> {
    unframe(bytes)?
        .into_iter()
        .map(|f| String::from_utf8(f).ok().and_then(|t| Verdict::parse(&t)))
        .collect()
}

/// The ALPN of searches: a node asks an indexing node's search, as its HTTP API would answer.
pub const SEARCH_ALPN: &[u8] = b"cairn/search/1";

/// The longest search query, in bytes.
pub const MAX_SEARCH_QUERY: usize = 256;

/// The most results one search asks for.
pub const MAX_SEARCH_RESULTS: u64 = 100;

const SEARCH: &str = "search request";

/// A search request: `{search, limit}`, one per stream. The answer is one status byte, then
/// ([`FOUND`]) the JSON document the HTTP API's `/api/v1/search` answers, or ([`REFUSED`]) why
/// in UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    /// The words and filters.
    pub query: String,
    /// How many results, 1 to [`MAX_SEARCH_RESULTS`].
    pub limit: u64,
}

impl SearchRequest {
    /// The request's record bytes.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut m = Map::new();
        m.insert("search", Value::text(self.query.as_str()));
        m.insert("limit", Value::Integer(self.limit.into()));
        crate::codec::encode(&Value::Map(m))
    }

    /// Reads a search request; refuses anything else.
    ///
    /// # Errors
    /// A record error, a query longer than [`MAX_SEARCH_QUERY`] bytes, or a limit out of range.
    pub fn decode(bytes: &[u8]) -> Result<SearchRequest, RecordError> {
        if bytes.len() > MAX_REQUEST {
            return Err(RecordError::TooLarge {
                size: bytes.len(),
                limit: MAX_REQUEST,
            });
        }
        let mut f = Fields::new(SEARCH, profile::decode_record(bytes)?)?;
        let query = f.text("search")?;
        if query.len() > MAX_SEARCH_QUERY {
            return Err(f.invalid(
                "search",
                format!("{} bytes; at most {MAX_SEARCH_QUERY}", query.len()),
            ));
        }
        let limit = f.uint("limit")?;
        if limit == 0 || limit > MAX_SEARCH_RESULTS {
            return Err(f.invalid("limit", format!("1 to {MAX_SEARCH_RESULTS}")));
        }
        f.finish()?;
        Ok(SearchRequest { query, limit })
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

    #[test]
    fn the_largest_have_fits_and_a_have_is_checked() {
        let node = crate::sign::SecretKey::from_seed(&[9; 32]);
        let mut artifacts: Vec<Cid> = (0..MAX_HAVE_ARTIFACTS as u32)
            .map(|i| Cid::of_raw(&i.to_be_bytes()))
            .collect();
        artifacts.sort_by_key(Cid::to_bytes);
        let widest: std::net::SocketAddr = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535"
            .parse()
            .expect("addr");
        let have = Have {
            artifacts: artifacts.clone(),
            addrs: vec![widest; MAX_HAVE_ADDRS],
            time: u64::MAX,
        };
        let bytes = have.sign(&node).expect("sign");
        assert!(bytes.len() <= MAX_ANNOUNCEMENT, "{} bytes", bytes.len());
        assert_eq!(
            Gossiped::decode(&bytes).expect("decode"),
            Gossiped::Have(*node.public().as_bytes(), have.clone())
        );
        // Unsorted artifacts, a record CID, and a second signer are refused.
        let mut unsorted = have.clone();
        unsorted.artifacts.swap(0, 1);
        assert!(Have::open(&unsorted.sign(&node).expect("sign")).is_err());
        let mut record = have.clone();
        record.artifacts = vec![Cid::of_record(b"\xa0")];
        assert!(Have::open(&record.sign(&node).expect("sign")).is_err());
        let other = crate::sign::SecretKey::from_seed(&[10; 32]);
        let small = Have {
            artifacts: artifacts[..1].to_vec(),
            addrs: Vec::new(),
            time: 1,
        };
        let two = crate::signed::Signed::sign(small, &[&node, &other])
            .expect("sign")
            .encode();
        assert_eq!(
            Have::open(&two).map_err(|e| e.code()),
            Err("envelope-too-many-signatures")
        );
        // A flipped byte of the signature fails verification.
        let mut forged = bytes.clone();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert!(Gossiped::decode(&forged).is_err());
    }
}
