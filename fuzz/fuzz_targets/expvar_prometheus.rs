//! Fuzz the expvar JSON and Prometheus text exposition parsers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = std::hint::black_box(gorx_formats::expvar::parse("fuzz", data));
    let _ = std::hint::black_box(gorx_formats::prometheus::parse("fuzz", data));
});
