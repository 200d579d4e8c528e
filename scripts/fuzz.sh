#!/usr/bin/env bash
# Fuzzes the readers of untrusted input for SECONDS each (default 60): the ONNX importer
# (and the precision planners), the .npy reader, genome JSON, target TOML, the MCU importer
# (with its lowering and reference interpreter). Panicking inputs
# land in fuzz/crashes/ (commit them as regression tests in fuzz/tests/crashes_found.rs);
# an allocation over 1 GiB stops the run with its input in the same place.
#   bash scripts/fuzz.sh 600            # ten minutes per target
#   bash scripts/fuzz.sh 60 onnx 7      # one target, mutation seed 7
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
which=${2:-all}
seed=${3:-0}
cargo build -q -p edgenas-fuzz
for target in onnx npy genome target mcu; do
  if [ "$which" = all ] || [ "$which" = "$target" ]; then
    target/debug/edgenas-fuzz "$target" --seconds "$seconds" --seed "$seed" --crashes fuzz/crashes
  fi
done
