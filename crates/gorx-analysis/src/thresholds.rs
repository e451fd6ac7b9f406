//! Every threshold a finding depends on, in one place, each with the reason for its value.
//! Grouped by area; analyses read these constants and never hard-code their own.

// ---- Live processes (issue 5; used by `process.rs`) ----

/// fd.near-limit: open fds / RLIMIT_NOFILE soft. At 80% a burst or a slow leak reaches
/// EMFILE ("too many open files") soon; at 95% accept() is about to fail.
pub const FD_NEAR_LIMIT_WARNING_RATIO: f64 = 0.80;
pub const FD_NEAR_LIMIT_CRITICAL_RATIO: f64 = 0.95;

/// memory.rss-gap: anonymous RSS not explained by Go's own accounting (Sys − HeapReleased).
/// Below 64 MiB the gap is noise (binary .data/.bss, libc, thread stacks of cgo threads).
pub const RSS_GAP_MIN_BYTES: u64 = 64 << 20;
/// Share of anonymous RSS that is unaccounted: a quarter is worth explaining, half means
/// most of the memory lives outside the Go heap (cgo, mmap, off-heap buffers).
pub const RSS_GAP_WARNING_RATIO: f64 = 0.25;
pub const RSS_GAP_CRITICAL_RATIO: f64 = 0.50;

/// cgroup.memory-near-limit: working set (usage − inactive file) / the tightest
/// memory.max. The kernel reclaims cache first; past 85% of the limit with the working set
/// alone, the next spike is an OOM kill; 95% is imminent.
pub const CGROUP_MEMORY_WARNING_RATIO: f64 = 0.85;
pub const CGROUP_MEMORY_CRITICAL_RATIO: f64 = 0.95;

/// cgroup.cpu-throttled: share of CFS periods in which the cgroup was throttled. 5% of
/// periods already adds up to a quota-length stall (often 100 ms) at P95 latency; 25% is
/// a service that is CPU starved. Fewer than 20 periods is too little history to judge.
pub const CGROUP_THROTTLED_WARNING_RATIO: f64 = 0.05;
pub const CGROUP_THROTTLED_CRITICAL_RATIO: f64 = 0.25;
pub const CGROUP_THROTTLED_MIN_PERIODS: u64 = 20;

/// config.memlimit-missing: the recommended GOMEMLIMIT is this share of the effective
/// cgroup memory limit minus the memory Go does not manage (the unaccounted RSS): 10% stays
/// free for page cache, kernel memory charged to the cgroup and transient spikes, the
/// usual advice in the Go GC guide.
pub const GOMEMLIMIT_LIMIT_RATIO: f64 = 0.90;
/// Never recommend less than this share of the limit (a huge off-heap share would
/// otherwise suggest a limit that makes the GC run continuously).
pub const GOMEMLIMIT_MIN_LIMIT_RATIO: f64 = 0.25;

/// fd.leak (watch): fd count over the rolling window. At least 20 more fds than at the
/// window's start, with the count never falling in 90% of steps: servers' fd counts go up
/// and down with traffic; a leak only goes up.
pub const FD_LEAK_MIN_GROWTH: u64 = 20;
pub const FD_LEAK_MIN_RISING_STEPS_RATIO: f64 = 0.90;
/// goroutine.count-high (watch): goroutines up by half and by at least 100 over the window,
/// rising in 90% of steps.
pub const GOROUTINE_GROWTH_MIN: u64 = 100;
pub const GOROUTINE_GROWTH_MIN_RATIO: f64 = 0.50;
/// memory.rss-gap (watch): anonymous RSS up by at least 64 MiB and 20% over the window
/// while the Go heap in use moved less than 10%: memory growing outside the heap.
pub const RSS_GROWTH_MIN_BYTES: u64 = 64 << 20;
pub const RSS_GROWTH_MIN_RATIO: f64 = 0.20;
pub const RSS_GROWTH_HEAP_FLAT_RATIO: f64 = 0.10;
/// The fewest samples a trend is judged on.
pub const TREND_MIN_SAMPLES: usize = 5;

// ---- Profiles and MemStats (issue 3; used by `profiles.rs` and `memory.rs`) ----

/// How many sites a profile finding lists in its evidence and `sites`.
pub const PROFILE_TOP_SITES: usize = 5;

/// cpu.gc-share thresholds: see the `profiles` section at the end (issue 13).
/// Shares of an almost idle profile are noise (two samples of twenty); judge only profiles
/// with at least half a second of CPU (50 samples at the default 100 Hz). Also used as the
/// floor for alloc.contention.
pub const PROFILE_MIN_CPU_NS: i64 = 500_000_000;

/// alloc.contention: CPU time in runtime lock/futex frames under mcentral.cacheSpan /
/// mcentral.grow / mheap.alloc under mallocgc, as a share of all CPU. Uncontended refills
/// never show locks; 5% of all CPU spinning on the allocator is a visible tax, 15% a storm.
pub const ALLOC_CONTENTION_WARNING_RATIO: f64 = 0.05;
pub const ALLOC_CONTENTION_CRITICAL_RATIO: f64 = 0.15;
/// ...and at least this share of mallocgc time, so a little locking in a profile
/// dominated by allocation is not reported as contention.
pub const ALLOC_CONTENTION_MIN_MALLOC_RATIO: f64 = 0.10;

/// contention.mutex from a cumulative mutex profile (no duration): total wait since the
/// profile rate was set. Ten seconds of lock wait is a serialization point worth fixing; a
/// hundred means goroutines spend most of their life queued on one lock. (The corpus:
/// healthy services stay under 0.1 s; 32 workers on one lock reach 450 s in 15 s.)
pub const MUTEX_DELAY_WARNING_NS: i64 = 10_000_000_000;
pub const MUTEX_DELAY_CRITICAL_NS: i64 = 100_000_000_000;
/// ...with an interval (a delta profile `?seconds=N`, two profiles of one process, or the
/// process start; see block_rate.rs): wait per wall second. 100 ms/s means on average
/// a tenth of a goroutine is always waiting on locks; 1 s/s a whole one.
pub const MUTEX_DELAY_WARNING_NS_PER_S: i64 = 100_000_000;
pub const MUTEX_DELAY_CRITICAL_NS_PER_S: i64 = 1_000_000_000;
/// contention.block: the block profile also counts idle goroutines parked in select or on
/// a channel waiting for work (a server's accept/dispatch loop accrues one second per
/// second of uptime), so the bar is ten idle waiters' worth over a typical capture: 100 s
/// cumulative. Used only when no interval is known: a delta profile (`?seconds=N`), two
/// profiles of one process, or the process start (block_rate.rs) make it a rate, judged
/// per second below (after known idle sites are set aside).
pub const BLOCK_DELAY_WARNING_NS: i64 = 100_000_000_000;
pub const BLOCK_DELAY_CRITICAL_NS: i64 = 1_000_000_000_000;
pub const BLOCK_DELAY_WARNING_NS_PER_S: i64 = 10_000_000_000;
pub const BLOCK_DELAY_CRITICAL_NS_PER_S: i64 = 100_000_000_000;

/// gc.heap-growth from two heap profiles (`--base`): in-use bytes grew by at least
/// 16 MiB and by 50% of the base (warning) or doubled (critical); smaller changes are
/// ordinary working-set fluctuation.
pub const HEAP_GROWTH_MIN_BYTES: i64 = 16 << 20;
pub const HEAP_GROWTH_WARNING_RATIO: f64 = 0.50;
pub const HEAP_GROWTH_CRITICAL_RATIO: f64 = 1.00;

/// memory.unreturned: HeapIdle − HeapReleased. Below 64 MiB it is the scavenger's normal
/// lag; a quarter of Sys held idle is memory the container pays for and the heap profile
/// does not show; half is most of the footprint.
pub const UNRETURNED_MIN_BYTES: u64 = 64 << 20;
pub const UNRETURNED_WARNING_RATIO: f64 = 0.25;
pub const UNRETURNED_CRITICAL_RATIO: f64 = 0.50;
/// Suggested GOMEMLIMIT = (heap in use + stacks + metadata) × this headroom.
pub const UNRETURNED_MEMLIMIT_HEADROOM: f64 = 1.25;

/// memory.stack-heavy: StackInuse at least 64 MiB (≈ 8k goroutines at the 8 KiB minimum)
/// and a quarter of Sys (warning) or half (critical).
pub const STACK_HEAVY_MIN_BYTES: u64 = 64 << 20;
pub const STACK_HEAVY_WARNING_RATIO: f64 = 0.25;
pub const STACK_HEAVY_CRITICAL_RATIO: f64 = 0.50;

// ---- GC from gctrace, goroutine dumps (issue 3; used by `gc.rs` and `goroutines.rs`) ----

/// A gctrace run needs this many cycles and this much wall time before rates, trends and
/// percentiles mean anything; shorter runs get a summary but no rate-based findings.
pub const GC_MIN_CYCLES: usize = 5;
pub const GC_MIN_WINDOW_NS: u64 = 5_000_000_000;

/// gc.high-cpu: GC CPU (sweep/mark termination, assists, background mark; idle mark is
/// free) over wall time × GOMAXPROCS. The pacer aims at 25% during a cycle and a few
/// percent overall; 10% sustained is worth tuning, 25% means the GC never rests.
pub const GC_CPU_WARNING_PERCENT: f64 = 10.0;
pub const GC_CPU_CRITICAL_PERCENT: f64 = 25.0;

/// gc.frequent: non-forced cycles per minute. Two per second sustained is frequent for a
/// heap of any size; it is only reported when it also costs CPU (below), because small
/// heaps cycle often at the 4 MiB minimum goal for free.
pub const GC_FREQUENT_PER_MIN: f64 = 120.0;
pub const GC_FREQUENT_MIN_CPU_PERCENT: f64 = 5.0;
/// The GOGC recommended for gc.frequent aims at this cycle rate (GC frequency scales
/// roughly with 1/GOGC at a steady allocation rate), capped so memory stays bounded.
pub const GC_TARGET_PER_MIN: f64 = 30.0;
pub const GC_MAX_RECOMMENDED_GOGC: u32 = 800;

/// gc.long-pause: stop-the-world time per cycle (sweep termination + mark termination).
/// Go's STW phases take tens to hundreds of microseconds; a P99 of 10 ms is user-visible
/// latency, 50 ms (or a single 100 ms pause) usually means CPU throttling or a
/// non-preemptible loop delaying the stop.
pub const GC_PAUSE_P99_WARNING_NS: u64 = 10_000_000;
pub const GC_PAUSE_P99_CRITICAL_NS: u64 = 50_000_000;
pub const GC_PAUSE_MAX_CRITICAL_NS: u64 = 100_000_000;

/// gc.assist-heavy: mark-assist CPU as a share of GC CPU. The pacer plans for background
/// workers to do the marking; assists above a quarter mean allocating goroutines are
/// being drafted (latency on the request path), above half the pacer has lost.
pub const GC_ASSIST_WARNING_SHARE: f64 = 0.25;
pub const GC_ASSIST_CRITICAL_SHARE: f64 = 0.50;
/// ...with at least this much GC CPU per cycle on average, so idle programs with
/// microsecond cycles are not judged on noise.
pub const GC_ASSIST_MIN_CPU_NS_PER_CYCLE: u64 = 1_000_000;

/// gc.heap-growth from gctrace: the live heap's Theil–Sen trend across the run adds at
/// least 8 MiB and 50% of the starting live heap, and the trend is consistent (Kendall's
/// tau, the share of concordant minus discordant cycle pairs, at least 0.5). A
/// working set that rises and then plateaus has a low tau.
pub const GC_HEAP_GROWTH_MIN_BYTES: u64 = 8 << 20;
pub const GC_HEAP_GROWTH_MIN_RATIO: f64 = 0.5;
pub const GC_HEAP_GROWTH_MIN_TAU: f64 = 0.5;
/// Doubling within the run is critical.
pub const GC_HEAP_GROWTH_CRITICAL_RATIO: f64 = 1.0;

/// gc.memlimit-thrash: a cycle is limit-driven when its goal is below this share of the
/// GOGC goal (live + (live + stacks + globals) × GOGC/100, from the previous cycle);
/// gctrace rounds to MiB so only cycles with a GOGC goal of at least 8 MiB count.
pub const GC_LIMIT_DRIVEN_GOAL_RATIO: f64 = 0.8;
pub const GC_LIMIT_MIN_GOGC_GOAL_BYTES: u64 = 8 << 20;
/// Thrashing: at least half the cycles are limit-driven and the median headroom
/// (goal − live) / live is below 25% (with GOGC=100 it is 100%): the GC runs again as
/// soon as a quarter of the live heap has been allocated. Critical when GC CPU also
/// reaches GC_CPU_CRITICAL_PERCENT.
pub const GC_LIMIT_DRIVEN_MIN_SHARE: f64 = 0.5;
pub const GC_THRASH_MAX_HEADROOM: f64 = 0.25;
/// GOGC assumed when the caller does not know it (the Go default).
pub const GC_DEFAULT_GOGC: u32 = 100;

/// gc.forced: forced cycles (runtime.GC, debug.FreeOSMemory). Profilers and capture
/// tools force one or two, so fewer than 3 is not reported; a warning at 10% of all
/// cycles or more than one a minute.
pub const GC_FORCED_MIN_CYCLES: usize = 3;
pub const GC_FORCED_WARNING_SHARE: f64 = 0.10;
pub const GC_FORCED_WARNING_PER_MIN: f64 = 1.0;

/// goroutine.leak: a group of goroutines with the same stack, waiting (chan, select,
/// sync, IO) at least 1 minute, with at least 100 members (or 50% of a dump of at least
/// 50). Critical from 1,000 members. Wait minutes are printed from 1 minute on, so
/// younger groups are never called leaks.
pub const LEAK_MIN_WAIT_MINUTES: u64 = 1;
pub const LEAK_MIN_GROUP: usize = 100;
pub const LEAK_MIN_SHARE: f64 = 0.5;
pub const LEAK_MIN_SHARE_TOTAL: usize = 50;
pub const LEAK_CRITICAL_GROUP: usize = 1_000;

/// goroutine.count-high: total goroutines. Each costs at least 2–8 KiB of stack and GC
/// scan work; 10,000 is unusual outside of connection-per-goroutine servers, 100,000 is
/// a problem anywhere.
pub const GOROUTINES_WARNING: usize = 10_000;
pub const GOROUTINES_CRITICAL: usize = 100_000;

/// finalizer.blocked: the finalizer goroutine waiting in user code. Any wait is a
/// warning (all later finalizers queue behind it); from 1 minute on it is critical.
pub const FINALIZER_BLOCKED_CRITICAL_MINUTES: u64 = 1;

// ---- Execution traces (issue 4; used by `trace.rs`) ----

/// sched.latency: runnable → running waits at P99. Go hands a runnable goroutine a P
/// within tens of µs on an unloaded machine; 5 ms at P99 means requests queue behind
/// CPU work (a 10 ms tail per handoff adds up along a request), 50 ms is starvation.
pub const SCHED_LATENCY_P99_WARNING_NS: u64 = 5_000_000;
pub const SCHED_LATENCY_P99_CRITICAL_NS: u64 = 50_000_000;
/// Fewer transitions than this are too few for a P99. A one-second trace of a starved
/// service has only a few dozen handoffs (CPU-bound goroutines are preempted every
/// 10 ms), and each long wait is itself evidence, so the bar is low.
pub const SCHED_LATENCY_MIN_SAMPLES: u64 = 20;
/// syscall.blocking: a single syscall of 100 ms blocks its goroutine and pins an M;
/// goroutine time in syscalls above half the trace's wall time (summed over goroutines)
/// means blocking I/O dominates; above 4× wall time many threads sit in syscalls at once.
pub const SYSCALL_BLOCKING_MAX_NS: u64 = 100_000_000;
pub const SYSCALL_BLOCKING_SHARE_WARNING: f64 = 0.5;
pub const SYSCALL_BLOCKING_SHARE_CRITICAL: f64 = 4.0;
/// The share rule needs at least this much syscall time in total: in a very short trace
/// a few microsecond syscalls are a large share of nothing.
pub const SYSCALL_BLOCKING_MIN_TOTAL_NS: u64 = 100_000_000;
/// gc.long-pause (from traces) is judged with the gctrace and /metrics bars
/// (GC_PAUSE_*): a 1 ms bar warned on healthy servers (caddy: 8 pauses, max 1.05 ms).
/// contention.block (from traces): goroutine time blocked on mutexes or channel sends per
/// second of trace = the average number of goroutines stuck there. Healthy services sit
/// near 0 (their idle goroutines wait on receives and selects, which are not counted);
/// one goroutine always waiting is a hot lock or a full channel, ten is a convoy.
pub const TRACE_CONTENTION_WARNING_RATIO: f64 = 1.0;
pub const TRACE_CONTENTION_CRITICAL_RATIO: f64 = 10.0;
/// Width of a scheduler-latency heat-map time bucket.
pub const TRACE_HEATMAP_WINDOW_NS: u64 = 100_000_000;
/// How many sites a trace finding lists.
pub const TRACE_TOP_SITES: usize = 5;

// ---- Execution traces: leaks and assists (issue 4; `trace_leak.rs`, `trace_assist.rs`) ----

/// goroutine.leak (from traces): goroutines blocked through the whole window at one site.
/// A window shorter than half a second is too short to tell a leak from a pause between
/// requests. 100 members, as for dumps: idle worker pools are usually smaller, and a
/// group of a hundred goroutines none of which ran for the whole capture is worth a look.
/// Critical needs LEAK_CRITICAL_GROUP members and a window of LEAK_MIN_WAIT_MINUTES.
pub const TRACE_LEAK_MIN_WINDOW_NS: u64 = 500_000_000;
pub const TRACE_LEAK_MIN_GROUP: usize = 100;
/// "Blocked early and never woken": the goroutine's last block began within the first
/// tenth of the window (blocked before the trace began counts as blocked at its start).
pub const TRACE_LEAK_BLOCKED_EARLY_SHARE: f64 = 0.10;
/// gc.assist-heavy (from traces): assist time / (assist time + dedicated and fractional
/// mark worker time). The pacer plans for the background workers (25% of GOMAXPROCS) to
/// do the marking; as for gctrace, a quarter done by assists means allocating goroutines
/// are drafted on the request path, half means the pacer has lost.
pub const TRACE_ASSIST_WARNING_SHARE: f64 = 0.25;
pub const TRACE_ASSIST_CRITICAL_SHARE: f64 = 0.50;
/// ...also critical when assists take a tenth of all CPU (trace duration × GOMAXPROCS):
/// the mutators lose that much of the machine to GC work.
pub const TRACE_ASSIST_CPU_CRITICAL_SHARE: f64 = 0.10;
/// Judge only traces with at least 10 ms of mark work: a single short cycle in a short
/// trace gives a share of noise (one 40 µs assist against a 100 µs worker run).
pub const TRACE_ASSIST_MIN_MARK_NS: u64 = 10_000_000;

// ---- Prometheus /metrics and block-profile rates (used by `metrics.rs`, `profiles.rs`) ----

/// gc.long-pause from client_golang's `go_gc_duration_seconds` summary, which holds only
/// quantiles 0, ¼, ½, ¾ and 1 of the last ≤256 pauses: the upper quartile at the gctrace
/// P99 bars (GC_PAUSE_P99_*) is a pattern (warning / critical); one pause at
/// GC_PAUSE_MAX_CRITICAL_NS is critical as in gctrace; a maximum at the P99 warning bar
/// alone is one slow stop (info). Judged from the same cycle count as gctrace runs.
pub const METRICS_GC_MIN_CYCLES: u64 = GC_MIN_CYCLES as u64;
/// contention.block from two block profiles: they are taken as one process's cumulative
/// counters only when no stack's delay fell by more than 1% of the older total in all
/// (counters never fall; a restarted process starts again from zero).
pub const BLOCK_DELTA_MAX_FALL_RATIO: f64 = 0.01;
/// ...and taken at least a second apart: over a shorter interval one wait that happens to
/// end inside it makes any rate.
pub const BLOCK_DELTA_MIN_INTERVAL_NS: i64 = 1_000_000_000;

// ---- The per-process judgement (judge.rs) ----

/// Two heap profiles of one process are diffed to name a growing site only when at least
/// this far apart: seconds apart, their difference is sampling noise, not growth.
pub const HEAP_DIFF_MIN_INTERVAL_NS: i64 = 30_000_000_000;
/// A long pause names an allocation site when one site makes at least half of the bytes
/// allocated: then that site, not the workload as a whole, drives the collector.
pub const PAUSE_ALLOC_HOTSPOT_MIN_SHARE: f64 = 0.50;
/// Objects this large (1 MiB) are zeroed in long stretches when allocated; the advice
/// says so from here on.
pub const PAUSE_LARGE_OBJECT_BYTES: i64 = 1 << 20;

// ---- GC verdicts calibrated on real servers (branch `gc`, issue 13; `gc.rs`, `memory.rs`,
// `metrics.rs`) ----

/// gc.long-pause, every source (gctrace, MemStats `PauseNs`, /metrics, execution traces):
/// one table, GC_PAUSE_P99_WARNING_NS / GC_PAUSE_P99_CRITICAL_NS / GC_PAUSE_MAX_CRITICAL_NS
/// above. A percentile needs this many pauses: over fewer, "P99" is the maximum and is
/// shown as "max of N" (nearest rank over 19 samples is the largest).
pub const PAUSE_PERCENTILE_MIN_SAMPLES: usize = 20;
/// With a percentile, a warning needs at least this many pauses at the warning bar: one
/// slow stop on a busy machine is not a pattern.
pub const PAUSE_WARNING_MIN_LONG: usize = 2;

/// gc.heap-growth warm-up: a run whose last cycle is within this uptime (gctrace's `@` is
/// seconds since process start) lies in start-up: caches, TSDB heads, connection pools and
/// write buffers fill there. Five minutes covers the start-up of the Debian servers we
/// measured (prometheus 2.42's head levels off in about 3 min).
pub const GC_HEAP_STARTUP_UPTIME_NS: u64 = 300_000_000_000;
/// Growth that decelerates is warm-up: the second half of the window's Theil–Sen slope
/// is at most this share of the first half's (a cache filling towards its size slows
/// down; a leak keeps its pace, the heap-leak patients hold 0.7–1.3).
pub const GC_HEAP_WARMUP_DECEL_RATIO: f64 = 0.35;
/// Sustained growth inside start-up is a warning (never critical) only with this many
/// cycles: by then the process has allocated and collected its live heap many times over
/// while the retained part kept its pace; fewer cycles are too little to tell a cache
/// still filling from a leak (info, "re-check later").
pub const GC_HEAP_STARTUP_LEAK_MIN_CYCLES: usize = 100;
/// ...or the steady trend adds at least 64 MiB within start-up (the amount worth
/// explaining elsewhere too: RSS_GAP_MIN_BYTES, UNRETURNED_MIN_BYTES); prometheus 2.42's
/// start-up adds 9–16 MiB and levels off.
pub const GC_HEAP_STARTUP_LEAK_MIN_BYTES: u64 = 64 << 20;
/// ...and the trend must be this consistent (Kendall's tau).
pub const GC_HEAP_STARTUP_LEAK_MIN_TAU: f64 = 0.8;

/// gc.assist-heavy warm-up: cycles that start within this uptime run against the 4 MiB
/// minimum goal while the program loads its state; assists there are the pacer's normal
/// start-up, not mutator latency in service. Judged on the cycles after it.
pub const GC_ASSIST_WARMUP_UPTIME_NS: u64 = 1_000_000_000;
/// ...and assists (GC CPU share × assist share) must take at least 1% of the CPU capacity
/// (window × GOMAXPROCS): a quarter of the GC work of a process whose GC uses 0.2% of its
/// CPU drafts goroutines for microseconds per cycle. The memlimit-thrash patients' assists
/// take 7–13%; the finalizer-blocked patient's and an idle caddy's about 0.0%.
pub const GC_ASSIST_MIN_CPU_PERCENT: f64 = 1.0;

// ---- branch `profiles` (issue 13; used by `profiles.rs` and `block_rate.rs`) ----

/// cpu.gc-share is judged only when the process burns at least this many cores in the CPU
/// profile's window (CPU time / profile duration). A share of an almost idle process is
/// a share of nothing: on real servers (etcd at 0.28 cores, prometheus at 0.17) a third
/// of "GC and allocation" was under a tenth of a core, nothing GOGC could buy back. A
/// quarter core is where half of it going to GC (an eighth of a core) starts to be worth
/// tuning; the planted memlimit-thrash patient burns 0.4 cores, 80% of it in GC.
pub const CPU_GC_SHARE_MIN_CORES: f64 = 0.25;
/// cpu.gc-share from GC work alone (mark workers, assists, sweeping, mark termination) as
/// a share of the profile's CPU. Services spend 5–10% of their CPU in the collector (the
/// field cases: 7% and 11%); a fifth is where raising GOGC or setting GOMEMLIMIT pays off
/// visibly, two fifths means the program mostly collects garbage.
pub const CPU_GC_WORK_WARNING_RATIO: f64 = 0.20;
pub const CPU_GC_WORK_CRITICAL_RATIO: f64 = 0.40;
/// Allocation (mallocgc and below, assists excluded) as a share of CPU. 10–25% is common
/// in Go servers that decode and encode; from a quarter the allocating sites are worth
/// naming (info), from a half the program mostly allocates (warning). GOGC does not cut
/// this cost, so it never drives a GC warning.
pub const CPU_ALLOC_INFO_RATIO: f64 = 0.25;
pub const CPU_ALLOC_WARNING_RATIO: f64 = 0.50;
/// An allocating site is named only with at least this many CPU samples (100 ms at the
/// default 100 Hz): with fewer, Poisson noise (±1/sqrt(n), over 30% below 10) decides
/// the ranking; the field cases named sites with 1–3 samples.
pub const CPU_GC_SITE_MIN_SAMPLES: i64 = 10;
// contention.block / contention.mutex from block profiles (block_rate.rs): since issue
// 13 each wait is classified by the primitive it blocked in, and the bars above apply by
// class: BLOCK_DELAY_* to channel sends and waits of no known primitive; MUTEX_DELAY_*
// to waits in sync.Mutex/RWMutex Lock (the same goroutine-seconds of lock wait a mutex
// profile measures); channel receives are idle and set aside; select waits (idle loops or
// producers selecting on a send, which the profile cannot tell apart) and fork-join
// waits (WaitGroup/Cond/errgroup) are info at most. No new constants: the classes reuse
// these bars.

// ---- branch live: watch's heap-growth trigger, heap profiles in bundles, CPU starvation ----

/// gc.heap-growth from a watch window (the live heap keeps rising): judged only over at
/// least 30 s, so a burst of requests or one big batch is not a leak, and so the bundle's
/// two heap profiles can be 30 s apart.
pub const HEAP_TREND_MIN_WINDOW_S: f64 = 30.0;
/// The window is cut into this many equal slices; the lowest heap-in-use of each slice
/// (the trough after a GC) must rise from every slice to the next: sustained, not a step.
pub const HEAP_TREND_SEGMENTS: usize = 4;
/// ...with at least this many GC cycles in the window, so the troughs are post-GC heaps
/// and not garbage piling up between two collections.
pub const HEAP_TREND_MIN_GC_CYCLES: u64 = 3;
/// ...rising by at least 8 MiB and 25% of the first trough: smaller drifts are caches
/// warming and allocator noise.
pub const HEAP_TREND_MIN_GROWTH_BYTES: u64 = 8 << 20;
pub const HEAP_TREND_MIN_GROWTH_RATIO: f64 = 0.25;
/// ...and not decelerating: the second half of the window holds at least 40% of the
/// growth (a steady leak gives 50%; a start-up fill that is levelling off gives less).
pub const HEAP_TREND_MIN_LATE_SHARE: f64 = 0.40;
/// The baseline heap profile a bundle pairs with the one taken at the trigger is at
/// least this old (watch takes one every this many seconds and keeps the last few).
pub const HEAP_PROFILE_BASE_MIN_AGE_S: u64 = 30;

/// sched.cpu-starved / latency causes: the share of the threads' time (on CPU + waiting
/// on a run queue) spent waiting. Linux's schedstat counts it per thread; above 10% the
/// process runs noticeably late, above 30% a request waits longer than it runs.
pub const RUNQ_WAIT_WARNING_SHARE: f64 = 0.10;
pub const RUNQ_WAIT_CRITICAL_SHARE: f64 = 0.30;
/// ...over at least this much thread time (a mostly idle process's few ms say nothing).
pub const RUNQ_MIN_THREAD_TIME_NS: u64 = 1_000_000_000;
/// Host CPU pressure (`/proc/pressure/cpu` some avg10, percent of time at least one
/// runnable task waited): 10% is sustained contention, 40% a saturated host.
pub const HOST_CPU_PRESSURE_WARNING_PCT: f64 = 10.0;
pub const HOST_CPU_PRESSURE_CRITICAL_PCT: f64 = 40.0;
/// Load average (1 min) per online CPU above which the host is oversubscribed.
pub const HOST_LOAD_PER_CPU_HIGH: f64 = 1.5;

// ---- trace-dump (issue 13: idle waits, trace pauses and sites; `goroutines.rs`,
// `trace.rs`, `trace_leak.rs`, `trace_assist.rs`, `sites.rs`) ----

/// goroutine.count-high (info) for idle goroutines (keep-alive connections, listeners,
/// service loops): said only from the size at which a group would have been looked at
/// as a leak (LEAK_MIN_GROUP), since below it an idle pool needs no comment.
pub const IDLE_NOTE_MIN_GOROUTINES: usize = LEAK_MIN_GROUP;

/// gc.assist-heavy (from traces) at start-up is warm-up (info): the trace began with
/// the process (its first GC cycle in the trace is at most the 2nd of the process) and
/// every assist ended within its first 250 ms, while the heap grew from the minimum
/// goal (4 MiB × GOGC/100) with no pacer history.
pub const TRACE_ASSIST_WARMUP_MAX_FIRST_GC: u64 = 2;
pub const TRACE_ASSIST_WARMUP_NS: u64 = 250_000_000;
// ---- ebpf: `gorx probe` syscall latency (gorx-ebpf/src/judge.rs) ----

/// A syscall at least this slow (10 ms) is recorded with its Go stack: ten times a disk
/// fsync on a healthy SSD and far above any non-blocking call, so the event stream stays
/// rare on a healthy process.
pub const SYSCALL_SLOW_NS: u64 = 10_000_000;
/// syscall.slow is a warning when a site's slow syscalls hold on average at least half an
/// OS thread blocked in the kernel over the window (blocked time / window ≥ 0.5): each
/// blocked syscall pins a thread the scheduler must replace.
pub const SYSCALL_SLOW_WARN_THREADS: f64 = 0.5;
/// ...and critical at four threads pinned on average: the runtime keeps creating threads
/// (memory, scheduler churn) and GOMAXPROCS-sized work waits on the kernel.
pub const SYSCALL_SLOW_CRITICAL_THREADS: f64 = 4.0;
/// Fewer slow calls than this at a site is anecdote, not pattern: info at most.
pub const SYSCALL_SLOW_MIN_EVENTS: u64 = 5;
/// A window shorter than this (2 s) lowers the severity one step: a burst is not a rate.
pub const SYSCALL_SLOW_MIN_WINDOW_NS: u64 = 2_000_000_000;
/// At most this many syscall.slow findings (the sites with the most blocked time).
pub const SYSCALL_SLOW_MAX_FINDINGS: usize = 5;

// ---- ebpf2: `gorx probe --only runq` run-queue latency (gorx-ebpf/src/judge.rs) ----

/// sched.cpu-starved from the run-queue probe: a warning when the P99 delay from
/// "runnable" to "on a CPU" of the target's threads reaches 5 ms. An idle CFS run queue
/// hands a woken thread a CPU in tens of µs, a busy but healthy one within a couple of
/// ms (sched_latency_ns is 6 ms on small machines, split between the runnable tasks);
/// 5 ms at P99 means one in a hundred wakeups of a request handler waits longer than
/// most requests take to serve.
pub const RUNQ_PROBE_P99_WARNING_NS: u64 = 5_000_000;
/// ...critical at 50 ms: half a CFS period, the signature of a throttled quota (a thread
/// waits out the rest of the 100 ms period) or of a saturated host.
pub const RUNQ_PROBE_P99_CRITICAL_NS: u64 = 50_000_000;
/// Fewer measured delays than this is anecdote (a P99 of 20 samples is their max): info.
pub const RUNQ_PROBE_MIN_SAMPLES: u64 = 200;
/// A window shorter than this (2 s) lowers the severity one step: a burst is not a rate.
pub const RUNQ_PROBE_MIN_WINDOW_NS: u64 = 2_000_000_000;

// ---- ebpf2: `gorx probe --only fds` fd lifetimes (gorx-ebpf/src/judge.rs) ----

/// fd.leak from the fd probe: a site must have opened at least this many more fds than it
/// closed over the window. Below, a request in flight or a pool warming up explains it.
pub const FD_LEAK_PROBE_MIN_GROWTH: i64 = 10;
/// ...and still be growing in the window's second half by at least this share of its
/// total growth: a connection pool or cache that filled early and then held steady is
/// not a leak, a site that keeps opening without closing is.
pub const FD_LEAK_PROBE_SECOND_HALF_SHARE: f64 = 0.25;
/// Critical when, at the window's rate, the process reaches RLIMIT_NOFILE within an hour
/// (EMFILE: accept and open start failing).
pub const FD_LEAK_PROBE_CRITICAL_HORIZON_S: f64 = 3600.0;
/// A window shorter than this (2 s) lowers the severity one step.
pub const FD_LEAK_PROBE_MIN_WINDOW_NS: u64 = 2_000_000_000;
/// At most this many fd.leak findings (the fastest-growing sites).
pub const FD_LEAK_PROBE_MAX_FINDINGS: usize = 5;

// ---- alloc: `gorx probe --only alloc` span refill latency (gorx-ebpf/src/judge.rs) ----

/// alloc.contention from the allocator probe: a warning when the P99 latency of a span
/// refill function (mcentral.cacheSpan, mheap.alloc) reaches 100 µs. An uncontended refill
/// takes a span off a lock-free set or sweeps one: 0.5–4 µs measured on an allocation
/// storm and on the healthy HTTP patient under wrk (the probes' own cost calibrated and
/// subtracted, run-queue waits left out), with P99 in the 16–33 µs slot. The P99 read from
/// a log2 histogram is its slot's upper bound, so 100 µs means an actual P99 of at least
/// 65 µs: threads spin or sleep on the heap lock (lock2's futex sleep alone is tens of µs)
/// or sweep many spans per refill, beyond the calibration's noise (a few µs a call).
pub const ALLOC_PROBE_P99_WARNING_NS: u64 = 100_000;
/// ...critical at 500 µs (an actual P99 of at least 262 µs): a refill at P99 costs as much
/// as a whole request of a fast service, the mcache-refill storm of many Ps on the heap
/// lock.
pub const ALLOC_PROBE_P99_CRITICAL_NS: u64 = 500_000;
/// ...and only when refill time is a meaningful share of the process's CPU time over the
/// window: 5% (warning) and 15% (critical), the shares alloc.contention uses for lock
/// frames under mallocgc in CPU profiles (ALLOC_CONTENTION_*_RATIO). A slow refill now and
/// then costs nothing worth changing code for.
pub const ALLOC_PROBE_SHARE_WARNING: f64 = 0.05;
pub const ALLOC_PROBE_SHARE_CRITICAL: f64 = 0.15;
/// Fewer timed refills than this is anecdote (a P99 of 200 calls is their max): info.
pub const ALLOC_PROBE_MIN_CALLS: u64 = 1000;
/// A window shorter than this (2 s) lowers the severity one step: a burst is not a rate.
pub const ALLOC_PROBE_MIN_WINDOW_NS: u64 = 2_000_000_000;

// ---- mmap: `gorx probe --only mmap` anonymous memory (gorx-ebpf/src/judge.rs) ----

/// memory.rss-gap from the mmap probe: the user sites' anonymous mappings and C heap
/// (cgo malloc) made in the window and still held (resident bytes of the mappings from
/// /proc/PID/pagemap, outstanding bytes of the C blocks) must
/// reach this much, the same floor as the /proc rule (RSS_GAP_MIN_BYTES): below 64 MiB,
/// binary data, libc and cgo thread stacks explain it.
pub const MMAP_PROBE_MIN_BYTES: u64 = RSS_GAP_MIN_BYTES;
/// ...and this share of the process's anonymous RSS at the window's end: a quarter of
/// the memory outside the Go heap at one site is worth naming (warning), half means most
/// of the process lives there (critical); the same shares as the /proc rule.
pub const MMAP_PROBE_WARNING_SHARE: f64 = RSS_GAP_WARNING_RATIO;
pub const MMAP_PROBE_CRITICAL_SHARE: f64 = RSS_GAP_CRITICAL_RATIO;
/// A site is named in the finding's `sites` when it holds at least this share of the
/// user-mapped memory (the rest stay in the evidence): the fix is where the bulk is.
pub const MMAP_PROBE_SITE_MIN_SHARE: f64 = 0.10;
/// At most this many sites named.
pub const MMAP_PROBE_MAX_SITES: usize = 5;

// ---- offcpu: `gorx probe --only offcpu` off-CPU time (gorx-ebpf/src/judge.rs) ----

/// syscall.blocking from the off-CPU probe is a warning when a Go site's blocking syscalls
/// keep on average at least half an OS thread asleep over the window (off-CPU time /
/// window ≥ 0.5), the same bar as syscall.slow: each thread asleep in a syscall holds an
/// M the scheduler must replace, and the goroutine on it waits that long. The runtime's
/// idle threads (parked Ms, the netpoller, sysmon) are never counted.
pub const OFFCPU_BLOCKING_WARN_THREADS: f64 = 0.5;
/// ...critical at four threads asleep on average: the runtime keeps creating threads and
/// GOMAXPROCS-sized work waits on the kernel.
pub const OFFCPU_BLOCKING_CRITICAL_THREADS: f64 = 4.0;
/// Fewer sleeps than this at a site is anecdote (one goroutine parked in a read for the
/// whole window, such as a tool waiting on its stdin): info at most.
pub const OFFCPU_BLOCKING_MIN_SLEEPS: u64 = 5;
/// A window shorter than this (2 s) lowers the severity one step: a burst is not a rate.
pub const OFFCPU_BLOCKING_MIN_WINDOW_NS: u64 = 2_000_000_000;
/// At most this many findings from the off-CPU probe (the sites with the most time).
pub const OFFCPU_BLOCKING_MAX_FINDINGS: usize = 5;

// ---- tunefix: the live GC score over a window and the canary gate (score_live.rs, score_gate.rs) ----

/// The live score's oscillation component needs this many cycle-to-cycle changes of the
/// live heap (or heap goal) between readings: a P90 of fewer is one swing, an anecdote.
pub const LIVE_OSCILLATION_MIN_SWINGS: usize = 5;
/// The canary gate's absolute floor when none is given: the "floor 60". At 60 a
/// service has lost the equivalent of one heavy component entirely (pauses at 50 ms, or
/// GC CPU at 25%) plus part of another; below it a rollout should stop.
pub const GATE_DEFAULT_FLOOR: u32 = 60;
/// Intervene after this many consecutive samples below the floor: one bad sample is a
/// burst (a GC cycle during a deploy, a cold cache), three in a row is a trend.
pub const GATE_DEFAULT_FAILURES: u32 = 3;
/// A baseline window needs this many samples to estimate its noise (a median and a MAD
/// of fewer are guesses).
pub const GATE_BASELINE_MIN_SAMPLES: usize = 5;
/// The baseline's noise is this many robust standard deviations (1.4826 × MAD) of its
/// samples: three keeps normal jitter above the floor (about 0.3% of a normal sample
/// falls below).
pub const GATE_BASELINE_NOISE_SIGMAS: f64 = 3.0;
/// ...and never less than this many points: a steady baseline (MAD 0 on integer scores)
/// would otherwise set the floor one point under the median, and a change of a component
/// within its own good range (GC CPU 2% → 4%) would stop a rollout. Ten points is a
/// weight-25 component losing 40% of its range: a real regression.
pub const GATE_BASELINE_MIN_NOISE_POINTS: f64 = 10.0;
/// `gorx watch`'s gc_score is over the runtime readings of the last 30 s: long enough for
/// a GC CPU share and a cycle rate (GC_MIN_WINDOW_NS) at any sampling interval, short
/// enough that a change shows within a minute.
pub const WATCH_SCORE_WINDOW_NS: u64 = 30_000_000_000;
