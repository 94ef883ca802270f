//! Feeds arbitrary bytes through what a server does with a connection's
//! input: `frame::check`, then the handshake (`ConnectRequest` and its
//! optional readOnly flag) for the first packet and `RequestHeader` +
//! `Request::decode` for the rest. The whole input is also decoded as a
//! reply body under every opcode and as a transaction log entry.
//!
//! Properties: nothing panics, aborts or overflows the stack; whatever
//! decodes re-encodes to bytes that decode to the same value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use paddock_proto::frame;
use paddock_proto::jute::{Jute, Reader};
use paddock_proto::records::{ConnectRequest, RequestHeader};
use paddock_proto::request::Request;
use paddock_proto::response::Response;
use paddock_proto::txn::TxnEntry;

/// Packets read from one input, at most (a limit, like everything else).
const PACKETS_MAX: usize = 64;

fuzz_target!(|data: &[u8]| {
    connection(data);
    for op in -12..=108 {
        reply(op, data);
    }
    if let Ok(entry) = TxnEntry::decode(data) {
        assert_eq!(TxnEntry::decode(&entry.encode()).as_ref(), Ok(&entry));
    }
});

fn connection(mut buf: &[u8]) {
    for i in 0..PACKETS_MAX {
        let n = match frame::check(buf, frame::DEFAULT_MAX_PACKET_BYTES) {
            Ok(Some(n)) => n,
            Ok(None) | Err(_) => return,
        };
        let body = &buf[4..4 + n];
        if i == 0 {
            handshake(body);
        } else {
            request(body);
        }
        buf = &buf[4 + n..];
    }
}

fn handshake(body: &[u8]) {
    let mut r = Reader::new(body);
    if let Ok((req, read_only)) = ConnectRequest::read_handshake(&mut r) {
        let mut w = Vec::new();
        req.write_handshake(read_only, &mut w);
        let again = ConnectRequest::read_handshake(&mut Reader::new(&w));
        assert_eq!(again, Ok((req, read_only)));
    }
}

fn request(body: &[u8]) {
    let mut r = Reader::new(body);
    let Ok(h) = RequestHeader::read(&mut r) else {
        return;
    };
    if let Ok(req) = Request::decode(h.op, &mut r) {
        assert_eq!(req.op(), h.op);
        let mut w = Vec::new();
        req.encode(&mut w);
        assert_eq!(Request::decode(h.op, &mut Reader::new(&w)), Ok(req));
    }
}

fn reply(op: i32, body: &[u8]) {
    if let Ok(rsp) = Response::decode(op, &mut Reader::new(body)) {
        let mut w = Vec::new();
        rsp.encode(&mut w);
        assert_eq!(Response::decode(op, &mut Reader::new(&w)), Ok(rsp));
    }
}
