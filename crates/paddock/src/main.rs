//! The `paddock` binary: `paddock server [--config zoo.cfg]`.

mod bench;
mod data;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage:
  paddock server [--config PATH]   run a standalone server (zoo.cfg format;
                                   without --config: port 2181, data dir ./data)
  paddock bench --help              load generator (see paddock bench --help)
  paddock data inspect|verify|import  offline tools for data dirs (see paddock data --help)
  paddock version                  print the version";

fn main() -> ExitCode {
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
