//! `gorx goroutines DUMP`: a goroutine dump grouped by identical stacks, largest group
//! first, with counts by state and the goroutine findings.

use anyhow::{Context, Result};
use gorx_analysis::goroutines as analysis;
use gorx_analysis::{Diagnosis, InputSummary};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A goroutine dump: /debug/pprof/goroutine?debug=2 output or a crash/SIGQUIT log.
    pub dump: PathBuf,
    /// Frames shown per group (0 = all).
    #[arg(long, default_value_t = 8)]
    pub frames: usize,
    /// Groups shown (0 = all).
    #[arg(short = 'n', long, default_value_t = 20)]
    pub groups: usize,
    /// Print the summary (all groups) and findings as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let name = args.dump.display().to_string();
    let data = std::fs::read(&args.dump).with_context(|| format!("{name}: cannot read"))?;
    let dump = gorx_formats::goroutines::parse(&name, &data)?;
    let summary = analysis::summarize(&dump);
    let findings = analysis::dump_findings(&dump, &name);
    let mut out = String::new();
    if args.json {
        let v = serde_json::json!({
            "schema": 1,
            "input": name,
            "crash": dump.crash.as_ref().map(|c| serde_json::json!({
                "kind": format!("{:?}", c.kind).to_lowercase(),
                "message": c.message,
                "line": c.line,
                "signal": c.signal,
            })),
            "truncated": dump.truncated,
            "summary": summary,
            "findings": findings,
        });
        out = serde_json::to_string_pretty(&v)?;
        out.push('\n');
    } else {
        if let Some(c) = &dump.crash {
            let what = match c.kind {
                gorx_formats::goroutines::CrashKind::Panic => "panic",
                gorx_formats::goroutines::CrashKind::Fatal => "fatal error",
                gorx_formats::goroutines::CrashKind::Signal => "signal",
            };
            let _ = writeln!(out, "Crash ({what}, line {}): {}", c.line, c.message);
            if let Some(s) = c.signal {
                let _ = writeln!(out, "  [signal {s}]");
            }
            out.push('\n');
        }
        if dump.truncated {
            let _ = writeln!(
                out,
                "warning: {name}: the dump is cut off (last goroutine incomplete)\n"
            );
        }
        let states: Vec<String> = summary
            .by_state
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        let _ = writeln!(
            out,
            "{} goroutines in {} groups: {}\n",
            summary.total,
            summary.groups.len(),
            states.join(", ")
        );
        let shown = if args.groups == 0 {
            summary.groups.len()
        } else {
            args.groups
        };
        for g in summary.groups.iter().take(shown) {
            let wait = match (g.wait_minutes_min, g.wait_minutes_max) {
                (_, 0) => String::new(),
                (a, b) if a == b => format!(", {a} min"),
                (a, b) => format!(", {a}–{b} min"),
            };
            let locked = if g.locked_to_thread > 0 {
                format!(", {} locked to thread", g.locked_to_thread)
            } else {
                String::new()
            };
            let ids: Vec<String> = g.ids.iter().take(6).map(u64::to_string).collect();
            let more = if g.ids.len() > 6 { ", ..." } else { "" };
            // The first frame outside runtime/sync plumbing: where the code waits.
            let site = g
                .site
                .as_ref()
                .map(|f| format!(" at {}", f.function))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{} × [{}{wait}{locked}]{site}  goroutines {}{more}",
                g.count,
                g.state,
                ids.join(", ")
            );
            let nf = if args.frames == 0 {
                g.frames.len()
            } else {
                args.frames
            };
            for f in g.frames.iter().take(nf) {
                let _ = writeln!(out, "    {}  {}", f.function, f.location());
            }
            if g.frames.len() > nf {
                let _ = writeln!(out, "    ... {} more frames", g.frames.len() - nf);
            }
            if g.elided {
                let _ = writeln!(out, "    (frames elided by the runtime)");
            }
            if let Some(c) = &g.created_by {
                let _ = writeln!(out, "  created by {}  {}", c.function, c.location());
            }
            out.push('\n');
        }
        if summary.groups.len() > shown {
            let _ = writeln!(
                out,
                "... {} more groups (-n 0 shows all)\n",
                summary.groups.len() - shown
            );
        }
        let d = Diagnosis::new(
            vec![InputSummary {
                path: name.clone(),
                kind: "goroutine-dump".into(),
            }],
            findings,
        );
        out.push_str(&gorx_report::render_text(&d));
    }
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    Ok(ExitCode::SUCCESS)
}
