//! User annotations in execution traces: tasks (`trace.NewTask`), regions
//! (`trace.StartRegion`, `trace.WithRegion`) and logs (`trace.Log`), summarised per task
//! type, region type and log category with exact durations.
//!
//! Semantics follow Go 1.27's `internal/trace/summary.go` (what `go tool trace` shows on
//! its /usertasks and /userregions pages):
//! - A task is *complete* when both its begin and end are in the trace; its duration is
//!   end − begin. A task whose end is in the trace but whose begin is not began before
//!   tracing started: the reader cannot name its type, so (as in Go) its type is "".
//!   A task begun but not ended is *unfinished*; one only referred to by regions or logs
//!   has neither. Only complete tasks enter the duration statistics; the others are
//!   counted as such, with how long they had been seen to run.
//! - A task's goroutines are those of its begin/end events, its regions' begins (or
//!   ends, for regions that began before the trace) and its logs.
//! - A region ends at its end event; a region end with no begin on that goroutine
//!   began before the trace; regions still open when their goroutine exits (or blocks
//!   "forever") end there; regions still open at the end of the trace are open.
//!   Go additionally gives goroutines created inside a region a synthetic, unnamed
//!   region carrying the task; those are not user regions and are left out here.
//! - The background task (id 0: regions and logs outside any task) is not a task type;
//!   its regions and logs are counted separately.
//!
//! Memory: one small record per task (as Go keeps); regions are folded into per-type
//! statistics as they end. Percentiles are exact (nearest rank over every duration) up
//! to [`EXACT_SAMPLES`] durations per type, then from a ≤3% histogram.

use crate::trace::DurationHistogram;
use crate::trace::goroutine_transition;
use gorx_trace::{Event, EventKind, GoState};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Per type, durations are kept exactly up to this many (8 MiB); beyond, percentiles come
/// from the histogram and `exact` turns false.
pub const EXACT_SAMPLES: usize = 1 << 20;

/// Duration statistics with exact nearest-rank percentiles while samples fit.
#[derive(Debug, Clone, Default)]
pub struct DurationStats {
    samples: Vec<u64>,
    hist: DurationHistogram,
    count: u64,
    sum_ns: u128,
    min_ns: u64,
}

/// What a [`DurationStats`] reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DurationSummary {
    pub count: u64,
    pub sum_ns: u64,
    pub min_ns: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
    /// Percentiles are exact (false only past `EXACT_SAMPLES` durations).
    pub exact: bool,
}

impl DurationStats {
    pub fn record(&mut self, ns: u64) {
        if self.samples.len() < EXACT_SAMPLES {
            self.samples.push(ns);
        }
        self.hist.record(ns);
        self.min_ns = if self.count == 0 {
            ns
        } else {
            self.min_ns.min(ns)
        };
        self.count += 1;
        self.sum_ns += ns as u128;
    }

    /// Nearest-rank percentile: the ⌈p·n/100⌉-th smallest duration.
    fn percentile(sorted: &[u64], p: u64) -> u64 {
        let n = sorted.len() as u64;
        if n == 0 {
            return 0;
        }
        let rank = (p * n).div_ceil(100).max(1);
        sorted[(rank - 1) as usize]
    }

    pub fn summary(&self) -> DurationSummary {
        let exact = self.samples.len() as u64 == self.count;
        let (p50, p99) = if exact {
            let mut s = self.samples.clone();
            s.sort_unstable();
            (Self::percentile(&s, 50), Self::percentile(&s, 99))
        } else {
            (self.hist.quantile_ns(0.50), self.hist.quantile_ns(0.99))
        };
        DurationSummary {
            count: self.count,
            sum_ns: self.sum_ns.min(u64::MAX as u128) as u64,
            min_ns: self.min_ns,
            p50_ns: p50,
            p99_ns: p99,
            max_ns: self.hist.max_ns,
            exact,
        }
    }
}

/// One task type.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskTypeSummary {
    /// The type given to `trace.NewTask` ("" when the task began before the trace).
    #[serde(rename = "type")]
    pub type_name: String,
    /// Every task of this type seen in any way.
    pub count: u64,
    /// Begin and end both in the trace.
    pub completed: u64,
    /// End in the trace, begin before it.
    pub began_before_trace: u64,
    /// Begun, not ended by the end of the trace.
    pub unfinished: u64,
    /// Neither begin nor end in the trace, only regions or logs.
    pub referenced_only: u64,
    /// Durations of the completed tasks.
    pub duration: DurationSummary,
    /// Longest time an unfinished task had run when the trace ended.
    pub unfinished_max_age_ns: u64,
    /// Distinct goroutines over all tasks of this type.
    pub goroutines: u64,
    /// Largest number of goroutines in one task.
    pub max_goroutines_per_task: u64,
    /// Regions and logs attached to tasks of this type.
    pub regions: u64,
    pub logs: u64,
    /// Types of the parent tasks, with how many tasks of this type each parented.
    pub parent_types: BTreeMap<String, u64>,
}

/// One region type.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RegionTypeSummary {
    #[serde(rename = "type")]
    pub type_name: String,
    pub count: u64,
    /// Begin and end both in the trace.
    pub completed: u64,
    /// An end with no begin on its goroutine.
    pub began_before_trace: u64,
    /// Still open when the goroutine exited (or blocked forever); ends there.
    pub ended_by_goroutine_exit: u64,
    /// Still open at the end of the trace.
    pub open_at_end: u64,
    /// Durations of the completed regions.
    pub duration: DurationSummary,
    /// Distinct goroutines the regions ran on.
    pub goroutines: u64,
}

/// One log category.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LogCategorySummary {
    pub category: String,
    pub count: u64,
    /// Of which attached to a task (not the background task).
    pub in_tasks: u64,
}

/// Everything about user annotations in one trace.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskReport {
    /// First and last event times (what `go tool trace` calls the trace's start and end).
    pub start_ns: i64,
    pub end_ns: i64,
    /// Sorted by type.
    pub tasks: Vec<TaskTypeSummary>,
    pub regions: Vec<RegionTypeSummary>,
    pub logs: Vec<LogCategorySummary>,
    /// Regions and logs outside any task (the background task).
    pub background_regions: u64,
    pub background_logs: u64,
}

#[derive(Default)]
struct TaskRec {
    type_name: String,
    parent: Option<u64>,
    start: Option<i64>,
    end: Option<i64>,
    goroutines: Vec<i64>,
    regions: u64,
    logs: u64,
}

impl TaskRec {
    fn add_goroutine(&mut self, g: i64) {
        if !self.goroutines.contains(&g) {
            self.goroutines.push(g);
        }
    }
}

struct OpenRegion {
    type_name: String,
    start: i64,
}

#[derive(Default)]
struct RegionAcc {
    count: u64,
    completed: u64,
    began_before_trace: u64,
    ended_by_goroutine_exit: u64,
    open_at_end: u64,
    duration: DurationStats,
    goroutines: BTreeSet<i64>,
}

/// Streaming summariser: feed every event with [`observe`](Self::observe).
#[derive(Default)]
pub struct TaskAnalyzer {
    start_ns: Option<i64>,
    end_ns: i64,
    tasks: HashMap<u64, TaskRec>,
    /// Active regions per goroutine, innermost last.
    open: HashMap<i64, Vec<OpenRegion>>,
    regions: BTreeMap<String, RegionAcc>,
    logs: BTreeMap<String, LogCategorySummary>,
    background_regions: u64,
    background_logs: u64,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl TaskAnalyzer {
    pub fn new() -> Self {
        Self::default()
    }

    fn task(&mut self, id: u64) -> &mut TaskRec {
        self.tasks.entry(id).or_default()
    }

    /// A region's task gains the region (and its goroutine), or the background does.
    fn attach_region(&mut self, task: u64, g: i64) {
        if task == gorx_trace::event::BACKGROUND_TASK {
            self.background_regions += 1;
        } else {
            let t = self.task(task);
            t.regions += 1;
            t.add_goroutine(g);
        }
    }

    pub fn observe(&mut self, ev: &Event) {
        let t = ev.time();
        self.start_ns.get_or_insert(t);
        self.end_ns = self.end_ns.max(t);
        let g = ev.goroutine();
        match ev.kind() {
            EventKind::TaskBegin | EventKind::TaskEnd => {
                let Some((id, parent, typ)) = ev.task() else {
                    return;
                };
                let typ = text(typ);
                let begin = ev.kind() == EventKind::TaskBegin;
                let rec = self.task(id);
                // Go names the task at both begin and end (an end whose begin predates
                // the trace carries no type, and renames it "").
                rec.type_name = typ;
                rec.add_goroutine(g);
                if begin {
                    rec.start = Some(t);
                } else {
                    rec.end = Some(t);
                }
                if parent != gorx_trace::NO_TASK && rec.parent.is_none() {
                    rec.parent = Some(parent);
                    self.task(parent);
                }
            }
            EventKind::RegionBegin => {
                let Some((task, typ)) = ev.region() else {
                    return;
                };
                let typ = text(typ);
                self.attach_region(task, g);
                let acc = self.regions.entry(typ.clone()).or_default();
                acc.count += 1;
                acc.goroutines.insert(g);
                self.open.entry(g).or_default().push(OpenRegion {
                    type_name: typ,
                    start: t,
                });
            }
            EventKind::RegionEnd => {
                let Some((task, typ)) = ev.region() else {
                    return;
                };
                // The innermost open region is the one ending (the reader checks the
                // types match).
                match self.open.get_mut(&g).and_then(|s| s.pop()) {
                    Some(r) => {
                        let acc = self.regions.entry(r.type_name).or_default();
                        acc.completed += 1;
                        acc.duration.record((t - r.start).max(0) as u64);
                    }
                    None => {
                        let typ = text(typ);
                        self.attach_region(task, g);
                        let acc = self.regions.entry(typ).or_default();
                        acc.count += 1;
                        acc.began_before_trace += 1;
                        acc.goroutines.insert(g);
                    }
                }
            }
            EventKind::Log => {
                let Some((task, cat, _msg)) = ev.log() else {
                    return;
                };
                let cat = text(cat);
                let in_task = task != gorx_trace::event::BACKGROUND_TASK;
                if in_task {
                    let rec = self.task(task);
                    rec.logs += 1;
                    rec.add_goroutine(g);
                } else {
                    self.background_logs += 1;
                }
                let l = self.logs.entry(cat.clone()).or_default();
                l.category = cat;
                l.count += 1;
                l.in_tasks += in_task as u64;
            }
            EventKind::StateTransition => {
                let Some((id, old, new, st)) = goroutine_transition(ev) else {
                    return;
                };
                let exits = old != new
                    && (new == GoState::NotExist
                        || (new == GoState::Waiting && st.reason == b"forever"));
                if exits && let Some(stack) = self.open.remove(&id) {
                    for r in stack {
                        let acc = self.regions.entry(r.type_name).or_default();
                        acc.ended_by_goroutine_exit += 1;
                    }
                }
            }
            _ => {}
        }
    }

    pub fn finish(self) -> TaskReport {
        let start_ns = self.start_ns.unwrap_or(0);
        let end_ns = self.end_ns;
        let mut regions = self.regions;
        for (_, stack) in self.open {
            for r in stack {
                regions.entry(r.type_name).or_default().open_at_end += 1;
            }
        }
        #[derive(Default)]
        struct TaskAcc {
            s: TaskTypeSummary,
            durations: DurationStats,
            goroutines: BTreeSet<i64>,
        }
        let mut by_type: BTreeMap<String, TaskAcc> = BTreeMap::new();
        for (id, t) in &self.tasks {
            if *id == gorx_trace::event::BACKGROUND_TASK {
                continue;
            }
            let a = by_type.entry(t.type_name.clone()).or_default();
            a.s.count += 1;
            match (t.start, t.end) {
                (Some(s), Some(e)) => {
                    a.s.completed += 1;
                    a.durations.record((e - s).max(0) as u64);
                }
                (None, Some(_)) => a.s.began_before_trace += 1,
                (Some(s), None) => {
                    a.s.unfinished += 1;
                    a.s.unfinished_max_age_ns =
                        a.s.unfinished_max_age_ns.max((end_ns - s).max(0) as u64);
                }
                (None, None) => a.s.referenced_only += 1,
            }
            a.goroutines.extend(t.goroutines.iter().copied());
            a.s.max_goroutines_per_task =
                a.s.max_goroutines_per_task.max(t.goroutines.len() as u64);
            a.s.regions += t.regions;
            a.s.logs += t.logs;
            if let Some(p) = t.parent {
                let pt = self
                    .tasks
                    .get(&p)
                    .map(|p| p.type_name.clone())
                    .unwrap_or_default();
                *a.s.parent_types.entry(pt).or_default() += 1;
            }
        }
        let tasks = by_type
            .into_iter()
            .map(|(name, a)| TaskTypeSummary {
                type_name: name,
                duration: a.durations.summary(),
                goroutines: a.goroutines.len() as u64,
                ..a.s
            })
            .collect();
        let regions = regions
            .into_iter()
            .map(|(name, a)| RegionTypeSummary {
                type_name: name,
                count: a.count,
                completed: a.completed,
                began_before_trace: a.began_before_trace,
                ended_by_goroutine_exit: a.ended_by_goroutine_exit,
                open_at_end: a.open_at_end,
                duration: a.duration.summary(),
                goroutines: a.goroutines.len() as u64,
            })
            .collect();
        TaskReport {
            start_ns,
            end_ns,
            tasks,
            regions,
            logs: self.logs.into_values().collect(),
            background_regions: self.background_regions,
            background_logs: self.background_logs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_are_exact() {
        let mut d = DurationStats::default();
        for v in (1..=200u64).rev() {
            d.record(v * 10);
        }
        let s = d.summary();
        assert!(s.exact);
        assert_eq!((s.count, s.min_ns, s.max_ns), (200, 10, 2000));
        assert_eq!(s.p50_ns, 1000); // rank 100
        assert_eq!(s.p99_ns, 1980); // rank 198
        assert_eq!(s.sum_ns, 10 * 200 * 201 / 2);
        let mut one = DurationStats::default();
        one.record(7);
        assert_eq!((one.summary().p50_ns, one.summary().p99_ns), (7, 7));
        assert_eq!(DurationStats::default().summary().p99_ns, 0);
    }
}
