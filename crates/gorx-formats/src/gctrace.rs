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
use memchr::memmem;
use std::io::BufRead;

pub mod runs;
mod scan;

/// One GC cycle. Times in nanoseconds, sizes in bytes.
///
/// Heap sizes are printed by the runtime in whole MiB, truncated (`x>>20`), so each
/// `_bytes` value here is a lower bound within 1 MiB of the true value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GcCycle {
    /// Byte offset of the `gc` token in the input (line numbers cost a newline count).
    pub offset: u64,
    /// The runtime's cycle number (`memstats.numgc`).
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
    /// Heap at cycle start, at mark end, and live (marked) heap.
    pub heap_start_bytes: u64,
    pub heap_end_bytes: u64,
    pub heap_live_bytes: u64,
    pub heap_goal_bytes: u64,
    /// Scannable stack and globals size (Go 1.18+).
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

impl GcCycle {
    /// Stop-the-world time: sweep termination plus mark termination.
    pub fn stw_ns(&self) -> u64 {
        self.clock_sweep_term_ns + self.clock_mark_term_ns
    }
    /// Wall-clock duration of the whole cycle.
    pub fn wall_ns(&self) -> u64 {
        self.clock_sweep_term_ns + self.clock_mark_ns + self.clock_mark_term_ns
    }
    /// GC CPU the way the runtime counts it for its own CPU share: everything but idle
    /// mark workers (which only use otherwise idle Ps).
    pub fn cpu_ns(&self) -> u64 {
        self.cpu_sweep_term_ns + self.cpu_assist_ns + self.cpu_background_ns + self.cpu_mark_term_ns
    }
}

/// Consecutive cycles of one process: the counter only increases within a run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GcRun {
    /// 1-based line of the run's first cycle.
    pub first_line: u64,
    pub cycles: Vec<GcCycle>,
    /// The process identity its lines carry in a merged log (pod/container name, CRI
    /// stream, klog pid, JSON attributes; timestamps removed), space-separated; empty
    /// for bare lines. See [`runs`].
    pub source: String,
}

/// A line that looked like gctrace but did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub line: u64,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GcTrace {
    pub runs: Vec<GcRun>,
    pub malformed: Vec<Malformed>,
}

impl GcTrace {
    pub fn cycle_count(&self) -> usize {
        self.runs.iter().map(|r| r.cycles.len()).sum()
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
    out: GcTrace,
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
            self.out.runs.push(GcRun {
                first_line: line,
                cycles: Vec::new(),
                source: String::from_utf8_lossy(&self.ident).into_owned(),
            });
        }
        self.out.runs[run].cycles.push(c);
    }
}

/// Parses every gctrace line in `data`. Never fails: lines that claim to be gctrace and
/// do not parse are listed in `malformed`. `_input` is kept for symmetry with the
/// other parsers (errors from [`GcTrace::first_error`] name it).
///
/// Large inputs are scanned in parallel chunks (rayon); the result does not depend on
/// where the chunks fall.
pub fn parse(_input: &str, data: &[u8]) -> GcTrace {
    use rayon::prelude::*;
    // Below this a thread hand-off costs more than it saves.
    const MIN_CHUNK_BYTES: usize = 4 << 20;
    let parts = (data.len() / MIN_CHUNK_BYTES).clamp(1, 4 * rayon::current_num_threads());
    let bounds = scan::split(data, parts);
    let chunks: Vec<scan::Chunk> = if bounds.len() == 1 {
        vec![scan::scan_chunk(data, 0, data.len())]
    } else {
        bounds
            .par_iter()
            .map(|&(start, end)| scan::scan_chunk(data, start, end))
            .collect()
    };
    scan::merge(data, &bounds, chunks)
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
    let bounds = [(0, mid), (mid, data.len())];
    let chunks = bounds
        .iter()
        .map(|&(start, end)| scan::scan_chunk(data, start, end))
        .collect();
    scan::merge(data, &bounds, chunks)
}

/// Streaming form of [`parse`] for inputs too large to hold in memory.
pub fn parse_reader<R: BufRead>(input: &str, mut r: R) -> Result<GcTrace> {
    let mut b = Builder::default();
    let mut buf = Vec::with_capacity(4096);
    let mut line = 0u64;
    let mut base = 0u64;
    let finder = memmem::Finder::new(b"gc ");
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
        let mut start = 0;
        while let Some(rel) = finder.find(&buf[start..]) {
            let at = start + rel;
            if claims_gctrace(&buf, at) {
                match parse_fields(&buf[at..]) {
                    Ok((mut c, used)) => {
                        c.offset = line_offset + at as u64;
                        let prefix = &buf[at.saturating_sub(scan::MAX_PREFIX)..at];
                        let prefix = match memchr::memrchr(b'\n', prefix) {
                            Some(i) => &prefix[i + 1..],
                            None => prefix,
                        };
                        let suffix = &buf[at + used..];
                        let suffix = suffix.strip_suffix(b"\n").unwrap_or(suffix);
                        b.push(c, prefix, suffix, line)
                    }
                    Err(message) => b.out.malformed.push(Malformed { line, message }),
                }
                break;
            }
            start = at + 1;
        }
    }
    Ok(b.out)
}

/// `gc <digit>` preceded by start-of-input or a non-identifier byte, followed by ` @`.
fn claims_gctrace(data: &[u8], at: usize) -> bool {
    if at > 0 && !scan::boundary_ok(data[at - 1]) {
        return false;
    }
    let rest = &data[at + 3..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    digits > 0 && rest[digits..].starts_with(b" @")
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
        int.checked_mul(scale)
            .and_then(|v| v.checked_add(frac * POW10[(scale_digits - digits) as usize]))
            .ok_or_else(|| format!("number too large at column {col}"))
    }
}

const MIB: u64 = 1 << 20;

fn mib(v: u64) -> std::result::Result<u64, String> {
    v.checked_mul(MIB)
        .ok_or_else(|| "heap size too large".to_string())
}

/// Parses one line starting at `gc `. Trailing bytes after the fields (a JSON `\n"`
/// tail, another writer's output) are ignored.
pub fn parse_at(s: &[u8]) -> std::result::Result<GcCycle, String> {
    parse_fields(s).map(|(c, _)| c)
}

/// [`parse_at`], also returning how many bytes the fields took.
fn parse_fields(s: &[u8]) -> std::result::Result<(GcCycle, usize), String> {
    let mut c = Cur::new(s);
    let mut g = GcCycle::default();
    c.lit("gc ")?;
    g.n = c.uint()?;
    c.lit(" @")?;
    g.at_ns = c.decimal(9)?;
    c.lit("s ")?;
    g.cumulative_cpu_percent = u32::try_from(c.uint()?).map_err(|_| "percentage too large")?;
    c.lit("%")?;
    if c.try_lit(" (checking for goroutine leaks)") {
        g.leak_check = true;
    }
    c.lit(": ")?;
    g.clock_sweep_term_ns = c.decimal(6)?;
    c.lit("+")?;
    g.clock_mark_ns = c.decimal(6)?;
    c.lit("+")?;
    g.clock_mark_term_ns = c.decimal(6)?;
    c.lit(" ms clock, ")?;
    g.cpu_sweep_term_ns = c.decimal(6)?;
    c.lit("+")?;
    g.cpu_assist_ns = c.decimal(6)?;
    c.lit("/")?;
    g.cpu_background_ns = c.decimal(6)?;
    c.lit("/")?;
    g.cpu_idle_ns = c.decimal(6)?;
    c.lit("+")?;
    g.cpu_mark_term_ns = c.decimal(6)?;
    c.lit(" ms cpu, ")?;
    g.heap_start_bytes = mib(c.uint()?)?;
    c.lit("->")?;
    g.heap_end_bytes = mib(c.uint()?)?;
    c.lit("->")?;
    g.heap_live_bytes = mib(c.uint()?)?;
    c.lit(" MB, ")?;
    g.heap_goal_bytes = mib(c.uint()?)?;
    c.lit(" MB goal, ")?;
    let v = c.uint()?;
    if c.try_lit(" MB stacks, ") {
        g.stacks_bytes = Some(mib(v)?);
        g.globals_bytes = Some(mib(c.uint()?)?);
        c.lit(" MB globals, ")?;
        g.procs = u32::try_from(c.uint()?).map_err(|_| "P count too large")?;
    } else {
        // Before Go 1.18 the P count follows the goal directly.
        g.procs = u32::try_from(v).map_err(|_| "P count too large")?;
    }
    c.lit(" P")?;
    if g.procs == 0 {
        return Err("P count is 0".into());
    }
    g.forced = c.try_lit(" (forced)");
    Ok((g, c.i))
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: &str = "gc 14 @0.094s 2%: 0.10+0.27+0.001 ms clock, 0.21+0/0.099/0.10+0.003 ms cpu, 33->33->15 MB, 66 MB goal, 0 MB stacks, 1 MB globals, 2 P (forced)";

    #[test]
    fn every_field() {
        let c = parse_at(L.as_bytes()).unwrap();
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
        let c = parse_at(b"gc 1 @0.012s 2%: 0.026+0.39+0.10 ms clock, 0.21+0.88/0.52/0+0.84 ms cpu, 4->4->0 MB, 5 MB goal, 4 P").unwrap();
        assert_eq!((c.procs, c.stacks_bytes, c.forced), (4, None, false));
        let c = parse_at(b"gc 3 @1.5s 1% (checking for goroutine leaks): 10+20+0.5 ms clock, 1+2/3/4+5 ms cpu, 1->2->3 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 8 P").unwrap();
        assert!(c.leak_check);
        assert_eq!(c.clock_sweep_term_ns, 10_000_000);
        assert_eq!(c.at_ns, 1_500_000_000);
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
            .runs
            .iter()
            .map(|r| (r.first_line, r.cycles.len(), r.source.as_str()))
            .collect();
        assert_eq!(
            shape,
            [(1, 2, "pod-a"), (3, 1, "stderr"), (4, 1, "stderr F")]
        );
        assert_eq!(t.malformed.len(), 1);
        assert_eq!(t.malformed[0].line, 6);
        let r = parse_reader("x", log.as_bytes()).unwrap();
        assert_eq!(r.runs, t.runs);
        assert_eq!(r.malformed, t.malformed);
    }
}
