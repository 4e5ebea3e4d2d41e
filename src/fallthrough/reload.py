"""Reloads: no process takes a configuration that has not passed `check`.

The workers read their configuration from a snapshot under `store.path/run/`, which the
node's main process writes only after the file passed the same checks as a start. On
SIGHUP (from `fallthrough reload`, or sent by hand to the pid in
`store.path/run/fallthrough.pid`) the main process checks the file again: a good one
becomes the snapshot, the workers are replaced one at a time on it (each old one
finishes its requests first), and the S3 listener's process is told to do the same; a
bad one is refused in one line, and the workers are replaced on the snapshot they had.
What a reload cannot change (the listen addresses, the worker count, the store's path)
refuses it too: those need a restart.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

from . import processes
from .config import ConfigError, Settings, parse
from .serve_errors import ServeError


def run_dir(settings: Settings) -> str:
    return processes.run_dir(settings.store.path)


def pid_path(settings: Settings) -> str:
    return os.path.join(run_dir(settings), "fallthrough.pid")


def snapshot_path(settings: Settings) -> str:
    return os.path.join(run_dir(settings), "config.toml")


def write_atomically(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(temporary, path)


def node_pid(settings: Settings) -> int:
    """The pid of the node running with these settings; ServeError if there is none."""
    path = pid_path(settings)
    try:
        with open(path, encoding="ascii") as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        raise ServeError(f"no node is running with this configuration (no live pid in {path})") from None
    return pid


def _fixed(old: Settings, new: Settings) -> None:
    for key, before, after in (
        ("server.listen", old.server.listen, new.server.listen),
        ("server.workers", old.server.workers, new.server.workers),
        ("store.path", os.path.abspath(old.store.path), os.path.abspath(new.store.path)),
        ("s3.listen", old.s3.listen if old.s3 else None, new.s3.listen if new.s3 else None),
        ("metrics.listen", old.metrics.listen, new.metrics.listen),
    ):
        if before != after:
            raise ServeError(f"{key}: a reload cannot change it ({before} → {after}); restart the node")


class Reloader:
    """The main process's SIGHUP hook (it runs before the workers are replaced)."""

    def __init__(self, config_path: str, settings: Settings, check: Callable[[Settings], None]) -> None:
        self.config_path = config_path
        self.settings = settings
        self.check = check
        self.followers: list[int] = []  # other servers' main processes to pass the signal on to

    def __call__(self) -> None:
        try:
            with open(self.config_path, encoding="utf-8") as f:
                text = f.read()
            new = parse(text, self.config_path)
            _fixed(self.settings, new)
            self.check(new)
            write_atomically(snapshot_path(self.settings), text)
        except (OSError, UnicodeDecodeError) as exc:
            self._say(f"reload refused: cannot read {self.config_path}: {exc}; still serving the previous configuration")
            return
        except (ConfigError, ServeError) as exc:
            self._say(f"reload refused: {exc}; still serving the previous configuration")
            return
        self.settings = new
        self._say(f"reloading {self.config_path}")
        for pid in self.followers:
            try:
                os.kill(pid, signal.SIGHUP)
            except OSError:
                pass

    @staticmethod
    def _say(line: str) -> None:
        print(f"fallthrough: {line}", file=sys.stderr, flush=True)
