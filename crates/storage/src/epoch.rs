//! The ZAB epoch files `acceptedEpoch` and `currentEpoch`: the epoch in ASCII
//! decimal plus `\n`, replaced atomically (temp file, fsync, rename, directory
//! fsync) so a crash leaves the old or the new value, never a torn one.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Result, StorageError};
use crate::fsutil;

/// Longest epoch file accepted (an i64 in decimal plus a newline fits easily).
const MAX_EPOCH_FILE_BYTES: u64 = 64;

/// Which epoch file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochFile {
    /// `acceptedEpoch`: the epoch of the last NEWEPOCH this peer accepted.
    Accepted,
    /// `currentEpoch`: the epoch of the last NEWLEADER this peer acknowledged.
    Current,
}

impl EpochFile {
    /// The file name, as ZooKeeper names it.
    pub fn file_name(self) -> &'static str {
        match self {
            EpochFile::Accepted => "acceptedEpoch",
            EpochFile::Current => "currentEpoch",
        }
    }

    /// The file's path inside `dir`.
    pub fn path(self, dir: &Path) -> PathBuf {
        dir.join(self.file_name())
    }
}

/// Reads an epoch file. `Ok(None)` if it does not exist.
pub fn read_epoch(dir: &Path, which: EpochFile) -> Result<Option<i64>> {
    let path = which.path(dir);
    let len = match fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io("stat", path, e)),
    };
    let bad = |reason: String| StorageError::BadEpoch {
        path: path.clone(),
        reason,
    };
    if len > MAX_EPOCH_FILE_BYTES {
        return Err(bad(format!(
            "it is {len} bytes long, more than the {MAX_EPOCH_FILE_BYTES} allowed"
        )));
    }
    let text = fs::read(&path).map_err(|e| StorageError::io("read", &path, e))?;
    let text = std::str::from_utf8(&text).map_err(|_| bad("it is not text".to_string()))?;
    let value = text.trim_end_matches('\n');
    value
        .parse::<i64>()
        .map(Some)
        .map_err(|_| bad(format!("{value:?} is not a decimal integer")))
}

/// Writes an epoch file atomically and durably.
pub fn write_epoch(dir: &Path, which: EpochFile, epoch: i64) -> Result<()> {
    fsutil::ensure_dir(dir)?;
    fsutil::write_atomic(dir, which.file_name(), format!("{epoch}\n").as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_epoch(dir.path(), EpochFile::Current).unwrap(), None);
    }

    #[test]
    fn write_then_read_and_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        write_epoch(dir.path(), EpochFile::Accepted, 7).unwrap();
        write_epoch(dir.path(), EpochFile::Current, 6).unwrap();
        write_epoch(dir.path(), EpochFile::Accepted, 8).unwrap();
        assert_eq!(
            read_epoch(dir.path(), EpochFile::Accepted).unwrap(),
            Some(8)
        );
        assert_eq!(read_epoch(dir.path(), EpochFile::Current).unwrap(), Some(6));
        assert_eq!(
            fs::read_to_string(dir.path().join("acceptedEpoch")).unwrap(),
            "8\n"
        );
        assert!(!dir.path().join("acceptedEpoch.tmp").exists());
    }

    #[test]
    fn zookeeper_style_file_without_newline_is_read() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("currentEpoch"), "12").unwrap();
        assert_eq!(
            read_epoch(dir.path(), EpochFile::Current).unwrap(),
            Some(12)
        );
    }

    #[test]
    fn garbage_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("currentEpoch"), "1x2\n").unwrap();
        let err = read_epoch(dir.path(), EpochFile::Current)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("currentEpoch") && err.contains("not a decimal"),
            "{err}"
        );
        fs::write(dir.path().join("currentEpoch"), "").unwrap();
        assert!(read_epoch(dir.path(), EpochFile::Current).is_err());
    }

    #[test]
    fn interrupted_write_leaves_old_value() {
        let dir = tempfile::tempdir().unwrap();
        write_epoch(dir.path(), EpochFile::Current, 3).unwrap();
        // A crash between creating the temp file and the rename leaves the temp file behind.
        fs::write(dir.path().join("currentEpoch.tmp"), "4").unwrap();
        assert_eq!(read_epoch(dir.path(), EpochFile::Current).unwrap(), Some(3));
        write_epoch(dir.path(), EpochFile::Current, 5).unwrap();
        assert_eq!(read_epoch(dir.path(), EpochFile::Current).unwrap(), Some(5));
    }
}
