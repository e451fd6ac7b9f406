//! gc.assist-heavy from traces. No corpus patient is assist-heavy (memlimit-thrash's
//! assists are 7–16% of mark work), so a small Go program that is
//! (trace_findings/assist) is traced with Go 1.22 and Go 1.27 and must get the finding,
//! with its allocation site; the healthy patient is checked in trace_summary.rs.

use gorx_testsupport::{go_toolchain, missing_prerequisite};
use serde_json::Value;
use std::process::Command;

const PROGRAM: &str = include_str!("trace_findings/assist/main.go");
const PROGRAM_MOD: &str = include_str!("trace_findings/assist/go.mod");

#[test]
fn an_assist_heavy_program_gets_gc_assist_heavy_with_its_site() {
    let tmp = std::env::temp_dir().join(format!("gorx-trace-assist-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("main.go"), PROGRAM).unwrap();
    std::fs::write(tmp.join("go.mod"), PROGRAM_MOD).unwrap();
    let mut ran = 0;
    for minor in ["1.22", "1.27"] {
        let Some(go) = go_toolchain(minor) else {
            missing_prerequisite(&format!("Go {minor} toolchain"));
            continue;
        };
        let out = Command::new(&go)
            .args(["run", "."])
            .current_dir(&tmp)
            .env("GOTOOLCHAIN", "local")
            .env("GOFLAGS", "-mod=mod")
            .env_remove("GOGC")
            .env_remove("GOMAXPROCS")
            .output()
            .expect("go run");
        assert!(
            out.status.success(),
            "go {minor}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let trace = tmp.join(format!("assist-{minor}.out"));
        std::fs::write(&trace, &out.stdout).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_gorx"))
            .args(["trace", "summary", "--json"])
            .arg(&trace)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let w = &v["summary"]["mark_work"];
        let f = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == "gc.assist-heavy")
            .unwrap_or_else(|| panic!("go {minor}: no gc.assist-heavy; mark work {w}"));
        assert!(f["severity"] == "warning" || f["severity"] == "critical");
        assert_eq!(f["sites"][0], "main.churn", "go {minor}: {f}");
        let e = &f["evidence"];
        let share = e["assist_share_of_mark_percent"].as_f64().unwrap();
        assert!(share >= 25.0, "{share}");
        // The evidence adds up: assist CPU never exceeds its wall time, and the share is
        // assists over assists plus dedicated and fractional workers.
        let (cpu, wall) = (
            e["assist_cpu_ns"].as_u64().unwrap(),
            e["assist_wall_ns"].as_u64().unwrap(),
        );
        assert!(cpu > 0 && cpu <= wall, "{cpu} {wall}");
        let bg = e["mark_worker_dedicated_ns"].as_u64().unwrap()
            + e["mark_worker_fractional_ns"].as_u64().unwrap();
        let want = (cpu as f64 / (cpu + bg) as f64 * 1000.0).round() / 10.0;
        assert_eq!(share, want);
        ran += 1;
    }
    let _ = std::fs::remove_dir_all(&tmp);
    eprintln!("{ran} assist-heavy traces diagnosed");
}
