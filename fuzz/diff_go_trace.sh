#!/usr/bin/env bash
# Differential check of fuzzer-made traces against Go's reader (the oracle):
#   fuzz/diff_go_trace.sh GORX_BIN GO_BIN DIR...
# For every file, `gorx trace dump` must print exactly what `go tool trace -d=parsed`
# prints and succeed or fail alike (as crates/gorx/tests/trace_dump.rs checks for real
# traces). Prints each mismatch; exits 1 if any.
set -uo pipefail
gorx=$1 go=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 bad=0
for dir in "$@"; do
    for f in "$dir"/*; do
        [ -f "$f" ] || continue
        n=$((n + 1))
        [ $((n % 100)) = 0 ] && echo "$n compared" >&2
        timeout 60 "$go" tool trace -d=parsed "$f" >"$tmp/want" 2>"$tmp/want.err"
        want=$?
        timeout 60 "$gorx" trace dump "$f" >"$tmp/got" 2>"$tmp/got.err"
        got=$?
        if ! cmp -s "$tmp/want" "$tmp/got" || [ $((want == 0)) != $((got == 0)) ]; then
            bad=$((bad + 1))
            echo "MISMATCH $f: go exit $want, gorx exit $got"
            echo "  go:   $(tail -c 300 "$tmp/want.err" | tr '\n' ' ')"
            echo "  gorx: $(tail -c 300 "$tmp/got.err" | tr '\n' ' ')"
            cmp "$tmp/want" "$tmp/got" | head -1 | sed 's/^/  /'
        fi
    done
done
echo "$n traces compared, $bad mismatches"
[ $bad = 0 ]
