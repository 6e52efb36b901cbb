"""Cache keys (attnstudy.keys): what changes a key and what must not.

Code edits are made on copies of the package's modules, written under fresh names on sys.path,
and fed to the real `code_digest`; `keys.code_digest` is then patched to answer with the copy's
digest for the module it replaces, so every key built through `cache_key` sees the edit.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import io
import tokenize
import types
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from attnstudy import keys
from attnstudy.config import load_config
from attnstudy.data import encode, text
from attnstudy.pipeline import cache, results
from tests.test_structure import SOURCE, import_graph

CFG = load_config("full")

REAL_DIGEST = keys.code_digest


def source_of(module: str) -> str:
    return Path(importlib.util.find_spec(module).origin).read_text(encoding="utf-8")


def edit_body(source: str, func: str) -> str:
    """`source` with one statement added at the top of function `func`'s body."""
    node = next(n for n in ast.walk(ast.parse(source))
                if isinstance(n, ast.FunctionDef) and n.name == func)
    first = node.body[1] if ast.get_docstring(node) is not None else node.body[0]
    lines = source.splitlines(keepends=True)
    lines.insert(first.lineno - 1, " " * first.col_offset + "_edited = None\n")
    return "".join(lines)


def edit_docs_and_comments(source: str) -> str:
    """`source` with every comment and docstring reworded, plus new comment and blank lines."""
    lines = source.splitlines(keepends=True)
    comments = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
                if t.type == tokenize.COMMENT]
    for tok in reversed(comments):  # from the end, so earlier positions stay valid
        (row, col), (_, end) = tok.start, tok.end
        lines[row - 1] = lines[row - 1][:col] + "# reworded" + lines[row - 1][end:]
    data = "".join(lines).encode()
    tree = ast.parse(data)
    docs = [n.body[0] for n in ast.walk(tree)
            if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and ast.get_docstring(n, clean=False) is not None]
    starts = [0]  # byte offset of each line: ast columns are UTF-8 byte offsets
    for line in data.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    for d in sorted(docs, key=lambda d: (d.lineno, d.col_offset), reverse=True):
        a, b = starts[d.lineno - 1] + d.col_offset, starts[d.end_lineno - 1] + d.end_col_offset
        data = data[:a] + b'"""Reworded."""' + data[b:]
    return data.decode() + "\n\n# a trailing comment\n"


@pytest.fixture
def digest_of(tmp_path, monkeypatch):
    """source -> the real `code_digest` of that source (as a fresh module on sys.path)."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def digest(source: str) -> str:
        name = f"edited_{uuid.uuid4().hex}"
        (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
        importlib.invalidate_caches()
        return REAL_DIGEST(name)

    return digest


def use_digests(monkeypatch, overrides: dict[str, str]) -> None:
    """Make every cache key see `overrides` (module -> digest) instead of the real code."""
    monkeypatch.setattr(keys, "code_digest", lambda m: overrides.get(m) or REAL_DIGEST(m))


# ----------------------------------------------------------------------------- code_digest

MODULES = ("attnstudy.data.encode", "attnstudy.data.text", "attnstudy.keys",
           "attnstudy.pipeline.results")


@pytest.mark.parametrize("module", MODULES)
def test_code_digest_of_a_copy_is_the_modules(module, digest_of):
    assert digest_of(source_of(module)) == REAL_DIGEST(module)


@pytest.mark.parametrize("module, func", [("attnstudy.data.encode", "truncate"),
                                          ("attnstudy.data.text", "normalise"),
                                          ("attnstudy.keys", "cache_key")])
def test_code_digest_changes_with_a_function_body(module, func, digest_of):
    edited = edit_body(source_of(module), func)
    assert digest_of(edited) != REAL_DIGEST(module)


@pytest.mark.parametrize("module", MODULES)
def test_code_digest_ignores_docstrings_and_comments(module, digest_of):
    source = source_of(module)
    edited = edit_docs_and_comments(source)
    # the edit really reworded them: no original comment or docstring is left
    old = ast.parse(source)
    assert "# reworded" in edited and edited.count('"""Reworded."""') >= 2
    left = {ast.get_docstring(n) for n in ast.walk(ast.parse(edited))
            if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef)} - {"Reworded.", None}
    assert ast.get_docstring(old) and not left
    assert digest_of(edited) == REAL_DIGEST(module)


# ----------------------------------------------------------------------------- cache_key

CODE = ("attnstudy.data.text", "attnstudy.metrics")


def key(**changes) -> str:
    args = {"kind": "data", "config": {"a": 1, "b": [1, 2]}, "code": CODE, "extra": "fp"} | changes
    return keys.cache_key(args.pop("kind"), args.pop("config"), args.pop("code"), **args)


def test_cache_key_is_stable_and_ignores_dict_order():
    assert key() == key() == key(config={"b": [1, 2], "a": 1})
    assert key(code=tuple(reversed(CODE))) == key()
    assert len(key()) == 16 and len(key(length=12)) == 12


@pytest.mark.parametrize("change", [
    {"kind": "run"}, {"config": {"a": 2, "b": [1, 2]}}, {"config": {"a": 1, "b": [2, 1]}},
    {"config": {"a": "1", "b": [1, 2]}},
    {"extra": "other"}, {"extra": None}, {"code": CODE[:1]}, {"packages": ("numpy",)},
], ids=repr)
def test_cache_key_changes_with_each_input(change):
    assert key(**change) != key()


def test_cache_key_changes_with_the_code(monkeypatch):
    base = key()
    use_digests(monkeypatch, {"attnstudy.metrics": "0" * 64})
    assert key() != base
    use_digests(monkeypatch, {"attnstudy.config": "0" * 64})  # not in the key's code
    assert key() == base


def test_cache_key_changes_with_package_versions_and_threads(monkeypatch):
    import numpy as np

    assert keys.versions(("numpy", "no-such-package")) == {"numpy": np.__version__,
                                                           "no-such-package": "absent"}
    base = key()
    real = keys.versions
    monkeypatch.setattr(keys, "versions", lambda packages: real(packages) | {"numpy": "0.0.1"})
    assert key() != base
    monkeypatch.setattr(keys, "versions", real)
    assert key() == base
    monkeypatch.setattr(keys, "SINGLE_THREAD_XLA", "--xla_cpu_multi_thread_eigen=true")
    assert key() != base


# ----------------------------------------------------------------------------- the data key

@pytest.mark.parametrize("func", [encode.split_validation, encode.build_vocab, encode.truncate,
                                  encode.encode], ids=lambda f: f.__name__)
def test_dataset_key_follows_the_encoding_code(func, digest_of, monkeypatch):
    """Wherever these functions live, editing their body must drop the encoded data."""
    cfg, module = CFG.data, func.__module__
    base = encode.dataset_key(cfg, "fp")
    use_digests(monkeypatch, {module: digest_of(edit_docs_and_comments(source_of(module)))})
    assert encode.dataset_key(cfg, "fp") == base
    use_digests(monkeypatch, {module: digest_of(edit_body(source_of(module), func.__name__))})
    assert encode.dataset_key(cfg, "fp") != base


def test_dataset_key_follows_tokenizer_config_and_data(digest_of, monkeypatch):
    cfg = CFG.data
    base = encode.dataset_key(cfg, "fp")
    assert encode.dataset_key(replace(cfg, max_len=128, bucket_edges=(128,)), "fp") != base
    assert encode.dataset_key(replace(cfg, split_seed=1), "fp") != base
    assert encode.dataset_key(cfg, "other") != base
    use_digests(monkeypatch, {"attnstudy.models.classifiers": "0" * 64})  # not data code
    assert encode.dataset_key(cfg, "fp") == base
    module = text.tokenize.__module__
    use_digests(monkeypatch, {module: digest_of(edit_body(source_of(module), "tokenize"))})
    assert encode.dataset_key(cfg, "fp") != base


# ----------------------------------------------------------------------------- run, eval, baseline

# Modules that cannot change a number a key stands for: config values are keyed themselves,
# the rest raise errors, write files or make keys; checkpoints store parameters bit for bit.
NEUTRAL = {"attnstudy.config", "attnstudy.errors", "attnstudy.files", "attnstudy.keys",
           "attnstudy.training.checkpoints"}
# what only makes keys, schedules runs, pins threads (keys hold the setting) or records when
# and where: never a number of the results
ORCHESTRATION = {"attnstudy.pipeline.cache", "attnstudy.pipeline.workers", "attnstudy.cores",
                 "attnstudy.provenance",
                 "attnstudy.heap"}  # where XLA's buffers live, never a number (heap's docstring)


def reached(*entries: str, stop: frozenset = frozenset()) -> set[str]:
    """The package modules `entries` import, directly or not (function-level imports too), not
    walking into `stop`; package `__init__`s holding nothing but a docstring count as neutral."""
    graph = import_graph(SOURCE)
    seen, todo = set(), list(entries)
    while todo:
        m = todo.pop()
        if m not in seen and m not in stop:
            seen.add(m)
            todo.extend(graph[m])
    inits = {m for m in seen if (SOURCE / Path(*m.split(".")[1:]) / "__init__.py").is_file()}
    for m in inits:
        tree = ast.parse(source_of(m))
        code = len(tree.body) - (ast.get_docstring(tree) is not None)
        assert code == 0, f"{m}/__init__.py holds code: should a key include it?"
    return seen - inits - NEUTRAL


def test_keyed_code_covers_what_each_step_runs():
    assert reached("attnstudy.training.loop", "attnstudy.data.encode") <= set(cache.TRAIN_CODE)
    # an evaluation lives inside its run's folder: the run key covers the model code
    assert reached("attnstudy.evaluation.evaluate", "attnstudy.data.probes") <= (
        set(cache.EVAL_CODE) | set(cache.TRAIN_CODE))
    assert reached("attnstudy.analysis.baseline") <= set(results.BASELINE_CODE)
    assert reached("attnstudy.analysis.analyse") <= set(results.ANALYSIS_CODE)
    assert {"attnstudy.data.text", "attnstudy.metrics"} <= set(results.BASELINE_CODE)




def run_key() -> str:
    return cache.run_key(CFG, "additive", 0, "fp")


@pytest.mark.parametrize("module", cache.TRAIN_CODE)
def test_run_key_follows_training_code(module, monkeypatch):
    base = run_key()
    use_digests(monkeypatch, {module: "0" * 64})
    assert run_key() != base


@pytest.mark.parametrize("module", sorted(set(cache.EVAL_CODE) - set(cache.TRAIN_CODE)))
def test_evaluation_code_reevaluates_without_retraining(module, monkeypatch):
    run, ev = run_key(), cache.eval_key(CFG)
    use_digests(monkeypatch, {module: "0" * 64})
    assert run_key() == run and cache.eval_key(CFG) != ev


def test_run_and_eval_keys_follow_their_settings(tmp_path, monkeypatch):
    run, ev = run_key(), cache.eval_key(CFG)
    assert cache.run_key(CFG, "mhsa", 0, "fp") != run
    assert cache.run_key(CFG, "additive", 1, "fp") != run
    assert cache.run_key(CFG, "additive", 0, "other") != run
    # the list of models and seeds to train is not a setting of one run
    wider = replace(CFG, train=replace(CFG.train, models=("additive",), seeds=(0, 5)))
    assert cache.run_key(wider, "additive", 0, "fp") == run
    k12 = replace(CFG, analysis=replace(CFG.analysis, faithfulness_k=(1, 2)))
    assert cache.eval_key(k12) != ev
    probes = tmp_path / "probes.tsv"
    probes.write_text("text\tlabel\nfine\t1\n")
    monkeypatch.setattr(cache, "PROBES_PATH", probes)
    assert cache.eval_key(CFG) != ev


class _Key(Exception):
    pass


def baseline_key(monkeypatch) -> str:
    """The key `results.baseline` files its result under (stopped before it trains anything)."""
    def spy(kind, *args, **kwargs):
        if kind == "baseline":
            raise _Key(keys.cache_key(kind, *args, **kwargs))
        return keys.cache_key(kind, *args, **kwargs)

    monkeypatch.setattr(results, "cache_key", spy)
    with pytest.raises(_Key) as e:
        results.baseline(CFG, types.SimpleNamespace(fingerprint="fp"))
    return e.value.args[0]


def test_baseline_key_follows_normalise_and_metrics(digest_of, monkeypatch):
    base = baseline_key(monkeypatch)
    module = text.normalise.__module__
    use_digests(monkeypatch, {module: digest_of(edit_docs_and_comments(source_of(module)))})
    assert baseline_key(monkeypatch) == base
    use_digests(monkeypatch, {module: digest_of(edit_body(source_of(module), "normalise"))})
    assert baseline_key(monkeypatch) != base
    use_digests(monkeypatch, {"attnstudy.metrics": "0" * 64})
    assert baseline_key(monkeypatch) != base
    use_digests(monkeypatch, {"attnstudy.training.loop": "0" * 64})  # neural training only
    assert baseline_key(monkeypatch) == base


# ----------------------------------------------------------------------------- the results set

def test_build_key_covers_what_write_results_runs():
    """Every module `write_results` runs is in the code of a key the build key holds: the runs'
    (run key), their evaluations' (eval key), the baseline's, the analysis's or its own."""
    keyed = (set(cache.TRAIN_CODE) | set(cache.EVAL_CODE) | set(results.BASELINE_CODE)
             | set(results.ANALYSIS_CODE) | set(results.RESULTS_CODE) | ORCHESTRATION)
    # the schema validates and documents the files; its version is part of the build key
    missing = reached("attnstudy.pipeline.results", stop=frozenset({"attnstudy.schema"})) - keyed
    assert not missing, f"write_results runs code no key holds: {sorted(missing)}"


def build_key() -> str:
    return results.build_key(CFG, "fp")


@pytest.mark.parametrize("module", sorted(set(results.BASELINE_CODE) | set(results.RESULTS_CODE)
                                          | set(cache.EVAL_CODE)))
def test_build_key_follows_the_code_of_every_output(module, monkeypatch):
    base = build_key()
    use_digests(monkeypatch, {module: "0" * 64})
    assert build_key() != base


@pytest.mark.parametrize("package", ["scikit-learn", "scipy", "numpy", "pandas", "pyarrow",
                                     "flax", "jax"])
def test_build_key_follows_the_libraries_that_compute_or_write_the_results(package, monkeypatch):
    base = build_key()
    real = keys.versions
    monkeypatch.setattr(keys, "versions", lambda packages=keys.PACKAGES: {
        p: ("0.0.0" if p == package else v) for p, v in real(packages).items()})
    assert build_key() != base


def test_build_key_follows_the_probes_and_the_baseline(tmp_path, monkeypatch):
    base = build_key()
    probes = tmp_path / "probes.tsv"
    probes.write_text("text\tlabel\nfine\t1\n")
    monkeypatch.setattr(cache, "PROBES_PATH", probes)
    assert build_key() != base
    monkeypatch.undo()
    assert build_key() == base
    monkeypatch.setattr(results, "baseline_key", lambda cfg, fp: "another baseline")
    assert build_key() != base


def test_a_second_build_waits_for_the_run_the_first_trains(tmp_path, capsys):
    """The run folder's lock: a second holder waits (saying so in one line) until it is free."""
    import threading

    order, rdir = [], tmp_path / "runs" / "additive-seed0-key"
    with cache.run_lock(rdir, "additive seed 0"):
        waiter = threading.Thread(target=lambda: cache.run_lock(rdir, "additive seed 0")
                                  .__enter__() or order.append("second"))
        waiter.start()
        waiter.join(timeout=0.5)
        assert waiter.is_alive() and not order  # waits while the first holds it
        order.append("first")
    waiter.join(timeout=10)
    assert order == ["first", "second"]
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["attnstudy: additive seed 0 is being trained by another build; waiting for it"]
    assert [p.name for p in tmp_path.rglob("*.lock")] == ["additive-seed0-key.lock"]
    assert not rdir.exists()  # the run folder holds only the run's own files


# ----------------------------------------------------------------------------- per-model settings

def test_a_config_without_per_model_tables_leaves_them_out():
    """The optional per-model tables are left out of a config that sets none, so the hash of a
    config written before they existed did not move. The committed results' hash is checked
    against paper/experiment.toml in tests/test_bake.py."""
    bare = replace(CFG, train=replace(CFG.train, learning_rate_by_model=()),
                   model=replace(CFG.model, embed_dropout_by_model=()))
    d = bare.to_dict()
    assert "learning_rate_by_model" not in d["train"]
    assert "embed_dropout_by_model" not in d["model"]
    one = replace(bare, train=replace(bare.train, learning_rate_by_model=(("bilstm", 1e-2),)))
    assert one.to_dict()["train"]["learning_rate_by_model"] == {"bilstm": 1e-2}
    assert one.section_hash() != bare.section_hash()


def test_run_key_follows_only_the_models_effective_settings():
    # from the full profile without per-model tables (v3's sets one for every model)
    base = replace(CFG, train=replace(CFG.train, learning_rate_by_model=()),
                   model=replace(CFG.model, embed_dropout_by_model=()))
    shared = replace(base, train=replace(base.train, learning_rate=1e-2),
                     model=replace(base.model, embed_dropout=0.2))
    per = replace(base, train=replace(base.train, learning_rate_by_model=(("additive", 1e-2),
                                                                        ("mhsa", 3e-2))),
                  model=replace(base.model, embed_dropout_by_model=(("additive", 0.2),)))
    # additive trains with 1e-2 and 0.2 either way: one run, one key
    assert cache.run_key(per, "additive", 0, "fp") == cache.run_key(shared, "additive", 0, "fp")
    assert cache.run_key(per, "additive", 0, "fp") != cache.run_key(base, "additive", 0, "fp")
    # another model's entry changes nothing for a model without one
    assert cache.run_key(per, "bilstm", 0, "fp") == cache.run_key(base, "bilstm", 0, "fp")
    assert cache.run_key(per, "mhsa", 0, "fp") != cache.run_key(base, "mhsa", 0, "fp")
    # an entry at the shared value is the shared value
    same = replace(base, train=replace(base.train, learning_rate_by_model=(
        ("additive", base.train.learning_rate),)))
    assert cache.run_key(same, "additive", 0, "fp") == cache.run_key(base, "additive", 0, "fp")
    assert per.to_dict()["train"]["learning_rate_by_model"] == {"additive": 1e-2, "mhsa": 3e-2}
    assert per.section_hash() != base.section_hash()
    eff = per.for_model("additive")
    assert (eff.train.learning_rate, eff.model.embed_dropout) == (1e-2, 0.2)
    assert eff.train.learning_rate_by_model == () and eff.model.embed_dropout_by_model == ()
