//! `paddock data verify <dataDir> [<dataLogDir>]`: checks a paddock data
//! dir read-only (no lock is taken, nothing is truncated or repaired):
//!
//! - every snapshot: header, trailer, body checksum, tree format and the
//!   tree digest stored with it;
//! - every log segment: header, record checksums, that each segment's first
//!   record carries the zxid in its name, that zxids are continuous across
//!   the whole log, that each record decodes as a txn with the record's zxid;
//! - that the log reaches back to the newest valid snapshot and that
//!   replaying it from there applies.
//!
//! Prints a summary; any problem is printed naming the file and byte
//! offset, and the exit status is 1. A torn tail (a final batch cut short
//! by a crash) is reported too: the server truncates it at its next start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use proto::txn::{Txn, TxnEntry};
use storage::format::{follows, parse_segment_name};
use storage::{LogReader, SnapshotReader};
use tree::DataTree;

use super::progress::Progress;
use super::{fmt, versioned_dir, Failure, Result};

/// The sub-directory paddock keeps its files in.
const PADDOCK_DIR: &str = "paddock-1";
/// Apply failures listed one by one before only counting.
const LISTED_APPLY_FAILURES: usize = 5;

/// The newest snapshot that verified, loaded.
struct Base {
    zxid: i64,
    path: Option<PathBuf>,
    tree: DataTree,
}

/// What the log scan found.
#[derive(Default)]
struct LogScan {
    segments: usize,
    txns: u64,
    first: Option<i64>,
    last: Option<i64>,
    replayed: u64,
    apply_failures: Vec<String>,
    apply_failure_count: u64,
}

/// Runs the command.
pub fn main(args: &[String]) -> Result {
    let (data_dir, log_dir) = match args {
        [d] => (d, d),
        [d, l] => (d, l),
        _ => return Err(Failure::Usage),
    };
    let snap_dir = versioned_dir(Path::new(data_dir), PADDOCK_DIR);
    let log_dir = versioned_dir(Path::new(log_dir), PADDOCK_DIR);
    for d in [&snap_dir, &log_dir] {
        if !d.is_dir() {
            return Err(Failure::Failed(format!(
                "{} is not a directory",
                d.display()
            )));
        }
    }
    let mut problems = Vec::new();
    let (snapshots, mut base) = check_snapshots(&snap_dir, &mut problems)?;
    let scan = check_log(&log_dir, &mut base, &mut problems)?;
    print_summary(&snap_dir, &log_dir, snapshots, &base, &scan);
    if problems.is_empty() {
        println!("OK");
        return Ok(());
    }
    for p in &problems {
        eprintln!("problem: {p}");
    }
    Err(Failure::Failed(format!(
        "{} problem(s) found; the first: {}",
        problems.len(),
        problems[0]
    )))
}

/// Verifies every snapshot; returns how many there are and the newest
/// valid one loaded (an empty tree if none).
fn check_snapshots(dir: &Path, problems: &mut Vec<String>) -> Result<(usize, Base)> {
    let snaps = storage::list_snapshots(dir)?;
    let mut base = None;
    for (name_zxid, path) in snaps.iter().rev() {
        match load_snapshot(path, *name_zxid) {
            Ok(tree) if base.is_none() => {
                base = Some(Base {
                    zxid: *name_zxid,
                    path: Some(path.clone()),
                    tree,
                })
            }
            Ok(_) => {}
            Err(e) => problems.push(e),
        }
    }
    let base = base.unwrap_or_else(|| Base {
        zxid: 0,
        path: None,
        tree: DataTree::new(),
    });
    Ok((snaps.len(), base))
}

fn load_snapshot(path: &Path, name_zxid: i64) -> Result<DataTree, String> {
    let mut reader = SnapshotReader::open(path).map_err(|e| e.to_string())?;
    if reader.zxid() != name_zxid {
        return Err(format!(
            "{}: the header says zxid {:#x} but the name says {name_zxid:#x}",
            path.display(),
            reader.zxid()
        ));
    }
    let tree =
        DataTree::deserialize(&mut reader).map_err(|e| format!("{}: {e}", path.display()))?;
    if tree.last_zxid() != name_zxid {
        return Err(format!(
            "{}: the tree inside is at zxid {:#x}, the file at {name_zxid:#x}",
            path.display(),
            tree.last_zxid()
        ));
    }
    Ok(tree)
}

/// Scans the log, replaying into `base.tree` what lies above its zxid.
fn check_log(dir: &Path, base: &mut Base, problems: &mut Vec<String>) -> Result<LogScan> {
    let segments = storage::format::parse_segment_name;
    let sizes: Vec<(i64, PathBuf, u64)> = storage_segments(dir, segments)?;
    let total: u64 = sizes.iter().map(|s| s.2).sum();
    let mut scan = LogScan {
        segments: sizes.len(),
        ..LogScan::default()
    };
    let mut progress = Progress::new("verify", total);
    let mut current: Option<Arc<Path>> = None;
    let mut done_before = 0u64;
    let mut replay_prev: Option<i64> = None;
    for rec in LogReader::open_dir(dir)? {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                problems.push(e.to_string());
                break;
            }
        };
        let at = || format!("{} at byte offset {}", rec.file.display(), rec.offset);
        if current.as_ref() != Some(&rec.file) {
            if let Some(prev) = current.replace(rec.file.clone()) {
                done_before += file_size(&sizes, &prev);
            }
            check_segment_name(&rec.file, rec.zxid, &at, problems);
        }
        if let Some(prev) = scan.last {
            if !follows(prev, rec.zxid) {
                problems.push(format!(
                    "{}: zxid {:#x} does not follow {prev:#x}",
                    at(),
                    rec.zxid
                ));
            }
        }
        scan.txns += 1;
        scan.first.get_or_insert(rec.zxid);
        scan.last = Some(rec.zxid);
        let entry = match TxnEntry::decode(&rec.payload) {
            Ok(e) if e.header.zxid == rec.zxid => e,
            Ok(e) => {
                problems.push(format!(
                    "{}: the record has zxid {:#x} but its txn header {:#x}",
                    at(),
                    rec.zxid,
                    e.header.zxid
                ));
                continue;
            }
            Err(e) => {
                problems.push(format!(
                    "{}: the payload does not decode as a txn: {e}",
                    at()
                ));
                continue;
            }
        };
        if rec.zxid > base.zxid {
            let prev = replay_prev.unwrap_or(base.zxid);
            if replay_prev.is_none() && !follows(prev, rec.zxid) {
                problems.push(format!(
                    "{}: the log does not reach back to the snapshot: the first txn above zxid {prev:#x} is {:#x}",
                    at(),
                    rec.zxid
                ));
            }
            replay_prev = Some(rec.zxid);
            replay(base, &entry, &at, &mut scan);
        }
        let n = scan.txns;
        progress.update(done_before + rec.offset, || format!("{n} txns"));
    }
    progress.finish();
    Ok(scan)
}

fn storage_segments(
    dir: &Path,
    parse: fn(&str) -> Option<i64>,
) -> Result<Vec<(i64, PathBuf, u64)>> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        if let Some(z) = entry.file_name().to_str().and_then(parse) {
            let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
            out.push((z, entry.path(), len));
        }
    }
    out.sort();
    Ok(out)
}

fn file_size(sizes: &[(i64, PathBuf, u64)], path: &Path) -> u64 {
    sizes.iter().find(|s| s.1 == path).map_or(0, |s| s.2)
}

fn check_segment_name(
    file: &Path,
    first_zxid: i64,
    at: &dyn Fn() -> String,
    problems: &mut Vec<String>,
) {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if parse_segment_name(name) != Some(first_zxid) {
        problems.push(format!(
            "{}: the segment's first record has zxid {first_zxid:#x}, not the one in its name",
            at()
        ));
    }
}

/// Applies one txn; a non-error txn that fails to apply means the log and
/// the snapshot disagree (paddock snapshots are exact, not fuzzy).
fn replay(base: &mut Base, entry: &TxnEntry, at: &dyn Fn() -> String, scan: &mut LogScan) {
    let result = base.tree.apply(entry);
    scan.replayed += 1;
    if let Err(code) = result.result {
        if !matches!(entry.txn, Txn::Error(_)) {
            scan.apply_failure_count += 1;
            if scan.apply_failures.len() < LISTED_APPLY_FAILURES {
                scan.apply_failures.push(format!(
                    "{}: {} failed to apply: {code:?}",
                    at(),
                    fmt::entry(entry)
                ));
            }
        }
    }
}

fn print_summary(snap_dir: &Path, log_dir: &Path, snapshots: usize, base: &Base, scan: &LogScan) {
    match &base.path {
        Some(p) => println!(
            "snapshots: {snapshots} in {}; newest valid: {} (zxid {:#x})",
            snap_dir.display(),
            p.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            base.zxid
        ),
        None => println!(
            "snapshots: {snapshots} in {}; none valid, replaying from an empty tree",
            snap_dir.display()
        ),
    }
    match (scan.first, scan.last) {
        (Some(a), Some(b)) => println!(
            "log: {} segment(s) in {}, {} txns, zxids {a:#x}..{b:#x}",
            scan.segments,
            log_dir.display(),
            scan.txns
        ),
        _ => println!(
            "log: {} segment(s) in {}, no txns",
            scan.segments,
            log_dir.display()
        ),
    }
    println!("replayed {} txns above the snapshot", scan.replayed);
    for f in &scan.apply_failures {
        println!("warning: {f}");
    }
    if scan.apply_failure_count > scan.apply_failures.len() as u64 {
        println!(
            "warning: {} more txns failed to apply",
            scan.apply_failure_count - scan.apply_failures.len() as u64
        );
    }
    let t = &base.tree;
    println!(
        "tree: {} znodes, {} sessions, {} ephemerals, last zxid {:#x}, digest {:#018x}",
        t.znode_count(),
        t.sessions().len(),
        t.ephemeral_count(),
        t.last_zxid(),
        t.digest()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::txn::{CreateTxn, TxnHeader};
    use proto::{Acl, OpCode};

    fn create(zxid: i64, path: &str) -> Vec<u8> {
        TxnEntry {
            header: TxnHeader {
                client_id: 1,
                cxid: 1,
                zxid,
                time: 1_700_000_000_000,
                op: OpCode::Create as i32,
            },
            txn: Txn::Create(CreateTxn {
                path: path.into(),
                data: Some(vec![1]),
                acl: Acl::open_unsafe(),
                ephemeral: false,
                parent_cversion: -1,
            }),
        }
        .encode()
    }

    fn write_log(dir: &Path, zxids: &[i64]) {
        let opts = storage::StorageOptions::new(dir, dir);
        let (mut st, _) = storage::Storage::open(opts).unwrap();
        for &z in zxids {
            let p = create(z, &format!("/n{z}"));
            st.append_batch(&[(z, &p)]).unwrap();
        }
    }

    fn run(dir: &Path) -> Result {
        main(&[dir.display().to_string()])
    }

    #[test]
    fn clean_dir_verifies() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(PADDOCK_DIR);
        write_log(&p, &[1, 2, 3]);
        let tree = DataTree::new();
        storage::write_snapshot(&p, 0, |w| tree.serialize(w)).unwrap();
        run(d.path()).unwrap();
    }

    #[test]
    fn flipped_byte_names_file_and_offset() {
        let d = tempfile::tempdir().unwrap();
        write_log(d.path(), &[1, 2, 3]);
        let seg = d.path().join(storage::format::segment_name(1));
        let mut b = std::fs::read(&seg).unwrap();
        let at = b.windows(3).position(|w| w == b"/n2").unwrap();
        b[at + 1] = b'x';
        std::fs::write(&seg, b).unwrap();
        let err = run(d.path()).unwrap_err();
        let Failure::Failed(msg) = err else {
            panic!("usage error")
        };
        assert!(msg.contains("log.0000000000000001"), "{msg}");
        assert!(msg.contains("byte offset"), "{msg}");
    }
}
