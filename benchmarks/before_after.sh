#!/usr/bin/env bash
# The step, sparse and rollout benchmarks on an earlier revision and on the working tree, alternating in one
# run (timings on a shared machine drift within minutes, so each pair is measured close in time).
# Usage: bash benchmarks/before_after.sh REV [ROUNDS]   (run from the repository root, after the README set-up)
set -euo pipefail
REV=${1:?give the earlier revision, e.g. a commit hash}
ROUNDS=${2:-2}
ROOT=$(pwd)
OLD=$(mktemp -d)
git worktree add -q --detach "$OLD" "$REV"
trap 'git worktree remove --force "$OLD"' EXIT
run() {  # run <label> <source dir> <script and args...>
  local label=$1 dir=$2; shift 2
  echo "== $label: $*"
  (cd "$dir" && PYTHONPATH="$dir/src" "$ROOT/.venv/bin/python" "$@" 2>&1 | grep -v -i "warn")
}
for r in $(seq "$ROUNDS"); do
  echo "#### round $r"
  run "before ($REV)" "$OLD" benchmarks/step.py
  run "after (working tree)" "$ROOT" benchmarks/step.py --compile
  run "before ($REV)" "$OLD" benchmarks/sparse.py --calls
  run "after (working tree)" "$ROOT" benchmarks/sparse.py --calls
  run "before ($REV)" "$OLD" benchmarks/rollout.py --episodes 50
  run "after (working tree)" "$ROOT" benchmarks/rollout.py --episodes 50
done
