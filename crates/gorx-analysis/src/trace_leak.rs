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
    /// The function the goroutines started in, when the trace names it and has no
    /// blocking stack (v1 traces name the start function of every goroutine).
    pub start_function: Option<String>,
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
    /// Goroutines blocked through the window that wait by design (idle keep-alive
    /// connections, listeners, service loops, sleeping tickers), by kind, most first:
    /// never in `groups`.
    pub idle: Vec<(crate::sites::IdleKind, u64)>,
    /// Goroutine 1 and the runtime's own goroutines blocked through the window, left
    /// out of `groups`.
    pub system_goroutines: u64,
    /// The trace format version (the N of `go 1.N trace`; 0 when unknown): Go 1.22
    /// traces have no stack for goroutines blocked before tracing began, v1 traces
    /// (N ≤ 21) only their start function.
    pub trace_version: u32,
}

/// The trace's goroutine-leak suspect, for joining with a goroutine dump of the same
/// process ([`leak_site_from_dump`]). Built by [`BlockedSummary::leak_suspects`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceLeak {
    /// Goroutines in the group.
    pub goroutines: u64,
    /// The blocking site (first frame outside the runtime and standard library where
    /// there is one), None when the trace has no stack for them.
    pub site: Option<String>,
    /// Its `file:line`.
    pub location: Option<String>,
    /// The start function, when that is all the trace names (v1 traces).
    pub start_function: Option<String>,
    /// The trace's block reason ("chan send", "network", "unknown", ...).
    pub reason: String,
    /// How long all of them were blocked at least: from the latest block in the group
    /// to the end of the trace (the whole window when blocked before it began).
    pub blocked_through_window_ns: u64,
    pub window_ns: u64,
    /// Up to 10 goroutine ids, ascending: the same ids in a dump of the same process.
    pub sample_ids: Vec<i64>,
    pub trace_version: u32,
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
    /// The start function (v2: the GoCreate's start stack; v1: also for goroutines
    /// created before tracing began).
    start: Option<Rc<str>>,
}

/// What a blocking stack says: resolved once per stack and generation, since goroutines
/// block at the same few stacks over and over.
#[derive(Default)]
struct Resolved {
    reason: &'static str,
    state: &'static str,
    system: bool,
    /// (function, file:line) of the site: the first frame outside the runtime and the
    /// standard library, else the first non-plumbing frame.
    site: Option<(String, String)>,
    /// Waiting by design (idle connection, listener, service loop, sleep).
    idle: Option<crate::sites::IdleKind>,
    /// The root frame (the start function).
    root: Option<Rc<str>>,
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
    /// Goroutines seen running as GC mark workers (labelled "GC (...)").
    gc_workers: gorx_trace::goutil::FxHashSet<i64>,
    trace_version: u32,
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
    funcs.last().is_some_and(|f| is_system_start(f))
}

/// A runtime function other than `runtime.main` as a goroutine's start: the runtime's
/// own goroutine (GC workers, bgsweep, the scavenger, forcegc, the finalizer runner).
fn is_system_start(f: &str) -> bool {
    f != "runtime.main" && f.starts_with("runtime.")
}

/// Goroutine ids the runtime gives its own goroutines before `main.init` up to Go 1.22
/// (testdata/samples/dumps/sigquit-system-go1.*): 2 the forcegc helper (runtime's init),
/// 3 bgsweep and 4 the scavenger (gcenable). Used only for Go 1.22 and older traces
/// when the trace has neither a stack nor a start function for them (Go 1.26 hands
/// ids 2.. to user goroutines too, and its traces have stacks).
const RUNTIME_START_IDS: std::ops::RangeInclusive<i64> = 2..=4;

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
        if self.trace_version == 0 {
            self.trace_version = ev.table().map_or(0, |t| t.version());
        }
        if ev.kind() == EventKind::Sync {
            self.stacks.new_generation();
            self.reasons.new_generation();
        }
        if ev.kind() == EventKind::Label
            && let Some((label, gorx_trace::Resource::Goroutine(g))) = ev.label()
            && label.starts_with(b"GC (")
        {
            self.gc_workers.insert(g);
        }
        let Some((id, old, new, st)) = tr else {
            return;
        };
        if new == GoState::NotExist {
            self.gs.remove(&id);
            return;
        }
        if old == GoState::NotExist {
            // Created in the trace: its start stack names the start function.
            let start = self.resolve(ev, st.stack).and_then(|r| r.root.clone());
            self.gs.entry(id).or_default().start = start;
        } else if old == GoState::Undetermined && !self.gs.contains_key(&id) {
            // First seen: a v1 trace still names where it started.
            let stack = ev.table().and_then(|t| t.start_stack(id));
            let start = stack.and_then(|s| self.resolve(ev, Some(s)).and_then(|r| r.root.clone()));
            self.gs.entry(id).or_default().start = start;
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
        let names: Vec<&str> = funcs.iter().map(String::as_str).collect();
        let site_name = crate::sites::site(names.iter().copied());
        let site = frames
            .iter()
            .zip(&funcs)
            .find(|(_, name)| Some(name.as_str()) == site_name)
            .map(|(f, name)| {
                (
                    name.clone(),
                    format!("{}:{}", String::from_utf8_lossy(f.file), f.line),
                )
            });
        let idle = crate::sites::idle_wait(reason == "network", reason == "sleep", &names, None);
        let r = Rc::new(Resolved {
            reason,
            state,
            system: is_system(&funcs),
            site,
            idle,
            root: funcs.last().map(|f| Rc::from(f.as_str())),
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
        type Key = (Option<(String, String)>, Option<String>, String, String);
        let mut groups: BTreeMap<Key, BlockedGroup> = BTreeMap::new();
        let mut idle: BTreeMap<crate::sites::IdleKind, u64> = BTreeMap::new();
        let mut system_goroutines = 0;
        let mut ids: Vec<(&i64, &G)> = self.gs.iter().collect();
        ids.sort_by_key(|(id, _)| **id);
        for (id, g) in ids {
            let since = (g.since - start).max(0) as u64;
            if !g.waiting || since > early {
                continue;
            }
            let r = g.stack.as_deref();
            // Goroutine 1 and the runtime's own: by the stack's root, the start
            // function, a GC worker label, or (nothing else known) the ids the runtime
            // takes at start-up.
            let system = g.system
                || *id == 1
                || g.start.as_deref().is_some_and(is_system_start)
                || self.gc_workers.contains(id)
                || (r.is_none()
                    && g.start.is_none()
                    && self.trace_version <= 22
                    && RUNTIME_START_IDS.contains(id));
            if system {
                system_goroutines += 1;
                continue;
            }
            let idle_kind = match r {
                Some(r) => r.idle,
                None => g.start.as_deref().and_then(crate::sites::idle_start),
            };
            if let Some(k) = idle_kind {
                *idle.entry(k).or_default() += 1;
                continue;
            }
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
            let start_function = match r {
                None => g.start.as_deref().map(str::to_string),
                Some(_) => None,
            };
            let b = groups
                .entry((
                    site.clone(),
                    start_function.clone(),
                    reason.clone(),
                    state.clone(),
                ))
                .or_insert_with(|| BlockedGroup {
                    site: site.as_ref().map(|s| s.0.clone()),
                    location: site.as_ref().map(|s| s.1.clone()),
                    reason,
                    state,
                    start_function,
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
        let mut idle: Vec<(crate::sites::IdleKind, u64)> = idle.into_iter().collect();
        idle.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        BlockedSummary {
            window_ns,
            goroutines_at_end: self.gs.len() as u64,
            blocked_goroutines,
            group_count,
            groups,
            idle,
            system_goroutines,
            trace_version: self.trace_version,
        }
    }
}

impl BlockedSummary {
    /// The groups [`leak_findings`] judges a leak suspect (window and size), largest
    /// first, as [`TraceLeak`]s for joining with a goroutine dump of the same process.
    pub fn leak_suspects(&self) -> Vec<TraceLeak> {
        if self.window_ns < th::TRACE_LEAK_MIN_WINDOW_NS {
            return Vec::new();
        }
        self.groups
            .iter()
            .filter(|g| g.goroutines as usize >= th::TRACE_LEAK_MIN_GROUP)
            .map(|g| TraceLeak {
                goroutines: g.goroutines,
                site: g.site.clone(),
                location: g.location.clone(),
                start_function: g.start_function.clone(),
                reason: g.reason.clone(),
                blocked_through_window_ns: self.window_ns.saturating_sub(g.blocked_since_max_ns),
                window_ns: self.window_ns,
                sample_ids: g.sample_ids.clone(),
                trace_version: self.trace_version,
            })
            .collect()
    }
}

/// The group of a goroutine dump of the same process that holds the trace leak's
/// goroutines (goroutine ids are the process's: the group holding most of the trace's
/// sample ids), if at least half of the sample ids are in it. Its `site`, `created_by`,
/// wait minutes and `idle` say where they block, since when, and whether by design.
pub fn leak_site_from_dump<'a>(
    leak: &TraceLeak,
    dump: &'a crate::goroutines::DumpSummary,
) -> Option<&'a crate::goroutines::GoroutineGroup> {
    let hits = |g: &crate::goroutines::GoroutineGroup| {
        leak.sample_ids
            .iter()
            .filter(|id| u64::try_from(**id).is_ok_and(|id| g.ids.binary_search(&id).is_ok()))
            .count()
    };
    let (best, n) = dump
        .groups
        .iter()
        .map(|g| (g, hits(g)))
        .max_by_key(|(_, n)| *n)?;
    (n > 0 && 2 * n >= leak.sample_ids.len()).then_some(best)
}

fn secs(ns: u64) -> String {
    format!("{:.2} s", ns as f64 / 1e9)
}

/// Why a group has no site, as the trace's version explains it.
fn no_stack_words(version: u32, start: Option<&str>) -> String {
    let why = match version {
        22 => {
            "Go 1.22 traces record no stack for goroutines blocked before tracing began".to_string()
        }
        1..=21 => format!(
            "Go 1.{version}-format traces record no stack for goroutines blocked before \
             tracing began"
        ),
        _ => "the trace has no stack for them".to_string(),
    };
    match start {
        Some(f) => format!("unknown: {why}; they started in {f}"),
        None => format!("unknown: {why}"),
    }
}

/// goroutine.leak findings from the blocked groups of a trace. `source` names the trace.
pub fn leak_findings(b: &BlockedSummary, source: &str) -> Vec<Finding> {
    leak_findings_joined(b, source, None)
}

/// [`leak_findings`], with a goroutine dump of the same process when there is one
/// (`dump`: its summary and its source name): a group the dump holds
/// ([`leak_site_from_dump`]) takes its site, creator and wait minutes from the dump, and
/// is no leak when the dump shows it idle by design.
pub fn leak_findings_joined(
    b: &BlockedSummary,
    source: &str,
    dump: Option<(&crate::goroutines::DumpSummary, &str)>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut idle: Vec<(crate::sites::IdleKind, u64)> = b.idle.clone();
    for leak in b.leak_suspects() {
        let n = leak.goroutines as usize;
        let joined = dump.and_then(|(d, name)| Some((leak_site_from_dump(&leak, d)?, name)));
        if let Some((g, _)) = joined
            && let Some(k) = g.idle
        {
            match idle.iter_mut().find(|(x, _)| *x == k) {
                Some((_, c)) => *c += leak.goroutines,
                None => idle.push((k, leak.goroutines)),
            }
            continue;
        }
        // A trace proves only that they did not run for the window: critical needs a
        // large group and a window as long as the dump rule's minimum wait (or the
        // dump's wait minutes).
        let minutes = joined.map_or(0, |(g, _)| g.wait_minutes_max);
        let long = b.window_ns >= th::LEAK_MIN_WAIT_MINUTES * 60_000_000_000
            || minutes >= th::LEAK_MIN_WAIT_MINUTES;
        let sev = if n >= th::LEAK_CRITICAL_GROUP && long {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let (site_fn, where_) = match (&leak.site, &leak.location, joined) {
            (Some(s), Some(l), _) => (Some(s.clone()), l.clone()),
            (_, _, Some((g, _))) if g.site.is_some() => {
                let f = g.site.as_ref().unwrap();
                (Some(f.function.clone()), f.location())
            }
            _ => (
                None,
                no_stack_words(b.trace_version, leak.start_function.as_deref()),
            ),
        };
        let site = site_fn
            .clone()
            .unwrap_or_else(|| match &leak.start_function {
                Some(f) => format!("(unknown; started in {f})"),
                None => "(unknown)".into(),
            });
        let mut e = Evidence::new();
        e.insert("goroutines".into(), json!(n));
        e.insert("total_goroutines".into(), json!(b.goroutines_at_end));
        e.insert("state".into(), json!(leak.reason));
        e.insert("site".into(), json!(where_));
        e.insert("from".into(), json!("execution trace"));
        e.insert("trace_window_ns".into(), json!(b.window_ns));
        e.insert(
            "blocked_through_window_ns".into(),
            json!(leak.blocked_through_window_ns),
        );
        e.insert("sample_goroutine_ids".into(), json!(leak.sample_ids));
        if let Some(f) = &leak.start_function {
            e.insert("start_function".into(), json!(f));
        }
        if b.system_goroutines > 0 {
            e.insert(
                "runtime_goroutines_left_out".into(),
                json!(b.system_goroutines),
            );
        }
        let mut sources = vec![source.to_string()];
        if let Some((g, name)) = joined {
            e.insert("dump_state".into(), json!(g.state));
            e.insert("dump_wait_minutes_max".into(), json!(g.wait_minutes_max));
            if let Some(c) = &g.created_by {
                e.insert("created_by".into(), json!(c.function));
            }
            sources.push(name.to_string());
        }
        let state = joined.map_or(g_state(b, &leak), |(g, _)| g.state.clone());
        let advice = crate::goroutines::leak_advice(&state);
        let recommendation = match &site_fn {
            Some(s) => format!(
                "Leak suspect at {s} ({where_}): {advice}. The trace shows only that they never \
                 ran during its {}{}",
                secs(b.window_ns),
                if joined.is_some() {
                    format!("; the goroutine dump shows them waiting up to {minutes} min.")
                } else {
                    "; a goroutine dump (debug=2) shows how many minutes they have waited.".into()
                }
            ),
            None => format!(
                "Take a goroutine dump (debug=2) of the same process, or trace with Go 1.23 or \
                 later, to see where they block; then: {advice}."
            ),
        };
        out.push(Finding {
            id: "goroutine.leak",
            severity: sev,
            title: format!(
                "{n} goroutines blocked in \"{}\" through the whole {} trace at {site}",
                leak.reason,
                secs(b.window_ns)
            ),
            evidence: e,
            recommendation,
            sources,
            // No blocking site: the start function is the code implicated.
            sites: site_fn
                .or_else(|| leak.start_function.clone())
                .into_iter()
                .collect(),
        });
    }
    let idle_total: u64 = idle.iter().map(|(_, n)| n).sum();
    if b.window_ns >= th::TRACE_LEAK_MIN_WINDOW_NS
        && idle_total as usize >= th::IDLE_NOTE_MIN_GOROUTINES
    {
        idle.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let words: Vec<(crate::sites::IdleKind, usize)> =
            idle.iter().map(|(k, n)| (*k, *n as usize)).collect();
        let mut e = Evidence::new();
        e.insert("idle_goroutines".into(), json!(idle_total));
        e.insert("from".into(), json!("execution trace"));
        e.insert("trace_window_ns".into(), json!(b.window_ns));
        out.push(Finding {
            id: "goroutine.count-high",
            severity: Severity::Info,
            title: format!(
                "{} through the whole {} trace; not a leak",
                crate::goroutines::idle_words(&words),
                secs(b.window_ns)
            ),
            evidence: e,
            recommendation: "They wait by design (idle connections, listeners, service loops). \
                Nothing to fix; bound idle connections with the server's IdleTimeout or the \
                client's MaxIdleConnsPerHost/IdleConnTimeout if their number matters."
                .into(),
            sources: vec![source.to_string()],
            sites: Vec::new(),
        });
    }
    out
}

/// The dump-style state of a suspect's group, for the advice.
fn g_state(b: &BlockedSummary, leak: &TraceLeak) -> String {
    b.groups
        .iter()
        .find(|g| g.sample_ids == leak.sample_ids)
        .map_or_else(|| dump_state(&leak.reason).to_string(), |g| g.state.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gorx_testsupport::corpus_entries;

    fn blocked(path: &std::path::Path) -> Option<BlockedSummary> {
        let bytes = std::fs::read(path).ok()?;
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
            let site = leak.evidence["site"].as_str().unwrap();
            assert!(
                !leak.title.contains("1.22") || ver == "1.22",
                "{ver}: {leak:#?}"
            );
            if ver == "1.22" {
                // No stacks for goroutines blocked before the trace: one group of all,
                // the runtime's idle GC workers included (main and the runtime's
                // start-up goroutines are left out).
                assert!((2000..2010).contains(&n), "{ver}: {n}");
                assert!(b.system_goroutines >= 4, "{ver}: {b:#?}");
                assert!(leak.sites.is_empty());
                assert!(site.contains("Go 1.22 traces"), "{site}");
            } else if ver == "1.19" {
                // v1: no blocking stacks either, but every goroutine's start function,
                // which sets the runtime's own goroutines (and main) apart.
                assert_eq!(n, 2000, "{ver}: {b:#?}");
                assert_eq!(leak.sites, ["main.fetchWithTimeout.func1"], "{ver}");
                assert!(site.contains("Go 1.19-format traces"), "{site}");
                assert!(!site.contains("1.22"), "{site}");
                assert_eq!(
                    leak.evidence["start_function"],
                    "main.fetchWithTimeout.func1"
                );
            } else {
                assert_eq!(n, 2000, "{ver}");
                assert_eq!(leak.sites, ["main.fetchWithTimeout.func1"], "{ver}");
                assert_eq!(leak.evidence["state"], "chan send");
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
            start: None,
        };
        for i in 10..110 {
            t.gs.insert(i, g(if i < 60 { 0 } else { 100_000_000 }, true, false));
        }
        t.gs.insert(200, g(100_000_001, true, false)); // blocked too late
        t.gs.insert(201, g(0, false, false)); // runnable at the end
        t.gs.insert(202, g(0, true, true)); // a runtime goroutine
        let b = t.finish();
        assert_eq!(b.goroutines_at_end, 103);
        assert_eq!(b.system_goroutines, 1);
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

    /// A real Go 1.26 server's 1 s trace with 150 idle HTTP/1.1 keep-alive and 5 HTTP/2
    /// connections (testdata/samples/dumps/keepalive/main.go): idle, never a leak
    /// (it was "155 goroutines blocked in network ... at net.(*netFD).Read").
    #[test]
    fn idle_connections_in_a_trace_are_not_leaks() {
        let path = gorx_testsupport::repo_root()
            .join("testdata/samples/dumps/keepalive-server-go1.26.trace");
        let b = blocked(&path).unwrap();
        assert_eq!(b.trace_version, 26);
        let idle = |k| b.idle.iter().find(|(x, _)| *x == k).map_or(0, |(_, n)| *n);
        assert_eq!(idle(crate::sites::IdleKind::HttpServerConn), 150, "{b:#?}");
        assert_eq!(idle(crate::sites::IdleKind::Accept), 2, "{b:#?}");
        let f = leak_findings(&b, "trace");
        assert!(f.iter().all(|f| f.id != "goroutine.leak"), "{f:#?}");
        let note = f.iter().find(|f| f.id == "goroutine.count-high").unwrap();
        assert_eq!(note.severity, Severity::Info);
        assert!(
            note.title.contains("150 idle HTTP keep-alive"),
            "{}",
            note.title
        );
    }

    /// Goroutine 1, a goroutine started in the runtime and (Go 1.22: no stack, no start)
    /// ids 2–4 are the runtime's, never in a group; a group without a stack is worded by
    /// the trace's version.
    #[test]
    fn main_and_runtime_goroutines_are_left_out() {
        let mut t = LeakTracker {
            start: Some(0),
            end: 1_000_000_000,
            trace_version: 22,
            ..Default::default()
        };
        let g = |start: Option<&str>| G {
            waiting: true,
            since: 0,
            start: start.map(Rc::from),
            ..Default::default()
        };
        for i in 1..=104 {
            t.gs.insert(i, g(None));
        }
        t.gs.insert(105, g(Some("runtime.bgsweep")));
        let b = t.finish();
        assert_eq!(b.system_goroutines, 5);
        assert_eq!(b.groups[0].goroutines, 100);
        assert!(!b.groups[0].sample_ids.contains(&1));
        let f = leak_findings(&b, "t");
        assert_eq!(f.len(), 1);
        let site = f[0].evidence["site"].as_str().unwrap();
        assert!(site.contains("Go 1.22 traces"), "{site}");
        // v1: no stack, but the start function (caddy 2.6's 150 keep-alive connections,
        // Go 1.19): idle connections.
        let mut t = LeakTracker {
            start: Some(0),
            end: 1_000_000_000,
            trace_version: 19,
            ..Default::default()
        };
        for i in 10..160 {
            t.gs.insert(i, g(Some("net/http.(*conn).serve")));
        }
        let v1_idle = t.finish();
        assert!(v1_idle.groups.is_empty(), "{v1_idle:#?}");
        assert_eq!(
            v1_idle.idle,
            [(crate::sites::IdleKind::HttpServerConn, 150)]
        );
        let mut v1 = b.clone();
        v1.trace_version = 19;
        let f = leak_findings(&v1, "t");
        let site = f[0].evidence["site"].as_str().unwrap();
        assert!(
            site.contains("Go 1.19-format") && !site.contains("1.22"),
            "{site}"
        );
    }

    /// A trace leak joined with a dump of the same process takes the dump's site, and is
    /// no leak when the dump shows the goroutines idle.
    #[test]
    fn joined_with_a_dump() {
        let b = BlockedSummary {
            window_ns: 1_000_000_000,
            goroutines_at_end: 160,
            blocked_goroutines: 150,
            group_count: 1,
            groups: vec![BlockedGroup {
                reason: "unknown".into(),
                state: "unknown".into(),
                goroutines: 150,
                sample_ids: (10..20).collect(),
                ..Default::default()
            }],
            trace_version: 22,
            ..Default::default()
        };
        let leak = &b.leak_suspects()[0];
        let dump = |state: &str, frames: &str| {
            let mut s = String::new();
            for i in 10..160 {
                s.push_str(&format!("goroutine {i} [{state}, 2 minutes]:\n{frames}\n"));
            }
            crate::goroutines::summarize(
                &gorx_formats::goroutines::parse("d", s.as_bytes()).unwrap(),
            )
        };
        let stuck = dump(
            "chan send",
            "runtime.gopark(0x0?)\n\t/go/src/runtime/proc.go:1 +0x1\nmain.fetch.func1()\n\t/x/main.go:26 +0x46\n",
        );
        let g = leak_site_from_dump(leak, &stuck).unwrap();
        assert_eq!(g.site.as_ref().unwrap().function, "main.fetch.func1");
        let f = leak_findings_joined(&b, "trace", Some((&stuck, "dump")));
        assert_eq!(f[0].sites, ["main.fetch.func1"]);
        assert_eq!(f[0].sources, ["trace", "dump"]);
        assert_eq!(f[0].evidence["site"], "/x/main.go:26");
        let idle = dump(
            "IO wait",
            "internal/poll.runtime_pollWait(0x0?, 0x72)\n\t/go/src/runtime/netpoll.go:351 +0x85\n\
net.(*netFD).Read(0x0?)\n\t/go/src/net/fd_posix.go:68 +0x25\n\
net/http.(*connReader).backgroundRead(0x0?)\n\t/go/src/net/http/server.go:690 +0x37\n",
        );
        let f = leak_findings_joined(&b, "trace", Some((&idle, "dump")));
        assert!(f.iter().all(|f| f.id != "goroutine.leak"), "{f:#?}");
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
