#!/usr/bin/env bash
# The figures data/models/RUNS.md quotes for a finished distillation run, in one command:
# held-out and test accuracy of its kept checkpoint (`RUN/best`) with each facts cache,
# the same for its export (F16 weights, 8-bit word embeddings; the shipping format), the
# paired comparison on the test with the shipped student and with the teacher (each
# reading its own facts: none without fusion, runs/facts-curated.jsonl for curated
# knowledge, runs/facts.jsonl otherwise) and with any earlier candidate named in
# KGQA_COMPARE, and the held-out open-ended measure of the export and of the shipped
# student with the same binary (the shipping rule's second check).
#
# Usage: bash scripts/measure-run.sh RUN [FACTS.jsonl ...]
#   FACTS defaults to those of runs/facts.jsonl and runs/facts-g14.jsonl that exist.
#   KGQA_BIN picks the kgqa binary (default target/release/kgqa, as train-all.sh).
#   KGQA_TEACHER picks the teacher compared with (default runs/teacher-input-lr1/best;
#   left out when it does not exist). KGQA_COMPARE lists labels whose predictions
#   runs/predictions/LABEL-both.jsonl exist (e.g. "soup6-export-facts-curated").
#   KGQA_EXPORT=int8 also stores the encoder's matrices as 8-bit codes in the export
#   (`kgqa export --int8`).
# Writes runs/predictions/LABEL-FACTS-*.jsonl (each evaluation's --json summary beside
# it, with ms per question), runs/NAME-export/ and runs/measure-NAME.txt (everything
# printed). Test figures are for the record: the rule ships on held-out figures only.
set -euo pipefail
shopt -s inherit_errexit # a failed evaluation inside $(measure ...) stops the script
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
  "$KGQA" export --model "$RUN/best" --out "runs/$NAME-export" --fp16 --int8-embeddings \
    ${KGQA_EXPORT:+--$KGQA_EXPORT}
du -sh "runs/$NAME-export"

# Held-out and test in one evaluation (the ids file lists the other training questions).
accuracy() { # FILE SPLIT
  python3 scripts/held_out.py --only "$2" "$1" |
    python3 -c 'import json,sys; r=[json.loads(l) for l in sys.stdin]
n=sum(x["predicted"]==x["answer"] for x in r); print(f"{n}/{len(r)} ({100*n/len(r):.1f}%)")'
}
# The facts a model reads, from its kgqa.json: none without input or entity fusion,
# runs/facts-curated.jsonl for curated knowledge, runs/facts.jsonl otherwise.
own_facts() { # MODEL
  python3 -c 'import json,sys; f=json.load(open(sys.argv[1]+"/kgqa.json")).get("fusion",{})
print("" if not (f.get("input") or f.get("entity"))
      else "runs/facts-curated.jsonl" if f.get("curated") else "runs/facts.jsonl")' "$1"
}
# Predicts MODEL with FACTS ("" for none) as LABEL and prints its two accuracies; echoes
# nothing else. Files are named LABEL-TAG, TAG the facts' name or "nofacts".
measure() { # MODEL FACTS LABEL
  local tag=nofacts
  [ -n "$2" ] && tag=$(basename "$2" .jsonl)
  local file="$OUT/$3-$tag-both.jsonl"
  [ -s "$file" ] && [ "$file" -nt "$1/model.safetensors" ] ||
    "$KGQA" eval --model "$1" --dataset "$Q" --ids runs/eval-ids.txt ${2:+--facts "$2"} \
      --json --predictions "$file" > "${file%.jsonl}.json"
  python3 scripts/held_out.py --only test "$file" > "$OUT/$3-$tag-test.jsonl"
  echo "$3, $tag: held-out $(accuracy "$file" held-out), test $(accuracy "$file" test)" >&2
  echo "$3-$tag"
}
# The references each reading of the run is compared with, each on its own facts: the
# shipped student and the teacher, named by their weights' hash, so that their predictions
# are reused across runs but never outlive the model they came from; then KGQA_COMPARE's
# labels (files runs/predictions/LABEL-both.jsonl written before, e.g. another candidate's).
hash() { sha256sum "$1/model.safetensors" | cut -c1-12; }
refs=("$(measure "$SHIPPED" "$(own_facts "$SHIPPED")" "shipped-$(hash "$SHIPPED")")")
if [ -f "$TEACHER/model.safetensors" ]; then
  label="teacher-$(basename "$(dirname "$TEACHER")")-$(hash "$TEACHER")"
  refs+=("$(measure "$TEACHER" "$(own_facts "$TEACHER")" "$label")")
fi
for label in ${KGQA_COMPARE:-}; do
  python3 scripts/held_out.py --only test "$OUT/$label-both.jsonl" > "$OUT/$label-test.jsonl"
  refs+=("$label")
done
for facts in "${FACTS[@]}"; do
  for model in "$RUN/best:$NAME" "runs/$NAME-export:$NAME-export"; do
    mine=$(measure "${model%%:*}" "$facts" "${model#*:}")
    for other in "${refs[@]}"; do
      echo "== test: $mine against $other"
      python3 scripts/compare-predictions.py "$OUT/$mine-test.jsonl" "$OUT/$other-test.jsonl"
    done
  done
done

# Open-ended: gold answer first among the graph's candidates, held-out questions.
for model in "runs/$NAME-export" "$SHIPPED"; do
  echo "== open-ended, $model"
  cargo bench --locked --bench open_ended -- runs/store "$model" 2>/dev/null | tail -8
done
