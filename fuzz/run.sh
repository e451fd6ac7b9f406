#!/usr/bin/env bash
# Coverage-guided fuzzing of one gorx parser target on stable Rust:
#   fuzz/run.sh TARGET SECONDS [extra libFuzzer flags]
# cargo-fuzz with `-s none` needs no nightly: no sanitizer, but SanitizerCoverage
# (inline 8-bit counters, comparison tracing) is a stable -C flag, so libFuzzer is still
# coverage guided; debug assertions and overflow checks are on. Installs what it needs.
set -euo pipefail
target=${1:?usage: fuzz/run.sh TARGET SECONDS [libFuzzer flags]}
seconds=${2:?usage: fuzz/run.sh TARGET SECONDS [libFuzzer flags]}
shift 2
fuzz=$(cd "$(dirname "$0")" && pwd)
cd "$fuzz"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --version 0.13.2
fi
# libfuzzer-sys compiles libFuzzer (C++) with the cc crate.
if ! command -v c++ >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update && apt-get install -y g++
    else
        sudo apt-get update && sudo apt-get install -y g++
    fi
fi

./seeds.sh "$target"
mkdir -p "corpus/$target" "artifacts/$target"
# Traces and whole-bundle inputs need room for a few batches; text parsers do not.
case $target in
trace_reader | trace_analysis | analyze) max_len=131072 ;;
*) max_len=65536 ;;
esac
# New coverage goes to corpus/TARGET (first dir); seeds/TARGET is read only.
# -timeout: a slow input (quadratic parsing) fails like a crash. -rss_limit_mb: so
# does allocating what a header merely claims. -print_final_stats: execs and time.
exec cargo fuzz run -s none "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
    -print_final_stats=1 "$@"
