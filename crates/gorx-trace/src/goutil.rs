//! Small pieces of Go's standard library whose exact behaviour the output depends on:
//! `encoding/binary` varints, `strconv.Quote`/`Unquote`, float-to-int conversion on amd64,
//! and `time.Time.Format(time.RFC3339Nano)` in UTC.

/// Go's `binary.Uvarint`: `(value, n)`; `n == 0` means the buffer ended, `n < 0` overflow.
pub fn uvarint(buf: &[u8]) -> (u64, isize) {
    let mut x: u64 = 0;
    let mut s: u32 = 0;
    for (i, &b) in buf.iter().enumerate() {
        if i == 10 {
            return (0, -(i as isize + 1));
        }
        if b < 0x80 {
            if i == 9 && b > 1 {
                return (0, -(i as isize + 1));
            }
            return (x | (b as u64) << s, i as isize + 1);
        }
        x |= ((b & 0x7f) as u64) << s;
        s += 7;
    }
    (0, 0)
}

/// Why Go's `binary.ReadUvarint` failed, with Go's message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarintError {
    /// No byte at all (`io.EOF`).
    Eof,
    /// Ended part-way (`io.ErrUnexpectedEOF`).
    UnexpectedEof,
    /// More than 64 bits.
    Overflow,
}

impl VarintError {
    pub fn go_message(self) -> &'static str {
        match self {
            VarintError::Eof => "EOF",
            VarintError::UnexpectedEof => "unexpected EOF",
            VarintError::Overflow => "binary: varint overflows a 64-bit integer",
        }
    }
}

/// Go's `binary.ReadUvarint` over a byte slice cursor.
pub fn read_uvarint(buf: &[u8], pos: &mut usize) -> Result<u64, VarintError> {
    let mut x: u64 = 0;
    let mut s: u32 = 0;
    for i in 0..10 {
        let Some(&b) = buf.get(*pos) else {
            return Err(if i > 0 {
                VarintError::UnexpectedEof
            } else {
                VarintError::Eof
            });
        };
        *pos += 1;
        if b < 0x80 {
            if i == 9 && b > 1 {
                return Err(VarintError::Overflow);
            }
            return Ok(x | (b as u64) << s);
        }
        x |= ((b & 0x7f) as u64) << s;
        s += 7;
    }
    Err(VarintError::Overflow)
}

/// `binary.AppendUvarint`.
pub fn append_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Go's `int64(f)` on amd64: truncation, and the "integer indefinite" value
/// (`math.MinInt64`) for NaN and out-of-range inputs (CVTTSD2SQ).
pub fn f64_to_i64(f: f64) -> i64 {
    // 2^63 is exactly representable; anything at or above it (or below -2^63) is out of range.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() || !(-TWO_63..TWO_63).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

/// Go's `unicode.IsPrint`, exact for ASCII and Latin-1, close elsewhere: it treats
/// controls, non-ASCII spaces, format characters, surrogates, private use and
/// noncharacters as unprintable.
pub fn is_print(r: char) -> bool {
    let c = r as u32;
    if c < 0x80 {
        return (0x20..0x7f).contains(&c);
    }
    if c < 0x100 {
        return c >= 0xa1 && c != 0xad;
    }
    if r.is_whitespace() || r.is_control() {
        return false;
    }
    let format = matches!(c,
        0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x890..=0x891 | 0x8e2 | 0x180e
        | 0x200b..=0x200f | 0x2028..=0x202e | 0x2060..=0x2064 | 0x2066..=0x206f
        | 0xfeff | 0xfff9..=0xfffb | 0x110bd | 0x110cd | 0x13430..=0x1343f
        | 0x1bca0..=0x1bca3 | 0x1d173..=0x1d17a | 0xe0001 | 0xe0020..=0xe007f);
    let private = matches!(c, 0xe000..=0xf8ff | 0xf0000..=0xffffd | 0x100000..=0x10fffd);
    let nonchar = (c & 0xfffe) == 0xfffe || (0xfdd0..=0xfdef).contains(&c);
    !(format || private || nonchar)
}

/// Go's `strconv.Quote` applied to arbitrary bytes (invalid UTF-8 becomes `\xNN`).
pub fn quote(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    quote_into(&mut out, s);
    out
}

/// [`quote`] appending to `out`.
pub fn quote_into(out: &mut String, mut s: &[u8]) {
    use std::fmt::Write;
    out.push('"');
    while !s.is_empty() {
        let (r, width) = decode_rune(s);
        let Some(r) = r else {
            let _ = write!(out, "\\x{:02x}", s[0]);
            s = &s[1..];
            continue;
        };
        s = &s[width..];
        if r == '"' || r == '\\' {
            out.push('\\');
            out.push(r);
            continue;
        }
        if is_print(r) {
            out.push(r);
            continue;
        }
        match r {
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            _ => {
                let c = r as u32;
                if c < 0x20 || c == 0x7f {
                    let _ = write!(out, "\\x{c:02x}");
                } else if c < 0x10000 {
                    let _ = write!(out, "\\u{c:04x}");
                } else {
                    let _ = write!(out, "\\U{c:08x}");
                }
            }
        }
    }
    out.push('"');
}

/// Decode one UTF-8 scalar as Go does; `None` for an invalid byte (width 1).
fn decode_rune(s: &[u8]) -> (Option<char>, usize) {
    let n = match s[0] {
        0x00..=0x7f => return (Some(s[0] as char), 1),
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return (None, 1),
    };
    if s.len() < n {
        return (None, 1);
    }
    match std::str::from_utf8(&s[..n]) {
        Ok(st) => (st.chars().next(), n),
        Err(_) => (None, 1),
    }
}

/// Go's `strconv.Unquote` for double-quoted and back-quoted literals, returning bytes.
pub fn unquote(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() < 2 {
        return None;
    }
    let (q, last) = (b[0], b[b.len() - 1]);
    if q != last {
        return None;
    }
    let body = &b[1..b.len() - 1];
    if q == b'`' {
        if body.contains(&b'`') {
            return None;
        }
        return Some(body.iter().copied().filter(|&c| c != b'\r').collect());
    }
    if q != b'"' {
        return None;
    }
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        if c == b'"' || c == b'\n' {
            return None;
        }
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        let e = *body.get(i)?;
        i += 1;
        match e {
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'\\' => out.push(b'\\'),
            b'"' => out.push(b'"'),
            b'x' => {
                let h = std::str::from_utf8(body.get(i..i + 2)?).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 2;
            }
            b'u' | b'U' => {
                let n = if e == b'u' { 4 } else { 8 };
                let h = std::str::from_utf8(body.get(i..i + n)?).ok()?;
                let v = u32::from_str_radix(h, 16).ok()?;
                let ch = char::from_u32(v)?;
                let mut tmp = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                i += n;
            }
            b'0'..=b'7' => {
                let o = std::str::from_utf8(body.get(i - 1..i + 2)?).ok()?;
                let v = u32::from_str_radix(o, 8).ok()?;
                if v > 255 {
                    return None;
                }
                out.push(v as u8);
                i += 2;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// `time.Unix(sec, nsec).UTC().Format(time.RFC3339Nano)`.
pub fn rfc3339_nano_utc(sec: i64, nsec: i64) -> String {
    // time.Unix normalizes nsec into [0, 1e9).
    let mut sec = sec as i128;
    let mut nsec = nsec as i128;
    if !(0..1_000_000_000).contains(&nsec) {
        sec += nsec.div_euclid(1_000_000_000);
        nsec = nsec.rem_euclid(1_000_000_000);
    }
    let days = sec.div_euclid(86_400);
    let secs_of_day = sec.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (secs_of_day / 3600, secs_of_day / 60 % 60, secs_of_day % 60);
    let mut out = String::new();
    if y < 0 {
        out.push_str(&format!("-{:04}", -y));
    } else {
        out.push_str(&format!("{y:04}"));
    }
    out.push_str(&format!("-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}"));
    if nsec != 0 {
        let frac = format!("{nsec:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i128) -> (i128, i128, i128) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_go() {
        assert_eq!(uvarint(&[0x96, 0x01]), (150, 2));
        assert_eq!(uvarint(&[0x80]), (0, 0));
        let over = [0xff; 11];
        assert!(uvarint(&over).1 < 0);
        let mut p = 0;
        assert_eq!(
            read_uvarint(&[0x80], &mut p),
            Err(VarintError::UnexpectedEof)
        );
        let mut p = 0;
        assert_eq!(read_uvarint(&[], &mut p), Err(VarintError::Eof));
        // Padded varints (the runtime reserves space for sizes) decode too.
        let mut p = 0;
        assert_eq!(read_uvarint(&[0x85, 0x80, 0x80, 0x00], &mut p), Ok(5));
        assert_eq!(p, 4);
    }

    #[test]
    fn quote_matches_go() {
        assert_eq!(quote(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quote(b"\x01\n\xff"), r#""\x01\n\xff""#);
        assert_eq!(quote("é\u{200b}".as_bytes()), "\"é\\u200b\"");
        assert_eq!(
            unquote(r#""a\x00\n\u00e9\101""#).unwrap(),
            b"a\x00\n\xc3\xa9A"
        );
        assert_eq!(unquote("`raw\\`").unwrap(), b"raw\\");
    }

    #[test]
    fn time_format() {
        assert_eq!(rfc3339_nano_utc(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nano_utc(1_795_014_416, 486_103_491),
            "2026-11-18T15:06:56.486103491Z"
        );
        assert_eq!(rfc3339_nano_utc(0, 500_000_000), "1970-01-01T00:00:00.5Z");
        assert_eq!(f64_to_i64(f64::NAN), i64::MIN);
        assert_eq!(f64_to_i64(1e30), i64::MIN);
        assert_eq!(f64_to_i64(-2.7), -2);
    }
}

/// A fast hasher for small integer keys (the Fx hash of rustc): ids in traces are
/// not attacker-chosen hash-flooding inputs worth SipHash's cost on every event.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_i64(&mut self, x: i64) {
        self.write_u64(x as u64);
    }
    fn write_u8(&mut self, x: u8) {
        self.write_u64(x as u64);
    }
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }
}

/// A `HashMap` with [`FxHasher`].
pub type FxHashMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;
/// A `HashSet` with [`FxHasher`].
pub type FxHashSet<K> = std::collections::HashSet<K, std::hash::BuildHasherDefault<FxHasher>>;
