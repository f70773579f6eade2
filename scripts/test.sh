#!/usr/bin/env bash
# Sets up a fresh machine (scripts/setup.sh, which builds the extension once)
# and runs every check: Rust format, clippy and tests; ruff, mypy and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PROTOC=/usr/bin/protoc

step() { printf '\n==> %s\n' "$*"; }

step "rustfmt"
cargo fmt --all -- --check
step "clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
step "cargo test (Rust core)"
cargo test -p swarmkit-core --quiet
step "ruff"
ruff check python tests benches plugins
ruff format --check python tests benches plugins
step "mypy"
mypy
mypy plugins/swarmkit-lowest-load
# Its tests apart: their conftest.py and swarmkit-docker's are both "conftest" to mypy.
mypy plugins/swarmkit-mysql
step "pytest"
python3 -m pytest -q -p no:cacheprovider
step "pytest (plugins/swarmkit-lowest-load, loaded from its source tree)"
python3 -m pytest -q -p no:cacheprovider plugins/swarmkit-lowest-load
