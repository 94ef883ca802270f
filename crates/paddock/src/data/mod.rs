//! `paddock data`: offline tools for a paddock data directory and for
//! Apache ZooKeeper's.
//!
//! - `inspect` ([`inspect`]): print log segments and snapshots (paddock's or
//!   ZooKeeper's) human-readably, like ZooKeeper's `LogFormatter` and
//!   `SnapshotFormatter`.
//! - `verify` ([`verify`]): check a data dir read-only (checksums, zxid
//!   continuity, txn decoding, replay from the newest valid snapshot).
//! - `import` ([`import`]): turn a ZooKeeper 3.4–3.9 data dir into a paddock
//!   one (newest valid snapshot plus the log after it).
//!
//! None of these takes the storage lock or writes to the source: they can
//! run next to a live server (the result then describes a moment that may
//! already be past).

mod fmt;
mod import;
mod inspect;
mod progress;
mod verify;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage:
  paddock data inspect <file|dir>
      print a log segment or snapshot (paddock's, or Apache ZooKeeper's
      log.* / snapshot.*); for a dir, every such file in zxid order
  paddock data verify <dataDir> [<dataLogDir>]
      check checksums, zxid continuity, txn decoding and replay, read-only;
      exits 1 naming the file and byte offset of the first problem
  paddock data import <zookeeper dataDir> [--log-dir <zookeeper dataLogDir>] --to <paddock dataDir>
      build a paddock data dir from Apache ZooKeeper 3.4-3.9 snapshots and logs
      (the target must be empty or absent)";

/// Runs `paddock data <args>`.
pub fn main(args: &[String]) -> ExitCode {
    let result = match args.first().map(String::as_str) {
        Some("inspect") => inspect::main(&args[1..]),
        Some("verify") => verify::main(&args[1..]),
        Some("import") => import::main(&args[1..]),
        Some("--help") | Some("-h") | Some("help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => Err(Failure::Usage),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage) => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(msg)) => {
            eprintln!("paddock data: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// How a subcommand failed.
#[derive(Debug)]
enum Failure {
    /// Bad arguments: print the usage, exit 2.
    Usage,
    /// A problem with the data, or I/O: print it, exit 1.
    Failed(String),
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Failed(e.to_string())
    }
}

type Result<T = (), E = Failure> = std::result::Result<T, E>;

/// `dir/<sub>` if that is a directory, else `dir` itself: lets the tools
/// take either a configured dataDir or the versioned dir inside it
/// (`paddock-1`, ZooKeeper's `version-2`).
fn versioned_dir(dir: &Path, sub: &str) -> PathBuf {
    let inner = dir.join(sub);
    if inner.is_dir() {
        inner
    } else {
        dir.to_path_buf()
    }
}
