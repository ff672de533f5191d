//! `cairn node`, `cairn peer`, `cairn sync` and `cairn announce`: this home on the peer network.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use cairn_core::home::Home;
use cairn_core::lockfile::{LOCKFILE, Lockfile};
use cairn_core::net::sync::{self, Peers, SyncOutcome, Synced};
use cairn_core::net::{self, Peer, push};
use cairn_core::project;

use crate::settings;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum NodeCommand {
    /// Run this home's node in the foreground, serving what the home holds to peers; stop it
    /// with Ctrl-C (requests in flight finish first).
    Start {
        /// The address to listen on (loopback by default; `0.0.0.0:PORT` to serve a network).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Print this node's address, `ENDPOINT-ID@ADDR`, for peers to add (only the ID when no
    /// node of this home runs).
    Addr,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum PeerCommand {
    /// Add a peer (or update its addresses): `ENDPOINT-ID@IP:PORT[,IP:PORT…]`.
    Add {
        /// The peer, as `cairn node addr` prints it on its machine.
        peer: String,
    },
    /// List the peers.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a peer.
    Remove {
        /// Its endpoint ID.
        id: String,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct SyncArgs {
    /// The curator's package index (`IDENTITY:NAME`, or a petname's): it, the indexes it
    /// includes and every version index it admits are fetched and verified.
    index: String,
    /// Ask these peers (default: the home's peer list).
    #[arg(long = "from", value_name = "PEER")]
    from: Vec<String>,
    /// Also fetch every artifact this project's lockfile pins (for this platform).
    #[arg(long)]
    artifacts: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct AnnounceArgs {
    /// The indexes to announce (`IDENTITY:NAME`, a petname's, or `NAME` of the default
    /// identity); default: every index signed by an identity whose keys this home holds.
    indexes: Vec<String>,
    /// Push to these peers (`ENDPOINT-ID@IP:PORT`, as `cairn node addr` prints it), an
    /// indexing node say: each answers what it does with each head, and fetches what it lacks
    /// from this home.
    #[arg(long = "to", value_name = "PEER", required = true)]
    to: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `cairn announce --to PEER… [INDEX…]`.
pub(crate) fn announce(home: Option<&Path>, args: &AnnounceArgs) -> anyhow::Result<ExitCode> {
    let home = settings::open_home(home)?;
    let logs: Vec<String> = if args.indexes.is_empty() {
        let mut logs = Vec::new();
        for id in home.identities()? {
            logs.extend(home.indexes_of(&id.id)?);
        }
        anyhow::ensure!(
            !logs.is_empty(),
            "this home signs no index yet\n\nhint: publish one first (`cairn publish`), or name the indexes to announce"
        );
        logs
    } else {
        args.indexes
            .iter()
            .map(|i| Ok(settings::index_name(&home, i, None)?.to_string()))
            .collect::<anyhow::Result<_>>()?
    };
    let to = parse_peers(&args.to)?;
    let announcements = push::heads_of(&home, &logs)?;
    let dir = home.dir().to_path_buf();
    drop(home);
    push_and_report(&dir, &to, &announcements, args.json)
}

/// After a command that signed revisions: the heads it moved are pushed to `to`.
pub(crate) fn push_moved(
    home: Option<&Path>,
    before: &[(String, u64)],
    to: &[String],
) -> anyhow::Result<ExitCode> {
    let to = parse_peers(to)?;
    let home = settings::open_home(home)?;
    let moved: Vec<String> = heads(Some(home.dir()))
        .unwrap_or_default()
        .into_iter()
        .filter(|h| !before.contains(h) && !sync::is_identity(&h.0))
        .map(|(log, _)| log)
        .collect();
    if moved.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let announcements = push::heads_of(&home, &moved)?;
    let dir = home.dir().to_path_buf();
    drop(home);
    push_and_report(&dir, &to, &announcements, false)
}

fn parse_peers(given: &[String]) -> anyhow::Result<Vec<Peer>> {
    given
        .iter()
        .map(|p| p.parse::<Peer>().map_err(anyhow::Error::from))
        .collect()
}

/// Pushes, waits while the peers fetch, and says what each peer did with each head. Fails
/// when a peer could not be pushed to.
fn push_and_report(
    dir: &Path,
    to: &[Peer],
    announcements: &[cairn_protocol::wire::Announcement],
    json: bool,
) -> anyhow::Result<ExitCode> {
    let report = runtime()?.block_on(push::push_from(dir, to, announcements, ANNOUNCE_FOR * 2))?;
    let mut failed = false;
    let mut out = Vec::new();
    for r in &report {
        let peer = r.peer.id.to_string();
        match &r.verdicts {
            Ok(verdicts) => {
                for (a, v) in announcements.iter().zip(verdicts) {
                    if !json {
                        outln!(
                            "pushed {} seq {} to {}: {}",
                            a.log,
                            a.seq,
                            r.peer.id.fmt_short(),
                            v.text()
                        );
                    }
                    out.push(serde_json::json!({
                        "peer": peer, "log": a.log, "seq": a.seq, "verdict": v.text(),
                    }));
                }
            }
            Err(e) => {
                failed = true;
                eprintln!("error: {e}");
                out.push(serde_json::json!({ "peer": peer, "error": e.to_string() }));
            }
        }
    }
    if json {
        outln!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the network runtime")
}

pub(crate) fn node(home: Option<&Path>, cmd: &NodeCommand) -> anyhow::Result<ExitCode> {
    let home = settings::open_home(home)?;
    match cmd {
        NodeCommand::Addr => {
            if let Some(peer) = net::running(home.dir()) {
                outln!("{peer}");
            } else {
                let id = net::node_key(home.dir())?.public();
                outln!("{id}");
                eprintln!("note: no node of this home runs; start one with `cairn node start`");
            }
            Ok(ExitCode::SUCCESS)
        }
        NodeCommand::Start { listen } => {
            cairn_indexer::logs_to_stderr();
            let dir = home.dir().to_path_buf();
            let peers = net::peers(&home)?;
            drop(home);
            runtime()?.block_on(async {
                let node = net::Node::start(&dir, *listen, &peers).await?;
                tracing::info!(home = %dir.display(), addr = %node.addr(), peers = peers.len(), "serving");
                cairn_indexer::say(format_args!(
                    "peers add this node with: cairn peer add {}",
                    node.addr()
                ));
                shutdown_signal().await;
                tracing::info!("stopping: requests in flight finish first");
                node.shutdown().await;
                tracing::info!("stopped");
                anyhow::Ok(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The heads the home holds, to tell later whether a command moved one (`None` when the home
/// cannot be read: the command itself will say why).
pub(crate) fn heads(home: Option<&Path>) -> Option<Vec<(String, u64)>> {
    let home = settings::open_home(home).ok()?;
    let heads = home.heads().ok()?;
    Some(heads.into_iter().map(|(log, seq, ..)| (log, seq)).collect())
}

/// How long a command waits for peers to fetch what it announced.
const ANNOUNCE_FOR: std::time::Duration = std::time::Duration::from_secs(5);
/// A peer that fetched and then asked nothing for this long is done.
const QUIET: std::time::Duration = std::time::Duration::from_secs(1);

/// After a command that signed revisions: when a head moved, the home's peers hear of it. A
/// running node of this home announces it (it reads the store twice a second). Without one,
/// the command runs the node itself for a moment: it announces the new heads to the home's
/// peers and serves them what they fetch, then stops. Failures are warnings: what was signed
/// is stored either way, and `cairn node start` or the peers' next sync carries it.
pub(crate) fn announce_if_moved(home: Option<&Path>, before: &[(String, u64)]) {
    let Some(after) = heads(home) else { return };
    if after == before {
        return;
    }
    let Ok(home) = settings::open_home(home) else {
        return;
    };
    if let Some(node) = net::running(home.dir()) {
        eprintln!(
            "the running node {} announces it to its peers",
            node.id.fmt_short()
        );
        return;
    }
    let peers = match net::peers(&home) {
        Ok(p) if !p.is_empty() => p,
        _ => return,
    };
    let dir = home.dir().to_path_buf();
    drop(home);
    let listen: SocketAddr = if peers
        .iter()
        .flat_map(|p| &p.addrs)
        .all(|a| a.ip().is_loopback())
    {
        SocketAddr::from(([127, 0, 0, 1], 0))
    } else {
        SocketAddr::from(([0, 0, 0, 0], 0))
    };
    let told = runtime().and_then(|rt| {
        rt.block_on(async {
            let node = net::Node::start(&dir, listen, &peers).await?;
            let start = std::time::Instant::now();
            let (mut served, mut changed) = (0, start);
            while start.elapsed() < ANNOUNCE_FOR {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                if node.served() != served {
                    served = node.served();
                    changed = std::time::Instant::now();
                }
                if served > 0 && changed.elapsed() >= QUIET {
                    break;
                }
            }
            node.shutdown().await;
            anyhow::Ok(served)
        })
    });
    match told {
        Ok(0) => eprintln!(
            "announced to {} peers; none fetched it within {} s (they fetch it on their next sync)",
            peers.len(),
            ANNOUNCE_FOR.as_secs()
        ),
        Ok(n) => eprintln!(
            "announced to {} peers, and served {n} requests of theirs",
            peers.len()
        ),
        Err(e) => eprintln!("warning: could not announce to the peers: {e:#}"),
    }
}

/// Waits for Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

pub(crate) fn peer(home: Option<&Path>, cmd: &PeerCommand) -> anyhow::Result<ExitCode> {
    let mut home = settings::open_home(home)?;
    match cmd {
        PeerCommand::Add { peer } => {
            let peer: Peer = peer.parse()?;
            if peer.id == net::node_key(home.dir())?.public() {
                anyhow::bail!(
                    "`{}` is this home's own node\n\nhint: add the address another home's `cairn node addr` prints",
                    peer.id
                );
            }
            if peer.addrs.is_empty() {
                eprintln!(
                    "warning: `{}` has no address; it can be reached only once an address is added",
                    peer.id
                );
            }
            net::add_peer(&mut home, &peer)?;
            outln!("added {peer}");
        }
        PeerCommand::List { json } => {
            let peers = net::peers(&home)?;
            if *json {
                let list: Vec<_> = peers
                    .iter()
                    .map(|p| {
                        serde_json::json!({
                            "id": p.id.to_string(),
                            "addrs": p.addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                outln!("{}", serde_json::to_string(&list)?);
            } else if peers.is_empty() {
                eprintln!("no peers; add one with `cairn peer add ID@ADDR`");
            } else {
                for p in peers {
                    outln!("{p}");
                }
            }
        }
        PeerCommand::Remove { id } => {
            let peer: Peer = id.parse()?;
            if !net::remove_peer(&mut home, &peer.id)? {
                anyhow::bail!("`{id}` is not in this home's peer list (see `cairn peer list`)");
            }
            outln!("removed {}", peer.id);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The peers to ask: those given, else the home's list.
fn chosen(home: &Home, from: &[String]) -> anyhow::Result<Vec<Peer>> {
    if from.is_empty() {
        Ok(net::peers(home)?)
    } else {
        Ok(from
            .iter()
            .map(|p| p.parse())
            .collect::<Result<Vec<Peer>, _>>()?)
    }
}

pub(crate) fn sync(home: Option<&Path>, args: &SyncArgs) -> anyhow::Result<ExitCode> {
    let mut home = settings::open_home(home)?;
    let index = settings::index_name(&home, &args.index, None)?;
    let peers = chosen(&home, &args.from)?;
    let lock = if args.artifacts {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        let dir = project::find(&cwd).unwrap_or_else(|| project::global(&home));
        let path = dir.join(LOCKFILE);
        Some(Lockfile::load(&path)?.with_context(|| {
            format!(
                "`--artifacts` fetches what `{}` pins, and there is none\n\nhint: run `cairn lock` first",
                path.display()
            )
        })?)
    } else {
        None
    };
    let (synced, fetched, skipped) = runtime()?.block_on(async {
        let ep = net::client(&peers).await?;
        let mut conns = Peers::dial(&ep, &peers).await?;
        let synced = sync::sync_closure(&mut home, &mut conns, &index).await?;
        let mut fetched = 0;
        if let Some(lock) = &lock {
            fetched = fetch_locked(&mut home, &mut conns, lock, &project::platform()).await?;
        }
        conns.close();
        ep.close().await;
        anyhow::Ok((synced, fetched, conns.skipped))
    })?;
    for s in &skipped {
        eprintln!("warning: skipped a peer: {s}");
    }
    if args.json {
        outln!(
            "{}",
            serde_json::json!({ "logs": synced, "artifacts_fetched": fetched })
        );
    } else {
        for s in &synced {
            outln!("{}", describe(s));
        }
        if lock.is_some() {
            outln!("fetched {fetched} artifacts");
        }
    }
    match synced.first().map(|s| &s.outcome) {
        Some(SyncOutcome::NotFound) => {
            anyhow::bail!("no peer holds `{index}`")
        }
        Some(SyncOutcome::Refused { reason }) => {
            anyhow::bail!("`{index}` was refused: {reason}")
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn describe(s: &Synced) -> String {
    match &s.outcome {
        SyncOutcome::Imported { head, report } => match report {
            cairn_core::store::Outcome::Imported { from, to } => {
                format!("{}: verified and stored revisions {from}..={to}", s.log)
            }
            cairn_core::store::Outcome::Fork { seq, signer } => format!(
                "{}: FORK at revision {seq}: {signer} signed two different revisions; evidence kept, signer flagged (head {head})",
                s.log
            ),
            other => format!("{}: {other:?} (head {head})", s.log),
        },
        SyncOutcome::UpToDate { head } => format!("{}: up to date (head {head})", s.log),
        SyncOutcome::NotFound => format!("{}: no peer holds it", s.log),
        SyncOutcome::Refused { reason } => format!("{}: refused: {reason}", s.log),
    }
}

/// Fetches the artifacts `lock` pins for `platform` that the home lacks; how many arrived.
async fn fetch_locked(
    home: &mut Home,
    peers: &mut Peers,
    lock: &Lockfile,
    platform: &str,
) -> anyhow::Result<usize> {
    let mut fetched = 0;
    for p in &lock.packages {
        let (_, a) = project::pick(p, platform)?;
        if project::holds_artifact(home, a)? {
            continue;
        }
        if sync::fetch_artifact(home, peers, a).await? {
            fetched += 1;
        }
    }
    Ok(fetched)
}

/// Before an install: fetches the artifacts `lock` pins that the home lacks, from the peers
/// that said they hold them and the home's own peers. Nothing happens when none is missing or
/// there is no peer to ask. Says what arrived from whom.
pub(crate) fn fetch_missing(
    home: &mut Home,
    lock: &Lockfile,
    platform: &str,
) -> anyhow::Result<Option<String>> {
    let mut missing = Vec::new();
    for p in &lock.packages {
        let (_, a) = project::pick(p, platform)?;
        if !project::holds_artifact(home, a)? {
            missing.push(a.clone());
        }
    }
    // The peers of the project's rooms that said they hold what is missing, then the home's
    // own peers: dialed at once and asked nearest first.
    let mut peers = sync::holders(home, &missing)?;
    for p in net::peers(home)? {
        if !peers.iter().any(|q| q.id == p.id) {
            peers.push(p);
        }
    }
    if missing.is_empty() || peers.is_empty() {
        return Ok(None);
    }
    let (fetched, conns) = runtime()?.block_on(async {
        let ep = net::client(&peers).await?;
        let mut conns = Peers::dial(&ep, &peers).await?;
        let fetched = fetch_locked(home, &mut conns, lock, platform).await?;
        conns.close();
        ep.close().await;
        anyhow::Ok((fetched, conns))
    })?;
    for s in &conns.skipped {
        eprintln!("warning: skipped a peer: {s}");
    }
    if fetched == 0 {
        return Ok(None);
    }
    let sources: Vec<String> = conns
        .sources
        .iter()
        .map(|(peer, n)| format!("{n} from {peer}"))
        .collect();
    Ok(Some(format!(
        "fetched {fetched} artifacts from peers ({})",
        sources.join(", ")
    )))
}
