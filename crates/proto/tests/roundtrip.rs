//! Property tests: every record, request, reply and transaction decodes
//! from its own encoding to the same value, consuming every byte, and (for
//! records, requests and replies) no strict prefix of an encoding decodes.

mod common;

use std::fmt::Debug;

use proptest::prelude::*;

use common::*;
use paddock_proto::frame;
use paddock_proto::jute::{DecodeError, Jute, Reader, Writer};
use paddock_proto::records::*;
use paddock_proto::request::Request;
use paddock_proto::response::Response;
use paddock_proto::txn::*;
use paddock_proto::{ErrorCode, OpCode};

fn fail(e: DecodeError) -> TestCaseError {
    TestCaseError::fail(format!("decode failed: {e}"))
}

/// `v` survives encode then decode, the decode reads every byte, and every
/// strict prefix of the encoding is refused.
fn check_record<T: Jute + PartialEq + Debug>(v: &T) -> Result<(), TestCaseError> {
    let bytes = v.to_bytes();
    let mut r = Reader::new(&bytes);
    let back = T::read(&mut r).map_err(fail)?;
    prop_assert_eq!(&back, v);
    prop_assert_eq!(r.remaining(), 0);
    for n in 0..bytes.len() {
        prop_assert!(T::from_bytes(&bytes[..n]).is_err(), "prefix {} decoded", n);
    }
    Ok(())
}

macro_rules! record_roundtrips {
    ($($test:ident => $strat:expr;)*) => {
        proptest! {
            $(
                #[test]
                fn $test(v in $strat) {
                    check_record(&v)?;
                }
            )*
        }
    };
}

record_roundtrips! {
    id_roundtrip => id();
    acl_roundtrip => acl();
    stat_roundtrip => stat();
    connect_request_roundtrip => record!(ConnectRequest {
        protocol_version: any::<i32>(),
        last_zxid_seen: any::<i64>(),
        timeout_ms: any::<i32>(),
        session_id: any::<i64>(),
        passwd: b(),
    });
    connect_response_roundtrip => record!(ConnectResponse {
        protocol_version: any::<i32>(),
        timeout_ms: any::<i32>(),
        session_id: any::<i64>(),
        passwd: b(),
    });
    set_watches_roundtrip => record!(SetWatches {
        relative_zxid: any::<i64>(),
        data_watches: strings(),
        exist_watches: strings(),
        child_watches: strings(),
    });
    set_watches2_roundtrip => set_watches2();
    request_header_roundtrip => record!(RequestHeader { xid: any::<i32>(), op: any::<i32>() });
    multi_header_roundtrip => record!(MultiHeader {
        op: any::<i32>(),
        done: any::<bool>(),
        err: any::<i32>(),
    });
    auth_packet_roundtrip => record!(AuthPacket { kind: any::<i32>(), scheme: s(), auth: b() });
    reply_header_roundtrip => record!(ReplyHeader {
        xid: any::<i32>(),
        zxid: any::<i64>(),
        err: any::<i32>(),
    });
    get_data_request_roundtrip => record!(GetDataRequest { path: s(), watch: any::<bool>() });
    set_data_request_roundtrip => record!(SetDataRequest {
        path: s(),
        data: ob(),
        version: any::<i32>(),
    });
    reconfig_request_roundtrip => record!(ReconfigRequest {
        joining_servers: s(),
        leaving_servers: s(),
        new_members: s(),
        cur_config_id: any::<i64>(),
    });
    set_data_response_roundtrip => record!(SetDataResponse { stat: stat() });
    create_request_roundtrip => record!(CreateRequest {
        path: s(),
        data: ob(),
        acl: acls(),
        flags: any::<i32>(),
    });
    create_ttl_request_roundtrip => record!(CreateTtlRequest {
        path: s(),
        data: ob(),
        acl: acls(),
        flags: any::<i32>(),
        ttl: any::<i64>(),
    });
    delete_request_roundtrip => record!(DeleteRequest { path: s(), version: any::<i32>() });
    get_children_request_roundtrip =>
        record!(GetChildrenRequest { path: s(), watch: any::<bool>() });
    get_all_children_number_request_roundtrip =>
        record!(GetAllChildrenNumberRequest { path: s() });
    check_version_request_roundtrip =>
        record!(CheckVersionRequest { path: s(), version: any::<i32>() });
    sync_request_roundtrip => record!(SyncRequest { path: s() });
    sync_response_roundtrip => record!(SyncResponse { path: s() });
    get_acl_request_roundtrip => record!(GetAclRequest { path: s() });
    set_acl_request_roundtrip => record!(SetAclRequest {
        path: s(),
        acl: acls(),
        version: any::<i32>(),
    });
    set_acl_response_roundtrip => record!(SetAclResponse { stat: stat() });
    add_watch_request_roundtrip => record!(AddWatchRequest { path: s(), mode: any::<i32>() });
    watcher_event_roundtrip => record!(WatcherEvent {
        kind: any::<i32>(),
        state: any::<i32>(),
        path: s(),
    });
    error_response_roundtrip => record!(ErrorResponse { err: any::<i32>() });
    create_response_roundtrip => record!(CreateResponse { path: s() });
    create2_response_roundtrip => record!(Create2Response { path: s(), stat: stat() });
    exists_request_roundtrip => record!(ExistsRequest { path: s(), watch: any::<bool>() });
    exists_response_roundtrip => record!(ExistsResponse { stat: stat() });
    get_data_response_roundtrip => record!(GetDataResponse { data: ob(), stat: stat() });
    get_children_response_roundtrip => record!(GetChildrenResponse { children: strings() });
    get_all_children_number_response_roundtrip =>
        record!(GetAllChildrenNumberResponse { total_number: any::<i32>() });
    get_children2_response_roundtrip =>
        record!(GetChildren2Response { children: strings(), stat: stat() });
    get_acl_response_roundtrip => record!(GetAclResponse { acl: acls(), stat: stat() });
    remove_watches_request_roundtrip =>
        record!(RemoveWatchesRequest { path: s(), kind: any::<i32>() });
    get_ephemerals_request_roundtrip => record!(GetEphemeralsRequest { prefix_path: s() });
    get_ephemerals_response_roundtrip => record!(GetEphemeralsResponse { ephemerals: strings() });
    client_info_roundtrip => record!(ClientInfo { auth_scheme: s(), user: s() });
    who_am_i_response_roundtrip => proptest::collection::vec(
        record!(ClientInfo { auth_scheme: s(), user: s() }),
        0..3,
    )
    .prop_map(|client_info| WhoAmIResponse { client_info });
    txn_header_roundtrip => record!(TxnHeader {
        client_id: any::<i64>(),
        cxid: any::<i32>(),
        zxid: any::<i64>(),
        time: any::<i64>(),
        op: any::<i32>(),
    });
    create_txn_v0_roundtrip => record!(CreateTxnV0 {
        path: s(),
        data: ob(),
        acl: acls(),
        ephemeral: any::<bool>(),
    });
    create_txn_roundtrip => record!(CreateTxn {
        path: s(),
        data: ob(),
        acl: acls(),
        ephemeral: any::<bool>(),
        parent_cversion: any::<i32>(),
    });
    create_ttl_txn_roundtrip => record!(CreateTtlTxn {
        path: s(),
        data: ob(),
        acl: acls(),
        parent_cversion: any::<i32>(),
        ttl: any::<i64>(),
    });
    create_container_txn_roundtrip => record!(CreateContainerTxn {
        path: s(),
        data: ob(),
        acl: acls(),
        parent_cversion: any::<i32>(),
    });
    delete_txn_roundtrip => record!(DeleteTxn { path: s() });
    set_data_txn_roundtrip => record!(SetDataTxn { path: s(), data: ob(), version: any::<i32>() });
    check_version_txn_roundtrip => record!(CheckVersionTxn { path: s(), version: any::<i32>() });
    set_acl_txn_roundtrip => record!(SetAclTxn { path: s(), acl: acls(), version: any::<i32>() });
    create_session_txn_roundtrip => record!(CreateSessionTxn { timeout_ms: any::<i32>() });
    close_session_txn_roundtrip => record!(CloseSessionTxn { paths_to_delete: strings() });
    error_txn_roundtrip => record!(ErrorTxn { err: any::<i32>() });
    txn_part_roundtrip => record!(TxnPart { op: any::<i32>(), data: b() });
    multi_txn_roundtrip => proptest::collection::vec(record!(TxnPart { op: any::<i32>(), data: b() }), 0..3)
        .prop_map(|txns| MultiTxn { txns });
}

proptest! {
    #[test]
    fn request_roundtrip(req in request()) {
        let mut body = Vec::new();
        req.encode(&mut body);
        let mut r = Reader::new(&body);
        let back = Request::decode(req.op(), &mut r).map_err(fail)?;
        prop_assert_eq!(&back, &req);
        prop_assert_eq!(r.remaining(), 0);
        for n in 0..body.len() {
            prop_assert!(
                Request::decode(req.op(), &mut Reader::new(&body[..n])).is_err(),
                "prefix {} of {:?} decoded", n, req
            );
        }
    }

    /// A request framed as a client sends it: length, header, body.
    #[test]
    fn request_frame_roundtrip(req in request(), xid in any::<i32>()) {
        let mut wire = Vec::new();
        let at = frame::begin(&mut wire);
        RequestHeader { xid, op: req.op() }.write(&mut wire);
        req.encode(&mut wire);
        frame::end(&mut wire, at);

        let len = frame::check(&wire, frame::DEFAULT_MAX_PACKET_BYTES).unwrap();
        prop_assert_eq!(len, Some(wire.len() - 4));
        prop_assert_eq!(frame::check(&wire[..wire.len() - 1], usize::MAX).unwrap(), None);
        let mut r = Reader::new(&wire[4..]);
        let h = RequestHeader::read(&mut r).map_err(fail)?;
        prop_assert_eq!(h.xid, xid);
        prop_assert_eq!(&Request::decode(h.op, &mut r).map_err(fail)?, &req);
        prop_assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn response_roundtrip((op, rsp) in response()) {
        let mut body = Vec::new();
        rsp.encode(&mut body);
        let mut r = Reader::new(&body);
        let back = Response::decode(op as i32, &mut r).map_err(fail)?;
        prop_assert_eq!(&back, &rsp);
        prop_assert_eq!(r.remaining(), 0);
        for n in 0..body.len() {
            prop_assert!(
                Response::decode(op as i32, &mut Reader::new(&body[..n])).is_err(),
                "prefix {} of {:?} decoded", n, rsp
            );
        }
    }

    #[test]
    fn txn_entry_roundtrip(entry in txn_entry()) {
        let bytes = entry.encode();
        prop_assert_eq!(TxnEntry::decode(&bytes).map_err(fail)?, entry.clone());
        let mut r = Reader::new(&bytes[txn_header_len()..]);
        prop_assert_eq!(Txn::read(entry.header.op, &mut r).map_err(fail)?, entry.txn);
        prop_assert_eq!(r.remaining(), 0);
    }

    /// A create logged in the V0 layout (no parent cversion) reads as a
    /// create with parent cversion -1, alone and inside a multi.
    #[test]
    fn create_txn_v0_is_upgraded(
        v0 in record!(CreateTxnV0 { path: s(), data: ob(), acl: acls(), ephemeral: any::<bool>() }),
        op in prop::sample::select(vec![OpCode::Create, OpCode::Create2]),
    ) {
        let upgraded = Txn::Create(CreateTxn {
            path: v0.path.clone(),
            data: v0.data.clone(),
            acl: v0.acl.clone(),
            ephemeral: v0.ephemeral,
            parent_cversion: -1,
        });
        let bytes = v0.to_bytes();
        prop_assert_eq!(&Txn::read(op as i32, &mut Reader::new(&bytes)).map_err(fail)?, &upgraded);

        let multi = MultiTxn { txns: vec![TxnPart { op: op as i32, data: bytes }] }.to_bytes();
        prop_assert_eq!(
            Txn::read(OpCode::Multi as i32, &mut Reader::new(&multi)).map_err(fail)?,
            Txn::Multi(vec![upgraded])
        );
    }

    /// The handshake helpers round-trip with and without the readOnly flag.
    #[test]
    fn handshake_roundtrip(
        req in record!(ConnectRequest {
            protocol_version: any::<i32>(),
            last_zxid_seen: any::<i64>(),
            timeout_ms: any::<i32>(),
            session_id: any::<i64>(),
            passwd: b(),
        }),
        rsp in record!(ConnectResponse {
            protocol_version: any::<i32>(),
            timeout_ms: any::<i32>(),
            session_id: any::<i64>(),
            passwd: b(),
        }),
        read_only in any::<Option<bool>>(),
    ) {
        let mut w = Vec::new();
        req.write_handshake(read_only, &mut w);
        let mut r = Reader::new(&w);
        prop_assert_eq!(ConnectRequest::read_handshake(&mut r).map_err(fail)?, (req, read_only));
        prop_assert_eq!(r.remaining(), 0);

        let mut w = Vec::new();
        rsp.write_handshake(read_only, &mut w);
        let mut r = Reader::new(&w);
        prop_assert_eq!(ConnectResponse::read_handshake(&mut r).map_err(fail)?, (rsp, read_only));
        prop_assert_eq!(r.remaining(), 0);
    }
}

fn txn_header_len() -> usize {
    TxnHeader::default().to_bytes().len()
}

#[test]
fn opcodes_and_error_codes_map_both_ways() {
    let ops = all_opcodes();
    assert_eq!(ops.len(), 33, "every ZooDefs.OpCode");
    for op in ops {
        assert_eq!(OpCode::from_i32(op as i32), Some(op));
    }
    let codes = all_error_codes();
    assert_eq!(codes.len(), 32, "every KeeperException.Code");
    for code in codes {
        assert_eq!(ErrorCode::from_i32(code as i32), Some(code));
    }
}

/// ZooKeeper before 3.6 logged closeSession with no body.
#[test]
fn close_session_txn_without_body() {
    let header = TxnHeader {
        client_id: 7,
        cxid: 1,
        zxid: 9,
        time: 1,
        op: OpCode::CloseSession as i32,
    };
    let entry = TxnEntry::decode(&header.to_bytes()).unwrap();
    assert_eq!(entry.txn, Txn::CloseSession(CloseSessionTxn::default()));
}

/// A null (-1) string, buffer or vector reads as empty.
#[test]
fn null_reads_as_empty() {
    let mut w = Vec::new();
    w.write_i32(-1); // path
    w.write_i32(-1); // data
    w.write_i32(-1); // acl
    w.write_i32(0); // flags
    let c = CreateRequest::from_bytes(&w).unwrap();
    assert_eq!(c, CreateRequest::default());
}

/// addWatch is answered with a 4-byte ErrorResponse body, as ZooKeeper does
/// (the Java client reads it); reconfig with the new config and its stat.
#[test]
fn reply_shapes_zookeeper_clients_expect() {
    let mut w = Vec::new();
    Response::AddWatch(ErrorResponse { err: 0 }).encode(&mut w);
    assert_eq!(w, [0, 0, 0, 0]);

    let reply = GetDataResponse {
        data: Some(b"server.1=127.0.0.1:2888:3888".to_vec()),
        stat: Stat::default(),
    };
    let bytes = reply.to_bytes();
    let back = Response::decode(OpCode::Reconfig as i32, &mut Reader::new(&bytes)).unwrap();
    assert_eq!(back, Response::GetData(reply));
}

#[test]
fn multi_error_results_keep_ok_code() {
    // A failed multi answers every op with an ErrorResult: 0 for the ops
    // before the failure, the failure's code, then RuntimeInconsistency.
    let rsp = Response::Multi(vec![
        paddock_proto::MultiResult::Error(ErrorCode::Ok),
        paddock_proto::MultiResult::Error(ErrorCode::BadVersion),
        paddock_proto::MultiResult::Error(ErrorCode::RuntimeInconsistency),
    ]);
    let mut w = Vec::new();
    rsp.encode(&mut w);
    let back = Response::decode(OpCode::Multi as i32, &mut Reader::new(&w)).unwrap();
    assert_eq!(back, rsp);
}
