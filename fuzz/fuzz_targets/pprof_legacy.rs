//! Fuzz the legacy `?debug=1` text profile parser (heap + MemStats, count, contention).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gorx_formats::pprof::legacy::looks_like(data);
    let _ = std::hint::black_box(gorx_formats::pprof::legacy::parse("fuzz", data));
});
