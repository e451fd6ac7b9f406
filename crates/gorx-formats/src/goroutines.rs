//! Goroutine dumps: `/debug/pprof/goroutine?debug=2`, `runtime.Stack(buf, true)`, and the
//! tracebacks the runtime prints on a crash (unrecovered panic, `fatal error: ...`,
//! `all goroutines are asleep - deadlock!`, SIGQUIT with registers), for Go 1.x–1.27.
//!
//! Format (runtime/traceback.go `goroutineheader`, `traceback2`, `printcreatedby1`):
//!
//! ```text
//! (file lines start with a tab, shown here as spaces)
//! goroutine 18 gp=0xc0000a21c0 m=nil [chan receive, 3 minutes, locked to thread] {handler: /api}:
//! main.worker(0xc000012345?, {0x1, 0x2}, ...)
//!     /src/main.go:7 +0x45 fp=0xc00003c7d0 sp=0xc00003c7a0 pc=0x448d66
//! ...3 frames elided...
//! created by main.main in goroutine 1
//!     /src/main.go:15 +0x47
//! ```
//!
//! Zero-copy: every string borrows from the input, which is validated as UTF-8 once
//! (invalid UTF-8 is an error with its byte offset). Lines are split with memchr. Text
//! that is not part of a dump (program output around a crash) is skipped; a goroutine
//! header that starts like one but does not parse is an error with its line.

use crate::error::{FormatError, Result};
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    /// As printed: `main.(*T).M`, `main.main.func1`, `pkg.F[...]`, `panic`.
    pub function: &'a str,
    /// Raw text between the parentheses: `0x1, {0x2, 0x3}, 0x0?`, `...` for inlined frames.
    pub args: &'a str,
    pub file: &'a str,
    pub line: u32,
    /// `+0x45`: offset of the PC from the function entry (absent for inlined frames).
    pub pc_offset: Option<u64>,
}

impl Frame<'_> {
    /// The frame was inlined into its caller (the runtime prints `(...)` for those).
    pub fn inlined(&self) -> bool {
        self.args == "..."
    }
    /// The package path of the function (`net/http` for `net/http.(*conn).serve`).
    pub fn package(&self) -> &str {
        package_of(self.function)
    }
}

/// The package path part of a printed function name.
pub fn package_of(function: &str) -> &str {
    let slash = function.rfind('/').map_or(0, |i| i + 1);
    match function[slash..].find('.') {
        Some(dot) => &function[..slash + dot],
        None => function,
    }
}

/// One argument word as printed by the runtime's `printArgs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// A word; `maybe_stale` for `0x1?` (the slot may not be live, the value may be stale).
    Word {
        value: u64,
        maybe_stale: bool,
    },
    /// `{` ... `}` around the words of an aggregate (struct, slice, string, interface).
    AggregateStart,
    AggregateEnd,
    /// `...`: more arguments than the traceback prints.
    More,
    /// `_`: an argument at an offset too large to print.
    OffsetTooLarge,
}

/// Splits a frame's raw `args` into [`Arg`]s; `None` if it is not in the runtime's form.
pub fn parse_args(args: &str) -> Option<Vec<Arg>> {
    let mut out = Vec::new();
    let b = args.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' | b',' => i += 1,
            b'{' => {
                out.push(Arg::AggregateStart);
                i += 1;
            }
            b'}' => {
                out.push(Arg::AggregateEnd);
                i += 1;
            }
            b'_' => {
                out.push(Arg::OffsetTooLarge);
                i += 1;
            }
            b'.' if b[i..].starts_with(b"...") => {
                out.push(Arg::More);
                i += 3;
            }
            b'0' if b.get(i + 1) == Some(&b'x') => {
                let start = i + 2;
                let mut j = start;
                while j < b.len() && b[j].is_ascii_hexdigit() {
                    j += 1;
                }
                let value = u64::from_str_radix(args.get(start..j)?, 16).ok()?;
                let maybe_stale = b.get(j) == Some(&b'?');
                out.push(Arg::Word { value, maybe_stale });
                i = j + usize::from(maybe_stale);
            }
            _ => return None,
        }
    }
    Some(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedBy<'a> {
    pub function: &'a str,
    /// `in goroutine N` (Go 1.21+).
    pub parent_goid: Option<u64>,
    pub file: &'a str,
    pub line: u32,
    pub pc_offset: Option<u64>,
}

/// Frames left out of a deep stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elided {
    /// Index in `frames` where the gap is.
    pub at_frame: usize,
    /// `...N frames elided...` (Go 1.21+); `None` for `...additional frames elided...`.
    pub count: Option<u64>,
}

/// A `[originating from goroutine N]:` ancestor (GODEBUG=tracebackancestors=N).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ancestor<'a> {
    pub goid: u64,
    pub frames: Vec<Frame<'a>>,
}

/// Goroutine labels as (key, value) pairs, in printed (sorted) order.
pub type Labels<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goroutine<'a> {
    pub id: u64,
    /// 1-based line of the header.
    pub line: u64,
    /// Status or wait reason: `running`, `runnable`, `chan receive`, `select`, `IO wait`,
    /// `sync.Mutex.Lock`, `syscall`, ... (without the ` (scan)`/` (leaked)` markers).
    pub state: &'a str,
    /// Approximate time blocked; printed only from 1 minute on, so 0 means "< 1 minute".
    pub wait_minutes: u64,
    pub locked_to_thread: bool,
    /// ` (scan)`: the GC was scanning its stack.
    pub scan: bool,
    /// ` (leaked)`: Go 1.26+ goroutine leak detection found it unreachable.
    pub leaked: bool,
    /// ` (durable)`: blocked inside a synctest bubble.
    pub durable: bool,
    pub synctest_bubble: Option<u64>,
    /// `gp=0x... m=N mp=0x...` (GOTRACEBACK=system or the crashing goroutine).
    pub gp: Option<u64>,
    pub m: Option<u64>,
    pub mp: Option<u64>,
    /// Goroutine labels (Go 1.27 prints them in headers), unquoted.
    pub labels: Labels<'a>,
    pub frames: Vec<Frame<'a>>,
    pub elided: Option<Elided>,
    pub created_by: Option<CreatedBy<'a>>,
    /// `goroutine running on other thread; stack unavailable`.
    pub stack_unavailable: bool,
    pub ancestors: Vec<Ancestor<'a>>,
}

impl Goroutine<'_> {
    /// Waiting on something (not running, runnable, or in a syscall).
    pub fn is_waiting(&self) -> bool {
        !matches!(
            self.state,
            "running" | "runnable" | "syscall" | "idle" | "dead" | "copystack" | "preempted"
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashKind {
    /// `panic: ...` (unrecovered).
    Panic,
    /// `fatal error: ...` (runtime throw, including the deadlock detector).
    Fatal,
    /// `SIGQUIT: quit`, `SIGSEGV: segmentation violation`, ... (signal-triggered dump).
    Signal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crash<'a> {
    pub kind: CrashKind,
    /// The rest of the first header line (`assignment to entry in nil map`).
    pub message: &'a str,
    pub line: u64,
    /// `[signal SIGSEGV: segmentation violation code=... addr=0x0 pc=0x...]`, if printed.
    pub signal: Option<&'a str>,
}

impl Crash<'_> {
    pub fn is_deadlock(&self) -> bool {
        self.kind == CrashKind::Fatal && self.message.contains("all goroutines are asleep")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dump<'a> {
    pub goroutines: Vec<Goroutine<'a>>,
    pub crash: Option<Crash<'a>>,
    /// Frames under `runtime stack:` (system stack of a fatal error).
    pub runtime_stack: Vec<Frame<'a>>,
    /// The input ended in the middle of a line (a cut-off dump).
    pub truncated: bool,
}

/// Where frames and `created by` lines currently go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    None,
    Goroutine,
    Ancestor,
    RuntimeStack,
}

/// Parses a goroutine dump. `input` names it in errors.
pub fn parse<'a>(input: &str, data: &'a [u8]) -> Result<Dump<'a>> {
    if data.is_empty() {
        return Err(FormatError::whole(
            input,
            "empty input: not a goroutine dump",
        ));
    }
    let text = std::str::from_utf8(data).map_err(|e| {
        FormatError::at_offset(
            input,
            e.valid_up_to() as u64,
            "invalid UTF-8 in goroutine dump",
        )
    })?;
    let mut dump = Dump::default();
    let mut block = Block::None;
    // A function line waiting for its `\tfile:line` line.
    let mut pending: Option<(&'a str, &'a str)> = None;
    // A `created by` line waiting for its location.
    let mut pending_created: Option<(&'a str, Option<u64>)> = None;
    let bytes = text.as_bytes();
    let mut start = 0usize;
    let mut line_no = 0u64;
    let mut saw_debug1 = false;
    while start < bytes.len() {
        let (end, next) = match memchr::memchr(b'\n', &bytes[start..]) {
            Some(i) => (start + i, start + i + 1),
            None => {
                dump.truncated = block != Block::None;
                (bytes.len(), bytes.len())
            }
        };
        line_no += 1;
        let is_last_partial = next == bytes.len() && end == bytes.len();
        let mut line = &text[start..end];
        start = next;
        if let Some(l) = line.strip_suffix('\r') {
            line = l;
        }

        if let Some(loc) = line.strip_prefix('\t') {
            if let Some((function, args)) = pending.take() {
                let (file, l, pc) = parse_location(loc);
                push_frame(
                    &mut dump,
                    block,
                    Frame {
                        function,
                        args,
                        file,
                        line: l,
                        pc_offset: pc,
                    },
                );
            } else if let Some((function, parent_goid)) = pending_created.take() {
                let (file, l, pc) = parse_location(loc);
                let cb = CreatedBy {
                    function,
                    parent_goid,
                    file,
                    line: l,
                    pc_offset: pc,
                };
                if block == Block::Goroutine
                    && let Some(g) = dump.goroutines.last_mut()
                {
                    g.created_by = Some(cb);
                }
            } else if loc.starts_with("goroutine running on other thread")
                && block == Block::Goroutine
                && let Some(g) = dump.goroutines.last_mut()
            {
                g.stack_unavailable = true;
            }
            continue;
        }
        // Any non-tab line completes a pending frame without a location.
        if let Some((function, args)) = pending.take() {
            push_frame(
                &mut dump,
                block,
                Frame {
                    function,
                    args,
                    file: "",
                    line: 0,
                    pc_offset: None,
                },
            );
        }
        pending_created = None;

        if line.is_empty() {
            block = Block::None;
            continue;
        }
        if let Some(rest) = line.strip_prefix("goroutine ")
            && rest.as_bytes().first().is_some_and(u8::is_ascii_digit)
            && memchr::memmem::find(rest.as_bytes(), b" [").is_some()
        {
            match parse_header(rest) {
                Ok(mut g) => {
                    g.line = line_no;
                    dump.goroutines.push(g);
                    block = Block::Goroutine;
                }
                Err(_) if is_last_partial => {
                    dump.truncated = true;
                }
                Err(msg) => {
                    return Err(FormatError::at_line(
                        input,
                        line_no,
                        format!("malformed goroutine header: {msg}"),
                    ));
                }
            }
            continue;
        }
        if line.starts_with("goroutine profile: total ") {
            saw_debug1 = true;
            continue;
        }
        if line == "runtime stack:" {
            block = Block::RuntimeStack;
            continue;
        }
        if block == Block::None {
            note_crash_line(&mut dump, line, line_no);
            continue;
        }
        // Inside a goroutine (or the runtime stack / an ancestor).
        if let Some(rest) = line.strip_prefix("created by ") {
            // `created by F in goroutine N`: the id is the last token (a byte search from
            // the end; `split_once` with a string pattern builds a searcher per line).
            let (function, parent) = match memchr::memrchr(b' ', rest.trim_end().as_bytes())
                .map(|sp| rest.split_at(sp))
                .and_then(|(head, id)| Some((head.strip_suffix(" in goroutine")?, id)))
            {
                Some((f, id)) => (f, id.trim().parse().ok()),
                None => (rest, None),
            };
            pending_created = Some((function, parent));
            continue;
        }
        if let Some(rest) = line.strip_prefix("...")
            && let Some(rest) = rest.strip_suffix("elided...")
        {
            let count = rest
                .strip_suffix(" frames ")
                .and_then(|n| n.parse::<u64>().ok());
            if block == Block::Goroutine
                && let Some(g) = dump.goroutines.last_mut()
            {
                g.elided = Some(Elided {
                    at_frame: g.frames.len(),
                    count,
                });
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("[originating from goroutine ") {
            if let Some(id) = rest.strip_suffix("]:").and_then(|s| s.parse().ok())
                && let Some(g) = dump.goroutines.last_mut()
            {
                g.ancestors.push(Ancestor {
                    goid: id,
                    frames: Vec::new(),
                });
                block = Block::Ancestor;
            }
            continue;
        }
        if line.starts_with("non-Go function at pc=") {
            push_frame(
                &mut dump,
                block,
                Frame {
                    function: line,
                    args: "",
                    file: "",
                    line: 0,
                    pc_offset: None,
                },
            );
            continue;
        }
        // Arguments hold no parentheses, so the last '(' opens them (method receivers like
        // `(*T)` come before it). memrchr: std's rfind is not vectorised.
        if line.ends_with(')')
            && let Some(open) = memchr::memrchr(b'(', line.as_bytes())
            && open > 0
        {
            pending = Some((&line[..open], &line[open + 1..line.len() - 1]));
            continue;
        }
        if is_last_partial {
            // A frame line cut off mid-way.
            dump.truncated = true;
            continue;
        }
        // Something else: the dump block ended (interleaved output, registers, ...).
        block = Block::None;
        note_crash_line(&mut dump, line, line_no);
    }
    if let Some((function, args)) = pending.take() {
        push_frame(
            &mut dump,
            block,
            Frame {
                function,
                args,
                file: "",
                line: 0,
                pc_offset: None,
            },
        );
        dump.truncated = true;
    }
    if dump.goroutines.is_empty() {
        let msg = if saw_debug1 {
            "this is a ?debug=1 goroutine profile (counts per stack), not a debug=2 dump"
        } else {
            "no goroutine headers (`goroutine N [state]:`) found: not a goroutine dump"
        };
        return Err(FormatError::whole(input, msg));
    }
    Ok(dump)
}

fn push_frame<'a>(dump: &mut Dump<'a>, block: Block, f: Frame<'a>) {
    match block {
        Block::Goroutine => {
            if let Some(g) = dump.goroutines.last_mut() {
                g.frames.push(f);
            }
        }
        Block::Ancestor => {
            if let Some(a) = dump
                .goroutines
                .last_mut()
                .and_then(|g| g.ancestors.last_mut())
            {
                a.frames.push(f);
            }
        }
        Block::RuntimeStack => dump.runtime_stack.push(f),
        Block::None => {}
    }
}

fn note_crash_line<'a>(dump: &mut Dump<'a>, line: &'a str, line_no: u64) {
    if let Some(sig) = line
        .strip_prefix("[signal ")
        .and_then(|s| s.strip_suffix(']'))
    {
        if let Some(c) = dump.crash.as_mut()
            && c.signal.is_none()
        {
            c.signal = Some(sig);
        }
        return;
    }
    if dump.crash.is_some() {
        return;
    }
    let (kind, message) = if let Some(m) = line.strip_prefix("panic: ") {
        (CrashKind::Panic, m)
    } else if let Some(m) = line.strip_prefix("fatal error: ") {
        (CrashKind::Fatal, m)
    } else if line.starts_with("SIG")
        && let Some((name, m)) = line.split_once(": ")
        && name.len() > 3
        && name[3..].bytes().all(|b| b.is_ascii_uppercase())
    {
        let _ = name;
        (CrashKind::Signal, m)
    } else {
        return;
    };
    dump.crash = Some(Crash {
        kind,
        message,
        line: line_no,
        signal: None,
    });
}

/// `\t` already stripped: `/path/x.go:12 +0x1a fp=0x.. sp=0x.. pc=0x..` (path may hold spaces).
fn parse_location(loc: &str) -> (&str, u32, Option<u64>) {
    let mut rest = loc;
    let mut pc_offset = None;
    while let Some(sp) = memchr::memrchr(b' ', rest.as_bytes()) {
        let (head, tok) = (&rest[..sp], &rest[sp + 1..]);
        if let Some(hex) = tok.strip_prefix("+0x") {
            pc_offset = u64::from_str_radix(hex, 16).ok();
        } else if !(tok.starts_with("fp=") || tok.starts_with("sp=") || tok.starts_with("pc=")) {
            break;
        }
        rest = head;
    }
    match memchr::memrchr(b':', rest.as_bytes()).map(|c| (&rest[..c], &rest[c + 1..])) {
        Some((file, l)) if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) => {
            (file, l.parse().unwrap_or(u32::MAX), pc_offset)
        }
        _ => (rest, 0, pc_offset),
    }
}

fn hex_value(s: &str) -> std::result::Result<u64, String> {
    let h = s
        .strip_prefix("0x")
        .ok_or_else(|| format!("expected 0x in {s:?}"))?;
    u64::from_str_radix(h, 16).map_err(|_| format!("bad hex value {s:?}"))
}

/// Parses the header after `goroutine `: `18 gp=.. m=.. mp=.. [state, N minutes, locked to thread] {labels}:`.
fn parse_header(rest: &str) -> std::result::Result<Goroutine<'_>, String> {
    let id_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .ok_or("missing state")?;
    let id: u64 = rest[..id_end].parse().map_err(|_| "bad goroutine id")?;
    let after_id = &rest[id_end..];
    let open = after_id.find(" [").ok_or("missing ` [`")?;
    let mut g = Goroutine {
        id,
        line: 0,
        state: "",
        wait_minutes: 0,
        locked_to_thread: false,
        scan: false,
        leaked: false,
        durable: false,
        synctest_bubble: None,
        gp: None,
        m: None,
        mp: None,
        labels: Vec::new(),
        // Typical stacks are 2–20 frames; one allocation instead of four regrowths.
        frames: Vec::with_capacity(16),
        elided: None,
        created_by: None,
        stack_unavailable: false,
        ancestors: Vec::new(),
    };
    for tok in after_id[..open].split_ascii_whitespace() {
        match tok.split_once('=') {
            Some(("gp", v)) => g.gp = Some(hex_value(v)?),
            Some(("mp", v)) => g.mp = Some(hex_value(v)?),
            Some(("m", "nil")) => {}
            Some(("m", v)) => g.m = Some(v.parse().map_err(|_| format!("bad m={v}"))?),
            _ => return Err(format!("unexpected {tok:?} before the state")),
        }
    }
    let inner_and_rest = &after_id[open + 2..];
    let close = inner_and_rest.find(']').ok_or("missing `]`")?;
    let inner = &inner_and_rest[..close];
    let mut parts = inner.split(", ");
    let mut state = parts.next().unwrap_or("");
    for p in parts {
        if let Some(n) = p.strip_suffix(" minutes") {
            g.wait_minutes = n.parse().map_err(|_| format!("bad wait time {p:?}"))?;
        } else if p == "locked to thread" {
            g.locked_to_thread = true;
        } else if let Some(b) = p.strip_prefix("synctest bubble ") {
            g.synctest_bubble = b.parse().ok();
        } else {
            return Err(format!("unexpected {p:?} in the state"));
        }
    }
    loop {
        if let Some(s) = state.strip_suffix(" (scan)") {
            g.scan = true;
            state = s;
        } else if let Some(s) = state.strip_suffix(" (leaked)") {
            g.leaked = true;
            state = s;
        } else {
            break;
        }
    }
    g.durable = state.ends_with("(durable)");
    if state.is_empty() {
        return Err("empty state".into());
    }
    g.state = state;
    let tail = &inner_and_rest[close + 1..];
    if tail == ":" {
        return Ok(g);
    }
    let labels = tail
        .strip_prefix(" {")
        .and_then(|t| t.strip_suffix("}:"))
        .ok_or_else(|| format!("unexpected {tail:?} after the state"))?;
    g.labels = parse_labels(labels)?;
    Ok(g)
}

/// `k: v, "quoted key": "v\n"` as printed by the runtime (quoted with Go escapes when a
/// key or value has characters outside `[A-Za-z0-9./_]`).
fn parse_labels(s: &str) -> std::result::Result<Labels<'_>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (k, r) = label_token(rest, ':')?;
        rest = r
            .strip_prefix(": ")
            .ok_or("expected `: ` after a label key")?;
        let (v, r) = label_token(rest, ',')?;
        out.push((k, v));
        rest = match r.strip_prefix(", ") {
            Some(r) => r,
            None if r.is_empty() => r,
            None => return Err(format!("unexpected {r:?} in labels")),
        };
    }
    Ok(out)
}

fn label_token(s: &str, stop: char) -> std::result::Result<(Cow<'_, str>, &str), String> {
    if let Some(q) = s.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = q.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Ok((Cow::Owned(out), &q[i + 1..])),
                '\\' => {
                    let (_, e) = chars.next().ok_or("unterminated escape")?;
                    let hex = |chars: &mut std::str::CharIndices, n: usize| {
                        let mut v = 0u32;
                        for _ in 0..n {
                            let (_, h) = chars.next().ok_or("short escape")?;
                            v = v * 16 + h.to_digit(16).ok_or("bad hex escape")?;
                        }
                        Ok::<u32, &str>(v)
                    };
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'a' => out.push('\x07'),
                        'b' => out.push('\x08'),
                        'f' => out.push('\x0c'),
                        'v' => out.push('\x0b'),
                        '\\' | '"' | '\'' => out.push(e),
                        'x' => out.push(char::from(hex(&mut chars, 2)? as u8)),
                        'u' => out.push(char::from_u32(hex(&mut chars, 4)?).unwrap_or('\u{fffd}')),
                        'U' => out.push(char::from_u32(hex(&mut chars, 8)?).unwrap_or('\u{fffd}')),
                        _ => return Err(format!("unknown escape \\{e}")),
                    }
                }
                _ => out.push(c),
            }
        }
        Err("unterminated quoted label".into())
    } else {
        let end = s.find(stop).unwrap_or(s.len());
        Ok((Cow::Borrowed(&s[..end]), &s[end..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_forms() {
        let g =
            parse_header("18 gp=0xc0000a21c0 m=nil [chan receive, 3 minutes, locked to thread]:")
                .unwrap();
        assert_eq!(
            (g.id, g.state, g.wait_minutes, g.locked_to_thread),
            (18, "chan receive", 3, true)
        );
        assert_eq!((g.gp, g.m, g.mp), (Some(0xc0000a21c0), None, None));
        let g = parse_header("1 gp=0xc000002380 m=0 mp=0x52a780 [running (scan)]:").unwrap();
        assert_eq!(
            (g.m, g.mp, g.scan, g.state),
            (Some(0), Some(0x52a780), true, "running")
        );
        let g = parse_header(r#"7 [select] {fizzle: "b\x1bit", "foo\"ba\x00r": "baz\n", a: b}:"#)
            .unwrap();
        assert_eq!(g.labels.len(), 3);
        assert_eq!(g.labels[0].1, "b\x1bit");
        assert_eq!(g.labels[1].0, "foo\"ba\x00r");
        assert_eq!(g.labels[2], (Cow::Borrowed("a"), Cow::Borrowed("b")));
        let g = parse_header(r#"9 [chan receive] {x: "\u1234\u03a3"}:"#).unwrap();
        assert_eq!(g.labels[0].1, "\u{1234}Σ");
        assert!(parse_header("3 [chan receive, soon]:").is_err());
        assert!(parse_header("3 [chan receive").is_err());
    }

    #[test]
    fn locations_and_args() {
        assert_eq!(
            parse_location("/a b/x.go:12 +0x1a fp=0x1 sp=0x2 pc=0x3"),
            ("/a b/x.go", 12, Some(0x1a))
        );
        assert_eq!(parse_location("C:/go/x.go:7"), ("C:/go/x.go", 7, None));
        assert_eq!(
            parse_args("0x1?, {0xc000094f20, 0x2}, _, ...").unwrap(),
            vec![
                Arg::Word {
                    value: 1,
                    maybe_stale: true
                },
                Arg::AggregateStart,
                Arg::Word {
                    value: 0xc000094f20,
                    maybe_stale: false
                },
                Arg::Word {
                    value: 2,
                    maybe_stale: false
                },
                Arg::AggregateEnd,
                Arg::OffsetTooLarge,
                Arg::More,
            ]
        );
        assert_eq!(package_of("net/http.(*conn).serve"), "net/http");
        assert_eq!(package_of("main.main.func1"), "main");
    }

    #[test]
    fn whole_dump_with_crash_and_elision() {
        let d = "panic: boom\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x1]\n\n\
goroutine 1 [running]:\nmain.f(...)\n\t/x/main.go:3\nmain.main()\n\t/x/main.go:9 +0x1d\n\n\
goroutine 5 [chan send, 12 minutes]:\nmain.g(0x0?)\n\t/x/main.go:5 +0x2\n...7 frames elided...\nmain.h()\n\t/x/main.go:6 +0x3\n\
created by main.main in goroutine 1\n\t/x/main.go:8 +0x4\nexit status 2\n";
        let dump = parse("t", d.as_bytes()).unwrap();
        let c = dump.crash.as_ref().unwrap();
        assert_eq!((c.kind, c.message), (CrashKind::Panic, "boom"));
        assert!(c.signal.unwrap().starts_with("SIGSEGV"));
        assert_eq!(dump.goroutines.len(), 2);
        let g = &dump.goroutines[1];
        assert_eq!(g.frames.len(), 2);
        assert!(dump.goroutines[0].frames[0].inlined());
        assert_eq!(
            g.elided,
            Some(Elided {
                at_frame: 1,
                count: Some(7)
            })
        );
        let cb = g.created_by.as_ref().unwrap();
        assert_eq!(
            (cb.function, cb.parent_goid, cb.line),
            ("main.main", Some(1), 8)
        );
        assert_eq!(g.line, 10);
        assert!(!dump.truncated);
    }

    #[test]
    fn bad_inputs() {
        assert!(parse("e", b"").is_err());
        let e = parse("u", b"goroutine 1 [running]:\nmain.main()\n\t/x.go:1\xff\n").unwrap_err();
        assert_eq!(e.location, crate::Location::Offset(43));
        assert!(parse("n", b"hello\n").is_err());
        let e = parse("h", b"goroutine 1 [running, what]:\n").unwrap_err();
        assert_eq!(e.location, crate::Location::Line(1));
        let t = parse(
            "t",
            b"goroutine 1 [running]:\nmain.main()\n\t/x.go:1\n\ngoroutine 2 [chan rec",
        )
        .unwrap();
        assert!(t.truncated);
        assert_eq!(t.goroutines.len(), 1);
    }
}
