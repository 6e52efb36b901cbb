"""The report's look, shared by figures, tables and prose: one colour, marker and label per
model, the canonical model order and the matplotlib style. No matplotlib import here: the HTML
side (chips, tables) uses the palette without paying for it."""

from __future__ import annotations

# Okabe-Ito (colour-blind safe): blues for the two models without attention, warm/green for the
# attention models; one fixed colour and marker per model everywhere (figures, tables, HTML). The
# non-contextual arm (no BiLSTM): vermillion for its attention model, grey for its mean-pool.
PALETTE = {"bilstm": "#56B4E9", "bilstm_matched": "#0072B2", "additive": "#E69F00",
           "mhsa": "#009E73", "transformer": "#CC79A7", "bilstm_mean": "#4B6A88",
           "embed_additive": "#D55E00", "embed_mean": "#999999"}
MARKERS = {"bilstm": "o", "bilstm_matched": "s", "additive": "^", "mhsa": "D", "transformer": "v",
           "bilstm_mean": "P", "embed_additive": "<", "embed_mean": "X"}
LABELS = {"bilstm": "BiLSTM", "bilstm_matched": "BiLSTM-matched", "additive": "Additive attn.",
          "mhsa": "MHSA", "transformer": "Transformer", "bilstm_mean": "BiLSTM-mean",
          "embed_additive": "Embed + additive", "embed_mean": "Embed-mean"}
# Names in running text, tables and captions, where there is room for the whole word (figures keep
# the short LABELS: legends and axes are tight)
PROSE_LABELS = {"additive": "Additive attention",
                "embed_additive": "Embeddings + additive attention",
                "embed_mean": "Embedding mean-pool"}
BASELINES = {"tfidf_logreg": "TF-IDF + logistic regression"}  # display names of baselines
ORDER = ("bilstm", "bilstm_matched", "bilstm_mean", "additive", "mhsa", "transformer",
         "embed_mean", "embed_additive")
FALLBACK = ("#F0E442", "#000000")  # for a model not listed above (none of the palette's)
INK, GRID, BASELINE = "#222222", "#e6e6e6", "#555555"
WIDTH = 7.2  # inches: the report's text column
# Attention relative to uniform, w * n, on one diverging scale everywhere (figures and the HTML
# token highlights): blue below uniform, white at uniform, red above, saturating at 2**±octaves,
# where octaves = heat_octaves(the ratios shown): at most RATIO_OCTAVES, and no wider than the data
# need, so near-uniform attention still shows its pattern instead of a white sheet.
DIVERGING = ("#2166ac", "#f7f7f7", "#b2182b")
RATIO_OCTAVES = 3
# The PDF's box for a figure (templates/report.css, print): A4 minus margins, and the largest
# image height (`figure img` max-height; `figure.tall img` for full-page figures). A figure
# wider or taller is scaled down, and its fonts with it; token labels must stay >= MIN_LABEL_PT.
PDF_WIDTH_IN, PDF_MAX_HEIGHT_IN, PDF_TALL_HEIGHT_IN = 174 / 25.4, 118 / 25.4, 215 / 25.4
MIN_LABEL_PT = 8.0
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


def color(model: str) -> str:
    if model in PALETTE:
        return PALETTE[model]
    return FALLBACK[sum(map(ord, model)) % len(FALLBACK)]


def marker(model: str) -> str:
    return MARKERS.get(model, "o")


def label(model: str) -> str:
    return LABELS.get(model, model)


def prose_label(model: str) -> str:
    return PROSE_LABELS.get(model, label(model))


SETTINGS = {"max_len": "review length", "learning_rate": "learning rate",
            "embed_dropout": "embedding dropout"}  # the v3 sweep's settings; others: their name


def setting_label(setting: str) -> str:
    """A config setting as the prose names it: "review length" for max_len."""
    return SETTINGS.get(setting, setting.replace("_", " "))


def baseline_label(name: str | None) -> str:
    return BASELINES.get(name, name or "baseline")


def order(models) -> list[str]:
    """Canonical model order (no attention first), unknown names after, alphabetically."""
    models = list(dict.fromkeys(models))
    return [m for m in ORDER if m in models] + sorted(m for m in models if m not in ORDER)


def _hex(c: str) -> tuple[int, int, int]:
    return tuple(int(c[i:i + 2], 16) for i in (1, 3, 5))


def heat_octaves(ratios) -> int:
    """The heat maps' colour range in octaves of w * n: the smallest whole number that holds
    every ratio shown (so the most extreme cell is at most saturated), between 1 and
    RATIO_OCTAVES."""
    import math

    logs = [abs(math.log2(r)) for r in ratios if r and r > 0]
    return max(1, min(RATIO_OCTAVES, math.ceil(max(logs, default=RATIO_OCTAVES) - 1e-9)))


def ratio_css(log2_ratio: float, octaves: int = RATIO_OCTAVES) -> tuple[str, str]:
    """(background, text colour) of a token whose weight is 2**log2_ratio times uniform, on the
    figures' diverging scale (DIVERGING, linear in log2, clipped at ±octaves)."""
    x = max(-1.0, min(1.0, log2_ratio / octaves))
    lo, mid, hi = (_hex(c) for c in DIVERGING)
    end, f = (hi, x) if x >= 0 else (lo, -x)
    rgb = tuple(round(a + (b - a) * f) for a, b in zip(mid, end, strict=True))
    return "#" + "".join(f"{v:02x}" for v in rgb), "#ffffff" if f > 0.6 else INK
