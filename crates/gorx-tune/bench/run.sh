#!/usr/bin/env bash
# The lab's load generator against wrk (Debian), same Go server, same connections, same
# run. wrk is closed loop: it measures the most the server answers. gorx is open loop: it
# is asked for a rate and must sustain it (achieved >= 95% of the target) with latency
# measured from each request's intended time; asked for more than the server can do, its
# backlog is the measurement, so it is stepped up through target rates instead.
# Usage: bench/run.sh [SECONDS] [CONNS]
set -euo pipefail
cd "$(dirname "$0")/../../.."
secs=${1:-10}
conns=${2:-64}
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null; }
cargo build -q --release -p gorx-tune --example loadgen
tmp=$(mktemp -d)
trap 'kill $srv 2>/dev/null || true; rm -rf "$tmp"' EXIT
(cd crates/gorx-tune/tests/target && go build -o "$tmp/target" .)
PORT=18777 "$tmp/target" -live-mib 0 -garbage-kib 0 & srv=$!
sleep 1
echo "server: tests/target (-garbage-kib 0), GOMAXPROCS default, same host"
for round in 1 2; do
  w=$(wrk -t2 -c"$conns" -d"${secs}s" http://127.0.0.1:18777/ | awk '/Requests\/sec/ {print $2}')
  echo "round $round: wrk (closed loop, max) ${w} req/s"
  for rate in 20000 40000 60000; do
    echo "  gorx at target $rate: $(target/release/examples/loadgen http://127.0.0.1:18777/ $rate "$conns" "$secs")"
  done
done
