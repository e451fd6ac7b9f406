//! The diagnosis vocabulary. Finding ids are stable API (JSON output, exit codes, tests).

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// A value in a finding's evidence. Numbers carry their unit in the key name
/// (`pause_p99_ns`, `live_heap_bytes`); JSON uses base units.
pub type Evidence = BTreeMap<String, serde_json::Value>;

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Stable id from the vocabulary in DESIGN.md, e.g. `gc.heap-growth`.
    pub id: &'static str,
    pub severity: Severity,
    pub title: String,
    pub evidence: Evidence,
    pub recommendation: String,
    /// The artifacts or probes the finding came from.
    pub sources: Vec<String>,
    /// Function names implicated, most significant first.
    pub sites: Vec<String>,
}

/// Every finding id gorx can emit. Ids are never renamed; new ones are appended.
pub const FINDING_IDS: &[&str] = &[
    "gc.heap-growth",
    "gc.high-cpu",
    "gc.frequent",
    "gc.memlimit-thrash",
    "gc.forced",
    "gc.long-pause",
    "gc.assist-heavy",
    "goroutine.leak",
    "goroutine.count-high",
    "finalizer.blocked",
    "memory.rss-gap",
    "memory.stack-heavy",
    "memory.unreturned",
    "contention.mutex",
    "contention.block",
    "sched.latency",
    "sched.gomaxprocs-mismatch",
    "cgroup.cpu-throttled",
    "cgroup.memory-near-limit",
    "config.memlimit-missing",
    "fd.near-limit",
    "fd.leak",
    "syscall.blocking",
    "cpu.gc-share",
    "alloc.contention",
    "sched.cpu-starved",
    "syscall.slow",
];

impl Finding {
    /// A finding read back from its JSON form (a bundle's `findings.json`). `None` when
    /// the id is not one gorx emits or a required field is missing.
    pub fn from_json(v: &serde_json::Value) -> Option<Finding> {
        let id = v["id"].as_str()?;
        let id = *FINDING_IDS.iter().find(|k| **k == id)?;
        let severity = match v["severity"].as_str()? {
            "info" => Severity::Info,
            "warning" => Severity::Warning,
            "critical" => Severity::Critical,
            _ => return None,
        };
        let strings = |key: &str| -> Vec<String> {
            v[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        Some(Finding {
            id,
            severity,
            title: v["title"].as_str()?.to_string(),
            evidence: v["evidence"]
                .as_object()
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            recommendation: v["recommendation"].as_str().unwrap_or("").to_string(),
            sources: strings("sources"),
            sites: strings("sites"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_survives_its_json_form() {
        let mut evidence = Evidence::new();
        evidence.insert("fds_first".into(), serde_json::json!(12));
        let f = Finding {
            id: "fd.leak",
            severity: Severity::Warning,
            title: "fds 12 → 245".into(),
            evidence,
            recommendation: "close them".into(),
            sources: vec!["/proc/1/fd".into()],
            sites: vec!["main.open".into()],
        };
        let back = Finding::from_json(&serde_json::to_value(&f).unwrap()).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&f).unwrap()
        );
        let mut v = serde_json::to_value(&f).unwrap();
        v["id"] = serde_json::json!("made.up");
        assert!(Finding::from_json(&v).is_none());
    }
}
