//! `gorx analyze` on a capture directory holding a client_golang `/metrics` scrape and the
//! `/debug/vars` of the same process (testdata/samples/prometheus): both rebuild the same
//! MemStats, and each finding is reported once, naming both files.

use gorx_testsupport::repo_root;
use serde_json::Value;
use std::process::Command;

/// `gorx analyze --json DIR` (which must succeed), then DIR removed.
fn analyze_json(dir: &std::path::Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_gorx"))
        .args(["analyze", "--json"])
        .arg(dir)
        .output()
        .unwrap();
    std::fs::remove_dir_all(dir).ok();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_bundle_with_vars_and_metrics_reports_each_finding_once() {
    let samples = repo_root().join("testdata/samples/prometheus");
    let dir = std::env::temp_dir().join(format!("gorx-analyze-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(samples.join("unreturned.prom"), dir.join("metrics.txt")).unwrap();
    std::fs::copy(samples.join("unreturned.vars.json"), dir.join("vars.json")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gorx"))
        .args(["analyze", "--json", "--fail-on", "critical"])
        .arg(&dir)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    // memory.unreturned is critical: exit 1.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = v["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(kinds.contains(&"prometheus") && kinds.contains(&"expvar"));
    let findings = v["findings"].as_array().unwrap();
    let mut ids: Vec<&str> = findings.iter().map(|f| f["id"].as_str().unwrap()).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "a finding reported twice: {ids:?}");
    let u = findings
        .iter()
        .find(|f| f["id"] == "memory.unreturned")
        .expect("memory.unreturned");
    assert_eq!(u["severity"], "critical");
    let sources: Vec<&str> = u["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(sources.len(), 2, "{sources:?}");
    assert!(sources.iter().any(|s| s.ends_with("metrics.txt")));
    assert!(sources.iter().any(|s| s.ends_with("vars.json")));
}

/// A bundle `gorx watch` took on a trigger says why it exists: `analyze BUNDLE` reports
/// the trigger findings (from findings.json, named by series.json) with the artifacts'.
#[test]
fn a_triggered_bundle_reports_its_trigger() {
    let healthy = repo_root().join("testdata/artifacts/1.26/healthy");
    let dir = std::env::temp_dir().join(format!("gorx-analyze-trigger-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("proc")).unwrap();
    for f in [
        "proc/status",
        "proc/limits",
        "proc/smaps_rollup",
        "proc/fd.txt",
    ] {
        std::fs::copy(healthy.join(f), dir.join(f)).unwrap();
    }
    std::fs::write(
        dir.join("snapshot.json"),
        r#"{"pid": 4242, "command": "caddy"}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("series.json"),
        r#"{"interval_ms": 1000, "samples": [], "trigger": ["fd.leak"]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("findings.json"),
        r#"{"schema": 1, "inputs": [], "findings": [
            {"id": "fd.leak", "severity": "warning", "title": "Open fds rose 12 → 245 in 15 s",
             "evidence": {"fds_first": 12, "fds_last": 245}, "recommendation": "Find the opener.",
             "sources": ["/proc/4242/fd"], "sites": []},
            {"id": "memory.unreturned", "severity": "info", "title": "not a trigger",
             "evidence": {}, "recommendation": "", "sources": [], "sites": []}]}"#,
    )
    .unwrap();
    let v = analyze_json(&dir);
    let findings = v["findings"].as_array().unwrap();
    let leak = findings
        .iter()
        .find(|f| f["id"] == "fd.leak")
        .unwrap_or_else(|| panic!("no trigger finding in {findings:#?}"));
    assert_eq!(leak["evidence"]["fds_last"], 245);
    assert_eq!(leak["evidence"]["captured_by"], "gorx watch trigger");
    assert!(
        leak["sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.as_str().unwrap().ends_with("series.json"))
    );
    // Only the trigger's ids come back from findings.json.
    assert!(!findings.iter().any(|f| f["title"] == "not a trigger"));
}

/// A damaged line in an auxiliary /proc copy (an fd that closed mid-listing, a status
/// line cut short) is skipped and named in the notes; the capture is still analysed.
#[test]
fn damaged_proc_lines_are_skipped_with_a_note() {
    let healthy = repo_root().join("testdata/artifacts/1.26/healthy");
    let dir = std::env::temp_dir().join(format!("gorx-analyze-damaged-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("proc")).unwrap();
    for f in ["proc/limits", "proc/smaps_rollup"] {
        std::fs::copy(healthy.join(f), dir.join(f)).unwrap();
    }
    let mut fd = std::fs::read_to_string(healthy.join("proc/fd.txt")).unwrap();
    fd.push_str("18 -> \n");
    std::fs::write(dir.join("proc/fd.txt"), fd).unwrap();
    let status = std::fs::read_to_string(healthy.join("proc/status"))
        .unwrap()
        .replace("VmRSS:", "VmRSS:\t12x")
        .replace("Threads:", "Threads:\tmany");
    std::fs::write(dir.join("proc/status"), status).unwrap();
    let v = analyze_json(&dir);
    let notes: Vec<&str> = v["notes"]
        .as_array()
        .unwrap_or_else(|| panic!("no notes in {v:#}"))
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("fd.txt") && n.contains("fd 18")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("status") && n.contains("VmRSS")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("status") && n.contains("Threads")),
        "{notes:?}"
    );
}
