//! `gorx pprof top/flame` end to end: output shapes, --base, flame graphs, and bad input
//! (exit status 2, the file name and offset in stderr, no panic).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn gorx(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gorx"))
        .args(args)
        .output()
        .expect("run gorx")
}

fn fixture(name: &str) -> PathBuf {
    gorx_testsupport::repo_root()
        .join("crates/gorx-formats/tests/regress/pprof")
        .join(name)
}

/// A per-test scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let d = std::env::temp_dir().join(format!("gorx-pprof-cli-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn top_text_and_json() {
    let f = fixture("go1.27.3-cpu.pb.gz");
    let out = gorx(&["pprof", "top", "-n", "3", s(&f)]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Type: cpu"), "{text}");
    assert!(text.contains("flat%"), "{text}");
    let rows: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.contains("flat%"))
        .skip(1)
        .collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert!(rows[0].contains("ms") || rows[0].contains('s'), "{text}");

    let out = gorx(&["pprof", "top", "--json", "--sample-index", "samples", s(&f)]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sample_type"], "samples");
    assert_eq!(v["unit"], "count");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    let total = v["total"].as_i64().unwrap();
    for r in rows {
        let (flat, cum) = (r["flat"].as_i64().unwrap(), r["cum"].as_i64().unwrap());
        assert!(flat <= cum && cum <= total, "{r}");
        assert!(r["function"].as_str().is_some_and(|f| !f.is_empty()));
    }
    // The default sample type of a heap profile is the last one (inuse_space), of an
    // allocs profile its default_sample_type (alloc_space).
    for (name, want) in [
        ("go1.27.3-heap.pb.gz", "inuse_space"),
        ("go1.27.3-allocs.pb.gz", "alloc_space"),
    ] {
        let out = gorx(&["pprof", "top", "--json", s(&fixture(name))]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["sample_type"], want, "{name}");
        assert_eq!(v["unit"], "bytes");
    }
}

#[test]
fn top_with_base_is_the_difference() {
    let f = fixture("go1.27.3-heap.pb.gz");
    // Against itself everything cancels.
    let out = gorx(&["pprof", "top", "--json", "--base", s(&f), s(&f)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["total"], 0);
    assert!(v["rows"].as_array().unwrap().is_empty(), "{v}");
    // Against the Go 1.19 run of the same program: flat values are new − old by function.
    let old = fixture("go1.19.8-heap.pb.gz");
    let diff = gorx(&[
        "pprof",
        "top",
        "--json",
        "-n",
        "1000",
        "--base",
        s(&old),
        s(&f),
    ]);
    let new = gorx(&["pprof", "top", "--json", "-n", "1000", s(&f)]);
    let old = gorx(&["pprof", "top", "--json", "-n", "1000", s(&old)]);
    let [diff, new, old]: [serde_json::Value; 3] =
        [diff, new, old].map(|o| serde_json::from_slice(&o.stdout).unwrap());
    let flat = |v: &serde_json::Value, f: &str| -> i64 {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["function"] == f)
            .map(|r| r["flat"].as_i64().unwrap())
            .unwrap_or(0)
    };
    assert_eq!(
        flat(&diff, "main.allocLeaf"),
        flat(&new, "main.allocLeaf") - flat(&old, "main.allocLeaf")
    );
}

#[test]
fn flame_graphs() {
    let tmp = Scratch::new("flame");
    let f = fixture("go1.27.3-cpu.pb.gz");
    let svg = tmp.file("cpu.svg");
    let out = gorx(&["pprof", "flame", s(&f), "-o", s(&svg)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<?xml") && text.contains("<svg"));
    assert!(text.contains("main.burn"));

    let diff = tmp.file("diff.svg");
    let out = gorx(&[
        "pprof",
        "flame",
        "--base",
        s(&fixture("go1.19.8-cpu.pb.gz")),
        s(&f),
        "-o",
        s(&diff),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&diff).unwrap();
    assert!(text.contains("<svg") && text.contains("differential"));
}

fn assert_bad(args: &[&str], file: &str, want: &[&str]) {
    let out = gorx(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        err.contains(file),
        "{args:?}: stderr lacks the file name: {err}"
    );
    for w in want {
        assert!(err.contains(w), "{args:?}: stderr lacks {w:?}: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_input_exits_2_naming_the_file_and_offset() {
    let tmp = Scratch::new("bad");
    let good = std::fs::read(fixture("go1.27.3-heap.pb.gz")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("empty.pb.gz", Vec::new(), &["byte offset 0"]),
        (
            "truncated-gzip.pb.gz",
            good[..good.len() / 2].to_vec(),
            &["byte offset", "gzip"],
        ),
        ("random.pb.gz", vec![0xff; 100], &["byte offset"]),
        (
            "absurd.pb.gz",
            vec![0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2],
            &["byte offset 1", "claims"],
        ),
    ];
    for (name, data, want) in cases {
        let path = tmp.file(name);
        std::fs::write(&path, &data).unwrap();
        assert_bad(&["pprof", "top", s(&path)], name, want);
        assert_bad(&["pprof", "top", "--json", s(&path)], name, want);
        let svg = tmp.file("x.svg");
        assert_bad(&["pprof", "flame", s(&path), "-o", s(&svg)], name, want);
        // A bad base is reported as such too.
        let good_path = fixture("go1.27.3-heap.pb.gz");
        assert_bad(
            &["pprof", "top", "--base", s(&path), s(&good_path)],
            name,
            want,
        );
    }
    // Truncated protobuf inside valid gzip: the offset is into the decompressed data.
    let raw = gorx_formats::pprof::gunzip("x", &good).unwrap();
    let path = tmp.file("truncated-proto.pb");
    std::fs::write(&path, &raw[..raw.len() - 5]).unwrap();
    assert_bad(
        &["pprof", "top", s(&path)],
        "truncated-proto.pb",
        &["byte offset"],
    );
    // Missing file and unknown sample type.
    assert_bad(
        &["pprof", "top", "/nonexistent/p.pb.gz"],
        "/nonexistent/p.pb.gz",
        &[],
    );
    let f = fixture("go1.27.3-heap.pb.gz");
    assert_bad(
        &["pprof", "top", "--sample-index", "bogus", s(&f)],
        "go1.27.3-heap.pb.gz",
        &["bogus", "inuse_space"],
    );
    // A legacy text profile is recognised and pointed elsewhere.
    let t = fixture("go1.27.3-mutex.debug1.txt");
    assert_bad(
        &["pprof", "top", s(&t)],
        "go1.27.3-mutex.debug1.txt",
        &["text profile"],
    );
}

/// A contention profile with profiling off (rate 0) has its sample types and no samples.
fn profiling_off(kind_leaf_value: Option<i64>) -> Vec<u8> {
    let mut b = gorx_formats::pprof::encode::ProfileBuilder::new();
    b.sample_type("contentions", "count")
        .sample_type("delay", "nanoseconds")
        .period("contentions", "count", 1);
    if let Some(v) = kind_leaf_value {
        let f = b.add_function("sync.(*Mutex).Unlock", "sync.(*Mutex).Unlock", "");
        let l = b.add_location(0x1000, f, 1);
        b.add_sample(&[l], &[0, v]);
    }
    b.encode_gzip()
}

/// Issue 13: `pprof flame` on a mutex/block profile with profiling off left a 0-byte SVG.
#[test]
fn flame_of_an_empty_profile_writes_nothing_and_says_why() {
    let tmp = Scratch::new("empty-flame");
    for (name, data) in [
        ("mutex-off.pb.gz", profiling_off(None)),
        ("mutex-zero.pb.gz", profiling_off(Some(0))),
    ] {
        let path = tmp.file(name);
        std::fs::write(&path, data).unwrap();
        let svg = tmp.file("out.svg");
        let out = gorx(&["pprof", "flame", s(&path), "-o", s(&svg)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(name), "{err}");
        assert!(
            err.contains("no samples") && err.contains("profiling off"),
            "{err}"
        );
        assert!(!svg.exists(), "{name}: left {}", svg.display());
        // With an empty base too.
        let out = gorx(&[
            "pprof",
            "flame",
            "--base",
            s(&path),
            s(&path),
            "-o",
            s(&svg),
        ]);
        assert_eq!(out.status.code(), Some(2));
        assert!(!svg.exists());
    }
}
