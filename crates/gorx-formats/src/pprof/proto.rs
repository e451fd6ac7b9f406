//! Decoding profile.proto (github.com/google/pprof/proto/profile.proto) into [`Profile`].
//!
//! Pass 1 walks the top-level message once, decoding the small tables (sample types,
//! mappings, locations, functions, strings) and remembering where each sample is. Pass 2
//! decodes the samples straight into their resolved form, validating every id.

use super::wire::{Reader, WResult, WT_LEN, WireError, packed_count};
use super::{Function, Label, LabelValue, Line, Location, Mapping, Profile, Sample, ValueType};
use std::collections::HashMap;
use std::sync::Arc;

/// String-table index with the offset of the message that used it (for errors).
#[derive(Clone, Copy, Default)]
struct StrRef {
    idx: u64,
    at: usize,
}

#[derive(Default)]
struct RawValueType {
    ty: StrRef,
    unit: StrRef,
}

#[derive(Default)]
struct RawMapping {
    at: usize,
    id: u64,
    memory_start: u64,
    memory_limit: u64,
    file_offset: u64,
    filename: StrRef,
    build_id: StrRef,
    has_functions: bool,
    has_filenames: bool,
    has_line_numbers: bool,
    has_inline_frames: bool,
}

struct RawLine {
    function_id: u64,
    line: i64,
    column: i64,
}

#[derive(Default)]
struct RawLocation {
    at: usize,
    id: u64,
    mapping_id: u64,
    address: u64,
    lines: Vec<RawLine>,
    is_folded: bool,
}

#[derive(Default)]
struct RawFunction {
    at: usize,
    id: u64,
    name: StrRef,
    system_name: StrRef,
    filename: StrRef,
    start_line: i64,
}

/// Maps protobuf ids (arbitrary u64, usually 1..=n) to table indices.
enum IdMap {
    /// id == index + 1 for every entry: what Go's runtime writes.
    Dense(usize),
    Sparse(HashMap<u64, u32>),
}

impl IdMap {
    fn build(ids: impl Iterator<Item = (u64, usize)>, n: usize, what: &str) -> WResult<Self> {
        let ids: Vec<(u64, usize)> = ids.collect();
        if ids
            .iter()
            .enumerate()
            .all(|(i, (id, _))| *id == i as u64 + 1)
        {
            return Ok(IdMap::Dense(n));
        }
        let mut m = HashMap::with_capacity(ids.len());
        for (i, (id, at)) in ids.into_iter().enumerate() {
            if id == 0 {
                return Err(WireError::new(at, format!("{what} id 0 is reserved")));
            }
            if m.insert(id, i as u32).is_some() {
                return Err(WireError::new(at, format!("duplicate {what} id {id}")));
            }
        }
        Ok(IdMap::Sparse(m))
    }

    #[inline]
    fn get(&self, id: u64) -> Option<u32> {
        match self {
            IdMap::Dense(n) => (id >= 1 && id <= *n as u64).then(|| (id - 1) as u32),
            IdMap::Sparse(m) => m.get(&id).copied(),
        }
    }
}

fn value_type(mut r: Reader<'_>) -> WResult<RawValueType> {
    let mut v = RawValueType::default();
    while !r.at_end() {
        let at = r.offset();
        let (f, wt) = r.key()?;
        match f {
            1 => {
                v.ty = StrRef {
                    idx: r.expect_varint(wt, at, "ValueType.type")?,
                    at,
                }
            }
            2 => {
                v.unit = StrRef {
                    idx: r.expect_varint(wt, at, "ValueType.unit")?,
                    at,
                }
            }
            _ => r.skip(wt, at)?,
        }
    }
    Ok(v)
}

fn mapping(mut r: Reader<'_>) -> WResult<RawMapping> {
    let mut m = RawMapping {
        at: r.offset(),
        ..Default::default()
    };
    while !r.at_end() {
        let at = r.offset();
        let (f, wt) = r.key()?;
        let what = "Mapping field";
        match f {
            1 => m.id = r.expect_varint(wt, at, what)?,
            2 => m.memory_start = r.expect_varint(wt, at, what)?,
            3 => m.memory_limit = r.expect_varint(wt, at, what)?,
            4 => m.file_offset = r.expect_varint(wt, at, what)?,
            5 => {
                m.filename = StrRef {
                    idx: r.expect_varint(wt, at, what)?,
                    at,
                }
            }
            6 => {
                m.build_id = StrRef {
                    idx: r.expect_varint(wt, at, what)?,
                    at,
                }
            }
            7 => m.has_functions = r.expect_varint(wt, at, what)? != 0,
            8 => m.has_filenames = r.expect_varint(wt, at, what)? != 0,
            9 => m.has_line_numbers = r.expect_varint(wt, at, what)? != 0,
            10 => m.has_inline_frames = r.expect_varint(wt, at, what)? != 0,
            _ => r.skip(wt, at)?,
        }
    }
    Ok(m)
}

fn line(mut r: Reader<'_>) -> WResult<RawLine> {
    let mut l = RawLine {
        function_id: 0,
        line: 0,
        column: 0,
    };
    while !r.at_end() {
        let at = r.offset();
        let (f, wt) = r.key()?;
        match f {
            1 => l.function_id = r.expect_varint(wt, at, "Line.function_id")?,
            2 => l.line = r.expect_varint(wt, at, "Line.line")? as i64,
            3 => l.column = r.expect_varint(wt, at, "Line.column")? as i64,
            _ => r.skip(wt, at)?,
        }
    }
    Ok(l)
}

fn location(mut r: Reader<'_>) -> WResult<RawLocation> {
    let mut l = RawLocation {
        at: r.offset(),
        ..Default::default()
    };
    while !r.at_end() {
        let at = r.offset();
        let (f, wt) = r.key()?;
        match f {
            1 => l.id = r.expect_varint(wt, at, "Location.id")?,
            2 => l.mapping_id = r.expect_varint(wt, at, "Location.mapping_id")?,
            3 => l.address = r.expect_varint(wt, at, "Location.address")?,
            4 => l.lines.push(line(r.expect_len(wt, at, "Location.line")?)?),
            5 => l.is_folded = r.expect_varint(wt, at, "Location.is_folded")? != 0,
            _ => r.skip(wt, at)?,
        }
    }
    Ok(l)
}

fn function(mut r: Reader<'_>) -> WResult<RawFunction> {
    let mut fun = RawFunction {
        at: r.offset(),
        ..Default::default()
    };
    while !r.at_end() {
        let at = r.offset();
        let (f, wt) = r.key()?;
        let what = "Function field";
        match f {
            1 => fun.id = r.expect_varint(wt, at, what)?,
            2 => {
                fun.name = StrRef {
                    idx: r.expect_varint(wt, at, what)?,
                    at,
                }
            }
            3 => {
                fun.system_name = StrRef {
                    idx: r.expect_varint(wt, at, what)?,
                    at,
                }
            }
            4 => {
                fun.filename = StrRef {
                    idx: r.expect_varint(wt, at, what)?,
                    at,
                }
            }
            5 => fun.start_line = r.expect_varint(wt, at, what)? as i64,
            _ => r.skip(wt, at)?,
        }
    }
    Ok(fun)
}

struct Strings {
    table: Vec<Arc<str>>,
    empty: Arc<str>,
}

impl Strings {
    #[inline]
    fn get(&self, s: StrRef, what: &str) -> WResult<Arc<str>> {
        match self.table.get(s.idx as usize) {
            Some(v) => Ok(v.clone()),
            // An empty table with index 0 is a profile that never wrote "" first; be lenient.
            None if s.idx == 0 => Ok(self.empty.clone()),
            None => Err(WireError::new(
                s.at,
                format!(
                    "{what}: string index {} out of range (string table has {} entries)",
                    s.idx,
                    self.table.len()
                ),
            )),
        }
    }
    fn opt(&self, s: StrRef, what: &str) -> WResult<Option<Arc<str>>> {
        let v = self.get(s, what)?;
        Ok((!v.is_empty()).then_some(v))
    }
}

/// Decodes an uncompressed profile.proto message.
pub(crate) fn decode(buf: &[u8]) -> WResult<Profile> {
    let mut r = Reader::new(buf, 0);
    let mut sample_types = Vec::new();
    let mut sample_readers: Vec<Reader<'_>> = Vec::new();
    let mut mappings = Vec::new();
    let mut locations = Vec::new();
    let mut functions = Vec::new();
    let mut strings: Vec<Arc<str>> = Vec::new();
    let mut drop_frames = StrRef::default();
    let mut keep_frames = StrRef::default();
    let mut time_nanos = 0i64;
    let mut duration_nanos = 0i64;
    let mut period_type = None;
    let mut period = 0i64;
    let mut comments: Vec<StrRef> = Vec::new();
    let mut default_sample_type = StrRef::default();

    while !r.at_end() {
        let at = r.offset();
        let (f, wt) = r.key()?;
        match f {
            1 => sample_types.push(value_type(r.expect_len(wt, at, "Profile.sample_type")?)?),
            2 => sample_readers.push(r.expect_len(wt, at, "Profile.sample")?),
            3 => mappings.push(mapping(r.expect_len(wt, at, "Profile.mapping")?)?),
            4 => locations.push(location(r.expect_len(wt, at, "Profile.location")?)?),
            5 => functions.push(function(r.expect_len(wt, at, "Profile.function")?)?),
            6 => {
                if wt != WT_LEN {
                    return Err(WireError::new(at, "Profile.string_table: expected bytes"));
                }
                let (b, _) = r.bytes()?;
                // Go strings may hold any bytes; keep going with U+FFFD rather than fail.
                strings.push(Arc::from(String::from_utf8_lossy(b).as_ref()));
            }
            7 => {
                drop_frames = StrRef {
                    idx: r.expect_varint(wt, at, "Profile.drop_frames")?,
                    at,
                }
            }
            8 => {
                keep_frames = StrRef {
                    idx: r.expect_varint(wt, at, "Profile.keep_frames")?,
                    at,
                }
            }
            9 => time_nanos = r.expect_varint(wt, at, "Profile.time_nanos")? as i64,
            10 => duration_nanos = r.expect_varint(wt, at, "Profile.duration_nanos")? as i64,
            11 => period_type = Some(value_type(r.expect_len(wt, at, "Profile.period_type")?)?),
            12 => period = r.expect_varint(wt, at, "Profile.period")? as i64,
            13 => r.repeated_varint(wt, at, "Profile.comment", |v, at| {
                comments.push(StrRef { idx: v, at });
                Ok(())
            })?,
            14 => {
                default_sample_type = StrRef {
                    idx: r.expect_varint(wt, at, "Profile.default_sample_type")?,
                    at,
                }
            }
            _ => r.skip(wt, at)?,
        }
    }

    let strings = Strings {
        table: strings,
        empty: Arc::from(""),
    };
    let vt = |v: &RawValueType| -> WResult<ValueType> {
        Ok(ValueType {
            ty: strings.get(v.ty, "ValueType.type")?,
            unit: strings.get(v.unit, "ValueType.unit")?,
        })
    };
    let sample_types: Vec<ValueType> = sample_types.iter().map(vt).collect::<WResult<_>>()?;
    let period_type = period_type.as_ref().map(vt).transpose()?;

    let mapping_ids = IdMap::build(
        mappings.iter().map(|m: &RawMapping| (m.id, m.at)),
        mappings.len(),
        "mapping",
    )?;
    let mappings: Vec<Mapping> = mappings
        .iter()
        .map(|m| {
            Ok(Mapping {
                id: m.id,
                memory_start: m.memory_start,
                memory_limit: m.memory_limit,
                file_offset: m.file_offset,
                filename: strings.get(m.filename, "Mapping.filename")?,
                build_id: strings.get(m.build_id, "Mapping.build_id")?,
                has_functions: m.has_functions,
                has_filenames: m.has_filenames,
                has_line_numbers: m.has_line_numbers,
                has_inline_frames: m.has_inline_frames,
            })
        })
        .collect::<WResult<_>>()?;

    let function_ids = IdMap::build(
        functions.iter().map(|f: &RawFunction| (f.id, f.at)),
        functions.len(),
        "function",
    )?;
    let functions: Vec<Function> = functions
        .iter()
        .map(|f| {
            Ok(Function {
                id: f.id,
                name: strings.get(f.name, "Function.name")?,
                system_name: strings.get(f.system_name, "Function.system_name")?,
                filename: strings.get(f.filename, "Function.filename")?,
                start_line: f.start_line,
            })
        })
        .collect::<WResult<_>>()?;

    let location_ids = IdMap::build(
        locations.iter().map(|l: &RawLocation| (l.id, l.at)),
        locations.len(),
        "location",
    )?;
    let locations: Vec<Location> = locations
        .into_iter()
        .map(|l| {
            let mapping = if l.mapping_id == 0 {
                None
            } else {
                Some(mapping_ids.get(l.mapping_id).ok_or_else(|| {
                    WireError::new(
                        l.at,
                        format!(
                            "location {} refers to unknown mapping id {}",
                            l.id, l.mapping_id
                        ),
                    )
                })?)
            };
            let lines = l
                .lines
                .iter()
                .map(|ln| {
                    let function = function_ids.get(ln.function_id).ok_or_else(|| {
                        WireError::new(
                            l.at,
                            format!(
                                "location {} refers to unknown function id {}",
                                l.id, ln.function_id
                            ),
                        )
                    })?;
                    Ok(Line {
                        function,
                        line: ln.line,
                        column: ln.column,
                    })
                })
                .collect::<WResult<Vec<_>>>()?;
            // pprof shows `[binary]`/`<unknown>` for a location without lines and for
            // lines whose function has no name (threadcreate's 0xfff...f frames).
            let unsymbolized_name = if lines.is_empty()
                || lines
                    .iter()
                    .any(|ln| functions[ln.function as usize].name.is_empty())
            {
                Some(unsymbolized_name(
                    mapping.map(|m| &*mappings[m as usize].filename),
                ))
            } else {
                None
            };
            Ok(Location {
                id: l.id,
                mapping,
                address: l.address,
                lines,
                is_folded: l.is_folded,
                unsymbolized_name,
            })
        })
        .collect::<WResult<_>>()?;

    let n_types = sample_types.len();
    let mut samples = Vec::with_capacity(sample_readers.len());
    for sr in sample_readers {
        samples.push(sample(sr, n_types, &location_ids, &strings)?);
    }

    Ok(Profile {
        drop_frames: strings.get(drop_frames, "Profile.drop_frames")?,
        keep_frames: strings.get(keep_frames, "Profile.keep_frames")?,
        comments: comments
            .iter()
            .map(|c| strings.get(*c, "Profile.comment"))
            .collect::<WResult<_>>()?,
        default_sample_type: strings.opt(default_sample_type, "Profile.default_sample_type")?,
        sample_types,
        samples,
        mappings,
        locations,
        functions,
        time_nanos,
        duration_nanos,
        period_type,
        period,
    })
}

/// What `go tool pprof` prints for a location without symbols at function granularity.
fn unsymbolized_name(mapping_file: Option<&str>) -> Arc<str> {
    match mapping_file {
        Some(f) if !f.is_empty() => {
            let base = f.rsplit('/').next().unwrap_or(f);
            Arc::from(format!("[{base}]"))
        }
        _ => Arc::from("<unknown>"),
    }
}

fn sample(
    mut r: Reader<'_>,
    n_types: usize,
    location_ids: &IdMap,
    strings: &Strings,
) -> WResult<Sample> {
    let start = r.offset();
    let mut locs: Vec<u32> = Vec::new();
    let mut values: Vec<i64> = Vec::with_capacity(n_types);
    let mut labels = Vec::new();
    while !r.at_end() {
        let at = r.offset();
        let (f, wt) = r.key()?;
        match f {
            1 => {
                if wt == WT_LEN {
                    // Size exactly from the bytes present (never from a claim).
                    let mut pr = r.message()?;
                    locs.reserve(packed_count(pr_bytes(&pr)));
                    while !pr.at_end() {
                        let at = pr.offset();
                        let id = pr.varint()?;
                        locs.push(location_ids.get(id).ok_or_else(|| {
                            WireError::new(at, format!("sample refers to unknown location id {id}"))
                        })?);
                    }
                } else {
                    r.repeated_varint(wt, at, "Sample.location_id", |id, at| {
                        locs.push(location_ids.get(id).ok_or_else(|| {
                            WireError::new(at, format!("sample refers to unknown location id {id}"))
                        })?);
                        Ok(())
                    })?
                }
            }
            2 => r.repeated_varint(wt, at, "Sample.value", |v, _| {
                values.push(v as i64);
                Ok(())
            })?,
            3 => labels.push(label(r.expect_len(wt, at, "Sample.label")?, strings)?),
            _ => r.skip(wt, at)?,
        }
    }
    if values.len() != n_types {
        return Err(WireError::new(
            start,
            format!(
                "sample has {} values but the profile declares {} sample types",
                values.len(),
                n_types
            ),
        ));
    }
    Ok(Sample {
        locations: locs,
        values,
        labels,
    })
}

fn pr_bytes<'a>(r: &Reader<'a>) -> &'a [u8] {
    r.remaining()
}

fn label(mut r: Reader<'_>, strings: &Strings) -> WResult<Label> {
    let mut key = StrRef::default();
    let mut s = StrRef::default();
    let mut num = None;
    let mut num_unit = StrRef::default();
    while !r.at_end() {
        let at = r.offset();
        let (f, wt) = r.key()?;
        match f {
            1 => {
                key = StrRef {
                    idx: r.expect_varint(wt, at, "Label.key")?,
                    at,
                }
            }
            2 => {
                s = StrRef {
                    idx: r.expect_varint(wt, at, "Label.str")?,
                    at,
                }
            }
            3 => num = Some(r.expect_varint(wt, at, "Label.num")? as i64),
            4 => {
                num_unit = StrRef {
                    idx: r.expect_varint(wt, at, "Label.num_unit")?,
                    at,
                }
            }
            _ => r.skip(wt, at)?,
        }
    }
    let key = strings.get(key, "Label.key")?;
    let value = if s.idx != 0 || num.is_none() {
        LabelValue::Str(strings.get(s, "Label.str")?)
    } else {
        LabelValue::Num {
            value: num.unwrap_or(0),
            unit: strings.opt(num_unit, "Label.num_unit")?,
        }
    };
    Ok(Label { key, value })
}
