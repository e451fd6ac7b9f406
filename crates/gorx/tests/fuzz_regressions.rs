//! Replays testdata/fuzz-regressions/TARGET/* through the very functions the fuzz
//! targets run (fuzz/bodies.rs): `crash-*` inputs that once crashed, hung or blew up a
//! target (so a fixed crash stays fixed), and `cov-*` inputs, a small sample of what
//! libFuzzer found reaching new code (mostly error paths), as a smoke test.

#[path = "../../../fuzz/bodies.rs"]
mod bodies;

use std::path::PathBuf;
use std::time::{Duration, Instant};

#[test]
fn fuzz_regressions_never_panic() {
    let root = gorx_testsupport::repo_root().join("testdata/fuzz-regressions");
    let mut replayed = 0;
    for (target, body) in bodies::TARGETS {
        let dir = root.join(target);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files {
            let data = std::fs::read(&f).unwrap();
            // On a panic, the last line printed names the input.
            eprintln!("replaying {}", f.display());
            let t = Instant::now();
            body(&data);
            // Generous (debug build, shared CI machine): catches the quadratic blow-ups
            // libFuzzer flags with -timeout, not ordinary slowness.
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "{}: took {:?}",
                f.display(),
                t.elapsed()
            );
            replayed += 1;
        }
    }
    assert!(replayed >= bodies::TARGETS.len(), "only {replayed} inputs");
    eprintln!("{replayed} fuzz regression inputs replayed");
}
