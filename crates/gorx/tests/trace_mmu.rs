//! `gorx trace mmu` and the MMU line of `gorx trace summary`: the CLI prints what the
//! library computes (the library itself is checked against Go's code in
//! gorx-analysis/tests/mmu_oracle.rs), flags and windows reach it, bad options fail.

use gorx_analysis::mmu::{MmuCurve, MutatorUtilBuilder, UtilFlags};
use gorx_testsupport::artifacts_dir;
use std::path::Path;
use std::process::Command;

fn gorx(args: &[&str], file: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gorx"))
        .args(args)
        .arg(file)
        .output()
        .expect("run gorx")
}

fn library_curve(file: &Path, flags: UtilFlags) -> MmuCurve {
    let mut b = MutatorUtilBuilder::new(flags);
    let mut r = gorx_trace::Reader::new("t", std::fs::File::open(file).unwrap()).unwrap();
    while let Some(ev) = r.read_event().unwrap() {
        b.observe(&ev);
    }
    MmuCurve::new(b.finish())
}

#[test]
fn json_output_is_the_library_curve() {
    for (patient, flags) in [
        ("1.27/memlimit-thrash", "stw,background,assist,sweep"),
        ("1.26/forced-gc", "stw,assist,perproc"),
        ("1.22/heap-leak", "background,sweep"),
    ] {
        let file = artifacts_dir().join(patient).join("trace.out");
        let out = gorx(
            &[
                "trace",
                "mmu",
                "--json",
                "--flags",
                flags,
                "--window",
                "1ms",
                "--window",
                "2.5ms",
                "--window",
                "100ms",
                "--examples",
                "4",
            ],
            &file,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["schema"], 1);
        assert_eq!(v["flags"], flags);
        let fl = UtilFlags::parse(flags).unwrap();
        let curve = library_curve(&file, fl);
        assert_eq!(
            v["series"].as_u64().unwrap() as usize,
            curve.series().count()
        );
        let rows = v["windows"].as_array().unwrap();
        assert_eq!(rows.len(), 3);
        for (row, w) in rows.iter().zip([1_000_000i64, 2_500_000, 100_000_000]) {
            assert_eq!(row["window_ns"].as_i64().unwrap(), w);
            let got = row["mmu"].as_f64().unwrap();
            let want = curve.mmu(w);
            assert!((got - want).abs() < 1e-12, "{patient} {w}: {got} vs {want}");
            let worst = row["worst"].as_array().unwrap();
            let want_ex = curve.examples(w, 4);
            assert_eq!(worst.len(), want_ex.len());
            for (g, e) in worst.iter().zip(&want_ex) {
                assert_eq!(g["start_ns"].as_i64().unwrap(), e.time_ns);
                assert!((g["util"].as_f64().unwrap() - e.mutator_util).abs() < 1e-12);
            }
        }
    }
}

#[test]
fn text_output_default_windows_and_summary_line() {
    let file = artifacts_dir().join("1.27/forced-gc/trace.out");
    let out = gorx(&["trace", "mmu"], &file);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("minimum mutator utilization (stw,background,assist)"));
    assert!(text.contains(" 1 ms "), "{text}");
    assert!(text.contains("whole curve"), "{text}");
    let curve = library_curve(&file, UtilFlags::DEFAULT);
    let want = format!("{:.2}%", curve.mmu(1_000_000) * 100.0);
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("1 ms"))
        .unwrap();
    assert!(row.contains(&want), "{row} lacks {want}");

    let out = gorx(&["trace", "summary"], &file);
    let text = String::from_utf8(out.stdout).unwrap();
    let want = format!(
        "minimum mutator utilization (stw,background,assist): 10 ms {:.2}%, 100 ms {:.2}%",
        curve.mmu(10_000_000) * 100.0,
        curve.mmu(100_000_000) * 100.0
    );
    assert!(text.contains(&want), "{text}\nlacks {want}");
}

#[test]
fn bad_options_fail_with_a_message() {
    let file = artifacts_dir().join("1.27/healthy/trace.out");
    for args in [
        &["trace", "mmu", "--flags", "stw,nope"][..],
        &["trace", "mmu", "--window", "10"][..],
        &["trace", "mmu", "--window", "0ms"][..],
    ] {
        let out = gorx(args, &file);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
    let out = gorx(&["trace", "mmu"], Path::new("/nonexistent/trace.out"));
    assert_eq!(out.status.code(), Some(2));
}
