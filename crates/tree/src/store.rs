//! Node storage: a slab of nodes, a path index and per-node child sets,
//! all keyed by `u32` slot numbers so that each path is stored once.
//!
//! Memory per node: the slab slot (path pointer, stat, ACL index, data
//! pointer, child-set pointer), ~9 bytes of index, the path and data
//! allocations, and ~9 bytes in the parent's child set.
//!
//! Table entries carry 32 bits of their path's hash, so a table grows
//! (rehashes) without reading a single node: at a million nodes that is a
//! few milliseconds of sequential work instead of a million cache misses
//! in the middle of a create.

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
    pub children: Option<Box<HashTable<Slot>>>,
}

impl Node {
    /// A node whose `blob` holds its path (`path_len` bytes, UTF-8) and
    /// then its data.
    pub fn from_blob(blob: Box<[u8]>, path_len: usize, stat: StatPersisted, acl: u32) -> Node {
        debug_assert!(std::str::from_utf8(&blob[..path_len]).is_ok());
        Node {
            blob,
            path_len: u32::try_from(path_len)
                .ok()
                .filter(|l| l & NULL_DATA == 0)
                .expect("paths are far below 2 GiB"),
            acl,
            stat,
            children: None,
        }
    }

    pub fn new(path: &str, data: &[u8], stat: StatPersisted, acl: u32) -> Node {
        Node::from_blob(
            [path.as_bytes(), data].concat().into(),
            path.len(),
            stat,
            acl,
        )
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
    slab: Slab,
    free: Vec<u32>,
    index: HashTable<Slot>,
    /// A point-in-time copy being written, if any.
    frozen: Option<Box<Frozen>>,
}

/// A snapshot in progress, copy-before-write: slots are encoded in slab
/// order a batch at a time while the tree keeps changing. A slot not yet
/// encoded keeps its bytes as of the start (`pre`) the first time it is
/// changed, so the result is the tree exactly as it was when the snapshot
/// began, whatever happens meanwhile. Slots pushed since the start are
/// past `end` and never looked at.
#[derive(Debug, Clone)]
struct Frozen {
    /// The first slot not yet encoded.
    next: u32,
    /// The slab's length at the start.
    end: u32,
    /// Slots in `next..end` changed since the start: their encoding then
    /// (`None`: free then).
    pre: crate::hash::FastMap<u32, Option<Box<[u8]>>>,
    /// ACL cache index at the start -> index in the snapshot's ACL table.
    acl_map: Vec<u32>,
}
impl Store {
    /// The slot of `path`.
    pub fn find(&self, path: &str) -> Option<u32> {
        self.find_bytes(path.as_bytes())
    }

    /// The slot of the path whose bytes are `path`.
    pub fn find_bytes(&self, path: &[u8]) -> Option<u32> {
        let slab = &self.slab;
        let key = key_of(path);
        self.index
            .find(spread(key), |e| {
                e.key == key
                    && slab[e.slot as usize]
                        .as_ref()
                        .is_some_and(|n| n.path_bytes() == path)
            })
            .map(|e| e.slot)
    }

    /// The node in slot `i` (which must be live).
    pub fn node(&self, i: u32) -> &Node {
        match self.slab.get(i as usize) {
            Some(Some(n)) => n,
            _ => panic!("store: slot {i} is not a live node"),
        }
    }

    /// The node in slot `i` (which must be live), to change it.
    pub fn node_mut(&mut self, i: u32) -> &mut Node {
        self.preserve(i);
        self.slot_mut(i)
    }

    /// Like `node_mut` for changes a snapshot does not record (child
    /// links).
    fn slot_mut(&mut self, i: u32) -> &mut Node {
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

    /// Adds `node` unlinked unless its path is already stored (then
    /// `None`, the store unchanged): one probe of the index.
    pub fn insert_if_absent(&mut self, node: Node) -> Option<u32> {
        let key = key_of(node.path_bytes());
        let i = self
            .free
            .last()
            .copied()
            .unwrap_or(u32::try_from(self.slab.len()).expect("slots are u32"));
        let path = node.path_bytes();
        if !Self::index_new(&mut self.index, &self.slab, Slot { slot: i, key }, || path) {
            return None;
        }
        if self.free.pop().is_some() {
            self.preserve(i);
            self.slab[i as usize] = Some(node);
        } else {
            self.slab.push(Some(node));
        }
        Some(i)
    }

    /// Adds `entry` to `index` unless its path (`path()`, read only when
    /// an entry with the same key is met) is there already (then false).
    fn index_new<'p>(
        index: &mut HashTable<Slot>,
        slab: &Slab,
        entry: Slot,
        path: impl Fn() -> &'p [u8],
    ) -> bool {
        let key = entry.key;
        match index.entry(
            spread(key),
            |e| {
                e.key == key
                    && slab[e.slot as usize]
                        .as_ref()
                        .is_some_and(|n| n.path_bytes() == path())
            },
            |e| spread(e.key),
        ) {
            hashbrown::hash_table::Entry::Occupied(_) => false,
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(entry);
                true
            }
        }
    }

    /// Appends a chunk of slots built elsewhere (a snapshot load's parsing
    /// thread) without moving its nodes: returns the first one's slot. The
    /// nodes are neither indexed nor linked yet ([`Store::index_adopted_all`]).
    /// A chunk longer than [`CHUNK`], or one after a chunk not yet full,
    /// is appended slot by slot.
    pub fn adopt_chunk(&mut self, chunk: Vec<Option<Node>>) -> u32 {
        let base = u32::try_from(self.slab.len()).expect("slots are u32");
        let last_full = self.slab.chunks.last().is_none_or(|c| c.len() == CHUNK);
        if last_full && chunk.len() <= CHUNK {
            self.slab.chunks.push(chunk);
        } else {
            for slot in chunk {
                self.slab.push(slot);
            }
        }
        base
    }

    /// Indexes the adopted slots from 0 up (a store that holds only
    /// those), `keys[i]` slot `i`'s path key, all at once: false if two
    /// share a path. They go in in the order of
    /// the index's buckets, a region of the table at a time, so the table
    /// is written nearly sequentially instead of at a random place per
    /// node (in a million-node load, one cache miss per node was most of
    /// the indexing time).
    pub fn index_adopted_all(&mut self, keys: &[u32]) -> bool {
        debug_assert!(self.index.is_empty() && self.slab.len() == keys.len());
        self.index.reserve(keys.len(), |e| spread(e.key));
        // hashbrown keeps 7/8 of a power-of-two bucket count usable; if
        // that ever changes, only the order (the speed) is off.
        let buckets = (self.index.capacity() as u64 + 1).next_power_of_two();
        let shift = buckets.trailing_zeros().saturating_sub(REGION_BITS);
        let region = |key: u32| ((spread(key) & (buckets - 1)) >> shift) as usize;
        let mut next = vec![0usize; (1 << REGION_BITS) + 1];
        for &key in keys {
            next[region(key) + 1] += 1;
        }
        for r in 1..next.len() {
            next[r] += next[r - 1];
        }
        // (slot, key) pairs: looking each key up again would be a cache
        // miss per node.
        let mut order = vec![(0u32, 0u32); keys.len()];
        for (slot, &key) in keys.iter().enumerate() {
            let r = region(key);
            order[next[r]] = (slot as u32, key);
            next[r] += 1;
        }
        let slab = &self.slab;
        order.into_iter().all(|(slot, key)| {
            // The node itself is read only on a key match: in bucket order,
            // reading each would be a cache miss per node again.
            let path = || {
                slab[slot as usize]
                    .as_ref()
                    .map_or(&[][..], |n| n.path_bytes())
            };
            Self::index_new(&mut self.index, slab, Slot { slot, key }, path)
        })
    }

    /// Adds `node` (its path must be new) and links it under `parent`.
    pub fn insert(&mut self, node: Node, parent: Option<u32>) -> u32 {
        let i = self
            .insert_if_absent(node)
            .expect("store: insert of a path already stored");
        if let Some(p) = parent {
            self.link_child(p, i);
        }
        i
    }

    fn link(&mut self, parent: u32, child: Slot) {
        let set = self
            .slot_mut(parent)
            .children
            .get_or_insert_with(Default::default);
        set.insert_unique(spread(child.key), child, |e| spread(e.key));
    }

    /// Removes slot `i` (which must have no children), unlinking it from
    /// `parent`.
    pub fn remove(&mut self, i: u32, parent: Option<u32>) -> Node {
        let h = spread(key_of(self.node(i).path_bytes()));
        self.preserve(i);
        if let Some(p) = parent {
            let n = self.slot_mut(p);
            if let Some(set) = n.children.as_mut() {
                if let Ok(e) = set.find_entry(h, |e| e.slot == i) {
                    e.remove();
                }
                if set.is_empty() {
                    n.children = None;
                }
            }
        }
        if let Ok(e) = self.index.find_entry(h, |e| e.slot == i) {
            e.remove();
        }
        let node = self.slab[i as usize]
            .take()
            .expect("store: remove of a free slot");
        self.free.push(i);
        node
    }

    /// Links the already stored `child` under `parent` (snapshot loading,
    /// where nodes may come before their parents).
    pub fn link_child(&mut self, parent: u32, child: u32) {
        let key = key_of(self.node(child).path_bytes());
        self.link(parent, Slot { slot: child, key });
    }

    /// Makes room in slot `parent`'s child set for `n` more children.
    pub fn reserve_children(&mut self, parent: u32, n: usize) {
        self.slot_mut(parent)
            .children
            .get_or_insert_with(Default::default)
            .reserve(n, |e| spread(e.key));
    }

    /// [`Store::link_child`] with the child's [`path_key`] known.
    pub fn link_keyed(&mut self, parent: u32, child: u32, key: u32) {
        debug_assert_eq!(key, key_of(self.node(child).path_bytes()));
        self.link(parent, Slot { slot: child, key });
    }

    /// Starts a point-in-time copy of every live slot (replacing one in
    /// progress). `acl_map` maps ACL cache indices to snapshot ones.
    pub fn freeze(&mut self, acl_map: Vec<u32>) {
        self.frozen = Some(Box::new(Frozen {
            next: 0,
            end: u32::try_from(self.slab.len()).expect("slots are u32"),
            pre: Default::default(),
            acl_map,
        }));
    }

    /// Ends the copy in progress, if any, unfinished.
    pub fn unfreeze(&mut self) {
        self.frozen = None;
    }

    /// Whether a copy is in progress.
    pub fn is_freezing(&self) -> bool {
        self.frozen.is_some()
    }

    /// Encodes up to `budget` more slots of the copy in progress into
    /// `out`; returns how many nodes it wrote and whether the copy is
    /// complete (then it ends).
    pub fn freeze_step(&mut self, budget: usize, out: &mut Vec<u8>) -> (u64, bool) {
        let Some(f) = self.frozen.as_deref_mut() else {
            return (0, true);
        };
        let stop = f.end.min(
            f.next
                .saturating_add(u32::try_from(budget).unwrap_or(u32::MAX)),
        );
        let mut written = 0;
        for i in f.next..stop {
            let pre = if f.pre.is_empty() {
                None
            } else {
                f.pre.remove(&i)
            };
            match pre {
                Some(Some(bytes)) => {
                    out.extend_from_slice(&bytes);
                    written += 1;
                }
                Some(None) => {}
                None => {
                    if let Some(n) = &self.slab[i as usize] {
                        crate::snapshot::encode_node(n, f.acl_map[n.acl as usize], out);
                        written += 1;
                    }
                }
            }
        }
        f.next = stop;
        let done = stop == f.end;
        if done {
            self.frozen = None;
        }
        (written, done)
    }

    /// Before slot `i` changes: keeps its bytes for the copy in progress
    /// if the copy has not reached it yet.
    fn preserve(&mut self, i: u32) {
        let Some(f) = self.frozen.as_deref_mut() else {
            return;
        };
        if i < f.next || i >= f.end || f.pre.contains_key(&i) {
            return;
        }
        let bytes = self.slab[i as usize].as_ref().map(|n| {
            let mut b = Vec::new();
            crate::snapshot::encode_node(n, f.acl_map[n.acl as usize], &mut b);
            b.into_boxed_slice()
        });
        f.pre.insert(i, bytes);
    }

    /// Slots of the children of slot `i`.
    pub fn children(&self, i: u32) -> impl Iterator<Item = u32> + '_ {
        self.node(i)
            .children
            .iter()
            .flat_map(|s| s.iter().map(|e| e.slot))
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

/// [`Store::index_adopted_all`] fills the index in 2^REGION_BITS regions.
const REGION_BITS: u32 = 12;

/// Slots per chunk of the slab.
pub(crate) const CHUNK: usize = 4096;

/// The node slots, in chunks of [`CHUNK`]: growing never moves a node. (A
/// `Vec` of a million nodes doubling copies ~100 MB and faults in the new
/// pages in the middle of a create: a 100-200 ms pause with allocators that
/// do not remap large blocks.) The first chunk grows as a `Vec` does, so a
/// small tree stays small.
#[derive(Debug, Clone, Default)]
struct Slab {
    /// Every chunk but the last is full.
    chunks: Vec<Vec<Option<Node>>>,
}

impl Slab {
    fn len(&self) -> usize {
        self.chunks
            .last()
            .map_or(0, |c| (self.chunks.len() - 1) * CHUNK + c.len())
    }

    fn get(&self, i: usize) -> Option<&Option<Node>> {
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut Option<Node>> {
        self.chunks.get_mut(i / CHUNK)?.get_mut(i % CHUNK)
    }

    fn push(&mut self, slot: Option<Node>) {
        match self.chunks.last_mut() {
            Some(c) if c.len() < CHUNK => c.push(slot),
            _ => {
                let mut c = Vec::with_capacity(if self.chunks.is_empty() { 16 } else { CHUNK });
                c.push(slot);
                self.chunks.push(c);
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Option<Node>> + '_ {
        self.chunks.iter().flatten()
    }
}

impl std::ops::Index<usize> for Slab {
    type Output = Option<Node>;

    fn index(&self, i: usize) -> &Option<Node> {
        &self.chunks[i / CHUNK][i % CHUNK]
    }
}

impl std::ops::IndexMut<usize> for Slab {
    fn index_mut(&mut self, i: usize) -> &mut Option<Node> {
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }
}

/// A table entry: a slot and 32 bits of its path's hash.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    slot: u32,
    key: u32,
}

/// The 32 hash bits a table entry keeps of `path`.
pub(crate) fn path_key(path: &[u8]) -> u32 {
    key_of(path)
}

fn key_of(path: &[u8]) -> u32 {
    (path_hash(path) >> 32) as u32
}

/// The table hash of a key: spread over 64 bits (the tables take their
/// bucket from the low bits, their tag from the top ones).
fn spread(key: u32) -> u64 {
    (u64::from(key) | u64::from(key) << 32).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}
