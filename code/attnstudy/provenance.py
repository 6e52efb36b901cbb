"""Where and how a number was made: commit, time, machine, package versions and threading.

Each trained run records its own provenance (pipeline.runs), so a results set re-aggregated
later still says when and where every model was trained.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys

from attnstudy.config import ROOT
from attnstudy.keys import PACKAGES, SINGLE_THREAD_XLA, versions

# recorded: the libraries every key holds (keys.PACKAGES), and those of the data, the baseline,
# the figures and the report
RECORDED = (*PACKAGES, "datasets", "scikit-learn", "scipy", "matplotlib", "jinja2", "weasyprint")


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _git(*args) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            name = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                        "")
    except OSError:
        name = ""
    return name or platform.processor() or "unknown"


def _code_state() -> dict:
    return {"git_commit": _git("rev-parse", "HEAD") or "unknown",
            # uncommitted changes to what decides the numbers (the outputs themselves excluded)
            "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no", "--", "code",
                                   "paper", "pyproject.toml"))}


# Read when the process loads its code, not when a run ends: a commit made while a long run
# trains is not the code it ran.
CODE_AT_START = _code_state()


def provenance(started: str) -> dict:
    """The record of one computation that began at `started` (ISO time) and ends now, with the
    commit this process's code was loaded from."""
    return {**CODE_AT_START,
            "python": platform.python_version(), "packages": versions(RECORDED),
            "cpu": cpu_name(), "cores": os.cpu_count(), "platform": platform.platform(),
            "threads": {"XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
                        "single_thread_xla": SINGLE_THREAD_XLA in os.environ.get("XLA_FLAGS", ""),
                        "affinity": sorted(os.sched_getaffinity(0))
                        if hasattr(os, "sched_getaffinity") else None},
            "started": started, "finished": now(),
            "command": " ".join(["python -m attnstudy", *sys.argv[1:]])}
