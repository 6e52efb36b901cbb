"""Atomic file writes (a reader sees the old file or the complete new one, never half of one)
and content stamps for make-style memoisation of derived files."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import tomllib
from pathlib import Path

from attnstudy.errors import UserError
from attnstudy.keys import file_digest

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_write(path: Path | str, mode: str = "w"):
    """Write to a temp file in the same folder, fsync, then rename over `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; published files must be readable
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UserError(f"cannot write {path}: {e.strerror or e}; earlier files are intact"
                        ) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_json(path: Path | str, obj) -> None:
    with atomic_write(path) as f:
        json.dump(obj, f, indent=1, sort_keys=False, allow_nan=False)
        f.write("\n")


def read_json(path: Path | str):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_toml(path: Path | str, what: str) -> dict:
    """A declared TOML file; a missing or malformed one is a one-line UserError (`what`: what
    the file declares, for the message)."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: missing; {what} is declared there") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: not valid TOML ({e})") from None


class Stamp:
    """Make-style memo of a derived step: its outputs are current when the inputs' key is the
    one recorded *and* every output still has the bytes it had then (so a deleted or edited
    output is redone). Stamps live in a git-ignored cache folder."""

    def __init__(self, folder: Path, name: str, key: str):
        self.path, self.key = Path(folder) / f"{name}.json", key

    def current(self, outputs: list[Path]) -> bool:
        try:
            doc = read_json(self.path)
        except (OSError, ValueError):
            return False
        return doc.get("key") == self.key and doc.get("outputs") == self._sums(outputs)

    def record(self, outputs: list[Path]) -> None:
        write_json(self.path, {"key": self.key, "outputs": self._sums(outputs)})

    def _sums(self, outputs: list[Path]) -> dict:  # relative names: a copied folder stays current
        return {os.path.relpath(p, self.path.parent): file_digest(p) for p in outputs}
