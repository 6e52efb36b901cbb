"""Shared fixtures. The real data comes from IMDB_DIR (CI: ../shared/data/imdb)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]

from attnstudy.models.inference import enable_compile_cache  # noqa: E402

enable_compile_cache()


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
