//! Pure analyses: parsed artifacts in, findings and derived series out. No I/O.

pub mod artifacts;
pub mod block_rate;
pub mod diagnosis;
pub mod finding;
pub mod gc;
pub mod goroutines;
mod judge;
pub mod memory;
pub mod metrics;
pub mod mmu;
pub mod process;
pub mod profiles;
pub mod score;
pub mod sites;
pub mod thresholds;
pub mod trace;
pub mod trace_assist;
pub mod trace_leak;
mod trace_names;
pub mod trace_pprof;
pub mod trace_tasks;

pub use diagnosis::{Diagnosis, InputSummary, SCHEMA_VERSION};
pub use finding::{Evidence, FINDING_IDS, Finding, Severity};
pub mod probe_join;
pub mod score_gate;
pub mod score_live;
