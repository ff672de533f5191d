//! `cairn search`: ask an indexing node, over its HTTP API or the peer network.
//!
//! Over HTTP the request is plain HTTP/1.1 over one connection (`http://` only: Cairn carries
//! no TLS client yet, so use it on a network you trust, or on loopback); over the peer network
//! it is one `cairn/search/1` request to the node's endpoint ID. Either answer is checked for
//! what a script relies on: a JSON body of the documented shape.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use cairn_indexer::client;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Words, and filters `curator:ID:NAME`, `publisher:ID`, `status:active|yanked|forked`.
    query: String,
    /// The indexing node: `http://HOST:PORT` (its HTTP API), or a peer
    /// `ENDPOINT-ID@IP:PORT` (its node, asked over the peer network); `cairn-indexer run`
    /// prints both.
    #[arg(long, value_name = "URL|PEER")]
    indexer: String,
    /// How many results (1 to 100).
    #[arg(long, default_value_t = 10)]
    limit: usize,
    /// Print JSON: the node's `results`, unchanged.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let value = if args.indexer.contains("://") {
        let path = format!(
            "/api/v1/search?q={}&limit={}",
            client::encode(&args.query),
            args.limit
        );
        let (status, value) = client::get_json(&args.indexer, &path)?;
        if status != 200 {
            let detail = value["detail"].as_str().unwrap_or("no detail given");
            bail!("the indexer refused the search ({status}): {detail}");
        }
        value
    } else {
        let peer: cairn_core::net::Peer = args.indexer.parse().map_err(|e| {
            let reason = match e {
                cairn_core::net::NetError::BadPeer { reason, .. } => reason,
                other => other.to_string(),
            };
            anyhow::anyhow!(
                "`{}` is neither an indexer's HTTP address nor a peer ({reason})\n\nhint: --indexer takes http://HOST:PORT or ENDPOINT-ID@IP:PORT, as `cairn-indexer run` prints them",
                args.indexer
            )
        })?;
        anyhow::ensure!(
            (1..=100).contains(&args.limit),
            "--limit {} is out of range\n\nhint: ask for 1 to 100 results",
            args.limit
        );
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the network runtime")?
            .block_on(cairn_indexer::peer_search::ask(
                &peer,
                &args.query,
                args.limit as u64,
            ))?
    };
    let results = value["results"]
        .as_array()
        .context("the indexer's answer has no `results` list")?;
    if args.json {
        outln!("{}", serde_json::to_string(results)?);
        return Ok(ExitCode::SUCCESS);
    }
    if results.is_empty() {
        eprintln!("nothing matches `{}`", args.query);
    }
    for r in results {
        let text = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
        let status = text("status");
        outln!(
            "{} {}  {}{}",
            text("index"),
            text("latest"),
            text("description"),
            if status == "active" || status.is_empty() {
                String::new()
            } else {
                format!("  [{status}]")
            }
        );
        let curators: Vec<&str> = r["curators"]
            .as_array()
            .map(|c| c.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        if !curators.is_empty() {
            outln!("    curated by {}", curators.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}
