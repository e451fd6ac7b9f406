use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Print every event as `go tool trace -d=parsed` does.
    Dump(DumpArgs),
    /// Summarize a trace: scheduler latency, STW, GC, blocking, findings.
    Summary(DumpArgs),
    /// Export for the Perfetto UI or chrome://tracing.
    Export(ExportArgs),
}

#[derive(clap::Args)]
pub struct DumpArgs {
    pub file: PathBuf,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// perfetto or chrome.
    #[arg(long, default_value = "perfetto")]
    pub format: String,
    #[arg(short = 'o', long)]
    pub output: PathBuf,
    pub file: PathBuf,
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Dump(_) => super::not_built("gorx trace dump", 4),
        Command::Summary(_) => super::not_built("gorx trace summary", 4),
        Command::Export(_) => super::not_built("gorx trace export", 4),
    }
}
