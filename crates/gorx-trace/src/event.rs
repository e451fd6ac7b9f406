//! Events as Go's `internal/trace` surfaces them (event.go, resources.go), and their
//! `String()` form, which `go tool trace -d=parsed` prints.

use crate::goutil::FxHashMap as HashMap;
use crate::goutil::rfc3339_nano_utc;
use crate::spec::{self, EventType, ev};
use std::collections::BTreeMap;
use std::io::Write;
use std::rc::Rc;

/// Nanoseconds on the traced program's monotonic clock.
pub type Time = i64;
pub type GoId = i64;
pub type ProcId = i64;
pub type ThreadId = i64;
pub type TaskId = u64;

pub const NO_GOROUTINE: GoId = -1;
pub const NO_PROC: ProcId = -1;
pub const NO_THREAD: ThreadId = -1;
/// A task id meaning "no task".
pub const NO_TASK: TaskId = u64::MAX;
/// The task events belong to when no other is in context.
pub const BACKGROUND_TASK: TaskId = 0;

/// One stack frame as recorded in the stack table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub pc: u64,
    pub func_id: u64,
    pub file_id: u64,
    pub line: u64,
}

/// An id-to-value table where id 0 always means "empty" (Go's `dataTable`).
#[derive(Debug)]
pub(crate) struct DataTable<T> {
    dense: Vec<Option<T>>,
    sparse: HashMap<u64, T>,
}

impl<T> Default for DataTable<T> {
    fn default() -> Self {
        Self {
            dense: Vec::new(),
            sparse: HashMap::default(),
        }
    }
}

impl<T> DataTable<T> {
    /// Id 0 or a present id.
    #[inline]
    pub fn contains(&self, id: u64) -> bool {
        id == 0 || self.get(id).is_some()
    }
    #[inline]
    pub fn get(&self, id: u64) -> Option<&T> {
        if id == 0 {
            return None;
        }
        if let Some(Some(v)) = self.dense.get(id as usize) {
            return Some(v);
        }
        self.sparse.get(&id)
    }
    /// Insert; `false` if the id is taken (id 0 always is).
    pub fn insert(&mut self, id: u64, v: T) -> bool {
        if self.contains(id) {
            return false;
        }
        self.sparse.insert(id, v);
        true
    }
    /// Move dense id ranges into a vector for fast lookup (same rule as Go's compactify).
    pub fn compactify(&mut self) {
        if self.sparse.is_empty() || !self.dense.is_empty() {
            return;
        }
        let max_id = *self.sparse.keys().max().unwrap_or(&0);
        let min_id = *self.sparse.keys().min().unwrap_or(&0);
        let n = self.sparse.len() as u64;
        if max_id >= i64::MAX as u64 || max_id - min_id > 2 * n || min_id > n {
            return;
        }
        let mut dense: Vec<Option<T>> = Vec::new();
        dense.resize_with(max_id as usize + 1, || None);
        for (id, v) in self.sparse.drain() {
            dense[id as usize] = Some(v);
        }
        self.dense = dense;
    }
    pub fn iter(&self) -> impl Iterator<Item = (u64, &T)> {
        self.dense
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_ref().map(|v| (i as u64, v)))
            .chain(self.sparse.iter().map(|(k, v)| (*k, v)))
    }
}

/// Unparsed data of an experimental batch, kept for the experiment's consumers.
#[derive(Debug, Clone)]
pub struct ExperimentalBatch {
    pub thread: ThreadId,
    pub data: Vec<u8>,
}

/// Per-generation data needed to interpret events: strings, stacks, clock.
#[derive(Debug, Default)]
pub struct EvTable {
    /// Nanoseconds per timestamp unit.
    pub(crate) freq: f64,
    pub(crate) has_clock_snapshot: bool,
    pub(crate) snap_time: u64,
    pub(crate) snap_mono: u64,
    pub(crate) snap_sec: u64,
    pub(crate) snap_nsec: u64,
    pub(crate) strings: DataTable<Box<[u8]>>,
    pub(crate) stacks: DataTable<Box<[u64]>>,
    pub(crate) pcs: HashMap<u64, Frame>,
    pub(crate) exp_batches: BTreeMap<u64, Vec<ExperimentalBatch>>,
    /// The trace format version (the N of `go 1.N trace`; 0 when unknown).
    pub(crate) version: u32,
    /// v1 traces: each goroutine's start stack (its start function), by goroutine id,
    /// from its GoCreate event (Go ≤ 1.21 traces name the start function of goroutines
    /// created before tracing began; the conversion has no event to carry it).
    pub(crate) start_stacks: HashMap<u64, u64>,
}

impl EvTable {
    /// The string for `id` (empty for 0 or unknown ids).
    pub fn string(&self, id: u64) -> &[u8] {
        self.strings.get(id).map(|s| &s[..]).unwrap_or(b"")
    }
    /// The PCs of stack `id` (empty for 0 or unknown ids).
    pub fn stack_pcs(&self, id: u64) -> &[u64] {
        self.stacks.get(id).map(|s| &s[..]).unwrap_or(&[])
    }
    /// Frames of stack `id`, leaf first.
    pub fn frames(&self, id: u64) -> impl Iterator<Item = StackFrame<'_>> {
        self.stack_pcs(id).iter().map(move |pc| {
            let f = self.pcs.get(pc).copied().unwrap_or(Frame {
                pc: *pc,
                func_id: 0,
                file_id: 0,
                line: 0,
            });
            StackFrame {
                pc: f.pc,
                func: self.string(f.func_id),
                file: self.string(f.file_id),
                line: f.line,
            }
        })
    }
    pub(crate) fn mul(&self, t: u64) -> Time {
        mul_freq(self.freq, t)
    }
    /// The trace format version: the N of the header's `go 1.N trace` (11, 19, 21 for
    /// v1 traces converted to v2 events; 22, 23, 25, 26 for v2), 0 when unknown.
    pub fn version(&self) -> u32 {
        self.version
    }
    /// v1 traces only: the start stack of goroutine `g` (one frame, its start function)
    /// from its GoCreate event, also for goroutines created before tracing began.
    pub fn start_stack(&self, g: i64) -> Option<u64> {
        u64::try_from(g)
            .ok()
            .and_then(|g| self.start_stacks.get(&g).copied())
            .filter(|id| *id != 0)
    }
    /// Experimental batches of this generation, by experiment id.
    pub fn experimental_batches(&self) -> &BTreeMap<u64, Vec<ExperimentalBatch>> {
        &self.exp_batches
    }
}

/// Timestamp units to nanoseconds, as Go does it (float multiply, then int64 conversion).
pub(crate) fn mul_freq(freq: f64, t: u64) -> Time {
    crate::goutil::f64_to_i64(t as f64 * freq)
}

/// One resolved stack frame.
#[derive(Debug, Clone, Copy)]
pub struct StackFrame<'a> {
    pub pc: u64,
    pub func: &'a [u8],
    pub file: &'a [u8],
    pub line: u64,
}

/// The scheduling context of an event: which G, P and M it happened on (-1 for none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedCtx {
    pub g: GoId,
    pub p: ProcId,
    pub m: ThreadId,
}

/// The raw event: wire type, resolved time, and up to four arguments (Go's `baseEvent`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BaseEvent {
    pub typ: EventType,
    pub time: Time,
    pub args: [u64; 4],
}

impl BaseEvent {
    /// Index of the first spare argument slot (Go's `extra(version.Go122)`).
    pub fn extra_index(&self) -> usize {
        spec::spec(self.typ).map(|s| s.args.len()).unwrap_or(1) - 1
    }
}

/// The kind of an event (Go's `EventKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Bad,
    Sync,
    Metric,
    Label,
    StackSample,
    RangeBegin,
    RangeActive,
    RangeEnd,
    TaskBegin,
    TaskEnd,
    RegionBegin,
    RegionEnd,
    Log,
    StateTransition,
    Experimental,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Bad => "Bad",
            EventKind::Sync => "Sync",
            EventKind::Metric => "Metric",
            EventKind::Label => "Label",
            EventKind::StackSample => "StackSample",
            EventKind::RangeBegin => "RangeBegin",
            EventKind::RangeActive => "RangeActive",
            EventKind::RangeEnd => "RangeEnd",
            EventKind::TaskBegin => "TaskBegin",
            EventKind::TaskEnd => "TaskEnd",
            EventKind::RegionBegin => "RegionBegin",
            EventKind::RegionEnd => "RegionEnd",
            EventKind::Log => "Log",
            EventKind::StateTransition => "StateTransition",
            EventKind::Experimental => "Experimental",
        }
    }
}

fn kind_of(typ: EventType) -> EventKind {
    use EventKind as K;
    match typ {
        ev::CPU_SAMPLE => K::StackSample,
        ev::PROCS_CHANGE | ev::HEAP_ALLOC | ev::HEAP_GOAL => K::Metric,
        ev::PROC_START
        | ev::PROC_STOP
        | ev::PROC_STEAL
        | ev::PROC_STATUS
        | ev::GO_CREATE
        | ev::GO_CREATE_SYSCALL
        | ev::GO_START
        | ev::GO_DESTROY
        | ev::GO_DESTROY_SYSCALL
        | ev::GO_STOP
        | ev::GO_BLOCK
        | ev::GO_UNBLOCK
        | ev::GO_SYSCALL_BEGIN
        | ev::GO_SYSCALL_END
        | ev::GO_SYSCALL_END_BLOCKED
        | ev::GO_STATUS
        | ev::GO_SWITCH
        | ev::GO_SWITCH_DESTROY
        | ev::GO_CREATE_BLOCKED
        | ev::GO_STATUS_STACK => K::StateTransition,
        ev::STW_BEGIN | ev::GC_BEGIN | ev::GC_SWEEP_BEGIN | ev::GC_MARK_ASSIST_BEGIN => {
            K::RangeBegin
        }
        ev::STW_END | ev::GC_END | ev::GC_SWEEP_END | ev::GC_MARK_ASSIST_END => K::RangeEnd,
        ev::GC_ACTIVE | ev::GC_SWEEP_ACTIVE | ev::GC_MARK_ASSIST_ACTIVE => K::RangeActive,
        ev::GO_LABEL => K::Label,
        ev::USER_TASK_BEGIN => K::TaskBegin,
        ev::USER_TASK_END => K::TaskEnd,
        ev::USER_REGION_BEGIN => K::RegionBegin,
        ev::USER_REGION_END => K::RegionEnd,
        ev::USER_LOG => K::Log,
        ev::SPAN..=ev::GOROUTINE_STACK_FREE => K::Experimental,
        ev::SYNC_EVENT => K::Sync,
        _ => K::Bad,
    }
}

/// Goroutine states as the reader reports them (Go's `GoState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum GoState {
    Undetermined = 0,
    NotExist = 1,
    Runnable = 2,
    Running = 3,
    Waiting = 4,
    Syscall = 5,
    Bad = 6,
}

impl GoState {
    pub fn from_u64(v: u64) -> GoState {
        match v {
            0 => GoState::Undetermined,
            1 => GoState::NotExist,
            2 => GoState::Runnable,
            3 => GoState::Running,
            4 => GoState::Waiting,
            5 => GoState::Syscall,
            _ => GoState::Bad,
        }
    }
    /// The state a wire goroutine status maps to.
    pub(crate) fn from_wire(status: u64) -> GoState {
        match status {
            1 => GoState::Runnable,
            2 => GoState::Running,
            3 => GoState::Syscall,
            4 => GoState::Waiting,
            _ => GoState::Undetermined,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            GoState::Undetermined => "Undetermined",
            GoState::NotExist => "NotExist",
            GoState::Runnable => "Runnable",
            GoState::Running => "Running",
            GoState::Waiting => "Waiting",
            GoState::Syscall => "Syscall",
            GoState::Bad => "Bad",
        }
    }
    /// Running or in a syscall: bound to its thread.
    pub fn executing(self) -> bool {
        matches!(self, GoState::Running | GoState::Syscall)
    }
}

/// Proc states as the reader reports them (Go's `ProcState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ProcState {
    Undetermined = 0,
    NotExist = 1,
    Running = 2,
    Idle = 3,
    Bad = 4,
}

impl ProcState {
    pub fn from_u64(v: u64) -> ProcState {
        match v {
            0 => ProcState::Undetermined,
            1 => ProcState::NotExist,
            2 => ProcState::Running,
            3 => ProcState::Idle,
            _ => ProcState::Bad,
        }
    }
    pub(crate) fn from_wire(status: u64) -> ProcState {
        match status {
            1 | 3 => ProcState::Running,
            2 | 4 => ProcState::Idle,
            _ => ProcState::Undetermined,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            ProcState::Undetermined => "Undetermined",
            ProcState::NotExist => "NotExist",
            ProcState::Running => "Running",
            ProcState::Idle => "Idle",
            ProcState::Bad => "Bad",
        }
    }
}

/// What a state transition, range or label is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    None,
    Goroutine(GoId),
    Proc(ProcId),
    Thread(ThreadId),
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resource::None => write!(f, "None"),
            Resource::Goroutine(id) => write!(f, "Goroutine({id})"),
            Resource::Proc(id) => write!(f, "Proc({id})"),
            Resource::Thread(id) => write!(f, "Thread({id})"),
        }
    }
}

/// A stack attached to an event: `None` is Go's `NoStack`; `Some(0)` is an empty stack
/// that Go still prints a header for.
pub type StackRef = Option<u64>;

/// A goroutine or proc state change.
#[derive(Debug, Clone)]
pub struct StateTransition<'a> {
    pub resource: Resource,
    pub reason: &'a [u8],
    pub stack: StackRef,
    /// Old and new state, `GoState` or `ProcState` by resource.
    pub old: u8,
    pub new: u8,
}

impl StateTransition<'_> {
    pub fn go_states(&self) -> (GoState, GoState) {
        (
            GoState::from_u64(self.old as u64),
            GoState::from_u64(self.new as u64),
        )
    }
    pub fn proc_states(&self) -> (ProcState, ProcState) {
        (
            ProcState::from_u64(self.old as u64),
            ProcState::from_u64(self.new as u64),
        )
    }
}

/// An experimental event: name, experiment name, and (argument name, raw value) pairs.
pub type ExperimentalView = (&'static str, &'static str, Vec<(&'static str, u64)>);

/// A fully interpreted trace event (Go's `trace.Event`).
///
/// It shares its generation's string and stack tables by `Rc`, so it stays on the
/// reader's thread (not `Send`): with `Arc`, the atomic count on every event's creation
/// and drop was ~15% of reading a trace.
#[derive(Debug, Clone)]
pub struct Event {
    pub(crate) table: Option<Rc<EvTable>>,
    pub(crate) ctx: SchedCtx,
    pub(crate) base: BaseEvent,
    /// The task type carried from a task's begin to its end (Go's extra string).
    pub(crate) task_type: Option<Rc<[u8]>>,
}

impl Event {
    /// What a spent slot of the ordering's queue holds.
    pub(crate) fn spent() -> Event {
        Event::sync(None, 0, 0)
    }
    pub(crate) fn new(table: &Rc<EvTable>, ctx: SchedCtx, base: BaseEvent) -> Event {
        Event {
            table: Some(table.clone()),
            ctx,
            base,
            task_type: None,
        }
    }
    pub(crate) fn sync(table: Option<Rc<EvTable>>, time: Time, n: u64) -> Event {
        Event {
            table,
            ctx: SchedCtx {
                g: NO_GOROUTINE,
                p: NO_PROC,
                m: NO_THREAD,
            },
            base: BaseEvent {
                typ: ev::SYNC_EVENT,
                time,
                args: [n, 0, 0, 0],
            },
            task_type: None,
        }
    }

    pub fn kind(&self) -> EventKind {
        kind_of(self.base.typ)
    }
    /// The wire event type this event came from (255 for Sync).
    pub fn wire_type(&self) -> EventType {
        self.base.typ
    }
    pub fn time(&self) -> Time {
        self.base.time
    }
    pub fn goroutine(&self) -> GoId {
        self.ctx.g
    }
    pub fn proc(&self) -> ProcId {
        self.ctx.p
    }
    pub fn thread(&self) -> ThreadId {
        self.ctx.m
    }
    pub fn table(&self) -> Option<&EvTable> {
        self.table.as_deref()
    }
    fn string(&self, id: u64) -> &[u8] {
        self.table.as_deref().map(|t| t.string(id)).unwrap_or(b"")
    }

    /// The stack of the event's own execution context.
    pub fn stack(&self) -> StackRef {
        if self.base.typ == ev::SYNC_EVENT {
            return None;
        }
        if self.base.typ == ev::CPU_SAMPLE {
            return Some(self.base.args[0]);
        }
        let sp = spec::spec(self.base.typ)?;
        let first = *sp.stack_ids.first()?;
        let id = self.base.args[first - 1];
        if id == 0 { None } else { Some(id) }
    }

    /// Frames of a stack reference of this event.
    pub fn frames(&self, stack: StackRef) -> Vec<StackFrame<'_>> {
        match (stack, self.table.as_deref()) {
            (Some(id), Some(t)) => t.frames(id).collect(),
            _ => Vec::new(),
        }
    }

    /// Metric name and value (`/sched/gomaxprocs:threads`, heap bytes, heap goal).
    pub fn metric(&self) -> Option<(&'static str, u64)> {
        let name = match self.base.typ {
            ev::PROCS_CHANGE => "/sched/gomaxprocs:threads",
            ev::HEAP_ALLOC => "/memory/classes/heap/objects:bytes",
            ev::HEAP_GOAL => "/gc/heap/goal:bytes",
            _ => return None,
        };
        Some((name, self.base.args[0]))
    }

    /// Label text and the goroutine it applies to.
    pub fn label(&self) -> Option<(&[u8], Resource)> {
        (self.base.typ == ev::GO_LABEL).then(|| {
            (
                self.string(self.base.args[0]),
                Resource::Goroutine(self.ctx.g),
            )
        })
    }

    /// Range name and scope for RangeBegin/Active/End events.
    pub fn range(&self) -> Option<(Vec<u8>, Resource)> {
        let a = &self.base.args;
        Some(match self.base.typ {
            ev::STW_BEGIN | ev::STW_END => {
                let mut n = b"stop-the-world (".to_vec();
                n.extend_from_slice(self.string(a[0]));
                n.push(b')');
                (n, Resource::Goroutine(self.ctx.g))
            }
            ev::GC_BEGIN | ev::GC_ACTIVE | ev::GC_END => {
                (b"GC concurrent mark phase".to_vec(), Resource::None)
            }
            ev::GC_SWEEP_BEGIN | ev::GC_SWEEP_ACTIVE | ev::GC_SWEEP_END => {
                let id = if self.base.typ == ev::GC_SWEEP_ACTIVE {
                    a[0] as i64
                } else {
                    self.ctx.p
                };
                (b"GC incremental sweep".to_vec(), Resource::Proc(id))
            }
            ev::GC_MARK_ASSIST_BEGIN | ev::GC_MARK_ASSIST_ACTIVE | ev::GC_MARK_ASSIST_END => {
                let id = if self.base.typ == ev::GC_MARK_ASSIST_ACTIVE {
                    a[0] as i64
                } else {
                    self.ctx.g
                };
                (b"GC mark assist".to_vec(), Resource::Goroutine(id))
            }
            _ => return None,
        })
    }

    /// The GC cycle number (counted from the process start) of GCBegin, GCActive and
    /// GCEnd: a trace whose first cycle is 1 began with the process.
    pub fn gc_seq(&self) -> Option<u64> {
        matches!(self.base.typ, ev::GC_BEGIN | ev::GC_ACTIVE | ev::GC_END)
            .then(|| self.base.args[0])
    }

    /// For GCSweepEnd: bytes swept and reclaimed.
    pub fn range_attributes(&self) -> Vec<(&'static str, u64)> {
        if self.base.typ != ev::GC_SWEEP_END {
            return Vec::new();
        }
        vec![
            ("bytes swept", self.base.args[0]),
            ("bytes reclaimed", self.base.args[1]),
        ]
    }

    /// Task id, parent and type for TaskBegin/TaskEnd.
    pub fn task(&self) -> Option<(TaskId, TaskId, &[u8])> {
        let a = &self.base.args;
        match self.base.typ {
            ev::USER_TASK_BEGIN => Some((a[0], a[1], self.string(a[2]))),
            ev::USER_TASK_END => Some((
                a[0],
                a[self.base.extra_index()],
                self.task_type.as_deref().unwrap_or(b""),
            )),
            _ => None,
        }
    }

    /// Task and type for RegionBegin/RegionEnd.
    pub fn region(&self) -> Option<(TaskId, &[u8])> {
        matches!(self.base.typ, ev::USER_REGION_BEGIN | ev::USER_REGION_END)
            .then(|| (self.base.args[0], self.string(self.base.args[1])))
    }

    /// Task, category and message of a Log event.
    pub fn log(&self) -> Option<(TaskId, &[u8], &[u8])> {
        (self.base.typ == ev::USER_LOG).then(|| {
            (
                self.base.args[0],
                self.string(self.base.args[1]),
                self.string(self.base.args[2]),
            )
        })
    }

    /// The state transition of a StateTransition event.
    pub fn state_transition(&self) -> Option<StateTransition<'_>> {
        let a = &self.base.args;
        let go = |id: GoId, from: GoState, to: GoState| StateTransition {
            resource: Resource::Goroutine(id),
            reason: b"",
            stack: None,
            old: from as u8,
            new: to as u8,
        };
        let proc = |id: ProcId, from: ProcState, to: ProcState| StateTransition {
            resource: Resource::Proc(id),
            reason: b"",
            stack: None,
            old: from as u8,
            new: to as u8,
        };
        use GoState as G;
        let g = self.ctx.g;
        Some(match self.base.typ {
            ev::PROC_START => proc(a[0] as i64, ProcState::Idle, ProcState::Running),
            ev::PROC_STOP => proc(self.ctx.p, ProcState::Running, ProcState::Idle),
            ev::PROC_STEAL => {
                let before = if a[self.base.extra_index()] == spec::PROC_SYSCALL_ABANDONED {
                    ProcState::Idle
                } else {
                    ProcState::Running
                };
                proc(a[0] as i64, before, ProcState::Idle)
            }
            ev::PROC_STATUS => proc(
                a[0] as i64,
                ProcState::from_u64(a[self.base.extra_index()]),
                ProcState::from_wire(a[1]),
            ),
            ev::GO_CREATE | ev::GO_CREATE_BLOCKED => {
                let to = if self.base.typ == ev::GO_CREATE_BLOCKED {
                    G::Waiting
                } else {
                    G::Runnable
                };
                let mut s = go(a[0] as i64, G::NotExist, to);
                s.stack = Some(a[1]);
                s
            }
            ev::GO_CREATE_SYSCALL => go(a[0] as i64, G::NotExist, G::Syscall),
            ev::GO_START => go(a[0] as i64, G::Runnable, G::Running),
            ev::GO_DESTROY => go(g, G::Running, G::NotExist),
            ev::GO_DESTROY_SYSCALL => go(g, G::Syscall, G::NotExist),
            ev::GO_STOP | ev::GO_BLOCK => {
                let to = if self.base.typ == ev::GO_STOP {
                    G::Runnable
                } else {
                    G::Waiting
                };
                let mut s = go(g, G::Running, to);
                s.reason = self.string(a[0]);
                s.stack = self.stack();
                s
            }
            ev::GO_UNBLOCK | ev::GO_SWITCH | ev::GO_SWITCH_DESTROY => {
                go(a[0] as i64, G::Waiting, G::Runnable)
            }
            ev::GO_SYSCALL_BEGIN => {
                let mut s = go(g, G::Running, G::Syscall);
                s.stack = self.stack();
                s
            }
            ev::GO_SYSCALL_END => go(g, G::Syscall, G::Running),
            ev::GO_SYSCALL_END_BLOCKED => go(g, G::Syscall, G::Runnable),
            ev::GO_STATUS | ev::GO_STATUS_STACK => {
                let packed = a[2];
                let (from, to) = (packed >> 32, packed & 0xffff_ffff);
                let mut s = go(a[0] as i64, GoState::from_u64(from), GoState::from_wire(to));
                // Keep an out-of-table old state visible as Go would ("Bad").
                s.old = from.min(255) as u8;
                s.stack = self.stack();
                s
            }
            _ => return None,
        })
    }

    /// The sequence number N of a Sync event.
    pub fn sync_n(&self) -> Option<u64> {
        (self.base.typ == ev::SYNC_EVENT).then_some(self.base.args[0])
    }

    /// For Sync events of Go 1.25+ traces: (trace time, monotonic ns, wall sec, wall nsec).
    pub fn clock_snapshot(&self) -> Option<(Time, u64, i64, i64)> {
        let t = self.table.as_deref()?;
        (self.base.typ == ev::SYNC_EVENT && t.has_clock_snapshot).then(|| {
            (
                t.mul(t.snap_time),
                t.snap_mono,
                t.snap_sec as i64,
                t.snap_nsec as i64,
            )
        })
    }

    /// Name, experiment, and (arg name, value) pairs of an experimental event.
    pub fn experimental(&self) -> Option<ExperimentalView> {
        if self.kind() != EventKind::Experimental {
            return None;
        }
        let sp = spec::spec(self.base.typ)?;
        let args = sp.args[1..]
            .iter()
            .zip(self.base.args.iter())
            .map(|(n, v)| (*n, *v))
            .collect();
        let exp = spec::EXPERIMENTS
            .get(sp.experiment as usize)
            .copied()
            .unwrap_or("");
        Some((sp.name, exp, args))
    }

    /// Append Go's `Event.String()` to `out`. One difference by design: a Sync event's
    /// wall clock is formatted in UTC, where Go uses the local time zone (the same bytes
    /// when the zone is UTC, as on the test machines).
    pub fn write_go_string(&self, out: &mut Vec<u8>) {
        let _ = write!(
            out,
            "M={} P={} G={} {} Time={}",
            self.ctx.m,
            self.ctx.p,
            self.ctx.g,
            self.kind().name(),
            self.base.time
        );
        match self.kind() {
            EventKind::Metric => {
                if let Some((name, v)) = self.metric() {
                    out.extend_from_slice(" Name=".as_bytes());
                    quote_into(out, name.as_bytes());
                    let _ = write!(out, " Value=Value{{Uint64({v})}}");
                }
            }
            EventKind::Label => {
                if let Some((l, r)) = self.label() {
                    out.extend_from_slice(" Label=".as_bytes());
                    quote_into(out, l);
                    let _ = write!(out, " Resource={r}");
                }
            }
            k @ (EventKind::RangeBegin | EventKind::RangeActive | EventKind::RangeEnd) => {
                if let Some((name, scope)) = self.range() {
                    out.extend_from_slice(" Name=".as_bytes());
                    quote_into(out, &name);
                    let _ = write!(out, " Scope={scope}");
                }
                if k == EventKind::RangeEnd {
                    out.extend_from_slice(" Attributes=[".as_bytes());
                    for (i, (n, v)) in self.range_attributes().into_iter().enumerate() {
                        if i != 0 {
                            out.push(b' ');
                        }
                        quote_into(out, n.as_bytes());
                        let _ = write!(out, "=Value{{Uint64({v})}}");
                    }
                    out.push(b']');
                }
            }
            EventKind::TaskBegin | EventKind::TaskEnd => {
                if let Some((id, parent, typ)) = self.task() {
                    let _ = write!(out, " ID={id} Parent={parent} Type=");
                    quote_into(out, typ);
                }
            }
            EventKind::RegionBegin | EventKind::RegionEnd => {
                if let Some((task, typ)) = self.region() {
                    let _ = write!(out, " Task={task} Type=");
                    quote_into(out, typ);
                }
            }
            EventKind::Log => {
                if let Some((task, cat, msg)) = self.log() {
                    let _ = write!(out, " Task={task} Category=");
                    quote_into(out, cat);
                    out.extend_from_slice(" Message=".as_bytes());
                    quote_into(out, msg);
                }
            }
            EventKind::StateTransition => {
                if let Some(s) = self.state_transition() {
                    match s.resource {
                        Resource::Goroutine(id) => {
                            let (o, n) = s.go_states();
                            let _ = write!(out, " GoID={id} {}->{}", o.name(), n.name());
                        }
                        Resource::Proc(id) => {
                            let (o, n) = s.proc_states();
                            let _ = write!(out, " ProcID={id} {}->{}", o.name(), n.name());
                        }
                        _ => {}
                    }
                    out.extend_from_slice(" Reason=".as_bytes());
                    quote_into(out, s.reason);
                    if s.stack.is_some() {
                        out.extend_from_slice("\nTransitionStack=\n".as_bytes());
                        self.write_stack(out, s.stack);
                    }
                }
            }
            EventKind::Experimental => {
                if let Some((name, _, args)) = self.experimental() {
                    let _ = write!(out, " Name={name} Args=[");
                    for (i, (n, v)) in args.iter().enumerate() {
                        if i != 0 {
                            out.extend_from_slice(", ".as_bytes());
                        }
                        if n.ends_with("string") {
                            let _ = write!(out, "{n}=");
                            out.extend_from_slice(self.string(*v));
                        } else {
                            let _ = write!(out, "{n}=Value{{Uint64({v})}}");
                        }
                    }
                    out.push(b']');
                }
            }
            EventKind::Sync => {
                let _ = write!(out, " N={}", self.base.args[0]);
                if let Some((trace, mono, sec, nsec)) = self.clock_snapshot() {
                    let _ = write!(
                        out,
                        " Trace={trace} Mono={mono} Wall={}",
                        rfc3339_nano_utc(sec, nsec)
                    );
                }
            }
            EventKind::StackSample | EventKind::Bad => {}
        }
        let stk = self.stack();
        if stk.is_some() {
            out.extend_from_slice("\nStack=\n".as_bytes());
            self.write_stack(out, stk);
        }
    }

    fn write_stack(&self, out: &mut Vec<u8>, stack: StackRef) {
        for f in self.frames(stack) {
            out.push(b'\t');
            out.extend_from_slice(f.func);
            let _ = writeln!(out, " @ {:#x}", f.pc);
            out.extend_from_slice("\t\t".as_bytes());
            out.extend_from_slice(f.file);
            let _ = writeln!(out, ":{}", f.line);
        }
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = Vec::new();
        self.write_go_string(&mut s);
        f.write_str(&String::from_utf8_lossy(&s))
    }
}

/// Go's `%q` of bytes, appended to a byte buffer.
fn quote_into(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(crate::goutil::quote(b).as_bytes());
}
