//! Decoding never panics: any bytes, under any opcode, through every
//! decoder return `Ok` or `Err`. Random bytes are mostly refused at the first
//! length, so valid encodings with random damage are fed too, to reach the
//! deeper fields. (The fuzz target in `fuzz/` does the same, unbounded.)

mod common;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

use common::*;
use paddock_proto::frame::{self, FrameError};
use paddock_proto::jute::{DecodeError, Jute, Reader, Writer};
use paddock_proto::records::*;
use paddock_proto::request::{Request, MULTI_OPS_MAX};
use paddock_proto::response::Response;
use paddock_proto::txn::*;
use paddock_proto::OpCode;

/// Opcodes to try: every defined one and a few that are not.
fn ops() -> Vec<i32> {
    let mut ops: Vec<i32> = all_opcodes().into_iter().map(|o| o as i32).collect();
    ops.extend([-2, 10, 23, 99, 108, i32::MIN, i32::MAX]);
    ops
}

fn record_decoders() -> Vec<fn(&[u8])> {
    fn d<T: Jute>(b: &[u8]) {
        let _ = T::from_bytes(b);
    }
    vec![
        d::<Id>,
        d::<Acl>,
        d::<Stat>,
        d::<ConnectRequest>,
        d::<ConnectResponse>,
        d::<SetWatches>,
        d::<SetWatches2>,
        d::<RequestHeader>,
        d::<MultiHeader>,
        d::<AuthPacket>,
        d::<ReplyHeader>,
        d::<WatcherEvent>,
        d::<GetAclResponse>,
        d::<GetChildren2Response>,
        d::<WhoAmIResponse>,
        d::<TxnHeader>,
        d::<MultiTxn>,
        d::<CreateTxnV0>,
        d::<CloseSessionTxn>,
    ]
}

/// Runs every decoder over `bytes`; the property is that this returns.
fn decode_everything(bytes: &[u8]) {
    for op in ops() {
        let mut r = Reader::new(bytes);
        if Request::decode(op, &mut r).is_ok() {
            assert!(r.position() <= bytes.len());
        }
        let _ = Response::decode(op, &mut Reader::new(bytes));
        let _ = Txn::read(op, &mut Reader::new(bytes));
    }
    let _ = TxnEntry::decode(bytes);
    let _ = ConnectRequest::read_handshake(&mut Reader::new(bytes));
    let _ = ConnectResponse::read_handshake(&mut Reader::new(bytes));
    for d in record_decoders() {
        d(bytes);
    }
}

/// Overwrites, truncates or inserts bytes of `bytes`.
fn damage(mut bytes: Vec<u8>, edits: &[(u8, Index, u8)]) -> Vec<u8> {
    for (kind, at, v) in edits {
        if bytes.is_empty() {
            bytes.push(*v);
            continue;
        }
        let i = at.index(bytes.len());
        match kind % 4 {
            0 => bytes[i] = *v,
            1 => bytes.truncate(i),
            2 => bytes.insert(i, *v),
            _ => bytes[i] ^= 0x80,
        }
    }
    bytes
}

fn edits() -> impl Strategy<Value = Vec<(u8, Index, u8)>> {
    vec((any::<u8>(), any::<Index>(), any::<u8>()), 1..4)
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..96)) {
        decode_everything(&bytes);
    }

    /// Bytes built from small lengths and counts, so decoders go deep.
    #[test]
    fn small_ints_never_panic(ints in vec(prop_oneof![-2i32..6, any::<i32>()], 0..24)) {
        let mut bytes = Vec::new();
        for i in ints {
            bytes.write_i32(i);
        }
        decode_everything(&bytes);
    }

    #[test]
    fn damaged_requests_never_panic(req in request(), edits in edits()) {
        let mut body = Vec::new();
        req.encode(&mut body);
        decode_everything(&damage(body, &edits));
    }

    #[test]
    fn damaged_responses_never_panic((_op, rsp) in response(), edits in edits()) {
        let mut body = Vec::new();
        rsp.encode(&mut body);
        decode_everything(&damage(body, &edits));
    }

    #[test]
    fn damaged_txns_never_panic(entry in txn_entry(), edits in edits()) {
        decode_everything(&damage(entry.encode(), &edits));
    }

    /// `check` answers exactly: a whole packet, more bytes needed, or a
    /// length that can never be valid.
    #[test]
    fn frame_check_is_exact(
        buf in prop_oneof![
            vec(any::<u8>(), 0..16),
            (0i32..24, vec(any::<u8>(), 0..32)).prop_map(|(n, rest)| {
                let mut b = n.to_be_bytes().to_vec();
                b.extend(rest);
                b
            }),
        ],
        max in prop_oneof![Just(frame::DEFAULT_MAX_PACKET_BYTES), 0usize..32],
    ) {
        let got = frame::check(&buf, max);
        if buf.len() < 4 {
            prop_assert_eq!(got, Ok(None));
            return Ok(());
        }
        let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        match got {
            Ok(Some(n)) => {
                prop_assert_eq!(n as i64, len as i64);
                prop_assert!(n <= max && buf.len() >= 4 + n);
            }
            Ok(None) => prop_assert!(len >= 0 && len as usize <= max && buf.len() < 4 + len as usize),
            Err(FrameError::Negative(v)) => prop_assert!(v == len && len < 0),
            Err(FrameError::TooLarge { len: l, max: m }) => {
                prop_assert!(l == len as usize && m == max && l > max && len >= 0)
            }
        }
    }
}

/// One multi header per nesting level, as an attacker would nest them.
fn nested_multi(levels: usize) -> Vec<u8> {
    let mut w = Vec::new();
    for _ in 0..levels {
        MultiHeader {
            op: OpCode::Multi as i32,
            done: false,
            err: -1,
        }
        .write(&mut w);
    }
    w
}

/// A multi inside a multi is refused before its body is read: no recursion,
/// so a megabyte of nested headers cannot overflow the stack.
#[test]
fn nested_multi_request_is_refused_without_recursion() {
    let bytes = nested_multi(120_000);
    for op in [OpCode::Multi, OpCode::MultiRead] {
        let err = Request::decode(op as i32, &mut Reader::new(&bytes)).unwrap_err();
        assert_eq!(
            err,
            DecodeError::BadValue {
                what: "multi op type",
                value: OpCode::Multi as i32
            }
        );
    }
}

/// The same for a logged multi whose part claims to be a multi.
#[test]
fn nested_multi_txn_is_refused_without_recursion() {
    // Level k is MultiTxn { txns: [TxnPart { op: multi, data: level k-1 }] }:
    // count 1, op, data length, then level k-1; level 0 is an empty multi.
    const LEVELS: i32 = 80_000;
    let mut w = Vec::new();
    for k in (1..=LEVELS).rev() {
        w.write_i32(1);
        w.write_i32(OpCode::Multi as i32);
        w.write_i32(4 + 12 * (k - 1));
    }
    w.write_i32(0);
    let err = Txn::read(OpCode::Multi as i32, &mut Reader::new(&w)).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::BadValue {
            what: "multi txn part type",
            ..
        }
    ));
}

/// A multi holding more operations than the cap is refused.
#[test]
fn multi_op_count_is_capped() {
    let mut w = Vec::new();
    for _ in 0..=MULTI_OPS_MAX {
        MultiHeader {
            op: OpCode::Delete as i32,
            done: false,
            err: -1,
        }
        .write(&mut w);
        DeleteRequest::default().write(&mut w);
    }
    MultiHeader {
        op: -1,
        done: true,
        err: -1,
    }
    .write(&mut w);
    let err = Request::decode(OpCode::Multi as i32, &mut Reader::new(&w)).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::BadValue {
            what: "multi op count",
            ..
        }
    ));
}

/// A vector count larger than the bytes left is refused before anything is
/// allocated for it, and a count the bytes could hold reserves no more than
/// they can fill.
#[test]
fn vector_counts_are_bounded_by_input() {
    let mut w = Vec::new();
    w.write_i32(i32::MAX);
    assert!(matches!(
        GetAclResponse::from_bytes(&w),
        Err(DecodeError::BadLength {
            offset: 0,
            len: i32::MAX
        })
    ));
    let mut w = Vec::new();
    w.write_i32(-2);
    assert!(matches!(
        GetChildrenResponse::from_bytes(&w),
        Err(DecodeError::BadLength { offset: 0, len: -2 })
    ));
}

/// A V0 create whose fields fail reports offsets in the whole entry.
#[test]
fn create_txn_errors_report_entry_offsets() {
    let header = TxnHeader {
        op: OpCode::Create as i32,
        ..Default::default()
    };
    let mut w = header.to_bytes();
    let at = w.len();
    w.write_i32(2);
    w.extend_from_slice(&[0xff, 0xfe]); // not UTF-8
    assert_eq!(
        TxnEntry::decode(&w).unwrap_err(),
        DecodeError::BadUtf8 { offset: at + 4 }
    );
    let mut w = header.to_bytes();
    w.write_i32(100); // longer than what follows
    assert_eq!(
        TxnEntry::decode(&w).unwrap_err(),
        DecodeError::BadLength {
            offset: at,
            len: 100
        }
    );
}
