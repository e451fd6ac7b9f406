//! Prometheus text exposition format 0.0.4 (what client_golang serves on /metrics,
//! including the `go_*` and `process_*` collectors), tolerant of OpenMetrics' `# EOF`.
//!
//! ```text
//! # HELP go_gc_duration_seconds A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.
//! # TYPE go_gc_duration_seconds summary
//! go_gc_duration_seconds{quantile="0"} 2.4e-05
//! go_gc_duration_seconds_sum 0.0021
//! go_gc_duration_seconds_count 12
//! ```

use crate::error::{FormatError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    #[default]
    Untyped,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Full sample name, including `_bucket`/`_sum`/`_count` suffixes.
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricFamily {
    pub name: String,
    pub help: Option<String>,
    pub kind: MetricType,
    pub samples: Vec<Sample>,
}

impl MetricFamily {
    /// Histogram buckets `(le, cumulative count)` for samples matching `labels` (other than
    /// `le`), in order.
    pub fn buckets(&self) -> Vec<(f64, f64)> {
        let want = format!("{}_bucket", self.name);
        self.samples
            .iter()
            .filter(|s| s.name == want)
            .filter_map(|s| Some((parse_value(s.label("le")?)?, s.value)))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Exposition {
    pub families: Vec<MetricFamily>,
}

impl Exposition {
    pub fn family(&self, name: &str) -> Option<&MetricFamily> {
        self.families.iter().find(|f| f.name == name)
    }
    /// The value of the first sample named exactly `name` (any labels).
    pub fn value(&self, name: &str) -> Option<f64> {
        self.families
            .iter()
            .flat_map(|f| &f.samples)
            .find(|s| s.name == name)
            .map(|s| s.value)
    }
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// The family a sample belongs to: its own name, or the name without a histogram/summary
/// suffix when such a family was declared.
fn family_index(families: &[MetricFamily], name: &str) -> Option<usize> {
    if let Some(i) = families.iter().rposition(|f| f.name == name) {
        return Some(i);
    }
    for suffix in ["_bucket", "_sum", "_count", "_created", "_total"] {
        if let Some(base) = name.strip_suffix(suffix)
            && let Some(i) = families.iter().rposition(|f| f.name == base)
        {
            return Some(i);
        }
    }
    None
}

fn is_name_char(b: u8, first: bool) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':' || (!first && b.is_ascii_digit())
}

/// Parses an exposition. Errors name the line.
pub fn parse(input: &str, data: &[u8]) -> Result<Exposition> {
    let text = std::str::from_utf8(data).map_err(|e| {
        FormatError::at_offset(input, e.valid_up_to() as u64, "invalid UTF-8 in exposition")
    })?;
    let mut out = Exposition::default();
    let err = |line: usize, msg: String| FormatError::at_line(input, line as u64 + 1, msg);
    for (ln, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim_start();
            let (kw, rest) = comment.split_once(' ').unwrap_or((comment, ""));
            match kw {
                "HELP" | "TYPE" => {
                    let (name, rest) = rest.split_once(' ').unwrap_or((rest, ""));
                    if name.is_empty() {
                        return Err(err(ln, format!("# {kw} without a metric name")));
                    }
                    let i = match out.families.iter().rposition(|f| f.name == name) {
                        Some(i) => i,
                        None => {
                            out.families.push(MetricFamily {
                                name: name.to_string(),
                                ..Default::default()
                            });
                            out.families.len() - 1
                        }
                    };
                    let f = &mut out.families[i];
                    if kw == "HELP" {
                        f.help = Some(rest.replace("\\n", "\n").replace("\\\\", "\\"));
                    } else {
                        f.kind = match rest.trim() {
                            "counter" => MetricType::Counter,
                            "gauge" => MetricType::Gauge,
                            "histogram" => MetricType::Histogram,
                            "summary" => MetricType::Summary,
                            "untyped" | "unknown" => MetricType::Untyped,
                            t => return Err(err(ln, format!("unknown metric type {t:?}"))),
                        };
                    }
                }
                _ => {} // other comments, `# EOF`
            }
            continue;
        }
        let sample = parse_sample(line).map_err(|m| err(ln, m))?;
        let i = match family_index(&out.families, &sample.name) {
            Some(i) => i,
            None => {
                out.families.push(MetricFamily {
                    name: sample.name.clone(),
                    ..Default::default()
                });
                out.families.len() - 1
            }
        };
        out.families[i].samples.push(sample);
    }
    if out.families.is_empty() {
        return Err(FormatError::whole(
            input,
            "no metrics found: not a Prometheus exposition",
        ));
    }
    Ok(out)
}

fn parse_sample(line: &str) -> std::result::Result<Sample, String> {
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() && is_name_char(b[i], i == 0) {
        i += 1;
    }
    if i == 0 {
        return Err(format!("expected a metric name, found {line:?}"));
    }
    let name = line[..i].to_string();
    let mut labels = Vec::new();
    if b.get(i) == Some(&b'{') {
        i += 1;
        loop {
            while b.get(i) == Some(&b' ') || b.get(i) == Some(&b',') {
                i += 1;
            }
            if b.get(i) == Some(&b'}') {
                i += 1;
                break;
            }
            let start = i;
            while i < b.len() && is_name_char(b[i], i == start) {
                i += 1;
            }
            if i == start {
                return Err(format!("expected a label name at column {}", i + 1));
            }
            let key = line[start..i].to_string();
            while b.get(i) == Some(&b' ') {
                i += 1;
            }
            if b.get(i) != Some(&b'=') || b.get(i + 1) != Some(&b'"') {
                return Err(format!(
                    "expected =\" after label {key} at column {}",
                    i + 1
                ));
            }
            i += 2;
            let mut value = String::new();
            loop {
                match b.get(i) {
                    None => return Err("unterminated label value".into()),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        match b.get(i + 1) {
                            Some(b'n') => value.push('\n'),
                            Some(b'"') => value.push('"'),
                            Some(b'\\') => value.push('\\'),
                            _ => return Err(format!("bad escape at column {}", i + 1)),
                        }
                        i += 2;
                    }
                    Some(_) => {
                        // Copy one UTF-8 character.
                        let ch = line[i..].chars().next().unwrap_or('\u{fffd}');
                        value.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            labels.push((key, value));
        }
    }
    let mut rest = line[i..].split_ascii_whitespace();
    let v = rest
        .next()
        .ok_or_else(|| format!("sample {name} has no value"))?;
    let value = parse_value(v).ok_or_else(|| format!("bad sample value {v:?}"))?;
    let timestamp_ms = match rest.next() {
        Some(t) => Some(t.parse().map_err(|_| format!("bad timestamp {t:?}"))?),
        None => None,
    };
    Ok(Sample {
        name,
        labels,
        value,
        timestamp_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_types_labels_histograms() {
        let text = "# HELP go_goroutines Number of goroutines that currently exist.\n\
# TYPE go_goroutines gauge\n\
go_goroutines 42\n\
# TYPE http_request_duration_seconds histogram\n\
http_request_duration_seconds_bucket{code=\"200\",le=\"0.1\"} 3\n\
http_request_duration_seconds_bucket{code=\"200\",le=\"+Inf\"} 5\n\
http_request_duration_seconds_sum{code=\"200\"} 1.5\n\
http_request_duration_seconds_count{code=\"200\"} 5\n\
weird{path=\"a\\\"b\\\\c\\n\"} NaN 1700000000000\n\
# EOF\n";
        let e = parse("m", text.as_bytes()).unwrap();
        assert_eq!(e.value("go_goroutines"), Some(42.0));
        let f = e.family("go_goroutines").unwrap();
        assert_eq!(f.kind, MetricType::Gauge);
        assert!(f.help.as_deref().unwrap().starts_with("Number"));
        let h = e.family("http_request_duration_seconds").unwrap();
        assert_eq!(h.samples.len(), 4);
        assert_eq!(h.buckets(), vec![(0.1, 3.0), (f64::INFINITY, 5.0)]);
        let w = &e.family("weird").unwrap().samples[0];
        assert_eq!(w.label("path"), Some("a\"b\\c\n"));
        assert!(w.value.is_nan());
        assert_eq!(w.timestamp_ms, Some(1_700_000_000_000));
        let err = parse("m", b"ok 1\nbad{x=1} 2\n").unwrap_err();
        assert_eq!(err.location, crate::Location::Line(2));
        assert!(parse("m", b"").is_err());
        assert!(parse("m", b"x{a=\"\xff\"} 1").is_err());
    }
}
