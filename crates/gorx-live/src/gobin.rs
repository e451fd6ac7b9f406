//! Is this executable a Go program, and which Go built it?
//!
//! The Go linker writes a build-info blob into every binary (section `.go.buildinfo`, kept
//! even by `-ldflags=-s -w`): the 14-byte magic `"\xff Go buildinf:"`, a pointer-size byte,
//! a flags byte, then (Go ≥ 1.18, flag bit 2) the runtime version and the module info as
//! inline varint-prefixed strings, or (older Go) two pointers to Go string headers.
//! When the section header table is gone we search the first writable segment for the magic
//! the way `debug/buildinfo` does; failing that, the `runtime.buildVersion` symbol, and
//! failing that `.note.go.buildid` still proves a Go binary of unknown version.
//!
//! Every length read from the file is checked against the bytes actually there; nothing is
//! allocated from a claimed size.

use gorx_formats::FormatError;
use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol};
use serde::Serialize;
use std::path::Path;

const MAGIC: &[u8; 14] = b"\xff Go buildinf:";
const ALIGN: usize = 16;
const HEADER_SIZE: usize = 32;
/// `debug/buildinfo` looks at most this far into the data segment for the magic.
const SEARCH_BYTES: usize = 64 * 1024;
/// A Go version string ("go1.26.8", "devel go1.27-abcdef ...") is short; refuse absurd ones.
const MAX_VERSION_LEN: u64 = 256;
/// Module info lists every dependency; generous but bounded.
const MAX_MODINFO_LEN: u64 = 16 << 20;

/// A module as recorded in build info (`mod` / `dep` lines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Module {
    pub path: String,
    pub version: String,
    pub sum: String,
}

/// What the binary tells about how it was built.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GoBinary {
    /// The runtime version, e.g. `go1.26.8`; None when only a build id proves it is Go.
    pub go_version: Option<String>,
    /// The main package path (`path` line).
    pub main_path: Option<String>,
    /// The main module (`mod` line).
    pub main_module: Option<Module>,
    /// `build` settings in order, e.g. `("GOARCH","amd64")`, `("DefaultGODEBUG", "...")`.
    pub settings: Vec<(String, String)>,
    /// Number of `dep` lines.
    pub deps: usize,
    /// How the binary was recognized: `buildinfo-section`, `buildinfo-search`,
    /// `buildversion-symbol`, `buildid-note`.
    pub detected_by: &'static str,
}

impl GoBinary {
    /// The `major.minor` of the Go version, e.g. (1, 26); None for unparsable/devel versions.
    pub fn go_minor(&self) -> Option<(u32, u32)> {
        parse_go_minor(self.go_version.as_deref()?)
    }

    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// `go1.26.8` → (1, 26); `devel go1.27-abc` → (1, 27); `go1.9` → (1, 9).
pub fn parse_go_minor(v: &str) -> Option<(u32, u32)> {
    let i = v.find("go1.")?;
    let rest = &v[i + 2..];
    let mut parts = rest.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Read and classify an executable. `Ok(None)`: a readable file that is not a Go binary.
pub fn read_go_binary(path: &Path) -> Result<Option<GoBinary>, crate::LiveError> {
    let file = std::fs::File::open(path).map_err(|e| crate::LiveError::io(path, e))?;
    // SAFETY: read-only private mapping; a concurrent truncation can only fault this
    // process, which `ps` accepts as the price of not reading 100 MiB binaries into memory.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| crate::LiveError::io(path, e))?;
    Ok(parse_go_binary(&path.display().to_string(), &map)?)
}

/// Classify an executable's bytes. `name` is used in errors.
pub fn parse_go_binary(name: &str, data: &[u8]) -> Result<Option<GoBinary>, FormatError> {
    if !data.starts_with(b"\x7fELF") {
        return Ok(None);
    }
    let obj = object::File::parse(data)
        .map_err(|e| FormatError::at_offset(name, 0, format!("malformed ELF: {e}")))?;
    // 1. The section, where section headers survive.
    if let Some(sec) = obj.section_by_name(".go.buildinfo") {
        let (off, size) = sec.file_range().unwrap_or((0, 0));
        if let Some(blob) = slice(data, off, size)
            && let Some(pos) = find_magic(blob)
        {
            let mut bin = decode(name, &obj, blob, off + pos as u64, pos)?;
            bin.detected_by = "buildinfo-section";
            return Ok(Some(bin));
        }
    }
    // 2. The first writable loadable segment (what debug/buildinfo does without sections).
    for seg in obj.segments() {
        if !segment_writable(&seg) {
            continue;
        }
        let (off, size) = seg.file_range();
        let Some(blob) = slice(data, off, size.min(SEARCH_BYTES as u64)) else {
            continue;
        };
        let full = slice(data, off, size).unwrap_or(blob);
        // Without the section we may hit a copy of the magic in ordinary data (e.g. the
        // literal inside a binary that links debug/buildinfo): take the first candidate
        // with a plausible header.
        let mut at = 0;
        while let Some(pos) = find_magic(&blob[at..]).map(|p| p + at) {
            let hdr = &blob[pos..];
            if matches!(hdr[14], 4 | 8)
                && let Ok(mut bin) = decode(name, &obj, full, off + pos as u64, pos)
                && bin
                    .go_version
                    .as_deref()
                    .is_some_and(|v| v.starts_with("go") || v.starts_with("devel"))
            {
                bin.detected_by = "buildinfo-search";
                return Ok(Some(bin));
            }
            at = pos + ALIGN;
        }
        break;
    }
    // 3. runtime.buildVersion, a Go string header in the data segment.
    if let Some(sym) = obj
        .symbols()
        .find(|s| s.name() == Ok("runtime.buildVersion"))
    {
        let ptr_size = if obj.is_64() { 8 } else { 4 };
        let little = obj.is_little_endian();
        if let Some(v) = read_string_header(&obj, sym.address(), ptr_size, little) {
            return Ok(Some(GoBinary {
                go_version: Some(v),
                detected_by: "buildversion-symbol",
                ..Default::default()
            }));
        }
    }
    // 4. The build id note: a Go binary whose version we cannot tell.
    if obj.section_by_name(".note.go.buildid").is_some() {
        return Ok(Some(GoBinary {
            detected_by: "buildid-note",
            ..Default::default()
        }));
    }
    Ok(None)
}

fn segment_writable(seg: &object::Segment<'_, '_>) -> bool {
    match seg.flags() {
        object::SegmentFlags::Elf { p_type, p_flags } => {
            p_type == object::elf::PT_LOAD && p_flags.contains(object::elf::PF_W)
        }
        _ => false,
    }
}

fn slice(data: &[u8], off: u64, size: u64) -> Option<&[u8]> {
    let start = usize::try_from(off).ok()?;
    let end = start.checked_add(usize::try_from(size).ok()?)?;
    data.get(start..end)
}

fn find_magic(blob: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + HEADER_SIZE <= blob.len() {
        if blob[i..].starts_with(MAGIC) {
            return Some(i);
        }
        i += ALIGN;
    }
    None
}

/// Decode the header at `blob[pos..]`; `file_off` is its offset in the file (for errors).
fn decode(
    name: &str,
    obj: &object::File<'_>,
    blob: &[u8],
    file_off: u64,
    pos: usize,
) -> Result<GoBinary, FormatError> {
    let hdr = &blob[pos..];
    if hdr.len() < HEADER_SIZE {
        return Err(FormatError::at_offset(
            name,
            file_off,
            "truncated Go build info header",
        ));
    }
    let ptr_size = hdr[14] as usize;
    let flags = hdr[15];
    let (version, modinfo) = if flags & 2 != 0 {
        // Go ≥ 1.18: inline strings right after the 32-byte header.
        let mut at = HEADER_SIZE;
        let v = read_varint_string(name, hdr, &mut at, file_off, MAX_VERSION_LEN)?;
        let m = read_varint_string(name, hdr, &mut at, file_off, MAX_MODINFO_LEN)?;
        (v, m)
    } else {
        // Go < 1.18: pointers to string headers; flags byte is the endianness.
        if ptr_size != 4 && ptr_size != 8 {
            return Err(FormatError::at_offset(
                name,
                file_off + 14,
                format!("Go build info pointer size {ptr_size}, expected 4 or 8"),
            ));
        }
        let little = flags == 0;
        let vp = read_uint(&hdr[16..], ptr_size, little);
        let mp = read_uint(&hdr[16 + ptr_size..], ptr_size, little);
        let v = vp.and_then(|p| read_string_header(obj, p, ptr_size, little));
        let m = mp.and_then(|p| read_string_header(obj, p, ptr_size, little));
        (
            v.unwrap_or_default().into_bytes(),
            m.unwrap_or_default().into_bytes(),
        )
    };
    let mut bin = GoBinary {
        go_version: (!version.is_empty()).then(|| String::from_utf8_lossy(&version).into_owned()),
        ..Default::default()
    };
    // The module info is framed by 16 sentinel bytes on each side.
    if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        let text = String::from_utf8_lossy(&modinfo[16..modinfo.len() - 16]);
        parse_modinfo(&text, &mut bin);
    }
    Ok(bin)
}

fn parse_modinfo(text: &str, bin: &mut GoBinary) {
    for line in text.lines() {
        let mut f = line.split('\t');
        match f.next() {
            Some("path") => bin.main_path = f.next().map(str::to_string),
            Some("mod") => {
                bin.main_module = Some(Module {
                    path: f.next().unwrap_or("").to_string(),
                    version: f.next().unwrap_or("").to_string(),
                    sum: f.next().unwrap_or("").to_string(),
                })
            }
            Some("dep") => bin.deps += 1,
            Some("build") => {
                if let Some(kv) = f.next() {
                    // Values with spaces or tabs are quoted by Go; keep the raw text.
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    bin.settings.push((k.to_string(), v.to_string()));
                }
            }
            _ => {}
        }
    }
}

fn read_varint_string(
    name: &str,
    buf: &[u8],
    at: &mut usize,
    base: u64,
    max: u64,
) -> Result<Vec<u8>, FormatError> {
    let start = *at;
    let mut len: u64 = 0;
    let mut shift = 0;
    loop {
        let Some(&b) = buf.get(*at) else {
            return Err(FormatError::at_offset(
                name,
                base + start as u64,
                "truncated varint in Go build info",
            ));
        };
        *at += 1;
        if shift >= 64 {
            return Err(FormatError::at_offset(
                name,
                base + start as u64,
                "overlong varint in Go build info",
            ));
        }
        len |= u64::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    let avail = (buf.len() - *at) as u64;
    if len > max || len > avail {
        return Err(FormatError::at_offset(
            name,
            base + start as u64,
            format!("Go build info string claims {len} bytes, {avail} present"),
        ));
    }
    let s = buf[*at..*at + len as usize].to_vec();
    *at += len as usize;
    Ok(s)
}

fn read_uint(b: &[u8], size: usize, little: bool) -> Option<u64> {
    let b = b.get(..size)?;
    let mut v: u64 = 0;
    if little {
        for (i, &x) in b.iter().enumerate() {
            v |= u64::from(x) << (8 * i);
        }
    } else {
        for &x in b {
            v = (v << 8) | u64::from(x);
        }
    }
    Some(v)
}

/// Bytes at a virtual address, from the loadable segment that maps it.
fn read_at_addr<'d>(obj: &object::File<'d>, addr: u64, size: u64) -> Option<&'d [u8]> {
    obj.segments()
        .find_map(|seg| seg.data_range(addr, size).ok().flatten())
}

/// Read a Go string header `{ptr, len}` at `addr` and the bytes it points to.
fn read_string_header(
    obj: &object::File<'_>,
    addr: u64,
    ptr_size: usize,
    little: bool,
) -> Option<String> {
    let hdr = read_at_addr(obj, addr, 2 * ptr_size as u64)?;
    let p = read_uint(hdr, ptr_size, little)?;
    let n = read_uint(&hdr[ptr_size..], ptr_size, little)?;
    if n == 0 || n > MAX_VERSION_LEN {
        return None;
    }
    let s = read_at_addr(obj, p, n)?;
    Some(String::from_utf8_lossy(s).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_minor_forms() {
        assert_eq!(parse_go_minor("go1.26.8"), Some((1, 26)));
        assert_eq!(parse_go_minor("go1.22"), Some((1, 22)));
        assert_eq!(parse_go_minor("devel go1.27-abc123 Tue"), Some((1, 27)));
        assert_eq!(parse_go_minor("gccgo"), None);
    }

    #[test]
    fn not_elf_is_not_go() {
        assert_eq!(parse_go_binary("x", b"#!/bin/sh\n").unwrap(), None);
    }

    #[test]
    fn truncated_elf_is_an_error_naming_the_file() {
        let e = parse_go_binary("/tmp/bad", b"\x7fELF\x02\x01\x01").unwrap_err();
        assert!(e.to_string().starts_with("/tmp/bad"), "{e}");
    }

    #[test]
    fn varint_claiming_more_than_present_is_refused() {
        let mut buf = vec![0u8; HEADER_SIZE];
        buf.extend_from_slice(&[0xff, 0xff, 0xff, 0x7f, b'g', b'o']);
        let mut at = HEADER_SIZE;
        let e = read_varint_string("f", &buf, &mut at, 100, MAX_MODINFO_LEN).unwrap_err();
        assert!(e.to_string().contains("claims"), "{e}");
        assert_eq!(
            e.location,
            gorx_formats::Location::Offset(100 + HEADER_SIZE as u64)
        );
    }

    #[test]
    fn modinfo_lines() {
        let mut b = GoBinary::default();
        parse_modinfo(
            "path\texample.com/cmd/srv\nmod\texample.com\t(devel)\t\ndep\tgolang.org/x/sys\tv0.1.0\th1:x\nbuild\t-compiler=gc\nbuild\tDefaultGODEBUG=containermaxprocs=0,updatemaxprocs=0\n",
            &mut b,
        );
        assert_eq!(b.main_path.as_deref(), Some("example.com/cmd/srv"));
        assert_eq!(b.main_module.as_ref().unwrap().version, "(devel)");
        assert_eq!(b.deps, 1);
        assert_eq!(
            b.setting("DefaultGODEBUG"),
            Some("containermaxprocs=0,updatemaxprocs=0")
        );
    }
}
