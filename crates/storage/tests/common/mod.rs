//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use paddock_storage::{LogReader, LogRecord, Recovered, Storage, StorageOptions};

/// Options with small segments and preallocation, so tests stay fast.
pub fn opts(dir: &Path) -> StorageOptions {
    let mut o = StorageOptions::new(dir.join("data"), dir.join("log"));
    o.preallocate_bytes = 4096;
    o.segment_size_bytes = 1 << 20;
    o
}

/// A recognizable payload for `zxid`.
pub fn payload(zxid: i64) -> Vec<u8> {
    format!("txn {zxid:#x} payload").into_bytes()
}

/// Appends one batch holding `zxids`, with [`payload`]s.
pub fn append(st: &mut Storage, zxids: &[i64]) {
    let payloads: Vec<Vec<u8>> = zxids.iter().map(|z| payload(*z)).collect();
    let batch: Vec<(i64, &[u8])> = zxids
        .iter()
        .zip(&payloads)
        .map(|(z, p)| (*z, p.as_slice()))
        .collect();
    st.append_batch(&batch).expect("append");
}

/// The zxids of recovered txns, checking each payload.
pub fn zxids(rec: &Recovered) -> Vec<i64> {
    for (z, p) in &rec.txns {
        assert_eq!(p, &payload(*z), "payload of {z:#x}");
    }
    rec.txns.iter().map(|(z, _)| *z).collect()
}

/// Every record in the log dir, in order.
pub fn records(log_dir: &Path) -> Vec<LogRecord> {
    LogReader::open_dir(log_dir)
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// Segment files in the log dir, oldest first (not the spare).
pub fn segments(log_dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(log_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            paddock_storage::format::parse_segment_name(name).is_some()
        })
        .collect();
    v.sort();
    v
}

/// Overwrites bytes of `path` at `offset`.
pub fn overwrite(path: &Path, offset: u64, bytes: &[u8]) {
    let f = OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, offset).unwrap();
}

/// Flips one bit of the byte at `offset`.
pub fn flip(path: &Path, offset: u64) {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).unwrap();
    f.write_all_at(&[b[0] ^ 0x10], offset).unwrap();
}

/// Copies a flat directory tree (two levels, as the tests use).
pub fn copy_tree(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for e in fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to);
        } else {
            fs::copy(e.path(), to).unwrap();
        }
    }
}

#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` and returns what it logged (level WARN and above... and INFO).
pub fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    let buf = SharedBuf::default();
    let writer = buf.clone();
    let sub = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let out = tracing::subscriber::with_default(sub, f);
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    (out, text)
}
