"""The node's other processes, as the files under `store.path/run/` name them by pid.

Several parts of a node keep a file per process (heartbeats, metrics, write horizons,
pipes) and must tell a live process from a gone one, and a starting node must clear
what the last run left. Both are here once.
"""

from __future__ import annotations

import contextlib
import os


def run_dir(store_path: str) -> str:
    """Where a node keeps what lives only while it runs (pid file, locks, per-process files)."""
    return os.path.join(os.path.abspath(store_path), "run")


def alive(pid: int) -> bool:
    """Whether the process runs. A zombie (ended, not yet reaped by its parent) does not:
    a killed worker stays one until something reaps it."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive, and not ours to judge
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except FileNotFoundError:
        return False  # gone between the two looks
    except (OSError, IndexError):
        return True  # no /proc to ask: kill() said it is there


def empty_folder(directory: str) -> None:
    """An empty folder for a node that is starting (none of its processes runs yet)."""
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            os.unlink(os.path.join(directory, name))
