//! Blocks and artifacts over the iroh-blobs protocol (ALPN `/iroh-bytes/4`): any iroh-blobs
//! client can fetch what a home holds by its BLAKE3 hash (a Cairn CID's digest), and a fetch
//! checks every 16 KiB group against the CID as it arrives. A peer that lies is caught at the
//! first group it gets wrong, nothing it sent past the last good group is kept, and the next
//! peer is asked only for the rest.
//!
//! Only single-blob `get` requests are answered, for the first blob of the request; a hash
//! this home does not hold gets an empty answer (the protocol's "not found"). An artifact's
//! tree of hashes (its outboard) is computed the first time it is served and kept in
//! `outboards/<cid>`, so serving it again reads the file and the tree and hashes nothing.

use std::fs::File;
use std::io::{self, Read as _, Write};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bao_tree::io::outboard::{PreOrderMemOutboard, PreOrderOutboard};
use bao_tree::io::sync::Outboard as _;
use bao_tree::io::{BaoContentItem, Leaf};
use bao_tree::iter::BaoChunk;
use bao_tree::{BaoTree, BlockSize, ChunkNum, ChunkRanges};
use bytes::Bytes;
use cairn_protocol::cid::{Cid, Codec};
use cairn_protocol::release::Artifact;
use iroh::endpoint::{Connection, RecvStream, SendStream, VarInt};
use iroh::protocol::{AcceptError, ProtocolHandler};
use iroh_blobs::get::fsm::{self, BlobContentNext, ConnectedNext};
use iroh_blobs::protocol::{GetRequest, MAX_MESSAGE_SIZE, Request};

use crate::artifact::Receiving;
use crate::store::Store;

pub use iroh_blobs::ALPN;

/// The protocol's groups: 16 chunks of 1 KiB.
const BLOCK: BlockSize = BlockSize::from_chunk_log(4);
/// Encoded bytes gathered into one stream write.
const CHUNK: usize = 1 << 20;
/// Chunks encoded ahead of the stream.
const READ_AHEAD: usize = 8;
/// The stream error code for a request this node does not answer (other than `get`).
const UNSUPPORTED: VarInt = VarInt::from_u32(1);
/// The stream error code for a failure on this side (a file that no longer reads).
const INTERNAL: VarInt = VarInt::from_u32(3);
/// Requests one connection may have in flight at once; more wait for a slot.
const IN_FLIGHT: usize = 16;

/// The iroh-blobs request handler for one home.
#[derive(Debug, Clone)]
pub struct Blobs {
    home: Arc<PathBuf>,
    sent: Arc<AtomicU64>,
}

impl Blobs {
    /// Serves the blocks and artifacts the home at `home` holds.
    #[must_use]
    pub fn new(home: &Path) -> Blobs {
        Blobs {
            home: Arc::new(home.to_path_buf()),
            sent: Arc::default(),
        }
    }

    /// A counter of the bytes sent so far (headers, hashes and data).
    #[must_use]
    pub fn sent(&self) -> Arc<AtomicU64> {
        self.sent.clone()
    }
}

impl ProtocolHandler for Blobs {
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        while let Ok((send, recv)) = conn.accept_bi().await {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let (home, sent) = (self.home.clone(), self.sent.clone());
            tokio::spawn(async move {
                if let Err(e) = serve(&home, &sent, send, recv).await {
                    tracing::debug!("a blob request ended early: {e}");
                }
                drop(slot);
            });
        }
        Ok(())
    }
}

/// What a hash names in a home.
enum Source {
    Artifact {
        file: File,
        outboard: PreOrderOutboard<File>,
    },
    Block(Vec<u8>),
}

async fn serve(
    home: &Path,
    counter: &AtomicU64,
    mut send: SendStream,
    mut recv: RecvStream,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let request = recv.read_to_end(MAX_MESSAGE_SIZE).await?;
    let Some((digest, ranges)) = parse_request(&request) else {
        send.reset(UNSUPPORTED)?;
        return Ok(());
    };
    let home = home.to_path_buf();
    let source = tokio::task::spawn_blocking(move || locate(&home, digest)).await?;
    let source = match source {
        Ok(Some(source)) => source,
        Ok(None) => {
            send.finish()?;
            return Ok(());
        }
        Err(e) => {
            send.reset(INTERNAL)?;
            return Err(e.into());
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut out = Chunks {
            buf: Vec::with_capacity(CHUNK),
            tx,
        };
        let encoded = match source {
            Source::Artifact { file, outboard } => encode_file(&file, &outboard, &ranges, &mut out),
            Source::Block(data) => encode(&data, &ranges, &mut out),
        };
        match encoded.and_then(|()| out.flush()) {
            Ok(()) => {}
            Err(e) => {
                let _ = out.tx.blocking_send(Err(e));
            }
        }
    });
    while let Some(chunk) = rx.recv().await {
        match chunk {
            Ok(chunk) => {
                let len = chunk.len() as u64;
                send.write_chunk(chunk).await?;
                counter.fetch_add(len, Ordering::Relaxed);
            }
            Err(e) => {
                send.reset(INTERNAL)?;
                return Err(e.into());
            }
        }
    }
    send.finish()?;
    send.stopped().await.ok();
    Ok(())
}

/// The bytes of a get request for the blob `digest`, its chunks from `from_chunk` to its end.
#[must_use]
pub fn request(digest: &[u8; 32], from_chunk: u64) -> Vec<u8> {
    let get = GetRequest::blob_ranges(
        iroh_blobs::Hash::from_bytes(*digest),
        chunks_from(from_chunk),
    );
    postcard::to_stdvec(&Request::Get(get)).unwrap_or_default()
}

/// The blob a request asks for and the ranges of it asked for; `None` for anything other than
/// a get request.
#[must_use]
pub fn parse_request(bytes: &[u8]) -> Option<([u8; 32], ChunkRanges)> {
    match postcard::from_bytes::<Request>(bytes).ok()? {
        Request::Get(GetRequest { hash, ranges }) => Some((*hash.as_bytes(), ranges[0].clone())),
        _ => None,
    }
}

/// The 1 KiB chunks from `chunk` to the end of a blob.
#[must_use]
pub fn chunks_from(chunk: u64) -> ChunkRanges {
    ChunkRanges::from(ChunkNum(chunk)..)
}

/// The tree of hashes of `data`: its parent pairs in pre-order (none for 16 KiB or less).
#[must_use]
pub fn outboard(data: &[u8]) -> Vec<u8> {
    PreOrderMemOutboard::create(data, BLOCK).data
}

/// The answer to a request for the chunks of `data` from `from_chunk` on: its size, then the
/// parent pairs and groups those chunks need, in pre-order.
pub fn answer(data: &[u8], from_chunk: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    encode(data, &chunks_from(from_chunk), &mut out)?;
    Ok(out)
}

/// Writes the answer for `ranges` of `data` (held in memory) to `out`.
fn encode(data: &[u8], ranges: &ChunkRanges, out: &mut impl Write) -> io::Result<()> {
    let outboard = PreOrderMemOutboard::create(data, BLOCK);
    out.write_all(&(data.len() as u64).to_le_bytes())?;
    bao_tree::io::sync::encode_ranges(data, outboard, ranges, out).map_err(io::Error::from)
}

/// Writes the answer for `ranges` of an artifact (its `file` and tree of hashes) to `out`.
///
/// A request from a group's start to the end of the blob (what a fetch sends, and a resumed
/// fetch too) wants every group from there whole, so each group is read from the file straight
/// into the stream's buffer. Any other request goes through bao-tree's encoder, which copies
/// each group once more and hashes the groups it sends in part.
fn encode_file(
    file: &File,
    outboard: &PreOrderOutboard<File>,
    ranges: &ChunkRanges,
    out: &mut Chunks,
) -> io::Result<()> {
    let tree = outboard.tree;
    out.size(tree.size());
    let whole_groups =
        matches!(ranges.boundaries(), [start] if start.0 % (1 << BLOCK.chunk_log()) == 0);
    if !whole_groups {
        return bao_tree::io::sync::encode_ranges(file, outboard, ranges, out)
            .map_err(io::Error::from);
    }
    for item in tree.ranges_pre_order_chunks_iter_ref(ranges, 0) {
        match item {
            BaoChunk::Parent { node, .. } => {
                let (left, right) = outboard.load(node)?.ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "a tree of hashes cut short")
                })?;
                out.write_all(left.as_bytes())?;
                out.write_all(right.as_bytes())?;
            }
            BaoChunk::Leaf {
                start_chunk, size, ..
            } => out.read_at(file, start_chunk.to_bytes(), size)?,
        }
    }
    Ok(())
}

/// Encoded bytes, gathered into chunks for the stream.
struct Chunks {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
}

impl Chunks {
    /// The answer's header: the blob's size, little-endian.
    fn size(&mut self, size: u64) {
        self.buf.extend_from_slice(&size.to_le_bytes());
    }

    /// Sends what is gathered if `len` more bytes would not fit: the buffer never grows, which
    /// would copy it.
    fn room(&mut self, len: usize) -> io::Result<()> {
        if self.buf.len() + len > self.buf.capacity() {
            self.flush()?;
        }
        Ok(())
    }

    /// Appends `len` bytes of `file` from `offset` on, read into the buffer directly.
    fn read_at(&mut self, file: &File, offset: u64, len: usize) -> io::Result<()> {
        self.room(len)?;
        let start = self.buf.len();
        self.buf.resize(start + len, 0);
        file.read_exact_at(&mut self.buf[start..], offset)?;
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }
}

impl Write for Chunks {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.room(bytes.len())?;
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(Bytes::from(full)))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

/// The artifact or block whose BLAKE3 digest is `digest`, if the home holds it.
fn locate(home: &Path, digest: [u8; 32]) -> io::Result<Option<Source>> {
    let store = Store::open(home).map_err(io::Error::other)?;
    let artifact = Cid::new(Codec::Raw, digest);
    let path = crate::artifact::path_in(&home.join("artifacts"), &artifact);
    if store.has_artifact(&artifact).map_err(io::Error::other)? && path.is_file() {
        let file = File::open(&path)?;
        let outboard = kept_outboard(home, &artifact, &file)?;
        return Ok(Some(Source::Artifact { file, outboard }));
    }
    let block = Cid::new(Codec::DagCbor, digest);
    Ok(store
        .block(&block)
        .map_err(io::Error::other)?
        .map(Source::Block))
}

/// The tree of hashes of the artifact `cid` (held in `file`): read from `outboards/<cid>`, or
/// computed from the file and kept there. A file that no longer hashes to its CID is an error.
fn kept_outboard(home: &Path, cid: &Cid, file: &File) -> io::Result<PreOrderOutboard<File>> {
    let tree = BaoTree::new(file.metadata()?.len(), BLOCK);
    let root = bao_tree::blake3::Hash::from_bytes(*cid.digest());
    let dir = home.join("outboards");
    let path = dir.join(cid.to_string());
    if let Ok(kept) = File::open(&path)
        && kept.metadata()?.len() == tree.outboard_size()
    {
        return Ok(PreOrderOutboard {
            root,
            tree,
            data: kept,
        });
    }
    let mut computed = PreOrderOutboard {
        root,
        tree,
        data: Vec::with_capacity(usize::try_from(tree.outboard_size()).unwrap_or(0)),
    };
    let reader = io::BufReader::with_capacity(CHUNK, file.try_clone()?.take(tree.size()));
    let hashed = bao_tree::io::sync::outboard(reader, tree, &mut computed)?;
    if hashed != root {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: the file no longer hashes to {cid}", path.display()),
        ));
    }
    let mut temp = crate::artifact::temporary(&dir)?;
    temp.write_all(&computed.data)?;
    temp.as_file().sync_all()?;
    let kept = temp.persist(&path).map_err(|e| e.error)?;
    Ok(PreOrderOutboard {
        root,
        tree,
        data: kept,
    })
}

/// Verified bytes on their way to the writer, in the pieces they arrived in.
struct Gathered {
    /// The offset of the next byte expected.
    at: u64,
    pieces: Vec<Bytes>,
    /// The bytes in `pieces`.
    bytes: usize,
    tx: tokio::sync::mpsc::Sender<Vec<Bytes>>,
    /// Piece lists the writer is done with.
    empty: tokio::sync::mpsc::Receiver<Vec<Bytes>>,
}

/// Requests `artifact` from `out.at` on and gathers each piece that passes its check.
async fn pieces(
    conn: &Connection,
    artifact: &Artifact,
    out: &mut Gathered,
) -> Result<bool, String> {
    let hash = iroh_blobs::Hash::from_bytes(*artifact.cid.digest());
    let request = GetRequest::blob_ranges(hash, chunks_from(out.at / 1024));
    let connected = fsm::start(conn.clone(), request, fsm::RequestCounters::default())
        .next()
        .await
        .map_err(|e| e.to_string())?;
    let ConnectedNext::StartRoot(root) = connected.next().await.map_err(|e| e.to_string())? else {
        return Err("answered for no blob".to_string());
    };
    let (mut content, size) = match root.next().next().await {
        Ok(header) => header,
        Err(fsm::AtBlobHeaderNextError::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(e.to_string()),
    };
    if size != artifact.size {
        return Err(format!(
            "announced {size} bytes where the release says {}",
            artifact.size
        ));
    }
    while let BlobContentNext::More((next, item)) = content.next().await {
        content = next;
        let item = item.map_err(|e| match e {
            fsm::DecodeError::LeafHashMismatch { .. }
            | fsm::DecodeError::ParentHashMismatch { .. } => {
                format!("sent bytes that do not match the artifact ({e})")
            }
            _ => format!("the transfer stopped part way ({e})"),
        })?;
        let BaoContentItem::Leaf(Leaf { offset, data }) = item else {
            continue;
        };
        // Groups start at 16 KiB boundaries: the first may overlap what is held.
        let (at, end) = (out.at, offset + data.len() as u64);
        if offset > at || end <= at {
            return Err(format!("sent bytes {offset}..{end} where {at} was next"));
        }
        let skip = usize::try_from(at - offset).unwrap_or(usize::MAX);
        let piece = data.slice(skip..);
        out.bytes += piece.len();
        out.pieces.push(piece);
        out.at = end;
        if out.bytes >= CHUNK {
            let next = out.empty.try_recv().unwrap_or_default();
            let full = std::mem::replace(&mut out.pieces, next);
            out.bytes = 0;
            out.tx
                .send(full)
                .await
                .map_err(|_| "writing the artifact stopped".to_string())?;
        }
    }
    if out.at == artifact.size {
        Ok(true)
    } else {
        Err(format!("sent {} of {} bytes", out.at, artifact.size))
    }
}

/// Asks the peer at `conn` for the rest of `receiving` (from [`Receiving::have`] on) and
/// appends every group that matches the artifact's CID. `Ok(false)`: the peer does not hold
/// it. The receiving artifact comes back unless writing it failed; whatever the peer did, it
/// holds only verified bytes.
pub(crate) async fn receive(
    conn: &Connection,
    receiving: Receiving,
) -> (Result<bool, String>, Option<Receiving>) {
    let artifact = receiving.artifact().clone();
    let from = receiving.have();
    // The stream is read and checked here while a blocking thread writes what passed.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Bytes>>(READ_AHEAD);
    let (back, empty) = tokio::sync::mpsc::channel::<Vec<Bytes>>(READ_AHEAD + 2);
    let writer = tokio::task::spawn_blocking(move || {
        let mut receiving = receiving;
        while let Some(mut pieces) = rx.blocking_recv() {
            receiving.append_all(&pieces)?;
            pieces.clear();
            let _ = back.try_send(pieces);
        }
        Ok::<_, io::Error>(receiving)
    });
    let mut gathered = Gathered {
        at: from,
        pieces: Vec::new(),
        bytes: 0,
        tx,
        empty,
    };
    let read = pieces(conn, &artifact, &mut gathered).await;
    // Whatever happened next, the bytes that passed their check are kept.
    if !gathered.pieces.is_empty() {
        let _ = gathered.tx.send(gathered.pieces).await;
    }
    drop(gathered.tx);
    match writer.await {
        Ok(Ok(receiving)) => (read, Some(receiving)),
        Ok(Err(e)) => (Err(format!("writing the artifact: {e}")), None),
        Err(e) => (Err(format!("writing the artifact: {e}")), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `encode_file` sends for `ranges` of the artifact `data` kept on disk.
    fn from_disk(data: &[u8], ranges: &ChunkRanges) -> Vec<u8> {
        let dir = tempfile::tempdir().expect("tmp");
        let (file, tree_file) = (dir.path().join("data"), dir.path().join("tree"));
        std::fs::write(&file, data).expect("data");
        std::fs::write(&tree_file, outboard(data)).expect("tree");
        let mem = PreOrderMemOutboard::create(data, BLOCK);
        let on_disk = PreOrderOutboard {
            root: mem.root,
            tree: mem.tree,
            data: File::open(&tree_file).expect("open"),
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        let mut out = Chunks {
            buf: Vec::new(),
            tx,
        };
        let file = File::open(&file).expect("open");
        encode_file(&file, &on_disk, ranges, &mut out).expect("encode");
        out.flush().expect("flush");
        drop(out);
        let mut sent = Vec::new();
        while let Ok(chunk) = rx.try_recv() {
            sent.extend_from_slice(&chunk.expect("a chunk"));
        }
        sent
    }

    #[test]
    fn an_artifact_read_from_disk_is_sent_as_bao_tree_encodes_it() {
        // Five whole groups and a part of one, so the last group is short.
        let data: Vec<u8> = (0..5 * 16 * 1024 + 777_u32)
            .map(|i| (i.wrapping_mul(31) >> 3) as u8)
            .collect();
        // From the start, from a group's start (a resumed fetch), from a group's start past
        // the end (answered with the last group, the proof of the size), from inside a group,
        // from inside the short last group, and a closed range: the last three go through
        // bao-tree's encoder.
        let asks = [
            chunks_from(0),
            chunks_from(32),
            chunks_from(96),
            chunks_from(17),
            chunks_from(81),
            ChunkRanges::from(ChunkNum(3)..ChunkNum(40)),
        ];
        for ranges in &asks {
            let mut expected = Vec::new();
            encode(&data, ranges, &mut expected).expect("bao-tree");
            assert_eq!(from_disk(&data, ranges), expected, "{ranges:?}");
        }
    }
}
