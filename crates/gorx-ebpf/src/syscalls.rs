//! Probe 1, syscall latency: loads `bpf/syscalls.bpf.o`, attaches it to
//! the raw tracepoints `sys_enter`/`sys_exit` (raw_syscalls) filtered by the target's tgid, and collects the
//! in-kernel aggregates plus the rare slow-syscall events with their symbolized stacks.
//!
//! The links belong to the `Ebpf` object: they are detached when it is dropped (on every
//! return path here), and by the kernel when the process dies, so a killed gorx leaks none.

use crate::symbolize::Symbolizer;
use crate::{ProbeError, syscall_name};
use aya::maps::{HashMap, MapData, PerCpuArray, RingBuf};
use aya::{Ebpf, EbpfLoader};
use serde::Serialize;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// The compiled program (see bpf/build.sh), embedded so gorx needs no clang.
static OBJECT: &[u8] = aya::include_bytes_aligned!("../bpf/syscalls.bpf.o");

/// Must match syscalls.bpf.c.
const MAX_SYSCALLS: u32 = 512;
pub const HIST_SLOTS: usize = 40;
const MAX_STACK: usize = 64;

/// (program, raw tracepoint).
const PROGRAMS: [(&str, &str); 2] = [("sys_enter", "sys_enter"), ("sys_exit", "sys_exit")];

#[repr(C)]
#[derive(Clone, Copy)]
struct SysStat {
    count: u64,
    total_ns: u64,
    max_ns: u64,
    slots: [u64; HIST_SLOTS],
}
// SAFETY: plain old data, same layout as `struct sys_stat` in syscalls.bpf.c.
unsafe impl aya::Pod for SysStat {}

#[repr(C)]
#[derive(Clone, Copy)]
struct Start {
    ts: u64,
    nr: u64,
}
// SAFETY: plain old data, same layout as `struct start` in syscalls.bpf.c.
unsafe impl aya::Pod for Start {}

/// A syscall still blocked when the window closed, at least the slow threshold long. Its
/// stack is not known (stacks are taken when a syscall returns), only what and how long.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InFlight {
    pub tid: u32,
    pub nr: u32,
    pub name: String,
    /// Blocked so far, from its entry (after the probe attached) to the window's end.
    pub elapsed_ns: u64,
}

/// One syscall's aggregate over the window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SyscallStat {
    pub nr: u32,
    pub name: String,
    pub count: u64,
    pub total_ns: u64,
    pub max_ns: u64,
    /// `hist[i]`: calls that took [2^i, 2^(i+1)) ns (slot 0 also holds 0 ns).
    pub hist: Vec<u64>,
}

impl SyscallStat {
    /// The latency at quantile `q` (0..=1) from the log2 histogram: the upper bound of the
    /// slot holding it (an over-estimate by at most 2x, as bcc's histograms read).
    pub fn quantile_ns(&self, q: f64) -> u64 {
        crate::log2_quantile_ns(&self.hist, self.max_ns, q)
    }
}

/// Syscalls slower than the threshold that returned with one Go stack (leaf first):
/// events are aggregated per (syscall, stack) as they arrive, so memory and output grow
/// with the distinct stacks, not with the events.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SlowStack {
    pub nr: u32,
    pub name: String,
    pub frames: Vec<String>,
    pub count: u64,
    pub total_ns: u64,
    pub max_ns: u64,
    /// Why no stack was taken (bpf_get_stack's errno), when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_error: Option<i32>,
}

/// One decoded `struct slow_event`.
#[derive(Debug, Clone, PartialEq)]
struct SlowEvent {
    nr: u32,
    latency_ns: u64,
    pcs: Vec<u64>,
    stack_error: Option<i32>,
}

/// (syscall, raw user stack, stack errno).
type StackKey = (u32, Vec<u64>, Option<i32>);
/// (count, total ns, max ns).
type StackTotals = (u64, u64, u64);

/// Slow events aggregated by (syscall, raw stack) until the window ends; each distinct
/// stack is symbolized once.
#[derive(Default)]
struct SlowAgg {
    by_stack: std::collections::HashMap<StackKey, StackTotals>,
    events: u64,
    unrecorded: u64,
}

impl SlowAgg {
    fn add(&mut self, ev: SlowEvent) {
        self.events += 1;
        let key = (ev.nr, ev.pcs, ev.stack_error);
        if !self.by_stack.contains_key(&key) && self.by_stack.len() >= MAX_STACKS_KEPT {
            self.unrecorded += 1;
            return;
        }
        let e = self.by_stack.entry(key).or_default();
        e.0 += 1;
        e.1 = e.1.saturating_add(ev.latency_ns);
        e.2 = e.2.max(ev.latency_ns);
    }

    fn finish(self, sym: &Symbolizer) -> Vec<SlowStack> {
        let mut out: Vec<SlowStack> = self
            .by_stack
            .into_iter()
            .map(
                |((nr, pcs, stack_error), (count, total_ns, max_ns))| SlowStack {
                    nr,
                    name: syscall_name(nr),
                    frames: sym.frames(&pcs),
                    count,
                    total_ns,
                    max_ns,
                    stack_error,
                },
            )
            .collect();
        out.sort_by(|a, b| {
            b.total_ns
                .cmp(&a.total_ns)
                .then_with(|| a.frames.cmp(&b.frames))
        });
        out
    }
}

/// What the syscall probe saw over its window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SyscallReport {
    pub pid: u32,
    pub window_ns: u64,
    pub slow_threshold_ns: u64,
    /// Most total time first.
    pub syscalls: Vec<SyscallStat>,
    /// Slow syscalls by (syscall, stack), most total time first.
    pub slow: Vec<SlowStack>,
    /// Slow syscalls received (the sum of `slow[].count` plus `slow_unrecorded`).
    pub slow_events: u64,
    /// Slow syscalls not kept because too many distinct stacks were seen.
    pub slow_unrecorded: u64,
    /// Syscalls still blocked at the window's end, longest first.
    pub in_flight: Vec<InFlight>,
    /// Slow events lost because the ring buffer was full.
    pub slow_dropped: u64,
    /// Syscall entries not timed because the per-thread table was full.
    pub entries_lost: u64,
    /// The target exited before the window ended.
    pub target_exited: bool,
}

pub struct Config {
    pub pid: u32,
    pub duration: Duration,
    pub slow_ns: u64,
}

/// Keep at most this many distinct (syscall, stack) pairs: the kernel side is bounded by
/// its ring buffer; this bounds gorx's memory over a long window.
const MAX_STACKS_KEPT: usize = 10_000;

/// Attach, wait for the window (or `stop`, or the target's exit), collect, detach.
pub fn run(cfg: &Config, sym: &Symbolizer, stop: &AtomicBool) -> Result<SyscallReport, ProbeError> {
    let mut ebpf = EbpfLoader::new()
        .override_global("target_tgid", &cfg.pid, true)
        .override_global("slow_ns", &cfg.slow_ns, true)
        .load(OBJECT)
        .map_err(ProbeError::load)?;
    crate::attach_raw_tracepoints(&mut ebpf, &PROGRAMS)?;
    let mut ring = RingBuf::try_from(
        ebpf.take_map("events")
            .ok_or_else(|| ProbeError::Load("map events missing".into()))?,
    )
    .map_err(|e| ProbeError::Load(format!("events: {e}")))?;

    let start = Instant::now();
    let mut slow = SlowAgg::default();
    // Events left in the ring when the window ends are drained after the detach.
    let target_exited = crate::wait_window(cfg.pid, start, cfg.duration, stop, || {
        drain(&mut ring, &mut slow)
    });
    let window_ns = start.elapsed().as_nanos() as u64;
    let in_flight = read_in_flight(&ebpf, cfg);
    // Detach first so the aggregates stop moving, then read them.
    crate::detach_raw_tracepoints(&mut ebpf, &PROGRAMS);
    drain(&mut ring, &mut slow);
    let syscalls = read_stats(&ebpf)?;
    let drops = read_drops(&ebpf)?;
    Ok(SyscallReport {
        pid: cfg.pid,
        window_ns,
        slow_threshold_ns: cfg.slow_ns,
        syscalls,
        slow_events: slow.events,
        slow_unrecorded: slow.unrecorded,
        slow: slow.finish(sym),
        in_flight,
        slow_dropped: drops[0],
        entries_lost: drops[1],
        target_exited,
    })
}

fn drain(ring: &mut RingBuf<MapData>, agg: &mut SlowAgg) {
    while let Some(item) = ring.next() {
        if let Some(ev) = decode_event(&item) {
            agg.add(ev);
        }
    }
}

/// `struct slow_event` from syscalls.bpf.c: tid u32, nr u32, latency_ns u64, end_ns u64,
/// ret i64, stack_bytes i32, pad u32, stack [u64; 64].
fn decode_event(b: &[u8]) -> Option<SlowEvent> {
    let u32_at = |o: usize| Some(u32::from_ne_bytes(b.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_ne_bytes(b.get(o..o + 8)?.try_into().ok()?));
    let nr = u32_at(4)?;
    let latency_ns = u64_at(8)?;
    let stack_bytes = u32_at(32)? as i32;
    let (pcs, stack_error) = if stack_bytes < 0 {
        (Vec::new(), Some(stack_bytes.saturating_neg()))
    } else {
        let n = (stack_bytes as usize / 8).min(MAX_STACK);
        ((0..n).filter_map(|i| u64_at(40 + 8 * i)).collect(), None)
    };
    Some(SlowEvent {
        nr,
        latency_ns,
        pcs,
        stack_error,
    })
}

fn read_stats(ebpf: &Ebpf) -> Result<Vec<SyscallStat>, ProbeError> {
    let map: PerCpuArray<&MapData, SysStat> = PerCpuArray::try_from(
        ebpf.map("stats")
            .ok_or_else(|| ProbeError::Load("map stats missing".into()))?,
    )
    .map_err(|e| ProbeError::Load(format!("stats: {e}")))?;
    let mut out = Vec::new();
    for nr in 0..MAX_SYSCALLS {
        let per_cpu = map
            .get(&nr, 0)
            .map_err(|e| ProbeError::Load(format!("reading stats[{nr}]: {e}")))?;
        let mut s = SyscallStat {
            nr,
            name: syscall_name(nr),
            count: 0,
            total_ns: 0,
            max_ns: 0,
            hist: vec![0; HIST_SLOTS],
        };
        for v in per_cpu.iter() {
            s.count += v.count;
            s.total_ns += v.total_ns;
            s.max_ns = s.max_ns.max(v.max_ns);
            for (h, x) in s.hist.iter_mut().zip(v.slots.iter()) {
                *h += x;
            }
        }
        if s.count > 0 {
            out.push(s);
        }
    }
    out.sort_by(|a, b| b.total_ns.cmp(&a.total_ns).then(a.nr.cmp(&b.nr)));
    Ok(out)
}

/// Entries of the per-thread start table older than the threshold whose thread is still
/// the target's (a thread that exited inside a syscall leaves a stale entry).
fn read_in_flight(ebpf: &Ebpf, cfg: &Config) -> Vec<InFlight> {
    let Some(map) = ebpf.map("starts") else {
        return Vec::new();
    };
    let Ok(map) = HashMap::<&MapData, u32, Start>::try_from(map) else {
        return Vec::new();
    };
    let now = monotonic_ns();
    let mut out: Vec<InFlight> = map
        .iter()
        .filter_map(Result::ok)
        // ts 0: the thread's entry is kept between its syscalls and it is in none now.
        .filter(|(_, s)| s.ts != 0)
        .filter_map(|(tid, s)| {
            let elapsed_ns = now.checked_sub(s.ts)?;
            let alive = std::path::Path::new(&format!("/proc/{}/task/{tid}", cfg.pid)).exists();
            (elapsed_ns >= cfg.slow_ns && alive && s.nr < u64::from(MAX_SYSCALLS)).then(|| {
                InFlight {
                    tid,
                    nr: s.nr as u32,
                    name: syscall_name(s.nr as u32),
                    elapsed_ns,
                }
            })
        })
        .collect();
    out.sort_by(|a, b| b.elapsed_ns.cmp(&a.elapsed_ns).then(a.tid.cmp(&b.tid)));
    out
}

/// CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns.
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

fn read_drops(ebpf: &Ebpf) -> Result<[u64; 2], ProbeError> {
    let map: PerCpuArray<&MapData, u64> = PerCpuArray::try_from(
        ebpf.map("drops")
            .ok_or_else(|| ProbeError::Load("map drops missing".into()))?,
    )
    .map_err(|e| ProbeError::Load(format!("drops: {e}")))?;
    let mut out = [0u64; 2];
    for (i, slot) in out.iter_mut().enumerate() {
        if let Ok(v) = map.get(&(i as u32), 0) {
            *slot = v.iter().sum();
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_from_the_log2_histogram() {
        let mut hist = vec![0; HIST_SLOTS];
        hist[10] = 98; // ~1 µs
        hist[24] = 2; // ~16 ms
        let s = SyscallStat {
            nr: 0,
            name: "read".into(),
            count: 100,
            total_ns: 0,
            max_ns: 20_000_000,
            hist,
        };
        assert_eq!(s.quantile_ns(0.5), 2048);
        assert_eq!(s.quantile_ns(0.99), 20_000_000); // the slot's bound, capped at the max
        assert_eq!(s.quantile_ns(0.98), 2048);
    }

    #[test]
    fn events_aggregate_per_stack_and_a_short_record_is_skipped() {
        assert!(decode_event(&[0u8; 20]).is_none());
        let mut b = vec![0u8; 40 + 16];
        b[8..16].copy_from_slice(&20_000_000u64.to_ne_bytes());
        b[32..36].copy_from_slice(&16i32.to_ne_bytes());
        b[40..48].copy_from_slice(&0x1234u64.to_ne_bytes());
        let mut agg = SlowAgg::default();
        agg.add(decode_event(&b).unwrap());
        b[8..16].copy_from_slice(&30_000_000u64.to_ne_bytes());
        agg.add(decode_event(&b).unwrap());
        let out = agg.finish(&Symbolizer::empty());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].name, "read");
        assert_eq!(
            (out[0].count, out[0].total_ns, out[0].max_ns),
            (2, 50_000_000, 30_000_000)
        );
        assert_eq!(out[0].frames, vec!["0x1234"], "zero addresses are dropped");
    }

    #[test]
    fn distinct_stacks_are_bounded() {
        let mut agg = SlowAgg::default();
        for i in 0..MAX_STACKS_KEPT as u64 + 5 {
            agg.add(SlowEvent {
                nr: 0,
                latency_ns: 1,
                pcs: vec![i],
                stack_error: None,
            });
        }
        assert_eq!(agg.by_stack.len(), MAX_STACKS_KEPT);
        assert_eq!(
            (agg.events, agg.unrecorded),
            (MAX_STACKS_KEPT as u64 + 5, 5)
        );
    }
}
