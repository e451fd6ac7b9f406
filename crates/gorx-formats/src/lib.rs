//! Parsers for the artifacts the Go runtime emits. Pure: bytes in, model out.
//! No printing, no policy; every error names the input and the byte offset or line.

pub mod cgroup;
pub mod detect;
pub mod error;
pub mod expvar;
pub mod gctrace;
pub mod goroutines;
pub mod memstats;
pub mod pprof;
pub mod procfs;
pub mod prometheus;
pub mod scavtrace;
pub mod schedtrace;

pub use error::{FormatError, Location, Result};
