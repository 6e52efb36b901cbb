"""The study end to end: train and evaluate every run (pipeline.runs), the TF-IDF baseline
(analysis.baseline), then write `build/results/`: results.json, test_predictions.parquet,
attention.json, the published weights (pipeline.publish) and analysis.json (analysis.analyse,
its ledger worded by report.ledger_text).

Each output has one key that covers everything it reads: `build_key` (results.json and the files
written with it: the runs and their evaluations, the baseline, the weights, this code, the
libraries that write them) and `analysis_key` (analysis.json: the other results files, the probe
and claims files, the ledger's wording, the analysis code).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

from attnstudy.config import MODEL_DESCRIPTIONS, ROOT, Config, same_experiment
from attnstudy.data import imdb
from attnstudy.data.encode import Dataset, load_dataset, summary
from attnstudy.files import atomic_write, read_json, write_json
from attnstudy.keys import cache_key, file_digest
from attnstudy.pipeline import cache, runs
from attnstudy.pipeline.cache import CACHE, eval_dir, results_dir
from attnstudy.provenance import now, provenance
from attnstudy.schema import RESULT_FILES, SCHEMA_VERSION
from attnstudy.stats.verdicts import RERUN_SPREAD  # the seed-level verdicts read it

BASELINE_CODE = ("attnstudy.analysis.baseline", "attnstudy.data.text", "attnstudy.metrics")
BASELINE_PACKAGES = ("numpy", "scipy", "scikit-learn")
# What writes results.json and its companions beyond the runs, their evaluations and the
# baseline (whose keys the build key holds): the run records, the weights, the model table.
RESULTS_CODE = ("attnstudy.pipeline.results", "attnstudy.pipeline.runs",
                "attnstudy.pipeline.publish", "attnstudy.config")
RESULTS_PACKAGES = ("jax", "jaxlib", "flax", "numpy", "pandas", "pyarrow")
ANALYSIS_CODE = ("attnstudy.analysis.analyse", "attnstudy.analysis.sections",
                 "attnstudy.analysis.attention_effects", "attnstudy.analysis.seed_level",
                 "attnstudy.stats.equivalence", "attnstudy.stats.verdicts",
                 "attnstudy.analysis.claims", "attnstudy.analysis.claim_rules",
                 "attnstudy.analysis.claim_rules_v3",
                 "attnstudy.stats.bootstrap", "attnstudy.stats.intervals", "attnstudy.stats.tests",
                 "attnstudy.stats.paired",
                 "attnstudy.metrics", "attnstudy.data.probes", "attnstudy.report.ledger_text")
CLAIMS = ROOT / "paper" / "claims.toml"
LEDGER = ROOT / "paper" / "prose" / "ledger.txt.j2"  # the ledger's rule and result wording


# ----------------------------------------------------------------------------- keys

def baseline_key(cfg: Config, fingerprint: str) -> str:
    return cache_key("baseline", dataclasses.asdict(cfg.data), BASELINE_CODE,
                     packages=BASELINE_PACKAGES, extra=fingerprint)


def build_key(cfg: Config, fingerprint: str) -> str:
    """Identifies a complete results set: config, every run and its evaluation (whose key holds
    the probe file's digest), the baseline, the code that writes them and its libraries."""
    names = [cache.run_dir(cfg, m, s, fingerprint).name
             for m in cfg.train.models for s in cfg.train.seeds]
    return cache_key("results", cfg.section_hash(), RESULTS_CODE, packages=RESULTS_PACKAGES,
                     extra=[SCHEMA_VERSION, names, cache.eval_key(cfg),
                            baseline_key(cfg, fingerprint)])


def analysis_key(cfg: Config, out: Path) -> str:
    """analysis.json is derived from the other results files alone; redone when this changes.

    The config enters through results.json (which records it, and which frozen results share
    with `cfg` by `same_experiment`), so a setting added to the code later changes nothing."""
    return cache_key("analysis", None, ANALYSIS_CODE, packages=("numpy", "scipy",
                     "scikit-learn", "pandas", "jinja2"),
                     extra=[file_digest(out / "results.json"),
                            file_digest(out / "test_predictions.parquet"),
                            cache.probes_digest(), file_digest(CLAIMS), file_digest(LEDGER),
                            _digest_or_none(RERUN_SPREAD)])


def _digest_or_none(path: Path) -> str | None:
    """The seed-level verdicts read the rerun spread when the file exists."""
    return file_digest(path) if path.is_file() else None


# ----------------------------------------------------------------------------- steps

def baseline(cfg: Config, ds: Dataset) -> dict:
    """TF-IDF + logistic regression on the same train/test rows (cached)."""
    from attnstudy.analysis.baseline import tfidf_logreg

    path = CACHE / "baseline" / f"{baseline_key(cfg, ds.fingerprint)}.json"
    if path.exists():
        return read_json(path)
    train_texts = imdb.load_texts(ds.train.row_ids, "train")
    test = ds.final_test()
    test_texts = imdb.load_texts(test.row_ids, "test")
    out = tfidf_logreg(train_texts, ds.train.labels, test_texts, test.labels)
    out["probs"] = [round(float(p), 6) for p in out["probs"]]  # same rows as the test split
    write_json(path, out)
    return out


def refresh_analysis(cfg: Config, out: Path) -> bool:
    """(Re)write out/analysis.json when its key changed; True when it did. Needs no data."""
    import pandas as pd

    from attnstudy.analysis.analyse import analyse
    from attnstudy.data.probes import load_probes
    from attnstudy.report.ledger_text import worded

    key = analysis_key(cfg, out)
    try:
        if read_json(out / "analysis.json").get("analysis_key") == key:
            return False
    except (OSError, ValueError):
        pass
    results = read_json(out / "results.json")
    preds = pd.read_parquet(out / "test_predictions.parquet")
    analysed = worded(analyse(results, preds, load_probes(), results["config"]))  # as recorded
    write_json(out / "analysis.json", {"schema_version": SCHEMA_VERSION,
                                       "config_hash": results["config_hash"],
                                       "analysis_key": key, **analysed})
    return True


def results_current(cfg: Config, fingerprint: str, out: Path) -> bool:
    """True when `out` already holds the complete results of this config and code."""
    try:
        done = read_json(out / "results.json").get("build_key") == build_key(cfg, fingerprint)
    except (OSError, ValueError):
        return False
    if done and all((out / f).exists() for f in RESULT_FILES):
        refresh_analysis(cfg, out)
        return True
    return False


def frozen(cfg: Config, out: Path) -> dict | None:
    """results.json of a complete published set made with this experiment config, else None.

    The full profile's committed results stay frozen (as Quarto's freeze) when only code has
    changed since they were made: retraining them takes hours, and `--retrain` asks for it.
    """
    if cfg.profile != "full":
        return None
    try:
        res = read_json(out / "results.json")
    except (OSError, ValueError):
        return None
    complete = all((out / f).exists() for f in RESULT_FILES)
    return res if complete and same_experiment(res.get("config", {}), cfg) else None


def write_results(cfg: Config, out: Path | None = None, n_workers: int | None = None,
                  retrain: bool = False, executor=None) -> Path:
    """Train what is stale, then write every results file for the profile's config.

    Nothing is recomputed when `out` is already current, or (full profile, without `retrain`)
    when it holds published results of the same experiment config: the report then re-renders
    in seconds.
    """
    started = now()
    out = out or results_dir(cfg)
    local = imdb.data_dir_from_env()
    if local is not None and results_current(cfg, cache.local_fingerprint(local), out):
        return out  # checked from file checksums alone: a fresh clone need not encode the data
    published = None if retrain else frozen(cfg, out)
    if published is not None:
        if published.get("build_key") != build_key(cfg, published["data"]["fingerprint"]):
            made = sorted({(r.get("provenance") or {}).get("git_commit", "")[:7]
                           for r in published["runs"]} - {""})
            when = f"trained at {', '.join(made)}" if made else "trained before runs recorded it"
            print(f"attnstudy: the published results in {out} ({when}) stay frozen though the "
                  "code changed since; `just retrain` retrains them", file=sys.stderr)
        refresh_analysis(cfg, out)
        return out
    ds = load_dataset(cfg.data)
    if results_current(cfg, ds.fingerprint, out):
        return out
    import jax  # heavy imports only when there is something to compute
    import pandas as pd

    from attnstudy.models.classifiers import build_model, init_params, param_count
    from attnstudy.pipeline.publish import WEIGHTS, export_weights

    records = runs.run_all(cfg, n_workers=n_workers, executor=executor)
    config_hash = cfg.section_hash()
    model_info = {}
    for name in cfg.train.models:
        model = build_model(name, cfg.model, len(ds.vocab), cfg.data.max_len)
        # the parameters' shapes, traced (eval_shape) rather than computed: seconds per model
        shapes = jax.eval_shape(lambda m=model: init_params(m, 0, cfg.data.max_len))
        model_info[name] = {"params": param_count(shapes), "description": MODEL_DESCRIPTIONS[name]}
    data = summary(ds, cfg.data.max_len)
    data.update(fingerprint=ds.fingerprint, checksums=ds.checksums, grouping=ds.grouping)
    test = ds.final_test()
    preds = pd.DataFrame({"id": test.row_ids.astype(str), "label": test.labels.astype(int),
                          "length": test.full_lengths.astype(int),
                          "negation": test.negation.astype(bool)})
    for r in records:
        edir = eval_dir(cfg, r["model"], r["seed"], ds.fingerprint)
        preds[f"{r['model']}/seed{r['seed']}"] = np.load(edir / "test_probs.npy")
    lexicon_columns(preds, records, lambda r: eval_dir(cfg, r["model"], r["seed"],
                                                       ds.fingerprint) / cache.LEXICON)
    results = {"schema_version": SCHEMA_VERSION, "profile": cfg.profile, "config": cfg.to_dict(),
               "config_hash": config_hash, "build_key": build_key(cfg, ds.fingerprint),
               "data": data, "models": model_info, "runs": records}
    attention = attention_file(cfg, ds, config_hash)
    base = baseline(cfg, ds)
    preds["baseline"] = np.asarray(base["probs"], np.float64)  # the analysis reads it here
    results["baseline"] = {k: v for k, v in base.items() if k != "probs"}
    results["provenance"] = provenance(started)
    out.mkdir(parents=True, exist_ok=True)
    results["weights"] = export_weights(
        cfg, out / WEIGHTS, lambda m, s: cache.load_best_params(cfg, m, s, ds.fingerprint),
        ds.vocab)
    with atomic_write(out / "test_predictions.parquet", "wb") as f:
        preds.to_parquet(f, index=False)
    write_json(out / "attention.json", attention)
    write_json(out / "results.json", results)  # the runs are complete once this is replaced
    refresh_analysis(cfg, out)
    return out


def lexicon_columns(preds, records: list[dict], path) -> None:
    """Add each attention run's per-review lexicon mass (`<model>/seed<k>/lexicon_mass`) and
    the reviews' lexicon token share (`lexicon_share`, one column: it depends on the review and
    the vocabulary only) to the predictions table; `path(record)` is the run's lexicon.npy."""
    for r in records:
        if not path(r).exists():
            continue  # a model without attention weights
        mass, share = np.load(path(r))
        if "lexicon_share" not in preds:
            preds["lexicon_share"] = share
        elif not np.array_equal(preds["lexicon_share"].to_numpy(), share):
            raise RuntimeError(f"{r['model']} seed {r['seed']}: lexicon token shares differ "
                               "between runs of one vocabulary")
        preds[f"{r['model']}/seed{r['seed']}/lexicon_mass"] = mass


def attention_file(cfg: Config, ds: Dataset, config_hash: str) -> dict:
    """attention.json: the sampled reviews with the first seed's attention per model."""
    from attnstudy.evaluation.evaluate import attention_rows

    seed = cfg.train.seeds[0]
    test = ds.final_test()
    rows = attention_rows(cfg, test)
    dumps = {m: read_json(eval_dir(cfg, m, seed, ds.fingerprint) / "attention.json")
             for m in cfg.train.models}
    samples = []
    for i, r in enumerate(rows):
        n = int(test.lengths[r])
        s = {"id": str(test.row_ids[r]), "label": int(test.labels[r]),
             "tokens": [ds.vocab[t] for t in test.ids[r, :n]],
             "probs": {m: dumps[m][i]["prob"] for m in dumps},
             "additive": dumps["additive"][i]["weights"] if "additive" in dumps else None,
             "mhsa_received": dumps["mhsa"][i]["received"] if "mhsa" in dumps else None,
             "mhsa": dumps["mhsa"][i]["matrix"] if "mhsa" in dumps else None}
        samples.append(s)
    return {"schema_version": SCHEMA_VERSION, "config_hash": config_hash, "seed": seed,
            "samples": samples}
