#!/usr/bin/env bash
# dead-rank.sh MODE MODEL DATA OUT - starts a long two-rank `kiln train` under
# mpirun, lets it run for a second, then stops (MODE=hang: SIGSTOP, a rank
# that hangs) or kills (MODE=kill: SIGKILL, a rank that dies) rank 1. Prints
# how the job ended and fails unless it ended with an error, and within
# --collective-timeout (3 s) plus a margin. OUT receives the job's output.
set -uo pipefail
mode=$1 model=$2 data=$3 out=$4
timeout=3 margin=20

mpirun --oversubscribe -np 2 kiln train "$model" --data "$data" --batch 8 \
  --epochs 100000000 --collective-timeout $timeout >"$out" 2>&1 &
job=$!
# Wait until both ranks train (the first epoch line), at most 30 s.
for _ in $(seq 300); do
  grep -q '^epoch 1/' "$out" 2>/dev/null && break
  sleep 0.1
done
rank1=""
for pid in $(pgrep -f "kiln train $model"); do
  if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null |
       grep -qx OMPI_COMM_WORLD_RANK=1; then
    rank1=$pid
  fi
done
if [[ -z $rank1 ]]; then
  echo "dead-rank.sh: rank 1 not found"; kill $job; exit 1
fi
signal=$([[ $mode == hang ]] && echo STOP || echo KILL)
start=$(date +%s)
kill -$signal "$rank1"
# The job must end by itself; a watchdog ends it (and the test) otherwise.
( sleep $((timeout + margin)); kill -KILL "$rank1" $job ) >/dev/null 2>&1 &
watchdog=$!
wait $job
status=$?
elapsed=$(($(date +%s) - start))
pkill -P $watchdog 2>/dev/null
kill $watchdog 2>/dev/null
echo "rank 1 got SIG$signal; the job ended with status $status after ${elapsed} s"
((status != 0 && elapsed <= timeout + margin - 1))
