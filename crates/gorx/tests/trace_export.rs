//! `gorx trace export` on every v2 corpus trace: the output is valid trace-event JSON,
//! slices lie inside the trace span, one running slice per transition into Running
//! (counted here independently with the reader), and the window/goroutine bounds
//! shrink the output and keep only what matches.

use gorx_testsupport::artifacts_dir;
use gorx_trace::event::{EventKind, GoState, Resource};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn v2_traces() -> Vec<PathBuf> {
    let mut v = Vec::new();
    // 1.19 writes v1 traces, which the reader converts to the same events.
    for ver in ["1.19", "1.22", "1.24", "1.26", "1.27"] {
        let Ok(rd) = std::fs::read_dir(artifacts_dir().join(ver)) else {
            continue;
        };
        for e in rd.flatten() {
            let f = e.path().join("trace.out");
            if f.is_file() {
                v.push(f);
            }
        }
    }
    v.sort();
    v
}

/// (transitions into Running, span in ns) as the reader reports them.
fn reader_counts(f: &Path) -> (u64, i64) {
    let file = std::fs::File::open(f).unwrap();
    let r = gorx_trace::Reader::new(f.display().to_string(), file).unwrap();
    let (mut n, mut first, mut last) = (0u64, None, 0i64);
    for ev in r {
        let ev = ev.unwrap();
        first.get_or_insert(ev.time());
        last = ev.time();
        if ev.kind() == EventKind::StateTransition
            && let Some(st) = ev.state_transition()
            && let Resource::Goroutine(_) = st.resource
        {
            let (old, new) = st.go_states();
            if new == GoState::Running && old != GoState::Running {
                n += 1;
            }
        }
    }
    (n, last - first.unwrap_or(last))
}

fn export(f: &Path, extra: &[&str]) -> Vec<Value> {
    let out = std::env::temp_dir().join(format!(
        "gorx-export-test-{}-{}.json",
        std::process::id(),
        f.display().to_string().replace('/', "_")
    ));
    let o = Command::new(env!("CARGO_BIN_EXE_gorx"))
        .args(["trace", "export"])
        .args(extra)
        .arg(f)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}: {}",
        f.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).expect("valid JSON");
    let _ = std::fs::remove_file(&out);
    v["traceEvents"].as_array().expect("traceEvents").clone()
}

fn slices<'a>(evs: &'a [Value], cat: &str) -> Vec<&'a Value> {
    evs.iter()
        .filter(|e| e["ph"] == "X" && e["cat"] == cat)
        .collect()
}

#[test]
fn every_v2_trace_exports_consistently() {
    let traces = v2_traces();
    if traces.is_empty() {
        gorx_testsupport::missing_prerequisite("corpus traces (testdata/artifacts/*/*/trace.out)");
        return;
    }
    for f in &traces {
        let evs = export(f, &[]);
        let (running, span_ns) = reader_counts(f);
        let span_us = span_ns as f64 / 1000.0;
        for e in evs.iter().filter(|e| e["ph"] == "X") {
            let ts = e["ts"].as_f64().unwrap();
            let dur = e["dur"].as_f64().unwrap();
            assert!(dur >= 0.0, "{}: {e}", f.display());
            assert!(
                ts >= 0.0 && ts + dur <= span_us + 0.001,
                "{}: {e} outside span {span_us}",
                f.display()
            );
        }
        assert_eq!(
            slices(&evs, "running").len() as u64,
            running,
            "{}: running slices vs reader's transitions into Running",
            f.display()
        );
        assert!(evs.iter().any(|e| e["ph"] == "M"), "{}", f.display());
        assert_nested(f, &evs);
    }
}

/// Slices on one track either nest or are disjoint: Perfetto drops slices that overlap
/// partially on a thread track.
fn assert_nested(f: &Path, evs: &[Value]) {
    let mut by_tid: std::collections::HashMap<i64, Vec<(i64, i64)>> = Default::default();
    for e in evs.iter().filter(|e| e["ph"] == "X") {
        let ts = (e["ts"].as_f64().unwrap() * 1000.0).round() as i64;
        let end = ts + (e["dur"].as_f64().unwrap() * 1000.0).round() as i64;
        by_tid
            .entry(e["tid"].as_i64().unwrap())
            .or_default()
            .push((ts, end));
    }
    for (tid, mut v) in by_tid {
        v.sort_by_key(|&(s, e)| (s, std::cmp::Reverse(e)));
        let mut open: Vec<i64> = Vec::new();
        for (s, e) in v {
            while open.last().is_some_and(|&end| end <= s) {
                open.pop();
            }
            if let Some(&end) = open.last() {
                assert!(
                    e <= end,
                    "{}: tid {tid}: slice [{s},{e}] crosses {end}",
                    f.display()
                );
            }
            open.push(e);
        }
    }
}

#[test]
fn window_and_goroutine_filters_shrink_output() {
    let Some(f) = v2_traces().into_iter().max_by_key(|f| reader_counts(f).0) else {
        gorx_testsupport::missing_prerequisite("corpus traces");
        return;
    };
    let all = export(&f, &[]);
    let (_, span_ns) = reader_counts(&f);
    let (s_ms, e_ms) = (span_ns as f64 / 4e6, span_ns as f64 / 2e6);
    let win = export(
        &f,
        &[
            "--start-ms",
            &s_ms.to_string(),
            "--end-ms",
            &e_ms.to_string(),
        ],
    );
    assert!(
        win.len() < all.len(),
        "window: {} vs {}",
        win.len(),
        all.len()
    );
    for e in win.iter().filter(|e| e["ph"] == "X" || e["ph"] == "i") {
        let ts = e["ts"].as_f64().unwrap();
        let end = ts + e["dur"].as_f64().unwrap_or(0.0);
        assert!(
            ts >= s_ms * 1000.0 - 0.001 && end <= e_ms * 1000.0 + 0.001,
            "{e}"
        );
    }
    // The goroutine with the most running slices.
    let mut count = std::collections::HashMap::new();
    for e in slices(&all, "running") {
        *count
            .entry(e["args"]["goid"].as_i64().unwrap())
            .or_insert(0) += 1;
    }
    let (&g, _) = count.iter().max_by_key(|(_, n)| **n).unwrap();
    let one = export(&f, &["--goroutine", &g.to_string()]);
    assert!(one.len() < all.len());
    assert_eq!(slices(&one, "running").len(), count[&g]);
    for e in &one {
        if let Some(id) = e["args"]["goid"].as_i64() {
            assert_eq!(id, g, "{e}");
        }
    }
}

#[test]
fn bad_input_exits_2_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("gorx-export-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("not-a-trace.out");
    std::fs::write(&bad, b"hello, this is not a trace").unwrap();
    let out = dir.join("out.json");
    let o = Command::new(env!("CARGO_BIN_EXE_gorx"))
        .args(["trace", "export"])
        .arg(&bad)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not-a-trace.out"));
    assert!(!out.exists(), "no partial output");
    let _ = std::fs::remove_dir_all(&dir);
}
