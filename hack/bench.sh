#!/usr/bin/env bash
# `make bench`: every benchmark, in release mode. Benchmarks that need a cluster get the local
# control plane (started here, stopped on exit). Figures are printed, never asserted.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TESTENV=hack/testenv/testenv.sh
bash "$TESTENV" build
cargo bench --locked --no-run
bash "$TESTENV" up
trap 'bash "$ROOT/$TESTENV" down' EXIT
export PATH="$ROOT/bin/testenv:$PATH"
export NFLBET_TEST_KUBECONFIG="$ROOT/target/testenv/kubeconfig"
export NFLBET_SHARED_DIR="${NFLBET_SHARED_DIR:-$(cd "$ROOT/.." && pwd)/shared}"
cargo bench --locked "$@"
