//! Reading `/proc/PID/*` into a [`ProcessSnapshot`]. A file that cannot be read leaves its
//! part empty and is named in `missing` (with the OS error), so callers can say exactly
//! what they could not see instead of dropping the process.

use crate::LiveError;
use crate::gobin::{self, GoBinary};
use gorx_analysis::process::ProcessSnapshot;
use gorx_formats::procfs::{self, FdBreakdown, GoEnv};
use std::path::{Path, PathBuf};

/// Numeric entries of /proc, ascending.
pub fn list_pids() -> Vec<u32> {
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

fn proc_file(pid: u32, name: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{name}"))
}

pub fn read_text(path: &Path) -> Result<String, LiveError> {
    let b = std::fs::read(path).map_err(|e| LiveError::io(path, e))?;
    Ok(String::from_utf8_lossy(&b).into_owned())
}

/// The Go build info of the process's executable; `Ok(None)` when it is not Go.
/// Kernel threads have no executable: that is `Err` with NotFound.
pub fn go_binary(pid: u32) -> Result<Option<GoBinary>, LiveError> {
    // Opening /proc/PID/exe works even when the file on disk was replaced or deleted.
    gobin::read_go_binary(&proc_file(pid, "exe"))
}

/// Open fds by kind, from the `/proc/PID/fd` links.
pub fn read_fds(pid: u32) -> Result<FdBreakdown, LiveError> {
    let dir = proc_file(pid, "fd");
    let rd = std::fs::read_dir(&dir).map_err(|e| LiveError::io(&dir, e))?;
    let mut b = FdBreakdown::default();
    for e in rd.flatten() {
        match std::fs::read_link(e.path()) {
            Ok(target) => b.add(&target.to_string_lossy()),
            // Listing is allowed but the links are not (another user's process, ptrace
            // restrictions): an empty breakdown would be a lie.
            Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(LiveError::io(&e.path(), err));
            }
            // An fd closed between readdir and readlink is simply gone.
            Err(_) => {}
        }
    }
    Ok(b)
}

/// The fd listing as `N -> target` lines (what a capture bundle stores as `proc/fd.txt`).
pub fn fd_listing(pid: u32) -> Result<String, LiveError> {
    let dir = proc_file(pid, "fd");
    let rd = std::fs::read_dir(&dir).map_err(|e| LiveError::io(&dir, e))?;
    let mut rows: Vec<(u32, String)> = rd
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.parse().ok()?;
            let t = std::fs::read_link(e.path()).ok()?;
            Some((n, t.to_string_lossy().into_owned()))
        })
        .collect();
    rows.sort();
    Ok(rows
        .into_iter()
        .map(|(n, t)| format!("{n} -> {t}\n"))
        .collect())
}

/// The `n` largest anonymous mappings of `pid` (by anonymous bytes) from /proc/PID/smaps.
pub fn top_anon_mappings(pid: u32, n: usize) -> Result<Vec<procfs::Mapping>, LiveError> {
    let p = proc_file(pid, "smaps");
    let text = read_text(&p)?;
    let mut m = procfs::parse_smaps(&p.display().to_string(), &text)?;
    m.retain(|x| x.anonymous_bytes > 0);
    m.sort_by_key(|x| std::cmp::Reverse(x.anonymous_bytes));
    m.truncate(n);
    Ok(m)
}

/// Online CPUs of the machine.
pub fn host_cpus() -> Option<u32> {
    let t = std::fs::read_to_string("/sys/devices/system/cpu/online").ok()?;
    procfs::count_cpu_list("/sys/devices/system/cpu/online", 1, &t).ok()
}

/// The host's CPU pressure. `Ok(None)` where the kernel has no PSI (before 4.20, or
/// booted with psi=0: the file is absent or refuses reads).
pub fn host_cpu_pressure() -> Result<Option<procfs::CpuPressure>, LiveError> {
    let p = Path::new("/proc/pressure/cpu");
    match std::fs::read_to_string(p) {
        Ok(t) => Ok(Some(procfs::parse_cpu_pressure(
            &p.display().to_string(),
            &t,
        )?)),
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || e.raw_os_error() == Some(libc::EOPNOTSUPP) =>
        {
            Ok(None)
        }
        Err(e) => Err(LiveError::io(p, e)),
    }
}

pub fn host_loadavg() -> Result<procfs::LoadAvg, LiveError> {
    let p = Path::new("/proc/loadavg");
    let t = read_text(p)?;
    Ok(procfs::parse_loadavg(&p.display().to_string(), &t)?)
}

/// CPU and run-queue time summed over the process's threads. Threads that exit while
/// they are read are skipped; None when no thread could be read (no schedstats).
pub fn thread_schedstat(pid: u32) -> Result<Option<procfs::SchedStat>, LiveError> {
    let dir = proc_file(pid, "task");
    let rd = std::fs::read_dir(&dir).map_err(|e| LiveError::io(&dir, e))?;
    let mut sum = procfs::SchedStat::default();
    let mut any = false;
    for e in rd.flatten() {
        let p = e.path().join("schedstat");
        let Ok(t) = std::fs::read_to_string(&p) else {
            continue;
        };
        // A damaged line costs one thread, not the reading.
        if let Ok(st) = procfs::parse_schedstat(&p.display().to_string(), &t) {
            sum.add(&st);
            any = true;
        }
    }
    Ok(any.then_some(sum))
}

/// The command line, NUL-separated args joined by spaces (falls back to `comm`).
pub fn command(pid: u32) -> String {
    let cmd = std::fs::read(proc_file(pid, "cmdline"))
        .ok()
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    if cmd.is_empty() {
        std::fs::read_to_string(proc_file(pid, "comm"))
            .map(|s| format!("[{}]", s.trim()))
            .unwrap_or_default()
    } else {
        cmd
    }
}

/// Everything readable about `pid` from /proc and cgroupfs. `go` is the binary's build
/// info when already known. Fails only when the process does not exist.
pub fn snapshot(pid: u32, go: Option<&GoBinary>) -> Result<ProcessSnapshot, LiveError> {
    let status_path = proc_file(pid, "status");
    // The status file is the existence check: without it there is no process.
    let status_text = read_text(&status_path)?;
    let mut s = ProcessSnapshot {
        pid,
        command: command(pid),
        go_version: go.and_then(|g| g.go_version.clone()),
        default_godebug: go.and_then(|g| g.setting("DefaultGODEBUG").map(str::to_string)),
        host_cpus: host_cpus(),
        ..Default::default()
    };
    let name = status_path.display().to_string();
    match procfs::parse_status(&name, &status_text) {
        Ok(st) => s.status = Some(st),
        Err(e) => s.missing.push(e.to_string()),
    }
    let p = proc_file(pid, "smaps_rollup");
    match read_text(&p).and_then(|t| Ok(procfs::parse_smaps_rollup(&p.display().to_string(), &t)?))
    {
        Ok(v) => s.smaps = Some(v),
        Err(e) => s.missing.push(e.to_string()),
    }
    let p = proc_file(pid, "limits");
    match read_text(&p).and_then(|t| Ok(procfs::parse_limits(&p.display().to_string(), &t)?)) {
        Ok(l) => {
            if let Some(n) = l.nofile() {
                s.nofile_soft = n.soft;
                s.nofile_hard = n.hard;
            }
        }
        Err(e) => s.missing.push(e.to_string()),
    }
    match read_fds(pid) {
        Ok(f) => s.fds = Some(f),
        Err(e) => s.missing.push(e.to_string()),
    }
    let p = proc_file(pid, "environ");
    match std::fs::read(&p) {
        Ok(b) => s.env = Some(GoEnv::from_environ(&procfs::parse_environ(&b))),
        Err(e) => s.missing.push(LiveError::io(&p, e).to_string()),
    }
    match crate::cgroup::read_chain(pid) {
        Ok(c) => s.cgroup = Some(c),
        Err(e) => s.missing.push(e.to_string()),
    }
    match host_cpu_pressure() {
        Ok(p) => s.host_cpu_pressure = p,
        Err(e) => s.missing.push(e.to_string()),
    }
    match host_loadavg() {
        Ok(l) => s.host_loadavg = Some(l),
        Err(e) => s.missing.push(e.to_string()),
    }
    match thread_schedstat(pid) {
        Ok(x) => s.schedstat = x,
        Err(e) => s.missing.push(e.to_string()),
    }
    Ok(s)
}

/// When `pid` started, in Unix nanoseconds: the boot time (`btime` of /proc/stat) plus its
/// start time in clock ticks (/proc/PID/stat).
pub fn start_unix_ns(pid: u32) -> Option<u64> {
    let p = format!("/proc/{pid}/stat");
    let st = procfs::parse_stat(&p, &std::fs::read_to_string(&p).ok()?).ok()?;
    let btime: u64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| btime * 1_000_000_000 + (st.starttime_ticks as f64 / hz as f64 * 1e9) as u64)
}
