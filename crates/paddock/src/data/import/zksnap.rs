//! Reading an Apache ZooKeeper snapshot (`version-2/snapshot.<hex zxid>`,
//! uncompressed), as written by `FileSnap.serialize` in 3.4 to 3.9:
//!
//! ```text
//! FileHeader         magic "ZKSN", version 2, dbid
//! sessions           int n, then n times: id long, timeout int
//! ACL cache          int n, then n times: id long, vector<ACL>
//!                      (ACL = perms int, scheme ustring, id ustring)
//! nodes              repeated: path ustring, then unless path is "/":
//!                      data buffer, acl long (-1: world:anyone:cdrwa),
//!                      StatPersisted (czxid, mzxid, ctime, mtime long,
//!                      version, cversion, aversion int,
//!                      ephemeralOwner long, pzxid long);
//!                    the root is written as "" and "/" ends the list
//! seal               Adler-32 of every byte above (long), then "/"
//! 3.6+, optional:    ZxidDigest (zxid long, digestVersion int, digest
//!                      long), then a seal over everything before it
//! 3.9+, optional:    lastProcessedZxid long, then a seal
//! ```
//!
//! Nodes come parent first (a depth-first walk from the root).

use std::collections::HashMap;
use std::path::Path;

use proto::{Acl, Id};
use tree::import::ImportedStat;

use super::zkfile::{JuteFile, ZkError, SNAP_MAGIC};

/// ZooKeeper's id for the `OPEN_ACL_UNSAFE` list, never in the ACL cache.
const OPEN_UNSAFE_ACL_ID: i64 = -1;
/// Bytes of a seal: a checksum long and the `"/"` string.
const SEAL_BYTES: u64 = 8 + 4 + 1;
/// Bytes of the 3.6+ digest record and its seal.
const DIGEST_BLOCK_BYTES: u64 = 8 + 4 + 8 + SEAL_BYTES;
/// Bytes of the 3.9+ last-processed-zxid record and its seal.
const LAST_ZXID_BLOCK_BYTES: u64 = 8 + SEAL_BYTES;

/// One node as the snapshot holds it.
#[derive(Debug)]
pub struct ZkNode<'a> {
    /// Absolute path (`/` for the root).
    pub path: &'a str,
    /// The data (`None`: null).
    pub data: Option<&'a [u8]>,
    /// The ACL list, resolved from the cache.
    pub acl: &'a [Acl],
    /// The stored stat.
    pub stat: ImportedStat,
}

/// The tree digest ZooKeeper 3.6+ stores after the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZkDigest {
    /// The zxid the digest was taken at.
    pub zxid: i64,
    /// The digest algorithm's version.
    pub version: i32,
    /// The digest.
    pub digest: i64,
}

/// Everything in a snapshot except the nodes (passed to a callback).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZkSnapshotInfo {
    /// The database id from the header.
    pub dbid: i64,
    /// Open sessions: id and timeout (ms).
    pub sessions: Vec<(i64, i32)>,
    /// Entries in the ACL cache.
    pub acl_lists: usize,
    /// Nodes read (the root once).
    pub nodes: u64,
    /// The 3.6+ digest record, if present.
    pub digest: Option<ZkDigest>,
    /// The 3.9+ last processed zxid, if present.
    pub last_processed_zxid: Option<i64>,
    /// The file's length.
    pub bytes: u64,
}

/// Reads and verifies the snapshot at `path`, passing each node to
/// `on_node` parent first. A callback error is reported at the node's
/// offset. Any damage, including a checksum mismatch, is an error.
pub fn read(
    path: &Path,
    mut on_node: impl FnMut(ZkNode<'_>) -> Result<(), String>,
) -> Result<ZkSnapshotInfo, ZkError> {
    let (mut f, header) = JuteFile::open(path, SNAP_MAGIC)?;
    let mut info = ZkSnapshotInfo {
        dbid: header.dbid,
        bytes: f.offset() + f.remaining(),
        ..Default::default()
    };
    let n = f.count("session count", 12)?;
    for _ in 0..n {
        let id = f.i64("session")?;
        let timeout = f.i32("session")?;
        info.sessions.push((id, timeout));
    }
    let acls = read_acl_cache(&mut f)?;
    info.acl_lists = acls.len();
    let open = Acl::open_unsafe();
    loop {
        let start = f.offset();
        let p = f.string("node path")?;
        if p == "/" {
            break;
        }
        let data = f.nullable_buffer("node data")?;
        let acl_id = f.i64("node ACL id")?;
        let stat = read_stat(&mut f)?;
        let acl = match acls.get(&acl_id) {
            Some(a) => a.as_slice(),
            None if acl_id == OPEN_UNSAFE_ACL_ID => open.as_slice(),
            None => {
                return Err(f.corrupt_at(
                    start,
                    format!("node {p:?} refers to ACL id {acl_id}, which the ACL cache lacks"),
                ))
            }
        };
        let path = if p.is_empty() { "/" } else { p.as_str() };
        on_node(ZkNode {
            path,
            data: data.as_deref(),
            acl,
            stat,
        })
        .map_err(|reason| f.corrupt_at(start, reason))?;
        info.nodes += 1;
    }
    seal(&mut f)?;
    read_trailing_records(&mut f, &mut info)?;
    Ok(info)
}

fn read_acl_cache(f: &mut JuteFile) -> Result<HashMap<i64, Vec<Acl>>, ZkError> {
    let n = f.count("ACL cache size", 12)?;
    let mut map = HashMap::new();
    for _ in 0..n {
        let id = f.i64("ACL cache id")?;
        let entries = f.count("ACL list length", 12)?;
        let mut list = Vec::new();
        for _ in 0..entries {
            let perms = f.i32("ACL")?;
            let scheme = f.string("ACL scheme")?;
            let id = f.string("ACL id")?;
            list.push(Acl {
                perms,
                id: Id { scheme, id },
            });
        }
        map.insert(id, list);
    }
    Ok(map)
}

fn read_stat(f: &mut JuteFile) -> Result<ImportedStat, ZkError> {
    const W: &str = "node stat";
    Ok(ImportedStat {
        czxid: f.i64(W)?,
        mzxid: f.i64(W)?,
        ctime: f.i64(W)?,
        mtime: f.i64(W)?,
        version: f.i32(W)?,
        cversion: f.i32(W)?,
        aversion: f.i32(W)?,
        ephemeral_owner: f.i64(W)?,
        pzxid: f.i64(W)?,
    })
}

/// Reads a seal: the Adler-32 of everything before it, then `"/"`.
fn seal(f: &mut JuteFile) -> Result<(), ZkError> {
    let expected = f.checksum();
    let at = f.offset();
    let stored = f.i64("checksum")?;
    if stored != i64::from(expected) {
        return Err(f.corrupt_at(
            at,
            format!("the Adler-32 checksum is {expected:#010x} but {stored:#x} is stored"),
        ));
    }
    let at = f.offset();
    let sentinel = f.string("end-of-snapshot marker")?;
    if sentinel != "/" {
        return Err(f.corrupt_at(
            at,
            format!("the end marker is {sentinel:?}, expected \"/\""),
        ));
    }
    Ok(())
}

/// The optional records after the first seal: told apart by what is left.
fn read_trailing_records(f: &mut JuteFile, info: &mut ZkSnapshotInfo) -> Result<(), ZkError> {
    if f.remaining() >= DIGEST_BLOCK_BYTES {
        info.digest = Some(ZkDigest {
            zxid: f.i64("digest record")?,
            version: f.i32("digest record")?,
            digest: f.i64("digest record")?,
        });
        seal(f)?;
    }
    if f.remaining() >= LAST_ZXID_BLOCK_BYTES {
        info.last_processed_zxid = Some(f.i64("last processed zxid")?);
        seal(f)?;
    }
    if f.remaining() > 0 {
        return Err(f.corrupt_at(
            f.offset(),
            format!("{} unexpected bytes after the snapshot", f.remaining()),
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::data::import::zkfile::Adler32;

    /// Builds ZooKeeper snapshot bytes (jute, big-endian).
    #[derive(Default)]
    pub struct SnapBuilder {
        pub b: Vec<u8>,
    }

    impl SnapBuilder {
        pub fn i32(&mut self, v: i32) -> &mut Self {
            self.b.extend_from_slice(&v.to_be_bytes());
            self
        }
        pub fn i64(&mut self, v: i64) -> &mut Self {
            self.b.extend_from_slice(&v.to_be_bytes());
            self
        }
        pub fn buf(&mut self, v: &[u8]) -> &mut Self {
            self.i32(v.len() as i32);
            self.b.extend_from_slice(v);
            self
        }
        pub fn node(&mut self, path: &str, data: &[u8], acl: i64, czxid: i64) -> &mut Self {
            self.buf(path.as_bytes()).buf(data).i64(acl);
            // czxid, mzxid, ctime, mtime, version, cversion, aversion, owner, pzxid
            self.i64(czxid).i64(czxid).i64(1000).i64(2000);
            self.i32(0).i32(1).i32(0).i64(0).i64(czxid)
        }
        pub fn seal(&mut self) -> &mut Self {
            let sum = Adler32::of(&self.b);
            self.i64(i64::from(sum)).buf(b"/")
        }
    }

    /// A small 3.6+-style snapshot: one session, one ACL list, /, /zookeeper,
    /// /a (digest ACL), digest record.
    pub fn sample_snapshot() -> Vec<u8> {
        let mut s = SnapBuilder::default();
        s.i32(SNAP_MAGIC).i32(2).i64(0);
        s.i32(1).i64(0x77).i32(30000);
        s.i32(1).i64(1).i32(1).i32(31).buf(b"digest").buf(b"u:x");
        s.node("", b"", -1, 0).node("/zookeeper", b"", -1, 0);
        s.buf(b"/null").i32(-1).i64(-1); // null data
        s.i64(4)
            .i64(4)
            .i64(1000)
            .i64(2000)
            .i32(0)
            .i32(0)
            .i32(0)
            .i64(0)
            .i64(4);
        s.node("/a", b"hello", 1, 5);
        s.buf(b"/").seal();
        s.i64(5).i32(2).i64(1234).seal();
        s.b
    }

    fn read_all(bytes: &[u8]) -> Result<(ZkSnapshotInfo, Vec<String>), ZkError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("snapshot.5");
        std::fs::write(&p, bytes).unwrap();
        let mut seen = Vec::new();
        let info = read(&p, |n| {
            let len = n.data.map_or(-1, |d| d.len() as i64);
            seen.push(format!("{} {len} {}", n.path, n.acl[0].id.scheme));
            Ok(())
        })?;
        Ok((info, seen))
    }

    #[test]
    fn reads_a_hand_built_snapshot() {
        let (info, seen) = read_all(&sample_snapshot()).unwrap();
        assert_eq!(
            seen,
            vec![
                "/ 0 world",
                "/zookeeper 0 world",
                "/null -1 world",
                "/a 5 digest"
            ]
        );
        assert_eq!(info.sessions, vec![(0x77, 30000)]);
        assert_eq!(info.nodes, 4);
        assert_eq!(info.digest.map(|d| d.digest), Some(1234));
        assert_eq!(info.last_processed_zxid, None);
    }

    #[test]
    fn reads_a_34_style_snapshot_without_digest() {
        let mut b = sample_snapshot();
        b.truncate(b.len() - DIGEST_BLOCK_BYTES as usize);
        let (info, _) = read_all(&b).unwrap();
        assert_eq!(info.digest, None);
    }

    #[test]
    fn checksum_mismatch_names_file_and_offset() {
        let mut b = sample_snapshot();
        // Flip a byte of /a's data ("hello"): the first seal no longer matches.
        let at = b.windows(5).position(|w| w == b"hello").unwrap();
        b[at] = b'j';
        let err = read_all(&b).unwrap_err().to_string();
        let seal_at = b.len() - DIGEST_BLOCK_BYTES as usize - SEAL_BYTES as usize;
        assert!(err.contains("snapshot.5"), "{err}");
        assert!(err.contains(&format!("byte offset {seal_at}")), "{err}");
        assert!(err.contains("Adler-32"), "{err}");
    }

    #[test]
    fn truncated_snapshot_is_an_error() {
        let b = sample_snapshot();
        let err = read_all(&b[..b.len() / 2]).unwrap_err();
        assert!(matches!(err, ZkError::Truncated { .. }), "{err}");
    }
}
