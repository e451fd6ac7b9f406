//! `gorx trace summary` on the corpus: the planted pathologies are found and the healthy
//! patient gets no scheduler, syscall or contention finding (numbers come from the real
//! traces; gc.long-pause is not asserted: STW length depends on the machine's load).

use gorx_testsupport::corpus_entries;
use std::process::Command;

fn findings(file: &std::path::Path) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_gorx"))
        .args(["trace", "summary", "--json"])
        .arg(file)
        .output()
        .expect("run gorx");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["schema"], 1);
    assert!(v["summary"]["events"].as_u64().unwrap() > 0);
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn planted_trace_pathologies_are_found() {
    let mut checked = 0;
    for (ver, patient, dir) in corpus_entries() {
        let f = dir.join("trace.out");
        // Every trace: v2 (Go ≥ 1.22) and v1 (Go ≤ 1.21, converted by the reader).
        if !f.is_file() {
            continue;
        }
        let ids = findings(&f);
        match patient.as_str() {
            "sched-latency" => assert!(
                ids.contains(&"sched.latency".into()),
                "{ver}/{patient}: {ids:?}"
            ),
            "syscall-blocking" => {
                assert!(
                    ids.contains(&"syscall.blocking".into()),
                    "{ver}/{patient}: {ids:?}"
                )
            }
            "chan-block" | "mutex-contention" => assert!(
                ids.contains(&"contention.block".into()),
                "{ver}/{patient}: {ids:?}"
            ),
            "goroutine-leak" => assert!(
                ids.contains(&"goroutine.leak".into()),
                "{ver}/{patient}: {ids:?}"
            ),
            "healthy" => assert!(
                !ids.iter().any(|i| i == "sched.latency"
                    || i == "syscall.blocking"
                    || i == "contention.block"
                    || i == "goroutine.leak"
                    || i == "gc.assist-heavy"),
                "{ver}/{patient}: {ids:?}"
            ),
            _ => {}
        }
        checked += 1;
    }
    eprintln!("{checked} corpus traces summarized");
}
