#!/usr/bin/env bash
# The label methods on a CPU, one stage at a time, every stage resumable (rerun the same
# command after a stop and it goes on). The same states (the first $N MAWPS training questions of
# recipes/cpu/mawps/qvm.yaml's rollouts, questions 300-999, never evaluation questions) labelled
#   m4    rollout, M = 4 fresh continuations per state (the only method here that generates much),
#   m2 m1 rollout, M = 2 and 1: the first 2 or 1 of m4's continuations (--reuse: nothing generated),
#   best3 completion by the policy itself, best-of-3: y = the best of 3 of m4's continuations,
#   own   the recipe's own-ending labels (M = 0: the collected trajectories through each state),
#   fqi   fitted Q-iteration, L = 2 (K = 6 one-step candidates per state, a QVM fitted per iteration),
# then a QVM on each (the MAWPS recipe's backbone with the paper's 2 epochs on all training
# questions, --group-by-length; the same seed, so every QVM holds out the same questions), A* with
# each on MAWPS evaluation questions 0..$ASTAR_LIMIT-1 (recipes/cpu/mawps/astar.yaml), and
# experiments/label_methods.py's tables: every QVM scored on its own held-out labels, on m4's and on the
# recipe's (more questions, noisier labels) of held-out questions, each paired with m4's QVM; A*
# paired with greedy (runs/cpu/mawps/eval-greedy); and one more row, `full`: the recipe's QVM (700
# questions of own-ending labels, runs/cpu/mawps/qvm, and its A* run eval-astar, from make results).
#
#   bash experiments/label_methods.sh                 # N=128 on 2 cores: m4 39 min (655k tokens, 282 tok/s),
#                                                 # 10-14 min per QVM, ~8 min per A*, FQI labels 60 min (candidates
#                                                 # 25 min, 346k tokens; two 13-min fits)
#   STEPS="labels qvms" bash experiments/label_methods.sh   # some of the stages: labels fqi qvms astar table
#
# Knobs (environment): N, ASTAR_LIMIT (100), METHODS (the QVMs and A* runs, "m4 m2 m1 best3 own fqi"),
# STEPS, REFERENCE (the table's reference method, m4), W (the folder, runs/cpu/mawps/label-methods),
# QSTAR (the command), PYTHON (for the table),
# EXTRA (flags for every stage). `make label-methods` runs it with the project's venv.
# Its tables: docs/results/mawps.md, "Label methods side by side" (and "FQI, L = 2").
set -euo pipefail

N=${N:-128}; ASTAR_LIMIT=${ASTAR_LIMIT:-100}; W=${W:-runs/cpu/mawps/label-methods}; QSTAR=${QSTAR:-qstar}
METHODS=${METHODS:-"m4 m2 m1 best3 own fqi"}; STEPS=${STEPS:-"labels fqi qvms astar table"}
read -r -a extra <<< "${EXTRA:-}"
RECIPE=recipes/cpu/mawps/qvm.yaml
step() { [[ " $STEPS " == *" $1 "* ]]; }
lab() { echo "$W/$1-$N"; }  # a method's label run
# continuations capped at 192 tokens (a right MAWPS solution is < 200 tokens in all); saved every
# 16 questions, so a stop loses at most one batch
label() {
  local x=$1; shift
  $QSTAR label --recipe $RECIPE --set "label.limit=$N" --set label.max_tokens=192 --set label.batch_questions=16 \
    --out "$(lab "$x")" "$@" "${extra[@]}"
}

if step labels; then
  $QSTAR collect-rollouts --recipe $RECIPE "${extra[@]}"  # make results' rollouts: done there, resumed here
  label m4 --num-rollouts 4 --set label.include_own_ending=false
  for m in 2 1; do label "m$m" --num-rollouts $m --set label.include_own_ending=false --reuse "$(lab m4)"; done
  label best3 --method completion --strong-samples 3 --reuse "$(lab m4)"
  label own --num-rollouts 0
fi
# the QVMs (and FQI's fits): the paper's 2 epochs on all training questions, rows grouped by length
train=(--set train.group_by_length=true --set train.epochs=2 --set train.validation_fraction=0)
qvm() {
  [ -f "$W/qvm-$1-$N/metrics.json" ] && return
  [ -f "$(lab "$1")/metrics.json" ] || { echo "label-methods: $1 has no finished labels ($(lab "$1")): no QVM"; return; }
  $QSTAR train-q --recipe $RECIPE "${train[@]}" --set "train.labels=[$(lab "$1")]" --set "train.out=$W/qvm-$1-$N" \
    "${extra[@]}"
}
astar() {
  [ -f "$W/qvm-$1-$N/metrics.json" ] || return 0
  $QSTAR eval --recipe recipes/cpu/mawps/astar.yaml --set "eval.qvm=$W/qvm-$1-$N" --limit "$ASTAR_LIMIT" \
    --out "$W/astar-$1-$N" "${extra[@]}"
}
others=${METHODS//fqi/}
if step qvms; then for x in $others; do qvm "$x"; done; fi
if step astar; then for x in $others; do astar "$x"; done; fi
# FQI last, as the longest: K = 6 one-step candidates at every state, a fit per iteration (an hour in
# all); its final targets y_2 then train a QVM like every other method's labels (the same settings and
# seed as its last fit, so the same model: retrained only so that its folder is a train-q run)
if step fqi && [[ " $METHODS " == *" fqi "* ]]; then
  label fqi --method fqi --iterations 2 "${train[@]}"
  qvm fqi
  astar fqi
fi

if step table; then
  rows=()
  for x in $METHODS; do
    [ -f "$W/qvm-$x-$N/metrics.json" ] || continue
    row="$x=$W/qvm-$x-$N"; [ -f "$W/astar-$x-$N/metrics.json" ] && row+=",$W/astar-$x-$N"; rows+=("$row")
  done
  $QSTAR eval --recipe recipes/cpu/mawps/greedy.yaml "${extra[@]}"  # the baseline: make results' run, or made here
  # every QVM on the reference's held-out labels (21 questions at N = 128) and, once the recipe has
  # labelled its 700 questions, on the recipe's (161 questions); once make results has trained the
  # recipe's QVM, that QVM (and its A*) is one more row, `full`
  yardstick=(); full=()
  [ -f runs/cpu/mawps/labels/metrics.json ] && yardstick=(--yardstick recipe=runs/cpu/mawps/labels)
  if [ -f runs/cpu/mawps/qvm/metrics.json ]; then
    full=(full=runs/cpu/mawps/qvm)
    [ -f runs/cpu/mawps/eval-astar/metrics.json ] && full[0]+=,runs/cpu/mawps/eval-astar
  fi
  ${PYTHON:-python} experiments/label_methods.py --reference "${REFERENCE:-m4}" "${yardstick[@]}" \
    --baseline runs/cpu/mawps/eval-greedy --out "$W/n$N" "${rows[@]}" "${full[@]}"
fi
