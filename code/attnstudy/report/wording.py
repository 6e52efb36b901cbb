"""Facts that decide how a sentence of the report is worded, each from the records it rests on.

    protocol(results)               -> how runs were trained and their checkpoints chosen
    faithfulness(results, analysis) -> per attention model: the k where erasure beats random in
                                       every seed, the Spearman rho with its CI over seeds and the
                                       ledger's grade for it
    recurrence(ledger)              -> the model pair the ledger's recurrence claim compares
    baseline_gap(results, analysis, sweep, best)
                                    -> the best model against the TF-IDF baseline and the
                                       measured differences of input and budget between them
    rerun_spread(path)              -> paper/rerun_spread.toml: how far a rerun on another
                                       machine moved the published accuracies

The templates pick their words from these values: a sentence such as "agrees with gradient
importance" or "more than random" appears only when its interval says so.
"""

from __future__ import annotations

import collections
from pathlib import Path

from attnstudy.config import ROOT
from attnstudy.errors import UserError
from attnstudy.stats import verdicts
from attnstudy.stats.intervals import mean_ci

RERUN_SPREAD = ROOT / "paper" / "rerun_spread.toml"
# train.select -> the checkpoint it picks, for "the checkpoint with ..." (runs before it was
# recorded selected on the validation loss)
SELECT = {"val_loss": "the lowest validation loss",
          "val_accuracy": "the highest validation accuracy (ties go to the lower validation "
                          "loss)"}
SELECT_SHORT = {"val_loss": "lowest validation loss", "val_accuracy": "highest validation accuracy"}


def protocol(res: dict) -> dict:
    """The training budget and checkpoint choice as the runs record them.

    `select`: the criteria used (runs without the field selected on val_loss); `epochs_min/max`:
    training examples seen / training rows (computed from steps for runs that predate the field);
    `at_last`: runs whose selected checkpoint is their last validation point (still improving by
    the criterion when the budget ran out); `budget_binds`: such runs exist or a run saw less
    than one epoch, which is when the report lists the small budget as a limitation."""
    runs = res["runs"]
    rows, batch = res["data"]["rows"]["train"], res["config"]["train"]["batch_size"]
    selects = list(dict.fromkeys(r.get("select") or "val_loss" for r in runs))
    unknown = [s for s in selects if s not in SELECT]
    if unknown:
        raise UserError(f"results.json: runs select their checkpoint by {unknown[0]!r}, which "
                        f"the report cannot describe (known: {', '.join(SELECT)})")
    epochs = [r["epochs"] if r.get("epochs") is not None else r["steps"] * batch / rows
              for r in runs]
    at_last = [r for r in runs if r["curve"] and r["best_step"] == r["curve"][-1]["step"]]
    return {"select": selects, "phrase": " or ".join(SELECT[s] for s in selects),
            "short": " or ".join(SELECT_SHORT[s] for s in selects),
            "epochs_min": min(epochs), "epochs_max": max(epochs),
            "steps": sorted({r["steps"] for r in runs}), "n_runs": len(runs),
            "at_last": len(at_last),
            "at_last_models": list(dict.fromkeys(r["model"] for r in at_last)),
            "stopped": collections.Counter(r.get("stopped") for r in runs if r.get("stopped")),
            "budget_binds": bool(at_last) or min(epochs) < 1}


def faithfulness(res: dict, ana: dict, ledger: list[dict]) -> dict:
    """Per model with faithfulness records, what may be said about it.

    Erasure: per k, `above[i]` seeds whose bootstrap CI of (top - random) change lies above 0
    (analysis' seeds_top_above_random, else counted from the runs); `k_all` the k where that holds
    in every seed, `k_some` the others as (k, seeds). Gradients: `rho` (mean over seeds) with its
    Student-t 95% CI over seeds, and `rho_grade`: "none" when the CI includes 0 (or one seed), else
    the ledger faithfulness claim's grade ("strong" >= spearman_strong, "weak" >= spearman_weak,
    else "negligible"), or "positive"/"negative" when no ledger row gives thresholds."""
    rule = next((r for r in ledger if r.get("kind") == "faithfulness"), None)
    th = (rule or {}).get("thresholds") or {}
    out = {}
    for m, f in (ana.get("faithfulness") or {}).items():
        recs = [r["faithfulness"] for r in res["runs"] if r["model"] == m and r.get("faithfulness")]
        n = f.get("n_seeds") or len(recs)
        above = f.get("seeds_top_above_random") or [
            sum(r["drop_diff_ci_low"][i] > 0 for r in recs) for i in range(len(f["k"]))]
        rhos = [r["grad_spearman"] for r in recs if r.get("grad_spearman") is not None]
        ci = mean_ci(rhos) if rhos else None
        grade = None
        if ci is not None:
            if len(rhos) < 2 or ci["ci_low"] <= 0 <= ci["ci_high"]:
                grade = "none"
            elif {"spearman_strong", "spearman_weak"} <= set(th):
                grade = ("strong" if ci["mean"] >= th["spearman_strong"] else "weak"
                         if ci["mean"] >= th["spearman_weak"] else "negligible")
            else:
                grade = "positive" if ci["mean"] > 0 else "negative"
        out[m] = {"k": f["k"], "n_seeds": n, "above": list(above),
                  "k_all": [k for k, a in zip(f["k"], above, strict=True) if n and a == n],
                  "k_some": [(k, a) for k, a in zip(f["k"], above, strict=True) if a != n],
                  "k_max": f["k"][-1], "top": f["top_drop"][-1], "rand": f["random_drop"][-1],
                  "rho": f.get("grad_spearman") if ci is None else ci["mean"],
                  # a correlation's interval ends at +-1 (the t-interval does not know that)
                  "rho_lo": ci and max(ci["ci_low"], -1.0),
                  "rho_hi": ci and min(ci["ci_high"], 1.0),
                  "rho_seeds": len(rhos), "rho_grade": grade,
                  "rho_strong": th.get("spearman_strong"), "rho_weak": th.get("spearman_weak"),
                  "ledger": rule if rule and (rule.get("facts") or {}).get("model") == m
                  else None}
    return out


def recurrence(ledger: list[dict]) -> dict:
    """The pair the ledger's recurrence claim compares (with recurrence, without), its row."""
    row = next((r for r in ledger if r.get("id") == "recurrence-matters"), None)
    pairs = ((row or {}).get("facts") or {}).get("pairs") or [{"a": "mhsa", "b": "transformer"}]
    return {"with": pairs[0]["a"], "without": pairs[0]["b"], "claim": row}


def rerun_spread(path: Path | None = None) -> dict | None:
    """paper/rerun_spread.toml (or `path`) with `diffs` {model: rerun - published}, `max` (the
    largest |diff|, a fraction) and `worst` (its model); None without the file. Read by
    attnstudy.stats.verdicts.rerun_spread, which the analysis' seed-level verdicts use too."""
    return verdicts.rerun_spread(path or RERUN_SPREAD)


def baseline_gap(res: dict, ana: dict, sweep: dict | None, best: str,
                 cmp: dict | None) -> dict | None:
    """The most accurate model (`best`, by mean test accuracy) against the baseline (`cmp`: the
    headline comparison of the pair, None if not recorded), and, when it is less accurate (by
    `cmp`'s verdict, else by the means), what separates their inputs and budgets as recorded:
    `clauses` lists those with records, in order: "length" (the review length, the share of
    test reviews it cuts; the sweep's mean validation accuracy of its length models at each
    length, and whether it rose at every step), "vocabulary" (test tokens outside the models'
    vocabulary), "budget" (the best model's runs whose selected checkpoint is their last
    validation point). None without a baseline score."""
    base = (ana.get("baseline") or {}).get("test") or {}
    if base.get("accuracy") is None:
        return None
    data, cfg = res["data"], res["config"]
    stage = next((st for st in (sweep or {}).get("stages", []) if st["setting"] == "max_len"
                  and st.get("scope") == "shared" and st.get("choices")), None)
    lengths = []
    if stage:
        scores = next(iter(stage["choices"].values())).get("scores") or {}
        lengths = sorted((int(float(k)), v) for k, v in scores.items() if v is not None)
    best_acc = ana["summary"][best]["accuracy"]["mean"]
    runs = [r for r in res["runs"] if r["model"] == best]
    at_last = protocol({**res, "runs": runs})["at_last"] if runs else 0  # the best model's
    clauses = [name for name, recorded in (
        ("length", (data.get("truncated_share") or {}).get("test") is not None),
        ("vocabulary", None not in (data.get("unk_rate_test"), data.get("vocab_size"))),
        ("budget", at_last > 0)) if recorded]
    return {"best": best, "best_accuracy": best_acc, "baseline_accuracy": base["accuracy"],
            "below": cmp["worse"] if cmp else best_acc < base["accuracy"],
            "max_len": cfg["data"]["max_len"],
            "head_tail": cfg["data"].get("truncation") == "head_tail",
            "truncated_test": (data.get("truncated_share") or {}).get("test"),
            "unk_test": data.get("unk_rate_test"), "vocab": data.get("vocab_size"),
            "features": ana["baseline"].get("features"), "lengths": lengths,
            "length_models": list(stage["models"]) if stage else [],
            "sweep_seed": (sweep or {}).get("seed"),
            "length_rising": len(lengths) > 1 and all(
                b[1] > a[1] for a, b in zip(lengths, lengths[1:], strict=False)),
            "length_at_top": bool(lengths) and cfg["data"]["max_len"] == lengths[-1][0],
            "at_last": at_last, "n_runs": len(runs), "clauses": clauses}
