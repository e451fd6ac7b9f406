//! Pure analyses: parsed artifacts in, findings and derived series out. No I/O.

pub mod finding;

pub use finding::{Evidence, FINDING_IDS, Finding, Severity};
