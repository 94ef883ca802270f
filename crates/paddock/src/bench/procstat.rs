//! CPU time and memory of a process, from Linux's /proc.

use std::fs;

/// Clock ticks per second of /proc/PID/stat's utime and stime (USER_HZ,
/// 100 on every Linux architecture paddock targets).
const USER_HZ: f64 = 100.0;

/// User plus system CPU seconds of `pid` (`None` for this process), or
/// `None` if /proc cannot tell.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = fs::read_to_string(path).ok()?;
    // The command name may hold spaces; fields restart after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13
    // counted from the state field (field 3), zero-based 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// Resident and peak resident memory of `pid` in KiB (VmRSS, VmHWM).
pub fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// User plus system CPU seconds of all of `pids` added up (an ensemble's
/// processes), or `None` if there are none or /proc cannot tell for one.
pub fn cpu_seconds_sum(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&p| cpu_seconds(Some(p))).sum()
}

/// VmRSS and VmHWM of all of `pids` added up, in KiB (the HWM is the sum of
/// each process's own peak, not the peak of the sum), or `None` if there
/// are none or one cannot be read.
pub fn rss_kib_sum(pids: &[u32]) -> Option<(u64, u64)> {
    if pids.is_empty() {
        return None;
    }
    pids.iter()
        .map(|&p| rss_kib(p))
        .try_fold((0, 0), |(r, h), m| m.map(|(mr, mh)| (r + mr, h + mh)))
}

/// Whether `pid` still runs (exists and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => match stat.rfind(')') {
            Some(i) => !stat[i + 1..].trim_start().starts_with(['Z', 'X']),
            None => true,
        },
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        assert!(cpu_seconds(None).is_some());
        let pid = std::process::id();
        let (rss, hwm) = rss_kib(pid).unwrap();
        assert!(rss > 0 && hwm >= rss);
        assert!(alive(pid));
        let one = cpu_seconds_sum(&[pid]).unwrap();
        assert!(cpu_seconds_sum(&[pid, pid]).unwrap() >= 2.0 * one);
        let (rss2, hwm2) = rss_kib_sum(&[pid, pid]).unwrap();
        assert!(rss2 >= rss && hwm2 >= 2 * hwm);
        assert!(cpu_seconds_sum(&[]).is_none() && rss_kib_sum(&[]).is_none());
    }
}
