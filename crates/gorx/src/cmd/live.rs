//! `gorx ps`, `gorx inspect`, `gorx watch`: live processes, read from outside.
//! Wiring only: reading is gorx-live, judging gorx-analysis, rendering gorx-report.

use gorx_analysis::Finding;
use gorx_analysis::diagnosis::{Diagnosis, InputSummary};
use gorx_analysis::process::{self, ProcessSnapshot};
use gorx_live::gobin::GoBinary;
use gorx_live::{LiveError, http, proc};
use serde::Serialize;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct PsArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Print JSON (same schema as `gorx analyze --json`).
    #[arg(long)]
    pub json: bool,
    /// Base URL of the process's net/http/pprof handlers (default: discovered).
    #[arg(long)]
    pub pprof: Option<String>,
    /// Do not probe the process's loopback listeners for /debug/pprof/.
    #[arg(long)]
    pub no_discover: bool,
    /// Exit with status 1 when a finding at or above this severity is reported.
    #[arg(long, value_name = "warning|critical")]
    pub fail_on: Option<String>,
    /// Also run the eBPF probes (`gorx probe`) over this window, e.g. 10s, beside the
    /// inspection; their findings join the same diagnosis. Needs root (or CAP_BPF and
    /// CAP_PERFMON) and kernel BTF: without them the inspection still runs and says why
    /// the probes were skipped.
    #[arg(long, value_name = "DURATION", value_parser = gorx_live::watch::parse_duration)]
    pub ebpf: Option<std::time::Duration>,
    /// The probes `--ebpf` runs (comma-separated; default: every available probe that is
    /// cheap enough, see `gorx probe --help`).
    #[arg(long, value_delimiter = ',', requires = "ebpf")]
    pub ebpf_only: Option<Vec<String>>,
    pub pid: u32,
}

#[derive(clap::Args)]
pub struct WatchArgs {
    /// Sampling interval, e.g. 1s, 500ms.
    #[arg(long, default_value = "1s")]
    pub interval: String,
    /// Directory for capture bundles.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// When the target exits, wait for a new process with the same command.
    #[arg(long)]
    pub follow: bool,
    /// Rolling window that trends are judged on.
    #[arg(long, default_value = "60s")]
    pub window: String,
    /// Minimum time between two captures.
    #[arg(long, default_value = "5m")]
    pub cooldown: String,
    /// Keep at most this many bundles in --out (oldest removed).
    #[arg(long, default_value_t = 10)]
    pub max_bundles: usize,
    /// Keep the bundles in --out under this many MiB in total (oldest removed).
    #[arg(long, default_value_t = 1024)]
    pub max_disk_mib: u64,
    /// Length of the CPU profile in a capture (0: none).
    #[arg(long, default_value_t = 10)]
    pub cpu_seconds: u32,
    /// Length of the execution trace in a capture (0: none).
    #[arg(long, default_value_t = 3)]
    pub trace_seconds: u32,
    /// Stop after this long, e.g. 10m (default: until the target exits).
    #[arg(long)]
    pub duration: Option<String>,
    /// Base URL of the process's net/http/pprof handlers (default: discovered).
    #[arg(long)]
    pub pprof: Option<String>,
    /// Print plain lines even on a terminal (no full-screen view).
    #[arg(long)]
    pub plain: bool,
    /// At each capture, also run the eBPF probes (`gorx probe`) for --ebpf-seconds and
    /// store their results in the bundle (probe.json and each probe's files). Needs root
    /// (or CAP_BPF and CAP_PERFMON) and kernel BTF; without them the watch runs without
    /// them and says why.
    #[arg(long)]
    pub ebpf: bool,
    /// Length of the probes' window in a capture (taken while the CPU profile is).
    #[arg(long, default_value_t = 10, requires = "ebpf")]
    pub ebpf_seconds: u32,
    /// The probes --ebpf runs (comma-separated; default: every available probe that is
    /// cheap enough).
    #[arg(long, value_delimiter = ',', requires = "ebpf")]
    pub ebpf_only: Option<Vec<String>>,
    /// A pid or a base URL.
    pub target: String,
}

/// One row of `gorx ps`. Units in names; `missing` says what could not be read.
#[derive(Serialize)]
struct PsRow {
    pid: u32,
    command: String,
    go_version: Option<String>,
    main_path: Option<String>,
    main_module: Option<String>,
    detected_by: Option<&'static str>,
    rss_bytes: Option<u64>,
    threads: Option<u64>,
    open_fds: Option<u64>,
    nofile_soft_limit: Option<u64>,
    gogc: Option<String>,
    gomemlimit: Option<String>,
    gomaxprocs: Option<String>,
    godebug: Option<String>,
    memory_limit_bytes: Option<u64>,
    memory_limit_cgroup: Option<String>,
    cpu_limit_cpus: Option<f64>,
    cpu_limit_cgroup: Option<String>,
    missing: Vec<String>,
}

impl PsRow {
    fn new(pid: u32, command: String) -> Self {
        PsRow {
            pid,
            command,
            go_version: None,
            main_path: None,
            main_module: None,
            detected_by: None,
            rss_bytes: None,
            threads: None,
            open_fds: None,
            nofile_soft_limit: None,
            gogc: None,
            gomemlimit: None,
            gomaxprocs: None,
            godebug: None,
            memory_limit_bytes: None,
            memory_limit_cgroup: None,
            cpu_limit_cpus: None,
            cpu_limit_cgroup: None,
            missing: Vec::new(),
        }
    }

    fn fill(&mut self, go: &GoBinary, s: &ProcessSnapshot) {
        self.go_version = go.go_version.clone();
        self.main_path = go.main_path.clone();
        self.main_module = go
            .main_module
            .as_ref()
            .map(|m| format!("{} {}", m.path, m.version).trim().to_string());
        self.detected_by = Some(go.detected_by);
        self.rss_bytes = s.rss_bytes();
        self.threads = s.status.as_ref().and_then(|st| st.threads);
        self.open_fds = s.fds.as_ref().map(|f| f.total);
        self.nofile_soft_limit = s.nofile_soft;
        if let Some(env) = &s.env {
            self.gogc = env.gogc.clone();
            self.gomemlimit = env.gomemlimit.clone();
            self.gomaxprocs = env.gomaxprocs.clone();
            self.godebug = env.godebug.clone();
        }
        if let Some(c) = &s.cgroup {
            if let Some(l) = c.effective_memory_limit() {
                self.memory_limit_bytes = l.max_bytes;
                self.memory_limit_cgroup = Some(l.path.clone());
            }
            if let Some((cpus, l)) = c.effective_cpu_limit() {
                self.cpu_limit_cpus = Some(cpus);
                self.cpu_limit_cgroup = Some(l.path.clone());
            }
        }
        self.missing.extend(s.missing.iter().cloned());
    }
}

fn mib(b: u64) -> String {
    format!("{:.1}MiB", b as f64 / (1u64 << 20) as f64)
}

pub fn ps(args: PsArgs) -> anyhow::Result<ExitCode> {
    let me = std::process::id();
    // Executables shared by many processes are parsed once (keyed by device and inode).
    let mut cache: HashMap<(u64, u64), Option<GoBinary>> = HashMap::new();
    let mut rows = Vec::new();
    let mut unreadable: Vec<serde_json::Value> = Vec::new();
    for pid in proc::list_pids() {
        if pid == me {
            continue;
        }
        let exe = std::path::PathBuf::from(format!("/proc/{pid}/exe"));
        let go = match std::fs::metadata(&exe) {
            Ok(m) => match cache.get(&(m.dev(), m.ino())) {
                Some(g) => Ok(g.clone()),
                None => {
                    let r = proc::go_binary(pid);
                    if let Ok(g) = &r {
                        cache.insert((m.dev(), m.ino()), g.clone());
                    }
                    r
                }
            },
            Err(e) => Err(LiveError::io(&exe, e)),
        };
        match go {
            Ok(None) => {}
            // Kernel threads have no executable; exited processes are gone.
            Err(e) if e.is_gone() => {}
            Err(e) => {
                // Not readable (permissions, hidepid): whether it is Go is unknown, so it
                // is not listed as one; the footer (and JSON) say what could not be read.
                unreadable.push(serde_json::json!({
                    "pid": pid,
                    "command": proc::command(pid),
                    "error": e.to_string(),
                }));
            }
            Ok(Some(g)) => {
                let mut row = PsRow::new(pid, proc::command(pid));
                match proc::snapshot(pid, Some(&g)) {
                    Ok(s) => row.fill(&g, &s),
                    Err(e) if e.is_gone() => continue,
                    Err(e) => {
                        row.go_version = g.go_version.clone();
                        row.missing.push(e.to_string());
                    }
                }
                rows.push(row);
            }
        }
    }
    if args.json {
        let out = serde_json::json!({"schema": 1, "processes": rows, "unreadable": unreadable});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    for l in ps_table(&rows, terminal_width().unwrap_or(PS_WIDTH).max(PS_WIDTH)) {
        println!("{l}");
    }
    if !unreadable.is_empty() {
        let pids: Vec<String> = unreadable
            .iter()
            .take(8)
            .map(|u| u["pid"].to_string())
            .collect();
        let more = if unreadable.len() > 8 { ", …" } else { "" };
        let w = terminal_width().unwrap_or(PS_WIDTH).max(PS_WIDTH);
        println!(
            "{}",
            cut(
                &format!(
                    "{} process(es) not readable, so not known to be Go: pid {}{more}",
                    unreadable.len(),
                    pids.join(", "),
                ),
                w
            )
        );
        println!(
            "{}",
            cut(
                &format!("  {}", unreadable[0]["error"].as_str().unwrap_or("")),
                w
            )
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `13.7M`, `2.1G`: sizes in at most 7 characters.
fn short_bytes(b: u64) -> String {
    let m = b as f64 / (1u64 << 20) as f64;
    if m < 1000.0 {
        format!("{m:.1}M")
    } else if m < 1_000_000.0 {
        format!("{:.1}G", m / 1024.0)
    } else {
        format!("{:.0}T", m / (1024.0 * 1024.0))
    }
}

/// The narrowest terminal `gorx ps` is laid out for.
const PS_WIDTH: usize = 80;

/// The terminal's width when stdout is one.
fn terminal_width() -> Option<usize> {
    use std::os::fd::AsRawFd;
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return None;
    }
    // SAFETY: TIOCGWINSZ fills a winsize; the fd is stdout's, valid for the call.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::ioctl(std::io::stdout().as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_col > 0).then_some(ws.ws_col as usize)
}

/// `s` in at most `w` characters, the middle replaced by `…` (module paths keep their
/// host and their last element).
fn elide_middle(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w {
        return s.to_string();
    }
    if w <= 1 {
        return "…".chars().take(w).collect();
    }
    // Keep the last path element whole when it leaves room for a few leading characters.
    let last = s.rfind('/').map_or(0, |i| s[i..].chars().count());
    let tail = if last > 0 && last + 4 <= w {
        last
    } else {
        w - 1 - (w - 1) * 2 / 5
    };
    let head = w - 1 - tail;
    let h: String = s.chars().take(head).collect();
    let t: String = s.chars().skip(n - tail).collect();
    format!("{h}…{t}")
}

/// `s` cut to `w` characters with a trailing `…`.
fn cut(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        return s.to_string();
    }
    let mut o: String = s.chars().take(w.saturating_sub(1)).collect();
    o.push('…');
    o
}

/// The `gorx ps` table in `width` columns: one line per process, and an indented line
/// with the runtime knobs and limits when any is set.
fn ps_table(rows: &[PsRow], width: usize) -> Vec<String> {
    if rows.is_empty() {
        return vec!["No Go processes found.".into()];
    }
    const MODULE: usize = 18;
    let line = |pid: &str, go: &str, rss: &str, thr: &str, fds: &str, module: &str, cmd: &str| {
        let head = format!("{pid:>7} {go:<9} {rss:>7} {thr:>4} {fds:>11} {module:<MODULE$} ");
        let left = width.saturating_sub(head.chars().count());
        format!("{head}{}", cut(cmd, left)).trim_end().to_string()
    };
    let mut out = vec![line(
        "PID",
        "GO",
        "RSS",
        "THR",
        "FDS/LIMIT",
        "MODULE",
        "COMMAND",
    )];
    let dash = || "-".to_string();
    for r in rows {
        // The program's base name and its arguments: the directory rarely tells more.
        let cmd = match r.command.split_once(' ') {
            Some((exe, rest)) => format!("{} {rest}", exe.rsplit('/').next().unwrap_or(exe)),
            None => r
                .command
                .rsplit('/')
                .next()
                .unwrap_or(&r.command)
                .to_string(),
        };
        let module = r
            .main_module
            .as_deref()
            .map(|m| m.split(' ').next().unwrap_or(m).to_string())
            .or_else(|| r.main_path.clone())
            .unwrap_or_else(dash);
        out.push(line(
            &r.pid.to_string(),
            &cut(r.go_version.as_deref().unwrap_or("?"), 9),
            &r.rss_bytes.map(short_bytes).unwrap_or_else(dash),
            &r.threads.map(|t| t.to_string()).unwrap_or_else(dash),
            &cut(
                &format!(
                    "{}/{}",
                    r.open_fds
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| "?".into()),
                    r.nofile_soft_limit
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| "∞".into())
                ),
                11,
            ),
            &elide_middle(&module, MODULE),
            &cmd,
        ));
        let mut knobs = Vec::new();
        for (k, v) in [
            ("GOGC", &r.gogc),
            ("GOMEMLIMIT", &r.gomemlimit),
            ("GOMAXPROCS", &r.gomaxprocs),
            ("GODEBUG", &r.godebug),
        ] {
            if let Some(v) = v {
                knobs.push(format!("{k}={v}"));
            }
        }
        if let Some(m) = r.memory_limit_bytes {
            knobs.push(format!("memory limit {}", short_bytes(m)));
        }
        if let Some(c) = r.cpu_limit_cpus {
            knobs.push(format!("cpu limit {c:.2}"));
        }
        if !knobs.is_empty() {
            out.push(cut(&format!("{:>8}{}", "", knobs.join("  ")), width));
        }
        for m in &r.missing {
            out.push(cut(&format!("{:>8}could not read {m}", ""), width));
        }
    }
    out
}

/// The findings of one live process: its snapshot and the fetched bodies judged together.
/// A fetched body that does not parse is named in the endpoint notes, and the snapshot is
/// judged alone.
fn judge_live(
    pid: u32,
    snap: &process::ProcessSnapshot,
    fetched: Option<&mut http::Fetched>,
) -> (Vec<Finding>, Vec<String>) {
    use gorx_analysis::artifacts::{Artifact, KnownProcess, diagnose_process};
    let known = || KnownProcess {
        dir: format!("/proc/{pid}"),
        snapshot: snap.clone(),
        trigger: Vec::new(),
    };
    let alone = || diagnose_process(&[], known()).map(|d| (d.findings, d.notes));
    let result = match fetched {
        Some(f) => {
            let arts: Vec<Artifact<'_>> = f
                .bodies
                .iter()
                .map(|(name, b)| Artifact {
                    name,
                    bytes: b,
                    explicit: false,
                })
                .collect();
            match diagnose_process(&arts, known()) {
                Ok(d) => Ok((d.findings, d.notes)),
                Err(e) => {
                    f.notes.push(e.to_string());
                    alone()
                }
            }
        }
        None => alone(),
    };
    // The snapshot alone has no artifact to fail on.
    result.unwrap_or_else(|e| (Vec::new(), vec![e.to_string()]))
}

pub fn inspect(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let fail_on = super::analyze::parse_fail_on(args.fail_on.as_deref())?;
    let pid = args.pid;
    // Probe names are checked before anything runs.
    let ebpf_plan = args
        .ebpf
        .map(|d| super::probe::ebpf_plan(pid, d, args.ebpf_only.as_deref()))
        .transpose()?;
    let go = match proc::go_binary(pid) {
        Ok(g) => g,
        Err(e) if e.is_gone() && !std::path::Path::new(&format!("/proc/{pid}")).exists() => {
            anyhow::bail!("no process with pid {pid}");
        }
        Err(e) => {
            eprintln!("gorx: cannot read the executable: {e}");
            None
        }
    };
    let mut snap = proc::snapshot(pid, go.as_ref())?;
    // Only inspect walks the full smaps (costly on huge processes; ps and watch do not).
    match proc::top_anon_mappings(pid, 5) {
        Ok(m) => snap.top_anon_mappings = m,
        Err(e) => snap.missing.push(e.to_string()),
    }
    let mut inputs = vec![InputSummary {
        path: format!("/proc/{pid}"),
        kind: "procfs".into(),
    }];
    if let Some(c) = &snap.cgroup {
        if let Some(l) = c.memory.first() {
            inputs.push(InputSummary {
                path: l.path.clone(),
                kind: format!("cgroup-memory-{}", version(c.memory_version)),
            });
        }
        if let Some(l) = c.cpu.first() {
            inputs.push(InputSummary {
                path: l.path.clone(),
                kind: format!("cgroup-cpu-{}", version(c.cpu_version)),
            });
        }
    }
    // An explicit URL that serves nothing is an error naming each URL and its status,
    // never an empty report.
    let endpoints = match &args.pprof {
        Some(u) => http::probe_base(u)?,
        None if args.no_discover => http::Endpoints::default(),
        None => snap
            .fds
            .as_ref()
            .map(|f| http::discover(pid, f))
            .unwrap_or_default(),
    };
    // `--ebpf`: the probes run over their window while the endpoints are read.
    let (fetched, probed) = std::thread::scope(|s| {
        let probing = ebpf_plan.as_ref().map(|plan| {
            let stop = super::probe::stop_on_signals();
            s.spawn(move || super::probe::collect(plan, stop))
        });
        let fetched = (!endpoints.is_empty()).then(|| http::fetch_runtime(&endpoints, &mut snap));
        (fetched, probing.map(|h| h.join()))
    });
    if let Some(f) = &fetched {
        inputs.extend(f.inputs.iter().cloned());
    }
    // One judgement over the snapshot and everything fetched (gorx_analysis::judge): the
    // joins, the per-process merge and the latency advice from the CPU numbers.
    let mut fetched = fetched;
    let (mut findings, mut notes) = judge_live(pid, &snap, fetched.as_mut());
    // The probes' findings joined at the end (gorx_analysis::probe_join). Without
    // privileges or BTF (or on a non-Go pid) the inspection stands without them: inspect
    // must never go blind, so a skipped probe is a note, not an error, and the exit code
    // is what it would be without --ebpf.
    let mut ebpf_json = serde_json::Value::Null;
    let mut probe_text = String::new();
    if let (Some(plan), Some(probed)) = (&ebpf_plan, probed) {
        match probed {
            Ok(Ok(res)) => {
                let judged = super::probe::Judged::of(&res);
                let planned_ns = plan.duration.as_nanos() as u64;
                let covered_ns = super::probe::covered_window_ns(&res).unwrap_or(planned_ns);
                let window = gorx_report::format_duration_ns(covered_ns as f64);
                findings = gorx_analysis::probe_join::join_probe_findings(
                    findings,
                    judged.findings.clone(),
                );
                inputs.push(InputSummary {
                    path: format!("ebpf pid {pid} ({window}: {})", plan.only.join(",")),
                    kind: "ebpf-probe".into(),
                });
                let planned = gorx_report::format_duration_ns(planned_ns as f64);
                if res.exited_after_ns().is_some() {
                    notes.push(format!(
                        "eBPF: pid {pid} exited {window} into the {planned} window; the probes cover that part"
                    ));
                } else if covered_ns + 100_000_000 < planned_ns {
                    notes.push(format!(
                        "eBPF: the {planned} window was ended after {window} by a signal; the probes cover that part"
                    ));
                }
                probe_text = judged.text.clone();
                ebpf_json = serde_json::json!({
                    "probes_run": plan.only,
                    "window_ns": covered_ns,
                    "probes": judged.probes,
                });
            }
            Ok(Err(e)) => {
                notes.push(format!(
                    "eBPF probes skipped ({e}); the inspection ran without them"
                ));
                ebpf_json = serde_json::json!({
                    "probes_run": [],
                    "skipped": e.to_string(),
                });
            }
            Err(_) => notes.push("eBPF probes skipped: the probe thread panicked".into()),
        }
    }
    let diag = Diagnosis::new(inputs, findings).with_notes(notes);

    if args.json {
        let mut v = serde_json::to_value(&diag)?;
        // Additive to schema 1: the snapshot the findings were computed from.
        v["process"] = serde_json::to_value(&snap)?;
        if let Some(g) = &go {
            v["process"]["binary"] = serde_json::to_value(g)?;
        }
        if let Some(f) = &fetched {
            v["process"]["goroutines"] = serde_json::json!(f.goroutines);
            v["process"]["endpoint_errors"] = serde_json::json!(f.notes);
            v["process"]["endpoints"] = serde_json::to_value(&f.endpoints)?;
            v["process"]["runtime_source"] = serde_json::json!(
                f.runtime_from
                    .as_ref()
                    .map(|(s, url)| serde_json::json!({"source": s.as_str(), "url": url}))
            );
        }
        if let Some(p) = process::predicted_gomaxprocs(&snap) {
            v["process"]["gomaxprocs"] = serde_json::to_value(&p)?;
        }
        if let Some(c) = process::cpu_contention(&snap) {
            v["process"]["cpu_contention"] = serde_json::to_value(&c)?;
        }
        if !ebpf_json.is_null() {
            // Additive to schema 1: what `--ebpf` ran and each probe's section, as in
            // `gorx probe --json`.
            v["ebpf"] = ebpf_json;
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(super::exit_for(&diag, fail_on));
    }
    print!("{}", render_snapshot(&snap, go.as_ref(), fetched.as_ref()));
    print!("{probe_text}");
    print!("{}", gorx_report::render_text(&diag));
    Ok(super::exit_for(&diag, fail_on))
}

fn version(v: Option<gorx_formats::cgroup::CgroupVersion>) -> &'static str {
    match v {
        Some(gorx_formats::cgroup::CgroupVersion::V1) => "v1",
        Some(gorx_formats::cgroup::CgroupVersion::V2) => "v2",
        None => "none",
    }
}

fn render_snapshot(
    s: &ProcessSnapshot,
    go: Option<&GoBinary>,
    fetched: Option<&http::Fetched>,
) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(o, "Process {}: {}", s.pid, s.command);
    match go {
        Some(g) => {
            let _ = writeln!(
                o,
                "  Go {}  module {}  (detected by {})",
                g.go_version.as_deref().unwrap_or("unknown version"),
                g.main_module
                    .as_ref()
                    .map(|m| m.path.as_str())
                    .or(g.main_path.as_deref())
                    .unwrap_or("?"),
                g.detected_by
            );
        }
        None => o.push_str("  not a Go binary (or unreadable)\n"),
    }
    if let Some(st) = &s.status {
        let _ = writeln!(
            o,
            "  memory: RSS {}  anon {}  file {}  shmem {}  swap {}  threads {}",
            opt_mib(st.vm_rss_bytes),
            opt_mib(s.rss_anon_bytes()),
            opt_mib(st.rss_file_bytes),
            opt_mib(st.rss_shmem_bytes),
            opt_mib(st.vm_swap_bytes),
            st.threads.map(|t| t.to_string()).unwrap_or("?".into())
        );
    }
    if let Some(f) = &s.fds {
        let kinds: Vec<String> = f
            .by_kind
            .iter()
            .map(|(k, n)| format!("{} {n}", k.as_str()))
            .collect();
        let _ = writeln!(
            o,
            "  fds: {} open / {} soft limit ({})",
            f.total,
            s.nofile_soft
                .map(|n| n.to_string())
                .unwrap_or("unlimited".into()),
            kinds.join(", ")
        );
    }
    if let Some(e) = &s.env {
        let _ = writeln!(
            o,
            "  env: GOGC={} GOMEMLIMIT={} GOMAXPROCS={} GODEBUG={}",
            e.gogc.as_deref().unwrap_or("(unset)"),
            e.gomemlimit.as_deref().unwrap_or("(unset)"),
            e.gomaxprocs.as_deref().unwrap_or("(unset)"),
            e.godebug.as_deref().unwrap_or("(unset)")
        );
    }
    if let Some(p) = process::predicted_gomaxprocs(s) {
        let _ = writeln!(o, "  GOMAXPROCS {}", p.describe());
    }
    if let Some(c) = process::cpu_contention(s) {
        let _ = writeln!(o, "  cpu: {}", c.facts().join("; "));
    }
    if let Some(c) = &s.cgroup {
        for l in &c.memory {
            let _ = writeln!(
                o,
                "  cgroup memory {:<40} limit {:>10}  usage {:>10}  oom_kill {}",
                l.path,
                l.max_bytes.map(mib).unwrap_or("max".into()),
                opt_mib(l.current_bytes),
                l.oom_kill.map(|n| n.to_string()).unwrap_or("-".into())
            );
        }
        for l in &c.cpu {
            let _ = writeln!(
                o,
                "  cgroup cpu    {:<40} limit {:>10}  throttled {}/{} periods, {:.1} s",
                l.path,
                l.limit_cpus()
                    .map(|c| format!("{c:.2} CPUs"))
                    .unwrap_or("max".into()),
                l.nr_throttled.unwrap_or(0),
                l.nr_periods.unwrap_or(0),
                l.throttled_ns.unwrap_or(0) as f64 / 1e9
            );
        }
    }
    let from = fetched.and_then(|f| f.runtime_from.as_ref());
    match (fetched, &s.runtime) {
        (Some(_), Some(r)) => {
            let b = from
                .map(|(src, url)| format!("{} {url}", src.as_str()))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "  runtime ({b}): Sys {}  heap in use {}  idle not released {}  released {}  stacks {}  metadata {}  unaccounted anon RSS {}",
                mib(r.sys_bytes),
                mib(r.heap_inuse_bytes),
                mib(r.idle_not_released_bytes()),
                mib(r.heap_released_bytes),
                mib(r.stack_sys_bytes),
                mib(r.metadata_bytes()),
                opt_mib(s.unaccounted_bytes())
            );
        }
        (Some(f), None) => {
            let _ = writeln!(
                o,
                "  runtime ({}): MemStats not available",
                f.endpoints.describe()
            );
        }
        (None, _) => o.push_str(
            "  runtime: no pprof, /debug/vars or /metrics endpoint found (pass --pprof URL); \
             RSS cannot be reconciled\n",
        ),
    }
    if let Some(f) = fetched {
        let _ = writeln!(o, "  endpoints: {}", f.endpoints.describe());
        if let Some(g) = f.goroutines {
            let _ = writeln!(o, "  goroutines: {g}");
        }
        for n in &f.notes {
            let _ = writeln!(o, "  note: {n}");
        }
    }
    for m in &s.missing {
        let _ = writeln!(o, "  could not read: {m}");
    }
    o.push('\n');
    o
}

fn opt_mib(b: Option<u64>) -> String {
    b.map(mib).unwrap_or("?".into())
}

pub fn watch(args: WatchArgs) -> anyhow::Result<ExitCode> {
    use gorx_live::watch::{self, WatchConfig};
    let dur = |s: &str, what: &str| {
        watch::parse_duration(s).map_err(|e| anyhow::anyhow!("--{what}: {e}"))
    };
    let (pid, pprof) = match args.target.parse::<u32>() {
        Ok(pid) => (pid, args.pprof.clone()),
        Err(_) => {
            let url = args.target.trim_end_matches('/').to_string();
            let pid = watch::pid_for_url(&url).ok_or_else(|| {
                anyhow::anyhow!(
                    "{url}: no local process listens on that port; watching a remote URL \
                     without its /proc is not supported"
                )
            })?;
            (pid, Some(url))
        }
    };
    let cfg = WatchConfig {
        interval: dur(&args.interval, "interval")?,
        window: dur(&args.window, "window")?,
        out: args.out.clone(),
        cooldown: dur(&args.cooldown, "cooldown")?,
        max_bundles: args.max_bundles,
        max_disk_bytes: args.max_disk_mib.saturating_mul(1 << 20),
        cpu_profile_seconds: args.cpu_seconds,
        trace_seconds: args.trace_seconds,
        duration: args
            .duration
            .as_deref()
            .map(|d| dur(d, "duration"))
            .transpose()?,
        follow: args.follow,
        pprof,
        capture_extra: None,
    };
    let mut cfg = cfg;
    if args.ebpf {
        let window = std::time::Duration::from_secs(u64::from(args.ebpf_seconds.max(1)));
        let plan = super::probe::ebpf_plan(pid, window, args.ebpf_only.as_deref())?;
        // The watch never goes blind either: without privileges or BTF it runs without
        // the probes and says so once.
        match super::probe::ebpf_preflight(pid) {
            Ok(()) if cfg.out.is_none() => {
                eprintln!(
                    "gorx watch: --ebpf runs the probes at each capture; without --out nothing is captured"
                )
            }
            Ok(()) => {
                eprintln!(
                    "gorx watch: --ebpf: probes {} for {} s at each capture",
                    plan.only.join(","),
                    window.as_secs()
                );
                cfg.capture_extra = Some(super::probe::capture_hook(plan.only, window));
            }
            Err(e) => eprintln!("gorx watch: --ebpf skipped: {e}; watching without the probes"),
        }
    }
    let tty = !args.plain && std::io::IsTerminal::is_terminal(&std::io::stdout());
    // SIGINT/SIGTERM end the loop; the summary below is still printed.
    watch::install_stop_handlers();
    let summary = if tty {
        let mut ui = tui::Ui::start();
        let r = watch::run(pid, &cfg, |ev| ui.on(ev));
        // Leave the screen before printing, so the log stays in the scrollback.
        let log = ui.finish();
        for l in log {
            println!("{l}");
        }
        r?
    } else {
        watch::run(pid, &cfg, |ev| {
            for l in plain_lines(ev) {
                println!("{l}");
            }
            true
        })?
    };
    println!(
        "watch ended{}: {} samples, {} bundle(s){}",
        watch::stop_signal()
            .map(|s| format!(" by {s}"))
            .unwrap_or_default(),
        summary.samples,
        summary.bundles.len(),
        if summary.findings_seen.is_empty() {
            String::new()
        } else {
            format!(
                ", anomalies: {}",
                summary
                    .findings_seen
                    .iter()
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// The plain-text form of a watch event (also the TUI's event log).
fn plain_lines(ev: &gorx_live::watch::Event<'_>) -> Vec<String> {
    use gorx_live::watch::Event;
    match ev {
        Event::Started {
            pid,
            command,
            endpoints,
        } => vec![format!(
            "watching pid {pid} ({command}); runtime endpoints: {}",
            if endpoints.is_empty() {
                "none found (only /proc and cgroup are sampled)"
            } else {
                endpoints
            }
        )],
        Event::Sample(s) => vec![format!(
            "{:>8.1}s rss={} anon={} fds={} threads={} goroutines={} heap_inuse={} gc_cpu_since_start={} gc_score={} throttled={}/{} [{}]",
            s.t_ms as f64 / 1000.0,
            opt_mib(s.rss_bytes),
            opt_mib(s.rss_anon_bytes),
            opt_num(s.open_fds),
            opt_num(s.threads),
            opt_num(s.goroutines),
            opt_mib(s.heap_inuse_bytes),
            s.gc_cpu_fraction
                .map(|f| format!("{:.1}%", f * 100.0))
                .unwrap_or("-".into()),
            s.gc_score.map_or("-".into(), |n| n.to_string()),
            opt_num(s.nr_throttled),
            opt_num(s.nr_periods),
            s.runtime_source.unwrap_or("runtime: none"),
        )],
        Event::Anomaly(fs) => fs
            .iter()
            .map(|f| format!("ANOMALY {} [{}] {}", f.severity.as_str(), f.id, f.title))
            .collect(),
        Event::Captured { path, files } => {
            vec![format!("captured {} ({files} files)", path.display())]
        }
        Event::CaptureFailed(e) => vec![format!("capture failed: {e}")],
        Event::CoolingDown(s) => vec![format!("capture skipped: cooldown, {s:.0} s left")],
        Event::Exited { pid, after_s } => {
            vec![format!(
                "target pid {pid} exited after {after_s:.1} s of watching"
            )]
        }
        Event::Waiting { command } => {
            vec![format!("waiting for a new process running: {command}")]
        }
    }
}

/// The full-screen view: sparklines of the sampled series and the event log.
mod tui {
    use gorx_live::watch::Event;
    use ratatui::crossterm::event::{self, KeyCode, KeyEventKind, KeyModifiers};
    use ratatui::layout::{Constraint, Layout};
    use ratatui::style::{Color, Style};
    use ratatui::widgets::{Block, List, Paragraph, Sparkline};
    use std::collections::VecDeque;
    use std::time::Duration;

    const KEEP: usize = 600;
    const SERIES: [&str; 6] = [
        "RSS (MiB)",
        "Go heap in use (MiB",
        "goroutines",
        "open fds",
        "threads",
        "throttled periods / sample",
    ];

    pub struct Ui {
        term: ratatui::DefaultTerminal,
        series: [VecDeque<u64>; 6],
        last_throttled: Option<u64>,
        /// Where the heap series is read from (shown in its title).
        heap_source: &'static str,
        title: String,
        current: String,
        log: Vec<String>,
    }

    impl Ui {
        pub fn start() -> Ui {
            Ui {
                term: ratatui::init(),
                series: Default::default(),
                last_throttled: None,
                heap_source: "none",
                title: String::new(),
                current: String::new(),
                log: Vec::new(),
            }
        }

        /// Handle one event; false when the user asked to quit.
        pub fn on(&mut self, ev: &Event<'_>) -> bool {
            match ev {
                Event::Sample(s) => {
                    let mib = |b: Option<u64>| b.map(|b| b >> 20);
                    let th = s.nr_throttled.map(|t| {
                        let d = t.saturating_sub(self.last_throttled.unwrap_or(t));
                        self.last_throttled = Some(t);
                        d
                    });
                    if let Some(src) = s.runtime_source {
                        self.heap_source = src;
                    }
                    let vals = [
                        mib(s.rss_bytes),
                        mib(s.heap_inuse_bytes),
                        s.goroutines,
                        s.open_fds,
                        s.threads,
                        th,
                    ];
                    for (q, v) in self.series.iter_mut().zip(vals) {
                        q.push_back(v.unwrap_or(0));
                        if q.len() > KEEP {
                            q.pop_front();
                        }
                    }
                    self.current = super::plain_lines(ev).join(" ");
                }
                Event::Started { .. } => {
                    self.title = super::plain_lines(ev).join(" ");
                    self.log.extend(super::plain_lines(ev));
                }
                _ => self.log.extend(super::plain_lines(ev)),
            }
            self.draw();
            !self.quit_requested()
        }

        fn quit_requested(&self) -> bool {
            while event::poll(Duration::ZERO).unwrap_or(false) {
                if let Ok(event::Event::Key(k)) = event::read()
                    && k.kind == KeyEventKind::Press
                    && (matches!(k.code, KeyCode::Char('q') | KeyCode::Esc)
                        || (k.code == KeyCode::Char('c')
                            && k.modifiers.contains(KeyModifiers::CONTROL)))
                {
                    return true;
                }
            }
            false
        }

        fn draw(&mut self) {
            let Ui {
                term,
                series,
                title,
                current,
                log,
                heap_source,
                ..
            } = self;
            let _ = term.draw(|f| {
                let mut rows = vec![Constraint::Length(3)];
                rows.extend([Constraint::Length(4); 6]);
                rows.push(Constraint::Min(3));
                let areas = Layout::vertical(rows).split(f.area());
                f.render_widget(
                    Paragraph::new(current.as_str())
                        .block(Block::bordered().title(format!("gorx watch — {title} — q quits"))),
                    areas[0],
                );
                for (i, name) in SERIES.iter().enumerate() {
                    let area = areas[i + 1];
                    let width = area.width.saturating_sub(2) as usize;
                    let data: Vec<u64> = series[i]
                        .iter()
                        .skip(series[i].len().saturating_sub(width))
                        .copied()
                        .collect();
                    let now = data.last().copied().unwrap_or(0);
                    let name = if i == 1 {
                        format!("{name}, from {heap_source})")
                    } else {
                        name.to_string()
                    };
                    f.render_widget(
                        Sparkline::default()
                            .block(Block::bordered().title(format!("{name}: {now}")))
                            .data(&data)
                            .style(Style::default().fg(Color::Cyan)),
                        area,
                    );
                }
                let last = areas[7];
                let n = last.height.saturating_sub(2) as usize;
                let items: Vec<&str> = log
                    .iter()
                    .skip(log.len().saturating_sub(n))
                    .map(String::as_str)
                    .collect();
                f.render_widget(
                    List::new(items).block(Block::bordered().title("events")),
                    last,
                );
            });
        }

        /// Restore the terminal; returns the event log for the scrollback.
        pub fn finish(mut self) -> Vec<String> {
            ratatui::restore();
            std::mem::take(&mut self.log)
        }
    }

    impl Drop for Ui {
        fn drop(&mut self) {
            // Also on early returns and errors (finish() restores twice harmlessly).
            ratatui::restore();
        }
    }
}

fn opt_num(n: Option<u64>) -> String {
    n.map(|n| n.to_string()).unwrap_or("-".into())
}
