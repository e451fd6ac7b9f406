//! One module per subcommand. Each has an `Args` (clap) and a `run` returning the exit code.

pub mod analyze;
pub mod demo;
pub mod gc;
pub mod goroutines;
pub mod live;
pub mod pprof;
pub mod trace;

use std::process::ExitCode;

/// Findings at or above `--fail-on` were reported.
#[allow(dead_code)] // used once `analyze --fail-on` is built
pub const EXIT_FINDINGS: u8 = 1;
/// Bad input or a failure to read it.
pub const EXIT_ERROR: u8 = 2;
/// The subcommand exists in the interface but is not built yet.
pub const EXIT_NOT_BUILT: u8 = 3;

/// What an unbuilt subcommand does: say so plainly and exit non-zero.
pub fn not_built(what: &str, issue: u32) -> anyhow::Result<ExitCode> {
    eprintln!("gorx: `{what}` is not built yet (tracked in issue {issue}).");
    Ok(ExitCode::from(EXIT_NOT_BUILT))
}
