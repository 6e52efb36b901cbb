"""The report's figures: one function per figure, registered with its caption next to it.

    @figure("metrics", needs=("analysis",), title="...", alt="Jinja ...", caption="Jinja ...")
    def fig_metrics(analysis) -> (matplotlib Figure, DataFrame of exactly the data drawn)

The registry (FIGURES, `figure`, `available`, `parts`) is attnstudy.report.figkit's; importing
this module registers every figure (those of figures_attention, figures_tokens,
figures_training and figures_seed too). Drawing only ever reads the results files.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from attnstudy.report import (  # noqa: F401  (importing registers their figures)
    figures_attention,
    figures_seed,
    figures_tokens,
    figures_training,
)
from attnstudy.report.figkit import FIGURES, Spec, available, figure, figure_facts, parts, tip
from attnstudy.report.figkit import legend as fit_legend
from attnstudy.report.figkit import model_legend as _legend
from attnstudy.report.figkit import subplots as _fig
from attnstudy.report.style import (
    BASELINE,
    INK,
    baseline_label,
    color,
    label,
    marker,
    order,
)
from attnstudy.stats.intervals import wilson  # the probe set's sampling uncertainty

__all__ = ["FIGURES", "Spec", "available", "figure", "figure_facts", "parts"]
# the figure modules, for the drawing memo (attnstudy.report.draw)
MODULES = ("attnstudy.report.figkit", "attnstudy.report.figures",
           "attnstudy.report.figures_attention", "attnstudy.report.figures_tokens",
           "attnstudy.report.figures_training", "attnstudy.report.figures_seed")
METRICS = (("accuracy", "Accuracy"), ("f1", "F1"), ("roc_auc", "ROC-AUC"))


@figure("metrics", needs=("analysis",), title="Test accuracy, F1 and ROC-AUC per model",
        alt="""{{ label(best) }} has the highest mean test accuracy,
{{ summ[best].accuracy.mean | pct(1) }}{% if leaders | length > 1 %} (not shown to be more
accurate than {{ leaders | length - 1 }} of the others){% endif %};
{{ label(worst) }} has the lowest, {{ summ[worst].accuracy.mean | pct(1) }}{% if
(baseline.get("test") or {}).get("accuracy") is not none %}, against
{{ baseline.test.accuracy | pct(1) }} for the {{ baseline_label }} baseline{% endif %}.""",
        caption="""
Accuracy, F1 and ROC-AUC per model: {% if seeds | length > 1 %}dots are the mean over
{{ seeds | length | plural("seed") }}, lines the 95% CI over seeds{% else %}dots are the single
seed trained, so there is no interval over seeds{% endif %}{% if
(baseline.get("test") or {}).get("accuracy") is not none %};
the dashed line is the {{ baseline_label }} baseline (one fit, no interval){% endif %}. Dots, not
bars: the axis covers only the range of the data. Mean accuracy runs from
{{ summ[worst].accuracy.mean | pct(1) }} ({{ label(worst) }}) to {{ summ[best].accuracy.mean |
pct(1) }} ({{ label(best) }}){% if (baseline.get("test") or {}).get("accuracy") is not none %};
the baseline reaches {{ baseline.test.accuracy | pct(1) }}{% if above_baseline %}, exceeded by {{
above_baseline | length }} of them{% endif %}{% endif %}; overlapping intervals are not a verdict
({{ ref(basis.table) }} gives them).""")
def fig_metrics(analysis: dict):
    """Accuracy, F1 and ROC-AUC per model: dot at the mean over seeds, line the 95% CI
    (analysis summary), the baseline as a dashed reference line."""
    summary, base = analysis["summary"], analysis.get("baseline") or {}
    models = order(summary)
    df = pd.DataFrame([{"model": m, "metric": k, **{s: summary[m][k][s] for s in
                                                      ("mean", "std", "ci_low", "ci_high", "n")}}
                       for m in models for k, _ in METRICS])
    btest = base.get("test") or {}
    df["baseline"] = df["metric"].map(lambda k: btest.get(k, np.nan))
    fig, axes = _fig(0.3 * len(models) + 1.2, ncols=3, sharey=True)
    y = np.arange(len(models))[::-1]
    for ax, (k, title) in zip(axes, METRICS, strict=True):
        d = df[df["metric"] == k].set_index("model").loc[models]
        for yi, m in zip(y, models, strict=True):
            text = (f"{label(m)}, {title}: {d.at[m, 'mean']:.4f} (95% CI {d.at[m, 'ci_low']:.4f}"
                    f"–{d.at[m, 'ci_high']:.4f}; mean of {d.at[m, 'n']:.0f} seeds)")
            tip(ax.plot([d.at[m, "ci_low"], d.at[m, "ci_high"]], [yi, yi], color=color(m), lw=2,
                        solid_capstyle="butt")[0], text)
            dot = ax.plot(d.at[m, "mean"], yi, marker(m), color=color(m), mec=INK, mew=0.5, ms=6)
            tip(dot[0], text)
        if np.isfinite(d["baseline"].iloc[0]):
            tip(ax.axvline(d["baseline"].iloc[0], color=BASELINE, ls="--", lw=1.1),
                f"{baseline_label(base.get('name'))}, {title}: {d['baseline'].iloc[0]:.4f}")
        lo = np.nanmin([d["ci_low"].min(), d["baseline"].iloc[0]])
        hi = np.nanmax([d["ci_high"].max(), d["baseline"].iloc[0]])
        pad = max(0.005, 0.08 * (hi - lo))
        ax.set_xlim(lo - pad, min(1.0, hi + pad) if hi < 1 else hi + pad)
        ax.set_title(title)
        ax.set_xlabel("test score")
        ax.grid(axis="y", visible=False)
    axes[0].set_yticks(y, [label(m) for m in models])
    axes[0].set_ylim(-0.6, len(models) - 0.4)
    handles = [plt.Line2D([], [], color=INK, marker="o", ms=5, lw=2)]
    names = ["mean over seeds, 95% CI"]
    if btest:
        handles.append(plt.Line2D([], [], color=BASELINE, ls="--"))
        names.append(baseline_label(base.get("name")))
    fit_legend(fig, handles, names, loc="outside upper center", ncols=2)
    return fig, df


def _confusions(results: dict) -> dict[str, np.ndarray]:
    """model -> [[tn, fp], [fn, tp]] summed over seeds."""
    sums: dict[str, np.ndarray] = {}
    for r in results["runs"]:
        sums[r["model"]] = sums.get(r["model"], 0) + np.asarray(r["confusion"], dtype=float)
    return sums


def confusion_facts(results: dict) -> dict:
    """Per model, the share of negative reviews called positive (fpr) and of positive reviews
    called negative (fnr), over all seeds."""
    sums = _confusions(results)
    ms = {m: {"fpr": c[0, 1] / max(c[0].sum(), 1), "fnr": c[1, 0] / max(c[1].sum(), 1)}
          for m in order(sums) for c in [sums[m]]}
    return {"models": ms, **{k: (min(v[k] for v in ms.values()), max(v[k] for v in ms.values()))
                             for k in ("fpr", "fnr")}}


@figure("confusion", needs=("results",), facts=confusion_facts,
        title="Test confusion matrices per model",
        alt="""Share of negative reviews called positive / of positive reviews called negative:
{% for m, c in f.models.items() %}{{ label(m) }} {{ c.fpr | pct(0) }} / {{ c.fnr | pct(0) }}{{
", " if not loop.last else "." }}{% endfor %}""",
        caption="""
Test confusion matrices summed over {{ seeds | length | plural("seed") }}; each cell shows the
count and its
share of the true class (rows). Negative reviews called positive: {{ f.fpr[0] | pct(1) }} to
{{ f.fpr[1] | pct(1) }}; positive called negative: {{ f.fnr[0] | pct(1) }} to {{ f.fnr[1] | pct(1)
}}, so models of similar accuracy can trade one error for the other.""")
def fig_confusion(results: dict):
    """Test confusion matrix per model, summed over seeds; cells show count and row share."""
    sums = _confusions(results)
    models = order(sums)
    fig, axes = _fig(2.2, ncols=len(models))
    axes = np.atleast_1d(axes)
    rows = []
    for ax, m in zip(axes, models, strict=True):
        c = sums[m]
        share = c / np.maximum(c.sum(axis=1, keepdims=True), 1)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for i in range(2):
            for j in range(2):
                rows.append({"model": m, "true": ("negative", "positive")[i],
                             "predicted": ("negative", "positive")[j], "count": int(c[i, j]),
                             "row_share": share[i, j]})
                ax.text(j, i, f"{int(c[i, j])}\n{share[i, j]:.0%}", ha="center", va="center",
                        fontsize=7.5, color="white" if share[i, j] > 0.55 else INK)
        ax.set_xticks([0, 1], ["neg", "pos"])
        ax.set_yticks([0, 1], ["neg", "pos"] if m == models[0] else [])
        ax.grid(False)
        name = label(m).replace("-", "-\n", 1).replace(" ", "\n", 1)  # six panels: ~1 inch each
        ax.set_title(name, color=color(m) if m != "bilstm" else "#2b8cbe", fontsize=8)
        ax.set_xlabel("predicted", fontsize=7.5)
    axes[0].set_ylabel("true", fontsize=7.5)
    return fig, pd.DataFrame(rows)


@figure("length", needs=("analysis", "results"), title="Test accuracy by review length",
        alt="""Averaged over models, test accuracy {{ "falls" if len_last < len_first else
"rises" }} from {{ len_first | pct(1) }} on the shortest reviews ({{ buckets[0].lo }}–{{
buckets[0].hi }} tokens) to {{ len_last | pct(1) }} on the longest ({{ buckets[-1].lo }}–{{
buckets[-1].hi }}).""", caption="""
Test accuracy per review-length bucket (token count before truncation; bucket edges are length
quantiles, n = reviews per bucket), mean over seeds, with a binomial 95% interval over the
bucket's reviews (normal approximation; not the seed spread); the y axis does not start at 0 and
the dotted line marks the truncation point. Averaged over models, accuracy {{ "falls" if
len_last < len_first else "rises" }} from {{ len_first | pct(1) }} (shortest) to {{ len_last |
pct(1) }} (longest).""")
def fig_length(analysis: dict, results: dict):
    """Accuracy per review-length bucket (tokens before truncation); truncation point marked."""
    max_len = results["config"]["data"].get("max_len")
    buckets = analysis["length"]["buckets"]
    models = order(buckets[0]["accuracy"]) if buckets else []
    df = pd.DataFrame([{"bucket": i, "lo": b["lo"], "hi": b["hi"], "n": b["n"],
                        "truncated_share": b["truncated_share"], "model": m,
                        "accuracy": b["accuracy"][m]}
                       for i, b in enumerate(buckets) for m in models])
    df = df.assign(ci95_half=lambda d: 1.96 * np.sqrt(d.accuracy * (1 - d.accuracy) / d.n))
    fig, ax = _fig(3.0)
    x = np.arange(len(buckets))
    for m in models:
        acc = df[df["model"] == m]["accuracy"].to_numpy()
        ax.plot(x, acc, color=color(m), lw=1.6)
        ax.errorbar(x + 0.04 * (models.index(m) - len(models) / 2), acc, fmt="none",
                    yerr=df[df["model"] == m]["ci95_half"].to_numpy(), ecolor=color(m),
                    elinewidth=0.9, capsize=1.5, alpha=0.8)
        for i, b in enumerate(buckets):  # a marker per point: each has its own hover text
            tip(ax.plot(i, acc[i], marker(m), color=color(m), ms=5)[0],
                f"{label(m)}, {b['lo']}–{b['hi']} tokens: accuracy {acc[i]:.2%} "
                f"(mean over seeds; n = {b['n']} reviews)")
    ticks = [f"{b['lo']}–{b['hi']}\nn={b['n']}" + (f"\n{b['truncated_share']:.0%} truncated"
                                                   if b["truncated_share"] > 0 else "")
             for b in buckets]
    ax.set_xticks(x, ticks)
    if max_len is not None:
        pos = next((i - 0.5 + (max_len - b["lo"]) / max(b["hi"] - b["lo"], 1)
                    for i, b in enumerate(buckets) if b["lo"] <= max_len < b["hi"]), None)
        if pos is not None:
            ax.axvline(pos, color=BASELINE, ls=":", lw=1.2)
            ax.annotate(f"truncation at {max_len} tokens", (pos, 1),
                        xycoords=("data", "axes fraction"), xytext=(4, -4),
                        textcoords="offset points", va="top", fontsize=8, color=BASELINE)
    ax.set_xlim(-0.5, len(buckets) - 0.5)
    ax.set_xlabel("review length in tokens (bucket)")
    ax.set_ylabel("test accuracy (mean over seeds;\naxis does not start at 0)")
    _legend(fig, models)
    return fig, df


def _paired_bars(ax, models, left, right, labels, n_left: int, n_right: int):
    """Solid and hatched bars per model with Wilson 95% whiskers over n_left / n_right items."""
    x = np.arange(len(models))
    for off, vals, hatch, n, what in ((-0.2, left, None, n_left, labels[0]),
                                      (0.2, right, "////", n_right, labels[1])):
        lo, hi = wilson(vals, n)
        bars = ax.bar(x + off, vals, width=0.38, color=[color(m) for m in models], hatch=hatch,
                      edgecolor="white" if hatch else None, lw=0,
                      yerr=[np.asarray(vals) - lo, hi - np.asarray(vals)],
                      error_kw={"ecolor": INK, "elinewidth": 0.9, "capsize": 2})
        for bar, m, v, a, b in zip(bars, models, vals, lo, hi, strict=True):
            tip(bar, f"{label(m)}, {what}: {v:.1%} (95% Wilson interval {a:.1%}–{b:.1%}, "
                     f"n = {n})")
    ax.set_xticks(x, [label(m) for m in models], rotation=30, ha="right", rotation_mode="anchor")
    ax.grid(axis="x", visible=False)
    fit_legend(ax, [Patch(color="#9a9a9a"), Patch(facecolor="#9a9a9a", hatch="////",
                                                  edgecolor="white")], labels,
               loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, borderaxespad=0.2)


def probe_counts(analysis: dict) -> tuple[int, int]:
    """(probe sentences, minimal pairs) behind analysis.json's probe scores (two per pair)."""
    first = next(iter(analysis["negation"]["probes"].values()), {})
    pairs = sum(c.get("n_pairs", 0) for c in (first.get("by_category") or {}).values())
    return 2 * pairs, pairs


def negation_facts(analysis: dict) -> dict:
    """Probe counts, the range of probe accuracy and of the length-controlled difference."""
    neg = analysis["negation"]
    acc = {m: p["accuracy"] for m, p in neg["probes"].items()}
    diff = {m: d["diff"] for m, d in neg["by_length"]["models"].items() if d["diff"] is not None}
    n, pairs = probe_counts(analysis)
    return {"n_probes": n, "n_pairs": pairs, "acc_lo": min(acc, key=acc.get),
            "acc_hi": max(acc, key=acc.get), "acc": acc, "diff": diff,
            "diff_lo": min(diff.values(), default=None), "diff_hi": max(diff.values(),
                                                                        default=None)}


@figure("negation", needs=("analysis",), facts=negation_facts,
        title="Negation: probe sentences and real test reviews",
        alt="""Negation probe accuracy ranges from {{ f.acc[f.acc_lo] | pct(0) }}
({{ label(f.acc_lo) }}) to {{ f.acc[f.acc_hi] | pct(0) }} ({{ label(f.acc_hi) }}), against 50%
for guessing.{% if f.diff_lo is not none %} On real reviews, controlled for length, a negation cue
changes accuracy by {{ f.diff_lo | pts }} to {{ f.diff_hi | pts }} points across
models.{% endif %}""",
        caption="""
(a) Share of negation probes classified correctly (solid; {{ f.n_probes }} sentences) and pair
consistency (hatched): the share of the {{ f.n_pairs }} minimal pairs with {{ pair_rule }};
whiskers are 95% Wilson intervals over the probe sentences (pairs), the uncertainty of a probe
set this size. The dashed line is chance accuracy (50%), the dotted one chance pair consistency
(25%, two independent coin flips). (b) Accuracy on real test reviews with a negation cue minus
without one, compared within the {{ neg_len.buckets | length }} review-length buckets and
bucket-weighted (filled, {{ neg_len.level | pct(0) }} bootstrap CI), and the raw difference that
ignores length (hollow). Reviews with a cue are longer (median {{ neg_len.median_with | int }}
against {{ neg_len.median_without | int }} tokens) and long reviews are harder for every model, so
the raw difference mixes negation with length. A model that “understands negation” should score
high on both in (a) and sit at 0 in (b).""")
def fig_negation(analysis: dict):
    """(a) Negation probes: accuracy and pair consistency with Wilson 95% intervals and chance
    lines; (b) real reviews: accuracy with - without a negation cue, within length buckets
    (with CI) and raw."""
    neg = analysis["negation"]
    by = neg["by_length"]["models"]
    models = order(neg["probes"])
    n_probes, n_pairs = probe_counts(analysis)
    df = pd.DataFrame([{"model": m, "probe_accuracy": neg["probes"][m]["accuracy"],
                        "pair_consistency": neg["probes"][m]["pair_consistency"],
                        "real_with_negation": neg["real"][m]["with"],
                        "real_without_negation": neg["real"][m]["without"],
                        "n_with": neg["real"][m]["n_with"],
                        "n_without": neg["real"][m]["n_without"],
                        **{f"length_controlled_{k}": by[m][k]
                           for k in ("diff", "ci_low", "ci_high")},
                        "raw_diff": by[m]["raw_diff"]}
                       for m in models])
    df["n_probes"], df["n_pairs"] = n_probes, n_pairs
    df["probe_accuracy_ci_low"], df["probe_accuracy_ci_high"] = wilson(df["probe_accuracy"],
                                                                       n_probes)
    df["pair_consistency_ci_low"], df["pair_consistency_ci_high"] = wilson(
        df["pair_consistency"], n_pairs)
    fig, (a, b) = _fig(3.3, ncols=2)
    _paired_bars(a, models, df["probe_accuracy"], df["pair_consistency"],
                 ["accuracy", "pair consistency"], n_probes, n_pairs)
    a.axhline(0.5, color=BASELINE, ls="--", lw=1)
    a.axhline(0.25, color=BASELINE, ls=":", lw=1)
    a.annotate("chance", (1, 0.5), xycoords=("axes fraction", "data"), xytext=(2, 0),
               textcoords="offset points", va="center", fontsize=7, color=BASELINE)
    a.set_title("(a) Negation probes", pad=22)
    a.set_ylim(0, 1.05)
    a.set_ylabel("share of probes / of pairs")
    y = np.arange(len(models))[::-1]
    for yi, (_, r) in zip(y, df.iterrows(), strict=True):
        c = color(r["model"])
        if pd.notna(r["length_controlled_diff"]):
            text = (f"{label(r['model'])}, with − without a cue within length buckets: "
                    f"{100 * r['length_controlled_diff']:+.2f} points (95% CI "
                    f"{100 * r['length_controlled_ci_low']:+.2f} to "
                    f"{100 * r['length_controlled_ci_high']:+.2f})").replace("-", "−")
            tip(b.plot([100 * r["length_controlled_ci_low"], 100 * r["length_controlled_ci_high"]],
                       [yi + 0.1] * 2, color=c, lw=1.6)[0], text)
            tip(b.plot(100 * r["length_controlled_diff"], yi + 0.1, marker(r["model"]), color=c,
                       ms=7)[0], text)
        if pd.notna(r["raw_diff"]):
            tip(b.plot(100 * r["raw_diff"], yi - 0.2, marker(r["model"]), mfc="white", mec=c,
                       ms=6)[0], f"{label(r['model'])}, with − without a cue, raw: "
                f"{100 * r['raw_diff']:+.2f} points".replace("-", "−"))
    b.axvline(0, color=BASELINE, lw=1)
    b.set_yticks(y, [label(m) for m in models])
    b.set_ylim(-0.7, len(models) - 0.3)
    b.grid(axis="y", visible=False)
    b.set_xlabel("accuracy with − without a cue (points)")
    b.set_title("(b) Real test reviews", pad=22)
    fit_legend(b, [plt.Line2D([], [], color=INK, marker="o", lw=1.6),
                   plt.Line2D([], [], color=INK, marker="o", mfc="white", ls="")],
               ["within length buckets", "raw"], loc="lower center", bbox_to_anchor=(0.5, 1.0),
               ncols=2, borderaxespad=0.2)
    return fig, df


@figure("faithfulness", needs=("analysis", "results"),
        when=lambda b: bool(b["analysis"].get("faithfulness")),
        title="Removing the most-attended tokens versus random tokens",
        alt="""Removing the most-attended tokens changes P(positive) by {% for m, f in
faith_facts.items() %}{{ f.top | n(3) }} for {{ label(m) }} (top {{ f.k_max }}; {{ f.k_max }}
random tokens: {{ f.rand | n(3) }}){{ ", " if loop.revindex > 2 else (" and " if loop.revindex ==
2 else ".") }}{% endfor %}""",
        caption="""
Removing the k most-attended tokens (solid) versus k random tokens (dashed): top row, mean absolute
change in P(positive); bottom row, share of predictions that flip. {% set ns = faith.values() |
map(attribute="n_seeds") | unique | list %}{% if ns == [1] %}Lines are the single seed trained (no
band between seeds).{% else %}Lines are the mean over {{ ns | join("–") }} seeds, shaded bands the
range between seeds.{% endif %} {% for m, f in faith_facts.items() %}{{ "At" if loop.first else
"at" }} k = {{ f.k_max }}, removing {{ label(m) }}'s most-attended tokens changes P(positive) by
{{ f.top | n(3) }} against {{ f.rand | n(3) }} for random ones{{ "; " if not loop.last else "."
}}{% endfor %} ρ is the Spearman
correlation between attention and gradient importance.""")
def fig_faithfulness(analysis: dict, results: dict):
    """Prediction change when the top-k attended vs k random tokens are removed, per model:
    mean over seeds (analysis) and the min-max band over the seeds' own records (results)."""
    faith = analysis.get("faithfulness") or {}
    models = order(faith)
    keys = ("top_drop", "random_drop", "top_flip", "random_flip")
    per_seed = {m: np.array([[r["faithfulness"][k] for k in keys] for r in results["runs"]
                             if r["model"] == m and r.get("faithfulness")])  # [seed, key, k]
                for m in models}
    df = pd.DataFrame([{"model": m, "k": k, **{key: f[key][i] for key in keys},
                        **{f"{key}_{fn.__name__}": fn(per_seed[m][:, j, i]) if len(per_seed[m])
                           else np.nan for j, key in enumerate(keys) for fn in (np.min, np.max)},
                        "seeds": len(per_seed[m]), "grad_spearman": f.get("grad_spearman")}
                       for m in models for f in [faith[m]] for i, k in enumerate(f["k"])])
    fig, axes = _fig(4.2, ncols=len(models), nrows=2, sharex=True, squeeze=False)
    for j, m in enumerate(models):
        d = df[df["model"] == m]
        for i, (what, ylab) in enumerate((("drop", "mean |ΔP(positive)|"),
                                          ("flip", "share of flipped predictions"))):
            ax = axes[i, j]
            for who, c, style in (("top", color(m), {"marker": marker(m), "lw": 1.8}),
                                  ("random", BASELINE, {"marker": "o", "ms": 4, "ls": "--",
                                                        "lw": 1.3})):
                key = f"{who}_{what}"
                ax.plot(d["k"], d[key], color=c, **style)
                ax.fill_between(d["k"], d[f"{key}_min"], d[f"{key}_max"], color=c, alpha=0.15,
                                lw=0)
            ax.set_ylim(bottom=0)
            if j == 0:
                ax.set_ylabel(ylab)
            if i == 0:
                rho = d["grad_spearman"].iloc[0]
                rho = "n/a" if rho is None or pd.isna(rho) else f"{rho:.2f}".replace("-", "−")
                ax.set_title(f"{label(m)}   ρ = {rho}", color=INK)
            else:
                ax.set_xlabel("k tokens removed")
                ax.set_xticks(list(d["k"]))
    fit_legend(fig, [plt.Line2D([], [], color=INK, lw=1.8, marker="^"),
                     plt.Line2D([], [], color=BASELINE, lw=1.3, ls="--", marker="o", ms=4),
                     Patch(color=INK, alpha=0.15)],
               ["top-k attended tokens removed", "k random tokens removed",
                "range between seeds"], loc="outside upper center", ncols=3)
    return fig, df
