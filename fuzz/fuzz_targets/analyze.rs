//! Fuzz target `analyze`: the body is `bodies::analyze` (shared with the regression replay).
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::analyze(data));
