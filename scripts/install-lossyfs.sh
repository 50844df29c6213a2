#!/usr/bin/env bash
# Builds lossyfs (tools/lossyfs, a FUSE file system that loses unsynced writes and injects ENOSPC and
# EIO on command) into .tools/bin, for the chaos suite's power-loss, disk-full and disk-eio nemeses.
# Idempotent: does nothing when the binary is newer than its sources. Needs Go (1.23 or newer); its
# one dependency, github.com/hanwen/go-fuse/v2, comes from the Go module proxy (pinned in go.sum).
# Usage: bash scripts/install-lossyfs.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$repo/tools/lossyfs"
bin="$repo/.tools/bin"
out="$bin/lossyfs"

if [ -x "$out" ] && [ -z "$(find "$src" -newer "$out" -type f)" ]; then
  echo "lossyfs already built at ${out}"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "install-lossyfs: Go is needed to build tools/lossyfs (go build)" >&2
  exit 1
fi
mkdir -p "$bin"
echo "building lossyfs into ${bin} (go build; fetches go-fuse from the Go module proxy the first time)"
# Its undo journal's tests first (no mount needed): a lossyfs that restores the wrong bytes would
# make every power-loss verdict meaningless.
(cd "$src" && GOFLAGS="${GOFLAGS:-} -mod=readonly" go test ./... >/dev/null)
(cd "$src" && GOFLAGS="${GOFLAGS:-} -trimpath -mod=readonly" go build -o "$out" .)
echo "lossyfs built at ${out}"
