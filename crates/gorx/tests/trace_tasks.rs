//! `gorx trace tasks` against an oracle: a Go program with known task/region/log nesting
//! (trace_tasks/program) is traced with Go 1.22 and Go 1.27, and gorx's per-type report
//! must equal, to the nanosecond, what a Go program reading the same trace with
//! golang.org/x/exp/trace computes the straightforward way (trace_tasks/oracle). The
//! counts the program plants are asserted too, so both sides agreeing on a wrong
//! reading still fails.

use gorx_testsupport::{go_toolchain, missing_prerequisite};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const PROGRAM: &str = include_str!("trace_tasks/program/main.go");
const PROGRAM_FLIGHT: &str = include_str!("trace_tasks/program/flight_go125.go");
const PROGRAM_NO_FLIGHT: &str = include_str!("trace_tasks/program/flight_old.go");
const PROGRAM_MOD: &str = include_str!("trace_tasks/program/go.mod");
const ORACLE: &str = include_str!("trace_tasks/oracle/main.go");
const ORACLE_MOD: &str = include_str!("trace_tasks/oracle/go.mod");
const ORACLE_SUM: &str = include_str!("trace_tasks/oracle/go.sum");

fn go(go: &Path, dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(go)
        .args(args)
        .current_dir(dir)
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .output()
        .expect("run go");
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        go.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn by_type<'a>(list: &'a Value, key: &str, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|x| x[key] == name)
        .unwrap_or_else(|| panic!("no {key} {name:?} in {list}"))
}

#[test]
fn tasks_regions_and_logs_match_an_x_exp_trace_oracle() {
    let Some(go127) = go_toolchain("1.27") else {
        missing_prerequisite("Go 1.27 toolchain (x/exp/trace oracle)");
        return;
    };
    let tmp = std::env::temp_dir().join(format!("gorx-trace-tasks-{}", std::process::id()));
    let (prog, oracle) = (tmp.join("program"), tmp.join("oracle"));
    std::fs::create_dir_all(&prog).unwrap();
    std::fs::create_dir_all(&oracle).unwrap();
    std::fs::write(prog.join("main.go"), PROGRAM).unwrap();
    std::fs::write(prog.join("go.mod"), PROGRAM_MOD).unwrap();
    std::fs::write(prog.join("flight_go125.go"), PROGRAM_FLIGHT).unwrap();
    std::fs::write(prog.join("flight_old.go"), PROGRAM_NO_FLIGHT).unwrap();
    std::fs::write(oracle.join("main.go"), ORACLE).unwrap();
    std::fs::write(oracle.join("go.mod"), ORACLE_MOD).unwrap();
    std::fs::write(oracle.join("go.sum"), ORACLE_SUM).unwrap();
    let oracle_bin = tmp.join("tasks-oracle");
    go(
        &go127,
        &oracle,
        &["build", "-o", oracle_bin.to_str().unwrap(), "."],
    );

    let mut ran = 0;
    for minor in ["1.22", "1.27"] {
        let Some(gobin) = go_toolchain(minor) else {
            missing_prerequisite(&format!("Go {minor} toolchain"));
            continue;
        };
        let trace = tmp.join(format!("trace-{minor}.out"));
        std::fs::write(&trace, go(&gobin, &prog, &["run", "."])).unwrap();

        let out = Command::new(env!("CARGO_BIN_EXE_gorx"))
            .args(["trace", "tasks", "--json"])
            .arg(&trace)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(got["schema"], 1);
        let rep = &got["report"];
        let o = Command::new(&oracle_bin).arg(&trace).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let want: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            rep, &want,
            "go {minor}: gorx (left) and the x/exp/trace oracle differ"
        );

        // What the program planted.
        let tasks = &rep["tasks"];
        let request = by_type(tasks, "type", "request");
        assert_eq!(request["count"], 20, "{minor}");
        assert_eq!(request["completed"], 20);
        assert_eq!(request["goroutines"], 60);
        assert_eq!(request["max_goroutines_per_task"], 3);
        assert_eq!(request["regions"], 60);
        assert_eq!(request["logs"], 60);
        let fetch = by_type(tasks, "type", "fetch");
        assert_eq!(fetch["completed"], 40);
        assert_eq!(fetch["parent_types"]["request"], 40);
        assert!(fetch["duration"]["min_ns"].as_u64().unwrap() >= 100_000);
        let early = by_type(tasks, "type", "");
        // "early" and "pre" began before the trace: no type.
        assert_eq!(early["began_before_trace"], 2);
        let flight = minor != "1.22";
        assert_eq!(early["regions"], 1 + flight as u64);
        let poll = by_type(tasks, "type", "long-poll");
        assert_eq!(poll["unfinished"], 1);
        assert!(poll["unfinished_max_age_ns"].as_u64().unwrap() >= 2_000_000);
        let regions = &rep["regions"];
        let handle = by_type(regions, "type", "handle");
        let encode = by_type(regions, "type", "encode");
        assert_eq!(handle["completed"], 20);
        // "encode" nests inside "handle", so no encode outlasts the longest handle.
        assert!(encode["duration"]["max_ns"].as_u64() <= handle["duration"]["max_ns"].as_u64());
        assert_eq!(by_type(regions, "type", "fetch.io")["goroutines"], 40);
        assert_eq!(
            by_type(regions, "type", "abandoned")["ended_by_goroutine_exit"],
            1
        );
        assert_eq!(by_type(regions, "type", "waiting")["open_at_end"], 1);
        if flight {
            let pre = by_type(regions, "type", "pre-region");
            assert_eq!(
                (&pre["count"], &pre["began_before_trace"]),
                (&1.into(), &1.into())
            );
        }
        assert_eq!(by_type(&rep["logs"], "category", "fan-out")["in_tasks"], 40);
        assert_eq!(rep["background_regions"], 2);
        assert_eq!(rep["background_logs"], 1);
        ran += 1;
    }
    let _ = std::fs::remove_dir_all(&tmp);
    eprintln!("{ran} fresh traces: gorx trace tasks equals the x/exp/trace oracle");
}
