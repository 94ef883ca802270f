//! The snapshot body: the whole tree, versioned. All integers big-endian;
//! `str`/`bytes` are a u32 length then the bytes (UTF-8 for `str`).
//!
//! ```text
//! magic      8 bytes  "PDKTREE\0"
//! version    u32      1
//! last_zxid  i64
//! acl_lists  u32 n, then n times:
//!              u32 entries, then per entry: perms i32, scheme str, id str
//! nodes      u64 n, then n times, depth-first, children by name (root first):
//!              path str, data bytes (length 0xFFFFFFFF: null data),
//!              czxid i64, mzxid i64, pzxid i64, ctime i64, mtime i64,
//!              version i32, cversion i32 (stored: child creates),
//!              aversion i32, ephemeral_owner i64,
//!              acl u32 (index into acl_lists)
//! sessions   u32 n, then n times: id i64, timeout_ms i32
//! digest     u64      DataTree::digest() of the tree written
//! ```
//!
//! Loading checks every length against the bytes present (it never
//! allocates more than it has read), that each node's parent came before
//! it, that no path repeats, that ACL indices exist, and that the
//! recomputed digest equals the stored one.

use std::io::{self, Read, Write};

use proto::{Acl, Id};

use crate::store::{Node, StatPersisted};
use crate::tree::DataTree;
use crate::{path, TreeError};

/// Identifies a paddock tree snapshot body.
pub const MAGIC: &[u8; 8] = b"PDKTREE\0";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;

struct Out<'a> {
    w: &'a mut dyn Write,
    buf: Vec<u8>,
}

impl Out<'_> {
    fn bytes(&mut self, b: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= 1 << 16 {
            self.flush()?;
        }
        Ok(())
    }
    fn u32(&mut self, v: u32) -> io::Result<()> {
        self.bytes(&v.to_be_bytes())
    }
    fn i32(&mut self, v: i32) -> io::Result<()> {
        self.bytes(&v.to_be_bytes())
    }
    fn i64(&mut self, v: i64) -> io::Result<()> {
        self.bytes(&v.to_be_bytes())
    }
    fn blob(&mut self, b: &[u8]) -> io::Result<()> {
        let len = u32::try_from(b.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "field over 4 GiB"))?;
        self.u32(len)?;
        self.bytes(b)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.w.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

impl DataTree {
    /// Writes the snapshot body (format in [`crate::snapshot`]).
    pub fn serialize(&self, w: &mut dyn Write) -> io::Result<()> {
        let mut out = Out {
            w,
            buf: Vec::with_capacity(1 << 16),
        };
        out.bytes(MAGIC)?;
        out.u32(VERSION)?;
        out.i64(self.last_zxid)?;
        let index = self.write_acls(&mut out)?;
        self.write_nodes(&mut out, &index)?;
        out.u32(self.sessions.len() as u32)?;
        for (&id, &timeout) in &self.sessions {
            out.i64(id)?;
            out.i32(timeout)?;
        }
        out.bytes(&self.digest.to_be_bytes())?;
        out.flush()
    }

    /// Writes the live ACL lists; returns cache index -> file index.
    fn write_acls(&self, out: &mut Out) -> io::Result<Vec<u32>> {
        let mut index = Vec::new();
        let mut lists = Vec::new();
        for i in self.store.slots() {
            let a = self.store.node(i).acl as usize;
            if index.len() <= a {
                index.resize(a + 1, u32::MAX);
            }
            if index[a] == u32::MAX {
                index[a] = lists.len() as u32;
                lists.push(a as u32);
            }
        }
        out.u32(lists.len() as u32)?;
        for &a in &lists {
            let acl = self.acls.get(a);
            out.u32(acl.len() as u32)?;
            for e in acl.iter() {
                out.i32(e.perms)?;
                out.blob(e.id.scheme.as_bytes())?;
                out.blob(e.id.id.as_bytes())?;
            }
        }
        Ok(index)
    }

    fn write_nodes(&self, out: &mut Out, index: &[u32]) -> io::Result<()> {
        out.bytes(&(self.store.len() as u64).to_be_bytes())?;
        let Some(root) = self.store.find("/") else {
            return Ok(());
        };
        let mut stack = vec![root];
        while let Some(i) = stack.pop() {
            let n = self.store.node(i);
            out.blob(n.path_bytes())?;
            match n.client_data() {
                Some(d) => out.blob(d)?,
                None => out.u32(u32::MAX)?,
            }
            let s = &n.stat;
            for v in [s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime] {
                out.i64(v)?;
            }
            out.i32(s.version)?;
            out.i32(s.cversion)?;
            out.i32(s.aversion)?;
            out.i64(s.ephemeral_owner)?;
            out.u32(index[n.acl as usize])?;
            // Sorted, so equal trees give equal bytes whatever their history.
            let mut kids: Vec<u32> = self.store.children(i).collect();
            kids.sort_unstable_by(|&a, &b| {
                self.store
                    .node(b)
                    .path_bytes()
                    .cmp(self.store.node(a).path_bytes())
            });
            stack.extend(kids);
        }
        Ok(())
    }

    /// Reads a snapshot body. Never panics: bad or truncated bytes are an
    /// error. Pass a buffered reader (or a byte slice).
    pub fn deserialize(r: &mut dyn Read) -> Result<DataTree, TreeError> {
        let mut inp = In { r };
        let mut magic = [0u8; 8];
        inp.exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(TreeError::BadMagic);
        }
        let version = inp.u32()?;
        if version != VERSION {
            return Err(TreeError::UnsupportedVersion { version });
        }
        let mut t = DataTree::empty();
        t.last_zxid = inp.i64()?;
        let lists = read_acls(&mut inp, &mut t)?;
        read_nodes(&mut inp, &mut t, &lists)?;
        for &a in &lists {
            t.acls.release(a); // the load's own reference
        }
        read_sessions(&mut inp, &mut t)?;
        let stored = inp.u64()?;
        if stored != t.digest {
            return Err(TreeError::DigestMismatch {
                stored,
                computed: t.digest,
            });
        }
        t.rebuild_quotas();
        Ok(t)
    }
}

struct In<'a> {
    r: &'a mut dyn Read,
}

impl In<'_> {
    fn exact(&mut self, b: &mut [u8]) -> Result<(), TreeError> {
        self.r.read_exact(b).map_err(truncated)
    }
    fn u32(&mut self) -> Result<u32, TreeError> {
        let mut b = [0u8; 4];
        self.exact(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }
    fn i32(&mut self) -> Result<i32, TreeError> {
        Ok(self.u32()? as i32)
    }
    fn u64(&mut self) -> Result<u64, TreeError> {
        let mut b = [0u8; 8];
        self.exact(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }
    fn i64(&mut self) -> Result<i64, TreeError> {
        Ok(self.u64()? as i64)
    }
    /// A length-prefixed field, read without trusting the length for the
    /// allocation.
    fn blob(&mut self) -> Result<Vec<u8>, TreeError> {
        let len = self.u32()? as u64;
        let mut v = Vec::new();
        self.r
            .take(len)
            .read_to_end(&mut v)
            .map_err(TreeError::Io)?;
        if v.len() as u64 != len {
            return Err(TreeError::Truncated);
        }
        Ok(v)
    }
    /// A blob whose length u32::MAX means null.
    fn opt_blob(&mut self) -> Result<Option<Vec<u8>>, TreeError> {
        let len = self.u32()?;
        if len == u32::MAX {
            return Ok(None);
        }
        let mut v = Vec::new();
        self.r
            .take(len as u64)
            .read_to_end(&mut v)
            .map_err(TreeError::Io)?;
        if v.len() as u64 != len as u64 {
            return Err(TreeError::Truncated);
        }
        Ok(Some(v))
    }
    fn string(&mut self, what: &'static str) -> Result<String, TreeError> {
        String::from_utf8(self.blob()?).map_err(|_| TreeError::Corrupt { what })
    }
}

fn truncated(e: io::Error) -> TreeError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        TreeError::Truncated
    } else {
        TreeError::Io(e)
    }
}

/// Interns each list once (one reference held by the load itself).
fn read_acls(inp: &mut In, t: &mut DataTree) -> Result<Vec<u32>, TreeError> {
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
        let i = t.acls.intern(&acl);
        lists.push(i);
    }
    Ok(lists)
}

fn read_nodes(inp: &mut In, t: &mut DataTree, lists: &[u32]) -> Result<(), TreeError> {
    let n = inp.u64()?;
    for k in 0..n {
        let p = inp.string("node path")?;
        let data = inp.opt_blob()?;
        let mut w = [0i64; 5];
        for v in w.iter_mut() {
            *v = inp.i64()?;
        }
        let (version, cversion, aversion) = (inp.i32()?, inp.i32()?, inp.i32()?);
        let ephemeral_owner = inp.i64()?;
        let acl_ix = inp.u32()? as usize;
        let &acl = lists
            .get(acl_ix)
            .ok_or(TreeError::Corrupt { what: "ACL index" })?;
        let parent = locate(t, &p, k == 0)?;
        t.acls.add_ref(acl);
        let stat = StatPersisted {
            czxid: w[0],
            mzxid: w[1],
            pzxid: w[2],
            ctime: w[3],
            mtime: w[4],
            version,
            cversion,
            aversion,
            ephemeral_owner,
        };
        let mut node = Node::new(&p, data.as_deref().unwrap_or_default(), stat, acl);
        node.set_null(data.is_none());
        t.insert_node(node, parent);
    }
    if t.store.find("/").is_none() {
        return Err(TreeError::Corrupt { what: "root node" });
    }
    Ok(())
}

/// The parent slot of a node being loaded: none for the root (which must
/// come first), else an already loaded node; the path must be new.
fn locate(t: &DataTree, p: &str, first: bool) -> Result<Option<u32>, TreeError> {
    if first {
        return if p == "/" {
            Ok(None)
        } else {
            Err(TreeError::Corrupt { what: "root node" })
        };
    }
    if p == "/" || t.store.find(p).is_some() {
        return Err(TreeError::Corrupt {
            what: "duplicate path",
        });
    }
    let parent = path::parent(p).ok_or(TreeError::Corrupt { what: "node path" })?;
    t.store.find(parent).map(Some).ok_or(TreeError::Corrupt {
        what: "node before its parent",
    })
}

fn read_sessions(inp: &mut In, t: &mut DataTree) -> Result<(), TreeError> {
    let n = inp.u32()?;
    for _ in 0..n {
        let id = inp.i64()?;
        let timeout = inp.i32()?;
        t.sessions.insert(id, timeout);
    }
    Ok(())
}
