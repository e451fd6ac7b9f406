//! Chrome trace-event JSON from an execution trace, one event at a time.
//!
//! The output is the JSON "trace event format" that both chrome://tracing and the
//! Perfetto UI open: one process; a track per P with the goroutines that ran on it
//! (complete "X" slices, category `running`); a track per goroutine with its blocked and
//! syscall spans and GC mark assists; one "STW" and one "GC" track; a sweep track per P;
//! user regions on a per-goroutine track, tasks as async slices, logs as instants.
//! Only per-goroutine open state is kept, never the events themselves.

use gorx_trace::event::{Event, EventKind, GoId, GoState, ProcId, Resource, StackRef, Time};
use gorx_trace::goutil::{FxHashMap, FxHashSet};
use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

/// Which part of the trace to export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Window start, nanoseconds after the first event.
    pub start_ns: Option<i64>,
    /// Window end, nanoseconds after the first event.
    pub end_ns: Option<i64>,
    /// Only these goroutines' slices, regions, logs and tasks (global GC/STW kept).
    pub goroutines: Option<HashSet<GoId>>,
    /// Shown as the process name.
    pub process_name: String,
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct ExportStats {
    pub events_read: u64,
    pub events_written: u64,
    pub running_slices: u64,
    /// Nanoseconds from the first to the last event read.
    pub span_ns: i64,
}

// Track (tid) layout. Goroutine tracks are derived from the goroutine id so that no
// table of assigned ids has to be kept.
const TID_STW: i64 = 1;
const TID_GC: i64 = 2;
const TID_NO_P: i64 = 99;
const TID_P_BASE: i64 = 100;
const TID_SWEEP_BASE: i64 = 500_000;
const TID_G_BASE: i64 = 1_000_000;

fn tid_p(p: ProcId) -> i64 {
    if p < 0 { TID_NO_P } else { TID_P_BASE + p }
}
fn tid_g(g: GoId) -> i64 {
    TID_G_BASE + 2 * g.max(0)
}
fn tid_g_regions(g: GoId) -> i64 {
    tid_g(g) + 1
}

#[derive(Default)]
struct GState {
    state: Option<GoState>,
    since: Time,
    p: ProcId,
    /// Why it is waiting (GoBlock reason), shown as the blocked slice's name.
    reason: String,
    /// The goroutine's function: start function from its creation, else the first
    /// user frame seen in one of its stacks.
    func: Option<String>,
    /// Open user regions, innermost last.
    regions: Vec<(String, Time)>,
    assist_since: Option<Time>,
}

/// Streams Chrome trace-event JSON into `W`.
pub struct ChromeExporter<W: Write> {
    w: W,
    opts: ExportOptions,
    first: Option<Time>,
    last: Time,
    gs: FxHashMap<GoId, GState>,
    ranges: HashMap<(String, i64), Time>,
    named: FxHashSet<i64>,
    wrote_any: bool,
    stats: ExportStats,
}

/// The first frame outside the runtime and standard synchronization, else the leaf.
fn user_func(ev: &Event, stack: StackRef) -> Option<String> {
    let frames = ev.frames(stack);
    let user = frames.iter().find(|f| {
        !(f.func.starts_with(b"runtime.")
            || f.func.starts_with(b"runtime/")
            || f.func.starts_with(b"internal/")
            || f.func.starts_with(b"sync.")
            || f.func.starts_with(b"syscall.")
            || f.func.starts_with(b"time.Sleep"))
    });
    user.or(frames.first())
        .filter(|f| !f.func.is_empty())
        .map(|f| String::from_utf8_lossy(f.func).into_owned())
}

/// Nanoseconds as microseconds with exactly three decimals (exact, no float rounding).
fn write_us(w: &mut impl Write, ns: i64) -> io::Result<()> {
    let ns = ns.max(0);
    write_int(w, ns / 1000)?;
    let frac = ns % 1000;
    let digit = |d: i64| b'0' + d as u8;
    w.write_all(&[
        b'.',
        digit(frac / 100),
        digit(frac / 10 % 10),
        digit(frac % 10),
    ])
}

/// `v` in decimal, as `{}` prints it, without the formatting machinery (which was a
/// quarter of an export's time: a slice has five numbers).
fn write_int(w: &mut impl Write, v: i64) -> io::Result<()> {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut u = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if v < 0 {
        w.write_all(b"-")?;
    }
    w.write_all(&buf[i..])
}

/// The body of a slice's `args` object.
enum Args<'a> {
    /// Already JSON (without braces).
    Text(&'a str),
    Goid(GoId),
    /// A running slice: its goroutine, P, and why it ended (a JSON string).
    Running {
        goid: GoId,
        p: ProcId,
        end: &'a str,
    },
}

impl Args<'_> {
    fn write(&self, w: &mut impl Write) -> io::Result<()> {
        match *self {
            Args::Text(t) => w.write_all(t.as_bytes()),
            Args::Goid(g) => {
                w.write_all(b"\"goid\":")?;
                write_int(w, g)
            }
            Args::Running { goid, p, end } => {
                w.write_all(b"\"goid\":")?;
                write_int(w, goid)?;
                w.write_all(b",\"p\":")?;
                write_int(w, p)?;
                w.write_all(b",\"end\":")?;
                w.write_all(end.as_bytes())
            }
        }
    }
}

fn write_json_str(w: &mut impl Write, s: &str) -> io::Result<()> {
    serde_json::to_writer(w, s).map_err(io::Error::from)
}

impl<W: Write> ChromeExporter<W> {
    pub fn new(mut w: W, opts: ExportOptions) -> io::Result<Self> {
        w.write_all(b"{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n")?;
        let mut e = ChromeExporter {
            w,
            opts,
            first: None,
            last: 0,
            gs: FxHashMap::default(),
            ranges: HashMap::new(),
            named: FxHashSet::default(),
            wrote_any: false,
            stats: ExportStats::default(),
        };
        e.sep()?;
        e.w.write_all(
            b"{\"ph\":\"M\",\"pid\":1,\"tid\":0,\"name\":\"process_name\",\"args\":{\"name\":",
        )?;
        write_json_str(&mut e.w, &e.opts.process_name.clone())?;
        e.w.write_all(b"}}")?;
        Ok(e)
    }

    /// True once `t` lies after the window's end: nothing later can be written, so the
    /// caller may stop reading.
    pub fn past_window(&self, t: Time) -> bool {
        match (self.first, self.opts.end_ns) {
            (Some(f), Some(end)) => t - f > end,
            _ => false,
        }
    }

    fn sep(&mut self) -> io::Result<()> {
        if self.wrote_any {
            self.w.write_all(b",\n")?;
        }
        self.wrote_any = true;
        self.stats.events_written += 1;
        Ok(())
    }

    fn wanted(&self, g: GoId) -> bool {
        self.opts.goroutines.as_ref().is_none_or(|s| s.contains(&g))
    }

    /// Name a track the first time something is written on it.
    fn name_track(&mut self, tid: i64) -> io::Result<()> {
        if !self.named.insert(tid) {
            return Ok(());
        }
        let name = match tid {
            TID_STW => "STW".to_string(),
            TID_GC => "GC".to_string(),
            TID_NO_P => "no P".to_string(),
            t if (TID_P_BASE..TID_SWEEP_BASE).contains(&t) => format!("P{}", t - TID_P_BASE),
            t if (TID_SWEEP_BASE..TID_G_BASE).contains(&t) => {
                format!("P{} sweep", t - TID_SWEEP_BASE)
            }
            t => {
                let g = (t - TID_G_BASE) / 2;
                let f = self
                    .gs
                    .get(&g)
                    .and_then(|s| s.func.clone())
                    .unwrap_or_default();
                if (t - TID_G_BASE) % 2 == 1 {
                    format!("G{g} regions")
                } else {
                    format!("G{g} {f}").trim_end().to_string()
                }
            }
        };
        self.sep()?;
        write!(
            self.w,
            "{{\"ph\":\"M\",\"pid\":1,\"tid\":{tid},\"name\":\"thread_name\",\"args\":{{\"name\":"
        )?;
        write_json_str(&mut self.w, &name)?;
        self.w.write_all(b"}}")?;
        // Order: GC/STW first, then Ps, then goroutines.
        self.sep()?;
        write!(
            self.w,
            "{{\"ph\":\"M\",\"pid\":1,\"tid\":{tid},\"name\":\"thread_sort_index\",\"args\":{{\"sort_index\":{tid}}}}}"
        )
    }

    /// Clip [start, end] (absolute ns) to the window; None when nothing is left.
    fn clip(&self, start: Time, end: Time) -> Option<(i64, i64)> {
        let f = self.first?;
        let (mut s, mut e) = (start - f, end.max(start) - f);
        if let Some(ws) = self.opts.start_ns {
            if e < ws {
                return None;
            }
            s = s.max(ws);
        }
        if let Some(we) = self.opts.end_ns {
            if s > we {
                return None;
            }
            e = e.min(we);
        }
        Some((s.max(0), e.max(s.max(0))))
    }

    /// One complete slice. `args` is a JSON object body without braces (already escaped).
    fn slice(
        &mut self,
        tid: i64,
        cat: &str,
        name: &str,
        start: Time,
        end: Time,
        args: Args<'_>,
    ) -> io::Result<bool> {
        let Some((s, e)) = self.clip(start, end) else {
            return Ok(false);
        };
        self.name_track(tid)?;
        self.sep()?;
        self.w.write_all(b"{\"ph\":\"X\",\"pid\":1,\"tid\":")?;
        write_int(&mut self.w, tid)?;
        self.w.write_all(b",\"cat\":\"")?;
        self.w.write_all(cat.as_bytes())?;
        self.w.write_all(b"\",\"name\":")?;
        write_json_str(&mut self.w, name)?;
        self.w.write_all(b",\"ts\":")?;
        write_us(&mut self.w, s)?;
        self.w.write_all(b",\"dur\":")?;
        write_us(&mut self.w, e - s)?;
        self.w.write_all(b",\"args\":{")?;
        args.write(&mut self.w)?;
        self.w.write_all(b"}}")?;
        Ok(true)
    }

    fn in_window(&self, t: Time) -> bool {
        self.clip(t, t).is_some()
    }

    pub fn observe(&mut self, ev: &Event) -> io::Result<()> {
        let t = ev.time();
        if self.first.is_none() {
            self.first = Some(t);
        }
        self.last = self.last.max(t);
        self.stats.events_read += 1;
        match ev.kind() {
            EventKind::StateTransition => self.transition(ev, t),
            EventKind::RangeBegin | EventKind::RangeActive => {
                if let Some((name, scope)) = ev.range() {
                    let name = String::from_utf8_lossy(&name).into_owned();
                    if name == "GC mark assist" {
                        if let Resource::Goroutine(g) = scope {
                            self.gs.entry(g).or_default().assist_since = Some(t);
                        }
                        return Ok(());
                    }
                    // A range active at a generation start continues the open one.
                    self.ranges.entry((name, scope_key(scope))).or_insert(t);
                }
                Ok(())
            }
            EventKind::RangeEnd => self.range_end(ev, t),
            EventKind::RegionBegin => {
                let g = ev.goroutine();
                if let Some((_, name)) = ev.region() {
                    let name = String::from_utf8_lossy(name).into_owned();
                    self.gs.entry(g).or_default().regions.push((name, t));
                }
                Ok(())
            }
            EventKind::RegionEnd => {
                let g = ev.goroutine();
                let Some((task, name)) = ev.region() else {
                    return Ok(());
                };
                let name = String::from_utf8_lossy(name).into_owned();
                let st = self.gs.entry(g).or_default();
                // Regions nest per goroutine; one that began before the trace has no
                // begin event and is drawn from the trace start.
                let start = match st.regions.iter().rposition(|(n, _)| *n == name) {
                    Some(i) => st.regions.drain(i..).next().map(|r| r.1).unwrap_or(t),
                    None => self.first.unwrap_or(t),
                };
                if self.wanted(g) {
                    let args = format!("\"goid\":{g},\"task\":{task}");
                    self.slice(
                        tid_g_regions(g),
                        "region",
                        &name,
                        start,
                        t,
                        Args::Text(&args),
                    )?;
                }
                Ok(())
            }
            EventKind::TaskBegin | EventKind::TaskEnd => {
                let g = ev.goroutine();
                let Some((id, _, typ)) = ev.task() else {
                    return Ok(());
                };
                if !self.wanted(g) || !self.in_window(t) {
                    return Ok(());
                }
                let ph = if ev.kind() == EventKind::TaskBegin {
                    "b"
                } else {
                    "e"
                };
                let rel = t - self.first.unwrap_or(t);
                let typ = String::from_utf8_lossy(typ).into_owned();
                self.sep()?;
                write!(
                    self.w,
                    "{{\"ph\":\"{ph}\",\"pid\":1,\"tid\":{},\"cat\":\"task\",\"id\":\"task{id}\",\"name\":",
                    tid_g(g)
                )?;
                write_json_str(&mut self.w, &typ)?;
                self.w.write_all(b",\"ts\":")?;
                write_us(&mut self.w, rel)?;
                write!(self.w, ",\"args\":{{\"goid\":{g}}}}}")
            }
            EventKind::Log => {
                let g = ev.goroutine();
                let Some((task, cat, msg)) = ev.log() else {
                    return Ok(());
                };
                if !self.wanted(g) || !self.in_window(t) {
                    return Ok(());
                }
                let rel = t - self.first.unwrap_or(t);
                let tid = tid_g(g);
                self.name_track(tid)?;
                self.sep()?;
                write!(
                    self.w,
                    "{{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":{tid},\"cat\":\"log\",\"name\":"
                )?;
                let cat = String::from_utf8_lossy(cat);
                write_json_str(&mut self.w, if cat.is_empty() { "log" } else { &cat })?;
                self.w.write_all(b",\"ts\":")?;
                write_us(&mut self.w, rel)?;
                write!(
                    self.w,
                    ",\"args\":{{\"goid\":{g},\"task\":{task},\"message\":"
                )?;
                write_json_str(&mut self.w, &String::from_utf8_lossy(msg))?;
                self.w.write_all(b"}}")
            }
            _ => Ok(()),
        }
    }

    fn range_end(&mut self, ev: &Event, t: Time) -> io::Result<()> {
        let Some((name, scope)) = ev.range() else {
            return Ok(());
        };
        let name = String::from_utf8_lossy(&name).into_owned();
        if name == "GC mark assist" {
            if let Resource::Goroutine(g) = scope {
                let since = self.gs.get_mut(&g).and_then(|s| s.assist_since.take());
                if let Some(since) = since
                    && self.wanted(g)
                {
                    self.slice(tid_g(g), "gc", &name, since, t, Args::Goid(g))?;
                }
            }
            return Ok(());
        }
        let Some(start) = self.ranges.remove(&(name.clone(), scope_key(scope))) else {
            return Ok(());
        };
        let (tid, args) = match scope {
            _ if name.starts_with("stop-the-world") => (TID_STW, String::new()),
            Resource::Proc(p) if name == "GC incremental sweep" => {
                let attrs: Vec<String> = ev
                    .range_attributes()
                    .iter()
                    .map(|(k, v)| format!("\"{}\":{v}", k.replace(' ', "_")))
                    .collect();
                (TID_SWEEP_BASE + p.max(0), attrs.join(","))
            }
            _ => (TID_GC, String::new()),
        };
        self.slice(tid, "gc", &name, start, t, Args::Text(&args))?;
        Ok(())
    }

    fn transition(&mut self, ev: &Event, t: Time) -> io::Result<()> {
        let Some(st) = ev.state_transition() else {
            return Ok(());
        };
        let Resource::Goroutine(id) = st.resource else {
            return Ok(());
        };
        let (old, new) = st.go_states();
        let p = ev.proc();
        let g = self.gs.entry(id).or_default();
        if g.func.is_none() {
            g.func = user_func(ev, st.stack);
        }
        let prev = g.state;
        let (since, gp) = (g.since, g.p);
        let prev_reason = std::mem::take(&mut g.reason);
        // A GoStatus at a generation boundary repeats the current state: keep the span.
        let changed = prev != Some(new) || old != new;
        if changed {
            g.state = Some(new);
            g.since = t;
            g.p = p;
            if new == GoState::Waiting {
                g.reason = String::from_utf8_lossy(st.reason).into_owned();
            }
        } else {
            g.reason = prev_reason.clone();
        }
        let name = match prev {
            Some(GoState::Running) if changed => match &g.func {
                Some(f) => format!("G{id} {f}"),
                None => format!("G{id}"),
            },
            _ => String::new(),
        };
        if new == GoState::NotExist {
            self.gs.remove(&id);
        }
        if !changed || !self.wanted(id) {
            return Ok(());
        }
        match prev {
            Some(GoState::Running) => {
                let end = json_string(&String::from_utf8_lossy(st.reason));
                let args = Args::Running {
                    goid: id,
                    p: gp,
                    end: &end,
                };
                if self.slice(tid_p(gp), "running", &name, since, t, args)? {
                    self.stats.running_slices += 1;
                }
            }
            Some(GoState::Waiting) => {
                let n = if prev_reason.is_empty() {
                    "blocked".to_string()
                } else {
                    format!("blocked: {prev_reason}")
                };
                self.slice(tid_g(id), "blocked", &n, since, t, Args::Goid(id))?;
            }
            Some(GoState::Syscall) => {
                self.slice(tid_g(id), "syscall", "syscall", since, t, Args::Goid(id))?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Close every open span at the last event's time and end the JSON document.
    pub fn finish(mut self) -> io::Result<(W, ExportStats)> {
        let end = self.last;
        let mut open: Vec<(GoId, GState)> = self.gs.drain().collect();
        open.sort_by_key(|(g, _)| *g);
        for (id, g) in open {
            if !self.wanted(id) {
                continue;
            }
            let name = match &g.func {
                Some(f) => format!("G{id} {f}"),
                None => format!("G{id}"),
            };
            match g.state {
                Some(GoState::Running) => {
                    let args = Args::Running {
                        goid: id,
                        p: g.p,
                        end: "\"trace end\"",
                    };
                    if self.slice(tid_p(g.p), "running", &name, g.since, end, args)? {
                        self.stats.running_slices += 1;
                    }
                }
                Some(GoState::Waiting) => {
                    let n = if g.reason.is_empty() {
                        "blocked".to_string()
                    } else {
                        format!("blocked: {}", g.reason)
                    };
                    self.slice(tid_g(id), "blocked", &n, g.since, end, Args::Goid(id))?;
                }
                Some(GoState::Syscall) => {
                    self.slice(
                        tid_g(id),
                        "syscall",
                        "syscall",
                        g.since,
                        end,
                        Args::Goid(id),
                    )?;
                }
                _ => {}
            }
        }
        let mut ranges: Vec<_> = self.ranges.drain().collect();
        ranges.sort_by_key(|(_, t)| *t);
        for ((name, scope), start) in ranges {
            let tid = if name.starts_with("stop-the-world") {
                TID_STW
            } else if name == "GC incremental sweep" {
                TID_SWEEP_BASE + scope.max(0)
            } else {
                TID_GC
            };
            self.slice(tid, "gc", &name, start, end, Args::Text(""))?;
        }
        self.w.write_all(b"\n]}\n")?;
        self.stats.span_ns = end - self.first.unwrap_or(end);
        Ok((self.w, self.stats))
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// Ranges are keyed by name and the id of what they are about (as Go's reader does).
fn scope_key(r: Resource) -> i64 {
    match r {
        Resource::None => -1,
        Resource::Goroutine(id) | Resource::Proc(id) | Resource::Thread(id) => id,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_print_as_fmt_prints_them() {
        for v in [
            0i64,
            1,
            -1,
            9,
            10,
            999,
            1000,
            123456789,
            i64::MAX,
            i64::MIN,
            -4200,
        ] {
            let mut out = Vec::new();
            super::write_int(&mut out, v).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
        for ns in [0i64, 1, 999, 1000, 14_848, 162_688, 1_000_001, -5, i64::MAX] {
            let mut out = Vec::new();
            super::write_us(&mut out, ns).unwrap();
            let n = ns.max(0);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("{}.{:03}", n / 1000, n % 1000)
            );
        }
    }

    use super::*;

    #[test]
    fn microseconds_are_exact() {
        let mut v = Vec::new();
        write_us(&mut v, 1_234_567).unwrap();
        assert_eq!(v, b"1234.567");
        v.clear();
        write_us(&mut v, 5).unwrap();
        assert_eq!(v, b"0.005");
    }

    #[test]
    fn empty_trace_is_valid_json() {
        let e = ChromeExporter::new(
            Vec::new(),
            ExportOptions {
                process_name: "a \"quoted\" name".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let (out, stats) = e.finish().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["traceEvents"].as_array().unwrap().len(), 1);
        assert_eq!(stats.running_slices, 0);
    }
}
