//! `paddock data import <zk dataDir> [--log-dir <zk dataLogDir>] --to <dir>`:
//! builds a paddock data dir from an Apache ZooKeeper 3.4–3.9 one.
//!
//! Steps, as ZooKeeper's own restore (`FileTxnSnapLog.restore`):
//! 1. load the newest ZooKeeper snapshot that reads back intact (checksums
//!    verified), skipping damaged newer ones with a warning;
//! 2. replay every logged txn above the snapshot's zxid with
//!    [`tree::DataTree::apply_restoring`] (the snapshot is fuzzy: txns
//!    already reflected in it fail harmlessly, as in ZooKeeper); zxids must
//!    be continuous from the snapshot on; a torn final record is ignored;
//! 3. write the tree as one paddock snapshot at the last zxid into
//!    `<to>/paddock-1/`, so `paddock server` with `dataDir=<to>` starts
//!    with the same nodes, ACLs, stats, sessions and zxids.
//!
//! The target must be absent or empty. The source is only read.

pub(super) mod zkfile;
pub(super) mod zklog;
pub(super) mod zksnap;

use std::path::{Path, PathBuf};
use std::time::Instant;

use proto::txn::Txn;
use storage::format::follows;
use tree::import::TreeBuilder;
use tree::DataTree;

use super::progress::Progress;
use super::{versioned_dir, Failure, Result};
use zklog::{LogEnd, ZkLogReader};
use zksnap::ZkSnapshotInfo;

/// The sub-directory ZooKeeper 3.x keeps its files in.
pub(super) const ZK_VERSION_DIR: &str = "version-2";
/// The sub-directory paddock keeps its files in (see the server's config).
const PADDOCK_DIR: &str = "paddock-1";

struct Args {
    zk_data: PathBuf,
    zk_log: Option<PathBuf>,
    to: PathBuf,
}

fn parse_args(args: &[String]) -> Result<Args> {
    let (mut zk_data, mut zk_log, mut to) = (None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--log-dir" => zk_log = Some(PathBuf::from(it.next().ok_or(Failure::Usage)?)),
            "--to" => to = Some(PathBuf::from(it.next().ok_or(Failure::Usage)?)),
            s if s.starts_with('-') => return Err(Failure::Usage),
            s if zk_data.is_none() => zk_data = Some(PathBuf::from(s)),
            _ => return Err(Failure::Usage),
        }
    }
    match (zk_data, to) {
        (Some(zk_data), Some(to)) => Ok(Args {
            zk_data,
            zk_log,
            to,
        }),
        _ => Err(Failure::Usage),
    }
}

/// Runs the import.
pub fn main(args: &[String]) -> Result {
    let args = parse_args(args)?;
    let started = Instant::now();
    let snap_dir = versioned_dir(&args.zk_data, ZK_VERSION_DIR);
    let log_dir = versioned_dir(
        args.zk_log.as_ref().unwrap_or(&args.zk_data),
        ZK_VERSION_DIR,
    );
    check_target(&args.to)?;
    let (mut tree, snap) = load_newest_snapshot(&snap_dir)?;
    let replay = replay_logs(&log_dir, &mut tree, snap.zxid)?;
    let last_zxid = tree.last_zxid();
    let out_dir = args.to.join(PADDOCK_DIR);
    let path = storage::write_snapshot(&out_dir, last_zxid, |w| tree.serialize(w))?;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    print_summary(&snap, &replay, &tree, &path, bytes);
    println!("  took {} ms", started.elapsed().as_millis());
    Ok(())
}

/// Refuses a target holding anything; creates it if absent.
fn check_target(to: &Path) -> Result {
    if to.exists() {
        let mut entries = std::fs::read_dir(to)
            .map_err(|e| format!("cannot read the target {}: {e}", to.display()))?;
        if entries.next().is_some() {
            return Err(Failure::Failed(format!(
                "refusing to import into {}: it is not empty",
                to.display()
            )));
        }
    }
    std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    Ok(())
}

/// A ZooKeeper data file: zxid from its name, path, compressed or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ZkFile {
    pub zxid: i64,
    pub path: PathBuf,
    pub compressed: bool,
}

/// `prefix.<hex>[.gz|.snappy]` files in `dir`, oldest first (ZooKeeper's
/// `Util.getZxidFromName`: the hex is not zero-padded).
pub(super) fn list_zk_files(dir: &Path, prefix: &str) -> Result<Vec<ZkFile>> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        let mut parts = rest.splitn(2, '.');
        let hex = parts.next().unwrap_or("");
        let compressed = match parts.next() {
            None => false,
            Some("gz") | Some("snappy") => true,
            Some(_) => continue,
        };
        if let Ok(zxid) = i64::from_str_radix(hex, 16) {
            out.push(ZkFile {
                zxid,
                path: entry.path(),
                compressed,
            });
        }
    }
    out.sort_by_key(|f| f.zxid);
    Ok(out)
}

/// The snapshot the import started from.
struct LoadedSnapshot {
    zxid: i64,
    path: Option<PathBuf>,
    info: ZkSnapshotInfo,
    skipped: usize,
}

/// Loads the newest snapshot that reads back intact.
fn load_newest_snapshot(dir: &Path) -> Result<(DataTree, LoadedSnapshot)> {
    let files = list_zk_files(dir, "snapshot.")?;
    if files.is_empty() {
        eprintln!(
            "note: no snapshot in {}; replaying the log from an empty tree",
            dir.display()
        );
        let snap = LoadedSnapshot {
            zxid: 0,
            path: None,
            info: ZkSnapshotInfo::default(),
            skipped: 0,
        };
        return Ok((DataTree::new(), snap));
    }
    let mut last_err = String::new();
    for (skipped, f) in files.iter().rev().enumerate() {
        if f.compressed {
            return Err(Failure::Failed(format!(
                "{} is compressed; import reads only uncompressed snapshots (start ZooKeeper without zookeeper.snapshot.compression.method, let it write a snapshot, then import)",
                f.path.display()
            )));
        }
        match build_tree(&f.path, f.zxid) {
            Ok((tree, info)) => {
                let zxid = tree.last_zxid();
                let snap = LoadedSnapshot {
                    zxid,
                    path: Some(f.path.clone()),
                    info,
                    skipped,
                };
                return Ok((tree, snap));
            }
            Err(e) => {
                eprintln!("warning: skipping invalid snapshot: {e}");
                last_err = e;
            }
        }
    }
    Err(Failure::Failed(format!(
        "no valid snapshot in {} (last problem: {last_err})",
        dir.display()
    )))
}

fn build_tree(path: &Path, name_zxid: i64) -> Result<(DataTree, ZkSnapshotInfo), String> {
    let mut builder = TreeBuilder::new();
    let info = zksnap::read(path, |n| {
        builder
            .add_node(n.path, n.data, n.acl, n.stat)
            .map_err(|e| e.to_string())
    })
    .map_err(|e| e.to_string())?;
    for &(id, timeout) in &info.sessions {
        builder.add_session(id, timeout);
    }
    let zxid = info.last_processed_zxid.unwrap_or(name_zxid);
    let tree = builder
        .finish(zxid)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((tree, info))
}

/// What replaying the log did.
#[derive(Debug, Default)]
struct Replay {
    files: usize,
    txns: u64,
    first_zxid: Option<i64>,
    last_zxid: Option<i64>,
    /// Txns that failed to apply (already reflected in the fuzzy snapshot).
    not_applied: u64,
}

/// Applies every logged txn above `snap_zxid`, checking continuity.
fn replay_logs(dir: &Path, tree: &mut DataTree, snap_zxid: i64) -> Result<Replay> {
    let files = list_zk_files(dir, "log.")?;
    // As ZooKeeper's getLogFiles: the newest file starting at or below the
    // snapshot may hold the txns right after it.
    let start = files.iter().rposition(|f| f.zxid <= snap_zxid).unwrap_or(0);
    let needed = &files[start.min(files.len())..];
    let total: u64 = needed
        .iter()
        .map(|f| std::fs::metadata(&f.path).map(|m| m.len()).unwrap_or(0))
        .sum();
    let mut progress = Progress::new("import", total);
    let mut replay = Replay::default();
    let mut prev = snap_zxid;
    let mut done_bytes = 0;
    for (i, f) in needed.iter().enumerate() {
        let mut reader = ZkLogReader::open(&f.path)?;
        replay.files += 1;
        while let Some(t) = reader.next_txn()? {
            let zxid = t.entry.header.zxid;
            if zxid <= snap_zxid {
                continue;
            }
            if !follows(prev, zxid) {
                return Err(Failure::Failed(format!(
                    "{} at byte offset {}: txn {zxid:#x} does not follow {prev:#x} (txns are missing or out of order)",
                    f.path.display(),
                    t.offset
                )));
            }
            prev = zxid;
            let result = tree.apply_restoring(&t.entry);
            if result.result.is_err() && !matches!(t.entry.txn, Txn::Error(_)) {
                replay.not_applied += 1;
            }
            replay.txns += 1;
            replay.first_zxid.get_or_insert(zxid);
            replay.last_zxid = Some(zxid);
            let n = replay.txns;
            progress.update(done_bytes + reader.offset(), || format!("{n} txns"));
        }
        if let Some(LogEnd::Torn { offset, reason }) = reader.end() {
            let what = if i + 1 == needed.len() {
                "ignored: it was never completely written"
            } else {
                "ignored, as ZooKeeper does; later files are still read"
            };
            eprintln!(
                "note: {} has a torn record at byte offset {offset} ({reason}); {what}",
                f.path.display()
            );
        }
        done_bytes += std::fs::metadata(&f.path).map(|m| m.len()).unwrap_or(0);
    }
    progress.finish();
    Ok(replay)
}

fn print_summary(snap: &LoadedSnapshot, replay: &Replay, tree: &DataTree, out: &Path, bytes: u64) {
    match &snap.path {
        Some(p) => println!(
            "read ZooKeeper snapshot {} (zxid {:#x}, {} znodes, {} sessions, {} ACL lists{}{})",
            p.display(),
            snap.zxid,
            snap.info.nodes,
            snap.info.sessions.len(),
            snap.info.acl_lists,
            if snap.info.digest.is_some() {
                ", 3.6+ digest record"
            } else {
                ""
            },
            if snap.skipped > 0 {
                format!(", {} newer invalid snapshot(s) skipped", snap.skipped)
            } else {
                String::new()
            }
        ),
        None => println!("no ZooKeeper snapshot: started from an empty tree"),
    }
    match (replay.first_zxid, replay.last_zxid) {
        (Some(a), Some(b)) => println!(
            "replayed {} txns ({a:#x}..{b:#x}) from {} log file(s); {} were already in the fuzzy snapshot",
            replay.txns, replay.files, replay.not_applied
        ),
        _ => println!("no txns after the snapshot in {} log file(s)", replay.files),
    }
    println!(
        "wrote {} ({} bytes): {} znodes, {} sessions, last zxid {:#x}, digest {:#018x}",
        out.display(),
        bytes,
        tree.znode_count(),
        tree.sessions().len(),
        tree.last_zxid(),
        tree.digest()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) {
        std::fs::write(dir.join(name), bytes).unwrap();
    }

    #[test]
    fn imports_snapshot_plus_log_and_refuses_non_empty_target() {
        let zk = tempfile::tempdir().unwrap();
        let v2 = zk.path().join("version-2");
        std::fs::create_dir(&v2).unwrap();
        write(&v2, "snapshot.5", &zksnap::tests::sample_snapshot());
        // A fuzzy overlap (zxid 5 already in the snapshot) then 6 and 7.
        let entries = [
            zklog::tests::create(5, "/a"),
            zklog::tests::create(6, "/b"),
            zklog::tests::create(7, "/a/c"),
        ];
        write(&v2, "log.5", &zklog::tests::log_bytes(&entries, 1000));
        let to = tempfile::tempdir().unwrap();
        let target = to.path().join("p");
        let args: Vec<String> = vec![
            zk.path().display().to_string(),
            "--to".into(),
            target.display().to_string(),
        ];
        main(&args).unwrap();
        let snaps = storage::list_snapshots(&target.join(PADDOCK_DIR)).unwrap();
        assert_eq!(snaps.len(), 1);
        assert_eq!(snaps[0].0, 7);
        let mut r = storage::SnapshotReader::open(&snaps[0].1).unwrap();
        let t = DataTree::deserialize(&mut r).unwrap();
        assert_eq!(t.data("/a").unwrap().0, b"hello");
        assert_eq!(t.data("/null").unwrap().1.czxid, 4);
        assert_eq!(t.acl("/a").unwrap()[0].id.scheme, "digest");
        assert_eq!(t.stat("/a/c").unwrap().czxid, 7);
        assert_eq!(t.session_timeout_ms(0x77), Some(30000));
        assert!(matches!(main(&args), Err(Failure::Failed(m)) if m.contains("not empty")));
    }

    #[test]
    fn a_gap_after_the_snapshot_is_refused() {
        let zk = tempfile::tempdir().unwrap();
        write(zk.path(), "snapshot.5", &zksnap::tests::sample_snapshot());
        let entries = [zklog::tests::create(8, "/b")];
        write(zk.path(), "log.8", &zklog::tests::log_bytes(&entries, 0));
        let to = tempfile::tempdir().unwrap();
        let args: Vec<String> = vec![
            zk.path().display().to_string(),
            "--to".into(),
            to.path().join("p").display().to_string(),
        ];
        let err = main(&args).unwrap_err();
        assert!(
            matches!(&err, Failure::Failed(m) if m.contains("log.8") && m.contains("byte offset 16")),
            "{err:?}"
        );
    }
}
