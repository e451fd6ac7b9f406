//! Real client_golang scrapes (testdata/samples/prometheus, made by its gen/ program) go
//! through the same `artifacts::diagnose` as every other input: each planted state gives
//! its findings and nothing else at warning or above; the healthy scrape gives nothing.

use gorx_analysis::artifacts::{Artifact, diagnose};
use gorx_analysis::{Finding, Severity};
use gorx_testsupport::repo_root;

fn sample(name: &str) -> Vec<u8> {
    let p = repo_root().join("testdata/samples/prometheus").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn findings(files: &[(&str, &str)]) -> Vec<Finding> {
    let data: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(as_name, file)| (as_name.to_string(), sample(file)))
        .collect();
    let arts: Vec<Artifact<'_>> = data
        .iter()
        .map(|(n, b)| Artifact {
            name: n,
            bytes: b,
            explicit: true,
        })
        .collect();
    diagnose(&arts).unwrap().findings
}

fn serious(f: &[Finding]) -> Vec<(&'static str, Severity)> {
    let mut v: Vec<_> = f
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .map(|f| (f.id, f.severity))
        .collect();
    v.sort();
    v
}

#[test]
fn each_planted_state_gives_its_findings() {
    use Severity::{Critical, Warning};
    let cases: &[(&str, &[(&str, Severity)])] = &[
        ("healthy.prom", &[]),
        // 20,009 goroutines, 109 MiB of their stacks in 137 MiB of Sys.
        (
            "goroutine-leak.prom",
            &[
                ("goroutine.count-high", Warning),
                ("memory.stack-heavy", Critical),
            ],
        ),
        // 245 of 256 fds.
        ("fd-limit.prom", &[("fd.near-limit", Critical)]),
        // 256 MiB of touched anonymous mmap beside an 11 MiB Go runtime.
        ("offheap.prom", &[("memory.rss-gap", Critical)]),
        // 512 MiB burst dropped: 518 MiB idle, 6 MiB released.
        ("unreturned.prom", &[("memory.unreturned", Critical)]),
        // Busy loops with asyncpreemptoff=1: pauses of 44–399 ms.
        ("long-pause.prom", &[("gc.long-pause", Critical)]),
    ];
    for (file, want) in cases {
        let f = findings(&[(file, file)]);
        let got = serious(&f);
        let mut want = want.to_vec();
        want.sort();
        assert_eq!(got, want, "{file}: {f:#?}");
        for x in &f {
            assert_eq!(x.sources, vec![file.to_string()], "{file}: {}", x.id);
            assert!(!x.evidence.is_empty());
        }
    }
}

#[test]
fn evidence_carries_the_scraped_numbers() {
    let f = findings(&[("fd-limit.prom", "fd-limit.prom")]);
    let fd = f.iter().find(|f| f.id == "fd.near-limit").unwrap();
    assert_eq!(fd.evidence["open_fds"], 245);
    assert_eq!(fd.evidence["nofile_soft_limit"], 256);
    let f = findings(&[("offheap.prom", "offheap.prom")]);
    let gap = f.iter().find(|f| f.id == "memory.rss-gap").unwrap();
    let unaccounted = gap.evidence["unaccounted_bytes"].as_u64().unwrap();
    // The 256 MiB mapping is the gap; file-backed pages add a little.
    assert!(
        (256 << 20..300 << 20).contains(&unaccounted),
        "{unaccounted}"
    );
    assert!(gap.evidence.contains_key("rss_basis"));
    let f = findings(&[("long-pause.prom", "long-pause.prom")]);
    let p = f.iter().find(|f| f.id == "gc.long-pause").unwrap();
    assert_eq!(p.evidence["cycles"], 20);
    assert_eq!(p.evidence["pause_max_ns"], 399_185_370);
}

/// A bundle with vars.json and /metrics of the same process: both rebuild the same
/// MemStats, and the finding is reported once with both sources.
#[test]
fn vars_and_metrics_of_one_process_report_once() {
    let f = findings(&[
        ("cap/metrics.txt", "unreturned.prom"),
        ("cap/vars.json", "unreturned.vars.json"),
    ]);
    let ids: Vec<&str> = f.iter().map(|f| f.id).collect();
    let mut dedup = ids.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(ids.len(), dedup.len(), "{ids:?}");
    let u: Vec<&Finding> = f.iter().filter(|f| f.id == "memory.unreturned").collect();
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].severity, Severity::Critical);
    assert!(u[0].sources.contains(&"cap/metrics.txt".to_string()));
    assert!(u[0].sources.contains(&"cap/vars.json".to_string()));
    // vars.json alone says the same.
    let v = findings(&[("vars.json", "unreturned.vars.json")]);
    assert_eq!(serious(&v), vec![("memory.unreturned", Severity::Critical)]);
}

/// A bundle's block profile is judged per second of uptime when /metrics gives the
/// process start; its `?debug=1` twin (no timestamp) is not judged again on the total.
#[test]
fn process_start_from_metrics_makes_block_delay_a_rate() {
    let dir = repo_root().join("testdata/artifacts/1.26/chan-block");
    let block = std::fs::read(dir.join("block.pb.gz")).unwrap();
    let text = std::fs::read(dir.join("block.debug1.txt")).unwrap();
    let t = gorx_formats::pprof::parse("b", &block).unwrap().time_nanos as f64 / 1e9;
    let run = |uptime_s: f64| {
        let metrics = format!(
            "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds {}\n",
            t - uptime_s
        );
        let arts = [
            Artifact {
                name: "cap/block.pb.gz",
                bytes: &block,
                explicit: true,
            },
            Artifact {
                name: "cap/block.debug1.txt",
                bytes: &text,
                explicit: true,
            },
            Artifact {
                name: "cap/metrics",
                bytes: metrics.as_bytes(),
                explicit: true,
            },
        ];
        diagnose(&arts)
            .unwrap()
            .findings
            .into_iter()
            .filter(|f| f.id == "contention.block")
            .collect::<Vec<_>>()
    };
    let f = run(15.0);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].sources, vec!["cap/block.pb.gz"]);
    let basis = f[0].evidence["rate_basis"].as_str().unwrap();
    assert!(
        basis.contains("process_start_time_seconds in cap/metrics"),
        "{basis}"
    );
    assert!(
        run(36_000.0).is_empty(),
        "ten hours of uptime: 0.03 goroutines blocked"
    );
}

/// block-then-idle: 64 producers blocked for 3 s (block-1), then stopped; 3 s later
/// (block-2) the cumulative profile still holds their waits. Alone, block-2's total would
/// say "contention"; beside block-1 the difference over the 3 s between them says little
/// (22 s recorded when the stopped producers woke, about 7 goroutines: info).
#[test]
fn two_real_block_profiles_of_one_process() {
    let judge = |files: &[(&str, &str)]| {
        findings(files)
            .into_iter()
            .filter(|f| f.id == "contention.block")
            .collect::<Vec<_>>()
    };
    // The producers block in `select { case ch <- i: case <-done: }`: a select, which a
    // block profile cannot tell from a service loop waiting for work (issue 13), so it is
    // info at most on any basis, worded to say both (it was a warning here before).
    let alone = judge(&[("b/block-2.pb.gz", "block-2.pb.gz")]);
    assert_eq!(alone.len(), 1);
    assert_eq!(alone[0].severity, Severity::Info);
    assert!(alone[0].title.contains("select"), "{}", alone[0].title);
    assert!(
        alone[0].evidence["rate_basis"]
            .as_str()
            .unwrap()
            .starts_with("cumulative")
    );
    for pair in [
        [
            ("b/block-1.pb.gz", "block-1.pb.gz"),
            ("b/block-2.pb.gz", "block-2.pb.gz"),
        ],
        [
            ("b/block-2.pb.gz", "block-2.pb.gz"),
            ("b/block-1.pb.gz", "block-1.pb.gz"),
        ],
    ] {
        let f = judge(&pair);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(f[0].severity < Severity::Warning, "{f:#?}");
        let ev = &f[0].evidence;
        let interval = ev["interval_ns"].as_i64().unwrap();
        assert!(
            (2_900_000_000..4_000_000_000).contains(&interval),
            "{interval}"
        );
        assert_eq!(ev["base_profile"], "b/block-1.pb.gz");
        assert_eq!(f[0].sources, vec!["b/block-2.pb.gz", "b/block-1.pb.gz"]);
    }
    // The process start from the same process's scrape: block-1 is ~57 goroutines
    // blocked over its 3 s of life.
    let f = judge(&[
        ("c/block-1.pb.gz", "block-1.pb.gz"),
        ("c/metrics", "block-then-idle.prom"),
    ]);
    assert_eq!(f[0].severity, Severity::Info);
    let rate = f[0].evidence["delay_ns_per_s"].as_i64().unwrap();
    assert!((30_000_000_000..70_000_000_000).contains(&rate), "{rate}");
    // All three: the two profiles' difference is the best basis.
    let f = judge(&[
        ("d/block-1.pb.gz", "block-1.pb.gz"),
        ("d/block-2.pb.gz", "block-2.pb.gz"),
        ("d/metrics", "block-then-idle.prom"),
    ]);
    assert!(f[0].evidence.contains_key("interval_ns"));
}

/// gogc20/: a GOGC=20 process (no memory limit) with its gctrace log and its scrape. The
/// goal headroom of 20% looks like a memory limit squeezing the GC when GOGC is assumed
/// to be 100; with the scrape's go_gc_gogc_percent (or the environment of a capture
/// bundle) it is judged against the GOGC it really ran with.
#[test]
fn gogc_from_the_same_process_paces_the_gctrace_judgement() {
    use gorx_analysis::artifacts::{KnownProcess, diagnose_with};
    use gorx_analysis::process::ProcessSnapshot;
    let thrash = |f: &[Finding]| f.iter().any(|f| f.id == "gc.memlimit-thrash");
    let log_alone = findings(&[("gogc20/stderr.log", "gogc20/stderr.log")]);
    assert!(thrash(&log_alone), "the misreading this guards against");
    let with_scrape = findings(&[
        ("gogc20/stderr.log", "gogc20/stderr.log"),
        ("gogc20/metrics.prom", "gogc20/metrics.prom"),
    ]);
    assert!(!thrash(&with_scrape), "{with_scrape:#?}");
    // A capture bundle's environment says the same.
    let log = sample("gogc20/stderr.log");
    let arts = [Artifact {
        name: "cap/stderr.log",
        bytes: &log,
        explicit: true,
    }];
    let known = |gogc: &str| KnownProcess {
        dir: "cap".into(),
        snapshot: ProcessSnapshot {
            env: Some(gorx_formats::procfs::GoEnv {
                gogc: Some(gogc.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        trigger: Vec::new(),
    };
    let f = diagnose_with(&arts, vec![known("20")]).unwrap().findings;
    assert!(!thrash(&f), "{f:#?}");
    let f = diagnose_with(&arts, vec![known("100")]).unwrap().findings;
    assert!(thrash(&f));
}
