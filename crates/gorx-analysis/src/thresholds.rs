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

/// cpu.gc-share: share of CPU profile time with GC work (mark workers, assists, sweeping)
/// or allocation (mallocgc) on the stack. A healthy service spends 5–15%; a quarter means
/// GC tuning or fewer allocations pays off; half means the program mostly manages memory.
pub const CPU_GC_SHARE_WARNING_RATIO: f64 = 0.25;
pub const CPU_GC_SHARE_CRITICAL_RATIO: f64 = 0.50;
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
/// ...from a delta profile (`?seconds=N`): wait per wall second. 100 ms/s means on average
/// a tenth of a goroutine is always waiting on locks; 1 s/s a whole one.
pub const MUTEX_DELAY_WARNING_NS_PER_S: i64 = 100_000_000;
pub const MUTEX_DELAY_CRITICAL_NS_PER_S: i64 = 1_000_000_000;
/// contention.block: the block profile also counts idle goroutines parked in select or on
/// a channel waiting for work (a server's accept/dispatch loop accrues one second per
/// second of uptime), so the bar is ten idle waiters' worth over a typical capture: 100 s
/// cumulative. Captures from long-running processes should use a delta profile
/// (`?seconds=N`), judged per second below.
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
