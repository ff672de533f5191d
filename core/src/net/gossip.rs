//! Announcements: a running node tells its gossip neighbours about every head its home holds
//! that moved (a publish, a curator's publish, an import, a fetch), on the log's topic and on
//! the global topic; it re-announces when a neighbour joins and on a timer. A node that hears an
//! announcement of a log it follows fetches that log from the announcer through the verifier
//! and, only when it verified a newer head, announces it to its own neighbours. Announcements
//! go to neighbours only (never flooded unverified), are rate-limited per peer and per
//! identity, and heads dated in the future beyond a tolerance are refused.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cairn_protocol::index::package::PackageIndex;
use cairn_protocol::index::version::VersionIndex;
use cairn_protocol::name::IndexName;
use cairn_protocol::wire::{self, Announced, Announcement};
use iroh::{Endpoint, EndpointAddr, EndpointId};
use iroh_gossip::api::{Event, GossipSender};
use iroh_gossip::{Gossip, TopicId};
use n0_future::StreamExt as _;
use tokio::sync::{mpsc, watch};

use super::sync::{self, Peers, SyncOutcome};
use crate::home::Home;

/// How often the store's heads are read for changes.
const POLL: Duration = Duration::from_millis(500);
/// How often every head is announced again.
const REANNOUNCE: Duration = Duration::from_secs(30);
/// Announcements accepted from one peer, or about one identity's logs, per window.
const BUDGET: u32 = 32;
/// The rate-limit window.
const WINDOW: Duration = Duration::from_secs(10);
/// How far in the future a head's time may be.
pub const FUTURE_TOLERANCE: u64 = 600;
/// The most logs announced in one round (a home with more announces them over several).
const PER_ROUND: usize = 256;
/// Fetches running at once; an announcement heard while all are busy is dropped (the next
/// announcement, or a pull, brings the head).
const FETCHES: usize = 4;

/// What the node's announcement task reports, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// A head was announced by a peer, fetched and verified: the log and its new seq.
    Fetched(String, u64),
    /// An announcement was dropped, and why.
    Dropped(String),
}

/// A counter per key over a window.
#[derive(Debug, Default)]
struct Budget(HashMap<String, (Instant, u32)>);

impl Budget {
    fn allow(&mut self, key: &str, now: Instant) -> bool {
        if self.0.len() > 10_000 {
            self.0
                .retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = self.0.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= BUDGET
    }
}

/// The announcement task's state.
struct Announcer {
    gossip: Gossip,
    ep: Endpoint,
    home: PathBuf,
    bootstrap: Vec<EndpointId>,
    senders: HashMap<[u8; 32], GossipSender>,
    events: mpsc::Sender<([u8; 32], Event)>,
    /// The seq last announced per log.
    announced: BTreeMap<String, u64>,
    per_peer: Budget,
    per_identity: Budget,
    heard: mpsc::UnboundedSender<Heard>,
    /// Logs being fetched, and the slots for fetches.
    in_flight: std::collections::HashSet<String>,
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    done: mpsc::Sender<(String, Result<Option<Announcement>, String>)>,
}

/// Runs announcements until `stop` turns true. `heard` receives what was fetched or dropped.
pub(crate) async fn run(
    gossip: Gossip,
    ep: Endpoint,
    home: PathBuf,
    bootstrap: Vec<EndpointId>,
    mut stop: watch::Receiver<bool>,
    heard: mpsc::UnboundedSender<Heard>,
) {
    let (events, mut incoming) = mpsc::channel(1024);
    let (done, mut fetched) = mpsc::channel(64);
    let mut a = Announcer {
        gossip,
        ep,
        home,
        bootstrap,
        senders: HashMap::new(),
        events,
        announced: BTreeMap::new(),
        per_peer: Budget::default(),
        per_identity: Budget::default(),
        heard,
        in_flight: std::collections::HashSet::new(),
        slots: std::sync::Arc::new(tokio::sync::Semaphore::new(FETCHES)),
        done,
    };
    a.join(wire::global_topic()).await;
    let mut poll = tokio::time::interval(POLL);
    let mut again = tokio::time::interval(REANNOUNCE);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = poll.tick() => a.announce_changes(false).await,
            _ = again.tick() => a.announce_changes(true).await,
            Some((topic, event)) = incoming.recv() => a.on_event(topic, event).await,
            Some((log, result)) = fetched.recv() => a.on_fetched(log, result).await,
        }
    }
}

impl Announcer {
    /// Subscribes to `topic` (once), forwarding its events.
    async fn join(&mut self, topic: [u8; 32]) {
        if self.senders.contains_key(&topic) {
            return;
        }
        match self
            .gossip
            .subscribe(TopicId::from_bytes(topic), self.bootstrap.clone())
            .await
        {
            Ok(sub) => {
                let (sender, mut receiver) = sub.split();
                self.senders.insert(topic, sender);
                let events = self.events.clone();
                tokio::spawn(async move {
                    while let Some(Ok(event)) = receiver.next().await {
                        if events.send((topic, event)).await.is_err() {
                            break;
                        }
                    }
                });
            }
            Err(e) => tracing::warn!("cannot join a gossip topic: {e}"),
        }
    }

    /// Announces every head that moved since the last round (`all`: every head).
    async fn announce_changes(&mut self, all: bool) {
        let heads = match Home::open(&self.home).and_then(|h| h.heads()) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!("cannot read the heads to announce: {e}");
                return;
            }
        };
        let moved: Vec<Announcement> = heads
            .into_iter()
            .filter(|(log, seq, _, kind)| {
                kind != "identity" && (all || self.announced.get(log) != Some(seq))
            })
            .take(PER_ROUND)
            .map(|(log, seq, payload, _)| Announcement {
                kind: Announced::Head,
                log,
                seq,
                payload,
            })
            .collect();
        for a in moved {
            self.announce(&a).await;
        }
        // Fork evidence held here, announced once per fork (and again with every head).
        let forks = match Home::open(&self.home).and_then(|h| h.fork_list()) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!("cannot read the forks to announce: {e}");
                return;
            }
        };
        for (log, seq, evidence) in forks {
            let key = format!("fork {log} {seq}");
            if !all && self.announced.contains_key(&key) {
                continue;
            }
            if let Some((payload, _)) = sync::links_of(&evidence) {
                let a = Announcement {
                    kind: Announced::Fork,
                    log,
                    seq,
                    payload,
                };
                self.announce(&a).await;
                self.announced.insert(key, seq);
            }
        }
    }

    /// Sends an announcement to the neighbours on its log's topic and on the global topic.
    async fn announce(&mut self, a: &Announcement) {
        self.join(wire::log_topic(&a.log)).await;
        let bytes = bytes::Bytes::from(a.encode());
        for topic in [wire::log_topic(&a.log), wire::global_topic()] {
            if let Some(s) = self.senders.get(&topic)
                && let Err(e) = s.broadcast_neighbors(bytes.clone()).await
            {
                tracing::debug!("announcing {}: {e}", a.log);
            }
        }
        if a.kind == Announced::Head && self.announced.insert(a.log.clone(), a.seq) != Some(a.seq) {
            tracing::info!(log = %a.log, seq = a.seq, "announced");
        }
    }

    async fn on_event(&mut self, topic: [u8; 32], event: Event) {
        match event {
            Event::NeighborUp(id) => {
                tracing::debug!("neighbour {} joined", id.fmt_short());
                // Tell the newcomer what is held: every head, again.
                if topic == wire::global_topic() {
                    self.announce_changes(true).await;
                }
            }
            Event::Received(m) => {
                let from = m.delivered_from;
                if let Err(why) = self.on_announcement(from, &m.content) {
                    tracing::debug!("dropped an announcement from {}: {why}", from.fmt_short());
                    let _ = self.heard.send(Heard::Dropped(why));
                }
            }
            _ => {}
        }
    }

    /// What a fetch found: relays a newer verified head.
    async fn on_fetched(&mut self, log: String, result: Result<Option<Announcement>, String>) {
        self.in_flight.remove(&log);
        match result {
            Ok(Some(relay)) => {
                let _ = self
                    .heard
                    .send(Heard::Fetched(relay.log.clone(), relay.seq));
                self.announce(&relay).await;
            }
            Ok(None) => {}
            Err(why) => {
                tracing::warn!("fetching `{log}` after an announcement: {why}");
                let _ = self.heard.send(Heard::Dropped(why));
            }
        }
    }

    /// Checks an announcement (cheaply, before anything is fetched) and starts fetching what
    /// it announces from the announcer.
    fn on_announcement(&mut self, from: EndpointId, content: &[u8]) -> Result<(), String> {
        let a = Announcement::decode(content).map_err(|e| format!("malformed: {e}"))?;
        let now = Instant::now();
        if !self.per_peer.allow(&from.to_string(), now) {
            return Err(format!("over the budget of peer {}", from.fmt_short()));
        }
        let identity = a.log.split(':').next().unwrap_or(&a.log).to_owned();
        if !self.per_identity.allow(&identity, now) {
            return Err(format!("over the budget of identity {identity}"));
        }
        let home = Home::open(&self.home).map_err(|e| e.to_string())?;
        let Some(kind) = home.head_kind(&a.log).map_err(|e| e.to_string())? else {
            return Ok(()); // Not a log this home follows.
        };
        if kind == "identity" {
            return Ok(()); // Identity logs travel with the indexes that cite them.
        }
        let held = home.head(&a.log).map_err(|e| e.to_string())?;
        let known = match a.kind {
            // Held already, or older than what is held.
            Announced::Head => held.is_some_and(|(seq, _)| seq >= a.seq),
            // Evidence already held at that seq, or a seq this home has not reached (the head
            // announcements bring the log first).
            Announced::Fork => {
                held.is_none_or(|(seq, _)| seq < a.seq)
                    || home
                        .forks(&a.log)
                        .map_err(|e| e.to_string())?
                        .iter()
                        .any(|f| f.seq == a.seq)
            }
        };
        if known {
            return Ok(());
        }
        drop(home);
        if self.in_flight.contains(&a.log) {
            return Ok(());
        }
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            return Err(format!(
                "busy: `{}` is left for a later announcement",
                a.log
            ));
        };
        self.in_flight.insert(a.log.clone());
        let kind = if a.kind == Announced::Fork {
            format!("fork {kind}")
        } else {
            kind
        };
        let (ep, dir, done) = (self.ep.clone(), self.home.clone(), self.done.clone());
        tokio::spawn(async move {
            let log = a.log.clone();
            let result = fetch(ep, dir, from, a, &kind).await;
            drop(slot);
            let _ = done.send((log, result)).await;
        });
        Ok(())
    }
}

/// Fetches an announced log from its announcer through the verifier; the head to relay when a
/// newer one was verified and stored.
async fn fetch(
    ep: Endpoint,
    dir: PathBuf,
    from: EndpointId,
    a: Announcement,
    kind: &str,
) -> Result<Option<Announcement>, String> {
    let index: IndexName = a.log.parse().map_err(|e| format!("`{}`: {e}", a.log))?;
    let conn = tokio::time::timeout(
        Duration::from_secs(5),
        ep.connect(EndpointAddr::new(from), wire::ALPN),
    )
    .await
    .map_err(|_| "the announcer did not answer".to_owned())?
    .map_err(|e| format!("cannot reach the announcer: {e}"))?;
    let mut peers = Peers::from_connections(vec![(from, conn)]);
    peers.not_after = Some(super::unix_now() + FUTURE_TOLERANCE);
    let mut home = Home::open(&dir).map_err(|e| e.to_string())?;
    if let Some(kind) = kind.strip_prefix("fork ") {
        let report = if kind == "package-index" {
            sync::fetch_fork::<PackageIndex>(&mut home, &mut peers, &index).await
        } else {
            sync::fetch_fork::<VersionIndex>(&mut home, &mut peers, &index).await
        }
        .map_err(|e| e.to_string())?;
        peers.close();
        return Ok(match report.map(|r| r.outcome) {
            Some(crate::store::Outcome::Fork { seq, .. }) => Some(Announcement {
                kind: Announced::Fork,
                log: a.log,
                seq,
                payload: a.payload,
            }),
            _ => None,
        });
    }
    let synced = if kind == "package-index" {
        sync::sync_index::<PackageIndex>(&mut home, &mut peers, &index).await
    } else {
        sync::sync_index::<VersionIndex>(&mut home, &mut peers, &index).await
    }
    .map_err(|e| e.to_string())?;
    peers.close();
    match synced.outcome {
        SyncOutcome::Imported { .. } => {
            let (seq, payload) = home
                .head(&a.log)
                .map_err(|e| e.to_string())?
                .ok_or("the log vanished")?;
            Ok(Some(Announcement {
                kind: Announced::Head,
                log: a.log,
                seq,
                payload,
            }))
        }
        SyncOutcome::Refused { reason } => Err(format!("`{}` refused: {reason}", a.log)),
        SyncOutcome::UpToDate { .. } | SyncOutcome::NotFound => Ok(None),
    }
}
