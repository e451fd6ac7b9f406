//! `gorx score PID|URL|PATH... [--min N] [--memory-limit SIZE] [--json]`: the GC health
//! score (gorx_analysis::score) of every process the inputs describe: a live process (its
//! pid, or the URL of its pprof, expvar or /metrics), each run of a gctrace log and each
//! /metrics scrape. `--min` makes it a gate: exit 1 when any score is below.

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
    /// A live process's pid or URL (pprof, /debug/vars or /metrics), gctrace logs,
    /// /metrics scrapes, or directories holding them (capture bundles).
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

/// A size as GOMEMLIMIT takes it (`512MiB`, `1GiB`, plain bytes): Go's own syntax, so
/// a value can be copied between the two.
pub fn parse_size(s: &str) -> Result<u64, String> {
    gorx_formats::procfs::parse_go_byte_size(s)
}

/// A live target: a pid of a running process, or an http(s) URL / host:port.
fn live_target(arg: &std::path::Path) -> Option<String> {
    let s = arg.to_str()?;
    if arg.exists() && !s.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if s.chars().all(|c| c.is_ascii_digit()) && std::path::Path::new("/proc").join(s).is_dir() {
        return Some(s.to_string());
    }
    (s.starts_with("http://") || s.starts_with("https://") || (s.contains(':') && !arg.exists()))
        .then(|| s.to_string())
}

/// The score of a live process from the runtime data it serves.
fn score_live(target: &str, memory_limit: Option<u64>) -> Result<GcScore> {
    use gorx_live::http::{self, RuntimeSource};
    let endpoints = if let Ok(pid) = target.parse::<u32>() {
        let fds = gorx_live::proc::read_fds(pid)?;
        let e = http::discover(pid, &fds);
        if e.is_empty() {
            bail!(
                "pid {pid}: serves no Go runtime endpoint on loopback (/debug/pprof/, /debug/vars, /metrics); give its URL, or score a gctrace log"
            );
        }
        e
    } else {
        http::probe_base(target)?
    };
    let reading = http::read_runtime(
        &endpoints,
        &[
            RuntimeSource::Expvar,
            RuntimeSource::HeapTrailer,
            RuntimeSource::Metrics,
        ],
        std::time::Duration::from_secs(10),
    )
    .map_err(|errors| anyhow::anyhow!("{target}: no runtime data: {}", errors.join("; ")))?;
    let mut i = score::inputs_of_memstats(&reading.memstats, memory_limit);
    if reading.source == RuntimeSource::Metrics {
        // client_golang: the pause summary's maximum stands in for PauseNs.
        let e = gorx_formats::prometheus::parse(&reading.url, &reading.body)?;
        let m = score::inputs_of_metrics(&MetricsView::from_exposition(&e));
        i.pause_ns = i.pause_ns.or(m.pause_ns);
        i.heap_vs_limit_bytes = i.heap_vs_limit_bytes.or(m.heap_vs_limit_bytes);
    }
    Ok(score::score(&format!("{target} ({})", reading.url), &i))
}

pub fn run(args: Args) -> Result<ExitCode> {
    let mut scores: Vec<GcScore> = Vec::new();
    let mut paths = Vec::new();
    for p in &args.paths {
        match live_target(p) {
            Some(t) => scores.push(score_live(&t, args.memory_limit)?),
            None => paths.push(p.clone()),
        }
    }
    let inputs = inputs::load(&paths)?;
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
        // Go rejects decimal units for GOMEMLIMIT, and so does gorx.
        assert!(parse_size("300MB").is_err());
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("99999999999999999999GiB").is_err());
    }
}
