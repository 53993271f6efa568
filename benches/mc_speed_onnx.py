"""onnxruntime side of benches/mc_speed.sh: the same model exported to ONNX with
torch.onnx (dynamic batch and length), run by onnxruntime on the CPU with 2 intra-op
threads, fp32, the same token ids and cases as mc_speed.rs.
Set-up (once, in the PyTorch venv): ~/.cache/kgqa/bench-venv/bin/pip install onnxruntime onnx
Usage: mc_speed_onnx.py MODEL_DIR [REPEATS]"""
import os
import sys
import tempfile

import numpy as np
import onnxruntime as ort
import torch

from mc_speed_torch import CASES, ids, load, median_ms


class Scorer(torch.nn.Module):
    """Encoder + [CLS] linear score, as kgqa's multiple-choice head."""

    def __init__(self, model_dir):
        super().__init__()
        self.encoder = load(model_dir)
        self.classifier = torch.nn.Linear(self.encoder.config.hidden_size, 1)

    def forward(self, input_ids, attention_mask, token_type_ids):
        # MPNet has no segment embeddings: its input is exported unused.
        extra = {} if self.encoder.config.model_type == "mpnet" else {"token_type_ids": token_type_ids}
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
        return self.classifier(h[:, 0])


def main():
    model_dir, repeats = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20
    torch.set_num_threads(2)
    scorer = Scorer(model_dir).eval()
    path = os.path.join(tempfile.mkdtemp(), "minilm.onnx")
    x = ids(5, 32)
    axes = {0: "rows", 1: "length"}
    torch.onnx.export(scorer, (x, torch.ones_like(x), torch.zeros_like(x)), path,
                      input_names=["input_ids", "attention_mask", "token_type_ids"],
                      output_names=["logits"], opset_version=17, dynamo=False,
                      dynamic_axes={"input_ids": axes, "attention_mask": axes,
                                    "token_type_ids": axes})
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    for questions, length in CASES:
        rows = questions * 5
        x = ids(rows, length).numpy().astype(np.int64)
        feed = {"input_ids": x, "attention_mask": np.ones_like(x), "token_type_ids": np.zeros_like(x)}
        names = {i.name for i in session.get_inputs()}
        feed = {k: v for k, v in feed.items() if k in names}

        def run():
            logits = session.run(None, feed)[0].reshape(questions, 5)
            e = np.exp(logits - logits.max(-1, keepdims=True))
            return e / e.sum(-1, keepdims=True)

        print(f"onnx questions={questions} len={length} median_ms={median_ms(run, repeats):.2f}")


if __name__ == "__main__":
    main()
