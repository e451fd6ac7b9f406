//! `gorx probe` on real processes: the syscall-blocking patient's slow syscalls named at
//! their Go sites, BPF links detached on every exit path (normal end, SIGINT, target exit),
//! and a hostile environment (no privileges, no BTF, a non-Go pid, no such pid) giving a
//! clear message and exit 2.
//!
//! Needs root, kernel BTF, bpftool (to count links) and Go: skips without them, fails under
//! CI=true. The tests are serialized (they count the machine's raw-tracepoint links) and
//! each is bounded well under 30 s.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use gorx_testsupport::{go_toolchain, missing_prerequisite, patients_dir};

static SERIAL: Mutex<()> = Mutex::new(());

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn gorx() -> &'static str {
    env!("CARGO_BIN_EXE_gorx")
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Root, BTF and bpftool, or a skip (a failure under CI).
fn bpf_capable() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        missing_prerequisite("root (BPF probes)");
        return false;
    }
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        missing_prerequisite("kernel BTF (/sys/kernel/btf/vmlinux)");
        return false;
    }
    if !have("bpftool") {
        missing_prerequisite("bpftool (apt-get install -y bpftool)");
        return false;
    }
    true
}

/// The raw-tracepoint links on sys_enter/sys_exit (ours, or any other tracer's).
fn syscall_links() -> usize {
    let out = Command::new("bpftool")
        .args(["link", "show", "-j"])
        .output()
        .expect("bpftool");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::json!([]));
    v.as_array()
        .map(|a| {
            a.iter()
                .filter(|l| matches!(l["tp_name"].as_str(), Some("sys_enter" | "sys_exit")))
                .count()
        })
        .unwrap_or(0)
}

/// Loaded BPF programs with one of these names: gorx's own, whatever else runs on the
/// machine (other tracers attach to the same tracepoints, so links are not counted here).
/// The kernel frees a program after its last fd closes, from deferred work: a count that
/// is still above `want` is read again for up to 3 s.
fn progs_named_settled(names: &[&str], want: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let n = progs_named(names);
        if n <= want || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn progs_named(names: &[&str]) -> usize {
    let out = Command::new("bpftool")
        .args(["prog", "show", "-j"])
        .output()
        .expect("bpftool");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::json!([]));
    v.as_array()
        .map(|a| {
            a.iter()
                .filter(|p| p["name"].as_str().is_some_and(|n| names.contains(&n)))
                .count()
        })
        .unwrap_or(0)
}

/// The runq probe's programs (loaded only while a gorx probe runs).
fn sched_links() -> usize {
    progs_named(&["runq_wakeup", "runq_wakeup_new", "runq_switch"])
}

/// The fd probe's programs.
fn fds_progs() -> usize {
    progs_named(&["fds_enter", "fds_exit"])
}

/// The patient binary, built once per test run.
fn patient() -> Option<PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| build_patient("syscall-blocking", &[]))
        .clone()
}

/// The fd-leak patient: a socket pair and a file opened every 200 ms, never closed.
fn fd_leak_patient() -> Option<PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| build_package("fd-leak", "fd-leak", &[]))
        .clone()
}

/// The sched-latency patient: CPU-bound goroutines (as many as GOMAXPROCS can run).
fn sched_patient() -> Option<PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| build_package("sched-latency", "sched-latency", &[]))
        .clone()
}

/// The patient stripped of its symbol table and built as a PIE (loaded at a random base).
fn stripped_pie_patient() -> Option<PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        build_patient(
            "syscall-blocking-stripped-pie",
            &["-buildmode=pie", "-ldflags=-s -w"],
        )
    })
    .clone()
}

fn build_patient(name: &str, flags: &[&str]) -> Option<PathBuf> {
    build_package(name, "syscall-blocking", flags)
}

fn build_package(name: &str, package: &str, flags: &[&str]) -> Option<PathBuf> {
    let go = go_toolchain("")?;
    let dir = std::env::temp_dir().join(format!("gorx-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let out = dir.join(name);
    let ok = Command::new(go)
        .arg("build")
        .args(flags)
        .args(["-trimpath", "-o"])
        .arg(&out)
        .arg(format!("./{package}"))
        .current_dir(patients_dir())
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "go build {flags:?} ./{package} failed");
    Some(out)
}

/// Start the patient and wait until it says it is ready (its pipes are being fed).
fn start_patient() -> Option<KillOnDrop> {
    start_patient_bin(patient())
}

fn start_patient_bin(bin: Option<PathBuf>) -> Option<KillOnDrop> {
    start_patient_cmd(bin, |_| {})
}

/// Start a patient binary, `setup` adjusting its command (environment, cgroup).
fn start_patient_cmd(bin: Option<PathBuf>, setup: impl FnOnce(&mut Command)) -> Option<KillOnDrop> {
    let Some(bin) = bin else {
        missing_prerequisite("a Go toolchain (go_toolchain(\"\"))");
        return None;
    };
    let mut cmd = Command::new(bin);
    setup(&mut cmd);
    let mut child = KillOnDrop(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start patient"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(15))
        .expect("patient announced nothing in 15 s");
    assert!(line.starts_with("gorx-patient: listening"), "{line:?}");
    // Its readers and sleepers start at once; let them block once.
    std::thread::sleep(Duration::from_millis(500));
    Some(child)
}

/// Run a command to completion within `limit`, collecting its output.
fn run_bounded(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_output(&mut child, limit)
}

fn wait_output(child: &mut Child, limit: Duration) -> Output {
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t2 = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("command did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: t1.join().unwrap(),
        stderr: t2.join().unwrap(),
    }
}

fn probe_cmd(pid: u32, extra: &[&str]) -> Command {
    let mut c = Command::new(gorx());
    c.arg("probe").arg(pid.to_string()).args(extra);
    c
}

#[test]
fn syscall_blocking_patient_names_read_and_nanosleep_at_their_go_sites() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    let Some(p) = start_patient() else { return };
    let before = syscall_links();
    let out = run_bounded(
        probe_cmd(p.0.id(), &["--duration", "4s", "--json"]),
        Duration::from_secs(25),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert_eq!(
        syscall_links(),
        before,
        "BPF links left attached after gorx probe"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["schema"], 1);
    let findings = v["findings"].as_array().unwrap();
    let slow = |syscall: &str| {
        findings
            .iter()
            .find(|f| f["id"] == "syscall.slow" && f["evidence"]["syscall"] == syscall)
            .unwrap_or_else(|| panic!("no syscall.slow for {syscall}: {findings:#?}"))
    };
    // 32 pipe readers wake every ~1.6 s, 16 sleepers every 300 ms: both pin threads.
    let read = slow("read");
    assert_eq!(read["sites"][0], "main.reader");
    assert!(read["severity"] != "info", "{read:#}");
    let nap = slow("nanosleep");
    assert_eq!(nap["sites"][0], "main.sleeper");
    // The runtime's own sleeps are not findings.
    assert!(
        findings
            .iter()
            .all(|f| !f["sites"][0].as_str().unwrap_or("").starts_with("runtime.")),
        "{findings:#?}"
    );
    // The probes section: the per-syscall table and the slow groups with stacks.
    let rep = &v["probes"]["syscalls"]["report"];
    let reads = rep["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "read")
        .unwrap();
    assert!(reads["count"].as_u64().unwrap() > 0);
    // Most of the 32 readers are mid-read (1.6 s each) when the 4 s window closes.
    let in_flight = rep["in_flight"].as_array().unwrap();
    assert!(
        in_flight.iter().filter(|f| f["name"] == "read").count() >= 8,
        "{in_flight:#?}"
    );
    let groups = v["probes"]["syscalls"]["slow_groups"].as_array().unwrap();
    let g = groups.iter().find(|g| g["site"] == "main.reader").unwrap();
    assert!(
        g["stack"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "syscall.Read" || f == "syscall.read"),
        "{g:#}"
    );
}

#[test]
fn sigint_and_sigterm_end_the_window_early_print_results_and_detach() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    let Some(p) = start_patient() else { return };
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let before = syscall_links();
        let mut child = probe_cmd(p.0.id(), &["--duration", "25s"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while syscall_links() < before + 2 {
            assert!(
                Instant::now() < deadline,
                "gorx probe never attached its two links"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(1500));
        let started = Instant::now();
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        let out = wait_output(&mut child, Duration::from_secs(8));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "signal {signal} took {:?}",
            started.elapsed()
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "signal {signal}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("Syscalls of pid"));
        assert_eq!(syscall_links(), before, "links left after signal {signal}");
    }
}

#[test]
fn a_target_exiting_mid_probe_exits_2_with_what_was_seen() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    let Some(mut p) = start_patient() else { return };
    let before = syscall_links();
    let mut child = probe_cmd(p.0.id(), &["--duration", "20s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let _ = p.0.kill();
    let _ = p.0.wait();
    let out = wait_output(&mut child, Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("exited"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("the target exited"));
    assert_eq!(
        syscall_links(),
        before,
        "links left after the target exited"
    );
}

#[test]
fn hostile_environment_names_what_is_missing_and_exits_2() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    let before = syscall_links();
    let mut other = KillOnDrop(Command::new("sleep").arg("30").spawn().unwrap());
    let non_go = other.0.id();
    let expect = |mut cmd: Command, needle: &str| {
        cmd.env_remove("CI");
        let out = run_bounded(cmd, Duration::from_secs(15));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{needle}: {stderr}");
        assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    };
    let sched_before = sched_links();
    let fds_before = fds_progs();
    // Each probe set refuses the same way.
    for only in ["syscalls", "runq", "fds", "syscalls,runq,fds"] {
        let args = ["--duration", "1s", "--only", only];
        // A non-Go process.
        expect(probe_cmd(non_go, &args), "is not a Go program");
        // No BTF (pointed elsewhere: the kernel here has it).
        let mut c = probe_cmd(non_go, &args);
        c.env("GORX_BTF_PATH", "/nonexistent/btf");
        expect(c, "the kernel has no BTF");
        // No privileges: run as nobody with every capability dropped.
        if have("setpriv") {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
                gorx(),
                "probe",
            ])
            .arg(non_go.to_string())
            .args(args);
            expect(c, "missing privileges");
        } else {
            missing_prerequisite("setpriv (util-linux)");
        }
    }
    // Inside another PID namespace the kernel's tgids are not the pids gorx sees.
    if have("unshare") {
        let mut c = Command::new("unshare");
        c.args(["--pid", "--fork", "--mount-proc", gorx(), "probe"])
            .arg(non_go.to_string())
            .args(["--duration", "1s"]);
        expect(c, "PID namespace other than the host's");
    } else {
        missing_prerequisite("unshare (util-linux)");
    }
    // A pid that no longer exists.
    let _ = other.0.kill();
    let _ = other.0.wait();
    expect(probe_cmd(non_go, &["--duration", "1s"]), "does not exist");
    expect(
        probe_cmd(non_go, &["--duration", "1s", "--only", "runq"]),
        "does not exist",
    );
    // A planned probe that is not there yet is refused, not ignored.
    let out = run_bounded(probe_cmd(1, &["--only", "offcpu"]), Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not implemented yet"));
    assert_eq!(syscall_links(), before);
    assert_eq!(sched_links(), sched_before);
    assert_eq!(fds_progs(), fds_before);
}

/// Go program for the oracle: on each stdin line, exactly 20000 openat calls.
const OPENAT_PROG: &str = r#"package main

import (
	"bufio"
	"fmt"
	"os"
	"syscall"
)

func main() {
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		n := 0
		for i := 0; i < 20000; i++ {
			fd, err := syscall.Open("/dev/null", syscall.O_RDONLY, 0)
			if err == nil {
				syscall.Close(fd)
				n++
			}
		}
		fmt.Println("done", n)
	}
}
"#;

/// tracefs mounted for bpftrace's tracepoints (gorx needs none), unmounted after if this
/// test mounted it.
struct Tracefs(bool);
impl Tracefs {
    fn ensure() -> Tracefs {
        if Path::new("/sys/kernel/tracing/events").exists() {
            return Tracefs(false);
        }
        let ok = Command::new("mount")
            .args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"])
            .status()
            .is_ok_and(|s| s.success());
        Tracefs(ok)
    }
}
impl Drop for Tracefs {
    fn drop(&mut self) {
        if self.0 {
            let _ = Command::new("umount").arg("/sys/kernel/tracing").status();
        }
    }
}

/// Build a one-file Go program (module `name`) in a temp dir, start it with piped stdin and
/// stdout, and wait for its "ready" line. Also returns the temp dir. None (a missing
/// prerequisite) without Go.
fn start_inline_program(
    name: &str,
    main_go: &str,
) -> Option<(KillOnDrop, mpsc::Receiver<String>, PathBuf)> {
    let Some(go) = go_toolchain("") else {
        missing_prerequisite("a Go toolchain (go_toolchain(\"\"))");
        return None;
    };
    let dir = std::env::temp_dir().join(format!("gorx-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.go"), main_go).unwrap();
    std::fs::write(dir.join("go.mod"), format!("module {name}\n\ngo 1.21\n")).unwrap();
    let bin = dir.join(name);
    let built = Command::new(go)
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(&dir)
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .status()
        .unwrap();
    assert!(built.success());
    let mut target = KillOnDrop(
        Command::new(&bin)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let t_out = line_reader(target.0.stdout.take().unwrap());
    assert_eq!(
        read_line_within(&t_out, Duration::from_secs(10), "target"),
        "ready"
    );
    Some((target, t_out, dir))
}

fn read_line_within(r: &mpsc::Receiver<String>, limit: Duration, what: &str) -> String {
    r.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what}: no line within {limit:?}"))
}

fn line_reader(out: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn openat_count_agrees_with_bpftrace_over_the_same_window() {
    use std::io::Write;
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    if !have("bpftrace") {
        missing_prerequisite("bpftrace (apt-get install -y bpftrace)");
        return;
    }
    let Some((mut target, t_out, dir)) = start_inline_program("openat", OPENAT_PROG) else {
        return;
    };
    let pid = target.0.id();

    let _tracefs = Tracefs::ensure();
    let mut bt = KillOnDrop(
        Command::new("bpftrace")
            .arg("-e")
            .arg(format!(
                "tracepoint:syscalls:sys_enter_openat /pid == {pid}/ {{ @n = count(); }}"
            ))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let bt_out = line_reader(bt.0.stdout.take().unwrap());
    let first = read_line_within(&bt_out, Duration::from_secs(15), "bpftrace");
    assert!(first.starts_with("Attaching"), "bpftrace: {first}");

    let before = syscall_links();
    let mut probe = probe_cmd(pid, &["--duration", "25s", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while syscall_links() < before + 2 {
        assert!(Instant::now() < deadline, "gorx probe never attached");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Both attached: the burst falls inside both windows.
    writeln!(target.0.stdin.as_mut().unwrap(), "go").unwrap();
    let done = read_line_within(&t_out, Duration::from_secs(15), "target burst");
    assert_eq!(done, "done 20000");
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: kill(2) on our own children.
    unsafe {
        libc::kill(probe.id() as libc::pid_t, libc::SIGINT);
        libc::kill(bt.0.id() as libc::pid_t, libc::SIGINT);
    }
    let out = wait_output(&mut probe, Duration::from_secs(10));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let gorx_n = v["probes"]["syscalls"]["report"]["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "openat")
        .and_then(|s| s["count"].as_u64())
        .unwrap_or(0);
    let mut bt_n = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while bt_n.is_none() && Instant::now() < deadline {
        if let Ok(l) = bt_out.recv_timeout(Duration::from_millis(200))
            && let Some(n) = l.strip_prefix("@n: ")
        {
            bt_n = n.trim().parse::<u64>().ok();
        }
    }
    let bt_n = bt_n.expect("bpftrace printed no @n");
    let diff = gorx_n.abs_diff(bt_n) as f64 / bt_n.max(1) as f64;
    eprintln!("openat over the same window: gorx {gorx_n}, bpftrace {bt_n}");
    assert!(
        bt_n >= 20000 && gorx_n >= 20000,
        "gorx {gorx_n}, bpftrace {bt_n}"
    );
    assert!(
        diff <= 0.02,
        "gorx {gorx_n} vs bpftrace {bt_n}: {:.2}% apart",
        diff * 100.0
    );
    assert_eq!(syscall_links(), before);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_killed_gorx_leaves_no_links() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    let Some(p) = start_patient() else { return };
    let before = syscall_links();
    let mut child = probe_cmd(p.0.id(), &["--duration", "25s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while syscall_links() < before + 2 {
        assert!(Instant::now() < deadline, "gorx probe never attached");
        std::thread::sleep(Duration::from_millis(100));
    }
    // SIGKILL: no handler runs; the kernel drops the links with the process's fds.
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while syscall_links() != before {
        assert!(Instant::now() < deadline, "links left after SIGKILL");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_stripped_pie_patient_is_symbolized_through_its_function_table() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    let Some(p) = start_patient_bin(stripped_pie_patient()) else {
        return;
    };
    let out = run_bounded(
        probe_cmd(p.0.id(), &["--duration", "3s", "--json"]),
        Duration::from_secs(25),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let sites: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "syscall.slow")
        .filter_map(|f| f["sites"][0].as_str())
        .collect();
    assert!(sites.contains(&"main.reader"), "{sites:?}");
    assert!(sites.contains(&"main.sleeper"), "{sites:?}");
}

/// A throwaway cpu cgroup with a CFS quota (v2 `cpu.max` where the machine has v2, else
/// v1's cpu hierarchy, as gorx tune's lab cells); removed on drop.
struct QuotaCgroup {
    dir: PathBuf,
    procs: std::fs::File,
}

impl QuotaCgroup {
    fn create(name: &str, cpus: f64) -> Option<QuotaCgroup> {
        let root = Path::new("/sys/fs/cgroup");
        let quota = (cpus * 100_000.0) as u64;
        let dir = if root.join("cgroup.controllers").exists() {
            let _ = std::fs::write(root.join("cgroup.subtree_control"), "+cpu");
            let d = root.join(name);
            std::fs::create_dir_all(&d).ok()?;
            std::fs::write(d.join("cpu.max"), format!("{quota} 100000")).ok()?;
            d
        } else {
            let d = root.join("cpu").join(name);
            std::fs::create_dir_all(&d).ok()?;
            std::fs::write(d.join("cpu.cfs_period_us"), "100000").ok()?;
            std::fs::write(d.join("cpu.cfs_quota_us"), quota.to_string()).ok()?;
            d
        };
        let procs = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))
            .ok()?;
        Some(QuotaCgroup { dir, procs })
    }

    /// The child joins the cgroup between fork and exec.
    fn enter_on_spawn(&self, cmd: &mut Command) {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let fd = self.procs.as_raw_fd();
        // SAFETY: only write(2) runs between fork and exec (async-signal-safe); "0" moves
        // the writing process itself.
        unsafe {
            cmd.pre_exec(move || {
                if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

impl Drop for QuotaCgroup {
    fn drop(&mut self) {
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn runq_json(pid: u32, duration: &str) -> serde_json::Value {
    let sched_before = sched_links();
    let out = run_bounded(
        probe_cmd(pid, &["--only", "runq", "--duration", duration, "--json"]),
        Duration::from_secs(15),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert_eq!(
        progs_named_settled(
            &["runq_wakeup", "runq_wakeup_new", "runq_switch"],
            sched_before
        ),
        sched_before,
        "runq programs left loaded"
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn runq_in_a_cpu_quota_cgroup_shows_the_delay_and_names_the_quota() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    // Baseline: the mostly idle syscall-blocking patient, no quota.
    let Some(idle) = start_patient() else { return };
    let base = runq_json(idle.0.id(), "2s");
    drop(idle);
    let base_p99 = base["probes"]["runq"]["p99_ns"].as_u64().unwrap();
    assert!(
        base["probes"]["runq"]["report"]["all"]["count"]
            .as_u64()
            .unwrap()
            > 0,
        "no run-queue delays measured for the idle patient: {base:#}"
    );

    // Four CPU-bound Ps in 0.2 CPU: each 100 ms period runs 20 ms and throttles 80.
    let name = format!("gorx-probe-runq-{}", std::process::id());
    let Some(cg) = QuotaCgroup::create(&name, 0.2) else {
        missing_prerequisite("a writable cpu cgroup hierarchy (/sys/fs/cgroup)");
        return;
    };
    let Some(p) = start_patient_cmd(sched_patient(), |c| {
        c.env("GOMAXPROCS", "4");
        cg.enter_on_spawn(c);
    }) else {
        return;
    };
    let v = runq_json(p.0.id(), "3s");
    drop(p);
    let runq = &v["probes"]["runq"];
    let p99 = runq["p99_ns"].as_u64().unwrap();
    let cpu = &runq["report"]["cpu"];
    assert!(
        cpu["nr_throttled"].as_u64().unwrap_or(0) > 0,
        "no throttled periods in the window: {cpu:#}"
    );
    assert!(
        cpu["cgroup"].as_str().unwrap_or("").contains(&name),
        "{cpu:#}"
    );
    assert!(
        p99 >= 20_000_000 && p99 > 4 * base_p99,
        "throttled P99 {p99} ns vs idle P99 {base_p99} ns"
    );
    assert!(
        runq["report"]["after_preemption"]["count"]
            .as_u64()
            .unwrap()
            > 0,
        "{runq:#}"
    );
    let findings = v["findings"].as_array().unwrap();
    let f = findings
        .iter()
        .find(|f| f["id"] == "sched.cpu-starved")
        .unwrap_or_else(|| panic!("no sched.cpu-starved: {findings:#?}"));
    assert_eq!(f["evidence"]["cause"], "cgroup-throttled", "{f:#}");
    assert_ne!(f["severity"], "info", "{f:#}");
    assert!(f["title"].as_str().unwrap().contains("CFS quota"), "{f:#}");
    drop(cg);
}

#[test]
fn fd_leak_patient_names_the_leaking_function_and_not_the_balanced_one() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    let Some(p) = start_patient_bin(fd_leak_patient()) else {
        return;
    };
    let before = fds_progs();
    let out = run_bounded(
        probe_cmd(p.0.id(), &["--only", "fds", "--duration", "4s", "--json"]),
        Duration::from_secs(20),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert_eq!(
        progs_named_settled(&["fds_enter", "fds_exit"], before),
        before,
        "fd probe programs left loaded"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let findings = v["findings"].as_array().unwrap();
    let leak = |site: &str| {
        findings
            .iter()
            .find(|f| f["id"] == "fd.leak" && f["sites"][0] == site)
    };
    // The dialer goroutine opens a socket and a file every 200 ms and keeps both.
    let f = leak("main.main.func2").unwrap_or_else(|| panic!("no fd.leak: {findings:#?}"));
    assert!(
        f["evidence"]["outstanding"].as_i64().unwrap() >= 20,
        "{f:#}"
    );
    assert_eq!(f["evidence"]["closed"], 0, "{f:#}");
    // openFDs reads /proc/self/fd every tick and closes it: balanced, not a leak.
    assert!(leak("main.openFDs").is_none(), "{findings:#?}");
    let sites = v["probes"]["fds"]["sites"].as_array().unwrap();
    let balanced = sites.iter().find(|g| g["site"] == "main.openFDs");
    if let Some(b) = balanced {
        assert_eq!(b["outstanding"], 0, "{b:#}");
    }
    let g = sites
        .iter()
        .find(|g| g["site"] == "main.main.func2")
        .unwrap();
    assert!(
        g["stack"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "syscall.Socket" || f == "syscall.openat" || f == "os.Open"),
        "{g:#}"
    );
}

#[test]
fn runq_and_fds_end_with_the_target_and_unload_their_programs() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    let ours = [
        "runq_wakeup",
        "runq_wakeup_new",
        "runq_switch",
        "fds_enter",
        "fds_exit",
    ];
    let before = progs_named(&ours);
    let Some(mut p) = start_patient() else { return };
    let mut child = probe_cmd(p.0.id(), &["--only", "runq,fds", "--duration", "20s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while progs_named(&ours) < before + ours.len() {
        assert!(
            Instant::now() < deadline,
            "gorx probe never loaded its programs"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let _ = p.0.kill();
    let _ = p.0.wait();
    let out = wait_output(&mut child, Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("exited"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Run-queue delay of pid") && stdout.contains("the target exited"),
        "{stdout}"
    );
    assert_eq!(
        progs_named_settled(&ours, before),
        before,
        "programs left loaded after the target exited"
    );
}

/// Go program for the fd counts: on each stdin line, 300 files opened and kept, 300 opened
/// and closed, 100 pipes (200 fds) kept and one dup2 onto a kept fd (its old file is
/// closed by the kernel: a release the probe must see).
const FDS_PROG: &str = r#"package main

import (
	"bufio"
	"fmt"
	"os"
	"syscall"
)

var kept []int

//go:noinline
func keep() {
	for i := 0; i < 300; i++ {
		if fd, err := syscall.Open("/dev/null", syscall.O_RDONLY, 0); err == nil {
			kept = append(kept, fd)
		}
	}
}

//go:noinline
func balanced() {
	for i := 0; i < 300; i++ {
		if fd, err := syscall.Open("/dev/null", syscall.O_RDONLY, 0); err == nil {
			syscall.Close(fd)
		}
	}
}

//go:noinline
func pipes() {
	for i := 0; i < 100; i++ {
		var p [2]int
		if syscall.Pipe2(p[:], syscall.O_CLOEXEC) == nil {
			kept = append(kept, p[0], p[1])
		}
	}
}

//go:noinline
func redirect() {
	// dup2 onto the first kept file: the kernel closes that file, dup2 owns the number.
	syscall.Dup3(kept[len(kept)-1], kept[0], 0)
}

func main() {
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		keep()
		balanced()
		pipes()
		redirect()
		fmt.Println("done", len(kept))
	}
}
"#;

#[test]
fn fd_counts_per_site_are_exact_on_a_known_program() {
    use std::io::Write;
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    let Some((mut target, t_out, _dir)) = start_inline_program("fds", FDS_PROG) else {
        return;
    };
    let pid = target.0.id();
    let names = ["fds_enter", "fds_exit"];
    let before = progs_named(&names);
    let mut probe = probe_cmd(pid, &["--only", "fds", "--duration", "20s", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while progs_named(&names) < before + 2 {
        assert!(Instant::now() < deadline, "gorx probe never loaded");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Loaded, then attached right after: give it a moment.
    std::thread::sleep(Duration::from_millis(500));
    writeln!(target.0.stdin.as_mut().unwrap(), "go").unwrap();
    let done = read_line_within(&t_out, Duration::from_secs(15), "target burst");
    assert_eq!(done, "done 500");
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(probe.id() as libc::pid_t, libc::SIGINT) };
    let out = wait_output(&mut probe, Duration::from_secs(10));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let sites = v["probes"]["fds"]["sites"].as_array().unwrap();
    let at = |site: &str| {
        let g = sites
            .iter()
            .find(|g| g["site"] == site)
            .unwrap_or_else(|| panic!("no site {site}: {sites:#?}"));
        (g["opened"].as_u64().unwrap(), g["closed"].as_u64().unwrap())
    };
    // keep's first file was closed by redirect's dup3.
    assert_eq!(at("main.keep"), (300, 1));
    assert_eq!(at("main.balanced"), (300, 300));
    assert_eq!(at("main.pipes"), (200, 0));
    assert_eq!(at("main.redirect"), (1, 0));
    let leaks: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "fd.leak")
        .map(|f| f["sites"][0].as_str().unwrap().to_string())
        .collect();
    // A burst at one moment is not "still growing in the second half": the growth
    // criterion is what a steady leak shows (the fd-leak patient's test).
    assert!(!leaks.contains(&"main.balanced".to_string()), "{leaks:?}");
    assert_eq!(progs_named_settled(&names, before), before);
}

/// A thread that makes syscalls and then computes: its start entry stays in the syscall
/// probe's table between syscalls (ts 0), which is not a syscall in flight.
const SPIN_PROG: &str = r#"package main

import (
	"fmt"
	"runtime"
	"syscall"
)

var sink uint64

func spin() {
	runtime.LockOSThread()
	for {
		syscall.Getppid()
		for j := 0; j < 20_000_000; j++ {
			sink += uint64(j)
		}
	}
}

func main() {
	go spin()
	fmt.Println("ready")
	select {}
}
"#;

#[test]
fn a_thread_between_syscalls_is_not_reported_in_flight() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    let born = Instant::now();
    let Some((target, _t_out, _dir)) = start_inline_program("spin", SPIN_PROG) else {
        return;
    };
    let out = run_bounded(
        probe_cmd(
            target.0.id(),
            &["--duration", "2s", "--slow", "1ms", "--json"],
        ),
        Duration::from_secs(25),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let rep = &v["probes"]["syscalls"]["report"];
    let getppid = rep["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "getppid")
        .unwrap_or_else(|| panic!("the spinning thread's getppid not seen: {rep:#}"));
    assert!(getppid["count"].as_u64().unwrap() > 0);
    // Nothing can have been in a syscall for longer than the target has existed; a
    // thread's kept entry read as in flight would show the whole clock (since boot).
    let age = born.elapsed().as_nanos() as u64;
    for f in rep["in_flight"].as_array().unwrap() {
        assert!(
            f["elapsed_ns"].as_u64().unwrap() <= age,
            "{f:#} (target age {age} ns)"
        );
    }
}
