//! The peer links of an ensemble: one TCP connection per pair of servers,
//! on the quorum port of `server.N`, carrying every ZAB message (election
//! included, so the election port is not bound). The server with the
//! lower id dials; the higher accepts. A link is framed as a u32 length
//! then a [`zab::Message`]; it opens with a hello (magic, version, the
//! dialer's id).
//!
//! Each link has a generation number: the core keeps the newest link per
//! peer and ignores what an older one reports, so a peer that reconnects
//! (or restarts) replaces its link cleanly. Links end on any I/O error or
//! malformed frame; the dialer tries again every [`REDIAL`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tree::DataTree;

use crate::config::Config;
use crate::core::CoreMsg;
use crate::ensemble::PeerEvent;

/// Opens every peer link.
const HELLO_MAGIC: &[u8; 4] = b"PDKQ";
/// Version of the link protocol.
const LINK_VERSION: u32 = 1;
/// Largest frame a peer may send (a big snapshot travels in parts).
pub const MAX_PEER_FRAME: usize = 1 << 30;
/// Snapshot parts queued between a link and the thread loading them
/// (then the link stops reading, and the leader's stream waits).
const PARTS_QUEUED: usize = 4;
/// Delay before dialing a peer again.
const REDIAL: Duration = Duration::from_millis(200);
/// How long a dial or a hello may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

static NEXT_GEN: AtomicU64 = AtomicU64::new(1);

/// A link gathers queued buffers into one write up to this size.
const GATHER_BYTES: usize = 1 << 20;

/// The core's end of a peer link.
#[derive(Debug)]
pub struct Link {
    /// The link's generation (see the module's doc).
    pub gen: u64,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    /// Bytes handed to the link and not yet written to its socket.
    backlog: Arc<AtomicUsize>,
}

impl Link {
    /// Hands the link framed messages to write.
    pub fn send(&self, bytes: Vec<u8>) {
        let n = bytes.len();
        self.backlog.fetch_add(n, Ordering::Relaxed);
        if self.tx.send(bytes).is_err() {
            self.backlog.fetch_sub(n, Ordering::Relaxed);
        }
    }

    /// Bytes handed to the link that it has not written yet.
    pub fn backlog(&self) -> usize {
        self.backlog.load(Ordering::Relaxed)
    }
}

/// Appends `msg` to `out` as one frame (u32 length, then the message).
pub fn frame_into(msg: &zab::Message, out: &mut Vec<u8>) {
    let payload = match msg {
        zab::Message::Proposal { txn, .. } => txn.len(),
        zab::Message::Snapshot { state, .. } => state.len(),
        zab::Message::App(b) => b.len(),
        _ => 0,
    };
    frame_with(out, 64 + payload, |o| msg.encode(o));
}

/// Appends one frame to `out` whose message `encode` appends, with room
/// reserved for `expected` bytes of it.
pub fn frame_with(out: &mut Vec<u8>, expected: usize, encode: impl FnOnce(&mut Vec<u8>)) {
    out.reserve(4 + expected);
    zab::length_prefixed(out, encode);
}

/// Binds this server's quorum port.
pub async fn bind(cfg: &Config) -> std::io::Result<TcpListener> {
    let me = &cfg.servers[&cfg.my_id];
    TcpListener::bind((me.host.as_str(), me.quorum_port)).await
}

/// Starts accepting links from lower ids and dialing higher ones.
pub fn spawn(listener: TcpListener, cfg: Arc<Config>, core: mpsc::Sender<CoreMsg>) {
    let my_id = cfg.my_id;
    for (&sid, peer) in cfg.servers.range(my_id + 1..) {
        let addr = format!("{}:{}", peer.host, peer.quorum_port);
        tokio::spawn(dial_forever(my_id, sid, addr, cfg.snap_dir(), core.clone()));
    }
    tokio::spawn(async move {
        loop {
            let Ok((stream, from)) = listener.accept().await else {
                continue;
            };
            let (cfg, core) = (cfg.clone(), core.clone());
            tokio::spawn(async move {
                match accept_hello(stream, &cfg).await {
                    Ok((stream, sid)) => run_link(stream, sid, cfg.snap_dir(), core).await,
                    Err(e) => tracing::warn!("peer link from {from} refused: {e}"),
                }
            });
        }
    });
}

async fn dial_forever(
    my_id: u64,
    sid: u64,
    addr: String,
    snap_dir: PathBuf,
    core: mpsc::Sender<CoreMsg>,
) {
    loop {
        if core.is_closed() {
            return;
        }
        let dialed = tokio::time::timeout(HANDSHAKE_TIMEOUT, TcpStream::connect(&addr)).await;
        if let Ok(Ok(mut stream)) = dialed {
            let mut hello = Vec::with_capacity(16);
            hello.extend_from_slice(HELLO_MAGIC);
            hello.extend_from_slice(&LINK_VERSION.to_be_bytes());
            hello.extend_from_slice(&my_id.to_be_bytes());
            if stream.write_all(&hello).await.is_ok() {
                run_link(stream, sid, snap_dir.clone(), core.clone()).await;
            }
        }
        tokio::time::sleep(REDIAL).await;
    }
}

async fn accept_hello(mut stream: TcpStream, cfg: &Config) -> Result<(TcpStream, u64), String> {
    let mut hello = [0u8; 16];
    tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.read_exact(&mut hello))
        .await
        .map_err(|_| "no hello".to_string())?
        .map_err(|e| format!("reading the hello: {e}"))?;
    if &hello[..4] != HELLO_MAGIC {
        return Err("not a paddock peer".into());
    }
    let version = u32::from_be_bytes(hello[4..8].try_into().expect("4 bytes"));
    if version != LINK_VERSION {
        return Err(format!(
            "link version {version}, this server speaks {LINK_VERSION}"
        ));
    }
    let sid = u64::from_be_bytes(hello[8..].try_into().expect("8 bytes"));
    if sid >= cfg.my_id || !cfg.servers.contains_key(&sid) {
        return Err(format!("server {sid} may not dial server {}", cfg.my_id));
    }
    Ok((stream, sid))
}

/// Runs one link until either side ends it. A leader's snapshot that
/// comes in parts is written to `snap_dir` and loaded as it arrives
/// ([`receive_snapshot`]), so the link never holds the whole of it.
async fn run_link(stream: TcpStream, sid: u64, snap_dir: PathBuf, core: mpsc::Sender<CoreMsg>) {
    let _ = stream.set_nodelay(true);
    let gen = NEXT_GEN.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let backlog = Arc::new(AtomicUsize::new(0));
    let link = Link {
        gen,
        tx,
        backlog: backlog.clone(),
    };
    if core
        .send(CoreMsg::Peer(PeerEvent::Up { sid, link }))
        .await
        .is_err()
    {
        return;
    }
    let (read, mut write) = stream.into_split();
    let reader = async {
        let mut r = BufReader::with_capacity(256 << 10, read);
        // The snapshot whose parts are arriving (see zab::message).
        let mut receiving: Option<Receiving> = None;
        loop {
            let len = match r.read_u32().await {
                Ok(n) => n as usize,
                Err(_) => return,
            };
            if len > MAX_PEER_FRAME {
                tracing::warn!("server {sid} sent a {len}-byte frame; closing its link");
                return;
            }
            let mut head = [0u8; zab::SNAPSHOT_PART_HEADER];
            let head = &mut head[..len.min(zab::SNAPSHOT_PART_HEADER)];
            if r.read_exact(head).await.is_err() {
                return;
            }
            if zab::Message::snapshot_part_expected(head).is_some() {
                let rx = receiving.get_or_insert_with(|| Receiving::start(snap_dir.clone()));
                let mut part = vec![0; len - head.len()];
                if r.read_exact(&mut part).await.is_err() {
                    return;
                }
                if rx.parts.send(Incoming::Bytes(part)).await.is_err() {
                    // The loader stopped early: it says why.
                    if let Some(r) = receiving.take() {
                        if let Err(e) = r.end(None).await {
                            tracing::warn!("server {sid}'s snapshot: {e}; closing its link");
                        }
                    }
                    return;
                }
                continue;
            }
            let mut body = Vec::with_capacity(len);
            body.extend_from_slice(head);
            body.resize(len, 0);
            if r.read_exact(&mut body[head.len()..]).await.is_err() {
                return;
            }
            let ev = match (zab::Message::decode(&body), receiving.take()) {
                (Ok(msg), None) => PeerEvent::Message { sid, gen, msg },
                (Ok(zab::Message::Snapshot { zxid, state }), Some(rx)) => {
                    match rx.end(Some((zxid, state))).await {
                        Ok((tree, snapshot)) => PeerEvent::Loaded {
                            sid,
                            gen,
                            tree: Box::new(tree),
                            snapshot,
                        },
                        Err(e) => {
                            tracing::warn!("server {sid}'s snapshot: {e}; closing its link");
                            return;
                        }
                    }
                }
                (Ok(msg), Some(_)) => {
                    tracing::warn!(
                        "server {sid} sent {msg:?} after a snapshot's parts; closing its link"
                    );
                    return;
                }
                (Err(e), _) => {
                    tracing::warn!("server {sid}: {e}; closing its link");
                    return;
                }
            };
            if core.send(CoreMsg::Peer(ev)).await.is_err() {
                return;
            }
        }
    };
    let writer = async {
        // Small buffers (proposals, acks) are gathered into one write; a
        // big one (a snapshot part) goes out as it is, after what was
        // gathered: copying it held a snapshot twice, and the gathering
        // buffer kept its size for good.
        let mut buf: Vec<u8> = Vec::with_capacity(64 << 10);
        while let Some(first) = rx.recv().await {
            let mut next = Some(first);
            while let Some(bytes) = next.take() {
                if bytes.len() >= GATHER_BYTES {
                    if !buf.is_empty() && write.write_all(&buf).await.is_err() {
                        return;
                    }
                    backlog.fetch_sub(buf.len(), Ordering::Relaxed);
                    buf.clear();
                    if write.write_all(&bytes).await.is_err() {
                        return;
                    }
                    backlog.fetch_sub(bytes.len(), Ordering::Relaxed);
                } else {
                    buf.extend_from_slice(&bytes);
                }
                if buf.len() < GATHER_BYTES {
                    next = rx.try_recv().ok();
                }
            }
            if !buf.is_empty() && write.write_all(&buf).await.is_err() {
                return;
            }
            backlog.fetch_sub(buf.len(), Ordering::Relaxed);
            buf.clear();
            if buf.capacity() > 4 * GATHER_BYTES {
                buf.shrink_to(64 << 10);
            }
        }
    };
    tokio::select! {
        _ = reader => {}
        _ = writer => {}
    }
    let _ = core.send(CoreMsg::Peer(PeerEvent::Down { sid, gen })).await;
}

/// What a link hands the thread loading a snapshot.
enum Incoming {
    /// The next bytes of the body.
    Bytes(Vec<u8>),
    /// The body is complete: it is the snapshot of this zxid.
    End(i64),
}

/// A snapshot arriving in parts: its loader thread, and the way to it.
struct Receiving {
    parts: mpsc::Sender<Incoming>,
    done: oneshot::Receiver<Result<(DataTree, storage::ReceivedSnapshot), String>>,
}

impl Receiving {
    /// Starts the thread that writes the parts to `snap_dir` and parses
    /// them into a tree as they come ([`receive_snapshot`]).
    fn start(snap_dir: PathBuf) -> Receiving {
        let (parts, rx) = mpsc::channel(PARTS_QUEUED);
        let (tx, done) = oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("snapshot-receive".into())
            .spawn(move || {
                let _ = tx.send(receive_snapshot(&snap_dir, rx));
            });
        if let Err(e) = spawned {
            tracing::warn!("no thread to receive a snapshot: {e}");
        }
        Receiving { parts, done }
    }

    /// Hands over the rest of the body and its zxid (None: the body did
    /// not end), and waits for the loaded tree and the sealed file.
    async fn end(
        self,
        last: Option<(i64, Vec<u8>)>,
    ) -> Result<(DataTree, storage::ReceivedSnapshot), String> {
        if let Some((zxid, rest)) = last {
            // A loader that stopped early has dropped its end: its result
            // says why.
            if !rest.is_empty() {
                let _ = self.parts.send(Incoming::Bytes(rest)).await;
            }
            let _ = self.parts.send(Incoming::End(zxid)).await;
        }
        drop(self.parts);
        self.done
            .await
            .unwrap_or_else(|_| Err("its loader thread did not start or died".into()))
    }
}

/// Writes a snapshot body to a file in `snap_dir` and parses it into a
/// tree as its parts arrive on `rx`, then seals the file with the zxid
/// the last message gives. The follower so holds the tree and a few
/// parts, never the whole body (ZooKeeper's learner also parses the
/// snapshot off its socket).
fn receive_snapshot(
    snap_dir: &std::path::Path,
    rx: mpsc::Receiver<Incoming>,
) -> Result<(DataTree, storage::ReceivedSnapshot), String> {
    let file = storage::IncomingSnapshot::create(snap_dir).map_err(|e| e.to_string())?;
    let mut input = PartsReader {
        rx,
        part: Vec::new(),
        at: 0,
        file,
        zxid: None,
        failed: None,
    };
    let tree = DataTree::deserialize(&mut input);
    // The parser stops at the body's end; whatever follows is still part
    // of the file, and its checksum.
    let mut rest = [0u8; 64 << 10];
    while tree.is_ok() && matches!(std::io::Read::read(&mut input, &mut rest), Ok(n) if n > 0) {}
    if let Some(e) = input.failed {
        return Err(e.to_string());
    }
    let tree = tree.map_err(|e| format!("it does not decode: {e}"))?;
    let zxid = input.zxid.ok_or("the link ended before the snapshot did")?;
    let snapshot = input.file.finish(zxid).map_err(|e| e.to_string())?;
    Ok((tree, snapshot))
}

/// The body of a snapshot arriving in parts, as a `Read` for the tree's
/// loader; each part goes to the file as it is taken.
struct PartsReader {
    rx: mpsc::Receiver<Incoming>,
    part: Vec<u8>,
    at: usize,
    file: storage::IncomingSnapshot,
    /// Known once the body ended.
    zxid: Option<i64>,
    /// Writing the file failed.
    failed: Option<storage::StorageError>,
}

impl std::io::Read for PartsReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.part.len() {
            if self.zxid.is_some() || self.failed.is_some() {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Incoming::Bytes(b)) => {
                    if let Err(e) = self.file.write(&b) {
                        self.failed = Some(e);
                        return Err(std::io::Error::other("writing the snapshot's file failed"));
                    }
                    self.part = b;
                    self.at = 0;
                }
                Some(Incoming::End(zxid)) => self.zxid = Some(zxid),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.part.len() - self.at);
        buf[..n].copy_from_slice(&self.part[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
