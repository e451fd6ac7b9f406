//! Blocking profiles from an execution trace, as `go tool trace -pprof=net|sync|syscall|sched`
//! computes them (Go's `cmd/trace/pprof.go`, `makeComputePprofFunc` over
//! `pprofByGoroutine` with no name filter):
//!
//! - a goroutine starts being tracked at a transition *into* the profiled state (for
//!   `net`/`sync` only when the block reason matches), keyed by the stack of that event;
//! - it stops at the first transition into another state; the interval, clipped to the
//!   goroutine's lifetime `[first start running, end or trace end]` (Go's
//!   `pprofOverlappingDuration`), adds one contention and its duration when positive.
//!
//! Streaming: events are observed one at a time. An interval can be clipped only once
//! the goroutine's lifetime is known; intervals of goroutines that have not run yet are
//! held until they first run (then they cannot overlap and are dropped) or the trace ends.

use crate::trace::goroutine_transition;
use gorx_trace::EventKind;
use gorx_trace::event::{Event, GoId, GoState, Time};
use gorx_trace::goutil::FxHashMap;
use std::collections::HashMap;

/// Go's `pprofMaxStack`: stacks are cut (and deduplicated) at this depth.
pub const MAX_STACK_FRAMES: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PprofKind {
    /// Blocked on the network poller (reason "network").
    Net,
    /// Blocked on channels, select, sync primitives (reason contains chan/sync/select).
    Sync,
    /// In a syscall.
    Syscall,
    /// Runnable, waiting for a P (scheduler latency).
    Sched,
}

impl PprofKind {
    pub fn parse(s: &str) -> Option<PprofKind> {
        Some(match s {
            "net" => PprofKind::Net,
            "sync" => PprofKind::Sync,
            "syscall" => PprofKind::Syscall,
            "sched" => PprofKind::Sched,
            _ => return None,
        })
    }
    fn state(self) -> GoState {
        match self {
            PprofKind::Net | PprofKind::Sync => GoState::Waiting,
            PprofKind::Syscall => GoState::Syscall,
            PprofKind::Sched => GoState::Runnable,
        }
    }
    fn tracks(self, reason: &[u8]) -> bool {
        // A byte loop: slice equality calls memcmp per window, which was most of a
        // `sync` profile's time.
        let has = |n: &[u8]| {
            reason
                .windows(n.len())
                .any(|w| w.iter().zip(n).all(|(a, b)| a == b))
        };
        match self {
            PprofKind::Net => reason == b"network",
            PprofKind::Sync => has(b"chan") || has(b"sync") || has(b"select"),
            PprofKind::Syscall | PprofKind::Sched => true,
        }
    }
}

/// One resolved frame of a profiled stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PprofFrame {
    pub pc: u64,
    pub func: String,
    pub file: String,
    pub line: u64,
}

/// Contentions and total delay at one stack.
#[derive(Debug, Clone)]
pub struct StackRecord {
    /// Leaf first, at most [`MAX_STACK_FRAMES`].
    pub frames: Vec<PprofFrame>,
    pub count: u64,
    pub delay_ns: i64,
    /// Frames of the stack Go shows for this key: the one of the last interval recorded
    /// (stacks differing only in trailing zero PCs share a key).
    shown: usize,
}

/// Lifetime of a goroutine as Go's goroutine summary sees it.
#[derive(Debug, Default, Clone, Copy)]
struct Life {
    /// First transition to running; 0 while it has not run (Go's `StartTime`).
    start: Time,
    /// Last exit (to NotExist, or waiting "forever"); 0 while not ended.
    end: Time,
}

/// Streaming computation of one blocking profile.
#[derive(Debug)]
pub struct TracePprof {
    kind: PprofKind,
    records: Vec<StackRecord>,
    by_pcs: HashMap<Vec<u64>, usize>,
    /// `record_for` of each stack id of the current generation (ids are per generation:
    /// cleared at each Sync event and whenever the event's table changes), so a stack's
    /// PCs are hashed once per generation, not once per event.
    by_stack: crate::trace_names::PerGeneration<u64, (usize, usize)>,
    /// Goroutines being tracked: when they entered the state, and the record of its stack.
    tracking: FxHashMap<GoId, (Time, usize, usize)>,
    lives: FxHashMap<GoId, Life>,
    /// Intervals (record, from, to) whose clipping waits for the goroutine's lifetime.
    pending: FxHashMap<GoId, Vec<(usize, usize, Time, Time)>>,
    last_ns: Time,
}

impl TracePprof {
    pub fn new(kind: PprofKind) -> Self {
        TracePprof {
            kind,
            records: Vec::new(),
            by_pcs: HashMap::new(),
            by_stack: Default::default(),
            tracking: FxHashMap::default(),
            lives: FxHashMap::default(),
            pending: FxHashMap::default(),
            last_ns: 0,
        }
    }

    pub fn observe(&mut self, ev: &Event) {
        self.last_ns = ev.time();
        if ev.kind() == EventKind::Sync {
            self.by_stack.new_generation();
        }
        let Some((id, old, new, st)) = goroutine_transition(ev) else {
            return;
        };
        let t = ev.time();
        self.summarize(id, old, new, st.reason, t);

        let state = self.kind.state();
        match self.tracking.get(&id).copied() {
            None => {
                if new == state && self.kind.tracks(st.reason) {
                    let (rec, n) = self.record_for(ev);
                    self.tracking.insert(id, (t, rec, n));
                }
            }
            Some(_) if new == state => {}
            Some((from, rec, n)) => {
                self.tracking.remove(&id);
                self.interval(id, rec, n, from, t);
            }
        }
    }

    /// Go's goroutine summary, reduced to what the clipping needs.
    fn summarize(&mut self, id: GoId, old: GoState, new: GoState, reason: &[u8], t: Time) {
        if old == new {
            return;
        }
        if matches!(old, GoState::Undetermined | GoState::NotExist) {
            // Go starts a fresh summary here.
            self.lives.insert(id, Life::default());
        }
        let life = self.lives.entry(id).or_default();
        match new {
            GoState::Running if life.start == 0 => {
                life.start = t;
                // Earlier intervals end at or before its first start: no overlap.
                self.pending.remove(&id);
            }
            GoState::Waiting if reason == b"forever" => life.end = t,
            GoState::NotExist => life.end = t,
            _ => {}
        }
    }

    fn interval(&mut self, id: GoId, rec: usize, n: usize, from: Time, to: Time) {
        let life = self.lives.get(&id).copied().unwrap_or_default();
        if life.start != 0 && life.end == 0 {
            // Lifetime is [start, a time at or after `to`]: the clip is final now.
            let d = overlap(life.start, Time::MAX, from, to);
            self.add(rec, n, d);
        } else {
            self.pending.entry(id).or_default().push((rec, n, from, to));
        }
    }

    fn add(&mut self, rec: usize, n: usize, d: i64) {
        if d > 0 {
            let r = &mut self.records[rec];
            r.shown = n;
            r.count += 1;
            r.delay_ns = r.delay_ns.saturating_add(d);
        }
    }

    /// The record for the stack of `ev` itself (Go's `Event.Stack()`), by its PCs.
    fn record_for(&mut self, ev: &Event) -> (usize, usize) {
        // Once a stack id was seen, its record already holds frames at least as long as
        // this stack's (frames only grow), so the result is the same.
        let stack = ev.stack();
        if let Some(id) = stack
            && let Some(&known) = self.by_stack.of(ev.table()).get(&id)
        {
            return known;
        }
        let found = self.record_for_pcs(ev);
        if let Some(id) = stack {
            self.by_stack.of(ev.table()).insert(id, found);
        }
        found
    }

    fn record_for_pcs(&mut self, ev: &Event) -> (usize, usize) {
        let pcs: &[u64] = match (ev.stack(), ev.table()) {
            (Some(id), Some(t)) => t.stack_pcs(id),
            _ => &[],
        };
        let raw = &pcs[..pcs.len().min(MAX_STACK_FRAMES)];
        // Go keys stacks by a zero-padded PC array, so trailing zero PCs do not count
        // (a stack of one zero PC is the same as no stack), and it keeps the frames of
        // the newest stack seen for a key.
        let key_len = raw.iter().rposition(|&pc| pc != 0).map_or(0, |i| i + 1);
        let key = &raw[..key_len];
        if let Some(&i) = self.by_pcs.get(key) {
            // Keep the longest variant; shorter ones are its prefixes.
            if self.records[i].frames.len() < raw.len() {
                self.records[i].frames = Self::frames_of(ev);
            }
            return (i, raw.len());
        }
        let frames = Self::frames_of(ev);
        let i = self.records.len();
        self.records.push(StackRecord {
            frames,
            count: 0,
            delay_ns: 0,
            shown: 0,
        });
        self.by_pcs.insert(key.to_vec(), i);
        (i, raw.len())
    }

    fn frames_of(ev: &Event) -> Vec<PprofFrame> {
        ev.frames(ev.stack())
            .into_iter()
            .take(MAX_STACK_FRAMES)
            .map(|f| PprofFrame {
                pc: f.pc,
                func: String::from_utf8_lossy(f.func).into_owned(),
                file: String::from_utf8_lossy(f.file).into_owned(),
                line: f.line,
            })
            .collect()
    }

    /// The records with at least one contention. Intervals still open at the end of the
    /// trace are not counted (as in Go).
    pub fn finish(mut self) -> Vec<StackRecord> {
        let trace_end = self.last_ns;
        for (id, ivs) in std::mem::take(&mut self.pending) {
            let life = self.lives.get(&id).copied().unwrap_or_default();
            let end = if life.end == 0 { trace_end } else { life.end };
            for (rec, n, from, to) in ivs {
                let d = overlap(life.start, end, from, to);
                self.add(rec, n, d);
            }
        }
        self.records.retain(|r| r.count > 0);
        for r in &mut self.records {
            r.frames.truncate(r.shown);
        }
        self.records
    }
}

/// Go's `interval.overlap` of the goroutine's `[s1, e1]` and the sample's `[s2, e2]`.
fn overlap(s1: Time, e1: Time, s2: Time, e2: Time) -> i64 {
    if e1 < s2 || e2 < s1 {
        return 0;
    }
    e1.min(e2).saturating_sub(s1.max(s2))
}

/// The profile as `go tool trace -pprof=` writes it (Go's `traceviewer.BuildProfile`):
/// sample types contentions/count and delay/nanoseconds, period trace/count 1, one
/// location per PC and one function per file+name, gzipped.
pub fn build_pprof(records: &[StackRecord]) -> Vec<u8> {
    use gorx_formats::pprof::encode::ProfileBuilder;
    let mut b = ProfileBuilder::new();
    b.sample_type("contentions", "count")
        .sample_type("delay", "nanoseconds")
        .period("trace", "count", 1);
    let mut locs: HashMap<u64, u64> = HashMap::new();
    let mut funcs: HashMap<String, u64> = HashMap::new();
    let mut ids = Vec::new();
    for r in records {
        ids.clear();
        for f in &r.frames {
            let loc = match locs.get(&f.pc) {
                Some(&l) => l,
                None => {
                    // Go keys functions by File+Func concatenated.
                    let key = format!("{}{}", f.file, f.func);
                    let fid = match funcs.get(&key) {
                        Some(&x) => x,
                        None => {
                            let x = b.add_function(&f.func, &f.func, &f.file);
                            funcs.insert(key, x);
                            x
                        }
                    };
                    let l = b.add_location(f.pc, fid, f.line as i64);
                    locs.insert(f.pc, l);
                    l
                }
            };
            ids.push(loc);
        }
        b.add_sample(&ids, &[r.count as i64, r.delay_ns]);
    }
    b.encode_gzip()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_matches_go() {
        assert_eq!(overlap(10, 20, 0, 5), 0);
        assert_eq!(overlap(10, 20, 0, 15), 5);
        assert_eq!(overlap(10, 20, 12, 30), 8);
        assert_eq!(overlap(0, 100, 12, 30), 18);
        assert_eq!(overlap(10, 20, 0, 10), 0);
    }

    #[test]
    fn reasons() {
        assert!(PprofKind::Sync.tracks(b"chan receive"));
        assert!(PprofKind::Sync.tracks(b"sync.(*Cond).Wait"));
        assert!(PprofKind::Sync.tracks(b"select"));
        assert!(!PprofKind::Sync.tracks(b"network"));
        assert!(PprofKind::Net.tracks(b"network"));
        assert!(!PprofKind::Net.tracks(b"sleep"));
        assert_eq!(PprofKind::parse("sched"), Some(PprofKind::Sched));
        assert_eq!(PprofKind::parse("cpu"), None);
    }
}
