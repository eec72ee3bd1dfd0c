#!/usr/bin/env python3
"""Which C file of a folder uses functions defined in which, and the loops.

    depgraph.py [--dir broker] [--trace F1>F2>...] [--check]

Reads every .c/.h under --dir (recursively) and prints
  - the include graph between those files (#include "x.h" of a header there),
  - the file graph: a.c -> b.c when a.c calls or takes the address of a
    non-static function (or names an exported array) defined in b.c, with
    the number of reference sites and the names,
  - the loops: strongly connected groups of files, and each pair of files
    that use each other.
--trace walks the call tree of one request: the functions named must call
each other in that order (the route's dispatch), then everything the last
one can reach is followed (every branch, so it over-counts a real request
rather than under-counting it).  It prints each call that crosses from one
file to another, their number, and how many go back into a file that is
still up the call stack (re-entries: the request going round a loop).
--check exits 1 when there is a loop (the layering check of `make layers`).

It is a reader of this code base's style, not a C parser: a function
definition is a line that starts at column 0 with `name(` and whose body
opens with `{` at column 0 (BSD style, as every file here is written).
Comments and string literals are stripped before identifiers are read.
"""
import argparse
import os
import re
import sys
from collections import defaultdict

IDENT = re.compile(r"[A-Za-z_]\w*")
DEF_LINE = re.compile(r"^([A-Za-z_]\w*)\(")
ARRAY_DEF = re.compile(r"^(?!static)[^\s#/*].*?\b([A-Za-z_]\w*)\s*\[\]\s*=")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def strip(text):
    """Comments and string/char literals blanked, newlines kept."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * max(0, min(j, n) - i - 1) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


class Func:
    def __init__(self, name, path, static, body):
        self.name, self.path, self.static, self.body = name, path, static, body


def parse(path, rel):
    text = strip(open(path, encoding="utf-8", errors="replace").read())
    lines = text.split("\n")
    funcs, arrays = [], []
    i = 0
    while i < len(lines):
        m = DEF_LINE.match(lines[i])
        a = ARRAY_DEF.match(lines[i])
        if a and not lines[i].startswith((" ", "\t")):
            arrays.append(a.group(1))
        if m and m.group(1) not in ("if", "while", "for", "switch", "return"):
            j = i
            while j < len(lines) and lines[j] != "{" and not lines[j].rstrip().endswith(";"):
                j += 1
            if j < len(lines) and lines[j] == "{":
                k = j + 1
                while k < len(lines) and lines[k] != "}":
                    k += 1
                prev = lines[i - 1] if i > 0 else ""
                static = re.search(r"\bstatic\b", prev) is not None
                funcs.append(Func(m.group(1), rel, static,
                                  "\n".join(lines[j:k + 1])))
                i = k
        i += 1
    return text, funcs, arrays


def tarjan(nodes, edges):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default="broker")
    ap.add_argument("--trace", help="F1>F2>...: the dispatch of one request")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()

    files, texts, funcs = [], {}, []
    exported = {}  # name -> file
    headers = {}   # basename -> rel path
    for root, _, names in os.walk(args.dir):
        for nm in sorted(names):
            if not nm.endswith((".c", ".h")):
                continue
            path = os.path.join(root, nm)
            rel = os.path.relpath(path, args.dir)
            files.append(rel)
            if nm.endswith(".h"):
                headers[nm] = rel
            text, fs, arrays = parse(path, rel)
            texts[rel] = text
            funcs.extend(fs)
            for f in fs:
                # Every program has its own main: not a dependency.
                if not f.static and f.name != "main":
                    exported[f.name] = rel
            for a in arrays:
                exported.setdefault(a, rel)
    files.sort()
    statics = {(f.path, f.name): f for f in funcs if f.static}
    byname = {(f.path, f.name): f for f in funcs}

    print("== includes (headers of %s/)" % args.dir)
    for f in files:
        inc = [headers[h] for h in INCLUDE.findall(
            open(os.path.join(args.dir, f), encoding="utf-8").read()) if h in headers]
        if inc:
            print("%-28s -> %s" % (f, ", ".join(inc)))

    refs = defaultdict(lambda: defaultdict(int))
    for f in files:
        if not f.endswith(".c"):
            continue
        for tok in IDENT.findall(texts[f]):
            d = exported.get(tok)
            if d and d != f and (f, tok) not in statics:
                refs[(f, d)][tok] += 1
    edges = defaultdict(set)
    print("\n== file graph: a -> b when a uses functions defined in b")
    for (a, b) in sorted(refs):
        names = refs[(a, b)]
        edges[a].add(b)
        print("%-28s -> %-24s %3d refs: %s" % (a, b, sum(names.values()),
              ", ".join(sorted(names))))
    print("edges: %d" % sum(len(v) for v in edges.values()))

    loops = [c for c in tarjan([f for f in files if f.endswith(".c")], edges)
             if len(c) > 1]
    pairs = sorted((a, b) for a in edges for b in edges[a]
                   if a < b and a in edges.get(b, ()))
    print("\n== loops")
    for c in loops:
        print("strongly connected (%d files): %s" % (len(c), " ".join(c)))
    for a, b in pairs:
        print("mutual: %s <-> %s" % (a, b))
    print("loops: %d groups, %d files in them, %d mutual pairs" %
          (len(loops), sum(len(c) for c in loops), len(pairs)))

    if args.trace:
        trace(args.trace.split(">"), funcs, byname, exported)
    return 1 if args.check and loops else 0


def callees(f, byname, exported):
    """Functions of the folder f's body names, in order, each once."""
    seen, out = set(), []
    for tok in IDENT.findall(f.body):
        g = byname.get((f.path, tok))
        if g is None and tok in exported and (exported[tok], tok) in byname:
            g = byname[(exported[tok], tok)]
        if g is not None and g is not f and (g.path, g.name) not in seen:
            seen.add((g.path, g.name))
            out.append(g)
    return out


def find(name, byname, exported, path=None):
    if path is not None and (path, name) in byname:
        return byname[(path, name)]
    if name in exported:
        return byname.get((exported[name], name))
    hits = [f for (p, n), f in byname.items() if n == name]
    return hits[0] if len(hits) == 1 else None


def trace(chain, funcs, byname, exported):
    print("\n== request path: %s" % " > ".join(chain))
    crossings = []
    cur = find(chain[0], byname, exported)
    if cur is None:
        sys.exit("no function %s" % chain[0])
    for name in chain[1:]:
        nxt = next((g for g in callees(cur, byname, exported) if g.name == name), None)
        if nxt is None:
            sys.exit("%s does not call %s" % (cur.name, name))
        if nxt.path != cur.path:
            crossings.append((cur, nxt))
        cur = nxt
    stack = [f.path for f, _ in crossings] + [cur.path]
    seen, reentries = {(cur.path, cur.name)}, []

    def walk(f):
        for g in callees(f, byname, exported):
            if g.path != f.path:
                crossings.append((f, g))
                # Back into a file that is still up the call stack: the
                # loop a request goes round.
                if g.path in stack:
                    reentries.append((f, g))
            if (g.path, g.name) not in seen:
                seen.add((g.path, g.name))
                stack.append(g.path)
                walk(g)
                stack.pop()

    walk(cur)
    for f, g in crossings:
        print("  %s:%s -> %s:%s%s" % (f.path, f.name, g.path, g.name,
              "   (re-entry)" if (f, g) in reentries else ""))
    entered = {g.path for _, g in crossings}
    print("crossings: %d calls from one file into another, %d of them back "
          "into a file up the call stack; %d functions reached; files "
          "entered: %s" % (len(crossings), len(reentries), len(seen),
                           " ".join(sorted(entered))))


if __name__ == "__main__":
    sys.exit(main())
