//! paddock-storage: the durable transaction log, snapshots, epoch files and
//! recovery of a paddock server.
//!
//! The crate is payload-agnostic: a transaction is `(zxid, payload bytes)`
//! (the payload is a txn serialized by the tree crate) and a snapshot is an
//! opaque byte stream tagged with the last zxid it covers.
//!
//! # Module map
//!
//! | module       | what it holds |
//! |--------------|---------------|
//! | `format`     | on-disk formats, field by field, as pure encode/decode functions |
//! | `storage`    | [`Storage`]: open (lock, recovery), `append_batch`, `roll` |
//! | `recovery`   | log replay after a snapshot: torn tails, corruption, gaps |
//! | `segment`    | sequential reader of one log segment file |
//! | `reader`     | [`LogReader`]: read-only record iterator for tools; [`read_log_range`] for diff sync |
//! | `snapshot`   | [`write_snapshot`], [`SnapshotReader`], newest-valid selection |
//! | `truncate`   | [`Storage::truncate_after`]: drop txns above a zxid (ZAB TRUNC) |
//! | `purge`      | [`purge`]: delete old snapshots and the segments only they needed |
//! | `spare`      | the next segment, zero-filled on a background thread before it is needed |
//! | `epoch`      | [`read_epoch`] / [`write_epoch`]: `acceptedEpoch`, `currentEpoch` |
//! | `fsutil`     | directory fsync, atomic replace, listing |
//! | `error`      | [`StorageError`] |
//!
//! # Files
//!
//! - `data_log_dir/log.<16 hex digits>`: log segments, named by their first
//!   zxid, preallocated in chunks, rolled at a size limit or by [`Storage::roll`].
//! - `data_log_dir/log.spare`: the next segment, zeros, while it is being
//!   prepared or waits to be taken (not a segment: recovery ignores it,
//!   open removes a leftover one).
//! - `data_dir/snapshot.<16 hex digits>`: snapshots, named by their zxid
//!   (`.tmp` while being written).
//! - `data_dir/acceptedEpoch`, `data_dir/currentEpoch`: ZAB epochs.
//! - `data_log_dir/paddock.lock`: `flock`ed while a [`Storage`] is open.
//!
//! # Contracts
//!
//! - **Durability before acknowledgement.** [`Storage::append_batch`] returns
//!   only after its records are on disk (one `write` and one `fdatasync` per
//!   batch: group commit), unless `force_sync` is false, in which case
//!   nothing is fsynced and a warning is logged at open. The caller must not
//!   acknowledge or ACK a proposal before `append_batch` returns.
//! - **Order.** zxids are appended strictly increasing, each batch above
//!   [`Storage::last_zxid`]. Recovery also checks that zxids above the
//!   snapshot are consecutive (or start a new epoch at counter 0 or 1), so a
//!   caller that jumps ahead (e.g. after a SNAP sync) must first write a
//!   snapshot covering the jump.
//! - **A failed write stops the log.** After an I/O error the [`Storage`]
//!   refuses further appends ([`StorageError::Poisoned`]); the node must
//!   restart and recover.
//! - **Recovery never silently drops committed records.** A torn tail (damage
//!   in the last segment with no later batch after it) was never acknowledged
//!   and is truncated with a warning. Damage elsewhere, a record found after
//!   the end of data, or a zxid gap fails [`Storage::open`] with an error
//!   naming the file and byte offset. (With `force_sync` off, a machine
//!   crash can damage more than the final batch; open then refuses rather
//!   than guess.)
//! - **One writer.** [`Storage::open`] `flock`s the data log dir; a second
//!   open fails with [`StorageError::Locked`].
//! - **Snapshots are written off the append path.** [`write_snapshot`] and
//!   [`purge`] are free functions meant for a background thread. A
//!   segment is purged once a kept snapshot covers all of it, so purging
//!   frees space a segment (at most `segment_size_bytes`) at a time;
//!   [`Storage::roll`] cuts one early. A snapshot at zxid Z must reflect
//!   exactly the txns up to Z.
//! - **Zxids keep growing.** [`Recovered::last_zxid`] is the highest durable
//!   zxid (max of the snapshot's and the last logged one).
#![deny(missing_docs)]

mod epoch;
mod error;
pub mod format;
mod fsutil;
mod purge;
mod reader;
mod recovery;
mod segment;
mod snapshot;
mod spare;
mod storage;
mod truncate;

pub use epoch::{read_epoch, write_epoch, EpochFile};
pub use error::{Result, StorageError};
pub use format::MAX_PAYLOAD_BYTES;
pub use purge::{purge, PurgeReport};
pub use reader::{read_log_range, LogReader, LogRecord, LogTxns};
pub use snapshot::{
    list_snapshots, write_snapshot, write_snapshot_now, IncomingSnapshot, LoadedSnapshot,
    ReceivedSnapshot, SnapshotData, SnapshotReader,
};
pub use storage::{LogStats, Recovered, Replayed, Storage, StorageOptions, MAX_BATCH_BYTES};
