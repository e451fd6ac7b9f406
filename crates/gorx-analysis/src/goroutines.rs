//! Goroutine dump diagnosis: identical stacks grouped (as panicparse does: same state,
//! same functions at the same file:line, same creator; arguments ignored), counts by
//! state, leak suspects, goroutine count, and a finalizer goroutine stuck in user code.

use crate::finding::{Evidence, Finding, Severity};
use crate::sites::{IdleKind, idle_wait, is_plumbing};
use crate::thresholds as t;
use gorx_formats::goroutines::{Dump, Frame, Goroutine};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupFrame {
    pub function: String,
    pub file: String,
    pub line: u32,
}

impl GroupFrame {
    fn of(f: &Frame<'_>) -> Self {
        GroupFrame {
            function: f.function.to_string(),
            file: f.file.to_string(),
            line: f.line,
        }
    }
    /// `file:line`, or the function when the location is unknown.
    pub fn location(&self) -> String {
        if self.file.is_empty() {
            self.function.clone()
        } else {
            format!("{}:{}", self.file, self.line)
        }
    }
}

/// Goroutines with identical stacks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoroutineGroup {
    pub count: usize,
    pub state: String,
    pub wait_minutes_min: u64,
    pub wait_minutes_max: u64,
    pub locked_to_thread: usize,
    /// Goroutine ids, ascending.
    pub ids: Vec<u64>,
    pub frames: Vec<GroupFrame>,
    pub elided: bool,
    pub created_by: Option<GroupFrame>,
    /// Where the code that owns these goroutines is waiting: the first frame outside the
    /// runtime and the standard library, else the first outside the waiting primitives
    /// ([`crate::sites::site`]).
    pub site: Option<GroupFrame>,
    /// Why these goroutines wait by design (idle keep-alive connections, listeners,
    /// service loops, sleeping tickers): never a leak. None: not known to be idle.
    pub idle: Option<IdleKind>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DumpSummary {
    pub total: usize,
    /// Goroutines per state, most common first.
    pub by_state: Vec<(String, usize)>,
    /// Largest group first.
    pub groups: Vec<GoroutineGroup>,
}

/// The goroutine's site ([`crate::sites::site`]): the first frame outside the runtime
/// and the standard library, else the first outside the waiting primitives.
pub fn site_of<'a>(g: &'a Goroutine<'a>) -> Option<&'a Frame<'a>> {
    let name = crate::sites::site(g.frames.iter().map(|f| f.function))?;
    g.frames.iter().find(|f| f.function == name)
}

/// Why the goroutine waits by design, if it does ([`crate::sites::idle_wait`]).
pub fn idle_of(g: &Goroutine<'_>) -> Option<IdleKind> {
    if !g.is_waiting() {
        return None;
    }
    let funcs: Vec<&str> = g.frames.iter().map(|f| f.function).collect();
    idle_wait(
        g.state.starts_with("IO wait"),
        g.state.starts_with("sleep"),
        &funcs,
        g.created_by.as_ref().map(|c| c.function),
    )
}

type Key<'a> = (
    &'a str,
    Vec<(&'a str, &'a str, u32)>,
    Option<(&'a str, &'a str, u32)>,
);

/// Groups identical stacks, largest group first (ties: lowest goroutine id first).
pub fn group(d: &Dump<'_>) -> Vec<GoroutineGroup> {
    let mut index: HashMap<Key<'_>, usize> = HashMap::new();
    let mut groups: Vec<GoroutineGroup> = Vec::new();
    for g in &d.goroutines {
        let key: Key<'_> = (
            g.state,
            g.frames
                .iter()
                .map(|f| (f.function, f.file, f.line))
                .collect(),
            g.created_by.as_ref().map(|c| (c.function, c.file, c.line)),
        );
        let i = *index.entry(key).or_insert_with(|| {
            groups.push(GoroutineGroup {
                count: 0,
                state: g.state.to_string(),
                wait_minutes_min: u64::MAX,
                wait_minutes_max: 0,
                locked_to_thread: 0,
                ids: Vec::new(),
                frames: g.frames.iter().map(GroupFrame::of).collect(),
                elided: g.elided.is_some(),
                created_by: g.created_by.as_ref().map(|c| GroupFrame {
                    function: c.function.to_string(),
                    file: c.file.to_string(),
                    line: c.line,
                }),
                site: site_of(g).map(GroupFrame::of),
                idle: idle_of(g),
            });
            groups.len() - 1
        });
        let grp = &mut groups[i];
        grp.count += 1;
        grp.wait_minutes_min = grp.wait_minutes_min.min(g.wait_minutes);
        grp.wait_minutes_max = grp.wait_minutes_max.max(g.wait_minutes);
        grp.locked_to_thread += usize::from(g.locked_to_thread);
        grp.ids.push(g.id);
    }
    for g in &mut groups {
        g.ids.sort_unstable();
    }
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.ids[0].cmp(&b.ids[0])));
    groups
}

pub fn summarize(d: &Dump<'_>) -> DumpSummary {
    let mut states: HashMap<&str, usize> = HashMap::new();
    for g in &d.goroutines {
        *states.entry(g.state).or_default() += 1;
    }
    let mut by_state: Vec<(String, usize)> = states
        .into_iter()
        .map(|(s, n)| (s.to_string(), n))
        .collect();
    by_state.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    DumpSummary {
        total: d.goroutines.len(),
        by_state,
        groups: group(d),
    }
}

/// What to change for goroutines stuck in this state.
pub(crate) fn leak_advice(state: &str) -> &'static str {
    if state.starts_with("chan send") {
        "nobody receives any more: give the channel a buffer of 1 so the sender can finish after the receiver gave up (timeouts), or select on ctx.Done() next to the send"
    } else if state.starts_with("chan receive") {
        "nobody sends or closes any more: close the channel when the producer is done, or select on ctx.Done() next to the receive"
    } else if state.starts_with("select") {
        "no case can fire: add a ctx.Done() (or timer) case and make sure the context is cancelled"
    } else if state.starts_with("sync.Mutex") || state.starts_with("sync.RWMutex") {
        "the lock is never released: look for a missing Unlock on an early return (use defer) or a lock-order cycle"
    } else if state.starts_with("sync.WaitGroup") || state == "semacquire" {
        "the WaitGroup/semaphore is never released: a Done() is missing on some path (use defer wg.Done())"
    } else if state == "IO wait" {
        "connections are idle or the peer never answers: set read/write deadlines or client/server timeouts and close idle connections"
    } else if state == "sleep" {
        "they sleep in a loop that never exits: make the loop watch ctx.Done()"
    } else {
        "make the wait cancellable (ctx.Done()) and make sure whoever should wake them still exists"
    }
}

fn frame_name(f: &GroupFrame) -> String {
    format!("{} ({})", f.function, f.location())
}

/// Findings from one goroutine dump.
pub fn dump_findings(d: &Dump<'_>, source: &str) -> Vec<Finding> {
    let s = summarize(d);
    let mut out = Vec::new();
    let total = s.total;

    for g in &s.groups {
        // Idle by design (keep-alive connections, listeners, service loops): counted
        // below, never a leak however long they wait.
        if g.idle.is_some() {
            continue;
        }
        let Some(site) = &g.site else { continue };
        let waiting = !matches!(
            g.state.as_str(),
            "running" | "runnable" | "syscall" | "idle" | "dead" | "copystack" | "preempted"
        );
        // Wait minutes are per goroutine; count the members blocked at least the minimum.
        if !waiting || g.wait_minutes_max < t::LEAK_MIN_WAIT_MINUTES {
            continue;
        }
        let old = d
            .goroutines
            .iter()
            .filter(|x| g.ids.binary_search(&x.id).is_ok())
            .filter(|x| x.wait_minutes >= t::LEAK_MIN_WAIT_MINUTES)
            .count();
        let big = old >= t::LEAK_MIN_GROUP
            || (total >= t::LEAK_MIN_SHARE_TOTAL && old as f64 >= t::LEAK_MIN_SHARE * total as f64);
        if !big {
            continue;
        }
        let sev = if old >= t::LEAK_CRITICAL_GROUP {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let mut e = Evidence::new();
        e.insert("goroutines".into(), json!(old));
        e.insert("group_goroutines".into(), json!(g.count));
        e.insert("total_goroutines".into(), json!(total));
        e.insert("state".into(), json!(g.state));
        e.insert("wait_minutes_min".into(), json!(g.wait_minutes_min));
        e.insert("wait_minutes_max".into(), json!(g.wait_minutes_max));
        e.insert("site".into(), json!(site.location()));
        if let Some(c) = &g.created_by {
            e.insert("created_by".into(), json!(frame_name(c)));
        }
        let mut sites = vec![site.function.clone()];
        if let Some(c) = &g.created_by
            && c.function != site.function
        {
            sites.push(c.function.clone());
        }
        out.push(Finding {
            id: "goroutine.leak",
            severity: sev,
            title: format!(
                "{old} goroutines blocked in \"{}\" for {} min at {}",
                g.state,
                if g.wait_minutes_min.max(1) == g.wait_minutes_max {
                    g.wait_minutes_max.to_string()
                } else {
                    format!("{}–{}", g.wait_minutes_min.max(1), g.wait_minutes_max)
                },
                site.function
            ),
            evidence: e,
            recommendation: format!(
                "Leak at {} ({}){}: {}.",
                site.function,
                site.location(),
                g.created_by
                    .as_ref()
                    .map(|c| format!(", started by {}", frame_name(c)))
                    .unwrap_or_default(),
                leak_advice(&g.state)
            ),
            sources: vec![source.to_string()],
            sites,
        });
    }

    let idle = idle_counts(&s.groups);
    let idle_total: usize = idle.iter().map(|(_, n)| n).sum();
    if total >= t::GOROUTINES_WARNING {
        // Idle connections and service loops are what a connection-per-goroutine server
        // is made of: the bars are for the goroutines that are not idle by design.
        let busy = total - idle_total;
        let sev = if busy >= t::GOROUTINES_CRITICAL {
            Severity::Critical
        } else if busy >= t::GOROUTINES_WARNING {
            Severity::Warning
        } else {
            Severity::Info
        };
        let mut e = Evidence::new();
        e.insert("goroutines".into(), json!(total));
        e.insert("groups".into(), json!(s.groups.len()));
        let top: Vec<_> = s
            .groups
            .iter()
            .take(3)
            .map(|g| {
                json!({
                    "goroutines": g.count,
                    "state": g.state,
                    "site": g.site.as_ref().map(frame_name),
                })
            })
            .collect();
        e.insert("largest_groups".into(), json!(top));
        if idle_total > 0 {
            e.insert("idle_goroutines".into(), json!(idle_total));
            e.insert("idle".into(), idle_evidence(&idle));
        }
        out.push(Finding {
            id: "goroutine.count-high",
            severity: sev,
            title: format!(
                "{total} goroutines in {} distinct stacks{}",
                s.groups.len(),
                if idle_total > 0 {
                    format!(" ({idle_total} of them idle by design: {})", idle_words(&idle))
                } else {
                    String::new()
                }
            ),
            evidence: e,
            recommendation: match s
                .groups
                .iter()
                .find(|g| g.idle.is_none())
                .and_then(|g| Some((g, g.site.as_ref()?)))
            {
                Some((g, site)) if sev > Severity::Info => format!(
                    "The largest group not idle by design ({} goroutines) waits at {}; bound concurrency there (worker pool, semaphore) and make sure those goroutines exit.",
                    g.count,
                    frame_name(site)
                ),
                _ if sev == Severity::Info => "Most goroutines wait by design (idle connections, listeners, service loops): bound idle connections with the server's IdleTimeout or the client's MaxIdleConnsPerHost/IdleConnTimeout if their number matters (file descriptors, memory).".into(),
                _ => "Bound concurrency (worker pools, semaphores) and make sure goroutines exit.".into(),
            },
            sources: vec![source.to_string()],
            sites: s
                .groups
                .iter()
                .take(3)
                .filter_map(|g| g.site.as_ref().map(|f| f.function.clone()))
                .collect(),
        });
    } else if idle_total >= t::IDLE_NOTE_MIN_GOROUTINES {
        // What a leak rule would have looked at, said for what it is: idle connections
        // and service loops are normal, but their number is worth knowing (each holds a
        // connection, a file descriptor and a stack).
        let mut e = Evidence::new();
        e.insert("goroutines".into(), json!(total));
        e.insert("idle_goroutines".into(), json!(idle_total));
        e.insert("idle".into(), idle_evidence(&idle));
        let longest = s
            .groups
            .iter()
            .filter(|g| g.idle.is_some())
            .map(|g| g.wait_minutes_max)
            .max()
            .unwrap_or(0);
        if longest > 0 {
            e.insert("idle_wait_minutes_max".into(), json!(longest));
        }
        out.push(Finding {
            id: "goroutine.count-high",
            severity: Severity::Info,
            title: format!("{}; not a leak", idle_words(&idle)),
            evidence: e,
            recommendation: format!(
                "{idle_total} of {total} goroutines wait by design (idle connections, listeners, \
                 service loops). Nothing to fix; if the number of idle connections matters (file \
                 descriptors, memory), bound it with the server's IdleTimeout or the client's \
                 MaxIdleConnsPerHost/IdleConnTimeout."
            ),
            sources: vec![source.to_string()],
            sites: Vec::new(),
        });
    }

    out.extend(finalizer_blocked(d, source));
    out
}

/// Idle goroutines by kind, most first.
fn idle_counts(groups: &[GoroutineGroup]) -> Vec<(IdleKind, usize)> {
    let mut by: std::collections::BTreeMap<IdleKind, usize> = Default::default();
    for g in groups {
        if let Some(k) = g.idle {
            *by.entry(k).or_default() += g.count;
        }
    }
    let mut v: Vec<(IdleKind, usize)> = by.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// "150 idle HTTP keep-alive server connections, 2 listeners waiting in Accept".
pub(crate) fn idle_words(idle: &[(IdleKind, usize)]) -> String {
    idle.iter()
        .map(|(k, n)| format!("{n} {}", k.describe()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn idle_evidence(idle: &[(IdleKind, usize)]) -> serde_json::Value {
    json!(
        idle.iter()
            .map(|(k, n)| (k.describe().to_string(), json!(n)))
            .collect::<serde_json::Map<_, _>>()
    )
}

/// The finalizer goroutine waiting in user code. Go 1.26+ shows `runtime.runFinalizers`
/// below the finalizer; older versions hide runtime frames and the creator, leaving a
/// goroutine other than 1 with no `created by` and a user function at the bottom.
fn finalizer_blocked(d: &Dump<'_>, source: &str) -> Option<Finding> {
    const RUNNERS: [&str; 3] = [
        "runtime.runfinq",
        "runtime.runFinalizers",
        "runtime.runFinalizersAndCleanups",
    ];
    let system_dump = d.goroutines.iter().any(|g| g.gp.is_some());
    let (g, identified_by) = d.goroutines.iter().find_map(|g| {
        if !g.is_waiting() || g.state.contains("finalizer wait") {
            return None;
        }
        let site = site_of(g)?;
        if g.frames.iter().any(|f| RUNNERS.contains(&f.function)) {
            return Some((g, "runtime finalizer frame"));
        }
        let bottom = g.frames.last()?;
        let orphan = g.id != 1
            && g.created_by.is_none()
            && g.ancestors.is_empty()
            && !system_dump
            && !is_plumbing(bottom.function)
            && bottom.function != "main.main";
        let _ = site;
        orphan.then_some((
            g,
            "no creator and a user function at the bottom (runtime.runfinq hidden)",
        ))
    })?;
    let site = site_of(g)?;
    let sev = if g.wait_minutes >= t::FINALIZER_BLOCKED_CRITICAL_MINUTES {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let mut e = Evidence::new();
    e.insert("goroutine_id".into(), json!(g.id));
    e.insert("state".into(), json!(g.state));
    e.insert("wait_minutes".into(), json!(g.wait_minutes));
    e.insert("site".into(), json!(format!("{}:{}", site.file, site.line)));
    e.insert("identified_by".into(), json!(identified_by));
    Some(Finding {
        id: "finalizer.blocked",
        severity: sev,
        title: format!(
            "The finalizer goroutine is blocked in \"{}\" inside {}",
            g.state, site.function
        ),
        evidence: e,
        recommendation: format!(
            "{} ({}:{}) blocks, so no other finalizer runs and every object with a finalizer stays in memory. Finalizers must not block: do the work in a separate goroutine or with a non-blocking send (select with default), or replace the finalizer with an explicit Close.",
            site.function, site.file, site.line
        ),
        sources: vec![source.to_string()],
        sites: vec![site.function.to_string()],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump_text(n: usize, minutes: u64) -> String {
        let mut s = String::from("goroutine 1 [running]:\nmain.main()\n\t/x/main.go:9 +0x1d\n\n");
        for i in 0..n {
            let wait = if minutes > 0 {
                format!(", {minutes} minutes")
            } else {
                String::new()
            };
            s.push_str(&format!(
                "goroutine {} [chan send{wait}]:\nruntime.gopark(0x0?)\n\t/go/src/runtime/proc.go:1 +0x1\nmain.fetch.func1(0x{:x}?)\n\t/x/main.go:26 +0x46\ncreated by main.fetch in goroutine 1\n\t/x/main.go:25 +0x6f\n\n",
                i + 10,
                i
            ));
        }
        s
    }

    #[test]
    fn groups_ignore_args_and_leaks_need_minutes() {
        let text = dump_text(150, 3);
        let d = gorx_formats::goroutines::parse("d", text.as_bytes()).unwrap();
        let s = summarize(&d);
        assert_eq!(s.total, 151);
        assert_eq!(s.groups.len(), 2);
        assert_eq!(s.groups[0].count, 150);
        assert_eq!(
            s.groups[0].site.as_ref().unwrap().function,
            "main.fetch.func1"
        );
        assert_eq!(s.by_state[0], ("chan send".to_string(), 150));
        let f = dump_findings(&d, "d");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].id, "goroutine.leak");
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].sites, ["main.fetch.func1", "main.fetch"]);
        assert!(f[0].recommendation.contains("/x/main.go:26"));

        let young = dump_text(150, 0);
        let d = gorx_formats::goroutines::parse("d", young.as_bytes()).unwrap();
        assert!(dump_findings(&d, "d").is_empty());
    }

    /// 150 handlers blocked 3 minutes reading an upstream under net/http's conn.serve
    /// are not idle connections: still a leak, at the handler's frame.
    #[test]
    fn a_handler_stuck_reading_is_still_a_leak() {
        let mut s = String::from("goroutine 1 [running]:\nmain.main()\n\t/x/main.go:9 +0x1d\n\n");
        for i in 0..150 {
            s.push_str(&format!(
                "goroutine {} [IO wait, 3 minutes]:\n\
internal/poll.runtime_pollWait(0x0?, 0x72)\n\t/go/src/runtime/netpoll.go:351 +0x85\n\
internal/poll.(*FD).Read(0x0?, {{0x0?, 0x0?, 0x0?}})\n\t/go/src/internal/poll/fd_unix.go:165 +0x27\n\
net.(*netFD).Read(0x0?, {{0x0?, 0x0?, 0x0?}})\n\t/go/src/net/fd_posix.go:68 +0x25\n\
net.(*conn).Read(0x0?, {{0x0?, 0x0?, 0x0?}})\n\t/go/src/net/net.go:196 +0x45\n\
main.fetchUpstream(0x0?)\n\t/x/main.go:40 +0x46\n\
main.handler({{0x0?, 0x0?}}, 0x0?)\n\t/x/main.go:30 +0x46\n\
net/http.HandlerFunc.ServeHTTP(0x0?, {{0x0?, 0x0?}}, 0x0?)\n\t/go/src/net/http/server.go:2294 +0x29\n\
net/http.(*conn).serve(0x0?, {{0x0?, 0x0?}})\n\t/go/src/net/http/server.go:2102 +0x625\n\
created by net/http.(*Server).Serve in goroutine 1\n\t/go/src/net/http/server.go:3454 +0x485\n\n",
                i + 10
            ));
        }
        let d = gorx_formats::goroutines::parse("d", s.as_bytes()).unwrap();
        let f = dump_findings(&d, "d");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].id, "goroutine.leak");
        assert_eq!(f[0].sites[0], "main.fetchUpstream");
    }

    /// 10,050 idle keep-alive connections reach the count bar only by being idle: info.
    #[test]
    fn idle_connections_do_not_make_the_count_high() {
        let mut s = String::from("goroutine 1 [running]:\nmain.main()\n\t/x/main.go:9 +0x1d\n\n");
        for i in 0..10_050 {
            s.push_str(&format!(
                "goroutine {} [IO wait, 5 minutes]:\n\
internal/poll.runtime_pollWait(0x0?, 0x72)\n\t/go/src/runtime/netpoll.go:351 +0x85\n\
net.(*netFD).Read(0x0?, {{0x0?, 0x0?, 0x0?}})\n\t/go/src/net/fd_posix.go:68 +0x25\n\
net/http.(*connReader).backgroundRead(0x0?)\n\t/go/src/net/http/server.go:690 +0x37\n\
created by net/http.(*connReader).startBackgroundRead in goroutine 9\n\t/go/src/net/http/server.go:686 +0xb6\n\n",
                i + 10
            ));
        }
        let d = gorx_formats::goroutines::parse("d", s.as_bytes()).unwrap();
        let f = dump_findings(&d, "d");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].id, "goroutine.count-high");
        assert_eq!(f[0].severity, Severity::Info);
        assert_eq!(f[0].evidence["idle_goroutines"], 10_050);
    }

    #[test]
    fn finalizer_without_runtime_frames() {
        let text = "goroutine 1 [running]:\nmain.main()\n\t/x/main.go:9 +0x1d\n\n\
goroutine 19 [chan send, 2 minutes]:\nmain.(*conn).release(0x0?)\n\t/x/main.go:14 +0x2a\n";
        let d = gorx_formats::goroutines::parse("d", text.as_bytes()).unwrap();
        let f = dump_findings(&d, "d");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].id, "finalizer.blocked");
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[0].sites, ["main.(*conn).release"]);
    }
}

#[cfg(test)]
mod corpus_tests {
    use super::*;
    use gorx_testsupport::{corpus_entries, repo_root};

    /// Every patient's goroutine dump: the goroutine findings it must (and must not) give,
    /// and the total against the debug=1 profile's `total N` taken moments apart.
    #[test]
    fn patients_yield_their_goroutine_findings() {
        let mut seen = 0;
        for (ver, patient, dir) in corpus_entries() {
            let Ok(data) = std::fs::read(dir.join("goroutine.debug2.txt")) else {
                continue;
            };
            seen += 1;
            let d = gorx_formats::goroutines::parse("goroutine.debug2.txt", &data)
                .unwrap_or_else(|e| panic!("{ver}/{patient}: {e}"));
            if let Ok(d1) = std::fs::read_to_string(dir.join("goroutine.debug1.txt"))
                && let Some(total) = d1
                    .lines()
                    .next()
                    .and_then(|l| l.strip_prefix("goroutine profile: total "))
                    .and_then(|n| n.trim().parse::<usize>().ok())
            {
                let diff = total.abs_diff(d.goroutines.len());
                assert!(
                    diff <= 2 + total / 50,
                    "{ver}/{patient}: debug2 has {} goroutines, debug1 says {total}",
                    d.goroutines.len()
                );
            }
            let f = dump_findings(&d, "goroutine.debug2.txt");
            let ids: Vec<&str> = f.iter().map(|f| f.id).collect();
            let want: &[&str] = match patient.as_str() {
                "goroutine-leak" => &["goroutine.leak"],
                "finalizer-blocked" => &["finalizer.blocked"],
                _ => &[],
            };
            for w in want {
                assert!(ids.contains(w), "{ver}/{patient}: want {w}, got {f:#?}");
            }
            if patient == "goroutine-leak" {
                let leak = f.iter().find(|f| f.id == "goroutine.leak").unwrap();
                assert_eq!(leak.sites[0], "main.fetchWithTimeout.func1", "{ver}");
                assert!(leak.evidence["goroutines"].as_u64().unwrap() >= 1000);
            }
            if patient == "healthy" || want.is_empty() {
                assert!(
                    f.iter().all(|f| f.severity == Severity::Info),
                    "{ver}/{patient}: {f:#?}"
                );
            }
        }
        if seen == 0 {
            gorx_testsupport::missing_prerequisite(
                "testdata/artifacts corpus (goroutine.debug2.txt)",
            );
        }
    }

    /// A real net/http server with 150 idle HTTP/1.1 keep-alive and 5 HTTP/2 clients
    /// for 75 s (testdata/samples/dumps/keepalive/main.go), and its client process: idle
    /// connections are an info note with their count, never goroutine.leak (issue 13:
    /// caddy's 150 idle keep-alive connections were a warning).
    #[test]
    fn idle_keepalive_connections_are_not_leaks() {
        for (name, idle, words) in [
            (
                "keepalive-server-go1.26.debug2.txt",
                162,
                "150 idle HTTP keep-alive server connections",
            ),
            (
                "keepalive-client-go1.26.debug2.txt",
                305,
                "300 idle HTTP client connections",
            ),
        ] {
            let data =
                std::fs::read(repo_root().join("testdata/samples/dumps").join(name)).unwrap();
            let d = gorx_formats::goroutines::parse(name, &data).unwrap();
            // The waits are old enough for the leak rule: only idleness keeps it quiet.
            assert!(d.goroutines.iter().filter(|g| g.wait_minutes >= 1).count() >= 150);
            let f = dump_findings(&d, name);
            assert_eq!(f.len(), 1, "{name}: {f:#?}");
            assert_eq!(f[0].id, "goroutine.count-high");
            assert_eq!(f[0].severity, Severity::Info);
            assert_eq!(f[0].evidence["idle_goroutines"], idle, "{name}");
            assert!(f[0].title.contains(words), "{}", f[0].title);
            assert!(f[0].title.contains("not a leak"), "{}", f[0].title);
        }
    }

    /// The hand-collected finalizer samples, including Go 1.19 (runtime frames hidden).
    #[test]
    fn finalizer_samples_across_versions() {
        for v in ["1.19", "1.26", "1.27"] {
            let p = repo_root().join(format!("testdata/samples/dumps/finalizer-go{v}.debug2.txt"));
            let data = std::fs::read(p).unwrap();
            let d = gorx_formats::goroutines::parse("fin", &data).unwrap();
            let f = dump_findings(&d, "fin");
            assert_eq!(f.len(), 1, "go{v}: {f:#?}");
            assert_eq!(f[0].id, "finalizer.blocked");
            assert_eq!(f[0].sites, ["main.(*conn).release"]);
        }
        // Deadlock and SIGQUIT samples hold no finalizer and no leak.
        for name in [
            "deadlock-go1.26.txt",
            "sigquit-system-go1.27.txt",
            "sigquit-system-go1.19.txt",
        ] {
            let data =
                std::fs::read(repo_root().join("testdata/samples/dumps").join(name)).unwrap();
            let d = gorx_formats::goroutines::parse(name, &data).unwrap();
            assert!(dump_findings(&d, name).is_empty(), "{name}");
        }
    }
}
