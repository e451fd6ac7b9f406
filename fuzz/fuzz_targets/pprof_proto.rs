//! Fuzz the pprof protobuf decoder (gzipped and raw): any input may fail, none may panic.
//! Crashes found here belong in crates/gorx-formats/tests/regress/pprof/, which
//! `cargo test` replays.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = gorx_formats::pprof::parse("fuzz", data) {
        for s in &p.samples {
            for f in p.frames(s) {
                std::hint::black_box((f.function, f.file, f.line));
            }
        }
        if let Some(i) = p.default_sample_index() {
            std::hint::black_box(p.total(i));
        }
    }
});
