//! `gorx tune`'s report: the cell table, the P99 heat map over the two factors with the
//! most levels, the sensitivity of P99 to each factor and the verdict, as terminal text
//! or as a self-contained HTML page with the heat map in SVG. The lab decided everything
//! shown (gorx_tune::lab); this only lays it out. Everything from inputs is escaped.

use gorx_tune::lab::{Design, Factor, LabReport};
use std::fmt::Write as _;

fn ms(ns: u64) -> String {
    format!("{:.2}", ns as f64 / 1e6)
}

/// A cell's note: why it is excluded, or "front" when it is on the Pareto front.
fn note(r: &LabReport, i: usize) -> String {
    match &r.cells[i].excluded {
        Some(why) => why.clone(),
        None if r.pareto_front.contains(&i) => "front".into(),
        None => String::new(),
    }
}

/// The heat map's grid: row factor, column factor, and the mean P99 (ms) of the cells at
/// each pair of levels (None: every such cell failed).
struct Grid<'a> {
    rows: &'a Factor,
    cols: &'a Factor,
    values: Vec<Vec<Option<f64>>>,
    lo: f64,
    hi: f64,
}

fn grid(r: &LabReport) -> Option<Grid<'_>> {
    let mut fs: Vec<&Factor> = r.factors.iter().filter(|f| f.levels.len() >= 2).collect();
    if fs.len() < 2 {
        return None;
    }
    fs.sort_by_key(|f| std::cmp::Reverse(f.levels.len()));
    let (rows, cols) = (fs[0], fs[1]);
    let (rn, cn) = (rows.kind.name(), cols.kind.name());
    let values: Vec<Vec<Option<f64>>> = rows
        .levels
        .iter()
        .map(|a| {
            cols.levels
                .iter()
                .map(|b| {
                    let v: Vec<f64> = r
                        .cells
                        .iter()
                        .filter(|c| c.failure.is_none() && c.p99_ns > 0)
                        .filter(|c| c.levels.get(rn) == Some(a) && c.levels.get(cn) == Some(b))
                        .map(|c| c.p99_ns as f64 / 1e6)
                        .collect();
                    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
                })
                .collect()
        })
        .collect();
    let all: Vec<f64> = values.iter().flatten().flatten().copied().collect();
    let lo = all.iter().copied().fold(f64::MAX, f64::min);
    let hi = all.iter().copied().fold(f64::MIN, f64::max);
    Some(Grid {
        rows,
        cols,
        values,
        lo,
        hi,
    })
}

impl Grid<'_> {
    /// 0 (fastest) to 1 (slowest).
    fn level(&self, v: f64) -> f64 {
        if self.hi > self.lo {
            (v - self.lo) / (self.hi - self.lo)
        } else {
            0.0
        }
    }
}

/// The terminal report.
pub fn render_tune_text(r: &LabReport) -> String {
    let mut out = String::new();
    let names: Vec<&str> = r.factors.iter().map(|f| f.kind.name()).collect();
    let _ = writeln!(
        out,
        "{} cells ({} design); latency from each request's intended send time (open loop)\n",
        r.cells.len(),
        if r.design == Design::Full {
            "full"
        } else {
            "orthogonal"
        }
    );
    let mut head = String::new();
    for n in &names {
        let _ = write!(head, "{n:>12} ");
    }
    let _ = writeln!(
        out,
        "{head}{:>9} {:>9} {:>9} {:>8} {:>6} {:>7} {:>6} {:>9} {:>6}  note",
        "p50 ms", "p99 ms", "p99.9 ms", "req/s", "err", "GC", "GC%", "peak MiB", "±p99%"
    );
    for (i, c) in r.cells.iter().enumerate() {
        let mut row = String::new();
        for n in &names {
            let _ = write!(
                row,
                "{:>12} ",
                c.levels.get(*n).map(String::as_str).unwrap_or("-")
            );
        }
        let _ = writeln!(
            out,
            "{row}{:>9} {:>9} {:>9} {:>8.0} {:>6} {:>7} {:>6.1} {:>9} {:>6.1}  {}",
            ms(c.p50_ns),
            ms(c.p99_ns),
            ms(c.p999_ns),
            c.rps,
            c.errors + c.timeouts,
            c.gc_cycles,
            c.gc_cpu_percent,
            c.peak_rss_bytes >> 20,
            c.p99_spread_percent,
            note(r, i)
        );
    }
    if let Some(g) = grid(r) {
        let shade =
            |v: f64| [' ', '░', '▒', '▓', '█'][((g.level(v) * 4.0).round() as usize).min(4)];
        let _ = writeln!(
            out,
            "\nP99 ms by {} (rows) × {} (columns); darker is slower",
            g.rows.kind.name(),
            g.cols.kind.name()
        );
        let _ = write!(out, "{:>12} ", "");
        for b in &g.cols.levels {
            let _ = write!(out, "{b:>12} ");
        }
        out.push('\n');
        for (a, row) in g.rows.levels.iter().zip(&g.values) {
            let _ = write!(out, "{a:>12} ");
            for v in row {
                match v {
                    Some(v) => {
                        let s = shade(*v);
                        let _ = write!(out, "{s}{s}{v:>9.2}{s} ");
                    }
                    None => {
                        let _ = write!(out, "{:>12} ", "failed");
                    }
                }
            }
            out.push('\n');
        }
    }
    if !r.sensitivity_percent.is_empty() {
        let _ = writeln!(
            out,
            "\nsensitivity of P99 (range of the mean over a factor's levels / overall mean):"
        );
        let mut v: Vec<(&String, &f64)> = r.sensitivity_percent.iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(a.1));
        for (n, s) in v {
            let _ = writeln!(out, "  {n:<20} {s:>6.1}%");
        }
    }
    out.push('\n');
    let _ = writeln!(out, "{}", verdict(r));
    out
}

fn verdict(r: &LabReport) -> String {
    match (&r.recommendation, &r.note) {
        (Some(rec), _) if rec.beats_defaults => format!("recommendation: {}", rec.verdict),
        (Some(rec), _) => format!("verdict: {}", rec.verdict),
        (None, Some(note)) => format!("verdict: {note}"),
        (None, None) => "verdict: none".into(),
    }
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The heat map as SVG: one square per pair of levels, from light (fast) to dark red
/// (slow), labelled with its P99.
fn heat_map_svg(g: &Grid<'_>) -> String {
    let (cell, left, top) = (90.0, 110.0, 40.0);
    let w = left + cell * g.cols.levels.len() as f64 + 10.0;
    let h = top + cell * g.rows.levels.len() as f64 + 40.0;
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(
        o,
        r#"<text x="{left}" y="14">{} (columns)</text><text x="4" y="{}" >{} (rows)</text>"#,
        escape_html(g.cols.kind.name()),
        top - 6.0,
        escape_html(g.rows.kind.name())
    );
    for (j, b) in g.cols.levels.iter().enumerate() {
        let _ = write!(
            o,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            left + cell * (j as f64 + 0.5),
            top - 6.0 + 20.0 - 14.0,
            escape_html(b)
        );
    }
    for (i, (a, row)) in g.rows.levels.iter().zip(&g.values).enumerate() {
        let y = top + cell * i as f64;
        let _ = write!(
            o,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            left - 6.0,
            y + cell / 2.0 + 4.0,
            escape_html(a)
        );
        for (j, v) in row.iter().enumerate() {
            let x = left + cell * j as f64;
            let (fill, label) = match v {
                Some(v) => {
                    let l = g.level(*v);
                    // Light yellow (fast) to dark red (slow).
                    let (r0, g0, b0) = (255.0, 245.0, 200.0);
                    let (r1, g1, b1) = (165.0, 15.0, 21.0);
                    let mix = |a: f64, b: f64| (a + (b - a) * l).round() as u8;
                    (
                        format!("rgb({},{},{})", mix(r0, r1), mix(g0, g1), mix(b0, b1)),
                        format!("{v:.2} ms"),
                    )
                }
                None => ("#ccc".to_string(), "failed".to_string()),
            };
            let text_color = if v.is_some_and(|v| g.level(v) > 0.5) {
                "#fff"
            } else {
                "#000"
            };
            let _ = write!(
                o,
                r##"<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{fill}" stroke="#fff"/><text x="{}" y="{}" text-anchor="middle" fill="{text_color}">{}</text>"##,
                x + cell / 2.0,
                y + cell / 2.0 + 4.0,
                escape_html(&label)
            );
        }
    }
    o.push_str("</svg>");
    o
}

/// A self-contained HTML page: verdict, heat map (SVG), sensitivity and the cell table.
pub fn render_tune_html(r: &LabReport, command: &str) -> String {
    let mut o = String::new();
    o.push_str("<!doctype html><html><head><meta charset=\"utf-8\"><title>gorx tune</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f4f4f4}.front{font-weight:bold}</style></head><body>");
    let _ = write!(
        o,
        "<h1>gorx tune</h1><p><code>{}</code></p><p><b>{}</b></p>",
        escape_html(command),
        escape_html(&verdict(r))
    );
    if let Some(g) = grid(r) {
        let _ = write!(
            o,
            "<h2>P99 by {} × {}</h2>{}",
            escape_html(g.rows.kind.name()),
            escape_html(g.cols.kind.name()),
            heat_map_svg(&g)
        );
    }
    if !r.sensitivity_percent.is_empty() {
        o.push_str("<h2>Sensitivity of P99</h2><table><tr><th>factor</th><th>range of mean P99 / overall mean</th></tr>");
        for (n, s) in &r.sensitivity_percent {
            let _ = write!(o, "<tr><td>{}</td><td>{s:.1}%</td></tr>", escape_html(n));
        }
        o.push_str("</table>");
    }
    o.push_str("<h2>Cells</h2><p>Latency from each request's intended send time (open loop).</p><table><tr>");
    for f in &r.factors {
        let _ = write!(o, "<th>{}</th>", escape_html(f.kind.name()));
    }
    o.push_str("<th>P50 ms</th><th>P99 ms</th><th>P99.9 ms</th><th>req/s</th><th>errors</th><th>GC cycles</th><th>GC CPU %</th><th>peak MiB</th><th>±P99 %</th><th>note</th></tr>");
    for (i, c) in r.cells.iter().enumerate() {
        let class = if r.pareto_front.contains(&i) {
            " class=\"front\""
        } else {
            ""
        };
        let _ = write!(o, "<tr{class}>");
        for f in &r.factors {
            let _ = write!(
                o,
                "<td>{}</td>",
                escape_html(
                    c.levels
                        .get(f.kind.name())
                        .map(String::as_str)
                        .unwrap_or("-")
                )
            );
        }
        let _ = write!(
            o,
            "<td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{:.1}</td><td>{}</td></tr>",
            ms(c.p50_ns),
            ms(c.p99_ns),
            ms(c.p999_ns),
            c.rps,
            c.errors + c.timeouts,
            c.gc_cycles,
            c.gc_cpu_percent,
            c.peak_rss_bytes >> 20,
            c.p99_spread_percent,
            escape_html(&note(r, i))
        );
    }
    o.push_str("</table></body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use gorx_tune::lab::{Cell, Factor, FactorKind};
    use std::collections::BTreeMap;

    fn cell(gogc: &str, limit: &str, p99_ms: u64) -> Cell {
        Cell {
            env: BTreeMap::new(),
            cpu_quota: None,
            levels: BTreeMap::from([
                ("GOGC".to_string(), gogc.to_string()),
                ("GOMEMLIMIT".to_string(), limit.to_string()),
            ]),
            p50_ns: 0,
            p99_ns: p99_ms * 1_000_000,
            p999_ns: 0,
            rps: 100.0,
            errors: 0,
            timeouts: 0,
            oom: false,
            gc_cycles: 1,
            gc_cpu_percent: 1.0,
            peak_rss_bytes: 64 << 20,
            throttled_periods: 0,
            runs: 1,
            p99_spread_percent: 0.0,
            failure: None,
            excluded: None,
        }
    }

    fn report() -> LabReport {
        let mut oom = cell("400", "<b>256MiB</b>", 1);
        oom.failure = Some("OOM-killed <at> the limit".into());
        oom.excluded = oom.failure.clone();
        LabReport {
            schema: 1,
            design: Design::Full,
            factors: vec![
                Factor {
                    kind: FactorKind::Gogc,
                    levels: vec!["50".into(), "400".into()],
                },
                Factor {
                    kind: FactorKind::Memlimit,
                    levels: vec!["off".into(), "<b>256MiB</b>".into()],
                },
            ],
            cells: vec![
                cell("50", "off", 10),
                cell("50", "<b>256MiB</b>", 12),
                cell("400", "off", 4),
                oom,
            ],
            pareto_front: vec![2],
            sensitivity_percent: BTreeMap::from([("GOGC".to_string(), 50.0)]),
            recommendation: None,
            note: Some("none met the constraints".into()),
        }
    }

    #[test]
    fn text_shows_the_heat_map_and_the_notes() {
        let t = render_tune_text(&report());
        assert!(
            t.contains("P99 ms by GOGC (rows) × GOMEMLIMIT (columns)"),
            "{t}"
        );
        assert!(t.contains("failed"), "{t}");
        assert!(t.contains("front"), "{t}");
        assert!(t.contains("OOM-killed"), "{t}");
    }

    #[test]
    fn html_is_escaped_and_has_an_svg_heat_map() {
        let h = render_tune_html(&report(), "gorx tune -- ./srv <x>");
        assert!(h.contains("<svg"), "{h}");
        assert!(h.contains("&lt;b&gt;256MiB&lt;/b&gt;"));
        assert!(!h.contains("<b>256MiB</b>"));
        assert!(h.contains("OOM-killed &lt;at&gt; the limit"));
        assert!(h.contains("./srv &lt;x&gt;"));
        // Four squares: the fastest cell (4 ms) lightest.
        assert_eq!(h.matches("<rect").count(), 4);
        assert!(h.contains("rgb(255,245,200)"), "{h}");
    }
}
