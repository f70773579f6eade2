#!/usr/bin/env bash
# Installs everything swarmkit-py needs on a fresh Debian machine and builds the
# Rust extension once (pip install -e . runs maturin). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# mariadb-server: the mysql storage's tests start private servers (no system one is used).
# etcd-server: the etcd baseline of `swarmctl bench raft` (3 members on loopback).
apt_packages=(protobuf-compiler openssl golang-cfssl busybox-static mariadb-server etcd-server)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# raft-proto's build script runs protoc; an old one on PATH breaks it.
export PROTOC=/usr/bin/protoc

python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -r requirements-dev.txt
# Builds the Rust extension (release) into the environment.
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-build-isolation -e .
# First-party plugins, each its own package (found through its entry point).
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -e plugins/swarmkit-docker
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -e plugins/swarmkit-mysql
# The Docker runtime's tests run real containers of a tiny local image.
if [[ "${SWARMKIT_SKIP_DOCKER:-}" != 1 ]]; then
  ./scripts/test-image.sh || echo "setup: no test images; the Docker runtime tests will fail" >&2
fi
