//! v1 traces (Go 1.11–1.21): Go's own parser tests (corrupted inputs, canned traces,
//! converted user regions/tasks/logs), the reader's event framing, and robustness:
//! truncated and mutated traces give errors with byte offsets, never a panic.

use gorx_testsupport::{artifacts_dir, go_toolchain, missing_prerequisite};
use gorx_trace::tracev1::parser;
use gorx_trace::{EventKind, Reader};
use std::path::PathBuf;

fn corpus_v1() -> Vec<u8> {
    let f = artifacts_dir().join("1.19/sched-latency/trace.out");
    std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()))
}

/// Read every event; the error (if any) as text.
fn read_all(bytes: &[u8]) -> (Vec<gorx_trace::Event>, Option<String>) {
    let mut r = match Reader::new("t", bytes) {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Some(e.to_string())),
    };
    let mut evs = Vec::new();
    loop {
        match r.read_event() {
            Ok(Some(e)) => evs.push(e),
            Ok(None) => return (evs, None),
            Err(e) => return (evs, Some(e.to_string())),
        }
    }
}

/// Go's TestCorruptedInputs: inputs that once crashed the parser (read as version 5).
#[test]
fn corrupted_inputs_are_rejected() {
    let tests: [&[u8]; 8] = [
        b"gotrace\x00\x020",
        b"gotrace\x00Q00\x020",
        b"gotrace\x00T00\x020",
        b"gotrace\x00\xc3\x0200",
        b"go 1.5 trace\x00\x00\x00\x00\x020",
        b"go 1.5 trace\x00\x00\x00\x00Q00\x020",
        b"go 1.5 trace\x00\x00\x00\x00T00\x020",
        b"go 1.5 trace\x00\x00\x00\x00\xc3\x0200",
    ];
    for data in tests {
        assert!(
            parser::parse(data, 5).is_err(),
            "no error on input: {data:?}"
        );
        // Behind the reader the header is already wrong (Go knows no version 1.5).
        assert!(read_all(data).1.is_some());
    }
}

/// Go's TestParseCanned and TestTraceV1 over its testdata (needs a Go 1.27 GOROOT).
#[test]
fn canned_traces_parse_and_convert() {
    let Some(go) = go_toolchain("1.27") else {
        missing_prerequisite("Go 1.27 toolchain (GOROOT testdata)");
        return;
    };
    let out = std::process::Command::new(&go)
        .args(["env", "GOROOT"])
        .output()
        .unwrap();
    let dir = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
        .join("src/internal/trace/internal/tracev1/testdata");
    let mut tested_user_regions = false;
    for f in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = f.file_name().to_string_lossy().into_owned();
        let data = std::fs::read(f.path()).unwrap();
        let ver: u32 = std::str::from_utf8(&data[5..7]).unwrap().parse().unwrap();
        let res = parser::parse(&data[16..], ver);
        if name.ends_with("_good") {
            let tr = res.unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert!(!tr.events.is_empty(), "{name}");
            assert!(tr.events.windows(2).all(|w| w[0].ts <= w[1].ts), "{name}");
        } else if name.ends_with("_unordered") {
            assert!(res.is_err_and(|e| e.time_order), "{name}");
            continue;
        } else {
            panic!("unknown input file suffix: {name}");
        }
        let (evs, err) = read_all(&data);
        assert_eq!(err, None, "{name}");
        assert_eq!(evs.first().map(|e| e.kind()), Some(EventKind::Sync));
        assert_eq!(evs.last().map(|e| e.kind()), Some(EventKind::Sync));
        assert!(evs.windows(2).all(|w| w[0].time() < w[1].time()), "{name}");
        if name == "user_task_region_1_21_good" {
            tested_user_regions = true;
            // The strings runtime/trace.TestUserTaskRegion wrote.
            for e in &evs {
                match e.kind() {
                    EventKind::RegionBegin | EventKind::RegionEnd => {
                        let (_, typ) = e.region().unwrap();
                        assert!(
                            [&b"post-existing region"[..], b"region0", b"region1"].contains(&typ),
                            "{e}"
                        );
                    }
                    EventKind::TaskBegin | EventKind::TaskEnd => {
                        assert_eq!(e.task().unwrap().2, b"task0", "{e}");
                    }
                    EventKind::Log => {
                        assert_eq!(
                            e.log().unwrap(),
                            (1, &b"key0"[..], &b"0123456789abcdef"[..]),
                            "{e}"
                        );
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(tested_user_regions, "no user_task_region_1_21_good");
}

#[test]
fn reader_frames_a_v1_trace_with_syncs_and_keeps_time_strictly_increasing() {
    let data = corpus_v1();
    let (evs, err) = read_all(&data);
    assert_eq!(err, None);
    let syncs: Vec<u64> = evs.iter().filter_map(|e| e.sync_n()).collect();
    assert_eq!(syncs, vec![1, 2], "one Sync first and one last");
    assert!(evs.windows(2).all(|w| w[0].time() < w[1].time()));
    // The converter names block reasons the v2 way.
    assert!(
        evs.iter()
            .any(|e| e.state_transition().is_some_and(|s| !s.reason.is_empty()))
    );
    // with_prefetch takes the same path.
    let r = Reader::with_prefetch("t", std::io::Cursor::new(data.clone())).unwrap();
    let n = r.inspect(|e| assert!(e.is_ok())).count();
    assert_eq!(n, evs.len());
}

/// Truncate at every offset and change bytes at every offset: errors carry an offset
/// inside the file, nothing panics.
#[test]
fn truncated_and_mutated_v1_traces_never_panic() {
    let data = corpus_v1();
    let len = data.len() as u64;
    let check_err = |e: &str| {
        let off: u64 = e
            .split("at byte offset ")
            .nth(1)
            .and_then(|s| s.split(':').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no offset in {e}"));
        assert!(off <= len, "{e}");
    };
    let mut rejected = 0;
    for cut in 0..data.len() {
        if let (_, Some(e)) = read_all(&data[..cut]) {
            check_err(&e);
            rejected += 1;
        }
    }
    // A cut inside the header or right after the header must be rejected.
    assert!(rejected > data.len() / 2, "only {rejected} cuts rejected");
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for at in 16..data.len() {
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut d = data.clone();
            d[at] ^= 1 + (x % 255) as u8;
            if let (_, Some(e)) = read_all(&d) {
                check_err(&e);
            }
        }
    }
}

#[test]
fn header_only_and_unknown_versions() {
    let (_, e) = read_all(b"go 1.19 trace\x00\x00\x00");
    assert!(e.unwrap().contains("no EvFrequency event"));
    let (_, e) = read_all(b"go 1.20 trace\x00\x00\x00");
    assert!(
        e.unwrap()
            .contains("unknown or unsupported trace version go 1.20")
    );
}
