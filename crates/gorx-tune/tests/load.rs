//! The open-loop load generator against loopback servers whose behaviour is known: an
//! injected delay must show at P50, and a periodic stall must show at P99 (a closed-loop
//! client would hide it: coordinated omission).

use gorx_tune::load::{LoadConfig, run};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Serves `GET` with a fixed body after `delay(now)`; keep-alive; one thread per connection.
fn server(delay: impl Fn(Instant) -> Duration + Send + Sync + 'static) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let delay = Arc::new(delay);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let delay = delay.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut pending = Vec::new();
                loop {
                    let n = match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..i + 4);
                        std::thread::sleep(delay(Instant::now()));
                        let body = b"{\"ok\":true}";
                        // One write, as Go's bufio-backed server does: a head and a body in
                        // two small writes meet Nagle and delayed ACKs (40 ms or more each).
                        let mut response = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        response.extend_from_slice(body);
                        if s.write_all(&response).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

fn config(addr: std::net::SocketAddr, rate: f64) -> LoadConfig {
    LoadConfig {
        addr,
        host: addr.to_string(),
        path: "/".into(),
        rate,
        connections: 8,
        warmup: Duration::from_millis(300),
        duration: Duration::from_secs(3),
        timeout: Duration::from_secs(2),
    }
}

#[test]
fn an_injected_delay_lands_at_p50() {
    let addr = server(|_| Duration::from_millis(5));
    let r = run(&config(addr, 400.0));
    let p50_ms = r.quantile_ns(0.5) as f64 / 1e6;
    assert_eq!(r.errors + r.timeouts, 0, "{r:?}");
    assert!(r.ok as f64 >= 0.95 * 400.0 * 3.0, "{} of 1200", r.ok);
    assert!(
        (p50_ms - 5.0).abs() <= 1.0,
        "P50 {p50_ms:.3} ms, expected 5 ± 1"
    );
}

#[test]
fn a_periodic_stall_shows_at_p99() {
    // Every second the server stalls for 200 ms: responses due in that window wait
    // until it ends.
    let origin = Instant::now();
    let addr = server(move |now| {
        let into = now.duration_since(origin).as_millis() as u64 % 1000;
        if into < 200 {
            Duration::from_millis(200 - into)
        } else {
            Duration::from_micros(200)
        }
    });
    let r = run(&config(addr, 400.0));
    let p99_ms = r.quantile_ns(0.99) as f64 / 1e6;
    let p50_ms = r.quantile_ns(0.5) as f64 / 1e6;
    // About a fifth of the requests are scheduled inside a stall; the worst wait ~200 ms.
    assert!(p99_ms >= 150.0, "P99 {p99_ms:.1} ms: the stall is hidden");
    assert!(p50_ms < 50.0, "P50 {p50_ms:.1} ms");
}

#[test]
fn a_refused_connection_is_an_error_not_a_hang() {
    // A port nothing listens on.
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let started = Instant::now();
    let mut cfg = config(addr, 100.0);
    cfg.duration = Duration::from_secs(1);
    let r = run(&cfg);
    assert_eq!(r.ok, 0);
    assert!(r.errors >= 90, "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let _ = TcpStream::connect(addr).is_err();
}
