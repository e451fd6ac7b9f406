//! The GC health score: one number from 0 to 100 that a rollout can gate on, and the six
//! components it is made of, so a low score says what is wrong.
//!
//! Each component maps a measured value to points (100 = healthy, 0 = bad) between a
//! *good* and a *bad* anchor, linearly or on a log scale where the value spans decades;
//! the score is the weighted mean of the components the inputs can measure (a component
//! with no data is left out and its weight with it, and the output says so).
//!
//! | component | measures | good → bad | weight |
//! |---|---|---|---|
//! | gc_cpu | GC CPU over the window × GOMAXPROCS | 2% → 25% | 25 |
//! | pause_p99 | stop-the-world pause P99 (max of N when fewer than 20) | 1 ms → 50 ms (log) | 25 |
//! | assist | mark-assist share of GC CPU | 10% → 60% | 15 |
//! | frequency | GC cycles per minute | 60 → 1200 (log) | 10 |
//! | oscillation | P90 of the live heap's change between consecutive cycles, relative | 0.1 → 1.0 | 10 |
//! | headroom | peak heap against the memory limit | 60% → 95% | 15 |
//!
//! Why these anchors: the pacer aims to spend 25% of CPU while a cycle runs, so a service
//! spending that over its whole life does little else; pauses under a millisecond are
//! what a healthy Go ≥ 1.14 server shows, and 50 ms is a visible P99 step for an RPC
//! service; assists past half of GC work mean allocating goroutines do the marking;
//! a cycle a second is routine, twenty a second means GC runs back to back; a live heap
//! swinging by its own size from one cycle to the next makes memory planning guesswork; past 95% of
//! the limit the GC thrashes or the kernel kills.

use crate::gc::GcSummary;
use crate::thresholds as t;
use gorx_formats::gctrace::GcRun;
use serde::Serialize;

/// One component of the score.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Component {
    pub name: &'static str,
    /// The measured value, in `unit`.
    pub value: f64,
    pub unit: &'static str,
    /// 0–100.
    pub points: f64,
    pub weight: f64,
    /// How the value was measured, e.g. "P99 of 120 pauses" or "max of 8 pauses".
    pub basis: String,
}

/// A GC health score for one process (one gctrace run, or one /metrics scrape).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GcScore {
    /// Where the numbers came from (file, and run for a log with several processes).
    pub source: String,
    /// 0–100, the weighted mean of `components`.
    pub score: u32,
    pub components: Vec<Component>,
    /// Components the inputs could not measure.
    pub missing: Vec<&'static str>,
    /// Why, for the missing components whose source says (a live process: what it would
    /// have to serve).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub missing_reasons: std::collections::BTreeMap<&'static str, String>,
}

const COMPONENTS: [&str; 6] = [
    "gc_cpu",
    "pause_p99",
    "assist",
    "frequency",
    "oscillation",
    "headroom",
];

/// Points for `x` between `good` (100) and `bad` (0), linear.
fn linear(x: f64, good: f64, bad: f64) -> f64 {
    (100.0 * (bad - x) / (bad - good)).clamp(0.0, 100.0)
}

/// Points for `x` between `good` and `bad` on a log scale (both > 0).
fn logarithmic(x: f64, good: f64, bad: f64) -> f64 {
    if x <= good {
        return 100.0;
    }
    linear(x.ln(), good.ln(), bad.ln())
}

/// What a score is computed from; any field may be unknown.
#[derive(Debug, Clone, Default)]
pub struct ScoreInputs {
    pub gc_cpu_percent: Option<f64>,
    /// How the GC CPU share was measured, when not over a gctrace window.
    pub gc_cpu_basis: Option<String>,
    /// The pause P99 (or the max when there are few), and how it was measured.
    pub pause_ns: Option<(u64, String)>,
    pub assist_share: Option<f64>,
    pub cycles_per_min: Option<f64>,
    pub oscillation: Option<f64>,
    /// (peak heap, memory limit).
    pub heap_vs_limit_bytes: Option<(u64, u64)>,
    /// How the assist share was measured, when not from gctrace.
    pub assist_basis: Option<String>,
    /// How the oscillation was measured, when not from gctrace.
    pub oscillation_basis: Option<String>,
    /// How the cycle rate was measured, when not from gctrace.
    pub cycles_basis: Option<String>,
    /// Components the source cannot measure, with the reason.
    pub unmeasured: Vec<(&'static str, String)>,
}

/// Scores what is known.
pub fn score(source: &str, i: &ScoreInputs) -> GcScore {
    let mut components = Vec::new();
    if let Some(v) = i.gc_cpu_percent {
        components.push(Component {
            name: "gc_cpu",
            value: round1(v),
            unit: "%",
            points: linear(v, 2.0, 25.0),
            weight: 25.0,
            basis: i
                .gc_cpu_basis
                .clone()
                .unwrap_or_else(|| "GC CPU over the window × GOMAXPROCS".into()),
        });
    }
    if let Some((ns, basis)) = &i.pause_ns {
        let ms = *ns as f64 / 1e6;
        components.push(Component {
            name: "pause_p99",
            value: (ms * 1000.0).round() / 1000.0,
            unit: "ms",
            points: logarithmic(ms, 1.0, 50.0),
            weight: 25.0,
            basis: basis.clone(),
        });
    }
    if let Some(a) = i.assist_share {
        components.push(Component {
            name: "assist",
            value: round1(100.0 * a),
            unit: "% of GC CPU",
            points: linear(100.0 * a, 10.0, 60.0),
            weight: 15.0,
            basis: i
                .assist_basis
                .clone()
                .unwrap_or_else(|| "mark-assist CPU / GC CPU".into()),
        });
    }
    if let Some(f) = i.cycles_per_min {
        components.push(Component {
            name: "frequency",
            value: round1(f),
            unit: "cycles/min",
            points: logarithmic(f.max(1e-9), 60.0, 1200.0),
            weight: 10.0,
            basis: i
                .cycles_basis
                .clone()
                .unwrap_or_else(|| "GC cycles per minute".into()),
        });
    }
    if let Some(o) = i.oscillation {
        components.push(Component {
            name: "oscillation",
            value: (o * 100.0).round() / 100.0,
            unit: "× live heap",
            points: linear(o, 0.1, 1.0),
            weight: 10.0,
            basis: i
                .oscillation_basis
                .clone()
                .unwrap_or_else(|| "P90 of |Δ live heap| / live heap, cycle to cycle".into()),
        });
    }
    if let Some((peak, limit)) = i.heap_vs_limit_bytes
        && limit > 0
    {
        let pct = 100.0 * peak as f64 / limit as f64;
        components.push(Component {
            name: "headroom",
            value: round1(pct),
            unit: "% of the memory limit",
            points: linear(pct, 60.0, 95.0),
            weight: 15.0,
            basis: "peak heap / memory limit".into(),
        });
    }
    let weight: f64 = components.iter().map(|c| c.weight).sum();
    let score = if weight > 0.0 {
        (components.iter().map(|c| c.points * c.weight).sum::<f64>() / weight).round() as u32
    } else {
        0
    };
    for c in &mut components {
        c.points = c.points.round();
    }
    let missing: Vec<&'static str> = COMPONENTS
        .iter()
        .copied()
        .filter(|n| !components.iter().any(|c| c.name == *n))
        .collect();
    let missing_reasons = i
        .unmeasured
        .iter()
        .filter(|(n, _)| missing.contains(n))
        .map(|(n, why)| (*n, why.clone()))
        .collect();
    GcScore {
        source: source.to_string(),
        score,
        components,
        missing,
        missing_reasons,
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The inputs a gctrace run gives. `memory_limit_bytes` (GOMEMLIMIT or the cgroup's
/// limit), when known, adds the headroom component.
pub fn inputs_of_run(
    s: &GcSummary,
    run: &GcRun<'_>,
    memory_limit_bytes: Option<u64>,
) -> ScoreInputs {
    let peak = run
        .cycles
        .iter()
        .map(|c| c.heap_start_bytes().max(c.heap_end_bytes()))
        .max()
        .unwrap_or(0);
    // Cycle-to-cycle swings of the live heap: a steady trend (growth or shrinkage) moves
    // it a little each cycle; a heap that swings by its own size between cycles does not.
    let mut swings: Vec<f64> = run
        .cycles
        .iter()
        .zip(run.cycles.iter().skip(1))
        .filter(|(a, _)| a.heap_live_bytes() > 0)
        .map(|(a, b)| {
            b.heap_live_bytes().abs_diff(a.heap_live_bytes()) as f64 / a.heap_live_bytes() as f64
        })
        .collect();
    let oscillation = (swings.len() >= t::PAUSE_PERCENTILE_MIN_SAMPLES).then(|| {
        swings.sort_by(f64::total_cmp);
        swings[((swings.len() - 1) as f64 * 0.9).round() as usize]
    });
    // A rate needs a window: with a few seconds of log the cycle rate is noise.
    let windowed = s.window_ns >= t::GC_MIN_WINDOW_NS;
    ScoreInputs {
        gc_cpu_percent: windowed.then_some(s.gc_cpu_percent),
        gc_cpu_basis: None,
        pause_ns: (s.cycles > 0).then(|| {
            if s.cycles < t::PAUSE_PERCENTILE_MIN_SAMPLES {
                (s.pause_max_ns, format!("max of {} pauses", s.cycles))
            } else {
                (s.pause_p99_ns, format!("P99 of {} pauses", s.cycles))
            }
        }),
        // The assist share of almost no GC work is noise (a start-up cycle or two).
        assist_share: (s.gc_cpu_ns > 0
            && s.gc_cpu_ns >= t::GC_ASSIST_MIN_CPU_NS_PER_CYCLE * s.cycles as u64)
            .then_some(s.assist_share),
        cycles_per_min: windowed.then_some(s.cycles_per_min),
        oscillation,
        heap_vs_limit_bytes: memory_limit_bytes.map(|l| (peak, l)),
        ..Default::default()
    }
}

/// The inputs a /metrics scrape gives: the GC CPU fraction since start
/// (`go_memstats_gc_cpu_fraction`), the largest recent pause (`go_gc_duration_seconds`
/// quantile 1) and the next GC goal against GOMEMLIMIT (`go_gc_gomemlimit_bytes`).
pub fn inputs_of_metrics(v: &crate::metrics::MetricsView) -> ScoreInputs {
    let ms = v.memstats.as_ref();
    ScoreInputs {
        gc_cpu_percent: ms.and_then(|m| m.gc_cpu_fraction).map(|f| 100.0 * f),
        gc_cpu_basis: Some("GC CPU fraction since the process started".into()),
        pause_ns: v
            .gc_pause_quantiles_ns
            .last()
            .filter(|(q, _)| *q >= 1.0)
            .map(|(_, ns)| {
                (
                    *ns,
                    "max of the recent pauses (go_gc_duration_seconds)".into(),
                )
            }),
        heap_vs_limit_bytes: match (ms, v.gomemlimit_bytes) {
            (Some(m), Some(Some(limit))) if m.next_gc > 0 => Some((m.next_gc, limit)),
            _ => None,
        },
        ..Default::default()
    }
}

/// The inputs a `runtime.MemStats` gives (a live process's `/debug/vars` or
/// `heap?debug=1`): the GC CPU fraction since start, the recent pauses (`PauseNs`, up to
/// 256) and the cycle rate from their end times (`PauseEnd`); no assists or live heap per
/// cycle. `memory_limit_bytes` adds the headroom of the next GC goal.
pub fn inputs_of_memstats(
    m: &gorx_formats::memstats::MemStats,
    memory_limit_bytes: Option<u64>,
) -> ScoreInputs {
    // The pause table's own statistics (nearest-rank P99, the max of N when too few).
    let pauses = crate::gc::PauseStats::of(&m.recent_pauses_ns());
    let pause_ns = if pauses.n == 0 {
        None
    } else if !pauses.has_percentile() {
        Some((
            pauses.max_ns,
            format!("max of {} recent pauses (MemStats.PauseNs)", pauses.n),
        ))
    } else {
        Some((
            pauses.p99_ns,
            format!("P99 of {} recent pauses (MemStats.PauseNs)", pauses.n),
        ))
    };
    // The recent cycles' end times, in the same ring order as PauseNs.
    let ends = crate::memory::recent_pause_ends_ns(m);
    let cycles_per_min = match (ends.first(), ends.last()) {
        (Some(&a), Some(&b)) if ends.len() >= 2 && b > a => {
            Some((ends.len() - 1) as f64 * 60e9 / (b - a) as f64)
        }
        _ => None,
    };
    let cycles_basis =
        cycles_per_min.map(|_| format!("MemStats.PauseEnd of the {} recent cycles", ends.len()));
    ScoreInputs {
        cycles_basis,
        gc_cpu_percent: m
            .gc_cpu_fraction
            .filter(|f| f.is_finite())
            .map(|f| 100.0 * f),
        gc_cpu_basis: Some("MemStats.GCCPUFraction, since the process started".into()),
        pause_ns,
        cycles_per_min,
        heap_vs_limit_bytes: memory_limit_bytes
            .filter(|_| m.next_gc > 0)
            .map(|l| (m.next_gc, l)),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_map_to_points() {
        assert_eq!(linear(2.0, 2.0, 25.0), 100.0);
        assert_eq!(linear(25.0, 2.0, 25.0), 0.0);
        assert_eq!(linear(13.5, 2.0, 25.0), 50.0);
        assert_eq!(logarithmic(0.2, 1.0, 50.0), 100.0);
        assert!((logarithmic(50f64.sqrt(), 1.0, 50.0) - 50.0).abs() < 1e-9);
        assert_eq!(logarithmic(500.0, 1.0, 50.0), 0.0);
    }

    #[test]
    fn the_score_is_the_weighted_mean_of_what_is_known() {
        let healthy = score(
            "log",
            &ScoreInputs {
                gc_cpu_percent: Some(3.0),
                pause_ns: Some((300_000, "P99 of 200 pauses".into())),
                assist_share: Some(0.05),
                cycles_per_min: Some(20.0),
                oscillation: Some(0.05),
                heap_vs_limit_bytes: None,
                ..Default::default()
            },
        );
        assert!(healthy.score >= 95, "{healthy:?}");
        assert_eq!(healthy.missing, ["headroom"]);
        // A pause component at 0 (100 ms) with weight 25 of 85 costs 29 points.
        let paused = score(
            "log",
            &ScoreInputs {
                pause_ns: Some((100_000_000, "P99 of 200 pauses".into())),
                ..ScoreInputs {
                    gc_cpu_percent: Some(2.0),
                    assist_share: Some(0.1),
                    cycles_per_min: Some(60.0),
                    oscillation: Some(0.1),
                    ..Default::default()
                }
            },
        );
        assert_eq!(paused.score, 71);
        assert_eq!(score("x", &ScoreInputs::default()).score, 0);
    }

    #[test]
    fn memstats_give_pauses_rate_and_cpu() {
        let mut m = gorx_formats::memstats::MemStats {
            num_gc: 30,
            gc_cpu_fraction: Some(0.05),
            next_gc: 80 << 20,
            pause_ns: vec![0; 256],
            pause_end: vec![0; 256],
            ..Default::default()
        };
        // Cycles 1..=30 in slots 0..30, one a second, pauses 1..30 ms.
        for i in 0..30 {
            m.pause_ns[i] = (i as u64 + 1) * 1_000_000;
            m.pause_end[i] = 1_000_000_000_000 + i as u64 * 1_000_000_000;
        }
        let i = inputs_of_memstats(&m, Some(100 << 20));
        assert_eq!(i.pause_ns.as_ref().unwrap().0, 30_000_000);
        assert!(i.pause_ns.as_ref().unwrap().1.starts_with("P99 of 30"));
        assert!((i.cycles_per_min.unwrap() - 60.0).abs() < 1e-6);
        assert_eq!(i.gc_cpu_percent, Some(5.0));
        assert_eq!(i.heap_vs_limit_bytes, Some((80 << 20, 100 << 20)));
        m.num_gc = 3;
        let few = inputs_of_memstats(&m, None);
        assert!(few.pause_ns.unwrap().1.starts_with("max of 3"));
    }
}
