#!/usr/bin/env bash
# `/ask` at 1, 8 and 32 concurrent clients for SECONDS each on a store, quiet and with two
# attacker threads sending the hostile requests of tests/server_hostile.rs at the same
# time (benches/load.py): throughput, p50/p99, errors, the server's memory before and
# after, and the attacked p99 over the quiet one. Its /metrics at the end are kept beside
# the table. The server runs with its defaults (`kgqa --store STORE serve`).
# Usage: bash benches/load_attack.sh STORE [SECONDS (60)] [CLIENTS (1,8,32)]
set -euo pipefail
cd "$(dirname "$0")/.."
STORE="$1"; SECONDS_EACH="${2:-60}"; CLIENTS="${3:-1,8,32}"
CSQA="${KGQA_DATASETS:-../shared/datasets}/commonsenseqa"
cargo build --quiet --release
KGQA="${CARGO_TARGET_DIR:-target}/release/kgqa"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$KGQA" --store "$STORE" serve --addr "127.0.0.1:$PORT" > /dev/null 2> /tmp/kgqa-load-attack.log &
SERVER=$!
trap 'kill $SERVER 2> /dev/null' EXIT
until curl -sf "http://127.0.0.1:$PORT/health" > /dev/null; do sleep 0.2; done
curl -sf "http://127.0.0.1:$PORT/health" | python3 -c 'import json,sys; h=json.load(sys.stdin); print("kernels:", h["kernels"]["cpu"], h["kernels"]["core"], "; products:", h["model"]["precision"])'
python3 benches/load.py "$PORT" "$SERVER" "$CSQA/train_rand_split.jsonl" "$CSQA/inhouse_split_qids.txt" "$SECONDS_EACH" "$CLIENTS"
kill -0 "$SERVER" && echo "server alive after the runs"
curl -sf "http://127.0.0.1:$PORT/metrics" | grep -E '^kgqa_(requests_total|connections_rejected_total|given_up_total)' | sort | head -40
