#!/bin/sh
# Stand-in for `ssh board`/`adb shell`: run.sh DEVICE PROGRAM ARGS... runs PROGRAM (a path
# on the stand-in device DEVICE) with ARGS in DEVICE, as a login shell there would.
set -eu
[ $# -ge 2 ] || { echo "run.sh: expected DEVICE PROGRAM [ARGS...]" >&2; exit 64; }
cd "$1"
program=$2
shift 2
case $program in /*) ;; *) program=./$program ;; esac
exec "$program" "$@"
