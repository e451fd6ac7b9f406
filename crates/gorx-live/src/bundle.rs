//! Capture bundles: a directory holding a process's evidence at one moment, laid out like
//! the patient corpus so `gorx analyze DIR` reads both the same way:
//!
//! ```text
//! proc/status proc/limits proc/smaps_rollup proc/fd.txt proc/environ.json
//! cgroup.json            the cgroup chain (memory + cpu, leaf first)
//! snapshot.json          the whole ProcessSnapshot
//! heap.debug1.txt goroutine.debug2.txt vars.json metrics.txt cpu.pb.gz trace.out
//!                        (when served)
//! heap.base.pb.gz heap.pb.gz   two heap profiles (window start, trigger; MANIFEST
//!                        `heap_profiles` has their times): their in-use difference
//! trigger.json           the trigger's findings and window (watch; Diagnosis-like:
//!                        `{"schema":1,"kind":"gorx-watch-trigger","findings":[…],"window":{…}}`)
//! series.json            the samples that triggered the capture (watch)
//! probe.json             `gorx watch --ebpf`: the eBPF probes over a window at the
//!                        capture (the `gorx probe --json` document), beside each
//!                        probe's own files
//! MANIFEST.json          what, when, why
//! ```
//!
//! Written into a temporary sibling directory and renamed into place, so a reader never
//! sees a half-written bundle.

use crate::LiveError;
use crate::http;
use gorx_analysis::process::{ProcessSnapshot, RuntimeMemory};
use gorx_formats::cgroup::CgroupChain;
use gorx_formats::procfs::{self, GoEnv};
use std::path::{Path, PathBuf};

fn read_opt(dir: &Path, name: &str) -> Option<(String, String)> {
    let p = dir.join(name);
    let b = std::fs::read(&p).ok()?;
    Some((
        p.display().to_string(),
        String::from_utf8_lossy(&b).into_owned(),
    ))
}

/// Rebuild the process snapshot a bundle (or a corpus entry) holds. Parts that are absent
/// stay empty; parts that are present but malformed are errors naming the file.
pub fn read_snapshot_dir(dir: &Path) -> Result<ProcessSnapshot, LiveError> {
    let mut s = read_bundle_extras(dir)?;
    if let Some((n, t)) = read_opt(dir, "proc/status") {
        let st = procfs::parse_status(&n, &t)?;
        s.missing.extend(st.skipped_lines.iter().cloned());
        if s.pid == 0 {
            s.pid = st.pid.unwrap_or(0);
        }
        if s.command.is_empty() {
            s.command = st.name.clone();
        }
        s.status = Some(st);
    }
    if let Some((n, t)) = read_opt(dir, "proc/smaps_rollup") {
        s.smaps = Some(procfs::parse_smaps_rollup(&n, &t)?);
    }
    if let Some((n, t)) = read_opt(dir, "proc/limits") {
        let l = procfs::parse_limits(&n, &t)?;
        if let Some(nf) = l.nofile() {
            s.nofile_soft = nf.soft;
            s.nofile_hard = nf.hard;
        }
    }
    if let Some((n, t)) = read_opt(dir, "proc/fd.txt") {
        let fds = procfs::parse_fd_listing(&n, &t)?;
        s.missing.extend(fds.skipped_lines.iter().cloned());
        s.fds = Some(fds);
    }
    // MemStats: the heap profile's trailer and expvar are taken at nearly the same moment;
    // prefer the heap trailer, as `inspect` does.
    s.runtime = runtime_from_dir(dir)?;
    Ok(s)
}

/// The parts of a bundle that have no artifact form of their own (snapshot.json, the
/// environment, the cgroup chain, the Go version in MANIFEST.json). `gorx analyze` reads
/// the /proc and runtime files as artifacts, so it needs only these.
pub fn read_bundle_extras(dir: &Path) -> Result<ProcessSnapshot, LiveError> {
    let mut s = ProcessSnapshot::default();
    // Our own bundles keep the full snapshot; the files beside it are for people.
    if let Some(v) = read_json::<serde_json::Value>(dir, "snapshot.json")? {
        s.pid = v["pid"].as_u64().unwrap_or(0) as u32;
        s.command = v["command"].as_str().unwrap_or("").to_string();
        s.go_version = v["go_version"].as_str().map(str::to_string);
        s.default_godebug = v["default_godebug"].as_str().map(str::to_string);
        s.host_cpus = v["host_cpus"].as_u64().map(|n| n as u32);
        s.gomaxprocs_observed = v["gomaxprocs_observed"].as_u64().map(|n| n as u32);
        // Host CPU pressure and run-queue wait at capture time (absent in older bundles).
        s.host_cpu_pressure = serde_json::from_value(v["host_cpu_pressure"].clone()).ok();
        s.host_loadavg = serde_json::from_value(v["host_loadavg"].clone()).ok();
        s.schedstat = serde_json::from_value(v["schedstat"].clone()).ok();
    }
    s.env = read_json::<GoEnv>(dir, "proc/environ.json")?;
    s.cgroup = read_json::<CgroupChain>(dir, "cgroup.json")?;
    if s.go_version.is_none()
        && let Some((_, t)) = read_opt(dir, "MANIFEST.json")
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&t)
        && let Some(g) = v["go_version"].as_str()
    {
        s.go_version = Some(if g.starts_with("go") {
            g.to_string()
        } else {
            format!("go{g}")
        });
    }
    Ok(s)
}

/// The findings that made `gorx watch` take the bundle, so `gorx analyze BUNDLE` can say
/// why it exists: `trigger.json` (the findings with their evidence and the window's
/// series), or in bundles from before it, the ids `series.json` (or MANIFEST.json) names
/// as the trigger, as `findings.json` recorded them. Each gets the file among its sources.
/// Empty for bundles not taken by a trigger (`inspect`). Ids not in the vocabulary are
/// skipped (a newer gorx may know more); a malformed file is an error naming it.
pub fn read_trigger_findings(dir: &Path) -> Result<Vec<gorx_analysis::Finding>, LiveError> {
    let mark = |list: &[serde_json::Value], file: &str, keep: &dyn Fn(&str) -> bool| {
        let source = dir.join(file).display().to_string();
        list.iter()
            .filter(|f| f["id"].as_str().is_some_and(keep))
            .filter_map(gorx_analysis::Finding::from_json)
            .map(|mut f| {
                f.evidence.insert(
                    "captured_by".into(),
                    serde_json::json!("gorx watch trigger"),
                );
                if !f.sources.contains(&source) {
                    f.sources.push(source.clone());
                }
                f
            })
            .collect::<Vec<_>>()
    };
    if let Some(v) = read_json::<serde_json::Value>(dir, "trigger.json")? {
        let name = dir.join("trigger.json").display().to_string();
        let list = v["findings"].as_array().ok_or_else(|| {
            LiveError::from(gorx_formats::FormatError::whole(
                &name,
                "no \"findings\" array",
            ))
        })?;
        return Ok(mark(list, "trigger.json", &|_| true));
    }
    let ids = |v: Option<serde_json::Value>| -> Vec<String> {
        v.and_then(|v| v["trigger"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let mut trigger = ids(read_json(dir, "series.json")?);
    if trigger.is_empty() {
        trigger = ids(read_json(dir, "MANIFEST.json")?);
    }
    if trigger.is_empty() {
        return Ok(Vec::new());
    }
    let Some(recorded) = read_json::<serde_json::Value>(dir, "findings.json")? else {
        return Ok(Vec::new());
    };
    let list = recorded["findings"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    Ok(mark(list, "series.json", &|id| {
        trigger.iter().any(|t| t == id)
    }))
}

/// A JSON file of the bundle, if present; malformed JSON is an error naming file and line.
fn read_json<T: serde::de::DeserializeOwned>(
    dir: &Path,
    name: &str,
) -> Result<Option<T>, LiveError> {
    let Some((n, t)) = read_opt(dir, name) else {
        return Ok(None);
    };
    let v = serde_json::from_str(&t).map_err(|e| {
        gorx_formats::FormatError::at_line(&n, e.line() as u64, format!("invalid JSON: {e}"))
    })?;
    Ok(Some(v))
}

fn runtime_from_dir(dir: &Path) -> Result<Option<RuntimeMemory>, LiveError> {
    // The first file present decides (a client_golang server without expvar or pprof
    // has only the go_memstats_* gauges of metrics.txt).
    for (file, src) in [
        ("heap.debug1.txt", http::RuntimeSource::HeapTrailer),
        ("vars.json", http::RuntimeSource::Expvar),
        ("metrics.txt", http::RuntimeSource::Metrics),
    ] {
        if let Some((n, t)) = read_opt(dir, file) {
            return http::parse_runtime(src, &n, t.into_bytes()).map(|r| Some(r.memory));
        }
    }
    Ok(None)
}

/// A bundle being written: files go into a hidden temporary directory next to the final
/// one; [`BundleWriter::finish`] renames it into place.
pub struct BundleWriter {
    tmp: PathBuf,
    dest: PathBuf,
    files: Vec<String>,
}

impl BundleWriter {
    pub fn create(parent: &Path, name: &str) -> Result<Self, LiveError> {
        std::fs::create_dir_all(parent).map_err(|e| LiveError::io(parent, e))?;
        let tmp = parent.join(format!(".{name}.partial"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| LiveError::io(&tmp, e))?;
        }
        std::fs::create_dir_all(tmp.join("proc")).map_err(|e| LiveError::io(&tmp, e))?;
        Ok(BundleWriter {
            tmp,
            dest: parent.join(name),
            files: Vec::new(),
        })
    }

    pub fn write(&mut self, rel: &str, data: &[u8]) -> Result<(), LiveError> {
        let p = self.tmp.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(|e| LiveError::io(d, e))?;
        }
        std::fs::write(&p, data).map_err(|e| LiveError::io(&p, e))?;
        self.files.push(rel.to_string());
        Ok(())
    }

    /// Read back a file written so far.
    pub fn read(&self, rel: &str) -> Option<String> {
        self.read_bytes(rel)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    pub fn read_bytes(&self, rel: &str) -> Option<Vec<u8>> {
        std::fs::read(self.tmp.join(rel)).ok()
    }

    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// The directory being written (not yet in place), for writers that write files
    /// themselves; [`BundleWriter::adopt`] records what they wrote.
    pub fn dir(&self) -> &Path {
        &self.tmp
    }

    /// Record a file written into [`BundleWriter::dir`] by someone else (if it exists).
    pub fn adopt(&mut self, rel: &str) {
        if self.tmp.join(rel).is_file() && !self.files.iter().any(|f| f == rel) {
            self.files.push(rel.to_string());
        }
    }

    /// Rename into place; returns the final path.
    pub fn finish(self) -> Result<PathBuf, LiveError> {
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| LiveError::io(&self.dest, e))?;
        Ok(self.dest)
    }
}

/// Copy the /proc and cgroup state of `pid` plus the snapshot into a bundle.
pub fn write_proc_state(
    w: &mut BundleWriter,
    pid: u32,
    snap: &ProcessSnapshot,
) -> Result<(), LiveError> {
    for f in ["status", "limits", "smaps_rollup"] {
        if let Ok(b) = std::fs::read(format!("/proc/{pid}/{f}")) {
            w.write(&format!("proc/{f}"), &b)?;
        }
    }
    if let Ok(l) = crate::proc::fd_listing(pid) {
        w.write("proc/fd.txt", l.as_bytes())?;
    }
    let json = |v: &dyn erased::Ser| v.to_json();
    if let Some(env) = &snap.env {
        w.write("proc/environ.json", json(env).as_bytes())?;
    }
    if let Some(c) = &snap.cgroup {
        w.write("cgroup.json", json(c).as_bytes())?;
    }
    w.write("snapshot.json", json(snap).as_bytes())?;
    Ok(())
}

mod erased {
    /// Pretty JSON of any serializable value (a tiny object-safe shim).
    pub trait Ser {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_json(&self) -> String {
            serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_findings_read_back() {
        let dir = std::env::temp_dir().join(format!("gorx-trigger-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert!(read_trigger_findings(&dir).unwrap().is_empty());
        std::fs::write(
            dir.join("trigger.json"),
            r#"{"schema":1,"kind":"gorx-watch-trigger","findings":[
              {"id":"gc.heap-growth","severity":"warning","title":"heap rose","evidence":{"gc_cycles":9},
               "recommendation":"r","sources":["/proc/1 (watch)"],"sites":["main.remember"]},
              {"id":"not.an-id","severity":"warning","title":"x","evidence":{},"recommendation":"","sources":[],"sites":[]}],
              "window":{"interval_ms":500,"samples":[]}}"#,
        )
        .unwrap();
        let f = read_trigger_findings(&dir).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].id, "gc.heap-growth");
        assert_eq!(f[0].sites, vec!["main.remember".to_string()]);
        assert_eq!(f[0].evidence["gc_cycles"], serde_json::json!(9));
        assert!(f[0].sources.last().unwrap().ends_with("trigger.json"));
        std::fs::write(dir.join("trigger.json"), "{\"findings\": 3}").unwrap();
        assert!(
            read_trigger_findings(&dir)
                .unwrap_err()
                .to_string()
                .contains("trigger.json")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
