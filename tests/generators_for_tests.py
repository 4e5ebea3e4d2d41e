"""Generators the tests mount (on PYTHONPATH for the server they start)."""

from __future__ import annotations

import asyncio
import hashlib

from fallthrough.origins.generator import Generated


def digest(key: str, params: dict[str, str]) -> Generated:
    if key == "missing":
        raise LookupError("no such thing")
    rounds = params.get("rounds", "1")
    if not rounds.isdigit() or not 1 <= int(rounds) <= 1000:
        raise ValueError("rounds: from 1 to 1000")
    value = key.encode()
    for _ in range(int(rounds)):
        value = hashlib.sha256(value).digest()
    return Generated(value.hex().encode(), "text/plain; charset=utf-8")


async def slowly(key: str, params: dict[str, str]) -> bytes:
    await asyncio.sleep(0.3)
    return key.encode()


def broken(key: str, params: dict[str, str]) -> bytes:
    raise RuntimeError("out of ink")
