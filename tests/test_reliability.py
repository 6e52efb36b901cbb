"""Faults and bad input: clear one-line errors, nothing already computed is lost."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from attnstudy import files as io
from attnstudy.cli.inputs import iter_inputs
from attnstudy.data import imdb
from attnstudy.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def test_non_utf8_review_is_named(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    table = pa.table({"text": pa.array([b"fine", b"caf\xe9 \xff"], pa.binary()),
                      "label": [1, 0]})
    for s in ("train", "test"):
        pq.write_table(table, folder / f"{s}.parquet")
    with pytest.raises(UserError, match="review 1 holds bytes that are not valid UTF-8"):
        imdb.load_raw(folder)


def test_no_network_and_no_local_data_says_how_to_fix(monkeypatch, tmp_path):
    import datasets.config
    import huggingface_hub.constants as hub

    monkeypatch.delenv("IMDB_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")
    # The libraries read these once, at import: offline mode and empty caches in their
    # constants too, whichever test imported them first (online, the hub's connection
    # timeouts cost this test ~20 s).
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    with pytest.raises(UserError, match="set IMDB_DIR to a folder"):
        imdb.load_raw(None)


def test_atomic_write_keeps_old_file_when_interrupted(tmp_path):
    target = tmp_path / "results.json"
    io.write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), io.atomic_write(target) as f:
        f.write('{"v": 2, "half')
        raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temp file left


def test_disk_full_is_one_clear_error_and_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    io.write_json(target, {"v": 1})

    def full(*_):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(UserError, match="cannot write .*No space left on device"):
        io.write_json(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 1}


def test_unwritable_build_dir_is_one_clear_error(tmp_path):
    blocker = tmp_path / "build"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(UserError, match="cannot write"):
        io.write_json(blocker / "results" / "results.json", {})


def test_huge_input_is_streamed_in_chunks(tmp_path):
    path = tmp_path / "big.tsv"
    with path.open("w") as f:
        f.write("text\tlabel\n")
        for i in range(10_000):
            f.write(f"review number {i}\t{i % 2}\n")
    chunks = iter_inputs([], path, "text", "label", chunk=256)
    first_texts, first_labels = next(chunks)  # a generator: the file is not read up front
    assert len(first_texts) == 256 and first_labels[:2] == [0, 1]
    assert sum(len(t) for t, _ in chunks) == 10_000 - 256


def test_bad_label_in_input_file(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("text,label\ngood,1\nbad,maybe\n")
    with pytest.raises(UserError, match=r"x.csv:3: label 'maybe' is not 0 or 1"):
        list(iter_inputs([], path, "text", "label", chunk=10))


@pytest.mark.slow
def test_kill_9_during_training_resumes(imdb_dir, tmp_path):
    """A real SIGKILL mid-run: the rerun resumes from the checkpoint and finishes the run."""
    env = {**os.environ, "ATTNSTUDY_BUILD": str(tmp_path), "IMDB_DIR": str(imdb_dir)}
    # The smoke profile with 4x the steps: the first checkpoint (step 10) comes 110 steps (seconds,
    # even with a warm compile cache) before the end, so the kill (polled every 50 ms) lands
    # mid-run; the resume trains what is left.
    toml = (ROOT / "paper" / "experiment.toml").read_text()
    smoke_train = "seeds = [0, 1]\nbatch_size = 32\nsteps = 30\n"  # [profiles.smoke.train]
    assert smoke_train in toml, "update this test with the smoke profile"
    config = tmp_path / "experiment.toml"
    config.write_text(toml.replace(smoke_train, smoke_train.replace("= 30", "= 120")))
    cmd = [sys.executable, "-m", "attnstudy", "train", "--profile", "smoke", "--config",
           str(config), "--models", "bilstm", "--seeds", "7"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    ckpts: list = []
    while time.time() < deadline and not ckpts and proc.poll() is None:
        time.sleep(0.05)
        ckpts = list((tmp_path / "cache" / "runs").glob("bilstm-seed7-*/checkpoint.msgpack"))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ckpts, "no checkpoint appeared before the run ended: nothing was killed mid-run"
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    log = next((tmp_path / "logs").glob("smoke-bilstm-seed7.log")).read_text()
    assert log.count("# ") == 2  # two sessions wrote to the log: the killed one and the resume
    run = next((tmp_path / "cache" / "runs").glob("bilstm-seed7-*"))
    assert (run / "trained.json").exists() and (run / "best_params.msgpack").exists()
    assert not (run / "checkpoint.msgpack").exists()
    assert list(run.glob("eval-*/result.json"))


def test_results_from_another_config_are_refused(tmp_path, monkeypatch):
    from attnstudy import cli
    from attnstudy.config import load_config
    from attnstudy.pipeline import cache
    from attnstudy.schema import SCHEMA_VERSION

    monkeypatch.setattr(cache, "results_dir", lambda cfg: tmp_path)
    io.write_json(tmp_path / "results.json", {"schema_version": SCHEMA_VERSION,
                                              "config_hash": "0000", "profile": "quick"})
    with pytest.raises(UserError, match="made with another config"):
        cli.check_results_match(load_config("smoke"))
    io.write_json(tmp_path / "results.json", {"schema_version": 0, "config_hash": "0000"})
    with pytest.raises(UserError, match="schema version 0"):
        cli.check_results_match(load_config("smoke"))


def test_probe_predictions_parquet_roundtrip(tmp_path):
    df = pd.DataFrame({"id": ["a"], "label": [1], "length": [3], "negation": [True],
                       "mhsa/seed0": [0.7]})
    with io.atomic_write(tmp_path / "p.parquet", "wb") as f:
        df.to_parquet(f, index=False)
    assert pd.read_parquet(tmp_path / "p.parquet").equals(df)


def test_worker_count_follows_request_env_and_work(monkeypatch):
    from attnstudy.pipeline import workers

    monkeypatch.setenv("ATTNSTUDY_CORES", "0,1")
    monkeypatch.delenv("ATTNSTUDY_WORKERS", raising=False)
    assert workers.worker_count(None, 10) == 2  # one per usable core
    assert workers.worker_count(None, 1) == 1  # never more workers than runs to train
    assert workers.worker_count(3, 10) == 3
    with pytest.raises(UserError, match="at least 1"):
        workers.worker_count(0, 10)  # --workers 0
    monkeypatch.setenv("ATTNSTUDY_WORKERS", "1")
    assert workers.worker_count(None, 10) == 1
    for bad, message in (("two", "whole number"), ("0", "at least 1")):
        monkeypatch.setenv("ATTNSTUDY_WORKERS", bad)
        with pytest.raises(UserError, match=message):
            workers.worker_count(None, 10)
