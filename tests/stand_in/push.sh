#!/bin/sh
# Stand-in for `scp`/`adb push`: push.sh DEVICE LOCAL REMOTE copies LOCAL to REMOTE on the
# stand-in device, a local directory DEVICE that remote paths are relative to (as an ssh
# login's home is). Exactly three arguments, so a path split at a space fails loudly.
set -eu
[ $# -eq 3 ] || { echo "push.sh: expected DEVICE LOCAL REMOTE, got $# arguments" >&2; exit 64; }
cd "$1"
cp "$2" "$3"
