//! Log append, reopen, torn tails, corruption and gaps.

mod common;

use std::fs;

use common::*;
use paddock_storage::{read_log_range, LogReader, Storage, StorageError, StorageOptions};

#[test]
fn empty_dir_opens_empty_and_appends_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (mut st, rec) = Storage::open(opts(dir.path())).unwrap();
    assert_eq!((rec.snapshot, rec.txns.len(), rec.last_zxid), (None, 0, 0));
    append(&mut st, &[1, 2, 3]);
    append(&mut st, &[4]);
    append(&mut st, &[5, 6]);
    assert_eq!(st.last_zxid(), 6);
    drop(st);
    let (st, rec) = Storage::open(opts(dir.path())).unwrap();
    assert_eq!(zxids(&rec), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!((rec.last_zxid, st.last_zxid()), (6, 6));
}

#[test]
fn each_open_appends_to_a_new_segment_and_zxids_keep_growing() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3i64 {
        let (mut st, rec) = Storage::open(opts(dir.path())).unwrap();
        assert_eq!(rec.last_zxid, round * 2);
        append(&mut st, &[round * 2 + 1, round * 2 + 2]);
    }
    let (_, rec) = Storage::open(opts(dir.path())).unwrap();
    assert_eq!(zxids(&rec), (1..=6).collect::<Vec<_>>());
    assert_eq!(segments(&dir.path().join("log")).len(), 3);
}

/// A log of single-record batches 1..=20 in segments of at most 200 bytes.
fn twenty_records_in_200_byte_segments(dir: &std::path::Path) -> (StorageOptions, Storage) {
    let mut o = opts(dir);
    o.segment_size_bytes = 200;
    let (mut st, _) = Storage::open(o.clone()).unwrap();
    for z in 1..=20 {
        append(&mut st, &[z]);
    }
    (o, st)
}

#[test]
fn segments_roll_at_the_size_limit_and_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let (o, mut st) = twenty_records_in_200_byte_segments(dir.path());
    st.roll().unwrap();
    append(&mut st, &[21]);
    let segs = segments(&o.data_log_dir);
    assert_eq!(segs.len(), 5, "{segs:?}");
    assert!(segs.last().unwrap().ends_with("log.0000000000000015"));
    assert_eq!(st.stats().segments_created, segs.len() as u64);
    // A rolled segment is trimmed to its data.
    let first_len = fs::metadata(&segs[0]).unwrap().len();
    assert!(first_len <= 200, "{first_len}");
    drop(st);
    let (_, rec) = Storage::open(o).unwrap();
    assert_eq!(zxids(&rec), (1..=21).collect::<Vec<_>>());
}

#[test]
fn invalid_appends_are_rejected_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut st, _) = Storage::open(opts(dir.path())).unwrap();
    append(&mut st, &[1, 2]);
    let p = payload(9);
    for bad in [
        vec![(2, p.as_slice())],
        vec![(3, p.as_slice()), (3, p.as_slice())],
        vec![(3, &[][..])],
    ] {
        let err = st.append_batch(&bad).unwrap_err();
        assert!(matches!(err, StorageError::InvalidAppend { .. }), "{err}");
    }
    append(&mut st, &[3]);
    drop(st);
    let (_, rec) = Storage::open(opts(dir.path())).unwrap();
    assert_eq!(zxids(&rec), vec![1, 2, 3]);
}

#[test]
fn force_sync_fsyncs_once_per_batch_and_off_warns() {
    let dir = tempfile::tempdir().unwrap();
    let (mut st, _) = Storage::open(opts(dir.path())).unwrap();
    append(&mut st, &[1, 2, 3]);
    append(&mut st, &[4]);
    assert_eq!(
        (st.stats().batches, st.stats().records, st.stats().fsyncs),
        (2, 4, 2)
    );
    drop(st);

    let mut o = opts(dir.path());
    o.force_sync = false;
    let (opened, logs) = capture_logs(|| Storage::open(o.clone()));
    let (mut st, _) = opened.unwrap();
    assert!(
        logs.contains("WARN") && logs.contains("acknowledged writes may be lost"),
        "{logs}"
    );
    append(&mut st, &[5]);
    assert_eq!(st.stats().fsyncs, 0);
    drop(st);
    let (_, logs) = capture_logs(|| Storage::open(opts(dir.path())).unwrap());
    assert!(!logs.contains("WARN"), "{logs}");
}

#[test]
fn a_new_epoch_may_start_at_counter_one() {
    let dir = tempfile::tempdir().unwrap();
    let (mut st, _) = Storage::open(opts(dir.path())).unwrap();
    append(&mut st, &[1, 2]);
    append(&mut st, &[0x1_0000_0001, 0x1_0000_0002]);
    drop(st);
    let (_, rec) = Storage::open(opts(dir.path())).unwrap();
    assert_eq!(zxids(&rec), vec![1, 2, 0x1_0000_0001, 0x1_0000_0002]);
}

#[test]
fn a_gap_in_the_zxids_fails_open() {
    let dir = tempfile::tempdir().unwrap();
    let (mut st, _) = Storage::open(opts(dir.path())).unwrap();
    append(&mut st, &[1, 2]);
    append(&mut st, &[4]);
    drop(st);
    let err = Storage::open(opts(dir.path())).unwrap_err();
    assert!(matches!(err, StorageError::Gap { .. }), "{err}");
    assert!(
        err.to_string().contains("zxid 0x4 does not follow 0x2"),
        "{err}"
    );
}

#[test]
fn a_missing_middle_segment_fails_open_naming_the_next_file() {
    let dir = tempfile::tempdir().unwrap();
    let (mut st, _) = Storage::open(opts(dir.path())).unwrap();
    for start in [1, 4, 7] {
        append(&mut st, &[start, start + 1, start + 2]);
        st.roll().unwrap();
    }
    drop(st);
    let segs = segments(&dir.path().join("log"));
    assert_eq!(segs.len(), 3);
    fs::remove_file(&segs[1]).unwrap();
    let err = Storage::open(opts(dir.path())).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StorageError::Gap { offset: 32, .. }), "{msg}");
    assert!(
        msg.contains("log.0000000000000007") && msg.contains("byte offset 32"),
        "{msg}"
    );
}

#[test]
fn log_reader_reports_files_and_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let (mut st, _) = Storage::open(opts(dir.path())).unwrap();
    append(&mut st, &[1, 2]);
    st.roll().unwrap();
    append(&mut st, &[3]);
    drop(st);
    let recs = records(&dir.path().join("log"));
    let seen: Vec<(i64, bool, u64)> = recs
        .iter()
        .map(|r| (r.zxid, r.batch_start, r.offset))
        .collect();
    let len1 = 16 + payload(1).len() as u64;
    assert_eq!(
        seen,
        vec![(1, true, 32), (2, false, 32 + len1), (3, true, 32)]
    );
    assert!(recs[2].file.ends_with("log.0000000000000003"));
    assert_eq!(recs[0].payload, payload(1));
    let single: Vec<i64> = LogReader::open_segment(&recs[0].file)
        .map(|r| r.unwrap().zxid)
        .collect();
    assert_eq!(single, vec![1, 2]);
}

#[test]
fn a_second_open_of_the_same_log_dir_is_refused_while_the_first_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let (st, _) = Storage::open(opts(dir.path())).unwrap();
    let err = Storage::open(opts(dir.path())).unwrap_err();
    assert!(matches!(err, StorageError::Locked { .. }), "{err}");
    drop(st);
    Storage::open(opts(dir.path())).unwrap();
}

#[test]
fn truncate_after_drops_later_records_and_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let (mut st, _) = Storage::open(opts(dir.path())).unwrap();
    for zs in [&[1, 2, 3][..], &[4, 5, 6], &[7, 8, 9, 10]] {
        append(&mut st, zs);
        st.roll().unwrap();
    }
    let data = dir.path().join("data");
    paddock_storage::write_snapshot(&data, 8, |w| w.write_all(b"tree at 8")).unwrap();
    let err = st.truncate_after(11).unwrap_err();
    assert!(matches!(err, StorageError::InvalidTruncate { .. }), "{err}");
    st.truncate_after(5).unwrap();
    assert_eq!(st.last_zxid(), 5);
    assert!(paddock_storage::list_snapshots(&data).unwrap().is_empty());
    assert_eq!(segments(&dir.path().join("log")).len(), 2);
    append(&mut st, &[0x1_0000_0001]);
    drop(st);
    let (_, rec) = Storage::open(opts(dir.path())).unwrap();
    assert_eq!(rec.snapshot, None);
    assert_eq!(zxids(&rec), vec![1, 2, 3, 4, 5, 0x1_0000_0001]);
}

/// Appends single-record batches from `next` until the log holds at least
/// `bytes` of records; returns the next zxid.
fn fill_to(st: &mut Storage, mut next: i64, bytes: u64) -> i64 {
    while st.stats().bytes < bytes {
        append(st, &[next]);
        next += 1;
    }
    next
}

#[test]
fn the_next_segment_is_a_spare_prepared_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.segment_size_bytes = 8192;
    let (mut st, _) = Storage::open(o.clone()).unwrap();
    append(&mut st, &[1]);
    assert!(
        !st.wait_for_spare(std::time::Duration::ZERO),
        "nothing is prepared for a log that has barely been written"
    );
    // Past min(preallocation, a quarter of a segment) the spare is made.
    let next = fill_to(&mut st, 2, 2048);
    assert!(st.wait_for_spare(std::time::Duration::from_secs(60)));
    let spare = o.data_log_dir.join("log.spare");
    assert_eq!(fs::metadata(&spare).unwrap().len(), 8192);
    // Growing the first segment past its 4 KiB preallocation takes the
    // spare instead of zero-filling more.
    let next = fill_to(&mut st, next, 4096);
    let stats = st.stats();
    assert_eq!((stats.segments_created, stats.segments_from_spare), (2, 1));
    let segs = segments(&o.data_log_dir);
    assert_eq!(segs.len(), 2, "{segs:?}");
    assert_eq!(fs::metadata(&segs[1]).unwrap().len(), 8192);
    assert!(fs::metadata(&segs[0]).unwrap().len() <= 4096, "trimmed");
    append(&mut st, &[next]);
    drop(st);
    let (_, rec) = Storage::open(o.clone()).unwrap();
    assert_eq!(zxids(&rec), (1..=next).collect::<Vec<_>>());
    assert!(!spare.exists(), "open removes a leftover spare");
}

#[test]
fn a_leftover_spare_is_removed_at_open_and_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let (mut st, _) = Storage::open(opts(dir.path())).unwrap();
    append(&mut st, &[1, 2]);
    drop(st);
    let spare = dir.path().join("log/log.spare");
    // A spare made by a process that stopped while writing it, with
    // bytes that look like a record: not a segment, so never replayed.
    let mut junk = Vec::new();
    paddock_storage::format::encode_record(&mut junk, 3, b"not in the log", true);
    fs::write(&spare, &junk).unwrap();
    let (mut st, rec) = Storage::open(opts(dir.path())).unwrap();
    assert_eq!(zxids(&rec), vec![1, 2]);
    assert!(!spare.exists());
    append(&mut st, &[3]);
}

#[test]
fn a_spare_renamed_before_its_header_was_durable_is_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let (mut st, _) = Storage::open(opts(dir.path())).unwrap();
    append(&mut st, &[1, 2]);
    drop(st);
    // What a crash between the rename and the first fdatasync can leave:
    // the next segment's name over a file of zeros.
    let adopted = dir.path().join("log/log.0000000000000003");
    fs::write(&adopted, vec![0u8; 64 << 10]).unwrap();
    let (mut st, rec) = Storage::open(opts(dir.path())).unwrap();
    assert_eq!(zxids(&rec), vec![1, 2]);
    assert!(!adopted.exists());
    append(&mut st, &[3]);
    drop(st);
    let (_, rec) = Storage::open(opts(dir.path())).unwrap();
    assert_eq!(zxids(&rec), vec![1, 2, 3]);
}

#[test]
fn a_segment_made_on_the_append_path_starts_small_and_grows_in_chunks() {
    // The first write after start-up waits for the new segment's fsync, so
    // it is not preallocated a whole chunk at once.
    let dir = tempfile::tempdir().unwrap();
    let mut o = StorageOptions::new(dir.path().join("data"), dir.path().join("log"));
    o.force_sync = false;
    let (mut st, _) = Storage::open(o.clone()).unwrap();
    append(&mut st, &[1]);
    let seg = segments(&o.data_log_dir).pop().unwrap();
    let first = fs::metadata(&seg).unwrap().len();
    assert!(
        first > 32 && first <= 64 << 10,
        "first preallocation {first}"
    );
    // Past it, the segment grows by the usual chunk (no spare is ready yet).
    let next = fill_to(&mut st, 2, first);
    let grown = fs::metadata(&seg).unwrap().len();
    assert_eq!(grown, o.preallocate_bytes, "grown to one full chunk");
    append(&mut st, &[next]);
    drop(st);
    let (_, rec) = Storage::open(o).unwrap();
    assert_eq!(rec.last_zxid, next);
    assert_eq!(rec.txns.len() as i64, next);
}

#[test]
fn read_log_range_returns_the_records_after_one_the_log_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (o, _st) = twenty_records_in_200_byte_segments(dir.path());
    let log = o.data_log_dir.clone();
    let range = |after, upto, max| read_log_range(&log, after, upto, max).unwrap();
    let want = |from: i64, to: i64| -> Vec<(i64, Vec<u8>)> {
        (from..=to).map(|z| (z, payload(z))).collect()
    };
    assert!(segments(&log).len() > 3, "the range spans segments");
    assert_eq!(range(3, 17, 1 << 20), Some(want(4, 17)));
    assert_eq!(range(19, 20, 1 << 20), Some(want(20, 20)));
    // `after` must be a record of this log, and `upto` too.
    assert_eq!(range(0, 5, 1 << 20), None, "before the first record");
    assert_eq!(range(3, 21, 1 << 20), None, "past the last record");
    assert_eq!(range(5, 5, 1 << 20), None, "empty range");
    // Too many bytes: the caller sends a snapshot instead.
    let one = payload(4).len();
    assert_eq!(range(3, 5, 2 * one), Some(want(4, 5)));
    assert_eq!(range(3, 6, 2 * one), None);
    // A purged segment before `after`'s does not matter; `after`'s does.
    let segs = segments(&log);
    fs::remove_file(&segs[0]).unwrap();
    let second_first = zxid_of(&segs[1]);
    assert_eq!(
        range(second_first, 20, 1 << 20),
        Some(want(second_first + 1, 20))
    );
    assert_eq!(range(second_first - 1, 20, 1 << 20), None);
}

fn zxid_of(seg: &std::path::Path) -> i64 {
    let name = seg.file_name().unwrap().to_str().unwrap();
    i64::from_str_radix(name.trim_start_matches("log."), 16).unwrap()
}
