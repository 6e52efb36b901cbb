"""Which sampled reviews the heat maps show, and what their weights say (attention.json).

    pick_heat(att, n, median)  -> the token highlights' reviews: nearest the median length
    pick_short(att, n)         -> the MHSA maps' reviews: the shortest with per-head maps
    heat_scale(att, median)    -> octaves of w * n the heat maps saturate at
    query_independence(att)    -> how alike MHSA's query rows are (a mean-pool or not)
    key_names(octaves)         -> the colour key's labels, ×1/2**octaves ... ×2**octaves

Every heat map carries its colour key in its own files (SVG, PNG), not only in the HTML around
it: HEATMAPS names them (tests/test_figures.py checks each file for its key).
"""

from __future__ import annotations

import numpy as np

from attnstudy.report.style import heat_octaves

HEATMAPS = ("attention-mhsa", "attention-received", "additive")  # figures coloured by w * n
KEY_TITLE = "weight relative to uniform (w · n)"


def key_names(octaves: int) -> list[str]:
    """The colour key's labels, one per octave of w * n from -octaves to +octaves: "×1/8", ...,
    "×1", ..., "×8" (the scale of style.ratio_css and figkit.log2_ratio)."""
    return [f"×1/{2 ** -t}" if t < 0 else f"×{2 ** t}" for t in range(-octaves, octaves + 1)]


def pick_short(attention: dict, n: int = 1) -> list[dict]:
    """The attention figures' rule: the n shortest samples that have MHSA maps, ties by id."""
    have = [s for s in attention["samples"] if s.get("mhsa")]
    return sorted(have, key=lambda s: (len(s["tokens"]), str(s["id"])))[:n]


def heat_scale(attention: dict, median: int | None = None) -> int:
    """Octaves of w * n the heat maps saturate at (style.heat_octaves), over every weight they
    show: the additive weights of the token highlights (pick_heat) and, for the pick_short
    reviews, the additive weights, the MHSA query x key maps and the attention tokens receive
    (over heads and per head)."""
    ratios = []
    for s in pick_heat(attention, median=median) + pick_short(attention, 2):
        t = len(s["tokens"])
        ratios += [w * t for w in s.get("additive") or []]
        if s.get("mhsa"):
            maps = np.asarray(s["mhsa"], dtype=float)
            ratios += list((maps * t).ravel()) + list((maps.mean(axis=1) * t).ravel())
            ratios += [w * t for w in s.get("mhsa_received") or maps.mean(axis=(0, 1))]
    return heat_octaves(ratios)


HEAT_N = 3  # reviews in the additive token highlights (facts.N_HEAT: the same rule, tested)


def typical_len(results: dict | None) -> int | None:
    """The median review length in tokens (results.json data: over the training and validation
    reviews, as the test split chooses nothing), None if unrecorded."""
    return (((results or {}).get("data") or {}).get("token_length_percentiles") or {}).get("p50")


def pick_heat(attention: dict, n: int = HEAT_N, median: int | None = None) -> list[dict]:
    """The token highlights' rule: the sampled reviews (attention.json: drawn with its seed)
    nearest the test set's median length (`median` tokens; None: the shortest), n - 1 that the
    additive model gets right and one it gets wrong when the samples hold such; ties by id.
    Returned in length order."""
    def key(s):
        return (len(s["tokens"]) if median is None else abs(len(s["tokens"]) - median),
                str(s["id"]))

    ranked = sorted(attention["samples"], key=key)
    def is_wrong(s) -> bool:
        q = (s.get("probs") or {}).get("additive")
        return q is not None and (q >= 0.5) != bool(s["label"])

    wrong = [s for s in ranked if is_wrong(s)]
    right = [s for s in ranked if s not in wrong]
    picked = wrong[:1] + right[:n - min(1, len(wrong))]
    picked += [s for s in ranked if s not in picked][:n - len(picked)]
    return sorted(picked, key=lambda s: (len(s["tokens"]), str(s["id"])))


def query_independence(attention: dict) -> dict | None:
    """How alike MHSA's query rows are, over every sampled review with per-head maps: per head
    and review, the variance over keys of a key's mean weight (w * n) divided by the mean over
    keys of its variance across queries; `ratio` the median over heads and reviews (large: every
    query attends alike, the head is a weighted mean-pool), `diag` the median weight on the
    diagonal relative to uniform, `n` reviews."""
    ratios, diags, n = [], [], 0
    for s in attention["samples"]:
        if not s.get("mhsa"):
            continue
        maps = np.asarray(s["mhsa"], dtype=float) * len(s["tokens"])  # [head, query, key]
        n += 1
        for m in maps:
            within = m.var(axis=0).mean()
            ratios.append(m.mean(axis=0).var() / within if within > 0 else np.inf)
            diags.append(float(np.median(np.diag(m))))
    if not ratios:
        return None
    return {"ratio": float(np.median(ratios)), "ratio_min": float(np.min(ratios)),
            "diag": float(np.median(diags)), "n": n, "heads": len(ratios) // n}
