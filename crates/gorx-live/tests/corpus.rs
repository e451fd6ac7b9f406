//! The committed patient corpus: every entry's `proc/` copy parses, and the process
//! findings its MANIFEST expects come out of the snapshot rebuilt from the files
//! (the same path `gorx analyze` takes on a capture bundle).

use gorx_analysis::Severity;
use gorx_analysis::process;
use gorx_live::bundle::read_snapshot_dir;
use gorx_testsupport::{corpus_entries, missing_prerequisite};

/// Findings that a process snapshot alone can give.
const PROCESS_IDS: &[&str] = process::SNAPSHOT_FINDING_IDS;

#[test]
fn corpus_proc_snapshots_give_the_expected_process_findings() {
    let entries: Vec<_> = corpus_entries()
        .into_iter()
        .filter(|(_, _, d)| d.join("proc/status").exists())
        .collect();
    if entries.is_empty() {
        return missing_prerequisite(
            "the patient corpus with proc/ snapshots (scripts/regen-corpus.sh)",
        );
    }
    let mut checked = 0;
    for (ver, patient, dir) in entries {
        let snap = read_snapshot_dir(&dir).unwrap_or_else(|e| panic!("{ver}/{patient}: {e}"));
        assert!(
            snap.status.is_some() && snap.smaps.is_some(),
            "{ver}/{patient}"
        );
        assert!(
            snap.fds.as_ref().is_some_and(|f| f.total >= 3),
            "{ver}/{patient}"
        );
        assert!(snap.nofile_soft.is_some(), "{ver}/{patient}");
        let found = process::analyze(&snap);
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("MANIFEST.json")).unwrap())
                .unwrap();
        let expected: Vec<&str> = manifest["expected_findings"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        for id in expected.iter().filter(|id| PROCESS_IDS.contains(id)) {
            assert!(
                found.iter().any(|f| f.id == *id),
                "{ver}/{patient}: expected {id}, got {:?}",
                found.iter().map(|f| f.id).collect::<Vec<_>>()
            );
            checked += 1;
        }
        if patient == "healthy" {
            let bad: Vec<_> = found
                .iter()
                .filter(|f| f.severity >= Severity::Warning)
                .map(|f| f.id)
                .collect();
            assert!(bad.is_empty(), "{ver}/healthy: {bad:?}");
        }
        // Off-heap: the reconciliation must attribute the mmap'd memory to "unaccounted".
        if patient == "offheap" {
            let gap = snap.unaccounted_bytes().unwrap();
            assert!(gap > 250 << 20, "{ver}/offheap: unaccounted {gap}");
        }
    }
    assert!(checked > 0, "no corpus entry expects a process finding");
}
