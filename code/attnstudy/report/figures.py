"""The report's figures: one function per figure, registered with its caption next to it.

    @figure("metrics", needs=("analysis",), alt="...", caption="Jinja snippet ...")
    def fig_metrics(analysis) -> (matplotlib Figure, DataFrame of exactly the data drawn)

The registry (FIGURES, `figure`, `available`, `parts`) is attnstudy.report.figkit's; importing
this module registers every figure, the attention figures of
attnstudy.report.figures_attention included. Drawing only ever reads the results files.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from attnstudy.report import figures_attention  # noqa: F401  (registers the attention figures)
from attnstudy.report.figkit import FIGURES, Spec, available, figure, parts
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

__all__ = ["FIGURES", "Spec", "available", "figure", "parts"]
# the figure modules, for the drawing memo (attnstudy.report.draw)
MODULES = ("attnstudy.report.figkit", "attnstudy.report.figures",
           "attnstudy.report.figures_attention")


@figure("loss-curves", needs=("results",),
        alt="Validation and training loss curves per model", caption="""
(a) Validation loss and (b) training loss against training step: lines are the mean over
{{ seeds | length | plural("seed") }}, shaded bands the range between seeds. A validation curve
that turns up
while the training curve keeps falling marks overfitting; the best-validation checkpoint guards
against it.""")
def fig_loss_curves(results: dict):
    """Validation loss (a) and training loss (b) vs step: mean over seeds, min-max band."""
    rows = [{"model": r["model"], "seed": r["seed"], "step": c["step"],
             "train_loss": c["train_loss"], "val_loss": c["val_loss"]}
            for r in results["runs"] for c in r["curve"]]
    raw = pd.DataFrame(rows)
    df = (raw.groupby(["model", "step"]).agg(
        val_loss_mean=("val_loss", "mean"), val_loss_min=("val_loss", "min"),
        val_loss_max=("val_loss", "max"), train_loss_mean=("train_loss", "mean"),
        train_loss_min=("train_loss", "min"), train_loss_max=("train_loss", "max"),
        seeds=("seed", "nunique")).reset_index())
    models = order(df["model"])
    df = df.assign(_o=df["model"].map(models.index)).sort_values(["_o", "step"]).drop(columns="_o")
    fig, axes = _fig(3.1, ncols=2, sharey=True)
    for ax, key, title in ((axes[0], "val_loss", "(a) Validation loss"),
                           (axes[1], "train_loss", "(b) Training loss")):
        for m in models:
            d = df[df["model"] == m]
            ls = "-" if key == "val_loss" else "--"
            ax.plot(d["step"], d[f"{key}_mean"], ls, color=color(m), lw=1.6,
                    marker=marker(m), ms=3.5, markevery=max(1, len(d) // 4))
            ax.fill_between(d["step"], d[f"{key}_min"], d[f"{key}_max"], color=color(m),
                            alpha=0.15, lw=0)
        ax.set_title(title)
        ax.set_xlabel("training step")
    axes[0].set_ylabel("cross-entropy (mean over seeds)")
    _legend(fig, models)
    return fig, df


METRICS = (("accuracy", "Accuracy"), ("f1", "F1"), ("roc_auc", "ROC-AUC"))


@figure("metrics", needs=("analysis",),
        alt="Bar charts of accuracy, F1 and ROC-AUC per model with confidence intervals",
        caption="""
Accuracy, F1 and ROC-AUC per model (mean over seeds; whiskers: 95% CI). The dashed line is the
{{ baseline_label }} baseline. The y-axis is cut to the range of the data, so look at whether the
whiskers overlap rather than at bar heights.""")
def fig_metrics(analysis: dict):
    """Accuracy, F1 and ROC-AUC per model: mean over seeds, 95% CI whiskers, baseline line."""
    summary, base = analysis["summary"], analysis.get("baseline") or {}
    models = order(summary)
    df = pd.DataFrame([{"model": m, "metric": k, **{s: summary[m][k][s] for s in
                                                      ("mean", "std", "ci_low", "ci_high", "n")}}
                       for m in models for k, _ in METRICS])
    btest = base.get("test", {})
    df["baseline"] = df["metric"].map(lambda k: btest.get(k, np.nan))
    lo = np.nanmin([df["ci_low"].min(), df["baseline"].min()])
    floor = max(0.5, np.floor((lo - 0.03) * 20) / 20)
    fig, axes = _fig(2.9, ncols=3, sharey=True)
    x = np.arange(len(models))
    for ax, (k, title) in zip(axes, METRICS, strict=True):
        d = df[df["metric"] == k].set_index("model").loc[models]
        err = np.array([d["mean"] - d["ci_low"], d["ci_high"] - d["mean"]])
        ax.bar(x, d["mean"] - floor, bottom=floor, color=[color(m) for m in models], width=0.7,
               yerr=err, error_kw={"ecolor": INK, "elinewidth": 1, "capsize": 2.5})
        if np.isfinite(d["baseline"].iloc[0]):
            ax.axhline(d["baseline"].iloc[0], color=BASELINE, ls="--", lw=1.1)
        ax.set_xticks(x, [label(m) for m in models], rotation=35, ha="right",
                      rotation_mode="anchor")
        ax.set_title(title)
        ax.grid(axis="x", visible=False)
    axes[0].set_ylim(floor, min(1.0, max(df["ci_high"].max(), df["baseline"].max()) + 0.02))
    axes[0].set_ylabel(f"test score (axis starts at {floor:.2f})")
    if btest:
        fig.legend([plt.Line2D([], [], color=BASELINE, ls="--")],
                   [baseline_label(base.get("name"))], loc="outside upper right")
    return fig, df


@figure("confusion", needs=("results",), alt="Confusion matrices per model", caption="""
Test confusion matrices summed over {{ seeds | length | plural("seed") }}; each cell shows the
count and its
share of the true class (rows). Compare the off-diagonal cells: a model that trades false positives
for false negatives has the same accuracy but a different error profile.""")
def fig_confusion(results: dict):
    """Test confusion matrix per model, summed over seeds; cells show count and row share."""
    sums: dict[str, np.ndarray] = {}
    for r in results["runs"]:
        sums[r["model"]] = sums.get(r["model"], 0) + np.asarray(r["confusion"], dtype=float)
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
        ax.set_title(label(m), color=color(m) if m != "bilstm" else "#2b8cbe", fontsize=8.5)
        ax.set_xlabel("predicted", fontsize=7.5)
    axes[0].set_ylabel("true", fontsize=7.5)
    return fig, pd.DataFrame(rows)


@figure("length", needs=("analysis", "results"),
        alt="Accuracy per review-length bucket for each model", caption="""
Test accuracy per review-length bucket (token count before truncation; bucket edges are length
quantiles, n = reviews per bucket). The dotted line marks the truncation point. Look for models
whose lines cross: an advantage that appears only for long reviews would favour attention's
direct access to distant tokens.""")
def fig_length(analysis: dict, results: dict):
    """Accuracy per review-length bucket (tokens before truncation); truncation point marked."""
    max_len = results["config"]["data"].get("max_len")
    buckets = analysis["length"]["buckets"]
    models = order(buckets[0]["accuracy"]) if buckets else []
    df = pd.DataFrame([{"bucket": i, "lo": b["lo"], "hi": b["hi"], "n": b["n"],
                        "truncated_share": b["truncated_share"], "model": m,
                        "accuracy": b["accuracy"][m]}
                       for i, b in enumerate(buckets) for m in models])
    fig, ax = _fig(3.0)
    x = np.arange(len(buckets))
    for m in models:
        ax.plot(x, df[df["model"] == m]["accuracy"], color=color(m), marker=marker(m),
                lw=1.6, ms=5)
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
    ax.set_ylabel("test accuracy (mean over seeds)")
    _legend(fig, models)
    return fig, df


def _paired_bars(ax, models, left, right, labels):
    x = np.arange(len(models))
    for off, vals, hatch in ((-0.2, left, None), (0.2, right, "////")):
        ax.bar(x + off, vals, width=0.38, color=[color(m) for m in models], hatch=hatch,
               edgecolor="white" if hatch else None, lw=0)
    ax.set_xticks(x, [label(m) for m in models], rotation=30, ha="right", rotation_mode="anchor")
    ax.grid(axis="x", visible=False)
    ax.legend([Patch(color="#9a9a9a"), Patch(facecolor="#9a9a9a", hatch="////",
                                             edgecolor="white")], labels, loc="lower center",
              bbox_to_anchor=(0.5, 1.0), ncols=2, borderaxespad=0.2)


@figure("negation", needs=("analysis",),
        alt="Negation probe accuracy and pair consistency; accuracy difference with and without "
            "a negation cue on real reviews, controlled for length and raw",
        caption="""
(a) Share of negation probes classified correctly (solid) and pair consistency (hatched): the share
of minimal pairs with {{ pair_rule }}. (b) Accuracy on real test reviews with a negation cue minus
without one, compared within the {{ neg_len.buckets | length }} review-length buckets and
bucket-weighted (filled, {{ neg_len.level | pct(0) }} bootstrap CI), and the raw difference that
ignores length (hollow). Reviews with a cue are longer (median {{ neg_len.median_with | int }}
against {{ neg_len.median_without | int }} tokens) and long reviews are harder for every model, so
the raw difference mixes negation with length. A model that “understands negation” should score
high on both in (a) and sit at 0 in (b).""")
def fig_negation(analysis: dict):
    """(a) Negation probes: accuracy and pair consistency; (b) real reviews: accuracy with -
    without a negation cue, within length buckets (with CI) and raw."""
    neg = analysis["negation"]
    by = neg["by_length"]["models"]
    models = order(neg["probes"])
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
    fig, (a, b) = _fig(3.3, ncols=2)
    _paired_bars(a, models, df["probe_accuracy"], df["pair_consistency"],
                 ["accuracy", "pair consistency"])
    a.set_title("(a) Negation probes", pad=22)
    a.set_ylim(0, 1.05)
    a.set_ylabel("share of probes / of pairs")
    y = np.arange(len(models))[::-1]
    for yi, (_, r) in zip(y, df.iterrows(), strict=True):
        c = color(r["model"])
        if pd.notna(r["length_controlled_diff"]):
            b.plot([100 * r["length_controlled_ci_low"], 100 * r["length_controlled_ci_high"]],
                   [yi + 0.1] * 2, color=c, lw=1.6)
            b.plot(100 * r["length_controlled_diff"], yi + 0.1, marker(r["model"]), color=c, ms=7)
        if pd.notna(r["raw_diff"]):
            b.plot(100 * r["raw_diff"], yi - 0.2, marker(r["model"]), mfc="white", mec=c, ms=6)
    b.axvline(0, color=BASELINE, lw=1)
    b.set_yticks(y, [label(m) for m in models])
    b.set_ylim(-0.7, len(models) - 0.3)
    b.grid(axis="y", visible=False)
    b.set_xlabel("accuracy with − without a cue (points)")
    b.set_title("(b) Real test reviews", pad=22)
    b.legend([plt.Line2D([], [], color=INK, marker="o", lw=1.6),
              plt.Line2D([], [], color=INK, marker="o", mfc="white", ls="")],
             ["within length buckets", "raw"], loc="lower center", bbox_to_anchor=(0.5, 1.0),
             ncols=2, borderaxespad=0.2)
    return fig, df


@figure("faithfulness", needs=("analysis",),
        when=lambda b: bool(b["analysis"].get("faithfulness")),
        alt="Faithfulness: prediction change when removing top-attended versus random tokens",
        caption="""
Removing the k most-attended tokens (solid) versus k random tokens (dashed): top row, mean absolute
change in P(positive); bottom row, share of predictions that flip. If attention marks the tokens
the prediction depends on, the solid line lies clearly above the dashed one. ρ is the Spearman
correlation between attention and gradient importance.""")
def fig_faithfulness(analysis: dict):
    """Prediction change when the top-k attended vs k random tokens are removed, per model."""
    faith = analysis.get("faithfulness") or {}
    models = order(faith)
    df = pd.DataFrame([{"model": m, "k": k, "top_drop": f["top_drop"][i],
                        "random_drop": f["random_drop"][i], "top_flip": f["top_flip"][i],
                        "random_flip": f["random_flip"][i], "grad_spearman": f.get("grad_spearman")}
                       for m in models for f in [faith[m]] for i, k in enumerate(f["k"])])
    fig, axes = _fig(4.2, ncols=len(models), nrows=2, sharex=True, squeeze=False)
    for j, m in enumerate(models):
        d = df[df["model"] == m]
        for i, (what, ylab) in enumerate((("drop", "mean |ΔP(positive)|"),
                                          ("flip", "share of flipped predictions"))):
            ax = axes[i, j]
            ax.plot(d["k"], d[f"top_{what}"], color=color(m), marker=marker(m), lw=1.8,
                    label="top-k attended removed")
            ax.plot(d["k"], d[f"random_{what}"], color=BASELINE, marker="o", ms=4, ls="--",
                    lw=1.3, label="k random removed")
            ax.set_ylim(bottom=0)
            if j == 0:
                ax.set_ylabel(ylab)
            if i == 0:
                rho = d["grad_spearman"].iloc[0]
                rho = "n/a" if rho is None or pd.isna(rho) else f"{rho:.2f}"
                ax.set_title(f"{label(m)}   ρ = {rho}", color=INK)
            else:
                ax.set_xlabel("k tokens removed")
                ax.set_xticks(list(d["k"]))
    fig.legend([plt.Line2D([], [], color=INK, lw=1.8, marker="^"),
                plt.Line2D([], [], color=BASELINE, lw=1.3, ls="--", marker="o", ms=4)],
               ["top-k attended tokens removed", "k random tokens removed"],
               loc="outside upper center", ncols=2)
    return fig, df
