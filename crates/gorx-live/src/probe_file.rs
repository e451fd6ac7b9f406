//! Reading back what eBPF probes recorded in a directory: `probe.json`, the document
//! `gorx probe --json` prints and `gorx probe -o DIR` / `gorx watch --ebpf` write (a
//! diagnosis, schema 1, plus a `probes` section per probe). `gorx analyze DIR` reports
//! its findings beside what the artifacts say, as it does for a bundle's trigger.json.

use crate::LiveError;
use gorx_analysis::{FINDING_IDS, Finding};
use gorx_formats::FormatError;
use std::path::Path;

/// The file name, in a `gorx probe -o DIR` directory and in a watch bundle.
pub const PROBE_JSON: &str = "probe.json";

/// What a probe.json holds that `analyze` reports.
#[derive(Debug, Default)]
pub struct ProbeRecord {
    /// The file as read (for sources and inputs).
    pub path: String,
    /// The probes' findings, each with the file among its sources.
    pub findings: Vec<Finding>,
    /// The probes that ran (the keys of its `probes` section).
    pub probes: Vec<String>,
    /// Findings skipped because a newer gorx knows ids this one does not.
    pub notes: Vec<String>,
}

/// `DIR/probe.json` read back; None when the directory has none. A file that is not the
/// probe document (bad JSON, another schema, no findings array, a finding without its
/// id, severity or title) is an error naming the file and what is wrong.
pub fn read_probe_record(dir: &Path) -> Result<Option<ProbeRecord>, LiveError> {
    let path = dir.join(PROBE_JSON);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LiveError::io(&path, e)),
    };
    parse_probe_record(&path.display().to_string(), &bytes)
        .map(Some)
        .map_err(LiveError::from)
}

/// The probe document in `bytes` (named `name` in errors and sources).
pub fn parse_probe_record(name: &str, bytes: &[u8]) -> Result<ProbeRecord, FormatError> {
    let bad = |what: String| FormatError::whole(name, what);
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| FormatError::at_line(name, e.line() as u64, format!("invalid JSON: {e}")))?;
    if !v.is_object() {
        return Err(bad("expected the object `gorx probe --json` prints".into()));
    }
    match v["schema"].as_u64() {
        Some(1) => {}
        Some(n) => {
            return Err(bad(format!(
                "schema {n}: this gorx reads probe documents of schema 1"
            )));
        }
        None => return Err(bad("no \"schema\" number".into())),
    }
    let list = v["findings"]
        .as_array()
        .ok_or_else(|| bad("no \"findings\" array".into()))?;
    let probes = match &v["probes"] {
        serde_json::Value::Object(m) => m.keys().cloned().collect(),
        serde_json::Value::Null => Vec::new(),
        _ => return Err(bad("\"probes\" is not an object".into())),
    };
    let mut rec = ProbeRecord {
        path: name.to_string(),
        probes,
        ..Default::default()
    };
    for (i, f) in list.iter().enumerate() {
        let Some(id) = f["id"].as_str() else {
            return Err(bad(format!("findings[{i}] has no \"id\" string")));
        };
        if !FINDING_IDS.contains(&id) {
            rec.notes.push(format!(
                "{name}: findings[{i}]: id {id:?} is not one this gorx knows; skipped"
            ));
            continue;
        }
        let mut finding = Finding::from_json(f).ok_or_else(|| {
            bad(format!(
                "findings[{i}] ({id}): needs \"severity\" (info|warning|critical) and \"title\""
            ))
        })?;
        if !finding.sources.iter().any(|s| s == name) {
            finding.sources.push(name.to_string());
        }
        rec.findings.push(finding);
    }
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"schema":1,"inputs":[{"path":"pid 7","kind":"ebpf-probe"}],
      "findings":[{"id":"fd.leak","severity":"warning","title":"fds opened at main.dial keep growing",
        "evidence":{"outstanding":40},"recommendation":"close them",
        "sources":["ebpf:syscall-tracepoints fds pid 7"],"sites":["main.dial"]},
       {"id":"made.up","severity":"warning","title":"x"}],
      "probes":{"fds":{"report":{}}}}"#;

    #[test]
    fn a_probe_document_reads_back() {
        let r = parse_probe_record("d/probe.json", GOOD.as_bytes()).unwrap();
        assert_eq!(r.findings.len(), 1);
        let f = &r.findings[0];
        assert_eq!((f.id, f.sites[0].as_str()), ("fd.leak", "main.dial"));
        assert_eq!(f.evidence["outstanding"], 40);
        assert_eq!(
            f.sources,
            vec!["ebpf:syscall-tracepoints fds pid 7", "d/probe.json"]
        );
        assert_eq!(r.probes, vec!["fds".to_string()]);
        assert_eq!(r.notes.len(), 1, "{:?}", r.notes);
    }

    #[test]
    fn malformed_documents_are_errors_naming_the_file() {
        for (bad, why) in [
            ("", "invalid JSON"),
            ("{\"schema\":1,", "invalid JSON"),
            ("[]", "expected the object"),
            ("{\"findings\":[]}", "no \"schema\""),
            ("{\"schema\":2,\"findings\":[]}", "schema 2"),
            ("{\"schema\":1}", "no \"findings\" array"),
            ("{\"schema\":1,\"findings\":{}}", "no \"findings\" array"),
            (
                "{\"schema\":1,\"findings\":[3]}",
                "findings[0] has no \"id\"",
            ),
            (
                "{\"schema\":1,\"findings\":[{\"id\":\"fd.leak\",\"severity\":\"bad\",\"title\":\"t\"}]}",
                "findings[0] (fd.leak): needs",
            ),
            (
                "{\"schema\":1,\"findings\":[{\"id\":\"fd.leak\",\"severity\":\"info\"}]}",
                "needs",
            ),
            ("{\"schema\":1,\"findings\":[],\"probes\":3}", "\"probes\""),
        ] {
            let e = parse_probe_record("d/probe.json", bad.as_bytes())
                .expect_err(bad)
                .to_string();
            assert!(e.contains("d/probe.json") && e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn truncations_and_byte_flips_never_panic() {
        // Every prefix and every single-byte corruption: an error or a record, never a panic.
        let g = GOOD.as_bytes();
        for n in 0..g.len() {
            let _ = parse_probe_record("p", &g[..n]);
        }
        for i in 0..g.len() {
            for b in [b'"', b'{', b'0', 0xff, b'x'] {
                let mut m = g.to_vec();
                m[i] = b;
                let _ = parse_probe_record("p", &m);
            }
        }
    }

    #[test]
    fn a_directory_without_probe_json_has_no_record() {
        let dir = std::env::temp_dir().join(format!("gorx-probe-file-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert!(read_probe_record(&dir).unwrap().is_none());
        std::fs::write(dir.join(PROBE_JSON), "{\"schema\":1,\"findings\":7}").unwrap();
        let e = read_probe_record(&dir).unwrap_err().to_string();
        assert!(e.contains("probe.json"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
