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
    /// GC CPU over the window × GOMAXPROCS, in percent.
    pub gc_cpu_percent: f64,
    /// The runtime's own cumulative GC CPU share at the last cycle (`N%` field).
    pub runtime_gc_cpu_percent: u32,
    /// Mark-assist CPU as a share of GC CPU.
    pub assist_share: f64,
    pub gc_cpu_ns: u64,
    pub live_heap_first_bytes: u64,
    pub live_heap_last_bytes: u64,
    pub live_heap_max_bytes: u64,
    /// Theil–Sen slope of the live heap over time.
    pub live_heap_slope_bytes_per_min: f64,
    /// Kendall's tau of live heap vs time: 1 = rises every cycle, 0 = no trend.
    pub live_heap_tau: f64,
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
    for (i, x) in c.iter().enumerate() {
        pauses.push(x.stw_ns());
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
    let long_pauses = pauses
        .iter()
        .filter(|&&p| p >= t::GC_PAUSE_P99_WARNING_NS)
        .count();
    let pause_max_ns = pauses.iter().copied().max().unwrap_or(0);
    let pause_p50_ns = percentile(&mut pauses, 0.50);
    let pause_p99_ns = percentile(&mut pauses, 0.99);
    GcSummary {
        run_index,
        first_line: run.first_line,
        cycles: c.len(),
        forced_cycles: forced,
        window_ns,
        cycles_per_min,
        pause_p50_ns,
        pause_p99_ns,
        pause_max_ns,
        long_pauses,
        gc_cpu_percent,
        runtime_gc_cpu_percent: c.last().map_or(0, |x| x.cumulative_cpu_percent()),
        assist_share: if gc_cpu_ns > 0 {
            assist_ns as f64 / gc_cpu_ns as f64
        } else {
            0.0
        },
        gc_cpu_ns,
        live_heap_first_bytes: c.first().map_or(0, |x| x.heap_live_bytes()),
        live_heap_last_bytes: c.last().map_or(0, |x| x.heap_live_bytes()),
        live_heap_max_bytes: live_max,
        live_heap_slope_bytes_per_min: slope,
        live_heap_tau: tau,
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

    // With few cycles P99 is the maximum: one slow stop on a busy machine is not a pattern.
    if s.cycles >= t::GC_MIN_CYCLES
        && ((s.pause_p99_ns >= t::GC_PAUSE_P99_WARNING_NS && s.long_pauses >= 2)
            || s.pause_max_ns >= t::GC_PAUSE_MAX_CRITICAL_NS)
    {
        let sev = if s.pause_p99_ns >= t::GC_PAUSE_P99_CRITICAL_NS
            || s.pause_max_ns >= t::GC_PAUSE_MAX_CRITICAL_NS
        {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let mut e = base_evidence(s, runs);
        e.insert("pause_p50_ns".into(), json!(s.pause_p50_ns));
        e.insert("pause_p99_ns".into(), json!(s.pause_p99_ns));
        e.insert("pause_max_ns".into(), json!(s.pause_max_ns));
        e.insert("long_pauses".into(), json!(s.long_pauses));
        out.push(finding(
            "gc.long-pause",
            sev,
            format!(
                "GC stop-the-world pauses: P99 {:.1} ms, max {:.1} ms (P50 {:.2} ms)",
                s.pause_p99_ns as f64 / 1e6,
                s.pause_max_ns as f64 / 1e6,
                s.pause_p50_ns as f64 / 1e6
            ),
            e,
            "Long STW phases usually mean the process was not on a CPU when the world stopped: check CFS throttling and set GOMAXPROCS to the CPU quota; otherwise look for tight loops without function calls (non-preemptible before Go 1.14) and for huge numbers of goroutines or finalizers.".into(),
            source,
        ));
    }

    if s.cycles >= t::GC_MIN_CYCLES
        && s.gc_cpu_ns >= t::GC_ASSIST_MIN_CPU_NS_PER_CYCLE * s.cycles as u64
        && s.assist_share >= t::GC_ASSIST_WARNING_SHARE
    {
        let sev = if s.assist_share >= t::GC_ASSIST_CRITICAL_SHARE {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let mut e = base_evidence(s, runs);
        e.insert(
            "assist_share_percent".into(),
            json!(round1(100.0 * s.assist_share)),
        );
        e.insert("gc_cpu_ns".into(), json!(s.gc_cpu_ns));
        out.push(finding(
            "gc.assist-heavy",
            sev,
            format!(
                "Mark assists do {:.0}% of GC CPU: allocating goroutines are drafted into marking",
                100.0 * s.assist_share
            ),
            e,
            format!(
                "Give the GC more room (GOGC={} or a higher GOMEMLIMIT) so background workers finish marking before the goal, and reduce allocation bursts on latency-sensitive paths.",
                recommended_gogc(s)
            ),
            source,
        ));
    }

    if enough {
        let growth = s.live_heap_slope_bytes_per_min * s.window_ns as f64 / 60e9;
        let base = (s.live_heap_first_bytes as f64).max(MIB);
        if s.live_heap_slope_bytes_per_min > 0.0
            && growth >= t::GC_HEAP_GROWTH_MIN_BYTES as f64
            && growth / base >= t::GC_HEAP_GROWTH_MIN_RATIO
            && s.live_heap_tau >= t::GC_HEAP_GROWTH_MIN_TAU
        {
            let sev = if growth / base >= t::GC_HEAP_GROWTH_CRITICAL_RATIO {
                Severity::Critical
            } else {
                Severity::Warning
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
            e.insert("live_heap_trend_growth_bytes".into(), json!(growth.round()));
            e.insert(
                "kendall_tau".into(),
                json!((s.live_heap_tau * 100.0).round() / 100.0),
            );
            out.push(finding(
                "gc.heap-growth",
                sev,
                format!(
                    "Live heap after GC keeps rising: {:.0} → {:.0} MiB over {:.0} s (trend {:+.1} MiB/min, tau {:.2})",
                    mib(s.live_heap_first_bytes as f64),
                    mib(s.live_heap_last_bytes as f64),
                    s.window_ns as f64 / 1e9,
                    s.live_heap_slope_bytes_per_min / MIB,
                    s.live_heap_tau
                ),
                e,
                "A leak suspect: take two heap profiles minutes apart and diff them (`gorx pprof top --base old.pb.gz new.pb.gz`, sample inuse_space); the growing site is what keeps memory reachable (caches without eviction, maps that only grow, goroutines holding buffers).".into(),
                source,
            ));
        }
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
