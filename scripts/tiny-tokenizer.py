#!/usr/bin/env python3
"""Writes tests/data/tokenizer/tokenizer.json: a 2,109-piece BERT WordPiece tokenizer for
the training tests' tiny models, so that they run without the base model. Its pieces are
all-MiniLM-L6-v2's (Apache-2.0): the special tokens, the ASCII pieces of ids 999-3999 (single
characters and the most common words) and every ASCII `##x` continuation, so any text
tokenizes. Needs the `tokenizers` package (pinned: tokenizers==0.20.3, as in the bench
venv of benches/mc_speed.sh).
Usage: python3 scripts/tiny-tokenizer.py [BASE_MODEL_DIR]"""
import os
import subprocess
import sys

from tokenizers import BertWordPieceTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
base = sys.argv[1] if len(sys.argv) > 1 else subprocess.check_output(
    ["bash", os.path.join(ROOT, "scripts/fetch-model.sh")], text=True
).strip()
vocab = [line.rstrip("\n") for line in open(os.path.join(base, "vocab.txt"), encoding="utf-8")]
keep = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
seen = set(keep)
for i, piece in enumerate(vocab):
    if piece in seen or piece.startswith("[unused"):
        continue
    single = len(piece) == 1 or (piece.startswith("##") and len(piece) == 3)
    if piece.isascii() and (999 <= i < 4000 or single):
        keep.append(piece)
        seen.add(piece)
tokenizer = BertWordPieceTokenizer(
    {piece: i for i, piece in enumerate(keep)}, lowercase=True, strip_accents=None
)
out = os.path.join(ROOT, "tests/data/tokenizer/tokenizer.json")
os.makedirs(os.path.dirname(out), exist_ok=True)
tokenizer.save(out)
print(f"wrote {out}: {len(keep)} pieces")
