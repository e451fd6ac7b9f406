//! Memory accounting from `runtime.MemStats`.
//!
//! - [`MemoryAccounting::from_memstats`]: where the bytes the runtime got from the OS (`Sys`)
//!   went: heap in use, stacks, span/cache/GC metadata, idle heap still resident, heap
//!   released to the OS. The live analysis reuses it to reconcile RSS
//!   (`resident_estimate_bytes` is what Go itself accounts as resident).
//! - [`memstats_findings`]`(m, source)`: `memory.unreturned` (idle heap not released),
//!   `memory.stack-heavy` (goroutine stacks a large share of memory) and `gc.long-pause`
//!   from the recent pauses (`PauseNs`/`PauseEnd`), judged like gctrace's.

use crate::finding::{Evidence, Finding, Severity};
use crate::thresholds as t;
use gorx_formats::memstats::MemStats;
use serde::Serialize;
use serde_json::json;

/// A breakdown of `Sys` (bytes obtained from the OS) by use. The parts add up to
/// `sys_bytes` when the MemStats is internally consistent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryAccounting {
    pub sys_bytes: u64,
    /// HeapInuse: spans with at least one object (includes fragmentation within spans).
    pub heap_inuse_bytes: u64,
    /// HeapAlloc: bytes of live and not-yet-swept objects.
    pub heap_alloc_bytes: u64,
    /// HeapIdle − HeapReleased: free heap spans still backed by memory.
    pub heap_idle_unreleased_bytes: u64,
    /// HeapReleased: returned to the OS (not resident).
    pub heap_released_bytes: u64,
    /// StackSys: goroutine stacks (and, on some systems, OS thread stacks).
    pub stack_bytes: u64,
    /// MSpanSys + MCacheSys + BuckHashSys + GCSys + OtherSys.
    pub runtime_metadata_bytes: u64,
    /// Sys − HeapReleased: what the runtime accounts as resident at most.
    pub resident_estimate_bytes: u64,
}

impl MemoryAccounting {
    pub fn from_memstats(m: &MemStats) -> Self {
        // Saturating: the values come from files (expvar, /metrics) and may be absurd.
        let metadata = [m.mcache_sys, m.buck_hash_sys, m.gc_sys, m.other_sys]
            .into_iter()
            .fold(m.mspan_sys, u64::saturating_add);
        Self {
            sys_bytes: m.sys,
            heap_inuse_bytes: m.heap_inuse,
            heap_alloc_bytes: m.heap_alloc,
            heap_idle_unreleased_bytes: m.heap_idle.saturating_sub(m.heap_released),
            heap_released_bytes: m.heap_released,
            stack_bytes: m.stack_sys,
            runtime_metadata_bytes: metadata,
            resident_estimate_bytes: m.sys.saturating_sub(m.heap_released),
        }
    }

    /// The breakdown as evidence entries (`*_bytes` keys).
    pub fn evidence(&self) -> Evidence {
        let mut ev = Evidence::new();
        ev.insert("sys_bytes".into(), json!(self.sys_bytes));
        ev.insert("heap_inuse_bytes".into(), json!(self.heap_inuse_bytes));
        ev.insert("heap_alloc_bytes".into(), json!(self.heap_alloc_bytes));
        ev.insert(
            "heap_idle_unreleased_bytes".into(),
            json!(self.heap_idle_unreleased_bytes),
        );
        ev.insert(
            "heap_released_bytes".into(),
            json!(self.heap_released_bytes),
        );
        ev.insert("stack_bytes".into(), json!(self.stack_bytes));
        ev.insert(
            "runtime_metadata_bytes".into(),
            json!(self.runtime_metadata_bytes),
        );
        ev.insert(
            "resident_estimate_bytes".into(),
            json!(self.resident_estimate_bytes),
        );
        ev
    }
}

fn mib(b: u64) -> f64 {
    b as f64 / (1u64 << 20) as f64
}

/// Findings from one MemStats snapshot. `source` names the artifact.
pub fn memstats_findings(m: &MemStats, source: &str) -> Vec<Finding> {
    let acc = MemoryAccounting::from_memstats(m);
    let mut out = Vec::new();
    if m.sys == 0 {
        return out;
    }

    // Idle heap the scavenger has not returned: resident, counted by the OOM killer,
    // invisible in heap profiles.
    let unreturned = acc.heap_idle_unreleased_bytes;
    let share = unreturned as f64 / m.sys as f64;
    if unreturned >= t::UNRETURNED_MIN_BYTES && share >= t::UNRETURNED_WARNING_RATIO {
        let severity = if share >= t::UNRETURNED_CRITICAL_RATIO {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let mut ev = acc.evidence();
        ev.insert(
            "unreturned_share_of_sys_percent".into(),
            json!((share * 1000.0).round() / 10.0),
        );
        // A limit just above what is really in use makes the scavenger return the rest.
        let limit =
            (m.heap_inuse as f64 + acc.stack_bytes as f64 + acc.runtime_metadata_bytes as f64)
                * t::UNRETURNED_MEMLIMIT_HEADROOM;
        ev.insert("suggested_gomemlimit_bytes".into(), json!(limit as u64));
        out.push(Finding {
            id: "memory.unreturned",
            severity,
            title: format!(
                "{:.0} MiB of idle heap ({:.0}% of Sys) is still held, not returned to the OS",
                mib(unreturned),
                share * 100.0
            ),
            evidence: ev,
            recommendation: format!(
                "Set GOMEMLIMIT (e.g. GOMEMLIMIT={}MiB, just above what is in use) so the scavenger returns idle memory eagerly; after a one-off peak, debug.FreeOSMemory() returns it at once. Reduce the peak itself if it recurs (it came from a burst of allocation).",
                (limit / (1u64 << 20) as f64).ceil() as u64
            ),
            sources: vec![source.to_string()],
            sites: Vec::new(),
        });
    }

    // Stacks: many goroutines (leak) or deep recursion.
    let stack_share = m.stack_inuse as f64 / m.sys as f64;
    if m.stack_inuse >= t::STACK_HEAVY_MIN_BYTES && stack_share >= t::STACK_HEAVY_WARNING_RATIO {
        let severity = if stack_share >= t::STACK_HEAVY_CRITICAL_RATIO {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let mut ev = acc.evidence();
        ev.insert("stack_inuse_bytes".into(), json!(m.stack_inuse));
        ev.insert(
            "stack_share_of_sys_percent".into(),
            json!((stack_share * 1000.0).round() / 10.0),
        );
        out.push(Finding {
            id: "memory.stack-heavy",
            severity,
            title: format!(
                "Goroutine stacks use {:.0} MiB, {:.0}% of the memory Go holds",
                mib(m.stack_inuse),
                stack_share * 100.0
            ),
            evidence: ev,
            recommendation: "Stacks grow with the number of goroutines and their depth: look for a goroutine leak (gorx goroutines on a ?debug=2 dump), bound worker pools, and check for deep recursion that grows stacks.".to_string(),
            sources: vec![source.to_string()],
            sites: Vec::new(),
        });
    }
    out.extend(long_pause(m, source));
    out
}

/// gc.long-pause from `PauseNs` (the last ≤256 stop-the-world pauses, each a cycle's total
/// as gctrace's): the same pause table and the same minimum cycle count as gctrace
/// ([`crate::gc::PauseStats`]). `PauseEnd` gives the window they span.
fn long_pause(m: &MemStats, source: &str) -> Option<Finding> {
    let pauses = m.recent_pauses_ns();
    if pauses.len() < t::GC_MIN_CYCLES {
        return None;
    }
    let p = crate::gc::PauseStats::of(&pauses);
    let severity = p.severity()?;
    let mut ev = Evidence::new();
    ev.insert("num_gc".into(), json!(m.num_gc));
    p.add_evidence(&mut ev);
    // The same ring for the end times; a window only when every end is known and ordered.
    let ends = recent_pause_ends_ns(m);
    let window = match (ends.first(), ends.last()) {
        (Some(&a), Some(&b)) if ends.len() == pauses.len() && a > 0 && b >= a => Some(b - a),
        _ => None,
    };
    if let Some(w) = window {
        ev.insert("window_ns".into(), json!(w));
    }
    ev.insert(
        "basis".into(),
        json!("runtime.MemStats PauseNs: the last ≤256 stop-the-world pauses"),
    );
    let over = window.map_or(String::new(), |w| {
        format!(" in the last {:.0} s", w as f64 / 1e9)
    });
    Some(Finding {
        id: "gc.long-pause",
        severity,
        title: format!(
            "GC stop-the-world pauses: {}{over} (MemStats)",
            p.describe()
        ),
        evidence: ev,
        recommendation: crate::gc::PAUSE_ADVICE.to_string(),
        sources: vec![source.to_string()],
        sites: Vec::new(),
    })
}

/// `PauseEnd` in the order of [`MemStats::recent_pauses_ns`] (oldest first), or empty.
pub(crate) fn recent_pause_ends_ns(m: &MemStats) -> Vec<u64> {
    if m.pause_end.len() != 256 {
        return Vec::new();
    }
    let swapped = MemStats {
        pause_ns: m.pause_end.clone(),
        num_gc: m.num_gc,
        ..Default::default()
    };
    swapped.recent_pauses_ns()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms() -> MemStats {
        MemStats {
            sys: 1000 << 20,
            heap_sys: 900 << 20,
            heap_inuse: 100 << 20,
            heap_alloc: 90 << 20,
            heap_idle: 800 << 20,
            heap_released: 50 << 20,
            stack_inuse: 20 << 20,
            stack_sys: 20 << 20,
            mspan_sys: 10 << 20,
            gc_sys: 50 << 20,
            other_sys: 20 << 20,
            ..Default::default()
        }
    }

    #[test]
    fn accounting_adds_up() {
        let a = MemoryAccounting::from_memstats(&ms());
        assert_eq!(a.heap_idle_unreleased_bytes, 750 << 20);
        assert_eq!(a.runtime_metadata_bytes, 80 << 20);
        assert_eq!(a.resident_estimate_bytes, 950 << 20);
        assert_eq!(
            a.heap_inuse_bytes
                + a.heap_idle_unreleased_bytes
                + a.heap_released_bytes
                + a.stack_bytes
                + a.runtime_metadata_bytes,
            a.sys_bytes
        );
    }

    #[test]
    fn unreturned_and_stack_heavy() {
        let f = memstats_findings(&ms(), "x");
        let ids: Vec<_> = f.iter().map(|f| f.id).collect();
        assert_eq!(ids, vec!["memory.unreturned"]);
        assert_eq!(f[0].severity, Severity::Critical);
        let mut m = ms();
        m.heap_released = m.heap_idle;
        m.stack_inuse = 600 << 20;
        let ids: Vec<_> = memstats_findings(&m, "x").iter().map(|f| f.id).collect();
        assert_eq!(ids, vec!["memory.stack-heavy"]);
        let mut m = ms();
        m.heap_released = m.heap_idle;
        assert!(memstats_findings(&m, "x").is_empty());
    }

    /// MemStats of a process whose pauses are ring entries `pauses` (oldest first),
    /// one a second, ending with cycle `num_gc`.
    fn with_pauses(num_gc: u64, pauses: &[u64]) -> MemStats {
        let mut m = ms();
        m.heap_released = m.heap_idle;
        m.num_gc = num_gc;
        m.pause_ns = vec![0; 256];
        m.pause_end = vec![0; 256];
        let n = pauses.len() as u64;
        for (k, &p) in pauses.iter().enumerate() {
            let cycle = num_gc - n + k as u64 + 1; // 1-based cycle number
            let slot = ((cycle + 255) % 256) as usize;
            m.pause_ns[slot] = p;
            m.pause_end[slot] = 1_700_000_000_000_000_000 + cycle * 1_000_000_000;
        }
        m
    }

    /// The field case: no /metrics, no gctrace; MemStats' PauseNs hold P99 26 ms and max
    /// 48 ms. The old code said "No findings".
    #[test]
    fn memstats_pauses_are_pause_evidence() {
        let mut pauses = vec![300_000u64; 256];
        for (i, p) in [48, 26, 26, 22, 18, 15, 12].iter().enumerate() {
            pauses[40 * i + 3] = p * 1_000_000;
        }
        let f = memstats_findings(&with_pauses(1000, &pauses), "heap.debug1.txt");
        let lp = f
            .iter()
            .find(|f| f.id == "gc.long-pause")
            .expect("gc.long-pause");
        assert_eq!(lp.severity, Severity::Warning, "{lp:#?}");
        assert_eq!(lp.evidence["pause_p99_ns"], json!(26_000_000));
        assert_eq!(lp.evidence["pause_max_ns"], json!(48_000_000));
        assert_eq!(lp.evidence["window_ns"], json!(255_000_000_000u64));
        assert!(
            lp.title.contains("P99 26.0 ms, max 48.0 ms"),
            "{}",
            lp.title
        );

        // Quiet pauses: nothing; one slow stop among many: info.
        assert!(memstats_findings(&with_pauses(1000, &[300_000; 256]), "x").is_empty());
        let mut one = vec![300_000u64; 256];
        one[7] = 30_000_000;
        let f = memstats_findings(&with_pauses(1000, &one), "x");
        assert_eq!(f[0].severity, Severity::Info, "{f:#?}");
    }

    /// Fewer pauses than a percentile needs: "max of N", no P99 claimed.
    #[test]
    fn few_memstats_pauses_are_a_max_of_n() {
        let pauses = [
            300_000, 12_000_000, 400_000, 15_000_000, 350_000, 300_000, 320_000, 310_000,
        ];
        let f = memstats_findings(&with_pauses(8, &pauses), "vars.json");
        let lp = f
            .iter()
            .find(|f| f.id == "gc.long-pause")
            .expect("gc.long-pause");
        assert_eq!(lp.severity, Severity::Warning);
        assert!(lp.title.contains("max 15.0 ms of 8 pauses"), "{}", lp.title);
        assert!(!lp.title.contains("P99 "), "{}", lp.title);
        assert!(!lp.evidence.contains_key("pause_p99_ns"));
        // Four cycles are too few to judge at all, as in gctrace.
        assert!(memstats_findings(&with_pauses(4, &pauses[..4]), "x").is_empty());
    }
}
