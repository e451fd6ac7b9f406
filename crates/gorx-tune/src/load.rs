//! An open-loop HTTP/1.1 load generator (the wrk2 model). Every request has an intended
//! send time on a fixed schedule (`rate` per second over all connections); its latency
//! is measured from that intended time, not from when it was actually sent. A server that
//! stalls for 200 ms therefore shows the stall in every request scheduled during it,
//! instead of hiding it behind a client that politely waited (coordinated omission).
//!
//! One thread per keep-alive connection, one request in flight on each: connection `k`
//! of `n` owns the schedule slots `k, k + n, k + 2n, ...`.

use hdrhistogram::Histogram;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
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
    let start = Instant::now() + Duration::from_millis(20);
    let record_from = start + cfg.warmup;
    let end = record_from + cfg.duration;
    let interval = Duration::from_secs_f64(connections as f64 / cfg.rate.max(0.001));
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: gorx-tune\r\nAccept: */*\r\n\r\n",
        cfg.path, cfg.host
    )
    .into_bytes();
    let results: Vec<LoadResult> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..connections)
            .map(|k| {
                let request = &request;
                let offset = interval.mul_f64(k as f64 / connections as f64);
                s.spawn(move || {
                    connection(cfg, request, start + offset, interval, record_from, end)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a load connection thread panicked"))
            .collect()
    });
    let mut total = LoadResult {
        latency_us: new_histogram(),
        scheduled: 0,
        ok: 0,
        errors: 0,
        timeouts: 0,
        window: cfg.duration,
    };
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

/// One connection's share of the schedule.
fn connection(
    cfg: &LoadConfig,
    request: &[u8],
    first: Instant,
    interval: Duration,
    record_from: Instant,
    end: Instant,
) -> LoadResult {
    let mut r = LoadResult {
        latency_us: new_histogram(),
        scheduled: 0,
        ok: 0,
        errors: 0,
        timeouts: 0,
        window: cfg.duration,
    };
    let mut conn: Option<Conn> = None;
    let mut intended = first;
    while intended < end {
        let now = Instant::now();
        if intended > now {
            std::thread::sleep(intended - now);
        }
        let recorded = intended >= record_from;
        if recorded {
            r.scheduled += 1;
        }
        let outcome = match conn.as_mut() {
            Some(c) => c.exchange(request, intended + cfg.timeout),
            None => match Conn::open(cfg.addr, cfg.timeout) {
                Ok(c) => conn.insert(c).exchange(request, intended + cfg.timeout),
                Err(_) => Outcome::Error,
            },
        };
        let done = Instant::now();
        match outcome {
            Outcome::Ok { status, keep_alive } => {
                if recorded {
                    let us = done.saturating_duration_since(intended).as_micros() as u64;
                    let _ = r.latency_us.record(us.clamp(1, 600_000_000));
                    if (200..400).contains(&status) {
                        r.ok += 1;
                    } else {
                        r.errors += 1;
                    }
                }
                if !keep_alive {
                    conn = None;
                }
            }
            Outcome::Timeout => {
                if recorded {
                    r.timeouts += 1;
                }
                conn = None;
            }
            Outcome::Error => {
                if recorded {
                    r.errors += 1;
                }
                conn = None;
                // A refused connection fails at once; do not spin through the schedule
                // faster than it runs.
            }
        }
        intended += interval;
    }
    r
}

enum Outcome {
    Ok { status: u16, keep_alive: bool },
    Timeout,
    Error,
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(addr: SocketAddr, timeout: Duration) -> std::io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(16 << 10),
        })
    }

    /// Sends one request and reads its whole response, by `deadline`.
    fn exchange(&mut self, request: &[u8], deadline: Instant) -> Outcome {
        if self.stream.write_all(request).is_err() {
            return Outcome::Error;
        }
        self.buf.clear();
        let mut scanned: usize = 0;
        // Read until the header ends.
        let head_end = loop {
            if let Some(i) = find(&self.buf[scanned.saturating_sub(3)..], b"\r\n\r\n") {
                break scanned.saturating_sub(3) + i + 4;
            }
            scanned = self.buf.len();
            match self.fill(deadline) {
                Fill::Data => {}
                Fill::Timeout => return Outcome::Timeout,
                Fill::Closed | Fill::Error => return Outcome::Error,
            }
            if self.buf.len() > 1 << 20 {
                return Outcome::Error;
            }
        };
        let Some(head) = Head::parse(&self.buf[..head_end]) else {
            return Outcome::Error;
        };
        let body_ok = match head.body {
            Body::Length(n) => self.read_exact_body(head_end, n, deadline),
            Body::Chunked => self.read_chunked(head_end, deadline),
            Body::None => Fill::Data,
            // Until close: the connection cannot be reused.
            Body::UntilClose => loop {
                match self.fill(deadline) {
                    Fill::Data => continue,
                    Fill::Closed => break Fill::Data,
                    other => break other,
                }
            },
        };
        match body_ok {
            Fill::Data => Outcome::Ok {
                status: head.status,
                keep_alive: head.keep_alive && !matches!(head.body, Body::UntilClose),
            },
            Fill::Timeout => Outcome::Timeout,
            Fill::Closed | Fill::Error => Outcome::Error,
        }
    }

    fn fill(&mut self, deadline: Instant) -> Fill {
        let now = Instant::now();
        if now >= deadline {
            return Fill::Timeout;
        }
        if self
            .stream
            .set_read_timeout(Some((deadline - now).max(Duration::from_micros(100))))
            .is_err()
        {
            return Fill::Error;
        }
        let len = self.buf.len();
        self.buf.resize(len + (16 << 10), 0);
        let got = self.stream.read(&mut self.buf[len..]);
        match got {
            Ok(0) => {
                self.buf.truncate(len);
                Fill::Closed
            }
            Ok(n) => {
                self.buf.truncate(len + n);
                Fill::Data
            }
            Err(e) => {
                self.buf.truncate(len);
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
                    Fill::Timeout
                } else {
                    Fill::Error
                }
            }
        }
    }

    fn read_exact_body(&mut self, from: usize, n: usize, deadline: Instant) -> Fill {
        while self.buf.len() < from + n {
            match self.fill(deadline) {
                Fill::Data => {}
                other => return other,
            }
        }
        Fill::Data
    }

    /// Reads chunks until the last (size 0) chunk and the trailer's end.
    fn read_chunked(&mut self, from: usize, deadline: Instant) -> Fill {
        let mut at = from;
        loop {
            // The chunk-size line.
            let line_end = loop {
                if let Some(i) = find(&self.buf[at..], b"\r\n") {
                    break at + i;
                }
                match self.fill(deadline) {
                    Fill::Data => {}
                    other => return other,
                }
            };
            let line = &self.buf[at..line_end];
            let hex = line.split(|&b| b == b';').next().unwrap_or(&[]);
            let Some(size) = std::str::from_utf8(hex)
                .ok()
                .and_then(|h| usize::from_str_radix(h.trim(), 16).ok())
            else {
                return Fill::Error;
            };
            if size == 0 {
                // Trailer fields, then an empty line.
                loop {
                    if find(&self.buf[line_end..], b"\r\n\r\n").is_some() {
                        return Fill::Data;
                    }
                    match self.fill(deadline) {
                        Fill::Data => {}
                        other => return other,
                    }
                }
            }
            let Some(next) = (line_end + 2)
                .checked_add(size)
                .and_then(|x| x.checked_add(2))
            else {
                return Fill::Error;
            };
            while self.buf.len() < next {
                match self.fill(deadline) {
                    Fill::Data => {}
                    other => return other,
                }
            }
            at = next;
        }
    }
}

enum Fill {
    Data,
    Timeout,
    Closed,
    Error,
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
}
