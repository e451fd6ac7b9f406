//! Diagnosing a set of artifacts, in two stages. *Observe*: recognise each artifact by
//! content, parse it, and file what it says under the process it belongs to (its bundle
//! directory): single-artifact verdicts, profiles and logs kept for the joins. *Judge*:
//! one judgement per process over all of its observations (judge.rs, and here the rules
//! that need the bundle's pacing, rates or /proc snapshot), so a verdict uses every
//! source at hand and several processes never mix. This is what `gorx analyze`,
//! `gorx demo` and capture bundles share.

use crate::block_rate::{BlockInput, ProcessStart, contention_findings};
use crate::diagnosis::{Diagnosis, InputSummary};
use crate::finding::{Finding, Severity};
use crate::judge::{self, HeapObservation, Observations};
use crate::metrics::{self, MetricsView};
use crate::process::{self, ProcessSnapshot, RuntimeMemory};
use crate::trace::{Sides, TraceAnalyzer};
use crate::{gc, goroutines, memory, profiles};
use gorx_formats::FormatError;
use gorx_formats::detect::{ArtifactKind, detect};
use gorx_formats::pprof::{self, legacy};
use gorx_formats::{expvar, gctrace, goroutines as dump, procfs, prometheus};
use std::collections::BTreeMap;

/// One input: a name for messages and sources, and its bytes.
pub struct Artifact<'a> {
    pub name: &'a str,
    pub bytes: &'a [u8],
    /// Named by the user directly: an unrecognised explicit input is an error, an
    /// unrecognised file inside a directory is skipped.
    pub explicit: bool,
}

/// What several artifacts of one process say together.
#[derive(Default)]
struct ProcessEvidence {
    snapshot: ProcessSnapshot,
    sources: Vec<String>,
    /// Whether anything from /proc was seen; without it there is no process to judge.
    has_proc: bool,
    /// Block profiles (source, profile, from the text form), judged together once the
    /// bundle is read: two of them or the process start give a rate.
    blocks: Vec<(String, pprof::Profile, bool)>,
    /// Mutex profiles, likewise.
    mutexes: Vec<(String, pprof::Profile, bool)>,
    /// gctrace logs (source, parsed), judged once the bundle's GOGC is known.
    gc_logs: Vec<(String, gctrace::GcTrace)>,
    /// `go_gc_gogc_percent` from a scrape (−1: off).
    gogc_percent: Option<i64>,
    /// Where `snapshot.start_time_s` came from.
    start_source: Option<String>,
    /// Single-artifact verdicts and what the joins need (judge.rs).
    observed: Observations,
    /// Lines of auxiliary files that were skipped, for the diagnosis's notes.
    notes: Vec<String>,
    /// Empty contention profiles (kind, source), judged once every text form of the
    /// process has said whether profiling was on.
    empty_contention: Vec<(profiles::ProfileKind, String)>,
    /// Profiling rates the text forms state (mutex `sampling period=`).
    contention_rates: Vec<(profiles::ProfileKind, u64)>,
}

/// Diagnose every artifact. Fails on the first input that claims a format but breaks it.
pub fn diagnose(artifacts: &[Artifact<'_>]) -> Result<Diagnosis, FormatError> {
    diagnose_with(artifacts, Vec::new())
}

/// A process snapshot known before the artifacts are read (a capture bundle's own
/// `snapshot.json`/`cgroup.json`), for the bundle directory it came from.
pub struct KnownProcess {
    /// The bundle directory as the artifacts' names spell it.
    pub dir: String,
    pub snapshot: ProcessSnapshot,
    /// The findings that made `gorx watch` take the bundle (its `findings.json`): judged
    /// with the artifacts, so `analyze BUNDLE` says why the bundle exists.
    pub trigger: Vec<Finding>,
}

/// [`diagnose`], starting from snapshots already known for some bundle directories.
///
/// Process evidence is grouped by bundle: files in `DIR` and `DIR/proc/` describe one
/// process, so analysing several captures at once never mixes one process's RSS with
/// another's MemStats.
pub fn diagnose_with(
    artifacts: &[Artifact<'_>],
    known: Vec<KnownProcess>,
) -> Result<Diagnosis, FormatError> {
    diagnose_grouped(artifacts, known, &|name| bundle_of(name).to_string())
}

/// One live process: every artifact (fetched from its endpoints, named by URL) belongs
/// to `known`, whatever its name, and is judged with its /proc snapshot (`gorx inspect`).
pub fn diagnose_process(
    artifacts: &[Artifact<'_>],
    known: KnownProcess,
) -> Result<Diagnosis, FormatError> {
    let dir = known.dir.clone();
    diagnose_grouped(artifacts, vec![known], &|_| dir.clone())
}

fn diagnose_grouped(
    artifacts: &[Artifact<'_>],
    known: Vec<KnownProcess>,
    process_of: &dyn Fn(&str) -> String,
) -> Result<Diagnosis, FormatError> {
    let mut inputs = Vec::new();
    let mut processes: BTreeMap<String, ProcessEvidence> = known
        .into_iter()
        .map(|k| {
            let mut pe = ProcessEvidence {
                snapshot: k.snapshot,
                sources: vec![k.dir.clone()],
                has_proc: true,
                ..Default::default()
            };
            pe.observed.findings = k.trigger;
            (k.dir, pe)
        })
        .collect();
    for a in artifacts {
        let kind = detect(a.bytes);
        if kind == ArtifactKind::Unknown {
            if a.explicit {
                return Err(unknown_input(a));
            }
            continue;
        }
        inputs.push(InputSummary {
            path: a.name.to_string(),
            kind: kind.as_str().to_string(),
        });
        let pe = processes.entry(process_of(a.name)).or_default();
        observe(a, kind, pe)?;
    }
    let judged = processes.len();
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    for (dir, mut pe) in processes {
        notes.append(&mut pe.notes);
        let mut found = judge_process(pe);
        if judged > 1 {
            // Several processes: each finding says whose it is.
            let who = if dir.is_empty() { "." } else { dir.as_str() };
            for f in &mut found {
                f.title = format!("{who}: {}", f.title);
            }
        }
        findings.extend(found);
    }
    Ok(Diagnosis::new(inputs, findings).with_notes(notes))
}

/// The judgement of one process: the rules that need the bundle's pacing, rates and
/// /proc snapshot, then the joins over every observation (judge.rs).
fn judge_process(mut pe: ProcessEvidence) -> Vec<Finding> {
    let mut findings = std::mem::take(&mut pe.observed.findings);
    let opts = gc::GcOptions { gogc: pe.gogc() };
    for (source, runs) in &pe.gc_logs {
        findings.extend(gc::gc_findings_with(runs, source, opts));
    }
    let start = pe.snapshot.start_time_s.map(|unix_s| ProcessStart {
        unix_s,
        source: pe
            .start_source
            .as_deref()
            .unwrap_or("the bundle's process snapshot"),
    });
    // Block and mutex profiles together: lock waits in the block profile corroborate
    // the mutex profile (block_rate.rs).
    findings.extend(contention_findings(
        &block_inputs(&pe.blocks),
        &block_inputs(&pe.mutexes),
        start.as_ref(),
    ));
    if pe.has_proc {
        for mut f in process::analyze(&pe.snapshot) {
            // The snapshot names /proc/PID paths of a process that may be gone;
            // name the files it was rebuilt from instead.
            f.sources = pe.sources.clone();
            findings.push(f);
        }
    }
    // An empty contention profile: off, or on with nothing to record (a text form of
    // the same process tells which), or either.
    for (kind, source) in &pe.empty_contention {
        let rate = pe
            .contention_rates
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, r)| *r)
            .max();
        findings.extend(profiles::empty_contention_finding(*kind, source, rate));
    }
    if pe.has_proc {
        // Pause and latency advice names the cause this process's CPU numbers support.
        process::amend_latency_advice(&mut findings, &pe.snapshot);
    }
    pe.observed.findings = findings;
    judge::judge(pe.observed)
}

fn block_inputs(v: &[(String, pprof::Profile, bool)]) -> Vec<BlockInput<'_>> {
    v.iter()
        .map(|(source, profile, text)| BlockInput {
            source,
            profile,
            text: *text,
        })
        .collect()
}

/// The bundle an artifact belongs to: its directory, with a trailing `proc` stripped.
fn bundle_of(name: &str) -> &str {
    let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
    dir.strip_suffix("/proc")
        .or_else(|| (dir == "proc").then_some(""))
        .unwrap_or(dir)
}

fn unknown_input(a: &Artifact<'_>) -> FormatError {
    if a.bytes.is_empty() {
        FormatError::whole(a.name, "empty input")
    } else {
        FormatError::at_offset(
            a.name,
            0,
            "not an artifact gorx reads (expected a pprof profile, a goroutine dump, a runtime \
             log with gctrace/schedtrace, an execution trace, expvar JSON, Prometheus text, or \
             a /proc file)",
        )
    }
}

fn text<'a>(a: &Artifact<'a>) -> Result<&'a str, FormatError> {
    std::str::from_utf8(a.bytes).map_err(|e| {
        FormatError::at_offset(
            a.name,
            e.valid_up_to() as u64,
            "invalid UTF-8 in a text artifact",
        )
    })
}

/// Files what one artifact says under its process.
fn observe(
    a: &Artifact<'_>,
    kind: ArtifactKind,
    pe: &mut ProcessEvidence,
) -> Result<(), FormatError> {
    let name = a.name;
    let mut out = Vec::new();
    match kind {
        ArtifactKind::PprofProto => {
            let p = pprof::parse(name, a.bytes)?;
            let kind = profiles::ProfileKind::detect(&p);
            if matches!(
                kind,
                profiles::ProfileKind::Block | profiles::ProfileKind::Mutex
            ) {
                // An empty contention profile is no evidence and no delta base, but it
                // says something: that kind of profiling is off (rate 0). An empty mutex
                // profile looks like an empty block profile; its file name tells them apart.
                if profiles::is_profiling_off(&p) {
                    let off = profiles::contention_kind(&p, name).unwrap_or(kind);
                    pe.empty_contention.push((off, name.to_string()));
                } else {
                    let to = if kind == profiles::ProfileKind::Mutex {
                        &mut pe.mutexes
                    } else {
                        &mut pe.blocks
                    };
                    to.push((name.to_string(), p, false));
                }
            } else {
                out.extend(profiles::profile_findings(&p, name));
                if matches!(
                    kind,
                    profiles::ProfileKind::Heap | profiles::ProfileKind::Allocs
                ) {
                    pe.observed.heaps.push(HeapObservation {
                        source: name.to_string(),
                        profile: p,
                    });
                }
            }
        }
        ArtifactKind::HeapText | ArtifactKind::CountProfileText | ArtifactKind::ContentionText => {
            match legacy::parse(name, a.bytes)? {
                legacy::TextProfile::Heap(h) => {
                    if let Some(ms) = &h.memstats {
                        out.extend(memory::memstats_findings(ms, name));
                        pe.snapshot.runtime = Some(RuntimeMemory::from(&**ms));
                        pe.sources.push(name.to_string());
                    }
                    if !h.records.is_empty() {
                        pe.observed.heaps.push(HeapObservation {
                            source: name.to_string(),
                            profile: judge::heap_text_profile(&h),
                        });
                    }
                }
                legacy::TextProfile::Contention(c) => {
                    let ck = if c.kind == "mutex" {
                        profiles::ProfileKind::Mutex
                    } else {
                        profiles::ProfileKind::Block
                    };
                    if let Some(rate) = c.sampling_period {
                        pe.contention_rates.push((ck, rate));
                    }
                    if c.records.is_empty() {
                        pe.empty_contention.push((ck, name.to_string()));
                    } else {
                        let p = profiles::contention_text_profile(&c);
                        let to = if c.kind == "mutex" {
                            &mut pe.mutexes
                        } else {
                            &mut pe.blocks
                        };
                        to.push((name.to_string(), p, true));
                    }
                }
                // Counts alone name no pathology; the debug=2 dump and the proto carry stacks.
                legacy::TextProfile::Count(_) => {}
            }
        }
        ArtifactKind::ProcStatus => {
            let s = procfs::parse_status(name, text(a)?)?;
            pe.notes.extend(s.skipped_lines.iter().cloned());
            pe.snapshot.pid = s.pid.unwrap_or(0);
            pe.snapshot.command = s.name.clone();
            pe.snapshot.status = Some(s);
            pe.note_proc(name);
        }
        ArtifactKind::ProcLimits => {
            let l = procfs::parse_limits(name, text(a)?)?;
            if let Some(n) = l.nofile() {
                pe.snapshot.nofile_soft = n.soft;
                pe.snapshot.nofile_hard = n.hard;
            }
            pe.note_proc(name);
        }
        ArtifactKind::ProcSmapsRollup => {
            pe.snapshot.smaps = Some(procfs::parse_smaps_rollup(name, text(a)?)?);
            pe.note_proc(name);
        }
        ArtifactKind::FdList => {
            let fds = procfs::parse_fd_listing(name, text(a)?)?;
            pe.notes.extend(fds.skipped_lines.iter().cloned());
            pe.snapshot.fds = Some(fds);
            pe.note_proc(name);
        }
        ArtifactKind::GoroutineDump => {
            let d = dump::parse(name, a.bytes)?;
            out.extend(goroutines::dump_findings(&d, name));
            pe.observed
                .dumps
                .push((name.to_string(), goroutines::summarize(&d)));
        }
        ArtifactKind::RuntimeLog => {
            // Lines that only look like gctrace are tolerated: a log interleaves
            // program output, and one odd line must not hide every GC cycle.
            let trace = gctrace::parse(name, a.bytes);
            // Pacing is judged against GOGC, which a scrape or the bundle's environment
            // of the same process may tell: judged after the bundle is read.
            pe.gc_logs.push((name.to_string(), trace));
        }
        ArtifactKind::Expvar => {
            let vars = expvar::parse(name, a.bytes)?;
            if let Some(ms) = vars.memstats {
                // heap?debug=1 and /metrics say the same; merge_same_id keeps one finding.
                out.extend(memory::memstats_findings(&ms, name));
                if pe.snapshot.runtime.is_none() {
                    pe.snapshot.runtime = Some(RuntimeMemory::from(&ms));
                    pe.sources.push(name.to_string());
                }
            }
        }
        ArtifactKind::Prometheus => {
            let view = MetricsView::from_exposition(&prometheus::parse(name, a.bytes)?);
            out.extend(metrics::metrics_findings(&view, name));
            if let Some(ms) = &view.memstats {
                out.extend(memory::memstats_findings(ms, name));
                if pe.snapshot.runtime.is_none() {
                    pe.snapshot.runtime = Some(RuntimeMemory::from(ms));
                    pe.sources.push(name.to_string());
                }
            }
            pe.gogc_percent = pe.gogc_percent.or(view.gogc_percent);
            if pe.snapshot.start_time_s.is_none() && view.start_time_s.is_some() {
                pe.start_source = Some(format!("process_start_time_seconds in {name}"));
            }
            view.fill_snapshot(&mut pe.snapshot);
            // process_* is read from the target's own /proc: process evidence.
            if view.has_process_metrics() {
                pe.note_proc(name);
            }
        }
        // v1 traces (Go 1.11–1.21) are converted to the same events by the reader.
        ArtifactKind::ExecutionTrace | ArtifactKind::ExecutionTraceLegacy => {
            // Streamed event by event: the analyzer holds summaries, never the trace. With
            // a second core, its side trackers run on a second reader of the same bytes,
            // on a thread of their own (two readers finish sooner on two cores than one
            // doing everything; on one core they only cost more).
            let read = |mut analyzer: TraceAnalyzer| {
                let mut reader = gorx_trace::Reader::new(name, a.bytes)?;
                while let Some(ev) = reader.next_event()? {
                    analyzer.observe(ev);
                }
                Ok::<_, FormatError>(analyzer.finish())
            };
            let summary = if crate::trace::second_core() {
                let (main, side) = crate::trace::beside(
                    || read(TraceAnalyzer::leaving_out(Sides::ALL)),
                    || {
                        let mut reader = gorx_trace::Reader::new(name, a.bytes)?;
                        let mut side = crate::trace::SideTrackers::new(Sides::ALL);
                        while let Some(ev) = reader.next_event()? {
                            side.observe(ev);
                        }
                        Ok::<_, FormatError>(side.finish())
                    },
                );
                let mut summary = main?;
                side?.finish_into(&mut summary);
                summary
            } else {
                read(TraceAnalyzer::new())?
            };
            // Judged with the process's goroutine dump, if any (judge.rs).
            pe.observed.traces.push((name.to_string(), summary));
        }
        ArtifactKind::Unknown => {}
    }
    pe.observed.findings.extend(out);
    Ok(())
}

impl ProcessEvidence {
    /// GOGC as the process reported it (/metrics), else from its environment; `Some(0)`
    /// is off. None when neither is known (the analyses then assume 100).
    fn gogc(&self) -> Option<u32> {
        if let Some(p) = self.gogc_percent {
            return Some(u32::try_from(p.max(0)).unwrap_or(u32::MAX));
        }
        let v = self.snapshot.env.as_ref()?.gogc.as_deref()?.trim();
        // The runtime reads "off" and any negative number as off.
        if v.eq_ignore_ascii_case("off") {
            return Some(0);
        }
        let n: i64 = v.parse().ok()?;
        Some(u32::try_from(n.max(0)).unwrap_or(u32::MAX))
    }

    fn note_proc(&mut self, source: &str) {
        self.has_proc = true;
        if !self.sources.iter().any(|s| s == source) {
            self.sources.push(source.to_string());
        }
    }
}

/// True when any finding is at or above `level`.
pub fn reaches(d: &Diagnosis, level: Severity) -> bool {
    d.max_severity().is_some_and(|s| s >= level)
}

#[cfg(test)]
mod tests {
    use super::{Artifact, bundle_of, diagnose};

    /// Two processes' captures read together keep their own findings (before the
    /// per-process judgement, one merged finding hid the second process).
    #[test]
    fn two_processes_are_judged_apart() {
        let root = gorx_testsupport::repo_root();
        let leak =
            std::fs::read(root.join("testdata/artifacts/1.26/goroutine-leak/goroutine.debug2.txt"))
                .unwrap();
        let one = |name| Artifact {
            name,
            bytes: &leak,
            explicit: true,
        };
        let alone = diagnose(&[one("a/goroutine.debug2.txt")]).unwrap();
        let together =
            diagnose(&[one("a/goroutine.debug2.txt"), one("b/goroutine.debug2.txt")]).unwrap();
        let count = |d: &crate::Diagnosis| {
            d.findings
                .iter()
                .filter(|f| f.id == "goroutine.leak")
                .count()
        };
        assert_eq!(count(&alone), 1);
        assert_eq!(count(&together), 2);
        let titles: Vec<&str> = together
            .findings
            .iter()
            .filter(|f| f.id == "goroutine.leak")
            .map(|f| f.title.as_str())
            .collect();
        assert!(
            titles[0].starts_with("a: ") && titles[1].starts_with("b: "),
            "{titles:?}"
        );
        assert!(!alone.findings[0].title.starts_with("a: "));
    }

    #[test]
    fn proc_files_belong_to_their_bundle() {
        assert_eq!(bundle_of("cap/2026-11-23/proc/status"), "cap/2026-11-23");
        assert_eq!(
            bundle_of("cap/2026-11-23/heap.debug1.txt"),
            "cap/2026-11-23"
        );
        assert_eq!(bundle_of("proc/limits"), "");
        assert_eq!(bundle_of("heap.pb.gz"), "");
        assert_eq!(bundle_of("/tmp/proc"), "/tmp");
    }
}
