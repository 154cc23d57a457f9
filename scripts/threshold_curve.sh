#!/usr/bin/env bash
# When does Q* pay: the threshold curve of one dataset. On the same questions: greedy, best-of-N
# (10 samples reranked), A* and beam, each guided by the trained QVM, by the QVM on the policy's own
# states, and by the oracle heuristic at several noise levels (it reads the reference answers: upper
# bounds, not methods); then `qstar report`, whose "When does the search pay?" section plots
# accuracy against each run's terminal AUC and states the AUC at which A* starts to beat greedy and
# best-of-N, with its interval. Every run shares one sample cache, so the states the runs have in
# common (the root expansion, the oracle's continuations of the same candidates) are generated once.
# Every stage resumes, so rerunning after an interruption finishes the work without redoing it.
#
#   scripts/threshold_curve.sh                      # synthetic test questions 0-99, make demo's QVM
#   DATASET=mawps scripts/threshold_curve.sh        # MAWPS 0-99, the QVM of recipes/cpu/mawps/qvm-threshold.yaml
#
# Knobs (environment): DATASET (synthetic), LIMIT (100), QVM and QVM_RECIPE (the trained QVM and the
# recipe that trained it, whose labels the policy-backbone QVM learns from; QVM_RECIPE="" skips that
# QVM): make demo's for synthetic, else recipes/cpu/<dataset>/qvm-threshold.yaml's where it exists, else
# make results'; NOISE (A*'s oracle noise levels: "0 0.25 0.5 0.75 1"), NOISE_OTHERS (best-of-N's and
# beam's: "0 0.5 1"), OUT (runs/threshold/<dataset>), QSTAR (the command).
set -euo pipefail

DATASET=${DATASET:-synthetic}
LIMIT=${LIMIT:-100}
QSTAR=${QSTAR:-qstar}
if [ "$DATASET" = synthetic ]; then
  QVM=${QVM:-runs/demo/qvm}; QVM_RECIPE=${QVM_RECIPE-recipes/demo/qvm.yaml}
elif [ -f "recipes/cpu/$DATASET/qvm-threshold.yaml" ]; then
  QVM=${QVM:-runs/threshold/$DATASET/qvm}; QVM_RECIPE=${QVM_RECIPE-recipes/cpu/$DATASET/qvm-threshold.yaml}
else
  QVM=${QVM:-runs/cpu/$DATASET/qvm}; QVM_RECIPE=${QVM_RECIPE-recipes/cpu/$DATASET/qvm.yaml}
fi
NOISE=${NOISE:-"0 0.25 0.5 0.75 1"}
NOISE_OTHERS=${NOISE_OTHERS:-"0 0.5 1"}
OUT=${OUT:-runs/threshold/$DATASET}
R=recipes/cpu/$DATASET
[ -d "$R" ] || { echo "no recipes for $DATASET in $R" >&2; exit 2; }
common=(--limit "$LIMIT" --sample-cache "$OUT/samples" --set eval.trees=false)

eval_run() {  # NAME RECIPE [FLAGS...]
  local name=$1 recipe=$2
  shift 2
  $QSTAR eval --recipe "$R/$recipe.yaml" "${common[@]}" "$@" --out "$OUT/$name"
}

eval_run greedy greedy
eval_run best-of-n-qvm best-of-n-10 --qvm "$QVM"
eval_run astar-qvm astar --qvm "$QVM"
eval_run beam-qvm beam --qvm "$QVM"
for p in $NOISE; do eval_run "astar-oracle-$p" astar --qvm oracle --set eval.oracle_noise="$p"; done
for p in $NOISE_OTHERS; do
  eval_run "best-of-n-oracle-$p" best-of-n-10 --qvm oracle --set eval.oracle_noise="$p"
  eval_run "beam-oracle-$p" beam --qvm oracle --set eval.oracle_noise="$p"
done
if [ -n "$QVM_RECIPE" ]; then  # one more point: the QVM that reads the policy's own hidden states
  $QSTAR train-q --recipe "$QVM_RECIPE" --set train.backbone=policy --out "$OUT/qvm-policy"
  eval_run astar-qvm-policy astar --qvm "$OUT/qvm-policy"
fi
$QSTAR report "$OUT"/greedy "$OUT"/best-of-n-* "$OUT"/astar-* "$OUT"/beam-* \
  --baseline greedy --baseline best-of-n-qvm --out "$OUT/report"
