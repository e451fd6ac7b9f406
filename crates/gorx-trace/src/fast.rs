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

/// `binary.Uvarint` with a one-byte fast path (most trace arguments are small deltas).
#[inline(always)]
pub(crate) fn uvarint_at(b: &[u8], n: usize) -> (u64, isize) {
    if let Some(&c) = b.get(n)
        && c < 0x80
    {
        return (c as u64, 1);
    }
    crate::goutil::uvarint(&b[n..])
}
