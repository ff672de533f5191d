//! The indexing node: a peer-network node that fetches every index it hears announced (and what
//! each package index admits), verified as any node verifies, with the search index rebuilt
//! in batches as the store changes and the HTTP API and web page served beside it.
//!
//! Everything it knows is the home's store: a restart (or a kill) loses nothing verified, and
//! neighbours re-announce what it lacks when it joins them again. The search index is derived
//! and rebuilt on start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_core::home::Home;
use cairn_core::net::gossip::Heard;
use cairn_core::net::{NetError, Node, Peer};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::http::{self, Metrics};
use crate::search;

/// How an indexing node runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The home (its store holds everything ingested).
    pub home: PathBuf,
    /// The peer-network address to listen on.
    pub listen: SocketAddr,
    /// The HTTP address to serve on (none: no HTTP).
    pub http: Option<SocketAddr>,
    /// The first neighbours (besides the home's peer list).
    pub peers: Vec<Peer>,
    /// How often the store is checked for changes to index (the batch window).
    pub reindex_every: Duration,
    /// Other indexing nodes (`http://HOST:PORT`) to reconcile with: their heads are listed
    /// page by page, and every index held there that is missing or behind here is fetched
    /// from their peer node and verified.
    pub reconcile: Vec<String>,
    /// How often to reconcile.
    pub reconcile_every: Duration,
    /// What it takes from others.
    pub limits: crate::limits::Limits,
}

impl Config {
    /// A node of `home` on loopback with HTTP on an ephemeral port, reindexing every 100 ms,
    /// reconciling with nobody (for tests and the demo).
    #[must_use]
    pub fn loopback(home: &Path, peers: Vec<Peer>) -> Config {
        Config {
            home: home.to_path_buf(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            http: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            peers,
            reindex_every: Duration::from_millis(100),
            reconcile: Vec::new(),
            reconcile_every: Duration::from_mins(1),
            limits: crate::limits::Limits::default(),
        }
    }
}

/// The most logs fetched in one reconciliation round with one node (the next round goes on).
pub const RECONCILE_PER_ROUND: usize = 10_000;

/// A running indexing node.
#[derive(Debug)]
pub struct Indexer {
    node: Node,
    http: Option<SocketAddr>,
    metrics: Arc<Metrics>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Why an indexing node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The peer-network node.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The HTTP listener.
    #[error("cannot serve HTTP on {addr}: {cause}")]
    Http {
        /// The address.
        addr: SocketAddr,
        /// Why.
        cause: std::io::Error,
    },
    /// The home.
    #[error("cannot open the home `{path}`: {reason}")]
    Home {
        /// The home.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl Indexer {
    /// Starts the node, the batch indexer and (when asked) the HTTP server.
    pub async fn start(config: Config) -> Result<Indexer, StartError> {
        let home = config.home.clone();
        if let Some(notice) = cairn_core::store::Store::upgrade_notice(&home) {
            tracing::info!("{notice}");
        }
        let listed = Home::open(&home)
            .map_err(|e| e.to_string())
            .and_then(|h| cairn_core::net::peers(&h).map_err(|e| e.to_string()))
            .map_err(|reason| StartError::Home {
                path: home.clone(),
                reason,
            })?;
        let mut peers = config.peers.clone();
        peers.extend(listed.into_iter().filter(|p| !config.peers.contains(p)));
        let metrics = Arc::new(Metrics::default());
        let search =
            crate::peer_search::Search::new(home.clone(), metrics.clone(), config.limits.searches);
        let crawler = cairn_core::net::Crawler {
            limits: config.limits.network,
            extra: vec![(cairn_protocol::wire::SEARCH_ALPN, Box::new(search))],
        };
        let mut node = Node::start_crawler(&home, config.listen, &peers, crawler).await?;
        let _ = metrics.ingest.set(node.ingest());
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        if let Some(mut heard) = node.heard() {
            let metrics = metrics.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(h) = heard.recv().await {
                    metrics.heard(&h);
                    match h {
                        Heard::Fetched(log, seq) => tracing::info!(%log, seq, "ingested"),
                        Heard::Dropped(why) => tracing::debug!("dropped: {why}"),
                        Heard::Holds(..) => {}
                    }
                }
            }));
        }
        tasks.push(tokio::spawn(reindex_loop(
            home.clone(),
            config.reindex_every,
            metrics.clone(),
            stopped.clone(),
        )));
        for url in &config.reconcile {
            crate::client::host(url).map_err(|e| StartError::Home {
                path: home.clone(),
                reason: format!("{e:#}"),
            })?;
        }
        if !config.reconcile.is_empty() {
            tasks.push(tokio::spawn(reconcile_loop(
                home.clone(),
                config.reconcile.clone(),
                config.reconcile_every,
                metrics.clone(),
                stopped.clone(),
            )));
        }
        let mut http_addr = None;
        if let Some(addr) = config.http {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|cause| StartError::Http { addr, cause })?;
            http_addr = listener.local_addr().ok();
            let app = http::router_with(
                home.clone(),
                metrics.clone(),
                Some(node.addr()),
                config.limits.http,
            );
            let mut stopped = stopped.clone();
            tasks.push(tokio::spawn(async move {
                let served = axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await;
                if let Err(e) = served {
                    tracing::warn!("the HTTP server stopped: {e}");
                }
            }));
        }
        Ok(Indexer {
            node,
            http: http_addr,
            metrics,
            stop,
            tasks,
        })
    }

    /// The peer-network address others dial (and announce to).
    #[must_use]
    pub fn addr(&self) -> Peer {
        self.node.addr()
    }

    /// The HTTP address served, if any.
    #[must_use]
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http
    }

    /// The counters.
    #[must_use]
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Stops serving and indexing; what is stored stays.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.node.shutdown().await;
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
    }
}

/// What the search index was built from: every head (log, seq) and fork count.
fn fingerprint(h: &Home) -> Option<blake3::Hash> {
    let mut hasher = blake3::Hasher::new();
    for (log, seq, payload, _) in h.heads().ok()? {
        hasher.update(log.as_bytes());
        hasher.update(&seq.to_be_bytes());
        hasher.update(&payload.to_bytes());
    }
    hasher.update(&h.fork_list().ok()?.len().to_be_bytes());
    Some(hasher.finalize())
}

/// Rebuilds the search index whenever the store changed, at most once per `every`.
async fn reindex_loop(
    home: PathBuf,
    every: Duration,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let mut built: Option<blake3::Hash> = None;
    let mut watch: Option<Home> = None;
    let mut version: Option<u64> = None;
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tick.tick() => {}
        }
        // One connection stays open between ticks: while nobody writes to the store, a tick
        // costs one pragma, not a read of every head.
        let (dir, open) = (home.clone(), watch.take());
        let Ok((open, seen, now)) = tokio::task::spawn_blocking(move || {
            let h = match open {
                Some(h) => h,
                None => Home::open(&dir).ok()?,
            };
            let seen = h.data_version().ok();
            let now = if seen.is_some() && seen == version {
                None
            } else {
                fingerprint(&h)
            };
            Some((h, seen, now))
        })
        .await
        .map_err(|_| ())
        .and_then(|r| r.ok_or(())) else {
            continue;
        };
        watch = Some(open);
        let Some(now) = now else { continue };
        if built == Some(now) {
            version = seen;
            continue;
        }
        let dir = home.clone();
        let started = Instant::now();
        let done = tokio::task::spawn_blocking(move || search::update(&dir, unix_now())).await;
        match done {
            Ok(Ok(updated)) => {
                // A failed update leaves `version` as it was: the next tick tries again.
                (built, version) = (Some(now), seen);
                metrics.reindexed(updated.indexed, started.elapsed());
                tracing::info!(
                    "search index updated in {:?}: {updated:?}",
                    started.elapsed()
                );
            }
            Ok(Err(e)) => tracing::warn!("cannot update the search index: {e}"),
            Err(e) => tracing::warn!("the search index rebuild stopped: {e}"),
        }
    }
}

/// Reconciles with each of `urls` now and then every `every`.
async fn reconcile_loop(
    home: PathBuf,
    urls: Vec<String>,
    every: Duration,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tick.tick() => {}
        }
        for url in &urls {
            match reconcile(&home, url).await {
                Ok(0) => {}
                Ok(n) => {
                    metrics
                        .reconciled
                        .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                    tracing::info!(%url, logs = n, "reconciled");
                }
                Err(e) => tracing::warn!(%url, "cannot reconcile: {e:#}"),
            }
        }
    }
}

/// One reconciliation round with the indexing node at `url`: lists its heads page by page,
/// and fetches from its peer node (verified as any fetch) every index missing or behind here,
/// four fetches per core at once (a fetch mostly waits for answers; one writer writes what
/// they verified). How many logs moved.
///
/// # Errors
/// When the node cannot be asked, or runs no peer node.
pub async fn reconcile(home: &Path, url: &str) -> anyhow::Result<usize> {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    reconcile_with(home, url, (4 * cores).min(32)).await
}

/// [`reconcile`] with `workers` fetches (each on its own connection) at once.
///
/// # Errors
/// As [`reconcile`].
pub async fn reconcile_with(home: &Path, url: &str, workers: usize) -> anyhow::Result<usize> {
    use anyhow::Context as _;
    let ask = |path: String| {
        let url = url.to_owned();
        async move { tokio::task::spawn_blocking(move || crate::client::get_json(&url, &path)).await? }
    };
    let (_, health) = ask("/health".to_owned()).await?;
    let node: Peer = health["node"]
        .as_str()
        .context("it runs no peer node to fetch from (`cairn-indexer run` does)")?
        .parse()?;
    let dir = home.to_path_buf();
    let held: std::collections::HashMap<String, u64> =
        tokio::task::spawn_blocking(move || Home::open(&dir).and_then(|h| h.heads()))
            .await??
            .into_iter()
            .map(|(log, seq, ..)| (log, seq))
            .collect();
    let mut behind = Vec::new();
    let mut after: Option<String> = None;
    'pages: loop {
        let path = match &after {
            None => "/api/v1/heads".to_owned(),
            Some(a) => format!("/api/v1/heads?after={}", crate::client::encode(a)),
        };
        let (status, page) = ask(path).await?;
        anyhow::ensure!(status == 200, "listing its heads answered {status}: {page}");
        for h in page["heads"]
            .as_array()
            .context("a heads page has no `heads`")?
        {
            let (Some(log), Some(seq)) = (h["log"].as_str(), h["seq"].as_u64()) else {
                continue;
            };
            if h["kind"] == "identity" || held.get(log).is_some_and(|s| *s >= seq) {
                continue; // Identity logs travel with the indexes that cite them.
            }
            if let Ok(index) = log.parse::<cairn_protocol::name::IndexName>() {
                behind.push(index);
                if behind.len() >= RECONCILE_PER_ROUND {
                    break 'pages;
                }
            }
        }
        match page["next"].as_str() {
            Some(next) if Some(next) != after.as_deref() => after = Some(next.to_owned()),
            _ => break,
        }
    }
    if behind.is_empty() {
        return Ok(0);
    }
    fetch_all(home, url, &node, behind, workers).await
}

/// The most fetched logs written in one transaction: the writer takes whatever arrives within
/// [`GATHER`] of the first, up to this many, so commits grow with the backlog and a quiet node
/// still writes each log soon after it comes. Also how many verified logs may wait for the
/// writer (the fetchers' backpressure).
const WRITE_BATCH: usize = 128;

/// How long the writer gathers verified logs after the first before it commits them. Every
/// commit writes each page it changed, and a log's rows land on random pages of the indexes
/// by CID and by log: logs committed together share pages that logs committed one at a time
/// each wrote again. Taking only what had already arrived, the writer kept pace with the
/// fetchers and committed most logs alone.
const GATHER: std::time::Duration = std::time::Duration::from_millis(25);

/// Fetches `indexes` from `node` with `workers` connections at once, each verifying on its
/// own (so verification runs on as many cores), while one writer writes what they verified,
/// many logs per transaction; how many logs moved.
async fn fetch_all(
    home: &Path,
    url: &str,
    node: &Peer,
    indexes: Vec<cairn_protocol::name::IndexName>,
    workers: usize,
) -> anyhow::Result<usize> {
    use cairn_core::net::sync::{self, Peers};
    let ep = cairn_core::net::client(std::slice::from_ref(node)).await?;
    let queue = Arc::new(std::sync::Mutex::new(std::collections::VecDeque::from(
        indexes,
    )));
    let (verified, arrived) = tokio::sync::mpsc::channel(WRITE_BATCH);
    let writer = tokio::task::spawn_blocking({
        let (dir, url) = (home.to_path_buf(), url.to_owned());
        move || write_all(&dir, &url, arrived)
    });
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        let (ep, node, queue, dir, verified) = (
            ep.clone(),
            node.clone(),
            queue.clone(),
            home.to_path_buf(),
            verified.clone(),
        );
        tasks.spawn(async move {
            let mut peers = Peers::dial(&ep, std::slice::from_ref(&node)).await?;
            let mut home = Home::open(&dir)?;
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                let Some(index) = next else { break };
                let fetched = sync::fetch_any(&mut home, &mut peers, &index).await?;
                if verified.send(fetched).await.is_err() {
                    break; // The writer stopped: its error is the one reported.
                }
            }
            peers.close();
            anyhow::Ok(())
        });
    }
    drop(verified);
    let mut failed = None;
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done? {
            failed.get_or_insert(e);
        }
    }
    let moved = writer.await??;
    ep.close().await;
    match failed {
        Some(e) => Err(e),
        None => Ok(moved),
    }
}

/// Writes the logs the fetchers verified as they arrive, as many per transaction as arrive
/// within [`GATHER`] of the first (up to [`WRITE_BATCH`]); how many logs moved.
fn write_all(
    dir: &Path,
    url: &str,
    mut arrived: tokio::sync::mpsc::Receiver<cairn_core::net::sync::Fetched>,
) -> anyhow::Result<usize> {
    use cairn_core::net::sync::{self, SyncOutcome};
    let mut home = Home::open(dir)?;
    home.refetchable_writes()?;
    let mut moved = 0usize;
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    let runtime = tokio::runtime::Handle::current();
    while let Some(first) = arrived.blocking_recv() {
        batch.push(first);
        let until = tokio::time::Instant::now() + GATHER;
        while batch.len() < WRITE_BATCH {
            match runtime.block_on(tokio::time::timeout_at(until, arrived.recv())) {
                Ok(Some(next)) => batch.push(next),
                Ok(None) | Err(_) => break,
            }
        }
        for (log, written) in sync::write_fetched(&mut home, std::mem::take(&mut batch))? {
            match written {
                Ok(SyncOutcome::Imported { .. }) => moved += 1,
                Ok(SyncOutcome::Refused { reason }) => {
                    tracing::warn!(%log, "refused from {url}: {reason}");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(%log, "not kept from {url}: {e}"),
            }
        }
    }
    Ok(moved)
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
