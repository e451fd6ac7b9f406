//! Parsers for the Linux `/proc/PID/*` files gorx reads from live processes (and the copies
//! a capture bundle keeps under `proc/`): `status`, `limits`, `smaps_rollup`, `stat`,
//! `environ`, fd listings, `/proc/net/tcp{,6}`, `/proc/PID/cgroup` and `mountinfo`.
//!
//! Sizes the kernel prints in kB are returned in bytes. Unknown lines are ignored (the
//! kernel adds fields over time); malformed known lines are errors naming the line.

use crate::error::{FormatError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `/proc/PID/status`: the fields gorx uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Status {
    /// Lines that did not parse (`file:line: why; line skipped`): a damaged line of a
    /// copied status file loses that field, not the file.
    pub skipped_lines: Vec<String>,
    pub name: String,
    /// Single-letter state, e.g. `S`, `R`, `Z`.
    pub state: String,
    pub pid: Option<u32>,
    pub ppid: Option<u32>,
    /// Real and effective uid.
    pub uid: Option<(u32, u32)>,
    pub vm_size_bytes: Option<u64>,
    pub vm_hwm_bytes: Option<u64>,
    pub vm_rss_bytes: Option<u64>,
    pub rss_anon_bytes: Option<u64>,
    pub rss_file_bytes: Option<u64>,
    pub rss_shmem_bytes: Option<u64>,
    pub vm_swap_bytes: Option<u64>,
    pub threads: Option<u64>,
    pub fd_size: Option<u64>,
    /// Number of CPUs in `Cpus_allowed_list` (the affinity mask Go sizes GOMAXPROCS from).
    pub cpus_allowed: Option<u32>,
    pub voluntary_ctxt_switches: Option<u64>,
    pub nonvoluntary_ctxt_switches: Option<u64>,
}

/// Parse `/proc/PID/status`.
pub fn parse_status(input: &str, text: &str) -> Result<Status> {
    let mut s = Status::default();
    for (i, line) in text.lines().enumerate() {
        let lineno = i as u64 + 1;
        let Some((key, val)) = line.split_once(':') else {
            continue;
        };
        let val = val.trim();
        if let Err(e) = status_field(&mut s, input, lineno, key, val) {
            s.skipped_lines.push(format!("{e}; line skipped"));
        }
    }
    if s.name.is_empty() && s.pid.is_none() {
        return Err(FormatError::whole(
            input,
            "no Name or Pid line: not a /proc status file",
        ));
    }
    Ok(s)
}

fn status_field(s: &mut Status, input: &str, lineno: u64, key: &str, val: &str) -> Result<()> {
    let kb = || parse_kb(input, lineno, key, val);
    let num = || parse_num::<u64>(input, lineno, key, val);
    match key {
        "Name" => s.name = val.to_string(),
        "State" => s.state = val.split_whitespace().next().unwrap_or("").to_string(),
        "Pid" => s.pid = Some(parse_num(input, lineno, key, val)?),
        "PPid" => s.ppid = Some(parse_num(input, lineno, key, val)?),
        "Uid" => {
            let mut f = val.split_whitespace();
            let r = f.next().unwrap_or("");
            let e = f.next().unwrap_or("");
            s.uid = Some((
                parse_num(input, lineno, key, r)?,
                parse_num(input, lineno, key, e)?,
            ));
        }
        "VmSize" => s.vm_size_bytes = Some(kb()?),
        "VmHWM" => s.vm_hwm_bytes = Some(kb()?),
        "VmRSS" => s.vm_rss_bytes = Some(kb()?),
        "RssAnon" => s.rss_anon_bytes = Some(kb()?),
        "RssFile" => s.rss_file_bytes = Some(kb()?),
        "RssShmem" => s.rss_shmem_bytes = Some(kb()?),
        "VmSwap" => s.vm_swap_bytes = Some(kb()?),
        "Threads" => s.threads = Some(num()?),
        "FDSize" => s.fd_size = Some(num()?),
        "Cpus_allowed_list" => s.cpus_allowed = Some(count_cpu_list(input, lineno, val)?),
        "voluntary_ctxt_switches" => s.voluntary_ctxt_switches = Some(num()?),
        "nonvoluntary_ctxt_switches" => s.nonvoluntary_ctxt_switches = Some(num()?),
        _ => {}
    }
    Ok(())
}

/// Count the CPUs in a list like `0-3,8,10-11` (also `/sys/devices/system/cpu/online`).
pub fn count_cpu_list(input: &str, line: u64, list: &str) -> Result<u32> {
    let mut n: u32 = 0;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: u32 = parse_num(input, line, "cpu list", a)?;
        let b: u32 = parse_num(input, line, "cpu list", b)?;
        if b < a {
            return Err(FormatError::at_line(
                input,
                line,
                format!("cpu range {part} is reversed"),
            ));
        }
        n = n.saturating_add(b - a + 1);
    }
    Ok(n)
}

fn parse_num<T: std::str::FromStr>(input: &str, line: u64, key: &str, v: &str) -> Result<T> {
    v.trim().parse().map_err(|_| {
        FormatError::at_line(input, line, format!("{key}: expected a number, got {v:?}"))
    })
}

fn parse_kb(input: &str, line: u64, key: &str, v: &str) -> Result<u64> {
    let num = v.strip_suffix("kB").unwrap_or(v).trim();
    let n: u64 = parse_num(input, line, key, num)?;
    n.checked_mul(1024)
        .ok_or_else(|| FormatError::at_line(input, line, format!("{key}: {n} kB overflows")))
}

/// One row of `/proc/PID/limits`; `None` means unlimited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limit {
    pub name: String,
    pub soft: Option<u64>,
    pub hard: Option<u64>,
    pub units: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Limits {
    pub rows: Vec<Limit>,
}

impl Limits {
    pub fn get(&self, name: &str) -> Option<&Limit> {
        self.rows.iter().find(|r| r.name == name)
    }
    /// RLIMIT_NOFILE.
    pub fn nofile(&self) -> Option<&Limit> {
        self.get("Max open files")
    }
}

/// Parse `/proc/PID/limits`. Columns are fixed-width with names containing spaces, so the
/// header's column positions decide where each field starts.
pub fn parse_limits(input: &str, text: &str) -> Result<Limits> {
    let mut lines = text.lines();
    let header = lines
        .next()
        .ok_or_else(|| FormatError::whole(input, "empty limits file"))?;
    let (Some(soft_at), Some(hard_at), Some(units_at)) = (
        header.find("Soft Limit"),
        header.find("Hard Limit"),
        header.find("Units"),
    ) else {
        return Err(FormatError::at_line(
            input,
            1,
            "expected the 'Limit  Soft Limit  Hard Limit  Units' header",
        ));
    };
    let mut out = Limits::default();
    for (i, line) in lines.enumerate() {
        let lineno = i as u64 + 2;
        if line.trim().is_empty() {
            continue;
        }
        let col = |a: usize, b: usize| {
            line.get(a.min(line.len())..b.min(line.len()))
                .unwrap_or("")
                .trim()
        };
        let name = col(0, soft_at);
        let soft = col(soft_at, hard_at);
        let hard = col(hard_at, units_at);
        let units = col(units_at, usize::MAX);
        if name.is_empty() || soft.is_empty() || hard.is_empty() {
            return Err(FormatError::at_line(
                input,
                lineno,
                format!("malformed limits row {line:?}"),
            ));
        }
        let lim = |v: &str| -> Result<Option<u64>> {
            if v == "unlimited" {
                Ok(None)
            } else {
                parse_num(input, lineno, name, v).map(Some)
            }
        };
        out.rows.push(Limit {
            name: name.to_string(),
            soft: lim(soft)?,
            hard: lim(hard)?,
            units: units.to_string(),
        });
    }
    Ok(out)
}

/// `/proc/PID/smaps_rollup`: every `Key: N kB` line, in bytes, plus named accessors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SmapsRollup {
    pub fields_bytes: BTreeMap<String, u64>,
}

impl SmapsRollup {
    pub fn get(&self, key: &str) -> Option<u64> {
        self.fields_bytes.get(key).copied()
    }
    pub fn rss_bytes(&self) -> Option<u64> {
        self.get("Rss")
    }
    /// Anonymous memory mapped by the process (heap, stacks, mmap(MAP_ANONYMOUS), dirty
    /// private file pages).
    pub fn anonymous_bytes(&self) -> Option<u64> {
        self.get("Anonymous")
    }
    pub fn pss_anon_bytes(&self) -> Option<u64> {
        self.get("Pss_Anon")
    }
    pub fn pss_file_bytes(&self) -> Option<u64> {
        self.get("Pss_File")
    }
    pub fn pss_shmem_bytes(&self) -> Option<u64> {
        self.get("Pss_Shmem")
    }
    pub fn swap_bytes(&self) -> Option<u64> {
        self.get("Swap")
    }
}

/// Parse `/proc/PID/smaps_rollup` (also works on a single `smaps` entry's fields).
pub fn parse_smaps_rollup(input: &str, text: &str) -> Result<SmapsRollup> {
    let mut out = SmapsRollup::default();
    for (i, line) in text.lines().enumerate() {
        let lineno = i as u64 + 1;
        let Some((key, val)) = line.split_once(':') else {
            continue;
        };
        // The first line is a mapping header ("55b9...-7ffc... ---p ... [rollup]").
        if key.contains(' ') || key.contains('-') && i == 0 {
            continue;
        }
        let val = val.trim();
        if let Some(num) = val.strip_suffix(" kB") {
            out.fields_bytes
                .insert(key.to_string(), parse_kb(input, lineno, key, num)?);
        }
    }
    if out.fields_bytes.is_empty() {
        return Err(FormatError::whole(
            input,
            "no 'Key: N kB' lines: not an smaps_rollup file",
        ));
    }
    Ok(out)
}

/// One mapping of `/proc/PID/smaps`, with the sizes gorx uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub perms: String,
    /// File path, `[heap]`, `[stack]`, `[anon:name]`, or empty for anonymous memory.
    pub path: String,
    pub rss_bytes: u64,
    pub anonymous_bytes: u64,
}

/// Parse `/proc/PID/smaps`: a header line per mapping followed by `Key: N kB` lines.
pub fn parse_smaps(input: &str, text: &str) -> Result<Vec<Mapping>> {
    let mut out: Vec<Mapping> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let lineno = i as u64 + 1;
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-')
            && !first.ends_with(':')
            && let (Ok(start), Ok(end)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16))
        {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 5 {
                return Err(FormatError::at_line(
                    input,
                    lineno,
                    format!("short mapping header {line:?}"),
                ));
            }
            out.push(Mapping {
                start,
                end,
                perms: f[1].to_string(),
                path: f.get(5..).map(|p| p.join(" ")).unwrap_or_default(),
                rss_bytes: 0,
                anonymous_bytes: 0,
            });
            continue;
        }
        let Some((key, val)) = line.split_once(':') else {
            continue;
        };
        let slot = match (out.last_mut(), key) {
            (Some(m), "Rss") => &mut m.rss_bytes,
            (Some(m), "Anonymous") => &mut m.anonymous_bytes,
            (None, _) => {
                return Err(FormatError::at_line(
                    input,
                    lineno,
                    "field before any mapping header",
                ));
            }
            _ => continue,
        };
        *slot = parse_kb(
            input,
            lineno,
            key,
            val.trim().strip_suffix(" kB").unwrap_or(val.trim()),
        )?;
    }
    Ok(out)
}

/// `/proc/PID/stat`: the fields gorx uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stat {
    pub pid: u32,
    pub comm: String,
    pub state: char,
    pub ppid: u32,
    /// User and system CPU time in clock ticks (`sysconf(_SC_CLK_TCK)`, usually 100).
    pub utime_ticks: u64,
    pub stime_ticks: u64,
    pub num_threads: u64,
    /// Start time after boot, in clock ticks.
    pub starttime_ticks: u64,
    pub vsize_bytes: u64,
    pub rss_pages: u64,
}

/// Parse `/proc/PID/stat`. The command can hold spaces and parentheses, so fields are
/// counted from the last `)`.
pub fn parse_stat(input: &str, text: &str) -> Result<Stat> {
    let open = text
        .find('(')
        .ok_or_else(|| FormatError::at_offset(input, 0, "no '(' before the command"))?;
    let close = text
        .rfind(')')
        .ok_or_else(|| FormatError::at_offset(input, 0, "no ')' after the command"))?;
    if close < open {
        return Err(FormatError::at_offset(
            input,
            close as u64,
            "')' before '('",
        ));
    }
    let pid = parse_num(input, 1, "pid", text[..open].trim())?;
    let comm = text[open + 1..close].to_string();
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // rest[0] is field 3 (state); field N is rest[N - 3].
    let field = |n: usize| -> Result<u64> {
        let v = rest.get(n - 3).ok_or_else(|| {
            FormatError::at_offset(
                input,
                close as u64,
                format!(
                    "stat has {} fields after the command, field {n} missing",
                    rest.len()
                ),
            )
        })?;
        parse_num(input, 1, &format!("stat field {n}"), v)
    };
    let state = rest
        .first()
        .and_then(|s| s.chars().next())
        .ok_or_else(|| FormatError::at_offset(input, close as u64, "no state after the command"))?;
    Ok(Stat {
        pid,
        comm,
        state,
        ppid: field(4)? as u32,
        utime_ticks: field(14)?,
        stime_ticks: field(15)?,
        num_threads: field(20)?,
        starttime_ticks: field(22)?,
        vsize_bytes: field(23)?,
        rss_pages: field(24)?,
    })
}

/// `/proc/PID/environ`: NUL-separated `KEY=VALUE` entries (invalid UTF-8 replaced).
pub fn parse_environ(data: &[u8]) -> Vec<(String, String)> {
    data.split(|&b| b == 0)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let s = String::from_utf8_lossy(e);
            match s.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (s.into_owned(), String::new()),
            }
        })
        .collect()
}

/// The Go runtime's knobs as set in a process's environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoEnv {
    pub gogc: Option<String>,
    pub gomemlimit: Option<String>,
    pub gomaxprocs: Option<String>,
    pub godebug: Option<String>,
}

impl GoEnv {
    pub fn from_environ(env: &[(String, String)]) -> GoEnv {
        let get = |k: &str| {
            env.iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        GoEnv {
            gogc: get("GOGC"),
            gomemlimit: get("GOMEMLIMIT"),
            gomaxprocs: get("GOMAXPROCS"),
            godebug: get("GODEBUG"),
        }
    }

    /// GOMEMLIMIT in bytes as the runtime reads it; `Ok(None)` for unset or `off`.
    pub fn gomemlimit_bytes(&self) -> std::result::Result<Option<u64>, String> {
        match self.gomemlimit.as_deref() {
            None | Some("") | Some("off") => Ok(None),
            Some(v) => parse_go_byte_size(v).map(Some),
        }
    }

    /// GOMAXPROCS when set to a positive integer (the runtime ignores other values).
    pub fn gomaxprocs_value(&self) -> Option<u32> {
        self.gomaxprocs
            .as_deref()?
            .trim()
            .parse()
            .ok()
            .filter(|&n: &u32| n > 0)
    }

    /// A `key=value` setting inside GODEBUG (last one wins, as in the runtime).
    pub fn godebug_setting(&self, key: &str) -> Option<&str> {
        godebug_lookup(self.godebug.as_deref()?, key)
    }
}

/// Look a key up in a comma-separated `k=v` list such as GODEBUG (last one wins).
pub fn godebug_lookup<'a>(list: &'a str, key: &str) -> Option<&'a str> {
    list.split(',')
        .filter_map(|kv| kv.trim().split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .next_back()
}

/// Go's GOMEMLIMIT syntax: an integer with an optional `B`, `KiB`, `MiB`, `GiB`, `TiB`
/// suffix (binary units; the runtime rejects decimal `MB`).
pub fn parse_go_byte_size(v: &str) -> std::result::Result<u64, String> {
    let v = v.trim();
    let (num, mult): (&str, u64) = [
        ("TiB", 1u64 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
        ("B", 1),
    ]
    .iter()
    .find_map(|(suf, m)| v.strip_suffix(suf).map(|n| (n, *m)))
    .unwrap_or((v, 1));
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{v:?} is not a Go byte size (e.g. 512MiB)"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("{v:?} overflows"))
}

/// What an open file descriptor points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FdKind {
    Regular,
    Device,
    Socket,
    Pipe,
    Eventfd,
    Epoll,
    /// Any other anonymous inode (timerfd, signalfd, inotify, pidfd, io_uring, ...).
    AnonInode,
    Other,
}

impl FdKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FdKind::Regular => "regular",
            FdKind::Device => "device",
            FdKind::Socket => "socket",
            FdKind::Pipe => "pipe",
            FdKind::Eventfd => "eventfd",
            FdKind::Epoll => "epoll",
            FdKind::AnonInode => "anon_inode",
            FdKind::Other => "other",
        }
    }

    /// Classify a `/proc/PID/fd/N` link target.
    pub fn classify(target: &str) -> FdKind {
        if target.starts_with("socket:[") {
            FdKind::Socket
        } else if target.starts_with("pipe:[") {
            FdKind::Pipe
        } else if target.starts_with("anon_inode:[eventfd") {
            FdKind::Eventfd
        } else if target == "anon_inode:[eventpoll]" {
            FdKind::Epoll
        } else if target.starts_with("anon_inode:") {
            FdKind::AnonInode
        } else if target.starts_with("/dev/") {
            FdKind::Device
        } else if target.starts_with('/') {
            FdKind::Regular
        } else {
            FdKind::Other
        }
    }
}

/// Open fds by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FdBreakdown {
    pub total: u64,
    pub by_kind: BTreeMap<FdKind, u64>,
    /// Socket inodes (to match against /proc/net/tcp).
    #[serde(skip)]
    pub socket_inodes: Vec<u64>,
    /// Damaged lines of a saved listing that were skipped, each with its line number and
    /// why (e.g. an fd that closed while `ls` listed it: `18 -> `).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_lines: Vec<String>,
}

impl FdBreakdown {
    pub fn add(&mut self, target: &str) {
        let kind = FdKind::classify(target);
        self.total += 1;
        *self.by_kind.entry(kind).or_insert(0) += 1;
        if kind == FdKind::Socket
            && let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse().ok())
        {
            self.socket_inodes.push(inode);
        }
    }
    pub fn count(&self, kind: FdKind) -> u64 {
        self.by_kind.get(&kind).copied().unwrap_or(0)
    }
}

/// Parse an fd listing saved as text: lines `N -> target`, as `ls -l /proc/PID/fd`
/// prints them (anything before the fd number is ignored) or as gorx writes them.
///
/// A damaged line (no target, because the fd closed while it was listed: `18 -> `; no
/// fd number) is skipped and named in [`FdBreakdown::skipped_lines`]: one racy line must
/// not lose the whole listing. Only a text in which no line is an fd listing is an error.
pub fn parse_fd_listing(input: &str, text: &str) -> Result<FdBreakdown> {
    let mut out = FdBreakdown::default();
    let mut first_error: Option<FormatError> = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with("total ") {
            continue;
        }
        let n = i as u64 + 1;
        let mut skip = |why: String| {
            out.skipped_lines
                .push(format!("{input}:{n}: {why}; line skipped"));
            if first_error.is_none() {
                first_error = Some(FormatError::at_line(input, n, why));
            }
        };
        // `18 -> ` trims to `18 ->`: the link vanished between readdir and readlink.
        let (left, target) = match line.split_once(" -> ") {
            Some((l, t)) => (l, t.trim()),
            None => match line.strip_suffix(" ->") {
                Some(l) => (l, ""),
                None => {
                    skip(format!("expected 'N -> target', got {line:?}"));
                    continue;
                }
            },
        };
        let fd = left.split_whitespace().next_back().unwrap_or("");
        if fd.parse::<u32>().is_err() {
            skip(format!("fd number {fd:?} is not a number"));
            continue;
        }
        if target.is_empty() {
            skip(format!(
                "fd {fd} has no target (closed while it was listed)"
            ));
            continue;
        }
        out.add(target);
    }
    if out.total == 0
        && let Some(e) = first_error
    {
        return Err(e);
    }
    Ok(out)
}

/// `/proc/pressure/cpu` (PSI): the share of wall time in which at least one runnable
/// task waited for a CPU (`some`), over 10 s, 60 s and 300 s, in percent; `total` in µs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuPressure {
    pub some_avg10: f64,
    pub some_avg60: f64,
    pub some_avg300: f64,
    pub some_total_us: u64,
}

/// Parse `/proc/pressure/cpu`: `some avg10=… avg60=… avg300=… total=…` (the `full` line,
/// present since Linux 5.13, is ignored: for CPU it is only meaningful for cgroups).
pub fn parse_cpu_pressure(input: &str, text: &str) -> Result<CpuPressure> {
    for (i, line) in text.lines().enumerate() {
        let Some(rest) = line.strip_prefix("some ") else {
            continue;
        };
        let mut p = CpuPressure::default();
        let mut seen = 0;
        for kv in rest.split_whitespace() {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let bad = || FormatError::at_line(input, i as u64 + 1, format!("bad value in {kv:?}"));
            match k {
                "avg10" | "avg60" | "avg300" => {
                    let x: f64 = v.parse().map_err(|_| bad())?;
                    if !(0.0..=100.0).contains(&x) {
                        return Err(bad());
                    }
                    seen += 1;
                    match k {
                        "avg10" => p.some_avg10 = x,
                        "avg60" => p.some_avg60 = x,
                        _ => p.some_avg300 = x,
                    }
                }
                "total" => p.some_total_us = v.parse().map_err(|_| bad())?,
                _ => {}
            }
        }
        if seen < 3 {
            return Err(FormatError::at_line(
                input,
                i as u64 + 1,
                "expected avg10=, avg60= and avg300= on the 'some' line",
            ));
        }
        return Ok(p);
    }
    Err(FormatError::whole(input, "no 'some' line"))
}

/// `/proc/loadavg`: load averages and the runnable/total task counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadAvg {
    pub load1: f64,
    pub load5: f64,
    pub load15: f64,
    /// Tasks runnable now (running or on a run queue).
    pub runnable: u64,
    pub tasks: u64,
}

pub fn parse_loadavg(input: &str, text: &str) -> Result<LoadAvg> {
    let f: Vec<&str> = text.split_whitespace().collect();
    let bad = |what: &str| FormatError::at_line(input, 1, format!("expected {what}"));
    if f.len() < 4 {
        return Err(bad("'L1 L5 L15 RUNNABLE/TASKS LASTPID'"));
    }
    let load = |s: &str| {
        s.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| bad("a load average"))
    };
    let (r, n) = f[3].split_once('/').ok_or_else(|| bad("RUNNABLE/TASKS"))?;
    Ok(LoadAvg {
        load1: load(f[0])?,
        load5: load(f[1])?,
        load15: load(f[2])?,
        runnable: r.parse().map_err(|_| bad("a runnable count"))?,
        tasks: n.parse().map_err(|_| bad("a task count"))?,
    })
}

/// `/proc/PID/task/TID/schedstat`: time on CPU, time waiting on a run queue (both ns)
/// and timeslices run. Summed over threads by the caller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedStat {
    pub cpu_ns: u64,
    pub runq_wait_ns: u64,
    pub timeslices: u64,
}

impl SchedStat {
    pub fn add(&mut self, o: &SchedStat) {
        self.cpu_ns = self.cpu_ns.saturating_add(o.cpu_ns);
        self.runq_wait_ns = self.runq_wait_ns.saturating_add(o.runq_wait_ns);
        self.timeslices = self.timeslices.saturating_add(o.timeslices);
    }
    /// Share of the threads' time (on CPU + waiting to run) spent waiting.
    pub fn wait_share(&self) -> Option<f64> {
        let total = self.cpu_ns.saturating_add(self.runq_wait_ns);
        (total > 0).then(|| self.runq_wait_ns as f64 / total as f64)
    }
}

pub fn parse_schedstat(input: &str, text: &str) -> Result<SchedStat> {
    let f: Vec<u64> = text
        .split_whitespace()
        .map(|x| x.parse::<u64>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| FormatError::at_line(input, 1, "expected three integers"))?;
    match f[..] {
        [cpu_ns, runq_wait_ns, timeslices, ..] => Ok(SchedStat {
            cpu_ns,
            runq_wait_ns,
            timeslices,
        }),
        _ => Err(FormatError::at_line(input, 1, "expected three integers")),
    }
}

/// One row of `/proc/net/tcp` or `/proc/net/tcp6`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TcpSocket {
    pub local: IpAddr,
    pub local_port: u16,
    /// Kernel TCP state; 0x0A is LISTEN.
    pub state: u8,
    pub inode: u64,
}

pub const TCP_LISTEN: u8 = 0x0A;

/// Parse `/proc/net/tcp` or `/proc/net/tcp6`. Addresses are printed as 32-bit words in
/// host byte order (little-endian here), so each word is byte-swapped back.
pub fn parse_net_tcp(input: &str, text: &str) -> Result<Vec<TcpSocket>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let lineno = i as u64 + 1;
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        if f.len() < 10 {
            return Err(FormatError::at_line(
                input,
                lineno,
                format!("expected at least 10 fields, got {}", f.len()),
            ));
        }
        let (addr, port) = f[1]
            .split_once(':')
            .ok_or_else(|| FormatError::at_line(input, lineno, "local address without ':'"))?;
        let bad = |what: &str| FormatError::at_line(input, lineno, format!("bad {what}"));
        let local_port = u16::from_str_radix(port, 16).map_err(|_| bad("port"))?;
        let local = parse_hex_addr(addr).ok_or_else(|| bad("address"))?;
        let state = u8::from_str_radix(f[3], 16).map_err(|_| bad("state"))?;
        let inode = f[9].parse().map_err(|_| bad("inode"))?;
        out.push(TcpSocket {
            local,
            local_port,
            state,
            inode,
        });
    }
    Ok(out)
}

fn parse_hex_addr(s: &str) -> Option<IpAddr> {
    // Each 32-bit word is printed as the host-order integer; its little-endian bytes are
    // the address bytes in network order.
    let word = |w: &str| u32::from_str_radix(w, 16).ok().map(u32::to_le_bytes);
    match s.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(s)?))),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(s.get(i * 8..i * 8 + 8)?)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

/// One line of `/proc/PID/cgroup`: `hierarchy-id:controllers:path`. Hierarchy 0 with no
/// controllers is the cgroup v2 (unified) membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CgroupMembership {
    pub hierarchy_id: u32,
    pub controllers: Vec<String>,
    pub path: String,
}

pub fn parse_proc_cgroup(input: &str, text: &str) -> Result<Vec<CgroupMembership>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut f = line.splitn(3, ':');
        let (Some(id), Some(ctl), Some(path)) = (f.next(), f.next(), f.next()) else {
            return Err(FormatError::at_line(
                input,
                i as u64 + 1,
                format!("expected 'id:controllers:path', got {line:?}"),
            ));
        };
        out.push(CgroupMembership {
            hierarchy_id: parse_num(input, i as u64 + 1, "hierarchy id", id)?,
            controllers: ctl
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect(),
            path: path.to_string(),
        });
    }
    Ok(out)
}

/// One line of `/proc/PID/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    pub mount_id: u32,
    pub parent_id: u32,
    /// The path inside the filesystem that is mounted (for cgroups: the cgroup path).
    pub root: String,
    pub mount_point: String,
    pub fs_type: String,
    pub source: String,
    /// Per-superblock options; for cgroup v1 these name the controllers (`rw,memory`).
    pub super_options: String,
}

pub fn parse_mountinfo(input: &str, text: &str) -> Result<Vec<Mount>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let lineno = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(' ').collect();
        // Optional fields end at a lone "-".
        let sep = f
            .iter()
            .position(|&x| x == "-")
            .ok_or_else(|| FormatError::at_line(input, lineno, "no ' - ' separator"))?;
        if sep < 6 || f.len() < sep + 4 {
            return Err(FormatError::at_line(
                input,
                lineno,
                format!("too few fields in {line:?}"),
            ));
        }
        out.push(Mount {
            mount_id: parse_num(input, lineno, "mount id", f[0])?,
            parent_id: parse_num(input, lineno, "parent id", f[1])?,
            root: unescape_octal(f[3]),
            mount_point: unescape_octal(f[4]),
            fs_type: f[sep + 1].to_string(),
            source: unescape_octal(f[sep + 2]),
            super_options: f[sep + 3].to_string(),
        });
    }
    Ok(out)
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real contents, captured from `sleep` on the development machine (kernel 6.18).
    const STATUS: &str = "Name:\tsleep\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t11133\nNgid:\t0\nPid:\t11133\nPPid:\t11127\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nFDSize:\t256\nGroups:\t \nVmPeak:\t    2920 kB\nVmSize:\t    2920 kB\nVmLck:\t       0 kB\nVmHWM:\t    1824 kB\nVmRSS:\t    1824 kB\nRssAnon:\t     112 kB\nRssFile:\t    1712 kB\nRssShmem:\t       0 kB\nVmData:\t     224 kB\nVmSwap:\t       0 kB\nThreads:\t1\nSigQ:\t3/96365\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\nMems_allowed_list:\t0\nvoluntary_ctxt_switches:\t1\nnonvoluntary_ctxt_switches:\t0\n";

    const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units     \nMax cpu time              unlimited            unlimited            seconds   \nMax stack size            8388608              unlimited            bytes     \nMax processes             96365                96365                processes \nMax open files            20000                20000                files     \nMax nice priority         0                    0                    \nMax realtime timeout      unlimited            unlimited            us        \n";

    const SMAPS: &str = "55b97ec29000-7ffc2a685000 ---p 00000000 00:00 0                          [rollup]\nRss:                1824 kB\nPss:                 274 kB\nPss_Dirty:           112 kB\nPss_Anon:            112 kB\nPss_File:            162 kB\nPss_Shmem:             0 kB\nShared_Clean:       1672 kB\nPrivate_Dirty:       112 kB\nAnonymous:           112 kB\nSwap:                  0 kB\n";

    const STAT: &str = "11133 (sleep) S 11127 11127 4948 0 -1 4194304 133 0 0 0 7 3 0 0 20 0 1 0 56577 2990080 412 18446744073709551615 94255183998976 94255184016905 140721019957680 0 0 0 0 6 0 1 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn status_fields_in_bytes() {
        let s = parse_status("status", STATUS).unwrap();
        assert_eq!(s.name, "sleep");
        assert_eq!(s.state, "S");
        assert_eq!(s.pid, Some(11133));
        assert_eq!(s.ppid, Some(11127));
        assert_eq!(s.uid, Some((0, 0)));
        assert_eq!(s.vm_rss_bytes, Some(1824 * 1024));
        assert_eq!(s.rss_anon_bytes, Some(112 * 1024));
        assert_eq!(s.rss_file_bytes, Some(1712 * 1024));
        assert_eq!(s.threads, Some(1));
        assert_eq!(s.cpus_allowed, Some(2));
    }

    #[test]
    fn status_bad_number_names_line() {
        // A damaged line loses its field, named with file and line; the file still parses.
        let s = parse_status("/proc/1/status", "Name:\tx\nVmRSS:\t12x kB\nThreads:\t3\n").unwrap();
        assert_eq!(
            s.skipped_lines,
            ["/proc/1/status:2: VmRSS: expected a number, got \"12x\"; line skipped"]
        );
        assert_eq!((s.vm_rss_bytes, s.threads), (None, Some(3)));
        assert!(parse_status("f", "garbage\n").is_err());
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(count_cpu_list("x", 1, "0-3,8,10-11\n").unwrap(), 7);
        assert_eq!(count_cpu_list("x", 1, "0").unwrap(), 1);
        assert!(count_cpu_list("x", 1, "3-1").is_err());
    }

    #[test]
    fn limits_by_header_columns() {
        let l = parse_limits("limits", LIMITS).unwrap();
        let nofile = l.nofile().unwrap();
        assert_eq!((nofile.soft, nofile.hard), (Some(20000), Some(20000)));
        assert_eq!(nofile.units, "files");
        let stack = l.get("Max stack size").unwrap();
        assert_eq!((stack.soft, stack.hard), (Some(8388608), None));
        let nice = l.get("Max nice priority").unwrap();
        assert_eq!(nice.units, "");
        assert_eq!(l.get("Max cpu time").unwrap().soft, None);
        assert!(parse_limits("l", "nonsense\n").is_err());
    }

    #[test]
    fn smaps_rollup_fields() {
        let s = parse_smaps_rollup("smaps_rollup", SMAPS).unwrap();
        assert_eq!(s.rss_bytes(), Some(1824 * 1024));
        assert_eq!(s.anonymous_bytes(), Some(112 * 1024));
        assert_eq!(s.pss_file_bytes(), Some(162 * 1024));
        assert_eq!(s.pss_shmem_bytes(), Some(0));
        assert!(parse_smaps_rollup("s", "").is_err());
        let e = parse_smaps_rollup("s", "x [rollup]\nRss:   1z kB\n").unwrap_err();
        assert!(e.to_string().starts_with("s:2:"), "{e}");
    }

    #[test]
    fn stat_fields_after_command() {
        let s = parse_stat("stat", STAT).unwrap();
        assert_eq!(
            (s.pid, s.comm.as_str(), s.state, s.ppid),
            (11133, "sleep", 'S', 11127)
        );
        assert_eq!((s.utime_ticks, s.stime_ticks), (7, 3));
        assert_eq!(s.num_threads, 1);
        assert_eq!(s.starttime_ticks, 56577);
        assert_eq!(s.vsize_bytes, 2990080);
        assert_eq!(s.rss_pages, 412);
        // A command with spaces and parentheses.
        let odd = STAT.replace("(sleep)", "(a) (b c)");
        assert_eq!(parse_stat("stat", &odd).unwrap().comm, "a) (b c");
        assert!(parse_stat("stat", "1 (x) S 2").is_err());
    }

    #[test]
    fn environ_and_go_knobs() {
        let env = parse_environ(b"PATH=/bin\0GOGC=50\0GOMEMLIMIT=512MiB\0GODEBUG=gctrace=1,containermaxprocs=0\0GOMAXPROCS=4\0NOEQ\0");
        let g = GoEnv::from_environ(&env);
        assert_eq!(g.gogc.as_deref(), Some("50"));
        assert_eq!(g.gomemlimit_bytes().unwrap(), Some(512 << 20));
        assert_eq!(g.gomaxprocs_value(), Some(4));
        assert_eq!(g.godebug_setting("containermaxprocs"), Some("0"));
        assert_eq!(g.godebug_setting("madvdontneed"), None);
        assert_eq!(env.last().unwrap(), &("NOEQ".to_string(), String::new()));
        assert_eq!(parse_go_byte_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_go_byte_size("12345"), Ok(12345));
        assert!(parse_go_byte_size("1GB").is_err());
        let off = GoEnv {
            gomemlimit: Some("off".into()),
            ..Default::default()
        };
        assert_eq!(off.gomemlimit_bytes(), Ok(None));
    }

    #[test]
    fn fd_kinds_and_listing() {
        let ls = "total 0\nlr-x------ 1 root root 64 Nov 23 15:04 0 -> /dev/null\nl-wx------ 1 root root 64 Nov 23 15:04 1 -> /tmp/out\nl-wx------ 1 root root 64 Nov 23 15:05 12 -> pipe:[9167]\nlrwx------ 1 root root 64 Nov 23 15:05 3 -> socket:[1062]\nlrwx------ 1 root root 64 Nov 23 15:05 4 -> anon_inode:[eventpoll]\nlrwx------ 1 root root 64 Nov 23 15:05 5 -> anon_inode:[eventfd]\nlrwx------ 1 root root 64 Nov 23 15:05 6 -> anon_inode:[timerfd]\n7 -> /var/log/x.log (deleted)\n";
        let b = parse_fd_listing("fd.txt", ls).unwrap();
        assert_eq!(b.total, 8);
        assert_eq!(b.count(FdKind::Device), 1);
        assert_eq!(b.count(FdKind::Regular), 2);
        assert_eq!(b.count(FdKind::Pipe), 1);
        assert_eq!(b.count(FdKind::Socket), 1);
        assert_eq!(b.count(FdKind::Epoll), 1);
        assert_eq!(b.count(FdKind::Eventfd), 1);
        assert_eq!(b.count(FdKind::AnonInode), 1);
        assert_eq!(b.socket_inodes, vec![1062]);
        let e = parse_fd_listing("fd.txt", "x -> y\n").unwrap_err();
        assert!(e.to_string().starts_with("fd.txt:1:"), "{e}");
    }

    /// An fd closed while the listing was written (`18 -> `) costs one line, not the
    /// whole capture.
    #[test]
    fn fd_listing_skips_a_damaged_line() {
        let t = "0 -> /dev/null\n1 -> pipe:[5]\n18 -> \n19 -> socket:[77]\nbogus\n";
        let b = parse_fd_listing("proc/fd.txt", t).unwrap();
        assert_eq!(b.total, 3);
        assert_eq!(b.socket_inodes, vec![77]);
        assert_eq!(b.skipped_lines.len(), 2, "{:?}", b.skipped_lines);
        assert!(
            b.skipped_lines[0].starts_with("proc/fd.txt:3: fd 18 has no target"),
            "{:?}",
            b.skipped_lines
        );
        // Nothing but damage: still an error, naming the first bad line.
        let e = parse_fd_listing("fd.txt", "18 -> \n").unwrap_err();
        assert!(e.to_string().starts_with("fd.txt:1:"), "{e}");
    }

    #[test]
    fn cpu_pressure_loadavg_schedstat() {
        let t = "some avg10=69.00 avg60=55.12 avg300=20.01 total=871158271\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        let p = parse_cpu_pressure("pressure/cpu", t).unwrap();
        assert_eq!(p.some_avg10, 69.0);
        assert_eq!(p.some_total_us, 871158271);
        // Kernels before 5.13 have no 'full' line; a garbled value is an error.
        assert!(
            parse_cpu_pressure("p", "some avg10=1.00 avg60=2.00 avg300=3.00 total=9\n").is_ok()
        );
        assert!(parse_cpu_pressure("p", "some avg10=x avg60=2.00 avg300=3.00 total=9\n").is_err());
        assert!(parse_cpu_pressure("p", "").is_err());
        let l = parse_loadavg("loadavg", "9.02 8.09 5.35 9/219 15268\n").unwrap();
        assert_eq!((l.load1, l.runnable, l.tasks), (9.02, 9, 219));
        assert!(parse_loadavg("loadavg", "9.02 8.09\n").is_err());
        let s = parse_schedstat("schedstat", "300 100 7\n").unwrap();
        assert_eq!(s.runq_wait_ns, 100);
        assert_eq!(s.wait_share(), Some(0.25));
        assert!(parse_schedstat("schedstat", "1 2\n").is_err());
        assert!(parse_schedstat("schedstat", "a b c\n").is_err());
    }

    #[test]
    fn net_tcp_v4_and_v6() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1062 1 00000000ecc7197e 100 0 0 10 0\n   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2048 1 0000000000000000 100 0 0 10 0\n";
        let s = parse_net_tcp("tcp", v4).unwrap();
        assert_eq!(s[0].local_port, 2024);
        assert_eq!(s[0].inode, 1062);
        assert_eq!(s[1].local, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(s[1].local_port, 8080);
        assert_eq!(s[1].state, TCP_LISTEN);
        let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n";
        let s6 = parse_net_tcp("tcp6", v6).unwrap();
        assert_eq!(s6[0].local, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(s6[0].local_port, 8081);
        assert!(parse_net_tcp("tcp", "hdr\n 0: zz\n").is_err());
    }

    #[test]
    fn proc_cgroup_v1_and_v2() {
        let t = "9:name=systemd:/\n4:memory:/process_api/4c30\n2:cpu,cpuacct:/a/b\n0::/user.slice/x.scope\n";
        let m = parse_proc_cgroup("cgroup", t).unwrap();
        assert_eq!(m[1].controllers, vec!["memory"]);
        assert_eq!(m[1].path, "/process_api/4c30");
        assert_eq!(m[2].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(m[3].hierarchy_id, 0);
        assert!(m[3].controllers.is_empty());
        assert!(parse_proc_cgroup("cgroup", "nonsense\n").is_err());
    }

    #[test]
    fn mountinfo_real_lines() {
        let t = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n50 27 0:40 /x /mnt/with\\040space rw shared:1 master:2 - ext4 /dev/vda rw\n";
        let m = parse_mountinfo("mountinfo", t).unwrap();
        assert_eq!(m[1].mount_point, "/sys/fs/cgroup/memory");
        assert_eq!(m[1].fs_type, "cgroup");
        assert_eq!(m[1].super_options, "rw,memory");
        assert_eq!(m[2].fs_type, "cgroup2");
        assert_eq!(m[3].mount_point, "/mnt/with space");
        assert_eq!(m[3].root, "/x");
        assert_eq!(m[3].fs_type, "ext4");
        assert!(parse_mountinfo("mountinfo", "1 2 3\n").is_err());
    }

    #[test]
    fn smaps_mappings() {
        let t = "559970df1000-559970df3000 r--p 00000000 fe:00 247278                     /usr/bin/head\nSize:                  8 kB\nRss:                   8 kB\nAnonymous:             0 kB\nVmFlags: rd mr mw me \nc000000000-c000400000 rw-p 00000000 00:00 0 \nRss:                4096 kB\nAnonymous:          4096 kB\nTHPeligible:           0\n7f1200000000-7f1210000000 rw-p 00000000 00:00 0 \nRss:              262144 kB\nAnonymous:        262144 kB\n7ffc2a664000-7ffc2a685000 rw-p 00000000 00:00 0                          [stack]\nRss:                  12 kB\nAnonymous:            12 kB\n";
        let m = parse_smaps("smaps", t).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].path, "/usr/bin/head");
        assert_eq!(m[1].start, 0xc000000000);
        assert_eq!(m[1].anonymous_bytes, 4096 * 1024);
        assert_eq!(m[2].path, "");
        assert_eq!(m[2].rss_bytes, 256 << 20);
        assert_eq!(m[3].path, "[stack]");
        assert!(parse_smaps("smaps", "Rss: 4 kB\n").is_err());
        let e =
            parse_smaps("smaps", "c000000000-c000400000 rw-p 0 00:00 0\nRss: x kB\n").unwrap_err();
        assert!(e.to_string().starts_with("smaps:2:"), "{e}");
    }
}
