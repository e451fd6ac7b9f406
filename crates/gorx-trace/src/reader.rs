//! The streaming reader (Go's reader.go and batchcursor.go): reads one generation at a
//! time, merges its per-thread batches by timestamp under the ordering's partial-order
//! rules, and yields events exactly as Go's `trace.Reader` does.

use crate::budget::Budget;
use crate::event::{BaseEvent, EvTable, Event, SchedCtx, ThreadId, Time};
use crate::generation::{Batch, CpuSample, GenError, GenMsg, GenReader, Generation, Source};
use crate::goutil::uvarint;
use crate::order::Ordering;
use crate::spec::{self, Version, ev};
use gorx_formats::FormatError;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

/// Position in one thread's batches.
struct BatchCursor {
    /// Index of this thread in the generation's batch lists.
    mi: usize,
    m: ThreadId,
    last_ts: Time,
    idx: usize,
    data_off: usize,
    ev: BaseEvent,
    /// File offset of `ev`.
    ev_offset: u64,
    /// Batch data freed by `next_event` and not yet returned to the budget.
    freed_bytes: usize,
}

impl BatchCursor {
    /// Go's `batchCursor.nextEvent`.
    /// A batch is freed as soon as the cursor moves past it (memory stays near one
    /// generation).
    fn next_event(&mut self, batches: &mut [Batch], freq: f64) -> Result<bool, GenError> {
        while self.idx < batches.len() && batches[self.idx].data.len() == self.data_off {
            self.freed_bytes += std::mem::take(&mut batches[self.idx].data).len();
            self.idx += 1;
            self.data_off = 0;
            self.last_ts = 0;
        }
        if self.idx == batches.len() {
            return Ok(false);
        }
        let b = &batches[self.idx];
        if self.last_ts == 0 {
            self.last_ts = crate::event::mul_freq(freq, b.time);
        }
        let offset = b.offset + self.data_off as u64;
        let (n, tsdiff) = read_timed_base_event(&b.data[self.data_off..], &mut self.ev)
            .map_err(|m| GenError::msg(offset, m))?;
        self.ev.time = crate::event::mul_freq(freq, tsdiff).wrapping_add(self.last_ts);
        self.last_ts = self.ev.time;
        self.ev_offset = offset;
        self.data_off += n;
        Ok(true)
    }
}

/// Go's `readTimedBaseEvent`; the common case through [`crate::fast`] tables, anything
/// unusual (bad type, bad varint) through the original code for its exact error.
#[inline]
fn read_timed_base_event(b: &[u8], e: &mut BaseEvent) -> Result<(usize, u64), String> {
    let typ = b[0];
    let nv = crate::fast::TIMED_VARINTS[typ as usize] as usize;
    if nv != 0 {
        let (ts, nb) = crate::fast::uvarint_at(b, 1);
        let mut ok = nb > 0;
        let mut n = 1 + nb.max(0) as usize;
        let mut i = 0;
        while ok && i < nv - 1 {
            let (arg, nb) = crate::fast::uvarint_at(b, n);
            if nb <= 0 {
                ok = false;
                break;
            }
            e.args[i] = arg;
            n += nb as usize;
            i += 1;
        }
        if ok {
            e.typ = typ;
            return Ok((n, ts));
        }
    }
    read_timed_base_event_slow(b, e)
}

fn read_timed_base_event_slow(b: &[u8], e: &mut BaseEvent) -> Result<(usize, u64), String> {
    let typ = b[0];
    let Some(sp) = spec::spec(typ) else {
        return Err(format!("found invalid event type: {typ}"));
    };
    e.typ = typ;
    if sp.args.is_empty() || !sp.is_timed {
        return Err(format!("found event without a timestamp: type={typ}"));
    }
    let mut n = 1;
    let (ts, nb) = uvarint(&b[n..]);
    if nb <= 0 {
        return Err("found invalid uvarint for timestamp".into());
    }
    n += nb as usize;
    for i in 0..sp.args.len() - 1 {
        let (arg, nb) = uvarint(&b[n..]);
        if nb <= 0 {
            return Err("found invalid uvarint".into());
        }
        e.args[i] = arg;
        n += nb as usize;
    }
    Ok((n, ts))
}

fn heap_sift_up(h: &mut [Box<BatchCursor>], mut i: usize) -> usize {
    while i > 0 && h[(i - 1) / 2].ev.time > h[i].ev.time {
        h.swap((i - 1) / 2, i);
        i = (i - 1) / 2;
    }
    i
}

fn heap_sift_down(h: &mut [Box<BatchCursor>], mut i: usize) -> usize {
    loop {
        let m = min3(h, i, 2 * i + 1, 2 * i + 2);
        if m == i {
            break;
        }
        h.swap(i, m);
        i = m;
    }
    i
}

fn min3(b: &[Box<BatchCursor>], i0: usize, i1: usize, i2: usize) -> usize {
    let mut min_idx = i0;
    let mut min_t = i64::MAX;
    if i0 < b.len() {
        min_t = b[i0].ev.time;
    }
    if i1 < b.len() && b[i1].ev.time < min_t {
        min_t = b[i1].ev.time;
        min_idx = i1;
    }
    if i2 < b.len() && b[i2].ev.time < min_t {
        min_idx = i2;
    }
    min_idx
}

#[allow(clippy::vec_box)] // the heap swaps pointers: see `Reader::frontier`
fn heap_insert(h: &mut Vec<Box<BatchCursor>>, bc: Box<BatchCursor>) {
    h.push(bc);
    let n = h.len() - 1;
    heap_sift_up(h, n);
}

fn heap_update(h: &mut [Box<BatchCursor>], i: usize) {
    if heap_sift_up(h, i) != i {
        return;
    }
    heap_sift_down(h, i);
}

#[allow(clippy::vec_box)] // the heap swaps pointers: see `Reader::frontier`
fn heap_remove(h: &mut Vec<Box<BatchCursor>>, mut i: usize) {
    while i > 0 {
        h.swap((i - 1) / 2, i);
        i = (i - 1) / 2;
    }
    let last = h.len() - 1;
    h.swap(0, last);
    h.pop();
    heap_sift_down(h, 0);
}

/// Where generations come from: read inline, or by a background thread one
/// generation ahead (so reading and table decoding overlap the ordering).
enum Feed<R: Read> {
    Inline(GenReader<BufReader<R>>),
    Thread {
        rx: Receiver<(GenMsg, u64)>,
        pos: u64,
        ended: bool,
        budget: BudgetGuard,
    },
}

/// Closes the budget when the reader goes away, so the prefetch thread never waits on it.
struct BudgetGuard(Arc<Budget>);

impl Drop for BudgetGuard {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl<R: Read> Feed<R> {
    fn next_gen(&mut self) -> GenMsg {
        match self {
            Feed::Inline(g) => g.next_gen(),
            Feed::Thread {
                rx,
                pos,
                ended,
                budget,
            } => {
                if *ended {
                    return GenMsg::V126(Err(GenError::msg(
                        *pos,
                        "internal error: read past the end",
                    )));
                }
                budget.0.set_reader_waiting(true);
                let got = rx.recv();
                budget.0.set_reader_waiting(false);
                match got {
                    Ok((m, p)) => {
                        *pos = p;
                        *ended = m.is_last();
                        m
                    }
                    Err(_) => {
                        *ended = true;
                        GenMsg::V126(Err(GenError::msg(*pos, "generation reader thread stopped")))
                    }
                }
            }
        }
    }
    fn budget(&self) -> Option<&Budget> {
        match self {
            Feed::Inline(_) => None,
            Feed::Thread { budget, .. } => Some(&budget.0),
        }
    }
    fn pos(&self) -> u64 {
        match self {
            Feed::Inline(g) => g.src.pos,
            Feed::Thread { pos, .. } => *pos,
        }
    }
}

/// The generation being merged.
struct CurGen {
    gen_no: u64,
    batches: Vec<Vec<Batch>>,
    table: Rc<EvTable>,
    /// Event batch bytes accounted in the budget and not yet freed.
    held_bytes: usize,
}

/// Reads a Go execution trace (format v2, Go 1.22+) event by event, in bounded memory:
/// one generation's batches plus live G/P/M state.
pub struct Reader<R: Read> {
    name: String,
    feed: Feed<R>,
    version: Version,
    last_ts: Time,
    gen_no: Option<CurGen>,
    /// Boxed, as Go holds `*batchCursor`: the heap moves pointers, not 104-byte cursors
    /// (-10% time on a busy trace).
    #[allow(clippy::vec_box)]
    frontier: Vec<Box<BatchCursor>>,
    cpu_samples: VecDeque<CpuSample>,
    order: Ordering,
    syncs: u64,
    read_gen_err: Option<GenError>,
    done: bool,
    /// `next_event` lent the queue's front event; the next call consumes it.
    returned_front: bool,
    /// Before Go 1.26: whether the next generation's first batch has been seen.
    has_spill: bool,
    spill_err: Option<GenError>,
    spill_err_sync: bool,
    last_offset: u64,
    silent_eof: Option<u64>,
    generations: u64,
    max_gen_bytes: usize,
    /// Set for v1 traces (Go 1.11–1.21), which are read whole and converted.
    v1: Option<Box<crate::tracev1::V1Events>>,
}

fn header_error(name: &str, msg: impl Into<String>) -> FormatError {
    FormatError::at_offset(name, 0, msg)
}

/// Go's `version.ReadHeader`: `fmt.Fscanf(r, "go 1.%d trace\x00\x00\x00", &v)`.
fn read_header<R: BufRead>(name: &str, src: &mut Source<R>) -> Result<Version, FormatError> {
    let bad = || header_error(name, "bad file format: not a Go execution trace?");
    let expect = |lit: &[u8], src: &mut Source<R>| -> Result<(), FormatError> {
        for &c in lit {
            if c == b' ' {
                // A space in a scanf format matches zero or more spaces.
                while let Ok(Some(b' ' | b'\t' | b'\r')) = src.peek_byte() {
                    let _ = src.read_byte();
                }
                continue;
            }
            match src.read_byte() {
                Ok(Some(b)) if b == c => {}
                _ => return Err(bad()),
            }
        }
        Ok(())
    };
    expect(b"go 1.", src)?;
    // %d: optional sign, then decimal digits (Go's scanner also skips leading spaces).
    while let Ok(Some(b' ' | b'\t' | b'\r')) = src.peek_byte() {
        let _ = src.read_byte();
    }
    let mut neg = false;
    if let Ok(Some(c @ (b'+' | b'-'))) = src.peek_byte() {
        neg = c == b'-';
        let _ = src.read_byte();
    }
    let mut digits = String::new();
    while let Ok(Some(c @ (b'0'..=b'9' | b'_'))) = src.peek_byte() {
        if c != b'_' {
            digits.push(c as char);
        }
        let _ = src.read_byte();
    }
    if digits.is_empty() {
        return Err(bad());
    }
    let v: i64 = digits.parse().map_err(|_| bad())?;
    let v = if neg { -v } else { v };
    if !(0..=u32::MAX as i64).contains(&v) {
        return Err(bad());
    }
    expect(b" trace\x00\x00\x00", src)?;
    let ver = Version(v as u32);
    if !ver.is_known() {
        return Err(header_error(
            name,
            format!("unknown or unsupported trace version go 1.{}", ver.0),
        ));
    }
    Ok(ver)
}

impl<R: Read> Reader<R> {
    /// Read the header. `name` names the input in errors.
    pub fn new(name: impl Into<String>, r: R) -> Result<Self, FormatError> {
        let name = name.into();
        let mut src = Source::new(BufReader::with_capacity(256 << 10, r), 0);
        let version = read_header(&name, &mut src)?;
        // v1 has no generations: Go reads the rest of the input whole, parses and
        // converts it (reader.go's `tracev1.Parse` path).
        let v1 = if version.is_v2() {
            None
        } else {
            let base = src.pos;
            let mut data = Vec::new();
            src.read_rest(&mut data)
                .map_err(|e| FormatError::at_offset(&name, src.pos, e.to_string()))?;
            Some(Box::new(crate::tracev1::V1Events::new(
                &name, &data, base, version.0,
            )?))
        };
        Ok(Reader {
            name,
            feed: Feed::Inline(GenReader::new(src, version)),
            version,
            last_ts: 0,
            gen_no: None,
            frontier: Vec::new(),
            cpu_samples: VecDeque::new(),
            order: Ordering::new(version),
            syncs: 0,
            read_gen_err: None,
            done: false,
            returned_front: false,
            has_spill: false,
            spill_err: None,
            spill_err_sync: false,
            last_offset: 0,
            silent_eof: None,
            generations: 0,
            max_gen_bytes: 0,
            v1,
        })
    }

    /// The trace format version (the N of `go 1.N trace`).
    pub fn version(&self) -> Version {
        self.version
    }
    /// Bytes consumed from the input so far.
    pub fn position(&self) -> u64 {
        self.feed.pos()
    }
    /// Generations read so far.
    pub fn generations(&self) -> u64 {
        self.generations
    }
    /// The largest generation's batch data, in bytes (what bounds memory).
    pub fn max_generation_bytes(&self) -> usize {
        self.max_gen_bytes
    }
    /// Live goroutines, procs and threads the ordering tracks.
    pub fn live_state_counts(&self) -> (usize, usize, usize) {
        self.order.live_counts()
    }
    /// Where Go's reader met a bare `io.EOF` inside the data and so ended the stream
    /// without an error (which `go tool trace` reports as success). gorx does the same
    /// to stay exact, and exposes the offset so callers can warn.
    pub fn silent_eof_offset(&self) -> Option<u64> {
        self.silent_eof
    }

    fn err(&self, e: GenError) -> FormatError {
        match e {
            GenError::Eof { offset } => FormatError::at_offset(&self.name, offset, "EOF"),
            GenError::Msg { offset, msg } => FormatError::at_offset(&self.name, offset, msg),
        }
    }

    /// The next event; `Ok(None)` at the end. The stream ends at the first error.
    pub fn read_event(&mut self) -> Result<Option<Event>, FormatError> {
        self.consume_lent();
        Ok(if self.prepare_front()? {
            self.order.queue.pop_front()
        } else {
            None
        })
    }

    /// Like [`Reader::read_event`], but lends the event instead of moving it out: the
    /// event stays in the ordering's queue, where it was written, until the next call.
    /// For a reader that only looks at each event this saves copying 96 bytes several
    /// times per event (with the in-place queue: -19% time on a busy trace, see
    /// BENCHMARKS.md).
    pub fn next_event(&mut self) -> Result<Option<&Event>, FormatError> {
        self.consume_lent();
        if !self.prepare_front()? {
            return Ok(None);
        }
        self.returned_front = true;
        Ok(self.order.queue.front())
    }

    /// The event `next_event` lent last is consumed now.
    fn consume_lent(&mut self) {
        if self.returned_front {
            self.returned_front = false;
            self.order.queue.drop_front();
        }
    }

    /// Puts the next event, checked as Go's `ReadEvent` checks it, at the front of the
    /// ordering's queue; false at the end.
    fn prepare_front(&mut self) -> Result<bool, FormatError> {
        if let Some(v1) = &mut self.v1 {
            return Ok(match v1.read_event(&self.name)? {
                Some(e) => {
                    self.order.queue.push_back(e);
                    true
                }
                None => false,
            });
        }
        if self.order.queue.is_empty() {
            if self.done {
                return Ok(false);
            }
            match self.read_event_inner() {
                Ok(()) => {}
                Err(GenError::Eof { offset }) => {
                    // Go's reader returns the bare io.EOF, which callers take as the end.
                    self.done = true;
                    self.silent_eof = Some(offset);
                    return Ok(false);
                }
                Err(e) => {
                    self.done = true;
                    return Err(self.err(e));
                }
            }
        }
        let e = self
            .order
            .queue
            .front_mut()
            .expect("invariant: read_event_inner queued an event");
        if !table_ids_ok(e)
            && let Err(msg) = validate_table_ids(e)
        {
            self.done = true;
            self.order.queue.clear();
            return Err(FormatError::at_offset(&self.name, self.last_offset, msg));
        }
        if e.base.time <= self.last_ts {
            e.base.time = self.last_ts.wrapping_add(1);
        }
        self.last_ts = e.base.time;
        Ok(true)
    }

    /// Queues a sync event (Go's reader emits one at each generation boundary).
    fn push_sync(&mut self, table: Option<Rc<EvTable>>, t: Time) {
        self.syncs += 1;
        self.order
            .queue
            .push_back(Event::sync(table, t, self.syncs));
    }

    /// Queues the next event (or returns at once when one is queued).
    fn read_event_inner(&mut self) -> Result<(), GenError> {
        if !self.order.queue.is_empty() {
            return Ok(());
        }
        if self.frontier.is_empty() && self.cpu_samples.is_empty() {
            if self.version < Version::GO126 {
                return self.next_gen_with_spill();
            }
            if let Some(e) = &self.read_gen_err {
                return Err(e.clone());
            }
            let GenMsg::V126(res) = self.feed.next_gen() else {
                return Err(GenError::msg(
                    self.feed.pos(),
                    "internal error: wrong reader path",
                ));
            };
            return match res {
                Ok(g) => self.install_gen(g),
                Err(e) => {
                    self.read_gen_err = Some(e);
                    self.gen_no = None;
                    let t = self.last_ts;
                    self.push_sync(None, t);
                    Ok(())
                }
            };
        }
        // Inject a CPU sample if it comes next.
        if let Some(s) = self.cpu_samples.front()
            && (self.frontier.is_empty() || s.time < self.frontier[0].ev.time)
        {
            let s = self.cpu_samples.pop_front().expect("checked");
            let table = &self.gen_no.as_ref().expect("generation installed").table;
            let base = BaseEvent {
                typ: ev::CPU_SAMPLE,
                time: s.time,
                args: [s.stack, 0, 0, 0],
            };
            self.order.queue.push_back(Event::new(table, s.ctx, base));
            return Ok(());
        }
        if self.frontier.is_empty() {
            return Err(GenError::msg(
                self.last_offset,
                format!(
                    "broken trace: frontier is empty:\n[gen={}]",
                    self.gen_no.as_ref().map(|g| g.gen_no).unwrap_or(0)
                ),
            ));
        }
        if !self.try_advance(0)? {
            // Try the rest in timestamp order (Go sorts the heap; a sorted heap is
            // still a heap).
            crate::gosort::sort_func(&mut self.frontier, |a, b| a.ev.time < b.ev.time);
            let mut success = false;
            for i in 1..self.frontier.len() {
                if self.try_advance(i)? {
                    success = true;
                    break;
                }
            }
            if !success {
                return Err(GenError::msg(
                    self.last_offset,
                    format!(
                        "broken trace: failed to advance: frontier:\n[gen={}]\n\n{}",
                        self.gen_no.as_ref().map(|g| g.gen_no).unwrap_or(0),
                        self.dump_frontier()
                    ),
                ));
            }
        }
        debug_assert!(
            !self.order.queue.is_empty(),
            "invariant: advance succeeded, so the queue has an event"
        );
        Ok(())
    }

    fn dump_frontier(&self) -> String {
        let mut s = String::new();
        for bc in &self.frontier {
            let sp = spec::spec(bc.ev.typ)
                .map(|s| (s.name, s.args))
                .unwrap_or(("", &[]));
            s.push_str(&format!("M {} [{} time={}", bc.m, sp.0, bc.ev.time));
            for (i, a) in sp.1.iter().skip(1).enumerate() {
                s.push_str(&format!(" {a}={}", bc.ev.args[i]));
            }
            s.push_str("]\n");
        }
        s
    }

    fn try_advance(&mut self, i: usize) -> Result<bool, GenError> {
        let g = self.gen_no.as_mut().expect("generation installed");
        let bc = &mut self.frontier[i];
        self.last_offset = bc.ev_offset;
        let ok = self
            .order
            .advance(&mut bc.ev, &g.table, bc.m, g.gen_no)
            .map_err(|m| GenError::msg(bc.ev_offset, m))?;
        if !ok {
            return Ok(false);
        }
        let more = bc.next_event(&mut g.batches[bc.mi], g.table.freq)?;
        if bc.freed_bytes != 0 {
            g.held_bytes -= bc.freed_bytes;
            if let Some(b) = self.feed.budget() {
                b.release(bc.freed_bytes);
            }
            bc.freed_bytes = 0;
        }
        if more {
            heap_update(&mut self.frontier, i);
        } else {
            heap_remove(&mut self.frontier, i);
        }
        Ok(true)
    }

    fn next_gen_with_spill(&mut self) -> Result<(), GenError> {
        if let Some(e) = &self.spill_err {
            if self.spill_err_sync {
                return Err(e.clone());
            }
            self.spill_err_sync = true;
            let t = self.last_ts;
            self.push_sync(None, t);
            return Ok(());
        }
        if self.gen_no.is_some() && !self.has_spill {
            self.done = true;
            let t = self.last_ts;
            self.push_sync(None, t);
            return Ok(());
        }
        let GenMsg::Spill(res) = self.feed.next_gen() else {
            return Err(GenError::msg(
                self.feed.pos(),
                "internal error: wrong reader path",
            ));
        };
        match res {
            Ok((g, has_spill, spill_err)) => {
                self.has_spill = has_spill;
                self.spill_err = spill_err;
                self.install_gen(Some(g))
            }
            Err(e) => {
                self.spill_err = Some(e);
                self.gen_no = None;
                self.spill_err_sync = true;
                let t = self.last_ts;
                self.push_sync(None, t);
                Ok(())
            }
        }
    }

    fn install_gen(&mut self, g: Option<Generation>) -> Result<(), GenError> {
        let Some(g) = g else {
            self.gen_no = None;
            self.done = true;
            let t = self.last_ts;
            self.push_sync(None, t);
            return Ok(());
        };
        self.generations += 1;
        self.max_gen_bytes = self.max_gen_bytes.max(g.data_bytes);
        let held_bytes = g.batches.iter().flatten().map(|b| b.data.len()).sum();
        if let Some(b) = self.feed.budget() {
            b.saw_generation(g.data_bytes);
            if let Some(old) = &self.gen_no {
                b.release(old.held_bytes);
            }
        }
        let table = Rc::new(g.table);
        let mut cur = CurGen {
            gen_no: g.gen_no,
            batches: g.batches,
            table,
            held_bytes,
        };
        self.cpu_samples = g.cpu_samples.into();
        for (mi, m) in g.batch_ms.iter().enumerate() {
            let mut bc = BatchCursor {
                mi,
                m: *m,
                last_ts: 0,
                idx: 0,
                data_off: 0,
                ev: BaseEvent::default(),
                ev_offset: 0,
                freed_bytes: 0,
            };
            let more = bc.next_event(&mut cur.batches[mi], cur.table.freq)?;
            cur.held_bytes -= bc.freed_bytes;
            if let Some(b) = self.feed.budget() {
                b.release(bc.freed_bytes);
            }
            if !more {
                continue;
            }
            heap_insert(&mut self.frontier, Box::new(bc));
        }
        let t = cur.table.mul(g.min_ts);
        let table = cur.table.clone();
        self.gen_no = Some(cur);
        self.push_sync(Some(table), t);
        Ok(())
    }
}

impl<R: Read + Send + 'static> Reader<R> {
    /// Like [`Reader::new`], but a background thread reads and decodes the next
    /// generation (batches, string and stack tables, CPU samples) while this one is
    /// ordered. Memory stays bounded: at most two generations ahead of the one in use.
    pub fn with_prefetch(name: impl Into<String>, r: R) -> Result<Self, FormatError> {
        let mut rd = Reader::new(name, r)?;
        if rd.v1.is_some() {
            return Ok(rd);
        }
        let Feed::Inline(gr) = std::mem::replace(
            &mut rd.feed,
            Feed::Thread {
                rx: sync_channel(0).1,
                pos: 0,
                ended: true,
                budget: BudgetGuard(Arc::default()),
            },
        ) else {
            unreachable!("new() reads inline");
        };
        let pos = gr.src.pos;
        let budget = Arc::new(Budget::default());
        let mut gr = gr;
        gr.src.budget = Some(budget.clone());
        let (tx, rx) = sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("gorx-trace-gen".into())
            .spawn(move || {
                loop {
                    let m = gr.next_gen();
                    let last = m.is_last();
                    if tx.send((m, gr.src.pos)).is_err() || last {
                        break;
                    }
                }
            });
        if spawned.is_err() {
            return Err(FormatError::at_offset(
                &rd.name,
                pos,
                "cannot start the reader thread",
            ));
        }
        rd.feed = Feed::Thread {
            rx,
            pos,
            ended: false,
            budget: BudgetGuard(budget),
        };
        Ok(rd)
    }
}

/// True when `validate_table_ids` would pass, decided from [`crate::fast::TABLE_ID_SLOTS`];
/// false sends the event through `validate_table_ids` for the verdict and message.
#[inline]
fn table_ids_ok(e: &Event) -> bool {
    let slots = &crate::fast::TABLE_ID_SLOTS[e.base.typ as usize];
    if *slots == [0; 4] || e.base.typ == ev::SYNC_EVENT {
        return true;
    }
    let Some(t) = e.table.as_deref() else {
        return true;
    };
    let arg = |s: u8| e.base.args[s as usize - 1];
    (slots[0] == 0 || t.stacks.contains(arg(slots[0])))
        && (slots[1] == 0 || t.stacks.contains(arg(slots[1])))
        && (slots[2] == 0 || t.strings.contains(arg(slots[2])))
        && (slots[3] == 0 || t.strings.contains(arg(slots[3])))
}

/// Go's `Event.validateTableIDs`.
fn validate_table_ids(e: &Event) -> Result<(), String> {
    if e.base.typ == ev::SYNC_EVENT {
        return Ok(());
    }
    let Some(sp) = spec::spec(e.base.typ) else {
        return Ok(());
    };
    let Some(t) = e.table.as_deref() else {
        return Ok(());
    };
    for &i in sp.stack_ids {
        let id = e.base.args[i - 1];
        if !t.stacks.contains(id) {
            return Err(format!("found invalid stack ID {id} for event {}", sp.name));
        }
    }
    for &i in sp.string_ids {
        let id = e.base.args[i - 1];
        if !t.strings.contains(id) {
            return Err(format!(
                "found invalid string ID {id} for event {}",
                sp.name
            ));
        }
    }
    Ok(())
}

impl<R: Read> Iterator for Reader<R> {
    type Item = Result<Event, FormatError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.read_event().transpose()
    }
}

#[allow(dead_code)]
fn _assert_ctx_copy(c: SchedCtx) -> SchedCtx {
    c
}
