//! One module per subcommand. Each has an `Args` (clap) and a `run` returning the exit code.

pub mod analyze;
pub mod demo;
pub mod gc;
pub mod goroutines;
pub mod inputs;
pub mod live;
pub mod pprof;
pub mod probe;
pub mod score;
pub mod trace;
pub mod trace_tasks;
pub mod tune;

use gorx_analysis::{Diagnosis, Severity};
use std::process::ExitCode;

/// Findings at or above `--fail-on` were reported.
pub const EXIT_FINDINGS: u8 = 1;
/// Bad input or a failure to read it.
pub const EXIT_ERROR: u8 = 2;

/// Print a diagnosis as the readable report or as JSON (schema 1).
pub fn print_diagnosis(d: &Diagnosis, json: bool) {
    if json {
        println!("{}", gorx_report::render_json(d));
    } else {
        print!("{}", gorx_report::render_text(d));
    }
}

/// Exit status for a diagnosis under `--fail-on`.
pub fn exit_for(d: &Diagnosis, fail_on: Option<Severity>) -> ExitCode {
    if fail_on.is_some_and(|level| gorx_analysis::artifacts::reaches(d, level)) {
        ExitCode::from(EXIT_FINDINGS)
    } else {
        ExitCode::SUCCESS
    }
}
