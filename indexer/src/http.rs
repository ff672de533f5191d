//! The indexer's HTTP API (axum): search, health, and the IPFS trustless-gateway subset for the
//! record blocks the home holds. Every error is the JSON shape of [`AppError`].
//!
//! - `GET /api/v1/search?q=QUERY&limit=N`: `{"results": [...]}`, ranked as [`search::search`];
//! - `GET /health`: `{"status": "ok", "search": true|false}`;
//! - `GET /ipfs/{cid}?format=raw|car` (or `Accept: application/vnd.ipld.raw` /
//!   `application/vnd.ipld.car`): exactly the block, or a CAR (version 1) holding it with it as
//!   the root. Only blocks held here are served; a CID that is not one is a 400.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cairn_core::home::Home;
use cairn_protocol::cid::Cid;
use serde::Deserialize;

use crate::error::AppError;
use crate::search;

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.to_json())).into_response()
    }
}

/// The routes, serving the home at `home`.
pub fn router(home: PathBuf) -> axum::Router {
    axum::Router::new()
        .route("/api/v1/search", get(search_route))
        .route("/health", get(health))
        .route("/ipfs/{cid}", get(ipfs))
        .fallback(|| async {
            AppError::not_found("no such endpoint; see /api/v1/search, /health, /ipfs/{cid}")
        })
        .with_state(Arc::new(home))
}

#[derive(Debug, Deserialize)]
struct SearchParams {
    q: Option<String>,
    limit: Option<usize>,
}

async fn search_route(
    State(home): State<Arc<PathBuf>>,
    Query(p): Query<SearchParams>,
) -> Result<Json<serde_json::Value>, AppError> {
    let q = p.q.unwrap_or_default();
    let limit = p.limit.unwrap_or(10);
    let found = tokio::task::spawn_blocking(move || search::search(&home, &q, limit))
        .await
        .map_err(|e| AppError::internal(e.to_string()))?;
    match found {
        Ok(hits) => Ok(Json(serde_json::json!({ "results": hits }))),
        Err(e @ search::SearchError::Query(_)) => Err(AppError::bad_request(e.to_string())),
        Err(e @ search::SearchError::Missing(_)) => Err(AppError::unavailable(e.to_string())),
        Err(e) => Err(AppError::internal(e.to_string())),
    }
}

async fn health(State(home): State<Arc<PathBuf>>) -> Json<serde_json::Value> {
    let indexed = home.join(search::DIR).join("meta.json").is_file();
    Json(serde_json::json!({ "status": "ok", "search": indexed }))
}

#[derive(Debug, Deserialize)]
struct IpfsParams {
    format: Option<String>,
}

const RAW: &str = "application/vnd.ipld.raw";
const CAR: &str = "application/vnd.ipld.car";

async fn ipfs(
    State(home): State<Arc<PathBuf>>,
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
    let block =
        tokio::task::spawn_blocking(move || Home::open(&home).and_then(|h| h.block(&parsed)))
            .await
            .map_err(|e| AppError::internal(e.to_string()))?
            .map_err(|e| AppError::internal(e.to_string()))?
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
