//! Fuzz target `gopclntab`: the body is `bodies::gopclntab` (shared with the regression replay).
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::gopclntab(data));
