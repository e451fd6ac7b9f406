//! A hand-written protobuf wire decoder for profile.proto.
//!
//! Why not prost: we need the byte offset of every failure, index validation against the
//! string/location/function tables, and a two-pass decode (samples are resolved against
//! locations that may come later in the message) without a temporary copy of every sample.
//! Every length is checked against the bytes actually present before it is used, so a
//! length prefix can never make us allocate more than the input holds.

use crate::FormatError;

/// Protobuf wire types.
pub(crate) const WT_VARINT: u8 = 0;
pub(crate) const WT_I64: u8 = 1;
pub(crate) const WT_LEN: u8 = 2;
pub(crate) const WT_I32: u8 = 5;

/// A decode failure before the input name is attached: offset into the (decompressed) buffer.
#[derive(Debug)]
pub(crate) struct WireError {
    pub offset: usize,
    pub message: String,
}

impl WireError {
    pub fn new(offset: usize, message: impl Into<String>) -> Self {
        Self {
            offset,
            message: message.into(),
        }
    }
    pub fn into_format(self, input: &str, decompressed: bool) -> FormatError {
        let msg = if decompressed {
            format!("{} (offset into the decompressed data)", self.message)
        } else {
            self.message
        };
        FormatError::at_offset(input, self.offset as u64, msg)
    }
}

pub(crate) type WResult<T> = std::result::Result<T, WireError>;

/// A cursor over a protobuf message. `base` is the absolute offset of `buf[0]` in the
/// whole input so errors point at the right byte.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    /// The bytes not yet consumed.
    #[inline]
    pub fn remaining(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    #[inline]
    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Absolute offset of the cursor.
    #[inline]
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    #[inline]
    pub fn varint(&mut self) -> WResult<u64> {
        // Fast path: one byte.
        if let Some(&b) = self.buf.get(self.pos)
            && b < 0x80
        {
            self.pos += 1;
            return Ok(b as u64);
        }
        let start = self.pos;
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(WireError::new(
                    self.base + start,
                    "truncated varint (input ends inside it)",
                ));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(WireError::new(
                    self.base + start,
                    "varint longer than 64 bits",
                ));
            }
            v |= ((b & 0x7f) as u64) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(WireError::new(
            self.base + start,
            "varint longer than 10 bytes",
        ))
    }

    /// A field key: (field number, wire type).
    #[inline]
    pub fn key(&mut self) -> WResult<(u32, u8)> {
        let at = self.offset();
        let k = self.varint()?;
        let field = k >> 3;
        let wt = (k & 7) as u8;
        if field == 0 || field > u32::MAX as u64 >> 3 {
            return Err(WireError::new(at, format!("invalid field number {field}")));
        }
        Ok((field as u32, wt))
    }

    /// A length-delimited payload, checked against the bytes present.
    #[inline]
    pub fn bytes(&mut self) -> WResult<(&'a [u8], usize)> {
        let at = self.offset();
        let len = self.varint()?;
        let remaining = self.buf.len() - self.pos;
        if len > remaining as u64 {
            return Err(WireError::new(
                at,
                format!("length-delimited field claims {len} bytes but only {remaining} remain"),
            ));
        }
        let len = len as usize;
        let start = self.pos;
        self.pos += len;
        Ok((&self.buf[start..start + len], self.base + start))
    }

    /// A nested message reader.
    #[inline]
    pub fn message(&mut self) -> WResult<Reader<'a>> {
        let (b, base) = self.bytes()?;
        Ok(Reader::new(b, base))
    }

    fn fixed(&mut self, n: usize) -> WResult<()> {
        if self.buf.len() - self.pos < n {
            return Err(WireError::new(
                self.offset(),
                format!("truncated {}-byte fixed field", n),
            ));
        }
        self.pos += n;
        Ok(())
    }

    /// Skip a field we do not know (forward compatibility with newer profile.proto).
    pub fn skip(&mut self, wt: u8, key_at: usize) -> WResult<()> {
        match wt {
            WT_VARINT => self.varint().map(|_| ()),
            WT_I64 => self.fixed(8),
            WT_LEN => self.bytes().map(|_| ()),
            WT_I32 => self.fixed(4),
            _ => Err(WireError::new(
                key_at,
                format!("unsupported wire type {wt}"),
            )),
        }
    }

    /// A scalar varint field, checking the wire type.
    #[inline]
    pub fn expect_varint(&mut self, wt: u8, key_at: usize, what: &str) -> WResult<u64> {
        if wt != WT_VARINT {
            return Err(WireError::new(
                key_at,
                format!("{what}: expected varint, got wire type {wt}"),
            ));
        }
        self.varint()
    }

    /// Appends a repeated varint field, packed (wire type 2) or not (wire type 0).
    #[inline]
    pub fn repeated_varint(
        &mut self,
        wt: u8,
        key_at: usize,
        what: &str,
        mut push: impl FnMut(u64, usize) -> WResult<()>,
    ) -> WResult<()> {
        match wt {
            WT_VARINT => {
                let at = self.offset();
                let v = self.varint()?;
                push(v, at)
            }
            WT_LEN => {
                let mut r = self.message()?;
                while !r.at_end() {
                    let at = r.offset();
                    let v = r.varint()?;
                    push(v, at)?;
                }
                Ok(())
            }
            _ => Err(WireError::new(
                key_at,
                format!("{what}: expected varint or packed varints, got wire type {wt}"),
            )),
        }
    }

    pub fn expect_len(&mut self, wt: u8, key_at: usize, what: &str) -> WResult<Reader<'a>> {
        if wt != WT_LEN {
            return Err(WireError::new(
                key_at,
                format!("{what}: expected a length-delimited field, got wire type {wt}"),
            ));
        }
        self.message()
    }
}

/// Counts elements of a packed varint run without decoding them (for exact `Vec` sizing).
#[inline]
pub(crate) fn packed_count(b: &[u8]) -> usize {
    b.iter().filter(|&&x| x < 0x80).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let mut r = Reader::new(&[0x96, 0x01, 0x7f, 0xff], 0);
        assert_eq!(r.varint().unwrap(), 150);
        assert_eq!(r.varint().unwrap(), 127);
        let e = r.varint().unwrap_err();
        assert_eq!(e.offset, 3);
        let mut r = Reader::new(&[0xff; 11], 10);
        assert_eq!(r.varint().unwrap_err().offset, 10);
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(Reader::new(&max, 0).varint().unwrap(), u64::MAX);
    }

    #[test]
    fn absurd_length_is_an_error_not_an_allocation() {
        // Field 2 (sample), length 2^62.
        let mut buf = vec![0x12];
        let mut n: u64 = 1 << 62;
        while n >= 0x80 {
            buf.push((n as u8) | 0x80);
            n >>= 7;
        }
        buf.push(n as u8);
        let mut r = Reader::new(&buf, 0);
        let (f, wt) = r.key().unwrap();
        assert_eq!((f, wt), (2, WT_LEN));
        let e = r.bytes().unwrap_err();
        assert_eq!(e.offset, 1);
        assert!(e.message.contains("claims"), "{}", e.message);
    }
}
