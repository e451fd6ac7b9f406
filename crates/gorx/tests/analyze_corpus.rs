//! `gorx analyze` over the committed corpus: every patient's planted pathology is found
//! from its own artifacts, for every Go version; the healthy patient yields nothing at
//! warning or above; bad input is a clear error with exit status 2.

use gorx_testsupport::corpus_entries;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

fn gorx(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gorx"))
        .args(args)
        .output()
        .expect("run gorx")
}

fn analyze_json(dir: &Path) -> Value {
    let out = gorx(&["analyze", "--json", dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "gorx analyze {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("analyze --json prints JSON")
}

fn expected_findings(dir: &Path) -> Vec<String> {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("MANIFEST.json")).unwrap()).unwrap();
    manifest["expected_findings"]
        .as_array()
        .expect("expected_findings")
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_patient_yields_its_planted_findings() {
    let entries = corpus_entries();
    assert!(
        entries.len() >= 12,
        "the corpus is missing: {} entries",
        entries.len()
    );
    let mut failures = Vec::new();
    for (version, patient, dir) in &entries {
        let report = analyze_json(dir);
        assert_eq!(report["schema"], 1);
        let found: BTreeSet<String> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect();
        for id in expected_findings(dir) {
            if !found.contains(&id) {
                failures.push(format!(
                    "{version}/{patient}: missing {id} (found {found:?})"
                ));
            }
        }
        if patient == "healthy" {
            for f in report["findings"].as_array().unwrap() {
                if f["severity"] != "info" {
                    failures.push(format!(
                        "{version}/healthy: unexpected {} {}: {}",
                        f["severity"], f["id"], f["title"]
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn fail_on_sets_the_exit_status() {
    let (_, _, dir) = corpus_entries()
        .into_iter()
        .find(|(v, p, _)| v == "1.26" && p == "offheap")
        .expect("1.26/offheap in the corpus");
    let dir = dir.to_str().unwrap();
    assert_eq!(
        gorx(&["analyze", "--fail-on", "critical", dir])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(gorx(&["analyze", dir]).status.code(), Some(0));
    let bad = gorx(&["analyze", "--fail-on", "sometimes", dir]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn demo_diagnoses_the_bundled_incident() {
    let out = gorx(&["demo", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"memory.rss-gap"), "{ids:?}");
    assert!(report["inputs"].as_array().unwrap().len() >= 10);
}

#[test]
fn bad_input_is_an_error_naming_the_file_and_where() {
    let dir = std::env::temp_dir().join(format!("gorx-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let heap =
        std::fs::read(gorx_testsupport::artifacts_dir().join("1.26/heap-leak/heap.pb.gz")).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        (
            "random",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
        ),
        ("truncated.pb.gz", heap[..heap.len() / 2].to_vec()),
        (
            "bad-utf8-dump.txt",
            b"goroutine 1 [running]:\nmain.main()\n\t/x.go:1 \xff\xfe\n".to_vec(),
        ),
    ];
    for (name, bytes) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = gorx(&["analyze", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(name),
            "{name}: error does not name the file: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_capture_bundle_brings_its_cgroup_chain() {
    use gorx_formats::cgroup::{CgroupChain, MemoryLevel};
    // A bundle as `gorx watch` writes it: /proc copies plus the cgroup chain as JSON.
    let src = gorx_testsupport::artifacts_dir().join("1.26/offheap/proc");
    let dir = std::env::temp_dir().join(format!("gorx-bundle-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("proc")).unwrap();
    for f in ["status", "limits", "smaps_rollup", "fd.txt"] {
        std::fs::copy(src.join(f), dir.join("proc").join(f)).unwrap();
    }
    let chain = CgroupChain {
        memory: vec![MemoryLevel {
            path: "/pod".into(),
            max_bytes: Some(360 << 20),
            current_bytes: Some(350 << 20),
            oom_kill: Some(2),
            ..Default::default()
        }],
        ..Default::default()
    };
    std::fs::write(dir.join("cgroup.json"), serde_json::to_vec(&chain).unwrap()).unwrap();
    let report = analyze_json(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    let ids: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"cgroup.memory-near-limit"), "{ids:?}");
}
