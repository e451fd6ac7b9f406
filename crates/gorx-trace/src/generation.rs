//! Reading one generation: its batches, string and stack tables, CPU samples and
//! clock data (Go's generation.go and batch.go).

use crate::event::{
    DataTable, EvTable, ExperimentalBatch, Frame, NO_GOROUTINE, NO_THREAD, SchedCtx, ThreadId,
};
use crate::goutil::FxHashMap as HashMap;
use crate::goutil::{VarintError, read_uvarint};
use crate::spec::{self, Version, ev};
use std::io::{self, BufRead};

/// A failure while reading; `Eof` is Go's bare `io.EOF`, which its reader treats as a
/// clean end even when it comes from inside a batch.
#[derive(Debug, Clone)]
pub(crate) enum GenError {
    Eof { offset: u64 },
    Msg { offset: u64, msg: String },
}

impl GenError {
    pub fn msg(offset: u64, msg: impl Into<String>) -> GenError {
        GenError::Msg {
            offset,
            msg: msg.into(),
        }
    }
    fn from_varint(offset: u64, e: VarintError) -> GenError {
        match e {
            VarintError::Eof => GenError::Eof { offset },
            e => GenError::msg(offset, e.go_message()),
        }
    }
}

/// A byte source that counts its position (for error offsets).
pub(crate) struct Source<R> {
    r: R,
    pub pos: u64,
    /// Set when a prefetch thread reads: batch data is accounted against it.
    pub budget: Option<std::sync::Arc<crate::budget::Budget>>,
}

impl<R: BufRead> Source<R> {
    pub fn new(r: R, pos: u64) -> Self {
        Source {
            r,
            pos,
            budget: None,
        }
    }
    /// The batch data in `n` bytes was freed (or handed to a table).
    fn release(&self, n: usize) {
        if let Some(b) = &self.budget {
            b.release(n);
        }
    }
    pub fn read_byte(&mut self) -> io::Result<Option<u8>> {
        loop {
            match self.r.fill_buf() {
                Ok([]) => return Ok(None),
                Ok(b) => {
                    let c = b[0];
                    self.r.consume(1);
                    self.pos += 1;
                    return Ok(Some(c));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
    /// Read everything left (v1 traces are parsed whole).
    pub fn read_rest(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let n = self.r.read_to_end(out)?;
        self.pos += n as u64;
        Ok(())
    }
    pub fn peek_byte(&mut self) -> io::Result<Option<u8>> {
        loop {
            match self.r.fill_buf() {
                Ok(b) => return Ok(b.first().copied()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
    /// Go's `binary.ReadUvarint` on the stream.
    fn read_uvarint(&mut self) -> Result<u64, ReadVarErr> {
        let mut x: u64 = 0;
        let mut s: u32 = 0;
        for i in 0..10 {
            let b = match self.read_byte() {
                Ok(Some(b)) => b,
                Ok(None) => {
                    return Err(ReadVarErr::Varint(if i > 0 {
                        VarintError::UnexpectedEof
                    } else {
                        VarintError::Eof
                    }));
                }
                Err(e) => return Err(ReadVarErr::Io(e)),
            };
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return Err(ReadVarErr::Varint(VarintError::Overflow));
                }
                return Ok(x | (b as u64) << s);
            }
            x |= ((b & 0x7f) as u64) << s;
            s += 7;
        }
        Err(ReadVarErr::Varint(VarintError::Overflow))
    }
    /// Read up to `n` bytes (n is bounded by the caller); short only at end of input.
    fn read_up_to(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let buf = match self.r.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                break;
            }
            let k = buf.len().min(n - out.len());
            out.extend_from_slice(&buf[..k]);
            self.r.consume(k);
            self.pos += k as u64;
        }
        Ok(out)
    }
}

enum ReadVarErr {
    Varint(VarintError),
    Io(io::Error),
}

impl ReadVarErr {
    fn text(&self) -> String {
        match self {
            ReadVarErr::Varint(v) => v.go_message().to_string(),
            ReadVarErr::Io(e) => e.to_string(),
        }
    }
}

/// One batch, unparsed except for its header.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    pub m: ThreadId,
    pub time: u64,
    pub data: Vec<u8>,
    pub exp: u64,
    /// File offset of `data[0]`.
    pub offset: u64,
}

impl Batch {
    fn first(&self) -> Option<u8> {
        if self.exp == spec::NO_EXPERIMENT {
            self.data.first().copied()
        } else {
            None
        }
    }
    fn is_sync_batch(&self, ver: Version) -> bool {
        match self.first() {
            Some(ev::FREQUENCY) => ver < Version::GO125,
            Some(ev::SYNC) => ver >= Version::GO125,
            _ => false,
        }
    }
    fn is_end_of_generation(&self) -> bool {
        self.first() == Some(ev::END_OF_GENERATION)
    }
}

pub(crate) enum BatchRead {
    /// A clean end of input before the batch's first byte (or Go's bare EOF).
    Eof,
    Batch(Batch, u64),
}

/// Go's `readBatch`.
pub(crate) fn read_batch<R: BufRead>(src: &mut Source<R>) -> Result<BatchRead, GenError> {
    let start = src.pos;
    let io_err = |pos: u64, e: io::Error| GenError::msg(pos, e.to_string());
    let b = match src.read_byte() {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(BatchRead::Eof),
        Err(e) => return Err(io_err(start, e)),
    };
    if b == ev::END_OF_GENERATION {
        return Ok(BatchRead::Batch(
            Batch {
                m: NO_THREAD,
                time: 0,
                data: vec![b],
                exp: spec::NO_EXPERIMENT,
                offset: start,
            },
            0,
        ));
    }
    if b != ev::EVENT_BATCH && b != ev::EXPERIMENTAL_BATCH {
        return Err(GenError::msg(
            start,
            format!("expected batch event, got event {b}"),
        ));
    }
    let mut exp = spec::NO_EXPERIMENT;
    if b == ev::EXPERIMENTAL_BATCH {
        match src.read_byte() {
            Ok(Some(e)) => exp = e as u64,
            // Go returns the bare io.EOF here.
            Ok(None) => return Ok(BatchRead::Eof),
            Err(e) => return Err(io_err(src.pos, e)),
        }
    }
    let mut field = |what: &str| -> Result<u64, GenError> {
        let at = src.pos;
        src.read_uvarint()
            .map_err(|e| GenError::msg(at, format!("error reading batch {what}: {}", e.text())))
    };
    let gen_no = field("gen")?;
    let m = field("M ID")?;
    let ts = field("timestamp")?;
    let size = field("size")?;
    if size > spec::MAX_BATCH_SIZE {
        return Err(GenError::msg(
            src.pos,
            format!(
                "invalid batch size {size}, maximum is {}",
                spec::MAX_BATCH_SIZE
            ),
        ));
    }
    let offset = src.pos;
    let data = src
        .read_up_to(size as usize)
        .map_err(|e| io_err(src.pos, e))?;
    if let Some(b) = &src.budget {
        b.acquire(data.len());
    }
    if data.len() as u64 != size {
        return Err(GenError::msg(
            src.pos,
            format!(
                "failed to read full batch: read {} but wanted {size}",
                data.len()
            ),
        ));
    }
    Ok(BatchRead::Batch(
        Batch {
            m: m as i64,
            time: ts,
            data,
            exp,
            offset,
        },
        gen_no,
    ))
}

/// A CPU profile sample, time already in nanoseconds after fix-up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuSample {
    pub ctx: SchedCtx,
    pub time: i64,
    pub stack: u64,
}

/// Everything in one generation.
pub(crate) struct Generation {
    pub gen_no: u64,
    /// Event batches by thread, threads in order of first appearance.
    pub batches: Vec<Vec<Batch>>,
    pub batch_ms: Vec<ThreadId>,
    m_index: HashMap<ThreadId, usize>,
    pub cpu_samples: Vec<CpuSample>,
    pub min_ts: u64,
    pub table: EvTable,
    /// Bytes of batch data held (for memory accounting).
    pub data_bytes: usize,
}

impl Generation {
    pub fn new() -> Generation {
        Generation {
            gen_no: 0,
            batches: Vec::new(),
            batch_ms: Vec::new(),
            m_index: HashMap::default(),
            cpu_samples: Vec::new(),
            min_ts: 0,
            table: EvTable::default(),
            data_bytes: 0,
        }
    }
    fn has_event_batches(&self) -> bool {
        !self.batch_ms.is_empty()
    }

    /// Go's `processBatch`, releasing the budget for batch data not kept for the reader.
    fn process_batch<R: BufRead>(
        &mut self,
        b: Batch,
        ver: Version,
        src: &Source<R>,
    ) -> Result<(), GenError> {
        let n = b.data.len();
        let kept = self.process_batch_inner(b, ver)?;
        if !kept {
            src.release(n);
        }
        Ok(())
    }

    /// Go's `processBatch`; `Ok(true)` when the batch was kept as an event batch.
    fn process_batch_inner(&mut self, b: Batch, ver: Version) -> Result<bool, GenError> {
        self.data_bytes += b.data.len();
        match b.first() {
            Some(ev::STRINGS) => add_strings(&mut self.table.strings, &b).map(|()| false),
            Some(ev::STACKS) => {
                add_stacks(&mut self.table.stacks, &mut self.table.pcs, &b).map(|()| false)
            }
            Some(ev::CPU_SAMPLES) => add_cpu_samples(&mut self.cpu_samples, &b).map(|()| false),
            _ if b.is_sync_batch(ver) => set_sync_batch(&mut self.table, &b, ver).map(|()| false),
            _ if b.exp != spec::NO_EXPERIMENT => {
                self.table
                    .exp_batches
                    .entry(b.exp)
                    .or_default()
                    .push(ExperimentalBatch {
                        thread: b.m,
                        data: b.data,
                    });
                Ok(false)
            }
            Some(ev::END_OF_GENERATION) => Err(GenError::msg(
                b.offset,
                "internal error: unexpectedly processing EndOfGeneration; broken trace?",
            )),
            _ => {
                let idx = *self.m_index.entry(b.m).or_insert_with(|| {
                    self.batch_ms.push(b.m);
                    self.batches.push(Vec::new());
                    self.batch_ms.len() - 1
                });
                self.batches[idx].push(b);
                Ok(true)
            }
        }
    }

    /// The checks and fix-ups after all batches are in.
    fn finish(&mut self, ver: Version, offset: u64, need_snapshot: bool) -> Result<(), GenError> {
        if self.table.freq == 0.0 {
            return Err(GenError::msg(offset, "no frequency event found"));
        }
        if need_snapshot && ver >= Version::GO125 && !self.table.has_clock_snapshot {
            return Err(GenError::msg(offset, "no clock snapshot event found"));
        }
        self.table.stacks.compactify();
        self.table.strings.compactify();
        validate_stack_strings(&self.table, offset)?;
        let freq = self.table.freq;
        for s in &mut self.cpu_samples {
            s.time = crate::event::mul_freq(freq, s.time as u64);
        }
        // Go's (unstable) pdqsort: ties keep the order Go gives them.
        crate::gosort::sort_func(&mut self.cpu_samples, |a, b| a.time < b.time);
        Ok(())
    }
}

fn validate_stack_strings(t: &EvTable, offset: u64) -> Result<(), GenError> {
    let mut ids: Vec<(u64, &Box<[u64]>)> = t.stacks.iter().collect();
    ids.sort_by_key(|(id, _)| *id);
    for (id, stk) in ids {
        for pc in stk.iter() {
            let Some(f) = t.pcs.get(pc) else {
                return Err(GenError::msg(
                    offset,
                    format!("found unknown pc {pc:x} for stack {id}"),
                ));
            };
            if !t.strings.contains(f.func_id) {
                return Err(GenError::msg(
                    offset,
                    format!("found invalid func string ID {} for stack {id}", f.func_id),
                ));
            }
            if !t.strings.contains(f.file_id) {
                return Err(GenError::msg(
                    offset,
                    format!("found invalid file string ID {} for stack {id}", f.file_id),
                ));
            }
        }
    }
    Ok(())
}

fn add_strings(table: &mut DataTable<Box<[u8]>>, b: &Batch) -> Result<(), GenError> {
    let d = &b.data;
    let mut p = 1usize;
    let at = |p: usize| b.offset + p as u64;
    while p < d.len() {
        let evb = d[p];
        p += 1;
        if evb != ev::STRING {
            return Err(GenError::msg(
                at(p - 1),
                format!("expected string event, got {evb}"),
            ));
        }
        let id = read_uvarint(d, &mut p).map_err(|e| GenError::from_varint(at(p), e))?;
        let len = read_uvarint(d, &mut p).map_err(|e| GenError::from_varint(at(p), e))?;
        if len > spec::MAX_EVENT_TRAILER_DATA_SIZE {
            return Err(GenError::msg(
                at(p),
                format!(
                    "invalid string size {len}, maximum is {}",
                    spec::MAX_EVENT_TRAILER_DATA_SIZE
                ),
            ));
        }
        let avail = d.len() - p;
        if (len as usize) > avail {
            return Err(GenError::msg(
                at(p),
                format!("failed to read full string: read {avail} but wanted {len}"),
            ));
        }
        let s: Box<[u8]> = d[p..p + len as usize].into();
        p += len as usize;
        if let Some(existing) = table.get(id) {
            return Err(GenError::msg(
                at(p),
                format!(
                    "multiple strings with the same ID: id={id}, new={}, existing={}",
                    String::from_utf8_lossy(&s),
                    String::from_utf8_lossy(existing)
                ),
            ));
        }
        if !table.insert(id, s) {
            return Err(GenError::msg(
                at(p),
                format!("multiple strings with the same ID: id={id}, new=, existing="),
            ));
        }
    }
    Ok(())
}

fn fmt_pcs(p: &[u64]) -> String {
    let v: Vec<String> = p.iter().map(|x| x.to_string()).collect();
    format!("{{[{}]}}", v.join(" "))
}

fn add_stacks(
    table: &mut DataTable<Box<[u64]>>,
    pcs: &mut HashMap<u64, Frame>,
    b: &Batch,
) -> Result<(), GenError> {
    let d = &b.data;
    let mut p = 1usize;
    let at = |p: usize| b.offset + p as u64;
    while p < d.len() {
        let evb = d[p];
        p += 1;
        if evb != ev::STACK {
            return Err(GenError::msg(
                at(p - 1),
                format!("expected stack event, got {evb}"),
            ));
        }
        let id = read_uvarint(d, &mut p).map_err(|e| GenError::from_varint(at(p), e))?;
        let n = read_uvarint(d, &mut p).map_err(|e| GenError::from_varint(at(p), e))?;
        if n > spec::MAX_FRAMES_PER_STACK {
            return Err(GenError::msg(
                at(p),
                format!(
                    "invalid stack size {n}, maximum is {}",
                    spec::MAX_FRAMES_PER_STACK
                ),
            ));
        }
        let mut frames = Vec::with_capacity(n as usize);
        for i in 0..n {
            let mut field = |what: &str| {
                read_uvarint(d, &mut p).map_err(|e| {
                    GenError::msg(
                        at(p),
                        format!(
                            "reading frame {}'s {what} for stack {id}: {}",
                            i + 1,
                            e.go_message()
                        ),
                    )
                })
            };
            let pc = field("PC")?;
            let func_id = field("funcID")?;
            let file_id = field("fileID")?;
            let line = field("line")?;
            frames.push(pc);
            pcs.entry(pc).or_insert(Frame {
                pc,
                func_id,
                file_id,
                line,
            });
        }
        if let Some(existing) = table.get(id) {
            return Err(GenError::msg(
                at(p),
                format!(
                    "multiple trace.stacks with the same ID: id={id}, new={}, existing={}",
                    fmt_pcs(&frames),
                    fmt_pcs(existing)
                ),
            ));
        }
        if !table.insert(id, frames.into_boxed_slice()) {
            return Err(GenError::msg(
                at(p),
                format!(
                    "multiple trace.stacks with the same ID: id={id}, new={{[]}}, existing={{[]}}"
                ),
            ));
        }
    }
    Ok(())
}

fn add_cpu_samples(samples: &mut Vec<CpuSample>, b: &Batch) -> Result<(), GenError> {
    let d = &b.data;
    let mut p = 1usize;
    let at = |p: usize| b.offset + p as u64;
    while p < d.len() {
        let evb = d[p];
        p += 1;
        if evb != ev::CPU_SAMPLE {
            return Err(GenError::msg(
                at(p - 1),
                format!("expected CPU sample event, got {evb}"),
            ));
        }
        let mut f = || read_uvarint(d, &mut p).map_err(|e| GenError::from_varint(b.offset, e));
        let ts = f()?;
        let m = f()?;
        let pr = f()?;
        let g = f()?;
        let s = f()?;
        samples.push(CpuSample {
            ctx: SchedCtx {
                m: m as i64,
                p: pr as i64,
                g: if g == 0 { NO_GOROUTINE } else { g as i64 },
            },
            time: ts as i64,
            stack: s,
        });
    }
    Ok(())
}

fn set_sync_batch(t: &mut EvTable, b: &Batch, ver: Version) -> Result<(), GenError> {
    let d = &b.data;
    let mut p = if ver >= Version::GO125 { 1 } else { 0 };
    let mut last_ts = b.time;
    let at = |p: usize| b.offset + p as u64;
    while p < d.len() {
        let evb = d[p];
        p += 1;
        let mut f = || read_uvarint(d, &mut p).map_err(|e| GenError::from_varint(b.offset, e));
        if evb == ev::FREQUENCY {
            if t.freq != 0.0 {
                return Err(GenError::msg(at(p - 1), "found multiple frequency events"));
            }
            let fr = f()?;
            t.freq = 1.0 / (fr as f64 / 1e9);
        } else if evb == ev::CLOCK_SNAPSHOT && ver >= Version::GO125 {
            if t.has_clock_snapshot {
                return Err(GenError::msg(
                    at(p - 1),
                    "found multiple clock snapshot events",
                ));
            }
            t.has_clock_snapshot = true;
            let tdiff = f()?;
            last_ts = last_ts.wrapping_add(tdiff);
            t.snap_time = last_ts;
            t.snap_mono = f()?;
            t.snap_sec = f()?;
            t.snap_nsec = f()?;
        } else {
            return Err(GenError::msg(
                at(p - 1),
                format!("expected frequency or clock snapshot event, got {evb}"),
            ));
        }
    }
    Ok(())
}

/// The first batch of the next generation, read while finding the end of this one
/// (traces before Go 1.26 have no end-of-generation marker).
pub(crate) struct Spilled {
    pub gen_no: u64,
    pub batch: Batch,
}

/// Go's `readGeneration` (Go 1.26+ traces): `Ok(None)` at a clean end.
pub(crate) fn read_generation<R: BufRead>(
    src: &mut Source<R>,
    ver: Version,
) -> Result<Option<Generation>, GenError> {
    let mut g = Generation::new();
    g.table.version = ver.0;
    loop {
        let (b, gen_no) = match read_batch(src)? {
            BatchRead::Eof => {
                if g.has_event_batches() {
                    return Err(GenError::msg(
                        src.pos,
                        "incomplete generation found; trace likely truncated",
                    ));
                }
                return Ok(None);
            }
            BatchRead::Batch(b, gen_no) => (b, gen_no),
        };
        if g.gen_no == 0 {
            g.gen_no = gen_no;
        }
        if b.is_end_of_generation() {
            break;
        }
        if gen_no == 0 {
            return Err(GenError::msg(b.offset, "invalid generation number 0"));
        }
        if gen_no != g.gen_no {
            return Err(GenError::msg(
                b.offset,
                "broken trace: missing end-of-generation event, or generations are interleaved",
            ));
        }
        if g.min_ts == 0 || b.time < g.min_ts {
            g.min_ts = b.time;
        }
        g.process_batch(b, ver, src)?;
    }
    g.finish(ver, src.pos, true)?;
    Ok(Some(g))
}

/// Go's `readGenerationWithSpill` (traces before Go 1.26). Returns the generation (if
/// any), the spilled first batch of the next one, and a deferred error.
pub(crate) fn read_generation_with_spill<R: BufRead>(
    src: &mut Source<R>,
    spill: Option<Spilled>,
    ver: Version,
) -> Result<(Generation, Option<Spilled>, Option<GenError>), GenError> {
    let mut g = Generation::new();
    g.table.version = ver.0;
    if let Some(sp) = spill {
        g.gen_no = sp.gen_no;
        g.min_ts = sp.batch.time;
        g.process_batch(sp.batch, ver, src)?;
    }
    let mut spill = None;
    let mut spill_err = None;
    loop {
        let (b, gen_no) = match read_batch(src) {
            Ok(BatchRead::Eof) => break,
            Ok(BatchRead::Batch(b, gen_no)) => (b, gen_no),
            Err(e) => {
                if g.gen_no != 0 {
                    spill_err = Some(e);
                    break;
                }
                return Err(e);
            }
        };
        if gen_no == 0 {
            return Err(GenError::msg(b.offset, "invalid generation number 0"));
        }
        if g.gen_no == 0 {
            g.gen_no = gen_no;
        }
        if gen_no == g.gen_no.wrapping_add(1) {
            spill = Some(Spilled { gen_no, batch: b });
            break;
        }
        if gen_no != g.gen_no {
            return Err(GenError::msg(b.offset, "generations out of order"));
        }
        if g.min_ts == 0 || b.time < g.min_ts {
            g.min_ts = b.time;
        }
        g.process_batch(b, ver, src)?;
    }
    g.finish(ver, src.pos, true)?;
    Ok((g, spill, spill_err))
}

/// One step of generation reading, in the shape each reader path needs.
pub(crate) enum GenMsg {
    /// Go 1.26+: a generation, a clean end (`None`), or an error.
    V126(Result<Option<Generation>, GenError>),
    /// Before Go 1.26: a generation, whether a next one has begun, and a deferred error.
    Spill(Result<(Generation, bool, Option<GenError>), GenError>),
}

impl GenMsg {
    /// True when no further generation can follow.
    pub fn is_last(&self) -> bool {
        match self {
            GenMsg::V126(Ok(Some(_))) => false,
            GenMsg::V126(_) => true,
            GenMsg::Spill(Ok((_, has_next, err))) => !*has_next || err.is_some(),
            GenMsg::Spill(Err(_)) => true,
        }
    }
}

/// Reads generations one after another from a byte source.
pub(crate) struct GenReader<R> {
    pub src: Source<R>,
    ver: Version,
    spill: Option<Spilled>,
}

impl<R: BufRead> GenReader<R> {
    pub fn new(src: Source<R>, ver: Version) -> Self {
        GenReader {
            src,
            ver,
            spill: None,
        }
    }
    pub fn next_gen(&mut self) -> GenMsg {
        if self.ver >= Version::GO126 {
            return GenMsg::V126(read_generation(&mut self.src, self.ver));
        }
        let spill = self.spill.take();
        GenMsg::Spill(
            read_generation_with_spill(&mut self.src, spill, self.ver).map(|(g, sp, err)| {
                let has_next = sp.is_some();
                self.spill = sp;
                (g, has_next, err)
            }),
        )
    }
}
