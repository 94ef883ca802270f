//! The commit stage: a thread that owns the transaction log. It takes every
//! txn waiting, appends them with one fsync (group commit), and only then
//! tells the core they are durable. Standalone this is the whole of
//! "replication"; the ZAB leader will put its quorum wait at the same seam.
//!
//! Ordering contract: `Durable { zxid }` is sent only after every txn up to
//! `zxid` is on disk; the core replies to none of them before that.

use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;

use storage::Storage;
use tokio::sync::mpsc;

use crate::core::CoreMsg;

/// Work for the commit thread.
pub enum CommitMsg {
    /// Append this txn (zxids arrive strictly increasing).
    Append(i64, Vec<u8>),
    /// Write a snapshot of `zxid` in the background from the bytes the
    /// core sends, then purge.
    Snapshot {
        /// The last zxid the snapshot covers.
        zxid: i64,
        /// The snapshot body, in order, then `End`.
        chunks: std_mpsc::Receiver<SnapshotChunk>,
        /// Written chunks' buffers go back to the core for the next ones.
        recycle: std_mpsc::Sender<Vec<u8>>,
    },
    /// Replace log and snapshots with this state from the ZAB leader
    /// (SNAP sync), then report it durable.
    InstallSnapshot {
        /// The zxid the state is at.
        zxid: i64,
        /// The serialized tree.
        state: Vec<u8>,
    },
    /// [`CommitMsg::InstallSnapshot`] for a snapshot the link already
    /// wrote to disk as it arrived.
    InstallReceived(storage::ReceivedSnapshot),
}

/// What the core hands the snapshot writer.
pub enum SnapshotChunk {
    /// The next bytes of the snapshot body.
    Bytes(Vec<u8>),
    /// The body is complete: seal the file. A channel that closes
    /// without it abandons the snapshot.
    End,
}

/// Where snapshots go and how many to keep.
pub struct SnapshotPolicy {
    /// Snapshot directory.
    pub data_dir: PathBuf,
    /// Log directory.
    pub data_log_dir: PathBuf,
    /// Snapshots kept when purging (0: never purge).
    pub retain_count: usize,
}

/// Starts the commit thread; it stops when the sender is dropped.
pub fn spawn(
    mut storage: Storage,
    policy: SnapshotPolicy,
    core: mpsc::Sender<CoreMsg>,
) -> std_mpsc::Sender<CommitMsg> {
    let (tx, rx) = std_mpsc::channel::<CommitMsg>();
    std::thread::Builder::new()
        .name("paddock-commit".into())
        .spawn(move || run(&mut storage, &policy, rx, core))
        .expect("spawning the commit thread");
    tx
}

fn run(
    storage: &mut Storage,
    policy: &SnapshotPolicy,
    rx: std_mpsc::Receiver<CommitMsg>,
    core: mpsc::Sender<CoreMsg>,
) {
    let mut batch: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut writers: Vec<std::thread::JoinHandle<()>> = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                CommitMsg::Append(zxid, bytes) => batch.push((zxid, bytes)),
                CommitMsg::Snapshot {
                    zxid,
                    chunks,
                    recycle,
                } => {
                    writers.retain(|w| !w.is_finished());
                    writers.push(spawn_snapshot(policy, zxid, chunks, recycle, core.clone()));
                }
                CommitMsg::InstallSnapshot { zxid, state } => {
                    let done = install(storage, &mut batch, &mut writers, &core, zxid, |st| {
                        st.install_snapshot(zxid, &state)
                    });
                    if !done {
                        return;
                    }
                }
                CommitMsg::InstallReceived(snapshot) => {
                    let zxid = snapshot.zxid();
                    let done = install(storage, &mut batch, &mut writers, &core, zxid, |st| {
                        st.install_received(snapshot)
                    });
                    if !done {
                        return;
                    }
                }
            }
            next = rx.try_recv().ok();
        }
        match flush(storage, &mut batch) {
            Ok(Some(zxid)) => {
                if core.blocking_send(CoreMsg::Durable { zxid }).is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => return fail(&core, e),
        }
    }
}

/// Installs a leader's snapshot of `zxid` (`how`) after the appends
/// before it and any snapshot of the old state still being written, then
/// reports it durable; false if the thread must stop.
fn install(
    storage: &mut Storage,
    batch: &mut Vec<(i64, Vec<u8>)>,
    writers: &mut Vec<std::thread::JoinHandle<()>>,
    core: &mpsc::Sender<CoreMsg>,
    zxid: i64,
    how: impl FnOnce(&mut Storage) -> storage::Result<PathBuf>,
) -> bool {
    // A snapshot of the old state still being written must not land
    // after (or be purged against) this one.
    for w in writers.drain(..) {
        let _ = w.join();
    }
    match flush(storage, batch).and_then(|_| how(storage)) {
        Ok(path) => tracing::info!("installed the leader's snapshot {}", path.display()),
        Err(e) => {
            fail(core, e);
            return false;
        }
    }
    core.blocking_send(CoreMsg::Durable { zxid }).is_ok()
}

fn flush(
    storage: &mut Storage,
    batch: &mut Vec<(i64, Vec<u8>)>,
) -> Result<Option<i64>, storage::StorageError> {
    let Some(last) = batch.last().map(|(z, _)| *z) else {
        return Ok(None);
    };
    let refs: Vec<(i64, &[u8])> = batch.iter().map(|(z, b)| (*z, b.as_slice())).collect();
    storage.append_batch(&refs)?;
    batch.clear();
    Ok(Some(last))
}

fn fail(core: &mpsc::Sender<CoreMsg>, e: storage::StorageError) {
    let _ = core.blocking_send(CoreMsg::StorageFailed {
        error: e.to_string(),
    });
}

fn spawn_snapshot(
    policy: &SnapshotPolicy,
    zxid: i64,
    chunks: std_mpsc::Receiver<SnapshotChunk>,
    recycle: std_mpsc::Sender<Vec<u8>>,
    core: mpsc::Sender<CoreMsg>,
) -> std::thread::JoinHandle<()> {
    let data_dir = policy.data_dir.clone();
    let data_log_dir = policy.data_log_dir.clone();
    let retain = policy.retain_count;
    std::thread::Builder::new()
        .name("paddock-snapshot".into())
        .spawn(move || {
            lower_priority();
            let started = std::time::Instant::now();
            let mut abandoned = false;
            let body = |w: &mut dyn std::io::Write| {
                for chunk in chunks.iter() {
                    match chunk {
                        SnapshotChunk::Bytes(b) => {
                            w.write_all(&b)?;
                            let _ = recycle.send(b);
                        }
                        SnapshotChunk::End => return Ok(()),
                    }
                }
                abandoned = true;
                Err(std::io::Error::other("abandoned by the core"))
            };
            match storage::write_snapshot(&data_dir, zxid, body) {
                Ok(path) => tracing::info!(
                    "snapshot {} written in {} ms",
                    path.display(),
                    started.elapsed().as_millis()
                ),
                Err(_) if abandoned => {
                    tracing::warn!("snapshot at zxid {zxid:#x} abandoned");
                    return;
                }
                Err(e) => {
                    let _ = core.blocking_send(CoreMsg::StorageFailed {
                        error: format!("writing snapshot: {e}"),
                    });
                    return;
                }
            }
            if retain > 0 {
                if let Err(e) = storage::purge(&data_dir, &data_log_dir, retain) {
                    tracing::warn!("purging old snapshots and logs: {e}");
                }
            }
        })
        .expect("spawning the snapshot thread")
}

/// Nice value of the snapshot writer thread: on a small machine its
/// checksumming and copying into the page cache otherwise take turns from
/// the core and commit threads, and every request waits on those.
const SNAPSHOT_NICE: libc::c_int = 10;

/// Lowers the calling thread's scheduling priority (Linux applies nice
/// per thread). Best effort.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain integers; `who` 0 is the calling thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, SNAPSHOT_NICE);
    }
}
