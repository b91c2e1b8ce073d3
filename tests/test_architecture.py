"""The package's import structure (docs/architecture.md): no import circles, no import from a lower
layer to a higher one, FastAPI only in the HTTP layer.

Imports are read from the source with :mod:`ast` (nothing is imported), including the ones inside
functions: a lazy import is still a dependency. ``if TYPE_CHECKING:`` imports are left out (they never
run). An import of ``a.b.c`` depends on the module ``a.b.c`` (or, for ``from a.b import name``, on
``a.b.name`` when that is a module, else on ``a.b``).
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

from vodflow.settings import REPO_ROOT

PACKAGE = REPO_ROOT / "vodflow"

#: bottom to top; a module may import modules of its own layer or of a lower one (docs/architecture.md)
LAYERS: list[tuple[str, set[str]]] = [
    ("base", {"vodflow", "settings", "secret_files", "clients", "java", "spark", "airflow_client"}),
    ("core", {"media", "catalog", "cdn", "accounts", "auth"}),
    ("domain", {"analytics", "drm", "ingest", "recs", "playback"}),
    ("operations", {"stack"}),
    ("surface", {"api", "web", "cli", "demo", "operator"}),
]
#: modules that are a subpackage's HTTP or command-line surface: top layer wherever they sit
SURFACE_MODULES = {"routes", "cli", "cli_commands"}
#: FastAPI and Starlette belong to the surface; besides it only the request-authentication dependency
#: the routers share (``Depends(auth.principal)``) may import them
HTTP_LIBS = {"fastapi", "starlette"}
HTTP_OUTSIDE_SURFACE = {"vodflow.auth.deps"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@lru_cache(maxsize=None)
def modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or \
        (isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, package: str) -> list[tuple[str, list[str], int]]:
    """``(module, names, line)`` of every import that runs (``from x import a, b`` -> ``("x", ["a", "b"])``)."""
    out: list[tuple[str, list[str], int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                out.extend((a.name, [], child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    mod = ".".join(base + ([child.module] if child.module else []))
                else:
                    mod = child.module or ""
                out.append((mod, [a.name for a in child.names], child.lineno))
            visit(child)

    visit(tree)
    return out


@lru_cache(maxsize=None)
def graph() -> dict[str, dict[str, int]]:
    """``{module: {imported vodflow module: line}}`` for every module of the package."""
    mods = modules()
    g: dict[str, dict[str, int]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: dict[str, int] = {}
        for mod, names, line in _imports(ast.parse(path.read_text(), str(path)), package):
            if mod.split(".")[0] != "vodflow":
                continue
            targets = [f"{mod}.{n}" for n in names if f"{mod}.{n}" in mods] if names else []
            if len(targets) < len(names) or not names:
                targets.append(mod)
            for t in targets:
                while t not in mods:
                    t = t.rpartition(".")[0]
                if t != name:
                    deps.setdefault(t, line)
        g[name] = deps
    return g


@lru_cache(maxsize=None)
def third_party(name: str) -> set[str]:
    path = modules()[name]
    return {mod.split(".")[0] for mod, _, _ in _imports(ast.parse(path.read_text()), name)}


def component(module: str) -> str:
    """``vodflow.recs.serving`` -> ``recs``; ``vodflow.settings`` -> ``settings``; ``vodflow`` -> ``vodflow``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def is_surface(module: str) -> bool:
    return module.rpartition(".")[2] in SURFACE_MODULES and module.count(".") >= 2


def layer(module: str) -> int:
    if is_surface(module):
        return len(LAYERS) - 1
    comp = component(module)
    for i, (_, comps) in enumerate(LAYERS):
        if comp in comps:
            return i
    raise AssertionError(f"{module}: component {comp!r} is in no layer of tests/test_architecture.py LAYERS "
                         "(add it there and to docs/architecture.md)")


def _cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                strong(w)
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
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            strong(v)
    return out


def test_the_package_is_read():
    mods = modules()
    assert {"vodflow.settings", "vodflow.clients", "vodflow.api.app", "vodflow.recs.routes"} <= set(mods)
    assert "vodflow.settings" in graph()["vodflow.clients"]
    assert "vodflow.recs.serving" in graph()["vodflow.recs.routes"]


def test_no_import_circles_between_modules():
    g = {m: set(d) for m, d in graph().items()}
    assert _cycles(g) == [], "import circles (break them: move the shared code down a layer)"


def test_no_import_circles_between_subpackages():
    """Subpackages (their surfaces aside, which sit on top) import each other one way only."""
    g: dict[str, set[str]] = {}
    for m, deps in graph().items():
        if is_surface(m):
            continue
        for d in deps:
            if component(d) != component(m) and not is_surface(d):
                g.setdefault(component(m), set()).add(component(d))
    assert _cycles(g) == []


def test_every_module_has_a_layer():
    for m in modules():
        layer(m)


def test_no_import_reaches_up_a_layer():
    bad = []
    for m, deps in graph().items():
        for d, line in deps.items():
            if layer(d) > layer(m):
                bad.append(f"{modules()[m].relative_to(REPO_ROOT)}:{line}: {m} ({LAYERS[layer(m)][0]}) imports "
                           f"{d} ({LAYERS[layer(d)][0]})")
    assert bad == [], "imports from a lower layer to a higher one:\n" + "\n".join(bad)


def test_fastapi_only_in_the_http_surface():
    bad = [m for m in modules() if third_party(m) & HTTP_LIBS
           and layer(m) != len(LAYERS) - 1 and m not in HTTP_OUTSIDE_SURFACE]
    assert bad == [], f"services must not import FastAPI/Starlette; move the HTTP part to a routes.py: {bad}"


@pytest.mark.parametrize("code, expected", [
    ("from vodflow.cdn import edge\n", {"vodflow.cdn.edge"}),
    ("from vodflow.catalog import VideoStatus\n", {"vodflow.catalog"}),
    ("import vodflow.recs.training\n", {"vodflow.recs.training"}),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from vodflow.api import app\n", set()),
    ("def f():\n    from vodflow.stack.services import s3_service\n", {"vodflow.stack.services"}),
])
def test_imports_are_read_as_python_resolves_them(code, expected, tmp_path):
    mods = modules()
    got = set()
    for mod, names, _ in _imports(ast.parse(code), "vodflow.x"):
        if mod.startswith("vodflow"):
            subs = {f"{mod}.{n}" for n in names if f"{mod}.{n}" in mods}
            got |= subs or {mod}
    assert got == expected


def test_a_layer_violation_and_a_circle_are_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer("vodflow.cdn.edge") < layer("vodflow.stack.services")   # the circle this test replaced
    assert layer("vodflow.recs.routes") == layer("vodflow.api.app") > layer("vodflow.recs.serving")
