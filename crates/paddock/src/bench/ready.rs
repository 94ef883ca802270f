//! `paddock bench wait-ready`: polls a starting server until it serves, and
//! prints how long that took since a given wall-clock instant (the moment
//! the caller exec'd the server).
//!
//! "Serving" means both: `ruok` answers `imok`, and a new session can be
//! opened and answers `exists /` (ZooKeeper answers `ruok` before it has
//! loaded its database).
//!
//! With several addresses (an ensemble's client ports), the ensemble serves
//! when every server answers `srvr` with `Mode: leader` or `Mode: follower`,
//! exactly one of them is the leader, and then every one serves as above.

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

/// The `Mode:` a server reports in `srvr`, or why there is none.
async fn mode(addr: &str) -> Result<String, String> {
    match tokio::time::timeout(PROBE_DEADLINE, client::four_letter(addr, b"srvr")).await {
        Err(_) => Err("srvr timed out".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(answer)) => {
            let answer = String::from_utf8_lossy(&answer);
            match client::srvr_mode(&answer) {
                Some(m) => Ok(m.to_string()),
                None => Err(format!("no Mode line in {:?}", answer.trim())),
            }
        }
    }
}

/// Whether the ensemble at `addrs` serves now; `Err` says what is missing.
async fn ensemble_serving(addrs: &[String]) -> Result<(), String> {
    let modes = on_each(addrs, |a| async move { mode(&a).await }).await;
    let mut leaders = 0;
    let mut problems = Vec::new();
    for (addr, m) in addrs.iter().zip(&modes) {
        match m.as_ref().map(|r| r.as_deref()) {
            None => problems.push(format!("{addr}: the probe failed")),
            Some(Ok("leader")) => leaders += 1,
            Some(Ok("follower")) => {}
            Some(Ok(other)) => problems.push(format!("{addr}: Mode: {other}")),
            Some(Err(e)) => problems.push(format!("{addr}: {e}")),
        }
    }
    if problems.is_empty() && leaders != 1 {
        problems.push(format!("{leaders} leaders"));
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let up = on_each(addrs, |a| async move { serving(&a).await }).await;
    match addrs.iter().zip(&up).find(|(_, ok)| **ok != Some(true)) {
        Some((addr, _)) => Err(format!("{addr}: no session answers yet")),
        None => Ok(()),
    }
}

/// Runs `probe` on every address at once; the results in order.
async fn on_each<T, F>(addrs: &[String], probe: fn(String) -> F) -> Vec<Option<T>>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let tasks: Vec<_> = addrs
        .iter()
        .map(|a| tokio::spawn(probe(a.clone())))
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.ok());
    }
    out
}

/// Runs `wait-ready`: prints `ready_ms=N` on success.
pub async fn wait_ready(o: &WaitOptions) -> ExitCode {
    let since = o.since_epoch.unwrap_or_else(now_epoch_s);
    let give_up = std::time::Instant::now() + o.deadline;
    let what = o.connect.join(",");
    loop {
        let state = if o.connect.len() == 1 {
            if serving(&o.connect[0]).await {
                Ok(())
            } else {
                Err("not serving".to_string())
            }
        } else {
            ensemble_serving(&o.connect).await
        };
        let why = match state {
            Ok(()) => {
                println!("ready_ms={:.3}", (now_epoch_s() - since) * 1000.0);
                return ExitCode::SUCCESS;
            }
            Err(why) => why,
        };
        if let Some(pid) = o.pids.iter().copied().find(|&p| !procstat::alive(p)) {
            eprintln!("paddock bench wait-ready: process {pid} exited before serving");
            return ExitCode::FAILURE;
        }
        if std::time::Instant::now() >= give_up {
            if o.connect.len() == 1 {
                eprintln!(
                    "paddock bench wait-ready: {what} not serving after {:?}",
                    o.deadline
                );
            } else {
                eprintln!(
                    "paddock bench wait-ready: ensemble {what} not serving after {:?}: {why}",
                    o.deadline
                );
            }
            return ExitCode::FAILURE;
        }
        tokio::time::sleep(o.interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::client::srvr_mode;

    #[test]
    fn srvr_mode_line() {
        let answer = "Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\n\
                      Connections: 1\nMode: follower\nNode count: 5\n";
        assert_eq!(srvr_mode(answer), Some("follower"));
        assert_eq!(srvr_mode("Mode: leader"), Some("leader"));
        assert_eq!(
            srvr_mode("This ZooKeeper instance is not currently serving"),
            None
        );
    }
}
