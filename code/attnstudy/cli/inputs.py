"""Reviews to classify, from the command line or a CSV/TSV/Parquet/JSON-lines file with a text
column (and an optional label column), read a chunk at a time: a file larger than memory is fine.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from attnstudy.errors import UserError

Chunk = tuple[list[str], list[int] | None]
Row = tuple[str, dict]  # (where, e.g. "file.csv:3", the row's fields)


def _csv_rows(path: Path) -> tuple[list[str], Iterator[Row]]:
    f = path.open(encoding="utf-8", newline="")
    csv.field_size_limit(sys.maxsize)
    reader = csv.DictReader(f, delimiter="\t" if path.suffix.lower() in (".tsv", ".tab") else ",")
    header = reader.fieldnames or []

    def rows():
        with f:
            for line, row in enumerate(reader, start=2):
                yield f"{path}:{line}", row
    return header, rows()


def _parquet_rows(path: Path, wanted: list[str]) -> tuple[list[str], Iterator[Row]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError, ArrowIOError OSError
        raise UserError(f"{path} is not a readable Parquet file") from None
    header = pf.schema_arrow.names

    def rows():
        n = 0
        for batch in pf.iter_batches(batch_size=1024, columns=[c for c in wanted if c in header]):
            for row in batch.to_pylist():
                n += 1
                yield f"{path}: row {n}", row
    return header, rows()


def _jsonl_rows(path: Path) -> tuple[list[str], Iterator[Row]]:
    f = path.open(encoding="utf-8")

    def parsed():
        with f:
            for line, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except ValueError:
                    raise UserError(f"{path}:{line}: not a JSON object") from None
                if not isinstance(row, dict):
                    raise UserError(f"{path}:{line}: not a JSON object")
                yield f"{path}:{line}", row
    it = parsed()
    first = next(it, None)
    if first is None:
        return [], iter(())

    def rows():
        yield first
        yield from it
    return list(first[1]), rows()


def _open_rows(path: Path, wanted: list[str]) -> tuple[list[str], Iterator[Row]]:
    """(column names, rows) of a CSV/TSV, Parquet (.parquet, .pq) or JSON-lines (.jsonl,
    .ndjson) file, read lazily."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return _parquet_rows(path, wanted)
        if suffix in (".jsonl", ".ndjson"):
            return _jsonl_rows(path)
        return _csv_rows(path)
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text") from None


def _label(value, where: str) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        label = int(value)  # "1", 1 or 1.0
        if label not in (0, 1) or label != float(value):
            raise ValueError
    except (TypeError, ValueError):
        raise UserError(f"{where}: label {value!r} is not 0 or 1") from None
    return label


def iter_inputs(texts: list[str], path: Path | None, column: str, label_column: str,
                chunk: int) -> Iterator[Chunk]:
    """Yield (texts, labels or None) chunks; labels only when the file has `label_column`."""
    for i, t in enumerate(texts):
        if not t.strip():
            raise UserError(f"text {i + 1} is empty; give a review to classify")
    if texts:
        yield list(texts), None
    if path is None:
        return
    header, rows = _open_rows(path, [column, label_column])
    if column not in header:
        raise UserError(f"{path} has no column {column!r} (columns: "
                        f"{', '.join(map(str, header)) or 'none'}); use --column")
    has_labels = label_column in header
    buf_t, buf_l = [], []
    try:
        for where, row in rows:
            text = row.get(column)
            if text is None or (isinstance(text, str) and not text.strip()):
                raise UserError(f"{where}: empty text")
            if not isinstance(text, str):
                raise UserError(f"{where}: text {text!r} is not a string")
            buf_t.append(text)
            if has_labels:
                buf_l.append(_label(row.get(label_column), where))
            if len(buf_t) == chunk:
                yield buf_t, buf_l if has_labels else None
                buf_t, buf_l = [], []
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text") from None
    if buf_t:
        yield buf_t, buf_l if has_labels else None
