//! The lab on a real Go service (tests/target): the planted GOGC trade-off, the memory
//! cap reported as OOM, and bad runs (a command that does not exist, one that never
//! answers, one that crashes under load) each reported in its cell.

use gorx_testsupport::{go_toolchain, missing_prerequisite};
use gorx_tune::cell::{self, CellSpec, Protocol};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn target() -> Option<PathBuf> {
    let Some(go) = go_toolchain("1.26").or_else(|| go_toolchain("")) else {
        missing_prerequisite("a Go toolchain to build the tune target");
        return None;
    };
    let dir = std::env::temp_dir().join(format!("gorx-tune-target-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("tune-target");
    let st = Command::new(go)
        .args(["build", "-o"])
        .arg(&out)
        .arg(".")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/target"))
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .status()
        .unwrap();
    assert!(st.success(), "go build of the tune target");
    Some(out)
}

fn protocol(bin: &std::path::Path, args: &[&str]) -> Protocol {
    let mut command = vec![bin.display().to_string()];
    command.extend(args.iter().map(|s| s.to_string()));
    Protocol {
        command,
        url: "http://127.0.0.1:{port}/".into(),
        rate: 300.0,
        connections: 4,
        warmup: Duration::from_millis(1000),
        duration: Duration::from_secs(4),
        ready_timeout: Duration::from_secs(20),
        mem_max_bytes: None,
        work_dir: std::env::temp_dir().join(format!("gorx-tune-lab-{}", std::process::id())),
    }
}

fn gogc(v: &str) -> CellSpec {
    CellSpec {
        env: BTreeMap::from([("GOGC".to_string(), v.to_string())]),
        cpu_quota: None,
    }
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn higher_gogc_trades_memory_for_fewer_cycles() {
    let Some(bin) = target() else { return };
    let p = protocol(&bin, &["-live-mib", "64", "-garbage-kib", "256"]);
    let low = cell::run(&p, &gogc("50"), 1);
    let high = cell::run(&p, &gogc("400"), 2);
    for r in [&low, &high] {
        assert!(r.failure.is_none(), "{r:?}");
        assert!(r.rps > 250.0, "{r:?}");
    }
    // ~75 MiB/s of garbage over a 64 MiB live heap: GOGC=50 collects every ~32 MiB,
    // GOGC=400 every ~256 MiB.
    assert!(low.gc_cycles >= 4, "{low:?}");
    assert!(high.gc_cycles < low.gc_cycles, "{low:?}\n{high:?}");
    assert!(
        high.gc_cpu_percent <= low.gc_cpu_percent,
        "{low:?}\n{high:?}"
    );
    assert!(
        high.peak_rss_bytes > low.peak_rss_bytes + (32 << 20),
        "{low:?}\n{high:?}"
    );
}

#[test]
fn a_cell_over_the_memory_cap_is_an_oom_never_a_result() {
    let Some(bin) = target() else { return };
    if !is_root() {
        return missing_prerequisite("root, to create cgroups for gorx tune");
    }
    let mut p = protocol(&bin, &["-live-mib", "32", "-garbage-kib", "256"]);
    p.mem_max_bytes = Some(96 << 20);
    // 32 MiB live under GOGC=800 wants ~288 MiB of heap: over the 96 MiB cap.
    let r = cell::run(&p, &gogc("800"), 3);
    assert!(r.oom, "{r:?}");
    assert!(
        r.failure.as_deref().is_some_and(|f| f.contains("OOM")),
        "{r:?}"
    );
    // The same service with room to spare runs clean under the same cap.
    let ok = cell::run(&p, &gogc("25"), 4);
    assert!(ok.failure.is_none() && !ok.oom, "{ok:?}");
    assert!(ok.peak_rss_bytes <= 96 << 20, "{ok:?}");
}

#[test]
fn bad_runs_are_reported_in_their_cell() {
    let Some(bin) = target() else { return };
    let mut p = protocol(&bin, &[]);
    p.duration = Duration::from_secs(2);
    p.warmup = Duration::from_millis(200);
    // A command that does not exist.
    let mut missing = p.clone();
    missing.command = vec!["/nonexistent/gorx-service".into()];
    let r = cell::run(&missing, &CellSpec::default(), 5);
    assert!(
        r.failure
            .as_deref()
            .is_some_and(|f| f.contains("cannot start")),
        "{r:?}"
    );
    // A service that never answers its URL.
    let mut silent = p.clone();
    silent.command = vec!["sleep".into(), "30".into()];
    silent.ready_timeout = Duration::from_secs(1);
    let r = cell::run(&silent, &CellSpec::default(), 6);
    assert!(
        r.failure
            .as_deref()
            .is_some_and(|f| f.contains("never answered")),
        "{r:?}"
    );
    // A crash under load.
    let crashing = protocol(&bin, &["-live-mib", "4", "-crash-after", "100"]);
    let r = cell::run(&crashing, &CellSpec::default(), 7);
    let f = r.failure.clone().unwrap_or_default();
    assert!(
        f.contains("during the load") && f.contains("crashing as asked"),
        "{r:?}"
    );
}

/// Pids whose command line is exactly `sleep ARG`.
fn sleepers(arg: &str) -> Vec<u32> {
    let want = format!("sleep\0{arg}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want.as_bytes())
        })
        .collect()
}

#[test]
fn a_cells_background_children_do_not_outlive_it() {
    let Some(bin) = target() else { return };
    if !is_root() {
        return missing_prerequisite("root, to create the cell's cgroup");
    }
    // Unique arguments, so the check sees only this test's sleepers: one in the
    // service's process group, one in a session of its own (setsid).
    let tag = 700_000 + std::process::id() % 99_999;
    let (a, b) = (tag.to_string(), (tag + 100_000).to_string());
    let mut p = protocol(&bin, &[]);
    p.command = vec![
        "sh".into(),
        "-c".into(),
        format!(
            "sleep {a} & setsid sleep {b} & exec {} -live-mib 4",
            bin.display()
        ),
    ];
    p.duration = Duration::from_secs(2);
    p.warmup = Duration::from_millis(200);
    let r = cell::run(&p, &CellSpec::default(), 8);
    assert!(r.failure.is_none(), "{r:?}");
    let left: Vec<u32> = sleepers(&a).into_iter().chain(sleepers(&b)).collect();
    for pid in &left {
        // Clean up before failing (only the sleepers this test started).
        unsafe {
            libc::kill(*pid as i32, libc::SIGKILL);
        }
    }
    assert!(left.is_empty(), "processes left after the cell: {left:?}");
}
