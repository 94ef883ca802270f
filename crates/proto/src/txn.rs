//! Transaction records of `zookeeper.jute` (`org.apache.zookeeper.txn`):
//! what the leader logs and every replica applies. paddock logs exactly
//! these, so Apache ZooKeeper's logs can be imported one to one.

use crate::jute::{DecodeError, Jute, Reader};
use crate::jute_record;
use crate::opcode::OpCode;
use crate::records::Acl;

jute_record!(
    /// Precedes every logged transaction.
    TxnHeader { client_id: i64, cxid: i32, zxid: i64, time: i64, op: i32 }
);

jute_record!(
    /// The oldest create layout (no parent cversion).
    CreateTxnV0 { path: String, data: Option<Vec<u8>>, acl: Vec<Acl>, ephemeral: bool }
);

jute_record!(
    /// Creates a persistent or ephemeral node.
    CreateTxn { path: String, data: Option<Vec<u8>>, acl: Vec<Acl>, ephemeral: bool, parent_cversion: i32 }
);

jute_record!(
    /// Creates a TTL node.
    CreateTtlTxn { path: String, data: Option<Vec<u8>>, acl: Vec<Acl>, parent_cversion: i32, ttl: i64 }
);

jute_record!(
    /// Creates a container node.
    CreateContainerTxn { path: String, data: Option<Vec<u8>>, acl: Vec<Acl>, parent_cversion: i32 }
);

jute_record!(
    /// Deletes a node.
    DeleteTxn { path: String }
);

jute_record!(
    /// Sets data; `version` is the node's new version.
    SetDataTxn { path: String, data: Option<Vec<u8>>, version: i32 }
);

jute_record!(
    /// A version check inside multi.
    CheckVersionTxn { path: String, version: i32 }
);

jute_record!(
    /// Sets an ACL; `version` is the new ACL version.
    SetAclTxn { path: String, acl: Vec<Acl>, version: i32 }
);

jute_record!(
    /// Opens a session with its negotiated timeout.
    CreateSessionTxn { timeout_ms: i32 }
);

jute_record!(
    /// Closes a session and deletes its ephemerals.
    CloseSessionTxn { paths_to_delete: Vec<String> }
);

jute_record!(
    /// A failed request (or a failed part of multi).
    ErrorTxn { err: i32 }
);

jute_record!(
    /// One serialized part of a multi transaction.
    TxnPart { op: i32, data: Vec<u8> }
);

jute_record!(
    /// A multi transaction: its parts in order.
    MultiTxn { txns: Vec<TxnPart> }
);

/// A decoded transaction body, by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Txn {
    /// create, create2 (and the V0 layout, upgraded).
    Create(CreateTxn),
    /// createTTL.
    CreateTtl(CreateTtlTxn),
    /// createContainer.
    CreateContainer(CreateContainerTxn),
    /// delete, deleteContainer.
    Delete(DeleteTxn),
    /// setData.
    SetData(SetDataTxn),
    /// setACL.
    SetAcl(SetAclTxn),
    /// check (inside multi).
    Check(CheckVersionTxn),
    /// createSession.
    CreateSession(CreateSessionTxn),
    /// closeSession.
    CloseSession(CloseSessionTxn),
    /// A request that failed.
    Error(ErrorTxn),
    /// multi: its parts in order (a part is never itself a multi).
    Multi(Vec<Txn>),
}

impl Txn {
    /// The opcode this body is logged under.
    pub fn op(&self) -> OpCode {
        match self {
            Txn::Create(_) => OpCode::Create,
            Txn::CreateTtl(_) => OpCode::CreateTtl,
            Txn::CreateContainer(_) => OpCode::CreateContainer,
            Txn::Delete(_) => OpCode::Delete,
            Txn::SetData(_) => OpCode::SetData,
            Txn::SetAcl(_) => OpCode::SetAcl,
            Txn::Check(_) => OpCode::Check,
            Txn::CreateSession(_) => OpCode::CreateSession,
            Txn::CloseSession(_) => OpCode::CloseSession,
            Txn::Error(_) => OpCode::Error,
            Txn::Multi(_) => OpCode::Multi,
        }
    }

    /// Appends the body's encoding (without a header).
    pub fn write(&self, w: &mut Vec<u8>) {
        match self {
            Txn::Create(t) => t.write(w),
            Txn::CreateTtl(t) => t.write(w),
            Txn::CreateContainer(t) => t.write(w),
            Txn::Delete(t) => t.write(w),
            Txn::SetData(t) => t.write(w),
            Txn::SetAcl(t) => t.write(w),
            Txn::Check(t) => t.write(w),
            Txn::CreateSession(t) => t.write(w),
            Txn::CloseSession(t) => t.write(w),
            Txn::Error(t) => t.write(w),
            Txn::Multi(parts) => {
                let txns: Vec<TxnPart> = parts
                    .iter()
                    .map(|p| TxnPart {
                        op: p.op() as i32,
                        data: {
                            let mut d = Vec::new();
                            p.write(&mut d);
                            d
                        },
                    })
                    .collect();
                MultiTxn { txns }.write(w)
            }
        }
    }

    /// Decodes a body logged under `op`. `create` accepts both the current
    /// and the V0 layout (told apart by length, as ZooKeeper does).
    pub fn read(op: i32, r: &mut Reader<'_>) -> Result<Txn, DecodeError> {
        let code = OpCode::from_i32(op).ok_or(DecodeError::BadValue {
            what: "txn type",
            value: op,
        })?;
        Ok(match code {
            OpCode::Create | OpCode::Create2 => {
                let start = r.position();
                let bytes = r.rest();
                match CreateTxn::from_bytes(bytes) {
                    Ok(t) => Txn::Create(t),
                    Err(_) => {
                        let v0 = CreateTxnV0::from_bytes(bytes).map_err(|e| shifted(e, start))?;
                        Txn::Create(CreateTxn {
                            path: v0.path,
                            data: v0.data,
                            acl: v0.acl,
                            ephemeral: v0.ephemeral,
                            parent_cversion: -1,
                        })
                    }
                }
            }
            OpCode::CreateTtl => Txn::CreateTtl(CreateTtlTxn::read(r)?),
            OpCode::CreateContainer => Txn::CreateContainer(CreateContainerTxn::read(r)?),
            OpCode::Delete | OpCode::DeleteContainer => Txn::Delete(DeleteTxn::read(r)?),
            OpCode::SetData => Txn::SetData(SetDataTxn::read(r)?),
            OpCode::SetAcl => Txn::SetAcl(SetAclTxn::read(r)?),
            OpCode::Check => Txn::Check(CheckVersionTxn::read(r)?),
            OpCode::CreateSession => Txn::CreateSession(CreateSessionTxn::read(r)?),
            OpCode::CloseSession => {
                // ZooKeeper before 3.6 logged closeSession with no body.
                if r.remaining() == 0 {
                    Txn::CloseSession(CloseSessionTxn::default())
                } else {
                    Txn::CloseSession(CloseSessionTxn::read(r)?)
                }
            }
            OpCode::Error => Txn::Error(ErrorTxn::read(r)?),
            OpCode::Multi => {
                let m = MultiTxn::read(r)?;
                let mut parts = Vec::with_capacity(m.txns.len());
                for p in m.txns {
                    // ZooKeeper never nests a multi; refusing it also keeps
                    // a crafted entry from recursing until the stack overflows.
                    if p.op == OpCode::Multi as i32 {
                        return Err(DecodeError::BadValue {
                            what: "multi txn part type",
                            value: p.op,
                        });
                    }
                    parts.push(Txn::read(p.op, &mut Reader::new(&p.data))?);
                }
                Txn::Multi(parts)
            }
            _ => {
                return Err(DecodeError::BadValue {
                    what: "txn type",
                    value: op,
                })
            }
        })
    }
}

/// `e` with its offset moved by `by` (for errors from a sub-slice).
fn shifted(e: DecodeError, by: usize) -> DecodeError {
    match e {
        DecodeError::Truncated { offset, needed } => DecodeError::Truncated {
            offset: offset + by,
            needed,
        },
        DecodeError::BadLength { offset, len } => DecodeError::BadLength {
            offset: offset + by,
            len,
        },
        DecodeError::BadUtf8 { offset } => DecodeError::BadUtf8 {
            offset: offset + by,
        },
        other @ DecodeError::BadValue { .. } => other,
    }
}

/// A header and its body: one entry of the transaction log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnEntry {
    /// Who, when, which zxid.
    pub header: TxnHeader,
    /// What.
    pub txn: Txn,
}

impl TxnEntry {
    /// Encodes header then body.
    pub fn encode(&self) -> Vec<u8> {
        // Header (28 bytes) plus a typical create or setData with 100-byte data.
        let mut w = Vec::with_capacity(256);
        self.header.write(&mut w);
        self.txn.write(&mut w);
        w
    }

    /// Decodes header then body.
    pub fn decode(buf: &[u8]) -> Result<TxnEntry, DecodeError> {
        let mut r = Reader::new(buf);
        let header = TxnHeader::read(&mut r)?;
        let txn = Txn::read(header.op, &mut r)?;
        Ok(TxnEntry { header, txn })
    }
}
