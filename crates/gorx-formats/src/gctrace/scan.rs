//! The scan behind [`super::parse`]: the input is cut into chunks at line boundaries,
//! each chunk is scanned on its own (in parallel for large inputs) into runs as if it
//! were the whole input, and the chunks are then joined in order: a chunk's first run
//! continues the previous chunk's last run exactly when a sequential scan would have
//! continued it (the rule only looks at the previous cycle), so the result does not
//! depend on where the chunks fall. Cycles are stored once, in their run's vector;
//! only a run crossing a chunk boundary is copied (appended) at the join.
//!
//! Per line the cost is one SIMD `memmem` step for lines without `gc `; a gctrace line
//! takes the fast parser ([`super::fast`]) and no allocation. Line numbers are counted
//! only for the first cycle of a run and for malformed lines.

use super::{GcCycle, GcRun, GcTrace, Malformed, claims_gctrace, fast, parse_at};
use memchr::memmem;

/// What one chunk holds, with line numbers relative to the chunk's first line.
#[derive(Default)]
pub(super) struct Chunk {
    pub(super) runs: Vec<GcRun>,
    pub(super) malformed: Vec<Malformed>,
    /// Newlines in the chunk (the next chunk's first line is this many lines further).
    pub(super) newlines: u64,
}

/// Whether `c` continues `prev` in the same run (the counter and the clock both advance).
#[inline]
pub(super) fn continues(prev: &GcCycle, c: &GcCycle) -> bool {
    c.n > prev.n && c.at_ns >= prev.at_ns
}

/// Scans `data[start..end]`, where `start` is a line start and `end` a line start or the
/// end of input. `data` is the whole input so a match can look at the byte before it.
pub(super) fn scan_chunk(data: &[u8], start: usize, end: usize) -> Chunk {
    let mut out = Chunk::default();
    let finder = memmem::Finder::new(b"gc ");
    let mut counted_pos = start;
    let mut counted_line = 1u64;
    let mut line_at = |pos: usize| -> u64 {
        counted_line += memchr::memchr_iter(b'\n', &data[counted_pos..pos]).count() as u64;
        counted_pos = pos;
        counted_line
    };
    let mut pos = start;
    let mut tail = [0u8; fast::WINDOW];
    while pos < end {
        let Some(rel) = finder.find(&data[pos..end]) else {
            break;
        };
        let at = pos + rel;
        if at > 0 && !boundary_ok(data[at - 1]) {
            pos = at + 1;
            continue;
        }
        // The fast parser reads a fixed window; near the end of the input the window is a
        // zero-padded copy (zero matches nothing the parser accepts, like end of input).
        // Bytes past `end` (the next chunk) are never read: `end` is a line start, and a
        // line's fields stop at its newline.
        let win: &[u8; fast::WINDOW] = match data.get(at..at + fast::WINDOW) {
            Some(w) => w.try_into().expect("window length"),
            None => {
                let rest = &data[at..];
                tail.fill(0);
                tail[..rest.len()].copy_from_slice(rest);
                &tail
            }
        };
        let parsed = fast::parse(win).map(|(c, used)| (c, at + used));
        let fields_end = match parsed {
            Some((mut c, fields_end)) => {
                c.offset = at as u64;
                push(&mut out.runs, c, || line_at(at));
                fields_end
            }
            None if claims_gctrace(data, at) => {
                let line_end = memchr::memchr(b'\n', &data[at..end]).map_or(end, |e| at + e);
                match parse_at(&data[at..line_end]) {
                    Ok(mut c) => {
                        // Lines the fast path declines (over-long numbers, very long
                        // lines) but the checked parser accepts.
                        c.offset = at as u64;
                        push(&mut out.runs, c, || line_at(at));
                    }
                    Err(message) => out.malformed.push(Malformed {
                        line: line_at(at),
                        message,
                    }),
                }
                line_end
            }
            None => {
                pos = at + 1;
                continue;
            }
        };
        // One gctrace line per log line: go on after this line's newline.
        pos = memchr::memchr(b'\n', &data[fields_end.min(end)..end])
            .map_or(end, |e| fields_end.min(end) + e + 1);
    }
    line_at(end);
    out.newlines = counted_line - 1;
    out
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

/// Appends `c` to the last run, or starts a run (at the line `line` returns) when it
/// does not continue it.
#[inline]
pub(super) fn push(runs: &mut Vec<GcRun>, c: GcCycle, line: impl FnOnce() -> u64) {
    match runs.last_mut() {
        Some(r) if r.cycles.last().is_some_and(|p| continues(p, &c)) => r.cycles.push(c),
        _ => runs.push(GcRun {
            first_line: line(),
            cycles: vec![c],
        }),
    }
}

/// Joins chunks in input order.
pub(super) fn merge(chunks: Vec<Chunk>) -> GcTrace {
    let mut out = GcTrace::default();
    let mut line_base = 0u64;
    for ch in chunks {
        for (k, mut run) in ch.runs.into_iter().enumerate() {
            run.first_line += line_base;
            match out.runs.last_mut() {
                Some(last)
                    if k == 0
                        && matches!((last.cycles.last(), run.cycles.first()),
                            (Some(p), Some(c)) if continues(p, c)) =>
                {
                    last.cycles.append(&mut run.cycles)
                }
                _ => out.runs.push(run),
            }
        }
        out.malformed
            .extend(ch.malformed.into_iter().map(|m| Malformed {
                line: line_base + m.line,
                ..m
            }));
        line_base += ch.newlines;
    }
    out
}
