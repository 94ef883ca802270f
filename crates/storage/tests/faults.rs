//! Faulty-disk cases: torn tails at every byte of the last record, damage to
//! committed records, unfinished segment creation.

mod common;

use std::fs::{self, OpenOptions};
use std::path::Path;

use common::*;
use paddock_storage::{LogRecord, Storage, StorageError};

/// Builds a log with batches [1,2], [3,4], [5] in one segment (force_sync off
/// to keep the many copies below fast) and returns its records.
fn five_records(dir: &Path) -> Vec<LogRecord> {
    let mut o = opts(dir);
    o.force_sync = false;
    let (mut st, _) = Storage::open(o).unwrap();
    append(&mut st, &[1, 2]);
    append(&mut st, &[3, 4]);
    append(&mut st, &[5]);
    drop(st);
    records(&dir.join("log"))
}

fn open_quiet(
    dir: &Path,
) -> (
    Result<(Storage, paddock_storage::Recovered), StorageError>,
    String,
) {
    let mut o = opts(dir);
    o.force_sync = false;
    capture_logs(|| Storage::open(o))
}

#[derive(Debug, Clone, Copy)]
enum Tear {
    /// The file ends at the cut.
    Truncate,
    /// Zeros from the cut to the end of the record.
    Zero,
    /// Garbage from the cut to the end of the record.
    Garbage,
}

fn tear(path: &Path, cut: u64, end: u64, how: Tear) {
    match how {
        Tear::Truncate => OpenOptions::new()
            .write(true)
            .open(path)
            .unwrap()
            .set_len(cut)
            .unwrap(),
        Tear::Zero => overwrite(path, cut, &vec![0; (end - cut) as usize]),
        Tear::Garbage => overwrite(path, cut, &vec![0xa5; (end - cut) as usize]),
    }
}

#[test]
fn a_torn_last_record_is_truncated_at_every_offset() {
    let template = tempfile::tempdir().unwrap();
    let recs = five_records(template.path());
    let last = &recs[4];
    let end = last.offset + 16 + last.payload.len() as u64;
    for how in [Tear::Truncate, Tear::Zero, Tear::Garbage] {
        for cut in last.offset..end {
            let dir = tempfile::tempdir().unwrap();
            copy_tree(template.path(), dir.path());
            let seg = dir.path().join("log").join(last.file.file_name().unwrap());
            tear(&seg, cut, end, how);
            let (opened, logs) = open_quiet(dir.path());
            let (mut st, rec) = opened.unwrap_or_else(|e| panic!("{how:?} at {cut}: {e}"));
            assert_eq!(zxids(&rec), vec![1, 2, 3, 4], "{how:?} at {cut}");
            assert_eq!(st.last_zxid(), 4);
            // Cutting exactly at the record leaves a clean end: nothing to repair.
            let clean_end = cut == last.offset && !matches!(how, Tear::Garbage);
            if !clean_end {
                assert!(
                    logs.contains("truncating a torn write"),
                    "{how:?} at {cut}: {logs}"
                );
                assert_eq!(fs::metadata(&seg).unwrap().len(), last.offset);
            }
            // The log goes on after the repair.
            append(&mut st, &[5]);
            drop(st);
            let (opened, _) = open_quiet(dir.path());
            assert_eq!(
                zxids(&opened.unwrap().1),
                vec![1, 2, 3, 4, 5],
                "{how:?} at {cut}"
            );
        }
    }
}

#[test]
fn a_torn_final_batch_may_keep_later_records_of_that_batch() {
    // Pages of the last batch can reach the disk out of order: damage to its
    // first record with its other records intact is still a torn tail.
    let dir = tempfile::tempdir().unwrap();
    let (mut st, _) = Storage::open(opts(dir.path())).unwrap();
    append(&mut st, &[1, 2]);
    append(&mut st, &[3, 4, 5]);
    drop(st);
    let recs = records(&dir.path().join("log"));
    flip(&recs[2].file, recs[2].offset + 20);
    let (opened, logs) = open_quiet(dir.path());
    assert_eq!(zxids(&opened.unwrap().1), vec![1, 2]);
    assert!(logs.contains("truncating a torn write"), "{logs}");
}

#[test]
fn damage_before_a_later_batch_fails_open_with_file_and_offset() {
    let template = tempfile::tempdir().unwrap();
    let recs = five_records(template.path());
    // A payload byte, a zxid byte and the size word of records 1, 2 and 3.
    for (victim, delta) in [(0usize, 20u64), (1, 9), (2, 0), (2, 17), (3, 30)] {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(template.path(), dir.path());
        let rec = &recs[victim];
        let seg = dir.path().join("log").join(rec.file.file_name().unwrap());
        flip(&seg, rec.offset + delta);
        let (opened, _) = open_quiet(dir.path());
        let err = opened
            .err()
            .unwrap_or_else(|| panic!("record {victim} +{delta} was accepted"));
        let msg = err.to_string();
        assert!(
            matches!(err, StorageError::Corrupt { offset, .. } if offset == rec.offset),
            "{msg}"
        );
        assert!(msg.contains(&seg.display().to_string()), "{msg}");
        assert!(
            msg.contains(&format!("byte offset {}", rec.offset)),
            "{msg}"
        );
    }
}

#[test]
fn a_zeroed_committed_record_before_a_later_batch_fails_open() {
    let template = tempfile::tempdir().unwrap();
    let recs = five_records(template.path());
    let rec = &recs[2];
    overwrite(&rec.file, rec.offset, &vec![0; 16 + rec.payload.len()]);
    let (opened, _) = open_quiet(template.path());
    let msg = opened.expect_err("must fail").to_string();
    assert!(
        msg.contains("end-of-data marker") && msg.contains(&format!("byte offset {}", rec.offset)),
        "{msg}"
    );
}

#[test]
fn damage_at_the_end_of_a_non_last_segment_fails_open() {
    let dir = tempfile::tempdir().unwrap();
    let (mut st, _) = Storage::open(opts(dir.path())).unwrap();
    append(&mut st, &[1, 2]);
    st.roll().unwrap();
    append(&mut st, &[3]);
    drop(st);
    let recs = records(&dir.path().join("log"));
    flip(&recs[1].file, recs[1].offset + 20);
    let (opened, _) = open_quiet(dir.path());
    let msg = opened.expect_err("must fail").to_string();
    assert!(
        msg.contains("not the last segment") && msg.contains("log.0000000000000001"),
        "{msg}"
    );
}

#[test]
fn an_unfinished_last_segment_is_removed_and_its_name_reused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut st, _) = Storage::open(opts(dir.path())).unwrap();
    append(&mut st, &[1, 2]);
    drop(st);
    let log_dir = dir.path().join("log");
    fs::write(log_dir.join("log.0000000000000003"), [0u8; 10]).unwrap();
    let (opened, logs) = open_quiet(dir.path());
    let (mut st, rec) = opened.unwrap();
    assert!(logs.contains("creation never completed"), "{logs}");
    assert_eq!(zxids(&rec), vec![1, 2]);
    append(&mut st, &[3]);
    drop(st);
    assert_eq!(
        zxids(&Storage::open(opts(dir.path())).unwrap().1),
        vec![1, 2, 3]
    );
}

#[test]
fn a_last_segment_with_a_bad_header_but_valid_records_fails_open() {
    let dir = tempfile::tempdir().unwrap();
    let (mut st, _) = Storage::open(opts(dir.path())).unwrap();
    append(&mut st, &[1, 2]);
    drop(st);
    let seg = &segments(&dir.path().join("log"))[0];
    flip(seg, 3);
    let (opened, _) = open_quiet(dir.path());
    let err = opened.expect_err("must fail");
    assert!(matches!(err, StorageError::BadHeader { .. }), "{err}");
}

#[test]
fn a_segment_with_only_a_torn_batch_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut st, _) = Storage::open(opts(dir.path())).unwrap();
    append(&mut st, &[1]);
    st.roll().unwrap();
    append(&mut st, &[2]);
    drop(st);
    let recs = records(&dir.path().join("log"));
    flip(&recs[1].file, recs[1].offset + 18);
    let (opened, _) = open_quiet(dir.path());
    let (mut st, rec) = opened.unwrap();
    assert_eq!(zxids(&rec), vec![1]);
    assert!(!recs[1].file.exists());
    append(&mut st, &[2]);
}

#[test]
fn a_batch_hidden_after_a_hole_past_the_end_of_data_fails_open() {
    // Recovery skips holes with SEEK_DATA; it must still see data beyond them.
    let dir = tempfile::tempdir().unwrap();
    let (mut st, _) = Storage::open(opts(dir.path())).unwrap();
    append(&mut st, &[1, 2]);
    drop(st);
    let seg = &segments(&dir.path().join("log"))[0];
    OpenOptions::new()
        .write(true)
        .open(seg)
        .unwrap()
        .set_len(4 << 20)
        .unwrap();
    let mut rec = Vec::new();
    paddock_storage::format::encode_record(&mut rec, 3, &payload(3), true);
    overwrite(seg, 3 << 20, &rec);
    let (opened, _) = open_quiet(dir.path());
    let msg = opened.expect_err("must fail").to_string();
    assert!(
        msg.contains("end-of-data marker") && msg.contains(&format!("{}", 3 << 20)),
        "{msg}"
    );
}
