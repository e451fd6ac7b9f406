//! `gorx tune ... --url URL -- CMD ARGS...`: the tuning lab (gorx_tune): argument parsing,
//! progress on stderr, and the report (gorx_report::tune) on stdout and in `--html`.

use anyhow::{Context, Result, bail};
use gorx_tune::cell::Protocol;
use gorx_tune::lab::{self, Constraints, Design, Factor, FactorKind};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// GOGC levels, e.g. 25,50,100,200,off ("default" leaves it unset).
    #[arg(long, value_delimiter = ',')]
    pub gogc: Vec<String>,
    /// GOMEMLIMIT levels, e.g. off,512MiB.
    #[arg(long, value_delimiter = ',')]
    pub memlimit: Vec<String>,
    /// GOMEMLIMIT as fractions of --mem-max, e.g. 0.7,0.85,0.95.
    #[arg(long, value_delimiter = ',')]
    pub memlimit_fraction: Vec<String>,
    /// GOMAXPROCS levels ("default" leaves it unset).
    #[arg(long, value_delimiter = ',')]
    pub gomaxprocs: Vec<String>,
    /// CPU quota levels in CPUs, e.g. 0.5,1,2 ("off": none).
    #[arg(long, value_delimiter = ',')]
    pub cpu_quota: Vec<String>,
    /// The memory limit of every cell's cgroup, e.g. 1GiB.
    #[arg(long, value_parser = super::score::parse_size)]
    pub mem_max: Option<u64>,
    /// A cell whose peak RSS exceeds this is never recommended.
    #[arg(long, value_parser = super::score::parse_size)]
    pub max_rss: Option<u64>,
    /// The URL the load hits; {port} is the cell's port (also in $PORT).
    #[arg(long)]
    pub url: String,
    /// Requests per second, open loop.
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// The recorded window per run, e.g. 20s.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Load before recording, e.g. 5s.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Runs per cell (spread = noise).
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// full: every combination; orthogonal: an orthogonal array when that is smaller.
    #[arg(long, default_value = "full", value_parser = ["full", "orthogonal"])]
    pub design: String,
    /// How long a cell may take to answer its URL.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub ready_timeout: Duration,
    /// Where each cell's stderr (gctrace) is kept.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
    /// Also write the report as an HTML page with the P99 heat map in SVG.
    #[arg(long, value_name = "OUT.html")]
    pub html: Option<PathBuf>,
    /// The service's command line ({port} is replaced).
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// `20s`, `500ms`, `2m`, or seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a duration such as 20s or 500ms"))?;
    if !(v.is_finite() && v >= 0.0 && v * mult < 86_400.0) {
        return Err(format!("{s:?}: out of range"));
    }
    Ok(Duration::from_secs_f64(v * mult))
}

pub fn run(args: Args) -> Result<ExitCode> {
    let mut factors = Vec::new();
    for (kind, levels) in [
        (FactorKind::Gogc, &args.gogc),
        (FactorKind::Memlimit, &args.memlimit),
        (FactorKind::MemlimitFraction, &args.memlimit_fraction),
        (FactorKind::Gomaxprocs, &args.gomaxprocs),
        (FactorKind::CpuQuota, &args.cpu_quota),
    ] {
        if !levels.is_empty() {
            factors.push(Factor {
                kind,
                levels: levels.clone(),
            });
        }
    }
    if factors.is_empty() {
        bail!(
            "give at least one factor: --gogc, --memlimit, --memlimit-fraction, --gomaxprocs or --cpu-quota"
        );
    }
    if !args.rate.is_finite() || args.rate <= 0.0 {
        bail!("--rate must be positive");
    }
    gorx_tune::cell::parse_url(&args.url.replace("{port}", "1"))?;
    let work_dir = args
        .work_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("gorx-tune-{}", std::process::id())));
    let protocol = Protocol {
        command: args.command.clone(),
        url: args.url.clone(),
        rate: args.rate,
        connections: args.connections.max(1),
        warmup: args.warmup,
        duration: args.duration,
        ready_timeout: args.ready_timeout,
        mem_max_bytes: args.mem_max,
        work_dir,
    };
    let design = if args.design == "orthogonal" {
        Design::Orthogonal
    } else {
        Design::Full
    };
    let constraints = Constraints {
        max_rss_bytes: args.max_rss,
        rate: args.rate,
    };
    let report = lab::run(
        &protocol,
        factors,
        design,
        args.repeat,
        constraints,
        &mut |line| eprintln!("gorx tune: {line}"),
    )
    .map_err(anyhow::Error::msg)?;
    if let Some(path) = &args.html {
        let command = std::env::args().collect::<Vec<_>>().join(" ");
        std::fs::write(path, gorx_report::tune::render_tune_html(&report, &command))
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", gorx_report::tune::render_tune_text(&report));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
