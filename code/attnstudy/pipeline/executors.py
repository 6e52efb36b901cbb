"""Training runs on a Ray cluster, one task per (model, seed) run.

No shared filesystem is assumed. A task receives the config, the encoded dataset (put once
in Ray's object store), the probe texts and the probe file's digest (its copy of the code has no
paper/ folder) and whatever files the driver already holds for the run (finished parameters, a
checkpoint to resume); it trains and evaluates the run with `runs.train_one` in a scratch cache
on its node and returns the run's cache files, which the driver writes into its own run cache
exactly as a local build would have. Tasks run XLA on one thread (`keys.SINGLE_THREAD_XLA`, as
the local workers do), so the files are bit-identical to a local build's; a node whose code or
library versions differ computes another run or evaluation key and is refused in one line. Ray
retries a task lost with its worker or node; the driver stores each run as it arrives, so a build
interrupted and restarted submits only the runs still missing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from attnstudy.config import Config
from attnstudy.cores import one_core_per_process, usable_cores
from attnstudy.data.encode import Dataset
from attnstudy.errors import UserError
from attnstudy.files import atomic_write
from attnstudy.keys import SINGLE_THREAD_XLA, versions
from attnstudy.pipeline import cache, runs, workers
from attnstudy.training.checkpoints import BEST, CHECKPOINT, TRAINED

LOCAL = "auto"  # --cluster auto: start a Ray cluster on this machine for the build
RETRIES = 3  # attempts after the first for a run whose worker or node dies
EVAL_FILES = ("test_probs.npy", cache.LEXICON, "attention.json", "result.json")  # result.json
# last: it marks the evaluation finished, as trained.json (after best_params.msgpack) marks the
# training; lexicon.npy exists for models with attention weights only


def from_setting(value: str | None):
    """The executor `--cluster` (else $ATTNSTUDY_CLUSTER) names; None for the local pool."""
    value = value or os.environ.get("ATTNSTUDY_CLUSTER")
    return RayExecutor(value) if value and value != "local" else None


def scratch_dir() -> Path:
    """Where cluster workers keep their runs on their own disk (a cache, safe to delete)."""
    return Path(os.environ.get("ATTNSTUDY_CLUSTER_SCRATCH")
                or Path(tempfile.gettempdir()) / "attnstudy-cluster")


def run_task(cfg: Config, name: str, seed: int, ds: Dataset, probe_texts: list[str],
             probes: str, known: dict[str, bytes], progress, argv: list[str]) -> dict:
    """In a Ray worker: train and evaluate one run in this node's scratch cache.

    `probes` is the digest of the driver's probe file (`probe_texts` came from it). Returns the
    run and evaluation keys the node computed, its library versions and the run's files
    (name -> bytes, `eval/` for those of its evaluation folder) in the order to write them.
    """
    from attnstudy.models.inference import enable_compile_cache

    if SINGLE_THREAD_XLA not in os.environ.get("XLA_FLAGS", ""):
        raise RuntimeError("a cluster task must run XLA on one thread (XLA_FLAGS)")
    claim_core()
    enable_compile_cache()
    sys.argv[1:] = argv  # the runs' provenance records the driver's command, not Ray's
    rdir = cache.run_dir(cfg, name, seed, ds.fingerprint)
    for file, data in known.items():  # what the driver had: finished parameters, a checkpoint
        if not (rdir / file).exists():
            with atomic_write(rdir / file, "wb") as f:
                f.write(data)
    runs.train_one(cfg, name, seed, ds, probe_texts, probes=probes,
                   report=lambda step, point: progress.report.remote(name, seed, step, point))
    edir = cache.eval_dir(cfg, name, seed, ds.fingerprint, probes)
    files = {f: (rdir / f).read_bytes() for f in (BEST, TRAINED)}
    files.update({f"eval/{f}": (edir / f).read_bytes() for f in EVAL_FILES
                  if (edir / f).exists() or f != cache.LEXICON})
    return {"run_key": rdir.name, "eval_key": edir.name, "node": socket.gethostname(),
            "versions": versions(), "files": files}


_CLAIMED: list = []  # this worker process's core lock, held while the process lives


def claim_core() -> None:
    """Pin this worker process to a core of its node that no other worker holds.

    XLA sizes its thread pool from the process's cores when it starts, and that changes the
    last bits of some reductions: like the local workers, each task process trains on one
    core (before jax computes anything), which also keeps two of them off the same core. A
    lock file per core (released by the kernel when the process dies) shares out the cores.
    """
    if _CLAIMED or not hasattr(os, "sched_setaffinity"):
        return
    import fcntl

    cores = usable_cores()
    folder = scratch_dir() / "cores"
    folder.mkdir(parents=True, exist_ok=True)
    for core in cores:
        f = open(folder / f"{core}.lock", "w")  # held while the process lives
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        _CLAIMED.append(f)
        one_core_per_process(core)
        return
    one_core_per_process(cores[os.getpid() % len(cores)])  # more workers than cores
    _CLAIMED.append(None)


def _reachable(address: str) -> None:
    """Fail in one line when nothing listens at HOST:PORT (Ray itself retries for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not port.isdigit():
        return  # e.g. "auto" as Ray spells it: let Ray resolve it
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as e:
        raise UserError(f"no Ray cluster answers at {address}: {e.strerror or e}") from None


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UserError("--cluster needs Ray: pip install the project's dependencies") from None
    return ray


class Progress:
    """A Ray actor (no CPU) where tasks report validation points for the driver's bars."""

    def __init__(self):
        self.points = {}

    def report(self, name, seed, step, point):
        self.points[(name, seed)] = (step, point)

    def read(self) -> dict:
        return self.points


class RayExecutor:
    """Trains runs as Ray tasks: on a cluster started here (`auto`) or at `address`
    (`ray://HOST:PORT` through Ray Client, or `HOST:PORT` of a node's GCS), or on the one
    this process is already connected to (tests)."""

    def __init__(self, address: str = LOCAL, retries: int = RETRIES):
        self.address, self.retries = address, retries
        self.submitted: list[tuple[str, int]] = []
        self.reaper: subprocess.Popen | None = None

    def __call__(self, cfg: Config, pending: list, ds: Dataset, probe_texts: list[str]) -> None:
        if self.address == LOCAL:  # the cluster started here and this driver use Ray's token
            os.environ.setdefault("RAY_AUTH_MODE", "token")  # (~/.ray/auth_token), read at import
        ray = _import_ray()
        started = self._connect(ray)
        try:
            self._run(ray, cfg, pending, ds, probe_texts)
        finally:
            if started:  # the cluster (and its workers' memory) lives as long as the build
                self._stop_local(ray)

    def _connect(self, ray) -> bool:
        """Connect unless connected; True when this started the cluster."""
        if ray.is_initialized():
            return False
        if self.address != LOCAL:
            import attnstudy

            _reachable(self.address)
            code = str(Path(attnstudy.__file__).parent)  # other machines get this code (not
            try:  # the libraries: see README)
                ray.init(address=self.address, logging_level=logging.WARNING,
                         runtime_env={"py_modules": [code]})
            except ImportError:  # Ray Client (ray://) needs grpcio
                raise UserError(f"{self.address} needs Ray Client: pip install "
                                "'ray[client]' of the pinned version") from None
            except (ConnectionError, ValueError, RuntimeError) as e:
                hint = "" if "RAY_AUTH_MODE" in os.environ else (
                    " (a cluster with token authentication needs RAY_AUTH_MODE=token)")
                raise UserError(f"cannot connect to the Ray cluster at {self.address}: "
                                f"{str(e).splitlines()[0]}{hint}") from None
            return False
        self._start_local(ray)
        return True

    def _start_local(self, ray) -> None:
        """Start a Ray cluster on this machine through a reaper that ends it with this process.

        `ray start` rather than `ray.init()`: the reaper starts the cluster in its own session,
        by which it finds every process of it (see reaper). Ray's temporary folder (sockets,
        logs, the cluster's address) is the build's own, so that no other `ray.init()` on this
        machine finds and joins this cluster; the reaper removes it.
        """
        if not hasattr(os, "setsid"):
            raise UserError("--cluster auto needs Linux or macOS: start a cluster with "
                            "`ray start --head` and pass its address")
        folder = Path(tempfile.mkdtemp(prefix="attnstudy-ray-"))  # short: Ray's socket paths
        cores = usable_cores()
        # -P: nothing in the current folder shadows a module of Ray's or the standard library's
        start = [sys.executable, "-P", "-m", "ray.scripts.scripts", "start", "--head", "--block",
                 "--port=0", f"--num-cpus={len(cores)}", "--include-dashboard=false",
                 "--disable-usage-stats", f"--temp-dir={folder}"]
        # Ray lowers its workers' priority (nice 15) unless told: here they are the build's only
        # workers, like the local pool's
        env = {**os.environ,
               "RAY_worker_niceness": os.environ.get("RAY_worker_niceness", "0")}
        pinned = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        if pinned is not None:  # the cluster's processes inherit it: give them every core
            os.sched_setaffinity(0, cores)
        try:
            with open(folder / "start.log", "w") as log:
                self.reaper = subprocess.Popen(
                    [sys.executable, "-P", "-m", "attnstudy.pipeline.reaper", str(folder),
                     *start],
                    stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=env,
                    start_new_session=True, text=True)
        finally:
            if pinned is not None:
                os.sched_setaffinity(0, pinned)
        try:
            ray.init(address=self._wait_for_address(folder), logging_level=logging.WARNING)
        except BaseException:  # e.g. Ctrl-C while it starts: end it now, not with the process
            self._stop_local(None)
            raise

    def _wait_for_address(self, folder: Path, timeout: float = 300) -> str:
        """The GCS address `ray start` writes once the cluster is up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.reaper.poll() is None:
            with contextlib.suppress(OSError):
                address = (folder / "ray_current_cluster").read_text().strip()
                if address.rpartition(":")[2].isdigit():
                    return address
            time.sleep(0.2)
        lines = []
        with contextlib.suppress(OSError):
            lines = (folder / "start.log").read_text().strip().splitlines()
        raise UserError("the local Ray cluster did not start: "
                        f"{(lines or ['no output'])[-1]}")

    def _stop_local(self, ray) -> None:
        if ray is not None:
            ray.shutdown()  # disconnects this driver; the reaper ends the cluster
        if self.reaper is not None:
            self.reaper.stdin.close()
            self.reaper.wait(timeout=60)
            self.reaper = None

    def _runtime_env(self) -> dict:
        env = {"XLA_FLAGS": os.environ.get("XLA_FLAGS", SINGLE_THREAD_XLA),
               "ATTNSTUDY_BUILD": str(scratch_dir()),  # the node's own run cache
               "TQDM_DISABLE": "1"}  # the driver draws the bars
        if "GLIBC_TUNABLES" in os.environ:
            env["GLIBC_TUNABLES"] = os.environ["GLIBC_TUNABLES"]
        return {"env_vars": env}

    def _run(self, ray, cfg: Config, pending: list, ds: Dataset, probe_texts: list[str]) -> None:
        env = self._runtime_env()
        progress = ray.remote(num_cpus=0)(Progress).options(runtime_env=env).remote()
        task = ray.remote(run_task).options(num_cpus=1, max_retries=self.retries,
                                            retry_exceptions=False, runtime_env=env)
        data, probes = ray.put(ds), cache.probes_digest()  # the node has no paper/
        order = workers.cost_order(pending)
        print(f"attnstudy: {len(order)} run(s) to train on the Ray cluster "
              f"({ray.cluster_resources().get('CPU', 0):g} CPUs)", file=sys.stderr)
        futures = {}
        for m, s in order:
            rdir = cache.run_dir(cfg, m, s, ds.fingerprint)
            known = {f: (rdir / f).read_bytes() for f in (BEST, TRAINED, CHECKPOINT)
                     if (rdir / f).exists()}
            ref = task.remote(cfg, m, s, data, probe_texts, probes, known, progress,
                              sys.argv[1:])
            futures[ref] = (m, s)
            self.submitted.append((m, s))
        bars = Bars(cfg.train.steps, order)
        try:
            while futures:
                done, _ = ray.wait(list(futures), num_returns=1, timeout=0.5)
                bars.update(ray.get(progress.read.remote()))
                for ref in done:
                    m, s = futures.pop(ref)
                    store(cfg, m, s, ds.fingerprint, self._result(ray, ref, m, s))
                    bars.close(m, s)
        finally:
            for ref in futures:  # after a failure: the runs stored so far are kept
                ray.cancel(ref, force=True)
            bars.close_all()

    def _result(self, ray, ref, name: str, seed: int) -> dict:
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as e:  # raised by the run itself: not retried
            raise (e.cause if isinstance(e.cause, Exception) else e) from None
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                ray.exceptions.OutOfMemoryError) as e:
            raise UserError(f"{name} seed {seed} was lost with its worker or node in all "
                            f"{self.retries + 1} attempts ({type(e).__name__}); finished runs "
                            "are kept: rerun to resume") from None


class Bars:
    """One progress bar per run, drawn by the driver from the points its tasks report."""

    def __init__(self, steps: int, order: list):
        self.steps, self.bars = steps, {}
        self.labels = {ms: f"[{i + 1}/{len(order)}] " for i, ms in enumerate(order)}

    def update(self, points: dict) -> None:
        from tqdm import tqdm

        for (m, s), (step, point) in points.items():
            if (m, s) not in self.labels:  # finished
                continue
            if (m, s) not in self.bars:
                self.bars[m, s] = tqdm(total=self.steps, desc=f"{self.labels[m, s]}{m} seed {s}",
                                       unit="step", dynamic_ncols=True, file=sys.stderr)
            bar = self.bars[m, s]
            if step == bar.n:  # nothing new (the run may be evaluating)
                continue
            bar.update(step - bar.n)
            bar.set_postfix(loss=f"{point['train_loss']:.3f}", val=f"{point['val_loss']:.3f}",
                            acc=f"{point['val_accuracy']:.3f}")

    def close(self, m: str, s: int) -> None:
        self.labels.pop((m, s), None)
        if (m, s) in self.bars:
            self.bars.pop((m, s)).close()

    def close_all(self) -> None:
        for bar in self.bars.values():
            bar.close()


def store(cfg: Config, name: str, seed: int, fingerprint: str, result: dict) -> None:
    """Write a task's files into this machine's run cache (the layout `train_one` writes), after
    checking that the node computed this machine's run key and evaluation key: the evaluation
    code is not part of the run key, so a node with other evaluation code is caught only here."""
    rdir, edir = cache.run_dir(cfg, name, seed, fingerprint), cache.eval_dir(cfg, name, seed,
                                                                            fingerprint)
    for what, theirs, mine in (("run", result["run_key"], rdir.name),
                               ("evaluation", result.get("eval_key"), edir.name)):
        if theirs != mine:
            here = ", ".join(f"{k} {v}" for k, v in versions().items())
            there = ", ".join(f"{k} {v}" for k, v in result["versions"].items())
            raise UserError(f"node {result['node']} computes {what} {theirs}, this machine "
                            f"{mine}: its code or libraries differ ({there}; here {here})")
    with cache.run_lock(rdir, f"{name} seed {seed} ({rdir.name})"):
        for file, data in result["files"].items():
            path = edir / file.removeprefix("eval/") if file.startswith("eval/") else rdir / file
            with atomic_write(path, "wb") as f:
                f.write(data)
        (rdir / CHECKPOINT).unlink(missing_ok=True)  # finished: the resume state is not needed
