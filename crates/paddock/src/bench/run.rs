//! The driver: prepares a workload, runs one task per session, times the
//! warm-up and the measured window, and merges what the sessions saw.
//!
//! A reply counts in the window when it arrives while the phase is
//! [`Phase::Measure`]; the server's and this process's CPU time are read at
//! the two phase changes that bound the window. Sessions run closed-loop
//! ([`run_session`]: a new request as each reply comes back) or, with a
//! rate, open-loop on a schedule ([`pace::run_paced_session`]).

use std::collections::VecDeque;
use std::io::{self, IsTerminal, Write as _};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::args::{RunOptions, Workload};
use super::client::Conn;
use super::pace::{self, Schedule};
use super::procstat;
use super::report::{Measured, Tally};
use super::workload::{self, Gen, Plan, Tag};

/// How long closing a session may take.
pub const CLOSE_DEADLINE: Duration = Duration::from_secs(5);
/// ZooKeeper's NodeExists error code.
const NODE_EXISTS: i32 = -110;
/// Requests in flight while preparing parents and keys.
const PREPARE_DEPTH: usize = 64;

/// Where a workload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Replies do not count yet.
    Warmup = 0,
    /// Replies count.
    Measure = 1,
    /// Sessions send nothing new, drain, and close.
    Stop = 2,
}

/// State shared by the driver and the session tasks of one workload.
pub struct Control {
    phase: AtomicU8,
    /// Replies so far, any phase (for the progress line).
    pub replies: AtomicU64,
    /// Failed replies so far, any phase.
    pub failures: AtomicU64,
    /// Signalled when a session runs out of work before the window ends.
    pub ran_out: Notify,
    /// Wakes every waiter when the phase becomes [`Phase::Stop`].
    pub stopped: Notify,
}

impl Control {
    /// A control starting in `phase`.
    pub fn new(phase: Phase) -> Control {
        Control {
            phase: AtomicU8::new(phase as u8),
            replies: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            ran_out: Notify::new(),
            stopped: Notify::new(),
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Warmup,
            1 => Phase::Measure,
            _ => Phase::Stop,
        }
    }

    /// Moves to `phase`.
    pub fn set(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
        if phase == Phase::Stop {
            self.stopped.notify_waiters();
        }
    }
}

/// What earlier workloads of this run left behind.
#[derive(Default)]
pub struct RunState {
    /// Per session, how many nodes create made (for delete).
    pub created: Vec<u64>,
    /// Whether the key set exists.
    pub keys_made: bool,
    /// Creates per second of the last timed closed-loop create run (`None`:
    /// none ran yet).
    pub create_rate: Option<f64>,
    /// Per session, how far the last delete got.
    pub deleted: Vec<u64>,
}

/// A request in flight.
struct InFlight {
    xid: i32,
    slot: usize,
    tag: Tag,
    sent: Instant,
}

/// One session: keeps `depth` requests in flight until told to stop or out
/// of work, then drains and closes. Returns its tally and generator.
async fn run_session(
    mut conn: Conn,
    mut gen: Gen,
    ctl: Arc<Control>,
    depth: usize,
) -> (Tally, Gen) {
    let mut tally = Tally::new();
    let mut inflight: VecDeque<InFlight> = VecDeque::with_capacity(depth);
    for slot in 0..depth {
        if let Some((xid, tag)) = gen.next(slot, &mut conn.out) {
            let sent = Instant::now();
            inflight.push_back(InFlight {
                xid,
                slot,
                tag,
                sent,
            });
        }
    }
    if let Err(e) = conn.flush().await {
        tally.lost = Some(e.to_string());
        return (tally, gen);
    }
    while !inflight.is_empty() {
        if let Err(e) = conn.read_more().await {
            tally.lost = Some(e.to_string());
            return (tally, gen);
        }
        let now = Instant::now();
        let phase = ctl.phase();
        let (mut replies, mut failures, mut fresh) = (0u64, 0u64, 0usize);
        loop {
            let reply = match conn.inbox.next_reply() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    tally.lost = Some(e.to_string());
                    return (tally, gen);
                }
            };
            if reply.xid < 0 {
                continue; // a notification or a ping reply
            }
            let Some(done) = inflight.pop_front() else {
                tally.lost = Some(format!("reply xid {} with nothing in flight", reply.xid));
                return (tally, gen);
            };
            if done.xid != reply.xid {
                tally.lost = Some(format!(
                    "reply xid {} for request xid {}",
                    reply.xid, done.xid
                ));
                return (tally, gen);
            }
            replies += 1;
            failures += u64::from(reply.err != 0);
            if phase == Phase::Measure {
                tally.count(reply.err, now.duration_since(done.sent).as_nanos() as u64);
            }
            gen.on_reply(done.slot, done.tag, &reply);
            if phase != Phase::Stop {
                if let Some((xid, tag)) = gen.next(done.slot, &mut conn.out) {
                    inflight.push_back(InFlight {
                        xid,
                        slot: done.slot,
                        tag,
                        sent: now,
                    });
                    fresh += 1;
                }
            }
        }
        ctl.replies.fetch_add(replies, Ordering::Relaxed);
        ctl.failures.fetch_add(failures, Ordering::Relaxed);
        if fresh > 0 {
            let sent = Instant::now();
            inflight
                .iter_mut()
                .rev()
                .take(fresh)
                .for_each(|f| f.sent = sent);
            if let Err(e) = conn.flush().await {
                tally.lost = Some(e.to_string());
                return (tally, gen);
            }
        }
    }
    if ctl.phase() != Phase::Stop {
        ctl.ran_out.notify_one();
    }
    conn.close(CLOSE_DEADLINE).await;
    (tally, gen)
}

/// Creates `paths` in order on `conn`, pipelined; NodeExists is fine.
pub async fn create_all(
    conn: &mut Conn,
    paths: impl IntoIterator<Item = String>,
    data: &[u8],
) -> io::Result<()> {
    let mut paths = paths.into_iter();
    let mut inflight = VecDeque::with_capacity(PREPARE_DEPTH);
    loop {
        while inflight.len() < PREPARE_DEPTH {
            let Some(p) = paths.next() else { break };
            inflight.push_back(conn.out.create(&p, data, 0));
        }
        if inflight.is_empty() {
            return Ok(());
        }
        conn.flush().await?;
        conn.read_more().await?;
        while let Some(r) = conn.inbox.next_reply()? {
            if r.xid < 0 {
                continue;
            }
            if inflight.pop_front() != Some(r.xid) {
                return Err(io::Error::other("replies out of order while preparing"));
            }
            if r.err != 0 && r.err != NODE_EXISTS {
                return Err(io::Error::other(format!(
                    "preparing: create failed with error {}",
                    r.err
                )));
            }
        }
    }
}

/// Everything a workload needs in the tree before it starts.
async fn prepare(o: &RunOptions, plan: &Plan, state: &mut RunState) -> io::Result<()> {
    let mut conn = Conn::connect(o.addr(0), o.session_timeout_ms).await?;
    let mut dirs = base_and_ancestors(&plan.base);
    dirs.extend(workload::parents(plan, o.sessions));
    create_all(&mut conn, dirs, b"").await?;
    let needs_keys = matches!(
        plan.workload,
        Workload::Set | Workload::Get | Workload::Exists | Workload::Mixed
    );
    if needs_keys && !state.keys_made {
        create_all(&mut conn, workload::key_paths(plan), &plan.value).await?;
        state.keys_made = true;
    }
    conn.close(CLOSE_DEADLINE).await;
    Ok(())
}

/// `base` and each of its ancestors but `/`, parents first.
pub fn base_and_ancestors(base: &str) -> Vec<String> {
    let mut dirs: Vec<String> = base
        .match_indices('/')
        .filter(|&(i, _)| i > 0)
        .map(|(i, _)| base[..i].to_string())
        .collect();
    dirs.push(base.to_string());
    dirs
}

/// Connects `n` sessions at once, session `i` to `o.addr(i)`.
pub async fn connect_all(o: &RunOptions, n: usize) -> io::Result<Vec<Conn>> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let addr = o.addr(i).to_string();
            let timeout = o.session_timeout_ms;
            tokio::spawn(async move { Conn::connect(&addr, timeout).await })
        })
        .collect();
    let mut conns = Vec::with_capacity(n);
    for t in tasks {
        conns.push(t.await.map_err(io::Error::other)??);
    }
    Ok(conns)
}

/// Runs one pipelined workload (everything but watch).
pub async fn run_workload(
    o: &RunOptions,
    plan: Plan,
    state: &mut RunState,
    record: bool,
) -> io::Result<Measured> {
    prepare(o, &plan, state).await?;
    let conns = connect_all(o, o.sessions).await?;
    let finite =
        plan.workload == Workload::Populate || plan.create_until > 0 || plan.delete_from.is_some();
    let start = if finite || o.warmup.is_zero() {
        Phase::Measure
    } else {
        Phase::Warmup
    };
    let ctl = Arc::new(Control::new(start));
    let t0 = Instant::now();
    let sessions: Vec<JoinHandle<(Tally, Gen)>> = conns
        .into_iter()
        .enumerate()
        .map(|(s, conn)| {
            let created = state.created.get(s).copied().unwrap_or(0);
            let gen = Gen::new(plan.clone(), s, o.depth, created);
            let ctl = ctl.clone();
            match plan.rate {
                None => tokio::spawn(run_session(conn, gen, ctl, o.depth)),
                Some(rate) => {
                    let schedule = Schedule::new(rate, o.sessions, s);
                    tokio::spawn(pace::run_paced_session(
                        conn, gen, ctl, o.depth, schedule, t0,
                    ))
                }
            }
        })
        .collect();
    let mut label = plan.workload.name().to_string();
    if let Some(rate) = plan.rate {
        label.push_str(&format!(" @{rate:.0}/s"));
    }
    if !record {
        label.push_str(" (unrecorded)");
    }
    let progress = (!o.quiet).then(|| {
        spawn_progress(
            label,
            ctl.clone(),
            (plan.workload == Workload::Populate).then_some(o.count),
        )
    });
    let window = if finite {
        Window::open(&o.server_pids, &ctl)
    } else {
        timed_window(o, &ctl).await
    };
    let mut window = if finite {
        window
    } else {
        window.close(&o.server_pids, &ctl)
    };
    let mut tally = Tally::new();
    let mut lost = 0;
    let mut gens = Vec::new();
    for s in sessions {
        let (t, gen) = s.await.map_err(io::Error::other)?;
        lost += u64::from(t.lost.is_some());
        if let Some(why) = &t.lost {
            window.note_once(&format!("session lost: {why}"));
        }
        tally.merge(&t);
        gens.push(gen);
    }
    if finite {
        window = window.close(&o.server_pids, &ctl);
    }
    if let Some(p) = progress {
        p.abort();
        end_progress_line(o.quiet);
    }
    if plan.workload == Workload::Create {
        state.created = gens.iter().map(|g| g.created).collect();
    }
    if plan.workload == Workload::Delete {
        state.deleted = gens.iter().map(|g| g.deleted).collect();
    }
    let mut m = window.into_measured(plan.workload, tally, lost, &o.server_pids);
    m.rate_target = plan.rate;
    if plan.workload == Workload::Create && !finite && plan.rate.is_none() {
        state.create_rate = Some(m.ops_per_s());
    }
    Ok(m)
}

/// The delete workload, then (unrecorded, closed-loop) the deletion of every
/// node create made that the measured window did not reach. The top-up
/// before it is sized from each server's own create rate, so without this a
/// faster server would run every later workload on a larger tree (and write
/// larger snapshots) than a slower one: afterwards both hold the same nodes.
pub async fn run_delete(o: &RunOptions, plan: Plan, state: &mut RunState) -> io::Result<Measured> {
    let m = run_workload(o, plan.clone(), state, true).await?;
    let rest = Plan {
        delete_from: Some(std::mem::take(&mut state.deleted).into()),
        rate: None,
        ..plan
    };
    run_workload(o, rest, state, false).await?;
    state.created.clear();
    state.deleted.clear();
    Ok(m)
}

/// Makes sure enough nodes exist for a delete run at `delete_rate` (`None`:
/// closed-loop), creating them closed-loop and unrecorded: if no create
/// ran before (or, for a closed-loop delete, none closed-loop, so that the
/// server's create rate is unknown), a create as long as delete's warm-up
/// and window; then tops each session up to `DELETE_HEADROOM` times what
/// deletes at `delete_rate`, or creates at the measured rate, would remove
/// in that time (deletes run faster than creates, and a session out of
/// work cuts the window short).
pub async fn nodes_for_delete(
    o: &RunOptions,
    create: Plan,
    delete_rate: Option<f64>,
    state: &mut RunState,
) -> io::Result<()> {
    const DELETE_HEADROOM: f64 = 2.0;
    let span = o.warmup + o.duration;
    let create = Plan {
        rate: None,
        ..create
    };
    if state.created.is_empty() || (delete_rate.is_none() && state.create_rate.is_none()) {
        let mut first = o.clone();
        first.warmup = Duration::ZERO;
        first.duration = span;
        run_workload(&first, create.clone(), state, false).await?;
    }
    let rate = delete_rate.or(state.create_rate).unwrap_or(0.0);
    let want = (DELETE_HEADROOM * rate * span.as_secs_f64() / o.sessions as f64).ceil() as u64;
    if state.created.iter().any(|&c| c < want) {
        let top_up = Plan {
            create_until: want,
            ..create
        };
        run_workload(o, top_up, state, false).await?;
    }
    Ok(())
}

/// The measured window's bounds and readings.
pub struct Window {
    start: Instant,
    end: Option<Instant>,
    server_cpu0: Option<f64>,
    server_cpu1: Option<f64>,
    client_cpu0: Option<f64>,
    client_cpu1: Option<f64>,
    /// Anything unusual about the window.
    pub note: String,
}

impl Window {
    /// Opens the window now: moves to Measure and reads the CPU clocks
    /// (the servers' summed over `server_pids`).
    pub fn open(server_pids: &[u32], ctl: &Control) -> Window {
        let w = Window {
            server_cpu0: procstat::cpu_seconds_sum(server_pids),
            client_cpu0: procstat::cpu_seconds(None),
            server_cpu1: None,
            client_cpu1: None,
            start: Instant::now(),
            end: None,
            note: String::new(),
        };
        ctl.set(Phase::Measure);
        w
    }

    /// Closes the window now: moves to Stop and reads the CPU clocks.
    pub fn close(mut self, server_pids: &[u32], ctl: &Control) -> Window {
        ctl.set(Phase::Stop);
        self.end = Some(Instant::now());
        self.server_cpu1 = procstat::cpu_seconds_sum(server_pids);
        self.client_cpu1 = procstat::cpu_seconds(None);
        self
    }

    /// Adds `note` unless it is there already.
    pub fn note_once(&mut self, note: &str) {
        if !self.note.contains(note) {
            if !self.note.is_empty() {
                self.note.push_str("; ");
            }
            self.note.push_str(note);
        }
    }

    /// The result for `tally`, seen in this window.
    pub fn into_measured(
        self,
        workload: Workload,
        tally: Tally,
        lost: u64,
        pids: &[u32],
    ) -> Measured {
        let end = self.end.unwrap_or_else(Instant::now);
        let diff = |a: Option<f64>, b: Option<f64>| Some(b? - a?);
        Measured {
            workload,
            tally,
            seconds: end.duration_since(self.start).as_secs_f64(),
            server_cpu_s: diff(self.server_cpu0, self.server_cpu1),
            client_cpu_s: diff(self.client_cpu0, self.client_cpu1),
            server_rss_kib: procstat::rss_kib_sum(pids),
            lost_sessions: lost,
            note: self.note,
            extra: Vec::new(),
            rate_target: None,
        }
    }
}

/// Warm-up, then the measured window, cut short if a session runs out of
/// work. Returns the open window (the caller closes it).
pub async fn timed_window(o: &RunOptions, ctl: &Arc<Control>) -> Window {
    let mut early = false;
    if !o.warmup.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(o.warmup) => {}
            _ = ctl.ran_out.notified() => early = true,
        }
    }
    let mut w = Window::open(&o.server_pids, ctl);
    if early {
        w.note_once("ran out of work during the warm-up");
        return w;
    }
    tokio::select! {
        _ = tokio::time::sleep(o.duration) => {}
        _ = ctl.ran_out.notified() => w.note_once("window cut short: a session ran out of work"),
    }
    w
}

/// Prints a progress line on stderr every second.
pub fn spawn_progress(label: String, ctl: Arc<Control>, total: Option<u64>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let tty = io::stderr().is_terminal();
        let started = Instant::now();
        let mut last = (Instant::now(), 0u64);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tick.tick().await;
            let now = Instant::now();
            let replies = ctl.replies.load(Ordering::Relaxed);
            let rate = (replies - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
            last = (now, replies);
            let phase = match ctl.phase() {
                Phase::Warmup => "warm-up",
                Phase::Measure => "measure",
                Phase::Stop => "draining",
            };
            let done = total.map_or(String::new(), |t| format!(" {replies}/{t}"));
            let line = format!(
                "[{label}] {phase} {:>5.1}s {rate:>10.0} ops/s{done}  failed {}",
                started.elapsed().as_secs_f64(),
                ctl.failures.load(Ordering::Relaxed)
            );
            let mut err = io::stderr().lock();
            let _ = if tty {
                write!(err, "\r\x1b[K{line}")
            } else {
                writeln!(err, "{line}")
            };
            let _ = err.flush();
        }
    })
}

/// Clears the progress line on a terminal.
pub fn end_progress_line(quiet: bool) {
    if !quiet && io::stderr().is_terminal() {
        let _ = write!(io::stderr(), "\r\x1b[K");
    }
}

#[cfg(test)]
mod tests {
    use super::base_and_ancestors;

    #[test]
    fn base_comes_after_its_ancestors() {
        assert_eq!(base_and_ancestors("/b"), vec!["/b"]);
        assert_eq!(
            base_and_ancestors("/paddock-bench/r123"),
            vec!["/paddock-bench", "/paddock-bench/r123"]
        );
        assert_eq!(base_and_ancestors("/a/b/c"), vec!["/a", "/a/b", "/a/b/c"]);
    }
}
