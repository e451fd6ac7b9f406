#!/usr/bin/env bash
# Rebuild the committed BPF objects from their C source, or (--check) rebuild them into a
# temporary directory and fail when a committed object differs from the fresh build.
#
# Needs clang and bpftool (Debian: apt-get install -y clang bpftool libbpf-dev) and a
# kernel with BTF (/sys/kernel/btf/vmlinux), from which vmlinux.h is generated (not
# committed: it is large and kernel-specific; CO-RE relocates field offsets at load time).
#
# The flags are deterministic (no debug paths, fixed -O2, no timestamps), so a rebuild
# with the same clang is byte-identical. Each object also has NAME.bpf.o.sha256 beside it:
# the SHA-256 of the C source it was built from, which the crate's tests check without
# clang (a source edited without rebuilding fails them).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
check=0
[[ "${1:-}" == "--check" ]] && check=1

for tool in clang bpftool sha256sum; do
	command -v "$tool" >/dev/null || { echo "build.sh: $tool not found (apt-get install -y clang bpftool libbpf-dev)" >&2; exit 2; }
done
[[ -r /sys/kernel/btf/vmlinux ]] || { echo "build.sh: /sys/kernel/btf/vmlinux missing: the kernel has no BTF" >&2; exit 2; }

gen="$(mktemp -d)"
trap 'rm -rf "$gen"' EXIT
out="$here"
if (( check )); then
	out="$gen/out"
	mkdir "$out"
fi
bpftool btf dump file /sys/kernel/btf/vmlinux format c > "$gen/vmlinux.h"

status=0
for src in "$here"/*.bpf.c; do
	name="$(basename "$src" .c)"
	# -g keeps BTF (needed by CO-RE and the loader); -fdebug-prefix-map and a fixed
	# working directory keep paths out of the object.
	(cd "$here" && clang -O2 -g -target bpf -D__TARGET_ARCH_x86 \
		-fdebug-prefix-map="$here"=. -fdebug-prefix-map="$gen"=. \
		-I"$gen" -c "$name.c" -o "$out/$name.o")
	# Debug line info is not needed at run time; strip DWARF but keep .BTF/.BTF.ext.
	llvm-strip -g "$out/$name.o" 2>/dev/null || llvm-strip-14 -g "$out/$name.o"
	if (( check )); then
		if ! cmp -s "$out/$name.o" "$here/$name.o"; then
			echo "build.sh: $name.o is stale: a fresh build differs; run crates/gorx-ebpf/bpf/build.sh and commit" >&2
			status=1
		fi
		want="$(sha256sum "$src" | cut -d' ' -f1)"
		if [[ "$(cat "$here/$name.o.sha256" 2>/dev/null)" != "$want" ]]; then
			echo "build.sh: $name.o.sha256 does not match $name.c" >&2
			status=1
		fi
	else
		sha256sum "$src" | cut -d' ' -f1 > "$here/$name.o.sha256"
		echo "built $name.o ($(stat -c %s "$here/$name.o") bytes)"
	fi
done
exit $status
