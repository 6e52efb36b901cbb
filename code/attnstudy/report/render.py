"""Render the paper from the results files: one self-contained HTML file, a PDF and the figures.

    render(Path("build/results"), Path("build"))  ->  build/report.html, build/report.pdf,
                                                     build/figures/fig-*.{svg,png,csv}

Every number and every result-dependent word comes from the results files (schema in
build/results/README.md); the prose lives in paper/prose/*.html.j2, the layout in templates/.
Inputs are validated first: a wrong schema_version or a config_hash that differs between files
is a UserError, never a half-rendered paper.
"""

from __future__ import annotations

import base64
import collections
import importlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import jinja2
import pandas as pd
from markupsafe import Markup, escape

from attnstudy.config import ROOT
from attnstudy.errors import UserError
from attnstudy.files import Stamp, atomic_write, digest
from attnstudy.metrics import LOWER_IS_BETTER, METRIC_LABELS
from attnstudy.report import figures
from attnstudy.schema import RESULT_FILES, validate_results
from attnstudy.schema import SCHEMA_VERSION as SCHEMA

TEMPLATES, PROSE = ROOT / "templates", ROOT / "paper" / "prose"
REFERENCES = ROOT / "paper" / "references.toml"
METRICS = tuple(METRIC_LABELS.items())
N_DISAGREE, N_AGREE, N_HEAT, EXCERPT = 5, 2, 3, 40  # sample-selection rules stated in captions


# ---------------------------------------------------------------- loading and validation

def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"cannot read {path}: {e}; rebuild the results (`just build <profile>`)") \
            from None
    if not isinstance(doc, dict):
        raise UserError(f"{path} is not a JSON object; rebuild with `just build <profile>`")
    return doc


def load_results(results_dir: Path) -> dict:
    """Read and cross-check the results files; UserError (one line) on anything stale or foreign."""
    d = Path(results_dir)
    names = ["results.json", "test_predictions.parquet", "attention.json", "analysis.json"]
    missing = [n for n in names if not (d / n).is_file()]
    if missing:
        raise UserError(f"{d}: missing {', '.join(missing)}; run `just build <profile>` first")
    docs = {k: _read_json(d / f"{k}.json") for k in ("results", "attention", "analysis")}
    docs["bench"] = _read_json(d / "bench.json") if (d / "bench.json").is_file() else None
    want = docs["results"].get("config_hash")
    for name, doc in docs.items():
        if doc is None:
            continue
        if (name != "bench" or "schema_version" in doc) and doc.get("schema_version") != SCHEMA:
            raise UserError(f"{d / name}.json has schema_version {doc.get('schema_version')!r}, "
                            f"this report reads {SCHEMA}; rebuild with `just build <profile>`")
        if "config_hash" in doc and doc["config_hash"] != want:
            raise UserError(f"{d / name}.json has config_hash {doc['config_hash']} but "
                            f"results.json has {want}: files from different configs; rebuild "
                            "with `just build <profile>`")
    validate_results(d)  # the schema's deep checks: fields, runs, models, parquet columns, rows
    return {**docs, "predictions": pd.read_parquet(d / "test_predictions.parquet")}


# ---------------------------------------------------------------- numbering and citations

class Registry:
    """Numbers headings, figures, tables and citations in document order. The template is rendered
    twice: the first pass learns every number, the second resolves forward references."""

    NAMES = {"fig": "Figure", "tab": "Table"}

    def __init__(self, refs: dict, prev: Registry | None = None):
        self.refs, self.prev = refs, prev
        self.numbers: dict[str, str] = {}
        self.counts = collections.Counter()
        self.toc: list[tuple[int, str, str, str]] = []
        self.cited: list[str] = []
        self.sec = [0, 0]

    def heading(self, level: int, id: str, title: str, numbered: str = "num") -> Markup:
        if numbered == "app":
            self.counts["app"] += 1
            no = chr(ord("A") + self.counts["app"] - 1)
            self.sec = [99, 0]
        elif numbered == "num" and level == 2:
            self.sec = [self.sec[0] + 1, 0]
            no = str(self.sec[0])
        elif numbered == "num":
            self.sec[1] += 1
            no = (chr(ord("A") + self.counts["app"] - 1) if self.sec[0] == 99
                  else str(self.sec[0])) + f".{self.sec[1]}"
        else:
            no = ""
        label = f"Appendix {no}" if numbered == "app" else no
        self.numbers[id] = f"Section {no}" if no and numbered != "app" else label or title
        self.toc.append((level, id, label, title))
        no_html = f'<span class="secno">{escape(label)}</span> ' if label else ""
        return Markup(f'<h{level} id="{escape(id)}">{no_html}{escape(title)}'
                      f'<a class="anchor" href="#{escape(id)}" aria-label="link to this section">'
                      f'¶</a></h{level}>')

    def number(self, kind: str, id: str) -> str:
        if id not in self.numbers:
            self.counts[kind] += 1
            self.numbers[id] = f"{self.NAMES[kind]} {self.counts[kind]}"
        return self.numbers[id]

    def ref(self, id: str) -> Markup:
        src = self.prev or self
        if id not in src.numbers:
            if self.prev is not None:
                raise KeyError(f"report template refers to unknown label {id!r}")
            return Markup("??")
        return Markup(f'<a class="xref" href="#{escape(id)}">{escape(src.numbers[id])}</a>')

    def cite(self, *keys: str) -> Markup:
        for k in keys:
            if k not in self.refs:
                raise KeyError(f"unknown reference {k!r} (paper/references.toml)")
            if k not in self.cited:
                self.cited.append(k)
        numbered = sorted(((self.prev or self).ref_number(k), k) for k in keys)
        links = [f'<a class="cite" href="#ref-{escape(k)}">{n}</a>' for n, k in numbered]
        return Markup(f'<span class="cites">[{", ".join(links)}]</span>')

    def ref_number(self, key: str) -> int:
        return self.bibliography().index(key) + 1 if key in self.cited else 0

    def bibliography(self) -> list[str]:
        return self.cited + [k for k in self.refs if k not in self.cited]


# ---------------------------------------------------------------- formatting helpers

def fmt(x, d: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.{d}f}".replace("-", "−")


def fmt_pts(x, d: int = 1, sign: bool = True) -> str:
    """A difference of proportions in percentage points."""
    return (f"{100 * x:+.{d}f}" if sign else f"{100 * x:.{d}f}").replace("-", "−")


def fmt_p(p) -> str:
    return "< 0.001" if p < 0.001 else fmt(p, 3)


def fmt_int(x) -> str:
    return f"{int(round(x)):,}".replace(",", "\u2009")


def fmt_secs(s) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def chip(model: str) -> Markup:
    return Markup(f'<span class="model" style="--c:{figures.color(model)}">'
                  f'{escape(figures.label(model))}</span>')


def verdict_class(verdict: str) -> str:
    v = verdict.lower()
    if any(w in v for w in ("partial", "partly", "mixed", "weak")):
        return "partial"
    if any(w in v for w in ("not", "refut", "contradict", "reject", "unsupported", "false")):
        return "no"
    return "yes" if "support" in v or "confirm" in v else "unclear"


def _mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs)


# ---------------------------------------------------------------- the computed context

BENCH_COLS = {"jax_ms": "JAX ms / step", "torch_ms": "PyTorch ms / step",
              "speed_ratio": "PyTorch ÷ JAX time", "jax_tokens_per_s": "JAX tokens/s",
              "jax_gflops": "JAX GFLOP/s", "peak_share": "share of SGEMM peak",
              "jax_eval_reviews_per_s": "eval reviews/s", "jit_compile_s": "JIT compile (s)"}


def _bench(bench: dict | None) -> dict | None:
    """bench.json's per-model rows (a list with "model", or a dict by model) as a table."""
    if not bench:
        return None
    rows = bench.get("models")
    rows = [{"model": m, **v} for m, v in rows.items()] if isinstance(rows, dict) else rows
    rows = [dict(r) for r in rows or [] if isinstance(r, dict) and "model" in r]
    if not rows:
        return None
    peak = bench.get("sgemm_peak_gflops")
    for r in rows:
        if isinstance(peak, int | float) and peak > 0 and "jax_gflops" in r:
            r["peak_share"] = r["jax_gflops"] / peak
    keys = {k for r in rows for k in r}
    cols = [(k, v) for k, v in BENCH_COLS.items() if k in keys] or [
        (k, k.replace("_", " ")) for k in dict.fromkeys(k for r in rows for k in r) if k != "model"]
    rank = {m: i for i, m in enumerate(figures.order(r["model"] for r in rows))}
    skip = ("models", "schema_version", "config_hash", "quick")
    info = [(k, v) for k, v in bench.items() if k not in skip and not isinstance(v, dict | list)]
    rows = sorted(rows, key=lambda r: rank[r["model"]])
    stages = [(r["model"], r["stages"]["jax"], r["stages"]["torch"]) for r in rows
              if isinstance(r.get("stages"), dict) and {"jax", "torch"} <= set(r["stages"])]
    kernels = [k for k in bench.get("kernels") or [] if isinstance(k, dict) and "kernel" in k]
    ratios = [r["speed_ratio"] for r in rows if isinstance(r.get("speed_ratio"), int | float)]
    summary = {"ratio_min": min(ratios), "ratio_max": max(ratios)} if ratios else {}
    if stages:
        summary["forward_faster"] = sum(j["forward_ms"] < t["forward_ms"] for _, j, t in stages)
        back = [t["backward_ms"] / j["backward_ms"] for _, j, t in stages if j["backward_ms"] > 0]
        summary.update(n_stages=len(stages), back_min=min(back, default=None),
                       back_max=max(back, default=None))
    return {"cols": cols, "rows": rows, "info": info, "stages": stages, "kernels": kernels,
            "summary": summary}


def context(b: dict, figs: list[dict]) -> dict:
    res, ana, att = b["results"], b["analysis"], b["attention"]
    models = figures.order(res["models"])
    summ = ana["summary"]
    runs = collections.defaultdict(list)
    for r in res["runs"]:
        runs[r["model"]].append(r)
    ranking = sorted(models, key=lambda m: -summ[m]["accuracy"]["mean"])

    def cmp(a: str, bb: str):
        """The pairwise row for a vs b, oriented so that diff = acc(a) - acc(b); None if absent."""
        for p in ana["pairwise"]:
            if (p["a"], p["b"]) in ((a, bb), (bb, a)):
                s = 1 if p["a"] == a else -1
                lo, hi = sorted((s * p["ci_low"], s * p["ci_high"]))
                return {"a": a, "b": bb, "diff": s * p["acc_diff"], "lo": lo, "hi": hi,
                        "p": p.get("mcnemar_p_holm", p["mcnemar_p"]),
                        "holm": "mcnemar_p_holm" in p, "sig": bool(p["significant"]),
                        "better": bool(p["significant"]) and s * p["acc_diff"] > 0,
                        "worse": bool(p["significant"]) and s * p["acc_diff"] < 0}
        return None

    timing = [{"model": m, "params": res["models"][m]["params"],
               "train": _mean(r["train_seconds"] for r in runs[m]),
               "tps": _mean(r["tokens_per_second"] for r in runs[m]),
               "eval_rps": _mean(r["eval_reviews_per_second"] for r in runs[m]),
               "best_step": _mean(r["best_step"] for r in runs[m]),
               "steps": _mean(r["steps"] for r in runs[m])} for m in models]
    samples = []
    for s in att["samples"]:
        probs = {m: s["probs"][m] for m in models if m in s["probs"]}
        votes = {p >= 0.5 for p in probs.values()}
        samples.append({**s, "spread": max(probs.values()) - min(probs.values()),
                        "disagree": len(votes) > 1, "p": probs,
                        "text": " ".join(s["tokens"][:EXCERPT])
                        + (" …" if len(s["tokens"]) > EXCERPT else "")})
    by_spread = sorted(samples, key=lambda s: (-s["spread"], str(s["id"])))
    chosen = by_spread[:N_DISAGREE]
    chosen += [s for s in reversed(by_spread[N_DISAGREE:])][:N_AGREE]
    heat = sorted(samples, key=lambda s: (len(s["tokens"]), str(s["id"])))[:N_HEAT]
    for s in heat:
        top = max(s["additive"]) or 1.0
        s["spans"] = [(tok, w, w / top) for tok, w in zip(s["tokens"], s["additive"], strict=False)]
    ledger = [{**row, "cls": verdict_class(row["verdict"])} for row in ana["ledger"]]
    faith = ana.get("faithfulness") or {}
    faith_facts = {m: {"above_random": all(t > r for t, r in zip(f["top_drop"], f["random_drop"],
                                                                  strict=True)),
                       "k_max": f["k"][-1], "top": f["top_drop"][-1], "rand": f["random_drop"][-1],
                       "rho": f.get("grad_spearman")} for m, f in faith.items()}
    buckets = ana["length"]["buckets"]
    config_rows = [(sec, k, ", ".join(map(str, v)) if isinstance(v, list) else v)
                   for sec, vals in res["config"].items() if isinstance(vals, dict)
                   for k, v in vals.items()]
    bench = b["bench"]
    best_by_metric = {k: (min if k in LOWER_IS_BETTER else max)(
        models, key=lambda m, k=k: summ[m][k]["mean"]) for k, _ in METRICS}
    base_acc = (ana["baseline"].get("test") or {}).get("accuracy")
    real = ana["negation"]["real"]
    return {
        "best_by_metric": best_by_metric,
        "above_baseline": [m for m in models if base_acc is not None
                           and summ[m]["accuracy"]["mean"] > base_acc],
        "sig_pairs": [p for p in ana["pairwise"] if p["significant"]],
        "len_first": _mean(buckets[0]["accuracy"].values()),
        "len_last": _mean(buckets[-1]["accuracy"].values()),
        "probe_rank": sorted(ana["negation"]["probes"],
                             key=lambda m: -ana["negation"]["probes"][m]["accuracy"]),
        "mean_neg_gap": _mean([real[m]["with"] - real[m]["without"] for m in real
                               if real[m]["with"] is not None and real[m]["without"] is not None]
                              or [0.0]),
        "holm": any("mcnemar_p_holm" in p for p in ana["pairwise"]),
        "baseline_label": figures.BASELINES.get(ana["baseline"].get("name"),
                                        ana["baseline"].get("name", "baseline")),
        "disagree_count": sum(s["disagree"] for s in chosen),
        "received_n": len(figures.pick_short(att, 2)),
        "mhsa_sample": figures.pick_short(att, 1)[0] if figures.pick_short(att, 1) else None,
        "res": res, "ana": ana, "att": att, "bench": bench, "bench_table": _bench(bench),
        "cfg": res["config"], "data": res["data"], "prov": res["provenance"], "models": models,
        "summ": summ, "ranking": ranking, "best": ranking[0], "worst": ranking[-1],
        "seeds": sorted({r["seed"] for r in res["runs"]}), "n_runs": len(res["runs"]),
        "metrics": METRICS, "cmp": cmp, "timing": timing, "pred_samples": chosen,
        "rule": {"disagree": N_DISAGREE, "agree": N_AGREE, "heat": N_HEAT, "excerpt": EXCERPT},
        "heat_samples": heat, "ledger": ledger,
        "verdicts": collections.Counter(r["verdict"] for r in ledger),
        "seed_claims": [r for r in ledger if r.get("source") == "seed"],
        "baseline": ana["baseline"], "neg": ana["negation"], "faith": faith,
        "faith_facts": faith_facts, "buckets": buckets, "config_rows": config_rows,
        "figs": {f["name"]: f for f in figs}, "n_test": len(b["predictions"]),
        "n_neg": int(b["predictions"]["negation"].sum()),
        "total_train": sum(r["train_seconds"] for r in res["runs"]),
        "params": {m: res["models"][m]["params"] for m in models},
        "probe_pairs": {m: sum(c.get("n_pairs", 0) for c in p.get("by_category", {}).values())
                        for m, p in ana["negation"]["probes"].items()},
    }


# ---------------------------------------------------------------- rendering

def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([str(TEMPLATES), str(PROSE)]),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             lstrip_blocks=True)
    env.filters.update(n=fmt, pts=fmt_pts, pval=fmt_p, int=fmt_int, secs=fmt_secs,
                       pct=lambda x, d=1: fmt(100 * x, d) + "%")
    env.globals.update(chip=chip, label=figures.label, color=figures.color)
    env.tests["search"] = lambda value, pattern: re.search(pattern, str(value)) is not None
    return env


def _references() -> dict:
    try:
        return tomllib.loads(REFERENCES.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise UserError(f"cannot read {REFERENCES}: {e}") from None


def render_html(ctx: dict) -> str:
    env, refs = _environment(), _references()
    template = env.get_template("report.html.j2")
    css = Markup((TEMPLATES / "report.css").read_text(encoding="utf-8"))
    prev = None
    for _ in range(2):
        reg = Registry(refs, prev)
        html = template.render(**ctx, css=css, reg=reg, h=reg.heading, num=reg.number,
                               ref=reg.ref, cite=reg.cite, refs=refs)
        prev = reg
    return html


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _side(results_dir: Path, fig_dir: Path, stages: list[str]):
    """Draw figures in a second process (python -m attnstudy.report.figures); None if impossible."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH")) if p)}
    try:
        err = tempfile.TemporaryFile("w+", encoding="utf-8")
        proc = subprocess.Popen([sys.executable, "-m", "attnstudy.report.figures", str(results_dir),
                                 str(fig_dir), *stages], env=env, stdout=subprocess.PIPE,
                                stderr=err, text=True)
    except OSError:
        return None
    proc.err = err  # type: ignore[attr-defined]
    return proc


def _join(proc, until: str | None = None) -> None:
    """Wait for the side process to print `until` (or to end); UserError if it failed."""
    if until is not None:
        for line in proc.stdout:
            if line.strip() == until:
                return
    proc.wait()
    if proc.returncode != 0:
        proc.err.seek(0)
        last = proc.err.read().strip().splitlines()[-1:] or ["no message"]
        raise UserError(f"drawing the figures failed: {last[0]}")
    if until is not None:
        raise UserError(f"drawing the figures failed: the figure process ended before {until!r}")


HEAVY = ("faithfulness", "attention-mhsa", "attention-received")  # drawn by the side process


def _figures(bundle: dict, results_dir: Path, fig_dir: Path, procs: list,
             while_waiting=None) -> list[dict]:
    """The SVGs for the report, drawn by two processes at once; the second one then draws the
    PNGs and CSVs while this one renders the PDF. Falls back to drawing everything here."""
    names = figures.available(bundle)
    theirs = [n for n in names if n in HEAVY] or names[1::2]
    mine = [n for n in names if n not in theirs]
    side = _side(results_dir, fig_dir, ["svg:" + ",".join(theirs), "png,csv:" + ",".join(names)])
    if side is None:
        mine, theirs = names, []
    else:
        procs.append(side)
    formats = ("svg",) if side else ("svg", "png", "csv")
    drawn = figures.save(figures.build(bundle, mine), fig_dir, formats=formats)
    recs = {r["name"]: r for r in drawn}
    if while_waiting:
        while_waiting()
    if side:
        _join(side, until="done 0")
    for name in theirs:
        recs[name] = _saved_figure(fig_dir, name)
    return [recs[n] for n in names]


def _saved_figure(fig_dir: Path, name: str) -> dict:
    data = (fig_dir / f"fig-{name}.svg").read_bytes()
    w, h = (float(v) for v in re.search(rb'width="([\d.]+)pt" height="([\d.]+)pt"',
                                         data).groups())
    return {"name": name, "svg_bytes": data, "aspect": h / w}


def _stamp(out_dir: Path, what: str, *inputs) -> Stamp:
    """The make-style memo of one render step for one output folder (see io.Stamp)."""
    import matplotlib

    versions = f"{matplotlib.__version__} {_version('weasyprint')} {SCHEMA}"
    return Stamp(out_dir / "cache" / "render", what, digest(versions, *inputs))  # git-ignored


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def render(results_dir: Path, out_dir: Path, pdf: bool = True) -> dict[str, Path]:
    """Validate `results_dir`, write out_dir/report.html, report.pdf (if `pdf`) and figures/*.

    Returns {"html": path, "pdf": path (if written), "figures": folder}."""
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    bundle = load_results(results_dir)
    paths = {"html": out_dir / "report.html", "figures": out_dir / "figures"}
    procs: list = []
    # Figures and PDF are redrawn only when their inputs changed (or an output was touched):
    # a re-render after a prose or template edit takes seconds.
    names = figures.available(bundle)
    fig_files = [paths["figures"] / f"fig-{n}.{e}" for n in names for e in ("svg", "png", "csv")]
    fig_stamp = _stamp(out_dir, "figures", *(results_dir / f for f in RESULT_FILES),
                       Path(figures.__file__), Path(__file__))
    try:
        drawn = not fig_stamp.current(fig_files)
        if drawn:  # the side process goes on with PNGs and CSVs while the PDF renders
            warm = (lambda: importlib.import_module("weasyprint")) if pdf else None
            figs = _figures(bundle, results_dir, paths["figures"], procs, while_waiting=warm)
        else:
            figs = [_saved_figure(paths["figures"], n) for n in names]
        for f in figs:
            f["uri"] = data_uri(f.pop("svg_bytes"), "image/svg+xml")
        html = render_html(context(bundle, figs))
        with atomic_write(paths["html"]) as f:
            f.write(html)
        if pdf:
            paths["pdf"] = out_dir / "report.pdf"
            pdf_stamp = _stamp(out_dir, "pdf", html)
            if not pdf_stamp.current([paths["pdf"]]):
                write_pdf(html, paths["pdf"])
                pdf_stamp.record([paths["pdf"]])
        for p in procs:
            _join(p)
        if drawn:
            fig_stamp.record(fig_files)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.err.close()
    return paths


def write_pdf(html: str, path: Path) -> None:
    import weasyprint  # late: slow to import and only needed here

    # data: URIs only: the PDF never asks any host for anything
    fetcher = weasyprint.URLFetcher(allowed_protocols=("data",), fail_on_errors=True)
    data = weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf()
    with atomic_write(path, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- README results block

README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"


def readme_results(results_dir: Path) -> str:
    """The README's "Results" block (markdown) computed from the results files."""
    b = load_results(results_dir)
    res, ana = b["results"], b["analysis"]
    summ = ana["summary"]
    seeds = sorted({r["seed"] for r in res["runs"]})
    lines = [f"Profile `{res['profile']}`: {len(res['models'])} models x {len(seeds)} seeds "
             f"(seeds {', '.join(map(str, seeds))}), {res['data']['rows']['test']:,} official "
             "test reviews; mean ± std over seeds. Generated by `just build` from "
             "`build/results/`.", "",
             "| model | parameters | accuracy | F1 | ROC-AUC | log loss |",
             "|---|---:|---:|---:|---:|---:|"]
    for m in figures.order(res["models"]):
        s = summ[m]
        cells = [f"{100 * s[k]['mean']:.2f} ± {100 * s[k]['std']:.2f}"
                 for k in ("accuracy", "f1", "roc_auc")]
        lines.append(f"| `{m}` | {res['models'][m]['params']:,} | " + " | ".join(cells)
                     + f" | {s['log_loss']['mean']:.3f} |")
    base = ana["baseline"]
    if base.get("test"):
        t = base["test"]
        name = figures.BASELINES.get(base.get("name"), base.get("name", "baseline"))
        lines.append(f"| {name} | | {100 * t['accuracy']:.2f} | {100 * t['f1']:.2f} | "
                     f"{100 * t['roc_auc']:.2f} | {t['log_loss']:.3f} |")
    lines += ["", "Claims ledger (verdicts computed from the measurements; rules in the report):",
              ""]
    lines += [f"- *{row['verdict']}*: {row['claim']}" for row in ana["ledger"]]
    lines += ["", "Read the paper: [build/report.html](build/report.html) (self-contained) or "
              "[build/report.pdf](build/report.pdf); figures (SVG, PNG and the CSV behind each) "
              "in [build/figures/](build/figures/); raw results in "
              "[build/results/](build/results/)."]
    return "\n".join(lines)


def update_readme(readme: Path, results_dir: Path) -> bool:
    """Replace the block between the results markers; False when the README has no markers."""
    text = readme.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    new = f"{head}{README_START}\n{readme_results(results_dir)}\n{README_END}{tail}"
    if new != text:
        with atomic_write(readme) as f:
            f.write(new)
    return True
