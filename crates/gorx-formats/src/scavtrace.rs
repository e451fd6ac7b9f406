//! `GODEBUG=scavtrace=1` lines (runtime/mgcscavenge.go `printScavTrace`), three forms:
//!
//! ```text
//! scav 3 1024 KiB work, 4096 KiB total, 82% util                      (Go 1.14–1.17: generation)
//! scav 1024 KiB work, 4096 KiB total, 82% util                        (Go 1.13, 1.18–1.20)
//! scav 0 KiB work (bg), 0 KiB work (eager), 3488 KiB now, 90% util    (Go 1.21+)
//! ```
//!
//! Any of them may end with ` (forced)` or ` [controller reset]`. As with gctrace, lines
//! are found after any log-collector prefix, and claiming lines (`scav <digit>`) that do
//! not parse are listed, not fatal.

use crate::gctrace::{Cur, Malformed};
use memchr::memmem;

/// Which of the three historical forms the line had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScavForm {
    /// Go 1.14–1.17: `scav <gen> <work> KiB work, <total> KiB total, <u>% util`.
    Generation,
    /// Go 1.13 and 1.18–1.20: `scav <work> KiB work, <total> KiB total, <u>% util`.
    Total,
    /// Go 1.21+: background and eager work split, `KiB now`.
    BgEager,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScavLine {
    /// 1-based line number.
    pub line: u64,
    pub form: ScavForm,
    /// Scavenger generation (Go 1.14–1.17 only).
    pub generation: Option<u64>,
    /// Memory released since the previous line by the background scavenger
    /// (all work in the older forms).
    pub released_bg_bytes: u64,
    /// Memory released eagerly (allocation path, memory limit); Go 1.21+ only, else 0.
    pub released_eager_bytes: u64,
    /// Heap memory currently released to the OS (`heapReleased`).
    pub released_total_bytes: u64,
    /// heapInUse / heapRetained, percent.
    pub util_percent: u32,
    pub forced: bool,
    pub controller_reset: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScavTrace {
    pub lines: Vec<ScavLine>,
    pub malformed: Vec<Malformed>,
}

/// Finds and parses every scavtrace line. Never fails (see module docs).
pub fn parse(_input: &str, data: &[u8]) -> ScavTrace {
    let mut out = ScavTrace::default();
    let finder = memmem::Finder::new(b"scav ");
    let mut line_no = 1u64;
    let mut counted = 0usize;
    let mut pos = 0usize;
    while let Some(rel) = finder.find(&data[pos..]) {
        let at = pos + rel;
        let end = memchr::memchr(b'\n', &data[at..]).map_or(data.len(), |e| at + e);
        let boundary = at == 0 || !(data[at - 1].is_ascii_alphanumeric() || data[at - 1] == b'_');
        if boundary && data.get(at + 5).is_some_and(u8::is_ascii_digit) {
            line_no += memchr::memchr_iter(b'\n', &data[counted..at]).count() as u64;
            counted = at;
            match parse_at(&data[at..end]) {
                Ok(mut l) => {
                    l.line = line_no;
                    out.lines.push(l);
                }
                Err(message) => out.malformed.push(Malformed {
                    line: line_no,
                    message,
                }),
            }
            pos = end;
        } else {
            pos = at + 1;
        }
        if pos >= data.len() {
            break;
        }
    }
    out
}

fn kib(v: u64) -> Result<u64, String> {
    v.checked_mul(1024)
        .ok_or_else(|| "size too large".to_string())
}

/// Parses one line starting at `scav `.
pub fn parse_at(s: &[u8]) -> Result<ScavLine, String> {
    let mut c = Cur::new(s);
    c.lit("scav ")?;
    let first = c.uint()?;
    let mut l = ScavLine {
        line: 0,
        form: ScavForm::Total,
        generation: None,
        released_bg_bytes: 0,
        released_eager_bytes: 0,
        released_total_bytes: 0,
        util_percent: 0,
        forced: false,
        controller_reset: false,
    };
    if c.try_lit(" KiB work (bg), ") {
        l.form = ScavForm::BgEager;
        l.released_bg_bytes = kib(first)?;
        l.released_eager_bytes = kib(c.uint()?)?;
        c.lit(" KiB work (eager), ")?;
        l.released_total_bytes = kib(c.uint()?)?;
        c.lit(" KiB now, ")?;
    } else {
        let work = if c.try_lit(" KiB work, ") {
            first
        } else {
            c.lit(" ")?;
            l.form = ScavForm::Generation;
            l.generation = Some(first);
            let w = c.uint()?;
            c.lit(" KiB work, ")?;
            w
        };
        l.released_bg_bytes = kib(work)?;
        l.released_total_bytes = kib(c.uint()?)?;
        c.lit(" KiB total, ")?;
    }
    l.util_percent = u32::try_from(c.uint()?).map_err(|_| "util too large")?;
    c.lit("% util")?;
    l.forced = c.try_lit(" (forced)");
    l.controller_reset = !l.forced && c.try_lit(" [controller reset]");
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_forms() {
        let t = parse(
            "x",
            b"scav 3 1024 KiB work, 4096 KiB total, 82% util (forced)\n\
              ts=1 msg=\"scav 12 KiB work, 40 KiB total, 50% util\"\n\
              scav 1 KiB work (bg), 2 KiB work (eager), 3488 KiB now, 90% util [controller reset]\n\
              escav 1 no\nscav 9 KiB bogus\n",
        );
        assert_eq!(t.lines.len(), 3);
        assert_eq!(t.lines[0].form, ScavForm::Generation);
        assert_eq!(t.lines[0].generation, Some(3));
        assert_eq!(t.lines[0].released_bg_bytes, 1024 * 1024);
        assert!(t.lines[0].forced);
        assert_eq!(t.lines[1].form, ScavForm::Total);
        assert_eq!(t.lines[1].released_total_bytes, 40 * 1024);
        assert_eq!(t.lines[1].line, 2);
        assert_eq!(t.lines[2].form, ScavForm::BgEager);
        assert_eq!(t.lines[2].released_eager_bytes, 2048);
        assert_eq!(t.lines[2].util_percent, 90);
        assert!(t.lines[2].controller_reset);
        assert_eq!(t.malformed.len(), 1);
        assert_eq!(t.malformed[0].line, 5);
    }
}
