//! `cairn search`: ask an indexing node's HTTP API.
//!
//! The request is plain HTTP/1.1 over one connection (`http://` only: Cairn carries no TLS
//! client yet, so use it on a network you trust, or on loopback). The answer is checked for
//! what a script relies on: a status line, a JSON body of the documented shape.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Words, and filters `curator:ID:NAME`, `publisher:ID`, `status:active|yanked|forked`.
    query: String,
    /// The indexing node: `http://HOST:PORT` (what `cairn-indexer serve` listens on).
    #[arg(long, value_name = "URL")]
    indexer: String,
    /// How many results (1 to 100).
    #[arg(long, default_value_t = 10)]
    limit: usize,
    /// Print JSON: the node's `results`, unchanged.
    #[arg(long)]
    json: bool,
}

/// How long connecting and each read may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read.
const MAX_ANSWER: u64 = 8 << 20;

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let Some(rest) = args.indexer.strip_prefix("http://") else {
        if args.indexer.starts_with("https://") {
            bail!(
                "`{}`: only http:// is supported (Cairn carries no TLS client yet)\n\nhint: use the node's http:// address on a network you trust",
                args.indexer
            );
        }
        bail!(
            "`{}` is not an indexer address\n\nhint: pass --indexer http://HOST:PORT, as `cairn-indexer serve` prints it",
            args.indexer
        );
    };
    let host = rest.trim_end_matches('/');
    let path = format!(
        "/api/v1/search?q={}&limit={}",
        encode(&args.query),
        args.limit
    );
    let (status, body) = get(host, &path)
        .with_context(|| format!("cannot ask the indexer at `{}`", args.indexer))?;
    let value: serde_json::Value = serde_json::from_slice(&body).with_context(|| {
        format!(
            "the indexer at `{}` answered {status} with something that is not JSON",
            args.indexer
        )
    })?;
    if status != 200 {
        let detail = value["detail"].as_str().unwrap_or("no detail given");
        bail!("the indexer refused the search ({status}): {detail}");
    }
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

/// Percent-encodes a query-string value (everything but unreserved characters).
fn encode(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `GET path` from `host` (`HOST:PORT`): the status and the body.
fn get(host: &str, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    use std::net::ToSocketAddrs as _;
    let addr = host
        .to_socket_addrs()
        .with_context(|| format!("`{host}` is not HOST:PORT"))?
        .next()
        .with_context(|| format!("`{host}` names no address"))?;
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )?;
    let mut all = Vec::new();
    s.take(MAX_ANSWER).read_to_end(&mut all)?;
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("the answer has no end of headers")?;
    let head = String::from_utf8_lossy(&all[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("the answer has no status line")?;
    let body = &all[end + 4..];
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    Ok((
        status,
        if chunked {
            unchunk(body)?
        } else {
            body.to_vec()
        },
    ))
}

/// Decodes a chunked body.
fn unchunk(mut body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("a chunk has no size line")?;
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&body[..line])
                .split(';')
                .next()
                .unwrap_or("")
                .trim(),
            16,
        )
        .context("a chunk's size is not hex")?;
        body = &body[line + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(body.get(..size).context("a chunk is cut short")?);
        body = body.get(size + 2..).context("a chunk is cut short")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_encoded_and_chunks_decoded() {
        assert_eq!(
            encode("http client curator:b1:x"),
            "http%20client%20curator%3Ab1%3Ax"
        );
        assert_eq!(
            unchunk(b"4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n").expect("chunks"),
            b"Wikipedia"
        );
        assert!(unchunk(b"ff\r\nshort").is_err());
    }
}
