//! What the indexer's tests share: a plain HTTP/1.1 client.

#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;

/// `GET path` with `accept`; the status, the content type and the body.
pub(crate) fn get(addr: SocketAddr, path: &str, accept: &str) -> (u16, String, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("response");
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers end");
    let head = String::from_utf8_lossy(&all[..split]).into_owned();
    let status = head[9..12].parse().expect("status");
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    (status, content_type, all[split + 4..].to_vec())
}

pub(crate) fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).expect("json")
}
