//! gorx's MMU port against Go's own code on the same traces.
//!
//! The oracle (tests/mmu_oracle/main.go) is built against a copy of Go 1.27's
//! `src/internal/trace` (reader, gc.go, mud.go; import paths rewritten, nothing else) so
//! it runs exactly what `go tool trace` runs; it needs no module download. It reads every
//! v2 trace of the corpus, the GC-heavy traces of Go's own reader tests and a trace it
//! writes itself (GC-heavy, GOMAXPROCS changing), once, and
//! prints utilization series, MMU at fixed windows, worst windows (Examples) and MUD
//! quantiles for several flag sets. gorx computes the same from a streaming read and
//! must agree: series and window times exactly, every float within 1e-9.

use gorx_analysis::mmu::{MmuCurve, MutatorUtilBuilder, UtilFlags};
use gorx_testsupport::{corpus_entries, go_toolchain, missing_prerequisite};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const TOLERANCE: f64 = 1e-9;

/// Copy the non-test Go sources of `src/internal/trace` (minus cmd/trace-only and
/// test-helper packages) into `dst/trace`, rewriting `internal/trace` imports.
fn copy_trace_package(src: &Path, dst: &Path) -> usize {
    let skip_dirs = ["testdata", "traceviewer", "testtrace", "raw", "testgen"];
    let mut n = 0;
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(src.join(&rel)).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let p = rel.join(&name);
            if e.path().is_dir() {
                if !skip_dirs.contains(&name.as_str()) {
                    stack.push(p);
                }
            } else if name.ends_with(".go") && !name.ends_with("_test.go") {
                let text = std::fs::read_to_string(e.path()).unwrap();
                let text = text.replace("\"internal/trace", "\"gorxmmuoracle/trace");
                let out = dst.join("trace").join(&p);
                std::fs::create_dir_all(out.parent().unwrap()).unwrap();
                std::fs::write(out, text).unwrap();
                n += 1;
            }
        }
    }
    n
}

fn build_oracle(go: &Path, dir: &Path) -> PathBuf {
    let out = Command::new(go)
        .args(["env", "GOROOT"])
        .output()
        .expect("go env GOROOT");
    let goroot = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    let src = goroot.join("src/internal/trace");
    assert!(
        src.join("gc.go").is_file() && src.join("mud.go").is_file(),
        "{} lacks gc.go/mud.go",
        src.display()
    );
    let n = copy_trace_package(&src, dir);
    assert!(n > 10, "copied only {n} Go files from {}", src.display());
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mmu_oracle");
    for name in ["main.go", "gen.go"] {
        std::fs::copy(here.join(name), dir.join(name)).unwrap();
    }
    std::fs::write(dir.join("go.mod"), "module gorxmmuoracle\n\ngo 1.27\n").unwrap();
    let bin = dir.join("mmu-oracle");
    let out = Command::new(go)
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(dir)
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .env("GOWORK", "off")
        .output()
        .expect("go build");
    assert!(
        out.status.success(),
        "building the oracle failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

/// The corpus's v2 traces (gorx does not read the pre-1.22 format), the GC-heavy
/// traces of Go's own reader tests written out as binary, and one GC-heavy trace with
/// GOMAXPROCS changes written just now by the oracle binary (gen.go).
fn traces(go: &Path, oracle: &Path, tmp: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = corpus_entries()
        .into_iter()
        .map(|(_, _, dir)| dir.join("trace.out"))
        .filter(|f| {
            std::fs::read(f).is_ok_and(|b| b.starts_with(b"go 1.") && !b.starts_with(b"go 1.19"))
        })
        .collect();
    let out = Command::new(go).args(["env", "GOROOT"]).output().unwrap();
    let tests = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
        .join("src/internal/trace/testdata/tests");
    for case in ["go122-gc-stress", "go122-annotations-stress"] {
        let text = std::fs::read_to_string(tests.join(format!("{case}.test"))).unwrap();
        let files_txt = gorx_trace::raw::parse_txtar(&text);
        let bytes = gorx_trace::raw::text_to_bytes(&files_txt[1].1).unwrap();
        let f = tmp.join(format!("{case}.trace"));
        std::fs::write(&f, bytes).unwrap();
        files.push(f);
    }
    let gen_trace = tmp.join("generated.trace");
    let out = Command::new(oracle)
        .arg("-gen")
        .arg(&gen_trace)
        .output()
        .expect("run oracle -gen");
    assert!(
        out.status.success(),
        "oracle -gen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    files.push(gen_trace);
    files
}

fn f(v: &Value) -> f64 {
    v.as_str()
        .expect("float as string")
        .parse()
        .expect("float string")
}

fn i64s(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

/// Compares and tracks the largest float difference.
struct Checker {
    max_diff: f64,
    compared: usize,
    diffs: Vec<String>,
}

impl Checker {
    fn float(&mut self, what: &dyn Fn() -> String, want: f64, got: f64) {
        self.compared += 1;
        let d = (want - got).abs();
        if want.is_nan() != got.is_nan() || d > TOLERANCE {
            self.diffs
                .push(format!("{}: want {want}, got {got}", what()));
        } else if d > self.max_diff {
            self.max_diff = d;
        }
    }
    fn exact<T: PartialEq + std::fmt::Debug>(
        &mut self,
        what: &dyn Fn() -> String,
        want: T,
        got: T,
    ) {
        self.compared += 1;
        if want != got {
            self.diffs
                .push(format!("{}: want {want:?}, got {got:?}", what()));
        }
    }
}

#[test]
fn mmu_matches_go_internal_trace() {
    let Some(go) = go_toolchain("1.27") else {
        missing_prerequisite("Go 1.27 toolchain (its GOROOT's internal/trace is the oracle)");
        return;
    };
    let tmp = std::env::temp_dir().join(format!("gorx-mmu-oracle-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let oracle = build_oracle(&go, &tmp);
    let files = traces(&go, &oracle, &tmp);
    assert!(files.len() >= 40, "only {} traces found", files.len());

    let out = Command::new(&oracle)
        .args(&files)
        .output()
        .expect("run oracle");
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines = stdout.lines();
    let config: Value = serde_json::from_str(lines.next().expect("config line")).unwrap();
    let windows = i64s(&config["windows"]);
    let example_windows = i64s(&config["example_windows"]);
    let n_examples = config["n_examples"].as_u64().unwrap() as usize;
    let mud_windows = i64s(&config["mud_windows"]);
    let quantiles: Vec<f64> = config["quantiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q.as_f64().unwrap())
        .collect();

    // Group the oracle's results by file, in order.
    let mut by_file: Vec<(String, Vec<Value>)> = Vec::new();
    for line in lines {
        let v: Value = serde_json::from_str(line).unwrap();
        let file = v["file"].as_str().unwrap().to_string();
        match by_file.last_mut() {
            Some((f, rs)) if *f == file => rs.push(v),
            _ => by_file.push((file, vec![v])),
        }
    }
    assert_eq!(by_file.len(), files.len(), "oracle skipped files");

    let mut ck = Checker {
        max_diff: 0.0,
        compared: 0,
        diffs: Vec::new(),
    };
    let mut nonzero_series = 0;
    let mut go_panics = 0;
    for (file, results) in &by_file {
        if let Some(e) = results[0]["error"].as_str() {
            panic!("oracle could not read {file}: {e}");
        }
        let flag_sets: Vec<UtilFlags> = results
            .iter()
            .map(|r| UtilFlags::parse(r["flags"].as_str().unwrap()).unwrap())
            .collect();
        // One streaming pass feeds every flag set's builder.
        let mut builders: Vec<MutatorUtilBuilder> = flag_sets
            .iter()
            .map(|&fl| MutatorUtilBuilder::new(fl))
            .collect();
        let mut r = gorx_trace::Reader::new(file.clone(), std::fs::File::open(file).unwrap())
            .unwrap_or_else(|e| panic!("{e}"));
        while let Some(ev) = r.read_event().unwrap_or_else(|e| panic!("{e}")) {
            for b in &mut builders {
                b.observe(&ev);
            }
        }
        for (res, b) in results.iter().zip(builders) {
            let flags = res["flags"].as_str().unwrap().to_string();
            if let Some(e) = res["error"].as_str() {
                // Go's MutatorUtilizationV2 indexes ps[ev.Proc()] and panics on an event
                // without a P (seen: a background mark worker leaving a syscall without
                // one). gorx skips such events and counts them; nothing to compare.
                if e.contains("index out of range [-1]") && b.anomalies() > 0 {
                    go_panics += 1;
                } else {
                    ck.diffs.push(format!(
                        "{file} [{flags}]: oracle: {e} (gorx skipped {} events)",
                        b.anomalies()
                    ));
                }
                continue;
            }
            if b.anomalies() > 0 {
                ck.diffs.push(format!(
                    "{file} [{flags}]: gorx skipped {} events Go accepted",
                    b.anomalies()
                ));
            }
            let ctx = |what: String| format!("{file} [{flags}] {what}");
            let series = b.finish();
            let want_series = res["series"].as_array().cloned().unwrap_or_default();
            ck.exact(
                &|| ctx("series count".into()),
                want_series.len(),
                series.len(),
            );
            for (si, (ws, gs)) in want_series.iter().zip(&series).enumerate() {
                let ws = ws.as_array().unwrap();
                ck.exact(&|| ctx(format!("series {si} length")), ws.len(), gs.len());
                for (pi, (wp, gp)) in ws.iter().zip(gs).enumerate() {
                    let wt: i64 = wp[0].as_str().unwrap().parse().unwrap();
                    ck.exact(
                        &|| ctx(format!("series {si} point {pi} time")),
                        wt,
                        gp.time_ns,
                    );
                    ck.float(
                        &|| ctx(format!("series {si} point {pi} util")),
                        f(&wp[1]),
                        gp.util,
                    );
                }
                nonzero_series += usize::from(gs.len() > 2);
            }
            let curve = MmuCurve::new(series);
            for (w, want) in windows.iter().zip(res["mmu"].as_array().unwrap()) {
                ck.float(&|| ctx(format!("MMU({w})")), f(want), curve.mmu(*w));
            }
            for (w, want) in example_windows
                .iter()
                .zip(res["examples"].as_array().unwrap())
            {
                let want = want.as_array().unwrap();
                let got = curve.examples(*w, n_examples);
                ck.exact(
                    &|| ctx(format!("Examples({w}) count")),
                    want.len(),
                    got.len(),
                );
                for (i, (we, ge)) in want.iter().zip(&got).enumerate() {
                    ck.exact(
                        &|| ctx(format!("Examples({w})[{i}] time")),
                        we["time"].as_i64().unwrap(),
                        ge.time_ns,
                    );
                    ck.float(
                        &|| ctx(format!("Examples({w})[{i}] util")),
                        f(&we["util"]),
                        ge.mutator_util,
                    );
                }
            }
            for (w, want) in mud_windows.iter().zip(res["mud"].as_array().unwrap()) {
                let got = curve.mud(*w, &quantiles);
                for (q, (wq, gq)) in quantiles
                    .iter()
                    .zip(want.as_array().unwrap().iter().zip(got))
                {
                    ck.float(&|| ctx(format!("MUD({w}, {q})")), f(wq), gq);
                }
            }
        }
    }
    // Keep the generated trace and the oracle for a failure's post-mortem.
    if ck.diffs.is_empty() {
        let _ = std::fs::remove_dir_all(&tmp);
    } else {
        eprintln!("kept {} for inspection", tmp.display());
    }
    eprintln!(
        "MMU oracle: {} traces, {} values compared, max |diff| {:e}; {go_panics} (trace, flags) where Go's code panicked",
        by_file.len(),
        ck.compared,
        ck.max_diff
    );
    // The comparison must have had something to bite on.
    assert!(
        nonzero_series > 50,
        "only {nonzero_series} non-trivial series"
    );
    assert!(
        ck.diffs.is_empty(),
        "{} mismatches:\n{}",
        ck.diffs.len(),
        ck.diffs
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
