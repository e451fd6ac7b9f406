//! The one error type every parser returns: which input, where in it, and what was wrong.

use std::fmt;

/// Where in an input a problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// Byte offset from the start of the (decompressed, if noted in the message) input.
    Offset(u64),
    /// 1-based line number in a text input.
    Line(u64),
    /// The problem concerns the input as a whole (empty, unknown kind).
    Whole,
}

/// A parse failure. `input` names the file (or URL) so the message stands on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    pub input: String,
    pub location: Location,
    pub message: String,
}

impl FormatError {
    pub fn at_offset(input: impl Into<String>, offset: u64, message: impl Into<String>) -> Self {
        Self {
            input: input.into(),
            location: Location::Offset(offset),
            message: message.into(),
        }
    }
    pub fn at_line(input: impl Into<String>, line: u64, message: impl Into<String>) -> Self {
        Self {
            input: input.into(),
            location: Location::Line(line),
            message: message.into(),
        }
    }
    pub fn whole(input: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            input: input.into(),
            location: Location::Whole,
            message: message.into(),
        }
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Location::Offset(o) => {
                write!(f, "{}: at byte offset {}: {}", self.input, o, self.message)
            }
            Location::Line(l) => write!(f, "{}:{}: {}", self.input, l, self.message),
            Location::Whole => write!(f, "{}: {}", self.input, self.message),
        }
    }
}

impl std::error::Error for FormatError {}

pub type Result<T> = std::result::Result<T, FormatError>;
