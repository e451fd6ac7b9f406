//! The scan behind [`super::parse`]: the input is cut into chunks at line boundaries and
//! each chunk is scanned on its own (in parallel for large inputs) into one vector of
//! cycles in log order, with the identity of each. The join then runs the run
//! assignment ([`super::runs::Assigner`]) over every cycle in log order, so runs are
//! exactly those of a sequential scan wherever the chunks fall, and [`Layout`] groups
//! the cycles by run. In the usual log (one process, or processes one after another)
//! log order already is run order: the chunks' vectors stay as they are, a run crossing
//! chunk boundaries is a run of several pieces, and a cycle is written to memory once.
//! Only interleaved processes are copied together by run.
//!
//! Per line the cost is one SIMD search step for lines without a claim; a gctrace line
//! is parsed without allocating. Lines are counted (SIMD) only as far as a line number
//! is needed: where a run can start and for malformed lines.

use super::runs::{Assigner, identity};
use super::{GcCycle, GcTrace, Malformed, Piece, RunSpan, parse_fields_into};

/// How far back from `gc` a line's collector prefix is looked at.
pub(super) const MAX_PREFIX: usize = 4096;

/// What one chunk holds, with line numbers relative to the chunk's first line.
#[derive(Default)]
pub(super) struct Chunk {
    /// Every cycle of the chunk, in log order.
    cycles: Vec<GcCycle>,
    /// The identity key of each cycle (an index into `identities`), run-length encoded.
    keys: Vec<(u32, u32)>,
    /// (offset, line) of each cycle that does not continue its identity's previous
    /// cycle in this chunk: only there can a run start (see `runs::Assigner::assign`).
    marks: Vec<(u64, u64)>,
    identities: Vec<Box<[u8]>>,
    malformed: Vec<Malformed>,
    /// How far the scan counted lines: (position, its line). The rest of the chunk is
    /// counted only if a later chunk needs a line number (counting every newline was 8%
    /// of the parse of a single-process log, which needs one line number).
    counted: (usize, u64),
}

/// Where the gctrace claim whose ` @` ends at the `@` at `p` starts (the `gc` of
/// `gc <digits> @` at a word boundary, see the module doc of [`super`]), if there is one.
#[inline(always)]
fn claim_before(data: &[u8], p: usize) -> Option<usize> {
    let digits_end = p.checked_sub(1).filter(|&i| data[i] == b' ')?;
    let mut i = digits_end;
    while i > 0 && data[i - 1].is_ascii_digit() {
        i -= 1;
    }
    let at = i.checked_sub(3).filter(|_| i < digits_end)?;
    // Byte compares: a slice compare is a `memcmp` call, slow for 3 bytes on this path.
    let gc = data[at] == b'g' && data[at + 1] == b'c' && data[at + 2] == b' ';
    (gc && (at == 0 || boundary_ok(data[at - 1]))).then_some(at)
}

/// Whether the line starting at `pos` begins with its claim (`gc <digits> @` before
/// `end`): what [`claim_before`] finds at the line's first `@` then, without searching.
#[inline(always)]
fn claim_at_line_start(data: &[u8], pos: usize, end: usize) -> bool {
    let line = &data[pos..end];
    if line.len() < 6 || line[0] != b'g' || line[1] != b'c' || line[2] != b' ' {
        return false;
    }
    let mut i = 3;
    while i < line.len() && line[i].is_ascii_digit() {
        i += 1;
    }
    i > 3 && i + 1 < line.len() && line[i] == b' ' && line[i + 1] == b'@'
}

/// Calls `f(at)` for each line of `data[start..end]` that claims to be gctrace, where
/// `gc` starts; `f` returns where its line ends (its newline or `end`), and the search
/// goes on after it. The search looks for `@` (one byte: the fastest SIMD search) and
/// checks the claim backwards; claims never overlap, so the first `@` of a claim finds
/// the same line's first claim as a search for `gc ` would. `start` must be a line
/// start. A line that starts with its claim (a bare gctrace log: every line) is taken
/// without a search (a search call per line was 4% of such a log's parse).
#[inline(always)]
pub(super) fn for_each_claim(
    data: &[u8],
    start: usize,
    end: usize,
    mut f: impl FnMut(usize) -> usize,
) {
    let mut pos = start;
    // Whether `pos` is a line start (the byte before it, if any, is a newline, which is
    // a word boundary for `gc`).
    let mut line_start = true;
    while pos < end {
        if line_start && claim_at_line_start(data, pos, end) {
            pos = f(pos) + 1;
            continue;
        }
        let Some(rel) = memchr::memchr(b'@', &data[pos..end]) else {
            break;
        };
        let p = pos + rel;
        (pos, line_start) = match claim_before(data, p) {
            // One gctrace line per log line: go on after this line's newline.
            Some(at) if at >= pos => (f(at) + 1, true),
            _ => (p + 1, false),
        };
    }
}

/// Scans `data[start..end]`, where `start` is a line start and `end` a line start or the
/// end of input. `data` is the whole input so a match can look at the byte before it.
fn scan_chunk(data: &[u8], start: usize, end: usize) -> Chunk {
    let mut out = Chunk::default();
    // Room for a cycle per 64 bytes (no gctrace line is shorter than 75): the vector
    // never grows, so no reallocation copies or faults the pages twice (7% less CPU on
    // the 1 GB bench log). The unused pages are never touched; the tail is given back
    // only when most of it is unused (shrinking copies: 15% slower on the bench log).
    out.cycles.reserve((end - start) / 64);
    let mut asg = Assigner::default();
    let mut counted_pos = start;
    let mut counted_line = 1u64;
    let mut line_at = |pos: usize| -> u64 {
        counted_line += memchr::memchr_iter(b'\n', &data[counted_pos..pos]).count() as u64;
        counted_pos = pos;
        counted_line
    };
    let mut ident = Vec::new();
    let mut last_key: Option<(Vec<u8>, u32)> = None;
    let mut empty_key: Option<u32> = None;
    // (n, at_ns) of each identity's latest cycle in this chunk.
    let mut latest: Vec<Option<(u64, u64)>> = Vec::new();
    let line_end_from =
        |from: usize| memchr::memchr(b'\n', &data[from..end]).map_or(end, |e| from + e);
    for_each_claim(data, start, end, |at| {
        // The cycle is parsed where it is stored, not built in a local and copied in:
        // 2-3% less CPU on the 1 GB bench log.
        out.cycles.push(GcCycle::default());
        let slot = out.cycles.len() - 1;
        // The fields end at or before the line's end: parse first, then look for the
        // newline only when it does not follow the fields (a bare line has it there).
        match parse_fields_into(&data[at..], &mut out.cycles[slot]) {
            Ok(used) => {
                let fields_end = at + used;
                let line_end = if data.get(fields_end).is_none_or(|&b| b == b'\n') {
                    fields_end
                } else {
                    line_end_from(fields_end)
                };
                let c = &mut out.cycles[slot];
                c.offset = at as u64;
                let (n, at_ns) = (c.n(), c.at_ns());
                let ls = if at == start || data[at - 1] == b'\n' {
                    at
                } else {
                    line_start(data, start, at)
                };
                let key = if ls == at && fields_end == line_end {
                    // A bare line (the common case): no identity to work out.
                    *empty_key.get_or_insert_with(|| asg.key(b""))
                } else {
                    identity(&data[ls..at], &data[fields_end..line_end], &mut ident);
                    match &last_key {
                        Some((k, id)) if *k == ident => *id,
                        _ => {
                            let id = asg.key(&ident);
                            last_key = Some((ident.clone(), id));
                            id
                        }
                    }
                };
                if latest.len() <= key as usize {
                    latest.resize(key as usize + 1, None);
                }
                let prev = latest[key as usize].replace((n, at_ns));
                if !prev.is_some_and(|(pn, pat)| continues(pn, pat, &out.cycles[slot])) {
                    out.marks.push((at as u64, line_at(at)));
                }
                match out.keys.last_mut() {
                    Some((k, count)) if *k == key => *count += 1,
                    _ => out.keys.push((key, 1)),
                }
                line_end
            }
            Err(message) => {
                out.cycles.pop();
                out.malformed.push(Malformed {
                    line: line_at(at),
                    message,
                });
                line_end_from(at)
            }
        }
    });
    out.counted = (counted_pos, counted_line);
    if out.cycles.len() < out.cycles.capacity() / 8 {
        out.cycles.shrink_to_fit();
    }
    out.identities = asg.names;
    out
}

/// Scans `data` cut at `bounds` (chunks in parallel when `parallel`) into a trace.
///
/// In parallel, each thread takes the next chunk in input order, and whoever completes
/// the chunk the join needs next joins it (and any later ones already done): the join,
/// which must go in input order, runs while other chunks are still being scanned instead
/// of after all of them.
pub(super) fn scan(data: &[u8], bounds: &[(usize, usize)], parallel: bool) -> GcTrace {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    if !parallel {
        let mut join = Joiner::default();
        for &(s, e) in bounds {
            join.push(data, (s, e), scan_chunk(data, s, e));
        }
        return join.finish();
    }
    struct Shared {
        join: Joiner,
        /// Scanned chunks the join has not reached.
        ready: Vec<Option<Chunk>>,
    }
    let shared = Mutex::new(Shared {
        join: Joiner::default(),
        ready: bounds.iter().map(|_| None).collect(),
    });
    let next_chunk = AtomicUsize::new(0);
    rayon::scope(|scope| {
        for _ in 0..rayon::current_num_threads().min(bounds.len()) {
            scope.spawn(|_| {
                loop {
                    let i = next_chunk.fetch_add(1, Relaxed);
                    let Some(&(start, end)) = bounds.get(i) else {
                        break;
                    };
                    let chunk = scan_chunk(data, start, end);
                    // A poisoned lock means another chunk's thread panicked; rayon
                    // re-raises that panic when the scope ends.
                    let Ok(mut sh) = shared.lock() else {
                        break;
                    };
                    sh.ready[i] = Some(chunk);
                    loop {
                        let at = sh.join.parts.len();
                        let Some(chunk) = sh.ready.get_mut(at).and_then(Option::take) else {
                            break;
                        };
                        sh.join.push(data, bounds[at], chunk);
                    }
                }
            });
        }
    });
    // Poisoned only if a thread panicked, and then the scope has re-raised that panic.
    let sh = shared.into_inner().unwrap_or_else(|p| p.into_inner());
    sh.join.finish()
}

/// The start of the line holding `at` (looking back at most [`MAX_PREFIX`] bytes, never
/// before the chunk start, which is a line start).
fn line_start(data: &[u8], start: usize, at: usize) -> usize {
    let from = start.max(at.saturating_sub(MAX_PREFIX));
    memchr::memrchr(b'\n', &data[from..at]).map_or(from, |i| from + i + 1)
}

/// Whether `c` can follow a cycle `n` at `at_ns` in one process (the counter and the
/// clock advance): the assigner's rule for extending an identity's latest run.
#[inline]
pub(super) fn continues(n: u64, at_ns: u64, c: &GcCycle) -> bool {
    c.n() > n && c.at_ns() >= at_ns
}

/// `gc` must not continue an identifier or a word (`blogc 5 @`, `x-gc 1 @`).
#[inline(always)]
pub(super) fn boundary_ok(prev: u8) -> bool {
    !(prev.is_ascii_alphanumeric() || prev == b'_' || prev == b'-' || prev == b'.')
}

/// Chunk boundaries: about `parts` equal pieces, each moved forward to a line start.
pub(super) fn split(data: &[u8], parts: usize) -> Vec<(usize, usize)> {
    let mut bounds = vec![0usize];
    for k in 1..parts {
        let guess = (data.len() / parts * k).max(*bounds.last().unwrap_or(&0));
        let b = memchr::memchr(b'\n', &data[guess..]).map_or(data.len(), |e| guess + e + 1);
        if b < data.len() && b > *bounds.last().unwrap_or(&0) {
            bounds.push(b);
        }
    }
    bounds.push(data.len());
    bounds.windows(2).map(|w| (w[0], w[1])).collect()
}

/// The run of every cycle in log order (run-length encoded) and each run's first line
/// and identity: what grouping the cycles by run needs.
#[derive(Default)]
pub(super) struct Layout {
    /// (run, cycles) in log order.
    segments: Vec<(u32, u32)>,
    runs: Vec<(u64, String)>,
}

impl Layout {
    /// Records a run that `asg` just created (run ids are dense, in order of creation).
    pub(super) fn new_run(&mut self, first_line: u64, asg: &Assigner) {
        let run = self.runs.len();
        let name = &asg.names[asg.run_keys[run] as usize];
        self.runs
            .push((first_line, String::from_utf8_lossy(name).into_owned()));
    }

    /// The next cycle in log order belongs to `run`.
    pub(super) fn push(&mut self, run: usize) {
        match self.segments.last_mut() {
            Some((r, n)) if *r as usize == run => *n += 1,
            _ => self.segments.push((run as u32, 1)),
        }
    }

    /// The trace of `parts` (cycles in log order, in consecutive vectors) grouped by run.
    pub(super) fn finish(self, parts: Vec<Vec<GcCycle>>, malformed: Vec<Malformed>) -> GcTrace {
        // Each segment's place in `parts`, in log order (one per chunk it crosses).
        let mut placed: Vec<(u32, Piece)> = Vec::with_capacity(self.segments.len() + parts.len());
        let (mut part, mut at) = (0usize, 0usize);
        for &(run, n) in &self.segments {
            let mut left = n as usize;
            while left > 0 {
                while at == parts[part].len() {
                    (part, at) = (part + 1, 0);
                }
                let take = left.min(parts[part].len() - at);
                placed.push((
                    run,
                    Piece {
                        segment: part,
                        start: at,
                        end: at + take,
                    },
                ));
                at += take;
                left -= take;
            }
        }
        // Log order is run order when each run is one segment and runs come in order:
        // then every run stays where the scan wrote it, a run crossing chunks as several
        // pieces. Otherwise (processes interleaved) each run is copied together.
        let in_order = self
            .segments
            .iter()
            .enumerate()
            .all(|(i, &(run, _))| run as usize == i)
            && self.segments.len() == self.runs.len();
        let mut spans = Vec::with_capacity(self.runs.len());
        if in_order {
            let mut next = 0;
            for (run, (first_line, source)) in self.runs.into_iter().enumerate() {
                let first = next;
                while next < placed.len() && placed[next].0 as usize == run {
                    next += 1;
                }
                spans.push(RunSpan {
                    first_line,
                    source,
                    pieces: first..next,
                    len: placed[first..next]
                        .iter()
                        .map(|(_, p)| p.end - p.start)
                        .sum(),
                });
            }
            let pieces = placed.into_iter().map(|(_, p)| p).collect();
            return GcTrace {
                segments: parts,
                pieces,
                spans,
                malformed,
            };
        }
        let mut by_run: Vec<Vec<Piece>> = vec![Vec::new(); self.runs.len()];
        for (run, p) in placed {
            by_run[run as usize].push(p);
        }
        let total = parts.iter().map(Vec::len).sum();
        let mut grouped = Vec::with_capacity(total);
        let mut pieces = Vec::with_capacity(self.runs.len());
        for (i, ((first_line, source), ps)) in self.runs.into_iter().zip(&by_run).enumerate() {
            let start = grouped.len();
            for p in ps {
                grouped.extend_from_slice(&parts[p.segment][p.start..p.end]);
            }
            pieces.push(Piece {
                segment: 0,
                start,
                end: grouped.len(),
            });
            spans.push(RunSpan {
                first_line,
                source,
                pieces: i..i + 1,
                len: grouped.len() - start,
            });
        }
        GcTrace {
            segments: vec![grouped],
            pieces,
            spans,
            malformed,
        }
    }
}

/// Joins scanned chunks, fed in input order: assigns every cycle to its run.
#[derive(Default)]
struct Joiner {
    asg: Assigner,
    layout: Layout,
    malformed: Vec<Malformed>,
    /// Lines before the first chunk in `uncounted` (0 for the first chunk).
    line_base: u64,
    /// Joined chunks whose lines are not all counted: their `counted` and end.
    uncounted: Vec<((usize, u64), usize)>,
    /// Each joined chunk's cycles (one per chunk, so also how many were joined).
    parts: Vec<Vec<GcCycle>>,
}

impl Joiner {
    /// Lines before the chunk being joined: counts what the earlier chunks left.
    fn base(&mut self, data: &[u8]) -> u64 {
        for ((pos, line), end) in self.uncounted.drain(..) {
            self.line_base += line - 1 + memchr::memchr_iter(b'\n', &data[pos..end]).count() as u64;
        }
        self.line_base
    }

    /// Joins the next chunk, scanned from `data[start..end]`.
    fn push(&mut self, data: &[u8], (start, end): (usize, usize), ch: Chunk) {
        let mut next = ch.cycles.iter();
        let keys: Vec<u32> = ch.identities.iter().map(|i| self.asg.key(i)).collect();
        let mut mark = 0;
        for &(key, count) in &ch.keys {
            for c in next.by_ref().take(count as usize) {
                let (run, new) = self.asg.assign(keys[key as usize], c);
                if new {
                    while mark < ch.marks.len() && ch.marks[mark].0 < c.offset() {
                        mark += 1;
                    }
                    let line = match ch.marks.get(mark) {
                        Some(&(offset, line)) if offset == c.offset() => line,
                        // Not where the scan expected a run could start: count from the
                        // mark before it (or the chunk start).
                        _ => {
                            let (from, line) = match mark.checked_sub(1) {
                                Some(m) => (ch.marks[m].0 as usize, ch.marks[m].1),
                                None => (start, 1),
                            };
                            let at = c.offset() as usize;
                            line + memchr::memchr_iter(b'\n', &data[from..at]).count() as u64
                        }
                    };
                    let base = self.base(data);
                    self.layout.new_run(base + line, &self.asg);
                }
                self.layout.push(run);
            }
        }
        if !ch.malformed.is_empty() {
            let base = self.base(data);
            self.malformed
                .extend(ch.malformed.into_iter().map(|m| Malformed {
                    line: base + m.line,
                    ..m
                }));
        }
        self.uncounted.push((ch.counted, end));
        self.parts.push(ch.cycles);
    }

    fn finish(self) -> GcTrace {
        self.layout.finish(self.parts, self.malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The search without the line-start shortcut: every claim found from an `@`.
    fn claims_by_search(data: &[u8], start: usize, end: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut pos = start;
        while let Some(rel) = memchr::memchr(b'@', &data[pos..end]) {
            let p = pos + rel;
            pos = match claim_before(data, p) {
                Some(at) if at >= pos => {
                    out.push(at);
                    memchr::memchr(b'\n', &data[at..end]).map_or(end, |e| at + e) + 1
                }
                _ => p + 1,
            };
            if pos >= end {
                break;
            }
        }
        out
    }

    #[test]
    fn line_start_shortcut_finds_the_same_claims() {
        // Random text from pieces that make or break a claim.
        const PIECES: &[&[u8]] = &[
            b"gc ",
            b"gc 7 @",
            b"\ngc 12 @",
            b"\n",
            b"1",
            b"23",
            b" ",
            b"@",
            b"x",
            b"g",
            b"c",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut at_line_starts = 0;
        for pieces in (0..300).chain([2000, 5000]) {
            let mut data = Vec::new();
            for _ in 0..pieces {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                data.extend_from_slice(PIECES[(seed % PIECES.len() as u64) as usize]);
            }
            // Every line start is a valid start.
            let starts = std::iter::once(0)
                .chain(memchr::memchr_iter(b'\n', &data).map(|i| i + 1))
                .filter(|&s| s <= data.len());
            for start in starts.take(4) {
                let mut got = Vec::new();
                for_each_claim(&data, start, data.len(), |at| {
                    got.push(at);
                    memchr::memchr(b'\n', &data[at..]).map_or(data.len(), |e| at + e)
                });
                assert_eq!(
                    got,
                    claims_by_search(&data, start, data.len()),
                    "{:?} from {start}",
                    String::from_utf8_lossy(&data)
                );
                at_line_starts += got
                    .iter()
                    .filter(|&&at| at == 0 || data[at - 1] == b'\n')
                    .count();
            }
        }
        // The shortcut was taken (and its claims agreed) many times.
        assert!(at_line_starts > 1000, "{at_line_starts}");
    }
}
