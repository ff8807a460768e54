#!/usr/bin/env bash
# Install what the tests need beyond Rust and Go, from Debian's packages:
#   promtool / amtool (prometheus, prometheus-alertmanager) check generated rules and routing;
#   lua5.4 runs the Argo CD health check; openssl and curl are used by hack/testenv/testenv.sh;
#   python3 picks free ports and writes images (hack/image/oci.py); chromium draws the replay report.
# Idempotent: does nothing when everything is present.
set -euo pipefail
need=()
command -v promtool >/dev/null || need+=(prometheus)
command -v amtool >/dev/null || need+=(prometheus-alertmanager)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
# Argo CD health checks are Lua; the chart tests run deploy/argocd/health.lua for real.
command -v lua5.4 >/dev/null || need+=(lua5.4)
# The real test node (hack/testenv/testenv.sh up --real-node): runc runs the containers, the CNI
# plugins make the pod network, iptables and conntrack serve kube-proxy.
command -v runc >/dev/null || need+=(runc)
[[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
command -v iptables >/dev/null || need+=(iptables)
command -v conntrack >/dev/null || need+=(conntrack)
# strace kills a snapshot writer at an exact system call (the atomicity tests).
command -v strace >/dev/null || need+=(strace)
# Headless Chromium renders the replay's HTML report (tests/integration/replay_report.rs).
[[ -x /usr/bin/chromium ]] || need+=(chromium)
if ((${#need[@]})); then
  echo "[install-deps] apt-get install ${need[*]}" >&2
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  # The packages' services must not start here: they are only used as command-line tools.
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v promtool >/dev/null && command -v amtool >/dev/null && command -v lua5.4 >/dev/null
echo "[install-deps] promtool $(promtool --version 2>&1 | head -1 | awk '{print $3}'), amtool present" >&2
