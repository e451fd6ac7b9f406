//! A real patient process: build the healthy patient, start it, talk to its debug
//! server over loopback, stop it. Needs a Go toolchain (skips without one, fails under
//! CI=true). The patient is killed by a Drop guard whatever happens.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gorx_testsupport::{go_toolchain, missing_prerequisite, patients_dir};

/// Kills and reaps the child on drop, so no patient outlives the test.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("gorx-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Waits for a child with a deadline; kills it when the deadline passes.
fn wait_bounded(mut child: Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not finish within {limit:?}");
            }
        }
    }
}

fn build_patient(go: &Path, patient: &str, out_dir: &Path) -> PathBuf {
    let out = out_dir.join(patient);
    let child = Command::new(go)
        .args(["build", "-trimpath", "-o"])
        .arg(&out)
        .arg(format!("./{patient}"))
        .current_dir(patients_dir())
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .spawn()
        .expect("spawn go build");
    // A cold standard-library build on a busy 2-core machine can take minutes.
    let status = wait_bounded(child, Duration::from_secs(600), "go build");
    assert!(status.success(), "go build ./{patient} failed: {status}");
    out
}

/// One HTTP/1.0 GET over a plain TCP stream (the server closes after the response).
/// Returns (status code, body).
fn http_get(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    assert!(
        addr.ip().is_loopback(),
        "live tests talk to loopback only, not {addr}"
    );
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("send request");
    let mut raw = Vec::new();
    s.take(16 << 20)
        .read_to_end(&mut raw)
        .expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("GET {path}: no header terminator in {} bytes", raw.len()));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status_line = head.lines().next().unwrap_or_default();
    let code = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("GET {path}: bad status line {status_line:?}"));
    (code, raw[split + 4..].to_vec())
}

#[test]
fn healthy_patient_serves_pprof_and_expvar() {
    let Some(go) = go_toolchain("") else {
        missing_prerequisite("a Go toolchain (go_toolchain(\"\"))");
        return;
    };
    let tmp = TempDir::new("patient");
    let bin = build_patient(&go, "healthy", &tmp.0);

    let started = Instant::now();
    let mut child = KillOnDrop(
        Command::new(&bin)
            .arg("-duration=25s")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start patient"),
    );

    // Read the announcement on a thread so a silent patient cannot hang the test.
    let stdout = child.0.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(15))
        .expect("patient printed no port line within 15 s");
    let addr: SocketAddr = line
        .trim_end()
        .strip_prefix("gorx-patient: listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("bad address in {line:?}: {e}"));
    assert!(
        addr.ip().is_loopback(),
        "patient listens on {addr}, not loopback"
    );
    assert_ne!(addr.port(), 0);

    let (code, body) = http_get(addr, "/debug/pprof/");
    assert_eq!(code, 200, "/debug/pprof/ status");
    let index = String::from_utf8_lossy(&body);
    for profile in [
        "goroutine",
        "heap",
        "allocs",
        "mutex",
        "block",
        "threadcreate",
    ] {
        assert!(
            index.contains(profile),
            "/debug/pprof/ does not list {profile}:\n{index}"
        );
    }

    let (code, body) = http_get(addr, "/debug/vars");
    assert_eq!(code, 200, "/debug/vars status");
    let vars: serde_json::Value = serde_json::from_slice(&body).expect("/debug/vars is JSON");
    assert_eq!(vars["patient"], "healthy");
    assert!(
        vars["memstats"]["HeapAlloc"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );
    assert!(vars["cmdline"].is_array());

    // The in-process load loop is running: requests are being served.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = http_get(addr, "/debug/vars");
        let vars: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        if vars["requests_served"].as_u64().is_some_and(|n| n >= 10) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "load loop served no requests: {vars}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // A missing profile is a 404, not a 200: the status check can fail.
    let (code, _) = http_get(addr, "/debug/pprof/no-such-profile");
    assert_eq!(code, 404);

    drop(child);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "live test took {:?}",
        started.elapsed()
    );
}
