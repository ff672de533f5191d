//! `cairn-core`: Cairn's state and effects.
//!
//! It holds the home (a SQLite [`store`] of verified logs and blocks, artifacts on disk, keys),
//! verification ([`verify`], [`block`]), publishing and curation ([`publish`], [`curate`]),
//! resolution ([`resolve`]), the consumer's project, lockfile and installs ([`project`],
//! [`lockfile`]), and moving logs and artifacts between homes ([`bundle`], [`exchange`]).
//!
//! ```
//! use cairn_core::block::{Block, verify_block};
//! use cairn_protocol::cid::Cid;
//!
//! let bytes = b"\xa1\x61a\x01".to_vec(); // {"a": 1}
//! let cid = Cid::of_record(&bytes);
//! let block = verify_block(cid, &bytes)?;
//! assert!(matches!(block, Block::Record(_)));
//! # Ok::<(), cairn_core::block::BlockError>(())
//! ```

pub mod artifact;
pub mod atomic;
pub mod block;
pub mod blocks;
pub mod bundle;
pub mod car;
pub mod catalog;
pub mod curate;
pub mod exchange;
pub mod fault;
#[cfg(feature = "test-utils")]
pub mod fuzzing;
pub mod gc;
pub mod home;
pub mod inspect;
pub mod json;
pub mod keys;
pub mod lockfile;
pub mod net;
pub mod project;
pub mod publish;
pub mod resolve;
pub mod store;
#[cfg(feature = "test-utils")]
pub mod testing;
pub mod verify;
