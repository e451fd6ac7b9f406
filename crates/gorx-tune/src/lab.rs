//! The experiment: factors and their levels, the design (full matrix or an orthogonal
//! array), repeats, and the judgement: cells aggregated with their spread, the P99 ×
//! peak-memory Pareto front under the constraints, and a recommendation that must beat
//! the Go defaults, run back to back, by more than the noise.

use crate::cell::{self, CellRun, CellSpec, Protocol};
use serde::Serialize;
use std::collections::BTreeMap;

/// What a factor sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FactorKind {
    Gogc,
    Memlimit,
    /// GOMEMLIMIT as a fraction of the cgroup memory limit.
    MemlimitFraction,
    Gomaxprocs,
    CpuQuota,
}

impl FactorKind {
    pub fn name(self) -> &'static str {
        match self {
            FactorKind::Gogc => "GOGC",
            FactorKind::Memlimit => "GOMEMLIMIT",
            FactorKind::MemlimitFraction => "GOMEMLIMIT fraction",
            FactorKind::Gomaxprocs => "GOMAXPROCS",
            FactorKind::CpuQuota => "cpu quota",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Factor {
    pub kind: FactorKind,
    /// As given: `100`, `off`, `512MiB`, `0.85`, `default`.
    pub levels: Vec<String>,
}

/// A level that leaves the Go default (or no limit) in place.
fn is_default_level(kind: FactorKind, level: &str) -> bool {
    match kind {
        FactorKind::Gogc | FactorKind::Gomaxprocs => level == "default",
        FactorKind::Memlimit | FactorKind::MemlimitFraction | FactorKind::CpuQuota => {
            level == "off" || level == "default"
        }
    }
}

/// Applies one level to a spec. `mem_max` sizes GOMEMLIMIT fractions.
fn apply(
    spec: &mut CellSpec,
    kind: FactorKind,
    level: &str,
    mem_max: Option<u64>,
) -> Result<(), String> {
    if is_default_level(kind, level) {
        return Ok(());
    }
    match kind {
        FactorKind::Gogc => {
            spec.env.insert("GOGC".into(), level.into());
        }
        FactorKind::Memlimit => {
            spec.env.insert("GOMEMLIMIT".into(), level.into());
        }
        FactorKind::MemlimitFraction => {
            let f: f64 = level.parse().map_err(|_| {
                format!("--memlimit-fraction {level}: expected a number such as 0.85")
            })?;
            let max = mem_max.ok_or("--memlimit-fraction needs --mem-max")?;
            if !(0.0..=1.0).contains(&f) {
                return Err(format!("--memlimit-fraction {level}: expected 0 to 1"));
            }
            spec.env
                .insert("GOMEMLIMIT".into(), format!("{}", (f * max as f64) as u64));
        }
        FactorKind::Gomaxprocs => {
            spec.env.insert("GOMAXPROCS".into(), level.into());
        }
        FactorKind::CpuQuota => {
            let q: f64 = level
                .parse()
                .map_err(|_| format!("--cpu-quota {level}: expected CPUs such as 0.5"))?;
            spec.cpu_quota = Some(q);
        }
    }
    Ok(())
}

/// How the cells are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Design {
    Full,
    Orthogonal,
}

/// The level index of every factor, per cell. The full matrix, or a strength-2
/// orthogonal array OA(p², p+1, p, 2) for the smallest prime p ≥ the largest level count
/// (L4, L9, L25, L49): every pair of levels of any two factors meets equally often, so
/// each factor's main effect is estimated from all cells. Factors with fewer levels than
/// p reuse their levels (the usual dummy-level assignment).
pub fn design_rows(levels: &[usize], design: Design) -> (Vec<Vec<usize>>, Design) {
    let full = || {
        let mut rows = vec![Vec::new()];
        for &n in levels {
            rows = rows
                .into_iter()
                .flat_map(|r| {
                    (0..n).map(move |i| {
                        let mut r = r.clone();
                        r.push(i);
                        r
                    })
                })
                .collect();
        }
        rows
    };
    if design == Design::Full || levels.is_empty() {
        return (full(), Design::Full);
    }
    let max = *levels.iter().max().unwrap_or(&1);
    let Some(p) = [2usize, 3, 5, 7].into_iter().find(|&p| p >= max) else {
        return (full(), Design::Full);
    };
    let full_size: usize = levels.iter().product();
    if levels.len() > p + 1 || full_size <= p * p {
        // Too many factors for the array, or the full matrix is no larger.
        return (full(), Design::Full);
    }
    let mut rows = Vec::with_capacity(p * p);
    for i in 0..p {
        for j in 0..p {
            // Columns: j, i, i + j, i + 2j, ... (mod p).
            let cols: Vec<usize> = std::iter::once(j)
                .chain(std::iter::once(i))
                .chain((1..p).map(|k| (i + k * j) % p))
                .collect();
            rows.push(
                levels
                    .iter()
                    .enumerate()
                    .map(|(f, &n)| cols[f] % n)
                    .collect(),
            );
        }
    }
    (rows, Design::Orthogonal)
}

/// A configuration's runs, summarised.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub env: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<f64>,
    /// The level of each factor, by factor name.
    pub levels: BTreeMap<String, String>,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub rps: f64,
    pub errors: u64,
    pub timeouts: u64,
    pub oom: bool,
    pub gc_cycles: u64,
    pub gc_cpu_percent: f64,
    pub peak_rss_bytes: u64,
    pub throttled_periods: u64,
    pub runs: usize,
    /// (max − min) / median of P99 over the runs, in percent.
    pub p99_spread_percent: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Why the cell cannot be recommended (a failure, errors, OOM, the rate, --max-rss);
    /// set by [`run`] once the constraints are known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excluded: Option<String>,
}

fn median_u64(mut v: Vec<u64>) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[v.len() / 2]
}

fn median_f64(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn spread_percent(v: &[u64]) -> f64 {
    let m = median_u64(v.to_vec());
    if v.len() < 2 || m == 0 {
        return 0.0;
    }
    let (lo, hi) = (v.iter().min().unwrap_or(&0), v.iter().max().unwrap_or(&0));
    ((hi - lo) as f64 / m as f64 * 1000.0).round() / 10.0
}

/// Summarises one spec's runs: medians of the successful runs; any failure fails the cell.
pub fn summarise(levels: BTreeMap<String, String>, spec: &CellSpec, runs: &[CellRun]) -> Cell {
    let ok: Vec<&CellRun> = runs.iter().filter(|r| r.failure.is_none()).collect();
    let med = |f: &dyn Fn(&CellRun) -> u64| median_u64(ok.iter().map(|r| f(r)).collect());
    let p99s: Vec<u64> = ok.iter().map(|r| r.p99_ns).collect();
    Cell {
        env: spec.env.clone(),
        cpu_quota: spec.cpu_quota,
        levels,
        p50_ns: med(&|r| r.p50_ns),
        p99_ns: med(&|r| r.p99_ns),
        p999_ns: med(&|r| r.p999_ns),
        rps: median_f64(ok.iter().map(|r| r.rps).collect()),
        errors: runs.iter().map(|r| r.errors).sum(),
        timeouts: runs.iter().map(|r| r.timeouts).sum(),
        oom: runs.iter().any(|r| r.oom),
        gc_cycles: med(&|r| r.gc_cycles),
        gc_cpu_percent: median_f64(ok.iter().map(|r| r.gc_cpu_percent).collect()),
        peak_rss_bytes: runs.iter().map(|r| r.peak_rss_bytes).max().unwrap_or(0),
        throttled_periods: med(&|r| r.throttled_periods),
        runs: runs.len(),
        p99_spread_percent: spread_percent(&p99s),
        failure: runs.iter().find_map(|r| r.failure.clone()),
        excluded: None,
    }
}

/// What the user may not exceed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Constraints {
    pub max_rss_bytes: Option<u64>,
    /// The target rate: a cell must achieve 95% of it.
    pub rate: f64,
}

/// Why a cell is not a candidate, or None.
pub fn disqualified(c: &Cell, k: &Constraints) -> Option<String> {
    if let Some(f) = &c.failure {
        return Some(f.clone());
    }
    if c.oom {
        return Some("OOM-killed".into());
    }
    if c.errors + c.timeouts > 0 {
        return Some(format!("{} errors, {} timeouts", c.errors, c.timeouts));
    }
    if let Some(max) = k.max_rss_bytes
        && c.peak_rss_bytes > max
    {
        return Some(format!(
            "peak RSS {} MiB over --max-rss",
            c.peak_rss_bytes >> 20
        ));
    }
    if c.rps < 0.95 * k.rate {
        return Some(format!("achieved {:.0} of {:.0} req/s", c.rps, k.rate));
    }
    None
}

/// Indices of the candidates on the Pareto front of (P99, peak RSS): no other candidate
/// is at least as good on both and better on one. Lowest P99 first.
pub fn pareto_front(cells: &[Cell], k: &Constraints) -> Vec<usize> {
    let cands: Vec<usize> = (0..cells.len())
        .filter(|&i| disqualified(&cells[i], k).is_none())
        .collect();
    let mut front: Vec<usize> = cands
        .iter()
        .copied()
        .filter(|&i| {
            !cands.iter().any(|&j| {
                j != i
                    && cells[j].p99_ns <= cells[i].p99_ns
                    && cells[j].peak_rss_bytes <= cells[i].peak_rss_bytes
                    && (cells[j].p99_ns < cells[i].p99_ns
                        || cells[j].peak_rss_bytes < cells[i].peak_rss_bytes)
            })
        })
        .collect();
    front.sort_by_key(|&i| (cells[i].p99_ns, cells[i].peak_rss_bytes));
    front
}

/// The confirmation: the chosen configuration against the Go defaults, back to back.
#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    pub env: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<f64>,
    pub p99_ns: u64,
    pub baseline_p99_ns: u64,
    pub peak_rss_bytes: u64,
    pub baseline_peak_rss_bytes: u64,
    /// (baseline − chosen) / baseline P99, in percent, from the confirmation runs.
    pub improvement_percent: f64,
    /// The larger P99 spread of the two in the confirmation runs, in percent.
    pub noise_percent: f64,
    /// True when the improvement exceeds the noise: only then is it a recommendation.
    pub beats_defaults: bool,
    pub verdict: String,
}

/// Confirms `chosen` against the defaults with `rounds` alternating runs of each.
pub fn confirm(
    p: &Protocol,
    chosen: &CellSpec,
    rounds: usize,
    serial: &mut usize,
) -> Recommendation {
    let defaults = CellSpec {
        env: BTreeMap::new(),
        cpu_quota: chosen.cpu_quota,
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds.max(2) {
        *serial += 1;
        b.push(cell::run(p, &defaults, *serial));
        *serial += 1;
        a.push(cell::run(p, chosen, *serial));
    }
    let ca = summarise(BTreeMap::new(), chosen, &a);
    let cb = summarise(BTreeMap::new(), &defaults, &b);
    let improvement = if cb.p99_ns > 0 {
        ((cb.p99_ns as f64 - ca.p99_ns as f64) / cb.p99_ns as f64 * 1000.0).round() / 10.0
    } else {
        0.0
    };
    let noise = ca.p99_spread_percent.max(cb.p99_spread_percent);
    let failed = ca.failure.is_some() || cb.failure.is_some();
    let beats = !failed && improvement > noise && improvement > 0.0;
    let verdict = if failed {
        format!(
            "the confirmation failed: {}",
            ca.failure.or(cb.failure).unwrap_or_default()
        )
    } else if chosen.env.is_empty() {
        "the Go defaults are on the front: nothing to change".into()
    } else if beats {
        format!(
            "{} lowers P99 from {:.2} to {:.2} ms ({improvement:.1}%, noise ±{noise:.1}%) at a peak RSS of {} MiB (defaults: {} MiB)",
            chosen.label(),
            cb.p99_ns as f64 / 1e6,
            ca.p99_ns as f64 / 1e6,
            ca.peak_rss_bytes >> 20,
            cb.peak_rss_bytes >> 20
        )
    } else {
        format!(
            "nothing beats the Go defaults beyond noise: {} gives a P99 of {:.2} ms against the defaults' {:.2} ms ({:+.1}%) with a noise of ±{noise:.1}%; keep the defaults",
            chosen.label(),
            ca.p99_ns as f64 / 1e6,
            cb.p99_ns as f64 / 1e6,
            -improvement
        )
    };
    Recommendation {
        env: chosen.env.clone(),
        cpu_quota: chosen.cpu_quota,
        p99_ns: ca.p99_ns,
        baseline_p99_ns: cb.p99_ns,
        peak_rss_bytes: ca.peak_rss_bytes,
        baseline_peak_rss_bytes: cb.peak_rss_bytes,
        improvement_percent: improvement,
        noise_percent: noise,
        beats_defaults: beats,
        verdict,
    }
}

/// The whole lab's result.
#[derive(Debug, Clone, Serialize)]
pub struct LabReport {
    pub schema: u32,
    pub design: Design,
    pub factors: Vec<Factor>,
    pub cells: Vec<Cell>,
    /// Indices into `cells`.
    pub pareto_front: Vec<usize>,
    /// Per factor: (max − min) of the mean P99 over its levels / the overall mean, in %.
    pub sensitivity_percent: BTreeMap<String, f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<Recommendation>,
    /// Why there is no recommendation, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A cell's level label per factor name, and the configuration they make.
pub type LabelledSpec = (BTreeMap<String, String>, CellSpec);

/// The specs of a design, with each cell's level labels.
pub fn cells_of(
    factors: &[Factor],
    design: Design,
    mem_max: Option<u64>,
) -> Result<(Vec<LabelledSpec>, Design), String> {
    let counts: Vec<usize> = factors.iter().map(|f| f.levels.len().max(1)).collect();
    let (rows, used) = design_rows(&counts, design);
    let mut out = Vec::new();
    for row in rows {
        let mut spec = CellSpec::default();
        let mut labels = BTreeMap::new();
        for (f, &li) in factors.iter().zip(&row) {
            let level = &f.levels[li];
            apply(&mut spec, f.kind, level, mem_max)?;
            labels.insert(f.kind.name().to_string(), level.clone());
        }
        // An orthogonal array with dummy levels can repeat a row.
        if !out
            .iter()
            .any(|(_, s): &(BTreeMap<String, String>, CellSpec)| *s == spec)
        {
            out.push((labels, spec));
        }
    }
    Ok((out, used))
}

/// Main effects: for each factor, the spread of mean P99 across its levels.
pub fn sensitivity(factors: &[Factor], cells: &[Cell]) -> BTreeMap<String, f64> {
    let ok: Vec<&Cell> = cells
        .iter()
        .filter(|c| c.failure.is_none() && c.p99_ns > 0)
        .collect();
    let overall = ok.iter().map(|c| c.p99_ns as f64).sum::<f64>() / ok.len().max(1) as f64;
    let mut out = BTreeMap::new();
    for f in factors {
        if f.levels.len() < 2 || overall <= 0.0 {
            continue;
        }
        let name = f.kind.name();
        let means: Vec<f64> = f
            .levels
            .iter()
            .filter_map(|l| {
                let v: Vec<f64> = ok
                    .iter()
                    .filter(|c| c.levels.get(name) == Some(l))
                    .map(|c| c.p99_ns as f64)
                    .collect();
                (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
            })
            .collect();
        if means.len() >= 2 {
            let (lo, hi) = means
                .iter()
                .fold((f64::MAX, f64::MIN), |(lo, hi), &m| (lo.min(m), hi.max(m)));
            out.insert(
                name.to_string(),
                ((hi - lo) / overall * 1000.0).round() / 10.0,
            );
        }
    }
    out
}

/// Runs the lab: every cell `repeat` times (interleaved, so drift on a shared host hits
/// all cells alike), then the confirmation of the best candidate. `progress` hears of
/// each run as it ends.
pub fn run(
    p: &Protocol,
    factors: Vec<Factor>,
    design: Design,
    repeat: usize,
    constraints: Constraints,
    progress: &mut dyn FnMut(&str),
) -> Result<LabReport, String> {
    let (specs, used) = cells_of(&factors, design, p.mem_max_bytes)?;
    let mut runs: Vec<Vec<CellRun>> = vec![Vec::new(); specs.len()];
    let mut serial = 0;
    for round in 0..repeat.max(1) {
        for (i, (_, spec)) in specs.iter().enumerate() {
            serial += 1;
            let r = cell::run(p, spec, serial);
            progress(&format!(
                "round {}/{} {}: {}",
                round + 1,
                repeat.max(1),
                spec.label(),
                match &r.failure {
                    Some(f) => format!("failed: {f}"),
                    None => format!(
                        "P99 {:.2} ms, {:.0} req/s, peak {} MiB, {} GC",
                        r.p99_ns as f64 / 1e6,
                        r.rps,
                        r.peak_rss_bytes >> 20,
                        r.gc_cycles
                    ),
                }
            ));
            runs[i].push(r);
        }
    }
    let mut cells: Vec<Cell> = specs
        .iter()
        .zip(&runs)
        .map(|((labels, spec), r)| summarise(labels.clone(), spec, r))
        .collect();
    for c in &mut cells {
        c.excluded = disqualified(c, &constraints);
    }
    let front = pareto_front(&cells, &constraints);
    let sens = sensitivity(&factors, &cells);
    let (recommendation, note) = match front.first() {
        Some(&best) => {
            let spec = &specs[best].1;
            progress(&format!("confirming {} against the defaults", spec.label()));
            (
                Some(confirm(p, spec, repeat.max(2), &mut serial)),
                None,
            )
        }
        None => (
            None,
            Some("no configuration met the constraints (no errors, no OOM, the target rate, --max-rss)".into()),
        ),
    };
    Ok(LabReport {
        schema: 1,
        design: used,
        factors,
        cells,
        pareto_front: front,
        sensitivity_percent: sens,
        recommendation,
        note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthogonal_arrays_balance_every_pair() {
        // Four factors of three levels: L9 instead of 81 cells.
        let (rows, used) = design_rows(&[3, 3, 3, 3], Design::Orthogonal);
        assert_eq!(used, Design::Orthogonal);
        assert_eq!(rows.len(), 9);
        for a in 0..4 {
            for b in (a + 1)..4 {
                let mut seen = std::collections::HashMap::new();
                for r in &rows {
                    *seen.entry((r[a], r[b])).or_insert(0) += 1;
                }
                assert_eq!(seen.len(), 9, "columns {a},{b}");
                assert!(seen.values().all(|&n| n == 1));
            }
        }
        // Small matrices stay full.
        assert_eq!(
            design_rows(&[2, 2], Design::Orthogonal),
            (
                vec![vec![0, 0], vec![0, 1], vec![1, 0], vec![1, 1]],
                Design::Full
            )
        );
        assert_eq!(design_rows(&[5, 4, 3], Design::Full).0.len(), 60);
        assert_eq!(design_rows(&[5, 4, 3], Design::Orthogonal).0.len(), 25);
    }

    fn cell(p99_ms: u64, peak_mib: u64) -> Cell {
        Cell {
            env: BTreeMap::new(),
            cpu_quota: None,
            levels: BTreeMap::new(),
            p50_ns: 0,
            p99_ns: p99_ms * 1_000_000,
            p999_ns: 0,
            rps: 100.0,
            errors: 0,
            timeouts: 0,
            oom: false,
            gc_cycles: 0,
            gc_cpu_percent: 0.0,
            peak_rss_bytes: peak_mib << 20,
            throttled_periods: 0,
            runs: 1,
            p99_spread_percent: 0.0,
            failure: None,
            excluded: None,
        }
    }

    #[test]
    fn the_front_keeps_only_undominated_candidates() {
        let k = Constraints {
            max_rss_bytes: Some(300 << 20),
            rate: 100.0,
        };
        let mut oom = cell(1, 10);
        oom.oom = true;
        let cells = vec![
            cell(10, 100),
            cell(8, 200),
            cell(12, 90),
            cell(9, 250),
            oom,
            cell(2, 400),
        ];
        // 9 ms/250 MiB is dominated by 8/200; the OOM cell and the one over --max-rss are out.
        assert_eq!(pareto_front(&cells, &k), vec![1, 0, 2]);
        assert!(disqualified(&cells[5], &k).unwrap().contains("--max-rss"));
    }

    #[test]
    fn levels_become_environment() {
        let factors = vec![
            Factor {
                kind: FactorKind::Gogc,
                levels: vec!["default".into(), "200".into()],
            },
            Factor {
                kind: FactorKind::MemlimitFraction,
                levels: vec!["0.5".into()],
            },
        ];
        let (cells, _) = cells_of(&factors, Design::Full, Some(1 << 30)).unwrap();
        assert_eq!(cells.len(), 2);
        assert_eq!(cells[0].1.env.get("GOGC"), None);
        assert_eq!(cells[1].1.env["GOGC"], "200");
        assert_eq!(cells[1].1.env["GOMEMLIMIT"], (1u64 << 29).to_string());
        assert!(cells_of(&factors, Design::Full, None).is_err());
    }
}
