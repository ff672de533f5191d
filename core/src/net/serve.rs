//! Serving peers: the `cairn/sync/2` protocol handler. Each request arrives on its own stream;
//! the answer is read from the home's store (a fresh read connection per request, so the CLI,
//! the node and other processes share the home as usual) and streamed back.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_protocol::cid::Cid;
use cairn_protocol::wire::{self, FOUND, NOT_HELD, REFUSED, Request};
use iroh::endpoint::{Connection, RecvStream, SendStream};
use iroh::protocol::{AcceptError, ProtocolHandler};
use tokio::sync::Semaphore;

use crate::store::{Store, StoreError};

/// Requests one connection may have in flight at once; more wait for a slot.
const IN_FLIGHT: usize = 32;

/// A chain answer stops after the envelope that takes it past this many bytes.
pub const CHAIN_BYTES: usize = 4 << 20;

/// A `blocks` answer stops after the block that takes it past this many bytes.
pub const BLOCKS_BYTES: usize = 4 << 20;

/// The request handler for one home.
#[derive(Debug, Clone)]
pub struct Serve {
    home: Arc<PathBuf>,
    served: Arc<std::sync::atomic::AtomicU64>,
}

impl Serve {
    /// Serves what the home at `home` holds.
    #[must_use]
    pub fn new(home: &Path) -> Serve {
        Serve {
            home: Arc::new(home.to_path_buf()),
            served: Arc::default(),
        }
    }

    /// A counter of the requests answered so far.
    #[must_use]
    pub fn served(&self) -> Arc<std::sync::atomic::AtomicU64> {
        self.served.clone()
    }
}

/// One read connection to the store per peer connection, opened on its first request and
/// kept for the next ones (opening a store costs more than most answers).
type Reader = Arc<std::sync::Mutex<Option<Store>>>;

impl ProtocolHandler for Serve {
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        let reader: Reader = Arc::default();
        while let Ok((send, recv)) = conn.accept_bi().await {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let (home, reader, served) = (self.home.clone(), reader.clone(), self.served.clone());
            tokio::spawn(async move {
                if let Err(e) = answer(&home, &reader, send, recv).await {
                    tracing::debug!("a request ended early: {e}");
                }
                served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                drop(slot);
            });
        }
        Ok(())
    }
}

/// What a request is answered with, read from the store.
enum Reply {
    Bytes(Vec<u8>),
    NotHeld,
    Refused(String),
}

async fn answer(
    home: &Path,
    reader: &Reader,
    mut send: SendStream,
    mut recv: RecvStream,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let request = recv.read_to_end(wire::MAX_REQUEST).await?;
    let reply = match Request::decode(&request) {
        Err(e) => Reply::Refused(format!("bad request: {e}")),
        Ok(request) => {
            let (home, reader) = (home.to_path_buf(), reader.clone());
            tokio::task::spawn_blocking(move || {
                let mut store = reader
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let opened = match store.take() {
                    Some(s) => Ok(s),
                    None => Store::open(&home),
                };
                match opened {
                    Ok(s) => {
                        let reply =
                            read(&s, &request).unwrap_or_else(|e| Reply::Refused(e.to_string()));
                        *store = Some(s);
                        reply
                    }
                    Err(e) => Reply::Refused(e.to_string()),
                }
            })
            .await?
        }
    };
    match reply {
        Reply::Bytes(bytes) => {
            send.write_all(&[FOUND]).await?;
            send.write_all(&bytes).await?;
        }
        Reply::NotHeld => send.write_all(&[NOT_HELD]).await?,
        Reply::Refused(reason) => {
            send.write_all(&[REFUSED]).await?;
            send.write_all(reason.as_bytes()).await?;
        }
    }
    send.finish()?;
    send.stopped().await.ok();
    Ok(())
}

/// Reads the answer to `request` from `store`.
fn read(store: &Store, request: &Request) -> Result<Reply, StoreError> {
    Ok(match request {
        Request::Head { log } => match store.head(log)? {
            Some((seq, _)) => store
                .envelope(log, seq)?
                .map_or(Reply::NotHeld, Reply::Bytes),
            None => Reply::NotHeld,
        },
        Request::Chain {
            log,
            from,
            stop,
            max,
        } => chain(store, log, from, stop.as_ref(), *max)?,
        Request::Block { cid } => store.block(cid)?.map_or(Reply::NotHeld, Reply::Bytes),
        Request::Blocks { cids } => {
            let mut out = Vec::new();
            for cid in cids {
                if out.len() >= BLOCKS_BYTES {
                    break; // The asker asks again for the rest.
                }
                wire::frame(&mut out, &store.block(cid)?.unwrap_or_default());
            }
            Reply::Bytes(out)
        }
        Request::Fork { log } => match store.forks(log)?.into_iter().next() {
            Some(fork) => {
                let mut out = Vec::new();
                wire::frame(&mut out, &fork.a);
                wire::frame(&mut out, &fork.b);
                Reply::Bytes(out)
            }
            None => Reply::NotHeld,
        },
        Request::Indexes { identity } => {
            let logs = store.indexes_of(identity, wire::MAX_INDEXES)?;
            if logs.is_empty() {
                Reply::NotHeld
            } else {
                let mut out = Vec::new();
                for log in logs {
                    wire::frame(&mut out, log.as_bytes());
                }
                Reply::Bytes(out)
            }
        }
    })
}

/// Envelopes of `log` from the revision whose payload is `from` back to (not including) `stop`
/// or the first revision.
fn chain(
    store: &Store,
    log: &str,
    from: &Cid,
    stop: Option<&Cid>,
    max: u64,
) -> Result<Reply, StoreError> {
    let Some((held, seq)) = store.revision_by_payload(from)? else {
        return Ok(Reply::NotHeld);
    };
    if held != log {
        return Ok(Reply::NotHeld);
    }
    let floor = match stop {
        Some(stop) => match store.revision_by_payload(stop)? {
            Some((l, s)) if l == log && s < seq => s,
            _ => 0,
        },
        None => 0,
    };
    let mut out = Vec::new();
    let mut at = seq;
    while at > floor && seq - at < max && out.len() < CHAIN_BYTES {
        let Some(envelope) = store.envelope(log, at)? else {
            break;
        };
        wire::frame(&mut out, &envelope);
        at -= 1;
    }
    Ok(Reply::Bytes(out))
}
