//! Bad input is normal input: truncations, corrupted varints, oversized sizes and random
//! mutations give errors with byte offsets (or a clean end where Go's reader ends
//! cleanly), never a panic, and never an allocation of a size the file merely claims.

use gorx_trace::Reader;
use gorx_trace::raw::{RawEvent, encode};
use gorx_trace::spec::{Version, ev};

fn e(ev: u8, args: &[u64]) -> RawEvent {
    RawEvent {
        ev,
        args: args.to_vec(),
        data: None,
    }
}

/// A batch event whose size covers `inner` (encoded without header).
fn batch(g_no: u64, m: u64, time: u64, inner: Vec<RawEvent>) -> Vec<RawEvent> {
    let body = encode(Version::GO126, &inner);
    let size = body.len() - b"go 1.26 trace\x00\x00\x00".len();
    let mut v = vec![e(ev::EVENT_BATCH, &[g_no, m, time, size as u64])];
    v.extend(inner);
    v
}

/// A small, valid two-generation Go 1.26 trace built from raw events.
fn sample_trace() -> Vec<u8> {
    let mut evs = Vec::new();
    for g_no in 1..=2u64 {
        let no_m = u64::MAX;
        evs.extend(batch(
            g_no,
            no_m,
            0,
            vec![
                e(ev::SYNC, &[]),
                e(ev::FREQUENCY, &[15_625_000]),
                e(ev::CLOCK_SNAPSHOT, &[10, 1000, 1_700_000_000, 5]),
            ],
        ));
        let mut s = e(ev::STRING, &[1]);
        s.data = Some(b"chan receive".to_vec());
        evs.extend(batch(g_no, no_m, 0, vec![e(ev::STRINGS, &[]), s]));
        let mut stack = e(ev::STACK, &[1, 1]);
        stack.args.extend([0x401000, 1, 1, 42]);
        evs.extend(batch(g_no, no_m, 0, vec![e(ev::STACKS, &[]), stack]));
        let t = g_no * 100;
        let body = if g_no == 1 {
            vec![
                e(ev::PROC_STATUS, &[1, 0, 1]),
                e(ev::GO_STATUS, &[1, 1, 0, 2]),
                e(ev::GO_CREATE, &[1, 2, 1, 1]),
                e(ev::GO_BLOCK, &[1, 1, 1]),
                e(ev::GO_START, &[1, 2, 1]),
            ]
        } else {
            vec![
                e(ev::PROC_STATUS, &[1, 0, 1]),
                e(ev::GO_STATUS, &[1, 2, 0, 2]),
                e(ev::GO_STATUS, &[1, 1, u64::MAX, 4]),
                e(ev::GO_UNBLOCK, &[1, 1, 1, 0]),
                e(ev::GO_DESTROY, &[1]),
            ]
        };
        evs.extend(batch(g_no, 0, t, body));
        evs.push(e(ev::END_OF_GENERATION, &[]));
    }
    encode(Version::GO126, &evs)
}

fn read_all(b: &[u8]) -> (usize, Option<gorx_formats::FormatError>) {
    let mut r = match Reader::new("t", b) {
        Ok(r) => r,
        Err(e) => return (0, Some(e)),
    };
    let mut n = 0;
    let mut line = Vec::new();
    loop {
        match r.read_event() {
            Ok(Some(ev)) => {
                line.clear();
                ev.write_go_string(&mut line);
                n += 1;
            }
            Ok(None) => return (n, None),
            Err(e) => return (n, Some(e)),
        }
    }
}

#[test]
fn sample_trace_reads() {
    let b = sample_trace();
    let (n, err) = read_all(&b);
    assert!(err.is_none(), "{err:?}");
    // 2 generation syncs + final sync + 5 + 5 events.
    assert_eq!(n, 13);
}

#[test]
fn unknown_version_and_garbage_are_errors_at_offset_zero() {
    for b in [
        &b"go 1.99 trace\x00\x00\x00"[..],
        b"not a trace",
        b"",
        b"go 1.2",
    ] {
        let (_, err) = read_all(b);
        let err = err.expect("error");
        assert_eq!(
            err.location,
            gorx_formats::error::Location::Offset(0),
            "{err}"
        );
    }
    let (_, err) = read_all(b"go 1.20 trace\x00\x00\x00");
    assert!(err.unwrap().message.contains("go 1.20"));
}

#[test]
fn truncation_mid_batch_names_the_offset() {
    let b = sample_trace();
    // Header 16 + batch header 14 (the no-thread M id is a 10-byte varint): cut in the data.
    let cut = &b[..34];
    let (_, err) = read_all(cut);
    let err = err.expect("truncated trace must fail");
    assert!(err.message.contains("failed to read full batch"), "{err}");
    assert_eq!(err.location, gorx_formats::error::Location::Offset(34));
    // Every truncation point: no panic; an error or Go's clean end.
    for i in 16..b.len() {
        let _ = read_all(&b[..i]);
    }
}

#[test]
fn oversized_sizes_are_rejected_without_allocating() {
    let mut b = b"go 1.26 trace\x00\x00\x00".to_vec();
    // EventBatch g_no=1 m=0 time=0 size=2^63 (as a 10-byte varint).
    b.extend([ev::EVENT_BATCH, 1, 0, 0]);
    b.extend([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    let (_, err) = read_all(&b);
    assert!(err.unwrap().message.contains("invalid batch size"));
    // A varint that overflows 64 bits.
    let mut b = b"go 1.26 trace\x00\x00\x00".to_vec();
    b.extend([ev::EVENT_BATCH]);
    b.extend([0xff; 11]);
    let (_, err) = read_all(&b);
    let err = err.unwrap();
    assert!(err.message.contains("overflows"), "{err}");
}

#[test]
fn random_mutations_never_panic() {
    let base = sample_trace();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..20_000 {
        let mut b = base.clone();
        let k = next() % 4;
        if k == 0 {
            let n = 16 + (next() as usize) % (b.len() - 16);
            b.truncate(n);
        } else {
            for _ in 0..=k {
                let i = 16 + (next() as usize) % (b.len() - 16);
                b[i] = next() as u8;
            }
        }
        let _ = read_all(&b);
    }
}

/// Everything a reader yields, as text (events and the final error).
fn dump_with(r: Result<Reader<impl std::io::Read>, gorx_formats::FormatError>) -> Vec<u8> {
    dump_via(r, false)
}

/// [`dump_with`], taking the events as moved (`read_event`) or lent (`next_event`).
fn dump_via(
    r: Result<Reader<impl std::io::Read>, gorx_formats::FormatError>,
    lent: bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut r = match r {
        Ok(r) => r,
        Err(e) => return e.to_string().into_bytes(),
    };
    loop {
        let next = if lent {
            r.next_event().map(|e| e.cloned())
        } else {
            r.read_event()
        };
        match next {
            Ok(Some(ev)) => {
                ev.write_go_string(&mut out);
                out.push(b'\n');
            }
            Ok(None) => return out,
            Err(e) => {
                out.extend_from_slice(e.to_string().as_bytes());
                return out;
            }
        }
    }
}

#[test]
fn prefetching_and_lending_readers_yield_the_same_as_inline() {
    let base = sample_trace();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..2_000 {
        let mut b = base.clone();
        if i > 0 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = 16 + (x as usize) % (b.len() - 16);
            if i % 2 == 0 {
                b.truncate(n);
            } else {
                b[n] = (x >> 32) as u8;
            }
        }
        let inline = dump_with(Reader::new("t", &b[..]));
        let lent = dump_via(Reader::new("t", &b[..]), true);
        let pre = dump_with(Reader::with_prefetch("t", std::io::Cursor::new(b)));
        assert_eq!(inline, pre, "mutation {i}");
        assert_eq!(inline, lent, "mutation {i}: next_event");
    }
}
