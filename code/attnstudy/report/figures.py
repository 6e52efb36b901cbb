"""The report's figures: one function per figure, each `fig_<name>(data) -> (Figure, DataFrame)`.

Every figure is drawn only from the results files (see build/results/README.md); the DataFrame is
exactly the data behind it and is saved next to it as CSV. `save_all` writes
`fig-<name>.svg|png|csv` with stable names; SVGs are byte-for-byte deterministic.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from attnstudy.files import atomic_write  # noqa: E402

# Okabe-Ito (colour-blind safe): blues for the two models without attention, warm/green for the
# attention models; one fixed colour and marker per model everywhere (figures, tables, HTML).
PALETTE = {"bilstm": "#56B4E9", "bilstm_matched": "#0072B2", "additive": "#E69F00",
           "mhsa": "#009E73", "transformer": "#CC79A7", "bilstm_mean": "#4B6A88"}
MARKERS = {"bilstm": "o", "bilstm_matched": "s", "additive": "^", "mhsa": "D", "transformer": "v",
           "bilstm_mean": "P"}
LABELS = {"bilstm": "BiLSTM", "bilstm_matched": "BiLSTM-matched", "additive": "Additive attn.",
          "mhsa": "MHSA", "transformer": "Transformer", "bilstm_mean": "BiLSTM-mean"}
BASELINES = {"tfidf_logreg": "TF-IDF + logistic regression"}  # display names of baselines
ORDER = ("bilstm", "bilstm_matched", "bilstm_mean", "additive", "mhsa", "transformer")
FALLBACK = ("#D55E00", "#F0E442", "#000000", "#999999")
INK, GRID, BASELINE = "#222222", "#e6e6e6", "#555555"
WIDTH = 7.2  # inches: the report's text column
STYLE = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"], "font.size": 9,
    "axes.titlesize": 9.5, "axes.labelsize": 9,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "legend.fontsize": 8, "legend.frameon": False,
    "axes.spines.top": False, "axes.spines.right": False, "axes.edgecolor": "#888888",
    "axes.grid": True, "grid.color": GRID, "grid.linewidth": 0.6, "axes.axisbelow": True,
    "text.color": INK, "axes.labelcolor": INK, "xtick.color": INK, "ytick.color": INK,
    "svg.hashsalt": "attnstudy", "svg.fonttype": "none", "figure.dpi": 100,
    "axes.titleweight": "bold", "axes.titlelocation": "left",
}
FIGURES = ("loss-curves", "metrics", "confusion", "length", "negation", "faithfulness",
           "attention-mhsa", "attention-received")


def color(model: str) -> str:
    if model in PALETTE:
        return PALETTE[model]
    return FALLBACK[sum(map(ord, model)) % len(FALLBACK)]


def label(model: str) -> str:
    return LABELS.get(model, model)


def order(models) -> list[str]:
    """Canonical model order (no attention first), unknown names after, alphabetically."""
    models = list(dict.fromkeys(models))
    return [m for m in ORDER if m in models] + sorted(m for m in models if m not in ORDER)


def _styled(fn):
    """Draw under the report's style, whoever calls (a figure keeps the fonts it was made with)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with plt.rc_context(STYLE):
            return fn(*args, **kwargs)
    return wrapper


def _fig(h: float, ncols: int = 1, nrows: int = 1, **kw):
    return plt.subplots(nrows, ncols, figsize=(WIDTH, h), layout="constrained", **kw)


def _legend(fig, models, **kw):
    handles = [plt.Line2D([], [], color=color(m), marker=MARKERS.get(m, "o"), lw=2, ms=5)
               for m in models]
    fig.legend(handles, [label(m) for m in models], loc="outside upper center",
               ncols=min(len(models), 5), handlelength=2.2, **kw)


@_styled
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
                    marker=MARKERS.get(m, "o"), ms=3.5, markevery=max(1, len(d) // 4))
            ax.fill_between(d["step"], d[f"{key}_min"], d[f"{key}_max"], color=color(m),
                            alpha=0.15, lw=0)
        ax.set_title(title)
        ax.set_xlabel("training step")
    axes[0].set_ylabel("cross-entropy (mean over seeds)")
    _legend(fig, models)
    return fig, df


METRICS = (("accuracy", "Accuracy"), ("f1", "F1"), ("roc_auc", "ROC-AUC"))


@_styled
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
        name = base.get("name", "baseline")
        fig.legend([plt.Line2D([], [], color=BASELINE, ls="--")], [BASELINES.get(name, name)],
                   loc="outside upper right")
    return fig, df


@_styled
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


@_styled
def fig_length(analysis: dict, max_len: int | None = None):
    """Accuracy per review-length bucket (tokens before truncation); truncation point marked."""
    buckets = analysis["length"]["buckets"]
    models = order(buckets[0]["accuracy"]) if buckets else []
    df = pd.DataFrame([{"bucket": i, "lo": b["lo"], "hi": b["hi"], "n": b["n"],
                        "truncated_share": b["truncated_share"], "model": m,
                        "accuracy": b["accuracy"][m]}
                       for i, b in enumerate(buckets) for m in models])
    fig, ax = _fig(3.0)
    x = np.arange(len(buckets))
    for m in models:
        ax.plot(x, df[df["model"] == m]["accuracy"], color=color(m), marker=MARKERS.get(m, "o"),
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


@_styled
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


@_styled
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
            ax.plot(d["k"], d[f"top_{what}"], color=color(m), marker=MARKERS.get(m, "o"), lw=1.8,
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


@_styled
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


@_styled
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


def _makers(bundle: dict) -> dict:
    """name -> zero-argument drawer, for every figure the data allow, in report order."""
    res, ana, att = bundle["results"], bundle["analysis"], bundle["attention"]
    short = bool(pick_short(att))
    makers = {
        "loss-curves": lambda: fig_loss_curves(res),
        "metrics": lambda: fig_metrics(ana),
        "confusion": lambda: fig_confusion(res),
        "length": lambda: fig_length(ana, res["config"]["data"].get("max_len")),
        "negation": lambda: fig_negation(ana),
        "faithfulness": (lambda: fig_faithfulness(ana)) if ana.get("faithfulness") else None,
        "attention-mhsa": (lambda: fig_attention_mhsa(att)) if short else None,
        "attention-received": (lambda: fig_attention_received(att)) if short else None,
    }
    return {k: v for k, v in makers.items() if v is not None}


def available(bundle: dict) -> list[str]:
    """The names of the figures these results allow, in report order."""
    return list(_makers(bundle))


def build(bundle: dict, names=None) -> list[tuple[str, object, pd.DataFrame]]:
    """Draw the figures (all available, or those in `names`): [(name, Figure, DataFrame)]."""
    return [(name, *make()) for name, make in _makers(bundle).items()
            if names is None or name in names]


def save(figs, out_dir: Path, dpi: int = 150, formats=("svg", "png", "csv")) -> list[dict]:
    """Write fig-<name>.{svg,png,csv} (those in `formats`) for each (name, Figure, DataFrame);
    return one record per figure: name, the three paths, svg_bytes (if drawn) and aspect."""
    out_dir = Path(out_dir)
    records = []
    with plt.rc_context(STYLE):
        for name, fig, df in figs:
            rec = {"name": name, **{e: out_dir / f"fig-{name}.{e}" for e in ("svg", "png", "csv")}}
            for ext, kw in (("svg", {"metadata": {"Date": None}}),
                            ("png", {"dpi": dpi, "metadata": {"Software": None}})):
                if ext not in formats:
                    continue
                buf = io.BytesIO()
                fig.savefig(buf, format=ext, **kw)
                fig.set_layout_engine("none")  # keep the positions; don't lay out twice
                with atomic_write(rec[ext], "wb") as f:
                    f.write(buf.getvalue())
                if ext == "svg":
                    rec["svg_bytes"] = buf.getvalue()
            if "csv" in formats:
                with atomic_write(rec["csv"]) as f:
                    df.to_csv(f, index=False, lineterminator="\n")
            w, h = fig.get_size_inches()
            rec["aspect"] = h / w
            plt.close(fig)  # leaves pyplot's registry; the Figure can still be saved again
            records.append(rec)
    return records


def save_all(results_dir: Path, out_dir: Path, formats=("svg", "png", "csv"),
             names=None) -> list[dict]:
    """Validate and load `results_dir`, draw the figures, write them into `out_dir`."""
    from attnstudy.report.render import load_results  # late: render imports this module

    return save(build(load_results(Path(results_dir)), names), Path(out_dir), formats=formats)


def _stages(results_dir: Path, out_dir: Path, stages: list[str]) -> None:
    """Write figures in stages "FORMATS:NAMES" (e.g. "svg:metrics,length" then "png,csv:..."),
    drawing each figure once, and print "done <i>" after stage i (report.py waits for it)."""
    from attnstudy.report.render import load_results

    bundle, drawn = load_results(results_dir), {}
    for i, stage in enumerate(stages):
        formats, _, names = stage.partition(":")
        names = [n for n in names.split(",") if n]
        drawn.update((n, (fig, df)) for n, fig, df in
                     build(bundle, [n for n in names if n not in drawn]))
        save([(n, *drawn[n]) for n in names], out_dir, formats=tuple(formats.split(",")))
        print(f"done {i}", flush=True)


if __name__ == "__main__":  # python -m attnstudy.report.figures RESULTS_DIR OUT_DIR STAGE...
    import sys

    from attnstudy.errors import UserError

    try:
        _stages(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:])
    except UserError as e:
        sys.exit(f"error: {e}")
