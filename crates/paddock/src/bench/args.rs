//! Command-line options of `paddock bench`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Usage text.
pub const USAGE: &str = "usage:
  paddock bench [run] [OPTIONS]       run workloads against a server
  paddock bench wait-ready [OPTIONS]  wait until a server serves; print how long it took
  paddock bench plot --input TSV --out DIR [--mode TEXT]
                                      draw bench/plots/*.png from report.py's TSV
                                      (TEXT, e.g. \"3-node ensembles\", goes into the titles)

run options:
  --connect ADDRS         server address HOST:PORT (default 127.0.0.1:2181), or a
                          comma-separated list HOST:PORT,HOST:PORT,... (an ensemble):
                          session i connects to address i mod n; the sessions that
                          prepare the tree and the watch workload's writer use the first
  --workloads LIST        comma-separated, in order (default: standard); one of
                          create delete set get exists mixed churn watch populate,
                          or `standard` (all but populate)
  --sessions N            client sessions, one task each (default 16)
  --depth N               requests in flight per session (default 8)
  --warmup SECS           warm-up before each measured window (default 2)
  --duration SECS         measured window per workload (default 10)
  --value-size BYTES      data per znode (default 100)
  --keys N                znodes read and written by set/get/exists/mixed (default 10000)
  --read-pct N            share of reads in `mixed` (default 90)
  --watchers N            watching sessions in `watch` (default 100)
  --count N               znodes created by `populate` (default 100000)
  --session-timeout-ms N  requested session timeout (default 30000)
  --base PATH             parent of everything the benchmark creates (default /paddock-bench)
  --server-pid PIDS       read the server's CPU time and RSS from /proc around each window;
                          a comma-separated list (an ensemble's processes) is summed:
                          utime+stime of all, VmRSS and VmHWM added up (sum of the peaks)
  --rate SPEC             open loop: offer a fixed rate instead of running as fast as the
                          server answers. SPEC is ops/s over all sessions for every
                          workload run (e.g. 20000), or per workload, e.g.
                          create=20000,get=50000 (workloads not listed run closed-loop).
                          Session i of n sends its k-th request at (k*n + i)/rate s
                          after the start (rate/n per session, the sessions' schedules
                          staggered), once it is due and fewer than --depth are in
                          flight; latency runs from the request's scheduled time, so
                          when the server falls behind, the queue shows in the latency
                          (a wake-up also sends what falls due within the next 2 ms,
                          the timer's granularity, timed from its send). An op is what
                          the workload counts: a request (churn: a create or a delete);
                          for watch an event (sets at rate/--watchers per second,
                          latency from the set's scheduled time to each event); the
                          nodes delete uses are made and its leftovers drained
                          closed-loop, unrecorded, as without a rate. Reports the
                          target and achieved rates (JSON: rate_target, rate_achieved,
                          behind); behind, with a warning on stderr, is achieved below
                          95% of the target, or above 105% (a backlog from before the
                          window worked off inside it).
  --label NAME            name of the server in the output (default: the address)
  --threads N             client runtime worker threads (default: all CPUs)
  --json                  print one JSON document on stdout instead of a table
  --quiet                 no progress line on stderr

wait-ready options:
  --connect ADDRS         server address (default 127.0.0.1:2181); with a comma-separated
                          list, every one must serve and answer `srvr` with `Mode: leader`
                          or `Mode: follower`, exactly one of them leader (an ensemble)
  --since-epoch SECS      wall-clock start (e.g. bash's $EPOCHREALTIME taken just
                          before starting the server); default: now
  --pid PIDS              give up if this process (any of a comma-separated list) exits
  --deadline-ms N         give up after this long (default 60000)
  --interval-ms N         poll interval (default 1)";

/// A workload: what each session's requests are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Unique persistent znodes (one parent per session).
    Create,
    /// Deletes what `create` made (or makes its own first).
    Delete,
    /// setData on random keys.
    Set,
    /// getData on random keys.
    Get,
    /// exists on random keys.
    Exists,
    /// `read_pct`% getData, the rest setData.
    Mixed,
    /// Ephemeral-sequential create then delete under one parent (lock recipe).
    Churn,
    /// Many sessions watch one znode; one writer sets it.
    Watch,
    /// Creates `count` znodes once, as fast as possible.
    Populate,
}

impl Workload {
    /// Every workload but `populate`, in the default order (delete after create).
    pub const STANDARD: [Workload; 8] = [
        Workload::Create,
        Workload::Delete,
        Workload::Set,
        Workload::Get,
        Workload::Exists,
        Workload::Mixed,
        Workload::Churn,
        Workload::Watch,
    ];

    /// The workload's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Create => "create",
            Workload::Delete => "delete",
            Workload::Set => "set",
            Workload::Get => "get",
            Workload::Exists => "exists",
            Workload::Mixed => "mixed",
            Workload::Churn => "churn",
            Workload::Watch => "watch",
            Workload::Populate => "populate",
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Workload::STANDARD
            .iter()
            .chain(&[Workload::Populate])
            .copied()
            .find(|w| w.name() == s)
            .ok_or_else(|| format!("unknown workload {s:?}"))
    }
}

/// An open-loop run that achieved less than this share of its target rate
/// fell behind.
pub const RATE_BEHIND_SHARE: f64 = 0.95;
/// An open-loop run that achieved more than this share of its target rate
/// was behind when its window opened and caught up inside it (the schedule
/// offers only the target within the window).
pub const RATE_CAUGHT_UP_SHARE: f64 = 1.05;
/// The highest rate `--rate` accepts, ops/s.
const RATE_MAX_PER_S: f64 = 10_000_000.0;

/// `--rate`: which workloads run open-loop, at how many ops/s (over all
/// sessions); the rest run closed-loop.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rates {
    /// The rate of every workload (`--rate N`).
    all: Option<f64>,
    /// Per-workload rates (`--rate w=N,...`), in the order given.
    each: Vec<(Workload, f64)>,
    /// The spec as given (empty: no `--rate`).
    pub spec: String,
}

impl Rates {
    /// The target rate of `w` in ops/s; `None`: closed-loop.
    pub fn get(&self, w: Workload) -> Option<f64> {
        self.all
            .or_else(|| self.each.iter().find(|(x, _)| *x == w).map(|&(_, r)| r))
    }

    /// Parses `N` or `workload=N,workload=N,...`.
    pub fn parse(spec: &str) -> Result<Rates, String> {
        let spec = spec.trim();
        if !spec.contains('=') {
            return Ok(Rates {
                all: Some(rate("--rate", spec)?),
                each: Vec::new(),
                spec: spec.to_string(),
            });
        }
        let mut each: Vec<(Workload, f64)> = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| format!("--rate: {item:?} is not WORKLOAD=OPS_PER_S"))?;
            let w: Workload = name.trim().parse().map_err(|e| format!("--rate: {e}"))?;
            if each.iter().any(|(x, _)| *x == w) {
                return Err(format!("--rate: {w} is given twice"));
            }
            each.push((w, rate(&format!("--rate {w}"), value.trim())?));
        }
        Ok(Rates {
            all: None,
            each,
            spec: spec.to_string(),
        })
    }

    /// Workloads given a rate of their own.
    fn named(&self) -> impl Iterator<Item = Workload> + '_ {
        self.each.iter().map(|&(w, _)| w)
    }
}

/// One positive, finite rate in ops/s.
fn rate(what: &str, v: &str) -> Result<f64, String> {
    let r: f64 = num(what, v)?;
    if !(r.is_finite() && r > 0.0 && r <= RATE_MAX_PER_S) {
        return Err(format!("{what}: {v} ops/s is not in (0, {RATE_MAX_PER_S}]"));
    }
    Ok(r)
}

/// Options of `paddock bench run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Server addresses (one, or an ensemble's client ports): session `i`
    /// connects to `connect[i % len]`.
    pub connect: Vec<String>,
    /// Workloads, in order.
    pub workloads: Vec<Workload>,
    /// Client sessions.
    pub sessions: usize,
    /// Requests in flight per session.
    pub depth: usize,
    /// Warm-up per workload.
    pub warmup: Duration,
    /// Measured window per workload.
    pub duration: Duration,
    /// Bytes of data per znode.
    pub value_size: usize,
    /// Keys for set/get/exists/mixed.
    pub keys: u64,
    /// Share of reads in `mixed`, percent.
    pub read_pct: u32,
    /// Watching sessions in `watch`.
    pub watchers: usize,
    /// Znodes created by `populate`.
    pub count: u64,
    /// Requested session timeout.
    pub session_timeout_ms: i32,
    /// Parent of all benchmark znodes.
    pub base: String,
    /// The server's PIDs (several for an ensemble, summed), for CPU and
    /// memory readings; empty: none.
    pub server_pids: Vec<u32>,
    /// Open-loop target rates (`--rate`); by default every workload runs
    /// closed-loop.
    pub rates: Rates,
    /// Name of the server in reports.
    pub label: String,
    /// Client runtime worker threads (0: all CPUs).
    pub threads: usize,
    /// JSON output.
    pub json: bool,
    /// No progress line.
    pub quiet: bool,
}

impl RunOptions {
    /// The address session `i` connects to (round-robin over `connect`).
    pub fn addr(&self, i: usize) -> &str {
        &self.connect[i % self.connect.len()]
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            connect: vec!["127.0.0.1:2181".into()],
            workloads: Workload::STANDARD.to_vec(),
            sessions: 16,
            depth: 8,
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(10),
            value_size: 100,
            keys: 10_000,
            read_pct: 90,
            watchers: 100,
            count: 100_000,
            session_timeout_ms: 30_000,
            base: "/paddock-bench".into(),
            server_pids: Vec::new(),
            rates: Rates::default(),
            label: String::new(),
            threads: 0,
            json: false,
            quiet: false,
        }
    }
}

/// Options of `paddock bench wait-ready`.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    /// Server addresses: one, or an ensemble's client ports.
    pub connect: Vec<String>,
    /// Wall-clock start, seconds since the epoch.
    pub since_epoch: Option<f64>,
    /// Processes whose exit means the server will never come up.
    pub pids: Vec<u32>,
    /// Give up after this long.
    pub deadline: Duration,
    /// Poll interval.
    pub interval: Duration,
}

/// Options of `paddock bench plot`.
#[derive(Debug, Clone)]
pub struct PlotOptions {
    /// The TSV written by bench/report.py.
    pub input: String,
    /// Directory for the PNG files.
    pub out: String,
    /// What was measured (e.g. "3-node ensembles"), for the titles; empty:
    /// standalone, titles as they always were.
    pub mode: String,
}

/// A parsed command line.
#[derive(Debug)]
pub enum Command {
    /// Run workloads.
    Run(Box<RunOptions>),
    /// Wait for a server to serve.
    WaitReady(WaitOptions),
    /// Draw plots.
    Plot(PlotOptions),
    /// Print usage.
    Help,
}

/// Parses `paddock bench` arguments.
pub fn parse(args: &[String]) -> Result<Command, String> {
    match args.first().map(String::as_str) {
        Some("-h") | Some("--help") | Some("help") => Ok(Command::Help),
        Some("wait-ready") => parse_wait(&args[1..]).map(Command::WaitReady),
        Some("plot") => parse_plot(&args[1..]).map(Command::Plot),
        Some("run") => parse_run(&args[1..]).map(|o| Command::Run(Box::new(o))),
        _ => parse_run(args).map(|o| Command::Run(Box::new(o))),
    }
}

/// Splits `--flag value` pairs, calling `set(flag, value)` for each.
fn pairs(
    args: &[String],
    switches: &[&str],
    mut set: impl FnMut(&str, &str) -> Result<(), String>,
) -> Result<(), String> {
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if switches.contains(&flag.as_str()) {
            set(flag, "")?;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        set(flag, value)?;
    }
    Ok(())
}

fn num<T: FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag}: {v:?} is not a valid number"))
}

/// A comma-separated list of numbers (at least one).
fn list<T: FromStr>(flag: &str, v: &str) -> Result<Vec<T>, String> {
    let items: Vec<T> = v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| num(flag, s))
        .collect::<Result<_, _>>()?;
    if items.is_empty() {
        return Err(format!("{flag} needs at least one value"));
    }
    Ok(items)
}

/// A comma-separated list of HOST:PORT addresses (at least one).
fn addresses(flag: &str, v: &str) -> Result<Vec<String>, String> {
    let addrs: Vec<String> = v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if addrs.is_empty() {
        return Err(format!("{flag} needs at least one HOST:PORT"));
    }
    if let Some(bad) = addrs.iter().find(|a| !a.contains(':')) {
        return Err(format!("{flag}: {bad:?} is not HOST:PORT"));
    }
    Ok(addrs)
}

fn secs(flag: &str, v: &str) -> Result<Duration, String> {
    let s: f64 = num(flag, v)?;
    if !(0.0..=86_400.0).contains(&s) {
        return Err(format!("{flag}: {v} is out of range"));
    }
    Ok(Duration::from_secs_f64(s))
}

fn parse_run(args: &[String]) -> Result<RunOptions, String> {
    let mut o = RunOptions::default();
    pairs(args, &["--json", "--quiet"], |flag, v| {
        match flag {
            "--connect" => o.connect = addresses(flag, v)?,
            "--workloads" => o.workloads = parse_workloads(v)?,
            "--sessions" => o.sessions = num(flag, v)?,
            "--depth" => o.depth = num(flag, v)?,
            "--warmup" => o.warmup = secs(flag, v)?,
            "--duration" => o.duration = secs(flag, v)?,
            "--value-size" => o.value_size = num(flag, v)?,
            "--keys" => o.keys = num(flag, v)?,
            "--read-pct" => o.read_pct = num(flag, v)?,
            "--watchers" => o.watchers = num(flag, v)?,
            "--count" => o.count = num(flag, v)?,
            "--session-timeout-ms" => o.session_timeout_ms = num(flag, v)?,
            "--base" => o.base = v.trim_end_matches('/').into(),
            "--server-pid" => o.server_pids = list(flag, v)?,
            "--rate" => o.rates = Rates::parse(v)?,
            "--label" => o.label = v.into(),
            "--threads" => o.threads = num(flag, v)?,
            "--json" => o.json = true,
            "--quiet" => o.quiet = true,
            _ => return Err(format!("unknown option {flag}")),
        }
        Ok(())
    })?;
    validate_run(&o)?;
    if o.label.is_empty() {
        o.label = o.connect.join(",");
    }
    Ok(o)
}

fn validate_run(o: &RunOptions) -> Result<(), String> {
    if !(1..=10_000).contains(&o.sessions) {
        return Err("--sessions must be in 1..=10000".into());
    }
    if !(1..=1024).contains(&o.depth) {
        return Err("--depth must be in 1..=1024".into());
    }
    if !(1..=10_000).contains(&o.watchers) {
        return Err("--watchers must be in 1..=10000".into());
    }
    if o.value_size > 1_000_000 {
        return Err("--value-size must be at most 1000000".into());
    }
    if o.keys == 0 || o.read_pct > 100 {
        return Err("--keys must be positive and --read-pct at most 100".into());
    }
    if !o.base.starts_with('/') || o.base.len() < 2 {
        return Err("--base must be an absolute path other than /".into());
    }
    if o.workloads.is_empty() {
        return Err("--workloads is empty".into());
    }
    if let Some(w) = o.rates.named().find(|w| !o.workloads.contains(w)) {
        return Err(format!("--rate names {w}, which --workloads does not run"));
    }
    Ok(())
}

fn parse_workloads(v: &str) -> Result<Vec<Workload>, String> {
    let mut out = Vec::new();
    for name in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if name == "standard" || name == "all" {
            out.extend_from_slice(&Workload::STANDARD);
        } else {
            out.push(name.parse()?);
        }
    }
    Ok(out)
}

fn parse_wait(args: &[String]) -> Result<WaitOptions, String> {
    let mut o = WaitOptions {
        connect: vec!["127.0.0.1:2181".into()],
        since_epoch: None,
        pids: Vec::new(),
        deadline: Duration::from_secs(60),
        interval: Duration::from_millis(1),
    };
    pairs(args, &[], |flag, v| {
        match flag {
            "--connect" => o.connect = addresses(flag, v)?,
            "--since-epoch" => o.since_epoch = Some(num(flag, v)?),
            "--pid" => o.pids = list(flag, v)?,
            "--deadline-ms" => o.deadline = Duration::from_millis(num(flag, v)?),
            "--interval-ms" => o.interval = Duration::from_millis(num(flag, v)?),
            _ => return Err(format!("unknown option {flag}")),
        }
        Ok(())
    })?;
    Ok(o)
}

fn parse_plot(args: &[String]) -> Result<PlotOptions, String> {
    let mut o = PlotOptions {
        input: String::new(),
        out: "bench/plots".into(),
        mode: String::new(),
    };
    pairs(args, &[], |flag, v| {
        match flag {
            "--input" => o.input = v.into(),
            "--out" => o.out = v.into(),
            "--mode" => o.mode = v.into(),
            _ => return Err(format!("unknown option {flag}")),
        }
        Ok(())
    })?;
    if o.input.is_empty() {
        return Err("plot needs --input".into());
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn run_options_parse() {
        let Command::Run(o) = parse(&args(
            "--sessions 4 --depth 2 --workloads get,set --json --warmup 0.5",
        ))
        .unwrap() else {
            panic!("not run")
        };
        assert_eq!((o.sessions, o.depth, o.json), (4, 2, true));
        assert_eq!(o.workloads, vec![Workload::Get, Workload::Set]);
        assert_eq!(o.warmup, Duration::from_millis(500));
        assert_eq!(o.label, "127.0.0.1:2181");
    }

    #[test]
    fn address_and_pid_lists() {
        let Command::Run(o) = parse(&args(
            "--connect 127.0.0.1:1,127.0.0.1:2,127.0.0.1:3 --server-pid 10,11,12",
        ))
        .unwrap() else {
            panic!("not run")
        };
        assert_eq!(o.connect.len(), 3);
        assert_eq!(
            (0..5).map(|i| o.addr(i)).collect::<Vec<_>>(),
            [
                "127.0.0.1:1",
                "127.0.0.1:2",
                "127.0.0.1:3",
                "127.0.0.1:1",
                "127.0.0.1:2"
            ]
        );
        assert_eq!(o.server_pids, [10, 11, 12]);
        assert_eq!(o.label, "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3");
        let Command::Run(o) = parse(&args("--connect 127.0.0.1:9 --server-pid 7")).unwrap() else {
            panic!("not run")
        };
        assert_eq!(
            (o.addr(3), o.server_pids.as_slice()),
            ("127.0.0.1:9", &[7][..])
        );
        let Command::WaitReady(w) = parse(&args("wait-ready --connect a:1,b:2 --pid 5,6")).unwrap()
        else {
            panic!("not wait-ready")
        };
        assert_eq!((w.connect.len(), w.pids), (2, vec![5, 6]));
        assert!(parse(&args("--connect ,")).is_err());
        assert!(parse(&args("--connect nohost")).is_err());
        assert!(parse(&args("--server-pid 1,x")).is_err());
    }

    fn run(s: &str) -> Box<RunOptions> {
        match parse(&args(s)).unwrap() {
            Command::Run(o) => o,
            other => panic!("not run: {other:?}"),
        }
    }

    #[test]
    fn no_rate_is_closed_loop() {
        let o = run("--workloads create,get");
        assert_eq!(o.rates, Rates::default());
        assert_eq!(o.rates.get(Workload::Create), None);
    }

    #[test]
    fn one_rate_applies_to_every_workload() {
        let o = run("--rate 2500.5 --workloads create,watch");
        for w in Workload::STANDARD.iter().chain(&[Workload::Populate]) {
            assert_eq!(o.rates.get(*w), Some(2500.5), "{w}");
        }
        assert_eq!(o.rates.spec, "2500.5");
    }

    #[test]
    fn per_workload_rates_leave_the_rest_closed_loop() {
        let o = run("--workloads create,delete,get --rate create=1000,delete=2e3");
        assert_eq!(o.rates.get(Workload::Create), Some(1000.0));
        assert_eq!(o.rates.get(Workload::Delete), Some(2000.0));
        assert_eq!(o.rates.get(Workload::Get), None);
        let o = run("--rate create=10,get=20, --workloads get,create");
        assert_eq!(o.rates.get(Workload::Get), Some(20.0));
        assert_eq!(o.rates.spec, "create=10,get=20,");
    }

    #[test]
    fn bad_rates_are_refused() {
        for bad in [
            "--rate 0",
            "--rate -5",
            "--rate inf",
            "--rate NaN",
            "--rate fast",
            "--rate 1e9",
            "--rate create=",
            "--rate create=0",
            "--rate nope=5",
            "--rate create=5,create=6",
            "--rate create=5,7",
            "--rate =5",
            "--workloads get --rate create=5",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
        let Err(e) = parse(&args("--workloads get --rate set=5")) else {
            panic!("accepted")
        };
        assert!(e.contains("set"), "{e}");
    }

    #[test]
    fn standard_expands_and_errors_are_reported() {
        assert_eq!(parse_workloads("standard,populate").unwrap().len(), 9);
        assert!(parse(&args("--sessions")).is_err());
        assert!(parse(&args("--workloads nope")).is_err());
        assert!(parse(&args("--depth 0")).is_err());
    }
}
