"""Finished runs carried from one machine to the next through git.

A full retrain outlasts a session, and a new machine starts without build/cache. `pack` writes
each finished run of the run cache into one file under build/carry/ (committed with the code);
`unpack` on the next machine puts them back, and the build then resumes as if it had trained
them (their keys are the same; nothing is recomputed).

    build/carry/<run folder>.tar.xz      trained.json     the training record: all the sweep reads
                                         eval-<key>/...   every evaluation (all a build reads)
                                         best_params.msgpack   only for runs matched by --params
                                                          and seed-0 runs once evaluated (their
                                                          weights are published)

A run's resume checkpoint is never carried: an unfinished run starts again elsewhere. Archives
are byte-reproducible (sorted members, no times or owners), so packing an unchanged run changes
no file. Unpacking never overwrites a file that exists.
"""

from __future__ import annotations

import fnmatch
import io
import re
import tarfile
from pathlib import Path

from attnstudy.config import BUILD
from attnstudy.errors import UserError
from attnstudy.files import atomic_write
from attnstudy.pipeline.cache import CACHE
from attnstudy.training.checkpoints import BEST, TRAINED

CARRY = BUILD / "carry"
SUFFIX = ".tar.xz"
_SEED0 = re.compile(r"-seed0-")


def members(rdir: Path, params: tuple[str, ...] = ()) -> list[str]:
    """The files of run folder `rdir` that travel (paths relative to it), sorted; [] when the
    run has not finished."""
    if not (rdir / TRAINED).exists():
        return []
    out = [TRAINED]
    evaluated = False
    for edir in sorted(rdir.glob("eval-*")):
        if (edir / "result.json").exists():  # a finished evaluation (result.json comes last)
            evaluated = True
            out += sorted(f"{edir.name}/{f.name}" for f in edir.iterdir()
                          if f.is_file() and not f.name.endswith(".tmp"))
    wanted = any(fnmatch.fnmatch(rdir.name, p) for p in params)
    if (rdir / BEST).exists() and (wanted or (evaluated and _SEED0.search(rdir.name))):
        out.append(BEST)
    return sorted(out)


def _archive(rdir: Path, names: list[str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(names, key=_unpack_order):
            data = (rdir / name).read_bytes()
            info = tarfile.TarInfo(f"{rdir.name}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _unpack_order(name: str) -> tuple:
    """The files that mark a step finished come last (an evaluation's result.json, then the
    run's trained.json), as when the run was made: an interrupted unpack looks unfinished."""
    return name == TRAINED, name.endswith("/result.json"), name


def _names(archive: Path) -> list[str]:
    with tarfile.open(archive, "r:xz") as tar:
        return sorted(m.name.split("/", 1)[1] for m in tar.getmembers())


def pack(cache: Path = CACHE, carry: Path = CARRY, params: tuple[str, ...] = ()) -> list[Path]:
    """Write or update the archive of every finished run in `cache`/runs; the archives written.
    An archive whose members are unchanged is left alone (finished files never change)."""
    written = []
    for rdir in sorted((cache / "runs").glob("*-seed*-*")):
        names = members(rdir, params)
        target = carry / f"{rdir.name}{SUFFIX}"
        if not names or (target.exists() and _names(target) == names):
            continue
        with atomic_write(target, "wb") as f:
            f.write(_archive(rdir, names))
        written.append(target)
    return written


def unpack(carry: Path = CARRY, cache: Path = CACHE) -> list[str]:
    """Put every carried run back into `cache`/runs, adding only files it lacks; the run
    folders that received files."""
    restored = []
    for archive in sorted(carry.glob(f"*{SUFFIX}")):
        run = archive.name[:-len(SUFFIX)]
        try:
            with tarfile.open(archive, "r:xz") as tar:
                new = [m for m in tar.getmembers() if m.isfile()
                       and m.name.startswith(f"{run}/")
                       and not (cache / "runs" / m.name).exists()]
                for m in new:  # each file whole, by rename: a killed unpack leaves no half file
                    with atomic_write(cache / "runs" / m.name, "wb") as f:
                        f.write(tar.extractfile(m).read())
        except (tarfile.TarError, EOFError, OSError) as e:
            raise UserError(f"cannot unpack {archive}: {e}") from None
        if new:
            restored.append(run)
    return restored
