#!/bin/bash
# What `gorx watch --interval 1s` costs the watched process: its CPU ticks (utime+stime)
# over N seconds unwatched, then N seconds watched, same process side by side.
# Usage: watch-overhead.sh GORX_BINARY GO_PROGRAM [ARGS...]   (N=${SECONDS_EACH:-50})
# The program must serve net/http/pprof on loopback so watch samples the runtime too.
set -euo pipefail
GORX=$1; shift
N=${SECONDS_EACH:-50}
"$@" > /dev/null &
P=$!
trap 'kill $P 2>/dev/null || true' EXIT
sleep 2
ticks() { awk '{print $14+$15}' "/proc/$P/stat"; }
T0=$(ticks); sleep "$N"; T1=$(ticks)
"$GORX" watch "$P" --interval 1s --duration "${N}s" > /dev/null
T2=$T1; T3=$(ticks)
HZ=$(getconf CLK_TCK)
python3 -c "print('unwatched %.3f%%  watched %.3f%% of one core (%d and %d ticks of 1/%d s over %d s)' % (($T1-$T0)/$HZ/$N*100, ($T3-$T2)/$HZ/$N*100, $T1-$T0, $T3-$T2, $HZ, $N))"
