//! The GC health score of a running process from a series of readings, not one.
//!
//! One read of `/debug/vars` or `/metrics` gives totals since the process started: a
//! service up for a week reports the GC CPU share of that week, however its GC behaves
//! now. Two readings some seconds apart give the window between them instead, and a few
//! readings give what one cannot: how much the heap swings from cycle to cycle.
//!
//! What each component is measured from, best source first (the score's `basis` says
//! which one was used, and a component no source gives is left out, with the reason):
//!
//! | component | over a window of readings | from one reading |
//! |---|---|---|
//! | gc_cpu | Δ`/cpu/classes/gc/total` / Δ`/cpu/classes/total` (runtime/metrics); else GCCPUFraction × (LastGC − process start), differenced | GCCPUFraction since start |
//! | pause_p99 | the pauses of the window's cycles (MemStats.PauseNs), when 20 or more | the 256 recent pauses; the summary's max on /metrics |
//! | assist | Δ`/cpu/classes/gc/mark/assist` / Δ`/cpu/classes/gc/total` | the same ratio since start |
//! | frequency | ΔNumGC over the window (5 s or more) | MemStats.PauseEnd of the recent cycles |
//! | oscillation | P90 of the relative change of `/gc/heap/live` (else of the heap goal, MemStats.NextGC) between readings a cycle apart | — |
//! | headroom | the last reading: heap goal / memory limit | the same |

use crate::score::ScoreInputs;
use crate::thresholds as t;
use gorx_formats::memstats::MemStats;
use gorx_formats::prometheus::Exposition;

/// The runtime/metrics CPU classes client_golang exports (cumulative CPU seconds):
/// `go_cpu_classes_*_cpu_seconds_total`, served by newer client_golang versions when the
/// Go collector's runtime metrics are enabled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuClasses {
    pub gc_total_s: f64,
    pub assist_s: f64,
    /// GOMAXPROCS × wall time since start.
    pub total_s: f64,
}

impl CpuClasses {
    pub fn of(e: &Exposition) -> Option<CpuClasses> {
        let v = |n: &str| e.value(n).filter(|v| v.is_finite() && *v >= 0.0);
        Some(CpuClasses {
            gc_total_s: v("go_cpu_classes_gc_total_cpu_seconds_total")?,
            assist_s: v("go_cpu_classes_gc_mark_assist_cpu_seconds_total")?,
            total_s: v("go_cpu_classes_total_cpu_seconds_total")?,
        })
    }
}

/// `/gc/heap/live:bytes` (Go ≥ 1.21) as client_golang exports it.
pub fn heap_live_of(e: &Exposition) -> Option<u64> {
    e.value("go_gc_heap_live_bytes")
        .filter(|v| v.is_finite() && *v > 0.0 && *v < 1.8e19)
        .map(|v| v as u64)
}

/// One reading of a live process.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// When it was taken, on the sampler's monotonic clock (ns).
    pub at_ns: u64,
    /// What this reading alone gives (`inputs_of_memstats`, `inputs_of_metrics`).
    pub single: ScoreInputs,
    pub num_gc: u64,
    /// Unix ns of the last GC's end (0: unknown).
    pub last_gc_unix_ns: u64,
    pub next_gc_bytes: u64,
    pub gc_cpu_fraction: Option<f64>,
    /// Unix ns the process started (from /proc, or `process_start_time_seconds`).
    pub start_unix_ns: Option<u64>,
    /// MemStats.PauseNs (256 entries, or empty when the source has no ring).
    pub pause_ring: Vec<u64>,
    pub cpu_classes: Option<CpuClasses>,
    pub heap_live_bytes: Option<u64>,
}

impl Reading {
    /// A reading of a MemStats (expvar, heap trailer, or the `go_memstats_*` of a scrape).
    pub fn of_memstats(at_ns: u64, m: &MemStats, single: ScoreInputs) -> Reading {
        Reading {
            at_ns,
            single,
            num_gc: m.num_gc,
            last_gc_unix_ns: m.last_gc,
            next_gc_bytes: m.next_gc,
            gc_cpu_fraction: m.gc_cpu_fraction.filter(|f| f.is_finite() && *f >= 0.0),
            pause_ring: if m.pause_ns.len() == 256 {
                m.pause_ns.clone()
            } else {
                Vec::new()
            },
            ..Default::default()
        }
    }

    /// Adds what only a `/metrics` scrape carries (CPU classes, live heap, start time).
    pub fn with_metrics(mut self, e: &Exposition) -> Reading {
        self.cpu_classes = CpuClasses::of(e);
        self.heap_live_bytes = heap_live_of(e);
        if self.start_unix_ns.is_none() {
            self.start_unix_ns = e
                .value("process_start_time_seconds")
                .filter(|v| v.is_finite() && *v > 0.0 && *v < 1e10)
                .map(|s| (s * 1e9) as u64);
        }
        self
    }

    /// The pauses of cycles `from+1 ..= self.num_gc`, when the ring still holds them all.
    fn pauses_since(&self, from: u64) -> Option<Vec<u64>> {
        let n = self.num_gc.checked_sub(from)?;
        if self.pause_ring.len() != 256 || n > 256 {
            return None;
        }
        // Cycle k (1-based) is at PauseNs[(k+255)%256].
        Some(
            (from + 1..=self.num_gc)
                .map(|k| self.pause_ring[((k % 256 + 255) % 256) as usize])
                .collect(),
        )
    }
}

/// The runtime's minimum heap goal at GOGC=100 (`heapMinimum`, 4 MiB).
const HEAP_GOAL_MINIMUM_BYTES: u64 = 4 << 20;

fn secs(ns: u64) -> String {
    format!("{:.0} s", ns as f64 / 1e9)
}

/// The score inputs of `readings` (oldest first, one process): the window between the
/// first and the last where it measures better, the last reading's own values otherwise.
/// Components nothing measures carry their reason in `ScoreInputs::unmeasured`.
pub fn inputs_of_readings(readings: &[Reading]) -> ScoreInputs {
    inputs(readings, false)
}

/// [`inputs_of_readings`] for a monitor of the present (`gorx score --watch`, `gorx
/// watch`): the pause component comes from the window's own cycles only ("max of N"
/// under 20), never from the 256-cycle ring, whose start-up or hour-old pauses would hold
/// every sample down for as long as they stay in it. A window without a GC cycle has no
/// pause to score.
pub fn inputs_of_window(readings: &[Reading]) -> ScoreInputs {
    inputs(readings, true)
}

fn inputs(readings: &[Reading], window_pauses_only: bool) -> ScoreInputs {
    let Some(last) = readings.last() else {
        return ScoreInputs::default();
    };
    let first = &readings[0];
    let mut i = last.single.clone();
    let window_ns = last.at_ns.saturating_sub(first.at_ns);
    let cycles = last.num_gc.saturating_sub(first.num_gc);
    let windowed = window_ns >= t::GC_MIN_WINDOW_NS && last.num_gc >= first.num_gc;

    // GC CPU share over the window.
    if windowed {
        if let (Some(a), Some(b)) = (first.cpu_classes, last.cpu_classes)
            && b.total_s > a.total_s
        {
            i.gc_cpu_percent =
                Some(100.0 * (b.gc_total_s - a.gc_total_s).max(0.0) / (b.total_s - a.total_s));
            i.gc_cpu_basis = Some(format!(
                "runtime/metrics /cpu/classes/gc over the last {}",
                secs(window_ns)
            ));
        } else if cycles == 0 {
            i.gc_cpu_percent = Some(0.0);
            i.gc_cpu_basis = Some(format!("no GC cycle in the last {}", secs(window_ns)));
        } else if let (Some(fa), Some(fb), Some(start)) = (
            first.gc_cpu_fraction,
            last.gc_cpu_fraction,
            last.start_unix_ns.or(first.start_unix_ns),
        ) && first.last_gc_unix_ns > start
            && last.last_gc_unix_ns > first.last_gc_unix_ns
        {
            // GCCPUFraction is GC CPU / (GOMAXPROCS × time from start to the last GC's
            // end): undo the division at both ends and difference.
            let ta = (first.last_gc_unix_ns - start) as f64;
            let tb = (last.last_gc_unix_ns - start) as f64;
            let f = ((fb * tb - fa * ta) / (tb - ta)).clamp(0.0, 1.0);
            i.gc_cpu_percent = Some(100.0 * f);
            i.gc_cpu_basis = Some(format!(
                "MemStats.GCCPUFraction differenced over the {cycles} cycles of the last {}",
                secs(window_ns)
            ));
        }
    }

    // Pauses of the window's own cycles, when there are enough for a P99 (or when only
    // the window counts).
    let window_pauses = if readings.len() >= 2 {
        last.pauses_since(first.num_gc)
    } else {
        None
    };
    match window_pauses {
        Some(p)
            if !p.is_empty()
                && (window_pauses_only || p.len() >= t::PAUSE_PERCENTILE_MIN_SAMPLES) =>
        {
            let s = crate::gc::PauseStats::of_vec(p);
            i.pause_ns = Some(if s.has_percentile() {
                (
                    s.p99_ns,
                    format!(
                        "P99 of the {} pauses in the last {} (MemStats.PauseNs)",
                        s.n,
                        secs(window_ns)
                    ),
                )
            } else {
                (
                    s.max_ns,
                    format!(
                        "max of the {} pauses in the last {} (MemStats.PauseNs)",
                        s.n,
                        secs(window_ns)
                    ),
                )
            });
        }
        // (A source without the ring, /metrics, keeps its summary's max.)
        None if window_pauses_only && last.pause_ring.len() == 256 => {
            i.pause_ns = None;
            i.unmeasured.push((
                "pause_p99",
                if readings.len() < 2 {
                    "one reading: no window yet".to_string()
                } else {
                    "the window's cycles are no longer in MemStats.PauseNs".to_string()
                },
            ));
        }
        Some(p) if p.is_empty() && window_pauses_only => {
            i.pause_ns = None;
            i.unmeasured.push((
                "pause_p99",
                format!("no GC cycle in the last {}", secs(window_ns)),
            ));
        }
        _ => {}
    }

    if windowed {
        i.cycles_per_min = Some(cycles as f64 * 60e9 / window_ns as f64);
        i.cycles_basis = Some(format!(
            "NumGC: {cycles} cycles in the last {}",
            secs(window_ns)
        ));
    }

    // Assist share of GC CPU.
    match (first.cpu_classes, last.cpu_classes) {
        (Some(a), Some(b)) if windowed && b.gc_total_s - a.gc_total_s > 0.0 => {
            let gc = b.gc_total_s - a.gc_total_s;
            if gc * 1e9 >= (t::GC_ASSIST_MIN_CPU_NS_PER_CYCLE * cycles.max(1)) as f64 {
                i.assist_share = Some(((b.assist_s - a.assist_s) / gc).clamp(0.0, 1.0));
                i.assist_basis = Some(format!(
                    "runtime/metrics /cpu/classes/gc/mark/assist over the last {}",
                    secs(window_ns)
                ));
            }
        }
        (_, Some(b)) if b.gc_total_s > 0.0 => {
            i.assist_share = Some((b.assist_s / b.gc_total_s).clamp(0.0, 1.0));
            i.assist_basis = Some(
                "runtime/metrics /cpu/classes/gc/mark/assist since the process started".into(),
            );
        }
        _ => {}
    }
    if i.assist_share.is_none() {
        i.unmeasured.push((
            "assist",
            if last.cpu_classes.is_some() {
                "too little GC CPU in the window to share out".into()
            } else {
                "MemStats has no assist time; serve runtime/metrics' /cpu/classes/gc/mark/assist (client_golang's go_cpu_classes_* metrics) or score a gctrace log".into()
            },
        ));
    }

    // Heap oscillation: the relative change between readings with a cycle between them.
    let live = readings.iter().all(|r| r.heap_live_bytes.is_some());
    let level = |r: &Reading| {
        if live {
            r.heap_live_bytes.unwrap_or(0)
        } else {
            r.next_gc_bytes
        }
    };
    let mut swings: Vec<f64> = Vec::new();
    let mut floored = 0;
    let mut prev: Option<&Reading> = None;
    for r in readings {
        if let Some(p) = prev
            && r.num_gc > p.num_gc
            && level(p) > 0
        {
            // A heap goal at the runtime's minimum (4 MiB at GOGC=100) does not follow
            // the live heap under it.
            if !live && level(p).max(level(r)) <= HEAP_GOAL_MINIMUM_BYTES {
                floored += 1;
            } else {
                swings.push(level(r).abs_diff(level(p)) as f64 / level(p) as f64);
            }
        }
        if prev.is_none_or(|p| r.num_gc > p.num_gc) {
            prev = Some(r);
        }
    }
    if swings.len() >= t::LIVE_OSCILLATION_MIN_SWINGS {
        swings.sort_by(f64::total_cmp);
        i.oscillation = Some(swings[((swings.len() - 1) as f64 * 0.9).round() as usize]);
        i.oscillation_basis = Some(format!(
            "P90 of |Δ| / level of {} between {} readings a cycle apart",
            if live {
                "the live heap (/gc/heap/live)"
            } else {
                "the heap goal (MemStats.NextGC, a proxy for the live heap)"
            },
            swings.len() + 1
        ));
    } else {
        i.unmeasured.push((
            "oscillation",
            if floored > 0 && swings.is_empty() {
                "the heap goal sits at the runtime's 4 MiB minimum, which does not follow the live heap (serve runtime/metrics' /gc/heap/live)".to_string()
            } else {
                format!(
                "{} reading(s) a GC cycle apart, {} needed: read the process longer",
                swings.len() + usize::from(!swings.is_empty()),
                t::LIVE_OSCILLATION_MIN_SWINGS + 1
            )
            },
        ));
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(at_s: u64, num_gc: u64, next_gc: u64) -> Reading {
        Reading {
            at_ns: at_s * 1_000_000_000,
            num_gc,
            next_gc_bytes: next_gc,
            ..Default::default()
        }
    }

    #[test]
    fn one_reading_measures_no_assist_and_no_oscillation_and_says_why() {
        let i = inputs_of_readings(&[reading(0, 10, 8 << 20)]);
        assert!(i.assist_share.is_none() && i.oscillation.is_none());
        let why: Vec<&str> = i.unmeasured.iter().map(|(n, _)| *n).collect();
        assert_eq!(why, ["assist", "oscillation"]);
        let s = crate::score::score("x", &i);
        assert!(s.missing.contains(&"assist") && s.missing.contains(&"oscillation"));
        assert!(s.missing_reasons["assist"].contains("MemStats has no assist"));
    }

    #[test]
    fn a_swinging_heap_goal_is_oscillation_and_a_steady_one_is_not() {
        // A reading every second, a cycle between each; the goal swings 20 ↔ 40 MiB.
        let swinging: Vec<Reading> = (0..8)
            .map(|k| reading(k, 10 + k, if k % 2 == 0 { 20 << 20 } else { 40 << 20 }))
            .collect();
        let o = inputs_of_readings(&swinging).oscillation.unwrap();
        assert!(o >= 0.5, "{o}");
        let steady: Vec<Reading> = (0..8).map(|k| reading(k, 10 + k, 30 << 20)).collect();
        assert_eq!(inputs_of_readings(&steady).oscillation, Some(0.0));
        // Readings without a cycle between them do not count as swings.
        let idle: Vec<Reading> = (0..8).map(|k| reading(k, 10, 30 << 20)).collect();
        assert!(inputs_of_readings(&idle).oscillation.is_none());
        // A goal pinned at the 4 MiB minimum says nothing of the live heap under it.
        let small: Vec<Reading> = (0..8).map(|k| reading(k, 10 + k, 4 << 20)).collect();
        let i = inputs_of_readings(&small);
        assert!(i.oscillation.is_none());
        assert!(
            i.unmeasured
                .iter()
                .any(|(n, why)| *n == "oscillation" && why.contains("4 MiB minimum"))
        );
    }

    #[test]
    fn the_window_replaces_since_start_totals() {
        let start = 1_000_000_000_000_000_000u64;
        let hour = 3_600_000_000_000u64;
        // Up an hour at 1% GC CPU; then 10 s at 21%: GCCPUFraction barely moves.
        let mut a = reading(0, 1000, 8 << 20);
        a.start_unix_ns = Some(start);
        a.last_gc_unix_ns = start + hour;
        a.gc_cpu_fraction = Some(0.01);
        a.single.gc_cpu_percent = Some(1.0);
        let mut b = reading(10, 1100, 8 << 20);
        b.start_unix_ns = Some(start);
        b.last_gc_unix_ns = start + hour + 10_000_000_000;
        let f = (0.01 * 3600.0 + 0.21 * 10.0) / 3610.0;
        b.gc_cpu_fraction = Some(f);
        b.single.gc_cpu_percent = Some(100.0 * f);
        let i = inputs_of_readings(&[a.clone(), b.clone()]);
        assert!((i.gc_cpu_percent.unwrap() - 21.0).abs() < 0.01, "{i:?}");
        assert!((i.cycles_per_min.unwrap() - 600.0).abs() < 1e-9);
        // runtime/metrics CPU classes, when served, win and give the assist share.
        a.cpu_classes = Some(CpuClasses {
            gc_total_s: 10.0,
            assist_s: 1.0,
            total_s: 1000.0,
        });
        b.cpu_classes = Some(CpuClasses {
            gc_total_s: 14.0,
            assist_s: 3.0,
            total_s: 1020.0,
        });
        let i = inputs_of_readings(&[a, b]);
        assert!((i.gc_cpu_percent.unwrap() - 20.0).abs() < 1e-9);
        assert!((i.assist_share.unwrap() - 0.5).abs() < 1e-9);
        assert!(i.unmeasured.iter().all(|(n, _)| *n != "assist"));
    }

    /// client_golang's runtime/metrics names (collectors.WithGoCollectorRuntimeMetrics).
    #[test]
    fn a_scrape_with_cpu_classes_measures_assist_and_live_heap() {
        let scrape = |gc: f64, assist: f64, total: f64, live: u64| {
            let text = format!(
                "# TYPE go_cpu_classes_gc_mark_assist_cpu_seconds_total counter\n\
                 go_cpu_classes_gc_mark_assist_cpu_seconds_total {assist}\n\
                 # TYPE go_cpu_classes_gc_total_cpu_seconds_total counter\n\
                 go_cpu_classes_gc_total_cpu_seconds_total {gc}\n\
                 # TYPE go_cpu_classes_total_cpu_seconds_total counter\n\
                 go_cpu_classes_total_cpu_seconds_total {total}\n\
                 # TYPE go_gc_heap_live_bytes gauge\n\
                 go_gc_heap_live_bytes {live}\n\
                 # TYPE process_start_time_seconds gauge\n\
                 process_start_time_seconds 1.7e+09\n"
            );
            gorx_formats::prometheus::parse("metrics", text.as_bytes()).unwrap()
        };
        let e = scrape(2.0, 0.5, 100.0, 30 << 20);
        assert_eq!(
            CpuClasses::of(&e),
            Some(CpuClasses {
                gc_total_s: 2.0,
                assist_s: 0.5,
                total_s: 100.0
            })
        );
        assert_eq!(heap_live_of(&e), Some(30 << 20));
        // One scrape: the assist share since start.
        let one = Reading::default().with_metrics(&e);
        assert_eq!(one.start_unix_ns, Some(1_700_000_000_000_000_000));
        let i = inputs_of_readings(std::slice::from_ref(&one));
        assert_eq!(i.assist_share, Some(0.25));
        assert!(
            i.assist_basis
                .unwrap()
                .contains("since the process started")
        );
        // Readings a cycle apart: the live heap swings 30 ↔ 45 MiB (0.5 and 0.33).
        let rs: Vec<Reading> = (0..7u64)
            .map(|k| {
                let live = if k % 2 == 0 { 30 << 20 } else { 45 << 20 };
                let mut r = Reading {
                    at_ns: k * 1_000_000_000,
                    num_gc: 10 + k,
                    next_gc_bytes: 64 << 20,
                    ..Default::default()
                }
                .with_metrics(&scrape(
                    2.0 + k as f64,
                    0.5 + 0.1 * k as f64,
                    100.0 + 2.0 * k as f64,
                    live,
                ));
                r.single.gc_cpu_percent = Some(2.0);
                r
            })
            .collect();
        let i = inputs_of_readings(&rs);
        assert!((i.oscillation.unwrap() - 0.5).abs() < 1e-9, "{i:?}");
        assert!(i.oscillation_basis.unwrap().contains("/gc/heap/live"));
        // Over the 6 s window: 6 s of GC CPU in 12 s of CPU, 0.6 s of it assists.
        assert!((i.gc_cpu_percent.unwrap() - 50.0).abs() < 1e-9);
        assert!((i.assist_share.unwrap() - 0.1).abs() < 1e-9);
    }

    #[test]
    fn window_pauses_come_from_the_ring() {
        let mut m = MemStats {
            num_gc: 300,
            pause_ns: vec![100_000; 256],
            ..Default::default()
        };
        // The last 30 cycles (271..=300) paused 5 ms each.
        for k in 271..=300u64 {
            m.pause_ns[((k + 255) % 256) as usize] = 5_000_000;
        }
        let a = Reading::of_memstats(
            0,
            &MemStats {
                num_gc: 270,
                ..Default::default()
            },
            ScoreInputs::default(),
        );
        let b = Reading::of_memstats(10_000_000_000, &m, ScoreInputs::default());
        let i = inputs_of_readings(&[a.clone(), b.clone()]);
        assert_eq!(i.pause_ns.as_ref().unwrap().0, 5_000_000, "{i:?}");
        // A one-shot read with few window cycles keeps the ring (P99 of 256); a monitor
        // scores only the window's: a 50 ms start-up pause in the ring does not count.
        m.pause_ns[((260 + 255) % 256) as usize] = 50_000_000;
        let few_a = Reading::of_memstats(
            0,
            &MemStats {
                num_gc: 297,
                ..Default::default()
            },
            ScoreInputs::default(),
        );
        let few_b = Reading::of_memstats(10_000_000_000, &m, ScoreInputs::default());
        let w = inputs_of_window(&[few_a.clone(), few_b.clone()]);
        let (ns, basis) = w.pause_ns.unwrap();
        assert_eq!(ns, 5_000_000);
        assert!(basis.starts_with("max of the 3 pauses"), "{basis}");
        // No cycle in the window: nothing to score, and why.
        let idle = inputs_of_window(&[few_b.clone(), few_b]);
        assert!(idle.pause_ns.is_none());
        assert!(idle.unmeasured.iter().any(|(n, _)| *n == "pause_p99"));
    }
}
