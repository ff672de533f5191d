//! `cairn-indexer`: the indexing node (crawler, announcer, search, HTTP) as a library, with a
//! thin binary on top.
//!
//! [`node`] runs it: a peer-network node that fetches and verifies every index it hears
//! announced, with what each package index admits; [`search`] is a tantivy index rebuilt from
//! the store, ranked by what trusted curators admit; [`http`] serves the JSON API, the web page
//! ([`web`]) and blocks by CID, with the error shape [`error::AppError`]; [`views`] is what they
//! show. [`blocks::verify_dir`] verifies a directory of blocks offline.
//!
//! ```
//! use cairn_indexer::error::AppError;
//! let e = AppError::not_found("no block `bafkr4…`");
//! assert_eq!(e.status, 404);
//! assert_eq!(e.to_json()["detail"], "no block `bafkr4…`");
//! ```

pub mod blocks;
pub mod client;
pub mod error;
pub mod http;
pub mod limits;
pub mod node;
pub mod peer_search;
pub mod search;
pub mod views;
pub mod web;

/// Sends structured logs to stderr, for a node in the foreground (`cairn node start`,
/// `cairn-indexer run`): `info` by default, another level with `CAIRN_LOG=debug` (or `warn`, …).
/// A node keeps running when nobody reads them: a line that cannot be written is dropped
/// (reporting it would write to the same closed stderr, and panic).
pub fn logs_to_stderr() {
    let level = std::env::var("CAIRN_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .log_internal_errors(false)
        .init();
}

/// A line for the operator on stderr, from a node in the foreground. A node keeps running when
/// nobody reads it: a closed stderr is not an error (`eprintln!` would panic).
pub fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}
