//! Open loop (`--rate`): requests leave on a fixed schedule, whatever the
//! server's pace, and latency is timed from when a request was due.
//!
//! Session `i` of `n` at a total of `rate` ops/s sends its `k`-th request
//! at `(k·n + i) / rate` seconds after the common start: `rate / n` per
//! session, and the `n` schedules interleave into one request every
//! `1 / rate` s. A due request leaves once fewer than `--depth` of the
//! session's requests are in flight; if the server falls behind, due
//! requests wait and their wait counts in their latency (coordinated
//! omission corrected: a stall is not hidden by the client sending less).
//!
//! Tokio's timer rounds a deadline up to the next millisecond and the
//! poller's timeout up to a whole millisecond again, so a sleep wakes up to
//! ~2 ms late. A session therefore sleeps until [`SEND_SLACK`] before the
//! next due time and sends everything due within the slack; each latency
//! runs from the earlier of the due time and the actual send. The timer's
//! rounding is not counted (measured: with a 1 ms slack a paced getData's
//! p99 at 16,000/s was 1.4 ms from due against 0.4 ms from send; with 2 ms
//! both 0.3-0.4 ms), a wait for a free slot is. The offered rate is exact
//! over any span longer than the slack.

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::client::{Conn, Outbox};
use super::report::Tally;
use super::run::{Control, Phase, CLOSE_DEADLINE};
use super::workload::{Gen, Tag};

/// How far ahead of its due time a request may leave: how late tokio's
/// timer may fire (two roundings up to whole milliseconds).
pub const SEND_SLACK: Duration = Duration::from_millis(2);

/// When one session's requests are due, as offsets from the start.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    rate_per_s: f64,
    sessions: u64,
    session: u64,
}

impl Schedule {
    /// Session `session` of `sessions`, sharing `rate_per_s` between them.
    pub fn new(rate_per_s: f64, sessions: usize, session: usize) -> Schedule {
        assert!(
            rate_per_s > 0.0 && rate_per_s.is_finite(),
            "rate {rate_per_s}"
        );
        assert!(session < sessions, "session {session} of {sessions}");
        Schedule {
            rate_per_s,
            sessions: sessions as u64,
            session: session as u64,
        }
    }

    /// When request `k` of this session is due, after the start.
    pub fn at(&self, k: u64) -> Duration {
        let slot = k * self.sessions + self.session;
        Duration::from_secs_f64(slot as f64 / self.rate_per_s)
    }
}

/// A request in flight.
struct InFlight {
    xid: i32,
    slot: usize,
    tag: Tag,
    /// Where its latency starts: the earlier of due and sent.
    since: Instant,
}

/// One paced session's requests: what is in flight, which pipeline slots
/// are free, and how far along the schedule it is.
struct Pacer {
    schedule: Schedule,
    start: Instant,
    /// Index of the next request on the schedule.
    next: u64,
    /// Pipeline slots with no request in flight (the generator's slots).
    free: Vec<usize>,
    inflight: VecDeque<InFlight>,
    /// The generator has nothing more (delete, populate).
    out_of_work: bool,
}

impl Pacer {
    fn new(schedule: Schedule, start: Instant, depth: usize) -> Pacer {
        Pacer {
            schedule,
            start,
            next: 0,
            free: (0..depth).rev().collect(),
            inflight: VecDeque::with_capacity(depth),
            out_of_work: false,
        }
    }

    /// When the next request on the schedule is due.
    fn next_due(&self) -> Instant {
        self.start + self.schedule.at(self.next)
    }

    /// Encodes every request due by `now` + [`SEND_SLACK`] for which a slot
    /// is free, oldest first; returns how many. Their latency starts at
    /// their due time until [`Pacer::sent`] says when they left.
    fn encode_due(&mut self, gen: &mut Gen, out: &mut Outbox, now: Instant) -> usize {
        let horizon = now + SEND_SLACK;
        let mut fresh = 0;
        while let Some(&slot) = self.free.last() {
            let due = self.next_due();
            if self.out_of_work || due > horizon {
                break;
            }
            let Some((xid, tag)) = gen.next(slot, out) else {
                self.out_of_work = true;
                break;
            };
            self.free.pop();
            self.inflight.push_back(InFlight {
                xid,
                slot,
                tag,
                since: due,
            });
            self.next += 1;
            fresh += 1;
        }
        fresh
    }

    /// The last `fresh` requests left at `at`: the ones sent ahead of their
    /// due time are timed from `at`.
    fn sent(&mut self, fresh: usize, at: Instant) {
        for f in self.inflight.iter_mut().rev().take(fresh) {
            f.since = f.since.min(at);
        }
    }

    /// Whether a request could leave once it is due.
    fn may_send(&self) -> bool {
        !self.out_of_work && !self.free.is_empty()
    }
}

/// What a paced session's wait ended with.
enum Woke {
    Read(std::io::Result<()>),
    Due,
    Stop,
}

/// One open-loop session: sends on `schedule` (offsets from `start`) with
/// at most `depth` in flight until told to stop or out of work, then
/// drains and closes. Returns its tally and generator.
pub async fn run_paced_session(
    mut conn: Conn,
    mut gen: Gen,
    ctl: Arc<Control>,
    depth: usize,
    schedule: Schedule,
    start: Instant,
) -> (Tally, Gen) {
    let mut tally = Tally::new();
    let mut p = Pacer::new(schedule, start, depth);
    // Registered before the first look at the phase, so a stop between
    // that look and the wait still wakes the wait.
    let mut stop = pin!(ctl.stopped.notified());
    stop.as_mut().enable();
    let mut stopping = false;
    loop {
        stopping |= ctl.phase() == Phase::Stop;
        if !stopping {
            let fresh = p.encode_due(&mut gen, &mut conn.out, Instant::now());
            if fresh > 0 {
                p.sent(fresh, Instant::now());
                if let Err(e) = conn.flush().await {
                    tally.lost = Some(e.to_string());
                    return (tally, gen);
                }
            }
        }
        if p.inflight.is_empty() && (stopping || p.out_of_work) {
            break;
        }
        let wake = p.next_due().checked_sub(SEND_SLACK).unwrap_or(p.start);
        let woke = tokio::select! {
            r = conn.read_more(), if !p.inflight.is_empty() => Woke::Read(r),
            _ = tokio::time::sleep_until(wake.into()), if !stopping && p.may_send() => Woke::Due,
            _ = stop.as_mut(), if !stopping => Woke::Stop,
        };
        match woke {
            Woke::Read(Ok(())) => {
                if let Err(e) = take_replies(&mut conn, &mut gen, &mut p, &ctl, &mut tally) {
                    tally.lost = Some(e);
                    return (tally, gen);
                }
            }
            Woke::Read(Err(e)) => {
                tally.lost = Some(e.to_string());
                return (tally, gen);
            }
            Woke::Due => {}
            Woke::Stop => stopping = true,
        }
    }
    if ctl.phase() != Phase::Stop {
        ctl.ran_out.notify_one();
    }
    conn.close(CLOSE_DEADLINE).await;
    (tally, gen)
}

/// Takes every whole reply in the inbox: matches it to the oldest request
/// in flight, counts it (in the measured window), frees its slot.
fn take_replies(
    conn: &mut Conn,
    gen: &mut Gen,
    p: &mut Pacer,
    ctl: &Control,
    tally: &mut Tally,
) -> Result<(), String> {
    let now = Instant::now();
    let phase = ctl.phase();
    let (mut replies, mut failures) = (0u64, 0u64);
    while let Some(reply) = conn.inbox.next_reply().map_err(|e| e.to_string())? {
        if reply.xid < 0 {
            continue; // a notification or a ping reply
        }
        let Some(done) = p.inflight.pop_front() else {
            return Err(format!("reply xid {} with nothing in flight", reply.xid));
        };
        if done.xid != reply.xid {
            return Err(format!(
                "reply xid {} for request xid {}",
                reply.xid, done.xid
            ));
        }
        replies += 1;
        failures += u64::from(reply.err != 0);
        if phase == Phase::Measure {
            tally.count(reply.err, now.duration_since(done.since).as_nanos() as u64);
        }
        gen.on_reply(done.slot, done.tag, &reply);
        p.free.push(done.slot);
    }
    ctl.replies.fetch_add(replies, Ordering::Relaxed);
    ctl.failures.fetch_add(failures, Ordering::Relaxed);
    Ok(())
}

/// Waits until `due` less [`SEND_SLACK`], or until the run stops; false if
/// it stopped.
pub async fn wait_until_due(due: Instant, ctl: &Control) -> bool {
    let mut stop = pin!(ctl.stopped.notified());
    stop.as_mut().enable();
    if ctl.phase() == Phase::Stop {
        return false;
    }
    let wake = due.checked_sub(SEND_SLACK).unwrap_or(due);
    tokio::select! {
        _ = tokio::time::sleep_until(wake.into()) => true,
        _ = stop => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::args::Workload;
    use crate::bench::workload::Plan;

    fn plan(workload: Workload) -> Plan {
        Plan {
            rate: Some(1000.0),
            ..crate::bench::workload::tests::plan(workload)
        }
    }

    fn ms(v: f64) -> Duration {
        Duration::from_secs_f64(v / 1e3)
    }

    #[test]
    fn one_session_sends_every_one_over_rate() {
        let s = Schedule::new(200.0, 1, 0);
        assert_eq!(s.at(0), Duration::ZERO);
        assert_eq!(s.at(1), ms(5.0));
        assert_eq!(s.at(200), Duration::from_secs(1));
    }

    #[test]
    fn sessions_share_the_rate_and_interleave_evenly() {
        let (rate, n) = (1000.0, 4);
        let mut all: Vec<Duration> = (0..n)
            .flat_map(|i| {
                let s = Schedule::new(rate, n, i);
                (0..250).map(move |k| s.at(k))
            })
            .collect();
        all.sort();
        // Together: one request every 1 ms, none twice, 1000 in the first second.
        for (g, at) in all.iter().enumerate() {
            assert!(
                at.abs_diff(ms(g as f64)) < Duration::from_nanos(10),
                "{g}: {at:?}"
            );
        }
        // Each session: 250 per second, 4 ms apart, session i offset by i ms.
        let s2 = Schedule::new(rate, n, 2);
        assert_eq!(s2.at(0), ms(2.0));
        assert!(s2.at(1).abs_diff(ms(6.0)) < Duration::from_nanos(10));
    }

    #[test]
    fn a_late_schedule_point_stays_exact() {
        // 16 sessions at 25,000/s, an hour in: no drift from float steps.
        let s = Schedule::new(25_000.0, 16, 15);
        let k = 25_000 * 3600 / 16;
        let want = Duration::from_secs(3600) + ms(15.0 / 25.0);
        assert!(s.at(k).abs_diff(want) < Duration::from_micros(1));
    }

    #[test]
    fn only_due_requests_leave_and_no_more_than_depth() {
        let t0 = Instant::now();
        let mut gen = Gen::new(plan(Workload::Get), 0, 4, 0);
        let mut out = Outbox::for_tests();
        // At the start: request 0 is due, 1 and 2 fall within the slack (2 ms), 3 not.
        let mut p = Pacer::new(Schedule::new(1000.0, 1, 0), t0, 4);
        assert_eq!(p.encode_due(&mut gen, &mut out, t0), 3);
        assert_eq!(p.next, 3);
        assert_eq!(p.encode_due(&mut gen, &mut out, t0 + ms(0.5)), 0);
        // 10 ms late: 9 more are due but only one slot is free.
        assert_eq!(p.encode_due(&mut gen, &mut out, t0 + ms(10.0)), 1);
        assert!(!p.may_send());
        assert_eq!(p.next_due(), t0 + ms(4.0));
    }

    #[test]
    fn latency_starts_at_due_time_unless_sent_early() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Schedule::new(1000.0, 1, 0), t0, 4);
        let mut gen = Gen::new(plan(Workload::Get), 0, 4, 0);
        let mut out = Outbox::for_tests();
        let now = t0 + ms(1.5);
        let fresh = p.encode_due(&mut gen, &mut out, now);
        assert_eq!(fresh, 4); // due at 0, 1, 2 and 3 ms (2 and 3 within the slack)
        p.sent(fresh, now);
        let since: Vec<Instant> = p.inflight.iter().map(|f| f.since).collect();
        // Late ones from their due time (the wait counts), the early one from its send.
        assert_eq!(since, [t0, t0 + ms(1.0), now, now]);
    }

    #[test]
    fn a_finite_workload_runs_out_and_frees_its_slot() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Schedule::new(1000.0, 1, 0), t0, 4);
        let mut gen = Gen::new(plan(Workload::Delete), 0, 4, 2); // two nodes to delete
        let mut out = Outbox::for_tests();
        assert_eq!(p.encode_due(&mut gen, &mut out, t0 + ms(100.0)), 2);
        assert!(p.out_of_work && !p.may_send());
        assert_eq!((p.free.len(), p.inflight.len()), (2, 2));
    }
}
