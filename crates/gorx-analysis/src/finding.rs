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
];
