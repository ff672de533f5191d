//! Fetching from peers: logs through the log verifier (head first, then exactly the revisions,
//! identity logs, state blocks and release records it asks for that this home lacks), a
//! curator's closure, and artifacts. Every byte is checked against what was asked for; a peer
//! that fails or lies costs a retry with the next peer, never a bad byte kept. Nothing of a
//! log is written until the verifier accepts the chain, and then it is written in one
//! transaction through the store's import (which also records forks and refuses rollbacks).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cairn_protocol::cid::Cid;
use cairn_protocol::identity::IdentityId;
use cairn_protocol::index::IndexKind;
use cairn_protocol::index::package::PackageIndex;
use cairn_protocol::index::version::VersionIndex;
use cairn_protocol::name::IndexName;
use cairn_protocol::release::{Artifact, Release};
use cairn_protocol::signed::{Opaque, Signed, domains};
use cairn_protocol::wire::{self, FOUND, NOT_HELD, Request};
use iroh::endpoint::Connection;
use iroh::{Endpoint, EndpointAddr, EndpointId};
use serde::Serialize;

use super::blobs;
use super::{NetError, Peer};
use crate::artifact::Receiving;
use crate::home::Home;
use crate::store::{ImportReport, Outcome, Store, StoreError};
use crate::verify::{Answer, LogVerifier, Need, Refusal, Step};

/// How long dialing one peer may take.
const DIAL: Duration = Duration::from_secs(5);
/// How long one request may take before the next peer is asked.
const REQUEST: Duration = Duration::from_secs(30);
/// The most indexes one closure may name.
const MAX_CLOSURE: usize = 10_000;

/// The peers a fetch asks, in order: the first that has something valid wins.
#[derive(Debug, Clone)]
pub struct Peers {
    conns: Vec<(EndpointId, Connection)>,
    /// The endpoint and addresses that artifact connections (their own ALPN) are dialed
    /// with.
    dialer: (Endpoint, BTreeMap<EndpointId, EndpointAddr>),
    /// Artifact connections opened so far, by peer.
    blobs: BTreeMap<EndpointId, Connection>,
    /// Why peers were skipped (unreachable, or sent something wrong), for the report.
    pub skipped: Vec<String>,
    /// Heads dated after this (Unix seconds) are refused.
    pub not_after: Option<u64>,
    /// Requests sent for logs and blocks, and the time spent waiting for their answers (the
    /// round trips' share of a sync).
    pub requests: u64,
    /// See [`Peers::requests`].
    pub waited: Duration,
    /// Artifacts fetched, by the peer they came from (its short ID).
    pub sources: BTreeMap<String, u64>,
    /// The peer whose answer [`Peers::ask`] returned last.
    answered: Option<EndpointId>,
}

/// What one answer said.
enum Reply {
    Found(Vec<u8>),
    NotHeld,
}

impl Peers {
    /// Dials `peers` from `ep`, all at once; those that cannot be reached are noted and
    /// skipped. The peers are asked nearest first (by how long the handshake took). Refused
    /// when none can be reached.
    pub async fn dial(ep: &Endpoint, peers: &[Peer]) -> Result<Peers, NetError> {
        let mut dials = tokio::task::JoinSet::new();
        for (i, p) in peers.iter().enumerate() {
            let (ep, p) = (ep.clone(), p.clone());
            dials.spawn(async move {
                let t = std::time::Instant::now();
                let r = tokio::time::timeout(DIAL, ep.connect(p.endpoint_addr(), wire::ALPN)).await;
                (i, p.id, t.elapsed(), r)
            });
        }
        let mut reached = Vec::new();
        let mut skipped = Vec::new();
        while let Some(done) = dials.join_next().await {
            let Ok((i, id, took, r)) = done else { continue };
            match r {
                Ok(Ok(c)) => reached.push((took, i, id, c)),
                Ok(Err(e)) => skipped.push(format!("{}: {e}", id.fmt_short())),
                Err(_) => skipped.push(format!("{}: no answer within {DIAL:?}", id.fmt_short())),
            }
        }
        if reached.is_empty() {
            return Err(NetError::Unavailable(if peers.is_empty() {
                "no peer to ask\n\nhint: add one with `cairn peer add ID@ADDR`, or pass `--from ID@ADDR`".into()
            } else {
                format!("no peer could be reached ({})", skipped.join("; "))
            }));
        }
        // Nearest first; the order given breaks ties (handshakes on one machine take alike).
        reached.sort_by_key(|(took, i, ..)| (took.as_millis() / 5, *i));
        Ok(Peers {
            conns: reached.into_iter().map(|(_, _, id, c)| (id, c)).collect(),
            dialer: (
                ep.clone(),
                peers.iter().map(|p| (p.id, p.endpoint_addr())).collect(),
            ),
            blobs: BTreeMap::new(),
            skipped,
            not_after: None,
            requests: 0,
            waited: Duration::ZERO,
            sources: BTreeMap::new(),
            answered: None,
        })
    }

    /// Peers over connections already open from `ep`, asked in the order given. Artifacts are
    /// fetched over connections of their own, dialed from `ep` at the same addresses.
    #[must_use]
    pub fn from_connections(ep: &Endpoint, conns: Vec<(EndpointAddr, Connection)>) -> Peers {
        Peers {
            dialer: (
                ep.clone(),
                conns.iter().map(|(a, _)| (a.id, a.clone())).collect(),
            ),
            conns: conns.into_iter().map(|(a, c)| (a.id, c)).collect(),
            blobs: BTreeMap::new(),
            skipped: Vec::new(),
            not_after: None,
            requests: 0,
            waited: Duration::ZERO,
            sources: BTreeMap::new(),
            answered: None,
        }
    }

    /// Asks each peer in turn until one answers with bytes that pass `check`.
    async fn ask(
        &mut self,
        request: &Request,
        limit: usize,
        check: impl Fn(&[u8]) -> bool,
    ) -> Option<Vec<u8>> {
        for (id, conn) in &self.conns {
            let t = std::time::Instant::now();
            let answer = tokio::time::timeout(REQUEST, ask_one(conn, request, limit)).await;
            self.requests += 1;
            self.waited += t.elapsed();
            match answer {
                Ok(Ok(Reply::Found(bytes))) if check(&bytes) => {
                    self.answered = Some(*id);
                    return Some(bytes);
                }
                Ok(Ok(Reply::Found(_))) => self.skipped.push(format!(
                    "{}: sent bytes that are not what was asked for ({request:?})",
                    id.fmt_short()
                )),
                Ok(Ok(Reply::NotHeld)) => {}
                Ok(Err(e)) => self.skipped.push(format!("{}: {e}", id.fmt_short())),
                Err(_) => self
                    .skipped
                    .push(format!("{}: no answer within {REQUEST:?}", id.fmt_short())),
            }
        }
        None
    }

    /// Asks the peers for blocks, many per request: each peer in turn for those still wanted.
    /// Only blocks that match their CID are returned; a peer that sends one that does not is
    /// named in [`Peers::skipped`].
    async fn ask_blocks(&mut self, mut wanted: Vec<Cid>) -> BTreeMap<Cid, Vec<u8>> {
        let mut got = BTreeMap::new();
        let limit = super::serve::BLOCKS_BYTES
            + wire::MAX_BLOCKS * 16
            + cairn_protocol::profile::MAX_BLOCK_SIZE;
        for (id, conn) in self.conns.clone() {
            let mut pending = wanted.clone();
            while !pending.is_empty() {
                let batch: Vec<Cid> = pending.iter().take(wire::MAX_BLOCKS).copied().collect();
                let request = Request::Blocks {
                    cids: batch.clone(),
                };
                let t = std::time::Instant::now();
                let answer = tokio::time::timeout(REQUEST, ask_one(&conn, &request, limit)).await;
                self.requests += 1;
                self.waited += t.elapsed();
                let frames = match answer {
                    Ok(Ok(Reply::Found(bytes))) => wire::unframe(&bytes),
                    Ok(Ok(Reply::NotHeld)) => None,
                    Ok(Err(e)) => {
                        self.skipped.push(format!("{}: {e}", id.fmt_short()));
                        None
                    }
                    Err(_) => {
                        self.skipped
                            .push(format!("{}: no answer within {REQUEST:?}", id.fmt_short()));
                        None
                    }
                };
                let Some(frames) = frames.filter(|f| !f.is_empty() && f.len() <= batch.len())
                else {
                    break;
                };
                for (cid, bytes) in batch.iter().zip(&frames) {
                    if bytes.is_empty() {
                        continue; // Not held there.
                    }
                    if cid.matches(bytes) {
                        got.insert(*cid, bytes.clone());
                    } else {
                        self.skipped.push(format!(
                            "{}: sent a block that does not match {cid}",
                            id.fmt_short()
                        ));
                    }
                }
                pending.drain(..frames.len());
            }
            wanted.retain(|c| !got.contains_key(c));
            if wanted.is_empty() {
                break;
            }
        }
        got
    }

    /// Closes the connections.
    pub fn close(&self) {
        for (_, c) in &self.conns {
            c.close(0u32.into(), b"done");
        }
    }
}

/// One request to one peer.
async fn ask_one(conn: &Connection, request: &Request, limit: usize) -> Result<Reply, String> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    send.write_all(&request.encode())
        .await
        .map_err(|e| e.to_string())?;
    send.finish().map_err(|e| e.to_string())?;
    let answer = recv
        .read_to_end(limit + 1)
        .await
        .map_err(|e| e.to_string())?;
    match answer.split_first() {
        Some((&FOUND, rest)) => Ok(Reply::Found(rest.to_vec())),
        Some((&NOT_HELD, _)) => Ok(Reply::NotHeld),
        Some((_, reason)) => Err(format!(
            "refused: {}",
            String::from_utf8_lossy(&reason[..reason.len().min(300)])
        )),
        None => Err("an empty answer".into()),
    }
}

/// An envelope's payload CID and `prev`, whatever its log kind.
pub fn links_of(envelope: &[u8]) -> Option<(Cid, Option<Cid>)> {
    let env = Signed::<Opaque<domains::Head>>::decode(envelope).ok()?;
    let prev = match &env.payload().value {
        cairn_protocol::codec::Value::Map(m) => match m.get("prev") {
            Some(cairn_protocol::codec::Value::Link(l)) => Some(Cid::try_from(l).ok()?),
            _ => None,
        },
        _ => None,
    };
    Some((env.payload_cid(), prev))
}

/// What syncing one log did.
#[derive(Debug, Clone, Serialize)]
pub struct Synced {
    /// The log.
    pub log: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: SyncOutcome,
}

/// What happened to one log.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum SyncOutcome {
    /// The store's import ran: the head, and what it found.
    Imported {
        /// The head afterwards.
        head: u64,
        /// The import's outcome.
        report: Outcome,
    },
    /// The peers hold this head already held here, or an older one.
    UpToDate {
        /// The head held.
        head: u64,
    },
    /// No peer holds the log.
    NotFound,
    /// The peers offered a chain the verifier refused: nothing was kept.
    Refused {
        /// Why.
        reason: String,
    },
}

/// The indexes of `identity` that the peers hold, as the first that lists any says (at most
/// [`wire::MAX_INDEXES`]; an answer naming another identity's index is skipped).
pub async fn indexes_of(peers: &mut Peers, identity: &IdentityId) -> Vec<IndexName> {
    let parse = |frame: &[u8]| {
        std::str::from_utf8(frame)
            .ok()
            .and_then(|t| t.parse::<IndexName>().ok())
            .filter(|n| n.identity() == identity)
    };
    let check = |bytes: &[u8]| {
        wire::unframe(bytes).is_some_and(|frames| {
            frames.len() <= wire::MAX_INDEXES && frames.iter().all(|f| parse(f).is_some())
        })
    };
    let request = Request::Indexes {
        identity: identity.to_string(),
    };
    // An index name: a 53-character identity ID, `:`, a name of at most 128 bytes; framed.
    let limit = wire::MAX_INDEXES * (53 + 1 + cairn_protocol::name::MAX_NAME_LEN + 2);
    match peers.ask(&request, limit, check).await {
        Some(bytes) => wire::unframe(&bytes)
            .unwrap_or_default()
            .iter()
            .filter_map(|f| parse(f))
            .collect(),
        None => Vec::new(),
    }
}

/// Fetches and verifies `index` from `peers` into `home`.
pub async fn sync_index<K: IndexKind<State: Send, Op: Send> + Send + 'static>(
    home: &mut Home,
    peers: &mut Peers,
    index: &IndexName,
) -> Result<Synced, NetError> {
    let head = peers
        .ask(
            &Request::Head {
                log: index.to_string(),
            },
            cairn_protocol::profile::MAX_BLOCK_SIZE,
            |b| Signed::<cairn_protocol::index::Revision<K>>::decode(b).is_ok(),
        )
        .await;
    sync_index_from::<K>(home, peers, index, head).await
}

/// [`sync_index`] from the head the peers answered (`None`: none held it); `head` decodes as
/// a revision of `K`.
async fn sync_index_from<K: IndexKind<State: Send, Op: Send> + Send + 'static>(
    home: &mut Home,
    peers: &mut Peers,
    index: &IndexName,
    head: Option<Vec<u8>>,
) -> Result<Synced, NetError> {
    let fetched = fetch_index_from::<K>(home, peers, index, head).await?;
    let (log, outcome) = write_fetched(home, vec![fetched])?
        .pop()
        .expect("one written for one fetched");
    Ok(Synced {
        log,
        outcome: outcome?,
    })
}

/// A log fetched from peers and verified, not yet written: [`write_fetched`] writes many in
/// one transaction.
pub struct Fetched {
    log: String,
    pending: Pending,
}

/// What writing a [`Fetched`] log takes.
enum Pending {
    /// Nothing to write: what happened.
    Done(SyncOutcome),
    /// The verified extension's write.
    Write(Box<Writer>),
}

/// A verified extension's write.
type Writer = dyn FnOnce(&mut Store) -> Result<ImportReport, StoreError> + Send;

/// What writing one fetched log did: the log, and its outcome or the store's refusal.
pub type Written = (String, Result<SyncOutcome, StoreError>);

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pending = match &self.pending {
            Pending::Done(outcome) => format!("{outcome:?}"),
            Pending::Write(_) => "verified, to write".to_owned(),
        };
        f.debug_struct("Fetched")
            .field("log", &self.log)
            .field("pending", &pending)
            .finish()
    }
}

/// Writes `fetched` logs in one immediate transaction, each in its own savepoint: a log the
/// store refuses (a rollback below its high-water mark, say) is undone alone, with its error
/// in its place, and the others are written. Each log comes back with what happened to it.
/// One commit for many logs is what lets a node that ingests thousands of small logs spend
/// its time verifying rather than committing.
///
/// # Errors
/// When the transaction cannot begin or commit: then nothing of it is written.
pub fn write_fetched(home: &mut Home, fetched: Vec<Fetched>) -> Result<Vec<Written>, StoreError> {
    let nothing = fetched
        .iter()
        .all(|f| matches!(f.pending, Pending::Done(_)));
    let write = |s: &mut Store| -> Result<_, StoreError> {
        let mut out = Vec::with_capacity(fetched.len());
        for Fetched { log, pending } in fetched {
            let outcome = match pending {
                Pending::Done(outcome) => Ok(outcome),
                Pending::Write(write) => s.unit(write).map(|report| SyncOutcome::Imported {
                    head: report.head,
                    report: report.outcome,
                }),
            };
            out.push((log, outcome));
        }
        Ok(out)
    };
    if nothing {
        return write(&mut home.store);
    }
    home.store.immediate(write)
}

/// Fetches and verifies `index` (of either kind, learnt from the head the peers hold) without
/// writing it: see [`write_fetched`].
///
/// # Errors
/// When this home's store cannot be read.
pub async fn fetch_any(
    home: &mut Home,
    peers: &mut Peers,
    index: &IndexName,
) -> Result<Fetched, NetError> {
    let head = ask_head(peers, index).await;
    match head.as_deref().and_then(kind_of_head) {
        Some("package-index") => fetch_index_from::<PackageIndex>(home, peers, index, head).await,
        Some(_) => fetch_index_from::<VersionIndex>(home, peers, index, head).await,
        None => Ok(Fetched {
            log: index.to_string(),
            pending: Pending::Done(SyncOutcome::NotFound),
        }),
    }
}

/// The head of `index` the peers hold, of either kind.
async fn ask_head(peers: &mut Peers, index: &IndexName) -> Option<Vec<u8>> {
    peers
        .ask(
            &Request::Head {
                log: index.to_string(),
            },
            cairn_protocol::profile::MAX_BLOCK_SIZE,
            |b| kind_of_head(b).is_some(),
        )
        .await
}

/// Verifies `index` from the head the peers answered (`None`: none held it), reading this
/// home and asking the peers for what it lacks; `head` decodes as a revision of `K`.
async fn fetch_index_from<K: IndexKind<State: Send, Op: Send> + Send + 'static>(
    home: &mut Home,
    peers: &mut Peers,
    index: &IndexName,
    head: Option<Vec<u8>>,
) -> Result<Fetched, NetError> {
    let store = &mut home.store;
    let log = index.to_string();
    let done = |outcome| Fetched {
        log: log.clone(),
        pending: Pending::Done(outcome),
    };
    let Some(head) = head else {
        return Ok(done(SyncOutcome::NotFound));
    };
    let Some((payload, _)) = links_of(&head) else {
        return Ok(done(SyncOutcome::NotFound));
    };
    if let Some(limit) = peers.not_after
        && let Ok(env) = Signed::<cairn_protocol::index::Revision<K>>::decode(&head)
        && env.payload().time > limit
    {
        return Ok(done(SyncOutcome::Refused {
            reason: format!(
                "the head is dated {}, in the future beyond the tolerance",
                env.payload().time
            ),
        }));
    }
    if let Some((seq, _)) = store.head(&log)?
        && store.revision_by_payload(&payload)?.is_some()
    {
        // The same head, or one this home has gone past (a peer behind, or a rollback offered).
        if let Ok(env) = Signed::<cairn_protocol::index::Revision<K>>::decode(&head)
            && env.payload().seq < seq
            && let Some(peer) = peers.answered
        {
            store.record_rollback(
                &log,
                &peer.to_string(),
                env.payload().seq,
                seq,
                super::unix_now(),
            )?;
        }
        return Ok(done(SyncOutcome::UpToDate { head: seq }));
    }
    let tip = store.index_tip::<K>(&log)?;
    let base = tip.map(|t| (t.seq(), t.payload_cid, t.revision.state));
    let records = std::any::type_name::<K>() == std::any::type_name::<VersionIndex>();
    let mut on = base;
    let mut outcome =
        verify_from_peers::<K>(store, peers, index, head.clone(), base, records).await?;
    if base.is_some() && matches!(outcome, Err(Refusal::Chain { .. })) {
        // The offer does not extend what is held: verify it from its first revision, and let
        // the import settle the divergence (a fork is recorded with its evidence).
        on = None;
        outcome = verify_from_peers::<K>(store, peers, index, head, None, records).await?;
    }
    let verified = match outcome {
        Ok(v) => v,
        Err(Refusal::Chain { log, seq, error }) => {
            return Ok(done(SyncOutcome::Refused {
                reason: format!("`{log}` revision {seq}: {error}"),
            }));
        }
        Err(Refusal::Unavailable(need)) => {
            return Ok(done(SyncOutcome::Refused {
                reason: format!("no peer holds {need:?}"),
            }));
        }
    };
    let index = index.clone();
    Ok(Fetched {
        log,
        pending: Pending::Write(Box::new(move |s| commit::<K>(s, &index, on, verified))),
    })
}

/// Writes a verified extension: identity logs first, then the index, then its records.
fn commit<K: IndexKind>(
    store: &mut Store,
    index: &IndexName,
    base: Option<crate::verify::Base>,
    mut verified: crate::verify::Verified<K>,
) -> Result<ImportReport, StoreError> {
    for update in &verified.identities {
        let log = update.identity.to_string();
        // Another log verified at the same time may have brought this identity's revisions
        // in first: a held payload CID at the same seq is the same chain up to it.
        if let Some((seq, payload, ..)) = update.revisions.last()
            && store.revision_by_payload(payload)? == Some((log.clone(), *seq))
        {
            continue;
        }
        let first = update.revisions.first().map_or(1, |r| r.0);
        let mut envelopes: Vec<Vec<u8>> = store
            .envelopes(&log)?
            .into_iter()
            .take(usize::try_from(first.saturating_sub(1)).unwrap_or(usize::MAX))
            .collect();
        envelopes.extend(update.revisions.iter().map(|r| r.2.clone()));
        if !envelopes.is_empty() {
            store.import_identity(&envelopes)?;
        }
    }
    let records = std::mem::take(&mut verified.records);
    let report = store.import_verified::<K>(index, base, verified)?;
    store.put_verified_blocks(&records)?;
    Ok(report)
}

/// Drives the log verifier from this store and the peers.
async fn verify_from_peers<K: IndexKind>(
    store: &mut Store,
    peers: &mut Peers,
    index: &IndexName,
    head: Vec<u8>,
    base: Option<crate::verify::Base>,
    records: bool,
) -> Result<Result<crate::verify::Verified<K>, Refusal>, NetError> {
    let (mut machine, mut step) = LogVerifier::<K>::start(index.clone(), head, base, records);
    // Envelopes a chain answer carried beyond the one asked for, by payload CID.
    let mut fetched: BTreeMap<Cid, Vec<u8>> = BTreeMap::new();
    // Blocks and records to fetch from peers, gathered while the walk down the chain goes on
    // and asked for many at a time when nothing else is left to answer.
    let mut deferred: Vec<Need> = Vec::new();
    loop {
        let needs = match step {
            Step::Done(done) => return Ok(*done),
            Step::Needs(needs) => needs,
        };
        let mut answers = Vec::with_capacity(needs.len());
        let mut remote = Vec::new();
        for need in needs {
            match local(store, &need, &mut fetched)? {
                Some(answer) => answers.push(answer),
                None if matches!(need, Need::Block(_) | Need::Record(_)) => deferred.push(need),
                None => remote.push(need),
            }
        }
        if answers.is_empty() && remote.is_empty() {
            if deferred.is_empty() {
                return Err(NetError::Unavailable(format!(
                    "verifying `{index}` stalled: nothing left to ask for"
                )));
            }
            remote = std::mem::take(&mut deferred);
        }
        answers.extend(fetch_all(store, peers, remote, &mut fetched).await?);
        step = machine.feed(answers);
    }
}

/// Answers a need from this store (or envelopes already fetched), when it can.
fn local(
    store: &Store,
    need: &Need,
    fetched: &mut BTreeMap<Cid, Vec<u8>>,
) -> Result<Option<Answer>, NetError> {
    Ok(match need {
        Need::Revision { log, payload } => {
            if let Some(env) = fetched.remove(payload) {
                Some(Answer::Revision(env))
            } else if let Some((held, seq)) = store.revision_by_payload(payload)?
                && held == *log
            {
                store.envelope(log, seq)?.map(Answer::Revision)
            } else {
                None
            }
        }
        Need::Keys { identity, seq } => Some(Answer::Keys {
            identity: *identity,
            seq: *seq,
            keys: store.key_state(identity, *seq)?,
        }),
        Need::IdentityHead { .. } => None,
        Need::Block(cid) | Need::Record(cid) => store.block(cid)?.map(|b| Answer::Block(*cid, b)),
    })
}

/// Answers needs from the peers: revisions by chain requests (one round trip brings up to
/// [`wire::MAX_CHAIN`] of them), identity heads, and blocks (up to [`wire::MAX_BLOCKS`] per
/// request).
async fn fetch_all(
    store: &mut Store,
    peers: &mut Peers,
    needs: Vec<Need>,
    fetched: &mut BTreeMap<Cid, Vec<u8>>,
) -> Result<Vec<Answer>, NetError> {
    let mut answers = Vec::new();
    let mut blocks = Vec::new();
    for need in needs {
        match need {
            Need::Revision { ref log, payload } => {
                let stop = store.head(log)?.map(|(_, p)| p);
                let request = Request::Chain {
                    log: log.clone(),
                    from: payload,
                    stop,
                    max: wire::MAX_CHAIN,
                };
                let limit =
                    super::serve::CHAIN_BYTES + cairn_protocol::profile::MAX_BLOCK_SIZE + 16;
                let chain = peers
                    .ask(&request, limit, |b| {
                        wire::unframe(b)
                            .and_then(|e| e.first().and_then(|e| links_of(e)))
                            .is_some_and(|(p, _)| p == payload)
                    })
                    .await
                    .and_then(|b| wire::unframe(&b));
                match chain {
                    Some(envelopes) => {
                        for env in envelopes {
                            if let Some((p, _)) = links_of(&env) {
                                fetched.insert(p, env);
                            }
                        }
                        answers.push(
                            fetched
                                .remove(&payload)
                                .map_or(Answer::Missing(need.clone()), Answer::Revision),
                        );
                    }
                    None => answers.push(Answer::Missing(need)),
                }
            }
            Need::IdentityHead { identity, .. } => {
                let envelope = peers
                    .ask(
                        &Request::Head {
                            log: identity.to_string(),
                        },
                        cairn_protocol::profile::MAX_BLOCK_SIZE,
                        |b| links_of(b).is_some(),
                    )
                    .await;
                answers.push(match envelope {
                    Some(envelope) => Answer::IdentityHead { identity, envelope },
                    None => Answer::Missing(need),
                });
            }
            Need::Block(cid) | Need::Record(cid) => blocks.push((cid, need)),
            Need::Keys { .. } => answers.push(Answer::Missing(need)),
        }
    }
    if !blocks.is_empty() {
        let mut got = peers
            .ask_blocks(blocks.iter().map(|(c, _)| *c).collect())
            .await;
        for (cid, need) in blocks {
            answers.push(match got.remove(&cid) {
                Some(b) => Answer::Block(cid, b),
                None => Answer::Missing(need),
            });
        }
    }
    Ok(answers)
}

/// Fetches the fork evidence peers hold for `index` and imports the revision of it this home
/// does not hold, so that the store records the fork itself (verified, with its evidence).
/// `None` when no peer holds evidence, or it changes nothing here.
pub async fn fetch_fork<K: IndexKind>(
    home: &mut Home,
    peers: &mut Peers,
    index: &IndexName,
) -> Result<Option<ImportReport>, NetError> {
    let log = index.to_string();
    let limit = 2 * (cairn_protocol::profile::MAX_BLOCK_SIZE + 16);
    let Some(pair) = peers
        .ask(&Request::Fork { log: log.clone() }, limit, |b| {
            wire::unframe(b).is_some_and(|e| e.len() == 2)
        })
        .await
        .and_then(|b| wire::unframe(&b))
    else {
        return Ok(None);
    };
    for envelope in pair {
        let Ok(env) = Signed::<cairn_protocol::index::Revision<K>>::decode(&envelope) else {
            continue;
        };
        let seq = env.payload().seq;
        if env.payload().index != *index
            || home
                .store
                .revision_by_payload(&env.payload_cid())?
                .is_some()
        {
            continue;
        }
        // A revision at a seq this home holds, other than the one it holds: the import
        // compares them and records the fork when one signer signed both.
        if home.store.head(&log)?.is_some_and(|(held, _)| held >= seq) {
            let report = home.store.import_index::<K>(index, &[envelope])?;
            return Ok(Some(report));
        }
    }
    Ok(None)
}

/// Syncs a curator's package index and everything it admits: the package indexes it includes
/// (and theirs) and every version index an alias names.
pub async fn sync_closure(
    home: &mut Home,
    peers: &mut Peers,
    root: &IndexName,
) -> Result<Vec<Synced>, NetError> {
    let mut out = Vec::new();
    let mut seen: BTreeSet<IndexName> = BTreeSet::new();
    let mut packages = vec![root.clone()];
    let mut versions: BTreeSet<IndexName> = BTreeSet::new();
    while let Some(p) = packages.pop() {
        if !seen.insert(p.clone()) || seen.len() > MAX_CLOSURE {
            continue;
        }
        out.push(sync_index::<PackageIndex>(home, peers, &p).await?);
        if let Some(tip) = home.store.index_tip::<PackageIndex>(&p.to_string())? {
            packages.extend(tip.state.includes.keys().cloned());
            versions.extend(tip.state.aliases().into_iter().map(|a| a.target));
        }
    }
    for v in versions.into_iter().take(MAX_CLOSURE) {
        out.push(sync_index::<VersionIndex>(home, peers, &v).await?);
    }
    Ok(out)
}

/// The kind of index a head envelope signs, told by its signing domain: `package-index` or
/// `version-index`.
#[must_use]
pub fn kind_of_head(head: &[u8]) -> Option<&'static str> {
    use cairn_protocol::index::Revision;
    if Signed::<Revision<VersionIndex>>::decode(head).is_ok() {
        Some("version-index")
    } else if Signed::<Revision<PackageIndex>>::decode(head).is_ok() {
        Some("package-index")
    } else {
        None
    }
}

/// Syncs `index` whatever its kind (learnt from the head the peers hold); a package index is
/// crawled with everything it admits when `closure` is set ([`sync_closure`]).
pub async fn sync_any(
    home: &mut Home,
    peers: &mut Peers,
    index: &IndexName,
    closure: bool,
) -> Result<Vec<Synced>, NetError> {
    let log = index.to_string();
    let head = ask_head(peers, index).await;
    // The head asked for here is the one synced: asking again would cost a round trip.
    Ok(match head.as_deref().and_then(kind_of_head) {
        Some("package-index") if closure => sync_closure(home, peers, index).await?,
        Some("package-index") => {
            vec![sync_index_from::<PackageIndex>(home, peers, index, head).await?]
        }
        Some(_) => vec![sync_index_from::<VersionIndex>(home, peers, index, head).await?],
        None => vec![Synced {
            log,
            outcome: SyncOutcome::NotFound,
        }],
    })
}

/// Fetches `artifact` into `home` over the peers' artifact protocol, checking every piece
/// against its CID as it arrives; `false` when no peer has it. A peer that fails or lies part
/// way through keeps what it sent right, and the next peer is asked for the rest.
pub async fn fetch_artifact(
    home: &mut Home,
    peers: &mut Peers,
    artifact: &Artifact,
) -> Result<bool, NetError> {
    let dir = home.dir().join("artifacts");
    let (dir, store) = (dir.as_path(), &mut home.store);
    if store.has_artifact(&artifact.cid)? && dir.join(artifact.cid.to_string()).is_file() {
        return Ok(true);
    }
    let io = |cause| StoreError::Io {
        path: dir.to_path_buf(),
        cause,
    };
    // Started at the first peer that answers, and kept from one peer to the next.
    let mut receiving: Option<Receiving> = None;
    for (id, _) in peers.conns.clone() {
        let conn = match peers.blob_connection(id).await {
            Ok(conn) => conn,
            Err(e) => {
                peers.skipped.push(format!("{}: {e}", id.fmt_short()));
                continue;
            }
        };
        let partial = match receiving.take() {
            Some(r) => r,
            None => Receiving::start(dir, artifact).map_err(io)?,
        };
        let (result, back) =
            match tokio::time::timeout(REQUEST * 10, blobs::receive(&conn, partial)).await {
                Ok(done) => done,
                Err(_) => (Err("took too long".to_string()), None),
            };
        receiving = back;
        match result {
            Ok(true) => {
                let staged = receiving
                    .take()
                    .map(Receiving::finish)
                    .transpose()
                    .map_err(io)?;
                if let Some(staged) = staged {
                    staged.keep(store, dir)?;
                    *peers.sources.entry(id.fmt_short().to_string()).or_default() += 1;
                    return Ok(true);
                }
            }
            Ok(false) => {}
            Err(e) => peers.skipped.push(format!(
                "{}: artifact {}: {e}",
                id.fmt_short(),
                artifact.cid
            )),
        }
    }
    Ok(false)
}

impl Peers {
    /// The artifact connection to `id`, dialed the first time it is asked for.
    async fn blob_connection(&mut self, id: EndpointId) -> Result<Connection, String> {
        if let Some(conn) = self.blobs.get(&id)
            && conn.close_reason().is_none()
        {
            return Ok(conn.clone());
        }
        let (ep, addrs) = &self.dialer;
        let addr = addrs
            .get(&id)
            .cloned()
            .unwrap_or_else(|| EndpointAddr::new(id));
        let conn = tokio::time::timeout(DIAL, ep.connect(addr, iroh_blobs::ALPN))
            .await
            .map_err(|_| format!("no answer within {DIAL:?}"))?
            .map_err(|e| e.to_string())?;
        self.blobs.insert(id, conn.clone());
        Ok(conn)
    }
}

/// The peers that said (in project rooms) that they hold one of `artifacts`, most recent claim
/// first, without this home's own node; claims from weak keys are skipped.
pub fn holders(home: &Home, artifacts: &[Artifact]) -> Result<Vec<Peer>, NetError> {
    let own = super::node_key(home.dir()).ok().map(|k| k.public());
    let now = super::unix_now();
    let mut out: Vec<Peer> = Vec::new();
    for a in artifacts {
        for (node, addrs) in home.store.holders(&a.cid, now)? {
            let Ok(id) = EndpointId::from_bytes(&node) else {
                continue;
            };
            if id.as_verifying_key().is_weak() || Some(id) == own || out.iter().any(|p| p.id == id)
            {
                continue;
            }
            out.push(Peer { id, addrs });
        }
    }
    Ok(out)
}

/// The artifacts a version index's releases list that `home` lacks (every platform).
pub fn missing_artifacts(home: &Home, index: &str) -> Result<Vec<Artifact>, NetError> {
    let dir = home.dir().join("artifacts");
    let store = &home.store;
    let mut out = Vec::new();
    if let Some(tip) = store.index_tip::<VersionIndex>(index)? {
        for e in tip.state.releases() {
            if let Some(bytes) = store.block(&e.release)?
                && let Ok(r) = Release::decode(&bytes)
            {
                for a in r.artifacts.values() {
                    if !(store.has_artifact(&a.cid)? && dir.join(a.cid.to_string()).is_file()) {
                        out.push(a.clone());
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Whether `log` names an identity (rather than an index).
#[must_use]
pub fn is_identity(log: &str) -> bool {
    log.parse::<IdentityId>().is_ok()
}
