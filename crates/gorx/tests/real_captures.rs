//! The control group: captures of real Go servers from Debian (prometheus, etcd, caddy,
//! node-exporter; `scripts/capture-real.sh`) under `testdata/real/<server>-<scenario>/`.
//! Each holds a MANIFEST.json with the verdict a senior SRE would sign:
//!
//! ```json
//! "expected": {"max_severity": "info",
//!              "exceptions": [{"id": "...", "severity": "warning", "justification": "..."}]}
//! ```
//!
//! `gorx analyze --json DIR` and, when the capture has a log, `gorx gc --json DIR/stderr.log`
//! must both succeed, and every finding above `max_severity` must be a listed exception with
//! the same id and severity. A listed exception is a claim the numbers support, so it must
//! also be produced (a miss is a violation too).

use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `testdata/real` of this checkout (from this crate's own manifest directory).
fn real_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/real")
}

/// Every capture directory that has a MANIFEST.json, sorted by name.
fn captures() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(real_dir())
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.join("MANIFEST.json").is_file())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn rank(severity: &str) -> u8 {
    match severity {
        "info" => 0,
        "warning" => 1,
        "critical" => 2,
        _ => 3,
    }
}

/// What a capture's MANIFEST expects.
struct Expected {
    max_severity: String,
    /// (id, severity)
    exceptions: BTreeSet<(String, String)>,
}

fn expected(dir: &Path) -> Result<Expected, String> {
    let path = dir.join("MANIFEST.json");
    let text = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let m: Value = serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let e = &m["expected"];
    let max_severity = e["max_severity"]
        .as_str()
        .ok_or_else(|| format!("{}: expected.max_severity missing", path.display()))?
        .to_string();
    if rank(&max_severity) > 2 {
        return Err(format!(
            "{}: max_severity {max_severity:?} is not info|warning|critical",
            path.display()
        ));
    }
    let mut exceptions = BTreeSet::new();
    for x in e["exceptions"].as_array().into_iter().flatten() {
        let (Some(id), Some(sev)) = (x["id"].as_str(), x["severity"].as_str()) else {
            return Err(format!(
                "{}: an exception needs id and severity: {x}",
                path.display()
            ));
        };
        if x["justification"].as_str().unwrap_or("").trim().is_empty() {
            return Err(format!(
                "{}: exception {id} has no justification",
                path.display()
            ));
        }
        exceptions.insert((id.to_string(), sev.to_string()));
    }
    Ok(Expected {
        max_severity,
        exceptions,
    })
}

/// One finding as the test sees it: which command produced it, id, severity, title.
struct Produced {
    command: &'static str,
    id: String,
    severity: String,
    title: String,
}

fn run_json(command: &'static str, args: &[&str]) -> Result<Vec<Produced>, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_gorx"))
        .args(args)
        .output()
        .map_err(|e| format!("cannot run gorx: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`gorx {}` exited {:?}: {}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let v: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("`gorx {}` printed no JSON: {e}", args.join(" ")))?;
    Ok(v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| Produced {
            command,
            id: f["id"].as_str().unwrap_or("?").to_string(),
            severity: f["severity"].as_str().unwrap_or("?").to_string(),
            title: f["title"].as_str().unwrap_or("").to_string(),
        })
        .collect())
}

/// The findings of `analyze` on the directory and of `gc` on its log.
fn produced(dir: &Path) -> Result<Vec<Produced>, String> {
    let d = dir.to_str().expect("utf-8 path");
    let mut all = run_json("analyze", &["analyze", "--json", d])?;
    let log = dir.join("stderr.log");
    if log.is_file() {
        all.extend(run_json(
            "gc",
            &["gc", "--json", log.to_str().expect("utf-8 path")],
        )?);
    }
    Ok(all)
}

/// The rows of the violation table for one capture (empty when it meets its verdict).
fn violations(name: &str, exp: &Expected, found: &[Produced]) -> Vec<[String; 5]> {
    let mut rows = Vec::new();
    let mut seen = BTreeSet::new();
    for f in found {
        let key = (f.id.clone(), f.severity.clone());
        if rank(&f.severity) > rank(&exp.max_severity) && !exp.exceptions.contains(&key) {
            rows.push([
                name.to_string(),
                f.command.to_string(),
                f.severity.clone(),
                f.id.clone(),
                f.title.clone(),
            ]);
        }
        seen.insert(key);
    }
    for (id, sev) in &exp.exceptions {
        if !seen.contains(&(id.clone(), sev.clone())) {
            rows.push([
                name.to_string(),
                "-".into(),
                format!("missing {sev}"),
                id.clone(),
                "listed as an exception in MANIFEST.json but not produced".into(),
            ]);
        }
    }
    rows
}

#[test]
fn every_real_capture_meets_its_verdict() {
    let caps = captures();
    assert!(
        caps.len() >= 12,
        "testdata/real holds {} captures; run scripts/capture-real.sh",
        caps.len()
    );
    let mut rows: Vec<[String; 5]> = Vec::new();
    for dir in &caps {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let exp = match expected(dir) {
            Ok(e) => e,
            Err(e) => {
                rows.push([name, "-".into(), "error".into(), "manifest".into(), e]);
                continue;
            }
        };
        match produced(dir) {
            Ok(found) => rows.extend(violations(&name, &exp, &found)),
            Err(e) => rows.push([name, "-".into(), "error".into(), "failed".into(), e]),
        }
    }
    if rows.is_empty() {
        return;
    }
    let mut msg = format!(
        "{} violations on {} real captures (a finding above the MANIFEST's max_severity \
         that is not a listed exception, a listed exception not produced, or an error):\n\n",
        rows.len(),
        caps.len()
    );
    let headers = ["capture", "command", "severity", "id", "title"];
    let mut widths = headers.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r.iter()).take(4) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i < 4 {
                let _ = write!(s, "{c:<w$}  ", w = widths[i]);
            } else {
                s.push_str(c);
            }
        }
        s.trim_end().to_string()
    };
    msg.push_str(&line(headers));
    msg.push('\n');
    for r in &rows {
        msg.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4]]));
        msg.push('\n');
    }
    panic!("{msg}");
}
