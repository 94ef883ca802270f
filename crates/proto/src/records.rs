//! The client-protocol records of `zookeeper.jute`, field for field.

use crate::jute::{DecodeError, Jute, Reader, Writer};
use crate::jute_record;

jute_record!(
    /// An authenticated identity: a scheme and an id within it.
    Id { scheme: String, id: String }
);

jute_record!(
    /// One access-control entry: permissions granted to an identity.
    Acl { perms: i32, id: Id }
);

jute_record!(
    /// A znode's metadata as clients see it.
    Stat {
        czxid: i64,
        mzxid: i64,
        ctime: i64,
        mtime: i64,
        version: i32,
        cversion: i32,
        aversion: i32,
        ephemeral_owner: i64,
        data_length: i32,
        num_children: i32,
        pzxid: i64,
    }
);

jute_record!(
    /// Sent first on a new connection: protocol version, last zxid seen,
    /// requested timeout, and a session to reattach to (0 for a new one).
    ConnectRequest {
        protocol_version: i32,
        last_zxid_seen: i64,
        timeout_ms: i32,
        session_id: i64,
        passwd: Vec<u8>,
    }
);

jute_record!(
    /// The server's answer to [`ConnectRequest`].
    ConnectResponse {
        protocol_version: i32,
        timeout_ms: i32,
        session_id: i64,
        passwd: Vec<u8>,
    }
);

impl ConnectRequest {
    /// Decodes a handshake: the record, then the `readOnly` flag that clients
    /// since 3.4 append (`None` when the client sent none, as 3.3 clients do).
    /// Bytes after the flag are left unread, as ZooKeeper ignores them.
    pub fn read_handshake(r: &mut Reader<'_>) -> Result<(Self, Option<bool>), DecodeError> {
        let req = Self::read(r)?;
        let read_only = read_trailing_flag(r)?;
        Ok((req, read_only))
    }

    /// Encodes a handshake: the record, then `read_only` if it is `Some`.
    pub fn write_handshake(&self, read_only: Option<bool>, w: &mut Vec<u8>) {
        self.write(w);
        if let Some(flag) = read_only {
            w.write_bool(flag);
        }
    }
}

impl ConnectResponse {
    /// Decodes the handshake reply: the record, then the `readOnly` flag that
    /// servers since 3.4 append for clients that sent one (`None` if absent).
    pub fn read_handshake(r: &mut Reader<'_>) -> Result<(Self, Option<bool>), DecodeError> {
        let rsp = Self::read(r)?;
        let read_only = read_trailing_flag(r)?;
        Ok((rsp, read_only))
    }

    /// Encodes the handshake reply: the record, then `read_only` if `Some`.
    /// A server sends the flag exactly when the client's request carried one.
    pub fn write_handshake(&self, read_only: Option<bool>, w: &mut Vec<u8>) {
        self.write(w);
        if let Some(flag) = read_only {
            w.write_bool(flag);
        }
    }
}

/// The optional one-byte flag after a handshake record.
fn read_trailing_flag(r: &mut Reader<'_>) -> Result<Option<bool>, DecodeError> {
    if r.remaining() == 0 {
        return Ok(None);
    }
    r.read_bool().map(Some)
}

jute_record!(
    /// Re-arms watches after a reconnect.
    SetWatches {
        relative_zxid: i64,
        data_watches: Vec<String>,
        exist_watches: Vec<String>,
        child_watches: Vec<String>,
    }
);

jute_record!(
    /// Re-arms watches, persistent ones included, after a reconnect.
    SetWatches2 {
        relative_zxid: i64,
        data_watches: Vec<String>,
        exist_watches: Vec<String>,
        child_watches: Vec<String>,
        persistent_watches: Vec<String>,
        persistent_recursive_watches: Vec<String>,
    }
);

jute_record!(
    /// Precedes every request after the handshake.
    RequestHeader { xid: i32, op: i32 }
);

jute_record!(
    /// Precedes each operation of a multi request and each result of its reply.
    MultiHeader { op: i32, done: bool, err: i32 }
);

jute_record!(
    /// Adds an authentication identity to the session.
    AuthPacket { kind: i32, scheme: String, auth: Vec<u8> }
);

jute_record!(
    /// Precedes every reply and notification.
    ReplyHeader { xid: i32, zxid: i64, err: i32 }
);

jute_record!(
    /// Reads a node's data, optionally leaving a data watch.
    GetDataRequest { path: String, watch: bool }
);

jute_record!(
    /// Replaces a node's data if its version matches (-1 matches any).
    SetDataRequest { path: String, data: Option<Vec<u8>>, version: i32 }
);

jute_record!(
    /// Dynamic reconfiguration (ensemble only).
    ReconfigRequest {
        joining_servers: String,
        leaving_servers: String,
        new_members: String,
        cur_config_id: i64,
    }
);

jute_record!(
    /// Reply to setData.
    SetDataResponse { stat: Stat }
);

jute_record!(
    /// Creates a node (create, create2, createContainer).
    CreateRequest { path: String, data: Option<Vec<u8>>, acl: Vec<Acl>, flags: i32 }
);

jute_record!(
    /// Creates a node that expires `ttl` ms after its last change.
    CreateTtlRequest { path: String, data: Option<Vec<u8>>, acl: Vec<Acl>, flags: i32, ttl: i64 }
);

jute_record!(
    /// Deletes a node if its version matches (-1 matches any).
    DeleteRequest { path: String, version: i32 }
);

jute_record!(
    /// Lists children, optionally leaving a child watch (also getChildren2).
    GetChildrenRequest { path: String, watch: bool }
);

jute_record!(
    /// Counts all descendants of a node.
    GetAllChildrenNumberRequest { path: String }
);

jute_record!(
    /// Checks a node's version (inside multi).
    CheckVersionRequest { path: String, version: i32 }
);

jute_record!(
    /// Flushes the channel between the server and the leader.
    SyncRequest { path: String }
);

jute_record!(
    /// Reply to sync.
    SyncResponse { path: String }
);

jute_record!(
    /// Reads a node's ACL.
    GetAclRequest { path: String }
);

jute_record!(
    /// Replaces a node's ACL if its ACL version matches.
    SetAclRequest { path: String, acl: Vec<Acl>, version: i32 }
);

jute_record!(
    /// Reply to setACL.
    SetAclResponse { stat: Stat }
);

jute_record!(
    /// Adds a persistent (mode 0) or persistent-recursive (mode 1) watch.
    AddWatchRequest { path: String, mode: i32 }
);

jute_record!(
    /// A watch notification, sent with xid -1.
    WatcherEvent { kind: i32, state: i32, path: String }
);

jute_record!(
    /// The result of a failed operation inside multi.
    ErrorResponse { err: i32 }
);

jute_record!(
    /// Reply to create: the created path (with any sequence suffix).
    CreateResponse { path: String }
);

jute_record!(
    /// Reply to create2, createContainer and createTTL.
    Create2Response { path: String, stat: Stat }
);

jute_record!(
    /// Reads a node's stat, optionally leaving a watch even if it is absent.
    ExistsRequest { path: String, watch: bool }
);

jute_record!(
    /// Reply to exists.
    ExistsResponse { stat: Stat }
);

jute_record!(
    /// Reply to getData.
    GetDataResponse { data: Option<Vec<u8>>, stat: Stat }
);

jute_record!(
    /// Reply to getChildren.
    GetChildrenResponse { children: Vec<String> }
);

jute_record!(
    /// Reply to getAllChildrenNumber.
    GetAllChildrenNumberResponse { total_number: i32 }
);

jute_record!(
    /// Reply to getChildren2.
    GetChildren2Response { children: Vec<String>, stat: Stat }
);

jute_record!(
    /// Reply to getACL.
    GetAclResponse { acl: Vec<Acl>, stat: Stat }
);

jute_record!(
    /// Asks whether (checkWatches) or removes (removeWatches) watches of a kind.
    RemoveWatchesRequest { path: String, kind: i32 }
);

jute_record!(
    /// Lists the session's ephemeral nodes under a prefix.
    GetEphemeralsRequest { prefix_path: String }
);

jute_record!(
    /// Reply to getEphemerals.
    GetEphemeralsResponse { ephemerals: Vec<String> }
);

jute_record!(
    /// One identity of whoAmI's reply.
    ClientInfo { auth_scheme: String, user: String }
);

/// Reply to whoAmI: the session's identities.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WhoAmIResponse {
    /// The identities, in the order they were added.
    pub client_info: Vec<ClientInfo>,
}

impl Jute for WhoAmIResponse {
    fn write(&self, w: &mut Vec<u8>) {
        w.write_vec(&self.client_info);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(WhoAmIResponse {
            client_info: r.read_vec()?,
        })
    }
}

/// Permission bits of an [`Acl`].
pub mod perms {
    /// May read data and list children.
    pub const READ: i32 = 1;
    /// May set data.
    pub const WRITE: i32 = 2;
    /// May create children.
    pub const CREATE: i32 = 4;
    /// May delete children.
    pub const DELETE: i32 = 8;
    /// May set the ACL.
    pub const ADMIN: i32 = 16;
    /// All of the above.
    pub const ALL: i32 = 31;
}

impl Acl {
    /// `world:anyone` with every permission (ZooKeeper's OPEN_ACL_UNSAFE).
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl {
            perms: perms::ALL,
            id: Id {
                scheme: "world".into(),
                id: "anyone".into(),
            },
        }]
    }

    /// `world:anyone` may read (ZooKeeper's READ_ACL_UNSAFE).
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl {
            perms: perms::READ,
            id: Id {
                scheme: "world".into(),
                id: "anyone".into(),
            },
        }]
    }
}
