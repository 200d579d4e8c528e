#!/usr/bin/env bash
# Runs every test of the workspace. Makes (or updates) the Python venv with the peers the
# tests check against (onnx checker, onnxruntime) in .venv first; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r tests/peer/requirements.txt
export EDGENAS_PYTHON="$PWD/.venv/bin/python"
cargo test --workspace "$@"
