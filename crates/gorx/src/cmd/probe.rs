//! `gorx probe PID`: the kernel's view of a Go process (eBPF). Wiring only: gorx-ebpf
//! collects and judges, gorx-report renders. [`collect`] and [`Judged::of`] are shared
//! with `inspect --ebpf` and `watch --ebpf`.

use super::analyze::parse_fail_on;
use anyhow::{Context, Result, bail};
use gorx_analysis::{Diagnosis, Finding, InputSummary};
use gorx_ebpf::{
    ProbeError, alloc, fds, judge, mmap, offcpu, preflight, runq, symbolize::Symbolizer, syscalls,
};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Probes that exist.
pub const AVAILABLE: &[&str] = &["syscalls", "runq", "fds", "offcpu", "mmap", "alloc"];

/// The file `-o DIR` writes: the `--json` document. `gorx analyze DIR` reads it back
/// (gorx_live::probe_file).
pub const PROBE_JSON: &str = gorx_live::probe_file::PROBE_JSON;
/// The off-CPU profile `-o DIR` writes (pprof, gzipped): `go tool pprof DIR/offcpu.pb.gz`.
pub const OFFCPU_PPROF: &str = "offcpu.pb.gz";

#[derive(clap::Args)]
pub struct Args {
    /// The process to probe.
    pub pid: u32,
    /// How long to watch, e.g. 10s, 500ms, 1m.
    #[arg(long, default_value = "10s", value_parser = gorx_live::watch::parse_duration)]
    pub duration: Duration,
    /// Which probes to run (comma-separated), at once over the same window. Available:
    /// syscalls (latency per syscall, slow ones with their Go stack), runq (run-queue
    /// delay of the threads, judged against CFS throttling, host pressure, GOMAXPROCS),
    /// fds (fds opened and closed per opening Go stack: the sites that leak), offcpu
    /// (time the threads sleep per Go stack, the runtime's idle threads kept apart; -o
    /// writes it as a pprof profile), mmap (anonymous memory mapped and released per
    /// mapping Go stack: who holds the RSS), alloc (span refill latency of the Go
    /// allocator: uprobes on mcentral.cacheSpan and mheap.alloc).
    #[arg(long, value_delimiter = ',', default_value = "syscalls")]
    pub only: Vec<String>,
    /// Record syscalls at least this slow with their Go stack.
    #[arg(long, default_value = "10ms", value_parser = gorx_live::watch::parse_duration)]
    pub slow: Duration,
    /// Print JSON (schema 1, as `gorx analyze`, plus a `probes` section).
    #[arg(long)]
    pub json: bool,
    /// Also write the results into this directory (probe.json, and each probe's own
    /// files); `gorx analyze DIR` reads them back.
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Exit with status 1 when a finding at or above this severity is reported.
    #[arg(long, value_name = "warning|critical")]
    pub fail_on: Option<String>,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// What to run: the probes (names from [`AVAILABLE`]) over one window.
pub struct Plan {
    pub pid: u32,
    pub duration: Duration,
    pub only: Vec<String>,
    pub slow: Duration,
}

impl Plan {
    /// Refuses unknown probe names.
    pub fn check(&self) -> Result<()> {
        let avail = AVAILABLE.join(", ");
        for p in &self.only {
            if !AVAILABLE.contains(&p.as_str()) {
                bail!("unknown probe {p:?} (available: {avail})");
            }
        }
        Ok(())
    }

    fn wants(&self, p: &str) -> bool {
        self.only.iter().any(|o| o == p)
    }
}

/// What the probes saw.
pub struct Results {
    pub syscalls: Option<syscalls::SyscallReport>,
    pub runq: Option<runq::RunqReport>,
    pub fds: Option<fds::FdReport>,
    pub offcpu: Option<offcpu::OffcpuReport>,
    pub mmap: Option<mmap::MmapReport>,
    pub alloc: Option<alloc::AllocReport>,
}

impl Results {
    /// The target exited mid-window: the window that was covered.
    pub fn exited_after_ns(&self) -> Option<u64> {
        let s = self.syscalls.as_ref().filter(|r| r.target_exited);
        let q = self.runq.as_ref().filter(|r| r.target_exited);
        let f = self.fds.as_ref().filter(|r| r.target_exited);
        let o = self.offcpu.as_ref().filter(|r| r.target_exited);
        let m = self.mmap.as_ref().filter(|r| r.target_exited);
        let a = self.alloc.as_ref().filter(|r| r.target_exited);
        s.map(|r| r.window_ns)
            .or(q.map(|r| r.window_ns))
            .or(f.map(|r| r.window_ns))
            .or(a.map(|r| r.window_ns))
            .or(m.map(|r| r.window_ns))
            .or(o.map(|r| r.window_ns))
    }
}

/// The probes' results judged: findings, the `probes` JSON section, the text tables.
pub struct Judged {
    pub findings: Vec<Finding>,
    pub probes: serde_json::Map<String, serde_json::Value>,
    pub text: String,
}

impl Judged {
    pub fn of(res: &Results) -> Judged {
        let mut findings = Vec::new();
        let mut probes = serde_json::Map::new();
        let mut text = String::new();
        if let Some(report) = &res.syscalls {
            let groups = judge::group_slow(&report.slow, report.window_ns);
            findings.extend(judge::judge_syscalls(report, &groups));
            text.push_str(&gorx_report::probe::render_syscalls_text(report, &groups));
            probes.insert(
                "syscalls".into(),
                serde_json::json!({ "report": report, "slow_groups": groups }),
            );
        }
        if let Some(report) = &res.runq {
            findings.extend(judge::judge_runq(report));
            text.push_str(&gorx_report::probe::render_runq_text(report));
            let (p50, p99) = (report.all.quantile_ns(0.5), report.all.quantile_ns(0.99));
            probes.insert(
                "runq".into(),
                serde_json::json!({ "report": report, "p50_ns": p50, "p99_ns": p99 }),
            );
        }
        if let Some(report) = &res.fds {
            let groups = judge::group_fds(report);
            findings.extend(judge::judge_fds(report, &groups));
            text.push_str(&gorx_report::probe::render_fds_text(report, &groups));
            probes.insert(
                "fds".into(),
                serde_json::json!({ "report": report, "sites": groups }),
            );
        }
        if let Some(report) = &res.offcpu {
            let groups = judge::group_offcpu(report);
            let blocking = judge::judge_offcpu(report, &groups);
            let kept = judge::fold_offcpu_into_slow(&mut findings, blocking);
            findings.extend(kept);
            text.push_str(&gorx_report::probe::render_offcpu_text(report, &groups));
            probes.insert(
                "offcpu".into(),
                serde_json::json!({ "report": report, "groups": groups }),
            );
        }
        if let Some(report) = &res.mmap {
            let groups = judge::group_mmap(report);
            findings.extend(judge::judge_mmap(report, &groups));
            text.push_str(&gorx_report::probe::render_mmap_text(report, &groups));
            probes.insert(
                "mmap".into(),
                serde_json::json!({ "report": report, "sites": groups }),
            );
        }
        if let Some(report) = &res.alloc {
            findings.extend(judge::judge_alloc(report));
            text.push_str(&gorx_report::probe::render_alloc_text(report));
            probes.insert(
                "alloc".into(),
                serde_json::json!({
                    "report": report,
                    "refill_threads_avg": report.refill_threads(),
                    "refill_share_of_cpu": report.refill_share_of_cpu(),
                    "functions": report.functions.iter().map(|f| serde_json::json!({
                        "function": f.function,
                        "calls": f.calls,
                        "p50_ns": f.p50_ns(),
                        "p99_ns": f.p99_ns(),
                        "max_ns": f.latency.max_ns,
                        "total_ns": f.latency.total_ns,
                    })).collect::<Vec<_>>(),
                }),
            );
        }
        Judged {
            findings,
            probes,
            text,
        }
    }

    /// The `--json` document: a diagnosis (schema 1, as `gorx analyze`) plus `probes`.
    pub fn document(&self, pid: u32) -> Result<(Diagnosis, serde_json::Value)> {
        let d = Diagnosis::new(
            vec![InputSummary {
                path: format!("pid {pid}"),
                kind: "ebpf-probe".into(),
            }],
            self.findings.clone(),
        );
        let mut v = serde_json::to_value(&d)?;
        v["probes"] = serde_json::Value::Object(self.probes.clone());
        Ok((d, v))
    }

    /// Write the results into `dir` (created if missing): probe.json, and the files each
    /// probe writes.
    pub fn write_dir(&self, res: &Results, doc: &serde_json::Value, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(PROBE_JSON);
        std::fs::write(&path, serde_json::to_string_pretty(doc)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        if let Some(report) = &res.offcpu {
            let path = dir.join(OFFCPU_PPROF);
            std::fs::write(&path, offcpu::pprof(report))
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let fail_on = parse_fail_on(args.fail_on.as_deref())?;
    let plan = Plan {
        pid: args.pid,
        duration: args.duration,
        only: args.only.clone(),
        slow: args.slow,
    };
    plan.check()?;
    // SIGINT/SIGTERM end the window early; the results so far are still printed and the
    // BPF links are detached when the probes return.
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    match collect(&plan, &STOP) {
        Ok(res) => {
            let judged = Judged::of(&res);
            let (d, doc) = judged.document(args.pid)?;
            if let Some(dir) = &args.out {
                judged.write_dir(&res, &doc, dir)?;
            }
            if args.json {
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                print!("{}", judged.text);
                print!("{}", gorx_report::render_text(&d));
            }
            if let Some(window_ns) = res.exited_after_ns() {
                eprintln!(
                    "gorx: pid {} exited {} into the {} window; the results above cover that part",
                    args.pid,
                    gorx_report::format_duration_ns(window_ns as f64),
                    gorx_report::format_duration_ns(args.duration.as_nanos() as f64)
                );
                return Ok(ExitCode::from(super::EXIT_ERROR));
            }
            Ok(super::exit_for(&d, fail_on))
        }
        Err(e) => {
            eprintln!("gorx probe: {e}");
            Ok(ExitCode::from(super::EXIT_ERROR))
        }
    }
}

/// Run the plan's probes at once over one window (until it ends, `stop` is set, or the
/// target exits). Checks privileges and BTF first, then that the target is a Go program.
pub fn collect(plan: &Plan, stop: &AtomicBool) -> Result<Results, ProbeError> {
    preflight::check()?;
    if !std::path::Path::new(&format!("/proc/{}", plan.pid)).exists() {
        return Err(ProbeError::NoSuchProcess(plan.pid));
    }
    // Also the check that the target is a Go program (every probe names Go things).
    let sym = Symbolizer::for_pid(plan.pid)?;
    let sys_cfg = syscalls::Config {
        pid: plan.pid,
        duration: plan.duration,
        slow_ns: plan.slow.as_nanos().min(u128::from(u64::MAX)) as u64,
    };
    let window = gorx_ebpf::Window {
        pid: plan.pid,
        duration: plan.duration,
    };
    // The probes run at once, over the same window, each with its own BPF object.
    std::thread::scope(|s| {
        let rq = plan
            .wants("runq")
            .then(|| s.spawn(|| runq::run(&window, stop)));
        let fd = plan
            .wants("fds")
            .then(|| s.spawn(|| fds::run(&window, &sym, stop)));
        let al = plan
            .wants("alloc")
            .then(|| s.spawn(|| alloc::run(&window, stop)));
        let mm = plan
            .wants("mmap")
            .then(|| s.spawn(|| mmap::run(&window, &sym, stop)));
        let off = plan
            .wants("offcpu")
            .then(|| s.spawn(|| offcpu::run(&window, &sym, stop)));
        let sys = plan
            .wants("syscalls")
            .then(|| syscalls::run(&sys_cfg, &sym, stop));
        if matches!(sys, Some(Err(_))) {
            // Do not keep the other probes watching for a result that will not be printed.
            stop.store(true, Ordering::Relaxed);
        }
        let rq = rq.map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(ProbeError::Load("the runq probe panicked".into())))
        });
        let fd = fd.map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(ProbeError::Load("the fds probe panicked".into())))
        });
        let off = off.map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(ProbeError::Load("the offcpu probe panicked".into())))
        });
        let mm = mm.map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(ProbeError::Load("the mmap probe panicked".into())))
        });
        let al = al.map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(ProbeError::Load("the alloc probe panicked".into())))
        });
        Ok(Results {
            syscalls: sys.transpose()?,
            runq: rq.transpose()?,
            fds: fd.transpose()?,
            alloc: al.transpose()?,
            mmap: mm.transpose()?,
            offcpu: off.transpose()?,
        })
    })
}

// ---- `inspect --ebpf` and `watch --ebpf` (branch ebpflive) ----

/// Probes too costly to run by default beside `inspect --ebpf` and `watch --ebpf` (they
/// still run when named in `--ebpf-only`). A probe belongs here when its cost over a
/// window would be felt by a busy target, e.g. a uprobe on a hot runtime function.
/// alloc is: each span refill pays two uprobe hits (about 10 µs here), and an
/// allocation-heavy target slowed from 1.7M to 50k allocations/s under it. syscalls and fds
/// add about 0.5 µs per syscall of the target and 0.2 µs to other processes' syscalls while
/// attached (BENCHMARKS.md), runq a map update per context switch, and `--ebpf` attaches
/// them only for its bounded window.
pub const EBPF_EXPENSIVE: &[&str] = &["alloc"];

/// The probes `--ebpf` runs without `--ebpf-only`: every [`AVAILABLE`] probe not in
/// [`EBPF_EXPENSIVE`]. A new probe joins by being added to those lists, nothing else.
pub fn default_ebpf_set() -> Vec<String> {
    AVAILABLE
        .iter()
        .filter(|p| !EBPF_EXPENSIVE.contains(p))
        .map(|p| p.to_string())
        .collect()
}

/// Slow-syscall threshold of `--ebpf` (as `gorx probe --slow`'s default).
pub const EBPF_SLOW: Duration = Duration::from_millis(10);

/// The plan of `--ebpf` over `duration`: `only` (from `--ebpf-only`) or the default set;
/// unknown and not-yet-implemented names are refused.
pub fn ebpf_plan(pid: u32, duration: Duration, only: Option<&[String]>) -> Result<Plan> {
    let plan = Plan {
        pid,
        duration,
        only: only
            .map(<[String]>::to_vec)
            .unwrap_or_else(default_ebpf_set),
        slow: EBPF_SLOW,
    };
    plan.check()?;
    if plan.only.is_empty() {
        bail!(
            "--ebpf-only names no probe (available: {})",
            AVAILABLE.join(", ")
        );
    }
    Ok(plan)
}

/// SIGINT and SIGTERM end the probes' window early (the results so far are still used);
/// returns the flag they set.
pub fn stop_on_signals() -> &'static AtomicBool {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    &STOP
}

/// Whether the probes can run on `pid` at all (privileges, BTF, a Go target), checked
/// before a watch starts so it can say at once why `--ebpf` will add nothing.
pub fn ebpf_preflight(pid: u32) -> Result<(), ProbeError> {
    preflight::check()?;
    Symbolizer::for_pid(pid).map(|_| ())
}

/// The hook `watch --ebpf` gives the watch loop: at each capture, run `only` for
/// `window` (ended early by SIGINT/SIGTERM), and write probe.json and each probe's files
/// into the bundle. They are written into a staging directory first and moved in, so the
/// files listed are exactly the probes' own.
pub fn capture_hook(only: Vec<String>, window: Duration) -> gorx_live::watch::CaptureHook {
    use gorx_live::watch::{CaptureExtra, CaptureHook};
    CaptureHook(std::sync::Arc::new(move |pid: u32, dir: &Path| {
        let plan = Plan {
            pid,
            duration: window,
            only: only.clone(),
            slow: EBPF_SLOW,
        };
        let stop = AtomicBool::new(false);
        let done = AtomicBool::new(false);
        let res = std::thread::scope(|s| {
            s.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    if gorx_live::watch::stop_requested() {
                        stop.store(true, Ordering::Relaxed);
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
            let r = collect(&plan, &stop);
            done.store(true, Ordering::Relaxed);
            r
        })
        .map_err(|e| format!("eBPF probes ({}) skipped: {e}", only.join(",")))?;
        let judged = Judged::of(&res);
        let (_, doc) = judged.document(pid).map_err(|e| format!("{e:#}"))?;
        let stage = dir.join(".probe.partial");
        let moved = (|| -> Result<Vec<String>> {
            judged.write_dir(&res, &doc, &stage)?;
            let mut files = Vec::new();
            for e in
                std::fs::read_dir(&stage).with_context(|| format!("listing {}", stage.display()))?
            {
                let e = e.with_context(|| format!("listing {}", stage.display()))?;
                let name = e.file_name().to_string_lossy().into_owned();
                std::fs::rename(e.path(), dir.join(&name))
                    .with_context(|| format!("moving {name} into {}", dir.display()))?;
                files.push(name);
            }
            Ok(files)
        })();
        let _ = std::fs::remove_dir_all(&stage);
        let mut files = moved.map_err(|e| format!("writing the probe results: {e:#}"))?;
        files.sort();
        let mut notes = Vec::new();
        if let Some(ns) = res.exited_after_ns() {
            notes.push(format!(
                "eBPF: pid {pid} exited {} into the {} window",
                gorx_report::format_duration_ns(ns as f64),
                gorx_report::format_duration_ns(window.as_nanos() as f64)
            ));
        }
        Ok(CaptureExtra {
            files,
            findings: judged.findings,
            notes,
            inputs: vec![InputSummary {
                path: PROBE_JSON.into(),
                kind: "ebpf-probe".into(),
            }],
        })
    }))
}

/// The window the probes covered (the longest of theirs): shorter than planned when the
/// target exited or SIGINT/SIGTERM ended it early.
pub fn covered_window_ns(res: &Results) -> Option<u64> {
    [
        res.syscalls.as_ref().map(|r| r.window_ns),
        res.runq.as_ref().map(|r| r.window_ns),
        res.fds.as_ref().map(|r| r.window_ns),
    ]
    .into_iter()
    .flatten()
    .max()
}
