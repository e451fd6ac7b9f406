//! `gorx score PID|URL|PATH... [--min N] [--memory-limit SIZE] [--json]`: the GC health
//! score (gorx_analysis::score) of every process the inputs describe: a live process (its
//! pid, or the URL of its pprof, expvar or /metrics), each run of a gctrace log and each
//! /metrics scrape. `--min` makes it a gate: exit 1 when any score is below.

use super::inputs;
use anyhow::{Result, bail};
use gorx_analysis::gc::{self, GcOptions};
use gorx_analysis::metrics::MetricsView;
use gorx_analysis::score::{self, GcScore};
use gorx_analysis::score_gate::{self, Gate, GateState};
use gorx_analysis::score_live::{self, Reading};
use gorx_formats::detect::{ArtifactKind, detect};
use gorx_formats::{gctrace, prometheus};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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
    /// Print JSON: {"schema":1,"scores":[{"source","score","components":[...],"missing"}]};
    /// with --watch, one JSON object per line (baseline, sample, verdict).
    #[arg(long)]
    pub json: bool,
    /// How long to read a live process: its score is over the readings of this window
    /// (default 3s for one score; with --watch the interval, at least 5s; 0: one reading).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub window: Option<Duration>,
    /// The canary gate: score one live process every INTERVAL (e.g. 5s) until --for ends,
    /// and exit 1 after --failures consecutive scores below the floor (--min, default 60,
    /// raised by --baseline).
    #[arg(long, value_name = "INTERVAL", value_parser = parse_duration)]
    pub watch: Option<Duration>,
    /// With --watch: score this long first, and derive the floor from these scores:
    /// max(--min, median − max(3 × 1.4826 × MAD, 10)).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "watch")]
    pub baseline: Option<Duration>,
    /// With --watch: intervene (exit 1) after this many consecutive scores below the floor.
    #[arg(long, value_name = "N", default_value_t = gorx_analysis::thresholds::GATE_DEFAULT_FAILURES, requires = "watch")]
    pub failures: u32,
    /// With --watch: gate this long after the baseline, then exit 0 (default: until the
    /// process exits, or SIGINT/SIGTERM).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration, requires = "watch")]
    pub for_: Option<Duration>,
}

/// The one-shot live score reads the process for this long.
const ONE_SHOT_WINDOW: Duration = Duration::from_secs(3);
/// The gate's rolling window is the interval, and at least this (GC_MIN_WINDOW_NS: a
/// GC CPU share and a cycle rate need it).
const WATCH_MIN_WINDOW: Duration =
    Duration::from_nanos(gorx_analysis::thresholds::GC_MIN_WINDOW_NS);

fn parse_duration(s: &str) -> Result<Duration, String> {
    super::tune::parse_duration(s)
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

/// A live process to read: where its runtime data is served.
struct LiveTarget {
    name: String,
    pid: Option<u32>,
    endpoints: gorx_live::http::Endpoints,
    memory_limit: Option<u64>,
}

impl LiveTarget {
    fn open(target: &str, memory_limit: Option<u64>) -> Result<LiveTarget> {
        use gorx_live::http;
        let (pid, endpoints) = if let Ok(pid) = target.parse::<u32>() {
            let fds = gorx_live::proc::read_fds(pid)?;
            let e = http::discover(pid, &fds);
            if e.is_empty() {
                bail!(
                    "pid {pid}: serves no Go runtime endpoint on loopback (/debug/pprof/, /debug/vars, /metrics); give its URL, or score a gctrace log"
                );
            }
            (Some(pid), e)
        } else {
            (None, http::probe_base(target)?)
        };
        Ok(LiveTarget {
            name: target.to_string(),
            pid,
            endpoints,
            memory_limit,
        })
    }

    /// One reading, stamped `at` on the sampler's clock.
    fn read(&self, t0: std::time::Instant) -> Result<(Reading, String)> {
        use gorx_live::http::{self, RuntimeSource};
        let timeout = std::time::Duration::from_secs(10);
        let reading = http::read_runtime(
            &self.endpoints,
            &[
                RuntimeSource::Expvar,
                RuntimeSource::HeapTrailer,
                RuntimeSource::Metrics,
            ],
            timeout,
        )
        .map_err(|errors| {
            anyhow::anyhow!("{}: no runtime data: {}", self.name, errors.join("; "))
        })?;
        let at_ns = t0.elapsed().as_nanos() as u64;
        let mut memstats = reading.memstats.clone();
        memstats.gc_cpu_fraction = memstats.gc_cpu_fraction.or(reading.gc_cpu_fraction);
        let mut single = score::inputs_of_memstats(&memstats, self.memory_limit);
        // /metrics carries what MemStats does not (CPU classes, the live heap): read it
        // beside expvar when the process serves both.
        let metrics = if reading.source == RuntimeSource::Metrics {
            Some(prometheus::parse(&reading.url, &reading.body)?)
        } else {
            self.endpoints.metrics.as_ref().and_then(|u| {
                let body = http::get_bytes(u, timeout).ok()?;
                prometheus::parse(u, &body).ok()
            })
        };
        if let Some(e) = &metrics {
            // client_golang: the pause summary's maximum stands in for PauseNs.
            let m = score::inputs_of_metrics(&MetricsView::from_exposition(e));
            single.pause_ns = single.pause_ns.or(m.pause_ns);
            single.heap_vs_limit_bytes = single.heap_vs_limit_bytes.or(m.heap_vs_limit_bytes);
            if single.gc_cpu_percent.is_none() {
                single.gc_cpu_percent = m.gc_cpu_percent;
                single.gc_cpu_basis = m.gc_cpu_basis;
            }
        }
        let mut r = Reading::of_memstats(at_ns, &memstats, single);
        r.start_unix_ns = self.pid.and_then(gorx_live::proc::start_unix_ns);
        if let Some(e) = &metrics {
            r = r.with_metrics(e);
        }
        Ok((r, reading.url))
    }
}

/// The score of a live process from readings over `window` (one reading when zero).
fn score_live(target: &str, memory_limit: Option<u64>, window: Duration) -> Result<GcScore> {
    let t = LiveTarget::open(target, memory_limit)?;
    let t0 = std::time::Instant::now();
    let mut readings = Vec::new();
    let (first, url) = t.read(t0)?;
    readings.push(first);
    let step = Duration::from_millis(500).min(window.max(Duration::from_millis(1)));
    while t0.elapsed() + step <= window {
        std::thread::sleep(step);
        readings.push(t.read(t0)?.0);
    }
    Ok(score::score(
        &format!("{target} ({url})"),
        &score_live::inputs_of_readings(&readings),
    ))
}

pub fn run(args: Args) -> Result<ExitCode> {
    if let Some(interval) = args.watch {
        return watch(&args, interval);
    }
    let mut scores: Vec<GcScore> = Vec::new();
    let mut paths = Vec::new();
    for p in &args.paths {
        match live_target(p) {
            Some(t) => scores.push(score_live(
                &t,
                args.memory_limit,
                args.window.unwrap_or(ONE_SHOT_WINDOW),
            )?),
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

/// Whether `pid` still runs (a zombie does not: it is only waiting to be reaped).
fn alive(pid: u32) -> bool {
    let p = format!("/proc/{pid}/status");
    std::fs::read_to_string(&p)
        .ok()
        .and_then(|t| gorx_formats::procfs::parse_status(&p, &t).ok())
        .is_some_and(|s| s.state != "Z")
}

/// One line per component: `gc_cpu 1.2% 100 · pause_p99 0.31ms 100 · …`.
fn components_line(s: &GcScore) -> String {
    let mut parts: Vec<String> = s
        .components
        .iter()
        .map(|c| {
            let unit = match c.unit {
                "% of GC CPU" | "% of the memory limit" => "%",
                "× live heap" => "×",
                "cycles/min" => "/min",
                u => u,
            };
            format!("{} {}{} {:.0}", c.name, c.value, unit, c.points)
        })
        .collect();
    if !s.missing.is_empty() {
        parts.push(format!("not measured: {}", s.missing.join(", ")));
    }
    parts.join(" · ")
}

/// `gorx score TARGET --watch INTERVAL [--baseline D] [--failures N] [--for D]`.
fn watch(args: &Args, interval: Duration) -> Result<ExitCode> {
    use gorx_analysis::thresholds as th;
    let [target] = args.paths.as_slice() else {
        bail!("--watch gates one live process: give one pid or URL");
    };
    let Some(target) = live_target(target) else {
        bail!(
            "--watch needs a live process (a pid or a URL), not {}",
            target.display()
        );
    };
    if interval.is_zero() {
        bail!("--watch: the interval must be above zero");
    }
    let t = LiveTarget::open(&target, args.memory_limit)?;
    // By default each score covers its own interval (no reading shared with the previous
    // score, so consecutive failures are separate evidence), and at least the 5 s a rate
    // and a GC CPU share need.
    let window = args.window.unwrap_or(interval.max(WATCH_MIN_WINDOW));
    let spans = (window.as_secs_f64() / interval.as_secs_f64()).ceil() as u32;
    if spans >= args.failures.max(1) && !args.json {
        eprintln!(
            "gorx score: note: each score spans the readings of {spans} samples (--window {window:?}, every {interval:?}): one bad stretch, even a single long pause, can make {} consecutive failures; raise --failures above {spans} or the interval",
            args.failures
        );
    }
    let min = args.min.unwrap_or(th::GATE_DEFAULT_FLOOR);
    let baseline_for = args.baseline.unwrap_or(Duration::ZERO);
    gorx_live::watch::install_stop_handlers();
    let emit = |v: serde_json::Value| {
        if args.json {
            println!("{v}");
        }
    };
    if !args.json {
        println!(
            "gorx score: gating {target} every {:?} (each score over the last {:?}); {}",
            interval,
            window,
            if baseline_for.is_zero() {
                format!("floor {min}")
            } else {
                format!("baseline {baseline_for:?} first, floor at least {min}")
            },
        );
    }
    let t0 = std::time::Instant::now();
    let mut readings: std::collections::VecDeque<Reading> = Default::default();
    let mut baseline_scores: Vec<u32> = Vec::new();
    let mut gate: Option<(Gate, std::time::Instant)> = baseline_for
        .is_zero()
        .then(|| (Gate::new(min, args.failures), t0));
    let mut recent_below: Vec<u32> = Vec::new();
    let mut unreadable = 0u32;
    let mut next = t0;
    loop {
        if let Some(sig) = gorx_live::watch::stop_signal() {
            let floor = gate.as_ref().map(|(g, _)| g.floor);
            emit(
                serde_json::json!({"schema": 1, "event": "verdict", "result": "stopped", "signal": sig, "floor": floor}),
            );
            if !args.json {
                println!("stopped by {sig}: the gate did not trip");
            }
            return Ok(ExitCode::SUCCESS);
        }
        if let Some((_, since)) = &gate
            && args.for_.is_some_and(|d| since.elapsed() >= d)
        {
            let floor = gate.as_ref().map(|(g, _)| g.floor);
            emit(
                serde_json::json!({"schema": 1, "event": "verdict", "result": "pass", "floor": floor}),
            );
            if !args.json {
                println!(
                    "pass: no {} consecutive scores below the floor {} in {:?}",
                    args.failures,
                    floor.unwrap_or(min),
                    args.for_.unwrap_or_default()
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        let now = std::time::Instant::now();
        if next > now {
            std::thread::sleep((next - now).min(Duration::from_millis(100)));
            continue;
        }
        next += interval;
        if next <= now {
            // A read took longer than the interval: skip the missed ticks, no burst.
            next = now + interval;
        }
        let t_s = t0.elapsed().as_secs_f64();
        let score = match t.read(t0) {
            Ok((r, _)) => {
                unreadable = 0;
                let cut = r.at_ns.saturating_sub(window.as_nanos() as u64);
                readings.push_back(r);
                // Keep one reading at or before the cut, so the window spans it whole.
                while readings.get(1).is_some_and(|f| f.at_ns <= cut) {
                    readings.pop_front();
                }
                // A score needs a window: the first reading only opens it.
                if readings.len() < 2 {
                    continue;
                }
                let rs: Vec<Reading> = readings.iter().cloned().collect();
                Some(score::score(&target, &score_live::inputs_of_window(&rs)))
            }
            Err(e) => {
                if let Some(pid) = t.pid
                    && !alive(pid)
                {
                    bail!("pid {pid} exited after {t_s:.1}s: nothing left to gate");
                }
                eprintln!("gorx score: {t_s:.1}s: unreadable: {e:#}");
                unreadable += 1;
                // A canary that stops answering is not a passing one: give up (exit 2)
                // after as many unreadable samples in a row as it takes to trip, twice.
                let limit = 2 * args.failures.max(3);
                if unreadable >= limit {
                    bail!(
                        "{target}: {unreadable} samples in a row could not be read: nothing left to gate"
                    );
                }
                None
            }
        };
        let value = score.as_ref().map(|s| s.score);
        match &mut gate {
            None => {
                if let Some(v) = value {
                    baseline_scores.push(v);
                }
                if let Some(s) = &score {
                    emit(
                        serde_json::json!({"schema": 1, "event": "sample", "phase": "baseline", "t_s": t_s, "score": s.score, "components": s.components, "missing": s.missing}),
                    );
                    if !args.json {
                        println!(
                            "{t_s:>7.1}s  score {:>3}  baseline {:>2}   {}",
                            s.score,
                            baseline_scores.len(),
                            components_line(s)
                        );
                    }
                }
                if t0.elapsed() >= baseline_for {
                    let b =
                        score_gate::baseline(&baseline_scores, min).map_err(anyhow::Error::msg)?;
                    emit(serde_json::json!({"schema": 1, "event": "baseline", "baseline": b}));
                    if !args.json {
                        println!(
                            "baseline: {} scores, median {}, spread σ {} → noise {} points → floor {} (at least {min}); intervene after {} consecutive scores below",
                            b.samples, b.median, b.sigma, b.noise, b.floor, args.failures
                        );
                        if b.median < f64::from(min) {
                            println!(
                                "warning: the baseline itself scores below the floor {min}: the gate will trip on the service as it is"
                            );
                        }
                    }
                    gate = Some((Gate::new(b.floor, args.failures), std::time::Instant::now()));
                }
            }
            Some((g, _)) => {
                let state = g.observe(value);
                match state {
                    GateState::Pass => recent_below.clear(),
                    _ => recent_below.extend(value),
                }
                if let Some(s) = &score {
                    emit(
                        serde_json::json!({"schema": 1, "event": "sample", "phase": "gate", "t_s": t_s, "score": s.score, "floor": g.floor, "gate": state, "components": s.components, "missing": s.missing}),
                    );
                    if !args.json {
                        let verdict = match state {
                            GateState::Pass => "pass".to_string(),
                            GateState::Below {
                                consecutive,
                                needed,
                            } => format!("BELOW {consecutive}/{needed}"),
                            GateState::Tripped { consecutive } => {
                                format!("BELOW {consecutive}/{consecutive}")
                            }
                        };
                        println!(
                            "{t_s:>7.1}s  score {:>3}  floor {:>3}  {verdict:<10} {}",
                            s.score,
                            g.floor,
                            components_line(s)
                        );
                    }
                }
                if let GateState::Tripped { consecutive } = state {
                    emit(
                        serde_json::json!({"schema": 1, "event": "verdict", "result": "tripped", "floor": g.floor, "consecutive": consecutive, "scores": recent_below}),
                    );
                    if !args.json {
                        println!(
                            "TRIPPED: {consecutive} consecutive scores below the floor {} ({}): intervene",
                            g.floor,
                            recent_below
                                .iter()
                                .map(u32::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                    }
                    return Ok(ExitCode::from(super::EXIT_FINDINGS));
                }
            }
        }
    }
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
            for (name, why) in &s.missing_reasons {
                let _ = writeln!(out, "    {name}: {why}");
            }
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
