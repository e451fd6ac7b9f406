//! Probe 4, fd lifetimes: loads `bpf/fds.bpf.o` and attaches its programs to the tracepoints
//! of the fd syscalls only (`syscalls:sys_exit_openat`, `sys_exit_socket`, ..., and
//! `sys_enter_close`), each filtered by the target's tgid first: other syscalls run no
//! program (raw_syscalls `sys_enter`/`sys_exit` ran one on every syscall of every task on the
//! host). Needs tracefs; mounted at /sys/kernel/tracing when absent. fentry/fexit on
//! `__x64_sys_*` would not, but kernels may refuse tracing programs (the Firecracker kernel
//! this was written on returns EPERM before verification). A syscall whose tracepoint this
//! kernel lacks is skipped with a note. Every fd-creating syscall
//! (openat, socket, accept4, pipe2, dup*, eventfd2, epoll_create1, memfd_create,
//! socketpair, inotify_init1, ...) charges its new fds to the user stack that opened
//! them; close releases them. User space samples the per-stack counts through the window
//! (the outstanding fds of each stack over time) and symbolizes the stacks through the
//! target's gopclntab; the judge ([`crate::judge::judge_fds`]) finds the sites whose open
//! fds keep growing.
//!
//! The links (fd-based tracing links) belong to the `Ebpf` object: detached when it is
//! dropped, and by the kernel when the process dies.

use crate::ProbeError;
use crate::symbolize::{StackTable, Symbolizer};
use aya::EbpfLoader;
use aya::maps::{HashMap, MapData, PerCpuArray};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// The compiled program (see bpf/build.sh), embedded so gorx needs no clang.
static OBJECT: &[u8] = aya::include_bytes_aligned!("../bpf/fds.bpf.o");

/// (program, tracepoint in the `syscalls` category). Names are at most 15 characters (the
/// kernel's limit); `_e` programs keep an argument for their exit (see fds.bpf.c).
pub const PROGRAMS: [(&str, &str); 29] = [
    ("fds_open", "sys_exit_open"),
    ("fds_creat", "sys_exit_creat"),
    ("fds_openat", "sys_exit_openat"),
    ("fds_openat2", "sys_exit_openat2"),
    ("fds_socket", "sys_exit_socket"),
    ("fds_accept", "sys_exit_accept"),
    ("fds_accept4", "sys_exit_accept4"),
    ("fds_dup", "sys_exit_dup"),
    ("fds_dup2", "sys_exit_dup2"),
    ("fds_dup3", "sys_exit_dup3"),
    ("fds_eventfd", "sys_exit_eventfd"),
    ("fds_eventfd2", "sys_exit_eventfd2"),
    ("fds_epoll", "sys_exit_epoll_create"),
    ("fds_epoll1", "sys_exit_epoll_create1"),
    ("fds_memfd", "sys_exit_memfd_create"),
    ("fds_inotify", "sys_exit_inotify_init"),
    ("fds_inotify1", "sys_exit_inotify_init1"),
    ("fds_signalfd4", "sys_exit_signalfd4"),
    ("fds_timerfd", "sys_exit_timerfd_create"),
    ("fds_pidfd_open", "sys_exit_pidfd_open"),
    ("fds_pipe", "sys_exit_pipe"),
    ("fds_pipe_e", "sys_enter_pipe"),
    ("fds_pipe2", "sys_exit_pipe2"),
    ("fds_pipe2_e", "sys_enter_pipe2"),
    ("fds_sockpair", "sys_exit_socketpair"),
    ("fds_sockpair_e", "sys_enter_socketpair"),
    ("fds_fcntl", "sys_exit_fcntl"),
    ("fds_fcntl_e", "sys_enter_fcntl"),
    ("fds_close", "sys_enter_close"),
];

/// The tracefs events directory: /sys/kernel/tracing (mounted there when no tracefs is
/// mounted; needs root) or /sys/kernel/debug/tracing.
fn tracefs_events() -> Result<std::path::PathBuf, ProbeError> {
    let roots = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
    let found = || {
        roots
            .iter()
            .map(|r| std::path::Path::new(r).join("events"))
            .find(|e| e.is_dir())
    };
    if let Some(e) = found() {
        return Ok(e);
    }
    let (src, dst, ty) = (c"nodev", c"/sys/kernel/tracing", c"tracefs");
    // SAFETY: mount(2) with NUL-terminated strings and no data.
    let rc = unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), ty.as_ptr(), 0, std::ptr::null()) };
    if rc != 0 {
        return Err(ProbeError::Unsupported(format!(
            "fds: no tracefs mounted and mounting it at /sys/kernel/tracing failed: {}",
            std::io::Error::last_os_error()
        )));
    }
    found().ok_or_else(|| {
        ProbeError::Unsupported("fds: tracefs mounted but has no events directory".into())
    })
}

/// Load and attach each program on its syscall tracepoint. A tracepoint this kernel does not
/// have (a syscall it lacks) is skipped and returned; any other failure is an error. close
/// and openat are required.
fn attach(ebpf: &mut aya::Ebpf) -> Result<Vec<String>, ProbeError> {
    let events = tracefs_events()?.join("syscalls");
    let mut untraced = Vec::new();
    for &(prog, tp) in &PROGRAMS {
        if !events.join(tp).is_dir() {
            if prog == "fds_close" || prog == "fds_openat" {
                return Err(ProbeError::Unsupported(format!(
                    "fds: the kernel has no syscalls:{tp} tracepoint"
                )));
            }
            let name = tp
                .trim_start_matches("sys_exit_")
                .trim_start_matches("sys_enter_");
            untraced.push(name.to_string());
            continue;
        }
        let p: &mut aya::programs::TracePoint = ebpf
            .program_mut(prog)
            .ok_or_else(|| ProbeError::Load(format!("program {prog} missing from the object")))?
            .try_into()
            .map_err(|e| ProbeError::Load(format!("{prog}: {e}")))?;
        p.load().map_err(ProbeError::load)?;
        p.attach("syscalls", tp)
            .map_err(|e| ProbeError::Load(format!("{prog} on syscalls:{tp}: {e}")))?;
    }
    untraced.dedup();
    Ok(untraced)
}

/// Unload the programs (their links go with them) so the counts stop moving.
fn detach(ebpf: &mut aya::Ebpf) {
    for &(prog, _) in &PROGRAMS {
        if let Some(p) = ebpf.program_mut(prog)
            && let Ok(p) = <&mut aya::programs::TracePoint>::try_from(p)
        {
            let _ = p.unload();
        }
    }
}

/// How often the per-stack counts are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(500);

#[repr(C)]
#[derive(Clone, Copy)]
struct SiteCount {
    opened: u64,
    closed: u64,
}
// SAFETY: plain old data, same layout as `struct site_count` in fds.bpf.c.
unsafe impl aya::Pod for SiteCount {}

/// The fds one opening stack created and closed over the window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FdStack {
    /// The opening Go stack, leaf first (empty when it could not be taken).
    pub frames: Vec<String>,
    pub opened: u64,
    pub closed: u64,
    /// Opened in the window and still open at its end.
    pub outstanding: i64,
    /// Outstanding fds at each sample (every `sample_every_ns`, the last at the end).
    pub series: Vec<i64>,
    /// Why no stack was taken (bpf_get_stackid's errno), when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_error: Option<i32>,
}

/// What the fd probe saw over its window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FdReport {
    pub pid: u32,
    pub window_ns: u64,
    pub sample_every_ns: u64,
    /// Most outstanding fds first.
    pub stacks: Vec<FdStack>,
    /// fds not tracked because a table was full.
    pub untracked: u64,
    /// Open fds of the process (/proc/PID/fd) at the start and end of the window.
    pub open_fds_start: Option<u64>,
    pub open_fds_end: Option<u64>,
    /// RLIMIT_NOFILE's soft limit.
    pub nofile_soft: Option<u64>,
    /// The target exited before the window ended.
    pub target_exited: bool,
    /// fd syscalls not traced because this kernel has no tracepoint for them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub untraced_syscalls: Vec<String>,
}

/// The target and the window (one for every probe of a run).
pub use crate::Window as Config;

fn open_fds(pid: u32) -> Option<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count() as u64)
}

fn nofile_soft(pid: u32) -> Option<u64> {
    let p = format!("/proc/{pid}/limits");
    let t = std::fs::read_to_string(&p).ok()?;
    gorx_formats::procfs::parse_limits(&p, &t)
        .ok()?
        .nofile()?
        .soft
}

/// Outstanding fds per stack id at one moment.
fn sample(ebpf: &aya::Ebpf) -> BTreeMap<i32, (u64, u64)> {
    let Some(map) = ebpf.map("sites") else {
        return BTreeMap::new();
    };
    let Ok(map) = HashMap::<&MapData, i32, SiteCount>::try_from(map) else {
        return BTreeMap::new();
    };
    map.iter()
        .filter_map(Result::ok)
        .map(|(k, v)| (k, (v.opened, v.closed)))
        .collect()
}

/// Attach, sample through the window (or until `stop`, or the target's exit), detach.
pub fn run(cfg: &Config, sym: &Symbolizer, stop: &AtomicBool) -> Result<FdReport, ProbeError> {
    let mut ebpf = EbpfLoader::new()
        .override_global("target_tgid", &cfg.pid, true)
        .load(OBJECT)
        .map_err(ProbeError::load)?;
    let untraced_syscalls = attach(&mut ebpf)?;
    let open_fds_start = open_fds(cfg.pid);
    let nofile = nofile_soft(cfg.pid);
    let start = Instant::now();
    let mut samples: Vec<BTreeMap<i32, (u64, u64)>> = Vec::new();
    let mut next = SAMPLE_EVERY;
    let target_exited = crate::wait_window(cfg.pid, start, cfg.duration, stop, || {
        if start.elapsed() >= next {
            samples.push(sample(&ebpf));
            next += SAMPLE_EVERY;
        }
    });
    let window_ns = start.elapsed().as_nanos() as u64;
    let open_fds_end = open_fds(cfg.pid);
    detach(&mut ebpf);
    samples.push(sample(&ebpf));
    let untracked = ebpf
        .map("drops")
        .and_then(|m| PerCpuArray::<&MapData, u64>::try_from(m).ok())
        .and_then(|m| m.get(&0, 0).ok())
        .map(|v| v.iter().sum())
        .unwrap_or(0);
    let traces = StackTable::of(&ebpf);
    let last = samples.last().cloned().unwrap_or_default();
    let mut stacks: Vec<FdStack> = last
        .iter()
        .map(|(&id, &(opened, closed))| {
            let (frames, stack_error) = traces.frames(id, sym);
            let series = samples
                .iter()
                .map(|s| s.get(&id).map_or(0, |&(o, c)| o as i64 - c as i64))
                .collect();
            FdStack {
                frames,
                opened,
                closed,
                outstanding: opened as i64 - closed as i64,
                series,
                stack_error,
            }
        })
        .collect();
    stacks.sort_by(|a, b| {
        b.outstanding
            .cmp(&a.outstanding)
            .then_with(|| a.frames.cmp(&b.frames))
    });
    Ok(FdReport {
        pid: cfg.pid,
        window_ns,
        sample_every_ns: SAMPLE_EVERY.as_nanos() as u64,
        stacks,
        untracked,
        open_fds_start,
        open_fds_end,
        nofile_soft: nofile,
        target_exited,
        untraced_syscalls,
    })
}
