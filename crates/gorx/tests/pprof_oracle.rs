//! Oracle: `gorx pprof top --json` agrees with `go tool pprof -top` on every protobuf
//! profile of the corpus (and the committed regression profiles), for every sample type:
//! same total and the same top functions with the same flat/cum, within the precision
//! pprof prints.

use gorx_testsupport::{artifacts_dir, go_toolchain, missing_prerequisite, repo_root};
use std::path::{Path, PathBuf};
use std::process::Command;

fn collect_pb_gz(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_pb_gz(&p, out);
        } else if p.to_string_lossy().ends_with(".pb.gz") {
            out.push(p);
        }
    }
}

/// A tiny Go program writing every profile kind, for when the corpus has none yet.
const GEN_GO: &str = r#"package main

import (
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

var sink [][]byte

func work() {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			end := time.Now().Add(300 * time.Millisecond)
			for time.Now().Before(end) {
				mu.Lock()
				sink = append(sink, make([]byte, 512))
				if len(sink) > 1000 {
					sink = sink[:0]
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func main() {
	runtime.MemProfileRate = 512
	runtime.SetMutexProfileFraction(1)
	runtime.SetBlockProfileRate(1)
	f, _ := os.Create(os.Args[1] + "/cpu.pb.gz")
	pprof.StartCPUProfile(f)
	work()
	pprof.StopCPUProfile()
	f.Close()
	for _, n := range []string{"heap", "allocs", "goroutine", "mutex", "block", "threadcreate"} {
		w, _ := os.Create(os.Args[1] + "/" + n + ".pb.gz")
		pprof.Lookup(n).WriteTo(w, 0)
		w.Close()
	}
}
"#;

fn generate(go: &Path) -> Option<(tempdir::Dir, Vec<PathBuf>)> {
    let dir = tempdir::Dir::new("gorx-pprof-oracle");
    std::fs::write(dir.path().join("main.go"), GEN_GO).ok()?;
    std::fs::write(dir.path().join("go.mod"), "module gen\ngo 1.19\n").ok()?;
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).ok()?;
    let st = Command::new(go)
        .arg("run")
        .arg(".")
        .arg(&out)
        .current_dir(dir.path())
        .status()
        .ok()?;
    assert!(st.success(), "generating profiles with {go:?} failed");
    let mut v = Vec::new();
    collect_pb_gz(&out, &mut v);
    Some((dir, v))
}

mod tempdir {
    use std::path::{Path, PathBuf};
    pub struct Dir(PathBuf);
    impl Dir {
        pub fn new(prefix: &str) -> Self {
            let p = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).expect("temp dir");
            Dir(p)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A pprof-printed value ("1.50s", "512.01kB", "12345", "0") in base units, with the
/// tolerance its printed precision allows.
fn parse_value(s: &str) -> Option<Printed> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e' || c == '+'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().ok()?;
    let factor = match unit {
        "" | "B" | "ns" => 1.0,
        "kB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0f64.powi(3),
        "TB" => 1024.0f64.powi(4),
        "PB" => 1024.0f64.powi(5),
        "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "hrs" => 3.6e12,
        _ => return None,
    };
    // Two decimals printed (".00" trimmed): half a unit in the last place, plus float slack.
    Some((v * factor, 0.0051 * factor + 1.0))
}

/// A printed value in base units and its tolerance.
type Printed = (f64, f64);

struct PprofTop {
    total: Printed,
    /// (function, flat, cum)
    rows: Vec<(String, Printed, Printed)>,
}

fn parse_pprof_top(text: &str) -> PprofTop {
    let mut total = None;
    let mut rows = Vec::new();
    let mut in_rows = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Showing nodes accounting for ") {
            let t = rest
                .rsplit_once(" of ")
                .and_then(|(_, t)| t.strip_suffix(" total"))
                .unwrap_or_else(|| panic!("unparsed pprof line {line:?}"));
            total = Some(parse_value(t).unwrap_or_else(|| panic!("bad total {t:?}")));
            continue;
        }
        if line.trim_start().starts_with("flat ") {
            in_rows = true;
            continue;
        }
        if in_rows && !line.trim().is_empty() {
            let mut it = line.split_whitespace();
            let flat = it.next().unwrap();
            let _flat_pct = it.next();
            let _sum_pct = it.next();
            let cum = it.next().unwrap();
            let _cum_pct = it.next();
            // The function name is the rest of the line after the five value columns.
            let mut rest = line;
            for _ in 0..5 {
                rest = rest.trim_start();
                rest = &rest[rest.find(char::is_whitespace).unwrap_or(rest.len())..];
            }
            // pprof decorates nodes reached only (or partly) through inlined calls.
            let name = rest.trim();
            let name = name
                .strip_suffix(" (inline)")
                .or_else(|| name.strip_suffix(" (partial-inline)"))
                .unwrap_or(name)
                .to_string();
            rows.push((
                name,
                parse_value(flat).unwrap_or_else(|| panic!("bad flat {flat:?} in {line:?}")),
                parse_value(cum).unwrap_or_else(|| panic!("bad cum {cum:?} in {line:?}")),
            ));
        }
    }
    PprofTop {
        total: total.unwrap_or_else(|| panic!("no total in pprof output:\n{text}")),
        rows,
    }
}

fn close(ours: i64, (v, tol): Printed) -> bool {
    (ours as f64 - v).abs() <= tol
}

fn gorx_top(file: &Path, st: &str, n: usize) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_gorx"))
        .args(["pprof", "top", "--json", "-n", &n.to_string()])
        .arg(format!("--sample-index={st}"))
        .arg(file)
        .output()
        .expect("run gorx");
    assert!(
        out.status.success(),
        "gorx pprof top failed on {file:?} {st}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("gorx JSON")
}

/// Checks one (file, sample type); returns a description of the mismatch, if any.
fn check(go: &Path, file: &Path, st: &str) -> Result<(), String> {
    let out = Command::new(go)
        .args(["tool", "pprof", "-top", "-nodecount=10", "-symbolize=none"])
        .arg(format!("-sample_index={st}"))
        .arg(file)
        .env("PPROF_TMPDIR", std::env::temp_dir())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "go tool pprof failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let want = parse_pprof_top(&text);

    let top10 = gorx_top(file, st, 10);
    assert_eq!(top10["sample_type"], st);
    assert!(top10["unit"].is_string());
    let rows10 = top10["rows"].as_array().unwrap();
    assert!(rows10.len() <= 10);
    let total = top10["total"].as_i64().unwrap();
    if !close(total, want.total) {
        return Err(format!(
            "total: gorx {total}, pprof {:?}\n{text}",
            want.total
        ));
    }

    // pprof first drops nodes whose |cum| is below 0.5% of the sum of flats, then takes
    // the top 10 by flat; apply the same cut to the full table.
    let all = gorx_top(file, st, usize::MAX);
    let rows = all["rows"].as_array().unwrap();
    for (a, b) in rows10.iter().zip(rows) {
        assert_eq!(a, b, "-n 10 is a prefix of the full table");
    }
    let flat_sum: i64 = rows.iter().map(|r| r["flat"].as_i64().unwrap()).sum();
    let cutoff = ((flat_sum as f64) * 0.005) as i64;
    let cutoff = cutoff.abs();
    let ours: Vec<(&str, i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["function"].as_str().unwrap(),
                r["flat"].as_i64().unwrap(),
                r["cum"].as_i64().unwrap(),
            )
        })
        .filter(|r| r.2.abs() >= cutoff)
        .take(10)
        .collect();
    if ours.len() != want.rows.len() {
        return Err(format!(
            "row count: gorx {} ({ours:?}), pprof {}\n{text}",
            ours.len(),
            want.rows.len()
        ));
    }
    for (i, ((name, flat, cum), (wname, wflat, wcum))) in ours.iter().zip(&want.rows).enumerate() {
        if name != wname || !close(*flat, *wflat) || !close(*cum, *wcum) {
            return Err(format!(
                "row {i}: gorx ({name}, {flat}, {cum}), pprof ({wname}, {wflat:?}, {wcum:?})\n{text}"
            ));
        }
    }
    Ok(())
}

#[test]
fn pprof_top_agrees_with_go_tool_pprof() {
    let Some(go) = go_toolchain("1.26").or_else(|| go_toolchain("")) else {
        missing_prerequisite("a Go toolchain for `go tool pprof`");
        return;
    };
    let mut files = Vec::new();
    collect_pb_gz(&artifacts_dir(), &mut files);
    let corpus_count = files.len();
    collect_pb_gz(
        &repo_root().join("crates/gorx-formats/tests/regress/pprof"),
        &mut files,
    );
    let _generated = if corpus_count == 0 {
        generate(&go).map(|(d, v)| {
            files.extend(v);
            d
        })
    } else {
        None
    };
    files.sort();
    assert!(!files.is_empty(), "no profiles to check");

    let mut jobs = Vec::new();
    for f in &files {
        let p = gorx_formats::pprof::parse_file(f).unwrap_or_else(|e| panic!("{e}"));
        for st in &p.sample_types {
            jobs.push((f.clone(), st.ty.to_string()));
        }
    }
    // Two workers: each pprof run is a separate process dominated by startup.
    let failures = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((f, st)) = jobs.get(i) else { break };
                    if let Err(e) = check(&go, f, st) {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{} [{st}]: {e}", f.display()));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    eprintln!(
        "pprof oracle: {} profiles, {} (profile, sample type) pairs, {} mismatches",
        files.len(),
        jobs.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
