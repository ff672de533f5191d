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
        Cli::Serve { home, http } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("cannot start the runtime")?;
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(http)
                    .await
                    .with_context(|| format!("cannot listen on {http}"))?;
                let addr = listener.local_addr()?;
                eprintln!("serving `{}` on http://{addr}", home.display());
                axum::serve(listener, cairn_indexer::http::router(home))
                    .with_graceful_shutdown(async {
                        let _ = tokio::signal::ctrl_c().await;
                    })
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
        } => {
            let hits = cairn_indexer::search::search(&home, &query, limit)?;
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
