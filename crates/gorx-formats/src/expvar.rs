//! expvar JSON as served by `/debug/vars`: `cmdline`, `memstats` (runtime.MemStats), and
//! whatever the program publishes (kept as JSON values).

use crate::error::{FormatError, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

/// `runtime.MemStats` as expvar encodes it (field names as in Go). Fields a Go version
/// does not have default to 0.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MemStats {
    pub alloc: u64,
    pub total_alloc: u64,
    pub sys: u64,
    pub lookups: u64,
    pub mallocs: u64,
    pub frees: u64,
    pub heap_alloc: u64,
    pub heap_sys: u64,
    pub heap_idle: u64,
    pub heap_inuse: u64,
    pub heap_released: u64,
    pub heap_objects: u64,
    pub stack_inuse: u64,
    pub stack_sys: u64,
    #[serde(rename = "MSpanInuse")]
    pub mspan_inuse: u64,
    #[serde(rename = "MSpanSys")]
    pub mspan_sys: u64,
    #[serde(rename = "MCacheInuse")]
    pub mcache_inuse: u64,
    #[serde(rename = "MCacheSys")]
    pub mcache_sys: u64,
    pub buck_hash_sys: u64,
    #[serde(rename = "GCSys")]
    pub gc_sys: u64,
    pub other_sys: u64,
    #[serde(rename = "NextGC")]
    pub next_gc: u64,
    /// Unix nanoseconds of the last GC end.
    #[serde(rename = "LastGC")]
    pub last_gc: u64,
    pub pause_total_ns: u64,
    /// Circular buffer of recent pauses; the latest is at `(NumGC+255)%256`.
    pub pause_ns: Vec<u64>,
    pub pause_end: Vec<u64>,
    #[serde(rename = "NumGC")]
    pub num_gc: u32,
    #[serde(rename = "NumForcedGC")]
    pub num_forced_gc: u32,
    #[serde(rename = "GCCPUFraction")]
    pub gc_cpu_fraction: f64,
    #[serde(rename = "EnableGC")]
    pub enable_gc: bool,
    #[serde(rename = "DebugGC")]
    pub debug_gc: bool,
}

impl MemStats {
    /// The last `min(NumGC, 256)` pauses, oldest first.
    pub fn recent_pauses_ns(&self) -> Vec<u64> {
        if self.pause_ns.len() != 256 {
            return Vec::new();
        }
        let n = (self.num_gc as usize).min(256);
        let last = (self.num_gc as usize + 255) % 256;
        (0..n)
            .map(|k| self.pause_ns[(last + 256 - (n - 1 - k)) % 256])
            .collect()
    }
}

impl MemStats {
    /// The same numbers in the type the heap profile's `# runtime.MemStats` trailer
    /// parses into, so MemStats analyses take either source.
    pub fn to_legacy(&self) -> crate::pprof::legacy::MemStats {
        crate::pprof::legacy::MemStats {
            alloc: self.alloc,
            total_alloc: self.total_alloc,
            sys: self.sys,
            lookups: self.lookups,
            mallocs: self.mallocs,
            frees: self.frees,
            heap_alloc: self.heap_alloc,
            heap_sys: self.heap_sys,
            heap_idle: self.heap_idle,
            heap_inuse: self.heap_inuse,
            heap_released: self.heap_released,
            heap_objects: self.heap_objects,
            stack_inuse: self.stack_inuse,
            stack_sys: self.stack_sys,
            mspan_inuse: self.mspan_inuse,
            mspan_sys: self.mspan_sys,
            mcache_inuse: self.mcache_inuse,
            mcache_sys: self.mcache_sys,
            buck_hash_sys: self.buck_hash_sys,
            gc_sys: self.gc_sys,
            other_sys: self.other_sys,
            next_gc: self.next_gc,
            last_gc: self.last_gc,
            pause_ns: self.pause_ns.clone(),
            pause_end: self.pause_end.clone(),
            num_gc: u64::from(self.num_gc),
            num_forced_gc: Some(u64::from(self.num_forced_gc)),
            gc_cpu_fraction: Some(self.gc_cpu_fraction),
            debug_gc: Some(self.debug_gc),
            max_rss: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Vars {
    pub cmdline: Vec<String>,
    pub memstats: Option<MemStats>,
    /// Every other published variable, by name.
    pub other: BTreeMap<String, serde_json::Value>,
}

/// Parses a `/debug/vars` document. JSON errors carry the line (column in the message).
pub fn parse(input: &str, data: &[u8]) -> Result<Vars> {
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(FormatError::whole(
            input,
            "empty input: not an expvar document",
        ));
    }
    let map: BTreeMap<String, serde_json::Value> = serde_json::from_slice(data).map_err(|e| {
        FormatError::at_line(
            input,
            e.line() as u64,
            format!("invalid expvar JSON (column {}): {e}", e.column()),
        )
    })?;
    let mut vars = Vars::default();
    for (k, v) in map {
        match k.as_str() {
            "cmdline" => {
                vars.cmdline = serde_json::from_value(v).map_err(|e| {
                    FormatError::whole(input, format!("`cmdline` is not a list of strings: {e}"))
                })?
            }
            "memstats" => {
                vars.memstats = Some(serde_json::from_value(v).map_err(|e| {
                    FormatError::whole(input, format!("`memstats` is not runtime.MemStats: {e}"))
                })?)
            }
            _ => {
                vars.other.insert(k, v);
            }
        }
    }
    if vars.cmdline.is_empty() && vars.memstats.is_none() {
        return Err(FormatError::whole(
            input,
            "JSON object without `cmdline` or `memstats`: not an expvar document",
        ));
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memstats_and_custom_vars() {
        let mut pauses = vec![0u64; 256];
        pauses[0] = 10;
        pauses[1] = 20;
        pauses[2] = 30;
        let doc = serde_json::json!({
            "cmdline": ["/bin/x", "-v"],
            "jobs": 12,
            "memstats": {"HeapAlloc": 5, "NumGC": 3, "MSpanInuse": 7, "GCCPUFraction": 0.5,
                          "PauseNs": pauses, "BySize": [{"Size": 0}]}
        });
        let v = parse("v", doc.to_string().as_bytes()).unwrap();
        assert_eq!(v.cmdline, ["/bin/x", "-v"]);
        let m = v.memstats.unwrap();
        assert_eq!((m.heap_alloc, m.num_gc, m.mspan_inuse), (5, 3, 7));
        assert_eq!(m.recent_pauses_ns(), vec![10, 20, 30]);
        assert_eq!(v.other["jobs"], 12);
        let e = parse("v", b"{\"cmdline\": [1]}").unwrap_err();
        assert_eq!(e.location, crate::Location::Whole);
        let e = parse("v", b"{\n\"a\": }").unwrap_err();
        assert_eq!(e.location, crate::Location::Line(2));
        assert!(parse("v", b"").is_err());
        assert!(parse("v", b"{\"a\":1}").is_err());
    }
}
