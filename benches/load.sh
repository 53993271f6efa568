#!/usr/bin/env bash
# Load benchmark (not a test): kgqa load vs oxigraph's own CLI loader on the same
# N-Triples file, alternating runs into fresh folders, medians and ratio; then kgqa's
# statements/second for the TSV (ConceptNet-100K) and WordNet loads.
#
# Set-up: cargo install oxigraph-cli; apt-get install wordnet-base.
# Usage: bash benches/load.sh [RUNS]   (default 3 runs of each loader)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-3}"
DATASETS="${KGQA_DATASETS:-../shared/datasets}"
WORDNET="${KGQA_WORDNET:-/usr/share/wordnet}"
OUT="${BENCH_OUT:-bench-out}"
mkdir -p "$OUT"
cargo build --release --quiet
KGQA="${CARGO_TARGET_DIR:-target}/release/kgqa"
OXIGRAPH="${OXIGRAPH:-$(command -v oxigraph)}"
NT="$OUT/conceptnet100k-wordnet.nt"
if [ ! -f "$NT" ]; then
    python3 scripts/make_bench_nt.py "$DATASETS/conceptnet-100k/train100k.txt.gz" "$WORDNET" "$NT" >/dev/null
fi
STATEMENTS=$(wc -l < "$NT")
echo "file: $NT, $STATEMENTS statements; $(nproc) cores; $(date -u +%FT%TZ)"
echo "oxigraph: $("$OXIGRAPH" --version 2>&1 | head -1); kgqa: $("$KGQA" --version)"

now() { date +%s.%N; }
time_cmd() { # prints seconds taken by the command
    local t0 t1
    t0=$(now)
    "$@" >/dev/null 2>&1
    t1=$(now)
    echo "$t1 - $t0" | bc -l
}

kg_times=()
ox_times=()
for i in $(seq "$RUNS"); do
    rm -rf "$OUT/ox.store" "$OUT/kg.store"
    sync
    ox_times+=("$(time_cmd "$OXIGRAPH" load --location "$OUT/ox.store" --file "$NT")")
    sync
    kg_times+=("$(time_cmd "$KGQA" load -q "$NT" --store "$OUT/kg.store")")
done
python3 - "$STATEMENTS" "${ox_times[*]}" "${kg_times[*]}" <<'PY'
import statistics, sys
n = int(sys.argv[1])
ox = [float(x) for x in sys.argv[2].split()]
kg = [float(x) for x in sys.argv[3].split()]
mo, mk = statistics.median(ox), statistics.median(kg)
print(f"oxigraph load: runs {', '.join(f'{x:.2f}' for x in ox)} s; median {mo:.2f} s ({n/mo:,.0f} statements/s)")
print(f"kgqa load:     runs {', '.join(f'{x:.2f}' for x in kg)} s; median {mk:.2f} s ({n/mk:,.0f} statements/s)")
print(f"ratio kgqa/oxigraph (median wall time): {mk/mo:.3f}  (goal <= 1.25)")
PY
rm -rf "$OUT/ox.store" "$OUT/kg.store"

for input in "$DATASETS/conceptnet-100k/train100k.txt.gz" "$WORDNET"; do
    rm -rf "$OUT/one.store"
    "$KGQA" load --json "$input" --store "$OUT/one.store" > "$OUT/one.json"
    python3 - "$input" "$OUT/one.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))
print(f"kgqa load {sys.argv[1]}: {r['statements']:,} statements, {r['edges']:,} edges, "
      f"{r['concepts']:,} concepts, {r['relations']} relations in {r['total_seconds']:.2f} s "
      f"({r['statements']/r['total_seconds']:,.0f} statements/s)")
PY
done
rm -rf "$OUT/one.store"
