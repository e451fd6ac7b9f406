//! The legacy text forms of Go profiles, as served with `?debug=1`:
//!
//! - heap/allocs: `heap profile: 1101: 3976224 [19560: 48597120] @ heap/8192`, records
//!   `inuse_objects: inuse_bytes [alloc_objects: alloc_bytes] @ 0x... 0x...` each followed by
//!   `#\t0xPC\tfunc+0xOFF\tfile:line` frames, and the `# runtime.MemStats` trailer;
//! - count profiles: `goroutine profile: total 6` / `threadcreate profile: total 5`,
//!   groups `N @ 0x...` with frames and optional `# labels: {...}`;
//! - contention profiles: `--- mutex:` / `--- contention:` with `cycles/second=`,
//!   `sampling period=` and `cycles count @ 0x...` records.
//!
//! Errors carry the 1-based line number.

use crate::FormatError;
use crate::memstats::MemStats;

/// One symbolized frame line: `#\t0x4b6f8a\tmain.allocLeaf+0x2a\t/src/main.go:17`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextFrame {
    pub address: u64,
    /// Empty when the PC had no symbol (`#\t0x0`).
    pub function: String,
    pub offset: u64,
    pub file: String,
    pub line: u32,
}

/// The PCs of a record and the frames printed under it (leaf first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stack {
    pub addrs: Vec<u64>,
    pub frames: Vec<TextFrame>,
}

impl Stack {
    /// Function names leaf first, skipping unsymbolized PCs.
    pub fn functions(&self) -> impl Iterator<Item = &str> {
        self.frames
            .iter()
            .map(|f| f.function.as_str())
            .filter(|f| !f.is_empty())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeapHeader {
    pub inuse_objects: i64,
    pub inuse_bytes: i64,
    pub alloc_objects: i64,
    pub alloc_bytes: i64,
    /// `heap` or `heap_v2`.
    pub format: String,
    /// The sampling rate after `heap/` (bytes per sample on average).
    pub sampling_rate_bytes: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeapRecord {
    pub inuse_objects: i64,
    pub inuse_bytes: i64,
    pub alloc_objects: i64,
    pub alloc_bytes: i64,
    pub stack: Stack,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HeapProfile {
    pub header: HeapHeader,
    pub records: Vec<HeapRecord>,
    pub memstats: Option<Box<MemStats>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountGroup {
    pub count: u64,
    pub stack: Stack,
    /// `# labels: {"k":"v"}` pairs, in order.
    pub labels: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountProfile {
    /// `goroutine`, `threadcreate`, `goroutineleak`, ...
    pub kind: String,
    pub total: u64,
    pub groups: Vec<CountGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentionRecord {
    /// Delay in CPU cycles (see `cycles_per_second`); Go writes nanoseconds-as-cycles with
    /// cycles/second set accordingly.
    pub cycles: i64,
    pub count: i64,
    pub stack: Stack,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentionProfile {
    /// `mutex` or `contention` (block profile).
    pub kind: String,
    pub cycles_per_second: Option<u64>,
    pub sampling_period: Option<u64>,
    pub records: Vec<ContentionRecord>,
}

impl ContentionProfile {
    /// A record's delay in nanoseconds, using cycles/second when present.
    pub fn delay_ns(&self, r: &ContentionRecord) -> f64 {
        match self.cycles_per_second {
            Some(cps) if cps > 0 => r.cycles as f64 * 1e9 / cps as f64,
            _ => r.cycles as f64,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TextProfile {
    Heap(HeapProfile),
    Count(CountProfile),
    Contention(ContentionProfile),
}

/// True when `data` looks like one of the legacy text forms (by its first line).
pub fn looks_like(data: &[u8]) -> bool {
    let head = &data[..data.len().min(64)];
    head.starts_with(b"heap profile:")
        || head.starts_with(b"--- mutex:")
        || head.starts_with(b"--- contention:")
        || {
            let s = String::from_utf8_lossy(head);
            s.split_once(" profile: total ")
                .is_some_and(|(k, _)| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric()))
        }
}

struct Lines<'a> {
    it: std::iter::Peekable<std::iter::Enumerate<std::str::Lines<'a>>>,
    input: &'a str,
}

impl<'a> Lines<'a> {
    fn err(&self, line: usize, msg: impl Into<String>) -> FormatError {
        FormatError::at_line(self.input, line as u64 + 1, msg)
    }
}

/// Parses any legacy text profile, choosing the form by its first line.
pub fn parse(input: &str, data: &[u8]) -> Result<TextProfile, FormatError> {
    let text = match std::str::from_utf8(data) {
        Ok(t) => t,
        Err(e) => {
            let good = &data[..e.valid_up_to()];
            let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
            return Err(FormatError::at_line(
                input,
                line as u64,
                format!("invalid UTF-8 at byte offset {}", e.valid_up_to()),
            ));
        }
    };
    let mut lines = Lines {
        it: text.lines().enumerate().peekable(),
        input,
    };
    // Skip leading blank lines.
    while lines.it.peek().is_some_and(|(_, l)| l.trim().is_empty()) {
        lines.it.next();
    }
    let Some(&(n, first)) = lines.it.peek() else {
        return Err(FormatError::at_line(
            input,
            1,
            "empty input, expected a text profile",
        ));
    };
    if first.starts_with("heap profile:") {
        parse_heap(&mut lines).map(TextProfile::Heap)
    } else if let Some(kind) = first
        .strip_prefix("--- ")
        .and_then(|r| r.trim_end().strip_suffix(':'))
    {
        let kind = kind.to_string();
        lines.it.next();
        parse_contention(&mut lines, kind).map(TextProfile::Contention)
    } else if let Some((kind, total)) = first.split_once(" profile: total ") {
        let total = total
            .trim()
            .parse::<u64>()
            .map_err(|_| lines.err(n, format!("bad total {total:?} in count profile header")))?;
        let kind = kind.to_string();
        lines.it.next();
        parse_count(&mut lines, kind, total).map(TextProfile::Count)
    } else {
        Err(lines.err(
            n,
            "not a text profile: expected `heap profile:`, `--- mutex:`, `--- contention:` or `<kind> profile: total N`",
        ))
    }
}

fn parse_int<T: std::str::FromStr>(
    l: &Lines<'_>,
    n: usize,
    s: &str,
    what: &str,
) -> Result<T, FormatError> {
    s.trim().parse::<T>().map_err(|_| {
        l.err(
            n,
            format!("expected a number for {what}, found {:?}", s.trim()),
        )
    })
}

fn parse_hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

/// `@ 0x1 0x2 ...` → addresses.
fn parse_addrs(l: &Lines<'_>, n: usize, s: &str) -> Result<Vec<u64>, FormatError> {
    s.split_ascii_whitespace()
        .map(|a| parse_hex(a).ok_or_else(|| l.err(n, format!("bad address {a:?}"))))
        .collect()
}

/// A `#\t0xPC\tfunc+0xOFF\tfile:line` line (after the `#`).
fn parse_frame(l: &Lines<'_>, n: usize, rest: &str) -> Result<TextFrame, FormatError> {
    let mut parts = rest.split('\t').map(str::trim).filter(|p| !p.is_empty());
    let addr = parts.next().unwrap_or("");
    let address = parse_hex(addr).ok_or_else(|| l.err(n, format!("bad frame address {addr:?}")))?;
    let mut frame = TextFrame {
        address,
        function: String::new(),
        offset: 0,
        file: String::new(),
        line: 0,
    };
    if let Some(func) = parts.next() {
        match func.rsplit_once("+0x") {
            Some((name, off)) if u64::from_str_radix(off, 16).is_ok() => {
                frame.function = name.to_string();
                frame.offset = u64::from_str_radix(off, 16).unwrap_or(0);
            }
            _ => frame.function = func.to_string(),
        }
    }
    if let Some(fl) = parts.next() {
        match fl.rsplit_once(':') {
            Some((file, line)) if line.parse::<u32>().is_ok() => {
                frame.file = file.to_string();
                frame.line = line.parse().unwrap_or(0);
            }
            _ => frame.file = fl.to_string(),
        }
    }
    Ok(frame)
}

/// Reads the `#\t...` frame lines (and `# labels:` lines) following a record.
fn read_frames(
    l: &mut Lines<'_>,
    stack: &mut Stack,
    labels: &mut Vec<(String, String)>,
) -> Result<(), FormatError> {
    while let Some(&(n, line)) = l.it.peek() {
        let Some(rest) = line.strip_prefix('#') else {
            break;
        };
        if let Some(json) = rest.trim_start().strip_prefix("labels:") {
            *labels = parse_labels(json.trim());
            l.it.next();
            continue;
        }
        if !rest.starts_with('\t') {
            // `# runtime.MemStats` and friends end the records.
            break;
        }
        stack.frames.push(parse_frame(l, n, rest)?);
        l.it.next();
    }
    Ok(())
}

/// `{"k":"v", "k2":"v2"}` as written by runtime/pprof (JSON string map).
fn parse_labels(json: &str) -> Vec<(String, String)> {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json) {
        Ok(m) => m
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect(),
        Err(_) => vec![(String::new(), json.to_string())],
    }
}

fn skip_blank(l: &mut Lines<'_>) {
    while l.it.peek().is_some_and(|(_, s)| s.trim().is_empty()) {
        l.it.next();
    }
}

/// `a: b [c: d]` → (a, b, c, d).
fn parse_counts(l: &Lines<'_>, n: usize, s: &str) -> Result<(i64, i64, i64, i64), FormatError> {
    let bad = || l.err(n, format!("expected `a: b [c: d]`, found {:?}", s.trim()));
    let (inuse, alloc) = s.split_once('[').ok_or_else(bad)?;
    let alloc = alloc.trim().strip_suffix(']').ok_or_else(bad)?;
    let (a, b) = inuse.split_once(':').ok_or_else(bad)?;
    let (c, d) = alloc.split_once(':').ok_or_else(bad)?;
    Ok((
        parse_int(l, n, a, "in-use objects")?,
        parse_int(l, n, b, "in-use bytes")?,
        parse_int(l, n, c, "allocated objects")?,
        parse_int(l, n, d, "allocated bytes")?,
    ))
}

fn parse_heap(l: &mut Lines<'_>) -> Result<HeapProfile, FormatError> {
    let (n, first) = l.it.next().unwrap_or((0, ""));
    let rest = first.strip_prefix("heap profile:").unwrap_or("");
    let (counts, fmt) = rest
        .split_once('@')
        .ok_or_else(|| l.err(n, "heap profile header lacks `@ heap/RATE`"))?;
    let (a, b, c, d) = parse_counts(l, n, counts)?;
    let fmt = fmt.trim();
    let (format, rate) = match fmt.split_once('/') {
        Some((f, r)) => (f.to_string(), parse_int(l, n, r, "sampling rate")?),
        None => (fmt.to_string(), 0),
    };
    let header = HeapHeader {
        inuse_objects: a,
        inuse_bytes: b,
        alloc_objects: c,
        alloc_bytes: d,
        format,
        sampling_rate_bytes: rate,
    };
    let mut records = Vec::new();
    let mut memstats = None;
    loop {
        skip_blank(l);
        let Some(&(n, line)) = l.it.peek() else { break };
        if line.starts_with("# runtime.MemStats") {
            l.it.next();
            memstats = Some(Box::new(parse_memstats(l)?));
            continue;
        }
        if line.starts_with('#') {
            // Other comment lines (future trailers) are skipped.
            l.it.next();
            continue;
        }
        let (counts, addrs) = line
            .split_once('@')
            .ok_or_else(|| l.err(n, "heap record lacks `@ addresses`"))?;
        let (a, b, c, d) = parse_counts(l, n, counts)?;
        let mut stack = Stack {
            addrs: parse_addrs(l, n, addrs)?,
            frames: Vec::new(),
        };
        l.it.next();
        read_frames(l, &mut stack, &mut Vec::new())?;
        records.push(HeapRecord {
            inuse_objects: a,
            inuse_bytes: b,
            alloc_objects: c,
            alloc_bytes: d,
            stack,
        });
    }
    Ok(HeapProfile {
        header,
        records,
        memstats,
    })
}

/// Parses `# Key = value` lines of the MemStats trailer; unknown keys are ignored.
pub fn parse_memstats_lines(input: &str, text: &str) -> Result<MemStats, FormatError> {
    let mut l = Lines {
        it: text.lines().enumerate().peekable(),
        input,
    };
    parse_memstats(&mut l)
}

fn parse_memstats(l: &mut Lines<'_>) -> Result<MemStats, FormatError> {
    let mut m = MemStats::default();
    while let Some(&(n, line)) = l.it.peek() {
        let Some(rest) = line.strip_prefix("# ") else {
            break;
        };
        let Some((key, val)) = rest.split_once(" = ") else {
            break;
        };
        l.it.next();
        let val = val.trim();
        let u = |what: &str| parse_int::<u64>(l, n, val, what);
        let pair = |what: &str| -> Result<(u64, u64), FormatError> {
            let (a, b) = val
                .split_once('/')
                .ok_or_else(|| l.err(n, format!("expected `inuse / sys` for {what}")))?;
            Ok((parse_int(l, n, a, what)?, parse_int(l, n, b, what)?))
        };
        let list = || -> Result<Vec<u64>, FormatError> {
            let inner = val
                .strip_prefix('[')
                .and_then(|v| v.strip_suffix(']'))
                .ok_or_else(|| l.err(n, format!("expected `[...]` for {key}")))?;
            inner
                .split_ascii_whitespace()
                .map(|x| parse_int(l, n, x, key))
                .collect()
        };
        match key {
            "Alloc" => m.alloc = u(key)?,
            "TotalAlloc" => m.total_alloc = u(key)?,
            "Sys" => m.sys = u(key)?,
            "Lookups" => m.lookups = u(key)?,
            "Mallocs" => m.mallocs = u(key)?,
            "Frees" => m.frees = u(key)?,
            "HeapAlloc" => m.heap_alloc = u(key)?,
            "HeapSys" => m.heap_sys = u(key)?,
            "HeapIdle" => m.heap_idle = u(key)?,
            "HeapInuse" => m.heap_inuse = u(key)?,
            "HeapReleased" => m.heap_released = u(key)?,
            "HeapObjects" => m.heap_objects = u(key)?,
            "Stack" => (m.stack_inuse, m.stack_sys) = pair(key)?,
            "MSpan" => (m.mspan_inuse, m.mspan_sys) = pair(key)?,
            "MCache" => (m.mcache_inuse, m.mcache_sys) = pair(key)?,
            "BuckHashSys" => m.buck_hash_sys = u(key)?,
            "GCSys" => m.gc_sys = u(key)?,
            "OtherSys" => m.other_sys = u(key)?,
            "NextGC" => m.next_gc = u(key)?,
            "LastGC" => m.last_gc = u(key)?,
            "PauseNs" => m.pause_ns = list()?,
            "PauseEnd" => m.pause_end = list()?,
            "NumGC" => m.num_gc = u(key)?,
            "NumForcedGC" => m.num_forced_gc = Some(u(key)?),
            "GCCPUFraction" => m.gc_cpu_fraction = Some(parse_int::<f64>(l, n, val, key)?),
            "DebugGC" => m.debug_gc = Some(parse_int::<bool>(l, n, val, key)?),
            "MaxRSS" => m.max_rss = Some(u(key)?),
            _ => {}
        }
    }
    Ok(m)
}

fn parse_count(l: &mut Lines<'_>, kind: String, total: u64) -> Result<CountProfile, FormatError> {
    let mut groups = Vec::new();
    loop {
        skip_blank(l);
        let Some(&(n, line)) = l.it.peek() else { break };
        let (count, addrs) = line
            .split_once('@')
            .ok_or_else(|| l.err(n, "expected `N @ addresses`"))?;
        let count = parse_int(l, n, count, "group count")?;
        let mut stack = Stack {
            addrs: parse_addrs(l, n, addrs)?,
            frames: Vec::new(),
        };
        l.it.next();
        let mut labels = Vec::new();
        read_frames(l, &mut stack, &mut labels)?;
        groups.push(CountGroup {
            count,
            stack,
            labels,
        });
    }
    Ok(CountProfile {
        kind,
        total,
        groups,
    })
}

fn parse_contention(l: &mut Lines<'_>, kind: String) -> Result<ContentionProfile, FormatError> {
    let mut p = ContentionProfile {
        kind,
        cycles_per_second: None,
        sampling_period: None,
        records: Vec::new(),
    };
    loop {
        skip_blank(l);
        let Some(&(n, line)) = l.it.peek() else { break };
        if let Some((k, v)) = line.split_once('=')
            && !line.contains('@')
        {
            match k.trim() {
                "cycles/second" => p.cycles_per_second = Some(parse_int(l, n, v, k)?),
                "sampling period" => p.sampling_period = Some(parse_int(l, n, v, k)?),
                _ => {}
            }
            l.it.next();
            continue;
        }
        if line.starts_with('#') {
            l.it.next();
            continue;
        }
        let (nums, addrs) = line
            .split_once('@')
            .ok_or_else(|| l.err(n, "expected `cycles count @ addresses`"))?;
        let mut it = nums.split_ascii_whitespace();
        let cycles = parse_int(l, n, it.next().unwrap_or(""), "cycles")?;
        let count = parse_int(l, n, it.next().unwrap_or(""), "count")?;
        let mut stack = Stack {
            addrs: parse_addrs(l, n, addrs)?,
            frames: Vec::new(),
        };
        l.it.next();
        read_frames(l, &mut stack, &mut Vec::new())?;
        p.records.push(ContentionRecord {
            cycles,
            count,
            stack,
        });
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_line_with_alignment_tabs() {
        let l = Lines {
            it: "".lines().enumerate().peekable(),
            input: "x",
        };
        let f = parse_frame(&l, 0, "\t0x4b700a\tmain.alloc+0x4a\t\t/tmp/a b/main.go:21").unwrap();
        assert_eq!(f.address, 0x4b700a);
        assert_eq!(f.function, "main.alloc");
        assert_eq!(f.offset, 0x4a);
        assert_eq!(f.file, "/tmp/a b/main.go");
        assert_eq!(f.line, 21);
        let f = parse_frame(&l, 0, "\t0x0").unwrap();
        assert_eq!(f.function, "");
    }

    #[test]
    fn errors_carry_line_numbers() {
        let e = parse(
            "t",
            b"heap profile: 1: 2 [3: 4] @ heap/8\n1: x [1: 1] @ 0x1\n",
        )
        .unwrap_err();
        assert_eq!(e.location, crate::Location::Line(2), "{e}");
        let e = parse("t", b"goroutine profile: total 2\n2 @ 0xZZ\n").unwrap_err();
        assert_eq!(e.location, crate::Location::Line(2), "{e}");
        let e = parse("t", b"").unwrap_err();
        assert_eq!(e.location, crate::Location::Line(1));
        assert!(parse("t", b"hello\n").is_err());
    }
}
