//! The announcement logic of a node, with no I/O of its own: inputs (what the store holds, an
//! announcement heard, a fetch finished, a neighbour joined, a timer) go in, commands (announce
//! this, fetch that from this peer, report) come out. The iroh adapter in `gossip` drives it in
//! production; the simulator in `sim` drives many of them over a seeded, lossy in-memory network,
//! so that convergence can be tested deterministically.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use cairn_protocol::cid::Cid;
use cairn_protocol::wire::{self, Announced, Announcement, Gossiped, Have};

use super::sync::is_identity;

/// Announcements accepted from one peer, or about one identity's logs, per window.
pub const BUDGET: u32 = 32;
/// The rate-limit window.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Fetches running at once; an announcement heard while all are busy waits in the queue.
pub const FETCHES: usize = 4;
/// Logs waiting for a fetch (one entry per log, the latest announcement wins); an announcement
/// of another log heard while the queue is full is dropped (re-announcements bring it again),
/// unless its identity is held here and a stranger's log waits: that one makes way.
pub const MAX_QUEUE: usize = 10_000;
/// The kind a crawling node gives a log it does not hold yet: the fetch learns it from the
/// head's signing domain.
pub const UNKNOWN_KIND: &str = "unknown";
/// The most logs announced in one round (a home with more announces them over several).
pub const PER_ROUND: usize = 256;
/// The most "have" messages sent in one round (each lists up to 16 artifacts).
pub const HAVES_PER_ROUND: usize = 64;
/// The rooms are told every artifact held at most once per this window (a joining neighbour
/// or a node new here asks for it; more asks in the window are answered once, at its end).
pub const ROOM_WINDOW: Duration = Duration::from_secs(5);
/// Nodes remembered as heard from in rooms (forgotten all at once beyond this).
pub const MAX_KNOWN_NODES: usize = 4096;
/// After a failed fetch, a log's announcements are dropped for this long, doubled after each
/// further failure, up to [`MAX_BACKOFF`].
pub const BACKOFF: Duration = Duration::from_secs(5);
/// The longest wait after failed fetches.
pub const MAX_BACKOFF: Duration = Duration::from_hours(1);
/// Consecutive failures after which a log counts as failed (it is still retried, at
/// [`MAX_BACKOFF`] at most).
pub const FAILED_AFTER: u32 = 5;
/// Logs whose failures are remembered (forgotten all at once beyond this).
pub const MAX_FAILURES: usize = 65_536;
/// Every artifact held is told again every this many re-announcement rounds (and to a
/// neighbour that joins); new ones at once.
pub const HAVE_EVERY: u32 = 10;

/// What a node holds: each log's verified head (seq, payload CID and kind), and its forks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held {
    /// Log → (seq, payload, kind).
    pub heads: BTreeMap<String, (u64, Cid, String)>,
    /// Forks recorded: (log, seq) → a payload CID of the evidence.
    pub forks: BTreeMap<(String, u64), Cid>,
    /// The artifacts held (told to the project rooms: the topics of the package indexes held).
    pub artifacts: BTreeSet<Cid>,
}

/// An input.
#[derive(Debug, Clone)]
pub enum Input {
    /// What the store holds now (read after every change, or on a timer).
    Held(Held),
    /// Announcement bytes delivered by neighbour `from`.
    Heard {
        /// The neighbour, by a stable name (its endpoint ID).
        from: String,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// A fetch of `log` finished: `Ok(true)` when something newer (a head, or fork evidence)
    /// was verified and stored, `Ok(false)` when nothing changed, `Err` with why it failed.
    Fetched {
        /// The log.
        log: String,
        /// The outcome.
        result: Result<bool, String>,
    },
    /// A peer pushed this announcement to this node directly: judged as one heard, and
    /// answered with a [`Command::Verdict`].
    Pushed {
        /// The peer, by its endpoint ID.
        from: String,
        /// What it announced.
        announcement: Announcement,
    },
    /// A neighbour joined: it is told everything held.
    NeighborUp,
    /// A neighbour joined a room (a package index's topic): the room is told every artifact
    /// held, so that a machine joining a project learns at once what its peers hold.
    RoomNeighborUp,
    /// The re-announcement timer: everything held is announced again.
    Reannounce,
}

/// A command for the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send this announcement to the neighbours (on the log's topic and the global topic).
    Announce(Announcement),
    /// Fetch `log` from peer `from` (as announced: a head, or fork evidence).
    Fetch {
        /// The peer that announced it.
        from: String,
        /// What was announced.
        announcement: Announcement,
        /// The log's kind here (`version-index`, `package-index`).
        kind: String,
    },
    /// An announcement was dropped, and why (for logs and tests).
    Dropped(String),
    /// The answer to a pushed announcement.
    Verdict(wire::Verdict),
    /// Tell the project rooms (the topics of the package indexes held) that this node holds
    /// these artifacts (at most 16, sorted by their bytes; none: it is there and holds
    /// nothing): a signed "have" message.
    Have(Vec<Cid>),
    /// A peer's signed "have" message, verified: record that `node` holds what it lists.
    Record {
        /// The node's endpoint ID.
        node: [u8; 32],
        /// What it said.
        have: Have,
    },
}

/// How much a node takes from others (an indexing node's operator may change them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Announcements accepted from one peer per [`WINDOW`].
    pub per_peer: u32,
    /// Announcements accepted about one identity's logs per [`WINDOW`].
    pub per_identity: u32,
    /// Fetches running at once.
    pub fetches: usize,
    /// Logs waiting for a fetch.
    pub queue: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            per_peer: BUDGET,
            per_identity: BUDGET,
            fetches: FETCHES,
            queue: MAX_QUEUE,
        }
    }
}

/// Where a log stands in a node's ingest (logs not listed are synchronized: what is held is
/// all that was announced, or they were never announced).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum LogState {
    /// Being fetched.
    Fetching,
    /// A newer head was announced; waiting for a fetch slot.
    Behind {
        /// The seq announced.
        seq: u64,
    },
    /// A fetch failed; announcements are dropped until the backoff ends.
    Throttled {
        /// Consecutive failures.
        failures: u32,
        /// Seconds until it is tried again.
        retry_in: u64,
        /// Why the last fetch failed.
        why: String,
    },
    /// [`FAILED_AFTER`] fetches or more failed in a row (it is still retried, rarely).
    Failed {
        /// Consecutive failures.
        failures: u32,
        /// Seconds until it is tried again.
        retry_in: u64,
        /// Why the last fetch failed.
        why: String,
    },
}

/// Failed fetches of one log.
#[derive(Debug, Clone)]
struct Failure {
    count: u32,
    retry_at: Duration,
    why: String,
    /// The peers whose announcements led to the failed fetches: only theirs are dropped
    /// meanwhile, so that a peer announcing what it cannot serve does not silence a log.
    peers: BTreeSet<String>,
}

/// Peers remembered per failing log.
const FAILING_PEERS: usize = 16;

/// Keys (peers, identities) a budget counts at once. When a flood brings more within one
/// window, announcements from keys not counted yet are dropped until the window passes.
pub const MAX_BUDGET_KEYS: usize = 65_536;

/// A counter per key over a window.
#[derive(Debug, Default)]
struct Budget {
    counts: HashMap<String, (Duration, u32)>,
    /// When the expired counts were last removed.
    swept: Duration,
}

impl Budget {
    fn allow(&mut self, key: &str, now: Duration, budget: u32) -> bool {
        if self.counts.len() >= MAX_BUDGET_KEYS
            && now.saturating_sub(self.swept) >= Duration::from_secs(1)
        {
            // At most once a second, so that a flood cannot make every call walk the map.
            self.swept = now;
            self.counts
                .retain(|_, (start, _)| now.saturating_sub(*start) < WINDOW);
        }
        if self.counts.len() >= MAX_BUDGET_KEYS && !self.counts.contains_key(key) {
            return false;
        }
        let entry = self.counts.entry(key.to_owned()).or_insert((now, 0));
        if now.saturating_sub(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1 <= budget
    }
}

/// The service (see the module documentation).
#[derive(Debug, Default)]
pub struct Service {
    held: Held,
    /// What was last announced: log → seq, and forks.
    announced: BTreeMap<String, u64>,
    announced_forks: BTreeSet<(String, u64)>,
    per_peer: Budget,
    per_identity: Budget,
    /// Logs being fetched, and from which peer.
    in_flight: BTreeMap<String, String>,
    /// Artifacts told to the rooms.
    announced_haves: BTreeSet<Cid>,
    /// Re-announcement rounds so far.
    rounds: u32,
    /// When the rooms were last told every artifact because a neighbour joined one, or a node
    /// new here spoke.
    told_rooms: Option<Duration>,
    /// Nodes heard from in rooms.
    known_nodes: BTreeSet<[u8; 32]>,
    /// The rooms are to be told everything once [`ROOM_WINDOW`] has passed.
    tell_pending: bool,
    /// Fetch every index announced, held or not (an indexing node); otherwise only the logs
    /// held are followed.
    crawl: bool,
    /// Fetches waiting for one of the [`Limits::fetches`] slots, by log. Logs of identities
    /// held here start first, and take the place of a stranger's when the queue is full, so
    /// that a flood from new identities cannot hold back publishers already known.
    queue: BTreeMap<String, Command>,
    /// The logs in `queue` whose identity was held when they were queued.
    queued_known: BTreeSet<String>,
    limits: Limits,
    /// Logs whose last fetches failed.
    failures: BTreeMap<String, Failure>,
}

impl Service {
    /// A service holding nothing yet.
    #[must_use]
    pub fn new() -> Service {
        Service::default()
    }

    /// A service that follows every index it hears of (an indexing node).
    #[must_use]
    pub fn crawler() -> Service {
        Service::crawler_with(Limits::default())
    }

    /// A crawler that takes what `limits` allow.
    #[must_use]
    pub fn crawler_with(limits: Limits) -> Service {
        Service {
            crawl: true,
            limits,
            ..Service::default()
        }
    }

    /// Whether the identity that signs `log` is held here.
    fn known_identity(&self, log: &str) -> bool {
        log.split_once(':')
            .is_some_and(|(identity, _)| self.held.heads.contains_key(identity))
    }

    /// The next fetch waiting: the first of a known identity's logs, else the first of all.
    fn next_queued(&mut self) -> Option<(String, Command)> {
        while let Some(log) = self.queued_known.pop_first() {
            if let Some(next) = self.queue.remove_entry(&log) {
                return Some(next);
            }
        }
        self.queue.pop_first()
    }

    /// Fetches waiting for a slot.
    #[must_use]
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Fetches running.
    #[must_use]
    pub fn fetching(&self) -> usize {
        self.in_flight.len()
    }

    /// Where each log that is not synchronized stands at `now`, by log.
    #[must_use]
    pub fn states(&self, now: Duration) -> BTreeMap<String, LogState> {
        let mut out = BTreeMap::new();
        for (log, f) in &self.failures {
            let retry_in = f.retry_at.saturating_sub(now).as_secs();
            let (failures, why) = (f.count, f.why.clone());
            out.insert(
                log.clone(),
                if f.count >= FAILED_AFTER {
                    LogState::Failed {
                        failures,
                        retry_in,
                        why,
                    }
                } else {
                    LogState::Throttled {
                        failures,
                        retry_in,
                        why,
                    }
                },
            );
        }
        for (log, fetch) in &self.queue {
            if let Command::Fetch { announcement, .. } = fetch {
                out.insert(
                    log.clone(),
                    LogState::Behind {
                        seq: announcement.seq,
                    },
                );
            }
        }
        for log in self.in_flight.keys() {
            out.insert(log.clone(), LogState::Fetching);
        }
        out
    }

    /// Handles one input at monotonic time `now`; returns the commands, in order.
    pub fn handle(&mut self, input: Input, now: Duration) -> Vec<Command> {
        match input {
            Input::Held(held) => {
                self.held = held;
                let mut out = self.announce(false);
                if self.tell_pending {
                    out.extend(self.tell_rooms(now));
                }
                out.extend(self.haves(false));
                out
            }
            Input::NeighborUp => {
                let mut out = self.announce(true);
                out.extend(self.haves(true));
                out
            }
            Input::RoomNeighborUp => self.tell_rooms(now),
            Input::Reannounce => {
                self.rounds = self.rounds.wrapping_add(1);
                let mut out = self.announce(true);
                out.extend(self.haves(self.rounds.is_multiple_of(HAVE_EVERY)));
                out
            }
            Input::Heard { from, bytes } => match self.heard(&from, &bytes, now) {
                Ok(Some(Command::Record { node, have })) => {
                    let mut out = Vec::new();
                    if self.known_nodes.len() >= MAX_KNOWN_NODES {
                        self.known_nodes.clear();
                    }
                    if self.known_nodes.insert(node) {
                        // A node new here (it may have just joined): the room hears again
                        // what this node holds, so that it learns it at once.
                        out = self.tell_rooms(now);
                    }
                    out.insert(0, Command::Record { node, have });
                    out
                }
                Ok(Some(command)) => vec![command],
                Ok(None) => Vec::new(),
                Err(why) => vec![Command::Dropped(why)],
            },
            Input::Pushed { from, announcement } => self.pushed(&from, &announcement, now),
            Input::Fetched { log, result } => {
                let from = self.in_flight.remove(&log).unwrap_or_default();
                // The driver sends the new `Held` next, and that announces it.
                let mut out = match result {
                    Ok(_) => {
                        self.failures.remove(&log);
                        Vec::new()
                    }
                    Err(why) => {
                        if self.failures.len() >= MAX_FAILURES {
                            self.failures.clear();
                        }
                        let f = self.failures.entry(log).or_insert(Failure {
                            count: 0,
                            retry_at: now,
                            why: String::new(),
                            peers: BTreeSet::new(),
                        });
                        if f.peers.len() < FAILING_PEERS {
                            f.peers.insert(from);
                        }
                        f.count = f.count.saturating_add(1);
                        let wait = BACKOFF
                            .saturating_mul(1 << (f.count - 1).min(20))
                            .min(MAX_BACKOFF);
                        f.retry_at = now + wait;
                        f.why.clone_from(&why);
                        vec![Command::Dropped(why)]
                    }
                };
                while self.in_flight.len() < self.limits.fetches
                    && let Some((log, next)) = self.next_queued()
                {
                    let from = match &next {
                        Command::Fetch { from, .. } => from.clone(),
                        _ => String::new(),
                    };
                    self.in_flight.insert(log, from);
                    out.push(next);
                }
                out
            }
        }
    }

    /// Announcements of heads and forks that moved (`all`: of everything held).
    fn announce(&mut self, all: bool) -> Vec<Command> {
        let mut out = Vec::new();
        for (log, (seq, payload, kind)) in &self.held.heads {
            if out.len() == PER_ROUND {
                break;
            }
            if kind == "identity" || (!all && self.announced.get(log) == Some(seq)) {
                continue;
            }
            self.announced.insert(log.clone(), *seq);
            out.push(Command::Announce(Announcement {
                kind: Announced::Head,
                log: log.clone(),
                seq: *seq,
                payload: *payload,
            }));
        }
        for ((log, seq), payload) in &self.held.forks {
            let key = (log.clone(), *seq);
            if !all && self.announced_forks.contains(&key) {
                continue;
            }
            self.announced_forks.insert(key);
            out.push(Command::Announce(Announcement {
                kind: Announced::Fork,
                log: log.clone(),
                seq: *seq,
                payload: *payload,
            }));
        }
        out
    }

    /// Every artifact held, told to the rooms at most once per window (neighbours joining and
    /// nodes new here come in bursts, and each would have everything sent again).
    fn tell_rooms(&mut self, now: Duration) -> Vec<Command> {
        if self
            .told_rooms
            .is_some_and(|t| now.saturating_sub(t) < ROOM_WINDOW)
        {
            // Not dropped: told when the window has passed (at the next read of the store).
            self.tell_pending = true;
            return Vec::new();
        }
        self.tell_pending = false;
        self.told_rooms = Some(now);
        self.haves(true)
    }

    /// "have" messages for the artifacts not told yet (`all`: for every artifact held, or a
    /// message listing none when none is held, which tells the room this node is there), when
    /// there is a room to tell.
    fn haves(&mut self, all: bool) -> Vec<Command> {
        if !self
            .held
            .heads
            .values()
            .any(|(_, _, kind)| kind == "package-index")
        {
            return Vec::new();
        }
        let mut untold: Vec<Cid> = self
            .held
            .artifacts
            .iter()
            .filter(|c| all || !self.announced_haves.contains(c))
            .copied()
            .collect();
        untold.sort_by_key(Cid::to_bytes);
        if all && untold.is_empty() {
            return vec![Command::Have(Vec::new())];
        }
        let mut out = Vec::new();
        for batch in untold
            .chunks(wire::MAX_HAVE_ARTIFACTS)
            .take(HAVES_PER_ROUND)
        {
            self.announced_haves.extend(batch.iter().copied());
            out.push(Command::Have(batch.to_vec()));
        }
        out
    }

    /// A pushed announcement: judged as one heard, with a verdict for the pusher.
    fn pushed(&mut self, from: &str, a: &Announcement, now: Duration) -> Vec<Command> {
        use wire::Verdict;
        let dropped = |why: String| vec![Command::Verdict(Verdict::Dropped(why))];
        if is_identity(&a.log) {
            return dropped(format!(
                "`{}` is an identity log; those travel with the indexes that cite them",
                a.log
            ));
        }
        if !self.crawl && !self.held.heads.contains_key(&a.log) {
            return dropped(format!("this node does not follow `{}`", a.log));
        }
        match self.judge(from, a, now) {
            Ok(Some(fetch)) => vec![fetch, Command::Verdict(Verdict::Fetching)],
            Ok(None) => vec![Command::Verdict(Verdict::Held)],
            Err(why) => dropped(why),
        }
    }

    /// Checks a gossip message (cheaply, before anything is fetched): the fetch to start, or
    /// the claim to record.
    fn heard(
        &mut self,
        from: &str,
        bytes: &[u8],
        now: Duration,
    ) -> Result<Option<Command>, String> {
        let a = match Gossiped::decode(bytes).map_err(|e| format!("malformed: {e}"))? {
            Gossiped::Announcement(a) => a,
            Gossiped::Have(node, have) => {
                // Budgeted by the node that signed it (it may come through any neighbour).
                let signer = hex::encode(node);
                if !self.per_peer.allow(&signer, now, self.limits.per_peer) {
                    return Err(format!("over the budget of node {signer}"));
                }
                return Ok(Some(Command::Record { node, have }));
            }
        };
        self.judge(from, &a, now)
    }

    /// Judges an announcement from `from` (heard, or pushed): the fetch to start.
    fn judge(
        &mut self,
        from: &str,
        a: &Announcement,
        now: Duration,
    ) -> Result<Option<Command>, String> {
        if !self.per_peer.allow(from, now, self.limits.per_peer) {
            return Err(format!("over the budget of peer {from}"));
        }
        let identity = a.log.split(':').next().unwrap_or(&a.log).to_owned();
        if !self
            .per_identity
            .allow(&identity, now, self.limits.per_identity)
        {
            return Err(format!("over the budget of identity {identity}"));
        }
        if let Some(f) = self.failures.get(&a.log)
            && now < f.retry_at
            && f.peers.contains(from)
        {
            return Err(format!(
                "`{}` is throttled for peer {from}: {} fetches failed in a row (the last: {}); retried in {} s",
                a.log,
                f.count,
                f.why,
                f.retry_at.saturating_sub(now).as_secs()
            ));
        }
        let (held, kind) = match self.held.heads.get(&a.log) {
            Some((seq, _, kind)) => (Some(*seq), kind.clone()),
            // A crawler follows every index it hears of; the fetch learns the kind.
            None if self.crawl && a.kind == Announced::Head && !is_identity(&a.log) => {
                (None, UNKNOWN_KIND.to_owned())
            }
            None => return Ok(None), // Not a log this node follows.
        };
        if kind == "identity" {
            return Ok(None); // Identity logs travel with the indexes that cite them.
        }
        let known = match (a.kind, held) {
            // Held already, or older than what is held.
            (Announced::Head, Some(held)) => held >= a.seq,
            (Announced::Head, None) => false,
            // Evidence held at that seq, or a seq not reached yet (heads bring the log first).
            (Announced::Fork, Some(held)) => {
                held < a.seq || self.held.forks.contains_key(&(a.log.clone(), a.seq))
            }
            (Announced::Fork, None) => true,
        };
        if known || self.in_flight.contains_key(&a.log) {
            return Ok(None);
        }
        if let Some(Command::Fetch { announcement, .. }) = self.queue.get(&a.log)
            && announcement.seq >= a.seq
        {
            return Ok(None); // Waiting already, for this head or a newer one.
        }
        let fetch = Command::Fetch {
            from: from.to_owned(),
            kind,
            announcement: a.clone(),
        };
        if self.in_flight.len() >= self.limits.fetches {
            if self.queue.len() >= self.limits.queue && !self.queue.contains_key(&a.log) {
                // The last stranger's log: past at most the known ones.
                let stranger = (self.known_identity(&a.log)
                    && self.queued_known.len() < self.queue.len())
                .then(|| {
                    self.queue
                        .keys()
                        .rev()
                        .find(|log| !self.queued_known.contains(*log))
                        .cloned()
                })
                .flatten();
                let Some(stranger) = stranger else {
                    return Err(format!(
                        "busy: {} logs wait already; `{}` is left for a later announcement",
                        self.limits.queue, a.log
                    ));
                };
                // Left for a later announcement of it.
                self.queue.remove(&stranger);
            }
            if self.known_identity(&a.log) {
                self.queued_known.insert(a.log.clone());
            }
            self.queue.insert(a.log.clone(), fetch);
            return Ok(None);
        }
        self.in_flight.insert(a.log.clone(), from.to_owned());
        Ok(Some(fetch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(log: &str, seq: u64) -> Held {
        let mut h = Held::default();
        h.heads.insert(
            log.to_owned(),
            (
                seq,
                Cid::of_record(&seq.to_be_bytes()),
                "version-index".into(),
            ),
        );
        h
    }

    fn heard(log: &str, seq: u64) -> Input {
        Input::Heard {
            from: "p".into(),
            bytes: Announcement {
                kind: Announced::Head,
                log: log.into(),
                seq,
                payload: Cid::of_record(&seq.to_be_bytes()),
            }
            .encode(),
        }
    }

    fn pushed(from: &str, log: &str, seq: u64) -> Input {
        Input::Pushed {
            from: from.into(),
            announcement: Announcement {
                kind: Announced::Head,
                log: log.into(),
                seq,
                payload: Cid::of_record(&seq.to_be_bytes()),
            },
        }
    }

    /// The verdict among `commands`, and whether a fetch was started.
    fn verdict(commands: &[Command]) -> (wire::Verdict, bool) {
        let verdicts: Vec<&wire::Verdict> = commands
            .iter()
            .filter_map(|c| match c {
                Command::Verdict(v) => Some(v),
                _ => None,
            })
            .collect();
        assert_eq!(verdicts.len(), 1, "one verdict per push: {commands:?}");
        let fetch = commands.iter().any(|c| matches!(c, Command::Fetch { .. }));
        (verdicts[0].clone(), fetch)
    }

    #[test]
    fn a_push_is_judged_as_an_announcement_and_answered() {
        use wire::Verdict;
        let id = "ba4dqobyha4dqobyha4dqobyha4dqobyha4dqobyha4dqobyha4dq";
        let (log, other) = (format!("{id}:a"), format!("{id}:z"));
        let t = Duration::ZERO;
        let mut s = Service::new();
        s.handle(Input::Held(held(&log, 2)), t);
        assert_eq!(
            verdict(&s.handle(pushed("p", &log, 3), t)),
            (Verdict::Fetching, true)
        );
        assert_eq!(
            s.handle(pushed("p", &log, 3), t)[..],
            [Command::Verdict(Verdict::Held)],
            "in flight already"
        );
        assert_eq!(
            verdict(&s.handle(pushed("p", &log, 2), t)),
            (Verdict::Held, false)
        );
        assert!(matches!(
            verdict(&s.handle(pushed("p", &other, 1), t)),
            (Verdict::Dropped(why), false) if why.contains("does not follow")
        ));
        assert!(matches!(
            verdict(&s.handle(pushed("p", id, 1), t)),
            (Verdict::Dropped(why), false) if why.contains("identity log")
        ));
        // A crawler takes what it does not hold; pushes count against the pusher's budget.
        let mut c = Service::crawler();
        c.handle(Input::Held(Held::default()), t);
        assert_eq!(
            verdict(&c.handle(pushed("q", &other, 1), t)),
            (Verdict::Fetching, true)
        );
        let mut over = 0;
        for seq in 2..=u64::from(BUDGET) + 1 {
            if let (Verdict::Dropped(why), _) = verdict(&c.handle(pushed("q", &other, seq), t)) {
                assert!(why.contains("budget"), "{why}");
                over += 1;
            }
        }
        assert_eq!(over, 1, "the budget's 33rd announcement is dropped");
    }

    fn heard_from(from: &str, log: &str, seq: u64) -> Input {
        match heard(log, seq) {
            Input::Heard { bytes, .. } => Input::Heard {
                from: from.into(),
                bytes,
            },
            other => other,
        }
    }

    #[test]
    fn a_failing_log_backs_off_for_the_peer_that_failed_and_its_state_is_told() {
        let log = "ba4dqobyha4dqobyha4dqobyha4dqobyha4dqobyha4dqobyha4dq:a";
        let fetching = |cs: &[Command]| cs.iter().any(|c| matches!(c, Command::Fetch { .. }));
        let mut s = Service::new();
        let t = Duration::from_secs(100);
        s.handle(Input::Held(held(log, 1)), t);
        assert!(fetching(&s.handle(heard_from("liar", log, 2), t)));
        assert_eq!(s.states(t)[log], LogState::Fetching);
        let failed = |s: &mut Service, at| {
            s.handle(
                Input::Fetched {
                    log: log.into(),
                    result: Err("no answer".into()),
                },
                at,
            )
        };
        failed(&mut s, t);
        assert!(matches!(
            s.states(t)[log],
            LogState::Throttled {
                failures: 1,
                retry_in: 5,
                ..
            }
        ));
        // The peer that failed is not followed until the backoff ends; another peer is.
        assert!(matches!(
            &s.handle(heard_from("liar", log, 2), t + Duration::from_secs(4))[..],
            [Command::Dropped(why)] if why.contains("throttled for peer liar")
        ));
        assert!(fetching(&s.handle(heard_from("liar", log, 2), t + BACKOFF)));
        // Each further failure doubles the wait; after a few the log counts as failed.
        let mut at = t + BACKOFF;
        for n in 2..=FAILED_AFTER {
            failed(&mut s, at);
            let wait = BACKOFF * 2u32.pow(n - 1);
            assert!(!fetching(&s.handle(
                heard_from("liar", log, 2),
                (at + wait).saturating_sub(Duration::from_secs(1))
            )));
            at += wait;
            assert!(
                fetching(&s.handle(heard_from("liar", log, 2), at)),
                "after {n} failures"
            );
        }
        failed(&mut s, at);
        assert!(matches!(
            s.states(at)[log],
            LogState::Failed { failures: 6, .. }
        ));
        // An honest peer is fetched from at once, and its success clears the record.
        assert!(fetching(&s.handle(heard_from("honest", log, 2), at)));
        s.handle(
            Input::Fetched {
                log: log.into(),
                result: Ok(true),
            },
            at,
        );
        assert!(s.states(at).is_empty(), "synchronized: {:?}", s.states(at));
    }

    #[test]
    fn a_flood_of_throwaway_identities_is_held_in_bounded_memory() {
        // 200,000 announcements of 100,000 throwaway identities' indexes through 10,000
        // peers, all within one window, to a crawler (which takes every index it hears of).
        let mut s = Service::crawler();
        s.handle(Input::Held(Held::default()), Duration::ZERO);
        let mut fetches = 0usize;
        let mut dropped = 0usize;
        for i in 0..200_000u64 {
            let id = cairn_protocol::identity::IdentityId::from_digest(
                *blake3::hash(&(i % 100_000).to_be_bytes()).as_bytes(),
            );
            let input = heard_from(
                &format!("peer{}", i % 10_000),
                &format!("{id}:spam"),
                1 + i / 100_000,
            );
            for c in s.handle(input, Duration::from_millis(i / 100)) {
                match c {
                    Command::Fetch { .. } => fetches += 1,
                    Command::Dropped(_) => dropped += 1,
                    _ => {}
                }
            }
        }
        assert_eq!(
            fetches, s.limits.fetches,
            "no slot freed: only the first fetches start"
        );
        assert!(s.queue.len() <= s.limits.queue, "the queue is bounded");
        assert!(s.per_peer.counts.len() <= MAX_BUDGET_KEYS);
        assert!(
            s.per_identity.counts.len() <= MAX_BUDGET_KEYS,
            "{}",
            s.per_identity.counts.len()
        );
        assert!(dropped > 100_000, "most of the flood is dropped: {dropped}");
        // Once the window has passed, a curated publisher's announcement is taken again.
        let later = Duration::from_secs(20) + WINDOW;
        s.handle(
            Input::Fetched {
                log: s.in_flight.keys().next().cloned().unwrap_or_default(),
                result: Ok(true),
            },
            later,
        );
        let honest = "ba4dqobyha4dqobyha4dqobyha4dqobyha4dqobyha4dqobyha4dq:curated";
        let out = s.handle(
            heard_from("publisher", honest, 1),
            later + Duration::from_secs(2),
        );
        assert!(
            !out.iter().any(|c| matches!(c, Command::Dropped(_))),
            "not dropped after the flood: {out:?}"
        );
    }

    #[test]
    fn publishers_known_here_start_before_a_flood_of_strangers_and_take_their_place() {
        let id = |n: u8| cairn_protocol::identity::IdentityId::from_digest([n; 32]).to_string();
        let strangers: Vec<String> = (1..=20).map(|n| format!("{}:spam", id(n))).collect();
        // A known publisher whose log sorts after every stranger's, so that log order alone
        // would start it last.
        let known = (21..=255)
            .map(id)
            .find(|k| strangers.iter().all(|s| s.as_str() < k.as_str()))
            .expect("an identity that sorts last");
        let honest = format!("{known}:fetchy");
        let t = Duration::ZERO;
        let mut s = Service::crawler_with(Limits {
            queue: 8,
            ..Limits::default()
        });
        let mut h = Held::default();
        h.heads.insert(
            known.clone(),
            (1, Cid::of_raw(b"identity"), "identity".to_owned()),
        );
        s.handle(Input::Held(h), t);
        let mut running = Vec::new();
        for (i, log) in strangers.iter().enumerate() {
            for c in s.handle(heard_from(&format!("peer{i}"), log, 1), t) {
                if let Command::Fetch { announcement, .. } = c {
                    running.push(announcement.log);
                }
            }
        }
        assert_eq!(running.len(), FETCHES);
        assert_eq!(s.queued(), 8, "the queue is full of strangers");
        // The known publisher's head is queued, in a stranger's place.
        let out = s.handle(heard_from("publisher", &honest, 1), t);
        assert!(
            !out.iter().any(|c| matches!(c, Command::Dropped(_))),
            "{out:?}"
        );
        assert_eq!(s.queued(), 8);
        // The first slot to free starts it.
        let out = s.handle(
            Input::Fetched {
                log: running[0].clone(),
                result: Ok(true),
            },
            t,
        );
        assert!(
            matches!(&out[..], [Command::Fetch { announcement, .. }] if announcement.log == honest),
            "{out:?}"
        );
        // Strangers wait while there is room, and are dropped beyond it.
        assert!(
            s.handle(heard_from("late", &format!("{}:spam", id(200)), 1), t)
                .is_empty()
        );
        assert_eq!(s.queued(), 8);
        let out = s.handle(heard_from("later", &format!("{}:spam", id(201)), 1), t);
        assert!(
            matches!(&out[..], [Command::Dropped(why)] if why.contains("busy")),
            "{out:?}"
        );
    }

    #[test]
    fn a_crawler_fetches_what_it_does_not_hold_and_queues_beyond_the_slots() {
        let log = |n: u8| {
            format!(
                "{}:p",
                cairn_protocol::identity::IdentityId::from_digest([n; 32])
            )
        };
        let t = Duration::ZERO;
        let mut plain = Service::new();
        assert!(
            plain.handle(heard(&log(1), 1), t).is_empty(),
            "not followed"
        );
        let mut s = Service::crawler();
        let mut started = Vec::new();
        for n in 1..=10 {
            for c in s.handle(heard(&log(n), 1), t) {
                match c {
                    Command::Fetch {
                        kind, announcement, ..
                    } => {
                        assert_eq!(kind, UNKNOWN_KIND);
                        started.push(announcement.log);
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        assert_eq!(started.len(), FETCHES, "the slots fill");
        assert_eq!(s.queued(), 10 - FETCHES, "the rest wait, none dropped");
        // A newer head of a queued log replaces its entry; an older one does not.
        assert!(s.handle(heard(&log(9), 5), t).is_empty());
        assert!(s.handle(heard(&log(9), 2), t).is_empty());
        assert_eq!(s.queued(), 10 - FETCHES);
        // An identity log is not crawled on its own: it travels with the indexes citing it.
        let id = cairn_protocol::identity::IdentityId::from_digest([77; 32]).to_string();
        assert!(s.handle(heard(&id, 1), t).is_empty());
        assert_eq!(s.queued(), 10 - FETCHES);
        // Each finished fetch starts the next one waiting.
        let mut order = Vec::new();
        for done in started.clone() {
            for c in s.handle(
                Input::Fetched {
                    log: done,
                    result: Ok(true),
                },
                t,
            ) {
                if let Command::Fetch { announcement, .. } = c {
                    order.push((announcement.log, announcement.seq));
                }
            }
        }
        assert_eq!(order.len(), FETCHES);
        assert_eq!(s.fetching(), FETCHES);
        assert_eq!(s.queued(), 10 - 2 * FETCHES);
        let nine = s.queue.get(&log(9));
        let nine_seq = order
            .iter()
            .find(|(l, _)| *l == log(9))
            .map(|(_, seq)| *seq)
            .or_else(|| {
                nine.and_then(|c| match c {
                    Command::Fetch { announcement, .. } => Some(announcement.seq),
                    _ => None,
                })
            });
        assert_eq!(nine_seq, Some(5), "the newest head heard waits");
    }

    #[test]
    fn newer_heads_of_followed_logs_are_fetched_once_and_the_rest_ignored() {
        let log = format!(
            "{}:x",
            cairn_protocol::identity::IdentityId::from_digest([1; 32])
        );
        let mut s = Service::new();
        let t = Duration::ZERO;
        let first = s.handle(Input::Held(held(&log, 2)), t);
        assert!(matches!(&first[..], [Command::Announce(a)] if a.seq == 2));
        assert!(
            s.handle(Input::Held(held(&log, 2)), t).is_empty(),
            "nothing moved"
        );
        assert!(s.handle(heard(&log, 2), t).is_empty(), "held already");
        assert!(s.handle(heard(&log, 1), t).is_empty(), "older");
        assert!(matches!(
            &s.handle(heard(&log, 3), t)[..],
            [Command::Fetch { .. }]
        ));
        assert!(
            s.handle(heard(&log, 4), t).is_empty(),
            "one fetch per log at a time"
        );
        s.handle(
            Input::Fetched {
                log: log.clone(),
                result: Ok(true),
            },
            t,
        );
        let moved = s.handle(Input::Held(held(&log, 4)), t);
        assert!(
            matches!(&moved[..], [Command::Announce(a)] if a.seq == 4),
            "relayed once verified"
        );
        let other = format!(
            "{}:y",
            cairn_protocol::identity::IdentityId::from_digest([2; 32])
        );
        assert!(s.handle(heard(&other, 9), t).is_empty(), "not followed");
        let mut dropped = 0;
        for seq in 0..100 {
            if matches!(
                &s.handle(heard(&log, 5 + seq), t)[..],
                [Command::Dropped(_)]
            ) {
                dropped += 1;
            }
        }
        assert!(dropped >= 60, "the budget holds: {dropped}");
        assert!(
            !s.handle(heard(&log, 500), t + WINDOW)
                .iter()
                .any(|c| matches!(c, Command::Dropped(_))),
            "a new window"
        );
    }

    /// 20 artifacts held, and (`room`) a package index, whose topic is a room.
    fn holding(room: bool) -> Held {
        let mut h = Held {
            artifacts: (0..20u8).map(|i| Cid::of_raw(&[i])).collect(),
            ..Held::default()
        };
        if room {
            let curated = format!(
                "{}:community",
                cairn_protocol::identity::IdentityId::from_digest([3; 32])
            );
            h.heads.insert(
                curated,
                (1, Cid::of_record(b"\xa0"), "package-index".into()),
            );
        }
        h
    }

    /// The artifact lists of the "have" commands among `cs`.
    fn haves(cs: &[Command]) -> Vec<Vec<Cid>> {
        cs.iter()
            .filter_map(|c| match c {
                Command::Have(a) => Some(a.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn artifacts_are_told_to_rooms_and_claims_are_budgeted() {
        let mut s = Service::new();
        let t = Duration::ZERO;
        assert!(
            haves(&s.handle(Input::Held(holding(false)), t)).is_empty(),
            "no room (no package index held): nothing to tell"
        );
        let mut h = holding(true);
        let told = haves(&s.handle(Input::Held(h.clone()), t));
        assert_eq!(told.iter().map(Vec::len).collect::<Vec<_>>(), vec![16, 4]);
        assert!(told.iter().all(|b| b.is_sorted_by_key(Cid::to_bytes)));
        h.artifacts.insert(Cid::of_raw(b"new"));
        assert_eq!(
            haves(&s.handle(Input::Held(h.clone()), t)),
            vec![vec![Cid::of_raw(b"new")]],
            "only what is new"
        );
        let rounds: Vec<usize> = (0..HAVE_EVERY)
            .map(|_| haves(&s.handle(Input::Reannounce, t)).len())
            .collect();
        assert_eq!(
            rounds.iter().filter(|n| **n > 0).count(),
            1,
            "everything again once every {HAVE_EVERY} rounds: {rounds:?}"
        );
        assert!(
            !haves(&s.handle(Input::RoomNeighborUp, t)).is_empty(),
            "a neighbour joining a room is told everything"
        );
        assert!(
            haves(&s.handle(Input::RoomNeighborUp, t + ROOM_WINDOW / 2)).is_empty(),
            "but not twice in one window"
        );
        assert!(
            !haves(&s.handle(Input::Held(h.clone()), t + ROOM_WINDOW)).is_empty(),
            "the second ask is answered when the window has passed"
        );
        // A signed claim is recorded, within the signer's budget.
        let node = cairn_protocol::sign::SecretKey::from_seed(&[4; 32]);
        let bytes = Have {
            artifacts: vec![Cid::of_raw(b"x")],
            addrs: Vec::new(),
            time: 1,
        }
        .sign(&node)
        .expect("sign");
        let mut recorded = 0;
        let mut dropped = 0;
        for _ in 0..(BUDGET + 5) {
            for c in s.handle(
                Input::Heard {
                    from: "relay".into(),
                    bytes: bytes.clone(),
                },
                t,
            ) {
                match c {
                    Command::Record { node: n, .. } => {
                        assert_eq!(n, *node.public().as_bytes());
                        recorded += 1;
                    }
                    Command::Dropped(_) => dropped += 1,
                    other => panic!("{other:?}"),
                }
            }
        }
        assert_eq!((recorded, dropped), (BUDGET, 5));
    }

    #[test]
    fn a_node_joining_a_room_says_so_and_hears_what_the_others_hold() {
        let h = holding(true);
        let t = Duration::ZERO;
        // A node that joins a room and holds nothing says so; the others answer with what
        // they hold.
        let mut newcomer = Service::new();
        let mut room = h.clone();
        room.artifacts.clear();
        newcomer.handle(Input::Held(room), t);
        let hello = newcomer.handle(Input::RoomNeighborUp, t);
        assert_eq!(hello, vec![Command::Have(Vec::new())]);
        let mut old = Service::new();
        old.handle(Input::Held(h.clone()), t);
        let bytes = Have {
            artifacts: Vec::new(),
            addrs: Vec::new(),
            time: 1,
        }
        .sign(&cairn_protocol::sign::SecretKey::from_seed(&[5; 32]))
        .expect("sign");
        let heard = |s: &mut Service| {
            s.handle(
                Input::Heard {
                    from: "n".into(),
                    bytes: bytes.clone(),
                },
                t + WINDOW,
            )
        };
        let answer = heard(&mut old);
        assert!(matches!(answer[0], Command::Record { .. }));
        assert_eq!(haves(&answer).concat().len(), h.artifacts.len());
        assert_eq!(
            heard(&mut old).len(),
            1,
            "a node already known: recorded only"
        );
    }
}
