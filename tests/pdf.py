"""The text of a PDF's pages, extracted once per process: pypdf takes seconds over the report,
and the report and figure tests (one xdist group: the session's rendered report) read it often."""

from __future__ import annotations

import functools
from pathlib import Path


@functools.lru_cache
def page_texts(path: Path) -> tuple[str, ...]:
    """pypdf's extract_text() of each page of the PDF at `path` (a file no test rewrites)."""
    from pypdf import PdfReader

    return tuple(p.extract_text() for p in PdfReader(path).pages)


def words(path: Path) -> str:
    """All pages' text, whitespace runs made one space."""
    return " ".join(" ".join(t.split()) for t in page_texts(path))
