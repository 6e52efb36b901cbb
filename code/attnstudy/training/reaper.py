"""Ends the Ray processes of a cluster a build started (`--cluster auto`) once the build ends.

Ray ties its GCS, raylet and workers to the process that started them, but two of its agents
outlive a driver killed with `kill -9` by a minute or more (they wait on the dead GCS). This
small process, started before the cluster, reads its stdin to the end of file (the driver holds
the only writing end, so it comes when the driver exits, however it exits) and then kills every
process of the cluster, known by its environment: the token the build gave the cluster (GCS,
raylet, workers; an argument), or the node id Ray gives its agents, whose environment it
replaces (a line the driver writes once the cluster is up).

    python -m attnstudy.training.reaper DRIVER_PID VAR=VALUE...   (stdin: more VAR=VALUE lines)
"""

from __future__ import annotations

import os
import signal
import sys

TOKEN_VAR = "ATTNSTUDY_CLUSTER_OF"


def processes_with(marks: list[str]) -> list[int]:
    """Process ids whose environment holds one of `marks` ("VAR=value"; Linux /proc, this
    user's processes)."""
    wanted = {m.encode() for m in marks}
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                if wanted & set(f.read().split(b"\0")):
                    found.append(int(entry.name))
        except OSError:  # gone, or another user's
            pass
    return found


def main(driver: int, marks: list[str]) -> None:
    marks = marks + sys.stdin.read().split()  # returns when the driver exits or closes the pipe
    for pid in processes_with(marks):
        if pid not in (os.getpid(), driver):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:])
