//! contention.block (and contention.mutex) as a rate.
//!
//! Go's block profile is cumulative since `SetBlockProfileRate`, and a goroutine's wait is
//! recorded when it ends, idle waits included: a server's keep-alive connections or
//! worker pools accrue about one second per second each. A raw total therefore grows
//! with uptime, so it is turned into "goroutines blocked on average" over the best
//! interval the inputs give, and waits that are idleness by construction are set aside:
//!
//! 1. two block profiles of one process (different TimeNanos, counters that never fell):
//!    their difference over the interval between them;
//! 2. a delta profile (`?seconds=N`): its own DurationNanos;
//! 3. the process start (`process_start_time_seconds`): the total over TimeNanos − start;
//! 4. otherwise the cumulative total against the cumulative thresholds, saying so.
//!
//! Go writes block profiles with TimeNanos (the write time) and no DurationNanos
//! (runtime/pprof's profileBuilder sets the duration only for CPU profiles).

use crate::finding::{Evidence, Finding};
use crate::profiles::{DelayBasis, contention_finding_on, profile_from_stacks, site_of};
use crate::thresholds as t;
use gorx_formats::pprof::{Profile, Sample};
use serde_json::json;
use std::collections::HashMap;

/// Sites where a wait is idleness by design: the standard library's own background
/// goroutines waiting for work, and the profiler's wait while it captures.
const IDLE_BLOCK_SITES: &[&str] = &[
    // An idle keep-alive client connection waits here for its next request. (readLoop's
    // selects wait for the caller to consume a response body: not idle, not listed.)
    "net/http.(*persistConn).writeLoop",
    // net/http/pprof waits out `?seconds=N` (CPU profile, trace, delta profiles).
    "net/http/pprof.sleep",
    // database/sql's opener and cleaner wait for requests and timers for the DB's life.
    "database/sql.(*DB).connectionOpener",
    "database/sql.(*DB).connectionCleaner",
];

/// True for a wait that is idleness, not contention: a known idle site, or a stack
/// entirely inside the runtime (its own goroutines).
pub fn is_idle_wait(p: &Profile, s: &Sample) -> bool {
    IDLE_BLOCK_SITES.contains(&site_of(p, s))
        || p.frames(s).all(|f| f.function.starts_with("runtime."))
}

/// One block profile of a bundle.
pub struct BlockInput<'a> {
    pub source: &'a str,
    pub profile: &'a Profile,
    /// Rebuilt from the `?debug=1` text form: no TimeNanos, and the same data as a proto
    /// of the same capture, so it is judged only when no proto is there.
    pub text: bool,
}

/// The process start a basis can use: Unix seconds and where it came from.
pub struct ProcessStart<'a> {
    pub unix_s: f64,
    pub source: &'a str,
}

/// contention.block for the block profiles of one process (one bundle).
pub fn block_findings(inputs: &[BlockInput<'_>], start: Option<&ProcessStart<'_>>) -> Vec<Finding> {
    contention_rate_findings(inputs, start, false)
}

/// contention.mutex (`mutex`) or contention.block for the contention profiles of one
/// kind of one process, each on the best basis the inputs give (see the module comment).
/// The mutex profile is cumulative the same way; only its idle waits do not exist (a
/// mutex wait is contention by definition).
pub fn contention_rate_findings(
    inputs: &[BlockInput<'_>],
    start: Option<&ProcessStart<'_>>,
    mutex: bool,
) -> Vec<Finding> {
    let judge = |p: &Profile, sources: Vec<String>, basis: &DelayBasis, ev: Evidence| {
        if mutex {
            contention_finding_on(p, sources, true, basis, ev)
        } else {
            judge_block(p, sources, basis, ev)
        }
    };
    let protos: Vec<&BlockInput<'_>> = inputs.iter().filter(|b| !b.text).collect();
    if protos.is_empty() {
        return inputs
            .iter()
            .filter_map(|b| {
                judge(
                    b.profile,
                    vec![b.source.to_string()],
                    &DelayBasis::Cumulative,
                    Evidence::new(),
                )
            })
            .collect();
    }
    let mut timed: Vec<&BlockInput<'_>> = protos
        .iter()
        .copied()
        .filter(|b| b.profile.time_nanos > 0)
        .collect();
    timed.sort_by_key(|b| b.profile.time_nanos);
    if let (Some(old), Some(new)) = (timed.first(), timed.last())
        && new.profile.time_nanos > old.profile.time_nanos
        && let Some(delta) = delta(new.profile, old.profile)
    {
        let basis = DelayBasis::Interval {
            interval_ns: new.profile.time_nanos - old.profile.time_nanos,
            how: format!("difference of {} and {}", new.source, old.source),
        };
        let mut ev = Evidence::new();
        ev.insert("base_profile".into(), json!(old.source));
        return judge(
            &delta,
            vec![new.source.to_string(), old.source.to_string()],
            &basis,
            ev,
        )
        .into_iter()
        .collect();
    }
    protos
        .iter()
        .filter_map(|b| {
            let p = b.profile;
            let mut basis = DelayBasis::of_profile(p);
            let mut ev = Evidence::new();
            if basis == DelayBasis::Cumulative
                && let Some(st) = start
            {
                let start_ns = (st.unix_s * 1e9) as i64;
                if p.time_nanos > start_ns {
                    basis = DelayBasis::Uptime {
                        uptime_ns: p.time_nanos - start_ns,
                        how: format!(
                            "profile time − process start from {}; profiling may have been enabled later, so this can understate the rate",
                            st.source
                        ),
                    };
                    ev.insert("process_start_unix_s".into(), json!(st.unix_s));
                }
            }
            judge(p, vec![b.source.to_string()], &basis, ev)
        })
        .collect()
}

/// Sets idle waits aside, then judges what is left.
fn judge_block(
    p: &Profile,
    sources: Vec<String>,
    basis: &DelayBasis,
    mut ev: Evidence,
) -> Option<Finding> {
    let delay_idx = p.sample_type_index("delay")?;
    let mut busy = p.clone();
    busy.samples.clear();
    let mut idle: HashMap<&str, i64> = HashMap::new();
    let mut idle_ns = 0i64;
    for s in &p.samples {
        if is_idle_wait(p, s) {
            let v = s
                .values
                .get(delay_idx)
                .copied()
                .unwrap_or(0)
                .saturating_abs();
            idle_ns = idle_ns.saturating_add(v);
            let e = idle.entry(site_of(p, s)).or_default();
            *e = e.saturating_add(v);
        } else {
            busy.samples.push(s.clone());
        }
    }
    if idle_ns > 0 {
        let mut sites: Vec<(&str, i64)> = idle.into_iter().collect();
        sites.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        ev.insert("idle_wait_excluded_ns".into(), json!(idle_ns));
        ev.insert(
            "idle_wait_sites".into(),
            json!(
                sites
                    .iter()
                    .take(t::PROFILE_TOP_SITES)
                    .map(|(s, _)| *s)
                    .collect::<Vec<_>>()
            ),
        );
    }
    contention_finding_on(&busy, sources, false, basis, ev)
}

/// Stacks of function names (leaf first) with (contentions, delay ns).
fn by_stack(p: &Profile) -> Option<HashMap<Vec<&str>, (i64, i64)>> {
    let d = p.sample_type_index("delay")?;
    let c = p.sample_type_index("contentions");
    let mut m: HashMap<Vec<&str>, (i64, i64)> = HashMap::new();
    for s in &p.samples {
        let key: Vec<&str> = p.frames(s).map(|f| f.function).collect();
        let e = m.entry(key).or_default();
        let get = |i: usize| s.values.get(i).copied().unwrap_or(0);
        e.0 = e.0.saturating_add(c.map_or(0, get));
        e.1 = e.1.saturating_add(get(d));
    }
    Some(m)
}

/// `new − base` by stack, when both are cumulative profiles of one process: the base has
/// waits, no stack's delay fell by more than [`t::BLOCK_DELTA_MAX_FALL_RATIO`] of the base
/// total (a restarted process starts from zero), and they are at least
/// [`t::BLOCK_DELTA_MIN_INTERVAL_NS`] apart. Stacks with no new delay are dropped.
pub fn delta(new: &Profile, base: &Profile) -> Option<Profile> {
    let n = by_stack(new)?;
    let b = by_stack(base)?;
    let base_total: i64 = b.values().map(|v| v.1.max(0)).fold(0, i64::saturating_add);
    let fell: i64 = b
        .iter()
        .map(|(k, v)| (v.1 - n.get(k).map_or(0, |x| x.1)).max(0))
        .fold(0, i64::saturating_add);
    // An empty base, or one whose waits are not in the newer profile, is not the same
    // process's earlier state; a very short interval gives no meaningful rate.
    if base_total <= 0
        || fell as f64 > base_total as f64 * t::BLOCK_DELTA_MAX_FALL_RATIO
        || new.time_nanos.saturating_sub(base.time_nanos) < t::BLOCK_DELTA_MIN_INTERVAL_NS
    {
        return None;
    }
    let mut rows: Vec<(Vec<&str>, Vec<i64>)> = n
        .iter()
        .filter_map(|(k, v)| {
            let old = b.get(k).copied().unwrap_or((0, 0));
            let dd = v.1.saturating_sub(old.1);
            (dd > 0).then(|| (k.clone(), vec![v.0.saturating_sub(old.0).max(0), dd]))
        })
        .collect();
    rows.sort();
    let mut p = profile_from_stacks(&[("contentions", "count"), ("delay", "nanoseconds")], rows);
    p.time_nanos = new.time_nanos;
    p.duration_nanos = new.time_nanos - base.time_nanos;
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Severity;

    fn corpus_block(patient: &str) -> Profile {
        let p = gorx_testsupport::repo_root()
            .join("testdata/artifacts/1.26")
            .join(patient)
            .join("block.pb.gz");
        gorx_formats::pprof::parse("block", &std::fs::read(p).unwrap()).unwrap()
    }

    fn one(p: &Profile, start: Option<f64>) -> Vec<Finding> {
        let st = start.map(|unix_s| ProcessStart {
            unix_s,
            source: "metrics",
        });
        block_findings(
            &[BlockInput {
                source: "block.pb.gz",
                profile: p,
                text: false,
            }],
            st.as_ref(),
        )
    }

    fn scaled(p: &Profile, k: i64) -> Profile {
        let mut q = p.clone();
        for s in &mut q.samples {
            for v in &mut s.values {
                *v = v.saturating_mul(k);
            }
        }
        q
    }

    /// Go writes TimeNanos and no DurationNanos for block profiles.
    #[test]
    fn go_block_profiles_carry_a_time_and_no_duration() {
        let p = corpus_block("chan-block");
        assert!(p.time_nanos > 1_700_000_000_000_000_000);
        assert_eq!(p.duration_nanos, 0);
    }

    #[test]
    fn uptime_turns_the_total_into_a_rate() {
        let p = corpus_block("chan-block");
        let t = p.time_nanos as f64 / 1e9;
        // Without a start: the cumulative 1197 s, and the evidence says so.
        let f = one(&p, None);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].evidence["rate_basis"]
                .as_str()
                .unwrap()
                .starts_with("cumulative")
        );
        // Captured 15 s after start (the corpus' capture point): ~80 goroutines blocked.
        let f = one(&p, Some(t - 15.0));
        assert_eq!(f[0].severity, Severity::Warning);
        let rate = f[0].evidence["delay_ns_per_s"].as_i64().unwrap();
        assert!((70e9 as i64..90e9 as i64).contains(&rate), "{rate}");
        assert!(
            f[0].evidence["rate_basis"]
                .as_str()
                .unwrap()
                .contains("process start")
        );
        // The same totals after ten hours of uptime are 0.03 goroutines: nothing to say.
        assert!(one(&p, Some(t - 36_000.0)).is_empty());
        // A start after the profile's time is not believed.
        assert_eq!(
            one(&p, Some(t + 5.0))[0].evidence["rate_basis"],
            f_cumulative()
        );
    }

    /// The mutex profile is cumulative the same way.
    #[test]
    fn mutex_delay_is_a_rate_too() {
        let path = gorx_testsupport::repo_root()
            .join("testdata/artifacts/1.26/mutex-contention/mutex.pb.gz");
        let p = gorx_formats::pprof::parse("mutex", &std::fs::read(path).unwrap()).unwrap();
        let t = p.time_nanos as f64 / 1e9;
        let run = |uptime_s: Option<f64>| {
            let st = uptime_s.map(|u| ProcessStart {
                unix_s: t - u,
                source: "metrics",
            });
            let input = BlockInput {
                source: "mutex.pb.gz",
                profile: &p,
                text: false,
            };
            contention_rate_findings(&[input], st.as_ref(), true)
        };
        let f = run(None);
        assert_eq!(
            (f[0].id, f[0].severity),
            ("contention.mutex", Severity::Critical)
        );
        let f = run(Some(15.0));
        assert_eq!(f[0].id, "contention.mutex");
        assert!(f[0].severity >= Severity::Warning);
        assert!(f[0].evidence.contains_key("uptime_ns"));
        // Ten days: a few ms of lock wait per second.
        assert!(run(Some(864_000.0)).is_empty());
    }

    fn f_cumulative() -> serde_json::Value {
        json!(DelayBasis::Cumulative.describe())
    }

    /// A healthy service after hours: its totals grow ×1000, mostly idle keep-alive
    /// connections. Idle waits are set aside; the rest is judged per second of uptime.
    #[test]
    fn long_running_healthy_process_is_quiet_on_a_rate() {
        let h = corpus_block("healthy");
        let f = one(&h, None);
        assert!(f.is_empty(), "{f:#?}");
        let old = scaled(&h, 1000);
        let f = one(&old, None);
        // On the cumulative basis the non-idle rest (≈ 0.5 s × 1000) still crosses 100 s...
        assert_eq!(f.len(), 1);
        let ev = &f[0].evidence;
        assert!(ev["idle_wait_excluded_ns"].as_i64().unwrap() >= 14_000_000_000_000);
        assert_eq!(
            ev["idle_wait_sites"][0],
            json!("net/http.(*persistConn).writeLoop")
        );
        assert!(ev["delay_total_ns"].as_i64().unwrap() < 1_000_000_000_000);
        // ...but over four hours of uptime it is a thirtieth of a goroutine.
        let t = old.time_nanos as f64 / 1e9;
        assert!(one(&old, Some(t - 4.0 * 3600.0)).is_empty());
    }

    #[test]
    fn two_profiles_of_one_process_give_the_rate_between_them() {
        let new = corpus_block("chan-block");
        let mut base = new.clone();
        for s in &mut base.samples {
            for v in &mut s.values {
                *v /= 2;
            }
        }
        base.time_nanos -= 10_000_000_000;
        let both = |base: &Profile| {
            block_findings(
                &[
                    BlockInput {
                        source: "new.pb.gz",
                        profile: &new,
                        text: false,
                    },
                    BlockInput {
                        source: "old.pb.gz",
                        profile: base,
                        text: false,
                    },
                ],
                None,
            )
        };
        let f = both(&base);
        assert_eq!(f.len(), 1);
        let rate = f[0].evidence["delay_ns_per_s"].as_i64().unwrap();
        // Half of 1197 s over 10 s.
        assert!((55e9 as i64..65e9 as i64).contains(&rate), "{rate}");
        assert_eq!(f[0].evidence["interval_ns"], 10_000_000_000i64);
        assert_eq!(f[0].sources, vec!["new.pb.gz", "old.pb.gz"]);
        // The same growth over ten hours is nothing.
        base.time_nanos -= 36_000_000_000_000;
        assert!(both(&base).is_empty());
        // A base with more wait than the newer profile is another process (a restart):
        // no delta; each is judged alone on its own basis.
        let bigger = scaled(&new, 2);
        let mut restarted = bigger.clone();
        restarted.time_nanos = new.time_nanos - 10_000_000_000;
        let f = both(&restarted);
        assert!(f.iter().all(|f| f.evidence["rate_basis"] == f_cumulative()));
        // An unrelated profile (another program's waits) is no base either.
        let mut other = corpus_block("mutex-contention");
        other.time_nanos = new.time_nanos - 10_000_000_000;
        assert!(delta(&new, &other).is_none());
    }
}
