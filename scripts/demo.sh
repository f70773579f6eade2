#!/usr/bin/env bash
# Sets up a fresh machine (scripts/setup.sh) and runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec python3 -m swarmkit_py.demo "$@"
