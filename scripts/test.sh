#!/usr/bin/env bash
# Runs every test of the workspace (and the int8 kernels' under qemu-aarch64), then the
# library examples, and prints how long each
# test binary took. First installs what the tests run against: the cross toolchains the
# target tests build and emulate with (scripts/setup-cross.sh), OpenSSH's server and client
# for the remote-device tests, and the Python venv in .venv with the peers the tests check
# against (onnx checker, onnxruntime, numpy) and the trainer's JAX. Idempotent.
#
# Runner builds made by the tests use opt-level 1 (cargo's CARGO_PROFILE_RELEASE_OPT_LEVEL):
# the tests check what runners compute and that instruction counts repeat, never how fast
# they are, and a tract build at opt-level 1 takes about half the time (the int8 kernels
# stay at opt-level 3, see Cargo.toml: a test compares their instruction counts). `edgenas compile`,
# `bench` and `search` outside this script build optimized runners.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
bash scripts/setup-cross.sh
bash scripts/apt-ensure.sh openssh-server openssh-client redis-server
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r tests/peer/requirements.txt
setup=$((SECONDS - started))
export EDGENAS_PYTHON="$PWD/.venv/bin/python"
export EDGENAS_CACHE_DIR="${EDGENAS_CACHE_DIR:-$PWD/target/edgenas-cache}"
export CARGO_PROFILE_RELEASE_OPT_LEVEL=1
# One build, nothing to reuse: incremental state would only take disk (0.7 GB).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Copies cargo's output to stdout as it comes and, time-stamped, to $log for the table.
stamp() {
  while IFS= read -r line; do
    printf '%s %s\n' "$EPOCHREALTIME" "$line" >>"$log"
    [[ $line == "__rc "* ]] || printf '%s\n' "$line"
  done
}
set +e
test_start=$EPOCHREALTIME
# Then the int8 kernels' tests again, cross-built for aarch64 and run under qemu-aarch64
# on a Cortex-A76 (dot product) and a Cortex-A72 (NEON only): EDGENAS_EXPECT_ISA makes
# each run prove which kernels it checked.
kernels_under_qemu() {
  local cpu isa rc=0
  for pair in cortex-a76:dotprod cortex-a72:baseline; do
    cpu=${pair%%:*} isa=${pair##*:}
    EDGENAS_EXPECT_ISA=$isa \
      CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
      CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -cpu $cpu -L /usr/aarch64-linux-gnu" \
      cargo test -p edgenas-kernels --target aarch64-unknown-linux-gnu --no-fail-fast 2>&1 || rc=1
  done
  return $rc
}
{
  cargo test --workspace --no-fail-fast "$@" 2>&1
  rc=$?
  kernels_under_qemu || rc=1
  echo "__rc $rc"
} | stamp
test_rc=$(awk '$2 == "__rc" { print $3 }' "$log")
example_start=$EPOCHREALTIME
example_dir=$(mktemp -d)
example_rc=0
cargo run -q --example custom_search -- "$example_dir/run" 2>&1 | tail -n 4 || example_rc=1
cargo run -q --example quickstart 2>&1 | tail -n 3 || example_rc=1
example_end=$EPOCHREALTIME
rm -rf "$example_dir"
set -e

awk -v start="$test_start" -v ex_start="$example_start" -v ex_end="$example_end" -v setup="$setup" '
  function flush(t) { if (cur != "") { dur[cur] += t - t0; if (!(cur in seen)) { seen[cur] = 1; order[++n] = cur } } }
  $2 == "Running" || $2 == "Doc-tests" {
    t = $1; flush(t)
    if ($2 == "Doc-tests") { cur = "doc-tests " $3 }
    else { bin = $NF; sub(/^.*\//, "", bin); sub(/-[0-9a-f]+\)$/, "", bin); cur = ($3 == "unittests") ? "unit tests of " bin : $3 }
    t0 = t; next
  }
  $2 == "Finished" && first == "" { first = $1 }
  $2 == "__rc" { flush($1); cur = "" }
  /test result:/ { s = $0; sub(/^.*test result: [a-zA-Z]+\. /, "", s); split(s, w, " "); p[cur] += w[1]; f[cur] += w[3] }
  END {
    printf "\n%-52s %8s %7s %7s\n", "step", "seconds", "passed", "failed"
    printf "%-52s %8d %7s %7s\n", "setup (apt, rustup, pip)", setup, "", ""
    printf "%-52s %8.1f %7s %7s\n", "build (until the first test binary ran)", (first == "" ? 0 : first - start), "", ""
    for (i = 1; i <= n; i++) { k = order[i]; printf "%-52s %8.1f %7d %7d\n", k, dur[k], p[k], f[k]; tp += p[k]; tf += f[k] }
    printf "%-52s %8.1f %7s %7s\n", "examples custom_search, quickstart (run)", ex_end - ex_start, "", ""
    printf "%-52s %8.1f %7d %7d\n", "total after setup", ex_end - start, tp, tf
  }' "$log"

echo "disk: target/ holds $(du -sh target 2>/dev/null | cut -f1), .venv $(du -sh .venv 2>/dev/null | cut -f1); $(df -h --output=avail . | tail -n 1 | tr -d ' ') left on the device"

if [ "${test_rc:-1}" -ne 0 ] || [ "$example_rc" -ne 0 ]; then
  echo "scripts/test.sh: FAILED (cargo test exit ${test_rc:-?}, example exit $example_rc)" >&2
  exit 1
fi
