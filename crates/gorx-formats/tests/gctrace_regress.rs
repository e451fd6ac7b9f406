//! Replays tests/regress/logs (real logs, expvar, metrics, edge cases, fuzzer finds) and
//! deterministic mutations through every text-log parser: gctrace, scavtrace, schedtrace,
//! expvar and Prometheus. Ok or Err, never a panic; errors name the input.

use gorx_formats::{expvar, gctrace, prometheus, scavtrace, schedtrace};
use std::path::PathBuf;

fn replay(name: &str, data: &[u8]) {
    let t = gctrace::parse(name, data);
    let r = gctrace::parse_reader(name, data).unwrap();
    assert_eq!(t, r, "{name}: slice and reader parsers disagree");
    if let Some(e) = t.first_error(name) {
        assert_eq!(e.input, name);
    }
    let _ = scavtrace::parse(name, data);
    let _ = schedtrace::parse(name, data);
    if let Err(e) = expvar::parse(name, data) {
        assert_eq!(e.input, name);
    }
    if let Err(e) = prometheus::parse(name, data) {
        assert_eq!(e.input, name);
    }
}

#[test]
fn log_regression_corpus_never_panics() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/regress/logs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("regress dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 5);
    let mut seed: u64 = 0x2545f4914f6cdd1d;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for p in files {
        let name = p.display().to_string();
        let data = std::fs::read(&p).unwrap();
        replay(&name, &data);
        for k in 0..100 {
            let mut d = data.clone();
            let i = (rnd() as usize) % d.len().max(1);
            match rnd() % 3 {
                0 if !d.is_empty() => d[i] = rnd() as u8,
                1 => d.truncate(i),
                _ => d.insert(i.min(d.len()), b" \n0.%@>-/+"[(rnd() as usize) % 10]),
            }
            replay(&format!("{name}#{k}"), &d);
        }
    }
}
