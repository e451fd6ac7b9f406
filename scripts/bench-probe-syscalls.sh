#!/usr/bin/env bash
# Cost of `gorx probe`'s syscall probe on the target's own syscalls, side by side with
# bpftrace doing the same work (per-tid entry time, per-syscall log2 latency histogram)
# and with a bpftrace program that only filters by pid. The target is a Go loop of
# 500,000 getppid calls (the cheapest syscall, so the probe's share is the largest);
# and the cost to the other processes while gorx probes one pid;
# each configuration is measured 7 times in the same process, medians reported.
#   scripts/bench-probe-syscalls.sh [GORX]        (root; bpftrace; mounts tracefs if absent)
# The probe's cost is in the kernel: a debug build of gorx measures the same.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
gorx=${1:-$root/target/debug/gorx}
[ -x "$gorx" ] || { echo "bench-probe-syscalls.sh: $gorx not built (cargo build -p gorx)" >&2; exit 2; }
command -v bpftrace >/dev/null || { echo "bench-probe-syscalls.sh: bpftrace missing" >&2; exit 2; }
work=$(mktemp -d)
mounted=0
cleanup() {
	rm -rf "$work"
	if [ "$mounted" = 1 ]; then umount /sys/kernel/tracing || true; fi
}
trap cleanup EXIT
if [ ! -d /sys/kernel/tracing/events ]; then
	mount -t tracefs nodev /sys/kernel/tracing
	mounted=1
fi
cat >"$work/main.go" <<'GO'
package main

import (
	"bufio"
	"fmt"
	"os"
	"syscall"
	"time"
)

func main() {
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		t := time.Now()
		for i := 0; i < 500000; i++ {
			syscall.Getppid()
		}
		fmt.Println(time.Since(t).Nanoseconds() / 500000)
	}
}
GO
printf 'module bench\n\ngo 1.21\n' >"$work/go.mod"
(cd "$work" && CGO_ENABLED=0 GOTOOLCHAIN=local go build -o bench .)
python3 - "$work/bench" "$gorx" <<'PY'
import signal, statistics, subprocess, sys, time
bench, gorx = sys.argv[1], sys.argv[2]
p = subprocess.Popen([bench], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
assert p.stdout.readline().strip() == "ready"
def measure(n=7):
    r = []
    for _ in range(n):
        p.stdin.write("go\n"); p.stdin.flush()
        r.append(int(p.stdout.readline()))
    return statistics.median(r)
def under(cmd, settle):
    t = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(settle)
    m = measure()
    t.send_signal(signal.SIGINT); t.wait(timeout=30)
    return m
pid = p.pid
hist = ("tracepoint:raw_syscalls:sys_enter /pid == %d/ { @s[tid] = nsecs; } "
        "tracepoint:raw_syscalls:sys_exit /pid == %d && @s[tid]/ "
        "{ @h[args->id] = hist(nsecs - @s[tid]); delete(@s[tid]); }") % (pid, pid)
empty = "tracepoint:raw_syscalls:sys_enter /pid == %d/ {} tracepoint:raw_syscalls:sys_exit /pid == %d/ {}" % (pid, pid)
rows = [("no probe", measure())]
rows.append(("gorx probe --only syscalls", under([gorx, "probe", str(pid), "--duration", "120s"], 2)))
# Every other process pays the tracepoint and the tgid test while gorx probes one pid.
other = subprocess.Popen([bench], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
rows.append(("gorx probe on another pid (cost to non-targets)", under([gorx, "probe", str(other.pid), "--duration", "120s"], 2)))
other.kill()
rows.append(("bpftrace, same aggregation", under(["bpftrace", "-e", hist], 4)))
rows.append(("bpftrace, pid filter only", under(["bpftrace", "-e", empty], 4)))
rows.append(("no probe (after)", measure()))
p.kill()
base = (rows[0][1] + rows[-1][1]) / 2
print("| configuration | ns per getppid (median of 7 × 500,000) | added ns |")
print("| --- | --- | --- |")
for name, ns in rows:
    print("| %s | %d | %+d |" % (name, ns, ns - base))
PY
