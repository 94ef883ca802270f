//! proptest strategies for every record, request, reply and transaction.
//! Shared by the round-trip and the decode-anything tests.

#![allow(dead_code)]

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use paddock_proto::records::*;
use paddock_proto::request::{CreateOp, Request};
use paddock_proto::response::{MultiResult, Response};
use paddock_proto::txn::*;
use paddock_proto::{ErrorCode, OpCode};

/// Builds a record from one strategy per field, in field order.
macro_rules! record {
    ($name:ident { $($field:ident : $strat:expr),* $(,)? }) => {
        ($($strat,)*).prop_map(|($($field,)*)| $name { $($field,)* })
    };
}
#[allow(unused_imports)]
pub(crate) use record;

/// Every opcode ZooKeeper defines.
pub fn all_opcodes() -> Vec<OpCode> {
    (-20..=200).filter_map(OpCode::from_i32).collect()
}

/// Every error code ZooKeeper defines.
pub fn all_error_codes() -> Vec<ErrorCode> {
    (-200..=0).filter_map(ErrorCode::from_i32).collect()
}

/// A short string, any Unicode (paths are not validated by the codec).
pub fn s() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "/[a-z0-9/]{0,10}",
        1 => ".{0,6}",
    ]
}

/// Short data.
/// Znode data: null or a short buffer.
pub fn ob() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(b())
}

pub fn b() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..12)
}

/// A short list of strings.
pub fn strings() -> impl Strategy<Value = Vec<String>> {
    vec(s(), 0..4)
}

pub fn id() -> impl Strategy<Value = Id> {
    record!(Id {
        scheme: s(),
        id: s()
    })
}

pub fn acl() -> impl Strategy<Value = Acl> {
    record!(Acl {
        perms: any::<i32>(),
        id: id()
    })
}

pub fn acls() -> impl Strategy<Value = Vec<Acl>> {
    vec(acl(), 0..3)
}

pub fn stat() -> impl Strategy<Value = Stat> {
    record!(Stat {
        czxid: any::<i64>(),
        mzxid: any::<i64>(),
        ctime: any::<i64>(),
        mtime: any::<i64>(),
        version: any::<i32>(),
        cversion: any::<i32>(),
        aversion: any::<i32>(),
        ephemeral_owner: any::<i64>(),
        data_length: any::<i32>(),
        num_children: any::<i32>(),
        pzxid: any::<i64>(),
    })
}

pub fn error_code() -> impl Strategy<Value = ErrorCode> {
    select(all_error_codes())
}

fn create_op(ops: &'static [OpCode]) -> impl Strategy<Value = Request> {
    (select(ops), s(), ob(), acls(), any::<i32>(), any::<i64>()).prop_map(
        |(op, path, data, acl, flags, ttl)| {
            Request::Create(CreateOp {
                op,
                path,
                data,
                acl,
                flags,
                // Only createTTL carries a ttl on the wire.
                ttl: if op == OpCode::CreateTtl { ttl } else { 0 },
            })
        },
    )
}

const CREATE_OPS: &[OpCode] = &[
    OpCode::Create,
    OpCode::Create2,
    OpCode::CreateContainer,
    OpCode::CreateTtl,
];

/// An operation a multi may hold.
pub fn multi_write_op() -> impl Strategy<Value = Request> {
    prop_oneof![
        create_op(CREATE_OPS),
        record!(DeleteRequest {
            path: s(),
            version: any::<i32>()
        })
        .prop_map(Request::Delete),
        record!(SetDataRequest {
            path: s(),
            data: ob(),
            version: any::<i32>()
        })
        .prop_map(Request::SetData),
        record!(CheckVersionRequest {
            path: s(),
            version: any::<i32>()
        })
        .prop_map(Request::Check),
    ]
}

/// An operation a multiRead may hold.
pub fn multi_read_op() -> impl Strategy<Value = Request> {
    prop_oneof![
        record!(GetDataRequest {
            path: s(),
            watch: any::<bool>()
        })
        .prop_map(Request::GetData),
        record!(GetChildrenRequest {
            path: s(),
            watch: any::<bool>()
        })
        .prop_map(Request::GetChildren),
    ]
}

/// Opcodes `Request::decode` answers with `Request::Unknown`.
fn unknown_op() -> impl Strategy<Value = i32> {
    prop_oneof![
        select(vec![
            OpCode::Notification as i32,
            OpCode::DeleteContainer as i32,
            OpCode::Sasl as i32,
            OpCode::CreateSession as i32,
            OpCode::Error as i32,
        ]),
        any::<i32>().prop_filter("not an opcode", |v| OpCode::from_i32(*v).is_none()),
    ]
}

/// Any request, every variant.
pub fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        multi_write_op(),
        multi_read_op(),
        record!(ExistsRequest {
            path: s(),
            watch: any::<bool>()
        })
        .prop_map(Request::Exists),
        record!(GetAclRequest { path: s() }).prop_map(Request::GetAcl),
        record!(SetAclRequest {
            path: s(),
            acl: acls(),
            version: any::<i32>()
        })
        .prop_map(Request::SetAcl),
        record!(GetChildrenRequest {
            path: s(),
            watch: any::<bool>()
        })
        .prop_map(Request::GetChildren2),
        record!(SyncRequest { path: s() }).prop_map(Request::Sync),
        Just(Request::Ping),
        vec(multi_write_op(), 0..4).prop_map(Request::Multi),
        vec(multi_read_op(), 0..4).prop_map(Request::MultiRead),
        record!(ReconfigRequest {
            joining_servers: s(),
            leaving_servers: s(),
            new_members: s(),
            cur_config_id: any::<i64>(),
        })
        .prop_map(Request::Reconfig),
        record!(RemoveWatchesRequest {
            path: s(),
            kind: any::<i32>()
        })
        .prop_map(Request::CheckWatches),
        record!(RemoveWatchesRequest {
            path: s(),
            kind: any::<i32>()
        })
        .prop_map(Request::RemoveWatches),
        record!(AuthPacket {
            kind: any::<i32>(),
            scheme: s(),
            auth: b()
        })
        .prop_map(Request::Auth),
        (any::<i64>(), strings(), strings(), strings()).prop_map(|(z, d, e, c)| {
            Request::SetWatches(
                OpCode::SetWatches,
                SetWatches2 {
                    relative_zxid: z,
                    data_watches: d,
                    exist_watches: e,
                    child_watches: c,
                    ..Default::default()
                },
            )
        }),
        set_watches2().prop_map(|s| Request::SetWatches(OpCode::SetWatches2, s)),
        record!(GetEphemeralsRequest { prefix_path: s() }).prop_map(Request::GetEphemerals),
        record!(GetAllChildrenNumberRequest { path: s() }).prop_map(Request::GetAllChildrenNumber),
        record!(AddWatchRequest {
            path: s(),
            mode: any::<i32>()
        })
        .prop_map(Request::AddWatch),
        Just(Request::WhoAmI),
        Just(Request::CloseSession),
        unknown_op().prop_map(Request::Unknown),
    ]
}

pub fn set_watches2() -> impl Strategy<Value = SetWatches2> {
    record!(SetWatches2 {
        relative_zxid: any::<i64>(),
        data_watches: strings(),
        exist_watches: strings(),
        child_watches: strings(),
        persistent_watches: strings(),
        persistent_recursive_watches: strings(),
    })
}

pub fn multi_result() -> impl Strategy<Value = MultiResult> {
    prop_oneof![
        s().prop_map(MultiResult::Create),
        (s(), stat()).prop_map(|(p, st)| MultiResult::Create2(p, st)),
        Just(MultiResult::Delete),
        stat().prop_map(MultiResult::SetData),
        Just(MultiResult::Check),
        error_code().prop_map(MultiResult::Error),
        (ob(), stat()).prop_map(|(d, st)| MultiResult::GetData(d, st)),
        strings().prop_map(MultiResult::GetChildren),
    ]
}

/// A reply and an opcode of a request it answers.
pub fn response() -> impl Strategy<Value = (OpCode, Response)> {
    use OpCode as O;
    let empty_ops = vec![
        O::Delete,
        O::Ping,
        O::Auth,
        O::SetWatches,
        O::SetWatches2,
        O::CheckWatches,
        O::RemoveWatches,
        O::CloseSession,
        O::Check,
    ];
    prop_oneof![
        select(empty_ops).prop_map(|op| (op, Response::Empty)),
        s().prop_map(|path| (O::Create, Response::Create(CreateResponse { path }))),
        (
            select(vec![O::Create2, O::CreateContainer, O::CreateTtl]),
            s(),
            stat()
        )
            .prop_map(|(op, path, stat)| (op, Response::Create2(Create2Response { path, stat }))),
        (select(vec![O::Exists, O::SetData, O::SetAcl]), stat())
            .prop_map(|(op, st)| (op, Response::Stat(st))),
        (select(vec![O::GetData, O::Reconfig]), ob(), stat())
            .prop_map(|(op, data, stat)| (op, Response::GetData(GetDataResponse { data, stat }))),
        strings().prop_map(|children| {
            (
                O::GetChildren,
                Response::GetChildren(GetChildrenResponse { children }),
            )
        }),
        (strings(), stat()).prop_map(|(children, stat)| {
            (
                O::GetChildren2,
                Response::GetChildren2(GetChildren2Response { children, stat }),
            )
        }),
        (acls(), stat())
            .prop_map(|(acl, stat)| (O::GetAcl, Response::GetAcl(GetAclResponse { acl, stat }))),
        s().prop_map(|path| (O::Sync, Response::Sync(SyncResponse { path }))),
        any::<i32>().prop_map(|n| (O::GetAllChildrenNumber, Response::AllChildrenNumber(n))),
        strings().prop_map(|ephemerals| {
            (
                O::GetEphemerals,
                Response::Ephemerals(GetEphemeralsResponse { ephemerals }),
            )
        }),
        vec(
            record!(ClientInfo {
                auth_scheme: s(),
                user: s()
            }),
            0..3
        )
        .prop_map(|client_info| (O::WhoAmI, Response::WhoAmI(WhoAmIResponse { client_info }))),
        (
            select(vec![O::Multi, O::MultiRead]),
            vec(multi_result(), 0..5)
        )
            .prop_map(|(op, results)| (op, Response::Multi(results))),
        any::<i32>().prop_map(|err| (O::AddWatch, Response::AddWatch(ErrorResponse { err }))),
    ]
}

fn create_txn() -> impl Strategy<Value = CreateTxn> {
    record!(CreateTxn {
        path: s(),
        data: ob(),
        acl: acls(),
        ephemeral: any::<bool>(),
        parent_cversion: any::<i32>(),
    })
}

/// A transaction that may be a part of a multi.
pub fn txn_part() -> impl Strategy<Value = Txn> {
    prop_oneof![
        create_txn().prop_map(Txn::Create),
        record!(CreateTtlTxn {
            path: s(),
            data: ob(),
            acl: acls(),
            parent_cversion: any::<i32>(),
            ttl: any::<i64>(),
        })
        .prop_map(Txn::CreateTtl),
        record!(CreateContainerTxn {
            path: s(),
            data: ob(),
            acl: acls(),
            parent_cversion: any::<i32>(),
        })
        .prop_map(Txn::CreateContainer),
        record!(DeleteTxn { path: s() }).prop_map(Txn::Delete),
        record!(SetDataTxn {
            path: s(),
            data: ob(),
            version: any::<i32>()
        })
        .prop_map(Txn::SetData),
        record!(SetAclTxn {
            path: s(),
            acl: acls(),
            version: any::<i32>()
        })
        .prop_map(Txn::SetAcl),
        record!(CheckVersionTxn {
            path: s(),
            version: any::<i32>()
        })
        .prop_map(Txn::Check),
        record!(CreateSessionTxn {
            timeout_ms: any::<i32>()
        })
        .prop_map(Txn::CreateSession),
        record!(CloseSessionTxn {
            paths_to_delete: strings()
        })
        .prop_map(Txn::CloseSession),
        record!(ErrorTxn { err: any::<i32>() }).prop_map(Txn::Error),
    ]
}

/// Any transaction, multi included.
pub fn txn() -> impl Strategy<Value = Txn> {
    prop_oneof![
        4 => txn_part(),
        1 => vec(txn_part(), 0..4).prop_map(Txn::Multi),
    ]
}

/// A log entry whose header names the body's type.
pub fn txn_entry() -> impl Strategy<Value = TxnEntry> {
    (
        any::<i64>(),
        any::<i32>(),
        any::<i64>(),
        any::<i64>(),
        txn(),
    )
        .prop_map(|(client_id, cxid, zxid, time, txn)| TxnEntry {
            header: TxnHeader {
                client_id,
                cxid,
                zxid,
                time,
                op: txn.op() as i32,
            },
            txn,
        })
}
