"""CommonsenseQA's gold answers, read one way for the analysis scripts.

The dataset folder is `$KGQA_DATASETS/commonsenseqa` (default: `../shared/datasets`
beside the repository, as `scripts/train-all.sh` reads it).
"""
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIR = Path(os.environ.get("KGQA_DATASETS", ROOT / ".." / "shared" / "datasets")) / "commonsenseqa"
TRAIN = DIR / "train_rand_split.jsonl"


def answer_index(question):
    """The 0-based index of a CommonsenseQA line's `answerKey` among its choices."""
    labels = [c["label"] for c in question["question"]["choices"]]
    return labels.index(question["answerKey"])


def gold_answers(dataset=TRAIN):
    """{id: answer index} of every line of a CommonsenseQA file that has an answer."""
    answers = {}
    with open(dataset) as f:
        for line in f:
            if line.strip():
                q = json.loads(line)
                if "answerKey" in q:
                    answers[q["id"]] = answer_index(q)
    return answers
