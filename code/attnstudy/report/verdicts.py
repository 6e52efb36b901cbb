"""The report's verdict vocabulary: one pure rule decides how every comparison is worded. The
rule itself (`decide`, `Verdict`, `VERDICTS`) lives in attnstudy.stats.verdicts, below the
analysis, so analysis.json records the verdicts of its seed-level comparisons beside their
numbers; this module re-exports it and adds the words.

    decide(diff, lo, hi, margin, spread=None, equivalence=None) -> Verdict
    per_seed(a, b) -> {"diff", "lo", "hi", "df"}   (Welch interval of per-seed means)
    relation(v)    -> "more accurate than" | ... (the phrase the prose uses)
    margin()       -> paper/claims.toml [equivalence] margin (a fraction)

The four verdicts (better, worse, equivalent within the declared margin, inconclusive, with
the rerun-spread rule) are defined in attnstudy.stats.verdicts.

Inputs are fractions (0.005 = half a point). Table shading, the abstract, the results, the
discussion and the ledger's wording all read `Verdict.word`, so they cannot disagree.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

from attnstudy.config import ROOT
from attnstudy.errors import UserError
from attnstudy.stats.verdicts import VERDICTS, Verdict, decide, within_spread  # noqa: F401 (the one rule)

CLAIMS = ROOT / "paper" / "claims.toml"


def per_seed(a: dict, b: dict, level: float = 0.95) -> dict:
    """Difference of per-seed means of A and B (each {"mean", "std", "n"}, std with ddof=1) with
    a Welch t interval over seeds (runs of different models are independent draws). With one
    seed on either side there is no interval: lo = hi = diff, df = 0."""
    from scipy import stats as sps

    diff = a["mean"] - b["mean"]
    if a["n"] < 2 or b["n"] < 2:
        return {"diff": diff, "lo": diff, "hi": diff, "df": 0, "se": 0.0}
    va, vb = a["std"] ** 2 / a["n"], b["std"] ** 2 / b["n"]
    se = math.sqrt(va + vb)
    if se == 0:
        return {"diff": diff, "lo": diff, "hi": diff, "df": math.inf, "se": 0.0}
    df = (va + vb) ** 2 / (va ** 2 / (a["n"] - 1) + vb ** 2 / (b["n"] - 1))
    half = float(sps.t.ppf(0.5 + level / 2, df)) * se
    return {"diff": diff, "lo": diff - half, "hi": diff + half, "df": df, "se": se}


PHRASES = {"better": "more accurate than", "worse": "less accurate than",
           "equivalent": "equivalent in accuracy to",
           "inconclusive": "not shown to differ in accuracy from"}


def relation(v: Verdict) -> str:
    """The comparison phrase of a verdict: "A is <relation> B"."""
    return PHRASES[v.word]


def margin(path: Path | None = None) -> float:
    """The equivalence margin declared in paper/claims.toml ([equivalence] margin, a fraction)."""
    path = path or CLAIMS
    try:
        m = tomllib.loads(path.read_text(encoding="utf-8"))["equivalence"]["margin"]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as e:
        raise UserError(f"{path.name}: needs [equivalence] margin = <fraction> ({e})") from None
    if not isinstance(m, int | float) or not 0 < m < 1:
        raise UserError(f"{path.name}: [equivalence] margin must be a fraction in (0, 1), not {m}")
    return float(m)
