#!/usr/bin/env bash
# Prints the directory that holds the third-party files tests, benchmarks and `make demo` read:
#   third_party/prometheus-operator-crds/  prometheus-operator v0.93.0 CRDs (and its LICENSE)
#   data/nfl_games.csv                     nflverse games (nflverse/nfldata data/games.csv)
#
# In order:
#   1. $NFLBET_SHARED_DIR, when set (it must hold the files: a directory asked for by name is
#      never replaced by a download);
#   2. ../shared beside the clone, when it holds them (the developers' and CI's setup);
#   3. otherwise a cache outside the clone, ${XDG_CACHE_HOME:-~/.cache}/nflbet/shared-<pin>,
#      filled from the pinned upstream URLs below and checked against their SHA-256 sums.
# `--fetch` skips 1 and 2 (fill or check the cache and print it).
#
# Environment:
#   NFLBET_SHARED_MIRROR  one base URL serving the same layout (third_party/..., data/...), e.g. an
#                         internal mirror or a test server on 127.0.0.1; the checksums still apply
#   NFLBET_CACHE_DIR      the cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/nflbet)
#
# A file in the cache is used only when its checksum matches; a download is written beside it and
# moved into place only after its checksum matched, so an interrupted or tampered download never
# becomes a cached file. Nothing is ever written into the clone.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Pins. The prometheus-operator files are byte-identical to the v0.93.0 tag's
# example/prometheus-operator-crd/ (and its LICENSE); the games file is nfldata's data/games.csv at
# the commit named in shared/data/README.md.
PROMOP_VERSION=v0.93.0
PROMOP_URL=https://raw.githubusercontent.com/prometheus-operator/prometheus-operator/$PROMOP_VERSION
NFLDATA_COMMIT=00011d0f40b6ae7a9c3003a637e79ac6c17d12e2
NFLDATA_URL=https://raw.githubusercontent.com/nflverse/nfldata/$NFLDATA_COMMIT
# path in the layout | upstream URL | SHA-256
FILES=(
  "third_party/prometheus-operator-crds/monitoring.coreos.com_alertmanagerconfigs.yaml|$PROMOP_URL/example/prometheus-operator-crd/monitoring.coreos.com_alertmanagerconfigs.yaml|fed47c462483a47a4d1912bf8a7a3767618644cfdee86dc73d7624c55d6a8b9d"
  "third_party/prometheus-operator-crds/monitoring.coreos.com_podmonitors.yaml|$PROMOP_URL/example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml|45a93443daa687d3654f7e9631909ff7edcdf3ec09c5e60251b74aa2722aee5d"
  "third_party/prometheus-operator-crds/monitoring.coreos.com_prometheusrules.yaml|$PROMOP_URL/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml|78be98554b9c8506ab2b4f4feb91c5f3a56e536a0a510f3a8e876a459970d56d"
  "third_party/prometheus-operator-crds/monitoring.coreos.com_servicemonitors.yaml|$PROMOP_URL/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml|a99047972c9dd7679ce2050b9968e8a08773492e671b3e17abd476d42aa78a32"
  "third_party/prometheus-operator-crds/LICENSE|$PROMOP_URL/LICENSE|d944a57b4a9807adbf98cf93ebe7b30e70b43d4742dda15640b86d099a7f65f3"
  "data/nfl_games.csv|$NFLDATA_URL/data/games.csv|1001c69e362c29f2c11ba4b0bde11279d694f02a9817f8d5e3ef7920a338541d"
)

say() { echo "[shared-data] $*" >&2; }

# complete DIR: whether DIR holds every file (presence only: a directory named by the user or
# ../shared is theirs, not a cache this script vouches for).
complete() {
  local entry
  for entry in "${FILES[@]}"; do [[ -f $1/${entry%%|*} ]] || return 1; done
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }

fetch=0
case ${1:-} in
  --fetch) fetch=1 ;;
  "") ;;
  *) echo "usage: $0 [--fetch]" >&2; exit 2 ;;
esac

if [[ $fetch == 0 ]]; then
  if [[ -n ${NFLBET_SHARED_DIR:-} ]]; then
    if ! complete "$NFLBET_SHARED_DIR"; then
      say "NFLBET_SHARED_DIR=$NFLBET_SHARED_DIR lacks the test data (third_party/prometheus-operator-crds/, data/nfl_games.csv);"
      say "unset it to use ../shared or the download cache, or run: $0 --fetch"
      exit 1
    fi
    echo "$NFLBET_SHARED_DIR"
    exit 0
  fi
  beside=$(cd "$ROOT/.." && pwd)/shared
  if complete "$beside"; then
    echo "$beside"
    exit 0
  fi
fi

command -v curl >/dev/null || { say "curl is needed to download the test data (apt-get install curl)"; exit 1; }
cache_root=${NFLBET_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/nflbet}
# Keyed by the pins, so a new pin never mixes with an old download.
key=$(printf '%s\n' "${FILES[@]}" | sha256sum | cut -c1-12)
dir=$cache_root/shared-$key
mkdir -p "$dir"

downloaded=0
for entry in "${FILES[@]}"; do
  IFS='|' read -r rel url want <<<"$entry"
  [[ -z ${NFLBET_SHARED_MIRROR:-} ]] || url=${NFLBET_SHARED_MIRROR%/}/$rel
  dest=$dir/$rel
  if [[ -f $dest ]]; then
    [[ $(sha256 "$dest") == "$want" ]] && continue
    say "$dest does not match its checksum: downloading it again"
  fi
  mkdir -p "$(dirname "$dest")"
  tmp=$(mktemp "$dest.XXXXXX.part")
  say "downloading $url"
  if ! err=$(curl -fsSL --retry 2 --connect-timeout 10 --max-time 300 -o "$tmp" "$url" 2>&1); then
    rm -f "$tmp"
    say "cannot download $url: ${err:-curl failed}"
    say "offline? The tests and the demo need these files. Either:"
    say "  - run this again with network access (they are cached in $dir), or"
    say "  - put them in a directory with the same layout and set NFLBET_SHARED_DIR to it, or"
    say "  - serve that layout from a mirror and set NFLBET_SHARED_MIRROR to its base URL."
    exit 1
  fi
  got=$(sha256 "$tmp")
  if [[ $got != "$want" ]]; then
    rm -f "$tmp"
    say "refusing $url: SHA-256 $got, expected $want (pinned in hack/shared-data.sh); it was not cached"
    exit 1
  fi
  chmod 0644 "$tmp"
  mv -f "$tmp" "$dest"
  downloaded=$((downloaded + 1))
done
if [[ $downloaded -gt 0 ]]; then
  say "$downloaded file(s) downloaded and verified into $dir"
else
  say "using the cached, verified copy in $dir"
fi
echo "$dir"
