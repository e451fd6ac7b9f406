use std::process::ExitCode;

#[derive(clap::Args)]
pub struct PsArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Print JSON (same schema as `gorx analyze --json`).
    #[arg(long)]
    pub json: bool,
    /// Base URL of the process's net/http/pprof handlers (default: discovered).
    #[arg(long)]
    pub pprof: Option<String>,
    pub pid: u32,
}

#[derive(clap::Args)]
pub struct WatchArgs {
    /// Sampling interval, e.g. 1s, 500ms.
    #[arg(long, default_value = "1s")]
    pub interval: String,
    /// Directory for capture bundles.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// When the target exits, wait for a new process with the same command.
    #[arg(long)]
    pub follow: bool,
    /// A pid or a base URL.
    pub target: String,
}

pub fn ps(_args: PsArgs) -> anyhow::Result<ExitCode> {
    super::not_built("gorx ps", 5)
}

pub fn inspect(_args: InspectArgs) -> anyhow::Result<ExitCode> {
    super::not_built("gorx inspect", 5)
}

pub fn watch(_args: WatchArgs) -> anyhow::Result<ExitCode> {
    super::not_built("gorx watch", 5)
}
