#!/usr/bin/env python3
"""Import graph of a Rust crate's files: prints every import circle (strongly connected
component of more than one file) and every function longer than a limit.

    scripts/module_graph.py [SRC_DIR] [--long N]

An edge a -> b means file a names an item of module b through `crate::`, `super::` or
`self::` paths (in `use` lines or inline). `mod x;` declarations are not edges: a parent
owning a child is not a dependency. Exits 1 when a circle exists, so it can gate CI.
"""
import os
import re
import sys


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def strip_tests(text):
    # Drop `#[cfg(test)] mod tests { ... }` blocks: test-only imports are not the design.
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub\s+)?mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def use_paths(text):
    """Every path of `use` trees (expanded) and inline `crate::`/`super::` paths."""
    paths = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        paths.extend(expand(m.group(1).replace("\n", " ")))
    for m in re.finditer(r"\b((?:crate|super|self)(?:::\w+)+)", text):
        paths.append(m.group(1))
    return paths


def expand(tree):
    tree = re.sub(r"\s+", "", tree)
    m = re.match(r"^(.*?)::\{(.*)\}$", tree)
    if not m:
        return [re.sub(r"as\w+$", "", tree)] if "{" not in tree else []
    prefix, inner = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    parts.append(cur)
    out = []
    for p in parts:
        if p:
            out.extend(expand(prefix + "::" + p) if p != "self" else [prefix])
    return out


def resolve(path, here, modules):
    segs = path.split("::")
    if segs[0] == "crate":
        base, rest = (), segs[1:]
    else:
        base, rest = here, segs
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
    best = None
    for k in range(len(rest) + 1):
        cand = base + tuple(rest[:k])
        if cand in modules:
            best = cand
    return best


def tarjan(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def long_functions(path, text, limit):
    lines = text.split("\n")
    found = []
    for i, line in enumerate(lines):
        m = re.match(r"\s*(pub(\([^)]*\))?\s+)?(async\s+)?(const\s+)?(unsafe\s+)?fn\s+(\w+)", line)
        if not m:
            continue
        depth, started, j = 0, False, i
        while j < len(lines):
            code = lines[j]
            if not started and ";" in code and "{" not in code:
                break
            for ch in code:
                if ch == "{":
                    depth += 1
                    started = True
                elif ch == "}":
                    depth -= 1
            if started and depth <= 0:
                break
            j += 1
        n = j - i + 1
        if started and n > limit:
            found.append((n, path, i + 1, m.group(6)))
    return found


def main():
    args = sys.argv[1:]
    limit = 100
    if "--long" in args:
        k = args.index("--long")
        limit = int(args[k + 1])
        del args[k:k + 2]
    src = args[0] if args else "src"
    files = {}
    for root, _, names in os.walk(src):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(root, n)
                files[module_of(src, p)] = p
    graph, longs = {}, []
    for mod, p in files.items():
        raw = open(p, encoding="utf-8").read()
        text = strip_tests(strip_comments(raw))
        deps = set()
        for path in use_paths(text):
            t = resolve(path, mod, files)
            if t is not None and t != mod:
                deps.add(t)
        graph[mod] = deps
        longs.extend(long_functions(p, strip_tests(raw), limit))
    circles = [c for c in tarjan(graph) if len(c) > 1]
    for c in sorted(circles, key=len, reverse=True):
        print(f"circle of {len(c)}: " + " ".join("::".join(m) or "crate" for m in sorted(c)))
    for n, p, line, name in sorted(longs, reverse=True):
        print(f"long fn {name} ({n} lines) {p}:{line}")
    print(f"{len(circles)} circles, {len(longs)} functions over {limit} lines, {len(files)} files")
    return 1 if circles else 0


if __name__ == "__main__":
    sys.exit(main())
