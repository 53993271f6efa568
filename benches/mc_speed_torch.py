"""PyTorch side of benches/mc_speed.sh: the same model, inputs and cases as mc_speed.rs,
torch.set_num_threads(2), fp32, eager attention. Set-up (once):
python3 -m venv ~/.cache/kgqa/bench-venv && ~/.cache/kgqa/bench-venv/bin/pip install torch transformers
Usage: mc_speed_torch.py MODEL_DIR [REPEATS]"""
import statistics
import sys
import time

import torch
from transformers import AutoModel


def ids(rows, length):
    out = []
    for r in range(rows):
        row = []
        for i in range(length):
            if i == 0:
                row.append(101)
            elif i + 1 == length:
                row.append(102)
            else:
                row.append(1000 + (r * 7919 + i * 104729) % 28000)
        out.append(row)
    return torch.tensor(out)


CASES = ((1, 32), (1, 64), (1, 128), (32, 64))


def load(model_dir):
    """The encoder of `model_dir`, fp32, eager attention. A folder kgqa wrote (`kgqa
    export`) has no safetensors metadata, which `from_pretrained` requires: its tensors are
    then loaded into a model built from its config."""
    from safetensors import safe_open
    from safetensors.torch import load_file
    from transformers import AutoConfig
    path = f"{model_dir}/model.safetensors"
    with safe_open(path, "pt") as f:
        has_metadata = f.metadata() is not None
    if has_metadata:
        return AutoModel.from_pretrained(model_dir, attn_implementation="eager").eval()
    config = AutoConfig.from_pretrained(model_dir, attn_implementation="eager")
    model = AutoModel.from_config(config)
    missing, _ = model.load_state_dict(load_file(path), strict=False)
    assert not [m for m in missing if "pooler" not in m], missing
    return model.eval()


def median_ms(run, repeats):
    """Median wall time of `run()` in milliseconds, after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main():
    model_dir, repeats = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20
    torch.set_num_threads(2)
    model = load(model_dir)
    classifier = torch.nn.Linear(model.config.hidden_size, 1)
    for questions, length in CASES:
        rows = questions * 5
        x = ids(rows, length)
        mask = torch.ones_like(x)
        types = torch.zeros_like(x)
        # MPNet has no segment embeddings.
        extra = {} if model.config.model_type == "mpnet" else {"token_type_ids": types}

        def run():
            with torch.inference_mode():
                h = model(input_ids=x, attention_mask=mask, **extra).last_hidden_state
                return torch.softmax(classifier(h[:, 0]).reshape(questions, 5), -1)

        print(f"torch questions={questions} len={length} median_ms={median_ms(run, repeats):.2f}")


if __name__ == "__main__":
    main()
