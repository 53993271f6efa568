#!/usr/bin/env python3
"""What the graph changes for a model that reads it, question by question.

Pairs a model's predictions with its facts (`kgqa eval --predictions WITH.jsonl`) and with
them withheld (`kgqa eval --withhold-facts --predictions WITHOUT.jsonl`) on the same
questions, and splits the questions by what the retrieval cache gave the gold answer and
the distractors: whether the gold choice has a fact at all, a one-hop fact, and whether its
best fact outscores every distractor's. For each group: how many questions, accuracy with
and without the facts, and how many the facts fixed and broke. A graph that helps fixes
more than it breaks where it gives the gold answer something the distractors lack.
Then how often each pick is the facts' own favourite (the choice whose best fact scores
highest), against how often that favourite is the answer: a model that follows the
favourite more than the favourite deserves has learned to trust a weak signal.

Lines without "answer" (the files kept in data/predictions/) take it from the
CommonsenseQA training file by id.

Usage: python3 scripts/graph-effect.py WITH.jsonl WITHOUT.jsonl FACTS.jsonl
"""
import json
import sys

from csqa import gold_answers


def read(path):
    return {r["id"]: r for r in map(json.loads, open(path))}


def groups(k, gold):
    choices = k["choices"]
    best = [max((f["score"] for f in c["facts"]), default=0.0) for c in choices]
    g = choices[gold]
    others = [b for i, b in enumerate(best) if i != gold]
    yield "all"
    yield "gold has a fact" if g["facts"] else "gold has no fact"
    if any(len(f["edges"]) == 1 for f in g["facts"]):
        yield "gold has a one-hop fact"
    if g["facts"] and best[gold] > max(others, default=0.0):
        yield "gold's best fact beats every distractor's"
    if not any(c["facts"] for i, c in enumerate(choices) if i != gold) and g["facts"]:
        yield "only gold has facts"


def top_fact_choice(k):
    """The choice whose best fact scores highest (the first on ties; 0 when none has one)."""
    best = [max((f["score"] for f in c["facts"]), default=0.0) for c in k["choices"]]
    return max(range(len(best)), key=best.__getitem__)


def main():
    with_facts, without, facts_path = sys.argv[1:4]
    a, b = read(with_facts), read(without)
    facts = {}
    for line in open(facts_path):
        k = json.loads(line)
        if k["id"] in a:
            facts[k["id"]] = k
    table = {}
    golds = {} if all("answer" in r for r in a.values()) else gold_answers()
    gold_of = lambda qid: a[qid]["answer"] if "answer" in a[qid] else golds[qid]
    for qid, r in a.items():
        gold = gold_of(qid)
        right_with, right_without = r["predicted"] == gold, b[qid]["predicted"] == gold
        for g in groups(facts[qid], gold):
            t = table.setdefault(g, [0, 0, 0, 0, 0])
            t[0] += 1
            t[1] += right_with
            t[2] += right_without
            t[3] += right_with and not right_without
            t[4] += right_without and not right_with
    print("| questions | n | with facts | withheld | fixed | broken |")
    print("|---|---|---|---|---|---|")
    for g, (n, w, wo, fixed, broken) in table.items():
        print(f"| {g} | {n} | {100 * w / n:.1f}% | {100 * wo / n:.1f}% | {fixed} | {broken} |")
    n = len(a)
    top = {qid: top_fact_choice(facts[qid]) for qid in a}
    follows = lambda preds: 100 * sum(preds[q]["predicted"] == top[q] for q in a) / n
    is_gold = 100 * sum(top[q] == gold_of(q) for q in a) / n
    print(f"\nthe facts' favourite is picked: with facts {follows(a):.1f}%, withheld "
          f"{follows(b):.1f}%; it is the answer on {is_gold:.1f}% of the questions")


if __name__ == "__main__":
    main()
