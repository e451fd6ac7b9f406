//! Go symbolization from the binary's own function table, `gopclntab`.
//!
//! Every Go binary carries `runtime.pclntab` for the runtime's own tracebacks, so it
//! survives `-ldflags=-s -w`. Layout (Go 1.18+, `src/runtime/symtab.go` `pcHeader`,
//! `src/debug/gosym/pclntab.go`): a header
//! `magic u32, 0, 0, minLC u8, ptrSize u8, nfunc, nfiles, textStart, funcnameOffset,
//! cuOffset, filetabOffset, pctabOffset, pclnOffset` (the last eight pointer-sized), then
//! at `pclnOffset` the function table: `nfunc + 1` pairs of `u32` (entry offset from the
//! text start, offset of the `_func` record from `pclnOffset`). A `_func` starts with
//! `entryOff u32, nameOff i32`, the name being a NUL-terminated string in the name table.
//!
//! The table is found through the `.gopclntab` section when section headers survive,
//! otherwise by its magic (0xfffffff1 for Go 1.20+, 0xfffffff0 for 1.18–1.19) with a
//! header that checks out. Little-endian only (amd64, arm64).
//!
//! Inlined frames are expanded as the runtime's `CallersFrames` does (Go 1.20+ tables):
//! the function's `PCDATA_InlTreeIndex` table gives the inlined call at a PC, whose record
//! in `FUNCDATA_InlTree` (an offset from `moduledata.gofunc`, i.e. the `go:func.*` symbol)
//! names the callee and the PC of the call site in its parent; repeat until the index is
//! -1. `gofunc` comes from the symbol table, or in a stripped binary from the runtime's
//! `moduledata` found by its first word (the table's address). When neither is found a PC
//! names only its outermost function, as `go tool addr2line` does.
//!
//! Every offset read from the file is checked against the bytes present; bad input is an
//! error, never a panic, and nothing is allocated from a size the header claims.

use object::{Object, ObjectSection};
use std::ops::Range;

const MAGIC_120: u32 = 0xffff_fff1;
const MAGIC_118: u32 = 0xffff_fff0;
/// The header's eight pointer-sized words after the first 8 bytes.
const HEADER_WORDS: usize = 8;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{name}: {what}")]
pub struct SymbolError {
    pub name: String,
    pub what: String,
}

fn err(name: &str, what: impl Into<String>) -> SymbolError {
    SymbolError {
        name: name.to_string(),
        what: what.into(),
    }
}

/// The function table of one Go binary, copied out of the file (a few MiB at most: the
/// bytes actually present, never a claimed size).
#[derive(Debug, Clone)]
pub struct GoSymbols {
    data: Vec<u8>,
    /// The Go version family of the header: "1.20+" or "1.18-1.19".
    pub format: &'static str,
    /// How the table was found: `section` or `magic-search`.
    pub found_by: &'static str,
    text_start: u64,
    nfunc: usize,
    names: Range<usize>,
    /// The function table and the `_func` records (offsets are relative to its start).
    funcs: usize,
    /// The ELF file type was ET_DYN (a PIE): addresses move by the load bias.
    pub pie: bool,
    quantum: u8,
    pctab: usize,
    /// The `go:func.*` region, for inline trees (None: inlined frames are not expanded).
    gofunc: Option<Vec<u8>>,
    /// How `gofunc` was found: `symbol`, `moduledata`, or `none`.
    pub inline_source: &'static str,
    /// Where `runtime.text` came from: `header`, `symbol`, `moduledata`, or `section`.
    pub text_source: &'static str,
}

/// `moduledata.gofunc`'s index in pointer-sized words: 40 in Go 1.20 through 1.26; 43 from
/// Go 1.27, which added `typedesclen`, `itaboffset` and `itabsize` before it. Either is
/// taken when the word after it, `epclntab` (Go 1.23+), lies past this table's start;
/// without one, 40. And `text`'s.
const MD_GOFUNC_WORDS: [usize; 2] = [40, 43];
const MD_TEXT_WORD: usize = 22;
const MD_MINPC_WORD: usize = 20;
const MD_MAXPC_WORD: usize = 21;
/// `_func` (Go 1.20+): `npcdata` at 28, `nfuncdata` at 43, then `pcdata[]`, `funcdata[]`.
const FUNC_HEADER: usize = 44;
const PCDATA_INL_TREE_INDEX: usize = 2;
const FUNCDATA_INL_TREE: usize = 3;
/// `inlinedCall` (Go 1.20+): funcID u8, pad [3], nameOff i32, parentPc i32, startLine i32.
const INLINED_CALL: usize = 16;
/// Deeper inlining than this is not real (the compiler's budget stops far earlier).
const MAX_INLINE_DEPTH: usize = 64;

impl GoSymbols {
    /// Read the table from an ELF executable's bytes. `name` is used in errors.
    pub fn from_elf(name: &str, file: &[u8]) -> Result<GoSymbols, SymbolError> {
        if !file.starts_with(b"\x7fELF") {
            return Err(err(name, "not an ELF file"));
        }
        let obj =
            object::File::parse(file).map_err(|e| err(name, format!("malformed ELF: {e}")))?;
        if !obj.is_little_endian() {
            return Err(err(name, "big-endian binaries are not supported"));
        }
        let pie = matches!(obj.kind(), object::ObjectKind::Dynamic);
        let text = obj
            .section_by_name(".text")
            .map(|s| s.address()..s.address().saturating_add(s.size()));
        let mut syms = None;
        let mut table_off = 0u64;
        if let Some(sec) = obj.section_by_name(".gopclntab")
            && let Some((off, size)) = sec.file_range()
            && let Some(bytes) = slice(file, off, size)
        {
            syms = Some(GoSymbols::parse(name, bytes, text.clone(), "section")?);
            table_off = off;
        }
        if syms.is_none() {
            // No section header (or a PIE that keeps it elsewhere): search for the magic.
            let mut at = 0;
            while let Some(pos) = find_magic(&file[at..]).map(|p| p + at) {
                if let Ok(s) = GoSymbols::parse(name, &file[pos..], text.clone(), "magic-search") {
                    syms = Some(s);
                    table_off = pos as u64;
                    break;
                }
                at = pos + 4;
            }
        }
        let mut syms = syms.ok_or_else(|| {
            err(
                name,
                "no Go function table (gopclntab) found: not a Go 1.18+ binary",
            )
        })?;
        syms.pie = pie;
        syms.resolve(&obj, file, table_off);
        Ok(syms)
    }

    /// `runtime.text` (when the header's copy is not usable) and `go:func.*` (for inline
    /// trees): from the symbol table when present, else from the runtime's `moduledata`,
    /// found by its first word (the table's address) and checked by its `minpc`/`maxpc`
    /// against the function table.
    fn resolve(&mut self, obj: &object::File<'_>, file: &[u8], table_off: u64) {
        use object::{ObjectSegment, ObjectSymbol};
        let segment_bytes = |addr: u64| -> Option<Vec<u8>> {
            obj.segments().find_map(|seg| {
                let (off, size) = seg.file_range();
                let start = seg.address();
                if addr < start || addr >= start.checked_add(size)? {
                    return None;
                }
                let from = off.checked_add(addr - start)?;
                slice(file, from, size - (addr - start)).map(<[u8]>::to_vec)
            })
        };
        let symbol = |name: &str| {
            obj.symbols()
                .find(|s| s.name() == Ok(name))
                .map(|s| s.address())
        };
        let want_inline = self.format == "1.20+";
        let mut need_text = self.text_source != "header";
        if need_text && let Some(t) = symbol("runtime.text") {
            self.text_start = t;
            self.text_source = "symbol";
            need_text = false;
        }
        let mut gofunc = if want_inline {
            symbol("go:func.*")
        } else {
            None
        };
        if gofunc.is_some() {
            self.inline_source = "symbol";
        }
        if (need_text || (want_inline && gofunc.is_none()))
            && let Some(md) = self.find_moduledata(obj, file, table_off)
        {
            if need_text {
                self.text_start = md.0;
                self.text_source = "moduledata";
            }
            if want_inline && gofunc.is_none() {
                gofunc = md.1;
                self.inline_source = "moduledata";
            }
        }
        match gofunc.and_then(segment_bytes) {
            Some(b) => self.gofunc = Some(b),
            None => self.inline_source = "none",
        }
    }

    /// (`text`, `gofunc`) of the moduledata that points at this table.
    fn find_moduledata(
        &self,
        obj: &object::File<'_>,
        file: &[u8],
        table_off: u64,
    ) -> Option<(u64, Option<u64>)> {
        use object::ObjectSegment;
        let table_addr = obj.segments().find_map(|seg| {
            let (off, size) = seg.file_range();
            // Program headers are untrusted: a hostile offset or size must not overflow.
            let within = table_off.checked_sub(off)?;
            (within < size).then(|| seg.address().checked_add(within))?
        })?;
        let (first, last) = (
            u64::from(self.entry(0)?),
            u64::from(self.entry(self.nfunc)?),
        );
        let want = table_addr.to_le_bytes();
        for seg in obj.segments() {
            let (off, size) = seg.file_range();
            let Some(bytes) = slice(file, off, size) else {
                continue;
            };
            let mut at = 0;
            while let Some(p) = memchr::memmem::find(&bytes[at..], &want).map(|p| p + at) {
                at = p + 1;
                if p % 8 != 0 {
                    continue;
                }
                let word = |i: usize| read_uint(bytes, p + 8 * i, 8);
                let (Some(minpc), Some(maxpc), Some(text)) =
                    (word(MD_MINPC_WORD), word(MD_MAXPC_WORD), word(MD_TEXT_WORD))
                else {
                    continue;
                };
                if minpc.checked_sub(text) == Some(first) && maxpc.checked_sub(text) == Some(last) {
                    // `epclntab` follows `gofunc` and lies past the table's start, within
                    // what a table can span; a word in another layout's slot (itabsize,
                    // rodata) does not.
                    // Before Go 1.23 no `epclntab` follows: then the Go 1.20 slot.
                    let gofunc = (self.format == "1.20+")
                        .then(|| {
                            MD_GOFUNC_WORDS
                                .iter()
                                .find_map(|&i| {
                                    let end = word(i + 1)?;
                                    let span = end.checked_sub(table_addr)?;
                                    (span > 0 && span < 1 << 32).then(|| word(i)).flatten()
                                })
                                .or_else(|| word(MD_GOFUNC_WORDS[0]))
                        })
                        .flatten();
                    return Some((text, gofunc));
                }
            }
        }
        None
    }

    /// Parse a table at the start of `data` (which may run past its end). `text` is the
    /// `.text` section's address range when known.
    pub fn parse(
        name: &str,
        data: &[u8],
        text: Option<Range<u64>>,
        found_by: &'static str,
    ) -> Result<GoSymbols, SymbolError> {
        let magic =
            read_u32(data, 0).ok_or_else(|| err(name, "gopclntab truncated in its header"))?;
        let format = match magic {
            MAGIC_120 => "1.20+",
            MAGIC_118 => "1.18-1.19",
            m => {
                return Err(err(
                    name,
                    format!("gopclntab magic {m:#x}, expected 0xfffffff1 or 0xfffffff0 (Go 1.18+)"),
                ));
            }
        };
        let (pad1, pad2, quantum, ptr) = (data.get(4), data.get(5), data.get(6), data.get(7));
        if pad1 != Some(&0) || pad2 != Some(&0) || !matches!(quantum, Some(1 | 2 | 4)) {
            return Err(err(name, "gopclntab header: bad padding or PC quantum"));
        }
        let ptr = match ptr {
            Some(&p @ (4 | 8)) => p as usize,
            _ => return Err(err(name, "gopclntab header: pointer size not 4 or 8")),
        };
        let word = |i: usize| read_uint(data, 8 + i * ptr, ptr);
        let mut w = [0u64; HEADER_WORDS];
        for (i, slot) in w.iter_mut().enumerate() {
            *slot = word(i).ok_or_else(|| err(name, "gopclntab truncated in its header"))?;
        }
        let [
            nfunc,
            _nfiles,
            text_start,
            funcname_off,
            _cu,
            _filetab,
            pctab_off,
            pcln_off,
        ] = w;
        let header_end = (8 + HEADER_WORDS * ptr) as u64;
        // The tables follow the header in this order; anything else is not a pclntab.
        if !(header_end <= funcname_off && funcname_off <= pctab_off && pctab_off <= pcln_off) {
            return Err(err(name, "gopclntab header: table offsets out of order"));
        }
        let len = data.len() as u64;
        // The function table: (nfunc + 1) pairs of u32 must be present.
        let ft_bytes = nfunc
            .checked_add(1)
            .and_then(|n| n.checked_mul(8))
            .ok_or_else(|| err(name, "gopclntab header: function count overflows"))?;
        if nfunc == 0 || pcln_off.checked_add(ft_bytes).is_none_or(|end| end > len) {
            return Err(err(
                name,
                format!(
                    "gopclntab claims {nfunc} functions at offset {pcln_off}; {len} bytes present"
                ),
            ));
        }
        let funcs = pcln_off as usize;
        let nfunc = nfunc as usize;
        let mut syms = GoSymbols {
            format,
            found_by,
            // runtime.text: the header's copy when it lies in .text (an externally linked
            // binary starts .text with C code, so runtime.text is past its start); the
            // section's start when the copy is outside it (unrelocated, as gosym warns).
            text_start: match &text {
                Some(t) if t.contains(&text_start) => text_start,
                Some(t) => t.start,
                None => text_start,
            },
            text_source: match &text {
                Some(t) if !t.contains(&text_start) => "section",
                _ => "header",
            },
            nfunc,
            names: funcname_off as usize..pctab_off as usize,
            funcs,
            pie: false,
            data: Vec::new(),
            quantum: *quantum.unwrap_or(&1),
            pctab: pctab_off as usize,
            gofunc: None,
            inline_source: "none",
        };
        // The table's extent: up to the end of the last _func record we can see. Keep the
        // bytes present (bounded by `data`), checking entries ascend on the way.
        let mut prev = 0u32;
        let mut end = funcs + ft_bytes as usize;
        for i in 0..=nfunc {
            let entry = read_u32(data, funcs + 8 * i).unwrap_or(0);
            if entry < prev {
                return Err(err(
                    name,
                    format!("gopclntab function table not sorted at entry {i}"),
                ));
            }
            prev = entry;
            if i < nfunc {
                let foff = read_u32(data, funcs + 8 * i + 4).unwrap_or(0) as usize;
                // The record with its pcdata/funcdata arrays (at most 255 + 255 entries).
                end = end.max(
                    funcs
                        .saturating_add(foff)
                        .saturating_add(FUNC_HEADER + 4 * 510),
                );
            }
        }
        let end = end.min(data.len());
        syms.data = data[..end].to_vec();
        // The first function must have a readable name, or this is not a table.
        if syms.func_name(0).is_none() {
            return Err(err(
                name,
                "gopclntab: the first function has no readable name",
            ));
        }
        Ok(syms)
    }

    /// Number of functions in the table.
    pub fn len(&self) -> usize {
        self.nfunc
    }

    pub fn is_empty(&self) -> bool {
        self.nfunc == 0
    }

    /// The text range the table covers, as link-time addresses.
    pub fn text_range(&self) -> Range<u64> {
        let end = read_u32(&self.data, self.funcs + 8 * self.nfunc).unwrap_or(0);
        self.text_start..self.text_start.saturating_add(u64::from(end))
    }

    fn entry(&self, i: usize) -> Option<u32> {
        read_u32(&self.data, self.funcs + 8 * i)
    }

    fn func_name(&self, i: usize) -> Option<&str> {
        let foff = read_u32(&self.data, self.funcs + 8 * i + 4)? as usize;
        let name_off =
            read_u32(&self.data, self.funcs.checked_add(foff)?.checked_add(4)?)? as usize;
        self.name_at(name_off)
    }

    /// A NUL-terminated name in the function name table.
    fn name_at(&self, name_off: usize) -> Option<&str> {
        let start = self.names.start.checked_add(name_off)?;
        let bytes = self.data.get(start..self.names.end.min(self.data.len()))?;
        let nul = bytes.iter().position(|&b| b == 0)?;
        std::str::from_utf8(&bytes[..nul]).ok()
    }

    /// The function containing a link-time address (the outermost one when inlined).
    pub fn lookup(&self, pc: u64) -> Option<&str> {
        self.func_name(self.func_index(pc)?)
    }

    /// The logical frames at a link-time address, innermost (inlined) first and the
    /// physical function last; empty when the address is outside the table.
    pub fn frames(&self, pc: u64) -> Vec<&str> {
        let Some(i) = self.func_index(pc) else {
            return Vec::new();
        };
        let mut out = self.inlined_at(i, pc).unwrap_or_default();
        if let Some(n) = self.func_name(i) {
            out.push(n);
        }
        out
    }

    /// The inlined calls at `pc` in function `i`, innermost first.
    fn inlined_at(&self, i: usize, pc: u64) -> Option<Vec<&str>> {
        let tree = self.gofunc.as_deref()?;
        let foff = read_u32(&self.data, self.funcs + 8 * i + 4)? as usize;
        let f = self.funcs.checked_add(foff)?;
        let entry = self
            .text_start
            .checked_add(u64::from(read_u32(&self.data, f)?))?;
        let npcdata = read_u32(&self.data, f + 28)? as usize;
        let nfuncdata = *self.data.get(f + 43)? as usize;
        if npcdata <= PCDATA_INL_TREE_INDEX || nfuncdata <= FUNCDATA_INL_TREE || npcdata > 255 {
            return None;
        }
        let table = read_u32(&self.data, f + FUNC_HEADER + 4 * PCDATA_INL_TREE_INDEX)? as usize;
        let tree_off = read_u32(
            &self.data,
            f + FUNC_HEADER + 4 * npcdata + 4 * FUNCDATA_INL_TREE,
        )?;
        if table == 0 || tree_off == u32::MAX {
            return None;
        }
        let mut out = Vec::new();
        let mut at = pc;
        while out.len() < MAX_INLINE_DEPTH {
            let ix = self.pcvalue(table, entry, at)?;
            if ix < 0 {
                break;
            }
            let rec = (tree_off as usize).checked_add((ix as usize).checked_mul(INLINED_CALL)?)?;
            let name_off = read_u32(tree, rec + 4)? as usize;
            let parent_pc = read_u32(tree, rec + 8)?;
            out.push(self.name_at(name_off)?);
            at = entry.checked_add(u64::from(parent_pc))?;
        }
        Some(out)
    }

    /// The value of the pc-value table at `pctab + off` for `target`, as the runtime's
    /// `pcvalue`: pairs of (zig-zag value delta, pc delta × quantum) varints from `entry`.
    fn pcvalue(&self, off: usize, entry: u64, target: u64) -> Option<i32> {
        let mut p = self.pctab.checked_add(off)?;
        let (mut val, mut pc, mut first) = (-1i32, entry, true);
        // Each step consumes at least two bytes; the table cannot be longer than the data.
        for _ in 0..self.data.len() / 2 + 1 {
            let uv = read_varint(&self.data, &mut p)?;
            if uv == 0 && !first {
                return None;
            }
            first = false;
            val = val.wrapping_add((-((uv & 1) as i32)) ^ ((uv >> 1) as i32));
            let dpc = read_varint(&self.data, &mut p)?;
            pc = pc.checked_add(u64::from(dpc) * u64::from(self.quantum))?;
            if target < pc {
                return Some(val);
            }
        }
        None
    }

    fn func_index(&self, pc: u64) -> Option<usize> {
        let off = pc.checked_sub(self.text_start)?;
        let off = u32::try_from(off).ok()?;
        if off >= self.entry(self.nfunc)? || off < self.entry(0)? {
            return None;
        }
        // The last function whose entry is <= off.
        let (mut lo, mut hi) = (0usize, self.nfunc);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.entry(mid)? <= off {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo.checked_sub(1)
    }

    /// The frame size at a link-time address, from its function's `pcsp` table: the
    /// distance from SP to the return address, as the runtime's unwinder reads it. None
    /// outside the table or without a table.
    pub fn sp_delta(&self, pc: u64) -> Option<u64> {
        let i = self.func_index(pc)?;
        let foff = read_u32(&self.data, self.funcs + 8 * i + 4)? as usize;
        let f = self.funcs.checked_add(foff)?;
        let entry = self
            .text_start
            .checked_add(u64::from(read_u32(&self.data, f)?))?;
        // _func: entryOff, nameOff, args, deferreturn, pcsp (Go 1.18+).
        let pcsp = read_u32(&self.data, f + 16)? as usize;
        if pcsp == 0 {
            return None;
        }
        u64::try_from(self.pcvalue(pcsp, entry, pc)?).ok()
    }

    /// Every function's entry address and name, in address order.
    pub fn functions(&self) -> impl Iterator<Item = (u64, &str)> + '_ {
        (0..self.nfunc).filter_map(|i| {
            Some((
                self.text_start.checked_add(u64::from(self.entry(i)?))?,
                self.func_name(i)?,
            ))
        })
    }
}

/// Where the executable is mapped in a process: the difference between run-time and
/// link-time addresses, from `/proc/PID/maps` and the ELF program headers. Zero for a
/// non-PIE executable.
pub fn load_bias(maps: &str, exe_path: &str, file: &[u8]) -> Option<u64> {
    use object::read::elf::{FileHeader, ProgramHeader};
    let hdr = object::elf::FileHeader64::<object::Endianness>::parse(file).ok()?;
    let endian = hdr.endian().ok()?;
    if hdr.e_type(endian) != object::elf::ET_DYN {
        return Some(0);
    }
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(_perms), Some(offset)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let path = f.nth(2).unwrap_or("");
        if path != exe_path {
            continue;
        }
        let start = u64::from_str_radix(range.split('-').next()?, 16).ok()?;
        let offset = u64::from_str_radix(offset, 16).ok()?;
        // The loadable segment holding this file offset.
        for ph in hdr.program_headers(endian, file).ok()? {
            if ph.p_type(endian) != object::elf::PT_LOAD {
                continue;
            }
            let (p_off, p_vaddr, p_filesz) =
                (ph.p_offset(endian), ph.p_vaddr(endian), ph.p_filesz(endian));
            if p_off & !0xfff <= offset && offset < p_off.saturating_add(p_filesz.max(1)) {
                // p_vaddr and p_off agree modulo the page size, so this is page-aligned.
                let link = p_vaddr.checked_sub(p_off)?.checked_add(offset)?;
                return start.checked_sub(link);
            }
        }
    }
    None
}

fn slice(data: &[u8], off: u64, size: u64) -> Option<&[u8]> {
    let start = usize::try_from(off).ok()?;
    let end = start.checked_add(usize::try_from(size).ok()?)?;
    data.get(start..end)
}

fn find_magic(data: &[u8]) -> Option<usize> {
    // The header is pointer-aligned; look at each 4-byte boundary.
    let mut i = 0;
    while i + 8 <= data.len() {
        if data[i + 1..i + 4] == [0xff, 0xff, 0xff]
            && matches!(data[i], 0xf0 | 0xf1)
            && data[i + 4] == 0
            && data[i + 5] == 0
        {
            return Some(i);
        }
        i += 4;
    }
    None
}

fn read_varint(data: &[u8], at: &mut usize) -> Option<u32> {
    let mut v = 0u32;
    for shift in (0..35).step_by(7) {
        let b = *data.get(*at)?;
        *at += 1;
        v |= u32::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn read_u32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

fn read_uint(data: &[u8], at: usize, size: usize) -> Option<u64> {
    let b = data.get(at..at.checked_add(size)?)?;
    Some(match size {
        4 => u64::from(u32::from_le_bytes(b.try_into().ok()?)),
        _ => u64::from_le_bytes(b.try_into().ok()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal 1.20 table: two functions "main.a" at +0 and "main.b" at +0x10, end +0x20.
    pub(crate) fn tiny_table() -> Vec<u8> {
        let mut d = vec![0xf1, 0xff, 0xff, 0xff, 0, 0, 1, 8];
        let names = b"main.a\0main.b\0";
        let header_end = 8 + 8 * 8;
        let funcname_off = header_end as u64;
        let pctab_off = funcname_off + names.len() as u64;
        let pcln_off = pctab_off;
        for w in [
            2u64,
            1,
            0x1000,
            funcname_off,
            pctab_off,
            pctab_off,
            pctab_off,
            pcln_off,
        ] {
            d.extend_from_slice(&w.to_le_bytes());
        }
        d.extend_from_slice(names);
        // functab: (entry, funcoff) x2 + end sentinel; _func records after it.
        let ft_len: u32 = 3 * 8;
        for (entry, foff) in [(0u32, ft_len), (0x10, ft_len + 8), (0x20, 0)] {
            d.extend_from_slice(&entry.to_le_bytes());
            d.extend_from_slice(&foff.to_le_bytes());
        }
        for (entry, name_off) in [(0u32, 0u32), (0x10, 7)] {
            d.extend_from_slice(&entry.to_le_bytes());
            d.extend_from_slice(&name_off.to_le_bytes());
        }
        d
    }

    #[test]
    fn lookup_in_a_small_table() {
        let t = GoSymbols::parse("t", &tiny_table(), None, "section").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.lookup(0x1000), Some("main.a"));
        assert_eq!(t.lookup(0x100f), Some("main.a"));
        assert_eq!(t.lookup(0x1010), Some("main.b"));
        assert_eq!(t.lookup(0x101f), Some("main.b"));
        assert_eq!(t.lookup(0x1020), None);
        assert_eq!(t.lookup(0xfff), None);
        assert_eq!(t.text_range(), 0x1000..0x1020);
        // The header's runtime.text outside .text (unrelocated): the section's start.
        let t = GoSymbols::parse("t", &tiny_table(), Some(0x2000..0x3000), "section").unwrap();
        assert_eq!(t.lookup(0x2011), Some("main.b"));
        // Inside .text but past its start (external linking put C code first): the header.
        let t = GoSymbols::parse("t", &tiny_table(), Some(0x0f00..0x3000), "section").unwrap();
        assert_eq!(t.lookup(0x1000), Some("main.a"));
        assert_eq!(t.lookup(0x0f00), None);
    }

    #[test]
    fn every_truncation_and_byte_flip_is_an_error_or_a_table_never_a_panic() {
        let good = tiny_table();
        for cut in 0..good.len() {
            let _ = GoSymbols::parse("t", &good[..cut], None, "section")
                .map(|t| t.lookup(0x1010).map(str::len));
        }
        for i in 0..good.len() {
            for v in [0u8, 0x7f, 0xff] {
                let mut bad = good.clone();
                bad[i] = v;
                if let Ok(t) = GoSymbols::parse("t", &bad, None, "section") {
                    for pc in [0x1000, 0x1010, 0x101f, u64::MAX] {
                        let _ = t.lookup(pc);
                    }
                    let _ = t.functions().count();
                }
            }
        }
    }

    #[test]
    fn a_text_start_near_the_top_of_the_address_space_does_not_overflow() {
        let t =
            GoSymbols::parse("t", &tiny_table(), Some(u64::MAX - 4..u64::MAX), "section").unwrap();
        assert_eq!(t.lookup(u64::MAX), Some("main.a"));
        let _ = (t.text_range(), t.functions().count(), t.frames(u64::MAX));
    }

    #[test]
    fn a_huge_claimed_function_count_is_refused_without_allocating() {
        let mut d = tiny_table();
        d[8..16].copy_from_slice(&(u64::MAX / 4).to_le_bytes());
        let e = GoSymbols::parse("bin", &d, None, "section").unwrap_err();
        assert!(e.to_string().starts_with("bin: gopclntab"), "{e}");
        let e = GoSymbols::from_elf("bin", b"\x7fELF\x02\x01\x01").unwrap_err();
        assert!(e.to_string().contains("malformed ELF"), "{e}");
    }

    #[test]
    fn load_bias_of_a_pie_from_maps() {
        // Not an ELF64 header: no bias can be computed.
        assert_eq!(load_bias("", "/x", b"nope"), None);
    }
}
