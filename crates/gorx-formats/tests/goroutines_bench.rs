//! Parse throughput of a large goroutine dump; run by scripts/bench-logs.sh
//! (`GORX_BENCH_DUMP=file cargo test --release --test goroutines_bench -- --ignored`).
//! Not a timed test: it prints the numbers and only checks the parse is complete.

use std::time::Instant;

/// CPU time of this thread in ns (`/proc/thread-self/schedstat`), so a loaded shared
/// machine shows in wall time but not in the CPU-time throughput.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

#[test]
#[ignore = "benchmark; needs GORX_BENCH_DUMP (scripts/bench-logs.sh)"]
fn goroutine_dump_throughput() {
    let Ok(path) = std::env::var("GORX_BENCH_DUMP") else {
        eprintln!("SKIPPED: GORX_BENCH_DUMP not set");
        return;
    };
    let data = std::fs::read(&path).unwrap();
    let want = data
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"goroutine ") && l.ends_with(b":"))
        .count();
    let mut best = f64::MAX;
    let mut best_cpu = f64::MAX;
    let mut frames = 0;
    for _ in 0..5 {
        let c0 = thread_cpu_ns();
        let t = Instant::now();
        let d = gorx_formats::goroutines::parse(&path, &data).unwrap();
        let s = t.elapsed().as_secs_f64();
        best = best.min(s);
        if let (Some(a), Some(b)) = (c0, thread_cpu_ns()) {
            best_cpu = best_cpu.min((b - a) as f64 / 1e9);
        }
        assert_eq!(d.goroutines.len(), want);
        frames = d.goroutines.iter().map(|g| g.frames.len()).sum::<usize>();
    }
    let mib = data.len() as f64 / (1 << 20) as f64;
    println!(
        "BENCH goroutine-dump bytes={} goroutines={want} frames={frames} best_s={best:.4} mib_per_s={:.0} best_cpu_s={best_cpu:.4} cpu_mib_per_s={:.0}",
        data.len(),
        mib / best,
        mib / best_cpu
    );
}
