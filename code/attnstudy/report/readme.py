"""The README's generated blocks (markdown), from the results files: the models the study
compares and how their settings were set (between the models markers), and the results (between
the results markers).

    update_readme(Path("README.md"), Path("build/results"))  ->  True if the markers were found
"""

from __future__ import annotations

from pathlib import Path

from attnstudy.files import atomic_write
from attnstudy.report import fmt, results
from attnstudy.report.style import baseline_label, order
from attnstudy.report.style import setting_label as _label

START, END = "<!-- results:start -->", "<!-- results:end -->"
MODELS_START, MODELS_END = "<!-- models:start -->", "<!-- models:end -->"
# What each model aggregates into one vector, and the question it is there for.
ROLES = {
    "bilstm": ("BiLSTM + masked max-pool", "no attention"),
    "additive": ("BiLSTM + additive (Bahdanau) attention", "single-head attention"),
    "mhsa": ("BiLSTM + multi-head QKV self-attention + masked mean-pool", "multi-head attention"),
    "bilstm_matched": ("`bilstm` + a dense layer, parameters within 1% of `mhsa`",
                       "control: size, not attention"),
    "transformer": ("embedding + positions -> Transformer encoder blocks",
                    "control: attention without recurrence"),
    "bilstm_mean": ("BiLSTM + masked mean-pool (= additive attention with uniform weights)",
                    "control: learned weights vs uniform"),
    "embed_additive": ("token embeddings + additive attention, no BiLSTM",
                       "non-contextual arm: attention over words no recurrence has mixed"),
    "embed_mean": ("token embeddings + masked mean-pool, no BiLSTM",
                   "non-contextual control: uniform weights"),
}
NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
           "eleven", "twelve")
# the settings a sweep may choose or a config may set per model: (setting, config section,
# per-model table or None)
TUNABLE = (("max_len", "data", None), ("learning_rate", "train", "learning_rate_by_model"),
           ("embed_dropout", "model", "embed_dropout_by_model"))


def models_block(results_dir: Path) -> str:
    """The README's opening sentence and table of models, for the models the results hold."""
    return _models_block(results.load(results_dir))


def _and(words: list[str]) -> str:
    return ", ".join(words[:-1]) + (" and " if len(words) > 1 else "") + words[-1]


def _models_block(b: dict) -> str:
    """What is the same for every model, what each model sets on its own, and which of these
    the sweep chose on validation: a sweep stage's scope decides shared or per model, a
    per-model table of the config does so for a setting no stage chose."""
    res = b["results"]
    cfg = res["config"]
    models = order(res["models"])
    stages = {st["setting"]: st for st in (b.get("sweep") or {}).get("stages", [])}
    same, chosen, chosen_own, own = [], [], [], []
    for setting, section, table in TUNABLE:
        label, st = _label(setting), stages.get(setting)
        if st is not None and st.get("scope") == "per_model":
            whose = set(st.get("models") or models) >= set(models)
            chosen_own.append((label, whose))
        elif st is not None:
            same.append(label)
            chosen.append(label)
        elif table and cfg[section].get(table):
            own.append((label, set(dict(cfg[section][table])) >= set(models)))
        else:
            same.append(label)

    def each(pairs):  # "each model's own a and b", or "some models' own" for a partial table
        whose = {True: "each model's own", False: "some models' own"}
        return ", ".join(f"{whose[every]} {_and([label for label, e in pairs if e == every])}"
                         for every in (True, False) if any(e == every for _, e in pairs))

    said = f"same {', '.join(['embedding', 'vocabulary', 'optimizer', *same, 'step budget'])} " \
           "and seeds"
    if chosen or chosen_own:
        what = ", and ".join(x for x in (_and(chosen) if chosen else "", each(chosen_own)) if x)
        said += f"; {what}{',' if chosen and chosen_own else ''} chosen on the validation " \
                "split by one declared procedure"
    if own:
        said += f"; set in the experiment config: {each(own)}"
    arm = [m for m in models if m.startswith("embed_")]
    lines = [f"{NUMBERS[len(models)].capitalize() if len(models) < len(NUMBERS) else len(models)}"
             f" IMDb sentiment classifiers are trained on a CPU under identical conditions "
             f"({said}) and {'otherwise ' * bool(chosen_own or own)}differ only in how they turn "
             "the per-token states into one vector"
             + (f"; the non-contextual arm ({', '.join(f'`{m}`' for m in arm)}) pools the token "
                "embeddings themselves, which no recurrence or self-attention has mixed"
                if arm else "")
             + ":", "", "| model | aggregation | role |", "|---|---|---|"]
    for m in models:
        what, role = ROLES.get(m, (res["models"][m].get("description", ""), ""))
        lines.append(f"| `{m}` | {what} | {role} |")
    return "\n".join(lines)


def results_block(results_dir: Path) -> str:
    """The README's "Results" block (markdown) computed from the results files."""
    return _results_block(results.load(results_dir))


def _results_block(b: dict) -> str:
    res, ana = b["results"], b["analysis"]
    summ = ana["summary"]
    seeds = sorted({r["seed"] for r in res["runs"]})
    sweep = b.get("sweep") or {}
    chosen = sweep.get("chosen") or {}  # {model: {setting: value}}, on validation
    stages = [(st["setting"], st.get("scope")) for st in sweep.get("stages", [])
              if any(st["setting"] in (chosen.get(m) or {}) for m in res["models"])]
    lines = [f"Profile `{res['profile']}`: {len(res['models'])} models x {len(seeds)} seeds "
             f"(seeds {', '.join(map(str, seeds))}), {res['data']['rows']['test']:,} official "
             "test reviews; mean ± std over seeds. Generated by `just build` from "
             "`build/results/`.", "",
             "| model | parameters | accuracy | F1 | ROC-AUC | log loss |"
             + "".join(f" {_label(k)} |" for k, _ in stages),
             "|---|---:|---:|---:|---:|---:|" + "---:|" * len(stages)]
    for m in order(res["models"]):
        s = summ[m]
        cells = [f"{100 * s[k]['mean']:.2f} ± {100 * s[k]['std']:.2f}"
                 for k in ("accuracy", "f1", "roc_auc")]
        lines.append(f"| `{m}` | {res['models'][m]['params']:,} | " + " | ".join(cells)
                     + f" | {s['log_loss']['mean']:.3f} |"
                     + "".join(f" {(chosen.get(m) or {}).get(k, '')} |" for k, _ in stages))
    base = ana["baseline"]
    base_name = baseline_label(base.get("name"))
    if base.get("test"):
        t = base["test"]
        lines.append(f"| {base_name} | | {100 * t['accuracy']:.2f} | "
                     f"{100 * t['f1']:.2f} | {100 * t['roc_auc']:.2f} | {t['log_loss']:.3f} |"
                     + " |" * len(stages))
    if stages:
        shared = [_label(k) for k, scope in stages if scope == "shared"]
        own = [_label(k) for k, scope in stages if scope != "shared"]
        said = [f"{' and '.join(shared)} shared by all models"] * bool(shared) + \
            [f"{' and '.join(own)} per model"] * bool(own)
        lines += ["", f"Settings chosen on the validation split by the declared sweep "
                  f"(`paper/sweep_v3.toml`): {'; '.join(said)}. Every grid point is in "
                  "`build/results/sweep.json` and the report."]
    lines += _seed_level(ana.get("seed_level"), base_name)
    lines += ["", "Claims ledger (verdicts computed from the measurements; rules in the report):",
              ""]
    lines += [f"- *{row['verdict']}*: {row['claim']}" for row in ana["ledger"]]
    lines += ["", "Read the paper: [build/report.html](build/report.html) (self-contained) or "
              "[build/report.pdf](build/report.pdf); figures (SVG, PNG and the CSV behind each) "
              "in [build/figures/](build/figures/); raw results in "
              "[build/results/](build/results/)."]
    return "\n".join(lines)


def _seed_level(sl: dict | None, base_name: str) -> list[str]:
    """The headline comparisons (every pair with a reason beyond "model pair"): difference of
    per-seed mean accuracies, its interval over seeds and test reviews, and the verdict; an
    equivalence is decided on the TOST interval, which is shown beside it."""
    rows = [p for p in (sl or {}).get("pairs", []) if set(p["why"]) - {"model pair"}]
    if not rows:
        return []
    spread = (sl.get("rerun_spread") or {}).get("max")
    out = ["", "Headline comparisons: difference of per-seed mean accuracies in points, its "
           f"{100 * rows[0]['ci_level']:g}% interval over seeds and test reviews, and the "
           f"verdict (better, worse, equivalent within ±{100 * sl['margin']:g} points by a "
           "TOST, or inconclusive):", ""]
    for p in rows:
        a, b = (f"`{m}`" if m != "baseline" else base_name for m in (p["a"], p["b"]))
        why, d = "", fmt.apart(p["diff"], spread) if p.get("noise") and spread else 2
        if p["verdict"] == "equivalent" and p.get("tost"):
            t = p["tost"]
            why = (f" (TOST {100 * t['ci_level']:g}% interval [{100 * t['ci_low']:+.2f}, "
                   f"{100 * t['ci_high']:+.2f}], p = {t['p']:.3f})")
        elif p.get("noise") and spread:
            why = f" (within the {100 * spread:.{d}f}-point rerun spread)"
        out.append(f"- {a} − {b}: {100 * p['diff']:+.{d}f} [{100 * p['ci_low']:+.2f}, "
                   f"{100 * p['ci_high']:+.2f}], *{p['verdict']}*{why}")
    return out


def _replace(text: str, start: str, end: str, block: str) -> str:
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{block}\n{end}{tail}"


def update_readme(readme: Path, results_dir: Path) -> bool:
    """Replace the blocks between the results markers and between the models markers; False,
    and the README left as it is, when it lacks either pair."""
    text = readme.read_text(encoding="utf-8")
    if any(mark not in text for mark in (START, END, MODELS_START, MODELS_END)):
        return False
    b = results.load(results_dir)
    new = _replace(text, MODELS_START, MODELS_END, _models_block(b))
    new = _replace(new, START, END, _results_block(b))
    if new != text:
        with atomic_write(readme) as f:
            f.write(new)
    return True
