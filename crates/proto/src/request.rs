//! Client requests: one enum over every opcode, decoded from the body that
//! follows a [`RequestHeader`](crate::records::RequestHeader).

use crate::jute::{DecodeError, Jute, Reader, Writer};
use crate::opcode::OpCode;
use crate::records::*;

/// Flags of a create request (`CreateMode`).
pub mod create_mode {
    /// Persistent.
    pub const PERSISTENT: i32 = 0;
    /// Ephemeral.
    pub const EPHEMERAL: i32 = 1;
    /// Persistent sequential.
    pub const PERSISTENT_SEQUENTIAL: i32 = 2;
    /// Ephemeral sequential.
    pub const EPHEMERAL_SEQUENTIAL: i32 = 3;
    /// Container.
    pub const CONTAINER: i32 = 4;
    /// Persistent with TTL.
    pub const PERSISTENT_WITH_TTL: i32 = 5;
    /// Persistent sequential with TTL.
    pub const PERSISTENT_SEQUENTIAL_WITH_TTL: i32 = 6;
}

/// Any create: create, create2, createContainer, createTTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOp {
    /// Which of the four opcodes carried it (decides the reply's shape).
    pub op: OpCode,
    /// Path (a sequential node's suffix is added by the server).
    pub path: String,
    /// Data (None: null, which ZooKeeper keeps apart from empty).
    pub data: Option<Vec<u8>>,
    /// ACL.
    pub acl: Vec<Acl>,
    /// [`create_mode`] flags.
    pub flags: i32,
    /// Time to live in ms (createTTL only, else 0).
    pub ttl: i64,
}

/// A decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// create, create2, createContainer, createTTL.
    Create(CreateOp),
    /// delete.
    Delete(DeleteRequest),
    /// exists.
    Exists(ExistsRequest),
    /// getData.
    GetData(GetDataRequest),
    /// setData.
    SetData(SetDataRequest),
    /// getACL.
    GetAcl(GetAclRequest),
    /// setACL.
    SetAcl(SetAclRequest),
    /// getChildren.
    GetChildren(GetChildrenRequest),
    /// getChildren2.
    GetChildren2(GetChildrenRequest),
    /// sync.
    Sync(SyncRequest),
    /// ping.
    Ping,
    /// check (inside multi).
    Check(CheckVersionRequest),
    /// multi: atomic writes.
    Multi(Vec<Request>),
    /// multiRead: independent reads.
    MultiRead(Vec<Request>),
    /// reconfig.
    Reconfig(ReconfigRequest),
    /// checkWatches.
    CheckWatches(RemoveWatchesRequest),
    /// removeWatches.
    RemoveWatches(RemoveWatchesRequest),
    /// auth.
    Auth(AuthPacket),
    /// setWatches (decoded into the setWatches2 shape, op kept).
    SetWatches(OpCode, SetWatches2),
    /// getEphemerals.
    GetEphemerals(GetEphemeralsRequest),
    /// getAllChildrenNumber.
    GetAllChildrenNumber(GetAllChildrenNumberRequest),
    /// addWatch.
    AddWatch(AddWatchRequest),
    /// whoAmI.
    WhoAmI,
    /// closeSession.
    CloseSession,
    /// An opcode paddock does not serve (the reply is Unimplemented).
    Unknown(i32),
}

impl Request {
    /// Decodes the body of a request of type `op`.
    pub fn decode(op: i32, r: &mut Reader<'_>) -> Result<Request, DecodeError> {
        let Some(code) = OpCode::from_i32(op) else {
            return Ok(Request::Unknown(op));
        };
        Ok(match code {
            OpCode::Create | OpCode::Create2 | OpCode::CreateContainer => {
                let c = CreateRequest::read(r)?;
                Request::Create(CreateOp {
                    op: code,
                    path: c.path,
                    data: c.data,
                    acl: c.acl,
                    flags: c.flags,
                    ttl: 0,
                })
            }
            OpCode::CreateTtl => {
                let c = CreateTtlRequest::read(r)?;
                Request::Create(CreateOp {
                    op: code,
                    path: c.path,
                    data: c.data,
                    acl: c.acl,
                    flags: c.flags,
                    ttl: c.ttl,
                })
            }
            OpCode::Delete => Request::Delete(DeleteRequest::read(r)?),
            OpCode::Exists => Request::Exists(ExistsRequest::read(r)?),
            OpCode::GetData => Request::GetData(GetDataRequest::read(r)?),
            OpCode::SetData => Request::SetData(SetDataRequest::read(r)?),
            OpCode::GetAcl => Request::GetAcl(GetAclRequest::read(r)?),
            OpCode::SetAcl => Request::SetAcl(SetAclRequest::read(r)?),
            OpCode::GetChildren => Request::GetChildren(GetChildrenRequest::read(r)?),
            OpCode::GetChildren2 => Request::GetChildren2(GetChildrenRequest::read(r)?),
            OpCode::Sync => Request::Sync(SyncRequest::read(r)?),
            OpCode::Ping => Request::Ping,
            OpCode::Check => Request::Check(CheckVersionRequest::read(r)?),
            OpCode::Multi => Request::Multi(decode_multi(r)?),
            OpCode::MultiRead => Request::MultiRead(decode_multi(r)?),
            OpCode::Reconfig => Request::Reconfig(ReconfigRequest::read(r)?),
            OpCode::CheckWatches => Request::CheckWatches(RemoveWatchesRequest::read(r)?),
            OpCode::RemoveWatches => Request::RemoveWatches(RemoveWatchesRequest::read(r)?),
            OpCode::Auth => Request::Auth(AuthPacket::read(r)?),
            OpCode::SetWatches => {
                let s = SetWatches::read(r)?;
                Request::SetWatches(
                    code,
                    SetWatches2 {
                        relative_zxid: s.relative_zxid,
                        data_watches: s.data_watches,
                        exist_watches: s.exist_watches,
                        child_watches: s.child_watches,
                        ..Default::default()
                    },
                )
            }
            OpCode::SetWatches2 => Request::SetWatches(code, SetWatches2::read(r)?),
            OpCode::GetEphemerals => Request::GetEphemerals(GetEphemeralsRequest::read(r)?),
            OpCode::GetAllChildrenNumber => {
                Request::GetAllChildrenNumber(GetAllChildrenNumberRequest::read(r)?)
            }
            OpCode::AddWatch => Request::AddWatch(AddWatchRequest::read(r)?),
            OpCode::WhoAmI => Request::WhoAmI,
            OpCode::CloseSession => Request::CloseSession,
            OpCode::Notification
            | OpCode::DeleteContainer
            | OpCode::Sasl
            | OpCode::CreateSession
            | OpCode::Error => Request::Unknown(op),
        })
    }

    /// The opcode this request is sent under.
    pub fn op(&self) -> i32 {
        (match self {
            Request::Create(c) => c.op,
            Request::Delete(_) => OpCode::Delete,
            Request::Exists(_) => OpCode::Exists,
            Request::GetData(_) => OpCode::GetData,
            Request::SetData(_) => OpCode::SetData,
            Request::GetAcl(_) => OpCode::GetAcl,
            Request::SetAcl(_) => OpCode::SetAcl,
            Request::GetChildren(_) => OpCode::GetChildren,
            Request::GetChildren2(_) => OpCode::GetChildren2,
            Request::Sync(_) => OpCode::Sync,
            Request::Ping => OpCode::Ping,
            Request::Check(_) => OpCode::Check,
            Request::Multi(_) => OpCode::Multi,
            Request::MultiRead(_) => OpCode::MultiRead,
            Request::Reconfig(_) => OpCode::Reconfig,
            Request::CheckWatches(_) => OpCode::CheckWatches,
            Request::RemoveWatches(_) => OpCode::RemoveWatches,
            Request::Auth(_) => OpCode::Auth,
            Request::SetWatches(op, _) => *op,
            Request::GetEphemerals(_) => OpCode::GetEphemerals,
            Request::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            Request::AddWatch(_) => OpCode::AddWatch,
            Request::WhoAmI => OpCode::WhoAmI,
            Request::CloseSession => OpCode::CloseSession,
            Request::Unknown(op) => return *op,
        }) as i32
    }

    /// Whether the request changes the tree (goes through the log).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::Create(_)
                | Request::Delete(_)
                | Request::SetData(_)
                | Request::SetAcl(_)
                | Request::Check(_)
                | Request::Multi(_)
                | Request::Reconfig(_)
                | Request::CloseSession
        )
    }

    /// The path the request names, if any.
    pub fn path(&self) -> Option<&str> {
        Some(match self {
            Request::Create(c) => &c.path,
            Request::Delete(r) => &r.path,
            Request::Exists(r) => &r.path,
            Request::GetData(r) => &r.path,
            Request::SetData(r) => &r.path,
            Request::GetAcl(r) => &r.path,
            Request::SetAcl(r) => &r.path,
            Request::GetChildren(r) | Request::GetChildren2(r) => &r.path,
            Request::Sync(r) => &r.path,
            Request::Check(r) => &r.path,
            Request::CheckWatches(r) | Request::RemoveWatches(r) => &r.path,
            Request::GetEphemerals(r) => &r.prefix_path,
            Request::GetAllChildrenNumber(r) => &r.path,
            Request::AddWatch(r) => &r.path,
            _ => return None,
        })
    }

    /// Appends the body's encoding (no header).
    pub fn encode(&self, w: &mut Vec<u8>) {
        match self {
            Request::Create(c) => {
                w.write_string(&c.path);
                crate::jute::Field::put(&c.data, w);
                w.write_vec(&c.acl);
                w.write_i32(c.flags);
                if c.op == OpCode::CreateTtl {
                    w.write_i64(c.ttl);
                }
            }
            Request::Delete(r) => r.write(w),
            Request::Exists(r) => r.write(w),
            Request::GetData(r) => r.write(w),
            Request::SetData(r) => r.write(w),
            Request::GetAcl(r) => r.write(w),
            Request::SetAcl(r) => r.write(w),
            Request::GetChildren(r) | Request::GetChildren2(r) => r.write(w),
            Request::Sync(r) => r.write(w),
            Request::Check(r) => r.write(w),
            Request::Multi(ops) | Request::MultiRead(ops) => {
                for op in ops {
                    MultiHeader {
                        op: op.op(),
                        done: false,
                        err: -1,
                    }
                    .write(w);
                    op.encode(w);
                }
                MultiHeader {
                    op: -1,
                    done: true,
                    err: -1,
                }
                .write(w);
            }
            Request::Reconfig(r) => r.write(w),
            Request::CheckWatches(r) | Request::RemoveWatches(r) => r.write(w),
            Request::Auth(r) => r.write(w),
            Request::SetWatches(op, s) => {
                if *op == OpCode::SetWatches {
                    SetWatches {
                        relative_zxid: s.relative_zxid,
                        data_watches: s.data_watches.clone(),
                        exist_watches: s.exist_watches.clone(),
                        child_watches: s.child_watches.clone(),
                    }
                    .write(w)
                } else {
                    s.write(w)
                }
            }
            Request::GetEphemerals(r) => r.write(w),
            Request::GetAllChildrenNumber(r) => r.write(w),
            Request::AddWatch(r) => r.write(w),
            Request::Ping | Request::WhoAmI | Request::CloseSession | Request::Unknown(_) => {}
        }
    }
}

/// Most operations one multi may hold (far above any real client's use).
pub const MULTI_OPS_MAX: usize = 100_000;

fn decode_multi(r: &mut Reader<'_>) -> Result<Vec<Request>, DecodeError> {
    let mut ops = Vec::new();
    loop {
        let h = MultiHeader::read(r)?;
        if h.done {
            return Ok(ops);
        }
        if ops.len() >= MULTI_OPS_MAX {
            return Err(DecodeError::BadValue {
                what: "multi op count",
                value: ops.len() as i32,
            });
        }
        // Check the type before decoding the body: a multi inside a multi
        // would otherwise recurse once per 9 bytes and overflow the stack.
        if !is_multi_op(h.op) {
            return Err(DecodeError::BadValue {
                what: "multi op type",
                value: h.op,
            });
        }
        ops.push(Request::decode(h.op, r)?);
    }
}

/// The operations a multi or multiRead may hold (`MultiOperationRecord`).
fn is_multi_op(op: i32) -> bool {
    matches!(
        OpCode::from_i32(op),
        Some(
            OpCode::Create
                | OpCode::Create2
                | OpCode::CreateTtl
                | OpCode::CreateContainer
                | OpCode::Delete
                | OpCode::SetData
                | OpCode::Check
                | OpCode::GetData
                | OpCode::GetChildren
        )
    )
}
