#!/bin/sh
# Stand-in for `scp`/`adb pull`: pull.sh DEVICE REMOTE LOCAL copies REMOTE on the stand-in
# device DEVICE back to LOCAL.
set -eu
[ $# -eq 3 ] || { echo "pull.sh: expected DEVICE REMOTE LOCAL, got $# arguments" >&2; exit 64; }
local_path=$3
case $local_path in /*) ;; *) local_path=$PWD/$local_path ;; esac
cd "$1"
cp "$2" "$local_path"
