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
//!
//! Each wait is classified by the primitive it blocked in ([`wait_primitive`]); who
//! waits decides what the wait means (issue 13):
//! - sync.Mutex/RWMutex Lock: lock contention seen from the waiters → contention.mutex
//!   (on the mutex thresholds; joined with the mutex profile by [`contention_findings`]);
//! - WaitGroup.Wait, Cond.Wait, errgroup.Wait: fork-join, a caller waiting for work it
//!   started → contention.block at info at most, worded as such;
//! - channel receives: service loops and worker pools parked for work → idle, set aside
//!   (with the known idle sites and the runtime's own goroutines);
//! - selects: usually the same idle loops, but a producer selecting on a send with a
//!   cancellation case blocks in select too, and the profile cannot tell them apart →
//!   contention.block at info at most, saying both;
//! - channel sends, and waits of no known primitive: backpressure → contention.block.

use crate::finding::{Evidence, Finding};
use crate::profiles::{
    ContentionRole, DelayBasis, contention_finding_on, is_runtime_frame, profile_from_stacks,
    site_of,
};
use crate::thresholds as t;
use gorx_formats::pprof::{Profile, Sample};
use serde_json::json;
use std::collections::HashMap;

/// True for a wait that is idleness, not contention: a service loop idle by design
/// ([`crate::sites::idle_wait`]: net/http's writeLoop, database/sql's opener and cleaner,
/// HTTP/2 and gRPC transport loops), net/http/pprof waiting out `?seconds=N`, or a stack
/// entirely inside the runtime (its own goroutines).
pub fn is_idle_wait(p: &Profile, s: &Sample) -> bool {
    let funcs: Vec<&str> = p.frames(s).map(|f| f.function).collect();
    site_of(p, s) == "net/http/pprof.sleep"
        || crate::sites::idle_wait(false, false, &funcs, None).is_some()
        || funcs.iter().all(|f| f.starts_with("runtime."))
}

/// The primitive a blocked stack waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitPrimitive {
    /// sync.(*Mutex).Lock, sync.(*RWMutex).Lock/RLock: lock contention.
    Lock,
    /// sync.(*WaitGroup).Wait, sync.(*Cond).Wait, errgroup.(*Group).Wait: fork-join.
    ForkJoin,
    /// runtime.chanrecv*, select {}: a receiver waiting for something to do.
    Receive,
    /// runtime.selectgo: a service loop or worker waiting for work, or a producer
    /// selecting on a send with a cancellation case; the profile cannot tell which.
    Select,
    /// runtime.chansend*: a sender waiting for its receiver (backpressure).
    Send,
    /// None of the above.
    Other,
}

impl WaitPrimitive {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitPrimitive::Lock => "lock",
            WaitPrimitive::ForkJoin => "fork_join",
            WaitPrimitive::Receive => "receive",
            WaitPrimitive::Select => "select",
            WaitPrimitive::Send => "send",
            WaitPrimitive::Other => "other",
        }
    }
}

/// The primitive of one frame, if it is one.
fn frame_primitive(f: &str) -> Option<WaitPrimitive> {
    // Go 1.24+ implements sync.Mutex in internal/sync; either may be the frame.
    let f = f.strip_prefix("internal/").unwrap_or(f);
    if let Some(m) = f
        .strip_prefix("sync.(*Mutex).")
        .or(f.strip_prefix("sync.(*RWMutex)."))
    {
        return matches!(m, "Lock" | "RLock" | "lockSlow" | "rLockSlow" | "TryLock")
            .then_some(WaitPrimitive::Lock);
    }
    match f {
        "sync.(*WaitGroup).Wait"
        | "sync.(*Cond).Wait"
        | "golang.org/x/sync/errgroup.(*Group).Wait" => Some(WaitPrimitive::ForkJoin),
        "runtime.chanrecv" | "runtime.chanrecv1" | "runtime.chanrecv2" | "runtime.block" => {
            Some(WaitPrimitive::Receive)
        }
        "runtime.selectgo" => Some(WaitPrimitive::Select),
        "runtime.chansend" | "runtime.chansend1" | "runtime.selectnbsend" => {
            Some(WaitPrimitive::Send)
        }
        _ => None,
    }
}

/// What a blocked stack (function names, leaf first) waits in: the first frame from the
/// leaf that is a known primitive, looking no further than the first frame of user code
/// (a stack that blocks in none of them is [`WaitPrimitive::Other`]).
pub fn wait_primitive<'a>(frames: impl IntoIterator<Item = &'a str>) -> WaitPrimitive {
    for f in frames {
        if let Some(k) = frame_primitive(f) {
            return k;
        }
        if !is_runtime_frame(f) {
            break;
        }
    }
    WaitPrimitive::Other
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
            contention_finding_on(p, sources, ContentionRole::MutexProfile, basis, ev)
                .into_iter()
                .collect()
        } else {
            judge_block(p, sources, basis, ev)
        }
    };
    let protos: Vec<&BlockInput<'_>> = inputs.iter().filter(|b| !b.text).collect();
    if protos.is_empty() {
        return inputs
            .iter()
            .flat_map(|b| {
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
        );
    }
    protos
        .iter()
        .flat_map(|b| {
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

/// Classifies each wait by its primitive: idle waits are set aside, lock waits judged as
/// contention.mutex, fork-join waits at info at most, sends (and the unclassified rest)
/// as contention.block. At most one contention.block: fork-join numbers join the
/// backpressure finding's evidence when there is one.
fn judge_block(
    p: &Profile,
    sources: Vec<String>,
    basis: &DelayBasis,
    mut ev: Evidence,
) -> Vec<Finding> {
    let Some(delay_idx) = p.sample_type_index("delay") else {
        return Vec::new();
    };
    let empty = {
        let mut e = p.clone();
        e.samples.clear();
        e
    };
    let (mut locks, mut forkjoin, mut selects) = (empty.clone(), empty.clone(), empty.clone());
    let mut busy = empty;
    let mut idle: HashMap<&str, i64> = HashMap::new();
    let mut by_kind: HashMap<WaitPrimitive, i64> = HashMap::new();
    let mut idle_ns = 0i64;
    for s in &p.samples {
        let v = s
            .values
            .get(delay_idx)
            .copied()
            .unwrap_or(0)
            .saturating_abs();
        let kind = wait_primitive(p.frames(s).map(|f| f.function));
        let e = by_kind.entry(kind).or_default();
        *e = e.saturating_add(v);
        if kind == WaitPrimitive::Receive || is_idle_wait(p, s) {
            idle_ns = idle_ns.saturating_add(v);
            let e = idle.entry(site_of(p, s)).or_default();
            *e = e.saturating_add(v);
            continue;
        }
        match kind {
            WaitPrimitive::Lock => locks.samples.push(s.clone()),
            WaitPrimitive::ForkJoin => forkjoin.samples.push(s.clone()),
            WaitPrimitive::Select => selects.samples.push(s.clone()),
            _ => busy.samples.push(s.clone()),
        }
    }
    let mut kinds: Vec<(WaitPrimitive, i64)> = by_kind.into_iter().collect();
    kinds.sort_by_key(|(k, _)| k.as_str());
    ev.insert(
        "wait_ns_by_primitive".into(),
        json!(
            kinds
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), json!(v)))
                .collect::<serde_json::Map<_, _>>()
        ),
    );
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
    let mut out = Vec::new();
    let lock_ev = {
        let mut e = Evidence::new();
        e.insert(
            "from".into(),
            json!("block profile: waits in sync.(*Mutex).Lock / (*RWMutex).Lock / RLock"),
        );
        e
    };
    out.extend(contention_finding_on(
        &locks,
        sources.clone(),
        ContentionRole::BlockedLocks,
        basis,
        lock_ev,
    ));
    let send_ns = kinds
        .iter()
        .find(|(k, _)| *k == WaitPrimitive::Send)
        .map_or(0, |k| k.1);
    let busy_ns = busy.total(delay_idx);
    let sends = contention_finding_on(
        &busy,
        sources.clone(),
        ContentionRole::BlockedSends,
        basis,
        ev.clone(),
    )
    .map(|mut f| {
        if send_ns.saturating_mul(2) < busy_ns {
            // Mostly waits of no known primitive: say "blocked", not "sending".
            f.title = f
                .title
                .replacen("blocked sending on channels", "blocked", 1);
        }
        f
    });
    let sel = contention_finding_on(
        &selects,
        sources.clone(),
        ContentionRole::Select,
        basis,
        ev.clone(),
    );
    let fj = contention_finding_on(&forkjoin, sources, ContentionRole::ForkJoin, basis, ev);
    // One contention.block: backpressure first, then selects, then fork-join; the others'
    // totals and sites join its evidence.
    let mut rest = [("select", sel), ("fork_join", fj)].into_iter();
    let mut main = sends;
    let mut others = Vec::new();
    for (name, f) in rest.by_ref() {
        match (&main, f) {
            (None, Some(f)) => main = Some(f),
            (Some(_), Some(f)) => others.push((name, f)),
            _ => {}
        }
    }
    if let Some(mut m) = main {
        for (name, f) in others {
            m.evidence.insert(
                format!("{name}_wait_ns"),
                f.evidence["delay_total_ns"].clone(),
            );
            m.evidence.insert(format!("{name}_sites"), json!(f.sites));
        }
        out.push(m);
    }
    out
}

/// contention.mutex and contention.block for one process from all its block and mutex
/// profiles: each kind on its best basis ([`contention_rate_findings`]), then the
/// contention.mutex of the mutex profile and the one from the block profile's lock waits
/// joined into one finding at the higher severity, with both in its evidence (a Go 1.19
/// mutex profile may say little while the block profile shows long Lock waits at the same
/// function).
pub fn contention_findings(
    blocks: &[BlockInput<'_>],
    mutexes: &[BlockInput<'_>],
    start: Option<&ProcessStart<'_>>,
) -> Vec<Finding> {
    let mut all = contention_rate_findings(blocks, start, false);
    all.extend(contention_rate_findings(mutexes, start, true));
    let (mut mx, mut out): (Vec<Finding>, Vec<Finding>) =
        all.into_iter().partition(|f| f.id == "contention.mutex");
    if mx.len() > 1 {
        mx.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let mut it = mx.into_iter();
        let mut base = it.next().expect("two or more");
        let mut also = Vec::new();
        for f in it {
            for s in f.sources.iter() {
                if !base.sources.contains(s) {
                    base.sources.push(s.clone());
                }
            }
            for s in f.sites.iter() {
                if !base.sites.contains(s) {
                    base.sites.push(s.clone());
                }
            }
            also.push(json!({
                "sources": f.sources,
                "severity": f.severity.as_str(),
                "title": f.title,
                "delay_total_ns": f.evidence.get("delay_total_ns"),
                "delay_ns_per_s": f.evidence.get("delay_ns_per_s"),
                "top_sites": f.evidence.get("top_sites"),
            }));
        }
        base.sites.truncate(t::PROFILE_TOP_SITES);
        base.evidence.insert("corroborated_by".into(), json!(also));
        out.insert(0, base);
    } else {
        out.splice(0..0, mx);
    }
    out
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
        .map(|(k, v)| v.1.saturating_sub(n.get(k).map_or(0, |x| x.1)).max(0))
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
    p.duration_nanos = new.time_nanos.saturating_sub(base.time_nanos);
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
        // Captured 15 s after start (the corpus' capture point): ~63 goroutines blocked
        // sending (the 16 select waiters and the consumer's receive are idle, set aside).
        let f = one(&p, Some(t - 15.0));
        assert_eq!(f[0].severity, Severity::Warning);
        let rate = f[0].evidence["delay_ns_per_s"].as_i64().unwrap();
        assert!((55e9 as i64..70e9 as i64).contains(&rate), "{rate}");
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
        // Even on the cumulative basis: its waits are selects and receives of the HTTP
        // client's connections (idle, or info for the selects), fork-join Cond waits (29 s)
        // and a few lock waits (0.6 s). Before issue 13 the selects of readLoop and
        // roundTrip made a warning.
        let f = one(&old, None);
        assert!(f.iter().all(|f| f.severity < Severity::Warning), "{f:#?}");
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
        // Half of the ~945 s of sends over 10 s (selects and receives are idle).
        assert!((42e9 as i64..52e9 as i64).contains(&rate), "{rate}");
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

    fn contention(stacks: &[(&[&'static str], i64)]) -> Profile {
        let mut p = profile_from_stacks(
            &[("contentions", "count"), ("delay", "nanoseconds")],
            stacks
                .iter()
                .map(|(st, v)| (st.to_vec(), vec![v / 1_000_000, *v])),
        );
        p.time_nanos = 1_800_000_000_000_000_000;
        p
    }

    /// Delays and times a damaged profile claims (negative, near i64::MAX) never
    /// overflow the difference of two profiles.
    #[test]
    fn absurd_delta_values_do_not_panic() {
        let stack: &[&'static str] = &["runtime.chansend1", "main.produce"];
        let mut base = contention(&[(stack, i64::MAX)]);
        let mut new = contention(&[(stack, -i64::MAX)]);
        assert!(delta(&new, &base).is_none(), "every wait fell");
        base = contention(&[(stack, 1_000_000)]);
        base.time_nanos = -i64::MAX;
        new.samples = contention(&[(stack, 2_000_000)]).samples;
        new.time_nanos = i64::MAX;
        let d = delta(&new, &base).unwrap();
        assert_eq!(d.duration_nanos, i64::MAX);
    }

    const S: i64 = 1_000_000_000;

    /// Issue 13, field: node-exporter 1.5's waits in sync.(*WaitGroup).Wait under
    /// (*Registry).Gather.func2 and NodeCollector.Collect (fork-join: each scrape waits
    /// for its collectors) were a contention.block warning with "shard the lock" advice.
    #[test]
    fn fork_join_waits_are_info_worded_as_such() {
        let p = contention(&[
            (
                &[
                    "runtime.semacquire1",
                    "sync.runtime_Semacquire",
                    "sync.(*WaitGroup).Wait",
                    "github.com/prometheus/client_golang/prometheus.(*Registry).Gather.func2",
                ],
                300 * S,
            ),
            (
                &[
                    "sync.runtime_Semacquire",
                    "sync.(*WaitGroup).Wait",
                    "github.com/prometheus/node_exporter/collector.NodeCollector.Collect",
                ],
                200 * S,
            ),
        ]);
        let f = one(&p, None);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].id, "contention.block");
        assert_eq!(f[0].severity, Severity::Info);
        assert!(f[0].title.contains("Fork-join"), "{}", f[0].title);
        assert!(
            !f[0].recommendation.contains("shard"),
            "{}",
            f[0].recommendation
        );
        assert_eq!(
            f[0].evidence["wait_ns_by_primitive"]["fork_join"],
            json!(500 * S)
        );
        // errgroup and Cond too.
        for st in [
            &["golang.org/x/sync/errgroup.(*Group).Wait", "main.fetchAll"][..],
            &[
                "sync.runtime_notifyListWait",
                "sync.(*Cond).Wait",
                "main.(*queue).pop",
            ][..],
        ] {
            assert_eq!(wait_primitive(st.iter().copied()), WaitPrimitive::ForkJoin);
        }
    }

    /// The transport loops sites.rs knows idle by design (an HTTP/2 server connection's
    /// serve loop, gRPC's writer, parked in select) are idle in a block profile too, not
    /// only the few this file once listed.
    #[test]
    fn transport_loops_are_idle_waits() {
        let p = contention(&[
            (
                &[
                    "runtime.selectgo",
                    "google.golang.org/grpc/internal/transport.(*loopyWriter).run",
                ],
                3600 * S,
            ),
            (
                &["runtime.selectgo", "net/http.(*http2serverConn).serve"],
                3600 * S,
            ),
        ]);
        let f = one(&p, None);
        assert!(f.is_empty(), "{f:#?}");
    }

    /// Issue 13, held-out healthy servers: service loops and worker pools parked in
    /// select / chan receive for their whole life, with block profiling at rate 1, were
    /// contention.block (critical with no uptime, warning on a rate from two profiles).
    #[test]
    fn service_loops_parked_for_work_are_idle() {
        // 20 loops parked for an hour each, 8 workers waiting on a job channel.
        let loops = |secs: i64| {
            contention(&[
                (&["runtime.selectgo", "main.(*server).run"], 20 * secs * S),
                (
                    &["runtime.chanrecv2", "example.com/pool.(*Pool).worker"],
                    8 * secs * S,
                ),
                (&["runtime.block", "main.main"], secs * S),
            ])
        };
        // Receives are set aside; the selects (which could also be producers selecting on
        // a send) are info at most, worded so.
        let quiet = |f: &[Finding]| f.iter().all(|f| f.severity < Severity::Warning);
        let p = loops(3600);
        let f = one(&p, None);
        assert!(quiet(&f), "{f:#?}");
        assert_eq!(f.len(), 1);
        assert!(f[0].title.contains("select"), "{}", f[0].title);
        assert_eq!(f[0].evidence["idle_wait_excluded_ns"], json!(9 * 3600 * S));
        let mut base = loops(3000);
        base.time_nanos = p.time_nanos - 600 * S;
        let f = block_findings(
            &[
                BlockInput {
                    source: "new",
                    profile: &p,
                    text: false,
                },
                BlockInput {
                    source: "old",
                    profile: &base,
                    text: false,
                },
            ],
            None,
        );
        assert!(quiet(&f), "{f:#?}");
        assert!(f[0].evidence.contains_key("interval_ns"));
        // Blocked senders are backpressure: contention.block, advice to match.
        let q = contention(&[
            (&["runtime.chansend1", "main.producer"], 500 * S),
            (&["runtime.selectgo", "main.(*server).run"], 72_000 * S),
        ]);
        let f = one(&q, None);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(
            (f[0].id, f[0].severity),
            ("contention.block", Severity::Warning)
        );
        assert_eq!(f[0].sites, ["main.producer"]);
        assert!(f[0].title.contains("sending"), "{}", f[0].title);
        assert!(
            !f[0].recommendation.contains("shard"),
            "{}",
            f[0].recommendation
        );
        assert_eq!(f[0].evidence["select_wait_ns"], json!(72_000 * S));
    }

    /// Lock waits in a block profile are lock contention (contention.mutex), joined with
    /// the mutex profile of the same process when it says less.
    #[test]
    fn lock_waits_in_the_block_profile_are_mutex_contention() {
        let block = contention(&[
            (
                &[
                    "sync.runtime_SemacquireMutex",
                    "internal/sync.(*Mutex).lockSlow",
                    "sync.(*Mutex).Lock",
                    "main.(*stats).record",
                    "main.worker",
                ],
                84 * S,
            ),
            (&["runtime.chanrecv1", "main.loop"], 1000 * S),
        ]);
        let f = one(&block, None);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(
            (f[0].id, f[0].severity),
            ("contention.mutex", Severity::Warning)
        );
        assert_eq!(f[0].sites, ["main.(*stats).record"]);
        assert!(f[0].recommendation.contains("shard the lock"));
        // A mutex profile of the same process alone: info (3 s released at record).
        let mutex = contention(&[(
            &[
                "sync.(*Mutex).Unlock",
                "main.(*stats).record",
                "main.worker",
            ],
            3 * S,
        )]);
        let m_in = BlockInput {
            source: "mutex.pb.gz",
            profile: &mutex,
            text: false,
        };
        let alone = contention_rate_findings(std::slice::from_ref(&m_in), None, true);
        assert_eq!(
            (alone[0].id, alone[0].severity),
            ("contention.mutex", Severity::Info)
        );
        // Both: one contention.mutex at the block profile's warning, both sources.
        let b_in = BlockInput {
            source: "block.pb.gz",
            profile: &block,
            text: false,
        };
        let f = contention_findings(&[b_in], &[m_in], None);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(
            (f[0].id, f[0].severity),
            ("contention.mutex", Severity::Warning)
        );
        assert_eq!(f[0].sources, ["block.pb.gz", "mutex.pb.gz"]);
        assert_eq!(f[0].sites, ["main.(*stats).record"]);
        assert_eq!(
            f[0].evidence["corroborated_by"][0]["severity"],
            json!("info")
        );
        for (st, k) in [
            (
                &["sync.(*RWMutex).RLock", "main.get"][..],
                WaitPrimitive::Lock,
            ),
            (
                &["sync.(*RWMutex).Lock", "main.set"][..],
                WaitPrimitive::Lock,
            ),
            (&["runtime.chansend1", "main.p"][..], WaitPrimitive::Send),
            (&["runtime.chanrecv1", "main.c"][..], WaitPrimitive::Receive),
            (
                &["main.custom", "runtime.chanrecv1"][..],
                WaitPrimitive::Other,
            ),
        ] {
            assert_eq!(wait_primitive(st.iter().copied()), k, "{st:?}");
        }
    }

    /// The planted Go 1.19 capture: its block profile's 465 s of Mutex.Lock waits make
    /// contention.mutex critical beside the mutex profile's 15 s.
    #[test]
    fn corpus_1_19_mutex_contention_joined() {
        let dir = gorx_testsupport::repo_root().join("testdata/artifacts/1.19/mutex-contention");
        let read =
            |n: &str| gorx_formats::pprof::parse(n, &std::fs::read(dir.join(n)).unwrap()).unwrap();
        let (b, m) = (read("block.pb.gz"), read("mutex.pb.gz"));
        let bi = BlockInput {
            source: "block.pb.gz",
            profile: &b,
            text: false,
        };
        let mi = BlockInput {
            source: "mutex.pb.gz",
            profile: &m,
            text: false,
        };
        let f = contention_findings(&[bi], &[mi], None);
        let ids: Vec<&str> = f.iter().map(|f| f.id).collect();
        assert_eq!(ids, ["contention.mutex"], "{f:#?}");
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[0].sites[0], "main.(*stats).record");
        assert_eq!(f[0].sources.len(), 2);
    }
}
