"""Shared fixtures. The real data comes from IMDB_DIR (CI: ../shared/data/imdb).

Built once per session: the smoke build (`smoke_build`: the end-to-end, publish and cluster
tests) and the synthetic report with its PDF (`rendered_report`: the report and figure tests).
Every process the tests start shares this process's XLA compile cache (ATTNSTUDY_COMPILE_CACHE),
whatever build folder it writes to.

`just test` runs the tests in two pytest-xdist workers with `--dist loadgroup`: the tests of one
session fixture above form one group, as do a module's tests that share a module-scoped fixture
(`pytest_collection_modifyitems` below), so each is computed once, by one worker; every other
test goes to whichever worker is free. The smoke build's group comes first (the longest chain:
its build, then its tests), so one worker starts it at once while the other takes the rest.
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]

from attnstudy.keys import SINGLE_THREAD_XLA  # noqa: E402

# This process's XLA on one thread too (before JAX starts its backend), as in every CLI process
# (attnstudy.cores): two xdist workers on two cores without XLA threads competing for them, and
# in-process compiles share the persistent compile cache (keyed on XLA_FLAGS) with the CLI
# processes the tests start. Unlike the CLI, pytest is not pinned to a core.
if SINGLE_THREAD_XLA not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {SINGLE_THREAD_XLA}".strip()

from attnstudy.config import BUILD  # noqa: E402
from attnstudy.models.inference import enable_compile_cache  # noqa: E402

os.environ.setdefault("ATTNSTUDY_COMPILE_CACHE", str(BUILD / "cache" / "jax"))  # inherited
enable_compile_cache()


SHARED = ("smoke_build", "rendered_report")  # session fixtures of a group each, longest first


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items) -> None:
    """An `xdist_group` for every test that needs a costly shared fixture: the session's
    (SHARED, one group per fixture) or its module's (one group per module), so that under
    `--dist loadgroup` the fixture is computed by one worker only. Order (xdist hands out work
    in collection order with --no-loadscope-reorder): the SHARED groups first, in their order,
    then every test or group with a `slow` test (they train), then the rest, so that the many
    short tests fill the end and no long one starts last while the other worker idles."""
    first = {name: [] for name in SHARED}
    group_of = {}
    for item in items:
        mark = item.get_closest_marker("xdist_group")
        needs = set(item.fixturenames)
        group = mark.args[0] if mark else next((name for name in SHARED if name in needs), None)
        if group is None and any(defs[-1].scope == "module" for name, defs
                                 in item._fixtureinfo.name2fixturedefs.items() if name in needs):
            group = item.module.__name__
        if group is not None and mark is None:
            item.add_marker(pytest.mark.xdist_group(group))
        if group in first:
            first[group].append(item)
        group_of[id(item)] = group or item.nodeid
    moved = [item for group in first.values() for item in group]
    slow = {group_of[id(item)] for item in items if item.get_closest_marker("slow")}
    moved += [item for item in items if group_of[id(item)] in slow - set(SHARED)]
    ids = {id(item) for item in moved}
    items[:] = moved + [item for item in items if id(item) not in ids]


@pytest.hookimpl(trylast=True)  # after xdist's hook has named each test's group
def pytest_collection_finish(session) -> None:
    """Under --dist loadgroup, fail rather than silently build the smoke build once per worker:
    xdist tells its scheduler a test's group by a suffix of the test's id, which pytest 9.2
    ignores (pytest-xdist#1386; hence pytest 9.1 in pyproject.toml).

    Then freeze what collection imported (jax, pandas, matplotlib, jinja2, the test modules:
    ~260k objects that live as long as the process) out of the garbage collector's reach:
    statsmodels' Holm correction calls gc.collect(), which otherwise walks all of them, ~0.25 s
    a call and a tenth of the analysis tests' time; the automatic full collections too."""
    if getattr(session.config.option, "loadgroup", False) and any(
            item.get_closest_marker("xdist_group") and "@" not in item.nodeid
            for item in session.items):
        raise pytest.UsageError("pytest-xdist's --dist loadgroup does not group the tests with "
                                f"pytest {pytest.__version__} (pytest-xdist#1386)")
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session")
def smoke_build(tmp_path_factory, imdb_dir) -> Path:
    """One `build --profile smoke` (train, evaluate, export the weights, analyse, render the
    report and PDF) in its own build folder, as `just build smoke` runs it. Shared: a test that
    changes files works on a copy."""
    from tests.cli import cli

    build = tmp_path_factory.mktemp("smoke-build")
    cli(build, "build", "--profile", "smoke", imdb_dir=imdb_dir)
    return build


@pytest.fixture(scope="session")
def rendered_report(tmp_path_factory) -> dict:
    """The synthetic results set (tests/fixtures/make_results.py) rendered once, PDF included:
    {"results", "out", "paths", "html", "seconds"}. Shared: tests re-render into copies."""
    from attnstudy.report import render
    from tests import synthetic

    results = synthetic.results(tmp_path_factory.mktemp("results"))
    out = tmp_path_factory.mktemp("build")
    t0 = time.perf_counter()
    paths = render.render(results, out)
    seconds = time.perf_counter() - t0
    print(f"render took {seconds:.1f} s")
    html = paths["html"].read_text(encoding="utf-8")
    return {"results": results, "out": out, "paths": paths, "html": html, "seconds": seconds}


@pytest.fixture(scope="session")
def imdb_dir() -> Path:
    value = os.environ.get("IMDB_DIR") or str(ROOT.parent / "shared" / "data" / "imdb")
    path = Path(value).resolve()
    if not (path / "train.parquet").exists():
        if os.environ.get("IMDB_DIR"):  # asked for explicitly (CI): a wrong path must not pass
            pytest.fail(f"IMDB_DIR={value} has no train.parquet")
        pytest.skip("no local IMDb copy (set IMDB_DIR)")
    return path


def write_imdb(folder: Path, train: dict, test: dict | None = None) -> Path:
    """Write a tiny IMDb-shaped dataset (Parquet) for error-path tests."""
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(train).to_parquet(folder / "train.parquet", index=False)
    pd.DataFrame(test if test is not None else train).to_parquet(folder / "test.parquet",
                                                                  index=False)
    return folder


@pytest.fixture
def tiny_imdb(tmp_path) -> Path:
    pos = ["a great film, loved it", "wonderful acting and a moving story", "brilliant!"] * 10
    neg = ["a dull film, hated it", "terrible acting and a boring story", "awful!"] * 10
    rows = {"text": pos + neg, "label": [1] * len(pos) + [0] * len(neg)}
    return write_imdb(tmp_path / "imdb", rows)
