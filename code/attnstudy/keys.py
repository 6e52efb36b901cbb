"""The one recipe behind every cache key (encoded data, runs, evaluation, baseline, analysis,
render).

A key hashes three things: the config values that matter, the *code* that computes the cached
thing (its modules' syntax trees with docstrings stripped, so a comment or docstring edit keeps
the cache and any code edit drops it), and the environment that can change the last bits of a
number (library versions and XLA's threading). Nothing else decides a cached result.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import json
from importlib import metadata

# Every process that trains or evaluates runs XLA on one thread (see attnstudy.cores): XLA splits
# some reductions by its thread count, so this setting is part of what a number depends on.
SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
PACKAGES = ("jax", "jaxlib", "flax", "optax", "numpy")  # what a trained run's numbers depend on


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


@functools.cache
def code_digest(module: str) -> str:
    """sha256 of a module's syntax tree without docstrings (comments never reach the tree)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(module)
    with open(spec.origin, encoding="utf-8") as f:
        tree = _strip_docstrings(ast.parse(f.read()))
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()


@functools.cache
def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    out = {}
    for p in packages:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "absent"
    return out


def cache_key(kind: str, config, code: tuple[str, ...], *, packages: tuple[str, ...] = PACKAGES,
              extra=None, length: int = 16) -> str:
    """The key of a cached `kind` computed by the modules `code` from `config` (any JSON-able
    value: the config sections that matter) and `extra` (data fingerprints, file digests, the
    keys of what it builds on)."""
    blob = json.dumps({"kind": kind, "config": config, "extra": extra,
                       "code": {m: code_digest(m) for m in sorted(code)},
                       "versions": versions(tuple(packages)), "threads": SINGLE_THREAD_XLA},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def file_digest(path) -> str:
    """sha256 of a file's bytes, read in chunks ("absent" when it does not exist)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except FileNotFoundError:
        return "absent"
    return h.hexdigest()
