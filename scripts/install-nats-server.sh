#!/usr/bin/env bash
# Installs the pinned nats-server into .tools/bin (for `npm run bench`), from the Go module proxy.
# Idempotent: does nothing when .tools/bin/nats-server already reports the pinned version.
# Needs Go (1.23 or newer). Usage: bash scripts/install-nats-server.sh
set -euo pipefail

version="v2.11.17"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$repo/.tools/bin"
server="$bin/nats-server"

if [ -x "$server" ] && "$server" --version 2>/dev/null | grep -q "${version#v}\$"; then
  echo "nats-server ${version} already installed at ${server}"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "install-nats-server: Go is needed (go install github.com/nats-io/nats-server/v2@${version})" >&2
  exit 1
fi
mkdir -p "$bin"
echo "installing nats-server ${version} into ${bin} (go install; takes a minute or two the first time)"
GOBIN="$bin" GOFLAGS="${GOFLAGS:-} -trimpath" go install "github.com/nats-io/nats-server/v2@${version}"
"$server" --version
