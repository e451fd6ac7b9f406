//! A real incident, bundled: the `offheap` patient's capture (Go 1.26) from the corpus,
//! embedded in the binary and diagnosed by the same code path as `gorx analyze`.

use gorx_analysis::artifacts::{Artifact, diagnose};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Print JSON (schema 1) instead of the readable report.
    #[arg(long)]
    pub json: bool,
}

macro_rules! bundle {
    ($($file:literal),* $(,)?) => {
        &[$(
            ($file, include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../testdata/artifacts/1.26/offheap/",
                $file
            )) as &[u8]),
        )*]
    };
}

/// The incident's files, as the regeneration script captured them.
const INCIDENT: &[(&str, &[u8])] = bundle!(
    "stderr.log",
    "heap.debug1.txt",
    "heap.pb.gz",
    "allocs.pb.gz",
    "cpu.pb.gz",
    "goroutine.debug2.txt",
    "goroutine.pb.gz",
    "mutex.pb.gz",
    "block.pb.gz",
    "threadcreate.pb.gz",
    "vars.json",
    "trace.out",
    "proc/status",
    "proc/limits",
    "proc/smaps_rollup",
    "proc/fd.txt",
);

const STORY: &str = "\
The incident: a Go 1.26 service's RSS climbs past 300 MiB and toward its OOM limit, yet its
heap profile and MemStats show a Go heap of a few MiB. What was collected: gctrace, the heap
profile with MemStats, CPU/goroutine/mutex/block profiles, a goroutine dump, expvar, an
execution trace, and /proc (status, limits, smaps_rollup, fds). gorx reads them all:
";

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let names: Vec<String> = INCIDENT
        .iter()
        .map(|(n, _)| format!("demo/offheap/{n}"))
        .collect();
    let artifacts: Vec<Artifact<'_>> = INCIDENT
        .iter()
        .zip(&names)
        .map(|((_, bytes), name)| Artifact {
            name,
            bytes,
            explicit: true,
        })
        .collect();
    let diagnosis = diagnose(&artifacts)?;
    if !args.json {
        println!("{STORY}");
    }
    super::print_diagnosis(&diagnosis, args.json);
    Ok(ExitCode::SUCCESS)
}
