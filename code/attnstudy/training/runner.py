"""The runner: train every model x seed of a profile (reusing finished runs), evaluate, and dump
`build/results/` (results.json, test_predictions.parquet, attention.json, analysis.json).

Caches (all keyed by `attnstudy.keys.cache_key`: config values, code, library versions):

    build/cache/runs/<model>-seed<k>-<run key>/         one trained run
        checkpoint.msgpack                              resume state while it trains
        best_params.msgpack, trained.json               its best parameters and training record
        eval-<eval key>/result.json, test_probs.npy, attention.json    its measurements
    build/cache/baseline/<key>.json                     the TF-IDF baseline

Finished runs are never recomputed; unfinished ones resume from their last checkpoint; an
evaluation is redone from the saved parameters when evaluation code or settings change.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from attnstudy.config import BUILD, MODEL_DESCRIPTIONS, ROOT, Config, output_dir, same_experiment
from attnstudy.data import imdb
from attnstudy.data.encode import Dataset, load_dataset, summary
from attnstudy.data.probes import DEFAULT_PATH as PROBES_PATH
from attnstudy.files import atomic_write, read_json, write_json
from attnstudy.keys import cache_key, file_digest
from attnstudy.provenance import now, provenance
from attnstudy.schema import RESULT_FILES, SCHEMA_VERSION
from attnstudy.training import workers
from attnstudy.training.checkpoints import BEST, CHECKPOINT, TRAINED, load_params, save_params

CACHE = BUILD / "cache"
LOGS = BUILD / "logs"
# The modules whose code decides a trained run's parameters, and its measurements.
TRAIN_CODE = ("attnstudy.data.encode", "attnstudy.data.imdb", "attnstudy.data.text",
              "attnstudy.data.batches", "attnstudy.models.lstm", "attnstudy.models.classifiers",
              "attnstudy.models.inference", "attnstudy.models.attention",
              "attnstudy.models.precision", "attnstudy.training.loop", "attnstudy.metrics")
EVAL_CODE = ("attnstudy.evaluation.evaluate", "attnstudy.evaluation.faithfulness",
             "attnstudy.evaluation.ablations", "attnstudy.evaluation.attention_stats",
             "attnstudy.data.probes", "attnstudy.analysis.stats", "attnstudy.metrics",
             "attnstudy.models.inference")
BASELINE_CODE = ("attnstudy.analysis.baseline", "attnstudy.data.text", "attnstudy.metrics")
ANALYSIS_CODE = ("attnstudy.analysis.analyse", "attnstudy.analysis.sections",
                 "attnstudy.analysis.attention",
                 "attnstudy.analysis.claims", "attnstudy.analysis.claim_rules",
                 "attnstudy.analysis.stats", "attnstudy.metrics", "attnstudy.data.probes")
CLAIMS = ROOT / "paper" / "claims.toml"
LEDGER = ROOT / "paper" / "prose" / "ledger.txt.j2"  # the ledger's rule and result wording


# ----------------------------------------------------------------------------- keys and folders

def run_key(cfg: Config, name: str, seed: int, fingerprint: str) -> str:
    train = {k: v for k, v in dataclasses.asdict(cfg.train).items() if k not in ("models", "seeds")}
    return cache_key("run", {"data": dataclasses.asdict(cfg.data),
                             "model": dataclasses.asdict(cfg.model), "train": train,
                             "name": name, "seed": seed}, TRAIN_CODE, extra=fingerprint)


def run_dir(cfg: Config, name: str, seed: int, fingerprint: str) -> Path:
    return CACHE / "runs" / f"{name}-seed{seed}-{run_key(cfg, name, seed, fingerprint)}"


def eval_key(cfg: Config) -> str:
    """Evaluation is redone (from the saved parameters, not retrained) when this changes."""
    return cache_key("evaluation", {"analysis": dataclasses.asdict(cfg.analysis),
                                    "eval_batch_size": cfg.train.eval_batch_size},
                     EVAL_CODE, extra=file_digest(PROBES_PATH), length=12)


def eval_dir(cfg: Config, name: str, seed: int, fingerprint: str) -> Path:
    return run_dir(cfg, name, seed, fingerprint) / f"eval-{eval_key(cfg)}"


def load_best_params(cfg: Config, name: str, seed: int, fingerprint: str):
    """Best-validation parameters of a finished run, or None."""
    return load_params(run_dir(cfg, name, seed, fingerprint) / BEST)


# ----------------------------------------------------------------------------- one run

def train_one(cfg: Config, name: str, seed: int, ds: Dataset, probe_texts: list[str],
              position: str = "", report=None) -> dict:
    """Train (or resume) and evaluate one run; returns its record (`report(step, point)`
    hears of each validation point, for a driver elsewhere that draws the progress bar).

    Two cache levels: the trained run (best parameters and training record; retrained only when
    data/model/training code or config change) and its evaluation folder (measurements, keyed
    by the evaluation key; redone from the saved parameters when evaluation changes).
    """
    from attnstudy.evaluation import evaluate

    rdir, edir = run_dir(cfg, name, seed, ds.fingerprint), eval_dir(cfg, name, seed, ds.fingerprint)
    done = edir / "result.json"
    if done.exists():
        return read_json(done)
    trained = _train(cfg, name, seed, ds, rdir, position, report)
    params = load_params(rdir / BEST)
    record, probs, dump = evaluate.evaluate_run(cfg, name, seed, ds, params, probe_texts)
    record = {"model": name, "seed": seed, "run_key": rdir.name, **trained, **record}
    with atomic_write(edir / "test_probs.npy", "wb") as f:
        np.save(f, probs)
    write_json(edir / "attention.json", dump)
    write_json(done, record)  # written last: its presence marks the evaluation finished
    return record


def _train(cfg: Config, name: str, seed: int, ds: Dataset, rdir: Path, position: str,
           report=None) -> dict:
    """The training record of a run (best parameters saved beside it), training when needed."""
    from tqdm import tqdm

    from attnstudy.models.classifiers import param_count
    from attnstudy.training import loop

    if (rdir / TRAINED).exists() and (rdir / BEST).exists():
        return read_json(rdir / TRAINED)
    started = now()
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{cfg.profile}-{name}-seed{seed}.log"
    bar = tqdm(total=cfg.train.steps, desc=f"{position}{name} seed {seed}", unit="step",
               dynamic_ncols=True, leave=True, file=sys.stderr, position=workers.BAR_ROW)
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"# {started} {rdir.name}\n")
        log.flush()  # before the first checkpoint: a run killed early still shows its session

        def progress(step, point):
            bar.update(step - bar.n)
            bar.set_postfix(loss=f"{point['train_loss']:.3f}", val=f"{point['val_loss']:.3f}",
                            acc=f"{point['val_accuracy']:.3f}")
            log.write(json.dumps(point) + "\n")
            log.flush()
            if report:
                report(step, point)

        state = loop.train_run(cfg, name, seed, ds, rdir, progress=progress)
    bar.close()
    trained = {"params": param_count(state.params), "steps": state.step,
               "best_step": state.best_step, "curve": state.curve,
               "select": cfg.train.select,
               "epochs": state.step * cfg.train.batch_size / len(ds.train),
               "stopped": "budget",  # a fixed step budget; no early stopping
               "train_seconds": state.train_seconds,
               "tokens_per_second": state.train_tokens / max(state.train_seconds, 1e-9),
               "provenance": provenance(started)}
    save_params(rdir / BEST, state.best_params)
    write_json(rdir / TRAINED, trained)  # after the parameters: it marks the run finished
    (rdir / CHECKPOINT).unlink(missing_ok=True)  # finished: the resume state is not needed
    return trained


def train_job(cfg: Config, name: str, seed: int, position: str) -> None:
    """One run in a worker process (the dataset is encoded, or loaded, once per worker)."""
    from attnstudy.data.probes import load_probes

    key = repr(cfg.data)
    if key not in _WORKER_DATA:
        _WORKER_DATA[key] = (load_dataset(cfg.data), [p.text for p in load_probes()])
    ds, probe_texts = _WORKER_DATA[key]
    train_one(cfg, name, seed, ds, probe_texts, position=position)


_WORKER_DATA: dict = {}


def run_all(cfg: Config, models_: list[str] | None = None, seeds: list[int] | None = None,
            n_workers: int | None = None, executor=None) -> list:
    """Train what is missing for the given models/seeds (default: the profile's).

    With more than one run to do and more than one core, runs train side by side in worker
    processes, one single-threaded XLA process per core: on our 2-core machines that gives
    about 1.5x the throughput of one process using both cores (XLA's small per-step matmuls
    scale poorly across threads). Workers run on one core each like this process (see
    `workers.one_core_per_process`), so their number is a speed setting, never a result's.
    """
    import os

    from attnstudy.data.probes import load_probes
    from attnstudy.models.inference import enable_compile_cache

    previous = workers.one_core_per_process()  # this process trains when one worker is enough
    try:
        enable_compile_cache()  # jax is only imported when something needs training
        ds = load_dataset(cfg.data)
        todo = [(m, s) for m in (models_ or cfg.train.models) for s in (seeds or cfg.train.seeds)]
        pending = [(m, s) for m, s in todo
                   if not (eval_dir(cfg, m, s, ds.fingerprint) / "result.json").exists()]
        probe_texts = [p.text for p in load_probes()]
        if executor is not None and pending:  # e.g. a Ray cluster (training.executors)
            executor(cfg, pending, ds, probe_texts)
        elif (n := workers.worker_count(n_workers, len(pending))) > 1:
            workers.run_in_workers(train_job, cfg, pending, n)
        return [train_one(cfg, m, s, ds, probe_texts, position=f"[{i + 1}/{len(todo)}] ")
                for i, (m, s) in enumerate(todo)]
    finally:
        if previous:  # drawing figures and the PDF may use every core again
            os.sched_setaffinity(0, previous)


# ----------------------------------------------------------------------------- the results set

def baseline(cfg: Config, ds: Dataset) -> dict:
    """TF-IDF + logistic regression on the same train/test rows (cached)."""
    from attnstudy.analysis.baseline import tfidf_logreg

    key = cache_key("baseline", dataclasses.asdict(cfg.data), BASELINE_CODE,
                    packages=("numpy", "scipy", "scikit-learn"), extra=ds.fingerprint)
    path = CACHE / "baseline" / f"{key}.json"
    if path.exists():
        return read_json(path)
    train_texts = imdb.load_texts(ds.train.row_ids, "train")
    test = ds.final_test()
    test_texts = imdb.load_texts(test.row_ids, "test")
    out = tfidf_logreg(train_texts, ds.train.labels, test_texts, test.labels)
    out["probs"] = [round(float(p), 6) for p in out["probs"]]  # same rows as the test split
    write_json(path, out)
    return out


def build_key(cfg: Config, fingerprint: str) -> str:
    """Identifies a complete set of runs: config, every run and its evaluation, this module."""
    runs = [run_dir(cfg, m, s, fingerprint).name for m in cfg.train.models for s in cfg.train.seeds]
    return cache_key("results", cfg.section_hash(), ("attnstudy.training.runner",),
                     extra=[SCHEMA_VERSION, runs, eval_key(cfg)])


def analysis_key(cfg: Config, out: Path) -> str:
    """analysis.json is derived from the other results files alone; redone when this changes.

    The config enters through results.json (which records it, and which frozen results share
    with `cfg` by `same_experiment`), so a setting added to the code later changes nothing."""
    return cache_key("analysis", None, ANALYSIS_CODE, packages=("numpy", "scipy",
                     "scikit-learn", "pandas"),
                     extra=[file_digest(out / "results.json"),
                            file_digest(out / "test_predictions.parquet"),
                            file_digest(PROBES_PATH), file_digest(CLAIMS), file_digest(LEDGER)])


def refresh_analysis(cfg: Config, out: Path) -> bool:
    """(Re)write out/analysis.json when its key changed; True when it did. Needs no data."""
    import pandas as pd

    from attnstudy.analysis.analyse import analyse
    from attnstudy.data.probes import load_probes

    key = analysis_key(cfg, out)
    try:
        if read_json(out / "analysis.json").get("analysis_key") == key:
            return False
    except (OSError, ValueError):
        pass
    results = read_json(out / "results.json")
    preds = pd.read_parquet(out / "test_predictions.parquet")
    analysed = analyse(results, preds, load_probes(), results["config"])  # as recorded
    write_json(out / "analysis.json", {"schema_version": SCHEMA_VERSION,
                                       "config_hash": results["config_hash"],
                                       "analysis_key": key, **analysed})
    return True


def results_dir(cfg: Config) -> Path:
    return output_dir(cfg.profile) / "results"


def local_fingerprint(data_dir: Path) -> str:
    """The data fingerprint of a local IMDb folder (the one `load_dataset` computes)."""
    return imdb.fingerprint_of(imdb.local_checksums(data_dir))


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
    if local is not None and results_current(cfg, local_fingerprint(local), out):
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
    import pandas as pd  # heavy imports only when there is something to compute

    from attnstudy.models.classifiers import build_model, init_params, param_count
    from attnstudy.training.publish import WEIGHTS, export_weights

    runs = run_all(cfg, n_workers=n_workers, executor=executor)
    config_hash = cfg.section_hash()
    model_info = {}
    for name in cfg.train.models:
        model = build_model(name, cfg.model, len(ds.vocab), cfg.data.max_len)
        model_info[name] = {"params": param_count(init_params(model, 0, cfg.data.max_len)),
                            "description": MODEL_DESCRIPTIONS[name]}
    data = summary(ds, cfg.data.max_len)
    data.update(fingerprint=ds.fingerprint, checksums=ds.checksums, grouping=ds.grouping)
    test = ds.final_test()
    preds = pd.DataFrame({"id": test.row_ids.astype(str), "label": test.labels.astype(int),
                          "length": test.full_lengths.astype(int),
                          "negation": test.negation.astype(bool)})
    for r in runs:
        edir = eval_dir(cfg, r["model"], r["seed"], ds.fingerprint)
        preds[f"{r['model']}/seed{r['seed']}"] = np.load(edir / "test_probs.npy")
    results = {"schema_version": SCHEMA_VERSION, "profile": cfg.profile, "config": cfg.to_dict(),
               "config_hash": config_hash, "build_key": build_key(cfg, ds.fingerprint),
               "data": data, "models": model_info, "runs": runs}
    attention = attention_file(cfg, ds, config_hash)
    base = baseline(cfg, ds)
    preds["baseline"] = np.asarray(base["probs"], np.float64)  # the analysis reads it here
    results["baseline"] = {k: v for k, v in base.items() if k != "probs"}
    results["provenance"] = provenance(started)
    out.mkdir(parents=True, exist_ok=True)
    results["weights"] = export_weights(
        cfg, out / WEIGHTS, lambda m, s: load_best_params(cfg, m, s, ds.fingerprint), ds.vocab)
    with atomic_write(out / "test_predictions.parquet", "wb") as f:
        preds.to_parquet(f, index=False)
    write_json(out / "attention.json", attention)
    write_json(out / "results.json", results)  # the runs are complete once this is replaced
    refresh_analysis(cfg, out)
    return out


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
