//! A plain HTTP/1.1 client for an indexing node's JSON API (`http://` only: Cairn carries no
//! TLS client, so use it on a network you trust, or on loopback): one connection per request,
//! bounded in time and size, with chunked bodies decoded. `cairn search` and reconciliation
//! between indexing nodes use it.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context as _, bail};

/// How long connecting and each read may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read.
const MAX_ANSWER: u64 = 8 << 20;

/// The `HOST:PORT` of an `http://HOST:PORT[/]` address.
///
/// # Errors
/// When it is not one (with a hint).
pub fn host(url: &str) -> anyhow::Result<&str> {
    let Some(rest) = url.strip_prefix("http://") else {
        if url.starts_with("https://") {
            bail!(
                "`{url}`: only http:// is supported (Cairn carries no TLS client yet)\n\nhint: use the node's http:// address on a network you trust"
            );
        }
        bail!(
            "`{url}` is not an indexer address\n\nhint: pass http://HOST:PORT, as `cairn-indexer run` prints it"
        );
    };
    Ok(rest.trim_end_matches('/'))
}

/// `GET path` from the node at `url` (`http://HOST:PORT`): the status and the JSON body.
///
/// # Errors
/// When the node cannot be reached, or answers something that is not JSON.
pub fn get_json(url: &str, path: &str) -> anyhow::Result<(u16, serde_json::Value)> {
    let (status, body) =
        get(host(url)?, path).with_context(|| format!("cannot ask the indexer at `{url}`"))?;
    let value = serde_json::from_slice(&body).with_context(|| {
        format!("the indexer at `{url}` answered {status} with something that is not JSON")
    })?;
    Ok((status, value))
}

/// Percent-encodes a query-string value (everything but unreserved characters).
pub fn encode(s: &str) -> String {
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
