// SPDX-License-Identifier: GPL-2.0
// gorx probe 4: fd lifetimes of one process (tgid), per opening user stack.
//
// Raw tracepoints sys_enter/sys_exit (no tracefs), filtered by tgid. At the entry of an
// fd-creating syscall the user stack is taken by frame pointer into a stack map; at its
// successful exit each new fd is owned by that stack (pipe2 and socketpair return two,
// read from the user array). close, and a new fd reusing a number whose close was not
// seen (dup2/dup3 onto an open fd), release the fd from its owner. Per stack the kernel
// keeps opened and closed counts, so user space reads outstanding fds per site.
//
// Rebuild with build.sh; the object is committed beside this file.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define MAX_THREADS 16384
#define MAX_FDS 65536
#define MAX_STACKS 4096

// x86_64 syscall numbers.
#define NR_open 2
#define NR_close 3
#define NR_pipe 22
#define NR_dup 32
#define NR_dup2 33
#define NR_socket 41
#define NR_accept 43
#define NR_socketpair 53
#define NR_fcntl 72
#define NR_creat 85
#define NR_inotify_init 253
#define NR_openat 257
#define NR_timerfd_create 283
#define NR_eventfd 284
#define NR_accept4 288
#define NR_signalfd4 289
#define NR_eventfd2 290
#define NR_epoll_create1 291
#define NR_dup3 292
#define NR_pipe2 293
#define NR_inotify_init1 294
#define NR_epoll_create 213
#define NR_memfd_create 319
#define NR_pidfd_open 434
#define NR_openat2 437
#define F_DUPFD 0
#define F_DUPFD_CLOEXEC 1030

const volatile __u32 target_tgid = 0;

struct pending {
	__u32 nr;
	__s32 stack_id; // bpf_get_stackid's result, or a negative errno
	__u64 arg;      // close: the fd; pipe/pipe2/socketpair: the user int[2]
};

struct site_count {
	__u64 opened;
	__u64 closed;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_THREADS);
	__type(key, __u32);
	__type(value, struct pending);
} pending SEC(".maps");

// fd → the stack id that opened it.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_FDS);
	__type(key, __u32);
	__type(value, __s32);
} owner SEC(".maps");

// stack id → counts (a failed stack capture counts under its negative errno).
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_STACKS);
	__type(key, __s32);
	__type(value, struct site_count);
} sites SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, MAX_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 64 * sizeof(__u64));
} stacks SEC(".maps");

// [0]: fds not tracked (owner or sites table full).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline __u64 raw_arg(void *ctx, int i)
{
	return ((__u64 *)ctx)[i];
}

static __always_inline void count_drop(void)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&drops, &zero);
	if (v)
		*v += 1;
}

static __always_inline int creates_fd(__u32 nr)
{
	switch (nr) {
	case NR_open: case NR_creat: case NR_openat: case NR_openat2:
	case NR_socket: case NR_accept: case NR_accept4: case NR_socketpair:
	case NR_pipe: case NR_pipe2: case NR_dup: case NR_dup2: case NR_dup3:
	case NR_eventfd: case NR_eventfd2: case NR_epoll_create: case NR_epoll_create1:
	case NR_memfd_create: case NR_inotify_init: case NR_inotify_init1:
	case NR_signalfd4: case NR_timerfd_create: case NR_pidfd_open: case NR_fcntl:
		return 1;
	}
	return 0;
}

static __always_inline void release(__u32 fd)
{
	__s32 *sid = bpf_map_lookup_elem(&owner, &fd);
	if (!sid)
		return; // opened before the probe attached
	__s32 id = *sid;
	bpf_map_delete_elem(&owner, &fd);
	struct site_count *c = bpf_map_lookup_elem(&sites, &id);
	if (c)
		__sync_fetch_and_add(&c->closed, 1);
}

static __always_inline void own(__u32 fd, __s32 id)
{
	// A number reused without a close we saw (dup2/dup3 onto an open fd).
	release(fd);
	struct site_count *c = bpf_map_lookup_elem(&sites, &id);
	if (!c) {
		struct site_count zero = {};
		bpf_map_update_elem(&sites, &id, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&sites, &id);
		if (!c) {
			count_drop();
			return;
		}
	}
	if (bpf_map_update_elem(&owner, &fd, &id, BPF_ANY) != 0) {
		count_drop();
		return;
	}
	__sync_fetch_and_add(&c->opened, 1);
}

// sys_enter(struct pt_regs *regs, long id)
SEC("raw_tracepoint/sys_enter")
int fds_enter(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if ((__u32)(id >> 32) != target_tgid)
		return 0;
	__u32 nr = (__u32)raw_arg(ctx, 1);
	if (nr != NR_close && !creates_fd(nr))
		return 0;
	struct pt_regs *regs = (struct pt_regs *)raw_arg(ctx, 0);
	struct pending p = { .nr = nr, .stack_id = 0, .arg = 0 };
	if (nr == NR_fcntl) {
		__u64 cmd = BPF_CORE_READ(regs, si);
		if (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC)
			return 0;
	}
	if (nr == NR_close) {
		p.arg = BPF_CORE_READ(regs, di);
	} else {
		if (nr == NR_pipe || nr == NR_pipe2)
			p.arg = BPF_CORE_READ(regs, di);
		else if (nr == NR_socketpair)
			p.arg = BPF_CORE_READ(regs, r10);
		p.stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	}
	__u32 tid = (__u32)id;
	bpf_map_update_elem(&pending, &tid, &p, BPF_ANY);
	return 0;
}

// sys_exit(struct pt_regs *regs, long ret)
SEC("raw_tracepoint/sys_exit")
int fds_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if ((__u32)(id >> 32) != target_tgid)
		return 0;
	__u32 tid = (__u32)id;
	struct pending *pp = bpf_map_lookup_elem(&pending, &tid);
	if (!pp)
		return 0;
	struct pending p = *pp;
	bpf_map_delete_elem(&pending, &tid);
	long ret = (long)raw_arg(ctx, 1);
	if (ret < 0)
		return 0;
	if (p.nr == NR_close) {
		release((__u32)p.arg);
		return 0;
	}
	if (p.nr == NR_pipe || p.nr == NR_pipe2 || p.nr == NR_socketpair) {
		int pair[2] = { -1, -1 };
		if (bpf_probe_read_user(pair, sizeof(pair), (void *)p.arg) != 0)
			return 0;
		if (pair[0] >= 0)
			own((__u32)pair[0], p.stack_id);
		if (pair[1] >= 0)
			own((__u32)pair[1], p.stack_id);
		return 0;
	}
	own((__u32)ret, p.stack_id);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
