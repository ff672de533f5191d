//! Announcements over iroh-gossip: the adapter that drives the node's announcement service
//! (`service`, which decides) with the home's store, gossip topics and fetches from peers.
//!
//! A running node tells its gossip neighbours about every head its home holds that moved (a
//! publish, a curator's publish, an import, a fetch), on the log's topic and on the global
//! topic; it re-announces when a neighbour joins and on a timer. A node that hears an
//! announcement of a log it follows fetches that log from the announcer through the verifier
//! and, only when it verified something newer, announces it to its own neighbours.
//! Announcements go to neighbours only (never flooded unverified), are rate-limited per peer and
//! per identity, and heads dated in the future beyond a tolerance are refused.

use std::collections::{BTreeSet, HashMap};
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

use super::service::{Command, Held, Input, LogState, Service};
use super::sync::{self, Peers, SyncOutcome};
use crate::home::Home;

/// How often the store's heads are read for changes.
const POLL: Duration = Duration::from_millis(500);
/// How often every head is announced again.
const REANNOUNCE: Duration = Duration::from_secs(30);
/// How far in the future a head's time (or a "have" message's) may be.
pub const FUTURE_TOLERANCE: u64 = 600;
/// How often the list of artifacts held is read again.
const ARTIFACTS_POLL: Duration = Duration::from_secs(5);

/// What the node's announcement task reports, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// A head was announced by a peer, fetched and verified: the log and its new seq.
    Fetched(String, u64),
    /// An announcement was dropped, and why.
    Dropped(String),
    /// A peer (its endpoint ID) said it holds this many artifacts, and that was recorded.
    Holds([u8; 32], usize),
}

/// The adapter's state.
struct Announcer {
    service: Service,
    started: Instant,
    /// When the store was last read.
    last_read: Instant,
    gossip: Gossip,
    ep: Endpoint,
    home: PathBuf,
    bootstrap: Vec<EndpointId>,
    senders: HashMap<[u8; 32], GossipSender>,
    events: mpsc::Sender<([u8; 32], Event)>,
    peers: HashMap<String, EndpointId>,
    heard: mpsc::UnboundedSender<Heard>,
    done: mpsc::Sender<(String, Result<Option<Announcement>, String>)>,
    /// The node key, which signs "have" messages.
    key: cairn_protocol::sign::SecretKey,
    /// The artifacts held, read at most every [`ARTIFACTS_POLL`].
    artifacts: BTreeSet<cairn_protocol::cid::Cid>,
    artifacts_read: Option<Instant>,
    /// An indexing node: every index heard of is fetched, with what a package index admits.
    crawl: bool,
}

/// Runs announcements until `stop` turns true. `heard` receives what was fetched or dropped.
/// A crawling node (`crawl`) fetches every index it hears of.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    crawl: Option<super::service::Limits>,
    key: cairn_protocol::sign::SecretKey,
    gossip: Gossip,
    ep: Endpoint,
    home: PathBuf,
    bootstrap: Vec<EndpointId>,
    mut stop: watch::Receiver<bool>,
    heard: mpsc::UnboundedSender<Heard>,
    mut pushes: mpsc::Receiver<super::push::Pushed>,
    ingest: Ingest,
) {
    let mut last_states = Instant::now();
    let (events, mut incoming) = mpsc::channel(1024);
    let (done, mut fetched) = mpsc::channel(64);
    let mut a = Announcer {
        service: crawl.map_or_else(Service::new, Service::crawler_with),
        crawl: crawl.is_some(),
        started: Instant::now(),
        last_read: Instant::now(),
        gossip,
        ep,
        home,
        bootstrap,
        senders: HashMap::new(),
        events,
        peers: HashMap::new(),
        heard,
        done,
        key,
        artifacts: BTreeSet::new(),
        artifacts_read: None,
    };
    a.join(wire::global_topic()).await;
    let mut poll = tokio::time::interval(POLL);
    let mut again = tokio::time::interval(REANNOUNCE);
    loop {
        let input = tokio::select! {
            _ = stop.changed() => break,
            _ = poll.tick() => match a.held_now() {
                Some(held) => {
                    a.last_read = Instant::now();
                    Input::Held(held)
                }
                None => continue,
            },
            _ = again.tick() => Input::Reannounce,
            Some(push) = pushes.recv() => {
                a.pushed(push).await;
                continue;
            }
            Some((topic, event)) = incoming.recv() => match event {
                Event::NeighborUp(id) if topic == wire::global_topic() => {
                    tracing::debug!("neighbour {} joined", id.fmt_short());
                    Input::NeighborUp
                }
                Event::NeighborUp(_) => Input::RoomNeighborUp,
                Event::Received(m) => {
                    let from = m.delivered_from.to_string();
                    a.peers.insert(from.clone(), m.delivered_from);
                    Input::Heard { from, bytes: m.content.to_vec() }
                }
                _ => continue,
            },
            Some((log, result)) = fetched.recv() => {
                match &result {
                    Ok(Some(got)) => {
                        tracing::info!(log = %got.log, seq = got.seq, "fetched and verified an announced {}", if got.kind == Announced::Fork { "fork" } else { "head" });
                        let _ = a.heard.send(Heard::Fetched(got.log.clone(), got.seq));
                    }
                    Ok(None) => {}
                    Err(why) => tracing::warn!("fetching `{log}` after an announcement: {why}"),
                }
                Input::Fetched { log, result: result.map(|r| r.is_some()) }
            }
        };
        // An announcement is judged against what the store holds now (another process may
        // have stored the log since the last poll), read at most every 100 ms.
        if matches!(input, Input::Heard { .. })
            && a.last_read.elapsed() > Duration::from_millis(100)
            && let Some(held) = a.held_now()
        {
            a.last_read = Instant::now();
            for command in a.service.handle(Input::Held(held), a.started.elapsed()) {
                a.run_command(command).await;
            }
        }
        let fetched = matches!(input, Input::Fetched { .. });
        for command in a.service.handle(input, a.started.elapsed()) {
            a.run_command(command).await;
        }
        // What a fetch stored is announced at once, not at the next poll.
        if fetched && let Some(held) = a.held_now() {
            for command in a.service.handle(Input::Held(held), a.started.elapsed()) {
                a.run_command(command).await;
            }
        }
        if last_states.elapsed() >= STATES_EVERY {
            last_states = Instant::now();
            ingest.set(a.service.states(a.started.elapsed()));
        }
    }
}

/// How often the ingest states are copied out for readers.
const STATES_EVERY: Duration = Duration::from_millis(250);

/// Where each log that is not synchronized stands in a node's ingest, as last copied out of
/// its announcer (at most a quarter of a second old).
#[derive(Debug, Clone, Default)]
pub struct Ingest(std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, LogState>>>);

impl Ingest {
    fn set(&self, states: std::collections::BTreeMap<String, LogState>) {
        if let Ok(mut s) = self.0.lock() {
            *s = states;
        }
    }

    /// The states, by log.
    #[must_use]
    pub fn states(&self) -> std::collections::BTreeMap<String, LogState> {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
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

    /// What the home holds now (the artifacts as read at most [`ARTIFACTS_POLL`] ago).
    fn held_now(&mut self) -> Option<Held> {
        let mut held = self.held()?;
        if self
            .artifacts_read
            .is_none_or(|t| t.elapsed() >= ARTIFACTS_POLL)
        {
            match Home::open(&self.home).and_then(|h| h.artifact_list()) {
                Ok(list) => {
                    self.artifacts = list.into_iter().collect();
                    self.artifacts_read = Some(Instant::now());
                }
                Err(e) => tracing::warn!("cannot list the artifacts held: {e}"),
            }
        }
        held.artifacts.clone_from(&self.artifacts);
        Some(held)
    }

    /// What the home holds now: heads and forks.
    fn held(&self) -> Option<Held> {
        let read = || -> Result<Held, crate::home::HomeError> {
            let home = Home::open(&self.home)?;
            let mut held = Held::default();
            for (log, seq, payload, kind) in home.heads()? {
                held.heads.insert(log, (seq, payload, kind));
            }
            for (log, seq, evidence) in home.fork_list()? {
                if let Some((payload, _)) = sync::links_of(&evidence) {
                    held.forks.insert((log, seq), payload);
                }
            }
            Ok(held)
        };
        read()
            .inspect_err(|e| tracing::warn!("cannot read what the home holds: {e}"))
            .ok()
    }

    async fn run_command(&mut self, command: Command) {
        match command {
            Command::Announce(a) => {
                self.join(wire::log_topic(&a.log)).await;
                let bytes = bytes::Bytes::from(a.encode());
                for topic in [wire::log_topic(&a.log), wire::global_topic()] {
                    if let Some(s) = self.senders.get(&topic)
                        && let Err(e) = s.broadcast_neighbors(bytes.clone()).await
                    {
                        tracing::debug!("announcing {}: {e}", a.log);
                    }
                }
                tracing::debug!(log = %a.log, seq = a.seq, "announced");
            }
            Command::Fetch {
                from,
                announcement,
                kind,
            } => {
                let Some(id) = self.peers.get(&from).copied() else {
                    return;
                };
                let (ep, dir, done) = (self.ep.clone(), self.home.clone(), self.done.clone());
                let crawl = self.crawl;
                tokio::spawn(async move {
                    let log = announcement.log.clone();
                    let result = fetch(ep, dir, id, announcement, &kind, crawl).await;
                    let _ = done.send((log, result)).await;
                });
            }
            Command::Have(artifacts) => {
                let own = super::own_addr(&self.ep);
                let have = wire::Have {
                    artifacts,
                    addrs: own.addrs.into_iter().take(wire::MAX_HAVE_ADDRS).collect(),
                    time: super::unix_now(),
                };
                let bytes = match have.sign(&self.key) {
                    Ok(b) => bytes::Bytes::from(b),
                    Err(e) => {
                        tracing::warn!("cannot sign a have message: {e}");
                        return;
                    }
                };
                let rooms: Vec<[u8; 32]> = self
                    .service_rooms()
                    .into_iter()
                    .map(|log| wire::log_topic(&log))
                    .collect();
                for topic in rooms {
                    self.join(topic).await;
                    if let Some(s) = self.senders.get(&topic)
                        && let Err(e) = s.broadcast(bytes.clone()).await
                    {
                        tracing::debug!("telling a room what this node holds: {e}");
                    }
                }
            }
            Command::Record { node, have } => {
                let now = super::unix_now();
                if node == *self.ep.id().as_bytes() {
                    return;
                }
                if have.time > now + FUTURE_TOLERANCE || have.time + crate::store::HAVE_TTL < now {
                    let _ = self.heard.send(Heard::Dropped(format!(
                        "a have message dated {}, outside the window",
                        have.time
                    )));
                    return;
                }
                let stored = Home::open(&self.home).and_then(|mut h| {
                    h.record_haves(&node, &have.addrs, have.time, &have.artifacts, now)
                });
                match stored {
                    Ok(()) => {
                        tracing::debug!(
                            node = %hex::encode(&node[..5]),
                            artifacts = have.artifacts.len(),
                            "a peer holds artifacts"
                        );
                        let _ = self.heard.send(Heard::Holds(node, have.artifacts.len()));
                    }
                    Err(e) => tracing::warn!("cannot record a have message: {e}"),
                }
            }
            Command::Dropped(why) => {
                tracing::debug!("dropped an announcement: {why}");
                let _ = self.heard.send(Heard::Dropped(why));
            }
            // Verdicts are answered by `pushed`, which asked for them.
            Command::Verdict(_) => {}
        }
    }

    /// Judges a push against what the store holds now, answers the pusher, and starts the
    /// fetches it asked for.
    async fn pushed(&mut self, pushed: super::push::Pushed) {
        let from = pushed.from.to_string();
        self.peers.insert(from.clone(), pushed.from);
        if let Some(held) = self.held_now() {
            self.last_read = Instant::now();
            for command in self
                .service
                .handle(Input::Held(held), self.started.elapsed())
            {
                self.run_command(command).await;
            }
        }
        let mut verdicts = Vec::new();
        let mut commands = Vec::new();
        for announcement in pushed.announcements {
            let input = Input::Pushed {
                from: from.clone(),
                announcement,
            };
            for command in self.service.handle(input, self.started.elapsed()) {
                match command {
                    Command::Verdict(v) => verdicts.push(v),
                    other => commands.push(other),
                }
            }
        }
        tracing::info!(
            pusher = %pushed.from.fmt_short(),
            "a push of {} heads: {}",
            verdicts.len(),
            verdicts.iter().map(wire::Verdict::text).collect::<Vec<_>>().join(", ")
        );
        let _ = pushed.answer.send(verdicts);
        for command in commands {
            self.run_command(command).await;
        }
    }
}

impl Announcer {
    /// The logs of the package indexes held: the project rooms this node is in.
    fn service_rooms(&self) -> Vec<String> {
        Home::open(&self.home)
            .and_then(|h| h.heads())
            .map(|heads| {
                heads
                    .into_iter()
                    .filter(|(_, _, _, kind)| kind == "package-index")
                    .map(|(log, ..)| log)
                    .collect()
            })
            .unwrap_or_default()
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
    crawl: bool,
) -> Result<Option<Announcement>, String> {
    let index: IndexName = a.log.parse().map_err(|e| format!("`{}`: {e}", a.log))?;
    let conn = tokio::time::timeout(
        Duration::from_secs(5),
        ep.connect(EndpointAddr::new(from), wire::ALPN),
    )
    .await
    .map_err(|_| "the announcer did not answer".to_owned())?
    .map_err(|e| format!("cannot reach the announcer: {e}"))?;
    let mut peers = Peers::from_connections(&ep, vec![(EndpointAddr::new(from), conn)]);
    peers.not_after = Some(super::unix_now() + FUTURE_TOLERANCE);
    let mut home = Home::open(&dir).map_err(|e| e.to_string())?;
    home.refetchable_writes().map_err(|e| e.to_string())?;
    if a.kind == Announced::Fork {
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
    let synced = if crawl || kind == super::service::UNKNOWN_KIND {
        // The kind is learnt from the head; a crawler takes what a package index admits too.
        let synced = sync::sync_any(&mut home, &mut peers, &index, crawl)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|s| s.log == a.log)
            .ok_or("the announcer answered nothing for the log")?;
        if crawl {
            crawl_identity(&mut home, &mut peers, &index).await;
        }
        synced
    } else if kind == "package-index" {
        sync::sync_index::<PackageIndex>(&mut home, &mut peers, &index)
            .await
            .map_err(|e| e.to_string())?
    } else {
        sync::sync_index::<VersionIndex>(&mut home, &mut peers, &index)
            .await
            .map_err(|e| e.to_string())?
    };
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

/// The most other indexes of one identity a crawler fetches after one announcement (the
/// next announcement of that identity's logs goes on).
const CRAWL_PER_IDENTITY: usize = 64;

/// A crawler goes from an announced index to its identity's other indexes: it asks the
/// announcer which it holds, and fetches those not held here (each verified as any fetch).
async fn crawl_identity(home: &mut Home, peers: &mut Peers, index: &IndexName) {
    let listed = sync::indexes_of(peers, index.identity()).await;
    let mut fetched = 0;
    for other in listed.iter().filter(|n| *n != index) {
        if fetched >= CRAWL_PER_IDENTITY {
            break;
        }
        if home.head(&other.to_string()).ok().flatten().is_some() {
            continue;
        }
        fetched += 1;
        match sync::sync_any(home, peers, other, true).await {
            Ok(_) => tracing::debug!(log = %other, "crawled from its identity"),
            Err(e) => tracing::debug!(log = %other, "cannot crawl: {e}"),
        }
    }
}
