//! Direct pushes (ALPN `cairn/push/1`): a node tells another which heads it holds, without a
//! gossip swarm between them (a publisher telling an indexing node, say), and hears what the
//! other did with each. The receiver judges a pushed announcement exactly as one heard by
//! gossip (same budgets, same queue) and fetches from the pusher, which serves meanwhile.

use std::time::Duration;

use cairn_protocol::wire::{self, Announcement, Verdict};
use iroh::address_lookup::memory::MemoryLookup;
use iroh::endpoint::Connection;
use iroh::protocol::{AcceptError, ProtocolHandler};
use iroh::{Endpoint, EndpointAddr, EndpointId, TransportAddr};
use tokio::sync::{mpsc, oneshot};

use super::{NetError, Peer};

/// The largest push: [`wire::MAX_PUSH`] announcements and their framing.
pub const MAX_PUSH_BYTES: usize = wire::MAX_PUSH * (wire::MAX_ANNOUNCEMENT + 2);
/// How long a push may take to arrive, or its answer.
const WAIT: Duration = Duration::from_secs(10);

/// A push received, for the node's announcer to judge.
#[derive(Debug)]
pub(crate) struct Pushed {
    pub(crate) from: EndpointId,
    pub(crate) announcements: Vec<Announcement>,
    pub(crate) answer: oneshot::Sender<Vec<Verdict>>,
}

/// The protocol handler: reads pushes and hands them to the announcer.
#[derive(Debug, Clone)]
pub(crate) struct Push {
    pub(crate) pushes: mpsc::Sender<Pushed>,
    /// The node's address book: a pusher is dialed back at the address it came from.
    pub(crate) book: MemoryLookup,
}

impl ProtocolHandler for Push {
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        let from = conn.remote_id();
        let addrs: Vec<std::net::SocketAddr> = conn
            .paths()
            .iter()
            .filter_map(|p| match p.remote_addr() {
                TransportAddr::Ip(a) => Some(*a),
                _ => None,
            })
            .collect();
        if !addrs.is_empty() {
            self.book.add_endpoint_info(
                EndpointAddr::new(from).with_addrs(addrs.into_iter().map(TransportAddr::Ip)),
            );
        }
        let Ok((mut send, mut recv)) = conn.accept_bi().await else {
            return Ok(());
        };
        let verdicts = match tokio::time::timeout(WAIT, recv.read_to_end(MAX_PUSH_BYTES)).await {
            Ok(Ok(bytes)) => match wire::decode_push(&bytes) {
                Ok(announcements) => {
                    let (answer, answered) = oneshot::channel();
                    let pushed = Pushed {
                        from,
                        announcements,
                        answer,
                    };
                    if self.pushes.send(pushed).await.is_err() {
                        return Ok(()); // The node is stopping.
                    }
                    answered.await.unwrap_or_default()
                }
                Err(e) => vec![Verdict::Dropped(format!("{}: {e}", e.code()))],
            },
            Ok(Err(e)) => vec![Verdict::Dropped(format!("push-frame: {e}"))],
            Err(_) => return Ok(()),
        };
        let _ = send.write_all(&wire::encode_verdicts(&verdicts)).await;
        let _ = send.finish();
        let _ = tokio::time::timeout(WAIT, conn.closed()).await;
        Ok(())
    }
}

/// Pushes `announcements` (at most [`wire::MAX_PUSH`]) to `to` from `ep`, whose router must
/// serve the logs meanwhile; what `to` did with each, in order.
///
/// # Errors
/// When `to` cannot be reached, does not answer in time, or answers something unreadable.
pub async fn push(
    ep: &Endpoint,
    to: &Peer,
    announcements: &[Announcement],
) -> Result<Vec<Verdict>, NetError> {
    let short = to.id.fmt_short();
    let failed = |why: String| NetError::Unavailable(format!("cannot push to {short}: {why}"));
    let conn = tokio::time::timeout(WAIT, ep.connect(to.endpoint_addr(), wire::PUSH_ALPN))
        .await
        .map_err(|_| failed("it did not answer".into()))?
        .map_err(|e| failed(e.to_string()))?;
    let exchange = async {
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
        send.write_all(&wire::encode_push(announcements))
            .await
            .map_err(|e| e.to_string())?;
        send.finish().map_err(|e| e.to_string())?;
        let answer = recv
            .read_to_end(MAX_PUSH_BYTES)
            .await
            .map_err(|e| e.to_string())?;
        wire::decode_verdicts(&answer).ok_or_else(|| "its answer is not a list of verdicts".into())
    };
    let verdicts = tokio::time::timeout(WAIT, exchange)
        .await
        .map_err(|_| failed("no answer in time".into()))?
        .map_err(failed)?;
    conn.close(0u32.into(), b"done");
    Ok(verdicts)
}

/// What one peer did with a push.
#[derive(Debug)]
pub struct PushReport {
    /// The peer.
    pub peer: Peer,
    /// Its verdicts, one per announcement in order, or why the push failed.
    pub verdicts: Result<Vec<Verdict>, NetError>,
}

/// Pushes `announcements` to each of `to` from this home's node key, serving the home at
/// `dir` meanwhile; when a peer fetches, waits until its requests stop for a second (at most
/// `wait`). Where a node of the home runs already, both serve the same store.
///
/// # Errors
/// When the endpoint cannot start; a peer that cannot be pushed to is reported in its
/// [`PushReport`].
pub async fn push_from(
    dir: &std::path::Path,
    to: &[Peer],
    announcements: &[Announcement],
    wait: Duration,
) -> Result<Vec<PushReport>, NetError> {
    let book = MemoryLookup::new();
    for p in to {
        book.add_endpoint_info(p.endpoint_addr());
    }
    let loopback = to
        .iter()
        .flat_map(|p| &p.addrs)
        .all(|a| a.ip().is_loopback());
    let listen = if loopback {
        std::net::SocketAddr::from(([127, 0, 0, 1], 0))
    } else {
        std::net::SocketAddr::from(([0, 0, 0, 0], 0))
    };
    let ep = super::endpoint(super::node_key(dir)?, listen, &book).await?;
    let serve = super::serve::Serve::new(dir);
    let served = serve.served();
    let router = iroh::protocol::Router::builder(ep.clone())
        .accept(wire::ALPN, serve)
        .spawn();
    let mut out = Vec::new();
    for peer in to {
        let mut verdicts = Ok(Vec::new());
        for chunk in announcements.chunks(wire::MAX_PUSH) {
            match (&mut verdicts, push(&ep, peer, chunk).await) {
                (Ok(all), Ok(got)) => all.extend(got),
                (_, Err(e)) => {
                    verdicts = Err(e);
                    break;
                }
                (Err(_), Ok(_)) => {}
            }
        }
        out.push(PushReport {
            peer: peer.clone(),
            verdicts,
        });
    }
    let fetching = out.iter().any(|p| {
        p.verdicts
            .as_ref()
            .is_ok_and(|v| v.contains(&Verdict::Fetching))
    });
    if fetching {
        let start = std::time::Instant::now();
        let (mut seen, mut changed) = (0, start);
        while start.elapsed() < wait {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = served.load(std::sync::atomic::Ordering::Relaxed);
            if now != seen {
                (seen, changed) = (now, std::time::Instant::now());
            }
            if seen > 0 && changed.elapsed() >= Duration::from_secs(1) {
                break;
            }
        }
    }
    let _ = router.shutdown().await;
    Ok(out)
}

/// Head announcements of the indexes `logs` (every index held when empty) as `home` holds
/// them. Identity logs are left out: they travel with the indexes that cite them.
///
/// # Errors
/// When the store cannot be read, or a log named is not held.
pub fn heads_of(home: &crate::home::Home, logs: &[String]) -> Result<Vec<Announcement>, NetError> {
    let heads = home
        .heads()
        .map_err(|e| NetError::Unavailable(e.to_string()))?;
    let mut out = Vec::new();
    for (log, seq, payload, kind) in heads {
        if kind == "identity" || !(logs.is_empty() || logs.contains(&log)) {
            continue;
        }
        out.push(Announcement {
            kind: wire::Announced::Head,
            log,
            seq,
            payload,
        });
    }
    for log in logs {
        if !out.iter().any(|a| &a.log == log) {
            return Err(NetError::Unavailable(format!(
                "this home holds no index `{log}`\n\nhint: `cairn show {log}` says what is held; identity logs are not pushed, they travel with the indexes that cite them"
            )));
        }
    }
    Ok(out)
}
