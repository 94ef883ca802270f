//! Golden bytes: frames real clients (Apache ZooKeeper 3.8's Java client,
//! kazoo) and a real ZooKeeper 3.8 server exchanged, recorded by
//! `golden/capture/capture.py` (see `golden/README.md`).
//!
//! Every frame of every trace must decode, consume its whole body and
//! re-encode to the same bytes; the tests below then check what selected
//! frames decode to. Values that vary per capture (session ids, zxids,
//! times) are checked against each other, never against constants, so a
//! fresh capture passes too.

use std::collections::HashMap;

use paddock_proto::frame;
use paddock_proto::jute::{Jute, Reader};
use paddock_proto::opcode::xid;
use paddock_proto::records::*;
use paddock_proto::request::{create_mode, CreateOp, Request};
use paddock_proto::response::{event_type, keeper_state, MultiResult, Response};
use paddock_proto::{ErrorCode, OpCode};

const JAVA: &str = include_str!("golden/java.hex");
const KAZOO: &str = include_str!("golden/kazoo.hex");

/// One decoded frame.
#[derive(Debug, Clone)]
enum Msg {
    Connect(ConnectRequest, Option<bool>),
    Connected(ConnectResponse, Option<bool>),
    Request(RequestHeader, Request),
    /// A notification (xid -1).
    Event(ReplyHeader, WatcherEvent),
    /// A reply: the body is `None` when the header carries an error.
    Reply(ReplyHeader, Option<Response>),
}

/// Parses a trace into connections of (direction, whole frame).
fn parse(trace: &str) -> Vec<Vec<(char, Vec<u8>)>> {
    let mut conns: Vec<Vec<(char, Vec<u8>)>> = Vec::new();
    for line in trace
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (dir, rest) = line.split_at(1);
        match dir {
            "=" => conns.push(Vec::new()),
            ">" | "<" => {
                let bytes = hex(rest.trim());
                let conn = conns.last_mut().expect("a frame before any connection");
                conn.push((dir.chars().next().unwrap(), bytes));
            }
            _ => panic!("bad trace line {line:?}"),
        }
    }
    conns
}

fn hex(s: &str) -> Vec<u8> {
    assert_eq!(s.len() % 2, 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// The frame's body, after checking the length prefix announces exactly it.
fn body(frame_bytes: &[u8]) -> &[u8] {
    let n = frame::check(frame_bytes, frame::DEFAULT_MAX_PACKET_BYTES)
        .expect("valid length")
        .expect("whole frame");
    assert_eq!(n + 4, frame_bytes.len(), "one frame per line");
    &frame_bytes[4..]
}

/// Frames `write` like a sender would.
fn framed(write: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut w = Vec::new();
    let at = frame::begin(&mut w);
    write(&mut w);
    frame::end(&mut w, at);
    w
}

/// Decodes every frame of a trace, asserting each re-encodes byte for byte.
fn decode(trace: &str) -> Vec<Vec<Msg>> {
    parse(trace).iter().map(|c| decode_conn(c)).collect()
}

fn decode_conn(frames: &[(char, Vec<u8>)]) -> Vec<Msg> {
    let mut ops: HashMap<i32, i32> = HashMap::from([
        (xid::PING, OpCode::Ping as i32),
        (xid::AUTH, OpCode::Auth as i32),
    ]);
    let (mut connected_out, mut connected_in) = (false, false);
    let mut msgs = Vec::new();
    for (dir, wire) in frames {
        let mut r = Reader::new(body(wire));
        let (msg, again) = match (*dir, connected_out, connected_in) {
            ('>', false, _) => {
                connected_out = true;
                let (req, ro) = ConnectRequest::read_handshake(&mut r).unwrap();
                let again = framed(|w| req.write_handshake(ro, w));
                (Msg::Connect(req, ro), again)
            }
            ('<', _, false) => {
                connected_in = true;
                let (rsp, ro) = ConnectResponse::read_handshake(&mut r).unwrap();
                let again = framed(|w| rsp.write_handshake(ro, w));
                (Msg::Connected(rsp, ro), again)
            }
            ('>', ..) => {
                let h = RequestHeader::read(&mut r).unwrap();
                let req = Request::decode(h.op, &mut r).unwrap();
                ops.insert(h.xid, h.op);
                let again = framed(|w| {
                    h.write(w);
                    req.encode(w);
                });
                (Msg::Request(h, req), again)
            }
            _ => decode_reply(&mut r, &ops),
        };
        assert_eq!(r.remaining(), 0, "unread bytes in {msg:?}");
        assert_eq!(&again, wire, "re-encoding {msg:?}");
        msgs.push(msg);
    }
    msgs
}

fn decode_reply(r: &mut Reader<'_>, ops: &HashMap<i32, i32>) -> (Msg, Vec<u8>) {
    let h = ReplyHeader::read(r).unwrap();
    if h.xid == xid::NOTIFICATION {
        let ev = WatcherEvent::read(r).unwrap();
        let again = framed(|w| {
            h.write(w);
            ev.write(w);
        });
        return (Msg::Event(h, ev), again);
    }
    let rsp = if h.err == 0 {
        let op = *ops.get(&h.xid).expect("a reply to a request sent");
        Some(Response::decode(op, r).unwrap())
    } else {
        None
    };
    let again = framed(|w| {
        h.write(w);
        if let Some(rsp) = &rsp {
            rsp.encode(w);
        }
    });
    (Msg::Reply(h, rsp), again)
}

/// The first request of type `op` naming `path` (any path if `None`), its
/// connection index, and the messages that follow it in that connection.
fn find(conns: &[Vec<Msg>], op: OpCode, path: Option<&str>) -> (RequestHeader, Request, Vec<Msg>) {
    for conn in conns {
        for (i, m) in conn.iter().enumerate() {
            if let Msg::Request(h, req) = m {
                if h.op == op as i32 && (path.is_none() || req.path() == path) {
                    return (h.clone(), req.clone(), conn[i + 1..].to_vec());
                }
            }
        }
    }
    panic!("no {op:?} request for {path:?}");
}

/// The reply to `h` among `after`, and the notifications sent before it.
fn reply(h: &RequestHeader, after: &[Msg]) -> (ReplyHeader, Option<Response>, Vec<WatcherEvent>) {
    let mut events = Vec::new();
    for m in after {
        match m {
            Msg::Reply(rh, rsp) if rh.xid == h.xid => return (rh.clone(), rsp.clone(), events),
            Msg::Event(_, ev) => events.push(ev.clone()),
            _ => {}
        }
    }
    panic!("no reply to {h:?}");
}

/// Sends `op` on `path`, expects success, returns the reply body.
fn ok_reply(
    conns: &[Vec<Msg>],
    op: OpCode,
    path: Option<&str>,
) -> (Request, ReplyHeader, Response) {
    let (h, req, after) = find(conns, op, path);
    let (rh, rsp, _) = reply(&h, &after);
    assert_eq!(rh.err, 0, "{op:?} {path:?} failed");
    (req, rh, rsp.expect("a body"))
}

fn err_reply(conns: &[Vec<Msg>], op: OpCode, path: &str) -> ErrorCode {
    let (h, _, after) = find(conns, op, Some(path));
    let (rh, rsp, _) = reply(&h, &after);
    assert_eq!(rsp, None);
    ErrorCode::from_i32(rh.err).expect("a known code")
}

fn both() -> [(Vec<Vec<Msg>>, &'static str); 2] {
    [(decode(JAVA), "/golden"), (decode(KAZOO), "/kgolden")]
}

fn world(perms: i32) -> Acl {
    Acl {
        perms,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }
}

/// The ACL both clients create `<root>/acl-` with: golden:secret may do
/// anything, anyone may read.
fn golden_acl() -> Vec<Acl> {
    vec![
        Acl {
            perms: perms::ALL,
            id: Id {
                scheme: "digest".into(),
                id: "golden:xWIAyp+iipmRz+wIMl/M3rwWQD4=".into(),
            },
        },
        world(perms::READ),
    ]
}

/// The stat of a node created by the write at `zxid`, holding `len` bytes.
fn assert_fresh(stat: &Stat, zxid: i64, len: i32) {
    assert_eq!((stat.czxid, stat.mzxid, stat.pzxid), (zxid, zxid, zxid));
    assert_eq!(stat.ctime, stat.mtime);
    assert!(
        stat.ctime > 1_600_000_000_000,
        "ctime in ms since the epoch"
    );
    assert_eq!((stat.version, stat.cversion, stat.aversion), (0, 0, 0));
    assert_eq!((stat.data_length, stat.num_children), (len, 0));
}

fn path(p: &str, root: &str) -> String {
    format!("{root}{p}")
}

#[test]
fn java_trace_decodes_and_reencodes_byte_for_byte() {
    let conns = decode(JAVA);
    assert_eq!(conns.len(), 3, "first connection and two reconnects");
}

#[test]
fn kazoo_trace_decodes_and_reencodes_byte_for_byte() {
    let conns = decode(KAZOO);
    assert_eq!(conns.len(), 2, "first connection and one reconnect");
}

#[test]
fn handshakes_carry_read_only_and_resume_the_session() {
    for (conns, _) in both() {
        let Msg::Connect(first, ro) = &conns[0][0] else {
            panic!("connection starts with a ConnectRequest")
        };
        let expect = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 4000,
            session_id: 0,
            passwd: vec![0; 16],
        };
        assert_eq!((first, *ro), (&expect, Some(false)));
        let Msg::Connected(session, ro) = &conns[0][1] else {
            panic!("the server answers with a ConnectResponse")
        };
        assert_eq!(*ro, Some(false), "3.4+ servers append readOnly");
        assert_eq!((session.protocol_version, session.timeout_ms), (0, 4000));
        assert_ne!(session.session_id, 0);
        assert_eq!(session.passwd.len(), 16);

        let mut last_zxid = 0;
        for conn in &conns {
            let Msg::Connect(req, Some(false)) = &conn[0] else {
                panic!("every connection starts with a ConnectRequest")
            };
            if req.session_id != 0 {
                // A reconnect presents the session, its password and the
                // last zxid the client saw.
                assert_eq!(req.session_id, session.session_id);
                assert_eq!(req.passwd, session.passwd);
                assert_eq!(req.last_zxid_seen, last_zxid);
                let Msg::Connected(again, Some(false)) = &conn[1] else {
                    panic!("reattached")
                };
                assert_eq!(again, session);
            }
            for m in conn {
                if let Msg::Reply(h, _) = m {
                    last_zxid = last_zxid.max(h.zxid);
                }
            }
        }
    }
}

#[test]
fn auth_digest() {
    for (conns, _) in both() {
        let (h, req, after) = find(&conns, OpCode::Auth, None);
        assert_eq!(h.xid, xid::AUTH);
        let packet = AuthPacket {
            kind: 0,
            scheme: "digest".into(),
            auth: b"golden:secret".to_vec(),
        };
        assert_eq!(req, Request::Auth(packet));
        let (rh, rsp, _) = reply(&h, &after);
        assert_eq!((rh.xid, rh.err, rsp), (xid::AUTH, 0, Some(Response::Empty)));
    }
}

#[test]
fn create_with_acl_and_flags() {
    for (conns, root) in both() {
        let p = path("/acl-", root);
        let (req, _, rsp) = ok_reply(&conns, OpCode::Create, Some(&p));
        let expect = CreateOp {
            op: OpCode::Create,
            path: p.clone(),
            data: Some(b"acl".to_vec()),
            acl: golden_acl(),
            flags: create_mode::EPHEMERAL_SEQUENTIAL,
            ttl: 0,
        };
        assert_eq!(req, Request::Create(expect));
        let path = format!("{p}0000000000");
        assert_eq!(rsp, Response::Create(CreateResponse { path }));
    }
}

#[test]
fn create2_replies_with_stat() {
    for (conns, root) in both() {
        let p = path("/c2", root);
        let (req, rh, rsp) = ok_reply(&conns, OpCode::Create2, Some(&p));
        let Request::Create(c) = req else { panic!() };
        assert_eq!(
            (c.data.as_deref().unwrap_or_default(), c.flags, c.ttl),
            (&b"two"[..], 0, 0)
        );
        assert_eq!(c.acl, Acl::open_unsafe());
        let Response::Create2(r) = rsp else {
            panic!("{rsp:?}")
        };
        assert_eq!(r.path, p);
        assert_fresh(&r.stat, rh.zxid, 3);
        assert_eq!(r.stat.ephemeral_owner, 0);
    }
}

#[test]
fn create_ttl_and_container() {
    let conns = decode(JAVA);
    let (req, rh, rsp) = ok_reply(&conns, OpCode::CreateTtl, Some("/golden/ttl"));
    let expect = CreateOp {
        op: OpCode::CreateTtl,
        path: "/golden/ttl".into(),
        data: Some(b"ttl".to_vec()),
        acl: Acl::open_unsafe(),
        flags: create_mode::PERSISTENT_WITH_TTL,
        ttl: 60_000,
    };
    assert_eq!(req, Request::Create(expect));
    let Response::Create2(r) = rsp else {
        panic!("{rsp:?}")
    };
    assert_fresh(&r.stat, rh.zxid, 3);
    // ZooKeeper marks TTL and container nodes in ephemeralOwner internally
    // (0xff.. | ttl, Long.MIN_VALUE) but shows clients 0.
    assert_eq!(r.stat.ephemeral_owner, 0);

    let (req, rh, rsp) = ok_reply(&conns, OpCode::CreateContainer, Some("/golden/container"));
    let Request::Create(c) = req else { panic!() };
    assert_eq!(
        (c.op, c.flags, c.data.as_ref().map_or(0, Vec::len)),
        (OpCode::CreateContainer, create_mode::CONTAINER, 0)
    );
    let Response::Create2(r) = rsp else {
        panic!("createContainer replies like create2: {rsp:?}")
    };
    assert_fresh(&r.stat, rh.zxid, 0);
    assert_eq!(r.stat.ephemeral_owner, 0);
}

#[test]
fn error_replies_have_no_body() {
    let conns = decode(JAVA);
    let (h, _, after) = find(&conns[..1], OpCode::Create, Some("/golden/c2"));
    let (rh, rsp, _) = reply(&h, &after);
    assert_eq!(
        (ErrorCode::from_i32(rh.err), rsp),
        (Some(ErrorCode::NodeExists), None)
    );
    for (conns, root) in both() {
        let p = path("/missing", root);
        assert_eq!(err_reply(&conns, OpCode::Exists, &p), ErrorCode::NoNode);
        let (_, req, _) = find(&conns, OpCode::Exists, Some(&p));
        assert_eq!(
            req,
            Request::Exists(ExistsRequest {
                path: p,
                watch: true
            })
        );
        // The deleted node, read again.
        let p = path("/c2", root);
        let gets = conns.last().unwrap();
        assert_eq!(
            err_reply(std::slice::from_ref(gets), OpCode::GetData, &p),
            ErrorCode::NoNode
        );
    }
}

/// getData leaves a watch; setData fires it, and the notification is sent
/// before the setData reply.
#[test]
fn get_data_watch_then_set_data_notifies_first() {
    for (conns, root) in both() {
        let p = path("/c2", root);
        let (req, _, rsp) = ok_reply(&conns, OpCode::GetData, Some(&p));
        let watch = GetDataRequest {
            path: p.clone(),
            watch: true,
        };
        assert_eq!(req, Request::GetData(watch));
        let Response::GetData(r) = rsp else { panic!() };
        assert_eq!(
            (r.data.as_deref().unwrap_or_default(), r.stat.version),
            (&b"two"[..], 0)
        );

        let (h, req, after) = find(&conns, OpCode::SetData, Some(&p));
        let set = SetDataRequest {
            path: p.clone(),
            data: Some(b"changed".to_vec()),
            version: 0,
        };
        assert_eq!(req, Request::SetData(set));
        let (rh, rsp, events) = reply(&h, &after);
        let Some(Response::Stat(stat)) = rsp else {
            panic!("{rsp:?}")
        };
        assert_eq!(
            (stat.version, stat.data_length, stat.mzxid),
            (1, 7, rh.zxid)
        );
        assert!(stat.czxid < stat.mzxid && stat.mtime >= stat.ctime);
        let changed = WatcherEvent {
            kind: event_type::NODE_DATA_CHANGED,
            state: keeper_state::SYNC_CONNECTED,
            path: p,
        };
        assert_eq!(events, vec![changed]);
    }
}

#[test]
fn notifications_have_xid_and_zxid_minus_one() {
    for (conns, _) in both() {
        let mut seen = 0;
        for m in conns.iter().flatten() {
            if let Msg::Event(h, ev) = m {
                assert_eq!((h.xid, h.zxid, h.err), (-1, -1, 0));
                assert_eq!(ev.state, keeper_state::SYNC_CONNECTED);
                seen += 1;
            }
        }
        assert!(seen >= 2);
    }
}

#[test]
fn get_children_and_children2() {
    for (conns, root) in both() {
        let (req, rh, rsp) = ok_reply(&conns, OpCode::GetChildren2, Some(root));
        let plain = GetChildrenRequest {
            path: root.into(),
            watch: false,
        };
        assert_eq!(req, Request::GetChildren2(plain));
        let Response::GetChildren2(r) = rsp else {
            panic!()
        };
        let mut children = r.children.clone();
        children.sort();
        let n = children.len() as i32;
        assert!(
            children.contains(&"c2".to_string()) && children.contains(&"acl-0000000000".into())
        );
        assert_eq!((r.stat.num_children, r.stat.cversion), (n, n));
        assert!(r.stat.pzxid <= rh.zxid);

        let (req, _, rsp) = ok_reply(&conns, OpCode::GetChildren, Some(root));
        let watch = GetChildrenRequest {
            path: root.into(),
            watch: true,
        };
        assert_eq!(req, Request::GetChildren(watch));
        let Response::GetChildren(r2) = rsp else {
            panic!()
        };
        assert_eq!(r2.children, r.children);
    }
}

#[test]
fn get_and_set_acl() {
    for (conns, root) in both() {
        let p = path("/c2", root);
        let (_, _, rsp) = ok_reply(&conns, OpCode::GetAcl, Some(&p));
        let Response::GetAcl(r) = rsp else { panic!() };
        assert_eq!((r.acl, r.stat.aversion), (Acl::open_unsafe(), 0));
        let (req, _, rsp) = ok_reply(&conns, OpCode::SetAcl, Some(&p));
        let expect = SetAclRequest {
            path: p,
            acl: Acl::open_unsafe(),
            version: 0,
        };
        assert_eq!(req, Request::SetAcl(expect));
        let Response::Stat(stat) = rsp else { panic!() };
        assert_eq!(stat.aversion, 1);
    }
}

fn multi_ops(root: &str) -> Vec<Request> {
    let p = path("/m", root);
    vec![
        Request::Create(CreateOp {
            op: OpCode::Create,
            path: p.clone(),
            data: Some(b"m".to_vec()),
            acl: Acl::open_unsafe(),
            flags: create_mode::PERSISTENT,
            ttl: 0,
        }),
        Request::SetData(SetDataRequest {
            path: p.clone(),
            data: Some(b"m2".to_vec()),
            version: 0,
        }),
        Request::Check(CheckVersionRequest {
            path: p.clone(),
            version: 1,
        }),
        Request::Delete(DeleteRequest {
            path: p,
            version: 1,
        }),
    ]
}

#[test]
fn multi_and_its_results() {
    for (conns, root) in both() {
        let (h, req, after) = find(&conns, OpCode::Multi, None);
        assert_eq!(req, Request::Multi(multi_ops(root)));
        let (rh, rsp, events) = reply(&h, &after);
        assert_eq!(rh.err, 0);
        let Some(Response::Multi(results)) = rsp else {
            panic!("{rsp:?}")
        };
        let [MultiResult::Create(created), MultiResult::SetData(stat), MultiResult::Check, MultiResult::Delete] =
            results.as_slice()
        else {
            panic!("{results:?}")
        };
        assert_eq!(created, &path("/m", root));
        assert_eq!(
            (stat.version, stat.czxid, stat.mzxid),
            (1, rh.zxid, rh.zxid)
        );
        // The multi's create and delete fired the child watch on the root.
        let children_changed = WatcherEvent {
            kind: event_type::NODE_CHILDREN_CHANGED,
            state: keeper_state::SYNC_CONNECTED,
            path: root.into(),
        };
        assert_eq!(events, vec![children_changed]);
    }
}

/// A failed multi: header err 0, one ErrorResult per op: 0 before the
/// failure, its code, then RuntimeInconsistency.
#[test]
fn failed_multi_results() {
    for (conns, root) in both() {
        let mut multis = conns.iter().flatten().filter_map(|m| match m {
            Msg::Request(h, Request::Multi(ops)) => Some((h.clone(), ops.clone())),
            _ => None,
        });
        multis.next();
        let (h, ops) = multis.next().expect("a second multi");
        assert_eq!(ops[0].path(), Some(path("/f", root).as_str()));
        let after: Vec<Msg> = conns.iter().flatten().cloned().collect();
        let (rh, rsp, _) = reply(&h, &after);
        assert_eq!(rh.err, 0);
        let mut expect = vec![
            MultiResult::Error(ErrorCode::Ok),
            MultiResult::Error(ErrorCode::BadVersion),
        ];
        if ops.len() == 3 {
            expect.push(MultiResult::Error(ErrorCode::RuntimeInconsistency));
        }
        assert_eq!(rsp, Some(Response::Multi(expect)));
    }
}

#[test]
fn multi_read() {
    let conns = decode(JAVA);
    let (req, _, rsp) = ok_reply(&conns, OpCode::MultiRead, None);
    let reads = vec![
        Request::GetData(GetDataRequest {
            path: "/golden/c2".into(),
            watch: false,
        }),
        Request::GetChildren(GetChildrenRequest {
            path: "/golden".into(),
            watch: false,
        }),
    ];
    assert_eq!(req, Request::MultiRead(reads));
    let Response::Multi(results) = rsp else {
        panic!()
    };
    let [MultiResult::GetData(data, stat), MultiResult::GetChildren(children)] = results.as_slice()
    else {
        panic!("{results:?}")
    };
    assert_eq!(
        (data.as_deref().unwrap_or_default(), stat.version),
        (&b"changed"[..], 1)
    );
    assert_eq!(children.len(), 4);
}

#[test]
fn sync_ephemerals_children_number_who_am_i() {
    let conns = decode(JAVA);
    let (_, _, rsp) = ok_reply(&conns, OpCode::Sync, Some("/golden"));
    assert_eq!(
        rsp,
        Response::Sync(SyncResponse {
            path: "/golden".into()
        })
    );
    let (_, _, rsp) = ok_reply(&conns, OpCode::GetEphemerals, Some("/golden"));
    let ephemerals = vec!["/golden/acl-0000000000".to_string()];
    assert_eq!(
        rsp,
        Response::Ephemerals(GetEphemeralsResponse { ephemerals })
    );
    let (_, _, rsp) = ok_reply(&conns, OpCode::GetAllChildrenNumber, Some("/golden"));
    assert_eq!(rsp, Response::AllChildrenNumber(4));
    let (req, _, rsp) = ok_reply(&conns, OpCode::WhoAmI, None);
    assert_eq!(req, Request::WhoAmI);
    let info = |auth_scheme: &str, user: &str| ClientInfo {
        auth_scheme: auth_scheme.into(),
        user: user.into(),
    };
    let client_info = vec![info("digest", "golden"), info("ip", "127.0.0.1")];
    assert_eq!(rsp, Response::WhoAmI(WhoAmIResponse { client_info }));

    let (_, _, rsp) = ok_reply(&decode(KAZOO), OpCode::Sync, Some("/kgolden"));
    assert_eq!(
        rsp,
        Response::Sync(SyncResponse {
            path: "/kgolden".into()
        })
    );
}

#[test]
fn watch_removal_and_add_watch() {
    let conns = decode(JAVA);
    let (req, _, rsp) = ok_reply(&conns, OpCode::CheckWatches, Some("/golden/ttl"));
    let data = RemoveWatchesRequest {
        path: "/golden/ttl".into(),
        kind: 2, // WatcherType.Data
    };
    assert_eq!((req, rsp), (Request::CheckWatches(data), Response::Empty));
    let (req, _, rsp) = ok_reply(&conns, OpCode::RemoveWatches, Some("/golden/ttl"));
    let any = RemoveWatchesRequest {
        path: "/golden/ttl".into(),
        kind: 3, // WatcherType.Any
    };
    assert_eq!((req, rsp), (Request::RemoveWatches(any), Response::Empty));
    let (req, _, rsp) = ok_reply(&conns, OpCode::AddWatch, Some("/golden"));
    let recursive = AddWatchRequest {
        path: "/golden".into(),
        mode: 1,
    };
    assert_eq!(req, Request::AddWatch(recursive));
    assert_eq!(rsp, Response::AddWatch(ErrorResponse { err: 0 }));
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// After a reconnect the Java client re-arms its watches: setWatches while
/// it has no persistent watch, setWatches2 once it has one.
#[test]
fn set_watches_after_reconnect() {
    let conns = decode(JAVA);
    let (h, req, _) = find(&conns, OpCode::SetWatches, None);
    let Msg::Connect(connect, _) = &conns[1][0] else {
        panic!()
    };
    let Request::SetWatches(OpCode::SetWatches, w) = req else {
        panic!("{req:?}")
    };
    assert!(h.xid > 0, "3.8.0 sends setWatches under an ordinary xid");
    assert_eq!(w.relative_zxid, connect.last_zxid_seen);
    assert_eq!(w.data_watches, vec!["/golden/ttl".to_string()]);
    let missing = vec!["/golden/missing".to_string(), "/golden/nope".into()];
    assert_eq!(sorted(w.exist_watches), missing);
    assert!(w.child_watches.is_empty() && w.persistent_recursive_watches.is_empty());

    let (_, req, _) = find(&conns, OpCode::SetWatches2, None);
    let Request::SetWatches(OpCode::SetWatches2, w) = req else {
        panic!("{req:?}")
    };
    assert!(w.data_watches.is_empty() && w.child_watches.is_empty());
    assert_eq!(sorted(w.exist_watches), missing);
    assert!(w.persistent_watches.is_empty());
    assert_eq!(w.persistent_recursive_watches, vec!["/golden".to_string()]);
}

#[test]
fn ping_delete_close() {
    for (conns, root) in both() {
        let (h, req, after) = find(&conns, OpCode::Ping, None);
        assert_eq!((h.xid, req), (xid::PING, Request::Ping));
        let (rh, rsp, _) = reply(&h, &after);
        assert_eq!((rh.xid, rh.err, rsp), (xid::PING, 0, Some(Response::Empty)));

        let p = path("/c2", root);
        let (req, _, rsp) = ok_reply(&conns, OpCode::Delete, Some(&p));
        assert_eq!(
            req,
            Request::Delete(DeleteRequest {
                path: p,
                version: 1
            })
        );
        assert_eq!(rsp, Response::Empty);

        let (h, req, after) = find(&conns, OpCode::CloseSession, None);
        assert_eq!(req, Request::CloseSession);
        let (rh, rsp, _) = reply(&h, &after);
        assert_eq!((rh.err, rsp), (0, Some(Response::Empty)));
    }
}

/// The exact bytes for a few messages, spelled out, as a reader's key to
/// the traces (and a check that does not go through the decoder).
#[test]
fn spelled_out_frames() {
    let ping = framed(|w| {
        RequestHeader {
            xid: xid::PING,
            op: OpCode::Ping as i32,
        }
        .write(w)
    });
    assert_eq!(ping, hex("00000008fffffffe0000000b"));
    assert!(JAVA.contains("> 00000008fffffffe0000000b\n"));
    assert!(KAZOO.contains("> 00000008fffffffe0000000b\n"));

    let connect = framed(|w| {
        ConnectRequest {
            timeout_ms: 4000,
            passwd: vec![0; 16],
            ..Default::default()
        }
        .write_handshake(Some(false), w)
    });
    let expect = concat!(
        "0000002d",         // length 45
        "00000000",         // protocolVersion
        "0000000000000000", // lastZxidSeen
        "00000fa0",         // timeOut 4000
        "0000000000000000", // sessionId
        "00000010",
        "00000000000000000000000000000000", // passwd
        "00",                               // readOnly
    );
    assert_eq!(connect, hex(expect));
    assert!(JAVA.contains(&format!("> {expect}\n")));
    assert!(KAZOO.contains(&format!("> {expect}\n")));

    let auth = framed(|w| {
        RequestHeader {
            xid: xid::AUTH,
            op: OpCode::Auth as i32,
        }
        .write(w);
        Request::Auth(AuthPacket {
            kind: 0,
            scheme: "digest".into(),
            auth: b"golden:secret".to_vec(),
        })
        .encode(w)
    });
    assert!(JAVA.contains(&format!("> {}\n", hex_str(&auth))));
}

fn hex_str(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
