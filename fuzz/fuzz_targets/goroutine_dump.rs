//! Fuzz the goroutine dump parser (debug=2, crash and SIGQUIT output).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = gorx_formats::goroutines::parse("fuzz", data) {
        for g in &d.goroutines {
            for f in &g.frames {
                let _ = std::hint::black_box(gorx_formats::goroutines::parse_args(f.args));
            }
        }
    }
});
