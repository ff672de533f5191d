//! `cairn-indexer`: the indexing node (crawler, announcer, search, HTTP) as a library, with a
//! thin binary on top.
//!
//! Today it holds search over a home's store ([`search`]: a tantivy index rebuilt from the
//! store, ranked by what trusted curators admit), an HTTP API for search, health and blocks by
//! CID ([`http`], with the error shape [`error::AppError`]) and the offline verification of a
//! block directory ([`blocks::verify_dir`]). Crawling and the web page are not built yet.
//!
//! ```
//! use cairn_indexer::error::AppError;
//! let e = AppError::not_found("no block `bafkr4…`");
//! assert_eq!(e.status, 404);
//! assert_eq!(e.to_json()["detail"], "no block `bafkr4…`");
//! ```

pub mod blocks;
pub mod error;
pub mod http;
pub mod search;
