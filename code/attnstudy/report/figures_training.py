"""The training figures: loss and validation accuracy against step with each run's selected
checkpoint, and what accuracy costs in training time and tokens (time to accuracy). Registered
like every figure (attnstudy.report.figkit); drawn from results.json's runs[].curve only.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from attnstudy.report.figkit import (
    by_seed,
    figure,
    in_order,
    mean_band,
    model_legend,
    subplots,
    tip,
)
from attnstudy.report.style import INK, color, label, order
from attnstudy.report.wording import SELECT_SHORT


def selection(results: dict) -> str:
    """How the evaluated checkpoints were chosen, in words ("highest validation accuracy")."""
    sel = sorted({r.get("select") or "val_loss" for r in results["runs"]})
    words = [SELECT_SHORT.get(s, s.replace("_", " ")) for s in sel]
    return words[0] if len(words) == 1 else " or ".join(words) + ", depending on the run"


def _points(results: dict) -> pd.DataFrame:
    """One row per run and validation point; `selected` marks the run's best_step."""
    return pd.DataFrame([{"model": r["model"], "seed": r["seed"], "step": c["step"],
                          "train_loss": c["train_loss"], "val_loss": c["val_loss"],
                          "val_accuracy": c["val_accuracy"],
                          "train_seconds": c.get("train_seconds"),
                          "train_tokens": c.get("train_tokens"),
                          "selected": c["step"] == r["best_step"]}
                         for r in results["runs"] for c in r["curve"]])


def loss_facts(results: dict) -> dict:
    """The selection rule and, per model, where the selected checkpoints lie (means over seeds)."""
    pts = _points(results)
    best = pts[pts["selected"]]
    models = order(best["model"])
    per = {m: {"step": float(d["step"].mean()), "val_accuracy": float(d["val_accuracy"].mean()),
               "steps": int(pts[pts["model"] == m]["step"].max())}
           for m in models for d in [best[best["model"] == m]]}
    top = max(per, key=lambda m: per[m]["val_accuracy"])
    low = min(per, key=lambda m: per[m]["val_accuracy"])
    return {"select": selection(results), "models": per, "top": top, "low": low,
            "first": min(p["step"] for p in per.values()),
            "last": max(p["step"] for p in per.values()),
            "steps": max(p["steps"] for p in per.values())}


@figure("loss-curves", needs=("results",), facts=loss_facts,
        title="Loss and validation accuracy during training",
        alt="""The checkpoints selected by {{ f.select }} lie at mean steps {{ f.first | int }} to
{{ f.last | int }} of {{ f.steps | int }}; their validation accuracy ranges from
{{ f.models[f.low].val_accuracy | pct(1) }} ({{ label(f.low) }}) to
{{ f.models[f.top].val_accuracy | pct(1) }} ({{ label(f.top) }}).""",
        caption="""
(a) Validation loss, (b) training loss and (c) validation accuracy against training step: lines
{% if seeds | length > 1 %}are the mean over {{ seeds | length | plural("seed") }}, shaded bands the
range between seeds{% else %}are the single seed trained (no band between seeds){% endif %}.
Stars mark each run's selected checkpoint, the one with the {{ f.select }} and the one evaluated
on the test set. A validation loss that turns up while the training loss keeps falling marks
overfitting; the selected checkpoint guards against it.""")
def fig_loss_curves(results: dict):
    """Validation loss, training loss, validation accuracy vs step: mean over seeds, min-max
    band; a star per run at its best_step."""
    pts = _points(results)
    models = order(pts["model"])
    df = in_order(by_seed(pts, ["model", "step"], ["val_loss", "train_loss", "val_accuracy"]),
                  models)
    sel = in_order(pts[pts["selected"]], models)
    fig, axes = subplots(3.1, ncols=3)
    axes[1].sharey(axes[0])
    panels = (("val_loss", "(a) Validation loss", "-"), ("train_loss", "(b) Training loss", "--"),
              ("val_accuracy", "(c) Validation accuracy", "-"))
    for ax, (key, title, ls) in zip(axes, panels, strict=True):
        for m in models:
            d = df[df["model"] == m]
            mean_band(ax, d["step"], d[f"{key}_mean"], d[f"{key}_min"], d[f"{key}_max"], m, ls)
            if key != "train_loss":
                s = sel[sel["model"] == m]
                ax.plot(s["step"], s[key], "*", color=color(m), mec=INK, mew=0.5, ms=8,
                        zorder=3)
        ax.set_title(title)
        ax.set_xlabel("training step")
    axes[0].set_ylabel("cross-entropy")
    axes[2].set_ylabel("accuracy")
    model_legend(fig, models)
    fig.legend([plt.Line2D([], [], color=INK, marker="*", ls="", ms=8)],
               [f"selected checkpoint ({selection(results)})"], loc="outside lower center")
    out = pd.concat([df.assign(row="mean over seeds"),
                     sel[["model", "seed", "step", "val_loss", "val_accuracy"]]
                     .assign(row="selected checkpoint")], ignore_index=True)
    return fig, out


def has_costs(bundle: dict) -> bool:
    """Every curve point records cumulative training seconds and tokens (newer runs)."""
    runs = bundle["results"]["runs"]
    return bool(runs) and all(c.get("train_seconds") is not None
                              and c.get("train_tokens") is not None
                              for r in runs for c in r["curve"])


def _cost_curves(results: dict) -> pd.DataFrame:
    """Per model and step: mean over seeds of minutes, tokens (millions) and accuracy, and the
    accuracy's min-max over seeds."""
    pts = _points(results).assign(minutes=lambda d: d["train_seconds"] / 60,
                                  tokens_m=lambda d: d["train_tokens"] / 1e6)
    df = by_seed(pts, ["model", "step"], ["val_accuracy", "minutes", "tokens_m"])
    return in_order(df, order(df["model"]))


def cost_facts(results: dict) -> dict:
    """The highest validation accuracy every model's mean curve reaches, and when (minutes,
    millions of tokens) each first reaches it; each model's best mean accuracy and its cost."""
    df = _cost_curves(results)
    models = order(df["model"])
    level = min(df[df["model"] == m]["val_accuracy_mean"].max() for m in models)
    per = {}
    for m in models:
        d = df[df["model"] == m]
        hit, top = d[d["val_accuracy_mean"] >= level].iloc[0], d.loc[d["val_accuracy_mean"]
                                                                       .idxmax()]
        per[m] = {"minutes": float(hit["minutes_mean"]), "tokens_m": float(hit["tokens_m_mean"]),
                  "best": float(top["val_accuracy_mean"]),
                  "best_minutes": float(top["minutes_mean"])}
    fast = min(per, key=lambda m: per[m]["minutes"])
    slow = max(per, key=lambda m: per[m]["minutes"])
    # decimals that tell the models apart: runs of seconds (smoke) need more than of hours
    digits = 1 if min(p["minutes"] for p in per.values()) >= 10 else 2
    return {"level": float(level), "models": per, "fast": fast, "slow": slow, "digits": digits}


@figure("time-to-accuracy", needs=("results",), when=has_costs, facts=cost_facts,
        title="Validation accuracy against training time and tokens",
        alt="""Every model reaches {{ f.level | pct(1) }} validation accuracy; {{ label(f.fast) }}
gets there first, after {{ f.models[f.fast].minutes | n(f.digits) }} CPU minutes, and
{{ label(f.slow) }} last, after {{ f.models[f.slow].minutes | n(f.digits) }}.""",
        caption="""
What each model's accuracy costs: validation accuracy against (a) cumulative training time in
minutes on the CPU (validation excluded) and (b) real (non-padding) training tokens seen; lines
{% if seeds | length > 1 %}are the mean over {{ seeds | length | plural("seed") }}, shaded bands the
range between seeds{% else %}are the single seed trained (no band between seeds){% endif %}.
The dotted line is {{ f.level | pct(1) }}, the highest validation accuracy every model's mean
curve reaches; {% for m, p in f.models.items() %}{{ label(m) }} first reaches it after
{{ p.minutes | n(f.digits) }} minutes ({{ p.tokens_m | n(2) }} M tokens){{ "; " if not loop.last
else "." }}{% endfor %} A curve further left buys the same accuracy with less computation.""")
def fig_time_to_accuracy(results: dict):
    """Validation accuracy vs cumulative training minutes (a) and tokens (b): mean over seeds,
    min-max band; the common accuracy level every model reaches, dotted."""
    df = _cost_curves(results)
    models = order(df["model"])
    facts = cost_facts(results)
    level = facts["level"]
    fig, axes = subplots(3.0, ncols=2, sharey=True)
    for ax, x, title in ((axes[0], "minutes_mean", "(a) Against training time"),
                         (axes[1], "tokens_m_mean", "(b) Against tokens seen")):
        for m in models:
            d, p = df[df["model"] == m], facts["models"][m]
            tip(mean_band(ax, d[x], d["val_accuracy_mean"], d["val_accuracy_min"],
                          d["val_accuracy_max"], m),
                f"{label(m)}: reaches {level:.2%} after {p['minutes']:.2f} min "
                f"({p['tokens_m']:.2f} M tokens); best {p['best']:.2%} after "
                f"{p['best_minutes']:.2f} min (means over seeds)")
        tip(ax.axhline(level, color=INK, ls=":", lw=1),
            f"{level:.2%}: the highest validation accuracy every model reaches")
        ax.set_title(title)
    axes[0].set_xlabel("training time (CPU minutes)")
    axes[1].set_xlabel("real training tokens seen (millions)")
    axes[0].set_ylabel("validation accuracy")
    model_legend(fig, models)
    return fig, df.assign(common_level=level)
