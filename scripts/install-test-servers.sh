#!/usr/bin/env bash
# Real Go servers from Debian that the live tests attach to (crates/gorx/tests/
# live_process.rs: `inspect` and `watch` must not go blind on prometheus and caddy, which
# serve no /debug/vars). The tests start their own instances on loopback ports; nothing is
# started here. Root only; a machine that already has them is left alone.
set -euo pipefail
missing=()
command -v prometheus >/dev/null || missing+=(prometheus)
command -v caddy >/dev/null || missing+=(caddy)
if (( ${#missing[@]} )); then
	apt-get update -qq
	# No init system in CI: policy-rc.d keeps the packages' services from starting.
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	rm -f /usr/sbin/policy-rc.d
fi
