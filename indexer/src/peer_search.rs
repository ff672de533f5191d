//! Search over the peer network (ALPN `cairn/search/1`): the same search as the HTTP API's
//! `/api/v1/search`, asked of an indexing node by its endpoint ID, with no HTTP server between.
//! One request per stream, a few at once per node, each bounded in size and time.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, bail};
use cairn_core::net::iroh::endpoint::Connection;
use cairn_core::net::iroh::protocol::{AcceptError, ProtocolHandler};
use cairn_core::net::{self, Peer};
use cairn_protocol::wire::{self, SearchRequest};
use tokio::sync::Semaphore;

use crate::http::Metrics;
use crate::search;

/// How long a request may take to arrive, or an answer.
const WAIT: Duration = Duration::from_secs(10);
/// The largest answer a client reads.
const MAX_ANSWER: usize = 8 << 20;

/// The protocol handler an indexing node serves its search with.
#[derive(Debug, Clone)]
pub struct Search {
    home: PathBuf,
    metrics: Arc<Metrics>,
    slots: Arc<Semaphore>,
}

impl Search {
    /// Serves the search index of the home at `home`, counting in `metrics`, with at most
    /// `at_once` searches running at once (the others wait).
    #[must_use]
    pub fn new(home: PathBuf, metrics: Arc<Metrics>, at_once: usize) -> Search {
        Search {
            home,
            metrics,
            slots: Arc::new(Semaphore::new(at_once.max(1))),
        }
    }

    /// The answer to one request: a status byte, then the JSON or why.
    async fn answer(&self, request: &[u8]) -> Vec<u8> {
        let refused = |why: String| {
            let mut out = vec![wire::REFUSED];
            out.extend_from_slice(why.as_bytes());
            out
        };
        let request = match SearchRequest::decode(request) {
            Ok(r) => r,
            Err(e) => return refused(format!("bad request: {}: {e}", e.code())),
        };
        let Ok(_slot) = self.slots.acquire().await else {
            return refused("the node is stopping".into());
        };
        self.metrics.searches.fetch_add(1, Ordering::Relaxed);
        let home = self.home.clone();
        let limit = usize::try_from(request.limit).unwrap_or(search::MAX_LIMIT);
        let found =
            tokio::task::spawn_blocking(move || search::search(&home, &request.query, limit)).await;
        match found {
            Ok(Ok(hits)) => {
                let mut out = vec![wire::FOUND];
                match serde_json::to_writer(&mut out, &serde_json::json!({ "results": hits })) {
                    Ok(()) => out,
                    Err(e) => refused(e.to_string()),
                }
            }
            Ok(Err(e)) => refused(e.to_string()),
            Err(e) => refused(e.to_string()),
        }
    }
}

impl ProtocolHandler for Search {
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        // One request at a time per connection.
        while let Ok((mut send, mut recv)) = conn.accept_bi().await {
            let Ok(Ok(request)) =
                tokio::time::timeout(WAIT, recv.read_to_end(wire::MAX_REQUEST)).await
            else {
                break;
            };
            let answer = self.answer(&request).await;
            if send.write_all(&answer).await.is_err() || send.finish().is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// Asks the indexing node `peer` for `query` (at most `limit` results): its JSON answer,
/// `{"results": [...]}` as the HTTP API gives it.
///
/// # Errors
/// When the node cannot be reached, refuses, or answers something that is not JSON.
pub async fn ask(peer: &Peer, query: &str, limit: u64) -> anyhow::Result<serde_json::Value> {
    let request = SearchRequest {
        query: query.to_owned(),
        limit,
    };
    let short = peer.id.fmt_short();
    let ep = net::client(std::slice::from_ref(peer)).await?;
    let exchange = async {
        let conn = ep
            .connect(peer.endpoint_addr(), wire::SEARCH_ALPN)
            .await
            .with_context(|| format!("cannot reach the indexing node {short}"))?;
        let (mut send, mut recv) = conn.open_bi().await?;
        send.write_all(&request.encode()).await?;
        send.finish()?;
        let answer = recv.read_to_end(MAX_ANSWER).await?;
        conn.close(0u32.into(), b"done");
        anyhow::Ok(answer)
    };
    let answer = tokio::time::timeout(WAIT, exchange)
        .await
        .map_err(|_| anyhow::anyhow!("the indexing node {short} did not answer in time"))?;
    ep.close().await;
    let answer = answer?;
    match answer.split_first() {
        Some((&wire::FOUND, json)) => serde_json::from_slice(json)
            .with_context(|| format!("the indexing node {short} answered something not JSON")),
        Some((&wire::REFUSED, why)) => bail!(
            "the indexing node {short} refused the search: {}",
            String::from_utf8_lossy(&why[..why.len().min(500)])
        ),
        _ => bail!("the indexing node {short} answered something unreadable"),
    }
}
