//! Fast leader election, as ZooKeeper's FastLeaderElection decides it:
//! every looking peer proposes the best vote it has seen (highest epoch,
//! then zxid, then id) and tells everyone; a vote backed by a quorum of
//! the same round wins once no better one arrives for a short wait (or at
//! once if every voter agrees). A peer that joins a running ensemble
//! follows the leader a quorum of following/leading peers report, if that
//! leader itself says it leads.

use std::collections::BTreeMap;

use crate::message::{Notification, PeerState, Vote};
use crate::Sid;

/// The election state of one peer.
#[derive(Debug)]
pub(crate) struct Election {
    me: Sid,
    voters: Vec<Sid>,
    /// The round (ZooKeeper's logical clock).
    pub(crate) round: u64,
    /// The vote this peer backs.
    pub(crate) proposal: Vote,
    /// This peer's own vote for itself (reset target of a new round).
    own: Vote,
    /// Votes of looking peers in this round, this peer's included.
    recv: BTreeMap<Sid, Vote>,
    /// What following and leading peers report.
    out_of_election: BTreeMap<Sid, Notification>,
    /// When the current proposal gained a quorum (the finalize wait runs
    /// from then).
    quorum_since: Option<u64>,
}

/// What the peer must do after a notification.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Reaction {
    /// Tell every peer the (changed) proposal.
    pub broadcast: bool,
    /// Tell the sender this peer's proposal (it is behind).
    pub reply: bool,
    /// The election is over: this peer leads if it is itself.
    pub decided: Option<Sid>,
}

impl Election {
    pub(crate) fn new(me: Sid, voters: Vec<Sid>) -> Election {
        let own = Vote {
            leader: me,
            zxid: 0,
            peer_epoch: 0,
        };
        Election {
            me,
            voters,
            round: 0,
            proposal: own,
            own,
            recv: BTreeMap::new(),
            out_of_election: BTreeMap::new(),
            quorum_since: None,
        }
    }

    /// Starts a new round backing `own` (this peer, its last zxid and
    /// current epoch).
    pub(crate) fn start(&mut self, own: Vote) {
        self.round += 1;
        self.own = own;
        self.proposal = own;
        self.recv.clear();
        self.recv.insert(self.me, own);
        self.out_of_election.clear();
        self.quorum_since = None;
    }

    /// Once the reign's epoch is known, the vote a following or leading
    /// peer reports names it, so every member of the reign reports the
    /// same (leader, epoch) whichever round it joined in.
    pub(crate) fn set_reign_epoch(&mut self, epoch: i64) {
        self.proposal.peer_epoch = epoch;
    }

    /// This peer's notification in `state`.
    pub(crate) fn notification(&self, state: PeerState) -> Notification {
        Notification {
            vote: self.proposal,
            election_epoch: self.round,
            state,
        }
    }

    fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    fn is_voter(&self, sid: Sid) -> bool {
        self.voters.contains(&sid)
    }

    /// Handles a notification while looking.
    pub(crate) fn on_notification(&mut self, from: Sid, n: Notification, now: u64) -> Reaction {
        let mut r = Reaction::default();
        if !self.is_voter(from) {
            return r;
        }
        match n.state {
            PeerState::Looking => {
                if n.election_epoch > self.round {
                    self.round = n.election_epoch;
                    self.recv.clear();
                    self.proposal = if n.vote.beats(&self.own) {
                        n.vote
                    } else {
                        self.own
                    };
                    self.quorum_since = None;
                    r.broadcast = true;
                } else if n.election_epoch < self.round {
                    r.reply = true;
                    return r;
                } else if n.vote.beats(&self.proposal) {
                    self.proposal = n.vote;
                    self.quorum_since = None;
                    r.broadcast = true;
                }
                self.recv.insert(from, n.vote);
                self.recv.insert(self.me, self.proposal);
                let backing = self.backing(&self.proposal);
                if backing == self.voters.len() {
                    r.decided = Some(self.proposal.leader);
                } else if backing >= self.quorum() {
                    self.quorum_since.get_or_insert(now);
                } else {
                    self.quorum_since = None;
                }
            }
            PeerState::Following | PeerState::Leading => {
                self.out_of_election.insert(from, n);
                if n.election_epoch == self.round {
                    self.recv.insert(from, n.vote);
                    if self.backing(&n.vote) >= self.quorum() && self.leader_confirmed(&n) {
                        self.proposal = n.vote;
                        r.decided = Some(n.vote.leader);
                        return r;
                    }
                }
                // Peers outside an election may have joined the reign in
                // different rounds and seen different zxids since: they
                // agree if they name the same leader and epoch (as
                // ZooKeeper's Vote.equals for non-looking votes).
                let outside = self
                    .out_of_election
                    .values()
                    .filter(|m| same_reign(&m.vote, &n.vote))
                    .count();
                if outside >= self.quorum() && self.leader_confirmed(&n) {
                    self.round = n.election_epoch;
                    self.proposal = n.vote;
                    r.decided = Some(n.vote.leader);
                }
            }
        }
        r
    }

    /// The finalize wait is over and the proposal still has a quorum.
    pub(crate) fn on_tick(&mut self, now: u64, finalize_wait_ms: u64) -> Option<Sid> {
        let since = self.quorum_since?;
        (now.saturating_sub(since) >= finalize_wait_ms
            && self.backing(&self.proposal) >= self.quorum())
        .then_some(self.proposal.leader)
    }

    /// The other peers whose votes of this round this peer heard: looking
    /// peers, and any following or leading peer of the same round.
    pub(crate) fn peers_heard(&self) -> impl Iterator<Item = Sid> + '_ {
        self.recv.keys().copied().filter(move |p| *p != self.me)
    }

    fn backing(&self, v: &Vote) -> usize {
        self.recv.values().filter(|x| *x == v).count()
    }

    /// A reported leader counts only if it says itself that it leads (or
    /// is this peer, in this round).
    fn leader_confirmed(&self, n: &Notification) -> bool {
        let leader = n.vote.leader;
        if leader == self.me {
            return self.round == n.election_epoch;
        }
        self.out_of_election
            .get(&leader)
            .is_some_and(|m| m.state == PeerState::Leading && same_reign(&m.vote, &n.vote))
    }
}

fn same_reign(a: &Vote, b: &Vote) -> bool {
    a.leader == b.leader && a.peer_epoch == b.peer_epoch
}
