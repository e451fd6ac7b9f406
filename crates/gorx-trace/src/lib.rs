//! Go execution traces (format v2, written by Go 1.22 and later; and format v1, Go
//! 1.11–1.21, converted to v2 events by [`tracev1`]), read as Go's `internal/trace`
//! reads them.
//!
//! [`Reader`] streams events in the order and with the timestamps, arguments and state
//! transitions that Go's `trace.Reader` produces; [`Event`]'s `Display` (and
//! [`Event::write_go_string`]) is Go's `Event.String()`, so a dump matches
//! `go tool trace -d=parsed` byte for byte. [`raw`] reads the text form used by Go's
//! reader tests.

mod budget;
pub mod event;
mod fast;
mod generation;
pub mod gosort;
pub mod goutil;
mod order;
pub mod raw;
mod reader;
pub mod spec;
pub mod tracev1;

pub use event::{
    Event, EventKind, GoId, GoState, NO_GOROUTINE, NO_PROC, NO_TASK, NO_THREAD, ProcId, ProcState,
    Resource, StackFrame, StateTransition, TaskId, ThreadId, Time,
};
pub use reader::Reader;
pub use spec::Version;
