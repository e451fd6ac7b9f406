#!/usr/bin/env bash
# What `gorx probe`'s tests and crates/gorx-ebpf/bpf/build.sh need on a Debian machine:
# clang and bpftool rebuild the committed BPF objects (the staleness check), bpftool also
# counts BPF links in the probe tests, libbpf-dev provides bpf_helpers.h, bpftrace is the
# oracle of the probe's counts. Root only; a
# machine that already has them is left alone.
set -euo pipefail
missing=()
command -v clang >/dev/null || missing+=(clang)
command -v bpftool >/dev/null || missing+=(bpftool)
[[ -r /usr/include/bpf/bpf_helpers.h ]] || missing+=(libbpf-dev)
command -v bpftrace >/dev/null || missing+=(bpftrace)
# The symbolizer's oracle builds an externally linked cgo binary and strips a copy.
command -v gcc >/dev/null || missing+=(gcc)
command -v strip >/dev/null || missing+=(binutils)
command -v llvm-strip >/dev/null || command -v llvm-strip-14 >/dev/null || missing+=(llvm)
if (( ${#missing[@]} )); then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
