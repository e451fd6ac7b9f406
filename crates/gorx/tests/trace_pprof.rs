//! `gorx trace pprof --kind net|sync|syscall|sched FILE -o OUT` writes the profile that
//! Go 1.27's `go tool trace -pprof=KIND FILE` writes:
//! - for every `trace.out` of the corpus (v2, and v1 from Go 1.19) and each kind, both files decode (gorx's own
//!   decoder: the round trip) to the same samples: per stack (function, file, line, PC of
//!   every frame), the same contentions and delay, exactly;
//! - `go tool pprof -top -symbolize=none` opens gorx's file and prints the same report
//!   (total delay, top functions) as for Go's;
//! - bad input exits 2 naming the file.

use gorx_formats::pprof::{Profile, parse_file};
use gorx_testsupport::{artifacts_dir, corpus_entries, go_toolchain, missing_prerequisite};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn gorx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gorx"))
}

const KINDS: [&str; 4] = ["net", "sync", "syscall", "sched"];

type Stack = Vec<(String, String, i64, u64)>;

/// Samples summed per full stack: (contentions, delay_ns).
fn by_stack(p: &Profile) -> BTreeMap<Stack, (i64, i64)> {
    let mut m: BTreeMap<Stack, (i64, i64)> = BTreeMap::new();
    for s in &p.samples {
        let k: Stack = p
            .frames(s)
            .map(|f| (f.function.to_owned(), f.file.to_owned(), f.line, f.address))
            .collect();
        let e = m.entry(k).or_default();
        e.0 += s.values[0];
        e.1 += s.values[1];
    }
    m
}

fn types(p: &Profile) -> Vec<(String, String)> {
    p.sample_types
        .iter()
        .map(|t| (t.ty.to_string(), t.unit.to_string()))
        .collect()
}

/// `go tool pprof -top` without the lines that name the input file.
fn pprof_top(go: &Path, file: &Path) -> String {
    let out = Command::new(go)
        .args([
            "tool",
            "pprof",
            "-top",
            "-nodecount=20",
            "-symbolize=none",
            "-sample_index=delay",
        ])
        .arg(file)
        .output()
        .expect("run go tool pprof");
    assert!(
        out.status.success(),
        "go tool pprof {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("File:") && !l.starts_with("Main binary"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_v2(file: &Path) -> bool {
    let Ok(b) = std::fs::read(file) else {
        return false;
    };
    // v1 (go 1.19) traces too: the reader converts them to the same events.
    [
        "go 1.19 ", "go 1.22 ", "go 1.23 ", "go 1.25 ", "go 1.26 ", "go 1.27 ",
    ]
    .iter()
    .any(|h| b.starts_with(h.as_bytes()))
}

/// Compare one trace and kind; returns what differs.
fn compare(go: &Path, trace: &Path, kind: &str, tmp: &Path) -> Result<(i64, usize), String> {
    let tag = format!("{} -pprof={kind}", trace.display());
    let want = Command::new(go)
        .args(["tool", "trace", &format!("-pprof={kind}")])
        .arg(trace)
        .output()
        .expect("run go tool trace");
    if !want.status.success() {
        return Err(format!(
            "{tag}: go tool trace failed: {}",
            String::from_utf8_lossy(&want.stderr)
        ));
    }
    let go_pb = tmp.join(format!("go-{kind}.pb.gz"));
    std::fs::write(&go_pb, &want.stdout).unwrap();
    let gorx_pb = tmp.join(format!("gorx-{kind}.pb.gz"));
    let got = gorx()
        .args(["trace", "pprof", "--kind", kind, "-o"])
        .arg(&gorx_pb)
        .arg(trace)
        .output()
        .expect("run gorx");
    if !got.status.success() {
        return Err(format!(
            "{tag}: gorx failed: {}",
            String::from_utf8_lossy(&got.stderr)
        ));
    }
    let gp = parse_file(&go_pb).map_err(|e| format!("{tag}: Go's file: {e}"))?;
    let rp = parse_file(&gorx_pb).map_err(|e| format!("{tag}: gorx's file: {e}"))?;
    if types(&gp) != types(&rp) || gp.period != rp.period {
        return Err(format!("{tag}: sample types or period differ"));
    }
    let (gs, rs) = (by_stack(&gp), by_stack(&rp));
    if gs != rs {
        let first = gs
            .iter()
            .find(|(k, v)| rs.get(*k) != Some(v))
            .map(|(k, v)| format!("Go {v:?} gorx {:?} at {:?}", rs.get(k), k.first()))
            .or_else(|| {
                rs.iter()
                    .find(|(k, _)| !gs.contains_key(*k))
                    .map(|(k, v)| format!("gorx only {v:?} at {:?}", k.first()))
            });
        return Err(format!(
            "{tag}: {} vs {} stacks, totals {} vs {} ns; first difference: {}",
            gs.len(),
            rs.len(),
            gp.total(1),
            rp.total(1),
            first.unwrap_or_default()
        ));
    }
    if gp.total(1) > 0 {
        let (a, b) = (pprof_top(go, &go_pb), pprof_top(go, &gorx_pb));
        if a != b {
            return Err(format!(
                "{tag}: go tool pprof -top differs:\n--- Go\n{a}\n--- gorx\n{b}"
            ));
        }
    }
    Ok((rp.total(1), rs.len()))
}

#[test]
fn corpus_traces_profile_like_go_tool_trace() {
    let Some(go) = go_toolchain("1.27") else {
        missing_prerequisite("Go 1.27 toolchain (go tool trace -pprof oracle)");
        return;
    };
    let mut files: Vec<PathBuf> = corpus_entries()
        .into_iter()
        .map(|(_, _, dir)| dir.join("trace.out"))
        .filter(|f| is_v2(f))
        .collect();
    files.sort();
    if files.is_empty() {
        missing_prerequisite(&format!("v2 traces under {}", artifacts_dir().display()));
        return;
    }
    let tmp = std::env::temp_dir().join(format!("gorx-trace-pprof-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut errors = Vec::new();
    let mut nonempty = [0usize; 4];
    for f in &files {
        for (i, kind) in KINDS.iter().enumerate() {
            match compare(&go, f, kind, &tmp) {
                Ok((total, _)) if total > 0 => nonempty[i] += 1,
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(
        errors.is_empty(),
        "{} of {} comparisons differ:\n{}",
        errors.len(),
        files.len() * KINDS.len(),
        errors.join("\n")
    );
    // The comparisons must have compared something: the corpus has blocking patients.
    for (i, kind) in KINDS.iter().enumerate() {
        assert!(
            nonempty[i] > 0 || *kind == "net",
            "no trace had a nonempty {kind} profile"
        );
    }
}

#[test]
fn bad_input_exits_2_naming_the_file() {
    let tmp = std::env::temp_dir().join(format!("gorx-trace-pprof-bad-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let bad = tmp.join("bad.trace");
    std::fs::write(&bad, b"go 1.99 trace\0\0\0garbage").unwrap();
    let out_pb = tmp.join("out.pb.gz");
    for args in [vec!["--kind", "sync"], vec!["--kind", "bogus"]] {
        let out = gorx()
            .args(["trace", "pprof"])
            .args(&args)
            .arg("-o")
            .arg(&out_pb)
            .arg(&bad)
            .output()
            .expect("run gorx");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        if args[1] == "sync" {
            assert!(err.contains("bad.trace"), "stderr names the file: {err}");
        } else {
            assert!(err.contains("bogus"), "stderr names the kind: {err}");
        }
    }
    let missing = tmp.join("missing.trace");
    let out = gorx()
        .args(["trace", "pprof", "--kind", "net", "-o"])
        .arg(&out_pb)
        .arg(&missing)
        .output()
        .expect("run gorx");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.trace"));
    let _ = std::fs::remove_dir_all(&tmp);
}
