"""The report's verdict vocabulary: one pure rule decides how every comparison is worded.

    decide(diff, lo, hi, margin, spread=None, equivalence=None) -> Verdict
    per_seed(a, b) -> {"diff", "lo", "hi", "df"}   (Welch interval of per-seed means)
    relation(v)    -> "more accurate than" | ... (the phrase the prose uses)
    margin()       -> paper/claims.toml [equivalence] margin (a fraction)

A comparison is one of four verdicts, and nothing else may be said of it:

    better        the interval lies above 0 and the difference exceeds the rerun spread
    worse         the interval lies below 0 and the difference exceeds the rerun spread
    equivalent    an equivalence test (TOST, `equivalence`) says so, or the whole interval lies
                  within +-margin (a 95% interval inside the margin implies both one-sided
                  tests reject at 2.5%, so it is a conservative TOST)
    inconclusive  anything else; `noise` is set when the interval excludes 0 but the difference
                  is no larger than the measured rerun spread (paper/rerun_spread.toml): a
                  difference a rerun on another machine can produce is never worded as a finding

Inputs are fractions (0.005 = half a point). Table shading, the abstract, the results, the
discussion and the ledger's wording all read `Verdict.word`, so they cannot disagree.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from attnstudy.config import ROOT
from attnstudy.errors import UserError

VERDICTS = ("better", "worse", "equivalent", "inconclusive")
CLAIMS = ROOT / "paper" / "claims.toml"


@dataclass(frozen=True)
class Verdict:
    word: str     # one of VERDICTS
    noise: bool   # the interval excludes 0 but |diff| <= rerun spread (word: inconclusive)
    why: str      # the reason, for hover texts and tests

    @property
    def finding(self) -> bool:
        """Whether the comparison may be worded as a difference (shaded in tables)."""
        return self.word in ("better", "worse")


def decide(diff: float, lo: float, hi: float, margin: float, spread: float | None = None,
           equivalence: dict | bool | None = None) -> Verdict:
    """The verdict of a difference `diff` (A minus B) with interval [lo, hi].

    `margin`: the declared equivalence margin (> 0); `spread`: the largest accuracy change a
    rerun on another machine produced (None: not measured); `equivalence`: the result of an
    equivalence test when one was run, True/False or {"equivalent": bool} / {"p": p, "alpha": a}
    (TOST p: the larger of the two one-sided p-values)."""
    if not all(map(math.isfinite, (diff, lo, hi))) or lo > hi:
        raise ValueError(f"verdicts.decide: bad interval {lo} to {hi} for difference {diff}")
    if not margin > 0:
        raise ValueError(f"verdicts.decide: the equivalence margin must be > 0, not {margin}")
    if _equivalent(equivalence):
        return Verdict("equivalent", False, f"equivalence test within ±{margin:g}")
    if -margin <= lo and hi <= margin:
        return Verdict("equivalent", False, f"interval within ±{margin:g}")
    if lo > 0 or hi < 0:
        if spread is not None and abs(diff) <= spread:
            return Verdict("inconclusive", True, f"|difference| ≤ rerun spread {spread:g}")
        return Verdict("better" if lo > 0 else "worse", False, "interval excludes 0")
    return Verdict("inconclusive", False, "interval includes 0")


def _equivalent(eq: dict | bool | None) -> bool:
    if eq is None or isinstance(eq, bool):
        return bool(eq)
    if "equivalent" in eq:
        return bool(eq["equivalent"])
    return eq["p"] < eq.get("alpha", 0.05)


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
           "inconclusive": "not distinguishable in accuracy from"}


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
