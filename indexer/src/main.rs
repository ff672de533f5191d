//! `cairn-indexer`: the indexing node's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;

/// The Cairn indexing node.
#[derive(Debug, Parser)]
#[command(name = "cairn-indexer", version, about)]
enum Cli {
    /// Verify a directory of blocks named by CID; prints a JSON report, exits 1 if any is invalid.
    Verify {
        /// The directory.
        dir: PathBuf,
    },
    /// Rebuild the search index from the home's store (it holds nothing the store does not).
    Reindex {
        /// The home.
        #[arg(long)]
        home: PathBuf,
        /// A curated package index whose judgement ranks packages (`ID:NAME`, repeatable);
        /// replaces the roots kept in the home. Without roots, curator inclusion counts for
        /// nothing in the ranking.
        #[arg(long = "root", value_name = "INDEX")]
        roots: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the indexing node in the foreground: join the peer network, fetch and verify every
    /// index announced (and what each package index admits), rebuild search as the store
    /// changes, and serve the HTTP API and web page. Ctrl-C or SIGTERM stops it; what was
    /// verified stays in the home. Logs go to stderr (`CAIRN_LOG=debug|info|warn`).
    Run {
        /// The home (created if missing).
        #[arg(long)]
        home: PathBuf,
        /// The peer-network address to listen on.
        #[arg(long, default_value = "0.0.0.0:0")]
        listen: std::net::SocketAddr,
        /// The HTTP address to serve the API and web page on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: std::net::SocketAddr,
        /// A first neighbour (`ENDPOINT-ID@IP:PORT`, repeatable), besides the home's peers.
        #[arg(long = "peer", value_name = "PEER")]
        peers: Vec<String>,
        /// How often (milliseconds) the store is checked for changes to index.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
        reindex_ms: u64,
        /// Another indexing node to reconcile with (`http://HOST:PORT`, repeatable): every
        /// index it holds that is missing or behind here is fetched from it and verified.
        #[arg(long, value_name = "URL")]
        reconcile: Vec<String>,
        /// How often (seconds) to reconcile.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        reconcile_secs: u64,
        /// A TOML file of limits (announcement budgets, fetches, queue, HTTP rate, searches at
        /// once); `cairn-indexer config` prints every one with its default.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Print a limits file for `run --config` with every limit at its default.
    Config,
    /// Serve the HTTP API (search, health, blocks by CID) in the foreground; Ctrl-C stops it.
    Serve {
        /// The home.
        #[arg(long)]
        home: PathBuf,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: std::net::SocketAddr,
    },
    /// Search the home's index: words, and filters `curator:ID:NAME`, `publisher:ID`,
    /// `status:active|yanked|forked`.
    Search {
        /// The home.
        #[arg(long)]
        home: PathBuf,
        /// The query.
        query: String,
        /// How many results (1 to 100).
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli {
        Cli::Reindex { home, roots, json } => {
            for r in &roots {
                r.parse::<cairn_protocol::name::IndexName>()
                    .with_context(|| format!("`--root {r}` is not a package index (`ID:NAME`)"))?;
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let given = (!roots.is_empty()).then_some(roots.as_slice());
            let done = cairn_indexer::search::reindex(&home, given, now)
                .with_context(|| format!("failed to reindex `{}`", home.display()))?;
            if json {
                println!("{}", serde_json::to_string(&done)?);
            } else {
                println!(
                    "indexed {} packages and {} curated indexes; trusted roots: {}",
                    done.packages,
                    done.curated,
                    if done.roots.is_empty() {
                        "none (pass --root ID:NAME)".to_owned()
                    } else {
                        done.roots.join(", ")
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cli::Run {
            home,
            listen,
            http,
            peers,
            reindex_ms,
            reconcile,
            reconcile_secs,
            config,
        } => run_node(cairn_indexer::node::Config {
            limits: match config {
                Some(path) => cairn_indexer::limits::Limits::read(&path)?,
                None => cairn_indexer::limits::Limits::default(),
            },
            home,
            listen,
            http: Some(http),
            peers: peers
                .iter()
                .map(|p| p.parse::<cairn_core::net::Peer>())
                .collect::<Result<Vec<_>, _>>()?,
            reindex_every: std::time::Duration::from_millis(reindex_ms),
            reconcile,
            reconcile_every: std::time::Duration::from_secs(reconcile_secs),
        }),
        Cli::Config => {
            print!("{}", cairn_indexer::limits::DEFAULT_FILE);
            Ok(ExitCode::SUCCESS)
        }
        Cli::Serve { home, http } => {
            runtime()?.block_on(async {
                let listener = tokio::net::TcpListener::bind(http)
                    .await
                    .with_context(|| format!("cannot listen on {http}"))?;
                let addr = listener.local_addr()?;
                cairn_indexer::say(format_args!(
                    "serving `{}` on http://{addr}",
                    home.display()
                ));
                axum::serve(
                    listener,
                    cairn_indexer::http::router(home)
                        .into_make_service_with_connect_info::<std::net::SocketAddr>(),
                )
                .with_graceful_shutdown(shutdown_signal())
                .await
                .context("the server stopped")
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Cli::Search {
            home,
            query,
            limit,
            json,
        } => search(&home, &query, limit, json),
        Cli::Verify { dir } => {
            let report = cairn_indexer::blocks::verify_dir(&dir)
                .with_context(|| format!("failed to read blocks in `{}`", dir.display()))?;
            println!(
                "{}",
                serde_json::to_string(&report).context("failed to render the report")?
            );
            Ok(if report.invalid.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the runtime")
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = term => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `cairn-indexer run`.
fn run_node(config: cairn_indexer::node::Config) -> anyhow::Result<ExitCode> {
    cairn_indexer::logs_to_stderr();
    let home = config.home.clone();
    runtime()?.block_on(async {
        let indexer = cairn_indexer::node::Indexer::start(config).await?;
        tracing::info!(home = %home.display(), addr = %indexer.addr(), "indexing");
        if let Some(a) = indexer.http_addr() {
            cairn_indexer::say(format_args!(
                "serving http://{a}/ (peers add this node with: cairn peer add {})",
                indexer.addr()
            ));
        }
        cairn_indexer::say(format_args!(
            "search it with: cairn search QUERY --indexer {}",
            indexer.addr()
        ));
        shutdown_signal().await;
        tracing::info!("stopping");
        indexer.shutdown().await;
        tracing::info!("stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `cairn-indexer search`.
fn search(
    home: &std::path::Path,
    query: &str,
    limit: usize,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let hits = cairn_indexer::search::search(home, query, limit)?;
    if json {
        println!("{}", serde_json::to_string(&hits)?);
        return Ok(ExitCode::SUCCESS);
    }
    if hits.is_empty() {
        eprintln!("nothing matches `{query}`");
    }
    for h in &hits {
        println!(
            "{} {}  {}{}",
            h.index,
            h.latest,
            h.description,
            if h.status == "active" {
                String::new()
            } else {
                format!("  [{}]", h.status)
            }
        );
        if !h.curators.is_empty() {
            println!("    curated by {}", h.curators.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}
