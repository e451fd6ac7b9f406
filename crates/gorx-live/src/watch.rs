//! `gorx watch`: sample a process at an interval, keep a rolling window, judge trends,
//! and capture an evidence bundle when an anomaly starts (with a cooldown, rotation and a
//! disk cap). The loop reports through a callback so the CLI decides how to show it.

use crate::bundle::{BundleWriter, write_proc_state};
use crate::{LiveError, http, proc};
use gorx_analysis::diagnosis::{Diagnosis, InputSummary};
use gorx_analysis::process::{self, Sample};
use gorx_analysis::{Finding, Severity};
use gorx_formats::procfs;
use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
pub struct WatchConfig {
    pub interval: Duration,
    /// Length of the rolling window trends are judged on.
    pub window: Duration,
    /// Where bundles go; None: detect and report only.
    pub out: Option<PathBuf>,
    /// Minimum time between two captures.
    pub cooldown: Duration,
    /// Keep at most this many bundles (oldest removed first).
    pub max_bundles: usize,
    /// Keep the bundles' total size under this (oldest removed first; never the newest).
    pub max_disk_bytes: u64,
    pub cpu_profile_seconds: u32,
    pub trace_seconds: u32,
    /// Stop after this long (None: until the target exits or forever with `follow`).
    pub duration: Option<Duration>,
    pub follow: bool,
    /// The pprof base URL as the user gave it (index URL, base URL or host:port; None:
    /// discovered at start and after each follow).
    pub pprof: Option<String>,
    /// Extra evidence each capture gathers into its bundle (`gorx watch --ebpf`).
    pub capture_extra: Option<CaptureHook>,
}

/// What a [`CaptureHook`] wrote into a bundle.
#[derive(Debug, Default)]
pub struct CaptureExtra {
    /// Files written into the bundle directory, relative to it.
    pub files: Vec<String>,
    /// Findings judged from them; joined with the bundle's findings.json
    /// ([`gorx_analysis::probe_join`]).
    pub findings: Vec<Finding>,
    /// What was partial or went wrong (MANIFEST.json `notes`).
    pub notes: Vec<String>,
    /// Inputs to list in findings.json.
    pub inputs: Vec<InputSummary>,
}

/// The signature of a capture hook: the target pid and the bundle directory being
/// written (not yet in place); returns what it wrote, or why it wrote nothing.
pub type CaptureExtraFn = dyn Fn(u32, &Path) -> Result<CaptureExtra, String> + Send + Sync;

/// Extra evidence gathered by the caller into each bundle (the eBPF probes of
/// `gorx watch --ebpf`), so gorx-live needs nothing of the code that collects it. Called
/// once per capture on its own thread, while the profiles and trace are fetched.
#[derive(Clone)]
pub struct CaptureHook(pub std::sync::Arc<CaptureExtraFn>);

impl std::fmt::Debug for CaptureHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CaptureHook")
    }
}

/// What happened, as it happens.
#[derive(Debug)]
pub enum Event<'a> {
    Started {
        pid: u32,
        command: &'a str,
        /// The runtime endpoints found (see [`http::Endpoints::describe`]); empty: none.
        endpoints: &'a str,
    },
    Sample(&'a Sample),
    /// Findings that just appeared in the window.
    Anomaly(&'a [Finding]),
    Captured {
        path: &'a Path,
        files: usize,
    },
    CaptureFailed(&'a str),
    /// Capture skipped because of the cooldown; seconds left.
    CoolingDown(f64),
    Exited {
        pid: u32,
        after_s: f64,
    },
    Waiting {
        command: &'a str,
    },
}

/// The signal that asked the watch to stop (0: none yet).
static STOP_SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_stop_signal(sig: libc::c_int) {
    STOP_SIGNAL.store(sig, Ordering::SeqCst);
}

/// Make SIGINT and SIGTERM end the watch loop at its next check (within ~100 ms, or
/// after an HTTP fetch in flight), so the caller still prints its summary.
pub fn install_stop_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores into an atomic (async-signal-safe).
        unsafe {
            libc::signal(sig, on_stop_signal as *const () as libc::sighandler_t);
        }
    }
}

/// The name of the signal that stopped the watch, if one did.
pub fn stop_signal() -> Option<&'static str> {
    match STOP_SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        libc::SIGINT => Some("SIGINT"),
        libc::SIGTERM => Some("SIGTERM"),
        _ => Some("a signal"),
    }
}

/// Whether SIGINT or SIGTERM asked the watch to stop (for work a capture hook runs).
pub fn stop_requested() -> bool {
    stopping()
}

fn stopping() -> bool {
    STOP_SIGNAL.load(Ordering::SeqCst) != 0
}

/// Sleep `d` in slices, returning early when a stop was requested.
fn sleep_unless_stopped(d: Duration) {
    let end = Instant::now() + d;
    while !stopping() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

#[derive(Debug, Default)]
pub struct Summary {
    pub samples: u64,
    pub bundles: Vec<PathBuf>,
    pub findings_seen: BTreeSet<&'static str>,
    pub target_exited: bool,
}

/// Parse `1s`, `500ms`, `2m`, `1.5s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        return Err(format!("{s:?}: expected a duration like 500ms, 1s, 2m"));
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: expected a duration like 500ms, 1s, 2m"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("{s:?}: must be positive"));
    }
    Ok(Duration::from_secs_f64(v * mult))
}

/// The pid listening on a loopback URL's port (for `gorx watch http://127.0.0.1:6060`).
pub fn pid_for_url(url: &str) -> Option<u32> {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let hostport = rest.split('/').next()?;
    let port: u16 = hostport.rsplit(':').next()?.parse().ok()?;
    let mut inodes = Vec::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(t) = std::fs::read_to_string(f)
            && let Ok(socks) = procfs::parse_net_tcp(f, &t)
        {
            inodes.extend(
                socks
                    .iter()
                    .filter(|s| s.state == procfs::TCP_LISTEN && s.local_port == port)
                    .map(|s| s.inode),
            );
        }
    }
    if inodes.is_empty() {
        return None;
    }
    proc::list_pids().into_iter().find(|&pid| {
        proc::read_fds(pid).is_ok_and(|f| f.socket_inodes.iter().any(|i| inodes.contains(i)))
    })
}

/// Per-target state that is read once (and again after a follow).
struct Target {
    pid: u32,
    command: String,
    endpoints: http::Endpoints,
    /// The runtime source that answered last (tried first next time).
    runtime_source: std::cell::Cell<Option<http::RuntimeSource>>,
    nofile_soft: Option<u64>,
    /// The leaf cpu cgroup directory and its version, for cheap cpu.stat reads.
    cpu_stat: Option<PathBuf>,
    /// The runtime readings of the last WATCH_SCORE_WINDOW_NS, for the GC score.
    score_readings: std::cell::RefCell<VecDeque<gorx_analysis::score_live::Reading>>,
}

fn open_target(pid: u32, pprof: Option<String>) -> Result<Target, LiveError> {
    let status = PathBuf::from(format!("/proc/{pid}/status"));
    proc::read_text(&status)?;
    let limits = PathBuf::from(format!("/proc/{pid}/limits"));
    let nofile_soft = proc::read_text(&limits)
        .ok()
        .and_then(|t| procfs::parse_limits(&limits.display().to_string(), &t).ok())
        .and_then(|l| l.nofile().and_then(|n| n.soft));
    let cpu_stat = leaf_cpu_stat(pid);
    // A URL the user gave must answer (an error names each URL and status); discovery
    // probes every loopback listener of the pid.
    let endpoints = match pprof {
        Some(u) => http::probe_base(&u)?,
        None => proc::read_fds(pid)
            .ok()
            .map(|f| http::discover(pid, &f))
            .unwrap_or_default(),
    };
    Ok(Target {
        pid,
        command: proc::command(pid),
        endpoints,
        runtime_source: std::cell::Cell::new(None),
        score_readings: Default::default(),
        nofile_soft,
        cpu_stat,
    })
}

fn leaf_cpu_stat(pid: u32) -> Option<PathBuf> {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let mi = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).ok()?;
    let members = procfs::parse_proc_cgroup("cgroup", &cg).ok()?;
    let mounts = procfs::parse_mountinfo("mountinfo", &mi).ok()?;
    let root = crate::cgroup::fs_root_of(pid);
    let place = crate::cgroup::locate("cpu", &members, &mounts, &root)?;
    let (_, dir) = place.chain_dirs().into_iter().next()?;
    Some(dir.join("cpu.stat"))
}

/// One sample; Err(NotFound) when the process is gone.
fn sample(t: &Target, started: Instant) -> Result<Sample, LiveError> {
    let p = PathBuf::from(format!("/proc/{}/status", t.pid));
    let text = proc::read_text(&p)?;
    let st = procfs::parse_status(&p.display().to_string(), &text)?;
    if st.state == "Z" {
        return Err(LiveError::io(
            &p,
            std::io::Error::new(std::io::ErrorKind::NotFound, "zombie"),
        ));
    }
    let fd_dir = PathBuf::from(format!("/proc/{}/fd", t.pid));
    let open_fds = std::fs::read_dir(&fd_dir).ok().map(|d| d.count() as u64);
    let mut s = Sample {
        t_ms: started.elapsed().as_millis() as u64,
        rss_bytes: st.vm_rss_bytes,
        rss_anon_bytes: st.rss_anon_bytes,
        open_fds,
        threads: st.threads,
        ..Default::default()
    };
    if let Some(cs) = &t.cpu_stat
        && let Ok(text) = std::fs::read_to_string(cs)
        && let Ok(m) = gorx_formats::cgroup::parse_flat_keyed("cpu.stat", &text)
    {
        s.nr_periods = m.get("nr_periods").copied();
        s.nr_throttled = m.get("nr_throttled").copied();
    }
    let to = Duration::from_secs(2);
    if let Some(base) = &t.endpoints.pprof
        && let Ok(b) = http::get(&format!("{base}/debug/pprof/goroutine?debug=1"), to)
    {
        s.goroutines = b
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("goroutine profile: total "))
            .and_then(|n| n.trim().parse().ok());
    }
    if !t.endpoints.is_empty() {
        // The source that answered last first, then the usual order.
        let mut order: Vec<http::RuntimeSource> = t.runtime_source.get().into_iter().collect();
        order.extend(
            http::RuntimeSource::ORDER
                .iter()
                .filter(|x| Some(**x) != t.runtime_source.get()),
        );
        if let Ok(r) = http::read_runtime(&t.endpoints, &order, to) {
            t.runtime_source.set(Some(r.source));
            s.runtime_source = Some(r.source.as_str());
            s.heap_inuse_bytes = Some(r.memory.heap_inuse_bytes);
            s.heap_alloc_bytes = Some(r.memory.heap_alloc_bytes);
            s.next_gc_bytes = Some(r.memory.next_gc_bytes);
            s.num_gc = Some(r.memory.num_gc);
            s.gc_cpu_fraction = r.gc_cpu_fraction;
            s.gc_score = windowed_gc_score(t, &r, started);
            s.goroutines = s.goroutines.or(r.goroutines);
            s.process_uptime_s = process_uptime_s(t.pid);
        }
    }
    Ok(s)
}

/// The GC health score over the readings of the last WATCH_SCORE_WINDOW_NS (one reading's
/// totals since start say little about a process up for days; see score_live).
fn windowed_gc_score(t: &Target, r: &http::RuntimeReading, started: Instant) -> Option<u32> {
    use gorx_analysis::score_live::Reading;
    let mut m = r.memstats.clone();
    m.gc_cpu_fraction = m.gc_cpu_fraction.or(r.gc_cpu_fraction);
    let single = gorx_analysis::score::inputs_of_memstats(&m, None);
    let mut reading = Reading::of_memstats(started.elapsed().as_nanos() as u64, &m, single);
    reading.start_unix_ns = proc::start_unix_ns(t.pid);
    if r.source == http::RuntimeSource::Metrics
        && let Ok(e) = gorx_formats::prometheus::parse(&r.url, &r.body)
    {
        reading = reading.with_metrics(&e);
    }
    let mut rs = t.score_readings.borrow_mut();
    let cut = reading
        .at_ns
        .saturating_sub(gorx_analysis::thresholds::WATCH_SCORE_WINDOW_NS);
    rs.push_back(reading);
    while rs.get(1).is_some_and(|f| f.at_ns <= cut) {
        rs.pop_front();
    }
    let v: Vec<Reading> = rs.iter().cloned().collect();
    let inputs = gorx_analysis::score_live::inputs_of_window(&v);
    (inputs.gc_cpu_percent.is_some() || inputs.pause_ns.is_some())
        .then(|| gorx_analysis::score::score("watch", &inputs).score)
}

/// Seconds since `pid` started: system uptime minus its start time (clock ticks).
fn process_uptime_s(pid: u32) -> Option<f64> {
    let p = format!("/proc/{pid}/stat");
    let st = procfs::parse_stat(&p, &std::fs::read_to_string(&p).ok()?).ok()?;
    let up: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| up - st.starttime_ticks as f64 / hz as f64)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Write one bundle for `t`, atomically. Returns its path and file count.
fn capture(
    t: &Target,
    cfg: &WatchConfig,
    out: &Path,
    seq: u64,
    window: &[Sample],
    trigger: &[Finding],
    heap_base: Option<(u64, &[u8])>,
) -> Result<(PathBuf, usize), LiveError> {
    let mut heap_profiles: Vec<serde_json::Value> = Vec::new();
    let name = format!("gorx-{}-{}-{seq:03}", t.pid, unix_now());
    let mut w = BundleWriter::create(out, &name)?;
    let go = proc::go_binary(t.pid).ok().flatten();
    let mut snap = proc::snapshot(t.pid, go.as_ref())?;
    // The caller's extra evidence (eBPF probes) over the same time as the fetches below;
    // joined before anything below can return early.
    let extra = cfg.capture_extra.as_ref().map(|hook| {
        let (hook, pid, dir) = (hook.0.clone(), t.pid, w.dir().to_path_buf());
        std::thread::spawn(move || hook(pid, &dir))
    });
    let mut notes = Vec::new();
    let mut inputs = vec![InputSummary {
        path: format!("/proc/{}", t.pid),
        kind: "procfs".into(),
    }];
    let short = Duration::from_secs(10);
    let mut fetch =
        |rel: &str, url: String, timeout: Duration, w: &mut BundleWriter| match http::get_bytes(
            &url, timeout,
        ) {
            Ok(b) => {
                let _ = w.write(rel, &b);
                inputs.push(InputSummary {
                    path: url,
                    kind: rel.to_string(),
                });
            }
            Err(e) => notes.push(e.to_string()),
        };
    if let Some(base) = &t.endpoints.pprof {
        fetch(
            "heap.debug1.txt",
            format!("{base}/debug/pprof/heap?debug=1"),
            short,
            &mut w,
        );
        fetch(
            "goroutine.debug2.txt",
            format!("{base}/debug/pprof/goroutine?debug=2"),
            short,
            &mut w,
        );
    }
    if let Some(u) = &t.endpoints.vars {
        fetch("vars.json", u.clone(), short, &mut w);
    }
    if let Some(u) = &t.endpoints.metrics {
        fetch("metrics.txt", u.clone(), short, &mut w);
    }
    if let Some(base) = &t.endpoints.pprof {
        if let Some((taken_unix_s, b)) = heap_base {
            // The profile from the window's start, so the in-use difference names the
            // growing site.
            if w.write("heap.base.pb.gz", b).is_ok() {
                heap_profiles.push(serde_json::json!({
                    "file": "heap.base.pb.gz", "taken_at_unix_s": taken_unix_s
                }));
            }
        }
        fetch(
            "heap.pb.gz",
            format!("{base}/debug/pprof/heap"),
            short,
            &mut w,
        );
        if w.read_bytes("heap.pb.gz").is_some() {
            heap_profiles.push(serde_json::json!({
                "file": "heap.pb.gz", "taken_at_unix_s": unix_now()
            }));
        }
        if cfg.cpu_profile_seconds > 0 {
            fetch(
                "cpu.pb.gz",
                format!(
                    "{base}/debug/pprof/profile?seconds={}",
                    cfg.cpu_profile_seconds
                ),
                Duration::from_secs(u64::from(cfg.cpu_profile_seconds) + 10),
                &mut w,
            );
        }
        if cfg.trace_seconds > 0 {
            fetch(
                "trace.out",
                format!("{base}/debug/pprof/trace?seconds={}", cfg.trace_seconds),
                Duration::from_secs(u64::from(cfg.trace_seconds) + 10),
                &mut w,
            );
        }
    }
    // Each runtime file parsed once: MemStats from the first that has them, GOMAXPROCS as
    // the process reports it (/metrics, else expvar).
    let readings: Vec<http::RuntimeReading> = [
        ("heap.debug1.txt", http::RuntimeSource::HeapTrailer),
        ("vars.json", http::RuntimeSource::Expvar),
        ("metrics.txt", http::RuntimeSource::Metrics),
    ]
    .into_iter()
    .filter_map(|(file, src)| http::parse_runtime(src, file, w.read_bytes(file)?).ok())
    .collect();
    let extra = match extra.map(|h| h.join()) {
        None => CaptureExtra::default(),
        Some(Ok(Ok(x))) => x,
        Some(Ok(Err(e))) => CaptureExtra {
            notes: vec![e],
            ..Default::default()
        },
        Some(Err(_)) => CaptureExtra {
            notes: vec!["the capture hook panicked".into()],
            ..Default::default()
        },
    };
    for f in &extra.files {
        w.adopt(f);
    }
    notes.extend(extra.notes);
    inputs.extend(extra.inputs);
    if let Some(r) = readings.first() {
        snap.runtime = Some(r.memory.clone());
    }
    for src in [http::RuntimeSource::Metrics, http::RuntimeSource::Expvar] {
        if snap.gomaxprocs_observed.is_none() {
            snap.gomaxprocs_observed = readings
                .iter()
                .find(|r| r.source == src)
                .and_then(|r| r.gomaxprocs);
        }
    }
    write_proc_state(&mut w, t.pid, &snap)?;
    let mut trigger = trigger.to_vec();
    if let (Some(new), Some(base)) = (w.read_bytes("heap.pb.gz"), w.read_bytes("heap.base.pb.gz")) {
        name_growing_site(&mut trigger, &new, &base, &mut notes);
    }
    let trigger = &trigger[..];
    let mut findings = trigger.to_vec();
    findings.extend(
        process::analyze(&snap)
            .into_iter()
            .filter(|f| !trigger.iter().any(|t| t.id == f.id)),
    );
    // The offline analyses over what was fetched, as `gorx analyze` would run them (the
    // hook's files were judged by the hook).
    let fetched: Vec<(String, Vec<u8>)> = w
        .files()
        .iter()
        .filter(|f| !f.starts_with("proc/") && !extra.files.contains(f))
        .filter_map(|f| Some((f.clone(), w.read_bytes(f)?)))
        .collect();
    let arts: Vec<gorx_analysis::artifacts::Artifact<'_>> = fetched
        .iter()
        .map(|(name, bytes)| gorx_analysis::artifacts::Artifact {
            name,
            bytes,
            explicit: false,
        })
        .collect();
    match gorx_analysis::artifacts::diagnose(&arts) {
        Ok(d) => {
            let more: Vec<Finding> = d
                .findings
                .into_iter()
                .filter(|x| !findings.iter().any(|f| f.id == x.id))
                .collect();
            findings.extend(more);
        }
        Err(e) => notes.push(e.to_string()),
    }
    let mut findings = gorx_analysis::probe_join::join_probe_findings(findings, extra.findings);
    process::amend_latency_advice(&mut findings, &snap);
    let diag = Diagnosis::new(inputs, findings);
    w.write(
        "findings.json",
        serde_json::to_string_pretty(&diag)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    // The trigger's own record: the findings that fired, with the window they fired on
    // (same Finding schema as findings.json), for `gorx analyze BUNDLE` to report.
    w.write(
        "trigger.json",
        serde_json::to_string_pretty(&serde_json::json!({
            "schema": 1,
            "kind": "gorx-watch-trigger",
            "findings": trigger,
            "window": {
                "interval_ms": cfg.interval.as_millis() as u64,
                "samples": window,
            },
        }))
        .unwrap_or_default()
        .as_bytes(),
    )?;
    w.write(
        "series.json",
        serde_json::to_string_pretty(&serde_json::json!({
            "interval_ms": cfg.interval.as_millis() as u64,
            "samples": window,
            "trigger": trigger.iter().map(|f| f.id).collect::<Vec<_>>(),
        }))
        .unwrap_or_default()
        .as_bytes(),
    )?;
    let mut files: Vec<String> = w.files().to_vec();
    files.push("MANIFEST.json".into());
    let manifest = serde_json::json!({
        "schema": 1,
        "kind": "gorx-watch-capture",
        "pid": t.pid,
        "command": t.command,
        "go_version": snap.go_version,
        "captured_at_unix_s": unix_now(),
        "trigger": trigger.iter().map(|f| f.id).collect::<Vec<_>>(),
        "trigger_file": "trigger.json",
        "heap_profiles": heap_profiles,
        "endpoints": t.endpoints,
        "notes": notes,
        "files": files,
    });
    w.write(
        "MANIFEST.json",
        serde_json::to_string_pretty(&manifest)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    let n = w.files().len();
    Ok((w.finish()?, n))
}

/// Name the growing site in the trigger's gc.heap-growth from the in-use difference of
/// the two heap profiles (or add the difference as its own finding when the trigger was
/// something else and the heap grew anyway).
fn name_growing_site(trigger: &mut Vec<Finding>, new: &[u8], base: &[u8], notes: &mut Vec<String>) {
    let parse = |name: &str, b: &[u8]| gorx_formats::pprof::parse(name, b);
    let (new, base) = match (parse("heap.pb.gz", new), parse("heap.base.pb.gz", base)) {
        (Ok(n), Ok(b)) => (n, b),
        (Err(e), _) | (_, Err(e)) => {
            notes.push(e.to_string());
            return;
        }
    };
    let Some(diff) =
        gorx_analysis::profiles::heap_growth_findings(&new, &base, "heap.base.pb.gz → heap.pb.gz")
            .into_iter()
            .next()
    else {
        return;
    };
    match trigger.iter_mut().find(|f| f.id == "gc.heap-growth") {
        Some(f) => {
            if let Some(site) = diff.sites.first() {
                f.title.push_str(&format!("; growing most at {site}"));
                f.recommendation = format!(
                    "{} The in-use difference of the two heap profiles puts the growth at {site}.",
                    diff.recommendation
                );
            }
            for (k, v) in diff.evidence {
                f.evidence.entry(k).or_insert(v);
            }
            f.sites = diff.sites;
            f.sources.extend(diff.sources);
        }
        None => trigger.push(diff),
    }
}

fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(ft) if ft.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

/// Remove the oldest bundles of `pid` beyond `max` or beyond `max_bytes` in total (the
/// newest is always kept). Names sort by time.
fn rotate(out: &Path, max: usize, max_bytes: u64) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(out) else {
        return Vec::new();
    };
    let mut bundles: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("gorx-") && e.path().is_dir())
        .map(|e| e.path())
        .collect();
    bundles.sort();
    let mut sizes: Vec<u64> = bundles.iter().map(|b| dir_size(b)).collect();
    let mut removed = Vec::new();
    while bundles.len() > 1 && (bundles.len() > max.max(1) || sizes.iter().sum::<u64>() > max_bytes)
    {
        let b = bundles.remove(0);
        sizes.remove(0);
        if std::fs::remove_dir_all(&b).is_ok() {
            removed.push(b);
        }
    }
    removed
}

/// Watch `pid` until it exits (or `cfg.duration` passes, or `on` returns false for a
/// sample); with `follow`, wait for a new process with the same command line and go on.
pub fn run(
    pid: u32,
    cfg: &WatchConfig,
    mut on: impl FnMut(&Event<'_>) -> bool,
) -> Result<Summary, LiveError> {
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut t = open_target(pid, cfg.pprof.clone())?;
    on(&Event::Started {
        pid: t.pid,
        command: &t.command,
        endpoints: &t.endpoints.describe(),
    });
    let mut window: VecDeque<Sample> = VecDeque::new();
    let mut active: BTreeSet<&'static str> = BTreeSet::new();
    let mut last_capture: Option<Instant> = None;
    let mut seq = 0u64;
    let mut target_started = Instant::now();
    // Heap profiles taken every HEAP_PROFILE_BASE_MIN_AGE_S while capturing is on, so a
    // bundle can pair the profile at its trigger with one from the window's start.
    let mut heap_marks: VecDeque<(Instant, u64, Vec<u8>)> = VecDeque::new();
    let base_every = Duration::from_secs(gorx_analysis::thresholds::HEAP_PROFILE_BASE_MIN_AGE_S);
    loop {
        if stopping() || cfg.duration.is_some_and(|d| started.elapsed() >= d) {
            return Ok(summary);
        }
        let tick = Instant::now();
        if cfg.out.is_some()
            && let Some(base) = &t.endpoints.pprof
            && heap_marks
                .back()
                .is_none_or(|m| m.0.elapsed() >= base_every)
        {
            if let Ok(b) =
                http::get_bytes(&format!("{base}/debug/pprof/heap"), Duration::from_secs(10))
            {
                heap_marks.push_back((Instant::now(), unix_now(), b));
            }
            // Keep what covers the window plus one period.
            while heap_marks.len() > 2
                && heap_marks[1].0.elapsed() >= cfg.window.max(base_every) + base_every
            {
                heap_marks.pop_front();
            }
        }
        match sample(&t, target_started) {
            Ok(s) => {
                summary.samples += 1;
                if !on(&Event::Sample(&s)) {
                    return Ok(summary);
                }
                window.push_back(s);
                let now_ms = window.back().map(|s| s.t_ms).unwrap_or(0);
                let keep_ms = cfg.window.as_millis() as u64;
                while window
                    .front()
                    .is_some_and(|f| now_ms.saturating_sub(f.t_ms) > keep_ms)
                {
                    window.pop_front();
                }
                let w: Vec<Sample> = window.iter().cloned().collect();
                // Judge trends only on a window at least half full: a pool warming up
                // in its first seconds is not a leak.
                let span_ms = now_ms.saturating_sub(w.first().map(|s| s.t_ms).unwrap_or(now_ms));
                let judged = span_ms >= keep_ms / 2;
                let found: Vec<Finding> = if judged {
                    process::trend_findings(t.pid, &w, t.nofile_soft)
                } else {
                    Vec::new()
                };
                let found: Vec<Finding> = found
                    .into_iter()
                    .filter(|f| f.severity >= Severity::Warning)
                    .collect();
                let ids: BTreeSet<&'static str> = found.iter().map(|f| f.id).collect();
                let new: Vec<Finding> = found
                    .iter()
                    .filter(|f| !active.contains(f.id))
                    .cloned()
                    .collect();
                active = ids;
                if !new.is_empty() {
                    summary.findings_seen.extend(new.iter().map(|f| f.id));
                    on(&Event::Anomaly(&new));
                    if let Some(out) = &cfg.out {
                        let cooling = last_capture
                            .map(|l| cfg.cooldown.saturating_sub(l.elapsed()))
                            .filter(|d| !d.is_zero());
                        if let Some(left) = cooling {
                            on(&Event::CoolingDown(left.as_secs_f64()));
                        } else {
                            seq += 1;
                            last_capture = Some(Instant::now());
                            // The oldest kept: from about the window's start.
                            let base = heap_marks.front().map(|m| (m.1, m.2.as_slice()));
                            match capture(&t, cfg, out, seq, &w, &found, base) {
                                Ok((path, files)) => {
                                    on(&Event::Captured { path: &path, files });
                                    summary.bundles.push(path);
                                    rotate(out, cfg.max_bundles, cfg.max_disk_bytes);
                                }
                                Err(e) => {
                                    on(&Event::CaptureFailed(&e.to_string()));
                                }
                            }
                        }
                    }
                }
            }
            Err(e) if e.is_gone() => {
                on(&Event::Exited {
                    pid: t.pid,
                    after_s: target_started.elapsed().as_secs_f64(),
                });
                summary.target_exited = true;
                if !cfg.follow {
                    return Ok(summary);
                }
                on(&Event::Waiting {
                    command: &t.command,
                });
                let old = t.pid;
                let cmd = t.command.clone();
                let next = loop {
                    if stopping() || cfg.duration.is_some_and(|d| started.elapsed() >= d) {
                        return Ok(summary);
                    }
                    if let Some(p) = proc::list_pids()
                        .into_iter()
                        .find(|&p| p != old && p != std::process::id() && proc::command(p) == cmd)
                    {
                        break p;
                    }
                    sleep_unless_stopped(cfg.interval);
                };
                t = open_target(next, cfg.pprof.clone())?;
                window.clear();
                heap_marks.clear();
                active.clear();
                target_started = Instant::now();
                on(&Event::Started {
                    pid: t.pid,
                    command: &t.command,
                    endpoints: &t.endpoints.describe(),
                });
                continue;
            }
            Err(e) => return Err(e),
        }
        let spent = tick.elapsed();
        if spent < cfg.interval {
            sleep_unless_stopped(cfg.interval - spent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("xs").is_err());
    }

    #[test]
    fn rotation_keeps_newest_within_caps() {
        let dir = std::env::temp_dir().join(format!("gorx-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for i in 0..4 {
            let b = dir.join(format!("gorx-1-100{i}-00{i}"));
            std::fs::create_dir_all(&b).unwrap();
            std::fs::write(b.join("x"), vec![0u8; 1000]).unwrap();
        }
        std::fs::create_dir_all(dir.join("unrelated")).unwrap();
        let removed = rotate(&dir, 2, u64::MAX);
        assert_eq!(removed.len(), 2);
        assert!(dir.join("gorx-1-1003-003").exists() && dir.join("gorx-1-1002-002").exists());
        // Disk cap below one bundle: only the newest stays.
        rotate(&dir, 10, 500);
        assert!(dir.join("gorx-1-1003-003").exists() && !dir.join("gorx-1-1002-002").exists());
        assert!(dir.join("unrelated").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn config(out: &Path, hook: Option<CaptureHook>) -> WatchConfig {
        WatchConfig {
            interval: Duration::from_millis(200),
            window: Duration::from_secs(3),
            out: Some(out.to_path_buf()),
            cooldown: Duration::from_secs(60),
            max_bundles: 10,
            max_disk_bytes: u64::MAX,
            cpu_profile_seconds: 0,
            trace_seconds: 0,
            duration: None,
            follow: false,
            pprof: None,
            capture_extra: hook,
        }
    }

    fn fd_leak(title: &str, source: &str, sites: &[&str]) -> Finding {
        Finding {
            id: "fd.leak",
            severity: Severity::Warning,
            title: title.into(),
            evidence: Default::default(),
            recommendation: String::new(),
            sources: vec![source.into()],
            sites: sites.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_capture_hook_writes_into_the_bundle_and_its_findings_join_findings_json() {
        let out = std::env::temp_dir().join(format!("gorx-hook-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        // This test process is the target: /proc only, no endpoints.
        let t = open_target(std::process::id(), None).unwrap();
        let trigger = fd_leak("open fds rose", "/proc (watch)", &[]);
        let hook = CaptureHook(std::sync::Arc::new(|pid: u32, dir: &Path| {
            std::fs::write(dir.join("probe.json"), format!("{{\"pid\":{pid}}}")).unwrap();
            Ok(CaptureExtra {
                files: vec!["probe.json".into()],
                findings: vec![fd_leak("fds opened at main.dial", "ebpf", &["main.dial"])],
                notes: vec!["hook note".into()],
                inputs: Vec::new(),
            })
        }));
        let cfg = config(&out, Some(hook));
        let (bundle, _) =
            capture(&t, &cfg, &out, 1, &[], std::slice::from_ref(&trigger), None).unwrap();
        let read = |b: &Path, f: &str| -> serde_json::Value {
            serde_json::from_str(&std::fs::read_to_string(b.join(f)).unwrap()).unwrap()
        };
        assert_eq!(read(&bundle, "probe.json")["pid"], std::process::id());
        let manifest = read(&bundle, "MANIFEST.json");
        assert!(
            manifest["files"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "probe.json")
        );
        assert!(
            manifest["notes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n == "hook note")
        );
        // The trigger's siteless fd.leak and the hook's sited one: one finding, the site.
        let findings = read(&bundle, "findings.json")["findings"].clone();
        let leaks: Vec<&serde_json::Value> = findings
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["id"] == "fd.leak")
            .collect();
        assert_eq!(leaks.len(), 1, "{findings:#}");
        assert_eq!(leaks[0]["sites"][0], "main.dial");
        assert_eq!(
            leaks[0]["sources"],
            serde_json::json!(["ebpf", "/proc (watch)"])
        );
        // A hook that fails leaves a note, and the bundle is still written.
        let failing = CaptureHook(std::sync::Arc::new(|_: u32, _: &Path| {
            Err("eBPF probes skipped: no BTF".to_string())
        }));
        let cfg = config(&out, Some(failing));
        let (bundle, _) = capture(&t, &cfg, &out, 2, &[], &[trigger], None).unwrap();
        let notes = read(&bundle, "MANIFEST.json")["notes"].clone();
        assert!(
            notes
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n == "eBPF probes skipped: no BTF"),
            "{notes:#}"
        );
        assert!(!bundle.join("probe.json").exists());
        std::fs::remove_dir_all(&out).unwrap();
    }
}
