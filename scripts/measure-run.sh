#!/usr/bin/env bash
# The figures data/models/RUNS.md quotes for a finished distillation run, in one command:
# held-out and test accuracy of its kept checkpoint (`RUN/best`) with each facts cache,
# the same for its export (F16 weights, 8-bit word embeddings; the shipping format), the
# paired comparison with the shipped student and with the input-fusion teacher on the test,
# each model's fidelity (same choice as the teacher), and the held-out open-ended measure
# of the export and of the shipped student with the same binary (the shipping rule's
# second check).
#
# Usage: bash scripts/measure-run.sh RUN [FACTS.jsonl ...]
#   FACTS defaults to those of runs/facts.jsonl and runs/facts-g14.jsonl that exist (the
#   two groundings the models were measured on). KGQA_BIN picks the kgqa binary (default
#   target/release/kgqa, as train-all.sh). KGQA_TEACHER picks the teacher compared with
#   (default runs/teacher-input-lr1/best; left out when it does not exist). KGQA_EXPORT=int8
#   also stores the encoder's matrices as 8-bit codes in the export (`kgqa export --int8`). Writes runs/predictions/NAME-*.jsonl (and each evaluation's --json
#   summary beside it, with ms per question), runs/NAME-export/ and
#   runs/measure-NAME.txt (everything printed). Test figures are for the record: the rule
#   ships on held-out figures only.
set -euo pipefail
# Runs from a copy of itself (editing this file meanwhile changes nothing), in the root.
. "${KGQA_FROM_ROOT:-$(dirname "$0")/..}/scripts/from-copy.sh" "$@"
RUN=${1:?usage: scripts/measure-run.sh RUN [FACTS.jsonl ...]}
shift
FACTS=("$@")
if [ ${#FACTS[@]} -eq 0 ]; then
  for f in runs/facts.jsonl runs/facts-g14.jsonl; do [ -f "$f" ] && FACTS+=("$f"); done
fi
NAME=$(basename "$RUN")
KGQA=${KGQA_BIN:-${CARGO_TARGET_DIR:-target}/release/kgqa}
Q=../shared/datasets/commonsenseqa/train_rand_split.jsonl
TEACHER=${KGQA_TEACHER:-runs/teacher-input-lr1/best}
SHIPPED=data/models/student
OUT=runs/predictions
mkdir -p "$OUT"
exec > >(tee "runs/measure-$NAME.txt") 2>&1

python3 scripts/held_out.py runs/eval-ids.txt
[ -e "runs/$NAME-export/model.safetensors" ] ||
  "$KGQA" export --model "$RUN/best" --out "runs/$NAME-export" --fp16 --int8-embeddings ${KGQA_EXPORT:+--$KGQA_EXPORT}
du -sh "runs/$NAME-export"

# Held-out and test in one evaluation (the ids file lists the other training questions).
predict() { # MODEL FACTS FILE
  [ -s "$3" ] && [ "$3" -nt "$1/model.safetensors" ] || "$KGQA" eval --model "$1" --dataset "$Q" --ids runs/eval-ids.txt \
    --facts "$2" --json --predictions "$3" > "${3%.jsonl}.json"
}
accuracy() { # FILE SPLIT
  python3 scripts/held_out.py --only "$2" "$1" |
    python3 -c 'import json,sys; r=[json.loads(l) for l in sys.stdin]; n=sum(x["predicted"]==x["answer"] for x in r); print(f"{n}/{len(r)} ({100*n/len(r):.1f}%)")'
}
for facts in "${FACTS[@]}"; do
  tag=$(basename "$facts" .jsonl)
  # The shipped student and the teacher are named by their weights' hash, so their
  # predictions are reused across runs but never outlive the model they came from.
  shipped=shipped-$(sha256sum "$SHIPPED/model.safetensors" | cut -c1-12)
  models=("$RUN/best:$NAME" "runs/$NAME-export:$NAME-export" "$SHIPPED:$shipped")
  others=("$shipped")
  if [ -f "$TEACHER/model.safetensors" ]; then
    teacher=teacher-$(basename "$(dirname "$TEACHER")")-$(sha256sum "$TEACHER/model.safetensors" | cut -c1-12)
    models+=("$TEACHER:$teacher")
    others+=("$teacher")
  fi
  for model in "${models[@]}"; do
    dir=${model%%:*} label=${model#*:}
    file="$OUT/$label-$tag-both.jsonl"
    predict "$dir" "$facts" "$file"
    echo "$label, $tag: held-out $(accuracy "$file" held-out), test $(accuracy "$file" test)"
  done
  for label in "$NAME" "$NAME-export"; do
    for other in "${others[@]}"; do
      for f in "$label" "$other"; do
        python3 scripts/held_out.py --only test "$OUT/$f-$tag-both.jsonl" > "$OUT/$f-$tag-test.jsonl"
      done
      echo "== test, $tag: $label against $other"
      python3 scripts/compare-predictions.py "$OUT/$label-$tag-test.jsonl" "$OUT/$other-$tag-test.jsonl"
    done
  done
done

# Open-ended: gold answer first among the graph's candidates, held-out questions.
for model in "runs/$NAME-export" "$SHIPPED"; do
  echo "== open-ended, $model"
  cargo bench --locked --bench open_ended -- runs/store "$model" 2>/dev/null | tail -8
done
