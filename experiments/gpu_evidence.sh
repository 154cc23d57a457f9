#!/usr/bin/env bash
# The GPU part of the MAWPS and SVAMP studies, on the transformers backend (no vLLM, no hub needed):
# QVM seeds 1 and 2 of both recipes (docs/results/mawps.md "Three QVM seeds", docs/results/svamp.md)
# and the label methods on the same states (the first $LABEL_QUESTIONS MAWPS training questions of
# recipes/cpu/mawps/qvm.yaml's rollouts; its GPU labelling rate is on docs/speed.md), labelled
#   m4    rollout, M = 4 fresh continuations per state (the transformers policy on the GPU),
#   m1 m2 rollout, M = 1 and 2: the first 1 or 2 of m4's continuations (--reuse, nothing generated),
#   best3 completion by the policy itself, best-of-3: y = the best of 3 of m4's continuations,
#   own   the recipe's own-ending labels (M = 0: the collected trajectories through each state),
#   fqi   fitted Q-iteration, L = 2 (K candidates sampled at each state, a QVM fitted per iteration),
# then a QVM on each (the MAWPS recipe's training, same seed, so the same held-out questions), each
# packed small by experiments/qvm_pack.py: A* runs with them on the CPU beside the vLLM-CPU
# baselines, and experiments/label_methods.py scores every QVM against the m4 labels.
#
# m4 (and so m1, m2, best3, own) runs in $SHARDS shards (label --shard i/n), two at a time, so a
# slow GPU still leaves finished shards: at $T_LABEL seconds the unfinished ones are stopped and
# every method uses the finished shards' questions. FQI cannot be sharded: it runs on all
# $LABEL_QUESTIONS questions beside them and is left out if it has not finished by $T_FQI.
# At $DEADLINE_S whatever still runs is stopped and what finished is packed into $OUT:
# results.tar.xz (configs, metrics, label records, logs) and qvms.tar.part-* (15 MB parts of two
# QVM packs, so $OUT stays under 64 MiB; the rest wait in $W/packs/later, two per `more`).
#
#   MINILM=<backbone folder> QSTAR_CACHE=<holds the policy> QSTAR_DATA_DIR=<data> OUT=<dir> \
#     bash experiments/gpu_evidence.sh           # the label methods; SEEDS="1 2" adds the QVM seeds
#   OUT=<dir> bash experiments/gpu_evidence.sh more      # the next two QVM packs into $OUT
#   MINILM=... OUT=<dir> bash experiments/gpu_evidence.sh grouped
#                       # SVAMP's QVM with train.group_by_length, seeds GROUPED_SEEDS (0 1 2): its
#                       # held-out AUC beside the ungrouped seeds' (docs/commands/train-q.md)
#
# Without the hub, the embedded policy can be converted from its GGUF with
# qstar_cli.backends.models.convert_gguf into $QSTAR_CACHE/models/SmolLM2-135M-Instruct.
# transformers' generate costs ~25-32 ms a step at batch 256 on an H200 (launch-bound) and each
# batch runs to its longest row, so M = 4 on 256 questions (~1.5M tokens) takes ~21 min; with
# FQI=0 LABEL_QUESTIONS=96 SHARDS=3 HF_BATCH=512 LABEL_MAX_TOKENS=192 T_LABEL=170 one shard of 32
# questions finishes (181,805 tokens, 1,177 tok/s) and its five QVMs train in 45 s.
# Knobs (environment): W (the work folder), OUT, MINILM, SEEDS, LABEL_QUESTIONS (256), SHARDS (4),
# T_LABEL, T_FQI, DEADLINE_S, FQI (0 leaves FQI out), HF_BATCH, LABEL_MAX_TOKENS, QSTAR (default
# `python3 -m qstar_cli`, the command every stage runs with), and SMALL=1: the same chain on 4
# questions, 40-token samples and 2 training steps (a check on a CPU: ~20 min there).
set -u
W=${W:-/root/qs/w}; OUT=${OUT:?where results go}
if [ "${1:-}" = more ]; then  # the next two packs (three of ~22.7 MB are 68 MB: over 64 MiB)
  cd "$W/packs/later" && set -- *.tar && [ -f "$1" ] || { echo "no packs left"; exit 0; }
  [ $# -gt 2 ] && mkdir -p next && mv "${@:3}" next/
  tar -cf - $(ls *.tar) | split -b 15000000 -d - "$OUT/qvms.tar.part-"
  rm -f *.tar; [ -d next ] && mv next/*.tar . && rmdir next; ls -la "$OUT"; exit 0
fi
MINILM=${MINILM:?the MiniLM backbone folder}
read -r -a Q <<< "${QSTAR:-python3 -m qstar_cli}"  # the command (a test records it instead)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} TOKENIZERS_PARALLELISM=false  # several processes share the cores
if [ "${1:-}" = grouped ]; then  # train.group_by_length on SVAMP's recipe, seeds 0-2: does its AUC hold?
  mkdir -p "$W/logs"
  for s in ${GROUPED_SEEDS:-0 1 2}; do
    timeout "${DEADLINE_S:-200}" "${Q[@]}" train-q --recipe recipes/cpu/svamp/qvm.yaml --set "train.backbone=$MINILM" \
      --seed "$s" --group-by-length --set "train.out=$W/svamp-grouped-seed$s" > "$W/logs/train-svamp-grouped-seed$s.txt" 2>&1 &
  done
  wait
  (cd "$W" && tar -cJf "$OUT/grouped.tar.xz" logs/train-svamp-grouped-* svamp-grouped-seed*/metrics.json svamp-grouped-seed*/manifest.json)
  ls -la "$OUT"; exit 0
fi
DEADLINE_S=${DEADLINE_S:-480}; T_LABEL=${T_LABEL:-260}; T_FQI=${T_FQI:-300}
TRAIN=(--set "train.backbone=$MINILM"); GEN=(--set label.max_tokens=${LABEL_MAX_TOKENS:-256})
if [ -n "${SMALL:-}" ]; then
  : "${LABEL_QUESTIONS:=4}" "${SHARDS:=2}"; GEN=(--set sampling.max_tokens=40 --set label.max_tokens=40)
  TRAIN+=(--set train.max_steps=2 --set train.validation_fraction=0 --set train.heldout_fraction=0.25)
fi
N=${LABEL_QUESTIONS:-256}; SHARDS=${SHARDS:-4}
HF=(--backend hf --set policy.options.hf.batch_size=${HF_BATCH:-256})
RECIPE=recipes/cpu/mawps/qvm.yaml
mkdir -p "$W/logs" "$W/packs"
start=$(date +%s)
log() { echo "[$(( $(date +%s) - start ))s] $*"; }
elapsed() { echo $(( $(date +%s) - start )); }
wait_until() {  # seconds, pids...: wait for the pids, stopping those still running at the time
  local t=$1; shift
  while [ "$(elapsed)" -lt "$t" ]; do
    local alive=0; for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && return; sleep 2
  done
  for p in "$@"; do  # the subshell first (else it starts its next label run), then what it runs
    kill -0 "$p" 2>/dev/null || continue
    local kids; kids=$(pgrep -P "$p"); log "stopping pid $p at ${t}s"; kill -TERM "$p" $kids
  done
  sleep 3
}

label() {  # name, label flags...: one label run, logged; rc 0 when it finished
  local x=$1; shift
  "${Q[@]}" label --recipe $RECIPE --set "label.limit=$N" --out "$W/lab-$x" "$@" "${GEN[@]}" \
    > "$W/logs/label-$x.txt" 2>&1
  local rc=$?; log "label $x: rc $rc"; return $rc
}

seed() {  # dataset, seed: a QVM seed of a whole recipe, packed
  local d=$1 s=$2 r=$W/$1-qvm-seed$2
  "${Q[@]}" train-q --recipe "recipes/cpu/$d/qvm.yaml" --set "train.seed=$s" "${TRAIN[@]}" \
      --set "train.out=$r" > "$W/logs/train-$d-seed$s.txt" 2>&1 \
    && python3 experiments/qvm_pack.py pack "$r" "$MINILM" "$W/packs/$d-qvm-seed$s.tar" >> "$W/logs/train-$d-seed$s.txt" 2>&1
  log "seed $d $s: rc $?"
}

train() {  # method, label runs...: a QVM on them, packed
  local x=$1; shift
  local runs; runs=$(IFS=,; echo "$*")
  "${Q[@]}" train-q --recipe $RECIPE "${TRAIN[@]}" --set "train.labels=[$runs]" --set "train.out=$W/qvm-$x" \
      > "$W/logs/train-$x.txt" 2>&1 \
    && python3 experiments/qvm_pack.py pack "$W/qvm-$x" "$MINILM" "$W/packs/qvm-$x.tar" >> "$W/logs/train-$x.txt" 2>&1
  log "qvm $x: rc $?"
}

log "start: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null || echo no GPU), $N questions in $SHARDS shards"
for d in mawps svamp; do for s in ${SEEDS:-}; do seed "$d" "$s" & done; done
fqi=
[ "${FQI:-1}" = 1 ] && { ( label fqi --method fqi --iterations 2 --set label.batch_questions=64 "${HF[@]}" "${TRAIN[@]}" ) & fqi=$!; }
# m4 shards, two streams: shard i is done when its label run exits 0 (a rerun skips it)
( for i in $(seq 0 2 $((SHARDS - 1))); do [ -f "$W/m4-s$i.done" ] || label m4-s$i --shard "$i/$SHARDS" --num-rollouts 4 \
    --set label.include_own_ending=false --set label.batch_questions=32 "${HF[@]}" && touch "$W/m4-s$i.done"; done ) &
a=$!
( for i in $(seq 1 2 $((SHARDS - 1))); do [ -f "$W/m4-s$i.done" ] || label m4-s$i --shard "$i/$SHARDS" --num-rollouts 4 \
    --set label.include_own_ending=false --set label.batch_questions=32 "${HF[@]}" && touch "$W/m4-s$i.done"; done ) &
b=$!
wait_until "$T_LABEL" $a $b
done_shards=(); for i in $(seq 0 $((SHARDS - 1))); do [ -f "$W/m4-s$i.done" ] && done_shards+=("$i"); done
log "m4 shards finished: ${done_shards[*]:-none}"
declare -A runs
for i in "${done_shards[@]}"; do  # relabel the finished shards' states: nothing generated
  runs[m4]+=" $W/lab-m4-s$i"
  for m in 1 2; do
    label "m$m-s$i" --shard "$i/$SHARDS" --num-rollouts $m --set label.include_own_ending=false --reuse "$W/lab-m4-s$i" \
      && runs[m$m]+=" $W/lab-m$m-s$i"
  done
  label "best3-s$i" --shard "$i/$SHARDS" --method completion --strong-samples 3 --reuse "$W/lab-m4-s$i" \
    && runs[best3]+=" $W/lab-best3-s$i"
  label "own-s$i" --shard "$i/$SHARDS" --num-rollouts 0 && runs[own]+=" $W/lab-own-s$i"
done
for x in "${!runs[@]}"; do train "$x" ${runs[$x]} & done
[ -n "$fqi" ] && wait_until "$T_FQI" $fqi
[ -f "$W/lab-fqi/manifest.json" ] && grep -q '"complete": true' "$W/lab-fqi/manifest.json" && train fqi "$W/lab-fqi" &
while [ -n "$(jobs -rp)" ] && [ "$(elapsed)" -lt "$DEADLINE_S" ]; do sleep 2; done
if [ -n "$(jobs -rp)" ]; then
  log "deadline: stopping what still runs"
  pkill -TERM -f "qstar_cli" ; sleep 5; pkill -KILL -f "qstar_cli"
fi
wait
log "packing"
(cd "$W" && tar --exclude=./packs --exclude='*.safetensors' --exclude=tokenizer.json --exclude='checkpoints' \
   --exclude='*.npz' --exclude='rollouts.jsonl' -cJf "$OUT/results.tar.xz" .)
# two packs (22 MB each) fit in 64 MiB beside the results (label records: a few MB); the rest wait
# in $W/packs/later for `more` (two at a time)
(cd "$W/packs" && mkdir -p later && set -- *.tar && [ -f "$1" ] && { [ $# -gt 2 ] && mv "${@:3}" later/;
  tar -cf - $(ls *.tar) | split -b 15000000 -d - "$OUT/qvms.tar.part-"; rm -f *.tar; })
ls -la "$OUT"
log "done"
