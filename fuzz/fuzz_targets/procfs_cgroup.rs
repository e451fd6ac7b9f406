//! Fuzz target `procfs_cgroup`: the body is `bodies::procfs_cgroup` (shared with the regression replay).
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::procfs_cgroup(data));
