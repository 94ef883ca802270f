//! `paddock bench wait-ready`: polls a starting server until it serves, and
//! prints how long that took since a given wall-clock instant (the moment
//! the caller exec'd the server).
//!
//! "Serving" means both: `ruok` answers `imok`, and a new session can be
//! opened and answers `exists /` (ZooKeeper answers `ruok` before it has
//! loaded its database).

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::args::WaitOptions;
use super::client::{self, Conn};
use super::procstat;

/// How long one probe may take.
const PROBE_DEADLINE: Duration = Duration::from_secs(2);

fn now_epoch_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Whether the server at `addr` serves now.
async fn serving(addr: &str) -> bool {
    let probe = async {
        if !client::ruok(addr).await.ok()? {
            return None;
        }
        let mut conn = Conn::connect(addr, 10_000).await.ok()?;
        let xid = conn.out.exists("/", false);
        let err = conn.call(xid).await.ok()?;
        conn.close(PROBE_DEADLINE).await;
        Some(err == 0)
    };
    matches!(
        tokio::time::timeout(PROBE_DEADLINE, probe).await,
        Ok(Some(true))
    )
}

/// Runs `wait-ready`: prints `ready_ms=N` on success.
pub async fn wait_ready(o: &WaitOptions) -> ExitCode {
    let since = o.since_epoch.unwrap_or_else(now_epoch_s);
    let give_up = std::time::Instant::now() + o.deadline;
    loop {
        if serving(&o.connect).await {
            println!("ready_ms={:.3}", (now_epoch_s() - since) * 1000.0);
            return ExitCode::SUCCESS;
        }
        if let Some(pid) = o.pid.filter(|&p| !procstat::alive(p)) {
            eprintln!("paddock bench wait-ready: process {pid} exited before serving");
            return ExitCode::FAILURE;
        }
        if std::time::Instant::now() >= give_up {
            eprintln!(
                "paddock bench wait-ready: {} not serving after {:?}",
                o.connect, o.deadline
            );
            return ExitCode::FAILURE;
        }
        tokio::time::sleep(o.interval).await;
    }
}
