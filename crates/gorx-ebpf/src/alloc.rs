//! Probe 6, allocator contention: the latency of the Go runtime's span refill,
//! `runtime.(*mcentral).cacheSpan` (an mcache takes a span of one size class from the
//! central list, sweeping or growing it) and `runtime.(*mheap).alloc` (pages from the heap,
//! under the heap lock: called by `mcentral.grow` and for large objects).
//!
//! Uprobes at each function's entry and at each of its return instructions, never
//! uretprobes: a uretprobe replaces the return address on the stack, and Go copies
//! goroutine stacks when they grow, which breaks the kernel's bookkeeping and crashes the
//! target. The return instructions are found by disassembling the function's bytes from
//! the target's executable (iced-x86's decoder, linearly from the entry: Go emits no data
//! in its text), the function's extent coming from the ELF symbol table or, in a
//! stripped binary, from gopclntab (entry to the next function's entry). A uprobe goes at a
//! file offset: the address is mapped through the program headers' PT_LOAD segments,
//! which also holds for a PIE (link-time addresses; the kernel places the probe in every
//! mapping of the file). x86_64 only: other architectures are refused with a message.
//!
//! The BPF side (`bpf/alloc.bpf.c`) times each call per thread and function and keeps a
//! log2 histogram per function; see there why per-thread timing is sound for these
//! functions. The judge ([`crate::judge::judge_alloc`]) reads the report.
//!
//! The links belong to the `Ebpf` object: detached when the programs are unloaded or the
//! object dropped, and by the kernel when gorx dies.

use crate::ProbeError;
use crate::gopclntab::GoSymbols;
use crate::runq::Delays;
use aya::EbpfLoader;
use aya::maps::{MapData, PerCpuArray};
use aya::programs::UProbe;
use aya::programs::uprobe::{UProbeAttachLocation, UProbeAttachPoint, UProbeLinkId, UProbeScope};
use serde::Serialize;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The compiled program (see bpf/build.sh), embedded so gorx needs no clang.
static OBJECT: &[u8] = aya::include_bytes_aligned!("../bpf/alloc.bpf.o");

/// Must match alloc.bpf.c.
const HIST_SLOTS: usize = 40;
const NFUNCS: usize = 4;

pub const CACHE_SPAN: &str = "runtime.(*mcentral).cacheSpan";
pub const MHEAP_ALLOC: &str = "runtime.(*mheap).alloc";

/// The traced functions, outermost first (the index is the BPF slot, its cookie):
/// `mheap.alloc` runs inside `cacheSpan` (through `mcentral.grow`). `lock2` is not traced:
/// every runtime lock (channels, timers, the scheduler) goes through it, so probing it
/// would tax the whole program; its waits are inside these two functions' latency.
pub const FUNCTIONS: [&str; 2] = [CACHE_SPAN, MHEAP_ALLOC];

const PROGRAMS: [&str; 2] = ["alloc_enter", "alloc_return"];

#[repr(C)]
#[derive(Clone, Copy)]
struct RawStat {
    entries: u64,
    returns: u64,
    total_ns: u64,
    max_ns: u64,
    nested_ns: u64,
    unmatched: u64,
    queued_ns: u64,
    slots: [u64; HIST_SLOTS],
}
// SAFETY: plain old data, same layout as `struct fn_stat` in alloc.bpf.c.
unsafe impl aya::Pod for RawStat {}

/// Where one function is probed, as found in the binary.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProbePoints {
    pub function: String,
    /// Link-time address of the entry, and the end of the function's bytes.
    pub entry: u64,
    pub end: u64,
    /// Where the extent came from: `symtab` or `gopclntab`.
    pub source: &'static str,
    /// Link-time addresses of the return instructions.
    pub rets: Vec<u64>,
    /// Jumps that leave the function (tail calls): exits no probe sees. Go's compiler
    /// emits none in these functions; a binary that has some is timed on its RETs only.
    pub tail_jumps: Vec<u64>,
    /// File offsets of the entry and of each return (what the uprobes are attached to).
    pub entry_offset: u64,
    pub ret_offsets: Vec<u64>,
}

/// The return instructions and the tail jumps of a function's code, decoded linearly
/// from `entry` (x86_64). Indirect jumps (Go's jump tables for switches) stay inside the
/// function and are not exits. Bytes that do not decode are an error: the instruction
/// boundaries after them would be guesses, and a uprobe off a boundary corrupts the target.
pub fn return_sites(code: &[u8], entry: u64) -> Result<(Vec<u64>, Vec<u64>), String> {
    use iced_x86::{Decoder, DecoderOptions, Mnemonic, OpKind};
    let end = entry.saturating_add(code.len() as u64);
    let mut dec = Decoder::with_ip(64, code, entry, DecoderOptions::NONE);
    let (mut rets, mut tails) = (Vec::new(), Vec::new());
    while dec.can_decode() {
        let ins = dec.decode();
        if ins.is_invalid() {
            return Err(format!("bytes at {:#x} do not decode as x86_64", ins.ip()));
        }
        match ins.mnemonic() {
            Mnemonic::Ret | Mnemonic::Retf => rets.push(ins.ip()),
            _ => {
                // A direct jump or conditional jump (a call returns: not an exit).
                if ins.op_count() > 0
                    && matches!(ins.op0_kind(), OpKind::NearBranch64)
                    && ins.mnemonic() != Mnemonic::Call
                {
                    let t = ins.near_branch_target();
                    if t < entry || t >= end {
                        tails.push(ins.ip());
                    }
                }
            }
        }
    }
    Ok((rets, tails))
}

/// A function's extent `[entry, end)`: the ELF symbol table's (name, size), else
/// gopclntab's (entry to the next function's entry, the alignment padding included).
pub fn function_extent(
    obj: &object::File<'_>,
    syms: Option<&GoSymbols>,
    function: &str,
) -> Option<(u64, u64, &'static str)> {
    use object::{Object, ObjectSymbol};
    if let Some(s) = obj
        .symbols()
        .find(|s| s.size() > 0 && s.name() == Ok(function))
    {
        return Some((s.address(), s.address().checked_add(s.size())?, "symtab"));
    }
    let syms = syms?;
    let mut fns = syms.functions().peekable();
    while let Some((entry, name)) = fns.next() {
        if name == function {
            let end = fns.peek().map_or(syms.text_range().end, |&(next, _)| next);
            return (end > entry).then_some((entry, end, "gopclntab"));
        }
    }
    None
}

/// The file range holding `[addr, addr + len)`, through the PT_LOAD program headers.
pub fn file_offset(obj: &object::File<'_>, addr: u64, len: u64) -> Option<u64> {
    use object::{Object, ObjectSegment};
    obj.segments().find_map(|seg| {
        let (off, size) = seg.file_range();
        let within = addr.checked_sub(seg.address())?;
        (within.checked_add(len)? <= size).then(|| off.checked_add(within))?
    })
}

/// The probe points of each traced function found in an x86_64 Go executable's bytes;
/// the names of the functions not found. `name` is used in errors.
pub fn probe_points(
    name: &str,
    file: &[u8],
) -> Result<(Vec<ProbePoints>, Vec<String>), ProbeError> {
    use object::Object;
    let obj = object::File::parse(file)
        .map_err(|e| ProbeError::Unsupported(format!("{name}: malformed ELF: {e}")))?;
    if obj.architecture() != object::Architecture::X86_64 {
        return Err(ProbeError::Unsupported(format!(
            "{name}: the alloc probe finds return instructions by disassembling x86_64 code; \
             this binary is {:?}, which it does not support",
            obj.architecture()
        )));
    }
    let has_symtab = FUNCTIONS
        .iter()
        .all(|f| function_extent(&obj, None, f).is_some());
    let syms = if has_symtab {
        None
    } else {
        Some(GoSymbols::from_elf(name, file).map_err(|e| ProbeError::Unsupported(e.to_string()))?)
    };
    let (mut points, mut missing) = (Vec::new(), Vec::new());
    for f in FUNCTIONS {
        let Some((entry, end, source)) = function_extent(&obj, syms.as_ref(), f) else {
            missing.push(f.to_string());
            continue;
        };
        let bad = |what: String| ProbeError::Unsupported(format!("{name}: {f}: {what}"));
        let entry_offset = file_offset(&obj, entry, end - entry)
            .ok_or_else(|| bad(format!("{entry:#x}..{end:#x} is not in a loaded segment")))?;
        let code = usize::try_from(entry_offset)
            .ok()
            .and_then(|o| file.get(o..o.checked_add(usize::try_from(end - entry).ok()?)?))
            .ok_or_else(|| bad("the function's bytes are past the end of the file".into()))?;
        let (rets, tail_jumps) = return_sites(code, entry).map_err(bad)?;
        if rets.is_empty() {
            return Err(bad("no return instruction found".into()));
        }
        let ret_offsets = rets.iter().map(|r| entry_offset + (r - entry)).collect();
        points.push(ProbePoints {
            function: f.to_string(),
            entry,
            end,
            source,
            rets,
            tail_jumps,
            entry_offset,
            ret_offsets,
        });
    }
    if points.is_empty() {
        return Err(ProbeError::Unsupported(format!(
            "{name}: none of the runtime's span refill functions ({}) are in this binary",
            FUNCTIONS.join(", ")
        )));
    }
    Ok((points, missing))
}

/// What the probes themselves cost a call, measured on [`calibration_target`].
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct ProbeCost {
    /// Within the time the programs measure for a call (from the entry program's clock
    /// to the return program's): subtracted from every call.
    pub inside_ns: u64,
    /// The whole cost of a probed call as its caller sees it: subtracted from an outer
    /// traced call for each traced call nested in it (mheap.alloc inside cacheSpan).
    pub pair_ns: u64,
}

/// One traced function over the window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AllocFn {
    pub function: String,
    /// Calls entered during the window.
    pub calls: u64,
    /// Own time of the calls that returned (entry and return seen on the same thread):
    /// entry to return minus the thread's run-queue waits meanwhile, i.e. on CPU or
    /// asleep on the allocator's locks.
    pub latency: Delays,
    /// Run-queue waits inside those calls (the host's or the quota's contention, not the
    /// allocator's; not in `latency`).
    pub queued_ns: u64,
    /// Of `latency.total_ns`, the time spent inside an outer traced function
    /// (mheap.alloc called by cacheSpan): counted once in [`AllocReport::refill_ns`].
    pub nested_ns: u64,
    /// Returns without an entry timed on the same thread: calls begun before the probe
    /// attached, and return probes run more than once for one return (on the 6.18 kernel
    /// here, up to once per call, with or without Go's preemption signals; bpftrace counts
    /// the same entries as gorx, so no entry is lost). Not timed.
    pub unmatched: u64,
    /// Where it was probed.
    pub points: ProbePoints,
}

impl AllocFn {
    pub fn p50_ns(&self) -> u64 {
        self.latency.quantile_ns(0.5)
    }
    pub fn p99_ns(&self) -> u64 {
        self.latency.quantile_ns(0.99)
    }
}

/// What the allocator probe saw over its window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AllocReport {
    pub pid: u32,
    pub window_ns: u64,
    /// Outermost first (cacheSpan, then mheap.alloc).
    pub functions: Vec<AllocFn>,
    /// Traced functions not found in the binary (a runtime that renamed them).
    pub missing: Vec<String>,
    /// Own time the threads spent in span refill (each nested call counted once; run-queue
    /// waits left out).
    pub refill_ns: u64,
    /// The process's CPU time (user + system) over the window, from /proc/PID/stat.
    pub cpu_ns: Option<u64>,
    /// Calls not timed because the per-thread table was full.
    pub untimed: u64,
    /// The probes' own cost, measured on an empty function of gorx before the window and
    /// subtracted (None: not measured; then the latencies include it).
    pub probe_cost: Option<ProbeCost>,
    /// Why the window ended before its duration, when the probes' cost did it.
    pub cut_short: Option<String>,
    /// The target exited before the window ended.
    pub target_exited: bool,
}

impl AllocReport {
    /// Threads in span refill on average over the window (refill time / window).
    pub fn refill_threads(&self) -> f64 {
        self.refill_ns as f64 / self.window_ns.max(1) as f64
    }

    /// Refill time as a share of the process's CPU time over the window (refill time
    /// includes futex sleeps on the heap lock, so the share can pass 1).
    pub fn refill_share_of_cpu(&self) -> Option<f64> {
        self.cpu_ns
            .filter(|&c| c > 0)
            .map(|c| self.refill_ns as f64 / c as f64)
    }

    pub fn function(&self, name: &str) -> Option<&AllocFn> {
        self.functions.iter().find(|f| f.function == name)
    }
}

/// The target and the window (one for every probe of a run).
pub use crate::Window as Config;

fn cpu_ns(pid: u32) -> Option<u64> {
    let p = format!("/proc/{pid}/stat");
    let st = gorx_formats::procfs::parse_stat(&p, &std::fs::read_to_string(&p).ok()?).ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| (st.utime_ticks + st.stime_ticks).saturating_mul(1_000_000_000) / hz as u64)
}

fn unload(ebpf: &mut aya::Ebpf) {
    for prog in PROGRAMS {
        if let Some(p) = ebpf.program_mut(prog)
            && let Ok(p) = <&mut UProbe>::try_from(p)
        {
            let _ = p.unload();
        }
    }
}

/// Attach uprobes at the entry and every return of the span refill functions, wait for
/// the window (or `stop`, or the target's exit), detach, read the histograms.
pub fn run(cfg: &Config, stop: &AtomicBool) -> Result<AllocReport, ProbeError> {
    if !cfg!(target_arch = "x86_64") {
        return Err(ProbeError::Unsupported(
            "the alloc probe is implemented for x86_64 only (it disassembles x86_64 code to find return instructions)".into(),
        ));
    }
    let exe = format!("/proc/{}/exe", cfg.pid);
    let file = std::fs::File::open(&exe).map_err(|e| ProbeError::target(cfg.pid, &exe, e))?;
    // SAFETY: read-only private mapping of the target's executable; only read here.
    let map =
        unsafe { memmap2::Mmap::map(&file) }.map_err(|e| ProbeError::target(cfg.pid, &exe, e))?;
    let (points, missing) = probe_points(&exe, &map)?;
    let points_len = points.len();
    drop(map);
    let pid = NonZeroU32::new(cfg.pid)
        .ok_or_else(|| ProbeError::Unsupported("pid 0 cannot be probed".into()))?;
    let own = std::process::id();
    let mut ebpf = EbpfLoader::new()
        .override_global("target_tgid", &cfg.pid, true)
        .override_global("calib_tgid", &own, true)
        .load(OBJECT)
        .map_err(ProbeError::load)?;
    let attached = load_programs(&mut ebpf)
        .map(|()| calibrate(&mut ebpf))
        .and_then(|o| attach(&mut ebpf, &points, &exe, pid).map(|()| o));
    let probe_cost = match attached {
        Ok(o) => o,
        Err(e) => {
            unload(&mut ebpf);
            return Err(e);
        }
    };
    let cpu_start = cpu_ns(cfg.pid);
    let start = Instant::now();
    // The window ends early when the probes cost the target too much (see COST_BUDGET).
    let cut = AtomicBool::new(false);
    let mut cut_short = None;
    let mut next_check = BUDGET_FIRST_CHECK;
    let target_exited = crate::wait_window(cfg.pid, start, cfg.duration, &cut, || {
        if stop.load(Ordering::Relaxed) {
            cut.store(true, Ordering::Relaxed);
        }
        if start.elapsed() < next_check {
            return;
        }
        next_check += BUDGET_CHECK_EVERY;
        let (Some(a), Some(b)) = (cpu_start, cpu_ns(cfg.pid)) else {
            return;
        };
        let pair_ns = probe_cost.map_or(UNCALIBRATED_PAIR_NS, |c| c.pair_ns);
        let calls: u64 = (0..points_len)
            .filter_map(|i| raw_stat(&ebpf, i))
            .map(|s| s.entries)
            .sum();
        let spent = calls.saturating_mul(pair_ns);
        let cpu = b.saturating_sub(a);
        let wall = start.elapsed().as_nanos() as f64;
        if spent as f64 > COST_BUDGET * cpu as f64 && spent as f64 > BUDGET_MIN_CORE_SHARE * wall {
            cut_short = Some(format!(
                "the probes cost the target about {:.0}% of its CPU ({calls} calls × {} ns in {:.1} s, > {:.0}%): window ended early",
                spent as f64 * 100.0 / cpu.max(1) as f64,
                pair_ns,
                start.elapsed().as_secs_f64(),
                COST_BUDGET * 100.0
            ));
            cut.store(true, Ordering::Relaxed);
        }
    });
    let window_ns = start.elapsed().as_nanos() as u64;
    let cpu_end = if target_exited { None } else { cpu_ns(cfg.pid) };
    // Detach first so the aggregates stop moving, then read them.
    unload(&mut ebpf);
    let stats: PerCpuArray<&MapData, RawStat> = PerCpuArray::try_from(
        ebpf.map("stats")
            .ok_or_else(|| ProbeError::Load("map stats missing".into()))?,
    )
    .map_err(|e| ProbeError::Load(format!("stats: {e}")))?;
    let mut functions = Vec::new();
    let mut refill_ns = 0u64;
    for (i, p) in points.into_iter().enumerate() {
        let per_cpu = stats
            .get(&(i as u32), 0)
            .map_err(|e| ProbeError::Load(format!("reading stats[{i}]: {e}")))?;
        let mut latency = Delays::empty();
        let (mut calls, mut nested_ns, mut unmatched, mut queued_ns) = (0u64, 0u64, 0u64, 0u64);
        for v in per_cpu.iter() {
            calls += v.entries;
            queued_ns = queued_ns.saturating_add(v.queued_ns);
            nested_ns = nested_ns.saturating_add(v.nested_ns);
            unmatched += v.unmatched;
            latency.add(&Delays {
                count: v.returns,
                total_ns: v.total_ns,
                max_ns: v.max_ns,
                hist: v.slots.to_vec(),
            });
        }
        refill_ns = refill_ns.saturating_add(latency.total_ns.saturating_sub(nested_ns));
        functions.push(AllocFn {
            function: p.function.clone(),
            calls,
            latency,
            nested_ns,
            unmatched,
            queued_ns,
            points: p,
        });
    }
    let untimed = ebpf
        .map("drops")
        .and_then(|m| PerCpuArray::<&MapData, u64>::try_from(m).ok())
        .and_then(|m| m.get(&0, 0).ok())
        .map(|v| v.iter().sum())
        .unwrap_or(0);
    Ok(AllocReport {
        pid: cfg.pid,
        window_ns,
        functions,
        missing,
        refill_ns,
        cpu_ns: match (cpu_start, cpu_end) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        },
        untimed,
        probe_cost,
        cut_short,
        target_exited,
    })
}

fn program<'a>(ebpf: &'a mut aya::Ebpf, prog: &str) -> Result<&'a mut UProbe, ProbeError> {
    ebpf.program_mut(prog)
        .ok_or_else(|| ProbeError::Load(format!("program {prog} missing from the object")))?
        .try_into()
        .map_err(|e| ProbeError::Load(format!("{prog}: {e}")))
}

fn load_programs(ebpf: &mut aya::Ebpf) -> Result<(), ProbeError> {
    for prog in PROGRAMS {
        program(ebpf, prog)?.load().map_err(ProbeError::load)?;
    }
    Ok(())
}

/// Attach `prog` at each file offset of `path` (in process `pid`), `slot` as the cookie.
fn attach_at(
    ebpf: &mut aya::Ebpf,
    prog: &str,
    path: &str,
    pid: NonZeroU32,
    slot: usize,
    offsets: &[u64],
    what: &str,
) -> Result<Vec<UProbeLinkId>, ProbeError> {
    let p = program(ebpf, prog)?;
    let mut links = Vec::new();
    for &off in offsets {
        let point = UProbeAttachPoint {
            location: UProbeAttachLocation::AbsoluteOffset(off),
            cookie: Some(slot as u64),
        };
        let link = p
            .attach(point, path, UProbeScope::OneProcess(pid))
            .map_err(|e| match ProbeError::load(e) {
                ProbeError::Load(s) => ProbeError::Load(format!(
                    "attaching a uprobe to {what} at file offset {off:#x}: {s}"
                )),
                other => other,
            })?;
        links.push(link);
    }
    Ok(links)
}

/// Attach the entry and each return of every function, the function's slot as the
/// attach cookie. Returns first: a call already running when its entry probe lands is
/// then counted as unmatched, never timed from a stale entry.
fn attach(
    ebpf: &mut aya::Ebpf,
    points: &[ProbePoints],
    exe: &str,
    pid: NonZeroU32,
) -> Result<(), ProbeError> {
    if points.len() > CALIB_SLOT {
        return Err(ProbeError::Load(format!(
            "{} functions to trace, the BPF program has {CALIB_SLOT} slots",
            points.len()
        )));
    }
    for (slot, pt) in points.iter().enumerate() {
        attach_at(
            ebpf,
            PROGRAMS[1],
            exe,
            pid,
            slot,
            &pt.ret_offsets,
            &pt.function,
        )?;
    }
    for (slot, pt) in points.iter().enumerate() {
        attach_at(
            ebpf,
            PROGRAMS[0],
            exe,
            pid,
            slot,
            &[pt.entry_offset],
            &pt.function,
        )?;
    }
    Ok(())
}

/// The probes' share of the target's CPU beyond which the window ends early: each probed
/// call costs the target two traps and two out-of-line steps (the calibrated `pair_ns`,
/// 1–3 µs on bare metal, about 20 µs in a nested VM), so a program that refills spans
/// tens of thousands of times a second can be slowed severalfold. A tenth of its CPU is
/// the most a diagnostic should take from a production process.
pub const COST_BUDGET: f64 = 0.10;
/// ...and more than this share of one core: on a nearly idle process a tenth of its CPU is
/// a few ms a second, a cost not worth cutting the window for.
const BUDGET_MIN_CORE_SHARE: f64 = 0.01;
/// The cost of a probed call assumed by the budget when it could not be calibrated: the
/// low end of bare metal (two traps and two out-of-line steps, ~1 µs each).
const UNCALIBRATED_PAIR_NS: u64 = 2_000;
/// The first check after a second (a share of a shorter run is noise), then every 250 ms.
const BUDGET_FIRST_CHECK: Duration = Duration::from_secs(1);
const BUDGET_CHECK_EVERY: Duration = Duration::from_millis(250);

/// The summed per-CPU counters of slot `i`.
fn raw_stat(ebpf: &aya::Ebpf, i: usize) -> Option<RawStat> {
    let stats = PerCpuArray::<&MapData, RawStat>::try_from(ebpf.map("stats")?).ok()?;
    let per_cpu = stats.get(&(i as u32), 0).ok()?;
    let mut sum = RawStat {
        entries: 0,
        returns: 0,
        total_ns: 0,
        max_ns: 0,
        nested_ns: 0,
        unmatched: 0,
        queued_ns: 0,
        slots: [0; HIST_SLOTS],
    };
    for v in per_cpu.iter() {
        sum.entries += v.entries;
        sum.returns += v.returns;
        sum.total_ns = sum.total_ns.saturating_add(v.total_ns);
    }
    Some(sum)
}

/// The BPF slot of the calibration probes.
const CALIB_SLOT: usize = NFUNCS - 1;
/// Calls of the empty function timed to measure the probes' cost.
const CALIB_CALLS: u64 = 2000;
const CALIB_BATCHES: u64 = 40;

/// An empty function of gorx's own, probed at its entry and return like the runtime's
/// functions: the time the BPF programs measure for it is what the probes themselves add
/// to every call (two traps, the out-of-line step, the programs).
/// (No call inside, not even `black_box`, which is a call in debug builds: it must be a
/// straight line to one RET.)
#[inline(never)]
fn calibration_target(x: u64) -> u64 {
    x ^ 0x5a
}

/// The file offset of `addr` in gorx's own executable, from /proc/self/maps.
fn own_file_offset(addr: u64) -> Option<u64> {
    let exe = std::fs::read_link("/proc/self/exe").ok()?;
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|line| {
        let mut f = line.split_whitespace();
        let (range, _perms, offset) = (f.next()?, f.next()?, f.next()?);
        if std::path::Path::new(f.nth(2)?) != exe {
            return None;
        }
        let (lo, hi) = range.split_once('-')?;
        let (lo, hi) = (
            u64::from_str_radix(lo, 16).ok()?,
            u64::from_str_radix(hi, 16).ok()?,
        );
        if lo <= addr && addr < hi {
            Some(u64::from_str_radix(offset, 16).ok()? + (addr - lo))
        } else {
            None
        }
    })
}

/// Measure the probes' cost on [`calibration_target`] and store it in the `overhead` map
/// for the BPF programs to subtract. None when it cannot be measured (the function's code
/// is not a straight line to one RET, or the probes did not fire).
fn calibrate(ebpf: &mut aya::Ebpf) -> Option<ProbeCost> {
    use std::io::{Read, Seek};
    let f: fn(u64) -> u64 = calibration_target;
    let off = own_file_offset(f as usize as u64)?;
    let mut code = [0u8; 64];
    let mut file = std::fs::File::open("/proc/self/exe").ok()?;
    file.seek(std::io::SeekFrom::Start(off)).ok()?;
    file.read_exact(&mut code).ok()?;
    let ret = straight_line_ret(&code)?;
    let me = NonZeroU32::new(std::process::id())?;
    let path = "/proc/self/exe";
    let mut links = attach_at(
        ebpf,
        PROGRAMS[1],
        path,
        me,
        CALIB_SLOT,
        &[off + ret],
        "calibration",
    )
    .ok()?;
    let entry = attach_at(
        ebpf,
        PROGRAMS[0],
        path,
        me,
        CALIB_SLOT,
        &[off],
        "calibration",
    );
    let call = std::hint::black_box(f);
    let per_batch = CALIB_CALLS / CALIB_BATCHES;
    let batch = || {
        let t = Instant::now();
        let mut sum = 0u64;
        for i in 0..per_batch {
            sum = sum.wrapping_add(call(i));
        }
        std::hint::black_box(sum);
        t.elapsed().as_nanos() as u64 / per_batch
    };
    let calib_stat = |ebpf: &aya::Ebpf| raw_stat(ebpf, CALIB_SLOT).map(|s| (s.returns, s.total_ns));
    // Per call, the fastest of several batches, as the probes measure it (inside) and as
    // the caller sees it (wall): a batch in which an interrupt hit, or gorx itself waited
    // for a CPU, would count that as the probes' cost.
    let (mut inside, mut probed) = (u64::MAX, u64::MAX);
    if entry.is_ok() {
        let mut last = calib_stat(ebpf)?;
        for _ in 0..CALIB_BATCHES {
            probed = probed.min(batch());
            let now = calib_stat(ebpf)?;
            let (n, t) = (now.0 - last.0, now.1 - last.1);
            if n >= per_batch / 2 {
                inside = inside.min(t / n);
            }
            last = now;
        }
    }
    if let Ok(p) = program(ebpf, PROGRAMS[0])
        && let Ok(e) = entry
    {
        for l in e {
            let _ = p.detach(l);
        }
    }
    if let Ok(p) = program(ebpf, PROGRAMS[1]) {
        for l in links.drain(..) {
            let _ = p.detach(l);
        }
    }
    if inside == u64::MAX {
        return None;
    }
    let bare = (0..CALIB_BATCHES).map(|_| batch()).min().unwrap_or(0);
    let pair = probed.saturating_sub(bare).max(inside);
    let mut map =
        aya::maps::Array::<&mut MapData, u64>::try_from(ebpf.map_mut("overhead")?).ok()?;
    map.set(0, inside, 0).ok()?;
    map.set(1, pair, 0).ok()?;
    Some(ProbeCost {
        inside_ns: inside,
        pair_ns: pair,
    })
}

/// The offset of the RET ending `code`'s first instructions when nothing before it
/// branches, calls or fails to decode (a straight line whose only exit is that RET).
fn straight_line_ret(code: &[u8]) -> Option<u64> {
    use iced_x86::{Decoder, DecoderOptions, Mnemonic, OpKind};
    let mut dec = Decoder::with_ip(64, code, 0, DecoderOptions::NONE);
    while dec.can_decode() {
        let ins = dec.decode();
        if ins.is_invalid() {
            return None;
        }
        match ins.mnemonic() {
            Mnemonic::Ret => return Some(ins.ip()),
            Mnemonic::Jmp | Mnemonic::Call | Mnemonic::Retf => return None,
            _ if ins.op_count() > 0 && ins.op0_kind() == OpKind::NearBranch64 => return None,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rets_and_tail_jumps_are_found_on_instruction_boundaries() {
        // 0x1000: mov eax, 0xc3c3c3c3 (C3 bytes inside an immediate are not RETs)
        // 0x1005: je +1 (to 0x1008, inside)
        // 0x1007: ret
        // 0x1008: jmp -0x100d (to 0x0000, outside: a tail jump)
        // 0x100d: ret 8
        // 0x1010: int3 padding
        let code = [
            0xb8, 0xc3, 0xc3, 0xc3, 0xc3, 0x74, 0x01, 0xc3, 0xe9, 0xf3, 0xef, 0xff, 0xff, 0xc2,
            0x08, 0x00, 0xcc, 0xcc,
        ];
        let (rets, tails) = return_sites(&code, 0x1000).unwrap();
        assert_eq!(rets, [0x1007, 0x100d]);
        assert_eq!(tails, [0x1008]);
        // A truncated instruction is refused, not guessed.
        assert!(return_sites(&[0xb8, 0xc3], 0x1000).is_err());
        // The calibration function must be a straight line to its RET.
        assert_eq!(
            straight_line_ret(&[0x48, 0x8d, 0x47, 0x01, 0xc3, 0xcc]),
            Some(4)
        );
        assert_eq!(straight_line_ret(&code), None);
    }
}
