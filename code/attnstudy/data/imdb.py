"""Reading the raw IMDb splits: a local Parquet folder (IMDB_DIR) or the Hugging Face hub.

Any problem (missing file, wrong columns, empty or non-UTF-8 reviews, labels outside {0, 1}) is
one `UserError` line naming the file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from attnstudy.config import BUILD
from attnstudy.errors import UserError
from attnstudy.keys import file_digest

HUB_NAME = "stanfordnlp/imdb"
HF_CACHE = BUILD / "cache" / "hf"


def data_dir_from_env() -> Path | None:
    value = os.environ.get("IMDB_DIR")
    return Path(value) if value else None


def local_files(data_dir: Path) -> dict[str, Path]:
    """train/test Parquet paths under `data_dir`, checked to exist."""
    if not data_dir.is_dir():
        raise UserError(f"IMDB_DIR {data_dir} is not a directory; expected a folder with "
                        "train.parquet and test.parquet")
    files = {s: data_dir / f"{s}.parquet" for s in ("train", "test")}
    for split, f in files.items():
        if not f.is_file():
            raise UserError(f"missing {f}: expected the IMDb {split} split as Parquet "
                            "(columns text, label)")
    return files


def load_raw(data_dir: Path | None = None) -> tuple[dict[str, dict[str, list]], dict[str, str]]:
    """Load train/test columns as python lists, plus per-split checksums.

    From `data_dir` (train.parquet, test.parquet) when given or set in IMDB_DIR, else the hub
    dataset `stanfordnlp/imdb`. Any problem is one `UserError` line naming the path.
    """
    import datasets

    datasets.disable_progress_bars()
    data_dir = data_dir or data_dir_from_env()
    if data_dir is None:
        try:
            ds = datasets.load_dataset(HUB_NAME)
        except Exception as e:  # no network, hub down, ...
            raise UserError(f"could not load {HUB_NAME} from the Hugging Face hub "
                            f"({type(e).__name__}); on an offline machine set IMDB_DIR to a folder "
                            "with train.parquet and test.parquet") from None
        checksums = {s: ds[s]._fingerprint for s in ("train", "test")}
        source = HUB_NAME
    else:
        files = local_files(data_dir)
        for split, f in files.items():
            _check_parquet(f, split)
        try:
            ds = datasets.load_dataset("parquet", data_files={k: str(v) for k, v in files.items()},
                                       cache_dir=str(HF_CACHE))
        except Exception as e:
            msg = str(e).splitlines()[0][:120] if str(e) else ""
            raise UserError(f"cannot read Parquet files in {data_dir}: expected train.parquet and "
                            f"test.parquet with columns text, label ({type(e).__name__}: {msg})"
                            ) from None
        checksums = {s: file_digest(f) for s, f in files.items()}
        source = str(data_dir)
    out = {}
    for split in ("train", "test"):
        out[split] = _check_split(ds[split], f"{source} [{split}]")
    return out, checksums


def _check_parquet(path: Path, split: str) -> None:
    """Fail early, naming the file, when it is not Parquet, is empty or lacks text/label."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
    except Exception:
        raise UserError(f"{path} is not a Parquet file; expected the IMDb {split} split as "
                        "Parquet with columns text, label") from None
    names = set(meta.schema.names)
    for col in ("text", "label"):
        if col not in names:
            raise UserError(f"{path}: missing column {col!r}; expected columns text, label")
    if meta.num_rows == 0:
        raise UserError(f"{path}: the {split} split is empty; expected labelled reviews")


def local_checksums(data_dir: Path) -> dict[str, str]:
    """split -> sha256 of its Parquet file in a local IMDb folder."""
    return {s: file_digest(f) for s, f in local_files(data_dir).items()}


def fingerprint_of(checksums: dict[str, str]) -> str:
    return hashlib.sha256(repr(sorted(checksums.items())).encode()).hexdigest()[:16]


def _check_split(table, where: str) -> dict[str, list]:
    cols = set(table.column_names)
    missing = [c for c in ("text", "label") if c not in cols]
    if missing:
        raise UserError(f"{where}: missing column {missing[0]!r}; expected columns text, label")
    if len(table) == 0:
        raise UserError(f"{where}: the split is empty; expected labelled reviews")
    text, label = list(table["text"]), table["label"]
    bad = [x for x in label if x not in (0, 1)]
    if bad:
        raise UserError(f"{where}: label {bad[0]!r} outside {{0, 1}}")
    for i, t in enumerate(text):
        if isinstance(t, bytes):  # a binary column: text must be valid UTF-8
            try:
                t = text[i] = t.decode("utf-8")
            except UnicodeDecodeError:
                raise UserError(f"{where}: review {i} holds bytes that are not valid UTF-8"
                                ) from None
        if not isinstance(t, str) or not t.strip():
            raise UserError(f"{where}: review {i} is empty or whitespace-only")
        if "\ufffd" in t:
            raise UserError(f"{where}: review {i} holds bytes that are not valid UTF-8")
    n = len(table)
    out = {"text": text, "label": [int(x) for x in label],
           "id": list(table["id"]) if "id" in cols else [str(i) for i in range(n)]}
    out["movie"] = list(table["movie"]) if "movie" in cols else None
    return out


def load_texts(row_ids: np.ndarray, split: str = "test", data_dir: Path | None = None) -> list[str]:
    """Raw texts of the given review ids (for prediction samples and attention dumps)."""
    raw, _ = load_raw(data_dir)
    where = {rid: i for i, rid in enumerate(raw[split]["id"])}
    return [raw[split]["text"][where[r]] for r in row_ids]

