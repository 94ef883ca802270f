//! Node storage: a slab of nodes, a path index and per-node child sets,
//! all keyed by `u32` slot numbers so that each path is stored once.
//!
//! Memory per node: the slab slot (path pointer, stat, ACL index, data
//! pointer, child-set pointer), ~5 bytes of index, the path and data
//! allocations, and ~5 bytes in the parent's child set.

use hashbrown::HashTable;

use crate::hash::path_hash;

/// A node's stored metadata (ZooKeeper's `StatPersisted`). `cversion` is
/// ZooKeeper's stored value: the number of child creates. Clients see
/// `2 * cversion - numChildren` (see [`crate::DataTree::stat`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StatPersisted {
    pub czxid: i64,
    pub mzxid: i64,
    pub pzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
}

/// One znode. Its path and data share one allocation.
/// The high bit of `Node::path_len`: the data is null.
const NULL_DATA: u32 = 1 << 31;

#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The path's bytes, then the data's.
    blob: Box<[u8]>,
    path_len: u32,
    pub acl: u32,
    pub stat: StatPersisted,
    pub children: Option<Box<HashTable<u32>>>,
}

impl Node {
    pub fn new(path: &str, data: &[u8], stat: StatPersisted, acl: u32) -> Node {
        Node {
            blob: [path.as_bytes(), data].concat().into(),
            path_len: u32::try_from(path.len())
                .ok()
                .filter(|l| l & NULL_DATA == 0)
                .expect("paths are far below 2 GiB"),
            acl,
            stat,
            children: None,
        }
    }

    pub fn path(&self) -> &str {
        // Built from a &str, so always valid.
        std::str::from_utf8(self.path_bytes()).unwrap_or_default()
    }

    fn path_end(&self) -> usize {
        (self.path_len & !NULL_DATA) as usize
    }

    pub fn path_bytes(&self) -> &[u8] {
        &self.blob[..self.path_end()]
    }

    pub fn data(&self) -> &[u8] {
        &self.blob[self.path_end()..]
    }

    /// Whether the data is null (set as null, which ZooKeeper returns as
    /// null, not empty). Null data is also empty.
    pub fn data_is_null(&self) -> bool {
        self.path_len & NULL_DATA != 0
    }

    /// The data as clients see it: None for null.
    pub fn client_data(&self) -> Option<&[u8]> {
        (!self.data_is_null()).then(|| self.data())
    }

    pub fn set_data(&mut self, data: &[u8]) {
        self.blob = [self.path_bytes(), data].concat().into();
    }

    /// Marks the data null (true) or not.
    pub fn set_null(&mut self, null: bool) {
        if null {
            self.path_len |= NULL_DATA;
        } else {
            self.path_len &= !NULL_DATA;
        }
    }

    pub fn child_count(&self) -> usize {
        self.children.as_ref().map_or(0, |c| c.len())
    }
}

/// The slab, the path index and the child sets.
#[derive(Debug, Clone, Default)]
pub(crate) struct Store {
    slab: Vec<Option<Node>>,
    free: Vec<u32>,
    index: HashTable<u32>,
}

impl Store {
    /// The slot of `path`.
    pub fn find(&self, path: &str) -> Option<u32> {
        let slab = &self.slab;
        self.index
            .find(path_hash(path.as_bytes()), |&i| {
                slab[i as usize]
                    .as_ref()
                    .is_some_and(|n| n.path_bytes() == path.as_bytes())
            })
            .copied()
    }

    /// The node in slot `i` (which must be live).
    pub fn node(&self, i: u32) -> &Node {
        match self.slab.get(i as usize) {
            Some(Some(n)) => n,
            _ => panic!("store: slot {i} is not a live node"),
        }
    }

    pub fn node_mut(&mut self, i: u32) -> &mut Node {
        match self.slab.get_mut(i as usize) {
            Some(Some(n)) => n,
            _ => panic!("store: slot {i} is not a live node"),
        }
    }

    /// The node at `path`.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.find(path).map(|i| self.node(i))
    }

    /// Number of live nodes.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Adds `node` (its path must be new) and links it under `parent`.
    pub fn insert(&mut self, node: Node, parent: Option<u32>) -> u32 {
        let h = path_hash(node.path_bytes());
        let i = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = Some(node);
                i
            }
            None => {
                self.slab.push(Some(node));
                (self.slab.len() - 1) as u32
            }
        };
        let slab = &self.slab;
        self.index.insert_unique(h, i, |&j| slot_hash(slab, j));
        if let Some(p) = parent {
            self.link(p, i, h);
        }
        i
    }

    fn link(&mut self, parent: u32, child: u32, h: u64) {
        let mut set = self.node_mut(parent).children.take().unwrap_or_default();
        let slab = &self.slab;
        set.insert_unique(h, child, |&j| slot_hash(slab, j));
        self.node_mut(parent).children = Some(set);
    }

    /// Removes slot `i` (which must have no children), unlinking it from
    /// `parent`.
    pub fn remove(&mut self, i: u32, parent: Option<u32>) -> Node {
        let h = path_hash(self.node(i).path_bytes());
        if let Some(p) = parent {
            let n = self.node_mut(p);
            if let Some(set) = n.children.as_mut() {
                if let Ok(e) = set.find_entry(h, |&j| j == i) {
                    e.remove();
                }
                if set.is_empty() {
                    n.children = None;
                }
            }
        }
        if let Ok(e) = self.index.find_entry(h, |&j| j == i) {
            e.remove();
        }
        let node = self.slab[i as usize]
            .take()
            .expect("store: remove of a free slot");
        self.free.push(i);
        node
    }

    /// Slots of the children of slot `i`.
    pub fn children(&self, i: u32) -> impl Iterator<Item = u32> + '_ {
        self.node(i).children.iter().flat_map(|s| s.iter().copied())
    }

    /// Every live slot, in slab order.
    pub fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.slab
            .iter()
            .enumerate()
            .filter(|(_, n)| n.is_some())
            .map(|(i, _)| i as u32)
    }
}

/// The table hash of slot `j` (rehashing when a table grows).
fn slot_hash(slab: &[Option<Node>], j: u32) -> u64 {
    path_hash(slab[j as usize].as_ref().map_or(&[], |n| n.path_bytes()))
}
