//! `runtime.MemStats`, from either place a Go process prints it: the `memstats` object of
//! `/debug/vars` ([`crate::expvar`], JSON) and the `# runtime.MemStats` trailer of a
//! `heap?debug=1` profile ([`crate::pprof::legacy`], text). One type for both, so the
//! memory analyses take either source.

use serde::Deserialize;

/// `runtime.MemStats` (field names as in Go). A number the source did not give is 0, or
/// `None` where 0 would be misleading or only one source carries it.
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
    /// Unix nanoseconds of the last GC end (0: never).
    #[serde(rename = "LastGC")]
    pub last_gc: u64,
    /// expvar only (the heap profile's trailer does not print it).
    pub pause_total_ns: Option<u64>,
    /// Circular buffer of recent pause durations (ns), 256 entries; the latest is at
    /// `(NumGC+255)%256`.
    pub pause_ns: Vec<u64>,
    pub pause_end: Vec<u64>,
    #[serde(rename = "NumGC")]
    pub num_gc: u64,
    #[serde(rename = "NumForcedGC")]
    pub num_forced_gc: Option<u64>,
    #[serde(rename = "GCCPUFraction")]
    pub gc_cpu_fraction: Option<f64>,
    /// expvar only.
    #[serde(rename = "EnableGC")]
    pub enable_gc: Option<bool>,
    #[serde(rename = "DebugGC")]
    pub debug_gc: Option<bool>,
    /// Peak RSS in bytes: only the heap profile's trailer (Go ≥ 1.15 on Linux) prints it.
    #[serde(rename = "MaxRSS")]
    pub max_rss: Option<u64>,
}

impl MemStats {
    /// The last `min(NumGC, 256)` pauses, oldest first.
    pub fn recent_pauses_ns(&self) -> Vec<u64> {
        if self.pause_ns.len() != 256 {
            return Vec::new();
        }
        let n = self.num_gc.min(256) as usize;
        // NumGC is any u64 a document claims: reduce it before adding.
        let last = ((self.num_gc % 256 + 255) % 256) as usize;
        (0..n)
            .map(|k| self.pause_ns[(last + 256 - (n - 1 - k)) % 256])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same numbers printed both ways parse into the same value, apart from what only
    /// one source carries.
    #[test]
    fn expvar_and_heap_trailer_agree() {
        let pauses: Vec<u64> = (1..=256).collect();
        let ends: Vec<u64> = (1001..=1256).collect();
        let doc = serde_json::json!({"memstats": {
            "Alloc": 1, "TotalAlloc": 2, "Sys": 3, "Lookups": 4, "Mallocs": 5, "Frees": 6,
            "HeapAlloc": 7, "HeapSys": 8, "HeapIdle": 9, "HeapInuse": 10, "HeapReleased": 11,
            "HeapObjects": 12, "StackInuse": 13, "StackSys": 14, "MSpanInuse": 15,
            "MSpanSys": 16, "MCacheInuse": 17, "MCacheSys": 18, "BuckHashSys": 19,
            "GCSys": 20, "OtherSys": 21, "NextGC": 22, "LastGC": 23, "PauseTotalNs": 24,
            "PauseNs": pauses, "PauseEnd": ends, "NumGC": 300, "NumForcedGC": 2,
            "GCCPUFraction": 0.25, "EnableGC": true, "DebugGC": false,
            "BySize": [{"Size": 0, "Mallocs": 0, "Frees": 0}]
        }});
        let from_json = crate::expvar::parse("vars", doc.to_string().as_bytes())
            .unwrap()
            .memstats
            .unwrap();
        let list = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
        let trailer = format!(
            "# runtime.MemStats\n# Alloc = 1\n# TotalAlloc = 2\n# Sys = 3\n# Lookups = 4\n\
             # Mallocs = 5\n# Frees = 6\n# HeapAlloc = 7\n# HeapSys = 8\n# HeapIdle = 9\n\
             # HeapInuse = 10\n# HeapReleased = 11\n# HeapObjects = 12\n# Stack = 13 / 14\n\
             # MSpan = 15 / 16\n# MCache = 17 / 18\n# BuckHashSys = 19\n# GCSys = 20\n\
             # OtherSys = 21\n# NextGC = 22\n# LastGC = 23\n# PauseNs = [{}]\n\
             # PauseEnd = [{}]\n# NumGC = 300\n# NumForcedGC = 2\n# GCCPUFraction = 0.25\n\
             # DebugGC = false\n# MaxRSS = 25\n",
            list(&pauses),
            list(&ends)
        );
        let from_text = crate::pprof::legacy::parse_memstats_lines(
            "heap",
            trailer.strip_prefix("# runtime.MemStats\n").unwrap(),
        )
        .unwrap();
        assert_eq!(from_json.max_rss, None);
        assert_eq!(from_text.pause_total_ns, None);
        assert_eq!(from_text.enable_gc, None);
        let only_json = MemStats {
            pause_total_ns: Some(24),
            enable_gc: Some(true),
            max_rss: None,
            ..from_text.clone()
        };
        assert_eq!(from_json, only_json);
        assert_eq!(from_text.max_rss, Some(25));
        assert_eq!(from_json.recent_pauses_ns().len(), 256);
        assert_eq!(from_json.recent_pauses_ns()[255], pauses[(300 + 255) % 256]);
    }
}
