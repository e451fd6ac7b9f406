//! Probe 2, off-CPU time: loads `bpf/offcpu.bpf.o` and attaches it to the raw tracepoint
//! `sched_switch`, filtered by the target's tgid in the kernel. When one of the target's
//! threads goes to sleep (switched out not runnable; preemption is the run-queue probe's),
//! the kernel records its user stack (frame pointers), the syscall it sleeps in and
//! whether the sleep is uninterruptible; when it runs again the time off CPU is added to
//! the counters of that (stack, syscall, state). Nothing is sent per event. Threads still
//! asleep when the window ends are counted up to its end. Threads asleep through the whole
//! window never switch, so no program sees them: at its end gorx finds them in /proc (state
//! S or D, no sleep recorded), reads the syscall and the user pc and sp the kernel saved
//! (`/proc/PID/task/TID/syscall`) and unwinds their Go stack from the target's memory
//! through the pcsp tables ([`Symbolizer::unwind`]); they count for the whole window.
//!
//! Each stack is then symbolized through the target's gopclntab and classified
//! ([`classify`]):
//! - **idle**: the runtime's threads waiting for work — an M parked in `stopm`/`mPark`
//!   (futex under `runtime.notesleep`), the netpoller in `epoll_pwait` under
//!   `runtime.netpoll`, sysmon sleeping, the template thread, the signal loop, and event
//!   loops waiting on their own epoll set;
//! - **runtime**: the runtime waiting on itself (its locks, stop-the-world);
//! - **blocking**: sleeps the code asked for — file I/O and other blocking syscalls made
//!   from Go code, cgo calls, page faults in user code;
//! - **unknown**: no Go frame to tell (C code without frame pointers, a stack not taken).
//!
//! What this can and cannot see in a Go program: a goroutine blocked on a channel, a mutex,
//! a timer or network I/O parks without holding an OS thread (its M runs another goroutine
//! or parks in `mPark`, which is idle here), so such waits never show as a thread off CPU.
//! The off-CPU time Go code can be charged with is blocking syscalls and cgo; the rest is
//! for the block profile and the execution trace.
//!
//! The time off CPU runs from the switch-out to the next switch-in, so it includes the
//! run-queue wait after the wakeup (bcc's offcputime measures it the same way). The part
//! before the probe attached of a sleep that ends in the window is not counted (its stack
//! was not taken), so a thread that wakes every second loses up to a second of the window:
//! over a window much longer than the sleeps that share is small.

use crate::judge::blocked_frames;
use crate::symbolize::{StackTable, Symbolizer};
use crate::{ProbeError, syscall_name};
use aya::EbpfLoader;
use aya::maps::{HashMap, MapData, PerCpuArray};
use gorx_analysis::sites::{idle_syscall, site};
use gorx_formats::goroutines::package_of;
use serde::Serialize;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// The compiled program (see bpf/build.sh), embedded so gorx needs no clang.
static OBJECT: &[u8] = aya::include_bytes_aligned!("../bpf/offcpu.bpf.o");

const PROGRAMS: [(&str, &str); 1] = [("offcpu_switch", "sched_switch")];

#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct OffKey {
    stack_id: i32,
    nr: i32,
    uninterruptible: u32,
    _pad: u32,
}
// SAFETY: plain old data, same layout as `struct off_key` in offcpu.bpf.c.
unsafe impl aya::Pod for OffKey {}

#[repr(C)]
#[derive(Clone, Copy)]
struct OffVal {
    total_ns: u64,
    count: u64,
    max_ns: u64,
}
// SAFETY: plain old data, same layout as `struct off_val` in offcpu.bpf.c.
unsafe impl aya::Pod for OffVal {}

#[repr(C)]
#[derive(Clone, Copy)]
struct Start {
    ts: u64,
    key: OffKey,
}
// SAFETY: plain old data, same layout as `struct start` in offcpu.bpf.c.
unsafe impl aya::Pod for Start {}

/// Whose off-CPU time it is (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OffcpuClass {
    /// Sleeps the code asked for: blocking syscalls, cgo, page faults in user code.
    Blocking,
    /// The runtime waiting on itself: its locks, stop-the-world.
    Runtime,
    /// The runtime's idle threads and event loops waiting for work.
    Idle,
    /// No Go frame to tell.
    Unknown,
}

impl OffcpuClass {
    pub fn as_str(self) -> &'static str {
        match self {
            OffcpuClass::Blocking => "blocking",
            OffcpuClass::Runtime => "runtime",
            OffcpuClass::Idle => "idle",
            OffcpuClass::Unknown => "unknown",
        }
    }
}

/// The sleeps of one (user stack, syscall, sleep state) over the window, as counted.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Sleeps {
    /// The user stack at the switch-out, leaf first (empty when it could not be taken).
    pub frames: Vec<String>,
    /// The syscall slept in; None when the thread was not in a syscall (a page fault).
    pub syscall: Option<String>,
    /// TASK_UNINTERRUPTIBLE (D state: disk I/O, some locks) rather than an ordinary sleep.
    pub uninterruptible: bool,
    /// Time off CPU, and the sleeps it was spent in.
    pub total_ns: u64,
    pub count: u64,
    pub max_ns: u64,
    /// Of `total_ns`: threads still asleep when the window ended, counted to its end.
    pub in_flight_ns: u64,
    /// Why no stack was taken (bpf_get_stackid's errno), when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_error: Option<i32>,
}

/// One stack's sleeps, classified ([`classify`]).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OffcpuStack {
    #[serde(flatten)]
    pub sleeps: Sleeps,
    pub class: OffcpuClass,
    /// Why, in words ("idle M waiting for work", "syscall read").
    pub reason: String,
    /// Where: the Go site for blocking, the runtime function that decided otherwise.
    pub site: String,
}

/// What the off-CPU probe saw over its window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OffcpuReport {
    pub pid: u32,
    pub window_ns: u64,
    /// Most off-CPU time first.
    pub stacks: Vec<OffcpuStack>,
    /// Off-CPU time per class, summed over the stacks.
    pub blocking_ns: u64,
    pub runtime_ns: u64,
    pub idle_ns: u64,
    pub unknown_ns: u64,
    /// Threads of the process at the end of the window (/proc/PID/status).
    pub threads: Option<u64>,
    /// Sleeps not counted because the counters table was full.
    pub dropped: u64,
    /// Switch-outs not recorded because the thread table update failed.
    pub entries_lost: u64,
    /// Threads asleep through the whole window (since before the probe attached), counted
    /// for the whole window with the stack read from their memory at its end.
    pub asleep_whole_window: u64,
    /// The target exited before the window ended.
    pub target_exited: bool,
}

impl OffcpuReport {
    pub fn class_ns(&self, c: OffcpuClass) -> u64 {
        match c {
            OffcpuClass::Blocking => self.blocking_ns,
            OffcpuClass::Runtime => self.runtime_ns,
            OffcpuClass::Idle => self.idle_ns,
            OffcpuClass::Unknown => self.unknown_ns,
        }
    }
}

/// The target and the window (one for every probe of a run).
pub use crate::Window as Config;

/// The package of a runtime function: `runtime`, `runtime/...`, `internal/runtime/...`
/// (the raw syscall wrappers both the runtime and package syscall call).
fn is_runtime(f: &str) -> bool {
    let pkg = package_of(f);
    pkg == "runtime" || pkg.starts_with("runtime/") || pkg.starts_with("internal/runtime/")
}

/// Runtime functions that decide a stack's class, searched leaf first: the innermost one
/// tells what the thread waits for (a futex sleep under `lock2` is a lock wait even when
/// `findRunnable` called it; under `stopm` it is an idle M).
const DECISIVE: &[(&str, OffcpuClass, &str)] = &[
    ("runtime.lock2", OffcpuClass::Runtime, "runtime lock wait"),
    (
        "runtime.stopTheWorldWithSema",
        OffcpuClass::Runtime,
        "stop-the-world wait",
    ),
    (
        "runtime.forEachP",
        OffcpuClass::Runtime,
        "stop-the-world wait",
    ),
    ("runtime.cgocall", OffcpuClass::Blocking, "cgo call"),
    ("runtime.asmcgocall", OffcpuClass::Blocking, "cgo call"),
    (
        "runtime.netpoll",
        OffcpuClass::Idle,
        "netpoller waiting for network events",
    ),
    // Before Go 1.21 the netpoller's epoll_wait is this frameless assembly function: a
    // frame-pointer walk from it skips its caller, netpoll.
    (
        "runtime.epollwait",
        OffcpuClass::Idle,
        "netpoller waiting for network events",
    ),
    (
        "runtime.mPark",
        OffcpuClass::Idle,
        "idle M waiting for work",
    ),
    (
        "runtime.stopm",
        OffcpuClass::Idle,
        "idle M waiting for work",
    ),
    (
        "runtime.stoplockedm",
        OffcpuClass::Idle,
        "idle locked M waiting for its goroutine",
    ),
    (
        "runtime.findRunnable",
        OffcpuClass::Idle,
        "idle M looking for work",
    ),
    (
        "runtime.findrunnable",
        OffcpuClass::Idle,
        "idle M looking for work",
    ),
    ("runtime.sysmon", OffcpuClass::Idle, "sysmon sleeping"),
    (
        "runtime.templateThread",
        OffcpuClass::Idle,
        "template thread waiting",
    ),
    (
        "runtime.signal_recv",
        OffcpuClass::Idle,
        "signal loop waiting for a signal",
    ),
    (
        "os/signal.signal_recv",
        OffcpuClass::Idle,
        "signal loop waiting for a signal",
    ),
];

/// Class, reason and site of one off-CPU stack (leaf first). `syscall` is the syscall the
/// thread slept in, None outside a syscall.
///
/// The stack is first cut where an idle M's g0 frames run on into the goroutine it
/// switched away from ([`blocked_frames`]); then, leaf first, the first decisive runtime
/// frame ([`DECISIVE`]) or the first frame outside the runtime (code that asked for the
/// sleep) decides. A stack of runtime frames only is the runtime's own wait.
pub fn classify(frames: &[String], syscall: Option<&str>) -> (OffcpuClass, String, String) {
    let fs = blocked_frames(frames);
    let Some(&leaf) = fs.first() else {
        return (
            OffcpuClass::Unknown,
            "no Go frames (C code without frame pointers, or no stack)".into(),
            frames
                .first()
                .cloned()
                .unwrap_or_else(|| "<no stack>".into()),
        );
    };
    // Waits that are idle by design: an event loop on its own epoll set or inotify fd, a
    // parent waiting for its child process (os/exec's Wait) for as long as the child runs.
    let by_design = if idle_syscall(&fs) {
        Some("event loop waiting on its own event source")
    } else if matches!(syscall, Some("wait4" | "waitid")) {
        Some("waiting for a child process")
    } else {
        None
    };
    if let Some(why) = by_design {
        let at = site(fs.iter().copied()).unwrap_or(leaf);
        return (OffcpuClass::Idle, why.into(), at.to_string());
    }
    let blocking_reason = || match syscall {
        Some(s) => format!("syscall {s}"),
        None => "not in a syscall (page fault or other kernel wait)".to_string(),
    };
    for &f in &fs {
        if let Some((_, class, why)) = DECISIVE.iter().find(|(name, _, _)| *name == f) {
            let (reason, at) = if *class == OffcpuClass::Blocking {
                let user = site(fs.iter().copied()).filter(|s| !is_runtime(s));
                (format!("{why}, {}", blocking_reason()), user.unwrap_or(f))
            } else {
                (why.to_string(), f)
            };
            return (*class, reason, at.to_string());
        }
        if !is_runtime(f) {
            let at = site(fs.iter().copied()).unwrap_or(f);
            return (OffcpuClass::Blocking, blocking_reason(), at.to_string());
        }
    }
    // Runtime frames only: name the first one above the raw syscall wrappers.
    let at = fs
        .iter()
        .find(|f| !f.starts_with("internal/runtime/") && **f != "runtime.futex")
        .unwrap_or(&leaf);
    (
        OffcpuClass::Runtime,
        format!("runtime wait in {at}"),
        at.to_string(),
    )
}

fn thread_count(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

/// `/proc/PID/task/TID/syscall` of a thread blocked in the kernel: the syscall number (-1
/// outside a syscall), then, after six arguments, the user stack pointer and pc. None for
/// a running thread or a line of another shape.
pub fn parse_proc_syscall(line: &str) -> Option<(i64, u64, u64)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let nr: i64 = f.first()?.parse().ok()?;
    if !(f.len() == 3 || f.len() == 9) {
        return None;
    }
    let hex = |s: &str| u64::from_str_radix(s.strip_prefix("0x")?, 16).ok();
    Some((nr, hex(f[f.len() - 2])?, hex(f[f.len() - 1])?))
}

/// A u64 of another process's memory (process_vm_readv: no stop, no ptrace attach).
fn read_remote_u64(pid: u32, addr: u64) -> Option<u64> {
    let mut buf = [0u8; 8];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: 8,
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: 8,
    };
    // SAFETY: one local iovec over `buf` (8 bytes, writable); the remote address is only
    // read by the kernel, which checks it.
    let n = unsafe { libc::process_vm_readv(pid as libc::pid_t, &local, 1, &remote, 1, 0) };
    (n == 8).then(|| u64::from_ne_bytes(buf))
}

/// The target's sleeping threads (S or D) with the sleep they are in: syscall, state and
/// the Go stack unwound from the user pc and sp the kernel saved.
fn asleep_threads(pid: u32, sym: &Symbolizer) -> Vec<(u32, Sleeps)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for tid in dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
    {
        let base = format!("/proc/{pid}/task/{tid}");
        let Ok(stat) = std::fs::read_to_string(format!("{base}/stat")) else {
            continue;
        };
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next());
        if !matches!(state, Some("S" | "D")) {
            continue;
        }
        let Some((nr, sp, pc)) = std::fs::read_to_string(format!("{base}/syscall"))
            .ok()
            .and_then(|l| parse_proc_syscall(&l))
        else {
            continue;
        };
        let pcs = sym.unwind(pc, sp, 64, |a| read_remote_u64(pid, a));
        out.push((
            tid,
            Sleeps {
                frames: sym.frames(&pcs),
                syscall: u32::try_from(nr).ok().map(syscall_name),
                uninterruptible: state == Some("D"),
                total_ns: 0,
                count: 1,
                max_ns: 0,
                in_flight_ns: 0,
                stack_error: None,
            },
        ));
    }
    out
}

/// Attach, wait for the window (or `stop`, or the target's exit), collect, detach.
pub fn run(cfg: &Config, sym: &Symbolizer, stop: &AtomicBool) -> Result<OffcpuReport, ProbeError> {
    let mut ebpf = EbpfLoader::new()
        .override_global("target_tgid", &cfg.pid, true)
        .load(OBJECT)
        .map_err(ProbeError::load)?;
    crate::attach_raw_tracepoints(&mut ebpf, &PROGRAMS)?;
    let start = Instant::now();
    let target_exited = crate::wait_window(cfg.pid, start, cfg.duration, stop, || {});
    let window_ns = start.elapsed().as_nanos() as u64;
    let threads = thread_count(cfg.pid);
    // Threads asleep through the whole window switched neither out nor in: no BPF program
    // saw them. Their stacks are taken from /proc and the target's memory now, while they
    // still sleep; the start table is read after the scan, so a thread that fell asleep
    // during the window (and has an entry by then) is not taken for one of them.
    let asleep = if target_exited {
        Vec::new()
    } else {
        asleep_threads(cfg.pid, sym)
    };
    let seen: std::collections::HashSet<u32> = ebpf
        .map("starts")
        .and_then(|m| HashMap::<&MapData, u32, Start>::try_from(m).ok())
        .map(|m| m.keys().filter_map(Result::ok).collect())
        .unwrap_or_default();
    let whole_window: Vec<Sleeps> = asleep
        .into_iter()
        .filter(|(tid, _)| !seen.contains(tid))
        .map(|(_, mut s)| {
            s.total_ns = window_ns;
            s.max_ns = window_ns;
            s.in_flight_ns = window_ns;
            s
        })
        .collect();
    crate::detach_raw_tracepoints(&mut ebpf, &PROGRAMS);
    // Detached: every thread still in the start table was asleep at this moment.
    let end_ns = crate::syscalls::monotonic_ns();

    let mut totals: std::collections::HashMap<OffKey, (u64, u64, u64, u64)> =
        std::collections::HashMap::new();
    let counters = ebpf
        .map("offcpu")
        .ok_or_else(|| ProbeError::Load("map offcpu missing".into()))?;
    let counters = HashMap::<&MapData, OffKey, OffVal>::try_from(counters)
        .map_err(|e| ProbeError::Load(format!("offcpu: {e}")))?;
    for (k, v) in counters.iter().filter_map(Result::ok) {
        totals.insert(k, (v.total_ns, v.count, v.max_ns, 0));
    }
    if let Some(starts) = ebpf
        .map("starts")
        .and_then(|m| HashMap::<&MapData, u32, Start>::try_from(m).ok())
    {
        for (tid, s) in starts.iter().filter_map(Result::ok) {
            let alive = std::path::Path::new(&format!("/proc/{}/task/{tid}", cfg.pid)).exists();
            let Some(ns) = end_ns.checked_sub(s.ts).filter(|_| alive) else {
                continue;
            };
            let e = totals.entry(s.key).or_default();
            e.0 += ns;
            e.1 += 1;
            e.2 = e.2.max(ns);
            e.3 += ns;
        }
    }
    let drops: Vec<u64> = ebpf
        .map("drops")
        .and_then(|m| PerCpuArray::<&MapData, u64>::try_from(m).ok())
        .map(|m| {
            (0..2u32)
                .map(|i| m.get(&i, 0).map(|v| v.iter().sum()).unwrap_or(0))
                .collect()
        })
        .unwrap_or_else(|| vec![0, 0]);
    let traces = StackTable::of(&ebpf);
    let asleep_whole_window = whole_window.len() as u64;
    let stacks = totals
        .into_iter()
        .map(|(k, (total_ns, count, max_ns, in_flight_ns))| {
            let (frames, stack_error) = traces.frames(k.stack_id, sym);
            let syscall = (k.nr >= 0).then(|| syscall_name(k.nr as u32));
            Sleeps {
                frames,
                syscall,
                uninterruptible: k.uninterruptible != 0,
                total_ns,
                count,
                max_ns,
                in_flight_ns,
                stack_error,
            }
        })
        .chain(whole_window)
        .collect();
    let mut report = build_report(
        cfg.pid,
        window_ns,
        stacks,
        threads,
        [drops[0], drops[1]],
        target_exited,
    );
    report.asleep_whole_window = asleep_whole_window;
    Ok(report)
}

/// Classify the stacks, merge those that symbolize alike and sum the classes.
pub fn build_report(
    pid: u32,
    window_ns: u64,
    raw: Vec<Sleeps>,
    threads: Option<u64>,
    drops: [u64; 2],
    target_exited: bool,
) -> OffcpuReport {
    // Distinct stack ids can symbolize to the same frames (different PCs in one function).
    let mut merged: std::collections::BTreeMap<(Vec<String>, Option<String>, bool), Sleeps> =
        std::collections::BTreeMap::new();
    for r in raw {
        let key = (r.frames.clone(), r.syscall.clone(), r.uninterruptible);
        match merged.get_mut(&key) {
            Some(m) => {
                m.total_ns = m.total_ns.saturating_add(r.total_ns);
                m.count += r.count;
                m.max_ns = m.max_ns.max(r.max_ns);
                m.in_flight_ns += r.in_flight_ns;
                m.stack_error = m.stack_error.or(r.stack_error);
            }
            None => {
                merged.insert(key, r);
            }
        }
    }
    let mut report = OffcpuReport {
        pid,
        window_ns,
        stacks: Vec::new(),
        blocking_ns: 0,
        runtime_ns: 0,
        idle_ns: 0,
        unknown_ns: 0,
        threads,
        dropped: drops[0],
        entries_lost: drops[1],
        asleep_whole_window: 0,
        target_exited,
    };
    for r in merged.into_values() {
        let (class, reason, site) = classify(&r.frames, r.syscall.as_deref());
        let slot = match class {
            OffcpuClass::Blocking => &mut report.blocking_ns,
            OffcpuClass::Runtime => &mut report.runtime_ns,
            OffcpuClass::Idle => &mut report.idle_ns,
            OffcpuClass::Unknown => &mut report.unknown_ns,
        };
        *slot = slot.saturating_add(r.total_ns);
        report.stacks.push(OffcpuStack {
            sleeps: r,
            class,
            reason,
            site,
        });
    }
    report.stacks.sort_by(|a, b| {
        b.sleeps
            .total_ns
            .cmp(&a.sleeps.total_ns)
            .then_with(|| a.sleeps.frames.cmp(&b.sleeps.frames))
    });
    report
}

/// The off-CPU time as a pprof profile (gzipped `profile.proto`, as `go tool pprof`
/// opens): sample types `sleeps/count` and `offcpu/nanoseconds` (the default, last), one
/// sample per stack. Each stack gets a leaf pseudo-frame naming what it slept in
/// (`[syscall read]`, `[no syscall]`) and a root pseudo-frame naming its class
/// (`[offcpu blocking]`, `[offcpu idle]`, ...), so `-focus '\[offcpu blocking\]'` keeps the
/// code's own blocking and `-top` shows the syscalls as flat time.
/// Idle and runtime stacks are cut
/// where an idle M's frames run on into the goroutine it last ran ([`blocked_frames`]).
pub fn pprof(r: &OffcpuReport) -> Vec<u8> {
    use gorx_formats::pprof::encode::ProfileBuilder;
    let mut b = ProfileBuilder::new();
    b.sample_type("sleeps", "count")
        .sample_type("offcpu", "nanoseconds")
        .period("offcpu", "nanoseconds", 1);
    let mut locs: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut loc = |b: &mut ProfileBuilder, name: &str| -> u64 {
        if let Some(&l) = locs.get(name) {
            return l;
        }
        let f = b.add_function(name, name, "");
        let l = b.add_location(0, f, 0);
        locs.insert(name.to_string(), l);
        l
    };
    for st in &r.stacks {
        let s = &st.sleeps;
        let leaf = match &s.syscall {
            Some(sc) => format!("[syscall {sc}]"),
            None => "[no syscall]".to_string(),
        };
        // An idle M's frames end where its g0 stack runs on into the goroutine it switched
        // away from: that goroutine is not what waits, so its frames are not charged.
        let frames: Vec<&str> = match st.class {
            OffcpuClass::Idle | OffcpuClass::Runtime => blocked_frames(&s.frames),
            _ => s.frames.iter().map(String::as_str).collect(),
        };
        let mut ids = vec![loc(&mut b, &leaf)];
        for f in frames {
            ids.push(loc(&mut b, f));
        }
        ids.push(loc(&mut b, &format!("[offcpu {}]", st.class.as_str())));
        b.add_sample(
            &ids,
            &[
                s.count.min(i64::MAX as u64) as i64,
                s.total_ns.min(i64::MAX as u64) as i64,
            ],
        );
    }
    b.encode_gzip()
}

/// Sleeps of a stack for tests: none in flight, the max the mean.
#[cfg(test)]
fn raw(frames: &[&str], sc: Option<&str>, total_ns: u64, count: u64) -> Sleeps {
    Sleeps {
        frames: frames.iter().map(|s| s.to_string()).collect(),
        syscall: sc.map(str::to_string),
        uninterruptible: false,
        total_ns,
        count,
        max_ns: total_ns / count.max(1),
        in_flight_ns: 0,
        stack_error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fr(frames: &[&str]) -> Vec<String> {
        frames.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn idle_ms_netpoll_and_sysmon_are_idle() {
        let stopm = fr(&[
            "runtime.futex",
            "runtime.futexsleep",
            "runtime.notesleep",
            "runtime.mPark",
            "runtime.stopm",
            "runtime.findRunnable",
            "runtime.schedule",
            "runtime.park_m",
            "runtime.mcall",
            // Frame pointers run on into the goroutine the M switched away from.
            "main.worker",
        ]);
        let (c, reason, site) = classify(&stopm, Some("futex"));
        assert_eq!(c, OffcpuClass::Idle);
        assert_eq!(site, "runtime.mPark");
        assert!(reason.contains("idle M"), "{reason}");
        let netpoll = fr(&[
            "internal/runtime/syscall/linux.Syscall6",
            "internal/runtime/syscall/linux.EpollWait",
            "runtime.netpoll",
            "runtime.findRunnable",
            "runtime.schedule",
        ]);
        assert_eq!(classify(&netpoll, Some("epoll_pwait")).0, OffcpuClass::Idle);
        // Go 1.19: netpoll itself is skipped by the walk from the assembly leaf.
        let (c, reason, _) = classify(
            &fr(&[
                "runtime.epollwait",
                "runtime.findrunnable",
                "runtime.schedule",
            ]),
            Some("epoll_wait"),
        );
        assert_eq!(c, OffcpuClass::Idle);
        assert!(reason.contains("netpoller"), "{reason}");
        let sysmon = fr(&[
            "runtime.usleep",
            "runtime.sysmon",
            "runtime.mstart1",
            "runtime.mstart0",
            "runtime.mstart",
        ]);
        let (c, _, site) = classify(&sysmon, Some("nanosleep"));
        assert_eq!((c, site.as_str()), (OffcpuClass::Idle, "runtime.sysmon"));
        let signals = fr(&[
            "runtime.futex",
            "runtime.futexsleep",
            "runtime.notetsleep_internal",
            "runtime.notetsleepg",
            "os/signal.signal_recv",
            "os/signal.loop",
            "runtime.goexit",
        ]);
        assert_eq!(classify(&signals, Some("futex")).0, OffcpuClass::Idle);
    }

    #[test]
    fn a_lock_wait_inside_the_scheduler_is_the_runtime_not_idle() {
        let lock = fr(&[
            "runtime.futex",
            "runtime.futexsleep",
            "runtime.lock2",
            "runtime.lockWithRank",
            "runtime.lock",
            "runtime.findRunnable",
            "runtime.schedule",
        ]);
        let (c, _, site) = classify(&lock, Some("futex"));
        assert_eq!((c, site.as_str()), (OffcpuClass::Runtime, "runtime.lock2"));
    }

    #[test]
    fn syscalls_the_code_made_are_blocking_at_their_go_site() {
        let read = fr(&[
            "internal/runtime/syscall/linux.Syscall6",
            "syscall.Syscall",
            "syscall.read",
            "syscall.Read",
            "main.reader",
            "runtime.goexit",
        ]);
        let (c, reason, site) = classify(&read, Some("read"));
        assert_eq!(c, OffcpuClass::Blocking);
        assert_eq!(site, "main.reader");
        assert_eq!(reason, "syscall read");
        let fsync = fr(&[
            "internal/runtime/syscall/linux.Syscall6",
            "syscall.Syscall",
            "syscall.Fsync",
            "os.(*File).Sync",
            "example.com/store.(*Log).Commit",
            "example.com/store.(*Server).handle",
        ]);
        let (c, _, site) = classify(&fsync, Some("fsync"));
        assert_eq!(c, OffcpuClass::Blocking);
        assert_eq!(site, "example.com/store.(*Log).Commit");
        // A page fault in user code: blocking, not in a syscall.
        let (c, reason, _) = classify(&fr(&["main.scan", "main.main"]), None);
        assert_eq!(c, OffcpuClass::Blocking);
        assert!(reason.contains("not in a syscall"), "{reason}");
    }

    #[test]
    fn cgo_is_blocking_and_c_only_or_empty_stacks_are_unknown() {
        let cgo = fr(&[
            "0x7f0012345678",
            "runtime.asmcgocall",
            "runtime.cgocall",
            "main._Cfunc_slow",
            "main.callC",
        ]);
        let (c, reason, site) = classify(&cgo, Some("read"));
        assert_eq!(c, OffcpuClass::Blocking);
        assert!(reason.starts_with("cgo call"), "{reason}");
        assert_eq!(site, "main._Cfunc_slow");
        assert_eq!(
            classify(&fr(&["0x7f0012345678", "0x7f0012340000"]), Some("read")).0,
            OffcpuClass::Unknown
        );
        assert_eq!(classify(&[], None).0, OffcpuClass::Unknown);
    }

    #[test]
    fn the_profile_does_not_charge_an_idle_m_to_the_goroutine_it_last_ran() {
        let idle = fr(&[
            "runtime.futex",
            "runtime.stopm",
            "runtime.schedule",
            "runtime.park_m",
            "runtime.mcall",
            "main.worker",
        ]);
        let idle: Vec<&str> = idle.iter().map(String::as_str).collect();
        let r = build_report(
            1,
            10_000,
            vec![raw(&idle, Some("futex"), 5_000, 1)],
            None,
            [0, 0],
            false,
        );
        assert_eq!(
            r.stacks[0].sleeps.frames.len(),
            6,
            "the report keeps the whole stack"
        );
        let p = gorx_formats::pprof::parse("offcpu.pb.gz", &pprof(&r)).expect("decodes");
        let names: Vec<&str> = p.frames(&p.samples[0]).map(|f| f.function).collect();
        assert_eq!(
            names,
            [
                "[syscall futex]",
                "runtime.futex",
                "runtime.stopm",
                "runtime.schedule",
                "[offcpu idle]"
            ]
        );
    }

    #[test]
    fn proc_syscall_lines_parse_and_others_are_refused() {
        assert_eq!(
            parse_proc_syscall("202 0xc000051148 0x80 0x0 0x0 0x0 0x0 0x7ffd7c8a1e28 0x473e23\n"),
            Some((202, 0x7ffd7c8a1e28, 0x473e23))
        );
        assert_eq!(
            parse_proc_syscall("-1 0x7ffd7c8a1e28 0x473e23"),
            Some((-1, 0x7ffd7c8a1e28, 0x473e23))
        );
        assert_eq!(parse_proc_syscall("running\n"), None);
        assert_eq!(parse_proc_syscall("0 0x1 0x2 0x3"), None);
        assert_eq!(parse_proc_syscall("0 0x1 zz"), None);
        assert_eq!(parse_proc_syscall(""), None);
    }

    #[test]
    fn an_event_loop_on_its_own_epoll_set_is_idle() {
        let ev = fr(&[
            "internal/runtime/syscall/linux.Syscall6",
            "syscall.Syscall6",
            "golang.org/x/sys/unix.EpollWait",
            "example.com/app/loop.(*Loop).Run",
        ]);
        assert_eq!(classify(&ev, Some("epoll_wait")).0, OffcpuClass::Idle);
        let child = fr(&[
            "internal/runtime/syscall/linux.Syscall6",
            "syscall.Syscall6",
            "syscall.wait4",
            "syscall.Wait4",
            "os.(*Process).pidWait",
            "os.(*Process).wait",
            "os.(*Process).Wait",
            "os/exec.(*Cmd).Wait",
            "main.supervise",
        ]);
        let (c, reason, site) = classify(&child, Some("wait4"));
        assert_eq!(c, OffcpuClass::Idle);
        assert_eq!(site, "main.supervise");
        assert!(reason.contains("child"), "{reason}");
    }

    #[test]
    fn stacks_that_symbolize_alike_merge_and_classes_sum() {
        let read = ["syscall.read", "main.reader"];
        let r = build_report(
            1,
            1_000,
            vec![
                raw(&read, Some("read"), 300, 2),
                raw(&read, Some("read"), 200, 2),
                raw(&["runtime.futex", "runtime.stopm"], Some("futex"), 900, 2),
            ],
            None,
            [0, 0],
            false,
        );
        assert_eq!(r.stacks.len(), 2);
        assert_eq!(r.stacks[0].class, OffcpuClass::Idle);
        assert_eq!(
            (r.stacks[1].sleeps.total_ns, r.stacks[1].sleeps.count),
            (500, 4)
        );
        assert_eq!((r.blocking_ns, r.idle_ns), (500, 900));
        // The profile decodes with both sample types and every stack's frames.
        let p = gorx_formats::pprof::parse("offcpu.pb.gz", &pprof(&r)).expect("decodes");
        assert_eq!(p.samples.len(), 2);
        assert_eq!(p.total(1), 1400);
        let names: Vec<&str> = p.frames(&p.samples[1]).map(|f| f.function).collect();
        assert_eq!(
            names,
            [
                "[syscall read]",
                "syscall.read",
                "main.reader",
                "[offcpu blocking]"
            ]
        );
    }
}

#[cfg(test)]
mod judge_tests {
    use super::*;
    use crate::judge::{group_offcpu, judge_offcpu};
    use gorx_analysis::Severity;

    const IDLE_M: &[&str] = &[
        "runtime.futex",
        "runtime.futexsleep",
        "runtime.notesleep",
        "runtime.mPark",
        "runtime.stopm",
        "runtime.findRunnable",
        "runtime.schedule",
    ];
    const NETPOLL: &[&str] = &[
        "internal/runtime/syscall/linux.Syscall6",
        "internal/runtime/syscall/linux.EpollWait",
        "runtime.netpoll",
        "runtime.findRunnable",
        "runtime.schedule",
    ];
    const READ: &[&str] = &[
        "internal/runtime/syscall/linux.Syscall6",
        "syscall.Syscall",
        "syscall.read",
        "syscall.Read",
        "main.reader",
        "runtime.goexit",
    ];

    fn report(raw: Vec<Sleeps>, window_ns: u64) -> OffcpuReport {
        build_report(42, window_ns, raw, Some(60), [0, 0], false)
    }

    #[test]
    fn an_idle_server_has_no_finding_however_long_its_threads_sleep() {
        // 8 idle Ms, the netpoller and sysmon asleep for the whole 10 s window.
        let r = report(
            vec![
                raw(IDLE_M, Some("futex"), 80_000_000_000, 4000),
                raw(NETPOLL, Some("epoll_pwait"), 10_000_000_000, 900),
                raw(
                    &["runtime.usleep", "runtime.sysmon", "runtime.mstart"],
                    Some("nanosleep"),
                    10_000_000_000,
                    1000,
                ),
            ],
            10_000_000_000,
        );
        assert_eq!(r.idle_ns, 100_000_000_000);
        assert_eq!(r.blocking_ns, 0);
        assert!(judge_offcpu(&r, &group_offcpu(&r)).is_empty());
    }

    #[test]
    fn threads_asleep_in_user_syscalls_are_syscall_blocking_at_the_site() {
        // 32 readers asleep nearly all of a 10 s window; a brief fsync elsewhere.
        let r = report(
            vec![
                raw(READ, Some("read"), 310_000_000_000, 200),
                raw(IDLE_M, Some("futex"), 50_000_000_000, 3000),
                raw(
                    &["syscall.Fsync", "os.(*File).Sync", "main.save"],
                    Some("fsync"),
                    20_000_000,
                    10,
                ),
            ],
            10_000_000_000,
        );
        let groups = group_offcpu(&r);
        let f = judge_offcpu(&r, &groups);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].id, "syscall.blocking");
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[0].sites, vec!["main.reader"]);
        assert_eq!(f[0].evidence["syscall"], "read");
        assert_eq!(f[0].evidence["idle_left_out_ns"], 50_000_000_000u64);
    }

    #[test]
    fn one_long_sleep_or_a_short_window_lowers_the_severity() {
        // One goroutine in a read for the whole window: a tool waiting on stdin.
        let r = report(
            vec![raw(READ, Some("read"), 10_000_000_000, 1)],
            10_000_000_000,
        );
        let f = judge_offcpu(&r, &group_offcpu(&r));
        assert_eq!(f[0].severity, Severity::Info);
        let r = report(
            vec![raw(READ, Some("read"), 6_000_000_000, 60)],
            1_000_000_000,
        );
        let f = judge_offcpu(&r, &group_offcpu(&r));
        assert_eq!(f[0].severity, Severity::Warning);
        // Below half a thread: no finding; page faults name no syscall: no finding.
        let r = report(
            vec![
                raw(READ, Some("read"), 4_000_000_000, 60),
                raw(&["main.scan"], None, 9_000_000_000, 500),
            ],
            10_000_000_000,
        );
        assert!(judge_offcpu(&r, &group_offcpu(&r)).is_empty());
    }
}

#[cfg(test)]
mod fold_tests {
    use super::*;
    use crate::judge::{
        fold_offcpu_into_slow, group_offcpu, group_slow, judge_offcpu, judge_syscalls,
    };
    use crate::syscalls::{SlowStack, SyscallReport};
    use gorx_analysis::Severity;

    #[test]
    fn one_blocking_site_seen_by_both_probes_is_one_finding() {
        let read = [
            "internal/runtime/syscall/linux.Syscall6",
            "syscall.read",
            "main.reader",
        ];
        let fsync = ["syscall.Fsync", "os.(*File).Sync", "main.commit"];
        // The syscall probe: 3 slow reads at main.reader (info: too few to be a pattern).
        let sys = SyscallReport {
            pid: 42,
            window_ns: 10_000_000_000,
            slow_threshold_ns: 10_000_000,
            syscalls: Vec::new(),
            slow: vec![SlowStack {
                nr: 0,
                name: "read".into(),
                frames: read.iter().map(|s| s.to_string()).collect(),
                count: 3,
                total_ns: 4_800_000_000,
                max_ns: 1_600_000_000,
                stack_error: None,
            }],
            slow_events: 3,
            slow_unrecorded: 0,
            in_flight: Vec::new(),
            slow_dropped: 0,
            entries_lost: 0,
            target_exited: false,
        };
        let mut findings = judge_syscalls(&sys, &group_slow(&sys.slow, sys.window_ns));
        assert_eq!(findings.len(), 1);
        // The off-CPU probe: 30 threads asleep in read there, and an fsync loop elsewhere.
        let off = build_report(
            42,
            10_000_000_000,
            vec![
                raw(&read, Some("read"), 300_000_000_000, 200),
                raw(&fsync, Some("fsync"), 8_000_000_000, 50_000),
            ],
            None,
            [0, 0],
            false,
        );
        let blocking = judge_offcpu(&off, &group_offcpu(&off));
        assert_eq!(blocking.len(), 2);
        let kept = fold_offcpu_into_slow(&mut findings, blocking);
        findings.extend(kept);
        assert_eq!(findings.len(), 2, "{findings:#?}");
        let slow = &findings[0];
        assert_eq!(
            (slow.id, slow.sites[0].as_str()),
            ("syscall.slow", "main.reader")
        );
        assert_eq!(
            slow.severity,
            Severity::Critical,
            "raised by the off-CPU numbers"
        );
        assert_eq!(slow.evidence["offcpu_ns"], 300_000_000_000u64);
        assert!(slow.sources.len() == 2, "{:?}", slow.sources);
        assert_eq!(
            (findings[1].id, findings[1].sites[0].as_str()),
            ("syscall.blocking", "main.commit")
        );
    }
}
