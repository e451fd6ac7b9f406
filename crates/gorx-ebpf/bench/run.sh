#!/usr/bin/env bash
# Overhead of `gorx probe` on a Go HTTP server under loopback load, side by side with
# bpftrace doing the same work, in one run.
#
# The server is the healthy patient (testdata/patients/healthy, GET /api/items) loaded by
# Debian's wrk (closed loop: the most it answers, and its latency distribution). Arms:
#   none               no probe
#   gorx:SET           gorx probe PID --only SET (release build of this tree)
#   bpftrace:SET       a bpftrace script doing the same work for the same pid:
#     syscalls  per-thread entry time on raw_syscalls, per-syscall log2 histogram and
#               count/sum/max, syscalls over 10 ms counted with their user stack
#     runq      wakeup (or preemption) to switch-in delay of the pid's threads, log2
#               histogram per way in
#     fds       the user stack at each fd-creating syscall's entry, each new fd owned by it,
#               opened/closed counts per stack (close releases the owner)
# Each round runs every probe arm once, in an order rotated per round, each preceded by
# a no-probe run (and one more at the end), so host noise (other jobs on this machine)
# hits the arms alike and each probe run is also compared with the no-probe runs seconds
# before and after it; medians and ranges over the rounds are reported. Besides wrk's
# req/s and P99, the server's CPU per request (schedstat of its threads) and wrk's (its
# rusage) show the probe's in-kernel cost, which runs in the traced tasks' context.
# The probe is attached (its links visible, or bpftrace's "Attaching" line), then after
# a settle second wrk runs; the probe's own CPU over wrk's window, as % of one
# core, is read both from its threads' schedstat (ns) and as utime+stime from
# /proc/PID/stat (10 ms ticks); "whole run" adds loading, symbolizing and printing
# (wait4's rusage, over the same window length).
# BPF_STATS=1 also sets kernel.bpf_stats_enabled (restored after) and reports each
# arm's BPF programs: runs and ns per request (the stats add two clock reads per run).
#
#   crates/gorx-ebpf/bench/run.sh [SET ...]      (root; wrk, bpftrace, bpftool, go, cargo)
#     SET: comma-separated probe names, e.g. syscalls runq fds syscalls,runq,fds
#          (default: syscalls runq fds syscalls,runq,fds)
#   env: SECS=5 (wrk window)  ROUNDS=5  CONNS=32  THREADS=1
#        PIN=1 (server on CPU 1, wrk on CPU 0; PIN=0 lets both float)
#        NICE=-10 (the whole benchmark, probes included, runs at this nice value so that
#        other jobs on a shared host take less of its CPUs; NICE=0 to measure without)
#        GORX=path (skip the release build)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
secs=${SECS:-5}
rounds=${ROUNDS:-5}
conns=${CONNS:-32}
threads=${THREADS:-1}
pin=${PIN:-1}
nice=${NICE:--10}
sets=("$@")
[ ${#sets[@]} -gt 0 ] || sets=(syscalls runq fds syscalls,runq,fds)
for tool in wrk bpftrace bpftool go; do
	command -v "$tool" >/dev/null || { echo "bench/run.sh: $tool missing (apt-get install -y wrk bpftrace bpftool golang)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench/run.sh: needs root (BPF)" >&2; exit 2; }
if [ -z "${GORX:-}" ]; then
	(cd "$root" && cargo build -q --release -p gorx)
	GORX=$root/target/release/gorx
fi
work=$(mktemp -d)
mounted=0
cleanup() {
	rm -rf "$work"
	if [ "$mounted" = 1 ]; then umount /sys/kernel/tracing || true; fi
}
trap cleanup EXIT
# bpftrace's tracepoints need tracefs (gorx's raw tracepoints do not).
if [ ! -d /sys/kernel/tracing/events ]; then
	mount -t tracefs nodev /sys/kernel/tracing
	mounted=1
fi
(cd "$root/testdata/patients" && CGO_ENABLED=0 go build -o "$work/healthy" ./healthy)
echo "host: $(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "gorx: $GORX; bpftrace: $(bpftrace --version); wrk -t$threads -c$conns -d${secs}s --latency; $rounds rounds; pin=$pin; nice=$nice"
nice -n "$nice" python3 - "$work" "$GORX" "$secs" "$rounds" "$conns" "$threads" "$pin" "${sets[@]}" <<'PY'
import os, re, signal, statistics, subprocess, sys, time

work, gorx, secs, rounds, conns, threads, pin = sys.argv[1:8]
secs, rounds, conns, threads, pin = int(secs), int(rounds), int(conns), int(threads), pin == "1"
sets = sys.argv[8:]
HZ = os.sysconf("SC_CLK_TCK")
LINKS = {"syscalls": 2, "runq": 3, "fds": 29}
# A probe added later without an entry here is measured with gorx only (waiting for at
# least one link of its own); its set gets no bpftrace arm until one is written below.
anchored = [s for s in sets if all(p in LINKS for p in s.split(","))]
for s in sets:
    if s not in anchored:
        print("bench/run.sh: no bpftrace equivalent for %r yet: gorx arm only" % s, flush=True)

def taskset(cpu):
    return ["taskset", "-c", str(cpu)] if pin else []

# The server: one CPU (Go sizes GOMAXPROCS from the affinity mask), wrk on the other.
# Whatever this script started is ended when it exits, also on an error (a bpftrace left
# running would tax every later measurement on the host).
live = []
def end_live():
    for c in live:
        if c.poll() is None:
            c.kill()
            c.wait()
import atexit
atexit.register(end_live)

srv = subprocess.Popen(taskset(1) + [os.path.join(work, "healthy"), "-duration", "10h"],
                       stdout=subprocess.PIPE, stderr=open(os.path.join(work, "server.err"), "w"), text=True)
line = srv.stdout.readline()
m = re.search(r"listening on (\S+)", line)
if not m:
    srv.kill()
    sys.exit("bench/run.sh: healthy patient said %r" % line)
live.append(srv)
url = "http://%s/api/items" % m.group(1)
pid = srv.pid

def bt_script(probes):
    parts = []
    if "syscalls" in probes:
        parts.append("""
tracepoint:raw_syscalls:sys_enter /pid == %(pid)d/ { @sys_start[tid] = nsecs; }
tracepoint:raw_syscalls:sys_exit /pid == %(pid)d/ {
  $s = @sys_start[tid];
  if ($s != 0) {
    $d = nsecs - $s;
    delete(@sys_start[tid]);
    @sys_hist[args->id] = hist($d);
    @sys_stats[args->id] = stats($d);
    @sys_max[args->id] = max($d);
    if ($d >= 10000000) { @sys_slow[args->id, ustack] = count(); }
  }
}""")
    if "runq" in probes:
        # bpftrace 0.17 has no raw tracepoints or BTF task pointers on sched_wakeup here,
        # so the pid's threads are learnt when they run (current is prev in sched_switch).
        parts.append("""
tracepoint:sched:sched_wakeup, tracepoint:sched:sched_wakeup_new /@rq_mine[args->pid]/ {
  @rq_at[args->pid] = nsecs; @rq_kind[args->pid] = 0;
}
tracepoint:sched:sched_switch {
  if (pid == %(pid)d) {
    @rq_mine[tid] = 1;
    if (args->prev_state == 0 || args->prev_state == 256) { @rq_at[tid] = nsecs; @rq_kind[tid] = 1; }
  }
  $q = @rq_at[args->next_pid];
  if ($q != 0) {
    @rq_hist[@rq_kind[args->next_pid]] = hist(nsecs - $q);
    @rq_stats[@rq_kind[args->next_pid]] = stats(nsecs - $q);
    delete(@rq_at[args->next_pid]);
  }
}""")
    if "fds" in probes:
        creators = ["open", "creat", "openat", "openat2", "socket", "accept", "accept4",
                    "socketpair", "pipe", "pipe2", "dup", "dup2", "dup3", "eventfd",
                    "eventfd2", "epoll_create", "epoll_create1", "memfd_create",
                    "inotify_init", "inotify_init1", "signalfd4", "timerfd_create",
                    "pidfd_open"]
        have = set(open("/sys/kernel/tracing/available_events").read().split())
        creators = [c for c in creators if "syscalls:sys_enter_" + c in have]
        enter = ", ".join("tracepoint:syscalls:sys_enter_" + c for c in creators)
        exit_ = ", ".join("tracepoint:syscalls:sys_exit_" + c for c in creators)
        parts.append("""
%(enter)s /pid == %%(pid)d/ { @fd_stack[tid] = ustack; @fd_pending[tid] = 1; }
%(exit_)s /pid == %%(pid)d && @fd_pending[tid]/ {
  delete(@fd_pending[tid]);
  if (args->ret >= 0) {
    @fd_owner[args->ret] = @fd_stack[tid];
    @fd_opened[@fd_stack[tid]] = count();
    @fd_owned[args->ret] = 1;
  }
  delete(@fd_stack[tid]);
}
tracepoint:syscalls:sys_enter_close /pid == %%(pid)d/ { @fd_closing[tid] = args->fd + 1; }
tracepoint:syscalls:sys_exit_close /pid == %%(pid)d && @fd_closing[tid]/ {
  $fd = @fd_closing[tid] - 1;
  delete(@fd_closing[tid]);
  if (args->ret == 0 && @fd_owned[$fd]) {
    @fd_closed[@fd_owner[$fd]] = count();
    delete(@fd_owner[$fd]); delete(@fd_owned[$fd]);
  }
}""" % {"enter": enter, "exit_": exit_})
    return "\n".join(parts) % {"pid": pid}

def cpu_ticks(p):
    try:
        f = open("/proc/%d/stat" % p).read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])  # utime, stime (fields 14, 15)
    except OSError:
        return None

def links_of(p):
    """BPF links the process holds (its fds whose fdinfo has a link_id)."""
    n = 0
    try:
        fds = os.listdir("/proc/%d/fdinfo" % p)
    except OSError:
        return 0
    for fd in fds:
        try:
            if "link_id:" in open("/proc/%d/fdinfo/%s" % (p, fd)).read():
                n += 1
        except OSError:
            pass
    return n

def links_total():
    """BPF links on the whole host (other jobs' probes tax every syscall too)."""
    out = subprocess.run(["bpftool", "link", "show"], capture_output=True, text=True).stdout
    return sum(1 for l in out.splitlines() if re.match(r"^\d+:", l))

def prog_ids(p):
    """Ids of the BPF programs the process holds (fds whose fdinfo has a prog_id)."""
    ids = set()
    try:
        fds = os.listdir("/proc/%d/fdinfo" % p)
    except OSError:
        return ids
    for fd in fds:
        try:
            m = re.search(r"^prog_id:\s+(\d+)", open("/proc/%d/fdinfo/%s" % (p, fd)).read(), re.M)
        except OSError:
            continue
        if m:
            ids.add(int(m.group(1)))
    return ids

def prog_stats(ids):
    """{id: (name, run_time_ns, run_cnt)} (kernel.bpf_stats_enabled must be 1)."""
    out = {}
    for i in ids:
        j = subprocess.run(["bpftool", "-j", "prog", "show", "id", str(i)], capture_output=True, text=True).stdout
        m = re.search(r'"name":"([^"]*)".*?"run_time_ns":(\d+),"run_cnt":(\d+)', j)
        if m:
            out[i] = (m.group(1), int(m.group(2)), int(m.group(3)))
    return out

def start_arm(arm):
    """Start the arm's probe; return its Popen once attached (None for "none")."""
    kind, _, pset = arm.partition(":")
    if kind == "none":
        return None
    log = open(os.path.join(work, "probe.out"), "w")
    if kind == "gorx":
        p = subprocess.Popen([gorx, "probe", str(pid), "--only", pset, "--duration", "%ds" % (secs + 60)],
                             stdout=log, stderr=subprocess.STDOUT)
        live.append(p)
        want = sum(LINKS.get(x, 1) for x in pset.split(","))
        deadline = time.time() + 30
        while links_of(p.pid) < want:
            if p.poll() is not None or time.time() > deadline:
                raise SystemExit("bench/run.sh: %s did not attach: %s" % (arm, open(log.name).read()[-500:]))
            time.sleep(0.1)
    else:
        path = os.path.join(work, "probe.bt")
        open(path, "w").write(bt_script(pset.split(",")))
        p = subprocess.Popen(["bpftrace", path], stdout=log, stderr=subprocess.STDOUT)
        live.append(p)
        deadline = time.time() + 60
        while "Attaching" not in open(log.name).read():
            if p.poll() is not None or time.time() > deadline:
                raise SystemExit("bench/run.sh: %s did not start: %s" % (arm, open(log.name).read()[-800:]))
            time.sleep(0.1)
        time.sleep(1)  # "Attaching" is printed before the attach
    time.sleep(1)
    return p

def oncpu_ns(p):
    """Nanoseconds on CPU of all the process's live threads (schedstat)."""
    n = 0
    try:
        tasks = os.listdir("/proc/%d/task" % p)
    except OSError:
        return 0
    for t in tasks:
        try:
            n += int(open("/proc/%d/task/%s/schedstat" % (p, t)).read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return n

UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}
def wrk():
    """req/s, P99 ms, requests, wrk's own CPU seconds."""
    cmd = taskset(0) + ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % secs, "--latency", url]
    w = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = w.stdout.read()
    _, status, ru = os.wait4(w.pid, 0)
    w.returncode = status
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("bench/run.sh: wrk failed (server %s): %s" % (
            "alive" if srv.poll() is None else "exited %s: %s" % (srv.returncode, open(os.path.join(work, "server.err")).read()[-300:]), out))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    n = int(re.search(r"(\d+) requests in", out).group(1))
    v, u = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
    if re.search(r"Non-2xx|Socket errors", out):
        print("  wrk reported errors:", out.strip().splitlines()[-3:], file=sys.stderr)
    return rps, float(v) * UNIT[u], n, ru.ru_utime + ru.ru_stime

arms = ["none"] + ["gorx:" + s for s in sets] + ["bpftrace:" + s for s in anchored]
res = {a: [] for a in arms}
# Each round: every probe arm once, in an order rotated per round, each preceded by a
# no-probe run, so every probe run has a baseline on each side taken seconds apart.
probe_arms = arms[1:]

# Warm the server up before measuring.
subprocess.run(taskset(0) + ["wrk", "-t1", "-c%d" % conns, "-d3s", url], capture_output=True)
bpf_stats = os.environ.get("BPF_STATS") == "1"
if bpf_stats:
    stats_was = open("/proc/sys/kernel/bpf_stats_enabled").read().strip()
    open("/proc/sys/kernel/bpf_stats_enabled", "w").write("1")
    import atexit
    atexit.register(lambda: open("/proc/sys/kernel/bpf_stats_enabled", "w").write(stats_was))
last_none = last_probe = None
for r in range(rounds):
    k = r % len(probe_arms)
    order = []
    for a in probe_arms[k:] + probe_arms[:k]:
        order += ["none", a]
    order.append("none")
    for arm in order:
        foreign = links_total()
        p = start_arm(arm)
        t0 = cpu_ticks(p.pid) if p else None
        q0 = oncpu_ns(p.pid) if p else None
        ids = prog_ids(p.pid) if (p and bpf_stats) else set()
        b0 = prog_stats(ids)
        s0 = oncpu_ns(pid)
        w0 = time.time()
        rps, p99, nreq, wrk_cpu = wrk()
        wall = time.time() - w0
        srv_us = (oncpu_ns(pid) - s0) / 1e3 / nreq
        b1 = prog_stats(ids)
        progs = {}
        for i in b1:
            if i in b0:
                name, ns, cnt = b1[i][0], b1[i][1] - b0[i][1], b1[i][2] - b0[i][2]
                t = progs.setdefault(name, [0, 0])
                t[0] += ns; t[1] += cnt
        cpu = cpu_ns = whole = None
        if p:
            t1 = cpu_ticks(p.pid)
            cpu = 100.0 * (t1 - t0) / HZ / wall
            cpu_ns = 100.0 * (oncpu_ns(p.pid) - q0) / 1e9 / wall
            p.send_signal(signal.SIGINT)
            _, status, ru = os.wait4(p.pid, 0)
            p.returncode = status
            whole = 100.0 * (ru.ru_utime + ru.ru_stime) / wall
            if arm.startswith("gorx") and os.waitstatus_to_exitcode(status) not in (0, 1):
                raise SystemExit("bench/run.sh: %s exited %d: %s" % (arm, os.waitstatus_to_exitcode(status),
                                                                   open(os.path.join(work, "probe.out")).read()[-500:]))
        row = {"rps": rps, "p99": p99, "cpu": cpu, "cpu_ns": cpu_ns, "whole": whole, "srv": srv_us, "wrk": wrk_cpu * 1e6 / nreq,
               "load": float(open("/proc/loadavg").read().split()[0]), "foreign": foreign,
               "progs": {n: (ns / nreq, cnt / nreq) for n, (ns, cnt) in progs.items()},
               "bpf": sum(ns for ns, _ in progs.values()) / nreq}
        row["round"] = r
        res[arm].append(row)
        if arm == "none":
            if last_probe is not None:
                last_probe["after"] = row
                last_probe = None
            last_none = row
        else:
            row["before"] = last_none
            last_probe = row
        print("round %d %-28s %8.0f req/s  P99 %7.3f ms  server %5.1f µs/req  wrk %5.1f µs/req  probe CPU %s  load %.1f  other links %d" % (
            r + 1, arm, rps, p99, row["srv"], row["wrk"],
            "-" if cpu is None else "%.2f%% (ticks %.1f%%, whole run %.2f%%)" % (cpu_ns, cpu, whole), row["load"], foreign), flush=True)
        if bpf_stats and p:
            print("        BPF programs: %.0f ns per request: %s" % (row["bpf"], ", ".join(
                "%s %.1f runs × %.0f ns" % (n, c, ns / c if c else 0) for n, (ns, c) in sorted(row["progs"].items()))), flush=True)
        time.sleep(1)
srv.kill()

def med(xs):
    return statistics.median(xs)
def rng(xs, fmt):
    return (fmt + "–" + fmt) % (min(xs), max(xs))
def col(a, k):
    return [x[k] for x in res[a]]
def rel(a, k):
    return "—" if a == "none" else "%+.1f%%" % (100 * (med(col(a, k)) / med(col("none", k)) - 1))
allrows = [x for a in arms for x in res[a]]
print()
print("host during the runs: load average %.1f–%.1f; BPF links of other jobs attached %d–%d" % (
    min(x["load"] for x in allrows), max(x["load"] for x in allrows),
    min(x["foreign"] for x in allrows), max(x["foreign"] for x in allrows)))
print()
print("Medians over %d rounds (range in brackets); \"vs none\" compares medians." % rounds)
print()
print("| arm | req/s | vs none | P99 ms | vs none | server CPU µs/req | vs none | probe CPU % of a core over wrk: schedstat | utime+stime | whole run |")
print("|---|---|---|---|---|---|---|---|---|---|")
for a in arms:
    line = "| %s | %.0f (%s) | %s | %.3f (%s) | %s | %.1f (%s) | %s |" % (
        a, med(col(a, "rps")), rng(col(a, "rps"), "%.0f"), rel(a, "rps"),
        med(col(a, "p99")), rng(col(a, "p99"), "%.3f"), rel(a, "p99"),
        med(col(a, "srv")), rng(col(a, "srv"), "%.1f"), rel(a, "srv"))
    if a == "none":
        line += " — | — | — |"
    else:
        line += " %.2f (%s) | %.1f (%s) | %.2f |" % (med(col(a, "cpu_ns")), rng(col(a, "cpu_ns"), "%.2f"),
                                                    med(col(a, "cpu")), rng(col(a, "cpu"), "%.1f"), med(col(a, "whole")))
    print(line)
# Pairing: each probe run against the mean of the no-probe runs just before and after it
# (seconds apart, so under nearly the same host load).
print()
print("Each probe run against the no-probe runs on either side of it: median change (range).")
print()
print("| arm | req/s | P99 | server CPU µs/req | wrk CPU µs/req |")
print("|---|---|---|---|---|")
for a in probe_arms:
    cells = []
    for k in ("rps", "p99", "srv", "wrk"):
        d = [100 * (x[k] / ((x["before"][k] + x["after"][k]) / 2) - 1) for x in res[a]]
        cells.append("%+.1f%% (%s)" % (med(d), rng(d, "%+.1f%%")))
    print("| %s | %s |" % (a, " | ".join(cells)))
if bpf_stats:
    print()
    print("In-kernel cost (kernel.bpf_stats_enabled: run_time_ns and run_cnt of the arm's programs over wrk's window), medians per request:")
    print()
    print("| arm | BPF ns per request | server CPU ns per request | share | programs: runs per request × ns per run |")
    print("|---|---|---|---|---|")
    for a in probe_arms:
        rows = res[a]
        names = sorted({n for x in rows for n in x["progs"]})
        parts = []
        for n in names:
            c = med([x["progs"][n][1] for x in rows if n in x["progs"]])
            ns = med([x["progs"][n][0] / x["progs"][n][1] for x in rows if n in x["progs"] and x["progs"][n][1]] or [0])
            parts.append("%s %.1f × %.0f" % (n, c, ns))
        bpf = med(col(a, "bpf")); srv = med(col(a, "srv")) * 1e3
        print("| %s | %.0f | %.0f | %.1f%% | %s |" % (a, bpf, srv, 100 * bpf / srv, ", ".join(parts)))
PY
