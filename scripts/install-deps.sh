#!/usr/bin/env bash
# Installs the Debian 12 packages shardd needs to build, run and test.
# Idempotent; run as root. Usage: scripts/install-deps.sh [--test]
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build ccache mold pkg-config git ca-certificates
  libboost-dev libssl-dev zlib1g-dev
  libspdlog-dev libfmt-dev nlohmann-json3-dev libtomlplusplus-dev libcli11-dev
  libsystemd-dev libsqlite3-dev libmariadb-dev libhiredis-dev
  mariadb-client
)
test_pkgs=(
  libgtest-dev libgmock-dev python3 python3-websockets openssl curl procps
  mariadb-server redis-server
  clang libclang-rt-14-dev
  chromium fonts-liberation
)

want=("${build_pkgs[@]}")
if [[ "${1:-}" == "--test" ]]; then
  want+=("${test_pkgs[@]}")
fi

# Node.js and npm run the SDK and browser tests (npm installs their pinned
# test tools). A machine that already has them (from any source: Debian's
# nodejs 18 or a newer one) keeps what it has.
if [[ "${1:-}" == "--test" ]]; then
  command -v node >/dev/null || want+=(nodejs)
  command -v npm >/dev/null || want+=(npm)
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if (( ${#missing[@]} )); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages: ${missing[*]} (run as root)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "install-deps: all ${#want[@]} packages present"
