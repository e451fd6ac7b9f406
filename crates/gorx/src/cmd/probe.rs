//! `gorx probe PID`: the kernel's view of a Go process (eBPF). Wiring only: gorx-ebpf
//! collects and judges, gorx-report renders.

use super::analyze::parse_fail_on;
use anyhow::{Result, bail};
use gorx_analysis::{Diagnosis, InputSummary};
use gorx_ebpf::{ProbeError, judge, preflight, symbolize::Symbolizer, syscalls};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

/// Probes the issue plans; only `syscalls` exists so far.
const PLANNED: &[&str] = &["offcpu", "runq", "fds", "mmap", "alloc"];

#[derive(clap::Args)]
pub struct Args {
    /// The process to probe.
    pub pid: u32,
    /// How long to watch, e.g. 10s, 500ms, 1m.
    #[arg(long, default_value = "10s", value_parser = gorx_live::watch::parse_duration)]
    pub duration: std::time::Duration,
    /// Which probes to run (comma-separated). Available: syscalls.
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

pub fn run(args: Args) -> Result<ExitCode> {
    let fail_on = parse_fail_on(args.fail_on.as_deref())?;
    for p in &args.only {
        if PLANNED.contains(&p.as_str()) {
            bail!("probe {p:?} is not implemented yet (available: syscalls)");
        } else if p != "syscalls" {
            bail!("unknown probe {p:?} (available: syscalls)");
        }
    }
    match probe(&args) {
        Ok((report, exited)) => {
            let groups = judge::group_slow(&report.slow, report.window_ns);
            let findings = judge::judge_syscalls(&report, &groups);
            let d = Diagnosis::new(
                vec![InputSummary {
                    path: format!("pid {}", args.pid),
                    kind: "ebpf-probe".into(),
                }],
                findings,
            );
            if args.json {
                let mut v = serde_json::to_value(&d)?;
                v["probes"] = serde_json::json!({
                    "syscalls": {
                        "report": report,
                        "slow_groups": groups,
                    }
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!(
                    "{}",
                    gorx_report::probe::render_syscalls_text(&report, &groups)
                );
                print!("{}", gorx_report::render_text(&d));
            }
            if exited {
                eprintln!(
                    "gorx: pid {} exited {} into the {} window; the results above cover that part",
                    args.pid,
                    gorx_report::format_duration_ns(report.window_ns as f64),
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

fn probe(args: &Args) -> Result<(syscalls::SyscallReport, bool), ProbeError> {
    preflight::check()?;
    if !std::path::Path::new(&format!("/proc/{}", args.pid)).exists() {
        return Err(ProbeError::NoSuchProcess(args.pid));
    }
    let sym = Symbolizer::for_pid(args.pid)?;
    // SIGINT/SIGTERM end the window early; the results so far are still printed and the
    // BPF links are detached when the probe returns.
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let cfg = syscalls::Config {
        pid: args.pid,
        duration: args.duration,
        slow_ns: args.slow.as_nanos().min(u128::from(u64::MAX)) as u64,
    };
    let report = syscalls::run(&cfg, &sym, &STOP)?;
    let exited = report.target_exited;
    Ok((report, exited))
}
