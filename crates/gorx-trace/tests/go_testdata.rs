//! Conformance against Go 1.27's own reader tests, read from its GOROOT at test time:
//! every `src/internal/trace/testdata/tests/*.test` case reaches its stated verdict, the
//! events of the successful ones print exactly as `go tool trace -d=parsed` prints them,
//! and the `FuzzReader` corpus never panics the reader.

use gorx_testsupport::{go_toolchain, missing_prerequisite};
use gorx_trace::Reader;
use gorx_trace::raw::{parse_txtar, text_to_bytes};
use std::path::PathBuf;
use std::process::Command;

fn goroot() -> Option<(PathBuf, PathBuf)> {
    let go = go_toolchain("1.27")?;
    let out = Command::new(&go).args(["env", "GOROOT"]).output().ok()?;
    let root = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    Some((go, root))
}

/// All events' Go strings, or the error message (without our location prefix).
fn read_all(bytes: &[u8]) -> (Vec<u8>, Option<String>) {
    let mut out = Vec::new();
    let mut r = match Reader::new("case", bytes) {
        Ok(r) => r,
        Err(e) => return (out, Some(e.message)),
    };
    loop {
        // Lent events: the path `gorx trace` takes (robustness.rs holds it equal to
        // `read_event`).
        match r.next_event() {
            Ok(Some(ev)) => {
                ev.write_go_string(&mut out);
                out.push(b'\n');
            }
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e.message)),
        }
    }
}

fn test_cases(root: &std::path::Path) -> Vec<PathBuf> {
    let dir = root.join("src/internal/trace/testdata/tests");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "test"));
    v.sort();
    v
}

#[test]
fn every_reader_test_case_reaches_its_verdict() {
    let Some((_, root)) = goroot() else {
        missing_prerequisite("Go 1.27 toolchain (for its internal/trace testdata)");
        return;
    };
    let cases = test_cases(&root);
    assert!(!cases.is_empty(), "no test cases under {}", root.display());
    let mut failures = Vec::new();
    for case in &cases {
        let text = std::fs::read_to_string(case).unwrap();
        let files = parse_txtar(&text);
        assert_eq!(files.len(), 2, "{}", case.display());
        assert_eq!(files[0].0, "expect");
        assert_eq!(files[1].0, "trace");
        let bytes =
            text_to_bytes(&files[1].1).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        let expect = files[0].1.lines().next().unwrap_or("").to_string();
        let (_, err) = read_all(&bytes);
        let verdict_ok = if expect == "SUCCESS" {
            err.is_none()
        } else if let Some(pat) = expect.strip_prefix("FAILURE ") {
            let pat = gorx_trace::goutil::unquote(pat).expect("quoted pattern");
            let re = regex::Regex::new(std::str::from_utf8(&pat).unwrap()).unwrap();
            err.as_deref().is_some_and(|e| re.is_match(e))
        } else {
            panic!("{}: bad expectation {expect:?}", case.display());
        };
        if !verdict_ok {
            failures.push(format!(
                "{}: expected {expect}, got {:?}",
                case.file_name().unwrap().to_string_lossy(),
                err
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!("{} Go reader test cases reach their verdicts", cases.len());
}

#[test]
fn reader_test_cases_print_as_go_tool_trace_does() {
    let Some((go, root)) = goroot() else {
        missing_prerequisite("Go 1.27 toolchain (for its internal/trace testdata)");
        return;
    };
    let tmp = std::env::temp_dir().join(format!("gorx-trace-cases-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut mismatches = Vec::new();
    let cases = test_cases(&root);
    for case in &cases {
        let text = std::fs::read_to_string(case).unwrap();
        let files = parse_txtar(&text);
        let bytes = text_to_bytes(&files[1].1).unwrap();
        let f = tmp.join("trace.out");
        std::fs::write(&f, &bytes).unwrap();
        let go_out = Command::new(&go)
            .args(["tool", "trace", "-d=parsed"])
            .arg(&f)
            .output()
            .unwrap();
        let (ours, err) = read_all(&bytes);
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        if go_out.stdout != ours {
            mismatches.push(format!(
                "{name}: stdout differs ({} vs {} bytes)",
                go_out.stdout.len(),
                ours.len()
            ));
        }
        if go_out.status.success() != err.is_none() {
            mismatches.push(format!(
                "{name}: go exit {:?}, ours error {err:?}",
                go_out.status.code()
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// `go test fuzz v1` files hold one `[]byte("...")` literal.
fn parse_fuzz_file(text: &str) -> Option<Vec<u8>> {
    let lit = text.lines().nth(1)?.trim();
    let inner = lit.strip_prefix("[]byte(")?.strip_suffix(')')?;
    gorx_trace::goutil::unquote(inner)
}

#[test]
fn fuzz_corpus_never_panics() {
    let Some((go, root)) = goroot() else {
        missing_prerequisite("Go 1.27 toolchain (for its FuzzReader corpus)");
        return;
    };
    let dir = root.join("src/internal/trace/testdata/fuzz/FuzzReader");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    assert!(!entries.is_empty());
    let tmp = std::env::temp_dir().join(format!("gorx-trace-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut differ = Vec::new();
    for p in &entries {
        let text = std::fs::read_to_string(p).unwrap();
        let bytes =
            parse_fuzz_file(&text).unwrap_or_else(|| panic!("bad fuzz file {}", p.display()));
        let res = std::panic::catch_unwind(|| read_all(&bytes));
        let (ours, err) = res.unwrap_or_else(|_| panic!("reader panicked on {}", p.display()));
        // Also compare with Go where Go itself accepts the input (v2 only).
        let f = tmp.join("fuzz.out");
        std::fs::write(&f, &bytes).unwrap();
        let go_out = Command::new(&go)
            .args(["tool", "trace", "-d=parsed"])
            .arg(&f)
            .output()
            .unwrap();
        let v1 = bytes.starts_with(b"go 1.11")
            || bytes.starts_with(b"go 1.19")
            || bytes.starts_with(b"go 1.21");
        if !v1 && (go_out.stdout != ours || go_out.status.success() != err.is_none()) {
            differ.push(format!(
                "{}: go exit {:?} ({} bytes out), ours {:?} ({} bytes out)",
                p.file_name().unwrap().to_string_lossy(),
                go_out.status.code(),
                go_out.stdout.len(),
                err,
                ours.len()
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(
        differ.is_empty(),
        "differs from go tool trace:\n{}",
        differ.join("\n")
    );
}
