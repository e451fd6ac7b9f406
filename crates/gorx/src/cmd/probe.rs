//! `gorx probe PID`: the kernel's view of a Go process (eBPF). Wiring only: gorx-ebpf
//! collects and judges, gorx-report renders.

use super::analyze::parse_fail_on;
use anyhow::{Result, bail};
use gorx_analysis::{Diagnosis, InputSummary};
use gorx_ebpf::{ProbeError, fds, judge, preflight, runq, symbolize::Symbolizer, syscalls};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

/// Probes that exist.
const AVAILABLE: &[&str] = &["syscalls", "runq", "fds"];
/// Probes the issue plans that do not exist yet.
const PLANNED: &[&str] = &["offcpu", "mmap", "alloc"];

#[derive(clap::Args)]
pub struct Args {
    /// The process to probe.
    pub pid: u32,
    /// How long to watch, e.g. 10s, 500ms, 1m.
    #[arg(long, default_value = "10s", value_parser = gorx_live::watch::parse_duration)]
    pub duration: std::time::Duration,
    /// Which probes to run (comma-separated), at once over the same window. Available:
    /// syscalls (latency per syscall, slow ones with their Go stack), runq (run-queue
    /// delay of the threads, judged against CFS throttling, host pressure, GOMAXPROCS),
    /// fds (fds opened and closed per opening Go stack: the sites that leak).
    #[arg(long, value_delimiter = ',', default_value = "syscalls")]
    pub only: Vec<String>,
    /// Record syscalls at least this slow with their Go stack.
    #[arg(long, default_value = "10ms", value_parser = gorx_live::watch::parse_duration)]
    pub slow: std::time::Duration,
    /// Print JSON (schema 1, as `gorx analyze`, plus a `probes` section).
    #[arg(long)]
    pub json: bool,
    /// Exit with status 1 when a finding at or above this severity is reported.
    #[arg(long, value_name = "warning|critical")]
    pub fail_on: Option<String>,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// What the probes saw.
struct Results {
    syscalls: Option<syscalls::SyscallReport>,
    runq: Option<runq::RunqReport>,
    fds: Option<fds::FdReport>,
}

impl Results {
    /// The target exited mid-window: the window that was covered.
    fn exited_after_ns(&self) -> Option<u64> {
        let s = self.syscalls.as_ref().filter(|r| r.target_exited);
        let q = self.runq.as_ref().filter(|r| r.target_exited);
        let f = self.fds.as_ref().filter(|r| r.target_exited);
        s.map(|r| r.window_ns)
            .or(q.map(|r| r.window_ns))
            .or(f.map(|r| r.window_ns))
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let fail_on = parse_fail_on(args.fail_on.as_deref())?;
    let avail = AVAILABLE.join(", ");
    for p in &args.only {
        if PLANNED.contains(&p.as_str()) {
            bail!("probe {p:?} is not implemented yet (available: {avail})");
        } else if !AVAILABLE.contains(&p.as_str()) {
            bail!("unknown probe {p:?} (available: {avail})");
        }
    }
    match probe(&args) {
        Ok(res) => {
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
            let d = Diagnosis::new(
                vec![InputSummary {
                    path: format!("pid {}", args.pid),
                    kind: "ebpf-probe".into(),
                }],
                findings,
            );
            if args.json {
                let mut v = serde_json::to_value(&d)?;
                v["probes"] = serde_json::Value::Object(probes);
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{text}");
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

fn probe(args: &Args) -> Result<Results, ProbeError> {
    preflight::check()?;
    if !std::path::Path::new(&format!("/proc/{}", args.pid)).exists() {
        return Err(ProbeError::NoSuchProcess(args.pid));
    }
    // Also the check that the target is a Go program (every probe names Go things).
    let sym = Symbolizer::for_pid(args.pid)?;
    // SIGINT/SIGTERM end the window early; the results so far are still printed and the
    // BPF links are detached when the probes return.
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let want = |p: &str| args.only.iter().any(|o| o == p);
    let sys_cfg = syscalls::Config {
        pid: args.pid,
        duration: args.duration,
        slow_ns: args.slow.as_nanos().min(u128::from(u64::MAX)) as u64,
    };
    let runq_cfg = runq::Config {
        pid: args.pid,
        duration: args.duration,
    };
    let fds_cfg = fds::Config {
        pid: args.pid,
        duration: args.duration,
    };
    // The probes run at once, over the same window, each with its own BPF object.
    std::thread::scope(|s| {
        let rq = want("runq").then(|| s.spawn(|| runq::run(&runq_cfg, &STOP)));
        let fd = want("fds").then(|| s.spawn(|| fds::run(&fds_cfg, &sym, &STOP)));
        let sys = want("syscalls").then(|| syscalls::run(&sys_cfg, &sym, &STOP));
        if matches!(sys, Some(Err(_))) {
            // Do not keep the other probe watching for a result that will not be printed.
            STOP.store(true, Ordering::Relaxed);
        }
        let rq = rq.map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(ProbeError::Load("the runq probe panicked".into())))
        });
        let fd = fd.map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(ProbeError::Load("the fds probe panicked".into())))
        });
        Ok(Results {
            syscalls: sys.transpose()?,
            runq: rq.transpose()?,
            fds: fd.transpose()?,
        })
    })
}
