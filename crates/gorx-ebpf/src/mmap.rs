//! Probe 5, anonymous memory: loads `bpf/mmap.bpf.o`, attaches it to the raw tracepoints
//! `sys_enter`/`sys_exit` filtered by the target's tgid. Every mmap made in the window is
//! owned by the user stack that made it (anonymous and file-backed counted apart); munmap
//! releases the bytes it covers from the owners of the tracked regions (a partial unmap
//! splits a region: head and tail stay owned); mremap keeps the owner through a resize or
//! a move; brk charges the change of the break to the caller. User space samples the
//! per-stack bytes through the window, reads at its end how much of each stack's regions
//! is resident (`/proc/PID/smaps`), and the process's RSS (`/proc/PID/status`) at the start
//! and end; the judge ([`crate::judge::judge_mmap`]) names the user sites that hold the
//! memory. The Go runtime's own mappings (heap arenas, stacks, metadata) are told apart by
//! their stacks there.
//!
//! What is approximate (see the C source): mappings made before the probe attached are
//! invisible; mprotect and madvise are not seen (a region stays charged in full while the
//! runtime returns its pages with MADV_DONTNEED: residency from smaps shows that).
//!
//! The links belong to the `Ebpf` object: detached when it is dropped, and by the kernel
//! when the process dies.

use crate::ProbeError;
use crate::symbolize::{StackTable, Symbolizer};
use aya::EbpfLoader;
use aya::maps::{HashMap, MapData, PerCpuArray};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// The compiled program (see bpf/build.sh), embedded so gorx needs no clang.
static OBJECT: &[u8] = aya::include_bytes_aligned!("../bpf/mmap.bpf.o");

const PROGRAMS: [(&str, &str); 2] = [("mmap_enter", "sys_enter"), ("mmap_exit", "sys_exit")];

/// How often the per-stack bytes are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(500);

#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct SiteKey {
    stack_id: i32,
    kind: u32,
}
// SAFETY: plain old data, same layout as `struct gx_site_key` in mmap.bpf.c.
unsafe impl aya::Pod for SiteKey {}

#[repr(C)]
#[derive(Clone, Copy)]
struct SiteBytes {
    mapped: u64,
    unmapped: u64,
    calls: u64,
}
// SAFETY: plain old data, same layout as `struct gx_site_bytes` in mmap.bpf.c.
unsafe impl aya::Pod for SiteBytes {}

#[repr(C)]
#[derive(Clone, Copy)]
struct Region {
    stack_id: i32,
    kind: u32,
    len: u64,
}
// SAFETY: plain old data, same layout as `struct gx_region` in mmap.bpf.c.
unsafe impl aya::Pod for Region {}

/// What kind of memory a stack mapped.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum MemKind {
    /// mmap with MAP_ANONYMOUS (private or shared).
    Anon,
    /// mmap of a file (page cache; reclaimable, not judged).
    File,
    /// The program break (brk): C malloc's main arena.
    Brk,
    /// libc malloc/calloc/realloc less free (cgo targets; from [`crate::malloc`]).
    Malloc,
}

impl MemKind {
    fn from_raw(k: u32) -> MemKind {
        match k {
            0 => MemKind::Anon,
            1 => MemKind::File,
            _ => MemKind::Brk,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MemKind::Anon => "anon",
            MemKind::File => "file",
            MemKind::Brk => "brk",
            MemKind::Malloc => "malloc",
        }
    }
}

/// The memory one stack mapped (of one kind) and what of it was released, over the window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MmapStack {
    /// The mapping Go stack, leaf first (empty when it could not be taken).
    pub frames: Vec<String>,
    pub kind: MemKind,
    /// Calls that mapped (mmap, mremap onto this owner, brk).
    pub calls: u64,
    pub mapped_bytes: u64,
    pub unmapped_bytes: u64,
    /// Mapped in the window and not released at its end.
    pub outstanding_bytes: i64,
    /// Of the outstanding regions, how much is resident at the end (smaps, apportioned by
    /// overlap when a kernel mapping holds several regions); None for brk or when smaps
    /// could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resident_bytes: Option<u64>,
    /// Outstanding bytes at each sample (every `sample_every_ns`, the last at the end).
    pub series: Vec<i64>,
    /// Why no stack was taken (bpf_get_stackid's errno), when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_error: Option<i32>,
}

/// The process's memory from `/proc/PID/status` at one moment.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct MemSnapshot {
    pub vm_rss_bytes: Option<u64>,
    pub rss_anon_bytes: Option<u64>,
}

/// What the tables could not hold.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct MmapDrops {
    /// Mappings not tracked: the region table was full.
    pub regions_full: u64,
    /// Calls not counted: the site table was full.
    pub sites_full: u64,
    /// Ranges that overlapped more regions than the kernel side releases at once.
    pub overlap_overflow: u64,
    /// mremaps of a mapping made before the probe attached (not followed).
    pub mremap_untracked: u64,
}

impl MmapDrops {
    pub fn total(&self) -> u64 {
        self.regions_full + self.sites_full + self.overlap_overflow + self.mremap_untracked
    }
}

/// What the mmap probe saw over its window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MmapReport {
    pub pid: u32,
    pub window_ns: u64,
    pub sample_every_ns: u64,
    /// Most outstanding bytes first.
    pub stacks: Vec<MmapStack>,
    pub drops: MmapDrops,
    pub start: MemSnapshot,
    pub end: MemSnapshot,
    /// The target exited before the window ended.
    pub target_exited: bool,
    /// libc's heap per Go stack, for a target that maps a libc (cgo).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub malloc: Option<crate::malloc::MallocReport>,
    /// Why libc's heap was not followed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub malloc_skipped: Option<String>,
}

/// The target and the window (one for every probe of a run).
pub use crate::Window as Config;

/// VmRSS and RssAnon of the process now.
pub fn mem_snapshot(pid: u32) -> MemSnapshot {
    let p = format!("/proc/{pid}/status");
    let Ok(text) = std::fs::read_to_string(&p) else {
        return MemSnapshot::default();
    };
    match gorx_formats::procfs::parse_status(&p, &text) {
        Ok(s) => MemSnapshot {
            vm_rss_bytes: s.vm_rss_bytes,
            rss_anon_bytes: s.rss_anon_bytes,
        },
        Err(_) => MemSnapshot::default(),
    }
}

/// Bytes (mapped, unmapped, calls) per (stack id, kind) at one moment.
fn sample(ebpf: &aya::Ebpf) -> BTreeMap<SiteKey, (u64, u64, u64)> {
    let Some(map) = ebpf.map("sites") else {
        return BTreeMap::new();
    };
    let Ok(map) = HashMap::<&MapData, SiteKey, SiteBytes>::try_from(map) else {
        return BTreeMap::new();
    };
    map.iter()
        .filter_map(Result::ok)
        .map(|(k, v)| (k, (v.mapped, v.unmapped, v.calls)))
        .collect()
}

/// The tracked regions at the end: (start, len, stack id, kind).
fn regions(ebpf: &aya::Ebpf) -> Vec<(u64, u64, i32, u32)> {
    let Some(map) = ebpf.map("regions") else {
        return Vec::new();
    };
    let Ok(map) = HashMap::<&MapData, u64, Region>::try_from(map) else {
        return Vec::new();
    };
    map.iter()
        .filter_map(Result::ok)
        .map(|(k, r)| (k, r.len, r.stack_id, r.kind))
        .collect()
}

/// Resident bytes of each (stack id, kind)'s regions: each smaps mapping's resident
/// bytes (anonymous for anonymous regions, all for file-backed) shared among the regions
/// inside it in proportion to their overlap (the kernel merges adjacent mappings with the
/// same flags, so one VMA may hold regions of several stacks).
pub fn resident_by_owner(
    regions: &[(u64, u64, i32, u32)],
    smaps: &[gorx_formats::procfs::Mapping],
) -> BTreeMap<(i32, u32), u64> {
    let mut sorted: Vec<&gorx_formats::procfs::Mapping> = smaps.iter().collect();
    sorted.sort_by_key(|m| m.start);
    let mut out: BTreeMap<(i32, u32), u64> = BTreeMap::new();
    for &(start, len, stack, kind) in regions {
        let end = start.saturating_add(len);
        let first = sorted.partition_point(|m| m.end <= start);
        let mut bytes = 0u64;
        for m in sorted[first..].iter().take_while(|m| m.start < end) {
            let (lo, hi) = (m.start.max(start), m.end.min(end));
            let size = m.end.saturating_sub(m.start);
            if hi <= lo || size == 0 {
                continue;
            }
            let res = if kind == 1 {
                m.rss_bytes
            } else {
                m.anonymous_bytes
            };
            bytes += (res as u128 * (hi - lo) as u128 / size as u128) as u64;
        }
        *out.entry((stack, kind)).or_default() += bytes;
    }
    out
}

/// Pagemap entries read at most (8 bytes per 4 KiB page: 32 MiB read covers 16 GiB of
/// tracked regions); past it residency comes from smaps.
const PAGEMAP_MAX_PAGES: u64 = 4 << 20;

/// Resident pages per page-map entry: bit 63 present, bit 62 swapped (counted: swapped
/// anonymous memory is still held by the process).
pub fn resident_pages(entries: &[u8]) -> u64 {
    entries
        .chunks_exact(8)
        .filter(|e| {
            let v = u64::from_le_bytes([e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]]);
            v & (3 << 62) != 0
        })
        .count() as u64
}

/// Resident bytes of each (stack id, kind)'s regions, exactly, from /proc/PID/pagemap
/// (the present bit needs no privilege). None when it cannot be read or the regions are
/// too large to read page by page.
fn resident_by_pagemap(
    pid: u32,
    regions: &[(u64, u64, i32, u32)],
) -> Option<BTreeMap<(i32, u32), u64>> {
    use std::os::unix::fs::FileExt;
    let pages: u64 = regions.iter().map(|r| r.1 / 4096).sum();
    if pages > PAGEMAP_MAX_PAGES {
        return None;
    }
    let f = std::fs::File::open(format!("/proc/{pid}/pagemap")).ok()?;
    let mut out: BTreeMap<(i32, u32), u64> = BTreeMap::new();
    let mut buf = Vec::new();
    for &(start, len, stack, kind) in regions {
        let n = (len / 4096) as usize;
        buf.resize(n * 8, 0);
        // A range no longer mapped reads as zeros (not present).
        f.read_exact_at(&mut buf, (start / 4096) * 8).ok()?;
        *out.entry((stack, kind)).or_default() += resident_pages(&buf) * 4096;
    }
    Some(out)
}

/// Attach, sample through the window (or until `stop`, or the target's exit), detach.
pub fn run(cfg: &Config, sym: &Symbolizer, stop: &AtomicBool) -> Result<MmapReport, ProbeError> {
    let mut ebpf = EbpfLoader::new()
        .override_global("target_tgid", &cfg.pid, true)
        .load(OBJECT)
        .map_err(ProbeError::load)?;
    crate::attach_raw_tracepoints(&mut ebpf, &PROGRAMS)?;
    let (mut malloc, malloc_skipped) = match crate::malloc::MallocProbe::start(cfg.pid) {
        Ok(p) => (Some(p), None),
        Err(why) => (None, Some(why)),
    };
    let mut malloc_samples = Vec::new();
    let mem_start = mem_snapshot(cfg.pid);
    let start = Instant::now();
    let mut samples: Vec<BTreeMap<SiteKey, (u64, u64, u64)>> = Vec::new();
    let mut next = SAMPLE_EVERY;
    let target_exited = crate::wait_window(cfg.pid, start, cfg.duration, stop, || {
        if start.elapsed() >= next {
            samples.push(sample(&ebpf));
            if let Some(m) = &malloc {
                malloc_samples.push(m.sample());
            }
            next += SAMPLE_EVERY;
        }
    });
    let window_ns = start.elapsed().as_nanos() as u64;
    let mem_end = mem_snapshot(cfg.pid);
    crate::detach_raw_tracepoints(&mut ebpf, &PROGRAMS);
    samples.push(sample(&ebpf));
    let malloc = malloc.as_mut().map(|m| {
        m.detach();
        malloc_samples.push(m.sample());
        m.report(&malloc_samples, sym)
    });
    let tracked = regions(&ebpf);
    let resident = resident_by_pagemap(cfg.pid, &tracked).or_else(|| {
        let smaps_path = format!("/proc/{}/smaps", cfg.pid);
        let smaps = std::fs::read_to_string(&smaps_path).ok()?;
        let m = gorx_formats::procfs::parse_smaps(&smaps_path, &smaps).ok()?;
        Some(resident_by_owner(&tracked, &m))
    });
    let drops = ebpf
        .map("drops")
        .and_then(|m| PerCpuArray::<&MapData, u64>::try_from(m).ok())
        .map(|m| {
            let at = |i: u32| m.get(&i, 0).map(|v| v.iter().sum()).unwrap_or(0);
            MmapDrops {
                regions_full: at(0),
                sites_full: at(1),
                overlap_overflow: at(2),
                mremap_untracked: at(3),
            }
        })
        .unwrap_or_default();
    let traces = StackTable::of(&ebpf);
    let last = samples.last().cloned().unwrap_or_default();
    let mut stacks: Vec<MmapStack> = last
        .iter()
        .map(|(key, &(mapped, unmapped, calls))| {
            let id = key.stack_id;
            let (frames, stack_error) = traces.frames(id, sym);
            let kind = MemKind::from_raw(key.kind);
            let series = samples
                .iter()
                .map(|s| s.get(key).map_or(0, |&(m, u, _)| m as i64 - u as i64))
                .collect();
            MmapStack {
                frames,
                kind,
                calls,
                mapped_bytes: mapped,
                unmapped_bytes: unmapped,
                outstanding_bytes: mapped as i64 - unmapped as i64,
                resident_bytes: match kind {
                    MemKind::Brk => None,
                    _ => resident
                        .as_ref()
                        .map(|r| r.get(&(id, key.kind)).copied().unwrap_or(0)),
                },
                series,
                stack_error,
            }
        })
        .collect();
    stacks.sort_by(|a, b| {
        b.outstanding_bytes
            .cmp(&a.outstanding_bytes)
            .then_with(|| a.kind.cmp(&b.kind))
            .then_with(|| a.frames.cmp(&b.frames))
    });
    Ok(MmapReport {
        pid: cfg.pid,
        window_ns,
        sample_every_ns: SAMPLE_EVERY.as_nanos() as u64,
        stacks,
        drops,
        start: mem_start,
        end: mem_end,
        target_exited,
        malloc,
        malloc_skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gorx_formats::procfs::Mapping;

    fn vma(start: u64, end: u64, anon: u64) -> Mapping {
        Mapping {
            start,
            end,
            perms: "rw-p".into(),
            path: String::new(),
            rss_bytes: anon,
            anonymous_bytes: anon,
        }
    }

    #[test]
    fn pagemap_entries_count_present_and_swapped_pages() {
        let mut e = Vec::new();
        for v in [1u64 << 63, 0, 1 << 62, (1 << 63) | 0x1234, 0x55] {
            e.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(resident_pages(&e), 3);
    }

    #[test]
    fn residency_is_shared_by_overlap_among_the_regions_of_one_vma() {
        // One VMA of 4 pages, fully resident, holding two regions of two stacks (the
        // kernel merged them); a second VMA half resident holding one region.
        let smaps = vec![vma(0x1000, 0x5000, 0x4000), vma(0x9000, 0xb000, 0x1000)];
        let regions = vec![
            (0x1000, 0x1000, 7, 0),
            (0x2000, 0x3000, 8, 0),
            (0x9000, 0x2000, 7, 0),
        ];
        let r = resident_by_owner(&regions, &smaps);
        assert_eq!(r[&(7, 0)], 0x1000 + 0x1000);
        assert_eq!(r[&(8, 0)], 0x3000);
        // A region no VMA holds any more (unmapped behind the probe's back) has none.
        let r = resident_by_owner(&[(0x20000, 0x1000, 9, 0)], &smaps);
        assert_eq!(r[&(9, 0)], 0);
    }
}
