//! `gorx score`: the GC health score of the corpus's logs, and `--min` as a gate.

use gorx_testsupport::repo_root;
use serde_json::Value;
use std::process::Command;

fn score(args: &[&str]) -> (Option<i32>, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_gorx"))
        .current_dir(repo_root())
        .arg("score")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), v)
}

#[test]
fn a_thrashing_gc_scores_below_a_healthy_one_and_fails_the_gate() {
    for go in ["1.22", "1.26"] {
        let healthy = format!("testdata/artifacts/{go}/healthy/stderr.log");
        let thrash = format!("testdata/artifacts/{go}/memlimit-thrash/stderr.log");
        let (code, h) = score(&[&healthy, "--min", "60"]);
        assert_eq!(code, Some(0), "{go}: {h:#}");
        let (code, t) = score(&[&thrash, "--min", "60"]);
        assert_eq!(code, Some(1), "{go}: {t:#}");
        let (hs, ts) = (&h["scores"][0], &t["scores"][0]);
        assert!(
            hs["score"].as_u64() > ts["score"].as_u64(),
            "{go}: {hs:#} vs {ts:#}"
        );
        // The thrashing run loses on GC CPU and cycle rate; the output shows each part.
        let points = |s: &Value, name: &str| {
            s["components"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == name)
                .and_then(|c| c["points"].as_f64())
                .unwrap_or_else(|| panic!("{go}: no {name} in {s:#}"))
        };
        assert!(
            points(ts, "gc_cpu") < 50.0 && points(ts, "frequency") < 50.0,
            "{go}: {ts:#}"
        );
        assert!(points(hs, "gc_cpu") > 90.0, "{go}: {hs:#}");
    }
}

#[test]
fn a_memory_limit_adds_headroom_and_nothing_to_score_is_an_error() {
    let log = "testdata/artifacts/1.26/heap-leak/stderr.log";
    let (_, v) = score(&[log, "--memory-limit", "32MiB"]);
    let headroom = v["scores"][0]["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "headroom")
        .cloned()
        .expect("headroom with --memory-limit");
    assert!(headroom["value"].as_f64().unwrap() > 90.0, "{headroom:#}");
    let out = Command::new(env!("CARGO_BIN_EXE_gorx"))
        .current_dir(repo_root())
        .args(["score", "testdata/artifacts/1.26/heap-leak/heap.pb.gz"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to score"));
}
