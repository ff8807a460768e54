#!/usr/bin/env bash
# `make demo`: nflbet end to end on a local control plane, with nothing typed by hand.
#
#  1. builds what is missing (control plane from Go modules, the nflbet binary);
#  2. starts a control plane of its own (target/demo-env) and installs the CRDs;
#  3. runs the operator, and a sample odds feed on 127.0.0.1;
#  4. applies three books, a consensus model and an alert route;
#  5. runs the scrapers and the model with the exact args of the Deployments the operator made
#     (kwok runs no containers, so the workloads run here as processes): snapshots are written,
#     edges computed, statuses filled;
#  6. shows `nflbet status`, then disables a book with `kubectl patch` and shows the effect.
#
# DEMO_KEEP=1 leaves everything running at the end (stop with `make testenv-down
# TESTENV_DIR=target/demo-env` and `kill` of the printed pids).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export TESTENV_DIR="$ROOT/target/demo-env"
DEMO="$TESTENV_DIR/demo"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
[[ -t 1 ]] || step() { printf '\n==> %s\n' "$*"; }

step "Building what is missing"
bash hack/install-deps.sh
bash hack/testenv/testenv.sh build
if [[ -z ${NFLBET_BIN:-} ]]; then
  cargo build --locked --quiet --bin nflbet
  NFLBET_BIN="$ROOT/target/debug/nflbet"
fi
BIN=$(bash hack/testenv/testenv.sh bin-dir)
export PATH="$BIN:$PATH"
# ../shared, or $NFLBET_SHARED_DIR, or a verified download cached outside the clone.
SHARED=$(bash "$ROOT/hack/shared-data.sh")

step "Starting a local control plane (etcd, kube-apiserver, controller manager, scheduler, kwok)"
bash hack/testenv/testenv.sh up
export KUBECONFIG="$TESTENV_DIR/kubeconfig"
mkdir -p "$DEMO/store" "$DEMO/logs"
PIDS=()
cleanup() {
  if [[ ${DEMO_KEEP:-0} == 1 ]]; then
    echo "left running: pids ${PIDS[*]}; KUBECONFIG=$KUBECONFIG"
    return
  fi
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  bash "$ROOT/hack/testenv/testenv.sh" down
}
trap cleanup EXIT

step "Installing the CRDs"
"$NFLBET_BIN" crds | kubectl apply --server-side -f - >/dev/null
kubectl apply --server-side -f "$SHARED/third_party/prometheus-operator-crds/" >/dev/null
echo "prometheus-operator v0.93.0 CRDs from $SHARED/third_party (see hack/shared-data.sh)"
bash hack/testenv/testenv.sh wait-crds

step "Starting the operator (nflbet operator) and a sample odds feed"
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
OP_PORT=$(free_port)
# The demo feed is on 127.0.0.1 over plain http and gets the API key: the egress policy allows
# that explicitly (by default a key goes only to api.the-odds-api.com, and loopback is refused).
NFLBET_LOG_FORMAT=json "$NFLBET_BIN" operator --listen "127.0.0.1:$OP_PORT" \
  --workload-image localhost/nflbet:demo --rule-label release=kube-prometheus-stack \
  --monitor-label release=kube-prometheus-stack \
  --feed-credential-hosts api.the-odds-api.com,http://127.0.0.1 --allow-addresses 127.0.0.0/8 \
  >"$DEMO/logs/operator.log" 2>&1 &
PIDS+=($!)
python3 hack/demo/feed.py "$DEMO/feed.port" &
PIDS+=($!)
for _ in $(seq 50); do [[ -s $DEMO/feed.port ]] && break; sleep 0.1; done
FEED="http://127.0.0.1:$(cat "$DEMO/feed.port")"
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$OP_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
echo "operator metrics: http://127.0.0.1:$OP_PORT/metrics   feed: $FEED"

step "Applying three Sportsbooks, a consensus Model and an AlertRoute"
kubectl create namespace betting --dry-run=client -o yaml | kubectl apply -f - >/dev/null
sed "s#FEED_URL#$FEED#g" hack/demo/manifests.yaml | kubectl -n betting apply -f -
kubectl -n betting wait --for=condition=Ready sportsbook --all --timeout=120s
kubectl -n betting wait --for=condition=Ready model --all --timeout=120s
kubectl -n betting get nflbet

# Run a workload here with the args and env of the Deployment the operator generated; only the
# store path and the listen address differ from the pod.
workload_args() { # deployment → one arg per line, with local store and port
  kubectl -n betting get deploy "$1" -o jsonpath='{range .spec.template.spec.containers[0].args[*]}{@}{"\n"}{end}' |
    awk -v store="file://$DEMO/store" -v listen="127.0.0.1:$(free_port)" '
      prev == "--store" { print store; prev = ""; next }
      prev == "--listen" { print listen; prev = ""; next }
      { print; prev = $0 }'
}

step "Scraping: nflbet scrape --once for each book, as its Deployment would run it"
for book in pinnacle draftkings fanduel; do
  mapfile -t args < <(workload_args "nflbet-scraper-$book")
  NFLBET_API_KEY=demo-key "$NFLBET_BIN" "${args[@]}" --once 2>>"$DEMO/logs/scrape-$book.log"
done

step "Pricing: nflbet model --once, as the consensus Model's Deployment would run it"
mapfile -t args < <(workload_args nflbet-model-consensus)
"$NFLBET_BIN" "${args[@]}" --once 2>>"$DEMO/logs/model.log"

step "nflbet status"
sleep 1
"$NFLBET_BIN" status -n betting || true

rule_of_fanduel() {
  kubectl -n betting get prometheusrule nflbet-sportsbook-fanduel --ignore-not-found -o name ||
    { echo "demo: cannot read PrometheusRules" >&2; exit 1; }
}
[[ -n $(rule_of_fanduel) ]] || { echo "alert rules: missing before the book was disabled (unexpected)"; exit 1; }

step "Disabling a book: kubectl patch sportsbook fanduel --type merge -p '{\"spec\":{\"disabled\":true}}'"
kubectl -n betting patch sportsbook fanduel --type merge -p '{"spec":{"disabled":true}}'
kubectl -n betting wait --for=condition=Stopped sportsbook/fanduel --timeout=60s
kubectl -n betting wait --for=jsonpath='{.spec.replicas}'=0 deploy/nflbet-scraper-fanduel --timeout=60s
kubectl -n betting get sportsbooks
echo
echo "scraper replicas: $(kubectl -n betting get deploy nflbet-scraper-fanduel -o jsonpath='{.spec.replicas}')"
if [[ -n $(rule_of_fanduel) ]]; then
  echo "alert rules: still present (unexpected)"; exit 1
fi
echo "alert rules: removed (nflbet-sportsbook-fanduel)"
kubectl -n betting get events --field-selector reason=Stopped -o custom-columns=REASON:.reason,OBJECT:.involvedObject.name,MESSAGE:.message
"$NFLBET_BIN" status -n betting || true

step "Done"
echo "Snapshots: $(find "$DEMO/store" -name '*.json.gz' | wc -l) objects under $DEMO/store"
echo "Logs: $DEMO/logs"
