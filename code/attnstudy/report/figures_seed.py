"""The v3 figures (issue #27): conicity per model, from analysis.json's `seed_level` section.
Registered on import (attnstudy.report.figures imports this module)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from attnstudy.report.figkit import figure, tip
from attnstudy.report.figkit import subplots as _fig
from attnstudy.report.style import BASELINE, INK, color, label, marker, order

SETS = (("states", "what the model pools or attends over"), ("embeddings", "token embeddings"))


def _has_conicity(b: dict) -> bool:
    return bool((b["analysis"].get("seed_level") or {}).get("conicity"))


def conicity_facts(analysis: dict) -> dict:
    """Per model the mean states and embeddings conicity over seeds; the models with the
    highest and lowest states conicity; the seed counts."""
    con = analysis["seed_level"]["conicity"]
    ms = order(con)
    st = {m: con[m]["states"]["mean"] for m in ms}
    return {"models": ms, "states": st,
            "embeddings": {m: con[m]["embeddings"]["mean"] for m in ms},
            "hi": max(ms, key=st.get), "lo": min(ms, key=st.get),
            "seeds": sorted({con[m]["n_seeds"] for m in ms})}


@figure("conicity", needs=("analysis",), when=_has_conicity, facts=conicity_facts,
        title="Conicity of the vectors each model pools or attends over",
        alt="""Conicity (mean cosine of a review's vectors to their mean) of the vectors the
model aggregates is highest for {{ label(f.hi) }} ({{ f.states[f.hi] | n(3) }}) and lowest for
{{ label(f.lo) }} ({{ f.states[f.lo] | n(3) }}); the token embeddings' conicity is shown beside
each.""",
        caption="""
Conicity {{ cite("mohankumar2020") }}: per test review, the mean cosine similarity of each
position's vector to the review's mean vector (1: all vectors point the same way, so attention
over them can only mix near-copies), averaged over the test reviews per run. Filled markers: the
vectors each model pools or attends over (BiLSTM states; the embeddings themselves for the
embedding models; the last block for the Transformer); hollow grey markers: the same model's
token embeddings, the reference. Markers are the mean over {{ f.seeds | join("–") }}
{{ "seed" if f.seeds == [1] else "seeds" }}, lines the Student-t 95% interval over seeds{% if
f.seeds == [1] %} (none with one seed){% endif %}, small dots each seed. {{ label(f.hi) }} has
the highest conicity ({{ f.states[f.hi] | n(3) }}), {{ label(f.lo) }} the lowest
({{ f.states[f.lo] | n(3) }}). The x axis covers the range of the data, not 0 to 1.""")
def fig_conicity(analysis: dict):
    """Per model: states and embeddings conicity, mean over seeds with a 95% t-interval and
    the seeds as dots (analysis seed_level.conicity)."""
    con = analysis["seed_level"]["conicity"]
    models = order(con)
    rows = []
    for m in models:
        for k, what in SETS:
            s = con[m][k] or {}
            for i, v in enumerate(con[m]["per_seed"][k]):
                rows.append({"model": m, "vectors": k, "describes": what, "seed_index": i,
                             "conicity": v, "mean": s.get("mean"), "std": s.get("std"),
                             "ci_low": s.get("ci_low"), "ci_high": s.get("ci_high"),
                             "n_seeds": con[m]["n_seeds"]})
    df = pd.DataFrame(rows)
    fig, ax = _fig(0.32 * len(models) + 1.3)
    y = np.arange(len(models))[::-1]
    for yi, m in zip(y, models, strict=True):
        for k, off, style in (("states", 0.12, {"color": color(m), "mec": INK, "mew": 0.5}),
                              ("embeddings", -0.12, {"color": "white", "mec": BASELINE,
                                                     "mew": 1.0})):
            s = con[m][k]
            if not s or s.get("mean") is None:
                continue
            text = (f"{label(m)}, {k}: conicity {s['mean']:.4f} (95% CI {s['ci_low']:.4f}–"
                    f"{s['ci_high']:.4f}; {con[m]['n_seeds']} seeds)")
            tip(ax.plot([s["ci_low"], s["ci_high"]], [yi + off] * 2,
                        color=color(m) if k == "states" else BASELINE, lw=1.8)[0], text)
            tip(ax.plot(s["mean"], yi + off, marker(m) if k == "states" else "o", ms=6,
                        ls="", **style)[0], text)
            seeds = [v for v in con[m]["per_seed"][k] if v is not None]
            ax.plot(seeds, [yi + off] * len(seeds), "|", color=INK, ms=5, alpha=0.6)
    ax.set_yticks(y, [label(m) for m in models])
    ax.set_ylim(-0.6, len(models) - 0.4)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("conicity: mean cosine to the review's mean vector (axis covers the data)")
    fig.legend([plt.Line2D([], [], color=INK, marker="o", lw=1.8),
                plt.Line2D([], [], color=BASELINE, marker="o", mfc="white", lw=1.8),
                plt.Line2D([], [], color=INK, marker="|", ls="")],
               ["pooled / attended vectors, mean and 95% CI", "token embeddings (reference)",
                "one seed"], loc="outside upper center", ncols=3)
    return fig, df
