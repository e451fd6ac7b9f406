//! `trace_count FILE`: parse and validate every event, print counts and throughput.
//! The gorx side of the benchmark in BENCHMARKS.md.
fn main() {
    let path = std::env::args().nth(1).expect("usage: trace_count FILE");
    let size = std::fs::metadata(&path).expect("stat").len();
    let f = std::fs::File::open(&path).expect("open");
    let t0 = std::time::Instant::now();
    let mut r = gorx_trace::Reader::with_prefetch(path, f).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let mut n: u64 = 0;
    loop {
        match r.next_event() {
            Ok(Some(_)) => n += 1,
            Ok(None) => break,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2)
            }
        }
    }
    let s = t0.elapsed().as_secs_f64();
    println!(
        "events={n} bytes={size} generations={} max_generation_bytes={} seconds={s:.3} MB/s={:.1} events/s={:.0}",
        r.generations(),
        r.max_generation_bytes(),
        size as f64 / 1e6 / s,
        n as f64 / s
    );
}
