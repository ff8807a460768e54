#!/usr/bin/env bash
# Run a local S3-compatible server (moto) on 127.0.0.1 for the snapshot tests.
#
#   hack/s3-server.sh PORT      install moto[server] if missing, then run it in the foreground
#   hack/s3-server.sh --install only install
#
# The tests (tests/integration/scrape_snapshots.rs) start this script, wait for the port, and fail with
# this script's output when the server does not come up. It binds 127.0.0.1 only.
set -euo pipefail

MOTO_SPEC="${NFLBET_MOTO_SPEC:-moto[server]>=5,<6}"

# Checked and run as a Python module, not through the `moto_server` script: a fresh pyenv (or a
# user site) does not always put newly installed scripts on PATH.
has_moto() { python3 -c 'import moto.server, flask' >/dev/null 2>&1; }

ensure_moto() {
  if has_moto; then
    return 0
  fi
  echo "s3-server: installing ${MOTO_SPEC} with pip" >&2
  python3 -m pip install --quiet "${MOTO_SPEC}" >&2
  has_moto || {
    echo "s3-server: python3 cannot import moto.server after installing ${MOTO_SPEC}" >&2
    exit 1
  }
}

case "${1:-}" in
  --install)
    ensure_moto
    ;;
  ''|-h|--help)
    echo "usage: $0 PORT | --install" >&2
    exit 2
    ;;
  *)
    port="$1"
    [[ "$port" =~ ^[0-9]+$ ]] || { echo "s3-server: PORT must be a number, got $port" >&2; exit 2; }
    ensure_moto
    exec python3 -m moto.server -H 127.0.0.1 -p "$port"
    ;;
esac
