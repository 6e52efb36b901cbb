"""analysis.json: statistics, probes, faithfulness, attention ablations and the claims ledger, from
the results files.

Every number here is computed from results.json (runs), test_predictions.parquet (per-review
P(positive) per run), the probe file and the TF-IDF baseline. A prediction is positive when
P(positive) >= 0.5. Accuracy differences are fractions; sentences in the ledger say "points".

Pairwise comparisons use, per model, the per-review mean P(positive) over seeds thresholded at
0.5 (the seed-averaged predictor), so each review contributes one paired outcome per model; its
accuracy can differ slightly from the mean per-seed accuracy in `summary`. The accuracy
difference gets a paired bootstrap CI over reviews and McNemar's test; Holm's correction runs
over all pairs, and a pair is `significant` when the CI excludes 0 and the Holm-adjusted
McNemar p < 0.05.

Negation on real reviews is compared within the length buckets too (`negation.by_length`):
reviews with a negation cue are longer, and longer reviews are harder for every model.
"""

from __future__ import annotations

import numpy as np

from attnstudy.analysis import sections as sec
from attnstudy.analysis import seed_level
from attnstudy.analysis.attention_effects import attention
from attnstudy.analysis.claim_rules import Evidence
from attnstudy.analysis.claims import CLAIMS, ledger
from attnstudy.metrics import decide


def analyse(results: dict, predictions, probes: list, cfg, claims=CLAIMS) -> dict:
    """analysis.json's sections (summary, pairwise, baseline, length, negation, faithfulness,
    attention, seed_level, ledger); the pipeline words the ledger (report.ledger_text, from its
    facts as decided, numpy values and NaN included) and adds schema_version, config_hash and
    analysis_key.

    `results` is results.json (its `baseline` record, when present, is the TF-IDF baseline),
    `predictions` test_predictions.parquet as a DataFrame (a `baseline` column, when present,
    holds the baseline's P(positive) and makes claim 8 a paired test), `probes` the
    `load_probes()` list in the order the runs' `probes` values follow, `cfg` the resolved
    Config (or its dict form), `claims` the claims file (paper/claims.toml).
    """
    baseline = dict(results.get("baseline") or {})
    if "baseline" in predictions.columns:
        baseline["probs"] = predictions["baseline"].to_numpy(np.float64)
    n_boot = int(sec.setting(cfg, "analysis", "bootstrap_samples"))
    seed = int(sec.setting(cfg, "analysis", "seed"))
    runs = sec.runs_by_model(results, cfg)
    labels = predictions["label"].to_numpy(np.int64)
    probs = {m: sec.run_probs(predictions, rs) for m, rs in runs.items()}
    per_seed = {m: decide(p) == labels for m, p in probs.items()}  # [seeds, n]
    ens = {m: decide(p.mean(axis=0)) == labels for m, p in probs.items()}  # [n]

    pairwise = sec.pairwise(ens, n_boot, seed)
    length = sec.length(predictions, per_seed, int(sec.setting(cfg, "analysis", "length_buckets")),
                     int(sec.setting(cfg, "data", "max_len")))
    length_ens = None
    if len(length["buckets"]) >= 2:
        b0, b1 = length["buckets"][0], length["buckets"][-1]
        lens = predictions["length"].to_numpy(np.int64)
        length_ens = tuple((lens >= b["lo"]) & (lens < b["hi"]) for b in (b0, b1))
    pcorrect = sec.probe_correct(runs, probes)
    real = sec.negation_real(predictions, per_seed)
    faith = sec.faithfulness(runs)
    att = attention(runs)
    sl = seed_level.section(runs, per_seed, baseline.get("probs"), labels, claims, seed,
                            seed_level.lexicon_excess(predictions, runs))
    rows = ledger(Evidence(runs=runs, labels=labels, ens=ens, pairwise=pairwise, probes=probes,
                           pcorrect=pcorrect, negation=real, length_ens=length_ens, faith=faith,
                           baseline=baseline, n_boot=n_boot, seed=seed,
                           ablations=att["ablations"], per_seed=per_seed), claims,
                 seed_level=sl)  # v3 results: the [[v3_rules]] decide from this section
    return {**sec.clean({
        "summary": sec.summary(runs),
        "pairwise": pairwise,
        "baseline": {k: v for k, v in (baseline or {}).items() if k != "probs"},
        "length": length,
        "negation": {"real": real,
                     "by_length": sec.negation_by_length(predictions, per_seed, length["edges"],
                                                         n_boot, seed),
                     "probes": sec.negation_probes(probes, pcorrect,
                                                     sec.probe_ensemble(runs, probes))},
        "faithfulness": faith,
        "attention": att,
        "seed_level": sl,
    }), "ledger": rows}  # as decided: report.ledger_text words them, then makes them JSON-safe
