//! Results of a measured window, as a table row or as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::args::{RunOptions, Workload, RATE_BEHIND_SHARE, RATE_CAUGHT_UP_SHARE};

/// Lowest and highest latency the histograms hold, in nanoseconds.
pub const LATENCY_NS_MIN: u64 = 1_000;
/// See [`LATENCY_NS_MIN`].
pub const LATENCY_NS_MAX: u64 = 600_000_000_000;

/// A histogram of latencies in nanoseconds (1 µs to 10 min, 3 digits).
pub fn new_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(LATENCY_NS_MIN, LATENCY_NS_MAX, 3)
        .expect("constant histogram bounds are valid");
    h.auto(false);
    h
}

/// Records `ns` into `h`, clamped to the histogram's range.
pub fn record(h: &mut Histogram<u64>, ns: u64) {
    let v = ns.clamp(LATENCY_NS_MIN, LATENCY_NS_MAX);
    // Cannot fail: `v` is within the bounds.
    let _ = h.record(v);
}

/// What one session saw in the measured window.
pub struct Tally {
    /// Latencies of the replies received in the window.
    pub hist: Histogram<u64>,
    /// Replies received in the window.
    pub ops: u64,
    /// Of which failed (non-zero error code).
    pub errors: u64,
    /// Failures by ZooKeeper error code.
    pub codes: BTreeMap<i32, u64>,
    /// Why the session's connection failed, if it did.
    pub lost: Option<String>,
}

impl Tally {
    /// An empty tally.
    pub fn new() -> Tally {
        Tally {
            hist: new_histogram(),
            ops: 0,
            errors: 0,
            codes: BTreeMap::new(),
            lost: None,
        }
    }

    /// Counts one reply with error code `err` that took `ns`.
    pub fn count(&mut self, err: i32, ns: u64) {
        record(&mut self.hist, ns);
        self.ops += 1;
        if err != 0 {
            self.errors += 1;
            *self.codes.entry(err).or_default() += 1;
        }
    }

    /// Adds another session's tally.
    pub fn merge(&mut self, other: &Tally) {
        // Cannot fail: both histograms have the same bounds.
        let _ = self.hist.add(&other.hist);
        self.ops += other.ops;
        self.errors += other.errors;
        for (code, n) in &other.codes {
            *self.codes.entry(*code).or_default() += n;
        }
    }
}

/// One workload's result.
pub struct Measured {
    /// The workload.
    pub workload: Workload,
    /// Every session's tally, merged.
    pub tally: Tally,
    /// Length of the measured window.
    pub seconds: f64,
    /// Server CPU seconds (user + system) in the window (summed over an
    /// ensemble's processes).
    pub server_cpu_s: Option<f64>,
    /// This process's CPU seconds in the window.
    pub client_cpu_s: Option<f64>,
    /// Server VmRSS and VmHWM in KiB at the end of the window (summed over
    /// an ensemble's processes).
    pub server_rss_kib: Option<(u64, u64)>,
    /// Sessions whose connection failed.
    pub lost_sessions: u64,
    /// Anything unusual (window cut short, ...).
    pub note: String,
    /// Workload-specific numbers (name, value).
    pub extra: Vec<(&'static str, f64)>,
    /// The offered rate, ops/s, of an open-loop run (`None`: closed loop).
    pub rate_target: Option<f64>,
}

impl Measured {
    /// Operations per second.
    pub fn ops_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.tally.ops as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// Whether an open-loop run did not keep to its schedule (`None`: closed
    /// loop): it did less than [`RATE_BEHIND_SHARE`] of its target rate, or
    /// more than [`RATE_CAUGHT_UP_SHARE`] (answering requests due before
    /// the window opened).
    pub fn behind(&self) -> Option<bool> {
        let share = self.ops_per_s() / self.rate_target?;
        Some(!(RATE_BEHIND_SHARE..=RATE_CAUGHT_UP_SHARE).contains(&share))
    }

    fn ms(&self, q: f64) -> f64 {
        if self.tally.hist.is_empty() {
            return 0.0;
        }
        self.tally.hist.value_at_quantile(q) as f64 / 1e6
    }

    fn max_ms(&self) -> f64 {
        self.tally.hist.max() as f64 / 1e6
    }

    fn server_cpu_us_per_op(&self) -> Option<f64> {
        let cpu = self.server_cpu_s?;
        (self.tally.ops > 0).then(|| cpu * 1e6 / self.tally.ops as f64)
    }
}

/// A warning for an open-loop run that did not keep to its schedule.
pub fn behind_warning(m: &Measured) -> Option<String> {
    if m.behind() != Some(true) {
        return None;
    }
    let target = m.rate_target?;
    let share = m.ops_per_s() / target;
    let why = if share < RATE_BEHIND_SHARE {
        format!(
            "below {:.0}%: the server (or this client) fell behind",
            100.0 * RATE_BEHIND_SHARE
        )
    } else {
        format!(
            "above {:.0}%: it was behind when the window opened and caught up inside it",
            100.0 * RATE_CAUGHT_UP_SHARE
        )
    };
    Some(format!(
        "{}: achieved {:.0} of {target:.0} ops/s offered ({:.0}%, {why}), so the latencies \
         include the backlog",
        m.workload,
        m.ops_per_s(),
        100.0 * share,
    ))
}

/// The header of the text table.
pub fn table_header() -> String {
    format!(
        "{:<9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>10} {:>8}",
        "workload",
        "ops/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "errors",
        "lost",
        "srv µs/op",
        "cli cpu%"
    )
}

/// One line of the text table.
pub fn table_row(m: &Measured) -> String {
    let cpu = m
        .server_cpu_us_per_op()
        .map_or("-".to_string(), |v| format!("{v:.1}"));
    let cli = m
        .client_cpu_s
        .filter(|_| m.seconds > 0.0)
        .map_or("-".to_string(), |c| format!("{:.0}", c * 100.0 / m.seconds));
    let mut row = format!(
        "{:<9} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9} {:>8} {:>10} {:>8}",
        m.workload.name(),
        m.ops_per_s(),
        m.ms(0.5),
        m.ms(0.99),
        m.ms(0.999),
        m.max_ms(),
        m.tally.errors,
        m.lost_sessions,
        cpu,
        cli
    );
    if let Some(target) = m.rate_target {
        let _ = write!(row, "  offered={target:.0}/s");
        if m.behind() == Some(true) {
            row.push_str(" BEHIND");
        }
    }
    for (name, v) in &m.extra {
        let _ = write!(row, "  {name}={v:.3}");
    }
    if !m.note.is_empty() {
        let _ = write!(row, "  ({})", m.note);
    }
    row
}

/// The whole run as one JSON document.
pub fn json(o: &RunOptions, results: &[Measured]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "{{\"label\":{},\"connect\":{},\"sessions\":{},\"depth\":{},\"value_size\":{},\
         \"keys\":{},\"watchers\":{},\"warmup_s\":{},\"duration_s\":{},",
        json_str(&o.label),
        json_str(&o.connect.join(",")),
        o.sessions,
        o.depth,
        o.value_size,
        o.keys,
        o.watchers,
        o.warmup.as_secs_f64(),
        o.duration.as_secs_f64()
    );
    if !o.rates.spec.is_empty() {
        let _ = write!(s, "\"rate\":{},", json_str(&o.rates.spec));
    }
    s.push_str("\"results\":[");
    for (i, m) in results.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        json_result(&mut s, m);
    }
    s.push_str("]}");
    s
}

fn json_result(s: &mut String, m: &Measured) {
    let _ = write!(
        s,
        "{{\"workload\":{},\"ops\":{},\"errors\":{},\"seconds\":{:.6},\"ops_per_s\":{:.1},\
         \"latency_ms\":{{\"p50\":{:.4},\"p90\":{:.4},\"p99\":{:.4},\"p999\":{:.4},\
         \"max\":{:.4},\"mean\":{:.4}}},\"lost_sessions\":{},\"note\":{}",
        json_str(m.workload.name()),
        m.tally.ops,
        m.tally.errors,
        m.seconds,
        m.ops_per_s(),
        m.ms(0.5),
        m.ms(0.9),
        m.ms(0.99),
        m.ms(0.999),
        m.max_ms(),
        m.tally.hist.mean() / 1e6,
        m.lost_sessions,
        json_str(&m.note)
    );
    let opt = |v: Option<f64>| v.map_or("null".to_string(), |v| format!("{v:.6}"));
    let _ = write!(
        s,
        ",\"server_cpu_s\":{},\"server_cpu_us_per_op\":{},\"client_cpu_s\":{}",
        opt(m.server_cpu_s),
        opt(m.server_cpu_us_per_op()),
        opt(m.client_cpu_s)
    );
    if let Some(target) = m.rate_target {
        let _ = write!(
            s,
            ",\"rate_target\":{target:.1},\"rate_achieved\":{:.1},\"behind\":{}",
            m.ops_per_s(),
            m.behind() == Some(true)
        );
    }
    if let Some((rss, hwm)) = m.server_rss_kib {
        let _ = write!(s, ",\"server_rss_kib\":{rss},\"server_hwm_kib\":{hwm}");
    }
    s.push_str(",\"error_codes\":{");
    for (i, (code, n)) in m.tally.codes.iter().enumerate() {
        let sep = if i > 0 { "," } else { "" };
        let _ = write!(s, "{sep}\"{code}\":{n}");
    }
    s.push_str("},\"extra\":{");
    for (i, (name, v)) in m.extra.iter().enumerate() {
        let sep = if i > 0 { "," } else { "" };
        let _ = write!(s, "{sep}{}:{v:.6}", json_str(name));
    }
    s.push_str("}}");
}

/// A JSON string literal.
pub fn json_str(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_merge_and_json_escapes() {
        let mut a = Tally::new();
        a.count(0, 2_000_000);
        let mut b = Tally::new();
        b.count(-101, 10);
        a.merge(&b);
        assert_eq!((a.ops, a.errors, a.codes[&-101]), (2, 1, 1));
        assert_eq!(a.hist.len(), 2);
        assert_eq!(json_str("a\"b\n"), "\"a\\\"b\\u000a\"");
    }

    fn measured(ops: u64, seconds: f64, rate_target: Option<f64>) -> Measured {
        let mut tally = Tally::new();
        for _ in 0..ops {
            tally.count(0, 1_000_000);
        }
        Measured {
            workload: Workload::Set,
            tally,
            seconds,
            server_cpu_s: None,
            client_cpu_s: None,
            server_rss_kib: None,
            lost_sessions: 0,
            note: String::new(),
            extra: Vec::new(),
            rate_target,
        }
    }

    #[test]
    fn behind_is_outside_95_to_105_percent_of_the_target() {
        assert_eq!(measured(100, 1.0, None).behind(), None);
        assert_eq!(measured(95, 1.0, Some(100.0)).behind(), Some(false));
        assert_eq!(measured(105, 1.0, Some(100.0)).behind(), Some(false));
        assert_eq!(measured(94, 1.0, Some(100.0)).behind(), Some(true));
        assert_eq!(measured(106, 1.0, Some(100.0)).behind(), Some(true));
        assert!(behind_warning(&measured(95, 1.0, Some(100.0))).is_none());
        let w = behind_warning(&measured(50, 1.0, Some(100.0))).unwrap();
        assert!(
            w.contains("achieved 50 of 100 ops/s") && w.contains("fell behind"),
            "{w}"
        );
        let w = behind_warning(&measured(110, 1.0, Some(100.0))).unwrap();
        assert!(
            w.contains("(110%, above 105%") && w.contains("caught up"),
            "{w}"
        );
    }

    #[test]
    fn json_has_rate_fields_only_for_open_loop_runs() {
        let mut o = RunOptions::default();
        let closed = json(&o, &[measured(10, 1.0, None)]);
        assert!(!closed.contains("rate"), "{closed}");
        o.rates = crate::bench::args::Rates::parse("set=200").unwrap();
        let open = json(&o, &[measured(100, 1.0, Some(200.0))]);
        assert!(
            open.contains("\"rate\":\"set=200\",\"results\":[{"),
            "{open}"
        );
        assert!(
            open.contains("\"rate_target\":200.0,\"rate_achieved\":100.0,\"behind\":true"),
            "{open}"
        );
    }
}
