//! Judging the probes: pure functions from their results to findings (no I/O).
//! The syscall probe first; the run-queue probe (`judge_runq`) and the fd probe
//! (`judge_fds`) below it.
//!
//! Needs: the slow-syscall events with their symbolized Go stacks and the window.
//! Claims: `syscall.slow` per (syscall, Go site), the site being the first frame outside
//! the runtime and the standard library (`gorx_analysis::sites::site`).
//! Why: a syscall that blocks in the kernel pins an OS thread; the measure of harm is how
//! many threads a site keeps blocked on average (blocked time / window). The runtime's own
//! sleeps (futex under the scheduler, epoll in netpoll) are idle, not blocking the code
//! asked for, so stacks whose site is in the runtime are left out.

use crate::fds::FdReport;
use crate::offcpu::{OffcpuClass, OffcpuReport};
use crate::runq::{CpuWindow, RunqReport};
use crate::syscalls::{SlowStack, SyscallReport};
use gorx_analysis::process::{CpuCause, CpuContention};
use gorx_analysis::sites::{idle_syscall, is_plumbing, site};
use gorx_analysis::thresholds::{
    FD_LEAK_PROBE_CRITICAL_HORIZON_S, FD_LEAK_PROBE_MAX_FINDINGS, FD_LEAK_PROBE_MIN_GROWTH,
    FD_LEAK_PROBE_MIN_WINDOW_NS, FD_LEAK_PROBE_SECOND_HALF_SHARE, OFFCPU_BLOCKING_CRITICAL_THREADS,
    OFFCPU_BLOCKING_MAX_FINDINGS, OFFCPU_BLOCKING_MIN_SLEEPS, OFFCPU_BLOCKING_MIN_WINDOW_NS,
    OFFCPU_BLOCKING_WARN_THREADS, RUNQ_PROBE_MIN_SAMPLES, RUNQ_PROBE_MIN_WINDOW_NS,
    RUNQ_PROBE_P99_CRITICAL_NS, RUNQ_PROBE_P99_WARNING_NS, SYSCALL_SLOW_CRITICAL_THREADS,
    SYSCALL_SLOW_MAX_FINDINGS, SYSCALL_SLOW_MIN_EVENTS, SYSCALL_SLOW_MIN_WINDOW_NS,
    SYSCALL_SLOW_WARN_THREADS,
};
use gorx_analysis::{Evidence, Finding, Severity};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;

/// Slow syscalls of one kind at one Go site.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SlowGroup {
    pub syscall: String,
    pub site: String,
    pub count: u64,
    pub total_ns: u64,
    pub max_ns: u64,
    /// Blocked time over the window: OS threads held in the kernel on average.
    pub threads_blocked: f64,
    /// One representative stack, leaf first.
    pub stack: Vec<String>,
}

/// The frames that name what waits in the syscall, leaf first. A thread that reached
/// `runtime.schedule` is an idle M looking for work: frame pointers lead on from its g0
/// stack into the goroutine it switched away from (through `mcall`/`morestack`), which
/// is not what the thread waits for, so the stack is cut there. Unsymbolized addresses
/// (C code, the vDSO) cannot name a site and are skipped.
pub(crate) fn blocked_frames(frames: &[String]) -> Vec<&str> {
    let cut = frames
        .iter()
        .position(|f| f == "runtime.schedule" || f == "runtime.mstart")
        .map_or(frames.len(), |i| i + 1);
    frames[..cut]
        .iter()
        .map(String::as_str)
        .filter(|f| !f.starts_with("0x"))
        .collect()
}

/// The site of a slow syscall whose stack could not be taken.
const NO_STACK: &str = "<no stack>";

/// Slow syscalls grouped by (syscall, site), most blocked time first.
pub fn group_slow(slow: &[SlowStack], window_ns: u64) -> Vec<SlowGroup> {
    let mut groups: BTreeMap<(String, String), SlowGroup> = BTreeMap::new();
    for ev in slow {
        let frames = blocked_frames(&ev.frames);
        // A stack of the runtime alone has no site: it is named by its leaf.
        let site = site(frames.iter().copied())
            .or_else(|| frames.first().copied())
            .unwrap_or(NO_STACK)
            .to_string();
        let g = groups
            .entry((ev.name.clone(), site.clone()))
            .or_insert_with(|| SlowGroup {
                syscall: ev.name.clone(),
                site,
                count: 0,
                total_ns: 0,
                max_ns: 0,
                threads_blocked: 0.0,
                stack: ev.frames.clone(),
            });
        g.count += ev.count;
        g.total_ns = g.total_ns.saturating_add(ev.total_ns);
        g.max_ns = g.max_ns.max(ev.max_ns);
    }
    let mut out: Vec<SlowGroup> = groups.into_values().collect();
    for g in &mut out {
        g.threads_blocked = g.total_ns as f64 / window_ns.max(1) as f64;
    }
    out.sort_by(|a, b| {
        b.total_ns
            .cmp(&a.total_ns)
            .then_with(|| a.site.cmp(&b.site))
    });
    out
}

fn lower(s: Severity) -> Severity {
    match s {
        Severity::Critical => Severity::Warning,
        _ => Severity::Info,
    }
}

/// `syscall.slow` findings from the probe's results.
pub fn judge_syscalls(r: &SyscallReport, groups: &[SlowGroup]) -> Vec<Finding> {
    let mut out = Vec::new();
    for g in groups
        .iter()
        .filter(|g| !is_plumbing(&g.site) && g.site != NO_STACK)
        // An event loop waiting on its own epoll set or inotify fd is idle by design.
        .filter(|g| !idle_syscall(&g.stack.iter().map(String::as_str).collect::<Vec<_>>()))
    {
        if out.len() == SYSCALL_SLOW_MAX_FINDINGS {
            break;
        }
        let mut reasons = Vec::new();
        let mut sev = if g.threads_blocked >= SYSCALL_SLOW_CRITICAL_THREADS {
            reasons.push(format!(
                "{:.1} threads blocked on average ≥ {SYSCALL_SLOW_CRITICAL_THREADS}",
                g.threads_blocked
            ));
            Severity::Critical
        } else if g.threads_blocked >= SYSCALL_SLOW_WARN_THREADS {
            reasons.push(format!(
                "{:.2} threads blocked on average ≥ {SYSCALL_SLOW_WARN_THREADS}",
                g.threads_blocked
            ));
            Severity::Warning
        } else {
            reasons.push(format!(
                "{:.2} threads blocked on average < {SYSCALL_SLOW_WARN_THREADS}",
                g.threads_blocked
            ));
            Severity::Info
        };
        if g.count < SYSCALL_SLOW_MIN_EVENTS && sev > Severity::Info {
            reasons.push(format!(
                "only {} slow calls (< {SYSCALL_SLOW_MIN_EVENTS}): lowered",
                g.count
            ));
            sev = Severity::Info;
        }
        if r.window_ns < SYSCALL_SLOW_MIN_WINDOW_NS && sev > Severity::Info {
            reasons.push(format!(
                "window {} ms < {} ms: lowered",
                r.window_ns / 1_000_000,
                SYSCALL_SLOW_MIN_WINDOW_NS / 1_000_000
            ));
            sev = lower(sev);
        }
        let calls = r.syscalls.iter().find(|s| s.name == g.syscall);
        let mut evidence = Evidence::new();
        evidence.insert("syscall".into(), json!(g.syscall));
        evidence.insert("slow_calls".into(), json!(g.count));
        evidence.insert("slow_total_ns".into(), json!(g.total_ns));
        evidence.insert("slow_max_ns".into(), json!(g.max_ns));
        evidence.insert("slow_threshold_ns".into(), json!(r.slow_threshold_ns));
        evidence.insert(
            "threads_blocked_avg".into(),
            json!((g.threads_blocked * 100.0).round() / 100.0),
        );
        evidence.insert("window_ns".into(), json!(r.window_ns));
        if let Some(c) = calls {
            evidence.insert("calls_total".into(), json!(c.count));
            evidence.insert("latency_p99_ns".into(), json!(c.quantile_ns(0.99)));
        }
        evidence.insert("severity_reasons".into(), json!(reasons));
        out.push(Finding {
            id: "syscall.slow",
            severity: sev,
            title: format!(
                "{} slow {} syscalls at {} ({:.1} threads blocked on average)",
                g.count, g.syscall, g.site, g.threads_blocked
            ),
            evidence,
            recommendation: advice(&g.syscall, &g.site),
            sources: vec![format!("ebpf:raw_syscalls pid {}", r.pid)],
            sites: vec![g.site.clone()],
        });
    }
    out
}

fn advice(syscall: &str, site: &str) -> String {
    let what = match syscall {
        "read" | "readv" | "pread64" | "write" | "writev" | "pwrite64" => {
            "a blocking read/write on an fd outside the netpoller (pipe, tty, or a fd set blocking): open it non-blocking (os.NewFile on an O_NONBLOCK fd, or syscall.SetNonblock) so the runtime parks the goroutine instead of the thread"
        }
        "nanosleep" | "clock_nanosleep" => {
            "a sleep through the raw syscall pins an OS thread for its whole duration: use time.Sleep or a time.Timer, which park only the goroutine"
        }
        "fsync" | "fdatasync" | "sync_file_range" | "msync" => {
            "synchronous flushes to storage: batch them (group commit), move them off the request path, or check the device's latency"
        }
        "flock" | "fcntl" => {
            "file-lock waits: another process or thread holds the lock; shorten the critical section or use a lock with a timeout"
        }
        "connect" => {
            "a blocking connect: dial through net.Dialer with a timeout (netpoller) instead of a raw socket"
        }
        "wait4" | "waitid" => {
            "waiting for a child process: expected when it runs long; bound it with a context"
        }
        _ => {
            "a syscall that blocks in the kernel pins an OS thread while it waits; make it non-blocking or bound its duration"
        }
    };
    format!("{site}: {what}.")
}

// ---- probe 3: run-queue latency ----

/// The cause the window's numbers support, with them, in the shape process.rs uses for
/// `sched.cpu-starved` from /proc (same causes, same advice).
pub fn runq_contention(w: &CpuWindow) -> CpuContention {
    let mut c = CpuContention {
        cause: CpuCause::NoneOutside,
        runq_wait_share: None,
        runq_wait_ns: None,
        thread_cpu_ns: None,
        host_pressure_some_avg10: w.host_pressure_some_avg10,
        host_pressure_some_avg60: w.host_pressure_some_avg60,
        load1: w.load1,
        host_cpus: w.host_cpus,
        nr_throttled: w.nr_throttled,
        nr_periods: w.nr_periods,
        quota_cpus: w.quota_cpus,
        gomaxprocs: w.gomaxprocs,
        gomaxprocs_observed: w.gomaxprocs_observed,
    };
    // The same ordering of causes as process.rs; the window's throttled periods are a
    // difference over a short window, so no minimum count of periods.
    c.cause = c.infer_cause(1);
    c
}

/// `sched.cpu-starved` from the run-queue probe: the P99 delay from runnable to on-CPU of
/// the target's threads, naming the cause the window's numbers support.
pub fn judge_runq(r: &RunqReport) -> Vec<Finding> {
    let p99 = r.all.quantile_ns(0.99);
    if r.all.count == 0 || p99 < RUNQ_PROBE_P99_WARNING_NS {
        return Vec::new();
    }
    let ms = |ns: u64| ns as f64 / 1e6;
    let mut reasons = Vec::new();
    let mut sev = if p99 >= RUNQ_PROBE_P99_CRITICAL_NS {
        reasons.push(format!(
            "P99 run-queue delay {:.1} ms ≥ {:.0} ms",
            ms(p99),
            ms(RUNQ_PROBE_P99_CRITICAL_NS)
        ));
        Severity::Critical
    } else {
        reasons.push(format!(
            "P99 run-queue delay {:.1} ms ≥ {:.0} ms",
            ms(p99),
            ms(RUNQ_PROBE_P99_WARNING_NS)
        ));
        Severity::Warning
    };
    if r.all.count < RUNQ_PROBE_MIN_SAMPLES {
        reasons.push(format!(
            "only {} delays measured (< {RUNQ_PROBE_MIN_SAMPLES}): lowered",
            r.all.count
        ));
        sev = Severity::Info;
    }
    if r.window_ns < RUNQ_PROBE_MIN_WINDOW_NS && sev > Severity::Info {
        reasons.push(format!(
            "window {} ms < {} ms: lowered",
            r.window_ns / 1_000_000,
            RUNQ_PROBE_MIN_WINDOW_NS / 1_000_000
        ));
        sev = lower(sev);
    }
    let c = runq_contention(&r.cpu);
    let cause = match c.cause {
        CpuCause::CgroupThrottled => "CFS quota throttling",
        CpuCause::HostSaturated => "host CPU contention",
        CpuCause::GomaxprocsAboveQuota => "GOMAXPROCS above the CPU quota",
        CpuCause::NoneOutside => "no outside cause in the numbers",
    };
    let mut evidence = Evidence::new();
    evidence.insert("source".into(), json!("ebpf-runq"));
    evidence.insert("cause".into(), json!(c.cause));
    evidence.insert("runq_delays".into(), json!(r.all.count));
    evidence.insert("runq_p50_ns".into(), json!(r.all.quantile_ns(0.5)));
    evidence.insert("runq_p99_ns".into(), json!(p99));
    evidence.insert("runq_max_ns".into(), json!(r.all.max_ns));
    evidence.insert("runq_mean_ns".into(), json!(r.all.mean_ns()));
    evidence.insert("runq_wait_total_ns".into(), json!(r.all.total_ns));
    evidence.insert(
        "threads_waiting_avg".into(),
        json!((r.all.total_ns as f64 / r.window_ns.max(1) as f64 * 100.0).round() / 100.0),
    );
    evidence.insert("preemptions".into(), json!(r.after_preemption.count));
    evidence.insert("window_ns".into(), json!(r.window_ns));
    // The window's competition, flat (probes.runq.report.cpu has all of it).
    let w = &r.cpu;
    for (k, v) in [
        ("throttled_periods", w.nr_throttled.map(|x| json!(x))),
        ("cfs_periods", w.nr_periods.map(|x| json!(x))),
        ("throttled_ns", w.throttled_ns.map(|x| json!(x))),
        ("quota_cpus", w.quota_cpus.map(|x| json!(x))),
        (
            "host_cpu_pressure_some_avg10",
            w.host_pressure_some_avg10.map(|x| json!(x)),
        ),
        ("load1", w.load1.map(|x| json!(x))),
        ("host_cpus", w.host_cpus.map(|x| json!(x))),
        ("gomaxprocs", w.gomaxprocs.map(|x| json!(x))),
    ] {
        if let Some(v) = v {
            evidence.insert(k.into(), v);
        }
    }
    evidence.insert("severity_reasons".into(), json!(reasons));
    vec![Finding {
        id: "sched.cpu-starved",
        severity: sev,
        title: format!(
            "Threads waited on a CPU run queue: P99 {:.1} ms, max {:.1} ms over {} delays ({cause})",
            ms(p99),
            ms(r.all.max_ns),
            r.all.count
        ),
        evidence,
        recommendation: c.advice(),
        sources: vec![format!("ebpf:sched_switch pid {}", r.pid)],
        sites: Vec::new(),
    }]
}

// ---- probe 4: fd lifetimes ----

/// The fds opened at one Go site (every stack whose site it is), over the window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FdGroup {
    pub site: String,
    pub opened: u64,
    pub closed: u64,
    pub outstanding: i64,
    /// Outstanding fds at each sample, summed over the site's stacks.
    pub series: Vec<i64>,
    /// The stack with the most outstanding fds, leaf first.
    pub stack: Vec<String>,
}

/// Opening stacks grouped by Go site, most outstanding first.
pub fn group_fds(r: &FdReport) -> Vec<FdGroup> {
    let mut groups: BTreeMap<String, FdGroup> = BTreeMap::new();
    // Stacks come most outstanding first: the first seen names the group's stack.
    for st in &r.stacks {
        let frames: Vec<&str> = st
            .frames
            .iter()
            .map(String::as_str)
            .filter(|f| !f.starts_with("0x"))
            .collect();
        let site = site(frames.iter().copied())
            .or_else(|| frames.first().copied())
            .unwrap_or(NO_STACK)
            .to_string();
        let g = groups.entry(site.clone()).or_insert_with(|| FdGroup {
            site,
            opened: 0,
            closed: 0,
            outstanding: 0,
            series: vec![0; st.series.len()],
            stack: st.frames.clone(),
        });
        g.opened += st.opened;
        g.closed += st.closed;
        g.outstanding += st.outstanding;
        if g.series.len() < st.series.len() {
            g.series.resize(st.series.len(), 0);
        }
        for (a, b) in g.series.iter_mut().zip(&st.series) {
            *a += b;
        }
    }
    let mut out: Vec<FdGroup> = groups.into_values().collect();
    out.sort_by(|a, b| {
        b.outstanding
            .cmp(&a.outstanding)
            .then_with(|| a.site.cmp(&b.site))
    });
    out
}

/// The index of the sample taken nearest the window's midpoint, in a series sampled every
/// `every_ns` (sample i at (i+1)·every) whose last sample is at the window's end. Not
/// `len / 2`: a 2 s window sampled every 500 ms has samples at 0.5, 1, 1.5 and 2 s, and
/// its `len / 2` is the 1.5 s sample, which leaves a steady leak a quarter of its growth
/// "in the second half" and a tick's jitter below the bar.
fn midpoint_sample(window_ns: u64, every_ns: u64, len: usize) -> usize {
    let mid = (window_ns / 2) as f64 / every_ns.max(1) as f64;
    ((mid.round() as usize).saturating_sub(1)).min(len.saturating_sub(1))
}

/// `fd.leak` for the sites whose open fds kept growing through the window.
pub fn judge_fds(r: &FdReport, groups: &[FdGroup]) -> Vec<Finding> {
    let mut out = Vec::new();
    let secs = r.window_ns as f64 / 1e9;
    for g in groups
        .iter()
        .filter(|g| !is_plumbing(&g.site) && g.site != NO_STACK)
    {
        if out.len() == FD_LEAK_PROBE_MAX_FINDINGS {
            break;
        }
        // Counting starts at attach: the outstanding count is the growth since then.
        let total = g.outstanding;
        if total < FD_LEAK_PROBE_MIN_GROWTH || g.series.len() < 3 {
            continue;
        }
        let mid = g.series[midpoint_sample(r.window_ns, r.sample_every_ns, g.series.len())];
        let second_half = total - mid;
        if (second_half as f64) < (total as f64 * FD_LEAK_PROBE_SECOND_HALF_SHARE).max(1.0) {
            continue; // filled early, then held: a pool, not a leak
        }
        let rate = total as f64 / secs.max(1e-3);
        let to_limit_s = match (r.nofile_soft, r.open_fds_end) {
            (Some(l), Some(n)) if rate > 0.0 => Some(l.saturating_sub(n) as f64 / rate),
            _ => None,
        };
        let mut reasons = vec![format!(
            "{total} more fds opened than closed in {secs:.1} s, {second_half} of them in the second half"
        )];
        let mut sev = match to_limit_s {
            Some(t) if t <= FD_LEAK_PROBE_CRITICAL_HORIZON_S => {
                reasons.push(format!(
                    "RLIMIT_NOFILE reached in {:.0} s at this rate (≤ {:.0} s)",
                    t, FD_LEAK_PROBE_CRITICAL_HORIZON_S
                ));
                Severity::Critical
            }
            _ => Severity::Warning,
        };
        if r.window_ns < FD_LEAK_PROBE_MIN_WINDOW_NS {
            reasons.push(format!(
                "window {} ms < {} ms: lowered",
                r.window_ns / 1_000_000,
                FD_LEAK_PROBE_MIN_WINDOW_NS / 1_000_000
            ));
            sev = lower(sev);
        }
        let mut evidence = Evidence::new();
        evidence.insert("source".into(), json!("ebpf-fds"));
        evidence.insert("opened".into(), json!(g.opened));
        evidence.insert("closed".into(), json!(g.closed));
        evidence.insert("outstanding".into(), json!(total));
        evidence.insert("growth_second_half".into(), json!(second_half));
        evidence.insert("fds_per_s".into(), json!((rate * 100.0).round() / 100.0));
        if let Some(n) = r.open_fds_end {
            evidence.insert("open_fds".into(), json!(n));
        }
        if let Some(l) = r.nofile_soft {
            evidence.insert("nofile_soft".into(), json!(l));
        }
        if let Some(t) = to_limit_s {
            evidence.insert("seconds_to_limit".into(), json!(t.round()));
        }
        evidence.insert("window_ns".into(), json!(r.window_ns));
        evidence.insert("severity_reasons".into(), json!(reasons));
        out.push(Finding {
            id: "fd.leak",
            severity: sev,
            title: format!(
                "fds opened at {} keep growing: {} opened, {} closed in {:.1} s ({:.1}/s)",
                g.site, g.opened, g.closed, secs, rate
            ),
            evidence,
            recommendation: format!(
                "{}: files or connections opened here are not closed. Close them on every path \
                 (defer f.Close() / resp.Body.Close() right after the error check), or bound \
                 them with a pool; the stack in probes.fds shows the opening call.",
                g.site
            ),
            sources: vec![format!("ebpf:syscall-tracepoints fds pid {}", r.pid)],
            sites: vec![g.site.clone()],
        });
    }
    out
}

// ---- probe 2: off-CPU time ----

/// Off-CPU time of one class at one site (and syscall), over the window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OffcpuGroup {
    pub class: OffcpuClass,
    pub reason: String,
    pub site: String,
    pub syscall: Option<String>,
    pub total_ns: u64,
    pub count: u64,
    pub max_ns: u64,
    /// Off-CPU time over the window: threads asleep here on average.
    pub threads_off_cpu: f64,
    /// Of `total_ns`, in uninterruptible sleep (D state).
    pub uninterruptible_ns: u64,
    /// The stack with the most time, leaf first.
    pub stack: Vec<String>,
}

/// Off-CPU stacks grouped by (class, site, syscall), most time first.
pub fn group_offcpu(r: &OffcpuReport) -> Vec<OffcpuGroup> {
    let mut groups: BTreeMap<(OffcpuClass, String, Option<String>), OffcpuGroup> = BTreeMap::new();
    // Stacks come most time first: the first seen names the group's stack and reason.
    for (st, sl) in r.stacks.iter().map(|st| (st, &st.sleeps)) {
        let g = groups
            .entry((st.class, st.site.clone(), sl.syscall.clone()))
            .or_insert_with(|| OffcpuGroup {
                class: st.class,
                reason: st.reason.clone(),
                site: st.site.clone(),
                syscall: sl.syscall.clone(),
                total_ns: 0,
                count: 0,
                max_ns: 0,
                threads_off_cpu: 0.0,
                uninterruptible_ns: 0,
                stack: sl.frames.clone(),
            });
        g.total_ns = g.total_ns.saturating_add(sl.total_ns);
        g.count += sl.count;
        g.max_ns = g.max_ns.max(sl.max_ns);
        if sl.uninterruptible {
            g.uninterruptible_ns = g.uninterruptible_ns.saturating_add(sl.total_ns);
        }
    }
    let mut out: Vec<OffcpuGroup> = groups.into_values().collect();
    for g in &mut out {
        g.threads_off_cpu = g.total_ns as f64 / r.window_ns.max(1) as f64;
    }
    out.sort_by(|a, b| {
        b.total_ns
            .cmp(&a.total_ns)
            .then_with(|| a.site.cmp(&b.site))
    });
    out
}

/// `syscall.blocking` from the off-CPU probe: a Go site whose blocking syscalls keep
/// threads asleep in the kernel, measured as threads asleep on average (off-CPU time /
/// window). Only sleeps the code asked for count: the runtime's idle threads (parked Ms,
/// the netpoller, sysmon), its own waits and event loops are never findings; nor are
/// sleeps outside a syscall (page faults), which name no syscall to change.
pub fn judge_offcpu(r: &OffcpuReport, groups: &[OffcpuGroup]) -> Vec<Finding> {
    let mut out = Vec::new();
    for g in groups.iter().filter(|g| {
        g.class == OffcpuClass::Blocking
            && g.syscall.is_some()
            && !is_plumbing(&g.site)
            && g.threads_off_cpu >= OFFCPU_BLOCKING_WARN_THREADS
    }) {
        if out.len() == OFFCPU_BLOCKING_MAX_FINDINGS {
            break;
        }
        let syscall = g.syscall.as_deref().unwrap_or_default();
        let mut reasons = Vec::new();
        let mut sev = if g.threads_off_cpu >= OFFCPU_BLOCKING_CRITICAL_THREADS {
            reasons.push(format!(
                "{:.1} threads asleep on average ≥ {OFFCPU_BLOCKING_CRITICAL_THREADS}",
                g.threads_off_cpu
            ));
            Severity::Critical
        } else {
            reasons.push(format!(
                "{:.2} threads asleep on average ≥ {OFFCPU_BLOCKING_WARN_THREADS}",
                g.threads_off_cpu
            ));
            Severity::Warning
        };
        if g.count < OFFCPU_BLOCKING_MIN_SLEEPS {
            reasons.push(format!(
                "only {} sleeps (< {OFFCPU_BLOCKING_MIN_SLEEPS}): lowered",
                g.count
            ));
            sev = Severity::Info;
        }
        if r.window_ns < OFFCPU_BLOCKING_MIN_WINDOW_NS && sev > Severity::Info {
            reasons.push(format!(
                "window {} ms < {} ms: lowered",
                r.window_ns / 1_000_000,
                OFFCPU_BLOCKING_MIN_WINDOW_NS / 1_000_000
            ));
            sev = lower(sev);
        }
        let mut evidence = Evidence::new();
        evidence.insert("source".into(), json!("ebpf-offcpu"));
        evidence.insert("syscall".into(), json!(syscall));
        evidence.insert("offcpu_ns".into(), json!(g.total_ns));
        evidence.insert("sleeps".into(), json!(g.count));
        evidence.insert("sleep_max_ns".into(), json!(g.max_ns));
        evidence.insert(
            "threads_off_cpu_avg".into(),
            json!((g.threads_off_cpu * 100.0).round() / 100.0),
        );
        if g.uninterruptible_ns > 0 {
            evidence.insert("uninterruptible_ns".into(), json!(g.uninterruptible_ns));
        }
        evidence.insert("blocking_offcpu_ns".into(), json!(r.blocking_ns));
        evidence.insert("idle_left_out_ns".into(), json!(r.idle_ns));
        evidence.insert("window_ns".into(), json!(r.window_ns));
        evidence.insert("severity_reasons".into(), json!(reasons));
        out.push(Finding {
            id: "syscall.blocking",
            severity: sev,
            title: format!(
                "{} keeps {:.1} threads asleep in {} on average ({} off CPU in {} sleeps over {} s)",
                g.site,
                g.threads_off_cpu,
                syscall,
                fmt_s(g.total_ns),
                g.count,
                r.window_ns / 1_000_000_000
            ),
            evidence,
            recommendation: advice(syscall, &g.site),
            sources: vec![format!("ebpf:sched_switch offcpu pid {}", r.pid)],
            sites: vec![g.site.clone()],
        });
    }
    out
}

fn fmt_s(ns: u64) -> String {
    format!("{:.1} s", ns as f64 / 1e9)
}

/// When the syscall probe and the off-CPU probe ran over the same window, one blocking
/// site gives `syscall.slow` (its slow calls) and `syscall.blocking` (its threads asleep):
/// one cause, said twice. The off-CPU finding is folded into the `syscall.slow` of the
/// same site and syscall: its numbers join that finding's evidence (`offcpu_*`) and the
/// more severe of the two severities is kept, with the reason. Off-CPU findings with no
/// `syscall.slow` counterpart (many short sleeps, such as an fsync loop) stay.
pub fn fold_offcpu_into_slow(slow: &mut [Finding], offcpu: Vec<Finding>) -> Vec<Finding> {
    let key = |f: &Finding| (f.sites.first().cloned(), f.evidence.get("syscall").cloned());
    let mut kept = Vec::new();
    for f in offcpu {
        let Some(s) = slow
            .iter_mut()
            .find(|s| s.id == "syscall.slow" && key(s) == key(&f))
        else {
            kept.push(f);
            continue;
        };
        for (from, to) in [
            ("offcpu_ns", "offcpu_ns"),
            ("sleeps", "offcpu_sleeps"),
            ("threads_off_cpu_avg", "offcpu_threads_avg"),
            ("uninterruptible_ns", "offcpu_uninterruptible_ns"),
        ] {
            if let Some(v) = f.evidence.get(from) {
                s.evidence.insert(to.into(), v.clone());
            }
        }
        if f.severity > s.severity {
            s.severity = f.severity;
            if let Some(serde_json::Value::Array(r)) = s.evidence.get_mut("severity_reasons") {
                r.push(json!(format!(
                    "off-CPU probe: {} threads asleep on average: raised",
                    f.evidence
                        .get("threads_off_cpu_avg")
                        .map_or("?".to_string(), |v| v.to_string())
                )));
            }
        }
        s.sources.extend(f.sources);
    }
    kept
}

// ---- probe 6: allocator contention (span refill latency) ----

/// `alloc.contention` from the allocator probe.
///
/// Needs: the latency histograms of `mcentral.cacheSpan` and `mheap.alloc` and the
/// process's CPU time over the window.
/// Claims: span refill is slow (P99 of the worst traced function) AND takes a
/// meaningful share of the process's CPU time; both must hold, so a healthy server with
/// an occasional slow refill gives nothing.
/// Why: a refill that waits on the heap lock or sweeps many spans stalls the allocating
/// goroutine inside mallocgc with its P held; the fix is fewer allocations (fewer refills),
/// and a larger GOGC (fewer cycles, less sweeping on the allocation path).
pub fn judge_alloc(r: &crate::alloc::AllocReport) -> Vec<Finding> {
    use gorx_analysis::thresholds::{
        ALLOC_PROBE_MIN_CALLS, ALLOC_PROBE_MIN_WINDOW_NS, ALLOC_PROBE_P99_CRITICAL_NS,
        ALLOC_PROBE_P99_WARNING_NS, ALLOC_PROBE_SHARE_CRITICAL, ALLOC_PROBE_SHARE_WARNING,
    };
    let Some(worst) = r
        .functions
        .iter()
        .filter(|f| f.latency.count > 0)
        .max_by_key(|f| (f.p99_ns(), f.latency.total_ns))
    else {
        return Vec::new();
    };
    let Some(share) = r.refill_share_of_cpu() else {
        return Vec::new(); // no CPU time (the target exited): no basis for a share
    };
    let p99 = worst.p99_ns();
    let us = |ns: u64| ns as f64 / 1e3;
    let pct = share * 100.0;
    let mut reasons = Vec::new();
    let mut sev = if p99 >= ALLOC_PROBE_P99_CRITICAL_NS && share >= ALLOC_PROBE_SHARE_CRITICAL {
        reasons.push(format!(
            "{} P99 {:.0} µs ≥ {:.0} µs and span refill {pct:.1}% of CPU time ≥ {:.0}%",
            worst.function,
            us(p99),
            us(ALLOC_PROBE_P99_CRITICAL_NS),
            ALLOC_PROBE_SHARE_CRITICAL * 100.0
        ));
        Severity::Critical
    } else if p99 >= ALLOC_PROBE_P99_WARNING_NS && share >= ALLOC_PROBE_SHARE_WARNING {
        reasons.push(format!(
            "{} P99 {:.0} µs ≥ {:.0} µs and span refill {pct:.1}% of CPU time ≥ {:.0}%",
            worst.function,
            us(p99),
            us(ALLOC_PROBE_P99_WARNING_NS),
            ALLOC_PROBE_SHARE_WARNING * 100.0
        ));
        Severity::Warning
    } else {
        return Vec::new();
    };
    let calls: u64 = r.functions.iter().map(|f| f.latency.count).sum();
    if worst.latency.count < ALLOC_PROBE_MIN_CALLS {
        reasons.push(format!(
            "only {} timed calls of {} (< {ALLOC_PROBE_MIN_CALLS}): lowered",
            worst.latency.count, worst.function
        ));
        sev = Severity::Info;
    }
    if r.window_ns < ALLOC_PROBE_MIN_WINDOW_NS && sev > Severity::Info {
        reasons.push(format!(
            "window {} ms < {} ms: lowered",
            r.window_ns / 1_000_000,
            ALLOC_PROBE_MIN_WINDOW_NS / 1_000_000
        ));
        sev = lower(sev);
    }
    let mut evidence = Evidence::new();
    evidence.insert("source".into(), json!("ebpf-alloc"));
    for f in &r.functions {
        let key = if f.function == crate::alloc::CACHE_SPAN {
            "cachespan"
        } else if f.function == crate::alloc::MHEAP_ALLOC {
            "mheap_alloc"
        } else {
            continue;
        };
        evidence.insert(format!("{key}_calls"), json!(f.calls));
        evidence.insert(format!("{key}_p50_ns"), json!(f.p50_ns()));
        evidence.insert(format!("{key}_p99_ns"), json!(f.p99_ns()));
        evidence.insert(format!("{key}_max_ns"), json!(f.latency.max_ns));
        evidence.insert(format!("{key}_total_ns"), json!(f.latency.total_ns));
    }
    evidence.insert("refill_total_ns".into(), json!(r.refill_ns));
    if let Some(c) = r.cpu_ns {
        evidence.insert("process_cpu_ns".into(), json!(c));
    }
    evidence.insert(
        "refill_share_of_cpu_percent".into(),
        json!((pct * 10.0).round() / 10.0),
    );
    evidence.insert(
        "refill_threads_avg".into(),
        json!((r.refill_threads() * 100.0).round() / 100.0),
    );
    evidence.insert("window_ns".into(), json!(r.window_ns));
    evidence.insert("severity_reasons".into(), json!(reasons));
    let heap_bound = r
        .function(crate::alloc::MHEAP_ALLOC)
        .is_some_and(|m| m.latency.total_ns >= r.refill_ns / 2);
    vec![Finding {
        id: "alloc.contention",
        severity: sev,
        title: format!(
            "Span refill is slow: {} P99 {:.0} µs (max {:.0} µs) over {calls} refills, {pct:.1}% of the process's CPU time",
            worst.function.trim_start_matches("runtime."),
            us(p99),
            us(worst.latency.max_ns)
        ),
        evidence,
        recommendation: format!(
            "Goroutines wait in the allocator's span refill{}. Reduce the allocation rate at \
             the top allocating sites: take the allocs profile (/debug/pprof/allocs) and run \
             `gorx pprof top --sample-index alloc_space FILE` (or alloc_objects) to name them, \
             then reuse buffers (sync.Pool), preallocate slices and maps, and avoid \
             per-request small allocations. Raising GOGC (e.g. GOGC=200, with GOMEMLIMIT as \
             the memory cap) makes GC cycles rarer, so fewer spans are swept on the \
             allocation path.",
            if heap_bound {
                " under the heap lock (mheap.alloc: pages for new spans and large objects)"
            } else {
                " (mcentral.cacheSpan: sweeping and taking spans of a size class)"
            }
        ),
        sources: vec![format!("ebpf:uprobe alloc pid {}", r.pid)],
        sites: Vec::new(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::SyscallStat;

    fn ev(name: &str, ns: u64, frames: &[&str]) -> SlowStack {
        SlowStack {
            nr: 0,
            name: name.into(),
            frames: frames.iter().map(|s| s.to_string()).collect(),
            count: 1,
            total_ns: ns,
            max_ns: ns,
            stack_error: None,
        }
    }

    fn report(slow: Vec<SlowStack>, window_ns: u64) -> SyscallReport {
        SyscallReport {
            pid: 42,
            window_ns,
            slow_threshold_ns: 10_000_000,
            syscalls: vec![SyscallStat {
                nr: 0,
                name: "read".into(),
                count: 1000,
                total_ns: 0,
                max_ns: 2_000_000_000,
                hist: vec![0; crate::syscalls::HIST_SLOTS],
            }],
            slow_events: slow.iter().map(|s| s.count).sum(),
            slow_unrecorded: 0,
            slow,
            in_flight: Vec::new(),
            slow_dropped: 0,
            entries_lost: 0,
            target_exited: false,
        }
    }

    const READ_STACK: &[&str] = &[
        "internal/runtime/syscall.Syscall6",
        "syscall.read",
        "syscall.Read",
        "main.reader",
        "runtime.goexit",
    ];

    #[test]
    fn many_threads_blocked_at_a_user_site_is_critical_and_names_it() {
        // 32 readers each blocked 1.6 s per read over 10 s: ~32 threads pinned.
        let slow: Vec<_> = (0..200)
            .map(|_| ev("read", 1_600_000_000, READ_STACK))
            .collect();
        let r = report(slow, 10_000_000_000);
        let groups = group_slow(&r.slow, r.window_ns);
        let f = judge_syscalls(&r, &groups);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].id, "syscall.slow");
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[0].sites, vec!["main.reader"]);
        assert!(f[0].title.contains("read"), "{}", f[0].title);
    }

    #[test]
    fn runtime_sleeps_are_idle_and_thin_evidence_is_info() {
        let futex = [
            "runtime.futex",
            "runtime.futexsleep",
            "runtime.notesleep",
            "runtime.stopm",
            "runtime.schedule",
        ];
        let mut slow: Vec<_> = (0..500)
            .map(|_| ev("futex", 1_000_000_000, &futex))
            .collect();
        // Two slow fsyncs at a user site: a pattern needs more than that.
        slow.push(ev(
            "fsync",
            50_000_000,
            &["syscall.Fsync", "os.(*File).Sync", "main.save"],
        ));
        slow.push(ev(
            "fsync",
            40_000_000,
            &["syscall.Fsync", "os.(*File).Sync", "main.save"],
        ));
        let r = report(slow, 10_000_000_000);
        let f = judge_syscalls(&r, &group_slow(&r.slow, r.window_ns));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].sites, vec!["main.save"]);
        assert_eq!(f[0].severity, Severity::Info);
    }

    #[test]
    fn an_idle_m_is_not_charged_to_the_goroutine_it_switched_away_from() {
        // etcd (Debian): an M parked in stopm after a goroutine yielded; frame pointers run
        // on into that goroutine's stack. And sysmon on a cgo binary, ending in C frames.
        let idle = [
            "runtime.futex",
            "runtime.notesleep",
            "runtime.stopm",
            "runtime.findRunnable",
            "runtime.schedule",
            "runtime.park_m",
            "runtime.mcall",
            "runtime.selectgo",
            "go.etcd.io/etcd/raft.(*node).run",
        ];
        let sysmon = [
            "runtime.futex",
            "runtime.notetsleep",
            "runtime.sysmon",
            "runtime.mstart",
            "0x7fc90e0ede58",
        ];
        let mut slow: Vec<_> = (0..300).map(|_| ev("futex", 100_000_000, &idle)).collect();
        slow.extend((0..300).map(|_| ev("futex", 100_000_000, &sysmon)));
        let r = report(slow, 5_000_000_000);
        let groups = group_slow(&r.slow, r.window_ns);
        assert!(
            groups.iter().all(|g| g.site.starts_with("runtime.")),
            "{groups:#?}"
        );
        assert!(judge_syscalls(&r, &groups).is_empty());
    }

    #[test]
    fn an_event_loop_waiting_on_its_own_epoll_set_is_idle() {
        let stack = [
            "internal/runtime/syscall/linux.Syscall6",
            "syscall.Syscall6",
            "golang.org/x/sys/unix.EpollWait",
            "example.com/app/loop.(*Loop).Run",
        ];
        let slow: Vec<_> = (0..100)
            .map(|_| ev("epoll_wait", 1_000_000_000, &stack))
            .collect();
        let r = report(slow, 10_000_000_000);
        let groups = group_slow(&r.slow, r.window_ns);
        assert_eq!(groups[0].site, "golang.org/x/sys/unix.EpollWait");
        assert!(judge_syscalls(&r, &groups).is_empty());
    }

    #[test]
    fn a_short_window_lowers_the_severity() {
        let slow: Vec<_> = (0..20)
            .map(|_| ev("read", 500_000_000, READ_STACK))
            .collect();
        let r = report(slow, 1_000_000_000);
        let f = judge_syscalls(&r, &group_slow(&r.slow, r.window_ns));
        assert_eq!(f[0].severity, Severity::Warning);
        let reasons = f[0].evidence["severity_reasons"].to_string();
        assert!(reasons.contains("lowered"), "{reasons}");
    }

    // ---- run-queue probe ----

    use crate::runq::{CpuWindow, Delays, RunqReport};

    /// `n` delays in log2 slot `slot`, max `max_ns`.
    fn delays(n: u64, slot: usize, max_ns: u64) -> Delays {
        let mut d = Delays::empty();
        d.count = n;
        d.hist[slot] = n;
        d.total_ns = n * (1u64 << slot);
        d.max_ns = max_ns;
        d
    }

    fn runq(all: Delays, cpu: CpuWindow) -> RunqReport {
        RunqReport {
            pid: 42,
            window_ns: 5_000_000_000,
            after_wakeup: all.clone(),
            all,
            after_preemption: Delays::empty(),
            entries_lost: 0,
            cpu,
            target_exited: false,
        }
    }

    fn quiet_host() -> CpuWindow {
        CpuWindow {
            host_pressure_some_avg10: Some(1.0),
            host_pressure_some_avg60: Some(1.0),
            load1: Some(0.5),
            host_cpus: Some(8),
            gomaxprocs: Some(8),
            ..Default::default()
        }
    }

    #[test]
    fn short_run_queue_waits_are_healthy() {
        // 5000 delays, all ~16-32 µs; even the max (3 ms) is under the warning P99.
        let mut d = delays(5000, 14, 3_000_000);
        d.hist[21] = 10; // a few ~2-4 ms waits
        d.count += 10;
        assert!(judge_runq(&runq(d, quiet_host())).is_empty());
    }

    #[test]
    fn throttled_quota_is_named_as_the_cause() {
        // 2% of delays at ~64-128 ms: the rest of a 100 ms period after the quota ran out.
        let mut d = delays(4900, 14, 95_000_000);
        d.hist[26] = 100;
        d.count += 100;
        let cpu = CpuWindow {
            cgroup: Some("/probe".into()),
            nr_periods: Some(50),
            nr_throttled: Some(48),
            throttled_ns: Some(3_500_000_000),
            quota_cpus: Some(0.2),
            gomaxprocs: Some(4),
            gomaxprocs_observed: true,
            ..quiet_host()
        };
        let f = judge_runq(&runq(d, cpu));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].id, "sched.cpu-starved");
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[0].evidence["cause"], "cgroup-throttled");
        assert!(f[0].title.contains("CFS quota"), "{}", f[0].title);
        assert!(
            f[0].recommendation.contains("GOMAXPROCS=1"),
            "{}",
            f[0].recommendation
        );
    }

    #[test]
    fn old_throttling_does_not_explain_this_window() {
        // A quota that throttled nothing during the window while the host is saturated.
        let d = delays(1000, 23, 12_000_000); // ~8-16 ms
        let cpu = CpuWindow {
            nr_periods: Some(50),
            nr_throttled: Some(0),
            quota_cpus: Some(4.0),
            host_pressure_some_avg10: Some(60.0),
            load1: Some(20.0),
            ..quiet_host()
        };
        let f = judge_runq(&runq(d, cpu));
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].evidence["cause"], "host-saturated");
    }

    #[test]
    fn gomaxprocs_above_the_quota_when_nothing_else_shows() {
        let d = delays(1000, 23, 12_000_000);
        let cpu = CpuWindow {
            nr_periods: Some(50),
            nr_throttled: Some(1), // 2% < the throttling share
            quota_cpus: Some(2.0),
            gomaxprocs: Some(16),
            ..quiet_host()
        };
        let f = judge_runq(&runq(d, cpu));
        assert_eq!(f[0].evidence["cause"], "gomaxprocs-above-quota");
    }

    #[test]
    fn few_samples_or_a_short_window_lower_the_severity() {
        let d = delays(50, 26, 100_000_000);
        let f = judge_runq(&runq(d, quiet_host()));
        assert_eq!(f[0].severity, Severity::Info);
        let mut r = runq(delays(1000, 26, 100_000_000), quiet_host());
        r.window_ns = 1_000_000_000;
        let f = judge_runq(&r);
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].evidence["cause"], "none-outside");
    }

    // ---- fd probe ----

    use crate::fds::{FdReport, FdStack};

    fn fd_stack(frames: &[&str], opened: u64, series: &[i64]) -> FdStack {
        let out = *series.last().unwrap();
        FdStack {
            frames: frames.iter().map(|s| s.to_string()).collect(),
            opened,
            closed: opened - out as u64,
            outstanding: out,
            series: series.to_vec(),
            stack_error: None,
        }
    }

    fn fd_report(stacks: Vec<FdStack>) -> FdReport {
        FdReport {
            pid: 42,
            window_ns: 5_000_000_000,
            sample_every_ns: 500_000_000,
            stacks,
            untracked: 0,
            open_fds_start: Some(100),
            open_fds_end: Some(150),
            nofile_soft: Some(1024),
            target_exited: false,
            untraced_syscalls: Vec::new(),
        }
    }

    const DIAL: &[&str] = &[
        "syscall.Socket",
        "net.sysSocket",
        "net.(*Dialer).DialContext",
        "net.Dial",
        "main.fetch",
        "runtime.goexit",
    ];
    const OPEN: &[&str] = &["syscall.openat", "os.OpenFile", "os.Open", "main.fetch"];

    #[test]
    fn a_steady_leak_over_a_short_window_is_judged_from_the_window_midpoint() {
        // The fd-leak patient over 2 s: 5 fds per 500 ms sample, one tick of which landed
        // late. From the 1.5 s sample (the old `len / 2`) only 4 of 20 are "in the second
        // half", under the quarter the rule asks; from the 1 s sample, 11.
        let series = [5, 9, 16, 20];
        let mut r = fd_report(vec![fd_stack(DIAL, 20, &series)]);
        r.window_ns = 2_000_000_000;
        let groups = group_fds(&r);
        let f = judge_fds(&r, &groups);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].evidence["growth_second_half"], 11);
        assert_eq!(midpoint_sample(2_000_000_000, 500_000_000, 4), 1);
        assert_eq!(midpoint_sample(10_000_000_000, 500_000_000, 20), 9);
        // A window cut short by the target's exit: never past the series' end.
        assert_eq!(midpoint_sample(10_000_000_000, 500_000_000, 3), 2);
    }

    #[test]
    fn a_site_that_keeps_opening_is_a_leak_named_at_its_site() {
        let steady: Vec<i64> = (1..=10).map(|i| i * 3).collect();
        let r = fd_report(vec![
            fd_stack(DIAL, 30, &steady),
            fd_stack(OPEN, 30, &steady),
            // Balanced: opened and closed, as os.ReadDir does.
            fd_stack(
                &["syscall.openat", "os.ReadDir", "main.count"],
                50,
                &[0; 10],
            ),
        ]);
        let groups = group_fds(&r);
        assert_eq!(groups[0].site, "main.fetch");
        assert_eq!(groups[0].outstanding, 60);
        let f = judge_fds(&r, &groups);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].id, "fd.leak");
        assert_eq!(f[0].sites, vec!["main.fetch"]);
        // 874 fds left at 12/s: the limit in ~73 s.
        assert_eq!(f[0].severity, Severity::Critical);
    }

    #[test]
    fn a_pool_that_filled_early_is_not_a_leak() {
        let pool = [20, 32, 32, 32, 32, 32, 32, 32, 32, 32];
        let r = fd_report(vec![fd_stack(DIAL, 32, &pool)]);
        assert!(judge_fds(&r, &group_fds(&r)).is_empty());
        // Nor is a handful of fds in flight.
        let few: Vec<i64> = (1..=10).collect();
        let r = fd_report(vec![fd_stack(DIAL, 10, &few[..9])]);
        assert!(judge_fds(&r, &group_fds(&r)).is_empty());
    }

    #[test]
    fn far_from_the_limit_is_a_warning_and_runtime_stacks_are_not_sites() {
        let steady: Vec<i64> = (1..=10).map(|i| i * 2).collect();
        let mut r = fd_report(vec![
            fd_stack(OPEN, 20, &steady),
            fd_stack(
                &["runtime.netpollinit", "runtime.netpollGenericInit"],
                20,
                &steady,
            ),
        ]);
        r.nofile_soft = Some(1 << 20);
        let f = judge_fds(&r, &group_fds(&r));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Warning);
    }

    // ---- alloc.contention from the allocator probe ----

    /// A report whose cacheSpan made `calls` refills: all but `slow` of them in the 1 µs
    /// slot, `slow` in `slow_slot`; refill time `refill_ns` of `cpu_ns` CPU over 10 s.
    fn alloc_report(
        calls: u64,
        slow: u64,
        slow_slot: usize,
        refill_ns: u64,
        cpu_ns: Option<u64>,
    ) -> crate::alloc::AllocReport {
        use crate::alloc::{AllocFn, AllocReport, CACHE_SPAN, ProbePoints};
        let mut latency = crate::runq::Delays::empty();
        latency.count = calls;
        latency.hist[10] = calls - slow;
        latency.hist[slow_slot] += slow;
        latency.total_ns = refill_ns;
        latency.max_ns = if slow > 0 { 1 << (slow_slot + 1) } else { 2048 };
        AllocReport {
            pid: 42,
            window_ns: 10_000_000_000,
            functions: vec![AllocFn {
                function: CACHE_SPAN.into(),
                calls,
                latency,
                queued_ns: 0,
                nested_ns: 0,
                unmatched: 0,
                points: ProbePoints {
                    function: CACHE_SPAN.into(),
                    entry: 0x1000,
                    end: 0x1400,
                    source: "symtab",
                    rets: vec![0x11dc],
                    tail_jumps: Vec::new(),
                    entry_offset: 0x1000,
                    ret_offsets: vec![0x11dc],
                },
            }],
            missing: Vec::new(),
            refill_ns,
            cpu_ns,
            untimed: 0,
            probe_cost: None,
            cut_short: None,
            target_exited: false,
        }
    }

    #[test]
    fn a_fast_allocator_gives_no_alloc_finding() {
        // 200k refills at ~1 µs: 0.2 s of 15 s CPU (1.3%), P99 in the µs.
        let r = alloc_report(200_000, 0, 10, 200_000_000, Some(15_000_000_000));
        assert!(judge_alloc(&r).is_empty());
        // Even a storm of fast refills (a third of CPU) is allocation, not contention.
        let r = alloc_report(200_000, 1000, 13, 5_000_000_000, Some(15_000_000_000));
        assert!(judge_alloc(&r).is_empty(), "{:#?}", judge_alloc(&r));
        // And a slow tail that costs almost nothing is not worth a finding.
        let r = alloc_report(200_000, 4000, 18, 600_000_000, Some(15_000_000_000));
        assert!(judge_alloc(&r).is_empty());
        // The healthy HTTP patient under wrk: P99 in the 32–65 µs slot, refill 10% of CPU.
        let r = alloc_report(15_000, 300, 15, 100_000_000, Some(1_000_000_000));
        assert!(judge_alloc(&r).is_empty(), "{:#?}", judge_alloc(&r));
    }

    #[test]
    fn slow_refills_that_cost_cpu_are_alloc_contention() {
        // 3% of refills at 128–256 µs (P99 ≤ 262 µs), refill 20% of CPU: a warning.
        let r = alloc_report(100_000, 3000, 17, 3_000_000_000, Some(15_000_000_000));
        let f = judge_alloc(&r);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].id, "alloc.contention");
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].evidence["cachespan_p99_ns"], json!(262_144));
        assert_eq!(f[0].evidence["refill_share_of_cpu_percent"], json!(20.0));
        assert!(
            f[0].recommendation.contains("gorx pprof"),
            "{}",
            f[0].recommendation
        );
        assert!(f[0].recommendation.contains("GOGC"));
        // ms-long refills taking a third of CPU: critical.
        let r = alloc_report(100_000, 3000, 20, 5_000_000_000, Some(15_000_000_000));
        assert_eq!(judge_alloc(&r)[0].severity, Severity::Critical);
    }

    #[test]
    fn thin_alloc_evidence_is_lowered_or_dropped() {
        // 300 refills: a P99 of a few hundred calls is their max: info.
        let r = alloc_report(300, 30, 20, 3_000_000_000, Some(15_000_000_000));
        assert_eq!(judge_alloc(&r)[0].severity, Severity::Info);
        // A one-second window lowers a critical to a warning.
        let mut r = alloc_report(100_000, 3000, 20, 5_000_000_000, Some(15_000_000_000));
        r.window_ns = 1_000_000_000;
        assert_eq!(judge_alloc(&r)[0].severity, Severity::Warning);
        // No CPU time (the target exited): no share, no finding.
        let r = alloc_report(100_000, 3000, 20, 5_000_000_000, None);
        assert!(judge_alloc(&r).is_empty());
    }
}

// ---- probe 5: anonymous memory (mmap/munmap/mremap/brk) ----
//
// Needs: the mmap probe's stacks (bytes mapped and released per mapping stack, resident
// bytes of the outstanding regions) and the process's anonymous RSS at the window's end.
// Claims: `memory.rss-gap` naming the user sites (the first frame outside the runtime and
// the standard library that called syscall.Mmap / unix.Mmap) whose mappings made in the
// window still hold a large share of the anonymous RSS.
// Why: memory mapped outside the Go heap is invisible to the heap profile and to
// GOMEMLIMIT; the /proc rule sees the gap, this one sees who holds it. The Go runtime's own
// mappings (heap arenas, goroutine stacks, metadata: sysReserve/sysMap/sysAlloc...) are
// its heap, accounted by the runtime, and never blamed on a user site.

use crate::mmap::{MemKind, MmapReport, MmapStack};
use gorx_analysis::thresholds::{
    MMAP_PROBE_CRITICAL_SHARE, MMAP_PROBE_MAX_SITES, MMAP_PROBE_MIN_BYTES,
    MMAP_PROBE_SITE_MIN_SHARE, MMAP_PROBE_WARNING_SHARE,
};

/// Who made a mapping.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum MapOwner {
    /// The program: syscall.Mmap / unix.Mmap called from its code (or C code).
    User,
    /// The Go runtime's own memory: heap arenas, stacks, GC metadata.
    Runtime,
}

/// Frames between a syscall and the code that asked for it: the syscall packages.
fn is_syscall_plumbing(f: &str) -> bool {
    let pkg = gorx_formats::goroutines::package_of(f);
    // internal/runtime/syscall/linux (Go 1.25+), internal/runtime/syscall (1.23-1.24),
    // runtime/internal/syscall (1.21-1.22).
    // A cgo call: runtime.cgocall and the cgo-generated wrappers (_Cfunc_, _cgo_) stand
    // between the Go code and the C that allocates.
    f == "runtime.cgocall"
        || f == "runtime.asmcgocall"
        || f.contains("._Cfunc_")
        || f.contains("._cgo_")
        || pkg == "syscall"
        || pkg == "golang.org/x/sys/unix"
        || pkg.starts_with("internal/runtime/syscall")
        || pkg.starts_with("runtime/internal/syscall")
        || pkg.starts_with("internal/syscall/")
}

/// The owner and site of a mapping stack (leaf first): the first frame past the syscall
/// packages decides. A runtime frame there (runtime.mmap under sysReserveOS, sysMapOS,
/// sysAllocOS, persistentalloc, (*mheap).grow, stackalloc...) means the runtime mapped it
/// for itself, whatever user code later frames (through systemstack) reach; the site is
/// then that runtime function. Otherwise the site is the first user frame. Unsymbolized
/// frames (C code without frame pointers) are skipped.
pub fn mapping_owner(frames: &[String]) -> (MapOwner, String) {
    let named: Vec<&str> = frames
        .iter()
        .map(String::as_str)
        .filter(|f| !f.starts_with("0x"))
        .collect();
    let first = named.iter().copied().find(|f| !is_syscall_plumbing(f));
    if let Some(f) = first {
        let pkg = gorx_formats::goroutines::package_of(f);
        if pkg == "runtime" || pkg.starts_with("runtime/") || pkg.starts_with("internal/runtime/") {
            return (MapOwner::Runtime, f.to_string());
        }
    }
    let past = named.iter().copied().skip_while(|f| is_syscall_plumbing(f));
    let site = site(past.clone())
        .or_else(|| past.clone().next())
        .or_else(|| named.first().copied())
        .unwrap_or(NO_STACK);
    (MapOwner::User, site.to_string())
}

/// The memory mapped at one site (every stack of one kind whose site it is).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MmapGroup {
    pub site: String,
    pub owner: MapOwner,
    pub kind: MemKind,
    pub calls: u64,
    pub mapped_bytes: u64,
    pub unmapped_bytes: u64,
    pub outstanding_bytes: i64,
    /// Resident bytes of the outstanding regions at the end (None for brk, or when
    /// /proc/PID/smaps could not be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resident_bytes: Option<u64>,
    /// Outstanding bytes at each sample, summed over the site's stacks.
    pub series: Vec<i64>,
    /// The stack with the most outstanding bytes, leaf first.
    pub stack: Vec<String>,
}

impl MmapGroup {
    /// What the site holds of the RSS: resident bytes when known, else outstanding.
    pub fn held_bytes(&self) -> u64 {
        self.resident_bytes
            .unwrap_or(self.outstanding_bytes.max(0) as u64)
    }
}

/// Mapping stacks grouped by (owner, site, kind), most outstanding first.
pub fn group_mmap(r: &MmapReport) -> Vec<MmapGroup> {
    let mut groups: BTreeMap<(MapOwner, String, MemKind), MmapGroup> = BTreeMap::new();
    // libc's heap per Go stack (cgo targets), as stacks of kind malloc.
    let malloc: Vec<MmapStack> = r
        .malloc
        .iter()
        .flat_map(|m| &m.stacks)
        .map(|m| MmapStack {
            frames: m.frames.clone(),
            kind: MemKind::Malloc,
            calls: m.allocs,
            mapped_bytes: m.alloc_bytes,
            unmapped_bytes: m.freed_bytes,
            outstanding_bytes: m.outstanding_bytes,
            resident_bytes: None,
            series: m.series.clone(),
            stack_error: m.stack_error,
        })
        .collect();
    // Stacks come most outstanding first: the first seen names the group's stack.
    for st in r.stacks.iter().chain(&malloc) {
        let (owner, site) = mapping_owner(&st.frames);
        let g = groups
            .entry((owner, site.clone(), st.kind))
            .or_insert_with(|| MmapGroup {
                site,
                owner,
                kind: st.kind,
                calls: 0,
                mapped_bytes: 0,
                unmapped_bytes: 0,
                outstanding_bytes: 0,
                resident_bytes: None,
                series: vec![0; st.series.len()],
                stack: st.frames.clone(),
            });
        g.calls += st.calls;
        g.mapped_bytes += st.mapped_bytes;
        g.unmapped_bytes += st.unmapped_bytes;
        g.outstanding_bytes += st.outstanding_bytes;
        if let Some(b) = st.resident_bytes {
            g.resident_bytes = Some(g.resident_bytes.unwrap_or(0) + b);
        }
        if g.series.len() < st.series.len() {
            g.series.resize(st.series.len(), 0);
        }
        for (a, b) in g.series.iter_mut().zip(&st.series) {
            *a += b;
        }
    }
    let mut out: Vec<MmapGroup> = groups.into_values().collect();
    out.sort_by(|a, b| {
        b.outstanding_bytes
            .cmp(&a.outstanding_bytes)
            .then_with(|| a.site.cmp(&b.site))
            .then_with(|| a.kind.cmp(&b.kind))
    });
    out
}

fn mib_str(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
}

/// `memory.rss-gap` naming the user sites whose anonymous mappings (made in the window,
/// still held at its end) are a large share of the anonymous RSS.
pub fn judge_mmap(r: &MmapReport, groups: &[MmapGroup]) -> Vec<Finding> {
    let (anon, basis) = match (r.end.rss_anon_bytes, r.end.vm_rss_bytes) {
        (Some(a), _) => (a, "anonymous RSS"),
        (None, Some(v)) => (v, "RSS"),
        (None, None) => return Vec::new(), // gone: nothing to compare with
    };
    let user: Vec<&MmapGroup> = groups
        .iter()
        .filter(|g| g.owner == MapOwner::User && g.site != NO_STACK)
        .filter(|g| g.kind != MemKind::File)
        .filter(|g| g.held_bytes() > 0)
        .collect();
    let held: u64 = user.iter().map(|g| g.held_bytes()).sum();
    if held < MMAP_PROBE_MIN_BYTES || anon == 0 {
        return Vec::new();
    }
    let share = held as f64 / anon as f64;
    let mut reasons = vec![format!(
        "{} held by user mappings ≥ {}",
        mib_str(held),
        mib_str(MMAP_PROBE_MIN_BYTES)
    )];
    let severity = if share >= MMAP_PROBE_CRITICAL_SHARE {
        reasons.push(format!(
            "{:.0}% of {basis} ≥ {:.0}%",
            share * 100.0,
            MMAP_PROBE_CRITICAL_SHARE * 100.0
        ));
        Severity::Critical
    } else if share >= MMAP_PROBE_WARNING_SHARE {
        reasons.push(format!(
            "{:.0}% of {basis} ≥ {:.0}%",
            share * 100.0,
            MMAP_PROBE_WARNING_SHARE * 100.0
        ));
        Severity::Warning
    } else {
        return Vec::new();
    };
    let mut by_held = user.clone();
    by_held.sort_by(|a, b| {
        b.held_bytes()
            .cmp(&a.held_bytes())
            .then_with(|| a.site.cmp(&b.site))
    });
    let mut named: Vec<String> = Vec::new();
    for g in &by_held {
        if named.len() == MMAP_PROBE_MAX_SITES {
            break;
        }
        if g.held_bytes() as f64 >= held as f64 * MMAP_PROBE_SITE_MIN_SHARE
            && !named.contains(&g.site)
        {
            named.push(g.site.clone());
        }
    }
    let runtime_outstanding: i64 = groups
        .iter()
        .filter(|g| g.owner == MapOwner::Runtime && g.kind == MemKind::Anon)
        .map(|g| g.outstanding_bytes)
        .sum();
    let mut evidence = Evidence::new();
    evidence.insert("source".into(), json!("ebpf-mmap"));
    evidence.insert("user_mapped_held_bytes".into(), json!(held));
    evidence.insert(
        "share_of_rss_percent".into(),
        json!((share * 1000.0).round() / 10.0),
    );
    if let Some(a) = r.end.rss_anon_bytes {
        evidence.insert("rss_anon_bytes".into(), json!(a));
    }
    if let Some(v) = r.end.vm_rss_bytes {
        evidence.insert("rss_bytes".into(), json!(v));
    }
    if let Some(a) = r.start.rss_anon_bytes {
        evidence.insert("rss_anon_bytes_at_start".into(), json!(a));
    }
    evidence.insert(
        "sites".into(),
        json!(
            by_held
                .iter()
                .take(MMAP_PROBE_MAX_SITES)
                .map(|g| json!({
                    "site": g.site,
                    "kind": g.kind,
                    "mappings": g.calls,
                    "mapped_bytes": g.mapped_bytes,
                    "unmapped_bytes": g.unmapped_bytes,
                    "outstanding_bytes": g.outstanding_bytes,
                    "resident_bytes": g.resident_bytes,
                    // Still growing at the window's end, or mapped early and held.
                    "growth_second_half_bytes": g.series.last().copied().unwrap_or(0)
                        - g.series.get(midpoint_sample(r.window_ns, r.sample_every_ns, g.series.len())).copied().unwrap_or(0),
                }))
                .collect::<Vec<_>>()
        ),
    );
    evidence.insert(
        "runtime_mapped_outstanding_bytes".into(),
        json!(runtime_outstanding),
    );
    evidence.insert(
        "counted".into(),
        json!("mappings made during the window only; earlier ones are not attributed"),
    );
    evidence.insert("window_ns".into(), json!(r.window_ns));
    evidence.insert("severity_reasons".into(), json!(reasons));
    let more = if named.len() > 1 {
        format!(" and {} more site(s)", named.len() - 1)
    } else {
        String::new()
    };
    vec![Finding {
        id: "memory.rss-gap",
        severity,
        title: format!(
            "{} of {} {basis} ({:.0}%) is held by {} at {}{more}, outside the Go heap",
            mib_str(held),
            mib_str(anon),
            share * 100.0,
            match by_held[0].kind {
                MemKind::Malloc => "C malloc (cgo)",
                MemKind::Brk => "brk",
                _ => "mmap",
            },
            named[0]
        ),
        evidence,
        recommendation: format!(
            "{}: memory mapped here (syscall.Mmap / unix.Mmap or C allocation) is outside the \
             Go heap: the heap profile and GOMEMLIMIT do not see it. Unmap (syscall.Munmap) \
             what is no longer used or bound the cache that holds it, and subtract it from the \
             container limit when sizing GOMEMLIMIT; the stack in probes.mmap shows the \
             mapping call.",
            named.join(", ")
        ),
        sources: vec![format!("ebpf:raw_syscalls mmap pid {}", r.pid)],
        sites: named,
    }]
}

#[cfg(test)]
mod mmap_tests {
    use super::*;
    use crate::mmap::{MemSnapshot, MmapDrops};

    const MIB: u64 = 1 << 20;

    fn st(frames: &[&str], kind: MemKind, out: u64, resident: Option<u64>) -> MmapStack {
        MmapStack {
            frames: frames.iter().map(|s| s.to_string()).collect(),
            kind,
            calls: (out / (16 * MIB)).max(1),
            mapped_bytes: out,
            unmapped_bytes: 0,
            outstanding_bytes: out as i64,
            resident_bytes: resident,
            // Sampled every 500 ms over the reports' 8 s window, a steady rise.
            series: (1..=16).map(|i| out as i64 * i / 16).collect(),
            stack_error: None,
        }
    }

    fn report(stacks: Vec<MmapStack>, rss_anon: u64) -> MmapReport {
        MmapReport {
            pid: 42,
            window_ns: 8_000_000_000,
            sample_every_ns: 500_000_000,
            stacks,
            drops: MmapDrops::default(),
            start: MemSnapshot {
                vm_rss_bytes: Some(20 * MIB),
                rss_anon_bytes: Some(10 * MIB),
            },
            end: MemSnapshot {
                vm_rss_bytes: Some(rss_anon + 10 * MIB),
                rss_anon_bytes: Some(rss_anon),
            },
            target_exited: false,
            malloc: None,
            malloc_skipped: None,
        }
    }

    // As Go 1.26 symbolizes syscall.Mmap's stack (the offheap patient).
    const USER_MMAP: &[&str] = &[
        "internal/runtime/syscall/linux.Syscall6",
        "syscall.Syscall6",
        "syscall.mmap",
        "syscall.(*mmapper).Mmap",
        "syscall.Mmap",
        "main.main.func1",
        "runtime.goexit",
    ];
    // The runtime growing its heap on behalf of a user allocation: the frames walk on
    // through systemstack into the user's mallocgc caller, which must not be blamed.
    const HEAP_GROW: &[&str] = &[
        "runtime.mmap",
        "runtime.sysMapOS",
        "runtime.sysMap",
        "runtime.(*mheap).grow",
        "runtime.(*mheap).allocSpan",
        "runtime.systemstack",
        "runtime.mallocgc",
        "main.buildCache",
    ];
    const RESERVE: &[&str] = &[
        "runtime.sysReserveOS",
        "runtime.sysReserve",
        "runtime.(*mheap).sysAlloc",
    ];

    #[test]
    fn owners_are_told_apart_by_the_frame_past_the_syscall_packages() {
        let v = |f: &[&str]| f.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            mapping_owner(&v(USER_MMAP)),
            (MapOwner::User, "main.main.func1".to_string())
        );
        assert_eq!(
            mapping_owner(&v(HEAP_GROW)),
            (MapOwner::Runtime, "runtime.mmap".to_string())
        );
        assert_eq!(mapping_owner(&v(RESERVE)).0, MapOwner::Runtime);
        // x/sys/unix is plumbing too; C frames without symbols are skipped.
        let unix = [
            "0x7f001234",
            "golang.org/x/sys/unix.Mmap",
            "example.com/db.(*Arena).grow",
        ];
        assert_eq!(
            mapping_owner(&v(&unix)),
            (MapOwner::User, "example.com/db.(*Arena).grow".to_string())
        );
    }

    #[test]
    fn a_user_site_holding_most_of_the_rss_is_named() {
        let r = report(
            vec![
                st(USER_MMAP, MemKind::Anon, 320 * MIB, Some(320 * MIB)),
                st(HEAP_GROW, MemKind::Anon, 64 * MIB, Some(8 * MIB)),
            ],
            340 * MIB,
        );
        let groups = group_mmap(&r);
        assert_eq!(groups[0].site, "main.main.func1");
        let f = judge_mmap(&r, &groups);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].id, "memory.rss-gap");
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[0].sites, vec!["main.main.func1"]);
        assert_eq!(f[0].evidence["user_mapped_held_bytes"], 320 * MIB);
        assert_eq!(f[0].evidence["runtime_mapped_outstanding_bytes"], 64 * MIB);
        // A steady rise to 320 MiB: 160 MiB of it came in the second half.
        assert_eq!(
            f[0].evidence["sites"][0]["growth_second_half_bytes"],
            160 * MIB
        );
    }

    #[test]
    fn the_runtime_heap_is_never_blamed_and_a_healthy_process_gives_nothing() {
        // A server whose heap grew by 300 MiB: all of it the runtime's own mappings.
        let r = report(
            vec![
                st(HEAP_GROW, MemKind::Anon, 256 * MIB, Some(250 * MIB)),
                st(RESERVE, MemKind::Anon, 64 * MIB, Some(40 * MIB)),
            ],
            300 * MIB,
        );
        assert!(judge_mmap(&r, &group_mmap(&r)).is_empty());
        // A small user mapping next to a big heap is not worth a finding.
        let r = report(
            vec![
                st(USER_MMAP, MemKind::Anon, 80 * MIB, Some(80 * MIB)),
                st(HEAP_GROW, MemKind::Anon, 500 * MIB, Some(500 * MIB)),
            ],
            600 * MIB,
        );
        assert!(judge_mmap(&r, &group_mmap(&r)).is_empty());
        // Mapped but never touched: not resident, so not RSS.
        let r = report(
            vec![st(USER_MMAP, MemKind::Anon, 1024 * MIB, Some(0))],
            30 * MIB,
        );
        assert!(judge_mmap(&r, &group_mmap(&r)).is_empty());
    }

    #[test]
    fn cgo_malloc_is_charged_past_the_cgo_wrappers_and_named_as_c_malloc() {
        use crate::malloc::{MallocReport, MallocStack};
        let mut r = report(Vec::new(), 110 * MIB);
        r.malloc = Some(MallocReport {
            libc: "/usr/lib/x86_64-linux-gnu/libc.so.6".into(),
            stacks: vec![MallocStack {
                frames: [
                    "runtime.cgocall",
                    "main._cgo_cmalloc",
                    "main._Cfunc__CMalloc",
                    "main.cKeep",
                    "main.main",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
                allocs: 100,
                frees: 0,
                alloc_bytes: 100 * MIB,
                freed_bytes: 0,
                outstanding_bytes: (100 * MIB) as i64,
                series: vec![(100 * MIB) as i64],
                stack_error: None,
            }],
            blocks_untracked: 0,
            sites_full: 0,
        });
        let groups = group_mmap(&r);
        assert_eq!(groups[0].site, "main.cKeep");
        assert_eq!(groups[0].kind, MemKind::Malloc);
        let f = judge_mmap(&r, &groups);
        assert_eq!(f[0].sites, vec!["main.cKeep"]);
        assert!(
            f[0].title.contains("held by C malloc (cgo) at main.cKeep"),
            "{}",
            f[0].title
        );
    }

    #[test]
    fn a_quarter_is_a_warning_and_file_mappings_are_not_judged() {
        let r = report(
            vec![
                st(USER_MMAP, MemKind::Anon, 100 * MIB, Some(100 * MIB)),
                st(USER_MMAP, MemKind::File, 900 * MIB, Some(900 * MIB)),
            ],
            300 * MIB,
        );
        let f = judge_mmap(&r, &group_mmap(&r));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].evidence["user_mapped_held_bytes"], 100 * MIB);
    }
}
