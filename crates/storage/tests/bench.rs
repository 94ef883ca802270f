//! Rough performance measurements, ignored by default. Run with
//! `cargo test --release -p paddock-storage --test bench -- --ignored --nocapture --test-threads 1`.
//! Set `PADDOCK_BENCH_DIR` to measure on a particular disk (default: the temp dir).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use paddock_storage::{Storage, StorageOptions};

const PAYLOAD_BYTES: usize = 150;

fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("PADDOCK_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(PathBuf::from(d)).unwrap(),
        None => tempfile::tempdir().unwrap(),
    }
}

fn options(dir: &std::path::Path, force_sync: bool) -> StorageOptions {
    let mut o = StorageOptions::new(dir.join("data"), dir.join("log"));
    o.force_sync = force_sync;
    o
}

/// Appends batches of `batch` records for about `budget`; returns (records/s, batches/s).
fn append_rate(batch: usize, budget: Duration) -> (f64, f64) {
    let dir = bench_dir();
    let (mut st, _) = Storage::open(options(dir.path(), true)).unwrap();
    let payload = vec![0x5au8; PAYLOAD_BYTES];
    let mut zxid = 0i64;
    let mut batches = 0u64;
    let started = Instant::now();
    while started.elapsed() < budget {
        let records: Vec<(i64, &[u8])> = (1..=batch as i64)
            .map(|i| (zxid + i, payload.as_slice()))
            .collect();
        st.append_batch(&records).unwrap();
        zxid += batch as i64;
        batches += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    (zxid as f64 / secs, batches as f64 / secs)
}

#[test]
#[ignore]
fn append_throughput_with_fsync() {
    for batch in [1usize, 10, 100] {
        let (records, batches) = append_rate(batch, Duration::from_secs(2));
        println!(
            "batch {batch:>3} x {PAYLOAD_BYTES} B, fdatasync per batch: {records:>10.0} records/s, {batches:>8.0} batches/s ({:.1} us/batch)",
            1e6 / batches
        );
    }
}

#[test]
#[ignore]
fn recovery_of_a_million_records() {
    let dir = bench_dir();
    let n = 1_000_000i64;
    let (mut st, _) = Storage::open(options(dir.path(), false)).unwrap();
    let payload = vec![0x5au8; PAYLOAD_BYTES];
    let started = Instant::now();
    for start in (1..=n).step_by(1000) {
        let records: Vec<(i64, &[u8])> = (start..start + 1000)
            .map(|z| (z, payload.as_slice()))
            .collect();
        st.append_batch(&records).unwrap();
    }
    println!("wrote {n} records without fsync in {:?}", started.elapsed());
    drop(st);
    let started = Instant::now();
    let (_, rec) = Storage::open(options(dir.path(), true)).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(rec.txns.len() as i64, n);
    assert_eq!(rec.last_zxid, n);
    println!("recovered {n} records of {PAYLOAD_BYTES} B in {elapsed:?} (files in page cache)");
}
