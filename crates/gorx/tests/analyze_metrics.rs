//! `gorx analyze` on a capture directory holding a client_golang `/metrics` scrape and the
//! `/debug/vars` of the same process (testdata/samples/prometheus): both rebuild the same
//! MemStats, and each finding is reported once, naming both files.

use gorx_testsupport::repo_root;
use serde_json::Value;
use std::process::Command;

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
