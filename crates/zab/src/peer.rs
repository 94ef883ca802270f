//! [`Zab`]: one peer's protocol state (see the crate docs for the phases).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::election::Election;
use crate::message::{Message, PeerState, Vote};
use crate::{epoch_of, make_zxid, Command, EpochKind, Persisted, Role, Sid, ZabConfig, Zxid};

/// One peer's ZAB state machine.
#[derive(Debug)]
pub struct Zab {
    cfg: ZabConfig,
    accepted_epoch: i64,
    current_epoch: i64,
    /// The last zxid handed to the log (or installed by a snapshot).
    logged: Zxid,
    /// The last zxid the log reported durable (at most `logged`).
    durable: Zxid,
    /// The last zxid committed (handed to the driver to apply).
    committed: Zxid,
    /// Recent history for syncing followers by diff: the txns after
    /// `window_base`, up to `logged`.
    window: VecDeque<(Zxid, Vec<u8>)>,
    window_base: Zxid,
    window_bytes: usize,
    /// Peers whose link is up.
    up: BTreeSet<Sid>,
    election: Election,
    state: State,
    /// FOLLOWERINFOs that arrived while this peer was still electing.
    early_info: BTreeMap<Sid, (i64, Zxid)>,
    /// When this peer last told everyone its vote.
    last_notified: u64,
    /// Why the last election began (for the driver's log).
    why_looking: &'static str,
    out: Vec<Command>,
}

/// A looking peer repeats its vote this often (ZooKeeper's notification
/// timeout starts at 200 ms and backs off; links here are TCP and a lost
/// message means a lost link, so a fixed period suffices).
const NOTIFY_AGAIN_MS: u64 = 400;

/// Memory of a window entry besides its txn bytes (zxid, vector header,
/// allocator rounding), counted against `window_bytes`.
const WINDOW_ENTRY_OVERHEAD: usize = 48;

#[derive(Debug)]
enum State {
    Looking,
    Following(Follower),
    Leading(Leader),
}

#[derive(Debug)]
struct Follower {
    leader: Sid,
    phase: FollowerPhase,
    since: u64,
    last_heard: u64,
    /// The last ack sent.
    acked: Zxid,
    /// A NEWLEADER waiting for everything logged before it (up to the
    /// second zxid) to be durable.
    new_leader: Option<(Zxid, Zxid)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FollowerPhase {
    /// FOLLOWERINFO sent (or waiting for the link).
    Discovery,
    /// ACKEPOCH sent; the sync (DIFF or SNAP) has not begun, so the log
    /// may still hold txns outside the leader's history: nothing is acked.
    EpochAcked,
    /// Taking the leader's history (DIFF or SNAP received).
    Syncing,
    /// UPTODATE received.
    Serving,
}

#[derive(Debug)]
struct Leader {
    /// Decided once a quorum sent FOLLOWERINFO.
    epoch: Option<i64>,
    since: u64,
    /// FOLLOWERINFO (accepted epoch, last zxid) before the epoch is decided.
    infos: BTreeMap<Sid, (i64, Zxid)>,
    /// ACKEPOCH (current epoch, last zxid) from the followers, this peer's own included.
    epoch_acks: BTreeMap<Sid, (i64, Zxid)>,
    learners: BTreeMap<Sid, Learner>,
    established: bool,
    next_ping: u64,
    /// The vote that elected this peer.
    vote: Vote,
    /// Voters that, in the round that elected this peer and before it is
    /// established, backed a better vote than that: they will not follow
    /// it (see `Zab::on_notification`).
    rivals: BTreeSet<Sid>,
}

#[derive(Debug)]
struct Learner {
    phase: LearnerPhase,
    /// Highest zxid it reported durable.
    acked: Zxid,
    last_heard: u64,
    /// Where its sync left off (the leader's last zxid then).
    synced_to: Zxid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LearnerPhase {
    /// FOLLOWERINFO received; NEWEPOCH sent if the epoch is decided.
    Info,
    /// ACKEPOCH received; waiting for an ACKEPOCH quorum to sync it.
    EpochAcked(Zxid),
    /// To be synced by diff from the log: waiting for the driver to read the
    /// txns after this zxid ([`Command::ReadLog`]).
    ReadingLog(Zxid),
    /// Sync and NEWLEADER sent; gets every proposal and commit from now.
    Syncing,
    /// NEWLEADER acknowledged (UPTODATE sent once established).
    Synced,
}

impl LearnerPhase {
    fn forwarding(self) -> bool {
        matches!(self, LearnerPhase::Syncing | LearnerPhase::Synced)
    }
}

impl Zab {
    /// A peer that recovered `persisted` from disk; call [`Zab::start`].
    pub fn new(cfg: ZabConfig, persisted: Persisted) -> Zab {
        let election = Election::new(cfg.my_id, cfg.voters.clone());
        Zab {
            accepted_epoch: persisted.accepted_epoch,
            current_epoch: persisted.current_epoch,
            logged: persisted.last_zxid,
            durable: persisted.last_zxid,
            committed: persisted.last_zxid,
            window: VecDeque::new(),
            window_base: persisted.last_zxid,
            window_bytes: 0,
            up: BTreeSet::new(),
            election,
            state: State::Looking,
            early_info: BTreeMap::new(),
            last_notified: 0,
            why_looking: "",
            out: Vec::new(),
            cfg,
        }
    }

    /// Starts the first election.
    pub fn start(&mut self, now: u64) {
        self.look(now, "starting");
    }

    /// The commands produced so far, to carry out in order.
    pub fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.out)
    }

    /// The role now.
    pub fn role(&self) -> Role {
        match &self.state {
            State::Looking => Role::Looking,
            State::Following(f) => Role::Following {
                leader: f.leader,
                serving: f.phase == FollowerPhase::Serving,
            },
            State::Leading(l) => Role::Leading {
                epoch: l.epoch.unwrap_or(self.accepted_epoch),
                serving: l.established,
            },
        }
    }

    /// A one-line account of the state, for logs and test failures.
    pub fn debug_state(&self) -> String {
        match &self.state {
            State::Looking => format!(
                "looking round {} backing {:?}",
                self.election.round, self.election.proposal
            ),
            State::Following(f) => format!("following {} {:?}", f.leader, f.phase),
            State::Leading(l) => format!(
                "leading epoch {:?} established {} learners {:?}",
                l.epoch,
                l.established,
                l.learners
                    .iter()
                    .map(|(s, x)| (*s, x.phase))
                    .collect::<Vec<_>>()
            ),
        }
    }

    /// Why the current (or last) election began.
    pub fn why_looking(&self) -> &'static str {
        self.why_looking
    }

    /// Whether this peer observes (never votes).
    pub fn is_observer(&self) -> bool {
        !self.cfg.is_voter(self.cfg.my_id)
    }

    /// This peer's id.
    pub fn my_id(&self) -> Sid {
        self.cfg.my_id
    }

    /// The last zxid logged, durable and committed.
    pub fn zxids(&self) -> (Zxid, Zxid, Zxid) {
        (self.logged, self.durable, self.committed)
    }

    /// The epochs (accepted, current).
    pub fn epochs(&self) -> (i64, i64) {
        (self.accepted_epoch, self.current_epoch)
    }

    /// The peers following this leader and synced (for `srvr`/`mntr`).
    pub fn synced_followers(&self) -> Vec<Sid> {
        match &self.state {
            State::Leading(l) => l
                .learners
                .iter()
                .filter(|(_, x)| x.phase == LearnerPhase::Synced)
                .map(|(s, _)| *s)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The zxid the next proposal gets is chosen by the driver from the
    /// epoch (`make_zxid(epoch, n)`, n from 1); this checks it.
    pub fn can_propose(&self, zxid: Zxid) -> bool {
        matches!(&self.state, State::Leading(l) if l.established && l.epoch == Some(epoch_of(zxid)))
            && zxid > self.logged
    }

    /// Leader only, once serving: logs `txn` and sends it to every synced
    /// follower. Returns false (and does nothing) otherwise.
    pub fn propose(&mut self, zxid: Zxid, txn: Vec<u8>) -> bool {
        if !self.can_propose(zxid) {
            return false;
        }
        let State::Leading(l) = &self.state else {
            unreachable!("can_propose checked the role")
        };
        for (&sid, _) in l.learners.iter().filter(|(_, x)| x.phase.forwarding()) {
            self.out.push(Command::Send {
                to: sid,
                msg: Message::Proposal {
                    zxid,
                    txn: txn.clone(),
                },
            });
        }
        self.log(zxid, txn);
        true
    }

    /// The log made everything up to `zxid` durable.
    pub fn on_durable(&mut self, _now: u64, zxid: Zxid) {
        // A report for txns a snapshot install made void says nothing.
        if zxid > self.logged {
            return;
        }
        self.durable = zxid;
        match &mut self.state {
            State::Looking => {}
            State::Following(_) => self.follower_durable(),
            State::Leading(_) => {
                self.maybe_establish();
                self.try_commit();
            }
        }
    }

    /// A link to `sid` came up.
    pub fn on_peer_up(&mut self, _now: u64, sid: Sid) {
        if sid == self.cfg.my_id || !self.cfg.is_member(sid) {
            return;
        }
        self.up.insert(sid);
        match &self.state {
            State::Looking => self.notify(sid, PeerState::Looking),
            State::Following(f) if f.leader == sid && f.phase == FollowerPhase::Discovery => {
                self.send_follower_info(sid)
            }
            _ => {}
        }
    }

    /// The link to `sid` went down (messages in flight on it are lost).
    pub fn on_peer_down(&mut self, now: u64, sid: Sid) {
        self.up.remove(&sid);
        self.early_info.remove(&sid);
        match &mut self.state {
            State::Following(f) if f.leader == sid => self.look(now, "lost the link to the leader"),
            State::Leading(l) => {
                l.learners.remove(&sid);
                l.infos.remove(&sid);
                l.epoch_acks.remove(&sid);
            }
            _ => {}
        }
    }

    /// Time passed.
    pub fn on_tick(&mut self, now: u64) {
        let tick = self.cfg.tick_ms;
        let init = tick * self.cfg.init_limit;
        let sync = tick * self.cfg.sync_limit;
        match &mut self.state {
            State::Looking => {
                if let Some(leader) = self.election.on_tick(now, self.cfg.finalize_wait_ms) {
                    return self.decided(now, leader);
                }
                // A peer that heard this one's vote before it was looking
                // (and so did not count it) hears it again.
                if now.saturating_sub(self.last_notified) >= NOTIFY_AGAIN_MS {
                    self.notify_all(now);
                }
            }
            State::Following(f) => {
                let limit = if f.phase == FollowerPhase::Serving {
                    sync
                } else {
                    init
                };
                if now.saturating_sub(f.last_heard) > limit {
                    self.look(now, "the leader went silent");
                } else if f.phase != FollowerPhase::Serving && now.saturating_sub(f.since) > init {
                    self.look(now, "the leader did not sync this peer within initLimit");
                }
            }
            State::Leading(l) => {
                if !l.established {
                    if now.saturating_sub(l.since) > init {
                        self.look(now, "no quorum synced within initLimit");
                    }
                    return;
                }
                let cfg = &self.cfg;
                let alive = 1 + l
                    .learners
                    .iter()
                    .filter(|(s, x)| {
                        x.phase == LearnerPhase::Synced
                            && cfg.is_voter(**s)
                            && now.saturating_sub(x.last_heard) <= sync
                    })
                    .count();
                if alive < self.cfg.quorum() {
                    self.look(now, "lost the quorum of followers");
                    return;
                }
                if now >= l.next_ping {
                    l.next_ping = now + (tick / 2).max(1);
                    let to: Vec<Sid> = l.learners.keys().copied().collect();
                    for sid in to {
                        self.send(sid, Message::Ping);
                    }
                }
            }
        }
    }

    /// A message from peer `from`.
    pub fn on_message(&mut self, now: u64, from: Sid, msg: Message) {
        if from == self.cfg.my_id || !self.cfg.is_member(from) {
            return;
        }
        if let Message::Notification(n) = msg {
            return self.on_notification(now, from, n);
        }
        match &mut self.state {
            State::Looking => {
                if let Message::FollowerInfo {
                    accepted_epoch,
                    last_zxid,
                } = msg
                {
                    self.early_info.insert(from, (accepted_epoch, last_zxid));
                }
            }
            State::Following(f) => {
                if f.leader != from {
                    return;
                }
                f.last_heard = now;
                self.follower_message(now, msg);
            }
            State::Leading(l) => {
                if let Some(x) = l.learners.get_mut(&from) {
                    x.last_heard = now;
                }
                self.leader_message(now, from, msg);
            }
        }
    }

    // ---- election ----

    fn look(&mut self, now: u64, why: &'static str) {
        self.why_looking = why;
        self.state = State::Looking;
        self.early_info.clear();
        let own = Vote {
            leader: self.cfg.my_id,
            zxid: self.logged,
            peer_epoch: self.current_epoch,
        };
        self.election.start(own);
        self.out.push(Command::Role(Role::Looking));
        self.notify_all(now);
        if self.cfg.voters.len() == 1 && self.cfg.is_voter(self.cfg.my_id) {
            self.decided(now, self.cfg.my_id);
        }
    }

    fn my_state(&self) -> PeerState {
        match self.state {
            State::Looking => PeerState::Looking,
            State::Following(_) => PeerState::Following,
            State::Leading(_) => PeerState::Leading,
        }
    }

    /// Tells every peer whose link is up this peer's vote (while looking).
    fn notify_all(&mut self, now: u64) {
        self.last_notified = now;
        let peers: Vec<Sid> = self.up.iter().copied().collect();
        for p in peers {
            self.notify(p, PeerState::Looking);
        }
    }

    fn notify(&mut self, to: Sid, state: PeerState) {
        let n = self.election.notification(state);
        self.send(to, Message::Notification(n));
    }

    fn on_notification(&mut self, now: u64, from: Sid, n: crate::Notification) {
        if let State::Leading(l) = &mut self.state {
            // Elected, but before a quorum follows, a looking voter of the
            // same round backs a better vote: it saw a peer this one did
            // not (one that started late, say), and will elect that peer
            // rather than follow this one. Once too few voters are left to
            // make a quorum, waiting out initLimit is pointless: elect
            // again now (giving up a reign not yet established is safe).
            let round = self.election.round;
            if !l.established
                && n.state == PeerState::Looking
                && n.election_epoch == round
                && self.cfg.is_voter(from)
                && !l.learners.contains_key(&from)
                && n.vote.beats(&l.vote)
            {
                l.rivals.insert(from);
                let left = self.cfg.voters.len() - l.rivals.len();
                if left < self.cfg.quorum() {
                    return self.look(now, "a quorum of voters backs a better leader");
                }
            }
        }
        if !matches!(self.state, State::Looking) {
            // Tell a looking peer who leads.
            if n.state == PeerState::Looking {
                self.notify(from, self.my_state());
            }
            return;
        }
        if !self.cfg.is_voter(self.cfg.my_id) && n.state == PeerState::Looking {
            // An observer waits for voters to report a leader.
            return;
        }
        let r = self.election.on_notification(from, n, now);
        if r.broadcast {
            self.notify_all(now);
        } else if r.reply {
            self.notify(from, PeerState::Looking);
        }
        if let Some(leader) = r.decided {
            self.decided(now, leader);
        }
    }

    /// The election chose `leader`.
    fn decided(&mut self, now: u64, leader: Sid) {
        if leader == self.cfg.my_id && !self.cfg.is_voter(leader) {
            return self.look(now, "an observer cannot lead");
        }
        let heard: Vec<Sid> = self
            .election
            .peers_heard()
            .filter(|p| self.up.contains(p))
            .collect();
        self.enter(now, leader);
        // Peers whose votes counted here hear the outcome now: one still
        // looking (its vote may be the one that made this count unanimous)
        // would otherwise learn it only when its own finalize wait ends or
        // it notifies again (NOTIFY_AGAIN_MS), ~200 ms on.
        let state = self.my_state();
        for p in heard {
            self.notify(p, state);
        }
    }

    /// The reign's epoch is known: the vote this peer reports names it
    /// from now on. A looking peer counts a leader's followers only when
    /// they report the leader's epoch, so every peer hears the new vote
    /// at once (a looking one that heard this peer name the old epoch
    /// would otherwise wait for its finalize wait, or its next
    /// notification, to join; the others ignore it).
    fn set_reign_epoch(&mut self, epoch: i64) {
        self.election.set_reign_epoch(epoch);
        let state = self.my_state();
        let peers: Vec<Sid> = self.up.iter().copied().collect();
        for p in peers {
            self.notify(p, state);
        }
    }

    /// Leads (`leader` is this peer) or follows `leader`.
    fn enter(&mut self, now: u64, leader: Sid) {
        if leader == self.cfg.my_id {
            let mut l = Leader {
                epoch: None,
                since: now,
                infos: BTreeMap::new(),
                epoch_acks: BTreeMap::new(),
                learners: BTreeMap::new(),
                established: false,
                next_ping: now,
                vote: self.election.proposal,
                rivals: BTreeSet::new(),
            };
            l.infos
                .insert(self.cfg.my_id, (self.accepted_epoch, self.logged));
            self.state = State::Leading(l);
            self.out.push(Command::Role(self.role()));
            for (sid, (acc, last)) in std::mem::take(&mut self.early_info) {
                self.on_follower_info(now, sid, acc, last);
            }
            self.maybe_decide_epoch();
            self.maybe_establish();
        } else {
            self.early_info.clear();
            self.state = State::Following(Follower {
                leader,
                phase: FollowerPhase::Discovery,
                since: now,
                last_heard: now,
                acked: self.durable,
                new_leader: None,
            });
            self.out.push(Command::Role(self.role()));
            if self.up.contains(&leader) {
                self.send_follower_info(leader);
            }
        }
    }

    // ---- follower ----

    fn send_follower_info(&mut self, leader: Sid) {
        let msg = Message::FollowerInfo {
            accepted_epoch: self.accepted_epoch,
            last_zxid: self.logged,
        };
        self.send(leader, msg);
    }

    fn follower_message(&mut self, now: u64, msg: Message) {
        let State::Following(f) = &mut self.state else {
            return;
        };
        let leader = f.leader;
        // Until the sync begins, what arrives from the leader may be left
        // from this follower's previous time with it (proposals sent
        // before it re-registered): only NEWEPOCH and the sync's start count.
        let before_sync = matches!(
            f.phase,
            FollowerPhase::Discovery | FollowerPhase::EpochAcked
        );
        if before_sync
            && matches!(
                msg,
                Message::Proposal { .. }
                    | Message::Commit { .. }
                    | Message::NewLeader { .. }
                    | Message::UpToDate
            )
        {
            return;
        }
        if f.phase != FollowerPhase::EpochAcked
            && matches!(msg, Message::Diff { .. } | Message::Snapshot { .. })
        {
            return;
        }
        match msg {
            Message::NewEpoch { epoch } => {
                if f.phase != FollowerPhase::Discovery {
                    return;
                }
                if epoch < self.accepted_epoch {
                    return self.look(now, "the leader's epoch is older than the accepted one");
                }
                f.phase = FollowerPhase::EpochAcked;
                f.since = now;
                if epoch > self.accepted_epoch {
                    self.accepted_epoch = epoch;
                    self.out.push(Command::PersistEpoch {
                        which: EpochKind::Accepted,
                        epoch,
                    });
                }
                self.set_reign_epoch(epoch);
                let msg = Message::AckEpoch {
                    current_epoch: self.current_epoch,
                    last_zxid: self.logged,
                };
                self.send(leader, msg);
            }
            Message::Diff { .. } => f.phase = FollowerPhase::Syncing,
            Message::Snapshot { zxid, state } => {
                f.phase = FollowerPhase::Syncing;
                self.window.clear();
                self.window_bytes = 0;
                self.window_base = zxid;
                self.logged = zxid;
                // Nothing counts as durable until the install reports it.
                self.durable = -1;
                self.committed = zxid;
                f.acked = f.acked.min(zxid);
                self.out.push(Command::InstallSnapshot { zxid, state });
            }
            Message::Proposal { zxid, txn } => {
                if zxid > self.logged {
                    self.log(zxid, txn);
                }
            }
            Message::Commit { zxid } => self.commit(zxid.min(self.logged)),
            Message::NewLeader { zxid } => {
                f.new_leader = Some((zxid, self.logged));
                self.follower_durable();
            }
            Message::UpToDate => {
                if f.phase != FollowerPhase::Serving {
                    f.phase = FollowerPhase::Serving;
                    self.out.push(Command::Role(self.role()));
                }
            }
            Message::Ping => self.send(leader, Message::Ping),
            Message::App(bytes) => self.out.push(Command::App {
                from: leader,
                bytes,
            }),
            Message::FollowerInfo { .. }
            | Message::AckEpoch { .. }
            | Message::AckNewLeader { .. }
            | Message::Ack { .. }
            | Message::Notification(_) => {}
        }
    }

    /// Acks what became durable; acks NEWLEADER once all before it is.
    fn follower_durable(&mut self) {
        let State::Following(f) = &mut self.state else {
            return;
        };
        if matches!(
            f.phase,
            FollowerPhase::Discovery | FollowerPhase::EpochAcked
        ) {
            return;
        }
        let leader = f.leader;
        let mut msgs = Vec::new();
        if let Some((nl, upto)) = f.new_leader {
            if self.durable >= upto {
                f.new_leader = None;
                let epoch = epoch_of(nl);
                if epoch > self.current_epoch {
                    self.current_epoch = epoch;
                    self.out.push(Command::PersistEpoch {
                        which: EpochKind::Current,
                        epoch,
                    });
                }
                msgs.push(Message::AckNewLeader { zxid: nl });
            }
        }
        if self.durable > f.acked {
            f.acked = self.durable;
            msgs.push(Message::Ack { zxid: self.durable });
        }
        for m in msgs {
            self.send(leader, m);
        }
    }

    // ---- leader ----

    fn leader_message(&mut self, now: u64, from: Sid, msg: Message) {
        match msg {
            Message::FollowerInfo {
                accepted_epoch,
                last_zxid,
            } => {
                self.on_follower_info(now, from, accepted_epoch, last_zxid);
                self.maybe_decide_epoch();
            }
            Message::AckEpoch {
                current_epoch,
                last_zxid,
            } => self.on_ack_epoch(now, from, current_epoch, last_zxid),
            Message::AckNewLeader { zxid } => self.on_ack_new_leader(from, zxid),
            Message::Ack { zxid } => {
                let State::Leading(l) = &mut self.state else {
                    return;
                };
                // Only a follower that acknowledged NEWLEADER has made
                // this reign's epoch its currentEpoch: before that, its
                // vote would not carry what it holds, so its acks do not
                // count.
                if let Some(x) = l.learners.get_mut(&from) {
                    if x.phase == LearnerPhase::Synced {
                        x.acked = x.acked.max(zxid.min(self.logged));
                    }
                }
                self.try_commit();
            }
            Message::Ping => {}
            Message::App(bytes) => self.out.push(Command::App { from, bytes }),
            Message::NewEpoch { .. }
            | Message::Snapshot { .. }
            | Message::Diff { .. }
            | Message::NewLeader { .. }
            | Message::UpToDate
            | Message::Proposal { .. }
            | Message::Commit { .. }
            | Message::Notification(_) => {}
        }
    }

    fn on_follower_info(&mut self, now: u64, from: Sid, accepted: i64, last: Zxid) {
        let State::Leading(l) = &mut self.state else {
            return;
        };
        if l.epoch.is_some_and(|e| accepted > e) {
            // A newer epoch was started elsewhere (a leader that never
            // established): this follower can never accept ours. Elect
            // again; the next epoch is chosen above its.
            return self.look(now, "a follower accepted a newer epoch than this reign's");
        }
        l.rivals.remove(&from);
        l.learners.insert(
            from,
            Learner {
                phase: LearnerPhase::Info,
                acked: -1,
                last_heard: now,
                synced_to: -1,
            },
        );
        l.epoch_acks.remove(&from);
        match l.epoch {
            Some(epoch) => self.send(from, Message::NewEpoch { epoch }),
            None => {
                l.infos.insert(from, (accepted, last));
            }
        }
    }

    fn maybe_decide_epoch(&mut self) {
        let State::Leading(l) = &mut self.state else {
            return;
        };
        let voters = self.cfg.voters_among(l.infos.keys());
        if l.epoch.is_some() || voters < self.cfg.quorum() {
            return;
        }
        let epoch = l.infos.values().map(|(acc, _)| *acc).max().unwrap_or(0) + 1;
        l.epoch = Some(epoch);
        l.epoch_acks
            .insert(self.cfg.my_id, (self.current_epoch, self.logged));
        let to: Vec<Sid> = l.learners.keys().copied().collect();
        self.accepted_epoch = epoch;
        self.out.push(Command::PersistEpoch {
            which: EpochKind::Accepted,
            epoch,
        });
        self.set_reign_epoch(epoch);
        self.out.push(Command::Role(self.role()));
        for sid in to {
            self.send(sid, Message::NewEpoch { epoch });
        }
    }

    fn on_ack_epoch(&mut self, now: u64, from: Sid, current: i64, last: Zxid) {
        let State::Leading(l) = &mut self.state else {
            return;
        };
        let Some(x) = l.learners.get_mut(&from) else {
            return;
        };
        if x.phase != LearnerPhase::Info || l.epoch.is_none() {
            return;
        }
        if (current, last) > (self.current_epoch, self.logged) {
            return self.look(now, "a follower has a newer history than this leader");
        }
        x.phase = LearnerPhase::EpochAcked(last);
        l.epoch_acks.insert(from, (current, last));
        let voters = self.cfg.voters_among(l.epoch_acks.keys());
        if l.established || voters >= self.cfg.quorum() {
            let ready: Vec<(Sid, Zxid)> = l
                .learners
                .iter()
                .filter_map(|(s, x)| match x.phase {
                    LearnerPhase::EpochAcked(z) => Some((*s, z)),
                    _ => None,
                })
                .collect();
            for (sid, last) in ready {
                self.sync_learner(sid, last);
            }
        }
    }

    /// Brings a follower whose last zxid is `last` to this leader's
    /// history, then sends NEWLEADER: by diff from the in-memory window if
    /// it reaches back to `last`; else, if `last` is older, by diff from the
    /// on-disk log (the driver reads it, [`Command::ReadLog`], and the sync
    /// goes on in [`Zab::on_log_read`]); else by snapshot.
    fn sync_learner(&mut self, sid: Sid, last: Zxid) {
        let State::Leading(l) = &mut self.state else {
            return;
        };
        if l.epoch.is_none() {
            return; // learners are synced only once the epoch is decided
        }
        let in_history = last == self.window_base
            || (last > self.window_base
                && last <= self.logged
                && self.window.binary_search_by_key(&last, |(z, _)| *z).is_ok());
        if in_history {
            self.send(sid, Message::Diff { from: last });
            return self.send_sync(sid, last, Vec::new());
        }
        if last > 0 && last < self.window_base {
            if let Some(x) = l.learners.get_mut(&sid) {
                x.phase = LearnerPhase::ReadingLog(last);
                let upto = self.window_base;
                self.out.push(Command::ReadLog {
                    to: sid,
                    after: last,
                    upto,
                });
            }
            return;
        }
        self.sync_by_snapshot(sid);
    }

    /// The driver's answer to [`Command::ReadLog`]: the logged txns after
    /// `after` up to and including `upto`, or None if its log no longer
    /// holds them all (the follower then gets a snapshot).
    pub fn on_log_read(
        &mut self,
        to: Sid,
        after: Zxid,
        upto: Zxid,
        txns: Option<Vec<(Zxid, Vec<u8>)>>,
    ) {
        let State::Leading(l) = &self.state else {
            return;
        };
        let waiting = l
            .learners
            .get(&to)
            .is_some_and(|x| x.phase == LearnerPhase::ReadingLog(after));
        if !waiting {
            return; // it went away, or came back and is being synced anew
        }
        // The window must go on where the txns end; if it moved past them
        // meanwhile, the gap is only in a snapshot.
        match txns {
            Some(txns)
                if upto == self.window_base
                    && txns.last().map(|(z, _)| *z) == Some(upto)
                    && txns.first().is_some_and(|(z, _)| *z > after) =>
            {
                self.send(to, Message::Diff { from: after });
                self.send_sync(to, after, txns);
            }
            _ => self.sync_by_snapshot(to),
        }
    }

    fn sync_by_snapshot(&mut self, sid: Sid) {
        let committed = self.committed;
        self.out.push(Command::SendSnapshot {
            to: sid,
            zxid: committed,
        });
        self.send_sync(sid, committed, Vec::new());
    }

    /// The rest of a sync after DIFF or SNAP at `from`: the txns read from
    /// the log (`from_log`, which end at the window's base), the window's
    /// proposals after `from`, the commit point and NEWLEADER.
    fn send_sync(&mut self, sid: Sid, from: Zxid, from_log: Vec<(Zxid, Vec<u8>)>) {
        let State::Leading(l) = &self.state else {
            return;
        };
        let Some(epoch) = l.epoch else {
            return;
        };
        let established = l.established;
        for (zxid, txn) in from_log {
            self.send(sid, Message::Proposal { zxid, txn });
        }
        let start = self.window.partition_point(|(z, _)| *z <= from);
        let proposals: Vec<Message> = self
            .window
            .range(start..)
            .map(|(zxid, txn)| Message::Proposal {
                zxid: *zxid,
                txn: txn.clone(),
            })
            .collect();
        for m in proposals {
            self.send(sid, m);
        }
        if established {
            self.send(
                sid,
                Message::Commit {
                    zxid: self.committed,
                },
            );
        }
        self.send(
            sid,
            Message::NewLeader {
                zxid: make_zxid(epoch, 0),
            },
        );
        let logged = self.logged;
        if let State::Leading(l) = &mut self.state {
            if let Some(x) = l.learners.get_mut(&sid) {
                x.phase = LearnerPhase::Syncing;
                x.synced_to = logged;
            }
        }
    }

    fn on_ack_new_leader(&mut self, from: Sid, zxid: Zxid) {
        let State::Leading(l) = &mut self.state else {
            return;
        };
        let Some(epoch) = l.epoch else { return };
        if zxid != make_zxid(epoch, 0) {
            return;
        }
        let Some(x) = l.learners.get_mut(&from) else {
            return;
        };
        if x.phase != LearnerPhase::Syncing {
            return;
        }
        x.phase = LearnerPhase::Synced;
        x.acked = x.acked.max(x.synced_to);
        if l.established {
            self.send(from, Message::UpToDate);
            self.try_commit();
        } else {
            self.maybe_establish();
        }
    }

    /// Begins the reign once a quorum (this leader included, its own
    /// history durable) has acknowledged NEWLEADER.
    fn maybe_establish(&mut self) {
        let State::Leading(l) = &mut self.state else {
            return;
        };
        let Some(epoch) = l.epoch else { return };
        if l.established || self.durable < self.logged {
            return;
        }
        let synced = l
            .learners
            .iter()
            .filter(|(s, x)| x.phase == LearnerPhase::Synced && self.cfg.is_voter(**s))
            .count();
        if 1 + synced < self.cfg.quorum() {
            return;
        }
        l.established = true;
        let forwarding: Vec<(Sid, bool)> = l
            .learners
            .iter()
            .filter(|(_, x)| x.phase.forwarding())
            .map(|(s, x)| (*s, x.phase == LearnerPhase::Synced))
            .collect();
        if epoch > self.current_epoch {
            self.current_epoch = epoch;
            self.out.push(Command::PersistEpoch {
                which: EpochKind::Current,
                epoch,
            });
        }
        let last = self.logged;
        self.commit_local(last);
        for (sid, synced) in forwarding {
            self.send(sid, Message::Commit { zxid: last });
            if synced {
                self.send(sid, Message::UpToDate);
            }
        }
        self.out.push(Command::Role(self.role()));
    }

    /// Commits the highest zxid a quorum has made durable.
    fn try_commit(&mut self) {
        let State::Leading(l) = &self.state else {
            return;
        };
        if !l.established {
            return;
        }
        let mut acks: Vec<Zxid> = l
            .learners
            .iter()
            .filter(|(s, x)| x.phase == LearnerPhase::Synced && self.cfg.is_voter(**s))
            .map(|(_, x)| x.acked)
            .collect();
        acks.push(self.durable);
        acks.sort_unstable_by(|a, b| b.cmp(a));
        let Some(&z) = acks.get(self.cfg.quorum() - 1) else {
            return;
        };
        if z <= self.committed {
            return;
        }
        let to: Vec<Sid> = l
            .learners
            .iter()
            .filter(|(_, x)| x.phase.forwarding())
            .map(|(s, _)| *s)
            .collect();
        self.commit_local(z);
        for sid in to {
            self.send(sid, Message::Commit { zxid: z });
        }
    }

    // ---- shared ----

    fn log(&mut self, zxid: Zxid, txn: Vec<u8>) {
        self.logged = zxid;
        self.window_bytes += txn.len() + WINDOW_ENTRY_OVERHEAD;
        self.window.push_back((zxid, txn.clone()));
        self.out.push(Command::Log { zxid, txn });
    }

    fn commit(&mut self, zxid: Zxid) {
        if zxid > self.committed {
            self.commit_local(zxid);
        }
    }

    fn commit_local(&mut self, zxid: Zxid) {
        self.committed = zxid;
        self.out.push(Command::Commit { zxid });
        // Forget history nobody needs by diff any more (it is in every
        // snapshot this peer can send).
        while self.window.len() > self.cfg.window_txns || self.window_bytes > self.cfg.window_bytes
        {
            match self.window.front() {
                Some((z, _)) if *z <= self.committed => {
                    let (z, txn) = self.window.pop_front().expect("front exists");
                    self.window_base = z;
                    self.window_bytes -= txn.len() + WINDOW_ENTRY_OVERHEAD;
                }
                _ => break,
            }
        }
    }

    fn send(&mut self, to: Sid, msg: Message) {
        self.out.push(Command::Send { to, msg });
    }
}
