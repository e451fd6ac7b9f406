//! `gorx trace dump FILE` prints exactly what Go 1.27's `go tool trace -d=parsed FILE`
//! prints, byte for byte, and fails the same way on bad input:
//! - every v2 `trace.out` of the committed corpus (testdata/artifacts/<go>/<patient>/),
//! - traces written just now by a tiny program under each installed Go (1.22, 1.24,
//!   1.26, 1.27: formats go 1.22, 1.23, 1.26), with CPU samples and several generations,
//!   and one with the alloc/free experiment (experimental batches and events),
//! - the real traces in Go's own reader tests (text form, turned into bytes).

use gorx_testsupport::{artifacts_dir, corpus_entries, go_toolchain, missing_prerequisite};
use std::path::{Path, PathBuf};
use std::process::Command;

fn gorx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gorx"))
}

/// Compare one file; returns a description of the difference, if any.
fn compare(go: &Path, file: &Path) -> Option<String> {
    let want = Command::new(go)
        .args(["tool", "trace", "-d=parsed"])
        .arg(file)
        .output()
        .expect("run go tool trace");
    let got = gorx()
        .args(["trace", "dump"])
        .arg(file)
        .output()
        .expect("run gorx");
    if want.stdout != got.stdout {
        let line = want
            .stdout
            .split(|&b| b == b'\n')
            .zip(got.stdout.split(|&b| b == b'\n'))
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        return Some(format!(
            "{}: output differs from line {} ({} vs {} bytes)",
            file.display(),
            line + 1,
            want.stdout.len(),
            got.stdout.len()
        ));
    }
    if want.status.success() != got.status.success() {
        return Some(format!(
            "{}: go exit {:?} ({}), gorx exit {:?} ({})",
            file.display(),
            want.status.code(),
            String::from_utf8_lossy(&want.stderr).trim(),
            got.status.code(),
            String::from_utf8_lossy(&got.stderr).trim()
        ));
    }
    None
}

fn is_v2(file: &Path) -> bool {
    let Ok(b) = std::fs::read(file) else {
        return false;
    };
    ["go 1.22 ", "go 1.23 ", "go 1.25 ", "go 1.26 ", "go 1.27 "]
        .iter()
        .any(|h| b.starts_with(h.as_bytes()))
}

#[test]
fn corpus_traces_dump_like_go_tool_trace() {
    let Some(go) = go_toolchain("1.27") else {
        missing_prerequisite("Go 1.27 toolchain (go tool trace oracle)");
        return;
    };
    let mut files: Vec<PathBuf> = corpus_entries()
        .into_iter()
        .map(|(_, _, dir)| dir.join("trace.out"))
        .filter(|f| is_v2(f))
        .collect();
    files.sort();
    if files.is_empty() {
        eprintln!("no v2 traces under {} yet", artifacts_dir().display());
        return;
    }
    let diffs: Vec<String> = files.iter().filter_map(|f| compare(&go, f)).collect();
    assert!(
        diffs.is_empty(),
        "{} of {}:\n{}",
        diffs.len(),
        files.len(),
        diffs.join("\n")
    );
    eprintln!(
        "{} corpus traces match go tool trace -d=parsed",
        files.len()
    );
}

/// The workload traced by each Go version (see its header).
const PROGRAM: &str = include_str!("trace_workload/main.go");

#[test]
fn fresh_traces_from_each_go_version_dump_like_go_tool_trace() {
    let Some(go127) = go_toolchain("1.27") else {
        missing_prerequisite("Go 1.27 toolchain (go tool trace oracle)");
        return;
    };
    let tmp = std::env::temp_dir().join(format!("gorx-trace-dump-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("main.go"), PROGRAM).unwrap();
    std::fs::write(tmp.join("go.mod"), "module tracedump\n\ngo 1.22\n").unwrap();
    let mut diffs = Vec::new();
    let mut ran = 0;
    // The last run turns on the alloc/free experiment: experimental batches and events.
    let runs = [
        ("1.22", ""),
        ("1.24", ""),
        ("1.26", ""),
        ("1.27", ""),
        ("1.27", "traceallocfree=1"),
    ];
    for (minor, godebug) in runs {
        let Some(go) = go_toolchain(minor) else {
            missing_prerequisite(&format!("Go {minor} toolchain"));
            continue;
        };
        let out = Command::new(&go)
            .arg("run")
            .arg(".")
            .current_dir(&tmp)
            .env("GOTOOLCHAIN", "local")
            .env("GOFLAGS", "-mod=mod")
            .env("GODEBUG", godebug)
            .output()
            .expect("go run");
        assert!(
            out.status.success(),
            "go {minor} run: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let file = tmp.join(format!(
            "trace-{minor}{}.out",
            if godebug.is_empty() { "" } else { "-allocfree" }
        ));
        std::fs::write(&file, &out.stdout).unwrap();
        ran += 1;
        diffs.extend(compare(&go127, &file));
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    eprintln!("{ran} fresh traces match go tool trace -d=parsed");
}

#[test]
fn go_testdata_traces_dump_like_go_tool_trace() {
    let Some(go) = go_toolchain("1.27") else {
        missing_prerequisite("Go 1.27 toolchain (go tool trace oracle)");
        return;
    };
    let out = Command::new(&go).args(["env", "GOROOT"]).output().unwrap();
    let root = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    let dir = root.join("src/internal/trace/testdata/tests");
    let tmp = std::env::temp_dir().join(format!("gorx-trace-golden-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut diffs = Vec::new();
    let mut n = 0;
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    cases.sort();
    for case in cases
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
    {
        let text = std::fs::read_to_string(case).unwrap();
        let files = gorx_trace::raw::parse_txtar(&text);
        let bytes = gorx_trace::raw::text_to_bytes(&files[1].1).unwrap();
        let f = tmp.join(case.file_stem().unwrap()).with_extension("out");
        std::fs::write(&f, bytes).unwrap();
        n += 1;
        diffs.extend(compare(&go, &f));
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(n > 0);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}
