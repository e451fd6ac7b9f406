//! Goroutine dump parsing of real crash/SIGQUIT/debug=2 outputs from Go 1.19–1.27.

use gorx_formats::goroutines::{self, CrashKind};
use gorx_testsupport::repo_root;

const VERSIONS: [&str; 5] = ["1.19", "1.22", "1.24", "1.26", "1.27"];

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("testdata/samples/dumps").join(name)).unwrap()
}

/// Independent count: lines that start a goroutine header.
fn header_lines(data: &[u8]) -> usize {
    String::from_utf8_lossy(data)
        .lines()
        .filter(|l| l.starts_with("goroutine ") && l.ends_with(':'))
        .count()
}

#[test]
fn deadlock_dumps() {
    for v in VERSIONS {
        let data = sample(&format!("deadlock-go{v}.txt"));
        let d = goroutines::parse("deadlock", &data).unwrap();
        let c = d.crash.as_ref().unwrap();
        assert!(c.is_deadlock(), "go{v}");
        assert_eq!(c.line, 1);
        assert_eq!(d.goroutines.len(), 4, "go{v}");
        let workers: Vec<_> = d
            .goroutines
            .iter()
            .filter(|g| {
                g.frames
                    .first()
                    .is_some_and(|f| f.function == "main.worker")
            })
            .collect();
        assert_eq!(workers.len(), 3, "go{v}");
        for w in workers {
            assert_eq!(w.state, "chan receive");
            assert!(w.frames[0].file.ends_with("deadlock/main.go"));
            assert_eq!(w.frames[0].line, 7);
            let cb = w.created_by.as_ref().unwrap();
            assert_eq!(cb.function, "main.main");
            assert_eq!(cb.line, 15);
            // "in goroutine N" appeared in Go 1.21.
            assert_eq!(cb.parent_goid.is_some(), v != "1.19", "go{v}");
        }
        let main = &d.goroutines[0];
        assert_eq!(main.id, 1);
        assert_eq!(main.frames.last().unwrap().function, "main.main");
        assert!(main.created_by.is_none());
    }
}

#[test]
fn panic_dumps_keep_args() {
    for v in VERSIONS {
        let data = sample(&format!("panic-go{v}.txt"));
        let d = goroutines::parse("panic", &data).unwrap();
        let c = d.crash.as_ref().unwrap();
        assert_eq!(
            (c.kind, c.message),
            (CrashKind::Panic, "assignment to entry in nil map")
        );
        let g = &d.goroutines[0];
        assert_eq!((g.id, g.state), (1, "running"));
        let f = &g.frames[0];
        assert_eq!(f.function, "main.crash");
        let args = goroutines::parse_args(f.args).unwrap();
        // t *T, s []string (an aggregate of three words), n int.
        let starts = args
            .iter()
            .filter(|a| **a == goroutines::Arg::AggregateStart)
            .count();
        assert_eq!(starts, 1, "go{v}: {}", f.args);
        assert!(f.pc_offset.is_some());
    }
}

#[test]
fn sigquit_system_dumps() {
    for v in VERSIONS {
        let data = sample(&format!("sigquit-system-go{v}.txt"));
        let d = goroutines::parse("sigquit", &data).unwrap();
        let c = d.crash.as_ref().unwrap();
        assert_eq!((c.kind, c.message), (CrashKind::Signal, "quit"), "go{v}");
        assert_eq!(d.goroutines.len(), header_lines(&data), "go{v}");
        // GOTRACEBACK=system: runtime goroutines are shown; Go 1.22+ adds gp=/m= headers.
        let with_gp = d.goroutines.iter().filter(|g| g.gp.is_some()).count();
        if v == "1.19" {
            assert_eq!(with_gp, 0, "go{v}");
        } else {
            assert_eq!(with_gp, d.goroutines.len(), "go{v}");
            assert!(d.goroutines.iter().any(|g| g.m.is_some() && g.mp.is_some()));
        }
        assert!(d.goroutines.iter().any(|g| g.state == "GC sweep wait"));
        let locked: Vec<_> = d.goroutines.iter().filter(|g| g.locked_to_thread).collect();
        assert_eq!(locked.len(), 1, "go{v}");
        assert!(locked[0].frames.iter().any(|f| f.function == "main.locked"));
        let mutex = d
            .goroutines
            .iter()
            .filter(|g| g.frames.iter().any(|f| f.function == "main.mu"))
            .count();
        assert_eq!(mutex, 3, "go{v}");
        assert!(!d.truncated);
    }
}

#[test]
fn go127_labels_and_debug2() {
    let data = sample("labels-go1.27.debug2.txt");
    let d = goroutines::parse("labels", &data).unwrap();
    assert!(d.crash.is_none());
    let labelled: Vec<_> = d
        .goroutines
        .iter()
        .filter(|g| !g.labels.is_empty())
        .collect();
    assert_eq!(labelled.len(), 3);
    for g in labelled {
        let get = |k: &str| {
            g.labels
                .iter()
                .find(|(kk, _)| kk == k)
                .map(|(_, v)| v.to_string())
        };
        assert_eq!(get("handler").as_deref(), Some("/api/v1"));
        assert_eq!(get("tenant id").as_deref(), Some("a\"b"));
        assert!(g.frames[0].inlined());
        assert_eq!(g.frames[0].pc_offset, None);
    }
    let data = sample("labels-go1.24.debug2.txt");
    let old = goroutines::parse("labels", &data).unwrap();
    assert!(old.goroutines.iter().all(|g| g.labels.is_empty()));
    assert_eq!(old.goroutines.len(), 4);
    let data = sample("labels-go1.27.crash.txt");
    let crash = goroutines::parse("crash", &data).unwrap();
    assert_eq!(crash.crash.unwrap().message, "boom");
}

#[test]
fn finalizer_dumps() {
    for v in ["1.19", "1.26", "1.27"] {
        let data = sample(&format!("finalizer-go{v}.debug2.txt"));
        let d = goroutines::parse("fin", &data).unwrap();
        let g = d
            .goroutines
            .iter()
            .find(|g| {
                g.frames
                    .iter()
                    .any(|f| f.function == "main.(*conn).release")
            })
            .unwrap();
        assert_eq!(g.state, "chan send");
        assert!(g.created_by.is_none());
    }
}

#[test]
fn bad_dumps_are_errors_with_locations() {
    let e = goroutines::parse("x", b"").unwrap_err();
    assert_eq!(e.location, gorx_formats::Location::Whole);
    let mut data = sample("deadlock-go1.26.txt");
    let at = data.len() / 2;
    data[at] = 0xff;
    let e = goroutines::parse("x", &data).unwrap_err();
    assert_eq!(e.location, gorx_formats::Location::Offset(at as u64));
    assert!(e.to_string().contains("x: at byte offset"));
    // Every truncation parses or errors, never panics.
    let full = sample("sigquit-system-go1.27.txt");
    for cut in (0..full.len()).step_by(7) {
        let _ = goroutines::parse("cut", &full[..cut]);
    }
}
