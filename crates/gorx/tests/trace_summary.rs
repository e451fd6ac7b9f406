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
            // Blocked sends are backpressure; lock waits are mutex contention.
            "chan-block" => assert!(
                ids.contains(&"contention.block".into()),
                "{ver}/{patient}: {ids:?}"
            ),
            "mutex-contention" => assert!(
                ids.contains(&"contention.mutex".into()),
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
                    || i == "contention.mutex"
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

/// A regular file is read by two readers on two threads (the MMU and blocked goroutines
/// on the second); anything else once. Both give the same report, text and JSON, and the
/// goroutine-leak patient's blocked groups come out of the second reader.
#[test]
fn two_readers_report_what_one_reader_does() {
    let dir = tempfile_dir();
    let mut checked = 0;
    for (ver, patient, d) in corpus_entries() {
        let f = d.join("trace.out");
        if !f.is_file() || !matches!(patient.as_str(), "goroutine-leak" | "sched-latency") {
            continue;
        }
        for json in [false, true] {
            let args: &[&str] = if json {
                &["trace", "summary", "--json"]
            } else {
                &["trace", "summary"]
            };
            let from_file = Command::new(env!("CARGO_BIN_EXE_gorx"))
                .args(args)
                .arg(&f)
                .output()
                .expect("run gorx");
            // A FIFO is not a regular file: the one-reader path.
            let fifo = dir.join(format!("{ver}-{patient}.fifo"));
            let _ = std::fs::remove_file(&fifo);
            let ok = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
            assert!(ok.success());
            let writer = {
                let (f, fifo) = (f.clone(), fifo.clone());
                std::thread::spawn(move || std::fs::write(&fifo, std::fs::read(&f).unwrap()))
            };
            let from_fifo = Command::new(env!("CARGO_BIN_EXE_gorx"))
                .args(args)
                .arg(&fifo)
                .output()
                .expect("run gorx");
            writer.join().unwrap().unwrap();
            assert!(from_file.status.success() && from_fifo.status.success());
            // The report names its input; the rest must match.
            let name_file = f.display().to_string();
            let name_fifo = fifo.display().to_string();
            let a = String::from_utf8(from_file.stdout).unwrap();
            let b = String::from_utf8(from_fifo.stdout).unwrap();
            assert_eq!(
                a.replace(&name_file, "TRACE"),
                b.replace(&name_fifo, "TRACE"),
                "{ver}/{patient} json={json}"
            );
            if json && patient == "goroutine-leak" {
                let v: serde_json::Value = serde_json::from_str(&a).unwrap();
                assert!(
                    v["summary"]["blocked"]["blocked_goroutines"]
                        .as_u64()
                        .unwrap()
                        > 0
                );
            }
        }
        checked += 1;
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(checked >= 2, "{checked}");
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("gorx-trace-summary-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// On one core (`taskset -c 0`) a trace is read once, by one reader doing everything:
/// `trace summary` and `analyze` report what the two-reader split does on two cores, the
/// goroutine-leak patient's finding included (its blocked groups come from the side
/// trackers).
#[test]
fn one_core_reports_what_two_do() {
    let ok = Command::new("taskset")
        .args(["-c", "0", "nproc"])
        .output()
        .ok()
        .filter(|o| o.status.success() && o.stdout == b"1\n");
    if ok.is_none() {
        return gorx_testsupport::missing_prerequisite("taskset pinning to one CPU");
    }
    let two_cores = std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2);
    if !two_cores {
        return gorx_testsupport::missing_prerequisite("a second CPU for the two-reader split");
    }
    let mut checked = 0;
    for (ver, patient, d) in corpus_entries() {
        let f = d.join("trace.out");
        if !f.is_file() || !matches!(patient.as_str(), "goroutine-leak" | "sched-latency") {
            continue;
        }
        for args in [
            &["trace", "summary", "--json"][..],
            &["trace", "summary"],
            &["analyze", "--json"],
        ] {
            let run = |pinned: bool| {
                let mut c = if pinned {
                    let mut c = Command::new("taskset");
                    c.args(["-c", "0"]).arg(env!("CARGO_BIN_EXE_gorx"));
                    c
                } else {
                    Command::new(env!("CARGO_BIN_EXE_gorx"))
                };
                let out = c.args(args).arg(&f).output().expect("run gorx");
                assert!(out.status.success(), "{ver}/{patient} {args:?}");
                String::from_utf8(out.stdout).unwrap()
            };
            let (two, one) = (run(false), run(true));
            assert_eq!(two, one, "{ver}/{patient} {args:?}");
            if args[0] == "analyze" && patient == "goroutine-leak" {
                assert!(one.contains("\"goroutine.leak\""), "{ver}: {one}");
            }
        }
        checked += 1;
    }
    assert!(checked >= 2, "{checked}");
}
