//! `paddock data inspect <file|dir>`: prints log segments and snapshots
//! (paddock's own, or Apache ZooKeeper's `log.*` / `snapshot.*`):
//! one line per txn (zxid, time, session, cxid, op, fields), or a
//! snapshot's zxid, counts and sessions and then one line per node.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use proto::txn::TxnEntry;
use storage::format::{SEGMENT_MAGIC, SNAPSHOT_MAGIC};
use storage::{LogReader, SnapshotReader};
use tree::DataTree;

use super::import::zkfile::{LOG_MAGIC, SNAP_MAGIC};
use super::import::zklog::{LogEnd, ZkLogReader};
use super::import::{zksnap, ZK_VERSION_DIR};
use super::{fmt, versioned_dir, Failure, Result};

/// What a file holds, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    PaddockLog,
    PaddockSnapshot,
    ZkLog,
    ZkSnapshot,
}

/// Runs the command.
pub fn main(args: &[String]) -> Result {
    let [target] = args else {
        return Err(Failure::Usage);
    };
    let stdout = std::io::stdout().lock();
    let mut out = BufWriter::new(stdout);
    let path = Path::new(target);
    if path.is_dir() {
        inspect_dir(path, &mut out)?;
    } else {
        inspect_file(path, &mut out)?;
    }
    out.flush()?;
    Ok(())
}

fn inspect_dir(dir: &Path, out: &mut dyn Write) -> Result {
    let dir = versioned_dir(&versioned_dir(dir, "paddock-1"), ZK_VERSION_DIR);
    let files = data_files(&dir)?;
    if files.is_empty() {
        return Err(Failure::Failed(format!(
            "{} holds no log.* or snapshot.* file",
            dir.display()
        )));
    }
    for (i, path) in files.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        inspect_file(path, out)?;
    }
    Ok(())
}

/// `log.*` and `snapshot.*` files (not `.tmp`), by the zxid in their name;
/// at equal zxids the log first (its first txn is in the snapshot).
fn data_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let (rank, rest) = if let Some(r) = name.strip_prefix("log.") {
            (0, r)
        } else if let Some(r) = name.strip_prefix("snapshot.") {
            (1, r)
        } else {
            continue;
        };
        if rest.contains('.') {
            continue;
        }
        if let Ok(zxid) = i64::from_str_radix(rest, 16) {
            files.push((zxid, rank, entry.path()));
        }
    }
    files.sort();
    Ok(files.into_iter().map(|(_, _, p)| p).collect())
}

fn kind_of(path: &Path) -> Result<Kind> {
    let mut magic = [0u8; 8];
    let mut f = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut n = 0;
    while n < magic.len() {
        match f.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => {
                return Err(Failure::Failed(format!(
                    "cannot read {}: {e}",
                    path.display()
                )))
            }
        }
    }
    let head4 = i32::from_be_bytes([magic[0], magic[1], magic[2], magic[3]]);
    Ok(match (magic, head4) {
        (m, _) if m == SEGMENT_MAGIC => Kind::PaddockLog,
        (m, _) if m == SNAPSHOT_MAGIC => Kind::PaddockSnapshot,
        (_, h) if n >= 4 && h == LOG_MAGIC => Kind::ZkLog,
        (_, h) if n >= 4 && h == SNAP_MAGIC => Kind::ZkSnapshot,
        _ => {
            return Err(Failure::Failed(format!(
                "{} is not a paddock or ZooKeeper log or snapshot (unknown magic)",
                path.display()
            )))
        }
    })
}

fn inspect_file(path: &Path, out: &mut dyn Write) -> Result {
    match kind_of(path)? {
        Kind::PaddockLog => paddock_log(path, out),
        Kind::PaddockSnapshot => paddock_snapshot(path, out),
        Kind::ZkLog => zk_log(path, out),
        Kind::ZkSnapshot => zk_snapshot(path, out),
    }
}

fn paddock_log(path: &Path, out: &mut dyn Write) -> Result {
    writeln!(out, "paddock log segment {}", path.display())?;
    let mut count = 0u64;
    for rec in LogReader::open_segment(path) {
        let rec = rec?;
        match TxnEntry::decode(&rec.payload) {
            Ok(e) => {
                writeln!(out, "{}", fmt::entry(&e))?;
                if e.header.zxid != rec.zxid {
                    writeln!(out, "  ^ the record says zxid {:#x}", rec.zxid)?;
                }
            }
            Err(err) => writeln!(
                out,
                "{:#018x} at byte offset {}: {} payload bytes that do not decode as a txn: {err}",
                rec.zxid,
                rec.offset,
                rec.payload.len()
            )?,
        }
        count += 1;
    }
    writeln!(out, "{count} txns")?;
    Ok(())
}

fn paddock_snapshot(path: &Path, out: &mut dyn Write) -> Result {
    let mut reader = SnapshotReader::open(path)?;
    let zxid = reader.zxid();
    let tree =
        DataTree::deserialize(&mut reader).map_err(|e| format!("{}: {e}", path.display()))?;
    writeln!(out, "paddock snapshot {}", path.display())?;
    writeln!(
        out,
        "zxid {zxid:#x}, {} znodes, {} sessions, digest {:#018x}",
        tree.znode_count(),
        tree.sessions().len(),
        tree.digest()
    )?;
    for (id, timeout) in tree.sessions() {
        let eph = tree.ephemerals_of(id).len();
        writeln!(out, "session {id:#x} timeout={timeout}ms ephemerals={eph}")?;
    }
    let mut stack = vec!["/".to_string()];
    while let Some(p) = stack.pop() {
        let Some((data, stat)) = tree.data(&p) else {
            continue;
        };
        let acl = tree.acl(&p).unwrap_or(&[]);
        writeln!(
            out,
            "{p} {} data={} acl={}",
            fmt::stat(&stat),
            fmt::data(data),
            fmt::acl(acl)
        )?;
        let mut kids: Vec<String> = tree
            .children(&p)
            .unwrap_or_default()
            .into_iter()
            .map(|k| {
                if p == "/" {
                    format!("/{k}")
                } else {
                    format!("{p}/{k}")
                }
            })
            .collect();
        kids.sort_unstable_by(|a, b| b.cmp(a));
        stack.extend(kids);
    }
    Ok(())
}

fn zk_log(path: &Path, out: &mut dyn Write) -> Result {
    let mut reader = ZkLogReader::open(path)?;
    writeln!(
        out,
        "ZooKeeper log {} (dbid {})",
        path.display(),
        reader.dbid
    )?;
    let mut count = 0u64;
    while let Some(t) = reader.next_txn()? {
        writeln!(out, "{}", fmt::entry(&t.entry))?;
        count += 1;
    }
    writeln!(out, "{count} txns")?;
    if let Some(LogEnd::Torn { offset, reason }) = reader.end() {
        writeln!(out, "torn record at byte offset {offset}: {reason}")?;
    }
    Ok(())
}

fn zk_snapshot(path: &Path, out: &mut dyn Write) -> Result {
    writeln!(out, "ZooKeeper snapshot {}", path.display())?;
    let mut write_err = None;
    let info = zksnap::read(path, |n| {
        let s = &n.stat;
        let line = format!(
            "{} czxid={:#x} mzxid={:#x} pzxid={:#x} ctime={} mtime={} version={} cversion(stored)={} aversion={} ephemeralOwner={:#x} data={} acl={}",
            n.path, s.czxid, s.mzxid, s.pzxid, fmt::iso_time(s.ctime), fmt::iso_time(s.mtime),
            s.version, s.cversion, s.aversion, s.ephemeral_owner, fmt::opt_data(n.data), fmt::acl(n.acl)
        );
        if let Err(e) = writeln!(out, "{line}") {
            write_err = Some(e);
            return Err("cannot write the output".to_string());
        }
        Ok(())
    });
    if let Some(e) = write_err {
        return Err(e.into());
    }
    let info = info?;
    writeln!(
        out,
        "{} znodes, {} ACL lists, {} sessions, dbid {}",
        info.nodes,
        info.acl_lists,
        info.sessions.len(),
        info.dbid
    )?;
    for (id, timeout) in &info.sessions {
        writeln!(out, "session {id:#x} timeout={timeout}ms")?;
    }
    if let Some(d) = info.digest {
        writeln!(
            out,
            "digest {:#x} (version {}) at zxid {:#x}",
            d.digest, d.version, d.zxid
        )?;
    }
    if let Some(z) = info.last_processed_zxid {
        writeln!(out, "last processed zxid {z:#x}")?;
    }
    Ok(())
}
