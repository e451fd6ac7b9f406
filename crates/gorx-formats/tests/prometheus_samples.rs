//! A real client_golang v1.20.5 exposition (Go 1.26 process: go_* and process_*
//! collectors plus a labelled histogram), checked against its own text.

use gorx_formats::prometheus::{self, MetricType};
use gorx_testsupport::repo_root;

#[test]
fn client_golang_exposition() {
    let p = repo_root().join("testdata/samples/metrics/client_golang-1.20.5-go1.26.prom");
    let data = std::fs::read(p).unwrap();
    let text = String::from_utf8(data.clone()).unwrap();
    let e = prometheus::parse("metrics", &data).unwrap();
    let type_lines = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
    let sample_lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    assert_eq!(e.families.len(), type_lines);
    assert_eq!(
        e.families.iter().map(|f| f.samples.len()).sum::<usize>(),
        sample_lines
    );
    assert!(e.families.iter().all(|f| f.help.is_some()));
    assert_eq!(e.family("go_goroutines").unwrap().kind, MetricType::Gauge);
    assert!(e.value("go_goroutines").unwrap() >= 1.0);
    assert_eq!(
        e.family("go_gc_duration_seconds").unwrap().kind,
        MetricType::Summary
    );
    assert_eq!(
        e.family("go_info").unwrap().samples[0].label("version"),
        Some("go1.26.8")
    );
    let h = e.family("app_request_duration_seconds").unwrap();
    assert_eq!(h.kind, MetricType::Histogram);
    assert_eq!(
        h.help.as_deref(),
        Some("Request latency.\nSecond line \\ backslash.")
    );
    let quoted: Vec<_> = h
        .samples
        .iter()
        .filter(|s| s.label("path") == Some("/a\"b"))
        .collect();
    assert_eq!(quoted.len(), 14); // 12 buckets, _sum, _count
    let counts: Vec<f64> = quoted
        .iter()
        .filter(|s| s.name.ends_with("_bucket"))
        .map(|s| s.value)
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] <= w[1]),
        "buckets are cumulative"
    );
    assert_eq!(e.value("go_memstats_heap_alloc_bytes"), Some(144336.0));
    assert_eq!(
        e.value("go_gc_gomemlimit_bytes"),
        Some(9.223372036854776e18)
    );
}
