#!/usr/bin/env python3
"""Writes tests/data/mpnet-parity/: reference outputs of all-mpnet-base-v2 from Hugging
Face's PyTorch implementation, for tests/model_parity.rs (real-data tier).

Pinned: torch==2.5.1 transformers==4.46.3 safetensors (any), on the CPU in fp32.
Usage: python3 scripts/mpnet-parity-fixture.py [MODEL_DIR]
MODEL_DIR defaults to what `scripts/fetch-model.sh all-mpnet-base-v2` prints.

Written: inputs.json (the pairs, the tokenizer's ids), reference.safetensors with
input_ids, attention_mask, hidden_states.{0,6,12} (the embedding output and two
layers; all 13 would be over 5 MB), attentions.11 and buckets (the relative position
bucket of every relative position -600..600 with 32 buckets, distance 128).
"""
import json
import os
import subprocess
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoTokenizer, MPNetModel
from transformers.models.mpnet.modeling_mpnet import MPNetEncoder

assert torch.__version__.startswith("2.5.1"), torch.__version__
assert transformers.__version__ == "4.46.3", transformers.__version__

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
model_dir = sys.argv[1] if len(sys.argv) > 1 else subprocess.check_output(
    ["bash", os.path.join(ROOT, "scripts/fetch-model.sh"), "all-mpnet-base-v2"], text=True
).strip()
out_dir = os.path.join(ROOT, "tests/data/mpnet-parity")
os.makedirs(out_dir, exist_ok=True)

PAIRS = [
    ("Where would you find magazines along side many other printed works?", "bookstore"),
    ("We dug the ground to plant flowers. What did we dig with?", "trowel"),
    ("What do people use to build a house foundation?", "excavator ; excavator is used for dig"),
    ("The man was cold.", "He put on a coat."),
]
torch.manual_seed(0)
tokenizer = AutoTokenizer.from_pretrained(model_dir)
model = MPNetModel.from_pretrained(model_dir, attn_implementation="eager").eval()
enc = tokenizer(
    [a for a, _ in PAIRS], [b for _, b in PAIRS], padding="longest", truncation="only_second",
    max_length=64, return_tensors="pt",
)
with torch.no_grad():
    out = model(
        input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
        output_hidden_states=True, output_attentions=True,
    )
tensors = {
    "input_ids": enc["input_ids"].to(torch.int64).contiguous(),
    "attention_mask": enc["attention_mask"].to(torch.int64).contiguous(),
    "attentions.11": out.attentions[11].contiguous(),
    "buckets": MPNetEncoder.relative_position_bucket(
        torch.arange(-600, 601), num_buckets=32, max_distance=128
    ).to(torch.int64).contiguous(),
}
for i in (0, 6, 12):
    tensors[f"hidden_states.{i}"] = out.hidden_states[i].contiguous()
save_file(tensors, os.path.join(out_dir, "reference.safetensors"))
with open(os.path.join(out_dir, "inputs.json"), "w") as f:
    json.dump(
        {
            "model": "all-mpnet-base-v2",
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "max_length": 64,
            "pairs": [{"text": a, "text_pair": b} for a, b in PAIRS],
        },
        f,
        indent=1,
    )
print(f"wrote {out_dir}: {sum(t.numel() * t.element_size() for t in tensors.values())} bytes")
