//! Fuzz target `trace_analysis`: the body is `bodies::trace_analysis` (shared with the regression replay).
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::trace_analysis(data));
