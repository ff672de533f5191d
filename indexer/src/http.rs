//! The indexer's HTTP API (axum), its web page, and the IPFS trustless-gateway subset for the
//! record blocks the home holds. Every API error is the JSON shape of [`AppError`]; every
//! parameter is bounded; each client address gets a request budget.
//!
//! - `GET /api/v1/search?q=QUERY&limit=N`: `{"results": [...]}`, ranked as [`search::search`];
//! - `GET /api/v1/index/{index}`: a version index ([`views::PackageView`]) or a package index
//!   ([`views::CuratedView`]); `/api/v1/index/{index}/release/{version}`: a release record;
//!   `/api/v1/index/{index}/curators` and `/dependents`;
//! - `GET /api/v1/identity/{id}`, `/api/v1/heads?after=LOG&limit=N`, `/api/v1/forks`,
//!   `/api/v1/ingest` (logs not synchronized: fetching, behind, throttled, failed);
//! - `GET /health`: `{"status": "ok", "search": bool, "last_ingest_age": secs|null, …}`;
//!   `GET /metrics`: Prometheus text;
//! - `GET /ipfs/{cid}?format=raw|car` (or `Accept: application/vnd.ipld.raw` /
//!   `application/vnd.ipld.car`): exactly the block, or a CAR (version 1) holding it with it as
//!   the root. Only blocks held here are served; a CID that is not one is a 400;
//! - the web page (`/`, `/search`, `/package/{index}`, `/curator/{index}`, `/identity/{id}`):
//!   server-rendered HTML, no scripts, no external assets.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cairn_core::home::Home;
use cairn_core::net::gossip::Heard;
use cairn_protocol::cid::Cid;
use cairn_protocol::identity::IdentityId;
use cairn_protocol::name::IndexName;
use serde::Deserialize;

use crate::error::AppError;
use crate::{search, views, web};

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.to_json())).into_response()
    }
}

/// Client addresses remembered by the rate limiter (the idle ones are forgotten beyond this).
const MAX_CLIENTS: usize = 65_536;

/// The counters `/metrics` and `/health` report.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    /// HTTP requests answered.
    pub requests: AtomicU64,
    /// HTTP requests refused by the rate limit.
    pub limited: AtomicU64,
    /// Searches run.
    pub searches: AtomicU64,
    /// Logs fetched and verified after an announcement.
    pub ingested: AtomicU64,
    /// Announcements dropped (budgets, refusals, failed fetches).
    pub dropped: AtomicU64,
    /// Logs fetched by reconciliation with other indexing nodes.
    pub reconciled: AtomicU64,
    /// Search index rebuilds.
    pub reindexes: AtomicU64,
    /// Packages in the search index.
    pub indexed: AtomicU64,
    /// How long the last rebuild took (milliseconds).
    pub reindex_ms: AtomicU64,
    /// Seconds since start of the last ingest (`u64::MAX`: none yet).
    last_ingest: AtomicU64,
    /// The node's ingest states, once a node runs.
    pub ingest: std::sync::OnceLock<cairn_core::net::gossip::Ingest>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            started: Instant::now(),
            requests: AtomicU64::new(0),
            limited: AtomicU64::new(0),
            searches: AtomicU64::new(0),
            ingested: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            reconciled: AtomicU64::new(0),
            reindexes: AtomicU64::new(0),
            indexed: AtomicU64::new(0),
            reindex_ms: AtomicU64::new(0),
            last_ingest: AtomicU64::new(u64::MAX),
            ingest: std::sync::OnceLock::new(),
        }
    }
}

impl Metrics {
    /// Counts what the node's announcement task reported.
    pub fn heard(&self, h: &Heard) {
        match h {
            Heard::Fetched(..) => {
                self.ingested.fetch_add(1, Ordering::Relaxed);
                self.last_ingest
                    .store(self.started.elapsed().as_secs(), Ordering::Relaxed);
            }
            Heard::Dropped(_) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Heard::Holds(..) => {}
        }
    }

    /// Counts a rebuild of the search index.
    pub fn reindexed(&self, packages: usize, took: Duration) {
        self.reindexes.fetch_add(1, Ordering::Relaxed);
        self.indexed.store(packages as u64, Ordering::Relaxed);
        self.reindex_ms.store(
            u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Seconds since the last log was ingested, if one was.
    #[must_use]
    pub fn last_ingest_age(&self) -> Option<u64> {
        match self.last_ingest.load(Ordering::Relaxed) {
            u64::MAX => None,
            at => Some(self.started.elapsed().as_secs().saturating_sub(at)),
        }
    }
}

/// A token bucket per client address.
#[derive(Debug, Default)]
struct Limiter(HashMap<IpAddr, (f64, Instant)>, crate::limits::Http);

impl Limiter {
    fn new(limits: crate::limits::Http) -> Limiter {
        Limiter(HashMap::new(), limits)
    }

    /// Whether `ip` may make one more request now; otherwise the seconds to wait.
    fn allow(&mut self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let (rate, burst) = (self.1.rate, self.1.burst);
        if self.0.len() >= MAX_CLIENTS {
            // Forget the clients whose buckets have refilled: they lose nothing.
            self.0.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
            if self.0.len() >= MAX_CLIENTS {
                self.0.clear();
            }
        }
        let (tokens, at) = self.0.entry(ip).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Err(((1.0 - *tokens) / rate).ceil() as u64)
        }
    }
}

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) home: PathBuf,
    pub(crate) metrics: Arc<Metrics>,
    node: Option<String>,
    limiter: Mutex<Limiter>,
    http_limits: crate::limits::Http,
}

type Shared = State<Arc<AppState>>;

/// The routes, serving the home at `home`.
pub fn router(home: PathBuf) -> axum::Router {
    router_with(
        home,
        Arc::new(Metrics::default()),
        None,
        crate::limits::Http::default(),
    )
}

/// The routes, serving the home at `home` and reporting `metrics` and the peer node `node`
/// (in `/health`, for other indexing nodes to reconcile from). Serve them with
/// `into_make_service_with_connect_info::<SocketAddr>()` for the per-address rate limit.
pub fn router_with(
    home: PathBuf,
    metrics: Arc<Metrics>,
    node: Option<cairn_core::net::Peer>,
    limits: crate::limits::Http,
) -> axum::Router {
    let state = Arc::new(AppState {
        home,
        metrics,
        node: node.map(|n| n.to_string()),
        limiter: Mutex::new(Limiter::new(limits)),
        http_limits: limits,
    });
    axum::Router::new()
        .route("/api/v1/search", get(search_route))
        .route("/api/v1/index/{index}", get(index_route))
        .route("/api/v1/index/{index}/release/{version}", get(release_route))
        .route("/api/v1/index/{index}/curators", get(curators_route))
        .route("/api/v1/index/{index}/dependents", get(dependents_route))
        .route("/api/v1/identity/{id}", get(identity_route))
        .route("/api/v1/heads", get(heads_route))
        .route("/api/v1/forks", get(forks_route))
        .route("/api/v1/ingest", get(ingest_route))
        .route("/health", get(health))
        .route("/metrics", get(metrics_route))
        .route("/ipfs/{cid}", get(ipfs))
        .merge(web::routes())
        .fallback(|| async {
            AppError::not_found(
                "no such endpoint; see /api/v1/search, /api/v1/index/{index}, /api/v1/heads, /health, /metrics, /ipfs/{cid}, or the web page at /",
            )
        })
        .layer(middleware::from_fn_with_state(state.clone(), limit))
        .with_state(state)
}

/// The per-address budget: 429 with `Retry-After` beyond it.
async fn limit(State(state): Shared, request: Request, next: Next) -> Response {
    state.metrics.requests.fetch_add(1, Ordering::Relaxed);
    if let Some(ConnectInfo(addr)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let verdict = state
            .limiter
            .lock()
            .map_or(Ok(()), |mut l| l.allow(addr.ip(), Instant::now()));
        if let Err(wait) = verdict {
            state.metrics.limited.fetch_add(1, Ordering::Relaxed);
            let mut r = AppError {
                status: 429,
                detail: format!(
                    "too many requests from {}: at most {} a second (bursts of {}); retry in {wait} s",
                    addr.ip(),
                    state.http_limits.rate,
                    state.http_limits.burst
                ),
            }
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return r;
        }
    }
    next.run(request).await
}

/// Runs `read` on the home on a blocking thread.
pub(crate) async fn read<T: Send + 'static>(
    state: &AppState,
    read: impl FnOnce(&Home) -> Result<T, views::ReadError> + Send + 'static,
) -> Result<T, AppError> {
    let dir = state.home.clone();
    tokio::task::spawn_blocking(move || {
        let home = Home::open(&dir).map_err(|e| AppError::internal(e.to_string()))?;
        read(&home).map_err(|e| AppError::internal(e.to_string()))
    })
    .await
    .map_err(|e| AppError::internal(e.to_string()))?
}

/// Parses an index name from a path.
pub(crate) fn index_name(given: &str) -> Result<IndexName, AppError> {
    given.parse().map_err(|e| {
        AppError::bad_request(format!(
            "`{given}` is not an index name (`<identity>:<name>`): {e}"
        ))
    })
}

async fn index_route(
    State(state): Shared,
    Path(index): Path<String>,
) -> Result<Json<serde_json::Value>, AppError> {
    let name = index_name(&index)?;
    let found = read(&state, move |h| {
        if let Some(p) = views::package(h, &name)? {
            return Ok(Some(serde_json::to_value(p)?));
        }
        Ok(match views::curated(h, &name)? {
            Some(c) => Some(serde_json::to_value(c)?),
            None => None,
        })
    })
    .await?;
    found
        .map(Json)
        .ok_or_else(|| AppError::not_found(format!("no index `{index}` is held here")))
}

async fn release_route(
    State(state): Shared,
    Path((index, version)): Path<(String, String)>,
) -> Result<Json<views::ReleaseView>, AppError> {
    let name = index_name(&index)?;
    let v = version.clone();
    read(&state, move |h| views::release(h, &name, &v))
        .await?
        .map(Json)
        .ok_or_else(|| {
            AppError::not_found(format!("no release {version} of `{index}` is held here"))
        })
}

async fn package_or_404(state: &AppState, index: &str) -> Result<views::PackageView, AppError> {
    let name = index_name(index)?;
    read(state, move |h| views::package(h, &name))
        .await?
        .ok_or_else(|| AppError::not_found(format!("no version index `{index}` is held here")))
}

async fn curators_route(
    State(state): Shared,
    Path(index): Path<String>,
) -> Result<Json<serde_json::Value>, AppError> {
    let p = package_or_404(&state, &index).await?;
    Ok(Json(serde_json::json!({ "curators": p.curators })))
}

async fn dependents_route(
    State(state): Shared,
    Path(index): Path<String>,
) -> Result<Json<serde_json::Value>, AppError> {
    let p = package_or_404(&state, &index).await?;
    Ok(Json(serde_json::json!({ "dependents": p.dependents })))
}

async fn identity_route(
    State(state): Shared,
    Path(id): Path<String>,
) -> Result<Json<views::IdentityView>, AppError> {
    let parsed: IdentityId = id
        .parse()
        .map_err(|e| AppError::bad_request(format!("`{id}` is not an identity: {e}")))?;
    let view = read(&state, move |h| views::identity(h, &parsed)).await?;
    if view.seq.is_none() && view.indexes.is_empty() {
        return Err(AppError::not_found(format!(
            "nothing of `{id}` is held here"
        )));
    }
    Ok(Json(view))
}

#[derive(Debug, Deserialize)]
struct HeadsParams {
    after: Option<String>,
    limit: Option<usize>,
}

async fn heads_route(
    State(state): Shared,
    Query(p): Query<HeadsParams>,
) -> Result<Json<views::HeadsPage>, AppError> {
    if p.after.as_ref().is_some_and(|a| a.len() > 512) {
        return Err(AppError::bad_request(
            "`after` is a log name: at most 512 bytes",
        ));
    }
    let limit = p.limit.unwrap_or(views::MAX_HEADS_PAGE);
    if limit == 0 || limit > views::MAX_HEADS_PAGE {
        return Err(AppError::bad_request(format!(
            "`limit` is 1 to {}",
            views::MAX_HEADS_PAGE
        )));
    }
    Ok(Json(
        read(&state, move |h| views::heads(h, p.after.as_deref(), limit)).await?,
    ))
}

async fn forks_route(State(state): Shared) -> Result<Json<serde_json::Value>, AppError> {
    let forks = read(&state, views::forks).await?;
    Ok(Json(serde_json::json!({ "forks": forks })))
}

#[derive(Debug, Deserialize)]
struct SearchParams {
    q: Option<String>,
    limit: Option<usize>,
}

async fn search_route(
    State(state): Shared,
    Query(p): Query<SearchParams>,
) -> Result<Json<serde_json::Value>, AppError> {
    let hits = run_search(&state, p.q.unwrap_or_default(), p.limit.unwrap_or(10)).await?;
    Ok(Json(serde_json::json!({ "results": hits })))
}

/// Runs a search on a blocking thread, mapping its errors to HTTP ones.
pub(crate) async fn run_search(
    state: &AppState,
    q: String,
    limit: usize,
) -> Result<Vec<search::Hit>, AppError> {
    state.metrics.searches.fetch_add(1, Ordering::Relaxed);
    let home = state.home.clone();
    let found = tokio::task::spawn_blocking(move || search::search(&home, &q, limit))
        .await
        .map_err(|e| AppError::internal(e.to_string()))?;
    match found {
        Ok(hits) => Ok(hits),
        Err(e @ search::SearchError::Query(_)) => Err(AppError::bad_request(e.to_string())),
        Err(e @ (search::SearchError::Missing(_) | search::SearchError::Outdated(_))) => {
            Err(AppError::unavailable(e.to_string()))
        }
        Err(e) => Err(AppError::internal(e.to_string())),
    }
}

async fn health(State(state): Shared) -> Json<serde_json::Value> {
    let indexed = state.home.join(search::DIR).join("meta.json").is_file();
    let m = &state.metrics;
    Json(serde_json::json!({
        "status": "ok",
        "search": indexed,
        "indexed": m.indexed.load(Ordering::Relaxed),
        "ingested": m.ingested.load(Ordering::Relaxed),
        "last_ingest_age": m.last_ingest_age(),
        "reconciled": m.reconciled.load(Ordering::Relaxed),
        "node": state.node,
        "logs": state_counts(&ingest_states(m)),
    }))
}

/// The node's ingest states (none when no node runs).
fn ingest_states(
    m: &Metrics,
) -> std::collections::BTreeMap<String, cairn_core::net::service::LogState> {
    m.ingest
        .get()
        .map(cairn_core::net::gossip::Ingest::states)
        .unwrap_or_default()
}

/// How many logs are in each state other than synchronized.
fn state_counts(
    states: &std::collections::BTreeMap<String, cairn_core::net::service::LogState>,
) -> serde_json::Value {
    use cairn_core::net::service::LogState;
    let mut counts = std::collections::BTreeMap::from([
        ("fetching", 0u64),
        ("behind", 0),
        ("throttled", 0),
        ("failed", 0),
    ]);
    for s in states.values() {
        let key = match s {
            LogState::Fetching => "fetching",
            LogState::Behind { .. } => "behind",
            LogState::Throttled { .. } => "throttled",
            LogState::Failed { .. } => "failed",
        };
        *counts.entry(key).or_default() += 1;
    }
    serde_json::json!(counts)
}

/// `GET /api/v1/ingest?limit=N`: the logs not synchronized, by log, with their states.
async fn ingest_route(
    State(state): Shared,
    Query(p): Query<SearchParams>,
) -> Json<serde_json::Value> {
    let limit = p.limit.unwrap_or(100).min(1000);
    let states = ingest_states(&state.metrics);
    let logs: Vec<serde_json::Value> = states
        .iter()
        .take(limit)
        .map(|(log, s)| {
            let mut v = serde_json::json!(s);
            v["log"] = serde_json::json!(log);
            v
        })
        .collect();
    Json(serde_json::json!({ "counts": state_counts(&states), "logs": logs }))
}

async fn metrics_route(State(state): Shared) -> Result<Response, AppError> {
    let (heads, forks) = read(&state, |h| {
        let mut by_kind = std::collections::BTreeMap::<String, u64>::new();
        for (_, _, _, kind) in h.heads()? {
            *by_kind.entry(kind).or_default() += 1;
        }
        Ok((by_kind, h.fork_list()?.len()))
    })
    .await?;
    let m = &state.metrics;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let series: [(&str, &str, &str, u64); 10] = [
        (
            "http_requests_total",
            "HTTP requests received.",
            "counter",
            get(&m.requests),
        ),
        (
            "http_limited_total",
            "HTTP requests refused by the per-address rate limit.",
            "counter",
            get(&m.limited),
        ),
        (
            "searches_total",
            "Searches run.",
            "counter",
            get(&m.searches),
        ),
        (
            "ingested_total",
            "Logs fetched and verified after an announcement.",
            "counter",
            get(&m.ingested),
        ),
        (
            "dropped_total",
            "Announcements dropped (budgets, refusals, failed fetches).",
            "counter",
            get(&m.dropped),
        ),
        (
            "reconciled_total",
            "Logs fetched by reconciliation with other indexing nodes.",
            "counter",
            get(&m.reconciled),
        ),
        (
            "reindexes_total",
            "Rebuilds of the search index.",
            "counter",
            get(&m.reindexes),
        ),
        (
            "indexed_packages",
            "Version indexes in the search index.",
            "gauge",
            get(&m.indexed),
        ),
        (
            "reindex_milliseconds",
            "How long the last rebuild of the search index took.",
            "gauge",
            get(&m.reindex_ms),
        ),
        ("forks", "Forks on record.", "gauge", forks as u64),
    ];
    let mut out = String::new();
    {
        use std::fmt::Write as _;
        for (name, help, kind, value) in series {
            let _ = write!(
                out,
                "# HELP cairn_indexer_{name} {help}\n# TYPE cairn_indexer_{name} {kind}\ncairn_indexer_{name} {value}\n"
            );
        }
        let _ = write!(
            out,
            "# HELP cairn_indexer_heads Logs held, by kind.\n# TYPE cairn_indexer_heads gauge\n"
        );
        for (kind, n) in &heads {
            let _ = writeln!(out, "cairn_indexer_heads{{kind=\"{kind}\"}} {n}");
        }
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}

#[derive(Debug, Deserialize)]
struct IpfsParams {
    format: Option<String>,
}

const RAW: &str = "application/vnd.ipld.raw";
const CAR: &str = "application/vnd.ipld.car";

async fn ipfs(
    State(state): Shared,
    Path(cid): Path<String>,
    Query(p): Query<IpfsParams>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let parsed: Cid = cid
        .parse()
        .map_err(|e| AppError::bad_request(format!("`{cid}` is not a Cairn CID: {e}")))?;
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let car = match p.format.as_deref() {
        Some("car") => true,
        Some("raw") => false,
        Some(other) => {
            return Err(AppError::bad_request(format!(
                "`format={other}` is not served; use `raw` or `car`"
            )));
        }
        None if accept.contains(CAR) => true,
        None if accept.contains(RAW) => false,
        None => {
            return Err(AppError::bad_request(
                "say which format: `?format=raw` or `?format=car` (or an Accept header)",
            ));
        }
    };
    let block = read(&state, move |h| Ok(h.block(&parsed)?))
        .await?
        .ok_or_else(|| AppError::not_found(format!("no block `{cid}` is held here")))?;
    if !car {
        return Ok(([(header::CONTENT_TYPE, RAW)], block).into_response());
    }
    let mut out = Vec::new();
    let mut w = cairn_core::car::Writer::new(&mut out, &[parsed])
        .map_err(|e| AppError::internal(e.to_string()))?;
    w.block(&parsed, &block)
        .map_err(|e| AppError::internal(e.to_string()))?;
    w.finish();
    Ok(([(header::CONTENT_TYPE, CAR)], out).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_a_burst_then_the_rate() {
        let limits = crate::limits::Http::default();
        let mut l = Limiter::new(limits);
        let (a, b): (IpAddr, IpAddr) = (
            "10.0.0.1".parse().expect("ip"),
            "10.0.0.2".parse().expect("ip"),
        );
        let t = Instant::now();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let burst = limits.burst as usize;
        for _ in 0..burst {
            assert!(l.allow(a, t).is_ok());
        }
        assert_eq!(l.allow(a, t), Err(1), "beyond the burst: wait");
        assert!(l.allow(b, t).is_ok(), "another address has its own budget");
        let later = t + Duration::from_secs(1);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rate = limits.rate as usize;
        let allowed = (0..rate * 2).filter(|_| l.allow(a, later).is_ok()).count();
        assert_eq!(allowed, rate, "a second refills the rate, no more");
    }
}
