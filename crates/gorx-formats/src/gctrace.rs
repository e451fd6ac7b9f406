//! `GODEBUG=gctrace=1` lines, as printed by `gcMarkTermination` in runtime/mgc.go:
//!
//! ```text
//! gc 14 @0.094s 2%: 0.10+0.27+0.001 ms clock, 0.21+0/0.099/0.10+0.003 ms cpu, 33->33->15 MB, 66 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)
//! ```
//!
//! Go 1.18+ prints `stacks` and `globals`; older lines lack them (both accepted). Go 1.26+
//! may print ` (checking for goroutine leaks)` after the percentage.
//!
//! Lines are found anywhere in a log: after timestamps, pod names, klog/logfmt prefixes,
//! inside docker JSON (`{"log":"gc 1 @...\n",...}`) or CRI (`... stderr F gc 1 ...`) records.
//! A line "claims" to be gctrace when it contains `gc <digits> @` at a word boundary; a
//! claiming line that does not parse is recorded in [`GcTrace::malformed`] with its line
//! number rather than failing the whole log: logs are shared by many writers and a torn
//! line must not hide the thousands of good ones around it.
//!
//! Several processes in one log (restarts, merged pods, interleaved lines) become
//! separate [`GcRun`]s: by the collector identity on each line and by following each
//! gc counter, see [`runs`].

use crate::error::{FormatError, Result};
use std::io::BufRead;

pub mod runs;
mod scan;

/// One GC cycle, as its gctrace line reports it. Times in nanoseconds, sizes in bytes.
///
/// Heap sizes are printed by the runtime in whole MiB, truncated (`x>>20`), so each
/// `_bytes` value is a lower bound within 1 MiB of the true value.
///
/// Stored packed (88 bytes, against 168 for [`GcCycleFields`]): a 1 GB log holds ~5 M
/// cycles, and writing them to fresh memory cost more than parsing their lines. Nothing
/// is lost: the runtime prints times with at most microsecond precision below 10 ms and
/// in whole milliseconds above (`fmtNSAsMS`), which [`Duration32`] holds exactly. Read
/// it through the accessors, or [`GcCycle::fields`] for a plain struct.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct GcCycle {
    offset: u64,
    at_ns: u64,
    /// Clock: sweep termination, mark, mark termination; CPU: sweep termination, assist,
    /// background mark, idle mark, mark termination.
    times: [Duration32; 8],
    /// At cycle start, at mark end, live (marked), goal.
    heap_mib: [u32; 4],
    /// [`NO_MIB`] before Go 1.18.
    stacks_mib: u32,
    globals_mib: u32,
    n: u32,
    procs: u32,
    cumulative_cpu_percent: u32,
    flags: u8,
}

// The point of the packing; a new field should not undo it unnoticed.
const _: () = assert!(std::mem::size_of::<GcCycle>() == 88);

/// `stacks_mib`/`globals_mib` of a line without them (Go < 1.18).
const NO_MIB: u32 = u32::MAX;
const FORCED: u8 = 1;
const LEAK_CHECK: u8 = 2;

/// A duration in 32 bits, exact for what gctrace prints: the top two bits pick the unit
/// (ns, µs, ms, s), the low 30 the count. Any value below 1.07 s is stored in ns, below
/// 17.9 min to the microsecond, below 12.4 days to the millisecond.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
struct Duration32(u32);

impl Duration32 {
    const UNITS: [u64; 4] = [1, 1_000, 1_000_000, 1_000_000_000];
    const COUNT: u64 = 1 << 30;

    #[inline(always)]
    fn from_ns(ns: u64) -> Option<Self> {
        if ns < Self::COUNT {
            return Some(Duration32(ns as u32));
        }
        Self::from_ns_coarse(ns)
    }
    #[cold]
    fn from_ns_coarse(ns: u64) -> Option<Self> {
        (1..4u32).find_map(|tag| {
            let unit = Self::UNITS[tag as usize];
            (ns.is_multiple_of(unit) && ns / unit < Self::COUNT)
                .then(|| Duration32(tag << 30 | (ns / unit) as u32))
        })
    }
    #[inline(always)]
    fn ns(self) -> u64 {
        u64::from(self.0 & (Self::COUNT as u32 - 1)) * Self::UNITS[(self.0 >> 30) as usize]
    }
}

/// Every field of a [`GcCycle`] as a plain struct, to read or to build one from
/// (`GcCycle::try_from(&fields)`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GcCycleFields {
    /// Byte offset of the `gc` token in the input (line numbers cost a newline count).
    pub offset: u64,
    /// The runtime's cycle number (`memstats.numgc`, a uint32).
    pub n: u64,
    /// Start of the cycle (sweep termination) since process start.
    pub at_ns: u64,
    /// The runtime's cumulative GC CPU share since process start, in percent.
    pub cumulative_cpu_percent: u32,
    /// Wall-clock phases: sweep termination (STW), concurrent mark, mark termination (STW).
    pub clock_sweep_term_ns: u64,
    pub clock_mark_ns: u64,
    pub clock_mark_term_ns: u64,
    /// CPU time: sweep termination, mark assist, background (dedicated+fractional) mark,
    /// idle mark, mark termination.
    pub cpu_sweep_term_ns: u64,
    pub cpu_assist_ns: u64,
    pub cpu_background_ns: u64,
    pub cpu_idle_ns: u64,
    pub cpu_mark_term_ns: u64,
    /// Heap at cycle start, at mark end, and live (marked) heap; whole MiB.
    pub heap_start_bytes: u64,
    pub heap_end_bytes: u64,
    pub heap_live_bytes: u64,
    pub heap_goal_bytes: u64,
    /// Scannable stack and globals size (Go 1.18+); whole MiB.
    pub stacks_bytes: Option<u64>,
    pub globals_bytes: Option<u64>,
    /// GOMAXPROCS during the cycle.
    pub procs: u32,
    /// Started by runtime.GC() / debug.FreeOSMemory(). Go ≤ 1.19 prints the line after
    /// restarting the world, so a forced cycle starting right away can mark the
    /// previous (background) cycle "(forced)" as well; MemStats.NumForcedGC is exact.
    pub forced: bool,
    /// Go 1.26+: this cycle also checked for goroutine leaks.
    pub leak_check: bool,
}

impl TryFrom<&GcCycleFields> for GcCycle {
    type Error = String;

    /// Fails for what no gctrace line can say: a counter above u32, sub-MiB heap sizes,
    /// sizes of 4 PiB and more, times finer than the runtime prints at their magnitude.
    fn try_from(f: &GcCycleFields) -> std::result::Result<Self, String> {
        let mib = |b: u64| -> std::result::Result<u32, String> {
            if !b.is_multiple_of(MIB) {
                return Err(format!("heap size {b} is not whole MiB"));
            }
            mib_u32(b / MIB)
        };
        let time = |ns: u64| {
            Duration32::from_ns(ns)
                .ok_or_else(|| format!("duration {ns} ns is finer than gctrace prints"))
        };
        Ok(GcCycle {
            offset: f.offset,
            at_ns: f.at_ns,
            times: [
                time(f.clock_sweep_term_ns)?,
                time(f.clock_mark_ns)?,
                time(f.clock_mark_term_ns)?,
                time(f.cpu_sweep_term_ns)?,
                time(f.cpu_assist_ns)?,
                time(f.cpu_background_ns)?,
                time(f.cpu_idle_ns)?,
                time(f.cpu_mark_term_ns)?,
            ],
            heap_mib: [
                mib(f.heap_start_bytes)?,
                mib(f.heap_end_bytes)?,
                mib(f.heap_live_bytes)?,
                mib(f.heap_goal_bytes)?,
            ],
            stacks_mib: f.stacks_bytes.map_or(Ok(NO_MIB), mib)?,
            globals_mib: f.globals_bytes.map_or(Ok(NO_MIB), mib)?,
            n: u32::try_from(f.n).map_err(|_| "cycle number too large")?,
            procs: f.procs,
            cumulative_cpu_percent: f.cumulative_cpu_percent,
            flags: if f.forced { FORCED } else { 0 } | if f.leak_check { LEAK_CHECK } else { 0 },
        })
    }
}

impl GcCycle {
    pub fn fields(&self) -> GcCycleFields {
        GcCycleFields {
            offset: self.offset,
            n: self.n(),
            at_ns: self.at_ns,
            cumulative_cpu_percent: self.cumulative_cpu_percent,
            clock_sweep_term_ns: self.clock_sweep_term_ns(),
            clock_mark_ns: self.clock_mark_ns(),
            clock_mark_term_ns: self.clock_mark_term_ns(),
            cpu_sweep_term_ns: self.cpu_sweep_term_ns(),
            cpu_assist_ns: self.cpu_assist_ns(),
            cpu_background_ns: self.cpu_background_ns(),
            cpu_idle_ns: self.cpu_idle_ns(),
            cpu_mark_term_ns: self.cpu_mark_term_ns(),
            heap_start_bytes: self.heap_start_bytes(),
            heap_end_bytes: self.heap_end_bytes(),
            heap_live_bytes: self.heap_live_bytes(),
            heap_goal_bytes: self.heap_goal_bytes(),
            stacks_bytes: self.stacks_bytes(),
            globals_bytes: self.globals_bytes(),
            procs: self.procs,
            forced: self.forced(),
            leak_check: self.leak_check(),
        }
    }
    /// Byte offset of the `gc` token in the input.
    pub fn offset(&self) -> u64 {
        self.offset
    }
    /// The same cycle at another offset (to compare cycles of differently wrapped logs).
    pub fn with_offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }
    /// The runtime's cycle number (`memstats.numgc`).
    pub fn n(&self) -> u64 {
        u64::from(self.n)
    }
    /// Start of the cycle (sweep termination) since process start.
    pub fn at_ns(&self) -> u64 {
        self.at_ns
    }
    /// The runtime's cumulative GC CPU share since process start, in percent.
    pub fn cumulative_cpu_percent(&self) -> u32 {
        self.cumulative_cpu_percent
    }
    /// Sweep termination, stop-the-world.
    pub fn clock_sweep_term_ns(&self) -> u64 {
        self.times[0].ns()
    }
    /// Concurrent mark, wall clock.
    pub fn clock_mark_ns(&self) -> u64 {
        self.times[1].ns()
    }
    /// Mark termination, stop-the-world.
    pub fn clock_mark_term_ns(&self) -> u64 {
        self.times[2].ns()
    }
    pub fn cpu_sweep_term_ns(&self) -> u64 {
        self.times[3].ns()
    }
    /// CPU the allocating goroutines spent in mark assists.
    pub fn cpu_assist_ns(&self) -> u64 {
        self.times[4].ns()
    }
    /// CPU of the dedicated and fractional mark workers.
    pub fn cpu_background_ns(&self) -> u64 {
        self.times[5].ns()
    }
    /// CPU of idle mark workers (otherwise idle Ps).
    pub fn cpu_idle_ns(&self) -> u64 {
        self.times[6].ns()
    }
    pub fn cpu_mark_term_ns(&self) -> u64 {
        self.times[7].ns()
    }
    pub fn heap_start_bytes(&self) -> u64 {
        u64::from(self.heap_mib[0]) * MIB
    }
    pub fn heap_end_bytes(&self) -> u64 {
        u64::from(self.heap_mib[1]) * MIB
    }
    /// Marked (live) heap at the end of the cycle.
    pub fn heap_live_bytes(&self) -> u64 {
        u64::from(self.heap_mib[2]) * MIB
    }
    pub fn heap_goal_bytes(&self) -> u64 {
        u64::from(self.heap_mib[3]) * MIB
    }
    /// Scannable stacks (Go 1.18+).
    pub fn stacks_bytes(&self) -> Option<u64> {
        (self.stacks_mib != NO_MIB).then(|| u64::from(self.stacks_mib) * MIB)
    }
    /// Scannable globals (Go 1.18+).
    pub fn globals_bytes(&self) -> Option<u64> {
        (self.globals_mib != NO_MIB).then(|| u64::from(self.globals_mib) * MIB)
    }
    /// GOMAXPROCS during the cycle.
    pub fn procs(&self) -> u32 {
        self.procs
    }
    /// Started by runtime.GC() / debug.FreeOSMemory() (see [`GcCycleFields::forced`]).
    pub fn forced(&self) -> bool {
        self.flags & FORCED != 0
    }
    /// Go 1.26+: this cycle also checked for goroutine leaks.
    pub fn leak_check(&self) -> bool {
        self.flags & LEAK_CHECK != 0
    }
    /// Stop-the-world time: sweep termination plus mark termination.
    pub fn stw_ns(&self) -> u64 {
        self.clock_sweep_term_ns() + self.clock_mark_term_ns()
    }
    /// Wall-clock duration of the whole cycle.
    pub fn wall_ns(&self) -> u64 {
        self.clock_sweep_term_ns() + self.clock_mark_ns() + self.clock_mark_term_ns()
    }
    /// GC CPU the way the runtime counts it for its own CPU share: everything but idle
    /// mark workers (which only use otherwise idle Ps).
    pub fn cpu_ns(&self) -> u64 {
        self.cpu_sweep_term_ns()
            + self.cpu_assist_ns()
            + self.cpu_background_ns()
            + self.cpu_mark_term_ns()
    }
}

impl std::fmt::Debug for GcCycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.fields().fmt(f)
    }
}

/// Consecutive cycles of one process: the counter only increases within a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcRun<'a> {
    /// 1-based line of the run's first cycle.
    pub first_line: u64,
    pub cycles: Cycles<'a>,
    /// The process identity its lines carry in a merged log (pod/container name, CRI
    /// stream, klog pid, JSON attributes; timestamps removed), space-separated; empty
    /// for bare lines. See [`runs`].
    pub source: &'a str,
}

/// A run's cycles in log order. A run that crosses the scan's chunk boundaries stays in
/// the pieces the scan wrote it to (copying the one run of a 1 GB single-process log
/// into one vector took about as long as parsing it), so this is a sequence of slices.
#[derive(Clone, Copy)]
pub struct Cycles<'a> {
    segments: &'a [Vec<GcCycle>],
    pieces: &'a [Piece],
    len: usize,
}

/// One slice of a run: `segments[segment][start..end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Piece {
    segment: usize,
    start: usize,
    end: usize,
}

impl<'a> Cycles<'a> {
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The run's storage in log order: one slice unless the run crossed chunks.
    pub fn slices(&self) -> impl DoubleEndedIterator<Item = &'a [GcCycle]> + Clone + 'a {
        let segments = self.segments;
        self.pieces
            .iter()
            .map(move |p| &segments[p.segment][p.start..p.end])
    }
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &'a GcCycle> + Clone + 'a {
        self.slices().flatten()
    }
    pub fn first(&self) -> Option<&'a GcCycle> {
        self.slices().next().and_then(<[GcCycle]>::first)
    }
    pub fn last(&self) -> Option<&'a GcCycle> {
        self.slices().next_back().and_then(<[GcCycle]>::last)
    }
    pub fn get(&self, mut i: usize) -> Option<&'a GcCycle> {
        for s in self.slices() {
            if i < s.len() {
                return Some(&s[i]);
            }
            i -= s.len();
        }
        None
    }
    /// Each cycle with the one before it, `(prev, cur)`: a slice's `windows(2)`.
    pub fn pairs(&self) -> impl Iterator<Item = (&'a GcCycle, &'a GcCycle)> + 'a {
        self.iter().zip(self.iter().skip(1))
    }
    pub fn to_vec(&self) -> Vec<GcCycle> {
        let mut v = Vec::with_capacity(self.len);
        self.slices().for_each(|s| v.extend_from_slice(s));
        v
    }
}

impl std::ops::Index<usize> for Cycles<'_> {
    type Output = GcCycle;
    fn index(&self, i: usize) -> &GcCycle {
        match self.get(i) {
            Some(c) => c,
            None => panic!("cycle {i} of a run of {}", self.len),
        }
    }
}

impl PartialEq for Cycles<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}
impl Eq for Cycles<'_> {}

impl std::fmt::Debug for Cycles<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Where a run's cycles are in [`GcTrace`]'s storage.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RunSpan {
    first_line: u64,
    source: String,
    /// Range of [`GcTrace::pieces`].
    pieces: std::ops::Range<usize>,
    len: usize,
}

/// A line that looked like gctrace but did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub line: u64,
    pub message: String,
}

/// Every cycle of a log, one run (process) after another, each run's cycles in log
/// order. Storage is a few large vectors (one per scanned chunk), so equality compares
/// runs, not how they are stored.
#[derive(Debug, Clone, Default)]
pub struct GcTrace {
    segments: Vec<Vec<GcCycle>>,
    pieces: Vec<Piece>,
    spans: Vec<RunSpan>,
    pub malformed: Vec<Malformed>,
}

impl PartialEq for GcTrace {
    fn eq(&self, other: &Self) -> bool {
        self.runs().eq(other.runs()) && self.malformed == other.malformed
    }
}
impl Eq for GcTrace {}

impl GcTrace {
    pub fn cycle_count(&self) -> usize {
        self.spans.iter().map(|s| s.len).sum()
    }
    pub fn run_count(&self) -> usize {
        self.spans.len()
    }
    pub fn run(&self, i: usize) -> Option<GcRun<'_>> {
        self.spans.get(i).map(|s| self.view(s))
    }
    pub fn runs(&self) -> impl ExactSizeIterator<Item = GcRun<'_>> + DoubleEndedIterator {
        self.spans.iter().map(|s| self.view(s))
    }
    fn view<'a>(&'a self, s: &'a RunSpan) -> GcRun<'a> {
        GcRun {
            first_line: s.first_line,
            cycles: Cycles {
                segments: &self.segments,
                pieces: &self.pieces[s.pieces.clone()],
                len: s.len,
            },
            source: &s.source,
        }
    }
    /// Appends a run (to build a trace by hand, e.g. in tests).
    pub fn push_run(&mut self, first_line: u64, source: &str, cycles: &[GcCycle]) {
        self.pieces.push(Piece {
            segment: self.segments.len(),
            start: 0,
            end: cycles.len(),
        });
        self.spans.push(RunSpan {
            first_line,
            source: source.to_string(),
            pieces: self.pieces.len() - 1..self.pieces.len(),
            len: cycles.len(),
        });
        self.segments.push(cycles.to_vec());
    }
    /// The first malformed line as an error, for callers that want strictness.
    pub fn first_error(&self, input: &str) -> Option<FormatError> {
        self.malformed
            .first()
            .map(|m| FormatError::at_line(input, m.line, m.message.clone()))
    }
}

/// Accumulates cycles into runs, one line at a time (the reader entry point; the slice
/// entry point does the same per chunk, see `scan`).
#[derive(Default)]
struct Builder {
    cycles: Vec<GcCycle>,
    layout: scan::Layout,
    malformed: Vec<Malformed>,
    asg: runs::Assigner,
    ident: Vec<u8>,
}

impl Builder {
    /// `prefix` and `suffix`: the line's bytes before the `gc` token and after the fields.
    fn push(&mut self, c: GcCycle, prefix: &[u8], suffix: &[u8], line: u64) {
        runs::identity(prefix, suffix, &mut self.ident);
        let key = self.asg.key(&self.ident);
        let (run, new) = self.asg.assign(key, &c);
        if new {
            self.layout.new_run(line, &self.asg);
        }
        self.layout.push(run);
        self.cycles.push(c);
    }
    fn finish(self) -> GcTrace {
        self.layout.finish(vec![self.cycles], self.malformed)
    }
}

/// What a log without any gctrace cycle is, as far as its bytes tell: callers must tell
/// "the GC has not run in this window" (an idle process, a short log) from "this is not a
/// log". What can be told apart:
/// - other runtime output (scavtrace, schedtrace, a crash or SIGQUIT dump) proves a Go
///   process wrote the log with GODEBUG tracing on: [`WithoutCycles::RuntimeLog`];
/// - text, or nothing at all (an idle process's stderr is often empty), is a log that
///   holds no cycle: [`WithoutCycles::TextLog`]. Whether gctrace was on cannot be told
///   from such a log: gctrace prints nothing before the first cycle;
/// - another artifact gorx reads (a profile, a trace, expvar, /metrics, /proc files), a
///   compressed file or binary data is [`WithoutCycles::NotALog`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WithoutCycles {
    RuntimeLog {
        lines: usize,
    },
    TextLog {
        lines: usize,
    },
    /// What the input is instead.
    NotALog(String),
}

/// Classifies `data`, a log in which [`parse`] found no cycle (see [`WithoutCycles`]).
/// Looks at a bounded prefix for binary content.
pub fn without_cycles(data: &[u8]) -> WithoutCycles {
    use crate::detect::{ArtifactKind, detect};
    const SNIFF: usize = 64 * 1024;
    let lines = data.iter().filter(|&&b| b == b'\n').count()
        + usize::from(!data.is_empty() && !data.ends_with(b"\n"));
    let kind = detect(data);
    if data.starts_with(&[0x1f, 0x8b])
        && matches!(
            kind,
            ArtifactKind::RuntimeLog | ArtifactKind::GoroutineDump | ArtifactKind::PprofProto
        )
    {
        // detect() calls any gzip it cannot read into a profile; a gzipped log is read
        // through, and is not read by `parse`.
        return WithoutCycles::NotALog(if kind == ArtifactKind::PprofProto {
            "gzip-compressed data (a pprof profile, or a compressed file to decompress first)"
                .into()
        } else {
            "a gzip-compressed log (decompress it first: `zcat LOG > LOG.txt`)".into()
        });
    }
    match kind {
        ArtifactKind::RuntimeLog | ArtifactKind::GoroutineDump => {
            return WithoutCycles::RuntimeLog { lines };
        }
        ArtifactKind::Unknown => {}
        other => {
            return WithoutCycles::NotALog(format!("{} data, not a log", other.as_str()));
        }
    }
    let head = &data[..data.len().min(SNIFF)];
    // Text logs hold no NUL and few control bytes (tab, CR, form feed and ANSI escapes
    // are text); invalid UTF-8 is tolerated in small amounts (a mangled line).
    if head.contains(&0) {
        return WithoutCycles::NotALog("binary data (NUL bytes), not a text log".into());
    }
    let text = String::from_utf8_lossy(head);
    let (mut odd, mut total) = (0usize, 0usize);
    for ch in text.chars() {
        total += 1;
        if ch == char::REPLACEMENT_CHARACTER
            || (ch.is_control() && !matches!(ch, '\n' | '\r' | '\t' | '\x0c' | '\x1b'))
        {
            odd += 1;
        }
    }
    // A prefix cut inside a UTF-8 sequence leaves one replacement at the end: allow it.
    if odd > 1 && odd * 100 > total {
        return WithoutCycles::NotALog(format!(
            "binary data ({odd} of the first {total} characters are not text), not a log"
        ));
    }
    WithoutCycles::TextLog { lines }
}

/// Parses every gctrace line in `data`. Never fails: lines that claim to be gctrace and
/// do not parse are listed in `malformed`. `_input` is kept for symmetry with the
/// other parsers (errors from [`GcTrace::first_error`] name it).
///
/// Large inputs are scanned in parallel chunks (rayon); the result does not depend on
/// where the chunks fall.
pub fn parse(_input: &str, data: &[u8]) -> GcTrace {
    // Chunks of ~8 MiB: their cycles (~3.5 MiB) are still in cache when the join reads
    // them right after the scan (with 8 chunks per 1 GB, the join waited on memory:
    // 12% slower). Smaller inputs are scanned in one piece.
    const CHUNK_BYTES: usize = 8 << 20;
    let parts = (data.len() / CHUNK_BYTES).clamp(1, 1 << 16);
    let bounds = scan::split(data, parts);
    scan::scan(data, &bounds, bounds.len() > 1)
}

/// [`parse`] with the input cut into two chunks at the first line start at or after
/// `cut`, scanned one after the other: for tests that chunk boundaries change nothing.
#[doc(hidden)]
pub fn parse_split_at(data: &[u8], cut: usize) -> GcTrace {
    let cut = cut.min(data.len());
    let mid = if cut == 0 || data[cut - 1] == b'\n' {
        cut
    } else {
        memchr::memchr(b'\n', &data[cut..]).map_or(data.len(), |e| cut + e + 1)
    };
    scan::scan(data, &[(0, mid), (mid, data.len())], false)
}

/// Streaming form of [`parse`] for inputs too large to hold in memory.
pub fn parse_reader<R: BufRead>(input: &str, mut r: R) -> Result<GcTrace> {
    let mut b = Builder::default();
    let mut buf = Vec::with_capacity(4096);
    let mut line = 0u64;
    let mut base = 0u64;
    loop {
        buf.clear();
        let n = r
            .read_until(b'\n', &mut buf)
            .map_err(|e| FormatError::at_line(input, line + 1, format!("read error: {e}")))?;
        if n == 0 {
            break;
        }
        line += 1;
        let line_offset = base;
        base += n as u64;
        // The line without its newline, as the slice parser sees it; its first claim.
        let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
        scan::for_each_claim(text, 0, text.len(), |at| {
            match parse_fields(&text[at..]) {
                Ok((c, used)) => {
                    let c = c.with_offset(line_offset + at as u64);
                    let prefix = &text[at.saturating_sub(scan::MAX_PREFIX)..at];
                    b.push(c, prefix, &text[at + used..], line)
                }
                Err(message) => b.malformed.push(Malformed { line, message }),
            }
            text.len()
        });
    }
    Ok(b.finish())
}

/// A byte cursor with the few primitives the runtime's print format needs.
pub(crate) struct Cur<'a> {
    pub(crate) s: &'a [u8],
    pub(crate) i: usize,
}

impl<'a> Cur<'a> {
    pub(crate) fn new(s: &'a [u8]) -> Self {
        Cur { s, i: 0 }
    }
    /// Milliseconds as gctrace prints them, packed.
    #[inline(always)]
    fn ms(&mut self) -> std::result::Result<Duration32, String> {
        let col = self.i + 1;
        let ns = self.decimal(6)?;
        Duration32::from_ns(ns)
            .ok_or_else(|| format!("duration at column {col} is finer than gctrace prints"))
    }
    #[inline(always)]
    fn mib(&mut self) -> std::result::Result<u32, String> {
        mib_u32(self.uint()?)
    }
    /// Whether `lit` comes next. A byte loop: the literals are a few bytes long, where a
    /// memcmp call costs more than the comparison (this is the gctrace hot path).
    #[inline(always)]
    fn at(&self, lit: &str) -> bool {
        let l = lit.as_bytes();
        match self.s.get(self.i..self.i + l.len()) {
            Some(have) => have.iter().zip(l).all(|(a, b)| a == b),
            None => false,
        }
    }
    #[cold]
    #[inline(never)]
    fn expected(&self, lit: &str) -> String {
        format!(
            "expected {:?} at column {}, found {:?}",
            lit,
            self.i + 1,
            String::from_utf8_lossy(&self.s[self.i..(self.i + 12).min(self.s.len())])
        )
    }
    #[inline(always)]
    pub(crate) fn lit(&mut self, lit: &str) -> std::result::Result<(), String> {
        if self.at(lit) {
            self.i += lit.len();
            Ok(())
        } else {
            Err(self.expected(lit))
        }
    }
    /// Like `lit` for optional parts, without building an error message.
    #[inline(always)]
    pub(crate) fn try_lit(&mut self, lit: &str) -> bool {
        if self.at(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }
    /// An unsigned decimal of at most 19 digits (always fits a u64, so no overflow checks
    /// on the hot path); longer runs of digits are an error.
    #[inline(always)]
    pub(crate) fn uint(&mut self) -> std::result::Result<u64, String> {
        let start = self.i;
        let mut v: u64 = 0;
        while let Some(&b) = self.s.get(self.i) {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            if self.i - start == 19 {
                return Err(format!("number too large at column {}", start + 1));
            }
            v = v * 10 + u64::from(d);
            self.i += 1;
        }
        if self.i == start {
            return Err(format!("expected a number at column {}", start + 1));
        }
        Ok(v)
    }
    /// A decimal like `0.017` or `12` scaled by `10^scale_digits` (ms→ns: 6, s→ns: 9).
    #[inline(always)]
    pub(crate) fn decimal(&mut self, scale_digits: u32) -> std::result::Result<u64, String> {
        let col = self.i + 1;
        let int = self.uint()?;
        let mut frac: u64 = 0;
        let mut digits = 0u32;
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            let start = self.i;
            while let Some(&b) = self.s.get(self.i) {
                if !b.is_ascii_digit() {
                    break;
                }
                if digits < scale_digits {
                    frac = frac * 10 + u64::from(b - b'0');
                    digits += 1;
                }
                self.i += 1;
            }
            if self.i == start {
                return Err(format!("expected digits after '.' at column {}", start + 1));
            }
        }
        const POW10: [u64; 10] = [
            1,
            10,
            100,
            1_000,
            10_000,
            100_000,
            1_000_000,
            10_000_000,
            100_000_000,
            1_000_000_000,
        ];
        let scale = POW10[scale_digits as usize];
        let frac = frac * POW10[(scale_digits - digits) as usize];
        // No closures: in this hot path LLVM left the `and_then` one out of line
        // (9% of a parse).
        match int.checked_mul(scale) {
            Some(v) => match v.checked_add(frac) {
                Some(v) => Ok(v),
                None => Err(too_large(col)),
            },
            None => Err(too_large(col)),
        }
    }
}

const MIB: u64 = 1 << 20;

/// Parses one line starting at `gc `. Trailing bytes after the fields (a JSON `\n"`
/// tail, another writer's output) are ignored.
pub fn parse_at(s: &[u8]) -> std::result::Result<GcCycle, String> {
    parse_fields(s).map(|(c, _)| c)
}

/// [`parse_at`], also returning how many bytes the fields took. `s` may run past the
/// line's end: a newline ends every field, and a message names the line's bytes only.
fn parse_fields(s: &[u8]) -> std::result::Result<(GcCycle, usize), String> {
    let mut g = GcCycle::default();
    parse_fields_into(s, &mut g).map(|used| (g, used))
}

/// [`parse_fields`] into `g` (which must be `GcCycle::default()`), returning how many
/// bytes the fields took; `g` is unspecified after an error.
fn parse_fields_into(s: &[u8], g: &mut GcCycle) -> std::result::Result<usize, String> {
    parse_fields_checked(s, g).map_err(|e| match memchr::memchr(b'\n', s) {
        // Messages quote what follows the error: not the next line.
        Some(end) => parse_fields_checked(&s[..end], &mut GcCycle::default())
            .err()
            .unwrap_or(e),
        None => e,
    })
}

/// The parser: every field checked, with a message naming what was expected, written
/// straight into the packed cycle.
fn parse_fields_checked(s: &[u8], g: &mut GcCycle) -> std::result::Result<usize, String> {
    let mut c = Cur::new(s);
    c.lit("gc ")?;
    g.n = u32::try_from(c.uint()?).map_err(|_| "cycle number too large")?;
    c.lit(" @")?;
    g.at_ns = c.decimal(9)?;
    c.lit("s ")?;
    g.cumulative_cpu_percent = u32::try_from(c.uint()?).map_err(|_| "percentage too large")?;
    c.lit("%")?;
    if c.try_lit(" (checking for goroutine leaks)") {
        g.flags |= LEAK_CHECK;
    }
    c.lit(": ")?;
    g.times[0] = c.ms()?;
    c.lit("+")?;
    g.times[1] = c.ms()?;
    c.lit("+")?;
    g.times[2] = c.ms()?;
    c.lit(" ms clock, ")?;
    g.times[3] = c.ms()?;
    c.lit("+")?;
    g.times[4] = c.ms()?;
    c.lit("/")?;
    g.times[5] = c.ms()?;
    c.lit("/")?;
    g.times[6] = c.ms()?;
    c.lit("+")?;
    g.times[7] = c.ms()?;
    c.lit(" ms cpu, ")?;
    g.heap_mib[0] = c.mib()?;
    c.lit("->")?;
    g.heap_mib[1] = c.mib()?;
    c.lit("->")?;
    g.heap_mib[2] = c.mib()?;
    c.lit(" MB, ")?;
    g.heap_mib[3] = c.mib()?;
    c.lit(" MB goal, ")?;
    let v = c.uint()?;
    if c.try_lit(" MB stacks, ") {
        g.stacks_mib = mib_u32(v)?;
        g.globals_mib = c.mib()?;
        c.lit(" MB globals, ")?;
        g.procs = u32::try_from(c.uint()?).map_err(|_| "P count too large")?;
    } else {
        // Before Go 1.18 the P count follows the goal directly.
        (g.stacks_mib, g.globals_mib) = (NO_MIB, NO_MIB);
        g.procs = u32::try_from(v).map_err(|_| "P count too large")?;
    }
    c.lit(" P")?;
    if g.procs == 0 {
        return Err("P count is 0".into());
    }
    if c.try_lit(" (forced)") {
        g.flags |= FORCED;
    }
    Ok(c.i)
}

/// A size printed in MiB, as [`GcCycle`] holds it.
#[inline]
fn mib_u32(v: u64) -> std::result::Result<u32, String> {
    match u32::try_from(v) {
        Ok(m) if m != NO_MIB => Ok(m),
        _ => Err(heap_too_large()),
    }
}

#[cold]
#[inline(never)]
fn heap_too_large() -> String {
    "heap size too large".to_string()
}

#[cold]
#[inline(never)]
fn too_large(col: usize) -> String {
    format!("number too large at column {col}")
}

#[cfg(test)]
mod without_cycles_tests {
    use super::*;

    #[test]
    fn logs_without_cycles_are_told_from_other_data() {
        let scav = b"scav 0 KiB work (bg), 0 KiB work (eager), 3368 KiB now, 84% util\n";
        assert_eq!(without_cycles(scav), WithoutCycles::RuntimeLog { lines: 1 });
        let sched = b"SCHED 0ms: gomaxprocs=2 idleprocs=1 threads=4 spinningthreads=0 needspinning=0 idlethreads=1 runqueue=0 [0 0]\nlistening on :8080";
        assert_eq!(
            without_cycles(sched),
            WithoutCycles::RuntimeLog { lines: 2 }
        );
        let app = "level=info ts=2026-12-06T20:00:00Z msg=\"Server is ready\" caller=main.go:1\n\x1b[32mok\x1b[0m été\n";
        assert_eq!(
            without_cycles(app.as_bytes()),
            WithoutCycles::TextLog { lines: 2 }
        );
        assert_eq!(without_cycles(b""), WithoutCycles::TextLog { lines: 0 });
        for bad in [
            &b"\x7fELF\x02\x01\x01\x00\x00\x00"[..],
            b"\x1f\x8b\x08\x00\x00\x00",
            b"go 1.22 trace\x00\x00\x00",
            b"heap profile: 1: 2 [3: 4] @ heap/1048576\n",
            &[
                0xff, 0xfe, 0x80, 0x81, 0x90, 0xa0, 0xb0, 0xc3, 0x28, 0x01, 0x02, 0x03,
            ],
        ] {
            assert!(
                matches!(without_cycles(bad), WithoutCycles::NotALog(_)),
                "{bad:?}: {:?}",
                without_cycles(bad)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: &str = "gc 14 @0.094s 2%: 0.10+0.27+0.001 ms clock, 0.21+0/0.099/0.10+0.003 ms cpu, 33->33->15 MB, 66 MB goal, 0 MB stacks, 1 MB globals, 2 P (forced)";

    #[test]
    fn every_field() {
        let c = parse_at(L.as_bytes()).unwrap().fields();
        assert_eq!(c.n, 14);
        assert_eq!(c.at_ns, 94_000_000);
        assert_eq!(c.cumulative_cpu_percent, 2);
        assert_eq!(c.clock_sweep_term_ns, 100_000);
        assert_eq!(c.clock_mark_ns, 270_000);
        assert_eq!(c.clock_mark_term_ns, 1_000);
        assert_eq!(c.cpu_sweep_term_ns, 210_000);
        assert_eq!(c.cpu_assist_ns, 0);
        assert_eq!(c.cpu_background_ns, 99_000);
        assert_eq!(c.cpu_idle_ns, 100_000);
        assert_eq!(c.cpu_mark_term_ns, 3_000);
        assert_eq!(c.heap_start_bytes, 33 << 20);
        assert_eq!(c.heap_live_bytes, 15 << 20);
        assert_eq!(c.heap_goal_bytes, 66 << 20);
        assert_eq!(c.stacks_bytes, Some(0));
        assert_eq!(c.globals_bytes, Some(1 << 20));
        assert_eq!(c.procs, 2);
        assert!(c.forced);
    }

    #[test]
    fn pre_118_line_and_leak_check() {
        let c = parse_at(b"gc 1 @0.012s 2%: 0.026+0.39+0.10 ms clock, 0.21+0.88/0.52/0+0.84 ms cpu, 4->4->0 MB, 5 MB goal, 4 P").unwrap().fields();
        assert_eq!((c.procs, c.stacks_bytes, c.forced), (4, None, false));
        let c = parse_at(b"gc 3 @1.5s 1% (checking for goroutine leaks): 10+20+0.5 ms clock, 1+2/3/4+5 ms cpu, 1->2->3 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 8 P").unwrap().fields();
        assert!(c.leak_check);
        assert_eq!(c.clock_sweep_term_ns, 10_000_000);
        assert_eq!(c.at_ns, 1_500_000_000);
    }

    #[test]
    fn durations_pack_exactly() {
        for ns in [
            0,
            1,
            999,
            1 << 29,
            (1 << 30) - 1,
            1_234_567_000,
            20_000_000_000,
            3_600_000_000_000,
            1_000_000 * 99_999_999,
        ] {
            assert_eq!(
                Duration32::from_ns(ns).map(Duration32::ns),
                Some(ns),
                "{ns}"
            );
        }
        // Finer than the runtime prints at that size.
        assert_eq!(Duration32::from_ns(1_234_567_891), None);
        let c = parse_at(b"gc 1 @0.1s 1%: 1234567+12+0.017 ms clock, 0+0/0/0+0 ms cpu, 4->4->0 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 4 P").unwrap();
        assert_eq!(
            (
                c.clock_sweep_term_ns(),
                c.clock_mark_ns(),
                c.clock_mark_term_ns()
            ),
            (1_234_567_000_000, 12_000_000, 17_000)
        );
        assert!(parse_at(b"gc 1 @0.1s 1%: 1234567.891+12+0.017 ms clock, 0+0/0/0+0 ms cpu, 4->4->0 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 4 P").is_err());
    }

    #[test]
    fn prefixes_runs_and_malformed() {
        // Each collector identity is its own process (see `runs`).
        let log = format!(
            "I1123 10:00:00 pod-a {L}\n\
             I1123 10:00:01 pod-a {}\n\
             {{\"log\":\"{}\\n\",\"stream\":\"stderr\"}}\n\
             2024-01-01T00:00:00Z stderr F {}\n\
             blogc 5 @1s not ours\n\
             gc 16 @0.2s 2%: torn\n",
            L.replace("gc 14", "gc 15"),
            L.replace("gc 14", "gc 1"),
            L.replace("gc 14", "gc 1"),
        );
        let t = parse("x", log.as_bytes());
        let shape: Vec<_> = t
            .runs()
            .map(|r| (r.first_line, r.cycles.len(), r.source))
            .collect();
        assert_eq!(
            shape,
            [(1, 2, "pod-a"), (3, 1, "stderr"), (4, 1, "stderr F")]
        );
        assert_eq!(t.malformed.len(), 1);
        assert_eq!(t.malformed[0].line, 6);
        assert_eq!(parse_reader("x", log.as_bytes()).unwrap(), t);
    }
}
