//! Analyses of pprof profiles: top tables and findings.
//!
//! Entry points (called by `gorx analyze` and `gorx pprof`):
//! - [`top_table`]: flat/cum by function for one sample type, optionally against a base
//!   profile (growth), in `go tool pprof -top` order.
//! - [`profile_findings`]`(p, source)`: every finding a protobuf profile supports, by kind
//!   ([`ProfileKind::detect`]): CPU → `cpu.gc-share`, `alloc.contention`; mutex →
//!   `contention.mutex`; block → `contention.block`.
//! - [`heap_growth_findings`]`(new, base, source)`: in-use growth between two heap
//!   profiles by site → `gc.heap-growth` (the live heap grew, with the sites that grew).
//! - [`text_profile_findings`]`(t, source)`: from the legacy `?debug=1` text forms (heap
//!   MemStats trailer → memory findings; mutex/block → contention findings).
//! - [`heap_sites`]/[`site_table`]: top in-use and allocating sites, for reports.
//! - [`profiling_off_finding`] with [`is_profiling_off`] / [`contention_kind`] (an empty
//!   mutex/block profile says so); the block and mutex profiles of one process are judged
//!   together by [`crate::block_rate::contention_findings`]. The heap sites beside
//!   gc.heap-growth and long GC pauses are named by the joins of [`crate::judge`].
//!
//! A "site" is the first frame, from the leaf, that is not in the runtime or sync
//! packages: the user code that allocated, locked or blocked.

use crate::finding::{Evidence, Finding, Severity};
use crate::thresholds as t;
use gorx_formats::pprof::legacy::ContentionProfile;
use gorx_formats::pprof::{Profile, Sample};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// One row of a top table. Values are in the sample type's base unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopRow {
    pub function: String,
    pub flat: i64,
    pub cum: i64,
}

/// `go tool pprof -top` appends `(inline)` to functions only ever called through inlined
/// calls and `(partial-inline)` to those called both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inlining {
    NotInlined,
    Inline,
    PartialInline,
}

impl Inlining {
    /// The label pprof prints after the name ("" when not inlined).
    pub fn label(self) -> &'static str {
        match self {
            Inlining::NotInlined => "",
            Inlining::Inline => "(inline)",
            Inlining::PartialInline => "(partial-inline)",
        }
    }
}

/// A top table over every function with a non-zero value, in `go tool pprof` order
/// (|flat| descending, then name, then |cum| descending).
#[derive(Debug, Clone)]
pub struct TopTable {
    pub sample_type: String,
    pub unit: String,
    /// Sum of |value| over samples (pprof's total; for a diff, over merged stacks).
    pub total: i64,
    pub rows: Vec<TopRow>,
}

/// Interns function display names and maps each location to its frames' name ids.
struct Names {
    ids: HashMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
}

impl Names {
    fn new() -> Self {
        Self {
            ids: HashMap::new(),
            names: Vec::new(),
        }
    }
    fn id(&mut self, name: &Arc<str>) -> u32 {
        if let Some(&i) = self.ids.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.clone());
        self.ids.insert(name.clone(), i);
        i
    }
    /// Per location: name ids, leaf first (inlined frames expanded).
    fn locations(&mut self, p: &Profile) -> LocNodes {
        let mut ln = LocNodes {
            offsets: Vec::with_capacity(p.locations.len() + 1),
            nodes: Vec::with_capacity(p.locations.len()),
        };
        ln.offsets.push(0);
        for l in &p.locations {
            for line in &l.lines {
                let name = &p.functions[line.function as usize].name;
                let id = match &l.unsymbolized_name {
                    Some(u) if name.is_empty() => self.id(u),
                    _ => self.id(name),
                };
                ln.nodes.push(id);
            }
            if let (true, Some(u)) = (l.lines.is_empty(), &l.unsymbolized_name) {
                let id = self.id(u);
                ln.nodes.push(id);
            }
            ln.offsets.push(ln.nodes.len() as u32);
        }
        ln
    }
}

/// Node ids per location in one flat array (CSR): random access by location id stays in
/// cache, which matters with millions of samples over 100k+ locations.
struct LocNodes {
    offsets: Vec<u32>,
    nodes: Vec<u32>,
}

impl std::ops::Index<usize> for LocNodes {
    type Output = [u32];
    #[inline]
    fn index(&self, li: usize) -> &[u32] {
        &self.nodes[self.offsets[li] as usize..self.offsets[li + 1] as usize]
    }
}

/// Adds one profile's flat/cum for `index` into `flat`/`cum` with `sign`.
fn accumulate(
    p: &Profile,
    index: usize,
    loc_nodes: &LocNodes,
    n_nodes: usize,
    sign: i64,
    flat: &mut Vec<i64>,
    cum: &mut Vec<i64>,
) {
    flat.resize(n_nodes, 0);
    cum.resize(n_nodes, 0);
    // Stamp per node: the last sample that added to its cum (dedups recursion cheaply).
    let mut stamp = vec![u32::MAX; n_nodes];
    for (si, s) in p.samples.iter().enumerate() {
        let v = s
            .values
            .get(index)
            .copied()
            .unwrap_or(0)
            .saturating_mul(sign);
        if v == 0 {
            continue;
        }
        let mut leaf = true;
        for &li in &s.locations {
            for &n in &loc_nodes[li as usize] {
                // Saturating: values come from the input and may be absurd.
                if leaf {
                    flat[n as usize] = flat[n as usize].saturating_add(v);
                    leaf = false;
                }
                if stamp[n as usize] != si as u32 {
                    stamp[n as usize] = si as u32;
                    cum[n as usize] = cum[n as usize].saturating_add(v);
                }
            }
        }
    }
}

/// The top table of sample type `index` of `p`; with `base` (a profile and its index of
/// the same sample type) the values are `p − base`, as `go tool pprof -base` shows.
pub fn top_table(p: &Profile, index: usize, base: Option<(&Profile, usize)>) -> TopTable {
    let mut names = Names::new();
    let locs = names.locations(p);
    let base_locs = base.map(|(b, _)| names.locations(b));
    let n = names.names.len();
    let (mut flat, mut cum) = (Vec::new(), Vec::new());
    accumulate(p, index, &locs, n, 1, &mut flat, &mut cum);
    let total = if let (Some((b, bi)), Some(bl)) = (base, &base_locs) {
        accumulate(b, bi, bl, n, -1, &mut flat, &mut cum);
        diff_total(p, index, &locs, b, bi, bl)
    } else {
        p.total(index)
    };
    let mut rows: Vec<TopRow> = (0..n)
        .filter(|&i| flat[i] != 0 || cum[i] != 0)
        .map(|i| TopRow {
            function: names.names[i].to_string(),
            flat: flat[i],
            cum: cum[i],
        })
        .collect();
    rows.sort_by(|a, b| {
        b.flat
            .unsigned_abs()
            .cmp(&a.flat.unsigned_abs())
            .then_with(|| a.function.cmp(&b.function))
            .then_with(|| b.cum.unsigned_abs().cmp(&a.cum.unsigned_abs()))
    });
    let st = p.sample_types.get(index);
    TopTable {
        sample_type: st.map(|s| s.ty.to_string()).unwrap_or_default(),
        unit: st.map(|s| s.unit.to_string()).unwrap_or_default(),
        total,
        rows,
    }
}

/// pprof's inline labels for the functions `shown` (a top table's displayed rows),
/// computed as `go tool pprof` does on its trimmed graph: walking each stack from the
/// root over the shown functions only, an edge caller→callee is inline when the callee
/// is not the last (outermost) frame of its location, and stays inline only if every
/// occurrence is; a function is `(inline)` when all its incoming edges are inline and
/// `(partial-inline)` when some are.
pub fn inline_labels(p: &Profile, index: usize, shown: &[TopRow]) -> Vec<Inlining> {
    let mut names = Names::new();
    let locs = names.locations(p);
    let mut kept = vec![false; names.names.len()];
    let mut row_of = vec![usize::MAX; names.names.len()];
    for (r, row) in shown.iter().enumerate() {
        if let Some(&i) = names.ids.get(row.function.as_str()) {
            kept[i as usize] = true;
            row_of[i as usize] = r;
        }
    }
    // (caller, callee) → inline so far.
    let mut edges: HashMap<(u32, u32), bool> = HashMap::new();
    for s in &p.samples {
        if s.values.get(index).copied().unwrap_or(0) == 0 {
            continue;
        }
        let mut parent: Option<u32> = None;
        for &li in s.locations.iter().rev() {
            let nodes = &locs[li as usize];
            for (ni, &n) in nodes.iter().enumerate().rev() {
                if !kept[n as usize] {
                    continue;
                }
                if let Some(par) = parent
                    && par != n
                {
                    let inline = ni != nodes.len() - 1;
                    let e = edges.entry((par, n)).or_insert(inline);
                    *e &= inline;
                }
                parent = Some(n);
            }
        }
    }
    let mut bits = vec![0u8; shown.len()];
    for ((_, callee), inline) in edges {
        let r = row_of[callee as usize];
        if r != usize::MAX {
            bits[r] |= if inline { 1 } else { 2 };
        }
    }
    bits.into_iter()
        .map(|b| match b {
            1 => Inlining::Inline,
            3 => Inlining::PartialInline,
            _ => Inlining::NotInlined,
        })
        .collect()
}

/// Total of a diff: samples with identical stacks (by name) merge, then sum |value|.
fn diff_total(p: &Profile, pi: usize, pl: &LocNodes, b: &Profile, bi: usize, bl: &LocNodes) -> i64 {
    let mut m: HashMap<Vec<u32>, i64> = HashMap::new();
    for (prof, idx, locs, sign) in [(p, pi, pl, 1i64), (b, bi, bl, -1)] {
        for s in &prof.samples {
            let key: Vec<u32> = s
                .locations
                .iter()
                .flat_map(|&l| locs[l as usize].iter().copied())
                .collect();
            let v = s.values.get(idx).copied().unwrap_or(0).saturating_mul(sign);
            let e = m.entry(key).or_default();
            *e = e.saturating_add(v);
        }
    }
    m.values()
        .fold(0i64, |a, v| a.saturating_add(v.saturating_abs()))
}

/// What kind of Go profile this is, from its sample types and stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileKind {
    Cpu,
    Heap,
    Allocs,
    Goroutine,
    ThreadCreate,
    Mutex,
    Block,
    Unknown,
}

impl ProfileKind {
    pub fn detect(p: &Profile) -> Self {
        let types: Vec<&str> = p.sample_types.iter().map(|t| &*t.ty).collect();
        match types.as_slice() {
            ["samples", "cpu"] => ProfileKind::Cpu,
            [.., "inuse_space"] | ["alloc_objects", "alloc_space", ..] => {
                if p.default_sample_type.as_deref() == Some("alloc_space") {
                    ProfileKind::Allocs
                } else {
                    ProfileKind::Heap
                }
            }
            ["goroutine"] => ProfileKind::Goroutine,
            ["threadcreate"] => ProfileKind::ThreadCreate,
            ["contentions", "delay"] => {
                // Mutex profiles record the unlocker's stack; block profiles the waiter's.
                let unlock = p.samples.iter().take(64).any(|s| {
                    p.frames(s).take(3).any(|f| {
                        f.function.ends_with("Unlock")
                            || f.function.ends_with("RUnlock")
                            || f.function == "runtime.unlock"
                            || f.function == "runtime._LostContendedRuntimeLock"
                    })
                });
                if unlock {
                    ProfileKind::Mutex
                } else {
                    ProfileKind::Block
                }
            }
            _ => ProfileKind::Unknown,
        }
    }
}

/// True for frames that are machinery rather than the user's code.
pub fn is_runtime_frame(f: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "runtime.",
        "runtime/internal/",
        "internal/runtime/",
        "internal/sync.",
        "sync.",
        "sync/atomic.",
        "<unknown>",
    ];
    PREFIXES.iter().any(|p| f.starts_with(p)) || (f.starts_with('[') && f.ends_with(']'))
}

/// The site of a sample: first frame from the leaf outside runtime/sync, else the leaf.
pub fn site_of<'a>(p: &'a Profile, s: &'a Sample) -> &'a str {
    let mut leaf = None;
    for f in p.frames(s) {
        leaf.get_or_insert(f.function);
        if !is_runtime_frame(f.function) {
            return f.function;
        }
    }
    leaf.unwrap_or("<no stack>")
}

/// A value per site, largest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteRow {
    pub site: String,
    pub value: i64,
}

/// Sums sample type `index` by site (see [`site_of`]), largest |value| first.
pub fn site_table(p: &Profile, index: usize) -> Vec<SiteRow> {
    let mut m: HashMap<&str, i64> = HashMap::new();
    for s in &p.samples {
        let v = s.values.get(index).copied().unwrap_or(0);
        if v != 0 {
            sadd(m.entry(site_of(p, s)).or_default(), v);
        }
    }
    sorted_sites(m)
}

fn sorted_sites(m: HashMap<&str, i64>) -> Vec<SiteRow> {
    let mut v: Vec<SiteRow> = m
        .into_iter()
        .map(|(k, v)| SiteRow {
            site: k.to_string(),
            value: v,
        })
        .collect();
    v.sort_by(|a, b| {
        b.value
            .unsigned_abs()
            .cmp(&a.value.unsigned_abs())
            .then_with(|| a.site.cmp(&b.site))
    });
    v
}

/// Top in-use and allocation sites of a heap/allocs profile (bytes).
#[derive(Debug, Clone)]
pub struct HeapSites {
    pub inuse_bytes_total: i64,
    pub inuse: Vec<SiteRow>,
    pub alloc_bytes_total: i64,
    pub alloc: Vec<SiteRow>,
}

/// In-use and allocating sites of a heap profile, `None` when it is not one.
pub fn heap_sites(p: &Profile) -> Option<HeapSites> {
    let inuse = p.sample_type_index("inuse_space")?;
    let alloc = p.sample_type_index("alloc_space")?;
    Some(HeapSites {
        inuse_bytes_total: p.total(inuse),
        inuse: site_table(p, inuse),
        alloc_bytes_total: p.total(alloc),
        alloc: site_table(p, alloc),
    })
}

/// Adds input-derived values without overflow panics (absurd values saturate).
#[inline]
fn sadd(x: &mut i64, v: i64) {
    *x = x.saturating_add(v);
}

fn pct(part: f64, whole: f64) -> f64 {
    if whole <= 0.0 {
        0.0
    } else {
        (part / whole * 1000.0).round() / 10.0
    }
}

fn sites_json(rows: &[SiteRow], total: i64, unit_key: &str) -> serde_json::Value {
    rows.iter()
        .take(t::PROFILE_TOP_SITES)
        .map(|r| {
            json!({
                "site": r.site,
                unit_key: r.value,
                "share_percent": pct(r.value as f64, total as f64),
            })
        })
        .collect()
}

/// Every finding a protobuf profile supports. `source` names the file for `sources`.
pub fn profile_findings(p: &Profile, source: &str) -> Vec<Finding> {
    match ProfileKind::detect(p) {
        ProfileKind::Cpu => {
            let mut v = Vec::new();
            v.extend(cpu_gc_share(p, source));
            v.extend(alloc_contention(p, source));
            v
        }
        ProfileKind::Mutex => contention_finding(p, source, true).into_iter().collect(),
        ProfileKind::Block => crate::block_rate::block_findings(
            &[crate::block_rate::BlockInput {
                source,
                profile: p,
                text: false,
            }],
            None,
        ),
        _ => Vec::new(),
    }
}

/// Functions whose presence in a CPU stack means the time is GC work.
fn is_gc_frame(f: &str) -> bool {
    matches!(
        f,
        "runtime.gcBgMarkWorker"
            | "runtime.gcDrain"
            | "runtime.gcDrainN"
            | "runtime.gcDrainMarkWorkerDedicated"
            | "runtime.gcDrainMarkWorkerFractional"
            | "runtime.gcDrainMarkWorkerIdle"
            | "runtime.scanobject"
            | "runtime.scanblock"
            | "runtime.scanstack"
            | "runtime.greyobject"
            | "runtime.gcAssistAlloc"
            | "runtime.gcAssistAlloc1"
            | "runtime.gcMarkDone"
            | "runtime.gcMarkTermination"
            | "runtime.gcStart"
            | "runtime.bgsweep"
            | "runtime.sweepone"
            | "runtime.bgscavenge"
            | "runtime.wbBufFlush"
            | "runtime.wbBufFlush1"
            | "runtime.gcFlushBgCredit"
            | "runtime.markrootSpans"
            | "runtime.markrootBlock"
    ) || f.starts_with("runtime.markroot")
        || f.starts_with("runtime.(*gcWork).")
        || f.starts_with("runtime.(*sweepLocked).")
        || f.starts_with("runtime.(*mspan).sweep")
}

fn is_alloc_frame(f: &str) -> bool {
    matches!(
        f,
        "runtime.mallocgc"
            | "runtime.newobject"
            | "runtime.makeslice"
            | "runtime.growslice"
            | "runtime.makemap"
            | "runtime.newarray"
    ) || f.starts_with("runtime.mallocgc")
}

fn cpu_index(p: &Profile) -> Option<usize> {
    p.sample_types
        .iter()
        .position(|t| &*t.unit == "nanoseconds")
}

/// Site above the allocator: first non-runtime frame rootward of the first alloc frame.
fn alloc_site<'a>(p: &'a Profile, s: &'a Sample) -> Option<&'a str> {
    let mut seen_alloc = false;
    for f in p.frames(s) {
        if is_alloc_frame(f.function) {
            seen_alloc = true;
        } else if seen_alloc && !is_runtime_frame(f.function) {
            return Some(f.function);
        }
    }
    None
}

/// A CPU profile with enough CPU time for shares to mean something: its time index and
/// total.
fn judged_cpu(p: &Profile) -> Option<(usize, i64)> {
    let idx = cpu_index(p)?;
    let total = p.total(idx);
    (total >= t::PROFILE_MIN_CPU_NS).then_some((idx, total))
}

/// One walk over a CPU profile's samples: `classify` sees each sample with its CPU time
/// (and does its own sums); the time of the samples it returns true for is tallied by
/// the site above the allocator ([`alloc_site`]), largest first.
fn walk_cpu<'a>(
    p: &'a Profile,
    idx: usize,
    mut classify: impl FnMut(&'a Sample, i64) -> bool,
) -> Vec<SiteRow> {
    let mut sites: HashMap<&str, i64> = HashMap::new();
    for s in &p.samples {
        let v = s.values.get(idx).copied().unwrap_or(0).saturating_abs();
        if classify(s, v)
            && let Some(site) = alloc_site(p, s)
        {
            sadd(sites.entry(site).or_default(), v);
        }
    }
    sorted_sites(sites)
}

/// Warning from `warn`, critical from `crit`, nothing below.
fn ladder(x: f64, warn: f64, crit: f64) -> Option<Severity> {
    if x >= crit {
        Some(Severity::Critical)
    } else if x >= warn {
        Some(Severity::Warning)
    } else {
        None
    }
}

/// The names of the first [`t::PROFILE_TOP_SITES`] rows.
fn top_names(rows: &[SiteRow]) -> Vec<String> {
    rows.iter()
        .take(t::PROFILE_TOP_SITES)
        .map(|r| r.site.clone())
        .collect()
}

/// The allocating site of a sample: the first frame rootward of the allocator that is
/// user code (outside the runtime and the standard library), else the first outside the
/// runtime (`encoding/json...` when the program's own frames are missing).
fn user_alloc_site<'a>(p: &'a Profile, s: &'a Sample) -> Option<&'a str> {
    let mut seen_alloc = false;
    let mut fallback = None;
    for f in p.frames(s) {
        if is_alloc_frame(f.function) {
            seen_alloc = true;
        } else if seen_alloc && !is_runtime_frame(f.function) {
            if !crate::sites::is_std(f.function) {
                return Some(f.function);
            }
            fallback.get_or_insert(f.function);
        }
    }
    fallback
}

/// Samples a CPU sample stands for: its `samples` count, else its time over the period.
fn sample_count(p: &Profile, s: &Sample, count_idx: Option<usize>, ns: i64) -> i64 {
    match count_idx {
        Some(i) => s.values.get(i).copied().unwrap_or(0).saturating_abs(),
        None if p.period > 0 => ns / p.period,
        None => 0,
    }
}

/// cpu.gc-share: GC work and allocation judged apart, only for a process that burns
/// meaningful CPU in the profile's window.
///
/// - GC work: mark workers, assists (even under mallocgc), sweeping, mark termination:
///   what GOGC/GOMEMLIMIT trade against memory. Its share of CPU sets the severity.
/// - Allocation: mallocgc and below, assists excluded: only allocating less cuts it, so it
///   names the allocating sites (first user frame above mallocgc, sites with at least
///   [`t::CPU_GC_SITE_MIN_SAMPLES`] samples) and raises info, warning only when it
///   dominates.
fn cpu_gc_share(p: &Profile, source: &str) -> Option<Finding> {
    let (idx, total) = judged_cpu(p)?;
    let cores = (p.duration_nanos > 0).then(|| total as f64 / p.duration_nanos as f64);
    if cores.is_some_and(|c| c < t::CPU_GC_SHARE_MIN_CORES) {
        return None;
    }
    let count_idx = p.sample_type_index("samples");
    let (mut gc, mut alloc) = (0i64, 0i64);
    let mut sites: HashMap<&str, (i64, i64)> = HashMap::new();
    for s in &p.samples {
        let v = s.values.get(idx).copied().unwrap_or(0).saturating_abs();
        if v == 0 {
            continue;
        }
        let (mut g, mut a) = (false, false);
        for f in p.frames(s) {
            g |= is_gc_frame(f.function);
            a |= is_alloc_frame(f.function);
        }
        if g {
            sadd(&mut gc, v);
        } else if a {
            sadd(&mut alloc, v);
            if let Some(site) = user_alloc_site(p, s) {
                let e = sites.entry(site).or_default();
                sadd(&mut e.0, v);
                sadd(&mut e.1, sample_count(p, s, count_idx, v));
            }
        }
    }
    let gc_share = gc as f64 / total as f64;
    let alloc_share = alloc as f64 / total as f64;
    let gc_sev = ladder(
        gc_share,
        t::CPU_GC_WORK_WARNING_RATIO,
        t::CPU_GC_WORK_CRITICAL_RATIO,
    );
    let alloc_sev = if alloc_share >= t::CPU_ALLOC_WARNING_RATIO {
        Some(Severity::Warning)
    } else if alloc_share >= t::CPU_ALLOC_INFO_RATIO {
        Some(Severity::Info)
    } else {
        None
    };
    let severity = gc_sev.max(alloc_sev)?;
    let gc_leads = gc_sev >= alloc_sev;
    let mut rows: Vec<(&str, i64, i64)> = sites
        .into_iter()
        .filter(|(_, (_, n))| *n >= t::CPU_GC_SITE_MIN_SAMPLES)
        .map(|(k, (ns, n))| (k, ns, n))
        .collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    rows.truncate(t::PROFILE_TOP_SITES);
    let top: Vec<String> = rows.iter().map(|r| r.0.to_string()).collect();
    let mut ev = Evidence::new();
    ev.insert("cpu_total_ns".into(), json!(total));
    if let Some(c) = cores {
        ev.insert("profile_duration_ns".into(), json!(p.duration_nanos));
        ev.insert("cores_used".into(), json!((c * 100.0).round() / 100.0));
    }
    ev.insert("gc_cpu_ns".into(), json!(gc));
    ev.insert("alloc_cpu_ns".into(), json!(alloc));
    ev.insert("gc_percent".into(), json!(pct(gc as f64, total as f64)));
    ev.insert(
        "alloc_percent".into(),
        json!(pct(alloc as f64, total as f64)),
    );
    ev.insert(
        "top_alloc_sites".into(),
        rows.iter()
            .map(|(site, ns, n)| {
                json!({
                    "site": site,
                    "cpu_ns": ns,
                    "samples": n,
                    "share_percent": pct(*ns as f64, total as f64),
                })
            })
            .collect(),
    );
    let cores_txt = cores
        .map(|c| format!(" ({c:.2} cores in use)"))
        .unwrap_or_default();
    let sites_txt = if top.is_empty() {
        format!(
            "no allocating site reaches {} samples in this profile; a longer CPU profile or the allocs profile (alloc_space) names them",
            t::CPU_GC_SITE_MIN_SAMPLES
        )
    } else {
        format!(
            "allocate less at {} (reuse buffers, preallocate slices and maps, sync.Pool for short-lived objects)",
            top.join(", ")
        )
    };
    let (title, rec) = if gc_leads {
        (
            format!(
                "{:.0}% of the CPU{cores_txt} is GC work (marking, assists, sweeping); allocation takes another {:.0}%",
                gc_share * 100.0,
                alloc_share * 100.0
            ),
            format!(
                "Give the GC more room: raise GOGC (GOGC=200 roughly halves GC work for about twice the heap headroom) and set GOMEMLIMIT to the memory you can afford, so the GC runs rarely until it is needed. The GC's work also follows the allocation rate: {sites_txt}."
            ),
        )
    } else {
        (
            format!(
                "{:.0}% of the CPU{cores_txt} goes to allocation (mallocgc); GC work is {:.0}%",
                alloc_share * 100.0,
                gc_share * 100.0
            ),
            format!(
                "The cost is in the allocator, not the collector, so GOGC will not cut it: {sites_txt}."
            ),
        )
    };
    Some(Finding {
        id: "cpu.gc-share",
        severity,
        title,
        evidence: ev,
        recommendation: rec,
        sources: vec![source.to_string()],
        sites: top,
    })
}

fn is_lock_frame(f: &str) -> bool {
    matches!(
        f,
        "runtime.lock"
            | "runtime.lock2"
            | "runtime.lockWithRank"
            | "runtime.futex"
            | "runtime.futexsleep"
            | "runtime.osyield"
            | "runtime.procyield"
            | "runtime.semasleep"
            | "runtime.usleep"
            | "runtime.(*spanSpinLock).lock"
    )
}

fn is_span_refill_frame(f: &str) -> bool {
    matches!(
        f,
        "runtime.(*mcentral).cacheSpan"
            | "runtime.(*mcentral).grow"
            | "runtime.(*mheap).alloc"
            | "runtime.(*mheap).allocSpan"
            | "runtime.(*mheap).alloc.func1"
            | "runtime.(*mcache).refill"
            | "runtime.(*mcache).allocLarge"
    )
}

fn alloc_contention(p: &Profile, source: &str) -> Option<Finding> {
    let (idx, total) = judged_cpu(p)?;
    let (mut malloc, mut locked) = (0i64, 0i64);
    let mut refill_fns: HashMap<&str, i64> = HashMap::new();
    let sites = walk_cpu(p, idx, |s, v| {
        // Leaf first: a lock frame, then (rootward) a span refill, then mallocgc.
        let (mut lock, mut refill, mut under_malloc) = (false, None, false);
        for f in p.frames(s) {
            if !lock {
                lock = is_lock_frame(f.function);
            } else if refill.is_none() && is_span_refill_frame(f.function) {
                refill = Some(f.function);
            }
            if refill.is_some() && is_alloc_frame(f.function) {
                under_malloc = true;
                break;
            }
        }
        let in_malloc = under_malloc || p.frames(s).any(|f| is_alloc_frame(f.function));
        if in_malloc {
            sadd(&mut malloc, v);
        }
        if let (true, Some(r), true) = (lock, refill, under_malloc) {
            sadd(&mut locked, v);
            sadd(refill_fns.entry(r).or_default(), v);
            return true;
        }
        false
    });
    let share_total = locked as f64 / total as f64;
    let share_malloc = if malloc > 0 {
        locked as f64 / malloc as f64
    } else {
        0.0
    };
    if share_malloc < t::ALLOC_CONTENTION_MIN_MALLOC_RATIO {
        return None;
    }
    let severity = ladder(
        share_total,
        t::ALLOC_CONTENTION_WARNING_RATIO,
        t::ALLOC_CONTENTION_CRITICAL_RATIO,
    )?;
    let refill = sorted_sites(refill_fns);
    let top = top_names(&sites);
    let mut ev = Evidence::new();
    ev.insert("cpu_total_ns".into(), json!(total));
    ev.insert("mallocgc_cpu_ns".into(), json!(malloc));
    ev.insert("alloc_lock_cpu_ns".into(), json!(locked));
    ev.insert(
        "alloc_lock_share_of_cpu_percent".into(),
        json!(pct(locked as f64, total as f64)),
    );
    ev.insert(
        "alloc_lock_share_of_malloc_percent".into(),
        json!(pct(locked as f64, malloc as f64)),
    );
    ev.insert("lock_paths".into(), sites_json(&refill, locked, "cpu_ns"));
    ev.insert(
        "top_alloc_sites".into(),
        sites_json(&sites, locked, "cpu_ns"),
    );
    Some(Finding {
        id: "alloc.contention",
        severity,
        title: format!(
            "{:.0}% of CPU is spent waiting on the allocator's span locks (mcentral/mheap)",
            share_total * 100.0
        ),
        evidence: ev,
        recommendation: format!(
            "Many Ps refill their mcaches from the same size classes at once. Cut the allocation rate at {} (reuse objects with sync.Pool, preallocate, avoid per-request small allocations); if the work is allocation-bound, fewer Ps (GOMAXPROCS) may be faster; newer Go releases reduce this lock traffic.",
            if top.is_empty() {
                "the hottest allocation sites".to_string()
            } else {
                top.join(", ")
            }
        ),
        sources: vec![source.to_string()],
        sites: top,
    })
}

fn contention_finding(p: &Profile, source: &str, mutex: bool) -> Option<Finding> {
    let basis = DelayBasis::of_profile(p);
    let role = if mutex {
        ContentionRole::MutexProfile
    } else {
        ContentionRole::BlockedSends
    };
    contention_finding_on(p, vec![source.to_string()], role, &basis, Evidence::new())
}

/// What the waits handed to [`contention_finding_on`] are: it sets the finding id, the
/// thresholds, the severity cap and the wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentionRole {
    /// A mutex profile: delay attributed to the unlocker's stack (contention.mutex).
    MutexProfile,
    /// Block-profile waits in sync.Mutex/RWMutex Lock: lock contention seen from the
    /// waiters (contention.mutex, on the mutex thresholds).
    BlockedLocks,
    /// Block-profile waits of senders on channels, and waits of no known primitive:
    /// backpressure (contention.block).
    BlockedSends,
    /// Block-profile waits in WaitGroup.Wait, Cond.Wait, errgroup.Wait: a caller waiting
    /// for work it started. Info at most (contention.block).
    ForkJoin,
    /// Block-profile waits in select: idle loops waiting for work, or producers selecting
    /// on a send; the profile cannot tell which. Info at most (contention.block).
    Select,
}

/// What a contention profile's delay is divided by before it meets a threshold. Go's
/// mutex and block profiles are cumulative since profiling was enabled, so a raw total
/// grows with uptime; a rate over a known interval does not.
#[derive(Debug, Clone, PartialEq)]
pub enum DelayBasis {
    /// Delay over an interval: a delta profile's own DurationNanos (`?seconds=N`), or the
    /// difference of two profiles of one process.
    Interval { interval_ns: i64, how: String },
    /// Delay since the process started (profile TimeNanos − process start).
    Uptime { uptime_ns: i64, how: String },
    /// Neither known: the cumulative total against the cumulative thresholds.
    Cumulative,
}

impl DelayBasis {
    /// The basis a single profile carries by itself.
    pub fn of_profile(p: &Profile) -> Self {
        if p.duration_nanos > 0 {
            DelayBasis::Interval {
                interval_ns: p.duration_nanos,
                how: "delta profile: its own duration".into(),
            }
        } else {
            DelayBasis::Cumulative
        }
    }
    fn seconds(&self) -> Option<f64> {
        match self {
            DelayBasis::Interval {
                interval_ns: ns, ..
            }
            | DelayBasis::Uptime { uptime_ns: ns, .. } => (*ns > 0).then(|| *ns as f64 / 1e9),
            DelayBasis::Cumulative => None,
        }
    }
    /// What the evidence says about the basis (`rate_basis`).
    pub fn describe(&self) -> String {
        match self {
            DelayBasis::Interval { how, .. } => format!("rate over an interval ({how})"),
            DelayBasis::Uptime { how, .. } => format!("rate since process start ({how})"),
            DelayBasis::Cumulative => {
                "cumulative total since profiling was enabled (no interval or process start known)"
                    .into()
            }
        }
    }
}

/// contention.mutex / contention.block judged on `basis`; `extra` joins the evidence.
pub(crate) fn contention_finding_on(
    p: &Profile,
    sources: Vec<String>,
    role: ContentionRole,
    basis: &DelayBasis,
    extra: Evidence,
) -> Option<Finding> {
    let mutex = matches!(
        role,
        ContentionRole::MutexProfile | ContentionRole::BlockedLocks
    );
    let delay_idx = p.sample_type_index("delay")?;
    let count_idx = p.sample_type_index("contentions");
    let total_ns = p.total(delay_idx);
    let events: i64 = count_idx.map(|i| p.total(i)).unwrap_or(0);
    let sites = site_table(p, delay_idx);
    let (warn_ns, crit_ns) = if mutex {
        (t::MUTEX_DELAY_WARNING_NS, t::MUTEX_DELAY_CRITICAL_NS)
    } else {
        (t::BLOCK_DELAY_WARNING_NS, t::BLOCK_DELAY_CRITICAL_NS)
    };
    let per_sec = basis.seconds().map(|s| total_ns as f64 / s);
    let measure = per_sec.unwrap_or(total_ns as f64);
    let (warn, crit) = if per_sec.is_some() {
        let (w, c) = if mutex {
            (
                t::MUTEX_DELAY_WARNING_NS_PER_S,
                t::MUTEX_DELAY_CRITICAL_NS_PER_S,
            )
        } else {
            (
                t::BLOCK_DELAY_WARNING_NS_PER_S,
                t::BLOCK_DELAY_CRITICAL_NS_PER_S,
            )
        };
        (w as f64, c as f64)
    } else {
        (warn_ns as f64, crit_ns as f64)
    };
    let top_share = sites
        .first()
        .map(|r| r.value as f64 / total_ns.max(1) as f64)
        .unwrap_or(0.0);
    let severity = if role == ContentionRole::ForkJoin {
        // Fork-join waits last as long as the work they wait for: worth a mention only
        // when they would have crossed the warning bar, and never more than info.
        if total_ns > 0 && measure >= warn {
            Severity::Info
        } else {
            return None;
        }
    } else if total_ns > 0 && measure >= warn / 4.0 {
        if role == ContentionRole::Select {
            // Mostly loops waiting for work; the profile cannot show the producers that
            // select on a send apart from them: info at most.
            Severity::Info
        } else if measure >= crit {
            Severity::Critical
        } else if measure >= warn {
            Severity::Warning
        } else {
            Severity::Info
        }
    } else {
        return None;
    };
    let top: Vec<String> = sites
        .iter()
        .take(t::PROFILE_TOP_SITES)
        .map(|r| r.site.clone())
        .collect();
    let mut ev = extra;
    ev.insert("delay_total_ns".into(), json!(total_ns));
    ev.insert("events_count".into(), json!(events));
    ev.insert("rate_basis".into(), json!(basis.describe()));
    if let Some(r) = per_sec {
        ev.insert("delay_ns_per_s".into(), json!(r.round() as i64));
        match basis {
            DelayBasis::Interval { interval_ns, .. } => {
                ev.insert("interval_ns".into(), json!(interval_ns));
            }
            DelayBasis::Uptime { uptime_ns, .. } => {
                ev.insert("uptime_ns".into(), json!(uptime_ns));
            }
            DelayBasis::Cumulative => {}
        }
    }
    ev.insert(
        "top_site_share_percent".into(),
        json!((top_share * 1000.0).round() / 10.0),
    );
    ev.insert("top_sites".into(), sites_json(&sites, total_ns, "delay_ns"));
    let first = top.first().cloned().unwrap_or_else(|| "<no stack>".into());
    // "X s in total" or "X s per second (X s in N s)".
    let amount = match per_sec {
        Some(r) => format!(
            "{:.1} s per second ({:.2} s in {:.0} s)",
            r / 1e9,
            total_ns as f64 / 1e9,
            basis.seconds().unwrap_or(0.0)
        ),
        None => format!("{:.2} s in total", total_ns as f64 / 1e9),
    };
    let share = top_share * 100.0;
    let (id, title, rec) = match role {
        ContentionRole::MutexProfile => (
            "contention.mutex",
            format!(
                "Mutex wait {:.2} s in total, {share:.0}% released at {first}",
                total_ns as f64 / 1e9,
            ),
            format!(
                "Shorten the critical section at {first}: move I/O and allocation out of the lock, shard the lock or the data it guards, or use sync.RWMutex/atomics for read-mostly state."
            ),
        ),
        ContentionRole::BlockedLocks => (
            "contention.mutex",
            format!(
                "Goroutines waited {amount} to acquire a sync.Mutex/RWMutex (block profile), {share:.0}% at {first}"
            ),
            format!(
                "Lock contention at {first}: shorten the critical section (move I/O and allocation out of the lock), shard the lock or the data it guards, or use sync.RWMutex/atomics for read-mostly state."
            ),
        ),
        ContentionRole::BlockedSends => (
            "contention.block",
            format!("Goroutines blocked sending on channels {amount}, {share:.0}% at {first}"),
            format!(
                "Backpressure: the senders at {first} wait for their receivers. The consumer is too slow or the buffer too small: add consumers, batch, give the channel a buffer sized to the burst, or bound the producers upstream."
            ),
        ),
        ContentionRole::ForkJoin => (
            "contention.block",
            format!(
                "Fork-join waits (WaitGroup/Cond/errgroup) {amount}, {share:.0}% at {first}: callers waiting for work they started"
            ),
            format!(
                "Not contention: {first} waits for the goroutines it started, as long as the slowest of them. If that latency matters, profile what those goroutines do (CPU profile, trace)."
            ),
        ),
        ContentionRole::Select => (
            "contention.block",
            format!(
                "Goroutines waited in select {amount}, {share:.0}% at {first}: loops waiting for work, or producers selecting on a send"
            ),
            format!(
                "Usually idle: a service loop or worker pool parked in select until work arrives. If {first} selects on a send (case ch <- v), it is backpressure instead: the receiver is too slow. A goroutine dump shows how many goroutines wait there and since when."
            ),
        ),
    };
    Some(Finding {
        id,
        severity,
        title,
        evidence: ev,
        recommendation: rec,
        sources,
        sites: top,
    })
}

/// True when a contention profile carries no evidence: no samples, or no delay at all
/// (`runtime.SetMutexProfileFraction(0)` / `SetBlockProfileRate(0)`, Go's defaults).
pub fn is_profiling_off(p: &Profile) -> bool {
    match p.sample_type_index("delay") {
        Some(d) => p
            .samples
            .iter()
            .all(|s| s.values.get(d).copied().unwrap_or(0) == 0),
        None => p.samples.is_empty(),
    }
}

/// Mutex or block, for a contention profile: from its stacks when it has samples
/// ([`ProfileKind::detect`]), else from its file name (an empty mutex profile looks like
/// an empty block profile); `None` when neither tells.
pub fn contention_kind(p: &Profile, name: &str) -> Option<ProfileKind> {
    let k = ProfileKind::detect(p);
    if !matches!(k, ProfileKind::Mutex | ProfileKind::Block) {
        return None;
    }
    if !p.samples.is_empty() {
        return Some(k);
    }
    let base = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
    if base.contains("mutex") {
        Some(ProfileKind::Mutex)
    } else if base.contains("block") {
        Some(ProfileKind::Block)
    } else {
        None
    }
}

/// Info that a mutex (`kind` = [`ProfileKind::Mutex`]) or block profile (any other kind)
/// has profiling off, so `analyze` says there is no contention evidence instead of
/// "nothing looks wrong". Emit it when [`is_profiling_off`] holds for every profile of
/// that kind of one process.
pub fn profiling_off_finding(kind: ProfileKind, source: &str) -> Finding {
    let (id, what, knob, value) = if kind == ProfileKind::Mutex {
        (
            "contention.mutex",
            "mutex",
            "runtime.SetMutexProfileFraction",
            "(e.g. 100: one contention event in 100)",
        )
    } else {
        (
            "contention.block",
            "block",
            "runtime.SetBlockProfileRate",
            "(e.g. 10000: one wait per 10 µs of blocking, cheap enough for production)",
        )
    };
    let mut ev = Evidence::new();
    ev.insert("profile".into(), json!(what));
    ev.insert("samples".into(), json!(0));
    ev.insert(
        "meaning".into(),
        json!(format!(
            "the {what} profile recorded nothing: its rate is 0 (Go's default) or nothing waited since it was set"
        )),
    );
    Finding {
        id,
        severity: Severity::Info,
        title: format!(
            "{} profiling is off (rate 0): no contention evidence",
            if what == "mutex" { "Mutex" } else { "Block" }
        ),
        evidence: ev,
        recommendation: format!(
            "To see {what} contention, call {knob} with a positive rate {value} in the program, then capture the profile again."
        ),
        sources: vec![source.to_string()],
        sites: Vec::new(),
    }
}

/// What an empty mutex or block profile says, given the rate when a text form told it
/// (`sampling period=` of a mutex `?debug=1` profile): rate 0 is profiling off
/// ([`profiling_off_finding`]); a positive rate means profiling is on and nothing waited,
/// which is no finding; an unknown rate (protobuf profiles carry none) is either, and the
/// finding says so.
pub fn empty_contention_finding(
    kind: ProfileKind,
    source: &str,
    rate: Option<u64>,
) -> Option<Finding> {
    match rate {
        Some(0) => Some(profiling_off_finding(kind, source)),
        Some(_) => None,
        None => {
            let mut f = profiling_off_finding(kind, source);
            let what = if kind == ProfileKind::Mutex {
                "Mutex"
            } else {
                "Block"
            };
            f.title = format!(
                "{what} profile is empty: profiling is off (Go's default rate 0) or nothing has waited since it was enabled"
            );
            f.recommendation = format!(
                "If the program never sets the rate, {}",
                f.recommendation
                    .get(..1)
                    .map(|c| c.to_lowercase() + &f.recommendation[1..])
                    .unwrap_or_default()
            );
            Some(f)
        }
    }
}

/// `contention.mutex` / `contention.block` from a legacy `?debug=1` contention profile.
pub fn contention_text_findings(p: &ContentionProfile, source: &str) -> Vec<Finding> {
    // Reuse the protobuf logic on an equivalent profile.
    let prof = contention_text_profile(p);
    if p.kind == "mutex" {
        contention_finding(&prof, source, true)
            .into_iter()
            .collect()
    } else {
        crate::block_rate::block_findings(
            &[crate::block_rate::BlockInput {
                source,
                profile: &prof,
                text: true,
            }],
            None,
        )
    }
}

/// A legacy contention profile as a protobuf-shaped one (contentions, delay ns).
pub fn contention_text_profile(p: &ContentionProfile) -> Profile {
    profile_from_stacks(
        &[("contentions", "count"), ("delay", "nanoseconds")],
        p.records.iter().map(|r| {
            (
                r.stack.functions().collect::<Vec<_>>(),
                vec![r.count, p.delay_ns(r).round() as i64],
            )
        }),
    )
}

/// Builds a profile from stacks of function names (leaf first) and their values, one
/// location per frame: how text forms reuse the protobuf analyses.
pub fn profile_from_stacks<'a>(
    sample_types: &[(&str, &str)],
    stacks: impl IntoIterator<Item = (Vec<&'a str>, Vec<i64>)>,
) -> Profile {
    use gorx_formats::pprof::{Function, Line, Location, ValueType};
    let mut prof = Profile {
        sample_types: sample_types
            .iter()
            .map(|(t, u)| ValueType {
                ty: (*t).into(),
                unit: (*u).into(),
            })
            .collect(),
        samples: Vec::new(),
        mappings: Vec::new(),
        locations: Vec::new(),
        functions: Vec::new(),
        drop_frames: "".into(),
        keep_frames: "".into(),
        time_nanos: 0,
        duration_nanos: 0,
        period_type: None,
        period: 0,
        comments: Vec::new(),
        default_sample_type: None,
    };
    let mut fids: HashMap<&str, u32> = HashMap::new();
    for (names, values) in stacks {
        let mut locs = Vec::with_capacity(names.len());
        for f in names {
            let next = fids.len() as u32;
            let fid = *fids.entry(f).or_insert_with(|| {
                prof.functions.push(Function {
                    id: next as u64 + 1,
                    name: f.into(),
                    system_name: f.into(),
                    filename: "".into(),
                    start_line: 0,
                });
                next
            });
            locs.push(prof.locations.len() as u32);
            prof.locations.push(Location {
                id: prof.locations.len() as u64 + 1,
                mapping: None,
                address: 0,
                lines: vec![Line {
                    function: fid,
                    line: 0,
                    column: 0,
                }],
                is_folded: false,
                unsymbolized_name: None,
            });
        }
        prof.samples.push(Sample {
            locations: locs,
            values,
            labels: Vec::new(),
        });
    }
    prof
}

/// Findings from a legacy `?debug=1` text profile: the MemStats trailer of a heap profile
/// (see [`crate::memory::memstats_findings`]) and contention profiles.
pub fn text_profile_findings(
    t: &gorx_formats::pprof::legacy::TextProfile,
    source: &str,
) -> Vec<Finding> {
    use gorx_formats::pprof::legacy::TextProfile;
    match t {
        TextProfile::Heap(h) => h
            .memstats
            .as_deref()
            .map(|m| crate::memory::memstats_findings(m, source))
            .unwrap_or_default(),
        TextProfile::Contention(c) => contention_text_findings(c, source),
        TextProfile::Count(_) => Vec::new(),
    }
}

/// `gc.heap-growth` from two heap profiles: in-use bytes that grew, by site.
pub fn heap_growth_findings(new: &Profile, base: &Profile, source: &str) -> Vec<Finding> {
    let (Some(ni), Some(bi)) = (
        new.sample_type_index("inuse_space"),
        base.sample_type_index("inuse_space"),
    ) else {
        return Vec::new();
    };
    let new_total = new.total(ni);
    let base_total = base.total(bi);
    let growth = new_total.saturating_sub(base_total);
    let mut m: HashMap<String, i64> = HashMap::new();
    for r in site_table(new, ni) {
        sadd(m.entry(r.site).or_default(), r.value);
    }
    for r in site_table(base, bi) {
        sadd(m.entry(r.site).or_default(), r.value.saturating_neg());
    }
    let mut growers: Vec<SiteRow> = m
        .into_iter()
        .filter(|(_, v)| *v > 0)
        .map(|(site, value)| SiteRow { site, value })
        .collect();
    growers.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.site.cmp(&b.site)));
    let ratio = if base_total > 0 {
        growth as f64 / base_total as f64
    } else {
        f64::INFINITY
    };
    if growth < t::HEAP_GROWTH_MIN_BYTES || ratio < t::HEAP_GROWTH_WARNING_RATIO {
        return Vec::new();
    }
    let severity = if ratio >= t::HEAP_GROWTH_CRITICAL_RATIO {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let top: Vec<String> = growers
        .iter()
        .take(t::PROFILE_TOP_SITES)
        .map(|r| r.site.clone())
        .collect();
    let mut ev = Evidence::new();
    ev.insert("inuse_base_bytes".into(), json!(base_total));
    ev.insert("inuse_new_bytes".into(), json!(new_total));
    ev.insert("inuse_growth_bytes".into(), json!(growth));
    if ratio.is_finite() {
        ev.insert(
            "inuse_growth_percent".into(),
            json!(pct(growth as f64, base_total as f64)),
        );
    }
    if new.time_nanos > 0 && base.time_nanos > 0 && new.time_nanos > base.time_nanos {
        let dt = (new.time_nanos - base.time_nanos) as f64 / 1e9;
        ev.insert(
            "interval_ns".into(),
            json!(new.time_nanos - base.time_nanos),
        );
        ev.insert(
            "growth_bytes_per_s".into(),
            json!((growth as f64 / dt).round() as i64),
        );
    }
    ev.insert(
        "top_growth_sites".into(),
        sites_json(&growers, growth, "growth_bytes"),
    );
    let first = top.first().cloned().unwrap_or_default();
    vec![Finding {
        id: "gc.heap-growth",
        severity,
        title: format!(
            "In-use heap grew {:.1} MiB between the two heap profiles, most at {first}",
            growth as f64 / (1 << 20) as f64
        ),
        evidence: ev,
        recommendation: format!(
            "Find what keeps references alive from {first}: caches or maps without eviction, slices re-sliced from large arrays, goroutines holding buffers; bound the structure or release the references."
        ),
        sources: vec![source.to_string()],
        sites: top,
    }]
}

#[cfg(test)]
mod corpus_tests {
    use super::*;
    use crate::memory::memstats_findings;
    use gorx_formats::pprof::legacy::{self, TextProfile};

    /// The finding ids this module and memory.rs can emit.
    const OURS: &[&str] = &[
        "cpu.gc-share",
        "alloc.contention",
        "contention.mutex",
        "contention.block",
        "memory.unreturned",
        "memory.stack-heavy",
    ];

    fn findings_for(dir: &std::path::Path) -> Vec<Finding> {
        let mut out = Vec::new();
        for name in [
            "cpu",
            "heap",
            "allocs",
            "goroutine",
            "mutex",
            "block",
            "threadcreate",
        ] {
            let path = dir.join(format!("{name}.pb.gz"));
            if let Ok(data) = std::fs::read(&path) {
                let src = path.display().to_string();
                let p = gorx_formats::pprof::parse(&src, &data).unwrap();
                out.extend(profile_findings(&p, &src));
            }
        }
        let path = dir.join("heap.debug1.txt");
        if let Ok(data) = std::fs::read(&path)
            && let Ok(TextProfile::Heap(h)) = legacy::parse("heap", &data)
            && let Some(m) = &h.memstats
        {
            out.extend(memstats_findings(m, &path.display().to_string()));
        }
        out
    }

    #[test]
    fn corpus_patients_yield_their_expected_profile_findings() {
        let mut checked = 0;
        for (ver, patient, dir) in gorx_testsupport::corpus_entries() {
            let Ok(manifest) = std::fs::read(dir.join("MANIFEST.json")) else {
                continue;
            };
            let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
            let expected: Vec<&str> = m["expected_findings"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            let got = findings_for(&dir);
            let summary: Vec<String> = got
                .iter()
                .map(|f| format!("{}({})", f.id, f.severity.as_str()))
                .collect();
            eprintln!("{ver}/{patient}: expected {expected:?}, got {summary:?}");
            for id in expected.iter().filter(|id| OURS.contains(id)) {
                assert!(
                    got.iter()
                        .any(|f| f.id == *id && f.severity >= Severity::Warning),
                    "{ver}/{patient}: expected {id}, got {summary:?}"
                );
            }
            if patient == "healthy" {
                assert!(
                    got.iter().all(|f| f.severity < Severity::Warning),
                    "{ver}/healthy: {summary:?}"
                );
            }
            for f in &got {
                assert!(!f.evidence.is_empty() && !f.recommendation.is_empty());
                assert!(!f.sources.is_empty());
            }
            checked += 1;
        }
        eprintln!("checked {checked} patients");
    }

    #[test]
    fn heap_growth_against_a_smaller_base() {
        let Some((_, _, dir)) = gorx_testsupport::corpus_entries()
            .into_iter()
            .find(|(_, p, _)| p == "heap-leak")
        else {
            eprintln!("SKIPPED: no heap-leak patient in the corpus yet");
            return;
        };
        let data = std::fs::read(dir.join("heap.pb.gz")).unwrap();
        let new = gorx_formats::pprof::parse("heap.pb.gz", &data).unwrap();
        let i = new.sample_type_index("inuse_space").unwrap();
        // The base: the same profile with a tenth of the in-use bytes.
        let mut base = new.clone();
        for s in &mut base.samples {
            s.values[i] /= 10;
        }
        let growth = new.total(i) - base.total(i);
        let f = heap_growth_findings(&new, &base, "heap.pb.gz");
        if growth < t::HEAP_GROWTH_MIN_BYTES {
            assert!(f.is_empty());
            return;
        }
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].id, "gc.heap-growth");
        assert_eq!(f[0].severity, Severity::Critical, "9x growth");
        assert_eq!(f[0].evidence["inuse_growth_bytes"], json!(growth));
        let top = site_table(&new, i);
        assert_eq!(f[0].sites.first(), top.first().map(|r| &r.site));
        assert!(heap_growth_findings(&new, &new, "x").is_empty());
        let sites = heap_sites(&new).unwrap();
        assert_eq!(sites.inuse_bytes_total, new.total(i));
        assert!(!sites.alloc.is_empty());
    }

    #[test]
    fn text_contention_agrees_with_protobuf() {
        for (_, patient, dir) in gorx_testsupport::corpus_entries() {
            if patient != "mutex-contention" {
                continue;
            }
            let text = std::fs::read(dir.join("mutex.debug1.txt")).unwrap();
            let t = legacy::parse("mutex.debug1.txt", &text).unwrap();
            let from_text = text_profile_findings(&t, "mutex.debug1.txt");
            let pb = std::fs::read(dir.join("mutex.pb.gz")).unwrap();
            let p = gorx_formats::pprof::parse("mutex.pb.gz", &pb).unwrap();
            let from_pb = profile_findings(&p, "mutex.pb.gz");
            assert_eq!(from_text.len(), 1);
            assert_eq!(from_text[0].id, "contention.mutex");
            assert_eq!(from_text[0].id, from_pb[0].id);
            assert_eq!(from_text[0].sites, from_pb[0].sites);
            assert!(
                from_pb[0].sites[0].contains("record"),
                "{:?}",
                from_pb[0].sites
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPU: &[(&str, &str)] = &[("samples", "count"), ("cpu", "nanoseconds")];

    fn cpu(stacks: &[(&[&'static str], i64)]) -> Profile {
        let mut p = profile_from_stacks(
            CPU,
            stacks
                .iter()
                .map(|(s, v)| (s.to_vec(), vec![v / 10_000_000, *v])),
        );
        p.period_type = p.sample_types.get(1).cloned();
        p
    }

    #[test]
    fn top_table_flat_cum_and_recursion() {
        let p = cpu(&[
            (&["main.leaf", "main.rec", "main.rec", "main.main"], 30),
            (&["main.rec", "main.main"], 10),
            (&["main.other", "main.main"], 30),
        ]);
        let t = top_table(&p, 1, None);
        assert_eq!(t.total, 70);
        let row = |f: &str| t.rows.iter().find(|r| r.function == f).unwrap().clone();
        assert_eq!(
            (row("main.rec").flat, row("main.rec").cum),
            (10, 40),
            "recursion counted once"
        );
        assert_eq!((row("main.main").flat, row("main.main").cum), (0, 70));
        // |flat| desc, then name: leaf and other tie at 30.
        let order: Vec<&str> = t.rows.iter().map(|r| r.function.as_str()).collect();
        assert_eq!(order, ["main.leaf", "main.other", "main.rec", "main.main"]);
        // Against a base: differences, and the total of the merged stacks.
        let base = cpu(&[(&["main.other", "main.main"], 50)]);
        let d = top_table(&p, 1, Some((&base, 1)));
        let other = d.rows.iter().find(|r| r.function == "main.other").unwrap();
        assert_eq!((other.flat, other.cum), (-20, -20));
        assert_eq!(d.total, 30 + 10 + 20);
    }

    #[test]
    fn inline_labels_follow_pprof() {
        // Locations: 0 = main.a, 1 = main.b, 2 = main.main, 3 = main.c.
        let mut p = cpu(&[
            (&["main.a", "main.b", "main.main"], 10),
            (&["main.c", "main.main"], 10),
        ]);
        // main.a inlined into main.b in one location; main.c called both ways.
        let b_line = p.locations[1].lines[0];
        p.locations[0].lines.push(b_line);
        p.samples[0].locations = vec![0, 2];
        let c_line = p.locations[3].lines[0];
        p.locations[1].lines.insert(0, c_line);
        p.samples.push(Sample {
            locations: vec![1, 2],
            values: vec![1, 10],
            labels: Vec::new(),
        });
        let t = top_table(&p, 1, None);
        let labels = inline_labels(&p, 1, &t.rows);
        let label = |f: &str| labels[t.rows.iter().position(|r| r.function == f).unwrap()];
        assert_eq!(label("main.a"), Inlining::Inline);
        assert_eq!(label("main.b"), Inlining::NotInlined);
        assert_eq!(label("main.c"), Inlining::PartialInline);
        assert_eq!(
            label("main.main"),
            Inlining::NotInlined,
            "the root has no caller"
        );
    }

    #[test]
    fn absurd_values_do_not_panic() {
        let p = cpu(&[
            (&["runtime.mallocgc", "main.f"], i64::MAX),
            (&["runtime.mallocgc", "main.f"], i64::MAX),
            (&["runtime.gcBgMarkWorker"], i64::MIN),
        ]);
        let t = top_table(&p, 1, Some((&p, 1)));
        assert!(t.rows.len() <= 3, "{:?}", t.rows);
        let _ = top_table(&p, 0, None);
        let _ = profile_findings(&p, "x");
        let _ = site_table(&p, 1);
    }

    #[test]
    fn gc_share_and_alloc_contention() {
        let ms = 1_000_000i64;
        let lock = [
            "runtime.futex",
            "runtime.lock2",
            "runtime.lock",
            "runtime.(*mcentral).cacheSpan",
            "runtime.(*mcache).refill",
            "runtime.mallocgc",
            "main.decode",
            "main.main",
        ];
        let p = cpu(&[
            (&["main.work", "main.main"], 400 * ms),
            (
                &[
                    "runtime.scanobject",
                    "runtime.gcDrain",
                    "runtime.gcBgMarkWorker",
                ],
                300 * ms,
            ),
            (&lock, 200 * ms),
            (
                &[
                    "runtime.memclrNoHeapPointers",
                    "runtime.mallocgc",
                    "main.decode",
                    "main.main",
                ],
                100 * ms,
            ),
        ]);
        let f = profile_findings(&p, "cpu.pb.gz");
        let ids: Vec<&str> = f.iter().map(|f| f.id).collect();
        assert_eq!(ids, ["cpu.gc-share", "alloc.contention"]);
        let gc = &f[0];
        // GC work 30% (a warning), allocation 30% (info): judged apart since issue 13, no
        // longer summed into one 60% "critical".
        assert_eq!(gc.severity, Severity::Warning, "30% of CPU in GC work");
        assert_eq!(gc.evidence["gc_percent"], json!(30.0));
        assert_eq!(gc.evidence["alloc_percent"], json!(30.0));
        assert_eq!(gc.evidence["gc_cpu_ns"], json!(300 * ms));
        assert_eq!(gc.evidence["alloc_cpu_ns"], json!(300 * ms));
        assert_eq!(gc.sites, ["main.decode"]);
        let ac = &f[1];
        assert_eq!(
            ac.severity,
            Severity::Critical,
            "20% of CPU in allocator locks"
        );
        assert_eq!(ac.evidence["alloc_lock_cpu_ns"], json!(200 * ms));
        assert_eq!(ac.evidence["mallocgc_cpu_ns"], json!(300 * ms));
        assert_eq!(ac.sites, ["main.decode"]);
        // Too little CPU to judge: nothing.
        let small = cpu(&[(&["runtime.gcBgMarkWorker"], 20 * ms)]);
        assert!(profile_findings(&small, "x").is_empty());
        // A healthy profile: nothing.
        let ok = cpu(&[(&["main.work", "main.main"], 900 * ms), (&lock, 10 * ms)]);
        assert!(profile_findings(&ok, "x").is_empty());
    }

    #[test]
    fn mutex_vs_block_and_sites() {
        let s = 1_000_000_000i64;
        let mk = |leaf: &'static str, v: i64| {
            profile_from_stacks(
                &[("contentions", "count"), ("delay", "nanoseconds")],
                [
                    (vec![leaf, "main.(*cache).put", "main.handler"], vec![10, v]),
                    (vec![leaf, "main.flush"], vec![1, v / 10]),
                ],
            )
        };
        let m = mk("sync.(*Mutex).Unlock", 200 * s);
        assert_eq!(ProfileKind::detect(&m), ProfileKind::Mutex);
        let f = profile_findings(&m, "mutex.pb.gz");
        assert_eq!(f[0].id, "contention.mutex");
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[0].sites, ["main.(*cache).put", "main.flush"]);
        let b = mk("runtime.chansend1", 200 * s);
        assert_eq!(ProfileKind::detect(&b), ProfileKind::Block);
        let f = profile_findings(&b, "block.pb.gz");
        assert_eq!(f[0].id, "contention.block");
        assert_eq!(f[0].severity, Severity::Warning);
        // Small totals stay quiet.
        assert!(profile_findings(&mk("sync.(*Mutex).Unlock", s / 10), "x").is_empty());
    }

    /// A CPU profile over `secs` seconds of wall time.
    fn cpu_over(secs: i64, stacks: &[(&[&'static str], i64)]) -> Profile {
        let mut p = cpu(stacks);
        p.duration_nanos = secs * 1_000_000_000;
        p
    }

    /// Issue 13, field cases (etcd 3.4 at 0.28 cores, prometheus 2.42 at 0.17): "32% of CPU
    /// goes to GC and allocation" was a warning that led with "raise GOGC" while the GC
    /// part was 10.8%, the rest mallocgc, and the named sites had 1–3 samples.
    #[test]
    fn gc_share_of_a_quiet_process_is_not_a_warning() {
        let ms = 1_000_000i64;
        let mark: &[&str] = &[
            "runtime.scanobject",
            "runtime.gcDrain",
            "runtime.gcBgMarkWorker",
        ];
        let stacks = |gc: i64, alloc_sites: &[(&'static str, i64)], user: i64| {
            let mut v: Vec<(&[&'static str], i64)> =
                vec![(mark, gc), (&["main.serve", "main.main"][..], user)];
            for (site, n) in alloc_sites {
                let st: &'static [&'static str] = match *site {
                    "a" => &["runtime.mallocgc", "go.etcd.io/etcd/mvcc.(*store).Range"],
                    "b" => &["runtime.mallocgc", "go.etcd.io/etcd/raft.(*raft).Step"],
                    _ => &["runtime.mallocgc", "go.etcd.io/etcd/wal.(*WAL).Save"],
                };
                v.push((st, n * 10 * ms));
            }
            v
        };
        // etcd-like: 2.8 s of CPU over 10 s (0.28 cores); GC 10.8%, allocation 21%.
        let many: Vec<(&'static str, i64)> = (0..20).map(|i| (["a", "b", "c"][i % 3], 3)).collect();
        let p = cpu_over(10, &stacks(302 * ms, &many, 1898 * ms));
        let f = profile_findings(&p, "cpu.pb.gz");
        assert!(f.is_empty(), "{f:#?}");
        // prometheus-like: the same shares at 0.17 cores are not judged at all, even when
        // the GC part alone would cross the bar.
        let p = cpu_over(10, &stacks(600 * ms, &[("a", 30)], 800 * ms));
        assert!(profile_findings(&p, "cpu.pb.gz").is_empty());
        // The same GC share in a busy process (1.4 cores) is a warning on GC work.
        let p = cpu_over(1, &stacks(600 * ms, &[("a", 30)], 500 * ms));
        let f = profile_findings(&p, "cpu.pb.gz");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Critical, "43% GC work");
        assert_eq!(f[0].evidence["cores_used"], json!(1.4));
        assert!(f[0].recommendation.contains("GOGC"));
    }

    /// Assists count as GC work, allocation is judged apart and points at the allocating
    /// user frame (not encoding/json), sites with few samples are not named.
    #[test]
    fn gc_work_and_allocation_are_judged_apart() {
        let ms = 1_000_000i64;
        let p = cpu_over(
            1,
            &[
                (&["main.work", "main.main"], 400 * ms),
                (
                    &[
                        "runtime.memclrNoHeapPointers",
                        "runtime.mallocgc",
                        "runtime.makeslice",
                        "encoding/json.(*decodeState).literalStore",
                        "encoding/json.Unmarshal",
                        "example.com/svc/api.(*Handler).decode",
                        "main.main",
                    ],
                    1100 * ms,
                ),
                (
                    &["runtime.mallocgc", "runtime.newobject", "main.rare"],
                    50 * ms,
                ),
                (
                    &[
                        "runtime.scanobject",
                        "runtime.gcDrainN",
                        "runtime.gcAssistAlloc1",
                        "runtime.gcAssistAlloc",
                        "runtime.mallocgc",
                        "example.com/svc/api.(*Handler).decode",
                    ],
                    100 * ms,
                ),
            ],
        );
        let f = profile_findings(&p, "cpu.pb.gz");
        assert_eq!(f.len(), 1, "{f:#?}");
        let g = &f[0];
        assert_eq!(
            g.evidence["gc_cpu_ns"],
            json!(100 * ms),
            "the assist is GC work"
        );
        assert_eq!(g.evidence["alloc_cpu_ns"], json!(1150 * ms));
        assert_eq!(g.severity, Severity::Warning, "70% allocation");
        assert!(g.title.contains("allocation"), "{}", g.title);
        assert!(
            !g.recommendation.contains("raise GOGC"),
            "{}",
            g.recommendation
        );
        assert_eq!(
            g.sites,
            ["example.com/svc/api.(*Handler).decode"],
            "main.rare has 5 samples"
        );
        assert_eq!(g.evidence["cores_used"], json!(1.65));
    }

    /// A program whose module path has no dot (`module busy`, common outside public
    /// hosting) is user code: its frame is the allocating site, not encoding/json below it.
    #[test]
    fn a_dotless_module_is_user_code() {
        let ms = 1_000_000i64;
        let p = cpu_over(
            1,
            &[
                (&["busy.work", "main.main"], 400 * ms),
                (
                    &[
                        "runtime.mallocgc",
                        "runtime.makeslice",
                        "encoding/json.Unmarshal",
                        "busy/api.(*Handler).decode",
                        "main.main",
                    ],
                    1100 * ms,
                ),
            ],
        );
        let f = profile_findings(&p, "cpu.pb.gz");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].sites, ["busy/api.(*Handler).decode"]);
    }

    /// An empty profile is "off" only when a text form says the rate is 0: with a
    /// positive rate nothing waited (no finding); without a rate it may be either.
    #[test]
    fn empty_profiles_say_only_what_is_known() {
        let k = ProfileKind::Mutex;
        assert!(empty_contention_finding(k, "m", Some(5)).is_none());
        let off = empty_contention_finding(k, "m", Some(0)).unwrap();
        assert!(
            off.title.contains("profiling is off (rate 0)"),
            "{}",
            off.title
        );
        let either = empty_contention_finding(k, "m", None).unwrap();
        assert!(
            either.title.contains("or nothing has waited"),
            "{}",
            either.title
        );
        assert_eq!(either.severity, Severity::Info);
    }

    /// Issue 13: a mutex/block profile with profiling off says so (info), and its kind is
    /// taken from the name when the empty stacks cannot tell.
    #[test]
    fn profiling_off_is_info() {
        let empty = profile_from_stacks(&[("contentions", "count"), ("delay", "nanoseconds")], []);
        assert!(is_profiling_off(&empty));
        assert_eq!(
            contention_kind(&empty, "cap/mutex.pb.gz"),
            Some(ProfileKind::Mutex)
        );
        assert_eq!(
            contention_kind(&empty, "cap/block.pb.gz"),
            Some(ProfileKind::Block)
        );
        assert_eq!(contention_kind(&empty, "cap/x.pb.gz"), None);
        let f = profiling_off_finding(ProfileKind::Mutex, "cap/mutex.pb.gz");
        assert_eq!((f.id, f.severity), ("contention.mutex", Severity::Info));
        assert!(f.title.contains("profiling is off"), "{}", f.title);
        assert!(f.recommendation.contains("SetMutexProfileFraction"));
        let f = profiling_off_finding(ProfileKind::Block, "cap/block.pb.gz");
        assert_eq!(f.id, "contention.block");
        assert!(f.recommendation.contains("SetBlockProfileRate"));
        let some = profile_from_stacks(
            &[("contentions", "count"), ("delay", "nanoseconds")],
            [(vec!["sync.(*Mutex).Unlock", "main.f"], vec![1, 5])],
        );
        assert!(!is_profiling_off(&some));
        assert_eq!(
            contention_kind(&some, "cap/block.pb.gz"),
            Some(ProfileKind::Mutex)
        );
    }
}
