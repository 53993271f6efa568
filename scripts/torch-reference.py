#!/usr/bin/env python3
"""The PyTorch reference fine-tune, on kgqa's own slices, for a paired check of `kgqa train`.

Trains Hugging Face's `AutoModelForMultipleChoice` (pooler + dropout + linear scorer on
the first token) on exactly the training questions `kgqa train --limit N` trains on (the
first N in-house training questions in file order, less the 500-question held-out slice
of `scripts/held_out.py`), with the recipe of the MPNet issue's reference run: batch 16,
length 64, AdamW (weight decay 0.01), linear decay after 10% warm-up, clipping at 1.0,
one epoch, seed 0, 2 threads, no facts. Then it scores the held-out slice and the 1,241
in-house test questions and writes one prediction line per question in `kgqa eval
--predictions`'s format, so `scripts/compare-predictions.py` pairs it with a kgqa model
(after `scripts/held_out.py --only test`). Questions the run trains on are never scored.

Checkpoints (model, optimizer, schedule, step, random states) every 50 steps under
--checkpoint DIR; a rerun with the same arguments resumes from the last one.

Usage: python3 scripts/torch-reference.py MODEL_DIR --out PREDICTIONS.jsonl
       [--limit 3500] [--lr 3e-5] [--epochs 1] [--checkpoint DIR] [--score-limit N]
Set-up: the Python environment of benches/mc_speed.sh (torch, transformers).
"""
import argparse
import importlib.util
import json
import os
import random
import time
from pathlib import Path

import torch
from transformers import AutoModelForMultipleChoice, AutoTokenizer, get_linear_schedule_with_warmup

ROOT = Path(__file__).resolve().parent.parent
CSQA = ROOT / ".." / "shared" / "datasets" / "commonsenseqa"


def held_out_module():
    spec = importlib.util.spec_from_file_location("held_out", ROOT / "scripts" / "held_out.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def slices(limit):
    """(training questions, held-out questions, test questions) as kgqa draws them."""
    questions = {}
    for line in open(CSQA / "train_rand_split.jsonl"):
        q = json.loads(line)
        questions[q["id"]] = q
    ho = held_out_module()
    listed = {line.strip() for line in open(CSQA / "inhouse_split_qids.txt") if line.strip()}
    train_all = [i for i in questions if i in listed]
    if limit:
        train_all = train_all[:limit]
    order = ho.permutation(len(train_all), ho.SEED)
    held = min(ho.HELD_OUT, len(train_all) // 5)
    pick = lambda idx: [questions[train_all[i]] for i in idx]
    test = [q for i, q in questions.items() if i not in listed]
    return pick(order[held:]), pick(order[:held]), test


def encode(tokenizer, batch, length):
    """Input tensors [questions, 5, length] and gold indices."""
    firsts, seconds, gold = [], [], []
    for q in batch:
        choices = q["question"]["choices"]
        firsts += [q["question"]["stem"]] * len(choices)
        seconds += [c["text"] for c in choices]
        gold.append([c["label"] for c in choices].index(q["answerKey"]))
    enc = tokenizer(firsts, seconds, truncation=True, max_length=length, padding="longest",
                    return_tensors="pt")
    shape = (len(batch), len(batch[0]["question"]["choices"]), -1)
    inputs = {k: v.view(shape) for k, v in enc.items() if k != "token_type_ids"}
    return inputs, torch.tensor(gold)


def train(args, model, tokenizer, questions):
    steps_per_epoch = (len(questions) + args.batch - 1) // args.batch
    total = steps_per_epoch * args.epochs
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = get_linear_schedule_with_warmup(opt, int(0.1 * total), total)
    step, ckpt = 0, Path(args.checkpoint) / "state.pt" if args.checkpoint else None
    if ckpt and ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"]), opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"]), torch.set_rng_state(state["rng"])
        step = state["step"]
        print(f"resumed at step {step}", flush=True)
    model.train()
    start = time.time()
    for epoch in range(args.epochs):
        order = list(range(len(questions)))
        random.Random(args.seed + epoch).shuffle(order)
        for b in range(steps_per_epoch):
            if epoch * steps_per_epoch + b < step:
                continue
            batch = [questions[i] for i in order[b * args.batch:(b + 1) * args.batch]]
            inputs, gold = encode(tokenizer, batch, args.max_length)
            loss = model(**inputs, labels=gold).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step(), sched.step(), opt.zero_grad()
            step += 1
            if step % 10 == 0:
                print(f"step {step}/{total} loss {loss.item():.4f} {time.time() - start:.0f} s", flush=True)
            if ckpt and (step % 50 == 0 or step == total):
                ckpt.parent.mkdir(parents=True, exist_ok=True)
                torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                            "rng": torch.get_rng_state(), "step": step}, ckpt.with_suffix(".tmp"))
                os.replace(ckpt.with_suffix(".tmp"), ckpt)
    print(f"trained {step} steps in {time.time() - start:.0f} s", flush=True)


@torch.no_grad()
def predict(model, tokenizer, questions, length, out):
    model.eval()
    right = 0
    for b in range(0, len(questions), 16):
        batch = questions[b:b + 16]
        inputs, gold = encode(tokenizer, batch, length)
        probs = model(**inputs).logits.softmax(-1)
        for q, g, p in zip(batch, gold.tolist(), probs.tolist()):
            predicted = max(range(len(p)), key=p.__getitem__)
            right += predicted == g
            out.write(json.dumps({"id": q["id"], "answer": g, "predicted": predicted, "probabilities": p}) + "\n")
    return right


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("--out", required=True)
    p.add_argument("--limit", type=int, default=3500)
    p.add_argument("--lr", type=float, default=3e-5)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint")
    p.add_argument("--score-limit", type=int, help="score only the first N of each slice (a quick check)")
    args = p.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    train_qs, held, test = slices(args.limit)
    print(f"training on {len(train_qs)} questions; scoring {len(held)} held-out and {len(test)} test", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForMultipleChoice.from_pretrained(args.model)
    train(args, model, tokenizer, train_qs)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as out:
        for name, qs in (("held-out", held), ("test", test)):
            qs = qs[: args.score_limit] if args.score_limit else qs
            right = predict(model, tokenizer, qs, args.max_length, out)
            print(f"{name}: {right}/{len(qs)} ({100 * right / len(qs):.1f}%)", flush=True)


if __name__ == "__main__":
    main()
