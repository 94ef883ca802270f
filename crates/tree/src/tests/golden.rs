//! A request sequence run against Apache ZooKeeper 3.8.0 (standalone,
//! extendedTypesEnabled) with a raw client; the error codes, names and
//! counts below are what it answered.

use proto::request::create_mode as mode;
use proto::{Acl, ErrorCode, MultiResult, OpCode, Request, Response};

use super::harness::*;

fn code(r: &Result<Response, ErrorCode>) -> i32 {
    match r {
        Ok(_) => 0,
        Err(e) => *e as i32,
    }
}

#[test]
fn matches_zookeeper_3_8_probe() {
    let mut h = H::new();
    let count =
        Request::GetAllChildrenNumber(proto::GetAllChildrenNumberRequest { path: "/".into() });
    assert_eq!(h.read(&count), Ok(Response::AllChildrenNumber(3)));
    assert_eq!(code(&h.read(&exists("bad"))), -101);
    assert_eq!(h.read(&exists("")).map(|_| ()), Ok(()));
    assert_eq!(code(&h.read(&exists("/a\0b"))), -8);
    assert_eq!(code(&h.read(&get("bad"))), -101);
    let Ok(Response::GetChildren(c)) = h.read(&children("")) else {
        panic!()
    };
    assert_eq!(c.children, vec!["zookeeper"]);
    let w = |h: &mut H, r: Request| code(&h.write(1, &r).result);
    assert_eq!(w(&mut h, create2("/c4", b"", mode::CONTAINER)), 0); // persistent!
    assert_eq!(w(&mut h, create("/c4/x", b"", 0)), 0);
    assert_eq!(w(&mut h, delete("/c4/x", -1)), 0);
    assert_eq!(
        h.tree.expired_containers_and_ttls(i64::MAX),
        Vec::<String>::new()
    );
    let ttl = create_op(OpCode::CreateTtl, "/t1", b"", 0, Acl::open_unsafe(), 5);
    assert_eq!(w(&mut h, ttl), -8);
    assert_eq!(w(&mut h, create("/m", b"", 0)), 0);
    let multi = Request::Multi(vec![
        create2("/m/a", b"", 0),
        create("/m/b", b"", 0),
        create_op(
            OpCode::CreateContainer,
            "/m/c",
            b"",
            mode::CONTAINER,
            Acl::open_unsafe(),
            0,
        ),
        create("/m/d", b"", mode::CONTAINER),
    ]);
    let Ok(Response::Multi(res)) = h.write(1, &multi).result else {
        panic!()
    };
    assert!(matches!(res[0], MultiResult::Create(_)));
    assert!(matches!(res[1], MultiResult::Create(_)));
    assert!(matches!(res[2], MultiResult::Create2(..)));
    assert!(matches!(res[3], MultiResult::Create2(..)));
    let failing = Request::Multi(vec![
        create("/m/x", b"", 0),
        delete("/nope", -1),
        create("/m/y", b"", 0),
    ]);
    assert_eq!(
        h.write(1, &failing).result,
        Ok(Response::Multi(vec![
            MultiResult::Error(ErrorCode::Ok),
            MultiResult::Error(ErrorCode::NoNode),
            MultiResult::Error(ErrorCode::RuntimeInconsistency),
        ]))
    );
    assert_eq!(w(&mut h, delete("/m/", -1)), -101);
    assert_eq!(w(&mut h, set("/zookeeper/quota", b"q", -1)), 0);
    assert_eq!(w(&mut h, create("/zookeeper/foo", b"", 0)), 0);
    let Ok(Response::GetAcl(a)) = h.read(&Request::GetAcl(proto::GetAclRequest {
        path: "/zookeeper/config".into(),
    })) else {
        panic!()
    };
    assert_eq!((a.acl, a.stat.aversion), (Acl::read_unsafe(), -1));
    assert_eq!(w(&mut h, create_acl("/a", vec![])), -114);
    assert_eq!(
        w(&mut h, create_acl("/a", vec![acl(31, "world", "someone")])),
        -114
    );
    assert_eq!(
        w(&mut h, create_acl("/a", vec![acl(0, "world", "anyone")])),
        0
    );
    assert_eq!(
        code(&h.read(&Request::GetAcl(proto::GetAclRequest { path: "/a".into() }))),
        -102
    );
    assert_eq!(
        w(&mut h, create_acl("/d", vec![acl(31, "digest", "a:b:")])),
        0
    );
    assert_eq!(
        w(
            &mut h,
            create_acl("/ip1", vec![acl(31, "ip", "10.0.0.1/33")])
        ),
        -114
    );
    assert_eq!(
        w(&mut h, create_acl("/ip2", vec![acl(31, "ip", "::1")])),
        -114
    );
    assert_eq!(
        w(&mut h, create_acl("/ip3", vec![acl(31, "ip", "+1.2.3.4")])),
        0
    );
    assert_eq!(
        w(&mut h, create_acl("/ip4", vec![acl(31, "ip", "1.2.3.4/")])),
        -114
    );
    let mixed = Request::MultiRead(vec![get("/m"), create("/zz", b"", 0)]);
    assert_eq!(code(&h.read(&mixed)), -5);
    assert_eq!(w(&mut h, Request::Multi(vec![get("/m")])), -5);
    assert_eq!(w(&mut h, create("/", b"", 0)), -110);
    assert_eq!(
        w(&mut h, create("/x/", b"", mode::PERSISTENT_SEQUENTIAL)),
        -101
    );
    let r = h.write(1, &create("/m/", b"", mode::PERSISTENT_SEQUENTIAL));
    assert_eq!(
        r.result,
        Ok(Response::Create(proto::CreateResponse {
            path: "/m/0000000004".into()
        }))
    );
    assert_eq!(w(&mut h, delete("/", -1)), -8);
    let Ok(Response::Stat(root)) = h.write(1, &set("/", b"root", -1)).result else {
        panic!()
    };
    assert_eq!(
        (
            root.version,
            root.cversion,
            root.num_children,
            root.data_length
        ),
        (1, 4, 6, 4)
    );
    let Ok(Response::GetData(d)) = h.read(&get("")) else {
        panic!()
    };
    assert_eq!(d.data.as_deref(), Some(&b"root"[..]));
    assert_eq!(w(&mut h, create("/m/e", b"", mode::EPHEMERAL)), 0);
    assert_eq!(w(&mut h, create("/m/e/c", b"", 0)), -108);
    let c = create_op(
        OpCode::CreateContainer,
        "/m/e/c",
        b"",
        mode::CONTAINER,
        Acl::open_unsafe(),
        0,
    );
    assert_eq!(w(&mut h, c), -108);
    let cc = create_op(
        OpCode::CreateContainer,
        "/cc",
        b"",
        0,
        Acl::open_unsafe(),
        0,
    );
    assert_eq!(w(&mut h, cc), 0);
    let cs = create_op(
        OpCode::CreateContainer,
        "/cs",
        b"",
        mode::PERSISTENT_SEQUENTIAL,
        Acl::open_unsafe(),
        0,
    );
    assert!(
        matches!(h.write(1, &cs).result, Ok(Response::Create2(r)) if r.path == "/cs0000000006")
    );
    assert_eq!(w(&mut h, create("/big", &vec![b'x'; 1_048_000], 0)), 0);
    assert_eq!(h.tree.node_count(), 20);
    assert_eq!(h.tree.approximate_data_size(), 1_048_129);
}

/// Second probe: auth expansion, getACL redaction, quota bookkeeping,
/// closeSession. ZooKeeper answered as asserted.
#[test]
fn matches_zookeeper_3_8_probe_quota_and_auth() {
    let mut h = H::new();
    let w = |h: &mut H, r: Request| code(&h.write(1, &r).result);
    assert_eq!(w(&mut h, create_acl("/r", Acl::read_unsafe())), 0);
    assert_eq!(w(&mut h, create_acl("/q", vec![acl(31, "auth", "")])), -114);
    let up = crate::acl::digest_id("u:p");
    assert_eq!(up, "u:Jq7wMyA/w2Vd5WIDAKdu4OIIFEQ=");
    h.ids.push(proto::Id {
        scheme: "digest".into(),
        id: up.clone(),
    });
    assert_eq!(w(&mut h, create_acl("/q", vec![acl(31, "auth", "")])), 0);
    assert_eq!(h.tree.acl("/q"), Some(&[acl(31, "digest", &up)][..]));
    assert_eq!(w(&mut h, create("/zookeeper/quota/m", b"", 0)), 0);
    assert_eq!(
        w(
            &mut h,
            create(
                "/zookeeper/quota/m/zookeeper_limits",
                b"count=10,bytes=100",
                0
            )
        ),
        0
    );
    assert_eq!(
        w(
            &mut h,
            create("/zookeeper/quota/m/zookeeper_stats", b"count=0,bytes=0", 0)
        ),
        0
    );
    let stats = |h: &H| {
        h.tree
            .data("/zookeeper/quota/m/zookeeper_stats")
            .map(|(d, s)| {
                (
                    String::from_utf8_lossy(d).into_owned(),
                    s.mzxid == s.czxid,
                    s.version,
                )
            })
    };
    assert_eq!(stats(&h), Some(("count=0,bytes=0".into(), true, 0)));
    assert_eq!(w(&mut h, create("/m", b"12345", 0)), 0);
    assert_eq!(w(&mut h, create("/m/a", b"123", 0)), 0);
    assert_eq!(stats(&h), Some(("count=2,bytes=8".into(), true, 0)));
    assert_eq!(w(&mut h, set("/m/a", b"1234567", -1)), 0);
    assert_eq!(stats(&h).unwrap().0, "count=2,bytes=12");
    assert_eq!(w(&mut h, delete("/m/a", -1)), 0);
    assert_eq!(stats(&h).unwrap().0, "count=1,bytes=5");
    assert_eq!(w(&mut h, create("/n", b"", 0)), 0);
    assert_eq!(w(&mut h, create("/zookeeper/quota/n", b"", 0)), 0);
    assert_eq!(
        w(
            &mut h,
            create(
                "/zookeeper/quota/n/zookeeper_limits",
                b"count=10,bytes=100",
                0
            )
        ),
        0
    );
    assert!(h.tree.stat("/zookeeper/quota/n/zookeeper_stats").is_none());
    assert_eq!(w(&mut h, create("/n/a", b"123", 0)), 0);
    h.open_session(0x55, 10_000);
    assert_eq!(
        code(
            &h.write(
                0x55,
                &create("/e", b"", proto::request::create_mode::EPHEMERAL)
            )
            .result
        ),
        0
    );
    assert_eq!(w(&mut h, create("/f", b"", 0)), 0);
    for e in ["/f/e2", "/f/e1"] {
        assert_eq!(
            code(
                &h.write(
                    0x55,
                    &create(e, b"", proto::request::create_mode::EPHEMERAL)
                )
                .result
            ),
            0
        );
    }
    let close = h.write(0x55, &Request::CloseSession);
    let f = h.tree.stat("/f").unwrap();
    assert_eq!((f.cversion, f.num_children, f.pzxid), (4, 0, close.zxid));
    let root = h.tree.stat("/").unwrap();
    assert_eq!(
        (root.cversion, root.num_children, root.pzxid),
        (6, 6, close.zxid)
    );
    assert_eq!(
        w(
            &mut h,
            create_acl(
                "/rr2",
                vec![acl(1, "digest", &up), acl(1, "digest", "v:zzz")]
            )
        ),
        0
    );
    let Ok(Response::GetAcl(a)) = h.read(&Request::GetAcl(proto::GetAclRequest {
        path: "/rr2".into(),
    })) else {
        panic!()
    };
    assert_eq!(
        a.acl,
        vec![acl(1, "digest", "u:x"), acl(1, "digest", "v:x")]
    );
    assert_eq!(h.tree.node_count(), 17);
    assert_eq!(h.tree.approximate_data_size(), 261);
    // Quota state survives a snapshot (rebuilt and recounted on load).
    let mut buf = Vec::new();
    h.tree.serialize(&mut buf).unwrap();
    let mut back = crate::DataTree::deserialize(&mut &buf[..]).unwrap();
    assert_eq!(back.quotas, h.tree.quotas);
    let e = h.prepare(1, &create("/m/z", b"zz", 0));
    back.apply(&e);
    assert_eq!(
        back.data("/zookeeper/quota/m/zookeeper_stats").unwrap().0,
        b"count=2,bytes=7"
    );
}
