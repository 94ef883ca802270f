//! The core: one task that owns the data tree, sessions and watches, so
//! every state change happens in one order without locks.
//!
//! Request path: a connection decodes a request and sends it here. A write
//! is prepared (validated against the tree plus outstanding changes, stamped
//! with the next zxid and the time), handed to the commit stage, and kept in
//! `in_flight`. When the commit stage reports it durable, it is applied, its
//! watch events are sent, and then its reply. A read runs at once unless the
//! same session has earlier requests still waiting: then it waits behind
//! them, so every session sees its replies in the order it sent requests.
//!
//! Ordering contracts:
//! - no write is acknowledged before `CoreMsg::Durable` covers its zxid;
//! - a watch event goes out before any reply that shows its change;
//! - replies to one session leave in request order.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use proto::jute::Jute;
use proto::request::Request;
use proto::response::{keeper_state, Response};
use proto::txn::TxnEntry;
use proto::{ErrorCode, Id, OpCode};
use tokio::sync::{mpsc, oneshot};
use tree::watch::{WatchKind, WatchManager};
use tree::{AuthContext, DataTree, FastMap as HashMap, FastSet as HashSet, PrepContext, Prepper};

use crate::commit::{CommitMsg, SnapshotChunk};
use crate::config::Config;
use crate::ensemble::{AppMsg, Ensemble, PeerEvent};
use crate::sessions::{password_for, SessionTracker};
use crate::stats::{Latency, ServerStats};

/// The server's id for one client connection.
pub type ConnId = u64;

/// What the core asks a connection's writer to do.
#[derive(Debug)]
pub enum Outbound {
    /// A reply to a request (frees one outstanding slot).
    Reply(Vec<u8>),
    /// A packet that answers no request (watch event, handshake).
    Packet(Vec<u8>),
    /// Flush what is queued, then close.
    Close,
}

/// Messages to the core.
#[derive(Debug)]
pub enum CoreMsg {
    /// A connection's handshake.
    Connect {
        /// The connection.
        conn: ConnId,
        /// Its peer.
        peer: SocketAddr,
        /// Its outbound queue.
        out: mpsc::UnboundedSender<Outbound>,
        /// The handshake.
        req: proto::ConnectRequest,
        /// Whether the client sent the trailing readOnly flag (it then
        /// expects one back).
        read_only: Option<bool>,
    },
    /// A request after the handshake.
    Request {
        /// The connection.
        conn: ConnId,
        /// Its xid.
        xid: i32,
        /// The request.
        req: Request,
    },
    /// A connection ended.
    Closed {
        /// The connection.
        conn: ConnId,
    },
    /// A four-letter word.
    FourLetter {
        /// The word.
        word: String,
        /// Who asks (listed by `stat` and `cons`, as ZooKeeper does).
        peer: SocketAddr,
        /// Where the text goes.
        reply: oneshot::Sender<String>,
    },
    /// A peer link event (ensemble only).
    Peer(PeerEvent),
    /// The commit stage made every txn up to `zxid` durable.
    Durable {
        /// Highest durable zxid.
        zxid: i64,
    },
    /// The storage failed: the server must stop.
    StorageFailed {
        /// What happened.
        error: String,
    },
    /// Time passed: expire sessions, reap containers and TTL nodes.
    Tick,
    /// The server is stopping: write the shutdown snapshot (if
    /// `paddock.snapshotOnShutdown`), then end the loop, handling nothing
    /// queued after this.
    Shutdown,
}

/// A request of a session waiting for its turn to be answered.
pub(crate) enum Pending {
    /// A write: its zxid once known (a follower learns it when the txn
    /// with this session and xid commits), and its result once applied.
    Write {
        xid: i32,
        zxid: Option<i64>,
        started: Instant,
        done: Option<Result<Response, ErrorCode>>,
    },
    Read {
        xid: i32,
        req: Request,
        started: Instant,
    },
    /// A sync: answered once the zxid to wait for (the last proposed
    /// when it arrived; a follower asks its leader) is applied.
    Sync {
        xid: i32,
        path: String,
        zxid: Option<i64>,
        started: Instant,
    },
    /// The session's creation: requests pipelined behind the handshake wait.
    Handshake,
}

/// A live session as the core sees it.
pub(crate) struct Session {
    conn: Option<ConnId>,
    pub(crate) queue: VecDeque<Pending>,
}

/// A client connection as the core sees it.
pub(crate) struct Conn {
    pub(crate) peer: SocketAddr,
    out: mpsc::UnboundedSender<Outbound>,
    pub(crate) session: Option<i64>,
    pub(crate) timeout_ms: i32,
    auth: Vec<Id>,
    is_super: bool,
    pub(crate) established_ms: u64,
    pub(crate) received: u64,
    pub(crate) sent: u64,
    pub(crate) last_op: &'static str,
    pub(crate) last_cxid: i32,
    pub(crate) last_zxid: i64,
    pub(crate) last_response_ms: u64,
    pub(crate) last_latency_ms: u64,
    pub(crate) latency: Latency,
    pub(crate) queued: usize,
    read_only_flag: bool,
}

/// The core's state. Fields are crate-visible for the four-letter words.
pub struct Core {
    pub(crate) cfg: Arc<Config>,
    pub(crate) tree: DataTree,
    pub(crate) prepper: Prepper,
    pub(crate) watches: WatchManager,
    pub(crate) tracker: SessionTracker,
    pub(crate) sessions: HashMap<i64, Session>,
    pub(crate) conns: HashMap<ConnId, Conn>,
    /// Txns logged (or proposed) and not yet applied, in zxid order.
    pub(crate) in_flight: VecDeque<TxnEntry>,
    /// Sessions being created, by id: the connection and timeout.
    connecting: HashMap<i64, (ConnId, i32)>,
    pub(crate) syncing: HashSet<i64>,
    pub(crate) next_zxid: i64,
    next_session_id: i64,
    pub(crate) commit: std_mpsc::Sender<CommitMsg>,
    /// The ensemble's state; `None` standalone.
    pub(crate) ensemble: Option<Ensemble>,
    pub(crate) stats: ServerStats,
    pub(crate) started: Instant,
    /// The time at the start of this turn of the loop (see [`TurnClock`]).
    clock: TurnClock,
    pub(crate) txns_since_snapshot: u64,
    snap_threshold: u64,
    /// Nodes in the last snapshot (or the recovered tree).
    snap_nodes: u64,
    /// The snapshot being written, a few nodes per turn of the loop.
    pub(crate) snapshot: Option<LiveSnapshot>,
    /// [`CoreMsg::Shutdown`] was handled: the loop ends.
    stopping: bool,
    super_id: Option<String>,
    last_reap: Instant,
    /// Every open client connection, handshaken or not (set by the acceptor).
    pub(crate) open_connections: Arc<std::sync::atomic::AtomicUsize>,
}

/// The clocks read once per turn of the core's loop: every request handled
/// in a turn is stamped (arrival, reply, txn time) with the turn's start.
/// Reading both clocks for each request took ~3% of the server's CPU on
/// writes (five reads per request); every figure they feed is in whole
/// milliseconds and a turn is far shorter.
#[derive(Debug, Clone, Copy)]
struct TurnClock {
    mono: Instant,
    wall_ms: i64,
}

impl TurnClock {
    fn now() -> TurnClock {
        TurnClock {
            mono: Instant::now(),
            wall_ms: wall_ms(),
        }
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Short op names for `cons` (ZooKeeper's `lop`).
fn op_name(op: i32) -> &'static str {
    match OpCode::from_i32(op) {
        Some(OpCode::Create | OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl) => {
            "CREA"
        }
        Some(OpCode::Delete) => "DELE",
        Some(OpCode::Exists) => "EXIS",
        Some(OpCode::GetData) => "GETD",
        Some(OpCode::SetData) => "SETD",
        Some(OpCode::GetAcl) => "GETA",
        Some(OpCode::SetAcl) => "SETA",
        Some(OpCode::GetChildren) => "GETC",
        Some(OpCode::GetChildren2) => "GETC",
        Some(OpCode::Sync) => "SYNC",
        Some(OpCode::Ping) => "PING",
        Some(OpCode::Multi) => "MULT",
        Some(OpCode::MultiRead) => "MLTR",
        Some(OpCode::CloseSession) => "CLOS",
        Some(OpCode::SetWatches | OpCode::SetWatches2) => "SETW",
        Some(OpCode::Check) => "CHEC",
        Some(OpCode::AddWatch) => "ADDW",
        Some(OpCode::RemoveWatches) => "REMW",
        Some(OpCode::CheckWatches) => "CHKW",
        Some(OpCode::WhoAmI) => "HOMI",
        Some(OpCode::GetEphemerals) => "GETE",
        Some(OpCode::GetAllChildrenNumber) => "GETACN",
        Some(OpCode::Auth) => "AUTH",
        _ => "UNKN",
    }
}

/// Encodes one framed packet: a reply header and an optional body.
fn encode_reply(xid: i32, zxid: i64, result: &Result<Response, ErrorCode>) -> Vec<u8> {
    // Frame and header (20 bytes) plus a Stat (68): most replies fit.
    let mut buf = Vec::with_capacity(128);
    let at = proto::frame::begin(&mut buf);
    match result {
        Ok(body) => {
            proto::ReplyHeader { xid, zxid, err: 0 }.write(&mut buf);
            body.encode(&mut buf);
        }
        Err(e) => proto::ReplyHeader {
            xid,
            zxid,
            err: *e as i32,
        }
        .write(&mut buf),
    }
    proto::frame::end(&mut buf, at);
    buf
}

fn encode_event(kind: i32, path: &str) -> Vec<u8> {
    let mut buf = Vec::with_capacity(32 + path.len());
    let at = proto::frame::begin(&mut buf);
    proto::ReplyHeader {
        xid: proto::opcode::xid::NOTIFICATION,
        zxid: -1,
        err: 0,
    }
    .write(&mut buf);
    proto::WatcherEvent {
        kind,
        state: keeper_state::SYNC_CONNECTED,
        path: path.to_string(),
    }
    .write(&mut buf);
    proto::frame::end(&mut buf, at);
    buf
}

impl Core {
    /// A core over a recovered tree.
    pub fn new(
        cfg: Arc<Config>,
        tree: DataTree,
        last_zxid: i64,
        commit: std_mpsc::Sender<CommitMsg>,
        ensemble: Option<Ensemble>,
    ) -> Core {
        let started = Instant::now();
        let mut tracker = SessionTracker::default();
        let mut sessions = HashMap::default();
        for (id, timeout_ms) in tree.sessions() {
            tracker.add(id, timeout_ms, 0);
            sessions.insert(
                id,
                Session {
                    conn: None,
                    queue: VecDeque::new(),
                },
            );
        }
        // `superDigest` is `user:base64(sha1(user:password))`, the same
        // form as a digest identity, so an auth packet that produces it is super.
        let super_id = cfg.super_digest.clone();
        // Standalone: above every recovered session. In an ensemble the
        // id's top byte is this server's (as ZooKeeper's), so ids never
        // collide with another member's; the recovered maximum may be one
        // of theirs and is no floor.
        let next_session_id = match ensemble {
            Some(_) => crate::sessions::initial_session_id(cfg.my_id as u8, wall_ms() as u64),
            None => {
                let max_existing = sessions.keys().copied().max().unwrap_or(0);
                crate::sessions::initial_session_id(0, wall_ms() as u64).max(max_existing + 1)
            }
        };
        let snap_threshold = snap_threshold(cfg.snap_count, last_zxid ^ snap_salt(&cfg));
        let snap_nodes = tree.znode_count() as u64;
        Core {
            cfg,
            tree,
            prepper: Prepper::new(),
            watches: WatchManager::new(),
            tracker,
            sessions,
            conns: HashMap::default(),
            in_flight: VecDeque::new(),
            connecting: HashMap::default(),
            syncing: HashSet::default(),
            next_zxid: last_zxid + 1,
            next_session_id,
            commit,
            ensemble,
            stats: ServerStats::default(),
            started,
            clock: TurnClock::now(),
            txns_since_snapshot: 0,
            snap_threshold,
            snap_nodes,
            snapshot: None,
            stopping: false,
            super_id,
            last_reap: started,
            open_connections: Arc::default(),
        }
    }

    /// Milliseconds since the core started, as of this turn.
    pub(crate) fn now_ms(&self) -> u64 {
        self.clock
            .mono
            .saturating_duration_since(self.started)
            .as_millis() as u64
    }

    /// Runs until every sender is gone or the storage fails.
    pub async fn run(mut self, mut rx: mpsc::Receiver<CoreMsg>) -> Result<(), String> {
        self.clock = TurnClock::now();
        let now = self.now_ms();
        if let Some(e) = self.ensemble.as_mut() {
            e.zab.start(now);
        }
        self.run_zab()?;
        if let Some(e) = self.ensemble.as_mut() {
            e.flush();
        }
        loop {
            let msg = if self.snapshot.is_some() {
                // Nothing waiting: a bigger share of the snapshot, then
                // let the runtime in.
                match rx.try_recv() {
                    Ok(msg) => msg,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        if self.snapshot_step(SNAPSHOT_IDLE_BUDGET) {
                            tokio::task::yield_now().await;
                            continue;
                        }
                        // The writer is behind (its queue is full): wait
                        // for a request or a moment.
                        let pause = std::time::Duration::from_millis(1);
                        match tokio::time::timeout(pause, rx.recv()).await {
                            Ok(Some(msg)) => msg,
                            Ok(None) => break,
                            Err(_) => continue,
                        }
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                }
            } else {
                match rx.recv().await {
                    Some(msg) => msg,
                    None => break,
                }
            };
            self.clock = TurnClock::now();
            self.handle(msg)?;
            // Drain what is already queued before yielding, a bounded
            // number at a time so a snapshot keeps moving under load.
            for _ in 0..DRAIN_BATCH {
                if self.stopping {
                    break;
                }
                match rx.try_recv() {
                    Ok(msg) => self.handle(msg)?,
                    Err(_) => break,
                }
            }
            if self.stopping {
                break;
            }
            if let Some(e) = self.ensemble.as_mut() {
                e.flush();
            }
            self.snapshot_step(SNAPSHOT_BUSY_BUDGET);
        }
        Ok(())
    }

    fn handle(&mut self, msg: CoreMsg) -> Result<(), String> {
        match msg {
            CoreMsg::Connect {
                conn,
                peer,
                out,
                req,
                read_only,
            } => self.on_connect(conn, peer, out, req, read_only.is_some()),
            CoreMsg::Request { conn, xid, req } => self.on_request(conn, xid, req),
            CoreMsg::Closed { conn } => self.on_closed(conn),
            CoreMsg::FourLetter { word, peer, reply } => {
                let text = crate::fourlw::render(self, &word, peer);
                let _ = reply.send(text);
            }
            CoreMsg::Peer(ev) => self.on_peer(ev),
            CoreMsg::Durable { zxid } => {
                let now = self.now_ms();
                match self.ensemble.as_mut() {
                    Some(e) => e.zab.on_durable(now, zxid),
                    None => self.on_committed(zxid),
                }
            }
            CoreMsg::StorageFailed { error } => return Err(error),
            CoreMsg::Tick => self.on_tick(),
            CoreMsg::Shutdown => {
                self.stopping = true;
                if self.cfg.snapshot_on_shutdown {
                    self.snapshot_on_shutdown();
                }
                return Ok(());
            }
        }
        self.run_zab()
    }

    // ---- connections and sessions ----

    fn on_connect(
        &mut self,
        id: ConnId,
        peer: SocketAddr,
        out: mpsc::UnboundedSender<Outbound>,
        req: proto::ConnectRequest,
        read_only_flag: bool,
    ) {
        self.stats.packets_received += 1;
        if !self.serving() {
            // Electing or syncing: the client tries another server.
            let _ = out.send(Outbound::Close);
            return;
        }
        let timeout_ms = req.timeout_ms.clamp(
            self.cfg.min_session_timeout_ms,
            self.cfg.max_session_timeout_ms,
        );
        let conn = Conn {
            peer,
            out,
            session: None,
            timeout_ms,
            auth: vec![Id {
                scheme: "ip".into(),
                id: peer.ip().to_string(),
            }],
            is_super: false,
            established_ms: wall_ms() as u64,
            received: 1,
            sent: 0,
            last_op: "NA",
            last_cxid: 0,
            last_zxid: 0,
            last_response_ms: 0,
            last_latency_ms: 0,
            latency: Latency::default(),
            queued: 0,
            read_only_flag,
        };
        if req.last_zxid_seen > self.tree.last_zxid() {
            tracing::info!(
                "refusing session request from {peer}: it has seen zxid {:#x}, ours is {:#x}",
                req.last_zxid_seen,
                self.tree.last_zxid()
            );
            let _ = conn.out.send(Outbound::Close);
            return;
        }
        self.conns.insert(id, conn);
        if req.session_id == 0 {
            self.open_session(id, timeout_ms);
        } else {
            self.reattach(id, req.session_id, &req.passwd, timeout_ms);
        }
    }

    fn open_session(&mut self, conn: ConnId, timeout_ms: i32) {
        let sid = self.next_session_id;
        self.next_session_id += 1;
        self.connecting.insert(sid, (conn, timeout_ms));
        self.sessions.insert(
            sid,
            Session {
                conn: Some(conn),
                queue: VecDeque::from([Pending::Handshake]),
            },
        );
        if let Some(c) = self.conns.get_mut(&conn) {
            c.session = Some(sid);
        }
        if self.forwards() {
            self.send_leader(AppMsg::CreateSession {
                session: sid,
                timeout_ms,
            });
            return;
        }
        let zxid = self.next_zxid;
        let entry = self
            .prepper
            .prepare_create_session(sid, timeout_ms, zxid, wall_ms());
        self.log(entry);
    }

    fn reattach(&mut self, conn: ConnId, sid: i64, passwd: &[u8], timeout_ms: i32) {
        let now = self.now_ms();
        let live = self.tracker.get(sid).is_some_and(|t| !t.closing);
        if !live || passwd != password_for(sid).as_slice() {
            tracing::info!(
                "refusing reattach of session {sid:#x}: expired, unknown or bad password"
            );
            self.send_connect_response(conn, 0, 0, vec![0; 16]);
            self.close_conn(conn);
            return;
        }
        let old = self
            .sessions
            .get_mut(&sid)
            .and_then(|s| s.conn.replace(conn));
        if let Some(old) = old.filter(|o| *o != conn) {
            self.close_conn(old);
        }
        self.tracker.touch(sid, now);
        self.touched(sid);
        let timeout = self
            .tracker
            .get(sid)
            .map(|t| t.timeout_ms)
            .unwrap_or(timeout_ms);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.session = Some(sid);
            c.timeout_ms = timeout;
        }
        self.send_connect_response(conn, timeout, sid, password_for(sid));
    }

    fn send_connect_response(&mut self, conn: ConnId, timeout_ms: i32, sid: i64, passwd: Vec<u8>) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let mut buf = Vec::with_capacity(48);
        let at = proto::frame::begin(&mut buf);
        proto::ConnectResponse {
            protocol_version: 0,
            timeout_ms,
            session_id: sid,
            passwd,
        }
        .write_handshake(c.read_only_flag.then_some(false), &mut buf);
        proto::frame::end(&mut buf, at);
        c.sent += 1;
        self.stats.packets_sent += 1;
        let _ = c.out.send(Outbound::Packet(buf));
    }

    fn close_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            let _ = c.out.send(Outbound::Close);
            self.watches.remove_watcher(conn);
            if let Some(s) = c.session.and_then(|sid| self.sessions.get_mut(&sid)) {
                if s.conn == Some(conn) {
                    s.conn = None;
                }
            }
        }
    }

    fn on_closed(&mut self, conn: ConnId) {
        self.close_conn(conn);
    }

    // ---- requests ----

    fn on_request(&mut self, conn_id: ConnId, xid: i32, req: Request) {
        let now = self.now_ms();
        self.stats.packets_received += 1;
        let Some(conn) = self.conns.get_mut(&conn_id) else {
            return;
        };
        conn.received += 1;
        let Some(sid) = conn.session else {
            return;
        };
        if xid != proto::opcode::xid::PING && xid != proto::opcode::xid::AUTH {
            conn.last_cxid = xid;
        }
        conn.last_op = op_name(req.op());
        conn.queued += 1;
        self.tracker.touch(sid, now);
        self.touched(sid);
        let started = self.clock.mono;
        match req {
            Request::Auth(p) => self.on_auth(conn_id, p),
            req if (req.is_write() || matches!(req, Request::CloseSession)) && self.forwards() => {
                if matches!(req, Request::CloseSession) {
                    self.tracker.set_closing(sid);
                }
                let c = &self.conns[&conn_id];
                let mut body = Vec::new();
                req.encode(&mut body);
                let msg = AppMsg::Request {
                    session: sid,
                    cxid: xid,
                    auth: c.auth.clone(),
                    is_super: c.is_super,
                    op: req.op(),
                    body,
                };
                self.send_leader(msg);
                self.push_pending(
                    sid,
                    Pending::Write {
                        xid,
                        zxid: None,
                        started,
                        done: None,
                    },
                );
            }
            Request::Sync(s) if self.forwards() => {
                self.forward_sync(sid);
                self.push_pending(
                    sid,
                    Pending::Sync {
                        xid,
                        path: s.path,
                        zxid: None,
                        started,
                    },
                );
            }
            Request::CloseSession => {
                self.tracker.set_closing(sid);
                let entry = self.prepare_for(conn_id, sid, xid, |p, tree, ctx| {
                    p.prepare_close_session(tree, sid, ctx)
                });
                self.submit(sid, xid, entry, started);
            }
            req if req.is_write() => {
                let entry =
                    self.prepare_for(conn_id, sid, xid, |p, tree, ctx| p.prepare(tree, &req, ctx));
                self.submit(sid, xid, entry, started);
            }
            Request::Sync(s) => {
                let zxid = self.next_zxid - 1;
                self.push_pending(
                    sid,
                    Pending::Sync {
                        xid,
                        path: s.path,
                        zxid: Some(zxid),
                        started,
                    },
                );
                self.syncing.insert(sid);
                self.drain(sid);
            }
            req => {
                let idle = self.sessions.get(&sid).is_some_and(|s| s.queue.is_empty());
                if idle {
                    let result = self.execute_read(conn_id, sid, &req);
                    let zxid = self.tree.last_zxid();
                    self.reply(Some(conn_id), xid, zxid, result, started);
                } else {
                    self.push_pending(sid, Pending::Read { xid, req, started });
                }
            }
        }
    }

    /// Prepares a write of `conn`'s session with its identities.
    fn prepare_for(
        &mut self,
        conn: ConnId,
        sid: i64,
        xid: i32,
        prepare: impl FnOnce(&mut Prepper, &DataTree, &PrepContext) -> TxnEntry,
    ) -> TxnEntry {
        let c = &self.conns[&conn];
        let ctx = self.prep_context(sid, xid, &c.auth, c.is_super);
        prepare(&mut self.prepper, &self.tree, &ctx)
    }

    /// What a write of session `sid` is prepared with: its identities (its
    /// connection's, here or on the follower that forwarded it), the next
    /// zxid and the time.
    fn prep_context<'a>(
        &self,
        sid: i64,
        xid: i32,
        auth: &'a [Id],
        is_super: bool,
    ) -> PrepContext<'a> {
        PrepContext {
            session_id: sid,
            cxid: xid,
            zxid: self.next_zxid,
            time_ms: self.clock.wall_ms,
            auth: AuthContext {
                ids: auth,
                is_super,
            },
        }
    }

    /// Prepares a write of session `sid` with the given identities (its
    /// connection's, here or on the follower that forwarded it).
    pub(crate) fn prepare_as(
        &mut self,
        sid: i64,
        xid: i32,
        auth: &[Id],
        is_super: bool,
        prepare: impl FnOnce(&mut Prepper, &DataTree, &PrepContext) -> TxnEntry,
    ) -> TxnEntry {
        let ctx = self.prep_context(sid, xid, auth, is_super);
        prepare(&mut self.prepper, &self.tree, &ctx)
    }

    fn push_pending(&mut self, sid: i64, p: Pending) {
        if let Some(s) = self.sessions.get_mut(&sid) {
            s.queue.push_back(p);
        }
    }

    /// Queues a prepared write for the log and its reply behind it.
    fn submit(&mut self, sid: i64, xid: i32, entry: TxnEntry, started: Instant) {
        let zxid = entry.header.zxid;
        self.log(entry);
        self.push_pending(
            sid,
            Pending::Write {
                xid,
                zxid: Some(zxid),
                started,
                done: None,
            },
        );
    }

    /// Logs a prepared txn: standalone to the commit thread, in an
    /// ensemble as a proposal (ZAB logs it and sends it to followers).
    pub(crate) fn log(&mut self, entry: TxnEntry) {
        debug_assert_eq!(entry.header.zxid, self.next_zxid);
        self.next_zxid += 1;
        let zxid = entry.header.zxid;
        let bytes = entry.encode();
        self.in_flight.push_back(entry);
        if self.ensemble.is_some() {
            self.propose(zxid, bytes);
        } else {
            let _ = self.commit.send(CommitMsg::Append(zxid, bytes));
        }
    }

    fn on_auth(&mut self, conn_id: ConnId, p: proto::AuthPacket) {
        let ok = p.scheme == "digest"
            && std::str::from_utf8(&p.auth)
                .ok()
                .filter(|s| s.contains(':'))
                .map(tree::acl::digest_id)
                .map(|id| {
                    let is_super = self.super_id.as_deref() == Some(id.as_str());
                    let c = self.conns.get_mut(&conn_id).expect("conn exists");
                    c.is_super |= is_super;
                    // ZooKeeper keeps every auth packet's identity, repeats included.
                    c.auth.push(Id {
                        scheme: "digest".into(),
                        id,
                    });
                })
                .is_some();
        let zxid = self.tree.last_zxid();
        if ok {
            self.reply(
                Some(conn_id),
                proto::opcode::xid::AUTH,
                zxid,
                Ok(Response::Empty),
                Instant::now(),
            );
        } else {
            self.stats.auth_failed += 1;
            self.reply(
                Some(conn_id),
                proto::opcode::xid::AUTH,
                zxid,
                Err(ErrorCode::AuthFailed),
                Instant::now(),
            );
            self.close_conn(conn_id);
        }
    }

    /// Runs a request that does not change the tree.
    fn execute_read(
        &mut self,
        conn_id: ConnId,
        sid: i64,
        req: &Request,
    ) -> Result<Response, ErrorCode> {
        match req {
            Request::Ping => Ok(Response::Empty),
            Request::SetWatches(_, sw) => {
                self.set_watches(conn_id, sw);
                Ok(Response::Empty)
            }
            Request::AddWatch(r) => {
                tree::path::validate(&r.path)?;
                let kind = match r.mode {
                    0 => WatchKind::Persistent,
                    1 => WatchKind::PersistentRecursive,
                    _ => return Err(ErrorCode::BadArguments),
                };
                self.watches.add(&r.path, conn_id, kind);
                Ok(Response::AddWatch(proto::ErrorResponse { err: 0 }))
            }
            Request::RemoveWatches(r) | Request::CheckWatches(r) => {
                tree::path::validate(&r.path)?;
                let kinds = WatchKind::from_watcher_type(r.kind).ok_or(ErrorCode::BadArguments)?;
                let remove = matches!(req, Request::RemoveWatches(_));
                let mut any = false;
                for &k in kinds {
                    any |= if remove {
                        self.watches.remove(&r.path, conn_id, k)
                    } else {
                        self.watches.contains(&r.path, conn_id, k)
                    };
                }
                if any {
                    Ok(Response::Empty)
                } else {
                    Err(ErrorCode::NoWatcher)
                }
            }
            Request::WhoAmI => {
                let c = &self.conns[&conn_id];
                // ZooKeeper lists the added identities first, the ip last.
                let (ip, added): (Vec<&Id>, Vec<&Id>) =
                    c.auth.iter().partition(|id| id.scheme == "ip");
                Ok(Response::WhoAmI(proto::WhoAmIResponse {
                    client_info: added
                        .into_iter()
                        .chain(ip)
                        .map(|id| proto::ClientInfo {
                            auth_scheme: id.scheme.clone(),
                            user: match id.scheme.as_str() {
                                "digest" => id.id.split(':').next().unwrap_or("").to_string(),
                                _ => id.id.clone(),
                            },
                        })
                        .collect(),
                }))
            }
            Request::Reconfig(_) => Err(ErrorCode::ReconfigDisabled),
            Request::Unknown(_) => Err(ErrorCode::Unimplemented),
            _ => self.tree_read(conn_id, sid, req),
        }
    }

    fn tree_read(
        &mut self,
        conn_id: ConnId,
        sid: i64,
        req: &Request,
    ) -> Result<Response, ErrorCode> {
        let result = {
            let c = &self.conns[&conn_id];
            let auth = AuthContext {
                ids: &c.auth,
                is_super: c.is_super,
            };
            self.tree.read(req, &auth, sid)
        };
        let watch = match req {
            Request::Exists(r) if r.watch && matches!(result, Ok(_) | Err(ErrorCode::NoNode)) => {
                Some((&r.path, WatchKind::Data))
            }
            Request::GetData(r) if r.watch && result.is_ok() => Some((&r.path, WatchKind::Data)),
            Request::GetChildren(r) | Request::GetChildren2(r) if r.watch && result.is_ok() => {
                Some((&r.path, WatchKind::Child))
            }
            _ => None,
        };
        if let Some((path, kind)) = watch {
            self.watches.add(path, conn_id, kind);
        }
        result
    }

    /// Re-arms a reconnecting client's watches; fires those whose node
    /// changed after the client's last seen zxid.
    fn set_watches(&mut self, conn_id: ConnId, sw: &proto::SetWatches2) {
        use proto::response::event_type::*;
        let rel = sw.relative_zxid;
        let mut fire: Vec<(i32, &str)> = Vec::new();
        for p in &sw.data_watches {
            match self.tree.stat(p) {
                None => fire.push((NODE_DELETED, p)),
                Some(s) if s.mzxid > rel => fire.push((NODE_DATA_CHANGED, p)),
                Some(_) => {
                    self.watches.add(p, conn_id, WatchKind::Data);
                }
            }
        }
        for p in &sw.exist_watches {
            if self.tree.stat(p).is_some() {
                fire.push((NODE_CREATED, p));
            } else {
                self.watches.add(p, conn_id, WatchKind::Data);
            }
        }
        for p in &sw.child_watches {
            match self.tree.stat(p) {
                None => fire.push((NODE_DELETED, p)),
                Some(s) if s.pzxid > rel => fire.push((NODE_CHILDREN_CHANGED, p)),
                Some(_) => {
                    self.watches.add(p, conn_id, WatchKind::Child);
                }
            }
        }
        for p in &sw.persistent_watches {
            self.watches.add(p, conn_id, WatchKind::Persistent);
        }
        for p in &sw.persistent_recursive_watches {
            self.watches.add(p, conn_id, WatchKind::PersistentRecursive);
        }
        let packets: Vec<Vec<u8>> = fire.iter().map(|(k, p)| encode_event(*k, p)).collect();
        for packet in packets {
            self.send_packet(conn_id, packet);
        }
    }

    /// Whether a connection's identities may READ a node with `acl`
    /// (watch events go only to those that may).
    fn may_read(&self, conn: ConnId, acl: &[proto::Acl]) -> bool {
        self.conns.get(&conn).is_some_and(|c| {
            tree::acl::check(
                acl,
                proto::records::perms::READ,
                &AuthContext {
                    ids: &c.auth,
                    is_super: c.is_super,
                },
            )
        })
    }

    fn send_packet(&mut self, conn_id: ConnId, packet: Vec<u8>) {
        if let Some(c) = self.conns.get_mut(&conn_id) {
            c.sent += 1;
            self.stats.packets_sent += 1;
            let _ = c.out.send(Outbound::Packet(packet));
        }
    }

    fn reply(
        &mut self,
        conn: Option<ConnId>,
        xid: i32,
        zxid: i64,
        result: Result<Response, ErrorCode>,
        started: Instant,
    ) {
        let Some(c) = conn.and_then(|c| self.conns.get_mut(&c)) else {
            return;
        };
        let ms = self
            .clock
            .mono
            .saturating_duration_since(started)
            .as_millis() as u64;
        c.sent += 1;
        c.queued = c.queued.saturating_sub(1);
        c.last_zxid = zxid;
        c.last_response_ms = self.clock.wall_ms as u64;
        c.last_latency_ms = ms;
        c.latency.record(ms);
        self.stats.packets_sent += 1;
        self.stats.latency.record(ms);
        let _ = c
            .out
            .send(Outbound::Reply(encode_reply(xid, zxid, &result)));
    }

    /// Answers a session's waiting requests that can be answered now.
    pub(crate) fn drain(&mut self, sid: i64) {
        loop {
            let applied = self.tree.last_zxid();
            let created = !self.connecting.contains_key(&sid);
            let Some(s) = self.sessions.get_mut(&sid) else {
                return;
            };
            let ready = match s.queue.front() {
                None => false,
                Some(Pending::Write { done, .. }) => done.is_some(),
                Some(Pending::Sync { zxid, .. }) => zxid.is_some_and(|z| z <= applied),
                Some(Pending::Handshake) => created,
                Some(Pending::Read { .. }) => true,
            };
            if !ready {
                return;
            }
            let conn = s.conn;
            match s.queue.pop_front() {
                Some(Pending::Write {
                    xid,
                    zxid,
                    started,
                    done: Some(result),
                }) => self.reply(conn, xid, zxid.unwrap_or(applied), result, started),
                Some(Pending::Read { xid, req, started }) => {
                    let result = match conn {
                        Some(c) if self.conns.contains_key(&c) => self.execute_read(c, sid, &req),
                        _ => Err(ErrorCode::ConnectionLoss),
                    };
                    self.reply(conn, xid, applied, result, started);
                }
                Some(Pending::Sync {
                    xid, path, started, ..
                }) => self.reply(
                    conn,
                    xid,
                    applied,
                    Ok(Response::Sync(proto::SyncResponse { path })),
                    started,
                ),
                Some(Pending::Handshake) => {}
                _ => return,
            }
        }
    }

    // ---- commit and apply ----

    /// Applies every txn up to `zxid` (durable standalone; committed by
    /// ZAB in an ensemble), answers syncs waiting for them, and maybe
    /// starts a snapshot.
    pub(crate) fn on_committed(&mut self, zxid: i64) {
        while self
            .in_flight
            .front()
            .is_some_and(|e| e.header.zxid <= zxid)
        {
            let entry = self.in_flight.pop_front().expect("front exists");
            self.apply(entry);
        }
        let syncing: Vec<i64> = self.syncing.drain().collect();
        for sid in syncing {
            self.drain(sid);
            let waiting = self
                .sessions
                .get(&sid)
                .is_some_and(|s| s.queue.iter().any(|p| matches!(p, Pending::Sync { .. })));
            if waiting {
                self.syncing.insert(sid);
            }
        }
        self.maybe_snapshot();
    }

    fn apply(&mut self, entry: TxnEntry) {
        let res = self.tree.apply_with(&entry, !self.watches.is_empty());
        let zxid = entry.header.zxid;
        self.prepper.applied(zxid);
        self.txns_since_snapshot += 1;
        for ev in &res.events {
            let watchers = self.watches.trigger(&ev.path, ev.kind);
            if watchers.is_empty() {
                continue;
            }
            let packet = encode_event(ev.kind, &ev.path);
            for w in watchers {
                if self.may_read(w, &ev.acl) {
                    self.send_packet(w, packet.clone());
                }
            }
        }
        let sid = entry.header.client_id;
        let cxid = entry.header.cxid;
        match OpCode::from_i32(entry.header.op) {
            Some(OpCode::CreateSession) => self.finish_open(sid),
            Some(OpCode::CloseSession) => {
                self.complete(sid, zxid, cxid, res.result);
                self.finish_close(sid);
                return;
            }
            _ => {}
        }
        self.complete(sid, zxid, cxid, res.result);
    }

    /// Records the result of a session's write: the pending write with
    /// this zxid, or (forwarded by this follower) with this xid.
    fn complete(&mut self, sid: i64, zxid: i64, cxid: i32, result: Result<Response, ErrorCode>) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let slot = s.queue.iter_mut().find_map(|p| match p {
            Pending::Write {
                zxid: z,
                xid,
                done: done @ None,
                ..
            } if *z == Some(zxid) || (z.is_none() && *xid == cxid) => {
                *z = Some(zxid);
                Some(done)
            }
            _ => None,
        });
        if let Some(done) = slot {
            *done = Some(result);
            self.drain(sid);
        }
    }

    /// A session's creation applied: every server tracks it; the one its
    /// client is connected to answers the handshake.
    fn finish_open(&mut self, sid: i64) {
        let now = self.now_ms();
        let timeout = self.tree.session_timeout_ms(sid).unwrap_or(0);
        if self.tracker.get(sid).is_none() {
            self.tracker.add(sid, timeout, now);
        }
        self.sessions.entry(sid).or_insert_with(|| Session {
            conn: None,
            queue: VecDeque::new(),
        });
        let Some((conn, timeout_ms)) = self.connecting.remove(&sid) else {
            return;
        };
        if self.conns.contains_key(&conn) {
            self.send_connect_response(conn, timeout_ms, sid, password_for(sid));
        } else if let Some(s) = self.sessions.get_mut(&sid) {
            s.conn = None;
        }
        self.drain(sid);
    }

    fn finish_close(&mut self, sid: i64) {
        self.tracker.remove(sid);
        if let Some(s) = self.sessions.remove(&sid) {
            if let Some(conn) = s.conn {
                self.close_conn(conn);
            }
        }
    }

    // ---- housekeeping ----

    fn on_tick(&mut self) {
        self.ensemble_tick();
        if !self.proposes() {
            // Only the leader expires sessions and reaps nodes.
            return;
        }
        let now = self.now_ms();
        for sid in self.tracker.take_expired(now) {
            tracing::info!("expiring session {sid:#x}");
            let zxid = self.next_zxid;
            let entry = {
                let ids: [Id; 0] = [];
                let ctx = PrepContext {
                    session_id: sid,
                    cxid: 0,
                    zxid,
                    time_ms: wall_ms(),
                    auth: AuthContext {
                        ids: &ids,
                        is_super: true,
                    },
                };
                self.prepper.prepare_close_session(&self.tree, sid, &ctx)
            };
            self.log(entry);
        }
        let interval = std::time::Duration::from_millis(self.cfg.container_check_interval_ms);
        if self.last_reap.elapsed() >= interval {
            self.last_reap = Instant::now();
            self.reap_containers();
        }
    }

    fn reap_containers(&mut self) {
        let now = wall_ms();
        for path in self.tree.expired_containers_and_ttls(now) {
            let zxid = self.next_zxid;
            let entry = {
                let ids: [Id; 0] = [];
                let ctx = PrepContext {
                    session_id: 0,
                    cxid: 0,
                    zxid,
                    time_ms: now,
                    auth: AuthContext {
                        ids: &ids,
                        is_super: true,
                    },
                };
                self.prepper
                    .prepare_delete_container(&self.tree, &path, &ctx)
            };
            self.log(entry);
        }
    }

    /// Starts a snapshot once enough txns have applied since the last
    /// (and none is being written). The tree is not copied: the core
    /// writes it out a slice at a time between requests
    /// ([`DataTree::snapshot_step`]), copy-before-write keeping the
    /// result the tree as of the start; the commit thread's snapshot
    /// writer streams the bytes to disk.
    ///
    /// When the last snapshot held more than 2 x `snapCount` nodes, the
    /// next one waits for half as many txns as it had nodes: writing the
    /// tree then costs at most two node records per txn, however big the
    /// tree (with a fixed count, a 1,000,000-node tree rewrote ~150 MB
    /// every 75,000 txns and spent most of the server's time doing so),
    /// and the log to replay after a crash stays under half the snapshot.
    fn maybe_snapshot(&mut self) {
        if self.snapshot.is_some() || self.txns_since_snapshot < self.snapshot_due() {
            return;
        }
        self.txns_since_snapshot = 0;
        self.snap_threshold = snap_threshold(
            self.cfg.snap_count,
            self.tree.last_zxid() ^ snap_salt(&self.cfg),
        );
        self.snap_nodes = self.tree.znode_count() as u64;
        let mut buf = Vec::with_capacity(SNAPSHOT_BUF_CAPACITY);
        let writer = self.tree.snapshot_begin(&mut buf);
        let (tx, chunks) = std_mpsc::sync_channel(SNAPSHOT_QUEUE);
        let (recycle, recycled) = std_mpsc::channel();
        let zxid = writer.zxid();
        if self
            .commit
            .send(CommitMsg::Snapshot {
                zxid,
                chunks,
                recycle,
            })
            .is_err()
        {
            self.tree.snapshot_abort();
            return;
        }
        tracing::debug!("snapshot at zxid {zxid:#x} started");
        self.snapshot = Some(LiveSnapshot {
            writer,
            sink: SnapshotSink::Disk { tx, recycled },
            buf,
            full: None,
            ended: false,
        });
    }

    /// Txns after which the next snapshot is due (see `maybe_snapshot`).
    pub(crate) fn snapshot_due(&self) -> u64 {
        let due = self.snap_threshold.max(self.snap_nodes / 2);
        // Replicas apply the same txns at the same pace: without an
        // offset of their own they would all write a big tree at once, on
        // what is often one disk (ids 1, 2, 3 wait 1/8, 2/8, 3/8 longer).
        due + due * (self.cfg.my_id % 4) / 8
    }

    /// Writes up to `budget` more nodes of the snapshot in progress and
    /// hands full chunks to its sink; false if the sink has no room
    /// (nothing more can be done this turn).
    fn snapshot_step(&mut self, budget: usize) -> bool {
        let mut left = budget;
        let now = self.now_ms();
        loop {
            let Some(live) = self.snapshot.as_mut() else {
                return true;
            };
            if let Some(chunk) = live.full.take() {
                match live.sink.hand(chunk, self.ensemble.as_mut(), now) {
                    Handed::Yes => {}
                    Handed::NoRoom(chunk) => {
                        live.full = Some(chunk);
                        return false;
                    }
                    Handed::Gone => {
                        // The disk writer failed (it has told the core
                        // why), or the follower went away.
                        self.abandon_snapshot();
                        return true;
                    }
                }
            }
            if live.ended {
                self.snapshot = None;
                return true;
            }
            if live.writer.is_done() {
                live.full = Some(SnapshotChunk::End);
                live.ended = true;
                continue;
            }
            if left == 0 {
                return true;
            }
            // In slices, so a chunk stays near its size however big the
            // budget (16,384 nodes at once made multi-MB chunks, and the
            // queue of them doubled a 50,000-node server's RSS).
            let slice = left.min(SNAPSHOT_SLICE_NODES);
            left -= slice;
            match self
                .tree
                .snapshot_step(&mut live.writer, slice, &mut live.buf)
            {
                Ok(done) => {
                    if live.buf.len() >= live.sink.chunk_bytes() || done {
                        let next = live.sink.fresh_buf();
                        let chunk = std::mem::replace(&mut live.buf, next);
                        live.full = Some(SnapshotChunk::Bytes(chunk));
                    }
                }
                Err(e) => {
                    tracing::error!("snapshot abandoned: {e}");
                    // A disk writer sees no End and discards its file.
                    self.abandon_snapshot();
                    return true;
                }
            }
        }
    }

    /// Writes the applied tree as a snapshot before the server stops, so
    /// the next start loads it and replays nothing (ClickHouse Keeper does
    /// the same; ZooKeeper replays its log). Only committed txns are
    /// applied, so in an ensemble too the snapshot is a prefix of the
    /// history; txns logged but not applied stay in the log, after it.
    /// Skipped when a snapshot of this zxid is already on disk. Blocks the
    /// core: nothing else runs any more. A failure is logged, and the log
    /// still holds everything.
    fn snapshot_on_shutdown(&mut self) {
        self.abandon_snapshot();
        let zxid = self.tree.last_zxid();
        let dir = self.cfg.snap_dir();
        match storage::list_snapshots(&dir) {
            Ok(have) if have.iter().any(|(z, _)| *z == zxid) => {
                tracing::info!("shutdown: the snapshot at zxid {zxid:#x} is already on disk");
                return;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!("shutdown: no snapshot written: {e}");
                return;
            }
        }
        let started = Instant::now();
        let tree = &self.tree;
        match storage::write_snapshot_now(&dir, zxid, |w| tree.serialize(w)) {
            Ok(path) => tracing::info!(
                "shutdown: snapshot {} ({} znodes) written in {} ms",
                path.display(),
                tree.node_count(),
                started.elapsed().as_millis()
            ),
            Err(e) => {
                tracing::warn!("shutdown: no snapshot written: {e}");
                return;
            }
        }
        // As after every snapshot, when autopurge is on.
        let retain = self.cfg.purge_retain_count();
        if retain > 0 {
            if let Err(e) = storage::purge(&dir, &self.cfg.log_dir(), retain) {
                tracing::warn!("shutdown: purging old snapshots and logs: {e}");
            }
        }
    }

    /// Drops the snapshot being written, if any: its file is discarded,
    /// or the link of the follower it was streamed to is dropped.
    pub(crate) fn abandon_snapshot(&mut self) {
        let Some(live) = self.snapshot.take() else {
            return;
        };
        self.tree.snapshot_abort();
        if let SnapshotSink::Peer(s) = &live.sink {
            let now = self.now_ms();
            if let Some(e) = self.ensemble.as_mut() {
                e.end_stream(now, s, false);
            }
        }
    }

    /// Rebuilds session bookkeeping from the tree (after installing a
    /// leader's snapshot; no client is connected then).
    pub(crate) fn reset_sessions_from_tree(&mut self) {
        let now = self.now_ms();
        self.tracker = SessionTracker::default();
        self.sessions.clear();
        for (id, timeout_ms) in self.tree.sessions() {
            self.tracker.add(id, timeout_ms, now);
            self.sessions.insert(
                id,
                Session {
                    conn: None,
                    queue: VecDeque::new(),
                },
            );
        }
        self.connecting.clear();
        self.syncing.clear();
    }

    /// Closes every client connection and forgets what they waited for
    /// (the server stopped serving: its clients move to another).
    pub(crate) fn drop_clients(&mut self) {
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for c in conns {
            self.close_conn(c);
        }
        for s in self.sessions.values_mut() {
            s.queue.clear();
            s.conn = None;
        }
        let tracker = &self.tracker;
        self.sessions.retain(|sid, _| tracker.get(*sid).is_some());
        self.connecting.clear();
        self.syncing.clear();
    }

    /// Live session count.
    pub(crate) fn session_count(&self) -> usize {
        self.tracker.len()
    }

    /// Requests waiting across sessions.
    pub(crate) fn outstanding(&self) -> usize {
        self.sessions.values().map(|s| s.queue.len()).sum()
    }
}

/// Nodes of a snapshot written per turn of the core's loop under load
/// (a few tens of microseconds).
const SNAPSHOT_BUSY_BUDGET: usize = 512;
/// Nodes written per turn when no request is waiting.
const SNAPSHOT_IDLE_BUDGET: usize = 16_384;
/// Bytes handed to the snapshot writer at a time.
const SNAPSHOT_CHUNK: usize = 256 << 10;
/// A chunk buffer's capacity: a chunk plus one slice's overshoot, mostly.
const SNAPSHOT_BUF_CAPACITY: usize = SNAPSHOT_CHUNK + (1 << 16);
/// Nodes encoded between checks of the chunk's size.
const SNAPSHOT_SLICE_NODES: usize = 256;
/// Chunks queued for the snapshot writer at most (then the core waits
/// for it rather than buffering the whole tree).
const SNAPSHOT_QUEUE: usize = 4;
/// Messages handled before the loop gives the snapshot a turn.
const DRAIN_BATCH: usize = 256;

/// A snapshot being written by the core (see `Core::maybe_snapshot` and
/// `Core::stream_snapshot`).
pub(crate) struct LiveSnapshot {
    pub(crate) writer: tree::snapshot::SnapshotWriter,
    /// Where it goes.
    pub(crate) sink: SnapshotSink,
    /// Bytes being gathered into the next chunk.
    pub(crate) buf: Vec<u8>,
    /// A chunk the sink had no room for yet.
    pub(crate) full: Option<SnapshotChunk>,
    /// `End` has been queued (in `full`, or handed over).
    pub(crate) ended: bool,
}

/// Where a snapshot being written goes.
pub(crate) enum SnapshotSink {
    /// The commit thread's snapshot writer, to a file.
    Disk {
        tx: std_mpsc::SyncSender<SnapshotChunk>,
        /// Buffers the writer is done with.
        recycled: std_mpsc::Receiver<Vec<u8>>,
    },
    /// A follower being synced, in parts on its link.
    Peer(crate::ensemble::PeerStream),
}

/// What became of a chunk handed to a snapshot's sink.
pub(crate) enum Handed {
    /// It was taken.
    Yes,
    /// No room for it yet: try again later.
    NoRoom(SnapshotChunk),
    /// The sink is gone: abandon the snapshot.
    Gone,
}

impl SnapshotSink {
    /// Bytes gathered before a chunk is handed over.
    fn chunk_bytes(&self) -> usize {
        match self {
            SnapshotSink::Disk { .. } => SNAPSHOT_CHUNK,
            SnapshotSink::Peer(_) => crate::ensemble::PART_BYTES,
        }
    }

    /// An empty buffer for the next chunk.
    fn fresh_buf(&self) -> Vec<u8> {
        match self {
            // The writer sends written buffers back: a snapshot
            // allocates a few, not one per chunk.
            SnapshotSink::Disk { recycled, .. } => match recycled.try_recv() {
                Ok(mut b) => {
                    b.clear();
                    b
                }
                Err(_) => Vec::with_capacity(SNAPSHOT_BUF_CAPACITY),
            },
            SnapshotSink::Peer(s) => s.part_buf(),
        }
    }

    /// Hands `chunk` to the disk writer's queue or the follower's link.
    fn hand(
        &mut self,
        chunk: SnapshotChunk,
        ensemble: Option<&mut crate::ensemble::Ensemble>,
        now: u64,
    ) -> Handed {
        match self {
            SnapshotSink::Disk { tx, .. } => match tx.try_send(chunk) {
                Ok(()) => Handed::Yes,
                Err(std_mpsc::TrySendError::Full(chunk)) => Handed::NoRoom(chunk),
                Err(std_mpsc::TrySendError::Disconnected(_)) => Handed::Gone,
            },
            SnapshotSink::Peer(s) => match ensemble {
                Some(e) => e.stream(now, s, chunk),
                None => Handed::Gone,
            },
        }
    }
}

/// A per-server salt for [`snap_threshold`] (replicas share their zxids).
fn snap_salt(cfg: &Config) -> i64 {
    (cfg.my_id as i64).wrapping_mul(0x5851_F42D_4C95_7F2D)
}

/// ZooKeeper staggers snapshots between snapCount/2 and snapCount so
/// replicas do not all snapshot at once.
fn snap_threshold(snap_count: u64, salt: i64) -> u64 {
    let half = (snap_count / 2).max(1);
    half + (salt as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) % half
}
