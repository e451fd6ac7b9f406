//! Fuzz target `expvar_prometheus`: the body is `bodies::expvar_prometheus` (shared with the regression replay).
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::expvar_prometheus(data));
