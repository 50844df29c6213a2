#!/usr/bin/env bash
# Makes a pinned helm binary available and prints its path on stdout (progress goes to stderr).
# There is no prebuilt helm download here, so it is built once from source through the Go module
# proxy; later calls find the binary and return at once. Override the location with GEOBROKER_BIN.
set -euo pipefail

HELM_VERSION="v3.22.0"
BIN_DIR="${GEOBROKER_BIN:-$HOME/.cache/geobroker/bin}"
HELM="$BIN_DIR/helm"
STAMP="$BIN_DIR/.helm-version"

log() { echo "ensure-helm: $*" >&2; }

if [ -x "$HELM" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$HELM_VERSION" ]; then
  echo "$HELM"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  log "helm $HELM_VERSION is missing and there is no Go toolchain to build it; install Go >= 1.24 or put helm at $HELM"
  exit 1
fi

mkdir -p "$BIN_DIR"
log "building helm $HELM_VERSION into $BIN_DIR (first run only; this takes several minutes)"
start=$(date +%s)
# CGO off: a static binary that needs no C toolchain. -v lists packages as they compile: every 50th
# is shown as progress, the full log is kept for when the build fails.
build_log="$BIN_DIR/helm-build.log"
if ! CGO_ENABLED=0 GOBIN="$BIN_DIR" go install -v -trimpath "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" 2>&1 |
  tee "$build_log" |
  awk '{ n++; if (n % 50 == 0) { print "ensure-helm: compiled " n " packages, last: " $0; fflush() } }' >&2; then
  log "building helm failed; the last lines of $build_log:"
  tail -n 20 "$build_log" >&2
  exit 1
fi
if [ ! -x "$HELM" ]; then
  log "go install finished but $HELM is missing; see $build_log"
  exit 1
fi
echo "$HELM_VERSION" >"$STAMP"
log "built $("$HELM" version --short 2>/dev/null || echo helm) in $(($(date +%s) - start))s"
echo "$HELM"
