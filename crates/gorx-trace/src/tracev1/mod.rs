//! Execution traces of Go 1.11–1.21 (format v1, headers `go 1.11`, `go 1.19`,
//! `go 1.21`), read as Go 1.27's `trace.Reader` reads them: parsed whole
//! ([`parser`], [`order`]), then converted event by event into v2 events
//! ([`convert`]), so every consumer of [`crate::Event`] works on them unchanged.

pub(crate) mod convert;
pub mod order;
pub mod parser;

use crate::event::Event;
use gorx_formats::FormatError;

/// The v1 half of [`crate::Reader`] (Go's `Reader.v1Events` path of `ReadEvent`).
pub(crate) struct V1Events {
    conv: convert::Converter,
    syncs: u64,
    done: bool,
    /// File offset of the data (the header length), for error offsets.
    base: u64,
}

impl V1Events {
    /// Parse `data` (the trace after its header, which ended at file offset `base`).
    pub(crate) fn new(
        name: &str,
        data: &[u8],
        base: u64,
        version: u32,
    ) -> Result<V1Events, FormatError> {
        let tr = parser::parse(data, version)
            .map_err(|e| FormatError::at_offset(name, base + e.offset, e.msg))?;
        let conv =
            convert::Converter::new(tr).map_err(|m| FormatError::at_offset(name, base, m))?;
        Ok(V1Events {
            conv,
            syncs: 0,
            done: false,
            base,
        })
    }

    /// Go's v1 branch of `Reader.ReadEvent`: a Sync first (if there are events), the
    /// converted events, and a Sync last.
    pub(crate) fn read_event(&mut self, name: &str) -> Result<Option<Event>, FormatError> {
        if self.done {
            return Ok(None);
        }
        if self.syncs == 0
            && let Some(first) = self.conv.peek()
        {
            self.syncs += 1;
            let t = first.ts.wrapping_sub(1);
            return Ok(Some(Event::sync(
                Some(self.conv.evt.clone()),
                t,
                self.syncs,
            )));
        }
        match self.conv.next() {
            Ok(Some(e)) => Ok(Some(e)),
            Ok(None) => {
                self.done = true;
                self.syncs += 1;
                let t = self.conv.last_ts.wrapping_add(1);
                Ok(Some(Event::sync(None, t, self.syncs)))
            }
            Err(e) => {
                self.done = true;
                Err(FormatError::at_offset(name, self.base + e.offset, e.msg))
            }
        }
    }
}
