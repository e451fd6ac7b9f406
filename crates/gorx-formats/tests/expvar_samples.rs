//! expvar documents of every corpus patient, checked against the gctrace in the same
//! patient's stderr (the runtime counted the cycles the log printed).

use gorx_formats::{expvar, gctrace};
use gorx_testsupport::{corpus_entries, missing_prerequisite};

#[test]
fn corpus_vars_agree_with_gctrace() {
    let mut seen = 0;
    for (ver, patient, dir) in corpus_entries() {
        let Ok(data) = std::fs::read(dir.join("vars.json")) else {
            continue;
        };
        seen += 1;
        let v =
            expvar::parse("vars.json", &data).unwrap_or_else(|e| panic!("{ver}/{patient}: {e}"));
        assert!(
            v.cmdline[0].ends_with(&patient),
            "{ver}/{patient}: {:?}",
            v.cmdline
        );
        let m = v.memstats.as_ref().unwrap();
        assert!(m.num_gc > 0 && m.heap_alloc > 0 && m.sys >= m.heap_sys);
        assert_eq!(m.pause_ns.len(), 256);
        assert!(m.recent_pauses_ns().len() == (m.num_gc as usize).min(256));
        if let Ok(log) = std::fs::read(dir.join("stderr.log")) {
            let t = gctrace::parse("stderr.log", &log);
            let last = t.runs().last().expect("gctrace in stderr.log");
            // vars.json was fetched while the logged process ran: its NumGC-th cycle is in
            // the log, with the same forced flag count bound.
            assert!(
                last.cycles.iter().any(|c| c.n() == m.num_gc),
                "{ver}/{patient}: NumGC {} not among logged cycles 1..{}",
                m.num_gc,
                last.cycles.len()
            );
            let forced_before = last
                .cycles
                .iter()
                .filter(|c| c.n() <= m.num_gc && c.forced())
                .count();
            assert!(
                forced_before.abs_diff(m.num_forced_gc.expect("NumForcedGC") as usize) <= 1,
                "{ver}/{patient}: forced {forced_before} in log vs NumForcedGC {:?}",
                m.num_forced_gc
            );
        }
    }
    if seen == 0 {
        missing_prerequisite("testdata/artifacts corpus (vars.json)");
    }
}
