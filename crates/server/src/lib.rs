//! paddock-server: the standalone ZooKeeper-compatible server.
//!
//! Module map:
//! - [`config`]: `zoo.cfg` parsing.
//! - [`connection`]: one task per client connection (framing, handshake,
//!   decoding, four-letter words, back-pressure).
//! - [`core`]: the single owner of tree, sessions and watches; the request
//!   pipeline prepare -> commit -> apply -> events + reply.
//! - [`commit`]: the thread that owns the log (group commit, snapshots).
//! - [`ensemble`], [`quorum`]: a replicated ensemble's ZAB driver and
//!   peer links (`server.N` lines in zoo.cfg).
//! - [`sessions`], [`stats`], [`fourlw`]: supporting pieces.
//!
//! Start-up: recover (newest valid snapshot + log replay), then serve.
#![deny(missing_docs)]

pub mod commit;
pub mod config;
pub mod connection;
pub mod core;
pub mod ensemble;
pub mod fourlw;
pub mod quorum;
pub mod sessions;
pub mod stats;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub use config::{Config, ConfigError};

/// Why the server could not start or had to stop.
#[derive(Debug, Error)]
pub enum ServerError {
    /// The data or log directory could not be recovered.
    #[error("storage: {0}")]
    Storage(#[from] storage::StorageError),
    /// A snapshot or logged txn could not be decoded.
    #[error("recovery: {0}")]
    Recovery(String),
    /// The client port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The quorum port could not be bound.
    #[error("cannot listen for peers on {addr}: {source}")]
    BindQuorum {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The storage failed while serving.
    #[error("storage failed while serving: {0}")]
    Fatal(String),
}

/// Recovers the tree: newest valid snapshot, then every logged txn after it.
fn recover(cfg: &Config) -> Result<(storage::Storage, tree::DataTree, i64), ServerError> {
    let started = Instant::now();
    let mut opts = storage::StorageOptions::new(cfg.snap_dir(), cfg.log_dir());
    opts.force_sync = cfg.force_sync;
    // The snapshot is decoded as it is read and each logged txn applied
    // as it is read: nothing is held in memory as bytes.
    let (storage, recovered) = storage::Storage::open_with(
        opts,
        &mut |r| tree::DataTree::deserialize(r).map_err(|e| e.to_string()),
        &mut tree::DataTree::new,
        &mut |tree, _zxid, bytes| {
            let entry = proto::txn::TxnEntry::decode(&bytes).map_err(|e| e.to_string())?;
            // Nobody watches yet: no events to make.
            tree.apply_with(&entry, false);
            Ok(())
        },
    )?;
    let replayed = recovered.replayed;
    let tree = recovered.state;
    let last_zxid = recovered.last_zxid.max(tree.last_zxid());
    tracing::info!(
        "recovered {} znodes, {} sessions, last zxid {:#x} ({} txns replayed) in {} ms",
        tree.node_count(),
        tree.sessions().len(),
        last_zxid,
        replayed,
        started.elapsed().as_millis()
    );
    Ok((storage, tree, last_zxid))
}

/// This member's ZAB state from its epoch files and recovered log.
fn zab_for(cfg: &Config, last_zxid: i64) -> Result<zab::Zab, ServerError> {
    let dir = cfg.snap_dir();
    let logged_epoch = zab::epoch_of(last_zxid);
    let current = storage::read_epoch(&dir, storage::EpochFile::Current)?.unwrap_or(logged_epoch);
    let accepted = storage::read_epoch(&dir, storage::EpochFile::Accepted)?.unwrap_or(current);
    if current < logged_epoch {
        return Err(ServerError::Recovery(format!(
            "{} says epoch {current}, but the log holds zxid {last_zxid:#x} of epoch {logged_epoch}",
            storage::EpochFile::Current.path(&dir).display()
        )));
    }
    tracing::info!(
        "server {} of {}: accepted epoch {accepted}, current epoch {current}, last zxid {last_zxid:#x}",
        cfg.my_id,
        cfg.servers.len()
    );
    let mut zcfg = zab::ZabConfig::new(
        cfg.my_id,
        cfg.voters(),
        cfg.tick_time_ms as u64,
        cfg.init_limit as u64,
        cfg.sync_limit as u64,
    );
    zcfg.observers = cfg.observers();
    Ok(zab::Zab::new(
        zcfg,
        zab::Persisted {
            accepted_epoch: accepted,
            current_epoch: current,
            last_zxid,
        },
    ))
}

/// A bound, recovered server, ready to run.
pub struct Server {
    listener: TcpListener,
    cfg: Arc<Config>,
    core_tx: mpsc::Sender<core::CoreMsg>,
    core: tokio::task::JoinHandle<Result<(), String>>,
    open_connections: Arc<AtomicUsize>,
}

impl Server {
    /// Recovers the data dir and binds the client port.
    pub async fn bind(cfg: Config) -> Result<Server, ServerError> {
        for key in &cfg.ignored_keys {
            tracing::info!("zoo.cfg key {key} is not used by paddock; ignored");
        }
        let cfg = Arc::new(cfg);
        // The quorum port is bound before the (possibly long) recovery, so
        // that peers dialing in meanwhile wait in its backlog instead of
        // being refused and redialing a REDIAL later: an ensemble restarted
        // at once elects as soon as its members have loaded.
        let quorum_listener = if cfg.is_ensemble() {
            let listener = quorum::bind(&cfg).await.map_err(|source| {
                let me = &cfg.servers[&cfg.my_id];
                ServerError::BindQuorum {
                    addr: format!("{}:{}", me.host, me.quorum_port),
                    source,
                }
            })?;
            Some(listener)
        } else {
            None
        };
        let (storage, tree, last_zxid) = recover(&cfg)?;
        let addr = SocketAddr::new(cfg.client_port_address, cfg.client_port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        let (core_tx, core_rx) = mpsc::channel(16 * 1024);
        let commit = commit::spawn(
            storage,
            commit::SnapshotPolicy {
                data_dir: cfg.snap_dir(),
                data_log_dir: cfg.log_dir(),
                retain_count: cfg.purge_retain_count(),
            },
            core_tx.clone(),
        );
        let ensemble = match quorum_listener {
            Some(listener) => {
                let zab = zab_for(&cfg, last_zxid)?;
                quorum::spawn(listener, cfg.clone(), core_tx.clone());
                Some(ensemble::Ensemble::new(zab))
            }
            None => None,
        };
        let core = core::Core::new(cfg.clone(), tree, last_zxid, commit, ensemble);
        let open_connections = core.open_connections.clone();
        let core = tokio::spawn(core.run(core_rx));
        Ok(Server {
            listener,
            cfg,
            core_tx,
            core,
            open_connections,
        })
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Serves until `shutdown` completes or the storage fails.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), ServerError> {
        let Server {
            listener,
            cfg,
            core_tx,
            mut core,
            open_connections,
        } = self;
        tracing::info!(
            "serving clients on {}",
            listener.local_addr().map_err(|source| ServerError::Bind {
                addr: SocketAddr::new(cfg.client_port_address, cfg.client_port),
                source
            })?
        );
        let ticker = tokio::spawn(tick(core_tx.clone(), cfg.tick_time_ms, cfg.is_ensemble()));
        let per_ip: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
        let mut next_conn: u64 = 1;
        tokio::pin!(shutdown);
        let result = loop {
            tokio::select! {
                _ = &mut shutdown => {
                    // The core writes its shutdown snapshot and ends.
                    let _ = core_tx.send(core::CoreMsg::Shutdown).await;
                    break core_result((&mut core).await);
                }
                r = &mut core => break core_result(r),
                accepted = listener.accept() => {
                    let Ok((stream, peer)) = accepted else { continue };
                    if !admit(&per_ip, peer.ip(), cfg.max_client_cnxns) {
                        tracing::warn!("too many connections from {}: limit is {}", peer.ip(), cfg.max_client_cnxns);
                        continue;
                    }
                    let conn = next_conn;
                    next_conn += 1;
                    let (core_tx, cfg, per_ip) = (core_tx.clone(), cfg.clone(), per_ip.clone());
                    let open = open_connections.clone();
                    open.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(async move {
                        connection::serve(stream, conn, peer, core_tx, cfg).await;
                        release(&per_ip, peer.ip());
                        open.fetch_sub(1, Ordering::Relaxed);
                    });
                }
            }
        };
        ticker.abort();
        result
    }
}

/// What the core task's end means for the server.
fn core_result(r: Result<Result<(), String>, tokio::task::JoinError>) -> Result<(), ServerError> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ServerError::Fatal(e)),
        Err(e) => Err(ServerError::Fatal(format!("core task: {e}"))),
    }
}

fn admit(per_ip: &Mutex<HashMap<IpAddr, usize>>, ip: IpAddr, max: usize) -> bool {
    let mut map = per_ip.lock().expect("per-ip map lock");
    let n = map.entry(ip).or_insert(0);
    if max > 0 && *n >= max {
        return false;
    }
    *n += 1;
    true
}

fn release(per_ip: &Mutex<HashMap<IpAddr, usize>>, ip: IpAddr) {
    let mut map = per_ip.lock().expect("per-ip map lock");
    if let Some(n) = map.get_mut(&ip) {
        *n -= 1;
        if *n == 0 {
            map.remove(&ip);
        }
    }
}

async fn tick(core: mpsc::Sender<core::CoreMsg>, tick_time_ms: u32, ensemble: bool) {
    // ZAB's timers (election's finalize wait, pings every half tick) need
    // a finer clock than session expiry.
    let max = if ensemble { 50 } else { 1000 };
    let period = Duration::from_millis((tick_time_ms / 2).clamp(10, max) as u64);
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if core.send(core::CoreMsg::Tick).await.is_err() {
            return;
        }
    }
}
