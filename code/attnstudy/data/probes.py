"""Minimal-pair sentiment probes (`paper/probes.tsv`), written for this study, not taken from IMDb.

The file is tab-separated with a header `pair_id, category, text, label`; lines starting with
`#` are comments. Every pair_id has exactly two rows of one category with opposite labels
(1 = positive). Categories:

  negation         a positive statement / its negation ("a good film" / "not a good film")
  contrast         the clause after "but" / "yet" / "however" decides the sentiment
  intensifier      the same intensifier, the sentiment word flips ("a truly wonderful film")
  double_negation  a negated negative / the plain negative ("not a bad film at all" / "a bad film")

Runs store P(positive) per probe in file order (`runs[].probes`), so the order is part of the
contract: `load_probes()` returns rows in file order.
"""

from __future__ import annotations

import collections
import csv
from dataclasses import dataclass
from pathlib import Path

from attnstudy.config import ROOT
from attnstudy.errors import UserError

DEFAULT_PATH = ROOT / "paper" / "probes.tsv"
CATEGORIES = ("negation", "contrast", "intensifier", "double_negation")
COLUMNS = ("pair_id", "category", "text", "label")


@dataclass(frozen=True)
class Probe:
    pair_id: str
    category: str
    text: str
    label: int


def load_probes(path: Path | str | None = None) -> list[Probe]:
    """Read and validate the probe file; any problem is one UserError line naming file and line."""
    path = Path(path) if path else DEFAULT_PATH
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"probe file not found: {path} (expected a TSV with columns "
                        f"{', '.join(COLUMNS)})") from None
    except UnicodeDecodeError:
        raise UserError(f"probe file {path} is not valid UTF-8") from None
    numbered = [(i, line) for i, line in enumerate(raw.splitlines(), 1)
                if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        raise UserError(f"probe file {path} is empty; expected a header {chr(9).join(COLUMNS)}")
    rows = list(csv.reader([line for _, line in numbered], delimiter="\t", quoting=csv.QUOTE_NONE))
    header = [h.strip() for h in rows[0]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise UserError(f"{path}:{numbered[0][0]}: missing column {missing[0]!r}; expected "
                        f"tab-separated columns {', '.join(COLUMNS)}")
    col = {c: header.index(c) for c in COLUMNS}
    probes: list[Probe] = []
    for (lineno, _), row in zip(numbered[1:], rows[1:], strict=True):
        where = f"{path}:{lineno}"
        if len(row) != len(header):
            raise UserError(f"{where}: expected {len(header)} tab-separated fields, got {len(row)}")
        pair_id, category, text = (row[col[c]].strip() for c in ("pair_id", "category", "text"))
        label = row[col["label"]].strip()
        if label not in ("0", "1"):
            raise UserError(f"{where}: label must be 0 or 1, got {label!r}")
        if category not in CATEGORIES:
            raise UserError(f"{where}: unknown category {category!r} (known: "
                            f"{', '.join(CATEGORIES)})")
        if not pair_id or not text:
            raise UserError(f"{where}: empty pair_id or text")
        probes.append(Probe(pair_id, category, text, int(label)))
    if not probes:
        raise UserError(f"probe file {path} has a header but no probes")
    by_pair: dict[str, list[Probe]] = collections.defaultdict(list)
    for p in probes:
        by_pair[p.pair_id].append(p)
    for pid, members in by_pair.items():
        if len(members) != 2:
            raise UserError(f"{path}: pair {pid!r} has {len(members)} rows; each pair needs "
                            "exactly two (one positive, one negative)")
        if {m.label for m in members} != {0, 1}:
            raise UserError(f"{path}: pair {pid!r} has labels {[m.label for m in members]}; "
                            "the two rows of a pair need opposite labels")
        if members[0].category != members[1].category:
            raise UserError(f"{path}: pair {pid!r} mixes categories {members[0].category!r} and "
                            f"{members[1].category!r}")
    return probes
