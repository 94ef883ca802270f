//! The `paddock` binary: `paddock server [--config zoo.cfg]`.

mod bench;
mod data;

use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc: the server allocates and frees small buffers per request on
/// several threads (connection tasks, the core, the commit thread). With
/// glibc's malloc a 3-node ensemble spent ~15% of its CPU in `_int_malloc`,
/// `malloc_consolidate` and `_int_free`; with mimalloc the servers' CPU per
/// write fell by 12-40% (BENCHMARKS.md). Tuned in [`tune_allocator`].
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3.3's `mi_option_e` (the crate
/// versions are pinned in Cargo.toml, so the index cannot move under us).
const MI_OPTION_PURGE_DELAY: libc::c_int = 15;

/// Memory settings for a server that must stay small:
/// - no transparent huge pages (the `no_thp` build stops mimalloc asking
///   for them; the prctl covers kernels set to `always`): with them, RSS
///   grows in 2 MiB steps and a 100,000-znode server peaked at 72 MiB
///   instead of 36 MiB;
/// - freed memory goes back to the kernel after 10 ms instead of
///   mimalloc 3's default 1 s (peak while populating 100,000 znodes:
///   40 MiB instead of 52 MiB; CPU per op within run-to-run noise).
fn tune_allocator() {
    // SAFETY: plain integer arguments; PR_SET_THP_DISABLE only sets a flag
    // of this process.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    // SAFETY: sets one of mimalloc's integer options.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10);
    }
}

const USAGE: &str = "usage:
  paddock server [--config PATH]   run a standalone server (zoo.cfg format;
                                   without --config: port 2181, data dir ./data)
  paddock bench --help              load generator (see paddock bench --help)
  paddock data inspect|verify|import  offline tools for data dirs (see paddock data --help)
  paddock version                  print the version";

fn main() -> ExitCode {
    tune_allocator();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PADDOCK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("server") => server(&args[1..]),
        Some("bench") => bench::main(&args[1..]),
        Some("data") => data::main(&args[1..]),
        Some("version") | Some("--version") => {
            println!("paddock {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn server(args: &[String]) -> ExitCode {
    let cfg = match args {
        [] => server::Config {
            data_dir: PathBuf::from("data"),
            data_log_dir: PathBuf::from("data"),
            ..Default::default()
        },
        [flag, path] if flag == "--config" => match server::Config::load(&PathBuf::from(path)) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("paddock: {e}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.worker_threads())
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("paddock: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        let server = server::Server::bind(cfg).await?;
        server.run(shutdown_signal()).await
    });
    match result {
        Ok(()) => {
            tracing::info!("shut down");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("paddock: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupt: shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use super::MI_OPTION_PURGE_DELAY;

    #[test]
    fn the_purge_delay_option_is_where_we_set_it() {
        // mimalloc 3.3 defaults purge_delay to 1000 ms: the index names that
        // option (a different mimalloc would trip this before the server
        // tuned the wrong one). Then our setting reads back.
        // SAFETY: reads and sets an integer option.
        unsafe {
            assert_eq!(libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY), 1000);
            super::tune_allocator();
            assert_eq!(libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY), 10);
        }
    }
}
