// SPDX-License-Identifier: GPL-2.0
// gorx probe 5 (cgo part): libc malloc/calloc/realloc/free of one process (tgid), per
// the Go stack that called into C.
//
// uprobes on libc's malloc, calloc, realloc (entry: the size) with a uretprobe on each
// (the pointer; libc is C, whose stack does not move, so a uretprobe is safe there; never
// on Go functions) and on free (entry). C code compiled without frame pointers has no
// usable user stack, so the Go stack is taken where Go calls into C: a uprobe at the
// entry of runtime.cgocall keeps, per thread, the stack of the goroutine making the call;
// the C allocations made on that thread are charged to it. An allocation on a thread
// that never entered C through cgocall (a thread C created) takes its own user stack.
// Per stack the kernel keeps bytes allocated and freed; user space reads outstanding
// bytes per Go site.
//
// Approximate: blocks allocated before the probe attached are invisible (their free
// releases nothing); the runtime's own C calls through asmcgocall (thread creation)
// are charged to the last cgocall of that thread.
//
// Rebuild with build.sh; the object is committed beside this file.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define MAX_THREADS 16384
#define MAX_BLOCKS 262144
#define MAX_STACKS 4096

#define FN_MALLOC 0
#define FN_CALLOC 1
#define FN_REALLOC 2

const volatile __u32 target_tgid = 0;

struct gx_call {
	__u64 size;
	__u64 old_ptr;
	__s32 stack_id;
	__u32 fn;
};

struct gx_block {
	__s32 stack_id;
	__u32 pad;
	__u64 size;
};

struct gx_heap_site {
	__u64 alloc_bytes;
	__u64 freed_bytes;
	__u64 allocs;
	__u64 frees;
};

// tid → the Go stack of its last cgocall.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_THREADS);
	__type(key, __u32);
	__type(value, __s32);
} go_caller SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_THREADS);
	__type(key, __u32);
	__type(value, struct gx_call);
} calls SEC(".maps");

// block address → its owner and size.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_BLOCKS);
	__type(key, __u64);
	__type(value, struct gx_block);
} blocks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_STACKS);
	__type(key, __s32);
	__type(value, struct gx_heap_site);
} heap_sites SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, MAX_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 64 * sizeof(__u64));
} stacks SEC(".maps");

// [0]: blocks not tracked (block table full); [1]: blocks not counted (site table full).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline void count_drop(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&drops, &slot);
	if (v)
		*v += 1;
}

static __always_inline int ours(__u32 *tid)
{
	__u64 id = bpf_get_current_pid_tgid();
	*tid = (__u32)id;
	return (__u32)(id >> 32) == target_tgid;
}

static __always_inline struct gx_heap_site *site_of(__s32 id)
{
	struct gx_heap_site *s = bpf_map_lookup_elem(&heap_sites, &id);
	if (s)
		return s;
	struct gx_heap_site zero = {};
	bpf_map_update_elem(&heap_sites, &id, &zero, BPF_NOEXIST);
	s = bpf_map_lookup_elem(&heap_sites, &id);
	if (!s)
		count_drop(1);
	return s;
}

static __always_inline void release(__u64 ptr)
{
	struct gx_block *b = bpf_map_lookup_elem(&blocks, &ptr);
	if (!b)
		return; // allocated before the probe attached
	struct gx_block blk = *b;
	bpf_map_delete_elem(&blocks, &ptr);
	struct gx_heap_site *s = site_of(blk.stack_id);
	if (!s)
		return;
	__sync_fetch_and_add(&s->freed_bytes, blk.size);
	__sync_fetch_and_add(&s->frees, 1);
}

static __always_inline void own(__u64 ptr, __s32 stack_id, __u64 size)
{
	struct gx_heap_site *s = site_of(stack_id);
	if (!s)
		return;
	struct gx_block b = { .stack_id = stack_id, .size = size };
	if (bpf_map_update_elem(&blocks, &ptr, &b, BPF_ANY) != 0) {
		count_drop(0);
		return;
	}
	__sync_fetch_and_add(&s->alloc_bytes, size);
	__sync_fetch_and_add(&s->allocs, 1);
}

static __always_inline void enter(struct pt_regs *ctx, __u32 tid, __u32 fn, __u64 size,
				  __u64 old_ptr)
{
	struct gx_call c = { .size = size, .old_ptr = old_ptr, .fn = fn };
	__s32 *caller = bpf_map_lookup_elem(&go_caller, &tid);
	c.stack_id = caller ? *caller : bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	// glibc's realloc(NULL, n) calls malloc itself: the outer call's record is kept (the
	// inner return consumes it, with the same result).
	bpf_map_update_elem(&calls, &tid, &c, fn == FN_MALLOC ? BPF_NOEXIST : BPF_ANY);
}

SEC("uprobe")
int BPF_KPROBE(cgocall_enter)
{
	__u32 tid;
	if (!ours(&tid))
		return 0;
	__s32 id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	bpf_map_update_elem(&go_caller, &tid, &id, BPF_ANY);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(malloc_enter, __u64 size)
{
	__u32 tid;
	if (ours(&tid))
		enter(ctx, tid, FN_MALLOC, size, 0);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(calloc_enter, __u64 n, __u64 size)
{
	__u32 tid;
	if (ours(&tid))
		enter(ctx, tid, FN_CALLOC, n * size, 0);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(realloc_enter, __u64 old, __u64 size)
{
	__u32 tid;
	if (ours(&tid))
		enter(ctx, tid, FN_REALLOC, size, old);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(alloc_return, __u64 ptr)
{
	__u32 tid;
	if (!ours(&tid))
		return 0;
	struct gx_call *cp = bpf_map_lookup_elem(&calls, &tid);
	if (!cp)
		return 0;
	struct gx_call c = *cp;
	bpf_map_delete_elem(&calls, &tid);
	// realloc: the old block is gone when a new one came back, or when it was resized
	// to 0 (freed); a failed realloc keeps it.
	if (c.old_ptr && (ptr || c.size == 0))
		release(c.old_ptr);
	if (ptr)
		own(ptr, c.stack_id, c.size);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(free_enter, __u64 ptr)
{
	__u32 tid;
	if (ours(&tid) && ptr)
		release(ptr);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
