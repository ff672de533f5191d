//! A canonical hash-array-mapped trie of record blocks: the chunked form of large index state.
//!
//! Goals: the blocks depend only on the set of entries, never on the order they were added, so
//! a verifier that recomputes state gets the same root CID; a change to one entry rewrites only
//! the blocks on its root-to-bucket path (O(log n)); every block stays far below 1 MiB because
//! entries are bounded; re-hashing after a change costs only the dirty path, since each node
//! caches its encoding.
//!
//! Shape (normative text: `spec/05-identities.md`, "Chunked maps"): an entry with key `k` lives
//! at the slot path given by the 4-bit groups of BLAKE3(k), most significant first. A node has
//! 16 slots; a slot is empty, a bucket of 1 to [`BUCKET_SIZE`] entries sorted by key, or a link
//! to a child node holding more than [`BUCKET_SIZE`] entries in total.

use std::collections::BTreeMap;
use std::sync::Arc;

use thiserror::Error;

use crate::cid::Cid;
use crate::codec::{self, Value};
use crate::profile::{self, RecordError};

/// Entries per bucket before a slot becomes a child node.
pub const BUCKET_SIZE: usize = 4;
/// Slots per node (one 4-bit group of the key hash).
pub const FANOUT: usize = 16;
/// The largest encoded entry (`[key, value]`). With 16 slots of 4 entries a node stays under
/// 16 × 4 × 8 KiB = 512 KiB.
pub const MAX_ENTRY_BYTES: usize = 8 * 1024;
/// The deepest node: a 256-bit hash has 64 groups of 4 bits.
const MAX_LEVELS: usize = 64;

/// Why a map operation or a loaded map was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HamtError {
    /// An entry larger than [`MAX_ENTRY_BYTES`].
    #[error("entry `{key}` encodes to {size} bytes; the limit is {MAX_ENTRY_BYTES}")]
    EntryTooLarge {
        /// The key.
        key: String,
        /// Its encoded size.
        size: usize,
    },
    /// A block of the map is missing from the source.
    #[error("map block `{0}` is not available")]
    MissingBlock(Cid),
    /// A block of the map is not a valid record.
    #[error("map block `{cid}` is invalid: {error}")]
    Record {
        /// The block.
        cid: Cid,
        /// Why.
        error: RecordError,
    },
    /// An entry's value is not what the map holds (`error` names the rule).
    #[error("map block `{cid}` holds an invalid entry: {error}")]
    Entry {
        /// The block.
        cid: Cid,
        /// Why.
        error: RecordError,
    },
    /// A block breaks the canonical shape (wrong slot, order, bucket size, collapse rule).
    #[error("map block `{cid}` is not canonical: {reason}")]
    NotCanonical {
        /// The block.
        cid: Cid,
        /// Which rule.
        reason: &'static str,
    },
    /// A block could not be read (nothing was learnt about the map).
    #[error(transparent)]
    Unreadable(#[from] crate::cid::BlockFault),
}

impl HamtError {
    /// The stable error code used in test vectors.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            HamtError::EntryTooLarge { .. } => "map-entry-too-large",
            HamtError::MissingBlock(_) => "map-missing-block",
            HamtError::Record { .. } => "map-invalid-block",
            HamtError::NotCanonical { .. } => "map-not-canonical",
            HamtError::Entry { error, .. } => error.code(),
            HamtError::Unreadable(_) => "block-unreadable",
        }
    }
}

/// A value a map can hold: encodes canonically and is read back from a loaded block, where it
/// is checked. Typed values spare the verifier a parse on every lookup and an encode of a value
/// tree on every change.
pub trait MapValue: Clone + std::fmt::Debug {
    /// Appends the value's canonical encoding.
    fn encode_into(&self, out: &mut Vec<u8>);
    /// Reads a value from a loaded block, refusing what the map may not hold.
    fn from_value(value: Value) -> Result<Self, RecordError>;
}

impl MapValue for Value {
    fn encode_into(&self, out: &mut Vec<u8>) {
        codec::encode_into(out, self);
    }

    fn from_value(value: Value) -> Result<Value, RecordError> {
        Ok(value)
    }
}

#[derive(Debug, Clone)]
struct Entry<V> {
    key: String,
    value: V,
    /// The canonical encoding of `[key, value]`, cached.
    encoded: Vec<u8>,
}

impl<V: MapValue> Entry<V> {
    fn new(key: &str, value: V) -> Result<Entry<V>, HamtError> {
        Ok(Entry {
            encoded: encode_entry(key, &value, 128 + key.len())?,
            key: key.to_owned(),
            value,
        })
    }
}

/// `[key, value]`, checked against [`MAX_ENTRY_BYTES`].
/// `capacity` is a guess of the encoded size (the entry's previous size when it changes), so that
/// writing rarely reallocates.
fn encode_entry<V: MapValue>(key: &str, value: &V, capacity: usize) -> Result<Vec<u8>, HamtError> {
    let mut encoded = Vec::with_capacity(capacity);
    encoded.push(0x82);
    codec::write_text(&mut encoded, key);
    value.encode_into(&mut encoded);
    if encoded.len() > MAX_ENTRY_BYTES {
        return Err(HamtError::EntryTooLarge {
            key: key.to_owned(),
            size: encoded.len(),
        });
    }
    Ok(encoded)
}

/// Entries and child nodes are shared between versions of a map (copy on write), so cloning a
/// map is O(1) and a change copies only its path.
#[derive(Debug, Clone)]
enum Slot<V> {
    Bucket(Vec<Arc<Entry<V>>>),
    Child(Arc<Node<V>>),
}

#[derive(Debug, Clone)]
struct Node<V> {
    slots: BTreeMap<u8, Slot<V>>,
    /// Entries in this subtree.
    count: usize,
    /// The CID of `block`, while the node is clean.
    cid: Option<Cid>,
    /// The encoded block (valid while `cid` is set). Kept when the node changes, so that the
    /// next encoding reuses its allocation.
    block: Vec<u8>,
}

impl<V> Default for Node<V> {
    fn default() -> Node<V> {
        Node {
            slots: BTreeMap::new(),
            count: 0,
            cid: None,
            block: Vec::new(),
        }
    }
}

/// The 4-bit group of `hash` at `level`.
fn nibble(hash: &[u8; 32], level: usize) -> u8 {
    let b = hash[level / 2];
    if level.is_multiple_of(2) {
        b >> 4
    } else {
        b & 0x0f
    }
}

fn key_hash(key: &str) -> [u8; 32] {
    *blake3::hash(key.as_bytes()).as_bytes()
}

impl<V: MapValue> Node<V> {
    fn get(&self, hash: &[u8; 32], key: &str, level: usize) -> Option<&V> {
        match self.slots.get(&nibble(hash, level))? {
            Slot::Bucket(entries) => entries.iter().find(|e| e.key == key).map(|e| &e.value),
            Slot::Child(child) => child.get(hash, key, level + 1),
        }
    }

    /// Inserts or replaces; returns the previous value.
    fn insert(&mut self, hash: &[u8; 32], entry: Arc<Entry<V>>, level: usize) -> Option<V> {
        self.cid = None;
        let slot = nibble(hash, level);
        let previous = match self.slots.remove(&slot) {
            None => {
                self.slots.insert(slot, Slot::Bucket(vec![entry]));
                None
            }
            Some(Slot::Bucket(mut entries)) => {
                let prev = match entries.binary_search_by(|e| e.key.as_str().cmp(&entry.key)) {
                    Ok(i) => Some(std::mem::replace(&mut entries[i], entry).value.clone()),
                    Err(i) => {
                        entries.insert(i, entry);
                        None
                    }
                };
                if entries.len() > BUCKET_SIZE && level + 1 < MAX_LEVELS {
                    let mut child = Node::default();
                    for e in entries {
                        let h = key_hash(&e.key);
                        child.insert(&h, e, level + 1);
                    }
                    self.slots.insert(slot, Slot::Child(Arc::new(child)));
                } else {
                    self.slots.insert(slot, Slot::Bucket(entries));
                }
                prev
            }
            Some(Slot::Child(mut child)) => {
                let prev = Arc::make_mut(&mut child).insert(hash, entry, level + 1);
                self.slots.insert(slot, Slot::Child(child));
                prev
            }
        };
        if previous.is_none() {
            self.count += 1;
        }
        previous
    }

    /// The entry under `key`, for changing in place; clears the caches on its path. The key
    /// must be present.
    fn entry_mut(&mut self, hash: &[u8; 32], key: &str, level: usize) -> Option<&mut Entry<V>> {
        self.cid = None;
        match self.slots.get_mut(&nibble(hash, level))? {
            Slot::Bucket(entries) => entries.iter_mut().find(|e| e.key == key).map(Arc::make_mut),
            Slot::Child(child) => Arc::make_mut(child).entry_mut(hash, key, level + 1),
        }
    }

    fn remove(&mut self, hash: &[u8; 32], key: &str, level: usize) -> Option<V> {
        let slot = nibble(hash, level);
        let removed = match self.slots.get_mut(&slot)? {
            Slot::Bucket(entries) => {
                let i = entries.iter().position(|e| e.key == key)?;
                let e = entries.remove(i);
                if entries.is_empty() {
                    self.slots.remove(&slot);
                }
                e.value.clone()
            }
            Slot::Child(child) => {
                let v = Arc::make_mut(child).remove(hash, key, level + 1)?;
                if child.count <= BUCKET_SIZE {
                    let mut entries = Vec::with_capacity(child.count);
                    child.collect_entries(&mut entries);
                    entries.sort_by(|a, b| a.key.cmp(&b.key));
                    self.slots.insert(slot, Slot::Bucket(entries));
                }
                v
            }
        };
        self.cid = None;
        self.count -= 1;
        Some(removed)
    }

    fn collect_entries(&self, out: &mut Vec<Arc<Entry<V>>>) {
        for slot in self.slots.values() {
            match slot {
                Slot::Bucket(entries) => out.extend(entries.iter().cloned()),
                Slot::Child(child) => child.collect_entries(out),
            }
        }
    }

    /// The node's CID, re-encoding dirty nodes; newly encoded blocks are pushed to `fresh`.
    fn flush(&mut self, fresh: &mut Option<&mut Vec<(Cid, Vec<u8>)>>) -> Cid {
        if let Some(cid) = self.cid {
            return cid;
        }
        // {"slots": [[index, bucket | link], …]}: key "slots" sorts alone. The buffer keeps its
        // capacity from the last encoding, so it rarely grows.
        let out = &mut self.block;
        out.clear();
        out.extend_from_slice(b"\xa1\x65slots");
        codec::write_head(out, 4, self.slots.len() as u64);
        for (index, slot) in &mut self.slots {
            out.push(0x82);
            codec::write_head(out, 0, u64::from(*index));
            match slot {
                Slot::Bucket(entries) => {
                    codec::write_head(out, 4, entries.len() as u64);
                    for e in entries.iter() {
                        out.extend_from_slice(&e.encoded);
                    }
                }
                Slot::Child(child) => {
                    let cid = match child.cid {
                        Some(cid) => cid,
                        None => Arc::make_mut(child).flush(fresh),
                    };
                    cid.write_link(out);
                }
            }
        }
        let cid = Cid::of_record(out);
        if let Some(f) = fresh {
            f.push((cid, out.clone()));
        }
        self.cid = Some(cid);
        cid
    }

    /// Every block of a flushed subtree.
    fn collect_blocks(&self, out: &mut Vec<(Cid, Vec<u8>)>) {
        if let Some(cid) = self.cid {
            out.push((cid, self.block.clone()));
        }
        for slot in self.slots.values() {
            if let Slot::Child(child) = slot {
                child.collect_blocks(out);
            }
        }
    }

    fn entries<'a>(&'a self, out: &mut Vec<(&'a str, &'a V)>) {
        for slot in self.slots.values() {
            match slot {
                Slot::Bucket(entries) => {
                    out.extend(entries.iter().map(|e| (e.key.as_str(), &e.value)));
                }
                Slot::Child(child) => child.entries(out),
            }
        }
    }
}

/// A map from text keys to record values, stored as a canonical HAMT of blocks.
#[derive(Debug, Clone)]
pub struct Hamt<V = Value> {
    root: Arc<Node<V>>,
}

impl<V> Default for Hamt<V> {
    fn default() -> Hamt<V> {
        Hamt {
            root: Arc::new(Node::default()),
        }
    }
}

impl<V: MapValue> Hamt<V> {
    /// An empty map.
    #[must_use]
    pub fn new() -> Hamt<V> {
        Hamt::default()
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.root.count
    }

    /// Whether the map is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.root.count == 0
    }

    /// Looks a key up.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&V> {
        self.root.get(&key_hash(key), key, 0)
    }

    /// Inserts or replaces an entry; returns the previous value.
    pub fn insert(&mut self, key: &str, value: V) -> Result<Option<V>, HamtError> {
        let entry = Arc::new(Entry::new(key, value)?);
        Ok(Arc::make_mut(&mut self.root).insert(&key_hash(key), entry, 0))
    }

    /// Changes the value under `key` in place (no copy of it, the key hashed once);
    /// `None` when the key is absent. When `change` fails, or the changed entry would exceed
    /// [`MAX_ENTRY_BYTES`], the map keeps the value it had.
    pub fn update<E: From<HamtError>>(
        &mut self,
        key: &str,
        change: impl FnOnce(&mut V) -> Result<(), E>,
    ) -> Option<Result<(), E>> {
        let hash = key_hash(key);
        self.root.get(&hash, key, 0)?; // Absent: do not copy the path for nothing.
        let entry = Arc::make_mut(&mut self.root).entry_mut(&hash, key, 0)?;
        let outcome = change(&mut entry.value).and_then(|()| {
            encode_entry(key, &entry.value, entry.encoded.len() + 64).map_err(E::from)
        });
        Some(match outcome {
            Ok(encoded) => {
                entry.encoded = encoded;
                Ok(())
            }
            Err(e) => {
                // Put back the value the cached encoding holds (a failed change may have begun).
                let now = encode_entry(key, &entry.value, entry.encoded.len());
                if now.ok().as_ref() != Some(&entry.encoded) {
                    entry.value = decode_entry_value(&entry.encoded);
                }
                Err(e)
            }
        })
    }

    /// Removes a key; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<V> {
        self.get(key)?; // Absent: do not copy the path for nothing.
        Arc::make_mut(&mut self.root).remove(&key_hash(key), key, 0)
    }

    /// The root block's CID. Re-encodes only nodes changed since the last call; the blocks
    /// encoded by this call are appended to `fresh` (what a store must write).
    pub fn flush(&mut self, mut fresh: Option<&mut Vec<(Cid, Vec<u8>)>>) -> Cid {
        match self.root.cid {
            Some(cid) => cid,
            None => Arc::make_mut(&mut self.root).flush(&mut fresh),
        }
    }

    /// The root CID (discarding the list of fresh blocks).
    pub fn root_cid(&mut self) -> Cid {
        self.flush(None)
    }

    /// Every block of the map, root first.
    pub fn blocks(&mut self) -> Vec<(Cid, Vec<u8>)> {
        self.flush(None);
        let mut out = Vec::new();
        self.root.collect_blocks(&mut out);
        out
    }

    /// Every entry, sorted by key.
    #[must_use]
    pub fn entries(&self) -> Vec<(&str, &V)> {
        let mut out = Vec::with_capacity(self.len());
        self.root.entries(&mut out);
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }

    /// Loads a map from its blocks, checking every block against the canonical shape.
    pub fn load(root: Cid, fetch: crate::index::Blocks<'_>) -> Result<Hamt<V>, HamtError> {
        let node = load_node(root, fetch, 0, &[])?;
        Ok(Hamt {
            root: Arc::new(node),
        })
    }
}

impl<V: MapValue> Hamt<V> {
    /// Looks `key` up in a stored map without loading it: fetches only the blocks on the path
    /// its hash leads to (at most one per level). For maps whose blocks were verified when they
    /// were stored; [`Hamt::load`] is the full check.
    pub fn lookup(
        root: Cid,
        key: &str,
        fetch: crate::index::Blocks<'_>,
    ) -> Result<Option<V>, HamtError> {
        let hash = key_hash(key);
        let mut cid = root;
        for level in 0..MAX_LEVELS {
            let bad = |reason| HamtError::NotCanonical { cid, reason };
            let bytes = fetch(&cid)?.ok_or(HamtError::MissingBlock(cid))?;
            let value =
                profile::decode_record(&bytes).map_err(|error| HamtError::Record { cid, error })?;
            let mut fields = profile::Fields::new("map node", value)
                .map_err(|error| HamtError::Record { cid, error })?;
            let slots = fields
                .list("slots")
                .map_err(|error| HamtError::Record { cid, error })?;
            let want = i128::from(nibble(&hash, level));
            let slot = slots.into_iter().find_map(|slot| match slot {
                Value::List(pair) => match <[Value; 2]>::try_from(pair) {
                    Ok([Value::Integer(i), content]) if i == want => Some(content),
                    _ => None,
                },
                _ => None,
            });
            match slot {
                None => return Ok(None),
                Some(Value::Link(link)) => {
                    cid =
                        Cid::try_from(&link).map_err(|_| bad("a child link is not a Cairn CID"))?;
                }
                Some(Value::List(items)) => {
                    for item in items {
                        let Value::List(kv) = item else {
                            return Err(bad("a bucket entry is not a [key, value] pair"));
                        };
                        if let Ok([Value::String(k), value]) = <[Value; 2]>::try_from(kv)
                            && k == key
                        {
                            return V::from_value(value)
                                .map(Some)
                                .map_err(|error| HamtError::Entry { cid, error });
                        }
                    }
                    return Ok(None);
                }
                Some(_) => return Err(bad("a slot holds neither a bucket nor a link")),
            }
        }
        Err(HamtError::NotCanonical {
            cid,
            reason: "map deeper than the key hash",
        })
    }
}

/// The value of an encoded entry this map made itself (so it decodes and reads back).
fn decode_entry_value<V: MapValue>(encoded: &[u8]) -> V {
    let value = match codec::decode(encoded) {
        Ok(Value::List(mut pair)) if pair.len() == 2 => pair.pop(),
        _ => None,
    };
    value
        .and_then(|v| V::from_value(v).ok())
        .unwrap_or_else(|| unreachable!("an entry's cached encoding reads back"))
}

fn load_node<V: MapValue>(
    cid: Cid,
    fetch: crate::index::Blocks<'_>,
    level: usize,
    prefix: &[u8],
) -> Result<Node<V>, HamtError> {
    let bad = |reason| HamtError::NotCanonical { cid, reason };
    let bytes = fetch(&cid)?.ok_or(HamtError::MissingBlock(cid))?;
    if !cid.matches(&bytes) {
        return Err(bad("block bytes do not match the CID"));
    }
    let value = profile::decode_record(&bytes).map_err(|error| HamtError::Record { cid, error })?;
    let mut fields = profile::Fields::new("map node", value)
        .map_err(|error| HamtError::Record { cid, error })?;
    let slots = fields
        .list("slots")
        .map_err(|error| HamtError::Record { cid, error })?;
    fields
        .finish()
        .map_err(|error| HamtError::Record { cid, error })?;
    let mut node = Node::default();
    let mut last: Option<u8> = None;
    for slot in slots {
        let Value::List(pair) = slot else {
            return Err(bad("a slot is not a [index, content] pair"));
        };
        let [Value::Integer(i), content] =
            <[Value; 2]>::try_from(pair).map_err(|_| bad("a slot is not a pair"))?
        else {
            return Err(bad("a slot index is not an integer"));
        };
        let index = u8::try_from(i)
            .ok()
            .filter(|&i| usize::from(i) < FANOUT)
            .ok_or_else(|| bad("slot index out of range"))?;
        if last.is_some_and(|l| l >= index) {
            return Err(bad("slots out of order"));
        }
        last = Some(index);
        let mut path = prefix.to_vec();
        path.push(index);
        let slot = match content {
            Value::List(items) => {
                if items.is_empty() || items.len() > BUCKET_SIZE {
                    return Err(bad("bucket size out of range"));
                }
                let mut entries: Vec<Arc<Entry<V>>> = Vec::with_capacity(items.len());
                for item in items {
                    let encoded = codec::encode(&item);
                    let Value::List(kv) = item else {
                        return Err(bad("a bucket entry is not a [key, value] pair"));
                    };
                    let [Value::String(key), value] = <[Value; 2]>::try_from(kv)
                        .map_err(|_| bad("a bucket entry is not a pair"))?
                    else {
                        return Err(bad("a bucket key is not text"));
                    };
                    let h = key_hash(&key);
                    if (0..=level).any(|l| nibble(&h, l) != path[l]) {
                        return Err(bad("an entry is in a slot its key hash does not lead to"));
                    }
                    if entries.last().is_some_and(|e| e.key >= key) {
                        return Err(bad("bucket entries out of order"));
                    }
                    if encoded.len() > MAX_ENTRY_BYTES {
                        return Err(bad("entry larger than the limit"));
                    }
                    let value =
                        V::from_value(value).map_err(|error| HamtError::Entry { cid, error })?;
                    entries.push(Arc::new(Entry {
                        key,
                        value,
                        encoded,
                    }));
                }
                node.count += entries.len();
                Slot::Bucket(entries)
            }
            Value::Link(link) => {
                if level + 1 >= MAX_LEVELS {
                    return Err(bad("map deeper than the key hash"));
                }
                let child_cid =
                    Cid::try_from(&link).map_err(|_| bad("a child link is not a Cairn CID"))?;
                let child = load_node(child_cid, fetch, level + 1, &path)?;
                if child.count <= BUCKET_SIZE {
                    return Err(bad(
                        "a child node holds too few entries (it must be a bucket)",
                    ));
                }
                node.count += child.count;
                Slot::Child(Arc::new(child))
            }
            _ => return Err(bad("a slot holds neither a bucket nor a link")),
        };
        node.slots.insert(index, slot);
    }
    if level > 0 && node.count <= BUCKET_SIZE {
        return Err(bad("a child node holds too few entries"));
    }
    node.cid = Some(cid);
    node.block = bytes;
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn v(i: usize) -> Value {
        Value::Integer(i as i128)
    }

    #[test]
    fn shape_is_independent_of_insertion_order_and_history() {
        let mut a = Hamt::new();
        let mut b = Hamt::new();
        for i in 0..500 {
            a.insert(&format!("k{i}"), v(i)).expect("insert");
        }
        for i in (0..700).rev() {
            b.insert(&format!("k{i}"), v(i)).expect("insert");
        }
        for i in 500..700 {
            assert_eq!(b.remove(&format!("k{i}")), Some(v(i)));
        }
        assert_eq!(a.root_cid(), b.root_cid());
        assert_eq!(a.len(), 500);
        assert_eq!(b.get("k42"), Some(&v(42)));
        assert_eq!(b.get("k600"), None);
    }

    #[test]
    fn load_round_trips_and_refuses_tampering() {
        let mut m = Hamt::new();
        for i in 0..200 {
            m.insert(&format!("alias-{i}"), v(i)).expect("insert");
        }
        let root = m.root_cid();
        let blocks: HashMap<Cid, Vec<u8>> = m.blocks().into_iter().collect();
        let mut loaded = Hamt::<Value>::load(root, &|c| Ok(blocks.get(c).cloned())).expect("load");
        assert_eq!(loaded.root_cid(), root);
        assert_eq!(loaded.entries().len(), 200);
        let missing = Hamt::<Value>::load(root, &|c| {
            Ok(if *c == root {
                blocks.get(c).cloned()
            } else {
                None
            })
        });
        assert!(matches!(missing, Err(HamtError::MissingBlock(_))));
        let wrong = Hamt::<Value>::load(root, &|_| Ok(Some(b"\xa0".to_vec())));
        assert!(matches!(wrong, Err(HamtError::NotCanonical { .. })));
    }

    #[test]
    fn lookup_reads_only_the_path_and_agrees_with_get() {
        let mut m = Hamt::new();
        for i in 0..3000 {
            m.insert(&format!("alias-{i}"), v(i)).expect("insert");
        }
        let blocks: std::collections::BTreeMap<Cid, Vec<u8>> = m.blocks().into_iter().collect();
        let root = m.root_cid();
        let fetched = std::cell::Cell::new(0usize);
        let fetch = |c: &Cid| {
            fetched.set(fetched.get() + 1);
            Ok(blocks.get(c).cloned())
        };
        for i in (0..3200).step_by(7) {
            let key = format!("alias-{i}");
            fetched.set(0);
            let found = Hamt::<Value>::lookup(root, &key, &fetch).expect("lookup");
            assert_eq!(found.as_ref(), m.get(&key), "{key}");
            assert!(
                fetched.get() <= 4,
                "{key}: {} blocks for one lookup",
                fetched.get()
            );
        }
        assert!(blocks.len() > 100, "the map spans many blocks");
        let missing = |c: &Cid| Ok((*c != root).then(|| blocks.get(c).cloned()).flatten());
        assert!(matches!(
            Hamt::<Value>::lookup(root, "alias-1", &missing),
            Err(HamtError::MissingBlock(c)) if c == root
        ));
        let failing = |c: &Cid| {
            Err(crate::cid::BlockFault {
                cid: *c,
                reason: "disk on fire".into(),
            })
        };
        assert!(matches!(
            Hamt::<Value>::lookup(root, "alias-1", &failing),
            Err(HamtError::Unreadable(f)) if f.cid == root
        ));
        assert!(matches!(
            Hamt::<Value>::load(root, &failing),
            Err(HamtError::Unreadable(f)) if f.cid == root
        ));
    }

    #[test]
    fn cached_entry_encoding_is_the_canonical_pair() {
        let mut m = Hamt::new();
        let v = Value::List(vec![Value::Integer(-5), Value::text("é")]);
        m.insert("k", v.clone()).expect("insert");
        let node = &m.root;
        let Some(Slot::Bucket(entries)) = node.slots.values().next() else {
            panic!("one bucket")
        };
        assert_eq!(
            entries[0].encoded,
            codec::encode(&Value::List(vec![Value::text("k"), v]))
        );
    }

    #[test]
    fn update_changes_in_place_and_keeps_the_value_when_the_change_fails() {
        let mut m = Hamt::new();
        for i in 0..100 {
            m.insert(&format!("k{i}"), v(i)).expect("insert");
        }
        let before = m.root_cid();
        let mut same = m.clone();
        // A change that begins, then fails: the value and the root are as before.
        let failed = m.update("k7", |x: &mut Value| {
            *x = v(700);
            Err(HamtError::MissingBlock(before))
        });
        assert!(matches!(failed, Some(Err(HamtError::MissingBlock(_)))));
        assert_eq!(m.get("k7"), Some(&v(7)));
        assert_eq!(m.root_cid(), before);
        // Growing past the entry limit is refused the same way.
        let too_big = m.update("k7", |x: &mut Value| {
            *x = Value::Bytes(vec![0; MAX_ENTRY_BYTES]);
            Ok::<(), HamtError>(())
        });
        assert!(matches!(
            too_big,
            Some(Err(HamtError::EntryTooLarge { .. }))
        ));
        assert_eq!(m.get("k7"), Some(&v(7)));
        assert_eq!(m.root_cid(), before);
        // A change that succeeds equals inserting the new value; an absent key is `None`.
        m.update("k7", |x: &mut Value| {
            *x = v(70);
            Ok::<(), HamtError>(())
        })
        .expect("present")
        .expect("changed");
        same.insert("k7", v(70)).expect("insert");
        assert_eq!(m.root_cid(), same.root_cid());
        assert_ne!(m.root_cid(), before);
        assert!(m.update("absent", |_| Ok::<(), HamtError>(())).is_none());
        assert_eq!(m.root_cid(), same.root_cid());
    }

    #[test]
    fn entries_are_bounded() {
        let mut m = Hamt::new();
        let big = Value::Bytes(vec![0; MAX_ENTRY_BYTES]);
        assert!(matches!(
            m.insert("k", big),
            Err(HamtError::EntryTooLarge { .. })
        ));
        assert!(m.is_empty());
    }

    #[test]
    fn one_change_rewrites_a_logarithmic_path() {
        let mut m = Hamt::new();
        for i in 0..10_000 {
            m.insert(&format!("{i}.0.0"), v(i)).expect("insert");
        }
        let total = m.blocks().len();
        let _ = m.root_cid();
        m.insert("5000.0.0", v(0)).expect("update");
        let mut fresh = Vec::new();
        m.flush(Some(&mut fresh));
        assert!(
            fresh.len() <= 6,
            "{} blocks rewritten of {total}",
            fresh.len()
        );
        assert!(total > 100);
    }
}
