//! gctrace scan throughput over a large log; run by scripts/bench-logs.sh
//! (`GORX_BENCH_LOG=file cargo test --release --test gctrace_bench -- --ignored`).
//! The log is read into memory first; the number is the parse alone.

use std::time::Instant;

/// CPU time of every thread of this process in ns (`/proc/self/task/*/schedstat`; the
/// parse runs on rayon's threads too), so a loaded shared machine shows in wall time but
/// not in the CPU-time throughput.
fn thread_cpu_ns() -> Option<u64> {
    let mut total = 0u64;
    for t in std::fs::read_dir("/proc/self/task").ok()? {
        let s = std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok()?;
        total += s.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

#[test]
#[ignore = "benchmark; needs GORX_BENCH_LOG (scripts/bench-logs.sh)"]
fn gctrace_log_throughput() {
    let Ok(path) = std::env::var("GORX_BENCH_LOG") else {
        eprintln!("SKIPPED: GORX_BENCH_LOG not set");
        return;
    };
    let data = std::fs::read(&path).unwrap();
    let mut best = f64::MAX;
    let mut best_cpu = f64::MAX;
    let mut cycles = 0;
    for _ in 0..3 {
        let c0 = thread_cpu_ns();
        let t = Instant::now();
        let tr = gorx_formats::gctrace::parse(&path, &data);
        let s = t.elapsed().as_secs_f64();
        best = best.min(s);
        if let (Some(a), Some(b)) = (c0, thread_cpu_ns()) {
            best_cpu = best_cpu.min((b - a) as f64 / 1e9);
        }
        cycles = tr.cycle_count();
        assert!(tr.malformed.is_empty());
    }
    let mib = data.len() as f64 / (1 << 20) as f64;
    println!(
        "BENCH gctrace bytes={} cycles={cycles} best_s={best:.4} mib_per_s={:.0} best_cpu_s={best_cpu:.4} cpu_mib_per_s={:.0}",
        data.len(),
        mib / best,
        mib / best_cpu
    );
}
