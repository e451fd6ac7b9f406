//! Probe 3, run-queue latency (CFS): loads `bpf/runq.bpf.o`, attaches it to the raw
//! tracepoints `sched_wakeup`, `sched_wakeup_new` and `sched_switch` filtered by the
//! target's tgid, and reads the in-kernel histograms of the delay from "queued" (woken, or
//! switched out still runnable) to on-CPU. Around the window it reads what competes for
//! the CPU: the cgroup's `cpu.stat` before and after (throttled periods that grew during
//! the window), `/proc/pressure/cpu`, the load average and GOMAXPROCS against the quota,
//! so the judge ([`crate::judge::judge_runq`]) can name the cause without I/O.
//!
//! The links belong to the `Ebpf` object: detached when it is dropped, and by the kernel
//! when the process dies.

use crate::ProbeError;
use aya::EbpfLoader;
use aya::maps::{MapData, PerCpuArray};
use gorx_analysis::process::ProcessSnapshot;
use serde::Serialize;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// The compiled program (see bpf/build.sh), embedded so gorx needs no clang.
static OBJECT: &[u8] = aya::include_bytes_aligned!("../bpf/runq.bpf.o");

/// Must match runq.bpf.c.
pub const HIST_SLOTS: usize = 40;

/// (program, raw tracepoint).
const PROGRAMS: [(&str, &str); 3] = [
    ("runq_wakeup", "sched_wakeup"),
    ("runq_wakeup_new", "sched_wakeup_new"),
    ("runq_switch", "sched_switch"),
];

#[repr(C)]
#[derive(Clone, Copy)]
struct RawStat {
    count: u64,
    total_ns: u64,
    max_ns: u64,
    slots: [u64; HIST_SLOTS],
}
// SAFETY: plain old data, same layout as `struct runq_stat` in runq.bpf.c.
unsafe impl aya::Pod for RawStat {}

/// Run-queue delays: count, total, max and a log2 histogram.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Delays {
    pub count: u64,
    pub total_ns: u64,
    pub max_ns: u64,
    /// `hist[i]`: delays in [2^i, 2^(i+1)) ns (slot 0 also holds 0 ns).
    pub hist: Vec<u64>,
}

impl Delays {
    pub fn empty() -> Delays {
        Delays {
            hist: vec![0; HIST_SLOTS],
            ..Default::default()
        }
    }

    pub(crate) fn add(&mut self, o: &Delays) {
        self.count += o.count;
        self.total_ns = self.total_ns.saturating_add(o.total_ns);
        self.max_ns = self.max_ns.max(o.max_ns);
        if self.hist.len() < o.hist.len() {
            self.hist.resize(o.hist.len(), 0);
        }
        for (h, x) in self.hist.iter_mut().zip(&o.hist) {
            *h += x;
        }
    }

    /// The delay at quantile `q` (0..=1): the upper bound of the log2 slot holding it,
    /// capped at the max (an over-estimate by at most 2x, as bcc's runqlat reads).
    pub fn quantile_ns(&self, q: f64) -> u64 {
        crate::log2_quantile_ns(&self.hist, self.max_ns, q)
    }

    pub fn mean_ns(&self) -> u64 {
        self.total_ns.checked_div(self.count).unwrap_or(0)
    }
}

/// What competes for the CPU, read around the window (None: not readable here).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct CpuWindow {
    /// The cpu cgroup level whose throttling grew most over the window (leaf first).
    pub cgroup: Option<String>,
    /// CFS periods and throttled periods elapsed during the window at that level.
    pub nr_periods: Option<u64>,
    pub nr_throttled: Option<u64>,
    pub throttled_ns: Option<u64>,
    /// The tightest CPU limit along the chain, in CPUs.
    pub quota_cpus: Option<f64>,
    pub host_pressure_some_avg10: Option<f64>,
    pub host_pressure_some_avg60: Option<f64>,
    pub load1: Option<f64>,
    pub host_cpus: Option<u32>,
    pub gomaxprocs: Option<u32>,
    /// GOMAXPROCS as the process reported it (else predicted from the runtime's rules).
    pub gomaxprocs_observed: bool,
}

impl CpuWindow {
    /// The window's numbers from snapshots taken at its start and end.
    pub fn between(before: &ProcessSnapshot, after: &ProcessSnapshot) -> CpuWindow {
        let mut w = CpuWindow {
            host_pressure_some_avg10: after.host_cpu_pressure.as_ref().map(|p| p.some_avg10),
            host_pressure_some_avg60: after.host_cpu_pressure.as_ref().map(|p| p.some_avg60),
            load1: after.host_loadavg.as_ref().map(|l| l.load1),
            host_cpus: after.host_cpus,
            ..Default::default()
        };
        if let Some(g) = gorx_analysis::process::predicted_gomaxprocs(after) {
            w.gomaxprocs = Some(g.value);
            w.gomaxprocs_observed = g.observed;
        }
        let (Some(b), Some(a)) = (before.cgroup.as_ref(), after.cgroup.as_ref()) else {
            return w;
        };
        w.quota_cpus = a.effective_cpu_limit().map(|(q, _)| q);
        // Per level, the counters' growth; the most throttled level explains the stalls
        // (an ancestor's throttling stalls every descendant).
        let mut best: Option<(f64, &str, u64, u64, Option<u64>)> = None;
        for la in &a.cpu {
            let Some(lb) = b.cpu.iter().find(|l| l.path == la.path) else {
                continue;
            };
            let (Some(pa), Some(pb)) = (la.nr_periods, lb.nr_periods) else {
                continue;
            };
            let periods = pa.saturating_sub(pb);
            let throttled = la
                .nr_throttled
                .unwrap_or(0)
                .saturating_sub(lb.nr_throttled.unwrap_or(0));
            let ns = match (la.throttled_ns, lb.throttled_ns) {
                (Some(x), Some(y)) => Some(x.saturating_sub(y)),
                _ => None,
            };
            let ratio = throttled as f64 / periods.max(1) as f64;
            if best.as_ref().is_none_or(|b| ratio > b.0) {
                best = Some((ratio, &la.path, periods, throttled, ns));
            }
        }
        if let Some((_, path, periods, throttled, ns)) = best {
            w.cgroup = Some(path.to_string());
            w.nr_periods = Some(periods);
            w.nr_throttled = Some(throttled);
            w.throttled_ns = ns;
        }
        w
    }
}

/// What the run-queue probe saw over its window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunqReport {
    pub pid: u32,
    pub window_ns: u64,
    /// Every measured delay (after a wakeup or a preemption).
    pub all: Delays,
    /// Delays of threads that were woken (sched_wakeup, sched_wakeup_new).
    pub after_wakeup: Delays,
    /// Delays of threads switched out while still runnable: involuntary preemptions
    /// (end of slice, a higher-priority task, the cgroup's quota running out).
    pub after_preemption: Delays,
    /// Queue entries not timed because the per-thread table was full.
    pub entries_lost: u64,
    pub cpu: CpuWindow,
    /// The target exited before the window ended.
    pub target_exited: bool,
}

/// The target and the window (one for every probe of a run).
pub use crate::Window as Config;

fn snapshot(pid: u32) -> Option<ProcessSnapshot> {
    let go = gorx_live::proc::go_binary(pid).ok().flatten();
    gorx_live::proc::snapshot(pid, go.as_ref()).ok()
}

/// Attach, wait for the window (or `stop`, or the target's exit), collect, detach.
pub fn run(cfg: &Config, stop: &AtomicBool) -> Result<RunqReport, ProbeError> {
    let mut ebpf = EbpfLoader::new()
        .override_global("target_tgid", &cfg.pid, true)
        .load(OBJECT)
        .map_err(ProbeError::load)?;
    crate::attach_raw_tracepoints(&mut ebpf, &PROGRAMS)?;
    let before = snapshot(cfg.pid);
    let start = Instant::now();
    let target_exited = crate::wait_window(cfg.pid, start, cfg.duration, stop, || {});
    let window_ns = start.elapsed().as_nanos() as u64;
    let after = if target_exited {
        None
    } else {
        snapshot(cfg.pid)
    };
    // Detach first so the aggregates stop moving, then read them.
    crate::detach_raw_tracepoints(&mut ebpf, &PROGRAMS);
    let stats: PerCpuArray<&MapData, RawStat> = PerCpuArray::try_from(
        ebpf.map("stats")
            .ok_or_else(|| ProbeError::Load("map stats missing".into()))?,
    )
    .map_err(|e| ProbeError::Load(format!("stats: {e}")))?;
    let mut kinds = [Delays::empty(), Delays::empty()];
    for (i, d) in kinds.iter_mut().enumerate() {
        let per_cpu = stats
            .get(&(i as u32), 0)
            .map_err(|e| ProbeError::Load(format!("reading stats[{i}]: {e}")))?;
        for v in per_cpu.iter() {
            d.add(&Delays {
                count: v.count,
                total_ns: v.total_ns,
                max_ns: v.max_ns,
                hist: v.slots.to_vec(),
            });
        }
    }
    let drops: PerCpuArray<&MapData, u64> = PerCpuArray::try_from(
        ebpf.map("drops")
            .ok_or_else(|| ProbeError::Load("map drops missing".into()))?,
    )
    .map_err(|e| ProbeError::Load(format!("drops: {e}")))?;
    let entries_lost = drops.get(&0, 0).map(|v| v.iter().sum()).unwrap_or(0);
    let [after_wakeup, after_preemption] = kinds;
    let mut all = Delays::empty();
    all.add(&after_wakeup);
    all.add(&after_preemption);
    let cpu = match (&before, &after) {
        (Some(b), Some(a)) => CpuWindow::between(b, a),
        (Some(b), None) => CpuWindow::between(b, b),
        _ => CpuWindow::default(),
    };
    Ok(RunqReport {
        pid: cfg.pid,
        window_ns,
        all,
        after_wakeup,
        after_preemption,
        entries_lost,
        cpu,
        target_exited,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gorx_formats::cgroup::{CgroupChain, CpuLevel};

    #[test]
    fn quantiles_and_merging() {
        let mut a = Delays::empty();
        a.count = 98;
        a.hist[12] = 98; // ~4 µs
        a.max_ns = 7000;
        let mut b = Delays::empty();
        b.count = 2;
        b.hist[26] = 2; // ~64 ms
        b.max_ns = 90_000_000;
        let mut all = Delays::empty();
        all.add(&a);
        all.add(&b);
        assert_eq!(all.count, 100);
        assert_eq!(all.quantile_ns(0.5), 8192);
        assert_eq!(all.quantile_ns(0.99), 90_000_000);
        assert_eq!(all.quantile_ns(0.98), 8192);
        assert_eq!(Delays::empty().quantile_ns(0.99), 0);
    }

    fn level(path: &str, quota: Option<u64>, periods: u64, throttled: u64) -> CpuLevel {
        CpuLevel {
            path: path.into(),
            quota_us: quota,
            period_us: Some(100_000),
            nr_periods: Some(periods),
            nr_throttled: Some(throttled),
            throttled_ns: Some(throttled * 1_000_000),
        }
    }

    fn snap(levels: Vec<CpuLevel>) -> ProcessSnapshot {
        ProcessSnapshot {
            cgroup: Some(CgroupChain {
                cpu: levels,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn throttling_is_what_grew_during_the_window_at_the_most_throttled_level() {
        // The leaf was throttled long ago (1000 periods) but not in the window; the
        // parent's quota bit 30 of 50 periods during it.
        let before = snap(vec![
            level("/svc/app", None, 5000, 1000),
            level("/svc", Some(20_000), 9000, 10),
        ]);
        let after = snap(vec![
            level("/svc/app", None, 5050, 1000),
            level("/svc", Some(20_000), 9050, 40),
        ]);
        let w = CpuWindow::between(&before, &after);
        assert_eq!(w.cgroup.as_deref(), Some("/svc"));
        assert_eq!((w.nr_periods, w.nr_throttled), (Some(50), Some(30)));
        assert_eq!(w.throttled_ns, Some(30_000_000));
        assert_eq!(w.quota_cpus, Some(0.2));
    }
}
