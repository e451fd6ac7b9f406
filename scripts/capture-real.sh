#!/usr/bin/env bash
# capture-real.sh — real Go servers from Debian as gorx's control group (issue 13, item 4).
#
# Installs (apt-get, only what is missing) and runs Debian's prometheus, etcd (etcd-server),
# caddy and prometheus-node-exporter — all built with Go 1.19 — on 127.0.0.1 with
# GODEBUG=gctrace=1 and stderr to a log, in a throwaway work directory under /tmp (nothing
# through systemd, nothing from /etc or /var/lib). It then writes capture bundles that
# `gorx analyze DIR` reads (the layout of crates/gorx-live/src/bundle.rs and the patient
# corpus) under testdata/real/<server>-<scenario>/:
#
#   startup    stderr.log only: the gctrace (and the server's own log) from start-up to 3 min
#   idle       no load of ours, captured after the 3-minute mark (prometheus still scrapes
#              itself every 5 s and node-exporter every 15 s, as Debian's default config does)
#   loaded     bounded wrk load on a real endpoint (rate-capped by a per-connection delay)
#              for 20 s; the capture runs during the load
#   keepalive  150 idle HTTP/1.1 keep-alive connections (scripts/real-keepalive.py) held open
#              for 70 s before the capture, and during it
#
# Each bundle: proc/{status,limits,smaps_rollup,fd.txt}, goroutine.debug{1,2}.txt,
# heap.debug1.txt, heap.pb.gz, allocs.pb.gz, block.pb.gz, mutex.pb.gz, cpu.pb.gz (5 s),
# metrics.txt (/metrics), vars.json (when /debug/vars is served), trace.out (2 s idle and
# keep-alive, 1 s loaded; dropped when over TRACE_MAX_BYTES), stderr.log (the log so far,
# cut at its last complete line), and MANIFEST.json (schema 1: server, Debian version, Go
# version, scenario, load, host CPU pressure, the files, what was not served and why, and
# "expected": the verdict tests hold it to). An endpoint a server does not serve is
# listed under "not_captured" with its HTTP status; nothing is edited by hand.
#
# Idempotent: every bundle is written to a hidden sibling directory and renamed over the
# old one. The "expected" block of an existing MANIFEST.json is carried over (it is a
# reviewed judgement), so re-check its justification numbers after a re-capture.
#
# Usage:  scripts/capture-real.sh [SERVER...]      (default: prometheus etcd caddy node-exporter)
# Env:    OUT=testdata/real   TRACE_MAX_BYTES=3000000   KEEP_WORK=1 (keep /tmp work dir)
#         STARTUP_SECONDS=180 LOAD_SECONDS=20 KEEPALIVE_HOLD_SECONDS=70 (shorter only for testing)
#
# Ports (loopback only): prometheus 19090; etcd client 12379, peer 12380; caddy site 18080,
# admin (pprof, /metrics, /debug/vars) 12019; node-exporter 19100. Takes about 8 minutes.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$ROOT/testdata/real}
TRACE_MAX_BYTES=${TRACE_MAX_BYTES:-3000000}
STARTUP_SECONDS=${STARTUP_SECONDS:-180}
LOAD_SECONDS=${LOAD_SECONDS:-20}
KEEPALIVE_CONNS=150
KEEPALIVE_HOLD_SECONDS=${KEEPALIVE_HOLD_SECONDS:-70}
ALL_SERVERS=(prometheus etcd caddy node-exporter)
if [ $# -gt 0 ]; then SERVERS=("$@"); else SERVERS=("${ALL_SERVERS[@]}"); fi

log() { printf '%s capture-real: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# --- packages --------------------------------------------------------------------------
declare -A PKG=([prometheus]=prometheus [etcd]=etcd-server [caddy]=caddy [node-exporter]=prometheus-node-exporter)
declare -A BIN=([prometheus]=/usr/bin/prometheus [etcd]=/usr/bin/etcd [caddy]=/usr/bin/caddy [node-exporter]=/usr/bin/prometheus-node-exporter)
missing=()
for p in prometheus etcd-server caddy prometheus-node-exporter wrk curl; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# python3 may come from elsewhere (pyenv); only ask apt for it when there is none at all.
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- work dir and cleanup --------------------------------------------------------------
WORK=$(mktemp -d /tmp/gorx-real.XXXXXX)
declare -A PID START HOLDER
cleanup() {
	local p
	for p in "${HOLDER[@]:-}" "${PID[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null || true
	done
	for p in "${HOLDER[@]:-}" "${PID[@]:-}"; do
		[ -n "$p" ] && wait "$p" 2>/dev/null || true
	done
	if [ "${KEEP_WORK:-}" = 1 ]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

mkdir -p "$WORK/www" "$WORK/xdg-data" "$WORK/xdg-config"
# A small static site for caddy's file_server (an index page and a 16 KiB asset).
printf '<!doctype html><title>gorx control group</title><p>hello from caddy</p>\n' >"$WORK/www/index.html"
head -c 16384 /dev/zero | tr '\0' 'x' >"$WORK/www/asset.txt"

cat >"$WORK/Caddyfile" <<EOF
{
	admin 127.0.0.1:12019
	auto_https off
}
http://127.0.0.1:18080 {
	root * $WORK/www
	file_server
}
EOF

# Debian's default prometheus.yml, on our ports and without the absent alertmanager.
cat >"$WORK/prometheus.yml" <<'EOF'
global:
  scrape_interval: 15s
  evaluation_interval: 15s
scrape_configs:
  - job_name: prometheus
    scrape_interval: 5s
    scrape_timeout: 5s
    static_configs:
      - targets: ['127.0.0.1:19090']
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:19100']
EOF

# wrk scripts: delay() caps each connection's rate, so the load is bounded.
cat >"$WORK/caddy.lua" <<'EOF'
local n = 0
request = function()
  n = n + 1
  if n % 4 == 0 then return wrk.format("GET", "/asset.txt") end
  return wrk.format("GET", "/index.html")
end
delay = function() return 5 end
EOF
cat >"$WORK/prometheus.lua" <<'EOF'
local n = 0
request = function()
  n = n + 1
  local now = os.time()
  if n % 2 == 0 then
    return wrk.format("GET", "/api/v1/query_range?query=rate(prometheus_http_requests_total%5B1m%5D)&start="
      .. (now - 300) .. "&end=" .. now .. "&step=15")
  end
  return wrk.format("GET", "/api/v1/query?query=sum%20by%20(job)%20(rate(scrape_duration_seconds%5B1m%5D))")
end
delay = function() return 20 end
EOF
# etcd: 9 ranges for each put over ten keys (base64 "key0".."key9"), through the v3 JSON gateway.
cat >"$WORK/etcd.lua" <<'EOF'
local keys = {"a2V5MA==","a2V5MQ==","a2V5Mg==","a2V5Mw==","a2V5NA==","a2V5NQ==","a2V5Ng==","a2V5Nw==","a2V5OA==","a2V5OQ=="}
local n = 0
local hdr = {["Content-Type"] = "application/json"}
request = function()
  n = n + 1
  local k = keys[(n % 10) + 1]
  if n % 10 == 0 then
    return wrk.format("POST", "/v3/kv/put", hdr, '{"key":"' .. k .. '","value":"dmFsdWUtdmFsdWUtdmFsdWU="}')
  end
  return wrk.format("POST", "/v3/kv/range", hdr, '{"key":"' .. k .. '"}')
end
delay = function() return 5 end
EOF
cat >"$WORK/node-exporter.lua" <<'EOF'
delay = function() return 200 end
EOF

# Per server: where pprof//metrics//debug/vars live, the load, the keep-alive target.
declare -A DEBUG_BASE=([prometheus]=http://127.0.0.1:19090 [etcd]=http://127.0.0.1:12379 [caddy]=http://127.0.0.1:12019 [node-exporter]=http://127.0.0.1:19100)
declare -A LOAD_URL=([prometheus]=http://127.0.0.1:19090 [etcd]=http://127.0.0.1:12379 [caddy]=http://127.0.0.1:18080 [node-exporter]=http://127.0.0.1:19100/metrics)
declare -A LOAD_CONNS=([prometheus]=2 [etcd]=4 [caddy]=4 [node-exporter]=2)
declare -A LOAD_DESC=(
	[prometheus]="wrk -t1 -c2 for ${LOAD_SECONDS}s, 20 ms delay per connection: alternating /api/v1/query (sum by job of rate(scrape_duration_seconds[1m])) and /api/v1/query_range (rate(prometheus_http_requests_total[1m]) over 5 min, step 15 s)"
	[etcd]="wrk -t1 -c4 for ${LOAD_SECONDS}s, 5 ms delay per connection: v3 JSON gateway, 9 POST /v3/kv/range for each POST /v3/kv/put over 10 keys"
	[caddy]="wrk -t1 -c4 for ${LOAD_SECONDS}s, 5 ms delay per connection: file_server GET /index.html (3 of 4) and /asset.txt (16 KiB, 1 of 4)"
	[node-exporter]="wrk -t1 -c2 for ${LOAD_SECONDS}s, 200 ms delay per connection: GET /metrics (a full scrape of all default collectors)"
)
declare -A KEEPALIVE_PORT=([prometheus]=19090 [etcd]=12379 [caddy]=18080 [node-exporter]=19100)
declare -A KEEPALIVE_PATH=([prometheus]=/-/healthy [etcd]=/health [caddy]=/index.html [node-exporter]=/)
BACKGROUND_NOTE="prometheus scrapes itself every 5 s and node-exporter every 15 s (Debian's default scrape config)"

start_server() {
	local s=$1 errlog="$WORK/$1.stderr.log"
	case $s in
	prometheus)
		GODEBUG=gctrace=1 "${BIN[$s]}" --config.file="$WORK/prometheus.yml" \
			--storage.tsdb.path="$WORK/prometheus-data" --web.listen-address=127.0.0.1:19090 \
			--web.console.templates=/etc/prometheus/consoles \
			--web.console.libraries=/etc/prometheus/console_libraries \
			>"$WORK/$s.stdout.log" 2>"$errlog" &
		;;
	etcd)
		GODEBUG=gctrace=1 "${BIN[$s]}" --name real --data-dir "$WORK/etcd-data" \
			--listen-client-urls http://127.0.0.1:12379 --advertise-client-urls http://127.0.0.1:12379 \
			--listen-peer-urls http://127.0.0.1:12380 --initial-advertise-peer-urls http://127.0.0.1:12380 \
			--initial-cluster real=http://127.0.0.1:12380 --enable-pprof --logger zap --log-outputs stderr \
			>"$WORK/$s.stdout.log" 2>"$errlog" &
		;;
	caddy)
		GODEBUG=gctrace=1 XDG_DATA_HOME="$WORK/xdg-data" XDG_CONFIG_HOME="$WORK/xdg-config" \
			"${BIN[$s]}" run --config "$WORK/Caddyfile" --adapter caddyfile \
			>"$WORK/$s.stdout.log" 2>"$errlog" &
		;;
	node-exporter)
		GODEBUG=gctrace=1 "${BIN[$s]}" --web.listen-address=127.0.0.1:19100 \
			>"$WORK/$s.stdout.log" 2>"$errlog" &
		;;
	*) log "unknown server $s"; exit 2 ;;
	esac
	PID[$s]=$!
	START[$s]=$(date +%s.%N)
	log "started $s pid ${PID[$s]}"
}

wait_ready() {
	local s=$1 i
	for i in $(seq 1 60); do
		if curl -sf -o /dev/null --max-time 2 "${DEBUG_BASE[$s]}/metrics"; then return 0; fi
		kill -0 "${PID[$s]}" 2>/dev/null || { log "$s exited; its log:"; tail -20 "$WORK/$s.stderr.log" >&2; exit 1; }
		sleep 1
	done
	log "$s not ready after 60 s"
	exit 1
}

# copy_log SRC DST: the log so far, up to its last complete line.
copy_log() {
	python3 - "$1" "$2" <<'EOF'
import sys
data = open(sys.argv[1], "rb").read()
cut = data.rfind(b"\n") + 1
open(sys.argv[2], "wb").write(data[:cut])
EOF
}

# fetch BUNDLE URL FILE TIMEOUT: a 200 with a body is kept; otherwise noted as not captured.
fetch() {
	local b=$1 url=$2 file=$3 t=$4 code
	code=$(curl -s -o "$b/$file.tmp" -w '%{http_code}' --max-time "$t" "$url" || true)
	if [ "$code" = 200 ] && [ -s "$b/$file.tmp" ]; then
		mv "$b/$file.tmp" "$b/$file"
	else
		rm -f "$b/$file.tmp"
		printf '%s\t%s\n' "$file" "GET ${url#http://127.0.0.1} gave HTTP ${code:-none}" >>"$b/.not_captured"
	fi
}

snapshot_proc() {
	local b=$1 pid=$2 f fd t
	for f in status limits smaps_rollup; do cp "/proc/$pid/$f" "$b/proc/$f"; done
	# The corpus's format (scripts/regen-corpus.py): "N -> target", an fd closed while
	# listing is left out.
	for fd in $(ls "/proc/$pid/fd" | sort -n); do
		t=$(readlink "/proc/$pid/fd/$fd" 2>/dev/null) || continue
		[ -n "$t" ] && printf '%s -> %s\n' "$fd" "$t"
	done >"$b/proc/fd.txt"
}

# write_manifest BUNDLE SERVER SCENARIO LOAD_DESCRIPTION
write_manifest() {
	local b=$1 s=$2 sc=$3 load=$4 version go_version
	version=$(dpkg-query -W -f '${Version}' "${PKG[$s]}")
	go_version=$(go version "${BIN[$s]}" 2>/dev/null | awk '{print $2}' || true)
	[ -n "$go_version" ] || go_version=$(grep -ho 'go_info{version="[^"]*"' "$OUT"/"$s"-*/metrics.txt 2>/dev/null | head -1 | sed 's/.*="//; s/"//')
	B="$b" SERVER="$s" SCENARIO="$sc" LOAD="$load" VERSION="$version" GO_VERSION="$go_version" \
		OLD="$OUT/$s-$sc/MANIFEST.json" UPTIME="$(awk -v a="$(date +%s.%N)" -v b="${START[$s]}" 'BEGIN{print a - b}')" \
		DEBUG_BASE="${DEBUG_BASE[$s]}" PIDV="${PID[$s]}" python3 - <<'EOF'
import json, os, datetime
b = os.environ["B"]
files = []
for root, _dirs, names in os.walk(b):
    for n in names:
        if n.startswith("."):
            continue
        files.append(os.path.relpath(os.path.join(root, n), b))
files = sorted(files + ["MANIFEST.json"])
not_captured = {}
nc = os.path.join(b, ".not_captured")
if os.path.exists(nc):
    for line in open(nc):
        k, _, v = line.rstrip("\n").partition("\t")
        not_captured[k] = v
    os.remove(nc)
expected = {"max_severity": "info", "exceptions": []}
if os.path.exists(os.environ["OLD"]):
    try:
        expected = json.load(open(os.environ["OLD"]))["expected"]
    except (ValueError, KeyError):
        pass
def read(p):
    try:
        return open(p).read().strip()
    except OSError:
        return None
m = {
    "schema": 1,
    "server": os.environ["SERVER"],
    "version": os.environ["VERSION"],
    "go_version": os.environ["GO_VERSION"],
    "scenario": os.environ["SCENARIO"],
    "captured_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "uptime_seconds": round(float(os.environ["UPTIME"]), 1),
    "pid": int(os.environ["PIDV"]),
    "debug_endpoint": os.environ["DEBUG_BASE"],
    "env": {"GODEBUG": "gctrace=1"},
    "load": os.environ["LOAD"],
    "host": {
        "cpus": os.cpu_count(),
        "loadavg": read("/proc/loadavg"),
        "pressure_cpu": read("/proc/pressure/cpu"),
        "note": "a shared 2-CPU build host; other jobs were compiling during the capture",
    },
    "expected": expected,
    "files": files,
    "not_captured": not_captured,
}
json.dump(m, open(os.path.join(b, "MANIFEST.json"), "w"), indent=2)
open(os.path.join(b, "MANIFEST.json"), "a").write("\n")
EOF
}

# begin_bundle SERVER SCENARIO -> prints the temporary directory
begin_bundle() {
	local tmp="$OUT/.$1-$2.partial"
	rm -rf "$tmp"
	mkdir -p "$tmp/proc"
	echo "$tmp"
}

finish_bundle() {
	local tmp=$1 s=$2 sc=$3
	rm -rf "$OUT/$s-$sc"
	mv "$tmp" "$OUT/$s-$sc"
	log "wrote $OUT/$s-$sc ($(du -sh "$OUT/$s-$sc" | cut -f1))"
}

# capture SERVER SCENARIO TRACE_SECONDS LOAD_DESCRIPTION
capture() {
	local s=$1 sc=$2 trace_s=$3 load=$4 b base size
	b=$(begin_bundle "$s" "$sc")
	base=${DEBUG_BASE[$s]}
	log "capturing $s-$sc"
	snapshot_proc "$b" "${PID[$s]}"
	fetch "$b" "$base/debug/pprof/goroutine?debug=2" goroutine.debug2.txt 20
	fetch "$b" "$base/debug/pprof/goroutine?debug=1" goroutine.debug1.txt 20
	fetch "$b" "$base/debug/pprof/heap?debug=1" heap.debug1.txt 20
	fetch "$b" "$base/debug/pprof/heap" heap.pb.gz 20
	fetch "$b" "$base/debug/pprof/allocs" allocs.pb.gz 20
	fetch "$b" "$base/debug/pprof/block" block.pb.gz 20
	fetch "$b" "$base/debug/pprof/mutex" mutex.pb.gz 20
	fetch "$b" "$base/metrics" metrics.txt 20
	fetch "$b" "$base/debug/vars" vars.json 20
	fetch "$b" "$base/debug/pprof/profile?seconds=5" cpu.pb.gz 30
	fetch "$b" "$base/debug/pprof/trace?seconds=$trace_s" trace.out 30
	if [ -f "$b/trace.out" ]; then
		size=$(stat -c %s "$b/trace.out")
		if [ "$size" -gt "$TRACE_MAX_BYTES" ]; then
			rm -f "$b/trace.out"
			printf 'trace.out\t%s-second trace was %s bytes, over TRACE_MAX_BYTES=%s; dropped\n' \
				"$trace_s" "$size" "$TRACE_MAX_BYTES" >>"$b/.not_captured"
		fi
	fi
	copy_log "$WORK/$s.stderr.log" "$b/stderr.log"
	write_manifest "$b" "$s" "$sc" "$load"
	finish_bundle "$b" "$s" "$sc"
}

mkdir -p "$OUT"

# --- start ----------------------------------------------------------------------------
# node-exporter first so prometheus's first scrape finds it.
for s in node-exporter etcd caddy prometheus; do
	[[ " ${SERVERS[*]} " == *" $s "* ]] && start_server "$s"
done
for s in "${SERVERS[@]}"; do wait_ready "$s"; done
log "all ready; start-up logs are copied at ${STARTUP_SECONDS}s"

# --- startup: the log from start to 3 minutes ------------------------------------------
for s in "${SERVERS[@]}"; do
	now=$(date +%s.%N)
	left=$(awk -v st="${START[$s]}" -v d="$STARTUP_SECONDS" -v n="$now" 'BEGIN{l = st + d - n; print (l > 0 ? l : 0)}')
	sleep "$left"
	b=$(begin_bundle "$s" startup)
	rmdir "$b/proc"
	copy_log "$WORK/$s.stderr.log" "$b/stderr.log"
	write_manifest "$b" "$s" startup "none of ours: the log from process start to ${STARTUP_SECONDS} s; $BACKGROUND_NOTE"
	finish_bundle "$b" "$s" startup
done

# --- idle -----------------------------------------------------------------------------
for s in "${SERVERS[@]}"; do
	capture "$s" idle 2 "none of ours; $BACKGROUND_NOTE"
done

# --- loaded ---------------------------------------------------------------------------
for s in "${SERVERS[@]}"; do
	log "loading $s: ${LOAD_DESC[$s]}"
	wrk -t1 -c"${LOAD_CONNS[$s]}" -d"${LOAD_SECONDS}s" -s "$WORK/$s.lua" "${LOAD_URL[$s]}" >"$WORK/wrk-$s.txt" 2>&1 &
	wrk_pid=$!
	sleep 4
	capture "$s" loaded 1 "${LOAD_DESC[$s]} (capture started 4 s into the load); $BACKGROUND_NOTE"
	wait "$wrk_pid" || true
	rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk-$s.txt")
	errs=$(grep -E 'Non-2xx|Socket errors' "$WORK/wrk-$s.txt" | tr '\n' ' ' || true)
	python3 - "$OUT/$s-loaded/MANIFEST.json" "${rps:-?}" "$errs" <<'EOF'
import json, sys
p, rps, errs = sys.argv[1], sys.argv[2], sys.argv[3].strip()
m = json.load(open(p))
m["load"] += f"; wrk measured {rps} requests/s" + (f" ({errs})" if errs else "")
json.dump(m, open(p, "w"), indent=2)
open(p, "a").write("\n")
EOF
	log "$s load done: $rps req/s $errs"
	sleep 3
done

# --- keepalive ------------------------------------------------------------------------
for s in "${SERVERS[@]}"; do
	python3 "$ROOT/scripts/real-keepalive.py" 127.0.0.1 "${KEEPALIVE_PORT[$s]}" "${KEEPALIVE_PATH[$s]}" \
		"$KEEPALIVE_CONNS" 900 >"$WORK/keepalive-$s.txt" 2>&1 &
	HOLDER[$s]=$!
done
for s in "${SERVERS[@]}"; do
	for _ in $(seq 1 60); do grep -q ready "$WORK/keepalive-$s.txt" && break; sleep 1; done
	grep -q ready "$WORK/keepalive-$s.txt" || { log "keep-alive holder for $s failed:"; cat "$WORK/keepalive-$s.txt" >&2; exit 1; }
	log "$s: $(cat "$WORK/keepalive-$s.txt")"
done
log "holding $KEEPALIVE_CONNS idle keep-alive connections per server for ${KEEPALIVE_HOLD_SECONDS}s"
sleep "$KEEPALIVE_HOLD_SECONDS"
for s in "${SERVERS[@]}"; do
	capture "$s" keepalive 2 "$KEEPALIVE_CONNS idle HTTP/1.1 keep-alive connections to 127.0.0.1:${KEEPALIVE_PORT[$s]} (one GET ${KEEPALIVE_PATH[$s]} each, answered, then silent) held open for at least ${KEEPALIVE_HOLD_SECONDS} s before and during the capture; $BACKGROUND_NOTE"
	kill "${HOLDER[$s]}" 2>/dev/null || true
	wait "${HOLDER[$s]}" 2>/dev/null || true
	unset "HOLDER[$s]"
done

log "done: $(du -sh "$OUT" | cut -f1) in $OUT"
