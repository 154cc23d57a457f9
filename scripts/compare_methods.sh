#!/usr/bin/env bash
# The six-method comparison on one dataset with one policy, from rollouts to the report table:
#   collect-rollouts -> label (rollout) -> train-q -> eval greedy | self-consistency | best-of-n (QVM)
#   | beam (QVM) | MCTS | A* (QVM) -> qstar report.
# Every method sees the same prompt (same shots), the same eval questions and the same sampling
# temperature; the QVM is trained on questions disjoint from the eval questions. Every stage
# resumes, so rerunning the script after an interruption finishes the work without redoing any.
#
#   scripts/compare_methods.sh                                  # MAWPS, embedded model, defaults below
#   DATASET=synthetic-arith TRAIN_SPLIT=train TRAIN_OFFSET=0 scripts/compare_methods.sh
#
# Knobs (environment): DATASET, TRAIN_SPLIT / TRAIN_OFFSET / TRAIN_LIMIT (QVM training questions),
# EVAL_SPLIT / EVAL_OFFSET / EVAL_LIMIT, SHOTS, TEMP, ROLLOUTS (M per question), LABEL_M, BACKBONE,
# EPOCHS, QVM (an existing train-q run or qvm/ folder: skips collect, label and train-q), K, BUDGET, N, WIDTH, ITERATIONS, OUT, QSTAR (the command), BACKEND, METHODS, and EXTRA
# (more flags for every command that runs the policy, e.g. "--set policy.options.hf.batch_size=256").
set -euo pipefail

DATASET=${DATASET:-mawps}
TRAIN_SPLIT=${TRAIN_SPLIT:-test}
TRAIN_OFFSET=${TRAIN_OFFSET:-300}     # MAWPS has one split: train the QVM on questions 300.. ,
TRAIN_LIMIT=${TRAIN_LIMIT:-400}
EVAL_SPLIT=${EVAL_SPLIT:-test}
EVAL_OFFSET=${EVAL_OFFSET:-0}         # ... evaluate on questions 0..EVAL_LIMIT-1
EVAL_LIMIT=${EVAL_LIMIT:-200}
SHOTS=${SHOTS:-4}
TEMP=${TEMP:-0.7}
ROLLOUTS=${ROLLOUTS:-8}
LABEL_M=${LABEL_M:-4}
BACKBONE=${BACKBONE:-minilm}
EPOCHS=${EPOCHS:-2}
K=${K:-6}
BUDGET=${BUDGET:-12}
N=${N:-6}
WIDTH=${WIDTH:-2}
ITERATIONS=${ITERATIONS:-8}
BACKEND=${BACKEND:-auto}
OUT=${OUT:-runs/compare-$DATASET}
QSTAR=${QSTAR:-qstar}
METHODS=${METHODS:-"greedy self-consistency best-of-n beam mcts astar"}
read -r -a extra <<< "${EXTRA:-}"

common=(--backend "$BACKEND" --num-shots "$SHOTS" "${extra[@]}")
train_data=(--dataset "$DATASET" --split "$TRAIN_SPLIT" --set data.offset="$TRAIN_OFFSET" --limit "$TRAIN_LIMIT")
eval_data=(--dataset "$DATASET" --split "$EVAL_SPLIT" --set data.offset="$EVAL_OFFSET" --limit "$EVAL_LIMIT")

if [ -z "${QVM:-}" ]; then
  $QSTAR collect-rollouts "${train_data[@]}" "${common[@]}" -M "$ROLLOUTS" --temperature "$TEMP" -o "$OUT/rollouts"
  $QSTAR label -i "$OUT/rollouts" --method rollout -M "$LABEL_M" --backend "$BACKEND" "${extra[@]}" -o "$OUT/labels"
  $QSTAR train-q -l "$OUT/labels" --backbone "$BACKBONE" --epochs "$EPOCHS" -o "$OUT/qvm"
  QVM=$OUT/qvm
fi

runs=()
for method in $METHODS; do
  case $method in
    greedy)           flags=() ;;
    self-consistency) flags=(-n "$N" --temperature "$TEMP") ;;
    best-of-n)        flags=(-n "$N" --temperature "$TEMP" --qvm "$QVM") ;;
    beam)             flags=(-K "$K" --width "$WIDTH" --temperature "$TEMP" --qvm "$QVM") ;;
    mcts)             flags=(-K "$K" --iterations "$ITERATIONS" --temperature "$TEMP") ;;
    astar)            flags=(-K "$K" -N "$N" --budget "$BUDGET" --temperature "$TEMP" --qvm "$QVM" --trees) ;;
    *) echo "unknown method $method" >&2; exit 2 ;;
  esac
  $QSTAR eval "${eval_data[@]}" "${common[@]}" --search "$method" "${flags[@]}" -o "$OUT/eval-$method"
  runs+=("$OUT/eval-$method")
done
$QSTAR report "${runs[@]}"
