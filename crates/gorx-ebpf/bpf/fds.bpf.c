// SPDX-License-Identifier: GPL-2.0
// gorx probe 4: fd lifetimes of one process (tgid), per opening user stack.
//
// Tracepoints of the fd syscalls only (syscalls:sys_exit_openat, sys_exit_socket, ...), each
// filtered by tgid first: other syscalls run no program (raw_syscalls sys_enter/sys_exit ran
// one on every syscall of every task on the host). fentry/fexit on __x64_sys_* would need no
// tracefs, but kernels may refuse BPF_PROG_TYPE_TRACING (the Firecracker kernel this was
// written on returns EPERM before verification). At the successful exit of an fd-creating
// syscall the user stack is taken by frame pointer into a stack map (from the task's user
// registers, the same at exit as at entry) and each new fd is owned by that stack. The exit
// tracepoint carries no arguments, so the four syscalls that need one also have an entry
// program that keeps it per thread: pipe/pipe2 and socketpair return two fds in a user array,
// fcntl creates one only for F_DUPFD/F_DUPFD_CLOEXEC. close releases the fd from its owner at
// entry (Linux frees the number even when close then fails, and another thread may reuse it
// before close returns); a new fd reusing a number whose close was not seen (dup2/dup3 onto
// an open fd) releases it too. Per stack the kernel keeps opened and closed counts, so user
// space reads outstanding fds per site. src/fds.rs attaches the programs by name and skips a
// syscall whose tracepoint this kernel lacks.
//
// Rebuild with build.sh; the object is committed beside this file.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define MAX_THREADS 16384
#define MAX_FDS 65536
#define MAX_STACKS 4096

// fcntl's x86_64 syscall number and the commands that create an fd.
#define NR_fcntl 72
#define F_DUPFD 0
#define F_DUPFD_CLOEXEC 1030

const volatile __u32 target_tgid = 0;

struct site_count {
	__u64 opened;
	__u64 closed;
};

// What an entry program keeps for its exit: which syscall (its number), and the argument
// the exit needs (pipe/pipe2/socketpair: the user int[2]; fcntl: 1, kept only for F_DUPFD*).
struct pending {
	__u32 nr;
	__u64 arg;
};

// thread → its pending syscall.
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

static __always_inline void count_drop(void)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&drops, &zero);
	if (v)
		*v += 1;
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

static __always_inline int is_target(void)
{
	return (__u32)(bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

// The exit of an fd-creating syscall. `arr`: the user int[2] pipe/pipe2/socketpair filled,
// else 0 (the new fd is the return value).
static __always_inline void created(void *ctx, long ret, __u64 arr)
{
	if (ret < 0)
		return;
	__s32 stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	if (arr) {
		int pair[2] = { -1, -1 };
		if (bpf_probe_read_user(pair, sizeof(pair), (void *)arr) != 0)
			return;
		if (pair[0] >= 0)
			own((__u32)pair[0], stack_id);
		if (pair[1] >= 0)
			own((__u32)pair[1], stack_id);
		return;
	}
	own((__u32)ret, stack_id);
}

// The argument the entry of syscall `nr` kept for this thread (0 when none was kept, or
// it was another syscall's: an entry seen without its exit as the probe attached).
static __always_inline __u64 take_pending(__u32 nr)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending *v = bpf_map_lookup_elem(&pending, &tid);
	if (!v)
		return 0;
	struct pending p = *v;
	bpf_map_delete_elem(&pending, &tid);
	return p.nr == nr ? p.arg : 0;
}

static __always_inline void keep_pending(__u32 nr, __u64 arg)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending p = { .nr = nr, .arg = arg };
	bpf_map_update_elem(&pending, &tid, &p, BPF_ANY);
}

// An exit-only program: the new fd is the return value. The program's name (at most 15
// characters, the kernel's limit) is fds_ + SHORT; src/fds.rs lists the same names.
#define CREATOR(SYS, SHORT)                                                       \
	SEC("tracepoint/syscalls/sys_exit_" #SYS)                                     \
	int fds_##SHORT(struct trace_event_raw_sys_exit *ctx)                         \
	{                                                                             \
		if (!is_target())                                                     \
			return 0;                                                     \
		created(ctx, ctx->ret, 0);                                            \
		return 0;                                                             \
	}

CREATOR(open, open)
CREATOR(creat, creat)
CREATOR(openat, openat)
CREATOR(openat2, openat2)
CREATOR(socket, socket)
CREATOR(accept, accept)
CREATOR(accept4, accept4)
CREATOR(dup, dup)
CREATOR(dup2, dup2)
CREATOR(dup3, dup3)
CREATOR(eventfd, eventfd)
CREATOR(eventfd2, eventfd2)
CREATOR(epoll_create, epoll)
CREATOR(epoll_create1, epoll1)
CREATOR(memfd_create, memfd)
CREATOR(inotify_init, inotify)
CREATOR(inotify_init1, inotify1)
CREATOR(signalfd4, signalfd4)
CREATOR(timerfd_create, timerfd)
CREATOR(pidfd_open, pidfd_open)

// A syscall whose exit needs an argument: the entry keeps argument ARG (pipe/pipe2: the
// array, the 1st; socketpair: the array, the 4th) for the exit. NR: x86_64 syscall number.
#define PAIR(SYS, SHORT, NR, ARG)                                                 \
	SEC("tracepoint/syscalls/sys_enter_" #SYS)                                    \
	int fds_##SHORT##_e(struct trace_event_raw_sys_enter *ctx)                    \
	{                                                                             \
		if (!is_target())                                                     \
			return 0;                                                     \
		keep_pending(NR, ctx->args[ARG]);                                     \
		return 0;                                                             \
	}                                                                             \
	SEC("tracepoint/syscalls/sys_exit_" #SYS)                                     \
	int fds_##SHORT(struct trace_event_raw_sys_exit *ctx)                         \
	{                                                                             \
		if (!is_target())                                                     \
			return 0;                                                     \
		__u64 arr = take_pending(NR);                                         \
		if (arr)                                                              \
			created(ctx, ctx->ret, arr);                                  \
		return 0;                                                             \
	}

PAIR(pipe, pipe, 22, 0)
PAIR(pipe2, pipe2, 293, 0)
PAIR(socketpair, sockpair, 53, 3)

// fcntl creates an fd only for F_DUPFD and F_DUPFD_CLOEXEC: the entry marks those.
SEC("tracepoint/syscalls/sys_enter_fcntl")
int fds_fcntl_e(struct trace_event_raw_sys_enter *ctx)
{
	if (!is_target())
		return 0;
	__u64 cmd = ctx->args[1];
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		keep_pending(NR_fcntl, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_fcntl")
int fds_fcntl(struct trace_event_raw_sys_exit *ctx)
{
	if (!is_target())
		return 0;
	if (take_pending(NR_fcntl))
		created(ctx, ctx->ret, 0);
	return 0;
}

// close(fd): released at entry.
SEC("tracepoint/syscalls/sys_enter_close")
int fds_close(struct trace_event_raw_sys_enter *ctx)
{
	if (!is_target())
		return 0;
	release((__u32)ctx->args[0]);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
