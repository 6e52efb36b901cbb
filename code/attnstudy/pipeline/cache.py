"""The run cache: its keys and folders, and a lock per run folder.

    build/cache/runs/<model>-seed<k>-<run key>/         one trained run
        checkpoint.msgpack                              resume state while it trains
        best_params.msgpack, trained.json               its selected parameters and training record
        eval-<eval key>/result.json, test_probs.npy, attention.json    its measurements
                        lexicon.npy                     per-review lexicon mass and share
                                                        (models with attention weights)
    build/cache/locks/<run folder>.lock                 held by the build training that run
    build/cache/baseline/<key>.json                     the TF-IDF baseline

Every key is `attnstudy.keys.cache_key`: config values, the code that computes it (the module
lists below; tests/test_keys.py checks they cover what each step imports) and library versions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from pathlib import Path

from attnstudy.config import BUILD, Config, output_dir
from attnstudy.data import imdb
from attnstudy.data.probes import DEFAULT_PATH as PROBES_PATH
from attnstudy.keys import PACKAGES, cache_key, file_digest

CACHE = BUILD / "cache"
LEXICON = "lexicon.npy"  # an evaluation's <float64>[2, n_test] (evaluate.evaluate_run)
LOGS = BUILD / "logs"
# The modules whose code decides a trained run's parameters, and its measurements.
TRAIN_CODE = ("attnstudy.data.encode", "attnstudy.data.imdb", "attnstudy.data.text",
              "attnstudy.data.batches", "attnstudy.models.lstm", "attnstudy.models.classifiers",
              "attnstudy.models.inference", "attnstudy.models.attention_ops",
              "attnstudy.models.precision", "attnstudy.training.loop", "attnstudy.metrics")
EVAL_CODE = ("attnstudy.evaluation.evaluate", "attnstudy.evaluation.faithfulness",
             "attnstudy.evaluation.ablations", "attnstudy.evaluation.attention_stats",
             "attnstudy.data.probes", "attnstudy.stats.bootstrap", "attnstudy.stats.tests",
             "attnstudy.metrics", "attnstudy.models.inference", "attnstudy.evaluation.conicity",
             "attnstudy.evaluation.lexicon")
# the evaluation's numbers also depend on the lexicon file this package ships
EVAL_PACKAGES = (*PACKAGES, "vadersentiment")


# ----------------------------------------------------------------------------- keys and folders

def run_key(cfg: Config, name: str, seed: int, fingerprint: str) -> str:
    """The key of one run: the settings `name` trains with (`Config.for_model`: its per-model
    values, never another model's), its seed, the training code and the data."""
    d = cfg.for_model(name).to_dict()  # the emptied per-model tables are left out
    train = {k: v for k, v in d["train"].items() if k not in ("models", "seeds")}
    return cache_key("run", {"data": d["data"], "model": d["model"], "train": train,
                             "name": name, "seed": seed}, TRAIN_CODE, extra=fingerprint)


def run_dir(cfg: Config, name: str, seed: int, fingerprint: str) -> Path:
    return CACHE / "runs" / f"{name}-seed{seed}-{run_key(cfg, name, seed, fingerprint)}"


def probes_digest() -> str:
    """sha256 of the probe file (paper/probes.tsv), which every evaluation reads."""
    return file_digest(PROBES_PATH)


def eval_key(cfg: Config, probes: str | None = None) -> str:
    """Evaluation is redone (from the saved parameters, not retrained) when this changes.

    `probes` is the probe file's digest; a Ray task, whose copy of the code has no paper/, gets
    the driver's (default: this machine's file)."""
    return cache_key("evaluation", {"analysis": dataclasses.asdict(cfg.analysis),
                                    "eval_batch_size": cfg.train.eval_batch_size},
                     EVAL_CODE, packages=EVAL_PACKAGES, extra=probes or probes_digest(),
                     length=12)


def eval_dir(cfg: Config, name: str, seed: int, fingerprint: str,
             probes: str | None = None) -> Path:
    return run_dir(cfg, name, seed, fingerprint) / f"eval-{eval_key(cfg, probes)}"


def load_best_params(cfg: Config, name: str, seed: int, fingerprint: str):
    """The selected (evaluated) parameters of a finished run, or None."""
    from attnstudy.training.checkpoints import BEST, load_params

    return load_params(run_dir(cfg, name, seed, fingerprint) / BEST)


def results_dir(cfg: Config) -> Path:
    return output_dir(cfg.profile) / "results"


def local_fingerprint(data_dir: Path) -> str:
    """The data fingerprint of a local IMDb folder (the one `load_dataset` computes)."""
    return imdb.fingerprint_of(imdb.local_checksums(data_dir))


# ----------------------------------------------------------------------------- one build per run

@contextlib.contextmanager
def run_lock(rdir: Path, what: str):
    """Hold the lock file of run folder `rdir` while training or storing the run: a second build
    that needs the same run waits for the first (and then finds it finished) instead of training
    it again. The kernel releases the lock when its process dies, so a killed build never blocks
    the next. Locks live beside the run folders, which keep only the run's own files."""
    import fcntl

    locks = rdir.parent.parent / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{rdir.name}.lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"attnstudy: {what} is being trained by another build; waiting for it",
                  file=sys.stderr)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
