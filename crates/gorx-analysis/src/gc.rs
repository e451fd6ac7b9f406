//! GC diagnosis from gctrace runs: pauses, GC CPU, frequency, live-heap trend, pacing
//! against GOGC (memory-limit-driven GC), forced cycles, assists.
//!
//! Each [`GcRun`] (one process) is summarised on its own; findings from several runs
//! keep the most severe per id (the run is named in the evidence).

use crate::finding::{Evidence, Finding, Severity};
use crate::thresholds as t;
use gorx_formats::gctrace::{GcCycle, GcRun, GcTrace};
use serde::Serialize;
use serde_json::json;

const MIB: f64 = (1u64 << 20) as f64;

/// What the caller knows about the process's GC settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct GcOptions {
    /// GOGC, when known (`None`: assume the default 100). `Some(0)` means GOGC=off.
    pub gogc: Option<u32>,
}

/// Numbers describing one run; every rate is over the run's own window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GcSummary {
    pub run_index: usize,
    pub first_line: u64,
    /// The process identity of the run's lines in a merged log (pod, container, pid),
    /// empty for bare lines; see `gorx_formats::gctrace::runs`.
    pub source: String,
    pub cycles: usize,
    pub forced_cycles: usize,
    /// From the first cycle's start to the last cycle's start.
    pub window_ns: u64,
    /// Non-forced cycles per minute (0 when the window is too short to say).
    pub cycles_per_min: f64,
    pub pause_p50_ns: u64,
    pub pause_p99_ns: u64,
    pub pause_max_ns: u64,
    /// Cycles whose STW time reached GC_PAUSE_P99_WARNING_NS.
    pub long_pauses: usize,
    /// Cycles whose STW time reached GC_PAUSE_P99_CRITICAL_NS.
    pub long_critical_pauses: usize,
    /// GC CPU over the window × GOMAXPROCS, in percent.
    pub gc_cpu_percent: f64,
    /// The runtime's own cumulative GC CPU share at the last cycle (`N%` field).
    pub runtime_gc_cpu_percent: u32,
    /// Mark-assist CPU as a share of GC CPU.
    pub assist_share: f64,
    pub assist_cpu_ns: u64,
    pub gc_cpu_ns: u64,
    pub live_heap_first_bytes: u64,
    pub live_heap_last_bytes: u64,
    pub live_heap_max_bytes: u64,
    /// Theil–Sen slope of the live heap over time.
    pub live_heap_slope_bytes_per_min: f64,
    /// Kendall's tau of live heap vs time: 1 = rises every cycle, 0 = no trend.
    pub live_heap_tau: f64,
    /// Theil–Sen slopes over the first and the second half of the window (by time): a
    /// heap filling towards a size slows down, a leak keeps its pace.
    pub live_heap_first_half_slope_bytes_per_min: f64,
    pub live_heap_second_half_slope_bytes_per_min: f64,
    /// The first cycle's number (1 when the run holds the process's first cycle).
    pub first_cycle: u64,
    /// Process uptime at the first and last cycle (gctrace's `@`, seconds since start).
    pub uptime_first_ns: u64,
    pub uptime_last_ns: u64,
    /// Cycles starting within GC_ASSIST_WARMUP_UPTIME_NS of process start, their GC CPU and
    /// assist CPU (start-up against the minimum heap goal).
    pub startup_cycles: usize,
    pub startup_gc_cpu_ns: u64,
    pub startup_assist_ns: u64,
    /// Cycles whose goal sits well below the GOGC goal (memory-limit-driven).
    pub limit_driven_cycles: usize,
    /// Cycles where the GOGC comparison was possible.
    pub pacing_checked_cycles: usize,
    /// Median (goal − live) / live over the checked cycles.
    pub median_headroom: f64,
    pub gogc_assumed: u32,
    pub procs: u32,
}

/// Nearest rank: the smallest value with at least p of the data at or below it. A
/// selection, not a sort (reorders `v`).
fn percentile(v: &mut [u64], p: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    *v.select_nth_unstable(rank - 1).1
}

fn median_f64(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    // Selection, not a sort: Theil–Sen takes the median of up to 80k slopes.
    let n = v.len();
    let (below, &mut upper, _) = v.select_nth_unstable_by(n / 2, |a, b| a.total_cmp(b));
    if n % 2 == 1 {
        upper
    } else {
        let lower = below
            .iter()
            .copied()
            .max_by(|a, b| a.total_cmp(b))
            .unwrap_or(upper);
        (lower + upper) / 2.0
    }
}

/// At most this many points go into [`theil_sen`] (80k pairs).
const THEIL_SEN_MAX_POINTS: usize = 400;

/// The index of the `k`th point [`theil_sen`] keeps of `n`: all of a short series, else
/// [`THEIL_SEN_MAX_POINTS`] evenly spaced (strictly increasing in `k`).
fn theil_sen_sample(k: usize, n: usize) -> usize {
    if n > THEIL_SEN_MAX_POINTS {
        k * (n - 1) / (THEIL_SEN_MAX_POINTS - 1)
    } else {
        k
    }
}

/// Theil–Sen slope (median of pairwise slopes) and Kendall's tau of `(x, y)` points.
/// Long runs are subsampled evenly to at most [`THEIL_SEN_MAX_POINTS`].
pub fn theil_sen(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len();
    let pts: Vec<(f64, f64)> = (0..n.min(THEIL_SEN_MAX_POINTS))
        .map(|k| points[theil_sen_sample(k, n)])
        .collect();
    let mut slopes = Vec::with_capacity(pts.len() * pts.len() / 2);
    let (mut concordant, mut discordant, mut pairs) = (0i64, 0i64, 0i64);
    for i in 0..pts.len() {
        for j in i + 1..pts.len() {
            let dx = pts[j].0 - pts[i].0;
            let dy = pts[j].1 - pts[i].1;
            pairs += 1;
            if dy > 0.0 && dx >= 0.0 {
                concordant += 1;
            } else if dy < 0.0 && dx >= 0.0 {
                discordant += 1;
            }
            if dx > 0.0 {
                slopes.push(dy / dx);
            }
        }
    }
    let tau = if pairs > 0 {
        (concordant - discordant) as f64 / pairs as f64
    } else {
        0.0
    };
    (median_f64(&mut slopes), tau)
}

/// Theil–Sen slopes of the points in the first and the second half of their time span. A
/// half with a single point borrows the other half's nearest one (an idle server's
/// cycles are minutes apart: its second half may hold one cycle); 0 with fewer than 3
/// points in all.
fn half_slopes(points: &[(f64, f64)]) -> (f64, f64) {
    let (Some(a), Some(b)) = (points.first(), points.last()) else {
        return (0.0, 0.0);
    };
    if points.len() < 3 {
        return (0.0, 0.0);
    }
    let mid = (a.0 + b.0) / 2.0;
    let cut = points.partition_point(|p| p.0 < mid);
    let first = &points[..cut.max(2)];
    let second = &points[cut.min(points.len() - 2)..];
    (theil_sen(first).0, theil_sen(second).0)
}

/// The goal GOGC alone would set after a cycle with this live heap (Go 1.18+ pacer:
/// stacks and globals count toward the goal's growth).
fn gogc_goal_bytes(prev: &GcCycle, gogc: u32) -> f64 {
    let live = prev.heap_live_bytes() as f64;
    let roots =
        live + (prev.stacks_bytes().unwrap_or(0) + prev.globals_bytes().unwrap_or(0)) as f64;
    live + roots * f64::from(gogc) / 100.0
}

pub fn summarize(run: &GcRun, run_index: usize, opts: GcOptions) -> GcSummary {
    let c = run.cycles;
    let n = c.len();
    let gogc = opts.gogc.unwrap_or(t::GC_DEFAULT_GOGC);
    let window_ns = match (c.first(), c.last()) {
        (Some(a), Some(b)) => b.at_ns().saturating_sub(a.at_ns()),
        _ => 0,
    };
    let procs = c.last().map_or(1, |x| x.procs().max(1));
    // One pass over the cycles: a 1 GB single-process log is one run of 7.5 M cycles
    // (665 MB), and each further pass cost about 4% of `gorx gc` on it.
    let mut pauses: Vec<u64> = Vec::with_capacity(n);
    let (mut forced, mut unforced_after_first) = (0, 0);
    let (mut gc_cpu_ns, mut assist_ns) = (0u64, 0u64);
    // CPU of every cycle that starts inside the window [first.at, last.at).
    let mut window_cpu_ns = 0u64;
    let mut procs_sum = 0f64;
    let mut live_max = 0u64;
    // Only the points Theil–Sen keeps (it keeps all of these).
    let mut points: Vec<(f64, f64)> = Vec::with_capacity(n.min(THEIL_SEN_MAX_POINTS));
    let mut limit_driven = 0;
    let mut checked = 0;
    let mut headrooms = Vec::new();
    let mut prev: Option<&GcCycle> = None;
    let (mut startup_cycles, mut startup_cpu_ns, mut startup_assist_ns) = (0, 0u64, 0u64);
    for (i, x) in c.iter().enumerate() {
        pauses.push(x.stw_ns());
        if x.at_ns() < t::GC_ASSIST_WARMUP_UPTIME_NS {
            startup_cycles += 1;
            startup_cpu_ns += x.cpu_ns();
            startup_assist_ns += x.cpu_assist_ns();
        }
        if x.forced() {
            forced += 1;
        } else if i > 0 {
            unforced_after_first += 1;
        }
        let cpu = x.cpu_ns();
        gc_cpu_ns += cpu;
        assist_ns += x.cpu_assist_ns();
        if i + 1 < n {
            window_cpu_ns += cpu;
            procs_sum += f64::from(x.procs());
        }
        live_max = live_max.max(x.heap_live_bytes());
        if points.len() < THEIL_SEN_MAX_POINTS && i == theil_sen_sample(points.len(), n) {
            points.push((x.at_ns() as f64 / 60e9, x.heap_live_bytes() as f64));
        }
        // A forced cycle's goal is not what the pacer would have chosen.
        if let Some(prev) = prev.replace(x)
            && !x.forced()
        {
            let want = gogc_goal_bytes(prev, gogc);
            if gogc == 0 || want >= t::GC_LIMIT_MIN_GOGC_GOAL_BYTES as f64 {
                checked += 1;
                if gogc == 0 || (x.heap_goal_bytes() as f64) < want * t::GC_LIMIT_DRIVEN_GOAL_RATIO
                {
                    limit_driven += 1;
                }
                if prev.heap_live_bytes() > 0 {
                    headrooms.push(
                        (x.heap_goal_bytes() as f64 - prev.heap_live_bytes() as f64)
                            / prev.heap_live_bytes() as f64,
                    );
                }
            }
        }
    }
    let avg_procs = if n > 1 {
        procs_sum / (n - 1) as f64
    } else {
        f64::from(procs)
    };
    let gc_cpu_percent = if window_ns > 0 {
        100.0 * window_cpu_ns as f64 / (window_ns as f64 * avg_procs)
    } else {
        0.0
    };
    let cycles_per_min = if window_ns > 0 {
        unforced_after_first as f64 * 60e9 / window_ns as f64
    } else {
        0.0
    };
    let (slope, tau) = theil_sen(&points);
    let (first_half_slope, second_half_slope) = half_slopes(&points);
    let ps = PauseStats::of_vec(pauses);
    GcSummary {
        run_index,
        first_line: run.first_line,
        cycles: c.len(),
        forced_cycles: forced,
        window_ns,
        cycles_per_min,
        pause_p50_ns: ps.p50_ns,
        pause_p99_ns: ps.p99_ns,
        pause_max_ns: ps.max_ns,
        long_pauses: ps.long,
        long_critical_pauses: ps.long_critical,
        gc_cpu_percent,
        runtime_gc_cpu_percent: c.last().map_or(0, |x| x.cumulative_cpu_percent()),
        assist_share: if gc_cpu_ns > 0 {
            assist_ns as f64 / gc_cpu_ns as f64
        } else {
            0.0
        },
        gc_cpu_ns,
        assist_cpu_ns: assist_ns,
        live_heap_first_bytes: c.first().map_or(0, |x| x.heap_live_bytes()),
        live_heap_last_bytes: c.last().map_or(0, |x| x.heap_live_bytes()),
        live_heap_max_bytes: live_max,
        live_heap_slope_bytes_per_min: slope,
        live_heap_tau: tau,
        live_heap_first_half_slope_bytes_per_min: first_half_slope,
        live_heap_second_half_slope_bytes_per_min: second_half_slope,
        first_cycle: c.first().map_or(0, |x| x.n()),
        uptime_first_ns: c.first().map_or(0, |x| x.at_ns()),
        uptime_last_ns: c.last().map_or(0, |x| x.at_ns()),
        startup_cycles,
        startup_gc_cpu_ns: startup_cpu_ns,
        startup_assist_ns,
        limit_driven_cycles: limit_driven,
        pacing_checked_cycles: checked,
        median_headroom: median_f64(&mut headrooms),
        gogc_assumed: gogc,
        procs,
        source: run.source.to_string(),
    }
}

/// Summaries of every run, in run order. Runs are summarised in parallel (rayon): a
/// restart-heavy log holds tens of thousands of runs, each with its Theil–Sen fit.
pub fn summaries(trace: &GcTrace, opts: GcOptions) -> Vec<GcSummary> {
    use rayon::prelude::*;
    (0..trace.run_count())
        .into_par_iter()
        .filter_map(|i| Some(summarize(&trace.run(i)?, i, opts)))
        .collect()
}

/// Findings from gctrace runs, assuming the default GOGC.
pub fn gc_findings(trace: &GcTrace, source: &str) -> Vec<Finding> {
    gc_findings_with(trace, source, GcOptions::default())
}

pub fn gc_findings_with(trace: &GcTrace, source: &str, opts: GcOptions) -> Vec<Finding> {
    findings_of_summaries(&summaries(trace, opts), source)
}

/// The findings of runs already summarised ([`summaries`]): for each id, the most
/// severe one across runs.
pub fn findings_of_summaries(summaries: &[GcSummary], source: &str) -> Vec<Finding> {
    let mut best: Vec<Finding> = Vec::new();
    for s in summaries {
        for f in run_findings(s, summaries.len(), source) {
            match best.iter_mut().find(|b| b.id == f.id) {
                Some(b) if f.severity > b.severity => *b = f,
                Some(_) => {}
                None => best.push(f),
            }
        }
    }
    best
}

fn mib(b: impl Into<f64>) -> f64 {
    b.into() / MIB
}

fn finding(
    id: &'static str,
    severity: Severity,
    title: String,
    evidence: Evidence,
    recommendation: String,
    source: &str,
) -> Finding {
    Finding {
        id,
        severity,
        title,
        evidence,
        recommendation,
        sources: vec![source.to_string()],
        sites: Vec::new(),
    }
}

fn base_evidence(s: &GcSummary, runs: usize) -> Evidence {
    let mut e = Evidence::new();
    e.insert("cycles".into(), json!(s.cycles));
    e.insert("window_ns".into(), json!(s.window_ns));
    if runs > 1 {
        e.insert("run_index".into(), json!(s.run_index));
        e.insert("run_first_line".into(), json!(s.first_line));
        if !s.source.is_empty() {
            e.insert("run_source".into(), json!(s.source));
        }
    }
    e
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// What to do about long stop-the-world pauses, whatever reported them.
pub const PAUSE_ADVICE: &str = "Long STW phases usually mean the process was not on a CPU when the world stopped: check CFS throttling and host CPU pressure (load vs CPUs, /proc/pressure/cpu) and set GOMAXPROCS to the CPU quota if there is one; otherwise look for tight loops without function calls (non-preemptible before Go 1.14) and for huge numbers of goroutines or finalizers.";

/// Per-cycle stop-the-world pauses of one process (gctrace, MemStats `PauseNs`), judged on
/// the one pause table (thresholds `GC_PAUSE_*`, `PAUSE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PauseStats {
    /// Pauses seen.
    pub n: usize,
    pub p50_ns: u64,
    /// Nearest-rank P99 (the maximum when `n` < 100).
    pub p99_ns: u64,
    pub max_ns: u64,
    /// Pauses at or above GC_PAUSE_P99_WARNING_NS.
    pub long: usize,
    /// Pauses at or above GC_PAUSE_P99_CRITICAL_NS.
    pub long_critical: usize,
}

impl PauseStats {
    pub fn of(pauses: &[u64]) -> Self {
        Self::of_vec(pauses.to_vec())
    }

    /// [`PauseStats::of`] without the copy (a 1 GB gctrace log has millions of pauses).
    pub fn of_vec(mut v: Vec<u64>) -> Self {
        PauseStats {
            n: v.len(),
            long: v
                .iter()
                .filter(|&&p| p >= t::GC_PAUSE_P99_WARNING_NS)
                .count(),
            long_critical: v
                .iter()
                .filter(|&&p| p >= t::GC_PAUSE_P99_CRITICAL_NS)
                .count(),
            max_ns: v.iter().copied().max().unwrap_or(0),
            p50_ns: percentile(&mut v, 0.50),
            p99_ns: percentile(&mut v, 0.99),
        }
    }

    /// Whether there are enough pauses for a percentile (else it is the maximum of N).
    pub fn has_percentile(&self) -> bool {
        self.n >= t::PAUSE_PERCENTILE_MIN_SAMPLES
    }

    /// The verdict: one pause at GC_PAUSE_MAX_CRITICAL_NS is critical; a pattern (a P99 at
    /// the warning bar with at least PAUSE_WARNING_MIN_LONG pauses there, or that many
    /// pauses there when too few for a P99) is a warning, critical at the P99 critical
    /// bar; a single slow stop is info. `None` below the warning bar.
    pub fn severity(&self) -> Option<Severity> {
        if self.n == 0 {
            return None;
        }
        let (pattern, critical_pattern) = if self.has_percentile() {
            (
                self.p99_ns >= t::GC_PAUSE_P99_WARNING_NS && self.long >= t::PAUSE_WARNING_MIN_LONG,
                self.p99_ns >= t::GC_PAUSE_P99_CRITICAL_NS
                    && self.long_critical >= t::PAUSE_WARNING_MIN_LONG,
            )
        } else {
            (
                self.long >= t::PAUSE_WARNING_MIN_LONG,
                self.long_critical >= t::PAUSE_WARNING_MIN_LONG,
            )
        };
        if self.max_ns >= t::GC_PAUSE_MAX_CRITICAL_NS || critical_pattern {
            Some(Severity::Critical)
        } else if pattern {
            Some(Severity::Warning)
        } else if self.max_ns >= t::GC_PAUSE_P99_WARNING_NS {
            Some(Severity::Info)
        } else {
            None
        }
    }

    /// "P99 26.0 ms, max 48.0 ms (P50 0.30 ms) over 256 pauses", or with too few pauses
    /// for a percentile "max 12.0 ms of 8 pauses (2 at or above 10 ms; P50 0.30 ms)".
    pub fn describe(&self) -> String {
        if self.has_percentile() {
            format!(
                "P99 {:.1} ms, max {:.1} ms (P50 {:.2} ms) over {} pauses",
                self.p99_ns as f64 / 1e6,
                self.max_ns as f64 / 1e6,
                self.p50_ns as f64 / 1e6,
                self.n
            )
        } else {
            format!(
                "max {:.1} ms of {} pauses ({} at or above {:.0} ms; P50 {:.2} ms; too few for a P99)",
                self.max_ns as f64 / 1e6,
                self.n,
                self.long,
                t::GC_PAUSE_P99_WARNING_NS as f64 / 1e6,
                self.p50_ns as f64 / 1e6,
            )
        }
    }

    /// `pauses`, `pause_p50_ns`, `pause_max_ns`, `long_pauses`, and `pause_p99_ns` when
    /// there are enough pauses for it.
    pub fn add_evidence(&self, e: &mut Evidence) {
        e.insert("pauses".into(), json!(self.n));
        e.insert("pause_p50_ns".into(), json!(self.p50_ns));
        if self.has_percentile() {
            e.insert("pause_p99_ns".into(), json!(self.p99_ns));
        }
        e.insert("pause_max_ns".into(), json!(self.max_ns));
        e.insert("long_pauses".into(), json!(self.long));
    }
}

impl GcSummary {
    /// The run's pauses (one per cycle) as the pause table judges them.
    pub fn pause_stats(&self) -> PauseStats {
        PauseStats {
            n: self.cycles,
            p50_ns: self.pause_p50_ns,
            p99_ns: self.pause_p99_ns,
            max_ns: self.pause_max_ns,
            long: self.long_pauses,
            long_critical: self.long_critical_pauses,
        }
    }
}

/// Findings for one summarised run.
pub fn run_findings(s: &GcSummary, runs: usize, source: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let enough = s.cycles >= t::GC_MIN_CYCLES && s.window_ns >= t::GC_MIN_WINDOW_NS;

    // Pacing against GOGC first: when the limit drives the GC, frequency and CPU are
    // its symptoms and are folded into it.
    let mut thrash = false;
    if enough && s.pacing_checked_cycles >= t::GC_MIN_CYCLES {
        let share = s.limit_driven_cycles as f64 / s.pacing_checked_cycles as f64;
        if share >= t::GC_LIMIT_DRIVEN_MIN_SHARE && s.median_headroom < t::GC_THRASH_MAX_HEADROOM {
            thrash = true;
            let sev = if s.gc_cpu_percent >= t::GC_CPU_CRITICAL_PERCENT {
                Severity::Critical
            } else {
                Severity::Warning
            };
            let mut e = base_evidence(s, runs);
            e.insert("limit_driven_cycles".into(), json!(s.limit_driven_cycles));
            e.insert("checked_cycles".into(), json!(s.pacing_checked_cycles));
            e.insert(
                "median_headroom_percent".into(),
                json!(round1(100.0 * s.median_headroom)),
            );
            e.insert("gogc_assumed".into(), json!(s.gogc_assumed));
            e.insert("live_heap_last_bytes".into(), json!(s.live_heap_last_bytes));
            e.insert("live_heap_max_bytes".into(), json!(s.live_heap_max_bytes));
            e.insert("gc_cpu_percent".into(), json!(round1(s.gc_cpu_percent)));
            e.insert("cycles_per_min".into(), json!(round1(s.cycles_per_min)));
            // GOGC=100-equivalent room: twice the live heap, rounded up to 16 MiB.
            let want = ((2 * s.live_heap_max_bytes).div_ceil(16 << 20) * 16).max(16);
            out.push(finding(
                "gc.memlimit-thrash",
                sev,
                format!(
                    "GC is driven by the memory limit: {} of {} cycles ran with a goal below the GOGC={} goal, median headroom {:.0}% over a {:.0} MiB live heap, {:.0} cycles/min, GC CPU {:.1}%",
                    s.limit_driven_cycles,
                    s.pacing_checked_cycles,
                    s.gogc_assumed,
                    100.0 * s.median_headroom,
                    mib(s.live_heap_max_bytes as f64),
                    s.cycles_per_min,
                    s.gc_cpu_percent
                ),
                e,
                format!(
                    "The live heap ({:.0} MiB) sits just under GOMEMLIMIT, so the GC runs back to back. Raise GOMEMLIMIT to at least {want} MiB (twice the live heap) and the container limit with it, or shrink the live heap (see the heap profile's top in-use sites).",
                    mib(s.live_heap_max_bytes as f64)
                ),
                source,
            ));
        }
    }

    if enough && !thrash {
        if s.gc_cpu_percent >= t::GC_CPU_WARNING_PERCENT {
            let sev = if s.gc_cpu_percent >= t::GC_CPU_CRITICAL_PERCENT {
                Severity::Critical
            } else {
                Severity::Warning
            };
            let mut e = base_evidence(s, runs);
            e.insert("gc_cpu_percent".into(), json!(round1(s.gc_cpu_percent)));
            e.insert(
                "runtime_gc_cpu_percent".into(),
                json!(s.runtime_gc_cpu_percent),
            );
            e.insert("gc_cpu_ns".into(), json!(s.gc_cpu_ns));
            e.insert("gomaxprocs".into(), json!(s.procs));
            out.push(finding(
                "gc.high-cpu",
                sev,
                format!(
                    "GC uses {:.1}% of CPU ({} cycles over {:.1} s with GOMAXPROCS={})",
                    s.gc_cpu_percent,
                    s.cycles,
                    s.window_ns as f64 / 1e9,
                    s.procs
                ),
                e,
                format!(
                    "Raise GOGC (e.g. GOGC={}) with a GOMEMLIMIT as a safety net, or cut allocation: `gorx pprof top --sample-index alloc_space` on an allocs profile shows where.",
                    recommended_gogc(s)
                ),
                source,
            ));
        }
        if s.cycles_per_min >= t::GC_FREQUENT_PER_MIN
            && s.gc_cpu_percent >= t::GC_FREQUENT_MIN_CPU_PERCENT
        {
            let mut e = base_evidence(s, runs);
            e.insert("cycles_per_min".into(), json!(round1(s.cycles_per_min)));
            e.insert("gc_cpu_percent".into(), json!(round1(s.gc_cpu_percent)));
            e.insert("live_heap_last_bytes".into(), json!(s.live_heap_last_bytes));
            let g = recommended_gogc(s);
            out.push(finding(
                "gc.frequent",
                Severity::Warning,
                format!(
                    "GC runs {:.0} times a minute over a {:.0} MiB live heap",
                    s.cycles_per_min,
                    mib(s.live_heap_last_bytes as f64)
                ),
                e,
                format!(
                    "Set GOGC={g} (about {:.0} cycles/min at this allocation rate, heap peak ≈ {:.0} MiB) and GOMEMLIMIT to cap memory; or allocate less.",
                    t::GC_TARGET_PER_MIN.max(s.cycles_per_min * 100.0 / f64::from(g)),
                    mib(s.live_heap_last_bytes as f64) * (1.0 + f64::from(g) / 100.0)
                ),
                source,
            ));
        }
    }

    if s.cycles >= t::GC_MIN_CYCLES {
        let p = s.pause_stats();
        if let Some(sev) = p.severity() {
            let mut e = base_evidence(s, runs);
            p.add_evidence(&mut e);
            out.push(finding(
                "gc.long-pause",
                sev,
                format!("GC stop-the-world pauses: {}", p.describe()),
                e,
                PAUSE_ADVICE.into(),
                source,
            ));
        }
    }

    out.extend(assist_finding(s, runs, source));

    if enough {
        out.extend(heap_growth_finding(s, runs, source));
    }

    if s.forced_cycles >= t::GC_FORCED_MIN_CYCLES {
        let share = s.forced_cycles as f64 / s.cycles as f64;
        let per_min = if s.window_ns > 0 {
            s.forced_cycles as f64 * 60e9 / s.window_ns as f64
        } else {
            0.0
        };
        let sev = if share >= t::GC_FORCED_WARNING_SHARE
            || (s.window_ns >= t::GC_MIN_WINDOW_NS && per_min >= t::GC_FORCED_WARNING_PER_MIN)
        {
            Severity::Warning
        } else {
            Severity::Info
        };
        let mut e = base_evidence(s, runs);
        e.insert("forced_cycles".into(), json!(s.forced_cycles));
        e.insert("forced_share_percent".into(), json!(round1(100.0 * share)));
        e.insert("forced_per_min".into(), json!(round1(per_min)));
        out.push(finding(
            "gc.forced",
            sev,
            format!(
                "{} of {} GC cycles were forced (runtime.GC / debug.FreeOSMemory), {:.1} per minute",
                s.forced_cycles, s.cycles, per_min
            ),
            e,
            "Remove explicit runtime.GC() and debug.FreeOSMemory() calls (a CPU or block profile shows the caller under runtime.GC); to return memory to the OS set GOMEMLIMIT instead, the scavenger does the rest.".into(),
            source,
        ));
    }
    out
}

/// How a rising live heap reads: the shape of the rise and where it lies in the
/// process's life decide between warm-up and a leak suspect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeapRise {
    /// The second half's slope fell to a fraction of the first half's: filling towards a size.
    LevellingOff,
    /// Steady, but the whole window lies in start-up with too few cycles to tell.
    StartUp,
    /// Steady over many cycles or by a large amount, but still in start-up: a suspect,
    /// never critical.
    StartUpSustained,
    /// Steady after start-up.
    Sustained,
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Minutes, for titles: "45 s", "3 min".
fn span(ns: u64) -> String {
    if ns < 120_000_000_000 {
        format!("{:.0} s", ns as f64 / 1e9)
    } else {
        format!("{:.0} min", ns as f64 / 60e9)
    }
}

/// gc.heap-growth: the live heap's trend across the run. A leak needs sustained growth:
/// the slope holds across the window (the second half's is not far below the first
/// half's), over enough cycles, after start-up. Growth that decelerates is a working set
/// filling towards its size; growth that lies in start-up (the process's first
/// GC_HEAP_STARTUP_UPTIME_NS, gctrace's `@` being uptime) is caches, heads and buffers
/// filling: info with "re-check", unless sustained over many cycles (warning at most).
fn heap_growth_finding(s: &GcSummary, runs: usize, source: &str) -> Option<Finding> {
    let growth = s.live_heap_slope_bytes_per_min * s.window_ns as f64 / 60e9;
    let base = (s.live_heap_first_bytes as f64).max(MIB);
    if !(s.live_heap_slope_bytes_per_min > 0.0
        && growth >= t::GC_HEAP_GROWTH_MIN_BYTES as f64
        && growth / base >= t::GC_HEAP_GROWTH_MIN_RATIO
        && s.live_heap_tau >= t::GC_HEAP_GROWTH_MIN_TAU)
    {
        return None;
    }
    let (h1, h2) = (
        s.live_heap_first_half_slope_bytes_per_min,
        s.live_heap_second_half_slope_bytes_per_min,
    );
    let startup = s.uptime_last_ns < t::GC_HEAP_STARTUP_UPTIME_NS;
    let rise = if h1 > 0.0 && h2 <= t::GC_HEAP_WARMUP_DECEL_RATIO * h1 {
        HeapRise::LevellingOff
    } else if startup {
        if (s.cycles >= t::GC_HEAP_STARTUP_LEAK_MIN_CYCLES
            || growth >= t::GC_HEAP_STARTUP_LEAK_MIN_BYTES as f64)
            && s.live_heap_tau >= t::GC_HEAP_STARTUP_LEAK_MIN_TAU
        {
            HeapRise::StartUpSustained
        } else {
            HeapRise::StartUp
        }
    } else {
        HeapRise::Sustained
    };
    let sev = match rise {
        HeapRise::LevellingOff | HeapRise::StartUp => Severity::Info,
        HeapRise::StartUpSustained => Severity::Warning,
        HeapRise::Sustained if growth / base >= t::GC_HEAP_GROWTH_CRITICAL_RATIO => {
            Severity::Critical
        }
        HeapRise::Sustained => Severity::Warning,
    };
    let mut e = base_evidence(s, runs);
    e.insert(
        "live_heap_first_bytes".into(),
        json!(s.live_heap_first_bytes),
    );
    e.insert("live_heap_last_bytes".into(), json!(s.live_heap_last_bytes));
    e.insert(
        "live_heap_slope_bytes_per_min".into(),
        json!(s.live_heap_slope_bytes_per_min.round()),
    );
    e.insert(
        "live_heap_first_half_slope_bytes_per_min".into(),
        json!(h1.round()),
    );
    e.insert(
        "live_heap_second_half_slope_bytes_per_min".into(),
        json!(h2.round()),
    );
    e.insert("live_heap_trend_growth_bytes".into(), json!(growth.round()));
    e.insert(
        "kendall_tau".into(),
        json!((s.live_heap_tau * 100.0).round() / 100.0),
    );
    e.insert("uptime_last_ns".into(), json!(s.uptime_last_ns));
    let (a, b) = (
        mib(s.live_heap_first_bytes as f64),
        mib(s.live_heap_last_bytes as f64),
    );
    // Re-check once the process has run three times as long, and past start-up.
    let recheck_min = (3 * s.uptime_last_ns)
        .max(t::GC_HEAP_STARTUP_UPTIME_NS)
        .div_ceil(60_000_000_000);
    let diff_advice = "take two heap profiles minutes apart and diff them (`gorx pprof top --base old.pb.gz new.pb.gz`, sample inuse_space); the growing site is what keeps memory reachable (caches without eviction, maps that only grow, goroutines holding buffers).";
    let (title, advice) = match rise {
        HeapRise::LevellingOff => (
            format!(
                "Live heap grew {a:.0} → {b:.0} MiB {} and is levelling off ({:+.1} → {:+.1} MiB/min from the first half to the second): {}, not a leak; re-check after {recheck_min} min",
                if startup {
                    format!("in the first {}", span(s.uptime_last_ns))
                } else {
                    format!("over {}", span(s.window_ns))
                },
                h1 / MIB,
                h2 / MIB,
                if startup {
                    "warm-up"
                } else {
                    "a working set settling"
                },
            ),
            format!(
                "Nothing to do now. A leak keeps its pace: if a log taken after {recheck_min} min of uptime still shows the live heap rising, {diff_advice}"
            ),
        ),
        HeapRise::StartUp => (
            format!(
                "Live heap grew {a:.0} → {b:.0} MiB in the process's first {} ({} cycles, trend {:+.1} MiB/min): start-up, too early to tell a cache filling from a leak; re-check after {recheck_min} min",
                span(s.uptime_last_ns),
                s.cycles,
                s.live_heap_slope_bytes_per_min / MIB,
            ),
            format!(
                "Caches, TSDB heads, pools and write buffers fill after start. Take a gctrace log past {recheck_min} min of uptime: if the live heap still rises at this pace, {diff_advice}"
            ),
        ),
        HeapRise::StartUpSustained => (
            format!(
                "Live heap rose steadily {a:.0} → {b:.0} MiB through the process's first {} ({} cycles, trend {:+.1} MiB/min, tau {:.2}, not slowing): a leak suspect unless a cache is still filling; re-check after {recheck_min} min",
                span(s.uptime_last_ns),
                s.cycles,
                s.live_heap_slope_bytes_per_min / MIB,
                s.live_heap_tau
            ),
            format!("A leak suspect still in start-up: {diff_advice}"),
        ),
        HeapRise::Sustained => (
            format!(
                "Live heap after GC keeps rising: {a:.0} → {b:.0} MiB over {} (trend {:+.1} MiB/min, tau {:.2}, not slowing)",
                span(s.window_ns),
                s.live_heap_slope_bytes_per_min / MIB,
                s.live_heap_tau
            ),
            format!("A leak suspect: {diff_advice}"),
        ),
    };
    Some(finding("gc.heap-growth", sev, title, e, advice, source))
}

/// gc.assist-heavy. The cycles of the first GC_ASSIST_WARMUP_UPTIME_NS run against the
/// 4 MiB minimum goal while the program loads its state: the pacer has no history and
/// drafts allocating goroutines, which is start-up, not request-path latency. The share is
/// judged on the cycles after it; assists only there are info at most. Assists must also
/// cost GC_ASSIST_MIN_CPU_PERCENT of the CPU capacity to be a finding at all.
fn assist_finding(s: &GcSummary, runs: usize, source: &str) -> Option<Finding> {
    let heavy = |cycles: usize, cpu: u64, assist: u64| {
        cycles >= t::GC_MIN_CYCLES
            && cpu >= t::GC_ASSIST_MIN_CPU_NS_PER_CYCLE * cycles as u64
            && assist as f64 >= t::GC_ASSIST_WARNING_SHARE * cpu as f64
    };
    let share = |assist: u64, cpu: u64| {
        if cpu > 0 {
            assist as f64 / cpu as f64
        } else {
            0.0
        }
    };
    let steady_cycles = s.cycles - s.startup_cycles.min(s.cycles);
    let steady_cpu = s.gc_cpu_ns.saturating_sub(s.startup_gc_cpu_ns);
    let steady_assist = s.assist_cpu_ns.saturating_sub(s.startup_assist_ns);
    let steady_share = share(steady_assist, steady_cpu);
    let mut e = base_evidence(s, runs);
    e.insert(
        "assist_share_percent".into(),
        json!(round1(100.0 * s.assist_share)),
    );
    e.insert("gc_cpu_ns".into(), json!(s.gc_cpu_ns));
    if s.startup_cycles > 0 {
        e.insert("startup_cycles".into(), json!(s.startup_cycles));
        e.insert("startup_assist_cpu_ns".into(), json!(s.startup_assist_ns));
        e.insert(
            "after_startup_assist_share_percent".into(),
            json!(round1(100.0 * steady_share)),
        );
    }
    let advice = format!(
        "Give the GC more room (GOGC={} or a higher GOMEMLIMIT) so background workers finish marking before the goal, and reduce allocation bursts on latency-sensitive paths.",
        recommended_gogc(s)
    );
    if heavy(steady_cycles, steady_cpu, steady_assist) {
        // A large share of almost no GC work drafts nobody for long.
        if s.gc_cpu_percent * steady_share < t::GC_ASSIST_MIN_CPU_PERCENT {
            return None;
        }
        let sev = if steady_share >= t::GC_ASSIST_CRITICAL_SHARE {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let title = if s.startup_cycles > 0 {
            format!(
                "Mark assists do {:.0}% of GC CPU after start-up ({} cycles): allocating goroutines are drafted into marking",
                100.0 * steady_share,
                steady_cycles
            )
        } else {
            format!(
                "Mark assists do {:.0}% of GC CPU: allocating goroutines are drafted into marking",
                100.0 * s.assist_share
            )
        };
        return Some(finding("gc.assist-heavy", sev, title, e, advice, source));
    }
    if s.startup_cycles > 0 && heavy(s.cycles, s.gc_cpu_ns, s.assist_cpu_ns) {
        return Some(finding(
            "gc.assist-heavy",
            Severity::Info,
            format!(
                "Mark assists ({:.0}% of GC CPU) come from start-up: {} in the first {:.1} s ran against the 4 MiB minimum goal; the {} after it ({:.0}% assists) are too few or too cheap to judge. Warm-up, not request latency",
                100.0 * s.assist_share,
                plural(s.startup_cycles, "cycle"),
                t::GC_ASSIST_WARMUP_UPTIME_NS as f64 / 1e9,
                plural(steady_cycles, "cycle"),
                100.0 * steady_share
            ),
            e,
            "Nothing to do: start-up assists stop once the heap has grown past the minimum goal. Judge assists on a log taken after start-up.".into(),
            source,
        ));
    }
    None
}

/// A GOGC that brings the cycle rate near GC_TARGET_PER_MIN, never below 100 + 50.
fn recommended_gogc(s: &GcSummary) -> u32 {
    let cur = f64::from(s.gogc_assumed.max(1));
    let factor = (s.cycles_per_min / t::GC_TARGET_PER_MIN).max(1.5);
    let g = (cur * factor / 50.0).ceil() * 50.0;
    (g as u32).clamp(150, t::GC_MAX_RECOMMENDED_GOGC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gorx_formats::gctrace::GcCycleFields;

    /// One run of these cycles.
    fn trace_of(cycles: &[GcCycleFields]) -> GcTrace {
        let packed: Vec<GcCycle> = cycles.iter().map(|c| c.try_into().unwrap()).collect();
        let mut t = GcTrace::default();
        t.push_run(1, "", &packed);
        t
    }

    fn cycle(n: u64, at_ms: u64, live_mib: u64, goal_mib: u64) -> GcCycleFields {
        GcCycleFields {
            n,
            at_ns: at_ms * 1_000_000,
            clock_sweep_term_ns: 50_000,
            clock_mark_ns: 1_000_000,
            clock_mark_term_ns: 50_000,
            cpu_background_ns: 500_000,
            heap_live_bytes: live_mib << 20,
            heap_goal_bytes: goal_mib << 20,
            heap_start_bytes: goal_mib << 20,
            heap_end_bytes: goal_mib << 20,
            stacks_bytes: Some(0),
            globals_bytes: Some(0),
            procs: 4,
            ..Default::default()
        }
    }

    #[test]
    fn median_by_selection_equals_median_by_sort() {
        // Deterministic pseudo-random lengths and values, duplicates included.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 1..200usize {
            let mut v: Vec<f64> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % 50) as f64 - 25.0
                })
                .collect();
            let mut sorted = v.clone();
            sorted.sort_by(|a, b| a.total_cmp(b));
            let want = if len % 2 == 1 {
                sorted[len / 2]
            } else {
                (sorted[len / 2 - 1] + sorted[len / 2]) / 2.0
            };
            assert_eq!(median_f64(&mut v), want, "len {len}");
        }
        assert_eq!(median_f64(&mut []), 0.0);
    }

    #[test]
    fn percentile_selects_the_nearest_rank() {
        let mut seed = 7u64;
        for len in 1..200 {
            let v: Vec<u64> = (0..len)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (seed >> 33) % 50
                })
                .collect();
            let mut sorted = v.clone();
            sorted.sort_unstable();
            for p in [0.0, 0.01, 0.5, 0.9, 0.99, 1.0] {
                let rank = ((p * len as f64).ceil() as usize).clamp(1, len);
                assert_eq!(percentile(&mut v.clone(), p), sorted[rank - 1], "{len} {p}");
            }
        }
        assert_eq!(percentile(&mut [], 0.5), 0);
    }

    #[test]
    fn theil_sen_is_robust() {
        let mut pts: Vec<(f64, f64)> = (0..50).map(|i| (i as f64, 2.0 * i as f64)).collect();
        pts[10].1 = 1e9; // one outlier
        let (slope, tau) = theil_sen(&pts);
        assert!((slope - 2.0).abs() < 1e-9);
        assert!(tau > 0.9);
        let flat: Vec<(f64, f64)> = (0..50).map(|i| (i as f64, (i % 3) as f64)).collect();
        assert!(theil_sen(&flat).1.abs() < 0.2);
    }

    #[test]
    fn growing_heap_and_forced_cycles() {
        let cycles: Vec<GcCycleFields> = (0..60)
            .map(|i| {
                let mut c = cycle(i + 1, i * 1000, 10 + i, 2 * (10 + i));
                c.forced = i % 10 == 0;
                c
            })
            .collect();
        let trace = trace_of(&cycles);
        let run = trace.run(0).unwrap();
        let f = gc_findings(&trace, "log");
        let ids: Vec<_> = f.iter().map(|f| f.id).collect();
        assert!(ids.contains(&"gc.heap-growth"), "{ids:?}");
        assert!(ids.contains(&"gc.forced"));
        assert!(!ids.contains(&"gc.memlimit-thrash"));
        let s = summarize(&run, 0, GcOptions::default());
        assert_eq!(s.pause_max_ns, 100_000);
        assert!((s.live_heap_slope_bytes_per_min - 60.0 * MIB).abs() < 1.0);
    }

    #[test]
    fn limit_driven_gc_is_thrash_not_growth() {
        // Live 60 MiB, goal 62 MiB every cycle, 10 cycles a second.
        let cycles: Vec<GcCycleFields> = (0..200)
            .map(|i| {
                let mut c = cycle(i + 1, i * 100, 60, 62);
                c.cpu_background_ns = 150_000_000;
                c
            })
            .collect();
        let f = gc_findings(&trace_of(&cycles), "log");
        let ids: Vec<_> = f.iter().map(|f| f.id).collect();
        assert_eq!(ids, ["gc.memlimit-thrash"], "{f:#?}");
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(
            f[0].recommendation
                .contains("GOMEMLIMIT to at least 128 MiB")
        );
    }

    fn heap_growth(f: &[Finding]) -> Option<&Finding> {
        f.iter().find(|f| f.id == "gc.heap-growth")
    }

    /// A heap filling towards a size from process start (prometheus' TSDB head: 2 → 18 MiB
    /// in its first 3 min): warm-up, info. The old code called it critical.
    #[test]
    fn start_up_growth_that_levels_off_is_warm_up() {
        let cycles: Vec<GcCycleFields> = (0..90)
            .map(|i| {
                let t = i as f64 * 2.0; // s
                let live = 2.0 + 16.0 * (1.0 - (-t / 40.0).exp());
                cycle(
                    i + 1,
                    (t * 1000.0) as u64 + 50,
                    live as u64,
                    2 * live as u64 + 4,
                )
            })
            .collect();
        let f = gc_findings(&trace_of(&cycles), "log");
        let g = heap_growth(&f).expect("gc.heap-growth");
        assert_eq!(g.severity, Severity::Info, "{g:#?}");
        assert!(g.title.contains("levelling off"), "{}", g.title);
        assert!(g.title.contains("warm-up, not a leak"), "{}", g.title);
        assert!(g.title.contains("re-check after"), "{}", g.title);
        // The same shape long after start-up is a working set settling, still info.
        let late: Vec<GcCycleFields> = cycles
            .iter()
            .map(|c| GcCycleFields {
                at_ns: c.at_ns + 3_600_000_000_000,
                ..c.clone()
            })
            .collect();
        let f = gc_findings(&trace_of(&late), "log");
        let g = heap_growth(&f).expect("gc.heap-growth");
        assert_eq!(g.severity, Severity::Info, "{g:#?}");
        assert!(g.title.contains("working set settling"), "{}", g.title);
    }

    /// A write cache filling before its first flush: steady growth over the first 59 s,
    /// few cycles. Too early to call a leak: info. The old code said critical. The same
    /// growth past start-up is a leak suspect again.
    #[test]
    fn steady_growth_within_start_up_is_not_yet_a_leak() {
        let cycles: Vec<GcCycleFields> = (0..30)
            .map(|i| {
                cycle(
                    i + 1,
                    100 + i * 2000,
                    2 + i * 2 / 3,
                    2 * (2 + i * 2 / 3) + 4,
                )
            })
            .collect();
        let f = gc_findings(&trace_of(&cycles), "log");
        let g = heap_growth(&f).expect("gc.heap-growth");
        assert_eq!(g.severity, Severity::Info, "{g:#?}");
        assert!(g.title.contains("too early to tell"), "{}", g.title);
        let late: Vec<GcCycleFields> = cycles
            .iter()
            .map(|c| GcCycleFields {
                n: c.n + 5000,
                at_ns: c.at_ns + 7_200_000_000_000,
                ..c.clone()
            })
            .collect();
        let f = gc_findings(&trace_of(&late), "log");
        assert_eq!(heap_growth(&f).unwrap().severity, Severity::Critical);
    }

    /// A steady rise of 64 MiB or more inside start-up, even over few cycles (objects piling
    /// up behind a blocked finalizer: 1 → 128 MiB in 24 s): a warning, never critical.
    #[test]
    fn large_steady_start_up_growth_is_a_warning() {
        let cycles: Vec<GcCycleFields> = (0..17)
            .map(|i| cycle(i + 1, 500 + i * 1400, 1 + i * 8, 2 * (1 + i * 8) + 4))
            .collect();
        let f = gc_findings(&trace_of(&cycles), "log");
        let g = heap_growth(&f).expect("gc.heap-growth");
        assert_eq!(g.severity, Severity::Warning, "{g:#?}");
    }

    /// Sustained growth over many cycles inside start-up (the heap-leak patients): a
    /// warning, never critical.
    #[test]
    fn sustained_growth_over_many_start_up_cycles_is_a_warning() {
        let cycles: Vec<GcCycleFields> = (0..160)
            .map(|i| cycle(i + 1, 80 + i * 180, i / 7, 2 * (i / 7) + 4))
            .collect();
        let f = gc_findings(&trace_of(&cycles), "log");
        let g = heap_growth(&f).expect("gc.heap-growth");
        assert_eq!(g.severity, Severity::Warning, "{g:#?}");
        assert!(g.title.contains("leak suspect"), "{}", g.title);
    }

    /// The committed warm-up log (testdata/samples/logs/warmup-cache: an index over a
    /// fixed key space filling from start, 2.5 min with gctrace=1): info only.
    #[test]
    fn real_warm_up_log_is_info() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/samples/logs/gctrace-warmup-go1.26.log");
        let log = std::fs::read(&path).unwrap();
        let trace = gorx_formats::gctrace::parse("warmup", &log);
        let f = gc_findings(&trace, "warmup");
        let g = heap_growth(&f).expect("gc.heap-growth");
        assert_eq!(g.severity, Severity::Info, "{g:#?}");
        assert!(g.title.contains("warm-up"), "{}", g.title);
        // Its assists are 26% of a GC that uses 0.2% of the CPU: no finding (main warned).
        assert!(f.iter().all(|f| f.severity == Severity::Info), "{f:#?}");
    }

    /// A quarter of almost no GC work is not mutator latency: no gc.assist-heavy.
    #[test]
    fn cheap_assists_are_not_a_finding() {
        let cycles: Vec<GcCycleFields> = (0..40)
            .map(|i| {
                let mut c = cycle(i + 1, 5_000 + i * 2000, 3, 6);
                c.cpu_assist_ns = 1_000_000;
                c.cpu_background_ns = 1_000_000;
                c
            })
            .collect();
        let f = gc_findings(&trace_of(&cycles), "log");
        assert!(f.iter().all(|f| f.id != "gc.assist-heavy"), "{f:#?}");
    }

    /// Eight cycles: "P99" would be the max; the title says "max of 8".
    #[test]
    fn few_pauses_are_shown_as_a_max_of_n() {
        let cycles: Vec<GcCycleFields> = (0..8)
            .map(|i| {
                let mut c = cycle(i + 1, 10_000 + i * 1000, 3, 6);
                if i % 4 == 1 {
                    c.clock_mark_term_ns = 12_000_000;
                }
                c
            })
            .collect();
        let f = gc_findings(&trace_of(&cycles), "log");
        let p = f
            .iter()
            .find(|f| f.id == "gc.long-pause")
            .expect("long-pause");
        assert_eq!(p.severity, Severity::Warning);
        assert!(p.title.contains("max 12.1 ms of 8 pauses"), "{}", p.title);
        assert!(!p.title.contains("P99 "), "{}", p.title);
        assert!(!p.evidence.contains_key("pause_p99_ns"));
    }

    /// Assists only in the first cycles after start (against the 4 MiB minimum goal):
    /// warm-up, info. The old code warned. Assists after start-up still warn.
    #[test]
    fn start_up_assists_are_warm_up() {
        let cycles: Vec<GcCycleFields> = (0..40)
            .map(|i| {
                let mut c = cycle(i + 1, 20 + i * (if i < 6 { 30 } else { 2000 }), 3, 6);
                if i < 6 {
                    c.cpu_assist_ns = 8_000_000;
                    c.cpu_background_ns = 2_000_000;
                } else {
                    c.cpu_assist_ns = 20_000;
                    c.cpu_background_ns = 1_000_000;
                }
                c
            })
            .collect();
        let f = gc_findings(&trace_of(&cycles), "log");
        let a = f
            .iter()
            .find(|f| f.id == "gc.assist-heavy")
            .expect("assist");
        assert_eq!(a.severity, Severity::Info, "{a:#?}");
        assert!(a.title.contains("start-up"), "{}", a.title);
        let busy: Vec<GcCycleFields> = cycles
            .iter()
            .map(|c| GcCycleFields {
                cpu_assist_ns: 160_000_000,
                cpu_background_ns: 40_000_000,
                ..c.clone()
            })
            .collect();
        let f = gc_findings(&trace_of(&busy), "log");
        let a = f
            .iter()
            .find(|f| f.id == "gc.assist-heavy")
            .expect("assist");
        assert_eq!(a.severity, Severity::Critical, "{a:#?}");
    }

    #[test]
    fn quiet_run_has_no_findings() {
        let cycles: Vec<GcCycleFields> = (0..30).map(|i| cycle(i + 1, i * 2000, 3, 6)).collect();
        assert!(gc_findings(&trace_of(&cycles), "log").is_empty());
    }
}

#[cfg(test)]
mod corpus_tests {
    use super::*;
    use gorx_testsupport::corpus_entries;

    /// Every patient's gctrace: the GC findings it must (and must not) yield.
    #[test]
    fn patients_yield_their_gc_findings() {
        let mut seen = 0;
        for (ver, patient, dir) in corpus_entries() {
            let Ok(log) = std::fs::read(dir.join("stderr.log")) else {
                continue;
            };
            seen += 1;
            let trace = gorx_formats::gctrace::parse("stderr.log", &log);
            assert!(
                trace.malformed.is_empty(),
                "{ver}/{patient}: {:?}",
                trace.malformed
            );
            let f = gc_findings(&trace, "stderr.log");
            let ids: Vec<&str> = f.iter().map(|f| f.id).collect();
            for s in summaries(&trace, GcOptions::default()) {
                eprintln!("{ver}/{patient}: {s:?}");
            }
            eprintln!(
                "{ver}/{patient}: {:?}",
                f.iter().map(|f| (f.id, f.severity)).collect::<Vec<_>>()
            );
            let want: &[&str] = match patient.as_str() {
                "heap-leak" => &["gc.heap-growth"],
                "memlimit-thrash" => &["gc.memlimit-thrash"],
                "forced-gc" => &["gc.forced"],
                _ => &[],
            };
            for w in want {
                assert!(ids.contains(w), "{ver}/{patient}: want {w}, got {ids:?}");
            }
            if patient == "healthy" {
                assert!(
                    f.iter().all(|f| f.severity == Severity::Info),
                    "{ver}/healthy: {f:#?}"
                );
            }
        }
        if seen == 0 {
            gorx_testsupport::missing_prerequisite("testdata/artifacts corpus (stderr.log)");
        }
    }
}
