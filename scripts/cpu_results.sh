#!/usr/bin/env bash
# The README's CPU results table, from the recipes in recipes/cpu/<dataset>/: for each dataset, the
# Q-value model (collect-rollouts -> label -> train-q on training questions, qvm.yaml), then the six
# methods (greedy, self-consistency, best-of-N, beam, MCTS, A*) and self-consistency and best-of-N
# with 10 samples (about the tokens A* spends, for the equal-compute comparison) on the same 100 evaluation
# questions, then one `qstar report` over all of them (paired tests against greedy, plot, trees).
# Every stage resumes, so rerunning after an interruption finishes the work without redoing it.
#
#   make results                                   # SYNTHETIC arithmetic: about 25 min on 2 cores
#   make results DATASETS="mawps svamp"            # the real sets: several hours per set on 2 cores
#   DATASETS=mawps METHODS="greedy astar" scripts/cpu_results.sh
#
# Knobs (environment): DATASETS (default "synthetic"), METHODS, QSTAR (the command), REPORT
# (the report folder, default runs/cpu/report-<datasets>, e.g. runs/cpu/report-synthetic) and
# EXTRA (more flags for every stage command, e.g. "--set policy.backend=hf").
set -euo pipefail

DATASETS=${DATASETS:-synthetic}
METHODS=${METHODS:-"greedy self-consistency best-of-n beam mcts astar self-consistency-10 best-of-n-10"}
QSTAR=${QSTAR:-qstar}
DEFAULT_REPORT=runs/cpu/report-${DATASETS// /-}
REPORT=${REPORT:-$DEFAULT_REPORT}
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
