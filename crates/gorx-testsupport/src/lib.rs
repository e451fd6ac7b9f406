//! Shared by tests: where the patient corpus lives and how to find a Go toolchain.
//!
//! Tests that read the committed corpus need nothing installed. Tests that need a Go
//! toolchain call [`go_toolchain`]; when none is found they skip with a message, except
//! under `CI=true`, where a missing prerequisite is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// `testdata/artifacts`: one directory per Go version, one per patient inside.
pub fn artifacts_dir() -> PathBuf {
    repo_root().join("testdata/artifacts")
}

/// `testdata/patients`: the Go programs with planted pathologies.
pub fn patients_dir() -> PathBuf {
    repo_root().join("testdata/patients")
}

/// Every `(go_version, patient, dir)` in the committed corpus, sorted.
pub fn corpus_entries() -> Vec<(String, String, PathBuf)> {
    let mut out = Vec::new();
    let Ok(versions) = std::fs::read_dir(artifacts_dir()) else {
        return out;
    };
    for v in versions.flatten() {
        if !v.path().is_dir() {
            continue;
        }
        let Ok(patients) = std::fs::read_dir(v.path()) else {
            continue;
        };
        for p in patients.flatten() {
            if p.path().is_dir() {
                out.push((
                    v.file_name().to_string_lossy().into_owned(),
                    p.file_name().to_string_lossy().into_owned(),
                    p.path(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// True when running under CI, where missing prerequisites must fail, not skip.
pub fn under_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// Skip (print and return) or, under CI, fail, when a prerequisite is missing.
pub fn missing_prerequisite(what: &str) {
    if under_ci() {
        panic!("CI=true and a prerequisite is missing: {what}");
    }
    eprintln!("SKIPPED: prerequisite missing: {what}");
}

/// The `go` binary for a Go minor version such as "1.27" ("" means any).
///
/// Looks in `$GORX_GO_DIR/venv-<minor>*/bin/go` (what `scripts/install-go.sh` makes,
/// default `$HOME/.cache/gorx/go`), `/usr/lib/go-<minor>/bin/go` (Debian), then `go`
/// on PATH and `/usr/local/go/bin/go`, checking each one's reported version.
pub fn go_toolchain(minor: &str) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    let dir = std::env::var_os("GORX_GO_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/gorx/go")));
    if let Some(dir) = dir
        && let Ok(rd) = std::fs::read_dir(&dir)
    {
        let mut venvs: Vec<PathBuf> = rd
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("venv-{minor}"))
            })
            .map(|e| e.path().join("bin/go"))
            .collect();
        venvs.sort();
        candidates.extend(venvs.into_iter().rev());
    }
    if !minor.is_empty() {
        candidates.push(PathBuf::from(format!("/usr/lib/go-{minor}/bin/go")));
    }
    candidates.push(PathBuf::from("go"));
    candidates.push(PathBuf::from("/usr/local/go/bin/go"));
    candidates
        .into_iter()
        .find(|go| go_version(go).is_some_and(|v| version_matches(&v, minor)))
}

/// `go env GOVERSION` without the "go" prefix, e.g. "1.27.3".
pub fn go_version(go: &Path) -> Option<String> {
    let out = Command::new(go).args(["env", "GOVERSION"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let v = String::from_utf8(out.stdout).ok()?;
    Some(v.trim().trim_start_matches("go").to_string())
}

fn version_matches(full: &str, minor: &str) -> bool {
    minor.is_empty() || full == minor || full.starts_with(&format!("{minor}."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_matching_is_by_minor() {
        assert!(version_matches("1.27.3", "1.27"));
        assert!(!version_matches("1.2.3", "1.27"));
        assert!(!version_matches("1.270.0", "1.27"));
        assert!(version_matches("1.19", "1.19"));
        assert!(version_matches("1.26.8", ""));
    }
}
