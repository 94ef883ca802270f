//! Raw-bytes tests against a real server on 127.0.0.1: the handshake, a
//! write and a read, pipelining order, bad input closing only its own
//! connection, unknown opcodes, four-letter words.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use proto::jute::{Jute, Reader};
use proto::request::{create_mode, CreateOp};
use proto::{Acl, OpCode, ReplyHeader, Request, Response};

struct TestServer {
    addr: SocketAddr,
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn start() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let cfg = paddock_server::Config {
        data_dir: dir.path().to_path_buf(),
        data_log_dir: dir.path().to_path_buf(),
        client_port: 0,
        client_port_address: "127.0.0.1".parse().unwrap(),
        four_letter_whitelist: vec!["*".into()],
        ..Default::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(paddock_server::Server::bind(cfg)).unwrap();
    let addr = server.local_addr();
    rt.spawn(server.run(std::future::pending()));
    TestServer {
        addr,
        _dir: dir,
        _rt: rt,
    }
}

struct Client {
    s: TcpStream,
}

impl Client {
    fn connect(addr: SocketAddr) -> (Client, proto::ConnectResponse) {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut c = Client { s };
        let req = proto::ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 10_000,
            session_id: 0,
            passwd: vec![0; 16],
        };
        c.send_raw(&req.to_bytes());
        let body = c.recv().expect("connect response");
        (c, proto::ConnectResponse::from_bytes(&body).unwrap())
    }

    fn send_raw(&mut self, body: &[u8]) {
        let mut buf = (body.len() as i32).to_be_bytes().to_vec();
        buf.extend_from_slice(body);
        self.s.write_all(&buf).unwrap();
    }

    fn send(&mut self, xid: i32, req: &Request) {
        let mut body = Vec::new();
        proto::RequestHeader { xid, op: req.op() }.write(&mut body);
        req.encode(&mut body);
        self.send_raw(&body);
    }

    fn recv(&mut self) -> Option<Vec<u8>> {
        let mut len = [0u8; 4];
        self.s.read_exact(&mut len).ok()?;
        let mut body = vec![0; i32::from_be_bytes(len) as usize];
        self.s.read_exact(&mut body).ok()?;
        Some(body)
    }

    fn reply(&mut self, op: i32) -> (ReplyHeader, Option<Response>) {
        let body = self.recv().expect("a reply");
        let mut r = Reader::new(&body);
        let h = ReplyHeader::read(&mut r).unwrap();
        let resp = (h.err == 0).then(|| Response::decode(op, &mut r).unwrap());
        (h, resp)
    }
}

fn create(path: &str, data: &[u8], flags: i32) -> Request {
    Request::Create(CreateOp {
        op: OpCode::Create,
        path: path.into(),
        data: Some(data.to_vec()),
        acl: Acl::open_unsafe(),
        flags,
        ttl: 0,
    })
}

#[test]
fn handshake_create_get() {
    let srv = start();
    let (mut c, resp) = Client::connect(srv.addr);
    assert_ne!(resp.session_id, 0);
    assert_eq!(resp.timeout_ms, 10_000);
    assert_eq!(resp.passwd.len(), 16);
    c.send(1, &create("/a", b"hello", create_mode::PERSISTENT));
    let (h, r) = c.reply(OpCode::Create as i32);
    assert_eq!((h.xid, h.err), (1, 0));
    assert_eq!(
        r,
        Some(Response::Create(proto::CreateResponse {
            path: "/a".into()
        }))
    );
    c.send(
        2,
        &Request::GetData(proto::GetDataRequest {
            path: "/a".into(),
            watch: false,
        }),
    );
    let (h, r) = c.reply(OpCode::GetData as i32);
    assert_eq!((h.xid, h.err), (2, 0));
    let Some(Response::GetData(g)) = r else {
        panic!("not a getData reply: {r:?}")
    };
    assert_eq!(g.data.as_deref(), Some(&b"hello"[..]));
    assert_eq!(g.stat.czxid, h.zxid);
}

#[test]
fn pipelined_replies_keep_request_order() {
    let srv = start();
    let (mut c, _) = Client::connect(srv.addr);
    // write, read, write, read ... all sent before any reply is read.
    for i in 0..50 {
        let path = format!("/p{i}");
        c.send(2 * i + 1, &create(&path, b"x", create_mode::PERSISTENT));
        c.send(
            2 * i + 2,
            &Request::Exists(proto::ExistsRequest { path, watch: false }),
        );
    }
    for i in 0..50 {
        let (h, _) = c.reply(OpCode::Create as i32);
        assert_eq!((h.xid, h.err), (2 * i + 1, 0));
        let (h, r) = c.reply(OpCode::Exists as i32);
        assert_eq!(
            (h.xid, h.err),
            (2 * i + 2, 0),
            "exists sees its own session's create"
        );
        assert!(matches!(r, Some(Response::Stat(_))));
    }
}

#[test]
fn unknown_opcode_is_unimplemented_and_connection_survives() {
    let srv = start();
    let (mut c, _) = Client::connect(srv.addr);
    let mut body = Vec::new();
    proto::RequestHeader { xid: 7, op: 999 }.write(&mut body);
    c.send_raw(&body);
    let (h, _) = c.reply(999);
    assert_eq!((h.xid, h.err), (7, proto::ErrorCode::Unimplemented as i32));
    c.send(8, &Request::Ping);
    let (h, _) = c.reply(OpCode::Ping as i32);
    assert_eq!((h.xid, h.err), (8, 0));
}

#[test]
fn oversized_and_malformed_packets_close_only_their_connection() {
    let srv = start();
    let (mut bad, _) = Client::connect(srv.addr);
    bad.s
        .write_all(&(64 * 1024 * 1024i32).to_be_bytes())
        .unwrap();
    assert!(
        bad.recv().is_none(),
        "oversized packet closes the connection"
    );
    let (mut bad2, _) = Client::connect(srv.addr);
    // A getData header with a truncated path string.
    let mut body = Vec::new();
    proto::RequestHeader { xid: 1, op: 4 }.write(&mut body);
    body.extend_from_slice(&100i32.to_be_bytes());
    body.extend_from_slice(b"/x");
    bad2.send_raw(&body);
    assert!(
        bad2.recv().is_none(),
        "malformed packet closes the connection"
    );
    let (mut good, _) = Client::connect(srv.addr);
    good.send(1, &Request::Ping);
    assert_eq!(good.reply(OpCode::Ping as i32).0.err, 0);
}

#[test]
fn four_letter_words() {
    let srv = start();
    let ask = |word: &str| {
        let mut s = TcpStream::connect(srv.addr).unwrap();
        s.write_all(word.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    assert_eq!(ask("ruok"), "imok");
    let srvr = ask("srvr");
    assert!(srvr.contains("Mode: standalone"), "{srvr}");
    assert!(srvr.contains("Node count: "), "{srvr}");
    let mntr = ask("mntr");
    assert!(mntr.contains("zk_server_state\tstandalone"), "{mntr}");
    assert!(ask("stat\n").starts_with("Zookeeper version: "));
}

#[test]
fn reattach_with_wrong_password_is_refused() {
    let srv = start();
    let (_c, resp) = Client::connect(srv.addr);
    let s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut c2 = Client { s };
    let req = proto::ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms: 10_000,
        session_id: resp.session_id,
        passwd: vec![1; 16],
    };
    c2.send_raw(&req.to_bytes());
    let r = proto::ConnectResponse::from_bytes(&c2.recv().unwrap()).unwrap();
    assert_eq!((r.session_id, r.timeout_ms), (0, 0));
    assert!(c2.recv().is_none());
    // The right password reattaches.
    let s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut c3 = Client { s };
    let req = proto::ConnectRequest {
        passwd: resp.passwd.clone(),
        ..req
    };
    c3.send_raw(&req.to_bytes());
    let r = proto::ConnectResponse::from_bytes(&c3.recv().unwrap()).unwrap();
    assert_eq!(r.session_id, resp.session_id);
}
