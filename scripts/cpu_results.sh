#!/usr/bin/env bash
# The README's CPU results table, from the recipes in recipes/cpu/: for each dataset, the Q-value
# model (collect-rollouts -> label -> train-q on questions 300-699), then the six methods (greedy,
# self-consistency, best-of-N, beam, MCTS, A*) on the same 100 evaluation questions (100-199),
# then one `qstar report` over all of them (paired tests against greedy, plot, A*/beam/MCTS trees).
# Every stage resumes, so rerunning after an interruption finishes the work without redoing it.
#
#   make results                         # or: scripts/cpu_results.sh
#   DATASETS=mawps METHODS="greedy astar" scripts/cpu_results.sh
#
# Knobs (environment): DATASETS (default "mawps svamp"), METHODS, QSTAR (the command), REPORT
# (the report folder, default runs/cpu/report) and EXTRA (more flags for every stage command,
# e.g. "--set policy.backend=hf").
set -euo pipefail

DATASETS=${DATASETS:-"mawps svamp"}
METHODS=${METHODS:-"greedy self-consistency best-of-n beam mcts astar"}
QSTAR=${QSTAR:-qstar}
REPORT=${REPORT:-runs/cpu/report}
read -r -a extra <<< "${EXTRA:-}"

runs=()
for ds in $DATASETS; do
  qvm=recipes/cpu/$ds/qvm.yaml
  $QSTAR collect-rollouts --recipe "$qvm" "${extra[@]}"
  $QSTAR label --recipe "$qvm" "${extra[@]}"
  $QSTAR train-q --recipe "$qvm" "${extra[@]}"
  for method in $METHODS; do
    $QSTAR eval --recipe "recipes/cpu/$ds/$method.yaml" "${extra[@]}"
    runs+=("runs/cpu/$ds/eval-$method")
  done
done
$QSTAR report "${runs[@]}" --baseline greedy --out "$REPORT"
