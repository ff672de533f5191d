//! `cairn-indexer`: the indexing node (crawler, announcer, search, HTTP) as a library, with a
//! thin binary on top.
//!
//! Today it holds search over a home's store ([`search`]: a tantivy index rebuilt from the
//! store, ranked by what trusted curators admit), the HTTP error shape every endpoint will use
//! ([`error::AppError`]) and the offline verification of a block directory
//! ([`blocks::verify_dir`]). Crawling and serving are not built yet.
//!
//! ```
//! use cairn_indexer::error::AppError;
//! let e = AppError::not_found("no block `bafkr4…`");
//! assert_eq!(e.status, 404);
//! assert_eq!(e.to_json()["detail"], "no block `bafkr4…`");
//! ```

pub mod blocks;
pub mod error;
pub mod search;
