//! `goroutine.leak` from an execution trace: goroutines blocked through the whole trace
//! window — blocked when tracing began (or early in it) and never woken — grouped by
//! where they block (the first frame outside the runtime and sync plumbing) and why.
//!
//! A trace only shows that such goroutines did not run for the window, not for how long
//! before it, so the finding is a warning unless the window itself is as long as the
//! dump-based rule's minimum wait (see thresholds.rs).
//!
//! Go 1.23+ traces give every goroutine's stack in its status event, so goroutines that
//! were blocked before tracing began still have a site; the reason is read from the
//! runtime frames (status events carry none). Go 1.22 status events have no stack:
//! such goroutines are grouped as "unknown" and the finding says so.

use crate::finding::{Evidence, Finding, Severity};
use crate::thresholds as th;
use crate::trace::{GoTransition, goroutine_transition};
use gorx_formats::goroutines::package_of;
use gorx_trace::goutil::FxHashMap;
use gorx_trace::{Event, EventKind, GoState};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Goroutines blocked through the window at the same site for the same reason.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct BlockedGroup {
    /// The first non-plumbing function of the blocking stack (None: no stack in the trace).
    pub site: Option<String>,
    /// Its `file:line`.
    pub location: Option<String>,
    /// The trace's block reason ("chan send", "select", "sync", "network", ...).
    pub reason: String,
    /// A finer state for advice, named as goroutine dumps name it ("sync.Mutex.Lock").
    pub state: String,
    pub goroutines: u64,
    /// Up to 10 goroutine ids, ascending.
    pub sample_ids: Vec<i64>,
    /// Blocked since the trace start for all (no wake-up in the trace at all), or the
    /// latest moment one of them blocked, as ns after the trace start.
    pub blocked_since_max_ns: u64,
}

/// What the trace showed about blocked goroutines.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BlockedSummary {
    pub window_ns: u64,
    /// Every goroutine alive at the end of the trace.
    pub goroutines_at_end: u64,
    /// Goroutines blocked through the window, in all groups.
    pub blocked_goroutines: u64,
    /// Number of groups, before keeping the largest.
    pub group_count: u64,
    /// Largest groups first, at most [`MAX_GROUPS`].
    pub groups: Vec<BlockedGroup>,
}

/// Groups kept in the summary (the finding only needs the large ones).
pub const MAX_GROUPS: usize = 20;

#[derive(Default)]
struct G {
    waiting: bool,
    since: i64,
    /// The block event's reason (status events have none).
    reason: Rc<str>,
    /// What the blocking stack says, if the trace had one.
    stack: Option<Rc<Resolved>>,
    system: bool,
}

/// What a blocking stack says: resolved once per stack and generation, since goroutines
/// block at the same few stacks over and over.
#[derive(Default)]
struct Resolved {
    reason: &'static str,
    state: &'static str,
    system: bool,
    /// (function, file:line) of the first non-plumbing frame.
    site: Option<(String, String)>,
}

/// Streaming: feed every event with [`observe`](Self::observe).
#[derive(Default)]
pub struct LeakTracker {
    start: Option<i64>,
    end: i64,
    gs: FxHashMap<i64, G>,
    reasons: crate::trace_names::Names,
    /// Stacks resolved in the current generation (stack ids are per generation: cleared
    /// at each generation's Sync event, and whenever the event's table changes).
    stacks: crate::trace_names::PerGeneration<u64, Rc<Resolved>>,
}

/// Packages whose frames are the waiting primitive, not the code that waits (as in
/// goroutine dumps).
fn is_plumbing(function: &str) -> bool {
    let pkg = package_of(function);
    pkg == "runtime"
        || pkg == "sync"
        || pkg == "syscall"
        || pkg.starts_with("runtime/")
        || pkg.starts_with("internal/")
        || pkg.starts_with("sync/")
}

/// The trace block reason and the dump-style state a blocking stack implies (status
/// events carry no reason). Leaf first: the innermost recognised frame decides.
fn reason_of(funcs: &[String]) -> (&'static str, &'static str) {
    for f in funcs {
        let r = match f.as_str() {
            "runtime.chansend" | "runtime.chansend1" => ("chan send", "chan send"),
            "runtime.chanrecv" | "runtime.chanrecv1" | "runtime.chanrecv2" => {
                ("chan receive", "chan receive")
            }
            "runtime.selectgo" => ("select", "select"),
            "runtime.block" => ("forever", "select (no cases)"),
            "internal/poll.runtime_pollWait" | "runtime.netpollblock" => ("network", "IO wait"),
            "sync.runtime_notifyListWait" | "sync.(*Cond).Wait" => {
                ("sync.(*Cond).Wait", "sync.Cond.Wait")
            }
            "sync.(*Mutex).Lock" | "internal/sync.(*Mutex).Lock" => ("sync", "sync.Mutex.Lock"),
            "sync.(*RWMutex).Lock" | "sync.(*RWMutex).RLock" => ("sync", "sync.RWMutex.Lock"),
            "sync.(*WaitGroup).Wait" => ("sync", "sync.WaitGroup.Wait"),
            "time.Sleep" | "runtime.timeSleep" => ("sleep", "sleep"),
            _ => continue,
        };
        return r;
    }
    if funcs.iter().any(|f| f.starts_with("runtime.semacquire")) {
        return ("sync", "semacquire");
    }
    ("", "")
}

/// A trace block reason as goroutine dumps name the state (for the advice); block
/// stacks in traces start above the runtime, so the reason is all there is.
fn dump_state(reason: &str) -> &str {
    match reason {
        "network" => "IO wait",
        "sync.(*Cond).Wait" => "sync.Cond.Wait",
        "forever" => "select (no cases)",
        r => r,
    }
}

/// Go's `IsSystemGoroutine`: the entry function (root frame) is in the runtime.
fn is_system(funcs: &[String]) -> bool {
    funcs
        .last()
        .is_some_and(|f| f != "runtime.main" && f.starts_with("runtime."))
}

/// Block reasons the runtime uses for its own goroutines.
fn is_system_reason(r: &str) -> bool {
    r == "system goroutine wait" || r.starts_with("GC ") || r == "wait for debug call"
}

impl LeakTracker {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn observe(&mut self, ev: &Event) {
        self.observe_transition(ev, goroutine_transition(ev));
    }

    /// [`Self::observe`] with the event's goroutine transition already worked out.
    pub(crate) fn observe_transition(&mut self, ev: &Event, tr: Option<GoTransition<'_>>) {
        let t = ev.time();
        let start = *self.start.get_or_insert(t);
        self.end = self.end.max(t);
        if ev.kind() == EventKind::Sync {
            self.stacks.new_generation();
            self.reasons.new_generation();
        }
        let Some((id, old, new, st)) = tr else {
            return;
        };
        if new == GoState::NotExist {
            self.gs.remove(&id);
            return;
        }
        if new != GoState::Waiting {
            self.gs.entry(id).or_default().waiting = false;
            return;
        }
        let stack = self.resolve(ev, st.stack);
        let g = self.gs.entry(id).or_default();
        if old == GoState::Waiting && g.waiting {
            // A status repeated at a generation boundary: same wait, perhaps now with
            // the stack the first sighting lacked.
            if g.stack.is_none() {
                g.system |= stack.as_ref().is_some_and(|r| r.system);
                g.stack = stack;
            }
            return;
        }
        g.waiting = true;
        // Waiting when first seen: nothing woke it since the trace began.
        g.since = if old == GoState::Undetermined {
            start
        } else {
            t
        };
        g.reason = self.reasons.get(ev.table(), st.reason);
        g.system = is_system_reason(&g.reason) || stack.as_ref().is_some_and(|r| r.system);
        g.stack = stack;
    }

    /// The stack's reason, state, site and system-ness, cached per generation.
    fn resolve(&mut self, ev: &Event, stack: gorx_trace::event::StackRef) -> Option<Rc<Resolved>> {
        let id = stack?;
        if let Some(r) = self.stacks.of(ev.table()).get(&id) {
            return Some(r.clone());
        }
        let frames = ev.frames(stack);
        if frames.is_empty() {
            return None;
        }
        let funcs: Vec<String> = frames
            .iter()
            .map(|f| String::from_utf8_lossy(f.func).into_owned())
            .collect();
        let (reason, state) = reason_of(&funcs);
        let site = frames
            .iter()
            .zip(&funcs)
            .find(|(_, name)| !is_plumbing(name))
            .map(|(f, name)| {
                (
                    name.clone(),
                    format!("{}:{}", String::from_utf8_lossy(f.file), f.line),
                )
            });
        let r = Rc::new(Resolved {
            reason,
            state,
            system: is_system(&funcs),
            site,
        });
        self.stacks.of(ev.table()).insert(id, r.clone());
        Some(r)
    }

    /// Goroutines blocked through the window, grouped.
    pub fn finish(self) -> BlockedSummary {
        let start = self.start.unwrap_or(0);
        let window_ns = (self.end - start).max(0) as u64;
        // Blocked "early": within this much of the trace start.
        let early = (window_ns as f64 * th::TRACE_LEAK_BLOCKED_EARLY_SHARE) as u64;
        type Key = (Option<(String, String)>, String, String);
        let mut groups: BTreeMap<Key, BlockedGroup> = BTreeMap::new();
        let mut ids: Vec<(&i64, &G)> = self.gs.iter().collect();
        ids.sort_by_key(|(id, _)| **id);
        for (id, g) in ids {
            let since = (g.since - start).max(0) as u64;
            if !g.waiting || g.system || since > early {
                continue;
            }
            let r = g.stack.as_deref();
            let reason = if !g.reason.is_empty() {
                g.reason.to_string()
            } else {
                match r.map(|r| r.reason).filter(|x| !x.is_empty()) {
                    Some(x) => x.to_string(),
                    None => "unknown".to_string(),
                }
            };
            let state = match r.map(|r| r.state).filter(|x| !x.is_empty()) {
                Some(x) => x.to_string(),
                None => dump_state(&reason).to_string(),
            };
            let site = r.and_then(|r| r.site.clone());
            let b = groups
                .entry((site.clone(), reason.clone(), state.clone()))
                .or_insert_with(|| BlockedGroup {
                    site: site.as_ref().map(|s| s.0.clone()),
                    location: site.as_ref().map(|s| s.1.clone()),
                    reason,
                    state,
                    ..Default::default()
                });
            b.goroutines += 1;
            if b.sample_ids.len() < 10 {
                b.sample_ids.push(*id);
            }
            b.blocked_since_max_ns = b.blocked_since_max_ns.max(since);
        }
        let mut groups: Vec<BlockedGroup> = groups.into_values().collect();
        groups.sort_by_key(|g| std::cmp::Reverse(g.goroutines));
        let blocked_goroutines = groups.iter().map(|g| g.goroutines).sum();
        let group_count = groups.len() as u64;
        groups.truncate(MAX_GROUPS);
        BlockedSummary {
            window_ns,
            goroutines_at_end: self.gs.len() as u64,
            blocked_goroutines,
            group_count,
            groups,
        }
    }
}

fn secs(ns: u64) -> String {
    format!("{:.2} s", ns as f64 / 1e9)
}

/// goroutine.leak findings from the blocked groups of a trace. `source` names the trace.
pub fn leak_findings(b: &BlockedSummary, source: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    if b.window_ns < th::TRACE_LEAK_MIN_WINDOW_NS {
        return out;
    }
    for g in &b.groups {
        let n = g.goroutines as usize;
        if n < th::TRACE_LEAK_MIN_GROUP {
            continue;
        }
        // A trace proves only that they did not run for the window: critical needs a
        // large group and a window as long as the dump rule's minimum wait.
        let sev = if n >= th::LEAK_CRITICAL_GROUP
            && b.window_ns >= th::LEAK_MIN_WAIT_MINUTES * 60_000_000_000
        {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let site = g.site.clone().unwrap_or_else(|| "(unknown)".into());
        let where_ = match &g.location {
            Some(l) => l.clone(),
            None => "unknown: the trace has no stack for goroutines blocked before it began \
                      (Go 1.22 traces)"
                .into(),
        };
        let mut e = Evidence::new();
        e.insert("goroutines".into(), json!(n));
        e.insert("total_goroutines".into(), json!(b.goroutines_at_end));
        e.insert("state".into(), json!(g.reason));
        e.insert("site".into(), json!(where_));
        e.insert("from".into(), json!("execution trace"));
        e.insert("trace_window_ns".into(), json!(b.window_ns));
        e.insert(
            "blocked_through_window_ns".into(),
            json!(b.window_ns - g.blocked_since_max_ns),
        );
        e.insert("sample_goroutine_ids".into(), json!(g.sample_ids));
        let advice = crate::goroutines::leak_advice(&g.state);
        let recommendation = match &g.site {
            Some(s) => format!(
                "Leak suspect at {s} ({where_}): {advice}. The trace shows only that they never \
                 ran during its {}; a goroutine dump (debug=2) shows how many minutes they have waited.",
                secs(b.window_ns)
            ),
            None => format!(
                "Take a goroutine dump (debug=2), or trace with Go 1.23 or later, to see where \
                 they block; then: {advice}."
            ),
        };
        out.push(Finding {
            id: "goroutine.leak",
            severity: sev,
            title: format!(
                "{n} goroutines blocked in \"{}\" through the whole {} trace at {site}",
                g.reason,
                secs(b.window_ns)
            ),
            evidence: e,
            recommendation,
            sources: vec![source.to_string()],
            sites: g.site.iter().cloned().collect(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use gorx_testsupport::corpus_entries;

    fn blocked(path: &std::path::Path) -> Option<BlockedSummary> {
        let bytes = std::fs::read(path).ok()?;
        // v1 traces (Go ≤ 1.21) are outside the v2 reader's scope.
        if !bytes.starts_with(b"go 1.2") || bytes.starts_with(b"go 1.21") {
            return None;
        }
        let mut r = gorx_trace::Reader::new("trace.out", &bytes[..]).unwrap();
        let mut t = LeakTracker::new();
        while let Some(ev) = r.read_event().unwrap() {
            t.observe(&ev);
        }
        Some(t.finish())
    }

    /// The goroutine-leak patient's 2000 senders are found in every v2 trace of the
    /// corpus, at their site where the trace has stacks; no other patient has a leak.
    #[test]
    fn corpus_leak_is_found_and_nothing_else() {
        let mut leaks = 0;
        for (ver, patient, dir) in corpus_entries() {
            let Some(b) = blocked(&dir.join("trace.out")) else {
                continue;
            };
            let f = leak_findings(&b, "trace.out");
            if patient != "goroutine-leak" {
                assert!(f.is_empty(), "{ver}/{patient}: {f:#?}");
                continue;
            }
            leaks += 1;
            assert_eq!(f.len(), 1, "{ver}: {f:#?}");
            let leak = &f[0];
            assert_eq!(leak.id, "goroutine.leak");
            assert_eq!(
                leak.severity,
                Severity::Warning,
                "a 1 s window is no minute"
            );
            assert_eq!(leak.evidence["from"], "execution trace");
            let n = leak.evidence["goroutines"].as_u64().unwrap();
            if ver == "1.22" {
                // No stacks for goroutines blocked before the trace: one group of all,
                // the runtime's own idle goroutines included.
                assert!((2000..2030).contains(&n), "{ver}: {n}");
                assert!(leak.sites.is_empty());
            } else {
                assert_eq!(n, 2000, "{ver}");
                assert_eq!(leak.sites, ["main.fetchWithTimeout.func1"], "{ver}");
                assert_eq!(leak.evidence["state"], "chan send");
                let site = leak.evidence["site"].as_str().unwrap();
                assert!(site.ends_with("goroutine-leak/main.go:26"), "{site}");
            }
        }
        if leaks == 0 {
            gorx_testsupport::missing_prerequisite("testdata/artifacts goroutine-leak traces");
        }
        assert!(leaks >= 4 || leaks == 0, "{leaks} goroutine-leak traces");
    }

    /// Blocked at the start or in the first tenth of the window counts; blocked later,
    /// runnable, or a runtime goroutine does not; groups below 100 give no finding.
    #[test]
    fn early_blocks_count_late_ones_do_not() {
        let mut t = LeakTracker {
            start: Some(1_000),
            end: 1_000 + 1_000_000_000,
            ..Default::default()
        };
        let stack = Rc::new(Resolved {
            site: Some(("main.worker".to_string(), "main.go:9".to_string())),
            ..Default::default()
        });
        let g = |since: i64, waiting: bool, system: bool| G {
            waiting,
            since: 1_000 + since,
            reason: "chan receive".into(),
            stack: Some(stack.clone()),
            system,
        };
        for i in 0..100 {
            t.gs.insert(i, g(if i < 50 { 0 } else { 100_000_000 }, true, false));
        }
        t.gs.insert(100, g(100_000_001, true, false)); // blocked too late
        t.gs.insert(101, g(0, false, false)); // runnable at the end
        t.gs.insert(102, g(0, true, true)); // a runtime goroutine
        let b = t.finish();
        assert_eq!(b.goroutines_at_end, 103);
        assert_eq!(b.groups.len(), 1);
        assert_eq!(b.groups[0].goroutines, 100);
        assert_eq!(b.groups[0].blocked_since_max_ns, 100_000_000);
        let f = leak_findings(&b, "t");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].evidence["blocked_through_window_ns"], 900_000_000);
        assert_eq!(f[0].sites, ["main.worker"]);
        let mut small = b.clone();
        small.groups[0].goroutines = 99;
        assert!(leak_findings(&small, "t").is_empty());
        let mut short = b;
        short.window_ns = th::TRACE_LEAK_MIN_WINDOW_NS - 1;
        assert!(leak_findings(&short, "t").is_empty());
    }

    #[test]
    fn stack_reasons() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            reason_of(&s(&[
                "runtime.gopark",
                "runtime.chansend",
                "runtime.chansend1",
                "main.f"
            ])),
            ("chan send", "chan send")
        );
        assert_eq!(
            reason_of(&s(&[
                "runtime.gopark",
                "runtime.semacquire1",
                "sync.runtime_SemacquireWaitGroup",
                "sync.(*WaitGroup).Wait",
                "main.f"
            ])),
            ("sync", "sync.WaitGroup.Wait")
        );
        assert!(is_system(&s(&["runtime.gopark", "runtime.bgsweep"])));
        assert!(!is_system(&s(&[
            "runtime.gopark",
            "main.main",
            "runtime.main"
        ])));
        assert_eq!(dump_state("network"), "IO wait");
    }
}
