//! `gorx probe`: the syscall table (as bcc's syscount prints it, with quantiles from the
//! in-kernel log2 histogram) and the slow syscalls grouped by Go site; the run-queue
//! delays (as bcc's runqlat prints them) with the window's CPU competition; the fds per
//! opening site; the allocator's span refill latency.

use crate::text::format_duration_ns;
use gorx_ebpf::fds::FdReport;
use gorx_ebpf::judge::{FdGroup, SlowGroup};
use gorx_ebpf::runq::RunqReport;
use gorx_ebpf::syscalls::SyscallReport;
use std::fmt::Write;

/// Rows shown in the syscall table (the rest are summed in one line).
const TOP_SYSCALLS: usize = 15;
/// Slow-syscall groups shown.
const TOP_GROUPS: usize = 10;
/// Frames of a group's stack shown.
const STACK_FRAMES: usize = 8;

pub fn render_syscalls_text(r: &SyscallReport, groups: &[SlowGroup]) -> String {
    let mut out = String::new();
    let total_calls: u64 = r.syscalls.iter().map(|s| s.count).sum();
    let _ = writeln!(
        out,
        "Syscalls of pid {} over {} ({} calls; in-kernel aggregation, tgid-filtered):",
        r.pid,
        format_duration_ns(r.window_ns as f64),
        total_calls
    );
    if r.target_exited {
        let _ = writeln!(out, "  (the target exited before the window ended)");
    }
    if r.syscalls.is_empty() {
        let _ = writeln!(out, "  no syscalls completed in the window\n");
    } else {
        let _ = writeln!(
            out,
            "  {:<20} {:>10} {:>12} {:>11} {:>11} {:>11}",
            "SYSCALL", "COUNT", "TOTAL", "P50", "P99", "MAX"
        );
        for s in r.syscalls.iter().take(TOP_SYSCALLS) {
            let _ = writeln!(
                out,
                "  {:<20} {:>10} {:>12} {:>11} {:>11} {:>11}",
                s.name,
                s.count,
                format_duration_ns(s.total_ns as f64),
                format!("≤{}", format_duration_ns(s.quantile_ns(0.50) as f64)),
                format!("≤{}", format_duration_ns(s.quantile_ns(0.99) as f64)),
                format_duration_ns(s.max_ns as f64)
            );
        }
        if r.syscalls.len() > TOP_SYSCALLS {
            let rest = &r.syscalls[TOP_SYSCALLS..];
            let _ = writeln!(
                out,
                "  ({} more syscalls, {} calls, {})",
                rest.len(),
                rest.iter().map(|s| s.count).sum::<u64>(),
                format_duration_ns(rest.iter().map(|s| s.total_ns).sum::<u64>() as f64)
            );
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "Syscalls slower than {} by Go site ({} events{}):",
        format_duration_ns(r.slow_threshold_ns as f64),
        r.slow_events,
        match (r.slow_dropped, r.slow_unrecorded) {
            (0, 0) => String::new(),
            (d, u) => format!(", {d} dropped (ring buffer full), {u} not kept (too many stacks)"),
        }
    );
    if groups.is_empty() {
        let _ = writeln!(out, "  none\n");
    }
    for g in groups.iter().take(TOP_GROUPS) {
        let _ = writeln!(
            out,
            "  {:<12} {:>6}× total {:>10}  max {:>10}  {:.2} threads blocked  at {}",
            g.syscall,
            g.count,
            format_duration_ns(g.total_ns as f64),
            format_duration_ns(g.max_ns as f64),
            g.threads_blocked,
            g.site
        );
        for f in g.stack.iter().take(STACK_FRAMES) {
            let _ = writeln!(out, "      {f}");
        }
        if g.stack.len() > STACK_FRAMES {
            let _ = writeln!(
                out,
                "      ... {} more frames",
                g.stack.len() - STACK_FRAMES
            );
        }
    }
    if groups.len() > TOP_GROUPS {
        let _ = writeln!(
            out,
            "  ({} more groups; --json has them all)",
            groups.len() - TOP_GROUPS
        );
    }
    out.push('\n');
    if !r.in_flight.is_empty() {
        // One line per syscall: how many threads, the longest (stacks are taken on return).
        let mut by_name: Vec<(&str, usize, u64)> = Vec::new();
        for f in &r.in_flight {
            match by_name.iter_mut().find(|(n, _, _)| *n == f.name) {
                Some(e) => {
                    e.1 += 1;
                    e.2 = e.2.max(f.elapsed_ns);
                }
                None => by_name.push((&f.name, 1, f.elapsed_ns)),
            }
        }
        let _ = writeln!(
            out,
            "Still blocked when the window closed, at least {} (no stack: stacks are taken on return):",
            format_duration_ns(r.slow_threshold_ns as f64)
        );
        for (name, n, longest) in by_name {
            let _ = writeln!(
                out,
                "  {name:<12} {n:>6} threads, longest {}",
                format_duration_ns(longest as f64)
            );
        }
        out.push('\n');
    }
    out
}

/// The run-queue probe: delays from runnable to on-CPU (as bcc's runqlat), by how the
/// thread got queued, the log2 histogram, and what competed for the CPU in the window.
pub fn render_runq_text(r: &RunqReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Run-queue delay of pid {}'s threads over {} (runnable → on CPU; in-kernel, tgid-filtered):",
        r.pid,
        format_duration_ns(r.window_ns as f64)
    );
    if r.target_exited {
        let _ = writeln!(out, "  (the target exited before the window ended)");
    }
    let _ = writeln!(
        out,
        "  {:<18} {:>10} {:>12} {:>11} {:>11} {:>11}",
        "QUEUED", "COUNT", "TOTAL", "P50", "P99", "MAX"
    );
    for (name, d) in [
        ("after wakeup", &r.after_wakeup),
        ("after preemption", &r.after_preemption),
        ("all", &r.all),
    ] {
        let _ = writeln!(
            out,
            "  {:<18} {:>10} {:>12} {:>11} {:>11} {:>11}",
            name,
            d.count,
            format_duration_ns(d.total_ns as f64),
            format!("≤{}", format_duration_ns(d.quantile_ns(0.50) as f64)),
            format!("≤{}", format_duration_ns(d.quantile_ns(0.99) as f64)),
            format_duration_ns(d.max_ns as f64)
        );
    }
    if r.entries_lost > 0 {
        let _ = writeln!(
            out,
            "  ({} queue entries not timed: thread table full)",
            r.entries_lost
        );
    }
    render_log2_hist(&mut out, "delay", &r.all.hist);
    let c = &r.cpu;
    let mut facts = Vec::new();
    match (c.nr_throttled, c.nr_periods) {
        (Some(t), Some(p)) => facts.push(format!(
            "cgroup {} throttled in {t} of {p} CFS periods during the window{}{}",
            c.cgroup.as_deref().unwrap_or("?"),
            c.quota_cpus
                .map(|q| format!(", quota {q:.2} CPUs"))
                .unwrap_or_default(),
            c.throttled_ns
                .filter(|&n| n > 0)
                .map(|n| format!(", {} throttled", format_duration_ns(n as f64)))
                .unwrap_or_default()
        )),
        _ => facts.push("no cgroup CPU accounting readable".into()),
    }
    if let Some(a) = c.host_pressure_some_avg10 {
        facts.push(format!("host CPU pressure some avg10 {a:.1}%"));
    }
    if let (Some(l), Some(n)) = (c.load1, c.host_cpus) {
        facts.push(format!("load {l:.2} on {n} CPUs"));
    }
    if let Some(g) = c.gomaxprocs {
        facts.push(format!(
            "GOMAXPROCS {g}{}",
            if c.gomaxprocs_observed {
                ""
            } else {
                " (predicted)"
            }
        ));
    }
    let _ = writeln!(
        out,
        "\nCPU competition in the window: {}.\n",
        facts.join("; ")
    );
    out
}

/// The fd probe: fds opened and closed per Go site over the window, most still open first.
pub fn render_fds_text(r: &FdReport, groups: &[FdGroup]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "fds of pid {} over {} by opening Go site (in-kernel, tgid-filtered; open fds {} → {}{}):",
        r.pid,
        format_duration_ns(r.window_ns as f64),
        r.open_fds_start.map_or("?".into(), |n| n.to_string()),
        r.open_fds_end.map_or("?".into(), |n| n.to_string()),
        r.nofile_soft
            .map(|l| format!(", limit {l}"))
            .unwrap_or_default()
    );
    if r.target_exited {
        let _ = writeln!(out, "  (the target exited before the window ended)");
    }
    if !r.untraced_syscalls.is_empty() {
        let _ = writeln!(
            out,
            "  (not traced, no tracepoint on this kernel: {})",
            r.untraced_syscalls.join(", ")
        );
    }
    if r.untracked > 0 {
        let _ = writeln!(out, "  ({} fds not tracked: tables full)", r.untracked);
    }
    if groups.is_empty() {
        let _ = writeln!(out, "  no fds opened in the window\n");
        return out;
    }
    let _ = writeln!(
        out,
        "  {:>8} {:>8} {:>11}  SITE",
        "OPENED", "CLOSED", "STILL OPEN"
    );
    for g in groups.iter().take(TOP_GROUPS) {
        let _ = writeln!(
            out,
            "  {:>8} {:>8} {:>11}  {}",
            g.opened, g.closed, g.outstanding, g.site
        );
    }
    if groups.len() > TOP_GROUPS {
        let _ = writeln!(
            out,
            "  ({} more sites; --json has them all)",
            groups.len() - TOP_GROUPS
        );
    }
    for g in groups.iter().filter(|g| g.outstanding > 0).take(3) {
        let _ = writeln!(out, "\n  {} still open from {}:", g.outstanding, g.site);
        for f in g.stack.iter().take(STACK_FRAMES) {
            let _ = writeln!(out, "      {f}");
        }
    }
    out.push('\n');
    out
}

/// The off-CPU probe: time the target's threads spent asleep, by class (the code's own
/// blocking, the runtime's waits, its idle threads), the blocking by Go site with its
/// stack, and the idle time by runtime reason.
pub fn render_offcpu_text(
    r: &gorx_ebpf::offcpu::OffcpuReport,
    groups: &[gorx_ebpf::judge::OffcpuGroup],
) -> String {
    use gorx_ebpf::offcpu::OffcpuClass;
    let mut out = String::new();
    let secs = |ns: u64| format_duration_ns(ns as f64);
    let threads = |ns: u64| ns as f64 / r.window_ns.max(1) as f64;
    let _ = writeln!(
        out,
        "Off-CPU time of pid {}'s threads over {} (sleeps, by whose they are; in-kernel, tgid-filtered{}):",
        r.pid,
        secs(r.window_ns),
        r.threads
            .map(|t| format!("; {t} threads"))
            .unwrap_or_default()
    );
    if r.target_exited {
        let _ = writeln!(out, "  (the target exited before the window ended)");
    }
    if r.asleep_whole_window > 0 {
        let _ = writeln!(
            out,
            "  ({} threads slept through the whole window: counted for all of it, stacks unwound from their saved registers)",
            r.asleep_whole_window
        );
    }
    if r.dropped + r.entries_lost > 0 {
        let _ = writeln!(
            out,
            "  ({} sleeps not counted, {} switch-outs not recorded: tables full)",
            r.dropped, r.entries_lost
        );
    }
    for (class, what) in [
        (OffcpuClass::Blocking, "blocking the code asked for"),
        (OffcpuClass::Runtime, "the runtime waiting on itself"),
        (OffcpuClass::Idle, "idle runtime threads (not a problem)"),
        (OffcpuClass::Unknown, "no Go frames to tell"),
    ] {
        let ns = r.class_ns(class);
        let _ = writeln!(
            out,
            "  {:<38} {:>10}  {:>6.2} threads on average",
            what,
            secs(ns),
            threads(ns)
        );
    }
    let _ = writeln!(
        out,
        "  Goroutines blocked on channels, mutexes, timers or network I/O park without a thread\n  \
         and do not show here; a Go program's own off-CPU time is blocking syscalls and cgo."
    );
    let blocking: Vec<_> = groups
        .iter()
        .filter(|g| g.class == OffcpuClass::Blocking)
        .collect();
    if !blocking.is_empty() {
        let _ = writeln!(out, "\n  Blocking by Go site:");
        let _ = writeln!(
            out,
            "  {:<14} {:>10} {:>8} {:>8} {:>10}  SITE",
            "SYSCALL", "OFF-CPU", "THREADS", "SLEEPS", "MAX"
        );
        for g in blocking.iter().take(TOP_GROUPS) {
            let _ = writeln!(
                out,
                "  {:<14} {:>10} {:>8.2} {:>8} {:>10}  {}",
                g.syscall.as_deref().unwrap_or("(none)"),
                secs(g.total_ns),
                g.threads_off_cpu,
                g.count,
                secs(g.max_ns),
                g.site
            );
        }
        if blocking.len() > TOP_GROUPS {
            let _ = writeln!(
                out,
                "  ({} more sites; --json has them all)",
                blocking.len() - TOP_GROUPS
            );
        }
        for g in blocking.iter().take(3) {
            let _ = writeln!(out, "\n  {} at {}:", g.reason, g.site);
            for f in g.stack.iter().take(STACK_FRAMES) {
                let _ = writeln!(out, "      {f}");
            }
        }
    }
    // The runtime's time by reason, one line each.
    let mut other: Vec<(OffcpuClass, &str, u64)> = Vec::new();
    for g in groups.iter().filter(|g| g.class != OffcpuClass::Blocking) {
        match other
            .iter_mut()
            .find(|(c, why, _)| *c == g.class && *why == g.reason)
        {
            Some(e) => e.2 += g.total_ns,
            None => other.push((g.class, &g.reason, g.total_ns)),
        }
    }
    other.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.1.cmp(b.1)));
    if !other.is_empty() {
        let _ = writeln!(out, "\n  Runtime and idle, by reason:");
        for (class, why, ns) in other.iter().take(TOP_GROUPS) {
            let _ = writeln!(
                out,
                "  {:<8} {:>10} {:>6.2} threads  {}",
                class.as_str(),
                secs(*ns),
                threads(*ns),
                why
            );
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod offcpu_tests {
    use super::*;

    #[test]
    fn offcpu_classes_sites_and_the_go_note_render() {
        use gorx_ebpf::offcpu::{Sleeps, build_report};
        let raw = |frames: &[&str], sc: &str, ns: u64| Sleeps {
            frames: frames.iter().map(|s| s.to_string()).collect(),
            syscall: Some(sc.into()),
            uninterruptible: false,
            total_ns: ns,
            count: 10,
            max_ns: ns / 10,
            in_flight_ns: 0,
            stack_error: None,
        };
        let r = build_report(
            7,
            10_000_000_000,
            vec![
                raw(&["syscall.read", "main.reader"], "read", 32_000_000_000),
                raw(
                    &["runtime.futex", "runtime.notesleep", "runtime.stopm"],
                    "futex",
                    20_000_000_000,
                ),
            ],
            Some(40),
            [0, 0],
            false,
        );
        let groups = gorx_ebpf::judge::group_offcpu(&r);
        let text = render_offcpu_text(&r, &groups);
        for want in [
            "Off-CPU time of pid 7's threads over 10.00 s",
            "; 40 threads",
            "blocking the code asked for",
            "3.20 threads on average",
            "do not show here",
            "read",
            "main.reader",
            "syscall read at main.reader:",
            "idle M waiting for work",
        ] {
            assert!(text.contains(want), "{want:?} missing from:\n{text}");
        }
    }
}

/// Bytes, signed: B below a KiB, KiB below a MiB, else MiB (one decimal).
fn mib_signed(b: i64) -> String {
    let a = b.unsigned_abs();
    if a < 1 << 10 {
        format!("{b} B")
    } else if a < 1 << 20 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    }
}

/// `gorx probe --only mmap`: memory mapped per site (user sites, then the Go runtime's own),
/// outstanding and resident at the end, with the process's RSS at the start and end.
pub fn render_mmap_text(
    r: &gorx_ebpf::mmap::MmapReport,
    groups: &[gorx_ebpf::judge::MmapGroup],
) -> String {
    use gorx_ebpf::judge::MapOwner;
    let mut out = String::new();
    let rss = |s: &gorx_ebpf::mmap::MemSnapshot| {
        format!(
            "RSS {}, anon {}",
            s.vm_rss_bytes.map_or("?".into(), |b| mib_signed(b as i64)),
            s.rss_anon_bytes
                .map_or("?".into(), |b| mib_signed(b as i64))
        )
    };
    let _ = writeln!(
        out,
        "Memory mapped by pid {} over {} by mapping Go site (mmap/munmap/mremap/brk, in-kernel, tgid-filtered; {} → {}):",
        r.pid,
        format_duration_ns(r.window_ns as f64),
        rss(&r.start),
        rss(&r.end)
    );
    if r.target_exited {
        let _ = writeln!(out, "  (the target exited before the window ended)");
    }
    let d = &r.drops;
    if d.total() > 0 {
        let _ = writeln!(
            out,
            "  (not tracked: {} mappings (region table full), {} calls (site table full), {} ranges over too many regions, {} mremaps of earlier mappings)",
            d.regions_full, d.sites_full, d.overlap_overflow, d.mremap_untracked
        );
    }
    match (&r.malloc, &r.malloc_skipped) {
        (Some(m), _) => {
            let _ = writeln!(
                out,
                "  (libc heap followed: malloc/calloc/realloc/free in {}, charged to the Go stack calling into C{})",
                m.libc,
                if m.blocks_untracked + m.sites_full > 0 {
                    format!(
                        "; {} blocks not tracked (tables full)",
                        m.blocks_untracked + m.sites_full
                    )
                } else {
                    String::new()
                }
            );
        }
        (None, Some(why)) => {
            let _ = writeln!(out, "  (libc heap not followed: {why})");
        }
        (None, None) => {}
    }
    if groups.is_empty() {
        let _ = writeln!(out, "  no memory mapped in the window\n");
        return out;
    }
    let _ = writeln!(
        out,
        "  {:>6} {:>12} {:>12} {:>12} {:>12}  {:<6}  SITE",
        "CALLS", "MAPPED", "UNMAPPED", "OUTSTANDING", "RESIDENT", "KIND"
    );
    for owner in [MapOwner::User, MapOwner::Runtime] {
        let rows: Vec<_> = groups.iter().filter(|g| g.owner == owner).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "  {}",
            match owner {
                MapOwner::User => "user mappings:",
                MapOwner::Runtime =>
                    "the Go runtime's own (heap arenas, stacks, metadata; not blamed):",
            }
        );
        for g in rows.iter().take(TOP_GROUPS) {
            let _ = writeln!(
                out,
                "  {:>6} {:>12} {:>12} {:>12} {:>12}  {:<6}  {}",
                g.calls,
                mib_signed(g.mapped_bytes as i64),
                mib_signed(g.unmapped_bytes as i64),
                mib_signed(g.outstanding_bytes),
                g.resident_bytes
                    .map_or("-".into(), |b| mib_signed(b as i64)),
                g.kind.as_str(),
                g.site
            );
        }
        if rows.len() > TOP_GROUPS {
            let _ = writeln!(
                out,
                "  ({} more sites; --json has them all)",
                rows.len() - TOP_GROUPS
            );
        }
    }
    for g in groups
        .iter()
        .filter(|g| g.owner == MapOwner::User && g.outstanding_bytes > 0)
        .take(3)
    {
        let _ = writeln!(
            out,
            "\n  {} outstanding from {} ({}):",
            mib_signed(g.outstanding_bytes),
            g.site,
            g.kind.as_str()
        );
        for f in g.stack.iter().take(STACK_FRAMES) {
            let _ = writeln!(out, "      {f}");
        }
    }
    out.push('\n');
    out
}

/// A log2 histogram of durations as bcc prints it (`hist[i]`: [2^i, 2^(i+1)) ns), from
/// the first to the last non-empty slot, after a blank line; nothing when empty.
fn render_log2_hist(out: &mut String, label: &str, hist: &[u64]) {
    let peak = hist.iter().copied().max().unwrap_or(0);
    if peak == 0 {
        return;
    }
    let first = hist.iter().position(|&n| n > 0).unwrap_or(0);
    let last = hist.iter().rposition(|&n| n > 0).unwrap_or(0);
    let _ = writeln!(out, "\n  {label:>21} : {:<8} distribution", "count");
    for (i, &n) in hist.iter().enumerate().take(last + 1).skip(first) {
        let lo = if i == 0 { 0 } else { 1u64 << i };
        let bar = (n * 40).div_ceil(peak) as usize;
        let _ = writeln!(
            out,
            "  {:>9} -> {:<9} : {:<8} |{:<40}|",
            format_duration_ns(lo as f64),
            format_duration_ns((1u64 << (i + 1).min(63)) as f64),
            n,
            "*".repeat(bar)
        );
    }
}

/// The allocator probe: per traced function the calls and latency (as bcc's funclatency
/// prints them), each histogram, and the share of the window spent in span refill.
pub fn render_alloc_text(r: &gorx_ebpf::alloc::AllocReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Span refill of pid {} over {} (uprobes at entry and each RET; in-kernel, tgid-filtered):",
        r.pid,
        format_duration_ns(r.window_ns as f64)
    );
    if r.target_exited {
        let _ = writeln!(out, "  (the target exited before the window ended)");
    }
    if let Some(why) = &r.cut_short {
        let _ = writeln!(out, "  ({why})");
    }
    let _ = writeln!(
        out,
        "  {:<32} {:>9} {:>11} {:>11} {:>11} {:>11}",
        "FUNCTION", "CALLS", "TOTAL", "P50", "P99", "MAX"
    );
    for f in &r.functions {
        let _ = writeln!(
            out,
            "  {:<32} {:>9} {:>11} {:>11} {:>11} {:>11}",
            f.function,
            f.calls,
            format_duration_ns(f.latency.total_ns as f64),
            format!("≤{}", format_duration_ns(f.p50_ns() as f64)),
            format!("≤{}", format_duration_ns(f.p99_ns() as f64)),
            format_duration_ns(f.latency.max_ns as f64)
        );
    }
    for m in &r.missing {
        let _ = writeln!(out, "  {m:<32} not in this binary: not traced");
    }
    let queued: u64 = r.functions.iter().map(|f| f.queued_ns).sum();
    let _ = writeln!(
        out,
        "  (own time: {}; run-queue waits inside the calls, {}, left out)",
        match r.probe_cost {
            Some(c) => format!(
                "the probes' cost measured on an empty function ({} a call, {} a nested call) subtracted",
                format_duration_ns(c.inside_ns as f64),
                format_duration_ns(c.pair_ns as f64)
            ),
            None => "the probes' cost could not be measured and is included".into(),
        },
        format_duration_ns(queued as f64)
    );
    let unmatched: u64 = r.functions.iter().map(|f| f.unmatched).sum();
    if unmatched > 0 || r.untimed > 0 {
        let _ = writeln!(
            out,
            "  ({unmatched} returns without a timed entry and {} entries not timed (thread table full): not counted)",
            r.untimed
        );
    }
    for f in r.functions.iter().filter(|f| f.latency.count > 0) {
        let label = f.function.trim_start_matches("runtime.");
        render_log2_hist(&mut out, label, &f.latency.hist);
    }
    let share = r
        .refill_share_of_cpu()
        .map(|s| format!(", {:.1}% of the process's CPU time", s * 100.0))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "\nIn span refill: {} in the window{share} ({:.2} threads on average).\n",
        format_duration_ns(r.refill_ns as f64),
        r.refill_threads()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use gorx_ebpf::syscalls::{InFlight, SyscallStat};

    #[test]
    fn table_groups_and_in_flight_render() {
        let mut hist = vec![0; gorx_ebpf::syscalls::HIST_SLOTS];
        hist[30] = 3; // ~1 s
        let r = SyscallReport {
            pid: 7,
            window_ns: 5_000_000_000,
            slow_threshold_ns: 10_000_000,
            syscalls: vec![SyscallStat {
                nr: 0,
                name: "read".into(),
                count: 3,
                total_ns: 3_300_000_000,
                max_ns: 1_200_000_000,
                hist,
            }],
            slow: Vec::new(),
            slow_events: 3,
            slow_unrecorded: 0,
            in_flight: vec![InFlight {
                tid: 9,
                nr: 74,
                name: "fsync".into(),
                elapsed_ns: 4_000_000_000,
            }],
            slow_dropped: 2,
            entries_lost: 0,
            target_exited: true,
        };
        let groups = vec![SlowGroup {
            syscall: "read".into(),
            site: "main.reader".into(),
            count: 3,
            total_ns: 3_300_000_000,
            max_ns: 1_200_000_000,
            threads_blocked: 0.66,
            stack: vec!["syscall.read".into(), "main.reader".into()],
        }];
        let text = render_syscalls_text(&r, &groups);
        for want in [
            "Syscalls of pid 7 over 5.00 s (3 calls",
            "the target exited",
            "read                          3",
            "≤1.20 s",
            "(3 events, 2 dropped (ring buffer full), 0 not kept",
            "0.66 threads blocked  at main.reader",
            "      syscall.read",
            "fsync             1 threads, longest 4.00 s",
        ] {
            assert!(text.contains(want), "{want:?} missing from:\n{text}");
        }
    }

    #[test]
    fn runq_table_histogram_and_competition_render() {
        use gorx_ebpf::runq::{CpuWindow, Delays};
        let mut d = Delays::empty();
        d.count = 100;
        d.hist[14] = 90;
        d.hist[26] = 10;
        d.total_ns = 700_000_000;
        d.max_ns = 98_000_000;
        let r = RunqReport {
            pid: 7,
            window_ns: 5_000_000_000,
            after_wakeup: Delays::empty(),
            after_preemption: d.clone(),
            all: d,
            entries_lost: 0,
            cpu: CpuWindow {
                cgroup: Some("/gorx".into()),
                nr_periods: Some(50),
                nr_throttled: Some(49),
                throttled_ns: Some(3_900_000_000),
                quota_cpus: Some(0.2),
                gomaxprocs: Some(4),
                gomaxprocs_observed: true,
                ..Default::default()
            },
            target_exited: false,
        };
        let text = render_runq_text(&r);
        for want in [
            "Run-queue delay of pid 7's threads over 5.00 s",
            "after preemption",
            "≤98.00 ms",
            "|****************************************|",
            "cgroup /gorx throttled in 49 of 50 CFS periods during the window, quota 0.20 CPUs",
            "GOMAXPROCS 4.",
        ] {
            assert!(text.contains(want), "{want:?} missing from:\n{text}");
        }
    }

    #[test]
    fn fd_sites_and_their_stacks_render() {
        use gorx_ebpf::fds::FdReport;
        let r = FdReport {
            pid: 9,
            window_ns: 4_000_000_000,
            sample_every_ns: 500_000_000,
            stacks: Vec::new(),
            untracked: 0,
            open_fds_start: Some(27),
            open_fds_end: Some(87),
            nofile_soft: Some(1024),
            target_exited: false,
            untraced_syscalls: vec!["pidfd_open".into()],
        };
        let groups = vec![FdGroup {
            site: "main.leak".into(),
            opened: 40,
            closed: 0,
            outstanding: 40,
            series: vec![5, 10, 40],
            stack: vec!["syscall.Socket".into(), "main.leak".into()],
        }];
        let text = render_fds_text(&r, &groups);
        for want in [
            "fds of pid 9 over 4.00 s by opening Go site (in-kernel, tgid-filtered; open fds 27 → 87, limit 1024):",
            "      40        0          40  main.leak",
            "40 still open from main.leak:",
            "      syscall.Socket",
            "(not traced, no tracepoint on this kernel: pidfd_open)",
        ] {
            assert!(text.contains(want), "{want:?} missing from:\n{text}");
        }
        assert!(render_fds_text(&r, &[]).contains("no fds opened"));
    }
    #[test]
    fn mmap_sites_render_user_apart_from_the_runtime() {
        use gorx_ebpf::judge::{MapOwner, MmapGroup};
        use gorx_ebpf::mmap::{MemKind, MemSnapshot, MmapDrops, MmapReport};
        const MIB: u64 = 1 << 20;
        let r = MmapReport {
            pid: 5,
            window_ns: 8_000_000_000,
            sample_every_ns: 500_000_000,
            stacks: Vec::new(),
            drops: MmapDrops::default(),
            start: MemSnapshot {
                vm_rss_bytes: Some(12 * MIB),
                rss_anon_bytes: Some(4 * MIB),
            },
            end: MemSnapshot {
                vm_rss_bytes: Some(340 * MIB),
                rss_anon_bytes: Some(330 * MIB),
            },
            target_exited: false,
            malloc: None,
            malloc_skipped: Some("no libc mapped".into()),
        };
        let g = |site: &str, owner, out: u64| MmapGroup {
            site: site.into(),
            owner,
            kind: MemKind::Anon,
            calls: 20,
            mapped_bytes: out,
            unmapped_bytes: 0,
            outstanding_bytes: out as i64,
            resident_bytes: Some(out),
            series: vec![out as i64],
            stack: vec!["syscall.Mmap".into(), site.into()],
        };
        let groups = vec![
            g("main.main.func1", MapOwner::User, 320 * MIB),
            g("runtime.mmap", MapOwner::Runtime, 4 * MIB),
        ];
        let text = render_mmap_text(&r, &groups);
        for want in [
            "Memory mapped by pid 5 over 8.00 s",
            "RSS 12.0 MiB, anon 4.0 MiB → RSS 340.0 MiB, anon 330.0 MiB",
            "user mappings:",
            "    20    320.0 MiB          0 B    320.0 MiB    320.0 MiB  anon    main.main.func1",
            "the Go runtime's own",
            "(libc heap not followed: no libc mapped)",
            "320.0 MiB outstanding from main.main.func1 (anon):",
            "      syscall.Mmap",
        ] {
            assert!(text.contains(want), "{want:?} missing from:\n{text}");
        }
        assert!(render_mmap_text(&r, &[]).contains("no memory mapped"));
    }

    #[test]
    fn alloc_text_shows_each_function_its_histogram_and_the_refill_share() {
        use gorx_ebpf::alloc::{AllocFn, AllocReport, CACHE_SPAN, ProbeCost, ProbePoints};
        let mut latency = gorx_ebpf::runq::Delays::empty();
        latency.count = 1000;
        latency.hist[10] = 990;
        latency.hist[17] = 10;
        latency.total_ns = 3_000_000;
        latency.max_ns = 200_000;
        let r = AllocReport {
            pid: 7,
            window_ns: 2_000_000_000,
            functions: vec![AllocFn {
                function: CACHE_SPAN.into(),
                calls: 1003,
                latency,
                queued_ns: 5_000_000,
                nested_ns: 0,
                unmatched: 3,
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
            missing: vec!["runtime.(*mheap).alloc".into()],
            refill_ns: 3_000_000,
            cpu_ns: Some(1_000_000_000),
            untimed: 0,
            probe_cost: Some(ProbeCost {
                inside_ns: 1500,
                pair_ns: 3000,
            }),
            cut_short: None,
            target_exited: false,
        };
        let text = render_alloc_text(&r);
        for want in [
            "Span refill of pid 7 over 2.00 s",
            "  runtime.(*mcentral).cacheSpan         1003",
            "≤2.0 µs",
            "≤2.0 µs    200.0 µs",
            "runtime.(*mheap).alloc           not in this binary",
            "(1.5 µs a call, 3.0 µs a nested call) subtracted",
            "(*mcentral).cacheSpan : count    distribution",
            "131.1 µs -> 262.1 µs  : 10",
            "In span refill: 3.00 ms in the window, 0.3% of the process's CPU time",
        ] {
            assert!(text.contains(want), "{want:?} missing from:\n{text}");
        }
    }
}
