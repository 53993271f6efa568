#!/usr/bin/env python3
"""Import circles between the files of src/: pairs of modules that each name the other
(`use crate::...`, `super::...`, paths in code; comments and test modules are skipped).
Prints one `a <-> b` line per circle; none when the layering is clean.
Usage: python3 scripts/import-circles.py [src]"""
import os, re, sys
root = sys.argv[1] if len(sys.argv) > 1 else 'src'
mods = {}
for d, _, fs in os.walk(root):
    for f in fs:
        if f.endswith('.rs'):
            p = os.path.join(d, f)
            rel = os.path.relpath(p, root)[:-3]
            parts = rel.split('/')
            if parts[-1] == 'mod': parts = parts[:-1]
            if parts == ['lib'] or parts == ['main']: parts = []
            mods['::'.join(parts)] = p
def resolve(path_parts, cur):
    # longest prefix that is a module
    for i in range(len(path_parts), 0, -1):
        m = '::'.join(path_parts[:i])
        if m in mods: return m
    return None
edges = set()
for m, p in mods.items():
    text = open(p).read()
    # strip test modules
    text = text.split('#[cfg(test)]')[0]
    text = "\n".join(l for l in text.split("\n") if not l.strip().startswith("//"))
    cur = m.split('::') if m else []
    is_mod = p.endswith('mod.rs') or p.endswith('lib.rs')
    for mm in re.finditer(r'(crate|super|kgqa)::((?:\w+::)*\w+)', text):
        base, rest = mm.group(1), mm.group(2).split('::')
        if base in ('crate', 'kgqa'): parts = rest
        else:
            parent = cur if is_mod else cur[:-1]
            parts = parent[:-1] + rest if False else (parent + rest if False else None)
            parent = cur[:-1] if not is_mod else cur[:-1]
            parts = parent + rest
        t = resolve(parts, m)
        if t is not None and t != m and not m.startswith(t + '::') and t != '':
            edges.add((m, t))
    # use super::{a, b} / crate::x::{a, b}
    for mm in re.finditer(r'(crate|super)::((?:\w+::)*)\{([^}]*)\}', text):
        base, pre = mm.group(1), [x for x in mm.group(2).split('::') if x]
        parent = cur[:-1]
        prefix = pre if base == 'crate' else parent + pre
        for item in mm.group(3).split(','):
            item = item.strip().split('::')[0].split(' ')[0]
            if not item: continue
            t = resolve(prefix + [item], m)
            if t is not None and t != m and not m.startswith(t + '::') and t != '':
                edges.add((m, t))
pairs = sorted({tuple(sorted((a, b))) for a, b in edges if (b, a) in edges})
for a, b in pairs: print(f"{a} <-> {b}")
