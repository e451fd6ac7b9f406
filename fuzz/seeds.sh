#!/usr/bin/env bash
# Build the seed corpus of one fuzz target in fuzz/seeds/TARGET from the repository's
# real artifacts (testdata/, the regression corpora) and, for trace_reader, Go's own
# FuzzReader corpus. Seeds are read-only inputs for libFuzzer; what it discovers goes
# to fuzz/corpus/TARGET. Both directories are gitignored.
set -euo pipefail
target=$1
fuzz=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$fuzz")
out=$fuzz/seeds/$target
rm -rf "$out"
mkdir -p "$out"
art=$root/testdata/artifacts
reg=$root/crates/gorx-formats/tests/regress
# Large seeds make every execution slow; libFuzzer mutates prefixes well enough.
max_seed_bytes=131072

add() { # add FILE...: copy each file, truncated, under a unique name
    local f
    for f in "$@"; do
        [ -f "$f" ] || continue
        head -c "$max_seed_bytes" "$f" >"$out/$(echo "${f#"$root"/}" | tr '/' '_')"
    done
}

add_gunzipped() { # the raw protobuf inside each .pb.gz: mutating gzip mostly hits its CRC
    local f
    for f in "$@"; do
        gunzip -c "$f" 2>/dev/null | head -c "$max_seed_bytes" \
            >"$out/$(echo "${f#"$root"/}" | tr '/' '_').raw" || true
    done
}

go_fuzz_corpus() { # decode Go's `go test fuzz v1` files ([]byte("...") literals)
    local go dir
    for go in "${GO:-}" /root/.cache/gorx/go/venv-1.27.3/bin/go go; do
        [ -n "$go" ] && command -v "$go" >/dev/null 2>&1 && break
    done
    dir=$("$go" env GOROOT 2>/dev/null)/src/internal/trace/testdata/fuzz/FuzzReader || return 0
    [ -d "$dir" ] || { echo "seeds.sh: no Go FuzzReader corpus (Go >= 1.22 not found)" >&2; return 0; }
    python3 - "$dir" "$out" <<'PY'
import os, re, sys
src, out = sys.argv[1], sys.argv[2]
def unquote(s):
    # Go's strconv.Quote escapes; anything else is literal UTF-8.
    b, i = bytearray(), 0
    simple = {'a': 7, 'b': 8, 'f': 12, 'n': 10, 'r': 13, 't': 9, 'v': 11, '\\': 92, '"': 34, "'": 39}
    while i < len(s):
        c = s[i]
        if c != '\\':
            b += c.encode(); i += 1; continue
        e = s[i + 1]
        if e in simple: b.append(simple[e]); i += 2
        elif e == 'x': b.append(int(s[i + 2:i + 4], 16)); i += 4
        elif e == 'u': b += chr(int(s[i + 2:i + 6], 16)).encode(); i += 6
        elif e == 'U': b += chr(int(s[i + 2:i + 10], 16)).encode(); i += 10
        else: b.append(int(s[i + 1:i + 4], 8)); i += 4
    return bytes(b)
for name in sorted(os.listdir(src)):
    lines = open(os.path.join(src, name), encoding='utf-8').read().splitlines()
    m = re.fullmatch(r'\[\]byte\("(.*)"\)', lines[1].strip()) if len(lines) > 1 else None
    if m:
        open(os.path.join(out, 'go-FuzzReader-' + name), 'wb').write(unquote(m.group(1)))
PY
}

shopt -s nullglob
case $target in
trace_reader | trace_analysis)
    add "$art"/*/*/trace.out
    go_fuzz_corpus
    ;;
pprof_proto)
    add "$art"/*/*/*.pb.gz "$reg"/pprof/*.pb.gz
    add_gunzipped "$art"/*/*/*.pb.gz
    ;;
pprof_legacy)
    add "$art"/*/*/*.debug1.txt "$reg"/pprof/*.txt
    ;;
goroutine_dump)
    add "$art"/*/*/goroutine.debug2.txt "$root"/testdata/samples/dumps/* "$reg"/dumps/*
    ;;
runtime_logs)
    add "$art"/*/*/stderr.log "$root"/testdata/samples/logs/* "$reg"/logs/*.log
    ;;
expvar_prometheus)
    add "$art"/*/*/vars.json "$root"/testdata/samples/metrics/* "$reg"/logs/vars.json "$reg"/logs/metrics.prom
    ;;
procfs_cgroup)
    add "$art"/*/*/proc/*
    # This machine's own /proc and cgroup files: real kernel output in every form.
    for f in status limits smaps_rollup smaps stat cgroup mountinfo net/tcp net/tcp6; do
        head -c "$max_seed_bytes" "/proc/self/$f" >"$out/proc-self-${f//\//-}" 2>/dev/null || true
    done
    for f in /sys/fs/cgroup/{memory.max,memory.high,memory.current,memory.stat,memory.events,cpu.max,cpu.stat} \
        /sys/fs/cgroup/memory/{memory.limit_in_bytes,memory.usage_in_bytes,memory.stat,memory.oom_control} \
        /sys/fs/cgroup/cpu/{cpu.cfs_quota_us,cpu.cfs_period_us,cpu.stat} /sys/devices/system/cpu/online; do
        [ -r "$f" ] && head -c "$max_seed_bytes" "$f" >"$out/sys-$(echo "${f#/sys/}" | tr '/' '-')" 2>/dev/null || true
    done
    printf 'max\n' >"$out/cg-max"
    printf '200000 100000\n' >"$out/cg-cpu.max"
    printf 'nr_periods 10\nnr_throttled 3\nthrottled_usec 5000\n' >"$out/cg-cpu.stat"
    printf 'low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n' >"$out/cg-memory.events"
    printf '0-3,8-11\n' >"$out/cpu-online"
    printf 'GOMEMLIMIT=512MiB\0GOMAXPROCS=4\0GODEBUG=containermaxprocs=0,madvdontneed=1\0' >"$out/environ"
    ;;
analyze)
    for v in 1.19 1.27; do
        for p in "$art/$v"/*/; do
            add "$p"trace.out "$p"stderr.log "$p"heap.debug1.txt "$p"mutex.debug1.txt \
                "$p"goroutine.debug2.txt "$p"vars.json "$p"heap.pb.gz "$p"cpu.pb.gz "$p"proc/*
        done
    done
    add "$root"/testdata/samples/metrics/*
    # One bundle with every /proc file and MemStats, separated as fuzz_targets/analyze.rs splits.
    for p in "$art"/1.27/fd-leak "$art"/1.27/offheap; do
        [ -d "$p/proc" ] || continue
        first=1
        for f in "$p"/proc/status "$p"/proc/limits "$p"/proc/smaps_rollup "$p"/vars.json; do
            [ -f "$f" ] || continue
            [ $first = 1 ] || printf '\n--gorx-artifact--\n'
            cat "$f"
            first=0
        done >"$out/bundle-$(basename "$p")"
    done
    ;;
gopclntab)
    # The .gopclntab sections of the Go binaries at hand (the go command, Debian's servers).
    for b in "$(go env GOROOT 2>/dev/null)/bin/go" /usr/bin/etcd /usr/bin/prometheus; do
        [ -f "$b" ] || continue
        objcopy -O binary --only-section=.gopclntab "$b" "$out/tmp" 2>/dev/null || continue
        head -c "$max_seed_bytes" "$out/tmp" >"$out/$(basename "$b").gopclntab"
        rm -f "$out/tmp"
    done
    # A whole small table (Go 1.20 layout, three functions, pc-value tables), so that
    # mutations reach the function table and the pc-value decoder.
    python3 - "$out/small.gopclntab" <<'PY'
import struct, sys
names = b"main.a\0main.b\0runtime.c\0"
pctab = b"\0" + bytes([2, 8, 1, 8, 0])  # offset 0 means "no table"; then (+1 @8), (-1 @16)
hdr_end = 8 + 8 * 8
fn_off = hdr_end
pc_off = fn_off + len(names)
ln_off = pc_off + len(pctab)
d = bytearray(b"\xf1\xff\xff\xff\0\0\x01\x08")
d += struct.pack("<8Q", 3, 1, 0x401000, fn_off, fn_off, fn_off, pc_off, ln_off)
d += names + pctab
ft = 4 * 8
recs = []
for i, (entry, name) in enumerate([(0, 0), (0x20, 7), (0x40, 14)]):
    recs.append(struct.pack("<IiiIIIIIIiBBBB", entry, name, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 4)
                + struct.pack("<3I", 0, 0, 1) + struct.pack("<4I", 0, 0, 0, 0))
offs, o = [], ft
for r in recs:
    offs.append(o)
    o += len(r)
for (entry, _), off in zip([(0, 0), (0x20, 7), (0x40, 14)], offs):
    d += struct.pack("<II", entry, off)
d += struct.pack("<II", 0x60, 0)
for r in recs:
    d += r
open(sys.argv[1], "wb").write(d)
PY
    ;;
*)
    echo "seeds.sh: unknown target $target" >&2
    exit 2
    ;;
esac
echo "seeds.sh: $(ls "$out" | wc -l) seeds in $out" >&2
