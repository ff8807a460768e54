#!/usr/bin/env bash
# `make test`: install what is missing, build, then run every test in two rounds, stopping each
# control plane even when a test fails:
#   1. the integration suite on a control plane with a kwok node (fast; workloads run as local
#      processes next to it);
#   2. the end-to-end story (tests/e2e) on a control plane with a real node (kubelet, containerd,
#      runc, CNI, kube-proxy) and the monitoring stack, from `helm install` of the project's image.
# Extra arguments go to the first round's `cargo test` (e.g. a test name filter); E2E=0 skips the
# second round for a quick local run, and says so.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TESTENV=hack/testenv/testenv.sh
E2E=${E2E:-1}

# The third-party test data: ../shared, or $NFLBET_SHARED_DIR, or a verified download cached
# outside the clone (hack/shared-data.sh). First, so an offline fresh clone stops at once.
NFLBET_SHARED_DIR=$(bash hack/shared-data.sh)
export NFLBET_SHARED_DIR
bash hack/install-deps.sh
bash "$TESTENV" build all
# Compile first, so the control plane does not compete with rustc for the two cores.
cargo test --locked --no-run
cargo test --locked --no-run --test e2e
# The project's image, as `make image` builds it for a user (the chart's default reference).
if [[ $E2E == 1 ]]; then IMAGE_OUT=target/image/nflbet-test.oci.tar bash hack/image.sh build; fi

export PATH="$ROOT/bin/testenv:$PATH"
export NFLBET_TEST_KUBECONFIG="$ROOT/target/testenv/kubeconfig"
trap 'bash "$ROOT/$TESTENV" down' EXIT

status=0
bash "$TESTENV" up
# Integration tests mostly wait on the API server; run more of them than there are cores.
RUST_TEST_THREADS="${RUST_TEST_THREADS:-6}" cargo test --locked --no-fail-fast "$@" || status=$?
bash "$TESTENV" down

if [[ $E2E != 1 ]]; then
  echo "[test] E2E=0: the end-to-end story on the real node was NOT run" >&2
  exit "$status"
fi
bash "$TESTENV" up --real-node
bash "$TESTENV" load-image target/image/nflbet-test.oci.tar
cargo test --locked --test e2e || status=$?
exit "$status"
