//! Probe 5, the cgo part: libc's malloc/calloc/realloc/free per Go stack, for targets
//! that map a libc (cgo binaries). Loads `bpf/malloc.bpf.o`: uprobes at the entry of the
//! allocation functions (the size) with a uretprobe on each (the pointer: libc is C, its
//! stacks do not move), a uprobe on free, and a uprobe at the entry of the Go binary's
//! `runtime.cgocall` that keeps, per thread, the Go stack making the call into C (C code
//! without frame pointers has no user stack worth taking). Started and sampled by
//! [`crate::mmap::run`] over the same window.
//!
//! Cost: every malloc and free of the target takes a uprobe and a uretprobe (a few µs
//! each), every cgo call one uprobe. Only targets that map a libc are probed.

use crate::symbolize::{StackTable, Symbolizer};
use aya::EbpfLoader;
use aya::maps::{HashMap, MapData, PerCpuArray};
use aya::programs::UProbe;
use aya::programs::uprobe::UProbeScope;
use serde::Serialize;
use std::collections::BTreeMap;
use std::num::NonZeroU32;

static OBJECT: &[u8] = aya::include_bytes_aligned!("../bpf/malloc.bpf.o");

/// The programs, for unloading.
const PROGRAMS: [&str; 6] = [
    "cgocall_enter",
    "malloc_enter",
    "calloc_enter",
    "realloc_enter",
    "alloc_return",
    "free_enter",
];

#[repr(C)]
#[derive(Clone, Copy)]
struct HeapSite {
    alloc_bytes: u64,
    freed_bytes: u64,
    allocs: u64,
    frees: u64,
}
// SAFETY: plain old data, same layout as `struct gx_heap_site` in malloc.bpf.c.
unsafe impl aya::Pod for HeapSite {}

/// The C heap one Go stack allocated and freed over the window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MallocStack {
    /// The Go stack that called into C (or the allocating stack itself on a thread that
    /// never did), leaf first.
    pub frames: Vec<String>,
    pub allocs: u64,
    pub frees: u64,
    pub alloc_bytes: u64,
    pub freed_bytes: u64,
    /// Allocated in the window and not freed at its end.
    pub outstanding_bytes: i64,
    /// Outstanding bytes at each sample.
    pub series: Vec<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_error: Option<i32>,
}

/// What the malloc uprobes saw.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MallocReport {
    /// The libc probed (as mapped in the target).
    pub libc: String,
    /// Most outstanding bytes first.
    pub stacks: Vec<MallocStack>,
    /// Blocks not tracked: the block table was full.
    pub blocks_untracked: u64,
    /// Blocks not counted: the site table was full.
    pub sites_full: u64,
}

/// The libc a process maps (glibc's libc.so.6 or libc-2.x.so), as its maps name it.
pub fn libc_path(maps: &str) -> Option<String> {
    maps.lines().find_map(|l| {
        let path = l.split_whitespace().nth(5)?;
        let name = path.rsplit('/').next()?;
        (name.starts_with("libc.so") || (name.starts_with("libc-") && name.ends_with(".so")))
            .then(|| path.to_string())
    })
}

/// The file offset of a link-time virtual address, from the ELF's PT_LOAD segments.
fn file_offset(elf: &[u8], vaddr: u64) -> Option<u64> {
    use object::read::elf::{ElfFile64, ProgramHeader};
    let f = ElfFile64::<object::Endianness>::parse(elf).ok()?;
    let e = f.endian();
    f.elf_program_headers().iter().find_map(|ph| {
        let (va, sz, off) = (ph.p_vaddr(e), ph.p_filesz(e), ph.p_offset(e));
        (ph.p_type(e) == object::elf::PT_LOAD && vaddr >= va && vaddr < va + sz)
            .then(|| vaddr - va + off)
    })
}

/// Per stack id: (bytes allocated, bytes freed, allocations, frees) at one moment.
pub type HeapSample = BTreeMap<i32, (u64, u64, u64, u64)>;

/// The malloc probe attached to one process.
pub struct MallocProbe {
    ebpf: aya::Ebpf,
    libc: String,
}

fn attach(
    ebpf: &mut aya::Ebpf,
    prog: &str,
    point: aya::programs::uprobe::UProbeAttachLocation<'_>,
    target: &str,
    pid: u32,
) -> Result<(), String> {
    let p: &mut UProbe = ebpf
        .program_mut(prog)
        .ok_or_else(|| format!("program {prog} missing from the object"))?
        .try_into()
        .map_err(|e| format!("{prog}: {e}"))?;
    if p.fd().is_err() {
        p.load().map_err(|e| format!("loading {prog}: {e}"))?;
    }
    let scope = UProbeScope::OneProcess(NonZeroU32::new(pid).ok_or("pid 0")?);
    p.attach(point, target, scope)
        .map(|_| ())
        .map_err(|e| format!("attaching {prog} to {target}: {e}"))
}

impl MallocProbe {
    /// Attach to the target when it maps a libc and is a cgo binary; otherwise, or when
    /// attaching failed, the reason.
    pub fn start(pid: u32) -> Result<MallocProbe, String> {
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
            .map_err(|e| format!("/proc/{pid}/maps: {e}"))?;
        let libc =
            libc_path(&maps).ok_or("no libc mapped (a static Go binary: no C heap to follow)")?;
        let exe = format!("/proc/{pid}/exe");
        let file = std::fs::File::open(&exe).map_err(|e| format!("{exe}: {e}"))?;
        // SAFETY: read-only private mapping of the target's executable; only read here.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| format!("{exe}: {e}"))?;
        let go = gorx_live::gobin::parse_go_binary(&exe, &map).ok().flatten();
        if go.as_ref().and_then(|g| g.setting("CGO_ENABLED")) == Some("0") {
            return Err(format!(
                "{libc} is mapped but the binary was built with CGO_ENABLED=0: no C heap of its own"
            ));
        }
        let syms =
            crate::gopclntab::GoSymbols::from_elf(&exe, &map).map_err(|e| format!("{exe}: {e}"))?;
        let cgocall = syms
            .functions()
            .find(|(_, n)| *n == "runtime.cgocall")
            .map(|(a, _)| a)
            .and_then(|a| file_offset(&map, a))
            .ok_or("runtime.cgocall not found in the executable")?;
        let mut ebpf = EbpfLoader::new()
            .override_global("target_tgid", &pid, true)
            .load(OBJECT)
            .map_err(|e| format!("loading the malloc BPF program: {e}"))?;
        // Through the target's root, so a library inside a container resolves.
        let lib = format!("/proc/{pid}/root{libc}");
        attach(&mut ebpf, "cgocall_enter", cgocall.into(), &exe, pid)?;
        for (prog, func) in [
            ("malloc_enter", "malloc"),
            ("calloc_enter", "calloc"),
            ("realloc_enter", "realloc"),
            ("alloc_return", "malloc"),
            ("alloc_return", "calloc"),
            ("alloc_return", "realloc"),
            ("free_enter", "free"),
        ] {
            attach(&mut ebpf, prog, func.into(), &lib, pid)?;
        }
        Ok(MallocProbe { ebpf, libc })
    }

    /// Bytes (allocated, freed, allocs, frees) per stack id now.
    pub fn sample(&self) -> HeapSample {
        let Some(map) = self.ebpf.map("heap_sites") else {
            return BTreeMap::new();
        };
        let Ok(map) = HashMap::<&MapData, i32, HeapSite>::try_from(map) else {
            return BTreeMap::new();
        };
        map.iter()
            .filter_map(Result::ok)
            .map(|(k, v)| (k, (v.alloc_bytes, v.freed_bytes, v.allocs, v.frees)))
            .collect()
    }

    /// Unload the programs (their links go with them) so the counts stop moving.
    pub fn detach(&mut self) {
        for prog in PROGRAMS {
            if let Some(p) = self.ebpf.program_mut(prog)
                && let Ok(p) = <&mut UProbe>::try_from(p)
            {
                let _ = p.unload();
            }
        }
    }

    /// The report from the samples taken (the last is the end).
    pub fn report(&self, samples: &[HeapSample], sym: &Symbolizer) -> MallocReport {
        let drop_at = |i: u32| {
            self.ebpf
                .map("drops")
                .and_then(|m| PerCpuArray::<&MapData, u64>::try_from(m).ok())
                .and_then(|m| m.get(&i, 0).ok())
                .map(|v| v.iter().sum())
                .unwrap_or(0)
        };
        let traces = StackTable::of(&self.ebpf);
        let last = samples.last().cloned().unwrap_or_default();
        let mut stacks: Vec<MallocStack> = last
            .iter()
            .map(|(&id, &(alloc, freed, allocs, frees))| {
                let (frames, stack_error) = traces.frames(id, sym);
                MallocStack {
                    frames,
                    allocs,
                    frees,
                    alloc_bytes: alloc,
                    freed_bytes: freed,
                    outstanding_bytes: alloc as i64 - freed as i64,
                    series: samples
                        .iter()
                        .map(|s| s.get(&id).map_or(0, |&(a, f, _, _)| a as i64 - f as i64))
                        .collect(),
                    stack_error,
                }
            })
            .collect();
        stacks.sort_by(|a, b| {
            b.outstanding_bytes
                .cmp(&a.outstanding_bytes)
                .then_with(|| a.frames.cmp(&b.frames))
        });
        MallocReport {
            libc: self.libc.clone(),
            stacks,
            blocks_untracked: drop_at(0),
            sites_full: drop_at(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libc_is_found_in_the_maps_of_a_cgo_process_and_not_of_a_static_one() {
        let cgo = "00400000-00401000 r--p 00000000 08:01 1 /srv/app\n\
            7f0000000000-7f0000028000 r--p 00000000 08:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6\n";
        assert_eq!(
            libc_path(cgo).as_deref(),
            Some("/usr/lib/x86_64-linux-gnu/libc.so.6")
        );
        let old = "7f0000000000-7f0000028000 r-xp 00000000 08:01 2 /lib/libc-2.31.so\n";
        assert_eq!(libc_path(old).as_deref(), Some("/lib/libc-2.31.so"));
        let static_go = "00400000-00401000 r--p 00000000 08:01 1 /srv/app\n\
            c000000000-c000400000 rw-p 00000000 00:00 0\n\
            7f0000000000-7f0000028000 r--p 00000000 08:01 3 /usr/lib/libcrypto.so.3\n";
        assert_eq!(libc_path(static_go), None);
    }
}
