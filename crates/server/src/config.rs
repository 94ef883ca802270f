//! `zoo.cfg`: the same file Apache ZooKeeper reads. Unknown keys are logged
//! once and ignored; a bad value stops start-up with the file and line.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// A configuration that cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is malformed or has a bad value.
    #[error("{path}:{line}: {message}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A required key is missing or keys contradict each other.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The settings paddock uses.
#[derive(Debug, Clone)]
pub struct Config {
    /// The length of a tick, the unit of session timeouts.
    pub tick_time_ms: u32,
    /// Snapshots (and the log, unless `data_log_dir` is set).
    pub data_dir: PathBuf,
    /// The transaction log.
    pub data_log_dir: PathBuf,
    /// Client port.
    pub client_port: u16,
    /// Address the client port binds.
    pub client_port_address: IpAddr,
    /// Connections allowed from one IP (0: no limit).
    pub max_client_cnxns: usize,
    /// Lower bound of negotiated session timeouts.
    pub min_session_timeout_ms: i32,
    /// Upper bound of negotiated session timeouts.
    pub max_session_timeout_ms: i32,
    /// Four-letter words allowed (`*` means all).
    pub four_letter_whitelist: Vec<String>,
    /// Largest packet accepted (jute.maxbuffer plus header slack).
    pub max_packet_bytes: usize,
    /// fsync the log before acknowledging (never turn off but in tests).
    pub force_sync: bool,
    /// Transactions between snapshots.
    pub snap_count: u64,
    /// `paddock.workerThreads`: threads running connections and the core
    /// (None: [`Config::default_worker_threads`]).
    pub worker_threads: Option<usize>,
    /// `paddock.snapshotOnShutdown` (default yes): a stopping server
    /// writes a snapshot of its tree, so the next start replays no log.
    pub snapshot_on_shutdown: bool,
    /// Snapshots kept by purging.
    pub snap_retain_count: usize,
    /// Hours between purges (0: never).
    pub purge_interval_hours: u32,
    /// Requests in flight per connection before it stops reading.
    pub max_outstanding_per_connection: usize,
    /// `super:<digest>`: the identity that bypasses every ACL.
    pub super_digest: Option<String>,
    /// How often containers and TTL nodes are checked for deletion.
    pub container_check_interval_ms: u64,
    /// Keys seen that paddock does not use (logged at start).
    pub ignored_keys: Vec<String>,
    /// The ensemble (`server.N` lines); empty when standalone.
    pub servers: std::collections::BTreeMap<u64, QuorumPeer>,
    /// This server's id (`<dataDir>/myid`), in an ensemble.
    pub my_id: u64,
    /// Ticks a follower may take to connect to and sync with its leader.
    pub init_limit: u32,
    /// Ticks a synced follower may go unheard.
    pub sync_limit: u32,
}

/// One `server.N=host:quorumPort:electionPort[:participant][;clientPort]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumPeer {
    /// The host peers reach it at.
    pub host: String,
    /// The port of its peer links (ZooKeeper's quorum port).
    pub quorum_port: u16,
    /// ZooKeeper's election port: paddock runs election over the same
    /// link as everything else, so it is checked but not bound.
    pub election_port: u16,
    /// An observer (`:observer`): follows, serves, never votes.
    pub observer: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tick_time_ms: 2000,
            data_dir: PathBuf::from("data"),
            data_log_dir: PathBuf::from("data"),
            client_port: 2181,
            client_port_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            max_client_cnxns: 60,
            min_session_timeout_ms: 4000,
            max_session_timeout_ms: 40000,
            four_letter_whitelist: vec!["srvr".into()],
            max_packet_bytes: proto::frame::DEFAULT_MAX_PACKET_BYTES,
            force_sync: true,
            snap_count: 100_000,
            worker_threads: None,
            snapshot_on_shutdown: true,
            snap_retain_count: 3,
            purge_interval_hours: 0,
            max_outstanding_per_connection: 1000,
            super_digest: None,
            container_check_interval_ms: 60_000,
            ignored_keys: Vec::new(),
            servers: Default::default(),
            my_id: 0,
            init_limit: 10,
            sync_limit: 5,
        }
    }
}

/// Keys ZooKeeper knows that paddock accepts and does not (yet) use.
const KNOWN_UNUSED: &[&str] = &[
    "admin.enableServer",
    "admin.serverPort",
    "admin.serverAddress",
    "metricsProvider.className",
    "metricsProvider.httpPort",
    "preAllocSize",
    "standaloneEnabled",
    "reconfigEnabled",
    "extendedTypesEnabled",
    "secureClientPort",
    "secureClientPortAddress",
    "quorumListenOnAllIPs",
    "electionAlg",
    "localSessionsEnabled",
    "localSessionsUpgradingEnabled",
    "skipACL",
    "audit.enable",
    "syncEnabled",
    "dynamicConfigFile",
    "leaderServes",
    "peerType",
    "connectToLearnerMasterLimit",
    "maxCnxns",
];

/// The folder inside dataDir and dataLogDir that holds paddock's files
/// (ZooKeeper's own files live in `version-2`; the two never mix).
pub const DATA_SUBDIR: &str = "paddock-1";

impl Config {
    /// Worker threads when `paddock.workerThreads` is not set: one fewer
    /// than the CPUs, at least one. Every request passes through the core
    /// (one task) and every write through the commit thread, so more
    /// workers only spread connection I/O, and on a small machine they cost
    /// more in cross-thread wake-ups than they give: on 2 CPUs one worker
    /// did 15-40% more writes per second with 10-30% less CPU per op than
    /// two, standalone and in a 3-node ensemble (BENCHMARKS.md).
    pub fn default_worker_threads() -> usize {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get().saturating_sub(1))
            .max(1)
    }

    /// Snapshots kept when purging after a snapshot: `snap_retain_count`
    /// with autopurge on, else 0 (never purge).
    pub fn purge_retain_count(&self) -> usize {
        if self.purge_interval_hours > 0 {
            self.snap_retain_count
        } else {
            0
        }
    }

    /// The worker threads to run.
    pub fn worker_threads(&self) -> usize {
        self.worker_threads
            .unwrap_or_else(Config::default_worker_threads)
    }

    /// Where snapshots and epoch files go.
    pub fn snap_dir(&self) -> PathBuf {
        self.data_dir.join(DATA_SUBDIR)
    }

    /// Where the transaction log goes.
    pub fn log_dir(&self) -> PathBuf {
        self.data_log_dir.join(DATA_SUBDIR)
    }

    /// Reads and checks a zoo.cfg.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg = Config::parse(path, &text)?;
        cfg.load_my_id(path)?;
        Ok(cfg)
    }

    /// Parses zoo.cfg text; `path` names the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let mut cfg = Config::default();
        let mut data_dir = None;
        let mut data_log_dir = None;
        let mut min_timeout = None;
        let mut max_timeout = None;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |message: String| ConfigError::Line {
                path: path.to_path_buf(),
                line: i + 1,
                message,
            };
            let Some((key, value)) = line.split_once('=') else {
                return Err(err(format!("expected key=value, found {line:?}")));
            };
            let (key, value) = (key.trim(), value.trim());
            match key {
                "tickTime" => cfg.tick_time_ms = parse_num(key, value).map_err(err)?,
                "dataDir" => data_dir = Some(PathBuf::from(value)),
                "dataLogDir" => data_log_dir = Some(PathBuf::from(value)),
                "clientPort" => cfg.client_port = parse_num(key, value).map_err(err)?,
                "clientPortAddress" => {
                    cfg.client_port_address = value.parse().map_err(|_| {
                        err(format!("clientPortAddress {value:?} is not an IP address"))
                    })?
                }
                "maxClientCnxns" => cfg.max_client_cnxns = parse_num(key, value).map_err(err)?,
                "minSessionTimeout" => {
                    min_timeout = Some(parse_num::<i32>(key, value).map_err(err)?)
                }
                "maxSessionTimeout" => {
                    max_timeout = Some(parse_num::<i32>(key, value).map_err(err)?)
                }
                "4lw.commands.whitelist" => {
                    cfg.four_letter_whitelist = value
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                }
                "jute.maxbuffer" => {
                    let n: usize = parse_num(key, value).map_err(err)?;
                    cfg.max_packet_bytes = n + 1024;
                }
                "forceSync" => cfg.force_sync = parse_yes_no(key, value).map_err(err)?,
                "snapCount" => cfg.snap_count = parse_num(key, value).map_err(err)?,
                "paddock.workerThreads" => {
                    let n: usize = parse_num(key, value).map_err(err)?;
                    if n == 0 {
                        return Err(err(format!("{key} must be at least 1")));
                    }
                    cfg.worker_threads = Some(n);
                }
                "paddock.snapshotOnShutdown" => {
                    cfg.snapshot_on_shutdown = parse_yes_no(key, value).map_err(err)?
                }
                "autopurge.snapRetainCount" => {
                    let n: usize = parse_num(key, value).map_err(err)?;
                    cfg.snap_retain_count = n.max(3);
                }
                "autopurge.purgeInterval" => {
                    cfg.purge_interval_hours = parse_num(key, value).map_err(err)?
                }
                "globalOutstandingLimit" => {
                    cfg.max_outstanding_per_connection = parse_num(key, value).map_err(err)?
                }
                "superDigest" | "DigestAuthenticationProvider.superDigest" => {
                    cfg.super_digest = Some(value.to_string())
                }
                "znode.container.checkIntervalMs" => {
                    cfg.container_check_interval_ms = parse_num(key, value).map_err(err)?
                }
                "initLimit" => cfg.init_limit = parse_num(key, value).map_err(err)?,
                "syncLimit" => cfg.sync_limit = parse_num(key, value).map_err(err)?,
                k if k.starts_with("server.") => {
                    let id: u64 = k["server.".len()..]
                        .parse()
                        .map_err(|_| err(format!("{k}: the server id must be a number")))?;
                    let peer = parse_peer(value).map_err(|m| err(format!("{k}: {m}")))?;
                    if cfg.servers.insert(id, peer).is_some() {
                        return Err(err(format!("{k} is given twice")));
                    }
                }
                k if KNOWN_UNUSED.contains(&k)
                    || k.starts_with("group.")
                    || k.starts_with("weight.") =>
                {
                    cfg.ignored_keys.push(k.to_string())
                }
                k => cfg.ignored_keys.push(k.to_string()),
            }
        }
        let Some(data_dir) = data_dir else {
            return Err(ConfigError::File {
                path: path.to_path_buf(),
                message: "dataDir is not set".into(),
            });
        };
        if cfg.tick_time_ms == 0 {
            return Err(ConfigError::File {
                path: path.to_path_buf(),
                message: "tickTime must be positive".into(),
            });
        }
        if cfg.is_ensemble() && cfg.voters().is_empty() {
            return Err(ConfigError::File {
                path: path.to_path_buf(),
                message: "every server.N line is an observer: an ensemble needs voters".into(),
            });
        }
        if cfg.init_limit == 0 || cfg.sync_limit == 0 {
            return Err(ConfigError::File {
                path: path.to_path_buf(),
                message: "initLimit and syncLimit must be positive".into(),
            });
        }
        cfg.data_log_dir = data_log_dir.unwrap_or_else(|| data_dir.clone());
        cfg.data_dir = data_dir;
        cfg.set_timeouts(min_timeout, max_timeout)
            .map_err(|message| ConfigError::File {
                path: path.to_path_buf(),
                message,
            })?;
        Ok(cfg)
    }

    /// Whether this is a member of a replicated ensemble (two or more
    /// `server.N` lines; a single one runs standalone, as ZooKeeper's
    /// `standaloneEnabled` default does).
    pub fn is_ensemble(&self) -> bool {
        self.servers.len() > 1
    }

    /// The voting members' ids.
    pub fn voters(&self) -> Vec<u64> {
        self.servers
            .iter()
            .filter(|(_, p)| !p.observer)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The observers' ids.
    pub fn observers(&self) -> Vec<u64> {
        self.servers
            .iter()
            .filter(|(_, p)| p.observer)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Reads `<dataDir>/myid` for an ensemble member and checks it names
    /// a `server.N` line. `path` is the config file, for errors.
    pub fn load_my_id(&mut self, path: &Path) -> Result<(), ConfigError> {
        if !self.is_ensemble() {
            return Ok(());
        }
        let myid = self.data_dir.join("myid");
        let text = std::fs::read_to_string(&myid).map_err(|source| ConfigError::Read {
            path: myid.clone(),
            source,
        })?;
        let id: u64 = text.trim().parse().map_err(|_| ConfigError::Line {
            path: myid.clone(),
            line: 1,
            message: format!("myid must hold this server's id, found {:?}", text.trim()),
        })?;
        if !self.servers.contains_key(&id) {
            return Err(ConfigError::File {
                path: path.to_path_buf(),
                message: format!(
                    "{} says this is server {id}, but there is no server.{id} line",
                    myid.display()
                ),
            });
        }
        self.my_id = id;
        Ok(())
    }

    /// Applies ZooKeeper's defaults (2 and 20 ticks) to unset (or -1) bounds.
    pub fn set_timeouts(&mut self, min: Option<i32>, max: Option<i32>) -> Result<(), String> {
        let tick = self.tick_time_ms as i32;
        self.min_session_timeout_ms = min.filter(|v| *v >= 0).unwrap_or(2 * tick);
        self.max_session_timeout_ms = max.filter(|v| *v >= 0).unwrap_or(20 * tick);
        if self.min_session_timeout_ms > self.max_session_timeout_ms {
            return Err(format!(
                "minSessionTimeout {} is larger than maxSessionTimeout {}",
                self.min_session_timeout_ms, self.max_session_timeout_ms
            ));
        }
        Ok(())
    }

    /// Whether a four-letter word may run.
    pub fn four_letter_allowed(&self, word: &str) -> bool {
        word == "ruok" && self.four_letter_whitelist.is_empty()
            || self
                .four_letter_whitelist
                .iter()
                .any(|w| w == "*" || w == word)
    }
}

/// `host:quorumPort:electionPort[:participant][;[clientAddress:]clientPort]`.
fn parse_peer(value: &str) -> Result<QuorumPeer, String> {
    let (addr, _client) = value.split_once(';').unwrap_or((value, ""));
    let parts: Vec<&str> = addr.trim().split(':').collect();
    if parts.len() < 3 || parts.len() > 4 {
        return Err(format!(
            "expected host:quorumPort:electionPort[:participant], found {value:?}"
        ));
    }
    let observer = match parts.get(3).copied() {
        None | Some("participant") => false,
        Some("observer") => true,
        Some(t) => return Err(format!("unknown peer type {t:?}")),
    };
    let port = |s: &str, what: &str| {
        s.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("{what} {s:?} is not a port"))
    };
    if parts[0].is_empty() {
        return Err("the host is empty".into());
    }
    Ok(QuorumPeer {
        host: parts[0].to_string(),
        quorum_port: port(parts[1], "quorum port")?,
        election_port: port(parts[2], "election port")?,
        observer,
    })
}

fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{key} = {value:?} is not a valid number"))
}

fn parse_yes_no(key: &str, value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err(format!("{key} = {value:?}: expected yes or no")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_typical_file() {
        let text = "# comment\ntickTime=1000\ndataDir=/tmp/z\nclientPort=2999\ninitLimit=5\nfoo.bar=1\n4lw.commands.whitelist=stat, ruok\n";
        let c = Config::parse(Path::new("zoo.cfg"), text).unwrap();
        assert_eq!(c.tick_time_ms, 1000);
        assert_eq!(c.client_port, 2999);
        assert_eq!(c.data_log_dir, PathBuf::from("/tmp/z"));
        assert_eq!(c.min_session_timeout_ms, 2000);
        assert_eq!(c.max_session_timeout_ms, 20000);
        assert_eq!(c.ignored_keys, vec!["foo.bar"]);
        assert_eq!(c.init_limit, 5);
        assert!(c.four_letter_allowed("ruok"));
        assert!(!c.four_letter_allowed("dump"));
    }

    #[test]
    fn snapshot_on_shutdown_key() {
        let parse = |text: &str| Config::parse(Path::new("zoo.cfg"), text);
        assert!(parse("dataDir=/x\n").unwrap().snapshot_on_shutdown);
        let off = parse("dataDir=/x\npaddock.snapshotOnShutdown=false\n").unwrap();
        assert!(!off.snapshot_on_shutdown);
        let e = parse("dataDir=/x\npaddock.snapshotOnShutdown=maybe\n").unwrap_err();
        assert!(e.to_string().contains("zoo.cfg:2"), "{e}");
    }

    #[test]
    fn worker_threads_key() {
        let c = Config::parse(Path::new("zoo.cfg"), "dataDir=/x\n").unwrap();
        assert_eq!(c.worker_threads, None);
        assert!(c.worker_threads() >= 1);
        let c = Config::parse(
            Path::new("zoo.cfg"),
            "dataDir=/x\npaddock.workerThreads=3\n",
        )
        .unwrap();
        assert_eq!(c.worker_threads(), 3);
        let e = Config::parse(
            Path::new("zoo.cfg"),
            "dataDir=/x\npaddock.workerThreads=0\n",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "zoo.cfg:2: paddock.workerThreads must be at least 1"
        );
    }

    #[test]
    fn bad_value_names_file_and_line() {
        let e = Config::parse(Path::new("zoo.cfg"), "dataDir=/x\nclientPort=abc\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "zoo.cfg:2: clientPort = \"abc\" is not a valid number"
        );
    }

    #[test]
    fn parses_an_ensemble_and_its_myid() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "dataDir={}\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.2:2889:3889:participant;2182\nserver.3=localhost:2890:3890\n",
            dir.path().display()
        );
        let mut c = Config::parse(Path::new("zoo.cfg"), &text).unwrap();
        assert!(c.is_ensemble());
        assert_eq!(c.voters(), vec![1, 2, 3]);
        assert!(c.observers().is_empty());
        let with_observer =
            format!("{text}server.4=127.0.0.1:2891:3891:observer\npeerType=observer\n");
        let o = Config::parse(Path::new("zoo.cfg"), &with_observer).unwrap();
        assert_eq!((o.voters(), o.observers()), (vec![1, 2, 3], vec![4]));
        assert_eq!(c.servers[&2].host, "127.0.0.2");
        assert_eq!(c.servers[&2].quorum_port, 2889);
        let e = c.load_my_id(Path::new("zoo.cfg")).unwrap_err();
        assert!(e.to_string().contains("myid"), "{e}");
        std::fs::write(dir.path().join("myid"), "7\n").unwrap();
        let e = c.load_my_id(Path::new("zoo.cfg")).unwrap_err();
        assert!(e.to_string().contains("no server.7 line"), "{e}");
        std::fs::write(dir.path().join("myid"), "2\n").unwrap();
        c.load_my_id(Path::new("zoo.cfg")).unwrap();
        assert_eq!(c.my_id, 2);
    }

    #[test]
    fn bad_server_lines_name_the_line() {
        for (line, want) in [
            ("server.1=127.0.0.1:2888", "expected host:quorumPort"),
            ("server.x=127.0.0.1:2888:3888", "must be a number"),
            ("server.1=127.0.0.1:0:3888", "not a port"),
            ("server.1=127.0.0.1:2888:3888:witness", "unknown peer type"),
        ] {
            let e =
                Config::parse(Path::new("zoo.cfg"), &format!("dataDir=/x\n{line}\n")).unwrap_err();
            assert!(e.to_string().starts_with("zoo.cfg:2: "), "{e}");
            assert!(e.to_string().contains(want), "{e}");
        }
    }

    #[test]
    fn missing_data_dir_is_an_error() {
        let e = Config::parse(Path::new("z.cfg"), "clientPort=1\n").unwrap_err();
        assert!(e.to_string().contains("dataDir is not set"));
    }
}
