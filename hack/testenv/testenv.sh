#!/usr/bin/env bash
# A real local Kubernetes control plane for nflbet's tests and demo, built from Go modules.
#
#   testenv.sh build   build kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, kwok
#                      and helm into a cache outside the clone, keyed by a hash of the pinned versions
#   testenv.sh up      start etcd, kube-apiserver, KCM, scheduler and kwok (one fake node) on 127.0.0.1,
#                      write $RUN/kubeconfig and wait until the cluster is ready
#   testenv.sh down    stop what `up` started (by pid, never by name)
#   testenv.sh env     print `export KUBECONFIG=...` and PATH for the running control plane
#
# Why not release binaries: they cannot be downloaded here; the Go module proxy can serve the sources.
# Why a hand-written script and not kwokctl: every flag is visible and each process is ours to stop.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TE=$ROOT/hack/testenv
# shellcheck source=versions.env
source "$TE/versions.env"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
RUN=${TESTENV_DIR:-$ROOT/target/testenv}

stamp() {
  cat "$TE/versions.env" "$TE"/go.mod "$TE"/go.sum "$TE"/etcd/go.{mod,sum} "$TE"/kwok/go.{mod,sum} \
    "$TE"/helm/go.{mod,sum} | sha256sum | cut -c1-16
}
CACHE_ROOT=${TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nflbet/testenv}
BIN=$CACHE_ROOT/$(stamp)

log() { printf '[testenv] %s\n' "$*" >&2; }

link_bin() { mkdir -p "$ROOT/bin"; ln -sfn "$BIN" "$ROOT/bin/testenv"; }

build() {
  if [[ -f $BIN/.complete ]]; then link_bin; log "binaries cached in $BIN"; return; fi
  mkdir -p "$BIN"
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local ld="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  local started=$SECONDS
  # A build cache of our own, dropped once the binaries are in place: Kubernetes leaves ~4 GB of
  # compiled packages behind, which a CI machine with little disk cannot spare. An interrupted
  # build keeps it, so the next attempt resumes.
  export GOCACHE=$CACHE_ROOT/gocache
  log "$(df -h --output=avail "$CACHE_ROOT" | tail -1 | tr -d ' ') free on the cache's disk (a cold build needs ~7 GB)"
  log "building kubernetes $K8S_VERSION (cold: ~20-40 min on 2 cores)"
  (cd "$TE" && go build -trimpath -pgo=off -ldflags "$ld" -o "$BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  log "building etcd $ETCD_VERSION"
  (cd "$TE/etcd" && go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3)
  log "building kwok $KWOK_VERSION"
  (cd "$TE/kwok" && go build -trimpath -ldflags "-s -w" -o "$BIN/kwok" sigs.k8s.io/kwok/cmd/kwok)
  log "building helm $HELM_VERSION"
  (cd "$TE/helm" && go build -trimpath -o "$BIN/helm" -ldflags "-s -w \
      -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" helm.sh/helm/v3/cmd/helm)
  # kwok refuses to start without Stage objects; take upstream's "fast" stages from the module cache.
  local kd f
  kd=$(cd "$TE/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    echo '---'; cat "$kd/$f"
  done >"$BIN/kwok-stages.yaml"
  touch "$BIN/.complete"
  rm -rf "$GOCACHE"
  link_bin
  log "built in $((SECONDS - started)) s into $BIN"
}

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

wait_for() {
  local name=$1 t=$2; shift 2
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= end)); then
      log "timeout waiting for $name"; tail -n 60 "$RUN/logs/$name.log" >&2 || true; return 1
    fi
    sleep 0.3
  done
}

start() {
  local name=$1; shift
  "$@" >"$RUN/logs/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
}

gen_pki() {
  (
    cd "$1"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=nflbet-testenv-ca \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
      -keyout ca.key -out ca.crt
    printf '%s\n' 'subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1' \
      'extendedKeyUsage=serverAuth' 'keyUsage=critical,digitalSignature,keyEncipherment' >server.ext
    openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout apiserver.key -out apiserver.csr
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile server.ext -out apiserver.crt
    printf '%s\n' 'extendedKeyUsage=clientAuth' 'keyUsage=critical,digitalSignature,keyEncipherment' >client.ext
    openssl req -newkey rsa:2048 -nodes -subj '/O=system:masters/CN=nflbet-testenv-admin' \
      -keyout admin.key -out admin.csr
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile client.ext -out admin.crt
    openssl genrsa -out sa.key 2048
    openssl rsa -in sa.key -pubout -out sa.pub
  ) >/dev/null 2>&1
}

b64() { base64 -w0 <"$1"; }

write_kubeconfig() {
  cat >"$RUN/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: nflbet-testenv
  cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority-data: $(b64 "$RUN/pki/ca.crt")}
users:
- name: nflbet-testenv-admin
  user: {client-certificate-data: $(b64 "$RUN/pki/admin.crt"), client-key-data: $(b64 "$RUN/pki/admin.key")}
contexts:
- name: nflbet-testenv
  context: {cluster: nflbet-testenv, user: nflbet-testenv-admin, namespace: default}
current-context: nflbet-testenv
KC
}

up() {
  build
  down || true
  rm -rf "$RUN"; mkdir -p "$RUN"/{pki,etcd,logs}
  local started=$SECONDS
  local ETCD_PORT PEER_PORT KWOK_PORT
  ETCD_PORT=$(free_port); PEER_PORT=$(free_port); API_PORT=$(free_port); KWOK_PORT=$(free_port)
  gen_pki "$RUN/pki"
  local K=("$BIN/kubectl" --kubeconfig "$RUN/kubeconfig")

  start etcd "$BIN/etcd" --name=testenv --data-dir="$RUN/etcd" --log-level=warn --unsafe-no-fsync \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$PEER_PORT" \
    --initial-cluster="testenv=http://127.0.0.1:$PEER_PORT" --listen-metrics-urls=""
  wait_for etcd 60 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

  start kube-apiserver "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" --cert-dir="$RUN/pki" \
    --tls-cert-file="$RUN/pki/apiserver.crt" --tls-private-key-file="$RUN/pki/apiserver.key" \
    --client-ca-file="$RUN/pki/ca.crt" --authorization-mode=Node,RBAC --allow-privileged=true \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$RUN/pki/sa.pub" --service-account-signing-key-file="$RUN/pki/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 --endpoint-reconciler-type=none
  write_kubeconfig
  wait_for kube-apiserver 180 curl -fsS --cacert "$RUN/pki/ca.crt" --cert "$RUN/pki/admin.crt" \
    --key "$RUN/pki/admin.key" "https://127.0.0.1:$API_PORT/readyz"

  start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$RUN/kubeconfig" \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port=0 --controllers='*' \
    --service-account-private-key-file="$RUN/pki/sa.key" --root-ca-file="$RUN/pki/ca.crt" \
    --use-service-account-credentials=false --service-cluster-ip-range=10.96.0.0/16 \
    --concurrent-deployment-syncs=10 --concurrent-replicaset-syncs=10 --concurrent-gc-syncs=20 \
    --kube-api-qps=500 --kube-api-burst=1000
  printf 'apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nclientConnection:\n  kubeconfig: %s\n  qps: 500\n  burst: 1000\nleaderElection:\n  leaderElect: false\n' \
    "$RUN/kubeconfig" >"$RUN/scheduler.yaml"
  start kube-scheduler "$BIN/kube-scheduler" --config="$RUN/scheduler.yaml" --bind-address=127.0.0.1 --secure-port=0
  start kwok "$BIN/kwok" --kubeconfig="$RUN/kubeconfig" --config="$BIN/kwok-stages.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-ip=127.0.0.1 --node-name=kwok-controller --node-port="$KWOK_PORT" --cidr=10.244.0.0/16 \
    --server-address="127.0.0.1:$KWOK_PORT" --node-lease-duration-seconds=40 \
    --tls-cert-file="$RUN/pki/apiserver.crt" --tls-private-key-file="$RUN/pki/apiserver.key"

  "${K[@]}" apply -f - >/dev/null <<'NODE'
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {kubernetes.io/hostname: kwok-node-0, kubernetes.io/os: linux, kubernetes.io/arch: amd64, type: kwok}
status:
  allocatable: {cpu: "1000", memory: 4Ti, pods: "5000"}
  capacity: {cpu: "1000", memory: 4Ti, pods: "5000"}
  addresses: [{type: InternalIP, address: 127.0.0.1}]
  nodeInfo: {architecture: amd64, operatingSystem: linux}
NODE
  wait_for kwok 90 "${K[@]}" wait --for=condition=Ready node/kwok-node-0 --timeout=5s
  # The default ServiceAccount appearing proves the controller manager is running.
  wait_for kube-controller-manager 90 "${K[@]}" -n default get serviceaccount default
  echo "$API_PORT" >"$RUN/api-port"
  log "control plane ready in $((SECONDS - started)) s; export KUBECONFIG=$RUN/kubeconfig"
}

down() {
  local n p
  for n in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    [[ -f $RUN/$n.pid ]] || continue
    p=$(cat "$RUN/$n.pid")
    kill "$p" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$p" 2>/dev/null || true
    rm -f "$RUN/$n.pid"
  done
}

case ${1:-} in
build) build ;;
up) up ;;
down) down ;;
bin-dir) echo "$BIN" ;;
env) echo "export KUBECONFIG=$RUN/kubeconfig PATH=$BIN:\$PATH" ;;
*) echo "usage: $0 build|up|down|bin-dir|env" >&2; exit 2 ;;
esac
