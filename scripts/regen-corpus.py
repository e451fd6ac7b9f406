#!/usr/bin/env python3
"""Regenerate the gorx patient corpus: testdata/artifacts/<go minor>/<patient>/.

For each Go version and each patient (testdata/patients/<name>), build the patient
with -trimpath, run it with GODEBUG=gctrace=1,scavtrace=1,schedtrace=1000 (plus the
patient's own environment and RLIMIT_NOFILE), wait until its pathology has developed,
fetch every pprof profile, their text forms, expvar, a short execution trace and
/proc snapshots over loopback, stop it, check that the pathology shows, and replace
the patient's artifact directory with the new one.

Usage:
  scripts/regen-corpus.py [--go 1.26 --go 1.27 ...] [--go-dir DIR] [--jobs N] [PATIENT ...]

Stdlib only. Linux only (procfs, RLIMIT_NOFILE).
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATIENTS_DIR = os.path.join(REPO, "testdata", "patients")
ARTIFACTS_DIR = os.path.join(REPO, "testdata", "artifacts")
# Staging lives in the repository's gitignored target/ so the final rename stays
# on one filesystem (atomic) and half-written directories never appear in testdata.
STAGING_DIR = os.path.join(REPO, "target", "regen-corpus")

DEFAULT_VERSIONS = ["1.19", "1.22", "1.24", "1.26", "1.27"]
GODEBUG = "gctrace=1,scavtrace=1,schedtrace=1000"
CPU_SECONDS = 3
TRACE_SECONDS = 1  # default; GC-heavy patients use less to keep the corpus small


def v2_trace(minor):
    """Go >= 1.22 writes the v2 execution trace format (older Go: v1, "legacy")."""
    return tuple(int(x) for x in minor.split(".")) >= (1, 22)


# capture_s: seconds after start before capturing; duration_s: the patient's own
# bounded lifetime (-duration), always longer than capture + fetch time.
PATIENTS = {
    "heap-leak": dict(
        capture_s=25,
        pathology="A session cache without eviction retains a ~600-byte record per request, so the live heap after every GC cycle is higher than after the one before.",
        expected=lambda m: ["gc.heap-growth"],
    ),
    "goroutine-leak": dict(
        capture_s=66,
        duration_s=90,
        pathology="2000 worker goroutines block forever sending on unbuffered channels whose receivers timed out; after a minute dumps show them waiting for minutes.",
        expected=lambda m: ["goroutine.leak"],
    ),
    "offheap": dict(
        capture_s=12,
        pathology="320 MiB of anonymous mmap memory is written outside the Go heap, so RSS is far above what the Go runtime accounts for.",
        expected=lambda m: ["memory.rss-gap"],
    ),
    "finalizer-blocked": dict(
        capture_s=20,
        pathology="A finalizer blocks forever on a channel send, so the finalizer goroutine is stuck in user code and finalizable objects pile up.",
        expected=lambda m: ["finalizer.blocked"],
    ),
    "memlimit-thrash": dict(
        capture_s=12,
        trace_s=0.25,
        env={"GOMEMLIMIT": "64MiB"},
        pathology="About 54 MiB stays live under GOMEMLIMIT=64MiB while garbage keeps being allocated, so the heap goal sits at the limit and GC runs back to back.",
        expected=lambda m: ["gc.memlimit-thrash"],
    ),
    "forced-gc": dict(
        capture_s=15,
        trace_s=0.3,
        pathology="runtime.GC() is called after every batch on the hot path, about ten forced collections per second.",
        expected=lambda m: ["gc.forced"],
    ),
    "mutex-contention": dict(
        capture_s=15,
        pathology="32 goroutines contend for one sync.Mutex that each holds for over a millisecond.",
        expected=lambda m: ["contention.mutex"],
    ),
    "chan-block": dict(
        capture_s=15,
        pathology="64 producers block on an unbuffered channel read by one slow consumer, and 16 goroutines wait in select for slow results.",
        expected=lambda m: ["contention.block"],
    ),
    "fd-leak": dict(
        capture_s=20,
        rlimit_nofile=256,
        pathology="A file and a loopback connection are opened per request and never closed, until the process holds about 90% of RLIMIT_NOFILE=256.",
        expected=lambda m: ["fd.near-limit"],
    ),
    "sched-latency": dict(
        capture_s=10,
        env={"GOMAXPROCS": "2"},
        alone=True,
        pathology="16 CPU-bound goroutines on GOMAXPROCS=2 keep a 5 ms heartbeat goroutine waiting in the run queue for tens of milliseconds.",
        # Runnable-to-running latency is only measurable from the execution trace
        # (gorx reads v1 traces, Go <= 1.21, as well as v2).
        expected=lambda m: ["sched.latency"],
    ),
    "syscall-blocking": dict(
        capture_s=12,
        pathology="48 goroutines sit in raw blocking syscalls (pipe reads, nanosleep), each pinning an OS thread.",
        expected=lambda m: ["syscall.blocking"],
    ),
    "healthy": dict(
        capture_s=15,
        pathology="No pathology: a steady HTTP JSON server under a light bounded in-process load (the no-findings control).",
        expected=lambda m: [],
    ),
}

PPROF_KINDS = ["heap", "allocs", "goroutine", "mutex", "block", "threadcreate"]

print_lock = threading.Lock()


def log(msg):
    with print_lock:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def go_version(go):
    try:
        out = subprocess.run(
            [go, "env", "GOVERSION"],
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(os.environ, GOTOOLCHAIN="local"),
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip().removeprefix("go") or None


def find_go(minor, go_dir):
    """Same search order as gorx_testsupport::go_toolchain."""
    candidates = []
    if go_dir and os.path.isdir(go_dir):
        venvs = sorted(
            (e for e in os.listdir(go_dir) if e.startswith(f"venv-{minor}")), reverse=True
        )
        candidates += [os.path.join(go_dir, e, "bin", "go") for e in venvs]
    candidates.append(f"/usr/lib/go-{minor}/bin/go")
    on_path = shutil.which("go")
    if on_path:
        candidates.append(on_path)
    candidates.append("/usr/local/go/bin/go")
    for go in candidates:
        if not os.path.exists(go):
            continue
        v = go_version(go)
        if v and (v == minor or v.startswith(minor + ".")):
            return go, v
    return None, None


def build_env(minor):
    env = {"GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
    if minor == "1.26":
        # Go 1.26 serves the goroutineleak profile only with this experiment; 1.27 has it by default.
        env["GOEXPERIMENT"] = "goroutineleakprofile"
    return env


def build(go, minor, patient, bindir):
    out = os.path.join(bindir, patient)
    env = dict(os.environ, **build_env(minor))
    subprocess.run(
        [go, "build", "-trimpath", "-o", out, "./" + patient],
        cwd=PATIENTS_DIR,
        env=env,
        check=True,
        timeout=900,
    )
    return out


def http_get(port, path, timeout):
    url = f"http://127.0.0.1:{port}{path}"
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, resp.read()


def wait_ready(port, deadline):
    while time.monotonic() < deadline:
        try:
            _, body = http_get(port, "/debug/vars", 5)
            if json.loads(body).get("patient_ready") is True:
                return True
        except (OSError, ValueError, urllib.error.URLError):
            pass
        time.sleep(0.5)
    return False


def snapshot_proc(pid, outdir):
    pdir = os.path.join(outdir, "proc")
    os.makedirs(pdir, exist_ok=True)
    names = []
    for name in ["status", "limits", "smaps_rollup"]:
        with open(f"/proc/{pid}/{name}", "rb") as src:
            data = src.read()
        with open(os.path.join(pdir, name), "wb") as dst:
            dst.write(data)
        names.append(f"proc/{name}")
    lines = []
    fds = sorted(int(x) for x in os.listdir(f"/proc/{pid}/fd"))
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed while listing
        lines.append(f"{fd} -> {target}\n")
    with open(os.path.join(pdir, "fd.txt"), "w") as f:
        f.writelines(lines)
    names.append("proc/fd.txt")
    return names


def capture(port, pid, outdir, minor, trace_s):
    """Fetch every artifact; returns the list of files written (relative to outdir)."""
    files = []

    def fetch(path, name, timeout=30, optional=False):
        try:
            status, body = http_get(port, path, timeout)
        except urllib.error.HTTPError as e:
            if optional and e.code == 404:
                return False
            raise
        if status != 200 or not body:
            raise RuntimeError(f"GET {path}: status {status}, {len(body)} bytes")
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(body)
        files.append(name)
        return True

    # Text dumps first, while the process is closest to the moment we waited for.
    fetch("/debug/pprof/goroutine?debug=2", "goroutine.debug2.txt")
    for kind in PPROF_KINDS:
        fetch(f"/debug/pprof/{kind}?debug=1", f"{kind}.debug1.txt")
        fetch(f"/debug/pprof/{kind}", f"{kind}.pb.gz")
    fetch("/debug/vars", "vars.json")
    files += snapshot_proc(pid, outdir)
    fetch(f"/debug/pprof/profile?seconds={CPU_SECONDS}", "cpu.pb.gz", timeout=CPU_SECONDS + 30)
    fetch(f"/debug/pprof/trace?seconds={trace_s}", "trace.out", timeout=trace_s + 30)
    # Last: serving goroutineleak runs a leak-detecting GC cycle via runtime.GC(), which
    # gctrace logs as one "(forced)" cycle; fetching it last keeps that cycle at the end.
    leak = fetch("/debug/pprof/goroutineleak", "goroutineleak.pb.gz", optional=True)
    return files, leak


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def replace_dir(staged, dest):
    """Swap the new directory into place: two renames on one filesystem."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    old = None
    if os.path.exists(dest):
        old = tempfile.mkdtemp(prefix="old-", dir=STAGING_DIR)
        os.rmdir(old)
        os.rename(dest, old)
    os.rename(staged, dest)
    if old:
        shutil.rmtree(old)


def run_patient(go, full_version, minor, patient, bindir):
    cfg = PATIENTS[patient]
    t0 = time.monotonic()
    binary = os.path.join(bindir, patient)
    capture_s = cfg["capture_s"]
    duration_s = cfg.get("duration_s", capture_s + 40)
    args = [f"-duration={duration_s}s"]
    env_extra = {"GODEBUG": GODEBUG}
    env_extra.update(cfg.get("env", {}))
    rlimit = cfg.get("rlimit_nofile")

    def preexec():
        if rlimit:
            # Soft and hard: Go >= 1.19 raises the soft limit to the hard one at start.
            resource.setrlimit(resource.RLIMIT_NOFILE, (rlimit, rlimit))

    os.makedirs(STAGING_DIR, exist_ok=True)
    staged = tempfile.mkdtemp(prefix=f"{minor}-{patient}-", dir=STAGING_DIR)
    stderr_f = open(os.path.join(staged, "stderr.log"), "wb")
    env = dict(os.environ)
    env.pop("GOGC", None)
    env.pop("GOMEMLIMIT", None)
    env.pop("GOMAXPROCS", None)
    env.update(env_extra)
    proc = subprocess.Popen(
        [binary] + args,
        stdout=subprocess.PIPE,
        stderr=stderr_f,
        env=env,
        preexec_fn=preexec,
        cwd=bindir,
    )
    try:
        line = proc.stdout.readline().decode()
        m = re.fullmatch(r"gorx-patient: listening on 127\.0\.0\.1:(\d+)\n", line)
        if not m:
            raise RuntimeError(f"{patient}: unexpected first line {line!r}")
        port = int(m.group(1))
        started = time.monotonic()
        time.sleep(max(0, started + capture_s - time.monotonic()))
        if not wait_ready(port, time.monotonic() + 30):
            raise RuntimeError(f"{patient}: never reported patient_ready")
        captured_after = round(time.monotonic() - started, 1)
        trace_s = cfg.get("trace_s", TRACE_SECONDS)
        files, leak = capture(port, proc.pid, staged, minor, trace_s)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    finally:
        stop(proc)
        stderr_f.close()
    files.append("stderr.log")
    manifest = {
        "schema": 1,
        "patient": patient,
        "go_version": full_version,
        "go_minor": minor,
        "build": {
            "command": ["go", "build", "-trimpath", "-o", patient, "./" + patient],
            "env": build_env(minor),
        },
        "command": [patient] + args,
        "env": env_extra,
        "pathology": cfg["pathology"],
        "expected_findings": cfg["expected"](minor),
        "capture": {
            "after_seconds": captured_after,
            "cpu_profile_seconds": CPU_SECONDS,
            "trace_seconds": trace_s,
            "trace_format": "v2" if v2_trace(minor) else "legacy",
            # Serving goroutineleak runs one runtime.GC(), logged as a "(forced)" cycle
            # near the end of stderr.log; analyzers must not count it as the patient's.
            "forced_gc_cycles_from_capture": 1 if leak else 0,
        },
        "files": sorted(files + ["MANIFEST.json"]),
        "generated_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if rlimit:
        manifest["rlimit_nofile"] = rlimit
    with open(os.path.join(staged, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    problems = check(patient, minor, staged)
    replace_dir(staged, os.path.join(ARTIFACTS_DIR, minor, patient))
    verdict = "ok" if not problems else "PATHOLOGY NOT SHOWN: " + "; ".join(problems)
    log(f"{minor} {patient}: {verdict} ({time.monotonic() - t0:.0f}s)")
    return problems


# ---- checks: does the pathology actually show in the artifacts? ----

# Go 1.26+ tags the leak-detection cycle "1% (checking for goroutine leaks):".
GC_LINE = re.compile(r"^gc (\d+) @[\d.]+s \d+%[^:]*: .*? (\d+)->(\d+)->(\d+) MB, (\d+) MB goal.*?(\(forced\))?$")


def read(d, name):
    with open(os.path.join(d, name), "rb") as f:
        return f.read().decode(errors="replace")


def gc_cycles(d):
    out = []
    for line in read(d, "stderr.log").splitlines():
        m = GC_LINE.match(line)
        if m:
            out.append((int(m.group(1)), int(m.group(4)), int(m.group(5)), bool(m.group(6))))
    return out


def kb(text, field):
    m = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) * 1024 if m else 0


def check(patient, minor, d):
    problems = []
    cycles = gc_cycles(d)
    forced = sum(1 for c in cycles if c[3])
    memstats = json.loads(read(d, "vars.json")).get("memstats", {})
    if patient == "heap-leak":
        live = [c[1] for c in cycles if not c[3]]
        if len(live) < 5 or live[-1] < 2 * max(live[0], 1):
            problems.append(f"live heap not rising across {len(live)} cycles: {live[:3]}..{live[-3:]}")
    elif patient == "goroutine-leak":
        dump = read(d, "goroutine.debug2.txt")
        n = len(re.findall(r"\[chan send, \d+ minutes\]", dump))
        if n < 1500:
            problems.append(f"only {n} goroutines in chan send for minutes")
    elif patient == "offheap":
        anon = kb(read(d, "proc/smaps_rollup"), "Anonymous")
        heap = memstats.get("HeapInuse", 0)
        if anon < 256 << 20 or heap * 10 > anon:
            problems.append(f"Anonymous {anon >> 20} MiB vs HeapInuse {heap >> 20} MiB")
    elif patient == "finalizer-blocked":
        # debug=1 keeps runtime frames (debug=2 hides them before 1.26): the finalizer
        # goroutine's entry is runtime.runfinq (runtime.runFinalizers from 1.26).
        dump = read(d, "goroutine.debug1.txt")
        if not re.search(r"main\.\(\*conn\)\.release\+.*\n#.*runtime\.run(finq|Finalizers)\+", dump):
            problems.append("finalizer goroutine not blocked in main.(*conn).release")
    elif patient == "memlimit-thrash":
        goals = [c[2] for c in cycles[-20:]]
        if len(cycles) < 50 or not goals or max(goals) > 70:
            problems.append(f"{len(cycles)} cycles, recent goals {goals[-5:]} MB")
    elif patient == "forced-gc":
        if forced < 50:
            problems.append(f"only {forced} forced cycles")
    elif patient == "mutex-contention":
        text = read(d, "mutex.debug1.txt")
        if "main.(*stats).record" not in text:
            problems.append("record not in mutex profile")
    elif patient == "chan-block":
        text = read(d, "block.debug1.txt")
        if "main.producer" not in text:
            problems.append("producer not in block profile")
    elif patient == "fd-leak":
        nfd = len(read(d, "proc/fd.txt").splitlines())
        if nfd < 0.8 * 256:
            problems.append(f"only {nfd} fds open of 256")
    elif patient == "sched-latency":
        v = json.loads(read(d, "vars.json"))
        if v.get("heartbeat_late_max_ns", 0) < 20_000_000:
            problems.append(f"heartbeat max lateness only {v.get('heartbeat_late_max_ns')} ns")
    elif patient == "syscall-blocking":
        threads = int(re.search(r"^Threads:\s+(\d+)", read(d, "proc/status"), re.M).group(1))
        if threads < 40:
            problems.append(f"only {threads} threads")
    elif patient == "healthy":
        live = [c[1] for c in cycles if not c[3]]
        if forced > 1:
            problems.append(f"{forced} forced cycles")
        if len(live) >= 4 and live[-1] > 2 * max(live[1], 4):
            problems.append(f"live heap grew {live[1]} -> {live[-1]} MB")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--go", action="append", dest="versions", help="Go minor version (repeatable)")
    ap.add_argument(
        "--go-dir",
        default=os.environ.get("GORX_GO_DIR", os.path.expanduser("~/.cache/gorx/go")),
        help="directory holding venv-<version>/bin/go (env GORX_GO_DIR)",
    )
    ap.add_argument("--jobs", type=int, default=3, help="patients run in parallel (sched-latency always runs alone)")
    ap.add_argument("patients", nargs="*", help="patients to run (default: all)")
    opts = ap.parse_args()
    versions = opts.versions or DEFAULT_VERSIONS
    patients = opts.patients or list(PATIENTS)
    for p in patients:
        if p not in PATIENTS:
            sys.exit(f"unknown patient {p!r}; known: {' '.join(PATIENTS)}")
    t_all = time.monotonic()
    failures = []
    for minor in versions:
        go, full = find_go(minor, opts.go_dir)
        if not go:
            sys.exit(f"no Go {minor} toolchain found (looked in {opts.go_dir}, /usr/lib/go-{minor}, PATH, /usr/local/go)")
        log(f"Go {full}: {go}")
        t_v = time.monotonic()
        bindir = tempfile.mkdtemp(prefix=f"gorx-patients-{minor}-")
        try:
            # Build everything up front, one at a time: parallel cold builds of the
            # same standard library only fight over 2 cores.
            for p in patients:
                build(go, minor, p, bindir)
            log(f"Go {full}: built {len(patients)} patients in {time.monotonic() - t_v:.0f}s")
            # Longest first; the CPU-timing-sensitive patient runs alone at the end.
            shared = sorted((p for p in patients if not PATIENTS[p].get("alone")),
                            key=lambda p: -PATIENTS[p]["capture_s"])
            alone = [p for p in patients if PATIENTS[p].get("alone")]
            with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as ex:
                futs = {ex.submit(run_patient, go, full, minor, p, bindir): p for p in shared}
                for fut in concurrent.futures.as_completed(futs):
                    try:
                        if fut.result():
                            failures.append(f"{minor}/{futs[fut]}")
                    except Exception as e:  # keep going with the other patients
                        log(f"{minor} {futs[fut]}: FAILED: {e}")
                        failures.append(f"{minor}/{futs[fut]}")
            for p in alone:
                try:
                    if run_patient(go, full, minor, p, bindir):
                        failures.append(f"{minor}/{p}")
                except Exception as e:
                    log(f"{minor} {p}: FAILED: {e}")
                    failures.append(f"{minor}/{p}")
        finally:
            shutil.rmtree(bindir, ignore_errors=True)
        log(f"Go {full}: done in {time.monotonic() - t_v:.0f}s")
    log(f"all done in {time.monotonic() - t_all:.0f}s")
    if failures:
        log("pathology missing or run failed: " + " ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
