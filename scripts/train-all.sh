#!/usr/bin/env bash
# The runs behind data/models/README.md's results table (each told in RUNS.md), in order. Every step resumes
# where it stopped (run folders under runs/, checkpoints every 50 steps), so the script can
# be re-run after an interruption; finished runs are skipped. CPU only, 2 threads.
# Budget: these machines first trained the 6-layer teacher at about 1.5 questions/s on
# length-64 pairs with facts (3.3 without; 2.7 and 7 with the fused kernels), so the runs with
# facts take one epoch at length 64 (the LM-only teacher took two).
# Usage: bash scripts/train-all.sh [STEP...]   (steps: store facts teacher-lm teacher-input
#        teacher-entity student-hard student-hard-lr2 student-soft student-soft-lr student-soft-lr2
#        student-soft-lr4 student-tiny student-tiny-aug
#        student-narrow teacher-input-lr1 teacher-lm-lr1 student-ens student-soft-lr2-t1 student-ens-e2
#        teacher-lm-lr1-s1 student-lm2 student-ens-l012 student-ens-l012-e2 student-lm2-l012
#        student-ens-l012-s1 student-lm2-l012-s1 facts-defs teacher-input-defs student-ens-l012-aug
#        student-ens-l012-choices student-ens-l012-choices2 student-lm2-l012-choices2
#        student-ens-l012-choices3 student-ens-l012-choices2-syn
#        student-ens-l012-choices2-syn-a9 facts-g14 student-ens-l012-choices2-syn-a9-g14
#        student-ens-l012-choices2-syn-a10 graph-questions student-ens-l012-choices2-syn-a9-graph
#        student-narrow-select student-narrow-random soup4 student-narrow-select-e2
#        mpnet-lm mpnet-lm-3k mpnet-input student-mpnet-soup facts-curated mpnet-input-3k-curated
#        minilm-input-curated student6-mpnet soup-curated torch-ref-3k student6-mpnet-full
#        soup6 student6-mpnet-full-choices2 student3-mpnet soup6c soup6w mpnet-lm-f6 mpnet-input-f6
#        labels-mpnet-lm labels-mpnet-lm-s1 labels-mpnet-lm-s2 student6-labels-s0
#        student6-labels-s1 student6-labels-s2 soup6-labels eval predictions)
set -euo pipefail
# Runs from a copy of itself (editing this file meanwhile changes nothing), in the root.
. "${KGQA_FROM_ROOT:-$(dirname "$0")/..}/scripts/from-copy.sh" "$@"
DATA="${KGQA_DATASETS:-../shared/datasets}"
CSQA="$DATA/commonsenseqa"
Q="$CSQA/train_rand_split.jsonl"
IDS="$CSQA/inhouse_split_qids.txt"
BASE="${KGQA_BASE_MODEL:-$(bash scripts/fetch-model.sh)}"
# all-mpnet-base-v2 (438 MB) is fetched only by the steps that train from it.
mpnet() { echo "${KGQA_MPNET_MODEL:-$(bash scripts/fetch-model.sh all-mpnet-base-v2)}"; }
# KGQA_BIN: a frozen copy of the binary, so that rebuilding during a long run changes nothing.
if [ -z "${KGQA_BIN:-}" ]; then cargo build --quiet --release; fi
KGQA="${KGQA_BIN:-${CARGO_TARGET_DIR:-target}/release/kgqa}"
STEPS=("${@:-store facts teacher-lm student-lm-soft teacher-input teacher-entity student-hard student-soft student-soft-lr student-soft-lr2 student-tiny student-narrow student-hard-lr2 student-tiny-aug student-soft-lr4 teacher-input-lr1 teacher-lm-lr1 student-ens student-soft-lr2-t1 student-ens-e2 teacher-lm-lr1-s1 student-lm2 student-ens-l012 student-ens-l012-e2 student-lm2-l012 student-ens-l012-s1 student-lm2-l012-s1 facts-defs teacher-input-defs student-ens-l012-aug student-ens-l012-choices student-ens-l012-choices2 student-lm2-l012-choices2 student-ens-l012-choices3 student-ens-l012-choices2-syn student-ens-l012-choices2-syn-a9 facts-g14 student-ens-l012-choices2-syn-a9-g14 student-ens-l012-choices2-syn-a10 graph-questions student-ens-l012-choices2-syn-a9-graph student-narrow-select student-narrow-random soup4 student-narrow-select-e2 eval}")
COMMON=(--dataset "$Q" --ids "$IDS" --facts runs/facts.jsonl --batch-size 16
        --warmup 0.1 --weight-decay 0.01 --clip 1.0 --seed 0 --checkpoint-every 50)
SEED1=(); prev=""   # COMMON with --seed 1
for a in "${COMMON[@]}"; do [ "$prev" = --seed ] && a=1; SEED1+=("$a"); prev="$a"; done
DEFS=()             # COMMON with the definitions-only cache (facts-defs)
for a in "${COMMON[@]}"; do [ "$a" = runs/facts.jsonl ] && a=runs/facts-defs.jsonl; DEFS+=("$a"); done
CUR=()              # COMMON with curated knowledge (facts-curated)
for a in "${COMMON[@]}"; do [ "$a" = runs/facts.jsonl ] && a=runs/facts-curated.jsonl; CUR+=("$a"); done
G14=()              # COMMON with the facts-g14 grounding
for a in "${COMMON[@]}"; do [ "$a" = runs/facts.jsonl ] && a=runs/facts-g14.jsonl; G14+=("$a"); done
# A run is done when its checkpoint's own epoch count (not an evaluation in its history,
# which also says "epoch") has reached the epochs asked for (1 unless given).
done_run() {
  [ -f "runs/$1/checkpoint/state.json" ] && python3 -c 'import json, sys
sys.exit(json.load(open(sys.argv[1]))["epoch"] < int(sys.argv[2]))' "runs/$1/checkpoint/state.json" "${2:-1}"
}
ONE=(--epochs 1 --max-length 64)
student6() { # RUN TEACHER [ARGS...]: all-MiniLM-L6-v2 (6 layers, curated facts) taught by an MPNet teacher
  local run=$1 teacher=$2; shift 2
  "$KGQA" distill "${CUR[@]}" "${ONE[@]}" --eval-every 150 --keep-evaluations "$@" --teacher "$teacher" \
    --student-from runs/minilm-input-curated --layers 0,1,2,3,4,5 --alpha 0.9 --temperature 2 --lr 5e-5 --run "runs/$run"
}
seeded() { # SEED: CUR with --seed SEED, into the array SEEDED
  SEEDED=(); local prev="" a
  for a in "${CUR[@]}"; do [ "$prev" = --seed ] && a=$1; SEEDED+=("$a"); prev="$a"; done
}
# mpnet-lm's label files of the choices2 transfer set: seed 0's, then seed N's (-sN).
labels_file() { if [ "$1" = 0 ]; then echo data/labels/mpnet-lm-choices2.jsonl.gz; else echo "data/labels/mpnet-lm-choices2-s$1.jsonl.gz"; fi; }
syn_alpha() { # RUN ALPHA: the shipped recipe (student-ens-l012-choices2-syn) at another alpha
  done_run "$1" && return
  if [ -f runs/student-ens-l012-choices2-syn/augmented.jsonl ] && [ ! -e "runs/$1/augmented.jsonl" ]; then
    mkdir -p "runs/$1"
    cp runs/student-ens-l012-choices2-syn/augmented.jsonl "runs/$1/"
  fi
  "$KGQA" --store runs/store distill "${COMMON[@]}" "${ONE[@]}" --augment 1 --augment-choices 2 --eval-every 250 --keep-evaluations --teacher runs/teacher-input-lr1/best --teacher runs/teacher-lm-lr1/best --run "runs/$1" --layers 0,1,2 --alpha "$2" --temperature 2 --cosine 1 --lr 2e-4
}
graph_transfer() { # RUN ALPHA: syn_alpha's recipe with the graph questions added (--transfer)
  done_run "$1" && return
  local GQ=runs/graph-questions.jsonl GF=runs/graph-questions-facts.jsonl
  # The teachers label every variant anew (about half an hour): the shipped run's labels
  # fit only where the same binary made its synonym variants.
  "$KGQA" --store runs/store distill "${COMMON[@]}" "${ONE[@]}" --augment 1 --augment-choices 2 --transfer "$GQ" --transfer-facts "$GF" --eval-every 250 --keep-evaluations --teacher runs/teacher-input-lr1/best --teacher runs/teacher-lm-lr1/best --run "runs/$1" --layers 0,1,2 --alpha "$2" --temperature 2 --cosine 1 --lr 2e-4
}
LR=(--lr 5e-5)   # the first runs; later ones set --lr themselves (2e-4 and 4e-4; narrow student: 2e-4)
for step in ${STEPS[*]}; do
  case "$step" in
    store) [ -d runs/store ] || "$KGQA" load "$DATA/conceptnet-100k/train100k.txt.gz" "${KGQA_WORDNET:-/usr/share/wordnet}" --store runs/store ;;
    facts) [ -f runs/facts.jsonl ] || "$KGQA" --store runs/store retrieve --dataset "$Q" --out runs/facts.jsonl ;;
    facts-defs) [ -f runs/facts-defs.jsonl ] || "$KGQA" --store runs/store retrieve --dataset "$Q" --top-k 0 --out runs/facts-defs.jsonl ;;
    teacher-input-defs) done_run teacher-input-defs || "$KGQA" train "${DEFS[@]}" "${ONE[@]}" --lr 1e-4 --base "$BASE" --run runs/teacher-input-defs --fusion input ;;
    teacher-lm) done_run teacher-lm 2 || "$KGQA" train "${COMMON[@]}" "${LR[@]}" --base "$BASE" --run runs/teacher-lm --fusion none --epochs 2 --max-length 64 ;;
    student-lm-soft) done_run student-lm-soft || "$KGQA" distill "${COMMON[@]}" "${LR[@]}" "${ONE[@]}" --teacher runs/teacher-lm/best --run runs/student-lm-soft --student-layers 3 --alpha 0.5 --temperature 2 --cosine 1 ;;
    teacher-input) done_run teacher-input || "$KGQA" train "${COMMON[@]}" "${LR[@]}" "${ONE[@]}" --base "$BASE" --run runs/teacher-input --fusion input ;;
    teacher-input-lr1) done_run teacher-input-lr1 || "$KGQA" train "${COMMON[@]}" "${ONE[@]}" --lr 1e-4 --base "$BASE" --run runs/teacher-input-lr1 --fusion input ;;
    teacher-lm-lr1-s1) done_run teacher-lm-lr1-s1 || "$KGQA" train "${SEED1[@]}" "${ONE[@]}" --lr 1e-4 --base "$BASE" --run runs/teacher-lm-lr1-s1 --fusion none ;;
    teacher-lm-lr1) done_run teacher-lm-lr1 || "$KGQA" train "${COMMON[@]}" "${ONE[@]}" --lr 1e-4 --base "$BASE" --run runs/teacher-lm-lr1 --fusion none ;;
    student-soft-lr2-t1) done_run student-soft-lr2-t1 || "$KGQA" distill "${COMMON[@]}" "${ONE[@]}" --teacher runs/teacher-input-lr1/best --run runs/student-soft-lr2-t1 --student-layers 3 --alpha 0.5 --temperature 2 --cosine 1 --lr 2e-4 ;;
    student-ens) done_run student-ens || "$KGQA" distill "${COMMON[@]}" "${ONE[@]}" --teacher runs/teacher-input-lr1/best --teacher runs/teacher-lm-lr1/best --run runs/student-ens --student-layers 3 --alpha 0.5 --temperature 2 --cosine 1 --lr 2e-4 ;;
    student-lm2) done_run student-lm2 || "$KGQA" distill "${COMMON[@]}" "${ONE[@]}" --teacher runs/teacher-lm-lr1/best --teacher runs/teacher-lm-lr1-s1/best --run runs/student-lm2 --student-layers 3 --alpha 0.5 --temperature 2 --cosine 1 --lr 2e-4 ;;
    student-ens-l012) done_run student-ens-l012 || "$KGQA" distill "${COMMON[@]}" "${ONE[@]}" --teacher runs/teacher-input-lr1/best --teacher runs/teacher-lm-lr1/best --run runs/student-ens-l012 --layers 0,1,2 --alpha 0.5 --temperature 2 --cosine 1 --lr 2e-4 ;;
    student-ens-l012-e2) done_run student-ens-l012-e2 2 || "$KGQA" distill "${COMMON[@]}" --epochs 2 --max-length 64 --eval-every 250 --keep-evaluations --teacher runs/teacher-input-lr1/best --teacher runs/teacher-lm-lr1/best --run runs/student-ens-l012-e2 --layers 0,1,2 --alpha 0.5 --temperature 2 --cosine 1 --lr 2e-4 ;;
    # The student-ens-l012-e2 recipe for the same number of steps, but one pass over the
    # questions and one synonym variant of each (labelled by the two teachers) instead of
    # two passes over the questions.
    student-ens-l012-aug) done_run student-ens-l012-aug || "$KGQA" --store runs/store distill "${COMMON[@]}" "${ONE[@]}" --augment 1 --eval-every 250 --keep-evaluations --teacher runs/teacher-input-lr1/best --teacher runs/teacher-lm-lr1/best --run runs/student-ens-l012-aug --layers 0,1,2 --alpha 0.5 --temperature 2 --cosine 1 --lr 2e-4 ;;
    # The same with one choice-set variant per question (distractors from training
    # questions of the same concept, gold answer kept, teachers' soft targets) instead.
    student-ens-l012-choices) done_run student-ens-l012-choices || "$KGQA" distill "${COMMON[@]}" "${ONE[@]}" --augment-choices 1 --eval-every 250 --keep-evaluations --teacher runs/teacher-input-lr1/best --teacher runs/teacher-lm-lr1/best --run runs/student-ens-l012-choices --layers 0,1,2 --alpha 0.5 --temperature 2 --cosine 1 --lr 2e-4 ;;
    student-ens-l012-choices2) done_run student-ens-l012-choices2 || "$KGQA" distill "${COMMON[@]}" "${ONE[@]}" --augment-choices 2 --eval-every 250 --keep-evaluations --teacher runs/teacher-input-lr1/best --teacher runs/teacher-lm-lr1/best --run runs/student-ens-l012-choices2 --layers 0,1,2 --alpha 0.5 --temperature 2 --cosine 1 --lr 2e-4 ;;
    student-ens-l012-choices3) done_run student-ens-l012-choices3 || "$KGQA" distill "${COMMON[@]}" "${ONE[@]}" --augment-choices 3 --eval-every 250 --keep-evaluations --teacher runs/teacher-input-lr1/best --teacher runs/teacher-lm-lr1/best --run runs/student-ens-l012-choices3 --layers 0,1,2 --alpha 0.5 --temperature 2 --cosine 1 --lr 2e-4 ;;
    student-ens-l012-choices2-syn) done_run student-ens-l012-choices2-syn || "$KGQA" --store runs/store distill "${COMMON[@]}" "${ONE[@]}" --augment 1 --augment-choices 2 --eval-every 250 --keep-evaluations --teacher runs/teacher-input-lr1/best --teacher runs/teacher-lm-lr1/best --run runs/student-ens-l012-choices2-syn --layers 0,1,2 --alpha 0.5 --temperature 2 --cosine 1 --lr 2e-4 ;;
    # The shipped recipe with the soft targets weighted 0.9 (a9) or 1.0 (a10, the hard
    # labels left out) against the hard labels (0.5 before; DistilBERT and TinyBERT weigh
    # the soft targets most). Same teachers, seed and variants, so the labelled variants of
    # student-ens-l012-choices2-syn are reused when present (their first line names the
    # settings, which the run checks).
    student-ens-l012-choices2-syn-a9) syn_alpha student-ens-l012-choices2-syn-a9 0.9 ;;
    student-ens-l012-choices2-syn-a10) syn_alpha student-ens-l012-choices2-syn-a10 1.0 ;;
    # The a9 recipe with the 3,034 graph questions (step graph-questions) in the transfer
    # set, labelled by the teachers (no answerKey: their choice is the hard label).
    student-ens-l012-choices2-syn-a9-graph) graph_transfer student-ens-l012-choices2-syn-a9-graph 0.9 ;;
    # The facts-g14 grounding (verb/adjective suffix rules after the surface form; nouns after
    # determiners): the facts again, and the a9 recipe on them. On a machine that builds
    # `facts` with this grounding already, the two caches are the same.
    # Questions written from the graph for `distill --transfer` (scripts/graph-questions.py:
    # the training questions' concepts, never the held-out or test ones), and their facts.
    graph-questions) [ -f runs/graph-questions.jsonl ] || {
        python3 scripts/held_out.py runs/eval-ids.txt
        python3 scripts/graph-questions.py "$DATA/conceptnet-100k/train100k.txt.gz" "$Q" runs/eval-ids.txt runs/graph-questions.jsonl; }
      [ -f runs/graph-questions-facts.jsonl ] || "$KGQA" --store runs/store retrieve --dataset runs/graph-questions.jsonl --out runs/graph-questions-facts.jsonl ;;
    facts-g14) [ -f runs/facts-g14.jsonl ] || "$KGQA" --store runs/store retrieve --dataset "$Q" --out runs/facts-g14.jsonl ;;
    student-ens-l012-choices2-syn-a9-g14) done_run student-ens-l012-choices2-syn-a9-g14 || "$KGQA" --store runs/store distill "${G14[@]}" "${ONE[@]}" --augment 1 --augment-choices 2 --eval-every 250 --keep-evaluations --teacher runs/teacher-input-lr1/best --teacher runs/teacher-lm-lr1/best --run runs/student-ens-l012-choices2-syn-a9-g14 --layers 0,1,2 --alpha 0.9 --temperature 2 --cosine 1 --lr 2e-4 ;;
    student-lm2-l012-choices2) done_run student-lm2-l012-choices2 || "$KGQA" distill "${COMMON[@]}" "${ONE[@]}" --augment-choices 2 --eval-every 250 --keep-evaluations --teacher runs/teacher-lm-lr1/best --teacher runs/teacher-lm-lr1-s1/best --run runs/student-lm2-l012-choices2 --layers 0,1,2 --alpha 0.5 --temperature 2 --cosine 1 --lr 2e-4 ;;
    student-lm2-l012) done_run student-lm2-l012 || "$KGQA" distill "${COMMON[@]}" "${ONE[@]}" --teacher runs/teacher-lm-lr1/best --teacher runs/teacher-lm-lr1-s1/best --run runs/student-lm2-l012 --layers 0,1,2 --alpha 0.5 --temperature 2 --cosine 1 --lr 2e-4 ;;
    student-ens-l012-s1) done_run student-ens-l012-s1 || "$KGQA" distill "${SEED1[@]}" "${ONE[@]}" --teacher runs/teacher-input-lr1/best --teacher runs/teacher-lm-lr1/best --run runs/student-ens-l012-s1 --layers 0,1,2 --alpha 0.5 --temperature 2 --cosine 1 --lr 2e-4 ;;
    student-lm2-l012-s1) done_run student-lm2-l012-s1 || "$KGQA" distill "${SEED1[@]}" "${ONE[@]}" --teacher runs/teacher-lm-lr1/best --teacher runs/teacher-lm-lr1-s1/best --run runs/student-lm2-l012-s1 --layers 0,1,2 --alpha 0.5 --temperature 2 --cosine 1 --lr 2e-4 ;;
    student-ens-e2) done_run student-ens-e2 2 || "$KGQA" distill "${COMMON[@]}" --epochs 2 --max-length 64 --teacher runs/teacher-input-lr1/best --teacher runs/teacher-lm-lr1/best --run runs/student-ens-e2 --student-layers 3 --alpha 0.5 --temperature 2 --cosine 1 --lr 2e-4 ;;
    teacher-entity) done_run teacher-entity || "$KGQA" train "${COMMON[@]}" "${LR[@]}" "${ONE[@]}" --base "$BASE" --run runs/teacher-entity --fusion entity ;;
    student-hard) done_run student-hard || "$KGQA" distill "${COMMON[@]}" "${LR[@]}" "${ONE[@]}" --teacher runs/teacher-input/best --run runs/student-hard --student-layers 3 --alpha 0 ;;
    student-hard-lr2) done_run student-hard-lr2 || "$KGQA" distill "${COMMON[@]}" "${ONE[@]}" --teacher runs/teacher-input/best --run runs/student-hard-lr2 --student-layers 3 --alpha 0 --lr 2e-4 ;;
    student-soft) done_run student-soft || "$KGQA" distill "${COMMON[@]}" "${LR[@]}" "${ONE[@]}" --teacher runs/teacher-input/best --run runs/student-soft --student-layers 3 --alpha 0.5 --temperature 2 --cosine 1 ;;
    student-soft-lr) done_run student-soft-lr || "$KGQA" distill "${COMMON[@]}" "${ONE[@]}" --teacher runs/teacher-input/best --run runs/student-soft-lr --student-layers 3 --alpha 0.5 --temperature 2 --cosine 1 --lr 1e-4 ;;
    student-soft-lr2) done_run student-soft-lr2 || "$KGQA" distill "${COMMON[@]}" "${ONE[@]}" --teacher runs/teacher-input/best --run runs/student-soft-lr2 --student-layers 3 --alpha 0.5 --temperature 2 --cosine 1 --lr 2e-4 ;;
    student-soft-lr4) done_run student-soft-lr4 || "$KGQA" distill "${COMMON[@]}" "${ONE[@]}" --teacher runs/teacher-input/best --run runs/student-soft-lr4 --student-layers 3 --alpha 0.5 --temperature 2 --cosine 1 --lr 4e-4 ;;
    student-tiny) done_run student-tiny || "$KGQA" distill "${COMMON[@]}" "${LR[@]}" "${ONE[@]}" --teacher runs/teacher-input/best --run runs/student-tiny --student-layers 3 --alpha 0.5 --temperature 2 --tinybert --intermediate-epochs 0 ;;
    student-tiny-aug) done_run student-tiny-aug || "$KGQA" --store runs/store distill "${COMMON[@]}" "${ONE[@]}" --teacher runs/teacher-input/best --run runs/student-tiny-aug --student-layers 3 --alpha 0.5 --temperature 2 --tinybert --intermediate-epochs 0 --augment 1 --lr 2e-4 ;;
    student-narrow) done_run student-narrow || "$KGQA" distill "${COMMON[@]}" "${ONE[@]}" --teacher runs/teacher-input/best --run runs/student-narrow --student-layers 4 --student-hidden 256 --narrow-init random --alpha 0.5 --temperature 2 --tinybert --intermediate-epochs 0 --lr 2e-4 ;;
    # The narrow recipe started from the teacher's weights at evenly spaced channels, heads
    # and units (weight selection; `--narrow-init select`, the default), from
    # the lr 1e-4 input-fusion teacher (the lr 5e-5 one is not rebuilt on fresh machines).
    student-narrow-select) done_run student-narrow-select || "$KGQA" distill "${COMMON[@]}" "${ONE[@]}" --teacher runs/teacher-input-lr1/best --run runs/student-narrow-select --student-layers 4 --student-hidden 256 --narrow-init select --alpha 0.5 --temperature 2 --tinybert --intermediate-epochs 0 --lr 2e-4 ;;
    # Its control: the same run, same teacher and seed, from BERT's random start (seeded).
    student-narrow-random) done_run student-narrow-random || "$KGQA" distill "${COMMON[@]}" "${ONE[@]}" --teacher runs/teacher-input-lr1/best --run runs/student-narrow-random --student-layers 4 --student-hidden 256 --narrow-init random --alpha 0.5 --temperature 2 --tinybert --intermediate-epochs 0 --lr 2e-4 ;;
    # The selected narrow start trained for two epochs instead of one (evaluated every 250
    # steps, the last kept: no pick on the held-out slice).
    student-narrow-select-e2) done_run student-narrow-select-e2 2 || "$KGQA" distill "${COMMON[@]}" --epochs 2 --max-length 64 --eval-every 250 --keep-evaluations --keep last --teacher runs/teacher-input-lr1/best --run runs/student-narrow-select-e2 --student-layers 4 --student-hidden 256 --narrow-init select --alpha 0.5 --temperature 2 --tinybert --intermediate-epochs 0 --lr 2e-4 ;;
    # MPNet teachers (all-mpnet-base-v2, 110 M; scripts/fetch-model.sh all-mpnet-base-v2):
    # one epoch at lr 3e-5 (about 0.9 questions/s on 2 AMD EPYC cores: some 2.3 h).
    mpnet-lm) done_run mpnet-lm || "$KGQA" train "${COMMON[@]}" "${ONE[@]}" --lr 3e-5 --eval-every 150 --base "$(mpnet)" --run runs/mpnet-lm --fusion none ;;
    # The same on the first 3,500 training questions (500 held out, 3,000 trained on): the
    # setting of the PyTorch reference run, and a run that fits in one working session.
    mpnet-lm-3k) done_run mpnet-lm-3k || "$KGQA" train "${COMMON[@]}" "${ONE[@]}" --lr 3e-5 --eval-every 150 --limit 3500 --base "$(mpnet)" --run runs/mpnet-lm-3k --fusion none ;;
    # The shipped soup, taught further by the MPNet teacher alone: soft targets over the
    # choices (the two share no vocabulary or width), lr 1e-4 as it starts trained.
    student-mpnet-soup) done_run student-mpnet-soup || {
      [ -f runs/soup-f32/model.safetensors ] || "$KGQA" export --model data/models/student --out runs/soup-f32
      "$KGQA" distill "${COMMON[@]}" "${ONE[@]}" --eval-every 150 --keep-evaluations --teacher runs/mpnet-lm-3k/best --student-from runs/soup-f32 --layers 0,1,2 --alpha 0.9 --temperature 2 --lr 1e-4 --run runs/student-mpnet-soup; } ;;
    facts-curated) [ -f runs/facts-curated.jsonl ] || "$KGQA" --store runs/store retrieve --dataset "$Q" --curated --out runs/facts-curated.jsonl ;;
    # mpnet-lm-3k's questions, order and steps, reading curated facts: the graph's gain.
    mpnet-input-3k-curated) done_run mpnet-input-3k-curated || "$KGQA" train "${CUR[@]}" "${ONE[@]}" --lr 3e-5 --eval-every 150 --limit 3500 --base "$(mpnet)" --run runs/mpnet-input-3k-curated --fusion input --curated ;;
    # The 6-layer all-MiniLM-L6-v2 as a student start that reads curated facts (fresh head).
    minilm-input-curated) mkdir -p runs/minilm-input-curated
      for f in config.json tokenizer.json model.safetensors; do ln -sf "$BASE/$f" runs/minilm-input-curated/; done
      echo '{"pooling": "cls", "max_length": 64, "fusion": {"input": true, "curated": true}}' > runs/minilm-input-curated/kgqa.json ;;
    # The shipped student's weights reading curated knowledge (soup4-curated in RUNS.md).
    soup-curated) mkdir -p runs/soup-curated
      for f in config.json tokenizer.json model.safetensors; do ln -sf "$ROOT/data/models/student/$f" runs/soup-curated/; done
      python3 -c 'import json; k = json.load(open("data/models/student/kgqa.json")); k["fusion"]["curated"] = True; json.dump(k, open("runs/soup-curated/kgqa.json", "w"), indent=2)' ;;
    # The MPNet teacher with the higher held-out accuracy (ties: the LM-only one) teaches it.
    student6-mpnet) done_run student6-mpnet || {
      teacher=$(python3 -c 'import json, sys
best = lambda r: json.load(open(f"runs/{r}/checkpoint/state.json"))["best_accuracy"] or 0
print("mpnet-input-3k-curated" if best("mpnet-input-3k-curated") > best("mpnet-lm-3k") else "mpnet-lm-3k")')
      student6 student6-mpnet "runs/$teacher/best"; } ;;
    # student6-mpnet's command, taught by the full-epoch MPNet teacher.
    student6-mpnet-full) done_run student6-mpnet-full || student6 student6-mpnet-full runs/mpnet-lm/best ;;
    # The two 6-layer MPNet students (one start, one facts cache, one seed) averaged.
    soup6) [ -f runs/soup6/best/model.safetensors ] || "$KGQA" average --model runs/student6-mpnet/best --model runs/student6-mpnet-full/best --out runs/soup6/best ;;
    soup6c) [ -f runs/soup6c/best/model.safetensors ] || "$KGQA" average --model runs/student6-mpnet/best \
      --model runs/student6-mpnet-full/best --model runs/student6-mpnet-full-choices2/best --out runs/soup6c/best ;;
    student6-mpnet-full-choices2) done_run student6-mpnet-full-choices2 || student6 student6-mpnet-full-choices2 runs/mpnet-lm/best --augment-choices 2 ;;
    # Three of the MPNet teacher's layers, its width and vocabulary: soft targets and the cosine loss.
    student3-mpnet) done_run student3-mpnet || "$KGQA" distill "${COMMON[@]}" "${ONE[@]}" --eval-every 150 --keep-evaluations \
      --teacher runs/mpnet-lm/best --layers 0,1,2 --alpha 0.9 --temperature 2 --cosine 1 --lr 1e-4 --run runs/student3-mpnet ;;
    # The PyTorch reference recipe on mpnet-lm-3k's exact questions (scripts/torch-reference.py;
    # Python with torch and transformers: benches/mc_speed.sh's set-up, KGQA_PYTHON).
    torch-ref-3k) [ -s runs/predictions/torch-ref-3k-both.jsonl ] || "${KGQA_PYTHON:-$HOME/.cache/kgqa/bench-venv/bin/python}" \
      scripts/torch-reference.py "$(mpnet)" --limit 3500 --lr 3e-5 --checkpoint runs/torch-ref-3k --out runs/predictions/torch-ref-3k-both.jsonl ;;
    # mpnet-lm with the embeddings and layers 0-5 frozen (RUNS.md: a teacher run that
    # fits in one working session).
    mpnet-lm-f6) done_run mpnet-lm-f6 || "$KGQA" train "${COMMON[@]}" "${ONE[@]}" --lr 3e-5 --eval-every 150 --base "$(mpnet)" --run runs/mpnet-lm-f6 --fusion none --freeze-layers 6 ;;
    # mpnet-lm's logits for student6-mpnet-full-choices2's transfer set (its 7,500 training
    # questions and two choice-set variants of each), written to data/labels/ so that its
    # students can be distilled without the teacher (`distill --teacher-labels FILE`, the
    # same arguments, no --teacher): docs/usage.md, teacher label files.
    # The same for seeds 1 and 2 (-s1, -s2: their own choice-set variants; the training
    # questions' labels are read from seed 0's file, so the teacher labels only the variants).
    labels-mpnet-lm|labels-mpnet-lm-s1|labels-mpnet-lm-s2) s=0; run=runs/$step; reuse=()
      if [ "$step" != labels-mpnet-lm ]; then s=${step##*-s}; reuse=(--teacher-labels "$(labels_file 0)"); fi
      [ -s "$(labels_file "$s")" ] || { mkdir -p data/labels; seeded "$s"
      "$KGQA" distill "${SEEDED[@]}" "${ONE[@]}" --augment-choices 2 --teacher runs/mpnet-lm/best "${reuse[@]}" \
        --student-from runs/minilm-input-curated --layers 0,1,2,3,4,5 --run "$run" --export-labels "$(labels_file "$s")"; } ;;
    # student6-mpnet-full-choices2's recipe from the label files alone (no teacher in the
    # session), at seeds 0, 1 and 2: siblings from one start for soup6-labels.
    student6-labels-s0|student6-labels-s1|student6-labels-s2) s=${step##*-s}; done_run "$step" || { seeded "$s"
      "$KGQA" distill "${SEEDED[@]}" "${ONE[@]}" --eval-every 150 --keep-evaluations --augment-choices 2 \
        --teacher-labels "$(labels_file "$s")" --student-from runs/minilm-input-curated --layers 0,1,2,3,4,5 \
        --alpha 0.9 --temperature 2 --lr 5e-5 --run "runs/$step"; } ;;
    soup6-labels) [ -f runs/soup6-labels/best/model.safetensors ] || "$KGQA" average --model runs/student6-labels-s0/best \
      --model runs/student6-labels-s1/best --model runs/student6-labels-s2/best --out runs/soup6-labels/best ;;
    # mpnet-lm-f6's run reading curated facts (input fusion): the graph's gain, paired
    # against mpnet-lm-f6's answers (data/predictions/mpnet-lm-f6.jsonl).
    mpnet-input-f6) done_run mpnet-input-f6 || "$KGQA" train "${CUR[@]}" "${ONE[@]}" --lr 3e-5 --eval-every 150 --base "$(mpnet)" --run runs/mpnet-input-f6 --fusion input --curated --freeze-layers 6 ;;
    # Soups leaning towards soup6c's best member (RUNS.md), from the two exported folders
    # the repository holds: student6-mpnet-full-choices2 (commit 1057bbd) and soup6c
    # (8e89444). The best member's share: 1/2, 2/3, 5/6. Screened on held-out questions.
    soup6w) for c in 1057bbd:choices2-shipped 8e89444:soup6c-shipped; do
        dir=runs/${c#*:}; mkdir -p "$dir"
        for f in config.json kgqa.json tokenizer.json model.safetensors; do
          [ -s "$dir/$f" ] || git show "${c%%:*}:data/models/student/$f" > "$dir/$f"; done
      done
      python3 scripts/held_out.py --ids-for held-out runs/held-out-ids.txt
      for w in 50:1:3 67:1:1 83:3:1; do
        IFS=: read -r share a b <<< "$w"; run=runs/soup6w-$share
        [ -f "$run/best/model.safetensors" ] || "$KGQA" average --model runs/choices2-shipped --weight "$a" \
          --model runs/soup6c-shipped --weight "$b" --out "$run/best"
        [ -f "$run-export/model.safetensors" ] || "$KGQA" export --model "$run/best" --out "$run-export" --fp16 --int8-embeddings
        "$KGQA" eval --model "$run-export" --dataset "$Q" --ids runs/held-out-ids.txt --facts runs/facts-curated.jsonl
      done
      "$KGQA" eval --model runs/soup6c-shipped --dataset "$Q" --ids runs/held-out-ids.txt --facts runs/facts-curated.jsonl ;;
    mpnet-input) done_run mpnet-input || "$KGQA" train "${COMMON[@]}" "${ONE[@]}" --lr 3e-5 --eval-every 150 --base "$(mpnet)" --run runs/mpnet-input --fusion input ;;
    # The shipped student: the uniform weight average ("model soup") of
    # the four sibling students above (one start, one facts cache), exported as shipped.
    soup4) [ -f runs/soup4/best/model.safetensors ] || "$KGQA" average --model runs/student-ens-l012-choices2-syn/best --model runs/student-ens-l012-choices2-syn-a9/best --model runs/student-ens-l012-choices2-syn-a10/best --model runs/student-ens-l012-choices2-syn-a9-graph/best --out runs/soup4/best
      [ -f runs/soup4-export/model.safetensors ] || "$KGQA" export --model runs/soup4/best --out runs/soup4-export --fp16 --int8-embeddings ;;
    eval)
      for run in teacher-lm student-lm-soft teacher-input teacher-entity teacher-input-lr1 teacher-lm-lr1 teacher-lm-lr1-s1 student-ens student-ens-e2 student-ens-l012 student-lm2 student-lm2-l012 student-ens-l012-s1 student-lm2-l012-s1 student-ens-l012-e2 student-ens-l012-choices student-ens-l012-choices2 student-lm2-l012-choices2 student-ens-l012-choices3 student-ens-l012-choices2-syn teacher-input-defs student-soft-lr2-t1 student-hard student-hard-lr2 student-soft student-soft-lr student-soft-lr2 student-soft-lr4 student-tiny student-tiny-aug student-narrow student-ens-l012-choices2-syn-a9 student-ens-l012-choices2-syn-a10 student-ens-l012-choices2-syn-a9-graph student-narrow-select student-narrow-random student-narrow-select-e2 soup4; do
        f=runs/facts.jsonl; [ "$run" = teacher-input-defs ] && f=runs/facts-defs.jsonl
        [ -d "runs/$run/best" ] && "$KGQA" eval --model "runs/$run/best" --dataset "$Q" --ids "$IDS" --facts "$f" --json | tee "runs/$run/eval.json"
      done ;;
    predictions)  # per-question answers, then the paired comparisons of data/models/RUNS.md
      mkdir -p runs/predictions
      for run in teacher-lm teacher-input teacher-entity teacher-input-lr1 teacher-lm-lr1 teacher-lm-lr1-s1 student-ens student-ens-e2 student-ens-l012 student-lm2 student-lm2-l012 student-ens-l012-s1 student-lm2-l012-s1 student-ens-l012-e2 student-ens-l012-choices student-ens-l012-choices2 student-lm2-l012-choices2 student-ens-l012-choices3 student-ens-l012-choices2-syn teacher-input-defs student-soft-lr2-t1 student-hard student-hard-lr2 student-soft student-soft-lr student-soft-lr2 student-tiny student-tiny-aug; do
        f=runs/facts.jsonl; [ "$run" = teacher-input-defs ] && f=runs/facts-defs.jsonl
        [ -f "runs/predictions/$run.jsonl" ] || "$KGQA" eval --model "runs/$run/best" --dataset "$Q" --ids "$IDS" \
          --facts "$f" --json --predictions "runs/predictions/$run.jsonl" > "runs/predictions/$run.json"
      done
      for pair in "student-tiny-aug student-soft-lr2" "student-soft-lr2 student-hard-lr2" "student-soft student-hard" "student-soft-lr2 student-soft" \
                  "student-tiny student-soft" "student-soft-lr2 student-soft-lr" "teacher-input teacher-lm" \
                  "teacher-entity teacher-lm" "teacher-input teacher-entity" "student-soft-lr2 teacher-input" \
                  "teacher-input-lr1 teacher-lm-lr1" "teacher-input-lr1 teacher-input" "teacher-lm-lr1 teacher-lm" \
                  "student-ens student-soft-lr2" "student-ens student-tiny-aug" \
                  "student-ens-e2 student-ens" "student-ens-e2 student-tiny-aug" "student-ens-e2 student-soft-lr2" \
                  "student-ens-e2 teacher-input-lr1" "teacher-lm-lr1-s1 teacher-lm-lr1" "student-ens student-lm2" \
                  "student-ens-l012 student-ens" "student-ens-l012 student-ens-e2" \
                  "student-ens-l012 student-lm2-l012" "student-ens-l012-s1 student-lm2-l012-s1" \
                  "student-ens-l012-e2 student-ens-l012" "student-ens-l012-e2 student-ens-e2" \
                  "teacher-input-defs teacher-lm-lr1" "teacher-input-defs teacher-input-lr1" \
                  "student-ens-l012-choices student-ens-l012-e2" "student-ens-l012-choices2 student-ens-l012-e2" \
                  "student-ens-l012-choices2 teacher-input-lr1" "student-ens-l012-choices2 student-lm2-l012-choices2"; do
        set -- $pair
        python3 scripts/compare-predictions.py "runs/predictions/$1.jsonl" "runs/predictions/$2.jsonl"
      done
      # What the graph adds to an ensemble beyond a second seed (analysis on the test).
      P=runs/predictions
      python3 scripts/ensemble-predictions.py $P/teacher-input-lr1.jsonl $P/teacher-lm-lr1.jsonl > $P/ens-input-lm0.jsonl
      python3 scripts/ensemble-predictions.py $P/teacher-input-lr1.jsonl $P/teacher-lm-lr1-s1.jsonl > $P/ens-input-lm1.jsonl
      python3 scripts/ensemble-predictions.py $P/teacher-lm-lr1.jsonl $P/teacher-lm-lr1-s1.jsonl > $P/ens-lm0-lm1.jsonl
      for e in ens-input-lm0 ens-input-lm1; do
        python3 scripts/compare-predictions.py "$P/$e.jsonl" "$P/ens-lm0-lm1.jsonl"
      done ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
  esac
done
