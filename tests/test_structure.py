"""The package's shape: its layers (the import-linter contract in pyproject.toml), no import
cycles, no module over 400 lines, a docstring in every subpackage's `__init__.py`.

The import graph is read statically (ast), function-level imports included: a lazy import
hides a cycle from Python but not from a reader, and the next refactor may hoist it.
"""

from __future__ import annotations

import ast
import graphlib
import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = "attnstudy"
SOURCE = Path(__file__).resolve().parents[1] / "code" / PACKAGE
MAX_LINES = 400


def module_files(root: Path, package: str) -> dict[str, Path]:
    """module name -> file for every .py under `root` (the folder of `package`)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _imported(node: ast.AST, module: str, is_package: bool, modules: dict) -> list[str]:
    """Modules of `package` one import statement needs (before package-ancestor edges)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:  # relative: resolve against this module's package
        base = module.split(".")
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    # `from pkg import name`: the submodule pkg.name when it is one, else pkg's __init__ body
    return [f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source
            for a in node.names]


def import_graph(root: Path, package: str = PACKAGE) -> dict[str, set[str]]:
    """module -> the package modules it imports, module- and function-level.

    Importing `a.b.c` also runs `a/__init__` and `a/b/__init__`, so those are edges too, except
    a module's own ancestors: Python initialises (or is initialising) them before the module
    runs, so `a.b.__init__` importing `a.b.c`, which imports `a.b.d`, is no cycle.
    """
    modules = module_files(root, package)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        own = set(_ancestors(module))
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _imported(node, module, path.name == "__init__.py", modules):
                if target != package and not target.startswith(package + "."):
                    continue
                if target not in modules:  # `import a.b.name` of a non-module: nearest module
                    target = next(a for a in reversed(_ancestors(target)) if a in modules)
                implied = [a for a in _ancestors(target) if a not in own]
                graph[module].update(t for t in (*implied, target) if t != module)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [m0, m1, ..., m0], or None."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as e:
        return list(reversed(e.args[1]))  # graphlib lists it against the edge direction
    return None


# ----------------------------------------------------------------------------- the walker itself

def _fake_package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "fakepkg"
    for name, text in {"__init__.py": '"""Fake."""\n', **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_walker_finds_a_function_level_cycle(tmp_path):
    root = _fake_package(tmp_path, {
        "a.py": "import os\n\ndef f():\n    from fakepkg.b import g\n    return g\n",
        "b.py": "from fakepkg import a\n\ndef g():\n    return a\n",
    })
    graph = import_graph(root, "fakepkg")
    assert graph["fakepkg.a"] == {"fakepkg.b"} and graph["fakepkg.b"] == {"fakepkg.a"}
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1]
    assert set(cycle) == {"fakepkg.a", "fakepkg.b"}
    for src, dst in itertools.pairwise(cycle):  # printed in import order
        assert dst in graph[src]


def test_walker_resolves_packages_relative_and_attribute_imports(tmp_path):
    root = _fake_package(tmp_path, {
        "sub/__init__.py": '"""Sub."""\nfrom fakepkg.sub import x\n',
        "sub/x.py": "from fakepkg.sub import y\nfrom . import y as _y\n",
        "sub/y.py": "import fakepkg.c\nfrom ..c import NAME\n",
        "c.py": "NAME = 1\nimport fakepkg.sub.x\n",
    })
    graph = import_graph(root, "fakepkg")
    assert graph["fakepkg.sub"] == {"fakepkg.sub.x"}
    assert graph["fakepkg.sub.x"] == {"fakepkg.sub.y"}  # own package's __init__: no edge
    assert graph["fakepkg.sub.y"] == {"fakepkg.c"}
    # importing fakepkg.sub.x from outside runs fakepkg/sub/__init__ first: a real cycle
    assert graph["fakepkg.c"] == {"fakepkg.sub", "fakepkg.sub.x"}
    assert find_cycle(graph) is not None
    (root / "c.py").write_text("NAME = 1\n")
    assert find_cycle(import_graph(root, "fakepkg")) is None


# ----------------------------------------------------------------------------- the package

def test_no_import_cycles():
    graph = import_graph(SOURCE)
    assert len(graph) > 30 and graph["attnstudy.pipeline.results"]  # the walk saw the package
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_module_over_the_line_limit():
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines())
             for m, p in module_files(SOURCE, PACKAGE).items()}
    over = {m: n for m, n in sorted(sizes.items()) if n > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines: " + ", ".join(
        f"{m} ({n})" for m, n in over.items())


@pytest.mark.parametrize("folder", sorted({p.parent for p in SOURCE.rglob("*.py")} - {SOURCE}),
                         ids=lambda p: p.relative_to(SOURCE).as_posix())
def test_subpackage_init_has_a_docstring(folder):
    init = folder / "__init__.py"
    assert init.is_file(), f"{folder} has modules but no __init__.py"
    assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), f"{init}: no docstring"


# ----------------------------------------------------------------------------- the layers

ROOT = SOURCE.parents[1]


def lint_imports(root: Path, code: Path) -> subprocess.CompletedProcess:
    """import-linter's contracts of `root`/pyproject.toml on the package under `code`."""
    cli = Path(sys.executable).parent / "lint-imports"
    env = {**os.environ, "PYTHONPATH": str(code)}
    return subprocess.run([str(cli), "--no-cache", "--config", str(root / "pyproject.toml")],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_every_module_imports_only_the_layers_below_it():
    p = lint_imports(ROOT, SOURCE.parent)
    assert p.returncode == 0 and "1 kept, 0 broken" in p.stdout, p.stdout + p.stderr


def test_an_upward_import_breaks_the_layers(tmp_path):
    """The contract can fail: a copy of the package where data imports the pipeline."""
    shutil.copytree(SOURCE, tmp_path / "code" / PACKAGE,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    text = tmp_path / "code" / PACKAGE / "data" / "text.py"
    text.write_text(text.read_text() + "\n\ndef _upward():\n"
                    "    from attnstudy.pipeline import results\n    return results\n")
    p = lint_imports(tmp_path, tmp_path / "code")
    assert p.returncode != 0 and "BROKEN" in p.stdout, p.stdout + p.stderr
    assert "attnstudy.data.text -> attnstudy.pipeline.results" in p.stdout, p.stdout
