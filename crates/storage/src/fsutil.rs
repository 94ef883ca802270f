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
