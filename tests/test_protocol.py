"""The validation-only protocol: the test split is read by the final evaluation only.

Checks that can fail: a scan of the package for every reader of the test split (only the
functions of `encode.FINAL_EVALUATION` may call `Dataset.final_test` or touch `_test`; a scan
that finds too little is caught too), the sealed `Dataset.test`, and a training run (with its
validation passes) on a dataset whose test split raises when read.
"""

from __future__ import annotations

import ast
import dataclasses
import pickle

import numpy as np
import pytest

from attnstudy.data import encode
from tests.test_structure import PACKAGE, SOURCE, module_files

READERS = ("final_test", "_test")  # Dataset.test itself no longer exists
ACCESSOR = ("__post_init__", "__getattr__", "final_test")  # encode.Dataset's own methods


class _Readers(ast.NodeVisitor):
    """Every `x.final_test` / `x._test` with the stack of functions around it."""

    def __init__(self):
        self.stack: list[str] = []
        self.found: list[tuple[tuple[str, ...], int]] = []

    def visit_FunctionDef(self, node):
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Attribute(self, node):
        if node.attr in READERS:
            self.found.append((tuple(self.stack), node.lineno))
        self.generic_visit(node)


def readers(source: str) -> list[tuple[tuple[str, ...], int]]:
    v = _Readers()
    v.visit(ast.parse(source))
    return v.found


def allowed(module: str, stack: tuple[str, ...]) -> bool:
    ok = set(encode.FINAL_EVALUATION.get(module, ()))
    if module == "attnstudy.data.encode":
        ok |= set(ACCESSOR)
    return any(f in ok for f in stack)


def test_only_the_final_evaluation_reads_the_test_split():
    bad, seen = [], set()
    for module, path in module_files(SOURCE, PACKAGE).items():
        for stack, line in readers(path.read_text(encoding="utf-8")):
            seen.add(module)
            if not allowed(module, stack):
                where = ".".join(stack) or "<module level>"
                bad.append(f"{path.relative_to(SOURCE.parent)}:{line} ({where})")
    assert not bad, "the test split is read outside the final evaluation: " + ", ".join(bad)
    # the scan sees the real readers (a scan that found nothing would pass anything)
    assert {"attnstudy.evaluation.evaluate", "attnstudy.data.encode"} <= seen


def test_the_scan_flags_a_reader_outside_the_final_evaluation():
    code = ("def pick_length(ds):\n    return ds.final_test().labels.mean()\n"
            "def evaluate_run(ds):\n    def inner():\n        return ds.final_test()\n"
            "    return inner()\n")
    found = readers(code)
    assert [s for s, _ in found] == [("pick_length",), ("evaluate_run", "inner")]
    assert not allowed("attnstudy.pipeline.sweep", found[0][0])
    assert not allowed("attnstudy.training.loop", found[0][0])
    assert allowed("attnstudy.evaluation.evaluate", found[1][0])  # nested in the allowed one


def split(n: int, seed: int = 0) -> encode.Split:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 9, n).astype(np.int32)
    ids = np.where(np.arange(8) < lengths[:, None], rng.integers(2, 30, (n, 8)), 0)
    return encode.Split(ids.astype(np.int32), lengths, lengths, rng.integers(0, 2, n)
                        .astype(np.int32), np.arange(n).astype(str), np.zeros(n, bool))


def dataset() -> encode.Dataset:
    vocab = ["<pad>", "<unk>"] + [f"w{i}" for i in range(28)]
    return encode.Dataset(split(64), split(16, 1), split(16, 2), vocab, "fp", {}, "review")


def test_dataset_test_is_sealed_behind_the_final_evaluation_accessor():
    ds = dataset()
    with pytest.raises(encode.SealedTestSplit, match="final evaluation only"):
        ds.test  # noqa: B018
    assert len(ds.final_test()) == 16
    sealed = ds.without_test()
    assert sealed.train is ds.train and sealed.val is ds.val and sealed.vocab is ds.vocab
    with pytest.raises(encode.SealedTestSplit, match="no test split"):
        sealed.final_test()
    with pytest.raises(AttributeError):
        ds.no_such_field  # noqa: B018
    again = pickle.loads(pickle.dumps(ds))  # the workers and Ray get it pickled
    np.testing.assert_array_equal(again.final_test().ids, ds.final_test().ids)
    assert "_test" not in repr(ds)


def test_training_and_validation_never_read_the_test_split(monkeypatch, tmp_path):
    from attnstudy.config import load_config
    from attnstudy.training import loop

    def refuse(self):
        raise AssertionError("training read the test split")

    monkeypatch.setattr(encode.Dataset, "final_test", refuse)
    cfg = load_config("smoke")
    cfg = dataclasses.replace(
        cfg, data=dataclasses.replace(cfg.data, vocab_size=30, max_len=8, bucket_edges=(8,)),
        train=dataclasses.replace(cfg.train, steps=4, eval_every=2, batch_size=16,
                                  warmup_steps=1))
    state = loop.train_run(cfg, "additive", 0, dataset(), tmp_path / "run")
    assert state.step == 4 and len(state.curve) == 2  # it trained and validated
