// SPDX-License-Identifier: GPL-2.0
// gorx probe 1: syscall latency of one process (tgid), aggregated in the kernel.
//
// Raw tracepoints (attached by name, no tracefs needed; cheaper than the classic
// tracepoint, which first copies the arguments into a trace record).
// sys_enter records the entry time per thread (ts 0: in no syscall); sys_exit adds
// the latency to the syscall's per-CPU counters (count, total, max, log2 histogram).
// Only a syscall slower than `slow_ns` produces an event, with the user stack taken by
// frame pointer, so the ring buffer carries rare records by construction.
//
// Rebuild with build.sh; the object is committed beside this file.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define MAX_SYSCALLS 512
#define HIST_SLOTS 40
#define MAX_STACK 64
#define MAX_THREADS 16384

// Set by the loader before load (.rodata).
const volatile __u32 target_tgid = 0;
const volatile __u64 slow_ns = 10000000;

struct sys_stat {
	__u64 count;
	__u64 total_ns;
	__u64 max_ns;
	__u64 slots[HIST_SLOTS]; // slot i: latency in [2^i, 2^(i+1)) ns; slot 0 also holds 0
};

struct slow_event {
	__u32 tid;
	__u32 nr;
	__u64 latency_ns;
	__u64 end_ns;
	__s64 ret;
	__s32 stack_bytes; // bpf_get_stack's result: bytes written, or a negative errno
	__u32 _pad;
	__u64 stack[MAX_STACK];
};

struct start {
	__u64 ts;
	__u64 nr;
};

// LRU: a thread that exits inside a syscall (exit_group) never reaches sys_exit; its
// stale entry is evicted instead of filling the table.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_THREADS);
	__type(key, __u32);
	__type(value, struct start);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, struct sys_stat);
} stats SEC(".maps");

// [0]: slow events dropped (ring full); [1]: entries lost (thread table full).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

static __always_inline void count_drop(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&drops, &which);
	if (v)
		*v += 1;
}

// The raw tracepoint's arguments, read as plain u64s: vmlinux.h marks
// bpf_raw_tracepoint_args for CO-RE relocation, which a flexible array cannot take.
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

// sys_enter(struct pt_regs *regs, long id)
SEC("raw_tracepoint/sys_enter")
int sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if ((__u32)(id >> 32) != target_tgid)
		return 0;
	__u32 tid = (__u32)id;
	__u64 now = bpf_ktime_get_ns();
	// A thread's entry stays in the table between its syscalls (ts 0 when it is in none),
	// so the common case is a lookup and two stores: an update of an LRU hash allocates
	// a node and a delete frees one, which cost more than the rest of both programs.
	struct start *s = bpf_map_lookup_elem(&starts, &tid);
	if (s) {
		s->nr = raw_arg(ctx, 1);
		s->ts = now;
		return 0;
	}
	struct start n = { .ts = now, .nr = raw_arg(ctx, 1) };
	if (bpf_map_update_elem(&starts, &tid, &n, BPF_ANY) != 0)
		count_drop(1);
	return 0;
}

// sys_exit(struct pt_regs *regs, long ret)
SEC("raw_tracepoint/sys_exit")
int sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if ((__u32)(id >> 32) != target_tgid)
		return 0;
	__u32 tid = (__u32)id;
	struct start *s = bpf_map_lookup_elem(&starts, &tid);
	if (!s || s->ts == 0)
		return 0; // entered before the probe was attached
	__u64 now = bpf_ktime_get_ns();
	__u64 delta = now - s->ts;
	__u32 nr = (__u32)s->nr;
	s->ts = 0; // kept for the thread's next syscall (see sys_enter)
	if (nr >= MAX_SYSCALLS)
		return 0;
	struct sys_stat *st = bpf_map_lookup_elem(&stats, &nr);
	if (!st)
		return 0;
	st->count += 1;
	st->total_ns += delta;
	if (delta > st->max_ns)
		st->max_ns = delta;
	__u32 slot = log2_slot(delta);
	if (slot < HIST_SLOTS)
		st->slots[slot] += 1;

	if (delta < slow_ns)
		return 0;
	struct slow_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop(0);
		return 0;
	}
	e->tid = tid;
	e->nr = nr;
	e->latency_ns = delta;
	e->end_ns = now;
	e->ret = (__s64)raw_arg(ctx, 1);
	e->_pad = 0;
	e->stack_bytes = bpf_get_stack(ctx, e->stack, sizeof(e->stack), BPF_F_USER_STACK);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
