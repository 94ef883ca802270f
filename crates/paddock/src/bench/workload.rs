//! What each session asks for next: one small state machine per session,
//! with a slot per pipelined request (`--depth` slots).
//!
//! Paths are formatted into one reused `String`; nothing allocates per
//! operation once a session runs.
//!
//! Layout under `--base` (B):
//! - `B/keys/k{i}`: the key set of set, get, exists and mixed;
//! - `B/c{session}/n{seq}`: nodes made by create and removed by delete;
//! - `B/lock/lock-{seq}`: churn's ephemeral-sequential nodes;
//! - `B/watch`: the node the watch workload sets;
//! - `B/populate/b{i / 1000}/n{i}`: populate's nodes.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use proto::request::create_mode;

use super::args::Workload;
use super::client::{created_path, Outbox, Reply};

/// Znodes per bucket parent in `populate`.
pub const POPULATE_BUCKET: u64 = 1000;

/// The kind of a request in flight (decides what its reply means).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// A plain request whose reply only counts.
    Plain,
    /// Churn's create: its reply names the node to delete next.
    ChurnCreate,
}

/// Settings shared by every session of a workload.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The workload.
    pub workload: Workload,
    /// `--base`.
    pub base: String,
    /// The value written by creates and sets.
    pub value: Arc<[u8]>,
    /// Size of the key set.
    pub keys: u64,
    /// Share of reads in mixed, percent.
    pub read_pct: u32,
    /// Populate: next index to create, shared by all sessions.
    pub populate_next: Arc<AtomicU64>,
    /// Populate: how many to create.
    pub populate_count: u64,
    /// Create: stop each session at this sequence number (0: never).
    pub create_until: u64,
    /// Delete: per session, the sequence number to start at (what an earlier
    /// delete reached); `Some` also makes the run go until nothing is left.
    pub delete_from: Option<Arc<[u64]>>,
    /// Open loop at this many ops/s over all sessions (`--rate`); `None`:
    /// closed loop, as fast as the server answers.
    pub rate: Option<f64>,
}

/// One session's generator.
pub struct Gen {
    plan: Plan,
    session: usize,
    rng: u64,
    path: String,
    /// Create: next sequence number; delete: how many create made.
    pub created: u64,
    /// Delete: the next sequence number to delete.
    pub deleted: u64,
    /// Churn: per slot, the node to delete next (empty: create next).
    churn_pending: Vec<String>,
}

impl Gen {
    /// A generator for session number `session` with `depth` slots;
    /// `created` is what an earlier create left for delete.
    pub fn new(plan: Plan, session: usize, depth: usize, created: u64) -> Gen {
        let deleted = plan
            .delete_from
            .as_ref()
            .and_then(|d| d.get(session).copied())
            .unwrap_or(0);
        Gen {
            plan,
            session,
            rng: 0x9E37_79B9_7F4A_7C15 ^ (session as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
            path: String::with_capacity(128),
            deleted,
            created,
            churn_pending: vec![String::with_capacity(64); depth],
        }
    }

    fn random(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn key_path(&mut self) {
        let k = self.random() % self.plan.keys;
        self.path.clear();
        let _ = write!(self.path, "{}/keys/k{k}", self.plan.base);
    }

    /// Encodes the next request of `slot` into `out`; `None` when this slot
    /// has nothing more to do (delete and populate run out).
    pub fn next(&mut self, slot: usize, out: &mut Outbox) -> Option<(i32, Tag)> {
        let base = &self.plan.base;
        let value = &self.plan.value;
        let xid = match self.plan.workload {
            Workload::Create => {
                if self.plan.create_until > 0 && self.created >= self.plan.create_until {
                    return None;
                }
                self.path.clear();
                let _ = write!(self.path, "{base}/c{}/n{}", self.session, self.created);
                self.created += 1;
                out.create(&self.path, value, create_mode::PERSISTENT)
            }
            Workload::Delete => {
                if self.deleted >= self.created {
                    return None;
                }
                self.path.clear();
                let _ = write!(self.path, "{base}/c{}/n{}", self.session, self.deleted);
                self.deleted += 1;
                out.delete(&self.path)
            }
            Workload::Set => {
                self.key_path();
                out.set_data(&self.path, &self.plan.value)
            }
            Workload::Get => {
                self.key_path();
                out.get_data(&self.path, false)
            }
            Workload::Exists => {
                self.key_path();
                out.exists(&self.path, false)
            }
            Workload::Mixed => {
                let read = self.random() % 100 < u64::from(self.plan.read_pct);
                self.key_path();
                if read {
                    out.get_data(&self.path, false)
                } else {
                    out.set_data(&self.path, &self.plan.value)
                }
            }
            Workload::Churn => return Some(self.churn(slot, out)),
            Workload::Populate => {
                let i = self.plan.populate_next.fetch_add(1, Ordering::Relaxed);
                if i >= self.plan.populate_count {
                    return None;
                }
                self.path.clear();
                let _ = write!(self.path, "{base}/populate/b{}/n{i}", i / POPULATE_BUCKET);
                out.create(&self.path, value, create_mode::PERSISTENT)
            }
            Workload::Watch => unreachable!("watch runs its own sessions"),
        };
        Some((xid, Tag::Plain))
    }

    fn churn(&mut self, slot: usize, out: &mut Outbox) -> (i32, Tag) {
        let pending = &mut self.churn_pending[slot];
        if pending.is_empty() {
            self.path.clear();
            let _ = write!(self.path, "{}/lock/lock-", self.plan.base);
            let xid = out.create(
                &self.path,
                &self.plan.value,
                create_mode::EPHEMERAL_SEQUENTIAL,
            );
            (xid, Tag::ChurnCreate)
        } else {
            let xid = out.delete(pending);
            pending.clear();
            (xid, Tag::Plain)
        }
    }

    /// Takes note of the reply to a request of `slot` tagged `tag`.
    pub fn on_reply(&mut self, slot: usize, tag: Tag, reply: &Reply<'_>) {
        if tag == Tag::ChurnCreate && reply.err == 0 {
            if let Some(path) = created_path(reply.body) {
                self.churn_pending[slot].push_str(path);
            }
        }
    }
}

/// The parents a workload needs before it starts, in creation order.
pub fn parents(plan: &Plan, sessions: usize) -> Vec<String> {
    let base = &plan.base;
    match plan.workload {
        Workload::Create | Workload::Delete => {
            (0..sessions).map(|s| format!("{base}/c{s}")).collect()
        }
        Workload::Set | Workload::Get | Workload::Exists | Workload::Mixed => {
            vec![format!("{base}/keys")]
        }
        Workload::Churn => vec![format!("{base}/lock")],
        Workload::Watch => vec![format!("{base}/watch")],
        Workload::Populate => {
            let buckets = plan.populate_count.div_ceil(POPULATE_BUCKET);
            std::iter::once(format!("{base}/populate"))
                .chain((0..buckets).map(|b| format!("{base}/populate/b{b}")))
                .collect()
        }
    }
}

/// The key set's paths.
pub fn key_paths(plan: &Plan) -> impl Iterator<Item = String> + '_ {
    (0..plan.keys).map(move |k| format!("{}/keys/k{k}", plan.base))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small closed-loop plan for unit tests.
    pub(crate) fn plan(workload: Workload) -> Plan {
        Plan {
            workload,
            base: "/b".into(),
            value: Arc::from(&b"v"[..]),
            keys: 10,
            read_pct: 90,
            populate_next: Arc::new(AtomicU64::new(0)),
            populate_count: 3,
            create_until: 0,
            delete_from: None,
            rate: None,
        }
    }

    #[test]
    fn delete_stops_after_what_create_made() {
        let mut gen = Gen::new(plan(Workload::Delete), 0, 2, 2);
        let mut out = Outbox::for_tests();
        assert!(gen.next(0, &mut out).is_some());
        assert!(gen.next(1, &mut out).is_some());
        assert!(gen.next(0, &mut out).is_none());
    }

    #[test]
    fn populate_shares_one_counter_and_buckets_parents() {
        let p = plan(Workload::Populate);
        let mut a = Gen::new(p.clone(), 0, 1, 0);
        let mut b = Gen::new(p.clone(), 1, 1, 0);
        let mut out = Outbox::for_tests();
        let n = (0..5)
            .filter(|i| {
                let g = if i % 2 == 0 { &mut a } else { &mut b };
                g.next(0, &mut out).is_some()
            })
            .count();
        assert_eq!(n, 3);
        assert_eq!(parents(&p, 2), vec!["/b/populate", "/b/populate/b0"]);
    }

    #[test]
    fn churn_deletes_the_node_its_create_returned() {
        let mut gen = Gen::new(plan(Workload::Churn), 0, 1, 0);
        let mut out = Outbox::for_tests();
        let (_, tag) = gen.next(0, &mut out).unwrap();
        assert_eq!(tag, Tag::ChurnCreate);
        let mut body = Vec::new();
        proto::jute::Writer::write_string(&mut body, "/b/lock/lock-0000000001");
        let reply = Reply {
            xid: 1,
            err: 0,
            body: &body,
        };
        gen.on_reply(0, tag, &reply);
        assert_eq!(gen.next(0, &mut out).unwrap().1, Tag::Plain);
        assert_eq!(gen.next(0, &mut out).unwrap().1, Tag::ChurnCreate);
    }
}
