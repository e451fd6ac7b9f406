//! Fuzz target `goroutine_dump`: the body is `bodies::goroutine_dump` (shared with the regression replay).
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::goroutine_dump(data));
