//! pprof profiles: the protobuf form (gzipped or not) and the legacy `?debug=1` text forms.
//!
//! - [`parse`] decodes `profile.proto` (github.com/google/pprof/proto/profile.proto) from
//!   gzip (single or multi-member, any block type) or raw bytes, chosen by magic bytes,
//!   into a resolved [`Profile`]: samples point at [`Location`]s by index, locations at
//!   [`Function`]s by index, every id and string index is validated.
//! - [`legacy`] parses the text forms: heap (with the `# runtime.MemStats` trailer), count
//!   profiles (goroutine, threadcreate) and contention profiles (mutex, block).
//!
//! Errors are [`FormatError`]s naming the input and the byte offset; offsets into the
//! decompressed data say so in the message.

pub mod encode;
pub mod legacy;
mod proto;
mod wire;

use crate::FormatError;
use std::io::Read;
use std::sync::Arc;

/// A sample type or period type, e.g. `cpu`/`nanoseconds`, `inuse_space`/`bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueType {
    pub ty: Arc<str>,
    pub unit: Arc<str>,
}

/// A decoded profile with all references resolved to indices into its own tables.
#[derive(Debug, Clone)]
pub struct Profile {
    pub sample_types: Vec<ValueType>,
    pub samples: Vec<Sample>,
    pub mappings: Vec<Mapping>,
    pub locations: Vec<Location>,
    pub functions: Vec<Function>,
    /// Regexp of frames pprof drops (empty when unset).
    pub drop_frames: Arc<str>,
    /// Regexp of frames pprof keeps despite `drop_frames` (empty when unset).
    pub keep_frames: Arc<str>,
    pub time_nanos: i64,
    pub duration_nanos: i64,
    pub period_type: Option<ValueType>,
    pub period: i64,
    pub comments: Vec<Arc<str>>,
    pub default_sample_type: Option<Arc<str>>,
}

#[derive(Debug, Clone)]
pub struct Sample {
    /// Indices into [`Profile::locations`], leaf first.
    pub locations: Vec<u32>,
    /// One value per [`Profile::sample_types`] entry.
    pub values: Vec<i64>,
    pub labels: Vec<Label>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub key: Arc<str>,
    pub value: LabelValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelValue {
    Str(Arc<str>),
    Num { value: i64, unit: Option<Arc<str>> },
}

#[derive(Debug, Clone)]
pub struct Mapping {
    pub id: u64,
    pub memory_start: u64,
    pub memory_limit: u64,
    pub file_offset: u64,
    pub filename: Arc<str>,
    pub build_id: Arc<str>,
    pub has_functions: bool,
    pub has_filenames: bool,
    pub has_line_numbers: bool,
    pub has_inline_frames: bool,
}

#[derive(Debug, Clone)]
pub struct Location {
    pub id: u64,
    /// Index into [`Profile::mappings`].
    pub mapping: Option<u32>,
    pub address: u64,
    /// Leaf first: `lines[0]` is the innermost inlined function, the last is its caller.
    pub lines: Vec<Line>,
    pub is_folded: bool,
    /// For a location without lines, or with lines whose function has no name: the name
    /// `go tool pprof` shows at function granularity (`[binary]` or `<unknown>`).
    pub unsymbolized_name: Option<Arc<str>>,
}

#[derive(Debug, Clone, Copy)]
pub struct Line {
    /// Index into [`Profile::functions`].
    pub function: u32,
    pub line: i64,
    pub column: i64,
}

#[derive(Debug, Clone)]
pub struct Function {
    pub id: u64,
    pub name: Arc<str>,
    pub system_name: Arc<str>,
    pub filename: Arc<str>,
    pub start_line: i64,
}

/// One resolved stack frame.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub function: &'a str,
    pub file: &'a str,
    pub line: i64,
    /// True for a frame that was inlined into the next one (its caller).
    pub inlined: bool,
    pub address: u64,
}

impl Profile {
    /// Index of a sample type by name (`alloc_space`), or by number (`"2"`).
    pub fn sample_type_index(&self, name: &str) -> Option<usize> {
        if let Some(i) = self.sample_types.iter().position(|t| &*t.ty == name) {
            return Some(i);
        }
        name.parse::<usize>()
            .ok()
            .filter(|&i| i < self.sample_types.len())
    }

    /// The sample type `go tool pprof` shows by default: `default_sample_type` when set
    /// (and present), else the last one. `None` for a profile without sample types.
    pub fn default_sample_index(&self) -> Option<usize> {
        if let Some(d) = &self.default_sample_type
            && let Some(i) = self.sample_types.iter().position(|t| t.ty == *d)
        {
            return Some(i);
        }
        self.sample_types.len().checked_sub(1)
    }

    /// Display name of the frames of one location, leaf first (one per inlined function),
    /// with pprof's `[binary]`/`<unknown>` for frames without a function name.
    pub fn location_names(&self, loc: u32) -> impl Iterator<Item = &str> + '_ {
        let l = &self.locations[loc as usize];
        let unsym = l.unsymbolized_name.as_deref();
        let named = l.lines.iter().map(move |ln| {
            let n = &*self.functions[ln.function as usize].name;
            if n.is_empty() { unsym.unwrap_or(n) } else { n }
        });
        named.chain(if l.lines.is_empty() { unsym } else { None })
    }

    /// The frames of a sample, leaf first, inlined frames expanded as pprof does.
    pub fn frames<'a>(&'a self, s: &'a Sample) -> impl Iterator<Item = Frame<'a>> + 'a {
        s.locations.iter().flat_map(move |&li| {
            let l = &self.locations[li as usize];
            let n = l.lines.len();
            let sym = l.lines.iter().enumerate().map(move |(i, ln)| {
                let f = &self.functions[ln.function as usize];
                let function = match (&*f.name, l.unsymbolized_name.as_deref()) {
                    ("", Some(u)) => u,
                    (name, _) => name,
                };
                Frame {
                    function,
                    file: &f.filename,
                    line: ln.line,
                    inlined: i + 1 < n,
                    address: l.address,
                }
            });
            let unsym = l
                .unsymbolized_name
                .as_deref()
                .filter(|_| n == 0)
                .map(|name| Frame {
                    function: name,
                    file: "",
                    line: 0,
                    inlined: false,
                    address: l.address,
                });
            sym.chain(unsym)
        })
    }

    /// Sum of the absolute values of one sample type (what pprof calls the total).
    pub fn total(&self, index: usize) -> i64 {
        self.samples
            .iter()
            .map(|s| s.values.get(index).copied().unwrap_or(0).saturating_abs())
            .fold(0i64, |a, b| a.saturating_add(b))
    }
}

/// True when the bytes start like gzip.
pub fn is_gzip(data: &[u8]) -> bool {
    data.starts_with(&[0x1f, 0x8b])
}

/// Counts bytes consumed from the compressed input so a gzip error has an offset.
struct Counting<'a> {
    inner: &'a [u8],
    consumed: usize,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed += n;
        Ok(n)
    }
}

/// Decompresses gzip (all members) into a buffer grown by what actually decompresses,
/// never by the size the trailer claims.
pub fn gunzip(input: &str, data: &[u8]) -> Result<Vec<u8>, FormatError> {
    let mut counting = Counting {
        inner: data,
        consumed: 0,
    };
    // A capacity guess from the compressed size only; grows as data really arrives.
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(1 << 30));
    let mut dec = flate2::read::MultiGzDecoder::new(&mut counting);
    if let Err(e) = dec.read_to_end(&mut out) {
        drop(dec);
        return Err(FormatError::at_offset(
            input,
            counting.consumed as u64,
            format!(
                "bad gzip data (offset into the compressed input, {} bytes decompressed before the error): {e}",
                out.len()
            ),
        ));
    }
    Ok(out)
}

/// Parses a pprof protobuf profile, gzipped or not (decided by magic bytes).
pub fn parse(input: &str, data: &[u8]) -> Result<Profile, FormatError> {
    if data.is_empty() {
        return Err(FormatError::at_offset(
            input,
            0,
            "empty input, expected a pprof profile",
        ));
    }
    if is_gzip(data) {
        let raw = gunzip(input, data)?;
        if raw.is_empty() {
            return Err(FormatError::at_offset(
                input,
                0,
                "gzip stream decompresses to nothing, expected a pprof profile",
            ));
        }
        parse_uncompressed(input, &raw, true)
    } else {
        parse_uncompressed(input, data, false)
    }
}

/// Decodes uncompressed profile.proto bytes. `decompressed` only changes the wording of
/// error offsets.
pub fn parse_uncompressed(
    input: &str,
    data: &[u8],
    decompressed: bool,
) -> Result<Profile, FormatError> {
    proto::decode(data).map_err(|e| e.into_format(input, decompressed))
}

/// Reads and parses a profile file. I/O errors become whole-input errors.
pub fn parse_file(path: &std::path::Path) -> Result<Profile, FormatError> {
    let name = path.display().to_string();
    let data = std::fs::read(path).map_err(|e| FormatError::whole(&name, e.to_string()))?;
    parse(&name, &data)
}
