//! Sequential reading of one log segment file (format in [`crate::format`]).
//!
//! The reader reports what it finds (a record, the end of data, damage) and
//! leaves the decision (truncate a torn tail or refuse to start) to
//! [`crate::recovery`] or the tool using it.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::{Result, StorageError};
use crate::format::{self, RecordHeader, HEADER_LEN, RECORD_HEADER_LEN, SEGMENT_MAGIC};

/// Read buffer for segment files: large, so recovery does few syscalls.
const READ_BUFFER_BYTES: usize = 1 << 20;
/// Chunk size when looking for non-zero bytes after the end of data.
const ZERO_SCAN_CHUNK_BYTES: usize = 1 << 20;

/// What the reader found at its current offset.
#[derive(Debug)]
pub enum Step {
    /// A complete record with a valid checksum.
    Record {
        /// The record's zxid.
        zxid: i64,
        /// True if the record starts an appended batch.
        batch_start: bool,
        /// Byte offset of the record in the file.
        offset: u64,
        /// The payload.
        payload: Vec<u8>,
    },
    /// The end of written data: a zero `size_flags` word or the end of the file.
    End {
        /// Offset of the marker (or the file length).
        offset: u64,
    },
    /// A record that cannot be read back intact.
    Damaged {
        /// Offset where the damaged record starts.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
}

/// Reads one segment from front to back.
#[derive(Debug)]
pub struct SegmentReader {
    path: PathBuf,
    reader: BufReader<File>,
    offset: u64,
    first_zxid: i64,
}

impl SegmentReader {
    /// Opens `path` and checks its header. Fails with
    /// [`StorageError::BadHeader`] if the header is short or invalid.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| StorageError::io("open", path, e))?;
        let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, file);
        let mut h = [0u8; HEADER_LEN];
        let n = fill(&mut reader, &mut h).map_err(|e| StorageError::io("read", path, e))?;
        let first_zxid = format::decode_header(SEGMENT_MAGIC, &h[..n]).map_err(|reason| {
            StorageError::BadHeader {
                path: path.to_path_buf(),
                reason,
            }
        })?;
        Ok(SegmentReader {
            path: path.to_path_buf(),
            reader,
            offset: HEADER_LEN as u64,
            first_zxid,
        })
    }

    /// The first zxid recorded in the header.
    pub fn first_zxid(&self) -> i64 {
        self.first_zxid
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the next record. After `End` or `Damaged` the reader should not
    /// be stepped again.
    pub fn step(&mut self) -> Result<Step> {
        let offset = self.offset;
        let mut fixed = [0u8; RECORD_HEADER_LEN];
        let n = fill(&mut self.reader, &mut fixed).map_err(|e| self.read_err(e))?;
        // A zero size word (or a zero fragment of one at the end of the file)
        // is the end-of-data marker.
        if fixed[..n.min(4)].iter().all(|b| *b == 0) {
            return Ok(Step::End { offset });
        }
        if n < RECORD_HEADER_LEN {
            return Ok(self.partial(offset, n));
        }
        let h = RecordHeader::decode(&fixed);
        let len = match h.payload_len() {
            Ok(len) => len,
            Err(reason) => return Ok(Step::Damaged { offset, reason }),
        };
        let mut payload = vec![0u8; len];
        let got = fill(&mut self.reader, &mut payload).map_err(|e| self.read_err(e))?;
        if got < len {
            return Ok(self.partial(offset, RECORD_HEADER_LEN + got));
        }
        if !h.check(&payload) {
            let reason = format!(
                "the checksum of the record with zxid {:#x} does not match",
                h.zxid
            );
            return Ok(Step::Damaged { offset, reason });
        }
        self.offset += (RECORD_HEADER_LEN + len) as u64;
        Ok(Step::Record {
            zxid: h.zxid,
            batch_start: h.batch_start(),
            offset,
            payload,
        })
    }

    fn partial(&self, offset: u64, n: usize) -> Step {
        Step::Damaged {
            offset,
            reason: format!("the file ends {n} bytes into a record"),
        }
    }

    fn read_err(&self, e: io::Error) -> StorageError {
        StorageError::io("read", &self.path, e)
    }

    /// Looks at the bytes from `from + 1` to the end of the file for a valid
    /// record that starts a batch with a zxid above `after_zxid` (see
    /// [`format::find_later_batch`]). Returns its offset and zxid. Long zero
    /// runs are skipped without holding them in memory.
    pub fn find_later_batch(&mut self, from: u64, after_zxid: i64) -> Result<Option<(u64, i64)>> {
        let start = from + 1;
        let Some(first_nonzero) = self.first_nonzero_at_or_after(start)? else {
            return Ok(None);
        };
        // A batch-start record has a non-zero 4th byte, so it starts at most
        // 3 bytes before the first non-zero byte.
        let scan_from = first_nonzero.saturating_sub(3).max(start);
        let file = self.reader.get_mut();
        file.seek(SeekFrom::Start(scan_from))
            .map_err(|e| StorageError::io("seek", &self.path, e))?;
        let mut rest = Vec::new();
        file.read_to_end(&mut rest)
            .map_err(|e| StorageError::io("read", &self.path, e))?;
        Ok(format::find_later_batch(&rest, after_zxid)
            .map(|(p, zxid)| (scan_from + p as u64, zxid)))
    }

    fn first_nonzero_at_or_after(&mut self, start: u64) -> Result<Option<u64>> {
        let path = &self.path;
        let file = self.reader.get_mut();
        let mut chunk = vec![0u8; ZERO_SCAN_CHUNK_BYTES];
        let mut pos = start;
        loop {
            let Some(data) = next_data(file, pos) else {
                return Ok(None);
            };
            pos = data;
            file.seek(SeekFrom::Start(pos))
                .map_err(|e| StorageError::io("seek", path, e))?;
            let n = file
                .read(&mut chunk)
                .map_err(|e| StorageError::io("read", path, e))?;
            if n == 0 {
                return Ok(None);
            }
            if let Some(i) = first_nonzero(&chunk[..n]) {
                return Ok(Some(pos + i as u64));
            }
            pos += n as u64;
        }
    }
}

/// The offset of the first byte at or after `pos` that is not in a hole of a
/// sparse file (`lseek(SEEK_DATA)`), so preallocated space is skipped without
/// being read. `None` if only holes follow. Where the file system does not
/// support it, returns `pos` (everything is then read and checked).
fn next_data(file: &File, pos: u64) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let Ok(off) = libc::off_t::try_from(pos) else {
        return Some(pos);
    };
    // SAFETY: lseek on a file descriptor we own; it touches no memory.
    let r = unsafe { libc::lseek(file.as_raw_fd(), off, libc::SEEK_DATA) };
    if r >= 0 {
        return Some(r as u64);
    }
    match io::Error::last_os_error().raw_os_error() {
        Some(libc::ENXIO) => None,
        _ => Some(pos),
    }
}

/// The index of the first non-zero byte of `b`. Whole 64-byte blocks are
/// OR-folded first (vectorised), so a segment's preallocated tail of up
/// to 64 MiB of zeros is passed over at memory speed at recovery.
fn first_nonzero(b: &[u8]) -> Option<usize> {
    let mut skipped = 0;
    for block in b.chunks_exact(64) {
        if block.iter().fold(0u8, |acc, x| acc | x) != 0 {
            break;
        }
        skipped += 64;
    }
    b[skipped..]
        .iter()
        .position(|x| *x != 0)
        .map(|i| skipped + i)
}

/// Reads until `buf` is full or the end of the input; returns the byte count.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::first_nonzero;

    #[test]
    fn first_nonzero_anywhere() {
        assert_eq!(first_nonzero(&[]), None);
        assert_eq!(first_nonzero(&[0u8; 200]), None);
        for at in [0, 1, 63, 64, 65, 127, 128, 199] {
            let mut b = vec![0u8; 200];
            b[at] = 9;
            b[199] = 1;
            assert_eq!(first_nonzero(&b), Some(at), "at {at}");
        }
    }
}
