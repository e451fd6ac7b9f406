//! The committed patient corpus is complete and well formed. Needs no Go.
//!
//! Every patient program under testdata/patients has artifacts for at least five Go
//! versions; every MANIFEST.json parses, names only known finding ids, and lists files
//! that exist and are non-empty; binary and text artifacts start the way their format
//! says they must.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use gorx_testsupport::{artifacts_dir, corpus_entries, patients_dir};
use serde_json::Value;

const MIN_GO_VERSIONS: usize = 5;

/// Patient programs: directories under testdata/patients holding a main.go.
fn patient_names() -> Vec<String> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(patients_dir()).expect("testdata/patients is readable");
    for e in rd.flatten() {
        if e.path().join("main.go").is_file() {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

fn read_manifest(dir: &Path) -> Value {
    let path = dir.join("MANIFEST.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: cannot read: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: bad JSON: {e}", path.display()))
}

fn str_field<'a>(m: &'a Value, key: &str, dir: &Path) -> &'a str {
    m.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{}: MANIFEST.{key} missing or not a string", dir.display()))
}

#[test]
fn patients_exist() {
    let names = patient_names();
    for required in [
        "heap-leak",
        "goroutine-leak",
        "offheap",
        "finalizer-blocked",
        "memlimit-thrash",
        "forced-gc",
        "mutex-contention",
        "chan-block",
        "fd-leak",
        "sched-latency",
        "syscall-blocking",
        "healthy",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "patient {required} missing from testdata/patients (have {names:?})"
        );
    }
}

#[test]
fn every_patient_has_artifacts_for_enough_go_versions() {
    let mut versions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (version, patient, _) in corpus_entries() {
        versions.entry(patient).or_default().insert(version);
    }
    let mut missing = Vec::new();
    for p in patient_names() {
        let have = versions.get(&p).map(BTreeSet::len).unwrap_or(0);
        if have < MIN_GO_VERSIONS {
            missing.push(format!("{p}: {have} Go versions ({:?})", versions.get(&p)));
        }
    }
    assert!(
        missing.is_empty(),
        "patients with artifacts for fewer than {MIN_GO_VERSIONS} Go versions under {}:\n{}",
        artifacts_dir().display(),
        missing.join("\n")
    );
    // Every artifact directory belongs to a patient that still exists.
    let known: BTreeSet<String> = patient_names().into_iter().collect();
    for p in versions.keys() {
        assert!(known.contains(p), "artifacts for unknown patient {p}");
    }
}

#[test]
fn manifests_are_valid() {
    let entries = corpus_entries();
    assert!(
        !entries.is_empty(),
        "no corpus under {}",
        artifacts_dir().display()
    );
    for (version, patient, dir) in entries {
        let m = read_manifest(&dir);
        assert_eq!(
            m.get("schema").and_then(Value::as_u64),
            Some(1),
            "{}: schema",
            dir.display()
        );
        assert_eq!(
            str_field(&m, "patient", &dir),
            patient,
            "{}: patient",
            dir.display()
        );
        assert_eq!(
            str_field(&m, "go_minor", &dir),
            version,
            "{}: go_minor",
            dir.display()
        );
        let full = str_field(&m, "go_version", &dir);
        assert!(
            full == version || full.starts_with(&format!("{version}.")),
            "{}: go_version {full} is not Go {version}",
            dir.display()
        );
        assert!(!str_field(&m, "pathology", &dir).is_empty());
        assert!(!str_field(&m, "generated_at", &dir).is_empty());
        let command = m.get("command").and_then(Value::as_array);
        assert!(
            command.is_some_and(|c| !c.is_empty()),
            "{}: command missing",
            dir.display()
        );
        assert!(
            m.get("env").is_some_and(Value::is_object),
            "{}: env",
            dir.display()
        );

        let findings = m
            .get("expected_findings")
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("{}: expected_findings missing", dir.display()));
        for f in findings {
            let id = f.as_str().unwrap_or_default();
            assert!(
                gorx_analysis::FINDING_IDS.contains(&id),
                "{}: expected finding {f} is not in FINDING_IDS",
                dir.display()
            );
        }
        if patient == "healthy" {
            assert!(
                findings.is_empty(),
                "{}: the control expects findings",
                dir.display()
            );
        } else if !["sched-latency", "syscall-blocking"].contains(&patient.as_str()) {
            assert!(
                !findings.is_empty(),
                "{}: no expected findings",
                dir.display()
            );
        }

        let files = m
            .get("files")
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("{}: files missing", dir.display()));
        let listed: BTreeSet<&str> = files.iter().filter_map(Value::as_str).collect();
        for required in [
            "stderr.log",
            "cpu.pb.gz",
            "heap.pb.gz",
            "goroutine.pb.gz",
            "goroutine.debug2.txt",
            "heap.debug1.txt",
            "vars.json",
            "trace.out",
            "proc/status",
            "proc/fd.txt",
        ] {
            assert!(
                listed.contains(required),
                "{}: {required} not listed",
                dir.display()
            );
        }
        for name in listed {
            let path = dir.join(name);
            let meta = std::fs::metadata(&path)
                .unwrap_or_else(|e| panic!("{}: listed but unreadable: {e}", path.display()));
            assert!(meta.len() > 0, "{}: empty", path.display());
        }
    }
}

#[test]
fn artifacts_start_with_their_format_magic() {
    for (_, _, dir) in corpus_entries() {
        let m = read_manifest(&dir);
        let files = m["files"].as_array().cloned().unwrap_or_default();
        for name in files.iter().filter_map(Value::as_str) {
            let path = dir.join(name);
            let Ok(bytes) = std::fs::read(&path) else {
                continue; // manifests_are_valid reports it
            };
            if name.ends_with(".pb.gz") {
                assert!(
                    bytes.starts_with(&[0x1f, 0x8b]),
                    "{}: not gzip (starts {:02x?})",
                    path.display(),
                    &bytes[..bytes.len().min(4)]
                );
            } else if name == "goroutine.debug2.txt" {
                assert!(
                    bytes.starts_with(b"goroutine "),
                    "{}: not a goroutine dump",
                    path.display()
                );
            } else if name == "trace.out" {
                assert!(
                    bytes.starts_with(b"go 1."),
                    "{}: not an execution trace",
                    path.display()
                );
            } else if name == "heap.debug1.txt" {
                let text = String::from_utf8_lossy(&bytes);
                assert!(text.starts_with("heap profile: "), "{}", path.display());
                assert!(
                    text.contains("# runtime.MemStats"),
                    "{}: no MemStats trailer",
                    path.display()
                );
            } else if name == "vars.json" {
                let v: Value = serde_json::from_slice(&bytes)
                    .unwrap_or_else(|e| panic!("{}: bad JSON: {e}", path.display()));
                assert!(
                    v.get("memstats").is_some(),
                    "{}: no memstats",
                    path.display()
                );
            }
        }
    }
}
