//! Watch fan-out: `--watchers` sessions each leave a one-shot data watch
//! on `B/watch` (getData with watch=true); one writer session sets the
//! node once every watcher has re-armed; each watcher re-arms as soon as its
//! event arrives. Latency is from the moment the writer sends setData to
//! the moment each watcher reads its NodeDataChanged event, so one round
//! adds `--watchers` samples; `round_*` is the time until the last of them.
//!
//! With a rate (`--rate`, events/s) the writer sets the node on a schedule,
//! rate / watchers times a second, still only once every watcher has
//! re-armed; latency then runs from the set's scheduled time (or its send,
//! if it left within the timer's slack before it), so rounds that fall
//! behind show their lateness in every watcher's sample.

use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::Notify;

use super::args::{RunOptions, Workload};
use super::client::Conn;
use super::pace::{self, Schedule};
use super::report::{self, Measured, Tally};
use super::run::{self, Control, Phase, Window};
use super::workload::{self, Plan};

/// How often a waiting watcher looks at the phase.
const STOP_POLL: Duration = Duration::from_millis(100);
/// How long the writer waits for every watcher to re-arm.
const REARM_DEADLINE: Duration = Duration::from_secs(10);

/// State shared by the writer and the watchers.
struct Fanout {
    ctl: Arc<Control>,
    path: String,
    epoch: Instant,
    /// When the current round's setData left, ns since `epoch`.
    set_sent_ns: AtomicU64,
    /// The slowest event of the current round, ns.
    round_max_ns: AtomicU64,
    /// Watchers armed for the next round.
    armed: AtomicUsize,
    all_armed: Notify,
    watchers: usize,
    events: Mutex<Tally>,
}

/// Runs the watch workload.
pub async fn run_watch(o: &RunOptions, plan: Plan) -> io::Result<Measured> {
    let mut setup = Conn::connect(o.addr(0), o.session_timeout_ms).await?;
    let mut dirs = run::base_and_ancestors(&plan.base);
    dirs.extend(workload::parents(&plan, 1));
    run::create_all(&mut setup, dirs, &plan.value).await?;
    setup.close(run::CLOSE_DEADLINE).await;

    let ctl = Arc::new(Control::new(if o.warmup.is_zero() {
        Phase::Measure
    } else {
        Phase::Warmup
    }));
    let f = Arc::new(Fanout {
        ctl: ctl.clone(),
        path: format!("{}/watch", plan.base),
        epoch: Instant::now(),
        set_sent_ns: AtomicU64::new(0),
        round_max_ns: AtomicU64::new(0),
        armed: AtomicUsize::new(0),
        all_armed: Notify::new(),
        watchers: o.watchers,
        events: Mutex::new(Tally::new()),
    });
    // Watchers round-robin over the addresses; the writer on the first.
    let (conns, writer_conn) = tokio::join!(
        run::connect_all(o, o.watchers),
        Conn::connect(o.addr(0), o.session_timeout_ms)
    );
    let (conns, writer_conn) = (conns?, writer_conn?);
    let watchers: Vec<_> = conns
        .into_iter()
        .map(|c| tokio::spawn(watcher(c, f.clone())))
        .collect();
    // The rate counts events: each set makes one per watcher.
    let pace = plan
        .rate
        .map(|rate| Schedule::new(rate / o.watchers as f64, 1, 0));
    let writer = tokio::spawn(writer(writer_conn, f.clone(), plan.value.clone(), pace));
    let progress = (!o.quiet).then(|| run::spawn_progress("watch".into(), ctl.clone(), None));
    let window = run::timed_window(o, &ctl).await.close(&o.server_pids, &ctl);
    let (rounds, writer_err) = writer.await.map_err(io::Error::other)?;
    let mut lost = u64::from(writer_err.is_some());
    let mut window = window;
    if let Some(e) = writer_err {
        window.note_once(&format!("writer: {e}"));
    }
    for w in watchers {
        if let Some(e) = w.await.map_err(io::Error::other)? {
            lost += 1;
            window.note_once(&format!("watcher: {e}"));
        }
    }
    if let Some(p) = progress {
        p.abort();
        run::end_progress_line(o.quiet);
    }
    let mut m = finish(window, &f, rounds, lost, &o.server_pids)?;
    m.rate_target = plan.rate;
    Ok(m)
}

fn finish(
    window: Window,
    f: &Fanout,
    rounds: Histogram<u64>,
    lost: u64,
    pids: &[u32],
) -> io::Result<Measured> {
    let tally = std::mem::replace(
        &mut *f.events.lock().map_err(|_| io::Error::other("poisoned"))?,
        Tally::new(),
    );
    let mut m = window.into_measured(Workload::Watch, tally, lost, pids);
    let ms = |q: f64| {
        if rounds.is_empty() {
            0.0
        } else {
            rounds.value_at_quantile(q) as f64 / 1e6
        }
    };
    m.extra = vec![
        ("rounds", rounds.len() as f64),
        ("round_p50_ms", ms(0.5)),
        ("round_p99_ms", ms(0.99)),
    ];
    Ok(m)
}

/// The writer: waits until every watcher is armed (and, with `pace`, until
/// the next set is due), sets the node, repeats. Returns the histogram of
/// round times (set sent, or due, to last event).
async fn writer(
    mut conn: Conn,
    f: Arc<Fanout>,
    value: Arc<[u8]>,
    pace: Option<Schedule>,
) -> (Histogram<u64>, Option<String>) {
    let mut rounds = report::new_histogram();
    let mut first = true;
    let start = Instant::now();
    let mut round = 0u64;
    loop {
        match wait_armed(&f).await {
            Armed::All => {}
            Armed::Stopped => break,
            Armed::TimedOut => return (rounds, Some("watchers did not re-arm in time".into())),
        }
        if !first && f.ctl.phase() == Phase::Measure {
            report::record(&mut rounds, f.round_max_ns.load(Ordering::Acquire));
        }
        first = false;
        if f.ctl.phase() == Phase::Stop {
            break;
        }
        let mut since = Instant::now();
        if let Some(schedule) = pace {
            let due = start + schedule.at(round);
            round += 1;
            if !pace::wait_until_due(due, &f.ctl).await {
                break;
            }
            since = due.min(Instant::now());
        }
        f.armed.store(0, Ordering::Release);
        f.round_max_ns.store(0, Ordering::Release);
        let since_ns = since.saturating_duration_since(f.epoch).as_nanos() as u64;
        f.set_sent_ns.store(since_ns, Ordering::Release);
        let xid = conn.out.set_data(&f.path, &value);
        match conn.call(xid).await {
            Ok(0) => {}
            Ok(err) => return (rounds, Some(format!("setData failed with error {err}"))),
            Err(e) => return (rounds, Some(e.to_string())),
        }
    }
    // Wake every watcher still waiting: they see Stop after the event.
    let xid = conn.out.set_data(&f.path, &value);
    let _ = conn.call(xid).await;
    conn.close(run::CLOSE_DEADLINE).await;
    (rounds, None)
}

enum Armed {
    All,
    Stopped,
    TimedOut,
}

/// Waits until every watcher is armed, the run stops, or time runs out.
async fn wait_armed(f: &Fanout) -> Armed {
    let give_up = Instant::now() + REARM_DEADLINE;
    loop {
        if tokio::time::timeout(STOP_POLL, f.all_armed.notified())
            .await
            .is_ok()
        {
            return Armed::All;
        }
        if f.ctl.phase() == Phase::Stop {
            return Armed::Stopped;
        }
        if Instant::now() >= give_up {
            return Armed::TimedOut;
        }
    }
}

/// One watcher: arm, wait for the event, record it, repeat until Stop.
async fn watcher(mut conn: Conn, f: Arc<Fanout>) -> Option<String> {
    let mut tally = Tally::new();
    let result = watch_loop(&mut conn, &f, &mut tally).await;
    if let Ok(mut all) = f.events.lock() {
        all.merge(&tally);
    }
    match result {
        Ok(()) => {
            conn.close(run::CLOSE_DEADLINE).await;
            None
        }
        Err(e) => Some(e.to_string()),
    }
}

async fn watch_loop(conn: &mut Conn, f: &Fanout, tally: &mut Tally) -> io::Result<()> {
    loop {
        let xid = conn.out.get_data(&f.path, true);
        let err = conn.call(xid).await?;
        if err != 0 {
            return Err(io::Error::other(format!("getData failed with error {err}")));
        }
        if f.armed.fetch_add(1, Ordering::AcqRel) + 1 == f.watchers {
            f.all_armed.notify_one();
        }
        if !wait_event(conn, f, tally).await? {
            return Ok(());
        }
    }
}

/// Waits for the watch event; false if the run stopped first.
async fn wait_event(conn: &mut Conn, f: &Fanout, tally: &mut Tally) -> io::Result<bool> {
    loop {
        while let Some(r) = conn.inbox.next_reply()? {
            if r.xid != proto::opcode::xid::NOTIFICATION {
                continue;
            }
            let now_ns = f.epoch.elapsed().as_nanos() as u64;
            let ns = now_ns.saturating_sub(f.set_sent_ns.load(Ordering::Acquire));
            f.round_max_ns.fetch_max(ns, Ordering::AcqRel);
            f.ctl.replies.fetch_add(1, Ordering::Relaxed);
            match f.ctl.phase() {
                Phase::Measure => tally.count(0, ns),
                Phase::Stop => return Ok(false),
                Phase::Warmup => {}
            }
            return Ok(true);
        }
        match tokio::time::timeout(STOP_POLL, conn.read_more()).await {
            Ok(r) => r?,
            Err(_) if f.ctl.phase() == Phase::Stop => return Ok(false),
            Err(_) => {}
        }
    }
}
