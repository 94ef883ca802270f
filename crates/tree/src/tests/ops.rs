use proto::records::perms;
use proto::request::create_mode as mode;
use proto::response::event_type as ev;
use proto::txn::Txn;
use proto::{Acl, ErrorCode, MultiResult, OpCode, Request, Response};

use super::harness::*;
use crate::WatchEvent;

/// Events as (path, kind).
fn pk(events: &[WatchEvent]) -> Vec<(String, i32)> {
    events.iter().map(|e| (e.path.clone(), e.kind)).collect()
}

fn stat_of(h: &H, p: &str) -> proto::Stat {
    h.tree.stat(p).unwrap_or_else(|| panic!("{p} missing"))
}

fn evs(list: &[(&str, i32)]) -> Vec<(String, i32)> {
    list.iter().map(|(p, k)| (p.to_string(), *k)).collect()
}

#[test]
fn fresh_tree_matches_zookeeper() {
    let h = H::new();
    assert_eq!(h.tree.node_count(), 5);
    assert_eq!(h.tree.approximate_data_size(), 44);
    let root = stat_of(&h, "/");
    assert_eq!((root.czxid, root.cversion, root.num_children), (0, -1, 1));
    let zk = stat_of(&h, "/zookeeper");
    assert_eq!((zk.cversion, zk.num_children, zk.czxid), (-2, 2, 0));
    let cfg = stat_of(&h, "/zookeeper/config");
    assert_eq!((cfg.aversion, cfg.cversion, cfg.data_length), (-1, 0, 0));
    assert_eq!(
        h.tree.acl("/zookeeper/config"),
        Some(&Acl::read_unsafe()[..])
    );
    assert_eq!(h.tree.acl("/"), Some(&Acl::open_unsafe()[..]));
    assert_eq!(h.tree.children("/"), Some(vec!["zookeeper"]));
    assert_eq!(h.tree.digest(), h.tree.compute_digest());
}

#[test]
fn create_sets_stats_and_fires_events() {
    let mut h = H::new();
    let r = h.write(1, &create("/a", b"hello", mode::PERSISTENT));
    assert_eq!(
        r.result,
        Ok(Response::Create(proto::CreateResponse {
            path: "/a".into()
        }))
    );
    assert_eq!(
        pk(&r.events),
        evs(&[("/a", ev::NODE_CREATED), ("/", ev::NODE_CHILDREN_CHANGED)])
    );
    let s = stat_of(&h, "/a");
    assert_eq!(
        (s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime),
        (1, 1, 1, 1001, 1001)
    );
    assert_eq!(
        (
            s.version,
            s.cversion,
            s.aversion,
            s.data_length,
            s.num_children
        ),
        (0, 0, 0, 5, 0)
    );
    let root = stat_of(&h, "/");
    assert_eq!((root.cversion, root.pzxid, root.num_children), (0, 1, 2));
    assert_eq!(h.tree.last_zxid(), 1);
    assert_eq!(h.tree.approximate_data_size(), 44 + 2 + 5);
    match h.ok(1, &create2("/b", b"", mode::PERSISTENT)) {
        Response::Create2(c) => assert_eq!((c.path.as_str(), c.stat.czxid), ("/b", 2)),
        other => panic!("{other:?}"),
    }
    assert_eq!(h.tree.digest(), h.tree.compute_digest());
}

#[test]
fn create_errors() {
    let mut h = H::new();
    assert_eq!(h.err(1, &create("/x/y", b"", 0)), ErrorCode::NoNode);
    h.ok(1, &create("/x", b"", 0));
    assert_eq!(h.err(1, &create("/x", b"", 0)), ErrorCode::NodeExists);
    assert_eq!(h.err(1, &create("/", b"", 0)), ErrorCode::NodeExists);
    // The parent is looked up before the full path is validated.
    assert_eq!(h.err(1, &create("/x//y", b"", 0)), ErrorCode::NoNode);
    for bad in ["x", "/x/", "/x/.", "", "/x/a\0"] {
        assert_eq!(
            h.err(1, &create(bad, b"", 0)),
            ErrorCode::BadArguments,
            "{bad:?}"
        );
    }
    assert_eq!(h.err(1, &create("/z", b"", 7)), ErrorCode::BadArguments);
    assert_eq!(h.err(1, &create("/z", b"", -1)), ErrorCode::BadArguments);
    assert_eq!(
        h.err(1, &create("/z", b"", mode::PERSISTENT_WITH_TTL)),
        ErrorCode::BadArguments
    );
    assert_eq!(h.err(1, &create_acl("/z", vec![])), ErrorCode::InvalidAcl);
    assert_eq!(
        h.err(1, &create_acl("/z", vec![acl(31, "auth", "")])),
        ErrorCode::InvalidAcl
    );
    assert_eq!(
        h.err(1, &create_acl("/nope/z", vec![])),
        ErrorCode::InvalidAcl,
        "ACL before parent"
    );
    h.ok(1, &create("/e", b"", mode::EPHEMERAL));
    assert_eq!(
        h.err(1, &create("/e/c", b"", 0)),
        ErrorCode::NoChildrenForEphemerals
    );
    h.ok(1, &create_acl("/ro", Acl::read_unsafe()));
    assert_eq!(h.err(1, &create("/ro/c", b"", 0)), ErrorCode::NoAuth);
    // Errors are logged txns: they consume zxids and move last_zxid.
    assert_eq!(h.tree.last_zxid(), h.zxid);
}

#[test]
fn error_txn_shape() {
    let mut h = H::new();
    let e = h.prepare(1, &create("/x/y", b"", 0));
    assert_eq!(e.header.op, OpCode::Error as i32);
    assert_eq!(
        e.txn,
        Txn::Error(proto::txn::ErrorTxn {
            err: ErrorCode::NoNode as i32
        })
    );
    let r = h.apply(&e);
    assert_eq!(r.result, Err(ErrorCode::NoNode));
    assert!(r.events.is_empty());
}

#[test]
fn sequential_names_and_cversion() {
    let mut h = H::new();
    h.ok(1, &create("/f", b"", 0));
    let seq = |h: &mut H, p: &str| match h.ok(1, &create(p, b"", mode::PERSISTENT_SEQUENTIAL)) {
        Response::Create(c) => c.path,
        other => panic!("{other:?}"),
    };
    assert_eq!(seq(&mut h, "/f/a"), "/f/a0000000000");
    assert_eq!(stat_of(&h, "/f").cversion, 1);
    h.ok(1, &create("/f/p", b"", 0));
    assert_eq!(stat_of(&h, "/f").cversion, 2);
    h.ok(1, &delete("/f/p", -1));
    assert_eq!(stat_of(&h, "/f").cversion, 3);
    assert_eq!(seq(&mut h, "/f/b"), "/f/b0000000002");
    assert_eq!(stat_of(&h, "/f").cversion, 4);
    h.ok(1, &delete("/f/b0000000002", -1));
    h.ok(1, &delete("/f/a0000000000", -1));
    assert_eq!(stat_of(&h, "/f").cversion, 6);
    assert_eq!(seq(&mut h, "/f/"), "/f/0000000003");
    assert_eq!(stat_of(&h, "/f").cversion, 7);
}

#[test]
fn delete_rules() {
    let mut h = H::new();
    h.ok(1, &create("/d", b"", 0));
    h.ok(1, &create("/d/c", b"", 0));
    assert_eq!(h.err(1, &delete("/d", -1)), ErrorCode::NotEmpty);
    assert_eq!(h.err(1, &delete("/d/c", 3)), ErrorCode::BadVersion);
    assert_eq!(h.err(1, &delete("/d/nope", -1)), ErrorCode::NoNode);
    assert_eq!(h.err(1, &delete("/nope/x", -1)), ErrorCode::NoNode);
    for special in [
        "/",
        "/zookeeper",
        "/zookeeper/quota",
        "/zookeeper/config",
        "x",
    ] {
        assert_eq!(
            h.err(1, &delete(special, -1)),
            ErrorCode::BadArguments,
            "{special}"
        );
    }
    let before = stat_of(&h, "/d");
    let r = h.write(1, &delete("/d/c", 0));
    assert_eq!(r.result, Ok(Response::Empty));
    assert_eq!(
        pk(&r.events),
        evs(&[
            ("/d/c", ev::NODE_DELETED),
            ("/d", ev::NODE_CHILDREN_CHANGED)
        ])
    );
    let after = stat_of(&h, "/d");
    assert_eq!(after.pzxid, r.zxid);
    assert_eq!(after.cversion, before.cversion + 1);
    assert_eq!(after.mzxid, before.mzxid);
    // delete needs DELETE on the parent, not on the node.
    let p = acl(perms::ALL & !perms::DELETE, "world", "anyone");
    h.ok(1, &create_acl("/g", vec![p]));
    h.ok(1, &create_acl("/g/k", Acl::read_unsafe()));
    assert_eq!(h.err(1, &delete("/g/k", -1)), ErrorCode::NoAuth);
    h.ok(1, &create_acl("/ro", Acl::read_unsafe()));
    h.ok(1, &delete("/ro", -1));
    assert_eq!(h.tree.digest(), h.tree.compute_digest());
}

#[test]
fn set_data_rules() {
    let mut h = H::new();
    h.ok(1, &create("/s", b"v0", 0));
    let r = h.write(1, &set("/s", b"v1", 0));
    let Ok(Response::Stat(st)) = r.result else {
        panic!("{r:?}")
    };
    assert_eq!(
        (st.version, st.mzxid, st.czxid, st.data_length),
        (1, 2, 1, 2)
    );
    assert_eq!(pk(&r.events), evs(&[("/s", ev::NODE_DATA_CHANGED)]));
    assert_eq!(h.err(1, &set("/s", b"", 0)), ErrorCode::BadVersion);
    h.ok(1, &set("/s", b"v2", -1));
    assert_eq!(stat_of(&h, "/s").version, 2);
    assert_eq!(h.err(1, &set("/nope", b"", -1)), ErrorCode::NoNode);
    assert_eq!(h.err(1, &set("bad", b"", -1)), ErrorCode::BadArguments);
    h.ok(1, &create_acl("/ro", Acl::read_unsafe()));
    assert_eq!(h.err(1, &set("/ro", b"", -1)), ErrorCode::NoAuth);
    assert_eq!(
        h.err(1, &set("/zookeeper/config", b"", -1)),
        ErrorCode::NoAuth
    );
    assert_eq!(
        h.read(&get("/s")),
        Ok(Response::GetData(proto::GetDataResponse {
            data: Some(b"v2".to_vec()),
            stat: stat_of(&h, "/s"),
        }))
    );
    assert_eq!(h.tree.approximate_data_size(), 44 + 2 + 2 + 3);
}

#[test]
fn version_wraps_like_java_int() {
    let mut h = H::new();
    h.ok(1, &create("/w", b"", 0));
    let i = h.tree.store.find("/w").unwrap();
    h.tree.update_meta(i, |n| n.stat.version = i32::MAX);
    h.ok(1, &set("/w", b"", i32::MAX));
    assert_eq!(stat_of(&h, "/w").version, i32::MIN);
}

#[test]
fn set_acl_rules() {
    let mut h = H::new();
    h.ok(1, &create("/a", b"", 0));
    let r = h.ok(1, &set_acl("/a", Acl::read_unsafe(), 0));
    let Response::Stat(st) = r else { panic!() };
    assert_eq!((st.aversion, st.version), (1, 0));
    assert_eq!(
        h.err(1, &set_acl("/a", Acl::open_unsafe(), 0)),
        ErrorCode::NoAuth
    );
    h.ok(
        1,
        &create_acl("/b", vec![acl(perms::ADMIN, "world", "anyone")]),
    );
    assert_eq!(
        h.err(1, &set_acl("/b", Acl::open_unsafe(), 5)),
        ErrorCode::BadVersion
    );
    assert_eq!(h.err(1, &set_acl("/b", vec![], 0)), ErrorCode::InvalidAcl);
    assert_eq!(
        h.err(1, &set_acl("/nope", vec![], 0)),
        ErrorCode::InvalidAcl,
        "ACL before node"
    );
    assert_eq!(
        h.err(1, &set_acl("/nope", Acl::open_unsafe(), 0)),
        ErrorCode::NoNode
    );
    h.ok(1, &set_acl("/b", Acl::open_unsafe(), 0));
    assert_eq!(h.tree.acl("/b"), Some(&Acl::open_unsafe()[..]));
    assert_eq!(h.tree.acl_cache_len(), 2);
    assert_eq!(h.tree.digest(), h.tree.compute_digest());
}

#[test]
fn lone_check() {
    let mut h = H::new();
    h.ok(1, &create("/c", b"", 0));
    let e = h.prepare(1, &check("/c", 0));
    assert_eq!(e.header.op, OpCode::Check as i32);
    assert_eq!(
        e.txn,
        Txn::Check(proto::txn::CheckVersionTxn {
            path: "/c".into(),
            version: 1
        })
    );
    assert_eq!(h.apply(&e).result, Ok(Response::Empty));
    assert_eq!(h.err(1, &check("/c", 3)), ErrorCode::BadVersion);
    assert_eq!(h.err(1, &check("/n", 0)), ErrorCode::NoNode);
}

#[test]
fn multi_success_and_reply_shapes() {
    let mut h = H::new();
    let ops = vec![
        create("/p", b"", 0),
        create2("/p/c", b"x", 0),
        set("/p/c", b"y", 0),
        check("/p/c", 1),
        create_op(
            OpCode::CreateContainer,
            "/k",
            b"",
            mode::CONTAINER,
            Acl::open_unsafe(),
            0,
        ),
        delete("/p/c", 1),
    ];
    let r = h.write(1, &Request::Multi(ops));
    let Ok(Response::Multi(res)) = r.result else {
        panic!("{r:?}")
    };
    assert_eq!(res[0], MultiResult::Create("/p".into()));
    assert_eq!(
        res[1],
        MultiResult::Create("/p/c".into()),
        "create2 in multi replies as create"
    );
    assert!(matches!(&res[2], MultiResult::SetData(s) if s.version == 1));
    assert_eq!(res[3], MultiResult::Check);
    assert!(matches!(&res[4], MultiResult::Create2(p, _) if p == "/k"));
    assert_eq!(res[5], MultiResult::Delete);
    assert_eq!(
        pk(&r.events),
        evs(&[
            ("/p", ev::NODE_CREATED),
            ("/", ev::NODE_CHILDREN_CHANGED),
            ("/p/c", ev::NODE_CREATED),
            ("/p", ev::NODE_CHILDREN_CHANGED),
            ("/p/c", ev::NODE_DATA_CHANGED),
            ("/k", ev::NODE_CREATED),
            ("/", ev::NODE_CHILDREN_CHANGED),
            ("/p/c", ev::NODE_DELETED),
            ("/p", ev::NODE_CHILDREN_CHANGED),
        ])
    );
    // One zxid for all.
    assert_eq!(stat_of(&h, "/p").czxid, stat_of(&h, "/k").czxid);
    assert_eq!(stat_of(&h, "/p").cversion, 2);
    assert_eq!(h.ok(1, &Request::Multi(vec![])), Response::Multi(vec![]));
}

#[test]
fn multi_failure_rolls_back() {
    let mut h = H::new();
    h.ok(1, &create("/n", b"", 0));
    let ops = vec![
        create("/first", b"", 0),
        delete("/n", 5),
        create("/third", b"", 0),
    ];
    let e = h.prepare(1, &Request::Multi(ops));
    assert_eq!(e.header.op, OpCode::Multi as i32);
    let err = |c: ErrorCode| Txn::Error(proto::txn::ErrorTxn { err: c as i32 });
    assert_eq!(
        e.txn,
        Txn::Multi(vec![
            err(ErrorCode::Ok),
            err(ErrorCode::BadVersion),
            err(ErrorCode::RuntimeInconsistency)
        ])
    );
    let r = h.apply(&e);
    assert_eq!(
        r.result,
        Ok(Response::Multi(vec![
            MultiResult::Error(ErrorCode::Ok),
            MultiResult::Error(ErrorCode::BadVersion),
            MultiResult::Error(ErrorCode::RuntimeInconsistency),
        ]))
    );
    assert!(r.events.is_empty());
    assert!(h.tree.stat("/first").is_none());
    // The rolled-back create left no outstanding change behind.
    h.ok(1, &create("/first", b"", 0));
}

#[test]
fn zookeeper_logged_failed_multi_applies_as_all_errors() {
    // ZooKeeper logs the ops before the failing one as real txns.
    let mut h = H::new();
    let e = proto::txn::TxnEntry {
        header: proto::txn::TxnHeader {
            client_id: 1,
            cxid: 1,
            zxid: 1,
            time: 5,
            op: OpCode::Multi as i32,
        },
        txn: Txn::Multi(vec![
            Txn::Create(proto::txn::CreateTxn {
                path: "/a".into(),
                data: Some(vec![]),
                acl: Acl::open_unsafe(),
                ephemeral: false,
                parent_cversion: 1,
            }),
            Txn::Error(proto::txn::ErrorTxn {
                err: ErrorCode::NoNode as i32,
            }),
            Txn::Delete(proto::txn::DeleteTxn {
                path: "/zookeeper".into(),
            }),
        ]),
    };
    let r = h.tree.apply(&e);
    assert_eq!(
        r.result,
        Ok(Response::Multi(vec![
            MultiResult::Error(ErrorCode::Ok),
            MultiResult::Error(ErrorCode::NoNode),
            MultiResult::Error(ErrorCode::RuntimeInconsistency),
        ]))
    );
    assert!(h.tree.stat("/a").is_none());
}

#[test]
fn replayed_create_of_existing_node_is_an_error_not_a_panic() {
    let mut h = H::new();
    let e = h.prepare(1, &create("/r", b"", 0));
    h.apply(&e);
    let again = h.tree.apply(&e);
    assert_eq!(again.result, Err(ErrorCode::NodeExists));
    let mut del = h.prepare(1, &delete("/r", -1));
    h.apply(&del);
    del.header.zxid += 100;
    assert_eq!(h.tree.apply(&del).result, Err(ErrorCode::NoNode));
    assert_eq!(h.tree.last_zxid(), del.header.zxid);
}

#[test]
fn outstanding_changes_are_seen_by_prepare() {
    let mut h = H::new();
    let e1 = h.prepare(1, &create("/o", b"", 0));
    let e2 = h.prepare(1, &create("/o/c", b"", mode::PERSISTENT_SEQUENTIAL));
    let e3 = h.prepare(1, &create("/o", b"", 0));
    let e4 = h.prepare(1, &create("/o/c", b"", mode::PERSISTENT_SEQUENTIAL));
    let e5 = h.prepare(1, &set("/o", b"x", 0));
    let e6 = h.prepare(1, &set("/o", b"y", 1));
    let e7 = h.prepare(1, &delete("/o", -1));
    assert!(matches!(&e2.txn, Txn::Create(t) if t.path == "/o/c0000000000"));
    assert_eq!(
        e3.txn,
        Txn::Error(proto::txn::ErrorTxn {
            err: ErrorCode::NodeExists as i32
        })
    );
    assert!(
        matches!(&e4.txn, Txn::Create(t) if t.path == "/o/c0000000001" && t.parent_cversion == 2)
    );
    assert!(matches!(&e6.txn, Txn::SetData(t) if t.version == 2));
    assert_eq!(
        e7.txn,
        Txn::Error(proto::txn::ErrorTxn {
            err: ErrorCode::NotEmpty as i32
        })
    );
    for e in [&e1, &e2, &e3, &e4, &e5, &e6, &e7] {
        h.apply(e);
    }
    assert_eq!(h.prep.outstanding(), 0);
    assert_eq!(stat_of(&h, "/o").version, 2);
    assert_eq!(stat_of(&h, "/o").num_children, 2);
}

#[test]
fn sessions_and_ephemerals() {
    let mut h = H::new();
    h.open_session(0x11, 30_000);
    h.open_session(0x22, 10_000);
    assert_eq!(h.tree.sessions(), vec![(0x11, 30_000), (0x22, 10_000)]);
    h.ok(1, &create("/app", b"", 0));
    h.ok(0x11, &create("/app/e1", b"", mode::EPHEMERAL));
    h.ok(0x11, &create("/app/e2-", b"", mode::EPHEMERAL_SEQUENTIAL));
    h.ok(0x22, &create("/app/other", b"", mode::EPHEMERAL));
    assert_eq!(stat_of(&h, "/app/e1").ephemeral_owner, 0x11);
    assert_eq!(h.tree.ephemeral_count(), 3);
    assert_eq!(
        h.tree.ephemerals_of(0x11),
        vec!["/app/e1", "/app/e2-0000000001"]
    );
    // A close prepared while a create is outstanding includes it.
    let pending = h.prepare(0x11, &create("/app/e3", b"", mode::EPHEMERAL));
    let close = h.prepare(0x11, &Request::CloseSession);
    assert_eq!(close.header.client_id, 0x11);
    assert_eq!(
        close.txn,
        Txn::CloseSession(proto::txn::CloseSessionTxn {
            paths_to_delete: vec![
                "/app/e1".into(),
                "/app/e2-0000000001".into(),
                "/app/e3".into()
            ],
        })
    );
    h.apply(&pending);
    let r = h.apply(&close);
    assert_eq!(r.result, Ok(Response::Empty));
    assert_eq!(r.events.len(), 6);
    assert_eq!(pk(&r.events)[0], ("/app/e1".to_string(), ev::NODE_DELETED));
    assert_eq!(
        pk(&r.events)[1],
        ("/app".to_string(), ev::NODE_CHILDREN_CHANGED)
    );
    assert!(!h.tree.has_session(0x11));
    assert!(h.tree.has_session(0x22));
    assert_eq!(h.tree.ephemerals_of(0x11), Vec::<String>::new());
    assert_eq!(
        h.tree.ephemerals_by_session(),
        vec![(0x22, vec!["/app/other".to_string()])]
    );
    assert_eq!(h.tree.digest(), h.tree.compute_digest());
}

#[test]
fn containers_and_ttls() {
    let mut h = H::new();
    let c = create_op(
        OpCode::CreateContainer,
        "/c",
        b"data",
        mode::CONTAINER,
        Acl::open_unsafe(),
        0,
    );
    let Response::Create2(r) = h.ok(1, &c) else {
        panic!()
    };
    assert_eq!((r.stat.ephemeral_owner, r.stat.data_length), (0, 4));
    let t = create_op(
        OpCode::CreateTtl,
        "/t",
        b"",
        mode::PERSISTENT_WITH_TTL,
        Acl::open_unsafe(),
        100,
    );
    let Response::Create2(tr) = h.ok(1, &t) else {
        panic!()
    };
    assert_eq!(tr.stat.ephemeral_owner, 0);
    assert_eq!(h.tree.container_count(), 1);
    assert_eq!(h.tree.ttl_count(), 1);
    let now = h.time;
    assert_eq!(
        h.tree.expired_containers_and_ttls(now),
        Vec::<String>::new()
    );
    assert_eq!(
        h.tree.expired_containers_and_ttls(now + 200),
        vec!["/t".to_string()]
    );
    h.ok(1, &create("/c/x", b"", 0));
    assert!(h.tree.expired_containers_and_ttls(now).is_empty());
    h.ok(1, &delete("/c/x", -1));
    assert_eq!(
        h.tree.expired_containers_and_ttls(now),
        vec!["/c".to_string()]
    );
    h.zxid += 1;
    let ctx = crate::PrepContext {
        session_id: 0,
        cxid: 0,
        zxid: h.zxid,
        time_ms: h.time,
        auth: crate::AuthContext {
            ids: &[],
            is_super: false,
        },
    };
    let e = h.prep.prepare_delete_container(&h.tree, "/c", &ctx);
    assert_eq!(e.header.op, OpCode::DeleteContainer as i32);
    let r = h.apply(&e);
    assert_eq!(r.result, Ok(Response::Empty));
    assert!(h.tree.stat("/c").is_none());
    assert_eq!(h.tree.container_count(), 0);
    // TTL argument checks.
    for (op, flags, ttl) in [
        (OpCode::CreateTtl, mode::PERSISTENT_WITH_TTL, 0),
        (OpCode::CreateTtl, mode::PERSISTENT_WITH_TTL, -1),
        (
            OpCode::CreateTtl,
            mode::PERSISTENT_WITH_TTL,
            0x100_0000_0000,
        ),
        (OpCode::CreateTtl, mode::PERSISTENT, 1000),
        (OpCode::CreateTtl, mode::EPHEMERAL, 1000),
        (OpCode::Create2, mode::PERSISTENT_WITH_TTL, 0),
    ] {
        let req = create_op(op, "/bad", b"", flags, Acl::open_unsafe(), ttl);
        assert_eq!(h.err(1, &req), ErrorCode::BadArguments, "{flags} {ttl}");
    }
    let max = create_op(
        OpCode::CreateTtl,
        "/max",
        b"",
        mode::PERSISTENT_SEQUENTIAL_WITH_TTL,
        Acl::open_unsafe(),
        0xff_ffff_ffff,
    );
    assert!(matches!(h.ok(1, &max), Response::Create2(r) if r.path == "/max0000000002"));
}

#[test]
fn reads() {
    let mut h = H::new();
    h.ok(1, &create("/r", b"", 0));
    h.ok(1, &create("/r/a", b"", 0));
    h.ok(1, &create("/r/a/b", b"", 0));
    h.ok(1, &create("/r/c", b"", 0));
    let count = |p: &str| {
        h.read(&Request::GetAllChildrenNumber(
            proto::GetAllChildrenNumberRequest { path: p.into() },
        ))
    };
    assert_eq!(count("/r"), Ok(Response::AllChildrenNumber(3)));
    assert_eq!(count("/"), Ok(Response::AllChildrenNumber(7)));
    assert_eq!(count("/missing"), Err(ErrorCode::NoNode));
    let Ok(Response::GetChildren(mut c)) = h.read(&children("/r")) else {
        panic!()
    };
    c.children.sort();
    assert_eq!(c.children, vec!["a", "c"]);
    assert_eq!(h.read(&exists("/nope")), Err(ErrorCode::NoNode));
    assert_eq!(h.read(&exists("/a\0")), Err(ErrorCode::BadArguments));
    assert_eq!(
        h.read(&get("")),
        h.read(&get("/")),
        "ZooKeeper aliases the root as \"\""
    );
    let mr = Request::MultiRead(vec![get("/r"), children("/nope")]);
    let Ok(Response::Multi(res)) = h.read(&mr) else {
        panic!()
    };
    assert!(matches!(res[0], MultiResult::GetData(..)));
    assert_eq!(res[1], MultiResult::Error(ErrorCode::NoNode));
    let sync = Request::Sync(proto::SyncRequest { path: "/r".into() });
    assert_eq!(
        h.read(&sync),
        Ok(Response::Sync(proto::SyncResponse { path: "/r".into() }))
    );
}

#[test]
fn read_acls_and_get_acl_redaction() {
    let mut h = H::new();
    let digest = crate::acl::digest_id("alice:secret");
    h.ok(
        1,
        &create_acl("/p", vec![acl(perms::READ, "digest", &digest)]),
    );
    assert_eq!(h.read(&get("/p")), Err(ErrorCode::NoAuth));
    assert!(h.read(&exists("/p")).is_ok(), "exists is not ACL-checked");
    let get_acl = Request::GetAcl(proto::GetAclRequest { path: "/p".into() });
    assert_eq!(h.read(&get_acl), Err(ErrorCode::NoAuth));
    h.ids.push(proto::Id {
        scheme: "digest".into(),
        id: digest.clone(),
    });
    assert!(h.read(&get("/p")).is_ok());
    let Ok(Response::GetAcl(r)) = h.read(&get_acl) else {
        panic!()
    };
    assert_eq!(
        r.acl,
        vec![acl(perms::READ, "digest", "alice:x")],
        "no ADMIN: redacted"
    );
    h.is_super = true;
    let Ok(Response::GetAcl(r)) = h.read(&get_acl) else {
        panic!()
    };
    assert_eq!(r.acl, vec![acl(perms::READ, "digest", &digest)]);
}

#[test]
fn auth_scheme_expands_to_digest_ids() {
    let mut h = H::new();
    let d = crate::acl::digest_id("dave:pw");
    h.ids.push(proto::Id {
        scheme: "digest".into(),
        id: d.clone(),
    });
    h.ok(1, &create_acl("/creator", vec![acl(31, "auth", "")]));
    assert_eq!(h.tree.acl("/creator"), Some(&[acl(31, "digest", &d)][..]));
    h.ok(
        1,
        &create_acl("/dup", [Acl::open_unsafe(), Acl::open_unsafe()].concat()),
    );
    assert_eq!(h.tree.acl("/dup"), Some(&Acl::open_unsafe()[..]));
}

#[test]
fn get_ephemerals_by_prefix() {
    let mut h = H::new();
    h.ok(1, &create("/app", b"", 0));
    h.ok(1, &create("/app/x", b"", 0));
    h.ok(1, &create("/app/e1", b"", mode::EPHEMERAL));
    h.ok(1, &create("/app/x/e2", b"", mode::EPHEMERAL));
    h.ok(1, &create("/apple", b"", mode::EPHEMERAL));
    h.ok(2, &create("/app/theirs", b"", mode::EPHEMERAL));
    let q = |p: &str| match h.read(&Request::GetEphemerals(proto::GetEphemeralsRequest {
        prefix_path: p.into(),
    })) {
        Ok(Response::Ephemerals(r)) => r.ephemerals,
        other => panic!("{other:?}"),
    };
    assert_eq!(q("/app/"), vec!["/app/e1", "/app/x/e2"]);
    assert_eq!(q("/app"), vec!["/app/e1", "/app/x/e2", "/apple"]);
    assert_eq!(q("/").len(), 3);
}

#[test]
fn large_multi_is_linear() {
    let mut h = H::new();
    h.ok(1, &create("/big", b"", 0));
    let mut ops: Vec<Request> = (0..20_000)
        .map(|i| create(&format!("/big/n{i}"), b"", 0))
        .collect();
    ops.push(create("/big/n7", b"", 0));
    let start = std::time::Instant::now();
    let Ok(Response::Multi(res)) = h.write(1, &Request::Multi(ops.clone())).result else {
        panic!()
    };
    assert_eq!(res[20_000], MultiResult::Error(ErrorCode::NodeExists));
    assert_eq!(stat_of(&h, "/big").num_children, 0);
    ops.pop();
    let Ok(Response::Multi(res)) = h.write(1, &Request::Multi(ops)).result else {
        panic!()
    };
    assert!(res.iter().all(|r| matches!(r, MultiResult::Create(_))));
    assert_eq!(stat_of(&h, "/big").num_children, 20_000);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}
