//! What the indexer's tests share: a plain HTTP/1.1 client, and a publisher's home with a
//! described, curated package.

#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use cairn_core::home::Home;
use cairn_core::publish;
use cairn_core::testing::{Person, T, create_in, curate_index, publish_dir, ring};
use cairn_protocol::index::version::VersionOp;
use cairn_protocol::name::IndexName;

/// `GET path` with `accept`; the status, the content type and the body.
pub(crate) fn get(addr: SocketAddr, path: &str, accept: &str) -> (u16, String, Vec<u8>) {
    request(addr, "GET", path, accept, None)
}

/// `method path` with `accept` and an optional JSON body; the status, the content type and
/// the body (a chunked body is joined).
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    accept: &str,
    body: Option<&str>,
) -> (u16, String, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let body = body.unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("request");
    // Read the head, then the body by its length when one is given (some servers keep the
    // connection open despite `Connection: close`), else to the end.
    let mut all = Vec::new();
    let mut buf = vec![0u8; 65_536];
    let split = loop {
        if let Some(at) = all.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = s.read(&mut buf).expect("response");
        assert!(n > 0, "the connection closed before the headers ended");
        all.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&all[..split]).to_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    match length {
        Some(len) => {
            while all.len() < split + 4 + len {
                let n = s.read(&mut buf).expect("response");
                assert!(n > 0, "the connection closed before the body ended");
                all.extend_from_slice(&buf[..n]);
            }
        }
        None => {
            s.read_to_end(&mut all).expect("response");
        }
    }
    let status = head[9..12].parse().expect("status");
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            .unwrap_or_default()
    };
    let mut body = all[split + 4..].to_vec();
    if header("transfer-encoding:") == "chunked" {
        body = dechunk(&body);
    }
    (status, header("content-type:"), body)
}

/// Joins a chunked body.
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&rest[..eol])
                .split(';')
                .next()
                .unwrap_or("0")
                .trim(),
            16,
        )
        .expect("chunk size");
        if size == 0 {
            break;
        }
        out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
        rest = &rest[eol + 2 + size + 2..];
    }
    out
}

pub(crate) fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).expect("json")
}

/// Publishes `fetchy` `version` as `who` with a description and keywords.
pub(crate) fn publish_fetchy(home: &mut Home, who: &Person, work: &Path, version: &str, time: u64) {
    let dir = work.join(format!("fetchy-{version}"));
    std::fs::create_dir_all(dir.join("src")).expect("dir");
    std::fs::write(
        dir.join("cairn.toml"),
        format!(
            "[package]\nname = \"fetchy\"\nversion = \"{version}\"\ndescription = \"Fetches things over HTTP\"\nkeywords = [\"http\", \"client\"]\nlicense = \"MIT\"\n"
        ),
    )
    .expect("manifest");
    std::fs::write(dir.join("src/lib.txt"), version).expect("source");
    publish_dir(home, who, &dir, time);
}

pub(crate) fn yank(home: &mut Home, who: &Person, index: &IndexName, version: &str, time: u64) {
    let op = VersionOp::Yank {
        version: version.parse().expect("version"),
        reason: Some("broken TLS".into()),
    };
    publish::append(home, who.id(), &ring(who), index, vec![op], time).expect("yank");
}

/// A publisher home: alice publishes `fetchy` 1.0.0 and 1.1.0, cora curates it as `fetch`.
pub(crate) fn publisher(tmp: &Path) -> (PathBuf, Person, IndexName, IndexName) {
    let dir = tmp.join("publisher");
    let mut home = Home::open(&dir).expect("home");
    let (alice, cora) = (Person::new(1), Person::new(3));
    create_in(&alice, &mut home);
    create_in(&cora, &mut home);
    publish_fetchy(&mut home, &alice, tmp, "1.0.0", T);
    publish_fetchy(&mut home, &alice, tmp, "1.1.0", T + 1);
    let fetchy = alice.index("fetchy");
    let community = curate_index(&mut home, &cora, "community", &[("fetch", &fetchy)]);
    (dir, alice, fetchy, community)
}
