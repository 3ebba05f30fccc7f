#!/usr/bin/env python3
"""Fails when modules of the extension (src/) depend on each other in a
circle. Reads every `crate::…` and `super::…` path of every file (in `use`
lines, braces included, and in code), resolves it to the file of the module
it names, and reports each strongly connected group of files (Tarjan).

    scripts/module_cycles.py [SRC_DIR]      (default: src)
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "src")


def module_of(path):
    """src/a/b.rs -> ('a', 'b'); src/a/mod.rs -> ('a',); src/lib.rs -> ()."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts.pop()
    return tuple(parts)


files = {module_of(p): p for p in root.rglob("*.rs")}


def resolve(segments):
    """The longest module prefix of a path that is a file of ours."""
    for n in range(len(segments), 0, -1):
        if tuple(segments[:n]) in files:
            return tuple(segments[:n])
    return None


def strip(text):
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def expand(prefix, body):
    """Paths of a `use prefix::{...}` group, nested groups included."""
    out, depth, item = [], 0, ""
    for ch in body + ",":
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            item = item.strip()
            if item:
                m = re.match(r"([\w:]*?)::\{(.*)\}$", item, re.S)
                if m:
                    out += expand(prefix + [s for s in m.group(1).split("::") if s], m.group(2))
                else:
                    out.append(prefix + [s for s in item.split(" as ")[0].split("::") if s])
            item = ""
        else:
            item += ch
    return out


def deps(mod, text):
    text = strip(text)
    paths = []
    for m in re.finditer(r"\b(crate|super)::\{", text):
        start, depth, i = m.end(), 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        paths += [[m.group(1)] + p for p in expand([], text[start:i - 1])]
    paths += [p.split("::") for p in re.findall(r"\b(?:crate|super)(?:::\w+)+", text)]
    # A module brought in by name (`use crate::cluster;`) and used by it
    # (`cluster::tile::render`): the path through the name.
    imported = {}
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        clause = m.group(1).strip()
        group = re.match(r"((?:crate|super)(?:::\w+)*)::\{(.*)\}$", clause, re.S)
        items = ([group.group(1).split("::") + p for p in expand([], group.group(2))] if group
                 else [clause.split(" as ")[0].split("::")])
        for item in items:
            if item and item[0] in ("crate", "super") and item[-1] != "*":
                imported[item[-1]] = item
    for alias, full in imported.items():
        for m in re.finditer(rf"(?<![\w:]){alias}((?:::\w+)+)", text):
            paths.append(full + m.group(1).split("::")[1:])
    out = set()
    # A file's `super` is its parent module; mod.rs is its own module.
    here = mod if files[mod].name == "mod.rs" else mod[:-1]
    for p in paths:
        if p[0] == "crate":
            target = resolve(p[1:])
        else:
            base = list(here)
            while p and p[0] == "super":
                base, p = base[:-1], p[1:]
            target = resolve(base + p)
        if target is not None and target != mod and target != ():
            out.add(target)
    return out


graph = {m: deps(m, p.read_text()) for m, p in files.items()}
# A parent module declares its children (`mod x;`): not a dependency.
for m in graph:
    graph[m] = {t for t in graph[m] if t[:len(m)] != m or len(m) == 0}

index, low, stack, on, groups, counter = {}, {}, [], set(), [], [0]


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in sorted(graph[v]):
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        group = []
        while True:
            w = stack.pop()
            on.discard(w)
            group.append(w)
            if w == v:
                break
        if len(group) > 1:
            groups.append(group)


sys.setrecursionlimit(10000)
for v in sorted(graph):
    if v not in index:
        visit(v)

name = lambda m: "::".join(m) or "lib"
if groups:
    for g in groups:
        members = sorted(g)
        print("modules in a circle: " + ", ".join(name(m) for m in members))
        for m in members:
            inside = sorted(name(t) for t in graph[m] if t in g)
            print(f"    {name(m)} -> {', '.join(inside)}")
    sys.exit(1)
print(f"no circles among {len(files)} modules")
