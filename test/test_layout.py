"""The package's layers: no import circle, no import from a lower layer into a higher one, and the
node's process loads neither the offline companion nor torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "t3d_ros"
# Lowest first. A module may import its own layer and the layers below it, never one above.
LAYERS: list[tuple[str, ...]] = [
    ("t3d_ros", "t3d_ros.classes", "t3d_ros.detection", "t3d_ros.geometry"),
    ("t3d_ros.io",),
    ("t3d_ros.segment", "t3d_ros.classify"),
    ("t3d_ros.config", "t3d_ros.perception"),
    ("t3d_ros.offline",),
    ("t3d_ros.ros",),
    ("t3d_ros.bench", "t3d_ros.cli", "t3d_ros.__main__"),
]


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module ``name`` refers to (``pkg.attr`` -> ``pkg``), or None outside the package."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> set[str]:
    """Package modules imported anywhere in ``module`` (function-level imports included)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # ``from pkg import sub`` imports the module pkg.sub; ``from mod import name``, the module mod.
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for n in names:
            target = _resolve(n) if n.startswith("t3d_ros") else None
            if target and target != module:
                found.add(target)
    return found


GRAPH = {m: _imports(m) for m in MODULES}


def _layer(module: str) -> int:
    best, rank = -1, -1
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, rank = len(p), i
    assert rank >= 0, f"{module} is in no layer: add it to LAYERS"
    return rank


def test_every_module_has_a_layer():
    for m in MODULES:
        _layer(m)


def test_no_import_from_a_higher_layer():
    bad = [f"{m} (layer {_layer(m)}) imports {t} (layer {_layer(t)})"
           for m, targets in GRAPH.items() for t in targets
           if _layer(t) > _layer(m) and not (m == "t3d_ros" or t == "t3d_ros")]
    assert not bad, "\n".join(sorted(bad))


def test_no_import_circle():
    color: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(m: str) -> None:
        color[m] = 1
        stack.append(m)
        for t in sorted(GRAPH[m]):
            if color.get(t, 0) == 0:
                visit(t)
            elif color[t] == 1:
                circles.append(stack[stack.index(t):] + [t])
        stack.pop()
        color[m] = 2

    for m in sorted(GRAPH):
        if color.get(m, 0) == 0:
            visit(m)
    assert not circles, "\n".join(" -> ".join(c) for c in circles)


def test_nothing_in_the_package_knows_the_shared_data_folder():
    hits = [str(p.relative_to(REPO)) for p in MODULES.values() if "shared/data" in p.read_text()
            or "'shared'" in p.read_text() or '"shared"' in p.read_text()]
    assert not hits, hits


def test_the_node_imports_neither_the_offline_side_nor_torch():
    code = ("import sys; import t3d_ros.ros.perception_node, t3d_ros.perception; "
            "bad = sorted(m for m in sys.modules if m.startswith(('t3d_ros.offline', 't3d_ros.bench', 't3d_ros.cli', "
            "'torch', 'matplotlib', 'mcap')) or m == 'torch'); print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
