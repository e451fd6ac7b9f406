//! Fuzz target `trace_reader`: the body is `bodies::trace_reader` (shared with the regression replay).
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::trace_reader(data));
