//! `gorx gc LOG`: the gctrace cycles of a log as a table, a summary per run (process),
//! and the GC findings.

use anyhow::{Context, Result, bail};
use gorx_analysis::gc::{self, GcOptions};
use gorx_analysis::{Diagnosis, InputSummary};
use gorx_formats::gctrace;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A log holding GODEBUG=gctrace=1 output (other lines are ignored).
    pub log: PathBuf,
    /// GOGC the process ran with (default 100; 0 for off), to judge pacing.
    #[arg(long)]
    pub gogc: Option<u32>,
    /// Print at most this many cycles per run (first and last halves; 0 = all).
    #[arg(long, default_value_t = 40)]
    pub max_rows: usize,
    /// Fail on lines that look like gctrace but do not parse (default: warn and skip).
    #[arg(long)]
    pub strict: bool,
    /// Print the summaries and findings as JSON.
    #[arg(long)]
    pub json: bool,
}

fn ms(ns: u64) -> String {
    let v = ns as f64 / 1e6;
    if v >= 10.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn mib(b: u64) -> u64 {
    b >> 20
}

fn row(out: &mut String, c: &gctrace::GcCycle) {
    let wall = c.wall_ns().max(1);
    let _ = writeln!(
        out,
        "{:>7} {:>10.3} {:>9} {:>9} {:>6}% {:>20} {:>6} {:>3} {}",
        c.n(),
        c.at_ns() as f64 / 1e9,
        ms(c.stw_ns()),
        ms(c.wall_ns()),
        // CPU share of this cycle while it ran: GC CPU / (wall × P).
        (100 * c.cpu_ns() / (wall * u64::from(c.procs().max(1)))).min(999),
        format!(
            "{}→{}→{}",
            mib(c.heap_start_bytes()),
            mib(c.heap_end_bytes()),
            mib(c.heap_live_bytes())
        ),
        mib(c.heap_goal_bytes()),
        c.procs(),
        if c.forced() { "forced" } else { "" }
    );
}

/// A log without a single cycle. An idle process's log (or a short one) legitimately has
/// none: gctrace prints a line only when a cycle ends, and the runtime forces one only
/// after 2 minutes without a GC. That is "no GC cycle in this window" (exit 0); data that
/// is not a text log stays an error. See `gctrace::without_cycles` for what can be told.
fn no_cycles(name: &str, data: &[u8], json: bool) -> Result<ExitCode> {
    let (lines, runtime) = match gctrace::without_cycles(data) {
        gctrace::WithoutCycles::NotALog(what) => bail!(
            "{name}: {what}; `gorx gc` reads a log with GODEBUG=gctrace=1 output (`gc N @...` lines)"
        ),
        gctrace::WithoutCycles::RuntimeLog { lines } => (lines, true),
        gctrace::WithoutCycles::TextLog { lines } => (lines, false),
    };
    let lines = match lines {
        1 => "1 line".to_string(),
        n => format!("{n} lines"),
    };
    let note = if runtime {
        format!(
            "no GC cycle in this window: {lines} of Go runtime output (GODEBUG tracing is on) and no `gc N @` line; the GC has not run yet (the runtime forces a cycle after 2 min without one)"
        )
    } else {
        format!(
            "no GC cycle in this window: {lines}, none from gctrace; the process has not collected yet, or it runs without GODEBUG=gctrace=1 (gctrace prints nothing before the first cycle, and the runtime forces one after 2 min without a GC)"
        )
    };
    let out = if json {
        let v = serde_json::json!({
            "schema": 1,
            "input": name,
            "runs": [],
            "malformed": [],
            "findings": [],
            "note": note,
        });
        serde_json::to_string_pretty(&v)? + "\n"
    } else {
        format!("info: {name}: {note}\n")
    };
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    Ok(ExitCode::SUCCESS)
}

pub fn run(args: Args) -> Result<ExitCode> {
    let name = args.log.display().to_string();
    let file = std::fs::File::open(&args.log).with_context(|| format!("{name}: cannot open"))?;
    // SAFETY: the map is read-only and only lives for this call; a log being appended
    // to concurrently only adds bytes past the mapped length.
    let map =
        unsafe { memmap2::Mmap::map(&file) }.with_context(|| format!("{name}: cannot map"))?;
    let trace = gctrace::parse(&name, &map);
    if args.strict
        && let Some(e) = trace.first_error(&name)
    {
        return Err(e.into());
    }
    if trace.cycle_count() == 0 {
        if let Some(e) = trace.first_error(&name) {
            return Err(anyhow::Error::new(e).context("no valid gctrace line"));
        }
        return no_cycles(&name, &map, args.json);
    }
    let opts = GcOptions { gogc: args.gogc };
    let summaries = gc::summaries(&trace, opts);
    let findings = gc::findings_of_summaries(&summaries, &name);
    // Each run (process) also on its own, for logs holding several.
    let run_findings: Vec<_> = summaries
        .iter()
        .map(|s| gc::run_findings(s, summaries.len(), &name))
        .collect();
    let mut out = String::new();
    if args.json {
        let runs: Vec<serde_json::Value> = summaries
            .iter()
            .zip(&run_findings)
            .map(|(s, f)| {
                let mut v = serde_json::to_value(s)?;
                if let Some(o) = v.as_object_mut() {
                    o.insert("findings".into(), serde_json::to_value(f)?);
                }
                Ok(v)
            })
            .collect::<serde_json::Result<_>>()?;
        let v = serde_json::json!({
            "schema": 1,
            "input": name,
            "runs": runs,
            "malformed": trace.malformed.iter().map(|m| serde_json::json!({"line": m.line, "message": m.message})).collect::<Vec<_>>(),
            "findings": findings,
        });
        out = serde_json::to_string_pretty(&v)?;
        out.push('\n');
    } else {
        for ((run, s), rf) in trace.runs().zip(&summaries).zip(&run_findings) {
            if trace.run_count() > 1 {
                let from = if s.source.is_empty() {
                    String::new()
                } else {
                    format!(", {}", s.source)
                };
                let _ = writeln!(
                    out,
                    "Run {} (from line {}{from}):",
                    s.run_index + 1,
                    s.first_line
                );
            }
            let _ = writeln!(
                out,
                "{:>7} {:>10} {:>9} {:>9} {:>7} {:>20} {:>6} {:>3}",
                "gc", "time s", "pause ms", "wall ms", "cpu", "heap→end→live MiB", "goal", "P"
            );
            let c = run.cycles;
            if args.max_rows == 0 || c.len() <= args.max_rows {
                c.iter().for_each(|x| row(&mut out, x));
            } else {
                let half = args.max_rows / 2;
                c.iter().take(half).for_each(|x| row(&mut out, x));
                let _ = writeln!(out, "    ... {} cycles ...", c.len() - 2 * half);
                c.iter().skip(c.len() - half).for_each(|x| row(&mut out, x));
            }
            let _ = writeln!(
                out,
                "\n{} cycles ({} forced) over {:.1} s: {:.1} cycles/min; pause {}; GC CPU {:.1}% (runtime: {}%), assists {:.0}% of it; live heap {} → {} MiB (max {}, trend {:+.2} MiB/min, tau {:.2}); {} of {} cycles paced below the GOGC={} goal\n",
                s.cycles,
                s.forced_cycles,
                s.window_ns as f64 / 1e9,
                s.cycles_per_min,
                // Over too few pauses a P99 is the maximum.
                if s.pause_stats().has_percentile() {
                    format!(
                        "P50 {} ms, P99 {} ms, max {} ms",
                        ms(s.pause_p50_ns),
                        ms(s.pause_p99_ns),
                        ms(s.pause_max_ns)
                    )
                } else {
                    format!(
                        "max {} ms of {} (P50 {} ms)",
                        ms(s.pause_max_ns),
                        s.cycles,
                        ms(s.pause_p50_ns)
                    )
                },
                s.gc_cpu_percent,
                s.runtime_gc_cpu_percent,
                100.0 * s.assist_share,
                mib(s.live_heap_first_bytes),
                mib(s.live_heap_last_bytes),
                mib(s.live_heap_max_bytes),
                s.live_heap_slope_bytes_per_min / (1u64 << 20) as f64,
                s.live_heap_tau,
                s.limit_driven_cycles,
                s.pacing_checked_cycles,
                s.gogc_assumed,
            );
            if trace.run_count() > 1 {
                let ids: Vec<String> = rf
                    .iter()
                    .map(|f| format!("{} ({})", f.id, f.severity.as_str()))
                    .collect();
                let _ = writeln!(
                    out,
                    "Run {} findings: {}\n",
                    s.run_index + 1,
                    if ids.is_empty() {
                        "none".to_string()
                    } else {
                        ids.join(", ")
                    }
                );
            }
        }
        for m in trace.malformed.iter().take(10) {
            let _ = writeln!(out, "warning: {name}:{}: skipped: {}", m.line, m.message);
        }
        if trace.malformed.len() > 10 {
            let _ = writeln!(
                out,
                "warning: {} more malformed lines skipped",
                trace.malformed.len() - 10
            );
        }
        let d = Diagnosis::new(
            vec![InputSummary {
                path: name.clone(),
                kind: "gctrace".into(),
            }],
            findings,
        );
        out.push_str(&gorx_report::render_text(&d));
    }
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    Ok(ExitCode::SUCCESS)
}
