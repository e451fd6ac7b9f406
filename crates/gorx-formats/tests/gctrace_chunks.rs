//! The chunked (parallel) gctrace scan gives exactly the sequential result wherever the
//! chunk boundaries fall.

use gorx_formats::gctrace;

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(
        gorx_testsupport::repo_root()
            .join("testdata/samples/logs")
            .join(name),
    )
    .unwrap()
}

/// One scan of the whole input as a single chunk (the sequential reference).
fn sequential(data: &[u8]) -> gctrace::GcTrace {
    gctrace::parse_split_at(data, data.len())
}

/// A small log with everything that crosses a boundary: a counter restart, klog and
/// docker JSON prefixes, two interleaved processes, malformed lines, a `gc ` that is not
/// gctrace, no final newline.
fn small_log() -> Vec<u8> {
    let klog = sample("gctrace-restart.klog.log");
    let lines: Vec<&[u8]> = klog.split(|&b| b == b'\n').collect();
    let restart = lines
        .iter()
        .position(|l| l.ends_with(b"process restarted"))
        .unwrap();
    let mut out = Vec::new();
    for l in &lines[restart - 8..restart + 8] {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out.extend_from_slice(b"gc 99 @0.1s 1%: torn line\nxgc 5 @1s not ours, gc 7 @\n");
    // Two processes' bare lines alternating (the join's one-cycle-at-a-time path).
    let (a, b) = (sample("gctrace-go1.19.log"), sample("gctrace-go1.27.log"));
    let gc_lines = |d: &[u8]| -> Vec<Vec<u8>> {
        d.split(|&b| b == b'\n')
            .filter(|l| l.starts_with(b"gc "))
            .take(8)
            .map(<[u8]>::to_vec)
            .collect()
    };
    for (x, y) in gc_lines(&a).iter().zip(gc_lines(&b)) {
        for l in [x, &y] {
            out.extend_from_slice(l);
            out.push(b'\n');
        }
    }
    let json = sample("gctrace-go1.24.docker-json.log");
    for l in json.split(|&b| b == b'\n').take(6) {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out.pop(); // no newline at the end
    out
}

#[test]
fn every_chunk_boundary_gives_the_sequential_result() {
    let data = small_log();
    let want = sequential(&data);
    assert!(want.run_count() >= 5, "{:?}", want.run_count());
    assert!(!want.malformed.is_empty());
    assert_eq!(want, gctrace::parse("x", &data));
    for cut in 0..=data.len() {
        assert_eq!(
            gctrace::parse_split_at(&data, cut),
            want,
            "cut at byte {cut}"
        );
    }
}

/// A log large enough for `parse` to split it across threads: the corpus logs repeated
/// (every repetition restarts the counters).
#[test]
fn parallel_parse_of_corpus_logs_equals_sequential() {
    let mut seed = Vec::new();
    for (_, _, dir) in gorx_testsupport::corpus_entries() {
        if let Ok(log) = std::fs::read(dir.join("stderr.log")) {
            seed.extend_from_slice(&log);
        }
    }
    if seed.is_empty() {
        gorx_testsupport::missing_prerequisite("corpus stderr.log files");
        return;
    }
    let mut data = Vec::new();
    while data.len() < 12 << 20 {
        data.extend_from_slice(&seed);
    }
    let want = sequential(&data);
    assert!(want.cycle_count() > 10_000);
    assert_eq!(gctrace::parse("big", &data), want);
    let streamed = gctrace::parse_reader("big", &data[..]).unwrap();
    assert_eq!(streamed, want);
}

/// One process's run across every chunk of a parallel parse, with a long stretch of
/// other output in the middle (chunks without a cycle): stored once per chunk, the run
/// still reads as one slice equal to the sequential parse.
#[test]
fn one_run_across_many_chunks() {
    let seed = sample("gctrace-go1.27.log");
    let lines: Vec<&[u8]> = seed
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"gc "))
        .collect();
    let mut data = Vec::new();
    let mut n = 0u64;
    while data.len() < 24 << 20 {
        for l in &lines {
            n += 1;
            // `gc N @T.TTTs` renumbered into one continuous run.
            let rest = &l[l.iter().position(|&b| b == b's').unwrap()..];
            data.extend_from_slice(format!("gc {n} @{}.{:03}", n / 1000, n % 1000).as_bytes());
            data.extend_from_slice(rest);
            data.push(b'\n');
            if n == 20_000 {
                for i in 0..200_000 {
                    data.extend_from_slice(format!("request {i} served in 3ms\n").as_bytes());
                }
            }
        }
    }
    let t = gctrace::parse("one", &data);
    assert_eq!(t.run_count(), 1);
    assert_eq!(t.cycle_count() as u64, n);
    let run = t.run(0).unwrap();
    assert!(run.cycles.pairs().all(|(a, b)| b.n() == a.n() + 1));
    // The run crosses chunks and stays in their pieces; every accessor sees one sequence.
    assert!(run.cycles.slices().count() > 1);
    let all = run.cycles.to_vec();
    assert_eq!(all.len(), run.cycles.len());
    assert!(all.iter().eq(run.cycles.iter()));
    assert!(all.iter().rev().eq(run.cycles.iter().rev()));
    assert_eq!(run.cycles.first(), all.first());
    assert_eq!(run.cycles.last(), all.last());
    for i in [0, 1, all.len() / 3, all.len() / 2, all.len() - 1] {
        assert_eq!(run.cycles.get(i), Some(&all[i]));
        assert_eq!(run.cycles[i], all[i]);
    }
    assert_eq!(run.cycles.get(all.len()), None);
    assert_eq!(run.cycles.pairs().count(), all.len() - 1);
    assert_eq!(t, sequential(&data));
    assert_eq!(t, gctrace::parse_reader("one", &data[..]).unwrap());
}
