//! The scan behind [`super::parse`]: the input is cut into chunks at line boundaries and
//! each chunk is scanned on its own (in parallel for large inputs) into "pieces":
//! consecutive cycles of one identity that continue each other. The join then runs the
//! run assignment ([`super::runs::Assigner`]) over every cycle in log order, so runs
//! are exactly those of a sequential scan wherever the chunks fall; a piece whose
//! cycles all land in one run is moved (or appended) whole, so cycles are normally
//! stored once and only a run crossing a chunk boundary is copied.
//!
//! Per line the cost is one SIMD `memmem` step for lines without `gc `; a gctrace line
//! is parsed without allocating. Line numbers are counted only for the first cycle of a
//! piece and for malformed lines.

use super::runs::{Assigner, identity};
use super::{GcCycle, GcRun, GcTrace, Malformed, claims_gctrace, parse_fields};
use memchr::memmem;

/// How far back from `gc` a line's collector prefix is looked at.
pub(super) const MAX_PREFIX: usize = 4096;

/// Consecutive cycles of one identity in one chunk, each continuing the one before
/// (counter and clock advance): the join maps most pieces whole onto one run.
pub(super) struct Piece {
    /// Identity, an index into [`Chunk::identities`].
    key: u32,
    /// Line of the first cycle, 1-based within the chunk.
    first_line: u64,
    cycles: Vec<GcCycle>,
}

/// What one chunk holds, with line numbers relative to the chunk's first line.
#[derive(Default)]
pub(super) struct Chunk {
    pieces: Vec<Piece>,
    /// The piece of each cycle in log order, once pieces interleave (before that, and
    /// when they never do, the order is piece after piece).
    order: Option<Vec<u32>>,
    identities: Vec<Box<[u8]>>,
    malformed: Vec<Malformed>,
    /// Newlines in the chunk (the next chunk's first line is this many lines further).
    newlines: u64,
}

/// Scans `data[start..end]`, where `start` is a line start and `end` a line start or the
/// end of input. `data` is the whole input so a match can look at the byte before it.
pub(super) fn scan_chunk(data: &[u8], start: usize, end: usize) -> Chunk {
    let mut out = Chunk::default();
    let mut asg = Assigner::default();
    let finder = memmem::Finder::new(b"gc ");
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
    let mut latest: Vec<Option<usize>> = Vec::new();
    let mut cycles_seen = 0usize;
    let mut pos = start;
    while pos < end {
        let Some(rel) = finder.find(&data[pos..end]) else {
            break;
        };
        let at = pos + rel;
        if !claims_gctrace(data, at) {
            pos = at + 1;
            continue;
        }
        let line_end = memchr::memchr(b'\n', &data[at..end]).map_or(end, |e| at + e);
        let parsed = parse_fields(&data[at..line_end]).map(|(c, used)| (c, at + used));
        let fields_end = match parsed {
            Ok((mut c, fields_end)) => {
                c.offset = at as u64;
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
                // A piece per identity for as long as its cycles continue each other;
                // the join decides the runs.
                if latest.len() <= key as usize {
                    latest.resize(key as usize + 1, None);
                }
                let (piece, new) = match latest[key as usize] {
                    Some(p)
                        if out.pieces[p]
                            .cycles
                            .last()
                            .is_some_and(|prev| continues(prev, &c)) =>
                    {
                        (p, false)
                    }
                    _ => (out.pieces.len(), true),
                };
                latest[key as usize] = Some(piece);
                if new {
                    out.pieces.push(Piece {
                        key,
                        first_line: line_at(at),
                        cycles: Vec::new(),
                    });
                }
                if out.order.is_none() && piece + 1 != out.pieces.len() {
                    // Pieces interleave from here on: write out the order so far.
                    let mut order = Vec::with_capacity(cycles_seen * 2);
                    for (i, p) in out.pieces.iter().enumerate() {
                        order.extend(std::iter::repeat_n(i as u32, p.cycles.len()));
                    }
                    out.order = Some(order);
                }
                if let Some(o) = &mut out.order {
                    o.push(piece as u32);
                }
                out.pieces[piece].cycles.push(c);
                cycles_seen += 1;
                line_end
            }
            Err(message) => {
                out.malformed.push(Malformed {
                    line: line_at(at),
                    message,
                });
                line_end
            }
        };
        // One gctrace line per log line: go on after this line's newline.
        pos = fields_end + 1;
    }
    line_at(end);
    out.newlines = counted_line - 1;
    out.identities = asg.names;
    out
}

/// The start of the line holding `at` (looking back at most [`MAX_PREFIX`] bytes, never
/// before the chunk start, which is a line start).
fn line_start(data: &[u8], start: usize, at: usize) -> usize {
    let from = start.max(at.saturating_sub(MAX_PREFIX));
    memchr::memrchr(b'\n', &data[from..at]).map_or(from, |i| from + i + 1)
}

/// Whether `c` can follow `prev` in one process (the counter and the clock advance).
#[inline]
fn continues(prev: &GcCycle, c: &GcCycle) -> bool {
    c.n > prev.n && c.at_ns >= prev.at_ns
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

/// Joins chunks (scanned from `bounds`) in input order.
pub(super) fn merge(data: &[u8], bounds: &[(usize, usize)], chunks: Vec<Chunk>) -> GcTrace {
    let mut out = GcTrace::default();
    let mut asg = Assigner::default();
    let mut line_base = 0u64;
    for (ch, &(start, _)) in chunks.into_iter().zip(bounds) {
        let keys: Vec<u32> = ch.identities.iter().map(|i| asg.key(i)).collect();
        // The global run of every cycle, piece by piece; a piece maps to one run when
        // all its cycles do and it starts that run or continues it from an earlier chunk.
        let mut target: Vec<Option<usize>> = vec![None; ch.pieces.len()];
        let mut whole = vec![true; ch.pieces.len()];
        let mut first_new = vec![false; ch.pieces.len()];
        let mut assign = |p: usize, c: &GcCycle, asg: &mut Assigner| {
            let (run, new) = asg.assign(keys[ch.pieces[p].key as usize], c);
            match target[p] {
                None => {
                    target[p] = Some(run);
                    first_new[p] = new;
                }
                Some(t) if t != run || new => whole[p] = false,
                Some(_) => {}
            }
            (run, new)
        };
        let mut per_cycle: Vec<(usize, bool)> = Vec::new();
        match &ch.order {
            None => {
                for (p, piece) in ch.pieces.iter().enumerate() {
                    for c in &piece.cycles {
                        per_cycle.push(assign(p, c, &mut asg));
                    }
                }
            }
            Some(order) => {
                let mut next = vec![0usize; ch.pieces.len()];
                for &p in order {
                    let p = p as usize;
                    let c = &ch.pieces[p].cycles[next[p]];
                    next[p] += 1;
                    per_cycle.push(assign(p, c, &mut asg));
                }
            }
        }
        // Two pieces feeding one run would interleave its cycles: take them one by one.
        let mut seen = std::collections::HashSet::new();
        let movable = whole.iter().all(|&w| w) && target.iter().all(|t| seen.insert(*t));
        let new_run = |out: &mut GcTrace, run: usize, line: u64, asg: &Assigner| {
            debug_assert_eq!(run, out.runs.len());
            out.runs.push(GcRun {
                first_line: line,
                cycles: Vec::new(),
                source: String::from_utf8_lossy(&asg.names[asg.run_keys[run] as usize])
                    .into_owned(),
            });
        };
        if movable {
            // Runs are created in order of their first cycle; pieces too.
            for (p, mut piece) in ch.pieces.into_iter().enumerate() {
                let run = target[p].unwrap_or(0);
                if first_new[p] {
                    new_run(&mut out, run, line_base + piece.first_line, &asg);
                }
                let dst = &mut out.runs[run].cycles;
                if dst.is_empty() {
                    *dst = std::mem::take(&mut piece.cycles);
                } else {
                    dst.append(&mut piece.cycles);
                }
            }
        } else {
            let mut cycles: Vec<std::vec::IntoIter<GcCycle>> = ch
                .pieces
                .into_iter()
                .map(|p| p.cycles.into_iter())
                .collect();
            let order: Box<dyn Iterator<Item = usize>> = match ch.order {
                Some(o) => Box::new(o.into_iter().map(|p| p as usize)),
                None => Box::new(
                    cycles
                        .iter()
                        .enumerate()
                        .flat_map(|(p, it)| std::iter::repeat_n(p, it.len()))
                        .collect::<Vec<_>>()
                        .into_iter(),
                ),
            };
            let mut counted = (start, line_base + 1);
            for (p, (run, new)) in order.zip(per_cycle) {
                let Some(c) = cycles[p].next() else { break };
                if new {
                    // Only a piece's first line was counted; count this one.
                    let at = c.offset as usize;
                    counted.1 += memchr::memchr_iter(b'\n', &data[counted.0..at]).count() as u64;
                    counted.0 = at;
                    new_run(&mut out, run, counted.1, &asg);
                }
                out.runs[run].cycles.push(c);
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
