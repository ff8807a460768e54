#!/usr/bin/env bash
# `make test`: install what is missing, build, start the local control plane, run every test,
# and stop the control plane even when a test fails.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TESTENV=hack/testenv/testenv.sh

bash hack/install-deps.sh
bash "$TESTENV" build
# Compile first, so the control plane does not compete with rustc for the two cores.
cargo test --locked --no-run
bash "$TESTENV" up
trap 'bash "$ROOT/$TESTENV" down' EXIT

export PATH="$ROOT/bin/testenv:$PATH"
export NFLBET_TEST_KUBECONFIG="$ROOT/target/testenv/kubeconfig"
export NFLBET_SHARED_DIR="${NFLBET_SHARED_DIR:-$(cd "$ROOT/.." && pwd)/shared}"
# Integration tests mostly wait on the API server; run more of them than there are cores.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-6}"
cargo test --locked --no-fail-fast "$@"
