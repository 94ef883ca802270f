//! The protocol against simulated peers: FIFO links that can be cut,
//! disks that make appends durable only when the test says so, crashes
//! that lose what was not durable, and a clock the test moves. Random
//! schedules (seeded) check ZAB's safety properties; the end of each run
//! heals everything and checks that the ensemble converges.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::{make_zxid, Command, EpochKind, Message, Persisted, Role, Sid, Zab, ZabConfig, Zxid};

const TICK: u64 = 100;

fn trace() -> bool {
    std::env::var("ZAB_SIM_TRACE").is_ok()
}

/// A tiny deterministic generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

type Txn = (Zxid, Vec<u8>);

#[derive(Default)]
struct Disk {
    accepted: i64,
    current: i64,
    /// Durable log (the state recovers to all of it).
    log: Vec<Txn>,
    /// Appended, not yet durable; `None` marks a snapshot install.
    pending: VecDeque<Pending>,
}

enum Pending {
    Append(Txn),
    Install(Vec<Txn>),
}

struct Node {
    zab: Option<Zab>,
    disk: Disk,
    /// Logged and not applied (in memory).
    unapplied: VecDeque<Txn>,
    /// The applied state: every txn applied, in order.
    applied: Vec<Txn>,
    role: Role,
}

struct Sim {
    now: u64,
    nodes: BTreeMap<Sid, Node>,
    /// Messages in flight per directed link.
    links: BTreeMap<(Sid, Sid), VecDeque<Message>>,
    /// Links that are cut (both directions stored).
    cut: BTreeSet<(Sid, Sid)>,
    /// Txns some leader committed (told a client): must never be lost.
    acknowledged: BTreeMap<Zxid, Vec<u8>>,
    /// Established leaders per epoch.
    leaders: BTreeMap<i64, BTreeSet<Sid>>,
    next_payload: u64,
    snaps: u64,
    /// Syncs by diff from a leader's on-disk log.
    log_diffs: u64,
    voters: u64,
}

/// Peers 1..=voters vote; the next `observers` ids observe.
fn config(me: Sid, voters: u64, observers: u64) -> ZabConfig {
    let mut c = ZabConfig::new(me, (1..=voters).collect(), TICK, 10, 5);
    c.observers = (voters + 1..=voters + observers).collect();
    c.window_txns = 20; // small, so some syncs go by snapshot
    c
}

fn encode_state(txns: &[Txn]) -> Vec<u8> {
    let mut out = Vec::new();
    for (z, t) in txns {
        out.extend_from_slice(&z.to_be_bytes());
        out.extend_from_slice(&(t.len() as u32).to_be_bytes());
        out.extend_from_slice(t);
    }
    out
}

fn decode_state(mut b: &[u8]) -> Vec<Txn> {
    let mut v = Vec::new();
    while !b.is_empty() {
        let z = i64::from_be_bytes(b[..8].try_into().unwrap());
        let n = u32::from_be_bytes(b[8..12].try_into().unwrap()) as usize;
        v.push((z, b[12..12 + n].to_vec()));
        b = &b[12 + n..];
    }
    v
}

impl Sim {
    fn new(n: u64) -> Sim {
        Sim::with_observers(n, 0)
    }

    fn with_observers(voters: u64, observers: u64) -> Sim {
        let n = voters + observers;
        let mut sim = Sim {
            voters,
            now: 1_000,
            nodes: BTreeMap::new(),
            links: BTreeMap::new(),
            cut: BTreeSet::new(),
            acknowledged: BTreeMap::new(),
            leaders: BTreeMap::new(),
            next_payload: 0,
            snaps: 0,
            log_diffs: 0,
        };
        for id in 1..=n {
            sim.nodes.insert(
                id,
                Node {
                    zab: None,
                    disk: Disk::default(),
                    unapplied: VecDeque::new(),
                    applied: Vec::new(),
                    role: Role::Looking,
                },
            );
        }
        for id in 1..=n {
            sim.boot(id);
        }
        sim
    }

    fn link_up(&self, a: Sid, b: Sid) -> bool {
        a != b
            && self.nodes[&a].zab.is_some()
            && self.nodes[&b].zab.is_some()
            && !self.cut.contains(&(a, b))
    }

    fn boot(&mut self, id: Sid) {
        let (voters, observers) = (self.voters, self.nodes.len() as u64 - self.voters);
        if trace() {
            eprintln!("t={} BOOT {id}", self.now);
        }
        let node = self.nodes.get_mut(&id).unwrap();
        node.disk.pending.clear();
        node.applied = node.disk.log.clone();
        node.unapplied.clear();
        let last = node.disk.log.last().map(|t| t.0).unwrap_or(0);
        let mut zab = Zab::new(
            config(id, voters, observers),
            Persisted {
                accepted_epoch: node.disk.accepted,
                current_epoch: node.disk.current,
                last_zxid: last,
            },
        );
        zab.start(self.now);
        node.zab = Some(zab);
        node.role = Role::Looking;
        self.run(id);
        let peers: Vec<Sid> = self.nodes.keys().copied().filter(|p| *p != id).collect();
        for p in peers {
            if self.link_up(id, p) {
                self.with(id, |z, now| z.on_peer_up(now, p));
                self.with(p, |z, now| z.on_peer_up(now, id));
            }
        }
    }

    fn crash(&mut self, id: Sid) {
        if self.nodes[&id].zab.is_none() {
            return;
        }
        if trace() {
            eprintln!(
                "t={} CRASH {id} durable log {:?}",
                self.now,
                self.nodes[&id]
                    .disk
                    .log
                    .iter()
                    .map(|t| t.0)
                    .collect::<Vec<_>>()
            );
        }
        self.nodes.get_mut(&id).unwrap().zab = None;
        self.drop_links_of(id);
    }

    fn drop_links_of(&mut self, id: Sid) {
        let peers: Vec<Sid> = self.nodes.keys().copied().filter(|p| *p != id).collect();
        for p in peers {
            self.links.remove(&(id, p));
            self.links.remove(&(p, id));
            if self.nodes[&p].zab.is_some() {
                self.with(p, |z, now| z.on_peer_down(now, id));
            }
        }
    }

    fn set_cut(&mut self, a: Sid, b: Sid, cut: bool) {
        let was_up = self.link_up(a, b);
        if cut {
            self.cut.insert((a, b));
            self.cut.insert((b, a));
        } else {
            self.cut.remove(&(a, b));
            self.cut.remove(&(b, a));
        }
        let is_up = self.link_up(a, b);
        if was_up && !is_up {
            self.links.remove(&(a, b));
            self.links.remove(&(b, a));
            self.with(a, |z, now| z.on_peer_down(now, b));
            self.with(b, |z, now| z.on_peer_down(now, a));
        } else if !was_up && is_up {
            self.with(a, |z, now| z.on_peer_up(now, b));
            self.with(b, |z, now| z.on_peer_up(now, a));
        }
    }

    fn with(&mut self, id: Sid, f: impl FnOnce(&mut Zab, u64)) {
        let now = self.now;
        if let Some(z) = self.nodes.get_mut(&id).unwrap().zab.as_mut() {
            f(z, now);
            self.run(id);
        }
    }

    /// Carries out a node's commands.
    fn run(&mut self, id: Sid) {
        loop {
            let cmds = match self.nodes.get_mut(&id).unwrap().zab.as_mut() {
                Some(z) => z.take_commands(),
                None => return,
            };
            if cmds.is_empty() {
                return;
            }
            for c in cmds {
                self.exec(id, c);
            }
        }
    }

    fn exec(&mut self, id: Sid, c: Command) {
        if trace() {
            match &c {
                Command::Send {
                    to,
                    msg: Message::Ping,
                } => {
                    let _ = to;
                }
                Command::Send {
                    to,
                    msg: Message::Notification(_),
                } => {
                    let _ = to;
                }
                c => eprintln!("t={} node {id}: {c:?}", self.now),
            }
        }
        match c {
            Command::Send { to, msg } => {
                if self.link_up(id, to) {
                    self.links.entry((id, to)).or_default().push_back(msg);
                }
            }
            Command::Log { zxid, txn } => {
                let node = self.nodes.get_mut(&id).unwrap();
                node.unapplied.push_back((zxid, txn.clone()));
                node.disk.pending.push_back(Pending::Append((zxid, txn)));
            }
            Command::Commit { zxid } => {
                let node = self.nodes.get_mut(&id).unwrap();
                while node.unapplied.front().is_some_and(|t| t.0 <= zxid) {
                    let t = node.unapplied.pop_front().unwrap();
                    if let Some(last) = node.applied.last() {
                        assert!(
                            t.0 > last.0,
                            "node {id} applies {:#x} after {:#x}",
                            t.0,
                            last.0
                        );
                    }
                    node.applied.push(t);
                }
                assert!(
                    node.applied.last().map(|t| t.0).unwrap_or(0) >= zxid
                        || node.applied.is_empty() && zxid == 0,
                    "node {id} told to commit {zxid:#x} it does not have"
                );
                if matches!(node.role, Role::Leading { serving: true, .. }) {
                    let acked = &mut self.acknowledged;
                    let new: Vec<Txn> = node
                        .applied
                        .iter()
                        .rev()
                        .take_while(|t| !acked.contains_key(&t.0))
                        .cloned()
                        .collect();
                    acked.extend(new);
                }
            }
            Command::SendSnapshot { to, zxid } => {
                let node = &self.nodes[&id];
                assert_eq!(node.applied.last().map(|t| t.0).unwrap_or(0), zxid);
                let state = encode_state(&node.applied);
                self.snaps += 1;
                if self.link_up(id, to) {
                    self.links
                        .entry((id, to))
                        .or_default()
                        .push_back(Message::Snapshot { zxid, state });
                }
            }
            Command::ReadLog { to, after, upto } => {
                let node = self.nodes.get_mut(&id).unwrap();
                let log = &node.disk.log;
                let txns = log.iter().position(|t| t.0 == after).and_then(|i| {
                    let end = log.iter().position(|t| t.0 == upto)?;
                    (end > i).then(|| log[i + 1..=end].to_vec())
                });
                if txns.is_some() {
                    self.log_diffs += 1;
                }
                // Answered at once; the commands it makes run after this batch's.
                if let Some(z) = node.zab.as_mut() {
                    z.on_log_read(to, after, upto, txns);
                }
            }
            Command::InstallSnapshot { zxid, state } => {
                let node = self.nodes.get_mut(&id).unwrap();
                let txns = decode_state(&state);
                assert_eq!(txns.last().map(|t| t.0).unwrap_or(0), zxid);
                node.applied = txns.clone();
                node.unapplied.clear();
                node.disk.pending.push_back(Pending::Install(txns));
            }
            Command::PersistEpoch { which, epoch } => {
                let d = &mut self.nodes.get_mut(&id).unwrap().disk;
                match which {
                    EpochKind::Accepted => d.accepted = epoch,
                    EpochKind::Current => d.current = epoch,
                }
            }
            Command::Role(r) => {
                if let Role::Leading {
                    epoch,
                    serving: true,
                } = r
                {
                    let l = self.leaders.entry(epoch).or_default();
                    l.insert(id);
                    assert_eq!(
                        l.len(),
                        1,
                        "two leaders established in epoch {epoch}: {l:?}"
                    );
                }
                self.nodes.get_mut(&id).unwrap().role = r;
            }
            Command::App { .. } => {}
        }
    }

    /// Makes one node's pending appends durable.
    fn fsync(&mut self, id: Sid) {
        if trace() && !self.nodes[&id].disk.pending.is_empty() {
            eprintln!("t={} FSYNC {id}", self.now);
        }
        let node = self.nodes.get_mut(&id).unwrap();
        if node.zab.is_none() || node.disk.pending.is_empty() {
            return;
        }
        let mut last = None;
        while let Some(p) = node.disk.pending.pop_front() {
            match p {
                Pending::Append(t) => {
                    last = Some(t.0);
                    node.disk.log.push(t);
                }
                Pending::Install(txns) => {
                    last = Some(txns.last().map(|t| t.0).unwrap_or(0));
                    node.disk.log = txns;
                }
            }
        }
        let z = last.unwrap();
        self.with(id, |zab, now| zab.on_durable(now, z));
    }

    fn deliver(&mut self, from: Sid, to: Sid) {
        let Some(m) = self.links.get_mut(&(from, to)).and_then(|q| q.pop_front()) else {
            return;
        };
        if trace() && !matches!(m, Message::Ping | Message::Notification(_)) {
            eprintln!("t={} deliver {from}->{to}: {m:?}", self.now);
        }
        self.with(to, |z, now| z.on_message(now, from, m));
    }

    fn tick(&mut self, ms: u64) {
        self.now += ms;
        let ids: Vec<Sid> = self.nodes.keys().copied().collect();
        for id in ids {
            self.with(id, |z, now| z.on_tick(now));
        }
    }

    fn propose(&mut self) {
        let ids: Vec<Sid> = self.nodes.keys().copied().collect();
        for id in ids {
            let node = self.nodes.get_mut(&id).unwrap();
            let Some(zab) = node.zab.as_mut() else {
                continue;
            };
            if let Role::Leading {
                epoch,
                serving: true,
            } = zab.role()
            {
                let (logged, _, _) = zab.zxids();
                let counter = if crate::epoch_of(logged) == epoch {
                    (logged & 0xffff_ffff) as u32 + 1
                } else {
                    1
                };
                self.next_payload += 1;
                let payload = format!("txn-{}", self.next_payload).into_bytes();
                assert!(zab.propose(make_zxid(epoch, counter), payload));
                self.run(id);
            }
        }
    }

    /// Delivers everything, fsyncs everything and ticks until quiet.
    fn settle(&mut self, rounds: usize) {
        for _ in 0..rounds {
            let mut moved = false;
            let links: Vec<(Sid, Sid)> = self.links.keys().copied().collect();
            for (a, b) in links {
                while self.links.get(&(a, b)).is_some_and(|q| !q.is_empty()) {
                    self.deliver(a, b);
                    moved = true;
                }
            }
            let ids: Vec<Sid> = self.nodes.keys().copied().collect();
            for id in ids {
                if !self.nodes[&id].disk.pending.is_empty() {
                    self.fsync(id);
                    moved = true;
                }
            }
            if !moved {
                self.tick(TICK / 2);
            }
        }
    }

    fn role(&self, id: Sid) -> Role {
        self.nodes[&id].zab.as_ref().unwrap().role()
    }

    fn serving_leader(&self) -> Option<Sid> {
        self.nodes.iter().find_map(|(id, n)| {
            matches!(n.zab.as_ref()?.role(), Role::Leading { serving: true, .. }).then_some(*id)
        })
    }

    fn all_serving(&self) -> bool {
        self.nodes.values().all(|n| {
            n.zab.as_ref().is_some_and(|z| {
                matches!(
                    z.role(),
                    Role::Leading { serving: true, .. } | Role::Following { serving: true, .. }
                )
            })
        })
    }

    /// The applied states of serving peers are prefixes of each other
    /// (one history). A peer that restarted holds its whole log, committed
    /// or not, until it syncs; it serves nothing meanwhile.
    fn check_prefixes(&self) {
        let states: Vec<(&Sid, &Vec<Txn>)> = self
            .nodes
            .iter()
            .filter(|(_, n)| {
                n.zab.as_ref().is_some_and(|z| {
                    matches!(
                        z.role(),
                        Role::Leading { serving: true, .. } | Role::Following { serving: true, .. }
                    )
                })
            })
            .map(|(id, n)| (id, &n.applied))
            .collect();
        for (a, sa) in &states {
            for (b, sb) in &states {
                let n = sa.len().min(sb.len());
                assert_eq!(
                    &sa[..n],
                    &sb[..n],
                    "nodes {a} and {b} applied different histories"
                );
            }
        }
    }
}

#[test]
fn three_peers_elect_the_highest_id_and_commit() {
    let mut sim = Sim::new(3);
    sim.settle(50);
    assert_eq!(sim.serving_leader(), Some(3));
    assert!(sim.all_serving());
    for _ in 0..10 {
        sim.propose();
    }
    sim.settle(50);
    for n in sim.nodes.values() {
        assert_eq!(n.applied.len(), 10);
    }
    sim.check_prefixes();
}

/// Servers 1 and 2 elect 2; server 3, the better candidate, comes up
/// just after 2 has decided but before 1 has (its finalize wait ends at a
/// later tick), and 3's vote reaches 1 before 2's word that it leads, so 1
/// switches to 3 and 3 leads with it. Server 2, elected by nobody who
/// still backs it, must not sit out initLimit waiting for followers: it
/// elects again and follows 3 well before then.
#[test]
fn a_leader_no_quorum_backs_any_more_elects_again_at_once() {
    let mut sim = two_vote_without(3, [1, 2], &[2]);
    assert!(matches!(sim.role(2), Role::Leading { serving: false, .. }));
    assert!(matches!(sim.role(1), Role::Looking));
    let t0 = sim.now;
    sim.boot(3);
    sim.deliver(3, 1);
    // Well under initLimit (10 ticks of 100 ms).
    for _ in 0..40 {
        sim.settle(1);
        if sim.all_serving() {
            break;
        }
    }
    assert!(sim.all_serving(), "not serving after {} ms", sim.now - t0);
    assert!(sim.now - t0 < 10 * TICK, "{} ms", sim.now - t0);
    assert_eq!(sim.serving_leader(), Some(3));
}

/// Three peers, `down` crashed: the other two exchange votes (both back
/// the higher id), then the finalize wait passes, seen only by `ticked`.
fn two_vote_without(down: Sid, [a, b]: [Sid; 2], ticked: &[Sid]) -> Sim {
    let mut sim = Sim::new(3);
    sim.crash(down);
    for _ in 0..4 {
        sim.deliver(a, b);
        sim.deliver(b, a);
    }
    sim.now += 201;
    for &id in ticked {
        sim.with(id, |z, now| z.on_tick(now));
    }
    sim
}

/// Servers 2 and 3, with 1 down, back 3; 2's finalize wait ends and it
/// follows 3, and with `three_decides` so does 3's: it leads.
fn two_and_three_elect_three(three_decides: bool) -> Sim {
    let ticked: &[Sid] = if three_decides { &[2, 3] } else { &[2] };
    let sim = two_vote_without(1, [2, 3], ticked);
    assert!(matches!(sim.role(2), Role::Following { leader: 3, .. }));
    if three_decides {
        assert!(matches!(sim.role(3), Role::Leading { .. }));
    } else {
        assert!(matches!(sim.role(3), Role::Looking));
    }
    sim
}

/// Delivers what is queued on `links` in rounds, no time passing, then
/// server 1 must follow 3.
fn one_follows_three_at_once(sim: &mut Sim, links: &[(Sid, Sid)]) {
    for _ in 0..4 {
        for &(a, b) in links {
            sim.deliver(a, b);
        }
    }
    assert!(
        matches!(sim.role(1), Role::Following { leader: 3, .. }),
        "server 1 is {:?} with no time passed",
        sim.role(1)
    );
}

/// Servers 2 and 3 back 3; 2's finalize wait ends first and it follows
/// 3. Server 1 comes up then, takes up 3's vote (a quorum with 3: its own
/// finalize wait starts) and tells 3, which now has every voter's vote and
/// leads at once. Server 1 must hear at once that 3 leads, not only when
/// its finalize wait ends (200 ms on, after the whole ensemble restarted
/// and this peer finished loading last).
#[test]
fn a_peer_that_decides_tells_the_looking_peers_it_heard() {
    let mut sim = two_and_three_elect_three(false);
    sim.boot(1);
    sim.deliver(3, 1);
    for _ in 0..4 {
        sim.deliver(1, 3);
    }
    assert!(matches!(sim.role(3), Role::Leading { .. }));
    // Not 2 and 3's discovery: the epoch is not what 1 waits for here.
    one_follows_three_at_once(&mut sim, &[(1, 2), (2, 1), (3, 1)]);
}

/// Server 1 comes up while 3 leads and 2 follows it but the reign's
/// epoch is not decided yet: 2 answers 1's vote naming the old epoch, 3
/// the new one, so 1 cannot count 2 as 3's follower. Once 2 learns the
/// epoch it must say so, and 1 follow 3 with no time passed (it would
/// otherwise wait for its next notification, 400 ms on).
#[test]
fn a_peer_hears_the_reigns_epoch_from_every_member_at_once() {
    let mut sim = two_and_three_elect_three(true);
    sim.boot(1);
    sim.deliver(1, 2); // 2 answers: following 3, old epoch
    sim.deliver(2, 3); // 2's FOLLOWERINFO: 3 decides the epoch
    sim.deliver(2, 1);
    sim.deliver(1, 3); // 3 answers: leading, new epoch
    sim.deliver(3, 1);
    assert!(matches!(sim.role(1), Role::Looking));
    let all = [(3, 2), (2, 1), (3, 1), (2, 3), (1, 2), (1, 3)];
    one_follows_three_at_once(&mut sim, &all);
}

#[test]
fn a_proposal_waits_for_a_quorum_to_make_it_durable() {
    let mut sim = Sim::new(3);
    sim.settle(50);
    let leader = sim.serving_leader().unwrap();
    sim.propose();
    // Deliver the proposal but make nothing durable: not committed.
    let others: Vec<Sid> = sim.nodes.keys().copied().filter(|i| *i != leader).collect();
    for &o in &others {
        sim.deliver(leader, o);
    }
    assert!(sim.nodes[&leader].applied.is_empty());
    sim.fsync(leader);
    assert!(
        sim.nodes[&leader].applied.is_empty(),
        "committed on the leader's fsync alone"
    );
    sim.fsync(others[0]);
    sim.deliver(others[0], leader);
    assert_eq!(
        sim.nodes[&leader].applied.len(),
        1,
        "a quorum made it durable"
    );
}

#[test]
fn the_leader_fails_over_and_nothing_committed_is_lost() {
    let mut sim = Sim::new(3);
    sim.settle(50);
    for _ in 0..30 {
        sim.propose();
        sim.settle(3);
    }
    sim.settle(20);
    let old = sim.serving_leader().unwrap();
    sim.crash(old);
    sim.settle(400);
    let new = sim.serving_leader().expect("a new leader");
    assert_ne!(new, old);
    for _ in 0..5 {
        sim.propose();
    }
    sim.settle(20);
    sim.boot(old);
    sim.settle(400);
    assert!(sim.all_serving());
    sim.check_prefixes();
    for n in sim.nodes.values() {
        assert_eq!(n.applied.len(), 35);
    }
}

/// A follower that was down while more txns committed than the window
/// holds rejoins (with `lose_log`, after the leader's log lost them);
/// returns how it was synced: (diffs from the log, snapshots).
fn rejoin_after_the_window(lose_log: bool) -> (u64, u64) {
    let mut sim = Sim::new(3);
    sim.settle(50);
    let leader = sim.serving_leader().unwrap();
    let down = if leader == 1 { 2 } else { 1 };
    for _ in 0..5 {
        sim.propose();
    }
    sim.settle(20);
    sim.crash(down);
    for _ in 0..60 {
        sim.propose();
        sim.settle(3);
    }
    sim.settle(20);
    if lose_log {
        let log = &mut sim.nodes.get_mut(&leader).unwrap().disk.log;
        log.drain(..10);
    }
    let snaps = sim.snaps;
    sim.boot(down);
    sim.settle(400);
    assert!(sim.all_serving());
    assert_eq!(sim.serving_leader(), Some(leader));
    sim.check_prefixes();
    for n in sim.nodes.values() {
        assert_eq!(n.applied.len(), 65);
    }
    (sim.log_diffs, sim.snaps - snaps)
}

#[test]
fn a_follower_behind_the_window_syncs_by_diff_from_the_leaders_log() {
    assert_eq!(rejoin_after_the_window(false), (1, 0));
}

#[test]
fn a_follower_behind_the_leaders_log_gets_a_snapshot() {
    assert_eq!(rejoin_after_the_window(true), (0, 1));
}

#[test]
fn a_minority_makes_no_progress() {
    let mut sim = Sim::new(3);
    sim.settle(50);
    let leader = sim.serving_leader().unwrap();
    for id in 1..=3 {
        if id != leader {
            sim.crash(id);
        }
    }
    sim.settle(400);
    assert_eq!(sim.serving_leader(), None);
}

#[test]
fn an_observer_follows_the_leader_but_counts_toward_no_quorum() {
    let mut sim = Sim::with_observers(3, 1);
    sim.settle(50);
    let leader = sim.serving_leader().expect("a leader");
    assert!(leader <= 3, "the observer leads");
    assert!(sim.all_serving(), "the observer serves too");
    for _ in 0..10 {
        sim.propose();
    }
    sim.settle(50);
    for n in sim.nodes.values() {
        assert_eq!(n.applied.len(), 10);
    }
    // Without the observer, the voters go on.
    sim.crash(4);
    sim.propose();
    sim.settle(50);
    assert_eq!(sim.nodes[&leader].applied.len(), 11);
    sim.boot(4);
    sim.settle(200);
    assert_eq!(sim.nodes[&4].applied.len(), 11, "the observer caught up");
    // The observer and one voter are no quorum.
    for id in 1..=3 {
        if id != leader {
            sim.crash(id);
        }
    }
    sim.settle(400);
    assert_eq!(sim.serving_leader(), None);
    let acked = sim.acknowledged.len();
    sim.settle(100);
    assert_eq!(
        sim.acknowledged.len(),
        acked,
        "committed without a quorum of voters"
    );
}

fn random_run(seed: u64, steps: usize) {
    let mut rng = Rng(seed | 1);
    let voters = if seed % 3 == 0 { 5 } else { 3 };
    let observers = u64::from(seed % 4 == 1);
    let n = voters + observers;
    let mut sim = Sim::with_observers(voters, observers);
    for _ in 0..steps {
        let ids: Vec<Sid> = sim.nodes.keys().copied().collect();
        let a = ids[rng.below(n) as usize];
        let b = ids[rng.below(n) as usize];
        match rng.below(1000) {
            0..=599 => sim.deliver(a, b),
            600..=749 => sim.fsync(a),
            750..=849 => sim.tick(rng.below(TICK / 2)),
            850..=979 => sim.propose(),
            980..=984 => sim.crash(a),
            985..=989 => {
                if sim.nodes[&a].zab.is_none() {
                    sim.boot(a)
                }
            }
            990..=994 => {
                if a != b {
                    sim.set_cut(a, b, true)
                }
            }
            _ => {
                if a != b {
                    sim.set_cut(a, b, false)
                }
            }
        }
        sim.check_prefixes();
    }
    // Heal: every link, every peer.
    let ids: Vec<Sid> = sim.nodes.keys().copied().collect();
    for &a in &ids {
        for &b in &ids {
            if a < b {
                sim.set_cut(a, b, false);
            }
        }
    }
    for &a in &ids {
        if sim.nodes[&a].zab.is_none() {
            sim.boot(a);
        }
    }
    for _ in 0..40 {
        sim.settle(50);
        if sim.all_serving() {
            break;
        }
    }
    if !sim.all_serving() {
        for (id, n) in &sim.nodes {
            let z = n.zab.as_ref().unwrap();
            eprintln!(
                "node {id}: {:?} zxids {:x?} epochs {:?} election {:?}",
                z.role(),
                z.zxids(),
                z.epochs(),
                z.debug_state()
            );
        }
        for ((a, b), q) in &sim.links {
            if !q.is_empty() {
                eprintln!("link {a}->{b}: {q:?}");
            }
        }
    }
    assert!(
        sim.all_serving(),
        "seed {seed}: the ensemble did not converge"
    );
    sim.propose();
    sim.settle(100);
    sim.check_prefixes();
    let first = sim.nodes.values().next().unwrap().applied.clone();
    if std::env::var("ZAB_SIM_STATS").is_ok() {
        eprintln!(
            "seed {seed}: epochs {} acked {} final {} snaps {} log diffs {}",
            sim.leaders.len(),
            sim.acknowledged.len(),
            first.len(),
            sim.snaps,
            sim.log_diffs
        );
    }
    for (id, node) in &sim.nodes {
        assert_eq!(
            node.applied, first,
            "seed {seed}: node {id} differs after healing"
        );
    }
    for (z, t) in &sim.acknowledged {
        assert!(
            first.iter().any(|(fz, ft)| fz == z && ft == t),
            "seed {seed}: acknowledged txn {z:#x} lost"
        );
    }
}

#[test]
fn random_schedules_keep_one_history() {
    let seeds: u64 = std::env::var("ZAB_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let only: Option<u64> = std::env::var("ZAB_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok());
    let steps: usize = std::env::var("ZAB_SIM_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3_000);
    if let Some(seed) = only {
        return random_run(seed, steps);
    }
    for seed in 1..=seeds {
        random_run(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), steps);
    }
}
