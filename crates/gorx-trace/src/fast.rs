//! Per-event-type lookup tables derived at compile time from [`crate::spec::SPECS`], so
//! the per-event path (decoding a batch event, checking its table IDs) indexes one small
//! array instead of walking spec slices. They only decide the common case quickly; every
//! error is still built by the original, spec-walking code, so messages are unchanged.

use crate::spec::{EventSpec, SPECS};

const N: usize = SPECS.len();

/// For each wire type: how many varints follow the type byte (timestamp included) when
/// the type is a timed event with arguments; 0 when it is not (unknown type, untimed, or
/// no arguments), in which case the caller takes the slow path for Go's error text.
pub(crate) static TIMED_VARINTS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < N {
        let s: &EventSpec = &SPECS[i];
        if s.is_timed && !s.args.is_empty() {
            assert!(
                s.args.len() <= 5,
                "BaseEvent holds 4 arguments after the timestamp"
            );
            t[i] = s.args.len() as u8;
        }
        i += 1;
    }
    t
};

/// For each wire type: the argument slots (1-based spec indices, 0 = unused) holding a
/// stack ID (first two) and a string ID (last two), in the spec's order.
pub(crate) static TABLE_ID_SLOTS: [[u8; 4]; 256] = {
    let mut t = [[0u8; 4]; 256];
    let mut i = 0;
    while i < N {
        let s: &EventSpec = &SPECS[i];
        assert!(s.stack_ids.len() <= 2 && s.string_ids.len() <= 2);
        let mut j = 0;
        while j < s.stack_ids.len() {
            assert!(s.stack_ids[j] >= 1 && s.stack_ids[j] <= 4);
            t[i][j] = s.stack_ids[j] as u8;
            j += 1;
        }
        j = 0;
        while j < s.string_ids.len() {
            assert!(s.string_ids[j] >= 1 && s.string_ids[j] <= 4);
            t[i][2 + j] = s.string_ids[j] as u8;
            j += 1;
        }
        i += 1;
    }
    t
};

/// `binary.Uvarint` of `b[n..]` with fast paths for a one-byte value (most arguments)
/// and for any value at least 11 bytes from the end (no bounds checks, unrolled). It
/// agrees with [`crate::goutil::uvarint`] whenever the count is positive; callers treat
/// any other count as an error and redo the work on the exact path.
#[inline(always)]
pub(crate) fn uvarint_at(b: &[u8], n: usize) -> (u64, isize) {
    let rest = &b[n..];
    if let Some(&c) = rest.first()
        && c < 0x80
    {
        return (c as u64, 1);
    }
    if let Some(w) = rest.first_chunk::<11>() {
        let mut x: u64 = 0;
        let mut i = 0;
        while i < 10 {
            let c = w[i];
            if c < 0x80 {
                if i == 9 && c > 1 {
                    return (0, -10);
                }
                return (x | (c as u64) << (7 * i), i as isize + 1);
            }
            x |= ((c & 0x7f) as u64) << (7 * i);
            i += 1;
        }
        return (0, -11);
    }
    crate::goutil::uvarint(rest)
}

#[cfg(test)]
mod tests {
    use super::uvarint_at;
    use crate::goutil::{append_uvarint, uvarint};

    #[test]
    fn uvarint_at_agrees_with_go_uvarint() {
        let mut vals = vec![
            0u64,
            1,
            127,
            128,
            300,
            16383,
            16384,
            u32::MAX as u64,
            u64::MAX,
        ];
        vals.extend((0..64).map(|s| 1u64 << s));
        vals.extend((0..64).map(|s| (1u64 << s) - 1));
        for v in vals {
            for pad in [0usize, 1, 5, 11, 20] {
                let mut b = vec![0xffu8; 3];
                append_uvarint(&mut b, v);
                b.extend(std::iter::repeat_n(0x80, pad));
                assert_eq!(uvarint_at(&b, 3), uvarint(&b[3..]), "v={v} pad={pad}");
            }
        }
        // Malformed: overlong and overflowing encodings must not count as success.
        for b in [
            vec![0x80u8; 12],
            vec![0x80, 0x80],
            [vec![0xff; 9], vec![0x02, 0, 0]].concat(),
        ] {
            assert!(uvarint_at(&b, 0).1 <= 0 && uvarint(&b).1 <= 0);
        }
    }
}
