//! The partial-order reconstruction and state validation of Go's
//! `internal/trace/order.go`: emulates G/P/M state to decide whether the next event of
//! a thread may advance, and queues the resulting events.

use crate::event::{
    BACKGROUND_TASK, BaseEvent, EvTable, Event, GoId, GoState, NO_GOROUTINE, NO_PROC, NO_TASK,
    NO_THREAD, ProcId, ProcState, SchedCtx, TaskId, ThreadId,
};
use crate::goutil::FxHashMap as HashMap;
use crate::spec::{self, EventType, Version, ev, go_status_name, proc_status_name};
use std::rc::Rc;

type Res = Result<(SchedCtx, bool), String>;

/// Lazily formatted event name (Go's `Version.EventName`).
#[derive(Clone, Copy)]
struct EvName(Version, EventType);

impl std::fmt::Display for EvName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.event_name(self.1))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seq {
    gen_no: u64,
    seq: u64,
}

impl Seq {
    fn new(gen_no: u64, seq: u64) -> Seq {
        Seq { gen_no, seq }
    }
    /// True if `self` immediately follows `b`.
    fn succeeds(self, b: Seq) -> bool {
        self.gen_no == b.gen_no && self.seq == b.seq.wrapping_add(1)
    }
}

impl std::fmt::Display for Seq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (gen={})", self.seq, self.gen_no)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RangeType {
    typ: EventType,
    desc: u64,
}

fn make_range_type(typ: EventType, desc: u64) -> RangeType {
    let st = spec::spec(typ).map(|s| s.start_ev).unwrap_or(ev::NONE);
    RangeType {
        typ: if st != ev::NONE { st } else { typ },
        desc,
    }
}

fn range_name(typ: EventType) -> &'static str {
    spec::spec(typ).map(|s| s.name).unwrap_or("")
}

fn fmt_ranges(r: &[RangeType]) -> String {
    let v: Vec<String> = r
        .iter()
        .map(|r| format!("{{{} {}}}", r.typ, r.desc))
        .collect();
    format!("[{}]", v.join(" "))
}

#[derive(Debug, Default)]
struct RangeState {
    in_flight: Vec<RangeType>,
}

impl RangeState {
    fn begin_range(&mut self, typ: RangeType) -> Result<(), String> {
        if self.in_flight.contains(&typ) {
            return Err(format!(
                "discovered event already in-flight for when starting event {}",
                range_name(typ.typ)
            ));
        }
        self.in_flight.push(typ);
        Ok(())
    }
    fn active_range(&mut self, typ: RangeType, initial_gen: bool) -> Result<(), String> {
        if initial_gen {
            if self.in_flight.contains(&typ) {
                return Err(format!(
                    "found named active range already in first gen: {{{} {}}}",
                    typ.typ, typ.desc
                ));
            }
            self.in_flight.push(typ);
        } else if !self.in_flight.contains(&typ) {
            return Err(format!(
                "resource is missing active range: {} {}",
                range_name(typ.typ),
                fmt_ranges(&self.in_flight)
            ));
        }
        Ok(())
    }
    fn end_range(&mut self, typ: EventType) -> Result<u64, String> {
        let st = spec::spec(typ).map(|s| s.start_ev).unwrap_or(ev::NONE);
        let Some(idx) = self.in_flight.iter().position(|r| r.typ == st) else {
            return Err(format!(
                "tried to end event {}, but not in-flight",
                range_name(st)
            ));
        };
        Ok(self.in_flight.swap_remove(idx).desc)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct UserRegion {
    task: TaskId,
    name: Box<[u8]>,
}

#[derive(Debug)]
struct GState {
    id: GoId,
    status: u64,
    seq: Seq,
    regions: Vec<UserRegion>,
    ranges: RangeState,
}

impl GState {
    fn new(id: GoId, status: u64, seq: Seq) -> GState {
        GState {
            id,
            status,
            seq,
            regions: Vec::new(),
            ranges: RangeState::default(),
        }
    }
}

#[derive(Debug)]
struct PState {
    status: u64,
    seq: Seq,
    ranges: RangeState,
}

#[derive(Debug, Clone, Copy)]
struct MState {
    g: GoId,
    p: ProcId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GcState {
    Undetermined,
    NotRunning,
    Running,
}

struct TaskState {
    name: Rc<[u8]>,
    parent: TaskId,
}

#[derive(Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // Go's names: mustNotHave, mayHave, mustHave.
enum C {
    MustNotHave,
    MayHave,
    MustHave,
}

struct Reqs {
    m: C,
    p: C,
    g: C,
}

const USER_GO_REQS: Reqs = Reqs {
    m: C::MustHave,
    p: C::MustHave,
    g: C::MustHave,
};

fn validate_ctx(ctx: SchedCtx, r: Reqs) -> Result<(), String> {
    if r.m == C::MustHave && ctx.m == NO_THREAD {
        return Err("expected a thread but didn't have one".into());
    } else if r.m == C::MustNotHave && ctx.m != NO_THREAD {
        return Err("expected no thread but had one".into());
    }
    if r.p == C::MustHave && ctx.p == NO_PROC {
        return Err("expected a proc but didn't have one".into());
    } else if r.p == C::MustNotHave && ctx.p != NO_PROC {
        return Err("expected no proc but had one".into());
    }
    if r.g == C::MustHave && ctx.g == NO_GOROUTINE {
        return Err("expected a goroutine but didn't have one".into());
    } else if r.g == C::MustNotHave && ctx.g != NO_GOROUTINE {
        return Err("expected no goroutine but had one".into());
    }
    Ok(())
}

/// Scheduler state emulation for validation and ordering.
pub(crate) struct Ordering {
    ver: Version,
    g_states: HashMap<GoId, GState>,
    p_states: HashMap<ProcId, PState>,
    /// Thread states: `m_index` maps a thread to its slot in `m_states`. Threads are
    /// never removed, so slots are stable and the last one used is cached (consecutive
    /// events mostly come from the same thread).
    m_index: HashMap<ThreadId, usize>,
    m_states: Vec<MState>,
    m_last: (ThreadId, usize),
    active_tasks: HashMap<TaskId, TaskState>,
    gc_seq: u64,
    gc_state: GcState,
    initial_gen: u64,
    pub(crate) queue: EventQueue,
}

/// The events the ordering has produced and the reader has not yet handed out, in
/// order: usually one, a few after an event that implies others.
///
/// Events are written field by field into slots that stay allocated, and lent from
/// there ([`crate::Reader::next_event`]). A `VecDeque` took each event as a value built
/// on the stack and copied it in 16-byte pieces, and loading pieces that span fields
/// just stored one by one stalls on store forwarding: that copy was ~15% of a read.
#[derive(Default)]
pub(crate) struct EventQueue {
    /// `slots[head..head + len]` are queued; the others hold spent events (no table).
    slots: Vec<Event>,
    head: usize,
    len: usize,
}

impl EventQueue {
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The free slot after the last queued event.
    #[inline]
    fn free_slot(&mut self) -> &mut Event {
        if self.head + self.len == self.slots.len() {
            if self.head > 0 {
                // Spent slots move behind the queued ones.
                self.slots.rotate_left(self.head);
                self.head = 0;
            } else {
                self.slots.push(Event::spent());
            }
        }
        let i = self.head + self.len;
        self.len += 1;
        &mut self.slots[i]
    }

    /// Queues the event of `base` in context `ctx`, written in place.
    #[inline]
    pub(crate) fn push_fields(&mut self, table: &Rc<EvTable>, ctx: SchedCtx, base: &BaseEvent) {
        let slot = self.free_slot();
        // A slot keeps its last table: most events reuse it without touching the count.
        if !slot.table.as_ref().is_some_and(|t| Rc::ptr_eq(t, table)) {
            slot.table = Some(table.clone());
        }
        slot.ctx = ctx;
        slot.base = *base;
        slot.task_type = None;
    }

    pub(crate) fn push_back(&mut self, e: Event) {
        *self.free_slot() = e;
    }

    pub(crate) fn front(&self) -> Option<&Event> {
        (self.len > 0).then(|| &self.slots[self.head])
    }

    pub(crate) fn front_mut(&mut self) -> Option<&mut Event> {
        (self.len > 0).then(|| &mut self.slots[self.head])
    }

    /// Takes the first event out (its slot is left spent).
    pub(crate) fn pop_front(&mut self) -> Option<Event> {
        if self.len == 0 {
            return None;
        }
        let e = std::mem::replace(&mut self.slots[self.head], Event::spent());
        self.advance_head();
        Some(e)
    }

    /// Drops the first event where it lies (after it was lent).
    pub(crate) fn drop_front(&mut self) {
        if self.len == 0 {
            return;
        }
        // The slot keeps its table for the next event written there (a spent slot holds
        // at most one generation's tables alive, until the next generation's first
        // event in that slot).
        self.slots[self.head].task_type = None;
        self.advance_head();
    }

    fn advance_head(&mut self) {
        self.head += 1;
        self.len -= 1;
        if self.len == 0 {
            self.head = 0;
        }
    }

    pub(crate) fn clear(&mut self) {
        while self.len > 0 {
            self.drop_front();
        }
    }
}

impl Ordering {
    pub(crate) fn new(ver: Version) -> Ordering {
        Ordering {
            ver,
            g_states: HashMap::default(),
            p_states: HashMap::default(),
            m_index: HashMap::default(),
            m_states: Vec::new(),
            m_last: (NO_THREAD, 0),
            active_tasks: HashMap::default(),
            gc_seq: 0,
            gc_state: GcState::Undetermined,
            initial_gen: 0,
            queue: EventQueue::default(),
        }
    }

    /// Live goroutines, procs and threads (for memory accounting and summaries).
    pub(crate) fn live_counts(&self) -> (usize, usize, usize) {
        (self.g_states.len(), self.p_states.len(), self.m_index.len())
    }

    /// The event's name for messages, formatted only if an error is built.
    fn ev_name(&self, typ: EventType) -> EvName {
        EvName(self.ver, typ)
    }

    fn push(&mut self, evt: &Rc<EvTable>, ctx: SchedCtx, base: BaseEvent) {
        self.queue.push_fields(evt, ctx, &base);
    }

    /// Try to advance `ev` from thread `m`; `Ok(false)` means "not yet".
    pub(crate) fn advance(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        m: ThreadId,
        gen_no: u64,
    ) -> Result<bool, String> {
        if self.initial_gen == 0 {
            self.initial_gen = gen_no;
        }
        let mut cur = SchedCtx {
            g: NO_GOROUTINE,
            p: NO_PROC,
            m,
        };
        let mut m_slot = usize::MAX;
        if m != NO_THREAD {
            m_slot = self.m_slot_or_insert(m);
            let ms = &self.m_states[m_slot];
            cur.p = ms.p;
            cur.g = ms.g;
        }
        let r = match ev.typ {
            ev::PROCS_CHANGE | ev::GO_LABEL | ev::USER_LOG => self.advance_annotation(ev, evt, cur),
            ev::PROC_START => self.advance_proc_start(ev, evt, gen_no, cur),
            ev::PROC_STOP => self.advance_proc_stop(ev, evt, cur),
            ev::PROC_STEAL => self.advance_proc_steal(ev, evt, gen_no, cur),
            ev::PROC_STATUS => self.advance_proc_status(ev, evt, gen_no, cur),
            ev::GO_CREATE | ev::GO_CREATE_BLOCKED => self.advance_go_create(ev, evt, gen_no, cur),
            ev::GO_CREATE_SYSCALL => self.advance_go_create_syscall(ev, evt, gen_no, cur),
            ev::GO_START => self.advance_go_start(ev, evt, gen_no, cur),
            ev::GO_DESTROY | ev::GO_STOP | ev::GO_BLOCK => self.advance_go_stop_exec(ev, evt, cur),
            ev::GO_DESTROY_SYSCALL => self.advance_go_destroy_syscall(ev, evt, cur),
            ev::GO_UNBLOCK => self.advance_go_unblock(ev, evt, gen_no, cur),
            ev::GO_SYSCALL_BEGIN => self.advance_go_syscall_begin(ev, evt, gen_no, cur),
            ev::GO_SYSCALL_END => self.advance_go_syscall_end(ev, evt, cur),
            ev::GO_SYSCALL_END_BLOCKED => self.advance_go_syscall_end_blocked(ev, evt, cur),
            ev::GO_STATUS | ev::GO_STATUS_STACK => self.advance_go_status(ev, evt, gen_no, cur),
            ev::STW_BEGIN | ev::GC_MARK_ASSIST_BEGIN => self.advance_go_range_begin(ev, evt, cur),
            ev::STW_END | ev::GC_MARK_ASSIST_END => self.advance_go_range_end(ev, evt, cur),
            ev::GC_ACTIVE => self.advance_gc_active(ev, evt, gen_no, cur),
            ev::GC_BEGIN => self.advance_gc_begin(ev, evt, cur),
            ev::GC_END => self.advance_gc_end(ev, evt, cur),
            ev::GC_SWEEP_ACTIVE => self.advance_gc_sweep_active(ev, evt, gen_no, cur),
            ev::GC_SWEEP_BEGIN => self.advance_gc_sweep_begin(ev, evt, cur),
            ev::GC_SWEEP_END => self.advance_gc_sweep_end(ev, evt, cur),
            ev::GC_MARK_ASSIST_ACTIVE => self.advance_go_range_active(ev, evt, gen_no, cur),
            ev::HEAP_ALLOC | ev::HEAP_GOAL => self.advance_heap_metric(ev, evt, cur),
            ev::USER_TASK_BEGIN => self.advance_user_task_begin(ev, evt, cur),
            ev::USER_TASK_END => self.advance_user_task_end(ev, evt, cur),
            ev::USER_REGION_BEGIN => self.advance_user_region_begin(ev, evt, cur),
            ev::USER_REGION_END => self.advance_user_region_end(ev, evt, cur),
            ev::GO_SWITCH | ev::GO_SWITCH_DESTROY => self.advance_go_switch(ev, evt, gen_no, cur),
            ev::SPAN..=ev::GOROUTINE_STACK_FREE => self.advance_alloc_free(ev, evt, cur),
            t => return Err(format!("bad event type found while ordering: {t}")),
        };
        let (new_ctx, ok) = r?;
        if ok && m != NO_THREAD {
            // Go updates the mState pointer it fetched before dispatch; an M created by
            // a GoStatus for another thread does not affect this one.
            let ms = &mut self.m_states[m_slot];
            ms.p = new_ctx.p;
            ms.g = new_ctx.g;
        }
        Ok(ok)
    }

    /// The slot of thread `m`, created (no G, no P) if new: Go's `mStates[m]` lookup
    /// with its insert of a fresh state.
    fn m_slot_or_insert(&mut self, m: ThreadId) -> usize {
        if self.m_last.0 == m {
            return self.m_last.1;
        }
        let next = self.m_states.len();
        let slot = *self.m_index.entry(m).or_insert(next);
        if slot == next {
            self.m_states.push(MState {
                g: NO_GOROUTINE,
                p: NO_PROC,
            });
        }
        self.m_last = (m, slot);
        slot
    }

    fn m_state_mut(&mut self, m: ThreadId) -> Option<&mut MState> {
        let slot = *self.m_index.get(&m)?;
        Some(&mut self.m_states[slot])
    }

    fn advance_proc_status(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        gen_no: u64,
        mut cur: SchedCtx,
    ) -> Res {
        let pid = ev.args[0] as i64;
        let status = ev.args[1];
        if status >= 5 {
            return Err(format!("invalid status for proc {pid}: {status}"));
        }
        let mut old = ProcState::from_wire(status);
        let initial = self.initial_gen;
        if let Some(s) = self.p_states.get_mut(&pid) {
            if status == spec::PROC_SYSCALL_ABANDONED && s.status == spec::PROC_SYSCALL {
                old = ProcState::Running;
                ev.args[1] = spec::PROC_SYSCALL;
            } else if status == spec::PROC_SYSCALL_ABANDONED
                && s.status == spec::PROC_SYSCALL_ABANDONED
            {
                old = ProcState::Idle;
                ev.args[1] = spec::PROC_SYSCALL_ABANDONED;
            } else if s.status != status {
                return Err(format!(
                    "inconsistent status for proc {pid}: old {} vs. new {}",
                    proc_status_name(s.status),
                    proc_status_name(status)
                ));
            }
            s.seq = Seq::new(gen_no, 0);
        } else {
            self.p_states.insert(
                pid,
                PState {
                    status,
                    seq: Seq::new(gen_no, 0),
                    ranges: RangeState::default(),
                },
            );
            old = if gen_no == initial {
                ProcState::Undetermined
            } else {
                ProcState::NotExist
            };
        }
        let xi = ev.extra_index();
        ev.args[xi] = old as u64;
        let mut new_ctx = cur;
        if status == spec::PROC_RUNNING || status == spec::PROC_SYSCALL {
            new_ctx.p = pid;
        }
        if status == spec::PROC_SYSCALL_ABANDONED && old == ProcState::Running {
            let mut found = false;
            // Go iterates a map here; with consistent state at most one M holds the P.
            let mut ms: Vec<_> = self
                .m_index
                .iter()
                .map(|(m, &i)| (m, &self.m_states[i]))
                .filter(|(_, s)| s.p == pid)
                .collect();
            ms.sort_by_key(|(m, _)| **m);
            for (mid, s) in ms {
                cur.m = *mid;
                cur.p = pid;
                cur.g = s.g;
                found = true;
            }
            if !found {
                return Err(format!(
                    "failed to find sched context for proc {pid} that's about to be stolen"
                ));
            }
        }
        self.push(evt, cur, *ev);
        Ok((new_ctx, true))
    }

    fn advance_proc_start(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        gen_no: u64,
        cur: SchedCtx,
    ) -> Res {
        let pid = ev.args[0] as i64;
        let seq = Seq::new(gen_no, ev.args[1]);
        let Some(state) = self.p_states.get_mut(&pid) else {
            return Ok((cur, false));
        };
        if state.status != spec::PROC_IDLE || !seq.succeeds(state.seq) || cur.p != NO_PROC {
            return Ok((cur, false));
        }
        validate_ctx(
            cur,
            Reqs {
                m: C::MustHave,
                p: C::MustNotHave,
                g: C::MayHave,
            },
        )?;
        state.status = spec::PROC_RUNNING;
        state.seq = seq;
        let mut new_ctx = cur;
        new_ctx.p = pid;
        self.push(evt, cur, *ev);
        Ok((new_ctx, true))
    }

    fn advance_proc_stop(&mut self, ev: &mut BaseEvent, evt: &Rc<EvTable>, cur: SchedCtx) -> Res {
        let name = self.ev_name(ev.typ);
        let Some(state) = self.p_states.get_mut(&cur.p) else {
            return Err(format!(
                "event {name} for proc ({}) that doesn't exist",
                cur.p
            ));
        };
        if state.status != spec::PROC_RUNNING && state.status != spec::PROC_SYSCALL {
            return Err(format!(
                "{name} event for proc that's not Running or Syscall"
            ));
        }
        validate_ctx(
            cur,
            Reqs {
                m: C::MustHave,
                p: C::MustHave,
                g: C::MayHave,
            },
        )?;
        state.status = spec::PROC_IDLE;
        let mut new_ctx = cur;
        new_ctx.p = NO_PROC;
        self.push(evt, cur, *ev);
        Ok((new_ctx, true))
    }

    fn advance_proc_steal(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        gen_no: u64,
        cur: SchedCtx,
    ) -> Res {
        let pid = ev.args[0] as i64;
        let seq = Seq::new(gen_no, ev.args[1]);
        let Some(state) = self.p_states.get_mut(&pid) else {
            return Ok((cur, false));
        };
        if (state.status != spec::PROC_SYSCALL && state.status != spec::PROC_SYSCALL_ABANDONED)
            || !seq.succeeds(state.seq)
        {
            return Ok((cur, false));
        }
        validate_ctx(
            cur,
            Reqs {
                m: C::MustHave,
                p: C::MayHave,
                g: C::MayHave,
            },
        )?;
        let old_status = state.status;
        let xi = ev.extra_index();
        ev.args[xi] = old_status;
        state.status = spec::PROC_IDLE;
        state.seq = seq;
        if old_status == spec::PROC_SYSCALL_ABANDONED {
            self.push(evt, cur, *ev);
            return Ok((cur, true));
        }
        let mid = ev.args[2] as i64;
        let mut new_ctx = cur;
        if mid == cur.m {
            if cur.p != pid {
                return Err(format!(
                    "tried to self-steal proc {pid} (thread {mid}), but got proc {} instead",
                    cur.p
                ));
            }
            new_ctx.p = NO_PROC;
            self.push(evt, cur, *ev);
            return Ok((new_ctx, true));
        }
        let Some(ms) = self.m_state_mut(mid) else {
            return Err(format!("stole proc from non-existent thread {mid}"));
        };
        if ms.p != pid {
            return Err(format!(
                "tried to steal proc {pid} from thread {mid}, but got proc {} instead",
                ms.p
            ));
        }
        ms.p = NO_PROC;
        self.push(evt, cur, *ev);
        Ok((new_ctx, true))
    }

    fn advance_go_status(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        gen_no: u64,
        mut cur: SchedCtx,
    ) -> Res {
        let gid = ev.args[0] as i64;
        let mid = ev.args[1] as i64;
        let status = ev.args[2];
        if status >= 5 {
            return Err(format!("invalid status for goroutine {gid}: {status}"));
        }
        let mut old = GoState::from_wire(status);
        if let Some(s) = self.g_states.get_mut(&gid) {
            if s.status != status {
                return Err(format!(
                    "inconsistent status for goroutine {gid}: old {} vs. new {}",
                    go_status_name(s.status),
                    go_status_name(status)
                ));
            }
            s.seq = Seq::new(gen_no, 0);
        } else if gen_no == self.initial_gen {
            self.g_states
                .insert(gid, GState::new(gid, status, Seq::new(gen_no, 0)));
            old = GoState::Undetermined;
        } else {
            return Err(format!(
                "found goroutine status for new goroutine after the first generation: id={gid} status={}",
                go_status_name(status)
            ));
        }
        ev.args[2] = ((old as u64) << 32) | status;
        let mut new_ctx = cur;
        match status {
            spec::GO_RUNNING => new_ctx.g = gid,
            spec::GO_SYSCALL => {
                if mid == NO_THREAD {
                    return Err(format!("found goroutine {gid} in syscall without a thread"));
                }
                if mid == cur.m {
                    if gen_no != self.initial_gen && cur.g != gid {
                        return Err(format!(
                            "inconsistent thread for syscalling goroutine {gid}: thread has goroutine {}",
                            cur.g
                        ));
                    }
                    new_ctx.g = gid;
                } else {
                    if let Some(ms) = self.m_state_mut(mid) {
                        if ms.g != gid {
                            return Err(format!(
                                "inconsistent thread for syscalling goroutine {gid}: thread has goroutine {}",
                                ms.g
                            ));
                        }
                        cur.g = ms.g;
                    } else {
                        let slot = self.m_slot_or_insert(mid);
                        self.m_states[slot] = MState { g: gid, p: NO_PROC };
                    }
                    cur.m = mid;
                }
            }
            _ => {}
        }
        self.push(evt, cur, *ev);
        Ok((new_ctx, true))
    }

    fn advance_go_create(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        gen_no: u64,
        cur: SchedCtx,
    ) -> Res {
        validate_ctx(
            cur,
            Reqs {
                m: C::MustHave,
                p: C::MustHave,
                g: C::MayHave,
            },
        )?;
        if let Some(s) = self.g_states.get(&cur.g)
            && s.status != spec::GO_RUNNING
        {
            return Err(format!(
                "{} event for goroutine that's not Running",
                self.ev_name(ev.typ)
            ));
        }
        let newg = ev.args[0] as i64;
        if self.g_states.contains_key(&newg) {
            return Err(format!(
                "tried to create goroutine ({newg}) that already exists"
            ));
        }
        let status = if ev.typ == ev::GO_CREATE_BLOCKED {
            spec::GO_WAITING
        } else {
            spec::GO_RUNNABLE
        };
        self.g_states
            .insert(newg, GState::new(newg, status, Seq::new(gen_no, 0)));
        self.push(evt, cur, *ev);
        Ok((cur, true))
    }

    fn running_g(&mut self, typ: EventType, g: GoId, want: u64) -> Result<&mut GState, String> {
        let name = self.ev_name(typ);
        let Some(s) = self.g_states.get_mut(&g) else {
            return Err(format!(
                "event {name} for goroutine ({g}) that doesn't exist"
            ));
        };
        if s.status != want {
            // Go names Running here even when it wanted Syscall.
            return Err(format!("{name} event for goroutine that's not Running"));
        }
        Ok(s)
    }

    fn advance_go_stop_exec(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        cur: SchedCtx,
    ) -> Res {
        validate_ctx(cur, USER_GO_REQS)?;
        let state = self.running_g(ev.typ, cur.g, spec::GO_RUNNING)?;
        let mut new_ctx = cur;
        match ev.typ {
            ev::GO_DESTROY => {
                self.g_states.remove(&cur.g);
                new_ctx.g = NO_GOROUTINE;
            }
            ev::GO_STOP => {
                state.status = spec::GO_RUNNABLE;
                new_ctx.g = NO_GOROUTINE;
            }
            _ => {
                state.status = spec::GO_WAITING;
                new_ctx.g = NO_GOROUTINE;
            }
        }
        self.push(evt, cur, *ev);
        Ok((new_ctx, true))
    }

    fn advance_go_start(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        gen_no: u64,
        cur: SchedCtx,
    ) -> Res {
        let gid = ev.args[0] as i64;
        let seq = Seq::new(gen_no, ev.args[1]);
        let Some(state) = self.g_states.get_mut(&gid) else {
            return Ok((cur, false));
        };
        if state.status != spec::GO_RUNNABLE || !seq.succeeds(state.seq) {
            return Ok((cur, false));
        }
        validate_ctx(
            cur,
            Reqs {
                m: C::MustHave,
                p: C::MustHave,
                g: C::MustNotHave,
            },
        )?;
        state.status = spec::GO_RUNNING;
        state.seq = seq;
        let mut new_ctx = cur;
        new_ctx.g = gid;
        self.push(evt, cur, *ev);
        Ok((new_ctx, true))
    }

    fn advance_go_unblock(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        gen_no: u64,
        cur: SchedCtx,
    ) -> Res {
        let gid = ev.args[0] as i64;
        let seq = Seq::new(gen_no, ev.args[1]);
        let Some(state) = self.g_states.get_mut(&gid) else {
            return Ok((cur, false));
        };
        if state.status != spec::GO_WAITING || !seq.succeeds(state.seq) {
            return Ok((cur, false));
        }
        state.status = spec::GO_RUNNABLE;
        state.seq = seq;
        self.push(evt, cur, *ev);
        Ok((cur, true))
    }

    fn advance_go_switch(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        gen_no: u64,
        cur: SchedCtx,
    ) -> Res {
        validate_ctx(cur, USER_GO_REQS)?;
        self.running_g(ev.typ, cur.g, spec::GO_RUNNING)?;
        let nextg = ev.args[0] as i64;
        let seq = Seq::new(gen_no, ev.args[1]);
        match self.g_states.get(&nextg) {
            Some(s) if s.status == spec::GO_WAITING && seq.succeeds(s.seq) => {}
            _ => return Ok((cur, false)),
        }
        self.push(evt, cur, *ev);
        match ev.typ {
            ev::GO_SWITCH => {
                if let Some(s) = self.g_states.get_mut(&cur.g) {
                    s.status = spec::GO_WAITING;
                }
                let base = BaseEvent {
                    typ: ev::GO_BLOCK,
                    time: ev.time,
                    args: [0; 4],
                };
                self.push(evt, cur, base);
            }
            _ => {
                self.g_states.remove(&cur.g);
                let base = BaseEvent {
                    typ: ev::GO_DESTROY,
                    time: ev.time,
                    args: [0; 4],
                };
                self.push(evt, cur, base);
            }
        }
        if let Some(s) = self.g_states.get_mut(&nextg) {
            s.status = spec::GO_RUNNING;
            s.seq = seq;
        }
        let mut new_ctx = cur;
        new_ctx.g = nextg;
        let mut start_ctx = cur;
        start_ctx.g = NO_GOROUTINE;
        let base = BaseEvent {
            typ: ev::GO_START,
            time: ev.time,
            args: [nextg as u64, ev.args[1], 0, 0],
        };
        self.push(evt, start_ctx, base);
        Ok((new_ctx, true))
    }

    fn advance_go_syscall_begin(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        gen_no: u64,
        cur: SchedCtx,
    ) -> Res {
        validate_ctx(cur, USER_GO_REQS)?;
        let name = self.ev_name(ev.typ);
        let state = self.running_g(ev.typ, cur.g, spec::GO_RUNNING)?;
        state.status = spec::GO_SYSCALL;
        let Some(ps) = self.p_states.get_mut(&cur.p) else {
            return Err(format!("uninitialized proc {} found during {name}", cur.p));
        };
        ps.status = spec::PROC_SYSCALL;
        let pseq = Seq::new(gen_no, ev.args[0]);
        if !pseq.succeeds(ps.seq) {
            return Err(format!(
                "failed to advance {name}: can't make sequence: {} -> {pseq}",
                ps.seq
            ));
        }
        ps.seq = pseq;
        self.push(evt, cur, *ev);
        Ok((cur, true))
    }

    fn advance_go_syscall_end(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        cur: SchedCtx,
    ) -> Res {
        validate_ctx(cur, USER_GO_REQS)?;
        let name = self.ev_name(ev.typ);
        let state = self.running_g(ev.typ, cur.g, spec::GO_SYSCALL)?;
        state.status = spec::GO_RUNNING;
        let Some(ps) = self.p_states.get_mut(&cur.p) else {
            return Err(format!("uninitialized proc {} found during {name}", cur.p));
        };
        if ps.status != spec::PROC_SYSCALL {
            return Err(format!(
                "expected proc {} in state Syscall, but got {} instead",
                cur.p,
                proc_status_name(ps.status)
            ));
        }
        ps.status = spec::PROC_RUNNING;
        self.push(evt, cur, *ev);
        Ok((cur, true))
    }

    fn advance_go_syscall_end_blocked(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        cur: SchedCtx,
    ) -> Res {
        if cur.p != NO_PROC {
            let Some(ps) = self.p_states.get(&cur.p) else {
                return Err(format!(
                    "uninitialized proc {} found during {}",
                    cur.p,
                    self.ev_name(ev.typ)
                ));
            };
            if ps.status == spec::PROC_SYSCALL {
                return Ok((cur, false));
            }
        }
        validate_ctx(
            cur,
            Reqs {
                m: C::MustHave,
                p: C::MayHave,
                g: C::MustHave,
            },
        )?;
        let state = self.running_g(ev.typ, cur.g, spec::GO_SYSCALL)?;
        state.status = spec::GO_RUNNABLE;
        let mut new_ctx = cur;
        new_ctx.g = NO_GOROUTINE;
        self.push(evt, cur, *ev);
        Ok((new_ctx, true))
    }

    fn advance_go_create_syscall(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        gen_no: u64,
        cur: SchedCtx,
    ) -> Res {
        validate_ctx(
            cur,
            Reqs {
                m: C::MustHave,
                p: C::MayHave,
                g: C::MustNotHave,
            },
        )?;
        let newg = ev.args[0] as i64;
        if self.g_states.contains_key(&newg) {
            return Err(format!(
                "tried to create goroutine ({newg}) in syscall that already exists"
            ));
        }
        self.g_states.insert(
            newg,
            GState::new(newg, spec::GO_SYSCALL, Seq::new(gen_no, 0)),
        );
        let mut new_ctx = cur;
        new_ctx.g = newg;
        self.push(evt, cur, *ev);
        Ok((new_ctx, true))
    }

    fn advance_go_destroy_syscall(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        cur: SchedCtx,
    ) -> Res {
        validate_ctx(
            cur,
            Reqs {
                m: C::MustHave,
                p: C::MayHave,
                g: C::MustHave,
            },
        )?;
        let name = self.ev_name(ev.typ);
        let Some(state) = self.g_states.get(&cur.g) else {
            return Err(format!(
                "event {name} for goroutine ({}) that doesn't exist",
                cur.g
            ));
        };
        if state.status != spec::GO_SYSCALL {
            return Err(format!("{name} event for goroutine that's not Syscall"));
        }
        self.g_states.remove(&cur.g);
        let mut new_ctx = cur;
        new_ctx.g = NO_GOROUTINE;
        if cur.p != NO_PROC {
            let Some(ps) = self.p_states.get_mut(&cur.p) else {
                return Err(format!("found invalid proc {} during {name}", cur.p));
            };
            if ps.status != spec::PROC_SYSCALL {
                return Err(format!(
                    "proc {} in unexpected state {} during {name}",
                    cur.p,
                    proc_status_name(ps.status)
                ));
            }
            ps.status = spec::PROC_SYSCALL_ABANDONED;
            new_ctx.p = NO_PROC;
            let mut extra = BaseEvent {
                typ: ev::PROC_STEAL,
                time: ev.time,
                args: [cur.p as u64, 0, 0, 0],
            };
            let xi = extra.extra_index();
            extra.args[xi] = spec::PROC_SYSCALL;
            self.push(evt, cur, extra);
        }
        self.push(evt, cur, *ev);
        Ok((new_ctx, true))
    }

    fn advance_user_task_begin(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        cur: SchedCtx,
    ) -> Res {
        let id = ev.args[0];
        if self.active_tasks.contains_key(&id) {
            return Err(format!("task ID conflict: {id}"));
        }
        let mut parent = ev.args[1];
        if parent == BACKGROUND_TASK {
            parent = NO_TASK;
            ev.args[1] = NO_TASK;
        }
        let name_id = ev.args[2];
        if !evt.strings.contains(name_id) {
            return Err(format!("invalid string ID {name_id} for {} event", ev.typ));
        }
        self.active_tasks.insert(
            id,
            TaskState {
                name: Rc::from(evt.string(name_id)),
                parent,
            },
        );
        validate_ctx(cur, USER_GO_REQS)?;
        self.push(evt, cur, *ev);
        Ok((cur, true))
    }

    fn advance_user_task_end(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        cur: SchedCtx,
    ) -> Res {
        let id = ev.args[0];
        let xi = ev.extra_index();
        let name = if let Some(ts) = self.active_tasks.remove(&id) {
            ev.args[xi] = ts.parent;
            ts.name
        } else {
            ev.args[xi] = NO_TASK;
            Rc::from(&b""[..])
        };
        validate_ctx(cur, USER_GO_REQS)?;
        let mut e = Event::new(evt, cur, *ev);
        e.task_type = Some(name);
        self.queue.push_back(e);
        Ok((cur, true))
    }

    fn region_args(&self, ev: &BaseEvent, evt: &Rc<EvTable>) -> Result<UserRegion, String> {
        let name_id = ev.args[1];
        if !evt.strings.contains(name_id) {
            return Err(format!("invalid string ID {name_id} for {} event", ev.typ));
        }
        Ok(UserRegion {
            task: ev.args[0],
            name: evt.string(name_id).into(),
        })
    }

    fn advance_user_region_begin(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        cur: SchedCtx,
    ) -> Res {
        validate_ctx(cur, USER_GO_REQS)?;
        let r = self.region_args(ev, evt)?;
        let Some(gs) = self.g_states.get_mut(&cur.g) else {
            return Err(format!(
                "encountered EvUserRegionBegin without known state for current goroutine {}",
                cur.g
            ));
        };
        gs.regions.push(r);
        self.push(evt, cur, *ev);
        Ok((cur, true))
    }

    fn advance_user_region_end(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        cur: SchedCtx,
    ) -> Res {
        validate_ctx(cur, USER_GO_REQS)?;
        let r = self.region_args(ev, evt)?;
        let Some(gs) = self.g_states.get_mut(&cur.g) else {
            return Err(format!(
                "encountered EvUserRegionEnd without known state for current goroutine {}",
                cur.g
            ));
        };
        if let Some(next) = gs.regions.last() {
            if *next != r {
                return Err(format!(
                    "misuse of region in goroutine {}: region end {{{} {}}} when the inner-most active region start event is {{{} {}}}",
                    gs.id,
                    r.task,
                    String::from_utf8_lossy(&r.name),
                    next.task,
                    String::from_utf8_lossy(&next.name)
                ));
            }
            gs.regions.pop();
        }
        self.push(evt, cur, *ev);
        Ok((cur, true))
    }

    fn advance_gc_active(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        gen_no: u64,
        cur: SchedCtx,
    ) -> Res {
        let seq = ev.args[0];
        if gen_no == self.initial_gen {
            if self.gc_state != GcState::Undetermined {
                return Err("GCActive in the first generation isn't first GC event".into());
            }
            self.gc_seq = seq;
            self.gc_state = GcState::Running;
            self.push(evt, cur, *ev);
            return Ok((cur, true));
        }
        if seq != self.gc_seq.wrapping_add(1) {
            return Ok((cur, false));
        }
        if self.gc_state != GcState::Running {
            return Err("encountered GCActive while GC was not in progress".into());
        }
        self.gc_seq = seq;
        validate_ctx(cur, USER_GO_REQS)?;
        self.push(evt, cur, *ev);
        Ok((cur, true))
    }

    fn advance_gc_begin(&mut self, ev: &mut BaseEvent, evt: &Rc<EvTable>, cur: SchedCtx) -> Res {
        let seq = ev.args[0];
        if self.gc_state == GcState::Undetermined {
            self.gc_seq = seq;
            self.gc_state = GcState::Running;
            self.push(evt, cur, *ev);
            return Ok((cur, true));
        }
        if seq != self.gc_seq.wrapping_add(1) {
            return Ok((cur, false));
        }
        if self.gc_state == GcState::Running {
            return Err("encountered GCBegin while GC was already in progress".into());
        }
        self.gc_seq = seq;
        self.gc_state = GcState::Running;
        validate_ctx(cur, USER_GO_REQS)?;
        self.push(evt, cur, *ev);
        Ok((cur, true))
    }

    fn advance_gc_end(&mut self, ev: &mut BaseEvent, evt: &Rc<EvTable>, cur: SchedCtx) -> Res {
        let seq = ev.args[0];
        if seq != self.gc_seq.wrapping_add(1) {
            return Ok((cur, false));
        }
        if self.gc_state == GcState::NotRunning {
            return Err("encountered GCEnd when GC was not in progress".into());
        }
        if self.gc_state == GcState::Undetermined {
            return Err("encountered GCEnd when GC was in an undetermined state".into());
        }
        self.gc_seq = seq;
        self.gc_state = GcState::NotRunning;
        validate_ctx(cur, USER_GO_REQS)?;
        self.push(evt, cur, *ev);
        Ok((cur, true))
    }

    fn advance_annotation(&mut self, ev: &mut BaseEvent, evt: &Rc<EvTable>, cur: SchedCtx) -> Res {
        validate_ctx(cur, USER_GO_REQS)?;
        self.push(evt, cur, *ev);
        Ok((cur, true))
    }

    fn advance_heap_metric(&mut self, ev: &mut BaseEvent, evt: &Rc<EvTable>, cur: SchedCtx) -> Res {
        validate_ctx(
            cur,
            Reqs {
                m: C::MustHave,
                p: C::MustHave,
                g: C::MayHave,
            },
        )?;
        self.push(evt, cur, *ev);
        Ok((cur, true))
    }

    fn advance_gc_sweep_begin(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        cur: SchedCtx,
    ) -> Res {
        validate_ctx(
            cur,
            Reqs {
                m: C::MustHave,
                p: C::MustHave,
                g: C::MayHave,
            },
        )?;
        let Some(ps) = self.p_states.get_mut(&cur.p) else {
            // Go dereferences a nil pState here and panics; report it instead.
            return Err(format!(
                "uninitialized proc {} found during GCSweepBegin",
                cur.p
            ));
        };
        ps.ranges.begin_range(make_range_type(ev.typ, 0))?;
        self.push(evt, cur, *ev);
        Ok((cur, true))
    }

    fn advance_gc_sweep_active(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        gen_no: u64,
        cur: SchedCtx,
    ) -> Res {
        let pid = ev.args[0] as i64;
        let initial = gen_no == self.initial_gen;
        let Some(ps) = self.p_states.get_mut(&pid) else {
            return Err(format!("encountered GCSweepActive for unknown proc {pid}"));
        };
        ps.ranges
            .active_range(make_range_type(ev.typ, 0), initial)?;
        self.push(evt, cur, *ev);
        Ok((cur, true))
    }

    fn advance_gc_sweep_end(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        cur: SchedCtx,
    ) -> Res {
        validate_ctx(
            cur,
            Reqs {
                m: C::MustHave,
                p: C::MustHave,
                g: C::MayHave,
            },
        )?;
        let Some(ps) = self.p_states.get_mut(&cur.p) else {
            return Err(format!(
                "uninitialized proc {} found during GCSweepEnd",
                cur.p
            ));
        };
        ps.ranges.end_range(ev.typ)?;
        self.push(evt, cur, *ev);
        Ok((cur, true))
    }

    fn advance_go_range_begin(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        cur: SchedCtx,
    ) -> Res {
        validate_ctx(cur, USER_GO_REQS)?;
        let desc = if ev.typ == ev::STW_BEGIN {
            ev.args[0]
        } else {
            0
        };
        let Some(gs) = self.g_states.get_mut(&cur.g) else {
            return Err(format!(
                "encountered event of type {} without known state for current goroutine {}",
                ev.typ, cur.g
            ));
        };
        gs.ranges.begin_range(make_range_type(ev.typ, desc))?;
        self.push(evt, cur, *ev);
        Ok((cur, true))
    }

    fn advance_go_range_active(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        gen_no: u64,
        cur: SchedCtx,
    ) -> Res {
        let gid = ev.args[0] as i64;
        let initial = gen_no == self.initial_gen;
        let name = self.ev_name(ev.typ);
        let Some(gs) = self.g_states.get_mut(&gid) else {
            return Err(format!("uninitialized goroutine {gid} found during {name}"));
        };
        gs.ranges
            .active_range(make_range_type(ev.typ, 0), initial)?;
        self.push(evt, cur, *ev);
        Ok((cur, true))
    }

    fn advance_go_range_end(
        &mut self,
        ev: &mut BaseEvent,
        evt: &Rc<EvTable>,
        cur: SchedCtx,
    ) -> Res {
        validate_ctx(cur, USER_GO_REQS)?;
        let Some(gs) = self.g_states.get_mut(&cur.g) else {
            return Err(format!(
                "encountered event of type {} without known state for current goroutine {}",
                ev.typ, cur.g
            ));
        };
        let desc = gs.ranges.end_range(ev.typ)?;
        if ev.typ == ev::STW_END {
            ev.args[0] = desc;
        }
        self.push(evt, cur, *ev);
        Ok((cur, true))
    }

    fn advance_alloc_free(&mut self, ev: &mut BaseEvent, evt: &Rc<EvTable>, cur: SchedCtx) -> Res {
        validate_ctx(
            cur,
            Reqs {
                m: C::MustHave,
                p: C::MayHave,
                g: C::MayHave,
            },
        )?;
        self.push(evt, cur, *ev);
        Ok((cur, true))
    }
}
