//! Four-letter words on the client port, with ZooKeeper 3.8's text layouts
//! so existing monitoring (zktop, mntr scrapers) reads them unchanged.

use std::fmt::Write;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use tree::watch::WatchKind;

use crate::core::Core;

/// The version string clients and monitors see.
pub const VERSION: &str = concat!(
    "3.8.4-paddock-",
    env!("CARGO_PKG_VERSION"),
    ", built on paddock"
);

/// Every four-letter word paddock knows.
pub const WORDS: &[&str] = &[
    "ruok", "stat", "srvr", "conf", "cons", "crst", "dump", "envi", "mntr", "wchs", "wchc", "wchp",
    "dirs", "isro", "srst", "gtmk",
];

/// What ZooKeeper answers data words with while it has no quorum.
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

/// `standalone`, `leader` or `follower` (as `srvr` and `mntr` name it).
fn mode(core: &Core) -> &'static str {
    match core
        .ensemble
        .as_ref()
        .map(|e| (e.role, e.zab.is_observer()))
    {
        None => "standalone",
        Some((zab::Role::Leading { .. }, _)) => "leader",
        Some((zab::Role::Following { .. }, true)) => "observer",
        Some((zab::Role::Following { .. }, false)) => "follower",
        Some((zab::Role::Looking, _)) => "looking",
    }
}

/// Whether four bytes at the start of a connection are a four-letter word.
pub fn word_of(prefix: &[u8; 4]) -> Option<&'static str> {
    WORDS.iter().copied().find(|w| w.as_bytes() == prefix)
}

/// Renders a word's reply (whitelist already checked by the caller).
pub fn render(core: &mut Core, word: &str, asker: SocketAddr) -> String {
    if !core.serving()
        && matches!(
            word,
            "srvr" | "stat" | "mntr" | "cons" | "dump" | "wchs" | "wchc" | "wchp"
        )
    {
        return NOT_SERVING.into();
    }
    match word {
        "ruok" => "imok".into(),
        "srvr" => srvr(core, None),
        "stat" => srvr(core, Some(asker)),
        "mntr" => mntr(core),
        "conf" => conf(core),
        "cons" => cons(core, asker),
        "crst" => {
            for c in core.conns.values_mut() {
                c.latency = Default::default();
                c.received = 0;
                c.sent = 0;
            }
            "Connection stats reset.\n".into()
        }
        "srst" => {
            core.stats = Default::default();
            "Server stats reset.\n".into()
        }
        "dump" => dump(core),
        "envi" => envi(core),
        "wchs" => wchs(core),
        "wchc" => wchc(core),
        "wchp" => wchp(core),
        "dirs" => dirs(core),
        "isro" => "rw".into(),
        "gtmk" => "0".into(),
        _ => format!("{word} is not a known command\n"),
    }
}

/// The reply to a word outside `4lw.commands.whitelist`.
pub fn not_allowed(word: &str) -> String {
    format!("{word} is not executed because it is not in the whitelist.\n")
}

fn client_line(out: &mut String, c: &crate::core::Conn) {
    let _ = write!(
        out,
        " /{}[1](queued={},recved={},sent={}",
        c.peer, c.queued, c.received, c.sent
    );
}

/// The line ZooKeeper prints for a connection with no session yet (the
/// four-letter word's own).
fn asker_line(out: &mut String, asker: SocketAddr) {
    let _ = writeln!(out, " /{asker}[0](queued=0,recved=1,sent=0)");
}

fn open_connections(core: &Core) -> usize {
    core.open_connections
        .load(Ordering::Relaxed)
        .max(core.conns.len())
}

fn srvr(core: &Core, clients_and_asker: Option<SocketAddr>) -> String {
    let mut out = format!("Zookeeper version: {VERSION}\n");
    if let Some(asker) = clients_and_asker {
        out.push_str("Clients:\n");
        for c in sorted_conns(core) {
            client_line(&mut out, c);
            out.push_str(")\n");
        }
        asker_line(&mut out, asker);
        out.push('\n');
    }
    let l = &core.stats.latency;
    let _ = write!(
        out,
        "Latency min/avg/max: {}/{:.4}/{}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: {}\nZxid: {:#x}\nMode: {}\nNode count: {}\n",
        l.min_ms,
        l.avg_ms(),
        l.max_ms,
        core.stats.packets_received,
        core.stats.packets_sent,
        open_connections(core),
        core.outstanding(),
        core.tree.last_zxid(),
        mode(core),
        core.tree.node_count(),
    );
    out
}

fn sorted_conns(core: &Core) -> Vec<&crate::core::Conn> {
    let mut v: Vec<&crate::core::Conn> = core.conns.values().collect();
    v.sort_by_key(|c| c.peer);
    v
}

fn mntr(core: &Core) -> String {
    let l = &core.stats.latency;
    let fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0);
    let rows: Vec<(&str, String)> = vec![
        ("zk_version", VERSION.to_string()),
        ("zk_server_state", mode(core).into()),
        (
            "zk_ephemerals_count",
            core.tree.ephemeral_count().to_string(),
        ),
        (
            "zk_num_alive_connections",
            open_connections(core).to_string(),
        ),
        ("zk_avg_latency", format!("{:.4}", l.avg_ms())),
        ("zk_outstanding_requests", core.outstanding().to_string()),
        ("zk_znode_count", core.tree.node_count().to_string()),
        ("zk_global_sessions", core.session_count().to_string()),
        ("zk_packets_sent", core.stats.packets_sent.to_string()),
        (
            "zk_packets_received",
            core.stats.packets_received.to_string(),
        ),
        ("zk_watch_count", core.watches.watch_count().to_string()),
        ("zk_auth_failed_count", core.stats.auth_failed.to_string()),
        ("zk_min_latency", l.min_ms.to_string()),
        ("zk_max_latency", l.max_ms.to_string()),
        ("zk_max_file_descriptor_count", max_fds().to_string()),
        ("zk_open_file_descriptor_count", fds.to_string()),
        (
            "zk_approximate_data_size",
            core.tree.approximate_data_size().to_string(),
        ),
        ("zk_local_sessions", "0".into()),
        ("zk_uptime", core.started.elapsed().as_millis().to_string()),
        (
            "zk_connection_rejected",
            core.stats.connections_rejected.to_string(),
        ),
        ("zk_last_proposal_size", "-1".into()),
        ("zk_digest_mismatches_count", "0".into()),
    ];
    let mut rows = rows;
    if let Some(e) = core.ensemble.as_ref().filter(|_| mode(core) == "leader") {
        let synced = e.zab.synced_followers().len();
        rows.push(("zk_learners", synced.to_string()));
        rows.push(("zk_synced_followers", synced.to_string()));
        rows.push(("zk_synced_non_voting_followers", "0".into()));
    }
    let mut out = String::new();
    for (k, v) in rows {
        let _ = writeln!(out, "{k}\t{v}");
    }
    out
}

fn max_fds() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_string))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn conf(core: &Core) -> String {
    let c = &core.cfg;
    format!(
        "clientPort={}\nsecureClientPort=-1\ndataDir={}\ndataDirSize={}\ndataLogDir={}\ndataLogSize={}\ntickTime={}\nmaxClientCnxns={}\nminSessionTimeout={}\nmaxSessionTimeout={}\nclientPortListenBacklog=-1\nserverId={}\n",
        c.client_port,
        c.snap_dir().display(),
        dir_size(&c.snap_dir()),
        c.log_dir().display(),
        dir_size(&c.log_dir()),
        c.tick_time_ms,
        c.max_client_cnxns,
        c.min_session_timeout_ms,
        c.max_session_timeout_ms,
        c.my_id,
    )
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn cons(core: &Core, asker: SocketAddr) -> String {
    let mut out = String::new();
    for c in sorted_conns(core) {
        client_line(&mut out, c);
        if let Some(sid) = c.session {
            let _ = write!(
                out,
                ",sid={:#x},lop={},est={},to={},lcxid={:#x},lzxid={:#x},lresp={},llat={},minlat={},avglat={},maxlat={}",
                sid,
                c.last_op,
                c.established_ms,
                c.timeout_ms,
                c.last_cxid,
                c.last_zxid,
                c.last_response_ms,
                c.last_latency_ms,
                c.latency.min_ms,
                c.latency.avg_ms() as u64,
                c.latency.max_ms
            );
        }
        out.push_str(")\n");
    }
    asker_line(&mut out, asker);
    out.push('\n');
    out
}

fn dump(core: &Core) -> String {
    let sessions = core.tracker.all();
    let mut buckets: std::collections::BTreeMap<u64, Vec<i64>> = Default::default();
    let now_mono = core.started.elapsed().as_millis() as u64;
    let now_wall = crate::core::wall_ms() as u64;
    for (sid, t) in &sessions {
        // Expiry instants rounded up to the next whole second, on the wall clock.
        let at = now_wall + t.deadline_ms.saturating_sub(now_mono);
        buckets.entry(at.div_ceil(1000)).or_default().push(*sid);
    }
    let mut out = format!(
        "SessionTracker dump:\nSession Sets ({})/({}):\n",
        buckets.len(),
        sessions.len()
    );
    for (secs, sids) in &buckets {
        let _ = writeln!(
            out,
            "{} expire at {}:",
            sids.len(),
            format_date(*secs as i64)
        );
        for sid in sids {
            let _ = writeln!(out, "\t{sid:#x}");
        }
    }
    out.push_str("ephemeral nodes dump:\n");
    let with: Vec<(i64, Vec<String>)> = core
        .tree
        .ephemerals_by_session()
        .into_iter()
        .filter(|(_, e)| !e.is_empty())
        .collect();
    let _ = writeln!(out, "Sessions with Ephemerals ({}):", with.len());
    for (sid, paths) in with {
        let _ = writeln!(out, "{sid:#x}:");
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    out.push_str("Connections dump:\n");
    let _ = writeln!(out, "Connections Sets (1)/({}):", core.conns.len());
    let _ = writeln!(
        out,
        "{} expire at {}:",
        core.conns.len(),
        format_date(now_wall.div_ceil(1000) as i64)
    );
    for c in sorted_conns(core) {
        let _ = writeln!(
            out,
            "\tip: /{} sessionId: {:#x}",
            c.peer,
            c.session.unwrap_or(0)
        );
    }
    out
}

/// Seconds since the epoch as Java's `Date.toString()` in UTC:
/// "Wed Nov 25 05:36:45 UTC 2026".
pub fn format_date(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        year
    )
}

fn envi(core: &Core) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let _ = core;
    format!(
        "Environment:\nzookeeper.version={VERSION}\nhost.name={}\nos.name=Linux\nos.arch={}\nuser.dir={cwd}\npaddock.version={}\n",
        host.trim(),
        std::env::consts::ARCH,
        env!("CARGO_PKG_VERSION")
    )
}

fn session_of(core: &Core, conn: u64) -> i64 {
    core.conns.get(&conn).and_then(|c| c.session).unwrap_or(0)
}

fn wchs(core: &Core) -> String {
    let (watchers, paths, watches) = core.watches.summary(WatchKind::Data);
    format!("{watchers} connections watching {paths} paths\nTotal watches:{watches}\n")
}

fn wchc(core: &Core) -> String {
    let mut out = String::new();
    for (w, paths) in core.watches.by_watcher(WatchKind::Data) {
        let _ = writeln!(out, "{:#x}", session_of(core, w));
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    out.push('\n');
    out
}

fn wchp(core: &Core) -> String {
    let mut out = String::new();
    for (p, ws) in core.watches.by_path(WatchKind::Data) {
        let _ = writeln!(out, "{p}");
        for w in ws {
            let _ = writeln!(out, "\t{:#x}", session_of(core, w));
        }
    }
    out.push('\n');
    out
}

fn dirs(core: &Core) -> String {
    format!(
        "datadir_size: {}\nlogdir_size: {}\n",
        dir_size(&core.cfg.snap_dir()),
        dir_size(&core.cfg.log_dir())
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_read_like_java() {
        assert_eq!(super::format_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(
            super::format_date(1_795_585_005),
            "Wed Nov 25 05:36:45 UTC 2026"
        );
    }
}
