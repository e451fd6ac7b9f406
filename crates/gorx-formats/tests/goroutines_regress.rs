//! Replays tests/regress/dumps (real dumps, hand-made edge cases, anything a fuzzer
//! finds) and deterministic mutations of each through the goroutine dump parser: Ok or
//! Err, never a panic, and every error names the input.

use gorx_formats::goroutines;
use std::path::PathBuf;

fn files(sub: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/regress")
        .join(sub);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("regress dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "{}", dir.display());
    out
}

fn replay(name: &str, data: &[u8]) {
    match goroutines::parse(name, data) {
        Ok(d) => {
            for g in &d.goroutines {
                for f in &g.frames {
                    let _ = goroutines::parse_args(f.args);
                    let _ = (f.package(), f.inlined());
                }
            }
        }
        Err(e) => assert_eq!(e.input, name),
    }
}

/// xorshift: the same mutations on every run.
pub fn mutations(data: &[u8], n: usize, mut seed: u64) -> Vec<Vec<u8>> {
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..n)
        .map(|_| {
            let mut d = data.to_vec();
            if d.is_empty() {
                return d;
            }
            match rnd() % 4 {
                0 => {
                    let i = (rnd() as usize) % d.len();
                    d[i] = rnd() as u8;
                }
                1 => d.truncate((rnd() as usize) % d.len()),
                2 => {
                    let i = (rnd() as usize) % d.len();
                    let j = (i + (rnd() as usize) % 64).min(d.len());
                    let chunk = d[i..j].to_vec();
                    d.splice(i..i, chunk);
                }
                _ => {
                    let i = (rnd() as usize) % d.len();
                    d.insert(i, b"\n\t:[]{}\"\\"[(rnd() as usize) % 9]);
                }
            }
            d
        })
        .collect()
}

#[test]
fn dump_regression_corpus_never_panics() {
    for (name, data) in files("dumps") {
        replay(&name, &data);
        for (k, m) in mutations(&data, 200, 0x9e3779b97f4a7c15 ^ data.len() as u64)
            .into_iter()
            .enumerate()
        {
            replay(&format!("{name}#{k}"), &m);
        }
    }
}
