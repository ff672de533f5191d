//! Where verified blocks live: the [`BlockStore`] trait, so that a failing read is an error
//! naming the block and never taken for a missing block.
//!
//! The store implements it over SQLite; [`MemoryBlocks`] holds blocks in memory (tests, and
//! blocks fetched but not yet committed).

use std::collections::BTreeMap;

use cairn_protocol::cid::{BlockFault, Cid};

/// Verified blocks by CID.
pub trait BlockStore {
    /// The block's bytes; `Ok(None)` when it is not held, `Err` when it cannot be read.
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlockFault>;

    /// Keeps a block whose bytes were checked against `cid`.
    fn put(&mut self, cid: &Cid, bytes: &[u8]) -> Result<(), BlockFault>;
}

/// Blocks held in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryBlocks(pub BTreeMap<Cid, Vec<u8>>);

impl BlockStore for MemoryBlocks {
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlockFault> {
        Ok(self.0.get(cid).cloned())
    }

    fn put(&mut self, cid: &Cid, bytes: &[u8]) -> Result<(), BlockFault> {
        if !cid.matches(bytes) {
            return Err(BlockFault {
                cid: *cid,
                reason: "the bytes do not match the CID".into(),
            });
        }
        self.0.insert(*cid, bytes.to_vec());
        Ok(())
    }
}

impl BlockStore for crate::store::Store {
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlockFault> {
        self.block(cid).map_err(|e| BlockFault {
            cid: *cid,
            reason: e.to_string(),
        })
    }

    fn put(&mut self, cid: &Cid, bytes: &[u8]) -> Result<(), BlockFault> {
        self.put_block(cid, bytes).map_err(|e| BlockFault {
            cid: *cid,
            reason: e.to_string(),
        })
    }
}
