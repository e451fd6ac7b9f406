//! A minimal `profile.proto` encoder: string table (with `""` at index 0), sample types,
//! period type and period, samples, locations (one line each, or none) and functions,
//! gzipped as `go tool pprof` expects.
//!
//! Messages are encoded as they are added, so memory is the encoded size plus the
//! string interning table.

use std::collections::HashMap;
use std::io::Write;

/// Builds one profile. Ids of functions and locations are assigned by the caller (pprof
/// requires them nonzero and unique; [`ProfileBuilder::add_function`] and
/// [`ProfileBuilder::add_location`] return them in order starting at 1).
#[derive(Debug)]
pub struct ProfileBuilder {
    strings: Vec<String>,
    string_index: HashMap<String, u64>,
    sample_types: Vec<(u64, u64)>,
    period_type: Option<(u64, u64)>,
    period: i64,
    samples: Vec<u8>,
    locations: Vec<u8>,
    functions: Vec<u8>,
    n_locations: u64,
    n_functions: u64,
}

impl Default for ProfileBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ProfileBuilder {
    pub fn new() -> Self {
        let mut b = ProfileBuilder {
            strings: Vec::new(),
            string_index: HashMap::new(),
            sample_types: Vec::new(),
            period_type: None,
            period: 0,
            samples: Vec::new(),
            locations: Vec::new(),
            functions: Vec::new(),
            n_locations: 0,
            n_functions: 0,
        };
        // profile.proto requires string_table[0] == "".
        b.string("");
        b
    }

    /// Index of `s` in the string table, adding it on first use.
    pub fn string(&mut self, s: &str) -> u64 {
        if let Some(&i) = self.string_index.get(s) {
            return i;
        }
        let i = self.strings.len() as u64;
        self.strings.push(s.to_owned());
        self.string_index.insert(s.to_owned(), i);
        i
    }

    pub fn sample_type(&mut self, ty: &str, unit: &str) -> &mut Self {
        let v = (self.string(ty), self.string(unit));
        self.sample_types.push(v);
        self
    }

    pub fn period(&mut self, ty: &str, unit: &str, period: i64) -> &mut Self {
        self.period_type = Some((self.string(ty), self.string(unit)));
        self.period = period;
        self
    }

    /// Adds a function; returns its id.
    pub fn add_function(&mut self, name: &str, system_name: &str, filename: &str) -> u64 {
        self.n_functions += 1;
        let id = self.n_functions;
        let (n, s, f) = (
            self.string(name),
            self.string(system_name),
            self.string(filename),
        );
        let mut m = Vec::new();
        put_uint(&mut m, 1, id);
        put_uint(&mut m, 2, n);
        put_uint(&mut m, 3, s);
        put_uint(&mut m, 4, f);
        put_bytes(&mut self.functions, 5, &m);
        id
    }

    /// Adds a location at `address` with one line (`function_id`, `line`) or, with
    /// `function_id == 0`, none; returns its id.
    pub fn add_location(&mut self, address: u64, function_id: u64, line: i64) -> u64 {
        self.n_locations += 1;
        let id = self.n_locations;
        let mut m = Vec::new();
        put_uint(&mut m, 1, id);
        put_uint(&mut m, 3, address);
        if function_id != 0 {
            let mut l = Vec::new();
            put_uint(&mut l, 1, function_id);
            put_uint(&mut l, 2, line as u64);
            put_bytes(&mut m, 4, &l);
        }
        put_bytes(&mut self.locations, 4, &m);
        id
    }

    /// Adds a sample: location ids leaf first, one value per sample type.
    pub fn add_sample(&mut self, location_ids: &[u64], values: &[i64]) {
        let mut m = Vec::new();
        put_packed(&mut m, 1, location_ids.iter().copied());
        put_packed(&mut m, 2, values.iter().map(|&v| v as u64));
        put_bytes(&mut self.samples, 2, &m);
    }

    /// The uncompressed `profile.proto` bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            self.samples.len() + self.locations.len() + self.functions.len() + 1024,
        );
        for &(t, u) in &self.sample_types {
            put_bytes(&mut out, 1, &value_type(t, u));
        }
        out.extend_from_slice(&self.samples);
        out.extend_from_slice(&self.locations);
        out.extend_from_slice(&self.functions);
        for s in &self.strings {
            put_bytes(&mut out, 6, s.as_bytes());
        }
        if let Some((t, u)) = self.period_type {
            put_bytes(&mut out, 11, &value_type(t, u));
        }
        put_uint(&mut out, 12, self.period as u64);
        out
    }

    /// The gzipped profile, as `go tool pprof` and Go's `profile.Write` produce.
    pub fn encode_gzip(&self) -> Vec<u8> {
        let raw = self.encode();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        // Writing to a Vec cannot fail.
        let _ = gz.write_all(&raw);
        gz.finish().unwrap_or_default()
    }
}

fn value_type(ty: u64, unit: u64) -> Vec<u8> {
    let mut m = Vec::new();
    put_uint(&mut m, 1, ty);
    put_uint(&mut m, 2, unit);
    m
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A varint field; zero is the proto3 default and is left out.
fn put_uint(out: &mut Vec<u8>, field: u64, v: u64) {
    if v != 0 {
        put_varint(out, field << 3);
        put_varint(out, v);
    }
}

/// A length-delimited field (always written: an empty string in the string table counts).
fn put_bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_packed(out: &mut Vec<u8>, field: u64, vs: impl Iterator<Item = u64>) {
    let mut m = Vec::new();
    for v in vs {
        put_varint(&mut m, v);
    }
    if !m.is_empty() {
        put_bytes(out, field, &m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_decoder() {
        let mut b = ProfileBuilder::new();
        b.sample_type("contentions", "count")
            .sample_type("delay", "nanoseconds")
            .period("trace", "count", 1);
        let f1 = b.add_function("main.main", "main.main", "/x/main.go");
        let f2 = b.add_function("runtime.chanrecv1", "runtime.chanrecv1", "/go/chan.go");
        let l1 = b.add_location(0x401000, f1, 12);
        let l2 = b.add_location(0x402000, f2, 300);
        b.add_sample(&[l2, l1], &[3, 1_500_000_000_000]);
        b.add_sample(&[], &[1, -7]);
        let p = crate::pprof::parse("mem", &b.encode_gzip()).expect("decodes");
        assert_eq!(p.sample_types.len(), 2);
        assert_eq!(&*p.sample_types[1].ty, "delay");
        assert_eq!(p.period, 1);
        assert_eq!(p.samples.len(), 2);
        assert_eq!(p.samples[0].values, vec![3, 1_500_000_000_000]);
        assert_eq!(p.samples[1].values, vec![1, -7]);
        let names: Vec<&str> = p.frames(&p.samples[0]).map(|f| f.function).collect();
        assert_eq!(names, ["runtime.chanrecv1", "main.main"]);
        let lines: Vec<i64> = p.frames(&p.samples[0]).map(|f| f.line).collect();
        assert_eq!(lines, [300, 12]);
        assert_eq!(p.total(1), 1_500_000_000_007);
    }
}
