//! The readable report: findings first (most severe first), each with its evidence,
//! what to change, and where it came from.

use gorx_analysis::{Diagnosis, Finding, Severity};
use std::fmt::Write;

pub fn render_text(d: &Diagnosis) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Inputs ({}):", d.inputs.len());
    for i in &d.inputs {
        let _ = writeln!(out, "  {:<22} {}", i.kind, i.path);
    }
    out.push('\n');
    for n in &d.notes {
        let _ = writeln!(out, "note: {n}");
    }
    if !d.notes.is_empty() {
        out.push('\n');
    }
    if d.findings.is_empty() {
        out.push_str("No findings: nothing in these inputs looks wrong.\n");
        return out;
    }
    let count = |s| d.findings.iter().filter(|f| f.severity == s).count();
    let _ = writeln!(
        out,
        "Findings: {} critical, {} warning, {} info\n",
        count(Severity::Critical),
        count(Severity::Warning),
        count(Severity::Info)
    );
    for f in &d.findings {
        render_finding(&mut out, f);
    }
    out
}

fn render_finding(out: &mut String, f: &Finding) {
    let tag = match f.severity {
        Severity::Critical => "CRITICAL",
        Severity::Warning => "WARNING ",
        Severity::Info => "info    ",
    };
    let _ = writeln!(out, "{tag} [{}] {}", f.id, f.title);
    for (key, value) in &f.evidence {
        match value.as_array() {
            // Tables (top sites, groups) read best one row per line.
            Some(rows) if rows.iter().all(|r| r.is_object()) && !rows.is_empty() => {
                let _ = writeln!(out, "    {key}:");
                for row in rows {
                    let _ = writeln!(out, "      - {}", human_row(row));
                }
            }
            _ => {
                let _ = writeln!(out, "    {:<34} {}", key, human_value(key, value));
            }
        }
    }
    if !f.sites.is_empty() {
        let _ = writeln!(out, "    sites: {}", f.sites.join(", "));
    }
    if !f.recommendation.is_empty() {
        let _ = writeln!(out, "  → {}", f.recommendation);
    }
    if !f.sources.is_empty() {
        let _ = writeln!(out, "    from: {}", f.sources.join(", "));
    }
    out.push('\n');
}

/// Evidence keys carry their unit (`_bytes`, `_ns`, `_percent`); humans read MiB and ms.
fn human_value(key: &str, value: &serde_json::Value) -> String {
    let Some(n) = value.as_f64() else {
        return match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
    };
    if key.ends_with("_bytes") {
        format_bytes(n)
    } else if key.ends_with("_ns") {
        format_duration_ns(n)
    } else if key.ends_with("_percent") || key.ends_with("_pct") {
        format!("{n:.1}%")
    } else if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n:.3}")
    }
}

/// One table row: its name-like field first, then the rest as `key value`.
fn human_row(row: &serde_json::Value) -> String {
    let Some(obj) = row.as_object() else {
        return row.to_string();
    };
    const NAME_KEYS: [&str; 4] = ["site", "function", "name", "reason"];
    let name = NAME_KEYS
        .iter()
        .find_map(|k| obj.get(*k).and_then(|v| v.as_str()));
    let rest: Vec<String> = obj
        .iter()
        .filter(|(k, _)| !NAME_KEYS.contains(&k.as_str()) || name.is_none())
        .map(|(k, v)| format!("{k} {}", human_value(k, v)))
        .collect();
    match name {
        Some(n) => format!("{n} ({})", rest.join(", ")),
        None => rest.join(", "),
    }
}

/// Bytes for humans: B, KiB, MiB, GiB.
pub fn format_bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut unit = 0;
    while v.abs() >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{} B", n as i64)
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Nanoseconds for humans: ns, µs, ms, s, min.
pub fn format_duration_ns(ns: f64) -> String {
    let a = ns.abs();
    if a < 1e3 {
        format!("{ns:.0} ns")
    } else if a < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if a < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else if a < 120e9 {
        format!("{:.2} s", ns / 1e9)
    } else {
        format!("{:.1} min", ns / 60e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render_json;
    use gorx_analysis::{Evidence, InputSummary};

    #[test]
    fn units_follow_key_suffixes() {
        assert_eq!(format_bytes(512.0), "512 B");
        assert_eq!(format_bytes(3.5 * 1024.0 * 1024.0), "3.5 MiB");
        assert_eq!(format_duration_ns(1_500_000.0), "1.50 ms");
        assert_eq!(format_duration_ns(180e9), "3.0 min");
        assert_eq!(human_value("x_percent", &serde_json::json!(12.34)), "12.3%");
        assert_eq!(human_value("count", &serde_json::json!(7)), "7");
        let row =
            serde_json::json!({"site": "main.f", "delay_ns": 2_000_000, "share_percent": 50.0});
        assert_eq!(
            human_row(&row),
            "main.f (delay_ns 2.00 ms, share_percent 50.0%)"
        );
    }

    #[test]
    fn report_lists_most_severe_first() {
        let finding = |id, severity| Finding {
            id,
            severity,
            title: format!("{id} title"),
            evidence: Evidence::from([("live_heap_bytes".into(), serde_json::json!(1048576))]),
            recommendation: "do something".into(),
            sources: vec!["a.log".into()],
            sites: vec![],
        };
        let d = Diagnosis::new(
            vec![InputSummary {
                path: "a.log".into(),
                kind: "runtime-log".into(),
            }],
            vec![
                finding("gc.frequent", Severity::Info),
                finding("gc.heap-growth", Severity::Critical),
            ],
        );
        let text = render_text(&d);
        let crit = text.find("[gc.heap-growth]").unwrap();
        let info = text.find("[gc.frequent]").unwrap();
        assert!(crit < info, "{text}");
        assert!(text.contains("1.0 MiB"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&render_json(&d)).unwrap();
        assert_eq!(json["schema"], 1);
        assert_eq!(json["findings"][0]["id"], "gc.heap-growth");
        assert_eq!(json["findings"][0]["severity"], "critical");
        assert_eq!(json["inputs"][0]["kind"], "runtime-log");
    }
}
