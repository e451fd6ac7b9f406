//! The fast path for well-formed gctrace lines: no error messages, no bounds checks in
//! the inner loops (reads go through a fixed window with masked indices), numbers of at
//! most 9 digits. Anything unusual returns `None` and the checked parser
//! ([`super::parse_at`]) decides, with its error message, so both paths give the same
//! cycles: the fast path only ever accepts lines the checked one accepts identically.

use super::GcCycle;

/// Bytes of a line the fast path may examine (longer lines take the checked path), plus
/// the longest literal so a literal compare at any in-window position stays in bounds.
const SPAN: usize = 256;
const LONGEST_LIT: usize = 32;
pub(super) const WINDOW: usize = SPAN + LONGEST_LIT;

struct F<'a> {
    s: &'a [u8; WINDOW],
    /// Unmasked cursor: every read is at `i & (SPAN-1)`; the caller rejects a parse whose
    /// cursor ended past `SPAN - LONGEST_LIT`, so no accepted parse read a wrapped index.
    i: usize,
}

impl F<'_> {
    #[inline(always)]
    fn byte(&self) -> u8 {
        self.s[self.i & (SPAN - 1)]
    }
    #[inline(always)]
    fn lit<const L: usize>(&mut self, l: &[u8; L]) -> bool {
        const { assert!(L <= LONGEST_LIT) };
        let j = self.i & (SPAN - 1);
        if self.s[j..j + L] == *l {
            self.i += L;
            true
        } else {
            false
        }
    }
    /// The run of ASCII digits at the cursor, at most 8 long: `(value, length)`, or `None`
    /// when 8 digits are followed by a ninth. Branch-free (SWAR, as in simdjson): the
    /// number lengths of a gctrace line vary, and a per-digit loop mispredicts on each.
    #[inline(always)]
    fn digits8(&self) -> Option<(u64, u32)> {
        const LO: u64 = 0x0F0F_0F0F_0F0F_0F0F;
        const HI: u64 = 0xF0F0_F0F0_F0F0_F0F0;
        const H3: u64 = 0x3030_3030_3030_3030;
        const SIX: u64 = 0x0606_0606_0606_0606;
        const B7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
        const B8: u64 = 0x8080_8080_8080_8080;
        let j = self.i & (SPAN - 1);
        let x = u64::from_le_bytes(self.s[j..j + 8].try_into().expect("8 bytes"));
        let lo = x & LO;
        // A byte is a digit iff its high nibble is 3 and its low nibble is at most 9
        // (low nibble + 6 stays below 0x10); no step carries into the next byte.
        let bad = ((x & HI) ^ H3) | ((lo + SIX) & HI);
        let nonzero = (((bad & B7) + B7) | bad) & B8;
        let len = nonzero.trailing_zeros() / 8; // 8 when all are digits
        if len == 8 && self.s[(j + 8) & (SPAN - 1)].is_ascii_digit() {
            return None;
        }
        // The first digit is the lowest byte: shift the digits up so the unused low bytes
        // become leading zeros, then combine pairs, quads, octets.
        let v = if len == 0 { 0 } else { lo << (64 - 8 * len) };
        let v = (v.wrapping_mul(10 * 256 + 1) >> 8) & 0x00FF_00FF_00FF_00FF;
        let v = (v.wrapping_mul(100 * 65536 + 1) >> 16) & 0x0000_FFFF_0000_FFFF;
        let v = v.wrapping_mul(10000 * (1 << 32) + 1) >> 32;
        Some((v, len))
    }
    /// 1 to 8 digits (so values fit every target type without checks).
    #[inline(always)]
    fn uint(&mut self) -> Option<u64> {
        let (v, len) = self.digits8()?;
        if len == 0 {
            return None;
        }
        self.i += len as usize;
        Some(v)
    }
    /// `int[.frac]` scaled by 10^SCALE, as `Cur::decimal` computes it (fraction digits past
    /// SCALE are dropped).
    #[inline(always)]
    fn decimal<const SCALE: u32>(&mut self) -> Option<u64> {
        const POW10: [u64; 10] = [
            1,
            10,
            100,
            1_000,
            10_000,
            100_000,
            1_000_000,
            10_000_000,
            100_000_000,
            1_000_000_000,
        ];
        let int = self.uint()?;
        let mut frac = 0u64;
        if self.byte() == b'.' {
            self.i += 1;
            let (f, len) = self.digits8()?;
            if len == 0 {
                return None;
            }
            self.i += len as usize;
            frac = if len <= SCALE {
                f * POW10[(SCALE - len) as usize]
            } else {
                f / POW10[(len - SCALE) as usize]
            };
        }
        Some(int * POW10[SCALE as usize] + frac)
    }
}

/// Parses the line starting at `gc ` in `s`. Returns the cycle and how many bytes of `s`
/// the line's fields took (what follows is the rest of the line or another line).
#[inline]
pub(super) fn parse(s: &[u8; WINDOW]) -> Option<(GcCycle, usize)> {
    const MIB: u64 = 1 << 20;
    let mut c = F { s, i: 0 };
    let mut g = GcCycle::default();
    if !c.lit(b"gc ") {
        return None;
    }
    g.n = c.uint()?;
    if !c.lit(b" @") {
        return None;
    }
    g.at_ns = c.decimal::<9>()?;
    if !c.lit(b"s ") {
        return None;
    }
    g.cumulative_cpu_percent = c.uint()? as u32;
    if !c.lit(b"%") {
        return None;
    }
    g.leak_check = c.lit(b" (checking for goroutine leaks)");
    if !c.lit(b": ") {
        return None;
    }
    g.clock_sweep_term_ns = c.decimal::<6>()?;
    if !c.lit(b"+") {
        return None;
    }
    g.clock_mark_ns = c.decimal::<6>()?;
    if !c.lit(b"+") {
        return None;
    }
    g.clock_mark_term_ns = c.decimal::<6>()?;
    if !c.lit(b" ms clock, ") {
        return None;
    }
    g.cpu_sweep_term_ns = c.decimal::<6>()?;
    if !c.lit(b"+") {
        return None;
    }
    g.cpu_assist_ns = c.decimal::<6>()?;
    if !c.lit(b"/") {
        return None;
    }
    g.cpu_background_ns = c.decimal::<6>()?;
    if !c.lit(b"/") {
        return None;
    }
    g.cpu_idle_ns = c.decimal::<6>()?;
    if !c.lit(b"+") {
        return None;
    }
    g.cpu_mark_term_ns = c.decimal::<6>()?;
    if !c.lit(b" ms cpu, ") {
        return None;
    }
    g.heap_start_bytes = c.uint()? * MIB;
    if !c.lit(b"->") {
        return None;
    }
    g.heap_end_bytes = c.uint()? * MIB;
    if !c.lit(b"->") {
        return None;
    }
    g.heap_live_bytes = c.uint()? * MIB;
    if !c.lit(b" MB, ") {
        return None;
    }
    g.heap_goal_bytes = c.uint()? * MIB;
    if !c.lit(b" MB goal, ") {
        return None;
    }
    let v = c.uint()?;
    if c.lit(b" MB stacks, ") {
        g.stacks_bytes = Some(v * MIB);
        g.globals_bytes = Some(c.uint()? * MIB);
        if !c.lit(b" MB globals, ") {
            return None;
        }
        g.procs = c.uint()? as u32;
    } else {
        g.procs = v as u32;
    }
    if !c.lit(b" P") || g.procs == 0 {
        return None;
    }
    g.forced = c.lit(b" (forced)");
    (c.i + LONGEST_LIT <= SPAN).then_some((g, c.i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(line: &[u8]) -> [u8; WINDOW] {
        let mut w = [0u8; WINDOW];
        let n = line.len().min(WINDOW);
        w[..n].copy_from_slice(&line[..n]);
        w
    }

    /// Whatever the fast path accepts, the checked parser accepts identically; and it
    /// accepts the ordinary lines of every Go version.
    fn agrees(line: &[u8]) -> bool {
        let fast = parse(&window(line)).map(|(c, _)| c);
        let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
        let slow = super::super::parse_at(&line[..end]).ok();
        if let Some(f) = &fast {
            assert_eq!(Some(f), slow.as_ref(), "{}", String::from_utf8_lossy(line));
        }
        fast.is_some()
    }

    #[test]
    fn fast_path_matches_checked_parser() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/samples/logs");
        let mut lines = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let data = std::fs::read(e.unwrap().path()).unwrap();
            for l in data.split(|&b| b == b'\n') {
                if let Some(at) = memchr::memmem::find(l, b"gc ")
                    && l[at..].starts_with(b"gc ")
                    && super::super::claims_gctrace(l, at)
                {
                    lines.push(l[at..].to_vec());
                }
            }
        }
        assert!(lines.len() > 100);
        for l in &lines {
            assert!(
                agrees(l),
                "fast path declined {}",
                String::from_utf8_lossy(l)
            );
        }
        // Mutations: every byte of a few lines replaced, or a digit inserted before it.
        let extra: [&[u8]; 3] = [
            b"gc 123456789 @123456789.123456789123s 99%: 1234567.12345678+0.1+0.01 ms clock, 1+1/1/1+1 ms cpu, 99999999->1->1 MB, 1 MB goal, 1 P",
            b"gc 1 @0.5s 0% (checking for goroutine leaks): 0+0+0 ms clock, 0+0/0/0+0 ms cpu, 0->0->0 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 255 P (forced)",
            b"gc 7 @1.000000001s 12%: 0.0000001+9.9999999+10 ms clock, 1+2/3/4+5 ms cpu, 4->5->6 MB, 7 MB goal, 8 P",
        ];
        let base: Vec<&[u8]> = lines
            .iter()
            .step_by(97)
            .map(|l| &l[..])
            .chain(extra)
            .collect();
        for l in base {
            for i in 0..l.len() {
                for b in [b'0', b'9', b'.', b' ', b'x', 0, 0xff] {
                    let mut m = l.to_vec();
                    m[i] = b;
                    agrees(&m);
                    let mut m = l.to_vec();
                    m.insert(i, b'7');
                    agrees(&m);
                }
            }
        }
        // A line longer than the window is declined, not misread.
        let mut long = lines[0].clone();
        long.splice(3..3, std::iter::repeat_n(b'0', 300));
        assert!(!agrees(&long));
    }
}
