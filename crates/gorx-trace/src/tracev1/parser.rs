//! The parser for Go 1.11–1.21 execution traces (format v1): a port of Go 1.27's
//! `internal/trace/internal/tracev1/parser.go`.
//!
//! v1 traces have no generations, so the whole trace is parsed at once, as Go does:
//! (1) find every batch and collect CPU samples, (2) merge the per-P batches into one
//! stream under the goroutine sequence rules of [`super::order`], (3) turn CPU ticks
//! into nanoseconds and move timer unblocks and syscall exits to fake Ps, (4) validate
//! the stream. Every size comes from bytes actually present; nothing a header claims is
//! allocated up front.
//!
//! One difference by design: Go iterates its map of Ps in random order, so when
//! events of different Ps carry equal timestamps their merged order varies from run to
//! run of `go tool trace`. gorx takes the Ps in ascending id order, which is one of the
//! orders Go may produce.

use super::order::{OrderEvent, heap_pop, heap_push, state_transition, transition_ready};
use crate::goutil::{FxHashMap as HashMap, uvarint};
use std::collections::HashSet;

/// Nanoseconds since the start of the trace (CPU ticks until the conversion).
pub type Timestamp = i64;

/// One v1 event (Go's `tracev1.Event`), plus where it was read (for error messages).
/// Laid out to stay 64 bytes, as Go's is: the offset uses the padding.
#[derive(Debug, Clone, Copy, Default)]
pub struct Event {
    pub ts: Timestamp,
    /// The goroutine the event happened on.
    pub g: u64,
    pub args: [u64; 4],
    pub stk_id: u32,
    /// A real P, or one of the fake Ps ([`TIMER_P`], [`NETPOLL_P`], ...); -1 for none.
    pub p: i32,
    pub typ: u8,
    pub(super) off_hi: u8,
    pub(super) off_lo: u32,
}

impl Event {
    /// Byte offset of the event in the trace data (after the header).
    pub fn offset(&self) -> u64 {
        (self.off_hi as u64) << 32 | self.off_lo as u64
    }
    fn set_offset(&mut self, off: usize) {
        // 40 bits: 1 TiB, far beyond any trace that fits in memory.
        let off = (off as u64).min((1 << 40) - 1);
        self.off_hi = (off >> 32) as u8;
        self.off_lo = off as u32;
    }
}

/// A stack frame: PC and the string ids of its function and file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub pc: u64,
    pub func: u64,
    pub file: u64,
    pub line: u64,
}

pub const FAKE_P: i32 = 1_000_000;
/// Holds timer unblocks.
pub const TIMER_P: i32 = FAKE_P + 1;
/// Holds network unblocks.
pub const NETPOLL_P: i32 = FAKE_P + 2;
/// Holds returns from syscalls.
pub const SYSCALL_P: i32 = FAKE_P + 3;
/// Holds GC state.
pub const GC_P: i32 = FAKE_P + 4;
/// Holds CPU profile samples.
pub const PROFILE_P: i32 = FAKE_P + 5;

/// Event types of the v1 format (Go's runtime/trace.go of 1.11–1.21).
pub mod ev {
    pub const NONE: u8 = 0;
    pub const BATCH: u8 = 1;
    pub const FREQUENCY: u8 = 2;
    pub const STACK: u8 = 3;
    pub const GOMAXPROCS: u8 = 4;
    pub const PROC_START: u8 = 5;
    pub const PROC_STOP: u8 = 6;
    pub const GC_START: u8 = 7;
    pub const GC_DONE: u8 = 8;
    pub const STW_START: u8 = 9;
    pub const STW_DONE: u8 = 10;
    pub const GC_SWEEP_START: u8 = 11;
    pub const GC_SWEEP_DONE: u8 = 12;
    pub const GO_CREATE: u8 = 13;
    pub const GO_START: u8 = 14;
    pub const GO_END: u8 = 15;
    pub const GO_STOP: u8 = 16;
    pub const GO_SCHED: u8 = 17;
    pub const GO_PREEMPT: u8 = 18;
    pub const GO_SLEEP: u8 = 19;
    pub const GO_BLOCK: u8 = 20;
    pub const GO_UNBLOCK: u8 = 21;
    pub const GO_BLOCK_SEND: u8 = 22;
    pub const GO_BLOCK_RECV: u8 = 23;
    pub const GO_BLOCK_SELECT: u8 = 24;
    pub const GO_BLOCK_SYNC: u8 = 25;
    pub const GO_BLOCK_COND: u8 = 26;
    pub const GO_BLOCK_NET: u8 = 27;
    pub const GO_SYS_CALL: u8 = 28;
    pub const GO_SYS_EXIT: u8 = 29;
    pub const GO_SYS_BLOCK: u8 = 30;
    pub const GO_WAITING: u8 = 31;
    pub const GO_IN_SYSCALL: u8 = 32;
    pub const HEAP_ALLOC: u8 = 33;
    pub const HEAP_GOAL: u8 = 34;
    pub const TIMER_GOROUTINE: u8 = 35;
    pub const FUTILE_WAKEUP: u8 = 36;
    pub const STRING: u8 = 37;
    pub const GO_START_LOCAL: u8 = 38;
    pub const GO_UNBLOCK_LOCAL: u8 = 39;
    pub const GO_SYS_EXIT_LOCAL: u8 = 40;
    pub const GO_START_LABEL: u8 = 41;
    pub const GO_BLOCK_GC: u8 = 42;
    pub const GC_MARK_ASSIST_START: u8 = 43;
    pub const GC_MARK_ASSIST_DONE: u8 = 44;
    pub const USER_TASK_CREATE: u8 = 45;
    pub const USER_TASK_END: u8 = 46;
    pub const USER_REGION: u8 = 47;
    pub const USER_LOG: u8 = 48;
    pub const CPU_SAMPLE: u8 = 49;
    pub const COUNT: u8 = 50;
}

/// Go's `EventDescriptions` entry.
pub struct Desc {
    pub name: &'static str,
    pub min_version: u32,
    pub stack: bool,
    pub args: &'static [&'static str],
}

const fn d(
    name: &'static str,
    min_version: u32,
    stack: bool,
    args: &'static [&'static str],
) -> Desc {
    Desc {
        name,
        min_version,
        stack,
        args,
    }
}

/// Go's `EventDescriptions`, indexed by event type.
pub static DESCRIPTIONS: [Desc; ev::COUNT as usize] = [
    d("None", 5, false, &[]),
    d("Batch", 5, false, &["p", "ticks"]),
    d("Frequency", 5, false, &["freq"]),
    d("Stack", 5, false, &["id", "siz"]),
    d("Gomaxprocs", 5, true, &["procs"]),
    d("ProcStart", 5, false, &["thread"]),
    d("ProcStop", 5, false, &[]),
    d("GCStart", 5, true, &["seq"]),
    d("GCDone", 5, false, &[]),
    d("GCSTWStart", 5, false, &["kindid"]),
    d("GCSTWDone", 5, false, &[]),
    d("GCSweepStart", 5, true, &[]),
    d("GCSweepDone", 5, false, &["swept", "reclaimed"]),
    d("GoCreate", 5, true, &["g", "stack"]),
    d("GoStart", 5, false, &["g", "seq"]),
    d("GoEnd", 5, false, &[]),
    d("GoStop", 5, true, &[]),
    d("GoSched", 5, true, &[]),
    d("GoPreempt", 5, true, &[]),
    d("GoSleep", 5, true, &[]),
    d("GoBlock", 5, true, &[]),
    d("GoUnblock", 5, true, &["g", "seq"]),
    d("GoBlockSend", 5, true, &[]),
    d("GoBlockRecv", 5, true, &[]),
    d("GoBlockSelect", 5, true, &[]),
    d("GoBlockSync", 5, true, &[]),
    d("GoBlockCond", 5, true, &[]),
    d("GoBlockNet", 5, true, &[]),
    d("GoSysCall", 5, true, &[]),
    d("GoSysExit", 5, false, &["g", "seq", "ts"]),
    d("GoSysBlock", 5, false, &[]),
    d("GoWaiting", 5, false, &["g"]),
    d("GoInSyscall", 5, false, &["g"]),
    d("HeapAlloc", 5, false, &["mem"]),
    d("HeapGoal", 5, false, &["mem"]),
    d("TimerGoroutine", 5, false, &["g"]),
    d("FutileWakeup", 5, false, &[]),
    d("String", 7, false, &[]),
    d("GoStartLocal", 7, false, &["g"]),
    d("GoUnblockLocal", 7, true, &["g"]),
    d("GoSysExitLocal", 7, false, &["g", "ts"]),
    d("GoStartLabel", 8, false, &["g", "seq", "labelid"]),
    d("GoBlockGC", 8, true, &[]),
    d("GCMarkAssistStart", 9, true, &[]),
    d("GCMarkAssistDone", 9, false, &[]),
    d("UserTaskCreate", 11, true, &["taskid", "pid", "typeid"]),
    d("UserTaskEnd", 11, true, &["taskid"]),
    d("UserRegion", 11, true, &["taskid", "mode", "typeid"]),
    d("UserLog", 11, true, &["id", "keyid"]),
    d("CPUSample", 19, true, &["ts", "p", "g"]),
];

pub fn desc(typ: u8) -> Option<&'static Desc> {
    DESCRIPTIONS.get(typ as usize)
}

/// A parse failure: where in the data (after the header) and Go's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub offset: u64,
    pub msg: String,
    /// Go's `ErrTimeOrder` (timestamps contradict the event order).
    pub time_order: bool,
}

impl ParseError {
    fn new(offset: usize, msg: impl Into<String>) -> ParseError {
        ParseError {
            offset: offset as u64,
            msg: msg.into(),
            time_order: false,
        }
    }
    fn time_order(offset: u64) -> ParseError {
        ParseError {
            offset,
            msg: ERR_TIME_ORDER.into(),
            time_order: true,
        }
    }
}

const ERR_TIME_ORDER: &str = "time stamps out of order";
const ERR_MALFORMED_VARINT: &str = "malformatted base-128 varint";

/// `io.EOF` (which ends a pass) or a real error.
enum RawErr {
    Eof,
    Err(ParseError),
}

impl From<ParseError> for RawErr {
    fn from(e: ParseError) -> Self {
        RawErr::Err(e)
    }
}

/// The parsed trace (Go's `tracev1.Trace`).
#[derive(Debug, Default)]
pub struct Trace {
    pub version: u32,
    /// All events, sorted by time.
    pub events: Vec<Event>,
    pub stacks: HashMap<u32, Box<[u64]>>,
    pub pcs: HashMap<u64, Frame>,
    pub strings: HashMap<u64, Box<[u8]>>,
    /// Messages of user logs, which v1 stores inline; events refer to them by index.
    pub inline_strings: Vec<Box<[u8]>>,
}

#[derive(Debug, Clone, Copy)]
struct BatchOffset {
    offset: usize,
    num_events: usize,
}

#[derive(Default)]
struct RawEvent {
    typ: u8,
    args: Vec<u64>,
    sargs: Vec<Box<[u8]>>,
    batch_pid: i32,
    batch_offset: usize,
    /// Where the event starts.
    off: usize,
}

impl RawEvent {
    /// Go's `rawEvent.argNum`.
    fn arg_num(&self) -> usize {
        let desc = &DESCRIPTIONS[self.typ as usize];
        if self.typ == ev::STACK {
            return self.args.len();
        }
        let mut narg = desc.args.len();
        if desc.stack {
            narg += 1;
        }
        match self.typ {
            ev::BATCH | ev::FREQUENCY | ev::TIMER_GOROUTINE => narg,
            _ => narg + 1,
        }
    }
}

struct Proc {
    pid: i32,
    /// The current batch; `events[pos..]` are still to merge.
    events: Vec<Event>,
    pos: usize,
    done: bool,
}

const SKIP_ARGS: u32 = 1;
const SKIP_STRINGS: u32 = 2;

struct Parser<'a> {
    ver: u32,
    data: &'a [u8],
    off: usize,

    strings: HashMap<u64, Box<[u8]>>,
    inline_strings: Vec<Box<[u8]>>,
    inline_strings_mapping: HashMap<Box<[u8]>, usize>,
    /// Per P: its batches, and how many have been loaded.
    batch_offsets: HashMap<i32, (Vec<BatchOffset>, usize)>,
    stacks: HashMap<u32, Box<[u64]>>,
    ticks_per_sec: i64,
    pcs: HashMap<u64, Frame>,
    cpu_samples: Vec<Event>,
    timer_goids: HashSet<u64>,

    last_ts: Timestamp,
    last_g: u64,
    last_gs: HashMap<i32, u64>,
    last_p: i32,
}

/// Parse the data of a v1 trace (everything after the 16-byte header) of format
/// version `ver` (11, 19 or 21). Go's `tracev1.Parse`.
pub fn parse(data: &[u8], ver: u32) -> Result<Trace, ParseError> {
    let mut p = Parser {
        ver,
        data,
        off: 0,
        strings: HashMap::default(),
        inline_strings: Vec::new(),
        inline_strings_mapping: HashMap::default(),
        batch_offsets: HashMap::default(),
        stacks: HashMap::default(),
        ticks_per_sec: 0,
        pcs: HashMap::default(),
        cpu_samples: Vec::new(),
        timer_goids: HashSet::new(),
        last_ts: 0,
        last_g: 0,
        last_gs: HashMap::default(),
        last_p: 0,
    };
    p.parse()
}

impl Parser<'_> {
    fn parse(&mut self) -> Result<Trace, ParseError> {
        self.collect_batches_and_cpu_samples()?;
        let mut events = self.parse_event_batches()?;
        if self.ticks_per_sec == 0 {
            return Err(ParseError::new(self.data.len(), "no EvFrequency event"));
        }
        if let Some(first) = events.first() {
            // Ticks to nanoseconds, in floating point to avoid overflow (as Go does).
            let min_ts = first.ts;
            let freq = 1e9 / self.ticks_per_sec as f64;
            for ev in events.iter_mut() {
                ev.ts = crate::goutil::f64_to_i64(ev.ts.wrapping_sub(min_ts) as f64 * freq);
                // Timers and syscalls go to their own fake Ps.
                if self.timer_goids.contains(&ev.g) && ev.typ == ev::GO_UNBLOCK {
                    ev.p = TIMER_P;
                }
                if ev.typ == ev::GO_SYS_EXIT {
                    ev.p = SYSCALL_P;
                }
            }
        }
        self.post_process_trace(&mut events)?;
        Ok(Trace {
            version: self.ver,
            events,
            stacks: std::mem::take(&mut self.stacks),
            pcs: std::mem::take(&mut self.pcs),
            strings: std::mem::take(&mut self.strings),
            inline_strings: std::mem::take(&mut self.inline_strings),
        })
    }

    /// Go's `parseEventBatches`: merge the per-P batches into one consistent stream.
    /// Events of one batch are in order; the merge takes, among the first unmerged
    /// event of every P whose goroutine-state preconditions hold, the earliest.
    fn parse_event_batches(&mut self) -> Result<Vec<Event>, ParseError> {
        // CPU samples are written late, by another goroutine: order them by the time
        // the signal handler took.
        let mut samples = std::mem::take(&mut self.cpu_samples);
        crate::gosort::sort_func(&mut samples, |a, b| a.ts < b.ts);

        let mut pids: Vec<i32> = self.batch_offsets.keys().copied().collect();
        pids.sort_unstable();
        let mut all_procs: Vec<Proc> = pids
            .into_iter()
            .map(|pid| Proc {
                pid,
                events: Vec::new(),
                pos: 0,
                done: false,
            })
            .collect();
        all_procs.push(Proc {
            pid: PROFILE_P,
            events: samples,
            pos: 0,
            done: false,
        });

        // An upper bound counted from the bytes in the first pass (it includes batch
        // headers, stacks and CPU samples): one allocation instead of repeated doubling.
        let n_events: usize = self
            .batch_offsets
            .values()
            .flat_map(|(b, _)| b.iter().map(|b| b.num_events))
            .sum();
        let mut events: Vec<Event> = Vec::with_capacity(n_events);
        let mut gs: HashMap<u64, super::order::GState> = HashMap::default();
        let mut frontier: Vec<OrderEvent> = Vec::new();
        let mut available: Vec<usize> = (0..all_procs.len()).collect();
        loop {
            let mut i = 0;
            'pid_loop: while i < available.len() {
                let pi = available[i];
                while all_procs[pi].pos == all_procs[pi].events.len() {
                    // Loop: batches can be empty.
                    let pid = all_procs[pi].pid;
                    let buf = std::mem::take(&mut all_procs[pi].events);
                    match self.load_batch(pid, buf) {
                        Err(RawErr::Eof) => {
                            all_procs[pi].done = true;
                            available.swap_remove(i);
                            continue 'pid_loop;
                        }
                        Err(RawErr::Err(e)) => return Err(e),
                        Ok(evs) => {
                            all_procs[pi].events = evs;
                            all_procs[pi].pos = 0;
                        }
                    }
                }
                let proc = &mut all_procs[pi];
                let ev = proc.events[proc.pos];
                let (g, init, _) = state_transition(&ev);
                if !transition_ready(g, gs.get(&g).copied().unwrap_or_default(), init) {
                    i += 1;
                    continue;
                }
                proc.pos += 1;
                available.swap_remove(i);
                heap_push(&mut frontier, OrderEvent { ev, proc: pi });
            }

            if frontier.is_empty() {
                if let Some(p) = all_procs.iter().find(|p| !p.done) {
                    let off = p
                        .events
                        .get(p.pos)
                        .map(|e| e.offset() as usize)
                        .unwrap_or(self.off);
                    return Err(ParseError::new(
                        off,
                        "no consistent ordering of events possible",
                    ));
                }
                break;
            }
            let mut f = heap_pop(&mut frontier);
            let (g, init, next) = state_transition(&f.ev);
            // "Local" events only served the ordering.
            f.ev.typ = match f.ev.typ {
                ev::GO_START_LOCAL => ev::GO_START,
                ev::GO_UNBLOCK_LOCAL => ev::GO_UNBLOCK,
                ev::GO_SYS_EXIT_LOCAL => ev::GO_SYS_EXIT,
                t => t,
            };
            events.push(f.ev);
            super::order::transition(&mut gs, g, init, next)
                .map_err(|m| ParseError::new(f.ev.offset() as usize, m))?;
            available.push(f.proc);
        }

        // The merged order must agree with the timestamps.
        if let Some(i) = (1..events.len())
            .rev()
            .find(|&i| events[i].ts < events[i - 1].ts)
        {
            return Err(ParseError::time_order(events[i].offset()));
        }

        // A syscall exit's real time (args[2]) can precede its emission; now that the
        // order is settled, give it that time and re-sort stably.
        let mut last_sys_block: HashMap<u64, Timestamp> = HashMap::default();
        for ev in events.iter_mut() {
            match ev.typ {
                ev::GO_SYS_BLOCK | ev::GO_IN_SYSCALL => {
                    last_sys_block.insert(ev.g, ev.ts);
                }
                ev::GO_SYS_EXIT => {
                    let ts = ev.args[2] as Timestamp;
                    if ts == 0 {
                        continue;
                    }
                    let block = last_sys_block.get(&ev.g).copied().unwrap_or(0);
                    if block == 0 {
                        return Err(ParseError::new(ev.offset() as usize, "stray syscall exit"));
                    }
                    if ts < block {
                        return Err(ParseError::time_order(ev.offset()));
                    }
                    ev.ts = ts;
                }
                _ => {}
            }
        }
        // Usually still sorted (only syscall exits move); the stable sort would
        // allocate half the events again.
        if !events.is_sorted_by_key(|e| e.ts) {
            events.sort_by_key(|e| e.ts);
        }
        Ok(events)
    }

    /// Go's `collectBatchesAndCPUSamples`: a first pass that records where batches
    /// are and parses CPU samples.
    fn collect_batches_and_cpu_samples(&mut self) -> Result<(), ParseError> {
        let mut raw = RawEvent::default();
        let mut cur_p: i32 = 0;
        loop {
            match self.read_raw_event(SKIP_ARGS | SKIP_STRINGS, &mut raw) {
                Err(RawErr::Eof) => break,
                Err(RawErr::Err(e)) => return Err(e),
                Ok(()) => {}
            }
            if raw.typ == ev::NONE {
                continue;
            }
            if raw.typ == ev::BATCH {
                self.batch_offsets
                    .entry(raw.batch_pid)
                    .or_default()
                    .0
                    .push(BatchOffset {
                        offset: raw.batch_offset,
                        num_events: 0,
                    });
                cur_p = raw.batch_pid;
            }
            match self
                .batch_offsets
                .get_mut(&cur_p)
                .and_then(|b| b.0.last_mut())
            {
                Some(last) => last.num_events += 1,
                None => {
                    return Err(ParseError::new(
                        raw.off,
                        format!(
                            "read event {} with current P of {cur_p}, but P has no batches yet",
                            raw.typ
                        ),
                    ));
                }
            }
            if raw.typ == ev::CPU_SAMPLE {
                let narg = raw.arg_num();
                if raw.args.len() != narg {
                    return Err(ParseError::new(
                        raw.off,
                        format!(
                            "CPU sample has wrong number of arguments: want {narg}, got {}",
                            raw.args.len()
                        ),
                    ));
                }
                let mut e = Event {
                    typ: raw.typ,
                    ..Event::default()
                };
                for i in 1..narg {
                    if i == narg - 1 {
                        e.stk_id = raw.args[i] as u32;
                    } else {
                        e.args[i - 1] = raw.args[i];
                    }
                }
                e.ts = e.args[0] as Timestamp;
                e.p = e.args[1] as i32;
                e.g = e.args[2];
                e.args[0] = 0;
                e.set_offset(raw.off);
                // Kept in their own batch until the merge (far fewer than events).
                self.cpu_samples.push(e);
            }
        }
        Ok(())
    }

    fn read_byte(&mut self) -> Option<u8> {
        let b = *self.data.get(self.off)?;
        self.off += 1;
        Some(b)
    }

    fn read_full(&mut self, n: usize) -> Option<&[u8]> {
        if self.off >= self.data.len() || n > self.data.len() - self.off {
            return None;
        }
        let b = &self.data[self.off..self.off + n];
        self.off += n;
        Some(b)
    }

    fn discard(&mut self, n: u64) -> bool {
        match usize::try_from(n) {
            Ok(n) if n <= self.data.len() - self.off => {
                self.off += n;
                true
            }
            _ => false,
        }
    }

    /// Go's `readVal`: an unsigned base-128 value.
    fn read_val(&mut self) -> Option<u64> {
        let (v, n) = uvarint(&self.data[self.off..]);
        if n <= 0 {
            return None;
        }
        self.off += n as usize;
        Some(v)
    }

    fn read_str(&mut self, start: usize) -> Result<Box<[u8]>, ParseError> {
        let sz = self
            .read_val()
            .ok_or_else(|| ParseError::new(start, ERR_MALFORMED_VARINT))?;
        if sz == 0 {
            return Ok(Box::default());
        }
        if sz > 1_000_000 {
            return Err(ParseError::new(
                start,
                format!("string is too large (len={sz})"),
            ));
        }
        match self.read_full(sz as usize) {
            Some(b) => Ok(b.into()),
            None => Err(ParseError::new(
                start,
                "failed to read trace: unexpected EOF",
            )),
        }
    }

    /// Go's `readRawEvent`. The slices in `ev` are reused across calls.
    fn read_raw_event(&mut self, flags: u32, ev: &mut RawEvent) -> Result<(), RawErr> {
        // Two bits of argument count: 0-2 inline (plus the timestamp), 3 means the
        // arguments are prefixed by their length in bytes.
        const INLINE_ARGS: u8 = 3;
        let start = self.off;
        let err = |m: String| RawErr::Err(ParseError::new(start, m));
        let Some(b) = self.read_byte() else {
            return Err(RawErr::Eof);
        };
        let typ = b & 0x3f;
        let narg = (b >> 6) + 1;
        if typ == ev::NONE || typ >= ev::COUNT || DESCRIPTIONS[typ as usize].min_version > self.ver
        {
            return Err(err(format!("unknown event type {typ}")));
        }
        let malformed = || RawErr::Err(ParseError::new(start, ERR_MALFORMED_VARINT));
        match typ {
            ev::STRING => {
                if flags & SKIP_STRINGS != 0 {
                    self.read_val().ok_or_else(malformed)?;
                    let ln = self.read_val().ok_or_else(malformed)?;
                    if !self.discard(ln) {
                        return Err(err("failed to read trace: EOF".into()));
                    }
                } else {
                    let id = self.read_val().ok_or_else(malformed)?;
                    if id == 0 {
                        return Err(err("string has invalid id 0".into()));
                    }
                    // Strings are never empty, so presence is Go's `!= ""`.
                    if self.strings.contains_key(&id) {
                        return Err(err(format!("string has duplicate id {id}")));
                    }
                    let ln = self.read_val().ok_or_else(malformed)?;
                    if ln == 0 {
                        return Err(err("string has invalid length 0".into()));
                    }
                    if ln > 1_000_000 {
                        return Err(err(format!("string has too large length {ln}")));
                    }
                    let Some(buf) = self.read_full(ln as usize) else {
                        return Err(err("failed to read trace: unexpected EOF".into()));
                    };
                    let s: Box<[u8]> = buf.into();
                    self.strings.insert(id, s);
                }
                ev.typ = ev::NONE;
                ev.off = start;
                Ok(())
            }
            ev::BATCH => {
                if narg != 2 {
                    return Err(err(format!(
                        "EvBatch has wrong number of arguments: got {narg}, want 2"
                    )));
                }
                let pid = self.read_val().ok_or_else(malformed)?;
                if pid != u64::MAX && pid > i32::MAX as u64 {
                    // Go's message names MaxUint here (a slip in Go; kept).
                    return Err(err(format!(
                        "processor ID {pid} is larger than maximum of {}",
                        u64::MAX
                    )));
                }
                let pid32 = if pid == u64::MAX { -1 } else { pid as i32 };
                let v = self.read_val().ok_or_else(malformed)?;
                ev.typ = ev::BATCH;
                ev.args.clear();
                ev.args.push(pid);
                ev.args.push(v);
                ev.sargs.clear();
                ev.batch_pid = pid32;
                ev.batch_offset = start;
                ev.off = start;
                Ok(())
            }
            _ => {
                ev.typ = typ;
                ev.args.clear();
                ev.sargs.clear();
                ev.batch_pid = 0;
                ev.batch_offset = 0;
                ev.off = start;
                let arg_err = |e: &str| err(format!("failed to read event {typ} argument: {e}"));
                if narg <= INLINE_ARGS {
                    for _ in 0..narg {
                        let v = self
                            .read_val()
                            .ok_or_else(|| arg_err(ERR_MALFORMED_VARINT))?;
                        if flags & SKIP_ARGS == 0 {
                            ev.args.push(v);
                        }
                    }
                } else {
                    let v = self
                        .read_val()
                        .ok_or_else(|| arg_err(ERR_MALFORMED_VARINT))?;
                    // Go 1.19 writes at most ~128 bytes; 2048 guards against garbage.
                    const LIMIT: u64 = 2048;
                    if v > LIMIT {
                        return Err(arg_err(&format!(
                            "length-prefixed argument too big: {v} bytes, limit is {LIMIT}"
                        )));
                    }
                    if flags & SKIP_ARGS == 0 || typ == ev::CPU_SAMPLE {
                        let Some(mut buf) = self.read_full(v as usize) else {
                            return Err(err("failed to read trace: unexpected EOF".into()));
                        };
                        while !buf.is_empty() {
                            let (x, n) = uvarint(buf);
                            if n <= 0 {
                                return Err(err(ERR_MALFORMED_VARINT.into()));
                            }
                            ev.args.push(x);
                            buf = &buf[n as usize..];
                        }
                    } else if !self.discard(v) {
                        return Err(err("failed to read trace: EOF".into()));
                    }
                    if typ == ev::USER_LOG {
                        // A user log is followed by its message.
                        if flags & SKIP_ARGS == 0 {
                            let s = self.read_str(start)?;
                            ev.sargs.push(s);
                        } else {
                            let v = self.read_val().ok_or_else(malformed)?;
                            if !self.discard(v) {
                                // Go returns the bare io.EOF here, which ends the
                                // first pass early without an error.
                                return Err(RawErr::Eof);
                            }
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// Go's `loadBatch`: parse the next batch of `pid` into `events` (reused).
    fn load_batch(&mut self, pid: i32, mut events: Vec<Event>) -> Result<Vec<Event>, RawErr> {
        let Some((offsets, next)) = self.batch_offsets.get_mut(&pid) else {
            return Err(RawErr::Eof);
        };
        let Some(bo) = offsets.get(*next).copied() else {
            return Err(RawErr::Eof);
        };
        *next += 1;
        self.off = bo.offset;
        events.clear();
        // Counted from the bytes in the first pass, not claimed by the input.
        events.reserve(bo.num_events);

        let mut got_header = false;
        let mut raw = RawEvent::default();
        loop {
            match self.read_raw_event(0, &mut raw) {
                Err(RawErr::Eof) => break,
                Err(e) => return Err(e),
                Ok(()) => {}
            }
            if raw.typ == ev::NONE || raw.typ == ev::CPU_SAMPLE {
                continue;
            }
            if raw.typ == ev::BATCH {
                if got_header {
                    break;
                }
                got_header = true;
            }
            if let Some(e) = self.parse_event(&raw)? {
                events.push(e);
            }
        }
        Ok(events)
    }

    /// Go's `parseEvent`: check arguments and turn a raw event into an event; `None`
    /// for events that only update parser state.
    fn parse_event(&mut self, raw: &RawEvent) -> Result<Option<Event>, ParseError> {
        let desc = &DESCRIPTIONS[raw.typ as usize];
        let narg = raw.arg_num();
        if raw.args.len() != narg {
            return Err(ParseError::new(
                raw.off,
                format!(
                    "{} has wrong number of arguments: want {narg}, got {}",
                    desc.name,
                    raw.args.len()
                ),
            ));
        }
        match raw.typ {
            ev::BATCH => {
                self.last_gs.insert(self.last_p, self.last_g);
                if raw.args[0] != u64::MAX && raw.args[0] > i32::MAX as u64 {
                    return Err(ParseError::new(
                        raw.off,
                        format!(
                            "processor ID {} is larger than maximum of {}",
                            raw.args[0],
                            i32::MAX
                        ),
                    ));
                }
                self.last_p = if raw.args[0] == u64::MAX {
                    -1
                } else {
                    raw.args[0] as i32
                };
                self.last_g = self.last_gs.get(&self.last_p).copied().unwrap_or(0);
                self.last_ts = raw.args[1] as Timestamp;
            }
            ev::FREQUENCY => {
                self.ticks_per_sec = raw.args[0] as i64;
                if self.ticks_per_sec <= 0 {
                    // Most likely tick skew between CPUs.
                    return Err(ParseError::time_order(raw.off as u64));
                }
            }
            ev::TIMER_GOROUTINE => {
                self.timer_goids.insert(raw.args[0]);
            }
            ev::STACK => {
                if raw.args.len() < 2 {
                    return Err(ParseError::new(
                        raw.off,
                        format!(
                            "EvStack has wrong number of arguments: want at least 2, got {}",
                            raw.args.len()
                        ),
                    ));
                }
                let size = raw.args[1];
                if size > 1000 {
                    return Err(ParseError::new(
                        raw.off,
                        format!("EvStack has bad number of frames: {size}"),
                    ));
                }
                let want = 2 + 4 * size;
                if raw.args.len() as u64 != want {
                    return Err(ParseError::new(
                        raw.off,
                        format!(
                            "EvStack has wrong number of arguments: want {want}, got {}",
                            raw.args.len()
                        ),
                    ));
                }
                let id = raw.args[0] as u32;
                if id != 0 && size > 0 {
                    let size = size as usize;
                    let mut stk = Vec::with_capacity(size);
                    for i in 0..size {
                        let pc = raw.args[2 + i * 4];
                        let func = raw.args[2 + i * 4 + 1];
                        let file = raw.args[2 + i * 4 + 2];
                        let line = raw.args[2 + i * 4 + 3];
                        stk.push(pc);
                        self.pcs.entry(pc).or_insert(Frame {
                            pc,
                            func,
                            file,
                            line,
                        });
                    }
                    self.stacks.insert(id, stk.into_boxed_slice());
                }
            }
            ev::CPU_SAMPLE => {
                // Parsed in the first pass; not part of the batch.
            }
            _ => {
                let mut ev = Event {
                    typ: raw.typ,
                    p: self.last_p,
                    g: self.last_g,
                    ..Event::default()
                };
                ev.set_offset(raw.off);
                ev.ts = self.last_ts.wrapping_add(raw.args[0] as Timestamp);
                self.last_ts = ev.ts;
                for i in 1..narg {
                    if i == narg - 1 && desc.stack {
                        ev.stk_id = raw.args[i] as u32;
                    } else {
                        ev.args[i - 1] = raw.args[i];
                    }
                }
                match raw.typ {
                    ev::GO_START | ev::GO_START_LOCAL | ev::GO_START_LABEL => {
                        self.last_g = ev.args[0];
                        ev.g = self.last_g;
                    }
                    ev::GO_END
                    | ev::GO_STOP
                    | ev::GO_SCHED
                    | ev::GO_PREEMPT
                    | ev::GO_SLEEP
                    | ev::GO_BLOCK
                    | ev::GO_BLOCK_SEND
                    | ev::GO_BLOCK_RECV
                    | ev::GO_BLOCK_SELECT
                    | ev::GO_BLOCK_SYNC
                    | ev::GO_BLOCK_COND
                    | ev::GO_BLOCK_NET
                    | ev::GO_SYS_BLOCK
                    | ev::GO_BLOCK_GC => {
                        self.last_g = 0;
                    }
                    ev::GO_SYS_EXIT | ev::GO_WAITING | ev::GO_IN_SYSCALL => {
                        ev.g = ev.args[0];
                    }
                    ev::USER_LOG => {
                        // args: task, key string, stack; the message is inline. Map it
                        // to an index into inline_strings.
                        let Some(msg) = raw.sargs.first() else {
                            return Err(ParseError::new(raw.off, "user log without message"));
                        };
                        let id = match self.inline_strings_mapping.get(msg) {
                            Some(&id) => id,
                            None => {
                                let id = self.inline_strings.len();
                                self.inline_strings_mapping.insert(msg.clone(), id);
                                self.inline_strings.push(msg.clone());
                                id
                            }
                        };
                        ev.args[3] = id as u64;
                    }
                    _ => {}
                }
                return Ok(Some(ev));
            }
        }
        Ok(None)
    }

    /// Go's `postProcessTrace`: check the events are consistent (a P runs one G at a
    /// time, a G is blocked before it is unblocked, ...) and restore some details.
    fn post_process_trace(&self, events: &mut [Event]) -> Result<(), ParseError> {
        const G_DEAD: u8 = 0;
        const G_RUNNABLE: u8 = 1;
        const G_RUNNING: u8 = 2;
        const G_WAITING: u8 = 3;
        // Pointers in Go; indices into `events` here.
        #[derive(Clone, Copy, Default)]
        struct GDesc {
            state: u8,
            ev: Option<usize>,
            ev_start: Option<usize>,
            ev_create: Option<usize>,
            ev_mark_assist: Option<usize>,
        }
        #[derive(Clone, Copy, Default)]
        struct PDesc {
            running: bool,
            g: u64,
            ev_sweep: Option<usize>,
        }
        let mut gs: HashMap<u64, GDesc> = HashMap::default();
        let mut ps: HashMap<i32, PDesc> = HashMap::default();
        let mut tasks: HashMap<u64, usize> = HashMap::default();
        let mut active_regions: HashMap<u64, Vec<usize>> = HashMap::default();
        gs.insert(
            0,
            GDesc {
                state: G_RUNNING,
                ..GDesc::default()
            },
        );
        let mut ev_gc: Option<usize> = None;
        let mut ev_stw: Option<usize> = None;

        let check_running = |p: &PDesc, g: &GDesc, ev: &Event, allow_g0: bool| {
            let name = DESCRIPTIONS[ev.typ as usize].name;
            if g.state != G_RUNNING {
                return Err(format!(
                    "g {} is not running while {name} (time {})",
                    ev.g, ev.ts
                ));
            }
            if p.g != ev.g {
                return Err(format!(
                    "p {} is not running g {} while {name} (time {})",
                    ev.p, ev.g, ev.ts
                ));
            }
            if !allow_g0 && ev.g == 0 {
                return Err(format!("g 0 did {name} (time {})", ev.ts));
            }
            Ok(())
        };

        for idx in 0..events.len() {
            let ev = events[idx];
            let fail = |m: String| ParseError::new(ev.offset() as usize, m);
            let g_of = |gs: &HashMap<u64, GDesc>, id: u64| gs.get(&id).copied().unwrap_or_default();
            let p_of = |ps: &HashMap<i32, PDesc>, id: i32| ps.get(&id).copied().unwrap_or_default();
            match ev.typ {
                ev::PROC_START => {
                    let mut p = p_of(&ps, ev.p);
                    if p.running {
                        return Err(fail(format!(
                            "p {} is running before start (time {})",
                            ev.p, ev.ts
                        )));
                    }
                    p.running = true;
                    ps.insert(ev.p, p);
                }
                ev::PROC_STOP => {
                    let mut p = p_of(&ps, ev.p);
                    if !p.running {
                        return Err(fail(format!(
                            "p {} is not running before stop (time {})",
                            ev.p, ev.ts
                        )));
                    }
                    if p.g != 0 {
                        return Err(fail(format!(
                            "p {} is running a goroutine {} during stop (time {})",
                            ev.p, p.g, ev.ts
                        )));
                    }
                    p.running = false;
                    ps.insert(ev.p, p);
                }
                ev::GC_START => {
                    if ev_gc.is_some() {
                        return Err(fail(format!(
                            "previous GC is not ended before a new one (time {})",
                            ev.ts
                        )));
                    }
                    ev_gc = Some(idx);
                    // Attribute to the global GC state.
                    events[idx].p = GC_P;
                }
                ev::GC_DONE => {
                    if ev_gc.is_none() {
                        return Err(fail(format!("bogus GC end (time {})", ev.ts)));
                    }
                    ev_gc = None;
                }
                ev::STW_START => {
                    if ev_stw.is_some() {
                        return Err(fail(format!(
                            "previous STW is not ended before a new one (time {})",
                            ev.ts
                        )));
                    }
                    ev_stw = Some(idx);
                }
                ev::STW_DONE => {
                    if ev_stw.is_none() {
                        return Err(fail(format!("bogus STW end (time {})", ev.ts)));
                    }
                    ev_stw = None;
                }
                ev::GC_SWEEP_START => {
                    let mut p = p_of(&ps, ev.p);
                    if p.ev_sweep.is_some() {
                        return Err(fail(format!(
                            "previous sweeping is not ended before a new one (time {})",
                            ev.ts
                        )));
                    }
                    p.ev_sweep = Some(idx);
                    ps.insert(ev.p, p);
                }
                ev::GC_MARK_ASSIST_START => {
                    let mut g = g_of(&gs, ev.g);
                    if g.ev_mark_assist.is_some() {
                        return Err(fail(format!(
                            "previous mark assist is not ended before a new one (time {})",
                            ev.ts
                        )));
                    }
                    g.ev_mark_assist = Some(idx);
                    gs.insert(ev.g, g);
                }
                ev::GC_MARK_ASSIST_DONE => {
                    // Assists can be in progress when tracing starts: no error. Go
                    // still stores the (possibly new) entry, which matters below.
                    let mut g = g_of(&gs, ev.g);
                    g.ev_mark_assist = None;
                    gs.insert(ev.g, g);
                }
                ev::GC_SWEEP_DONE => {
                    let mut p = p_of(&ps, ev.p);
                    if p.ev_sweep.is_none() {
                        return Err(fail(format!("bogus sweeping end (time {})", ev.ts)));
                    }
                    p.ev_sweep = None;
                    ps.insert(ev.p, p);
                }
                ev::GO_WAITING | ev::GO_IN_SYSCALL => {
                    let mut g = g_of(&gs, ev.g);
                    if g.state != G_RUNNABLE {
                        let what = if ev.typ == ev::GO_WAITING {
                            "EvGoWaiting"
                        } else {
                            "EvGoInSyscall"
                        };
                        return Err(fail(format!(
                            "g {} is not runnable before {what} (time {})",
                            ev.g, ev.ts
                        )));
                    }
                    g.state = G_WAITING;
                    g.ev = Some(idx);
                    gs.insert(ev.g, g);
                }
                ev::GO_CREATE => {
                    let g = g_of(&gs, ev.g);
                    let p = p_of(&ps, ev.p);
                    check_running(&p, &g, &ev, true).map_err(fail)?;
                    if gs.contains_key(&ev.args[0]) {
                        return Err(fail(format!(
                            "g {} already exists (time {})",
                            ev.args[0], ev.ts
                        )));
                    }
                    gs.insert(
                        ev.args[0],
                        GDesc {
                            state: G_RUNNABLE,
                            ev: Some(idx),
                            ev_create: Some(idx),
                            ..GDesc::default()
                        },
                    );
                }
                ev::GO_START | ev::GO_START_LABEL => {
                    let mut g = g_of(&gs, ev.g);
                    let mut p = p_of(&ps, ev.p);
                    if g.state != G_RUNNABLE {
                        return Err(fail(format!(
                            "g {} is not runnable before start (time {})",
                            ev.g, ev.ts
                        )));
                    }
                    if p.g != 0 {
                        return Err(fail(format!(
                            "p {} is already running g {} while start g {} (time {})",
                            ev.p, p.g, ev.g, ev.ts
                        )));
                    }
                    g.state = G_RUNNING;
                    g.ev_start = Some(idx);
                    p.g = ev.g;
                    if let Some(c) = g.ev_create.take() {
                        // The goroutine's start stack is its creation's new stack.
                        events[idx].stk_id = events[c].args[1] as u32;
                    }
                    g.ev = None;
                    gs.insert(ev.g, g);
                    ps.insert(ev.p, p);
                }
                ev::GO_END | ev::GO_STOP => {
                    let mut g = g_of(&gs, ev.g);
                    let mut p = p_of(&ps, ev.p);
                    check_running(&p, &g, &ev, false).map_err(fail)?;
                    g.ev_start = None;
                    g.state = G_DEAD;
                    p.g = 0;
                    if ev.typ == ev::GO_END {
                        // Flush all active regions.
                        active_regions.remove(&ev.g);
                    }
                    gs.insert(ev.g, g);
                    ps.insert(ev.p, p);
                }
                ev::GO_SCHED | ev::GO_PREEMPT => {
                    let mut g = g_of(&gs, ev.g);
                    let mut p = p_of(&ps, ev.p);
                    check_running(&p, &g, &ev, false).map_err(fail)?;
                    g.state = G_RUNNABLE;
                    g.ev_start = None;
                    p.g = 0;
                    g.ev = Some(idx);
                    gs.insert(ev.g, g);
                    ps.insert(ev.p, p);
                }
                ev::GO_UNBLOCK => {
                    let g = g_of(&gs, ev.g);
                    let p = p_of(&ps, ev.p);
                    if g.state != G_RUNNING {
                        return Err(fail(format!(
                            "g {} is not running while unpark (time {})",
                            ev.g, ev.ts
                        )));
                    }
                    if ev.p != TIMER_P && p.g != ev.g {
                        return Err(fail(format!(
                            "p {} is not running g {} while unpark (time {})",
                            ev.p, ev.g, ev.ts
                        )));
                    }
                    let mut g1 = g_of(&gs, ev.args[0]);
                    if g1.state != G_WAITING {
                        return Err(fail(format!(
                            "g {} is not waiting before unpark (time {})",
                            ev.args[0], ev.ts
                        )));
                    }
                    if g1.ev.is_some_and(|e| events[e].typ == ev::GO_BLOCK_NET) {
                        events[idx].p = NETPOLL_P;
                    }
                    g1.state = G_RUNNABLE;
                    g1.ev = Some(idx);
                    gs.insert(ev.args[0], g1);
                }
                ev::GO_SYS_CALL => {
                    let mut g = g_of(&gs, ev.g);
                    let p = p_of(&ps, ev.p);
                    check_running(&p, &g, &ev, false).map_err(fail)?;
                    g.ev = Some(idx);
                    gs.insert(ev.g, g);
                }
                ev::GO_SYS_BLOCK => {
                    let mut g = g_of(&gs, ev.g);
                    let mut p = p_of(&ps, ev.p);
                    check_running(&p, &g, &ev, false).map_err(fail)?;
                    g.state = G_WAITING;
                    g.ev_start = None;
                    p.g = 0;
                    gs.insert(ev.g, g);
                    ps.insert(ev.p, p);
                }
                ev::GO_SYS_EXIT => {
                    let mut g = g_of(&gs, ev.g);
                    if g.state != G_WAITING {
                        return Err(fail(format!(
                            "g {} is not waiting during syscall exit (time {})",
                            ev.g, ev.ts
                        )));
                    }
                    g.state = G_RUNNABLE;
                    g.ev = Some(idx);
                    gs.insert(ev.g, g);
                }
                ev::GO_SLEEP
                | ev::GO_BLOCK
                | ev::GO_BLOCK_SEND
                | ev::GO_BLOCK_RECV
                | ev::GO_BLOCK_SELECT
                | ev::GO_BLOCK_SYNC
                | ev::GO_BLOCK_COND
                | ev::GO_BLOCK_NET
                | ev::GO_BLOCK_GC => {
                    let mut g = g_of(&gs, ev.g);
                    let mut p = p_of(&ps, ev.p);
                    check_running(&p, &g, &ev, false).map_err(fail)?;
                    g.state = G_WAITING;
                    g.ev = Some(idx);
                    g.ev_start = None;
                    p.g = 0;
                    gs.insert(ev.g, g);
                    ps.insert(ev.p, p);
                }
                ev::USER_TASK_CREATE => {
                    let task_id = ev.args[0];
                    if let Some(&prev) = tasks.get(&task_id) {
                        return Err(fail(format!(
                            "task id conflicts (id:{task_id}), {} vs {}",
                            crate::goutil::quote(event_string(&ev).as_bytes()),
                            crate::goutil::quote(event_string(&events[prev]).as_bytes())
                        )));
                    }
                    tasks.insert(task_id, idx);
                }
                ev::USER_TASK_END => {
                    tasks.remove(&ev.args[0]);
                }
                ev::USER_REGION => {
                    let mode = ev.args[1];
                    if mode == 0 {
                        active_regions.entry(ev.g).or_default().push(idx);
                    } else if mode == 1 {
                        if let Some(regions) = active_regions.get_mut(&ev.g)
                            && let Some(&s) = regions.last()
                        {
                            let s = events[s];
                            if s.args[0] != ev.args[0] || s.args[2] != ev.args[2] {
                                return Err(fail(format!(
                                    "misuse of region in goroutine {}: span end {} when the inner-most active span start event is {}",
                                    ev.g,
                                    crate::goutil::quote(event_string(&ev).as_bytes()),
                                    crate::goutil::quote(event_string(&s).as_bytes())
                                )));
                            }
                            regions.pop();
                            if regions.is_empty() {
                                active_regions.remove(&ev.g);
                            }
                        }
                    } else {
                        return Err(fail(format!(
                            "invalid user region mode: {}",
                            crate::goutil::quote(event_string(&ev).as_bytes())
                        )));
                    }
                }
                _ => {}
            }
            let e = &mut events[idx];
            if e.stk_id != 0 && self.stacks.get(&e.stk_id).is_none_or(|s| s.is_empty()) {
                // No references to missing or empty stacks.
                e.stk_id = 0;
            }
        }
        Ok(())
    }
}

/// Go's `tracev1.Event.String`.
pub fn event_string(ev: &Event) -> String {
    use std::fmt::Write;
    let desc = desc(ev.typ).unwrap_or(&DESCRIPTIONS[0]);
    let mut s = format!(
        "{} {} p={} g={} stk={}",
        ev.ts, desc.name, ev.p, ev.g, ev.stk_id
    );
    for (i, a) in desc.args.iter().enumerate() {
        let _ = write!(s, " {a}={}", ev.args[i]);
    }
    s
}

/// STW reasons (Go's `tracev1.STWReason`).
pub const NUM_STW_REASONS: u64 = 17;

/// Go's `Trace.STWReason`: the reason index (0 = unknown) for an STW kind id.
pub fn stw_reason(version: u32, kind_id: u64) -> u64 {
    if version < 21 {
        if kind_id == 0 || kind_id == 1 {
            kind_id + 1
        } else {
            0
        }
    } else if version == 21 {
        if kind_id < NUM_STW_REASONS {
            kind_id
        } else {
            0
        }
    } else {
        0
    }
}
