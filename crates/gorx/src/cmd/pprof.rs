use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Top functions by flat and cumulative value.
    Top(TopArgs),
    /// Render a flame graph SVG (differential with --base).
    Flame(FlameArgs),
}

#[derive(clap::Args)]
pub struct TopArgs {
    /// Print JSON: {"sample_type","unit","total","rows":[{"function","flat","cum"}]}.
    #[arg(long)]
    pub json: bool,
    /// Number of rows.
    #[arg(short = 'n', default_value_t = 10)]
    pub n: usize,
    /// Sample type to show (default: the profile's default, else the last).
    #[arg(long)]
    pub sample_index: Option<String>,
    /// Subtract this older profile (show growth).
    #[arg(long)]
    pub base: Option<PathBuf>,
    pub file: PathBuf,
}

#[derive(clap::Args)]
pub struct FlameArgs {
    /// Older profile for a differential flame graph.
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// Sample type to draw.
    #[arg(long)]
    pub sample_index: Option<String>,
    /// Output SVG file.
    #[arg(short = 'o', long)]
    pub output: PathBuf,
    pub file: PathBuf,
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Top(_) => super::not_built("gorx pprof top", 3),
        Command::Flame(_) => super::not_built("gorx pprof flame", 3),
    }
}
