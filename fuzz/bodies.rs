//! The body of every fuzz target, one function per target. The targets in fuzz_targets/
//! call these, and crates/gorx/tests/fuzz_regressions.rs replays
//! testdata/fuzz-regressions/TARGET/* through the same functions, so a crash input
//! stays a test exactly as the fuzzer saw it. Any input may fail; none may panic.
#![allow(dead_code)]

use gorx_analysis::artifacts::{Artifact, diagnose};
use gorx_analysis::process::{self, ProcessSnapshot};
use gorx_analysis::trace::{SideTrackers, Sides, TraceAnalyzer, trace_findings};
use gorx_analysis::trace_pprof::{PprofKind, TracePprof, build_pprof};
use gorx_analysis::{gc, goroutines as dump_analysis, profiles};
use gorx_formats::cgroup::{self, CgroupChain, CpuLevel, MemoryLevel};
use gorx_formats::procfs::{self, GoEnv};
use gorx_formats::{
    expvar, gctrace, goroutines, pprof, pprof::legacy, prometheus, scavtrace, schedtrace,
};
use gorx_report::trace_export::{ChromeExporter, ExportOptions};
use std::hint::black_box;

/// A target's body.
pub type Body = fn(&[u8]);

/// Every target by name, for the regression replay.
pub const TARGETS: &[(&str, Body)] = &[
    ("trace_reader", trace_reader),
    ("trace_analysis", trace_analysis),
    ("pprof_proto", pprof_proto),
    ("pprof_legacy", pprof_legacy),
    ("goroutine_dump", goroutine_dump),
    ("runtime_logs", runtime_logs),
    ("expvar_prometheus", expvar_prometheus),
    ("procfs_cgroup", procfs_cgroup),
    ("analyze", analyze),
    ("gopclntab", gopclntab),
];

/// The trace reader returns events or an error, and every event it returns can be
/// printed (a stronger property than Go's FuzzReader, which skips the getters). Events
/// moved out (`read_event`) and lent (`next_event`) are the same, and so is the end.
pub fn trace_reader(data: &[u8]) {
    let (Ok(mut r), Ok(mut lending)) = (
        gorx_trace::Reader::new("fuzz", data),
        gorx_trace::Reader::new("fuzz", data),
    ) else {
        return;
    };
    let (mut line, mut lent_line) = (Vec::new(), Vec::new());
    // Each event consumes input or ends the stream; bound the loop anyway.
    for _ in 0..1_000_000 {
        let moved = r.read_event();
        let lent = lending.next_event();
        match (moved, lent) {
            (Ok(Some(ev)), Ok(Some(lent))) => {
                line.clear();
                ev.write_go_string(&mut line);
                lent_line.clear();
                lent.write_go_string(&mut lent_line);
                assert_eq!(line, lent_line, "read_event and next_event differ");
            }
            (Ok(None), Ok(None)) => break,
            (Err(a), Err(b)) => {
                assert_eq!(a.to_string(), b.to_string(), "different errors");
                break;
            }
            (a, b) => panic!(
                "read_event gave {:?}, next_event {:?}",
                a.map(|e| e.is_some()),
                b.map(|e| e.is_some())
            ),
        }
    }
}

/// What `gorx trace`, `gorx trace pprof` and `gorx trace export` do with a trace's
/// events: the analyzer and its findings, the four blocking profiles (which our own
/// pprof parser must read back), and the Chrome/Perfetto export (which must be JSON).
pub fn trace_analysis(data: &[u8]) {
    let Ok(mut r) = gorx_trace::Reader::new("fuzz", data) else {
        return;
    };
    let mut analyzer = TraceAnalyzer::new();
    // The split `gorx analyze` and `gorx trace summary` run on two readers.
    let mut split = TraceAnalyzer::leaving_out(Sides::ALL);
    let mut side = SideTrackers::new(Sides::ALL);
    let mut profiles: Vec<TracePprof> = [
        PprofKind::Net,
        PprofKind::Sync,
        PprofKind::Syscall,
        PprofKind::Sched,
    ]
    .into_iter()
    .map(TracePprof::new)
    .collect();
    let mut export = ChromeExporter::new(Vec::new(), ExportOptions::default()).unwrap();
    // The commands stop at the first error, as here, and read lent events.
    for _ in 0..1_000_000 {
        let Ok(Some(ev)) = r.next_event() else {
            break;
        };
        analyzer.observe(ev);
        split.observe(ev);
        side.observe(ev);
        for p in &mut profiles {
            p.observe(ev);
        }
        export.observe(ev).unwrap();
    }
    let whole = analyzer.finish();
    let mut parts = split.finish();
    side.finish().finish_into(&mut parts);
    assert_eq!(
        serde_json::to_string(&whole).unwrap(),
        serde_json::to_string(&parts).unwrap(),
        "the split analyzer and side trackers differ from the whole analyzer"
    );
    black_box(trace_findings(&whole, "fuzz"));
    for p in profiles {
        let proto = build_pprof(&p.finish());
        if let Err(e) = pprof::parse("fuzz", &proto) {
            panic!("gorx's own trace pprof does not parse: {e}");
        }
    }
    let (json, _) = export.finish().unwrap();
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(&json) {
        panic!("trace export is not JSON: {e}");
    }
}

/// The pprof protobuf decoder (gzipped and raw), then what `gorx pprof top` and the
/// profile findings compute from it.
pub fn pprof_proto(data: &[u8]) {
    if let Ok(p) = pprof::parse("fuzz", data) {
        for s in &p.samples {
            for f in p.frames(s) {
                black_box((f.function, f.file, f.line));
            }
        }
        if let Some(i) = p.default_sample_index() {
            black_box(p.total(i));
        }
        for i in 0..p.sample_types.len() {
            black_box(profiles::top_table(&p, i, Some((&p, i))));
        }
        black_box(profiles::profile_findings(&p, "fuzz"));
    }
}

/// The legacy `?debug=1` text profile parser (heap + MemStats, count, contention).
pub fn pprof_legacy(data: &[u8]) {
    black_box(legacy::looks_like(data));
    black_box(legacy::parse("fuzz", data)).ok();
}

/// The goroutine dump parser (debug=2, crash and SIGQUIT output) and its grouping.
pub fn goroutine_dump(data: &[u8]) {
    if let Ok(d) = goroutines::parse("fuzz", data) {
        for g in &d.goroutines {
            for f in &g.frames {
                black_box(goroutines::parse_args(f.args));
            }
        }
        black_box(dump_analysis::dump_findings(&d, "fuzz"));
    }
}

/// The runtime log parsers: gctrace (slice, chunked and streaming forms must agree),
/// scavtrace, schedtrace, and the GC analysis of what parsed.
pub fn runtime_logs(data: &[u8]) {
    let t = gctrace::parse("fuzz", data);
    let r = gctrace::parse_reader("fuzz", data).expect("reading a slice");
    assert_eq!(t, r);
    // Chunk boundaries change nothing (runs crossing them, line numbers after them).
    for cut in [data.len() / 3, data.len() / 2] {
        assert_eq!(gctrace::parse_split_at(data, cut), t);
    }
    black_box(gc::gc_findings(&t, "fuzz"));
    black_box(scavtrace::parse("fuzz", data));
    black_box(schedtrace::parse("fuzz", data));
}

/// The expvar JSON and Prometheus text exposition parsers.
pub fn expvar_prometheus(data: &[u8]) {
    if let Ok(v) = expvar::parse("fuzz", data)
        && let Some(ms) = &v.memstats
    {
        black_box(ms.recent_pauses_ns());
    }
    if let Ok(e) = prometheus::parse("fuzz", data) {
        for f in &e.families {
            black_box(f.buckets());
        }
    }
}

/// Every /proc and cgroup file parser on the same text, then the process analyses
/// (limits, RSS gap, cgroup limits, GOMAXPROCS prediction) on what parsed: their
/// arithmetic on parsed numbers is where overflow or division by zero would hide.
pub fn procfs_cgroup(data: &[u8]) {
    let env = procfs::parse_environ(data);
    let go_env = GoEnv::from_environ(&env);
    let _ = black_box((
        go_env.gomemlimit_bytes(),
        go_env.gomaxprocs_value(),
        go_env.godebug_setting("containermaxprocs"),
    ));
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let n = "fuzz";
    black_box(procfs::count_cpu_list(n, 1, text)).ok();
    black_box(procfs::parse_go_byte_size(text)).ok();
    black_box(procfs::parse_smaps(n, text)).ok();
    black_box(procfs::parse_stat(n, text)).ok();
    black_box(procfs::parse_net_tcp(n, text)).ok();
    black_box(procfs::parse_proc_cgroup(n, text)).ok();
    black_box(procfs::parse_mountinfo(n, text)).ok();
    let limit = cgroup::parse_memory_limit(n, text).ok().flatten();
    let current = cgroup::parse_u64(n, text).ok();
    let quota = cgroup::parse_cfs_quota(n, text).ok().flatten();
    let cpu_max = cgroup::parse_cpu_max(n, text).ok();
    let stat = cgroup::parse_flat_keyed(n, text).unwrap_or_default();
    let mut cpu = CpuLevel {
        path: "/".into(),
        quota_us: cpu_max.and_then(|c| c.quota_us).or(quota),
        period_us: cpu_max.map(|c| c.period_us).or(current),
        ..CpuLevel::default()
    };
    cpu.set_stat(&stat);
    let memory = MemoryLevel {
        path: "/".into(),
        max_bytes: limit,
        high_bytes: limit,
        current_bytes: current,
        inactive_file_bytes: stat.get("inactive_file").copied(),
        oom_kill: stat.get("oom_kill").copied(),
        max_events: stat.get("max").copied(),
    };
    let mut s = ProcessSnapshot {
        status: procfs::parse_status(n, text).ok(),
        smaps: procfs::parse_smaps_rollup(n, text).ok(),
        fds: procfs::parse_fd_listing(n, text).ok(),
        env: Some(go_env),
        cgroup: Some(CgroupChain {
            memory_version: None,
            cpu_version: None,
            memory: vec![memory],
            cpu: vec![cpu],
        }),
        host_cpus: current.map(|c| c as u32),
        ..ProcessSnapshot::default()
    };
    if let Ok(l) = procfs::parse_limits(n, text)
        && let Some(f) = l.nofile()
    {
        s.nofile_soft = f.soft;
        s.nofile_hard = f.hard;
    }
    black_box(process::analyze(&s));
    black_box(process::predicted_gomaxprocs(&s));
}

/// Separates artifacts in one `analyze` input (all in one bundle directory).
pub const ANALYZE_SEP: &[u8] = b"\n--gorx-artifact--\n";

/// The whole offline path of `gorx analyze`: detection by content, the parser detection
/// picks, and every analysis on the result (GC, goroutines, profiles, memory, traces,
/// and the cross-artifact process analysis: RSS vs MemStats, fds vs limit).
pub fn analyze(data: &[u8]) {
    const NAMES: [&str; 4] = ["b/proc/a", "b/proc/b", "b/c", "b/d"];
    let mut parts = Vec::new();
    let mut rest = data;
    while parts.len() < NAMES.len() - 1
        && let Some(i) = rest
            .windows(ANALYZE_SEP.len())
            .position(|w| w == ANALYZE_SEP)
    {
        parts.push(&rest[..i]);
        rest = &rest[i + ANALYZE_SEP.len()..];
    }
    parts.push(rest);
    let artifacts: Vec<Artifact<'_>> = parts
        .iter()
        .zip(NAMES)
        .map(|(bytes, name)| Artifact {
            name,
            bytes,
            explicit: false,
        })
        .collect();
    black_box(diagnose(&artifacts)).ok();
}

/// The Go function table: as a raw table (the seeds are `.gopclntab` sections) and as an
/// ELF file; every function's entry and the edges of the text range symbolize, inlined
/// frames included, without panicking.
pub fn gopclntab(data: &[u8]) {
    use gorx_ebpf::gopclntab::GoSymbols;
    let tables = [
        GoSymbols::parse("fuzz", data, None, "section").ok(),
        GoSymbols::from_elf("fuzz", data).ok(),
    ];
    for t in tables.into_iter().flatten() {
        let range = t.text_range();
        for (entry, name) in t.functions().take(256) {
            black_box((name, t.frames(entry), t.frames(entry.wrapping_add(1))));
        }
        for pc in [range.start, range.end.wrapping_sub(1), range.end, u64::MAX] {
            black_box(t.frames(pc));
        }
    }
}
