// SPDX-License-Identifier: GPL-2.0
// gorx probe 2: off-CPU time of one process's threads per user stack, aggregated in the
// kernel (as bcc's offcputime measures it, user stacks only).
//
// One raw tracepoint, sched_switch (attached by name, no tracefs). It fires on every
// context switch of the machine, so the target's tgid is checked first, from
// bpf_get_current_pid_tgid (current is still prev) and from next's task_struct.
// - A target thread switched out in a sleeping state (not TASK_RUNNING: a preempted
//   thread is runnable, which the runq probe measures) records the time, its user stack
//   (frame pointers, into a stack map), the syscall it sleeps in (orig_ax of its user
//   registers, trusted only when its user ip follows a `syscall` instruction: for a page
//   fault orig_ax holds the fault's error code) and whether the sleep is uninterruptible.
// - When it is switched in again, the time off CPU (which includes the run-queue wait
//   after its wakeup) is added to the (stack, syscall, state) counters.
// No per-event output. Entries that do not fit count as drops.
//
// Rebuild with build.sh; the object is committed beside this file.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define MAX_THREADS 16384
#define MAX_KEYS 16384
#define MAX_STACKS 8192
#define TASK_RUNNING 0
#define TASK_UNINTERRUPTIBLE 0x2
#define TASK_DEAD 0x80

// Set by the loader before load (.rodata).
const volatile __u32 target_tgid = 0;

struct off_key {
	__s32 stack_id; // bpf_get_stackid's result, or a negative errno
	__s32 nr;       // the syscall slept in, -1 when not in a syscall
	__u32 uninterruptible;
	__u32 _pad;
};

struct off_val {
	__u64 total_ns;
	__u64 count;
	__u64 max_ns;
};

struct start {
	__u64 ts;
	struct off_key key;
};

// LRU: a thread that exits while off CPU never switches in; its entry is evicted.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_THREADS);
	__type(key, __u32);
	__type(value, struct start);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_KEYS);
	__type(key, struct off_key);
	__type(value, struct off_val);
} offcpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, MAX_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 64 * sizeof(__u64));
} stacks SEC(".maps");

// [0]: off-CPU periods not counted (the counters table was full);
// [1]: switch-outs not recorded (the thread table update failed).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
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

static __always_inline void count_drop(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&drops, &which);
	if (v)
		*v += 1;
}

// The syscall current sleeps in, or -1.
static __always_inline __s32 current_syscall(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return -1;
	__u64 ip = BPF_CORE_READ(regs, ip);
	__u16 insn = 0;
	// 0f 05: x86_64 `syscall`, the instruction the user ip returns after.
	if (ip < 2 || bpf_probe_read_user(&insn, sizeof(insn), (void *)(ip - 2)) != 0 ||
	    insn != 0x050f)
		return -1;
	return (__s32)BPF_CORE_READ(regs, orig_ax);
}

// sched_switch(bool preempt, struct task_struct *prev, struct task_struct *next, ...)
SEC("raw_tracepoint/sched_switch")
int offcpu_switch(void *ctx)
{
	__u64 cur = bpf_get_current_pid_tgid();
	if ((__u32)(cur >> 32) == target_tgid) {
		struct task_struct *prev = (struct task_struct *)raw_arg(ctx, 1);
		long state;
		if (bpf_core_field_exists(prev->__state))
			state = BPF_CORE_READ(prev, __state);
		else
			state = BPF_CORE_READ((struct task_struct___pre514 *)prev, state);
		if (state != TASK_RUNNING && !(state & TASK_DEAD)) {
			struct start s = {};
			s.ts = bpf_ktime_get_ns();
			s.key.stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
			s.key.nr = current_syscall();
			s.key.uninterruptible = (state & TASK_UNINTERRUPTIBLE) ? 1 : 0;
			__u32 tid = (__u32)cur;
			if (bpf_map_update_elem(&starts, &tid, &s, BPF_ANY) != 0)
				count_drop(1);
		}
	}

	struct task_struct *next = (struct task_struct *)raw_arg(ctx, 2);
	if ((__u32)BPF_CORE_READ(next, tgid) != target_tgid)
		return 0;
	__u32 tid = (__u32)BPF_CORE_READ(next, pid);
	struct start *sp = bpf_map_lookup_elem(&starts, &tid);
	if (!sp)
		return 0; // switched out before the probe attached, or preempted
	__u64 delta = bpf_ktime_get_ns() - sp->ts;
	struct off_key key = sp->key;
	bpf_map_delete_elem(&starts, &tid);
	struct off_val *v = bpf_map_lookup_elem(&offcpu, &key);
	if (!v) {
		struct off_val zero = {};
		bpf_map_update_elem(&offcpu, &key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&offcpu, &key);
		if (!v) {
			count_drop(0);
			return 0;
		}
	}
	__sync_fetch_and_add(&v->total_ns, delta);
	__sync_fetch_and_add(&v->count, 1);
	if (delta > v->max_ns)
		v->max_ns = delta; // racy across CPUs; a max, not a sum
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
