//! Conversion of v1 events (Go 1.11–1.21) into the v2 events the rest of the crate
//! reads: a port of Go 1.27's `internal/trace/tracev1.go`.
//!
//! Most events map one to one, at worst with arguments reordered. The whole v1 trace
//! becomes one generation sharing one table. A `GoSysCall` becomes a 1 ns
//! `GoSyscallBegin`/`GoSyscallEnd` pair unless the goroutine's next event is a
//! `GoSysBlock`, in which case it becomes a `GoSyscallBegin` that the later
//! `GoSysExit` ends. Goroutines that existed when tracing started get `GoStatus`
//! events.

use super::parser::{self as v1, Trace, ev as v1ev};
use crate::event::{
    BaseEvent, EvTable, Event, Frame, NO_GOROUTINE, NO_PROC, NO_THREAD, SchedCtx, Time,
};
use crate::goutil::FxHashMap as HashMap;
use crate::spec::{self, ev};
use std::collections::{BTreeSet, HashSet, VecDeque};
use std::rc::Rc;

// Strings the converter adds (block reasons, then STW kinds), in Go's order.
const S_FOREVER: usize = 0;
const S_PREEMPTED: usize = 1;
const S_GOSCHED: usize = 2;
const S_SLEEP: usize = 3;
const S_CHAN_SEND: usize = 4;
const S_CHAN_RECV: usize = 5;
const S_NETWORK: usize = 6;
const S_SYNC: usize = 7;
const S_SYNC_COND: usize = 8;
const S_SELECT: usize = 9;
const S_EMPTY: usize = 10;
const S_MARK_ASSIST_WAIT: usize = 11;
const S_STW_UNKNOWN: usize = 12;
const BUILTINS: [&str; 29] = [
    "forever",
    "preempted",
    "runtime.Gosched",
    "sleep",
    "chan send",
    "chan receive",
    "network",
    "sync",
    "sync.(*Cond).Wait",
    "select",
    "",
    "GC mark assist wait for work",
    "",
    "GC mark termination",
    "GC sweep termination",
    "write heap dump",
    "goroutine profile",
    "goroutine profile cleanup",
    "all goroutine stack trace",
    "read mem stats",
    "AllThreadsSyscall",
    "GOMAXPROCS",
    "start trace",
    "stop trace",
    "CountPagesInUse (test)",
    "ReadMetricsSlow (test)",
    "ReadMemStatsSlow (test)",
    "PageCachePagesLeaked (test)",
    "ResetDebugLog (test)",
];

/// An error converting an event: Go's message and the v1 event's data offset.
#[derive(Debug, Clone)]
pub(crate) struct ConvertError {
    pub offset: u64,
    pub msg: String,
}

/// Go's `traceV1Converter`: yields v2 events from a parsed v1 trace.
pub(crate) struct Converter {
    version: u32,
    events: Vec<v1::Event>,
    pos: usize,
    pub(crate) evt: Rc<EvTable>,
    pre_init: bool,
    /// Goroutines created before tracing began and not yet seen otherwise. Go keeps a
    /// map and emits them in map (random) order; gorx emits them by ascending id.
    created_pre_init: BTreeSet<u64>,
    extra: VecDeque<Event>,
    tasks: HashMap<u64, (Rc<[u8]>, u64)>,
    seen_procs: HashSet<i64>,
    pub(crate) last_ts: Time,
    proc_ms: HashMap<i64, i64>,
    last_stw_reason: u64,
    inline_to_string_id: Vec<u64>,
    builtin_to_string_id: Vec<u64>,
}

/// The v1 event's type has no v2 equivalent (Go's `errSkip` aside).
enum Conv {
    Event(Event),
    Skip,
}

impl Converter {
    /// Go's `traceV1Converter.init`: build the one table (strings, stacks, PCs).
    /// Go ignores init's errors and would later panic on such a trace; gorx reports them.
    pub(crate) fn new(tr: Trace) -> Result<Converter, String> {
        let mut evt = EvTable::default();
        let mut max: u64 = 0;
        for (id, s) in tr.strings {
            max = max.max(id);
            evt.strings.insert(id, s);
        }
        // v1 stores user log messages inline; give them ids after the last string.
        let n_inline = tr.inline_strings.len() as u64;
        if max.checked_add(n_inline).is_none() {
            return Err("trace contains too many strings".into());
        }
        let mut inline_to_string_id = Vec::with_capacity(tr.inline_strings.len());
        for (i, s) in tr.inline_strings.into_iter().enumerate() {
            let nid = max + 1 + i as u64;
            inline_to_string_id.push(nid);
            evt.strings.insert(nid, s);
        }
        max += n_inline;
        if max.checked_add(BUILTINS.len() as u64).is_none() {
            return Err("trace contains too many strings".into());
        }
        let mut builtin_to_string_id = Vec::with_capacity(BUILTINS.len());
        for (c, s) in BUILTINS.iter().enumerate() {
            let nid = max + 1 + c as u64;
            builtin_to_string_id.push(nid);
            evt.strings.insert(nid, s.as_bytes().into());
        }
        evt.strings.compactify();
        for (id, stk) in tr.stacks {
            evt.stacks.insert(id as u64, stk);
        }
        for (pc, f) in tr.pcs {
            evt.pcs.insert(
                pc,
                Frame {
                    pc,
                    func_id: f.func,
                    file_id: f.file,
                    line: f.line,
                },
            );
        }
        evt.stacks.compactify();
        evt.version = tr.version;
        // Start functions of every goroutine (the conversion drops the GoCreate events
        // of goroutines created before tracing began; analyses still want to know them).
        for e in &tr.events {
            if e.typ == v1ev::GO_CREATE {
                evt.start_stacks.insert(e.args[0], e.args[1]);
            }
        }
        Ok(Converter {
            version: tr.version,
            events: tr.events,
            pos: 0,
            evt: Rc::new(evt),
            pre_init: true,
            created_pre_init: BTreeSet::new(),
            extra: VecDeque::new(),
            tasks: HashMap::default(),
            seen_procs: HashSet::new(),
            last_ts: -1,
            proc_ms: HashMap::default(),
            last_stw_reason: 0,
            inline_to_string_id,
            builtin_to_string_id,
        })
    }

    /// The next v1 event still to convert.
    pub(crate) fn peek(&self) -> Option<&v1::Event> {
        self.events.get(self.pos)
    }

    /// Go's `next`: the next event, `Ok(None)` at the end.
    pub(crate) fn next(&mut self) -> Result<Option<Event>, ConvertError> {
        loop {
            let mut e = if let Some(e) = self.extra.pop_front() {
                e
            } else {
                let Some(&oev) = self.events.get(self.pos) else {
                    // Converted events are gone; free them as Go frees its buckets.
                    self.events = Vec::new();
                    self.pos = 0;
                    return Ok(None);
                };
                self.pos += 1;
                match self.convert_event(&oev) {
                    Ok(Conv::Event(e)) => e,
                    Ok(Conv::Skip) => continue,
                    Err(msg) => {
                        return Err(ConvertError {
                            offset: oev.offset(),
                            msg,
                        });
                    }
                }
            };
            // v2 forbids equal timestamps; GoStatus events would produce them.
            if e.base.time <= self.last_ts {
                e.base.time = self.last_ts.wrapping_add(1);
            }
            self.last_ts = e.base.time;
            return Ok(Some(e));
        }
    }

    fn mk(&self, ctx: SchedCtx, typ: u8, time: Time, args: [u64; 4]) -> Event {
        Event::new(&self.evt, ctx, BaseEvent { typ, time, args })
    }

    fn builtin(&self, c: usize) -> u64 {
        self.builtin_to_string_id[c]
    }

    fn m_of(&self, p: i32) -> i64 {
        self.proc_ms.get(&(p as i64)).copied().unwrap_or(0)
    }

    /// Go's `convertEvent`.
    fn convert_event(&mut self, oev: &v1::Event) -> Result<Conv, String> {
        let mapped_type: u8;
        let mut mapped_args: [u64; 4] = oev.args;
        let mut task_type: Option<Rc<[u8]>> = None;
        let t = oev.ts;
        let p = oev.p as i64;
        match oev.typ {
            v1ev::GOMAXPROCS => {
                mapped_type = ev::PROCS_CHANGE;
                if self.pre_init {
                    // The first Gomaxprocs ends the trace's initialisation: every
                    // goroutine that existed is known. Those seen neither waiting, in a
                    // syscall nor starting were idle or runnable.
                    self.pre_init = false;
                    let ctx = SchedCtx {
                        g: NO_GOROUTINE,
                        p: NO_PROC,
                        m: NO_THREAD,
                    };
                    for gid in std::mem::take(&mut self.created_pre_init) {
                        let e =
                            self.mk(ctx, ev::GO_STATUS, t, [gid, u64::MAX, spec::GO_RUNNABLE, 0]);
                        self.extra.push_back(e);
                    }
                    return Ok(Conv::Skip);
                }
            }
            v1ev::PROC_START => {
                self.proc_ms.insert(p, oev.args[0] as i64);
                if self.seen_procs.contains(&p) {
                    mapped_type = ev::PROC_START;
                    mapped_args = [p as u64, 0, 0, 0];
                } else {
                    self.seen_procs.insert(p);
                    mapped_type = ev::PROC_STATUS;
                    mapped_args = [p as u64, spec::PROC_RUNNING, 0, 0];
                }
            }
            v1ev::PROC_STOP => {
                if self.seen_procs.contains(&p) {
                    mapped_type = ev::PROC_STOP;
                    mapped_args = [p as u64, 0, 0, 0];
                } else {
                    self.seen_procs.insert(p);
                    mapped_type = ev::PROC_STATUS;
                    mapped_args = [p as u64, spec::PROC_IDLE, 0, 0];
                }
            }
            v1ev::GC_START => mapped_type = ev::GC_BEGIN,
            v1ev::GC_DONE => mapped_type = ev::GC_END,
            v1ev::STW_START => {
                let reason = v1::stw_reason(self.version, oev.args[0]) as usize;
                let sid = self.builtin(S_STW_UNKNOWN + reason);
                self.last_stw_reason = sid;
                mapped_type = ev::STW_BEGIN;
                mapped_args = [sid, 0, 0, 0];
            }
            v1ev::STW_DONE => {
                mapped_type = ev::STW_END;
                mapped_args = [self.last_stw_reason, 0, 0, 0];
            }
            v1ev::GC_SWEEP_START => mapped_type = ev::GC_SWEEP_BEGIN,
            v1ev::GC_SWEEP_DONE => mapped_type = ev::GC_SWEEP_END,
            v1ev::GO_CREATE => {
                if self.pre_init {
                    self.created_pre_init.insert(oev.args[0]);
                    return Ok(Conv::Skip);
                }
                mapped_type = ev::GO_CREATE;
            }
            v1ev::GO_START => {
                if self.pre_init {
                    mapped_type = ev::GO_STATUS;
                    mapped_args = [oev.args[0], u64::MAX, spec::GO_RUNNING, 0];
                    self.created_pre_init.remove(&oev.args[0]);
                } else {
                    mapped_type = ev::GO_START;
                }
            }
            v1ev::GO_START_LABEL => {
                let ctx = SchedCtx {
                    g: oev.g as i64,
                    p,
                    m: self.m_of(oev.p),
                };
                let label = self.mk(ctx, ev::GO_LABEL, t, [oev.args[2], 0, 0, 0]);
                self.extra.push_back(label);
                return Ok(Conv::Event(self.mk(ctx, ev::GO_START, t, mapped_args)));
            }
            v1ev::GO_END => mapped_type = ev::GO_DESTROY,
            v1ev::GO_STOP => {
                mapped_type = ev::GO_BLOCK;
                mapped_args = [self.builtin(S_FOREVER), oev.stk_id as u64, 0, 0];
            }
            v1ev::GO_SCHED => {
                mapped_type = ev::GO_STOP;
                mapped_args = [self.builtin(S_GOSCHED), oev.stk_id as u64, 0, 0];
            }
            v1ev::GO_PREEMPT => {
                mapped_type = ev::GO_STOP;
                mapped_args = [self.builtin(S_PREEMPTED), oev.stk_id as u64, 0, 0];
            }
            v1ev::GO_SLEEP
            | v1ev::GO_BLOCK
            | v1ev::GO_BLOCK_SEND
            | v1ev::GO_BLOCK_RECV
            | v1ev::GO_BLOCK_SELECT
            | v1ev::GO_BLOCK_SYNC
            | v1ev::GO_BLOCK_COND
            | v1ev::GO_BLOCK_NET
            | v1ev::GO_BLOCK_GC => {
                let reason = match oev.typ {
                    v1ev::GO_SLEEP => S_SLEEP,
                    v1ev::GO_BLOCK => S_EMPTY,
                    v1ev::GO_BLOCK_SEND => S_CHAN_SEND,
                    v1ev::GO_BLOCK_RECV => S_CHAN_RECV,
                    v1ev::GO_BLOCK_SELECT => S_SELECT,
                    v1ev::GO_BLOCK_SYNC => S_SYNC,
                    v1ev::GO_BLOCK_COND => S_SYNC_COND,
                    v1ev::GO_BLOCK_NET => S_NETWORK,
                    _ => S_MARK_ASSIST_WAIT,
                };
                mapped_type = ev::GO_BLOCK;
                mapped_args = [self.builtin(reason), oev.stk_id as u64, 0, 0];
            }
            v1ev::GO_UNBLOCK => mapped_type = ev::GO_UNBLOCK,
            v1ev::GO_SYS_CALL => {
                // The goroutine's next event says whether the syscall blocked.
                let blocked = self.events[self.pos..]
                    .iter()
                    .find(|n| n.g == oev.g)
                    .is_some_and(|n| n.typ == v1ev::GO_SYS_BLOCK);
                if blocked {
                    mapped_type = ev::GO_SYSCALL_BEGIN;
                    mapped_args = [0, oev.stk_id as u64, 0, 0];
                } else {
                    // An instantaneous syscall: the shortest pair, 1 ns.
                    let ctx = SchedCtx {
                        g: oev.g as i64,
                        p,
                        m: self.m_of(oev.p),
                    };
                    let out1 = self.mk(ctx, ev::GO_SYSCALL_BEGIN, t, [0, oev.stk_id as u64, 0, 0]);
                    let out2 = self.mk(ctx, ev::GO_SYSCALL_END, t.wrapping_add(1), [0; 4]);
                    self.extra.push_back(out2);
                    return Ok(Conv::Event(out1));
                }
            }
            v1ev::GO_SYS_EXIT => mapped_type = ev::GO_SYSCALL_END_BLOCKED,
            v1ev::GO_SYS_BLOCK => return Ok(Conv::Skip),
            v1ev::GO_WAITING => {
                mapped_type = ev::GO_STATUS;
                mapped_args = [oev.args[0], u64::MAX, spec::GO_WAITING, 0];
                self.created_pre_init.remove(&oev.args[0]);
            }
            v1ev::GO_IN_SYSCALL => {
                mapped_type = ev::GO_STATUS;
                // v1 does not say which thread the syscall is on.
                mapped_args = [oev.args[0], u64::MAX, spec::GO_SYSCALL, 0];
                self.created_pre_init.remove(&oev.args[0]);
            }
            v1ev::HEAP_ALLOC => mapped_type = ev::HEAP_ALLOC,
            v1ev::HEAP_GOAL => mapped_type = ev::HEAP_GOAL,
            v1ev::GC_MARK_ASSIST_START => mapped_type = ev::GC_MARK_ASSIST_BEGIN,
            v1ev::GC_MARK_ASSIST_DONE => mapped_type = ev::GC_MARK_ASSIST_END,
            v1ev::USER_TASK_CREATE => {
                mapped_type = ev::USER_TASK_BEGIN;
                let parent = if oev.args[1] == 0 {
                    crate::event::NO_TASK
                } else {
                    oev.args[1]
                };
                mapped_args = [oev.args[0], parent, oev.args[2], oev.stk_id as u64];
                let name: Rc<[u8]> = self.evt.string(oev.args[2]).into();
                self.tasks.insert(oev.args[0], (name, oev.args[1]));
            }
            v1ev::USER_TASK_END => {
                mapped_type = ev::USER_TASK_END;
                // Event::task reads the parent from the spare argument and the type
                // from the event (Go smuggles it in as an extra string).
                match self.tasks.remove(&oev.args[0]) {
                    Some((name, parent)) => {
                        mapped_args = [oev.args[0], oev.args[1], parent, 0];
                        if !name.is_empty() {
                            task_type = Some(name);
                        }
                    }
                    None => {
                        mapped_args = [oev.args[0], oev.args[1], crate::event::NO_TASK, 0];
                    }
                }
            }
            v1ev::USER_REGION => {
                // Other modes were rejected by the parser.
                mapped_type = match oev.args[1] {
                    0 => ev::USER_REGION_BEGIN,
                    1 => ev::USER_REGION_END,
                    _ => ev::NONE,
                };
                mapped_args = [oev.args[0], oev.args[2], oev.stk_id as u64, 0];
            }
            v1ev::USER_LOG => {
                mapped_type = ev::USER_LOG;
                let Some(&msg) = self.inline_to_string_id.get(oev.args[3] as usize) else {
                    return Err(format!(
                        "user log message {} is not in the trace",
                        oev.args[3]
                    ));
                };
                mapped_args = [oev.args[0], oev.args[1], msg, oev.stk_id as u64];
            }
            v1ev::CPU_SAMPLE => {
                mapped_type = ev::CPU_SAMPLE;
                // After conversion a CPU sample's arguments are stack, M, P, G; Go 1.21
                // samples had no M.
                mapped_args = [oev.stk_id as u64, u64::MAX, oev.p as i64 as u64, oev.g];
            }
            t => return Err(format!("unexpected event type {t}")),
        }

        if v1::desc(oev.typ).is_some_and(|d| d.stack)
            && let Some(&first) = spec::spec(mapped_type).and_then(|s| s.stack_ids.first())
        {
            mapped_args[first - 1] = oev.stk_id as u64;
        }

        let mut m = NO_THREAD;
        if oev.p != -1
            && oev.typ != v1ev::CPU_SAMPLE
            && let Some(&t) = self.proc_ms.get(&p)
        {
            m = t;
        }
        if oev.typ == v1ev::PROC_STOP {
            self.proc_ms.remove(&p);
        }
        let g = if oev.g == 0 {
            NO_GOROUTINE
        } else {
            oev.g as i64
        };
        let mut e = self.mk(SchedCtx { g, p, m }, mapped_type, t, mapped_args);
        e.task_type = task_type;
        Ok(Conv::Event(e))
    }
}
