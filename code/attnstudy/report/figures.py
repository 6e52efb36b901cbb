"""The report's figures: one function per figure, registered with its caption next to it.

    @figure("metrics", needs=("analysis",), alt="...", caption="Jinja snippet ...")
    def fig_metrics(analysis) -> (matplotlib Figure, DataFrame of exactly the data drawn)

`needs` names the results parts the function gets (results, analysis, attention: the loaded
files, see attnstudy.report.results), `when` says whether the results allow the figure at all.
The caption is a Jinja snippet rendered with the report context (templates/report.html.j2 places
a figure with `{{ x.figure("metrics") }}`); attnstudy.report.draw saves them. Drawing only ever
reads the results files.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from attnstudy.report.style import (
    BASELINE,
    INK,
    STYLE,
    WIDTH,
    baseline_label,
    color,
    label,
    marker,
    order,
)

plt.switch_backend("agg")  # files only, never a window


@dataclasses.dataclass(frozen=True)
class Spec:
    name: str
    draw: Callable  # (*parts named by `needs`) -> (Figure, DataFrame)
    needs: tuple[str, ...]
    caption: str  # Jinja, rendered with the report context
    alt: str
    when: Callable[[dict], bool] | None  # (bundle) -> can these results draw it?


FIGURES: dict[str, Spec] = {}  # name -> Spec, in definition order


def figure(name: str, *, caption: str, alt: str, needs: tuple[str, ...] = ("results",),
           when: Callable[[dict], bool] | None = None):
    """Register the decorated function as the figure `name` (drawn under the report's style)."""
    def register(fn):
        if name in FIGURES:
            raise ValueError(f"figure {name!r} registered twice")

        @functools.wraps(fn)
        def styled(*args, **kwargs):  # a figure keeps the fonts it was made with
            with plt.rc_context(STYLE):
                return fn(*args, **kwargs)

        FIGURES[name] = Spec(name, styled, tuple(needs), caption, alt, when)
        return styled
    return register


def available(bundle: dict) -> list[str]:
    """The names of the figures these results allow."""
    return [n for n, s in FIGURES.items() if s.when is None or s.when(bundle)]


def parts(name: str, bundle: dict) -> tuple:
    """The results parts figure `name` is drawn from (what a worker process needs)."""
    return tuple(bundle[p] for p in FIGURES[name].needs)


# ---------------------------------------------------------------- shared drawing helpers

def _fig(h: float, ncols: int = 1, nrows: int = 1, **kw):
    return plt.subplots(nrows, ncols, figsize=(WIDTH, h), layout="constrained", **kw)


def _legend(fig, models, **kw):
    handles = [plt.Line2D([], [], color=color(m), marker=marker(m), lw=2, ms=5)
               for m in models]
    fig.legend(handles, [label(m) for m in models], loc="outside upper center",
               ncols=min(len(models), 5), handlelength=2.2, **kw)


@figure("loss-curves", needs=("results",),
        alt="Validation and training loss curves per model", caption="""
(a) Validation loss and (b) training loss against training step: lines are the mean over
{{ seeds | length }} seeds, shaded bands the range between seeds. A validation curve that turns up
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
Test confusion matrices summed over {{ seeds | length }} seeds; each cell shows the count and its
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
        alt="Negation probe accuracy and real-review accuracy with and without negation",
        caption="""
(a) Share of negation probes classified correctly (solid) and share of minimal pairs whose
prediction flips with the negation (hatched). (b) Accuracy on real test reviews without (solid) and
with (hatched) a negation cue. A model that “understands negation” should score high on both in
(a) and show no drop in (b).""")
def fig_negation(analysis: dict):
    """(a) Negation probes: accuracy and minimal-pair consistency; (b) real reviews with and
    without a negation cue."""
    neg = analysis["negation"]
    models = order(neg["probes"])
    df = pd.DataFrame([{"model": m, "probe_accuracy": neg["probes"][m]["accuracy"],
                        "pair_consistency": neg["probes"][m]["pair_consistency"],
                        "real_with_negation": neg["real"][m]["with"],
                        "real_without_negation": neg["real"][m]["without"],
                        "n_with": neg["real"][m]["n_with"],
                        "n_without": neg["real"][m]["n_without"]}
                       for m in models])
    fig, (a, b) = _fig(3.3, ncols=2)
    _paired_bars(a, models, df["probe_accuracy"], df["pair_consistency"],
                 ["accuracy", "pair consistency"])
    a.set_title("(a) Negation probes", pad=22)
    a.set_ylim(0, 1.05)
    a.set_ylabel("share of probes")
    _paired_bars(b, models, df["real_without_negation"], df["real_with_negation"],
                 ["no negation cue", "with negation cue"])
    lo = min(df["real_with_negation"].min(), df["real_without_negation"].min())
    b.set_ylim(max(0.0, np.floor((lo - 0.05) * 10) / 10), 1.0)
    b.set_title("(b) Real test reviews", pad=22)
    b.set_ylabel(f"test accuracy (axis starts at {b.get_ylim()[0]:.1f})")
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


def pick_short(attention: dict, n: int = 1) -> list[dict]:
    """The attention figures' rule: the n shortest samples that have MHSA maps, ties by id."""
    have = [s for s in attention["samples"] if s.get("mhsa")]
    return sorted(have, key=lambda s: (len(s["tokens"]), str(s["id"])))[:n]


@figure("attention-mhsa", needs=("attention",), when=lambda b: bool(pick_short(b["attention"])),
        alt="Per-head self-attention heatmaps for one short review", caption="""
{% set s = mhsa_sample %}Self-attention weights of each MHSA head (seed {{ att.seed }}) for the
shortest sampled review that has maps (review {{ s.id }}, truth
{{ "positive" if s.label else "negative" }}): row = query token, column = key token. Heads that
attend to one column for every row collect evidence from a single token; a diagonal means a head
mostly keeps each token's own state.""")
def fig_attention_mhsa(attention: dict):
    """Per-head MHSA query x key weights for the shortest sample review."""
    (s,) = pick_short(attention, 1)
    maps, tokens = np.asarray(s["mhsa"], dtype=float), s["tokens"]
    heads, t = maps.shape[0], len(tokens)
    ncols = 2 if heads > 1 else 1
    nrows = int(np.ceil(heads / ncols))
    fs = float(np.clip(170 / t, 4.5, 8))  # labels never overlap: ~200 pt of axis per map
    fig, axes = _fig(nrows * (WIDTH / ncols * 0.76 + 0.15) + 0.6, ncols=ncols, nrows=nrows,
                     squeeze=False)
    vmax = maps.max()
    for h, ax in enumerate(axes.flat):
        if h >= heads:
            ax.axis("off")
            continue
        im = ax.imshow(maps[h], cmap="viridis", vmin=0, vmax=vmax, interpolation="nearest")
        ax.set_xticks(range(t), tokens, rotation=90, fontsize=fs)
        ax.set_yticks(range(t), tokens, fontsize=fs)
        ax.grid(False)
        ax.set_title(f"head {h + 1}")
        ax.tick_params(length=0)
    fig.colorbar(im, ax=axes, shrink=0.6, label="attention weight")
    df = pd.DataFrame([{"id": s["id"], "head": h + 1, "query": q, "query_token": tokens[q],
                        "key": k, "key_token": tokens[k], "weight": maps[h, q, k]}
                       for h in range(heads) for q in range(t) for k in range(t)])
    return fig, df


@figure("attention-received", needs=("attention",),
        when=lambda b: bool(pick_short(b["attention"])),
        alt="Attention received per token for short reviews", caption="""
Attention per token for the {{ "shortest sampled review" if received_n == 1 else received_n ~
" shortest sampled reviews" }} with self-attention maps: the additive model's weight and the mean
attention each token receives in MHSA (over heads and queries). The dotted line is uniform
attention; bars far above it are the tokens the models concentrate on.""")
def fig_attention_received(attention: dict):
    """Attention per token for the two shortest samples: additive weight and MHSA received."""
    samples = pick_short(attention, 2)
    fig, axes = _fig(2.5 * len(samples) + 0.3, nrows=len(samples), squeeze=False)
    rows = []
    for ax, s in zip(axes[:, 0], samples, strict=True):
        t = len(s["tokens"])
        x = np.arange(t)
        for off, key, m in ((-0.2, "additive", "additive"), (0.2, "mhsa_received", "mhsa")):
            ax.bar(x + off, s[key], width=0.4, color=color(m))
        ax.axhline(1 / t, color=BASELINE, ls=":", lw=1)
        ax.set_xticks(x, s["tokens"], rotation=90, fontsize=float(np.clip(300 / t, 6, 8)))
        ax.set_xlim(-0.6, t - 0.4)
        ax.grid(axis="x", visible=False)
        ax.set_ylabel("attention")
        ax.set_title(f"review {s['id']} (label {'positive' if s['label'] else 'negative'})")
        rows += [{"id": s["id"], "position": i, "token": tok, "additive": s["additive"][i],
                  "mhsa_received": s["mhsa_received"][i]} for i, tok in enumerate(s["tokens"])]
    handles = [Patch(color=color("additive")), Patch(color=color("mhsa")),
               plt.Line2D([], [], color=BASELINE, ls=":")]
    fig.legend(handles, ["additive attention weight", "MHSA attention received",
                         "uniform (1 / length)"], loc="outside upper center", ncols=3)
    return fig, pd.DataFrame(rows)
