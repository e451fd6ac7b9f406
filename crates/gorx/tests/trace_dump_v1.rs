//! `gorx trace dump FILE` on v1 traces (Go 1.11–1.21) prints what Go 1.27's
//! `go tool trace -d=parsed FILE` prints, and fails where it fails:
//! - every v1 `trace.out` of the committed corpus (testdata/artifacts/1.19/*),
//! - every trace in Go's own v1 parser testdata (`internal/trace/internal/tracev1/testdata`),
//! - truncated and byte-mutated copies of one of them (accepted or rejected as Go does).
//!
//! Go's output for v1 traces is not deterministic: Go iterates maps of Ps and of
//! goroutines in random order, so events with equal timestamps (different Ps' events
//! at one tick; the goroutines found at trace start) come out in an order that changes
//! from run to run of `go tool trace`, while each gets the next free nanosecond. The
//! comparison is therefore exact where Go's output is, and otherwise exact up to
//! exactly that freedom: the sequence of timestamps must be identical, and within each
//! run of consecutive nanoseconds the events (everything but `Time=`) must be the same
//! multiset. Files whose outputs are byte-identical are counted and reported.

use gorx_testsupport::{corpus_entries, go_toolchain, missing_prerequisite};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn gorx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gorx"))
}

/// One printed event: its time and its text without the `Time=` field.
fn records(out: &[u8]) -> Result<Vec<(i64, Vec<u8>)>, String> {
    let mut recs: Vec<(i64, Vec<u8>)> = Vec::new();
    for line in out.split_inclusive(|&b| b == b'\n') {
        if !line.starts_with(b"M=") {
            // Stack lines belong to the event above.
            match recs.last_mut() {
                Some(r) => r.1.extend_from_slice(line),
                None => return Err("output does not start with an event".into()),
            }
            continue;
        }
        let at = line
            .windows(6)
            .position(|w| w == b" Time=")
            .ok_or("event without Time=")?;
        let rest = &line[at + 6..];
        let end = rest
            .iter()
            .position(|&c| c != b'-' && !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let t: i64 = std::str::from_utf8(&rest[..end])
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| format!("bad time in {}", String::from_utf8_lossy(line)))?;
        let mut text = line[..at].to_vec();
        text.extend_from_slice(&rest[end..]);
        recs.push((t, text));
    }
    Ok(recs)
}

/// Equal, allowing permutations within runs of consecutive nanoseconds (see above).
fn same_up_to_ties(want: &[u8], got: &[u8]) -> Result<(), String> {
    let (w, g) = (records(want)?, records(got)?);
    if w.len() != g.len() {
        return Err(format!("{} events vs {}", w.len(), g.len()));
    }
    if let Some(i) = (0..w.len()).find(|&i| w[i].0 != g[i].0) {
        return Err(format!(
            "event {i}: time {} vs {}:\n  {}\n  {}",
            w[i].0,
            g[i].0,
            String::from_utf8_lossy(&w[i].1),
            String::from_utf8_lossy(&g[i].1)
        ));
    }
    let mut start = 0;
    while start < w.len() {
        let mut end = start + 1;
        while end < w.len() && w[end].0 == w[end - 1].0.wrapping_add(1) {
            end += 1;
        }
        let mut a: Vec<&[u8]> = w[start..end].iter().map(|r| &r.1[..]).collect();
        let mut b: Vec<&[u8]> = g[start..end].iter().map(|r| &r.1[..]).collect();
        a.sort();
        b.sort();
        if a != b {
            let i = (0..a.len()).find(|&i| a[i] != b[i]).unwrap_or(0);
            return Err(format!(
                "events {start}..{end} (time {}) differ:\n  {}\n  {}",
                w[start].0,
                String::from_utf8_lossy(a[i]),
                String::from_utf8_lossy(b[i])
            ));
        }
        start = end;
    }
    Ok(())
}

/// The `go tool trace` command: the tool binary itself when `go tool -n` names it
/// (saves the go command's start-up on every one of the many runs).
fn trace_tool(go: &Path) -> Command {
    static BIN: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let bin = BIN.get_or_init(|| {
        let o = Command::new(go)
            .args(["tool", "-n", "trace"])
            .output()
            .ok()?;
        let bin = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
        (o.status.success() && bin.is_file()).then_some(bin)
    });
    if let Some(bin) = bin {
        return Command::new(bin);
    }
    let mut c = Command::new(go);
    c.args(["tool", "trace"]);
    c
}

fn run_go(go: &Path, file: &Path) -> Output {
    trace_tool(go)
        .arg("-d=parsed")
        .arg(file)
        .output()
        .expect("run go tool trace")
}

fn run_gorx(file: &Path) -> Output {
    gorx()
        .args(["trace", "dump"])
        .arg(file)
        .output()
        .expect("run gorx")
}

#[derive(Default)]
struct Tally {
    exact: usize,
    up_to_ties: usize,
    rejected_alike: usize,
    go_panicked: usize,
}

/// Compare one file; `Err` describes the difference.
fn compare(go: &Path, file: &Path, tally: &mut Tally) -> Result<(), String> {
    let want = run_go(go, file);
    let got = run_gorx(file);
    let name = file.display();
    if got.status.code() == Some(101) || String::from_utf8_lossy(&got.stderr).contains("panicked") {
        return Err(format!(
            "{name}: gorx panicked: {}",
            String::from_utf8_lossy(&got.stderr)
        ));
    }
    if String::from_utf8_lossy(&want.stderr).contains("panic:") {
        // Go itself crashes on some corrupt inputs; gorx must just reject them.
        tally.go_panicked += 1;
        return if got.status.success() {
            Err(format!("{name}: go panicked but gorx accepted it"))
        } else {
            Ok(())
        };
    }
    if want.status.success() != got.status.success() {
        return Err(format!(
            "{name}: go exit {:?} ({}), gorx exit {:?} ({})",
            want.status.code(),
            String::from_utf8_lossy(&want.stderr).trim(),
            got.status.code(),
            String::from_utf8_lossy(&got.stderr).trim()
        ));
    }
    if want.stdout == got.stdout {
        if want.status.success() {
            tally.exact += 1;
        } else {
            tally.rejected_alike += 1;
        }
        return Ok(());
    }
    same_up_to_ties(&want.stdout, &got.stdout).map_err(|e| format!("{name}: {e}"))?;
    if want.status.success() {
        tally.up_to_ties += 1;
    } else {
        tally.rejected_alike += 1;
    }
    Ok(())
}

fn is_v1(file: &Path) -> bool {
    let Ok(b) = std::fs::read(file) else {
        return false;
    };
    ["go 1.11 ", "go 1.19 ", "go 1.21 "]
        .iter()
        .any(|h| b.starts_with(h.as_bytes()))
}

fn tracev1_testdata(go: &Path) -> PathBuf {
    let out = Command::new(go).args(["env", "GOROOT"]).output().unwrap();
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
        .join("src/internal/trace/internal/tracev1/testdata")
}

#[test]
fn comparison_is_strict_outside_ties() {
    let a = b"M=1 P=0 G=1 X Time=10 A\nM=1 P=0 G=1 X Time=11 B\n\tf @ 0x1\n";
    let swapped = b"M=1 P=0 G=1 X Time=10 B\n\tf @ 0x1\nM=1 P=0 G=1 X Time=11 A\n";
    assert!(same_up_to_ties(a, swapped).is_ok());
    let apart = b"M=1 P=0 G=1 X Time=10 A\nM=1 P=0 G=1 X Time=12 B\n";
    let apart_swapped = b"M=1 P=0 G=1 X Time=10 B\nM=1 P=0 G=1 X Time=12 A\n";
    assert!(same_up_to_ties(apart, apart_swapped).is_err());
    let other = b"M=1 P=0 G=1 X Time=10 A\nM=1 P=0 G=1 X Time=11 C\n\tf @ 0x1\n";
    assert!(same_up_to_ties(a, other).is_err());
}

#[test]
fn v1_traces_dump_like_go_tool_trace() {
    let Some(go) = go_toolchain("1.27") else {
        missing_prerequisite("Go 1.27 toolchain (go tool trace oracle)");
        return;
    };
    let mut files: Vec<PathBuf> = corpus_entries()
        .into_iter()
        .map(|(_, _, dir)| dir.join("trace.out"))
        .filter(|f| is_v1(f))
        .collect();
    let dir = tracev1_testdata(&go);
    let mut go_files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    go_files.sort();
    // Go's parser tests know two suffixes: _good must parse; _unordered must fail
    // with ErrTimeOrder (none ship today).
    assert!(
        go_files
            .iter()
            .all(|f| f.to_string_lossy().ends_with("_good")
                || f.to_string_lossy().ends_with("_unordered")),
        "unknown file in {}",
        dir.display()
    );
    assert!(!go_files.is_empty());
    files.sort();
    files.extend(go_files.iter().cloned());
    let mut tally = Tally::default();
    let diffs: Vec<String> = files
        .iter()
        .filter_map(|f| compare(&go, f, &mut tally).err())
        .collect();
    assert!(
        diffs.is_empty(),
        "{} of {}:\n{}",
        diffs.len(),
        files.len(),
        diffs.join("\n")
    );
    for f in &go_files {
        let ok = run_gorx(f).status.success();
        let good = f.to_string_lossy().ends_with("_good");
        assert_eq!(ok, good, "{}", f.display());
    }
    eprintln!(
        "{} v1 traces match go tool trace -d=parsed: {} byte for byte, {} up to the order of tied events",
        files.len(),
        tally.exact,
        tally.up_to_ties
    );
}

#[test]
fn damaged_v1_traces_are_accepted_or_rejected_as_go_does() {
    let Some(go) = go_toolchain("1.27") else {
        missing_prerequisite("Go 1.27 toolchain (go tool trace oracle)");
        return;
    };
    let src = tracev1_testdata(&go).join("user_task_region_1_21_good");
    let data = std::fs::read(&src).unwrap();
    let tmp = std::env::temp_dir().join(format!("gorx-trace-v1-damaged-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    // Truncations: inside the header, and at spread-out offsets of the data.
    for cut in [
        0,
        10,
        16,
        17,
        40,
        100,
        333,
        700,
        1000,
        1500,
        2000,
        data.len() - 1,
    ] {
        cases.push((format!("cut{cut}"), data[..cut.min(data.len())].to_vec()));
    }
    // Single-byte changes at spread-out offsets (a deterministic pseudo-random walk).
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..24 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = 16 + (x as usize) % (data.len() - 16);
        let mut d = data.clone();
        d[at] = d[at].wrapping_add(1 + (x >> 32) as u8 % 250);
        cases.push((format!("mut{i}-at{at}"), d));
    }
    let mut tally = Tally::default();
    let mut diffs = Vec::new();
    for (name, bytes) in &cases {
        let f = tmp.join(name);
        std::fs::write(&f, bytes).unwrap();
        if let Err(e) = compare(&go, &f, &mut tally) {
            diffs.push(e);
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    eprintln!(
        "{} damaged traces: {} rejected as Go rejects them, {} accepted alike, {} crash Go (gorx rejects)",
        cases.len(),
        tally.rejected_alike,
        tally.exact + tally.up_to_ties,
        tally.go_panicked
    );
}

/// The workload of trace_dump.rs, run shorter (600 ms, 12 workers) with Go 1.19.
const PROGRAM: &str = include_str!("trace_workload/main.go");

#[test]
fn fresh_go_1_19_trace_dumps_like_go_tool_trace() {
    let Some(go127) = go_toolchain("1.27") else {
        missing_prerequisite("Go 1.27 toolchain (go tool trace oracle)");
        return;
    };
    let Some(go119) = go_toolchain("1.19") else {
        missing_prerequisite("Go 1.19 toolchain (writes v1 traces)");
        return;
    };
    let tmp = std::env::temp_dir().join(format!("gorx-trace-v1-fresh-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("main.go"), PROGRAM).unwrap();
    std::fs::write(tmp.join("go.mod"), "module tracev1\n\ngo 1.19\n").unwrap();
    let out = Command::new(&go119)
        .args(["run", ".", "600", "12"])
        .current_dir(&tmp)
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .output()
        .expect("go run");
    assert!(
        out.status.success(),
        "go 1.19 run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.starts_with(b"go 1.19 trace\x00\x00\x00"));
    let file = tmp.join("trace-1.19.out");
    std::fs::write(&file, &out.stdout).unwrap();
    let mut tally = Tally::default();
    let res = compare(&go127, &file, &mut tally);
    // The dump must show what this program does, or the comparison proves little.
    let dump = String::from_utf8_lossy(&run_gorx(&file).stdout).into_owned();
    let _ = std::fs::remove_dir_all(&tmp);
    res.unwrap();
    for want in [
        "StackSample",
        "TaskBegin",
        "RegionBegin",
        "Category=\"phase\"",
        "Reason=\"runtime.Gosched\"",
        "Running->Syscall",
    ] {
        assert!(dump.contains(want), "no {want} in the dump");
    }
}
