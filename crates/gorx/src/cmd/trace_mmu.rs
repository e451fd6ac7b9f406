//! `gorx trace mmu`: the minimum mutator utilization curve (as `go tool trace`'s MMU
//! page computes it) at a set of windows, with the worst windows, and the short MMU
//! line of `gorx trace summary`.

use super::{for_each_event, open_trace};
use gorx_analysis::mmu::{MmuCurve, MutatorUtilBuilder, UtilFlags};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct MmuArgs {
    /// What counts against the mutator: comma-separated stw, background, assist, sweep,
    /// perproc (one series per P instead of the average over GOMAXPROCS). The default is
    /// what `go tool trace`'s MMU page checks.
    #[arg(long, default_value = "stw,background,assist")]
    pub flags: String,
    /// Window size such as 500us, 10ms, 1s (repeatable). Default: 1ms to 1s in 1-2-5
    /// steps, then the whole trace.
    #[arg(long = "window", value_name = "DURATION")]
    pub windows: Vec<String>,
    /// Worst (disjoint) windows to show per window size.
    #[arg(long, default_value_t = 3)]
    pub examples: usize,
    /// Print JSON (schema 1; times in ns, utilization in [0, 1]).
    #[arg(long)]
    pub json: bool,
    pub file: PathBuf,
}

/// Parse `250us`, `10ms`, `1.5s`, `2m`, `100ns` into nanoseconds.
pub fn parse_duration_ns(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let units: [(&str, f64); 7] = [
        ("ns", 1.0),
        ("us", 1e3),
        ("µs", 1e3),
        ("ms", 1e6),
        ("s", 1e9),
        ("m", 60e9),
        ("h", 3600e9),
    ];
    let bad = || format!("{s:?}: expected a duration like 500us, 10ms, 1s");
    let (num, mult) = units
        .iter()
        .find_map(|(u, m)| t.strip_suffix(u).map(|n| (n, *m)))
        .ok_or_else(bad)?;
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    let ns = v * mult;
    if !(1.0..1e18).contains(&ns) {
        return Err(format!("{s:?}: must be between 1ns and about 31 years"));
    }
    Ok(ns.round() as i64)
}

/// `1 ms`, `2.5 ms`, `1 s`, `37 us`: short and exact enough for a window label.
fn fmt_window(ns: i64) -> String {
    let (v, unit) = if ns >= 1_000_000_000 {
        (ns as f64 / 1e9, "s")
    } else if ns >= 1_000_000 {
        (ns as f64 / 1e6, "ms")
    } else if ns >= 1_000 {
        (ns as f64 / 1e3, "us")
    } else {
        (ns as f64, "ns")
    };
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s} {unit}")
}

fn pct(u: f64) -> String {
    format!("{:.2}%", u * 100.0)
}

/// 1 ms to 1 s in 1-2-5 steps.
fn default_windows_ns() -> Vec<i64> {
    let mut w = Vec::new();
    let mut decade = 1_000_000;
    while decade <= 1_000_000_000 {
        for m in [1, 2, 5] {
            if decade * m <= 1_000_000_000 {
                w.push(decade * m);
            }
        }
        decade *= 10;
    }
    w
}

pub fn run(a: &MmuArgs) -> anyhow::Result<ExitCode> {
    let fail = |msg: String| {
        eprintln!("gorx: {msg}");
        Ok(ExitCode::from(super::super::EXIT_ERROR))
    };
    let flags = match UtilFlags::parse(&a.flags) {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    let mut windows = Vec::new();
    for w in &a.windows {
        match parse_duration_ns(w) {
            Ok(ns) => windows.push(ns),
            Err(e) => return fail(format!("--window {e}")),
        }
    }
    let name = a.file.display().to_string();
    let Some(mut r) = open_trace(&name, &a.file) else {
        return Ok(ExitCode::from(super::super::EXIT_ERROR));
    };
    let mut b = MutatorUtilBuilder::new(flags);
    if let Err(e) = for_each_event(&mut r, &a.file, |ev| {
        b.observe(ev);
        Ok(true)
    }) {
        return fail(e);
    }
    let first_ns = b.first_time_ns().unwrap_or(0);
    let last_ns = b.last_time_ns().unwrap_or(0);
    let anomalies = b.anomalies();
    let curve = MmuCurve::new(b.finish());
    let Some((start_ns, end_ns)) = curve.span_ns() else {
        return fail(format!(
            "{name}: no GOMAXPROCS event in the trace, so no utilization to measure"
        ));
    };
    let duration_ns = end_ns - start_ns;
    let explicit = !windows.is_empty();
    if !explicit {
        windows = default_windows_ns()
            .into_iter()
            .filter(|&w| w < duration_ns)
            .collect();
    }
    // (window, whole trace?, MMU, worst windows)
    let mut rows = Vec::new();
    for &w in &windows {
        rows.push((w, false, curve.mmu(w), curve.examples(w, a.examples)));
    }
    if !explicit && duration_ns > 0 {
        rows.push((
            duration_ns,
            true,
            curve.mmu(duration_ns),
            curve.examples(duration_ns, a.examples),
        ));
    }
    let series = curve.series().count();
    let version = format!("go 1.{}", r.version().0);

    let mut o = String::new();
    use std::fmt::Write as _;
    if a.json {
        let rows: Vec<_> = rows
            .iter()
            .map(|(w, whole, mmu, worst)| {
                serde_json::json!({
                    "window_ns": w,
                    "whole_trace": whole,
                    "mmu": mmu,
                    "worst": worst.iter().map(|x| serde_json::json!({
                        "start_ns": x.time_ns,
                        "offset_ns": x.time_ns - first_ns,
                        "util": x.mutator_util,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let v = serde_json::json!({
            "schema": 1,
            "file": name,
            "version": version,
            "flags": flags.names(),
            "series": series,
            "trace_start_ns": first_ns,
            "trace_end_ns": last_ns,
            "start_ns": start_ns,
            "end_ns": end_ns,
            "duration_ns": duration_ns,
            "skipped_events": anomalies,
            "windows": rows,
        });
        let _ = writeln!(o, "{}", serde_json::to_string_pretty(&v)?);
    } else {
        let _ = writeln!(
            o,
            "{name}: {version} trace, minimum mutator utilization ({}), {series} series over {}",
            flags.names(),
            fmt_window(duration_ns)
        );
        let _ = writeln!(
            o,
            "  {:>12} {:>8}   worst windows (start after trace start: utilization)",
            "window", "MMU"
        );
        for (w, whole, mmu, worst) in &rows {
            let label = if *whole {
                "whole curve".to_string()
            } else {
                fmt_window(*w)
            };
            // Windows at full utilization are not "worst" in any useful sense (Go
            // returns them to fill n); JSON keeps them.
            let ex: Vec<String> = worst
                .iter()
                .filter(|x| x.mutator_util < 1.0)
                .map(|x| {
                    format!(
                        "{:.3} ms: {}",
                        (x.time_ns - first_ns) as f64 / 1e6,
                        pct(x.mutator_util)
                    )
                })
                .collect();
            let line = format!("  {label:>12} {:>8}   {}", pct(*mmu), ex.join(", "));
            let _ = writeln!(o, "{}", line.trim_end());
        }
        if end_ns < last_ns {
            let _ = writeln!(
                o,
                "  note: utilization stays at 0 from {:.3} ms to the trace's end at {:.3} ms; like Go's, the curve ends where it last changed",
                (end_ns - first_ns) as f64 / 1e6,
                (last_ns - first_ns) as f64 / 1e6
            );
        }
        if anomalies > 0 {
            let _ = writeln!(
                o,
                "  note: {anomalies} events named a P outside GOMAXPROCS and were skipped (Go's code would stop there)"
            );
        }
    }
    let _ = std::io::stdout().lock().write_all(o.as_bytes());
    Ok(ExitCode::SUCCESS)
}

/// Windows of the MMU line in `gorx trace summary`.
pub const SUMMARY_WINDOWS_NS: [i64; 2] = [10_000_000, 100_000_000];

/// The MMU at [`SUMMARY_WINDOWS_NS`] with the default flags, for `gorx trace summary`.
pub fn summary_mmu(b: MutatorUtilBuilder) -> Vec<(i64, f64)> {
    let curve = MmuCurve::new(b.finish());
    if curve.span_ns().is_none() {
        return Vec::new();
    }
    SUMMARY_WINDOWS_NS
        .iter()
        .map(|&w| (w, curve.mmu(w)))
        .collect()
}

/// `MMU (stw,background,assist,sweep): 10 ms 43.73%, 100 ms 91.20%`.
pub fn summary_line(mmu: &[(i64, f64)]) -> Option<String> {
    if mmu.is_empty() {
        return None;
    }
    let parts: Vec<String> = mmu
        .iter()
        .map(|(w, u)| format!("{} {}", fmt_window(*w), pct(*u)))
        .collect();
    Some(format!(
        "minimum mutator utilization ({}): {}",
        UtilFlags::DEFAULT.names(),
        parts.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("10ms"), Ok(10_000_000));
        assert_eq!(parse_duration_ns("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration_ns("250us"), Ok(250_000));
        assert_eq!(parse_duration_ns("7ns"), Ok(7));
        assert!(parse_duration_ns("10").is_err());
        assert!(parse_duration_ns("0ms").is_err());
        assert!(parse_duration_ns("-1s").is_err());
        assert_eq!(fmt_window(2_500_000), "2.5 ms");
        assert_eq!(fmt_window(1_000_000_000), "1 s");
        assert_eq!(default_windows_ns().len(), 10);
    }
}
