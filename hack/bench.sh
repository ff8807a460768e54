#!/usr/bin/env bash
# `make bench`: every benchmark, in release mode. Benchmarks that need a cluster get the local
# control plane (started here, stopped on exit). Figures are printed, never asserted.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TESTENV=hack/testenv/testenv.sh
# A control plane of its own, so `make bench` never stops the one `make test` uses (TESTENV_DIR
# chooses another; each agent or user sharing a machine needs their own).
export TESTENV_DIR="${TESTENV_DIR:-$ROOT/target/bench-env}"
bash "$TESTENV" build
cargo bench --locked --no-run
bash "$TESTENV" up
trap 'bash "$ROOT/$TESTENV" down' EXIT
export PATH="$ROOT/bin/testenv:$PATH"
export NFLBET_TEST_KUBECONFIG="$TESTENV_DIR/kubeconfig"
NFLBET_SHARED_DIR=$(bash "$ROOT/hack/shared-data.sh")
export NFLBET_SHARED_DIR
# The operator benchmark needs the CRDs (ours and prometheus-operator's).
kubectl --kubeconfig "$NFLBET_TEST_KUBECONFIG" apply --server-side --force-conflicts -f crds/ >/dev/null
kubectl --kubeconfig "$NFLBET_TEST_KUBECONFIG" apply --server-side --force-conflicts \
  -f "$NFLBET_SHARED_DIR/third_party/prometheus-operator-crds/" >/dev/null
bash "$TESTENV" wait-crds
cargo bench --locked "$@"
