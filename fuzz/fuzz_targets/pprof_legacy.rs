//! Fuzz target `pprof_legacy`: the body is `bodies::pprof_legacy` (shared with the regression replay).
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::pprof_legacy(data));
