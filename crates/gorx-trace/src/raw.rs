//! The text form of traces used by Go's reader tests (`internal/trace/raw`'s
//! TextReader and Writer): turns a `Trace Go1.N` listing into trace bytes.
//!
//! ```text
//! Trace Go1.22
//! EventBatch gen=1 m=0 time=0 size=21
//! ProcStatus dt=0 p=0 pstatus=1
//! ```

use crate::goutil::{append_uvarint, unquote};
use crate::spec::{EventType, Version};

/// One raw event: type, arguments (stack frames appended for Stack), trailer data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    pub ev: EventType,
    pub args: Vec<u64>,
    pub data: Option<Vec<u8>>,
}

/// A text-format problem, with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for TextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for TextError {}

/// Go's `readToken`: the first whitespace-delimited token, `#` starting a comment.
fn read_token(s: &str) -> (&str, &str) {
    let Some((start, c)) = s.char_indices().find(|(_, c)| !c.is_whitespace()) else {
        return ("", "");
    };
    if c == '#' {
        return ("", "");
    }
    let rest = &s[start..];
    match rest
        .char_indices()
        .find(|(_, c)| c.is_whitespace() || *c == '#')
    {
        Some((end, _)) => (&rest[..end], &rest[end..]),
        None => (rest, ""),
    }
}

fn read_args(mut s: &str, names: &[&str]) -> Result<Vec<u64>, String> {
    let mut args = Vec::with_capacity(names.len());
    for name in names {
        let (tok, rest) = read_token(s);
        if tok.is_empty() {
            return Err("no argument".into());
        }
        let Some((arg, val)) = tok.split_once('=') else {
            return Err(format!("malformed argument: {tok:?}"));
        };
        let v: u64 = val
            .parse()
            .map_err(|_| format!("failed to parse argument value {val:?} for arg {arg:?}"))?;
        if arg != *name {
            return Err(format!("expected argument {name:?}, but got {arg:?}"));
        }
        args.push(v);
        s = rest;
    }
    if !s.trim().is_empty() {
        return Err(format!(
            "encountered unexpected non-space at the end of an event: {s:?}"
        ));
    }
    Ok(args)
}

/// Parse a text trace into its version and events.
pub fn parse_text(text: &str) -> Result<(Version, Vec<RawEvent>), TextError> {
    // Meaningful lines only (Go skips blank and comment lines).
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !read_token(l).0.is_empty());
    let err = |line: usize, m: String| TextError { line, message: m };
    let (hl, header) = lines
        .next()
        .ok_or_else(|| err(0, "empty trace text".into()))?;
    let (t, rest) = read_token(header);
    if t != "Trace" {
        return Err(err(hl, "failed to parse header".into()));
    }
    let (gover, rest) = read_token(rest);
    let v: u32 = gover
        .strip_prefix("Go1.")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| err(hl, "failed to parse header Go version".into()))?;
    let ver = Version(v);
    if !ver.is_v2() {
        return Err(err(hl, format!("unknown or unsupported Go version 1.{v}")));
    }
    if !rest.trim().is_empty() {
        return Err(err(hl, "unexpected text after the header".into()));
    }
    let specs = ver.specs();
    let mut events = Vec::new();
    while let Some((ln, line)) = lines.next() {
        let (name, rest) = read_token(line);
        let Some(ev) = specs
            .iter()
            .position(|s| !s.name.is_empty() && s.name == name)
        else {
            return Err(err(ln, format!("unidentified event: {name}")));
        };
        let spec = &specs[ev];
        let mut args = read_args(rest, spec.args)
            .map_err(|m| err(ln, format!("reading args for {name}: {m}")))?;
        if spec.is_stack {
            for _ in 0..args[1] {
                let (fl, frame) = lines
                    .next()
                    .ok_or_else(|| err(ln, "unexpected EOF while reading stack".into()))?;
                args.extend(
                    read_args(frame, &["pc", "func", "file", "line"]).map_err(|m| err(fl, m))?,
                );
            }
        }
        let mut data = None;
        if spec.has_data {
            let (dl, dline) = lines
                .next()
                .ok_or_else(|| err(ln, format!("unexpected EOF while reading data for {name}")))?;
            let (k, v) = dline
                .split_once('=')
                .filter(|(k, _)| k.trim() == "data")
                .ok_or_else(|| err(dl, format!("malformed data: {dline:?}")))?;
            let _ = k;
            data = Some(
                unquote(v.trim())
                    .ok_or_else(|| err(dl, format!("failed to parse data: {dline:?}")))?,
            );
        }
        events.push(RawEvent {
            ev: ev as EventType,
            args,
            data,
        });
    }
    Ok((ver, events))
}

/// Encode events in the wire format (Go's `raw.Writer`), header included.
pub fn encode(ver: Version, events: &[RawEvent]) -> Vec<u8> {
    let mut out = format!("go 1.{} trace\x00\x00\x00", ver.0).into_bytes();
    let specs = ver.specs();
    for e in events {
        out.push(e.ev);
        let spec = &specs[e.ev as usize];
        let n = spec.args.len().min(e.args.len());
        for a in &e.args[..n] {
            append_uvarint(&mut out, *a);
        }
        if spec.is_stack {
            for a in &e.args[n..] {
                append_uvarint(&mut out, *a);
            }
        }
        if spec.has_data {
            let d = e.data.as_deref().unwrap_or(&[]);
            append_uvarint(&mut out, d.len() as u64);
            out.extend_from_slice(d);
        }
    }
    out
}

/// Text trace to wire bytes.
pub fn text_to_bytes(text: &str) -> Result<Vec<u8>, TextError> {
    let (v, evs) = parse_text(text)?;
    Ok(encode(v, &evs))
}

/// A file of Go's txtar archive format (`-- name --` sections).
pub fn parse_txtar(text: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        let t = line.trim_end_matches('\n').trim_end_matches('\r');
        if let Some(name) = t.strip_prefix("-- ").and_then(|r| r.strip_suffix(" --")) {
            files.push((name.trim().to_string(), String::new()));
        } else if let Some((_, body)) = files.last_mut() {
            body.push_str(line);
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_small() {
        let t = "Trace Go1.22\nEventBatch gen=1 m=0 time=0 size=3\n# comment line\nProcStatus dt=0 p=0 pstatus=1\n\nStrings\nString id=1\n\tdata=\"a\\x00\"\n";
        let (v, evs) = parse_text(t).unwrap();
        assert_eq!(v, Version::GO122);
        assert_eq!(evs.len(), 4);
        assert_eq!(evs[3].data.as_deref(), Some(&b"a\x00"[..]));
        let b = encode(v, &evs);
        assert!(b.starts_with(b"go 1.22 trace\x00\x00\x00\x01\x01\x00\x00\x03\x0d"));
        assert!(parse_text("Trace Go1.22\nNope x=1\n").is_err());
        assert!(parse_text("Trace Go1.22\nProcStatus dt=0 p=0\n").is_err());
    }
}
