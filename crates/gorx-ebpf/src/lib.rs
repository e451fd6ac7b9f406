//! gorx-ebpf: the kernel's view of a Go process.
//!
//! Collects and symbolizes; judging is in [`judge`] (a pure function from probe results to
//! findings), rendering in gorx-report, wiring in the `gorx probe` command.
//!
//! - BPF programs in C (CO-RE) live in `bpf/`, compiled objects committed beside their
//!   source and embedded here, so the default build needs no clang (`bpf/build.sh`
//!   rebuilds them; `bpf/build.sh --check` fails on a stale object).
//! - Loader: aya 0.14 (pure Rust, no libbpf or C toolchain at build time; 0.15+ need a
//!   newer Rust than the workspace's 1.95).
//! - Probes: [`syscalls`] (latency per syscall, slow ones with their stack), [`runq`]
//!   (run-queue delay of the threads, with the window's CFS throttling and host pressure),
//!   [`fds`] (fds opened and closed per opening stack), [`offcpu`] (off-CPU time of the
//!   threads per user stack, the runtime's idle threads kept apart), [`mmap`] (anonymous
//!   memory mapped and released per mapping stack, and for cgo targets libc's heap per Go
//!   caller: [`malloc`]), [`alloc`] (span refill latency, uprobes at the entry and each
//!   return instruction of the runtime's functions).
//! - Stacks: user stacks by frame pointer (`bpf_get_stack`, `BPF_F_USER_STACK`),
//!   symbolized through the target's own gopclntab ([`gopclntab`]).

pub mod alloc;
pub mod fds;
pub mod gopclntab;
pub mod judge;
pub mod malloc;
pub mod mmap;
pub mod offcpu;
pub mod preflight;
pub mod runq;
pub mod symbolize;
mod syscall_names;
pub mod syscalls;

/// What a probe watches: the target's tgid, and for how long.
pub struct Window {
    pub pid: u32,
    pub duration: std::time::Duration,
}

/// Why a probe could not run. Each names what is missing; the command exits 2 on all.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(
        "missing privileges: loading BPF programs needs root or CAP_BPF and CAP_PERFMON (this process has {0}); run as root or grant them (setcap cap_bpf,cap_perfmon+ep)"
    )]
    Privileges(String),
    #[error(
        "the kernel has no BTF ({0}); gorx probe needs a kernel built with CONFIG_DEBUG_INFO_BTF=y"
    )]
    NoBtf(String),
    #[error("pid {pid}: {path}: {error}")]
    Target {
        pid: u32,
        path: String,
        error: std::io::Error,
    },
    #[error("pid {0} does not exist")]
    NoSuchProcess(u32),
    #[error("pid {0} is not a Go program (no Go build info or function table in its executable)")]
    NotGo(u32),
    #[error("{0}")]
    Unsupported(String),
    #[error("loading the BPF program failed: {0}")]
    Load(String),
}

impl ProbeError {
    fn target(pid: u32, path: &str, error: std::io::Error) -> ProbeError {
        if error.kind() == std::io::ErrorKind::NotFound
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            return ProbeError::NoSuchProcess(pid);
        }
        ProbeError::Target {
            pid,
            path: path.to_string(),
            error,
        }
    }

    fn load(e: impl std::error::Error) -> ProbeError {
        // The whole chain: aya's top-level messages ("error relocating section") say little.
        let mut s = e.to_string();
        let mut src = e.source();
        while let Some(c) = src {
            s.push_str(": ");
            s.push_str(&c.to_string());
            src = c.source();
        }
        // EPERM: a capability checked late (e.g. by a LSM).
        if s.contains("Operation not permitted") {
            return ProbeError::Privileges(format!("the kernel refused: {s}"));
        }
        ProbeError::Load(s)
    }
}

/// The quantile `q` (0..=1) of a log2 histogram (`hist[i]`: values in [2^i, 2^(i+1))):
/// the upper bound of the slot holding it, capped at the max (an over-estimate by at most
/// 2x, as bcc's histograms read). 0 when empty.
pub(crate) fn log2_quantile_ns(hist: &[u64], max_ns: u64, q: f64) -> u64 {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return 0;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (i, n) in hist.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return (1u64 << (i + 1).min(63)).min(max_ns.max(1));
        }
    }
    max_ns
}

/// Load and attach each (program, raw tracepoint) of a loaded object.
pub(crate) fn attach_raw_tracepoints(
    ebpf: &mut aya::Ebpf,
    programs: &[(&str, &str)],
) -> Result<(), ProbeError> {
    for &(prog, tp) in programs {
        let p: &mut aya::programs::RawTracePoint = ebpf
            .program_mut(prog)
            .ok_or_else(|| ProbeError::Load(format!("program {prog} missing from the object")))?
            .try_into()
            .map_err(|e| ProbeError::Load(format!("{prog}: {e}")))?;
        p.load().map_err(ProbeError::load)?;
        p.attach(tp).map_err(ProbeError::load)?;
    }
    Ok(())
}

/// Unload the programs (their links go with them) so the aggregates stop moving.
pub(crate) fn detach_raw_tracepoints(ebpf: &mut aya::Ebpf, programs: &[(&str, &str)]) {
    for &(prog, _) in programs {
        if let Some(p) = ebpf.program_mut(prog)
            && let Ok(p) = <&mut aya::programs::RawTracePoint>::try_from(p)
        {
            let _ = p.unload();
        }
    }
}

/// Wait out the window in 50 ms steps, calling `tick` after each check, until it ends,
/// `stop` is set, or the target exits. Returns whether the target exited.
pub(crate) fn wait_window(
    pid: u32,
    start: std::time::Instant,
    duration: std::time::Duration,
    stop: &std::sync::atomic::AtomicBool,
    mut tick: impl FnMut(),
) -> bool {
    let proc_dir = format!("/proc/{pid}");
    loop {
        if stop.load(std::sync::atomic::Ordering::Relaxed) || start.elapsed() >= duration {
            return false;
        }
        if !std::path::Path::new(&proc_dir).exists() {
            return true;
        }
        tick();
        std::thread::sleep(
            std::time::Duration::from_millis(50).min(duration.saturating_sub(start.elapsed())),
        );
    }
}

/// The x86_64 name of a syscall number, or `syscall_N`.
pub fn syscall_name(nr: u32) -> String {
    match syscall_names::X86_64.binary_search_by_key(&nr, |(n, _)| *n) {
        Ok(i) => syscall_names::X86_64[i].1.to_string(),
        Err(_) => format!("syscall_{nr}"),
    }
}
