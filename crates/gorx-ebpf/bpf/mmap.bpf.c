// SPDX-License-Identifier: GPL-2.0
// gorx probe 5: anonymous memory of one process (tgid), per mapping user stack.
//
// Raw tracepoints sys_enter/sys_exit (no tracefs), filtered by tgid. At the entry of
// mmap/mremap/munmap/brk the arguments (and, for mmap and brk, the user stack by frame
// pointer) are kept per thread; at a successful exit:
// - mmap: a new region [ret, ret+len) owned by the stack (anonymous or file-backed,
//   counted apart). PROT_NONE mappings (reservations: no memory until committed) are not
//   tracked. MAP_FIXED first releases whatever tracked region it replaces.
// - munmap: the range is released from the owners of the tracked regions it overlaps
//   (the region is split: a head before the range and a tail after it stay owned).
// - mremap: the old range is released from its owner and the new region [ret, new_len)
//   charged to the same owner (a resize or a move keeps its owner).
// - brk: the change of the break (mm->brk before, the returned break after) is charged to
//   the calling stack (growth mapped, shrink unmapped).
// Per (stack, kind) the kernel keeps the bytes mapped and unmapped, so user space reads
// outstanding bytes per site. Regions are keyed by start address; a range that does not
// start at a tracked region is matched by walking the region table
// (bpf_for_each_map_elem) for up to MAX_OVERLAP overlapping regions. That walk costs
// ~0.2 ms, so it is taken only when the range touches a 2 MiB granule that holds a
// tracked region (a count per granule; regions over 1 GiB, like a database's file
// mapping, are counted per 1 GiB granule instead): the munmap of a mapping made before
// the probe attached, far from the ones it tracks, stays cheap.
//
// Approximate: mprotect (committing a PROT_NONE reservation) and madvise(DONTNEED) are
// not seen; mappings made before the probe attached are invisible (their munmap releases
// nothing); more than MAX_OVERLAP regions under one munmap release only the first ones
// (counted in drops[2]); the bytes counted are mapped, not resident (user space reads
// residency from /proc/PID/pagemap); mremap with MREMAP_DONTUNMAP is taken as a move;
// mmap called from C code (cgo) has no Go stack (frame pointers stop in libc).
//
// Rebuild with build.sh; the object is committed beside this file.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define MAX_THREADS 16384
#define MAX_REGIONS 16384
#define MAX_STACKS 4096
#define MAX_OVERLAP 8
#define MAX_GRANULES 65536
#define GRANULE_SHIFT 21
#define COARSE_SHIFT 30
// Coarse granule keys carry this bit.
#define COARSE_TAG (1ULL << 63)
// A region wider than this many 2 MiB granules (1 GiB) is counted per 1 GiB granule; one
// wider than this many of those (512 GiB) is not counted: while one is tracked, every
// range takes the walk.
#define WIDE_GRANULES 512

// x86_64 syscall numbers.
#define NR_mmap 9
#define NR_munmap 11
#define NR_brk 12
#define NR_mremap 25

#define PROT_NONE_ 0
#define MAP_FIXED_ 0x10
#define MAP_ANONYMOUS_ 0x20
#define PAGE_SIZE_ 4096ULL

#define KIND_ANON 0
#define KIND_FILE 1
#define KIND_BRK 2

const volatile __u32 target_tgid = 0;

struct gx_pending {
	__u32 nr;
	__s32 stack_id; // bpf_get_stackid's result, or a negative errno
	__u64 a0;       // mmap/munmap/mremap: addr
	__u64 a1;       // mmap/munmap/mremap: len (mremap: old_len)
	__u64 a2;       // mmap: prot; mremap: new_len; brk: the break before
	__u64 a3;       // mmap: flags
};

struct gx_region {
	__s32 stack_id;
	__u32 kind;
	__u64 len;
};

struct gx_site_key {
	__s32 stack_id;
	__u32 kind;
};

struct gx_site_bytes {
	__u64 mapped;
	__u64 unmapped;
	__u64 calls;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_THREADS);
	__type(key, __u32);
	__type(value, struct gx_pending);
} pending SEC(".maps");

// region start address → its owner and length.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_REGIONS);
	__type(key, __u64);
	__type(value, struct gx_region);
} regions SEC(".maps");

// (stack id, kind) → bytes (a failed stack capture counts under its negative errno).
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_STACKS);
	__type(key, struct gx_site_key);
	__type(value, struct gx_site_bytes);
} sites SEC(".maps");

// 2 MiB granule (address >> 21), or 1 GiB granule ((address >> 30) | COARSE_TAG) →
// tracked regions touching it (entries are not deleted at 0, so the count stays a safe
// over-approximation).
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_GRANULES);
	__type(key, __u64);
	__type(value, __s64);
} granules SEC(".maps");

// [0]: tracked regions wider than WIDE_GRANULES; [1]: set when the granule table
// overflowed (the filter is then off: every range takes the walk).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __s64);
} filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, MAX_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 64 * sizeof(__u64));
} stacks SEC(".maps");

// [0]: mappings not tracked (region table full); [1]: bytes not counted (site table
// full); [2]: regions under one range beyond MAX_OVERLAP (not released); [3]: mremaps of
// a mapping not tracked (made before the probe attached).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline __u64 raw_arg(void *ctx, int i)
{
	return ((__u64 *)ctx)[i];
}

static __always_inline void count_drop(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&drops, &slot);
	if (v)
		*v += 1;
}

static __always_inline __u64 page_up(__u64 len)
{
	return (len + PAGE_SIZE_ - 1) & ~(PAGE_SIZE_ - 1);
}

static __always_inline struct gx_site_bytes *site_of(__s32 stack_id, __u32 kind)
{
	struct gx_site_key k = { .stack_id = stack_id, .kind = kind };
	struct gx_site_bytes *s = bpf_map_lookup_elem(&sites, &k);
	if (s)
		return s;
	struct gx_site_bytes zero = {};
	bpf_map_update_elem(&sites, &k, &zero, BPF_NOEXIST);
	s = bpf_map_lookup_elem(&sites, &k);
	if (!s)
		count_drop(1);
	return s;
}

static __always_inline void charge(__s32 stack_id, __u32 kind, __u64 mapped, __u64 unmapped,
				   int call)
{
	struct gx_site_bytes *s = site_of(stack_id, kind);
	if (!s)
		return;
	if (mapped)
		__sync_fetch_and_add(&s->mapped, mapped);
	if (unmapped)
		__sync_fetch_and_add(&s->unmapped, unmapped);
	if (call)
		__sync_fetch_and_add(&s->calls, 1);
}

static __always_inline void filter_add(__u32 slot, __s64 delta)
{
	__s64 *v = bpf_map_lookup_elem(&filter, &slot);
	if (v)
		__sync_fetch_and_add(v, delta);
}

struct gx_mark {
	__u64 first;
	__u64 tag;
	__s64 delta;
};

static long mark_one(__u64 i, struct gx_mark *m)
{
	__u64 g = (m->first + i) | m->tag;
	__s64 *v = bpf_map_lookup_elem(&granules, &g);
	if (v) {
		__sync_fetch_and_add(v, m->delta);
		return 0;
	}
	if (m->delta > 0 && bpf_map_update_elem(&granules, &g, &m->delta, BPF_NOEXIST) != 0) {
		// Lost a race to insert it, or the table is full.
		v = bpf_map_lookup_elem(&granules, &g);
		if (v)
			__sync_fetch_and_add(v, m->delta);
		else
			filter_add(1, 1);
	}
	return 0;
}

// Count a tracked region [start, start+len) in (delta 1) or out of (-1) its granules.
// Global functions (here and below) are verified once, not at each call site.
__noinline int mark(__u64 start, __u64 len, __s64 delta)
{
	if (len == 0)
		return 0;
	struct gx_mark m = { .first = start >> GRANULE_SHIFT, .tag = 0, .delta = delta };
	__u64 n = ((start + len - 1) >> GRANULE_SHIFT) - m.first + 1;
	if (n > WIDE_GRANULES) {
		m.first = start >> COARSE_SHIFT;
		m.tag = COARSE_TAG;
		n = ((start + len - 1) >> COARSE_SHIFT) - m.first + 1;
		if (n > WIDE_GRANULES) {
			filter_add(0, delta);
			return 0;
		}
	}
	bpf_loop((__u32)n, mark_one, &m, 0);
	return 0;
}

struct gx_probe {
	__u64 first;
	__u64 tag;
	int hit;
};

static long probe_one(__u64 i, struct gx_probe *p)
{
	__u64 g = (p->first + i) | p->tag;
	__s64 *v = bpf_map_lookup_elem(&granules, &g);
	if (v && *v > 0) {
		p->hit = 1;
		return 1;
	}
	return 0;
}

// Whether [start, start+len) may overlap a tracked region.
static __always_inline int may_overlap(__u64 start, __u64 len)
{
	__u32 k;
	k = 0;
	__s64 *wide = bpf_map_lookup_elem(&filter, &k);
	k = 1;
	__s64 *off = bpf_map_lookup_elem(&filter, &k);
	if ((wide && *wide > 0) || (off && *off > 0))
		return 1;
	// The 1 GiB granules first (wide regions), then the 2 MiB ones.
	struct gx_probe p = { .first = start >> COARSE_SHIFT, .tag = COARSE_TAG, .hit = 0 };
	__u64 n = ((start + len - 1) >> COARSE_SHIFT) - p.first + 1;
	if (n > WIDE_GRANULES)
		return 1;
	bpf_loop((__u32)n, probe_one, &p, 0);
	if (p.hit)
		return 1;
	p.first = start >> GRANULE_SHIFT;
	p.tag = 0;
	n = ((start + len - 1) >> GRANULE_SHIFT) - p.first + 1;
	if (n > WIDE_GRANULES)
		return 1;
	bpf_loop((__u32)n, probe_one, &p, 0);
	return p.hit;
}

static __always_inline int put_region(__u64 start, struct gx_region *r)
{
	if (bpf_map_update_elem(&regions, &start, r, BPF_ANY) != 0) {
		count_drop(0);
		return -1;
	}
	mark(start, r->len, 1);
	return 0;
}

// Global (not inlined): the verifier checks it once, not at each call site.
__noinline int add_region(__u64 start, __u64 len, __s32 stack_id, __u32 kind)
{
	struct gx_region r = { .stack_id = stack_id, .kind = kind, .len = len };
	if (put_region(start, &r) == 0)
		charge(stack_id, kind, len, 0, 1);
	return 0;
}

struct gx_overlap {
	__u64 start;
	__u64 end;
	__u32 n;
	__u32 missed;
	__u64 keys[MAX_OVERLAP];
	__u64 owner; // packed, as take_range returns it
};

static long collect_overlap(struct bpf_map *map, __u64 *key, struct gx_region *r,
			    struct gx_overlap *o)
{
	__u64 k = *key;
	if (k < o->end && k + r->len > o->start) {
		__u32 n = o->n;
		if (n < MAX_OVERLAP) {
			o->keys[n] = k;
			o->n = n + 1;
		} else {
			o->missed += 1;
		}
	}
	return 0;
}

#define OWNER_FOUND (1ULL << 63)

// Release [start, end) from the region at `k`, splitting it. Returns its owner packed,
// OWNER_FOUND | kind << 32 | (u32)stack_id, or 0 when it does not overlap.
__noinline __u64 cut(__u64 k, __u64 start, __u64 end)
{
	struct gx_region *rp = bpf_map_lookup_elem(&regions, &k);
	if (!rp)
		return 0;
	struct gx_region r = *rp;
	__u64 rend = k + r.len;
	__u64 lo = k > start ? k : start;
	__u64 hi = rend < end ? rend : end;
	if (hi <= lo)
		return 0;
	if (rend > end) {
		// The tail stays owned, as its own region.
		struct gx_region tail = { .stack_id = r.stack_id, .kind = r.kind, .len = rend - end };
		put_region(end, &tail);
	}
	mark(k, r.len, -1);
	if (k < start) {
		struct gx_region head = { .stack_id = r.stack_id, .kind = r.kind, .len = start - k };
		put_region(k, &head);
	} else {
		bpf_map_delete_elem(&regions, &k);
	}
	charge(r.stack_id, r.kind, 0, hi - lo, 0);
	return OWNER_FOUND | ((__u64)r.kind << 32) | (__u32)r.stack_id;
}

static long cut_one(__u64 i, struct gx_overlap *o)
{
	if (i >= MAX_OVERLAP)
		return 1;
	__u64 own = cut(o->keys[i], o->start, o->end);
	if (!o->owner)
		o->owner = own;
	return 0;
}

// Release [start, start+len) from the tracked regions it overlaps. Returns the first
// overlapped region's owner, OWNER_FOUND | kind << 32 | (u32)stack_id, or 0 when none.
// Global (not inlined): the verifier checks it once, not at each call site.
__noinline __u64 take_range(__u64 start, __u64 len)
{
	__u64 end = start + len;
	if (len == 0)
		return 0;
	struct gx_overlap o = { .start = start, .end = end };
	struct gx_region *r = bpf_map_lookup_elem(&regions, &start);
	if (r && r->len >= len) {
		o.owner = cut(start, start, end);
	} else if (may_overlap(start, len)) {
		bpf_for_each_map_elem(&regions, collect_overlap, &o, 0);
		if (o.missed)
			count_drop(2);
		// A callback (verified once) rather than an unrolled loop of cuts.
		bpf_loop(o.n, cut_one, &o, 0);
	}
	return o.owner;
}

// sys_enter(struct pt_regs *regs, long id)
SEC("raw_tracepoint/sys_enter")
int mmap_enter(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if ((__u32)(id >> 32) != target_tgid)
		return 0;
	__u32 nr = (__u32)raw_arg(ctx, 1);
	if (nr != NR_mmap && nr != NR_munmap && nr != NR_mremap && nr != NR_brk)
		return 0;
	struct pt_regs *regs = (struct pt_regs *)raw_arg(ctx, 0);
	struct gx_pending p = { .nr = nr };
	if (nr == NR_brk) {
		struct task_struct *t = (struct task_struct *)bpf_get_current_task();
		p.a2 = BPF_CORE_READ(t, mm, brk);
	} else {
		p.a0 = BPF_CORE_READ(regs, di);
		p.a1 = BPF_CORE_READ(regs, si);
		p.a2 = BPF_CORE_READ(regs, dx);
		p.a3 = BPF_CORE_READ(regs, r10);
	}
	if (nr == NR_mmap || nr == NR_brk)
		p.stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	__u32 tid = (__u32)id;
	bpf_map_update_elem(&pending, &tid, &p, BPF_ANY);
	return 0;
}

// sys_exit(struct pt_regs *regs, long ret)
SEC("raw_tracepoint/sys_exit")
int mmap_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if ((__u32)(id >> 32) != target_tgid)
		return 0;
	__u32 tid = (__u32)id;
	struct gx_pending *pp = bpf_map_lookup_elem(&pending, &tid);
	if (!pp)
		return 0;
	struct gx_pending p = *pp;
	bpf_map_delete_elem(&pending, &tid);
	long ret = (long)raw_arg(ctx, 1);
	// mmap, mremap and brk return addresses; errors are -4095..-1.
	if (ret < 0 && ret >= -4095)
		return 0;
	__u64 addr = (__u64)ret;
	if (p.nr == NR_mmap) {
		__u64 len = page_up(p.a1);
		if (p.a3 & MAP_FIXED_)
			take_range(addr, len);
		if (p.a2 == PROT_NONE_)
			return 0;
		add_region(addr, len, p.stack_id, (p.a3 & MAP_ANONYMOUS_) ? KIND_ANON : KIND_FILE);
		return 0;
	}
	if (p.nr == NR_munmap) {
		if (ret != 0)
			return 0;
		take_range(p.a0, page_up(p.a1));
		return 0;
	}
	if (p.nr == NR_mremap) {
		__u64 owner = take_range(p.a0, page_up(p.a1));
		if (!owner) {
			count_drop(3);
			return 0;
		}
		add_region(addr, page_up(p.a2), (__s32)(__u32)owner, (__u32)(owner >> 32) & 0xff);
		return 0;
	}
	if (p.nr == NR_brk) {
		__u64 before = p.a2;
		if (addr > before)
			charge(p.stack_id, KIND_BRK, addr - before, 0, 1);
		else if (addr < before)
			charge(p.stack_id, KIND_BRK, 0, before - addr, 1);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
