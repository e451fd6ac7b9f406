//! Parsers for the artifacts the Go runtime emits. Pure: bytes in, model out.
//! No printing, no policy; every error names the input and the byte offset or line.

pub mod error;

pub use error::{FormatError, Location, Result};
