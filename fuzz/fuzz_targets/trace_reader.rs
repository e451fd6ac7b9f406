//! Any bytes: the trace reader returns events or an error, never panics, and every
//! event it returns can be printed (a stronger property than Go's FuzzReader, which
//! skips the getters). Seed with Go's corpus:
//! `cargo +nightly fuzz run trace_reader $(go env GOROOT)/src/internal/trace/testdata/fuzz/FuzzReader`
//! (convert the `go test fuzz v1` files to raw bytes first, e.g. with the test helper in
//! crates/gorx-trace/tests/go_testdata.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut r) = gorx_trace::Reader::new("fuzz", data) else {
        return;
    };
    let mut line = Vec::new();
    // Each event consumes input or ends the stream; bound the loop anyway.
    for _ in 0..1_000_000 {
        match r.read_event() {
            Ok(Some(ev)) => {
                line.clear();
                ev.write_go_string(&mut line);
            }
            Ok(None) | Err(_) => break,
        }
    }
});
