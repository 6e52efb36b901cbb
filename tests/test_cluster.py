"""Training on a Ray cluster: bit-identical to the local pool, lost tasks retried, only missing
runs resubmitted, and no worker (local or Ray) outlives a killed driver.

A real Ray cluster starts inside the test (127.0.0.1, two CPUs); the builds are CLI processes
with their own ATTNSTUDY_BUILD, as `just build` runs them. A subset of the smoke profile keeps
the module within about two minutes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
# ray.init starts Ray's processes with subprocess and a preexec_fn: fork, then exec at once, so
# no JAX state of this (test) process lives on in them; JAX's at-fork hook warns regardless.
pytestmark = pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")
RUNS = ["--profile", "smoke", "--models", "additive", "mhsa", "--seeds", "0"]
TIMELESS = ("train_seconds", "tokens_per_second", "eval_seconds", "eval_reviews_per_second",
            "provenance")  # what may differ between two trainings of the same run


def env(build: Path, imdb_dir: Path) -> dict:
    """The environment of a build in `build`, its Ray workers' scratch in `build/scratch`."""
    return {**os.environ, "ATTNSTUDY_BUILD": str(build), "IMDB_DIR": str(imdb_dir),
            "ATTNSTUDY_CLUSTER_SCRATCH": str(build / "scratch"), "ATTNSTUDY_CLUSTER": ""}


def train(build: Path, imdb_dir: Path, *args) -> str:
    p = subprocess.run([sys.executable, "-m", "attnstudy", "train", *RUNS, *args], cwd=ROOT,
                       env=env(build, imdb_dir), capture_output=True, text=True, timeout=1200)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stderr


def run_files(build: Path) -> dict[str, bytes]:
    """Every file of the run cache (run folder/eval folder/file -> bytes)."""
    runs = build / "cache" / "runs"
    return {str(f.relative_to(runs)): f.read_bytes() for f in sorted(runs.rglob("*"))
            if f.is_file()}


def assert_same_runs(a: dict[str, bytes], b: dict[str, bytes]) -> None:
    import json

    assert sorted(a) == sorted(b)  # the same folders and files, as `train_one` writes them
    # 2 runs (both attend): best_params, trained.json and 4 evaluation files (test_probs.npy,
    # lexicon.npy, attention.json, result.json)
    assert len(a) == 2 * 6 and sum(n.endswith("/lexicon.npy") for n in a) == 2
    for name in a:
        if name.endswith(".json"):
            x, y = json.loads(a[name]), json.loads(b[name])
            for d in (x, y) if isinstance(x, dict) else ():
                for k in TIMELESS:
                    d.pop(k, None)
                for point in d.get("curve", []):
                    point.pop("train_seconds")
            assert x == y, name
        else:  # parameters (msgpack) and test predictions (npy): bit for bit
            assert a[name] == b[name], name


@pytest.fixture(scope="module")
def cluster():
    import ray

    os.environ["RAY_worker_niceness"] = "0"  # as `--cluster auto` (Ray's default: nice 15)
    ctx = ray.init(address="local", num_cpus=2, include_dashboard=False,
                   _node_ip_address="127.0.0.1", logging_level=logging.WARNING)
    del os.environ["RAY_worker_niceness"]
    yield ctx.address_info["gcs_address"]
    ray.shutdown()


@pytest.fixture(scope="module")
def local(smoke_build, tmp_path_factory) -> Path:
    """RUNS as the local pool trained them: the run folders of the session's smoke build
    (conftest; the same config, data and code give the same run keys, and a run's key leaves
    out which other models and seeds were trained beside it).

    The cluster's workers compile nothing anew either: they inherit the tests' shared XLA
    compile cache (ATTNSTUDY_COMPILE_CACHE). A cached executable is the program the same HLO and
    flags compile to on this machine, so what is compared below stays the runs' path through
    the cluster (data out, parameters and records back, retries); cold compiles would only add
    minutes."""
    build = tmp_path_factory.mktemp("local")
    for model in ("additive", "mhsa"):
        run = next((smoke_build / "cache" / "runs").glob(f"{model}-seed0-*"))
        shutil.copytree(run, build / "cache" / "runs" / run.name)
    return build


@pytest.mark.slow
def test_cluster_runs_match_the_local_pool_bit_for_bit(cluster, local, tmp_path, imdb_dir):
    err = train(tmp_path, imdb_dir, "--cluster", cluster)
    assert "2 run(s) to train on the Ray cluster" in err
    assert_same_runs(run_files(local), run_files(tmp_path))
    # a restarted build submits only what is missing
    runs = tmp_path / "cache" / "runs"
    lost = next(runs.glob("mhsa-seed0-*"))
    for f in sorted(lost.rglob("*"), reverse=True):
        f.rmdir() if f.is_dir() else f.unlink()
    kept = {f: f.stat().st_mtime_ns for f in runs.rglob("*") if f.is_file()}
    err = train(tmp_path, imdb_dir, "--cluster", cluster)
    assert "1 run(s) to train on the Ray cluster" in err
    assert all(f.stat().st_mtime_ns == t for f, t in kept.items())
    assert_same_runs(run_files(local), run_files(tmp_path))


@pytest.mark.slow
def test_a_task_lost_with_its_worker_is_retried(cluster, local, tmp_path, imdb_dir):
    killed = []

    def kill_first_training_worker():
        """SIGKILL the first worker of this test's cluster seen running a training task."""
        deadline = time.monotonic() + 1200
        while not killed and time.monotonic() < deadline:
            for p in psutil.Process().children(recursive=True):  # the cluster started here
                with contextlib.suppress(psutil.Error):
                    if (p.cmdline() or [""])[0].startswith("ray::run_task"):
                        time.sleep(1.0)  # let it train a little: the retry resumes or restarts
                        p.send_signal(signal.SIGKILL)
                        killed.append(p.pid)
                        return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_first_training_worker, daemon=True)
    killer.start()
    train(tmp_path, imdb_dir, "--cluster", cluster)
    killer.join(timeout=5)
    assert killed, "no training task was seen to kill"
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == "zombie"
    assert_same_runs(run_files(local), run_files(tmp_path))


def family(tmp_path: Path) -> list[psutil.Process]:
    """The live processes of the build in `tmp_path` (each inherits its scratch setting)."""
    mark = str(tmp_path / "scratch")
    out = []
    for p in psutil.process_iter(["environ", "status", "cmdline"]):
        if (p.info["environ"] or {}).get("ATTNSTUDY_CLUSTER_SCRATCH") == mark and (
                p.info["status"] != psutil.STATUS_ZOMBIE):
            out.append(p)
    return out


def is_worker(p: psutil.Process, executor: str) -> bool:
    cmd = " ".join(p.info["cmdline"] or [])
    return "ray::run_task" in cmd if executor == "ray" else "multiprocessing.spawn" in cmd


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["local", "ray"])
def test_no_worker_outlives_a_killed_driver(executor, tmp_path, imdb_dir):
    args = ["--workers", "2"] if executor == "local" else ["--cluster", "auto"]
    driver = subprocess.Popen([sys.executable, "-m", "attnstudy", "train", *RUNS, *args],
                              cwd=ROOT, env=env(tmp_path, imdb_dir), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    descendants = []
    try:
        deadline = time.monotonic() + 120
        while not any(is_worker(p, executor) for p in family(tmp_path)):
            assert driver.poll() is None and time.monotonic() < deadline, "no worker started"
            time.sleep(0.1)
        # Ray's agents replace their environment: they are found as the driver's descendants
        descendants = psutil.Process(driver.pid).children(recursive=True)
        if executor == "ray":  # they outlived a killed driver by a minute without the reaper
            seen = " ".join(commands(descendants))
            assert "ray::DashboardAgent" in seen and "ray::RuntimeEnvAgent" in seen, seen
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 20  # the reaper kills at once; Ray's agents take minutes
        while (left := alive(descendants) + family(tmp_path)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, [p.name() for p in left]
    finally:  # never leave a process of this test behind, even when it fails
        driver.kill()
        for p in alive(descendants) + family(tmp_path):
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()


def test_the_reaper_kills_its_whole_session(tmp_path):
    """Also what left the process tree: a daemonised grandchild in a process group of its own
    (as Ray's workers are), once the driver closes the pipe; then it removes the folder."""
    folder, pidfile = tmp_path / "ray", tmp_path / "grandchild"
    folder.mkdir()
    daemon = ("import os, time\n"
              "if os.fork() == 0:\n"
              "    os.setpgrp()\n"
              f"    open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
              "    time.sleep(300)\n"
              "time.sleep(300)\n")
    reaper = subprocess.Popen([sys.executable, "-m", "attnstudy.pipeline.reaper", str(folder),
                               sys.executable, "-c", daemon], stdin=subprocess.PIPE,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not pidfile.exists() or not pidfile.read_text():
            assert time.monotonic() < deadline and reaper.poll() is None
            time.sleep(0.05)
        grandchild = psutil.Process(int(pidfile.read_text()))
        assert os.getpgid(grandchild.pid) != os.getpgid(reaper.pid)
        reaper.stdin.close()  # as when the driver exits
        assert reaper.wait(timeout=30) == 0
        assert not alive([grandchild]) and not folder.exists()
    finally:
        reaper.kill()
        with contextlib.suppress(NameError, psutil.Error):
            grandchild.kill()


def commands(processes: list[psutil.Process]) -> list[str]:
    out = []
    for p in processes:
        with contextlib.suppress(psutil.Error):
            out.append(" ".join(p.cmdline()))
    return out


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def test_a_node_with_other_code_or_libraries_is_refused(tmp_path, monkeypatch):
    from attnstudy.config import load_config
    from attnstudy.errors import UserError
    from attnstudy.pipeline import cache, executors

    monkeypatch.setattr(cache, "CACHE", tmp_path)
    cfg = load_config("smoke")
    result = {"run_key": "mhsa-seed0-0123456789abcdef", "node": "n1", "versions": {"jax": "0.1"},
              "files": {"trained.json": b"{}"}}
    with pytest.raises(UserError, match=r"node n1 computes run mhsa-seed0-0123456789abcdef, this "
                       r"machine mhsa-seed0-\w+: its code or libraries differ \(jax 0.1; here"):
        executors.store(cfg, "mhsa", 0, "fingerprint", result)
    assert not list(tmp_path.rglob("*"))  # nothing of it was stored
    good = {**result, "run_key": cache.run_dir(cfg, "mhsa", 0, "fingerprint").name,
            "eval_key": "eval-0123456789ab"}
    # the same run, but evaluated by other evaluation code (or without the driver's probes)
    with pytest.raises(UserError, match=r"node n1 computes evaluation eval-0123456789ab, this "
                       r"machine eval-\w+: its code or libraries differ"):
        executors.store(cfg, "mhsa", 0, "fingerprint", good)
    assert not list(tmp_path.rglob("*"))
    good["eval_key"] = cache.eval_dir(cfg, "mhsa", 0, "fingerprint").name
    executors.store(cfg, "mhsa", 0, "fingerprint", good)
    assert (cache.run_dir(cfg, "mhsa", 0, "fingerprint") / "trained.json").read_bytes() == b"{}"


def test_cluster_setting(monkeypatch):
    from attnstudy.errors import UserError
    from attnstudy.pipeline import executors

    monkeypatch.delenv("ATTNSTUDY_CLUSTER", raising=False)
    assert executors.from_setting(None) is None  # the local pool
    assert executors.from_setting("local") is None
    monkeypatch.setenv("ATTNSTUDY_CLUSTER", "head:6379")
    assert executors.from_setting(None).address == "head:6379"
    assert executors.from_setting("ray://head:10001").address == "ray://head:10001"
    assert executors.from_setting("auto").address == executors.LOCAL
    with pytest.raises(UserError, match="no Ray cluster answers at ray://127.0.0.1:1"):
        executors._reachable("ray://127.0.0.1:1")  # one line, not Ray's minutes of retries
