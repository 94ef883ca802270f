//! Reply bodies, encoded after a [`ReplyHeader`](crate::records::ReplyHeader),
//! and watch event types and states.

use crate::error::ErrorCode;
use crate::jute::{DecodeError, Jute, Reader};
use crate::opcode::OpCode;
use crate::records::*;

/// A reply body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// No body (delete, ping, auth, setWatches, errors, ...).
    Empty,
    /// create.
    Create(CreateResponse),
    /// create2, createContainer, createTTL.
    Create2(Create2Response),
    /// exists, setData, setACL: a stat.
    Stat(Stat),
    /// getData.
    GetData(GetDataResponse),
    /// getChildren.
    GetChildren(GetChildrenResponse),
    /// getChildren2.
    GetChildren2(GetChildren2Response),
    /// getACL.
    GetAcl(GetAclResponse),
    /// sync.
    Sync(SyncResponse),
    /// getAllChildrenNumber.
    AllChildrenNumber(i32),
    /// getEphemerals.
    Ephemerals(GetEphemeralsResponse),
    /// whoAmI.
    WhoAmI(WhoAmIResponse),
    /// multi and multiRead.
    Multi(Vec<MultiResult>),
    /// addWatch: ZooKeeper answers with an `ErrorResponse` body (err 0),
    /// which the Java client reads; a header-only reply breaks its connection.
    AddWatch(ErrorResponse),
}

/// One result of multi or multiRead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    /// create: the path.
    Create(String),
    /// create2/createContainer/createTTL: the path and stat.
    Create2(String, Stat),
    /// delete.
    Delete,
    /// setData: the new stat.
    SetData(Stat),
    /// check.
    Check,
    /// A failed (or skipped) op.
    Error(ErrorCode),
    /// getData (multiRead); None is null data.
    GetData(Option<Vec<u8>>, Stat),
    /// getChildren (multiRead).
    GetChildren(Vec<String>),
}

impl Response {
    /// Appends the body's encoding.
    pub fn encode(&self, w: &mut Vec<u8>) {
        match self {
            Response::Empty => {}
            Response::Create(r) => r.write(w),
            Response::Create2(r) => r.write(w),
            Response::Stat(s) => s.write(w),
            Response::GetData(r) => r.write(w),
            Response::GetChildren(r) => r.write(w),
            Response::GetChildren2(r) => r.write(w),
            Response::GetAcl(r) => r.write(w),
            Response::Sync(r) => r.write(w),
            Response::AllChildrenNumber(n) => crate::jute::Writer::write_i32(w, *n),
            Response::Ephemerals(r) => r.write(w),
            Response::WhoAmI(r) => r.write(w),
            Response::AddWatch(r) => r.write(w),
            Response::Multi(results) => {
                for res in results {
                    res.encode(w);
                }
                MultiHeader {
                    op: -1,
                    done: true,
                    err: -1,
                }
                .write(w);
            }
        }
    }

    /// Decodes the reply to a request of type `op` (for clients and tools).
    pub fn decode(op: i32, r: &mut Reader<'_>) -> Result<Response, DecodeError> {
        let code = OpCode::from_i32(op).ok_or(DecodeError::BadValue {
            what: "opcode",
            value: op,
        })?;
        Ok(match code {
            OpCode::Create => Response::Create(CreateResponse::read(r)?),
            OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => {
                Response::Create2(Create2Response::read(r)?)
            }
            OpCode::Exists | OpCode::SetData | OpCode::SetAcl => Response::Stat(Stat::read(r)?),
            // reconfig answers with the new configuration and its stat.
            OpCode::GetData | OpCode::Reconfig => Response::GetData(GetDataResponse::read(r)?),
            OpCode::GetChildren => Response::GetChildren(GetChildrenResponse::read(r)?),
            OpCode::GetChildren2 => Response::GetChildren2(GetChildren2Response::read(r)?),
            OpCode::GetAcl => Response::GetAcl(GetAclResponse::read(r)?),
            OpCode::Sync => Response::Sync(SyncResponse::read(r)?),
            OpCode::GetAllChildrenNumber => Response::AllChildrenNumber(r.read_i32()?),
            OpCode::GetEphemerals => Response::Ephemerals(GetEphemeralsResponse::read(r)?),
            OpCode::WhoAmI => Response::WhoAmI(WhoAmIResponse::read(r)?),
            OpCode::AddWatch => Response::AddWatch(ErrorResponse::read(r)?),
            OpCode::Multi | OpCode::MultiRead => {
                let mut results = Vec::new();
                loop {
                    let h = MultiHeader::read(r)?;
                    if h.done {
                        break;
                    }
                    results.push(MultiResult::decode(&h, r)?);
                }
                Response::Multi(results)
            }
            _ => Response::Empty,
        })
    }
}

impl MultiResult {
    fn encode(&self, w: &mut Vec<u8>) {
        let (op, err) = match self {
            MultiResult::Create(_) => (OpCode::Create as i32, 0),
            MultiResult::Create2(..) => (OpCode::Create2 as i32, 0),
            MultiResult::Delete => (OpCode::Delete as i32, 0),
            MultiResult::SetData(_) => (OpCode::SetData as i32, 0),
            MultiResult::Check => (OpCode::Check as i32, 0),
            MultiResult::Error(e) => (-1, *e as i32),
            MultiResult::GetData(..) => (OpCode::GetData as i32, 0),
            MultiResult::GetChildren(_) => (OpCode::GetChildren as i32, 0),
        };
        MultiHeader {
            op,
            done: false,
            err,
        }
        .write(w);
        match self {
            MultiResult::Create(path) => crate::jute::Writer::write_string(w, path),
            MultiResult::Create2(path, stat) => {
                crate::jute::Writer::write_string(w, path);
                stat.write(w);
            }
            MultiResult::Delete | MultiResult::Check => {}
            MultiResult::SetData(stat) => stat.write(w),
            MultiResult::Error(e) => crate::jute::Writer::write_i32(w, *e as i32),
            MultiResult::GetData(data, stat) => {
                crate::jute::Field::put(data, w);
                stat.write(w);
            }
            MultiResult::GetChildren(c) => crate::jute::Writer::write_vec(w, c),
        }
    }

    fn decode(h: &MultiHeader, r: &mut Reader<'_>) -> Result<MultiResult, DecodeError> {
        Ok(match OpCode::from_i32(h.op) {
            Some(OpCode::Create) => MultiResult::Create(r.read_string()?),
            Some(OpCode::Create2) => MultiResult::Create2(r.read_string()?, Stat::read(r)?),
            Some(OpCode::Delete) => MultiResult::Delete,
            Some(OpCode::SetData) => MultiResult::SetData(Stat::read(r)?),
            Some(OpCode::Check) => MultiResult::Check,
            Some(OpCode::GetData) => MultiResult::GetData(r.read_opt_buffer()?, Stat::read(r)?),
            Some(OpCode::GetChildren) => MultiResult::GetChildren(r.read_vec()?),
            Some(OpCode::Error) => {
                let v = r.read_i32()?;
                MultiResult::Error(ErrorCode::from_i32(v).ok_or(DecodeError::BadValue {
                    what: "error code",
                    value: v,
                })?)
            }
            _ => {
                return Err(DecodeError::BadValue {
                    what: "multi result type",
                    value: h.op,
                })
            }
        })
    }
}

/// Watch event types (`Watcher.Event.EventType`).
pub mod event_type {
    /// No event (connection state change).
    pub const NONE: i32 = -1;
    /// A node was created.
    pub const NODE_CREATED: i32 = 1;
    /// A node was deleted.
    pub const NODE_DELETED: i32 = 2;
    /// A node's data changed.
    pub const NODE_DATA_CHANGED: i32 = 3;
    /// A node's children changed.
    pub const NODE_CHILDREN_CHANGED: i32 = 4;
    /// A data watch was removed.
    pub const DATA_WATCH_REMOVED: i32 = 5;
    /// A child watch was removed.
    pub const CHILD_WATCH_REMOVED: i32 = 6;
    /// A persistent watch was removed.
    pub const PERSISTENT_WATCH_REMOVED: i32 = 7;
}

/// Session states in watch events (`Watcher.Event.KeeperState`).
pub mod keeper_state {
    /// Disconnected.
    pub const DISCONNECTED: i32 = 0;
    /// Connected.
    pub const SYNC_CONNECTED: i32 = 3;
    /// Authentication failed.
    pub const AUTH_FAILED: i32 = 4;
    /// Connected read-only.
    pub const CONNECTED_READ_ONLY: i32 = 5;
    /// Session expired.
    pub const EXPIRED: i32 = -112;
    /// Closed.
    pub const CLOSED: i32 = 7;
}
