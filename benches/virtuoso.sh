#!/usr/bin/env bash
# A kgqa store's statements in Virtuoso 7 (Debian's virtuoso-opensource-7-bin), read as a
# remote graph: dumps the store as N-Triples (`kgqa query CONSTRUCT`), bulk-loads them into
# a fresh `virtuoso-t` on free loopback ports (`ld_dir` + `rdf_loader_run`), then runs
# benches/remote.sh against it: the lexicon fetched from Virtuoso compared with the store's
# own, the facts of the 1,241 in-house test questions compared question by question, and
# retrieval latency local against Virtuoso, alternating, in one run.
# Usage: bash benches/virtuoso.sh STORE [N (200)] [RUNS (3)]
set -euo pipefail
cd "$(dirname "$0")/.."
STORE="$1"; N="${2:-200}"; RUNS="${3:-3}"
command -v virtuoso-t > /dev/null || { echo "virtuoso-t not found (apt-get install virtuoso-opensource-7-bin)" >&2; exit 1; }
cargo build --quiet --release
KGQA="${CARGO_TARGET_DIR:-target}/release/kgqa"
DIR=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
SQL=$(port); HTTP=$(port)
cat > "$DIR/virtuoso.ini" <<INI
[Database]
DatabaseFile = $DIR/db.db
ErrorLogFile = $DIR/db.log
TransactionFile = $DIR/db.trx
xa_persistent_file = $DIR/db.pxa
[TempDatabase]
DatabaseFile = $DIR/temp.db
TransactionFile = $DIR/temp.trx
[Parameters]
ServerPort = $SQL
NumberOfBuffers = 170000
MaxDirtyBuffers = 130000
DirsAllowed = ., $DIR
[HTTPServer]
ServerPort = $HTTP
ServerRoot = $DIR
[SPARQL]
ResultSetMaxRows = 1000000
MaxQueryExecutionTime = 600
INI
start=$(date +%s%N)
"$KGQA" --store "$STORE" query "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }" > "$DIR/graph.nt"
echo "dumped $(wc -l < "$DIR/graph.nt") statements in $(( ($(date +%s%N) - start) / 1000000 )) ms"
(cd "$DIR" && exec virtuoso-t -f -c virtuoso.ini > /dev/null 2>&1) &
VIRTUOSO=$!
trap 'kill $VIRTUOSO; wait $VIRTUOSO 2> /dev/null; rm -rf "$DIR"' EXIT
until isql-vt "$SQL" dba dba exec="status();" > /dev/null 2>&1; do sleep 0.5; done
start=$(date +%s%N)
isql-vt "$SQL" dba dba exec="ld_dir('$DIR', 'graph.nt', 'http://kgqa.test/graph'); rdf_loader_run(); checkpoint;" > /dev/null
echo "loaded into Virtuoso in $(( ($(date +%s%N) - start) / 1000000 )) ms"
KGQA_ENDPOINT="http://127.0.0.1:$HTTP/sparql" bash benches/remote.sh "$STORE" "$N" "$RUNS"
