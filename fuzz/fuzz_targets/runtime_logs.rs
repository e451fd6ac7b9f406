//! Fuzz the runtime log parsers: gctrace (slice and streaming forms must agree),
//! scavtrace, schedtrace.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let t = gorx_formats::gctrace::parse("fuzz", data);
    let r = gorx_formats::gctrace::parse_reader("fuzz", data).expect("reading a slice");
    assert_eq!(t.runs, r.runs);
    let _ = std::hint::black_box(gorx_formats::scavtrace::parse("fuzz", data));
    let _ = std::hint::black_box(gorx_formats::schedtrace::parse("fuzz", data));
});
