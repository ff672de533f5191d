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
}

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
        let listed = Home::open(&home)
            .map_err(|e| e.to_string())
            .and_then(|h| cairn_core::net::peers(&h).map_err(|e| e.to_string()))
            .map_err(|reason| StartError::Home {
                path: home.clone(),
                reason,
            })?;
        let mut peers = config.peers.clone();
        peers.extend(listed.into_iter().filter(|p| !config.peers.contains(p)));
        let mut node = Node::start_crawler(&home, config.listen, &peers).await?;
        let metrics = Arc::new(Metrics::default());
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
        let mut http_addr = None;
        if let Some(addr) = config.http {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|cause| StartError::Http { addr, cause })?;
            http_addr = listener.local_addr().ok();
            let app = http::router_with(home.clone(), metrics.clone());
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
fn fingerprint(home: &Path) -> Option<blake3::Hash> {
    let h = Home::open(home).ok()?;
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
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tick.tick() => {}
        }
        let dir = home.clone();
        let Ok(Some(now)) = tokio::task::spawn_blocking(move || fingerprint(&dir)).await else {
            continue;
        };
        if built == Some(now) {
            continue;
        }
        let dir = home.clone();
        let started = Instant::now();
        let done =
            tokio::task::spawn_blocking(move || search::reindex(&dir, None, unix_now())).await;
        match done {
            Ok(Ok(rebuilt)) => {
                built = Some(now);
                metrics.reindexed(rebuilt.packages, started.elapsed());
                tracing::info!(
                    packages = rebuilt.packages,
                    curated = rebuilt.curated,
                    "search index rebuilt in {:?}",
                    started.elapsed()
                );
            }
            Ok(Err(e)) => tracing::warn!("cannot rebuild the search index: {e}"),
            Err(e) => tracing::warn!("the search index rebuild stopped: {e}"),
        }
    }
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
