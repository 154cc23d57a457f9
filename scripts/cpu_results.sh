#!/usr/bin/env bash
# The CPU results tables, from the recipes in recipes/cpu/<dataset>/: for each dataset, the Q-value
# model (collect-rollouts -> label -> train-q on training questions, qvm.yaml), then greedy, best-of-N
# with 10 samples (about the tokens A* spends, for the equal-compute comparison), beam, MCTS and A*
# on the same evaluation questions (100 synthetic, 300 MAWPS or SVAMP), then one `qstar report` over
# all of them (paired tests against greedy and best-of-N, plot, trees). Self-consistency and best-of-N
# at n = 1, 2, 4, 8 and 10 come from best-of-N's one pool of 10 samples per question (the report's
# "Scaling from one sample pool": majority vote, best-scored and weighted vote), so no sample is drawn
# twice; the runs of a dataset also share a sample cache (runs/cpu/<dataset>/samples), so the A* runs
# with other QVM seeds reuse the continuations of the states they have in common.
# Every stage resumes, so rerunning after an interruption finishes the work without redoing it.
#
#   make results                                   # SYNTHETIC arithmetic: about 25 min on 2 cores
#   make results DATASETS="mawps svamp"            # the real sets: on 2 cores ~20 min rollouts, ~80 min of
#                                                  # evals and ~40 min of A* with QVM seeds 1-2 per set, and each
#                                                  # QVM (3 seeds per set) trains for 1.5 h (SVAMP, the paper's
#                                                  # 2 epochs: 94 min here) to ~2 h (MAWPS, 4 epochs with
#                                                  # validation, estimated): ~15 h in all. train-q
#                                                  # --group-by-length trains SVAMP's QVM in 27 min (same
#                                                  # held-out AUC, README):
#                                                  # ~8 h in all once the recipes take it (their published
#                                                  # QVMs were trained without it, so they do not yet). Or train
#                                                  # the QVMs on a GPU (experiments/gpu_evidence.sh trained seeds
#                                                  # 1-2 there, experiments/qvm_pack.py brings them back), then rerun here
#   DATASETS=mawps METHODS="greedy astar" scripts/cpu_results.sh
#
# QVM_SEEDS (default "0", "0 1 2" for the real sets) trains one QVM per seed (seed 0 is qvm.yaml's,
# the others go to runs/cpu/<dataset>/qvm-seed<s>) and runs A* with each (eval-astar-seed<s>), so the
# report shows A*'s spread over QVM seeds.
#
# Knobs (environment): DATASETS (default "synthetic"), METHODS, QVM_SEEDS, QSTAR (the command), REPORT
# (the report folder, default runs/cpu/report-<datasets>, e.g. runs/cpu/report-synthetic),
# SAMPLE_CACHE ("no": none) and EXTRA (more flags for every stage command, e.g. "--set policy.backend=hf").
# The recipes self-consistency, self-consistency-10 and best-of-n (n = 6) are still there to run alone.
set -euo pipefail

DATASETS=${DATASETS:-synthetic}
METHODS=${METHODS:-"greedy best-of-n-10 beam mcts astar"}
QSTAR=${QSTAR:-qstar}
if [ "$DATASETS" = synthetic ]; then QVM_SEEDS=${QVM_SEEDS:-0}; else QVM_SEEDS=${QVM_SEEDS:-"0 1 2"}; fi
DEFAULT_REPORT=runs/cpu/report-${DATASETS// /-}
REPORT=${REPORT:-$DEFAULT_REPORT}
read -r -a extra <<< "${EXTRA:-}"

runs=()
for ds in $DATASETS; do
  cache=()
  [ "${SAMPLE_CACHE:-}" != no ] && cache=(--sample-cache "runs/cpu/$ds/samples")
  qvm=recipes/cpu/$ds/qvm.yaml
  $QSTAR collect-rollouts --recipe "$qvm" "${extra[@]}"
  $QSTAR label --recipe "$qvm" "${extra[@]}"
  $QSTAR train-q --recipe "$qvm" "${extra[@]}"
  for method in $METHODS; do
    $QSTAR eval --recipe "recipes/cpu/$ds/$method.yaml" "${cache[@]}" "${extra[@]}"
    runs+=("runs/cpu/$ds/eval-$method")
  done
  for seed in $QVM_SEEDS; do
    [ "$seed" = 0 ] && continue  # qvm.yaml's own QVM, used by every recipe above
    $QSTAR train-q --recipe "$qvm" --set train.seed="$seed" --set train.out="runs/cpu/$ds/qvm-seed$seed" "${extra[@]}"
    if [[ " $METHODS " == *" astar "* ]]; then
      $QSTAR eval --recipe "recipes/cpu/$ds/astar.yaml" --set eval.qvm="runs/cpu/$ds/qvm-seed$seed" \
        --set eval.out="runs/cpu/$ds/eval-astar-seed$seed" "${cache[@]}" "${extra[@]}"
      runs+=("runs/cpu/$ds/eval-astar-seed$seed")
    fi
  done
done
# paired tests against greedy, and against best-of-N at about A*'s tokens where it ran
baselines=(--baseline greedy)
[[ " $METHODS " == *" best-of-n-10 "* ]] && baselines+=(--baseline eval-best-of-n-10)
$QSTAR report "${runs[@]}" "${baselines[@]}" --out "$REPORT"
