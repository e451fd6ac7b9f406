use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Print JSON (schema 1) instead of the readable report.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    super::not_built("gorx demo", 3)
}
