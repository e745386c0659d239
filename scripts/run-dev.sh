#!/usr/bin/env bash
# Installs dependencies, builds shardd (Release) and runs it with
# config/shardd.toml: embedded defaults, no external servers. Ctrl-C drains and stops.
# Extra arguments are passed to shardd, e.g. --set log.level=debug
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
dir=$(scripts/build.sh --type Release --no-tests --no-bench | tail -n 1)
echo "run-dev: starting $dir/shardd -c config/shardd.toml $*"
echo "run-dev: play in a browser at http://127.0.0.1:7100/ (the /play client, clients/web)"
echo "run-dev: WebSocket ws://127.0.0.1:7100/ws, framed TCP 127.0.0.1:7101, admin http://127.0.0.1:7180/metrics"
exec "$dir/shardd" -c config/shardd.toml "$@"
