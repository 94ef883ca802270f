//! paddock-zab: ZooKeeper Atomic Broadcast as a pure state machine.
//!
//! [`Zab`] takes messages from peers, link changes, local durability
//! reports, proposals and the time, and answers with [`Command`]s for its
//! driver to carry out in order: send a message, log a txn, apply txns up
//! to a zxid, send or install a snapshot, persist an epoch, change role.
//! It reads no clock and does no I/O, so the whole protocol runs in tests
//! with simulated peers, links and disks.
//!
//! The phases, as in the ZAB papers and ZooKeeper:
//! 1. **Election** (`election.rs`): fast leader election picks the peer with
//!    the highest (current epoch, last zxid, id) a quorum backs.
//! 2. **Discovery**: followers send FOLLOWERINFO (accepted epoch, last
//!    zxid); once a quorum has, the leader picks an epoch above every
//!    accepted one (NEWEPOCH), and each follower persists it as its
//!    acceptedEpoch and answers ACKEPOCH with its current epoch and last
//!    zxid. A follower with a newer history than the leader's makes the
//!    leader give up.
//! 3. **Sync**: after an ACKEPOCH quorum, the leader brings each follower
//!    to its own history: a DIFF (the proposals after the follower's last
//!    zxid) if that zxid is in the leader's history, from the leader's
//!    in-memory window of recent txns or, for an older zxid, from its
//!    on-disk log (the driver reads it: `Command::ReadLog`); else a SNAP
//!    of the leader's committed state plus the proposals after it; then
//!    NEWLEADER. The follower makes all of it
//!    durable, persists the epoch as its currentEpoch, and acks; with a
//!    quorum of acks (the leader's own durability included) the leader
//!    commits its whole history and sends UPTODATE: the reign begins.
//! 4. **Broadcast**: the leader proposes each txn to every synced follower
//!    and logs it itself; followers ack once it is durable (acks are
//!    cumulative: FIFO links and in-order logs make "durable up to z"
//!    mean every proposal up to z); a zxid acked by a quorum is committed
//!    and COMMIT (also cumulative) goes to the followers.
//!
//! Observers (`server.N=...:observer`) sync and receive proposals and
//! commits like followers, serve clients and forward writes, but their
//! acks count toward no quorum and they never vote: an observer finds the
//! leader from what a quorum of voters following or leading report.
//!
//! Liveness: the leader pings its followers every half tick; a follower
//! that hears nothing from its leader for `syncLimit` ticks (`initLimit`
//! while syncing), or a leader that hears from less than a quorum for
//! `syncLimit` ticks, goes back to election. So does a follower whose
//! link to the leader drops.
#![deny(missing_docs)]

mod election;
pub mod message;
mod peer;

pub use message::{
    close_length, length_prefixed, open_length, DecodeError, Message, Notification, PeerState,
    Vote, SNAPSHOT_PART_HEADER,
};
pub use peer::Zab;

/// A server id (`server.N` in zoo.cfg, `myid`).
pub type Sid = u64;
/// A transaction id: epoch in the high 32 bits, counter in the low 32.
pub type Zxid = i64;

/// The epoch part of a zxid.
pub fn epoch_of(zxid: Zxid) -> i64 {
    zxid >> 32
}

/// The zxid of `counter` in `epoch`.
pub fn make_zxid(epoch: i64, counter: u32) -> Zxid {
    (epoch << 32) | counter as i64
}

/// The settings ZAB runs with.
#[derive(Debug, Clone)]
pub struct ZabConfig {
    /// This peer.
    pub my_id: Sid,
    /// Every voting peer (this one included, unless it observes).
    pub voters: Vec<Sid>,
    /// Non-voting peers: they follow the leader and serve clients, but
    /// take no part in elections or quorums (ZooKeeper's observers).
    pub observers: Vec<Sid>,
    /// zoo.cfg's tickTime.
    pub tick_ms: u64,
    /// Ticks a follower may take to connect and sync (initLimit).
    pub init_limit: u64,
    /// Ticks a peer may go unheard once synced (syncLimit).
    pub sync_limit: u64,
    /// How long a quorum-backed vote waits for a better one (ZooKeeper's
    /// finalizeWait, 200 ms).
    pub finalize_wait_ms: u64,
    /// Proposals kept in memory to sync followers by diff.
    pub window_txns: usize,
    /// Bytes of proposals kept in memory, at most.
    pub window_bytes: usize,
}

impl ZabConfig {
    /// The settings with ZooKeeper's defaults for the rest.
    pub fn new(
        my_id: Sid,
        voters: Vec<Sid>,
        tick_ms: u64,
        init_limit: u64,
        sync_limit: u64,
    ) -> Self {
        ZabConfig {
            my_id,
            voters,
            observers: Vec::new(),
            tick_ms,
            init_limit,
            sync_limit,
            finalize_wait_ms: 200,
            // About 5,000 txns of 200 bytes (ZooKeeper keeps 500 in
            // memory): a follower that missed more is synced by diff from
            // the leader's on-disk log (Command::ReadLog), or by snapshot
            // if the log no longer holds them. 8 MiB here cost each member
            // of an ensemble ~7 MiB of RSS, the leader more.
            window_txns: 100_000,
            window_bytes: 1 << 20,
        }
    }

    /// A majority of the voters.
    pub fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// Whether `sid` votes.
    pub fn is_voter(&self, sid: Sid) -> bool {
        self.voters.contains(&sid)
    }

    /// How many of `sids` vote.
    pub fn voters_among<'a>(&self, sids: impl IntoIterator<Item = &'a Sid>) -> usize {
        sids.into_iter().filter(|s| self.is_voter(**s)).count()
    }

    /// Whether `sid` is a member (voter or observer).
    pub fn is_member(&self, sid: Sid) -> bool {
        self.is_voter(sid) || self.observers.contains(&sid)
    }
}

/// What a peer remembers across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Persisted {
    /// acceptedEpoch: the last NEWEPOCH accepted.
    pub accepted_epoch: i64,
    /// currentEpoch: the last NEWLEADER acknowledged.
    pub current_epoch: i64,
    /// The last zxid in the log (or snapshot); everything up to it is in
    /// the state the driver recovered.
    pub last_zxid: Zxid,
}

/// Which epoch file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochKind {
    /// acceptedEpoch.
    Accepted,
    /// currentEpoch.
    Current,
}

/// The role a peer plays, as its driver needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// In an election: serve no clients.
    Looking,
    /// Following `leader`; clients are served once `serving`.
    Following {
        /// The leader.
        leader: Sid,
        /// Synced (UPTODATE received).
        serving: bool,
    },
    /// Leading `epoch`; proposals may be made once `serving`.
    Leading {
        /// The epoch of this reign.
        epoch: i64,
        /// Established (a quorum synced).
        serving: bool,
    },
}

/// What the driver must do, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send `msg` to peer `to` (dropped if the link is down).
    Send {
        /// The peer.
        to: Sid,
        /// The message.
        msg: Message,
    },
    /// Append this txn to the log; report [`Zab::on_durable`] once it and
    /// everything before it is fsynced.
    Log {
        /// Its zxid.
        zxid: Zxid,
        /// The txn.
        txn: Vec<u8>,
    },
    /// Apply every logged txn up to `zxid` (they are committed), in order,
    /// before carrying out the next command.
    Commit {
        /// The highest committed zxid.
        zxid: Zxid,
    },
    /// Send peer `to` a [`Message::Snapshot`] of the applied state, which
    /// is every txn up to `zxid` (the driver has applied exactly those).
    SendSnapshot {
        /// The peer.
        to: Sid,
        /// The zxid the state must be at.
        zxid: Zxid,
    },
    /// Read the logged txns after `after` up to and including `upto` (the
    /// in-memory window begins there) to sync peer `to` by diff, and
    /// report them with [`Zab::on_log_read`]: None if the log no longer
    /// holds a record `after` and every one after it up to `upto`, or they
    /// are too many to be worth it (the peer then gets a snapshot).
    ReadLog {
        /// The peer.
        to: Sid,
        /// The follower's last zxid.
        after: Zxid,
        /// Where the window begins.
        upto: Zxid,
    },
    /// Replace the state and the log with this snapshot (the leader's
    /// committed state at `zxid`); logged txns not yet applied are void.
    /// Report [`Zab::on_durable`] with `zxid` once it is on disk.
    InstallSnapshot {
        /// The zxid the state is at.
        zxid: Zxid,
        /// The state, as the driver serialized it.
        state: Vec<u8>,
    },
    /// Persist an epoch file durably before carrying out the next command.
    PersistEpoch {
        /// Which file.
        which: EpochKind,
        /// The epoch.
        epoch: i64,
    },
    /// The peer's role changed.
    Role(Role),
    /// A [`Message::App`] from a peer, for the driver.
    App {
        /// The peer.
        from: Sid,
        /// The payload.
        bytes: Vec<u8>,
    },
}
#[cfg(test)]
mod tests;
