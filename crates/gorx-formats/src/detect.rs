//! Recognising an artifact by its content, never by its file name: collectors rename
//! files (`profile`, `heap`, `pod-xyz.log`), and a directory may hold anything.

use flate2::read::MultiGzDecoder;
use std::io::Read;

/// What an input holds, as far as its first bytes tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ArtifactKind {
    /// pprof protobuf, gzipped or not.
    PprofProto,
    /// `heap profile: ...` text (`?debug=1` of heap/allocs), usually with a MemStats trailer.
    HeapText,
    /// `goroutine profile: total N` / `threadcreate profile: total N` (`?debug=1`).
    CountProfileText,
    /// `--- mutex:` / `--- contention:` text (`?debug=1` of mutex/block).
    ContentionText,
    /// Goroutine stacks: `?debug=2` output, a crash, a deadlock or a SIGQUIT dump.
    GoroutineDump,
    /// A log carrying runtime output: gctrace, scavtrace, schedtrace (possibly
    /// mixed with other program output and ending in a crash dump).
    RuntimeLog,
    /// Go execution trace, v2 format (Go 1.22 and later).
    ExecutionTrace,
    /// Go execution trace in the pre-1.22 format.
    ExecutionTraceLegacy,
    /// expvar JSON from `/debug/vars`.
    Expvar,
    /// Prometheus text exposition (`/metrics`).
    Prometheus,
    /// `/proc/PID/status`.
    ProcStatus,
    /// `/proc/PID/limits`.
    ProcLimits,
    /// `/proc/PID/smaps_rollup`.
    ProcSmapsRollup,
    /// One line per open fd, `N -> target` (what gorx's bundles and the corpus store).
    FdList,
    /// Nothing gorx reads.
    Unknown,
}

impl ArtifactKind {
    /// A stable name for JSON output (`inputs[].kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::PprofProto => "pprof",
            ArtifactKind::HeapText => "heap-text",
            ArtifactKind::CountProfileText => "count-profile-text",
            ArtifactKind::ContentionText => "contention-text",
            ArtifactKind::GoroutineDump => "goroutine-dump",
            ArtifactKind::RuntimeLog => "runtime-log",
            ArtifactKind::ExecutionTrace => "execution-trace",
            ArtifactKind::ExecutionTraceLegacy => "execution-trace-legacy",
            ArtifactKind::Expvar => "expvar",
            ArtifactKind::Prometheus => "prometheus",
            ArtifactKind::ProcStatus => "proc-status",
            ArtifactKind::ProcLimits => "proc-limits",
            ArtifactKind::ProcSmapsRollup => "proc-smaps-rollup",
            ArtifactKind::FdList => "fd-list",
            ArtifactKind::Unknown => "unknown",
        }
    }
}

/// How much of a text input detection looks at. Runtime output can start after a long
/// stretch of program logging, so this is generous but bounded.
const TEXT_SNIFF_BYTES: usize = 256 * 1024;

/// Recognise an artifact from its bytes. Gzip is looked through (a bounded prefix is
/// inflated), so a gzipped log or dump is recognised as what it contains.
pub fn detect(bytes: &[u8]) -> ArtifactKind {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut prefix = Vec::new();
        // A truncated or corrupt stream still yields what inflated before the fault.
        let _ = MultiGzDecoder::new(bytes)
            .take(TEXT_SNIFF_BYTES as u64)
            .read_to_end(&mut prefix);
        return match detect_plain(&prefix) {
            // pprof is the gzipped format Go writes; garbage inside gzip is most
            // likely a damaged profile, and the pprof parser will say where.
            ArtifactKind::Unknown => ArtifactKind::PprofProto,
            kind => kind,
        };
    }
    detect_plain(bytes)
}

fn detect_plain(bytes: &[u8]) -> ArtifactKind {
    if bytes.starts_with(b"go 1.") {
        return match trace_minor(bytes) {
            Some(minor) if minor >= 22 => ArtifactKind::ExecutionTrace,
            Some(_) => ArtifactKind::ExecutionTraceLegacy,
            None => ArtifactKind::Unknown,
        };
    }
    let head = &bytes[..bytes.len().min(TEXT_SNIFF_BYTES)];
    let text = String::from_utf8_lossy(head);
    let first = text.trim_start();
    if first.starts_with("heap profile:") {
        return ArtifactKind::HeapText;
    }
    if first.starts_with("goroutine profile: total")
        || first.starts_with("threadcreate profile: total")
    {
        return ArtifactKind::CountProfileText;
    }
    if first.starts_with("--- mutex:") || first.starts_with("--- contention:") {
        return ArtifactKind::ContentionText;
    }
    if first.starts_with('{') && text.contains("\"memstats\"") {
        return ArtifactKind::Expvar;
    }
    if first.starts_with("Name:") && text.contains("\nPid:") && text.contains("\nVmRSS:") {
        return ArtifactKind::ProcStatus;
    }
    if first.starts_with("Limit") && text.contains("Max open files") {
        return ArtifactKind::ProcLimits;
    }
    if text.contains("[rollup]") && text.contains("\nRss:") {
        return ArtifactKind::ProcSmapsRollup;
    }
    if is_fd_list(first) {
        return ArtifactKind::FdList;
    }
    if first.starts_with("# HELP ") || first.starts_with("# TYPE ") {
        return ArtifactKind::Prometheus;
    }
    if first.starts_with("goroutine ") && first.contains(" [") {
        return ArtifactKind::GoroutineDump;
    }
    // Logs: runtime output may be anywhere, behind prefixes (timestamps, pod names,
    // JSON wrappers), so look for its markers rather than at the start.
    if has_runtime_log_marker(&text) {
        return ArtifactKind::RuntimeLog;
    }
    if text.contains("\ngoroutine ")
        && (text.contains("panic:") || text.contains("fatal error:") || text.contains("SIGQUIT"))
    {
        return ArtifactKind::GoroutineDump;
    }
    if looks_like_protobuf(bytes) {
        return ArtifactKind::PprofProto;
    }
    ArtifactKind::Unknown
}

fn trace_minor(bytes: &[u8]) -> Option<u32> {
    let rest = bytes.strip_prefix(b"go 1.")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || !rest[digits..].starts_with(b" trace") {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

fn has_runtime_log_marker(text: &str) -> bool {
    text.lines().any(|line| {
        line.contains("SCHED ") && line.contains("gomaxprocs=")
            || line.contains("scav ") && (line.contains("KiB") || line.contains("MB"))
            || gc_marker(line)
    })
}

/// `gc 12 @3.456s 2%:` somewhere in the line.
fn gc_marker(line: &str) -> bool {
    let Some(i) = line.find("gc ") else {
        return false;
    };
    let rest = &line[i + 3..];
    let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
    digits > 0 && rest[digits..].starts_with(" @")
}

fn is_fd_list(text: &str) -> bool {
    let mut lines = text.lines().filter(|l| !l.is_empty()).peekable();
    lines.peek().is_some()
        && lines.take(8).all(|l| {
            let (n, rest) = l.split_once(" -> ").unwrap_or(("", ""));
            !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !rest.is_empty()
        })
}

/// pprof's Profile starts with field 1 (sample_type, length-delimited) or, for an empty
/// profile, another small field; text never starts with these control bytes.
fn looks_like_protobuf(bytes: &[u8]) -> bool {
    matches!(bytes.first(), Some(0x0a | 0x12 | 0x1a | 0x22 | 0x2a | 0x32))
        && bytes.iter().take(64).any(|&b| b < 0x09)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn recognises_runtime_text_forms() {
        assert_eq!(
            detect(b"heap profile: 1: 2 [3: 4] @ heap/1048576\n"),
            ArtifactKind::HeapText
        );
        assert_eq!(
            detect(b"goroutine profile: total 4\n"),
            ArtifactKind::CountProfileText
        );
        assert_eq!(
            detect(b"--- mutex:\ncycles/second=1\n"),
            ArtifactKind::ContentionText
        );
        assert_eq!(
            detect(b"goroutine 1 [running]:\nmain.main()\n"),
            ArtifactKind::GoroutineDump
        );
        let log =
            b"starting\n2024-01-01T00:00:00Z stderr F gc 1 @0.011s 2%: 0.01+0.2+0.01 ms clock\n";
        assert_eq!(detect(log), ArtifactKind::RuntimeLog);
        assert_eq!(
            detect(b"SCHED 0ms: gomaxprocs=2 idleprocs=1 threads=3"),
            ArtifactKind::RuntimeLog
        );
        assert_eq!(
            detect(b"listening\npanic: boom\n\ngoroutine 1 [running]:\n"),
            ArtifactKind::GoroutineDump
        );
        assert_eq!(
            detect(b"{\n\"cmdline\": [\"x\"],\n\"memstats\": {}}"),
            ArtifactKind::Expvar
        );
        assert_eq!(
            detect(b"# HELP go_goroutines Number\n# TYPE go_goroutines gauge\n"),
            ArtifactKind::Prometheus
        );
        assert_eq!(
            detect(b"0 -> /dev/null\n1 -> pipe:[123]\n"),
            ArtifactKind::FdList
        );
    }

    #[test]
    fn recognises_binary_forms_and_looks_through_gzip() {
        assert_eq!(
            detect(b"go 1.26 trace\x00\x00\x00"),
            ArtifactKind::ExecutionTrace
        );
        assert_eq!(
            detect(b"go 1.19 trace\x00\x00\x00"),
            ArtifactKind::ExecutionTraceLegacy
        );
        assert_eq!(detect(b"go 1.x trace"), ArtifactKind::Unknown);
        assert_eq!(
            detect(&gz(b"\x0a\x0b\x08\x01\x10\x02")),
            ArtifactKind::PprofProto
        );
        assert_eq!(
            detect(&gz(b"goroutine 7 [select]:\n")),
            ArtifactKind::GoroutineDump
        );
        assert_eq!(detect(&[0x1f, 0x8b, 0x08]), ArtifactKind::PprofProto);
        assert_eq!(
            detect(b"\x0a\x04\x08\x01\x10\x02"),
            ArtifactKind::PprofProto
        );
    }

    #[test]
    fn unknown_and_empty_inputs_are_unknown() {
        assert_eq!(detect(b""), ArtifactKind::Unknown);
        assert_eq!(detect(b"hello world\n"), ArtifactKind::Unknown);
        assert_eq!(detect(&[0xff, 0xfe, 0x00, 0x01]), ArtifactKind::Unknown);
    }
}
