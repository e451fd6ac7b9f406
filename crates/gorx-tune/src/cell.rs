//! One cell of the lab: a fresh process with one configuration, in its own cgroup, under
//! open-loop load; what it measured, or why it could not.

use crate::LabError;
use crate::cgroup::{LabCgroup, Limits};
use crate::load::{self, LoadConfig};
use gorx_formats::gctrace;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Read as _;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How every cell runs (what differs between cells is in [`CellSpec`]).
#[derive(Debug, Clone)]
pub struct Protocol {
    /// The service's command line; `{port}` is replaced by the cell's port.
    pub command: Vec<String>,
    /// `http://host:{port}/path`.
    pub url: String,
    pub rate: f64,
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// How long a cell may take to answer its URL after start.
    pub ready_timeout: Duration,
    /// The cgroup memory limit of every cell (`--mem-max`).
    pub mem_max_bytes: Option<u64>,
    /// Where stderr logs go (one per cell run).
    pub work_dir: PathBuf,
}

/// One configuration: environment variables and a CPU quota.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CellSpec {
    /// GOGC, GOMEMLIMIT, GOMAXPROCS as set; absent = the Go default.
    pub env: BTreeMap<String, String>,
    /// CPUs of CFS quota; None = unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<f64>,
}

impl CellSpec {
    /// `GOGC=50 GOMEMLIMIT=512MiB cpu=1`, or `defaults`.
    pub fn label(&self) -> String {
        let mut parts: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if let Some(q) = self.cpu_quota {
            parts.push(format!("cpu={q}"));
        }
        if parts.is_empty() {
            "defaults".into()
        } else {
            parts.join(" ")
        }
    }
}

/// What one run of a cell measured. Latencies are from each request's intended send time.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CellRun {
    pub env: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<f64>,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub rps: f64,
    pub errors: u64,
    pub timeouts: u64,
    pub oom: bool,
    pub gc_cycles: u64,
    pub gc_cpu_percent: f64,
    pub peak_rss_bytes: u64,
    pub throttled_periods: u64,
    /// Why the cell has no (or no valid) measurement: never ready, crashed, OOM-killed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// `http://host:port/path` → (address, Host header, path).
pub fn parse_url(url: &str) -> Result<(SocketAddr, String, String), LabError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| LabError::Usage(format!("{url}: only http:// URLs are supported")))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let with_port = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| LabError::Usage(format!("{url}: {e}")))?
        .next()
        .ok_or_else(|| LabError::Usage(format!("{url}: no address")))?;
    Ok((addr, hostport.to_string(), path.to_string()))
}

fn free_port() -> Result<u16, LabError> {
    let l =
        TcpListener::bind("127.0.0.1:0").map_err(|e| LabError::Io(format!("free port: {e}")))?;
    Ok(l.local_addr()
        .map_err(|e| LabError::Io(e.to_string()))?
        .port())
}

/// Any HTTP response to a GET means the service is up (a 404 on `/` still listens).
fn answers(addr: SocketAddr, host: &str, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if std::io::Write::write_all(&mut s, req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

fn tail(path: &std::path::Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let v: Vec<&str> = text.lines().filter(|l| !l.starts_with("gc ")).collect();
    v[v.len().saturating_sub(lines)..].join(" | ")
}

fn vm_hwm_bytes(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn stop(child: &mut Child) -> Option<std::process::ExitStatus> {
    if let Ok(Some(st)) = child.try_wait() {
        return Some(st);
    }
    // SIGTERM first: a Go service may flush; then SIGKILL.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Runs one cell once. `serial` makes its cgroup and log names unique.
pub fn run(p: &Protocol, spec: &CellSpec, serial: usize) -> CellRun {
    let mut out = CellRun {
        env: spec.env.clone(),
        cpu_quota: spec.cpu_quota,
        ..Default::default()
    };
    if let Err(e) = run_into(p, spec, serial, &mut out) {
        out.failure = Some(e.to_string());
    }
    out
}

fn run_into(
    p: &Protocol,
    spec: &CellSpec,
    serial: usize,
    out: &mut CellRun,
) -> Result<(), LabError> {
    let port = free_port()?.to_string();
    let url = p.url.replace("{port}", &port);
    let (addr, host, path) = parse_url(&url)?;
    let args: Vec<String> = p
        .command
        .iter()
        .map(|a| a.replace("{port}", &port))
        .collect();
    let (program, rest) = args
        .split_first()
        .ok_or_else(|| LabError::Usage("no command to run".into()))?;
    let limits = Limits {
        memory_max_bytes: p.mem_max_bytes,
        cpu_quota: spec.cpu_quota,
    };
    let name = format!("gorx-tune-{}-{serial}", std::process::id());
    // Without limits a cgroup only adds counters; without root it is skipped then.
    let cgroup = match LabCgroup::create(&name, limits) {
        Ok(c) => Some(c),
        Err(e) if limits.memory_max_bytes.is_some() || limits.cpu_quota.is_some() => return Err(e),
        Err(_) => None,
    };
    std::fs::create_dir_all(&p.work_dir)
        .map_err(|e| LabError::Io(format!("{}: {e}", p.work_dir.display())))?;
    let log = p.work_dir.join(format!("cell-{serial}.stderr.log"));
    let stderr =
        std::fs::File::create(&log).map_err(|e| LabError::Io(format!("{}: {e}", log.display())))?;
    let mut cmd = Command::new(program);
    cmd.args(rest)
        .env("PORT", &port)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    let godebug = match std::env::var("GODEBUG") {
        Ok(v) if !v.is_empty() => format!("{v},gctrace=1"),
        _ => "gctrace=1".into(),
    };
    cmd.env("GODEBUG", godebug);
    for k in ["GOGC", "GOMEMLIMIT", "GOMAXPROCS"] {
        cmd.env_remove(k);
    }
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    if let Some(cg) = &cgroup {
        cg.enter_on_spawn(&mut cmd);
    }
    let spawned = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| LabError::Cell(format!("cannot start {program}: {e}")))?;
    // Ready?
    let ready_by = spawned + p.ready_timeout;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Err(LabError::Cell(format!(
                "exited ({st}) before answering {url}: {}",
                tail(&log, 3)
            )));
        }
        if answers(addr, &host, &path) {
            break;
        }
        if Instant::now() >= ready_by {
            stop(&mut child);
            return Err(LabError::Cell(format!(
                "never answered {url} within {:?}: {}",
                p.ready_timeout,
                tail(&log, 3)
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let load_start = Instant::now();
    let r = load::run(&LoadConfig {
        addr,
        host,
        path,
        rate: p.rate,
        connections: p.connections,
        warmup: p.warmup,
        duration: p.duration,
        timeout: Duration::from_secs(5),
    });
    let window_from = load_start.duration_since(spawned) + p.warmup;
    let window_to = window_from + p.duration;
    let hwm = vm_hwm_bytes(child.id());
    let exited = stop(&mut child);
    let counters = cgroup.as_ref().map(|c| c.counters()).unwrap_or_default();
    drop(cgroup);
    out.p50_ns = r.quantile_ns(0.5);
    out.p99_ns = r.quantile_ns(0.99);
    out.p999_ns = r.quantile_ns(0.999);
    out.rps = (r.achieved_rps() * 10.0).round() / 10.0;
    out.errors = r.errors;
    out.timeouts = r.timeouts;
    out.oom = counters.oom_kills > 0;
    out.throttled_periods = counters.throttled_periods;
    out.peak_rss_bytes = counters.peak_memory_bytes.or(hwm).unwrap_or(0);
    let (cycles, cpu) = gc_in_window(&log, window_from, window_to);
    out.gc_cycles = cycles;
    out.gc_cpu_percent = cpu;
    if out.oom {
        out.failure = Some(format!(
            "OOM-killed at the memory limit ({} oom_kill)",
            counters.oom_kills
        ));
    } else if let Some(st) = exited {
        out.failure = Some(format!("exited ({st}) during the load: {}", tail(&log, 3)));
    }
    Ok(())
}

/// GC cycles that started in [from, to) after process start, and their CPU as a share
/// of the window × GOMAXPROCS.
fn gc_in_window(log: &std::path::Path, from: Duration, to: Duration) -> (u64, f64) {
    let Ok(bytes) = std::fs::read(log) else {
        return (0, 0.0);
    };
    let trace = gctrace::parse(&log.display().to_string(), &bytes);
    let (from_ns, to_ns) = (from.as_nanos() as u64, to.as_nanos() as u64);
    let (mut n, mut cpu_ns, mut procs) = (0u64, 0u64, 1u64);
    // The last run is this process (a log holds one run unless the gc counter restarted).
    if let Some(run) = trace.runs().last() {
        for c in run.cycles.iter() {
            if (from_ns..to_ns).contains(&c.at_ns()) {
                n += 1;
                cpu_ns = cpu_ns.saturating_add(c.cpu_ns());
                procs = u64::from(c.procs().max(1));
            }
        }
    }
    let window = to_ns.saturating_sub(from_ns).max(1) as f64 * procs as f64;
    (n, (1000.0 * cpu_ns as f64 / window).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let (a, h, p) = parse_url("http://127.0.0.1:8080/api/items?n=3").unwrap();
        assert_eq!(a.port(), 8080);
        assert_eq!(h, "127.0.0.1:8080");
        assert_eq!(p, "/api/items?n=3");
        assert_eq!(parse_url("http://127.0.0.1:9").unwrap().2, "/");
        assert!(parse_url("https://example.com/").is_err());
    }

    #[test]
    fn labels() {
        let mut s = CellSpec::default();
        assert_eq!(s.label(), "defaults");
        s.env.insert("GOGC".into(), "50".into());
        s.cpu_quota = Some(1.0);
        assert_eq!(s.label(), "GOGC=50 cpu=1");
    }
}
