#!/bin/sh
# Stand-in for edgenas-runner on the stand-in device. It checks its argv against the runner
# contract (targets/src/device.rs) and takes its behaviour from the "model" file: line 1 is
# a mode, line 2 the LatencyStats JSON line to print (written by the test from
# LatencyStats::from_samples).
#   ok       print a log line, then the JSON line
#   fail     exit 3 with a message on stderr
#   hang     sleep far past any test timeout
#   garbage  print a line that is not JSON
#   flaky    fail on the first call, print the JSON line on later ones
#   outage   fail on the first three calls (a device gone for a while), then as flaky
# Every call appends a line to MODEL.calls, so tests count attempts.
# `run MODEL --input IN --output OUT` copies IN to OUT (an identity model).
set -eu
usage() { echo "runner stand-in: bad arguments: $*" >&2; exit 64; }
[ $# -ge 2 ] || usage "$@"
cmd=$1
model=$2
shift 2
[ -f "$model" ] || { echo "runner stand-in: no model at $model" >&2; exit 66; }
echo call >>"$model.calls"
calls=$(($(wc -l <"$model.calls")))
mode=$(sed -n 1p "$model")
case $cmd in
bench)
  input='' warmup='' repeat='' json=''
  while [ $# -gt 0 ]; do
    case $1 in
    --input | --warmup | --repeat)
      [ $# -ge 2 ] || usage "$1 without a value"
      case $1 in --input) input=$2 ;; --warmup) warmup=$2 ;; --repeat) repeat=$2 ;; esac
      shift 2
      ;;
    --json) json=1 && shift ;;
    *) usage "$1" ;;
    esac
  done
  [ -n "$warmup" ] && [ -n "$repeat" ] && [ -n "$json" ] || usage "--warmup, --repeat and --json are required"
  [ -z "$input" ] || [ -f "$input" ] || { echo "runner stand-in: no input at $input" >&2; exit 66; }
  ;;
run)
  [ $# -eq 4 ] && [ "$1" = --input ] && [ "$3" = --output ] || usage "$@"
  cp "$2" "$4"
  exit 0
  ;;
*) usage "$cmd" ;;
esac
case $mode in
ok) echo "loaded $model" && sed -n 2p "$model" ;;
fail) echo "runner: cannot open the model: corrupt header" >&2 && exit 3 ;;
hang) sleep 30 ;;
garbage) echo "Illegal instruction (core dumped)" ;;
flaky)
  if [ "$calls" -lt 2 ]; then echo "runner: device busy, try again" >&2 && exit 1; fi
  sed -n 2p "$model"
  ;;
outage)
  if [ "$calls" -lt 4 ]; then echo "ssh: connect to host board: Network is unreachable" >&2 && exit 255; fi
  sed -n 2p "$model"
  ;;
*) echo "runner stand-in: unknown mode $mode" >&2 && exit 70 ;;
esac
