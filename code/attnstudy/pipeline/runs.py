"""Every model x seed of a profile: train (training.loop), then evaluate (evaluation.evaluate),
each run in its cache folder (see pipeline.cache), side by side in worker processes or as Ray
tasks (pipeline.workers, pipeline.executors).

Finished runs are never recomputed; unfinished ones resume from their last checkpoint; an
evaluation is redone from the saved parameters when evaluation code or settings change.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from attnstudy.config import Config
from attnstudy.cores import one_core_per_process
from attnstudy.data.encode import Dataset, load_dataset
from attnstudy.files import atomic_write, read_json, write_json
from attnstudy.pipeline import cache, workers
from attnstudy.provenance import now, provenance
from attnstudy.training.checkpoints import BEST, CHECKPOINT, TRAINED, load_params, save_params


def train_one(cfg: Config, name: str, seed: int, ds: Dataset, probe_texts: list[str],
              position: str = "", report=None, probes: str | None = None) -> dict:
    """Train (or resume) and evaluate one run; returns its record (`report(step, point)`
    hears of each validation point, for a driver elsewhere that draws the progress bar;
    `probes` is the digest of the file `probe_texts` came from, default this machine's).

    Two cache levels: the trained run (selected parameters and training record; retrained only
    when data/model/training code or config change) and its evaluation folder (measurements,
    keyed by the evaluation key; redone from the saved parameters when evaluation changes).
    """
    from attnstudy.evaluation import evaluate

    cfg = cfg.for_model(name)  # its own learning rate and embedding dropout, when set per model
    rdir = cache.run_dir(cfg, name, seed, ds.fingerprint)
    edir = cache.eval_dir(cfg, name, seed, ds.fingerprint, probes)
    done = edir / "result.json"
    if done.exists():
        return read_json(done)
    with cache.run_lock(rdir, f"{name} seed {seed} ({rdir.name})"):
        if done.exists():  # another build finished it while this one waited
            return read_json(done)
        trained = _train(cfg, name, seed, ds, rdir, position, report)
        params = load_params(rdir / BEST)
        record, probs, dump, lex = evaluate.evaluate_run(cfg, name, seed, ds, params,
                                                         probe_texts)
        record = {"model": name, "seed": seed, "run_key": rdir.name, **trained, **record}
        with atomic_write(edir / "test_probs.npy", "wb") as f:
            np.save(f, probs)
        if lex is not None:  # per-review lexicon mass and share (attention models only)
            with atomic_write(edir / cache.LEXICON, "wb") as f:
                np.save(f, lex)
        write_json(edir / "attention.json", dump)
        write_json(done, record)  # written last: its presence marks the evaluation finished
    return record


def train_only(cfg: Config, name: str, seed: int, ds: Dataset, position: str = "") -> dict:
    """Train (or resume) one run without evaluating it: its training record, whose curve holds
    its validation points (the sweep's runs; `ds` carries no test split there). The run is the
    same cached run a build trains and evaluates later: same key, folder and lock."""
    cfg = cfg.for_model(name)
    rdir = cache.run_dir(cfg, name, seed, ds.fingerprint)
    # the record is all the sweep reads: a run carried without its parameters (pipeline.carry)
    # counts as trained here; a build that evaluates it trains them again
    if not (rdir / TRAINED).exists():
        with cache.run_lock(rdir, f"{name} seed {seed} ({rdir.name})"):
            _train(cfg, name, seed, ds, rdir, position)
    return {"model": name, "seed": seed, "run_key": rdir.name, **read_json(rdir / TRAINED)}


def _trained(rdir: Path) -> bool:
    return (rdir / TRAINED).exists() and (rdir / BEST).exists()


def _train(cfg: Config, name: str, seed: int, ds: Dataset, rdir: Path, position: str,
           report=None) -> dict:
    """The training record of a run (selected parameters saved beside it), training when
    needed."""
    from tqdm import tqdm

    from attnstudy.models.classifiers import param_count
    from attnstudy.training import loop

    if _trained(rdir):
        return read_json(rdir / TRAINED)
    started = now()
    cache.LOGS.mkdir(parents=True, exist_ok=True)
    log_path = cache.LOGS / f"{cfg.profile}-{name}-seed{seed}.log"
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


def train_only_job(cfg: Config, name: str, seed: int, position: str) -> None:
    """`train_only` in a worker process, on the dataset without its test split."""
    key = repr(cfg.data)
    if key not in _WORKER_DATA:
        _WORKER_DATA[key] = (load_dataset(cfg.data).without_test(), [])
    train_only(cfg, name, seed, _WORKER_DATA[key][0], position=position)


_WORKER_DATA: dict = {}


def run_all(cfg: Config, models_: list[str] | None = None, seeds: list[int] | None = None,
            n_workers: int | None = None, executor=None, evaluate: bool = True) -> list:
    """Train what is missing for the given models/seeds (default: the profile's), and evaluate
    each run (`evaluate=False`: train only, on the dataset without its test split, and return
    the training records: the sweep).

    With more than one run to do and more than one core, runs train side by side in worker
    processes, one single-threaded XLA process per core: on our 2-core machines that gives
    about 1.5x the throughput of one process using both cores (XLA's small per-step matmuls
    scale poorly across threads). Workers run on one core each like this process (see
    `cores.one_core_per_process`), so their number is a speed setting, never a result's.
    """
    import os

    from attnstudy.data.probes import load_probes
    from attnstudy.models.inference import enable_compile_cache

    previous = one_core_per_process()  # this process trains when one worker is enough
    try:
        enable_compile_cache()  # jax is only imported when something needs training
        ds = load_dataset(cfg.data)
        todo = [(m, s) for m in (models_ or cfg.train.models) for s in (seeds or cfg.train.seeds)]
        if not evaluate:
            ds = ds.without_test()
            pending = [(m, s) for m, s in todo
                       if not (cache.run_dir(cfg, m, s, ds.fingerprint) / TRAINED).exists()]
            if (n := workers.worker_count(n_workers, len(pending))) > 1:
                workers.run_in_workers(train_only_job, cfg, pending, n)
            return [train_only(cfg, m, s, ds, position=f"[{i + 1}/{len(todo)}] ")
                    for i, (m, s) in enumerate(todo)]
        pending = [(m, s) for m, s in todo
                   if not (cache.eval_dir(cfg, m, s, ds.fingerprint) / "result.json").exists()]
        probe_texts = [p.text for p in load_probes()]
        if executor is not None and pending:  # e.g. a Ray cluster (pipeline.executors)
            executor(cfg, pending, ds, probe_texts)
        elif (n := workers.worker_count(n_workers, len(pending))) > 1:
            workers.run_in_workers(train_job, cfg, pending, n)
        else:  # in this process, in the workers' order (seed by seed)
            for i, (m, s) in enumerate(workers.cost_order(pending)):
                train_one(cfg, m, s, ds, probe_texts, position=f"[{i + 1}/{len(pending)}] ")
        return [train_one(cfg, m, s, ds, probe_texts, position=f"[{i + 1}/{len(todo)}] ")
                for i, (m, s) in enumerate(todo)]
    finally:
        if previous:  # drawing figures and the PDF may use every core again
            os.sched_setaffinity(0, previous)
