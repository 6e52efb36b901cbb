"""Numbering and cross-references: sections, figures, tables and citations in document order.

The template is rendered twice with a fresh Registry each time: the first pass learns every
number, the second (given the first as `prev`) resolves forward references and the contents.
"""

from __future__ import annotations

import collections
import tomllib
from pathlib import Path

from markupsafe import Markup, escape

from attnstudy.errors import UserError


def references(path: Path) -> dict:
    """paper/references.toml: key -> {authors, year, title, venue}."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise UserError(f"cannot read {path}: {e}") from None


class Registry:
    NAMES = {"fig": "Figure", "tab": "Table"}

    def __init__(self, refs: dict, prev: Registry | None = None):
        self.refs, self.prev = refs, prev
        self.numbers: dict[str, str] = {}
        self.counts = collections.Counter()
        self.toc: list[tuple[int, str, str, str]] = []  # (level, id, number label, title)
        self.cited: list[str] = []
        self.sec = [0, 0]

    def heading(self, level: int, id: str, title: str, numbered: str = "num") -> Markup:
        """<hN> with its number; numbered is "num" (1, 1.2), "app" (Appendix A) or "none"."""
        if numbered == "app":
            self.counts["app"] += 1
            no = chr(ord("A") + self.counts["app"] - 1)
            self.sec = [99, 0]
        elif numbered == "num" and level == 2:
            self.sec = [self.sec[0] + 1, 0]
            no = str(self.sec[0])
        elif numbered == "num":
            self.sec[1] += 1
            no = (chr(ord("A") + self.counts["app"] - 1) if self.sec[0] == 99
                  else str(self.sec[0])) + f".{self.sec[1]}"
        else:
            no = ""
        label = f"Appendix {no}" if numbered == "app" else no
        self.numbers[id] = f"Section {no}" if no and numbered != "app" else label or title
        self.toc.append((level, id, label, title))
        no_html = f'<span class="secno">{escape(label)}</span> ' if label else ""
        return Markup(f'<h{level} id="{escape(id)}">{no_html}{escape(title)}'
                      f'<a class="anchor" href="#{escape(id)}" aria-label="link to this section">'
                      f'¶</a></h{level}>')

    def number(self, kind: str, id: str) -> str:
        """"Figure 3" / "Table 2" for `id`, numbered on its first call."""
        if id not in self.numbers:
            self.counts[kind] += 1
            self.numbers[id] = f"{self.NAMES[kind]} {self.counts[kind]}"
        return self.numbers[id]

    def ref(self, id: str) -> Markup:
        src = self.prev or self
        if id not in src.numbers:
            if self.prev is not None:
                raise KeyError(f"report template refers to unknown label {id!r}")
            return Markup("??")
        return Markup(f'<a class="xref" href="#{escape(id)}">{escape(src.numbers[id])}</a>')

    def cite(self, *keys: str) -> Markup:
        for k in keys:
            if k not in self.refs:
                raise KeyError(f"unknown reference {k!r} (paper/references.toml)")
            if k not in self.cited:
                self.cited.append(k)
        numbered = sorted(((self.prev or self).ref_number(k), k) for k in keys)
        links = [f'<a class="cite" href="#ref-{escape(k)}">{n}</a>' for n, k in numbered]
        return Markup(f'<span class="cites">[{", ".join(links)}]</span>')

    def ref_number(self, key: str) -> int:
        return self.bibliography().index(key) + 1 if key in self.cited else 0

    def bibliography(self) -> list[str]:
        """Cited references in order of first citation, then the uncited ones."""
        return self.cited + [k for k in self.refs if k not in self.cited]
