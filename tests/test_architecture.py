"""The package's shape: no import cycles (module-level or inside functions), and every module
imports on its own, so any part can be the first one a user or a deployment touches."""

import ast
import os
import subprocess
import sys

import pytest

from conftest import ROOT

PACKAGE = os.path.join(ROOT, "ssd_isb")


def _modules():
    """{dotted name: (path, is_package)} of every module of ssd_isb."""
    out = {}
    for folder, _, files in os.walk(PACKAGE):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                dotted = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                is_package = dotted.endswith(".__init__")
                out[dotted[:-len(".__init__")] if is_package else dotted] = (path, is_package)
    return out


def _imports(name, path, is_package, modules):
    """The ssd_isb modules ``name`` imports anywhere in its code (also inside functions)."""
    base = name if is_package else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base.split(".")[:len(base.split(".")) - node.level + 1]
                target = ".".join(parts + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in modules and m != name}


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    modules = _modules()
    graph = {m: _imports(m, p, pkg, modules) for m, (p, pkg) in modules.items()}
    assert len(graph) > 60
    assert _cycles(graph) == []


def test_every_module_imports_alone():
    """Each module in a clean state (no other ssd_isb module loaded): a cycle or a missing
    import shows up as an ImportError naming the module. TensorFlow is loaded once up front
    only to keep this fast; it is never part of a cycle."""
    pytest.importorskip("tensorflow")
    names = sorted(m for m in _modules() if m != "ssd_isb.__main__")
    code = f"""
import importlib, sys, traceback
import tensorflow, keras  # noqa: F401
failed = []
for name in {names!r}:
    for loaded in [m for m in sys.modules if m == "ssd_isb" or m.startswith("ssd_isb.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as err:
        failed.append(f"{{name}}: {{type(err).__name__}}: {{err}}")
print("\\n".join(failed) or "ok")
"""
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().splitlines()[-1] == "ok", res.stdout
