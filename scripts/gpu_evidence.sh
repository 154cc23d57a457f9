#!/usr/bin/env bash
# Issue 13 on a lent GPU machine, in one call of a few minutes, everything at once on the one GPU:
#  1. QVM seeds 1 and 2 for MAWPS and SVAMP (their recipes, seeds changed), each packed for the
#     narrow way back (scripts/qvm_pack.py) so A* runs with them on the CPU beside the baselines;
#  2. the label methods on the same states: the first $LABEL_QUESTIONS MAWPS training questions
#     labelled by rollout with M = 4 fresh continuations (the transformers policy on the GPU), then
#     M = 1, 2 and completion best-of-3 relabelled from those continuations (nothing generated), the
#     recipe's own-ending labels and FQI with L = 2; a QVM on each (the MAWPS recipe's training);
#  3. A* with each of those QVMs on MAWPS questions 0..$EVAL_QUESTIONS-1, beside greedy, all on the
#     GPU's transformers policy (so they compare with each other, not with the vLLM-CPU runs).
# Every stage resumes; at $DEADLINE_S seconds what is still running is stopped and whatever finished
# is packed into $OUT: results.tar.xz (metrics, configs, eval records, logs) and seeds.tar.part-*.
#
#   MINILM=<backbone folder> QSTAR_CACHE=<holds the converted policy> QSTAR_DATA_DIR=<data> \
#     OUT=<dir> bash scripts/gpu_evidence.sh
# On the lent machine (no hub, no vLLM, 64 MiB per call each way) the embedded policy travels as the
# GGUF in two halves (two calls), is converted there with qstar_cli.backends.models.convert_gguf into
# $QSTAR_CACHE/models/SmolLM2-135M-Instruct, and the MiniLM backbone travels as a float16 copy.
# Measured 2026-11-28 on one H200, all of this at once (8 processes sharing the GPU): the four seeds
# trained in 190-360 s each; the M = 4 labelling did not finish its first 64 questions in 500 s and
# A* ran at ~230 tok/s, so the label methods did not finish. Next time: SEEDS="" (they are done) and
# measure the transformers policy alone before sizing the label chain.
# SEEDS="" skips the seeds. SMALL=1 runs the same chain on 2 questions, 40-token samples and 2 training steps (to check it on a CPU).
set -u
W=${W:-/root/qs/w}; DEADLINE_S=${DEADLINE_S:-420}; N=${LABEL_QUESTIONS:-256}; E=${EVAL_QUESTIONS:-100}
MINILM=${MINILM:?the MiniLM backbone folder}; OUT=${OUT:?where results go}
TRAIN=(--set "train.backbone=$MINILM"); GEN=()
if [ -n "${SMALL:-}" ]; then
  N=2; E=2; GEN=(--set sampling.max_tokens=40 --set label.max_tokens=40); TRAIN+=(--set train.max_steps=2 --set train.validation_fraction=0 --set train.heldout_fraction=0.02)
fi
HF=(--backend hf --set policy.options.hf.batch_size=${HF_BATCH:-256} "${GEN[@]}")
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} TOKENIZERS_PARALLELISM=false  # a dozen processes share the cores
Q=(python3 -m qstar_cli)
mkdir -p "$W" "$W/logs" "$W/packs"
start=$(date +%s)
log() { echo "[$(( $(date +%s) - start ))s] $*"; }

seed() {  # dataset, seed: train, then pack
  local d=$1 s=$2 r=$W/$1-qvm-seed$2
  "${Q[@]}" train-q --recipe "recipes/cpu/$d/qvm.yaml" --set "train.seed=$s" "${TRAIN[@]}" \
      --set "train.out=$r" > "$W/logs/train-$d-seed$s.txt" 2>&1 \
    && python3 scripts/qvm_pack.py pack "$r" "$MINILM" "$W/packs/$d-qvm-seed$s.tar" >> "$W/logs/train-$d-seed$s.txt" 2>&1
  log "seed $d $s: rc $?"
}

qvm_and_astar() {  # label run name: a QVM on its labels, then A* with it
  local x=$1
  "${Q[@]}" train-q --recipe recipes/cpu/mawps/qvm.yaml "${TRAIN[@]}" --set "train.labels=[$W/lab-$x]" \
      --set "train.out=$W/qvm-$x" > "$W/logs/train-$x.txt" 2>&1 || { log "train $x failed"; return; }
  log "qvm $x trained"
  "${Q[@]}" eval --recipe recipes/cpu/mawps/astar.yaml "${HF[@]}" --set "data.limit=$E" \
      --set "eval.qvm=$W/qvm-$x" --out "$W/eval-astar-$x" > "$W/logs/eval-astar-$x.txt" 2>&1
  log "astar $x: rc $?"
}

label() {  # name, label flags...
  local x=$1; shift
  "${Q[@]}" label --recipe recipes/cpu/mawps/qvm.yaml --set "label.limit=$N" --out "$W/lab-$x" "$@" "${GEN[@]}" \
    > "$W/logs/label-$x.txt" 2>&1
  log "label $x: rc $?"
}

rollouts() {  # M = 4 fresh continuations, then what is relabelled from them
  label m4 --num-rollouts 4 --set label.include_own_ending=false --set label.batch_questions=64 "${HF[@]}"
  qvm_and_astar m4 &
  for m in 1 2; do
    label m$m --num-rollouts $m --set label.include_own_ending=false --reuse "$W/lab-m4"
    qvm_and_astar m$m &
  done
  label best3 --method completion --strong-samples 3 --reuse "$W/lab-m4"
  qvm_and_astar best3 &
  wait
}

log "start: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null || echo no GPU)"
for d in mawps svamp; do for s in ${SEEDS-1 2}; do seed $d $s & done; done
"${Q[@]}" eval --recipe recipes/cpu/mawps/greedy.yaml "${HF[@]}" --set "data.limit=$E" \
  --out "$W/eval-greedy-hf" > "$W/logs/eval-greedy-hf.txt" 2>&1 &
rollouts &
(label fqi --method fqi --iterations 2 --set label.batch_questions=64 "${HF[@]}" "${TRAIN[@]}" && qvm_and_astar fqi) &
(label own --num-rollouts 0 && qvm_and_astar own) &

while [ -n "$(jobs -rp)" ] && [ $(( $(date +%s) - start )) -lt "$DEADLINE_S" ]; do sleep 2; done
if [ -n "$(jobs -rp)" ]; then
  log "deadline: stopping what still runs"
  pkill -TERM -f "qstar_cli" ; sleep 5; pkill -KILL -f "qstar_cli"
fi
wait
log "packing"
(cd "$W" && tar --exclude=./packs --exclude='*.safetensors' --exclude=tokenizer.json --exclude='checkpoints' --exclude='*.npz' --exclude='qlabels.jsonl' \
   --exclude='rollouts.jsonl' -cJf "$OUT/results.tar.xz" .)
# three packs fit in one call's 64 MiB; the fourth waits in $W/packs/later for the next call
(cd "$W/packs" && mkdir -p later && set -- *.tar && [ -f "$1" ] && { [ $# -gt 3 ] && mv "${@:4}" later/;
  tar -cf - *.tar | split -b 15000000 -d - "$OUT/seeds.tar.part-"; })
ls -la "$OUT"
log "done"
