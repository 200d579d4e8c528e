#!/usr/bin/env bash
# Runs every test of the workspace. First installs the cross toolchains the target tests
# build and emulate with (scripts/setup-cross.sh: apt + rustup, skipped when present) and
# makes (or updates) the Python venv with the peers the tests check against (onnx checker,
# onnxruntime) and the trainer's JAX in .venv; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-cross.sh
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r tests/peer/requirements.txt
export EDGENAS_PYTHON="$PWD/.venv/bin/python"
cargo test --workspace "$@"
