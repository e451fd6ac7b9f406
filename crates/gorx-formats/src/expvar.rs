//! expvar JSON as served by `/debug/vars`: `cmdline`, `memstats` (runtime.MemStats), and
//! whatever the program publishes (kept as JSON values).

use crate::error::{FormatError, Result};
use crate::memstats::MemStats;
use std::collections::BTreeMap;

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
