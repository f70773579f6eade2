#!/usr/bin/env bash
# Installs everything swarmkit-py needs on a fresh Debian machine and builds the
# Rust extension once (pip install -e . runs maturin). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(protobuf-compiler openssl golang-cfssl)
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
