//! Renderers. They never decide what is wrong; they show what analysis found.

pub mod probe;
mod text;
pub mod trace_export;
pub mod tune;

pub use text::{format_bytes, format_duration_ns, render_text};

use gorx_analysis::Diagnosis;

/// The documented JSON form: `{"schema":1,"inputs":[{"path","kind"}],"findings":[...]}`.
pub fn render_json(d: &Diagnosis) -> String {
    serde_json::to_string_pretty(d).expect("a Diagnosis always serializes")
}
