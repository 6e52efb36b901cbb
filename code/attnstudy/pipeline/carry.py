"""Finished runs carried from one machine to the next through git.

A full retrain outlasts a session, and a new machine starts without build/cache. `pack` writes
each finished run of the run cache into one file under build/carry/ (committed with the code);
`unpack` on the next machine puts them back, and the build resumes with the same run keys.

    build/carry/<run folder>.tar.xz      trained.json     the training record: all the sweep reads
                                         eval-<key>/...   every finished evaluation (all a build
                                                          reads of an evaluated run)
                                         best_params.msgpack   for evaluated seed-0 runs (their
                                                          weights are published), the sweep's
                                                          final runs (the build evaluates them)
                                                          and runs matched by `params`

Parameters are ~6 MB a run, so the sweep's other runs travel without them: a run carried
without parameters is trained again, from scratch, only if a build must evaluate it. A resume
checkpoint never travels (an unfinished run starts again elsewhere). Archives are
byte-reproducible (sorted members, no times or owners), so packing an unchanged run changes no
file, and an archive never loses a file it held. Unpacking restores a run only into a machine
that has none of it: one run's files never come from two machines.
"""

from __future__ import annotations

import fnmatch
import io
import json
import re
import tarfile
from pathlib import Path

from attnstudy.config import BUILD
from attnstudy.errors import UserError
from attnstudy.files import atomic_write
from attnstudy.pipeline.cache import CACHE, run_lock
from attnstudy.training.checkpoints import BEST, CHECKPOINT, TRAINED

CARRY = BUILD / "carry"
SWEEP = BUILD / "sweep" / "sweep.json"  # pipeline.sweep.sweep_dir("full")
SUFFIX = ".tar.xz"
PUBLISHED_SEED = re.compile(r"-seed0-")  # the seed whose weights are published (seeds[0])
# the only files an archive may hold (relative to its run folder): nothing else is unpacked
MEMBER = re.compile(rf"({re.escape(BEST)}|{re.escape(TRAINED)}|eval-[0-9a-f]+/[\w.-]+)")


def members(rdir: Path, params: tuple[str, ...] = ()) -> list[str]:
    """The files of run folder `rdir` that travel (paths relative to it), sorted; [] when the
    run has not finished. `params`: patterns of run folders whose parameters travel too."""
    if not (rdir / TRAINED).exists():
        return []
    out = [TRAINED]
    evaluated = False
    for edir in sorted(rdir.glob("eval-*")):
        if (edir / "result.json").exists():  # a finished evaluation (result.json comes last)
            evaluated = True
            out += sorted(f"{edir.name}/{f.name}" for f in edir.iterdir()
                          if f.is_file() and not f.name.startswith("."))
    wanted = any(fnmatch.fnmatch(rdir.name, p) for p in params)
    if (rdir / BEST).exists() and (wanted or (evaluated and PUBLISHED_SEED.search(rdir.name))):
        out.append(BEST)
    return sorted(out)


def final_runs(sweep: Path | None = None) -> tuple[str, ...]:
    """The run folders of the sweep's final seed-0 runs (its record's `final_runs`; default
    the full profile's sweep.json), if any."""
    try:
        record = json.loads((sweep or SWEEP).read_text(encoding="utf-8"))
        return tuple(str(r["run_key"]) for r in record["final_runs"].values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return ()  # no sweep finished here (yet)


def _order(name: str) -> tuple[int, str]:
    """Restore order, as a run is made: parameters, then the record that marks the run trained,
    then evaluations, each one's result.json last (it marks the evaluation finished). An
    interrupted unpack leaves a run that looks unfinished, never one that looks done."""
    rank = (0 if name == BEST else 1 if name == TRAINED
            else 3 if name.endswith("/result.json") else 2)
    return rank, name


def _archive(rdir: Path, names: list[str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(names, key=_order):
            data = (rdir / name).read_bytes()
            info = tarfile.TarInfo(f"{rdir.name}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _names(archive: Path) -> set[str]:
    """The files archive `archive` holds; an unreadable archive holds none (it is rewritten)."""
    try:
        with tarfile.open(archive, "r:xz") as tar:
            return {m.name.split("/", 1)[-1] for m in tar.getmembers()}
    except (tarfile.TarError, EOFError, OSError):
        return set()


def pack(cache: Path = CACHE, carry: Path = CARRY, params: tuple[str, ...] = ()) -> list[Path]:
    """Write or update the archive of every finished run in `cache`/runs; the archives written.
    The sweep's final runs (build/sweep/sweep.json) carry their parameters."""
    params = (*params, *final_runs())
    written = []
    for rdir in sorted((cache / "runs").glob("*-seed*-*")):
        names = set(members(rdir, params))
        if not names:
            continue
        target = carry / f"{rdir.name}{SUFFIX}"
        held = _names(target) if target.exists() else set()
        names |= {n for n in held if (rdir / n).is_file()}  # never drop a file it held
        if names == held:
            continue
        with atomic_write(target, "wb") as f:
            f.write(_archive(rdir, sorted(names)))
        written.append(target)
    return written


def unpack(carry: Path = CARRY, cache: Path = CACHE) -> list[str]:
    """Put every carried run back into `cache`/runs that this machine has none of (no record,
    checkpoint or evaluation of its own); the run folders restored."""
    restored = []
    for archive in sorted(carry.glob(f"*{SUFFIX}")):
        run = archive.name[:-len(SUFFIX)]
        rdir = cache / "runs" / run
        if rdir.exists() and any((rdir / f).exists() for f in (TRAINED, CHECKPOINT, BEST)):
            continue  # this machine trained (or is training) it: its files only
        try:
            with run_lock(rdir, f"{run} (unpacking)"), tarfile.open(archive, "r:xz") as tar:
                files = [m for m in tar.getmembers() if m.isfile()]
                bad = next((m.name for m in files if not m.name.startswith(f"{run}/")
                            or not MEMBER.fullmatch(m.name[len(run) + 1:])), None)
                if bad is not None:
                    raise UserError(f"cannot unpack {archive}: unexpected member {bad!r}")
                for m in sorted(files, key=lambda m: _order(m.name[len(run) + 1:])):
                    # each file whole, by rename: a killed unpack leaves no half file
                    with atomic_write(rdir / m.name[len(run) + 1:], "wb") as f:
                        f.write(tar.extractfile(m).read())
        except (tarfile.TarError, EOFError, OSError) as e:
            raise UserError(f"cannot unpack {archive}: {e}") from None
        restored.append(run)
    return restored
