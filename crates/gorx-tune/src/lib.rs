//! The tuning lab behind `gorx tune`: run a service once per GOGC × GOMEMLIMIT ×
//! GOMAXPROCS × CPU-quota configuration, each a fresh process in its own cgroup, under
//! open-loop load; measure latency, memory and GC; recommend a configuration only when
//! it beats the Go defaults, run back to back, by more than the noise.

pub mod cell;
pub mod cgroup;
pub mod lab;
pub mod load;

/// Why the lab or one of its cells could not run.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("{0}")]
    Usage(String),
    #[error("cgroup: {0}")]
    Cgroup(String),
    #[error("{0}")]
    Cell(String),
    #[error("{0}")]
    Io(String),
}
