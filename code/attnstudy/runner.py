"""The runner: train every model x seed of a profile (reusing finished runs), evaluate, and dump
`build/results/` (results.json, test_predictions.parquet, attention.json, analysis.json).

Each run is keyed by a hash of everything that affects it: the config sections, the model and
seed, the data fingerprint and the source of the modules that define data, models and training.
Finished runs live in `build/cache/runs/<key>/` and are never recomputed; unfinished ones resume
from their last checkpoint.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import pickle
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

from attnstudy import data as data_lib
from attnstudy import workers
from attnstudy.config import BUILD, MODEL_DESCRIPTIONS, ROOT, Config, output_dir
from attnstudy.io import atomic_write, read_json, write_json
from attnstudy.schema import RESULT_FILES

SCHEMA_VERSION = 1
CACHE = BUILD / "cache"
LOGS = BUILD / "logs"
TRAIN_FILES = ("data.py", "lstm.py", "models.py", "train.py")  # decide the trained parameters
EVAL_FILES = ("evaluate.py", "faithfulness.py", "probes.py", "stats.py")  # decide the measurements
PACKAGES = ("jax", "jaxlib", "flax", "optax", "numpy", "datasets", "scikit-learn", "scipy",
            "matplotlib", "jinja2", "weasyprint")


def code_version(files=TRAIN_FILES) -> str:
    """Hash of the source files that decide a run's numbers (prose/figure edits retrain nothing)."""
    h = hashlib.sha256()
    for name in files:
        h.update((Path(__file__).parent / name).read_bytes())
    return h.hexdigest()[:16]


def eval_key(cfg: Config) -> str:
    """Evaluation is redone (from the saved parameters, not retrained) when this changes."""
    probes = hashlib.sha256((ROOT / "paper" / "probes.tsv").read_bytes()).hexdigest()
    blob = json.dumps([cfg.to_dict()["analysis"], code_version(EVAL_FILES), probes])
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def run_key(cfg: Config, name: str, seed: int, fingerprint: str) -> str:
    d = cfg.to_dict()
    train = {k: v for k, v in d["train"].items() if k not in ("models", "seeds")}
    blob = json.dumps([d["data"], d["model"], train, name, seed, fingerprint, code_version()],
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def run_dir(cfg: Config, name: str, seed: int, fingerprint: str) -> Path:
    return CACHE / "runs" / f"{name}-seed{seed}-{run_key(cfg, name, seed, fingerprint)}"


def load_best_params(cfg: Config, name: str, seed: int, fingerprint: str):
    """Best-validation parameters of a finished run, or None."""
    path = run_dir(cfg, name, seed, fingerprint) / "trained.pkl"
    if not path.exists():
        return None
    with path.open("rb") as f:
        return pickle.load(f)["best_params"]


def train_one(cfg: Config, name: str, seed: int, ds: data_lib.Dataset, probe_texts: list[str],
              position: str = "") -> dict:
    """Train (or resume) and evaluate one run; returns its record.

    Two cache levels: `trained.pkl` (best parameters and training log; only retrained when
    data/model/training code or config change) and `result-<eval key>.json` (measurements;
    redone from the saved parameters when evaluation code or analysis settings change).
    """
    from attnstudy import evaluate

    rdir = run_dir(cfg, name, seed, ds.fingerprint)
    done = rdir / f"result-{eval_key(cfg)}.json"
    if done.exists():
        return read_json(done)
    trained = _train(cfg, name, seed, ds, rdir, position)
    record, probs, dump = evaluate.evaluate_run(cfg, name, seed, ds, trained["best_params"],
                                                probe_texts)
    record = {"model": name, "seed": seed, "run_key": rdir.name,
              **{k: v for k, v in trained.items() if k != "best_params"}, **record}
    with atomic_write(rdir / "test_probs.npy", "wb") as f:
        np.save(f, probs)
    write_json(rdir / "attention.json", dump)
    write_json(done, record)  # written last: its presence marks the evaluation finished
    return record


def _train(cfg: Config, name: str, seed: int, ds: data_lib.Dataset, rdir: Path,
           position: str) -> dict:
    """Best parameters and training log of a run, training (or resuming) it when needed."""
    import jax
    from tqdm import tqdm

    from attnstudy import models, train

    path = rdir / "trained.pkl"
    if path.exists():
        with path.open("rb") as f:
            return pickle.load(f)
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{cfg.profile}-{name}-seed{seed}.log"
    bar = tqdm(total=cfg.train.steps, desc=f"{position}{name} seed {seed}", unit="step",
               dynamic_ncols=True, leave=True, file=sys.stderr, position=workers.BAR_ROW)
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"# {dt.datetime.now().isoformat(timespec='seconds')} {rdir.name}\n")

        def progress(step, point):
            bar.update(step - bar.n)
            bar.set_postfix(loss=f"{point['train_loss']:.3f}", val=f"{point['val_loss']:.3f}",
                            acc=f"{point['val_accuracy']:.3f}")
            log.write(json.dumps(point) + "\n")
            log.flush()

        state = train.train_run(cfg, name, seed, ds, rdir, progress=progress)
    bar.close()
    trained = {"best_params": jax.device_get(state.best_params),
               "params": models.param_count(state.params), "steps": state.step,
               "best_step": state.best_step, "curve": state.curve,
               "train_seconds": state.train_seconds,
               "tokens_per_second": state.train_tokens / max(state.train_seconds, 1e-9)}
    with atomic_write(path, "wb") as f:
        pickle.dump(trained, f, protocol=pickle.HIGHEST_PROTOCOL)
    (rdir / train.CHECKPOINT).unlink(missing_ok=True)  # finished: the resume state is not needed
    return trained


def provenance(started: str) -> dict:
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    cpu = ""
    try:
        cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                    if ln.startswith("model name")), "")
    except OSError:
        pass
    versions = {}
    for p in PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    return {"git_commit": git("rev-parse", "HEAD") or "unknown",
            # uncommitted changes to what decides the numbers (the outputs themselves excluded)
            "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", "code",
                                  "paper", "pyproject.toml")),
            "python": platform.python_version(), "packages": versions,
            "cpu": cpu or platform.processor() or "unknown", "cores": os.cpu_count(),
            "platform": platform.platform(), "started": started,
            "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": " ".join(["python -m attnstudy", *sys.argv[1:]])}


def baseline(cfg: Config, ds: data_lib.Dataset) -> dict:
    """TF-IDF + logistic regression on the same train/test rows (cached by data config)."""
    from attnstudy.baseline import tfidf_logreg

    key = hashlib.sha256(repr((ds.fingerprint, sorted(vars(cfg.data).items()),
                               (Path(__file__).parent / "baseline.py").read_bytes())).encode())
    path = CACHE / "baseline" / f"{key.hexdigest()[:16]}.json"
    if path.exists():
        return read_json(path)
    train_texts = data_lib.load_texts(ds.train.row_ids, "train")
    test_texts = data_lib.load_texts(ds.test.row_ids, "test")
    out = tfidf_logreg(train_texts, ds.train.labels, test_texts, ds.test.labels)
    out["probs"] = [round(float(p), 6) for p in out["probs"]]  # same rows as the test split
    write_json(path, out)
    return out


def run_all(cfg: Config, models_: list[str] | None = None, seeds: list[int] | None = None,
            n_workers: int | None = None) -> list:
    """Train what is missing for the given models/seeds (default: the profile's).

    With more than one run to do and more than one core, runs train side by side in worker
    processes, one single-threaded XLA process per core: on our 2-core machines that gives
    about 1.5x the throughput of one process using both cores (XLA's small per-step matmuls
    scale poorly across threads). Workers run on one core each like this process (see
    `workers.one_core_per_process`), so their number is a speed setting, never a result's.
    """
    from attnstudy.probes import load_probes
    from attnstudy.train import enable_compile_cache

    previous = workers.one_core_per_process()  # this process trains when one worker is enough
    try:
        enable_compile_cache()  # jax is only imported when something needs training
        ds = data_lib.load_dataset(cfg.data)
        todo = [(m, s) for m in (models_ or cfg.train.models) for s in (seeds or cfg.train.seeds)]
        done = f"result-{eval_key(cfg)}.json"
        pending = [(m, s) for m, s in todo
                   if not (run_dir(cfg, m, s, ds.fingerprint) / done).exists()]
        n = workers.worker_count(n_workers, len(pending))
        if n > 1:
            workers.train_in_workers(cfg, pending, n)
        probe_texts = [p.text for p in load_probes()]
        return [train_one(cfg, m, s, ds, probe_texts, position=f"[{i + 1}/{len(todo)}] ")
                for i, (m, s) in enumerate(todo)]
    finally:
        if previous:  # drawing figures and the PDF may use every core again
            os.sched_setaffinity(0, previous)


def build_key(cfg: Config, fingerprint: str) -> str:
    """Identifies a complete results set: config, every run, evaluation and analysis code."""
    runs = [run_dir(cfg, m, s, fingerprint).name for m in cfg.train.models for s in cfg.train.seeds]
    blob = json.dumps([SCHEMA_VERSION, cfg.section_hash(), runs, eval_key(cfg),
                       code_version(("analysis.py", "baseline.py", "runner.py"))])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def results_dir(cfg: Config) -> Path:
    return output_dir(cfg.profile) / "results"


def local_fingerprint(data_dir: Path) -> str:
    """The data fingerprint of a local IMDb folder (the one `data.load_dataset` computes)."""
    files = data_lib.local_files(data_dir)
    return data_lib.fingerprint_of({s: data_lib._sha256(f) for s, f in files.items()})


def results_current(cfg: Config, fingerprint: str, out: Path) -> bool:
    """True when `out` already holds the complete results of this config and code."""
    try:
        done = read_json(out / "results.json").get("build_key") == build_key(cfg, fingerprint)
    except (OSError, ValueError):
        return False
    return done and all((out / f).exists() for f in RESULT_FILES)


def write_results(cfg: Config, out: Path | None = None, n_workers: int | None = None) -> Path:
    """Train what is stale, then write every results file for the profile's config.

    Nothing is recomputed when `out` is already current (e.g. the published results on a
    fresh clone): the report then re-renders in seconds.
    """
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    out = out or results_dir(cfg)
    local = data_lib.data_dir_from_env()
    if local is not None and results_current(cfg, local_fingerprint(local), out):
        return out  # checked from file checksums alone: a fresh clone need not encode the data
    ds = data_lib.load_dataset(cfg.data)
    if results_current(cfg, ds.fingerprint, out):
        return out
    import pandas as pd  # heavy imports only when there is something to compute

    from attnstudy import analysis, models
    from attnstudy.probes import load_probes

    runs = run_all(cfg, n_workers=n_workers)
    config_hash = cfg.section_hash()
    model_info = {}
    for name in cfg.train.models:
        model = models.build_model(name, cfg.model, len(ds.vocab), cfg.data.max_len)
        model_info[name] = {"params": models.param_count(models.init_params(model, 0,
                                                                              cfg.data.max_len)),
                            "description": MODEL_DESCRIPTIONS[name]}
    summary = data_lib.summary(ds, cfg.data.max_len)
    summary.update(fingerprint=ds.fingerprint, checksums=ds.checksums)
    vocab = np.array(ds.vocab)
    test_tokens = [vocab[row[:n]] for row, n in zip(ds.test.ids, ds.test.lengths, strict=True)]
    preds = pd.DataFrame({"id": ds.test.row_ids.astype(str), "label": ds.test.labels.astype(int),
                          "length": ds.test.full_lengths.astype(int),
                          "negation": [analysis.has_negation(t) for t in test_tokens]})
    for r in runs:
        rdir = run_dir(cfg, r["model"], r["seed"], ds.fingerprint)
        preds[f"{r['model']}/seed{r['seed']}"] = np.load(rdir / "test_probs.npy")
    results = {"schema_version": SCHEMA_VERSION, "profile": cfg.profile, "config": cfg.to_dict(),
               "config_hash": config_hash, "build_key": build_key(cfg, ds.fingerprint),
               "data": summary, "models": model_info, "runs": runs}
    attention = attention_file(cfg, ds, config_hash)
    base = baseline(cfg, ds)
    analysed = analysis.analyse(results, preds, load_probes(), base, cfg)
    results["provenance"] = provenance(started)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "test_predictions.parquet", "wb") as f:
        preds.to_parquet(f, index=False)
    write_json(out / "attention.json", attention)
    write_json(out / "analysis.json", {"schema_version": SCHEMA_VERSION,
                                       "config_hash": config_hash, **analysed})
    write_json(out / "results.json", results)  # last: the set is complete once this is replaced
    return out


def attention_file(cfg: Config, ds: data_lib.Dataset, config_hash: str) -> dict:
    """attention.json: the sampled reviews with the first seed's attention per model."""
    from attnstudy.evaluate import attention_rows

    seed = cfg.train.seeds[0]
    rows = attention_rows(cfg, ds.test)
    dumps = {m: read_json(run_dir(cfg, m, seed, ds.fingerprint) / "attention.json")
             for m in cfg.train.models}
    samples = []
    for i, r in enumerate(rows):
        n = int(ds.test.lengths[r])
        s = {"id": str(ds.test.row_ids[r]), "label": int(ds.test.labels[r]),
             "tokens": [ds.vocab[t] for t in ds.test.ids[r, :n]],
             "probs": {m: dumps[m][i]["prob"] for m in dumps},
             "additive": dumps["additive"][i]["weights"] if "additive" in dumps else None,
             "mhsa_received": dumps["mhsa"][i]["received"] if "mhsa" in dumps else None,
             "mhsa": dumps["mhsa"][i]["matrix"] if "mhsa" in dumps else None}
        samples.append(s)
    return {"schema_version": SCHEMA_VERSION, "config_hash": config_hash, "seed": seed,
            "samples": samples}
