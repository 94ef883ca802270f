//! Snapshots: round trip, fallback to an older valid one, purge.

mod common;

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use common::*;
use paddock_storage::{
    purge, write_snapshot, IncomingSnapshot, SnapshotReader, Storage, StorageError,
};

fn snap(data_dir: &Path, zxid: i64) -> std::path::PathBuf {
    write_snapshot(data_dir, zxid, |w| {
        w.write_all(format!("tree at {zxid}").as_bytes())
    })
    .unwrap()
}

/// Log 1..=30 with a snapshot and a roll after 10, 20 and 30, then 31..=35.
fn history(dir: &Path) {
    let o = opts(dir);
    let (mut st, _) = Storage::open(o.clone()).unwrap();
    for start in [1, 11, 21] {
        let zs: Vec<i64> = (start..start + 10).collect();
        append(&mut st, &zs);
        st.roll().unwrap();
        snap(&o.data_dir, start + 9);
    }
    append(&mut st, &[31, 32, 33, 34, 35]);
}

#[test]
fn snapshot_round_trip_and_reader() {
    let dir = tempfile::tempdir().unwrap();
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let path = write_snapshot(dir.path(), 0x5_0000_0007, |w| w.write_all(&body)).unwrap();
    assert!(path.ends_with("snapshot.0000000500000007"));
    let mut r = SnapshotReader::open(&path).unwrap();
    assert_eq!((r.zxid(), r.body_len()), (0x5_0000_0007, body.len() as u64));
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    assert_eq!(got, body);
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temp file left: {names:?}");
}

#[test]
fn snapshot_reader_detects_a_flipped_body_byte_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_snapshot(dir.path(), 9, |w| w.write_all(&[7u8; 10_000])).unwrap();
    flip(&path, 5_000);
    let mut r = SnapshotReader::open(&path).unwrap();
    let err = r.read_to_end(&mut Vec::new()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
}

#[test]
fn a_failed_snapshot_write_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let err =
        write_snapshot(dir.path(), 3, |_| Err(std::io::Error::other("tree failed"))).unwrap_err();
    assert!(err.to_string().contains("tree failed"), "{err}");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn recovery_uses_the_snapshot_and_the_log_after_it() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path());
    let (st, rec) = Storage::open(opts(dir.path())).unwrap();
    let s = rec.snapshot.as_ref().unwrap();
    assert_eq!((s.zxid, s.body.as_slice()), (30, b"tree at 30".as_slice()));
    assert_eq!(zxids(&rec), vec![31, 32, 33, 34, 35]);
    assert_eq!(st.last_zxid(), 35);
}

#[test]
fn a_truncated_or_corrupt_newest_snapshot_falls_back_to_the_previous_one() {
    for damage in ["truncate", "flip", "stale tmp"] {
        let dir = tempfile::tempdir().unwrap();
        history(dir.path());
        let newest = dir.path().join("data/snapshot.000000000000001e");
        match damage {
            "truncate" => {
                let len = fs::metadata(&newest).unwrap().len();
                OpenOptions::new()
                    .write(true)
                    .open(&newest)
                    .unwrap()
                    .set_len(len - 1)
                    .unwrap();
            }
            "flip" => flip(&newest, 35),
            _ => {
                fs::rename(
                    &newest,
                    dir.path().join("data/snapshot.000000000000001e.tmp"),
                )
                .unwrap();
            }
        }
        let (opened, logs) = capture_logs(|| Storage::open(opts(dir.path())));
        let (_, rec) = opened.unwrap();
        assert_eq!(rec.snapshot.as_ref().unwrap().zxid, 20, "{damage}");
        assert_eq!(zxids(&rec), (21..=35).collect::<Vec<_>>(), "{damage}");
        if damage != "stale tmp" {
            assert!(logs.contains("skipping an invalid snapshot"), "{logs}");
        } else {
            assert!(!dir
                .path()
                .join("data/snapshot.000000000000001e.tmp")
                .exists());
        }
    }
}

#[test]
fn a_snapshot_newer_than_the_log_sets_last_zxid() {
    // A follower that received a SNAP sync: the snapshot covers the jump.
    let dir = tempfile::tempdir().unwrap();
    let (mut st, _) = Storage::open(opts(dir.path())).unwrap();
    append(&mut st, &[1, 2]);
    drop(st);
    snap(&dir.path().join("data"), 0x2_0000_0005);
    let (mut st, rec) = Storage::open(opts(dir.path())).unwrap();
    assert_eq!((rec.txns.len(), rec.last_zxid), (0, 0x2_0000_0005));
    append(&mut st, &[0x2_0000_0006]);
    drop(st);
    let (_, rec) = Storage::open(opts(dir.path())).unwrap();
    assert_eq!(zxids(&rec), vec![0x2_0000_0006]);
}

#[test]
fn purge_keeps_the_newest_snapshots_and_the_segments_they_need() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path());
    let (data, log) = (dir.path().join("data"), dir.path().join("log"));
    let report = purge(&data, &log, 2).unwrap();
    assert_eq!(report.oldest_kept_zxid, Some(20));
    assert_eq!(
        report.removed_snapshots,
        vec![data.join("snapshot.000000000000000a")]
    );
    assert_eq!(
        report.removed_segments,
        vec![
            log.join("log.0000000000000001"),
            log.join("log.000000000000000b")
        ]
    );
    assert_eq!(segments(&log).len(), 2);
    // The oldest kept snapshot can still be replayed from.
    fs::remove_file(data.join("snapshot.000000000000001e")).unwrap();
    let (_, rec) = Storage::open(opts(dir.path())).unwrap();
    assert_eq!(rec.snapshot.as_ref().unwrap().zxid, 20);
    assert_eq!(zxids(&rec).first(), Some(&21));
}

#[test]
fn purge_counts_only_complete_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path());
    let (data, log) = (dir.path().join("data"), dir.path().join("log"));
    let broken = snap(&data, 35);
    let len = fs::metadata(&broken).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&broken)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let report = purge(&data, &log, 1).unwrap();
    assert_eq!(report.oldest_kept_zxid, Some(30));
    assert_eq!(report.removed_snapshots.len(), 2);
    assert!(
        broken.exists(),
        "a newer broken snapshot is left for the operator"
    );
    let (_, rec) = Storage::open(opts(dir.path())).unwrap();
    assert_eq!(rec.snapshot.as_ref().unwrap().zxid, 30);
    assert_eq!(zxids(&rec), vec![31, 32, 33, 34, 35]);
}

#[test]
fn purge_without_snapshots_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut st, _) = Storage::open(opts(dir.path())).unwrap();
    append(&mut st, &[1]);
    st.roll().unwrap();
    append(&mut st, &[2]);
    let report = purge(&dir.path().join("data"), &dir.path().join("log"), 3).unwrap();
    assert_eq!(report, Default::default());
    assert_eq!(segments(&dir.path().join("log")).len(), 2);
}

#[test]
fn a_bad_snapshot_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshot.0000000000000001");
    fs::File::create(&path)
        .unwrap()
        .write_all(b"not a snapshot at all, really not")
        .unwrap();
    let err = SnapshotReader::open(&path).expect_err("must fail");
    assert!(matches!(err, StorageError::BadSnapshot { .. }), "{err}");
    assert!(
        err.to_string().contains("snapshot.0000000000000001"),
        "{err}"
    );
}

/// A decoder that reads `tree at N` whole and returns (N, no txns).
fn decode_tree(r: &mut (dyn Read + Send)) -> Result<(i64, Vec<i64>), String> {
    let mut head = [0u8; 8];
    r.read_exact(&mut head).map_err(|e| e.to_string())?;
    if &head != b"tree at " {
        return Err("not a tree".into());
    }
    let mut digits = [0u8; 2];
    r.read_exact(&mut digits).map_err(|e| e.to_string())?;
    let n = std::str::from_utf8(&digits)
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| "bad number".to_string())?;
    Ok((n, Vec::new()))
}

type State = (i64, Vec<i64>);

fn open_streaming(
    dir: &Path,
) -> paddock_storage::Result<(Storage, paddock_storage::Replayed<State>)> {
    Storage::open_with(
        opts(dir),
        &mut decode_tree,
        &mut || (0, Vec::new()),
        &mut |state: &mut State, zxid, p: Vec<u8>| {
            if p != payload(zxid) {
                return Err(format!("payload of {zxid:#x}"));
            }
            state.1.push(zxid);
            Ok(())
        },
    )
}

#[test]
fn streaming_recovery_decodes_the_newest_snapshot_that_checks_out() {
    // Intact: the newest snapshot, decoded while read, then the log after it.
    let dir = tempfile::tempdir().unwrap();
    history(dir.path());
    let (_, rec) = open_streaming(dir.path()).unwrap();
    assert_eq!(rec.snapshot.as_ref().map(|s| s.0), Some(30));
    assert_eq!(rec.state, (30, (31..=35).collect::<Vec<_>>()));
    assert_eq!((rec.replayed, rec.last_zxid), (5, 35));

    // A flipped byte the decoder reads past unharmed still fails the
    // checksum at the end; a decoder error or unread bytes also fall
    // back to the previous snapshot.
    for damage in ["flip", "decode", "extra"] {
        let dir = tempfile::tempdir().unwrap();
        history(dir.path());
        let newest = dir.path().join("data/snapshot.000000000000001e");
        match damage {
            "flip" => flip(&newest, 25),
            "decode" => {
                fs::remove_file(&newest).unwrap();
                write_snapshot(&dir.path().join("data"), 30, |w| w.write_all(b"garbage!!!"))
                    .unwrap();
            }
            _ => {
                fs::remove_file(&newest).unwrap();
                write_snapshot(&dir.path().join("data"), 30, |w| {
                    w.write_all(b"tree at 30 and more")
                })
                .unwrap();
            }
        }
        let (opened, logs) = capture_logs(|| open_streaming(dir.path()));
        let (_, rec) = opened.unwrap();
        assert_eq!(rec.snapshot.as_ref().map(|s| s.0), Some(20), "{damage}");
        assert_eq!(rec.state, (20, (21..=35).collect::<Vec<_>>()), "{damage}");
        assert!(
            logs.contains("skipping an invalid snapshot"),
            "{damage}: {logs}"
        );
    }
}

#[test]
fn streaming_recovery_stops_at_a_txn_that_does_not_apply() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path());
    let err = Storage::open_with(
        opts(dir.path()),
        &mut decode_tree,
        &mut || (0, Vec::new()),
        &mut |_: &mut State, zxid, _: Vec<u8>| {
            if zxid == 33 {
                Err("no such op".to_string())
            } else {
                Ok(())
            }
        },
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StorageError::Corrupt { .. }), "{msg}");
    assert!(
        msg.contains("log.") && msg.contains("0x21") && msg.contains("no such op"),
        "{msg}"
    );
}

#[test]
fn an_installed_snapshot_replaces_the_log_and_appends_continue_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path());
    // A follower's own history 1..=8, of which 6..=8 the leader never had.
    {
        let (mut st, _) = Storage::open(o.clone()).unwrap();
        append(&mut st, &[1, 2, 3, 4, 5, 6, 7, 8]);
        st.install_snapshot(5, b"leader state at 5").unwrap();
        assert_eq!(st.last_zxid(), 5);
        append(&mut st, &[6, 7]);
    }
    let (st, rec) = Storage::open(o.clone()).unwrap();
    let snap = rec.snapshot.expect("the installed snapshot");
    assert_eq!(
        (snap.zxid, snap.body.as_slice()),
        (5, &b"leader state at 5"[..])
    );
    let zs: Vec<i64> = rec.txns.iter().map(|(z, _)| *z).collect();
    assert_eq!(zs, vec![6, 7], "only what was appended after the install");
    assert_eq!(st.last_zxid(), 7);
    drop(st);
    // A snapshot ahead of everything logged (a follower far behind).
    let (mut st, _) = Storage::open(o.clone()).unwrap();
    st.install_snapshot(0x2_0000_0004, b"newer").unwrap();
    append(&mut st, &[0x2_0000_0005]);
    drop(st);
    let (_, rec) = Storage::open(o).unwrap();
    assert_eq!(rec.snapshot.unwrap().zxid, 0x2_0000_0004);
    assert_eq!(rec.last_zxid, 0x2_0000_0005);
    assert_eq!(rec.txns.len(), 1);
}

#[test]
fn a_snapshot_written_as_it_arrives_installs_like_one_written_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path());
    let tmps = |d: &Path| {
        fs::read_dir(d)
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().ends_with(".tmp")
            })
            .count()
    };
    {
        let (mut st, _) = Storage::open(o.clone()).unwrap();
        append(&mut st, &[1, 2, 3, 4, 5, 6, 7, 8]);
        // Abandoned on the way (the link went down): nothing is left.
        let mut gone = IncomingSnapshot::create(&o.data_dir).unwrap();
        gone.write(b"half a tr").unwrap();
        assert_eq!(tmps(&o.data_dir), 1);
        drop(gone);
        assert_eq!(tmps(&o.data_dir), 0, "an unfinished file is removed");
        // Sealed but never installed (ZAB turned it down): removed too.
        let mut refused = IncomingSnapshot::create(&o.data_dir).unwrap();
        refused.write(b"stale").unwrap();
        drop(refused.finish(3).unwrap());
        assert_eq!(
            tmps(&o.data_dir),
            0,
            "a sealed file not installed is removed"
        );
        // In three parts, the zxid only known at the end.
        let mut incoming = IncomingSnapshot::create(&o.data_dir).unwrap();
        for part in [&b"leader "[..], b"state ", b"at 5"] {
            incoming.write(part).unwrap();
        }
        assert_eq!(incoming.len(), 17);
        let received = incoming.finish(5).unwrap();
        st.install_received(received).unwrap();
        assert_eq!(st.last_zxid(), 5);
        assert_eq!(tmps(&o.data_dir), 0);
        append(&mut st, &[6, 7]);
    }
    let (st, rec) = Storage::open(o).unwrap();
    let snap = rec.snapshot.expect("the installed snapshot");
    assert_eq!(
        (snap.zxid, snap.body.as_slice()),
        (5, &b"leader state at 5"[..])
    );
    let zs: Vec<i64> = rec.txns.iter().map(|(z, _)| *z).collect();
    assert_eq!(zs, vec![6, 7], "the follower's own 6..=8 are gone");
    assert_eq!(st.last_zxid(), 7);
}
