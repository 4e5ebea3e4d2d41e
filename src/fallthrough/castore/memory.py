"""`memory://`: a tier in this process's memory (lost on exit; pair it with a budget)."""

from __future__ import annotations

from obstore.store import MemoryStore

from .objectstore import ObjectStoreTier


def open_memory(url: str) -> ObjectStoreTier:
    return ObjectStoreTier(MemoryStore(), url)
