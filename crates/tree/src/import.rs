//! Building a [`DataTree`] node by node from another store's snapshot (used
//! by `paddock data import` to load an Apache ZooKeeper snapshot).
//!
//! The caller adds nodes parent first (the order a ZooKeeper snapshot
//! holds them in), with their stored stat exactly as ZooKeeper persisted it
//! (`StatPersisted`: `cversion` is the count of child creates, as paddock
//! stores it), then sessions, then calls [`TreeBuilder::finish`]. Every index
//! the tree keeps (digest, data size, ephemerals by session, containers, TTL
//! nodes, quota paths, ACL reference counts) is maintained as nodes go in,
//! so the result is indistinguishable from a tree loaded from a paddock
//! snapshot.

use proto::txn::{Txn, TxnEntry};
use proto::{Acl, ErrorCode, MultiResult, OpCode, Response};
use thiserror::Error;

use crate::path;
use crate::store::{Node, StatPersisted};
use crate::tree::DataTree;
use crate::ApplyResult;

/// A node's persisted metadata, as ZooKeeper's `StatPersisted` holds it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportedStat {
    /// Zxid of the create.
    pub czxid: i64,
    /// Zxid of the last data change.
    pub mzxid: i64,
    /// Zxid of the last child change.
    pub pzxid: i64,
    /// Create time (ms since the epoch).
    pub ctime: i64,
    /// Last data change time.
    pub mtime: i64,
    /// Data version.
    pub version: i32,
    /// Stored child version: the number of child creates.
    pub cversion: i32,
    /// ACL version.
    pub aversion: i32,
    /// Stored owner: a session id, 0, or a container/TTL marker.
    pub ephemeral_owner: i64,
}

/// Why a node could not be added, or the tree could not be finished.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BuildError {
    /// The first node was not the root, or the root came twice.
    #[error("the root node must come first and only once (got {path:?})")]
    Root {
        /// The path seen.
        path: String,
    },
    /// A path that is not absolute, or ends with `/`.
    #[error("invalid node path {path:?}")]
    BadPath {
        /// The path seen.
        path: String,
    },
    /// A node whose parent was not added before it.
    #[error("node {path:?} comes before its parent")]
    MissingParent {
        /// The path seen.
        path: String,
    },
    /// The same path twice.
    #[error("node {path:?} appears twice")]
    Duplicate {
        /// The path seen.
        path: String,
    },
    /// No root node was added.
    #[error("the snapshot holds no root node")]
    NoRoot,
}

/// Builds a tree from nodes given parent first.
#[derive(Debug)]
pub struct TreeBuilder {
    tree: DataTree,
}

impl Default for TreeBuilder {
    fn default() -> Self {
        TreeBuilder::new()
    }
}

impl TreeBuilder {
    /// A builder holding no node at all.
    pub fn new() -> TreeBuilder {
        TreeBuilder {
            tree: DataTree::empty(),
        }
    }

    /// Number of nodes added so far.
    pub fn len(&self) -> usize {
        self.tree.store.len()
    }

    /// Whether no node was added yet.
    pub fn is_empty(&self) -> bool {
        self.tree.store.len() == 0
    }

    /// Adds a node. The root (`"/"`) must come first; every other node
    /// after its parent. `data` is `None` for null data (which clients
    /// read back as null, not empty). `acl` is the node's full ACL list.
    pub fn add_node(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        stat: ImportedStat,
    ) -> Result<(), BuildError> {
        let parent = self.locate(path)?;
        let t = &mut self.tree;
        let acl = t.acls.intern(acl);
        let stat = StatPersisted {
            czxid: stat.czxid,
            mzxid: stat.mzxid,
            pzxid: stat.pzxid,
            ctime: stat.ctime,
            mtime: stat.mtime,
            version: stat.version,
            cversion: stat.cversion,
            aversion: stat.aversion,
            ephemeral_owner: stat.ephemeral_owner,
        };
        let mut node = Node::new(path, data.unwrap_or_default(), stat, acl);
        node.set_null(data.is_none());
        t.insert_node(node, parent);
        Ok(())
    }

    /// The parent slot of a new node (none for the root).
    fn locate(&self, p: &str) -> Result<Option<u32>, BuildError> {
        let store = &self.tree.store;
        let err_path = || p.to_string();
        if store.len() == 0 || p == "/" {
            return if p == "/" && store.len() == 0 {
                Ok(None)
            } else {
                Err(BuildError::Root { path: err_path() })
            };
        }
        if !p.starts_with('/') || p.ends_with('/') || p.contains("//") {
            return Err(BuildError::BadPath { path: err_path() });
        }
        if store.find(p).is_some() {
            return Err(BuildError::Duplicate { path: err_path() });
        }
        let parent = path::parent(p).ok_or_else(|| BuildError::BadPath { path: err_path() })?;
        match store.find(parent) {
            Some(i) => Ok(Some(i)),
            None => Err(BuildError::MissingParent { path: err_path() }),
        }
    }

    /// Records an open session and its timeout.
    pub fn add_session(&mut self, id: i64, timeout_ms: i32) {
        self.tree.sessions.insert(id, timeout_ms);
    }

    /// The finished tree, its last applied zxid set to `last_zxid`. A tree
    /// from a ZooKeeper older than 3.5 gets the `/zookeeper/config` node
    /// that later versions (and paddock) always have.
    pub fn finish(mut self, last_zxid: i64) -> Result<DataTree, BuildError> {
        let t = &mut self.tree;
        if t.store.find("/").is_none() {
            return Err(BuildError::NoRoot);
        }
        if let (Some(zk), None) = (
            t.store.find("/zookeeper"),
            t.store.find("/zookeeper/config"),
        ) {
            let acl = t.acls.intern(&Acl::read_unsafe());
            let stat = StatPersisted {
                aversion: -1,
                ..StatPersisted::default()
            };
            let node = Node::new("/zookeeper/config", b"", stat, acl);
            t.insert_node(node, Some(zk));
        }
        t.last_zxid = last_zxid;
        t.rebuild_quotas();
        debug_assert_eq!(t.digest, t.compute_digest());
        Ok(self.tree)
    }
}

impl DataTree {
    /// Applies a txn logged by Apache ZooKeeper while replaying the log over
    /// a fuzzy ZooKeeper snapshot, as ZooKeeper's restore does
    /// (`DataTree.processTxn`). Besides [`DataTree::apply`]:
    /// - a create that fails with NodeExists still raises the parent's
    ///   cversion and pzxid to the txn's (`setCversionPzxid`): the node may
    ///   have been deleted and created again after the parent was written;
    /// - a delete that fails with NoNode still raises the parent's pzxid
    ///   (`deleteNode`): the child was gone before it was written;
    /// - so does a closeSession's delete of an ephemeral that is gone
    ///   (`killSession` -> `deleteNode`, ZOOKEEPER-3145): ZooKeeper
    ///   restarted on such a data dir shows the parent's pzxid at the
    ///   closeSession's zxid.
    ///
    /// The first two apply to a top-level `create` (opcode 1, not create2)
    /// or delete and to the parts of a multi.
    pub fn apply_restoring(&mut self, entry: &TxnEntry) -> ApplyResult {
        let result = self.apply(entry);
        let (h, zxid) = (&entry.header, entry.header.zxid);
        match (&entry.txn, &result.result) {
            (Txn::Multi(parts), Ok(Response::Multi(results))) => {
                for (part, r) in parts.iter().zip(results) {
                    if let MultiResult::Error(code) = r {
                        self.restore_fixup(part, *code, zxid);
                    }
                }
            }
            (Txn::Create(_), Err(code)) if h.op == OpCode::Create as i32 => {
                self.restore_fixup(&entry.txn, *code, zxid)
            }
            (Txn::Delete(_), Err(code)) => self.restore_fixup(&entry.txn, *code, zxid),
            (Txn::CloseSession(t), _) => {
                // Those it deleted raised it already.
                for p in &t.paths_to_delete {
                    self.raise_parent_pzxid(p, zxid);
                }
            }
            _ => {}
        }
        result
    }

    /// Raises the pzxid of `path`'s parent, if there is one, to `zxid`.
    fn raise_parent_pzxid(&mut self, path: &str, zxid: i64) {
        let parent = path::parent(path).and_then(|p| self.store.find(p));
        if let Some(i) = parent {
            if zxid > self.store.node(i).stat.pzxid {
                self.update_meta(i, |n| n.stat.pzxid = zxid);
            }
        }
    }

    fn restore_fixup(&mut self, txn: &Txn, code: ErrorCode, zxid: i64) {
        match (txn, code) {
            (Txn::Create(c), ErrorCode::NodeExists) => {
                if let Some(parent) = path::parent(&c.path) {
                    self.set_cversion_pzxid(parent, c.parent_cversion, zxid);
                }
            }
            (Txn::Delete(d), ErrorCode::NoNode) => self.raise_parent_pzxid(&d.path, zxid),
            _ => {}
        }
    }

    /// ZooKeeper's `setCversionPzxid`: `cversion` -1 means one more than
    /// now; only ever raises the cversion.
    fn set_cversion_pzxid(&mut self, path: &str, cversion: i32, zxid: i64) {
        let Some(i) = self.store.find(path) else {
            return;
        };
        let current = self.store.node(i).stat.cversion;
        let new = if cversion == -1 {
            current.wrapping_add(1)
        } else {
            cversion
        };
        if new > current {
            self.update_meta(i, |n| {
                n.stat.cversion = new;
                n.stat.pzxid = zxid;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(czxid: i64, owner: i64) -> ImportedStat {
        ImportedStat {
            czxid,
            mzxid: czxid,
            pzxid: czxid,
            ctime: 1000,
            mtime: 1000,
            ephemeral_owner: owner,
            ..ImportedStat::default()
        }
    }

    fn base() -> TreeBuilder {
        let mut b = TreeBuilder::new();
        let open = Acl::open_unsafe();
        b.add_node("/", Some(b""), &open, ImportedStat::default())
            .unwrap();
        b.add_node("/zookeeper", Some(b""), &open, ImportedStat::default())
            .unwrap();
        b.add_node(
            "/zookeeper/quota",
            Some(b""),
            &open,
            ImportedStat::default(),
        )
        .unwrap();
        b
    }

    #[test]
    fn builds_a_tree_equal_to_its_snapshot_round_trip() {
        let mut b = base();
        let open = Acl::open_unsafe();
        b.add_node("/a", Some(b"hello"), &open, stat(2, 0)).unwrap();
        b.add_node("/a/e", Some(b""), &open, stat(3, 0x55)).unwrap();
        b.add_node("/n", None, &open, stat(3, 0)).unwrap();
        b.add_session(0x55, 30000);
        let t = b.finish(3).unwrap();
        assert!(t.store.get("/n").unwrap().data_is_null());
        assert!(!t.store.get("/a").unwrap().data_is_null());
        assert_eq!(t.last_zxid(), 3);
        assert_eq!(t.ephemerals_of(0x55), vec!["/a/e".to_string()]);
        assert_eq!(t.session_timeout_ms(0x55), Some(30000));
        assert_eq!(t.digest(), t.compute_digest());
        assert_eq!(t.stat("/zookeeper/config").unwrap().aversion, -1);
        let mut bytes = Vec::new();
        t.serialize(&mut bytes).unwrap();
        let back = DataTree::deserialize(&mut bytes.as_slice()).unwrap();
        assert_eq!(back.digest(), t.digest());
        assert_eq!(back.data("/a").unwrap().0, b"hello");
    }

    #[test]
    fn replayed_create_of_existing_node_raises_parent_cversion() {
        use proto::txn::{CreateTxn, TxnHeader};
        let mut b = base();
        let open = Acl::open_unsafe();
        b.add_node("/a", Some(b""), &open, stat(2, 0)).unwrap();
        b.add_node("/a/x", Some(b""), &open, stat(3, 0)).unwrap();
        let mut t = b.finish(3).unwrap();
        let entry = |zxid, op: OpCode, txn| TxnEntry {
            header: TxnHeader {
                client_id: 1,
                cxid: 1,
                zxid,
                time: 5,
                op: op as i32,
            },
            txn,
        };
        let create = |zxid, cv| {
            entry(
                zxid,
                OpCode::Create,
                Txn::Create(CreateTxn {
                    path: "/a/x".into(),
                    data: Some(vec![]),
                    acl: Acl::open_unsafe(),
                    ephemeral: false,
                    parent_cversion: cv,
                }),
            )
        };
        let r = t.apply_restoring(&create(9, 4));
        assert_eq!(r.result, Err(ErrorCode::NodeExists));
        let s = t.stat("/a").unwrap();
        assert_eq!((s.cversion, s.pzxid), (4 * 2 - 1, 9));
        t.apply_restoring(&create(10, 2));
        assert_eq!(t.stat("/a").unwrap().pzxid, 9, "never lowered");
        let delete = entry(
            12,
            OpCode::Delete,
            Txn::Delete(proto::txn::DeleteTxn {
                path: "/a/gone".into(),
            }),
        );
        let r = t.apply_restoring(&delete);
        assert_eq!(r.result, Err(ErrorCode::NoNode));
        assert_eq!(t.stat("/a").unwrap().pzxid, 12);
        assert_eq!(t.digest(), t.compute_digest());
        // A closeSession whose ephemeral the fuzzy snapshot already lost.
        let close = entry(
            14,
            OpCode::CloseSession,
            Txn::CloseSession(proto::txn::CloseSessionTxn {
                paths_to_delete: vec!["/a/eph".into(), "/nowhere/eph".into()],
            }),
        );
        t.apply_restoring(&close);
        let s = t.stat("/a").unwrap();
        assert_eq!((s.cversion, s.pzxid, s.num_children), (4 * 2 - 1, 14, 1));
        assert_eq!(t.digest(), t.compute_digest());
    }

    #[test]
    fn rejects_bad_order() {
        let mut b = TreeBuilder::new();
        let open = Acl::open_unsafe();
        assert!(matches!(
            b.add_node("/a", Some(b""), &open, stat(1, 0)),
            Err(BuildError::Root { .. })
        ));
        let mut b = base();
        assert!(matches!(
            b.add_node("/x/y", Some(b""), &open, stat(1, 0)),
            Err(BuildError::MissingParent { .. })
        ));
        assert!(matches!(
            b.add_node("/zookeeper", Some(b""), &open, stat(1, 0)),
            Err(BuildError::Duplicate { .. })
        ));
        assert!(matches!(
            TreeBuilder::new().finish(0),
            Err(BuildError::NoRoot)
        ));
    }
}
