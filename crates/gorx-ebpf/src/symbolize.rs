//! Turning a process's user-stack addresses into Go function names: the binary's gopclntab
//! (read once, when the probe starts, so a target that exits can still be symbolized) and
//! the executable's load bias from `/proc/PID/maps` (PIE).

use crate::ProbeError;
use crate::gopclntab::{GoSymbols, load_bias};

pub struct Symbolizer {
    syms: Option<GoSymbols>,
    bias: u64,
}

impl Symbolizer {
    /// A symbolizer that names nothing (addresses print as hex).
    pub fn empty() -> Symbolizer {
        Symbolizer {
            syms: None,
            bias: 0,
        }
    }

    pub fn new(syms: GoSymbols, bias: u64) -> Symbolizer {
        Symbolizer {
            syms: Some(syms),
            bias,
        }
    }

    /// Read the target's executable and mappings. A binary that is not Go 1.18+ is an
    /// error naming what was found.
    pub fn for_pid(pid: u32) -> Result<Symbolizer, ProbeError> {
        let exe = format!("/proc/{pid}/exe");
        let file = std::fs::File::open(&exe).map_err(|e| ProbeError::target(pid, &exe, e))?;
        // SAFETY: read-only private mapping of the target's executable; only read here.
        let map =
            unsafe { memmap2::Mmap::map(&file) }.map_err(|e| ProbeError::target(pid, &exe, e))?;
        let go = gorx_live::gobin::parse_go_binary(&exe, &map).ok().flatten();
        let syms = match GoSymbols::from_elf(&exe, &map) {
            Ok(s) => s,
            Err(e) => {
                return Err(match go {
                    None => ProbeError::NotGo(pid),
                    Some(g) => ProbeError::Unsupported(format!(
                        "pid {pid} is a Go program ({}) but its function table cannot be read: {e}",
                        g.go_version.as_deref().unwrap_or("version unknown")
                    )),
                });
            }
        };
        let maps_path = format!("/proc/{pid}/maps");
        let maps = std::fs::read_to_string(&maps_path)
            .map_err(|e| ProbeError::target(pid, &maps_path, e))?;
        let path = std::fs::read_link(&exe).map_err(|e| ProbeError::target(pid, &exe, e))?;
        let bias = if syms.pie {
            load_bias(&maps, &path.to_string_lossy(), &map).ok_or_else(|| {
                ProbeError::Unsupported(format!(
                    "pid {pid}: {} is not mapped in {maps_path}",
                    path.display()
                ))
            })?
        } else {
            0
        };
        Ok(Symbolizer::new(syms, bias))
    }

    /// Names for a user stack, leaf first, inlined calls expanded (innermost first) when
    /// the binary's inline trees were found. Return addresses (all but the first) are
    /// looked up one byte back, inside the call instruction, as pprof does.
    pub fn frames(&self, pcs: &[u64]) -> Vec<String> {
        let mut out = Vec::new();
        for (i, &pc) in pcs.iter().enumerate().filter(|(_, pc)| **pc != 0) {
            let link = pc.wrapping_sub(self.bias).wrapping_sub(u64::from(i > 0));
            let names = self
                .syms
                .as_ref()
                .map(|s| s.frames(link))
                .unwrap_or_default();
            if names.is_empty() {
                out.push(format!("{pc:#x}"));
            }
            out.extend(names.into_iter().map(str::to_string));
        }
        out
    }

    /// The return addresses of a Go stack from a thread's user `pc` and `sp`, found as the
    /// Go runtime unwinds (each function's frame size from its pcsp table, the return
    /// address just above the frame), without frame pointers: for a thread whose stack no
    /// BPF program took (asleep since before a probe attached). `read` reads a u64 of the
    /// target's memory. Leaf first; stops outside the table, at a stack's root or stack
    /// switch, or at `max` addresses.
    pub fn unwind(
        &self,
        pc: u64,
        sp: u64,
        max: usize,
        read: impl Fn(u64) -> Option<u64>,
    ) -> Vec<u64> {
        let mut out = vec![pc];
        let Some(syms) = &self.syms else {
            return out;
        };
        let (mut pc, mut sp) = (pc, sp);
        while out.len() < max {
            let link = pc.wrapping_sub(self.bias);
            if syms.lookup(link).is_none_or(|f| UNWIND_ROOTS.contains(&f)) {
                break;
            }
            let Some(delta) = syms.sp_delta(link) else {
                break;
            };
            let Some(ret) = sp.checked_add(delta).and_then(&read) else {
                break;
            };
            if ret == 0 {
                break;
            }
            sp = sp.saturating_add(delta).saturating_add(8);
            pc = ret;
            out.push(pc);
        }
        out
    }
}

/// Where a Go stack ends, or switches to another stack, for [`Symbolizer::unwind`]: what
/// lies above these frames is not a caller.
const UNWIND_ROOTS: &[&str] = &[
    "runtime.goexit",
    "runtime.mstart",
    "runtime.mstart0",
    "runtime.rt0_go",
    "runtime.mcall",
    "runtime.systemstack",
    "runtime.morestack",
    "runtime.asmcgocall",
];

/// A probe's `stacks` map (BPF_MAP_TYPE_STACK_TRACE), read after its window.
pub(crate) struct StackTable<'a>(Option<aya::maps::StackTraceMap<&'a aya::maps::MapData>>);

impl<'a> StackTable<'a> {
    /// The object's map named `stacks` (none: every stack reads as empty).
    pub(crate) fn of(ebpf: &'a aya::Ebpf) -> StackTable<'a> {
        StackTable(ebpf.map("stacks").and_then(|m| m.try_into().ok()))
    }

    /// The frames of the stack `id` (bpf_get_stackid's result), leaf first, named through
    /// `sym`; a negative id is the errno of a capture that failed: no frames, and the errno.
    pub(crate) fn frames(&self, id: i32, sym: &Symbolizer) -> (Vec<String>, Option<i32>) {
        if id < 0 {
            return (Vec::new(), Some(-id));
        }
        let pcs: Vec<u64> = self
            .0
            .as_ref()
            .and_then(|t| t.get(&(id as u32), 0).ok())
            .map(|st| st.frames().iter().map(|f| f.ip).collect())
            .unwrap_or_default();
        (sym.frames(&pcs), None)
    }
}
