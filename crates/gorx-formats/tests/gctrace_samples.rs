//! gctrace/scavtrace parsing of real logs from several Go versions, checked against the
//! same process's own `runtime.MemStats` (NumGC, NumForcedGC) printed at its end.

use gorx_formats::{gctrace, scavtrace};
use gorx_testsupport::repo_root;

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("testdata/samples/logs").join(name)).unwrap()
}

/// The oracle line `NUMGC <n> FORCED <m>` the sample program prints from MemStats.
fn memstats_oracle(log: &[u8]) -> (usize, usize) {
    let text = String::from_utf8_lossy(log);
    let line = text
        .lines()
        .find(|l| l.starts_with("NUMGC "))
        .expect("oracle line");
    let f: Vec<usize> = line
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    (f[0], f[1])
}

#[test]
fn cycle_counts_match_memstats_for_every_version() {
    for v in ["1.19", "1.22", "1.24", "1.26", "1.27"] {
        let data = sample(&format!("gctrace-go{v}.log"));
        let (numgc, forced) = memstats_oracle(&data);
        let t = gctrace::parse("log", &data);
        assert!(t.malformed.is_empty(), "go{v}: {:?}", t.malformed);
        assert_eq!(t.run_count(), 1, "go{v}");
        let cycles = t.run(0).unwrap().cycles;
        assert_eq!(cycles.len(), numgc, "go{v} cycles vs NumGC");
        let forced_lines = cycles.iter().filter(|c| c.forced()).count();
        if v == "1.19" {
            // Go 1.19 prints the line after restarting the world, so a runtime.GC() that
            // starts the next cycle at once can flip `work.userForced` first: the
            // background cycle before it is printed "(forced)" too (16 lines, 14 counted).
            assert!(forced_lines >= forced, "go{v} forced");
        } else {
            assert_eq!(forced_lines, forced, "go{v} forced");
        }
        // Cycle numbers are consecutive from 1 and times never go backwards.
        for (i, c) in cycles.iter().enumerate() {
            assert_eq!(c.n(), i as u64 + 1);
            assert!(c.procs() >= 1 && c.stacks_bytes().is_some());
            assert!(
                c.heap_live_bytes() <= c.heap_end_bytes().max(c.heap_start_bytes()) + (1 << 20)
            );
        }
        assert!(cycles.pairs().all(|(a, b)| a.at_ns() <= b.at_ns()));
        // The streaming reader agrees with the slice parser.
        let r = gctrace::parse_reader("log", &data[..]).unwrap();
        assert_eq!(r, t, "go{v} reader");

        let s = scavtrace::parse("log", &data);
        assert!(s.malformed.is_empty(), "go{v}: {:?}", s.malformed);
        assert!(!s.lines.is_empty(), "go{v} has scavtrace lines");
        let want = if v == "1.19" {
            scavtrace::ScavForm::Total
        } else {
            scavtrace::ScavForm::BgEager
        };
        assert!(s.lines.iter().all(|l| l.form == want), "go{v} scav form");
    }
}

#[test]
fn container_wrappers_give_the_same_cycles() {
    let plain = gctrace::parse("plain", &sample("gctrace-go1.24.log"));
    for name in ["gctrace-go1.24.docker-json.log", "gctrace-go1.24.cri.log"] {
        let t = gctrace::parse(name, &sample(name));
        assert!(t.malformed.is_empty(), "{name}: {:?}", t.malformed);
        assert_eq!(t.run_count(), 1);
        let strip = |t: &gctrace::GcTrace| {
            t.run(0)
                .unwrap()
                .cycles
                .iter()
                .map(|c| c.with_offset(0))
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&t), strip(&plain), "{name}");
        assert_eq!(
            scavtrace::parse(name, &sample(name)).lines.len(),
            scavtrace::parse("plain", &sample("gctrace-go1.24.log"))
                .lines
                .len()
        );
    }
}

#[test]
fn a_restart_starts_a_new_run() {
    let data = sample("gctrace-restart.klog.log");
    let t = gctrace::parse("klog", &data);
    assert_eq!(t.run_count(), 2);
    let (a, _) = memstats_oracle(&sample("gctrace-go1.19.log"));
    let (b, _) = memstats_oracle(&sample("gctrace-go1.27.log"));
    let (r0, r1) = (t.run(0).unwrap(), t.run(1).unwrap());
    assert_eq!(r0.cycles.len(), a);
    assert_eq!(r1.cycles.len(), b);
    let restart_line = String::from_utf8_lossy(&data)
        .lines()
        .position(|l| l.contains("process restarted"))
        .unwrap() as u64
        + 1;
    assert!(r1.first_line > restart_line);
    assert_eq!(r0.first_line, 2, "line 1 is a scav line");
}

#[test]
fn bad_input_never_panics() {
    for data in [
        &b""[..],
        b"gc ",
        b"gc 1",
        b"gc 1 @",
        b"gc 1 @0.1s 99999999999999999999%: ",
        b"\xff\xfegc 1 @0.1s 5%: 1+2+3 ms clock, 1+2/3/4+5 ms cpu, 1->2->3 MB, 4 MB goal, 0 P\n",
        b"gc 18446744073709551615 @18446744073709551615.9s 1%: 1+1+1 ms clock, 1+1/1/1+1 ms cpu, 18446744073709551615->1->1 MB, 1 MB goal, 1 P",
    ] {
        let t = gctrace::parse("bad", data);
        assert_eq!(t.cycle_count(), 0);
        let _ = scavtrace::parse("bad", data);
        let _ = gorx_formats::schedtrace::parse("bad", data);
    }
    let t = gctrace::parse(
        "bad",
        b"x\ngc 1 @0.1s 5%: 1+2+3 ms clock, 1+2/3/4+5 ms cpu, 1->2->3 MB, 4 MB goal, 0 P\n",
    );
    assert_eq!(t.malformed[0].line, 2);
    assert_eq!(
        t.first_error("bad").unwrap().to_string(),
        "bad:2: P count is 0"
    );
}

/// Every corpus stderr.log: all three runtime traces parse completely, and they agree
/// with each other (schedtrace's gomaxprocs is gctrace's P; snapshots are 1 s apart as
/// GODEBUG=schedtrace=1000 asked).
#[test]
fn corpus_runtime_logs_parse_completely() {
    let mut seen = 0;
    for (ver, patient, dir) in gorx_testsupport::corpus_entries() {
        let Ok(log) = std::fs::read(dir.join("stderr.log")) else {
            continue;
        };
        seen += 1;
        let text = String::from_utf8_lossy(&log);
        let gc = gctrace::parse("stderr.log", &log);
        let sc = scavtrace::parse("stderr.log", &log);
        let sched = gorx_formats::schedtrace::parse("stderr.log", &log);
        let at = |p: &str| text.lines().filter(|l| l.starts_with(p)).count();
        assert!(gc.malformed.is_empty() && sc.malformed.is_empty() && sched.malformed.is_empty());
        assert_eq!(gc.cycle_count(), at("gc "), "{ver}/{patient}");
        assert_eq!(sc.lines.len(), at("scav "), "{ver}/{patient}");
        assert_eq!(sched.snapshots.len(), at("SCHED "), "{ver}/{patient}");
        let procs = gc.run(0).unwrap().cycles[0].procs() as i64;
        for s in &sched.snapshots {
            assert_eq!(s.get("gomaxprocs"), Some(procs), "{ver}/{patient}");
            assert_eq!(s.local_runqueues.len() as i64, procs, "{ver}/{patient}");
            assert!(s.get("threads").unwrap() >= 1);
        }
        for w in sched.snapshots.windows(2) {
            let dt = w[1].at_ms - w[0].at_ms;
            assert!(
                (900..=3000).contains(&dt),
                "{ver}/{patient}: {dt} ms between SCHED lines"
            );
        }
    }
    if seen == 0 {
        gorx_testsupport::missing_prerequisite("testdata/artifacts corpus (stderr.log)");
    }
}
