// SPDX-License-Identifier: GPL-2.0
// gorx probe 3: run-queue latency (CFS) of one process's threads, aggregated in the kernel.
//
// Raw tracepoints (attached by name, no tracefs), as bcc's runqlat measures it:
// a thread of the target is queued when it is woken (sched_wakeup, sched_wakeup_new) or
// when it is switched out still runnable (sched_switch with prev_state == TASK_RUNNING:
// preempted, e.g. at the end of its slice or when its cgroup ran out of CFS quota); the
// delay from that moment to its next switch-in goes into a log2 histogram, kept apart
// for the two ways in. Filtered in the kernel by the task_struct's tgid (CO-RE reads).
//
// Rebuild with build.sh; the object is committed beside this file.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define HIST_SLOTS 40
#define MAX_THREADS 16384
#define TASK_RUNNING 0

// Set by the loader before load (.rodata).
const volatile __u32 target_tgid = 0;

struct runq_stat {
	__u64 count;
	__u64 total_ns;
	__u64 max_ns;
	__u64 slots[HIST_SLOTS]; // slot i: delay in [2^i, 2^(i+1)) ns; slot 0 also holds 0
};

// Queued since (ns) and how: 0 woken, 1 preempted.
struct queued {
	__u64 ts;
	__u64 kind;
};

// LRU: a thread that exits while queued never switches in; its entry is evicted.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_THREADS);
	__type(key, __u32);
	__type(value, struct queued);
} queued_at SEC(".maps");

// [0]: delays after a wakeup; [1]: delays after an involuntary switch-out.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct runq_stat);
} stats SEC(".maps");

// [0]: queue entries lost (thread table update failed).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

// task_struct.state was renamed __state in Linux 5.14.
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

static __always_inline __u64 raw_arg(void *ctx, int i)
{
	return ((__u64 *)ctx)[i];
}

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

static __always_inline void enqueue_tid(__u32 tid, __u64 kind)
{
	struct queued q = { .ts = bpf_ktime_get_ns(), .kind = kind };
	if (bpf_map_update_elem(&queued_at, &tid, &q, BPF_ANY) != 0) {
		__u32 zero = 0;
		__u64 *v = bpf_map_lookup_elem(&drops, &zero);
		if (v)
			*v += 1;
	}
}

static __always_inline void enqueue(struct task_struct *p, __u64 kind)
{
	if ((__u32)BPF_CORE_READ(p, tgid) != target_tgid)
		return;
	enqueue_tid((__u32)BPF_CORE_READ(p, pid), kind);
}

// sched_wakeup(struct task_struct *p)
SEC("raw_tracepoint/sched_wakeup")
int runq_wakeup(void *ctx)
{
	enqueue((struct task_struct *)raw_arg(ctx, 0), 0);
	return 0;
}

// sched_wakeup_new(struct task_struct *p)
SEC("raw_tracepoint/sched_wakeup_new")
int runq_wakeup_new(void *ctx)
{
	enqueue((struct task_struct *)raw_arg(ctx, 0), 0);
	return 0;
}

// sched_switch(bool preempt, struct task_struct *prev, struct task_struct *next, ...)
SEC("raw_tracepoint/sched_switch")
int runq_switch(void *ctx)
{
	struct task_struct *prev = (struct task_struct *)raw_arg(ctx, 1);
	struct task_struct *next = (struct task_struct *)raw_arg(ctx, 2);

	// The tracepoint fires before the switch: current is still prev, so its tgid costs
	// no kernel read (this runs on every context switch of the machine).
	__u64 cur = bpf_get_current_pid_tgid();
	if ((__u32)(cur >> 32) == target_tgid) {
		long state;
		if (bpf_core_field_exists(prev->__state))
			state = BPF_CORE_READ(prev, __state);
		else
			state = BPF_CORE_READ((struct task_struct___pre514 *)prev, state);
		if (state == TASK_RUNNING)
			enqueue_tid((__u32)cur, 1);
	}

	if ((__u32)BPF_CORE_READ(next, tgid) != target_tgid)
		return 0;
	__u32 tid = (__u32)BPF_CORE_READ(next, pid);
	struct queued *q = bpf_map_lookup_elem(&queued_at, &tid);
	if (!q)
		return 0; // queued before the probe was attached
	__u64 delta = bpf_ktime_get_ns() - q->ts;
	__u32 kind = q->kind ? 1 : 0;
	bpf_map_delete_elem(&queued_at, &tid);
	struct runq_stat *st = bpf_map_lookup_elem(&stats, &kind);
	if (!st)
		return 0;
	st->count += 1;
	st->total_ns += delta;
	if (delta > st->max_ns)
		st->max_ns = delta;
	__u32 slot = log2_slot(delta);
	if (slot < HIST_SLOTS)
		st->slots[slot] += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
