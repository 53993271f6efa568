#!/usr/bin/env bash
# Retrieval on a local store against the same store behind a SPARQL endpoint (`kgqa serve
# --store STORE` on this machine, so the difference is the protocol, not the network):
# `kgqa bench` runs the first N in-house test questions of CommonsenseQA, alternating
# local and remote runs, and reports each run's retrieval p50 and mean per question, their
# medians and the ratio remote / local. Retrieval is cached per concept within a run, so
# later questions reuse earlier fetches, as a long-running server does. The remote runs
# read the store's own lexicon file (`--lexicon`), as a replica started beside its graph
# would; fetching it from the endpoint is timed once, apart. With KGQA_ENDPOINT=URL the
# remote runs read that endpoint (holding the store's statements) instead of a `kgqa
# serve` started here: `benches/virtuoso.sh` uses it for Virtuoso.
# Usage: bash benches/remote.sh STORE [N (200)] [RUNS (3)]
set -euo pipefail
cd "$(dirname "$0")/.."
STORE="$1"; N="${2:-200}"; RUNS="${3:-3}"
CSQA="${KGQA_DATASETS:-../shared/datasets}/commonsenseqa"
cargo build --quiet --release
KGQA="${CARGO_TARGET_DIR:-target}/release/kgqa"
if [ -n "${KGQA_ENDPOINT:-}" ]; then
  URL="$KGQA_ENDPOINT"
else
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # The lexicon's COUNT(DISTINCT) over every statement runs past the default 10 s limit.
  "$KGQA" --store "$STORE" serve --addr "127.0.0.1:$PORT" --sparql-timeout 600 > /dev/null 2>&1 &
  SERVER=$!
  trap 'kill $SERVER' EXIT
  until curl -sf "http://127.0.0.1:$PORT/health" > /dev/null; do sleep 0.2; done
  URL="http://127.0.0.1:$PORT/sparql"
fi
OUT=$(mktemp -d)
LEXICON="$STORE/lexicon-$(cat "$STORE/kgqa-current").tsv"
start=$(date +%s%N)
"$KGQA" --store "$URL" --endpoint-timeout 600 --lexicon "$OUT/fetched.tsv" concept trowel > /dev/null
echo "lexicon fetched from the endpoint in $(( ($(date +%s%N) - start) / 1000000 )) ms; equal to the store's: $(cmp -s "$OUT/fetched.tsv" "$LEXICON" && echo yes || echo no)"
for i in $(seq "$RUNS"); do
  for where in local remote; do
    if [ "$where" = local ]; then G=(--store "$STORE"); else G=(--store "$URL" --lexicon "$LEXICON"); fi
    "$KGQA" "${G[@]}" --endpoint-timeout 600 bench --dataset "$CSQA/train_rand_split.jsonl" \
      --ids "$CSQA/inhouse_split_qids.txt" --limit "$N" --threads 1 --json > "$OUT/$where-$i.json" 2> /dev/null
  done
done
# The facts themselves, question by question, for all 1,241 in-house test questions.
FACTS=(retrieve --dataset "$CSQA/train_rand_split.jsonl" --ids "$CSQA/inhouse_split_qids.txt" --split unlisted)
"$KGQA" --store "$STORE" "${FACTS[@]}" --out "$OUT/local-facts.jsonl" 2> /dev/null
"$KGQA" --store "$URL" --endpoint-timeout 600 --lexicon "$LEXICON" "${FACTS[@]}" --out "$OUT/remote-facts.jsonl" 2> "$OUT/remote-facts.log" || { cat "$OUT/remote-facts.log" >&2; exit 1; }
python3 - "$OUT" <<'PY'
import json, sys
texts = lambda k: [[f["text"] for f in c["facts"]] for c in k["choices"]]
a = [json.loads(l) for l in open(f"{sys.argv[1]}/local-facts.jsonl")]
b = [json.loads(l) for l in open(f"{sys.argv[1]}/remote-facts.jsonl")]
same = sum(texts(x) == texts(y) for x, y in zip(a, b))
exact = sum(x == y for x, y in zip(a, b))
print(f"facts of the {len(a)} in-house test questions: same texts in the same order for {same}, "
      f"byte-equal (weights and scores included) for {exact}")
PY
python3 - "$OUT" "$RUNS" <<'PY'
import json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
med = {}
for where in ("local", "remote"):
    r = [json.load(open(f"{out}/{where}-{i}.json"))["datasets"][0] for i in range(1, runs + 1)]
    p50 = [d["retrieval"]["p50_ms"] for d in r]
    mean = [d["retrieval"]["mean_ms"] for d in r]
    correct = {d["with_graph"]["correct"] for d in r}
    med[where] = (statistics.median(p50), statistics.median(mean))
    print(f"{where:6}: retrieval p50 ms {', '.join(f'{x:.2f}' for x in p50)} (median {med[where][0]:.2f}); "
          f"mean ms median {med[where][1]:.2f}; correct {sorted(correct)} of {r[0]['questions']}")
print(f"ratio remote / local: p50 x{med['remote'][0] / med['local'][0]:.2f}, mean x{med['remote'][1] / med['local'][1]:.2f}")
PY
