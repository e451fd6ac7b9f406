//! Analyses of execution traces: per-goroutine time by state, scheduler latency
//! (runnable → running) with percentiles and a heat map, stop-the-world pauses by reason,
//! GC, mark assist and sweep time, syscall and block time by site; and the findings
//! `sched.latency`, `syscall.blocking`, `contention.block`, `gc.long-pause` built from them.
//!
//! [`TraceAnalyzer`] consumes events one at a time (the trace is never held in memory);
//! [`TraceAnalyzer::finish`] gives a [`TraceSummary`]; [`trace_findings`] judges it.

use crate::finding::{Evidence, Finding, Severity};
use crate::thresholds as th;
use gorx_trace::goutil::FxHashMap;
use gorx_trace::{Event, EventKind, GoId, GoState, Resource, StateTransition};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

/// Log-linear histogram of durations: 32 sub-buckets per power of two (≤ 3% error),
/// exact count, sum and max. Memory is fixed however many samples arrive.
#[derive(Debug, Clone, Serialize)]
pub struct DurationHistogram {
    #[serde(skip)]
    counts: Vec<u64>,
    pub count: u64,
    pub sum_ns: u128,
    pub max_ns: u64,
}

const SUB: u64 = 32;

impl Default for DurationHistogram {
    fn default() -> Self {
        Self {
            counts: vec![0; (64 * SUB) as usize],
            count: 0,
            sum_ns: 0,
            max_ns: 0,
        }
    }
}

fn bucket_of(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros() as u64; // ≥ 5
    let shift = exp - 5;
    let mant = (v >> shift) - SUB; // 0..SUB
    ((exp - 4) * SUB + mant) as usize
}

fn bucket_upper(b: usize) -> u64 {
    let b = b as u64;
    if b < SUB {
        return b;
    }
    let exp = b / SUB + 4;
    let mant = b % SUB;
    let shift = exp - 5;
    ((SUB + mant + 1) << shift).saturating_sub(1)
}

impl DurationHistogram {
    pub fn record(&mut self, ns: u64) {
        self.counts[bucket_of(ns)] += 1;
        self.count += 1;
        self.sum_ns += ns as u128;
        self.max_ns = self.max_ns.max(ns);
    }
    /// The q-quantile (0..=1), as the upper bound of its bucket, capped at the max.
    pub fn quantile_ns(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (b, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_upper(b).min(self.max_ns);
            }
        }
        self.max_ns
    }
    /// Samples of at least `ns` (whole buckets from the one holding `ns` up: ≤ 3% off).
    pub fn count_at_least(&self, ns: u64) -> u64 {
        self.counts[bucket_of(ns)..].iter().sum()
    }
    /// Non-empty buckets as (upper bound ns, count).
    pub fn buckets(&self) -> Vec<(u64, u64)> {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(b, c)| (bucket_upper(b), *c))
            .collect()
    }
}

/// Time one goroutine spent in each state, within the trace.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GoroutineTimes {
    pub id: i64,
    pub exec_ns: u64,
    pub sched_wait_ns: u64,
    pub syscall_ns: u64,
    /// Blocked time by the runtime's reason ("chan receive", "sync", ...).
    pub block_ns: BTreeMap<String, u64>,
    /// The function the goroutine was created at or last seen in (leaf of its last stack).
    pub site: String,
}

/// Latency bucket edges of the heat map, in ns (the last bucket is open).
pub const HEATMAP_LATENCY_EDGES_NS: [u64; 7] = [
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    u64::MAX,
];

/// Everything the trace analyses derive.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TraceSummary {
    pub events: u64,
    pub start_ns: i64,
    pub end_ns: i64,
    pub gomaxprocs: u64,
    pub goroutines: Vec<GoroutineTimes>,
    pub sched_latency: DurationHistogram,
    /// Width of a heat-map time bucket.
    pub heatmap_window_ns: u64,
    /// (window start ns from trace start, counts per `HEATMAP_LATENCY_EDGES_NS` bucket).
    pub heatmap: Vec<(u64, [u64; 7])>,
    /// Stop-the-world pauses by reason.
    pub stw_by_reason: BTreeMap<String, DurationHistogram>,
    /// Every stop-the-world pause of the program, without the tracer's own (start/stop trace).
    pub stw: DurationHistogram,
    pub gc_cycles: u64,
    pub gc_mark_ns: u64,
    pub mark_assist: DurationHistogram,
    pub sweep_ns: u64,
    pub syscalls: DurationHistogram,
    /// Syscall time by the function that made the syscall (leaf of the syscall stack).
    pub syscall_ns_by_site: BTreeMap<String, u64>,
    /// Syscalls that blocked long enough for the P to be handed off.
    pub syscalls_blocked: u64,
    /// Syscalls of event loops waiting on their own event source by design (epoll_wait,
    /// an inotify reader; [`crate::sites::idle_syscall`]): in `syscalls`, not judged.
    pub syscalls_idle: DurationHistogram,
    /// The other syscalls: what syscall.blocking judges.
    pub syscalls_busy: DurationHistogram,
    /// Idle syscall time by site (left out of `syscall_ns_by_site`).
    pub syscall_idle_ns_by_site: BTreeMap<String, u64>,
    /// Time goroutines waited on locks (Mutex, RWMutex) or in blocked channel sends,
    /// told by the blocking stack's frames (or, without a stack, the reason).
    pub contention_ns: u64,
    /// ...of which in channel sends (backpressure).
    pub send_wait_ns: u64,
    /// Fork-join waits (WaitGroup.Wait, Cond.Wait, errgroup): not contention.
    pub fork_join_ns: u64,
    /// Contention time by "lock @ site" / "chan send @ site".
    pub contention_ns_by_site: BTreeMap<String, u64>,
    /// Blocked time by "reason @ site" (site: first non-runtime frame where it blocked).
    pub block_ns_by_site: BTreeMap<String, u64>,
    /// Goroutines blocked through the whole window, grouped by site (trace_leak.rs).
    pub blocked: crate::trace_leak::BlockedSummary,
    /// Mark assists against background mark work (trace_assist.rs).
    pub mark_work: crate::trace_assist::MarkWork,
}

impl TraceSummary {
    pub fn duration_ns(&self) -> u64 {
        (self.end_ns - self.start_ns).max(0) as u64
    }
}

/// An interned name, hashed and compared by address: interning makes that the same as
/// comparing the text, without reading it (FxHash over a 40-byte site is 40 multiplies).
#[derive(Clone)]
struct Interned(Rc<str>);

impl PartialEq for Interned {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for Interned {}
impl std::hash::Hash for Interned {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        (Rc::as_ptr(&self.0) as *const u8 as usize).hash(h)
    }
}

/// One goroutine's open state. Names are interned (`Rc<str>`): a busy trace has ~10 M
/// transitions and few distinct reasons and sites, so nothing is allocated per event.
#[derive(Default)]
struct GState {
    state: Option<GoState>,
    since: i64,
    reason: Rc<str>,
    syscall_site: Rc<str>,
    /// Empty unless waiting with a stack.
    block_site: Rc<str>,
    /// What the blocking stack waits on.
    block_wait: Wait,
    /// The syscall is an event loop's wait on its own event source.
    syscall_idle: bool,
    /// The goroutine's site ([`GoroutineTimes::site`]) and its rank (2: outside the
    /// runtime and standard library, 1: standard library, 0: the leaf of a stack with
    /// runtime frames only): a stack of runtime frames only (an async preemption) does
    /// not replace a better site seen before.
    site: Option<(Rc<str>, u8)>,
    /// Blocked time by reason ([`GoroutineTimes::block_ns`]), a few entries.
    block_ns: Vec<(Rc<str>, u64)>,
    times: GoroutineTimes,
}

impl GState {
    fn add_block(&mut self, d: u64) {
        match self.block_ns.iter_mut().find(|(r, _)| *r == self.reason) {
            Some((_, ns)) => *ns += d,
            None => self.block_ns.push((self.reason.clone(), d)),
        }
    }

    /// The goroutine's times, as the summary reports them.
    fn into_times(self) -> GoroutineTimes {
        let mut t = self.times;
        for (reason, ns) in self.block_ns {
            *t.block_ns.entry(reason.to_string()).or_default() += ns;
        }
        if let Some((site, _)) = self.site {
            t.site = site.to_string();
        }
        t
    }
}

/// Streaming analysis: feed every event with [`observe`](Self::observe).
pub struct TraceAnalyzer {
    s: TraceSummary,
    gs: FxHashMap<i64, GState>,
    heat: BTreeMap<u64, [u64; 7]>,
    /// The heat-map window being counted (consecutive samples mostly share one).
    heat_window: Option<(u64, [u64; 7])>,
    range_start: HashMap<(String, i64), i64>,
    reasons: crate::trace_names::Names,
    /// [`leaf`] of each stack of the current generation (stack ids are per generation:
    /// cleared at each Sync event and whenever the event's table changes).
    sites: crate::trace_names::PerGeneration<u64, StackInfo>,
    /// Interned site names (the same function over generations is one `Rc`).
    site_names: FxHashMap<String, Rc<str>>,
    /// "(unknown)", the syscall site of a syscall without a stack, and "", interned.
    unknown_site: Rc<str>,
    no_site: Rc<str>,
    syscall_ns_by_site: FxHashMap<Interned, u64>,
    syscall_idle_ns_by_site: FxHashMap<Interned, u64>,
    block_ns_by_site: FxHashMap<(Interned, Interned), u64>,
    contention_ns_by_site: FxHashMap<(bool, Interned), u64>,
    first: bool,
    /// The side trackers this analyzer runs (all unless [`TraceAnalyzer::leaving_out`]).
    side: SideTrackers,
}

/// Which of [`TraceAnalyzer`]'s side trackers: blocked goroutines, mark assists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sides {
    pub blocked: bool,
    pub assist: bool,
}

impl Sides {
    pub const ALL: Sides = Sides {
        blocked: true,
        assist: true,
    };
}

/// Some of [`TraceAnalyzer`]'s trackers on their own: a caller can run them over a
/// second reader of the same trace on another thread (a third of the work is reading,
/// so two readers finish sooner on two cores than one doing everything), leave them out
/// of the analyzer ([`TraceAnalyzer::leaving_out`]) and put their results in its summary
/// ([`SideSummary::finish_into`]).
pub struct SideTrackers {
    leak: Option<crate::trace_leak::LeakTracker>,
    assist: Option<crate::trace_assist::AssistTracker>,
}

/// What [`SideTrackers`] found, to move to the thread that holds the summary.
pub struct SideSummary {
    blocked: Option<crate::trace_leak::BlockedSummary>,
    mark_work: Option<crate::trace_assist::MarkWork>,
}

impl SideTrackers {
    pub fn new(sides: Sides) -> Self {
        SideTrackers {
            leak: sides.blocked.then(Default::default),
            assist: sides.assist.then(Default::default),
        }
    }
    pub fn observe(&mut self, ev: &Event) {
        self.observe_transition(ev, goroutine_transition(ev));
    }
    fn observe_transition(&mut self, ev: &Event, tr: Option<GoTransition<'_>>) {
        if let Some(l) = &mut self.leak {
            l.observe_transition(ev, tr.clone());
        }
        if let Some(a) = &mut self.assist {
            a.observe_transition(ev, tr);
        }
    }
    pub fn finish(self) -> SideSummary {
        SideSummary {
            blocked: self.leak.map(|l| l.finish()),
            mark_work: self.assist.map(|a| a.finish()),
        }
    }
}

impl SideSummary {
    /// Puts the trackers' results in the summary of an analyzer that left them out.
    pub fn finish_into(self, s: &mut TraceSummary) {
        if let Some(b) = self.blocked {
            s.blocked = b;
        }
        if let Some(m) = self.mark_work {
            s.mark_work = m;
        }
    }
}

/// Whether a second reader on a thread of its own can pay off: this process may run on
/// two cores or more (its CPU affinity and cgroup CPU quota, as the standard library
/// reads them). On one core the second reader only adds its decoding to the same core.
pub fn second_core() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}

/// Runs `second` on a thread of its own while `main` runs here (the two-reader split of
/// [`SideTrackers`]; `main` need not be `Send`). A panic in `second` is raised here, as
/// it would have been in one pass.
pub fn beside<A, B: Send>(main: impl FnOnce() -> A, second: impl FnOnce() -> B + Send) -> (A, B) {
    std::thread::scope(|scope| {
        let second = scope.spawn(second);
        let a = main();
        let b = second
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (a, b)
    })
}

impl Default for TraceAnalyzer {
    fn default() -> Self {
        Self::new()
    }
}

/// The first frame outside the runtime (where user code called in), else the leaf.
fn leaf(funcs: &[String]) -> Option<&str> {
    let user = funcs.iter().find(|f| {
        !(f.starts_with("runtime.")
            || f.starts_with("runtime/")
            || f.starts_with("internal/")
            || f.starts_with("sync.")
            || f.starts_with("syscall.")
            || f.starts_with("time.Sleep"))
    });
    user.or(funcs.first()).map(String::as_str)
}

/// What a blocking stack waits on, from its frames (leaf first: the innermost
/// recognised frame decides).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Wait {
    /// Nothing recognised (no stack): judged by the block reason.
    #[default]
    Unknown,
    /// Mutex / RWMutex: contention.
    Lock,
    /// A blocked channel send: backpressure.
    Send,
    /// WaitGroup.Wait, Cond.Wait, errgroup: fork-join, not contention.
    ForkJoin,
    /// A receive or select: waiting for work, not contention.
    Receive,
    /// Anything else recognised (network, sleep, ...).
    Other,
}

fn wait_of(funcs: &[String]) -> Wait {
    for f in funcs {
        let w = match f.as_str() {
            "sync.(*Mutex).Lock"
            | "sync.(*Mutex).lockSlow"
            | "internal/sync.(*Mutex).Lock"
            | "internal/sync.(*Mutex).lockSlow"
            | "sync.(*RWMutex).Lock"
            | "sync.(*RWMutex).RLock"
            | "sync.runtime_SemacquireMutex"
            | "sync.runtime_SemacquireRWMutex"
            | "sync.runtime_SemacquireRWMutexR"
            | "internal/sync.runtime_SemacquireMutex" => Wait::Lock,
            "sync.(*WaitGroup).Wait"
            | "sync.runtime_SemacquireWaitGroup"
            | "sync.(*Cond).Wait"
            | "sync.runtime_notifyListWait"
            | "golang.org/x/sync/errgroup.(*Group).Wait" => Wait::ForkJoin,
            "runtime.chansend" | "runtime.chansend1" => Wait::Send,
            "runtime.chanrecv" | "runtime.chanrecv1" | "runtime.chanrecv2" | "runtime.selectgo"
            | "runtime.block" => Wait::Receive,
            _ => continue,
        };
        return w;
    }
    if funcs.is_empty() {
        Wait::Unknown
    } else {
        Wait::Other
    }
}

/// What the analyzer keeps of a stack, resolved once per stack id and generation.
#[derive(Clone, Default)]
struct StackInfo {
    /// [`leaf`], interned.
    leaf: Option<Rc<str>>,
    /// [`crate::sites::site`] (else the leaf) with its rank (see [`GState::site`]).
    site: Option<(Rc<str>, u8)>,
    wait: Wait,
    /// An event loop's wait on its own event source ([`crate::sites::idle_syscall`]).
    idle_syscall: bool,
}

impl TraceAnalyzer {
    pub fn new() -> Self {
        TraceAnalyzer {
            s: TraceSummary {
                heatmap_window_ns: th::TRACE_HEATMAP_WINDOW_NS,
                ..Default::default()
            },
            gs: FxHashMap::default(),
            heat: BTreeMap::new(),
            heat_window: None,
            range_start: HashMap::new(),
            reasons: Default::default(),
            sites: Default::default(),
            site_names: FxHashMap::default(),
            unknown_site: Rc::from("(unknown)"),
            no_site: Rc::from(""),
            syscall_ns_by_site: FxHashMap::default(),
            syscall_idle_ns_by_site: FxHashMap::default(),
            block_ns_by_site: FxHashMap::default(),
            contention_ns_by_site: FxHashMap::default(),
            first: true,
            side: SideTrackers::new(Sides::ALL),
        }
    }

    /// An analyzer without the side trackers in `sides`, for a caller that runs them
    /// over the same events elsewhere and puts their results in the summary.
    pub fn leaving_out(sides: Sides) -> Self {
        TraceAnalyzer {
            side: SideTrackers::new(Sides {
                blocked: !sides.blocked,
                assist: !sides.assist,
            }),
            ..Self::new()
        }
    }

    pub fn observe(&mut self, ev: &Event) {
        // Worked out once for the three analyses.
        let tr = goroutine_transition(ev);
        self.side.observe_transition(ev, tr.clone());
        let t = ev.time();
        if self.first {
            self.s.start_ns = t;
            self.first = false;
        }
        self.s.end_ns = self.s.end_ns.max(t);
        self.s.events += 1;
        if ev.kind() == EventKind::Sync {
            self.sites.new_generation();
            self.reasons.new_generation();
        }
        match ev.kind() {
            EventKind::StateTransition => {
                if let Some(tr) = tr {
                    self.transition(ev, t, tr)
                }
            }
            EventKind::Metric => {
                if let Some(("/sched/gomaxprocs:threads", v)) = ev.metric() {
                    self.s.gomaxprocs = v;
                }
            }
            EventKind::RangeBegin | EventKind::RangeActive => {
                if let Some((name, scope)) = ev.range() {
                    let key = (String::from_utf8_lossy(&name).into_owned(), scope_id(scope));
                    // An active range began before the trace: measure from here.
                    self.range_start.insert(key, t);
                }
            }
            EventKind::RangeEnd => {
                if let Some((name, scope)) = ev.range() {
                    let name = String::from_utf8_lossy(&name).into_owned();
                    if let Some(start) = self.range_start.remove(&(name.clone(), scope_id(scope))) {
                        let d = (t - start).max(0) as u64;
                        self.range_done(&name, d);
                    }
                }
            }
            _ => {}
        }
    }

    fn range_done(&mut self, name: &str, d: u64) {
        if let Some(reason) = name
            .strip_prefix("stop-the-world (")
            .and_then(|r| r.strip_suffix(')'))
        {
            // Starting and stopping the trace stops the world too; that pause is the
            // observer's, not the program's, so it is listed by reason but not judged.
            if !matches!(reason, "start trace" | "stop trace") {
                self.s.stw.record(d);
            }
            self.s
                .stw_by_reason
                .entry(reason.to_string())
                .or_default()
                .record(d);
        } else if name == "GC concurrent mark phase" {
            self.s.gc_cycles += 1;
            self.s.gc_mark_ns += d;
        } else if name == "GC mark assist" {
            self.s.mark_assist.record(d);
        } else if name == "GC incremental sweep" {
            self.s.sweep_ns += d;
        }
    }

    /// What the stack says ([`StackInfo`]), cached per generation and interned.
    fn stack_info(&mut self, ev: &Event, stack: gorx_trace::event::StackRef) -> StackInfo {
        let Some(id) = stack else {
            return StackInfo::default();
        };
        if let Some(s) = self.sites.of(ev.table()).get(&id) {
            return s.clone();
        }
        let funcs: Vec<String> = ev
            .frames(stack)
            .iter()
            .map(|f| String::from_utf8_lossy(f.func).into_owned())
            .collect();
        let mut intern = |name: &str| {
            self.site_names
                .entry(name.to_string())
                .or_insert_with_key(|name| Rc::from(name.as_str()))
                .clone()
        };
        let names: Vec<&str> = funcs.iter().map(String::as_str).collect();
        let site = match crate::sites::site(names.iter().copied()) {
            Some(f) => Some((intern(f), if crate::sites::is_std(f) { 1 } else { 2 })),
            None => names.first().map(|f| (intern(f), 0)),
        };
        let info = StackInfo {
            leaf: leaf(&funcs).map(&mut intern),
            site,
            wait: wait_of(&funcs),
            idle_syscall: crate::sites::idle_syscall(&names),
        };
        self.sites.of(ev.table()).insert(id, info.clone());
        info
    }

    /// Counts a wait of `d` that ended (or the trace ended in) as contention (locks,
    /// blocked sends) or fork-join by what its stack waited on; without a stack, by the
    /// block reason ("sync" is a lock, as in the runtime's reason for Mutex waits).
    fn contention_add(
        s: &mut TraceSummary,
        by_site: &mut FxHashMap<(bool, Interned), u64>,
        unknown: &Rc<str>,
        g: &GState,
        d: u64,
    ) {
        let send = match g.block_wait {
            Wait::Lock => false,
            Wait::Send => true,
            Wait::ForkJoin => {
                s.fork_join_ns += d;
                return;
            }
            Wait::Receive | Wait::Other => return,
            Wait::Unknown => match &*g.reason {
                "chan send" => true,
                "sync" => false,
                r if r.starts_with("sync.(*RWMutex)") => false,
                "sync.(*Cond).Wait" => {
                    s.fork_join_ns += d;
                    return;
                }
                _ => return,
            },
        };
        s.contention_ns += d;
        if send {
            s.send_wait_ns += d;
        }
        let site = if g.block_site.is_empty() {
            unknown.clone()
        } else {
            g.block_site.clone()
        };
        *by_site.entry((send, Interned(site))).or_default() += d;
    }

    /// The heat-map count of a scheduling latency `d` ending at `t`.
    fn heat_record(&mut self, t: i64, d: u64) {
        let w = ((t - self.s.start_ns).max(0) as u64) / self.s.heatmap_window_ns
            * self.s.heatmap_window_ns;
        let b = HEATMAP_LATENCY_EDGES_NS
            .iter()
            .position(|e| d < *e)
            .unwrap_or(6);
        match &mut self.heat_window {
            Some((cur, counts)) if *cur == w => counts[b] += 1,
            open => {
                if let Some((cur, counts)) = open.take() {
                    Self::heat_flush(&mut self.heat, cur, counts);
                }
                let mut counts = [0; 7];
                counts[b] = 1;
                *open = Some((w, counts));
            }
        }
    }

    fn heat_flush(heat: &mut BTreeMap<u64, [u64; 7]>, w: u64, counts: [u64; 7]) {
        let cell = heat.entry(w).or_insert([0; 7]);
        for (c, n) in cell.iter_mut().zip(counts) {
            *c += n;
        }
    }

    fn transition(&mut self, ev: &Event, t: i64, (id, from, new, st): GoTransition<'_>) {
        let info = self.stack_info(ev, st.stack);
        let site = info.leaf.clone();
        let reason = self.reasons.get(ev.table(), st.reason);
        let mut latency = None;
        let g = self.gs.entry(id).or_default();
        g.times.id = id;
        if let Some(old) = g.state {
            let d = (t - g.since).max(0) as u64;
            match old {
                GoState::Running => g.times.exec_ns += d,
                GoState::Runnable => {
                    g.times.sched_wait_ns += d;
                    if new == GoState::Running {
                        latency = Some(d);
                    }
                }
                GoState::Waiting => {
                    g.add_block(d);
                    if !g.block_site.is_empty() {
                        *self
                            .block_ns_by_site
                            .entry((Interned(g.reason.clone()), Interned(g.block_site.clone())))
                            .or_default() += d;
                    }
                    Self::contention_add(
                        &mut self.s,
                        &mut self.contention_ns_by_site,
                        &self.unknown_site,
                        g,
                        d,
                    );
                }
                GoState::Syscall => {
                    g.times.syscall_ns += d;
                    self.s.syscalls.record(d);
                    let (hist, by_site) = if g.syscall_idle {
                        (&mut self.s.syscalls_idle, &mut self.syscall_idle_ns_by_site)
                    } else {
                        (&mut self.s.syscalls_busy, &mut self.syscall_ns_by_site)
                    };
                    hist.record(d);
                    *by_site.entry(Interned(g.syscall_site.clone())).or_default() += d;
                    if new == GoState::Runnable {
                        self.s.syscalls_blocked += 1;
                    }
                }
                _ => {}
            }
        }
        if new == GoState::Syscall {
            g.syscall_site = site.clone().unwrap_or_else(|| self.unknown_site.clone());
            g.syscall_idle = info.idle_syscall;
        }
        // Only a block with its own stack names where the goroutine waits.
        g.block_site = match (&site, new) {
            (Some(s), GoState::Waiting) => s.clone(),
            _ => self.no_site.clone(),
        };
        // A wait already under way when the trace began (a status event) is not
        // judged as contention: goroutines blocked through the window are the leak
        // tracker's (trace_leak.rs), and a status carries no reason either.
        g.block_wait = if from == GoState::Undetermined {
            Wait::Other
        } else if from == new {
            // A status repeated at a generation boundary: the same wait goes on.
            g.block_wait
        } else {
            info.wait
        };
        if let Some((name, rank)) = info.site
            && g.site.as_ref().is_none_or(|(_, r)| rank >= *r)
        {
            g.site = Some((name, rank));
        }
        g.state = Some(new);
        g.since = t;
        g.reason = reason;
        if new == GoState::NotExist
            && let Some(g) = self.gs.remove(&id)
        {
            self.s.goroutines.push(g.into_times());
        }
        if let Some(d) = latency {
            self.s.sched_latency.record(d);
            self.heat_record(t, d);
        }
    }

    /// Close open states at the last event and return the summary.
    pub fn finish(mut self) -> TraceSummary {
        let end = self.s.end_ns;
        for (_, mut g) in self.gs.drain() {
            if let Some(old) = g.state {
                let d = (end - g.since).max(0) as u64;
                match old {
                    GoState::Running => g.times.exec_ns += d,
                    GoState::Runnable => g.times.sched_wait_ns += d,
                    GoState::Waiting => {
                        g.add_block(d);
                        Self::contention_add(
                            &mut self.s,
                            &mut self.contention_ns_by_site,
                            &self.unknown_site,
                            &g,
                            d,
                        );
                    }
                    GoState::Syscall => g.times.syscall_ns += d,
                    _ => {}
                }
            }
            self.s.goroutines.push(g.into_times());
        }
        self.s.goroutines.sort_by_key(|g| g.id);
        if let Some((w, counts)) = self.heat_window.take() {
            Self::heat_flush(&mut self.heat, w, counts);
        }
        self.s.heatmap = self.heat.into_iter().collect();
        // Keys are by address, which interning makes one per text.
        for (Interned(site), ns) in self.syscall_ns_by_site {
            *self
                .s
                .syscall_ns_by_site
                .entry(site.to_string())
                .or_default() += ns;
        }
        for (Interned(site), ns) in self.syscall_idle_ns_by_site {
            *self
                .s
                .syscall_idle_ns_by_site
                .entry(site.to_string())
                .or_default() += ns;
        }
        for ((send, Interned(site)), ns) in self.contention_ns_by_site {
            let what = if send { "chan send" } else { "lock" };
            *self
                .s
                .contention_ns_by_site
                .entry(format!("{what} @ {site}"))
                .or_default() += ns;
        }
        for ((Interned(reason), Interned(site)), ns) in self.block_ns_by_site {
            *self
                .s
                .block_ns_by_site
                .entry(format!("{reason} @ {site}"))
                .or_default() += ns;
        }
        self.side.finish().finish_into(&mut self.s);
        self.s
    }
}

fn scope_id(r: Resource) -> i64 {
    match r {
        Resource::None => i64::MIN,
        Resource::Goroutine(i) | Resource::Proc(i) | Resource::Thread(i) => i,
    }
}

fn long_pause(s: &TraceSummary, sources: &[String]) -> Option<Finding> {
    let h = &s.stw;
    if h.count == 0 {
        return None;
    }
    // Judged on the one pause table (gc::PauseStats), as gctrace and MemStats pauses are.
    let stats = crate::gc::PauseStats {
        n: h.count as usize,
        p50_ns: h.quantile_ns(0.50),
        p99_ns: h.quantile_ns(0.99),
        max_ns: h.max_ns,
        long: h.count_at_least(th::GC_PAUSE_P99_WARNING_NS) as usize,
        long_critical: h.count_at_least(th::GC_PAUSE_P99_CRITICAL_NS) as usize,
    };
    let severity = stats.severity()?;
    let few = !stats.has_percentile();
    let p99 = stats.p99_ns;
    let long = stats.long as u64;
    let mut ev = Evidence::new();
    ev.insert("stw_pauses".into(), h.count.into());
    if few {
        ev.insert(format!("stw_max_of_{}_ns", h.count), h.max_ns.into());
    } else {
        ev.insert("stw_p99_ns".into(), p99.into());
    }
    ev.insert("stw_max_ns".into(), h.max_ns.into());
    ev.insert("stw_pauses_over_warning".into(), long.into());
    for (reason, h) in &s.stw_by_reason {
        ev.insert(format!("stw_max_ns:{reason}"), h.max_ns.into());
    }
    let worst = s
        .stw_by_reason
        .iter()
        .filter(|(r, _)| !matches!(r.as_str(), "start trace" | "stop trace"))
        .max_by_key(|(_, h)| h.max_ns)
        .map(|(r, _)| r.clone())
        .unwrap_or_default();
    let level = if few {
        format!("{} max of {}", ms(h.max_ns), h.count)
    } else {
        format!("{} at P99 ({} max)", ms(p99), ms(h.max_ns))
    };
    Some(Finding {
        id: "gc.long-pause",
        severity,
        title: format!("Stop-the-world pauses reach {level} (worst: {worst})"),
        evidence: ev,
        recommendation: if severity == Severity::Info {
            "One slow stop is not a pattern: a longer trace (or gctrace) shows whether pauses \
             are long at P99. If they are, check for goroutines in long non-preemptible loops \
             (they delay the stop) and CPU starvation of the process."
                .into()
        } else {
            "Long stop-the-world phases stall every goroutine: check for goroutines in long \
             non-preemptible loops (they delay the stop), CPU starvation of the process (host \
             load, CFS throttling), very large heaps of pointers scanned at mark termination, \
             and explicit runtime.GC or ReadMemStats calls in hot paths."
                .into()
        },
        sources: sources.to_vec(),
        sites: vec![worst],
    })
}

/// sched.latency's sites: the goroutines that waited longest for a P, named by their
/// site outside the runtime and standard library first (the code that kept the Ps
/// busy), then standard-library sites; the runtime's own goroutines (a site with
/// runtime frames only, such as `runtime.asyncPreempt2` or `runtime.bgsweep`) are left
/// out.
fn latency_sites(s: &TraceSummary) -> Vec<String> {
    let mut gs: Vec<&GoroutineTimes> = s
        .goroutines
        .iter()
        .filter(|g| !g.site.is_empty() && !crate::sites::is_plumbing(&g.site))
        .collect();
    gs.sort_by_key(|g| std::cmp::Reverse(g.sched_wait_ns));
    let mut sites: Vec<String> = Vec::new();
    for user in [true, false] {
        for g in gs.iter().take(th::TRACE_TOP_SITES * 4) {
            if crate::sites::is_std(&g.site) == user || sites.contains(&g.site) {
                continue;
            }
            if sites.len() < th::TRACE_TOP_SITES {
                sites.push(g.site.clone());
            }
        }
    }
    sites
}

fn ms(ns: u64) -> String {
    format!("{:.2} ms", ns as f64 / 1e6)
}

/// A goroutine's state change: (id, old, new, the transition itself for its reason and
/// stack).
pub(crate) type GoTransition<'a> = (GoId, GoState, GoState, StateTransition<'a>);

/// The goroutine state change `ev` carries, if it is one.
pub(crate) fn goroutine_transition(ev: &Event) -> Option<GoTransition<'_>> {
    let st = ev.state_transition()?;
    let Resource::Goroutine(id) = st.resource else {
        return None;
    };
    let (old, new) = st.go_states();
    Some((id, old, new, st))
}

/// Findings from a trace summary. `source` names the trace file.
pub fn trace_findings(s: &TraceSummary, source: &str) -> Vec<Finding> {
    trace_findings_with_dump(s, source, None)
}

/// [`trace_findings`] with a goroutine dump of the same process (its summary and source
/// name), if there is one: the leak groups take their site from the dump
/// ([`crate::trace_leak::leak_findings_joined`]).
pub fn trace_findings_with_dump(
    s: &TraceSummary,
    source: &str,
    dump: Option<(&crate::goroutines::DumpSummary, &str)>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let sources = vec![source.to_string()];

    // sched.latency: runnable goroutines waiting long for a P.
    let h = &s.sched_latency;
    if h.count >= th::SCHED_LATENCY_MIN_SAMPLES {
        let p99 = h.quantile_ns(0.99);
        let sev = if p99 >= th::SCHED_LATENCY_P99_CRITICAL_NS {
            Some(Severity::Critical)
        } else if p99 >= th::SCHED_LATENCY_P99_WARNING_NS {
            Some(Severity::Warning)
        } else {
            None
        };
        if let Some(severity) = sev {
            let mut ev = Evidence::new();
            ev.insert("sched_latency_p50_ns".into(), h.quantile_ns(0.50).into());
            ev.insert("sched_latency_p99_ns".into(), p99.into());
            ev.insert("sched_latency_p999_ns".into(), h.quantile_ns(0.999).into());
            ev.insert("sched_latency_max_ns".into(), h.max_ns.into());
            ev.insert("samples".into(), h.count.into());
            // 0: no GOMAXPROCS metric in the trace (v1 traces, whose start-up value
            // Go's conversion drops).
            if s.gomaxprocs > 0 {
                ev.insert("gomaxprocs".into(), s.gomaxprocs.into());
            }
            let sites = latency_sites(s);
            // The goroutines that held the Ps longest: with their site where the trace
            // names one (an async preemption's stack stops at runtime.asyncPreempt), and
            // their ids, which a goroutine dump or CPU profile of the process can name.
            let mut busy: Vec<&GoroutineTimes> = s.goroutines.iter().collect();
            busy.sort_by_key(|g| std::cmp::Reverse(g.exec_ns));
            let busy: Vec<serde_json::Value> = busy
                .iter()
                .filter(|g| g.exec_ns > 0)
                .take(th::TRACE_TOP_SITES)
                .map(|g| {
                    let site = (!g.site.is_empty() && !crate::sites::is_plumbing(&g.site))
                        .then(|| g.site.clone());
                    serde_json::json!({"goroutine": g.id, "exec_ns": g.exec_ns, "site": site})
                })
                .collect();
            ev.insert("busiest_goroutines".into(), busy.into());
            out.push(Finding {
                id: "sched.latency",
                severity,
                title: format!(
                    "Runnable goroutines wait {} at P99 for a P ({} max{})",
                    ms(p99),
                    ms(h.max_ns),
                    if s.gomaxprocs > 0 {
                        format!(", GOMAXPROCS={}", s.gomaxprocs)
                    } else {
                        String::new()
                    }
                ),
                evidence: ev,
                recommendation:
                    "More runnable goroutines than Ps: cut CPU-bound work per request, \
                    bound concurrency (worker pools), check GOMAXPROCS against the CPU quota, and \
                    look for long non-preemptible loops at the listed sites."
                        .into(),
                sources: sources.clone(),
                sites,
            });
        }
    }

    // syscall.blocking: time in syscalls long enough to hand the P off. Event loops
    // waiting on their own event source (epoll_wait, inotify readers) are left out.
    let dur = s.duration_ns().max(1);
    let sc = &s.syscalls_busy;
    let long_share = sc.sum_ns as f64 / dur as f64;
    if sc.count > 0
        && (sc.max_ns >= th::SYSCALL_BLOCKING_MAX_NS
            || (long_share >= th::SYSCALL_BLOCKING_SHARE_WARNING
                && sc.sum_ns >= th::SYSCALL_BLOCKING_MIN_TOTAL_NS as u128))
    {
        let severity = if long_share >= th::SYSCALL_BLOCKING_SHARE_CRITICAL {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let mut sites: Vec<(&String, &u64)> = s.syscall_ns_by_site.iter().collect();
        sites.sort_by_key(|(_, v)| std::cmp::Reverse(**v));
        let mut ev = Evidence::new();
        ev.insert("syscalls".into(), sc.count.into());
        ev.insert("syscalls_blocked".into(), s.syscalls_blocked.into());
        ev.insert("syscall_total_ns".into(), (sc.sum_ns as u64).into());
        ev.insert("syscall_p99_ns".into(), sc.quantile_ns(0.99).into());
        ev.insert("syscall_max_ns".into(), sc.max_ns.into());
        if s.syscalls_idle.count > 0 {
            ev.insert(
                "event_loop_syscall_ns_left_out".into(),
                (s.syscalls_idle.sum_ns as u64).into(),
            );
        }
        ev.insert("trace_duration_ns".into(), dur.into());
        ev.insert(
            "syscall_goroutine_time_per_wall_ratio".into(),
            serde_json::json!((long_share * 1000.0).round() / 1000.0),
        );
        for (site, ns) in sites.iter().take(th::TRACE_TOP_SITES) {
            ev.insert(format!("site_ns:{site}"), (**ns).into());
        }
        out.push(Finding {
            id: "syscall.blocking",
            severity,
            title: format!(
                "Goroutines spend {} in syscalls over a {} trace (longest {})",
                ms(sc.sum_ns as u64),
                ms(dur),
                ms(sc.max_ns)
            ),
            evidence: ev,
            recommendation: "Blocking syscalls hold an M each and hand their P off: move blocking \
                I/O off hot paths, use non-blocking/netpoller-backed I/O, bound concurrent \
                blocking calls, and check the slow device or file system at the listed sites."
                .into(),
            sources: sources.clone(),
            sites: sites
                .iter()
                .take(th::TRACE_TOP_SITES)
                .map(|(s, _)| (*s).clone())
                .collect(),
        });
    }

    // contention.mutex / contention.block: goroutines waiting on locks or in blocked channel sends
    // (backpressure), told by the blocking stack's frames. Receives and selects wait for
    // work, WaitGroup/Cond waits are fork-join: neither is contention.
    let contended = s.contention_ns;
    let ratio = contended as f64 / dur as f64;
    if s.duration_ns() > 0 && ratio >= th::TRACE_CONTENTION_WARNING_RATIO {
        let severity = if ratio >= th::TRACE_CONTENTION_CRITICAL_RATIO {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let mut sites: Vec<(&String, &u64)> = s.contention_ns_by_site.iter().collect();
        sites.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let lock_ns = contended - s.send_wait_ns;
        let mut ev = Evidence::new();
        ev.insert("blocked_ns".into(), contended.into());
        ev.insert("lock_wait_ns".into(), lock_ns.into());
        ev.insert("chan_send_wait_ns".into(), s.send_wait_ns.into());
        if s.fork_join_ns > 0 {
            ev.insert("fork_join_wait_ns_left_out".into(), s.fork_join_ns.into());
        }
        ev.insert("trace_duration_ns".into(), dur.into());
        ev.insert(
            "blocked_goroutines_avg".into(),
            serde_json::json!((ratio * 100.0).round() / 100.0),
        );
        for (site, ns) in sites.iter().take(th::TRACE_TOP_SITES) {
            ev.insert(format!("site_ns:{site}"), (**ns).into());
        }
        let what = if s.send_wait_ns == 0 {
            "locks"
        } else if lock_ns == 0 {
            "blocked channel sends"
        } else {
            "locks or blocked channel sends"
        };
        let mut advice = Vec::new();
        if lock_ns > 0 {
            advice.push(
                "for locks, shorten the critical sections or shard the lock at the listed sites",
            );
        }
        if s.send_wait_ns > 0 {
            advice.push(
                "for channel sends (backpressure), the consumer is too slow or the buffer too \
                 small: add consumers, batch, or apply back-pressure upstream",
            );
        }
        let mut recommendation = advice.join("; ");
        if let Some(c) = recommendation.get_mut(0..1) {
            c.make_ascii_uppercase();
        }
        recommendation.push('.');
        // Mostly lock waits: that is mutex contention, the finding a mutex profile of the
        // same process gives; mostly blocked sends: backpressure, contention.block.
        let id = if lock_ns >= s.send_wait_ns {
            "contention.mutex"
        } else {
            "contention.block"
        };
        out.push(Finding {
            id,
            severity,
            title: format!(
                "On average {ratio:.1} goroutines wait on {what} ({} blocked over a {} trace)",
                ms(contended),
                ms(dur)
            ),
            evidence: ev,
            recommendation,
            sources: sources.clone(),
            sites: sites
                .iter()
                .take(th::TRACE_TOP_SITES)
                .map(|(s, _)| s.split(" @ ").nth(1).unwrap_or(s).to_string())
                .collect(),
        });
    }

    // gc.long-pause: stop-the-world pauses, judged as gctrace and /metrics pauses are
    // (GC_PAUSE_*): a P99 at the warning bar with at least two such pauses is a pattern,
    // one pause at the max bar is critical, a single slow stop alone is info. Over fewer
    // than PAUSE_PERCENTILE_MIN_SAMPLES pauses a P99 is the max, and is named so.
    if let Some(f) = long_pause(s, &sources) {
        out.push(f);
    }
    out.extend(crate::trace_leak::leak_findings_joined(
        &s.blocked, source, dump,
    ));
    out.extend(crate::trace_assist::assist_findings(s, source));
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use gorx_trace::raw::{RawEvent, encode};
    use gorx_trace::spec::{Version, ev};

    /// A raw event for hand-built test traces.
    pub(crate) fn e(ev: u8, args: &[u64]) -> RawEvent {
        RawEvent {
            ev,
            args: args.to_vec(),
            data: None,
        }
    }

    /// A batch header for thread `m` at `time` followed by `inner`.
    pub(crate) fn batch(m: u64, time: u64, inner: Vec<RawEvent>) -> Vec<RawEvent> {
        let size = encode(Version::GO126, &inner).len() - 16;
        let mut v = vec![e(ev::EVENT_BATCH, &[1, m, time, size as u64])];
        v.extend(inner);
        v
    }

    /// One generation, 1 tick = 1 ns, base time 1000: G1 runs, creates G2 at +10,
    /// blocks on "chan receive" at +20; G2 starts at +1020 (1010 ns runnable), enters a
    /// syscall at +1100 for 4000 ns, exits at +6000.
    fn synthetic() -> Vec<u8> {
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
        let mut s = e(ev::STRING, &[1]);
        s.data = Some(b"chan receive".to_vec());
        evs.extend(batch(none, 0, vec![e(ev::STRINGS, &[]), s]));
        evs.extend(batch(
            0,
            1000,
            vec![
                e(ev::PROC_STATUS, &[0, 0, 1]),
                e(ev::GO_STATUS, &[0, 1, none, 2]),
                e(ev::GO_CREATE, &[10, 2, 0, 0]),
                e(ev::GO_BLOCK, &[10, 1, 0]),
                e(ev::GO_START, &[1000, 2, 1]),
                e(ev::GO_SYSCALL_BEGIN, &[80, 1, 0]),
                e(ev::GO_SYSCALL_END, &[4000]),
                e(ev::GO_DESTROY, &[900]),
            ],
        ));
        evs.push(e(ev::END_OF_GENERATION, &[]));
        encode(Version::GO126, &evs)
    }

    #[test]
    fn synthetic_trace_times_add_up() {
        let b = synthetic();
        let mut r = gorx_trace::Reader::new("synthetic", &b[..]).unwrap();
        let mut an = TraceAnalyzer::new();
        while let Some(ev) = r.read_event().unwrap() {
            an.observe(&ev);
        }
        let s = an.finish();
        assert_eq!(s.sched_latency.count, 1);
        assert_eq!(s.sched_latency.max_ns, 1010);
        assert_eq!(s.sched_latency.quantile_ns(0.99), 1010);
        assert_eq!(s.syscalls.count, 1);
        assert_eq!(s.syscalls.sum_ns, 4000);
        let g1 = s.goroutines.iter().find(|g| g.id == 1).unwrap();
        let g2 = s.goroutines.iter().find(|g| g.id == 2).unwrap();
        // The generation's Sync takes time 1000, so (as in Go's reader) the two status
        // events at the same tick are pushed to 1001 and 1002: G1 runs from 1002 to 1020.
        assert_eq!(g1.exec_ns, 18);
        // G1 stays blocked until the last event (the final Sync, 1 ns after G2 exits).
        assert_eq!(g1.block_ns.get("chan receive"), Some(&(7001 - 1020)));
        assert_eq!(g2.sched_wait_ns, 1010);
        assert_eq!(g2.exec_ns, 80 + 900);
        assert_eq!(g2.syscall_ns, 4000);
        // One short syscall and one latency sample: no findings.
        assert!(trace_findings(&s, "synthetic").is_empty());
    }

    const FUNCS: &[&str] = &[
        "syscall.Syscall6",
        "golang.org/x/sys/unix.EpollWait",
        "github.com/fsnotify/fsnotify.(*Watcher).readEvents",
        "syscall.Syscall",
        "syscall.Fsync",
        "main.save",
        "sync.runtime_SemacquireWaitGroup",
        "sync.(*WaitGroup).Wait",
        "main.gather",
        "sync.runtime_SemacquireMutex",
        "sync.(*Mutex).Lock",
        "main.update",
        "main.score",
        "runtime.asyncPreempt2",
        "runtime.asyncPreempt",
    ];
    /// Stacks by id, leaf first, as indexes into FUNCS.
    const STACKS: &[(u64, &[usize])] = &[
        (1, &[0, 1, 2]),   // an fsnotify event loop in epoll_wait
        (2, &[3, 4, 5]),   // fsync in main.save
        (3, &[6, 7, 8]),   // WaitGroup.Wait in main.gather
        (4, &[9, 10, 11]), // Mutex.Lock in main.update
        (5, &[12]),        // main.score's start
        (6, &[13, 14]),    // an async preemption
    ];

    /// One generation at 1 tick = 1 ns with strings "sync" (1), "preempted" (2), the
    /// functions of FUNCS (10...) and the stacks of STACKS, then `body` on P0 / M0 from
    /// time 1000.
    fn with_stacks(body: Vec<RawEvent>) -> TraceSummary {
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
        let mut str_ev = |id: u64, text: &str| {
            let mut x = e(ev::STRING, &[id]);
            x.data = Some(text.as_bytes().to_vec());
            strs.push(x);
        };
        str_ev(1, "sync");
        str_ev(2, "preempted");
        str_ev(3, "x.go");
        for (i, f) in FUNCS.iter().enumerate() {
            str_ev(10 + i as u64, f);
        }
        evs.extend(batch(none, 0, strs));
        let mut stacks = vec![e(ev::STACKS, &[])];
        for (id, frames) in STACKS {
            let mut x = e(ev::STACK, &[*id, frames.len() as u64]);
            for (k, f) in frames.iter().enumerate() {
                x.args
                    .extend([0x401000 + (*id << 8) + k as u64, 10 + *f as u64, 3, 1]);
            }
            stacks.push(x);
        }
        evs.extend(batch(none, 0, stacks));
        evs.extend(batch(0, 1000, body));
        evs.push(e(ev::END_OF_GENERATION, &[]));
        let b = encode(Version::GO126, &evs);
        let mut r = gorx_trace::Reader::new("synthetic", &b[..]).unwrap();
        let mut an = TraceAnalyzer::new();
        while let Some(ev) = r.read_event().unwrap() {
            an.observe(&ev);
        }
        an.finish()
    }

    /// G1 in one 200 ms syscall at `stack`.
    fn syscall_at(stack: u64) -> TraceSummary {
        with_stacks(vec![
            e(ev::PROC_STATUS, &[0, 0, 1]),
            e(ev::GO_STATUS, &[0, 1, u64::MAX, 2]),
            e(ev::GO_SYSCALL_BEGIN, &[10, 1, stack]),
            e(ev::GO_SYSCALL_END, &[200_000_000]),
        ])
    }

    /// An event loop sitting in epoll_wait by design is idle; fsync is not.
    #[test]
    fn event_loop_syscalls_are_idle() {
        let s = syscall_at(1);
        assert_eq!(s.syscalls.count, 1);
        assert_eq!(s.syscalls_idle.count, 1);
        let f = trace_findings(&s, "t");
        assert!(f.iter().all(|f| f.id != "syscall.blocking"), "{f:#?}");
        let s = syscall_at(2);
        let f = trace_findings(&s, "t");
        let sb = f
            .iter()
            .find(|f| f.id == "syscall.blocking")
            .expect("fsync");
        assert_eq!(sb.sites, ["main.save"]);
    }

    /// G1 creates G2 and G3 (started at main.score), G1 and G2 block at `stack` with
    /// reason "sync", G3 runs for 1 s and is preempted (a stack of runtime frames only).
    fn two_blocked_at(stack: u64) -> TraceSummary {
        with_stacks(vec![
            e(ev::PROC_STATUS, &[0, 0, 1]),
            e(ev::GO_STATUS, &[0, 1, u64::MAX, 2]),
            e(ev::GO_CREATE, &[10, 2, 5, 0]),
            e(ev::GO_CREATE, &[10, 3, 5, 0]),
            e(ev::GO_BLOCK, &[10, 1, stack]),
            e(ev::GO_START, &[10, 2, 1]),
            e(ev::GO_BLOCK, &[10, 1, stack]),
            e(ev::GO_START, &[10, 3, 1]),
            e(ev::GO_STOP, &[1_000_000_000, 2, 6]),
        ])
    }

    /// WaitGroup waits (fork-join) are not contention; Mutex waits are.
    #[test]
    fn fork_join_is_not_contention_locks_are() {
        let s = two_blocked_at(3);
        assert!(s.fork_join_ns > 1_900_000_000, "{}", s.fork_join_ns);
        let f = trace_findings(&s, "t");
        assert!(
            f.iter()
                .all(|f| f.id != "contention.block" && f.id != "contention.mutex"),
            "{f:#?}"
        );
        let s = two_blocked_at(4);
        let f = trace_findings(&s, "t");
        // Lock waits are mutex contention.
        let c = f.iter().find(|f| f.id == "contention.mutex").expect("lock");
        assert_eq!(c.sites, ["main.update"]);
        assert!(c.title.contains("wait on locks"), "{}", c.title);
    }

    /// A preemption's stack of runtime frames only does not replace the site the
    /// goroutine was seen at (its start, main.score).
    #[test]
    fn preemption_keeps_the_user_site() {
        let s = two_blocked_at(3);
        let g3 = s.goroutines.iter().find(|g| g.id == 3).unwrap();
        assert_eq!(g3.site, "main.score");
        let mut s = s;
        for (i, g) in s.goroutines.iter_mut().enumerate() {
            g.sched_wait_ns = 1000 * (i as u64 + 1);
        }
        s.goroutines.push(GoroutineTimes {
            id: 9,
            sched_wait_ns: 1_000_000,
            site: "runtime.asyncPreempt2".into(),
            ..Default::default()
        });
        assert_eq!(latency_sites(&s)[0], "main.score");
        assert!(!latency_sites(&s).iter().any(|x| x.starts_with("runtime.")));
    }

    /// Goroutines blocked in a channel send since before the trace began (the
    /// goroutine-leak patient's 2000 senders) are a leak suspect, not contention: only
    /// waits that begin in the trace are judged as contention.block.
    #[test]
    fn waits_from_before_the_trace_are_not_contention() {
        let mut seen = 0;
        for (ver, patient, dir) in gorx_testsupport::corpus_entries() {
            if patient != "goroutine-leak" {
                continue;
            }
            let Ok(bytes) = std::fs::read(dir.join("trace.out")) else {
                continue;
            };
            seen += 1;
            let mut r = gorx_trace::Reader::new("trace.out", &bytes[..]).unwrap();
            let mut an = TraceAnalyzer::new();
            while let Some(ev) = r.read_event().unwrap() {
                an.observe(&ev);
            }
            let s = an.finish();
            let f = trace_findings(&s, "trace.out");
            assert!(
                f.iter().all(|f| f.id != "contention.block"),
                "{ver}: {f:#?}"
            );
            assert!(f.iter().any(|f| f.id == "goroutine.leak"), "{ver}: {f:#?}");
        }
        if seen == 0 {
            gorx_testsupport::missing_prerequisite("testdata/artifacts goroutine-leak traces");
        }
    }

    fn pauses(ns: &[u64]) -> TraceSummary {
        let mut s = TraceSummary::default();
        let mut h = DurationHistogram::default();
        for p in ns {
            h.record(*p);
        }
        s.stw_by_reason
            .insert("GC mark termination".into(), h.clone());
        s.stw = h;
        s
    }

    /// Trace pauses are judged with the gctrace and /metrics bars; a percentile of
    /// fewer than 20 pauses is "max of N".
    #[test]
    fn trace_pauses_are_judged_like_gctrace() {
        // caddy: 8 pauses, max 1.05 ms: nothing to say.
        let mut caddy = vec![100_000u64; 7];
        caddy.push(1_050_000);
        assert!(trace_findings(&pauses(&caddy), "t").is_empty());
        // One slow stop among 8: info, as /metrics says it.
        let mut one = vec![100_000u64; 7];
        one.push(30_000_000);
        let f = trace_findings(&pauses(&one), "t");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Info);
        assert!(f[0].title.contains("max of 8"), "{}", f[0].title);
        assert!(!f[0].title.contains("P99"), "{}", f[0].title);
        assert!(f[0].evidence.contains_key("stw_max_of_8_ns"));
        assert!(!f[0].evidence.contains_key("stw_p99_ns"));
        // Two of 8 over 10 ms: a pattern.
        let mut two = vec![100_000u64; 6];
        two.extend([12_000_000, 30_000_000]);
        let f = trace_findings(&pauses(&two), "t");
        assert_eq!(f[0].severity, Severity::Warning);
        // 40 pauses: a real P99.
        let mut many = vec![100_000u64; 37];
        many.extend([60_000_000, 60_000_000, 70_000_000]);
        let f = trace_findings(&pauses(&many), "t");
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].title.contains("at P99"), "{}", f[0].title);
        assert!(f[0].evidence.contains_key("stw_p99_ns"));
    }

    /// The trace's pauses get the verdict gctrace's would (one table, gc::PauseStats):
    /// one pause at the P99 critical bar with another merely long is a warning pattern,
    /// not critical (the trace's own copy of the table called it critical).
    #[test]
    fn trace_pauses_get_the_gctrace_verdict() {
        let mut mixed = vec![100_000u64; 6];
        mixed.extend([12_000_000, 60_000_000]);
        let mut crit = vec![100_000u64; 6];
        crit.extend([60_000_000, 70_000_000]);
        let mut many = vec![100_000u64; 150];
        many.extend([12_000_000, 15_000_000, 60_000_000]);
        for v in [mixed, crit, many] {
            let want = crate::gc::PauseStats::of(&v).severity();
            let got = trace_findings(&pauses(&v), "t").first().map(|f| f.severity);
            assert_eq!(got, want, "{v:?}");
        }
    }

    #[test]
    fn histogram_quantiles_are_close() {
        let mut h = DurationHistogram::default();
        for v in 1..=10_000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile_ns(0.5) as f64;
        let p99 = h.quantile_ns(0.99) as f64;
        assert!((p50 / 5_000_000.0 - 1.0).abs() < 0.04, "{p50}");
        assert!((p99 / 9_900_000.0 - 1.0).abs() < 0.04, "{p99}");
        assert_eq!(h.quantile_ns(1.0), 10_000_000);
        assert_eq!(h.max_ns, 10_000_000);
        for v in [0u64, 1, 31, 32, 33, 1000, u64::MAX / 2] {
            assert!(bucket_upper(bucket_of(v)) >= v);
        }
    }
}
