//! What Linux reports of a process: CPU time from `/proc/<pid>/stat`, resident memory from
//! `/proc/<pid>/status`. CPU time is steadier than wall time on a shared machine.

use std::time::Duration;

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`, 100 on Linux).
const TICKS_PER_SECOND: u64 = 100;

/// User plus system CPU time of every thread of `pid` so far.
pub(crate) fn cpu_time(pid: u32) -> Duration {
    let (user, system) = cpu_times(pid);
    user + system
}

/// User and system CPU time of every thread of `pid` so far, apart.
pub(crate) fn cpu_times(pid: u32) -> (Duration, Duration) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|error| panic!("reading /proc/{pid}/stat: {error}"));
    // The command name may hold spaces and parentheses; the fields after the last ')' do not.
    let after_name = &stat[stat.rfind(')').expect("stat has a command name") + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // Counted from `state` (field 3 of proc(5)): utime is field 14, stime field 15.
    let ticks = |index: usize, name: &str| {
        let ticks: u64 = fields[index].parse().unwrap_or_else(|_| panic!("{name}"));
        Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND)
    };
    (ticks(11, "utime"), ticks(12, "stime"))
}

/// Resident memory of `pid`, in bytes (`VmRSS`).
pub(crate) fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|error| panic!("reading /proc/{pid}/status: {error}"));
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .expect("status has VmRSS");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|value| value.parse().ok())
        .expect("VmRSS is a number of kB");
    kib * 1024
}

/// The CPU model and core count of this machine, e.g. "2 cores, Intel(R) Xeon(R) Processor".
pub(crate) fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or("unknown CPU", |(_, model)| model.trim());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    format!("{cores} cores, {model}")
}
