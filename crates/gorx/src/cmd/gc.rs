use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A log holding GODEBUG=gctrace=1 output (other lines are ignored).
    pub log: PathBuf,
}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    super::not_built("gorx gc", 3)
}
