//! The core's side of an ensemble: it drives the [`zab::Zab`] state
//! machine (peer links in, commands out) and carries out its commands
//! against the tree, the log and the links.
//!
//! Who does what:
//! - the **leader** prepares every write (its own clients' and those its
//!   followers forward), gives it the next zxid and proposes it; it
//!   applies a txn once ZAB commits it (a quorum, itself included, has it
//!   fsynced), then answers its own clients;
//! - a **follower** serves reads from its own tree, forwards writes,
//!   session creation and `sync` to the leader ([`AppMsg`]), logs and
//!   acks the leader's proposals, applies them on commit, and answers a
//!   forwarded write when it applies the txn carrying that session and
//!   cxid;
//! - sessions are the leader's to expire: followers report which of their
//!   sessions were heard from on every tick ([`AppMsg::Touch`]); a new
//!   leader gives every session a fresh timeout;
//! - a server that is not serving (electing, syncing) closes its client
//!   connections and refuses new ones, so clients move to one that is.

use proto::jute::{Reader, Writer};
use proto::request::Request;
use proto::txn::TxnEntry;
use proto::Id;
use tree::{DataTree, FastMap as HashMap, FastSet as HashSet};
use zab::{Command, EpochKind, Message, Role, Zab};

use crate::commit::{CommitMsg, SnapshotChunk};
use crate::core::{Core, Handed, LiveSnapshot, Pending, SnapshotSink};
use crate::quorum::Link;

/// A snapshot's bytes per znode besides its path and data (stat, ACL
/// index, framing), to weigh a diff from the log against a snapshot.
const SNAPSHOT_BYTES_PER_NODE: usize = 64;

/// Room reserved per znode, besides its path and data, for a snapshot
/// sent to a follower: a little over the body's 72 bytes of lengths and
/// stat, so the buffer is not regrown (and copied) at the end.
const SNAPSHOT_RESERVE_PER_NODE: usize = 80;

/// A server's own messages between peers (carried as [`Message::App`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppMsg {
    /// Follower to leader: a client's write, to prepare and propose.
    Request {
        /// The client's session.
        session: i64,
        /// The request's xid (the txn carries it back as its cxid).
        cxid: i32,
        /// The connection's identities, for ACL checks.
        auth: Vec<Id>,
        /// Whether the connection authenticated as super.
        is_super: bool,
        /// The opcode.
        op: i32,
        /// The request body.
        body: Vec<u8>,
    },
    /// Follower to leader: a new session.
    CreateSession {
        /// The id the follower chose (its server id in the top byte).
        session: i64,
        /// The negotiated timeout.
        timeout_ms: i32,
    },
    /// Follower to leader: sessions heard from since the last touch.
    Touch {
        /// The sessions.
        sessions: Vec<i64>,
    },
    /// Follower to leader: a client's `sync`.
    Sync {
        /// The follower's id for it.
        id: u64,
    },
    /// Leader to follower: answer the sync once `zxid` is applied.
    SyncDone {
        /// The follower's id for it.
        id: u64,
        /// The last zxid the leader had proposed.
        zxid: i64,
    },
}

impl AppMsg {
    /// The encoding (jute primitives).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Vec::with_capacity(64);
        match self {
            AppMsg::Request {
                session,
                cxid,
                auth,
                is_super,
                op,
                body,
            } => {
                w.push(1);
                w.write_i64(*session);
                w.write_i32(*cxid);
                w.write_vec(auth);
                w.write_bool(*is_super);
                w.write_i32(*op);
                w.write_buffer(body);
            }
            AppMsg::CreateSession {
                session,
                timeout_ms,
            } => {
                w.push(2);
                w.write_i64(*session);
                w.write_i32(*timeout_ms);
            }
            AppMsg::Touch { sessions } => {
                w.push(3);
                w.write_i32(sessions.len() as i32);
                for s in sessions {
                    w.write_i64(*s);
                }
            }
            AppMsg::Sync { id } => {
                w.push(4);
                w.write_i64(*id as i64);
            }
            AppMsg::SyncDone { id, zxid } => {
                w.push(5);
                w.write_i64(*id as i64);
                w.write_i64(*zxid);
            }
        }
        w
    }

    /// Decodes one message.
    pub fn decode(b: &[u8]) -> Result<AppMsg, proto::DecodeError> {
        let bad = |value: i32| proto::DecodeError::BadValue {
            what: "peer message",
            value,
        };
        let (&tag, rest) = b.split_first().ok_or(bad(-1))?;
        let mut r = Reader::new(rest);
        let m = match tag {
            1 => AppMsg::Request {
                session: r.read_i64()?,
                cxid: r.read_i32()?,
                auth: r.read_vec()?,
                is_super: r.read_bool()?,
                op: r.read_i32()?,
                body: r.read_buffer()?,
            },
            2 => AppMsg::CreateSession {
                session: r.read_i64()?,
                timeout_ms: r.read_i32()?,
            },
            3 => {
                let n = r.read_i32()?.max(0) as usize;
                let mut sessions = Vec::with_capacity(n.min(1 << 16));
                for _ in 0..n {
                    sessions.push(r.read_i64()?);
                }
                AppMsg::Touch { sessions }
            }
            4 => AppMsg::Sync {
                id: r.read_i64()? as u64,
            },
            5 => AppMsg::SyncDone {
                id: r.read_i64()? as u64,
                zxid: r.read_i64()?,
            },
            t => return Err(bad(t as i32)),
        };
        if r.remaining() != 0 {
            return Err(bad(r.remaining() as i32));
        }
        Ok(m)
    }
}

/// The core's ensemble state.
pub struct Ensemble {
    /// The protocol.
    pub zab: Zab,
    /// The newest link to each peer.
    links: HashMap<u64, Link>,
    /// The role ZAB last reported.
    pub role: Role,
    /// Sessions heard from since the last touch sent to the leader.
    touched: HashSet<i64>,
    /// Follower: syncs forwarded to the leader, by id: the session.
    syncs: HashMap<u64, i64>,
    next_sync: u64,
    /// Framed messages per peer, not yet handed to its link.
    outbox: HashMap<u64, Vec<u8>>,
    /// The peer a snapshot is being streamed to: its outbox is held until
    /// the last part is on the link (what ZAB sends it meanwhile comes
    /// after the snapshot).
    held: Option<u64>,
    /// A leader's snapshot the link loaded ([`PeerEvent::Loaded`]), until
    /// ZAB's install takes it (or the turn ends without one: ZAB turned
    /// the message down, and it is dropped).
    received: Option<Received>,
}

/// A leader's snapshot loaded as it arrived.
#[derive(Debug)]
struct Received {
    tree: Box<DataTree>,
    snapshot: storage::ReceivedSnapshot,
}

impl Ensemble {
    /// An ensemble member about to start its first election.
    pub fn new(zab: Zab) -> Ensemble {
        Ensemble {
            zab,
            links: HashMap::default(),
            role: Role::Looking,
            touched: HashSet::default(),
            syncs: HashMap::default(),
            next_sync: 1,
            outbox: HashMap::default(),
            held: None,
            received: None,
        }
    }

    /// Queues `msg` for peer `to`; [`Ensemble::flush`] hands what is
    /// queued to the links, one buffer per peer per turn of the core's
    /// loop (one wake-up and one write for a burst of proposals).
    fn send(&mut self, to: u64, msg: &Message) {
        if self.links.contains_key(&to) {
            crate::quorum::frame_into(msg, self.outbox.entry(to).or_default());
        }
    }

    /// Queues for peer `to` the message `encode` appends (about
    /// `expected` bytes), encoded in place; false, and nothing encoded, if
    /// there is no link to `to`.
    fn send_with(&mut self, to: u64, expected: usize, encode: impl FnOnce(&mut Vec<u8>)) -> bool {
        if !self.links.contains_key(&to) {
            return false;
        }
        crate::quorum::frame_with(self.outbox.entry(to).or_default(), expected, encode);
        true
    }

    /// Hands every peer's queued messages to its link (but a held one's).
    pub fn flush(&mut self) {
        for (to, buf) in self.outbox.iter_mut() {
            if buf.is_empty() || self.held == Some(*to) {
                continue;
            }
            let bytes = std::mem::take(buf);
            if let Some(link) = self.links.get(to) {
                link.send(bytes);
            }
        }
    }

    /// Starts holding peer `to`'s outbox for a snapshot streamed to it,
    /// after handing the link what is queued so far; the link's
    /// generation, or None if there is no link to `to`.
    fn hold(&mut self, to: u64) -> Option<u64> {
        let link = self.links.get(&to)?;
        if let Some(bytes) = self.outbox.get_mut(&to).map(std::mem::take) {
            if !bytes.is_empty() {
                link.send(bytes);
            }
        }
        self.held = Some(to);
        Some(link.gen)
    }

    /// Ends the snapshot stream `s`. Complete: what was held for its peer
    /// goes out after it. Abandoned: the link to the peer is dropped, if it
    /// is still the stream's, with the parts sent and what was held (the
    /// peer redials and is synced anew).
    pub(crate) fn end_stream(&mut self, now: u64, s: &PeerStream, complete: bool) {
        if self.held == Some(s.to) {
            self.held = None;
        }
        if complete {
            self.flush();
        } else {
            self.drop_link(now, s.to, s.gen);
        }
    }

    /// Forgets the link to `sid` if it is generation `gen`: what is queued
    /// or held for it goes, and ZAB sees the peer down.
    fn drop_link(&mut self, now: u64, sid: u64, gen: u64) {
        if self.links.get(&sid).is_some_and(|l| l.gen == gen) {
            self.links.remove(&sid);
            self.outbox.remove(&sid);
            if self.held == Some(sid) {
                self.held = None;
            }
            self.zab.on_peer_down(now, sid);
        }
    }

    /// The leader this follower forwards to, once serving.
    pub fn serving_leader(&self) -> Option<u64> {
        match self.role {
            Role::Following {
                leader,
                serving: true,
            } => Some(leader),
            _ => None,
        }
    }
}

/// A snapshot part's size: at least the link's [`crate::quorum`] gather
/// size, so the link writes it as it is.
pub(crate) const PART_BYTES: usize = 1 << 20;
/// A part buffer's capacity: a part plus one slice's overshoot, mostly.
const PART_CAPACITY: usize = PART_BYTES + (64 << 10);
/// Bytes a snapshot stream leaves unwritten on its link at most; it goes
/// on when the link has written them (at the network's pace, without the
/// whole snapshot in memory).
const STREAM_BACKLOG: usize = 4 * PART_BYTES;

/// A snapshot being streamed to a follower, in parts on its link.
#[derive(Debug)]
pub(crate) struct PeerStream {
    to: u64,
    /// The link's generation when the stream began.
    gen: u64,
    zxid: i64,
    /// The size estimate each part carries.
    expected: u64,
    parts: u64,
    bytes: u64,
    started: std::time::Instant,
}

impl PeerStream {
    /// An empty part: its frame opened, its header written.
    pub(crate) fn part_buf(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(PART_CAPACITY);
        zab::open_length(&mut b);
        Message::start_snapshot_part(&mut b, self.expected);
        b
    }
}

impl Ensemble {
    /// Hands the link of stream `s` a part (`Bytes`, from
    /// [`PeerStream::part_buf`]), or at `End` the `Snapshot` message that
    /// closes it, and then what was held for the peer. Gone if the link
    /// changed or this server no longer leads.
    pub(crate) fn stream(&mut self, now: u64, s: &mut PeerStream, chunk: SnapshotChunk) -> Handed {
        if !matches!(self.role, Role::Leading { .. }) {
            return Handed::Gone;
        }
        let Some(link) = self.links.get(&s.to).filter(|l| l.gen == s.gen) else {
            return Handed::Gone;
        };
        if link.backlog() >= STREAM_BACKLOG {
            return Handed::NoRoom(chunk);
        }
        match chunk {
            SnapshotChunk::Bytes(mut part) => {
                zab::close_length(&mut part, 0);
                s.parts += 1;
                s.bytes += (part.len() - 4 - zab::SNAPSHOT_PART_HEADER) as u64;
                link.send(part);
            }
            SnapshotChunk::End => {
                let mut last = Vec::with_capacity(32);
                crate::quorum::frame_with(&mut last, 32, |o| {
                    Message::encode_snapshot(o, s.zxid, |_| {})
                });
                link.send(last);
                tracing::info!(
                    "sent server {} the snapshot of {:#x}: {} bytes in {} parts, {} ms",
                    s.to,
                    s.zxid,
                    s.bytes,
                    s.parts,
                    s.started.elapsed().as_millis()
                );
                self.end_stream(now, s, true);
            }
        }
        Handed::Yes
    }
}

/// Peer-link events for the core.
#[derive(Debug)]
pub enum PeerEvent {
    /// A link to `sid` is up.
    Up {
        /// The peer.
        sid: u64,
        /// The core's end of the link.
        link: Link,
    },
    /// A link ended.
    Down {
        /// The peer.
        sid: u64,
        /// The link's generation.
        gen: u64,
    },
    /// A snapshot that came in parts was loaded and written to disk as it
    /// arrived: the link's stand-in for its `Snapshot` message.
    Loaded {
        /// The peer.
        sid: u64,
        /// The link's generation.
        gen: u64,
        /// The tree it holds.
        tree: Box<DataTree>,
        /// Its file, sealed, not yet in place.
        snapshot: storage::ReceivedSnapshot,
    },
    /// A message arrived on a link.
    Message {
        /// The peer.
        sid: u64,
        /// The link's generation.
        gen: u64,
        /// The message.
        msg: Message,
    },
}

impl Core {
    /// Hands a peer-link event to ZAB.
    pub(crate) fn on_peer(&mut self, ev: PeerEvent) {
        let now = self.now_ms();
        let Some(e) = self.ensemble.as_mut() else {
            return;
        };
        match ev {
            PeerEvent::Up { sid, link } => {
                e.flush();
                if e.held == Some(sid) {
                    // Held for the old link; the stream ends at its next step.
                    e.outbox.remove(&sid);
                    e.held = None;
                }
                if e.links.insert(sid, link).is_some() {
                    // What was in flight on the old link is lost.
                    e.zab.on_peer_down(now, sid);
                }
                tracing::debug!("link to server {sid} up");
                e.zab.on_peer_up(now, sid);
            }
            PeerEvent::Down { sid, gen } => e.drop_link(now, sid, gen),
            PeerEvent::Message { sid, gen, msg } => {
                if e.links.get(&sid).is_some_and(|l| l.gen == gen) {
                    if let Message::Notification(n) = &msg {
                        tracing::debug!("election: from server {sid}: {n:?}");
                    }
                    e.zab.on_message(now, sid, msg);
                }
            }
            PeerEvent::Loaded {
                sid,
                gen,
                tree,
                snapshot,
            } => {
                if e.links.get(&sid).is_some_and(|l| l.gen == gen) {
                    // ZAB sees the message; its install takes the tree.
                    let zxid = snapshot.zxid();
                    e.received = Some(Received { tree, snapshot });
                    let state = Vec::new();
                    e.zab
                        .on_message(now, sid, Message::Snapshot { zxid, state });
                }
            }
        }
    }

    /// Carries out ZAB's commands until it has none.
    pub(crate) fn run_zab(&mut self) -> Result<(), String> {
        loop {
            let cmds = match self.ensemble.as_mut() {
                Some(e) => e.zab.take_commands(),
                None => return Ok(()),
            };
            if cmds.is_empty() {
                if let Some(e) = self.ensemble.as_mut() {
                    if e.received.take().is_some() {
                        tracing::info!("a leader's snapshot was not installed; dropped");
                    }
                }
                return Ok(());
            }
            for c in cmds {
                self.exec(c)?;
            }
        }
    }

    fn exec(&mut self, c: Command) -> Result<(), String> {
        match c {
            Command::Send { to, msg } => {
                if let Some(e) = self.ensemble.as_mut() {
                    e.send(to, &msg);
                }
            }
            Command::Log { zxid, txn } => {
                // The leader queued its own txn when it proposed it.
                if self.in_flight.back().is_none_or(|e| e.header.zxid < zxid) {
                    let entry = TxnEntry::decode(&txn).map_err(|e| {
                        format!("the leader proposed an undecodable txn {zxid:#x}: {e}")
                    })?;
                    self.in_flight.push_back(entry);
                }
                let _ = self.commit.send(CommitMsg::Append(zxid, txn));
            }
            Command::Commit { zxid } => self.on_committed(zxid),
            Command::SendSnapshot { to, zxid } => {
                if self.tree.last_zxid() != zxid {
                    tracing::error!(
                        "cannot send server {to} a snapshot of {zxid:#x}: the tree is at {:#x}",
                        self.tree.last_zxid()
                    );
                }
                if !self.stream_snapshot(to, zxid) {
                    self.send_snapshot_at_once(to, zxid)?;
                }
            }
            Command::ReadLog { to, after, upto } => {
                let txns = self.read_log_for_diff(to, after, upto);
                if let Some(e) = self.ensemble.as_mut() {
                    e.zab.on_log_read(to, after, upto, txns);
                }
            }
            Command::InstallSnapshot { zxid, state } => self.install_snapshot(zxid, state)?,
            Command::PersistEpoch { which, epoch } => {
                let which = match which {
                    EpochKind::Accepted => storage::EpochFile::Accepted,
                    EpochKind::Current => storage::EpochFile::Current,
                };
                storage::write_epoch(&self.cfg.snap_dir(), which, epoch)
                    .map_err(|e| format!("writing {}: {e}", which.file_name()))?;
            }
            Command::Role(r) => self.on_role(r),
            Command::App { from, bytes } => match AppMsg::decode(&bytes) {
                Ok(m) => self.on_app(from, m),
                Err(e) => tracing::warn!("server {from} sent a bad message: {e}"),
            },
        }
        Ok(())
    }

    /// The txns after `after` up to `upto` from this leader's log, to sync
    /// server `to` by diff; None (a snapshot instead) if the log no longer
    /// holds them or they would take more than a third of a snapshot's
    /// bytes (ZooKeeper's snapshotSizeFactor). Read on the core's thread,
    /// like a snapshot's serialization: the follower's sync must be sent in
    /// order with what the leader proposes meanwhile.
    fn read_log_for_diff(&self, to: u64, after: i64, upto: i64) -> Option<storage::LogTxns> {
        let snapshot_bytes = self.tree.approximate_data_size() as usize
            + self.tree.node_count() * SNAPSHOT_BYTES_PER_NODE;
        let max_bytes = snapshot_bytes / 3;
        let started = std::time::Instant::now();
        match storage::read_log_range(&self.cfg.log_dir(), after, upto, max_bytes) {
            Ok(Some(txns)) => {
                tracing::info!(
                    "syncing server {to} by diff from the log: {} txns after {after:#x} read in {} ms",
                    txns.len(),
                    started.elapsed().as_millis()
                );
                Some(txns)
            }
            Ok(None) => {
                tracing::info!(
                    "server {to} is at {after:#x}, which the log no longer holds \
                     (or the diff is over {max_bytes} bytes): sending a snapshot"
                );
                None
            }
            Err(e) => {
                tracing::warn!("reading the log to sync server {to}: {e}; sending a snapshot");
                None
            }
        }
    }

    /// Starts streaming server `to` a snapshot of the tree as it is now
    /// (`zxid`): a part per turn of the loop while the tree goes on
    /// changing (copy-before-write, as for a snapshot to disk, see
    /// `Core::snapshot_step`); what ZAB sends `to` meanwhile waits behind
    /// it. False if another follower's is being streamed (one copy of the
    /// tree at a time): then it is sent at once. A snapshot being written
    /// to disk gives way and starts again afterwards.
    ///
    /// Sending at once stalled a leader of 1,000,000 znodes for 210-267 ms
    /// (the longest get meanwhile) and held the 227 MB message in memory.
    fn stream_snapshot(&mut self, to: u64, zxid: i64) -> bool {
        match &self.snapshot {
            Some(LiveSnapshot {
                sink: SnapshotSink::Peer(s),
                ..
            }) if s.to != to => return false,
            Some(LiveSnapshot {
                sink: SnapshotSink::Disk { .. },
                ..
            }) => {
                self.abandon_snapshot();
                self.txns_since_snapshot = self.txns_since_snapshot.max(self.snapshot_due());
            }
            // The peer's earlier sync (its link is gone).
            Some(_) => self.abandon_snapshot(),
            None => {}
        }
        let Some(e) = self.ensemble.as_mut() else {
            return true;
        };
        let Some(gen) = e.hold(to) else {
            return true; // no link: nothing to send
        };
        let expected = self.snapshot_size_estimate() as u64;
        let stream = PeerStream {
            to,
            gen,
            zxid,
            expected,
            parts: 0,
            bytes: 0,
            started: std::time::Instant::now(),
        };
        let mut buf = stream.part_buf();
        let writer = self.tree.snapshot_begin(&mut buf);
        tracing::info!(
            "sending server {to} a snapshot of {zxid:#x} ({} znodes, about {expected} bytes) in parts",
            self.tree.znode_count()
        );
        self.snapshot = Some(LiveSnapshot {
            writer,
            sink: SnapshotSink::Peer(stream),
            buf,
            full: None,
            ended: false,
        });
        true
    }

    /// Bytes a snapshot of the tree is expected to take, a little over.
    fn snapshot_size_estimate(&self) -> usize {
        self.tree.approximate_data_size() as usize
            + self.tree.node_count() * SNAPSHOT_RESERVE_PER_NODE
            + (1 << 20)
    }

    /// Sends server `to` a snapshot of the tree as one message, encoded
    /// straight into the link's buffer (sized ahead) while the core waits.
    fn send_snapshot_at_once(&mut self, to: u64, zxid: i64) -> Result<(), String> {
        let expected = self.snapshot_size_estimate();
        let tree = &self.tree;
        let mut result = Ok(());
        let mut bytes = 0;
        let queued = self.ensemble.as_mut().is_some_and(|e| {
            e.send_with(to, expected, |out| {
                Message::encode_snapshot(out, zxid, |state| {
                    let start = state.len();
                    result = tree.serialize(state);
                    bytes = state.len() - start;
                })
            })
        });
        result.map_err(|e| format!("serializing the tree for server {to}: {e}"))?;
        if queued {
            tracing::info!("sending server {to} a snapshot of {zxid:#x} ({bytes} bytes) at once");
        }
        Ok(())
    }

    fn install_snapshot(&mut self, zxid: i64, state: Vec<u8>) -> Result<(), String> {
        self.abandon_snapshot();
        let received = self
            .ensemble
            .as_mut()
            .and_then(|e| e.received.take())
            .filter(|r| state.is_empty() && r.snapshot.zxid() == zxid);
        let (tree, msg) = match received {
            Some(r) => (*r.tree, CommitMsg::InstallReceived(r.snapshot)),
            None => {
                let tree = DataTree::deserialize(&mut state.as_slice()).map_err(|e| {
                    format!("the leader's snapshot of {zxid:#x} does not decode: {e}")
                })?;
                (tree, CommitMsg::InstallSnapshot { zxid, state })
            }
        };
        tracing::info!(
            "installing the leader's snapshot of {zxid:#x}: {} znodes",
            tree.znode_count()
        );
        self.tree = tree;
        self.in_flight.clear();
        self.prepper.clear();
        self.reset_sessions_from_tree();
        let _ = self.commit.send(msg);
        Ok(())
    }

    fn on_role(&mut self, role: Role) {
        let was = self.serving();
        let Some(e) = self.ensemble.as_mut() else {
            return;
        };
        e.role = role;
        tracing::info!(
            "server {}: {}",
            e.zab.my_id(),
            describe(role, e.zab.why_looking())
        );
        if let Role::Leading {
            epoch,
            serving: true,
        } = role
        {
            self.next_zxid = zab::make_zxid(epoch, 1);
            self.prepper.clear();
            let now = self.now_ms();
            self.tracker.renew_all(now);
        }
        if was && !self.serving() {
            if let Some(e) = self.ensemble.as_mut() {
                e.syncs.clear();
                e.touched.clear();
            }
            self.drop_clients();
        }
    }

    /// Whether clients are served: standalone, or synced in an ensemble.
    pub(crate) fn serving(&self) -> bool {
        match &self.ensemble {
            None => true,
            Some(e) => matches!(
                e.role,
                Role::Following { serving: true, .. } | Role::Leading { serving: true, .. }
            ),
        }
    }

    /// Whether this server prepares txns: standalone, or the serving leader.
    pub(crate) fn proposes(&self) -> bool {
        match &self.ensemble {
            None => true,
            Some(e) => matches!(e.role, Role::Leading { serving: true, .. }),
        }
    }

    /// Hands a prepared txn to ZAB (leader).
    pub(crate) fn propose(&mut self, zxid: i64, bytes: Vec<u8>) {
        if let Some(e) = self.ensemble.as_mut() {
            if !e.zab.propose(zxid, bytes) {
                tracing::error!("proposal {zxid:#x} refused: this server no longer leads");
            }
        }
    }

    /// Follower: sends the leader a message, if there is a serving one.
    pub(crate) fn send_leader(&mut self, msg: AppMsg) -> bool {
        let Some(e) = self.ensemble.as_mut() else {
            return false;
        };
        let Some(leader) = e.serving_leader() else {
            return false;
        };
        e.send(leader, &Message::App(msg.encode()));
        true
    }

    /// Whether this server forwards writes (a serving follower).
    pub(crate) fn forwards(&self) -> bool {
        self.ensemble
            .as_ref()
            .is_some_and(|e| e.serving_leader().is_some())
    }

    /// Follower: a local session was heard from.
    pub(crate) fn touched(&mut self, sid: i64) {
        if let Some(e) = self.ensemble.as_mut() {
            if e.serving_leader().is_some() {
                e.touched.insert(sid);
            }
        }
    }

    /// Follower: forwards session `sid`'s `sync` to the leader; its
    /// answer sets the zxid the session's pending sync waits for.
    pub(crate) fn forward_sync(&mut self, sid: i64) {
        let Some(e) = self.ensemble.as_mut() else {
            return;
        };
        let id = e.next_sync;
        e.next_sync += 1;
        e.syncs.insert(id, sid);
        self.send_leader(AppMsg::Sync { id });
    }

    /// Time passed: ZAB's timers, and a follower's session touches.
    pub(crate) fn ensemble_tick(&mut self) {
        let now = self.now_ms();
        let Some(e) = self.ensemble.as_mut() else {
            return;
        };
        e.zab.on_tick(now);
        if e.serving_leader().is_some() && !e.touched.is_empty() {
            let sessions: Vec<i64> = e.touched.drain().collect();
            self.send_leader(AppMsg::Touch { sessions });
        }
    }

    fn on_app(&mut self, from: u64, m: AppMsg) {
        let now = self.now_ms();
        match m {
            AppMsg::Request {
                session,
                cxid,
                auth,
                is_super,
                op,
                body,
            } => {
                if !self.proposes() {
                    return;
                }
                let req = match Request::decode(op, &mut Reader::new(&body)) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!("server {from} forwarded a bad request: {e}");
                        return;
                    }
                };
                self.tracker.touch(session, now);
                let entry = if matches!(req, Request::CloseSession) {
                    self.tracker.set_closing(session);
                    self.prepare_as(session, cxid, &auth, is_super, |p, tree, ctx| {
                        p.prepare_close_session(tree, session, ctx)
                    })
                } else {
                    self.prepare_as(session, cxid, &auth, is_super, |p, tree, ctx| {
                        p.prepare(tree, &req, ctx)
                    })
                };
                self.log(entry);
            }
            AppMsg::CreateSession {
                session,
                timeout_ms,
            } => {
                if !self.proposes() {
                    return;
                }
                let zxid = self.next_zxid;
                let entry = self.prepper.prepare_create_session(
                    session,
                    timeout_ms,
                    zxid,
                    crate::core::wall_ms(),
                );
                self.log(entry);
            }
            AppMsg::Touch { sessions } => {
                for s in sessions {
                    self.tracker.touch(s, now);
                }
            }
            AppMsg::Sync { id } => {
                let zxid = self.next_zxid - 1;
                if let Some(e) = self.ensemble.as_mut() {
                    e.send(from, &Message::App(AppMsg::SyncDone { id, zxid }.encode()));
                }
            }
            AppMsg::SyncDone { id, zxid } => {
                let Some(sid) = self.ensemble.as_mut().and_then(|e| e.syncs.remove(&id)) else {
                    return;
                };
                if let Some(s) = self.sessions.get_mut(&sid) {
                    let waiting = s.queue.iter_mut().find_map(|p| match p {
                        Pending::Sync { zxid: z @ None, .. } => Some(z),
                        _ => None,
                    });
                    if let Some(z) = waiting {
                        *z = Some(zxid);
                    }
                }
                self.syncing.insert(sid);
                self.drain(sid);
            }
        }
    }
}

fn describe(role: Role, why_looking: &str) -> String {
    match role {
        Role::Looking => format!("looking for a leader ({why_looking})"),
        Role::Following {
            leader,
            serving: false,
        } => format!("following server {leader}, syncing"),
        Role::Following {
            leader,
            serving: true,
        } => format!("following server {leader}, serving"),
        Role::Leading {
            epoch,
            serving: false,
        } => format!("leading epoch {epoch}, waiting for a quorum"),
        Role::Leading {
            epoch,
            serving: true,
        } => format!("leading epoch {epoch}, serving"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_messages_round_trip() {
        let all = [
            AppMsg::Request {
                session: 0x0100_0000_0000_0007,
                cxid: 42,
                auth: vec![Id {
                    scheme: "digest".into(),
                    id: "u:x".into(),
                }],
                is_super: true,
                op: 5,
                body: vec![1, 2, 3],
            },
            AppMsg::CreateSession {
                session: 9,
                timeout_ms: 4000,
            },
            AppMsg::Touch {
                sessions: vec![1, 2, 3],
            },
            AppMsg::Sync { id: 7 },
            AppMsg::SyncDone {
                id: 7,
                zxid: 0x1_0000_0003,
            },
        ];
        for m in all {
            let b = m.encode();
            assert_eq!(AppMsg::decode(&b).unwrap(), m);
            for n in 0..b.len() {
                assert!(AppMsg::decode(&b[..n]).is_err());
            }
        }
    }
}
