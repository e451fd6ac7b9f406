//! The accuracy table in README.md (between `<!-- accuracy:begin -->` and
//! `<!-- accuracy:end -->`): expected vs produced verdicts for every corpus patient on
//! every Go version (`testdata/artifacts/<go>/<patient>`, expected = the MANIFEST's
//! `expected_findings`) and for every real-server capture (`testdata/real/*`, expected =
//! the MANIFEST's `expected.exceptions`, nothing else above `expected.max_severity`).
//!
//! A cell is ✓ when the warning/critical findings produced are exactly what is expected:
//! every expected id is produced at warning or above and no other id is. A patient whose
//! planted finding is produced beside others shows `✓ +W id` (diagnosed, with the rest
//! listed); otherwise the cell says what differed (`−id` expected but not produced at
//! warning+, `+W id`/`+C id` produced but not expected). A real capture counts only when
//! exact. Patients are judged by `gorx analyze --json DIR`; real captures by
//! that and `gorx gc --json DIR/stderr.log` together.
//!
//! The test fails when README.md's table differs from the one computed now; run it with
//! `GORX_BLESS=1` to rewrite the README section instead:
//!
//! ```console
//! GORX_BLESS=1 cargo test -p gorx --test accuracy_table
//! ```

use gorx_testsupport::repo_root;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const BEGIN: &str = "<!-- accuracy:begin -->";
const END: &str = "<!-- accuracy:end -->";
const GO_VERSIONS: [&str; 5] = ["1.19", "1.22", "1.24", "1.26", "1.27"];

/// Subdirectories of `dir` that hold a MANIFEST.json, sorted by name.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
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

fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn rank(severity: &str) -> u8 {
    match severity {
        "info" => 0,
        "warning" => 1,
        "critical" => 2,
        _ => 3,
    }
}

fn letter(severity: &str) -> &'static str {
    match severity {
        "critical" => "C",
        "warning" => "W",
        "info" => "I",
        _ => "?",
    }
}

/// Findings as (id, severity) from one gorx command's JSON, or the error it gave.
fn findings(args: &[&str]) -> Result<Vec<(String, String)>, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_gorx"))
        .args(args)
        .output()
        .map_err(|e| format!("cannot run gorx: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().next().unwrap_or("").trim();
        return Err(format!("exit {:?}: {first}", out.status.code()));
    }
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("no JSON: {e}"))?;
    Ok(v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["id"].as_str().unwrap_or("?").to_string(),
                f["severity"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect())
}

fn manifest(dir: &Path) -> Value {
    let p = dir.join("MANIFEST.json");
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_default()).unwrap_or(Value::Null)
}

/// ✓, or what differed between the expected ids and the produced findings.
/// `allowed` is the highest severity that needs no expectation (info for everything here
/// unless a real capture's MANIFEST says otherwise).
fn verdict(expected: &BTreeSet<String>, allowed: u8, produced: &[(String, String)]) -> String {
    // The highest severity each id was produced at.
    let mut top: BTreeMap<&str, &str> = BTreeMap::new();
    for (id, sev) in produced {
        let e = top.entry(id).or_insert(sev);
        if rank(sev) > rank(e) {
            *e = sev;
        }
    }
    let mut diffs = Vec::new();
    for id in expected {
        match top.get(id.as_str()) {
            Some(sev) if rank(sev) >= 1 => {}
            Some(sev) => diffs.push(format!("−{id} (only {})", letter(sev))),
            None => diffs.push(format!("−{id}")),
        }
    }
    for (id, sev) in &top {
        if rank(sev) > allowed && !expected.contains(*id) {
            diffs.push(format!("+{} {id}", letter(sev)));
        }
    }
    if diffs.is_empty() {
        "✓".to_string()
    } else if diffs.iter().all(|d| d.starts_with('+')) {
        // Everything expected was found; the rest is reported beside it.
        format!("✓ {}", diffs.join(", "))
    } else {
        diffs.join(", ")
    }
}

fn ids_cell(ids: &BTreeSet<String>) -> String {
    if ids.is_empty() {
        "nothing at W+".to_string()
    } else {
        ids.iter()
            .map(|i| format!("`{i}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn patients_table() -> (String, usize, usize, usize) {
    // patient -> version -> (expected, verdict)
    let mut rows: BTreeMap<String, BTreeMap<String, (BTreeSet<String>, String)>> = BTreeMap::new();
    let artifacts = gorx_testsupport::artifacts_dir();
    let corpus: Vec<_> = gorx_testsupport::corpus_entries()
        .into_iter()
        .filter(|(_, _, dir)| dir.join("MANIFEST.json").is_file())
        .collect();
    assert!(
        corpus.len() >= 12,
        "{}: only {} corpus entries",
        artifacts.display(),
        corpus.len()
    );
    for (version, patient, dir) in corpus {
        let expected: BTreeSet<String> = manifest(&dir)["expected_findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let cell = match findings(&["analyze", "--json", dir.to_str().expect("utf-8 path")]) {
            Ok(f) => verdict(&expected, 0, &f),
            Err(e) => format!("error: {e}"),
        };
        rows.entry(patient)
            .or_default()
            .insert(version, (expected, cell));
    }
    let mut versions: Vec<String> = GO_VERSIONS.iter().map(|v| v.to_string()).collect();
    for per in rows.values() {
        for v in per.keys() {
            if !versions.contains(v) {
                versions.push(v.clone());
            }
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| patient | expected | {} |",
        versions
            .iter()
            .map(|v| format!("Go {v}"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(out, "|---|---|{}", "---|".repeat(versions.len()));
    let (mut ok, mut exact, mut total) = (0, 0, 0);
    for (patient, per) in &rows {
        let all_expected: BTreeSet<&BTreeSet<String>> = per.values().map(|(e, _)| e).collect();
        let same = all_expected.len() == 1;
        let exp_cell = if same {
            ids_cell(all_expected.into_iter().next().unwrap())
        } else {
            "per version".to_string()
        };
        let cells: Vec<String> = versions
            .iter()
            .map(|v| match per.get(v) {
                None => "—".to_string(),
                Some((e, c)) => {
                    total += 1;
                    if c.starts_with('✓') {
                        ok += 1;
                    }
                    if c == "✓" {
                        exact += 1;
                    }
                    if same {
                        c.clone()
                    } else {
                        format!("{c} (expected {})", ids_cell(e))
                    }
                }
            })
            .collect();
        let _ = writeln!(out, "| {patient} | {exp_cell} | {} |", cells.join(" | "));
    }
    (out, ok, exact, total)
}

fn real_table() -> (String, usize, usize) {
    let caps = entries(&repo_root().join("testdata/real"));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| real capture | server | Go | expected | produced vs expected |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    let (mut ok, mut total) = (0, 0);
    for cap in &caps {
        let m = manifest(cap);
        let name = name(cap);
        let allowed = rank(m["expected"]["max_severity"].as_str().unwrap_or("info")).min(2);
        let expected: BTreeSet<String> = m["expected"]["exceptions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x["id"].as_str().map(str::to_string))
            .collect();
        let d = cap.to_str().expect("utf-8 path");
        let mut produced = findings(&["analyze", "--json", d]);
        let log = cap.join("stderr.log");
        if log.is_file()
            && let Ok(p) = &mut produced
        {
            match findings(&["gc", "--json", log.to_str().expect("utf-8 path")]) {
                Ok(more) => p.extend(more),
                Err(e) => produced = Err(format!("gc: {e}")),
            }
        }
        let cell = match produced {
            Ok(f) => verdict(&expected, allowed, &f),
            Err(e) => format!("error: {e}"),
        };
        total += 1;
        if cell == "✓" {
            ok += 1;
        }
        let server = format!(
            "{} {}",
            m["server"].as_str().unwrap_or("?"),
            m["version"].as_str().unwrap_or("")
        );
        let exp_cell = if allowed == 0 {
            ids_cell(&expected)
        } else {
            format!(
                "{} (up to {})",
                ids_cell(&expected),
                letter(m["expected"]["max_severity"].as_str().unwrap_or(""))
            )
        };
        let _ = writeln!(
            out,
            "| {name} | {server} | {} | {exp_cell} | {} |",
            m["go_version"]
                .as_str()
                .unwrap_or("?")
                .trim_start_matches("go"),
            cell.replace('|', "\\|")
        );
    }
    (out, ok, total)
}

fn table() -> String {
    let (patients, p_ok, p_exact, p_total) = patients_table();
    let (real, r_ok, r_total) = real_table();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Planted patients: {p_ok} of {p_total} diagnosed (the planted finding at warning or \
         above), {p_exact} of them with no other warning (the others list theirs after ✓). \
         Real servers: {r_ok} of {r_total} captures with the expected verdict.\n"
    );
    out.push_str(&patients);
    out.push('\n');
    out.push_str(&real);
    out
}

#[test]
fn readme_accuracy_table_is_current() {
    let readme_path = repo_root().join("README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("README.md");
    let (Some(b), Some(e)) = (readme.find(BEGIN), readme.find(END)) else {
        panic!("README.md lacks the {BEGIN} … {END} markers");
    };
    assert!(b < e, "README.md: {END} comes before {BEGIN}");
    let current = &readme[b + BEGIN.len()..e];
    let fresh = format!("\n{}", table());
    if std::env::var("GORX_BLESS").is_ok_and(|v| v == "1") {
        let updated = format!("{}{fresh}{}", &readme[..b + BEGIN.len()], &readme[e..]);
        std::fs::write(&readme_path, updated).expect("write README.md");
        eprintln!("README.md accuracy table rewritten");
        return;
    }
    if current != fresh {
        let old: Vec<&str> = current.lines().collect();
        let new: Vec<&str> = fresh.lines().collect();
        let mut diff = String::new();
        for i in 0..old.len().max(new.len()) {
            let (o, n) = (old.get(i), new.get(i));
            if o != n {
                if let Some(o) = o {
                    let _ = writeln!(diff, "- {o}");
                }
                if let Some(n) = n {
                    let _ = writeln!(diff, "+ {n}");
                }
            }
        }
        panic!(
            "README.md's accuracy table is stale (- README, + computed now); \
             regenerate with GORX_BLESS=1 cargo test -p gorx --test accuracy_table\n{diff}"
        );
    }
}
