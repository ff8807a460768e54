#!/usr/bin/env bash
# A real local Kubernetes control plane for nflbet's tests and demo, built from Go modules.
#
#   testenv.sh build [GROUP...]   build binaries into a cache outside the clone, keyed by a hash of the
#                      pinned versions: `kube` (default: kube-apiserver, KCM, scheduler, kubectl, kubelet,
#                      kube-proxy, etcd, kwok, helm), `node` (containerd), `images` (pause and the end-to-end
#                      test servers), `monitoring` (Prometheus, Alertmanager, prometheus-operator and its
#                      full CRD set, bin/testenv/prometheus-operator-crds), or `all`
#   testenv.sh up      start etcd, kube-apiserver, KCM, scheduler and kwok (one fake node) on 127.0.0.1,
#                      write $RUN/kubeconfig and wait until the cluster is ready (the integration tests and
#                      the scale benchmarks use this)
#   testenv.sh up --real-node
#                      the same control plane with a real node instead of kwok: kubelet + containerd + runc
#                      + CNI bridge + kube-proxy, the API server on the bridge's address, and the monitoring
#                      stack as kube-prometheus-stack sets it up (prometheus-operator beside the cluster,
#                      Prometheus and Alertmanager as pods). Needs root; `down` undoes every host change.
#   testenv.sh load-image FILE   import an OCI/docker archive into the real node's containerd
#   testenv.sh restart NAME      kill -9 etcd or kube-apiserver and start it again with the same flags
#   testenv.sh down    stop what `up` started (by pid, never by name) and restore the host
#   testenv.sh wait-crds   wait until every CRD of the running control plane is Established
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

# The binaries come in five groups, each cached on its own (so a change to one rebuilds only it):
#   kube        kube-apiserver, KCM, scheduler, kubectl, kubelet, kube-proxy; etcd, kwok, helm
#   node        containerd v2 (+ shim, ctr)
#   dns         CoreDNS, the cluster's DNS on the real node
#   images      the small Go programs under images/: pause, and the end-to-end test servers
#   monitoring  Prometheus, Alertmanager, prometheus-operator and its config reloader
# Each lives in $CACHE_ROOT/<group>-<hash of its versions and go.mod/go.sum files>; bin/testenv holds
# a symlink to every binary, so one PATH entry finds them all.
CACHE_ROOT=${TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nflbet/testenv}
declare -A GROUP_FILES=(
  [kube]="go.mod go.sum etcd/go.mod etcd/go.sum kwok/go.mod kwok/go.sum helm/go.mod helm/go.sum"
  [node]="containerd/go.mod containerd/go.sum"
  [dns]="coredns/go.mod coredns/go.sum"
  [images]="images/go.mod $(cd "$TE" && echo images/*/*.go)"
  [monitoring]="prometheus/go.mod prometheus/go.sum alertmanager/go.mod alertmanager/go.sum prometheus-operator/go.mod prometheus-operator/go.sum"
)
declare -A GROUP_VERSIONS=(
  [kube]="K8S_VERSION STAGING_VERSION ETCD_VERSION KWOK_VERSION HELM_VERSION"
  [node]="CONTAINERD_VERSION" [dns]="COREDNS_VERSION" [images]=""
  [monitoring]="PROMETHEUS_VERSION ALERTMANAGER_VERSION PROMETHEUS_OPERATOR_VERSION"
)
group_dir() {
  local f v
  echo "$CACHE_ROOT/$1-$( (for v in ${GROUP_VERSIONS[$1]}; do echo "$v=${!v}"; done
    for f in ${GROUP_FILES[$1]}; do cat "$TE/$f"; done) | sha256sum | cut -c1-16)"
}
BIN=$(group_dir kube)
LINKS=$ROOT/bin/testenv

log() { printf '[testenv] %s\n' "$*" >&2; }

# link_bins: bin/testenv/NAME -> the binary, for every complete group. Links are only added or
# changed, never removed first, so a test running beside another `testenv.sh` call always finds them.
link_bins() {
  local g f
  mkdir -p "$LINKS"
  for g in "${!GROUP_FILES[@]}"; do
    g=$(group_dir "$g"); [[ -f $g/.complete ]] || continue
    for f in "$g"/*; do
      [[ $(readlink "$LINKS/${f##*/}" 2>/dev/null) == "$f" ]] || ln -sfn "$f" "$LINKS/${f##*/}"
    done
  done
}

k8s_ldflags() {
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local ld="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$ld"
}

build_kube() {
  local out=$1 minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  log "building kubernetes $K8S_VERSION (cold: ~12 min on 2 cores)"
  (cd "$TE" && go build -trimpath -pgo=off -ldflags "$(k8s_ldflags)" -o "$out/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)
  log "building etcd $ETCD_VERSION"
  (cd "$TE/etcd" && go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3)
  log "building kwok $KWOK_VERSION"
  (cd "$TE/kwok" && go build -trimpath -ldflags "-s -w" -o "$out/kwok" sigs.k8s.io/kwok/cmd/kwok)
  log "building helm $HELM_VERSION"
  (cd "$TE/helm" && go build -trimpath -o "$out/helm" -ldflags "-s -w \
      -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" helm.sh/helm/v3/cmd/helm)
  # kwok refuses to start without Stage objects; take upstream's "fast" stages from the module cache.
  local kd f
  kd=$(cd "$TE/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
  # pod-complete is left out (see kwok_stages): a Job's pod must stay Running until a test ends it.
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-delete.yaml; do
    echo '---'; cat "$kd/$f"
  done >"$out/kwok-stages.yaml"
}

# kwok_stages OUT: the cached stages without pod-complete, which marks a Job's pod Succeeded the
# moment it runs, with no termination messages: the replay gate test (tests/integration/
# replay_gate.rs) plays the kubelet of the gate Job's pod and writes its containers' reports
# itself. The cache key hashes the tools' go.mod files, not this stage list, so a cache built
# with the stage is filtered here at every start rather than rebuilt (~12 min).
kwok_stages() {
  awk 'BEGIN { RS = "\n---\n"; ORS = "" }
       !/\n  name: pod-complete\n/ { sub(/^---\n/, ""); if ($0 != "") print "---\n" $0 "\n" }' \
    "$BIN/kwok-stages.yaml" >"$1"
}

build_node() {
  local out=$1
  log "building containerd $CONTAINERD_VERSION"
  (cd "$TE/containerd" && go build -trimpath -tags "no_btrfs no_devmapper no_zfs" -o "$out/" -ldflags "-s -w \
      -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
    github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
    github.com/containerd/containerd/v2/cmd/ctr)
}

build_dns() {
  log "building CoreDNS $COREDNS_VERSION"
  (cd "$TE/coredns" && go build -trimpath -o "$1/coredns" -ldflags "-s -w" github.com/coredns/coredns)
}

build_images() {
  log "building pause and the end-to-end test servers"
  (cd "$TE/images" && go build -trimpath -ldflags "-s -w" -o "$1/" ./pause ./oddsfeed ./webhooksink)
}

build_monitoring() {
  local out=$1 v=github.com/prometheus/common/version
  log "building prometheus-operator $PROMETHEUS_OPERATOR_VERSION"
  (cd "$TE/prometheus-operator" && go build -trimpath -o "$out/" -ldflags "-s -w -X $v.Version=${PROMETHEUS_OPERATOR_VERSION#v}" \
    github.com/prometheus-operator/prometheus-operator/cmd/operator \
    github.com/prometheus-operator/prometheus-operator/cmd/prometheus-config-reloader)
  mv "$out/operator" "$out/prometheus-operator"
  log "building alertmanager $ALERTMANAGER_VERSION"
  (cd "$TE/alertmanager" && go build -trimpath -o "$out/" -ldflags "-s -w -X $v.Version=${ALERTMANAGER_VERSION#v}" \
    github.com/prometheus/alertmanager/cmd/alertmanager)
  log "building prometheus $PROMETHEUS_VERSION (cold: ~6 min)"
  (cd "$TE/prometheus" && go build -trimpath -o "$out/" -ldflags "-s -w -X $v.Version=$PROMETHEUS_VERSION" \
    github.com/prometheus/prometheus/cmd/prometheus)
  monitoring_crds "$out"
}

# monitoring_crds DIR: prometheus-operator's full CRD set (Alertmanager, Prometheus, ... besides the
# four in ../shared/third_party/prometheus-operator-crds), copied from the module its binary is built
# from into DIR/prometheus-operator-crds, so bin/testenv/prometheus-operator-crds is where tests find
# it. Also run for a cached group built before this copy existed.
monitoring_crds() {
  local out=$1/prometheus-operator-crds src tmp
  [[ -d $out ]] && return
  src=$(cd "$TE/prometheus-operator" && go list -m -f '{{.Dir}}' github.com/prometheus-operator/prometheus-operator)/example/prometheus-operator-crd
  tmp=$(mktemp -d "$1/.crds.XXXXXX")
  cp "$src"/*.yaml "$tmp/"
  chmod 0755 "$tmp"; chmod 0644 "$tmp"/*.yaml
  mv -T "$tmp" "$out" 2>/dev/null || rm -rf "$tmp" # another build got there first
}

# build_group NAME: build one group into its cache directory unless it is complete.
build_group() {
  local g=$1 out; out=$(group_dir "$1")
  if [[ -f $out/.complete ]]; then
    log "$g: cached in $out"
    [[ $g != monitoring ]] || monitoring_crds "$out"
    return
  fi
  mkdir -p "$out"
  # A build cache of our own per group, dropped once its binaries are in place: Kubernetes leaves
  # ~4 GB of compiled packages behind, which a CI machine with little disk cannot spare. An
  # interrupted build keeps it, so the next attempt resumes.
  export GOCACHE=$CACHE_ROOT/gocache-$g
  log "$(df -h --output=avail "$CACHE_ROOT" | tail -1 | tr -d ' ') free on the cache's disk (a cold build needs ~10 GB)"
  local started=$SECONDS
  "build_$g" "$out"
  touch "$out/.complete"
  rm -rf "$GOCACHE"
  log "$g: built in $((SECONDS - started)) s into $out"
}

# build [GROUP...]: the kube group by default (kwok clusters need nothing else); `all` for every group.
build() {
  local groups=("${@:-kube}") g
  [[ ${groups[0]} == all ]] && groups=(kube node dns images monitoring)
  mkdir -p "$CACHE_ROOT"
  for g in "${groups[@]}"; do build_group "$g"; done
  link_bins
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
  printf '%q ' "$@" >"$RUN/$name.cmd"
  "$@" >>"$RUN/logs/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
}

# restart NAME: kill -9 one control-plane process and start it again with the same command line,
# as a crash and a supervisor's restart would; waits until it answers again. The fault tests use
# it (etcd, kube-apiserver).
restart() {
  local name=$1 p cmd
  [[ -f $RUN/$name.pid && -f $RUN/$name.cmd ]] || { log "$name was not started by this testenv"; exit 1; }
  p=$(cat "$RUN/$name.pid")
  kill -9 "$p" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
  cmd=$(cat "$RUN/$name.cmd")
  eval "start $name $cmd"
  local api; api=$(cat "$RUN/api-port")
  local host; host=$(sed -n 's|.*server: "https://\([^:]*\):.*|\1|p' "$RUN/kubeconfig")
  case $name in
  kube-apiserver) wait_for "$name" 60 curl -fsS --cacert "$RUN/pki/ca.crt" --cert "$RUN/pki/admin.crt" \
      --key "$RUN/pki/admin.key" "https://$host:$api/readyz" ;;
  etcd) wait_for "$name" 60 curl -fsS "$(sed -n 's|.*--advertise-client-urls=\(http://[^ ]*\).*|\1|p' "$RUN/etcd.cmd")/health" ;;
  esac
}

# sign NAME SUBJECT EXT...: a key and a certificate signed by the testenv CA.
sign() {
  local name=$1 subj=$2; shift 2
  printf '%s\n' "$@" >"$name.ext"
  openssl req -newkey rsa:2048 -nodes -subj "$subj" -keyout "$name.key" -out "$name.csr"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
    -extfile "$name.ext" -out "$name.crt"
}

gen_pki() {
  (
    cd "$1"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=nflbet-testenv-ca \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
      -keyout ca.key -out ca.crt
    local client=('extendedKeyUsage=clientAuth' 'keyUsage=critical,digitalSignature,keyEncipherment')
    sign apiserver /CN=kube-apiserver \
      "subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1,IP:$NODE_IP" \
      'extendedKeyUsage=serverAuth' 'keyUsage=critical,digitalSignature,keyEncipherment'
    sign admin '/O=system:masters/CN=nflbet-testenv-admin' "${client[@]}"
    # The real node's identities: the kubelet (Node authorizer), kube-proxy (bound to
    # system:node-proxier by default), and the API server's client certificate for logs and exec.
    sign kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "${client[@]}"
    sign kube-proxy /CN=system:kube-proxy "${client[@]}"
    sign apiserver-kubelet-client '/O=system:masters/CN=kube-apiserver-kubelet-client' "${client[@]}"
    openssl genrsa -out sa.key 2048
    openssl rsa -in sa.key -pubout -out sa.pub
  ) >/dev/null 2>&1
}

b64() { base64 -w0 <"$1"; }

# write_kubeconfig FILE USER: a kubeconfig for one of the PKI's client certificates.
write_kubeconfig() {
  cat >"$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: nflbet-testenv
  cluster: {server: "https://$API_HOST:$API_PORT", certificate-authority-data: $(b64 "$RUN/pki/ca.crt")}
users:
- name: $2
  user: {client-certificate-data: $(b64 "$RUN/pki/$2.crt"), client-key-data: $(b64 "$RUN/pki/$2.key")}
contexts:
- name: nflbet-testenv
  context: {cluster: nflbet-testenv, user: $2, namespace: default}
current-context: nflbet-testenv
KC
}

# The real node: one bridge that exists only inside this machine, pods on NODE_IP's /16, services on
# 10.96.0.0/16. With a real node the API server listens on the bridge's address (pods reach it
# through the `kubernetes` Service and kube-proxy), so the host's kubeconfig points there too.
NODE_NAME=nflbet-node
BRIDGE=nflbet0
POD_CIDR=10.244.0.0/16
NODE_IP=10.244.0.1
SERVICE_CIDR=10.96.0.0/16
# Host settings the kubelet and kube-proxy change (or need), recorded by `up` and restored by `down`.
SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops net.ipv4.ip_forward
  net.bridge.bridge-nf-call-iptables)

up() {
  local mode=kwok
  case ${1:-} in
  "" | --kwok) ;;
  --real-node) mode=real ;;
  *) echo "usage: $0 up [--kwok|--real-node]" >&2; exit 2 ;;
  esac
  if [[ $mode == real ]]; then build all; else build kube; fi
  down || true
  rm -rf "$RUN"; mkdir -p "$RUN"/{pki,etcd,logs}
  echo "$mode" >"$RUN/mode"
  local started=$SECONDS
  local ETCD_PORT PEER_PORT
  ETCD_PORT=$(free_port); PEER_PORT=$(free_port); API_PORT=$(free_port)
  API_HOST=127.0.0.1
  gen_pki "$RUN/pki"
  local apiserver_node_flags=(--endpoint-reconciler-type=none)
  if [[ $mode == real ]]; then
    prepare_host
    API_HOST=$NODE_IP
    apiserver_node_flags=(--advertise-address="$NODE_IP" --kubelet-preferred-address-types=InternalIP
      --kubelet-client-certificate="$RUN/pki/apiserver-kubelet-client.crt"
      --kubelet-client-key="$RUN/pki/apiserver-kubelet-client.key")
  fi
  local K=("$BIN/kubectl" --kubeconfig "$RUN/kubeconfig")

  start etcd "$BIN/etcd" --name=testenv --data-dir="$RUN/etcd" --log-level=warn --unsafe-no-fsync \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$PEER_PORT" \
    --initial-cluster="testenv=http://127.0.0.1:$PEER_PORT" --listen-metrics-urls=""
  wait_for etcd 60 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

  start kube-apiserver "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address="$API_HOST" --secure-port="$API_PORT" --cert-dir="$RUN/pki" \
    --tls-cert-file="$RUN/pki/apiserver.crt" --tls-private-key-file="$RUN/pki/apiserver.key" \
    --client-ca-file="$RUN/pki/ca.crt" --authorization-mode=Node,RBAC --allow-privileged=true \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$RUN/pki/sa.pub" --service-account-signing-key-file="$RUN/pki/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" "${apiserver_node_flags[@]}"
  write_kubeconfig "$RUN/kubeconfig" admin
  wait_for kube-apiserver 180 curl -fsS --cacert "$RUN/pki/ca.crt" --cert "$RUN/pki/admin.crt" \
    --key "$RUN/pki/admin.key" "https://$API_HOST:$API_PORT/readyz"

  start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$RUN/kubeconfig" \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port=0 --controllers='*' \
    --service-account-private-key-file="$RUN/pki/sa.key" --root-ca-file="$RUN/pki/ca.crt" \
    --use-service-account-credentials=false --service-cluster-ip-range="$SERVICE_CIDR" \
    --concurrent-deployment-syncs=10 --concurrent-replicaset-syncs=10 --concurrent-gc-syncs=20 \
    --kube-api-qps=500 --kube-api-burst=1000
  printf 'apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nclientConnection:\n  kubeconfig: %s\n  qps: 500\n  burst: 1000\nleaderElection:\n  leaderElect: false\n' \
    "$RUN/kubeconfig" >"$RUN/scheduler.yaml"
  start kube-scheduler "$BIN/kube-scheduler" --config="$RUN/scheduler.yaml" --bind-address=127.0.0.1 --secure-port=0
  if [[ $mode == real ]]; then start_real_node; else start_kwok_node; fi
  # The default ServiceAccount appearing proves the controller manager is running.
  wait_for kube-controller-manager 90 "${K[@]}" -n default get serviceaccount default
  echo "$API_PORT" >"$RUN/api-port"
  log "control plane ($mode node) ready in $((SECONDS - started)) s; export KUBECONFIG=$RUN/kubeconfig"
  if [[ $mode == real ]]; then
    "${K[@]}" -n kube-system wait --for=condition=Available deployment/coredns --timeout=120s >/dev/null
    start_monitoring
  fi
}

start_kwok_node() {
  local KWOK_PORT; KWOK_PORT=$(free_port)
  kwok_stages "$RUN/kwok-stages.yaml"
  start kwok "$BIN/kwok" --kubeconfig="$RUN/kubeconfig" --config="$RUN/kwok-stages.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-ip=127.0.0.1 --node-name=kwok-controller --node-port="$KWOK_PORT" --cidr=10.244.0.0/16 \
    --server-address="127.0.0.1:$KWOK_PORT" --node-lease-duration-seconds=40 \
    --tls-cert-file="$RUN/pki/apiserver.crt" --tls-private-key-file="$RUN/pki/apiserver.key"

  "$BIN/kubectl" --kubeconfig "$RUN/kubeconfig" apply -f - >/dev/null <<'NODE'
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {kubernetes.io/hostname: kwok-node-0, kubernetes.io/os: linux, kubernetes.io/arch: amd64, type: kwok}
status:
  allocatable: {cpu: "1000", memory: 4Ti, ephemeral-storage: 1Ti, pods: "20000"}
  capacity: {cpu: "1000", memory: 4Ti, ephemeral-storage: 1Ti, pods: "20000"}
  addresses: [{type: InternalIP, address: 127.0.0.1}]
  nodeInfo: {architecture: amd64, operatingSystem: linux}
NODE
  wait_for kwok 90 "$BIN/kubectl" --kubeconfig "$RUN/kubeconfig" wait --for=condition=Ready node/kwok-node-0 --timeout=5s
}

# prepare_host: record the sysctls the node changes, turn on forwarding and bridge netfilter (kube-proxy's
# rules must see pod traffic), and make the bridge, so that the API server can listen on its address.
prepare_host() {
  [[ $(id -u) -eq 0 ]] || { log "a real node needs root (kubelet, containerd, bridge, iptables)"; exit 1; }
  ls /run/netns 2>/dev/null >"$RUN/netns.before" || true
  local ipt table
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for table in filter nat mangle; do
      "$ipt-save" -t "$table" 2>/dev/null | sed -n "s/^:\(KUBE-[^ ]*\).*/$ipt $table \1/p"
    done
  done >"$RUN/iptables.before"
  local k
  for k in "${SYSCTLS[@]}"; do echo "$k=$(sysctl -n "$k")"; done >"$RUN/sysctls.saved"
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    echo created >"$RUN/bridge.created"
  fi
  ip addr replace "$NODE_IP/16" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

# import_image REF BINARY: wrap one static binary in a FROM-scratch image (/bin/NAME, its entrypoint)
# and load it into the node's containerd under REF; no registry is involved. Tags are never
# "latest", so the default pull policy is IfNotPresent and the kubelet never tries to pull.
import_image() {
  local ref=$1 bin=$2 name; name=$(basename "$2")
  python3 "$ROOT/hack/image/oci.py" --ref "$ref" --out "$RUN/images/$name.tar" \
    --file "$bin:/bin/$name:0755" --entrypoint "/bin/$name" --user 65532:65532 >/dev/null 2>&1
  ctr_import "$RUN/images/$name.tar"
}

ctr_import() {
  local out
  out=$("$LINKS/ctr" --address "$RUN/containerd/containerd.sock" -n k8s.io images import --local "$1" 2>&1) ||
    { echo "$out" >&2; log "could not import $1 into containerd"; return 1; }
}

# Prometheus' Go module versions v0.3MM.P are its releases 3.MM.P.
prometheus_release() { local m=${PROMETHEUS_VERSION#v0.}; echo "v${m:0:1}.${m:1:2}.${PROMETHEUS_VERSION##*.}"; }
IMG=nflbet.dev/testenv
PAUSE_IMAGE=$IMG/pause:3.10

start_real_node() {
  mkdir -p "$RUN"/{containerd,cni/net.d,cni/networks,kubelet/root,kubelet/certs,kubelet/pods-logs,images}
  local C=$RUN/containerd
  # --- CNI: the bridge, host-local addresses, a route to the service range only (no default route:
  # a pod can reach other pods, this host and services, nothing beyond the machine).
  cat >"$RUN/cni/net.d/10-nflbet.conflist" <<CNI
{"cniVersion": "1.0.0", "name": "nflbet", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$RUN/cni/networks",
            "ranges": [[{"subnet": "$POD_CIDR", "rangeStart": "10.244.1.1", "gateway": "$NODE_IP"}]],
            "routes": [{"dst": "$SERVICE_CIDR"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}
CNI
  # --- containerd v2 (config version 3), everything under $RUN; the sandbox image is our own pause.
  cat >"$C/config.toml" <<TOML
version = 3
root = "$C/root"
state = "$C/state"
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.erofs", "io.containerd.differ.v1.erofs"]
[grpc]
  address = "$C/containerd.sock"
[ttrpc]
  address = "$C/containerd.sock.ttrpc"
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  # Nothing is ever pulled: every registry is 127.0.0.1:9 (nothing listens), so a pod naming an
  # image that is not loaded fails at once with ErrImagePull, without a DNS lookup or a packet
  # leaving the machine.
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "$C/registries"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "$PAUSE_IMAGE"
[plugins."io.containerd.cri.v1.runtime"]
  enable_cdi = false
  # Without CAP_SYS_RESOURCE nothing may lower its oom_score_adj.
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
      BinaryName = "$(command -v runc)"
      SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$RUN/cni/net.d"
TOML
  mkdir -p "$C/registries/_default"
  printf '%s\n' 'server = "http://127.0.0.1:9"' '[host."http://127.0.0.1:9"]' '  capabilities = ["pull", "resolve"]' \
    >"$C/registries/_default/hosts.toml"
  PATH="$LINKS:$PATH" setsid "$LINKS/containerd" --config "$C/config.toml" >"$RUN/logs/containerd.log" 2>&1 &
  echo $! >"$RUN/containerd.pid"
  wait_for containerd 60 "$LINKS/ctr" --address "$C/containerd.sock" version
  local MB; MB=$(group_dir images)
  import_image "$PAUSE_IMAGE" "$MB/pause"
  import_image "$IMG/oddsfeed:e2e" "$MB/oddsfeed"
  import_image "$IMG/webhooksink:e2e" "$MB/webhooksink"
  import_image "$IMG/coredns:$COREDNS_VERSION" "$(group_dir dns)/coredns"
  MB=$(group_dir monitoring)
  import_image "$IMG/prometheus:$(prometheus_release)" "$MB/prometheus"
  import_image "$IMG/alertmanager:$ALERTMANAGER_VERSION" "$MB/alertmanager"
  import_image "$IMG/prometheus-config-reloader:$PROMETHEUS_OPERATOR_VERSION" "$MB/prometheus-config-reloader"

  # --- kubelet
  write_kubeconfig "$RUN/kubelet/kubeconfig" kubelet
  cat >"$RUN/kubelet/config.yaml" <<KCFG
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 0
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$C/containerd.sock
podLogsDir: $RUN/kubelet/pods-logs
resolvConf: ""
clusterDNS: [10.96.0.10]
clusterDomain: cluster.local
oomScoreAdj: 0
tlsCertFile: $RUN/kubelet/certs/kubelet.crt
tlsPrivateKeyFile: $RUN/kubelet/certs/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $RUN/pki/ca.crt}
authorization: {mode: Webhook}
evictionHard: {memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
maxPods: 110
serializeImagePulls: false
KCFG
  ( cd "$RUN/kubelet/certs" && openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$NODE_NAME" \
      -addext "subjectAltName=IP:$NODE_IP,DNS:$NODE_NAME" -keyout kubelet.key -out kubelet.crt ) >/dev/null 2>&1
  setsid "$BIN/kubelet" --config="$RUN/kubelet/config.yaml" --kubeconfig="$RUN/kubelet/kubeconfig" \
    --root-dir="$RUN/kubelet/root" --cert-dir="$RUN/kubelet/certs" --hostname-override="$NODE_NAME" \
    --node-ip="$NODE_IP" --v=1 >"$RUN/logs/kubelet.log" 2>&1 &
  echo $! >"$RUN/kubelet.pid"

  # --- kube-proxy (iptables mode): Services, including `kubernetes` for pods' in-cluster clients.
  write_kubeconfig "$RUN/kube-proxy.kubeconfig" kube-proxy
  local PROXY_HEALTHZ; PROXY_HEALTHZ=$(free_port)
  cat >"$RUN/kube-proxy.yaml" <<KP
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $RUN/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:$PROXY_HEALTHZ
metricsBindAddress: 127.0.0.1:$(free_port)
conntrack: {maxPerCore: 0}
iptables: {localhostNodePorts: false, masqueradeAll: false}
nodePortAddresses: [$NODE_IP/32]
KP
  setsid "$BIN/kube-proxy" --config="$RUN/kube-proxy.yaml" >"$RUN/logs/kube-proxy.log" 2>&1 &
  echo $! >"$RUN/kube-proxy.pid"
  wait_for kube-proxy 60 curl -fsS "http://127.0.0.1:$PROXY_HEALTHZ/healthz"
  wait_for kubelet 120 "$BIN/kubectl" --kubeconfig "$RUN/kubeconfig" wait --for=condition=Ready "node/$NODE_NAME" --timeout=5s
  # --- cluster DNS
  sed "s|@COREDNS_IMAGE@|$IMG/coredns:$COREDNS_VERSION|" "$TE/coredns.yaml" |
    "$BIN/kubectl" --kubeconfig "$RUN/kubeconfig" apply --server-side -f - >/dev/null
}

# crds_established KUBECTL...: every CRD Established. A CRD created a moment ago may have no
# status yet, which `kubectl wait` reports as an error instead of waiting for it: ask again.
crds_established() {
  local i
  for i in $(seq 20); do
    "$@" wait --for=condition=Established crd --all --timeout=60s >/dev/null 2>&1 && return 0
    sleep 1
  done
  "$@" wait --for=condition=Established crd --all --timeout=60s >/dev/null
}

# start_monitoring: prometheus-operator's CRDs (all of them, from its Go module, the version its
# binary was built from), prometheus-operator beside the cluster, and Prometheus and Alertmanager
# as real pods (monitoring.yaml). Waits until both pods are Ready.
start_monitoring() {
  local K=("$BIN/kubectl" --kubeconfig "$RUN/kubeconfig") crds
  crds=$(cd "$TE/prometheus-operator" && go list -m -f '{{.Dir}}' github.com/prometheus-operator/prometheus-operator)/example/prometheus-operator-crd
  "${K[@]}" apply --server-side -f "$crds" >/dev/null
  crds_established "${K[@]}"
  local MB; MB=$(group_dir monitoring)
  KUBECONFIG=$RUN/kubeconfig start prometheus-operator "$MB/prometheus-operator" \
    --web.listen-address=127.0.0.1:0 --log-level=info \
    --prometheus-config-reloader="$IMG/prometheus-config-reloader:$PROMETHEUS_OPERATOR_VERSION"
  sed -e "s|@PROMETHEUS_IMAGE@|$IMG/prometheus:$(prometheus_release)|" -e "s|@PROMETHEUS_VERSION@|$(prometheus_release)|" \
    -e "s|@ALERTMANAGER_IMAGE@|$IMG/alertmanager:$ALERTMANAGER_VERSION|" -e "s|@ALERTMANAGER_VERSION@|$ALERTMANAGER_VERSION|" \
    "$TE/monitoring.yaml" | "${K[@]}" apply --server-side -f - >/dev/null
  local sel
  for sel in app.kubernetes.io/name=prometheus app.kubernetes.io/name=alertmanager; do
    wait_for prometheus-operator 180 bash -c "[[ -n \$(${K[*]} -n monitoring get pods -l $sel -o name) ]]"
    "${K[@]}" -n monitoring wait --for=condition=Ready pod -l "$sel" --timeout=180s >/dev/null || {
      "${K[@]}" -n monitoring describe pods -l "$sel" >&2; return 1; }
  done
  log "monitoring ready: prometheus-operator $PROMETHEUS_OPERATOR_VERSION, Prometheus $(prometheus_release), Alertmanager $ALERTMANAGER_VERSION"
}

# stop_pid NAME: stop one process we started (by its recorded pid, never by name).
stop_pid() {
  local f=$RUN/$1.pid p
  [[ -f $f ]] || return 0
  p=$(cat "$f")
  kill "$p" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$p" 2>/dev/null || true
  rm -f "$f"
}

down() {
  [[ -d $RUN ]] || return 0
  if [[ $(cat "$RUN/mode" 2>/dev/null) == real ]]; then stop_real_node; fi
  local n
  for n in prometheus-operator kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do stop_pid "$n"; done
  if [[ -f $RUN/sysctls.saved ]]; then restore_host; fi
}

# stop_real_node: let the kubelet tear every pod down (CNI DEL, unmounts), then stop the node's
# processes and undo what they changed on the host.
stop_real_node() {
  local K=("$BIN/kubectl" --kubeconfig "$RUN/kubeconfig" --request-timeout=5s)
  local C=$RUN/containerd ctr=("$LINKS/ctr" --address "$RUN/containerd/containerd.sock" -n k8s.io)
  if [[ -f $RUN/kubelet.pid ]] && "${K[@]}" get --raw /readyz >/dev/null 2>&1; then
    stop_pid prometheus-operator
    "${K[@]}" delete statefulsets,deployments,daemonsets,replicasets,jobs --all -A --wait=false >/dev/null 2>&1 || true
    "${K[@]}" delete pods --all -A --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
    local end=$((SECONDS + 60))
    while ((SECONDS < end)) && [[ -n $("${ctr[@]}" tasks ls -q 2>/dev/null) ]]; do sleep 1; done
  fi
  stop_pid kubelet
  stop_pid kube-proxy
  # Whatever the kubelet left running: kill and delete its tasks and containers.
  if [[ -f $RUN/containerd.pid ]]; then
    local t
    for t in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
    sleep 1
    for t in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks delete -f "$t" >/dev/null 2>&1 || true; done
    for t in $("${ctr[@]}" containers ls -q 2>/dev/null); do "${ctr[@]}" containers rm "$t" >/dev/null 2>&1 || true; done
  fi
  stop_pid containerd
  # Shims outlive containerd by design; ours are the ones serving our socket.
  local p
  for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $C/containerd.sock" || true); do kill -9 "$p" 2>/dev/null || true; done
  "$BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  remove_kube_iptables
  # Mounts the kubelet and containerd made under our directory (deepest first), and the pods'
  # network namespaces.
  local m
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(awk -v d="$RUN/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r)
  for m in $(comm -13 <(sort "$RUN/netns.before" 2>/dev/null) <(ls /run/netns 2>/dev/null | sort)); do
    ip netns delete "$m" 2>/dev/null || true
  done
  # The kubelet's cgroups (cgroupfs driver): empty once every process is gone.
  for m in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/k8s.io; do
    [[ -d $m ]] && find "$m" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  rm -rf /var/lib/kubelet/device-plugins /var/lib/cni/results /run/containerd/s /run/containerd/fifo /run/containerd/runc
  rmdir /var/lib/kubelet /var/lib/cni /run/containerd 2>/dev/null || true
}

# remove_kube_iptables: the kubelet's own chains (KUBE-FIREWALL, KUBE-KUBELET-CANARY,
# KUBE-IPTABLES-HINT; kube-proxy --cleanup leaves them) and the jumps to them, in every table and
# both families; chains that existed before `up` are left alone.
remove_kube_iptables() {
  local ipt table chain rule
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for table in filter nat mangle; do
      local before=" $(sed -n "s/^$ipt $table \(KUBE-.*\)/\1/p" "$RUN/iptables.before" 2>/dev/null | tr '\n' ' ') "
      while read -r rule; do
        chain=${rule##*-j }; chain=${chain%% *}
        [[ $before == *" $chain "* ]] || eval "$ipt -t $table ${rule/#-A/-D}" 2>/dev/null || true
      done < <("$ipt-save" -t "$table" 2>/dev/null | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j KUBE-')
      for chain in $("$ipt-save" -t "$table" 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\).*/\1/p'); do
        [[ $before == *" $chain "* ]] || "$ipt" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$ipt-save" -t "$table" 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\).*/\1/p'); do
        [[ $before == *" $chain "* ]] || "$ipt" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

restore_host() {
  if [[ -f $RUN/bridge.created ]]; then ip link delete "$BRIDGE" 2>/dev/null || true; rm -f "$RUN/bridge.created"; fi
  local kv
  while read -r kv; do sysctl -qw "$kv" || true; done <"$RUN/sysctls.saved"
  rm -f "$RUN/sysctls.saved"
}

case ${1:-} in
build) shift; build "$@" ;;
up) shift; up "$@" ;;
down) down ;;
load-image) ctr_import "$2"; log "loaded $2 into the node's containerd" ;;
restart) restart "$2" ;;
bin-dir) echo "$LINKS" ;;
wait-crds) crds_established "$BIN/kubectl" --kubeconfig "$RUN/kubeconfig" ;;
env) echo "export KUBECONFIG=$RUN/kubeconfig PATH=$LINKS:\$PATH" ;;
*) echo "usage: $0 build [kube|node|images|monitoring|all]|up [--kwok|--real-node]|down|load-image FILE|restart etcd|kube-apiserver|bin-dir|wait-crds|env" >&2; exit 2 ;;
esac
