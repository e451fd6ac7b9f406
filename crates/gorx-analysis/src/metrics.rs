//! Findings from a scraped Prometheus `/metrics` page: client_golang's `go_*` and
//! `process_*` collectors.
//!
//! Nothing here judges memory or fds itself: [`MetricsView`] rebuilds the inputs the other
//! analyses already take (a `runtime.MemStats` for [`crate::memory`], RSS/fds/GOMEMLIMIT
//! for [`crate::process`]), so a scrape and a `vars.json` of the same process give the
//! same findings. What only metrics carry is judged here: GC pauses from the
//! `go_gc_duration_seconds` summary and the goroutine count.

use crate::finding::{Evidence, Finding, Severity};
use crate::process::ProcessSnapshot;
use crate::thresholds as t;
use gorx_formats::memstats::MemStats;
use gorx_formats::procfs::{FdBreakdown, Status};
use gorx_formats::prometheus::Exposition;
use serde_json::json;

/// `GOMEMLIMIT`'s "no limit" value, math.MaxInt64, as the gauge reports it.
const NO_MEMORY_LIMIT: f64 = i64::MAX as f64;

/// What one scrape says, in the units gorx uses. `None` when the metric is absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsView {
    /// From `go_memstats_*`, when `go_memstats_sys_bytes` is present.
    pub memstats: Option<MemStats>,
    pub goroutines: Option<u64>,
    pub threads: Option<u64>,
    pub gomaxprocs: Option<u32>,
    pub gogc_percent: Option<i64>,
    /// `go_gc_gomemlimit_bytes`; `Some(None)` when the runtime reports no limit.
    pub gomemlimit_bytes: Option<Option<u64>>,
    /// `go_gc_duration_seconds` quantiles as (quantile, ns), ascending.
    pub gc_pause_quantiles_ns: Vec<(f64, u64)>,
    pub gc_cycles: Option<u64>,
    pub gc_pause_total_ns: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub resident_bytes: Option<u64>,
    pub virtual_bytes: Option<u64>,
    /// `process_start_time_seconds`: Unix seconds.
    pub start_time_s: Option<f64>,
    /// `go_info{version}`.
    pub go_version: Option<String>,
}

/// A gauge as a non-negative integer; absurd or negative values are dropped.
fn count(e: &Exposition, name: &str) -> Option<u64> {
    let v = e.value(name)?;
    (0.0..1.8e19).contains(&v).then_some(v as u64)
}

impl MetricsView {
    pub fn from_exposition(e: &Exposition) -> Self {
        let memstats = count(e, "go_memstats_sys_bytes").map(|sys| {
            let c = |n: &str| count(e, n).unwrap_or(0);
            MemStats {
                alloc: c("go_memstats_alloc_bytes"),
                total_alloc: c("go_memstats_alloc_bytes_total"),
                sys,
                lookups: c("go_memstats_lookups_total"),
                mallocs: c("go_memstats_mallocs_total"),
                frees: c("go_memstats_frees_total"),
                heap_alloc: c("go_memstats_heap_alloc_bytes"),
                heap_sys: c("go_memstats_heap_sys_bytes"),
                heap_idle: c("go_memstats_heap_idle_bytes"),
                heap_inuse: c("go_memstats_heap_inuse_bytes"),
                heap_released: c("go_memstats_heap_released_bytes"),
                heap_objects: c("go_memstats_heap_objects"),
                stack_inuse: c("go_memstats_stack_inuse_bytes"),
                stack_sys: c("go_memstats_stack_sys_bytes"),
                mspan_inuse: c("go_memstats_mspan_inuse_bytes"),
                mspan_sys: c("go_memstats_mspan_sys_bytes"),
                mcache_inuse: c("go_memstats_mcache_inuse_bytes"),
                mcache_sys: c("go_memstats_mcache_sys_bytes"),
                buck_hash_sys: c("go_memstats_buck_hash_sys_bytes"),
                gc_sys: c("go_memstats_gc_sys_bytes"),
                other_sys: c("go_memstats_other_sys_bytes"),
                next_gc: c("go_memstats_next_gc_bytes"),
                last_gc: e
                    .value("go_memstats_last_gc_time_seconds")
                    .filter(|v| v.is_finite() && *v > 0.0 && *v < 1e10)
                    .map_or(0, |s| (s * 1e9) as u64),
                num_gc: c("go_gc_duration_seconds_count"),
                ..Default::default()
            }
        });
        let mut gc_pause_quantiles_ns: Vec<(f64, u64)> = e
            .family("go_gc_duration_seconds")
            .map(|f| {
                f.samples
                    .iter()
                    .filter(|s| s.name == "go_gc_duration_seconds")
                    .filter_map(|s| {
                        let q: f64 = s.label("quantile")?.parse().ok()?;
                        (s.value.is_finite() && s.value >= 0.0 && s.value < 1e9)
                            .then(|| (q, (s.value * 1e9).round() as u64))
                    })
                    .collect()
            })
            .unwrap_or_default();
        gc_pause_quantiles_ns.sort_by(|a, b| a.0.total_cmp(&b.0));
        MetricsView {
            memstats,
            goroutines: count(e, "go_goroutines"),
            threads: count(e, "go_threads"),
            gomaxprocs: count(e, "go_sched_gomaxprocs_threads").and_then(|v| u32::try_from(v).ok()),
            gogc_percent: e
                .value("go_gc_gogc_percent")
                .filter(|v| v.is_finite())
                .map(|v| v as i64),
            gomemlimit_bytes: e
                .value("go_gc_gomemlimit_bytes")
                .filter(|v| v.is_finite() && *v > 0.0)
                .map(|v| (v < NO_MEMORY_LIMIT).then_some(v as u64)),
            gc_pause_quantiles_ns,
            gc_cycles: count(e, "go_gc_duration_seconds_count"),
            gc_pause_total_ns: e
                .value("go_gc_duration_seconds_sum")
                .filter(|v| v.is_finite() && *v >= 0.0 && *v < 1e9)
                .map(|v| (v * 1e9).round() as u64),
            open_fds: count(e, "process_open_fds"),
            max_fds: count(e, "process_max_fds"),
            resident_bytes: count(e, "process_resident_memory_bytes"),
            virtual_bytes: count(e, "process_virtual_memory_bytes"),
            start_time_s: e
                .value("process_start_time_seconds")
                .filter(|v| v.is_finite() && *v > 0.0),
            go_version: e
                .family("go_info")
                .and_then(|f| f.samples.first())
                .and_then(|s| s.label("version"))
                .map(str::to_string),
        }
    }

    /// Whether the process collector was scraped (it reads the target's own /proc).
    pub fn has_process_metrics(&self) -> bool {
        self.open_fds.is_some() || self.resident_bytes.is_some()
    }

    /// The pause at quantile `q`, if the summary has it.
    pub fn pause_quantile_ns(&self, q: f64) -> Option<u64> {
        self.gc_pause_quantiles_ns
            .iter()
            .find(|(x, _)| (*x - q).abs() < 1e-9)
            .map(|&(_, v)| v)
    }

    /// Fills what the snapshot does not know yet from `process_*` and `go_*`: /proc
    /// files and `snapshot.json` read directly are more detailed and win.
    pub fn fill_snapshot(&self, s: &mut ProcessSnapshot) {
        if s.fds.is_none()
            && let Some(n) = self.open_fds
        {
            // A count without kinds: client_golang counts /proc/self/fd entries.
            s.fds = Some(FdBreakdown {
                total: n,
                ..Default::default()
            });
        }
        if s.nofile_soft.is_none() {
            s.nofile_soft = self.max_fds;
        }
        if self.resident_bytes.is_some() || self.virtual_bytes.is_some() {
            let st = s.status.get_or_insert_with(Status::default);
            st.vm_rss_bytes = st.vm_rss_bytes.or(self.resident_bytes);
            st.vm_size_bytes = st.vm_size_bytes.or(self.virtual_bytes);
            if st.threads.is_none() {
                st.threads = self.threads;
            }
        }
        if s.gomaxprocs_observed.is_none() {
            s.gomaxprocs_observed = self.gomaxprocs;
        }
        if s.gomemlimit_observed_bytes.is_none() {
            s.gomemlimit_observed_bytes = self.gomemlimit_bytes;
        }
        if s.go_version.is_none() {
            s.go_version = self.go_version.clone();
        }
        if s.start_time_s.is_none() {
            s.start_time_s = self.start_time_s;
        }
    }
}

/// Findings only a scrape carries: gc.long-pause from the pause summary and
/// goroutine.count-high from `go_goroutines`. (Memory and process findings come from the
/// views [`MetricsView`] builds; see the module comment.)
pub fn metrics_findings(v: &MetricsView, source: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(long_pause(v, source));
    out.extend(goroutine_count(v, source));
    out
}

/// gc.long-pause: client_golang summarises the last ≤256 pauses (debug.ReadGCStats) as
/// quantiles 0, ¼, ½, ¾ and 1. There is no P99, so the upper quartile stands for "a
/// pattern" and the maximum for "one slow stop" (see thresholds.rs).
fn long_pause(v: &MetricsView, source: &str) -> Option<Finding> {
    let cycles = v.gc_cycles?;
    let max = v.pause_quantile_ns(1.0)?;
    let q75 = v.pause_quantile_ns(0.75).unwrap_or(0);
    if cycles < t::METRICS_GC_MIN_CYCLES {
        return None;
    }
    let severity = if max >= t::GC_PAUSE_MAX_CRITICAL_NS || q75 >= t::GC_PAUSE_P99_CRITICAL_NS {
        Severity::Critical
    } else if q75 >= t::GC_PAUSE_P99_WARNING_NS {
        Severity::Warning
    } else if max >= t::GC_PAUSE_P99_WARNING_NS {
        Severity::Info
    } else {
        return None;
    };
    let mut ev = Evidence::new();
    ev.insert("cycles".into(), json!(cycles));
    ev.insert("pauses".into(), json!(cycles.min(256)));
    for (q, ns) in &v.gc_pause_quantiles_ns {
        let key = if *q == 0.0 {
            "pause_min_ns".to_string()
        } else if *q == 1.0 {
            "pause_max_ns".to_string()
        } else {
            format!("pause_p{}_ns", (q * 100.0).round() as u32)
        };
        ev.insert(key, json!(ns));
    }
    if let (Some(total), true) = (v.gc_pause_total_ns, cycles > 0) {
        ev.insert("pause_total_ns".into(), json!(total));
        ev.insert("pause_mean_ns".into(), json!(total / cycles));
    }
    ev.insert(
        "basis".into(),
        json!("go_gc_duration_seconds: quantiles of the last ≤256 STW pauses"),
    );
    Some(Finding {
        id: "gc.long-pause",
        severity,
        title: if (cycles as usize) < t::PAUSE_PERCENTILE_MIN_SAMPLES {
            // Quantiles of a handful of pauses: the maximum is the number that means something.
            format!(
                "GC stop-the-world pauses: max {:.1} ms of {} pauses (upper quartile {:.1} ms; too few for a percentile)",
                max as f64 / 1e6,
                cycles,
                q75 as f64 / 1e6,
            )
        } else {
            format!(
                "GC stop-the-world pauses: max {:.1} ms, upper quartile {:.1} ms over the last {} cycles",
                max as f64 / 1e6,
                q75 as f64 / 1e6,
                cycles.min(256)
            )
        },
        evidence: ev,
        recommendation: "Long STW phases usually mean the process was not on a CPU when the world stopped: check CFS throttling and set GOMAXPROCS to the CPU quota; otherwise look for tight loops without function calls (non-preemptible with GODEBUG=asyncpreemptoff=1 or before Go 1.14) and for huge numbers of goroutines. A gctrace log (GODEBUG=gctrace=1) or an execution trace shows which phase is long.".into(),
        sources: vec![source.to_string()],
        sites: Vec::new(),
    })
}

/// goroutine.count-high from `go_goroutines`, on the dump analysis' thresholds.
fn goroutine_count(v: &MetricsView, source: &str) -> Option<Finding> {
    let n = v.goroutines?;
    let severity = if n >= t::GOROUTINES_CRITICAL as u64 {
        Severity::Critical
    } else if n >= t::GOROUTINES_WARNING as u64 {
        Severity::Warning
    } else {
        return None;
    };
    let mut ev = Evidence::new();
    ev.insert("goroutines".into(), json!(n));
    if let Some(ms) = &v.memstats {
        ev.insert("stack_inuse_bytes".into(), json!(ms.stack_inuse));
    }
    if let Some(th) = v.threads {
        ev.insert("os_threads".into(), json!(th));
    }
    Some(Finding {
        id: "goroutine.count-high",
        severity,
        title: format!("{n} goroutines exist (go_goroutines)"),
        evidence: ev,
        recommendation: "Fetch /debug/pprof/goroutine?debug=2 and group it (`gorx goroutines`) to find where they wait; bound concurrency there (worker pool, semaphore) and make sure those goroutines exit.".into(),
        sources: vec![source.to_string()],
        sites: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gorx_formats::prometheus;

    #[test]
    fn view_maps_client_golang_names() {
        let text = "go_memstats_sys_bytes 1e8\ngo_memstats_heap_idle_bytes 6e7\n\
go_memstats_heap_released_bytes 1e7\ngo_memstats_stack_inuse_bytes 4096\n\
go_gc_duration_seconds{quantile=\"0\"} 1e-4\ngo_gc_duration_seconds{quantile=\"0.75\"} 0.02\n\
go_gc_duration_seconds{quantile=\"1\"} 0.03\ngo_gc_duration_seconds_sum 0.5\n\
go_gc_duration_seconds_count 40\ngo_gc_gomemlimit_bytes 9.223372036854776e+18\n\
process_open_fds 12\nprocess_max_fds 1024\nprocess_resident_memory_bytes 2e8\n\
go_goroutines -3\n";
        let e = prometheus::parse("m", text.as_bytes()).unwrap();
        let v = MetricsView::from_exposition(&e);
        let ms = v.memstats.as_ref().unwrap();
        assert_eq!(ms.sys, 100_000_000);
        assert_eq!(ms.heap_idle - ms.heap_released, 50_000_000);
        assert_eq!(ms.num_gc, 40);
        assert_eq!(v.gomemlimit_bytes, Some(None));
        assert_eq!(v.goroutines, None, "a negative gauge is dropped");
        assert_eq!(v.pause_quantile_ns(0.75), Some(20_000_000));
        let f = metrics_findings(&v, "m");
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].id, f[0].severity),
            ("gc.long-pause", Severity::Warning)
        );
        assert_eq!(f[0].evidence["pause_p75_ns"], json!(20_000_000));
        let mut s = ProcessSnapshot::default();
        v.fill_snapshot(&mut s);
        assert_eq!(s.fds.as_ref().map(|f| f.total), Some(12));
        assert_eq!(s.nofile_soft, Some(1024));
        assert_eq!(s.rss_bytes(), Some(200_000_000));
        assert_eq!(s.gomemlimit_observed_bytes, Some(None));
    }

    /// Quantiles of 8 pauses: the title gives "max of N", not a distribution.
    #[test]
    fn few_scraped_pauses_are_a_max_of_n() {
        let text = "go_gc_duration_seconds{quantile=\"0\"} 1e-4\n\
go_gc_duration_seconds{quantile=\"0.75\"} 0.02\ngo_gc_duration_seconds{quantile=\"1\"} 0.03\n\
go_gc_duration_seconds_sum 0.1\ngo_gc_duration_seconds_count 8\n";
        let v = MetricsView::from_exposition(&prometheus::parse("m", text.as_bytes()).unwrap());
        let f = metrics_findings(&v, "m");
        assert_eq!(f[0].id, "gc.long-pause");
        assert!(
            f[0].title.contains("max 30.0 ms of 8 pauses"),
            "{}",
            f[0].title
        );
        assert!(!f[0].title.contains("over the last"), "{}", f[0].title);
    }

    /// Absurd gauges (from a broken exporter or a fuzzer) never panic in any analysis.
    #[test]
    fn absurd_values_do_not_panic() {
        let names = [
            "go_memstats_sys_bytes",
            "go_memstats_heap_idle_bytes",
            "go_memstats_heap_inuse_bytes",
            "go_memstats_stack_inuse_bytes",
            "go_memstats_stack_sys_bytes",
            "go_memstats_mspan_sys_bytes",
            "go_memstats_mcache_sys_bytes",
            "go_memstats_buck_hash_sys_bytes",
            "go_memstats_gc_sys_bytes",
            "go_memstats_other_sys_bytes",
            "go_goroutines",
            "go_gc_duration_seconds_count",
            "go_gc_gomemlimit_bytes",
            "process_open_fds",
            "process_max_fds",
            "process_resident_memory_bytes",
            "process_start_time_seconds",
        ];
        for v in ["1.7e19", "-1", "NaN", "+Inf", "0", "1e300"] {
            let mut text = String::from("# TYPE go_goroutines gauge\n");
            for n in names {
                text.push_str(&format!("{n} {v}\n"));
            }
            for q in ["0", "0.75", "1"] {
                text.push_str(&format!("go_gc_duration_seconds{{quantile=\"{q}\"}} {v}\n"));
            }
            let a = crate::artifacts::Artifact {
                name: "m",
                bytes: text.as_bytes(),
                explicit: true,
            };
            crate::artifacts::diagnose(&[a]).unwrap();
        }
    }
}
