//! `gorx trace tasks FILE`: user tasks, regions and logs with their durations
//! (what `go tool trace` shows on its /usertasks and /userregions pages, as text or JSON).

use super::trace::{for_each_event, open_trace};
use gorx_analysis::trace_tasks::{DurationSummary, TaskAnalyzer, TaskReport};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct TasksArgs {
    /// Print the report as JSON (schema 1; durations in ns).
    #[arg(long)]
    pub json: bool,
    pub file: PathBuf,
}

pub fn run(a: &TasksArgs) -> anyhow::Result<ExitCode> {
    let name = a.file.display().to_string();
    let Some(mut r) = open_trace(&name, &a.file) else {
        return Ok(ExitCode::from(super::EXIT_ERROR));
    };
    let mut an = TaskAnalyzer::new();
    if let Err(e) = for_each_event(&mut r, &a.file, |ev| {
        an.observe(ev);
        Ok(true)
    }) {
        eprintln!("gorx: {e}");
        return Ok(ExitCode::from(super::EXIT_ERROR));
    }
    let rep = an.finish();
    let out = if a.json {
        let v = serde_json::json!({
            "schema": 1,
            "file": name,
            "version": format!("go 1.{}", r.version().0),
            "duration_ns": rep.end_ns - rep.start_ns,
            "report": rep,
        });
        serde_json::to_string_pretty(&v)? + "\n"
    } else {
        render(&name, r.version().0, &rep)
    };
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    Ok(ExitCode::SUCCESS)
}

fn ms(ns: u64) -> String {
    format!("{:.3}ms", ns as f64 / 1e6)
}

/// A type name as shown: Go cannot name a task that began before the trace.
fn shown(name: &str) -> &str {
    if name.is_empty() { "(no type)" } else { name }
}

fn durations(d: &DurationSummary) -> String {
    if d.count == 0 {
        return format!("{:>10} {:>10} {:>10}", "-", "-", "-");
    }
    format!(
        "{:>10} {:>10} {:>10}{}",
        ms(d.p50_ns),
        ms(d.p99_ns),
        ms(d.max_ns),
        if d.exact { "" } else { "~" }
    )
}

fn render(name: &str, minor: u32, rep: &TaskReport) -> String {
    let mut o = String::new();
    let span = (rep.end_ns - rep.start_ns).max(0) as u64;
    let _ = writeln!(o, "{name}: go 1.{minor} trace, {} span", ms(span));
    if rep.tasks.is_empty() && rep.regions.is_empty() && rep.logs.is_empty() {
        let _ = writeln!(
            o,
            "no user tasks, regions or logs (the program does not use runtime/trace annotations)"
        );
        return o;
    }
    let _ = writeln!(
        o,
        "\ntasks by type (durations of completed tasks; P50/P99 nearest rank)"
    );
    let _ = writeln!(
        o,
        "  {:<24} {:>6} {:>6} {:>7} {:>6} {:>10} {:>10} {:>10} {:>5} {:>7} {:>5}",
        "type", "count", "done", "before", "open", "p50", "p99", "max", "gs", "regions", "logs"
    );
    for t in &rep.tasks {
        let _ = writeln!(
            o,
            "  {:<24} {:>6} {:>6} {:>7} {:>6} {} {:>5} {:>7} {:>5}",
            shown(&t.type_name),
            t.count,
            t.completed,
            t.began_before_trace,
            t.unfinished,
            durations(&t.duration),
            t.goroutines,
            t.regions,
            t.logs
        );
        if t.unfinished > 0 {
            let _ = writeln!(
                o,
                "  {:<24} {} unfinished at trace end, the oldest running for {}",
                "",
                t.unfinished,
                ms(t.unfinished_max_age_ns)
            );
        }
    }
    let _ = writeln!(o, "\nregions by type (durations of completed regions)");
    let _ = writeln!(
        o,
        "  {:<24} {:>6} {:>6} {:>7} {:>6} {:>6} {:>10} {:>10} {:>10} {:>5}",
        "type", "count", "done", "before", "exit", "open", "p50", "p99", "max", "gs"
    );
    for r in &rep.regions {
        let _ = writeln!(
            o,
            "  {:<24} {:>6} {:>6} {:>7} {:>6} {:>6} {} {:>5}",
            shown(&r.type_name),
            r.count,
            r.completed,
            r.began_before_trace,
            r.ended_by_goroutine_exit,
            r.open_at_end,
            durations(&r.duration),
            r.goroutines
        );
    }
    let _ = writeln!(
        o,
        "  before: began before the trace; exit: open when the goroutine exited; open: open at trace end"
    );
    if !rep.logs.is_empty() {
        let _ = writeln!(o, "\nlogs by category");
        for l in &rep.logs {
            let _ = writeln!(
                o,
                "  {:<24} {:>6} ({} in tasks)",
                shown(&l.category),
                l.count,
                l.in_tasks
            );
        }
    }
    let _ = writeln!(
        o,
        "\noutside any task: {} regions, {} logs",
        rep.background_regions, rep.background_logs
    );
    o
}
