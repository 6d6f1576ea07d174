#!/usr/bin/env bash
# Several sweep commands on one store, as several machines would run them. Each command below is what you type
# on one machine; here both run on this one, against a journal file (on a cluster: a path on the shared file
# system, or a PostgreSQL URL). Usage: bash examples/sweeps/many-workers.sh [STORE]
#   STORE: a journal path (default runs/many-workers/store.journal in the repository; a relative path you give is
#   relative to the directory you run this from) or postgresql://user:pass@host/db
set -euo pipefail
STORE=${1:-runs/many-workers/store.journal}
if [ $# -ge 1 ]; then  # a relative path you give is relative to where you run this, not to the repository
  case "$STORE" in *://* | /*) ;; *) STORE="$(pwd)/$STORE" ;; esac
fi
cd "$(dirname "$0")/../.."
BIN=.venv/bin/balancedrnn
SWEEP=(sweep --name many-workers --sampler grid --models dense,uniform:0.2,balanced --seeds 2 --budget 30000
       --set epochs=1 --set n_train=200 --set n_val=100 --set n_test=100 --workers 1 --storage "$STORE" --quiet)
"$BIN" "${SWEEP[@]}" > runs-machine-a.log 2>&1 &   # "machine A"
A=$!
"$BIN" "${SWEEP[@]}" > runs-machine-b.log 2>&1 &   # "machine B"
B=$!
STATUS=0  # a sweep's exit code (docs/sweeps.md) is this script's: 1 when a trial failed or a config is missing
wait "$A" || STATUS=$?
wait "$B" || STATUS=$?
cat runs-machine-a.log runs-machine-b.log
rm -f runs-machine-a.log runs-machine-b.log
# every config ran once, by one of the two commands
"$BIN" runs --name many-workers --storage "$STORE"
exit "$STATUS"
