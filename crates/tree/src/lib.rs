//! paddock-tree: the ZooKeeper data tree as a deterministic state machine.
//! No I/O, no clock, no threads: time and identities are passed in.
//!
//! Module map:
//! - [`DataTree`] (`tree`): nodes, ACL cache, sessions and ephemerals, the
//!   last applied zxid, an incrementally kept digest; read-side queries.
//! - `read`: read requests ([`DataTree::read`]), as `FinalRequestProcessor`.
//! - `apply`: [`DataTree::apply`], as `DataTree.processTxn`.
//! - [`Prepper`] (`prep`): validates writes against the tree plus the
//!   outstanding (prepared, not yet applied) changes and builds txns, as
//!   `PrepRequestProcessor`.
//! - [`snapshot`]: the snapshot body format ([`DataTree::serialize`]).
//! - [`acl`], [`path`], [`ephemeral`], [`quota`]: ZooKeeper's ACL, path,
//!   ephemeral-owner and quota-bookkeeping rules.
//! - [`import`]: building a tree node by node from a ZooKeeper snapshot.
//! - `store`: the slab, path index and child sets; `hash`: the fixed hash.
//! - [`watch`]: the watch manager (separate owner).
//!
//! Contracts:
//! - Prepare, then apply: `prepare` never fails (client errors become error
//!   txns); `apply` of what prepare built (or what Apache ZooKeeper logged)
//!   never panics. Call [`Prepper::applied`] after each apply.
//! - Stored vs reported cversion: the tree stores ZooKeeper's count of child
//!   creates; clients see `2 * creates - numChildren`, and sequential
//!   suffixes use the stored count.
//! - Events of one txn come in ZooKeeper's order: create gives
//!   NodeCreated(path) then NodeChildrenChanged(parent); delete gives
//!   NodeDeleted(path) then NodeChildrenChanged(parent); setData gives
//!   NodeDataChanged(path); multi and closeSession give their ops' events
//!   in order.
//!
//! Known differences from ZooKeeper 3.8:
//! - Null data (a create or setData whose jute buffer has length -1) is
//!   stored as empty: `proto` reads null as empty, so getData returns `""`
//!   where ZooKeeper returns null.
//! - A failed multi is prepared as all error parts (0 before the failing
//!   op, its code, -2 after); ZooKeeper logs the parts before the failure as
//!   their real txns. Both apply alike, and both forms are accepted.
//! - createTTL with a non-TTL mode and a negative TTL is BadArguments here;
//!   ZooKeeper logs it and then crashes applying it.
//! - A lone check replies with an empty body; ZooKeeper never answers it.
//! - getChildren order is this tree's hash order (ZooKeeper's is its
//!   HashSet's); getEphemerals is sorted.
//! - Quota limits are not enforced (ZooKeeper's default); counts are kept.
#![deny(missing_docs)]

pub mod acl;
mod apply;
pub mod ephemeral;
mod hash;
pub mod import;
pub mod path;
mod prep;
pub mod quota;
mod read;
pub mod snapshot;
mod store;
mod tree;
pub mod watch;

pub use hash::{FastHasher, FastMap, FastSet, FastState};
pub use prep::Prepper;
pub use tree::DataTree;

use thiserror::Error;

/// A session's identities for ACL checks.
#[derive(Debug, Clone, Copy)]
pub struct AuthContext<'a> {
    /// Always `("ip", "<client ip>")`, plus each `("digest",
    /// "user:base64sha1")` added by auth.
    pub ids: &'a [proto::Id],
    /// The super user: every ACL check passes.
    pub is_super: bool,
}

/// Who asks, when, and under which zxid: what prepare needs beyond the
/// request.
#[derive(Debug, Clone, Copy)]
pub struct PrepContext<'a> {
    /// The requesting session (owner of ephemerals it creates).
    pub session_id: i64,
    /// The request's xid.
    pub cxid: i32,
    /// The zxid the txn will carry.
    pub zxid: i64,
    /// The txn's time (ms since the epoch), recorded as ctime/mtime.
    pub time_ms: i64,
    /// The session's identities.
    pub auth: AuthContext<'a>,
}

/// The outcome of applying one txn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyResult {
    /// The txn's zxid.
    pub zxid: i64,
    /// The reply body, or the error code. A multi is always `Ok(Multi)`,
    /// failed parts included (ZooKeeper replies with err 0 and per-op
    /// errors).
    pub result: Result<proto::Response, proto::ErrorCode>,
    /// Watch events to fire, in order.
    pub events: Vec<WatchEvent>,
}

/// A change a watch may be waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    /// The node's path.
    pub path: String,
    /// A [`proto::response::event_type`] value.
    pub kind: i32,
    /// The node's ACL when the event happened: only watchers allowed to
    /// READ the node are told (ZooKeeper 3.8 checks this at delivery).
    pub acl: std::sync::Arc<[proto::Acl]>,
}

/// Why a snapshot body could not be loaded.
#[derive(Debug, Error)]
pub enum TreeError {
    /// Reading failed.
    #[error("reading the snapshot failed: {0}")]
    Io(#[from] std::io::Error),
    /// The body is not a paddock tree snapshot.
    #[error("the snapshot does not start with the tree magic")]
    BadMagic,
    /// Written by another format version.
    #[error("the snapshot has format version {version}, which this build cannot read")]
    UnsupportedVersion {
        /// The version found.
        version: u32,
    },
    /// The bytes ended early.
    #[error("the snapshot ends before its last field")]
    Truncated,
    /// A field holds an impossible value.
    #[error("the snapshot is corrupt: bad {what}")]
    Corrupt {
        /// Which field.
        what: &'static str,
    },
    /// The loaded tree does not match the digest stored with it.
    #[error("the snapshot's digest {stored:#x} does not match its content ({computed:#x})")]
    DigestMismatch {
        /// The digest written.
        stored: u64,
        /// The digest of what was loaded.
        computed: u64,
    },
}

#[cfg(test)]
mod tests;
