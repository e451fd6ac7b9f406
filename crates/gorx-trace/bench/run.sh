#!/usr/bin/env bash
# Trace reader benchmark: gorx (crates/gorx-trace, examples/trace_count) against a Go
# program reading every event with golang.org/x/exp/trace, on the same ≥200 MB trace,
# same machine, same run, alternating runs. Prints a Markdown table for BENCHMARKS.md.
#
#   crates/gorx-trace/bench/run.sh [GO_BINARY] [BUSY_MS]
#
# EXPORT=1 also times `gorx trace export` on the same trace (builds the gorx binary),
# with `go tool trace -d=parsed` (text dump to /dev/null) as the anchor.
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

if [ "${EXPORT:-0}" = 1 ]; then
  (cd "$root" && CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target} cargo build -q --release -p gorx)
  gorxbin=${CARGO_TARGET_DIR:-$root/target}/release/gorx
  echo
  echo "| command | wall s | user+sys CPU s | peak RSS MiB | input MB/s (wall) | input MB/s (CPU) |"
  echo "|---|---|---|---|---|---|"
  for which in export dparsed; do
    if [ $which = export ]; then
      cmd=("$gorxbin" trace export -o "$work/busy.json" "$trace"); label="gorx trace export -o busy.json"
    else
      cmd=(sh -c "exec \"$go\" tool trace -d=parsed \"$trace\" > /dev/null"); label="go tool trace -d=parsed > /dev/null"
    fi
    out=$(/usr/bin/time -f "TIME %e %U %S %M" "${cmd[@]}" 2>&1 >/dev/null)
    read -r _ wall user sys rss <<<"$(grep '^TIME' <<<"$out" | tail -1)"
    awk -v l="$label" -v wall=$wall -v u=$user -v s=$sys -v rss=$rss -v sz=$size \
      'BEGIN { printf "| `%s` | %.2f | %.2f | %.0f | %.1f | %.1f |\n", l, wall, u+s, rss/1024, sz/1e6/wall, sz/1e6/(u+s) }'
  done
  [ -f "$work/busy.json" ] && echo "(export wrote $(stat -c %s "$work/busy.json") bytes of JSON)"
  rm -f "$work/busy.json"
fi
