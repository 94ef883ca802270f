//! Small file-system helpers: directory fsync, atomic replace, listing.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Result, StorageError};

/// Creates `dir` (and parents) if missing.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| StorageError::io("create directory", dir, e))
}

/// Makes the directory entries in `dir` (creations, renames, deletions) durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| StorageError::io("open directory", dir, e))?;
    d.sync_all()
        .map_err(|e| StorageError::io("fsync directory", dir, e))
}

/// Replaces `dir/name` with `contents` atomically: write `name.tmp`, fsync it,
/// rename over `name`, fsync the directory. A crash leaves either the old or
/// the new contents, never a mix.
pub fn write_atomic(dir: &Path, name: &str, contents: &[u8]) -> Result<PathBuf> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let mut f = File::create(&tmp).map_err(|e| StorageError::io("create", &tmp, e))?;
    f.write_all(contents)
        .map_err(|e| StorageError::io("write", &tmp, e))?;
    f.sync_all()
        .map_err(|e| StorageError::io("fsync", &tmp, e))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(|e| StorageError::io("rename into place", &path, e))?;
    fsync_dir(dir)?;
    Ok(path)
}

/// Lists the files in `dir` whose names `parse` accepts, sorted by the parsed
/// zxid (ascending). A missing directory lists as empty.
pub fn list_by_zxid(dir: &Path, parse: fn(&str) -> Option<i64>) -> Result<Vec<(i64, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StorageError::io("list directory", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io("list directory", dir, e))?;
        if let Some(zxid) = entry.file_name().to_str().and_then(parse) {
            out.push((zxid, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Removes `path`, treating "already gone" as success.
pub fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(StorageError::io("remove", path, e))
        }
        _ => Ok(()),
    }
}

/// Name of the lock file held by an open [`crate::Storage`].
pub const LOCK_FILE_NAME: &str = "paddock.lock";

/// Takes an exclusive `flock` on `dir/paddock.lock`, held while the returned
/// file is open, so two servers cannot append to the same log.
pub fn lock_dir(dir: &Path) -> Result<File> {
    use std::os::fd::AsRawFd;
    let path = dir.join(LOCK_FILE_NAME);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StorageError::io("create lock file", &path, e))?;
    // SAFETY: flock on a file descriptor we own; it touches no memory.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        return Ok(file);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        return Err(StorageError::Locked { path });
    }
    Err(StorageError::io("lock", &path, e))
}
