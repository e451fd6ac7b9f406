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

/// A live process is scored from the runtime data it serves, by pid or by URL.
#[test]
fn a_live_process_is_scored_by_pid_and_url() {
    use std::io::BufRead;
    let Some(go) =
        gorx_testsupport::go_toolchain("1.26").or_else(|| gorx_testsupport::go_toolchain(""))
    else {
        return gorx_testsupport::missing_prerequisite(
            "a Go toolchain to build the healthy patient",
        );
    };
    let dir = std::env::temp_dir().join(format!("gorx-score-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("healthy");
    let st = Command::new(go)
        .args(["build", "-o"])
        .arg(&bin)
        .arg("./healthy")
        .current_dir(gorx_testsupport::patients_dir())
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .status()
        .unwrap();
    assert!(st.success());
    let mut child = Command::new(&bin)
        .arg("-duration=40s")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().to_string();
    // A few GC cycles under the patient's own load.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let pid = child.id().to_string();
    let url = format!("http://{addr}/debug/pprof/");
    let results: Vec<(Option<i32>, Value)> = [pid.as_str(), url.as_str()]
        .iter()
        .map(|t| score(&[t, "--min", "50"]))
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    std::fs::remove_dir_all(&dir).ok();
    for (code, v) in results {
        assert_eq!(code, Some(0), "{v:#}");
        let s = &v["scores"][0];
        assert!(s["score"].as_u64().unwrap() >= 50, "{s:#}");
        let names: Vec<&str> = s["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"gc_cpu") && names.contains(&"pause_p99"),
            "{s:#}"
        );
    }
}

/// The canary gate, live: a service scores well over its baseline window, then its GC
/// pressure is switched on (memory limit at the live heap, garbage as fast as it can):
/// `--watch` trips after consecutive scores below the derived floor and exits 1.
/// The same service without the switch passes its window and exits 0.
#[test]
fn the_canary_gate_trips_when_gc_pressure_is_switched_on() {
    use std::io::BufRead;
    let Some(go) =
        gorx_testsupport::go_toolchain("1.26").or_else(|| gorx_testsupport::go_toolchain(""))
    else {
        return gorx_testsupport::missing_prerequisite(
            "a Go toolchain to build the score_pressure program",
        );
    };
    let dir = std::env::temp_dir().join(format!("gorx-score-gate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.go"), include_str!("score_pressure/main.go")).unwrap();
    std::fs::write(dir.join("go.mod"), "module scorepressure\n\ngo 1.21\n").unwrap();
    let bin = dir.join("score_pressure");
    let st = Command::new(go)
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(&dir)
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .status()
        .unwrap();
    assert!(st.success());
    // (pressure after, gate window after the baseline)
    let runs = [("12s", "40s"), ("1h", "6s")];
    let handles: Vec<_> = runs
        .iter()
        .map(|&(after, window)| {
            let bin = bin.clone();
            std::thread::spawn(move || {
                let mut child = Command::new(&bin)
                    .arg(format!("-pressure-after={after}"))
                    .arg("-duration=60s")
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                let mut line = String::new();
                std::io::BufReader::new(child.stdout.take().unwrap())
                    .read_line(&mut line)
                    .unwrap();
                assert!(line.starts_with("listening on"), "{line}");
                // Past the start-up cycles.
                std::thread::sleep(std::time::Duration::from_secs(2));
                let started = std::time::Instant::now();
                // Each score spans 5 s of readings taken every second, so one long pause
                // (a scheduling hiccup of a loaded CI machine) is in 5 consecutive
                // scores: 6 failures in a row need more than one. The steady run gates
                // on a low absolute floor for the same reason.
                let floor: &[&str] = if after == "1h" {
                    &["--min", "40"]
                } else {
                    &["--baseline", "5s", "--failures", "6"]
                };
                let out = Command::new(env!("CARGO_BIN_EXE_gorx"))
                    .args(["score", &child.id().to_string()])
                    .args(["--watch", "1s", "--window", "5s"])
                    .args(floor)
                    .args(["--for", window, "--json"])
                    .output()
                    .unwrap();
                let took = started.elapsed();
                let _ = child.kill();
                let _ = child.wait();
                let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
                    .collect();
                (
                    out.status.code(),
                    events,
                    took,
                    String::from_utf8_lossy(&out.stderr).to_string(),
                )
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    std::fs::remove_dir_all(&dir).ok();
    for ((after, _), (code, events, took, stderr)) in runs.iter().zip(&results) {
        let of =
            |kind: &str| -> Vec<&Value> { events.iter().filter(|e| e["event"] == kind).collect() };
        let verdict = of("verdict");
        let samples = of("sample");
        assert!(
            samples
                .iter()
                .all(|s| s["components"].as_array().is_some_and(|c| !c.is_empty()))
        );
        if *after == "1h" {
            assert_eq!(*code, Some(0), "{events:#?} {stderr}");
            assert_eq!(verdict[0]["result"], "pass");
        } else {
            let baseline = of("baseline");
            assert_eq!(baseline.len(), 1, "{after}: {events:#?} {stderr}");
            let b = &baseline[0]["baseline"];
            // The floor is the rule's: max(60, ⌊median − noise⌋).
            let (median, noise, floor) = (
                b["median"].as_f64().unwrap(),
                b["noise"].as_f64().unwrap(),
                b["floor"].as_u64().unwrap(),
            );
            assert!(noise >= 10.0, "{b:#}");
            assert_eq!(floor, 60.max((median - noise).floor() as u64), "{b:#}");
            assert_eq!(*code, Some(1), "{events:#?} {stderr}");
            assert_eq!(verdict[0]["result"], "tripped", "{verdict:#?}");
            assert_eq!(verdict[0]["consecutive"], 6);
            // It tripped on the pressure (switched on ~10 s into the watch), not before.
            let last = samples.last().unwrap();
            assert!(last["t_s"].as_f64().unwrap() >= 10.0, "{events:#?}");
            // ...and on what the pressure does: GC back to back.
            let freq = last["components"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == "frequency")
                .and_then(|c| c["points"].as_f64());
            assert!(freq.is_some_and(|p| p < 50.0), "{last:#}");
            assert!(took.as_secs() < 40, "{took:?}");
        }
    }
}
