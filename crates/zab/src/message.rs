//! What peers say to each other, and its encoding.
//!
//! One connection per pair of peers carries every message: election
//! notifications, the discovery and sync handshake, proposals, acks,
//! commits, pings, and the server's own messages (`App`, opaque here).
//! paddock talks only to paddock on these links, so the layout is its own
//! (not ZooKeeper's quorum protocol): a tag byte, then fixed-width
//! big-endian fields, byte strings as a u32 length then the bytes. The
//! transport frames each message with a u32 length.
//!
//! A big [`Message::Snapshot`] may travel in pieces: snapshot parts (see
//! [`Message::start_snapshot_part`]), then the `Snapshot` message with the
//! rest of the state. A link joins them back into one message, so the
//! protocol never sees a part.

use thiserror::Error;

use crate::{Sid, Zxid};

/// A peer's state as its election notifications report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// Taking part in an election.
    Looking,
    /// Following (or syncing with) a leader.
    Following,
    /// Leading.
    Leading,
}

/// A vote: who should lead, and the history it has, compared as
/// (peer_epoch, zxid, leader).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vote {
    /// The proposed leader.
    pub leader: Sid,
    /// The last logged zxid of the proposed leader.
    pub zxid: Zxid,
    /// The current epoch of the proposed leader.
    pub peer_epoch: i64,
}

impl Vote {
    /// Whether `self` is a better leader than `other`: higher epoch, then
    /// longer history, then higher id (as ZooKeeper's totalOrderPredicate).
    pub fn beats(&self, other: &Vote) -> bool {
        (self.peer_epoch, self.zxid, self.leader) > (other.peer_epoch, other.zxid, other.leader)
    }
}

/// An election notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    /// The sender's vote.
    pub vote: Vote,
    /// The sender's election round (ZooKeeper's logical clock).
    pub election_epoch: u64,
    /// The sender's state.
    pub state: PeerState,
}

/// A message between two peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Election: the sender's vote.
    Notification(Notification),
    /// Discovery, follower to leader: the epoch it last accepted and the
    /// last zxid it has logged.
    FollowerInfo {
        /// acceptedEpoch.
        accepted_epoch: i64,
        /// Last logged zxid.
        last_zxid: Zxid,
    },
    /// Discovery, leader to follower: the epoch of the new reign (LEADERINFO).
    NewEpoch {
        /// The new epoch.
        epoch: i64,
    },
    /// Discovery, follower to leader: the new epoch is accepted (ACKEPOCH),
    /// with the follower's current epoch and last logged zxid.
    AckEpoch {
        /// currentEpoch.
        current_epoch: i64,
        /// Last logged zxid.
        last_zxid: Zxid,
    },
    /// Sync: the leader's committed state, replacing the follower's (SNAP).
    Snapshot {
        /// The last zxid the state includes.
        zxid: Zxid,
        /// The serialized state (the server's snapshot format).
        state: Vec<u8>,
    },
    /// Sync by DIFF begins: the follower's history up to `from` is the
    /// leader's, and the proposals after it follow (with SNAP, the
    /// snapshot message marks the start instead).
    Diff {
        /// The follower's last zxid the diff continues from.
        from: Zxid,
    },
    /// Sync: the leader's history is now the follower's (NEWLEADER).
    NewLeader {
        /// `epoch << 32`.
        zxid: Zxid,
    },
    /// Sync, follower to leader: everything up to NEWLEADER is logged.
    AckNewLeader {
        /// The NEWLEADER zxid acknowledged.
        zxid: Zxid,
    },
    /// Sync done: serve clients.
    UpToDate,
    /// Broadcast: log this txn.
    Proposal {
        /// Its zxid.
        zxid: Zxid,
        /// The txn, as the server logs it.
        txn: Vec<u8>,
    },
    /// Broadcast, follower to leader: every proposal up to `zxid` is
    /// durable here (cumulative).
    Ack {
        /// The highest durable zxid.
        zxid: Zxid,
    },
    /// Broadcast: every proposal up to `zxid` is committed (cumulative).
    Commit {
        /// The highest committed zxid.
        zxid: Zxid,
    },
    /// Liveness, both ways.
    Ping,
    /// The server's own message (forwarded requests, session touches,
    /// sync requests), opaque to ZAB.
    App(Vec<u8>),
}

/// A message that cannot be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("bad peer message: {0}")]
pub struct DecodeError(pub String);

mod tag {
    pub const NOTIFICATION: u8 = 1;
    pub const FOLLOWER_INFO: u8 = 2;
    pub const NEW_EPOCH: u8 = 3;
    pub const ACK_EPOCH: u8 = 4;
    pub const SNAPSHOT: u8 = 5;
    pub const DIFF: u8 = 6;
    pub const NEW_LEADER: u8 = 7;
    pub const ACK_NEW_LEADER: u8 = 8;
    pub const UP_TO_DATE: u8 = 9;
    pub const PROPOSAL: u8 = 10;
    pub const ACK: u8 = 11;
    pub const COMMIT: u8 = 12;
    pub const PING: u8 = 13;
    pub const APP: u8 = 14;
    pub const SNAPSHOT_PART: u8 = 15;
}

/// Bytes a snapshot part's message starts with, before its piece of the
/// state: the tag, then the sender's estimate of the whole state's size.
pub const SNAPSHOT_PART_HEADER: usize = 9;

impl Message {
    /// Appends the encoding of a [`Message::Snapshot`] of `zxid` whose
    /// state `write_state` appends to `out` itself, so that a big tree is
    /// encoded straight into the outgoing buffer instead of into a vector
    /// of its own first.
    pub fn encode_snapshot(out: &mut Vec<u8>, zxid: i64, write_state: impl FnOnce(&mut Vec<u8>)) {
        one(out, tag::SNAPSHOT, zxid);
        length_prefixed(out, write_state);
    }

    /// Appends the start of a snapshot part to `out`; the piece of state it
    /// carries is what is appended after it, up to the end of the message
    /// (a part has no length of its own, so it can be filled a few nodes
    /// at a time). `expected` is the sender's estimate of the whole
    /// state's size, for the receiver to reserve.
    pub fn start_snapshot_part(out: &mut Vec<u8>, expected: u64) {
        out.push(tag::SNAPSHOT_PART);
        out.extend_from_slice(&expected.to_be_bytes());
    }

    /// If `header`, the first [`SNAPSHOT_PART_HEADER`] bytes of a message,
    /// starts a snapshot part: the sender's estimate of the state's size.
    pub fn snapshot_part_expected(header: &[u8]) -> Option<u64> {
        match header {
            [tag::SNAPSHOT_PART, n @ ..] => Some(u64::from_be_bytes(n.try_into().ok()?)),
            _ => None,
        }
    }

    /// Appends the encoding of `self` to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Message::Notification(n) => {
                out.push(tag::NOTIFICATION);
                out.extend_from_slice(&n.vote.leader.to_be_bytes());
                out.extend_from_slice(&n.vote.zxid.to_be_bytes());
                out.extend_from_slice(&n.vote.peer_epoch.to_be_bytes());
                out.extend_from_slice(&n.election_epoch.to_be_bytes());
                out.push(match n.state {
                    PeerState::Looking => 0,
                    PeerState::Following => 1,
                    PeerState::Leading => 2,
                });
            }
            Message::FollowerInfo {
                accepted_epoch,
                last_zxid,
            } => two(out, tag::FOLLOWER_INFO, *accepted_epoch, *last_zxid),
            Message::NewEpoch { epoch } => one(out, tag::NEW_EPOCH, *epoch),
            Message::AckEpoch {
                current_epoch,
                last_zxid,
            } => two(out, tag::ACK_EPOCH, *current_epoch, *last_zxid),
            Message::Snapshot { zxid, state } => {
                Message::encode_snapshot(out, *zxid, |o| o.extend_from_slice(state));
            }
            Message::Diff { from } => one(out, tag::DIFF, *from),
            Message::NewLeader { zxid } => one(out, tag::NEW_LEADER, *zxid),
            Message::AckNewLeader { zxid } => one(out, tag::ACK_NEW_LEADER, *zxid),
            Message::UpToDate => out.push(tag::UP_TO_DATE),
            Message::Proposal { zxid, txn } => {
                one(out, tag::PROPOSAL, *zxid);
                bytes(out, txn);
            }
            Message::Ack { zxid } => one(out, tag::ACK, *zxid),
            Message::Commit { zxid } => one(out, tag::COMMIT, *zxid),
            Message::Ping => out.push(tag::PING),
            Message::App(b) => {
                out.push(tag::APP);
                bytes(out, b);
            }
        }
    }

    /// The encoding of `self`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decodes one whole message; trailing bytes are an error.
    pub fn decode(b: &[u8]) -> Result<Message, DecodeError> {
        let mut r = Cursor { b, at: 0 };
        let t = r.u8()?;
        let m = match t {
            tag::NOTIFICATION => {
                let leader = r.u64()?;
                let zxid = r.i64()?;
                let peer_epoch = r.i64()?;
                let election_epoch = r.u64()?;
                let state = match r.u8()? {
                    0 => PeerState::Looking,
                    1 => PeerState::Following,
                    2 => PeerState::Leading,
                    s => return Err(DecodeError(format!("unknown peer state {s}"))),
                };
                Message::Notification(Notification {
                    vote: Vote {
                        leader,
                        zxid,
                        peer_epoch,
                    },
                    election_epoch,
                    state,
                })
            }
            tag::FOLLOWER_INFO => Message::FollowerInfo {
                accepted_epoch: r.i64()?,
                last_zxid: r.i64()?,
            },
            tag::NEW_EPOCH => Message::NewEpoch { epoch: r.i64()? },
            tag::ACK_EPOCH => Message::AckEpoch {
                current_epoch: r.i64()?,
                last_zxid: r.i64()?,
            },
            tag::SNAPSHOT => Message::Snapshot {
                zxid: r.i64()?,
                state: r.bytes()?,
            },
            tag::DIFF => Message::Diff { from: r.i64()? },
            tag::NEW_LEADER => Message::NewLeader { zxid: r.i64()? },
            tag::ACK_NEW_LEADER => Message::AckNewLeader { zxid: r.i64()? },
            tag::UP_TO_DATE => Message::UpToDate,
            tag::PROPOSAL => Message::Proposal {
                zxid: r.i64()?,
                txn: r.bytes()?,
            },
            tag::ACK => Message::Ack { zxid: r.i64()? },
            tag::COMMIT => Message::Commit { zxid: r.i64()? },
            tag::PING => Message::Ping,
            tag::APP => Message::App(r.bytes()?),
            tag::SNAPSHOT_PART => {
                return Err(DecodeError(
                    "a snapshot part outside a link (links join them)".into(),
                ))
            }
            t => return Err(DecodeError(format!("unknown message tag {t}"))),
        };
        if r.at != b.len() {
            return Err(DecodeError(format!(
                "{} bytes after the message",
                b.len() - r.at
            )));
        }
        Ok(m)
    }
}

fn one(out: &mut Vec<u8>, t: u8, a: i64) {
    out.push(t);
    out.extend_from_slice(&a.to_be_bytes());
}

fn two(out: &mut Vec<u8>, t: u8, a: i64, b: i64) {
    one(out, t, a);
    out.extend_from_slice(&b.to_be_bytes());
}

/// Appends a u32 big-endian length, then what `write` appends (its
/// length; u32::MAX if it is 4 GiB or more, which no peer accepts).
pub fn length_prefixed(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let at = open_length(out);
    write(out);
    close_length(out, at);
}

/// Appends room for a u32 length of what follows; returns where it is,
/// for [`close_length`] once the rest is appended.
pub fn open_length(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0u8; 4]);
    at
}

/// Writes the length opened at `at` by [`open_length`]: the bytes since
/// (u32::MAX if 4 GiB or more, which no peer accepts).
pub fn close_length(out: &mut [u8], at: usize) {
    let len = u32::try_from(out.len() - at - 4).unwrap_or(u32::MAX);
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| DecodeError(format!("truncated at byte {}", self.at)))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let n = u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")) as usize;
        Ok(self.take(n)?.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Vec<Message> {
        vec![
            Message::Notification(Notification {
                vote: Vote {
                    leader: 3,
                    zxid: 0x1_0000_0005,
                    peer_epoch: 1,
                },
                election_epoch: 7,
                state: PeerState::Following,
            }),
            Message::FollowerInfo {
                accepted_epoch: 2,
                last_zxid: 9,
            },
            Message::NewEpoch { epoch: 3 },
            Message::AckEpoch {
                current_epoch: 2,
                last_zxid: 9,
            },
            Message::Snapshot {
                zxid: 4,
                state: vec![1, 2, 3],
            },
            Message::Diff { from: 5 },
            Message::NewLeader { zxid: 3 << 32 },
            Message::AckNewLeader { zxid: 3 << 32 },
            Message::UpToDate,
            Message::Proposal {
                zxid: 11,
                txn: b"txn".to_vec(),
            },
            Message::Ack { zxid: 11 },
            Message::Commit { zxid: 11 },
            Message::Ping,
            Message::App(vec![9; 40]),
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for m in sample() {
            assert_eq!(Message::decode(&m.to_bytes()), Ok(m));
        }
    }

    #[test]
    fn truncated_and_padded_messages_are_errors() {
        for m in sample() {
            let b = m.to_bytes();
            for n in 0..b.len() {
                assert!(Message::decode(&b[..n]).is_err(), "{m:?} cut at {n}");
            }
            let mut long = b.clone();
            long.push(0);
            assert!(Message::decode(&long).is_err());
        }
    }

    #[test]
    fn a_snapshot_part_is_recognised_by_its_header_and_never_decoded() {
        let mut b = Vec::new();
        Message::start_snapshot_part(&mut b, 227_000_000);
        assert_eq!(b.len(), SNAPSHOT_PART_HEADER);
        assert_eq!(Message::snapshot_part_expected(&b), Some(227_000_000));
        b.extend_from_slice(b"state");
        assert!(Message::decode(&b).is_err());
        for m in sample() {
            let b = m.to_bytes();
            let header = &b[..b.len().min(SNAPSHOT_PART_HEADER)];
            assert_eq!(Message::snapshot_part_expected(header), None, "{m:?}");
        }
        assert_eq!(
            Message::snapshot_part_expected(&[tag::SNAPSHOT_PART, 0]),
            None
        );
    }

    #[test]
    fn an_opened_length_is_closed_to_what_follows() {
        let mut b = vec![7];
        let at = open_length(&mut b);
        b.extend_from_slice(b"abc");
        close_length(&mut b, at);
        assert_eq!(b, [7, 0, 0, 0, 3, b'a', b'b', b'c']);
    }

    proptest! {
        #[test]
        fn decoding_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Message::decode(&b);
        }
    }
}
