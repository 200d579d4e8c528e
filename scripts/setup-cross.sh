#!/usr/bin/env bash
# Installs the cross toolchains of edgenas's built-in targets (see `edgenas targets`):
# Debian packages (cross gcc + libc for aarch64 and armhf, qemu-user, the bare-metal Arm
# gcc + newlib, qemu-system-arm; ~200 MB with --no-install-recommends) and the rustup
# targets. Idempotent: apt is skipped when every package is installed (scripts/apt-ensure.sh),
# and rustup adds only what is missing. Uses sudo for apt only when not root.
# Keep the lists in step with apt_packages / rustup_target in targets/builtin/*.toml
# (tests/targets.rs checks that).
set -euo pipefail

APT_PACKAGES=(
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross
  gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
  qemu-user
  gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
)
RUSTUP_TARGETS=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf thumbv7em-none-eabihf)

bash "$(dirname "$0")/apt-ensure.sh" "${APT_PACKAGES[@]}"
echo "setup-cross: apt packages installed"

if ! command -v rustup >/dev/null; then
  echo "setup-cross: rustup not on PATH; add the targets with: rustup target add ${RUSTUP_TARGETS[*]}" >&2
  exit 1
fi
installed="$(rustup target list --installed)"
want=()
for t in "${RUSTUP_TARGETS[@]}"; do
  if ! grep -qx "$t" <<<"$installed"; then
    want+=("$t")
  fi
done
if [ "${#want[@]}" -eq 0 ]; then
  echo "setup-cross: rustup targets already installed"
else
  rustup target add "${want[@]}"
fi
echo "setup-cross: done; check with: edgenas targets --check"
