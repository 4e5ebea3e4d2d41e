"""Helpers shared by the benchmark scripts: input files, timing a CLI child, medians.

The scripts measure the `fallthrough` command as a user runs it (a separate process),
so timing and peak memory come from the child itself: wall time around its spawn, and
ru_maxrss from os.wait4, taken by a tiny helper process (see _SPAWN_HELPER for why).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / ".bench"  # git-ignored scratch space
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
BLOCK = 4 * MiB  # unit for writing generated files

_UNITS = {"": 1, "b": 1, "k": KiB, "kib": KiB, "m": MiB, "mib": MiB, "g": GiB, "gib": GiB,
          "kb": 1000, "mb": 1000**2, "gb": 1000**3}


def parse_size(text: str) -> int:
    """'64MiB', '1G', '4096' → bytes; so smoke runs can shrink every size from the shell."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if match is None or match.group(2).lower() not in _UNITS:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: use e.g. 64MiB, 1GiB, 4096")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def fmt_size(n: int) -> str:
    """Bytes as the short binary form used in file names and tables."""
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{unit}"
    return f"{n}B" if n < MiB else f"{n / MiB:.1f}MiB"


def base_parser(description: str, timed: bool = True) -> argparse.ArgumentParser:
    """Timed scripts take --repeat; each script adds its own --size flags."""
    parser = argparse.ArgumentParser(description=description)
    if timed:
        parser.add_argument("--repeat", type=int, default=3, help="timed runs per figure, median shown (default 3)")
    return parser


def scratch(name: str) -> Path:
    """A directory under .bench/, created if missing."""
    path = BENCH_DIR / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def fresh_dir(name: str, parent: Path | None = None) -> Path:
    """An empty directory under .bench/ or `parent` (a store must start empty to measure a cold put)."""
    path = (parent or BENCH_DIR) / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def dir_bytes(path: Path) -> tuple[int, int]:
    """(total size, file count) of everything under `path`: what a store really costs."""
    total = count = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(dirpath, name))
            count += 1
    return total, count


def median(values: Sequence[float]) -> float:
    """Median, not mean: on a noisy 2-core machine one slow outlier should not move the figure."""
    return statistics.median(values)


# -- input data ---------------------------------------------------------------------


_WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at which but have an they "
    "you were her all she there would their we him been has when who will more no if out so said what up its about "
    "into than them can only other new some could time these two may then do first any my now such like our over "
    "man me even most made after also did many before must through back years where much your way well down should "
    "because each just those people how too little state good very make world still own see men work long get here "
    "between both life being under never day same another know while last might us great old year off come since "
    "against go came right used take three request cache object store chunk digest upstream latency bucket region "
    "server client timeout retry connection handshake certificate manifest compression replica eviction budget"
).split()
_LEVELS = ("INFO",) * 6 + ("DEBUG",) * 3 + ("WARN", "ERROR")
_METHODS = ("GET",) * 8 + ("HEAD", "PUT", "POST", "DELETE")
_STATUS = (200,) * 12 + (206, 304, 404, 500, 503)
_PATHS = ("/blobs/b3/", "/nar/", "/api/v1/objects/", "/chunks/b3/", "/static/img/", "/healthz", "/metrics")
_CLIENTS = tuple(f"10.{i % 7}.{i * 37 % 251}.{i * 101 % 253 + 1}" for i in range(300))  # a service sees repeat clients
_AGENTS = ("curl/8.5.0", "nix/2.24.9", "Mozilla/5.0 (X11; Linux x86_64)", "aws-sdk-go/1.55.5", "python-httpx/0.27.2")


def _text_line(rng: random.Random, t: float) -> str:
    """One line of what a busy service writes: access logs, app logs and some prose."""
    kind = rng.random()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"
    if kind < 0.55:
        path = rng.choice(_PATHS)
        if path.endswith("/"):
            path += f"{rng.getrandbits(64):016x}" if rng.random() < 0.4 else rng.choice(_WORDS)
        return (
            f"{rng.choice(_CLIENTS)} - - "
            f"[{stamp}] \"{rng.choice(_METHODS)} {path} HTTP/1.1\" {rng.choice(_STATUS)} {rng.randint(0, 4_000_000)} "
            f"{rng.randint(1, 2500)}ms \"{rng.choice(_AGENTS)}\"\n"
        )
    if kind < 0.85:
        words = " ".join(rng.choices(_WORDS, k=rng.randint(3, 9)))
        return (
            f"{stamp} {rng.choice(_LEVELS):5} [worker-{rng.randint(0, 31)}] {words} "
            f"id={rng.getrandbits(48):012x} size={rng.randint(0, 1 << 24)} took={rng.random() * 300:.3f}ms\n"
        )
    sentence = " ".join(rng.choices(_WORDS, k=rng.randint(8, 24)))
    return sentence[0].upper() + sentence[1:] + rng.choice((".", ".", ".", "?", ",")) + "\n"


def text_corpus(rng: random.Random, n: int) -> bytes:
    """About `n` bytes of varied log-like text, built line by line (the slow, realistic part)."""
    lines, got, t = [], 0, 1_750_000_000.0
    while got < n:
        line = _text_line(rng, t)
        t += rng.expovariate(50.0)
        lines.append(line)
        got += len(line)
    return "".join(lines).encode()


def text_bytes(rng: random.Random, n: int, corpus: bytes, seq: int = 0) -> bytes:
    """`n` bytes of text-like data cut from `corpus`, every ~4 KiB made unique.

    Building every line in Python would take minutes per GiB, so this takes lines from a
    few-MB corpus at a random place and puts a fresh line (sequence number, random id)
    after each ~4 KiB: content-defined chunks (>= 128 KiB) then never repeat, so dedup
    cannot flatter the figures, while zstd sees the same kind of text as in real logs.
    """
    parts: list[bytes] = []
    got = 0
    pos = rng.randrange(len(corpus) // 2)
    while got < n:
        if pos > len(corpus) - 8 * KiB:
            pos = rng.randrange(len(corpus) // 2)
        end = corpus.find(b"\n", pos + 4 * KiB) + 1 or len(corpus)
        parts.append(corpus[pos:end])
        parts.append(b"seq=%d trace=%016x\n" % (seq, rng.getrandbits(64)))
        got += end - pos + len(parts[-1])
        seq += 1
        pos = end
    return b"".join(parts)[:n]


def ensure_file(kind: str, size: int, seed: int = 1) -> Path:
    """`.bench/<kind>-<size>.bin`, generated once and reused while its size is right.

    kind is "random" (incompressible, os.urandom) or "text" (log-like; zstd -1..-3 gets
    about 3.3x on its chunks).
    """
    path = scratch("data") / f"{kind}-{fmt_size(size)}.bin"
    if path.exists() and path.stat().st_size == size:
        return path
    print(f"generating {path.relative_to(ROOT)} ...", file=sys.stderr, flush=True)
    rng = random.Random(seed)
    corpus = text_corpus(rng, 8 * MiB) if kind == "text" else b""
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        written = 0
        while written < size:
            n = min(BLOCK, size - written)
            # os.urandom for big random files: fast and never repeats, so never dedups.
            block = os.urandom(n) if kind == "random" else text_bytes(rng, n, corpus, seq=written)
            out.write(block)
            written += n
    os.replace(tmp, path)
    return path


def warm(path: Path) -> None:
    """Read a file once so timed runs find it in the page cache (we cannot drop it)."""
    with open(path, "rb", buffering=0) as f:
        while f.read(16 * MiB):
            pass


# -- running the CLI ----------------------------------------------------------------


def fallthrough_cmd() -> list[str]:
    """The installed console script beside this interpreter, as a user would run it."""
    script = Path(sys.executable).parent / "fallthrough"
    return [str(script)] if script.exists() else [sys.executable, "-m", "fallthrough.cli"]


# Spawns the measured command and reports its wall time and rusage. It runs as a small
# separate process because a child's ru_maxrss starts from the peak RSS of the process
# that forked it (Linux copies the old mm's high-water mark at exec): spawned from this
# script after it has touched a GiB, any child would "use" a GiB. The floor is now this
# helper's own few MiB.
_SPAWN_HELPER = """
import os, sys, time
start = time.perf_counter()
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    out.write(f"{wall} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


@dataclass
class Run:
    """One finished child: wall seconds, peak RSS, and what it printed."""

    wall: float
    maxrss_kib: int
    stdout: str
    stderr: str

    @property
    def maxrss_mib(self) -> float:
        return self.maxrss_kib / 1024


def run_cli(args: Sequence[str], stdout_devnull: bool = False) -> Run:
    """Run `fallthrough ARGS`, timed, with its own peak RSS (os.wait4); raise if it fails.

    Output goes to temporary files rather than pipes, so nothing has to be drained while
    the helper sits in os.wait4 (Popen.wait cannot give the rusage).
    """
    cmd = fallthrough_cmd()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as report:
        helper = subprocess.Popen(
            [sys.executable, "-S", "-c", _SPAWN_HELPER, report.name, *cmd, *args], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL if stdout_devnull else out, stderr=err,
        )
        helper_rc = helper.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        figures = report.read().split()
    if helper_rc != 0 or len(figures) != 3 or figures[2] != "0":
        raise RuntimeError(f"fallthrough {' '.join(args)} failed ({figures or helper_rc}): {stderr.strip()}")
    return Run(float(figures[0]), int(figures[1]), stdout, stderr)


def store_url(store: Path) -> str:
    """The --store argument for a directory."""
    return f"file://{store}"


def put(path: Path, store: Path) -> tuple[str, Run]:
    """`blob put` a file into a file:// store; the digest is the last line it prints."""
    run = run_cli(["blob", "put", str(path), "--store", store_url(store)])
    return run.stdout.strip().splitlines()[-1], run


def verdict(ok: bool) -> str:
    """The word printed beside a target."""
    return "PASS" if ok else "MISS"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned text table: readable in a terminal and pasteable into a report."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
