//! The peer network: each home runs (or borrows) one iroh endpoint, serves what its store holds
//! to peers that ask ([`serve`]), and fetches logs, records and artifacts from peers, checking
//! every byte against what it asked for before anything is kept ([`sync`]).
//!
//! Offline first: endpoints bind the address they are given (loopback in tests), with no relay
//! servers, no address-lookup service and no port mapping. Peers are named by endpoint ID and
//! direct addresses, kept in the home's peer list.
//!
//! Normative text: `spec/14-network.md`.

pub mod blobs;
pub mod gossip;
/// The iroh the node runs on, for crates that serve their own protocols beside it.
pub use iroh;
pub mod push;
pub mod serve;
pub mod service;
pub mod sync;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use iroh::address_lookup::memory::MemoryLookup;
use iroh::endpoint::{PortmapperConfig, presets};
use iroh::{Endpoint, EndpointAddr, EndpointId, RelayMode, SecretKey};
use thiserror::Error;

use crate::atomic::{Access, AtomicFile};
use crate::home::Home;
use crate::store::StoreError;

/// The file holding the home's node key (not an identity key: it only names the endpoint).
pub const NODE_KEY: &str = "node.key";

/// Settings key prefix of the peer list.
const PEER: &str = "peer:";

/// Why a network operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NetError {
    /// The store refused or could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A local file could not be read or written.
    #[error("cannot use `{path}`: {cause}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The endpoint could not be started.
    #[error("cannot start the network endpoint on {addr}: {reason}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// A peer named badly.
    #[error(
        "`{given}` is not a peer: {reason}\n\nhint: a peer is ENDPOINT-ID or ENDPOINT-ID@IP:PORT[,IP:PORT…], as `cairn node addr` prints it"
    )]
    BadPeer {
        /// What was given.
        given: String,
        /// Why.
        reason: String,
    },
    /// No peer could be reached, or none had what was asked.
    #[error("{0}")]
    Unavailable(String),
}

/// A peer: its endpoint ID and the direct addresses to dial it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The endpoint ID (an Ed25519 public key).
    pub id: EndpointId,
    /// Direct addresses.
    pub addrs: Vec<SocketAddr>,
}

impl Peer {
    /// The address iroh dials.
    #[must_use]
    pub fn endpoint_addr(&self) -> EndpointAddr {
        self.addrs
            .iter()
            .fold(EndpointAddr::new(self.id), |a, s| a.with_ip_addr(*s))
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.id)?;
        for (i, a) in self.addrs.iter().enumerate() {
            write!(f, "{}{a}", if i == 0 { '@' } else { ',' })?;
        }
        Ok(())
    }
}

impl FromStr for Peer {
    type Err = NetError;

    fn from_str(s: &str) -> Result<Peer, NetError> {
        let bad = |reason: String| NetError::BadPeer {
            given: s.to_owned(),
            reason,
        };
        let (id, addrs) = s.split_once('@').unwrap_or((s, ""));
        let id: EndpointId = id
            .parse()
            .map_err(|e| bad(format!("the endpoint ID: {e}")))?;
        if id.as_verifying_key().is_weak() {
            return Err(bad("the endpoint ID is a weak key".into()));
        }
        let addrs = addrs
            .split(',')
            .filter(|a| !a.is_empty())
            .map(|a| {
                a.parse::<SocketAddr>()
                    .map_err(|e| bad(format!("`{a}`: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Peer { id, addrs })
    }
}

/// The home's node key, created (owner-only, atomically) on first use. Two processes creating
/// it at once agree: the second keeps the first one's.
pub fn node_key(home: &Path) -> Result<SecretKey, NetError> {
    let path = home.join(NODE_KEY);
    let io = |cause| NetError::Io {
        path: path.clone(),
        cause,
    };
    match std::fs::read(&path) {
        Ok(bytes) => {
            let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                io(std::io::Error::other(
                    "a node key is 32 bytes; delete the file and a new key is made",
                ))
            })?;
            return Ok(SecretKey::from_bytes(&bytes));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| io(std::io::Error::other(e.to_string())))?;
    let mut file = AtomicFile::create(&path, Access::Private).map_err(io)?;
    file.write_all(&seed).map_err(io)?;
    match file.commit_new("node-key:after-temp-write") {
        Ok(()) => Ok(SecretKey::from_bytes(&seed)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => node_key(home),
        Err(e) => Err(io(e)),
    }
}

/// Binds an endpoint with `key` on `listen`: no relays, no address lookup but the in-process
/// `book` (filled from the peer list), no port mapping.
pub async fn endpoint(
    key: SecretKey,
    listen: SocketAddr,
    book: &MemoryLookup,
) -> Result<Endpoint, NetError> {
    let bind = |reason: String| NetError::Bind {
        addr: listen,
        reason,
    };
    Endpoint::builder(presets::Minimal)
        .secret_key(key)
        .relay_mode(RelayMode::Disabled)
        .clear_address_lookup()
        .address_lookup(book.clone())
        .portmapper_config(PortmapperConfig::Disabled)
        .clear_ip_transports()
        .bind_addr(listen)
        .map_err(|e| bind(e.to_string()))?
        .bind()
        .await
        .map_err(|e| bind(e.to_string()))
}

/// The file a running node writes its address to (removed when it stops).
pub const NODE_ADDR: &str = "node.addr";

/// The file a running node holds locked, so that a node killed without stopping (whose
/// address file stays behind) is not taken for a running one, and one home runs one node.
pub const NODE_LOCK: &str = "node.lock";

/// A running node: the home's endpoint serving the home's store and announcing its heads.
#[derive(Debug)]
pub struct Node {
    router: iroh::protocol::Router,
    home: PathBuf,
    stop: tokio::sync::watch::Sender<bool>,
    announcer: tokio::task::JoinHandle<()>,
    heard: Option<tokio::sync::mpsc::UnboundedReceiver<gossip::Heard>>,
    ingest: gossip::Ingest,
    served: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// [`NODE_LOCK`], locked while the node runs.
    _lock: std::fs::File,
}

/// What a crawling node (an indexing node) takes and serves beyond other nodes.
#[derive(Debug, Default)]
pub struct Crawler {
    /// How much it takes from others.
    pub limits: service::Limits,
    /// Protocols it serves beside the node's own: ALPN and handler (its search, say).
    pub extra: Vec<(&'static [u8], Box<dyn iroh::protocol::DynProtocolHandler>)>,
}

impl Node {
    /// Binds the home's endpoint on `listen`, serves the store, and announces over gossip
    /// with `peers` as the first neighbours; writes the address others dial to [`NODE_ADDR`].
    pub async fn start(home: &Path, listen: SocketAddr, peers: &[Peer]) -> Result<Node, NetError> {
        Node::start_with(home, listen, peers, None).await
    }

    /// As [`Node::start`], for an indexing node: it fetches every index it hears announced,
    /// held or not, with everything a package index admits (crawling), within `crawler`'s
    /// limits, and also serves `crawler`'s extra protocols.
    pub async fn start_crawler(
        home: &Path,
        listen: SocketAddr,
        peers: &[Peer],
        crawler: Crawler,
    ) -> Result<Node, NetError> {
        Node::start_with(home, listen, peers, Some(crawler)).await
    }

    async fn start_with(
        home: &Path,
        listen: SocketAddr,
        peers: &[Peer],
        crawler: Option<Crawler>,
    ) -> Result<Node, NetError> {
        let (limits, extra) = match crawler {
            Some(c) => (Some(c.limits), c.extra),
            None => (None, Vec::new()),
        };
        let lock_path = home.join(NODE_LOCK);
        std::fs::create_dir_all(home).map_err(|cause| NetError::Io {
            path: home.to_path_buf(),
            cause,
        })?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|cause| NetError::Io {
                path: lock_path.clone(),
                cause,
            })?;
        if lock.try_lock().is_err() {
            return Err(NetError::Unavailable(format!(
                "a node of the home `{}` runs already (it holds `{NODE_LOCK}`); stop it first, or use another home",
                home.display()
            )));
        }
        let key = node_key(home)?;
        let signing = cairn_protocol::sign::SecretKey::from_seed(&key.to_bytes());
        let book = MemoryLookup::new();
        for p in peers {
            book.add_endpoint_info(p.endpoint_addr());
        }
        let ep = endpoint(key, listen, &book).await?;
        let gossip = iroh_gossip::Gossip::builder().spawn(ep.clone());
        let serve = serve::Serve::new(home);
        let served = serve.served();
        let (pushes_tx, pushes) = tokio::sync::mpsc::channel(16);
        let push = push::Push {
            pushes: pushes_tx,
            book: book.clone(),
        };
        let mut router = iroh::protocol::Router::builder(ep.clone())
            .accept(cairn_protocol::wire::ALPN, serve)
            .accept(iroh_gossip::ALPN, gossip.clone())
            .accept(cairn_protocol::wire::PUSH_ALPN, push)
            .accept(iroh_blobs::ALPN, blobs::Blobs::new(home));
        for (alpn, handler) in extra {
            router = router.accept(alpn, handler);
        }
        let router = router.spawn();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (heard_tx, heard) = tokio::sync::mpsc::unbounded_channel();
        let ingest = gossip::Ingest::default();
        let announcer = tokio::spawn(gossip::run(
            limits,
            signing,
            gossip,
            ep,
            home.to_path_buf(),
            peers.iter().map(|p| p.id).collect(),
            stopped,
            heard_tx,
            pushes,
            ingest.clone(),
        ));
        let node = Node {
            router,
            home: home.to_path_buf(),
            stop,
            announcer,
            heard: Some(heard),
            ingest,
            served,
            _lock: lock,
        };
        let path = home.join(NODE_ADDR);
        crate::atomic::write(
            &path,
            format!("{}\n", node.addr()).as_bytes(),
            Access::Public,
            "node-addr:after-temp-write",
        )
        .map_err(|cause| NetError::Io { path, cause })?;
        Ok(node)
    }

    /// The address others dial.
    #[must_use]
    pub fn addr(&self) -> Peer {
        own_addr(self.router.endpoint())
    }

    /// The endpoint (to dial others from the node's own ID).
    #[must_use]
    pub fn endpoint(&self) -> &Endpoint {
        self.router.endpoint()
    }

    /// How many requests the node has answered.
    #[must_use]
    pub fn served(&self) -> u64 {
        self.served.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Where each log that is not synchronized stands in this node's ingest.
    #[must_use]
    pub fn ingest(&self) -> gossip::Ingest {
        self.ingest.clone()
    }

    /// What the announcement task fetched or dropped (once; later calls get `None`).
    pub fn heard(&mut self) -> Option<tokio::sync::mpsc::UnboundedReceiver<gossip::Heard>> {
        self.heard.take()
    }

    /// Stops announcing and serving (requests in flight finish first) and removes
    /// [`NODE_ADDR`].
    pub async fn shutdown(self) {
        let _ = std::fs::remove_file(self.home.join(NODE_ADDR));
        let _ = self.stop.send(true);
        let _ = self.announcer.await;
        if let Err(e) = self.router.shutdown().await {
            tracing::warn!("the node did not stop cleanly: {e}");
        }
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The address a running node of this home wrote, if one runs.
pub fn running(home: &Path) -> Option<Peer> {
    let lock = std::fs::File::open(home.join(NODE_LOCK)).ok()?;
    if lock.try_lock_shared().is_ok() {
        return None; // Nobody holds it: the node stopped, or was killed.
    }
    std::fs::read_to_string(home.join(NODE_ADDR))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// An endpoint for one command to dial peers from: a fresh key (a node of the same home may be
/// running under the home's key), bound on loopback when every peer is on loopback.
pub async fn client(peers: &[Peer]) -> Result<Endpoint, NetError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| NetError::Unavailable(e.to_string()))?;
    let loopback = peers
        .iter()
        .flat_map(|p| &p.addrs)
        .all(|a| a.ip().is_loopback());
    let listen: SocketAddr = if loopback {
        SocketAddr::from(([127, 0, 0, 1], 0))
    } else {
        SocketAddr::from(([0, 0, 0, 0], 0))
    };
    endpoint(SecretKey::from_bytes(&seed), listen, &MemoryLookup::new()).await
}

/// This endpoint as a peer others can dial.
#[must_use]
pub fn own_addr(ep: &Endpoint) -> Peer {
    Peer {
        id: ep.id(),
        addrs: ep.bound_sockets(),
    }
}

/// The home's peer list.
pub fn peers(home: &Home) -> Result<Vec<Peer>, NetError> {
    home.store
        .settings_with_prefix(PEER)?
        .into_iter()
        .map(|(k, v)| {
            let id = k.strip_prefix(PEER).unwrap_or(&k);
            if v.is_empty() {
                id.parse()
            } else {
                format!("{id}@{v}").parse()
            }
        })
        .collect()
}

/// Adds (or updates the addresses of) a peer.
pub fn add_peer(home: &mut Home, peer: &Peer) -> Result<(), NetError> {
    let addrs = peer
        .addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    home.store
        .set_setting(&format!("{PEER}{}", peer.id), &addrs)?;
    Ok(())
}

/// Removes a peer; whether it was listed.
pub fn remove_peer(home: &mut Home, id: &EndpointId) -> Result<bool, NetError> {
    let key = format!("{PEER}{id}");
    let held = home.store.setting(&key)?.is_some();
    home.store.remove_setting(&key)?;
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_print_and_parse_and_weak_keys_are_refused() {
        let key = SecretKey::from_bytes(&[7; 32]);
        let p = Peer {
            id: key.public(),
            addrs: vec![
                "127.0.0.1:4000".parse().expect("addr"),
                "[::1]:4001".parse().expect("addr"),
            ],
        };
        assert_eq!(p.to_string().parse::<Peer>().expect("parse"), p);
        let bare: Peer = key.public().to_string().parse().expect("bare");
        assert!(bare.addrs.is_empty());
        let mut weak = [0u8; 32];
        weak[0] = 1; // The identity point: small order.
        let weak = hex::encode(weak);
        assert!(matches!(
            weak.parse::<Peer>(),
            Err(NetError::BadPeer { .. })
        ));
        assert!("nope@127.0.0.1:1".parse::<Peer>().is_err());
    }

    #[test]
    fn a_node_key_is_made_once_and_kept_private() {
        let tmp = tempfile::tempdir().expect("tmp");
        let a = node_key(tmp.path()).expect("key");
        let b = node_key(tmp.path()).expect("key");
        assert_eq!(a.public(), b.public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(tmp.path().join(NODE_KEY))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
