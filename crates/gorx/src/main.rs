//! The `gorx` command: argument parsing and wiring only. Parsing lives in
//! gorx-formats/gorx-trace, diagnosis in gorx-analysis, rendering in gorx-report.

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// gorx diagnoses Go programs: it reads what the Go runtime emits (gctrace logs, pprof
/// profiles, goroutine dumps, execution traces) and attaches to live Go processes, then
/// names the root cause with the numbers that prove it and prescribes the fix.
#[derive(Parser)]
#[command(name = "gorx", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Diagnose artifacts (files or capture directories) and print the findings.
    Analyze(cmd::analyze::Args),
    /// Diagnose a bundled real incident end to end (artifacts embedded in gorx).
    Demo(cmd::demo::Args),
    /// Show a gctrace log as a cycle table with a summary.
    Gc(cmd::gc::Args),
    /// Show a goroutine dump grouped by identical stacks.
    Goroutines(cmd::goroutines::Args),
    /// Work with pprof profiles: top tables and flame graphs.
    #[command(subcommand)]
    Pprof(cmd::pprof::Command),
    /// Score GC health 0-100 from gctrace logs or /metrics; --min gates a rollout.
    Score(cmd::score::Args),
    /// Find the GOGC/GOMEMLIMIT/GOMAXPROCS a service needs: one fresh process per
    /// configuration in its own cgroup, under open-loop load.
    Tune(cmd::tune::Args),
    /// Work with Go execution traces.
    #[command(subcommand)]
    Trace(cmd::trace::Command),
    /// List the Go processes on this machine.
    Ps(cmd::live::PsArgs),
    /// Diagnose a running Go process once, from outside.
    Inspect(cmd::live::InspectArgs),
    /// Watch a running Go process and capture evidence when an anomaly starts.
    Watch(cmd::live::WatchArgs),
    /// Probe a running Go process from the kernel (eBPF): syscall latency with Go stacks.
    Probe(cmd::probe::Args),
}

fn main() -> ExitCode {
    restore_default_sigpipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(a) => cmd::analyze::run(a),
        Command::Demo(a) => cmd::demo::run(a),
        Command::Gc(a) => cmd::gc::run(a),
        Command::Goroutines(a) => cmd::goroutines::run(a),
        Command::Pprof(c) => cmd::pprof::run(c),
        Command::Score(a) => cmd::score::run(a),
        Command::Trace(c) => cmd::trace::run(c),
        Command::Tune(a) => cmd::tune::run(a),
        Command::Ps(a) => cmd::live::ps(a),
        Command::Inspect(a) => cmd::live::inspect(a),
        Command::Watch(a) => cmd::live::watch(a),
        Command::Probe(a) => cmd::probe::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gorx: error: {e:#}");
            ExitCode::from(cmd::EXIT_ERROR)
        }
    }
}

/// `gorx ps | head` must end quietly when the reader goes away, as Unix tools do.
/// Rust ignores SIGPIPE, which turns every later print into a panic.
fn restore_default_sigpipe() {
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
