//! `paddock bench`: a load generator speaking ZooKeeper's client protocol
//! to any server (paddock or Apache ZooKeeper), and the helpers
//! bench/compare.sh uses.
//!
//! Module map:
//! - [`args`]: the command line.
//! - [`client`]: a raw pipelined connection; requests encoded into one
//!   reused buffer, replies framed in place.
//! - [`workload`]: what each session sends next, per pipeline slot.
//! - [`run`]: the driver: one task per session, warm-up, measured window.
//! - [`pace`]: open loop (`--rate`): the schedule, the paced session.
//! - [`watch`]: the watch fan-out workload (its own sessions and rounds).
//! - [`report`]: HDR histograms, the text table, JSON.
//! - [`procstat`]: CPU seconds and RSS from /proc.
//! - [`ready`]: `wait-ready`, time from exec to serving.
//! - [`plot`]: PNG plots of report.py's summary.

mod args;
mod client;
mod pace;
mod plot;
mod procstat;
mod ready;
mod report;
mod run;
mod watch;
mod workload;

use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use args::{Command, RunOptions, Workload};
use report::Measured;
use run::RunState;
use workload::Plan;

/// Entry point of `paddock bench ARGS`.
pub fn main(args: &[String]) -> ExitCode {
    let cmd = match args::parse(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("paddock bench: {e}\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    let threads = match &cmd {
        Command::Run(o) if o.threads > 0 => o.threads,
        _ => std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("paddock bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cmd {
        Command::Help => {
            println!("{}", args::USAGE);
            ExitCode::SUCCESS
        }
        Command::Run(o) => rt.block_on(run_all(&o)),
        Command::WaitReady(o) => rt.block_on(ready::wait_ready(&o)),
        Command::Plot(o) => plot::main(&o),
    }
}

/// Runs every workload in order, printing each row as it finishes.
async fn run_all(o: &RunOptions) -> ExitCode {
    let epoch_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let base = format!("{}/r{epoch_ms}", o.base);
    let value: Arc<[u8]> = vec![b'x'; o.value_size].into();
    let plan = |workload| Plan {
        workload,
        base: base.clone(),
        value: value.clone(),
        keys: o.keys,
        read_pct: o.read_pct,
        populate_next: Arc::new(AtomicU64::new(0)),
        populate_count: o.count,
        create_until: 0,
        delete_from: None,
        rate: o.rates.get(workload),
    };
    if !o.json {
        println!(
            "{}: {} sessions x depth {}, {} B values, warm-up {:?}, window {:?}{}",
            o.label,
            o.sessions,
            o.depth,
            o.value_size,
            o.warmup,
            o.duration,
            if o.rates.spec.is_empty() {
                String::new()
            } else {
                format!(", offered ops/s {}", o.rates.spec)
            }
        );
        println!("{}", report::table_header());
    }
    if o.connect.len() > 1 && !o.quiet {
        let n = o.connect.len();
        let per = |total: usize| {
            (0..n)
                .map(|i| (total + n - 1 - i) / n)
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join("/")
        };
        eprintln!(
            "{}: sessions round-robin over {n} servers ({}): {} per server; watch: {} \
             watchers per server, the writer on the first",
            o.label,
            o.connect.join(","),
            per(o.sessions),
            per(o.watchers)
        );
    }
    let mut state = RunState::default();
    let mut results: Vec<Measured> = Vec::new();
    let mut failed = false;
    for &w in &o.workloads {
        let result = match w {
            Workload::Watch => watch::run_watch(o, plan(w)).await,
            Workload::Delete => {
                let rate = o.rates.get(w);
                match run::nodes_for_delete(o, plan(Workload::Create), rate, &mut state).await {
                    Ok(()) => run::run_delete(o, plan(w), &mut state).await,
                    Err(e) => Err(e),
                }
            }
            _ => run::run_workload(o, plan(w), &mut state, true).await,
        };
        match result {
            Ok(m) => {
                if let Some(warning) = report::behind_warning(&m) {
                    eprintln!("paddock bench: {}: WARNING: {warning}", o.label);
                }
                if !o.json {
                    println!("{}", report::table_row(&m));
                }
                results.push(m);
            }
            Err(e) => {
                eprintln!("paddock bench: {w}: {e}");
                failed = true;
            }
        }
    }
    if o.json {
        println!("{}", report::json(o, &results));
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
