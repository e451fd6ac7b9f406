//! The lab's load generator on its own, for the benchmark against wrk:
//! `loadgen URL RATE CONNECTIONS SECONDS` prints achieved req/s and latency quantiles.

use gorx_tune::cell::parse_url;
use gorx_tune::load::{LoadConfig, run};
use std::time::Duration;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 5 {
        eprintln!("usage: loadgen URL RATE CONNECTIONS SECONDS");
        std::process::exit(2);
    }
    let (addr, host, path) = parse_url(&a[1]).unwrap_or_else(|e| {
        eprintln!("loadgen: {e}");
        std::process::exit(2)
    });
    let num = |s: &str| -> f64 {
        s.parse().unwrap_or_else(|_| {
            eprintln!("loadgen: {s:?} is not a number");
            std::process::exit(2)
        })
    };
    let r = run(&LoadConfig {
        addr,
        host,
        path,
        rate: num(&a[2]),
        connections: num(&a[3]) as usize,
        warmup: Duration::from_millis(500),
        duration: Duration::from_secs_f64(num(&a[4])),
        timeout: Duration::from_secs(5),
    });
    println!(
        "req/s {:.0} ok {} errors {} timeouts {} p50_ms {:.3} p99_ms {:.3}",
        r.achieved_rps(),
        r.ok,
        r.errors,
        r.timeouts,
        r.quantile_ns(0.5) as f64 / 1e6,
        r.quantile_ns(0.99) as f64 / 1e6
    );
}
