//! `gc.assist-heavy` from an execution trace: how much of the GC's mark work allocating
//! goroutines did themselves (mark assists) rather than the background mark workers,
//! and where they were allocating when drafted.
//!
//! Mark work = assist CPU time + the running time of the background mark workers in
//! their dedicated and fractional modes (each worker run is labelled "GC (dedicated)",
//! "GC (fractional)" or "GC (idle)" when it starts). Idle-mode marking only uses Ps
//! nobody wanted and is left out, as gctrace's GC CPU leaves it out. Assist CPU time is
//! the part of a "GC mark assist" range the goroutine spent running; the range's wall
//! time also counts time parked waiting for credit, the latency its caller sees, and is
//! reported beside it.

use crate::finding::{Evidence, Finding, Severity};
use crate::thresholds as th;
use crate::trace::TraceSummary;
use crate::trace::{GoTransition, goroutine_transition};
use gorx_trace::goutil::FxHashMap;
use gorx_trace::{Event, EventKind, GoState, Resource};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;

/// GC mark work seen in a trace.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MarkWork {
    pub assists: u64,
    /// Time assisting goroutines were running inside assists.
    pub assist_ns: u64,
    /// Wall time of the assists (running or parked for credit).
    pub assist_wall_ns: u64,
    pub dedicated_ns: u64,
    pub fractional_ns: u64,
    pub idle_ns: u64,
    /// Assist time by the allocating function (first frame outside the runtime of the
    /// assist's stack), largest first, at most [`MAX_SITES`].
    pub assist_ns_by_site: Vec<(String, u64)>,
    /// The last heap goal the trace reported.
    pub heap_goal_bytes: u64,
    /// The first GC cycle number in the trace (cycles count from the process start: 1
    /// means the trace began with the process).
    pub first_gc_seq: Option<u64>,
    /// When the last assist ended, as ns after the trace start.
    pub assists_end_ns: u64,
}

/// Sites kept in the summary.
pub const MAX_SITES: usize = 10;

#[derive(Clone, Copy)]
enum Mode {
    Dedicated,
    Fractional,
    Idle,
}

/// Streaming: feed every event with [`observe`](Self::observe).
#[derive(Default)]
pub struct AssistTracker {
    start: Option<i64>,
    end: i64,
    /// Running goroutines: since when, and the mark worker mode if labelled one.
    running: FxHashMap<i64, (i64, Option<Mode>)>,
    /// Goroutines inside an assist: since when, the allocating site, CPU time so far.
    open: FxHashMap<i64, (i64, String, u64)>,
    by_site: HashMap<String, u64>,
    w: MarkWork,
}

/// The first frame outside the runtime: the allocation that drafted the goroutine.
fn alloc_site(ev: &Event) -> String {
    let frames = ev.frames(ev.stack());
    frames
        .iter()
        .map(|f| String::from_utf8_lossy(f.func))
        .find(|f| !(f.starts_with("runtime.") || f.starts_with("internal/")))
        .map(|f| f.into_owned())
        .unwrap_or_else(|| "(no user frame)".into())
}

impl AssistTracker {
    pub fn new() -> Self {
        Self::default()
    }

    fn worker_ran(&mut self, mode: Option<Mode>, ns: u64) {
        match mode {
            Some(Mode::Dedicated) => self.w.dedicated_ns += ns,
            Some(Mode::Fractional) => self.w.fractional_ns += ns,
            Some(Mode::Idle) => self.w.idle_ns += ns,
            None => {}
        }
    }

    fn assist_done(&mut self, g: i64, t: i64) {
        let Some((since, site, mut cpu)) = self.open.remove(&g) else {
            return;
        };
        if let Some((run, _)) = self.running.get(&g) {
            cpu += (t - since.max(*run)).max(0) as u64;
        }
        self.w.assists += 1;
        self.w.assists_end_ns = self
            .w
            .assists_end_ns
            .max((t - self.start.unwrap_or(t)).max(0) as u64);
        self.w.assist_ns += cpu;
        self.w.assist_wall_ns += (t - since).max(0) as u64;
        *self.by_site.entry(site).or_default() += cpu;
    }

    pub fn observe(&mut self, ev: &Event) {
        self.observe_transition(ev, goroutine_transition(ev));
    }

    /// [`Self::observe`] with the event's goroutine transition already worked out.
    pub(crate) fn observe_transition(&mut self, ev: &Event, tr: Option<GoTransition<'_>>) {
        let t = ev.time();
        self.start.get_or_insert(t);
        self.end = self.end.max(t);
        if let Some(seq) = ev.gc_seq() {
            self.w.first_gc_seq = Some(self.w.first_gc_seq.map_or(seq, |s| s.min(seq)));
        }
        match ev.kind() {
            EventKind::StateTransition => {
                let Some((id, old, new, _)) = tr else {
                    return;
                };
                if old == new {
                    return;
                }
                if let Some((since, mode)) = self.running.remove(&id) {
                    self.worker_ran(mode, (t - since).max(0) as u64);
                    // Parked (or preempted) inside an assist: the running part counts.
                    if let Some((a_since, _, cpu)) = self.open.get_mut(&id) {
                        *cpu += (t - since.max(*a_since)).max(0) as u64;
                    }
                }
                if new == GoState::Running {
                    self.running.insert(id, (t, None));
                }
            }
            EventKind::Label => {
                let Some((label, Resource::Goroutine(g))) = ev.label() else {
                    return;
                };
                let mode = match label {
                    b"GC (dedicated)" => Mode::Dedicated,
                    b"GC (fractional)" => Mode::Fractional,
                    b"GC (idle)" => Mode::Idle,
                    _ => return,
                };
                if let Some(r) = self.running.get_mut(&g) {
                    r.1 = Some(mode);
                }
            }
            EventKind::Metric => {
                if let Some(("/gc/heap/goal:bytes", v)) = ev.metric() {
                    self.w.heap_goal_bytes = v;
                }
            }
            EventKind::RangeBegin | EventKind::RangeActive => {
                if let Some((name, Resource::Goroutine(g))) = ev.range()
                    && name == b"GC mark assist"
                    && !self.open.contains_key(&g)
                {
                    // An assist already running when a generation starts has no stack.
                    let site = if ev.kind() == EventKind::RangeBegin {
                        alloc_site(ev)
                    } else {
                        "(in progress when the trace began)".into()
                    };
                    self.open.insert(g, (t, site, 0));
                }
            }
            EventKind::RangeEnd => {
                if let Some((name, Resource::Goroutine(g))) = ev.range()
                    && name == b"GC mark assist"
                {
                    self.assist_done(g, t);
                }
            }
            _ => {}
        }
    }

    /// Close what is still open at the last event.
    pub fn finish(mut self) -> MarkWork {
        let end = self.end;
        let open: Vec<i64> = self.open.keys().copied().collect();
        for g in open {
            self.assist_done(g, end);
        }
        let running: Vec<_> = self.running.drain().collect();
        for (_, (since, mode)) in running {
            self.worker_ran(mode, (end - since).max(0) as u64);
        }
        let mut sites: Vec<(String, u64)> = self.by_site.into_iter().collect();
        sites.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        sites.truncate(MAX_SITES);
        self.w.assist_ns_by_site = sites;
        self.w
    }
}

fn ms(ns: u64) -> String {
    format!("{:.1} ms", ns as f64 / 1e6)
}

/// gc.assist-heavy from a trace summary. `source` names the trace.
pub fn assist_findings(s: &TraceSummary, source: &str) -> Vec<Finding> {
    let w = &s.mark_work;
    let background = w.dedicated_ns + w.fractional_ns;
    let mark = w.assist_ns + background;
    if mark < th::TRACE_ASSIST_MIN_MARK_NS {
        return Vec::new();
    }
    let share = w.assist_ns as f64 / mark as f64;
    let cpu_ns = s.duration_ns() as f64 * s.gomaxprocs.max(1) as f64;
    let cpu_share = w.assist_ns as f64 / cpu_ns.max(1.0);
    if share < th::TRACE_ASSIST_WARNING_SHARE {
        return Vec::new();
    }
    // Start-up: the trace began with the process (its first GC cycles) and every assist
    // ended within its first moments, while the heap grew from the minimum goal. The
    // pacer has no history yet then; that is warm-up, not a pacing problem.
    let warm_up = w.assists > 0
        && w.first_gc_seq
            .is_some_and(|seq| seq <= th::TRACE_ASSIST_WARMUP_MAX_FIRST_GC)
        && w.assists_end_ns <= th::TRACE_ASSIST_WARMUP_NS;
    let severity = if warm_up {
        Severity::Info
    } else if share >= th::TRACE_ASSIST_CRITICAL_SHARE
        || cpu_share >= th::TRACE_ASSIST_CPU_CRITICAL_SHARE
    {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let mut e = Evidence::new();
    e.insert("assists".into(), json!(w.assists));
    e.insert("assist_cpu_ns".into(), json!(w.assist_ns));
    e.insert("assist_wall_ns".into(), json!(w.assist_wall_ns));
    e.insert("mark_worker_dedicated_ns".into(), json!(w.dedicated_ns));
    e.insert("mark_worker_fractional_ns".into(), json!(w.fractional_ns));
    e.insert("mark_worker_idle_ns".into(), json!(w.idle_ns));
    e.insert(
        "assist_share_of_mark_percent".into(),
        json!((share * 1000.0).round() / 10.0),
    );
    e.insert(
        "assist_share_of_cpu_percent".into(),
        json!((cpu_share * 1000.0).round() / 10.0),
    );
    e.insert("gc_cycles".into(), json!(s.gc_cycles));
    if let Some(seq) = w.first_gc_seq {
        e.insert("first_gc_cycle".into(), json!(seq));
    }
    e.insert("assists_end_ns".into(), json!(w.assists_end_ns));
    e.insert("trace_duration_ns".into(), json!(s.duration_ns()));
    e.insert("gomaxprocs".into(), json!(s.gomaxprocs));
    if w.heap_goal_bytes > 0 {
        e.insert("heap_goal_bytes".into(), json!(w.heap_goal_bytes));
    }
    for (site, ns) in w.assist_ns_by_site.iter().take(th::TRACE_TOP_SITES) {
        e.insert(format!("site:{site}:assist_cpu_ns"), json!(ns));
    }
    let sites: Vec<String> = w
        .assist_ns_by_site
        .iter()
        .take(th::TRACE_TOP_SITES)
        .map(|(s, _)| s.clone())
        .filter(|s| !s.starts_with('('))
        .collect();
    if warm_up {
        return vec![Finding {
            id: "gc.assist-heavy",
            severity,
            title: format!(
                "Mark assists only during start-up: {:.0}% of GC mark work in the process's \
                 first {} (GC cycles from {}), warm-up",
                share * 100.0,
                ms(w.assists_end_ns),
                w.first_gc_seq.unwrap_or(1)
            ),
            evidence: e,
            recommendation: "The heap grows from the minimum goal at start-up, before the \
                pacer has a history: assists then are normal and stop by themselves. Judge \
                assists on a trace of the process in steady state."
                .into(),
            sources: vec![source.to_string()],
            sites,
        }];
    }
    vec![Finding {
        id: "gc.assist-heavy",
        severity,
        title: format!(
            "Mark assists do {:.0}% of GC mark work ({} of {} CPU; {:.1}% of all CPU) over a {} trace",
            share * 100.0,
            ms(w.assist_ns),
            ms(mark),
            cpu_share * 100.0,
            ms(s.duration_ns())
        ),
        evidence: e,
        recommendation: format!(
            "Allocating goroutines are drafted into marking because the heap reaches the goal \
             before the background workers finish: give the GC headroom (raise GOGC, e.g. \
             GOGC=200, or raise GOMEMLIMIT if the heap runs near it{}) and cut allocation at \
             the sites that paid the assists{}.",
            if w.heap_goal_bytes > 0 {
                format!("; the heap goal was {} MiB", w.heap_goal_bytes >> 20)
            } else {
                String::new()
            },
            if sites.is_empty() {
                String::new()
            } else {
                format!(": {}", sites.join(", "))
            }
        ),
        sources: vec![source.to_string()],
        sites,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::tests::{batch, e};
    use gorx_trace::raw::encode;
    use gorx_trace::spec::{Version, ev};

    /// A real Go 1.26 process traced from init (testdata/samples/traces/assist-startup,
    /// GOMAXPROCS=4 GOGC=50): its working set is built in the first ~140 ms with assists
    /// doing most of the marking, then it idles. Warm-up: info, worded so (it was
    /// critical); the same assists later in a process's life are judged.
    #[test]
    fn start_up_assists_are_warm_up() {
        let path = gorx_testsupport::repo_root()
            .join("testdata/samples/traces/assist-startup-go1.26.trace");
        let bytes = std::fs::read(path).unwrap();
        let mut r = gorx_trace::Reader::new("trace", &bytes[..]).unwrap();
        let mut an = crate::trace::TraceAnalyzer::new();
        while let Some(ev) = r.read_event().unwrap() {
            an.observe(&ev);
        }
        let mut s = an.finish();
        assert_eq!(s.mark_work.first_gc_seq, Some(1));
        assert!(s.mark_work.assists_end_ns < th::TRACE_ASSIST_WARMUP_NS);
        let f = assist_findings(&s, "trace");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Info);
        assert!(f[0].title.contains("start-up") && f[0].title.contains("warm-up"));
        // Its pauses: 8, max 16.9 ms, one over 10 ms: one slow stop, not a P99.
        let p = crate::trace::trace_findings(&s, "trace");
        let pause = p.iter().find(|f| f.id == "gc.long-pause").unwrap();
        assert_eq!(pause.severity, Severity::Info);
        assert!(pause.title.contains("max of 8"), "{}", pause.title);
        // The same assists in a process past its first cycles are judged.
        s.mark_work.first_gc_seq = Some(40);
        let f = assist_findings(&s, "trace");
        assert!(f[0].severity >= Severity::Warning, "{f:#?}");
    }

    /// G1 begins an assist at 1100, parks for credit at 1200, is woken at 1500, runs
    /// again from 1600 and ends the assist at 2000: 900 ns of wall time, 500 of CPU.
    /// G2 then runs as a dedicated mark worker from 2200 to 2500.
    #[test]
    fn parked_assist_time_is_not_cpu() {
        let none = u64::MAX;
        let mut evs = batch(
            none,
            0,
            vec![
                e(ev::SYNC, &[]),
                e(ev::FREQUENCY, &[1_000_000_000]),
                e(ev::CLOCK_SNAPSHOT, &[0, 0, 0, 0]),
            ],
        );
        let mut strs = vec![e(ev::STRINGS, &[])];
        for (id, s) in [(1, "GC mark assist wait for work"), (2, "GC (dedicated)")] {
            let mut x = e(ev::STRING, &[id]);
            x.data = Some(s.as_bytes().to_vec());
            strs.push(x);
        }
        evs.extend(batch(none, 0, strs));
        evs.extend(batch(
            0,
            1000,
            vec![
                e(ev::PROC_STATUS, &[0, 0, 1]),
                e(ev::GO_STATUS, &[0, 1, none, 2]),
                e(ev::GO_STATUS, &[0, 2, none, 4]),
                e(ev::GC_MARK_ASSIST_BEGIN, &[98, 0]),
                e(ev::GO_BLOCK, &[100, 1, 0]),
                e(ev::GO_UNBLOCK, &[300, 1, 1, 0]),
                e(ev::GO_START, &[100, 1, 2]),
                e(ev::GC_MARK_ASSIST_END, &[400]),
                e(ev::GO_STOP, &[100, 1, 0]),
                e(ev::GO_UNBLOCK, &[50, 2, 1, 0]),
                e(ev::GO_START, &[50, 2, 2]),
                e(ev::GO_LABEL, &[0, 2]),
                e(ev::GO_BLOCK, &[300, 1, 0]),
            ],
        ));
        evs.push(e(ev::END_OF_GENERATION, &[]));
        let b = encode(Version::GO126, &evs);
        let mut r = gorx_trace::Reader::new("synthetic", &b[..]).unwrap();
        let mut t = AssistTracker::new();
        let mut times = Vec::new();
        while let Some(ev) = r.read_event().unwrap() {
            times.push(ev.time());
            t.observe(&ev);
        }
        let w = t.finish();
        assert_eq!(w.assists, 1, "{times:?}");
        assert_eq!(w.assist_wall_ns, 900);
        assert_eq!(w.assist_ns, 500);
        assert_eq!(w.dedicated_ns, 300);
        assert_eq!(w.assist_ns_by_site, [("(no user frame)".to_string(), 500)]);
    }
}
