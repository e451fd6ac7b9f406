#!/usr/bin/env bash
# Trace reader benchmark: gorx (crates/gorx-trace, examples/trace_count) against a Go
# program reading every event with golang.org/x/exp/trace, on the same ≥200 MB trace,
# same machine, same run, alternating runs. Prints a Markdown table for BENCHMARKS.md.
#
#   crates/gorx-trace/bench/run.sh [GO_BINARY] [BUSY_MS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
go=${1:-$HOME/.cache/gorx/go/venv-1.27.3/bin/go}
busy_ms=${2:-20000}
work=${TMPDIR:-/tmp}/gorx-trace-bench
mkdir -p "$work"
export GOTOOLCHAIN=local
(cd "$here/busy" && "$go" build -o "$work/busy" .)
(cd "$here/goreader" && "$go" build -o "$work/goreader" .)
(cd "$root" && CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target} cargo build -q --release -p gorx-trace --example trace_count)
gorx=${CARGO_TARGET_DIR:-$root/target}/release/examples/trace_count
trace=$work/busy.trace
[ -s "$trace" ] || "$work/busy" "$busy_ms" > "$trace"
size=$(stat -c %s "$trace")
echo "trace: $trace ($size bytes), written by $("$go" env GOVERSION)"
echo
echo "| run | reader | wall s | user+sys CPU s | peak RSS MiB | MB/s (wall) | events/s (wall) |"
echo "|---|---|---|---|---|---|---|"
for i in 1 2 3; do
  for which in gorx go; do
    if [ $which = gorx ]; then cmd=("$gorx" "$trace"); else cmd=("$work/goreader" "$trace"); fi
    out=$(/usr/bin/time -f "TIME %e %U %S %M" "${cmd[@]}" 2>&1)
    read -r _ wall user sys rss <<<"$(grep '^TIME' <<<"$out")"
    events=$(grep -o 'events=[0-9]*' <<<"$out" | head -1 | cut -d= -f2)
    awk -v i=$i -v w=$which -v wall=$wall -v u=$user -v s=$sys -v rss=$rss -v sz=$size -v ev=$events \
      'BEGIN { printf "| %d | %s | %.2f | %.2f | %.0f | %.1f | %.0f |\n", i, w, wall, u+s, rss/1024, sz/1e6/wall, ev/wall }'
  done
done
