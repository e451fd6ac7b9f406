//! pprof decoding against real profiles written by Go 1.19 and 1.27 (committed under
//! tests/regress/pprof/) and the corpus, plus bad input: every failure is an error with
//! the input name and a byte offset or line, never a panic.

use gorx_formats::Location;
use gorx_formats::pprof::legacy::{self, TextProfile};
use gorx_formats::pprof::{self, LabelValue, Profile};
use std::io::Write;
use std::path::PathBuf;

fn regress_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/regress/pprof")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(regress_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn profile(name: &str) -> Profile {
    pprof::parse(name, &fixture(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    pprof::gunzip("t", data).unwrap()
}

fn gzip_with(data: &[u8], level: flate2::Compression) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn heap_profile_go_1_27() {
    let p = profile("go1.27.3-heap.pb.gz");
    let types: Vec<(&str, &str)> = p.sample_types.iter().map(|t| (&*t.ty, &*t.unit)).collect();
    assert_eq!(
        types,
        [
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes")
        ]
    );
    assert_eq!(p.default_sample_index(), Some(3));
    let pt = p.period_type.as_ref().unwrap();
    assert_eq!((&*pt.ty, &*pt.unit), ("space", "bytes"));
    assert_eq!(p.period, 4096, "the generator set MemProfileRate=4096");
    assert!(p.time_nanos > 1_600_000_000_000_000_000);
    assert!(!p.mappings.is_empty());
    assert!(p.mappings[0].has_functions);
    // The generator kept allocLeaf's buffers alive from main.alloc.
    let found = p.samples.iter().any(|s| {
        let names: Vec<&str> = p.frames(s).map(|f| f.function).collect();
        names.first() == Some(&"main.allocLeaf") && names.contains(&"main.alloc")
    });
    assert!(found);
    for s in &p.samples {
        assert_eq!(s.values.len(), 4);
        for f in p.frames(s) {
            if f.function.starts_with("main.") {
                assert!(f.file.ends_with("main.go"), "{f:?}");
                assert!(f.line > 0);
            }
        }
    }
}

#[test]
fn allocs_profile_default_is_alloc_space() {
    let p = profile("go1.27.3-allocs.pb.gz");
    assert_eq!(p.default_sample_type.as_deref(), Some("alloc_space"));
    assert_eq!(p.default_sample_index(), Some(1));
    assert_eq!(p.sample_type_index("inuse_space"), Some(3));
    assert_eq!(p.sample_type_index("2"), Some(2));
    assert_eq!(p.sample_type_index("nope"), None);
}

#[test]
fn cpu_profile_labels_and_inlined_frames() {
    for name in ["go1.19.8-cpu.pb.gz", "go1.27.3-cpu.pb.gz"] {
        let p = profile(name);
        assert_eq!(p.sample_types.len(), 2);
        assert_eq!(&*p.sample_types[1].unit, "nanoseconds");
        assert!(p.duration_nanos > 0);
        assert_eq!(&*p.period_type.as_ref().unwrap().ty, "cpu");
        // pprof.Do(..., Labels("worker", "burner"), burn)
        let labelled = p.samples.iter().filter(|s| {
            s.labels
                .iter()
                .any(|l| &*l.key == "worker" && l.value == LabelValue::Str("burner".into()))
        });
        let mut any = false;
        for s in labelled {
            any = true;
            assert!(p.frames(s).any(|f| f.function == "main.burn"), "{name}");
        }
        assert!(any, "{name}: labelled samples");
        // Inlined frames come leaf first within one location, all but the last inlined.
        let mut saw_inline = false;
        for loc in &p.locations {
            if loc.lines.len() > 1 {
                saw_inline = true;
            }
        }
        assert!(saw_inline, "{name}: Go CPU profiles have inlined frames");
        for s in &p.samples {
            let frames: Vec<_> = p.frames(s).collect();
            if let Some(last) = frames.last() {
                assert!(!last.inlined, "the outermost frame is never inlined");
            }
        }
    }
}

#[test]
fn uncompressed_multi_member_and_stored_block_gzip_decode_the_same() {
    let gz = fixture("go1.27.3-mutex.pb.gz");
    let raw = gunzip(&gz);
    let a = pprof::parse("gz", &gz).unwrap();
    let b = pprof::parse("raw", &raw).unwrap();
    let stored = gzip_with(&raw, flate2::Compression::none());
    let c = pprof::parse("stored", &stored).unwrap();
    // Two gzip members concatenated decode to the concatenation; split the protobuf at a
    // field boundary (protobuf messages concatenate by merging).
    let (half1, half2) = raw.split_at(field_boundary_near(&raw, raw.len() / 2));
    let mut multi = gzip_with(half1, flate2::Compression::fast());
    multi.extend(gzip_with(half2, flate2::Compression::best()));
    let d = pprof::parse("multi", &multi).unwrap();
    for p in [&b, &c, &d] {
        assert_eq!(p.samples.len(), a.samples.len());
        assert_eq!(p.total(1), a.total(1));
        assert_eq!(p.locations.len(), a.locations.len());
    }
}

/// Offset of the top-level field boundary nearest to (at or after) `target`.
fn field_boundary_near(buf: &[u8], target: usize) -> usize {
    let mut pos = 0;
    while pos < buf.len() && pos < target {
        let (key, n) = varint(&buf[pos..]);
        pos += n;
        match key & 7 {
            0 => pos += varint(&buf[pos..]).1,
            2 => {
                let (len, n) = varint(&buf[pos..]);
                pos += n + len as usize;
            }
            1 => pos += 8,
            5 => pos += 4,
            _ => panic!("bad wire type"),
        }
    }
    pos
}

fn varint(b: &[u8]) -> (u64, usize) {
    let mut v = 0u64;
    for (i, &x) in b.iter().enumerate() {
        v |= ((x & 0x7f) as u64) << (7 * i);
        if x < 0x80 {
            return (v, i + 1);
        }
    }
    panic!("truncated varint")
}

fn err_offset(r: Result<Profile, gorx_formats::FormatError>) -> (u64, String) {
    let e = r.expect_err("bad input must fail");
    assert_eq!(e.input, "bad.pb.gz");
    match e.location {
        Location::Offset(o) => (o, e.to_string()),
        other => panic!("expected an offset, got {other:?}: {e}"),
    }
}

#[test]
fn bad_input_is_an_error_with_an_offset() {
    let gz = fixture("go1.27.3-heap.pb.gz");
    let raw = gunzip(&gz);

    let (o, m) = err_offset(pprof::parse("bad.pb.gz", b""));
    assert_eq!(o, 0);
    assert!(m.contains("empty"), "{m}");

    // Truncated gzip: the offset is where the compressed input ran out.
    let (o, m) = err_offset(pprof::parse("bad.pb.gz", &gz[..gz.len() / 2]));
    assert!(o as usize <= gz.len() / 2, "{m}");
    assert!(m.contains("gzip"), "{m}");

    // Truncated protobuf, at many cut points: always an error inside the data.
    let mut errors = 0;
    for cut in (1..raw.len()).step_by(raw.len() / 97 + 1) {
        if let Err(e) = pprof::parse("bad.pb.gz", &raw[..cut]) {
            errors += 1;
            match e.location {
                Location::Offset(o) => assert!(o as usize <= cut, "{e}"),
                _ => panic!("{e}"),
            }
        }
    }
    assert!(errors > 50, "most cut points fail ({errors})");
    // Cut inside gzipped protobuf data: the message says the offset is decompressed.
    let trunc = gzip_with(&raw[..raw.len() - 3], flate2::Compression::fast());
    let (_, m) = err_offset(pprof::parse("bad.pb.gz", &trunc));
    assert!(m.contains("decompressed"), "{m}");

    // Random bytes (deterministic xorshift): errors, never panics.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for len in [1usize, 7, 100, 4096] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let _ = pprof::parse("bad.pb.gz", &bytes);
    }
    let (_, m) = err_offset(pprof::parse("bad.pb.gz", &[0xff; 64]));
    assert!(m.contains("varint") || m.contains("wire type"), "{m}");

    // Absurd declared lengths: sample (field 2) claiming 2^60 bytes.
    let mut absurd = vec![0x12];
    let mut n: u64 = 1 << 60;
    while n >= 0x80 {
        absurd.push((n as u8) | 0x80);
        n >>= 7;
    }
    absurd.push(n as u8);
    absurd.extend_from_slice(&[0; 16]);
    let (o, m) = err_offset(pprof::parse("bad.pb.gz", &absurd));
    assert_eq!(o, 1);
    assert!(m.contains("claims"), "{m}");
    // The same inside gzip.
    let (_, m) = err_offset(pprof::parse(
        "bad.pb.gz",
        &gzip_with(&absurd, flate2::Compression::fast()),
    ));
    assert!(m.contains("claims") && m.contains("decompressed"), "{m}");
}

/// Builds a protobuf message from (field, payload) pairs; payload varint or bytes.
enum F<'a> {
    V(u32, u64),
    B(u32, &'a [u8]),
}

fn msg(fields: &[F<'_>]) -> Vec<u8> {
    fn put(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let mut out = Vec::new();
    for f in fields {
        match f {
            F::V(n, v) => {
                put(&mut out, (*n as u64) << 3);
                put(&mut out, *v);
            }
            F::B(n, b) => {
                put(&mut out, ((*n as u64) << 3) | 2);
                put(&mut out, b.len() as u64);
                out.extend_from_slice(b);
            }
        }
    }
    out
}

#[test]
fn invalid_references_are_rejected_with_offsets() {
    let vt = msg(&[F::V(1, 1), F::V(2, 2)]);
    let func = msg(&[F::V(1, 1), F::V(2, 3)]);
    let line = msg(&[F::V(1, 1), F::V(2, 10)]);
    let loc = msg(&[F::V(1, 1), F::B(4, &line)]);
    let good_sample = msg(&[F::V(1, 1), F::V(2, 5)]);
    let base = |sample: &[u8], strings: &[&[u8]]| {
        let mut fields = vec![F::B(1, &vt), F::B(2, sample), F::B(4, &loc), F::B(5, &func)];
        for s in strings {
            fields.push(F::B(6, s));
        }
        msg(&fields)
    };
    let strings: &[&[u8]] = &[b"", b"samples", b"count", b"main.f"];
    let p = pprof::parse("ok", &base(&good_sample, strings)).unwrap();
    assert_eq!(p.frames(&p.samples[0]).next().unwrap().function, "main.f");
    assert_eq!(p.total(0), 5);

    // Unknown location id.
    let bad = msg(&[F::V(1, 7), F::V(2, 5)]);
    let data = base(&bad, strings);
    let e = pprof::parse("bad.pb.gz", &data).unwrap_err();
    assert!(e.message.contains("unknown location id 7"), "{e}");
    assert!(matches!(e.location, Location::Offset(o) if o > 0 && (o as usize) < data.len()));
    // Value count disagrees with sample types.
    let bad = msg(&[F::V(1, 1), F::V(2, 5), F::V(2, 6)]);
    let e = pprof::parse("bad.pb.gz", &base(&bad, strings)).unwrap_err();
    assert!(e.message.contains("2 values"), "{e}");
    // String index out of range (function name 3 with a 3-entry table).
    let e = pprof::parse("bad.pb.gz", &base(&good_sample, &strings[..3])).unwrap_err();
    assert!(e.message.contains("string index 3"), "{e}");
    // Unknown function id in a line.
    let line9 = msg(&[F::V(1, 9)]);
    let loc9 = msg(&[F::V(1, 1), F::B(4, &line9)]);
    let data = msg(&[
        F::B(1, &vt),
        F::B(2, &good_sample),
        F::B(4, &loc9),
        F::B(5, &func),
        F::B(6, b""),
        F::B(6, b"samples"),
        F::B(6, b"count"),
        F::B(6, b"main.f"),
    ]);
    let e = pprof::parse("bad.pb.gz", &data).unwrap_err();
    assert!(e.message.contains("unknown function id 9"), "{e}");
    // Duplicate location ids.
    let data = msg(&[
        F::B(1, &vt),
        F::B(4, &loc),
        F::B(4, &loc),
        F::B(4, &msg(&[F::V(1, 3)])),
        F::B(6, b""),
        F::B(6, b"samples"),
        F::B(6, b"count"),
    ]);
    let e = pprof::parse("bad.pb.gz", &data).unwrap_err();
    assert!(e.message.contains("duplicate location id 1"), "{e}");
}

#[test]
fn legacy_heap_with_memstats() {
    for name in ["go1.19.8-heap.debug1.txt", "go1.27.3-heap.debug1.txt"] {
        let TextProfile::Heap(h) = legacy::parse(name, &fixture(name)).unwrap() else {
            panic!("{name}: not a heap profile");
        };
        assert_eq!(h.header.format, "heap");
        // runtime/pprof prints 2*MemProfileRate (the generator set 4096).
        assert_eq!(h.header.sampling_rate_bytes, 8192);
        assert!(!h.records.is_empty());
        // The header totals are the sums of the records.
        let inuse: i64 = h.records.iter().map(|r| r.inuse_bytes).sum();
        let alloc: i64 = h.records.iter().map(|r| r.alloc_objects).sum();
        assert_eq!(inuse, h.header.inuse_bytes, "{name}");
        assert_eq!(alloc, h.header.alloc_objects, "{name}");
        let r = h
            .records
            .iter()
            .find(|r| r.stack.functions().next() == Some("main.allocLeaf"))
            .expect("the generator's allocation site");
        assert!(!r.stack.addrs.is_empty());
        assert_eq!(r.stack.functions().next(), Some("main.allocLeaf"));
        assert!(r.stack.frames[0].file.ends_with("main.go"));
        assert!(r.stack.frames[0].line > 0);
        let m = h.memstats.as_ref().expect("MemStats trailer");
        assert!(m.sys > 0 && m.heap_sys > 0 && m.heap_inuse > 0);
        assert_eq!(m.heap_alloc, m.alloc);
        assert_eq!(m.heap_sys, m.heap_idle + m.heap_inuse);
        assert!(m.heap_released <= m.heap_idle);
        assert!(m.stack_inuse > 0 && m.stack_sys >= m.stack_inuse);
        assert!(m.mspan_inuse > 0 && m.mcache_sys > 0);
        assert!(m.gc_sys > 0 && m.other_sys > 0 && m.buck_hash_sys > 0);
        assert_eq!(m.pause_ns.len(), 256);
        assert!(m.num_gc > 0);
        assert_eq!(
            m.num_forced_gc,
            Some(1),
            "one runtime.GC() in the generator"
        );
        assert!(m.gc_cpu_fraction.unwrap() > 0.0);
        assert_eq!(m.debug_gc, Some(false));
        assert!(m.max_rss.unwrap() > 0);
        assert!(m.last_gc > 0 && m.next_gc > 0);
    }
}

#[test]
fn legacy_count_profiles() {
    let TextProfile::Count(g) =
        legacy::parse("g", &fixture("go1.27.3-goroutine.debug1.txt")).unwrap()
    else {
        panic!("not a count profile");
    };
    assert_eq!(g.kind, "goroutine");
    assert_eq!(g.total, 6);
    assert_eq!(g.groups.iter().map(|g| g.count).sum::<u64>(), g.total);
    assert_eq!(g.groups[0].count, 5);
    assert_eq!(
        g.groups[0].stack.functions().next(),
        Some("main.main.func1")
    );
    let TextProfile::Count(t) =
        legacy::parse("t", &fixture("go1.19.8-threadcreate.debug1.txt")).unwrap()
    else {
        panic!("not a count profile");
    };
    assert_eq!(t.kind, "threadcreate");
    assert_eq!(t.groups[0].count, t.total);
    assert!(t.groups[0].stack.addrs.is_empty());
    assert_eq!(t.groups[0].stack.frames[0].address, 0);

    let labelled = b"goroutine profile: total 3\n3 @ 0x1 0x2\n# labels: {\"worker\":\"burner\", \"id\":\"7\"}\n#\t0x1\tmain.f+0x10\t/src/m.go:3\n";
    let TextProfile::Count(l) = legacy::parse("l", labelled).unwrap() else {
        panic!()
    };
    assert_eq!(
        l.groups[0].labels,
        vec![
            ("id".to_string(), "7".to_string()),
            ("worker".to_string(), "burner".to_string())
        ]
    );
    assert_eq!(l.groups[0].stack.frames[0].function, "main.f");
}

#[test]
fn legacy_contention_profiles() {
    for (name, kind, leaf) in [
        ("go1.27.3-mutex.debug1.txt", "mutex", "sync.(*Mutex).Unlock"),
        ("go1.19.8-mutex.debug1.txt", "mutex", "sync.(*Mutex).Unlock"),
        (
            "go1.27.3-block.debug1.txt",
            "contention",
            "sync.(*Mutex).Lock",
        ),
    ] {
        let TextProfile::Contention(c) = legacy::parse(name, &fixture(name)).unwrap() else {
            panic!("{name}");
        };
        assert_eq!(c.kind, kind);
        assert!(c.cycles_per_second.unwrap() > 1_000_000, "{name}");
        if kind == "mutex" {
            assert_eq!(c.sampling_period, Some(1));
        }
        let r = &c.records[0];
        assert!(r.cycles > 0 && r.count > 0);
        assert_eq!(r.stack.functions().next(), Some(leaf), "{name}");
        // The text and protobuf forms of the same profile agree on the total delay.
        let pb = profile(&name.replace(".debug1.txt", ".pb.gz"));
        let delay_idx = pb.sample_type_index("delay").unwrap();
        let text_ns: f64 = c.records.iter().map(|r| c.delay_ns(r)).sum();
        let pb_ns = pb.total(delay_idx) as f64;
        assert!(
            (text_ns - pb_ns).abs() <= pb_ns * 0.01 + 1e3,
            "{name}: text {text_ns} vs pb {pb_ns}"
        );
    }
}

#[test]
fn legacy_errors_have_line_numbers() {
    let heap = fixture("go1.27.3-heap.debug1.txt");
    let mut text = String::from_utf8(heap).unwrap();
    // Corrupt the third line's counts.
    let mut lines: Vec<&str> = text.lines().collect();
    let bad_line = lines
        .iter()
        .position(|l| l.contains(" @ 0x"))
        .expect("a record");
    lines[bad_line] = "12: abc [1: 2] @ 0x1";
    text = lines.join("\n");
    let e = legacy::parse("h.txt", text.as_bytes()).unwrap_err();
    assert_eq!(e.location, Location::Line(bad_line as u64 + 1), "{e}");
    assert!(e.to_string().starts_with("h.txt:"), "{e}");

    let e = legacy::parse("x", b"\xff\xfe").unwrap_err();
    assert_eq!(e.location, Location::Line(1));
    let e = legacy::parse("x", b"--- mutex:\ncycles/second=abc\n").unwrap_err();
    assert_eq!(e.location, Location::Line(2));
    let e = legacy::parse("x", b"goroutine profile: total x\n").unwrap_err();
    assert_eq!(e.location, Location::Line(1));
    let e = legacy::parse(
        "x",
        b"heap profile: 1: 2 [3: 4] @ heap/8\n\n# runtime.MemStats\n# Alloc = -1\n",
    )
    .unwrap_err();
    assert_eq!(e.location, Location::Line(4));
}

#[test]
fn every_corpus_profile_decodes() {
    let mut n = 0;
    for (_, _, dir) in gorx_testsupport::corpus_entries() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let path = e.path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let is_pb = name.ends_with(".pb.gz");
            if !is_pb && !name.ends_with(".debug1.txt") {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            if is_pb {
                let p = pprof::parse(&name, &data)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                for s in &p.samples {
                    assert_eq!(s.values.len(), p.sample_types.len());
                }
                n += 1;
            } else if name.ends_with(".debug1.txt") {
                assert!(legacy::looks_like(&data), "{}", path.display());
                legacy::parse(&name, &data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                n += 1;
            }
        }
    }
    eprintln!("decoded {n} corpus profiles");
}
