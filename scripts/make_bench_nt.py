#!/usr/bin/env python3
"""Writes the load benchmark's N-Triples file: ConceptNet-100K edges (triple + edge node
with weight and dataset + labels) and WordNet 3.0 synsets (labels, glosses, pointers), in
kgqa's IRI vocabulary. Usage: make_bench_nt.py CONCEPTNET_100K.txt.gz WORDNET_DIR OUT.nt
Prints the number of statements written."""
import gzip
import os
import sys
from urllib.parse import quote

C = "http://conceptnet.io/c/en/"
R = "http://conceptnet.io/r/"
K = "http://kgqa.dev/ns#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
DEF = "http://www.w3.org/2004/02/skos/core#definition"
WN = "http://wordnet-rdf.princeton.edu/id/"
WNR = "http://kgqa.dev/wn#ptr_"


def lit(s):
    s = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return '"%s"@en' % s


def concept(term):
    return "<%s%s>" % (C, quote("_".join(term.lower().split()), safe="_'-.,:;!$&()*+=@~"))


def main(cn, wn, out):
    n = 0
    seen = set()
    with open(out, "w", encoding="utf-8") as f:
        with gzip.open(cn, "rt", encoding="utf-8") as src:
            for i, line in enumerate(src):
                rel, head, tail, weight = line.rstrip("\n").split("\t")
                h, t, r = concept(head), concept(tail), "<%s%s>" % (R, rel)
                e = "<http://kgqa.dev/edge/b%d>" % i
                f.write("%s %s %s .\n" % (h, r, t))
                f.write("%s <%ssubject> %s .\n" % (e, RDF, h))
                f.write("%s <%spredicate> %s .\n" % (e, RDF, r))
                f.write("%s <%sobject> %s .\n" % (e, RDF, t))
                f.write('%s <%sweight> "%s"^^<http://www.w3.org/2001/XMLSchema#double> .\n' % (e, K, weight))
                f.write('%s <%sdataset> "train100k" .\n' % (e, K))
                n += 6
                for term, node in ((head, h), (tail, t)):
                    if node not in seen:
                        seen.add(node)
                        f.write("%s <%s> %s .\n" % (node, LABEL, lit(term)))
                        n += 1
        for name, pos in (("data.noun", "n"), ("data.verb", "v"), ("data.adj", "a"), ("data.adv", "r")):
            with open(os.path.join(wn, name), encoding="utf-8") as src:
                for line in src:
                    if line.startswith("  "):
                        continue
                    fields, _, gloss = line.partition(" | ")
                    p = fields.split()
                    node = "<%s%s-%s>" % (WN, p[0], pos)
                    w = int(p[3], 16)
                    for k in range(w):
                        word = p[4 + 2 * k].split("(")[0].replace("_", " ")
                        f.write("%s <%s> %s .\n" % (node, LABEL, lit(word)))
                        n += 1
                    f.write("%s <%s> %s .\n" % (node, DEF, lit(gloss.strip())))
                    n += 1
                    i = 4 + 2 * w
                    for k in range(int(p[i])):
                        sym, off, tpos = p[i + 1 + 4 * k: i + 4 + 4 * k]
                        tpos = "a" if tpos == "s" else tpos
                        code = "".join("%02x" % ord(c) for c in sym)
                        f.write("%s <%s%s> <%s%s-%s> .\n" % (node, WNR, code, WN, off, tpos))
                        n += 1
    print(n)


if __name__ == "__main__":
    main(*sys.argv[1:4])
