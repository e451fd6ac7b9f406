use std::io::{BufWriter, Write};

/// `writeln!` into a String (infallible).
macro_rules! outln {
    ($o:expr, $($t:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($o, $($t)*);
    }};
}
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[path = "trace_mmu.rs"]
mod trace_mmu;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Print every event as `go tool trace -d=parsed` does.
    Dump(DumpArgs),
    /// Summarize a trace: scheduler latency, STW, GC, blocking, findings.
    Summary(SummaryArgs),
    /// Export for the Perfetto UI or chrome://tracing.
    Export(ExportArgs),
    /// Write a blocking profile (net, sync, syscall or sched) as a gzipped pprof proto,
    /// as `go tool trace -pprof=KIND` does.
    Pprof(PprofArgs),
    /// Minimum mutator utilization at a set of windows, with the worst windows, as
    /// `go tool trace`'s MMU page computes it.
    Mmu(trace_mmu::MmuArgs),
    /// User tasks, regions and logs (runtime/trace annotations) with their durations.
    Tasks(super::trace_tasks::TasksArgs),
}

#[derive(clap::Args)]
pub struct DumpArgs {
    pub file: PathBuf,
}

#[derive(clap::Args)]
pub struct SummaryArgs {
    /// Print the summary and findings as JSON.
    #[arg(long)]
    pub json: bool,
    pub file: PathBuf,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// perfetto or chrome. Both write the Chrome trace-event JSON format, which the
    /// Perfetto UI (ui.perfetto.dev) and chrome://tracing both open; no protobuf is written.
    #[arg(long, default_value = "perfetto", value_parser = ["perfetto", "chrome"])]
    pub format: String,
    /// Output file (written to a temporary file next to it, then renamed).
    #[arg(short = 'o', long)]
    pub output: PathBuf,
    /// Keep only what happens after this many milliseconds from the trace start.
    #[arg(long)]
    pub start_ms: Option<f64>,
    /// Keep only what happens before this many milliseconds from the trace start
    /// (reading stops there).
    #[arg(long)]
    pub end_ms: Option<f64>,
    /// Keep only these goroutines (repeatable); GC and STW tracks are always kept.
    #[arg(long = "goroutine", value_name = "ID")]
    pub goroutines: Vec<i64>,
    pub file: PathBuf,
}

#[derive(clap::Args)]
pub struct PprofArgs {
    /// net, sync, syscall or sched.
    #[arg(long)]
    pub kind: String,
    #[arg(short = 'o', long)]
    pub output: PathBuf,
    pub file: PathBuf,
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Dump(a) => dump(&a.file),
        Command::Summary(a) => summary(&a),
        Command::Export(a) => export(&a),
        Command::Pprof(a) => trace_pprof(&a),
        Command::Mmu(a) => trace_mmu::run(&a),
        Command::Tasks(a) => super::trace_tasks::run(&a),
    }
}

/// Print each event's Go `String()` form on its own line, as `go tool trace -d=parsed`.
/// Events before an error are printed; the error goes to stderr (exit 2).
fn dump(path: &Path) -> anyhow::Result<ExitCode> {
    let name = path.display().to_string();
    let Some(mut r) = open_trace(&name, path) else {
        return Ok(ExitCode::from(super::EXIT_ERROR));
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut line = Vec::with_capacity(4096);
    let mut pipe_closed = false;
    let streamed = for_each_event(&mut r, path, |ev| {
        line.clear();
        ev.write_go_string(&mut line);
        line.push(b'\n');
        // A closed pipe (e.g. `| head`) ends the dump quietly.
        pipe_closed = out.write_all(&line).is_err();
        Ok(!pipe_closed)
    });
    let _ = out.flush();
    if let Err(e) = streamed {
        eprintln!("gorx: {e}");
        return Ok(ExitCode::from(super::EXIT_ERROR));
    }
    if pipe_closed {
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(off) = r.silent_eof_offset() {
        eprintln!(
            "gorx: warning: {name}: data ended inside a batch at byte offset {off}; Go's reader stops here without an error, and so does this dump"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Stream the trace into one blocking profile and write it as `OUT` (gzipped proto).
fn trace_pprof(a: &PprofArgs) -> anyhow::Result<ExitCode> {
    use gorx_analysis::trace_pprof::{PprofKind, TracePprof, build_pprof};
    let Some(kind) = PprofKind::parse(&a.kind) else {
        eprintln!(
            "gorx: unknown --kind {:?}: want net, sync, syscall or sched",
            a.kind
        );
        return Ok(ExitCode::from(super::EXIT_ERROR));
    };
    let name = a.file.display().to_string();
    let Some(mut r) = open_trace(&name, &a.file) else {
        return Ok(ExitCode::from(super::EXIT_ERROR));
    };
    let mut prof = TracePprof::new(kind);
    if let Err(e) = for_each_event(&mut r, &a.file, |ev| {
        prof.observe(ev);
        Ok(true)
    }) {
        eprintln!("gorx: {e}");
        return Ok(ExitCode::from(super::EXIT_ERROR));
    }
    let bytes = build_pprof(&prof.finish());
    if let Err(e) = std::fs::write(&a.output, bytes) {
        eprintln!("gorx: {}: {e}", a.output.display());
        return Ok(ExitCode::from(super::EXIT_ERROR));
    }
    Ok(ExitCode::SUCCESS)
}

/// Stream the trace into Chrome trace-event JSON (see gorx_report::trace_export).
fn export(a: &ExportArgs) -> anyhow::Result<ExitCode> {
    use gorx_report::trace_export::{ChromeExporter, ExportOptions};
    let name = a.file.display().to_string();
    let ms_ns = |ms: f64| (ms * 1e6) as i64;
    if let (Some(s), Some(e)) = (a.start_ms, a.end_ms)
        && e < s
    {
        eprintln!("gorx: --end-ms {e} is before --start-ms {s}");
        return Ok(ExitCode::from(super::EXIT_ERROR));
    }
    let Some(mut r) = open_trace(&name, &a.file) else {
        return Ok(ExitCode::from(super::EXIT_ERROR));
    };
    let out_name = a.output.display().to_string();
    let mut tmp_name = a.output.clone().into_os_string();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp_name);
    let fail = |msg: String| {
        let _ = std::fs::remove_file(&tmp);
        eprintln!("gorx: {msg}");
        Ok(ExitCode::from(super::EXIT_ERROR))
    };
    let out = match std::fs::File::create(&tmp) {
        Ok(f) => f,
        Err(e) => return fail(format!("{out_name}: {e}")),
    };
    let opts = ExportOptions {
        start_ns: a.start_ms.map(ms_ns),
        end_ns: a.end_ms.map(ms_ns),
        goroutines: (!a.goroutines.is_empty()).then(|| a.goroutines.iter().copied().collect()),
        process_name: format!("{name} (go 1.{})", r.version().0),
    };
    let mut ex = match ChromeExporter::new(BufWriter::with_capacity(1 << 20, out), opts) {
        Ok(x) => x,
        Err(e) => return fail(format!("{out_name}: {e}")),
    };
    let streamed = for_each_event(&mut r, &a.file, |ev| {
        if ex.past_window(ev.time()) {
            return Ok(false);
        }
        ex.observe(ev).map_err(|e| format!("{out_name}: {e}"))?;
        Ok(true)
    });
    if let Err(e) = streamed {
        return fail(e);
    }
    let written = ex.finish().and_then(|(w, st)| {
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        Ok(st)
    });
    let st = match written {
        Ok(st) => st,
        Err(e) => return fail(format!("{out_name}: {e}")),
    };
    if let Err(e) = std::fs::rename(&tmp, &a.output) {
        return fail(format!("{out_name}: {e}"));
    }
    eprintln!(
        "gorx: wrote {out_name}: {} trace events ({} goroutine run slices) from {} events; open it in ui.perfetto.dev or chrome://tracing",
        st.events_written, st.running_slices, st.events_read
    );
    Ok(ExitCode::SUCCESS)
}

/// Read the whole trace through the streaming analyses and print what they found.
fn summary(a: &SummaryArgs) -> anyhow::Result<ExitCode> {
    use gorx_analysis::mmu::{MutatorUtilBuilder, UtilFlags};
    use gorx_analysis::trace::{
        SideSummary, SideTrackers, Sides, TraceAnalyzer, beside, second_core, trace_findings,
    };
    let name = a.file.display().to_string();
    let Some(mut r) = open_trace(&name, &a.file) else {
        return Ok(ExitCode::from(super::EXIT_ERROR));
    };
    // The MMU and the blocked-goroutine tracker run on a second reader of the same file,
    // on a thread of their own: reading is about a third of the work, so two readers
    // finish sooner on two cores than one doing everything (BENCHMARKS.md). A pipe or
    // other non-file is read once, and so is everything on a single core.
    let parallel = second_core() && std::fs::metadata(&a.file).is_ok_and(|m| m.is_file());
    // What balances the two threads here (the mark-assist tracker too: 10% slower).
    const SECOND: Sides = Sides {
        blocked: true,
        assist: false,
    };
    let mut an = if parallel {
        TraceAnalyzer::leaving_out(SECOND)
    } else {
        TraceAnalyzer::new()
    };
    let mut mmu_b = (!parallel).then(|| MutatorUtilBuilder::new(UtilFlags::DEFAULT));
    let mut main = || {
        for_each_event(&mut r, &a.file, |ev| {
            an.observe(ev);
            if let Some(b) = &mut mmu_b {
                b.observe(ev);
            }
            Ok(true)
        })
    };
    type SecondPass = Result<(Vec<(i64, f64)>, Option<SideSummary>), String>;
    let second_pass = || -> SecondPass {
        let f = std::fs::File::open(&a.file).map_err(|e| format!("{name}: {e}"))?;
        let mut r =
            gorx_trace::Reader::with_prefetch(name.as_str(), f).map_err(|e| e.to_string())?;
        let mut b = MutatorUtilBuilder::new(UtilFlags::DEFAULT);
        let mut side = SideTrackers::new(SECOND);
        while let Some(ev) = r.next_event().map_err(|e| e.to_string())? {
            b.observe(ev);
            side.observe(ev);
        }
        Ok((trace_mmu::summary_mmu(b), Some(side.finish())))
    };
    let (read, second) = if parallel {
        beside(main, second_pass)
    } else {
        let read = main();
        let mmu = mmu_b.take().map(trace_mmu::summary_mmu).unwrap_or_default();
        (read, Ok((mmu, None)))
    };
    let (mmu, side) = match read.and(second) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("gorx: {e}");
            return Ok(ExitCode::from(super::EXIT_ERROR));
        }
    };
    let mut s = an.finish();
    if let Some(side) = side {
        side.finish_into(&mut s);
    }
    let findings = trace_findings(&s, &name);
    if a.json {
        let v = serde_json::json!({
            "schema": 1,
            "file": name,
            "version": format!("go 1.{}", r.version().0),
            "summary": s,
            "sched_latency_p50_ns": s.sched_latency.quantile_ns(0.5),
            "sched_latency_p99_ns": s.sched_latency.quantile_ns(0.99),
            "sched_latency_p999_ns": s.sched_latency.quantile_ns(0.999),
            "findings": findings,
            "mmu": mmu.iter().map(|(w, u)| serde_json::json!({"window_ns": w, "mmu": u})).collect::<Vec<_>>(),
        });
        let _ = writeln!(
            std::io::stdout().lock(),
            "{}",
            serde_json::to_string_pretty(&v)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut o = String::new();
    let ms = |ns: u64| format!("{:.3} ms", ns as f64 / 1e6);
    outln!(
        o,
        "{name}: go 1.{} trace, {} events, {} generations, {} span, GOMAXPROCS {}",
        r.version().0,
        s.events,
        r.generations(),
        ms(s.duration_ns()),
        s.gomaxprocs
    );
    let h = &s.sched_latency;
    outln!(
        o,
        "scheduler latency (runnable -> running): {} samples, P50 {}, P99 {}, P99.9 {}, max {}",
        h.count,
        ms(h.quantile_ns(0.5)),
        ms(h.quantile_ns(0.99)),
        ms(h.quantile_ns(0.999)),
        ms(h.max_ns)
    );
    outln!(
        o,
        "stop-the-world: {} pauses, P99 {}, max {}",
        s.stw.count,
        ms(s.stw.quantile_ns(0.99)),
        ms(s.stw.max_ns)
    );
    for (reason, h) in &s.stw_by_reason {
        outln!(
            o,
            "  {reason:<28} {:>6} pauses, total {}, max {}",
            h.count,
            ms(h.sum_ns as u64),
            ms(h.max_ns)
        );
    }
    outln!(
        o,
        "GC: {} mark phases, {} marking; mark assist {} in {} assists; sweep {}",
        s.gc_cycles,
        ms(s.gc_mark_ns),
        ms(s.mark_assist.sum_ns as u64),
        s.mark_assist.count,
        ms(s.sweep_ns)
    );
    if let Some(line) = trace_mmu::summary_line(&mmu) {
        outln!(o, "{line}");
    }
    let w = &s.mark_work;
    outln!(
        o,
        "GC mark work: assists {} CPU ({} wall) in {}; workers dedicated {}, fractional {}, idle {}",
        ms(w.assist_ns),
        ms(w.assist_wall_ns),
        w.assists,
        ms(w.dedicated_ns),
        ms(w.fractional_ns),
        ms(w.idle_ns)
    );
    if let Some(g) = s.blocked.groups.first() {
        outln!(
            o,
            "blocked through the whole window: {} goroutines in {} groups; largest {} [{}] at {}",
            s.blocked.blocked_goroutines,
            s.blocked.group_count,
            g.goroutines,
            g.reason,
            g.site.as_deref().unwrap_or("(no stack in the trace)")
        );
    }
    outln!(
        o,
        "syscalls: {} ({} blocked), total {}, max {}",
        s.syscalls.count,
        s.syscalls_blocked,
        ms(s.syscalls.sum_ns as u64),
        ms(s.syscalls.max_ns)
    );
    let mut gs: Vec<_> = s.goroutines.iter().collect();
    gs.sort_by_key(|g| {
        std::cmp::Reverse(
            g.exec_ns + g.sched_wait_ns + g.syscall_ns + g.block_ns.values().sum::<u64>(),
        )
    });
    outln!(o, "goroutines: {} (top by accounted time)", gs.len());
    outln!(
        o,
        "  {:>8} {:>12} {:>12} {:>12} {:>12}  site / top block reason",
        "goid",
        "exec",
        "sched wait",
        "syscall",
        "blocked"
    );
    for g in gs.iter().take(15) {
        let blocked: u64 = g.block_ns.values().sum();
        let top = g
            .block_ns
            .iter()
            .max_by_key(|(_, v)| **v)
            .map(|(k, _)| k.as_str())
            .unwrap_or("");
        outln!(
            o,
            "  {:>8} {:>12} {:>12} {:>12} {:>12}  {} {}",
            g.id,
            ms(g.exec_ns),
            ms(g.sched_wait_ns),
            ms(g.syscall_ns),
            ms(blocked),
            g.site,
            if top.is_empty() {
                String::new()
            } else {
                format!("[{top}]")
            }
        );
    }
    if findings.is_empty() {
        outln!(o, "findings: none");
    }
    for f in &findings {
        outln!(o, "{} {}: {}", f.severity.as_str(), f.id, f.title);
        for (k, v) in &f.evidence {
            outln!(o, "    {k} = {v}");
        }
        if !f.sites.is_empty() {
            outln!(o, "    sites: {}", f.sites.join(", "));
        }
        outln!(o, "    -> {}", f.recommendation);
    }
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(o.as_bytes());
    Ok(ExitCode::SUCCESS)
}

/// Open a trace for streaming, the next generation decoded ahead on a thread. Failures
/// are printed (naming the file) and give `None`: the caller exits 2.
pub(crate) fn open_trace(name: &str, path: &Path) -> Option<gorx_trace::Reader<std::fs::File>> {
    let f = std::fs::File::open(path)
        .map_err(|e| eprintln!("gorx: {name}: {e}"))
        .ok()?;
    gorx_trace::Reader::with_prefetch(name, f)
        .map_err(|e| eprintln!("gorx: {e}"))
        .ok()
}

/// Feed every event to `f` until the trace ends or `f` returns `Ok(false)`, with a
/// progress line on a terminal. Errors (the reader's, or `f`'s) come back as text.
pub(crate) fn for_each_event(
    r: &mut gorx_trace::Reader<std::fs::File>,
    path: &Path,
    mut f: impl FnMut(&gorx_trace::Event) -> Result<bool, String>,
) -> Result<(), String> {
    let mut progress = Progress::new(path);
    let mut n_events: u64 = 0;
    while let Some(ev) = r.next_event().map_err(|e| e.to_string())? {
        if !f(ev)? {
            break;
        }
        n_events += 1;
        if n_events & 0xffff == 0 {
            // `r.position()` would pick `Iterator::position` of `&mut Reader`.
            progress.tick(gorx_trace::Reader::position(r));
        }
    }
    progress.done();
    Ok(())
}

/// A one-line progress display on stderr for large traces read on a terminal.
struct Progress {
    total_bytes: u64,
    last: std::time::Instant,
    on: bool,
}

impl Progress {
    /// Shown only when stderr is a terminal and the file is at least 32 MiB.
    fn new(path: &std::path::Path) -> Progress {
        use std::io::IsTerminal;
        let total_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Progress {
            total_bytes,
            last: std::time::Instant::now(),
            on: std::io::stderr().is_terminal() && total_bytes >= 32 << 20,
        }
    }
    fn tick(&mut self, pos_bytes: u64) {
        if !self.on || self.last.elapsed() < std::time::Duration::from_millis(200) {
            return;
        }
        self.last = std::time::Instant::now();
        let pct = pos_bytes as f64 * 100.0 / self.total_bytes.max(1) as f64;
        eprint!(
            "\rreading trace: {pct:5.1}% ({} / {} MiB)",
            pos_bytes >> 20,
            self.total_bytes >> 20
        );
    }
    fn done(&self) {
        if self.on {
            eprint!("\r{:60}\r", "");
        }
    }
}
