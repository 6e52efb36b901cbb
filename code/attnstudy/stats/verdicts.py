"""The study's verdict rule, one pure function below the analysis (so analysis.json can record
the verdict beside its numbers) and the report (which words it: attnstudy.report.verdicts).

    decide(diff, lo, hi, margin, spread=None, equivalence=None) -> Verdict
    rerun_spread(path=None) -> paper/rerun_spread.toml with `diffs`, `max`, `worst` (or None)

A comparison is one of four verdicts, and nothing else may be said of it:

    better        the interval lies above 0 and the difference exceeds the rerun spread
    worse         the interval lies below 0 and the difference exceeds the rerun spread
    equivalent    an equivalence test (TOST, `equivalence`) says so, or the whole interval lies
                  within +-margin (a 95% interval inside the margin implies both one-sided
                  tests reject at 2.5%, so it is a conservative TOST)
    inconclusive  anything else; `noise` is set when the interval excludes 0 but the difference
                  is no larger than the measured rerun spread (paper/rerun_spread.toml): a
                  difference a rerun on another machine can produce is never worded as a finding

Inputs are fractions (0.005 = half a point).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from attnstudy.config import ROOT
from attnstudy.errors import UserError

VERDICTS = ("better", "worse", "equivalent", "inconclusive")
RERUN_SPREAD = ROOT / "paper" / "rerun_spread.toml"


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
        if spread is not None and within_spread(diff, spread):
            return Verdict("inconclusive", True, f"|difference| ≤ rerun spread {spread:g}")
        return Verdict("better" if lo > 0 else "worse", False, "interval excludes 0")
    return Verdict("inconclusive", False, "interval includes 0")


# Accuracies are counts over reviews: a difference of as many reviews as the spread is "no larger"
# though its floats differ in the last bits (0.00724 vs 0.007239999999999913: 181 of 25 000).
ROUNDING = 1e-9


def within_spread(diff: float, spread: float) -> bool:
    """|diff| no larger than the rerun spread, up to floating-point rounding."""
    return abs(diff) <= spread + ROUNDING


def _equivalent(eq: dict | bool | None) -> bool:
    if eq is None or isinstance(eq, bool):
        return bool(eq)
    if "equivalent" in eq:
        return bool(eq["equivalent"])
    return eq["p"] < eq.get("alpha", 0.05)


def rerun_spread(path: Path | None = None) -> dict | None:
    """paper/rerun_spread.toml (or `path`) with `diffs` {model: rerun - published}, `max` (the
    largest |diff|, a fraction) and `worst` (its model); None without the file."""
    path = path or RERUN_SPREAD
    if not path.is_file():
        return None
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        diffs = {m: v["rerun"] - v["published"] for m, v in raw["accuracy"].items()}
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as e:
        raise UserError(f"{path.name}: needs [accuracy.<model>] tables with published and "
                        f"rerun ({e})") from e
    changed = [v.get("decisions_changed") for v in raw["accuracy"].values()]
    return {"rerun_cpu": None, "published_cpu": None, **raw, "diffs": diffs,
            "max": max(abs(d) for d in diffs.values()),
            "worst": max(diffs, key=lambda m: abs(diffs[m])),
            # per model: how many of its test decisions the rerun changed (None: not measured)
            "decisions_changed": None if None in changed else (min(changed), max(changed))}
