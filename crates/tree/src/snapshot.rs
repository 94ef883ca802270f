//! The snapshot body: the whole tree, versioned. All integers big-endian;
//! `str`/`bytes` are a u32 length then the bytes (UTF-8 for `str`).
//!
//! ```text
//! magic      8 bytes  "PDKTREE\0"
//! version    u32      2 (1 is read too: the same layout, its digest
//!                     computed the older way, see below)
//! last_zxid  i64
//! acl_lists  u32 n (the ACL cache's live lists), then n times:
//!              u32 entries, then per entry: perms i32, scheme str, id str
//! nodes      u64 n, then n times, in any order (parents need not come
//!            first; this build writes its slab order):
//!              path str, data bytes (length 0xFFFFFFFF: null data),
//!              czxid i64, mzxid i64, pzxid i64, ctime i64, mtime i64,
//!              version i32, cversion i32 (stored: child creates),
//!              aversion i32, ephemeral_owner i64,
//!              acl u32 (index into acl_lists)
//! sessions   u32 n, then n times: id i64, timeout_ms i32
//! digest     u64      DataTree::digest() of the tree written
//! ```
//!
//! Version 2 changed only how the digest is computed (the path hashed
//! once per node, data and stat in four lanes: loading a million nodes
//! spent a quarter of its time in the digest). A version-1 snapshot is
//! checked against its own digest, recomputed the version-1 way.
//!
//! Loading checks every length against the bytes present (it never
//! allocates more than it has read), that each node's parent is in the
//! file, that no path repeats, that ACL indices exist, and that the
//! recomputed digest equals the stored one.

use std::io::{self, Read, Write};

use proto::{Acl, Id};

use crate::acl::AclCache;
use crate::store::{Node, StatPersisted, CHUNK as SLAB_CHUNK};
use crate::tree::DataTree;
use crate::{path, TreeError};

/// Identifies a paddock tree snapshot body.
pub const MAGIC: &[u8; 8] = b"PDKTREE\0";
/// The format version this build writes.
pub const VERSION: u32 = 2;
/// The oldest version this build reads.
const OLDEST_VERSION: u32 = 1;

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// A length-prefixed field. Paths, data and ACL ids are bounded by the
/// packet limit, far below 4 GiB.
fn put_blob(out: &mut Vec<u8>, b: &[u8]) {
    debug_assert!(b.len() < u32::MAX as usize);
    put_u32(out, b.len() as u32);
    out.extend_from_slice(b);
}

/// One node's record; `acl` is its index in the snapshot's ACL table.
pub(crate) fn encode_node(n: &Node, acl: u32, out: &mut Vec<u8>) {
    put_blob(out, n.path_bytes());
    match n.client_data() {
        Some(d) => put_blob(out, d),
        None => put_u32(out, u32::MAX),
    }
    let s = &n.stat;
    for v in [s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime] {
        put_i64(out, v);
    }
    for v in [s.version, s.cversion, s.aversion] {
        put_u32(out, v as u32);
    }
    put_i64(out, s.ephemeral_owner);
    put_u32(out, acl);
}

/// A snapshot being written while the tree goes on changing: made by
/// [`DataTree::snapshot_begin`], advanced by [`DataTree::snapshot_step`].
/// Its bytes are those [`DataTree::serialize`] would have written at the
/// moment it began. One at a time per tree.
#[derive(Debug)]
pub struct SnapshotWriter {
    zxid: i64,
    nodes: u64,
    written: u64,
    trailer: Vec<u8>,
    done: bool,
}

impl SnapshotWriter {
    /// The last zxid the snapshot includes.
    pub fn zxid(&self) -> i64 {
        self.zxid
    }

    /// Whether every byte has been handed out.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

/// Bytes buffered before each write in [`DataTree::serialize`].
const CHUNK: usize = 1 << 16;

impl DataTree {
    /// The header up to the node count; returns ACL cache index ->
    /// snapshot ACL index.
    fn encode_header(&self, out: &mut Vec<u8>) -> Vec<u32> {
        out.extend_from_slice(MAGIC);
        put_u32(out, VERSION);
        put_i64(out, self.last_zxid);
        let live: Vec<_> = self.acls.live().collect();
        let mut map = vec![u32::MAX; live.last().map_or(0, |(i, _)| *i as usize + 1)];
        put_u32(out, live.len() as u32);
        for (k, (i, acl)) in live.iter().enumerate() {
            map[*i as usize] = k as u32;
            put_u32(out, acl.len() as u32);
            for e in acl.iter() {
                put_u32(out, e.perms as u32);
                put_blob(out, e.id.scheme.as_bytes());
                put_blob(out, e.id.id.as_bytes());
            }
        }
        out.extend_from_slice(&(self.store.len() as u64).to_be_bytes());
        map
    }

    /// Sessions and digest.
    fn encode_trailer(&self, out: &mut Vec<u8>) {
        put_u32(out, self.sessions.len() as u32);
        for (&id, &timeout) in &self.sessions {
            put_i64(out, id);
            put_u32(out, timeout as u32);
        }
        out.extend_from_slice(&self.digest.to_be_bytes());
    }

    /// Writes the snapshot body (format in [`crate::snapshot`]) at once.
    pub fn serialize(&self, w: &mut dyn Write) -> io::Result<()> {
        let mut out = Vec::with_capacity(CHUNK + 4096);
        let map = self.encode_header(&mut out);
        for i in self.store.slots() {
            let n = self.store.node(i);
            encode_node(n, map[n.acl as usize], &mut out);
            if out.len() >= CHUNK {
                w.write_all(&out)?;
                out.clear();
            }
        }
        self.encode_trailer(&mut out);
        w.write_all(&out)
    }

    /// Starts a snapshot of the tree as it is now, appending its first
    /// bytes to `out`; [`DataTree::snapshot_step`] hands out the rest
    /// while the tree goes on changing (copy-before-write: a node changed
    /// before the snapshot reached it is kept as it was). Starting one
    /// abandons any other in progress.
    pub fn snapshot_begin(&mut self, out: &mut Vec<u8>) -> SnapshotWriter {
        let map = self.encode_header(out);
        let mut trailer = Vec::new();
        self.encode_trailer(&mut trailer);
        self.store.freeze(map);
        SnapshotWriter {
            zxid: self.last_zxid,
            nodes: self.store.len() as u64,
            written: 0,
            trailer,
            done: false,
        }
    }

    /// Appends up to `budget` more nodes of `w` to `out`, then, after the
    /// last, the trailer; returns whether the snapshot is complete. An
    /// error means the snapshot is inconsistent (a bug) and must be
    /// dropped.
    pub fn snapshot_step(
        &mut self,
        w: &mut SnapshotWriter,
        budget: usize,
        out: &mut Vec<u8>,
    ) -> io::Result<bool> {
        if w.done {
            return Ok(true);
        }
        let (written, done) = self.store.freeze_step(budget, out);
        w.written += written;
        if !done {
            return Ok(false);
        }
        w.done = true;
        if w.written != w.nodes {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "snapshot at zxid {:#x}: {} nodes written of {}",
                    w.zxid, w.written, w.nodes
                ),
            ));
        }
        out.extend_from_slice(&w.trailer);
        Ok(true)
    }

    /// Drops the snapshot in progress, if any.
    pub fn snapshot_abort(&mut self) {
        self.store.unfreeze();
    }

    /// Whether a snapshot is being written.
    pub fn snapshot_in_progress(&self) -> bool {
        self.store.is_freezing()
    }

    /// Reads a snapshot body: `r` must end where the body does (the loader
    /// reads ahead, buffering for itself). Never panics: bad or truncated
    /// bytes, or bytes after the body, are an error.
    ///
    /// Two threads share the work when the machine has two CPUs: one reads
    /// and parses into slab chunks (checksum, copies, UTF-8 checks, ACLs,
    /// which parent each node links to); the other adopts the chunks,
    /// hashes each node (digest, path key) while parsing goes on, then
    /// indexes and links them all. A million-node load: 1.03-1.14 s on one
    /// thread, 0.44-0.61 s on two (BENCHMARKS.md).
    pub fn deserialize(r: &mut (dyn Read + Send)) -> Result<DataTree, TreeError> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::deserialize_on(r, threads > 1)
    }

    /// [`DataTree::deserialize`], parsing on a thread of its own or not.
    pub(crate) fn deserialize_on(
        r: &mut (dyn Read + Send),
        parse_thread: bool,
    ) -> Result<DataTree, TreeError> {
        let mut parser = Parser::new(In::new(r));
        if parse_thread {
            let on_two = std::thread::scope(|s| {
                let (tx, rx) = std::sync::mpsc::sync_channel(PARTS_QUEUED);
                let parsing = &mut parser;
                let spawned = std::thread::Builder::new()
                    .name("snapshot-parse".into())
                    .spawn_scoped(s, move || loop {
                        let part = parsing.next_part();
                        let last = !matches!(part, Ok(Some(_)));
                        // A closed channel: the builder stopped at an error.
                        if tx.send(part).is_err() || last {
                            return;
                        }
                    });
                // No thread to be had: parse here, below.
                spawned.ok()?;
                // A parser that ended without its last part (it cannot panic
                // on any input) reads as a truncated body.
                let tree = build(&mut || rx.recv().unwrap_or(Err(TreeError::Truncated)));
                // A builder that stopped early must not leave the parser
                // blocked on a full channel: the scope waits for it.
                drop(rx);
                Some(tree)
            });
            if let Some(tree) = on_two {
                return tree;
            }
        }
        build(&mut || parser.next_part())
    }
}

/// Parts in flight between the parsing thread and the building one.
const PARTS_QUEUED: usize = 4;

/// Most per-node entries reserved up front from the node count a body
/// declares (a corrupt count must not allocate much); a bigger tree grows
/// them as usual past it.
const RESERVE_MAX: u64 = 1 << 22;

/// A snapshot body in file order, as the parser hands it over.
enum Part {
    Head {
        version: u32,
        last_zxid: i64,
        nodes: u64,
        /// Per ACL cache index, its list's content hash.
        acl_hashes: Vec<u64>,
    },
    Nodes(Chunk),
    Tail {
        sessions: Vec<(i64, i32)>,
        /// The ACL lists, referenced by every node parsed.
        acls: AclCache,
        stored_digest: u64,
    },
}

/// Up to one slab chunk of parsed nodes, built on the parsing thread so
/// the builder adopts them without moving a node.
struct Chunk {
    /// The nodes, their ACLs already in the parser's cache.
    nodes: Vec<Option<Node>>,
    /// Per node, how it links to its parent.
    links: Vec<Link>,
    /// Offsets of the nodes with an owner field set (ephemeral, container,
    /// TTL), which the builder indexes by owner.
    owned: Vec<u32>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Link {
    /// The root: no parent.
    Root,
    /// The same parent as the node before it.
    SameParent,
    /// Another parent than the node before it.
    NewParent,
}

/// Reads a body a part at a time, checking everything that needs no tree.
struct Parser<'a> {
    inp: In<'a>,
    stage: Stage,
    acls: AclCache,
    /// Per ACL list in the body, its index in `acls`.
    lists: Vec<u32>,
    /// The parent path of the last node parsed (None: the root, or none).
    last_parent: Option<Vec<u8>>,
}

enum Stage {
    Head,
    Nodes { left: u64 },
    Done,
}

impl<'a> Parser<'a> {
    fn new(inp: In<'a>) -> Parser<'a> {
        Parser {
            inp,
            stage: Stage::Head,
            acls: AclCache::default(),
            lists: Vec::new(),
            last_parent: None,
        }
    }

    /// The next part; `None` after the tail.
    fn next_part(&mut self) -> Result<Option<Part>, TreeError> {
        match self.stage {
            Stage::Head => {
                let inp = &mut self.inp;
                let mut magic = [0u8; 8];
                inp.exact(&mut magic)?;
                if &magic != MAGIC {
                    return Err(TreeError::BadMagic);
                }
                let version = inp.u32()?;
                if !(OLDEST_VERSION..=VERSION).contains(&version) {
                    return Err(TreeError::UnsupportedVersion { version });
                }
                let last_zxid = inp.i64()?;
                for acl in read_acls(inp)? {
                    self.lists.push(self.acls.intern(&acl));
                }
                let nodes = inp.u64()?;
                self.stage = Stage::Nodes { left: nodes };
                let mut acl_hashes = Vec::new();
                for &i in &self.lists {
                    let i = i as usize;
                    if acl_hashes.len() <= i {
                        acl_hashes.resize(i + 1, 0);
                    }
                    acl_hashes[i] = self.acls.hash_of(i as u32);
                }
                Ok(Some(Part::Head {
                    version,
                    last_zxid,
                    nodes,
                    acl_hashes,
                }))
            }
            Stage::Nodes { left } if left > 0 => {
                let k = left.min(SLAB_CHUNK as u64) as usize;
                let mut chunk = Chunk {
                    nodes: Vec::with_capacity(k),
                    links: Vec::with_capacity(k),
                    owned: Vec::new(),
                };
                for off in 0..k {
                    let (node, link) = self.node()?;
                    if node.stat.ephemeral_owner != 0 {
                        chunk.owned.push(off as u32);
                    }
                    chunk.links.push(link);
                    chunk.nodes.push(Some(node));
                }
                self.stage = Stage::Nodes {
                    left: left - k as u64,
                };
                Ok(Some(Part::Nodes(chunk)))
            }
            Stage::Nodes { .. } => {
                let inp = &mut self.inp;
                let sessions = read_sessions(inp)?;
                let stored_digest = inp.u64()?;
                inp.finish()?;
                self.stage = Stage::Done;
                for &a in &self.lists {
                    self.acls.release(a); // the load's own reference
                }
                Ok(Some(Part::Tail {
                    sessions,
                    acls: std::mem::take(&mut self.acls),
                    stored_digest,
                }))
            }
            Stage::Done => Ok(None),
        }
    }

    /// One node, its ACL referenced, and how it links.
    fn node(&mut self) -> Result<(Node, Link), TreeError> {
        let mut node = read_node(&mut self.inp)?;
        let &acl = self
            .lists
            .get(node.acl as usize)
            .ok_or(TreeError::Corrupt { what: "ACL index" })?;
        node.acl = acl;
        self.acls.add_ref(acl);
        let link = match path::parent_bytes(node.path_bytes()) {
            _ if node.path_bytes() == b"/" => {
                self.last_parent = None;
                Link::Root
            }
            Some(parent) if self.last_parent.as_deref() == Some(parent) => Link::SameParent,
            Some(parent) => {
                let last = self.last_parent.get_or_insert_with(Vec::new);
                last.clear();
                last.extend_from_slice(parent);
                Link::NewParent
            }
            None => return Err(TreeError::Corrupt { what: "node path" }),
        };
        Ok((node, link))
    }
}

/// Builds the tree from a body's parts, in order.
fn build(next: &mut dyn FnMut() -> Result<Option<Part>, TreeError>) -> Result<DataTree, TreeError> {
    let Some(Part::Head {
        version,
        last_zxid,
        nodes,
        acl_hashes,
    }) = next()?
    else {
        return Err(TreeError::Truncated);
    };
    let mut t = DataTree::empty();
    t.last_zxid = last_zxid;
    // Sized from the declared count (the index is sized from the nodes
    // actually read, by `index_adopted_all`).
    let reserve = nodes.min(RESERVE_MAX) as usize;
    // Per node in slot order (a fresh store's slots count from 0): its
    // path key, and how it links.
    let mut keys: Vec<u32> = Vec::with_capacity(reserve);
    let mut links: Vec<Link> = Vec::with_capacity(reserve);
    // The digest and data size of every node (the digest as version 2).
    let (mut digest, mut data_size) = (0u64, 0u64);
    let tail = loop {
        match next()? {
            Some(Part::Nodes(chunk)) => {
                let base = t.store.adopt_chunk(chunk.nodes);
                debug_assert_eq!(base as usize, keys.len());
                for off in 0..chunk.links.len() as u32 {
                    let n = t.store.node(base + off);
                    // The parser put the node's ACL in its cache.
                    let &acl_hash = acl_hashes
                        .get(n.acl as usize)
                        .ok_or(TreeError::Corrupt { what: "ACL index" })?;
                    digest = digest.wrapping_add(crate::tree::node_digest(n, acl_hash));
                    data_size += crate::tree::node_data_size(n);
                    keys.push(crate::store::path_key(n.path_bytes()));
                }
                links.extend_from_slice(&chunk.links);
                for off in chunk.owned {
                    t.index_owned(base + off);
                }
            }
            Some(tail @ Part::Tail { .. }) => break tail,
            Some(Part::Head { .. }) | None => return Err(TreeError::Truncated),
        }
    };
    let Part::Tail {
        sessions,
        acls,
        stored_digest,
    } = tail
    else {
        unreachable!("matched above")
    };
    if !t.store.index_adopted_all(&keys) {
        return Err(TreeError::Corrupt {
            what: "duplicate path",
        });
    }
    link_all(&mut t, &keys, &links)?;
    drop((keys, links));
    t.acls = acls;
    for (id, timeout) in sessions {
        t.sessions.insert(id, timeout);
    }
    t.digest = digest;
    t.data_size = data_size;
    let computed = if version == 1 {
        t.compute_digest_v1()
    } else {
        digest
    };
    if stored_digest != computed {
        return Err(TreeError::DigestMismatch {
            stored: stored_digest,
            computed,
        });
    }
    t.rebuild_quotas();
    Ok(t)
}

/// Links every node but the root to its parent, all of them indexed, in
/// slot order (`keys` and `links` per slot from 0).
fn link_all(t: &mut DataTree, keys: &[u32], links: &[Link]) -> Result<(), TreeError> {
    let mut root = None;
    // The parent of the node linked last.
    let mut last: Option<u32> = None;
    for (i, (&key, &link)) in keys.iter().zip(links).enumerate() {
        let i = i as u32;
        match (link, last) {
            (Link::Root, _) => {
                // A second root would have been a duplicate path.
                root = Some(i);
                last = None;
            }
            (Link::SameParent, Some(p)) => t.store.link_keyed(p, i, key),
            _ => {
                let path = t.store.node(i).path_bytes();
                let parent =
                    path::parent_bytes(path).ok_or(TreeError::Corrupt { what: "node path" })?;
                let p = t.store.find_bytes(parent).ok_or(TreeError::Corrupt {
                    what: "node without its parent",
                })?;
                // Room for the run of siblings that follows, at once: a
                // parent of 1,000,000 grew its child set by doubling, 20
                // rehashes of a table that ends at 16 MB.
                let run = links[i as usize + 1..]
                    .iter()
                    .take_while(|l| **l == Link::SameParent)
                    .count();
                t.store.reserve_children(p, run + 1);
                t.store.link_keyed(p, i, key);
                last = Some(p);
            }
        }
    }
    if root.is_none() {
        return Err(TreeError::Corrupt { what: "root node" });
    }
    Ok(())
}

/// The snapshot's bytes through a buffer of the loader's own: fixed-size
/// fields and short blobs are taken out of a slice, where one `read_exact`
/// through `dyn Read` per field (a dozen per node) and a second copy of
/// every path and data took a third of the time to load a million nodes.
/// It reads ahead only within the body, and [`In::finish`] checks nothing
/// it read is left over.
struct In<'a> {
    r: &'a mut (dyn Read + Send),
    buf: Box<[u8]>,
    /// The unread bytes are `buf[pos..end]`.
    pos: usize,
    end: usize,
}

/// The loader's buffer; fields up to this size are taken from it.
const IN_BUF: usize = 256 << 10;

impl<'a> In<'a> {
    fn new(r: &'a mut (dyn Read + Send)) -> In<'a> {
        In {
            r,
            buf: vec![0; IN_BUF].into_boxed_slice(),
            pos: 0,
            end: 0,
        }
    }

    /// Makes at least `n` bytes readable. Callers keep `n` within
    /// [`IN_BUF`] (a larger `n` can only fail, as truncated).
    fn fill(&mut self, n: usize) -> Result<(), TreeError> {
        debug_assert!(n <= IN_BUF);
        if self.end - self.pos >= n {
            return Ok(());
        }
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        while self.end < n {
            match self.r.read(&mut self.buf[self.end..]) {
                Ok(0) => return Err(TreeError::Truncated),
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(truncated(e)),
            }
        }
        Ok(())
    }

    /// The next `n` (at most [`IN_BUF`]) bytes.
    fn take(&mut self, n: usize) -> Result<&[u8], TreeError> {
        self.fill(n)?;
        let at = self.pos;
        self.pos += n;
        Ok(&self.buf[at..at + n])
    }

    /// The `N` bytes `skip` bytes ahead, without consuming anything.
    fn peek<const N: usize>(&mut self, skip: usize) -> Result<[u8; N], TreeError> {
        self.fill(skip + N)?;
        let at = self.pos + skip;
        Ok(self.buf[at..at + N].try_into().expect("N bytes"))
    }

    fn exact(&mut self, b: &mut [u8]) -> Result<(), TreeError> {
        b.copy_from_slice(self.take(b.len())?);
        Ok(())
    }
    fn u32(&mut self) -> Result<u32, TreeError> {
        let b = self.peek::<4>(0)?;
        self.pos += 4;
        Ok(u32::from_be_bytes(b))
    }
    fn i32(&mut self) -> Result<i32, TreeError> {
        Ok(self.u32()? as i32)
    }
    fn u64(&mut self) -> Result<u64, TreeError> {
        let b = self.peek::<8>(0)?;
        self.pos += 8;
        Ok(u64::from_be_bytes(b))
    }
    fn i64(&mut self) -> Result<i64, TreeError> {
        Ok(self.u64()? as i64)
    }

    /// Appends exactly `len` bytes to `v`; a field longer than the buffer
    /// streams past it, growing `v` only as its bytes arrive (a corrupt
    /// length cannot make the loader allocate what the file does not hold).
    fn append(&mut self, v: &mut Vec<u8>, len: usize) -> Result<(), TreeError> {
        if len <= IN_BUF {
            let b = self.take(len)?;
            v.extend_from_slice(b);
            return Ok(());
        }
        let have = self.end - self.pos;
        v.extend_from_slice(&self.buf[self.pos..self.end]);
        self.pos = self.end;
        let rest = (len - have) as u64;
        let got = (&mut *self.r)
            .take(rest)
            .read_to_end(v)
            .map_err(TreeError::Io)?;
        if got as u64 != rest {
            return Err(TreeError::Truncated);
        }
        Ok(())
    }

    /// A length-prefixed field.
    fn blob(&mut self) -> Result<Vec<u8>, TreeError> {
        let len = self.u32()? as usize;
        let mut v = Vec::new();
        self.append(&mut v, len)?;
        Ok(v)
    }
    fn string(&mut self, what: &'static str) -> Result<String, TreeError> {
        String::from_utf8(self.blob()?).map_err(|_| TreeError::Corrupt { what })
    }

    /// The body ended: nothing read ahead may be left over (whatever
    /// follows in the reader is the caller's to check).
    fn finish(&self) -> Result<(), TreeError> {
        if self.pos != self.end {
            return Err(TreeError::Corrupt {
                what: "bytes after the digest",
            });
        }
        Ok(())
    }
}

fn truncated(e: io::Error) -> TreeError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        TreeError::Truncated
    } else {
        TreeError::Io(e)
    }
}

/// The body's ACL lists, as written.
fn read_acls(inp: &mut In) -> Result<Vec<Vec<Acl>>, TreeError> {
    let n = inp.u32()?;
    let mut lists = Vec::new();
    for _ in 0..n {
        let entries = inp.u32()?;
        let mut acl = Vec::new();
        for _ in 0..entries {
            let perms = inp.i32()?;
            let scheme = inp.string("ACL scheme")?;
            let id = inp.string("ACL id")?;
            acl.push(Acl {
                perms,
                id: Id { scheme, id },
            });
        }
        lists.push(acl);
    }
    Ok(lists)
}

/// Largest field allocated in one go from its declared length; longer
/// ones grow as their bytes arrive, so a corrupt length cannot make the
/// loader allocate what the file does not hold.
const EXACT_ALLOC_MAX: usize = 1 << 20;

/// Reads a node's path and data straight into one blob (the node's own
/// allocation): returns it, the path's length and whether the data is null.
fn read_blob(inp: &mut In) -> Result<(Box<[u8]>, usize, bool), TreeError> {
    let path_len = inp.u32()? as usize;
    // The path, and the data's length after it, are read where they lie
    // when they fit the buffer (paths are short), else through a scratch
    // vector.
    let (data_len, scratch) = if path_len + 4 <= IN_BUF {
        let data_len = u32::from_be_bytes(inp.peek::<4>(path_len)?);
        let path = &inp.buf[inp.pos..inp.pos + path_len];
        if std::str::from_utf8(path).is_err() {
            return Err(TreeError::Corrupt { what: "node path" });
        }
        (data_len, None)
    } else {
        let mut path = Vec::new();
        inp.append(&mut path, path_len)?;
        if std::str::from_utf8(&path).is_err() {
            return Err(TreeError::Corrupt { what: "node path" });
        }
        (u32::from_be_bytes(inp.peek::<4>(0)?), Some(path))
    };
    let (null, data_len) = match data_len {
        u32::MAX => (true, 0),
        n => (false, n as usize),
    };
    let mut blob = Vec::with_capacity(path_len + data_len.min(EXACT_ALLOC_MAX));
    match scratch {
        Some(path) => blob.extend_from_slice(&path),
        None => inp.append(&mut blob, path_len)?,
    }
    inp.pos += 4; // the data length, peeked above
    inp.append(&mut blob, data_len)?;
    Ok((blob.into_boxed_slice(), path_len, null))
}

/// Bytes of a node's fixed-size fields after its path and data.
const NODE_FIXED: usize = 5 * 8 + 3 * 4 + 8 + 4;

/// One node, its `acl` the index in the body's ACL lists (checked by the
/// caller).
fn read_node(inp: &mut In) -> Result<Node, TreeError> {
    let (blob, path_len, null) = read_blob(inp)?;
    if blob[..path_len].first() != Some(&b'/') {
        return Err(TreeError::Corrupt { what: "node path" });
    }
    let f: [u8; NODE_FIXED] = inp.peek(0)?;
    inp.pos += NODE_FIXED;
    let i64_at = |at: usize| i64::from_be_bytes(f[at..at + 8].try_into().expect("8 bytes"));
    let i32_at = |at: usize| i32::from_be_bytes(f[at..at + 4].try_into().expect("4 bytes"));
    let stat = StatPersisted {
        czxid: i64_at(0),
        mzxid: i64_at(8),
        pzxid: i64_at(16),
        ctime: i64_at(24),
        mtime: i64_at(32),
        version: i32_at(40),
        cversion: i32_at(44),
        aversion: i32_at(48),
        ephemeral_owner: i64_at(52),
    };
    let acl = i32_at(60) as u32;
    let mut node = Node::from_blob(blob, path_len, stat, acl);
    node.set_null(null);
    Ok(node)
}

fn read_sessions(inp: &mut In) -> Result<Vec<(i64, i32)>, TreeError> {
    let n = inp.u32()?;
    let mut sessions = Vec::new();
    for _ in 0..n {
        let id = inp.i64()?;
        let timeout = inp.i32()?;
        sessions.push((id, timeout));
    }
    Ok(sessions)
}
