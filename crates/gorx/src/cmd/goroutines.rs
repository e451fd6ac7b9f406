use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A goroutine dump: /debug/pprof/goroutine?debug=2 output or a crash/SIGQUIT log.
    pub dump: PathBuf,
}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    super::not_built("gorx goroutines", 3)
}
