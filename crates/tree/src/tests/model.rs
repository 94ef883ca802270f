//! Differential test: random op sequences through prepare + apply, several
//! prepared before any is applied (exercising the outstanding changes),
//! against a naive model that executes each op atomically in zxid order.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proto::records::perms;
use proto::request::create_mode as mode;
use proto::response::event_type as ev;
use proto::{Acl, CreateOp, ErrorCode, MultiResult, OpCode, Request, Response, Stat};

use super::harness::*;

/// An event as the model predicts it: path, kind, the node's ACL then.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WatchEvent {
    path: String,
    kind: i32,
    acl: Vec<Acl>,
}

fn from_tree(events: Vec<crate::WatchEvent>) -> Vec<WatchEvent> {
    events
        .into_iter()
        .map(|e| WatchEvent {
            path: e.path,
            kind: e.kind,
            acl: e.acl.to_vec(),
        })
        .collect()
}

#[derive(Debug, Clone)]
struct MNode {
    data: Vec<u8>,
    acl: Vec<Acl>,
    czxid: i64,
    mzxid: i64,
    pzxid: i64,
    ctime: i64,
    mtime: i64,
    version: i32,
    creates: i32,
    aversion: i32,
    owner: i64,
}

impl MNode {
    fn new(acl: Vec<Acl>, data: Vec<u8>, zxid: i64, time: i64, owner: i64) -> MNode {
        MNode {
            data,
            acl,
            czxid: zxid,
            mzxid: zxid,
            pzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            creates: 0,
            aversion: 0,
            owner,
        }
    }
}

/// The naive model: a sorted map of paths.
#[derive(Debug, Clone)]
struct Model {
    nodes: BTreeMap<String, MNode>,
}

fn parent_of(p: &str) -> Option<String> {
    let i = p.rfind('/')?;
    Some(if i == 0 { "/".into() } else { p[..i].into() })
}

fn allows(acl: &[Acl], perm: i32) -> bool {
    acl.iter()
        .any(|a| a.perms & perm != 0 && a.id.scheme == "world" && a.id.id == "anyone")
}

fn ev(path: &str, kind: i32, acl: &[Acl]) -> WatchEvent {
    WatchEvent {
        path: path.into(),
        kind,
        acl: acl.to_vec(),
    }
}

type Out = (Result<Response, ErrorCode>, Vec<WatchEvent>);

impl Model {
    fn new() -> Model {
        let mut nodes = BTreeMap::new();
        for p in ["/", "/zookeeper", "/zookeeper/quota"] {
            nodes.insert(
                p.to_string(),
                MNode::new(Acl::open_unsafe(), vec![], 0, 0, 0),
            );
        }
        let mut cfg = MNode::new(Acl::read_unsafe(), vec![], 0, 0, 0);
        cfg.aversion = -1;
        nodes.insert("/zookeeper/config".into(), cfg);
        Model { nodes }
    }

    fn children(&self, p: &str) -> Vec<String> {
        self.nodes
            .keys()
            .filter(|k| k.as_str() != "/" && parent_of(k).as_deref() == Some(p))
            .map(|k| k[k.rfind('/').unwrap() + 1..].to_string())
            .collect()
    }

    fn stat(&self, p: &str) -> Option<Stat> {
        let n = self.nodes.get(p)?;
        let nc = self.children(p).len() as i32;
        let owner = if n.owner == i64::MIN || (n.owner as u64) >> 56 == 0xff {
            0
        } else {
            n.owner
        };
        Some(Stat {
            czxid: n.czxid,
            mzxid: n.mzxid,
            ctime: n.ctime,
            mtime: n.mtime,
            version: n.version,
            cversion: n.creates * 2 - nc,
            aversion: n.aversion,
            ephemeral_owner: owner,
            data_length: n.data.len() as i32,
            num_children: nc,
            pzxid: n.pzxid,
        })
    }

    /// One write, atomically, at `zxid`.
    fn write(&mut self, req: &Request, session: i64, zxid: i64, time: i64) -> Out {
        let mut events = Vec::new();
        let res = match req {
            Request::Multi(ops) => Ok(self.multi(ops, session, zxid, time, &mut events)),
            Request::CloseSession => {
                self.close(session, zxid, &mut events);
                Ok(Response::Empty)
            }
            _ => self.one(req, session, zxid, time, &mut events),
        };
        if res.is_err() {
            events.clear();
        }
        (res, events)
    }

    fn one(
        &mut self,
        req: &Request,
        session: i64,
        zxid: i64,
        time: i64,
        events: &mut Vec<WatchEvent>,
    ) -> Result<Response, ErrorCode> {
        match req {
            Request::Create(c) => {
                let (p, stat) = self.create(c, session, zxid, time, events)?;
                Ok(if c.op == OpCode::Create {
                    Response::Create(proto::CreateResponse { path: p })
                } else {
                    Response::Create2(proto::Create2Response { path: p, stat })
                })
            }
            Request::Delete(r) => self
                .delete(&r.path, r.version, zxid, events)
                .map(|_| Response::Empty),
            Request::SetData(r) => self
                .set(
                    &r.path,
                    &r.data.clone().unwrap_or_default(),
                    r.version,
                    zxid,
                    time,
                    events,
                )
                .map(Response::Stat),
            Request::SetAcl(r) => {
                crate::path::validate(&r.path)?;
                if r.acl.is_empty() {
                    return Err(ErrorCode::InvalidAcl);
                }
                let n = self.nodes.get(&r.path).ok_or(ErrorCode::NoNode)?;
                if !allows(&n.acl, perms::ADMIN) {
                    return Err(ErrorCode::NoAuth);
                }
                if r.version != -1 && r.version != n.aversion {
                    return Err(ErrorCode::BadVersion);
                }
                let n = self.nodes.get_mut(&r.path).unwrap();
                n.aversion += 1;
                n.acl = r.acl.clone();
                Ok(Response::Stat(self.stat(&r.path).unwrap()))
            }
            Request::Check(r) => self.check(&r.path, r.version).map(|_| Response::Empty),
            _ => Err(ErrorCode::Unimplemented),
        }
    }

    fn check(&self, p: &str, version: i32) -> Result<(), ErrorCode> {
        crate::path::validate(p)?;
        let n = self.nodes.get(p).ok_or(ErrorCode::NoNode)?;
        if !allows(&n.acl, perms::READ) {
            return Err(ErrorCode::NoAuth);
        }
        if version != -1 && version != n.version {
            return Err(ErrorCode::BadVersion);
        }
        Ok(())
    }

    fn create(
        &mut self,
        c: &CreateOp,
        session: i64,
        zxid: i64,
        time: i64,
        events: &mut Vec<WatchEvent>,
    ) -> Result<(String, Stat), ErrorCode> {
        let plain = (0..=3).contains(&c.flags) && c.op != OpCode::CreateTtl;
        let container = c.op == OpCode::CreateContainer && c.flags == mode::CONTAINER;
        let ttl = c.op == OpCode::CreateTtl
            && (5..=6).contains(&c.flags)
            && (1..=0xff_ffff_ffff).contains(&c.ttl);
        if !plain && !container && !ttl {
            return Err(ErrorCode::BadArguments);
        }
        let parent = parent_of(&c.path).ok_or(ErrorCode::BadArguments)?;
        if c.acl.is_empty() {
            return Err(ErrorCode::InvalidAcl);
        }
        let pn = self.nodes.get(&parent).ok_or(ErrorCode::NoNode)?;
        if !allows(&pn.acl, perms::CREATE) {
            return Err(ErrorCode::NoAuth);
        }
        let p = if matches!(c.flags, 2 | 3 | 6) {
            format!("{}{:010}", c.path, pn.creates)
        } else {
            c.path.clone()
        };
        crate::path::validate(&p)?;
        if self.nodes.contains_key(&p) {
            return Err(ErrorCode::NodeExists);
        }
        if pn.owner > 0 {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        let owner = if c.op == OpCode::CreateContainer {
            i64::MIN
        } else if c.op == OpCode::CreateTtl {
            (0xff00_0000_0000_0000_u64 | c.ttl as u64) as i64
        } else if c.flags == mode::EPHEMERAL || c.flags == mode::EPHEMERAL_SEQUENTIAL {
            session
        } else {
            0
        };
        let pn = self.nodes.get_mut(&parent).unwrap();
        pn.creates += 1;
        pn.pzxid = zxid;
        self.nodes.insert(
            p.clone(),
            MNode::new(
                c.acl.clone(),
                c.data.clone().unwrap_or_default(),
                zxid,
                time,
                owner,
            ),
        );
        events.push(ev(&p, ev::NODE_CREATED, &c.acl));
        events.push(ev(
            &parent,
            ev::NODE_CHILDREN_CHANGED,
            &self.nodes[&parent].acl,
        ));
        Ok((p.clone(), self.stat(&p).unwrap()))
    }

    fn delete(
        &mut self,
        p: &str,
        version: i32,
        zxid: i64,
        events: &mut Vec<WatchEvent>,
    ) -> Result<(), ErrorCode> {
        if matches!(
            p,
            "/" | "/zookeeper" | "/zookeeper/quota" | "/zookeeper/config"
        ) {
            return Err(ErrorCode::BadArguments);
        }
        let parent = parent_of(p).ok_or(ErrorCode::BadArguments)?;
        let pn = self.nodes.get(&parent).ok_or(ErrorCode::NoNode)?;
        if !allows(&pn.acl, perms::DELETE) {
            return Err(ErrorCode::NoAuth);
        }
        let n = self.nodes.get(p).ok_or(ErrorCode::NoNode)?;
        if version != -1 && version != n.version {
            return Err(ErrorCode::BadVersion);
        }
        if !self.children(p).is_empty() {
            return Err(ErrorCode::NotEmpty);
        }
        let gone = self.nodes.remove(p).unwrap();
        self.nodes.get_mut(&parent).unwrap().pzxid = zxid;
        events.push(ev(p, ev::NODE_DELETED, &gone.acl));
        events.push(ev(
            &parent,
            ev::NODE_CHILDREN_CHANGED,
            &self.nodes[&parent].acl,
        ));
        Ok(())
    }

    fn set(
        &mut self,
        p: &str,
        data: &[u8],
        version: i32,
        zxid: i64,
        time: i64,
        events: &mut Vec<WatchEvent>,
    ) -> Result<Stat, ErrorCode> {
        crate::path::validate(p)?;
        let n = self.nodes.get_mut(p).ok_or(ErrorCode::NoNode)?;
        if !allows(&n.acl, perms::WRITE) {
            return Err(ErrorCode::NoAuth);
        }
        if version != -1 && version != n.version {
            return Err(ErrorCode::BadVersion);
        }
        n.version += 1;
        n.data = data.to_vec();
        n.mzxid = zxid;
        n.mtime = time;
        events.push(ev(p, ev::NODE_DATA_CHANGED, &n.acl));
        Ok(self.stat(p).unwrap())
    }

    fn multi(
        &mut self,
        ops: &[Request],
        session: i64,
        zxid: i64,
        time: i64,
        events: &mut Vec<WatchEvent>,
    ) -> Response {
        let saved = self.clone();
        let mut results = Vec::new();
        let mut multi_events = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let mut evs = Vec::new();
            let r = match op {
                Request::Create(c) => {
                    self.create(c, session, zxid, time, &mut evs).map(|(p, s)| {
                        if c.op == OpCode::CreateContainer {
                            MultiResult::Create2(p, s)
                        } else {
                            MultiResult::Create(p)
                        }
                    })
                }
                Request::Delete(r) => self
                    .delete(&r.path, r.version, zxid, &mut evs)
                    .map(|_| MultiResult::Delete),
                Request::SetData(r) => self
                    .set(
                        &r.path,
                        &r.data.clone().unwrap_or_default(),
                        r.version,
                        zxid,
                        time,
                        &mut evs,
                    )
                    .map(MultiResult::SetData),
                Request::Check(r) => self.check(&r.path, r.version).map(|_| MultiResult::Check),
                _ => Err(ErrorCode::BadArguments),
            };
            match r {
                Ok(r) => {
                    results.push(r);
                    multi_events.extend(evs);
                }
                Err(code) => {
                    *self = saved;
                    let mut out = vec![MultiResult::Error(ErrorCode::Ok); i];
                    out.push(MultiResult::Error(code));
                    out.resize(
                        ops.len(),
                        MultiResult::Error(ErrorCode::RuntimeInconsistency),
                    );
                    return Response::Multi(out);
                }
            }
        }
        events.extend(multi_events);
        Response::Multi(results)
    }

    fn close(&mut self, session: i64, zxid: i64, events: &mut Vec<WatchEvent>) {
        let mine: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.owner == session)
            .map(|(p, _)| p.clone())
            .collect();
        for p in mine {
            let gone = self.nodes.remove(&p).unwrap();
            let parent = parent_of(&p).unwrap();
            let pn = self.nodes.get_mut(&parent).unwrap();
            pn.pzxid = pn.pzxid.max(zxid);
            events.push(ev(&p, ev::NODE_DELETED, &gone.acl));
            events.push(ev(&parent, ev::NODE_CHILDREN_CHANGED, &pn.acl));
        }
    }
}

// ---- generators ----

const PATHS: &[&str] = &[
    "/a",
    "/a",
    "/a",
    "/a/b",
    "/a/b",
    "/a/b",
    "/b",
    "/a/c",
    "/a/b/c",
    "/a/",
    "/zookeeper/x",
    "/zookeeper",
    "bad",
];

fn path() -> impl Strategy<Value = String> {
    prop::sample::select(PATHS).prop_map(String::from)
}

fn acl_choice() -> impl Strategy<Value = Vec<Acl>> {
    prop_oneof![
        6 => Just(Acl::open_unsafe()),
        1 => Just(Acl::read_unsafe()),
        1 => Just(vec![acl(perms::ALL & !perms::DELETE, "world", "anyone")]),
        1 => Just(vec![acl(perms::ALL & !perms::CREATE, "world", "anyone")]),
        1 => Just(vec![]),
    ]
}

fn version() -> impl Strategy<Value = i32> {
    prop_oneof![3 => Just(-1), 1 => 0..3i32]
}

fn write_op() -> impl Strategy<Value = Request> {
    prop_oneof![
        4 => (path(), prop::collection::vec(any::<u8>(), 0..4), 0..4i32, acl_choice(), any::<bool>()).prop_map(|(p, d, f, a, two)| {
            create_op(if two { OpCode::Create2 } else { OpCode::Create }, &p, &d, f, a, 0)
        }),
        1 => path().prop_map(|p| create_op(OpCode::CreateContainer, &p, b"", mode::CONTAINER, Acl::open_unsafe(), 0)),
        1 => (path(), 5..7i32, prop_oneof![0..1i64, 1..1000i64]).prop_map(|(p, f, t)| {
            create_op(OpCode::CreateTtl, &p, b"t", f, Acl::open_unsafe(), t)
        }),
        3 => (path(), version()).prop_map(|(p, v)| delete(&p, v)),
        3 => (path(), prop::collection::vec(any::<u8>(), 0..4), version()).prop_map(|(p, d, v)| set(&p, &d, v)),
        1 => (path(), acl_choice(), version()).prop_map(|(p, a, v)| set_acl(&p, a, v)),
        1 => (path(), version()).prop_map(|(p, v)| check(&p, v)),
    ]
}

fn multi_sub_op() -> impl Strategy<Value = Request> {
    prop_oneof![
        3 => (path(), 0..4i32).prop_map(|(p, f)| create(&p, b"m", f)),
        2 => (path(), version()).prop_map(|(p, v)| delete(&p, v)),
        2 => (path(), version()).prop_map(|(p, v)| set(&p, b"ms", v)),
        1 => (path(), version()).prop_map(|(p, v)| check(&p, v)),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    Write(i64, Request),
    Close(i64),
}

fn step() -> impl Strategy<Value = Step> {
    let session = 1..4i64;
    prop_oneof![
        8 => (session.clone(), write_op()).prop_map(|(s, r)| Step::Write(s, r)),
        2 => (session.clone(), prop::collection::vec(multi_sub_op(), 0..4)).prop_map(|(s, ops)| Step::Write(s, Request::Multi(ops))),
        1 => session.prop_map(Step::Close),
    ]
}

fn compare_trees(h: &H, m: &Model) {
    let mut tree_paths: Vec<String> = Vec::new();
    let mut stack = vec!["/".to_string()];
    while let Some(p) = stack.pop() {
        tree_paths.push(p.clone());
        for c in h.tree.children(&p).unwrap() {
            stack.push(if p == "/" {
                format!("/{c}")
            } else {
                format!("{p}/{c}")
            });
        }
    }
    tree_paths.sort();
    let model_paths: Vec<String> = m.nodes.keys().cloned().collect();
    assert_eq!(tree_paths, model_paths);
    for (p, n) in &m.nodes {
        assert_eq!(h.tree.stat(p), m.stat(p), "stat of {p}");
        assert_eq!(h.tree.data(p).unwrap().0, &n.data[..], "data of {p}");
        assert_eq!(h.tree.acl(p).unwrap(), &n.acl[..], "acl of {p}");
    }
    super::apply_fuzz::check_invariants(&h.tree);
    let ephemerals: usize = m.nodes.values().filter(|n| n.owner > 0).count();
    assert_eq!(h.tree.ephemeral_count(), ephemerals);
}

fn run(batches: Vec<Vec<Step>>) {
    let mut h = H::new();
    let mut m = Model::new();
    for s in 1..4 {
        h.open_session(s, 10_000);
    }
    for batch in batches {
        let mut entries = Vec::new();
        for s in &batch {
            let e = match s {
                Step::Write(sess, req) => h.prepare(*sess, req),
                Step::Close(sess) => h.prepare(*sess, &Request::CloseSession),
            };
            entries.push((s.clone(), e));
        }
        for (s, e) in entries {
            let got = h.apply(&e);
            let time = e.header.time;
            let want = match &s {
                Step::Write(sess, req) => m.write(req, *sess, got.zxid, time),
                Step::Close(sess) => m.write(&Request::CloseSession, *sess, got.zxid, time),
            };
            assert_eq!((got.result, from_tree(got.events)), want, "step {s:?}");
        }
        if let Step::Close(s) = batch[0] {
            h.open_session(s, 10_000);
        }
        compare_trees(&h, &m);
    }
    assert_eq!(h.prep.outstanding(), 0);
    compare_trees(&h, &m);
    let mut buf = Vec::new();
    h.tree.serialize(&mut buf).unwrap();
    let back = crate::DataTree::deserialize(&mut &buf[..]).unwrap();
    assert_eq!(back.digest(), h.tree.digest());
    let mut buf2 = Vec::new();
    back.serialize(&mut buf2).unwrap();
    assert_eq!(buf2.len(), buf.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn pipelined_prepare_matches_sequential_model(batches in prop::collection::vec(prop::collection::vec(step(), 1..8), 1..40)) {
        run(batches);
    }
}
