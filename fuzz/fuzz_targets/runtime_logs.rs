//! Fuzz target `runtime_logs`: the body is `bodies::runtime_logs` (shared with the regression replay).
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::runtime_logs(data));
