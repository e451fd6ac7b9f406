#!/usr/bin/env bash
# Log and dump parsing benchmarks (issue 3). Not timed tests: results go to BENCHMARKS.md.
#  1. A real 100,000-goroutine dump (a Go program's own debug=2 output) parsed by
#     gorx_formats::goroutines (target ≥ 300 MiB/s, gostackparse's figure).
#  2. A 1 GiB log of real gctrace/scavtrace/schedtrace output (the corpus stderr logs
#     repeated) scanned by gorx_formats::gctrace, against `wc -l` on the same file in the
#     same run (target ≥ 50% of wc -l throughput).
# Usage: scripts/bench-logs.sh [--no-write]   (GO=path/to/go, BENCH_DIR=/tmp/...)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
DIR=${BENCH_DIR:-/tmp/gorx-bench}
LOG_BYTES=${LOG_BYTES:-1073741824}
mkdir -p "$DIR/gen"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

# --- 1. the dump -----------------------------------------------------------------
cat > "$DIR/gen/go.mod" <<'EOF'
module gen
go 1.21
EOF
cat > "$DIR/gen/main.go" <<'EOF'
// 100,000 goroutines blocked in a mix of states at stack depths 1-24, then a dump of
// all of them on stdout: runtime.Stack(buf, true), what ?debug=2 serves, with a buffer
// large enough (pprof's own writer stops at 64 MiB and truncates).
package main

import (
	"os"
	"runtime"
	"sync"
	"time"
)

var (
	ch   = make(chan int)
	ch2  = make(chan int)
	mu   sync.Mutex
	cond = sync.NewCond(&sync.Mutex{})
	wg   sync.WaitGroup
)

//go:noinline
func deep(n, kind int, s string, p *int) {
	if n > 0 {
		deep(n-1, kind, s, p)
		return
	}
	wg.Done()
	switch kind {
	case 0:
		<-ch
	case 1:
		select { // two channels nobody uses: a send here would pair with case 0
		case <-ch:
		case <-ch2:
		}
	case 2:
		mu.Lock()
	case 3:
		time.Sleep(time.Hour)
	default:
		cond.L.Lock()
		cond.Wait()
	}
}

func main() {
	mu.Lock()
	x := 0
	for i := 0; i < 100000; i++ {
		wg.Add(1)
		go deep(i%24, i%5, "label", &x)
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond)
	buf := make([]byte, 1<<30)
	os.Stdout.Write(buf[:runtime.Stack(buf, true)])
}
EOF
if [[ ! -s $DIR/dump100k.txt ]]; then
  (cd "$DIR/gen" && GOTOOLCHAIN=local GOFLAGS=-mod=mod "$GO" build -o gen . && ./gen > "$DIR/dump100k.txt")
fi
GOVER=$("$GO" env GOVERSION)

# --- 2. the 1 GiB log -------------------------------------------------------------
seed=$DIR/seed.log
if [[ ! -s $seed ]]; then
  for f in testdata/artifacts/*/*/stderr.log testdata/samples/logs/gctrace-go1.*.log; do
    [[ -f $f ]] && cat "$f" >> "$seed"
  done
  [[ -s $seed ]] || { echo "no seed logs (testdata/artifacts/*/*/stderr.log)" >&2; exit 2; }
fi
if [[ ! -s $DIR/gctrace-1g.log || $(stat -c %s "$DIR/gctrace-1g.log") -lt $LOG_BYTES ]]; then
  : > "$DIR/gctrace-1g.log"
  # Double until past the size, then cut at a line boundary.
  cp "$seed" "$DIR/chunk.log"
  while [[ $(stat -c %s "$DIR/chunk.log") -lt $((LOG_BYTES / 16)) ]]; do
    cat "$DIR/chunk.log" "$DIR/chunk.log" > "$DIR/chunk2.log" && mv "$DIR/chunk2.log" "$DIR/chunk.log"
  done
  while [[ $(stat -c %s "$DIR/gctrace-1g.log") -lt $LOG_BYTES ]]; do
    cat "$DIR/chunk.log" >> "$DIR/gctrace-1g.log"
  done
  rm -f "$DIR/chunk.log"
fi

# --- 3. the 1 GiB single-process log ------------------------------------------------
# The seed's gctrace lines only, renumbered into one continuous run: one process's
# GODEBUG=gctrace=1 stderr, the common case (one run crossing every chunk).
if [[ ! -s $DIR/gctrace-1run.log || $(stat -c %s "$DIR/gctrace-1run.log") -lt $LOG_BYTES ]]; then
  awk -v want="$LOG_BYTES" '
    /^gc [0-9]+ @[0-9.]+s / { sub(/^gc [0-9]+ @[0-9.]+s /, ""); rest[k++] = $0 }
    END {
      if (k == 0) exit 2
      for (size = 0; size < want; ) for (i = 0; i < k && size < want; i++) {
        n++; line = sprintf("gc %d @%.3fs %s", n, n * 0.013, rest[i])
        print line; size += length(line) + 1
      }
    }' "$DIR/seed.log" > "$DIR/gctrace-1run.log"
fi

# --- run ---------------------------------------------------------------------------
out=$(GORX_BENCH_DUMP=$DIR/dump100k.txt GORX_BENCH_LOG=$DIR/gctrace-1g.log \
  cargo test --release -q -p gorx-formats --test goroutines_bench --test gctrace_bench \
  -- --ignored --nocapture 2>/dev/null | grep '^BENCH')
echo "$out"
dump_line=$(grep 'goroutine-dump' <<<"$out")
gc_line=$(grep 'BENCH gctrace' <<<"$out")
one_line=$(GORX_BENCH_LOG=$DIR/gctrace-1run.log \
  cargo test --release -q -p gorx-formats --test gctrace_bench \
  -- --ignored --nocapture 2>/dev/null | grep '^BENCH gctrace')
echo "$one_line (single process)"
# `field name line`: the value of ` name=` (the leading space keeps mib_per_s apart from
# cpu_mib_per_s).
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

cat "$DIR/gctrace-1g.log" > /dev/null # warm the page cache
# wc -l: best of 3 by wall time and by CPU time (user+sys), like the parse numbers.
best_wc=999; best_wc_cpu=999
for _ in 1 2 3; do
  t=$( { /usr/bin/time -f "%e %U %S" wc -l "$DIR/gctrace-1g.log" > /dev/null; } 2>&1 | tail -1)
  read -r wall usr sys <<<"$t"
  best_wc=$(awk -v a="$best_wc" -v b="$wall" 'BEGIN{print (b<a)?b:a}')
  best_wc_cpu=$(awk -v a="$best_wc_cpu" -v b="$usr" -v c="$sys" 'BEGIN{print (b+c<a)?b+c:a}')
done
log_bytes=$(field bytes "$gc_line")
wc_mibs=$(awk -v b="$log_bytes" -v t="$best_wc" 'BEGIN{printf "%.0f", b/1048576/t}')
wc_cpu_mibs=$(awk -v b="$log_bytes" -v t="$best_wc_cpu" 'BEGIN{printf "%.0f", b/1048576/(t>0?t:0.01)}')
gc_mibs=$(field mib_per_s "$gc_line")
gc_cpu_mibs=$(field cpu_mib_per_s "$gc_line")
ratio=$(awk -v a="$gc_mibs" -v b="$wc_mibs" 'BEGIN{printf "%.2f", a/b}')
ratio_cpu=$(awk -v a="$gc_cpu_mibs" -v b="$wc_cpu_mibs" 'BEGIN{printf "%.2f", a/b}')
# The single-process log against the mixed log's wc -l (the same counting speed per byte).
one_mibs=$(field mib_per_s "$one_line")
one_ratio=$(awk -v a="$one_mibs" -v b="$wc_mibs" 'BEGIN{printf "%.2f", a/b}')
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "wc -l: ${wc_mibs} MiB/s wall, ${wc_cpu_mibs} MiB/s CPU; gctrace: ${gc_mibs} wall / ${gc_cpu_mibs} CPU MiB/s; ratio ${ratio} wall, ${ratio_cpu} CPU; load ${load}"

[[ ${1:-} == --no-write ]] && exit 0
{
  echo
  echo "## Goroutine dumps and gctrace logs (scripts/bench-logs.sh)"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load average ${load} (shared machine, so CPU-time throughput, summed over all the process's threads from /proc/self/task/*/schedstat, is given beside wall time); best of 5 (dump) / 3 (log) runs, input already in memory."
  echo
  echo "| input | size | parsed | wall | throughput (wall) | throughput (CPU time) | target |"
  echo "|---|---|---|---|---|---|---|"
  echo "| 100,000-goroutine dump ($GOVER runtime.Stack(all), 5 wait states, depth 1–24) | $(( $(field bytes "$dump_line") / 1048576 )) MiB | $(field goroutines "$dump_line") goroutines, $(field frames "$dump_line") frames | $(field best_s "$dump_line") s | **$(field mib_per_s "$dump_line") MiB/s** | $(field cpu_mib_per_s "$dump_line") MiB/s | ≥ 300 MiB/s |"
  echo "| gctrace log: corpus stderr logs repeated (~45% of lines are gctrace) | $(( log_bytes / 1048576 )) MiB | $(field cycles "$gc_line") cycles | $(field best_s "$gc_line") s | **${gc_mibs} MiB/s** = ${ratio} × \`wc -l\` (${wc_mibs} MiB/s) | ${gc_cpu_mibs} MiB/s = ${ratio_cpu} × \`wc -l\` (${wc_cpu_mibs} MiB/s) | ≥ 0.5 × wc -l |"
  echo "| gctrace log: one process, every line gctrace | $(( $(field bytes "$one_line") / 1048576 )) MiB | $(field cycles "$one_line") cycles | $(field best_s "$one_line") s | ${one_mibs} MiB/s = ${one_ratio} × \`wc -l\` (per byte, as above) | $(field cpu_mib_per_s "$one_line") MiB/s | |"
  echo
  echo "Commands: \`GORX_BENCH_DUMP=$DIR/dump100k.txt GORX_BENCH_LOG=$DIR/gctrace-1g.log cargo test --release -p gorx-formats --test goroutines_bench --test gctrace_bench -- --ignored --nocapture\` and \`wc -l $DIR/gctrace-1g.log\` (both generated by the script)."
} >> BENCHMARKS.md
echo "appended to BENCHMARKS.md"
