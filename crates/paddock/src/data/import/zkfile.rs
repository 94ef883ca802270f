//! What Apache ZooKeeper's snapshot and log files share: jute encoding
//! (big-endian integers, `int`-length-prefixed buffers and strings, -1 for
//! null), the 16-byte `FileHeader`, and Adler-32 checksums.
//!
//! ```text
//! FileHeader   magic int ("ZKSN" snapshots, "ZKLG" logs)
//!              version int (2)
//!              dbid long
//! ```

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

/// `"ZKSN"`: a snapshot.
pub const SNAP_MAGIC: i32 = i32::from_be_bytes(*b"ZKSN");
/// `"ZKLG"`: a transaction log.
pub const LOG_MAGIC: i32 = i32::from_be_bytes(*b"ZKLG");
/// The only file format version ZooKeeper 3.x writes.
pub const FILE_VERSION: i32 = 2;
/// The largest buffer or string accepted (ZooKeeper's `jute.maxbuffer` is
/// far below this).
pub const MAX_FIELD_BYTES: u64 = 256 << 20;
const READ_BUFFER_BYTES: usize = 1 << 20;

/// Adler-32 (`java.util.zip.Adler32`), the checksum of ZooKeeper's files.
#[derive(Debug, Clone, Copy)]
pub struct Adler32 {
    a: u32,
    b: u32,
}

impl Default for Adler32 {
    fn default() -> Self {
        Adler32 { a: 1, b: 0 }
    }
}

impl Adler32 {
    const MOD: u32 = 65_521;
    /// The most bytes summed before a reduction can overflow a u32.
    const NMAX: usize = 5552;

    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(Self::NMAX) {
            for &x in chunk {
                self.a += u32::from(x);
                self.b += self.a;
            }
            self.a %= Self::MOD;
            self.b %= Self::MOD;
        }
    }

    /// The checksum so far.
    pub fn value(&self) -> u32 {
        (self.b << 16) | self.a
    }

    /// The checksum of `bytes`.
    pub fn of(bytes: &[u8]) -> u32 {
        let mut a = Adler32::default();
        a.update(bytes);
        a.value()
    }
}

/// Why a ZooKeeper file could not be read.
#[derive(Debug)]
pub enum ZkError {
    /// An I/O call failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The file ends inside a field.
    Truncated {
        /// The file.
        path: PathBuf,
        /// Where the unfinished field starts.
        offset: u64,
        /// Which field.
        what: &'static str,
    },
    /// A field holds an impossible value, or a checksum does not match.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where the bad field starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for ZkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZkError::Io { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            ZkError::Truncated { path, offset, what } => write!(
                f,
                "{} ends inside the {what} that starts at byte offset {offset}",
                path.display()
            ),
            ZkError::Corrupt {
                path,
                offset,
                reason,
            } => write!(
                f,
                "{} is corrupt at byte offset {offset}: {reason}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ZkError {}

/// The header every ZooKeeper data file starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// [`SNAP_MAGIC`] or [`LOG_MAGIC`].
    pub magic: i32,
    /// The database id (0 for standalone servers).
    pub dbid: i64,
}

/// A jute reader over a file that tracks its byte offset and the Adler-32
/// of everything read so far.
pub struct JuteFile {
    path: PathBuf,
    inner: BufReader<File>,
    offset: u64,
    len: u64,
    adler: Adler32,
}

impl JuteFile {
    /// Opens `path` and reads its header, which must carry `magic`.
    pub fn open(path: &Path, magic: i32) -> Result<(JuteFile, FileHeader), ZkError> {
        let io_err = |source| ZkError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        let mut f = JuteFile {
            path: path.to_path_buf(),
            inner: BufReader::with_capacity(READ_BUFFER_BYTES, file),
            offset: 0,
            len,
            adler: Adler32::default(),
        };
        let found = f.i32("file header")?;
        if found != magic {
            return Err(f.corrupt_at(
                0,
                format!(
                    "the magic is {:?}, expected {:?} (not a ZooKeeper {} file)",
                    String::from_utf8_lossy(&found.to_be_bytes()),
                    String::from_utf8_lossy(&magic.to_be_bytes()),
                    if magic == SNAP_MAGIC {
                        "snapshot"
                    } else {
                        "log"
                    }
                ),
            ));
        }
        let version = f.i32("file header")?;
        if version != FILE_VERSION {
            return Err(f.corrupt_at(4, format!("file format version {version}, expected 2")));
        }
        let dbid = f.i64("file header")?;
        Ok((f, FileHeader { magic, dbid }))
    }

    /// Offset of the next byte to read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes left in the file.
    pub fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.offset)
    }

    /// The Adler-32 of every byte read so far.
    pub fn checksum(&self) -> u32 {
        self.adler.value()
    }

    /// A [`ZkError::Corrupt`] at `offset`.
    pub fn corrupt_at(&self, offset: u64, reason: String) -> ZkError {
        ZkError::Corrupt {
            path: self.path.clone(),
            offset,
            reason,
        }
    }

    /// Fills `buf`; a short read is [`ZkError::Truncated`] at the field's
    /// start (`start`).
    fn exact(&mut self, buf: &mut [u8], start: u64, what: &'static str) -> Result<(), ZkError> {
        let mut n = 0;
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => {
                    return Err(ZkError::Truncated {
                        path: self.path.clone(),
                        offset: start,
                        what,
                    })
                }
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(ZkError::Io {
                        path: self.path.clone(),
                        source,
                    })
                }
            }
        }
        self.adler.update(buf);
        self.offset += buf.len() as u64;
        Ok(())
    }

    /// A jute `byte`.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, ZkError> {
        let mut b = [0u8; 1];
        let start = self.offset;
        self.exact(&mut b, start, what)?;
        Ok(b[0])
    }

    /// A jute `int`.
    pub fn i32(&mut self, what: &'static str) -> Result<i32, ZkError> {
        let mut b = [0u8; 4];
        let start = self.offset;
        self.exact(&mut b, start, what)?;
        Ok(i32::from_be_bytes(b))
    }

    /// A jute `long`.
    pub fn i64(&mut self, what: &'static str) -> Result<i64, ZkError> {
        let mut b = [0u8; 8];
        let start = self.offset;
        self.exact(&mut b, start, what)?;
        Ok(i64::from_be_bytes(b))
    }

    /// A jute `buffer` (null reads as empty). A length beyond the end of
    /// the file is [`ZkError::Truncated`]; a negative or absurd one is
    /// [`ZkError::Corrupt`].
    pub fn buffer(&mut self, what: &'static str) -> Result<Vec<u8>, ZkError> {
        Ok(self.nullable_buffer(what)?.unwrap_or_default())
    }

    /// A jute `buffer`, `None` for null (length -1).
    pub fn nullable_buffer(&mut self, what: &'static str) -> Result<Option<Vec<u8>>, ZkError> {
        let start = self.offset;
        let len = self.i32(what)?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 || len as u64 > MAX_FIELD_BYTES {
            return Err(self.corrupt_at(start, format!("the {what} has length {len}")));
        }
        if len as u64 > self.remaining() {
            return Err(ZkError::Truncated {
                path: self.path.clone(),
                offset: start,
                what,
            });
        }
        let mut v = vec![0u8; len as usize];
        self.exact(&mut v, start, what)?;
        Ok(Some(v))
    }

    /// A jute `ustring` (null reads as empty).
    pub fn string(&mut self, what: &'static str) -> Result<String, ZkError> {
        let start = self.offset;
        let b = self.buffer(what)?;
        String::from_utf8(b).map_err(|_| self.corrupt_at(start, format!("the {what} is not UTF-8")))
    }

    /// A jute vector's element count (null reads as 0), checked against
    /// the bytes left at `min_element_bytes` per element.
    pub fn count(&mut self, what: &'static str, min_element_bytes: u64) -> Result<u64, ZkError> {
        let start = self.offset;
        let n = self.i32(what)?;
        if n == -1 {
            return Ok(0);
        }
        if n < 0 || n as u64 * min_element_bytes > self.remaining() {
            return Err(self.corrupt_at(start, format!("the {what} count {n} is impossible")));
        }
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adler32_known_values() {
        assert_eq!(Adler32::of(b""), 1);
        assert_eq!(Adler32::of(b"Wikipedia"), 0x11e6_0398);
        let big = vec![0xffu8; 100_000];
        let mut split = Adler32::default();
        split.update(&big[..7]);
        split.update(&big[7..]);
        assert_eq!(split.value(), Adler32::of(&big));
        // Reference value from zlib's adler32 of 100000 bytes of 0xff.
        let (mut a, mut b) = (1u64, 0u64);
        for &x in &big {
            a = (a + u64::from(x)) % 65_521;
            b = (b + a) % 65_521;
        }
        assert_eq!(Adler32::of(&big), ((b << 16) | a) as u32);
    }
}
