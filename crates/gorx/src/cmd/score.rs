//! `gorx score PATH... [--min N] [--memory-limit SIZE] [--json]`: the GC health score
//! (gorx_analysis::score) of every process the inputs describe: each run of a gctrace log
//! and each /metrics scrape. `--min` makes it a gate: exit 1 when any score is below.

use super::inputs;
use anyhow::{Result, bail};
use gorx_analysis::gc::{self, GcOptions};
use gorx_analysis::metrics::MetricsView;
use gorx_analysis::score::{self, GcScore};
use gorx_formats::detect::{ArtifactKind, detect};
use gorx_formats::{gctrace, prometheus};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// gctrace logs, /metrics scrapes, or directories holding them (capture bundles).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Exit with status 1 when any score is below this floor (0–100): a canary gate.
    #[arg(long, value_name = "N")]
    pub min: Option<u32>,
    /// The memory limit the process runs under (GOMEMLIMIT or the container's), e.g.
    /// 512MiB: adds the headroom component for gctrace logs.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<u64>,
    /// GOGC the process ran with (default 100), to pace the gctrace judgement.
    #[arg(long)]
    pub gogc: Option<u32>,
    /// Print JSON: {"schema":1,"scores":[{"source","score","components":[...],"missing"}]}.
    #[arg(long)]
    pub json: bool,
}

/// `512MiB`, `1GiB`, `300MB`, or plain bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?}: expected a size such as 512MiB"))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!(
                "{s:?}: unknown unit {other:?} (B, KiB, MiB, GiB, MB, GB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?}: too large"))
}

pub fn run(args: Args) -> Result<ExitCode> {
    let inputs = inputs::load(&args.paths)?;
    let mut scores: Vec<GcScore> = Vec::new();
    for f in &inputs.files {
        let bytes = f.bytes();
        match detect(bytes) {
            ArtifactKind::RuntimeLog => {
                let trace = gctrace::parse(&f.name, bytes);
                let opts = GcOptions { gogc: args.gogc };
                let runs = trace.run_count();
                for (s, run) in gc::summaries(&trace, opts).iter().zip(trace.runs()) {
                    if s.cycles == 0 {
                        continue;
                    }
                    let source = if runs > 1 {
                        format!(
                            "{} (run {}, from line {})",
                            f.name,
                            s.run_index + 1,
                            s.first_line
                        )
                    } else {
                        f.name.clone()
                    };
                    let i = score::inputs_of_run(s, &run, args.memory_limit);
                    scores.push(score::score(&source, &i));
                }
            }
            ArtifactKind::Prometheus => {
                let view = MetricsView::from_exposition(&prometheus::parse(&f.name, bytes)?);
                let i = score::inputs_of_metrics(&view);
                if i.gc_cpu_percent.is_some() || i.pause_ns.is_some() {
                    scores.push(score::score(&f.name, &i));
                }
            }
            _ => {}
        }
    }
    if scores.is_empty() {
        bail!(
            "nothing to score in {}: give a log with GODEBUG=gctrace=1 output (with at least one GC cycle) or a /metrics scrape",
            args.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if args.json {
        let v = serde_json::json!({"schema": 1, "min": args.min, "scores": scores});
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", render(&scores, args.min));
    }
    let failed = args
        .min
        .is_some_and(|min| scores.iter().any(|s| s.score < min));
    Ok(if failed {
        ExitCode::from(super::EXIT_FINDINGS)
    } else {
        ExitCode::SUCCESS
    })
}

fn render(scores: &[GcScore], min: Option<u32>) -> String {
    let mut out = String::new();
    for s in scores {
        let verdict = match min {
            Some(m) if s.score < m => format!("  BELOW the floor {m}"),
            Some(m) => format!("  (floor {m}: pass)"),
            None => String::new(),
        };
        let _ = writeln!(out, "{}: GC health {}/100{verdict}", s.source, s.score);
        for c in &s.components {
            let _ = writeln!(
                out,
                "  {:<12} {:>5.0}/100  weight {:>2.0}  {} {}  ({})",
                c.name, c.points, c.weight, c.value, c.unit, c.basis
            );
        }
        if !s.missing.is_empty() {
            let _ = writeln!(out, "  not measured: {}", s.missing.join(", "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("300MB"), Ok(300_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("99999999999999999999GiB").is_err());
    }
}
