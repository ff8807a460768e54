#!/usr/bin/env bash
# The nflbet OCI image, without a Docker daemon or a base image (`make image`).
#
#   hack/image.sh [build]   cargo build --release --locked, then write
#                           target/image/nflbet-<tag>.oci.tar (ref <repo>:<tag>) and print its
#                           digest and how to load or push it
#   hack/image.sh verify    build, then run the image with runc as the chart runs it (uid 65532,
#                           read-only root filesystem, no capabilities): --version, crds, a
#                           long-running scraper (uid, read-only root and /metrics checked from
#                           outside) and TLS with the image's CA bundle
#
# Environment:
#   IMAGE_REPO          repository; default: the chart's image.repository (localhost/nflbet)
#   IMAGE_TAG           tag; default: the crate version, which is the chart's appVersion
#   IMAGE_OUT           archive to write; default: target/image/nflbet-<tag>.oci.tar
#   NFLBET_BINARY       put this binary at /nflbet instead of building target/release/nflbet
#                       (tests use a small stand-in)
#   SOURCE_DATE_EPOCH   every timestamp in the image (default 0): same inputs, same digest
#
# The image holds what the Dockerfile's distroless result holds for nflbet: /nflbet, the shared
# libraries `ldd` reports and the dynamic loader (from this host, at their paths), Debian's CA
# bundle at /etc/ssl/certs/ca-certificates.crt (SSL_CERT_FILE, as distroless sets it),
# /etc/passwd and /etc/group with nonroot 65532, /etc/nsswitch.conf, /etc/os-release, dpkg
# status and copyright of the packages the files come from, /tmp (1777), /home/nonroot; user
# 65532:65532, entrypoint /nflbet, cmd operator, port 8080 and the Dockerfile's labels.
# hack/image/oci.py writes it (see its header for its options).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OCI="python3 $ROOT/hack/image/oci.py"

die() { echo "image.sh: $*" >&2; exit 1; }

crate_version() { sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1; }
chart_app_version() { sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/nflbet-operator/Chart.yaml; }
chart_repository() { sed -n '/^image:/,/^[^ #]/s/^  repository: *//p' charts/nflbet-operator/values.yaml | head -1; }

VERSION=$(crate_version)
[[ -n $VERSION ]] || die "no version in Cargo.toml"
if [[ -z ${IMAGE_TAG:-} && $(chart_app_version) != "$VERSION" ]]; then
  die "Chart.yaml appVersion $(chart_app_version) != Cargo.toml version $VERSION: the chart would run another tag than this builds"
fi
REPO=${IMAGE_REPO:-$(chart_repository)}
[[ -n $REPO ]] || die "no image.repository in charts/nflbet-operator/values.yaml; set IMAGE_REPO"
TAG=${IMAGE_TAG:-$VERSION}
OUT=${IMAGE_OUT:-target/image/nflbet-$TAG.oci.tar}

build() {
  local bin=${NFLBET_BINARY:-}
  if [[ -z $bin ]]; then
    cargo build --release --locked --bin nflbet
    bin=target/release/nflbet
  fi
  [[ -x $bin ]] || die "$bin is not an executable"
  mkdir -p "$(dirname "$OUT")"
  # The same labels as the Dockerfile (tests/integration/image.rs compares them).
  DIGEST=$($OCI --ref "$REPO:$TAG" --out "$OUT" \
    --file "$bin:/nflbet:0755" \
    --ldd-of "$bin" \
    --debian-ca-certs \
    --file hack/image/etc/passwd:/etc/passwd:0644 \
    --file hack/image/etc/group:/etc/group:0644 \
    --file hack/image/etc/nsswitch.conf:/etc/nsswitch.conf:0644 \
    --file /etc/os-release:/etc/os-release:0644 \
    --dpkg-metadata \
    --dir /tmp:1777 \
    --dir /home/nonroot:0700:65532:65532 \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --user 65532:65532 \
    --workdir /home/nonroot \
    --entrypoint /nflbet \
    --cmd operator \
    --expose 8080/tcp \
    --label org.opencontainers.image.title=nflbet \
    --label "org.opencontainers.image.description=Kubernetes operator for NFL betting operations" \
    --label org.opencontainers.image.source=https://github.com/nflbet/nflbet \
    --label org.opencontainers.image.licenses=Apache-2.0 \
    --label "org.opencontainers.image.version=$TAG")
  local size
  size=$(du -h "$OUT" | cut -f1)
  echo
  echo "Image   $REPO:$TAG"
  echo "Digest  $DIGEST"
  echo "Archive $OUT ($size)"
  local dest=$REPO set_repo=" --set image.repository=$REPO"
  local retag=""
  if [[ $REPO == "$(chart_repository)" ]]; then
    dest=REGISTRY/nflbet set_repo="" retag=" && TOOL tag $REPO:$TAG REGISTRY/nflbet:$TAG"
  fi
  cat <<EOF

Push it (skopeo --preserve-digests keeps the digest above; crane push of the archive converts to
Docker media types, podman and docker may compress again: then the registry's digest differs):
  skopeo copy --preserve-digests oci-archive:$OUT docker://$dest:$TAG
  crane push $OUT $dest:$TAG
  podman load -i $OUT${retag//TOOL/podman} && podman push $dest:$TAG
  docker load -i $OUT${retag//TOOL/docker} && docker push $dest:$TAG
then: helm install nflbet charts/nflbet-operator -n nflbet-system --create-namespace --set image.repository=$dest
Or load it into each node's container runtime, no registry:
  kind load image-archive $OUT --name CLUSTER
  ctr -n k8s.io images import $OUT    # on each containerd node
then: helm install nflbet charts/nflbet-operator -n nflbet-system --create-namespace$set_repo
EOF
}

# --- verify: run the image with runc ------------------------------------------------------------

verify() {
  [[ $(id -u) == 0 ]] || die "verify runs runc and needs root"
  command -v runc >/dev/null || die "runc not found (apt-get install -y runc)"
  command -v jq >/dev/null || die "jq not found (apt-get install -y jq)"
  local work id port
  work=$(mktemp -d "${TMPDIR:-/tmp}/nflbet-image-verify.XXXXXX")
  id="nflbet-image-verify-$$"
  # shellcheck disable=SC2064
  trap "runc delete -f $id >/dev/null 2>&1 || true; rm -rf '$work'" EXIT

  echo "== unpack $OUT (checks every digest)"
  $OCI unpack "$OUT" "$work/bundle"
  runc spec --bundle "$work/bundle"
  # As the chart and the generated Deployments run it: uid/gid 65532, read-only root, no
  # capabilities, no new privileges, emptyDirs at /tmp and /var/lib/nflbet, the node's
  # resolv.conf and hosts (the kubelet mounts them too). Host network, so /metrics can be read.
  # emptyDirs, as the kubelet makes them: world-writable directories (fsGroup aside).
  mkdir -m 1777 "$work/tmp" "$work/data"
  jq --slurpfile img "$work/bundle/image-config.json" --arg tmp "$work/tmp" --arg data "$work/data" '
    .process.terminal = false
    | .process.user = {uid: 65532, gid: 65532}
    | .process.env = ($img[0].config.Env + ["HOME=/home/nonroot"])
    | .process.cwd = $img[0].config.WorkingDir
    | .process.capabilities = {bounding: [], effective: [], permitted: [], inheritable: [], ambient: []}
    | .process.noNewPrivileges = true
    | .root.readonly = true
    | .linux.namespaces |= map(select(.type != "network"))
    | .mounts += [
        {destination: "/tmp", type: "bind", source: $tmp, options: ["rbind", "rw", "nosuid", "nodev"]},
        {destination: "/var/lib/nflbet", type: "bind", source: $data, options: ["rbind", "rw", "nosuid", "nodev"]},
        {destination: "/etc/resolv.conf", type: "bind", source: "/etc/resolv.conf", options: ["rbind", "ro"]},
        {destination: "/etc/hosts", type: "bind", source: "/etc/hosts", options: ["rbind", "ro"]}
      ]' "$work/bundle/config.json" >"$work/config.base.json"

  # run ARGS...: the image's entrypoint with ARGS (none: its cmd), in the foreground.
  run() {
    local args
    args=$(jq -cn '$ARGS.positional' --args -- "$@")
    jq --slurpfile img "$work/bundle/image-config.json" --argjson args "$args" \
      '.process.args = $img[0].config.Entrypoint + (if $args == [] then $img[0].config.Cmd else $args end)' \
      <"$work/config.base.json" >"$work/bundle/config.json"
    runc run --bundle "$work/bundle" "$id" </dev/null
  }

  echo "== nflbet --version (uid 65532, read-only root)"
  local out
  out=$(run --version)
  echo "$out"
  [[ $out == *"$VERSION"* ]] || die "--version printed no $VERSION"

  echo "== nflbet crds"
  out=$(run crds)
  grep -q 'name: sportsbooks.betting.nflbet.dev' <<<"$out" || die "nflbet crds printed no Sportsbook CRD"
  echo "$(grep -c '^kind: CustomResourceDefinition' <<<"$out") CRDs printed"

  echo "== a scraper left running: its uid, its root filesystem, its /metrics"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  jq --slurpfile img "$work/bundle/image-config.json" --arg port "$port" \
    '.process.args = $img[0].config.Entrypoint + ["scrape", "--sportsbook=verify", "--provider=genericJson",
       "--endpoint=http://127.0.0.1:9/", "--poll-interval=1h", "--listen=127.0.0.1:" + $port]' \
    <"$work/config.base.json" >"$work/bundle/config.json"
  runc run --detach --bundle "$work/bundle" "$id" </dev/null >"$work/scraper.log" 2>&1
  local pid metrics=""
  pid=$(runc state "$id" | jq -r .pid)
  for _ in $(seq 50); do
    metrics=$(curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null) && break
    sleep 0.2
  done
  [[ -n $metrics ]] || { cat "$work/scraper.log"; die "the scraper's /metrics did not answer"; }
  grep -E '^(Uid|Gid|CapEff):' "/proc/$pid/status"
  grep -qE '^Uid:\s+65532\s+65532\s+65532\s+65532$' "/proc/$pid/status" || die "the scraper does not run as uid 65532"
  grep -qE '^CapEff:\s+0+$' "/proc/$pid/status" || die "the scraper has capabilities"
  awk '$5 == "/" {print "root mount options:", $6}' "/proc/$pid/mountinfo"
  awk '$5 == "/" && $6 ~ /(^|,)ro(,|$)/ {ro=1} END {exit !ro}' "/proc/$pid/mountinfo" || die "the root filesystem is writable"
  grep -m1 '^nflreadpy_' <<<"$metrics"
  echo "/metrics answered with $(grep -c '^nflreadpy_' <<<"$metrics") nflreadpy series"
  runc kill "$id" TERM
  for _ in $(seq 50); do [[ $(runc state "$id" 2>/dev/null | jq -r .status) == stopped ]] && break; sleep 0.2; done
  runc delete -f "$id"

  echo "== TLS with the image's CA bundle"
  local url=https://index.crates.io/config.json
  if curl -fsS -o /dev/null --max-time 10 "$url"; then
    # One poll of an HTTPS URL that serves JSON, not a feed: a poll that got through TLS fails on
    # the payload ("payload does not match"). With the image's own bundle (Debian's roots only) TLS must either
    # succeed, or, where this machine's egress re-signs TLS with a CA of its own, fail with
    # UnknownIssuer (roots loaded, that CA not among them). With this host's bundle (which has
    # such local CAs) mounted in its place, TLS must succeed: the binary reads that path.
    local through='payload does not match'
    out=$(run scrape --sportsbook=verify --provider=genericJson "--endpoint=$url" --once \
      --max-retries=0 2>&1 || true)
    if grep -q "$through" <<<"$out"; then
      echo "image bundle: TLS accepted (a public chain verified with Debian's roots)"
    elif grep -q 'invalid peer certificate: UnknownIssuer' <<<"$out"; then
      echo "image bundle: roots loaded; this machine's re-signed certificate rejected (UnknownIssuer)"
    else
      die "TLS with the image's bundle: neither accepted nor UnknownIssuer: $out"
    fi
    jq '.mounts += [{destination: "/etc/ssl/certs/ca-certificates.crt", type: "bind",
                     source: "/etc/ssl/certs/ca-certificates.crt", options: ["rbind", "ro"]}]' \
      "$work/config.base.json" >"$work/config.hostca.json"
    cp "$work/config.hostca.json" "$work/config.base.json"
    out=$(run scrape --sportsbook=verify --provider=genericJson "--endpoint=$url" --once \
      --max-retries=0 2>&1 || true)
    grep -q "$through" <<<"$out" || die "TLS with this host's bundle at /etc/ssl/certs/ca-certificates.crt failed: $out"
    echo "host bundle at the same path: TLS accepted"
  else
    echo "skipped: $url is not reachable from this host"
  fi
  echo "verified: $REPO:$TAG ($OUT)"
}

case ${1:-build} in
  build) build ;;
  verify) build; verify ;;
  *) die "usage: hack/image.sh [build|verify]" ;;
esac
