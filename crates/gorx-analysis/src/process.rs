//! Findings about a live process (or a snapshot of one kept in a capture bundle):
//! fd exhaustion, RSS the Go runtime does not account for, cgroup memory and CPU pressure,
//! a missing GOMEMLIMIT and a GOMAXPROCS that disagrees with the CPU quota.
//!
//! Pure: everything comes from a [`ProcessSnapshot`]; gorx-live fills it from /proc,
//! cgroupfs and the runtime's HTTP endpoints.

use crate::finding::{Evidence, Finding, Severity};
use crate::thresholds as t;
use gorx_formats::cgroup::CgroupChain;
use gorx_formats::memstats::MemStats;
use gorx_formats::procfs::{FdBreakdown, GoEnv, SmapsRollup, Status};
use serde::Serialize;
use serde_json::json;

/// What the Go runtime says about its own memory (`runtime.MemStats`, from
/// `/debug/vars` or the trailer of `heap?debug=1`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuntimeMemory {
    pub sys_bytes: u64,
    pub heap_alloc_bytes: u64,
    pub heap_sys_bytes: u64,
    pub heap_idle_bytes: u64,
    pub heap_inuse_bytes: u64,
    pub heap_released_bytes: u64,
    pub stack_inuse_bytes: u64,
    pub stack_sys_bytes: u64,
    pub mspan_sys_bytes: u64,
    pub mcache_sys_bytes: u64,
    pub buck_hash_sys_bytes: u64,
    pub gc_sys_bytes: u64,
    pub other_sys_bytes: u64,
    pub next_gc_bytes: u64,
    pub num_gc: u64,
}

impl RuntimeMemory {
    /// Memory the runtime has mapped and not returned: an upper bound on its share of RSS.
    pub fn accounted_bytes(&self) -> u64 {
        self.sys_bytes.saturating_sub(self.heap_released_bytes)
    }
    /// Span, cache, profiling-bucket, GC and other runtime metadata.
    pub fn metadata_bytes(&self) -> u64 {
        [
            self.mcache_sys_bytes,
            self.buck_hash_sys_bytes,
            self.gc_sys_bytes,
            self.other_sys_bytes,
        ]
        .into_iter()
        .fold(self.mspan_sys_bytes, u64::saturating_add)
    }
    /// Heap pages the runtime holds idle and has not yet returned to the OS.
    pub fn idle_not_released_bytes(&self) -> u64 {
        self.heap_idle_bytes
            .saturating_sub(self.heap_released_bytes)
    }
}

/// Both MemStats sources (the heap profile's trailer, expvar) parse into this type.
impl From<&MemStats> for RuntimeMemory {
    fn from(m: &MemStats) -> Self {
        RuntimeMemory {
            sys_bytes: m.sys,
            heap_alloc_bytes: m.heap_alloc,
            heap_sys_bytes: m.heap_sys,
            heap_idle_bytes: m.heap_idle,
            heap_inuse_bytes: m.heap_inuse,
            heap_released_bytes: m.heap_released,
            stack_inuse_bytes: m.stack_inuse,
            stack_sys_bytes: m.stack_sys,
            mspan_sys_bytes: m.mspan_sys,
            mcache_sys_bytes: m.mcache_sys,
            buck_hash_sys_bytes: m.buck_hash_sys,
            gc_sys_bytes: m.gc_sys,
            other_sys_bytes: m.other_sys,
            next_gc_bytes: m.next_gc,
            num_gc: m.num_gc,
        }
    }
}

/// Everything gorx knows about one process at one instant. Fields are `None` when they
/// could not be read; `missing` says what and why.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProcessSnapshot {
    pub pid: u32,
    pub command: String,
    /// Runtime version from the binary, e.g. `go1.26.8`.
    pub go_version: Option<String>,
    /// The binary's `DefaultGODEBUG` build setting (set when go.mod's go line is older
    /// than the toolchain, e.g. `containermaxprocs=0`).
    pub default_godebug: Option<String>,
    pub status: Option<Status>,
    pub smaps: Option<SmapsRollup>,
    pub nofile_soft: Option<u64>,
    pub nofile_hard: Option<u64>,
    pub fds: Option<FdBreakdown>,
    pub env: Option<GoEnv>,
    pub cgroup: Option<CgroupChain>,
    /// Online CPUs of the host (`/sys/devices/system/cpu/online`).
    pub host_cpus: Option<u32>,
    pub runtime: Option<RuntimeMemory>,
    /// GOMAXPROCS as the process reports it (e.g. /metrics), when available.
    pub gomaxprocs_observed: Option<u32>,
    /// The memory limit the runtime reports (`go_gc_gomemlimit_bytes`): `Some(None)` when
    /// it reports none. Wins over the environment (debug.SetMemoryLimit overrides it).
    pub gomemlimit_observed_bytes: Option<Option<u64>>,
    /// Process start, Unix seconds (`process_start_time_seconds`), when known.
    pub start_time_s: Option<f64>,
    /// The host's CPU pressure (`/proc/pressure/cpu`); None on kernels without PSI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_cpu_pressure: Option<gorx_formats::procfs::CpuPressure>,
    /// The host's load averages (`/proc/loadavg`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_loadavg: Option<gorx_formats::procfs::LoadAvg>,
    /// Time on CPU and waiting on a run queue, summed over the process's threads
    /// (`/proc/PID/task/*/schedstat`, cumulative since each thread started).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedstat: Option<gorx_formats::procfs::SchedStat>,
    /// The largest anonymous mappings (from /proc/PID/smaps), largest first; read by
    /// `inspect` to say where unaccounted memory lives.
    pub top_anon_mappings: Vec<gorx_formats::procfs::Mapping>,
    /// What could not be read, e.g. `"/proc/42/environ: Permission denied"`.
    pub missing: Vec<String>,
}

/// Where the Go runtime places heap arenas on 64-bit Linux: hints from 0x00c0<<32 upward
/// (runtime/malloc.go, mallocinit). Anonymous memory elsewhere is not Go heap.
pub fn in_go_arena_range(addr: u64) -> bool {
    (0x00c0_0000_0000..0x01c0_0000_0000).contains(&addr)
}

/// A mapping for evidence: `7f1200000000-7f1210000000 rw-p 256 MiB anon [outside Go arenas]`.
pub fn describe_mapping(m: &gorx_formats::procfs::Mapping) -> String {
    format!(
        "{:x}-{:x} {} {} anon{}{}",
        m.start,
        m.end,
        m.perms,
        mib(m.anonymous_bytes),
        if m.path.is_empty() {
            String::new()
        } else {
            format!(" {}", m.path)
        },
        if in_go_arena_range(m.start) {
            " (Go heap arena)"
        } else {
            ""
        }
    )
}

impl ProcessSnapshot {
    /// Anonymous RSS: smaps_rollup `Anonymous`, else status `RssAnon`.
    pub fn rss_anon_bytes(&self) -> Option<u64> {
        self.smaps
            .as_ref()
            .and_then(|s| s.anonymous_bytes())
            .or_else(|| self.status.as_ref()?.rss_anon_bytes)
    }
    pub fn rss_bytes(&self) -> Option<u64> {
        self.status
            .as_ref()
            .and_then(|s| s.vm_rss_bytes)
            .or_else(|| self.smaps.as_ref()?.rss_bytes())
    }
    fn proc_path(&self, file: &str) -> String {
        format!("/proc/{}/{}", self.pid, file)
    }
    /// Anonymous RSS minus Go's accounted memory, when both are known.
    pub fn unaccounted_bytes(&self) -> Option<u64> {
        let rt = self.runtime.as_ref()?;
        Some(self.rss_anon_bytes()?.saturating_sub(rt.accounted_bytes()))
    }
}

/// The ids [`analyze`] judges. A live snapshot judges them from /proc directly, so a
/// caller that also diagnoses fetched artifacts (whose /metrics rebuild a coarser
/// snapshot: total RSS, a bare fd count) keeps the live verdict for these.
pub const SNAPSHOT_FINDING_IDS: &[&str] = &[
    "fd.near-limit",
    "memory.rss-gap",
    "cgroup.memory-near-limit",
    "cgroup.cpu-throttled",
    "config.memlimit-missing",
    "sched.gomaxprocs-mismatch",
    "sched.cpu-starved",
];

/// Every process finding the snapshot supports.
pub fn analyze(s: &ProcessSnapshot) -> Vec<Finding> {
    [
        fd_near_limit(s),
        rss_gap(s),
        cgroup_memory_near_limit(s),
        cgroup_cpu_throttled(s),
        memlimit_missing(s),
        gomaxprocs_mismatch(s),
        cpu_starved(s),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn finding(
    id: &'static str,
    severity: Severity,
    title: String,
    evidence: Evidence,
    recommendation: String,
    sources: Vec<String>,
) -> Finding {
    Finding {
        id,
        severity,
        title,
        evidence,
        recommendation,
        sources,
        sites: Vec::new(),
    }
}

fn mib(b: u64) -> String {
    format!("{:.0} MiB", b as f64 / (1u64 << 20) as f64)
}

/// fd.near-limit: open fds against RLIMIT_NOFILE's soft limit.
pub fn fd_near_limit(s: &ProcessSnapshot) -> Option<Finding> {
    let fds = s.fds.as_ref()?;
    let limit = s.nofile_soft.filter(|&l| l > 0)?;
    let ratio = fds.total as f64 / limit as f64;
    let severity = if ratio >= t::FD_NEAR_LIMIT_CRITICAL_RATIO {
        Severity::Critical
    } else if ratio >= t::FD_NEAR_LIMIT_WARNING_RATIO {
        Severity::Warning
    } else {
        return None;
    };
    let mut ev = Evidence::new();
    ev.insert("open_fds".into(), json!(fds.total));
    ev.insert("nofile_soft_limit".into(), json!(limit));
    if let Some(h) = s.nofile_hard {
        ev.insert("nofile_hard_limit".into(), json!(h));
    }
    ev.insert("used_percent".into(), json!(ratio * 100.0));
    for (kind, n) in &fds.by_kind {
        ev.insert(format!("fds_{}", kind.as_str()), json!(n));
    }
    // A bare count (process_open_fds) has no kinds.
    let top = fds
        .by_kind
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(k, n)| (k.as_str(), *n));
    let (most, what) = match top {
        Some((kind, n)) => (format!("; most are {kind} ({n})"), format!("{kind} fds")),
        None => (String::new(), "the fds".to_string()),
    };
    let watch = if s.pid > 0 {
        format!("`gorx watch {}`", s.pid)
    } else {
        "`gorx watch PID`".to_string()
    };
    Some(finding(
        "fd.near-limit",
        severity,
        format!(
            "{} of {} file descriptors open ({:.0}% of RLIMIT_NOFILE){most}",
            fds.total,
            limit,
            ratio * 100.0,
        ),
        ev,
        format!(
            "Find what keeps {what} open (a missing Close, resp.Body not closed, \
             connections not reused); raise the soft limit (ulimit -n / LimitNOFILE) only once \
             the count is stable. Watch it with {watch}."
        ),
        vec![s.proc_path("fd"), s.proc_path("limits")],
    ))
}

/// memory.rss-gap: anonymous RSS far above what the Go runtime accounts for.
pub fn rss_gap(s: &ProcessSnapshot) -> Option<Finding> {
    let rt = s.runtime.as_ref()?;
    // Total RSS (process_resident_memory_bytes) also counts file-backed pages (the
    // binary's text), so it overstates the gap by a few MiB; the minimum absorbs that.
    let (anon, basis) = match s.rss_anon_bytes() {
        Some(a) => (a, "anonymous RSS"),
        None => (s.rss_bytes()?, "RSS"),
    };
    let accounted = rt.accounted_bytes();
    let gap = anon.saturating_sub(accounted);
    if gap < t::RSS_GAP_MIN_BYTES || anon == 0 {
        return None;
    }
    let ratio = gap as f64 / anon as f64;
    let severity = if ratio >= t::RSS_GAP_CRITICAL_RATIO {
        Severity::Critical
    } else if ratio >= t::RSS_GAP_WARNING_RATIO {
        Severity::Warning
    } else {
        return None;
    };
    let mut ev = Evidence::new();
    if basis == "RSS" {
        ev.insert(
            "rss_basis".into(),
            json!("total RSS (anonymous RSS unknown; includes file-backed pages)"),
        );
    } else {
        ev.insert("rss_anon_bytes".into(), json!(anon));
    }
    if let Some(rss) = s.rss_bytes() {
        ev.insert("rss_bytes".into(), json!(rss));
    }
    ev.insert("go_sys_bytes".into(), json!(rt.sys_bytes));
    ev.insert(
        "go_heap_released_bytes".into(),
        json!(rt.heap_released_bytes),
    );
    ev.insert("go_accounted_bytes".into(), json!(accounted));
    ev.insert("go_heap_inuse_bytes".into(), json!(rt.heap_inuse_bytes));
    ev.insert(
        "go_heap_idle_not_released_bytes".into(),
        json!(rt.idle_not_released_bytes()),
    );
    ev.insert("go_stack_sys_bytes".into(), json!(rt.stack_sys_bytes));
    ev.insert(
        "go_runtime_metadata_bytes".into(),
        json!(rt.metadata_bytes()),
    );
    ev.insert("unaccounted_bytes".into(), json!(gap));
    ev.insert("unaccounted_percent".into(), json!(ratio * 100.0));
    let outside: Vec<&gorx_formats::procfs::Mapping> = s
        .top_anon_mappings
        .iter()
        .filter(|m| !in_go_arena_range(m.start))
        .collect();
    if !outside.is_empty() {
        ev.insert(
            "largest_non_heap_anon_mappings".into(),
            json!(
                outside
                    .iter()
                    .map(|m| describe_mapping(m))
                    .collect::<Vec<_>>()
            ),
        );
        ev.insert(
            "non_heap_anon_in_largest_mappings_bytes".into(),
            json!(outside.iter().map(|m| m.anonymous_bytes).sum::<u64>()),
        );
    }
    Some(finding(
        "memory.rss-gap",
        severity,
        format!(
            "{} of {} {basis} ({:.0}%) is outside the Go runtime's accounting",
            mib(gap),
            mib(anon),
            ratio * 100.0
        ),
        ev,
        "The Go heap profile cannot show this memory. Look for cgo allocations (C malloc, \
         e.g. sqlite/zstd/librdkafka), syscall.Mmap or unix.Mmap regions and off-heap \
         buffers; compare /proc/PID/smaps mappings by size. GOMEMLIMIT does not bound it, \
         so subtract it from the container limit when sizing GOMEMLIMIT."
            .to_string(),
        vec![s.proc_path("smaps_rollup"), "runtime.MemStats".to_string()],
    ))
}

/// cgroup.memory-near-limit: working set near the tightest memory.max, or OOM kills.
pub fn cgroup_memory_near_limit(s: &ProcessSnapshot) -> Option<Finding> {
    let chain = s.cgroup.as_ref()?;
    let oom = chain.oom_kills();
    let lim = chain.effective_memory_limit();
    let (ratio, lvl) = match lim {
        Some(l) => (
            l.working_set_bytes()
                .map(|ws| ws as f64 / l.max_bytes.unwrap_or(u64::MAX) as f64),
            Some(l),
        ),
        None => (None, None),
    };
    let mut severity = match ratio {
        Some(r) if r >= t::CGROUP_MEMORY_CRITICAL_RATIO => Some(Severity::Critical),
        Some(r) if r >= t::CGROUP_MEMORY_WARNING_RATIO => Some(Severity::Warning),
        _ => None,
    };
    if oom > 0 {
        severity = Some(Severity::Critical);
    }
    let severity = severity?;
    let mut ev = Evidence::new();
    if let Some(l) = lvl {
        ev.insert("cgroup_path".into(), json!(l.path));
        ev.insert("memory_limit_bytes".into(), json!(l.max_bytes));
        ev.insert("memory_usage_bytes".into(), json!(l.current_bytes));
        ev.insert(
            "memory_working_set_bytes".into(),
            json!(l.working_set_bytes()),
        );
        if let Some(r) = ratio {
            ev.insert("working_set_percent".into(), json!(r * 100.0));
        }
    }
    ev.insert("oom_kills".into(), json!(oom));
    let title = match (ratio, lvl) {
        (Some(r), Some(l)) => format!(
            "cgroup memory working set at {:.0}% of the {} limit set on {}{}",
            r * 100.0,
            mib(l.max_bytes.unwrap_or(0)),
            l.path,
            if oom > 0 {
                format!("; {oom} OOM kill(s) recorded")
            } else {
                String::new()
            }
        ),
        _ => format!("{oom} OOM kill(s) recorded in the process's cgroup chain"),
    };
    Some(finding(
        "cgroup.memory-near-limit",
        severity,
        title,
        ev,
        "Set GOMEMLIMIT below the cgroup limit so the GC works harder before the kernel \
         OOM-kills (see config.memlimit-missing), reduce the live heap, or raise the limit."
            .to_string(),
        vec!["cgroup memory controller".to_string()],
    ))
}

/// cgroup.cpu-throttled: CFS throttling along the cpu chain.
pub fn cgroup_cpu_throttled(s: &ProcessSnapshot) -> Option<Finding> {
    let chain = s.cgroup.as_ref()?;
    // The most throttled level (throttling of an ancestor stalls every descendant).
    let (lvl, ratio) = chain
        .cpu
        .iter()
        .filter_map(|l| {
            let p = l.nr_periods?;
            let th = l.nr_throttled?;
            (p >= t::CGROUP_THROTTLED_MIN_PERIODS).then(|| (l, th as f64 / p as f64))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let severity = if ratio >= t::CGROUP_THROTTLED_CRITICAL_RATIO {
        Severity::Critical
    } else if ratio >= t::CGROUP_THROTTLED_WARNING_RATIO {
        Severity::Warning
    } else {
        return None;
    };
    let mut ev = Evidence::new();
    ev.insert("cgroup_path".into(), json!(lvl.path));
    ev.insert("nr_periods".into(), json!(lvl.nr_periods));
    ev.insert("nr_throttled".into(), json!(lvl.nr_throttled));
    ev.insert("throttled_periods_percent".into(), json!(ratio * 100.0));
    if let Some(ns) = lvl.throttled_ns {
        ev.insert("throttled_ns".into(), json!(ns));
    }
    if let Some((cpus, l)) = chain.effective_cpu_limit() {
        ev.insert("cpu_limit_cpus".into(), json!(cpus));
        ev.insert("cpu_limit_cgroup_path".into(), json!(l.path));
    }
    let gmp = predicted_gomaxprocs(s);
    if let Some(g) = &gmp {
        ev.insert("gomaxprocs".into(), json!(g.value));
    }
    Some(finding(
        "cgroup.cpu-throttled",
        severity,
        format!(
            "CPU throttled in {:.0}% of CFS periods ({} of {}) in {}",
            ratio * 100.0,
            lvl.nr_throttled.unwrap_or(0),
            lvl.nr_periods.unwrap_or(0),
            lvl.path
        ),
        ev,
        "The cgroup uses its whole CPU quota and then stalls until the next period. Make \
         GOMAXPROCS no larger than the quota (see sched.gomaxprocs-mismatch), cut CPU use \
         (GC: raise GOGC or set GOMEMLIMIT), or raise the CPU limit."
            .to_string(),
        vec!["cgroup cpu controller (cpu.stat)".to_string()],
    ))
}

/// The GOMEMLIMIT gorx recommends for a memory limit and the memory Go does not manage:
/// `GOMEMLIMIT_LIMIT_RATIO × limit − non_go_bytes`, never below
/// `GOMEMLIMIT_MIN_LIMIT_RATIO × limit`, rounded down to a MiB.
pub fn recommended_gomemlimit_bytes(limit_bytes: u64, non_go_bytes: u64) -> u64 {
    let target = (limit_bytes as f64 * t::GOMEMLIMIT_LIMIT_RATIO) - non_go_bytes as f64;
    let floor = limit_bytes as f64 * t::GOMEMLIMIT_MIN_LIMIT_RATIO;
    let v = target.max(floor) as u64;
    v / (1 << 20) * (1 << 20)
}

/// config.memlimit-missing: a container memory limit with GOMEMLIMIT unset or above it.
pub fn memlimit_missing(s: &ProcessSnapshot) -> Option<Finding> {
    let chain = s.cgroup.as_ref()?;
    let lvl = chain.effective_memory_limit()?;
    let limit = lvl.max_bytes?;
    // What the runtime reports wins over the environment; either is needed to judge.
    let current = match (s.gomemlimit_observed_bytes, s.env.as_ref()) {
        (Some(observed), _) => observed,
        (None, Some(env)) => env.gomemlimit_bytes().ok().flatten(),
        (None, None) => return None,
    };
    if current.is_some_and(|c| c < limit) {
        return None;
    }
    let non_go = s.unaccounted_bytes().unwrap_or(0);
    let rec = recommended_gomemlimit_bytes(limit, non_go);
    let mut ev = Evidence::new();
    ev.insert("memory_limit_bytes".into(), json!(limit));
    ev.insert("cgroup_path".into(), json!(lvl.path));
    ev.insert(
        "gomemlimit".into(),
        json!(
            s.env
                .as_ref()
                .and_then(|e| e.gomemlimit.clone())
                .unwrap_or_else(|| "unset".into())
        ),
    );
    if let Some(observed) = s.gomemlimit_observed_bytes {
        ev.insert("gomemlimit_reported_bytes".into(), json!(observed));
    }
    ev.insert("non_go_rss_bytes".into(), json!(non_go));
    ev.insert("recommended_gomemlimit_bytes".into(), json!(rec));
    let how = if s.runtime.is_some() {
        format!(
            "{:.0}% of the limit minus {} of RSS the Go runtime does not manage",
            t::GOMEMLIMIT_LIMIT_RATIO * 100.0,
            mib(non_go)
        )
    } else {
        format!(
            "{:.0}% of the limit; runtime stats were not available, so non-Go memory \
             (cgo, mmap) is not subtracted (pass --pprof to include it)",
            t::GOMEMLIMIT_LIMIT_RATIO * 100.0
        )
    };
    let title = match current {
        Some(c) => format!(
            "GOMEMLIMIT ({}) is not below the cgroup memory limit ({})",
            mib(c),
            mib(limit)
        ),
        None => format!(
            "cgroup memory limit {} on {} but GOMEMLIMIT is unset",
            mib(limit),
            lvl.path
        ),
    };
    Some(finding(
        "config.memlimit-missing",
        Severity::Warning,
        title,
        ev,
        format!(
            "Set GOMEMLIMIT={}MiB ({how}). The GC then works harder as the heap nears the \
             limit instead of the kernel OOM-killing the process.",
            rec >> 20
        ),
        vec![
            s.proc_path("environ"),
            "cgroup memory controller".to_string(),
        ],
    ))
}

/// GOMAXPROCS as the runtime will have chosen it, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GomaxprocsPrediction {
    pub value: u32,
    pub reason: String,
    /// True when the process reported the value itself (/metrics, expvar); false when
    /// it is predicted from the environment, the Go version and the cgroup, which the
    /// program can override with `runtime.GOMAXPROCS(n)`.
    pub observed: bool,
}

impl GomaxprocsPrediction {
    /// `4 (observed: reported by the process)` or `2 predicted (from …; not observed)`.
    pub fn describe(&self) -> String {
        if self.observed {
            format!("{} (observed: {})", self.value, self.reason)
        } else {
            format!(
                "{} predicted from {} (not observed: the program may set it itself with \
                 runtime.GOMAXPROCS; /metrics go_sched_gomaxprocs_threads would show it)",
                self.value, self.reason
            )
        }
    }
}

/// What GOMAXPROCS the process runs with, following the runtime's rules: an explicit
/// `GOMAXPROCS` env wins; Go ≥ 1.25 (unless `containermaxprocs=0` in GODEBUG or the
/// binary's DefaultGODEBUG) uses min(CPUs allowed, max(2, ceil(leaf cgroup quota/period)))
/// (runtime/cgroup_linux.go: only the leaf cgroup is read); older Go uses the CPUs allowed.
pub fn predicted_gomaxprocs(s: &ProcessSnapshot) -> Option<GomaxprocsPrediction> {
    if let Some(n) = s.gomaxprocs_observed {
        return Some(GomaxprocsPrediction {
            value: n,
            reason: "reported by the process".into(),
            observed: true,
        });
    }
    if let Some(n) = s.env.as_ref().and_then(|e| e.gomaxprocs_value()) {
        return Some(GomaxprocsPrediction {
            value: n,
            reason: "the GOMAXPROCS environment variable".into(),
            observed: false,
        });
    }
    let cpus = s
        .status
        .as_ref()
        .and_then(|st| st.cpus_allowed)
        .or(s.host_cpus)?;
    // Without a Go version there is no runtime rule to apply (not Go, or unreadable).
    let minor = s.go_version.as_deref().and_then(parse_minor)?;
    let godebug_off = s
        .env
        .as_ref()
        .and_then(|e| e.godebug_setting("containermaxprocs"))
        .or_else(|| {
            s.default_godebug
                .as_deref()
                .and_then(|d| gorx_formats::procfs::godebug_lookup(d, "containermaxprocs"))
        })
        == Some("0");
    if minor >= (1, 25) && !godebug_off {
        if let Some(limit) = s.cgroup.as_ref().and_then(|c| c.leaf_cpu_limit()) {
            let cg = (limit.ceil() as u32).max(2);
            if cg < cpus {
                return Some(GomaxprocsPrediction {
                    value: cg,
                    reason: format!(
                        "Go ≥ 1.25 default: leaf cgroup CPU limit {limit:.2} rounded up (min 2)"
                    ),
                    observed: false,
                });
            }
        }
        return Some(GomaxprocsPrediction {
            value: cpus,
            reason: "Go ≥ 1.25 default: CPUs allowed (no tighter leaf cgroup limit)".into(),
            observed: false,
        });
    }
    Some(GomaxprocsPrediction {
        value: cpus,
        reason: if minor >= (1, 25) {
            "containermaxprocs=0: CPUs allowed, cgroup ignored".into()
        } else {
            "Go < 1.25 default: CPUs allowed, cgroup ignored".into()
        },
        observed: false,
    })
}

fn parse_minor(v: &str) -> Option<(u32, u32)> {
    let i = v.find("go1.")?;
    let mut parts = v[i + 2..].split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// sched.gomaxprocs-mismatch: GOMAXPROCS above the tightest CPU quota of the chain.
pub fn gomaxprocs_mismatch(s: &ProcessSnapshot) -> Option<Finding> {
    let chain = s.cgroup.as_ref()?;
    let (limit, lvl) = chain.effective_cpu_limit()?;
    let pred = predicted_gomaxprocs(s)?;
    let quota_procs = (limit.ceil() as u32).max(1);
    // Go itself never picks fewer than 2 from a quota; do not flag its own floor.
    if pred.value <= quota_procs.max(2) {
        return None;
    }
    let leaf_is_tightest = chain.cpu.first().is_some_and(|l| l.path == lvl.path);
    let mut ev = Evidence::new();
    ev.insert("gomaxprocs".into(), json!(pred.value));
    ev.insert("gomaxprocs_source".into(), json!(pred.reason));
    ev.insert("gomaxprocs_observed".into(), json!(pred.observed));
    ev.insert("cpu_limit_cpus".into(), json!(limit));
    ev.insert("cpu_limit_cgroup_path".into(), json!(lvl.path));
    if let Some(v) = &s.go_version {
        ev.insert("go_version".into(), json!(v));
    }
    let why = if !leaf_is_tightest {
        "the tightest quota is on an ancestor cgroup, which Go ≥ 1.25 does not read (it reads only the leaf)"
    } else if s.go_version.as_deref().and_then(parse_minor) < Some((1, 25)) {
        "Go before 1.25 sizes GOMAXPROCS from the host CPUs, ignoring the quota"
    } else {
        "GOMAXPROCS was set explicitly or containermaxprocs=0"
    };
    Some(finding(
        "sched.gomaxprocs-mismatch",
        Severity::Warning,
        format!(
            "GOMAXPROCS {}{} exceeds the CPU quota of {:.2} CPUs on {}",
            pred.value,
            if pred.observed { "" } else { " (predicted)" },
            limit,
            lvl.path
        ),
        ev,
        format!(
            "Set GOMAXPROCS={} ({why}); running more Ps than the quota burns it early in each \
             period and then throttles (tail latency, GC stalls). Go ≥ 1.25 sets this \
             itself when the limit is on the process's own cgroup.",
            quota_procs.max(2)
        ),
        vec![s.proc_path("environ"), "cgroup cpu controller".to_string()],
    ))
}

/// gc.heap-growth from a watch window: the heap in use after each GC (the lowest value
/// of each slice of the window) rises from slice to slice, by enough, over enough GC
/// cycles, and not levelling off. Needs the runtime fields (any source).
pub fn heap_trend(w: &[Sample], src: &dyn Fn() -> Vec<String>) -> Option<Finding> {
    let v: Vec<(u64, u64, Option<u64>, Option<u64>)> = w
        .iter()
        .filter_map(|s| Some((s.t_ms, s.heap_inuse_bytes?, s.num_gc, s.next_gc_bytes)))
        .collect();
    if v.len() < t::TREND_MIN_SAMPLES.max(t::HEAP_TREND_SEGMENTS * 2) {
        return None;
    }
    let (t0, t1) = (v[0].0, v[v.len() - 1].0);
    let secs = t1.saturating_sub(t0) as f64 / 1000.0;
    if secs < t::HEAP_TREND_MIN_WINDOW_S {
        return None;
    }
    let cycles = match (v[0].2, v[v.len() - 1].2) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => return None,
    };
    if cycles < t::HEAP_TREND_MIN_GC_CYCLES {
        return None;
    }
    let n = t::HEAP_TREND_SEGMENTS;
    let span = t1 - t0;
    let mut floors = vec![u64::MAX; n];
    for &(tm, inuse, _, _) in &v {
        let k = (((tm - t0) as u128 * n as u128) / (span as u128 + 1)) as usize;
        floors[k.min(n - 1)] = floors[k.min(n - 1)].min(inuse);
    }
    if floors.contains(&u64::MAX) || floors.windows(2).any(|p| p[1] <= p[0]) {
        return None;
    }
    let (first, last) = (floors[0], floors[n - 1]);
    let growth = last - first;
    if growth < t::HEAP_TREND_MIN_GROWTH_BYTES
        || (growth as f64) < first as f64 * t::HEAP_TREND_MIN_GROWTH_RATIO
    {
        return None;
    }
    let late = last - floors[n / 2 - 1].min(last);
    if (late as f64) < growth as f64 * t::HEAP_TREND_MIN_LATE_SHARE {
        return None;
    }
    let rate = growth as f64 / secs;
    let mut ev = Evidence::new();
    ev.insert("heap_inuse_floor_start_bytes".into(), json!(first));
    ev.insert("heap_inuse_floor_end_bytes".into(), json!(last));
    ev.insert("heap_inuse_floors_bytes".into(), json!(floors));
    ev.insert("growth_bytes_per_s".into(), json!(rate.round() as u64));
    ev.insert("gc_cycles".into(), json!(cycles));
    ev.insert("window_s".into(), json!(secs));
    if let (Some(a), Some(b)) = (v[0].3, v[v.len() - 1].3) {
        ev.insert("next_gc_start_bytes".into(), json!(a));
        ev.insert("next_gc_end_bytes".into(), json!(b));
    }
    if let Some(s) = w.iter().rev().find_map(|s| s.runtime_source) {
        ev.insert("runtime_source".into(), json!(s));
    }
    Some(finding(
        "gc.heap-growth",
        Severity::Warning,
        format!(
            "Go heap in use after GC kept rising: {} → {} in {secs:.0} s ({:.2} MiB/s over {cycles} GC cycles)",
            mib(first),
            mib(last),
            rate / (1u64 << 20) as f64
        ),
        ev,
        "A leak suspect: something keeps references alive. The capture holds two heap \
         profiles (heap.base.pb.gz from the window's start, heap.pb.gz at the trigger); \
         their in-use difference names the growing site (`gorx pprof top --base \
         heap.base.pb.gz heap.pb.gz`). Look for caches and maps without eviction."
            .into(),
        src(),
    ))
}

/// What competes for the CPU the process's threads need, with the numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CpuCause {
    /// The cgroup ran out of its CFS quota and was throttled.
    CgroupThrottled,
    /// The host's CPUs are saturated by other work (PSI, load average).
    HostSaturated,
    /// GOMAXPROCS above the quota: throttling waiting to happen (none recorded yet).
    GomaxprocsAboveQuota,
    /// None of the outside causes shows in the numbers.
    NoneOutside,
}

/// The competing explanations for "the process was not on a CPU when it needed one"
/// (long stop-the-world phases, scheduling latency, run-queue waits), each with its
/// numbers, and the one the numbers support.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CpuContention {
    pub cause: CpuCause,
    pub runq_wait_share: Option<f64>,
    pub runq_wait_ns: Option<u64>,
    pub thread_cpu_ns: Option<u64>,
    pub host_pressure_some_avg10: Option<f64>,
    pub host_pressure_some_avg60: Option<f64>,
    pub load1: Option<f64>,
    pub host_cpus: Option<u32>,
    pub nr_throttled: Option<u64>,
    pub nr_periods: Option<u64>,
    pub quota_cpus: Option<f64>,
    pub gomaxprocs: Option<u32>,
    pub gomaxprocs_observed: bool,
}

impl CpuContention {
    fn throttled_ratio(&self, min_periods: u64) -> Option<f64> {
        let p = self.nr_periods?;
        (p >= min_periods.max(1)).then(|| self.nr_throttled.unwrap_or(0) as f64 / p as f64)
    }

    /// The cause the numbers support, in order: CFS throttling (throttled periods at
    /// CGROUP_THROTTLED_WARNING_RATIO of at least `min_periods` periods), host saturation
    /// (CPU pressure avg10 or avg60 at HOST_CPU_PRESSURE_WARNING_PCT, or load per CPU at
    /// HOST_LOAD_PER_CPU_HIGH), GOMAXPROCS above the quota (rounded up, at least 2 as the
    /// Go runtime's own default), else nothing outside the process. `/proc` snapshots pass
    /// CGROUP_THROTTLED_MIN_PERIODS (cumulative counters); a short probe window may pass 1.
    pub fn infer_cause(&self, min_periods: u64) -> CpuCause {
        let throttled = self
            .throttled_ratio(min_periods)
            .is_some_and(|r| r >= t::CGROUP_THROTTLED_WARNING_RATIO);
        let pressure = self
            .host_pressure_some_avg10
            .into_iter()
            .chain(self.host_pressure_some_avg60)
            .any(|p| p >= t::HOST_CPU_PRESSURE_WARNING_PCT);
        let loaded = match (self.load1, self.host_cpus) {
            (Some(l), Some(n)) if n > 0 => l / n as f64 >= t::HOST_LOAD_PER_CPU_HIGH,
            _ => false,
        };
        let over_quota = match (self.quota_cpus, self.gomaxprocs) {
            (Some(q), Some(g)) => g > (q.ceil() as u32).max(2),
            _ => false,
        };
        if throttled {
            CpuCause::CgroupThrottled
        } else if pressure || loaded {
            CpuCause::HostSaturated
        } else if over_quota {
            CpuCause::GomaxprocsAboveQuota
        } else {
            CpuCause::NoneOutside
        }
    }

    /// The numbers, as one sentence fragment each.
    pub fn facts(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let (Some(sh), Some(w)) = (self.runq_wait_share, self.runq_wait_ns) {
            v.push(format!(
                "the process's threads waited {:.0}% of their run time on a run queue ({:.1} s)",
                sh * 100.0,
                w as f64 / 1e9
            ));
        }
        if let Some(a) = self.host_pressure_some_avg10 {
            v.push(format!(
                "host CPU pressure (/proc/pressure/cpu some) avg10 {a:.0}%, avg60 {:.0}%",
                self.host_pressure_some_avg60.unwrap_or(0.0)
            ));
        }
        if let (Some(l), Some(c)) = (self.load1, self.host_cpus) {
            v.push(format!("load average {l:.1} on {c} CPUs"));
        }
        match (self.quota_cpus, self.nr_periods) {
            (Some(q), _) => v.push(format!(
                "CFS quota {q:.2} CPUs, throttled in {} of {} periods",
                self.nr_throttled.unwrap_or(0),
                self.nr_periods.unwrap_or(0)
            )),
            (None, _) => v.push(format!(
                "no CPU quota, throttled {}/{} periods",
                self.nr_throttled.unwrap_or(0),
                self.nr_periods.unwrap_or(0)
            )),
        }
        if let Some(g) = self.gomaxprocs {
            v.push(format!(
                "GOMAXPROCS {g}{}",
                if self.gomaxprocs_observed {
                    ""
                } else {
                    " (predicted)"
                }
            ));
        }
        v
    }

    /// What to do, for the cause the numbers support.
    pub fn advice(&self) -> String {
        let facts = self.facts().join("; ");
        match self.cause {
            CpuCause::CgroupThrottled => format!(
                "The numbers point to CFS throttling ({facts}). Set GOMAXPROCS to the quota \
                 (GOMAXPROCS={}), cut CPU use, or raise the CPU limit.",
                self.quota_cpus
                    .map(|q| (q.ceil() as u32).max(1))
                    .unwrap_or(1)
            ),
            CpuCause::HostSaturated => format!(
                "The numbers point to host CPU saturation, not to this process's settings \
                 ({facts}). Reduce or move the other load on the host, give the service more \
                 CPUs or a CPU reservation; GOMAXPROCS and CFS throttling are not the cause here."
            ),
            CpuCause::GomaxprocsAboveQuota => format!(
                "GOMAXPROCS is above the CPU quota, though no throttling is recorded yet \
                 ({facts}); set GOMAXPROCS={} before bursts make it throttle.",
                self.quota_cpus
                    .map(|q| (q.ceil() as u32).max(1))
                    .unwrap_or(1)
            ),
            CpuCause::NoneOutside => format!(
                "Nothing outside the process kept it off the CPU ({facts}): no CFS throttling, \
                 no host CPU pressure."
            ),
        }
    }
}

/// Weigh host pressure, run-queue wait, cgroup throttling and GOMAXPROCS against the
/// quota. None when the snapshot has none of the numbers (an artifact directory without
/// /proc state).
pub fn cpu_contention(s: &ProcessSnapshot) -> Option<CpuContention> {
    let chain = s.cgroup.as_ref();
    if s.schedstat.is_none()
        && s.host_cpu_pressure.is_none()
        && s.host_loadavg.is_none()
        && chain.is_none()
    {
        return None;
    }
    // The most throttled level of the chain (an ancestor's throttling stalls us too).
    let lvl = chain.and_then(|c| {
        c.cpu
            .iter()
            .filter(|l| l.nr_periods.is_some())
            .max_by(|a, b| {
                let r = |l: &gorx_formats::cgroup::CpuLevel| {
                    l.nr_throttled.unwrap_or(0) as f64 / l.nr_periods.unwrap_or(0).max(1) as f64
                };
                r(a).total_cmp(&r(b))
            })
    });
    let gmp = predicted_gomaxprocs(s);
    let mut c = CpuContention {
        cause: CpuCause::NoneOutside,
        runq_wait_share: s.schedstat.and_then(|x| x.wait_share()),
        runq_wait_ns: s.schedstat.map(|x| x.runq_wait_ns),
        thread_cpu_ns: s.schedstat.map(|x| x.cpu_ns),
        host_pressure_some_avg10: s.host_cpu_pressure.as_ref().map(|p| p.some_avg10),
        host_pressure_some_avg60: s.host_cpu_pressure.as_ref().map(|p| p.some_avg60),
        load1: s.host_loadavg.as_ref().map(|l| l.load1),
        host_cpus: s.host_cpus,
        nr_throttled: lvl.and_then(|l| l.nr_throttled),
        nr_periods: lvl.and_then(|l| l.nr_periods),
        quota_cpus: chain.and_then(|c| c.effective_cpu_limit()).map(|(q, _)| q),
        gomaxprocs: gmp.as_ref().map(|g| g.value),
        gomaxprocs_observed: gmp.as_ref().is_some_and(|g| g.observed),
    };
    c.cause = c.infer_cause(t::CGROUP_THROTTLED_MIN_PERIODS);
    Some(c)
}

/// sched.cpu-starved: the process's threads spend a large share of their time waiting
/// on a CPU run queue; the finding names the cause the numbers support.
pub fn cpu_starved(s: &ProcessSnapshot) -> Option<Finding> {
    let st = s.schedstat?;
    if st.cpu_ns.saturating_add(st.runq_wait_ns) < t::RUNQ_MIN_THREAD_TIME_NS {
        return None;
    }
    let share = st.wait_share()?;
    let severity = if share >= t::RUNQ_WAIT_CRITICAL_SHARE {
        Severity::Critical
    } else if share >= t::RUNQ_WAIT_WARNING_SHARE {
        Severity::Warning
    } else {
        return None;
    };
    let c = cpu_contention(s)?;
    // The share is cumulative since the threads started; with no host pressure, no
    // throttling and no quota now, it may be an old episode: say so, as info.
    let severity = if c.cause == CpuCause::NoneOutside {
        Severity::Info
    } else {
        severity
    };
    let mut ev = contention_evidence(&c);
    ev.insert("thread_cpu_ns".into(), json!(st.cpu_ns));
    let why = match c.cause {
        CpuCause::CgroupThrottled => "CFS throttling",
        CpuCause::HostSaturated => "host CPU saturation",
        CpuCause::GomaxprocsAboveQuota => "GOMAXPROCS above the CPU quota",
        CpuCause::NoneOutside => "cause outside the process not visible",
    };
    Some(finding(
        "sched.cpu-starved",
        severity,
        format!(
            "Threads waited {:.0}% of their run time for a CPU since they started ({:.1} s on run queues): {why}",
            share * 100.0,
            st.runq_wait_ns as f64 / 1e9
        ),
        ev,
        match c.cause {
            CpuCause::NoneOutside => format!(
                "{} With no host pressure and no throttling, the waits are the process's own \
                 threads competing (more runnable threads than CPUs allowed: {}); check \
                 GOMAXPROCS against the CPUs allowed and for threads locked by cgo or \
                 LockOSThread.",
                c.advice(),
                s.status
                    .as_ref()
                    .and_then(|x| x.cpus_allowed)
                    .map(|n| n.to_string())
                    .unwrap_or("?".into())
            ),
            _ => c.advice(),
        },
        vec![
            s.proc_path("task/*/schedstat"),
            "/proc/pressure/cpu".into(),
            "/proc/loadavg".into(),
            "cgroup cpu controller (cpu.stat)".into(),
        ],
    ))
}

fn contention_evidence(c: &CpuContention) -> Evidence {
    let mut ev = Evidence::new();
    ev.insert("cpu_cause".into(), json!(c.cause));
    let mut put = |k: &str, v: serde_json::Value| {
        if !v.is_null() {
            ev.insert(k.into(), v);
        }
    };
    put(
        "runq_wait_percent",
        json!(c.runq_wait_share.map(|x| x * 100.0)),
    );
    put("runq_wait_ns", json!(c.runq_wait_ns));
    put(
        "host_cpu_pressure_some_avg10_percent",
        json!(c.host_pressure_some_avg10),
    );
    put(
        "host_cpu_pressure_some_avg60_percent",
        json!(c.host_pressure_some_avg60),
    );
    put("load1", json!(c.load1));
    put("host_cpus", json!(c.host_cpus));
    put("nr_throttled", json!(c.nr_throttled));
    put("nr_periods", json!(c.nr_periods));
    put("cpu_limit_cpus", json!(c.quota_cpus));
    put("gomaxprocs", json!(c.gomaxprocs));
    ev
}

/// Latency findings whose advice depends on why the process was off the CPU.
const LATENCY_IDS: &[&str] = &["gc.long-pause", "sched.latency", "gc.assist-heavy"];

/// Rewrite the advice of latency findings (long stop-the-world pauses, scheduling
/// latency) with the cause the process's numbers support: never "check CFS throttling"
/// when nothing was throttled and there is no quota; host saturation when the host's
/// pressure says so. Adds the numbers to the evidence. A no-op without /proc numbers.
pub fn amend_latency_advice(findings: &mut [Finding], s: &ProcessSnapshot) {
    let Some(c) = cpu_contention(s) else {
        return;
    };
    for f in findings.iter_mut().filter(|f| LATENCY_IDS.contains(&f.id)) {
        for (k, v) in contention_evidence(&c) {
            f.evidence.entry(k).or_insert(v);
        }
        let rest = if matches!(
            c.cause,
            CpuCause::CgroupThrottled | CpuCause::GomaxprocsAboveQuota
        ) {
            f.recommendation.clone()
        } else {
            strip_throttling_clause(&f.recommendation)
        };
        f.recommendation = format!("{} {rest}", c.advice());
        f.sources
            .push("/proc/pressure/cpu, /proc/loadavg, task schedstat, cpu.stat".into());
    }
}

/// Advice that only fits a quota or throttling.
const THROTTLING_ADVICE: &[&str] = &[
    "CFS throttling",
    "GOMAXPROCS against the CPU quota",
    "GOMAXPROCS to the CPU quota",
    "GOMAXPROCS to the quota",
];

/// Remove each clause that advises checking CFS throttling or fitting GOMAXPROCS to the
/// quota (from the previous `:`/`.`/`;`/`,` to its own), and a following "otherwise".
fn strip_throttling_clause(rec: &str) -> String {
    let mut rec = rec.to_string();
    while let Some(i) = THROTTLING_ADVICE.iter().filter_map(|m| rec.find(m)).min() {
        let start = rec[..i].rfind([':', '.', ';', ',']).map_or(0, |j| j + 1);
        let end = rec[i..]
            .find([';', '.', ','])
            .map_or(rec.len(), |j| i + j + 1);
        let after = rec[end..].trim_start();
        let after = after.strip_prefix("otherwise ").unwrap_or(after);
        let head = rec[..start].trim_end();
        let mut out = head.to_string();
        if !after.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            let sentence = out.is_empty() || out.ends_with('.');
            let mut cs = after.chars();
            if let Some(c0) = cs.next() {
                if sentence {
                    out.extend(c0.to_uppercase());
                } else {
                    out.push(c0);
                }
                out.push_str(cs.as_str());
            }
        }
        rec = out;
    }
    rec
}

/// One watch sample. Counters are cumulative as the kernel/runtime report them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sample {
    /// Milliseconds since the watch started.
    pub t_ms: u64,
    pub rss_bytes: Option<u64>,
    pub rss_anon_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub threads: Option<u64>,
    pub goroutines: Option<u64>,
    pub heap_inuse_bytes: Option<u64>,
    /// `HeapAlloc`: bytes of live and not-yet-swept objects.
    pub heap_alloc_bytes: Option<u64>,
    /// `NextGC`: the heap goal, proportional to the heap marked live at the last GC.
    pub next_gc_bytes: Option<u64>,
    /// `NumGC`: completed GC cycles.
    pub num_gc: Option<u64>,
    /// Where the runtime fields came from: `expvar`, `heap?debug=1` or `metrics`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_source: Option<&'static str>,
    pub nr_periods: Option<u64>,
    pub nr_throttled: Option<u64>,
    /// `runtime.MemStats.GCCPUFraction`: GC CPU over available CPU (GOMAXPROCS × wall)
    /// since the process started.
    pub gc_cpu_fraction: Option<f64>,
    /// Seconds since the process started (to turn the cumulative fraction into a rate).
    pub process_uptime_s: Option<f64>,
    /// The GC health score (score.rs) from the MemStats read at this sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gc_score: Option<u32>,
}

/// (first, last, share of steps that did not fall) of a series, or None if too short.
fn rising<F: Fn(&Sample) -> Option<u64>>(w: &[Sample], f: F) -> Option<(u64, u64, f64)> {
    let v: Vec<u64> = w.iter().filter_map(&f).collect();
    if v.len() < t::TREND_MIN_SAMPLES {
        return None;
    }
    let steps = v.len() - 1;
    let up = v.windows(2).filter(|p| p[1] >= p[0]).count();
    Some((v[0], v[steps], up as f64 / steps as f64))
}

fn span_s(w: &[Sample]) -> f64 {
    match (w.first(), w.last()) {
        (Some(a), Some(b)) => (b.t_ms.saturating_sub(a.t_ms)) as f64 / 1000.0,
        _ => 0.0,
    }
}

/// Findings from a rolling window of samples (oldest first): fd.leak, goroutine growth,
/// RSS growing outside a flat Go heap, and throttling that started inside the window.
pub fn trend_findings(pid: u32, w: &[Sample], nofile_soft: Option<u64>) -> Vec<Finding> {
    let mut out = Vec::new();
    let secs = span_s(w).max(0.001);
    let src = || {
        vec![format!(
            "/proc/{pid} (watch, {} samples over {secs:.1} s)",
            w.len()
        )]
    };
    if let Some((a, b, r)) = rising(w, |s| s.open_fds)
        && b >= a + t::FD_LEAK_MIN_GROWTH
        && r >= t::FD_LEAK_MIN_RISING_STEPS_RATIO
    {
        let rate = (b - a) as f64 / secs;
        let mut ev = Evidence::new();
        ev.insert("open_fds_start".into(), json!(a));
        ev.insert("open_fds_end".into(), json!(b));
        ev.insert("window_s".into(), json!(secs));
        ev.insert("fds_per_s".into(), json!(rate));
        let mut title = format!("open fds rose from {a} to {b} in {secs:.0} s ({rate:.1}/s)");
        if let Some(l) = nofile_soft {
            ev.insert("nofile_soft_limit".into(), json!(l));
            if l > b && rate > 0.0 {
                let eta = (l - b) as f64 / rate;
                ev.insert("seconds_to_limit".into(), json!(eta));
                title.push_str(&format!("; RLIMIT_NOFILE {l} reached in ~{eta:.0} s"));
            }
        }
        let severity =
            if nofile_soft.is_some_and(|l| b as f64 >= l as f64 * t::FD_NEAR_LIMIT_WARNING_RATIO) {
                Severity::Critical
            } else {
                Severity::Warning
            };
        out.push(finding(
            "fd.leak",
            severity,
            title,
            ev,
            "File descriptors are opened and never closed. The captured proc/fd.txt shows \
             their kinds and targets; the goroutine dump shows who holds them (look for \
             missing Close / resp.Body.Close / conn reuse)."
                .into(),
            src(),
        ));
    }
    if let Some((a, b, r)) = rising(w, |s| s.goroutines)
        && b >= a + t::GOROUTINE_GROWTH_MIN
        && b as f64 >= a as f64 * (1.0 + t::GOROUTINE_GROWTH_MIN_RATIO)
        && r >= t::FD_LEAK_MIN_RISING_STEPS_RATIO
    {
        let mut ev = Evidence::new();
        ev.insert("goroutines_start".into(), json!(a));
        ev.insert("goroutines_end".into(), json!(b));
        ev.insert("window_s".into(), json!(secs));
        ev.insert("goroutines_per_s".into(), json!((b - a) as f64 / secs));
        out.push(finding(
            "goroutine.count-high",
            Severity::Warning,
            format!("goroutines grew from {a} to {b} in {secs:.0} s"),
            ev,
            "Goroutines are started faster than they finish. Group the captured \
             goroutine.debug2.txt by stack (`gorx goroutines`) to find where they block."
                .into(),
            src(),
        ));
    }
    let anon: Vec<(u64, Option<u64>)> = w
        .iter()
        .filter_map(|s| Some((s.rss_anon_bytes?, s.heap_inuse_bytes)))
        .collect();
    if anon.len() >= t::TREND_MIN_SAMPLES {
        let (a, ha) = anon[0];
        let (b, hb) = anon[anon.len() - 1];
        let heap_flat = match (ha, hb) {
            (Some(x), Some(y)) => {
                (y as f64 - x as f64).abs() <= x.max(1) as f64 * t::RSS_GROWTH_HEAP_FLAT_RATIO
                    || y.saturating_sub(x) < (b - a.min(b)) / 10
            }
            _ => false,
        };
        if b >= a + t::RSS_GROWTH_MIN_BYTES
            && b as f64 >= a as f64 * (1.0 + t::RSS_GROWTH_MIN_RATIO)
            && heap_flat
        {
            let mut ev = Evidence::new();
            ev.insert("rss_anon_start_bytes".into(), json!(a));
            ev.insert("rss_anon_end_bytes".into(), json!(b));
            ev.insert("heap_inuse_start_bytes".into(), json!(ha));
            ev.insert("heap_inuse_end_bytes".into(), json!(hb));
            ev.insert("window_s".into(), json!(secs));
            out.push(finding(
                "memory.rss-gap",
                Severity::Warning,
                format!(
                    "anonymous RSS grew by {} in {secs:.0} s while the Go heap stayed flat",
                    mib(b - a)
                ),
                ev,
                "Memory is growing outside the Go heap (cgo, mmap, off-heap buffers); the \
                 heap profile will not show it. Compare the captured smaps_rollup with MemStats."
                    .into(),
                src(),
            ));
        }
    }
    // GC CPU within the window, from the cumulative GCCPUFraction at both ends.
    let gc: Vec<(f64, f64)> = w
        .iter()
        .filter_map(|s| Some((s.gc_cpu_fraction?, s.process_uptime_s?)))
        .collect();
    if gc.len() >= t::TREND_MIN_SAMPLES {
        let (f0, u0) = gc[0];
        let (f1, u1) = gc[gc.len() - 1];
        let du = u1 - u0;
        if du * 1e9 >= t::GC_MIN_WINDOW_NS as f64 {
            let pct = ((f1 * u1 - f0 * u0) / du * 100.0).max(0.0);
            let severity = if pct >= t::GC_CPU_CRITICAL_PERCENT {
                Some(Severity::Critical)
            } else if pct >= t::GC_CPU_WARNING_PERCENT {
                Some(Severity::Warning)
            } else {
                None
            };
            if let Some(severity) = severity {
                let mut ev = Evidence::new();
                ev.insert("gc_cpu_percent".into(), json!(pct));
                ev.insert("gc_cpu_percent_since_start".into(), json!(f1 * 100.0));
                ev.insert("window_s".into(), json!(du));
                out.push(finding(
                    "gc.high-cpu",
                    severity,
                    format!(
                        "GC used {pct:.0}% of the available CPU in the last {du:.0} s \
                         ({:.0}% since start)",
                        f1 * 100.0
                    ),
                    ev,
                    "The collector runs too often for this allocation rate: raise GOGC (or set \
                     GOMEMLIMIT and GOGC=off when memory allows), and cut allocations at the \
                     sites the captured CPU and allocs profiles name."
                        .into(),
                    src(),
                ));
            }
        }
    }
    out.extend(heap_trend(w, &src));
    // Throttling onset: the last steps of the window, not the counters since boot.
    let th: Vec<(u64, u64)> = w
        .iter()
        .filter_map(|s| Some((s.nr_periods?, s.nr_throttled?)))
        .collect();
    if th.len() >= 2 {
        let (p0, t0) = th[0];
        let (p1, t1) = th[th.len() - 1];
        let dp = p1.saturating_sub(p0);
        let dt = t1.saturating_sub(t0);
        if dp >= t::CGROUP_THROTTLED_MIN_PERIODS
            && dt as f64 / dp as f64 >= t::CGROUP_THROTTLED_WARNING_RATIO
        {
            let mut ev = Evidence::new();
            ev.insert("nr_periods".into(), json!(dp));
            ev.insert("nr_throttled".into(), json!(dt));
            ev.insert(
                "throttled_periods_percent".into(),
                json!(dt as f64 / dp as f64 * 100.0),
            );
            ev.insert("window_s".into(), json!(secs));
            out.push(finding(
                "cgroup.cpu-throttled",
                if dt as f64 / dp as f64 >= t::CGROUP_THROTTLED_CRITICAL_RATIO {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                format!("CPU throttled in {dt} of {dp} CFS periods in the last {secs:.0} s"),
                ev,
                "The cgroup exhausts its CPU quota; see sched.gomaxprocs-mismatch and the \
                 captured CPU profile for what burns it."
                    .into(),
                src(),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use gorx_formats::cgroup::{CpuLevel, MemoryLevel};

    fn base() -> ProcessSnapshot {
        ProcessSnapshot {
            pid: 42,
            command: "srv".into(),
            go_version: Some("go1.26.8".into()),
            env: Some(GoEnv::default()),
            status: Some(Status {
                cpus_allowed: Some(16),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn fds(n: u64) -> FdBreakdown {
        let mut b = FdBreakdown::default();
        for i in 0..n {
            b.add(&format!("socket:[{i}]"));
        }
        b.add("/dev/null");
        b
    }

    #[test]
    fn fd_thresholds() {
        let mut s = base();
        s.nofile_soft = Some(100);
        s.fds = Some(fds(50));
        assert!(fd_near_limit(&s).is_none());
        s.fds = Some(fds(84));
        let f = fd_near_limit(&s).unwrap();
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(f.evidence["open_fds"], json!(85));
        assert_eq!(f.evidence["fds_socket"], json!(84));
        assert!(f.title.contains("socket"), "{}", f.title);
        s.fds = Some(fds(96));
        assert_eq!(fd_near_limit(&s).unwrap().severity, Severity::Critical);
    }

    fn rt(sys: u64, released: u64) -> RuntimeMemory {
        RuntimeMemory {
            sys_bytes: sys,
            heap_released_bytes: released,
            ..Default::default()
        }
    }

    #[test]
    fn rss_gap_needs_both_size_and_share() {
        let mut s = base();
        s.status.as_mut().unwrap().rss_anon_bytes = Some(300 << 20);
        s.runtime = Some(rt(60 << 20, 10 << 20));
        let f = rss_gap(&s).unwrap();
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(f.evidence["unaccounted_bytes"], json!(250u64 << 20));
        // Small absolute gap: nothing.
        s.status.as_mut().unwrap().rss_anon_bytes = Some(100 << 20);
        assert!(rss_gap(&s).is_none());
        // Big process, modest share: warning.
        s.status.as_mut().unwrap().rss_anon_bytes = Some(1000 << 20);
        s.runtime = Some(rt(700 << 20, 0));
        assert_eq!(rss_gap(&s).unwrap().severity, Severity::Warning);
        s.runtime = None;
        assert!(rss_gap(&s).is_none());
    }

    fn mem_chain(limit: u64, current: u64) -> CgroupChain {
        CgroupChain {
            memory: vec![
                MemoryLevel {
                    path: "/pod/ctr".into(),
                    current_bytes: Some(current),
                    inactive_file_bytes: Some(0),
                    ..Default::default()
                },
                MemoryLevel {
                    path: "/pod".into(),
                    max_bytes: Some(limit),
                    current_bytes: Some(current),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn memory_near_limit_uses_ancestor_limit() {
        let mut s = base();
        s.cgroup = Some(mem_chain(1000 << 20, 900 << 20));
        let f = cgroup_memory_near_limit(&s).unwrap();
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(f.evidence["cgroup_path"], json!("/pod"));
        s.cgroup = Some(mem_chain(1000 << 20, 500 << 20));
        assert!(cgroup_memory_near_limit(&s).is_none());
        s.cgroup.as_mut().unwrap().memory[0].oom_kill = Some(1);
        assert_eq!(
            cgroup_memory_near_limit(&s).unwrap().severity,
            Severity::Critical
        );
    }

    #[test]
    fn memlimit_recommendation_subtracts_non_go() {
        assert_eq!(recommended_gomemlimit_bytes(1000 << 20, 0), 900 << 20);
        assert_eq!(
            recommended_gomemlimit_bytes(1000 << 20, 100 << 20),
            800 << 20
        );
        // Floor at a quarter of the limit.
        assert_eq!(
            recommended_gomemlimit_bytes(1000 << 20, 2000 << 20),
            250 << 20
        );
        let mut s = base();
        s.cgroup = Some(mem_chain(1000 << 20, 100 << 20));
        let f = memlimit_missing(&s).unwrap();
        assert!(
            f.recommendation.contains("GOMEMLIMIT=900MiB"),
            "{}",
            f.recommendation
        );
        s.status.as_mut().unwrap().rss_anon_bytes = Some(400 << 20);
        s.runtime = Some(rt(300 << 20, 0));
        let f = memlimit_missing(&s).unwrap();
        assert!(
            f.recommendation.contains("GOMEMLIMIT=800MiB"),
            "{}",
            f.recommendation
        );
        s.env = Some(GoEnv {
            gomemlimit: Some("700MiB".into()),
            ..Default::default()
        });
        assert!(memlimit_missing(&s).is_none());
        s.env = Some(GoEnv {
            gomemlimit: Some("2GiB".into()),
            ..Default::default()
        });
        assert!(memlimit_missing(&s).unwrap().title.contains("not below"));
    }

    /// The limit the runtime reports (/metrics) decides, with or without the environment.
    #[test]
    fn memlimit_reported_by_the_runtime() {
        let mut s = ProcessSnapshot {
            cgroup: Some(mem_chain(1 << 30, 100 << 20)),
            ..Default::default()
        };
        assert!(
            memlimit_missing(&s).is_none(),
            "nothing says what GOMEMLIMIT is"
        );
        s.gomemlimit_observed_bytes = Some(None);
        let f = memlimit_missing(&s).unwrap();
        assert!(f.title.contains("unset"), "{}", f.title);
        // debug.SetMemoryLimit in code: the environment says nothing, the runtime does.
        s.env = Some(GoEnv::default());
        s.gomemlimit_observed_bytes = Some(Some(900 << 20));
        assert!(memlimit_missing(&s).is_none());
        s.gomemlimit_observed_bytes = Some(Some(2 << 30));
        assert!(memlimit_missing(&s).unwrap().title.contains("not below"));
    }

    fn cpu_chain(leaf: Option<u64>, parent: Option<u64>) -> CgroupChain {
        CgroupChain {
            cpu: vec![
                CpuLevel {
                    path: "/pod/ctr".into(),
                    quota_us: leaf,
                    period_us: Some(100_000),
                    nr_periods: Some(100),
                    nr_throttled: Some(30),
                    throttled_ns: Some(5_000_000_000),
                },
                CpuLevel {
                    path: "/pod".into(),
                    quota_us: parent,
                    period_us: Some(100_000),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn gomaxprocs_rules_by_version() {
        let mut s = base();
        // Go 1.26, limit on the leaf: the runtime follows it.
        s.cgroup = Some(cpu_chain(Some(150_000), None));
        assert_eq!(predicted_gomaxprocs(&s).unwrap().value, 2);
        assert!(gomaxprocs_mismatch(&s).is_none());
        // Limit below 1 CPU: Go's floor of 2, not flagged.
        s.cgroup = Some(cpu_chain(Some(50_000), None));
        assert_eq!(predicted_gomaxprocs(&s).unwrap().value, 2);
        assert!(gomaxprocs_mismatch(&s).is_none());
        // Limit on an ancestor only: Go 1.26 does not see it.
        s.cgroup = Some(cpu_chain(None, Some(400_000)));
        assert_eq!(predicted_gomaxprocs(&s).unwrap().value, 16);
        let f = gomaxprocs_mismatch(&s).unwrap();
        assert!(
            f.recommendation.contains("GOMAXPROCS=4"),
            "{}",
            f.recommendation
        );
        assert!(f.recommendation.contains("ancestor"));
        // Go 1.24 ignores even the leaf.
        s.go_version = Some("go1.24.11".into());
        s.cgroup = Some(cpu_chain(Some(400_000), None));
        assert_eq!(predicted_gomaxprocs(&s).unwrap().value, 16);
        assert!(
            gomaxprocs_mismatch(&s)
                .unwrap()
                .recommendation
                .contains("before 1.25")
        );
        // containermaxprocs=0 via the binary's DefaultGODEBUG.
        s.go_version = Some("go1.26.8".into());
        s.default_godebug = Some("containermaxprocs=0,updatemaxprocs=0".into());
        assert_eq!(predicted_gomaxprocs(&s).unwrap().value, 16);
        // An explicit env wins.
        s.env = Some(GoEnv {
            gomaxprocs: Some("3".into()),
            ..Default::default()
        });
        assert_eq!(predicted_gomaxprocs(&s).unwrap().value, 3);
        assert!(gomaxprocs_mismatch(&s).is_none());
    }

    #[test]
    fn throttling_share() {
        let mut s = base();
        s.cgroup = Some(cpu_chain(Some(100_000), None));
        let f = cgroup_cpu_throttled(&s).unwrap();
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(f.evidence["nr_throttled"], json!(30));
        s.cgroup.as_mut().unwrap().cpu[0].nr_throttled = Some(1);
        assert!(cgroup_cpu_throttled(&s).is_none());
        s.cgroup.as_mut().unwrap().cpu[0].nr_periods = Some(5);
        s.cgroup.as_mut().unwrap().cpu[0].nr_throttled = Some(5);
        assert!(cgroup_cpu_throttled(&s).is_none(), "too few periods");
    }

    fn series(f: impl Fn(u64) -> Sample) -> Vec<Sample> {
        (0..10)
            .map(|i| Sample {
                t_ms: i * 1000,
                ..f(i)
            })
            .collect()
    }

    #[test]
    fn fd_leak_trend_needs_steady_growth() {
        let w = series(|i| Sample {
            open_fds: Some(10 + 5 * i),
            ..Default::default()
        });
        let f = trend_findings(1, &w, Some(1024));
        let leak = f.iter().find(|f| f.id == "fd.leak").unwrap();
        assert_eq!(leak.evidence["open_fds_end"], json!(55));
        assert_eq!(leak.severity, Severity::Warning);
        assert!(leak.evidence["seconds_to_limit"].as_f64().unwrap() > 100.0);
        // Near the limit: critical.
        assert_eq!(
            trend_findings(1, &w, Some(60))[0].severity,
            Severity::Critical
        );
        // Up and down with traffic: not a leak, even with net growth.
        let saw = series(|i| Sample {
            open_fds: Some(if i % 2 == 0 { 10 + 5 * i } else { 5 }),
            ..Default::default()
        });
        assert!(
            trend_findings(1, &saw, None)
                .iter()
                .all(|f| f.id != "fd.leak")
        );
        // Too few samples.
        assert!(trend_findings(1, &w[..3], None).is_empty());
    }

    #[test]
    fn rss_growth_with_flat_heap_and_throttle_onset() {
        let w = series(|i| Sample {
            rss_anon_bytes: Some((100 + 20 * i) << 20),
            heap_inuse_bytes: Some(8 << 20),
            nr_periods: Some(1000 + 10 * i),
            nr_throttled: Some(500 + 5 * i),
            ..Default::default()
        });
        let f = trend_findings(1, &w, None);
        assert!(f.iter().any(|f| f.id == "memory.rss-gap"), "{f:?}");
        let th = f.iter().find(|f| f.id == "cgroup.cpu-throttled").unwrap();
        assert_eq!(th.evidence["nr_throttled"], json!(45));
        // Heap growing with RSS: an ordinary heap, not a gap.
        let g = series(|i| Sample {
            rss_anon_bytes: Some((100 + 20 * i) << 20),
            heap_inuse_bytes: Some((90 + 20 * i) << 20),
            ..Default::default()
        });
        assert!(trend_findings(1, &g, None).is_empty());
    }

    #[test]
    fn gc_cpu_in_window_from_cumulative_fraction() {
        // 2% GC since a start 100 s ago, then 10 s at 40%: f = (2 + 4) / 110.
        let w = series(|i| {
            let u = 100.0 + i as f64 * 10.0 / 9.0;
            let gc_s = 2.0 + 0.4 * (u - 100.0);
            Sample {
                gc_cpu_fraction: Some(gc_s / u),
                process_uptime_s: Some(u),
                ..Default::default()
            }
        });
        let f = trend_findings(1, &w, None);
        let g = f.iter().find(|f| f.id == "gc.high-cpu").unwrap();
        let pct = g.evidence["gc_cpu_percent"].as_f64().unwrap();
        assert!((pct - 40.0).abs() < 0.01, "{pct}");
        assert_eq!(g.severity, Severity::Critical);
        // A quiet GC: nothing.
        let q = series(|i| Sample {
            gc_cpu_fraction: Some(0.01),
            process_uptime_s: Some(100.0 + i as f64),
            ..Default::default()
        });
        assert!(trend_findings(1, &q, None).is_empty());
    }

    /// A sawtooth heap (GC every 2 s) whose troughs follow `floor(t)`.
    fn sawtooth(secs: u64, floor: impl Fn(f64) -> f64) -> Vec<Sample> {
        (0..=secs)
            .map(|i| {
                let base = floor(i as f64) as u64;
                Sample {
                    t_ms: i * 1000,
                    heap_inuse_bytes: Some(base + if i % 2 == 0 { 0 } else { 6 << 20 }),
                    num_gc: Some(i / 2),
                    next_gc_bytes: Some(base * 2),
                    runtime_source: Some("metrics"),
                    ..Default::default()
                }
            })
            .collect()
    }

    #[test]
    fn heap_growth_trigger_needs_a_sustained_rise() {
        let mib = |m: f64| m * (1u64 << 20) as f64;
        // 24 → 66 MiB over 60 s, steadily: a leak.
        let leak = sawtooth(60, |t| mib(24.0 + 0.7 * t));
        let f = trend_findings(1, &leak, None);
        let g = f.iter().find(|f| f.id == "gc.heap-growth").expect("leak");
        assert_eq!(g.severity, Severity::Warning);
        assert_eq!(g.evidence["runtime_source"], json!("metrics"));
        assert!(g.title.contains("24 MiB → 56 MiB"), "{}", g.title);
        // The same rise in the first quarter, then flat: warm-up, not a leak.
        let warm = sawtooth(60, |t| mib(24.0 + 42.0 * (t / 15.0).min(1.0)));
        assert!(heap_trend(&warm, &Vec::new).is_none());
        // Flat with noise.
        let flat = sawtooth(60, |t| mib(40.0 + (t % 3.0)));
        assert!(heap_trend(&flat, &Vec::new).is_none());
        // No GC in the window: garbage piling up between collections says nothing.
        let mut nogc = leak.clone();
        nogc.iter_mut().for_each(|s| s.num_gc = Some(7));
        assert!(heap_trend(&nogc, &Vec::new).is_none());
        // Too short a window.
        assert!(heap_trend(&leak[..20], &Vec::new).is_none());
        // Small absolute growth (2 → 5 MiB).
        let small = sawtooth(60, |t| mib(2.0 + 0.05 * t));
        assert!(heap_trend(&small, &Vec::new).is_none());
    }

    /// The issue-13 case: load 9 on 2 CPUs, PSI some avg10 69%, no quota, throttled 0/0.
    fn saturated_host() -> ProcessSnapshot {
        use gorx_formats::procfs::{CpuPressure, LoadAvg, SchedStat};
        let mut s = base();
        s.host_cpus = Some(2);
        s.host_cpu_pressure = Some(CpuPressure {
            some_avg10: 69.0,
            some_avg60: 55.0,
            ..Default::default()
        });
        s.host_loadavg = Some(LoadAvg {
            load1: 9.0,
            ..Default::default()
        });
        s.schedstat = Some(SchedStat {
            cpu_ns: 6_500_000_000,
            runq_wait_ns: 3_500_000_000,
            timeslices: 1000,
        });
        s.cgroup = Some(CgroupChain {
            cpu: vec![CpuLevel {
                path: "/".into(),
                nr_periods: Some(0),
                nr_throttled: Some(0),
                ..Default::default()
            }],
            ..Default::default()
        });
        s
    }

    fn pause_finding() -> Finding {
        finding(
            "gc.long-pause",
            Severity::Warning,
            "Stop-the-world pauses reach 30 ms".into(),
            Evidence::new(),
            "Long STW phases usually mean the process was not on a CPU when the world stopped: check CFS throttling and set GOMAXPROCS to the CPU quota; otherwise look for tight loops without function calls (non-preemptible before Go 1.14) and for huge numbers of goroutines or finalizers.".into(),
            vec!["gctrace".into()],
        )
    }

    #[test]
    fn pause_advice_follows_host_saturation_not_throttling() {
        let s = saturated_host();
        let c = cpu_contention(&s).unwrap();
        assert_eq!(c.cause, CpuCause::HostSaturated);
        let mut fs = vec![pause_finding()];
        amend_latency_advice(&mut fs, &s);
        let r = &fs[0].recommendation;
        assert!(!r.contains("check CFS throttling"), "{r}");
        assert!(r.contains("host CPU saturation"), "{r}");
        assert!(
            r.contains("avg10 69%") && r.contains("load average 9.0 on 2 CPUs"),
            "{r}"
        );
        assert!(r.contains("35% of their run time"), "{r}");
        assert!(r.contains("stopped: look for tight loops"), "{r}");
        // The scheduling-latency wording loses its quota clause too.
        let mut l = pause_finding();
        l.id = "sched.latency";
        l.recommendation = "More runnable goroutines than Ps: cut CPU-bound work per request, bound concurrency (worker pools), check GOMAXPROCS against the CPU quota, and look for long non-preemptible loops at the listed sites.".into();
        let mut ls = vec![l];
        amend_latency_advice(&mut ls, &s);
        let r = &ls[0].recommendation;
        assert!(!r.contains("against the CPU quota"), "{r}");
        assert!(r.ends_with("bound concurrency (worker pools), and look for long non-preemptible loops at the listed sites."), "{r}");
        assert_eq!(fs[0].evidence["cpu_cause"], json!("host-saturated"));
        // And the starvation itself is a finding naming the same cause.
        let f = cpu_starved(&s).unwrap();
        assert_eq!(f.id, "sched.cpu-starved");
        assert_eq!(f.severity, Severity::Critical);
        assert!(f.title.ends_with("host CPU saturation"), "{}", f.title);
        assert!(analyze(&s).iter().any(|f| f.id == "sched.cpu-starved"));
    }

    #[test]
    fn pause_advice_keeps_throttling_when_throttled() {
        let mut s = saturated_host();
        s.host_cpu_pressure = None;
        s.host_loadavg = None;
        s.cgroup = Some(cpu_chain(Some(100_000), None)); // 1 CPU, 30 of 100 throttled
        s.env = Some(GoEnv {
            gomaxprocs: Some("4".into()),
            ..Default::default()
        });
        let c = cpu_contention(&s).unwrap();
        assert_eq!(c.cause, CpuCause::CgroupThrottled);
        let mut fs = vec![pause_finding()];
        amend_latency_advice(&mut fs, &s);
        let r = &fs[0].recommendation;
        assert!(r.starts_with("The numbers point to CFS throttling"), "{r}");
        assert!(r.contains("GOMAXPROCS=1"), "{r}");
        // Quiet host, no quota, little waiting: no starvation finding, and the advice
        // says nothing outside the process is to blame.
        let mut q = saturated_host();
        q.host_cpu_pressure = Some(Default::default());
        q.host_loadavg = Some(Default::default());
        q.schedstat = Some(gorx_formats::procfs::SchedStat {
            cpu_ns: 10_000_000_000,
            runq_wait_ns: 100_000_000,
            timeslices: 5,
        });
        assert!(cpu_starved(&q).is_none());
        // Much waiting in the past, nothing outside the process now: info only.
        q.schedstat = Some(gorx_formats::procfs::SchedStat {
            cpu_ns: 10_000_000_000,
            runq_wait_ns: 5_000_000_000,
            timeslices: 5,
        });
        assert_eq!(cpu_starved(&q).unwrap().severity, Severity::Info);
        let mut fs = vec![pause_finding()];
        amend_latency_advice(&mut fs, &q);
        assert!(
            !fs[0].recommendation.contains("check CFS"),
            "{}",
            fs[0].recommendation
        );
        assert!(
            fs[0]
                .recommendation
                .starts_with("Nothing outside the process")
        );
        // Without /proc numbers (an artifact directory): untouched.
        let mut fs = vec![pause_finding()];
        amend_latency_advice(&mut fs, &ProcessSnapshot::default());
        assert_eq!(fs[0].recommendation, pause_finding().recommendation);
    }

    #[test]
    fn gomaxprocs_text_says_predicted_or_observed() {
        let mut s = base();
        let p = predicted_gomaxprocs(&s).unwrap();
        assert!(!p.observed);
        assert!(
            p.describe()
                .starts_with("16 predicted from Go ≥ 1.25 default"),
            "{}",
            p.describe()
        );
        s.gomaxprocs_observed = Some(1);
        let p = predicted_gomaxprocs(&s).unwrap();
        assert!(p.observed);
        assert!(p.describe().starts_with("1 (observed"), "{}", p.describe());
    }

    #[test]
    fn rss_gap_names_the_mappings_outside_go_arenas() {
        use gorx_formats::procfs::Mapping;
        let mut s = base();
        s.status.as_mut().unwrap().rss_anon_bytes = Some(300 << 20);
        s.runtime = Some(rt(60 << 20, 10 << 20));
        let m = |start: u64, mb: u64| Mapping {
            start,
            end: start + (mb << 20),
            perms: "rw-p".into(),
            path: String::new(),
            rss_bytes: mb << 20,
            anonymous_bytes: mb << 20,
        };
        s.top_anon_mappings = vec![m(0x7f12_0000_0000, 256), m(0xc0_0000_0000, 40)];
        let f = rss_gap(&s).unwrap();
        let list = f.evidence["largest_non_heap_anon_mappings"]
            .as_array()
            .unwrap();
        assert_eq!(list.len(), 1);
        assert!(
            list[0]
                .as_str()
                .unwrap()
                .starts_with("7f1200000000-7f1210000000 rw-p 256 MiB")
        );
        assert_eq!(
            f.evidence["non_heap_anon_in_largest_mappings_bytes"],
            json!(256u64 << 20)
        );
        assert!(describe_mapping(&s.top_anon_mappings[1]).ends_with("(Go heap arena)"));
    }
}
