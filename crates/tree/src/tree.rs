//! The data tree: nodes, the ACL cache, sessions and their ephemerals, the
//! last applied zxid, and an incrementally maintained digest. Mutations
//! live in [`crate::apply`]; this module holds the state, its read-side
//! queries and the primitive node operations that keep every index (the
//! digest, data size, ephemerals, containers, TTLs) in step.

use std::collections::{BTreeMap, BTreeSet};

use proto::{Acl, ErrorCode, Stat};

use crate::acl::AclCache;
use crate::ephemeral::{client_owner, EphemeralType};
use crate::hash::{hash_bytes, hash_bytes_wide, hash_words, hash_words_wide};
use crate::path;
use crate::store::{Node, StatPersisted, Store};

/// The ZooKeeper data tree as a deterministic state machine.
#[derive(Debug, Clone)]
pub struct DataTree {
    pub(crate) store: Store,
    pub(crate) acls: AclCache,
    /// Sessions opened by createSession txns and not closed: id -> timeout.
    pub(crate) sessions: BTreeMap<i64, i32>,
    /// Ephemeral paths by owning session.
    pub(crate) ephemerals: BTreeMap<i64, BTreeSet<Box<str>>>,
    pub(crate) containers: BTreeSet<Box<str>>,
    pub(crate) ttls: BTreeSet<Box<str>>,
    pub(crate) last_zxid: i64,
    /// Paths under quota (derived: rebuilt from the quota nodes on load).
    pub(crate) quotas: BTreeSet<String>,
    /// Sum of path lengths (UTF-16 units) and data lengths.
    pub(crate) data_size: u64,
    pub(crate) digest: u64,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

/// The node ZooKeeper creates at startup, with every stat field 0.
fn system_node(path: &str, acl: u32) -> Node {
    Node::new(path, b"", StatPersisted::default(), acl)
}

impl DataTree {
    /// An empty tree as a fresh ZooKeeper 3.8 standalone server has it: `/`,
    /// `/zookeeper`, `/zookeeper/quota` (all `world:anyone:cdrwa`, stats 0)
    /// and `/zookeeper/config` (empty, `world:anyone:r`, aversion -1).
    pub fn new() -> DataTree {
        let mut t = DataTree::empty();
        let open = t.acls.intern(&Acl::open_unsafe());
        t.insert_node(system_node("/", open), None);
        let zk = t.acls.intern(&Acl::open_unsafe());
        let zk = t.insert_node(system_node("/zookeeper", zk), Some(0));
        let quota = t.acls.intern(&Acl::open_unsafe());
        t.insert_node(system_node("/zookeeper/quota", quota), Some(zk));
        let read = t.acls.intern(&Acl::read_unsafe());
        let mut config = system_node("/zookeeper/config", read);
        config.stat.aversion = -1;
        t.insert_node(config, Some(zk));
        t
    }

    /// A tree with no nodes at all (snapshot loading fills it).
    pub(crate) fn empty() -> DataTree {
        DataTree {
            store: Store::default(),
            acls: AclCache::default(),
            sessions: BTreeMap::new(),
            ephemerals: BTreeMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            last_zxid: 0,
            quotas: BTreeSet::new(),
            data_size: 0,
            digest: 0,
        }
    }

    /// The zxid of the last applied transaction.
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// ZooKeeper's node count: the root is counted twice (ZooKeeper stores
    /// it under `""` and `"/"`), so a fresh tree reports 5.
    pub fn node_count(&self) -> usize {
        self.store.len() + 1
    }

    /// Number of znodes actually stored (a fresh tree has 4).
    pub fn znode_count(&self) -> usize {
        self.store.len()
    }

    /// ZooKeeper's `approximateDataSize`: the sum over nodes of the path's
    /// length (in UTF-16 units, as Java counts) plus the data's length.
    pub fn approximate_data_size(&self) -> u64 {
        self.data_size
    }

    /// Number of ephemeral nodes (all sessions).
    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(|s| s.len()).sum()
    }

    /// Number of container nodes.
    pub fn container_count(&self) -> usize {
        self.containers.len()
    }

    /// Number of TTL nodes.
    pub fn ttl_count(&self) -> usize {
        self.ttls.len()
    }

    /// Open sessions and their timeouts, by id.
    pub fn sessions(&self) -> Vec<(i64, i32)> {
        self.sessions.iter().map(|(&id, &t)| (id, t)).collect()
    }

    /// Whether a createSession txn opened `id` and no closeSession closed it.
    pub fn has_session(&self, id: i64) -> bool {
        self.sessions.contains_key(&id)
    }

    /// The session's timeout, if it is open.
    pub fn session_timeout_ms(&self, id: i64) -> Option<i32> {
        self.sessions.get(&id).copied()
    }

    /// The ephemeral paths `session_id` owns, sorted.
    pub fn ephemerals_of(&self, session_id: i64) -> Vec<String> {
        self.ephemerals
            .get(&session_id)
            .map(|s| s.iter().map(|p| p.to_string()).collect())
            .unwrap_or_default()
    }

    /// Every session owning ephemerals with its paths (for the `dump` 4lw).
    pub fn ephemerals_by_session(&self) -> Vec<(i64, Vec<String>)> {
        self.ephemerals
            .iter()
            .filter(|(_, s)| !s.is_empty())
            .map(|(&id, s)| (id, s.iter().map(|p| p.to_string()).collect()))
            .collect()
    }

    /// The stat of `path` as clients see it.
    pub fn stat(&self, path: &str) -> Option<Stat> {
        self.store.get(path::canonical(path)).map(client_stat)
    }

    /// The data and stat of `path`, borrowed (no ACL check).
    pub fn data(&self, path: &str) -> Option<(&[u8], Stat)> {
        self.store
            .get(path::canonical(path))
            .map(|n| (n.data(), client_stat(n)))
    }

    /// The ACL of `path` (no ACL check).
    pub fn acl(&self, path: &str) -> Option<&[Acl]> {
        self.store
            .get(path::canonical(path))
            .map(|n| &self.acls.get(n.acl)[..])
    }

    /// The child names of `path`, in no particular order (as ZooKeeper).
    pub fn children(&self, path: &str) -> Option<Vec<&str>> {
        let i = self.store.find(path::canonical(path))?;
        Some(
            self.store
                .children(i)
                .map(|c| path::name(self.store.node(c).path()))
                .collect(),
        )
    }

    /// Number of distinct ACL lists in the cache.
    pub fn acl_cache_len(&self) -> usize {
        self.acls.len()
    }

    /// Containers with no children that have had one (stored cversion >
    /// 0), and TTL nodes with no children whose `now_ms - mtime > ttl`:
    /// the server deletes these with deleteContainer (ZooKeeper's
    /// `ContainerManager`). Sorted.
    pub fn expired_containers_and_ttls(&self, now_ms: i64) -> Vec<String> {
        self.expired_containers_and_ttls_with(now_ms, 0)
    }

    /// As [`Self::expired_containers_and_ttls`], also taking containers that
    /// never had a child once `now_ms - mtime > max_never_used_ms` (when
    /// that is non-zero: ZooKeeper's `znode.container.maxNeverUsedIntervalMs`).
    pub fn expired_containers_and_ttls_with(
        &self,
        now_ms: i64,
        max_never_used_ms: i64,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.containers {
            let Some(n) = self.store.get(p) else { continue };
            let elapsed = now_ms.saturating_sub(n.stat.mtime);
            let used = n.stat.cversion > 0;
            let stale = max_never_used_ms != 0 && elapsed > max_never_used_ms;
            if n.child_count() == 0 && (used || stale) {
                out.push(p.to_string());
            }
        }
        for p in &self.ttls {
            let Some(n) = self.store.get(p) else { continue };
            if let EphemeralType::Ttl(ttl) = EphemeralType::of(n.stat.ephemeral_owner) {
                let elapsed = now_ms.saturating_sub(n.stat.mtime);
                if n.child_count() == 0 && ttl != 0 && elapsed > ttl {
                    out.push(p.to_string());
                }
            }
        }
        out.sort();
        out
    }

    /// An order-independent digest of every node (path, data, stat, ACL),
    /// kept up to date on each change: O(1).
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// A copy to serialize while this tree moves on.
    pub fn clone_for_snapshot(&self) -> DataTree {
        self.clone()
    }

    /// Recomputes the digest from scratch (tests and snapshot checks).
    pub fn compute_digest(&self) -> u64 {
        self.store.slots().fold(0u64, |d, i| {
            let n = self.store.node(i);
            let hp = path_digest(n.path_bytes());
            d.wrapping_add(content_digest(hp, n.data()))
                .wrapping_add(self.meta_digest(hp, n))
        })
    }

    /// The digest as snapshot format 1 computed it (each node's path
    /// hashed twice, its data one word at a time): only to check a
    /// format-1 snapshot's stored digest.
    pub(crate) fn compute_digest_v1(&self) -> u64 {
        self.store.slots().fold(0u64, |d, i| {
            let n = self.store.node(i);
            let content = hash_words(
                &[hash_bytes(n.path_bytes(), 11), hash_bytes(n.data(), 12)],
                13,
            );
            let words = meta_words(
                hash_bytes(n.path_bytes(), 21),
                &n.stat,
                self.acls.hash_of(n.acl),
            );
            let meta = hash_words(&words, 22);
            d.wrapping_add(content).wrapping_add(meta)
        })
    }

    // ---- primitives used by apply and snapshot loading ----

    /// The node's stat-and-ACL part of the digest; `hp` is
    /// [`path_digest`] of its path.
    fn meta_digest(&self, hp: u64, n: &Node) -> u64 {
        meta_digest(hp, &n.stat, self.acls.hash_of(n.acl))
    }

    /// Adds a node (its ACL reference already taken) under `parent`,
    /// indexing it everywhere. Returns its slot.
    pub(crate) fn insert_node(&mut self, node: Node, parent: Option<u32>) -> u32 {
        let i = self.store.insert(node, parent);
        self.account_inserted(i);
        i
    }

    /// Adds a node under `parent` unless its path is already there (then
    /// `None`, nothing changed).
    pub(crate) fn insert_node_under(&mut self, node: Node, parent: u32) -> Option<u32> {
        let i = self.store.insert_if_absent(node)?;
        self.store.link_child(parent, i);
        self.account_inserted(i);
        Some(i)
    }

    /// Digest, data size and the ephemeral/container/TTL indices for the
    /// node just stored in slot `i`.
    fn account_inserted(&mut self, i: u32) {
        let n = self.store.node(i);
        let add = node_digest(n, self.acls.hash_of(n.acl));
        self.digest = self.digest.wrapping_add(add);
        self.data_size += node_data_size(n);
        self.index_owned(i);
    }

    /// Puts the node in slot `i` in the ephemeral, container or TTL index
    /// its owner field says it belongs to.
    pub(crate) fn index_owned(&mut self, i: u32) {
        let n = self.store.node(i);
        let owner = n.stat.ephemeral_owner;
        match EphemeralType::of(owner) {
            EphemeralType::Void => {}
            EphemeralType::Normal => {
                self.ephemerals
                    .entry(owner)
                    .or_default()
                    .insert(n.path().into());
            }
            EphemeralType::Container => {
                self.containers.insert(n.path().into());
            }
            EphemeralType::Ttl(_) => {
                self.ttls.insert(n.path().into());
            }
        }
    }

    /// Removes a childless node, un-indexing it and dropping its ACL
    /// reference.
    pub(crate) fn remove_node(&mut self, i: u32, parent: Option<u32>) -> Node {
        let node = self.store.remove(i, parent);
        let hp = path_digest(node.path_bytes());
        self.digest = self
            .digest
            .wrapping_sub(content_digest(hp, node.data()))
            .wrapping_sub(self.meta_digest(hp, &node));
        self.data_size = self
            .data_size
            .saturating_sub(path::utf16_len(node.path_bytes()) + node.data().len() as u64);
        let owner = node.stat.ephemeral_owner;
        match EphemeralType::of(owner) {
            EphemeralType::Void => {}
            EphemeralType::Normal => {
                if let Some(s) = self.ephemerals.get_mut(&owner) {
                    s.remove(node.path());
                    if s.is_empty() {
                        self.ephemerals.remove(&owner);
                    }
                }
            }
            EphemeralType::Container => {
                self.containers.remove(node.path());
            }
            EphemeralType::Ttl(_) => {
                self.ttls.remove(node.path());
            }
        }
        self.acls.release(node.acl);
        node
    }

    /// Changes a node's stat and/or ACL index, keeping the digest in step.
    pub(crate) fn update_meta(&mut self, i: u32, f: impl FnOnce(&mut Node)) {
        let hp = path_digest(self.store.node(i).path_bytes());
        let before = self.meta_digest(hp, self.store.node(i));
        f(self.store.node_mut(i));
        let after = self.meta_digest(hp, self.store.node(i));
        self.digest = self.digest.wrapping_sub(before).wrapping_add(after);
    }

    /// Replaces a node's data for quota bookkeeping: the digest follows,
    /// the approximate data size does not (as in ZooKeeper).
    pub(crate) fn replace_data_quietly(&mut self, i: u32, data: &[u8]) {
        let size = self.data_size;
        self.replace_data(i, data);
        self.data_size = size;
    }

    /// Replaces a node's data, keeping the digest and data size in step.
    pub(crate) fn replace_data(&mut self, i: u32, data: &[u8]) {
        let n = self.store.node(i);
        let hp = path_digest(n.path_bytes());
        let old = content_digest(hp, n.data());
        let new = content_digest(hp, data);
        self.data_size = (self.data_size + data.len() as u64).saturating_sub(n.data().len() as u64);
        self.digest = self.digest.wrapping_sub(old).wrapping_add(new);
        self.store.node_mut(i).set_data(data);
    }
}

/// A node's stat as clients see it: cversion reported as
/// `2 * creates - numChildren` (ZooKeeper's `DataNode.copyStat`), the
/// ephemeral owner hidden for containers and TTL nodes.
pub(crate) fn client_stat(n: &Node) -> Stat {
    let num_children = n.child_count() as i32;
    let s = &n.stat;
    Stat {
        czxid: s.czxid,
        mzxid: s.mzxid,
        ctime: s.ctime,
        mtime: s.mtime,
        version: s.version,
        cversion: s.cversion.wrapping_mul(2).wrapping_sub(num_children),
        aversion: s.aversion,
        ephemeral_owner: client_owner(s.ephemeral_owner),
        data_length: n.data().len() as i32,
        num_children,
        pzxid: s.pzxid,
    }
}

/// What a node adds to [`DataTree::digest`], given its ACL's hash.
pub(crate) fn node_digest(n: &Node, acl_hash: u64) -> u64 {
    let hp = path_digest(n.path_bytes());
    content_digest(hp, n.data()).wrapping_add(meta_digest(hp, &n.stat, acl_hash))
}

/// What a node adds to the tree's data size (ZooKeeper's count: the
/// path in UTF-16 units, then the data's bytes).
pub(crate) fn node_data_size(n: &Node) -> u64 {
    path::utf16_len(n.path_bytes()) + n.data().len() as u64
}

/// A node's digest is the sum of two parts, so that a change of data or
/// of stat re-hashes only its part. Both include the path's hash,
/// computed once per change (the path never changes).
fn path_digest(path: &[u8]) -> u64 {
    hash_bytes(path, 11)
}

/// The digest part that changes only with data.
fn content_digest(hp: u64, data: &[u8]) -> u64 {
    hash_words(&[hp, hash_bytes_wide(data, 12)], 13)
}

/// The digest part that changes with the stat or ACL.
fn meta_digest(hp: u64, s: &StatPersisted, acl_hash: u64) -> u64 {
    hash_words_wide(&meta_words(hp, s, acl_hash), 22)
}

/// What the stat-and-ACL part hashes: a path hash, the stat, the ACL's hash.
fn meta_words(path_hash: u64, s: &StatPersisted, acl_hash: u64) -> [u64; 11] {
    [
        path_hash,
        s.czxid as u64,
        s.mzxid as u64,
        s.pzxid as u64,
        s.ctime as u64,
        s.mtime as u64,
        s.version as u32 as u64,
        s.cversion as u32 as u64,
        s.aversion as u32 as u64,
        s.ephemeral_owner as u64,
        acl_hash,
    ]
}

/// The `ErrorCode` for a wire value, `SystemError` for unknown ones.
pub(crate) fn error_code(v: i32) -> ErrorCode {
    ErrorCode::from_i32(v).unwrap_or(ErrorCode::SystemError)
}
