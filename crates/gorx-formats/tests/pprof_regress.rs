//! Replays the pprof regression corpus (tests/regress/pprof/: real profiles and any input
//! a fuzzer found) through both parsers, plus deterministic mutations of each file:
//! results may be Ok or Err, but nothing may panic and every error names the input.

use gorx_formats::pprof::{self, legacy};
use std::path::PathBuf;

fn replay(name: &str, data: &[u8]) {
    match pprof::parse(name, data) {
        Ok(p) => {
            // Walk everything a consumer would touch.
            for s in &p.samples {
                for f in p.frames(s) {
                    let _ = (f.function.len(), f.file.len(), f.line);
                }
            }
            let _ = p.default_sample_index().map(|i| p.total(i));
        }
        Err(e) => assert_eq!(e.input, name),
    }
    if let Err(e) = legacy::parse(name, data) {
        assert_eq!(e.input, name);
    }
}

#[test]
fn regression_corpus_never_panics() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/regress/pprof");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("regress dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut x: u64 = 0x2545f4914f6cdd1d;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for f in &files {
        let name = f.display().to_string();
        let data = std::fs::read(f).unwrap();
        replay(&name, &data);
        // Mutate the decompressed form too: gzip's CRC would reject most flips early.
        let raw = if pprof::is_gzip(&data) {
            pprof::gunzip(&name, &data).unwrap_or_default()
        } else {
            data.clone()
        };
        for _ in 0..200 {
            let mut m = raw.clone();
            if m.is_empty() {
                break;
            }
            for _ in 0..(1 + rnd() % 4) {
                let i = (rnd() as usize) % m.len();
                m[i] = rnd() as u8;
            }
            let cut = (rnd() as usize) % (m.len() + 1);
            replay(&name, &m);
            replay(&name, &m[..cut]);
        }
    }
}
