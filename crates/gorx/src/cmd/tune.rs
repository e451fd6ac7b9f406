//! `gorx tune ... --url URL -- CMD ARGS...`: the tuning lab (gorx_tune): argument parsing,
//! progress on stderr, and the table, heat map and recommendation on stdout.

use anyhow::{Result, bail};
use gorx_tune::cell::Protocol;
use gorx_tune::lab::{self, Cell, Constraints, Design, Factor, FactorKind, LabReport};
use std::fmt::Write as _;
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
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report, &constraints));
    }
    Ok(ExitCode::SUCCESS)
}

fn ms(ns: u64) -> String {
    format!("{:.2}", ns as f64 / 1e6)
}

fn render(r: &LabReport, k: &Constraints) -> String {
    let mut out = String::new();
    let names: Vec<&str> = r.factors.iter().map(|f| f.kind.name()).collect();
    let _ = writeln!(
        out,
        "{} cells ({} design); latency from each request's intended send time (open loop)\n",
        r.cells.len(),
        if r.design == Design::Full {
            "full"
        } else {
            "orthogonal"
        }
    );
    let mut head = String::new();
    for n in &names {
        let _ = write!(head, "{n:>12} ");
    }
    let _ = writeln!(
        out,
        "{head}{:>9} {:>9} {:>9} {:>8} {:>6} {:>7} {:>6} {:>9} {:>6}  note",
        "p50 ms", "p99 ms", "p99.9 ms", "req/s", "err", "GC", "GC%", "peak MiB", "±p99%"
    );
    for (i, c) in r.cells.iter().enumerate() {
        let mut row = String::new();
        for n in &names {
            let _ = write!(
                row,
                "{:>12} ",
                c.levels.get(*n).map(String::as_str).unwrap_or("-")
            );
        }
        let note = match lab::disqualified(c, k) {
            Some(why) => why,
            None if r.pareto_front.contains(&i) => "front".into(),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "{row}{:>9} {:>9} {:>9} {:>8.0} {:>6} {:>7} {:>6.1} {:>9} {:>6.1}  {note}",
            ms(c.p50_ns),
            ms(c.p99_ns),
            ms(c.p999_ns),
            c.rps,
            c.errors + c.timeouts,
            c.gc_cycles,
            c.gc_cpu_percent,
            c.peak_rss_bytes >> 20,
            c.p99_spread_percent
        );
    }
    if let Some(map) = heat_map(r) {
        out.push('\n');
        out.push_str(&map);
    }
    if !r.sensitivity_percent.is_empty() {
        let _ = writeln!(
            out,
            "\nsensitivity of P99 (range of the mean over a factor's levels / overall mean):"
        );
        let mut v: Vec<(&String, &f64)> = r.sensitivity_percent.iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(a.1));
        for (n, s) in v {
            let _ = writeln!(out, "  {n:<20} {s:>6.1}%");
        }
    }
    out.push('\n');
    match (&r.recommendation, &r.note) {
        (Some(rec), _) => {
            let _ = writeln!(
                out,
                "{}: {}",
                if rec.beats_defaults {
                    "recommendation"
                } else {
                    "verdict"
                },
                rec.verdict
            );
        }
        (None, Some(note)) => {
            let _ = writeln!(out, "verdict: {note}");
        }
        _ => {}
    }
    out
}

/// P99 over the two factors with the most levels, shaded from best (light) to worst.
fn heat_map(r: &LabReport) -> Option<String> {
    let mut fs: Vec<&Factor> = r.factors.iter().filter(|f| f.levels.len() >= 2).collect();
    if fs.len() < 2 {
        return None;
    }
    fs.sort_by_key(|f| std::cmp::Reverse(f.levels.len()));
    let (rows_f, cols_f) = (fs[0], fs[1]);
    let (rn, cn) = (rows_f.kind.name(), cols_f.kind.name());
    let mean = |a: &str, b: &str| -> Option<f64> {
        let v: Vec<f64> = r
            .cells
            .iter()
            .filter(|c: &&Cell| c.failure.is_none() && c.p99_ns > 0)
            .filter(|c| c.levels.get(rn).map(String::as_str) == Some(a))
            .filter(|c| c.levels.get(cn).map(String::as_str) == Some(b))
            .map(|c| c.p99_ns as f64 / 1e6)
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let values: Vec<f64> = rows_f
        .levels
        .iter()
        .flat_map(|a| cols_f.levels.iter().filter_map(move |b| mean(a, b)))
        .collect();
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    let shade = |v: f64| {
        let x = if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
        [' ', '░', '▒', '▓', '█'][((x * 4.0).round() as usize).min(4)]
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "P99 ms by {rn} (rows) × {cn} (columns); darker is slower"
    );
    let _ = write!(out, "{:>12} ", "");
    for b in &cols_f.levels {
        let _ = write!(out, "{b:>12} ");
    }
    out.push('\n');
    for a in &rows_f.levels {
        let _ = write!(out, "{a:>12} ");
        for b in &cols_f.levels {
            match mean(a, b) {
                Some(v) => {
                    let s = shade(v);
                    let _ = write!(out, "{s}{s}{v:>9.2}{s} ");
                }
                None => {
                    let _ = write!(out, "{:>12} ", "failed");
                }
            }
        }
        out.push('\n');
    }
    Some(out)
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
