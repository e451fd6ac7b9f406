//! The judgement of one process. Every artifact of a process was read into
//! [`Observations`] first (artifacts.rs); these rules then see all of them at once, so a
//! verdict uses every piece of evidence at hand, and two processes never mix.
//!
//! Each rule says what it needs and what it claims:
//! - `name_heap_growth_site`: gc.heap-growth (from gctrace, /metrics or a watch trigger)
//!   with heap profiles of the process → the site that holds the memory;
//! - `name_pause_allocation_site`: gc.long-pause with an allocation hotspot in a heap or
//!   allocs profile → the allocating site;
//! - traces are judged with the process's goroutine dump: a trace's leak group takes the
//!   dump's site, creator and minutes when their goroutine ids match, and is dropped when
//!   the dump shows it idle (`trace::trace_findings_with_dump`);
//! - `prefer_dump_over_siteless_trace_leak`: a trace's goroutine.leak without a site and
//!   a goroutine dump of the same process → the dump's verdict, which has stacks and wait
//!   minutes;
//! - `merge_same_id`: several artifacts saying the same thing → one finding.

use crate::finding::{Finding, Severity};
use crate::goroutines::DumpSummary;
use crate::profiles::{self, SiteRow};
use crate::sites;
use crate::thresholds as t;
use crate::trace::{self, TraceSummary};
use gorx_formats::pprof::{Profile, Sample};
use serde_json::json;
use std::collections::HashMap;

/// A heap (or allocs) profile of the process, kept for the rules that name sites.
pub(crate) struct HeapObservation {
    pub source: String,
    pub profile: Profile,
}

/// What the single-artifact analyses of one process produced, and what the joins need.
#[derive(Default)]
pub(crate) struct Observations {
    /// Verdicts of the single-artifact rules, before the joins.
    pub findings: Vec<Finding>,
    /// Heap and allocs profiles (protobuf, or text forms converted).
    pub heaps: Vec<HeapObservation>,
    /// Goroutine dumps (debug=2, panics, SIGQUIT) read for this process, grouped.
    pub dumps: Vec<(String, DumpSummary)>,
    /// Execution traces, judged here so that their leak groups can take the dump's sites.
    pub traces: Vec<(String, TraceSummary)>,
}

/// Runs the joins over one process's observations and returns its findings.
pub(crate) fn judge(obs: Observations) -> Vec<Finding> {
    let Observations {
        mut findings,
        heaps,
        dumps,
        traces,
    } = obs;
    for (name, summary) in &traces {
        let dump = dumps.first().map(|(n, d)| (d, n.as_str()));
        findings.extend(trace::trace_findings_with_dump(summary, name, dump));
    }
    prefer_dump_over_siteless_trace_leak(&mut findings, &dumps);
    name_heap_growth_site(&mut findings, &heaps);
    name_pause_allocation_site(&mut findings, &heaps);
    merge_same_id(findings)
}

/// A `?debug=1` heap profile as a protobuf profile with the same four sample types, so
/// the site rules read both forms. The text form's counts are the sampled ones (not
/// scaled up as pprof does), which leaves the sites' order and shares as they are.
pub(crate) fn heap_text_profile(h: &gorx_formats::pprof::legacy::HeapProfile) -> Profile {
    profiles::profile_from_stacks(
        &[
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes"),
        ],
        h.records.iter().map(|r| {
            (
                r.stack.functions().collect(),
                vec![
                    r.alloc_objects,
                    r.alloc_bytes,
                    r.inuse_objects,
                    r.inuse_bytes,
                ],
            )
        }),
    )
}

/// The site of a heap sample ([`sites::site`]); `None` for a stack wholly inside the
/// runtime, which names no code to change.
fn heap_site<'a>(p: &'a Profile, s: &'a Sample) -> Option<&'a str> {
    let names: Vec<&str> = p.frames(s).map(|f| f.function).collect();
    sites::site(names.iter().copied()).filter(|f| !sites::is_plumbing(f))
}

/// The site rows of one heap profile for one sample type, by [`heap_site`].
fn user_site_table(p: &Profile, index: usize) -> Vec<SiteRow> {
    let mut m: HashMap<&str, i64> = HashMap::new();
    for s in &p.samples {
        let v = s.values.get(index).copied().unwrap_or(0);
        if v == 0 {
            continue;
        }
        let Some(site) = heap_site(p, s) else {
            continue;
        };
        let e = m.entry(site).or_default();
        *e = e.saturating_add(v);
    }
    let mut rows: Vec<SiteRow> = m
        .into_iter()
        .map(|(site, value)| SiteRow {
            site: site.to_string(),
            value,
        })
        .collect();
    rows.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.site.cmp(&b.site)));
    rows
}

fn share_percent(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        0.0
    } else {
        (part as f64 / whole as f64 * 1000.0).round() / 10.0
    }
}

/// Where the in-use heap sits: the difference of the two heap profiles furthest apart
/// (at least [`t::HEAP_DIFF_MIN_INTERVAL_NS`]), else the latest profile's in-use top.
/// Returns (how it was found, rows, total the shares are of, sources).
fn inuse_sites(heaps: &[HeapObservation]) -> Option<(String, Vec<SiteRow>, i64, Vec<String>)> {
    let with_inuse: Vec<(&HeapObservation, usize)> = heaps
        .iter()
        .filter_map(|h| Some((h, h.profile.sample_type_index("inuse_space")?)))
        .collect();
    let first = with_inuse
        .iter()
        .filter(|(h, _)| h.profile.time_nanos > 0)
        .min_by_key(|(h, _)| h.profile.time_nanos);
    // The latest; of two taken together, the heap profile over the allocs one (both
    // carry in-use bytes, the heap profile is the one named after them).
    let last = with_inuse.iter().max_by_key(|(h, _)| {
        let heap = h.profile.default_sample_type.as_deref() != Some("alloc_space");
        (h.profile.time_nanos, heap)
    })?;
    if let Some(first) = first
        && last.0.profile.time_nanos - first.0.profile.time_nanos >= t::HEAP_DIFF_MIN_INTERVAL_NS
    {
        let mut m: HashMap<String, i64> = HashMap::new();
        for r in user_site_table(&last.0.profile, last.1) {
            let e = m.entry(r.site).or_default();
            *e = e.saturating_add(r.value);
        }
        for r in user_site_table(&first.0.profile, first.1) {
            let e = m.entry(r.site).or_default();
            *e = e.saturating_sub(r.value);
        }
        let mut rows: Vec<SiteRow> = m
            .into_iter()
            .filter(|(_, v)| *v > 0)
            .map(|(site, value)| SiteRow { site, value })
            .collect();
        rows.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.site.cmp(&b.site)));
        let growth = rows.iter().fold(0i64, |a, r| a.saturating_add(r.value));
        if growth > 0 {
            let secs = (last.0.profile.time_nanos - first.0.profile.time_nanos) as f64 / 1e9;
            return Some((
                format!(
                    "in-use growth between two heap profiles {secs:.0} s apart ({} → {})",
                    first.0.source, last.0.source
                ),
                rows,
                growth,
                vec![first.0.source.clone(), last.0.source.clone()],
            ));
        }
    }
    let (h, i) = last;
    let rows = user_site_table(&h.profile, *i);
    let total = h.profile.total(*i);
    (total > 0).then(|| {
        (
            format!("in-use bytes of the heap profile {}", h.source),
            rows,
            total,
            vec![h.source.clone()],
        )
    })
}

fn site_rows_json(rows: &[SiteRow], total: i64) -> serde_json::Value {
    rows.iter()
        .take(t::PROFILE_TOP_SITES)
        .map(|r| json!({"site": r.site, "bytes": r.value, "share_percent": share_percent(r.value, total)}))
        .collect()
}

/// Needs: a gc.heap-growth finding without sites, and a heap profile of the process.
/// Claims: the site holding most in-use bytes (or most of their growth) is where the
/// growing memory is kept reachable.
pub(crate) fn name_heap_growth_site(findings: &mut [Finding], heaps: &[HeapObservation]) {
    let Some(f) = findings
        .iter_mut()
        .find(|f| f.id == "gc.heap-growth" && f.sites.is_empty())
    else {
        return;
    };
    let Some((basis, rows, total, sources)) = inuse_sites(heaps) else {
        if f.severity > Severity::Info {
            f.evidence
                .insert("heap_profile".into(), json!("none of this process"));
        }
        return;
    };
    let Some(top) = rows.first() else { return };
    let share = share_percent(top.value, total);
    f.evidence.insert("site_basis".into(), json!(basis));
    f.evidence
        .insert("top_inuse_sites".into(), site_rows_json(&rows, total));
    f.sites = rows
        .iter()
        .take(t::PROFILE_TOP_SITES)
        .map(|r| r.site.clone())
        .collect();
    let named = format!(
        "{} holds {share:.0}% of the {basis}: find what keeps those objects reachable there \
         (a cache or map without eviction, a slice re-sliced from a large array, goroutines \
         holding buffers) and bound it.",
        top.site
    );
    f.recommendation = if f.severity == Severity::Info {
        // Warm-up and other benign growth keep their own explanation first.
        format!("{} {named}", f.recommendation)
    } else if sources.len() < 2 {
        format!(
            "{named} One profile shows where memory is, not what grows: confirm with a second \
             heap profile minutes later (`gorx pprof top --base old.pb.gz new.pb.gz`)."
        )
    } else {
        named
    };
    for s in sources {
        if !f.sources.contains(&s) {
            f.sources.push(s);
        }
    }
}

/// Needs: a gc.long-pause finding at warning or above, and a heap/allocs profile whose
/// top allocating site makes at least [`t::PAUSE_ALLOC_HOTSPOT_MIN_SHARE`] of the bytes
/// allocated. Claims: that site drives the collector (cycle rate, heap size) and, with
/// large objects, the zeroing that can hold up a stop-the-world; reducing it is the fix
/// that does not depend on a knob.
pub(crate) fn name_pause_allocation_site(findings: &mut [Finding], heaps: &[HeapObservation]) {
    let Some(f) = findings
        .iter_mut()
        .find(|f| f.id == "gc.long-pause" && f.severity >= Severity::Warning)
    else {
        return;
    };
    // The profile with the most allocated bytes (allocs and heap profiles carry the same
    // counters; the latest one has the most history).
    let Some((h, bytes_i, objects_i)) = heaps
        .iter()
        .filter_map(|h| {
            Some((
                h,
                h.profile.sample_type_index("alloc_space")?,
                h.profile.sample_type_index("alloc_objects")?,
            ))
        })
        .max_by_key(|(h, i, _)| h.profile.total(*i))
    else {
        return;
    };
    let total = h.profile.total(bytes_i);
    let rows = user_site_table(&h.profile, bytes_i);
    let Some(top) = rows.first() else { return };
    let share = share_percent(top.value, total);
    if total <= 0 || share < t::PAUSE_ALLOC_HOTSPOT_MIN_SHARE * 100.0 {
        return;
    }
    let objects: i64 = h
        .profile
        .samples
        .iter()
        .filter(|s| heap_site(&h.profile, s) == Some(top.site.as_str()))
        .map(|s| s.values.get(objects_i).copied().unwrap_or(0))
        .fold(0i64, i64::saturating_add);
    let avg = if objects > 0 { top.value / objects } else { 0 };
    f.evidence.insert("top_alloc_site".into(), json!(top.site));
    f.evidence
        .insert("top_alloc_share_percent".into(), json!(share));
    if avg > 0 {
        f.evidence
            .insert("top_alloc_avg_object_bytes".into(), json!(avg));
    }
    let size = if avg >= 1 << 20 {
        format!(
            " in objects of {:.1} MiB on average",
            avg as f64 / (1 << 20) as f64
        )
    } else if avg >= 1 << 10 {
        format!(" in objects of {:.0} KiB on average", avg as f64 / 1024.0)
    } else {
        String::new()
    };
    let large = if avg >= t::PAUSE_LARGE_OBJECT_BYTES {
        " Large objects are zeroed when allocated, and a goroutine zeroing one can hold up a \
         stop-the-world; reuse the buffers (sync.Pool) or allocate them smaller."
    } else {
        ""
    };
    f.recommendation = format!(
        "{} makes {share:.0}% of the bytes allocated ({}){size}: it drives the collector's \
         cycles.{large} {}",
        top.site, h.source, f.recommendation
    );
    if !f.sites.contains(&top.site) {
        f.sites.insert(0, top.site.clone());
    }
    if !f.sources.contains(&h.source) {
        f.sources.push(h.source.clone());
    }
}

/// Needs: a goroutine.leak from an execution trace that names no site, and a goroutine
/// dump of the same process. Claims nothing new: the dump has the stacks and the minutes
/// each goroutine has waited, which a short trace has not, so the dump's verdict (a leak
/// at a named site, or none) stands in for the trace's siteless one.
pub(crate) fn prefer_dump_over_siteless_trace_leak<T>(findings: &mut Vec<Finding>, dumps: &[T]) {
    if dumps.is_empty() {
        return;
    }
    findings.retain(|f| {
        !(f.id == "goroutine.leak"
            && f.sites.is_empty()
            && f.evidence.get("from").and_then(|v| v.as_str()) == Some("execution trace"))
    });
}

/// Several artifacts often say the same thing (the mutex profile as proto and as text;
/// a goroutine dump and the goroutine profile). Keep one finding per id: the most
/// severe, with every source that supports it.
pub(crate) fn merge_same_id(findings: Vec<Finding>) -> Vec<Finding> {
    let mut merged: Vec<Finding> = Vec::new();
    for f in findings {
        match merged.iter_mut().find(|m| m.id == f.id) {
            Some(m) => {
                let sources: Vec<String> = f
                    .sources
                    .iter()
                    .filter(|s| !m.sources.contains(s))
                    .cloned()
                    .collect();
                if f.severity > m.severity {
                    let mut all = f.sources.clone();
                    all.extend(m.sources.iter().filter(|s| !f.sources.contains(s)).cloned());
                    *m = Finding { sources: all, ..f };
                } else {
                    m.sources.extend(sources);
                }
            }
            None => merged.push(f),
        }
    }
    merged
}

/// Evidence for a rule's unit tests.
#[cfg(test)]
fn finding(id: &'static str, severity: Severity, evidence: crate::finding::Evidence) -> Finding {
    Finding {
        id,
        severity,
        title: id.into(),
        evidence,
        recommendation: "advice".into(),
        sources: vec!["log".into()],
        sites: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Evidence;
    use crate::profiles::profile_from_stacks;

    fn heap(stacks: &[(&[&str], [i64; 4])], time_s: i64) -> Profile {
        let mut p = profile_from_stacks(
            &[
                ("alloc_objects", "count"),
                ("alloc_space", "bytes"),
                ("inuse_objects", "count"),
                ("inuse_space", "bytes"),
            ],
            stacks.iter().map(|(s, v)| (s.to_vec(), v.to_vec())),
        );
        p.time_nanos = time_s * 1_000_000_000;
        p
    }

    /// Issue 13: the allocating and the in-use sites are the first user frame (not
    /// bytes.growSlice), and stacks wholly inside the runtime name no site.
    #[test]
    fn heap_sites_are_the_first_user_frame() {
        let mb = 1i64 << 20;
        let p = heap(
            &[
                (
                    &[
                        "runtime.makeslice",
                        "bytes.growSlice",
                        "bytes.(*Buffer).grow",
                        "example.com/ingest.(*Batch).encode",
                        "main.main",
                    ],
                    [40, 500 * mb, 1, 12 * mb],
                ),
                (
                    &["runtime.newobject", "example.com/ingest.(*Cache).put"],
                    [1_000_000, 90 * mb, 800_000, 80 * mb],
                ),
                (
                    &["runtime.malg", "runtime.newproc1"],
                    [10, 5 * mb, 10, 5 * mb],
                ),
            ],
            0,
        );
        let alloc = user_site_table(&p, 1);
        assert_eq!(alloc[0].site, "example.com/ingest.(*Batch).encode");
        assert_eq!(share_percent(alloc[0].value, p.total(1)), 84.0);
        let inuse = user_site_table(&p, 3);
        assert_eq!(inuse[0].site, "example.com/ingest.(*Cache).put");
        assert_eq!(inuse.len(), 2, "the runtime's own stack names no site");
    }

    #[test]
    fn corpus_heap_sites_are_named() {
        for (ver, patient, dir) in gorx_testsupport::corpus_entries() {
            let read = |n: &str| {
                let d = std::fs::read(dir.join(n)).ok()?;
                gorx_formats::pprof::parse(n, &d).ok()
            };
            let top = |p: &Profile, ty: &str| {
                let i = p.sample_type_index(ty).unwrap();
                let rows = user_site_table(p, i);
                (
                    rows[0].site.clone(),
                    share_percent(rows[0].value, p.total(i)),
                )
            };
            if patient == "heap-leak"
                && let Some(p) = read("heap.pb.gz")
            {
                let (site, share) = top(&p, "inuse_space");
                assert_eq!(site, "main.handle", "{ver}");
                assert!(share > 90.0, "{ver}: {share}");
            }
            if patient == "memlimit-thrash"
                && let Some(p) = read("allocs.pb.gz")
            {
                let (site, share) = top(&p, "alloc_space");
                assert_eq!(site, "main.main.func1", "{ver}");
                assert!(share > 99.0, "{ver}: {share}");
            }
        }
    }

    #[test]
    fn heap_growth_names_the_site_holding_the_memory() {
        let p = heap(
            &[
                (
                    &[
                        "runtime.mallocgc",
                        "runtime.makeslice",
                        "main.(*cache).put",
                        "main.handle",
                    ],
                    [10, 100 << 20, 10, 99 << 20],
                ),
                (
                    &["runtime.mallocgc", "bytes.growSlice", "main.log"],
                    [5, 5 << 20, 1, 1 << 20],
                ),
            ],
            1000,
        );
        let mut f = vec![finding(
            "gc.heap-growth",
            Severity::Critical,
            Evidence::new(),
        )];
        name_heap_growth_site(
            &mut f,
            &[HeapObservation {
                source: "heap.pb.gz".into(),
                profile: p,
            }],
        );
        assert_eq!(f[0].sites[0], "main.(*cache).put");
        assert!(
            f[0].recommendation
                .starts_with("main.(*cache).put holds 99%"),
            "{}",
            f[0].recommendation
        );
        assert!(f[0].sources.contains(&"heap.pb.gz".to_string()));
    }

    /// Byte counts a damaged or hostile profile claims (near i64::MAX, negative) never
    /// overflow the joins' sums.
    #[test]
    fn absurd_heap_values_do_not_panic() {
        let big = i64::MAX - 1;
        let a = &["runtime.mallocgc", "main.a"][..];
        let b = &["runtime.mallocgc", "main.b"][..];
        let old = heap(&[(a, [1, -big, 1, -big]), (b, [1, -big, 1, -big])], 1000);
        let new = heap(
            &[(a, [big, big, big, big]), (b, [big, big, big, big])],
            1060,
        );
        let heaps = [
            HeapObservation {
                source: "new".into(),
                profile: new,
            },
            HeapObservation {
                source: "old".into(),
                profile: old,
            },
        ];
        let mut f = vec![
            finding("gc.heap-growth", Severity::Warning, Evidence::new()),
            finding("gc.long-pause", Severity::Warning, Evidence::new()),
        ];
        name_heap_growth_site(&mut f, &heaps);
        name_pause_allocation_site(&mut f, &heaps);
        assert!(!f[0].sites.is_empty(), "{:?}", f[0]);
    }

    #[test]
    fn heap_growth_prefers_the_difference_of_two_profiles_apart() {
        let stable = &["runtime.mallocgc", "main.loadConfig"][..];
        let grower = &["runtime.mallocgc", "main.(*sessions).add"][..];
        let old = heap(
            &[
                (stable, [1, 80 << 20, 1, 80 << 20]),
                (grower, [1, 1 << 20, 1, 1 << 20]),
            ],
            1000,
        );
        let new = heap(
            &[
                (stable, [1, 80 << 20, 1, 80 << 20]),
                (grower, [1, 41 << 20, 1, 41 << 20]),
            ],
            1060,
        );
        let mut f = vec![finding(
            "gc.heap-growth",
            Severity::Warning,
            Evidence::new(),
        )];
        let heaps = [
            HeapObservation {
                source: "new".into(),
                profile: new,
            },
            HeapObservation {
                source: "old".into(),
                profile: old,
            },
        ];
        name_heap_growth_site(&mut f, &heaps);
        // The latest profile alone would name loadConfig (80 of 121 MiB).
        assert_eq!(f[0].sites, ["main.(*sessions).add"]);
        assert!(
            f[0].evidence["site_basis"]
                .as_str()
                .unwrap()
                .contains("60 s apart")
        );
    }

    #[test]
    fn long_pause_names_a_dominant_allocation_site() {
        let p = heap(
            &[
                (
                    &["runtime.mallocgc", "runtime.makeslice", "main.readAll"],
                    [8, 100 << 20, 0, 0],
                ),
                (&["runtime.mallocgc", "main.small"], [1000, 16 << 20, 0, 0]),
            ],
            1,
        );
        let heaps = [HeapObservation {
            source: "allocs.pb.gz".into(),
            profile: p,
        }];
        let mut f = vec![finding("gc.long-pause", Severity::Warning, Evidence::new())];
        name_pause_allocation_site(&mut f, &heaps);
        assert_eq!(f[0].sites, ["main.readAll"]);
        assert_eq!(
            f[0].evidence["top_alloc_avg_object_bytes"],
            json!(100 << 20 >> 3)
        );
        assert!(
            f[0].recommendation.contains("zeroed"),
            "{}",
            f[0].recommendation
        );
        // Info pauses and spread-out allocation are left alone.
        let mut g = vec![finding("gc.long-pause", Severity::Info, Evidence::new())];
        name_pause_allocation_site(&mut g, &heaps);
        assert!(g[0].sites.is_empty());
    }

    #[test]
    fn a_dump_replaces_a_siteless_trace_leak() {
        let mut e = Evidence::new();
        e.insert("from".into(), json!("execution trace"));
        let mut f = vec![finding("goroutine.leak", Severity::Warning, e)];
        prefer_dump_over_siteless_trace_leak::<String>(&mut f, &[]);
        assert_eq!(f.len(), 1, "no dump: the trace's finding stands");
        prefer_dump_over_siteless_trace_leak(&mut f, &["goroutine.debug2.txt".to_string()]);
        assert!(f.is_empty());
    }
}
