//! Fuzz target `pprof_proto`: the body is `bodies::pprof_proto` (shared with the regression replay).
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::pprof_proto(data));
