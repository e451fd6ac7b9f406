// SPDX-License-Identifier: GPL-2.0
// gorx probe 6: allocator contention of one Go process (tgid): the latency of the
// runtime's span refill, runtime.(*mcentral).cacheSpan and runtime.(*mheap).alloc.
//
// Uprobes at each function's entry and at EACH of its return instructions (found in user
// space by disassembling the function's bytes from the binary), never uretprobes: a
// uretprobe rewrites the return address on the stack, and Go moves goroutine stacks
// (copystack), which breaks the kernel's bookkeeping and crashes the target.
//
// The attach cookie says which function (slot) the probe belongs to. At entry the
// timestamp is stored per (thread, function slot), because mheap.alloc
// is called from inside cacheSpan (mcentral.grow) on the same thread; at a return the
// latency goes into the function's log2 histogram. Time of a function spent inside an
// outer traced function (a lower slot open on the same thread) is also counted as nested,
// so user space can sum the refill time without counting it twice.
//
// Why per-thread timing is sound here: a goroutine changes thread (M) only at a scheduling
// point. These functions run under mallocgc's acquirem (m.locks > 0, m.mallocing set): the
// scheduler does not preempt a goroutine whose M holds locks, not even at the morestack
// check of the prologue (newstack refuses to preempt when m.locks != 0), and their lock
// waits (runtime lock2: spin, then futex) sleep the whole M with the goroutine on it. So
// entry and return of one call happen on the same thread, with nothing else of the
// process between them on that thread except what they call.
//
// Rebuild with build.sh; the object is committed beside this file.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define HIST_SLOTS 40
#define MAX_THREADS 16384
// Function slots (the cookie); the order is outermost first. The last slot is the
// calibration probe pair on an empty function of gorx itself (see alloc.rs).
#define NFUNCS 4
#define CALIB_SLOT (NFUNCS - 1)

// Set by the loader before load (.rodata): the target, and gorx itself (calibration).
const volatile __u32 target_tgid = 0;
const volatile __u32 calib_tgid = 0;

// A call's latency is its own time: entry to return, less the probes' own cost (the
// calibrated mean of an empty call), less the time the thread waited on a CPU run queue
// meanwhile (task->sched_info.run_delay, which the scheduler adds up at
// each switch-in). What is left is time on CPU and asleep on the allocator's locks; a
// busy host or a CFS quota stretches the wall time but is not allocator contention (the
// run-queue probe measures that).
struct fn_stat {
	__u64 entries;
	__u64 returns;      // returns matched with an entry seen on the same thread
	__u64 total_ns;     // own time of the matched calls
	__u64 max_ns;
	__u64 nested_ns;    // of total_ns, time spent inside an outer traced function
	__u64 unmatched;    // returns without a recorded entry
	__u64 queued_ns;    // run-queue waits inside the matched calls (not in total_ns)
	__u64 slots[HIST_SLOTS]; // slot i: own time in [2^i, 2^(i+1)) ns; slot 0 also holds 0
};

// (thread, function slot) of a call still running: its entry time.
struct open_key {
	__u32 tid;
	__u32 fn;
};

struct open_call {
	__u64 ts;
	__u64 run_delay; // the thread's run-queue wait so far, at entry
};

// LRU: an entry whose return was never seen (a throw) must not fill the table.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_THREADS * 2);
	__type(key, struct open_key);
	__type(value, struct open_call);
} open_at SEC(".maps");

static __always_inline __u64 run_delay(void)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	return BPF_CORE_READ(t, sched_info.run_delay);
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NFUNCS);
	__type(key, __u32);
	__type(value, struct fn_stat);
} stats SEC(".maps");

// Written by user space from the calibration before the target is probed:
// [0]: the probes' cost inside a call's measured time (ns), subtracted from every call;
// [1]: the whole cost of a probed call as its caller sees it (both traps, both programs,
//      both out-of-line steps), subtracted from an outer traced call per nested call.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} overhead SEC(".maps");

// [0]: entries not timed (thread table update failed).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline __u32 log2_slot(__u64 v)
{
	__u32 r = 0;
#pragma unroll
	for (int i = 32; i > 0; i >>= 1) {
		if (v >= (1ULL << i)) {
			v >>= i;
			r += i;
		}
	}
	return r < HIST_SLOTS ? r : HIST_SLOTS - 1;
}

SEC("uprobe")
int alloc_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if ((__u32)(id >> 32) != target_tgid && (__u32)(id >> 32) != calib_tgid)
		return 0;
	__u32 fn = (__u32)bpf_get_attach_cookie(ctx);
	if (fn >= NFUNCS)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	struct fn_stat *st = bpf_map_lookup_elem(&stats, &fn);
	if (st)
		st->entries += 1;
	struct open_key k = { .tid = (__u32)id, .fn = fn };
	// A second entry without a return (the prologue's morestack jumps back to the
	// entry) restarts the clock: the stack growth is not the allocator's time.
	struct open_call c = { .ts = now, .run_delay = run_delay() };
	if (bpf_map_update_elem(&open_at, &k, &c, BPF_ANY) != 0) {
		__u32 z = 0;
		__u64 *d = bpf_map_lookup_elem(&drops, &z);
		if (d)
			*d += 1;
	}
	return 0;
}

SEC("uprobe")
int alloc_return(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if ((__u32)(id >> 32) != target_tgid && (__u32)(id >> 32) != calib_tgid)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u32 fn = (__u32)bpf_get_attach_cookie(ctx);
	if (fn >= NFUNCS)
		return 0;
	struct fn_stat *st = bpf_map_lookup_elem(&stats, &fn);
	if (!st)
		return 0;
	struct open_key k = { .tid = (__u32)id, .fn = fn };
	struct open_call *c = bpf_map_lookup_elem(&open_at, &k);
	if (!c || c->ts > now) {
		st->unmatched += 1;
		return 0;
	}
	__u64 delta = now - c->ts;
	__u64 rd = run_delay();
	__u64 queued = rd > c->run_delay ? rd - c->run_delay : 0;
	if (queued > delta)
		queued = delta;
	delta -= queued;
	__u64 cost = 0, pair = 0;
	if (fn != CALIB_SLOT) {
		__u32 z = 0, one = 1;
		__u64 *o = bpf_map_lookup_elem(&overhead, &z);
		if (o)
			cost = *o;
		o = bpf_map_lookup_elem(&overhead, &one);
		if (o)
			pair = *o;
	}
	delta = delta > cost ? delta - cost : 0;
	bpf_map_delete_elem(&open_at, &k);
	// Inside an outer traced function still running on this thread? Then this call's
	// probes also cost the outer call their time: its clock starts that much later.
	int nested = 0;
#pragma unroll
	for (__u32 j = 0; j < NFUNCS - 1; j++) {
		struct open_key outer = { .tid = (__u32)id, .fn = j };
		if (j >= fn)
			continue;
		struct open_call *oc = bpf_map_lookup_elem(&open_at, &outer);
		if (oc) {
			nested = 1;
			oc->ts = oc->ts + pair <= now ? oc->ts + pair : now;
		}
	}
	st->returns += 1;
	st->total_ns += delta;
	st->queued_ns += queued;
	if (nested)
		st->nested_ns += delta;
	if (delta > st->max_ns)
		st->max_ns = delta;
	__u32 slot = log2_slot(delta);
	if (slot < HIST_SLOTS)
		st->slots[slot] += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
