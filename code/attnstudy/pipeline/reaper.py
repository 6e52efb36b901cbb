"""Runs the Ray cluster of a build (`--cluster auto`) and ends every process of it with the build.

The driver starts this process as the leader of a new session; it starts the cluster (`ray
start --head --block`), whose processes all stay in that session: Ray's GCS, raylet, dashboard
and runtime-env agents and workers change their process group but never their session. It then
reads its stdin to the end of file, which comes when the driver exits however it exits (the driver
holds the only writing end, also after `kill -9`), or waits for the cluster to stop by itself,
and kills every process of its session. Ray alone does not suffice: its agents outlive a killed
driver by a minute or more (they wait on the dead GCS), and they replace their environment and
command line, so only their session still tells them apart. In its own session, this process
also escapes the terminal's Ctrl-C, which the driver handles by closing the pipe.

    python -m attnstudy.pipeline.reaper FOLDER COMMAND...   (FOLDER: removed once all are dead)
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import psutil


def session() -> list[psutil.Process]:
    """The live processes of this process's session, but this one."""
    me, mine, out = os.getpid(), os.getsid(0), []
    for p in psutil.process_iter():
        try:
            if p.pid != me and os.getsid(p.pid) == mine and (
                    p.status() != psutil.STATUS_ZOMBIE):
                out.append(p)
        except (OSError, psutil.Error):  # gone meanwhile
            pass
    return out


def kill_session(cluster: subprocess.Popen) -> None:
    """SIGKILL the session until it is empty (a process may start another meanwhile)."""
    for _ in range(100):
        if not (left := session()):
            return
        for p in left:
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        time.sleep(0.05)
        cluster.poll()  # reap this process's one child: a zombie stays in the session


def main(folder: str, command: list[str]) -> None:
    if os.getsid(0) != os.getpid():
        sys.exit("reaper: must lead its own session (start_new_session=True)")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # `kill` of this process: end as well
    cluster = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    while not stop.wait(0.5) and cluster.poll() is None:  # until the driver or cluster ends
        pass
    kill_session(cluster)
    shutil.rmtree(folder, ignore_errors=True)  # Ray's sockets, logs and spilled objects


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
