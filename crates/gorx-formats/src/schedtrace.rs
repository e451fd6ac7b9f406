//! `GODEBUG=schedtrace=N[,scheddetail=1]` output (runtime/proc.go `schedtrace`):
//!
//! ```text
//! SCHED 1000ms: gomaxprocs=4 idleprocs=4 threads=7 spinningthreads=0 needspinning=0 idlethreads=3 runqueue=0 [ 0 0 0 0 ] schedticks=[ 5 2 0 1 ]
//! SCHED 0ms: gomaxprocs=2 idleprocs=0 threads=3 spinningthreads=0 idlethreads=0 runqueue=0 [0 0]      (Go ≤ 1.20)
//! SCHED 0ms: gomaxprocs=1 ... runqueue=0 gcwaiting=false nmidlelocked=0 stopwait=0 sysmonwait=false    (scheddetail)
//!   P0: status=1 schedtick=0 syscalltick=0 m=0 runqsize=0 gfreecnt=0 timerslen=0
//!   M0: p=0 curg=1 mallocing=0 throwing=0 preemptoff= locks=1 dying=0 spinning=false blocked=false lockedg=1
//!   G1: status=2(chan receive) m=0 lockedm=0
//! ```
//!
//! Header fields are kept generically (`key=value`) so fields added by later Go versions
//! (`needspinning` in 1.21) need no code. Detail lines attach to the preceding header.

use crate::gctrace::{Cur, Malformed};
use memchr::memmem;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SchedSnapshot {
    /// 1-based line of the `SCHED` header.
    pub line: u64,
    /// Milliseconds since the first schedtrace of the process.
    pub at_ms: u64,
    /// Header counters: gomaxprocs, idleprocs, threads, spinningthreads, needspinning,
    /// idlethreads, runqueue, and with scheddetail nmidlelocked, stopwait (booleans as 0/1).
    pub fields: BTreeMap<String, i64>,
    /// Per-P local run queue lengths (non-detailed form).
    pub local_runqueues: Vec<u64>,
    /// Per-P schedule ticks (Go 1.25+ non-detailed form).
    pub schedticks: Vec<u64>,
    pub ps: Vec<Detail>,
    pub ms: Vec<Detail>,
    pub gs: Vec<GDetail>,
}

impl SchedSnapshot {
    pub fn get(&self, key: &str) -> Option<i64> {
        self.fields.get(key).copied()
    }
}

/// A `P<n>:` or `M<n>:` detail line; `nil` values are absent from `fields`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Detail {
    pub id: i64,
    pub fields: BTreeMap<String, i64>,
}

/// A `G<n>:` detail line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GDetail {
    pub id: u64,
    pub status: u32,
    pub wait_reason: String,
    pub m: Option<i64>,
    pub lockedm: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SchedTrace {
    pub snapshots: Vec<SchedSnapshot>,
    pub malformed: Vec<Malformed>,
}

fn value(v: &str) -> Option<i64> {
    match v {
        "true" => Some(1),
        "false" => Some(0),
        // `preemptoff=` prints a (usually empty) reason string.
        _ => v.parse().ok(),
    }
}

fn kv_fields(s: &str, into: &mut BTreeMap<String, i64>) {
    for tok in s.split_ascii_whitespace() {
        if let Some((k, v)) = tok.split_once('=')
            && let Some(v) = value(v)
        {
            into.insert(k.to_string(), v);
        }
    }
}

fn bracket_list(s: &str) -> Option<(Vec<u64>, &str)> {
    let open = s.find('[')?;
    let close = open + s[open..].find(']')?;
    let v = s[open + 1..close]
        .split_ascii_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    Some((v, &s[close + 1..]))
}

/// Parses the header from `SCHED ` onwards.
pub fn parse_header(s: &str) -> Result<SchedSnapshot, String> {
    let mut c = Cur::new(s.as_bytes());
    c.lit("SCHED ")?;
    let at_ms = c.uint()?;
    c.lit("ms: ")?;
    let rest = &s[c.i..];
    let mut snap = SchedSnapshot {
        at_ms,
        ..Default::default()
    };
    let (head, tail) = match rest.find('[') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    kv_fields(head, &mut snap.fields);
    if !snap.fields.contains_key("gomaxprocs") {
        return Err("no gomaxprocs= field".into());
    }
    if let Some((rq, after)) = bracket_list(tail) {
        snap.local_runqueues = rq;
        if let Some(i) = after.find("schedticks=")
            && let Some((ticks, _)) = bracket_list(&after[i..])
        {
            snap.schedticks = ticks;
        }
    }
    Ok(snap)
}

fn parse_detail(s: &str) -> Option<Detail> {
    let (id, rest) = s[1..].split_once(':')?;
    let mut d = Detail {
        id: id.parse().ok()?,
        ..Default::default()
    };
    kv_fields(rest, &mut d.fields);
    Some(d)
}

fn parse_g(s: &str) -> Option<GDetail> {
    let (id, rest) = s[1..].split_once(':')?;
    let rest = rest.trim_start().strip_prefix("status=")?;
    let open = rest.find('(')?;
    let close = rest.rfind(')')?;
    if close < open {
        return None;
    }
    let mut fields = BTreeMap::new();
    kv_fields(&rest[close + 1..], &mut fields);
    Some(GDetail {
        id: id.parse().ok()?,
        status: rest[..open].parse().ok()?,
        wait_reason: rest[open + 1..close].to_string(),
        m: fields.get("m").copied(),
        lockedm: fields.get("lockedm").copied(),
    })
}

/// Finds every schedtrace header (after any prefix) and its detail lines.
pub fn parse(_input: &str, data: &[u8]) -> SchedTrace {
    let mut out = SchedTrace::default();
    let finder = memmem::Finder::new(b"SCHED ");
    let mut line_no = 0u64;
    for raw in data.split(|&b| b == b'\n') {
        line_no += 1;
        let line = String::from_utf8_lossy(raw);
        let trimmed = line.trim_end_matches('\r');
        if let Some(at) = finder.find(raw)
            && raw.get(at + 6).is_some_and(u8::is_ascii_digit)
        {
            // Slice the raw bytes: `line` may differ in length after lossy decoding.
            let header = String::from_utf8_lossy(&raw[at..]);
            match parse_header(header.trim_end_matches('\r')) {
                Ok(mut s) => {
                    s.line = line_no;
                    out.snapshots.push(s);
                }
                Err(message) => out.malformed.push(Malformed {
                    line: line_no,
                    message,
                }),
            }
            continue;
        }
        // Detail lines are indented by two spaces; prefixes from collectors are rare
        // for them, so only the bare form is recognised.
        let Some(d) = trimmed.strip_prefix("  ") else {
            continue;
        };
        let Some(snap) = out.snapshots.last_mut() else {
            continue;
        };
        let first = d.as_bytes().first().copied();
        let digit = d.as_bytes().get(1).is_some_and(u8::is_ascii_digit);
        match (first, digit) {
            (Some(b'P'), true) => snap.ps.extend(parse_detail(d)),
            (Some(b'M'), true) => snap.ms.extend(parse_detail(d)),
            (Some(b'G'), true) => match parse_g(d) {
                Some(g) => snap.gs.push(g),
                None => out.malformed.push(Malformed {
                    line: line_no,
                    message: "malformed scheddetail G line".into(),
                }),
            },
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_and_detail_forms() {
        let t = parse(
            "x",
            b"SCHED 1000ms: gomaxprocs=4 idleprocs=3 threads=7 spinningthreads=0 needspinning=0 idlethreads=3 runqueue=2 [ 0 1 0 0 ] schedticks=[ 5 2 0 1 ]\n\
pod-1 SCHED 0ms: gomaxprocs=2 idleprocs=0 threads=3 spinningthreads=0 idlethreads=0 runqueue=0 [0 0]\n\
SCHED 0ms: gomaxprocs=1 idleprocs=0 threads=3 spinningthreads=0 needspinning=0 idlethreads=0 runqueue=0 gcwaiting=false nmidlelocked=1 stopwait=0 sysmonwait=false\n\
\x20 P0: status=1 schedtick=0 syscalltick=0 m=0 runqsize=0 gfreecnt=0 timerslen=0\n\
\x20 M1: p=nil curg=nil mallocing=0 throwing=0 preemptoff= locks=0 dying=0 spinning=false blocked=false lockedg=nil\n\
\x20 G1: status=4(chan receive) m=nil lockedm=nil\n",
        );
        assert_eq!(t.snapshots.len(), 3);
        let s = &t.snapshots[0];
        assert_eq!(s.at_ms, 1000);
        assert_eq!(s.get("gomaxprocs"), Some(4));
        assert_eq!(s.get("runqueue"), Some(2));
        assert_eq!(s.local_runqueues, vec![0, 1, 0, 0]);
        assert_eq!(s.schedticks, vec![5, 2, 0, 1]);
        assert_eq!(t.snapshots[1].local_runqueues, vec![0, 0]);
        let d = &t.snapshots[2];
        assert_eq!(d.get("nmidlelocked"), Some(1));
        assert_eq!(d.get("gcwaiting"), Some(0));
        assert_eq!(d.ps[0].fields.get("m"), Some(&0));
        assert_eq!(d.ms[0].id, 1);
        assert_eq!(d.ms[0].fields.get("p"), None);
        assert_eq!(d.gs[0].wait_reason, "chan receive");
        assert_eq!(d.gs[0].status, 4);
        assert!(t.malformed.is_empty());
    }
}
