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
// timestamp is stored per thread (tid) in the function's own slot, because mheap.alloc
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

#define HIST_SLOTS 40
#define MAX_THREADS 16384
// Function slots (the cookie); the order is outermost first.
#define NFUNCS 4

// Set by the loader before load (.rodata).
const volatile __u32 target_tgid = 0;

struct fn_stat {
	__u64 entries;
	__u64 returns;      // returns matched with an entry seen on the same thread
	__u64 total_ns;
	__u64 max_ns;
	__u64 nested_ns;    // of total_ns, time spent inside an outer traced function
	__u64 unmatched;    // returns without a recorded entry (entered before attach)
	__u64 slots[HIST_SLOTS]; // slot i: latency in [2^i, 2^(i+1)) ns; slot 0 also holds 0
};

// Per thread: the entry time of each function still running on it (0: not running).
struct open_calls {
	__u64 ts[NFUNCS];
};

// LRU: a thread that exits inside a traced function (it cannot, but a stale entry must
// not fill the table) is evicted.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_THREADS);
	__type(key, __u32);
	__type(value, struct open_calls);
} open_at SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NFUNCS);
	__type(key, __u32);
	__type(value, struct fn_stat);
} stats SEC(".maps");

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
	if ((__u32)(id >> 32) != target_tgid)
		return 0;
	__u32 fn = (__u32)bpf_get_attach_cookie(ctx);
	if (fn >= NFUNCS)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	struct fn_stat *st = bpf_map_lookup_elem(&stats, &fn);
	if (st)
		st->entries += 1;
	__u32 tid = (__u32)id;
	struct open_calls *oc = bpf_map_lookup_elem(&open_at, &tid);
	if (!oc) {
		struct open_calls zero = {};
		bpf_map_update_elem(&open_at, &tid, &zero, BPF_NOEXIST);
		oc = bpf_map_lookup_elem(&open_at, &tid);
		if (!oc) {
			__u32 z = 0;
			__u64 *d = bpf_map_lookup_elem(&drops, &z);
			if (d)
				*d += 1;
			return 0;
		}
	}
	// A second entry without a return (the prologue's morestack jumps back to the
	// entry) restarts the clock: the stack growth is not the allocator's time.
	oc->ts[fn] = now;
	return 0;
}

SEC("uprobe")
int alloc_return(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if ((__u32)(id >> 32) != target_tgid)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u32 fn = (__u32)bpf_get_attach_cookie(ctx);
	if (fn >= NFUNCS)
		return 0;
	struct fn_stat *st = bpf_map_lookup_elem(&stats, &fn);
	if (!st)
		return 0;
	__u32 tid = (__u32)id;
	struct open_calls *oc = bpf_map_lookup_elem(&open_at, &tid);
	if (!oc || oc->ts[fn] == 0 || oc->ts[fn] > now) {
		st->unmatched += 1;
		return 0;
	}
	__u64 delta = now - oc->ts[fn];
	oc->ts[fn] = 0;
	int nested = 0;
#pragma unroll
	for (int j = 0; j < NFUNCS; j++) {
		if (j < fn && oc->ts[j] != 0)
			nested = 1;
	}
	st->returns += 1;
	st->total_ns += delta;
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
