#!/usr/bin/env bash
# The lab's load generator against wrk (Debian), same Go server, same connections, same
# run: maximum throughput on loopback (both saturate; the rate asked of gorx is far above
# what 2 cores serve). Prints both and the ratio. Usage: bench/run.sh [SECONDS] [CONNS]
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
  g=$(target/release/examples/loadgen http://127.0.0.1:18777/ 1000000 "$conns" "$secs" | awk '{print $2}')
  echo "round $round: wrk ${w} req/s, gorx ${g} req/s, ratio $(python3 -c "print(f'{$g/$w:.2f}')")"
done
