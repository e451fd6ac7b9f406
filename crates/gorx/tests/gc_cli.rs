//! `gorx gc` on a log merged from two pods: one labelled summary and findings per
//! process; a single-process log keeps the plain layout.

use std::process::Command;

fn gorx(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_gorx"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn merged_pods_are_reported_per_process() {
    let dir = gorx_testsupport::artifacts_dir().join("1.26");
    let (Ok(a), Ok(b)) = (
        std::fs::read_to_string(dir.join("heap-leak/stderr.log")),
        std::fs::read_to_string(dir.join("forced-gc/stderr.log")),
    ) else {
        gorx_testsupport::missing_prerequisite("1.26 corpus stderr.log files");
        return;
    };
    let (la, lb): (Vec<_>, Vec<_>) = (a.lines().collect(), b.lines().collect());
    let mut merged = String::new();
    for i in 0..la.len().max(lb.len()) {
        if let Some(l) = la.get(i) {
            merged += &format!(
                "2026-11-23T10:00:{:02}Z [pod/api-7f9c4d-x2k/app] {l}\n",
                i % 60
            );
        }
        if let Some(l) = lb.get(i) {
            merged += &format!(
                "2026-11-23T10:00:{:02}Z [pod/worker-5d8b-q8z/app] {l}\n",
                i % 60
            );
        }
    }
    let tmp = std::env::temp_dir().join(format!("gorx-gc-cli-{}.log", std::process::id()));
    std::fs::write(&tmp, merged).unwrap();
    let out = gorx(&["gc", "--max-rows", "4", tmp.to_str().unwrap()]);
    let json = gorx(&["gc", "--json", tmp.to_str().unwrap()]);
    let _ = std::fs::remove_file(&tmp);
    assert!(out.contains("[pod/api-7f9c4d-x2k/app]):"), "{out}");
    assert!(out.contains("[pod/worker-5d8b-q8z/app]):"), "{out}");
    let heap_leak_run = out
        .lines()
        .find(|l| l.starts_with("Run ") && l.contains("api-7f9c4d-x2k"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .to_string();
    let findings_line = out
        .lines()
        .find(|l| l.starts_with(&format!("Run {heap_leak_run} findings:")))
        .unwrap();
    assert!(findings_line.contains("gc.heap-growth"), "{out}");
    assert!(!findings_line.contains("gc.forced"), "{out}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for r in runs {
        let ids: Vec<&str> = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap())
            .collect();
        match r["source"].as_str().unwrap() {
            "[pod/api-7f9c4d-x2k/app]" => assert!(ids.contains(&"gc.heap-growth"), "{ids:?}"),
            "[pod/worker-5d8b-q8z/app]" => assert!(ids.contains(&"gc.forced"), "{ids:?}"),
            s => panic!("source {s}"),
        }
    }

    let single = gorx(&["gc", dir.join("heap-leak/stderr.log").to_str().unwrap()]);
    assert!(!single.contains("Run "), "{single}");
}

/// A log of an idle process with no GC cycle yet is "no GC cycle in this window" (exit 0),
/// with or without other runtime output; data that is not a log stays an error (exit 2).
/// The old code exited 2 on every log without a cycle.
#[test]
fn a_log_without_cycles_is_no_gc_yet_and_binary_is_an_error() {
    let dir = std::env::temp_dir().join(format!("gorx-gc-nocycles-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |name: &str, data: &[u8], json: bool| {
        let p = dir.join(name);
        std::fs::write(&p, data).unwrap();
        let mut args = vec!["gc"];
        if json {
            args.push("--json");
        }
        args.push(p.to_str().unwrap());
        Command::new(env!("CARGO_BIN_EXE_gorx"))
            .args(&args)
            .output()
            .unwrap()
    };
    for (name, data) in [
        (
            "scav.log",
            &b"scav 0 KiB work (bg), 0 KiB work (eager), 3368 KiB now, 84% util\n"[..],
        ),
        (
            "app.log",
            b"ts=2026-12-06T20:00:00Z level=info msg=\"Server is ready\"\n",
        ),
        ("empty.log", b""),
    ] {
        let out = run(name, data, false);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{name}: {out:?}");
        assert!(
            stdout.contains("no GC cycle in this window"),
            "{name}: {stdout}"
        );
        let out = run(name, data, true);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["runs"].as_array().unwrap().len(), 0);
        assert!(v["note"].as_str().unwrap().starts_with("no GC cycle"));
    }
    for (name, data) in [
        (
            "bin.log",
            &b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"[..],
        ),
        ("torn.log", b"gc 3 @0.1s 1%: torn\n"),
    ] {
        let out = run(name, data, false);
        assert_eq!(out.status.code(), Some(2), "{name}: {out:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Six cycles: the summary gives the maximum of 6, not a "P99" (the old line said P99).
#[test]
fn few_cycles_summary_is_a_max_of_n() {
    let mut log = String::new();
    for i in 1..=6 {
        log += &format!(
            "gc {i} @{i}.000s 0%: 0.010+1.0+{}.0 ms clock, 0.02+0/0.5/1.0+0.01 ms cpu, 4->4->2 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 2 P\n",
            i
        );
    }
    let tmp = std::env::temp_dir().join(format!("gorx-gc-few-{}.log", std::process::id()));
    std::fs::write(&tmp, log).unwrap();
    let out = gorx(&["gc", tmp.to_str().unwrap()]);
    let _ = std::fs::remove_file(&tmp);
    assert!(out.contains("pause max 6.0 ms of 6"), "{out}");
    assert!(!out.contains("P99"), "{out}");
}
