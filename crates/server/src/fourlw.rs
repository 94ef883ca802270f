//! Four-letter words on the client port, with ZooKeeper 3.8's text layouts
//! so existing monitoring (zktop, mntr scrapers) reads them unchanged.

use std::fmt::Write;

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

/// Whether four bytes at the start of a connection are a four-letter word.
pub fn word_of(prefix: &[u8; 4]) -> Option<&'static str> {
    WORDS.iter().copied().find(|w| w.as_bytes() == prefix)
}

/// Renders a word's reply (whitelist already checked by the caller).
pub fn render(core: &mut Core, word: &str) -> String {
    match word {
        "ruok" => "imok".into(),
        "srvr" => srvr(core, false),
        "stat" => srvr(core, true),
        "mntr" => mntr(core),
        "conf" => conf(core),
        "cons" => cons(core),
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

fn srvr(core: &Core, with_clients: bool) -> String {
    let mut out = format!("Zookeeper version: {VERSION}\n");
    if with_clients {
        out.push_str("Clients:\n");
        for c in sorted_conns(core) {
            client_line(&mut out, c);
            out.push_str(")\n");
        }
        out.push('\n');
    }
    let l = &core.stats.latency;
    let _ = write!(
        out,
        "Latency min/avg/max: {}/{:.4}/{}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: {}\nZxid: {:#x}\nMode: standalone\nNode count: {}\n",
        l.min_ms,
        l.avg_ms(),
        l.max_ms,
        core.stats.packets_received,
        core.stats.packets_sent,
        core.conns.len(),
        core.outstanding(),
        core.tree.last_zxid(),
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
        ("zk_server_state", "standalone".into()),
        (
            "zk_ephemerals_count",
            core.tree.ephemeral_count().to_string(),
        ),
        ("zk_num_alive_connections", core.conns.len().to_string()),
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
        "clientPort={}\nsecureClientPort=-1\ndataDir={}\ndataDirSize={}\ndataLogDir={}\ndataLogSize={}\ntickTime={}\nmaxClientCnxns={}\nminSessionTimeout={}\nmaxSessionTimeout={}\nclientPortListenBacklog=-1\nserverId=0\n",
        c.client_port,
        c.data_dir.display(),
        dir_size(&c.data_dir),
        c.data_log_dir.display(),
        dir_size(&c.data_log_dir),
        c.tick_time_ms,
        c.max_client_cnxns,
        c.min_session_timeout_ms,
        c.max_session_timeout_ms,
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

fn cons(core: &Core) -> String {
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
    out.push('\n');
    out
}

fn dump(core: &Core) -> String {
    let sessions = core.tracker.all();
    let mut out = format!(
        "SessionTracker dump:\nGlobal Sessions({}):\n",
        sessions.len()
    );
    for (sid, t) in &sessions {
        let _ = writeln!(out, "{sid:#x}\t{}ms", t.timeout_ms);
    }
    out.push_str("ephemeral nodes dump:\n");
    let with: Vec<(i64, Vec<String>)> = sessions
        .iter()
        .map(|(sid, _)| (*sid, core.tree.ephemerals_of(*sid)))
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
    format!(
        "{} connections watching {} paths\nTotal watches:{}\n",
        core.watches.watcher_count(),
        core.watches.path_count(),
        core.watches.watch_count()
    )
}

fn wchc(core: &Core) -> String {
    let mut out = String::new();
    for (w, paths) in core.watches.by_watcher() {
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
    for (p, ws) in core.watches.by_path() {
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
        dir_size(&core.cfg.data_dir),
        dir_size(&core.cfg.data_log_dir)
    )
}
