//! An open-loop HTTP/1.1 load generator (the wrk2 model). Every request has an intended
//! send time on a fixed schedule (`rate` per second over all connections); its latency
//! is measured from that intended time, not from when it was actually sent. A server that
//! stalls for 200 ms therefore shows the stall in every request scheduled during it,
//! instead of hiding it behind a client that politely waited (coordinated omission).
//!
//! Keep-alive connections with one request in flight on each: connection `k` of `n` owns
//! the schedule slots `k, k + n, k + 2n, ...`. The connections are spread over one event
//! loop (mio: epoll) per available CPU, as wrk does: a thread per connection spends its
//! time switching tasks, not sending.

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What to send and how fast.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub addr: SocketAddr,
    /// The Host header.
    pub host: String,
    /// Path and query.
    pub path: String,
    /// Requests per second over all connections.
    pub rate: f64,
    pub connections: usize,
    /// Load before recording starts (the process warms up: caches, heap, JIT-free Go
    /// still grows its heap to the working set).
    pub warmup: Duration,
    /// The recorded window.
    pub duration: Duration,
    /// A request without a response after this long counts as a timeout and its
    /// connection is replaced.
    pub timeout: Duration,
}

/// What the recorded window saw.
#[derive(Clone)]
pub struct LoadResult {
    /// Latency from intended send time to the response's last byte, in microseconds.
    pub latency_us: Histogram<u64>,
    /// Requests scheduled in the window.
    pub scheduled: u64,
    /// Responses with a 2xx/3xx status.
    pub ok: u64,
    /// Connection failures, malformed responses and other statuses.
    pub errors: u64,
    pub timeouts: u64,
    pub window: Duration,
}

impl std::fmt::Debug for LoadResult {
    // The histogram's own Debug prints every bucket.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "LoadResult {{ scheduled: {}, ok: {}, errors: {}, timeouts: {}, p50: {:.3} ms, p99: {:.3} ms, max: {:.3} ms, window: {:?} }}",
            self.scheduled,
            self.ok,
            self.errors,
            self.timeouts,
            self.quantile_ns(0.5) as f64 / 1e6,
            self.quantile_ns(0.99) as f64 / 1e6,
            self.quantile_ns(1.0) as f64 / 1e6,
            self.window
        )
    }
}

impl LoadResult {
    /// Completed responses per second of the window.
    pub fn achieved_rps(&self) -> f64 {
        let s = self.window.as_secs_f64();
        if s > 0.0 { self.ok as f64 / s } else { 0.0 }
    }
    /// Latency at quantile `q` (0–1) in nanoseconds; 0 when nothing completed.
    pub fn quantile_ns(&self, q: f64) -> u64 {
        if self.latency_us.is_empty() {
            0
        } else {
            self.latency_us.value_at_quantile(q).saturating_mul(1000)
        }
    }
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs to 10 min at 3 significant digits: about 190 KiB per connection.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("static histogram bounds are valid")
}

/// Runs the load and returns what the recorded window saw.
pub fn run(cfg: &LoadConfig) -> LoadResult {
    let connections = cfg.connections.max(1);
    let loops = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, connections);
    let start = Instant::now() + Duration::from_millis(20);
    let plan = Plan {
        record_from: start + cfg.warmup,
        end: start + cfg.warmup + cfg.duration,
        interval: Duration::from_secs_f64(connections as f64 / cfg.rate.max(0.001)),
        request: format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: gorx-tune\r\nAccept: */*\r\n\r\n",
            cfg.path, cfg.host
        )
        .into_bytes(),
    };
    let results: Vec<LoadResult> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..loops)
            .map(|t| {
                let plan = &plan;
                // Connection k starts k/n of an interval after the start.
                let firsts: Vec<Instant> = (t..connections)
                    .step_by(loops)
                    .map(|k| start + plan.interval.mul_f64(k as f64 / connections as f64))
                    .collect();
                s.spawn(move || event_loop(cfg, plan, &firsts))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a load event loop panicked"))
            .collect()
    });
    let mut total = empty_result(cfg);
    for r in results {
        total
            .latency_us
            .add(&r.latency_us)
            .expect("histograms with equal bounds add");
        total.scheduled += r.scheduled;
        total.ok += r.ok;
        total.errors += r.errors;
        total.timeouts += r.timeouts;
    }
    total
}

/// What every connection shares.
struct Plan {
    record_from: Instant,
    end: Instant,
    /// Between one connection's consecutive slots.
    interval: Duration,
    request: Vec<u8>,
}

fn empty_result(cfg: &LoadConfig) -> LoadResult {
    LoadResult {
        latency_us: new_histogram(),
        scheduled: 0,
        ok: 0,
        errors: 0,
        timeouts: 0,
        window: cfg.duration,
    }
}

enum Phase {
    /// Until its next slot's intended time.
    Waiting,
    Connecting,
    /// Bytes of the request written so far.
    Sending(usize),
    Reading,
}

struct Slot {
    stream: Option<TcpStream>,
    phase: Phase,
    /// The current (or next) request's intended send time.
    intended: Instant,
    buf: Vec<u8>,
    /// Set when the schedule is over for this connection.
    done: bool,
}

/// How one request ended.
enum Outcome {
    Ok { status: u16, keep_alive: bool },
    Timeout,
    Error,
}

/// One event loop over its share of the connections.
fn event_loop(cfg: &LoadConfig, plan: &Plan, firsts: &[Instant]) -> LoadResult {
    let mut r = empty_result(cfg);
    let Ok(mut poll) = Poll::new() else {
        r.errors = firsts.len() as u64;
        return r;
    };
    let mut events = Events::with_capacity(256);
    let mut slots: Vec<Slot> = firsts
        .iter()
        .map(|&intended| Slot {
            stream: None,
            phase: Phase::Waiting,
            intended,
            buf: Vec::with_capacity(16 << 10),
            done: false,
        })
        .collect();
    loop {
        let now = Instant::now();
        // Start the requests that are due; expire the ones that took too long.
        for (k, slot) in slots.iter_mut().enumerate() {
            if slot.done {
                continue;
            }
            match slot.phase {
                Phase::Waiting => {
                    // The window ends on the clock too: a server that cannot keep up
                    // leaves a backlog, which is not sent after the window (the achieved
                    // rate says so), as wrk2 stops at its duration.
                    if slot.intended >= plan.end || now >= plan.end {
                        slot.done = true;
                        slot.stream = None;
                    } else if slot.intended <= now {
                        if slot.intended >= plan.record_from {
                            r.scheduled += 1;
                        }
                        begin(&poll, slot, k, cfg.addr);
                        progress(slot, plan);
                        // A request that failed at once (refused) is over: move to the
                        // next slot. Slots already under way are judged only when their
                        // socket speaks (below), not re-parsed on every pass.
                        if let Some(outcome) = take_outcome(slot) {
                            finish(&mut r, slot, plan, outcome, Instant::now());
                        }
                    }
                }
                _ => {
                    if now >= slot.intended + cfg.timeout {
                        finish(&mut r, slot, plan, Outcome::Timeout, now);
                    }
                }
            }
        }
        if slots.iter().all(|s| s.done) {
            return r;
        }
        // Sleep until the next slot is due or the next deadline, unless sockets speak.
        let next = slots
            .iter()
            .filter(|s| !s.done)
            .map(|s| match s.phase {
                Phase::Waiting => s.intended.min(plan.end),
                _ => s.intended + cfg.timeout,
            })
            .min()
            .unwrap_or(now);
        let wait = next.saturating_duration_since(Instant::now());
        if poll.poll(&mut events, Some(wait)).is_err() {
            continue;
        }
        for ev in events.iter() {
            let k = ev.token().0;
            let Some(slot) = slots.get_mut(k) else {
                continue;
            };
            progress(slot, plan);
            if let Some(outcome) = take_outcome(slot) {
                finish(&mut r, slot, plan, outcome, Instant::now());
            }
        }
    }
}

/// Starts the slot's request: on its open connection, or on a new one.
fn begin(poll: &Poll, slot: &mut Slot, k: usize, addr: SocketAddr) {
    slot.buf.clear();
    if slot.stream.is_some() {
        slot.phase = Phase::Sending(0);
        return;
    }
    match TcpStream::connect(addr) {
        Ok(mut s) => {
            let _ = s.set_nodelay(true);
            if poll
                .registry()
                .register(&mut s, Token(k), Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                slot.phase = Phase::Reading;
                slot.buf.clear();
                slot.stream = None;
                return;
            }
            slot.stream = Some(s);
            slot.phase = Phase::Connecting;
        }
        Err(_) => {
            // Reported by take_outcome: no stream while a request is under way.
            slot.stream = None;
            slot.phase = Phase::Reading;
        }
    }
}

/// Advances the slot as far as its socket allows without blocking (mio is edge
/// triggered: write and read until WouldBlock).
fn progress(slot: &mut Slot, plan: &Plan) {
    let Some(stream) = slot.stream.as_mut() else {
        return;
    };
    if let Phase::Connecting = slot.phase {
        match stream.peer_addr() {
            Ok(_) => slot.phase = Phase::Sending(0),
            Err(e) if e.kind() == ErrorKind::NotConnected => {
                // Still connecting, unless the connect failed.
                if let Ok(Some(_)) | Err(_) = stream.take_error() {
                    slot.stream = None;
                }
                return;
            }
            Err(_) => {
                slot.stream = None;
                return;
            }
        }
    }
    if let Phase::Sending(mut at) = slot.phase {
        while at < plan.request.len() {
            match stream.write(&plan.request[at..]) {
                Ok(0) => {
                    slot.stream = None;
                    return;
                }
                Ok(n) => at += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    slot.phase = Phase::Sending(at);
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    slot.stream = None;
                    return;
                }
            }
        }
        slot.phase = Phase::Reading;
    }
    if let Phase::Reading = slot.phase {
        let mut chunk = [0u8; 16 << 10];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => {
                    // Closed: complete only for a body that runs until close.
                    slot.stream = None;
                    return;
                }
                Ok(n) => {
                    slot.buf.extend_from_slice(&chunk[..n]);
                    if slot.buf.len() > 8 << 20 {
                        slot.stream = None;
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    slot.stream = None;
                    return;
                }
            }
        }
    }
}

/// The slot's request outcome, if it is over: a complete response, or a connection that
/// failed or closed.
fn take_outcome(slot: &mut Slot) -> Option<Outcome> {
    if !matches!(
        slot.phase,
        Phase::Reading | Phase::Sending(_) | Phase::Connecting
    ) {
        return None;
    }
    let closed = slot.stream.is_none();
    match parse_response(&slot.buf, closed) {
        Parse::Done { status, keep_alive } => Some(Outcome::Ok {
            status,
            keep_alive: keep_alive && !closed,
        }),
        Parse::Bad => Some(Outcome::Error),
        Parse::Incomplete if closed => Some(Outcome::Error),
        Parse::Incomplete => None,
    }
}

/// Records a finished request and schedules the slot's next one.
fn finish(r: &mut LoadResult, slot: &mut Slot, plan: &Plan, outcome: Outcome, now: Instant) {
    let recorded = slot.intended >= plan.record_from;
    match outcome {
        Outcome::Ok { status, keep_alive } => {
            if recorded {
                let us = now.saturating_duration_since(slot.intended).as_micros() as u64;
                let _ = r.latency_us.record(us.clamp(1, 600_000_000));
                if (200..400).contains(&status) {
                    r.ok += 1;
                } else {
                    r.errors += 1;
                }
            }
            if !keep_alive {
                slot.stream = None;
            }
        }
        Outcome::Timeout => {
            if recorded {
                r.timeouts += 1;
            }
            slot.stream = None;
        }
        Outcome::Error => {
            if recorded {
                r.errors += 1;
            }
            slot.stream = None;
        }
    }
    slot.buf.clear();
    slot.phase = Phase::Waiting;
    slot.intended += plan.interval;
}

enum Parse {
    Incomplete,
    Bad,
    Done { status: u16, keep_alive: bool },
}

/// Whether `buf` holds a whole response (`closed`: the peer closed after it).
fn parse_response(buf: &[u8], closed: bool) -> Parse {
    let Some(i) = find(buf, b"\r\n\r\n") else {
        return if buf.len() > 1 << 20 {
            Parse::Bad
        } else {
            Parse::Incomplete
        };
    };
    let head_end = i + 4;
    let Some(head) = Head::parse(&buf[..head_end]) else {
        return Parse::Bad;
    };
    let body = &buf[head_end..];
    let done = match head.body {
        Body::None => true,
        Body::Length(n) => body.len() >= n,
        Body::Chunked => match chunked_end(body) {
            Some(Ok(())) => true,
            Some(Err(())) => return Parse::Bad,
            None => false,
        },
        Body::UntilClose => closed,
    };
    if done {
        Parse::Done {
            status: head.status,
            keep_alive: head.keep_alive && !matches!(head.body, Body::UntilClose),
        }
    } else {
        Parse::Incomplete
    }
}

/// Some(Ok) when `body` holds every chunk, the last (size 0) one and the trailer's end;
/// Some(Err) when a chunk size does not parse; None when more is needed.
fn chunked_end(body: &[u8]) -> Option<Result<(), ()>> {
    let mut at = 0;
    loop {
        let line_end = at + find(&body[at..], b"\r\n")?;
        let line = &body[at..line_end];
        let hex = line.split(|&b| b == b';').next().unwrap_or(&[]);
        let Some(size) = std::str::from_utf8(hex)
            .ok()
            .and_then(|h| usize::from_str_radix(h.trim(), 16).ok())
        else {
            return Some(Err(()));
        };
        if size == 0 {
            // Trailer fields, then an empty line.
            return find(&body[line_end..], b"\r\n\r\n").map(|_| Ok(()));
        }
        let next = (line_end + 2).checked_add(size)?.checked_add(2)?;
        if body.len() < next {
            return None;
        }
        at = next;
    }
}

enum Body {
    Length(usize),
    Chunked,
    None,
    UntilClose,
}

struct Head {
    status: u16,
    keep_alive: bool,
    body: Body,
}

impl Head {
    fn parse(head: &[u8]) -> Option<Head> {
        let text = std::str::from_utf8(head).ok()?;
        let mut lines = text.split("\r\n");
        let status_line = lines.next()?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next()?;
        if !version.starts_with("HTTP/1.") {
            return None;
        }
        let status: u16 = parts.next()?.parse().ok()?;
        let mut keep_alive = version == "HTTP/1.1";
        let mut body = Body::UntilClose;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                body = Body::Length(value.parse().ok()?);
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
            {
                body = Body::Chunked;
            } else if name.eq_ignore_ascii_case("connection") {
                let v = value.to_ascii_lowercase();
                if v.contains("close") {
                    keep_alive = false;
                } else if v.contains("keep-alive") {
                    keep_alive = true;
                }
            }
        }
        if status / 100 == 1 || status == 204 || status == 304 {
            body = Body::None;
        }
        Some(Head {
            status,
            keep_alive,
            body,
        })
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_heads() {
        let h = Head::parse(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n").unwrap();
        assert_eq!(h.status, 200);
        assert!(h.keep_alive && matches!(h.body, Body::Length(12)));
        let h = Head::parse(
            b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        assert!(!h.keep_alive && matches!(h.body, Body::Chunked));
        assert!(Head::parse(b"SSH-2.0-OpenSSH\r\n\r\n").is_none());
        assert!(Head::parse(b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n").is_none());
    }

    #[test]
    fn whole_responses() {
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        assert!(matches!(
            parse_response(chunked, false),
            Parse::Done { status: 200, .. }
        ));
        assert!(matches!(
            parse_response(&chunked[..chunked.len() - 3], false),
            Parse::Incomplete
        ));
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert!(matches!(parse_response(bad, false), Parse::Bad));
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        assert!(matches!(parse_response(short, false), Parse::Incomplete));
        let until_close = b"HTTP/1.0 200 OK\r\n\r\nbody";
        assert!(matches!(
            parse_response(until_close, false),
            Parse::Incomplete
        ));
        assert!(matches!(
            parse_response(until_close, true),
            Parse::Done {
                keep_alive: false,
                ..
            }
        ));
    }
}
