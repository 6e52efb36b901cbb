"""The figures as files and as findings: every placed figure has its SVG, PNG and CSV linked
under its caption, the PNG stands alone (title, footer), alt texts state numbers from the
results, uncertainty is drawn where the results hold it, and the figures that need newer results
fields appear exactly when the results have them. Rendered from the synthetic results set of
tests/fixtures/make_results.py (the `built` fixture of tests/test_report.py)."""

from __future__ import annotations

import base64
import copy
import json
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from attnstudy.report import (
    citation,
    draw,
    facts,
    figures,
    figures_training,
    fmt,
    render,
    results,
)
from attnstudy.report.figures_attention import pick_heat
from attnstudy.report.heat import query_independence, typical_len
from attnstudy.report.style import label as fig_label
from attnstudy.report.style import prose_label
from tests import pdf as pdftext
from tests.test_report import (  # noqa: F401  (built: the rendered fixture report)
    FIXTURE_FIGURES,
    Doc,
    _text,
    built,
)


def _placed(html: str) -> list[str]:
    return [a["id"].removeprefix("fig-") for t, a in Doc(html).tags
            if t == "figure" and a.get("id", "").startswith("fig-")]


def _alts(html: str) -> dict[str, str]:
    """figure name -> its alt text (the img's, or the label of an inline SVG or HTML figure)."""
    out = {}
    for name in _placed(html):
        block = html.split(f'<figure id="fig-{name}"')[1].split("</figure>")[0]
        tag = next(a for t, a in Doc(block).tags if t in ("img", "div", "svg") and
                   ("alt" in a or "aria-label" in a))
        out[name] = tag.get("alt") or tag["aria-label"]
    return out


def _caption(html: str, name: str) -> str:
    return _text(html.split(f'<figure id="fig-{name}"')[1].split("</figure>")[0]
                 .split("<figcaption>")[1])


def _has_line(ax, x=None, y=None) -> bool:
    """Whether `ax` draws a two-point line with these x (or y) data."""
    return any(len(ln.get_xdata()) == 2 and np.allclose(ln.get_xdata() if x else ln.get_ydata(),
                                                         x or y) for ln in ax.lines)


def _html(bundle: dict) -> str:
    stub = [{"name": n, "svg_bytes": b"<svg/>", "aspect": 0.5} for n in figures.available(bundle)]
    return render.render_html(facts.context(bundle), stub)


def test_every_placed_figure_has_svg_png_csv_linked(built):  # noqa: F811
    html, fig_dir = built["html"], built["paths"]["figures"]
    placed = _placed(html)
    assert set(placed) == set(FIXTURE_FIGURES) and "additive" in placed
    for name in placed:
        block = html.split(f'<figure id="fig-{name}"')[1].split("</figure>")[0]
        links = {a["download"]: a["href"] for t, a in Doc(block).tags
                 if t == "a" and "download" in a}
        assert list(links) == [f"fig-{name}.{e}" for e in ("svg", "png", "csv")], name
        for fname, href in links.items():  # embedded: the HTML keeps them when moved alone
            assert href.startswith("data:"), (name, href[:40])
            data = base64.b64decode(href.split(",", 1)[1])
            if not fname.endswith(".svg"):  # the SVG download is the drawn SVG (same bytes)
                assert data == (fig_dir / fname).read_bytes(), fname
        assert (fig_dir / f"fig-{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert len(pd.read_csv(fig_dir / f"fig-{name}.csv")) > 0, name
        assert "<svg" in (fig_dir / f"fig-{name}.svg").read_text()


def test_png_is_2x_with_title_and_footer(built):  # noqa: F811
    fig_dir = built["paths"]["figures"]
    meta = citation.load()
    assert meta.title in draw.footer() and meta.version in draw.footer()
    for name in ("metrics", "additive"):
        svg = (fig_dir / f"fig-{name}.svg").read_text()
        w, h = (float(v) / 72 for v in re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"',
                                                 svg).groups())
        png = plt.imread(fig_dir / f"fig-{name}.png")
        bands = round(draw.PNG_HEAD_IN * draw.PNG_DPI) + round(draw.PNG_FOOT_IN * draw.PNG_DPI)
        assert png.shape[1] == pytest.approx(w * draw.PNG_DPI, abs=1), name
        assert png.shape[0] == pytest.approx(h * draw.PNG_DPI + bands, abs=1), name
        assert "<svg" in svg and meta.version not in svg  # the SVG stays the bare figure
    # the title and footer are drawn: the bands are not blank
    png = plt.imread(fig_dir / "fig-metrics.png")
    head = round(draw.PNG_HEAD_IN * draw.PNG_DPI)
    assert png[:head, :, :3].min() < 0.5 and png[-round(draw.PNG_FOOT_IN * draw.PNG_DPI):,
                                                     :, :3].min() < 0.8
    # a version bump redraws the figures (the footer is part of the memo's key)
    one, two = (draw.stamp(built["out"] / "c", built["results"], f) for f in ("v1", "v2"))
    assert one.key != two.key


def test_alt_texts_state_numbers_from_the_results(built):  # noqa: F811
    html, res = built["html"], built["results"]
    alts = _alts(html)
    assert set(alts) == set(FIXTURE_FIGURES)
    for name, alt in alts.items():
        assert re.search(r"\d", alt) and "{" not in alt and len(alt) < 600, (name, alt)
        assert not alt.lower().startswith(("bar chart", "line chart", "heatmap")), name
    analysis = json.loads((res / "analysis.json").read_text())
    summ = analysis["summary"]
    best = max(summ, key=lambda m: summ[m]["accuracy"]["mean"])
    assert fmt.pct(summ[best]["accuracy"]["mean"]) in alts["metrics"]
    assert prose_label(best) in alts["metrics"]
    base = analysis["baseline"]["test"]["accuracy"]
    assert fmt.pct(base) in alts["metrics"]
    level = pd.read_csv(built["paths"]["figures"] / "fig-time-to-accuracy.csv")["common_level"]
    assert fmt.pct(level.iloc[0]) in alts["time-to-accuracy"]
    neg = analysis["negation"]["probes"]
    lo = min(neg, key=lambda m: neg[m]["accuracy"])
    assert f'{fmt.pct(neg[lo]["accuracy"], 0)} ({prose_label(lo)})' in alts["negation"]


def test_metrics_are_dots_with_cis_and_the_baseline(built):  # noqa: F811
    analysis = json.loads((built["results"] / "analysis.json").read_text())
    fig, df = figures.FIGURES["metrics"].draw(analysis)
    try:
        for ax in fig.axes:
            assert not ax.patches, "bars on a cut axis"
        base = analysis["baseline"]["test"]["accuracy"]
        acc = fig.axes[0]
        assert _has_line(acc, x=[base, base])
        for m, s in analysis["summary"].items():
            row = df[(df["model"] == m) & (df["metric"] == "accuracy")].iloc[0]
            assert (row["ci_low"], row["mean"], row["ci_high"]) == pytest.approx(
                (s["accuracy"]["ci_low"], s["accuracy"]["mean"], s["accuracy"]["ci_high"]))
            assert _has_line(acc, x=[s["accuracy"]["ci_low"], s["accuracy"]["ci_high"]])
    finally:
        plt.close(fig)


def test_negation_and_faithfulness_show_their_uncertainty(built):  # noqa: F811
    analysis = json.loads((built["results"] / "analysis.json").read_text())
    res = json.loads((built["results"] / "results.json").read_text())
    fig, df = figures.FIGURES["negation"].draw(analysis)
    try:
        probes = fig.axes[0]
        assert _has_line(probes, y=[0.5, 0.5]), "chance line"
        assert (df["probe_accuracy_ci_low"] < df["probe_accuracy"]).all()
        assert (df["probe_accuracy"] < df["probe_accuracy_ci_high"]).all()
        assert (df["n_probes"] == 2 * df["n_pairs"]).all() and (df["n_pairs"] > 0).all()
    finally:
        plt.close(fig)
    fig, df = figures.FIGURES["faithfulness"].draw(analysis, res)
    plt.close(fig)
    for m, f in analysis["faithfulness"].items():
        seeds = [r["faithfulness"]["top_drop"] for r in res["runs"]
                 if r["model"] == m and r.get("faithfulness")]
        d = df[df["model"] == m]
        assert d["top_drop_min"].tolist() == pytest.approx(np.min(seeds, axis=0).tolist())
        assert d["top_drop_max"].tolist() == pytest.approx(np.max(seeds, axis=0).tolist())
        assert d["top_drop"].tolist() == pytest.approx(f["top_drop"])
        assert (d["seeds"] == len(seeds)).all() and len(seeds) > 1


def test_loss_curves_mark_the_selected_checkpoints_and_say_how(built):  # noqa: F811
    res = json.loads((built["results"] / "results.json").read_text())
    sel = pd.read_csv(built["paths"]["figures"] / "fig-loss-curves.csv")
    sel = sel[sel["row"] == "selected checkpoint"]
    got = {(r.model, int(r.seed)): int(r.step) for r in sel.itertuples()}
    assert got == {(r["model"], r["seed"]): r["best_step"] for r in res["runs"]}
    assert "lowest validation loss" in _caption(built["html"], "loss-curves")
    bundle = results.load(built["results"])
    for r in bundle["results"]["runs"]:
        r["select"] = "val_accuracy"
    html = _html(bundle)
    for name in ("loss-curves", "attention-learning"):
        cap = _caption(html, name)
        assert "highest validation accuracy" in cap and "lowest validation loss" not in cap
    assert "highest validation accuracy" in _alts(html)["loss-curves"]


def test_time_to_accuracy_appears_iff_curves_record_costs(built):  # noqa: F811
    bundle = results.load(built["results"])
    assert "time-to-accuracy" in figures.available(bundle)
    assert 'id="fig-time-to-accuracy"' in built["html"]
    df = pd.read_csv(built["paths"]["figures"] / "fig-time-to-accuracy.csv")
    run = bundle["results"]["runs"][0]
    point = df[(df["model"] == run["model"]) & (df["step"] == run["curve"][-1]["step"])].iloc[0]
    same = [c["train_seconds"] for r in bundle["results"]["runs"] if r["model"] == run["model"]
            for c in r["curve"] if c["step"] == run["curve"][-1]["step"]]
    assert point["minutes_mean"] == pytest.approx(np.mean(same) / 60)
    cap = _caption(built["html"], "time-to-accuracy")
    assert "What each model's accuracy costs" in cap or "What each model’s accuracy costs" in cap
    old = copy.deepcopy(bundle)  # older runs: no train_seconds on their curve points
    for r in old["results"]["runs"]:
        for c in r["curve"]:
            c.pop("train_seconds", None)
    assert "time-to-accuracy" not in figures.available(old)
    assert 'id="fig-time-to-accuracy"' not in _html(old)


def test_additive_highlights_are_a_figure_with_files_and_no_hover(built):  # noqa: F811
    bundle = results.load(built["results"])
    ctx = facts.context(bundle)
    median = typical_len(bundle["results"])
    assert [s["id"] for s in pick_heat(bundle["attention"], median=median)] == [
        s["id"] for s in ctx["heat_samples"]]  # the same reviews as the HTML highlights
    df = pd.read_csv(built["paths"]["figures"] / "fig-additive.csv")
    assert list(dict.fromkeys(df["id"].astype(str))) == [str(s["id"])
                                                         for s in ctx["heat_samples"]]
    assert "hover" not in _caption(built["html"], "additive")
    text = " ".join(pdftext.page_texts(built["paths"]["pdf"]))
    assert "hover" not in text.lower()


# ----------------------------------------------------------------------------- hover values

HOVER = ("metrics", "length", "negation", "time-to-accuracy")


def _titles(block: str) -> list[str]:
    import html as html_mod

    return [html_mod.unescape(t) for t in re.findall(r"<title>(.*?)</title>", block, re.S)]


def test_value_figures_are_inline_svg_with_the_numbers_on_hover(built):  # noqa: F811
    """Issue #16: where a reader wants exact values the figure is inline SVG, each plotted value
    carrying a <title> (the browser's hover text) with its number from the results files."""
    html = built["html"]
    ana = json.loads((built["results"] / "analysis.json").read_text())
    blocks = {n: html.split(f'<figure id="fig-{n}"')[1].split("</figure>")[0] for n in HOVER}
    for name, block in blocks.items():
        assert f'<svg id="svg-{name}" class="fig-svg" role="img" aria-label="' in block, name
        assert "<img" not in block and "<?xml" not in block and "<metadata>" not in block, name
        svg_file = (built["paths"]["figures"] / f"fig-{name}.svg").read_text()
        wide, _, phone = block.partition('<div class="fig-narrow">')
        assert _titles(svg_file) == _titles(wide) != [], name  # the download has them too
        assert _titles(phone) == _titles(wide), name  # and the phone rendering
    titles = {n: " | ".join(_titles(b)) for n, b in blocks.items()}
    for m, s in ana["summary"].items():
        for k in ("accuracy", "f1", "roc_auc"):
            a = s[k]
            assert f"{a['mean']:.4f} (95% CI {a['ci_low']:.4f}–{a['ci_high']:.4f}" in titles[
                "metrics"], (m, k)
    for b in ana["length"]["buckets"]:
        for m, acc in b["accuracy"].items():
            assert f"{fig_label(m)}, {b['lo']}–{b['hi']} tokens: accuracy {acc:.2%}" in titles[
                "length"], (m, b["lo"])
    for m, p in ana["negation"]["probes"].items():
        assert f"accuracy: {p['accuracy']:.1%} (95% Wilson" in titles["negation"], m
    cost = figures_training.cost_facts(json.loads((built["results"] / "results.json").read_text()))
    for m, f in cost["models"].items():  # time to accuracy: a hover text per model line
        assert (f"{fig_label(m)}: reaches {cost['level']:.2%} after {f['minutes']:.2f} min "
                f"({f['tokens_m']:.2f} M tokens)") in titles["time-to-accuracy"], m
    # other figures stay images; ids stay unique across the whole document
    assert '<img src="data:image/svg+xml;base64,' in html.split('<figure id="fig-confusion"')[1]
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})[:5]
    refs = re.findall(r'(?:href="#|url\(#)([^")]+)', html)
    assert set(refs) <= set(ids), sorted(set(refs) - set(ids))[:5]


def test_pdf_gets_the_inline_figures_as_images(built):  # noqa: F811
    printed = render.for_print(built["html"])
    assert '<svg id="svg-' not in printed
    for name in HOVER:
        block = printed.split(f'<figure id="fig-{name}"')[1].split("</figure>")[0]
        img = next(a for t, a in Doc(block).tags if t == "img")
        assert img["src"].startswith("data:image/svg+xml;base64,") and img["alt"], name
        assert "aspect-ratio: 1 /" in img["style"], name


# ----------------------------------------------------------------------------- heat-map samples

def _sample(i: int, n: int, label: int, p: float, maps=None) -> dict:
    return {"id": f"r{i}", "label": label, "tokens": ["w"] * n, "probs": {"additive": p},
            "additive": [1 / n] * n, "mhsa": maps}


def test_heat_samples_are_typical_length_with_a_wrong_one():
    """Issue #26: the token highlights show reviews of about the test median length, n - 1 the
    additive model gets right and one it gets wrong, not the shortest reviews."""
    att = {"samples": [_sample(0, 20, 1, 0.9), _sample(1, 25, 1, 0.2),  # short; one wrong
                       _sample(2, 170, 1, 0.9), _sample(3, 180, 0, 0.1),
                       _sample(4, 190, 1, 0.8), _sample(5, 400, 0, 0.9)]}  # long and wrong
    assert [s["id"] for s in pick_heat(att, 3)] == ["r0", "r1", "r2"]  # no median: shortest
    # the two right ones nearest 177 tokens and the nearest wrong one, in length order
    assert [s["id"] for s in pick_heat(att, 3, median=177)] == ["r1", "r2", "r3"]
    wrong = [s for s in pick_heat(att, 3, median=177)
             if (s["probs"]["additive"] >= 0.5) != bool(s["label"])]
    assert len(wrong) == 1
    # no wrong prediction among the samples: the nearest three
    right = {"samples": [s for s in att["samples"] if s["id"] in ("r0", "r2", "r3", "r4")]}
    assert [s["id"] for s in pick_heat(right, 3, median=177)] == ["r2", "r3", "r4"]


def test_query_independence_measures_how_alike_the_rows_are():
    n = 6
    pooled = np.tile(np.linspace(0.5, 1.5, n) / np.linspace(0.5, 1.5, n).sum(), (n, 1))
    pooled = pooled + np.random.default_rng(0).normal(0, 1e-4, (n, n))  # rows nearly alike
    diag = np.full((n, n), 0.2 / (n - 1)) + np.eye(n) * (0.8 - 0.2 / (n - 1))  # self-attention
    alike = query_independence({"samples": [_sample(0, n, 1, 0.9, [pooled.tolist()])]})
    own = query_independence({"samples": [_sample(0, n, 1, 0.9, [diag.tolist()])]})
    assert alike["ratio"] > 100 and own["ratio"] < 1
    assert own["diag"] == pytest.approx(0.8 * n) and alike["n"] == own["n"] == 1
    assert query_independence({"samples": [_sample(0, n, 1, 0.9)]}) is None


# ----------------------------------------------------------------------------- phones, colour keys

def test_every_heat_map_file_carries_its_colour_key(built):  # noqa: F811
    """Issue #26: a heat map downloaded alone (SVG; the PNG is drawn from the same figure) and
    its phone rendering show the colour key, every octave of w * n labelled, as the HTML does."""
    from attnstudy.report.heat import HEATMAPS, KEY_TITLE, key_names

    octaves = facts.context(results.load(built["results"]))["octaves"]
    for name in HEATMAPS:
        for file in (f"fig-{name}.svg", f"fig-{name}.{draw.NARROW}"):
            svg = (built["paths"]["figures"] / file).read_text()
            texts = [t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
            assert any(t.startswith(KEY_TITLE) for t in texts), file
            assert [t for t in texts if t in key_names(octaves)] [:2 * octaves + 1] == \
                key_names(octaves), (file, texts[:20])
    assert key_names(2) == ["×1/4", "×1/2", "×1", "×2", "×4"]


def test_phone_renderings_are_narrow_with_readable_text(built):  # noqa: F811
    """Each figure is drawn a second time for phones (figkit.narrow): 3.9 inches wide, no text
    under 7.5 pt, its side-by-side panels stacked; the PDF never shows it."""
    from attnstudy.report import figkit

    for name in figures.available(results.load(built["results"])):
        svg = (built["paths"]["figures"] / f"fig-{name}.{draw.NARROW}").read_text()
        width = float(re.search(r'width="([\d.]+)pt"', svg).group(1)) / 72
        assert width == pytest.approx(figkit.NARROW_WIDTH, abs=0.01), name
        sizes = [float(x) for x in re.findall(r"font-size: ([\d.]+)px", svg)]
        assert sizes and min(sizes) >= figkit.NARROW_MIN_PT, (name, min(sizes))
    analysis = json.loads((built["results"] / "analysis.json").read_text())
    with figkit.narrow():
        fig, _ = figures.FIGURES["metrics"].draw(analysis)
    tops = sorted({round(ax.get_position().y0, 3) for ax in fig.axes})
    assert len(fig.axes) == 3 and len(tops) == 3  # three panels, one above the other
    plt.close(fig)
    assert '<div class="fig-narrow">' in built["html"]
    assert '<div class="fig-narrow">' not in render.for_print(built["html"])
