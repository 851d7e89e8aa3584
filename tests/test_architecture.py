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


# The roles, in the order they may import each other (a role imports only roles before it,
# and itself). The package root keeps the command and the config; everything else has a role.
ROLES = ["utils", "config", "core", "tensorrt", "runtime", "teacher", "peers", "tracking",
         "measure", "data", "evaluation", "model", "training", "export", "zoo", "samples",
         "apps", "commands", "cli", "__main__"]
# Where a lower role reaches a higher one only inside a function, for a reason stated here.
ALLOWED_UPWARD = {
    # The shipped default model and the sample photos are looked up where a command needs them.
    ("runtime", "zoo"), ("runtime", "samples"), ("measure", "zoo"), ("measure", "samples"),
    ("apps", "zoo"),
    # A .keras model runs through its Keras stages (TensorFlow, only for .keras files).
    ("runtime", "export"), ("runtime", "model"), ("runtime", "config"),
    # Teacher and measurements score what they make (pycocotools, only when asked).
    ("measure", "evaluation"), ("teacher", "evaluation"), ("teacher", "data"),
    ("measure", "data"), ("zoo", "core"),
    # The engine builder's int8 calibration batcher reads images as the runtime does (the
    # engine runner below it is what the runtime's TensorRT backend uses).
    ("tensorrt", "runtime"),
}


def _role(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "ssd_isb"


def test_the_package_root_keeps_at_most_10_modules():
    root = [f for f in os.listdir(PACKAGE) if f.endswith(".py")]
    assert len(root) <= 10, sorted(root)


def test_roles_import_only_the_roles_before_them():
    modules = _modules()
    order = {r: i for i, r in enumerate(ROLES)}
    wrong = []
    for m, (p, pkg) in modules.items():
        a = _role(m)
        for d in _imports(m, p, pkg, modules):
            b = _role(d)
            if a == b or a not in order or b not in order or a == "ssd_isb" or b == "ssd_isb":
                continue
            if order[b] > order[a] and (a, b) not in ALLOWED_UPWARD:
                wrong.append(f"{m} -> {d}")
    assert not wrong, wrong


@pytest.mark.parametrize("old,new", [("ssd_isb.predict", "ssd_isb.apps.predict"),
                                     ("ssd_isb.errors", "ssd_isb.utils.errors"),
                                     ("ssd_isb.runtime.boxes", "ssd_isb.core.boxes"),
                                     ("ssd_isb.serve.engine", "ssd_isb.apps.serve.engine")])
def test_old_import_paths_work_for_a_release_with_a_warning(old, new):
    """0.2 moved modules by role; code that imports the old paths keeps running, warned."""
    code = f"""
import importlib, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    old = importlib.import_module({old!r})
new = importlib.import_module({new!r})
assert old is new and new.__name__ == {new!r} and new.__spec__.name == {new!r}
assert any(issubclass(w.category, DeprecationWarning) and {new!r} in str(w.message)
           for w in caught), [str(w.message) for w in caught]
print("ok")
"""
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True)
    assert res.stdout.strip() == "ok", res.stderr[-1500:]
