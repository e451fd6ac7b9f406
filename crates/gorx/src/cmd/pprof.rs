//! `gorx pprof top` and `gorx pprof flame`.

use anyhow::{Context, bail};
use gorx_analysis::profiles::{TopTable, inline_labels, top_table};
use gorx_formats::pprof::{self, Profile};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Top functions by flat and cumulative value.
    Top(TopArgs),
    /// Render a flame graph SVG (differential with --base).
    Flame(FlameArgs),
}

#[derive(clap::Args)]
pub struct TopArgs {
    /// Print JSON: {"sample_type","unit","total","rows":[{"function","flat","cum"}]}.
    #[arg(long)]
    pub json: bool,
    /// Number of rows.
    #[arg(short = 'n', default_value_t = 10)]
    pub n: usize,
    /// Sample type to show (default: the profile's default, else the last).
    #[arg(long)]
    pub sample_index: Option<String>,
    /// Subtract this older profile (show growth).
    #[arg(long)]
    pub base: Option<PathBuf>,
    pub file: PathBuf,
}

#[derive(clap::Args)]
pub struct FlameArgs {
    /// Older profile for a differential flame graph.
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// Sample type to draw.
    #[arg(long)]
    pub sample_index: Option<String>,
    /// Output SVG file.
    #[arg(short = 'o', long)]
    pub output: PathBuf,
    pub file: PathBuf,
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Top(a) => top(a),
        Command::Flame(a) => flame(a),
    }
}

fn load(path: &Path) -> anyhow::Result<Profile> {
    let name = path.display().to_string();
    let data = std::fs::read(path).with_context(|| format!("reading {name}"))?;
    if pprof::legacy::looks_like(&data) {
        bail!(
            "{name}: a legacy ?debug=1 text profile; `gorx pprof` reads the protobuf form (use `gorx analyze` for text profiles)"
        );
    }
    Ok(pprof::parse(&name, &data)?)
}

/// Resolves `--sample-index` (a name or a number) as go tool pprof does.
fn sample_index(p: &Profile, want: Option<&str>, file: &Path) -> anyhow::Result<usize> {
    match want {
        Some(w) => p.sample_type_index(w).with_context(|| {
            let names: Vec<&str> = p.sample_types.iter().map(|t| &*t.ty).collect();
            format!(
                "{}: no sample type {w:?} (it has: {})",
                file.display(),
                names.join(", ")
            )
        }),
        None => p
            .default_sample_index()
            .with_context(|| format!("{}: profile has no sample types", file.display())),
    }
}

/// The base profile and its index of the same sample type.
fn load_base(base: Option<&Path>, ty: &str) -> anyhow::Result<Option<(Profile, usize)>> {
    let Some(b) = base else { return Ok(None) };
    let bp = load(b)?;
    let bi = bp
        .sample_type_index(ty)
        .with_context(|| format!("{}: base profile has no sample type {ty:?}", b.display()))?;
    Ok(Some((bp, bi)))
}

fn top(a: TopArgs) -> anyhow::Result<ExitCode> {
    let p = load(&a.file)?;
    let idx = sample_index(&p, a.sample_index.as_deref(), &a.file)?;
    let ty = p.sample_types[idx].ty.clone();
    let base = load_base(a.base.as_deref(), &ty)?;
    let table = top_table(&p, idx, base.as_ref().map(|(b, i)| (b, *i)));
    let mut out = std::io::stdout().lock();
    if a.json {
        let rows: Vec<serde_json::Value> = table
            .rows
            .iter()
            .take(a.n)
            .map(|r| serde_json::json!({"function": r.function, "flat": r.flat, "cum": r.cum}))
            .collect();
        let v = serde_json::json!({
            "sample_type": table.sample_type,
            "unit": table.unit,
            "total": table.total,
            "rows": rows,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        write_top_text(&mut out, &p, idx, &table, a.n, &a.file)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn write_top_text(
    out: &mut impl Write,
    p: &Profile,
    index: usize,
    t: &TopTable,
    n: usize,
    file: &Path,
) -> anyhow::Result<()> {
    writeln!(out, "File: {}", file.display())?;
    writeln!(out, "Type: {}", t.sample_type)?;
    if p.duration_nanos > 0 {
        writeln!(out, "Duration: {}", scaled(p.duration_nanos, "nanoseconds"))?;
    }
    let shown = t
        .rows
        .iter()
        .take(n)
        .fold(0i64, |a, r| a.saturating_add(r.flat));
    writeln!(
        out,
        "Showing nodes accounting for {}, {} of {} total",
        scaled(shown, &t.unit),
        percent(shown, t.total),
        scaled(t.total, &t.unit)
    )?;
    if t.rows.len() > n {
        writeln!(out, "Showing top {n} nodes out of {}", t.rows.len())?;
    }
    writeln!(
        out,
        "{:>10} {:>6} {:>7} {:>10} {:>6}  function",
        "flat", "flat%", "sum%", "cum", "cum%"
    )?;
    let shown = &t.rows[..n.min(t.rows.len())];
    let labels = inline_labels(p, index, shown);
    let mut sum = 0i64;
    for (r, inl) in shown.iter().zip(labels) {
        sum = sum.saturating_add(r.flat);
        writeln!(
            out,
            "{:>10} {:>6} {:>7} {:>10} {:>6}  {}{}{}",
            scaled(r.flat, &t.unit),
            percent(r.flat, t.total),
            percent(sum, t.total),
            scaled(r.cum, &t.unit),
            percent(r.cum, t.total),
            r.function,
            if inl.label().is_empty() { "" } else { " " },
            inl.label()
        )?;
    }
    Ok(())
}

fn percent(v: i64, total: i64) -> String {
    let r = if total == 0 {
        0.0
    } else {
        (v as f64 / total as f64).abs() * 100.0
    };
    if (99.95..=100.05).contains(&r) {
        "100%".into()
    } else {
        format!("{r:.2}%")
    }
}

/// A value in human units, scaled as `go tool pprof` does (bytes by 1024, time by
/// ns/us/ms/s/hrs, counts unscaled), two decimals with `.00` trimmed.
pub fn scaled(v: i64, unit: &str) -> String {
    let u = unit.to_ascii_lowercase();
    let units: &[(&str, f64)] = match u.trim_end_matches('s') {
        "byte" | "b" => &[
            ("B", 1.0),
            ("kB", 1024.0),
            ("MB", 1048576.0),
            ("GB", 1073741824.0),
            ("TB", 1099511627776.0),
            ("PB", 1125899906842624.0),
        ],
        "nanosecond" | "n" => &[
            ("ns", 1.0),
            ("us", 1e3),
            ("ms", 1e6),
            ("s", 1e9),
            ("hrs", 3.6e12),
        ],
        _ => &[],
    };
    let a = (v as f64).abs();
    let (mut factor, mut name) = (1.0, "");
    for &(n, f) in units {
        if a / f >= 1.0 {
            factor = f;
            name = n;
        }
    }
    let s = format!("{:.2}", v as f64 / factor);
    let s = s.strip_suffix(".00").unwrap_or(&s);
    if s == "0" || s == "-0" {
        return "0".into();
    }
    format!("{s}{name}")
}

/// Folded stacks (`root;...;leaf value`) of one sample type, merged by stack.
fn folded(p: &Profile, idx: usize) -> String {
    let mut m: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    for s in &p.samples {
        let v = s.values.get(idx).copied().unwrap_or(0);
        if v == 0 {
            continue;
        }
        let mut names: Vec<&str> = p.frames(s).map(|f| f.function).collect();
        names.reverse();
        let key = names
            .iter()
            .map(|n| n.replace(';', ":"))
            .collect::<Vec<_>>()
            .join(";");
        let key = if key.is_empty() {
            "<no stack>".into()
        } else {
            key
        };
        let e = m.entry(key).or_default();
        *e = e.saturating_add(v.saturating_abs());
    }
    let mut lines: Vec<(String, i64)> = m.into_iter().collect();
    lines.sort();
    let mut out = String::new();
    for (k, v) in lines {
        out.push_str(&k);
        out.push(' ');
        out.push_str(&v.to_string());
        out.push('\n');
    }
    out
}

fn flame(a: FlameArgs) -> anyhow::Result<ExitCode> {
    let p = load(&a.file)?;
    let idx = sample_index(&p, a.sample_index.as_deref(), &a.file)?;
    let st = p.sample_types[idx].clone();
    let base = load_base(a.base.as_deref(), &st.ty)?;
    let after = folded(&p, idx);
    let mut opts = inferno::flamegraph::Options::default();
    opts.count_name = st.unit.to_string();
    // Render into memory first: a profile with nothing to draw (a mutex or block profile
    // with profiling off has no samples) must not leave an empty or half-written file.
    let mut svg = Vec::new();
    if let Some((b, bi)) = base {
        let before = folded(&b, bi);
        if before.trim().is_empty() && after.trim().is_empty() {
            bail!(
                "{}: profile has no samples of type {} (profiling off?), nor has the base {}; nothing drawn",
                a.file.display(),
                st.ty,
                a.base.as_deref().unwrap_or(Path::new("")).display()
            );
        }
        let mut diff = Vec::new();
        inferno::differential::from_readers(
            inferno::differential::Options::default(),
            before.as_bytes(),
            after.as_bytes(),
            &mut diff,
        )?;
        opts.title = format!(
            "{} {} (differential: red grew, blue shrank vs {})",
            a.file.display(),
            st.ty,
            a.base.as_deref().unwrap_or(Path::new("")).display()
        );
        let diff = String::from_utf8(diff)?;
        if diff.trim().is_empty() {
            bail!(
                "{}: profile has no samples of type {} (profiling off?); nothing drawn",
                a.file.display(),
                st.ty
            );
        }
        inferno::flamegraph::from_lines(&mut opts, diff.lines(), &mut svg)?;
    } else {
        if after.trim().is_empty() {
            bail!(
                "{}: profile has no samples of type {} (profiling off?); nothing drawn",
                a.file.display(),
                st.ty
            );
        }
        opts.title = format!("{} {}", a.file.display(), st.ty);
        inferno::flamegraph::from_lines(&mut opts, after.lines(), &mut svg)?;
    }
    std::fs::write(&a.output, &svg).with_context(|| format!("writing {}", a.output.display()))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::scaled;

    #[test]
    fn scaling_matches_pprof() {
        assert_eq!(scaled(1_500_000_000, "nanoseconds"), "1.50s");
        assert_eq!(scaled(10_000_000, "nanoseconds"), "10ms");
        assert_eq!(scaled(524_299, "bytes"), "512.01kB");
        assert_eq!(scaled(0, "bytes"), "0");
        assert_eq!(scaled(12345, "count"), "12345");
        assert_eq!(scaled(-2048, "bytes"), "-2kB");
    }
}
