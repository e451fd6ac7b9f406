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
    progs_named(&fds_names())
}

/// The fd probe's program names (one per syscall tracepoint it attaches to).
fn fds_names() -> Vec<&'static str> {
    gorx_ebpf::fds::PROGRAMS.iter().map(|p| p.0).collect()
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
    // A probe name gorx does not know is refused, not ignored.
    let out = run_bounded(probe_cmd(1, &["--only", "nosuch"]), Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown probe"));
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
        .env(
            "CGO_ENABLED",
            if main_go.contains("import \"C\"") {
                "1"
            } else {
                "0"
            },
        )
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
    let fds_before = fds_progs();
    // The fd probe too: its links are per-syscall tracepoint perf events, not raw ones.
    let mut child = probe_cmd(p.0.id(), &["--only", "syscalls,fds", "--duration", "25s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while syscall_links() < before + 2 || fds_progs() < fds_before + fds_names().len() {
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
    // The fd probe's tracepoint links (perf events) are fds of the process too: its
    // programs (which each link holds) are freed with them.
    assert_eq!(
        progs_named_settled(&fds_names(), fds_before),
        fds_before,
        "fd probe programs left after SIGKILL"
    );
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
        progs_named_settled(&fds_names(), before),
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
    let mut ours = vec!["runq_wakeup", "runq_wakeup_new", "runq_switch"];
    ours.extend(fds_names());
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
    let names = fds_names();
    let before = progs_named(&names);
    let mut probe = probe_cmd(pid, &["--only", "fds", "--duration", "20s", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while progs_named(&names) < before + names.len() {
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

// ---- inspect --ebpf, watch --ebpf, analyze of probe results (branch ebpflive) ----

fn gorx_cmd(args: &[&str]) -> Command {
    let mut c = Command::new(gorx());
    c.args(args);
    c
}

/// Run `cmd` within `limit`, expect exit 0, and parse its stdout as JSON.
fn ok_json(cmd: Command, limit: Duration) -> serde_json::Value {
    let out = run_bounded(cmd, limit);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The fd.leak finding naming `site`, if any.
fn fd_leak_at<'a>(v: &'a serde_json::Value, site: &str) -> Option<&'a serde_json::Value> {
    v["findings"]
        .as_array()?
        .iter()
        .find(|f| f["id"] == "fd.leak" && f["sites"][0] == site)
}

fn scratch_dir(what: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gorx-ebpflive-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn analyze_of_a_probe_out_dir_reports_the_probes_fd_leak_site() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    let Some(p) = start_patient_bin(fd_leak_patient()) else {
        return;
    };
    let dir = scratch_dir("probe-out");
    let probed = ok_json(
        probe_cmd(
            p.0.id(),
            &[
                "--only",
                "fds",
                "--duration",
                "3s",
                "--json",
                "-o",
                dir.to_str().unwrap(),
            ],
        ),
        Duration::from_secs(20),
    );
    assert!(
        fd_leak_at(&probed, "main.main.func2").is_some(),
        "{probed:#}"
    );
    // The directory holds what --json printed; analyze reads it back, naming the file.
    let v = ok_json(
        gorx_cmd(&["analyze", "--json", dir.to_str().unwrap()]),
        Duration::from_secs(20),
    );
    let f = fd_leak_at(&v, "main.main.func2").unwrap_or_else(|| panic!("{v:#}"));
    let probe_json = dir.join("probe.json").display().to_string();
    assert!(
        f["sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == probe_json.as_str()),
        "{f:#}"
    );
    assert_eq!(
        f["evidence"]["outstanding"],
        fd_leak_at(&probed, "main.main.func2").unwrap()["evidence"]["outstanding"]
    );
    assert!(
        v["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["path"] == probe_json.as_str()),
        "{v:#}"
    );
    // A damaged probe.json is an error naming it, exit 2, never a panic.
    std::fs::write(dir.join("probe.json"), "{\"schema\":1,\"findings\":").unwrap();
    let out = run_bounded(
        gorx_cmd(&["analyze", dir.to_str().unwrap()]),
        Duration::from_secs(20),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("probe.json") && stderr.contains("invalid JSON"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn inspect_ebpf_adds_the_fd_leak_site_and_without_btf_still_inspects() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    let Some(p) = start_patient_bin(fd_leak_patient()) else {
        return;
    };
    let pid = p.0.id().to_string();
    let before = fds_progs();
    let started = Instant::now();
    let v = ok_json(
        gorx_cmd(&["inspect", &pid, "--ebpf", "3s", "--json"]),
        Duration::from_secs(30),
    );
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "the window was not waited for"
    );
    assert_eq!(
        progs_named_settled(&fds_names(), before),
        before,
        "fd probe programs left loaded"
    );
    let f = fd_leak_at(&v, "main.main.func2").unwrap_or_else(|| panic!("{v:#}"));
    assert!(
        f["evidence"]["outstanding"].as_i64().unwrap() >= 10,
        "{f:#}"
    );
    // The inspection itself is all there, beside the probes.
    assert!(v["process"]["fds"].is_object(), "{v:#}");
    assert!(
        v["ebpf"]["probes"]["fds"]["sites"].is_array(),
        "{:#}",
        v["ebpf"]
    );
    assert!(
        v["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["kind"] == "ebpf-probe"),
        "{v:#}"
    );
    // The text form shows the probes' tables and the same site.
    let out = run_bounded(
        gorx_cmd(&["inspect", &pid, "--ebpf", "2s", "--ebpf-only", "fds"]),
        Duration::from_secs(30),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("by opening Go site"), "{text}");
    assert!(text.contains("sites: main.main.func2"), "{text}");
    assert!(
        !text.contains("Syscalls of pid"),
        "--ebpf-only fds ran syscalls: {text}"
    );
    // Without BTF the inspection still runs, exits as it would without --ebpf, and says
    // why the probes were skipped.
    let mut c = gorx_cmd(&["inspect", &pid, "--ebpf", "2s"]);
    c.env("GORX_BTF_PATH", "/nonexistent/btf");
    let out = run_bounded(c, Duration::from_secs(30));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(&format!("Process {pid}:")), "{text}");
    assert!(
        text.contains("eBPF probes skipped") && text.contains("the kernel has no BTF"),
        "{text}"
    );
    // An unknown probe name is refused before anything runs.
    let out = run_bounded(
        gorx_cmd(&["inspect", &pid, "--ebpf", "1s", "--ebpf-only", "nope"]),
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown probe \"nope\""));
}

#[test]
fn watch_ebpf_stores_probe_json_in_the_bundle_and_analyze_reports_it() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    let Some(p) = start_patient_bin(fd_leak_patient()) else {
        return;
    };
    let out_dir = scratch_dir("watch");
    let before = fds_progs();
    // The patient leaks 15 fds/s: the fd-growth trigger fires once the 3 s window is
    // half full, and the capture runs the probes for 3 s.
    let out = run_bounded(
        gorx_cmd(&[
            "watch",
            &p.0.id().to_string(),
            "--plain",
            "--ebpf",
            "--ebpf-seconds",
            "3",
            "--ebpf-only",
            "fds",
            "--interval",
            "200ms",
            "--window",
            "3s",
            "--cooldown",
            "60s",
            "--cpu-seconds",
            "0",
            "--trace-seconds",
            "0",
            "--duration",
            "8s",
            "--out",
            out_dir.to_str().unwrap(),
        ]),
        Duration::from_secs(40),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("--ebpf: probes fds for 3 s"), "{stderr}");
    assert!(stdout.contains("captured "), "{stdout}");
    assert_eq!(
        progs_named_settled(&fds_names(), before),
        before,
        "fd probe programs left loaded"
    );
    let bundle = std::fs::read_dir(&out_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("gorx-")
        })
        .unwrap_or_else(|| panic!("no bundle in {out_dir:?}"));
    // probe.json is the `gorx probe --json` document, listed in the manifest.
    let probe: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("probe.json")).unwrap()).unwrap();
    assert_eq!(probe["schema"], 1);
    assert!(probe["probes"]["fds"]["sites"].is_array(), "{probe:#}");
    assert!(fd_leak_at(&probe, "main.main.func2").is_some(), "{probe:#}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("MANIFEST.json")).unwrap())
            .unwrap();
    assert!(
        manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "probe.json"),
        "{manifest:#}"
    );
    // analyze BUNDLE: the trigger's fd.leak (from /proc, no site) and the probe's (with
    // the site) are one finding naming the site, with both sources.
    let v = ok_json(
        gorx_cmd(&["analyze", "--json", bundle.to_str().unwrap()]),
        Duration::from_secs(30),
    );
    let f = fd_leak_at(&v, "main.main.func2").unwrap_or_else(|| panic!("{v:#}"));
    let sources: Vec<&str> = f["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert!(sources.iter().any(|s| s.ends_with("probe.json")), "{f:#}");
    assert!(sources.iter().any(|s| s.ends_with("trigger.json")), "{f:#}");
    let leaks = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "fd.leak" && f["sites"].as_array().unwrap().is_empty())
        .count();
    assert_eq!(
        leaks, 0,
        "a siteless fd.leak stayed beside the sited one: {v:#}"
    );
    let _ = std::fs::remove_dir_all(&out_dir);
}

#[test]
fn inspect_ebpf_ends_its_window_on_sigint_and_still_reports() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    let Some(p) = start_patient_bin(fd_leak_patient()) else {
        return;
    };
    let before = fds_progs();
    let mut child = gorx_cmd(&[
        "inspect",
        &p.0.id().to_string(),
        "--ebpf",
        "60s",
        "--ebpf-only",
        "fds",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    // SAFETY: kill on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = wait_output(&mut child, Duration::from_secs(15));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("sites: main.main.func2"), "{text}");
    assert!(text.contains("window was ended after"), "{text}");
    assert_eq!(
        progs_named_settled(&fds_names(), before),
        before,
        "fd probe programs left loaded"
    );
}

// ---- offcpu: off-CPU time per Go stack ----

/// The healthy patient: an HTTP server driven by its own client at ~100 requests/s.
fn healthy_patient() -> Option<PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| build_package("healthy", "healthy", &[]))
        .clone()
}

#[test]
fn offcpu_names_the_blocking_sites_keeps_the_runtime_idle_apart_and_writes_pprof() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    let Some(go) = go_toolchain("") else {
        missing_prerequisite("a Go toolchain (go_toolchain(\"\"))");
        return;
    };
    let names = ["offcpu_switch"];
    let before = progs_named(&names);
    let Some(p) = start_patient() else { return };
    let dir = std::env::temp_dir().join(format!("gorx-offcpu-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cmd = probe_cmd(
        p.0.id(),
        &["--only", "offcpu", "--duration", "4s", "--json", "-o"],
    );
    cmd.arg(&dir);
    let out = run_bounded(cmd, Duration::from_secs(30));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let findings = v["findings"].as_array().unwrap();
    // 32 readers blocked in read(2) on pipes, 16 sleepers in nanosleep(2): each keeps
    // threads asleep at its own Go site.
    for (site, syscall) in [("main.reader", "read"), ("main.sleeper", "nanosleep")] {
        let f = findings
            .iter()
            .find(|f| f["id"] == "syscall.blocking" && f["sites"][0] == site)
            .unwrap_or_else(|| panic!("no syscall.blocking at {site}: {findings:#?}"));
        assert_eq!(f["evidence"]["syscall"], syscall, "{f:#}");
        assert_eq!(f["severity"], "critical", "{f:#}");
        assert!(
            f["evidence"]["threads_off_cpu_avg"].as_f64().unwrap() >= 4.0,
            "{f:#}"
        );
    }
    assert!(
        findings.iter().all(|f| f["sites"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| !s.as_str().unwrap().starts_with("runtime."))),
        "{findings:#?}"
    );
    // The runtime's idle threads are there, classified idle, never blocking: sysmon
    // sleeps through the whole window, parked Ms and the netpoller wait for work.
    let report = &v["probes"]["offcpu"]["report"];
    let window = report["window_ns"].as_u64().unwrap();
    assert!(report["idle_ns"].as_u64().unwrap() > window, "{report:#}");
    let groups = v["probes"]["offcpu"]["groups"].as_array().unwrap();
    let sysmon = groups
        .iter()
        .find(|g| g["site"] == "runtime.sysmon")
        .unwrap_or_else(|| panic!("no sysmon group: {groups:#?}"));
    assert_eq!(sysmon["class"], "idle", "{sysmon:#}");
    assert!(
        sysmon["total_ns"].as_u64().unwrap() > window / 2,
        "{sysmon:#}"
    );
    assert!(
        groups.iter().any(|g| g["class"] == "idle"
            && matches!(g["site"].as_str(), Some("runtime.mPark" | "runtime.stopm"))),
        "no parked M: {groups:#?}"
    );
    for g in groups.iter().filter(|g| g["class"] == "blocking") {
        assert!(
            !g["site"].as_str().unwrap().starts_with("runtime."),
            "{g:#}"
        );
    }
    // The profile opens in go tool pprof and shows the blocking function.
    let prof = dir.join("offcpu.pb.gz");
    let top = Command::new(&go)
        .args(["tool", "pprof", "-top"])
        .arg(&prof)
        .env("GOTOOLCHAIN", "local")
        .output()
        .expect("go tool pprof");
    let text = String::from_utf8_lossy(&top.stdout);
    assert!(
        top.status.success(),
        "{}",
        String::from_utf8_lossy(&top.stderr)
    );
    for want in [
        "Type: offcpu",
        "main.reader",
        "main.sleeper",
        "[offcpu blocking]",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    assert!(dir.join("probe.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(progs_named_settled(&names, before), before);
}

#[test]
fn offcpu_on_the_healthy_patient_is_idle_and_no_finding() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    let Some(p) = start_patient_bin(healthy_patient()) else {
        return;
    };
    let out = run_bounded(
        probe_cmd(
            p.0.id(),
            &["--only", "offcpu", "--duration", "3s", "--json"],
        ),
        Duration::from_secs(30),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let findings = v["findings"].as_array().unwrap();
    assert!(findings.is_empty(), "{findings:#?}");
    let report = &v["probes"]["offcpu"]["report"];
    // Its threads sleep most of the window, and nearly all of it is the runtime's idle.
    let idle = report["idle_ns"].as_u64().unwrap();
    let blocking = report["blocking_ns"].as_u64().unwrap();
    assert!(idle > report["window_ns"].as_u64().unwrap(), "{report:#}");
    assert!(blocking * 20 < idle, "{report:#}");
}

/// Go program with one goroutine blocked in read(2) on a pipe nobody writes, from before
/// any probe attaches until it is killed.
const STUCK_PROG: &str = r#"package main

import (
	"fmt"
	"syscall"
	"time"
)

//go:noinline
func stuck(fd int) {
	buf := make([]byte, 1)
	syscall.Read(fd, buf)
}

func main() {
	var p [2]int
	syscall.Pipe(p[:])
	go stuck(p[0])
	time.Sleep(200 * time.Millisecond)
	fmt.Println("ready")
	select {}
}
"#;

#[test]
fn a_thread_asleep_since_before_the_probe_attached_is_counted_at_its_go_site() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    let Some((target, _out, _dir)) = start_inline_program("stuck", STUCK_PROG) else {
        return;
    };
    let out = run_bounded(
        probe_cmd(
            target.0.id(),
            &["--only", "offcpu", "--duration", "2s", "--json"],
        ),
        Duration::from_secs(30),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let report = &v["probes"]["offcpu"]["report"];
    // No BPF program saw this thread switch: its stack comes from its saved registers.
    assert!(
        report["asleep_whole_window"].as_u64().unwrap() >= 1,
        "{report:#}"
    );
    let groups = v["probes"]["offcpu"]["groups"].as_array().unwrap();
    let g = groups
        .iter()
        .find(|g| g["site"] == "main.stuck")
        .unwrap_or_else(|| panic!("no main.stuck: {groups:#?}"));
    assert_eq!(
        (&g["class"], &g["syscall"]),
        (&"blocking".into(), &"read".into())
    );
    let window = report["window_ns"].as_u64().unwrap();
    assert!(g["total_ns"].as_u64().unwrap() >= window * 9 / 10, "{g:#}");
    // One sleep is anecdote, whatever its length: info, not a warning.
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["sites"][0] == "main.stuck")
        .unwrap_or_else(|| panic!("{:#}", v["findings"]));
    assert_eq!(
        (&f["id"], &f["severity"]),
        (&"syscall.blocking".into(), &"info".into())
    );
    // The runtime's threads that slept through the window are idle, not blocking.
    assert!(report["idle_ns"].as_u64().unwrap() >= window, "{report:#}");
}

// ---- mmap probe ----

/// The mmap probe's programs.
const MMAP_PROGS: [&str; 2] = ["mmap_enter", "mmap_exit"];

/// The port a process listens on, from its socket fds and /proc/PID/net/tcp.
fn listening_port(pid: u32) -> Option<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let tcp = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).ok()?;
    tcp.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // local_address st ... inode (field 9); st 0A is LISTEN.
        if f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9]) {
            u16::from_str_radix(f[1].rsplit(':').next()?, 16).ok()
        } else {
            None
        }
    })
}

/// An expvar integer of a patient (GET /debug/vars on its loopback port).
fn expvar_int(port: u16, name: &str) -> Option<i64> {
    use std::io::Write;
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(c, "GET /debug/vars HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut body = String::new();
    c.read_to_string(&mut body).ok()?;
    let json = &body[body.find("\r\n\r\n")? + 4..];
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v[name].as_i64()
}

/// The offheap patient: 20 × 16 MiB of written anonymous mmap memory, 4 a second.
fn offheap_patient() -> Option<PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| build_package("offheap", "offheap", &[]))
        .clone()
}

/// Start `gorx probe --only mmap --json` with a long window and wait until its programs
/// are loaded (and a moment for the attach that follows).
fn start_mmap_probe(pid: u32, before: usize) -> Child {
    let probe = probe_cmd(pid, &["--only", "mmap", "--duration", "40s", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while progs_named(&MMAP_PROGS) < before + MMAP_PROGS.len() {
        assert!(Instant::now() < deadline, "gorx probe never loaded");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    probe
}

/// SIGINT the probe, check it exited 0 and unloaded its programs, return its JSON.
fn end_mmap_probe(mut probe: Child, before: usize) -> serde_json::Value {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(probe.id() as libc::pid_t, libc::SIGINT) };
    let out = wait_output(&mut probe, Duration::from_secs(15));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        progs_named_settled(&MMAP_PROGS, before),
        before,
        "mmap probe programs left loaded"
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn offheap_patient_rss_gap_names_its_mmap_caller_with_what_it_mapped() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    // The patient maps 16 MiB every 250 ms after this delay: the probe attaches first.
    let Some(p) = start_patient_cmd(offheap_patient(), |c| {
        c.env("GORX_OFFHEAP_DELAY", "5s");
    }) else {
        return;
    };
    let pid = p.0.id();
    let port = listening_port(pid).expect("the patient's port");
    let before = progs_named(&MMAP_PROGS);
    let probe = start_mmap_probe(pid, before);
    assert_eq!(
        expvar_int(port, "offheap_mapped_bytes"),
        Some(0),
        "the patient started mapping before the probe attached (machine too slow)"
    );
    // Wait until the patient reports all 20 chunks mapped (the oracle), then a moment.
    let deadline = Instant::now() + Duration::from_secs(20);
    let total = loop {
        let n = expvar_int(port, "offheap_mapped_bytes").unwrap_or(0);
        if n >= 320 << 20 {
            break n;
        }
        assert!(
            Instant::now() < deadline,
            "the patient mapped only {n} bytes"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_millis(500));
    let v = end_mmap_probe(probe, before);
    let findings = v["findings"].as_array().unwrap();
    let f = findings
        .iter()
        .find(|f| f["id"] == "memory.rss-gap")
        .unwrap_or_else(|| panic!("no memory.rss-gap: {findings:#?}"));
    assert_eq!(f["sites"][0], "main.main.func1", "{f:#}");
    assert_eq!(f["severity"], "critical", "{f:#}");
    // The oracle: what the probe saw mapped and still held at the site is exactly what the
    // patient says it mapped, and all of it is resident (every page was written).
    let sites = v["probes"]["mmap"]["sites"].as_array().unwrap();
    let g = sites
        .iter()
        .find(|g| g["site"] == "main.main.func1" && g["owner"] == "user")
        .unwrap_or_else(|| panic!("no user site main.main.func1: {sites:#?}"));
    assert_eq!(g["mapped_bytes"].as_i64(), Some(total), "{g:#}");
    assert_eq!(g["outstanding_bytes"].as_i64(), Some(total), "{g:#}");
    assert_eq!(g["resident_bytes"].as_i64(), Some(total), "{g:#}");
    assert_eq!(g["calls"], 20, "{g:#}");
    assert!(
        g["stack"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "syscall.Mmap"),
        "{g:#}"
    );
    // The runtime's own mappings are listed apart and never named.
    assert!(
        sites
            .iter()
            .filter(|g| g["owner"] == "runtime")
            .all(|g| g["site"].as_str().unwrap().starts_with("runtime.")),
        "{sites:#?}"
    );
}

#[test]
fn healthy_patient_gives_no_mmap_finding() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    let Some(p) = start_patient_bin(healthy_patient()) else {
        return;
    };
    let before = progs_named(&MMAP_PROGS);
    let probe = start_mmap_probe(p.0.id(), before);
    std::thread::sleep(Duration::from_secs(4));
    let v = end_mmap_probe(probe, before);
    let findings = v["findings"].as_array().unwrap();
    assert!(findings.is_empty(), "{findings:#?}");
    // Whatever it mapped in the window is the runtime's (its heap and stacks).
    let sites = v["probes"]["mmap"]["sites"].as_array().unwrap();
    assert!(
        sites
            .iter()
            .all(|g| g["owner"] == "runtime" || g["outstanding_bytes"].as_i64() < Some(1 << 20)),
        "{sites:#?}"
    );
}

/// Go program for the mmap accounting: on each stdin line, mappings whose outcome is
/// known to the byte (MiB = 1 << 20):
/// - keep: 10 × 1 MiB mapped and kept (outstanding 10 MiB);
/// - balanced: 10 × 1 MiB mapped and unmapped (0);
/// - partial: 4 MiB, its 2nd MiB unmapped (split in two), then its last 2 MiB (the tail
///   region), then 2 MiB of which [0.5, 2) MiB is unmapped (a range starting inside a
///   region): 6 mapped, 4.5 unmapped;
/// - grow: 1 MiB remapped to 3 MiB (mremap, may move): the owner keeps it, 3 outstanding;
/// - fixed: a 4 MiB PROT_NONE reservation (not tracked) committed by MAP_FIXED: 2 MiB,
///   then 1 MiB and 1 MiB adjacent, both unmapped by one munmap: 4 mapped, 2 unmapped;
/// - wide: 2 GiB (over 1 GiB: counted per 1 GiB granule) with its middle 1 GiB unmapped.
const MMAP_PROG: &str = r#"package main

import (
	"bufio"
	"fmt"
	"os"
	"syscall"
)

const mib = 1 << 20

var kept [][]byte

// No helper function: the first user frame names the site, so each site calls the
// syscall itself (a panic on failure is enough for a test program).
func check(e syscall.Errno) {
	if e != 0 {
		panic(e)
	}
}

const rw = syscall.PROT_READ | syscall.PROT_WRITE
const anon = syscall.MAP_ANON | syscall.MAP_PRIVATE

//go:noinline
func keep() {
	for i := 0; i < 10; i++ {
		b, err := syscall.Mmap(-1, 0, mib, rw, anon)
		if err != nil {
			panic(err)
		}
		kept = append(kept, b)
	}
}

//go:noinline
func balanced() {
	for i := 0; i < 10; i++ {
		b, err := syscall.Mmap(-1, 0, mib, rw, anon)
		if err != nil {
			panic(err)
		}
		syscall.Munmap(b)
	}
}

//go:noinline
func partial() {
	p, _, e := syscall.Syscall6(syscall.SYS_MMAP, 0, 4*mib, rw, anon, ^uintptr(0), 0)
	check(e)
	_, _, e = syscall.Syscall(syscall.SYS_MUNMAP, p+mib, mib, 0)
	check(e)
	_, _, e = syscall.Syscall(syscall.SYS_MUNMAP, p+2*mib, 2*mib, 0)
	check(e)
	q, _, e := syscall.Syscall6(syscall.SYS_MMAP, 0, 2*mib, rw, anon, ^uintptr(0), 0)
	check(e)
	_, _, e = syscall.Syscall(syscall.SYS_MUNMAP, q+mib/2, 3*mib/2, 0)
	check(e)
}

//go:noinline
func grow() {
	p, _, e := syscall.Syscall6(syscall.SYS_MMAP, 0, mib, rw, anon, ^uintptr(0), 0)
	check(e)
	_, _, e = syscall.Syscall6(syscall.SYS_MREMAP, p, mib, 3*mib, 1 /* MREMAP_MAYMOVE */, 0, 0)
	check(e)
}

//go:noinline
func fixed() {
	p, _, e := syscall.Syscall6(syscall.SYS_MMAP, 0, 4*mib, syscall.PROT_NONE, anon, ^uintptr(0), 0)
	check(e)
	_, _, e = syscall.Syscall6(syscall.SYS_MMAP, p, 2*mib, rw, anon|syscall.MAP_FIXED, ^uintptr(0), 0)
	check(e)
	// Two more adjacent commits, then one munmap across both.
	_, _, e = syscall.Syscall6(syscall.SYS_MMAP, p+2*mib, mib, rw, anon|syscall.MAP_FIXED, ^uintptr(0), 0)
	check(e)
	_, _, e = syscall.Syscall6(syscall.SYS_MMAP, p+3*mib, mib, rw, anon|syscall.MAP_FIXED, ^uintptr(0), 0)
	check(e)
	_, _, e = syscall.Syscall(syscall.SYS_MUNMAP, p+2*mib, 2*mib, 0)
	check(e)
}

//go:noinline
func wide() {
	// 2 GiB reserved (PROT_READ, never touched: no memory), its middle 1 GiB unmapped.
	p, _, e := syscall.Syscall6(syscall.SYS_MMAP, 0, 2048*mib, syscall.PROT_READ, anon|syscall.MAP_NORESERVE, ^uintptr(0), 0)
	check(e)
	_, _, e = syscall.Syscall(syscall.SYS_MUNMAP, p+512*mib, 1024*mib, 0)
	check(e)
}

func main() {
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		keep()
		balanced()
		partial()
		grow()
		fixed()
		wide()
		fmt.Println("done")
	}
}
"#;

#[test]
fn mmap_bytes_per_site_are_exact_on_a_known_program() {
    use std::io::Write;
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    let Some((mut target, t_out, _dir)) = start_inline_program("mmaps", MMAP_PROG) else {
        return;
    };
    let before = progs_named(&MMAP_PROGS);
    let probe = start_mmap_probe(target.0.id(), before);
    writeln!(target.0.stdin.as_mut().unwrap(), "go").unwrap();
    assert_eq!(
        read_line_within(&t_out, Duration::from_secs(15), "target burst"),
        "done"
    );
    std::thread::sleep(Duration::from_millis(200));
    let v = end_mmap_probe(probe, before);
    let sites = v["probes"]["mmap"]["sites"].as_array().unwrap();
    let at = |site: &str| {
        let g = sites
            .iter()
            .find(|g| g["site"] == site && g["kind"] == "anon")
            .unwrap_or_else(|| panic!("no site {site}: {sites:#?}"));
        assert_eq!(g["owner"], "user", "{g:#}");
        (
            g["mapped_bytes"].as_u64().unwrap(),
            g["unmapped_bytes"].as_u64().unwrap(),
        )
    };
    const MIB: u64 = 1 << 20;
    assert_eq!(at("main.keep"), (10 * MIB, 0));
    assert_eq!(at("main.balanced"), (10 * MIB, 10 * MIB));
    assert_eq!(at("main.partial"), (6 * MIB, 9 * MIB / 2));
    assert_eq!(at("main.grow"), (4 * MIB, MIB));
    assert_eq!(at("main.fixed"), (4 * MIB, 2 * MIB));
    assert_eq!(at("main.wide"), (2048 * MIB, 1024 * MIB));
    let drops = &v["probes"]["mmap"]["report"]["drops"];
    assert_eq!(drops["regions_full"], 0, "{drops}");
    assert_eq!(drops["overlap_overflow"], 0, "{drops}");
    // 16.5 MiB outstanding is under the finding's floor; whatever is found, the runtime
    // is never named.
    for f in v["findings"].as_array().unwrap() {
        for s in f["sites"].as_array().unwrap() {
            assert!(!s.as_str().unwrap().starts_with("runtime."), "{f:#}");
        }
    }
}

#[test]
fn mmap_probe_ends_with_the_target_and_unloads_its_programs() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    let Some(mut p) = start_patient_bin(healthy_patient()) else {
        return;
    };
    let before = progs_named(&MMAP_PROGS);
    let probe = start_mmap_probe(p.0.id(), before);
    std::thread::sleep(Duration::from_secs(1));
    let _ = p.0.kill();
    let _ = p.0.wait();
    let mut probe = probe;
    let out = wait_output(&mut probe, Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("exited"), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["probes"]["mmap"]["report"]["target_exited"], true);
    // No RSS to compare with once the target is gone: no verdict.
    assert!(v["findings"].as_array().unwrap().is_empty(), "{v:#}");
    assert_eq!(
        progs_named_settled(&MMAP_PROGS, before),
        before,
        "programs left loaded after the target exited"
    );
}

/// A cgo program: on each stdin line, 100 blocks of 1 MiB C-malloc'd (and written) and
/// kept, 100 of 64 KiB allocated and freed, and one block of 1000 bytes realloc'd to 5000
/// and kept.
const CGO_MALLOC_PROG: &str = r#"package main

/*
#include <stdlib.h>
#include <string.h>

static void *grab(size_t n) { void *p = malloc(n); if (p) memset(p, 1, n); return p; }
*/
import "C"

import (
	"bufio"
	"fmt"
	"os"
	"unsafe"
)

var kept []unsafe.Pointer

//go:noinline
func cKeep() {
	for i := 0; i < 100; i++ {
		kept = append(kept, C.grab(1<<20))
	}
}

//go:noinline
func cBalanced() {
	for i := 0; i < 100; i++ {
		C.free(C.grab(64 << 10))
	}
}

//go:noinline
func cRealloc() {
	p := C.malloc(1000)
	p = C.realloc(p, 5000)
	kept = append(kept, p)
}

func main() {
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cKeep()
		cBalanced()
		cRealloc()
		fmt.Println("done")
	}
}
"#;

#[test]
fn cgo_malloc_is_charged_to_the_go_caller_and_named_by_rss_gap() {
    use std::io::Write;
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    if !have("gcc") {
        missing_prerequisite("gcc (cgo)");
        return;
    }
    let Some((mut target, t_out, _dir)) = start_inline_program("cgomalloc", CGO_MALLOC_PROG) else {
        return;
    };
    let before = progs_named(&MMAP_PROGS);
    let free_before = progs_named(&["free_enter"]);
    let probe = start_mmap_probe(target.0.id(), before);
    // The uprobes come after the tracepoints; free's is the last attached.
    let deadline = Instant::now() + Duration::from_secs(10);
    while progs_named(&["free_enter"]) <= free_before {
        assert!(Instant::now() < deadline, "the malloc uprobes never loaded");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    writeln!(target.0.stdin.as_mut().unwrap(), "go").unwrap();
    assert_eq!(
        read_line_within(&t_out, Duration::from_secs(15), "target burst"),
        "done"
    );
    std::thread::sleep(Duration::from_millis(200));
    let v = end_mmap_probe(probe, before);
    assert_eq!(
        progs_named_settled(&["free_enter"], free_before),
        free_before,
        "malloc uprobes left loaded"
    );
    let report = &v["probes"]["mmap"]["report"];
    assert!(
        report["malloc"]["libc"]
            .as_str()
            .is_some_and(|l| l.contains("libc")),
        "libc not followed: {}",
        report["malloc_skipped"]
    );
    let sites = v["probes"]["mmap"]["sites"].as_array().unwrap();
    let malloc_at = |site: &str| {
        let g = sites
            .iter()
            .find(|g| g["site"] == site && g["kind"] == "malloc")
            .unwrap_or_else(|| panic!("no malloc site {site}: {sites:#?}"));
        assert_eq!(g["owner"], "user", "{g:#}");
        (
            g["calls"].as_u64().unwrap(),
            g["mapped_bytes"].as_u64().unwrap(),
            g["unmapped_bytes"].as_u64().unwrap(),
        )
    };
    assert_eq!(malloc_at("main.cKeep"), (100, 100 << 20, 0));
    // C.free and C.realloc take pointers: cgo wraps those calls in a closure of the caller.
    assert_eq!(
        malloc_at("main.cBalanced.func1"),
        (100, 100 * (64 << 10), 100 * (64 << 10))
    );
    // realloc released the 1000 bytes C.malloc gave and owns its 5000.
    assert_eq!(malloc_at("main.cRealloc"), (1, 1000, 1000));
    assert_eq!(malloc_at("main.cRealloc.func1"), (1, 5000, 0));
    // 100 MiB of written C heap is nearly all of the anonymous RSS.
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "memory.rss-gap")
        .unwrap_or_else(|| panic!("no memory.rss-gap: {v:#}"));
    assert_eq!(f["sites"][0], "main.cKeep", "{f:#}");
    assert!(f["title"].as_str().unwrap().contains("C malloc"), "{f:#}");
}

/// Go program for the allocator probe: 16 goroutines allocating slices of many size
/// classes as fast as they can on 2 Ps; each stdin line is answered with the count so far.
const ALLOC_PROG: &str = r#"package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
)

var total atomic.Int64

func worker(seed int) {
	keep := make([][]byte, 0, 256)
	for i := seed; ; i++ {
		keep = append(keep, make([]byte, 16+(i*37)%4000))
		if len(keep) == cap(keep) {
			keep = keep[:0]
		}
		total.Add(1)
	}
}

func main() {
	runtime.GOMAXPROCS(2)
	for g := 0; g < 16; g++ {
		go worker(g)
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fmt.Println("allocs", total.Load())
	}
}
"#;

/// BPF links whose program is one of `names` (uprobes are perf_event links).
fn links_of(names: &[&str]) -> usize {
    let json = |args: &[&str]| -> serde_json::Value {
        let out = Command::new("bpftool")
            .args(args)
            .output()
            .expect("bpftool");
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::json!([]))
    };
    let ids: Vec<u64> = json(&["prog", "show", "-j"])
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["name"].as_str().is_some_and(|n| names.contains(&n)))
        .filter_map(|p| p["id"].as_u64())
        .collect();
    json(&["link", "show", "-j"])
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["prog_id"].as_u64().is_some_and(|id| ids.contains(&id)))
        .count()
}

/// Ask the allocating program for its count: it must answer (alive, its main goroutine
/// scheduled) with more allocations than `after`.
fn alloc_count_above(
    target: &mut KillOnDrop,
    out: &mpsc::Receiver<String>,
    after: u64,
    what: &str,
) -> u64 {
    use std::io::Write;
    assert!(
        target.0.try_wait().unwrap().is_none(),
        "{what}: the target died"
    );
    writeln!(target.0.stdin.as_mut().unwrap(), "count").unwrap();
    let line = read_line_within(out, Duration::from_secs(10), what);
    let n: u64 = line
        .strip_prefix("allocs ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{what}: {line:?}"));
    assert!(n > after, "{what}: {n} allocations, not more than {after}");
    n
}

#[test]
fn alloc_probe_times_span_refills_and_the_target_survives_it() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !bpf_capable() {
        return;
    }
    let Some((plain, plain_out, dir)) = start_inline_program("alloc", ALLOC_PROG) else {
        return;
    };
    // The same program stripped and position-independent: extents from gopclntab, file
    // offsets of a PIE.
    let pie = dir.join("alloc-pie");
    let built = Command::new(go_toolchain("").unwrap())
        .args(["build", "-buildmode=pie", "-ldflags=-s -w", "-o"])
        .arg(&pie)
        .arg(".")
        .current_dir(&dir)
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .status()
        .unwrap();
    assert!(built.success());
    let mut pie_target = KillOnDrop(
        Command::new(&pie)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let pie_out = line_reader(pie_target.0.stdout.take().unwrap());
    assert_eq!(
        read_line_within(&pie_out, Duration::from_secs(10), "pie"),
        "ready"
    );

    let names = ["alloc_enter", "alloc_return"];
    for (mut target, out, kind) in [(plain, plain_out, "plain"), (pie_target, pie_out, "pie")] {
        let pid = target.0.id();
        let links_before = links_of(&names);
        let progs_before = progs_named(&names);
        let n0 = alloc_count_above(&mut target, &out, 0, kind);
        let mut probe = probe_cmd(pid, &["--only", "alloc", "--duration", "3s", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Attached: the entry and each RET of cacheSpan and mheap.alloc (at least 4).
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut peak = 0;
        while peak < links_before + 4 && Instant::now() < deadline {
            peak = peak.max(links_of(&names));
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(peak >= links_before + 4, "{kind}: {peak} uprobe links seen");
        // Serving while probed.
        let n1 = alloc_count_above(&mut target, &out, n0, kind);
        let res = wait_output(&mut probe, Duration::from_secs(30));
        let stderr = String::from_utf8_lossy(&res.stderr);
        assert_eq!(res.status.code(), Some(0), "{kind}: {stderr}");
        // Detached, and the target still alive and allocating after the probe.
        assert_eq!(
            progs_named_settled(&names, progs_before),
            progs_before,
            "{kind}: programs left loaded"
        );
        assert_eq!(links_of(&names), links_before, "{kind}: uprobe links left");
        std::thread::sleep(Duration::from_millis(200));
        alloc_count_above(&mut target, &out, n1, kind);

        let v: serde_json::Value = serde_json::from_slice(&res.stdout).expect("JSON");
        let rep = &v["probes"]["alloc"]["report"];
        let fns = rep["functions"].as_array().unwrap();
        let cache = fns
            .iter()
            .find(|f| f["function"] == "runtime.(*mcentral).cacheSpan")
            .unwrap_or_else(|| panic!("{kind}: {rep:#}"));
        let source = cache["points"]["source"].as_str().unwrap();
        assert_eq!(source, if kind == "pie" { "gopclntab" } else { "symtab" });
        let calls = cache["calls"].as_u64().unwrap();
        let lat = &cache["latency"];
        let timed = lat["count"].as_u64().unwrap();
        // An allocation storm refills thousands of spans a second.
        assert!(calls > 1000 && timed > 1000, "{kind}: {cache:#}");
        assert!(timed <= calls + 10, "{kind}: {cache:#}");
        let hist: Vec<u64> = lat["hist"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .collect();
        assert_eq!(hist.iter().sum::<u64>(), timed);
        // Plausible: most refills take under 100 µs of their own time, none a second.
        let under_100us: u64 = hist[..17].iter().sum();
        assert!(under_100us * 10 >= timed * 9, "{kind}: {hist:?}");
        assert!(lat["max_ns"].as_u64().unwrap() < 1_000_000_000);
        let summary = &v["probes"]["alloc"]["functions"][0];
        assert!(summary["p50_ns"].as_u64() <= summary["p99_ns"].as_u64());
        assert!(rep["probe_cost"]["inside_ns"].as_u64().is_some(), "{rep:#}");
        let threads = v["probes"]["alloc"]["refill_threads_avg"].as_f64().unwrap();
        assert!(threads > 0.0 && threads < 4.0, "{kind}: {threads}");
        // Healthy, if allocation-bound: no contention finding.
        assert!(
            v["findings"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["id"] != "alloc.contention" || f["severity"] != "critical"),
            "{kind}: {:#}",
            v["findings"]
        );
    }
    // A process that is not Go is refused by name, with nothing loaded.
    let mut other = KillOnDrop(Command::new("sleep").arg("30").spawn().unwrap());
    let loaded = progs_named(&names);
    let out = run_bounded(
        probe_cmd(other.0.id(), &["--only", "alloc", "--duration", "1s"]),
        Duration::from_secs(15),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not a Go program"), "{stderr}");
    let _ = other.0.kill();
    assert_eq!(progs_named(&names), loaded);
    let _ = std::fs::remove_dir_all(&dir);
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
