//! Which process a gctrace line belongs to, when one log holds several.
//!
//! Two signals, in order:
//! 1. **The line's collector prefix** (and, for JSON records, the fields around the
//!    message): `[pod/api-7f9c/app]` from `kubectl logs --prefix`, stern's
//!    `api-7f9c app`, a CRI `stderr F`, klog's pid, docker JSON's `attrs`, syslog's
//!    `app[123]:`. Timestamps and other per-line values are dropped
//!    ([`identity`]); what remains is the process's identity, and lines with different
//!    identities never share a run.
//! 2. **The gc counter**, within one identity: a cycle `gc N` continues the run whose
//!    last cycle is `gc N-1` (and whose clock is not ahead of it). When several runs
//!    qualify (two processes interleaved at the same count) the one whose heap sizes
//!    and GOMAXPROCS match best, then the most recently extended, wins. A cycle that
//!    continues no run exactly may still extend the identity's latest run when its
//!    counter and clock advance (lost lines); otherwise it starts a run: a restart
//!    (counter back to 1) or another process.
//!
//! A run that has gone [`STALE_CYCLES`] cycles of its identity without a new cycle is
//! closed when the identity's next run starts (a restarted process never comes back),
//! and at most [`MAX_OPEN`] runs per identity stay open, which keeps the candidates few.

use super::GcCycle;
use std::collections::HashMap;

/// A run with no new cycle for this many cycles of its identity is closed.
pub const STALE_CYCLES: u64 = 1024;
/// At most this many runs of one identity stay open (the least recently grown closes):
/// more unprefixed processes than this in one log are not told apart.
pub const MAX_OPEN: usize = 16;

/// The process identity of a line: the collector prefix before `gc` and, in JSON
/// records, the fields after the message, without per-line values. Written to `out`
/// as space-separated tokens; empty for a bare line.
pub(crate) fn identity(prefix: &[u8], suffix: &[u8], out: &mut Vec<u8>) {
    out.clear();
    if prefix.is_empty() && suffix.iter().all(|b| b.is_ascii_whitespace()) {
        return;
    }
    let json = prefix.first() == Some(&b'{');
    // klog: `Lmmdd hh:mm:ss.uuuuuu pid file:line] msg`: the pid is the identity.
    if let Some(pid) = klog_pid(prefix) {
        out.extend_from_slice(b"pid=");
        out.extend_from_slice(pid);
        return;
    }
    for part in [prefix, suffix] {
        let mut i = 0;
        while i < part.len() {
            if is_sep(part[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < part.len() && !is_sep(part[i]) {
                i += 1;
            }
            let tok = &part[start..i];
            // In JSON, a token followed by ':' is a field name, not a value.
            let is_key =
                json && part[i..].iter().find(|b| !is_sep(**b) || **b == b':') == Some(&b':');
            if is_key || volatile(tok) {
                continue;
            }
            if !out.is_empty() {
                out.push(b' ');
            }
            out.extend_from_slice(tok);
        }
    }
}

#[inline]
fn is_sep(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t' | b'\r' | b'"' | b',' | b'{' | b'}' | b'(' | b')' | b'|' | b';' | b'\''
    )
}

/// Per-line values and noise: timestamps, dates, durations, sequence numbers, month and
/// weekday names, bare punctuation, JSON escapes.
fn volatile(tok: &[u8]) -> bool {
    if !tok.iter().any(u8::is_ascii_alphanumeric) || tok.first() == Some(&b'\\') {
        return true;
    }
    let t = tok.strip_suffix(b":").unwrap_or(tok);
    // klog's level and date (`I1123`).
    if t.len() == 5
        && matches!(t[0], b'I' | b'W' | b'E' | b'F')
        && t[1..].iter().all(u8::is_ascii_digit)
    {
        return true;
    }
    if t.iter().any(u8::is_ascii_digit)
        && t.iter().all(|&b| {
            b.is_ascii_digit() || matches!(b, b':' | b'.' | b'-' | b'+' | b'/' | b'T' | b'Z')
        })
    {
        return true;
    }
    const NAMES: [&[u8]; 19] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun",
    ];
    NAMES.contains(&t)
}

/// The pid field of a klog header at the start of `prefix`.
fn klog_pid(prefix: &[u8]) -> Option<&[u8]> {
    let mut toks = prefix
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|t| !t.is_empty());
    let head = toks.next()?;
    let ok_head = head.len() == 5
        && matches!(head[0], b'I' | b'W' | b'E' | b'F')
        && head[1..].iter().all(u8::is_ascii_digit);
    let time = toks.next()?;
    let pid = toks.next()?;
    let file = toks.next()?;
    (ok_head
        && time
            .iter()
            .all(|&b| b.is_ascii_digit() || b == b':' || b == b'.')
        && pid.iter().all(u8::is_ascii_digit)
        && file.ends_with(b"]"))
    .then_some(pid)
}

/// What assignment needs of a run's last cycle.
#[derive(Clone, Copy)]
struct Tail {
    n: u64,
    at_ns: u64,
    heap_start_bytes: u64,
    heap_live_bytes: u64,
    heap_goal_bytes: u64,
    roots_bytes: u64,
    cpu_percent: u32,
    procs: u32,
}

impl From<&GcCycle> for Tail {
    fn from(c: &GcCycle) -> Self {
        Tail {
            n: c.n(),
            at_ns: c.at_ns(),
            heap_start_bytes: c.heap_start_bytes(),
            heap_live_bytes: c.heap_live_bytes(),
            heap_goal_bytes: c.heap_goal_bytes(),
            roots_bytes: c.stacks_bytes().unwrap_or(0) + c.globals_bytes().unwrap_or(0),
            cpu_percent: c.cumulative_cpu_percent(),
            procs: c.procs(),
        }
    }
}

/// An open run, as its identity's candidates list holds it.
struct Open {
    run: usize,
    last: Tail,
    /// The identity's cycle count when this run last grew.
    last_seq: u64,
}

#[derive(Default)]
struct KeyState {
    /// Runs still open, oldest first (a few: stale ones are closed).
    open: Vec<Open>,
    /// `open[i].last.n`, packed: the scan for `gc N-1` reads only this.
    open_n: Vec<u64>,
    /// The run that took the identity's previous cycle (always open).
    latest: Option<usize>,
    seq: u64,
}

/// Assigns cycles, in log order, to runs. Run ids are dense, in order of first cycle.
#[derive(Default)]
pub(crate) struct Assigner {
    ids: HashMap<Box<[u8]>, u32>,
    /// Identity of each key id.
    pub(crate) names: Vec<Box<[u8]>>,
    keys: Vec<KeyState>,
    /// Identity key of each run.
    pub(crate) run_keys: Vec<u32>,
}

impl Assigner {
    /// The key id of an identity.
    pub(crate) fn key(&mut self, identity: &[u8]) -> u32 {
        if let Some(&k) = self.ids.get(identity) {
            return k;
        }
        let k = self.names.len() as u32;
        self.ids.insert(identity.into(), k);
        self.names.push(identity.into());
        self.keys.push(KeyState::default());
        k
    }

    /// The run `c` (of identity `key`) belongs to, and whether it starts that run.
    pub(crate) fn assign(&mut self, key: u32, c: &GcCycle) -> (usize, bool) {
        let ks = &mut self.keys[key as usize];
        ks.seq += 1;
        let seq = ks.seq;
        // (fit, time since the run's last cycle, last growth, index in open): lowest
        // fit, then the nearest in time, then the most recently grown.
        let mut best: Option<(f64, u64, u64, usize)> = None;
        let mut candidates = 0;
        let want = c.n().wrapping_sub(1);
        for i in 0..ks.open_n.len() {
            if ks.open_n[i] != want {
                continue;
            }
            let o = &ks.open[i];
            let t = &o.last;
            if t.at_ns > c.at_ns() {
                continue;
            }
            candidates += 1;
            // A run that has not grown for a while is less likely the owner: after a
            // restart the old run can match the new one's counter (penalty: 0.5 for a
            // run idle 1 cycle, 1.2 for 4, 2.3 for 100).
            let score_of = |o: &Open| fit(&o.last, c) + 0.5 * ((seq - o.last_seq) as f64).ln_1p();
            let score = if candidates == 1 { 0.0 } else { score_of(o) };
            if candidates == 2 {
                // Score the first candidate too now that there is a choice.
                if let Some((s, _, _, i0)) = &mut best {
                    *s = score_of(&ks.open[*i0]);
                }
            }
            let gap = c.at_ns() - t.at_ns;
            let better = match best {
                None => true,
                Some((s, g, l, _)) => {
                    score < s || (score == s && (gap < g || (gap == g && o.last_seq > l)))
                }
            };
            if better {
                best = Some((score, gap, o.last_seq, i));
            }
        }
        let chosen = best.map(|(_, _, _, i)| i).or_else(|| {
            let latest = ks.latest?;
            let i = ks.open.iter().position(|o| o.run == latest)?;
            let t = &ks.open[i].last;
            super::scan::continues(t.n, t.at_ns, c).then_some(i)
        });
        let (i, new) = match chosen {
            Some(i) => (i, false),
            None => {
                // Close stale runs now (not on every cycle: this is the hot path).
                ks.open.retain(|o| seq - o.last_seq <= STALE_CYCLES);
                if ks.open.len() >= MAX_OPEN
                    && let Some(i) = (0..ks.open.len()).min_by_key(|&i| ks.open[i].last_seq)
                {
                    ks.open.remove(i);
                }
                ks.open_n.clear();
                ks.open_n.extend(ks.open.iter().map(|o| o.last.n));
                ks.open_n.push(c.n());
                ks.open.push(Open {
                    run: self.run_keys.len(),
                    last: c.into(),
                    last_seq: seq,
                });
                self.run_keys.push(key);
                (ks.open.len() - 1, true)
            }
        };
        ks.open_n[i] = c.n();
        let o = &mut ks.open[i];
        o.last = c.into();
        o.last_seq = seq;
        ks.latest = Some(o.run);
        (o.run, new)
    }
}

/// How badly `c` fits as the cycle after `t` (0 = perfectly): a heap at cycle start
/// below the previous live heap is impossible for one process; a GOMAXPROCS change is
/// rare; heap sizes and the cumulative GC CPU share move little from one cycle to the
/// next, and the goal follows from
/// the previous live heap (GOGC=100's goal, at least the 4 MiB minimum, as the yardstick:
/// only the comparison between candidates matters).
fn fit(t: &Tail, c: &GcCycle) -> f64 {
    const MIB: f64 = (1u64 << 20) as f64;
    let ratio = |a: u64, b: u64| ((a as f64 + MIB) / (b as f64 + MIB)).ln().abs();
    let goal = (2 * t.heap_live_bytes + t.roots_bytes).max(4 << 20);
    let mut s = ratio(c.heap_start_bytes(), t.heap_start_bytes)
        + ratio(c.heap_goal_bytes(), t.heap_goal_bytes)
        + ratio(c.heap_goal_bytes(), goal)
        // The runtime's cumulative GC CPU share moves slowly.
        + ((f64::from(c.cumulative_cpu_percent()) + 1.0) / (f64::from(t.cpu_percent) + 1.0))
            .ln()
            .abs();
    if c.heap_start_bytes() < t.heap_live_bytes {
        s += 4.0;
    }
    if c.procs() != t.procs {
        s += 4.0;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(prefix: &str, suffix: &str) -> String {
        let mut out = Vec::new();
        identity(prefix.as_bytes(), suffix.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn identities() {
        assert_eq!(id("", ""), "");
        assert_eq!(id("", "\r"), "");
        assert_eq!(
            id("2026-11-23T10:00:00.000001000Z stderr F ", ""),
            "stderr F"
        );
        assert_eq!(id("[pod/api-7f9c-x2k/app] ", ""), "[pod/api-7f9c-x2k/app]");
        assert_eq!(
            id("2026-11-23T10:00:00Z api-7f9c-x2k app ", ""),
            "api-7f9c-x2k app"
        );
        assert_eq!(id("I1123 10:00:00.000000       1 main.go:1] ", ""), "pid=1");
        assert_eq!(
            id("Nov 23 10:00:01 host1 api[4242]: ", ""),
            "host1 api[4242]:"
        );
        assert_eq!(
            id(
                "{\"log\": \"",
                "\\n\", \"stream\": \"stderr\", \"time\": \"2026-11-23T10:00:00.001000Z\"}"
            ),
            "stderr"
        );
        assert_eq!(
            id(
                "{\"log\":\"",
                "\\n\",\"stream\":\"stderr\",\"attrs\":{\"io.kubernetes.pod.name\":\"api-1\"},\"time\":\"2026-11-23T10:00:00Z\"}"
            ),
            "stderr api-1"
        );
        assert_eq!(id("1700000000.123 12 [web-2] ", ""), "[web-2]");
    }
}
